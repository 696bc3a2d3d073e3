//! Measuring subprocesses and the machine: wall time and CPU time of a child (from `wait4`'s
//! rusage), its peak RSS (its own `VmHWM`, read while it runs; see [`vm_hwm`]), the machine's
//! cores, memory and load, and the current time for the results file.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

/// The peak resident set of a running process, bytes (`VmHWM` in `/proc/PID/status`).
///
/// For a child that is still running this is the one to use: `wait4`'s `ru_maxrss` also counts
/// the parent's resident set at the moment of the spawn (the child shares the parent's memory
/// until it execs, and the kernel keeps that high-water mark across the exec), so a bench
/// process holding a few GB of events reported ~3.8 GB for a `--follow` job that peaked at
/// 1.3 GB. `VmHWM` belongs to the exec'd program's own memory.
pub fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Reads the child's `VmHWM` every few milliseconds until `done`: the last value read is its
/// peak, short of whatever it grew in its last milliseconds.
fn watch_hwm(pid: u32, done: Arc<AtomicBool>) -> std::thread::JoinHandle<Option<u64>> {
    std::thread::spawn(move || {
        let mut peak = None;
        while !done.load(Ordering::Relaxed) {
            peak = peak.max(vm_hwm(pid));
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    })
}

/// What one finished subprocess cost.
#[derive(Clone, Debug, Default)]
pub struct Cost {
    /// Wall-clock seconds from spawn to exit.
    pub wall: f64,
    /// User + system CPU seconds of the child and its waited-for descendants.
    pub cpu: f64,
    /// Peak resident set size of the child process, bytes.
    pub peak_rss: u64,
    /// Captured standard output.
    pub stdout: String,
}

/// Runs `cmd` to completion with stdout captured and stderr inherited; fails on a non-zero
/// exit.
pub fn run_measured(cmd: &mut Command) -> anyhow::Result<Cost> {
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("spawning {cmd:?}"))?;
    wait_measured(child, started, &format!("{cmd:?}"))
}

/// Waits for a spawned child with `wait4`, collecting its stdout meanwhile; fails unless it
/// exited with status 0.
pub fn wait_measured(child: Child, started: Instant, what: &str) -> anyhow::Result<Cost> {
    let (status, cost) = wait_any(child, started, what)?;
    let exited_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    anyhow::ensure!(exited_ok, "{what} failed (wait status {status})");
    Ok(cost)
}

/// [`wait_measured`] that also accepts a failed or killed child: its wait status and cost.
pub fn wait_any(mut child: Child, started: Instant, what: &str) -> anyhow::Result<(i32, Cost)> {
    let reader = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut text);
            text
        })
    });
    let done = Arc::new(AtomicBool::new(false));
    let watcher = watch_hwm(child.id(), done.clone());
    let pid = libc::pid_t::try_from(child.id()).context("pid out of range")?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unwaited child; both pointers are valid for the call.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        rc == pid,
        "wait4 on {what} failed: {}",
        std::io::Error::last_os_error()
    );
    done.store(true, Ordering::Relaxed);
    let watched = watcher.join().ok().flatten();
    let stdout = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    let cost = Cost {
        wall,
        cpu: timeval_secs(usage.ru_utime) + timeval_secs(usage.ru_stime),
        // The child's own high-water mark when it lived long enough to be read; `ru_maxrss`
        // (see `vm_hwm`) only for a child too short-lived for that.
        peak_rss: watched.unwrap_or(u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024),
        stdout,
    };
    Ok((status, cost))
}

fn timeval_secs(t: libc::timeval) -> f64 {
    Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0)).as_secs_f64()
        + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0)).as_secs_f64()
}

/// This process's CPU seconds so far (user + system, all threads).
pub fn self_cpu() -> f64 {
    // SAFETY: as in `wait_measured`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer; RUSAGE_SELF cannot fail.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    timeval_secs(usage.ru_utime) + timeval_secs(usage.ru_stime)
}

/// The machine, as recorded next to every result block.
#[derive(Clone, Debug)]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// Total memory, bytes.
    pub memory: u64,
}

/// Reads `/proc/cpuinfo` and `/proc/meminfo`.
pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(|| "unknown CPU".to_string(), |(_, v)| v.trim().to_string());
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count()
        .max(1);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024;
    Machine { cpu, cores, memory }
}

/// The 1-minute load average, as text.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into())
}

/// Now, UTC, `YYYY-MM-DD HH:MM:SS`.
pub fn utc_now() -> String {
    let text = caspers_dataflows::time::format_timestamp(caspers::runtime::now_micros());
    text.get(..19).unwrap_or(&text).to_string()
}

/// The checked-out commit (short hash, `+dirty` when the tree has changes), if git knows.
pub fn git_revision(repo: &Path) -> String {
    let out = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(repo)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let rev = out(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = out(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{rev}+dirty")
    } else {
        rev
    }
}

/// Removes `dir` if it exists.
pub fn remove_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", dir.display())),
    }
}
