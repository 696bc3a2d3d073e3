//! The lake through an independent engine: DuckDB (installed by scripts/test.sh into a
//! git-ignored venv; CASPERS_PYTHON points at its python) reads every table with
//! `read_parquet(..., hive_partitioning = true)`, checks the column types against the
//! reference, and recomputes the five tables from the same landing files with its own SQL
//! (`bench/duckdb_five_tables.py`), which must agree with the lake.

use std::path::Path;
use std::process::Command;

use caspers::generator::{self, BackfillOptions, Chaos, GeneratorConfig};
use caspers_dataflows::time::parse_timestamp;

use crate::e2e::caspers;

fn python() -> Option<String> {
    match std::env::var("CASPERS_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            eprintln!(
                "skipped: CASPERS_PYTHON not set (scripts/test.sh installs DuckDB when pip can)"
            );
            None
        }
    }
}

fn py(python: &str, args: &[&str]) -> String {
    let out = Command::new(python).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const SCHEMA_CHECK: &str = r#"
import duckdb, json, sys
lake = sys.argv[1]
out = {}
for t in ["all_events", "silver_order_items", "gold_order_header", "gold_item_sales_day",
          "gold_brand_sales_day", "gold_location_sales_hourly", "refund_recommendations"]:
    rows = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{lake}/{t}/**/*.parquet', hive_partitioning = true)").fetchall()
    out[t] = {r[0]: r[1] for r in rows}
    out[t]["__rows"] = duckdb.sql(f"SELECT count(*) FROM read_parquet('{lake}/{t}/**/*.parquet', hive_partitioning = true)").fetchall()[0][0]
# Bronze's text columns are written by caspers' own page writer: DuckDB must read every byte.
for c in ["event_id", "event_type", "gk_id", "location", "order_id", "body"]:
    out["all_events"]["__bytes_" + c] = duckdb.sql(f"SELECT sum(strlen({c})) FROM read_parquet('{lake}/all_events/**/*.parquet')").fetchall()[0][0]
# So are its statistics: each bronze file's min and max as DuckDB computes them from the data,
# and the deprecated min/max fields on the signed columns only, equal to the new ones.
meta = duckdb.sql(f"""SELECT file_name, path_in_schema, stats_min, stats_max, stats_min_value, stats_max_value
    FROM parquet_metadata('{lake}/all_events/**/*.parquet') WHERE path_in_schema IN ('ts', 'sequence', 'event_ts')""").fetchall()
data = {r[0]: r[1:] for r in duckdb.sql(f"""SELECT filename, min(ts), max(ts), min(sequence)::VARCHAR, max(sequence)::VARCHAR
    FROM read_parquet('{lake}/all_events/**/*.parquet', filename = true) GROUP BY filename""").fetchall()}
problems = []
for f, col, old_min, old_max, lo, hi in meta:
    if lo is None or hi is None:
        problems.append([f, col, "no min/max"])
    elif col == "ts":
        if old_min is not None or old_max is not None:
            problems.append([f, col, "deprecated min/max on text"])
        if (lo, hi) != data[f][0:2]:
            problems.append([f, col, lo, hi, data[f][0], data[f][1]])
    else:
        if (old_min, old_max) != (lo, hi):
            problems.append([f, col, "deprecated min/max differ", old_min, lo])
        if col == "sequence" and (lo, hi) != data[f][2:4]:
            problems.append([f, col, lo, hi, data[f][2], data[f][3]])
out["__bronze_statistics"] = {"checked": len(meta), "problems": problems}
print(json.dumps(out))
"#;

#[test]
fn duckdb_reads_the_lake_with_the_reference_types_and_agrees_with_its_own_sql() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let landing = dir.path().join("landing");
    let mut config = GeneratorConfig::builtin("sanfrancisco").unwrap();
    config.start_days_ago = 7.0;
    let now = parse_timestamp("2026-11-28 16:41:33").unwrap();
    let options = BackfillOptions {
        file_events: 3000,
        // No malformed records: the DuckDB baseline's read_json would reject the whole file.
        chaos: Chaos {
            duplicate_rate: 0.03,
            late_rate: 0.03,
            malformed_rate: 0.0,
        },
        ..BackfillOptions::default()
    };
    generator::generate_backfill(&[config], now, None, &landing, &options).unwrap();
    let lake = dir.path().join("lake");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    caspers(&[
        "run",
        "--input",
        &s(&landing),
        "--lake",
        &s(&lake),
        "--quiet",
        "-w",
        "2",
    ]);

    let schema: serde_json::Value =
        serde_json::from_str(&py(&python, &["-c", SCHEMA_CHECK, &s(&lake)])).unwrap();
    let ty = |t: &str, c: &str| schema[t][c].as_str().unwrap_or("missing").to_string();
    assert_eq!(ty("silver_order_items", "order_day"), "DATE");
    assert_eq!(
        ty("silver_order_items", "order_ts"),
        "TIMESTAMP WITH TIME ZONE"
    );
    assert_eq!(ty("silver_order_items", "price"), "DOUBLE");
    assert_eq!(ty("silver_order_items", "extended_price"), "DOUBLE");
    assert_eq!(ty("silver_order_items", "qty"), "INTEGER");
    assert_eq!(ty("silver_order_items", "item_id"), "INTEGER");
    assert_eq!(ty("gold_order_header", "order_day"), "DATE");
    assert_eq!(ty("gold_order_header", "order_revenue"), "DOUBLE");
    assert_eq!(ty("gold_order_header", "total_qty"), "BIGINT");
    assert_eq!(ty("gold_order_header", "brands_in_order"), "INTEGER[]");
    assert_eq!(ty("gold_item_sales_day", "day"), "DATE");
    assert_eq!(ty("gold_item_sales_day", "units_sold"), "BIGINT");
    assert_eq!(ty("gold_brand_sales_day", "day"), "DATE");
    assert_eq!(ty("gold_brand_sales_day", "orders"), "BIGINT");
    assert_eq!(ty("gold_location_sales_hourly", "revenue"), "DOUBLE");
    // DuckDB types a Hive timestamp value as text unless told (see README).
    assert!(!ty("gold_location_sales_hourly", "hour_ts").is_empty());
    assert_eq!(ty("all_events", "body"), "VARCHAR");
    assert_eq!(ty("refund_recommendations", "agent_response"), "VARCHAR");
    let read = caspers::sink::readback::read_lake(&lake).unwrap();
    let rows = |t: &str| schema[t]["__rows"].as_i64().unwrap();
    assert_eq!(
        rows("silver_order_items"),
        read.silver_order_items.values().sum::<i64>()
    );
    assert_eq!(
        rows("gold_order_header"),
        read.gold_order_header.values().sum::<i64>()
    );
    assert_eq!(rows("all_events"), read.all_events.values().sum::<i64>());
    type Field = fn(&caspers_dataflows::model::Event) -> usize;
    let fields: [(&str, Field); 6] = [
        ("event_id", |e| e.event_id.len()),
        ("event_type", |e| e.event_type.as_str().len()),
        ("gk_id", |e| e.gk_id.len()),
        ("location", |e| e.location.len()),
        ("order_id", |e| e.order_id.len()),
        ("body", |e| e.body.len()),
    ];
    for (name, len) in fields {
        let ours: i64 = read.all_events.iter().map(|(e, n)| len(e) as i64 * n).sum();
        assert!(ours > 0, "{name}");
        let theirs = schema["all_events"][format!("__bytes_{name}")].as_i64();
        assert_eq!(theirs, Some(ours), "{name}");
    }

    let statistics = &schema["__bronze_statistics"];
    assert!(statistics["checked"].as_i64().unwrap() >= 3, "{statistics}");
    assert_eq!(
        statistics["problems"],
        serde_json::json!([]),
        "{statistics}"
    );

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/duckdb_five_tables.py");
    let ours = dir.path().join("duckdb");
    py(
        &python,
        &[
            &s(&script),
            "compute",
            "--input",
            &s(&landing),
            "--out",
            &s(&ours),
        ],
    );
    let report: serde_json::Value = serde_json::from_str(
        py(
            &python,
            &[
                &s(&script),
                "check",
                "--ours",
                &s(&ours),
                "--lake",
                &s(&lake),
            ],
        )
        .lines()
        .last()
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        report["ok"], true,
        "DuckDB disagrees with the lake: {report:#}"
    );
}
