//! End to end: `caspers run` over landing directories, the lake read back through the parquet
//! crate and compared with the independent oracle in `reference.rs`, across worker counts,
//! processes, follow mode and re-runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use caspers::runtime::discover::list_files;
use caspers::sink::readback::{read_lake, LakeTables};
use caspers_dataflows::model::Event;
use caspers_dataflows::money::Money;
use caspers_dataflows::time::parse_timestamp;

use crate::reference;

pub(crate) fn caspers_bin() -> &'static str {
    env!("CARGO_BIN_EXE_caspers")
}

pub(crate) fn caspers(args: &[&str]) -> Output {
    let out = Command::new(caspers_bin())
        .args(args)
        .output()
        .expect("caspers runs");
    assert!(
        out.status.success(),
        "caspers {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Every event our reader accepts from the files of `landing` (the oracle's input).
pub(crate) fn landing_events(landing: &Path) -> Vec<Event> {
    let mut events = Vec::new();
    for file in list_files(landing).unwrap() {
        let bytes = std::fs::read(&file.path).unwrap();
        events.extend(caspers::source::parse_bytes(&file.rel, &bytes).events);
    }
    events
}

/// What the lake must hold for `events`, per the oracle, in the read-back shape.
pub(crate) fn expected_lake(events: &[Event]) -> LakeTables {
    let t = reference::compute(events);
    let mut all_events = BTreeMap::new();
    for (event, n) in t.all_events {
        // The lake keeps the raw body; parsed items are not a bronze column.
        let event = Event {
            items: Vec::new(),
            ..event
        };
        *all_events.entry(event).or_insert(0) += n;
    }
    LakeTables {
        all_events,
        silver_order_items: t.silver_order_items,
        gold_order_header: t.gold_order_header,
        gold_item_sales_day: t.gold_item_sales_day,
        gold_brand_sales_day: t.gold_brand_sales_day,
        gold_location_sales_hourly: t.gold_location_sales_hourly,
        refund_recommendations: BTreeMap::new(),
    }
}

pub(crate) fn show_diff<R: Ord + std::fmt::Debug>(
    name: &str,
    want: &BTreeMap<R, i64>,
    got: &BTreeMap<R, i64>,
) -> String {
    let mut out = String::new();
    for (row, n) in want {
        if got.get(row) != Some(n) {
            out.push_str(&format!(
                "  {name}: expected {n}× {row:?}, lake has {:?}\n",
                got.get(row)
            ));
        }
    }
    for (row, n) in got {
        if !want.contains_key(row) {
            out.push_str(&format!("  {name}: lake has unexpected {n}× {row:?}\n"));
        }
    }
    out
}

/// Asserts the lake equals the oracle, printing the rows on one side only.
pub(crate) fn assert_lake_matches(lake: &Path, events: &[Event]) {
    let want = expected_lake(events);
    let got = read_lake(lake).unwrap();
    let mut report = String::new();
    report += &show_diff("all_events", &want.all_events, &got.all_events);
    report += &show_diff(
        "silver_order_items",
        &want.silver_order_items,
        &got.silver_order_items,
    );
    report += &show_diff(
        "gold_order_header",
        &want.gold_order_header,
        &got.gold_order_header,
    );
    report += &show_diff(
        "gold_item_sales_day",
        &want.gold_item_sales_day,
        &got.gold_item_sales_day,
    );
    report += &show_diff(
        "gold_brand_sales_day",
        &want.gold_brand_sales_day,
        &got.gold_brand_sales_day,
    );
    report += &show_diff(
        "gold_location_sales_hourly",
        &want.gold_location_sales_hourly,
        &got.gold_location_sales_hourly,
    );
    assert!(
        report.is_empty(),
        "lake {} differs from the reference:\n{report}",
        lake.display()
    );
}

/// Every published file of the lake with its bytes; run summaries, the run state and the
/// recommendations (whose `ts` is processing time) excluded.
pub(crate) fn lake_files(lake: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel.starts_with("_runs") || rel.starts_with("_state") || rel.starts_with("refund_") {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(lake, lake, &mut out);
    out
}

fn assert_same_files(a: &Path, b: &Path) {
    let (fa, fb) = (lake_files(a), lake_files(b));
    let names_a: Vec<&String> = fa.keys().collect();
    let names_b: Vec<&String> = fb.keys().collect();
    assert_eq!(
        names_a,
        names_b,
        "different file sets in {} and {}",
        a.display(),
        b.display()
    );
    for (name, bytes) in &fa {
        assert!(
            fb[name] == *bytes,
            "{name} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

/// A fixed live/historical split, so runs compared with each other sample alike.
const LIVE: &str = "2026-11-26 00:00:00";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn fixture_replay_equals_reference_and_hand_checked_values() {
    let landing = fixture("e2e/landing");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = caspers(&["run", "--input", s(&landing), "--lake", s(&lake)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 dead letters"), "summary: {stdout}");
    let events = landing_events(&landing);
    assert_eq!(
        events.len(),
        9,
        "8 good records + 1 late record; the malformed line is not one"
    );
    assert_lake_matches(&lake, &events);

    // Worked out by hand from tests/data/e2e (see the fixture's values):
    let got = read_lake(&lake).unwrap();
    let header = |id: &str| {
        got.gold_order_header
            .keys()
            .find(|h| h.order_id.to_string() == id)
            .cloned()
            .unwrap()
    };
    // o1: 9.47×2 + 3.35×2 + 9.47×2 (the item repeated) = 44.58, qty 6, 3 item rows, brand 9.
    let o1 = header("dabf1ef0a54341a3b2242ec24c79a27a");
    assert_eq!(
        (o1.order_revenue, o1.total_qty, o1.total_items),
        (Money(44_580_000), 6, 3)
    );
    assert_eq!(o1.brands_in_order, vec![9]);
    // o2: the conflicting copy with the earlier ts (23:00Z) wins: one Caffè Latte at 3.23.
    let o2 = header("0fe771d274684669aebbc9a9f8cee001");
    assert_eq!((o2.order_revenue, o2.total_items), (Money(3_230_000), 1));
    let hour = |ts: &str| parse_timestamp(ts).unwrap();
    let hourly: Vec<(String, i64, i64, Money)> = got
        .gold_location_sales_hourly
        .keys()
        .map(|r| (r.location.clone(), r.hour_ts, r.orders, r.revenue))
        .collect();
    assert_eq!(
        hourly,
        vec![
            (
                "chicago".into(),
                hour("2026-11-26 12:00:00"),
                1,
                Money(24_240_000)
            ),
            (
                "sanfrancisco".into(),
                hour("2026-11-24 08:00:00"),
                1,
                Money(6_700_000)
            ),
            (
                "sanfrancisco".into(),
                hour("2026-11-25 01:00:00"),
                1,
                Money(44_580_000)
            ),
            (
                "sanfrancisco".into(),
                hour("2026-11-25 23:00:00"),
                1,
                Money(3_230_000)
            ),
        ]
    );
    // The malformed line is a dead letter naming its file and line.
    let letters =
        std::fs::read_to_string(lake.join("_dead_letter/late__20261130-000000.000000.jsonl.jsonl"))
            .unwrap();
    assert!(letters.contains("\"position\":\"line 2\""), "{letters}");
}

#[test]
fn shared_samples_replay_equals_reference() {
    let samples = Path::new("/work/shared/casper/samples");
    if !samples.is_dir() {
        eprintln!("skipped: {} is not on this machine", samples.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    caspers(&["run", "--input", s(samples), "--lake", s(&lake), "--quiet"]);
    let events = landing_events(samples);
    assert_eq!(events.len(), 3876);
    assert_lake_matches(&lake, &events);
}

#[test]
fn workers_and_processes_give_identical_lakes() {
    let landing = fixture("e2e/landing");
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("w1");
    let four = dir.path().join("w4");
    let two_procs = dir.path().join("p2");
    caspers(&[
        "run",
        "--input",
        s(&landing),
        "--lake",
        s(&one),
        "--quiet",
        "--live-from",
        LIVE,
        "-w",
        "1",
    ]);
    caspers(&[
        "run",
        "--input",
        s(&landing),
        "--lake",
        s(&four),
        "--quiet",
        "--live-from",
        LIVE,
        "-w",
        "4",
        "--epoch-events",
        "2",
    ]);
    replay_two_processes(&landing, &two_procs, LIVE);
    assert_lake_matches(&one, &landing_events(&landing));
    assert_same_files(&one, &four);
    assert_same_files(&one, &two_procs);
}

#[test]
fn rerun_into_the_same_lake_changes_nothing() {
    let landing = fixture("e2e/landing");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    caspers(&["run", "--input", s(&landing), "--lake", s(&lake), "--quiet"]);
    let first = lake_files(&lake);
    caspers(&[
        "run",
        "--input",
        s(&landing),
        "--lake",
        s(&lake),
        "--quiet",
        "--live-from",
        LIVE,
        "-w",
        "2",
    ]);
    assert_eq!(first, lake_files(&lake));
}

/// Replays `landing` into `lake` with two processes via `scripts/cluster.sh`.
pub(crate) fn replay_two_processes(landing: &Path, lake: &Path, live_from: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster.sh");
    let status = Command::new(script)
        .args([
            "2",
            "run",
            "--input",
            s(landing),
            "--lake",
            s(lake),
            "--quiet",
            "--live-from",
            live_from,
        ])
        .env("CASPERS_BIN", caspers_bin())
        .status()
        .unwrap();
    assert!(status.success(), "cluster.sh failed");
}

/// Polls (with a deadline) until `cond` holds; the job runs in another process, so the only
/// synchronisation is what it publishes.
pub(crate) fn wait_for(
    what: &str,
    child: &mut std::process::Child,
    mut cond: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the job exited ({status}) while waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn follow_picks_up_new_files_and_ends_equal_to_a_replay() {
    let source = fixture("e2e/landing");
    let files = list_files(&source).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let landing = dir.path().join("landing");
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&landing).unwrap();
    let mut child = Command::new(caspers_bin())
        .args([
            "run",
            "--follow",
            "--quiet",
            "--live-from",
            LIVE,
            "--poll-ms",
            "50",
            "--publish-ms",
            "50",
        ])
        .args([
            "--idle-exit-ms",
            "3000",
            "--input",
            s(&landing),
            "--lake",
            s(&lake),
        ])
        .spawn()
        .unwrap();
    for (i, file) in files.iter().enumerate() {
        let target = landing.join(&file.rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        // Written under a temp name and renamed, as every well-behaved producer does.
        let tmp = landing.join(format!(".incoming-{i}.tmp"));
        std::fs::copy(&file.path, &tmp).unwrap();
        std::fs::rename(&tmp, &target).unwrap();
        let bronze = lake
            .join("all_events")
            .join(caspers::runtime::bronze_file_name(&file.rel));
        let dead = lake
            .join("_dead_letter")
            .join(format!("{}.jsonl", file.rel.replace('/', "__")));
        wait_for(&file.rel, &mut child, || bronze.exists() || dead.exists());
    }
    // The views caught up with every file: the lake equals the oracle while the job still runs.
    let events = landing_events(&landing);
    wait_for("the views to catch up", &mut child, || {
        read_lake(&lake)
            .map(|got| got == expected_lake(&events))
            .unwrap_or(false)
    });
    let status = child.wait().unwrap();
    assert!(status.success());
    let replay = dir.path().join("replay");
    caspers(&[
        "run",
        "--input",
        s(&landing),
        "--lake",
        s(&replay),
        "--quiet",
        "--live-from",
        LIVE,
    ]);
    assert_same_files(&lake, &replay);
}

#[test]
fn generated_week_equals_reference_for_one_four_workers_and_two_processes() {
    let dir = tempfile::tempdir().unwrap();
    let landing = dir.path().join("landing");
    let mut config = caspers::generator::GeneratorConfig::builtin("sanfrancisco").unwrap();
    config.start_days_ago = 7.0;
    let mut chicago = caspers::generator::GeneratorConfig::builtin("chicago").unwrap();
    chicago.start_days_ago = 7.0;
    let now = parse_timestamp("2026-11-28 16:41:33").unwrap();
    let options = caspers::generator::BackfillOptions {
        file_events: 700,
        chaos: caspers::generator::Chaos {
            duplicate_rate: 0.02,
            late_rate: 0.02,
            malformed_rate: 0.01,
        },
        ..Default::default()
    };
    caspers::generator::generate_backfill(&[config, chicago], now, None, &landing, &options)
        .unwrap();
    let (one, four, procs) = (
        dir.path().join("w1"),
        dir.path().join("w4"),
        dir.path().join("p2"),
    );
    caspers(&[
        "run",
        "--input",
        s(&landing),
        "--lake",
        s(&one),
        "--quiet",
        "--live-from",
        LIVE,
    ]);
    caspers(&[
        "run",
        "--input",
        s(&landing),
        "--lake",
        s(&four),
        "--quiet",
        "--live-from",
        LIVE,
        "-w",
        "4",
        "--epoch-events",
        "5000",
    ]);
    replay_two_processes(&landing, &procs, LIVE);
    assert_lake_matches(&one, &landing_events(&landing));
    assert_same_files(&one, &four);
    assert_same_files(&one, &procs);
}

#[test]
fn dimension_tables_are_published_with_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let landing = fixture("e2e/landing");
    caspers(&[
        "run",
        "--input",
        s(&landing),
        "--lake",
        s(&lake),
        "--quiet",
        "--catalog",
        "builtin",
    ]);
    let catalog = caspers::generator::Catalog::builtin();
    for (table, rows) in [
        ("brands", catalog.brands.len()),
        ("menus", catalog.menus.len()),
        ("categories", catalog.categories.len()),
        ("items", catalog.items.len()),
    ] {
        let files = caspers::sink::readback::table_files(&lake.join(table)).unwrap();
        assert_eq!(files.len(), 1, "{table}");
        let file = std::fs::File::open(&files[0].0).unwrap();
        let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
        let n = parquet::file::reader::FileReader::metadata(&reader)
            .file_metadata()
            .num_rows();
        assert_eq!(usize::try_from(n).unwrap(), rows, "{table}");
    }
}

/// The binary runs on jemalloc with the options of `src/allocator.rs` (a symbol jemalloc only
/// finds if the linker kept it): jemalloc's exit statistics list them.
#[test]
fn binary_allocates_with_jemalloc_and_its_options() {
    let out = Command::new(caspers_bin())
        .arg("--version")
        .env("_RJEM_MALLOC_CONF", "stats_print:true")
        .output()
        .expect("caspers runs");
    assert!(out.status.success());
    let stats = String::from_utf8_lossy(&out.stderr);
    assert!(
        stats.contains("opt.dirty_decay_ms: 5000"),
        "jemalloc's statistics: {stats}"
    );
}

/// `--no-bronze` changes nothing but the missing `all_events`: the same silver, gold and
/// dead-letter files, the same counters, over good and bad records.
#[test]
fn no_bronze_writes_everything_else_alike() {
    let dir = tempfile::tempdir().unwrap();
    let landing = dir.path().join("landing");
    for (from, to) in [("e2e/landing", "good"), ("bad", "bad")] {
        for file in list_files(&fixture(from)).unwrap() {
            let path = landing.join(to).join(&file.rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::copy(&file.path, &path).unwrap();
        }
    }
    let run = |name: &str, extra: &[&str]| {
        let lake = dir.path().join(name);
        let mut args = vec![
            "run",
            "--input",
            s(&landing),
            "--quiet",
            "--live-from",
            LIVE,
        ];
        let lake_arg = lake.to_str().unwrap().to_owned();
        args.extend(["--lake", &lake_arg]);
        args.extend(extra);
        caspers(&args);
        let summaries = caspers::runtime::discover::list_files(&lake.join("_runs")).unwrap();
        assert_eq!(summaries.len(), 1);
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&summaries[0].path).unwrap()).unwrap();
        (lake, summary)
    };
    let (with, with_summary) = run("with", &[]);
    let (without, without_summary) = run("without", &["--no-bronze", "-w", "2"]);
    let mut files = lake_files(&with);
    let bronze: Vec<String> = files
        .keys()
        .filter(|name| name.starts_with("all_events/"))
        .cloned()
        .collect();
    assert!(!bronze.is_empty(), "the default run writes bronze");
    for name in bronze {
        files.remove(&name);
    }
    let other = lake_files(&without);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        other.keys().collect::<Vec<_>>()
    );
    assert!(files
        .keys()
        .any(|name| name.starts_with("silver_order_items/")));
    assert!(files.iter().all(|(name, bytes)| other[name] == *bytes));
    for key in [
        "files",
        "events",
        "events_by_type",
        "dead_letters",
        "dead_letters_by_reason",
    ] {
        assert_eq!(with_summary[key], without_summary[key], "{key}");
    }
    assert!(with_summary["dead_letters"].as_u64().unwrap() > 0);
}
