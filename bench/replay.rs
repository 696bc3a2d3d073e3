//! End-to-end subprocess measurements: `caspers run` replays (one process with `-w 1`/`-w 2`,
//! or several processes through `scripts/cluster.sh`), the DuckDB baseline and cross-check
//! (`scripts/bench-duckdb.sh`), and the Postgres sink (`scripts/pg.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;

use crate::measure::{remove_dir, run_measured, Cost};

/// How `caspers run` is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One process with this many workers.
    Workers(usize),
    /// This many processes with one worker each, through `scripts/cluster.sh`.
    Processes(usize),
    /// One process with this many workers and `--no-bronze`: the tables DuckDB computes
    /// (plus refunds), without the Parquet copy of every record it does not write.
    WorkersNoBronze(usize),
}

impl Mode {
    /// Parses `w1`, `w2`, `p2`, `w2-nobronze`, ….
    pub fn parse(text: &str) -> anyhow::Result<Mode> {
        let n = |s: &str| s.parse::<usize>().ok().filter(|n| *n >= 1);
        let (base, no_bronze) = match text.strip_suffix("-nobronze") {
            Some(base) => (base, true),
            None => (text, false),
        };
        match (base.get(..1), base.get(1..).and_then(n), no_bronze) {
            (Some("w"), Some(n), false) => Ok(Mode::Workers(n)),
            (Some("w"), Some(n), true) => Ok(Mode::WorkersNoBronze(n)),
            (Some("p"), Some(n), false) => Ok(Mode::Processes(n)),
            _ => anyhow::bail!(
                "replay mode {text:?}: expected wN (workers), pN (processes) or wN-nobronze"
            ),
        }
    }

    /// How the results table names it.
    pub fn label(self) -> String {
        match self {
            Mode::Workers(n) => format!("1 process × {n} worker{}", if n == 1 { "" } else { "s" }),
            Mode::Processes(n) => format!("{n} processes × 1 worker"),
            Mode::WorkersNoBronze(n) => format!("{}, --no-bronze", Mode::Workers(n).label()),
        }
    }
}

/// One replay's outcome.
#[derive(Clone, Debug)]
pub struct Replay {
    /// Wall, CPU and peak RSS (the largest process).
    pub cost: Cost,
    /// Sum of the processes' peak RSS (equals `cost.peak_rss` for one process).
    pub rss_sum: u64,
    /// The job's own run summary (`LAKE/_runs/*.json`).
    pub summary: serde_json::Value,
}

/// Paths the subprocess measurements need.
#[derive(Clone, Debug)]
pub struct Tools {
    /// The workspace root (scripts live below it).
    pub root: PathBuf,
    /// The release `caspers` binary.
    pub caspers: PathBuf,
    /// Scratch directory for wrappers and RSS files.
    pub scratch: PathBuf,
}

/// Replays `landing` into a fresh `lake` in `mode`, with `extra` arguments for `caspers run`.
pub fn replay(
    tools: &Tools,
    mode: Mode,
    landing: &Path,
    lake: &Path,
    extra: &[String],
) -> anyhow::Result<Replay> {
    remove_dir(lake)?;
    let mut args: Vec<String> = vec![
        "run".into(),
        "--input".into(),
        landing.display().to_string(),
        "--lake".into(),
        lake.display().to_string(),
        "--quiet".into(),
    ];
    args.extend(extra.iter().cloned());
    let (cost, rss_sum) = match mode {
        Mode::Workers(w) | Mode::WorkersNoBronze(w) => {
            let no_bronze = (mode == Mode::WorkersNoBronze(w)).then_some("--no-bronze");
            let cost = run_measured(
                Command::new(&tools.caspers)
                    .args(&args)
                    .args(["-w", &w.to_string()])
                    .args(no_bronze),
            )?;
            let rss = cost.peak_rss;
            (cost, rss)
        }
        Mode::Processes(n) => cluster(tools, n, &args)?,
    };
    let summary = read_run_summary(lake)?;
    Ok(Replay {
        cost,
        rss_sum,
        summary,
    })
}

/// Runs `scripts/cluster.sh N` with every process wrapped in `/usr/bin/time` (when present) so
/// each one's peak RSS is known; returns the cluster's cost and the sum of the peaks.
fn cluster(tools: &Tools, n: usize, args: &[String]) -> anyhow::Result<(Cost, u64)> {
    let rss_dir = tools.scratch.join("cluster-rss");
    remove_dir(&rss_dir)?;
    std::fs::create_dir_all(&rss_dir)?;
    let timer = Path::new("/usr/bin/time");
    let bin = if timer.exists() {
        let wrapper = tools.scratch.join("caspers-timed.sh");
        std::fs::write(
            &wrapper,
            "#!/bin/sh\n# Written by bench/throughput.rs: one cluster process, its peak RSS in KB.\n\
             exec /usr/bin/time -f %M -o \"$CASPERS_BENCH_RSS_DIR/rss.$$\" \"$CASPERS_BENCH_REAL_BIN\" \"$@\"\n",
        )?;
        make_executable(&wrapper)?;
        wrapper
    } else {
        tools.caspers.clone()
    };
    let mut cmd = Command::new(tools.root.join("scripts/cluster.sh"));
    cmd.arg(n.to_string())
        .args(args)
        .args(["-w", "1"])
        .env("CASPERS_BIN", &bin)
        .env("CASPERS_BENCH_REAL_BIN", &tools.caspers)
        .env("CASPERS_BENCH_RSS_DIR", &rss_dir);
    let mut cost = run_measured(&mut cmd)?;
    let mut peaks = Vec::new();
    for entry in std::fs::read_dir(&rss_dir)?.flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if let Some(kb) = text
            .lines()
            .filter_map(|l| l.trim().parse::<u64>().ok())
            .next_back()
        {
            peaks.push(kb * 1024);
        }
    }
    if peaks.len() == n {
        cost.peak_rss = peaks.iter().copied().max().unwrap_or(0);
        Ok((cost, peaks.iter().sum()))
    } else {
        // No per-process figures: wait4's peak is the largest process of the tree.
        let peak = cost.peak_rss;
        Ok((cost, peak * u64::try_from(n).unwrap_or(1)))
    }
}

fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = std::fs::metadata(path)?.permissions();
    perms.set_mode(0o755);
    std::fs::set_permissions(path, perms)?;
    Ok(())
}

/// The newest run summary under `LAKE/_runs`.
pub fn read_run_summary(lake: &Path) -> anyhow::Result<serde_json::Value> {
    let dir = lake.join("_runs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let last = files.last().context("no run summary written")?;
    Ok(serde_json::from_str(&std::fs::read_to_string(last)?)?)
}

/// One DuckDB baseline run.
#[derive(Clone, Debug)]
pub struct Duck {
    /// Wall, CPU and peak RSS of the script (Python + DuckDB).
    pub cost: Cost,
    /// The script's JSON report (its own timing of the SQL, per step).
    pub report: serde_json::Value,
}

/// Makes sure the DuckDB virtualenv exists, outside any timing.
pub fn duckdb_setup(tools: &Tools) -> anyhow::Result<()> {
    run_measured(
        Command::new(tools.root.join("scripts/bench-duckdb.sh"))
            .args(["compute", "--help"])
            .current_dir(&tools.root),
    )
    .context("setting up DuckDB (scripts/bench-duckdb.sh)")?;
    Ok(())
}

/// Computes the five tables with DuckDB from `landing` into `out` (`layout`: flat or hive).
pub fn duckdb(tools: &Tools, landing: &Path, out: &Path, layout: &str) -> anyhow::Result<Duck> {
    remove_dir(out)?;
    let cost = run_measured(
        Command::new(tools.root.join("scripts/bench-duckdb.sh"))
            .arg("compute")
            .arg("--input")
            .arg(landing)
            .arg("--out")
            .arg(out)
            .args(["--layout", layout]),
    )?;
    let line = cost.stdout.lines().last().unwrap_or("{}");
    let report = serde_json::from_str(line)
        .with_context(|| format!("parsing the DuckDB report {line:?}"))?;
    Ok(Duck { cost, report })
}

/// Compares DuckDB's tables in `ours` with caspers' `lake`; the script's JSON verdict.
pub fn duckdb_check(tools: &Tools, ours: &Path, lake: &Path) -> anyhow::Result<serde_json::Value> {
    let cost = run_measured(
        Command::new(tools.root.join("scripts/bench-duckdb.sh"))
            .arg("check")
            .arg("--ours")
            .arg(ours)
            .arg("--lake")
            .arg(lake),
    )?;
    let line = cost.stdout.lines().last().unwrap_or("{}");
    serde_json::from_str(line).with_context(|| format!("parsing the DuckDB check {line:?}"))
}

/// A throwaway PostgreSQL from `scripts/pg.sh`, stopped on drop.
pub struct Postgres {
    root: PathBuf,
    dir: PathBuf,
    /// Connection URL.
    pub url: String,
}

impl Postgres {
    /// Starts one in a fresh directory under /tmp (the `postgres` user must reach it).
    pub fn start(root: &Path) -> anyhow::Result<Postgres> {
        let dir = std::env::temp_dir().join(format!("caspers-bench-pg-{}", std::process::id()));
        let started = Instant::now();
        let out = Command::new(root.join("scripts/pg.sh"))
            .arg("start")
            .arg(&dir)
            .output()
            .context("running scripts/pg.sh")?;
        anyhow::ensure!(
            out.status.success(),
            "scripts/pg.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let url = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("export DATABASE_URL="))
            .context("scripts/pg.sh printed no DATABASE_URL")?
            .to_string();
        eprintln!(
            "bench: PostgreSQL started in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(Postgres {
            root: root.to_path_buf(),
            dir,
            url,
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new(self.root.join("scripts/pg.sh"))
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}
