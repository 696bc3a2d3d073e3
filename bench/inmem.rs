//! In-process measurements of the views alone (`caspers_dataflows::build_all`, no files, no
//! sinks): throughput of pre-parsed events pushed in epochs, and the latency of small epochs
//! after a long history, from `insert` to every view's probe having passed the epoch.

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use caspers_dataflows::model::Event;
use differential_dataflow::input::Input;
use hdrhistogram::Histogram;
use timely::dataflow::ProbeHandle;

/// Events split among workers: worker `i` gets events `i, i + W, i + 2W, …`.
type Shares = Arc<Mutex<Vec<Option<Vec<Event>>>>>;

fn shares(events: &[Event], workers: usize) -> Shares {
    let mut out: Vec<Vec<Event>> = (0..workers)
        .map(|_| Vec::with_capacity(events.len() / workers + 1))
        .collect();
    for (i, event) in events.iter().enumerate() {
        out[i % workers].push(event.clone());
    }
    Arc::new(Mutex::new(out.into_iter().map(Some).collect()))
}

/// Builds the views in `worker` with one probe after every view; returns the input session.
macro_rules! build_views {
    ($worker:expr, $probe:expr) => {
        $worker.dataflow_named("bench", |scope| {
            let (input, events) = scope.new_collection::<Event, isize>();
            let views = caspers_dataflows::build_all(events);
            views.silver_order_items().probe_with(&$probe);
            views.all_events.probe_with(&$probe);
            views.gold_order_header.probe_with(&$probe);
            views.gold_item_sales_day.probe_with(&$probe);
            views.gold_brand_sales_day.probe_with(&$probe);
            views.gold_location_sales_hourly.probe_with(&$probe);
            views.refund_recommendations.probe_with(&$probe);
            input
        })
    };
}

/// Throughput of one configuration.
#[derive(Clone, Debug)]
pub struct Throughput {
    /// Events pushed.
    pub events: usize,
    /// Seconds from the first insert to the probe passing the last epoch (slowest worker).
    pub seconds: f64,
    /// CPU seconds of the whole process meanwhile.
    pub cpu: f64,
}

/// Pushes `events` in global epochs of `epoch` events on `workers` workers, each epoch waited
/// for (the probe passes it) before the next is pushed.
pub fn throughput(events: &[Event], workers: usize, epoch: usize) -> anyhow::Result<Throughput> {
    let shares = shares(events, workers);
    let total = events.len();
    let barrier = Arc::new(Barrier::new(workers));
    let cpu_before = crate::measure::self_cpu();
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        let mine = shares
            .lock()
            .map_or_else(|_| Vec::new(), |mut s| s[index].take().unwrap_or_default());
        let probe = ProbeHandle::new();
        let mut input = build_views!(worker, probe);
        let per_worker = (epoch / peers).max(1);
        barrier.wait();
        let started = Instant::now();
        let mut events = mine.into_iter();
        let mut time = 0u64;
        // Every worker advances through the same epochs, so the frontier moves in lock step.
        for _ in 0..total.div_ceil(peers).div_ceil(per_worker) {
            for event in events.by_ref().take(per_worker) {
                input.insert(event);
            }
            time += 1;
            input.advance_to(time);
            input.flush();
            worker.step_while(|| probe.less_than(&time));
        }
        started.elapsed()
    })
    .map_err(|e| anyhow::anyhow!("starting timely: {e}"))?;
    let mut slowest = Duration::ZERO;
    for result in guards.join() {
        let elapsed = result.map_err(|e| anyhow::anyhow!("a worker failed: {e}"))?;
        slowest = slowest.max(elapsed);
    }
    Ok(Throughput {
        events: events.len(),
        seconds: slowest.as_secs_f64(),
        cpu: crate::measure::self_cpu() - cpu_before,
    })
}

/// The incremental-latency measurement's outcome.
#[derive(Clone, Debug)]
pub struct Latency {
    /// History events loaded first.
    pub history: usize,
    /// Seconds the history took (epochs of `history_epoch`).
    pub history_seconds: f64,
    /// Epoch-in → probe latencies, microseconds.
    pub histogram: Histogram<u64>,
    /// Events per small epoch.
    pub batch: usize,
}

/// Loads `history` in epochs of `history_epoch`, then pushes `tail` in epochs of `batch`
/// events and records, per epoch, the time from the first insert to the probe passing it (on
/// worker 0; the epoch's events are spread over the workers).
pub fn latency(
    history: &[Event],
    tail: &[Event],
    workers: usize,
    history_epoch: usize,
    batch: usize,
) -> anyhow::Result<Latency> {
    let history_shares = shares(history, workers);
    let total = history.len();
    // Small epochs: epoch k holds tail[k*batch..(k+1)*batch], each event on worker j % W.
    let mut tails: Vec<Vec<Vec<Event>>> = vec![Vec::new(); workers];
    for chunk in tail.chunks(batch.max(1)) {
        for share in tails.iter_mut() {
            share.push(Vec::new());
        }
        for (j, event) in chunk.iter().enumerate() {
            if let Some(epoch) = tails[j % workers].last_mut() {
                epoch.push(event.clone());
            }
        }
    }
    let tails = Arc::new(Mutex::new(tails.into_iter().map(Some).collect::<Vec<_>>()));
    let barrier = Arc::new(Barrier::new(workers));
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        let mine = history_shares
            .lock()
            .map_or_else(|_| Vec::new(), |mut s| s[index].take().unwrap_or_default());
        let my_tail = tails
            .lock()
            .map_or_else(|_| Vec::new(), |mut s| s[index].take().unwrap_or_default());
        let probe = ProbeHandle::new();
        let mut input = build_views!(worker, probe);
        let per_worker = (history_epoch / peers).max(1);
        barrier.wait();
        let started = Instant::now();
        let mut events = mine.into_iter();
        let mut time = 0u64;
        for _ in 0..total.div_ceil(peers).div_ceil(per_worker) {
            for event in events.by_ref().take(per_worker) {
                input.insert(event);
            }
            time += 1;
            input.advance_to(time);
            input.flush();
            worker.step_while(|| probe.less_than(&time));
        }
        // Everyone starts the small epochs from a settled state.
        barrier.wait();
        let history_seconds = started.elapsed().as_secs_f64();
        let mut histogram = Histogram::<u64>::new(3).ok();
        for epoch in my_tail {
            let t = Instant::now();
            for event in epoch {
                input.insert(event);
            }
            time += 1;
            input.advance_to(time);
            input.flush();
            worker.step_while(|| probe.less_than(&time));
            let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
            if let Some(h) = histogram.as_mut() {
                let _ = h.record(micros.max(1));
            }
        }
        (history_seconds, histogram)
    })
    .map_err(|e| anyhow::anyhow!("starting timely: {e}"))?;
    let mut first = None;
    for result in guards.join() {
        let outcome = result.map_err(|e| anyhow::anyhow!("a worker failed: {e}"))?;
        first.get_or_insert(outcome);
    }
    let (history_seconds, histogram) = first.ok_or_else(|| anyhow::anyhow!("no worker"))?;
    Ok(Latency {
        history: history.len(),
        history_seconds,
        histogram: histogram.ok_or_else(|| anyhow::anyhow!("histogram"))?,
        batch,
    })
}
