//! The reader (`caspers::source`): the original generator's files parse cleanly, every
//! accepted format and leniency works, each class of bad input becomes the expected dead
//! letter without hiding the good records beside it, and no input makes it panic.
//!
//! Oracles are independent of the reader: the hand-built fixture's expected values are
//! written out below, the shared samples' counts come from the original run (2,948 events,
//! 219 orders; 928 live events counted with Python's `json`), and the truncation test finds
//! element boundaries by text search.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use caspers::source::{
    parse_bytes, parse_bytes_with_limit, parse_file, parse_reader, parse_record, ParsedFile,
    DEFAULT_CHUNK_BYTES, DEFAULT_MAX_RECORD_BYTES, MAX_RAW_BYTES, REASONS,
};
use caspers_dataflows::model::{Event, EventType};
use caspers_dataflows::money::Money;
use caspers_dataflows::time::parse_timestamp;
use proptest::prelude::*;

const SAMPLES: &str = "/work/shared/casper/samples";

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn fixture() -> Vec<u8> {
    std::fs::read(data("reader/original_format.json")).expect("fixture")
}

fn reasons(parsed: &ParsedFile) -> Vec<(String, String)> {
    parsed
        .dead_letters
        .iter()
        .map(|d| (d.reason.clone(), d.position.clone()))
        .collect()
}

fn assert_clean(name: &str, parsed: &ParsedFile) {
    assert!(
        parsed.dead_letters.is_empty(),
        "{name}: unexpected dead letters {:#?}",
        parsed.dead_letters
    );
}

/// Checks the lifecycle shape of every order: sequence 0..n in order, order_created first,
/// delivered last. Returns the number of orders.
fn assert_complete_lifecycles(events: &[Event]) -> usize {
    let mut by_order: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in events {
        by_order.entry(&e.order_id).or_default().push(e);
    }
    for (order, evs) in &mut by_order {
        evs.sort_by_key(|e| e.sequence);
        let seqs: Vec<i64> = evs.iter().map(|e| e.sequence).collect();
        let expected: Vec<i64> = (0..i64::try_from(evs.len()).unwrap()).collect();
        assert_eq!(seqs, expected, "order {order}: sequence is not 0..n");
        assert_eq!(
            evs.first().unwrap().event_type,
            EventType::OrderCreated,
            "order {order}"
        );
        assert_eq!(
            evs.last().unwrap().event_type,
            EventType::Delivered,
            "order {order}"
        );
        assert!(!evs[0].items.is_empty(), "order {order} has no items");
    }
    by_order.len()
}

#[test]
fn shared_samples_parse_with_no_errors() {
    let root = Path::new(SAMPLES);
    if !root.exists() {
        println!("skipping shared_samples_parse_with_no_errors: {SAMPLES} is absent");
        return;
    }
    let backfill = root.join("backfill_sf_default/20261128-164133.681079.json");
    let bytes = std::fs::read(&backfill).unwrap();
    let parsed = parse_bytes("20261128-164133.681079.json", &bytes);
    assert_clean("backfill", &parsed);
    assert_eq!(parsed.events.len(), 2_948);
    assert_eq!(assert_complete_lifecycles(&parsed.events), 219);
    // Every non-order_created event carries no items; every body is kept verbatim as JSON.
    assert!(parsed
        .events
        .iter()
        .all(|e| (e.event_type == EventType::OrderCreated) != e.items.is_empty()));
    assert!(parsed
        .events
        .iter()
        .all(|e| e.body.starts_with('{') && e.ts_raw.len() == 26));

    let mut live = 0;
    for entry in std::fs::read_dir(root.join("live_sf_speedup600")).unwrap() {
        let path = entry.unwrap().path();
        let parsed = parse_bytes(&path.display().to_string(), &std::fs::read(&path).unwrap());
        assert_clean(&path.display().to_string(), &parsed);
        live += parsed.events.len();
    }
    assert_eq!(live, 928);
}

#[test]
fn original_format_fixture_parses_exactly() {
    let parsed = parse_bytes("fixture.json", &fixture());
    assert_clean("fixture", &parsed);
    assert_eq!(parsed.events.len(), 16);
    assert_eq!(assert_complete_lifecycles(&parsed.events), 2);

    let first = &parsed.events[0];
    assert_eq!(first.event_id, "dd82a7942add4f2f9e5fa86d0490a41f");
    assert_eq!(first.event_type, EventType::OrderCreated);
    assert_eq!(first.ts_raw, "2026-11-25 01:50:08.000000");
    // 2026-11-25 is day 20,782 since the epoch; 01:50:08 is 6,608 s into it.
    assert_eq!(first.ts, (20_782 * 86_400 + 6_608) * 1_000_000);
    assert_eq!(first.gk_id, "4ef724292ef14e5ebb894886d1421cf2");
    assert_eq!(first.location, "sanfrancisco");
    assert_eq!(first.order_id, "dabf1ef0a54341a3b2242ec24c79a27a");
    assert_eq!(first.sequence, 0);
    assert!(
        first
            .body
            .starts_with(r#"{"customer_lat": 37.75652885088034, "#),
        "{}",
        first.body
    );
    let names: Vec<(&str, i32, Money, i32)> = first
        .items
        .iter()
        .map(|i| (i.name.as_str(), i.id, i.price, i.qty))
        .collect();
    assert_eq!(
        names,
        [
            ("Lemongrass Chicken Vermicelli", 95, Money(9_470_000), 2),
            ("Vietnamese Iced Coffee", 96, Money(3_350_000), 2)
        ]
    );
    assert_eq!(
        (
            first.items[0].category_id,
            first.items[0].menu_id,
            first.items[0].brand_id
        ),
        (49, 9, 9)
    );

    let ping = &parsed.events[6];
    assert_eq!(
        (ping.event_type, ping.sequence, ping.ts_raw.as_str()),
        (EventType::DriverPing, 6, "2026-11-25 02:14:33.498820")
    );
    assert!(ping.items.is_empty());
    assert_eq!(
        ping.body,
        r#"{"progress_pct": 33.3, "loc_lat": 37.791024, "loc_lon": -122.39150091013346}"#
    );

    // Second order: a nulled customer field (the original's dq map), `\u00e8` escapes and a
    // price whose float would round badly (19.99).
    let second = &parsed.events[9];
    assert_eq!(second.order_id, "5c7e1f0b9d2a4e6f8a3b1c0d2e4f6a8b");
    assert!(second.body.contains(r#""customer_lat": null"#));
    assert!(
        second.body.contains(r#""Caff\u00e8 Latte""#),
        "body must stay verbatim: {}",
        second.body
    );
    assert_eq!(second.items[0].name, "Caffè Latte");
    assert_eq!(second.items[1].price, Money(19_990_000));
    assert_eq!(second.items[1].qty, 3);
    assert_eq!(parsed.events[15].ts_raw, "2026-11-25 09:21:45.999999");
}

/// The fixture's events as JSON objects (serde_json `Value`, test-only) for re-encoding.
fn fixture_objects() -> Vec<serde_json::Value> {
    serde_json::from_slice(&fixture()).unwrap()
}

#[test]
fn json_lines_pretty_objects_and_single_objects_match_the_array() {
    let expected = parse_bytes("fixture.json", &fixture()).events;
    let objects = fixture_objects();

    let jsonl: String = objects.iter().map(|o| format!("{o}\n")).collect();
    let parsed = parse_bytes("f.jsonl", jsonl.as_bytes());
    assert_clean("jsonl", &parsed);
    assert_eq!(parsed.events, expected);

    // CRLF, blank lines, no final newline.
    let crlf = objects
        .iter()
        .map(|o| o.to_string())
        .collect::<Vec<_>>()
        .join("\r\n\r\n  \r\n");
    let parsed = parse_bytes("f.jsonl", crlf.as_bytes());
    assert_clean("crlf", &parsed);
    assert_eq!(parsed.events, expected);

    let pretty: String = objects
        .iter()
        .map(|o| serde_json::to_string_pretty(o).unwrap() + "\n")
        .collect();
    let parsed = parse_bytes("f.json", pretty.as_bytes());
    assert_clean("pretty", &parsed);
    assert_eq!(parsed.events, expected);

    for (i, o) in objects.iter().enumerate() {
        for text in [o.to_string(), serde_json::to_string_pretty(o).unwrap()] {
            let parsed = parse_bytes("one.json", text.as_bytes());
            assert_clean("single object", &parsed);
            assert_eq!(parsed.events, [expected[i].clone()]);
        }
    }

    // A UTF-8 byte order mark and leading whitespace are tolerated.
    let mut bom = b"\xEF\xBB\xBF \n".to_vec();
    bom.extend_from_slice(&fixture());
    assert_eq!(parse_bytes("bom.json", &bom).events, expected);
}

#[test]
fn pretty_objects_report_the_line_they_start_on() {
    let text = "{\n  \"event_type\": \"gk_started\"\n}\n\n{\n  \"event_type\": \"nope\"\n}\n";
    let parsed = parse_bytes("p.json", text.as_bytes());
    assert_eq!(
        reasons(&parsed),
        [
            ("missing_field".to_owned(), "line 1".to_owned()),
            ("unknown_event_type".to_owned(), "line 5".to_owned())
        ]
    );
}

const BASE: &str =
    r#""event_type": "gk_started", "gk_id": "g", "location": "sf", "order_id": "o1""#;

#[test]
fn accepts_seq_alias_missing_event_id_and_numbers_as_strings() {
    let lines = [
        format!(r#"{{{BASE}, "ts": "2026-11-25 01:51:45.226973", "seq": 7, "body": "{{}}"}}"#),
        format!(
            r#"{{{BASE}, "ts": "2026-11-25 01:51:45.226973", "sequence": "7", "body": "{{}}"}}"#
        ),
        format!(
            r#"{{{BASE}, "ts": "2026-11-25 01:51:45.226973", "seq": "7", "body": "{{}}", "extra": [1, {{"x": null}}]}}"#
        ),
        format!(
            r#"{{{BASE}, "ts": "2026-11-25 01:51:45.226973", "sequence": 7, "seq": 99, "event_id": null, "body": {{}}}}"#
        ),
    ];
    let parsed = parse_bytes("l.jsonl", lines.join("\n").as_bytes());
    assert_clean("lenient", &parsed);
    assert_eq!(parsed.events.len(), 4);
    for e in &parsed.events {
        assert_eq!(
            (e.sequence, e.event_id.as_str(), e.body.as_str()),
            (7, "", "{}")
        );
    }

    // Item numbers as strings, price as a decimal string, body given inline as an object.
    let created = r#"{"event_type": "order_created", "ts": "2026-11-25 01:50:08", "gk_id": "g", "location": "sf",
        "order_id": "o1", "sequence": "0", "body": {"customer_lat": null, "items": [
        {"id": "95", "category_id": "49", "menu_id": "9", "brand_id": "9", "name": "Pho", "price": "9.47", "qty": "2"},
        {"id": 96, "category_id": 50, "menu_id": 9, "brand_id": 9, "name": "Tea", "price": 0.1, "qty": 1}]}}"#;
    let event = parse_record(created).unwrap();
    assert_eq!(event.items[0].price, Money(9_470_000));
    assert_eq!((event.items[0].id, event.items[0].qty), (95, 2));
    assert_eq!(event.items[1].price, Money(100_000));
    assert!(event.body.starts_with(r#"{"customer_lat": null"#));
}

#[test]
fn accepts_iso_timestamps() {
    let base = parse_timestamp("2026-11-25 01:51:45.226973").unwrap();
    for (ts, expected) in [
        ("2026-11-25 01:51:45.226973", base),
        ("2026-11-25T01:51:45.226973", base),
        ("2026-11-25T01:51:45.226973Z", base),
        ("2026-11-25T03:51:45.226973+02:00", base),
        ("2026-11-24T20:51:45.226973-0500", base),
        ("2026-11-25 01:51:45", base - 226_973),
        ("2026-11-25T01:51:45.2Z", base - 26_973),
    ] {
        let event = parse_record(&format!(
            r#"{{{BASE}, "ts": "{ts}", "sequence": 1, "body": "{{}}"}}"#
        ))
        .unwrap();
        assert_eq!(event.ts, expected, "{ts}");
        assert_eq!(event.ts_raw, ts);
    }
}

/// `(file, record size limit, good events, [(reason, position)], text the first detail names)`.
type Case = (
    &'static str,
    usize,
    usize,
    &'static [(&'static str, &'static str)],
    &'static str,
);

const CORPUS: &[Case] = &[
    (
        "malformed_json.json",
        0,
        2,
        &[("malformed_json", "index 1")],
        "expected",
    ),
    (
        "malformed_json.jsonl",
        0,
        3,
        &[("malformed_json", "line 2"), ("malformed_json", "line 4")],
        "expected",
    ),
    (
        "truncated_array.json",
        0,
        2,
        &[("truncated", "index 2")],
        "inside element 2",
    ),
    (
        "unclosed_array.json",
        0,
        3,
        &[("truncated", "index 3")],
        "never closed",
    ),
    (
        "truncated_line.jsonl",
        0,
        2,
        &[("truncated", "line 3")],
        "file ends",
    ),
    (
        "price_abc.json",
        0,
        2,
        &[("bad_type", "index 1")],
        "body.items[0].price",
    ),
    (
        "qty_fraction.json",
        0,
        2,
        &[("bad_type", "index 1")],
        "body.items[0].qty",
    ),
    (
        "sequence_zero.json",
        0,
        2,
        &[("bad_type", "index 1")],
        "`sequence`: expected an integer, found string \"zero\"",
    ),
    (
        "wrong_type.json",
        0,
        2,
        &[("bad_type", "index 1"), ("bad_type", "index 2")],
        "gk_id",
    ),
    (
        "missing_field.json",
        0,
        2,
        &[
            ("missing_field", "index 1"),
            ("missing_field", "index 2"),
            ("missing_field", "index 3"),
        ],
        "order_id",
    ),
    (
        "unknown_event_type.json",
        0,
        2,
        &[("unknown_event_type", "index 1")],
        "order_cancelled",
    ),
    (
        "bad_timestamp.json",
        0,
        2,
        &[("bad_timestamp", "index 1"), ("bad_timestamp", "index 2")],
        "2026-13-45",
    ),
    (
        "qty_zero_or_negative.json",
        0,
        2,
        &[("bad_value", "index 1"), ("bad_value", "index 2")],
        "body.items[0].qty",
    ),
    (
        "price_negative.json",
        0,
        2,
        &[("bad_value", "index 1")],
        "negative price",
    ),
    (
        "price_overflow.json",
        0,
        2,
        &[("bad_value", "index 1"), ("bad_value", "index 2")],
        "out of range",
    ),
    (
        "too_large.json",
        1024,
        2,
        &[("too_large", "index 1")],
        "limit of 1024",
    ),
    ("not_utf8.json", 0, 2, &[("not_utf8", "index 1")], "UTF-8"),
    ("not_utf8.jsonl", 0, 2, &[("not_utf8", "line 2")], "UTF-8"),
    (
        "empty_file.json",
        0,
        0,
        &[("empty_file", "line 1")],
        "empty",
    ),
    (
        "whitespace_only.jsonl",
        0,
        0,
        &[("empty_file", "line 1")],
        "empty",
    ),
    (
        "body_not_json.json",
        0,
        2,
        &[("bad_body", "index 1"), ("bad_body", "index 2")],
        "body",
    ),
    (
        "items_not_array.json",
        0,
        2,
        &[("bad_body", "index 1")],
        "array of item objects",
    ),
    (
        "body_null.json",
        0,
        2,
        &[("bad_body", "index 1"), ("bad_body", "index 2")],
        "missing or null",
    ),
    ("no_items.json", 0, 2, &[], ""),
    (
        "not_an_object.json",
        0,
        2,
        &[("bad_type", "index 1"), ("bad_type", "index 2")],
        "a JSON object",
    ),
    (
        "trailing_garbage.json",
        0,
        2,
        &[("malformed_json", "index 2")],
        "after the array",
    ),
    (
        "empty_element.json",
        0,
        2,
        &[("malformed_json", "index 1")],
        "empty array element",
    ),
    (
        "duplicate_field.jsonl",
        0,
        2,
        &[("malformed_json", "line 2")],
        "duplicate field",
    ),
];

#[test]
fn corpus_yields_expected_dead_letters() {
    let dir = data("bad");
    // The table and the directory must agree, so a new corpus file cannot go unchecked.
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "README.md")
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CORPUS.iter().map(|c| c.0.to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "tests/data/bad and CORPUS disagree");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();

    let mut classes = std::collections::BTreeSet::new();
    for &(file, limit, good, expected, detail) in CORPUS {
        assert!(
            readme.contains(&format!("`{file}`")),
            "README.md does not describe {file}"
        );
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let limit = if limit == 0 {
            DEFAULT_MAX_RECORD_BYTES
        } else {
            limit
        };
        let parsed = parse_bytes_with_limit(file, &bytes, limit);

        let got = reasons(&parsed);
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|(r, p)| ((*r).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(got, want, "{file}: dead letters {:#?}", parsed.dead_letters);
        let ids: Vec<&str> = parsed.events.iter().map(|e| e.event_id.as_str()).collect();
        let want_ids: Vec<String> = (0..good).map(|i| format!("good-{i}")).collect();
        assert_eq!(ids, want_ids, "{file}: good events");

        for dl in &parsed.dead_letters {
            assert_eq!(dl.source_file, file);
            assert!(
                !dl.detail.is_empty() && dl.raw.len() <= MAX_RAW_BYTES,
                "{file}: {dl:?}"
            );
            assert!(REASONS.contains(&dl.reason.as_str()));
            // Where the bad record could be cut out, raw shows it (not a neighbour).
            if !["truncated", "empty_file"].contains(&dl.reason.as_str()) {
                assert!(
                    !dl.raw.is_empty() && !dl.raw.contains("good-"),
                    "{file}: raw is {:?}",
                    dl.raw
                );
            }
            if dl.raw.contains("\"event_id\"") && dl.reason != "truncated" {
                assert!(dl.raw.contains("bad-"), "{file}: raw is {:?}", dl.raw);
            }
            classes.insert(dl.reason.clone());
        }
        if let Some(first) = parsed.dead_letters.first() {
            assert!(
                first.detail.contains(detail),
                "{file}: detail {:?} does not mention {detail:?}",
                first.detail
            );
        }
    }
    let all: std::collections::BTreeSet<String> = REASONS.iter().map(|r| (*r).to_owned()).collect();
    assert_eq!(classes, all, "every reason class has a corpus file");
}

#[test]
fn records_over_the_default_limit_are_dead_lettered_with_bounded_raw() {
    let huge = "x".repeat(DEFAULT_MAX_RECORD_BYTES + 1024);
    let good = format!(r#"{{{BASE}, "ts": "2026-11-25 01:51:45", "sequence": 1, "body": "{{}}"}}"#);
    let big = format!(
        r#"{{{BASE}, "ts": "2026-11-25 01:51:45", "sequence": 2, "body": "{{\"pad\": \"{huge}\"}}"}}"#
    );
    let text = format!("[{good}, {big}, {good}]");
    let parsed = parse_bytes("big.json", text.as_bytes());
    assert_eq!(
        reasons(&parsed),
        [("too_large".to_owned(), "index 1".to_owned())]
    );
    assert_eq!(parsed.dead_letters[0].raw.len(), MAX_RAW_BYTES);
    assert_eq!(parsed.events.len(), 2);
}

/// Byte offsets just past each top-level element of the fixture, found by text search: in
/// the original's format an element starts with `{"event_id"` (inside bodies quotes are
/// escaped) and elements are separated by `, `.
fn fixture_element_ends(bytes: &[u8]) -> Vec<usize> {
    let starts: Vec<usize> = bytes
        .windows(11)
        .enumerate()
        .filter(|(_, w)| w == b"{\"event_id\"")
        .map(|(i, _)| i)
        .collect();
    let mut ends: Vec<usize> = starts.iter().skip(1).map(|s| s - 2).collect();
    ends.push(bytes.len() - 1);
    ends
}

#[test]
fn every_truncation_of_the_fixture_keeps_the_complete_prefix() {
    let bytes = fixture();
    let full = parse_bytes("f.json", &bytes).events;
    let ends = fixture_element_ends(&bytes);
    assert_eq!(ends.len(), full.len());
    for cut in 0..=bytes.len() {
        let parsed = parse_bytes("cut.json", &bytes[..cut]);
        let complete = ends.iter().filter(|&&end| end <= cut).count();
        assert_eq!(parsed.events, full[..complete], "cut at {cut}");
        let want: &[&str] = match cut {
            0 => &["empty_file"],
            c if c == bytes.len() => &[],
            _ => &["truncated"],
        };
        let got: Vec<&str> = parsed
            .dead_letters
            .iter()
            .map(|d| d.reason.as_str())
            .collect();
        assert_eq!(got, want, "cut at {cut}: {:?}", parsed.dead_letters);
    }
}

/// Good and bad single-line records for the mixing property below.
fn good_record(i: usize) -> String {
    let et = EventType::ALL[i % 8];
    let body = if et == EventType::OrderCreated {
        r#""{\"items\": [{\"id\": 1, \"category_id\": 2, \"menu_id\": 3, \"brand_id\": 4, \"name\": \"n\", \"price\": 1.25, \"qty\": 2}]}""#
    } else {
        r#""{}""#
    };
    format!(
        r#"{{"event_id": "good-{i}", "event_type": "{et}", "ts": "2026-11-25 01:51:45.{:06}", "gk_id": "g", "location": "sf", "order_id": "o{i}", "sequence": {i}, "body": {body}}}"#,
        i % 1_000_000
    )
}

const BAD_RECORDS: &[(&str, &[u8])] = &[
    ("malformed_json", br#"{"event_type": gk_started}"#),
    ("malformed_json", br#"{"a": 1 "b": 2}"#),
    ("missing_field", br#"{"event_type": "gk_started"}"#),
    ("unknown_event_type", br#"{"event_type": "refunded", "ts": "x"}"#),
    ("bad_type", b"42"),
    ("bad_type", br#"{"event_type": ["gk_started"]}"#),
    ("bad_timestamp", br#"{"event_type": "gk_ready", "ts": "2026-02-30 00:00:00"}"#),
    ("not_utf8", b"{\"event_type\": \"gk_ready\xff\"}"),
    (
        "bad_body",
        br#"{"event_type": "gk_ready", "ts": "2026-01-01 00:00:00", "gk_id": "g", "location": "l", "order_id": "o", "seq": 1, "body": "[}"}"#,
    ),
    (
        "bad_value",
        br#"{"event_type": "order_created", "ts": "2026-01-01 00:00:00", "gk_id": "g", "location": "l", "order_id": "o", "seq": 0, "body": {"items": [{"id": 1, "category_id": 2, "menu_id": 3, "brand_id": 4, "name": "n", "price": 1, "qty": 0}]}}"#,
    ),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// However good and bad records are mixed, in either format, every good record comes
    /// back in order and every bad one is one dead letter of the right class at the right place.
    #[test]
    fn good_records_survive_bad_neighbours(
        picks in proptest::collection::vec(proptest::option::weighted(0.6, 0..BAD_RECORDS.len()), 0..40),
        as_array in any::<bool>(),
    ) {
        let mut pieces: Vec<Vec<u8>> = Vec::new();
        let mut want_ids = Vec::new();
        let mut want_dead = Vec::new();
        for (i, pick) in picks.iter().enumerate() {
            let position = if as_array { format!("index {i}") } else { format!("line {}", i + 1) };
            match pick {
                None => {
                    pieces.push(good_record(i).into_bytes());
                    want_ids.push(format!("good-{i}"));
                }
                Some(b) => {
                    pieces.push(BAD_RECORDS[*b].1.to_vec());
                    want_dead.push((BAD_RECORDS[*b].0.to_owned(), position));
                }
            }
        }
        let bytes = if as_array {
            let mut out = b"[".to_vec();
            out.extend(pieces.join(&b", "[..]));
            out.push(b']');
            out
        } else {
            // Every bad record is balanced and on one line, so even as the first line it keeps
            // the file in JSON Lines mode.
            pieces.join(&b"\n"[..])
        };
        let parsed = parse_bytes("mix", &bytes);
        // The one-pass decode and the split-then-decode path (forced by a limit below the
        // file's size but above every record's) must agree exactly.
        let longest = pieces.iter().map(Vec::len).max().unwrap_or(0);
        if bytes.len() > longest + 1 {
            let split = parse_bytes_with_limit("mix", &bytes, bytes.len() - 1);
            prop_assert_eq!(&split.events, &parsed.events);
            prop_assert_eq!(&split.dead_letters, &parsed.dead_letters);
        }
        if picks.is_empty() && !as_array {
            prop_assert_eq!(reasons(&parsed), [("empty_file".to_owned(), "line 1".to_owned())]);
        } else {
            let ids: Vec<String> = parsed.events.iter().map(|e| e.event_id.clone()).collect();
            prop_assert_eq!(ids, want_ids);
            prop_assert_eq!(reasons(&parsed), want_dead);
        }
    }

    /// Arbitrary bytes never panic, and a file with content always yields something.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let parsed = parse_bytes("random", &bytes);
        let has_content = bytes.iter().any(|b| !b" \t\r\n".contains(b));
        prop_assert!(!has_content || !parsed.events.is_empty() || !parsed.dead_letters.is_empty());
        prop_assert!(parsed.dead_letters.iter().all(|d| d.raw.len() <= MAX_RAW_BYTES));
    }

    /// Flipping, inserting and deleting bytes of a real file never panics, and never yields
    /// more events than the file holds.
    #[test]
    fn mutated_fixture_never_panics(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8)) {
        let mut bytes = fixture();
        for (at, byte, kind) in edits {
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => { bytes.remove(i); }
            }
        }
        let parsed = parse_bytes("mutated", &bytes);
        prop_assert!(parsed.events.len() <= 16);
        prop_assert!(!parsed.events.is_empty() || !parsed.dead_letters.is_empty());
    }
}

/// Replay speed of the reader on the original's format (release build):
/// `cargo test --release --test integration reader_throughput -- --ignored --nocapture`.
/// Files are parsed one at a time, as the runtime does; the split path (taken for files larger
/// than the record limit, or when the one-pass decode fails) is measured by lowering the limit,
/// and the streaming path (files larger than the limit, read in chunks) from memory.
#[test]
#[ignore = "timing; run in release"]
fn reader_throughput() {
    let sample = Path::new(SAMPLES).join("backfill_sf_default/20261128-164133.681079.json");
    let (name, one) = match std::fs::read(&sample) {
        Ok(bytes) => ("backfill sample", bytes),
        Err(_) => ("hand-built fixture", fixture()),
    };
    let reps = (200_000_000 / one.len()).max(1);
    let mut buf = Vec::new();
    let mut streamed = |limit| {
        let reader = std::io::Cursor::new(&one[..]);
        parse_reader(reader, "f.json", limit, DEFAULT_CHUNK_BYTES, &mut buf)
            .unwrap()
            .0
    };
    for (path, limit, streaming) in [
        ("one pass", DEFAULT_MAX_RECORD_BYTES, false),
        ("split", one.len() - 1, false),
        ("streamed", one.len() - 1, true),
    ] {
        let mut best = f64::INFINITY;
        let mut events = 0;
        for _ in 0..3 {
            let start = Instant::now();
            events = 0;
            for _ in 0..reps {
                let parsed = if streaming {
                    streamed(limit)
                } else {
                    parse_bytes_with_limit("f.json", &one, limit)
                };
                assert!(parsed.dead_letters.is_empty());
                events += parsed.events.len();
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
        #[allow(clippy::cast_precision_loss)]
        let (rate, mb) = (events as f64 / best, (reps * one.len()) as f64 / best / 1e6);
        println!("reader, {path} ({name} ×{reps}): {rate:.0} events/s, {mb:.0} MB/s");
    }
}

// The streaming reader (`parse_reader`, `parse_file`) against the whole-file one.

/// What the streaming reader adds to a `too_large` detail.
const STREAMED: &str = " (measured while streaming the file)";

/// Checks that streaming gave exactly the whole-file reader's events and dead letters; only a
/// `too_large` detail differs, by [`STREAMED`]. On mismatch, shows both lists.
fn assert_same_as_whole(
    streamed: &ParsedFile,
    whole: &ParsedFile,
    bytes: &[u8],
) -> Result<(), TestCaseError> {
    let letters: Vec<_> = streamed
        .dead_letters
        .iter()
        .map(|d| {
            let mut d = d.clone();
            if d.reason == "too_large" {
                assert!(d.detail.ends_with(STREAMED), "{}", d.detail);
                d.detail.truncate(d.detail.len() - STREAMED.len());
            }
            d
        })
        .collect();
    prop_assert!(
        streamed.events == whole.events && letters == whole.dead_letters,
        "file {:?}\nstreamed: {} events, {:#?}\nwhole: {} events, {:#?}",
        String::from_utf8_lossy(bytes),
        streamed.events.len(),
        letters,
        whole.events.len(),
        whole.dead_letters
    );
    Ok(())
}

/// Streams `bytes` with `chunk`-byte reads and compares with the whole-file reader; also
/// checks the memory the stream reports against the bound it promises.
fn check_streaming(bytes: &[u8], limit: usize, chunk: usize) -> Result<(), TestCaseError> {
    let mut buf = Vec::new();
    let (streamed, stats) = parse_reader(
        std::io::Cursor::new(bytes),
        "f.json",
        limit,
        chunk,
        &mut buf,
    )
    .unwrap();
    let whole = parse_bytes_with_limit("f.json", bytes, limit);
    assert_same_as_whole(&streamed, &whole, bytes)?;
    prop_assert!(stats.streamed);
    // Read buffer, one record (or the raw head), and an empty element's raw text.
    let bound = chunk.max(8) + limit.max(MAX_RAW_BYTES) + 2 * (MAX_RAW_BYTES + 1);
    prop_assert!(
        stats.peak_buffered_bytes <= bound,
        "{} > {bound}",
        stats.peak_buffered_bytes
    );
    prop_assert!(stats.bytes_read >= bytes.len() as u64);
    Ok(())
}

/// A good record whose body is padded to about `len` bytes with text that is hard on a
/// scanner: escaped quotes and backslashes, brackets and commas inside strings, multi-byte
/// characters, so chunk boundaries fall in the middle of all of them.
fn padded_record(i: usize, len: usize) -> String {
    const PAD: &str = r#"a\\\"]},{[ è\\\\x\\n"#;
    let pad = PAD.repeat(len / PAD.len() + 1);
    format!(
        r#"{{"event_id": "big-{i}", "event_type": "gk_ready", "ts": "2026-11-25 01:51:45", "gk_id": "g", "location": "sf", "order_id": "o{i}", "sequence": {i}, "body": "{{\"pad\": \"{pad}\"}}"}}"#
    )
}

/// One record of a generated file.
#[derive(Debug, Clone)]
enum Pick {
    Good,
    Bad(usize),
    /// Padded to this many times the record limit (too large when above 1).
    Padded(f64),
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        5 => Just(Pick::Good),
        2 => (0..BAD_RECORDS.len()).prop_map(Pick::Bad),
        2 => (0.2..4.0f64).prop_map(Pick::Padded),
    ]
}

/// How a generated file's records are laid out.
#[derive(Debug, Clone, Copy)]
enum Layout {
    Array,
    Lines,
    Pretty,
}

fn record_text(pick: &Pick, i: usize, limit: usize, layout: Layout) -> Vec<u8> {
    let text = match pick {
        Pick::Good => good_record(i),
        Pick::Bad(b) => return BAD_RECORDS[*b].1.to_vec(),
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Pick::Padded(times) => padded_record(i, (limit as f64 * times) as usize),
    };
    match layout {
        Layout::Pretty => {
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            serde_json::to_string_pretty(&value).unwrap().into_bytes()
        }
        Layout::Array | Layout::Lines => text.into_bytes(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Good, bad and oversized records in every layout, with a BOM, leading whitespace,
    /// empty elements, trailing text or a cut anywhere: streaming in tiny chunks gives exactly
    /// the whole-file reader's result.
    #[test]
    fn streaming_matches_the_whole_file_reader(
        picks in proptest::collection::vec(pick(), 0..24),
        layout in prop_oneof![Just(Layout::Array), Just(Layout::Lines), Just(Layout::Pretty)],
        separators in proptest::collection::vec(0..6usize, 24),
        bom in any::<bool>(),
        lead in prop_oneof![Just(""), Just("  "), Just("\n\n \r\n")],
        tail in prop_oneof![Just(""), Just("\n"), Just(" x"), Just("]"), Just("[{}")],
        cut in proptest::option::weighted(0.25, any::<prop::sample::Index>()),
        limit in 64..1024usize,
        chunk in 1..24usize,
    ) {
        let records: Vec<Vec<u8>> = picks
            .iter()
            .enumerate()
            .map(|(i, p)| record_text(p, i, limit, layout))
            .collect();
        let mut bytes = Vec::new();
        if bom {
            bytes.extend_from_slice(b"\xEF\xBB\xBF");
        }
        bytes.extend_from_slice(lead.as_bytes());
        match layout {
            Layout::Array => {
                const SEPARATORS: [&str; 6] = [", ", ",", ",\n", " ,\n  ", ",,", ", \r\n,"];
                bytes.push(b'[');
                for (i, record) in records.iter().enumerate() {
                    if i > 0 {
                        bytes.extend_from_slice(SEPARATORS[separators[i]].as_bytes());
                    }
                    bytes.extend_from_slice(record);
                }
                bytes.push(b']');
            }
            Layout::Lines | Layout::Pretty => {
                const SEPARATORS: [&str; 6] = ["\n", "\n", "\r\n", "\n\n", "\n  \t\n", " \n"];
                for (i, record) in records.iter().enumerate() {
                    if i > 0 {
                        bytes.extend_from_slice(SEPARATORS[separators[i]].as_bytes());
                    }
                    bytes.extend_from_slice(record);
                }
            }
        }
        bytes.extend_from_slice(tail.as_bytes());
        if let Some(at) = cut {
            bytes.truncate(at.index(bytes.len() + 1));
        }
        check_streaming(&bytes, limit, chunk)?;
    }

    /// Arbitrary text over JSON's structural bytes, opening as each format would: the
    /// streaming reader's state machine and the whole-file splitters agree on every input,
    /// whatever the limit and chunk size.
    #[test]
    fn streaming_matches_the_whole_file_reader_on_noise(
        start in prop_oneof![Just(&b""[..]), Just(&b"["[..]), Just(&b"{"[..]), Just(&b"{\n"[..])],
        noise in proptest::collection::vec(
            prop::sample::select(b"[]{}\",:\\ \n\r\tx1\xEF\xBB\xBF".to_vec()),
            0..160,
        ),
        limit in 1..48usize,
        chunk in 1..8usize,
    ) {
        let bytes = [start, &noise].concat();
        check_streaming(&bytes, limit, chunk)?;
    }
}

#[test]
fn streaming_matches_on_the_fixture_and_its_truncations() {
    let bytes = fixture();
    for cut in (0..=bytes.len()).step_by(7).chain([bytes.len()]) {
        for (limit, chunk) in [(DEFAULT_MAX_RECORD_BYTES, 64), (700, 5), (300, 1)] {
            check_streaming(&bytes[..cut], limit, chunk).unwrap();
        }
    }
    let objects = fixture_objects();
    let pretty: String = objects
        .iter()
        .map(|o| serde_json::to_string_pretty(o).unwrap() + "\n")
        .collect();
    let jsonl: String = objects.iter().map(|o| format!("{o}\n")).collect();
    for text in [pretty, jsonl] {
        for (limit, chunk) in [(DEFAULT_MAX_RECORD_BYTES, 3), (600, 7), (300, 1)] {
            check_streaming(text.as_bytes(), limit, chunk).unwrap();
        }
    }
}

#[test]
fn parse_file_reads_small_files_whole_and_large_ones_streaming() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.json");
    let bytes = fixture();
    std::fs::write(&path, &bytes).unwrap();
    let mut buf = Vec::new();
    let want = parse_bytes("f.json", &bytes);
    // Within the limit (one pass), then a limit below the file's size but above every
    // record's (streamed).
    for limit in [DEFAULT_MAX_RECORD_BYTES, bytes.len() - 1] {
        let got = parse_file(&path, "f.json", limit, &mut buf).unwrap();
        assert_eq!(got.events, want.events, "limit {limit}");
        assert_eq!(got.dead_letters, want.dead_letters, "limit {limit}");
    }
    // Missing files are the caller's to tell apart from unreadable ones.
    let missing = parse_file(&dir.path().join("gone.json"), "gone.json", 1024, &mut buf);
    assert_eq!(missing.unwrap_err().kind(), std::io::ErrorKind::NotFound);
}

/// Whitespace after a record does not count towards the limit, even when there is more of it
/// than the limit: the record (here longer than `MAX_RAW_BYTES`, so more than the raw text
/// must be kept) is still decoded, in every layout and whatever the chunk size.
#[test]
fn streaming_keeps_records_followed_by_long_whitespace() {
    let limit = 3 * MAX_RAW_BYTES;
    let record = padded_record(0, 2 * MAX_RAW_BYTES);
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&record).unwrap())
            .unwrap();
    let ws = " \t\r".repeat(limit);
    let files = [
        format!("[{record}{ws}, {record}{ws}]"),
        format!("{record}{ws}\n{record}{ws}"),
        format!("{pretty}{ws}\n{pretty}\n42{ws}\n"),
    ];
    for file in &files {
        for chunk in [1, 7, 4096, 1 << 20] {
            check_streaming(file.as_bytes(), limit, chunk).unwrap();
        }
        let (parsed, _) = parse_reader(
            std::io::Cursor::new(file.as_bytes()),
            "ws.json",
            limit,
            4096,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(parsed.events.len(), 2, "{:?}", parsed.dead_letters);
    }
}
