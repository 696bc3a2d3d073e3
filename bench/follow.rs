//! File-landed → snapshot-published latency of `caspers run --follow`: after the job has
//! caught up with a history, small files are dropped into the landing directory atomically
//! (written under a hidden name, then renamed) one at a time, and the time until the file's
//! bronze Parquet appears is recorded. The runtime renames a bronze file into place only once
//! the views have caught up with the epoch that read it and that epoch's lake is published.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use caspers::generator::GeneratedEvent;
use caspers::runtime::bronze_file_name;
use hdrhistogram::Histogram;

use crate::measure::{remove_dir, vm_hwm, wait_any};

/// The follow-mode measurement's outcome.
#[derive(Debug)]
pub struct Follow {
    /// History events the job caught up with first.
    pub history_events: u64,
    /// Seconds until every history file's bronze file was published.
    pub history_seconds: f64,
    /// Landed → published latencies, microseconds.
    pub histogram: Histogram<u64>,
    /// Events per dropped file.
    pub batch: usize,
    /// Peak RSS of the job (bytes), after the history and the small files.
    pub peak_rss: u64,
}

/// Kills the child if the measurement bails out early.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the measurement. `history` is hard-linked (or copied) into a fresh landing directory
/// under `work`, then `live` is dropped in files of `batch` events.
#[allow(clippy::too_many_arguments)]
pub fn follow(
    caspers: &Path,
    work: &Path,
    lake: &Path,
    history: &Path,
    history_events: u64,
    live: &[GeneratedEvent],
    batch: usize,
    workers: usize,
) -> anyhow::Result<Follow> {
    let landing = work.join("follow-landing");
    remove_dir(&landing)?;
    remove_dir(lake)?;
    std::fs::create_dir_all(&landing)?;
    let mut expected = Vec::new();
    for entry in std::fs::read_dir(history)?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name.starts_with('_') || !entry.path().is_file() {
            continue;
        }
        let to = landing.join(&name);
        if std::fs::hard_link(entry.path(), &to).is_err() {
            std::fs::copy(entry.path(), &to)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
        expected.push(lake.join("all_events").join(bronze_file_name(&name)));
    }
    let started = Instant::now();
    let child = Command::new(caspers)
        .arg("run")
        .arg("--input")
        .arg(&landing)
        .arg("--lake")
        .arg(lake)
        .args([
            "--follow",
            "--poll-ms",
            "20",
            "--publish-ms",
            "0",
            "--quiet",
        ])
        .args(["-w", &workers.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .context("spawning caspers run --follow")?;
    let mut guard = Guard(Some(child));
    wait_for(&expected, Duration::from_secs(1800), &mut guard)?;
    let history_seconds = started.elapsed().as_secs_f64();

    let mut histogram = Histogram::<u64>::new(3)?;
    for (i, chunk) in live.chunks(batch.max(1)).enumerate() {
        let name = format!("zz-live-{i:06}.json");
        let mut text = String::from("[");
        for (j, event) in chunk.iter().enumerate() {
            if j > 0 {
                text.push_str(", ");
            }
            event.push_json(&mut text);
        }
        text.push(']');
        let hidden = landing.join(format!(".{name}.tmp"));
        std::fs::write(&hidden, text.as_bytes())?;
        let target = [lake.join("all_events").join(bronze_file_name(&name))];
        std::fs::rename(&hidden, landing.join(&name))?;
        let t = Instant::now();
        wait_for(&target, Duration::from_secs(60), &mut guard)?;
        let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
        histogram.record(micros.max(1))?;
    }

    let child = guard.0.take().context("follow child")?;
    let hwm = vm_hwm(child.id());
    // SAFETY: plain kill(2) of our own child, by its pid.
    unsafe {
        libc::kill(
            libc::pid_t::try_from(child.id()).unwrap_or(0),
            libc::SIGKILL,
        );
    }
    let (_status, cost) = wait_any(child, started, "caspers run --follow")?;
    Ok(Follow {
        history_events,
        history_seconds,
        histogram,
        batch,
        peak_rss: hwm.unwrap_or(cost.peak_rss),
    })
}

/// Polls until every path exists (every 200 µs), failing after `timeout` or if the job exits.
fn wait_for(paths: &[PathBuf], timeout: Duration, guard: &mut Guard) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut next = 0;
    let mut checks = 0u64;
    while next < paths.len() {
        if paths[next].exists() {
            next += 1;
            continue;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} did not appear within {timeout:?}",
            paths[next].display()
        );
        checks += 1;
        if checks % 1000 == 0 {
            if let Some(child) = guard.0.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    guard.0 = None;
                    anyhow::bail!("caspers run --follow exited early: {status}");
                }
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
}
