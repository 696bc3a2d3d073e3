//! The generator (`caspers generate`): reproducibility, the exact file format (checked
//! against our reader and against the original's field order), the statistics of the ported
//! model over a generated month, `dq` nulling, chaos faults, live mode, and loading the
//! original's catalog parquet files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use caspers::generator::{
    backfill_events, run_live, write_backfill, BackfillOptions, Catalog, Chaos, GenerateArgs,
    GeneratedEvent, Generator, GeneratorConfig, LiveOptions,
};
use caspers_dataflows::model::EventType;
use caspers_dataflows::time::{format_timestamp, parse_timestamp, Micros, MICROS_PER_DAY};
use serde_json::Value;

const NOW: &str = "2026-11-28 16:41:33";
const FIELDS: [&str; 8] = [
    "event_id",
    "event_type",
    "ts",
    "gk_id",
    "location",
    "order_id",
    "sequence",
    "body",
];
const ORIGINAL_CATALOG: &str = "/work/shared/casper/data/dimensional";

fn now() -> Micros {
    parse_timestamp(NOW).unwrap()
}

/// The shipped config of `name` over `days` days of history and nothing ahead.
fn config(name: &str, days: f64) -> GeneratorConfig {
    let mut c = GeneratorConfig::builtin(name).unwrap();
    c.start_days_ago = days;
    c.end_days_ahead = 0.0;
    c
}

fn events_of(configs: &[GeneratorConfig], seed: Option<u64>) -> Vec<GeneratedEvent> {
    let generator = Generator::new(configs, &Catalog::builtin(), now(), seed).unwrap();
    backfill_events(&generator)
}

/// Every file of a landing dir, sorted by name, with its bytes.
fn read_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn body(event: &GeneratedEvent) -> Value {
    serde_json::from_str(&event.body).unwrap()
}

fn by_order(events: &[GeneratedEvent]) -> BTreeMap<&str, Vec<&GeneratedEvent>> {
    let mut orders: BTreeMap<&str, Vec<&GeneratedEvent>> = BTreeMap::new();
    for e in events {
        orders.entry(&e.order_id).or_default().push(e);
    }
    for list in orders.values_mut() {
        list.sort_by_key(|e| e.sequence);
    }
    orders
}

fn manifest_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn cli_args(out: &Path, seed: Option<u64>) -> GenerateArgs {
    GenerateArgs {
        configs: vec![manifest_path("configs/sanfrancisco.json")],
        out: out.to_path_buf(),
        now: Some(NOW.to_string()),
        seed,
        live: false,
        speed_up: None,
        for_seconds: None,
        no_backfill: false,
        backfill_file_events: 1000,
        catalog: None,
        dimensions: None,
        chaos_duplicate_rate: 0.0,
        chaos_late_rate: 0.0,
        chaos_malformed_rate: 0.0,
    }
}

#[test]
fn same_config_seed_and_now_give_identical_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    caspers::generator::run(&cli_args(a.path(), None)).unwrap();
    caspers::generator::run(&cli_args(b.path(), None)).unwrap();
    let (first, second) = (read_dir(a.path()), read_dir(b.path()));
    assert!(
        first.len() > 1,
        "expected several files of at most 1000 events"
    );
    assert_eq!(
        first, second,
        "same config, seed and --now must give identical files"
    );

    // The library path writes the same files as the CLI.
    let config = GeneratorConfig::load(&manifest_path("configs/sanfrancisco.json")).unwrap();
    let generator = Generator::new(&[config], &Catalog::builtin(), now(), None).unwrap();
    let options = BackfillOptions {
        file_events: 1000,
        threads: 3,
        ..BackfillOptions::default()
    };
    write_backfill(&generator, c.path(), &options).unwrap();
    assert_eq!(read_dir(c.path()), first);

    let d = tempfile::tempdir().unwrap();
    caspers::generator::run(&cli_args(d.path(), Some(73))).unwrap();
    let other = read_dir(d.path());
    assert_ne!(
        other.iter().map(|f| &f.1).collect::<Vec<_>>(),
        first.iter().map(|f| &f.1).collect::<Vec<_>>()
    );
}

#[test]
fn generated_files_round_trip_in_the_original_layout() {
    let dir = tempfile::tempdir().unwrap();
    let configs = [config("sanfrancisco", 2.0), config("chicago", 2.0)];
    let generator = Generator::new(&configs, &Catalog::builtin(), now(), None).unwrap();
    let options = BackfillOptions {
        file_events: 700,
        ..BackfillOptions::default()
    };
    let summary = write_backfill(&generator, dir.path(), &options).unwrap();
    let expected = backfill_events(&generator);
    assert_eq!(summary.events, u64::try_from(expected.len()).unwrap());

    let files = read_dir(dir.path());
    assert_eq!(u64::try_from(files.len()).unwrap(), summary.files);
    assert_eq!(files.len(), expected.len().div_ceil(700));
    let mut read = Vec::new();
    for (name, bytes) in &files {
        assert!(!name.starts_with('.') && name.ends_with(".json"), "{name}");
        assert_eq!(bytes.first(), Some(&b'['));
        assert_eq!(bytes.last(), Some(&b']'), "{name}: no trailing newline");
        assert!(!bytes.contains(&b'\n'), "{name}: one line");
        // Field names and order, on the raw text of every object.
        let objects: Vec<Box<serde_json::value::RawValue>> = serde_json::from_slice(bytes).unwrap();
        for raw in &objects {
            let text = raw.get();
            let positions: Vec<usize> = FIELDS
                .iter()
                .map(|f| {
                    text.find(&format!("\"{f}\": "))
                        .unwrap_or_else(|| panic!("{f} in {text}"))
                })
                .collect();
            assert!(
                positions.windows(2).all(|w| w[0] < w[1]),
                "field order in {text}"
            );
            assert!(text.starts_with("{\"event_id\": \""));
            let value: serde_json::Map<String, Value> = serde_json::from_str(text).unwrap();
            assert_eq!(value.len(), FIELDS.len());
        }
        // Our reader accepts every record and sees exactly the generated events.
        let parsed = caspers::source::parse_bytes(name, bytes);
        assert!(
            parsed.dead_letters.is_empty(),
            "{:?}",
            parsed.dead_letters.first()
        );
        read.extend(parsed.events);
    }
    let want: Vec<_> = expected.iter().map(GeneratedEvent::to_event).collect();
    assert_eq!(read.len(), want.len());
    assert!(
        read == want,
        "reader output differs from the generated events"
    );
    assert!(
        read.windows(2).all(|w| w[0].ts <= w[1].ts),
        "files are in timestamp order"
    );

    // Both locations land in the one directory, with their own gk_id.
    let gk: BTreeMap<&str, &str> = expected.iter().map(|e| (&*e.location, &*e.gk_id)).collect();
    assert_eq!(gk.len(), 2);
    assert_ne!(gk["sanfrancisco"], gk["chicago"]);

    // Lifecycles: sequence 0..n, order_created first, delivered last, ids are 32 hex.
    for (order_id, events) in by_order(&expected) {
        assert_eq!(order_id.len(), 32);
        assert!(order_id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let seqs: Vec<i64> = events.iter().map(|e| e.sequence).collect();
        assert_eq!(
            seqs,
            (0..i64::try_from(events.len()).unwrap()).collect::<Vec<_>>()
        );
        assert_eq!(events[0].event_type, EventType::OrderCreated);
        assert_eq!(events.last().unwrap().event_type, EventType::Delivered);
        assert!(
            events[0].ts < now(),
            "backfill holds orders created before now"
        );
        assert_eq!(
            format_timestamp(events[0].ts).split('.').nth(1),
            Some("000000")
        );
    }
}

#[test]
fn bodies_use_python_json_style() {
    let events = events_of(&[config("sanfrancisco", 1.0)], None);
    let created = events
        .iter()
        .find(|e| e.event_type == EventType::OrderCreated)
        .unwrap();
    assert!(
        created.body.starts_with("{\"customer_lat\": 37."),
        "{}",
        created.body
    );
    assert!(created.body.contains(", \"items\": [{\"id\": "));
    let picked = events
        .iter()
        .find(|e| e.event_type == EventType::DriverPickedUp)
        .unwrap();
    assert!(
        picked
            .body
            .starts_with("{\"route_points\": [[37.791024, -122.392865], ["),
        "{}",
        picked.body
    );
    let ping = events
        .iter()
        .find(|e| e.event_type == EventType::DriverPing)
        .unwrap();
    let progress = body(ping)["progress_pct"].as_f64().unwrap();
    // Integral floats keep their `.0`, as Python prints them.
    if progress.fract() == 0.0 {
        assert!(ping
            .body
            .contains(&format!("\"progress_pct\": {progress:.1},")));
    }
    // Non-ASCII names are escaped (ensure_ascii) in the body text.
    let catalog = Catalog::builtin();
    assert!(events.iter().all(|e| e.body.is_ascii()));
    let accented_ids: Vec<i32> = catalog
        .items
        .iter()
        .filter(|i| !i.name.is_ascii())
        .map(|i| i32::try_from(i.id).unwrap())
        .collect();
    let with_accent = events
        .iter()
        .find(|e| e.items.iter().any(|i| accented_ids.contains(&i.id)))
        .expect("some order sells an item with a non-ASCII name");
    assert!(with_accent.body.contains("\\u"), "{}", with_accent.body);
}

/// Independent of the generator's code: the ramp × weekday expectation of GENERATOR.md §1.3.
fn expected_orders(c: &GeneratorConfig, first_day: i64, total: i64, day: i64) -> f64 {
    let d = (day - first_day) as f64;
    let ramp = c.orders_day_1 + (c.orders_last - c.orders_day_1) * d / total as f64;
    // 1970-01-01 was a Thursday; Monday first.
    let weekday = (day + 3).rem_euclid(7);
    let factor = [1.00, 1.05, 1.08, 1.10, 1.25, 1.35, 1.15][usize::try_from(weekday).unwrap()];
    ramp * factor
}

#[test]
fn a_generated_month_follows_the_model() {
    let mut c = config("sanfrancisco", 30.0);
    c.orders_day_1 = 250.0;
    c.orders_last = 500.0;
    c.radius_mi = 2.5;
    let events = events_of(std::slice::from_ref(&c), Some(11));
    let orders = by_order(&events);
    let first_day = (now() - 30 * MICROS_PER_DAY).div_euclid(MICROS_PER_DAY);
    let today = now().div_euclid(MICROS_PER_DAY);
    let total = today - first_day;

    // Volume: ramp × weekday within noise (±10 %) and Poisson error, per day and overall;
    // weekend days carry their factor (without it, Saturday would sit at 1/1.35 = 0.74).
    let mut per_day: BTreeMap<i64, f64> = BTreeMap::new();
    for list in orders.values() {
        *per_day
            .entry(list[0].ts.div_euclid(MICROS_PER_DAY))
            .or_default() += 1.0;
    }
    let (mut got_sum, mut want_sum) = (0.0, 0.0);
    let mut by_weekday = [(0.0, 0.0); 7];
    for day in first_day..today {
        let got = per_day.get(&day).copied().unwrap_or(0.0);
        let want = expected_orders(&c, first_day, total, day);
        assert!(
            (0.72..1.28).contains(&(got / want)),
            "day {day}: {got} orders, expected {want:.0}"
        );
        got_sum += got;
        want_sum += want;
        let wd = usize::try_from((day + 3).rem_euclid(7)).unwrap();
        by_weekday[wd].0 += got;
        by_weekday[wd].1 += want;
    }
    assert!(
        (0.96..1.04).contains(&(got_sum / want_sum)),
        "month volume {got_sum} vs {want_sum:.0}"
    );
    for (wd, (got, want)) in by_weekday.iter().enumerate() {
        assert!(
            (0.88..1.12).contains(&(got / want)),
            "weekday {wd}: {got} vs {want:.0}"
        );
    }

    // Intraday: lunch 11:00–13:30 and dinner 17:00–20:00 UTC hold 300/1815 and 405/1815 of
    // the volume, and the top of each bump runs at 3× / 3.5× the off-peak rate.
    let minute_of = |ts: Micros| ts.rem_euclid(MICROS_PER_DAY) / 60_000_000;
    let created: Vec<i64> = orders.values().map(|l| minute_of(l[0].ts)).collect();
    let share = |a: i64, b: i64| {
        created.iter().filter(|m| (a..b).contains(*m)).count() as f64 / created.len() as f64
    };
    let lunch = share(660, 810);
    let dinner = share(1020, 1200);
    assert!(
        (lunch - 300.0 / 1815.0).abs() < 0.015,
        "lunch share {lunch}"
    );
    assert!(
        (dinner - 405.0 / 1815.0).abs() < 0.015,
        "dinner share {dinner}"
    );
    let off_peak = share(0, 600) / 600.0;
    let lunch_top = share(725, 745) / 20.0;
    let dinner_top = share(1100, 1120) / 20.0;
    assert!(
        (lunch_top / off_peak - 3.0).abs() < 0.45,
        "lunch top {}",
        lunch_top / off_peak
    );
    assert!(
        (dinner_top / off_peak - 3.5).abs() < 0.5,
        "dinner top {}",
        dinner_top / off_peak
    );
    let mut per_hour = [0usize; 24];
    for m in &created {
        per_hour[usize::try_from(m / 60).unwrap()] += 1;
    }
    let busiest = (0..24).max_by_key(|h| per_hour[*h]).unwrap();
    assert!((17..20).contains(&busiest), "busiest hour {busiest} UTC");

    // Stage gaps: means within 10 % of svc (the 0.1-minute floor barely moves them).
    let minutes = |a: Micros, b: Micros| (b - a) as f64 / 60e6;
    let mut gaps = [0.0f64; 4];
    let n = orders.len() as f64;
    for list in orders.values() {
        let ts: Vec<Micros> = list.iter().map(|e| e.ts).collect();
        // sequence: 0 created, 1 started, 2 finished, 3 ready, 4 arrived, 5 picked up.
        gaps[0] += minutes(ts[0], ts[1]);
        gaps[1] += minutes(ts[1], ts[2]);
        gaps[2] += minutes(ts[2], ts[3]);
        gaps[3] += minutes(ts[3], ts[5]);
        for gap in [
            minutes(ts[0], ts[1]),
            minutes(ts[1], ts[2]),
            minutes(ts[2], ts[3]),
            minutes(ts[3], ts[5]),
        ] {
            assert!(
                gap >= 0.1 - 1e-6,
                "stage gap {gap} below the 0.1-minute floor"
            );
        }
        assert!(ts[4] < ts[5], "driver arrives before pickup");
    }
    for (gap, [mu, _]) in gaps.iter().zip([c.svc.cs, c.svc.sf, c.svc.fr, c.svc.rp]) {
        let mean = gap / n;
        assert!(
            (mean / mu - 1.0).abs() < 0.10,
            "stage mean {mean:.3} vs svc {mu}"
        );
    }

    // Pings: max(1, floor(drive_min·60/ping_sec)) − 1 per order, one ping_sec apart, snapped
    // to route points; eta_mins = round(drive_min, 1); delivered at the customer.
    let mut pings_total = 0usize;
    for list in orders.values() {
        let created = body(list[0]);
        let picked = list
            .iter()
            .find(|e| e.event_type == EventType::DriverPickedUp)
            .unwrap();
        let delivered = list.last().unwrap();
        let drive_min = minutes(picked.ts, delivered.ts);
        let hops = ((drive_min * 60.0 / c.ping_sec).floor() as usize).max(1);
        let pings: Vec<_> = list
            .iter()
            .filter(|e| e.event_type == EventType::DriverPing)
            .collect();
        assert_eq!(
            pings.len(),
            hops - 1,
            "order {} drive {drive_min} min",
            picked.order_id
        );
        pings_total += pings.len();
        let route = body(picked);
        assert!((route["eta_mins"].as_f64().unwrap() - drive_min).abs() <= 0.05 + 1e-9);
        let points = route["route_points"].as_array().unwrap();
        for (h, ping) in pings.iter().enumerate() {
            assert_eq!(
                ping.ts - picked.ts,
                i64::try_from(h + 1).unwrap() * 60_000_000
            );
            let p = body(ping);
            let point = Value::Array(vec![p["loc_lat"].clone(), p["loc_lon"].clone()]);
            assert!(points.contains(&point), "ping off the route");
            assert!(p["progress_pct"].as_f64().unwrap() < 100.0);
        }
        let last_point = points.last().unwrap();
        let done = body(delivered);
        assert_eq!(done["delivered_lat"], created["customer_lat"]);
        assert_eq!(done["delivered_lon"], created["customer_lon"]);
        assert_eq!(last_point[0], created["customer_lat"]);
        assert_eq!(last_point[1], created["customer_lon"]);
    }
    assert!(pings_total > orders.len(), "most orders have several pings");
}

#[test]
fn baskets_follow_brand_momentum() {
    let events = events_of(&[config("sanfrancisco", 20.0)], None);
    let baskets: Vec<&GeneratedEvent> = events
        .iter()
        .filter(|e| e.event_type == EventType::OrderCreated)
        .collect();
    let single = baskets
        .iter()
        .filter(|e| {
            let brands: std::collections::BTreeSet<i32> =
                e.items.iter().map(|i| i.brand_id).collect();
            brands.len() == 1
        })
        .count() as f64
        / baskets.len() as f64;
    // 0.7 single-brand baskets, plus multi-brand draws that picked one brand repeatedly.
    assert!(
        (0.68..0.85).contains(&single),
        "single-brand share {single}"
    );
    let catalog = Catalog::builtin();
    for e in &baskets {
        assert!(!e.items.is_empty());
        for item in &e.items {
            let row = catalog
                .items
                .iter()
                .find(|i| i.id == i64::from(item.id))
                .unwrap();
            assert_eq!(
                (i64::from(item.brand_id), i64::from(item.menu_id)),
                (row.brand_id, row.menu_id)
            );
            assert!((1..=3).contains(&item.qty));
        }
    }
}

#[test]
fn dq_nulls_body_fields_and_nothing_else() {
    let clean = config("sanfrancisco", 3.0);
    let mut dirty = clean.clone();
    dirty.dq.insert(
        "order_created".into(),
        [("customer_lat".to_string(), 1.0)].into(),
    );
    dirty
        .dq
        .insert("driver_ping".into(), [("loc_lat".to_string(), 0.5)].into());
    let a = events_of(&[clean], None);
    let b = events_of(&[dirty], None);
    assert_eq!(a.len(), b.len());
    let (mut pings, mut nulled) = (0, 0);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (x.ts, &x.order_id, x.sequence, &x.event_id),
            (y.ts, &y.order_id, y.sequence, &y.event_id)
        );
        match y.event_type {
            EventType::OrderCreated => {
                let (bx, by) = (body(x), body(y));
                assert!(by["customer_lat"].is_null());
                assert_eq!(bx["customer_lon"], by["customer_lon"]);
                assert_eq!(bx["items"], by["items"]);
            }
            EventType::DriverPing => {
                pings += 1;
                let by = body(y);
                assert!(!by["loc_lon"].is_null());
                if by["loc_lat"].is_null() {
                    nulled += 1;
                }
            }
            _ => assert_eq!(x.body, y.body),
        }
    }
    let share = f64::from(nulled) / f64::from(pings);
    assert!((0.4..0.6).contains(&share), "nulled ping share {share}");
}

#[test]
fn chaos_faults_are_deterministic_and_visible_to_the_reader() {
    let configs = [config("sanfrancisco", 2.0)];
    let generator = Generator::new(&configs, &Catalog::builtin(), now(), None).unwrap();
    let chaos = Chaos {
        duplicate_rate: 0.05,
        late_rate: 0.05,
        malformed_rate: 0.05,
    };
    let options = BackfillOptions {
        file_events: 500,
        chaos,
        ..BackfillOptions::default()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_backfill(&generator, a.path(), &options).unwrap();
    write_backfill(&generator, b.path(), &options).unwrap();
    let files = read_dir(a.path());
    assert_eq!(files, read_dir(b.path()));

    let generated = backfill_events(&generator);
    let n = generated.len() as f64;
    let (mut events, mut dead) = (Vec::new(), 0usize);
    for (name, bytes) in &files {
        let parsed = caspers::source::parse_bytes(name, bytes);
        dead += parsed.dead_letters.len();
        events.extend(parsed.events);
    }
    let late = events.windows(2).filter(|w| w[1].ts < w[0].ts).count();
    let duplicates = events.len() - generated.len();
    assert!(
        (0.03..0.07).contains(&(duplicates as f64 / n)),
        "{duplicates} duplicates of {n}"
    );
    assert!(
        (0.03..0.07).contains(&(dead as f64 / n)),
        "{dead} malformed of {n}"
    );
    assert!(late > 0, "late events break timestamp order");
    // Every generated event is still there.
    let ids: std::collections::BTreeSet<&str> =
        events.iter().map(|e| e.event_id.as_str()).collect();
    assert!(generated.iter().all(|e| ids.contains(e.event_id.as_str())));
}

#[test]
fn live_mode_plays_future_orders_in_event_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config("sanfrancisco", 1.0);
    c.end_days_ahead = 1.0;
    c.batch_seconds = 0.1;
    let generator = Generator::new(&[c], &Catalog::builtin(), now(), None).unwrap();
    // 6 simulated hours per wall-clock second, for 0.7 s: about 4 hours of orders.
    let options = LiveOptions {
        speed_up: Some(21_600.0),
        duration: Some(Duration::from_millis(700)),
        ..LiveOptions::default()
    };
    let summary = run_live(&generator, dir.path(), &options, &AtomicBool::new(false)).unwrap();
    assert!(summary.orders > 5, "{summary}");
    let mut events = Vec::new();
    for (name, bytes) in read_dir(dir.path()) {
        assert!(name.contains("-sanfrancisco-"), "{name}");
        let parsed = caspers::source::parse_bytes(&name, &bytes);
        assert!(parsed.dead_letters.is_empty());
        assert!(parsed.events.len() <= 10, "batch_rows bounds live files");
        events.extend(parsed.events);
    }
    assert_eq!(u64::try_from(events.len()).unwrap(), summary.events);
    assert!(
        events.windows(2).all(|w| w[0].ts <= w[1].ts),
        "event-time order"
    );
    let horizon = now() + 5 * 3_600_000_000;
    for e in &events {
        assert!(
            e.ts <= horizon,
            "an event from beyond simulated time: {}",
            e.ts_raw
        );
        if e.event_type == EventType::OrderCreated {
            assert!(e.ts >= now());
        }
        // Live timestamps carry `sequence` µs, as the original's live path.
        let micros = e.ts.rem_euclid(1_000_000);
        if e.event_type == EventType::OrderCreated {
            assert_eq!(micros, 0);
        }
    }
}

#[test]
fn catalog_from_the_original_parquet_files() {
    let dir = Path::new(ORIGINAL_CATALOG);
    if !dir.join("items.parquet").exists() {
        println!("skipping: {ORIGINAL_CATALOG} not found");
        return;
    }
    let catalog = Catalog::load_parquet_dir(dir).unwrap();
    assert_eq!(catalog.brands.len(), 15);
    assert_eq!(catalog.menus.len(), 15);
    assert_eq!(catalog.categories.len(), 88);
    assert_eq!(catalog.items.len(), 144);
    let latte = catalog.items.iter().find(|i| i.id == 115).unwrap();
    assert_eq!(
        (latte.name.as_str(), latte.price, latte.brand_id),
        ("Caffè Latte", 3.23, 12)
    );

    // Orders sell from it, and it survives a write/read as dimension tables.
    let generator = Generator::new(&[config("sanfrancisco", 2.0)], &catalog, now(), None).unwrap();
    let events = backfill_events(&generator);
    let sold: std::collections::BTreeSet<i32> = events
        .iter()
        .flat_map(|e| e.items.iter().map(|i| i.id))
        .collect();
    assert!(sold.iter().all(|id| (1..=144).contains(id)));
    let out = tempfile::tempdir().unwrap();
    caspers::generator::write_dimension_tables(&catalog, out.path()).unwrap();
    assert_eq!(Catalog::load_parquet_dir(out.path()).unwrap(), catalog);

    // The CLI flag loads the same catalog.
    let landing = tempfile::tempdir().unwrap();
    let mut args = cli_args(landing.path(), None);
    args.catalog = Some(dir.to_path_buf());
    caspers::generator::run(&args).unwrap();
    let text: String = read_dir(landing.path())
        .into_iter()
        .map(|(_, b)| String::from_utf8(b).unwrap())
        .collect();
    assert!(
        text.contains("\\\"menu_id\\\": "),
        "bodies carry the catalog's items"
    );
}
