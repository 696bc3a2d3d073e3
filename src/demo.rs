//! `caspers demo`: the whole pipeline on embedded defaults, nothing to start by hand. Generates
//! the last week of San Francisco orders (the original's backfill, with a longer history) into `./demo/landing`, replays them into `./demo/lake`, and
//! prints what the lake now holds, read back from its Parquet files.

use std::path::PathBuf;

use anyhow::Context;
use caspers_dataflows::money::Money;
use caspers_dataflows::time::{format_day, format_timestamp};

use crate::generator::{self, BackfillOptions, GeneratorConfig};
use crate::runtime::{self, RunArgs, TimelyArgs};
use crate::sink::readback::{read_lake, Rows};

/// `caspers demo` options.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Directory the demo owns (landing and lake below it); emptied first.
    #[arg(long, default_value = "demo")]
    pub dir: PathBuf,
    /// Days of history to generate.
    #[arg(long, default_value_t = 7.0)]
    pub days: f64,
    /// Worker threads.
    #[arg(short = 'w', long = "workers", default_value_t = 2)]
    pub workers: usize,
}

/// Runs the demo.
pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let landing = args.dir.join("landing");
    let lake = args.dir.join("lake");
    for dir in [&landing, &lake] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("emptying {}", dir.display()))?;
        }
    }
    let mut config = GeneratorConfig::builtin("sanfrancisco").context("built-in config")?;
    config.start_days_ago = args.days;
    let now = generator::wall_clock_now();
    let options = BackfillOptions {
        progress: true,
        ..BackfillOptions::default()
    };
    let generated = generator::generate_backfill(&[config], now, None, &landing, &options)?;
    println!("generate: {generated} -> {}", landing.display());

    let run_args = RunArgs {
        quiet: false,
        catalog: Some("builtin".into()),
        timely: TimelyArgs {
            workers: args.workers,
            processes: 1,
            process: 0,
            hostfile: None,
        },
        ..RunArgs::replay(&landing, &lake)
    };
    let summary = runtime::run(&run_args)?;
    crate::cli::print_summary(&summary);

    let t = read_lake(&lake)?;
    println!("\nlake {} (read back from Parquet):", lake.display());
    let counts = [
        ("all_events", count(&t.all_events)),
        ("silver_order_items", count(&t.silver_order_items)),
        ("gold_order_header", count(&t.gold_order_header)),
        ("gold_item_sales_day", count(&t.gold_item_sales_day)),
        ("gold_brand_sales_day", count(&t.gold_brand_sales_day)),
        (
            "gold_location_sales_hourly",
            count(&t.gold_location_sales_hourly),
        ),
        ("refund_recommendations", count(&t.refund_recommendations)),
    ];
    for (table, n) in counts {
        println!("  {table:<28} {n:>9} rows");
    }
    let usd = |m: Money| format!("{:.2}", m.to_f64());
    println!("\ngold_order_header (first 5):");
    for h in t.gold_order_header.keys().take(5) {
        println!(
            "  {}  {}  {}  revenue {:>7}  qty {:>2}  items {:>2}  brands {:?}",
            h.order_id,
            h.location,
            format_day(h.order_day),
            usd(h.order_revenue),
            h.total_qty,
            h.total_items,
            h.brands_in_order
        );
    }
    println!("\ngold_brand_sales_day (first 5):");
    for r in t.gold_brand_sales_day.keys().take(5) {
        println!(
            "  brand {:>2}  {}  orders {:>4}  items {:>5}  revenue {:>9}",
            r.brand_id,
            format_day(r.day),
            r.orders,
            r.items_sold,
            usd(r.brand_revenue)
        );
    }
    println!("\ngold_item_sales_day (first 5):");
    for r in t.gold_item_sales_day.keys().take(5) {
        println!(
            "  item {:>3}  brand {:>2}  {}  units {:>4}  revenue {:>8}",
            r.item_id,
            r.brand_id,
            format_day(r.day),
            r.units_sold,
            usd(r.gross_revenue)
        );
    }
    println!("\ngold_location_sales_hourly (first 5):");
    for r in t.gold_location_sales_hourly.keys().take(5) {
        println!(
            "  {}  {}  orders {:>3}  revenue {:>8}",
            r.location,
            &format_timestamp(r.hour_ts)[..16],
            r.orders,
            usd(r.revenue)
        );
    }
    println!("\nrefund_recommendations (first 3):");
    for (order_id, _, response, ..) in t.refund_recommendations.keys().take(3) {
        println!("  {order_id}  {response}");
    }
    println!(
        "\nquery it: duckdb -c \"select * from read_parquet('{}/gold_brand_sales_day/**/*.parquet', hive_partitioning=true)\"",
        lake.display()
    );
    Ok(())
}

fn count<R>(rows: &Rows<R>) -> i64 {
    rows.values().sum()
}
