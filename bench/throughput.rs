//! `cargo bench --bench throughput` (or `scripts/bench.sh`): every caspers benchmark in one
//! run, printed as one table and appended to `bench/RESULTS.md` with the machine.
//!
//! 1. Replay: `caspers run` end to end as a subprocess (discovery, parse, dataflow, Parquet
//!    publish) over cached generated datasets, for `-w 1`, `-w 2` and 2 processes × 1 worker
//!    (`scripts/cluster.sh`): events/s, MB/s, CPU seconds, peak RSS.
//! 2. In-memory dataflow: pre-parsed events pushed into `caspers_dataflows::build_all` in epochs
//!    of 1k/10k/100k on 1 and 2 workers.
//! 3. Incremental latency: a year loaded in memory, then epochs of 10 events, insert → probe
//!    (hdrhistogram); and landed file → published snapshot in `caspers run --follow`.
//! 4. Postgres sink: `caspers run --pg` against a throwaway server (`scripts/pg.sh`).
//! 5. DuckDB: the five tables from the same files by SQL (`scripts/bench-duckdb.sh`), timed the
//!    same way, then compared with caspers' lake (row counts, keys, values, revenue totals).
//!
//! Flags (`--help`) size every part; `CASPERS_BENCH_ARGS` adds flags from the environment.
//! Timing is noisy on a shared machine: compare ratios measured within one run.

mod datasets;
mod follow;
mod inmem;
mod measure;
mod replay;
mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;

use datasets::Dataset;

// The allocator comes with the `caspers` library (src/allocator.rs), as for the binary, so
// in-process figures compare.
use replay::{Mode, Tools};
use report::{Report, Row};

/// caspers benchmarks: replay, in-memory dataflow, latency, Postgres, DuckDB side by side.
#[derive(Debug, Parser)]
#[command(name = "throughput")]
struct Args {
    /// Which parts to run (comma-separated): replay, duckdb, pg, memory, latency, follow.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "replay,duckdb,pg,memory,latency,follow"
    )]
    only: Vec<String>,
    /// Replays, as DATASET=MODES (modes: wN = one process with N workers, pN = N processes
    /// × 1 worker, wN-nobronze = wN with `--no-bronze`); repeatable. Datasets: sf-year,
    /// multi-5m, sf-30d.
    #[arg(long = "replay", default_values_t = ["sf-year=w1,w2,p2,w2-nobronze".to_string(), "multi-5m=w2,w2-nobronze".to_string()])]
    replays: Vec<String>,
    /// DuckDB output layouts: flat (one file per table) and/or hive (partitioned like the lake).
    #[arg(long, value_delimiter = ',', default_value = "flat,hive")]
    duckdb_layouts: Vec<String>,
    /// Replays and DuckDB runs per dataset, alternating; each row keeps its fastest run. A
    /// shared machine's load comes and goes within seconds, so a single run of each can put
    /// the two sides on different machines in effect.
    #[arg(long, default_value_t = 2)]
    repeat: usize,
    /// Where lakes and DuckDB outputs go (default: /dev/shm/caspers-bench, else CACHE/lakes).
    #[arg(long)]
    lake_root: Option<PathBuf>,
    /// Cache directory for generated datasets.
    #[arg(long, default_value = "bench/.cache")]
    cache: PathBuf,
    /// The caspers binary (default: $CASPERS_BIN, else the one cargo built for this bench).
    #[arg(long)]
    caspers_bin: Option<PathBuf>,
    /// In-memory throughput: events pushed per configuration (a prefix of the year).
    #[arg(long, default_value_t = 500_000)]
    mem_events: usize,
    /// In-memory throughput: epoch sizes.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    epochs: Vec<usize>,
    /// In-memory throughput: worker counts.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    mem_workers: Vec<usize>,
    /// Latency: the history loaded first (a dataset name).
    #[arg(long, default_value = "sf-year")]
    latency_history: String,
    /// Latency: small epochs measured after the history.
    #[arg(long, default_value_t = 2000)]
    latency_epochs: usize,
    /// Latency: events per small epoch (the generator's live batch).
    #[arg(long, default_value_t = 10)]
    latency_batch: usize,
    /// Latency: workers.
    #[arg(long, default_value_t = 1)]
    latency_workers: usize,
    /// Follow mode: the history the job catches up with first (a dataset name).
    #[arg(long, default_value = "sf-year")]
    follow_history: String,
    /// Follow mode: files of `--latency-batch` events dropped after the history.
    #[arg(long, default_value_t = 100)]
    follow_files: usize,
    /// Follow mode: workers.
    #[arg(long, default_value_t = 1)]
    follow_workers: usize,
    /// Postgres sink: the dataset replayed with and without `--pg`.
    #[arg(long, default_value = "sf-30d")]
    pg_dataset: String,
    /// Postgres sink: workers.
    #[arg(long, default_value_t = 2)]
    pg_workers: usize,
    /// Small sizes everywhere (a smoke run of a minute or two).
    #[arg(long)]
    quick: bool,
    /// Do not append to the results file.
    #[arg(long)]
    no_record: bool,
    /// The results file.
    #[arg(long, default_value = "bench/RESULTS.md")]
    results: PathBuf,
    /// Also write the table as CSV here.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

impl Args {
    fn wants(&self, part: &str) -> bool {
        self.only.iter().any(|p| p == part)
    }

    fn apply_quick(&mut self) {
        if self.quick {
            self.replays = vec!["sf-30d=w1,w2,p2,w2-nobronze".into()];
            self.mem_events = self.mem_events.min(100_000);
            self.latency_history = "sf-30d".into();
            self.latency_epochs = self.latency_epochs.min(500);
            self.follow_history = "sf-30d".into();
            self.follow_files = self.follow_files.min(30);
        }
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut argv: Vec<String> = std::env::args().collect();
    if let Ok(extra) = std::env::var("CASPERS_BENCH_ARGS") {
        argv.extend(extra.split_whitespace().map(String::from));
    }
    let mut args = Args::parse_from(argv.iter());
    args.apply_quick();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(&root)?;
    let started = Instant::now();
    let cache = absolute(&root, &args.cache);
    let lake_root = match &args.lake_root {
        Some(dir) => absolute(&root, dir),
        None if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm/caspers-bench"),
        None => cache.join("lakes"),
    };
    std::fs::create_dir_all(&lake_root)?;
    let scratch = cache.join("scratch");
    std::fs::create_dir_all(&scratch)?;
    let caspers = match args
        .caspers_bin
        .clone()
        .or_else(|| std::env::var_os("CASPERS_BIN").map(PathBuf::from))
    {
        Some(bin) => bin,
        None => {
            // A private copy: other builds may replace target/release/caspers mid-run.
            let copy = scratch.join("caspers");
            std::fs::copy(env!("CARGO_BIN_EXE_caspers"), &copy)
                .context("copying the caspers binary cargo built for this bench")?;
            copy
        }
    };
    anyhow::ensure!(
        caspers.exists(),
        "{} not found (cargo build --release)",
        caspers.display()
    );
    let tools = Tools {
        root: root.clone(),
        caspers,
        scratch,
    };
    let mut report = Report::new(&root, &argv, &lake_root);
    eprintln!(
        "bench: lakes under {} ({}), caspers = {}",
        lake_root.display(),
        report::fs_kind(&lake_root),
        tools.caspers.display()
    );

    // Parse every replay spec up front so a typo fails before minutes of work.
    let mut plan: Vec<(datasets::Spec, Vec<Mode>)> = Vec::new();
    for spec in &args.replays {
        let (name, modes) = spec
            .split_once('=')
            .with_context(|| format!("--replay {spec:?}: expected DATASET=MODES"))?;
        let dataset = datasets::by_name(name).with_context(|| format!("no dataset {name}"))?;
        let modes = modes
            .split(',')
            .map(Mode::parse)
            .collect::<anyhow::Result<Vec<_>>>()?;
        plan.push((dataset, modes));
    }

    if args.wants("replay") || args.wants("duckdb") {
        if args.wants("duckdb") {
            replay::duckdb_setup(&tools)?;
        }
        for (spec, modes) in &plan {
            let dataset = datasets::ensure(&cache, *spec)?;
            report.dataset(&dataset);
            replay_and_compare(&args, &tools, &lake_root, &dataset, modes, &mut report)?;
        }
    }
    if args.wants("pg") {
        postgres(&args, &tools, &cache, &lake_root, &mut report)?;
    }
    if args.wants("memory") || args.wants("latency") {
        in_memory(&args, &mut report)?;
    }
    if args.wants("follow") && args.follow_history != "none" {
        let spec = datasets::by_name(&args.follow_history)
            .with_context(|| format!("no dataset {}", args.follow_history))?;
        let dataset = datasets::ensure(&cache, spec)?;
        report.dataset(&dataset);
        let live = datasets::live_events(&spec, args.follow_files * args.latency_batch)?;
        eprintln!(
            "bench: follow mode after {} ({} files of {})",
            spec.name, args.follow_files, args.latency_batch
        );
        let outcome = follow::follow(
            &tools.caspers,
            &tools.scratch,
            &lake_root.join("follow-lake"),
            &dataset.landing,
            dataset.manifest.events,
            &live,
            args.latency_batch,
            args.follow_workers,
        )?;
        report.push(Row::follow(spec.name, args.follow_workers, &outcome));
        measure::remove_dir(&lake_root.join("follow-lake"))?;
        measure::remove_dir(&tools.scratch.join("follow-landing"))?;
    }

    report.finish(started.elapsed().as_secs_f64());
    print!("{}", report.render());
    if let Some(path) = &args.csv {
        std::fs::write(absolute(&root, path), report.csv())?;
    }
    if !args.no_record {
        let path = absolute(&root, &args.results);
        report.append_to(&path)?;
        eprintln!("bench: appended to {}", path.display());
    }
    Ok(())
}

fn absolute(root: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    }
}

/// Replays one dataset in every mode, then runs DuckDB on the same files and checks its
/// tables against the lake of the last single-process replay.
fn replay_and_compare(
    args: &Args,
    tools: &Tools,
    lake_root: &Path,
    dataset: &Dataset,
    modes: &[Mode],
    report: &mut Report,
) -> anyhow::Result<()> {
    let name = dataset.spec.name;
    let rounds = args.repeat.max(1);
    let mut replays: Vec<Vec<replay::Replay>> = modes.iter().map(|_| Vec::new()).collect();
    let mut ducks: Vec<Vec<replay::Duck>> =
        args.duckdb_layouts.iter().map(|_| Vec::new()).collect();
    // The lake of the last single-process replay, which DuckDB's tables are checked against.
    let mut kept: Option<PathBuf> = None;
    for round in 1..=rounds {
        if args.wants("replay") {
            for (&mode, runs) in modes.iter().zip(&mut replays) {
                let lake = lake_root.join(format!("{name}-{}", mode_tag(mode)));
                eprintln!(
                    "bench: replay {name}, {} (run {round} of {rounds})",
                    mode.label()
                );
                runs.push(replay::replay(tools, mode, &dataset.landing, &lake, &[])?);
                if matches!(mode, Mode::Workers(_)) || kept.is_none() {
                    if let Some(old) = kept.take().filter(|old| *old != lake) {
                        measure::remove_dir(&old)?;
                    }
                    kept = Some(lake);
                } else {
                    measure::remove_dir(&lake)?;
                }
            }
        }
        if args.wants("duckdb") {
            for (layout, runs) in args.duckdb_layouts.iter().zip(&mut ducks) {
                let out = lake_root.join(format!("{name}-duckdb-{layout}"));
                eprintln!("bench: duckdb {name}, {layout} (run {round} of {rounds})");
                runs.push(replay::duckdb(tools, &dataset.landing, &out, layout)?);
                if round == rounds {
                    if let Some(lake) = &kept {
                        let verdict = replay::duckdb_check(tools, &out, lake)?;
                        report.check(name, layout, &verdict);
                    }
                }
                measure::remove_dir(&out)?;
            }
        }
    }
    for (&mode, runs) in modes.iter().zip(replays) {
        let walls: Vec<f64> = runs.iter().map(|r| r.cost.wall).collect();
        if let Some(best) = fastest(runs, |r| r.cost.wall) {
            report.push(Row::replay(dataset, mode, &best).with_runs(&walls));
        }
    }
    for (layout, runs) in args.duckdb_layouts.iter().zip(ducks) {
        let walls: Vec<f64> = runs.iter().map(|d| d.cost.wall).collect();
        if let Some(best) = fastest(runs, |d| d.cost.wall) {
            report.push(Row::duckdb(dataset, layout, &best).with_runs(&walls));
        }
    }
    if let Some(lake) = kept {
        measure::remove_dir(&lake)?;
    }
    Ok(())
}

/// The run with the least `wall`.
fn fastest<R>(runs: Vec<R>, wall: impl Fn(&R) -> f64) -> Option<R> {
    runs.into_iter().min_by(|a, b| wall(a).total_cmp(&wall(b)))
}

fn mode_tag(mode: Mode) -> String {
    match mode {
        Mode::Workers(n) => format!("w{n}"),
        Mode::Processes(n) => format!("p{n}"),
        Mode::WorkersNoBronze(n) => format!("w{n}-nobronze"),
    }
}

/// Replays the Postgres dataset without and with `--pg`.
fn postgres(
    args: &Args,
    tools: &Tools,
    cache: &Path,
    lake_root: &Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    let help = std::process::Command::new(&tools.caspers)
        .args(["run", "--help"])
        .output()?;
    if !String::from_utf8_lossy(&help.stdout).contains("--pg") {
        report.push(Row::note("postgres", "n/a (Postgres sink pending)"));
        return Ok(());
    }
    let spec = datasets::by_name(&args.pg_dataset)
        .with_context(|| format!("no dataset {}", args.pg_dataset))?;
    let dataset = datasets::ensure(cache, spec)?;
    report.dataset(&dataset);
    let pg = match replay::Postgres::start(&tools.root) {
        Ok(pg) => pg,
        Err(e) => {
            report.push(Row::note(
                "postgres",
                &format!("n/a (no PostgreSQL here: {e:#})"),
            ));
            return Ok(());
        }
    };
    let mode = Mode::Workers(args.pg_workers);
    let lake = lake_root.join("pg-lake");
    eprintln!("bench: postgres sink on {}", spec.name);
    let without = replay::replay(tools, mode, &dataset.landing, &lake, &[])?;
    let with = replay::replay(
        tools,
        mode,
        &dataset.landing,
        &lake,
        &["--pg".to_string(), pg.url.clone()],
    )?;
    report.push(Row::postgres(&dataset, mode, &without, &with));
    measure::remove_dir(&lake)?;
    drop(pg);
    Ok(())
}

/// In-memory throughput and incremental latency over the year generated in memory.
fn in_memory(args: &Args, report: &mut Report) -> anyhow::Result<()> {
    let spec = datasets::by_name(&args.latency_history)
        .with_context(|| format!("no dataset {}", args.latency_history))?;
    let t = Instant::now();
    let events = datasets::events_in_memory(&spec, 2)?;
    eprintln!(
        "bench: {} events of {} generated in memory in {:.1} s",
        events.len(),
        spec.name,
        t.elapsed().as_secs_f64()
    );
    if args.wants("memory") {
        let n = args.mem_events.min(events.len());
        for &workers in &args.mem_workers {
            for &epoch in &args.epochs {
                eprintln!("bench: in-memory {n} events, {workers} worker(s), epochs of {epoch}");
                let outcome = inmem::throughput(&events[..n], workers, epoch)?;
                report.push(Row::memory(spec.name, workers, epoch, &outcome));
            }
        }
    }
    if args.wants("latency") {
        let tail = (args.latency_epochs * args.latency_batch).min(events.len() / 2);
        let (history, tail) = events.split_at(events.len() - tail);
        eprintln!(
            "bench: latency after {} events, {} epochs of {}",
            history.len(),
            args.latency_epochs,
            args.latency_batch
        );
        let outcome = inmem::latency(
            history,
            tail,
            args.latency_workers,
            100_000,
            args.latency_batch,
        )?;
        report.push(Row::latency(spec.name, args.latency_workers, &outcome));
    }
    Ok(())
}
