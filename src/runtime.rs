//! The timely job behind `caspers run`: each worker lists the landing directory, reads the
//! files it owns, feeds their events in epochs into the views of `caspers_dataflows`, and
//! publishes the lake at the frontier.
//!
//! The timely timestamp is the ingest epoch. Bronze files are staged as their landing file is
//! read and renamed into place once the views have caught up with that epoch, so bronze never
//! runs ahead of silver and gold for long; replay publishes everything once, at the end.

pub mod cluster;
pub mod discover;
pub mod retention;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use differential_dataflow::input::Input;
use serde::Serialize;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::vec::{Broadcast, Input as _};

use caspers_dataflows::model::{DeadLetter, Event, EventType};
use caspers_dataflows::refunds::RefundPolicy;
use caspers_dataflows::time::format_timestamp;
use caspers_dataflows::time::parse_timestamp;
use caspers_dataflows::time::{day_of, Day};
use caspers_dataflows::PipelineParams;

use crate::sink::lake::{lake_sink, LakeRow, PublishPolicy, SinkStatus};
use crate::sink::parquet;
use crate::sink::postgres::{pg_sink, PgOptions, PgRow, PgWriter};
use discover::{list_files, owner, LandingFile};
use retention::Retention;

/// Timely's own cluster flags, parsed by clap so they mean what they mean in timely's examples.
#[derive(Debug, Clone, clap::Args)]
pub struct TimelyArgs {
    /// Worker threads per process.
    #[arg(short = 'w', long = "workers", default_value_t = 1)]
    pub workers: usize,
    /// Number of processes.
    #[arg(short = 'n', long = "processes", default_value_t = 1)]
    pub processes: usize,
    /// This process's index, 0-based.
    #[arg(short = 'p', long = "process", default_value_t = 0)]
    pub process: usize,
    /// File with one `host:port` per process; default `localhost:2101+i`.
    #[arg(short = 'h', long = "hostfile")]
    pub hostfile: Option<PathBuf>,
}

impl TimelyArgs {
    /// Timely's allocators for these flags, connected to the other processes when there are
    /// any; the second value keeps the network threads alive and must outlive the workers.
    pub fn build(
        &self,
    ) -> anyhow::Result<(
        Vec<timely::communication::AllocatorBuilder>,
        Box<dyn std::any::Any + Send>,
    )> {
        anyhow::ensure!(self.workers >= 1, "-w must be at least 1");
        anyhow::ensure!(self.processes >= 1, "-n must be at least 1");
        anyhow::ensure!(
            self.process < self.processes,
            "-p {} is not below -n {}",
            self.process,
            self.processes
        );
        if self.processes > 1 {
            return cluster::connect(&self.addresses()?, self.process, self.workers);
        }
        let communication = if self.workers > 1 {
            timely::CommunicationConfig::Process(self.workers)
        } else {
            timely::CommunicationConfig::Thread
        };
        communication
            .try_build()
            .map_err(|e| anyhow::anyhow!("starting timely: {e}"))
    }

    /// One `host:port` per process: the hostfile's lines, or `localhost:2101+i`.
    fn addresses(&self) -> anyhow::Result<Vec<String>> {
        let Some(path) = &self.hostfile else {
            return Ok((0..self.processes)
                .map(|i| format!("localhost:{}", 2101 + i))
                .collect());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading hostfile {}", path.display()))?;
        let lines: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(self.processes)
            .map(String::from)
            .collect();
        anyhow::ensure!(
            lines.len() == self.processes,
            "hostfile {} has {} addresses, -n is {}",
            path.display(),
            lines.len(),
            self.processes
        );
        Ok(lines)
    }
}

/// `caspers run` options.
#[derive(Debug, Clone, clap::Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Landing directory holding the event files (read recursively).
    #[arg(long)]
    pub input: PathBuf,
    /// Lake directory the tables are published into.
    #[arg(long)]
    pub lake: PathBuf,
    /// Keep polling the landing directory for new files instead of exiting after the replay.
    #[arg(long)]
    pub follow: bool,
    /// Polling interval in follow mode, milliseconds.
    #[arg(long, default_value_t = 500)]
    pub poll_ms: u64,
    /// Minimum interval between publishes in follow mode, milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub publish_ms: u64,
    /// An epoch ends after the file that brings it to this many events. Default 50000, or
    /// 20000 with --retain-days (days retire only as epochs complete, so large epochs let state
    /// pile up before it is retired).
    #[arg(long)]
    pub epoch_events: Option<usize>,
    /// In follow mode, exit once no new file arrived for this many milliseconds and everything
    /// read is published (for demos and tests; each worker decides on its own files).
    #[arg(long)]
    pub idle_exit_ms: Option<u64>,
    /// No progress bar and no summary on stdout.
    #[arg(long)]
    pub quiet: bool,
    /// Upsert recommendations and order events into this PostgreSQL database.
    #[arg(long)]
    pub pg: Option<String>,
    /// Keep retrying an unreachable Postgres this long before stopping the job, seconds.
    #[arg(long, default_value_t = 300)]
    pub pg_retry_secs: u64,
    /// Who writes `agent_response` in Postgres: the deterministic `policy` (default) or an
    /// OpenAI-compatible `llm` (needs --pg, --llm-url, --llm-model; key from CASPERS_LLM_API_KEY).
    /// The lake always keeps the policy's answer.
    #[arg(long, value_parser = ["policy", "llm"], default_value = "policy")]
    pub refund_agent: String,
    /// Chat-completions endpoint, e.g. http://127.0.0.1:8000/v1/chat/completions.
    #[arg(long)]
    pub llm_url: Option<String>,
    /// Model name sent to the endpoint.
    #[arg(long)]
    pub llm_model: Option<String>,
    /// LLM requests in flight per process.
    #[arg(long, default_value_t = 4)]
    pub llm_concurrency: usize,
    /// Also publish the dimension tables (brands, menus, categories, items) into the lake:
    /// `builtin` for the generator's catalog, or a directory in the original's parquet layout.
    #[arg(long)]
    pub catalog: Option<String>,
    /// Refund policy file (default: the built-in copy of `configs/refund_policy.json`).
    #[arg(long)]
    pub refund_policy: Option<PathBuf>,
    /// Deliveries at or after this time (`YYYY-MM-DD HH:MM:SS`, UTC) all get a recommendation;
    /// earlier ones are sampled. Default: the first run's start time, kept in
    /// `LAKE/_state/live_from.json` so a restart samples exactly as the first run did.
    #[arg(long)]
    pub live_from: Option<String>,
    /// Keep silver and gold state for this many days behind the latest event time only: older
    /// days are retired from memory after they were published, and the lake and Postgres keep
    /// them as published (see README, "Memory"). Off by default: every day stays exact.
    #[arg(long)]
    pub retain_days: Option<u32>,
    /// Do not write `all_events` (bronze): only silver, gold, refunds and dead letters. The
    /// landing directory stays the raw log either way; bronze is a Parquet copy of every record
    /// and a sixth to a fifth of a replay's CPU (see README, "The lake").
    #[arg(long)]
    pub no_bronze: bool,
    /// Records larger than this many bytes are dead-lettered (`too_large`); a file larger than
    /// this is read in chunks, so no record is ever held whole beyond it.
    #[arg(long, default_value_t = crate::source::DEFAULT_MAX_RECORD_BYTES)]
    pub max_record_bytes: usize,
    /// Timely cluster flags.
    #[command(flatten)]
    pub timely: TimelyArgs,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

impl RunArgs {
    /// Replay `input` into `lake` on one worker, with defaults otherwise.
    pub fn replay(input: impl Into<PathBuf>, lake: impl Into<PathBuf>) -> RunArgs {
        RunArgs {
            input: input.into(),
            lake: lake.into(),
            follow: false,
            poll_ms: 500,
            publish_ms: 1000,
            epoch_events: None,
            idle_exit_ms: None,
            quiet: true,
            refund_policy: None,
            live_from: None,
            retain_days: None,
            no_bronze: false,
            max_record_bytes: crate::source::DEFAULT_MAX_RECORD_BYTES,
            pg: None,
            pg_retry_secs: 300,
            refund_agent: "policy".into(),
            catalog: None,
            llm_url: None,
            llm_model: None,
            llm_concurrency: 4,
            timely: TimelyArgs {
                workers: 1,
                processes: 1,
                process: 0,
                hostfile: None,
            },
            help: None,
        }
    }
}

/// What a run did; printed at the end and written to `LAKE/_runs/<start>.json`.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RunSummary {
    /// Wall-clock start, UTC.
    pub started_at: String,
    /// Landing files read.
    pub files: i64,
    /// Well-formed events ingested.
    pub events: i64,
    /// Well-formed events by type.
    pub events_by_type: BTreeMap<String, i64>,
    /// Rejected records.
    pub dead_letters: i64,
    /// Rejected records by reason.
    pub dead_letters_by_reason: BTreeMap<String, i64>,
    /// Epochs of the busiest local worker.
    pub epochs: u64,
    /// Lake files written (this process).
    pub files_written: u64,
    /// Postgres rows upserted or deleted (this process).
    pub pg_rows_written: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Workers per process.
    pub workers: usize,
    /// Processes.
    pub processes: usize,
    /// `running` while the job runs, `finished` once it ended normally; a summary still
    /// `running` when the next job starts marks a run that crashed or was killed.
    pub status: String,
    /// Earlier runs on this lake that never finished (each one is a restart of this job).
    pub restarts_detected: usize,
    /// With `--retain-days`: events that arrived after their day was retired (they are in
    /// bronze, but change no view).
    pub late_beyond_retention: i64,
}

/// What each worker hands back when it finishes.
#[derive(Debug, Default)]
struct WorkerReport {
    stats: BTreeMap<String, i64>,
    epochs: u64,
    files_written: u64,
    pg_rows_written: u64,
}

/// Runs the job to completion (replay) or until idle/killed (follow).
pub fn run(args: &RunArgs) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    let started_at = format_timestamp(now_micros());
    anyhow::ensure!(
        args.input.is_dir(),
        "landing directory {} does not exist or is not a directory",
        args.input.display()
    );
    check_writable(&args.lake)?;
    // Connect to the other processes before anything slow, so peers are not kept waiting.
    let (allocators, network) = args.timely.build()?;
    let params = pipeline_params(args)?;
    if let Some(url) = &args.pg {
        crate::sink::postgres::prepare(url)?;
    }
    let agent = llm_agent(args)?;
    if let (Some(catalog), 0) = (&args.catalog, args.timely.process) {
        publish_dimensions(catalog, &args.lake)?;
    }
    let mut summary = RunSummary {
        started_at: started_at.clone(),
        workers: args.timely.workers,
        processes: args.timely.processes,
        status: "running".into(),
        ..RunSummary::default()
    };
    if args.timely.process == 0 {
        summary.restarts_detected = unfinished_runs(&args.lake);
        write_run_summary(&args.lake, &summary)?;
    }
    let ingested = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let progress = (!args.quiet && args.timely.process == 0).then(|| progress_bar(&ingested));

    let worker_args = args.clone();
    let counters = ingested.clone();
    let guards = timely::execute::execute_from(
        allocators,
        network,
        timely::WorkerConfig::default(),
        move |worker| {
            run_worker(worker, &worker_args, &params, agent.clone(), &counters)
                .map_err(|e| format!("{e:#}"))
        },
    )
    .map_err(|e| anyhow::anyhow!("starting timely: {e}"))?;
    let mut reports = Vec::new();
    for result in guards.join() {
        match result {
            Ok(Ok(report)) => reports.push(report),
            Ok(Err(message)) => anyhow::bail!("{message}"),
            Err(panic) => anyhow::bail!("a worker failed: {panic}"),
        }
    }
    if let Some((bar, stop)) = progress {
        stop.store(1, Ordering::Relaxed);
        let _ = bar.join();
    }

    summary.seconds = started.elapsed().as_secs_f64();
    for report in &reports {
        summary.epochs = summary.epochs.max(report.epochs);
        summary.files_written += report.files_written;
        summary.pg_rows_written += report.pg_rows_written;
        for (key, value) in &report.stats {
            if let Some(kind) = key.strip_prefix("events:") {
                summary.events += value;
                *summary.events_by_type.entry(kind.to_string()).or_insert(0) += value;
            } else if let Some(reason) = key.strip_prefix("dead_letters:") {
                summary.dead_letters += value;
                *summary
                    .dead_letters_by_reason
                    .entry(reason.to_string())
                    .or_insert(0) += value;
            } else if key == "files" {
                summary.files += value;
            } else if key == LATE_BEYOND_RETENTION {
                summary.late_beyond_retention += value;
            }
        }
    }
    summary.status = "finished".into();
    if args.timely.process == 0 {
        write_run_summary(&args.lake, &summary)?;
    }
    Ok(summary)
}

/// Earlier run summaries of this lake still marked `running`: runs that crashed or were killed.
/// They are marked `crashed` so the next run does not count them again.
fn unfinished_runs(lake: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(lake.join("_runs")) else {
        return 0;
    };
    let mut count = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if doc.get("status").and_then(|s| s.as_str()) == Some("running") {
            count += 1;
            doc["status"] = "crashed".into();
            if let Ok(text) = serde_json::to_string_pretty(&doc) {
                let _ = write_atomic(&path, text.as_bytes());
            }
        }
    }
    count
}

fn run_worker(
    worker: &mut timely::worker::Worker,
    args: &RunArgs,
    params: &PipelineParams,
    agent: Option<crate::refund::llm::LlmAgent>,
    ingested: &(AtomicU64, AtomicU64),
) -> anyhow::Result<WorkerReport> {
    let index = worker.index();
    let peers = worker.peers();
    let status = Rc::new(RefCell::new(SinkStatus::default()));
    let stats_out: Rc<RefCell<BTreeMap<String, i64>>> = Rc::default();
    let mut pg_writer: Option<PgWriter> = None;
    let policy = if args.follow {
        PublishPolicy::Every(Duration::from_millis(args.publish_ms))
    } else {
        PublishPolicy::AtEnd
    };
    let retention = args
        .retain_days
        .map(|days| Retention::new(days, params.refund_policy.window_hours));
    // What an epoch holds in flight sits on top of the whole state at the end of a replay,
    // where memory peaks: 50 000 rather than 100 000 peaked 30-50 MB lower (294 vs 325 MB for
    // a year of San Francisco at -w 2, 438-454 vs 488-492 MB for 5 M events) in the same time.
    let epoch_events =
        args.epoch_events
            .unwrap_or(if retention.is_some() { 20_000 } else { 50_000 });
    // The latest ingest time any worker announced (see `next_time`).
    let latest_time = Rc::new(Cell::new(0u64));

    let (mut events_in, mut stats_in, mut clock_in, probe) =
        worker.dataflow_named("caspers", |scope| {
            let (events_in, events) = scope.new_collection::<Event, isize>();
            let (stats_in, stats) = scope.new_collection::<String, isize>();
            let (clock_in, clock) = scope.new_input::<u64>();
            let latest = latest_time.clone();
            clock
                .broadcast()
                .sink(Pipeline, "ingest clock", move |(input, _frontier)| {
                    input.for_each(|_cap, times| {
                        for time in times.drain(..) {
                            latest.set(latest.get().max(time));
                        }
                    });
                });
            let views = caspers_dataflows::build_all_with(events, params.clone());
            let rows = views
                .orders
                .map(LakeRow::Silver)
                .concat(views.gold_order_header.map(LakeRow::OrderHeader))
                .concat(views.gold_item_sales_day.map(LakeRow::ItemSalesDay))
                .concat(views.gold_brand_sales_day.map(LakeRow::BrandSalesDay))
                .concat(
                    views
                        .gold_location_sales_hourly
                        .map(LakeRow::LocationSalesHourly),
                )
                .concat(
                    views
                        .refund_recommendations
                        .clone()
                        .map(|r| LakeRow::Refund(Box::new(r))),
                );
            if let Some(url) = &args.pg {
                let options = PgOptions {
                    url: url.clone(),
                    // Replay commits every epoch too: holding a whole replay's rows until the end
                    // costs gigabytes, and per-epoch commits are what a restart needs anyway.
                    interval: Some(if args.follow {
                        Duration::from_millis(args.publish_ms)
                    } else {
                        Duration::ZERO
                    }),
                    retry_for: Duration::from_secs(args.pg_retry_secs),
                    agent: agent.clone(),
                    retention,
                };
                let events = caspers_dataflows::bronze::dedup_for_order_events(
                    views.all_events.clone(),
                    |e| e.event_type != EventType::DriverPing,
                );
                let pg_rows = views
                    .refund_recommendations
                    .clone()
                    .map(PgRow::Recommendation)
                    .concat(events.map(PgRow::OrderEvent));
                pg_writer = Some(pg_sink(pg_rows, options));
            }
            let (probe, rows) = rows.probe();
            lake_sink(rows, args.lake.clone(), policy, retention, status.clone());
            let totals = stats_out.clone();
            stats.inner.sink(
                Exchange::new(|_: &(String, u64, isize)| 0),
                "run statistics",
                move |(input, _frontier)| {
                    input.for_each(|_cap, data| {
                        let mut totals = totals.borrow_mut();
                        for (key, _time, diff) in data.drain(..) {
                            *totals.entry(key).or_insert(0) += i64::try_from(diff).unwrap_or(0);
                        }
                    });
                },
            );
            (events_in, stats_in, clock_in, probe)
        });

    let poll = Duration::from_millis(args.poll_ms);
    let idle_exit = args.idle_exit_ms.map(Duration::from_millis);
    // What was ingested of each owned file, so a file that grows (an appending writer) gets its
    // new records ingested and its bronze and dead-letter files rewritten.
    let mut seen: BTreeMap<String, Ingested> = BTreeMap::new();
    let mut queue: VecDeque<LandingFile> = VecDeque::new();
    let mut staged_bronze: Vec<(u64, PathBuf, PathBuf)> = Vec::new();
    // One read buffer per worker: reallocating a fresh one per file costs page faults.
    let mut read_buf: Vec<u8> = Vec::new();
    // The inputs' time (see `next_time`), the epochs fed, and the last times for backpressure.
    let mut time: u64 = 0;
    let mut epochs: u64 = 0;
    let mut recent: VecDeque<u64> = VecDeque::new();
    let mut watermark: Day = Day::MIN;
    let mut last_scan: Option<Instant> = None;
    let mut last_new_file = Instant::now();

    loop {
        let mut scanned = false;
        if last_scan.is_none_or(|t| t.elapsed() >= poll) {
            let files = list_files(&args.input)
                .with_context(|| format!("listing {}", args.input.display()))?;
            for file in files {
                if owner(&file.rel, peers) != index {
                    continue;
                }
                let known = seen.get(&file.rel).map(|s| s.queued_len);
                if known.is_none_or(|len| file.len > len) {
                    seen.entry(file.rel.clone()).or_default().queued_len = file.len;
                    queue.push_back(file);
                    last_new_file = Instant::now();
                }
            }
            last_scan = Some(Instant::now());
            scanned = true;
        }

        if !queue.is_empty() {
            let mut events_in_epoch = 0usize;
            while let Some(file) = queue.pop_front() {
                let read = ingest_file(
                    &file,
                    &args.lake,
                    time,
                    Sinks {
                        events_in: &mut events_in,
                        stats_in: &mut stats_in,
                        staged_bronze: &mut staged_bronze,
                    },
                    Needs {
                        order_events: args.pg.is_some(),
                        bronze: !args.no_bronze,
                    },
                    retention.as_ref(),
                    args.max_record_bytes,
                    &mut read_buf,
                    seen.entry(file.rel.clone()).or_default(),
                )?;
                events_in_epoch += read.events;
                if let Some(ts) = read.max_ts {
                    watermark = watermark.max(Retention::watermark_day(ts, now_micros()));
                }
                ingested.0.fetch_add(1, Ordering::Relaxed);
                if events_in_epoch >= epoch_events {
                    break;
                }
            }
            ingested.1.fetch_add(
                u64::try_from(events_in_epoch).unwrap_or(0),
                Ordering::Relaxed,
            );
            epochs += 1;
            // Only an idle worker jumps to the others' time when days are retired by it: a
            // worker still reading older files keeps its own watermark, so its events are not
            // judged late against a faster peer's (the frontier waits for it instead).
            let latest = if retention.is_some() {
                0
            } else {
                latest_time.get()
            };
            time = next_time(time, retention.map(|_| watermark), latest);
            advance_inputs(&mut events_in, &mut stats_in, &mut clock_in, time);
            // A bounded number of epochs in flight (see `IN_FLIGHT`): the reader never runs far
            // ahead of the slowest worker.
            recent.push_back(time);
            if recent.len() > IN_FLIGHT {
                recent.pop_front();
            }
            if let (IN_FLIGHT, Some(&target)) = (recent.len(), recent.front()) {
                // Parked, not spinning, while a peer finishes: with two processes on two cores
                // a spinning worker takes the core its own network threads need.
                while probe.less_than(&target) {
                    worker.step_or_park(None);
                }
            }
        } else if !args.follow {
            break;
        } else {
            let caught_up = !probe.less_than(&time) && staged_bronze.is_empty();
            if idle_exit.is_some_and(|d| last_new_file.elapsed() >= d) && caught_up {
                break;
            }
            if scanned {
                // Idle workers follow the busiest one's time, so its epochs complete (and get
                // published) without waiting for this worker to count up to them.
                time = next_time(time, None, latest_time.get());
                advance_inputs(&mut events_in, &mut stats_in, &mut clock_in, time);
            }
            let wait = poll.saturating_sub(last_scan.map_or(Duration::ZERO, |t| t.elapsed()));
            worker.step_or_park(Some(wait));
        }

        if args.follow {
            let through = status.borrow().published_through;
            commit_bronze(&args.lake, &mut staged_bronze, through)?;
        }
        if let Some(err) = status.borrow().error.clone() {
            anyhow::bail!("publishing the lake failed: {err}");
        }
        if let Some(err) = pg_writer.as_ref().and_then(PgWriter::error) {
            anyhow::bail!("the Postgres sink failed: {err}");
        }
    }

    drop(events_in);
    drop(stats_in);
    drop(clock_in);
    while worker.step_or_park(None) {}
    if let Some(err) = status.borrow().error.clone() {
        anyhow::bail!("publishing the lake failed: {err}");
    }
    let pg_status = pg_writer.map(PgWriter::finish).unwrap_or_default();
    if let Some(err) = pg_status.error {
        anyhow::bail!("the Postgres sink failed: {err}");
    }
    commit_bronze(&args.lake, &mut staged_bronze, u64::MAX)?;
    let files_written = status.borrow().files_written;
    let pg_rows_written = pg_status.rows_written;
    let stats = std::mem::take(&mut *stats_out.borrow_mut());
    Ok(WorkerReport {
        stats,
        epochs,
        files_written,
        pg_rows_written,
    })
}

/// Epochs a worker may have fed that are not complete everywhere. Everything of an epoch in
/// flight is held at once (input buffers, batchers, pending sink rows), so this bounds memory:
/// a year of San Francisco with `-w 2` peaked at 1.14 GB with three, 1.02 GB with two and
/// 0.95 GB with one, in the same time with two or three; with one, a worker idles whenever
/// its peer's share of an epoch is larger (the 5 M-event set was slower).
const IN_FLIGHT: usize = 2;

/// The inputs' next time: past the current one, at least the latest any worker announced, and
/// with retention at least the watermark's day (see [`retention`]).
fn next_time(time: u64, watermark: Option<Day>, latest: u64) -> u64 {
    let day = watermark.map_or(0, Retention::time_of_day);
    (time + 1).max(day).max(latest)
}

/// Moves every input to `time` and announces it to the other workers.
fn advance_inputs(
    events_in: &mut differential_dataflow::input::InputSession<u64, Event, isize>,
    stats_in: &mut differential_dataflow::input::InputSession<u64, String, isize>,
    clock_in: &mut timely::dataflow::InputHandle<u64, CapacityContainerBuilder<Vec<u64>>>,
    time: u64,
) {
    clock_in.send(time);
    clock_in.advance_to(time);
    events_in.advance_to(time);
    stats_in.advance_to(time);
    events_in.flush();
    stats_in.flush();
    clock_in.flush();
}

/// Statistics key of events that arrived after their day was retired.
const LATE_BEYOND_RETENTION: &str = "late_beyond_retention";

/// Whether the views (or, with `with_order_events`, the Postgres sink) read this event type.
pub fn dataflow_needs(event_type: EventType, with_order_events: bool) -> bool {
    matches!(event_type, EventType::OrderCreated | EventType::Delivered)
        || (with_order_events && event_type != EventType::DriverPing)
}

/// What has been ingested of one landing file.
#[derive(Debug, Default)]
struct Ingested {
    /// Size when last queued.
    queued_len: u64,
    /// Events already fed to the dataflow (a grown file's first events are these again).
    events: usize,
    /// Dead letters counted so far, by reason.
    dead: BTreeMap<String, isize>,
    /// Whether the file has been read before.
    read: bool,
}

/// Where [`ingest_file`] puts what it read.
struct Sinks<'a> {
    events_in: &'a mut differential_dataflow::input::InputSession<u64, Event, isize>,
    stats_in: &'a mut differential_dataflow::input::InputSession<u64, String, isize>,
    staged_bronze: &'a mut Vec<(u64, PathBuf, PathBuf)>,
}

/// What [`ingest_file`] read: new events and the latest event time among them.
#[derive(Debug, Default)]
struct Read {
    events: usize,
    max_ts: Option<i64>,
}

/// What [`ingest_file`] keeps of a file besides the events the views read.
#[derive(Clone, Copy, Debug)]
struct Needs {
    /// The Postgres sink's `order_events` (every type but pings become owned events).
    order_events: bool,
    /// The bronze file (else only each record's type and time are kept, for the counters).
    bronze: bool,
}

/// What [`ingest_file`] reads a file into: its bronze columns, and owned events only for the
/// records the dataflow reads that were not ingested before (a grown file's first records were).
struct FileEvents {
    bronze: parquet::BronzeColumns,
    /// Records of this file already fed to the dataflow.
    skip: usize,
    with_order_events: bool,
    /// (record index, event), in file order.
    needed: Vec<(usize, Event)>,
}

impl crate::source::EventSink for FileEvents {
    fn push(&mut self, event: crate::source::EventRef<'_>) {
        let index = self.bronze.len();
        self.bronze.push(&event);
        if index >= self.skip && dataflow_needs(event.event_type, self.with_order_events) {
            self.needed.push((index, event.into_event()));
        }
    }

    fn len(&self) -> usize {
        self.bronze.len()
    }

    fn truncate(&mut self, len: usize) {
        self.bronze.truncate(len);
        self.needed.retain(|(index, _)| *index < len);
    }
}

/// Reads and parses one landing file, inserts its events at the input's current time (with
/// retention, also each one's retraction), writes its dead letters, and stages its bronze file.
#[allow(clippy::too_many_arguments)]
fn ingest_file(
    file: &LandingFile,
    lake: &Path,
    time: u64,
    sinks: Sinks<'_>,
    needs: Needs,
    retention: Option<&Retention>,
    max_record_bytes: usize,
    buf: &mut Vec<u8>,
    before: &mut Ingested,
) -> anyhow::Result<Read> {
    let Sinks {
        events_in,
        stats_in,
        staged_bronze,
    } = sinks;
    let into = FileEvents {
        bronze: if needs.bronze {
            parquet::BronzeColumns::for_file(file.len)
        } else {
            parquet::BronzeColumns::tally()
        },
        skip: before.events,
        with_order_events: needs.order_events,
        needed: Vec::new(),
    };
    let parsed =
        match crate::source::parse_file_into(&file.path, &file.rel, max_record_bytes, buf, into) {
            Ok(parsed) => parsed,
            // Removed after it was listed: nothing to ingest, and not an error of the job.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Read::default()),
            Err(e) => {
                let letter = DeadLetter {
                    reason: "unreadable_file".into(),
                    detail: format!("reading the file failed: {e}"),
                    source_file: file.rel.clone(),
                    position: "file".into(),
                    raw: String::new(),
                };
                write_dead_letters(lake, &file.rel, &[letter])?;
                stats_in.update("dead_letters:unreadable_file".into(), 1);
                return Ok(Read::default());
            }
        };
    if !before.read {
        stats_in.update("files".into(), 1);
        before.read = true;
    }
    // Counts follow the latest parse: a grown file's old `truncated` tail, say, is retracted.
    let mut dead: BTreeMap<String, isize> = BTreeMap::new();
    for letter in &parsed.dead_letters {
        *dead.entry(letter.reason.clone()).or_insert(0) += 1;
    }
    let reasons: BTreeSet<String> = dead.keys().chain(before.dead.keys()).cloned().collect();
    for reason in reasons {
        let delta = dead.get(&reason).copied().unwrap_or(0)
            - before.dead.get(&reason).copied().unwrap_or(0);
        if delta != 0 {
            stats_in.update(format!("dead_letters:{reason}"), delta);
        }
    }
    if !parsed.dead_letters.is_empty() || !before.dead.is_empty() {
        write_dead_letters(lake, &file.rel, &parsed.dead_letters)?;
    }
    before.dead = dead;
    let FileEvents { bronze, needed, .. } = parsed.events;
    // Landing files are append-only: the records already ingested are the file's first ones.
    let total = bronze.len();
    let skip = before.events.min(total);
    let count = total - skip;
    let mut max_ts = None;
    if count > 0 {
        let mut by_type = [0isize; EventType::ALL.len()];
        for t in &bronze.event_types()[skip..] {
            by_type[*t as usize] += 1;
        }
        for (t, n) in EventType::ALL.iter().zip(by_type) {
            if n != 0 {
                stats_in.update(format!("events:{}", t.as_str()), n);
            }
        }
        max_ts = bronze.event_times()[skip..].iter().copied().max();
        if needs.bronze {
            let path = lake.join("all_events").join(bronze_file_name(&file.rel));
            // A grown file restaged before its earlier version was committed supersedes it
            // (both use the same temp name).
            staged_bronze.retain(|(_, _, staged)| *staged != path);
            let tmp = bronze.stage(&path)?;
            staged_bronze.push((time, tmp, path));
        }
        before.events = total;
        // Bronze is written above, straight from the file; the views only read order_created
        // and delivered (plus every non-ping type for the Postgres order_events table), so the
        // rest never became an owned event.
        let mut late = 0;
        for (_, event) in needed {
            match retention.map(|r| r.expiry(day_of(event.ts))) {
                None => events_in.insert(event),
                Some(expiry) if expiry > time => {
                    events_in.update_at(event.clone(), expiry, -1);
                    events_in.insert(event);
                }
                Some(_) => late += 1,
            }
        }
        if late > 0 {
            stats_in.update(LATE_BEYOND_RETENTION.into(), late);
        }
    }
    Ok(Read {
        events: count,
        max_ts,
    })
}

/// The bronze file of a landing file: its relative path flattened, plus `.parquet`.
pub fn bronze_file_name(rel: &str) -> String {
    format!("{}.parquet", rel.replace('/', "__"))
}

fn commit_bronze(
    lake: &Path,
    staged: &mut Vec<(u64, PathBuf, PathBuf)>,
    through: u64,
) -> anyhow::Result<()> {
    if !staged.iter().any(|(epoch, _, _)| *epoch < through) {
        return Ok(());
    }
    parquet::sync_filesystem(lake)?;
    let mut keep = Vec::new();
    for (epoch, tmp, path) in staged.drain(..) {
        if epoch < through {
            parquet::commit_staged(&tmp, &path)?;
        } else {
            keep.push((epoch, tmp, path));
        }
    }
    *staged = keep;
    parquet::sync_filesystem(lake)?;
    Ok(())
}

/// Writes the dead letters of one landing file as JSON Lines, atomically.
fn write_dead_letters(lake: &Path, rel: &str, letters: &[DeadLetter]) -> anyhow::Result<()> {
    let dir = lake.join("_dead_letter");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut text = String::new();
    for letter in letters {
        text.push_str(&serde_json::to_string(letter)?);
        text.push('\n');
    }
    let name = format!("{}.jsonl", rel.replace('/', "__"));
    write_atomic(&dir.join(name), text.as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = parquet::staged_name(path);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// Publishes the catalog as the lake's dimension tables, `LAKE/<table>/part-00000.parquet`.
pub fn publish_dimensions(catalog: &str, lake: &Path) -> anyhow::Result<()> {
    use crate::generator::Catalog;
    let catalog = if catalog == "builtin" {
        Catalog::builtin()
    } else {
        Catalog::load_parquet_dir(Path::new(catalog))?
    };
    let staging = lake.join(".dimensions");
    crate::generator::write_dimension_tables(&catalog, &staging)?;
    parquet::sync_filesystem(&staging)?;
    for table in ["brands", "menus", "categories", "items"] {
        let dir = lake.join(table);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let from = staging.join(format!("{table}.parquet"));
        parquet::commit_staged(&from, &dir.join("part-00000.parquet"))?;
    }
    let _ = std::fs::remove_dir_all(&staging);
    parquet::sync_filesystem(lake)?;
    Ok(())
}

/// The LLM agent `--refund-agent llm` asks for, if any.
fn llm_agent(args: &RunArgs) -> anyhow::Result<Option<crate::refund::llm::LlmAgent>> {
    if args.refund_agent != "llm" {
        return Ok(None);
    }
    anyhow::ensure!(
        args.pg.is_some(),
        "--refund-agent llm writes to Postgres: add --pg URL"
    );
    let url = args
        .llm_url
        .clone()
        .context("--refund-agent llm needs --llm-url")?;
    let model = args
        .llm_model
        .clone()
        .context("--refund-agent llm needs --llm-model")?;
    let mut config = crate::refund::llm::LlmConfig::new(url, model);
    config.api_key = std::env::var("CASPERS_LLM_API_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    config.concurrency = args.llm_concurrency;
    Ok(Some(crate::refund::llm::LlmAgent::new(config)?))
}

/// The built-in refund policy (`configs/refund_policy.json`).
pub const DEFAULT_REFUND_POLICY: &str = include_str!("../configs/refund_policy.json");

/// Loads the refund policy and settles `live_from` (see [`RunArgs::live_from`]).
pub fn pipeline_params(args: &RunArgs) -> anyhow::Result<PipelineParams> {
    let text = match &args.refund_policy {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the refund policy {}", path.display()))?,
        None => DEFAULT_REFUND_POLICY.to_string(),
    };
    let refund_policy: RefundPolicy =
        serde_json::from_str(&text).context("parsing the refund policy")?;
    let state = args.lake.join("_state").join("live_from.json");
    let live_from = if let Some(text) = &args.live_from {
        parse_timestamp(text).with_context(|| format!("--live-from {text:?} is not a timestamp"))?
    } else if args.timely.process == 0 {
        match read_live_from(&state) {
            Some(ts) => ts,
            None => {
                let now = now_micros();
                std::fs::create_dir_all(state.parent().unwrap_or(&args.lake))?;
                write_atomic(
                    &state,
                    format!("{{\"live_from\": \"{}\"}}\n", format_timestamp(now)).as_bytes(),
                )?;
                now
            }
        }
    } else {
        // Every process must sample alike: wait for process 0 to settle the value.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(ts) = read_live_from(&state) {
                break ts;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "process 0 did not write {} within 60 s; pass --live-from to every process",
                state.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    Ok(PipelineParams {
        refund_policy,
        live_from,
    })
}

fn read_live_from(path: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(path).ok()?;
    let doc: BTreeMap<String, String> = serde_json::from_str(&text).ok()?;
    parse_timestamp(doc.get("live_from")?)
}

fn check_writable(lake: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(lake)
        .with_context(|| format!("creating the lake directory {}", lake.display()))?;
    let probe = lake.join(".caspers-write-check");
    std::fs::write(&probe, b"ok")
        .with_context(|| format!("the lake directory {} is not writable", lake.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn write_run_summary(lake: &Path, summary: &RunSummary) -> anyhow::Result<()> {
    let dir = lake.join("_runs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stamp: String = summary
        .started_at
        .chars()
        .map(|c| if c.is_ascii_digit() { c } else { '-' })
        .collect();
    write_atomic(
        &dir.join(format!("{stamp}.json")),
        serde_json::to_string_pretty(summary)?.as_bytes(),
    )
}

/// Wall-clock now, µs since the Unix epoch; used for run metadata only, never inside views.
pub fn now_micros() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
}

type ProgressThread = (std::thread::JoinHandle<()>, Arc<AtomicU64>);

fn progress_bar(ingested: &Arc<(AtomicU64, AtomicU64)>) -> ProgressThread {
    let counters = ingested.clone();
    let stop = Arc::new(AtomicU64::new(0));
    let stopped = stop.clone();
    let handle = std::thread::spawn(move || {
        let bar = indicatif::ProgressBar::new_spinner();
        let started = Instant::now();
        while stopped.load(Ordering::Relaxed) == 0 {
            let files = counters.0.load(Ordering::Relaxed);
            let events = counters.1.load(Ordering::Relaxed);
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            #[allow(clippy::cast_precision_loss, clippy::as_conversions)]
            let rate = events as f64 / secs;
            bar.set_message(format!(
                "{files} files, {events} events, {rate:.0} events/s"
            ));
            bar.tick();
            std::thread::sleep(Duration::from_millis(100));
        }
        bar.finish_and_clear();
    });
    (handle, stop)
}
