//! Live mode: plays the orders created at or after `now` in event-time order, with simulated
//! time running `speed_up`× faster than the wall clock, and writes each location's events as
//! files of at most `batch_rows` records. Unlike the original, which only checked its
//! `batch_seconds` timer when a new event arrived, a non-empty buffer is flushed by the timer
//! too, and an event is emitted when simulated time reaches its timestamp (the original
//! queued a whole lifecycle at once). Runs until the window ends, `--for` elapses, or the
//! stop flag (Ctrl-C) is raised; whatever is buffered then is written.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use caspers_dataflows::time::{Micros, MICROS_PER_DAY};

use super::events::GeneratedEvent;
use super::output::{Chaos, FileSink};
use super::{GenerateSummary, Generator, GeneratorError, Phase};

/// How live mode runs.
#[derive(Clone, Debug, Default)]
pub struct LiveOptions {
    /// Overrides every config's `speed_up`.
    pub speed_up: Option<f64>,
    /// Stop after this much wall-clock time (`--for`).
    pub duration: Option<Duration>,
    /// Test-data faults.
    pub chaos: Chaos,
}

/// A queued event, ordered for a min-heap by write order.
struct Queued(GeneratedEvent);

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.write_order(&other.0)
    }
}

/// One location's live state.
struct Player {
    /// Index into the generator's locations.
    location: usize,
    /// Simulated µs per wall-clock µs.
    speed_up: f64,
    batch_rows: usize,
    batch_every: Duration,
    /// Next calendar day whose orders are not yet queued.
    next_day: i64,
    last_day: i64,
    queue: BinaryHeap<Reverse<Queued>>,
    sink: FileSink,
    last_flush: Instant,
}

impl Player {
    fn sim_time(&self, now: Micros, elapsed: Duration) -> Micros {
        now + (elapsed.as_secs_f64() * 1e6 * self.speed_up) as i64
    }

    fn done(&self) -> bool {
        self.next_day > self.last_day && self.queue.is_empty() && self.sink.buffered() == 0
    }
}

/// Plays `generator`'s future orders into `out` until the window ends, `options.duration`
/// passes, or `stop` is set.
pub fn run_live(
    generator: &Generator,
    out: &Path,
    options: &LiveOptions,
    stop: &AtomicBool,
) -> Result<GenerateSummary, GeneratorError> {
    let started = Instant::now();
    std::fs::create_dir_all(out).map_err(|source| GeneratorError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let now = generator.now();
    let mut players: Vec<Player> = generator
        .locations()
        .iter()
        .enumerate()
        .map(|(i, loc)| {
            let days = loc.days();
            Player {
                location: i,
                speed_up: options.speed_up.unwrap_or(loc.config.speed_up).max(1e-9),
                batch_rows: loc.config.batch_rows.max(1),
                batch_every: Duration::from_secs_f64(loc.config.batch_seconds.clamp(0.0, 1e6)),
                next_day: (*days.start()).max(now.div_euclid(MICROS_PER_DAY)),
                last_day: *days.end(),
                queue: BinaryHeap::new(),
                sink: FileSink::new(out, &loc.name, options.chaos),
                last_flush: started,
            }
        })
        .collect();
    let mut summary = GenerateSummary::default();
    loop {
        // Simulated time never passes `--for`, however late this thread wakes up.
        let elapsed = options
            .duration
            .map_or(started.elapsed(), |d| started.elapsed().min(d));
        let stopping =
            stop.load(AtomicOrdering::SeqCst) || options.duration.is_some_and(|d| elapsed >= d);
        let mut sleep = Duration::from_millis(100);
        for p in &mut players {
            let sim = p.sim_time(now, elapsed);
            while p.next_day <= p.last_day && p.next_day * MICROS_PER_DAY <= sim {
                for event in generator.location_day_events(p.location, p.next_day, Phase::Live) {
                    p.queue.push(Reverse(Queued(event)));
                }
                p.next_day += 1;
            }
            while p.queue.peek().is_some_and(|Reverse(Queued(e))| e.ts <= sim) {
                let Some(Reverse(Queued(event))) = p.queue.pop() else {
                    break;
                };
                summary.count(&event);
                p.sink.push(&event);
                if p.sink.buffered() >= p.batch_rows {
                    p.sink.flush(sim)?;
                    p.last_flush = Instant::now();
                }
            }
            if p.sink.buffered() > 0 && p.last_flush.elapsed() >= p.batch_every {
                p.sink.flush(sim)?;
                p.last_flush = Instant::now();
            }
            // Wake for the next due event, the next midnight, or the flush timer.
            let next_ts = p.queue.peek().map(|Reverse(Queued(e))| e.ts);
            let next_midnight = (p.next_day <= p.last_day).then(|| p.next_day * MICROS_PER_DAY);
            for due in [next_ts, next_midnight].into_iter().flatten() {
                let wait = ((due - sim).max(0) as f64 / p.speed_up) / 1e6;
                sleep = sleep.min(Duration::from_secs_f64(wait));
            }
            if p.sink.buffered() > 0 {
                sleep = sleep.min(p.batch_every.saturating_sub(p.last_flush.elapsed()));
            }
        }
        if stopping || players.iter().all(Player::done) {
            break;
        }
        if let Some(d) = options.duration {
            sleep = sleep.min(d.saturating_sub(started.elapsed()));
        }
        std::thread::sleep(sleep.max(Duration::from_millis(1)));
    }
    let elapsed = options
        .duration
        .map_or(started.elapsed(), |d| started.elapsed().min(d));
    for p in &mut players {
        let sim = p.sim_time(now, elapsed);
        p.sink.finish(p.batch_rows, sim)?;
        summary.files += p.sink.written.files;
        summary.bytes += p.sink.written.bytes;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_signal: libc::c_int) {
    INTERRUPTED.store(true, AtomicOrdering::SeqCst);
    // A second Ctrl-C kills the process the default way.
    // SAFETY: `signal` is async-signal-safe; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

/// Installs a Ctrl-C (SIGINT) handler that raises the returned flag, so live mode can write
/// what it has buffered and stop cleanly. A second Ctrl-C terminates immediately.
pub fn ctrl_c_flag() -> &'static AtomicBool {
    let handler: extern "C" fn(libc::c_int) = on_sigint;
    // SAFETY: the handler only stores to an atomic and resets the disposition, both
    // async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
    }
    &INTERRUPTED
}
