//! Fault tolerance: a lost peer process, kill -9 and restart, an unusable lake directory, the
//! bad-input corpus through the whole job, a file that grows after it was first read, and the
//! same file landing twice under two names. In every case nothing good is lost, nothing bad
//! reaches silver, and the outcome equals a clean replay.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use caspers::runtime::discover::list_files;
use caspers::sink::readback::read_lake;

use crate::e2e::{
    assert_lake_matches, caspers, caspers_bin, fixture, lake_files, landing_events,
    replay_two_processes, show_diff, wait_for,
};

const LIVE: &str = "2026-11-26 00:00:00";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn replay(landing: &Path, lake: &Path) {
    replay_with(landing, lake, &[]);
}

/// [`replay`] with more `caspers run` flags.
fn replay_with(landing: &Path, lake: &Path, extra: &[&str]) {
    let mut args = vec![
        "run",
        "--input",
        s(landing),
        "--lake",
        s(lake),
        "--quiet",
        "--live-from",
        LIVE,
    ];
    args.extend_from_slice(extra);
    caspers(&args);
}

/// A landing dir of many small files of generated orders.
fn many_files(dir: &Path) -> PathBuf {
    generated(dir, 4.0, 150)
}

/// `dir/landing` with `days` of San Francisco up to a fixed clock, `file_events` per file.
fn generated(dir: &Path, days: f64, file_events: usize) -> PathBuf {
    let landing = dir.join("landing");
    let mut config = caspers::generator::GeneratorConfig::builtin("sanfrancisco").unwrap();
    config.start_days_ago = days;
    let now = caspers_dataflows::time::parse_timestamp("2026-11-28 16:41:33").unwrap();
    let options = caspers::generator::BackfillOptions {
        file_events,
        ..Default::default()
    };
    caspers::generator::generate_backfill(&[config], now, None, &landing, &options).unwrap();
    landing
}

fn free_ports(n: usize) -> Vec<String> {
    let sockets: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    sockets
        .iter()
        .map(|s| s.local_addr().unwrap().to_string())
        .collect()
}

#[test]
fn losing_a_peer_stops_the_survivor_promptly_and_a_restart_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let landing = many_files(dir.path());
    let lake = dir.path().join("lake");
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, free_ports(2).join("\n")).unwrap();
    let spawn = |p: &str| {
        Command::new(caspers_bin())
            .args([
                "run",
                "--follow",
                "--quiet",
                "--poll-ms",
                "20",
                "--input",
                s(&landing),
                "--lake",
                s(&lake),
            ])
            .args(["--live-from", LIVE, "-n", "2", "-p", p, "-h", s(&hosts)])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut p0 = spawn("0");
    let mut p1 = spawn("1");
    // Both are running once the cluster has published something.
    wait_for("the cluster to publish", &mut p0, || {
        lake.join("gold_order_header").is_dir()
    });
    p1.kill().unwrap();
    p1.wait().unwrap();
    let started = Instant::now();
    let status = p0.wait().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the survivor took {:?}",
        started.elapsed()
    );
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(p0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("lost the connection to a peer process"),
        "{stderr}"
    );
    assert!(!stderr.contains("stack backtrace"), "{stderr}");

    // Restarting every process replays: the lake equals a clean replay.
    replay_two_processes(&landing, &lake, LIVE);
    let clean = dir.path().join("clean");
    replay(&landing, &clean);
    assert_eq!(lake_files(&clean), lake_files(&lake));
}

#[test]
fn kill_9_at_random_points_then_restart_equals_a_clean_replay() {
    let dir = tempfile::tempdir().unwrap();
    let source = many_files(dir.path());
    let files = list_files(&source).unwrap();
    let landing = dir.path().join("incoming");
    std::fs::create_dir_all(&landing).unwrap();
    let lake = dir.path().join("lake");
    let seed: u64 = rand::random();
    println!("seed {seed}");
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
    let mut landed = 0;
    for round in 0..3 {
        let mut child = Command::new(caspers_bin())
            .args([
                "run",
                "--follow",
                "--quiet",
                "--poll-ms",
                "10",
                "--publish-ms",
                "0",
                "--epoch-events",
                "100",
            ])
            .args([
                "--live-from",
                LIVE,
                "--input",
                s(&landing),
                "--lake",
                s(&lake),
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Land a random number of files (the generator plays the producer), then kill -9 the
        // job at a random moment while it works.
        let n = rand::Rng::random_range(&mut rng, 1..=files.len() / 3);
        for f in files.iter().skip(landed).take(n) {
            let tmp = landing.join(format!(".{}.tmp", f.rel));
            std::fs::copy(&f.path, &tmp).unwrap();
            std::fs::rename(&tmp, landing.join(&f.rel)).unwrap();
        }
        landed += n;
        // The job has started (its run record exists) before the random kill point.
        let runs = lake.join("_runs");
        let count = || std::fs::read_dir(&runs).map(|d| d.count()).unwrap_or(0);
        wait_for("the run to start", &mut child, || count() > round);
        let wait = rand::Rng::random_range(&mut rng, 0..400);
        std::thread::sleep(Duration::from_millis(wait)); // the random kill point, not a sync
        child.kill().unwrap();
        child.wait().unwrap();
        println!("round {round}: {landed} files landed, killed after {wait} ms");
    }
    for f in files.iter().skip(landed) {
        std::fs::copy(&f.path, landing.join(&f.rel)).unwrap();
    }
    replay(&landing, &lake);
    let clean = dir.path().join("clean");
    replay(&landing, &clean);
    assert_eq!(lake_files(&clean), lake_files(&lake));
    assert_lake_matches(&lake, &landing_events(&landing));
    // Each killed run left its summary `running`; later runs detected and marked them.
    let mut statuses = Vec::new();
    let mut restarts = 0;
    for entry in std::fs::read_dir(lake.join("_runs")).unwrap() {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        statuses.push(doc["status"].as_str().unwrap().to_string());
        restarts += doc["restarts_detected"].as_u64().unwrap();
    }
    statuses.sort();
    assert_eq!(statuses, ["crashed", "crashed", "crashed", "finished"]);
    assert_eq!(restarts, 3);
}

#[test]
fn an_unusable_lake_is_a_clear_error_with_nothing_published() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("lake");
    std::fs::write(&not_a_dir, "a file where the lake should be").unwrap();
    let out = Command::new(caspers_bin())
        .args([
            "run",
            "--input",
            s(&fixture("e2e/landing")),
            "--lake",
            s(&not_a_dir),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("lake directory"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&not_a_dir).unwrap(),
        "a file where the lake should be"
    );
}

#[test]
fn a_full_disk_fails_the_run_without_partial_files() {
    // A tiny tmpfs is the honest way to fill a disk; skip where mounting is not allowed.
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs", s(&mnt)])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a small tmpfs here");
        return;
    }
    let landing = many_files(dir.path());
    let out = Command::new(caspers_bin())
        .args(["run", "--input", s(&landing), "--lake", s(&mnt), "--quiet"])
        .output()
        .unwrap();
    let partial: Vec<String> = walk(&mnt)
        .into_iter()
        .filter(|p| p.ends_with(".parquet"))
        .collect();
    let _ = Command::new("umount").arg(s(&mnt)).status();
    assert!(!out.status.success(), "a full disk must fail the run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("No space left") || stderr.contains("space"),
        "{stderr}"
    );
    // Whatever made it into place is a whole Parquet file (the temp files are hidden).
    for p in partial {
        let bytes = std::fs::read(&p).unwrap_or_default();
        assert!(
            bytes.len() >= 8 && &bytes[bytes.len() - 4..] == b"PAR1",
            "{p} is partial"
        );
    }
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else if !e.file_name().to_string_lossy().starts_with('.') {
                out.push(p.to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[test]
fn the_bad_input_corpus_runs_clean_and_keeps_every_good_event() {
    let corpus = fixture("bad");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = caspers(&[
        "run",
        "--input",
        s(&corpus),
        "--lake",
        s(&lake),
        "--quiet",
        "--live-from",
        LIVE,
    ]);
    assert!(out.status.success());
    // The lake holds exactly the good events, and silver only what they imply.
    let events = landing_events(&corpus);
    assert!(!events.is_empty());
    assert_lake_matches(&lake, &events);
    // Every bad record is a counted dead letter, in the summary and in a file.
    let mut expected_dead = 0;
    for f in list_files(&corpus).unwrap() {
        let parsed = caspers::source::parse_bytes(&f.rel, &std::fs::read(&f.path).unwrap());
        expected_dead += parsed.dead_letters.len();
        if !parsed.dead_letters.is_empty() {
            let letters = lake
                .join("_dead_letter")
                .join(format!("{}.jsonl", f.rel.replace('/', "__")));
            let text = std::fs::read_to_string(&letters).unwrap();
            assert_eq!(text.lines().count(), parsed.dead_letters.len(), "{}", f.rel);
        }
    }
    let runs = std::fs::read_dir(lake.join("_runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(runs).unwrap()).unwrap();
    assert_eq!(
        summary["dead_letters"].as_u64().unwrap(),
        u64::try_from(expected_dead).unwrap()
    );
    assert_eq!(
        summary["events"].as_u64().unwrap(),
        u64::try_from(events.len()).unwrap()
    );
}

#[test]
fn a_file_that_grows_gets_its_new_records_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let landing = dir.path().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    let lake = dir.path().join("lake");
    let source =
        std::fs::read_to_string(fixture("e2e/landing/20261126-130000.000000.jsonl")).unwrap();
    let lines: Vec<&str> = source.lines().collect();
    let growing = landing.join("growing.jsonl");
    // The writer appends without renaming; the first read sees one line and half of another.
    let first = format!("{}\n{}", lines[0], &lines[1][..lines[1].len() / 2]);
    std::fs::write(&growing, &first).unwrap();
    let mut child = Command::new(caspers_bin())
        .args([
            "run",
            "--follow",
            "--quiet",
            "--poll-ms",
            "20",
            "--publish-ms",
            "0",
            "--idle-exit-ms",
            "2500",
        ])
        .args([
            "--live-from",
            LIVE,
            "--input",
            s(&landing),
            "--lake",
            s(&lake),
        ])
        .spawn()
        .unwrap();
    let bronze = lake.join("all_events/growing.jsonl.parquet");
    wait_for("the first read", &mut child, || bronze.exists());
    let rest = format!("{}\n{}\n", &lines[1][lines[1].len() / 2..], lines[2]);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&growing)
        .unwrap();
    std::io::Write::write_all(&mut f, rest.as_bytes()).unwrap();
    drop(f);
    assert!(child.wait().unwrap().success());
    // The lake equals a replay of the final file: three events, no dead letter left.
    let clean = dir.path().join("clean");
    replay(&landing, &clean);
    assert_eq!(read_lake(&clean).unwrap(), read_lake(&lake).unwrap());
    assert_lake_matches(&lake, &landing_events(&landing));
    let letters =
        std::fs::read_to_string(lake.join("_dead_letter/growing.jsonl.jsonl")).unwrap_or_default();
    assert!(letters.trim().is_empty(), "stale dead letters: {letters}");
}

#[test]
fn the_same_file_under_a_new_name_counts_once_from_silver_on() {
    let dir = tempfile::tempdir().unwrap();
    let landing = dir.path().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    let original = fixture("e2e/landing/20261125-020000.000000.json");
    std::fs::copy(&original, landing.join("a.json")).unwrap();
    let once = dir.path().join("once");
    replay(&landing, &once);
    std::fs::copy(&original, landing.join("b-redelivered.json")).unwrap();
    let twice = dir.path().join("twice");
    replay(&landing, &twice);
    let (a, b) = (read_lake(&once).unwrap(), read_lake(&twice).unwrap());
    assert_eq!(a.silver_order_items, b.silver_order_items);
    assert_eq!(a.gold_order_header, b.gold_order_header);
    assert_eq!(a.gold_brand_sales_day, b.gold_brand_sales_day);
    assert_eq!(a.gold_location_sales_hourly, b.gold_location_sales_hourly);
    // Bronze is the raw log: both copies are there.
    assert_eq!(
        b.all_events.values().sum::<i64>(),
        2 * a.all_events.values().sum::<i64>()
    );
}

/// The `late_beyond_retention` count of the run summary a `caspers run` left in `lake`.
fn late_beyond_retention(lake: &Path) -> i64 {
    let mut total = 0;
    for entry in std::fs::read_dir(lake.join("_runs")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["status"], "finished", "{text}");
        total += doc["late_beyond_retention"].as_i64().unwrap();
    }
    total
}

#[test]
fn retain_days_keeps_every_published_day_and_ignores_what_arrives_after_retirement() {
    let dir = tempfile::tempdir().unwrap();
    let landing = generated(dir.path(), 12.0, 700);
    // One order of the first day, landing last: long after its day left a 2-day window.
    let late = r#"[
      {"event_id":"late-1","event_type":"order_created","ts":"2026-11-17 12:00:00.000000",
       "gk_id":"gk-late","location":"sanfrancisco","order_id":"late-order","sequence":0,
       "body":"{\"items\":[{\"id\":1,\"category_id\":1,\"menu_id\":1,\"brand_id\":1,\"name\":\"Late Plate\",\"price\":9.5,\"qty\":2}]}"},
      {"event_id":"late-2","event_type":"delivered","ts":"2026-11-17 12:40:00.000000",
       "gk_id":"gk-late","location":"sanfrancisco","order_id":"late-order","sequence":7,
       "body":"{}"}
    ]"#;
    let with_late = dir.path().join("with-late");
    std::fs::create_dir_all(&with_late).unwrap();
    for entry in std::fs::read_dir(&landing).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, with_late.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(with_late.join("zzzz-late.json"), late).unwrap();

    let run = replay_with;
    let (full, full_late, kept, kept2, kept_follow) = (
        dir.path().join("full"),
        dir.path().join("full-late"),
        dir.path().join("kept"),
        dir.path().join("kept-w2"),
        dir.path().join("kept-follow"),
    );
    run(&landing, &full, &[]);
    run(&with_late, &full_late, &[]);
    // Small epochs, so days are retired (and their files published early) all along the run.
    let small = ["--retain-days", "2", "--epoch-events", "1500"];
    run(&with_late, &kept, &small);
    run(&with_late, &kept2, &[&small[..], &["-w", "2"]].concat());
    // Follow mode publishes as it goes, and an idle worker follows the busy one's time.
    let follow = [
        "--follow",
        "--poll-ms",
        "50",
        "--publish-ms",
        "0",
        "--idle-exit-ms",
        "1500",
    ];
    run(
        &with_late,
        &kept_follow,
        &[&small[..], &["-w", "2"], &follow[..]].concat(),
    );

    let views = |lake: &Path| {
        let mut t = read_lake(lake).unwrap();
        t.all_events.clear();
        t
    };
    let (full, full_late, kept, kept2, kept_follow) = (
        views(&full),
        views(&full_late),
        views(&kept),
        views(&kept2),
        views(&kept_follow),
    );
    // Without retention the late order changes its day's rows (so the comparison below can
    // fail); with it, every day is as the in-order input made it, through -w 1 and -w 2.
    assert_ne!(full.silver_order_items, full_late.silver_order_items);
    assert_ne!(full.gold_item_sales_day, full_late.gold_item_sales_day);
    for (name, got) in [("-w 1", &kept), ("-w 2", &kept2), ("follow", &kept_follow)] {
        let diff = [
            show_diff("silver", &full.silver_order_items, &got.silver_order_items),
            show_diff("header", &full.gold_order_header, &got.gold_order_header),
            show_diff("item", &full.gold_item_sales_day, &got.gold_item_sales_day),
            show_diff(
                "brand",
                &full.gold_brand_sales_day,
                &got.gold_brand_sales_day,
            ),
            show_diff(
                "hourly",
                &full.gold_location_sales_hourly,
                &got.gold_location_sales_hourly,
            ),
            show_diff(
                "refunds",
                &full.refund_recommendations,
                &got.refund_recommendations,
            ),
        ]
        .concat();
        assert!(
            diff.is_empty(),
            "retention changed published rows ({name}):\n{}",
            &diff[..diff.len().min(3000)]
        );
    }
    assert_eq!(late_beyond_retention(&dir.path().join("kept")), 2);
    assert_eq!(late_beyond_retention(&dir.path().join("kept-w2")), 2);
    assert_eq!(late_beyond_retention(&dir.path().join("kept-follow")), 2);
}

#[test]
fn an_oversized_record_is_dead_lettered_while_streaming_and_its_neighbours_count() {
    let dir = tempfile::tempdir().unwrap();
    let source = many_files(dir.path());
    let first = list_files(&source).unwrap().remove(0);
    let text = std::fs::read_to_string(&first.path).unwrap();
    let events: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    // The same file with a 3 MB record spliced in at index 10: with a 64 KiB limit the file
    // is read in chunks and the record skipped as it streams past.
    let mut huge = events[10].clone();
    huge["body"] = serde_json::Value::String("x".repeat(3 << 20));
    huge["order_id"] = "huge".into();
    let mut spliced = events.clone();
    spliced.insert(10, huge);
    let (plain, big) = (dir.path().join("plain"), dir.path().join("big"));
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::create_dir_all(&big).unwrap();
    std::fs::write(plain.join("f.json"), serde_json::to_vec(&events).unwrap()).unwrap();
    std::fs::write(big.join("f.json"), serde_json::to_vec(&spliced).unwrap()).unwrap();
    let run =
        |input: &Path, lake: &Path| replay_with(input, lake, &["--max-record-bytes", "65536"]);
    let (want, got) = (dir.path().join("want"), dir.path().join("got"));
    run(&plain, &want);
    run(&big, &got);
    let letters = std::fs::read_to_string(got.join("_dead_letter/f.json.jsonl")).unwrap();
    let letters: Vec<serde_json::Value> = letters
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["reason"], "too_large");
    assert_eq!(letters[0]["position"], "index 10");
    assert!(letters[0]["raw"].as_str().unwrap().len() <= 4096);
    let (want, got) = (read_lake(&want).unwrap(), read_lake(&got).unwrap());
    assert_eq!(want.all_events.values().sum::<i64>(), events.len() as i64);
    assert!(
        want == got,
        "the records around the oversized one were not all ingested"
    );
}
