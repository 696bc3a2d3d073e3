//! The results table: one row per measurement, the ratios against the targets of issue 6, the
//! DuckDB cross-check verdicts, and the dated block appended to `bench/RESULTS.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

use crate::datasets::Dataset;
use crate::follow::Follow;
use crate::inmem::{Latency, Throughput};
use crate::measure::{self, Machine};
use crate::replay::{Duck, Mode, Replay};

/// What a row measured (for the ratios).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `caspers run` replay in a mode.
    Replay(Mode),
    /// DuckDB in a layout.
    Duck(String),
    /// Anything else.
    Other,
}

/// One line of the table; absent figures print as `—`.
#[derive(Clone, Debug)]
pub struct Row {
    kind: Kind,
    dataset: String,
    measurement: String,
    setup: String,
    events: Option<u64>,
    wall: Option<f64>,
    cpu: Option<f64>,
    rate: Option<f64>,
    mb_per_s: Option<f64>,
    rss: Option<u64>,
    /// p50, p99, p99.9, max in milliseconds.
    percentiles: Option<[f64; 4]>,
    note: String,
}

#[allow(clippy::cast_precision_loss, clippy::as_conversions)]
fn f(x: u64) -> f64 {
    x as f64
}

fn percentiles(h: &Histogram<u64>) -> [f64; 4] {
    let ms = |v: u64| f(v) / 1000.0;
    [
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max()),
    ]
}

fn json_u64(v: &serde_json::Value, key: &str) -> u64 {
    v.get(key).and_then(serde_json::Value::as_u64).unwrap_or(0)
}

impl Row {
    fn empty(kind: Kind, dataset: &str, measurement: &str, setup: String) -> Row {
        Row {
            kind,
            dataset: dataset.to_string(),
            measurement: measurement.to_string(),
            setup,
            events: None,
            wall: None,
            cpu: None,
            rate: None,
            mb_per_s: None,
            rss: None,
            percentiles: None,
            note: String::new(),
        }
    }

    /// A row that only says something (a part that could not run).
    pub fn note(measurement: &str, note: &str) -> Row {
        let mut row = Row::empty(Kind::Other, "", measurement, String::new());
        row.note = note.to_string();
        row
    }

    /// A `caspers run` replay.
    pub fn replay(dataset: &Dataset, mode: Mode, r: &Replay) -> Row {
        let events = json_u64(&r.summary, "events");
        let mut row = Row::empty(
            Kind::Replay(mode),
            dataset.spec.name,
            "replay (caspers run)",
            format!("{}, {}", dataset.spec.name, mode.label()),
        );
        row.events = Some(events);
        row.wall = Some(r.cost.wall);
        row.cpu = Some(r.cost.cpu);
        row.rate = Some(f(events) / r.cost.wall);
        row.mb_per_s = Some(f(dataset.manifest.bytes) / 1e6 / r.cost.wall);
        row.rss = Some(r.cost.peak_rss);
        if let Mode::Processes(_) = mode {
            row.note = format!("RSS: peak of one process; sum {}", mb(r.rss_sum));
        }
        if events != dataset.manifest.events {
            row.note.push_str(&format!(
                " ingested {events} ≠ generated {}",
                dataset.manifest.events
            ));
        }
        row
    }

    /// Notes the wall times of every run when the row is the fastest of several.
    pub fn with_runs(mut self, walls: &[f64]) -> Row {
        if walls.len() > 1 {
            let list: Vec<String> = walls.iter().map(|w| format!("{w:.2}")).collect();
            let sep = if self.note.is_empty() { "" } else { "; " };
            self.note = format!(
                "{}{sep}fastest of {} runs (wall s: {})",
                self.note,
                walls.len(),
                list.join(", ")
            );
        }
        self
    }

    /// A DuckDB baseline run.
    pub fn duckdb(dataset: &Dataset, layout: &str, d: &Duck) -> Row {
        let events = dataset.manifest.events;
        let mut row = Row::empty(
            Kind::Duck(layout.to_string()),
            dataset.spec.name,
            "DuckDB five tables",
            format!("{}, {layout} layout", dataset.spec.name),
        );
        row.events = Some(events);
        row.wall = Some(d.cost.wall);
        row.cpu = Some(d.cost.cpu);
        row.rate = Some(f(events) / d.cost.wall);
        row.mb_per_s = Some(f(dataset.manifest.bytes) / 1e6 / d.cost.wall);
        row.rss = Some(d.cost.peak_rss);
        let sql = d
            .report
            .get("seconds")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0);
        let threads = d
            .report
            .get("threads")
            .map(ToString::to_string)
            .unwrap_or_default();
        row.note = format!("SQL {sql:.2} s, threads {threads}");
        row
    }

    /// The Postgres sink: the same replay without and with `--pg`.
    pub fn postgres(dataset: &Dataset, mode: Mode, without: &Replay, with: &Replay) -> Row {
        let rows = json_u64(&with.summary, "pg_rows_written");
        let extra = (with.cost.wall - without.cost.wall).max(1e-3);
        let mut row = Row::empty(
            Kind::Other,
            dataset.spec.name,
            "Postgres sink (caspers run --pg)",
            format!("{}, {}", dataset.spec.name, mode.label()),
        );
        row.events = Some(json_u64(&with.summary, "events"));
        row.wall = Some(with.cost.wall);
        row.cpu = Some(with.cost.cpu);
        row.rss = Some(with.cost.peak_rss);
        row.note = format!(
            "{rows} rows upserted; {:.0} rows/s over the run; +{extra:.2} s vs without --pg ({:.2} s) = {:.0} upserts/s",
            f(rows) / with.cost.wall,
            without.cost.wall,
            f(rows) / extra
        );
        row.rate = Some(f(json_u64(&with.summary, "events")) / with.cost.wall);
        row
    }

    /// In-memory dataflow throughput.
    pub fn memory(dataset: &str, workers: usize, epoch: usize, t: &Throughput) -> Row {
        let mut row = Row::empty(
            Kind::Other,
            dataset,
            "in-memory dataflow",
            format!("{workers} worker(s), epochs of {epoch}"),
        );
        let events = u64::try_from(t.events).unwrap_or(0);
        row.events = Some(events);
        row.wall = Some(t.seconds);
        row.cpu = Some(t.cpu);
        row.rate = Some(f(events) / t.seconds);
        row.note = format!(
            "{:.0} events/s per worker; first {} events of {dataset}",
            f(events) / t.seconds / f(u64::try_from(workers).unwrap_or(1)),
            t.events
        );
        row
    }

    /// Incremental latency in memory.
    pub fn latency(dataset: &str, workers: usize, l: &Latency) -> Row {
        let mut row = Row::empty(
            Kind::Other,
            dataset,
            "latency: epoch in → all views probed",
            format!("{workers} worker(s), epochs of {} after {dataset}", l.batch),
        );
        let history = u64::try_from(l.history).unwrap_or(0);
        row.events = Some(history);
        row.wall = Some(l.history_seconds);
        row.rate = Some(f(history) / l.history_seconds);
        row.percentiles = Some(percentiles(&l.histogram));
        row.note = format!(
            "{} epochs measured; events/s is the history load (epochs of 100k)",
            l.histogram.len()
        );
        row
    }

    /// File landed → snapshot published in follow mode.
    pub fn follow(dataset: &str, workers: usize, fo: &Follow) -> Row {
        let mut row = Row::empty(
            Kind::Other,
            dataset,
            "latency: file landed → published (--follow)",
            format!(
                "-w {workers}, --poll-ms 20 --publish-ms 0, files of {} after {dataset}",
                fo.batch
            ),
        );
        row.events = Some(fo.history_events);
        row.wall = Some(fo.history_seconds);
        row.rate = Some(f(fo.history_events) / fo.history_seconds);
        row.rss = (fo.peak_rss > 0).then_some(fo.peak_rss);
        row.percentiles = Some(percentiles(&fo.histogram));
        row.note = format!(
            "{} files measured; events/s is catching up with the history (publishing as it goes)",
            fo.histogram.len()
        );
        row
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", f(bytes) / 1e6)
}

fn opt<T>(v: Option<T>, fmt: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "—".to_string(), fmt)
}

/// The filesystem type `path` lives on (from `/proc/mounts`).
pub fn fs_kind(path: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let text = path.display().to_string();
    mounts
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (_dev, point, kind) = (parts.next()?, parts.next()?, parts.next()?);
            let inside = text == point
                || point == "/"
                || text.starts_with(&format!("{}/", point.trim_end_matches('/')));
            inside.then(|| (point.len(), kind.to_string()))
        })
        .max()
        .map_or_else(|| "?".into(), |(_, kind)| kind)
}

/// Everything one run measured.
pub struct Report {
    started_at: String,
    revision: String,
    machine: Machine,
    load_start: String,
    load_end: String,
    command: String,
    lakes: String,
    datasets: Vec<String>,
    rows: Vec<Row>,
    checks: Vec<String>,
    seconds: f64,
}

impl Report {
    /// Starts a report (records the machine, time, revision and load now).
    pub fn new(root: &Path, argv: &[String], lake_root: &Path) -> Report {
        let args: Vec<&str> = argv
            .iter()
            .skip(1)
            .map(String::as_str)
            .filter(|a| *a != "--bench")
            .collect();
        Report {
            started_at: measure::utc_now(),
            revision: measure::git_revision(root),
            machine: measure::machine(),
            load_start: measure::load_average(),
            load_end: String::new(),
            command: format!("cargo bench --bench throughput -- {}", args.join(" "))
                .trim_end_matches(" -- ")
                .to_string(),
            lakes: format!("{} ({})", lake_root.display(), fs_kind(lake_root)),
            datasets: Vec::new(),
            rows: Vec::new(),
            checks: Vec::new(),
            seconds: 0.0,
        }
    }

    /// Records a dataset used (once).
    pub fn dataset(&mut self, d: &Dataset) {
        let line = format!(
            "`{}`: {} — {} orders, {} events, {} files, {:.2} GB{}",
            d.spec.name,
            d.spec.description,
            d.manifest.orders,
            d.manifest.events,
            d.manifest.files,
            f(d.manifest.bytes) / 1e9,
            if d.generated_now {
                format!(", generated in {:.1} s", d.manifest.generate_seconds)
            } else {
                String::new()
            }
        );
        if !self
            .datasets
            .iter()
            .any(|l| l.starts_with(&format!("`{}`", d.spec.name)))
        {
            self.datasets.push(line);
        }
    }

    /// Adds a row and echoes it on stderr.
    pub fn push(&mut self, row: Row) {
        eprintln!(
            "bench:   {} | {} | {} events/s | {} s | {}",
            row.measurement,
            row.setup,
            opt(row.rate, |r| format!("{r:.0}")),
            opt(row.wall, |w| format!("{w:.2}")),
            row.note
        );
        self.rows.push(row);
    }

    /// Records a DuckDB-versus-lake verdict.
    pub fn check(&mut self, dataset: &str, layout: &str, verdict: &serde_json::Value) {
        let ok = verdict.get("ok").and_then(serde_json::Value::as_bool) == Some(true);
        let mut parts = Vec::new();
        if let Some(tables) = verdict.get("tables").and_then(serde_json::Value::as_object) {
            for (name, t) in tables {
                let good = t.get("ok").and_then(serde_json::Value::as_bool) == Some(true);
                let rows = json_u64(t, "caspers_rows");
                let mut part = format!("{name} {rows} rows {}", if good { "=" } else { "≠" });
                if !good {
                    let _ = write!(part, " ({t})");
                }
                parts.push(part);
            }
        }
        self.checks.push(format!(
            "{} {dataset} (DuckDB {layout} vs caspers lake): {}",
            if ok { "PASS" } else { "FAIL" },
            parts.join("; ")
        ));
    }

    /// Closes the report.
    pub fn finish(&mut self, seconds: f64) {
        self.seconds = seconds;
        self.load_end = measure::load_average();
    }

    fn find(&self, dataset: &str, kind: &Kind) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.dataset == dataset && &r.kind == kind)
    }

    /// The measured ratios against issue 6's targets.
    fn ratios(&self) -> Vec<String> {
        let mut out = Vec::new();
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        let mut datasets: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !datasets.contains(&row.dataset.as_str()) {
                datasets.push(&row.dataset);
            }
        }
        for dataset in &datasets {
            let duck = self.find(dataset, &Kind::Duck("flat".into()));
            let ours = self
                .find(dataset, &Kind::Replay(Mode::Workers(2)))
                .or_else(|| self.find(dataset, &Kind::Replay(Mode::Workers(1))));
            if let (Some(d), Some(o)) = (duck, ours) {
                if let (Some(a), Some(b)) = (o.rate, d.rate) {
                    let r = a / b;
                    out.push(format!(
                        "replay ÷ DuckDB events/s, {dataset} ({}): {r:.2}× (target ≥ 2×: {}); events per CPU-second {:.2}×",
                        o.setup,
                        verdict(r >= 2.0),
                        d.cpu.unwrap_or(0.0) / o.cpu.unwrap_or(1.0).max(1e-9)
                    ));
                }
                if let (Some(a), Some(b)) = (o.rss, d.rss) {
                    let r = f(a) / f(b);
                    out.push(format!(
                        "peak RSS ÷ DuckDB's, {dataset}: {} vs {} = {r:.2}× (target ≤ 1×{}: {})",
                        mb(a),
                        mb(b),
                        if dataset.contains("5m") {
                            ", at 5M events"
                        } else {
                            ""
                        },
                        verdict(r <= 1.0)
                    ));
                }
            }
            // Like for like: without bronze, caspers publishes DuckDB's five tables (plus
            // refunds); the targets above are for the whole job, bronze included.
            let lean = self.find(dataset, &Kind::Replay(Mode::WorkersNoBronze(2)));
            if let (Some(d), Some(o)) = (duck, lean) {
                if let (Some(a), Some(b), Some(ra), Some(rb)) = (o.rate, d.rate, o.rss, d.rss) {
                    let r = a / b;
                    out.push(format!(
                        "the same tables as DuckDB (--no-bronze), {dataset}: events/s {r:.2}× (target ≥ 2×: {}), peak RSS {:.2}× (target ≤ 1×: {})",
                        verdict(r >= 2.0),
                        f(ra) / f(rb),
                        verdict(ra <= rb)
                    ));
                }
            }
            // Context, not a target: DuckDB writing the lake's own layout (Hive partitions, one
            // file per hour of `gold_location_sales_hourly`), as caspers does. The targets
            // above stay against the flat layout, DuckDB's fastest.
            let hive = self.find(dataset, &Kind::Duck("hive".into()));
            if let (Some(d), Some(o)) = (hive, ours) {
                if let (Some(a), Some(b), Some(ra), Some(rb)) = (o.rate, d.rate, o.rss, d.rss) {
                    out.push(format!(
                        "for context, against DuckDB writing the same Hive layout as the lake, {dataset}: events/s {:.2}×, peak RSS {:.2}× (no target)",
                        a / b,
                        f(ra) / f(rb)
                    ));
                }
            }
            let w2 = self.find(dataset, &Kind::Replay(Mode::Workers(2)));
            let p2 = self.find(dataset, &Kind::Replay(Mode::Processes(2)));
            if let (Some(a), Some(b)) = (p2.and_then(|r| r.wall), w2.and_then(|r| r.wall)) {
                let r = a / b;
                out.push(format!(
                    "2 processes × 1 worker ÷ 1 × 2 workers, wall time, {dataset}: {r:.2}× (target ≤ 1.20×: {})",
                    verdict(r <= 1.2)
                ));
            }
        }
        for row in &self.rows {
            if row.measurement.starts_with("latency: epoch") {
                if let Some(p) = row.percentiles {
                    out.push(format!(
                        "incremental p99 after {}: {:.2} ms (target ≤ 10 ms: {})",
                        row.dataset,
                        p[1],
                        verdict(p[1] <= 10.0)
                    ));
                }
            }
        }
        out
    }

    /// The table, the ratios and the checks, as Markdown.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n| measurement | setup | events | wall s | CPU s | events/s | MB/s | peak RSS | p50 / p99 / p99.9 / max ms | note |"
        );
        let _ = writeln!(s, "|---|---|--:|--:|--:|--:|--:|--:|--:|---|");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.measurement,
                r.setup,
                opt(r.events, |e| e.to_string()),
                opt(r.wall, |w| format!("{w:.2}")),
                opt(r.cpu, |c| format!("{c:.1}")),
                opt(r.rate, |x| format!("{x:.0}")),
                opt(r.mb_per_s, |x| format!("{x:.1}")),
                opt(r.rss, mb),
                opt(r.percentiles, |p| format!(
                    "{:.2} / {:.2} / {:.2} / {:.2}",
                    p[0], p[1], p[2], p[3]
                )),
                r.note
            );
        }
        let ratios = self.ratios();
        if !ratios.is_empty() {
            let _ = writeln!(s, "\nRatios (this run, same files and cores):");
            for line in ratios {
                let _ = writeln!(s, "- {line}");
            }
        }
        if !self.checks.is_empty() {
            let _ = writeln!(s, "\nCross-check, DuckDB's tables vs caspers' lake:");
            for line in &self.checks {
                let _ = writeln!(s, "- {line}");
            }
        }
        s
    }

    /// The table as CSV.
    pub fn csv(&self) -> String {
        let mut s = String::from(
            "measurement,setup,events,wall_s,cpu_s,events_per_s,mb_per_s,peak_rss_bytes,p50_ms,p99_ms,p999_ms,max_ms,note\n",
        );
        let q = |t: &str| format!("\"{}\"", t.replace('"', "\"\""));
        for r in &self.rows {
            let p = r.percentiles.map(|p| p.map(|x| format!("{x:.3}")));
            let pick = |i: usize| p.as_ref().map(|p| p[i].clone()).unwrap_or_default();
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{},{},{}",
                q(&r.measurement),
                q(&r.setup),
                r.events.map(|e| e.to_string()).unwrap_or_default(),
                r.wall.map(|w| format!("{w:.3}")).unwrap_or_default(),
                r.cpu.map(|w| format!("{w:.3}")).unwrap_or_default(),
                r.rate.map(|w| format!("{w:.0}")).unwrap_or_default(),
                r.mb_per_s.map(|w| format!("{w:.2}")).unwrap_or_default(),
                r.rss.map(|w| w.to_string()).unwrap_or_default(),
                pick(0),
                pick(1),
                pick(2),
                pick(3),
                q(&r.note)
            );
        }
        s
    }

    /// Appends the dated block to the results file.
    pub fn append_to(&self, path: &PathBuf) -> anyhow::Result<()> {
        use std::io::Write;
        let m = &self.machine;
        let mut block = format!(
            "\n### {} UTC — {}\n\n- command: `{}` ({:.0} s in all)\n- machine: {} × {}, {:.1} GiB; load average {} at start, {} at end (shared with other jobs)\n- lakes and DuckDB outputs on {}\n",
            self.started_at,
            self.revision,
            self.command,
            self.seconds,
            m.cores,
            m.cpu,
            f(m.memory) / f(1 << 30),
            self.load_start,
            self.load_end,
            self.lakes
        );
        for d in &self.datasets {
            let _ = writeln!(block, "- {d}");
        }
        block.push_str(&self.render());
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        file.write_all(block.as_bytes())?;
        Ok(())
    }
}
