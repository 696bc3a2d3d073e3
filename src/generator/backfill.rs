//! Backfill: every order created before `now`, with its whole lifecycle (later events may lie
//! in the future, as in the original), written in timestamp order as files of at most
//! `file_events` records. Days are generated on worker threads and merged in day order; an
//! order's events never precede its creation day, so everything before the next midnight is
//! final once a day is merged, which bounds memory to about two days of events.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use caspers_dataflows::model::EventType;
use caspers_dataflows::time::MICROS_PER_DAY;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::events::GeneratedEvent;
use super::output::{Chaos, FileSink};
use super::{GenerateSummary, Generator, GeneratorError, Phase};

/// How the backfill is written.
#[derive(Clone, Debug)]
pub struct BackfillOptions {
    /// At most this many records per file (`--backfill-file-events`).
    pub file_events: usize,
    /// Test-data faults.
    pub chaos: Chaos,
    /// Show a progress bar on stderr (only drawn when stderr is a terminal).
    pub progress: bool,
    /// Worker threads generating days; 0 = one per core.
    pub threads: usize,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        BackfillOptions {
            file_events: 10_000,
            chaos: Chaos::default(),
            progress: false,
            threads: 0,
        }
    }
}

type Encoded = (GeneratedEvent, String);

/// Writes the backfill of `generator` into `out` (created if missing).
pub fn write_backfill(
    generator: &Generator,
    out: &Path,
    options: &BackfillOptions,
) -> Result<GenerateSummary, GeneratorError> {
    let started = Instant::now();
    std::fs::create_dir_all(out).map_err(|source| GeneratorError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let now = generator.now();
    let days = generator.backfill_days();
    let (first, last) = (*days.start(), *days.end());
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let bar = progress_bar(
        options.progress,
        u64::try_from(last - first + 1).unwrap_or(0),
    );
    let mut sink = FileSink::new(out, "backfill", options.chaos).in_background();
    let mut summary = GenerateSummary::default();
    let next_day = AtomicI64::new(first);
    let result = std::thread::scope(|scope| -> Result<(), GeneratorError> {
        // A small bound keeps workers at most a few days ahead of the writer.
        let (tx, rx) = crossbeam_channel::bounded::<(i64, Vec<Encoded>)>(threads * 2);
        for _ in 0..threads {
            let tx = tx.clone();
            let next_day = &next_day;
            scope.spawn(move || loop {
                let day = next_day.fetch_add(1, Ordering::Relaxed);
                if day > last {
                    break;
                }
                let encoded: Vec<Encoded> = generator
                    .day_events(day, Phase::Backfill)
                    .into_iter()
                    .map(|e| {
                        let json = e.to_json();
                        (e, json)
                    })
                    .collect();
                if tx.send((day, encoded)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut waiting: BTreeMap<i64, Vec<Encoded>> = BTreeMap::new();
        let mut pending: Vec<Encoded> = Vec::new();
        let mut expected = first;
        for (day, encoded) in rx.iter() {
            waiting.insert(day, encoded);
            while let Some(events) = waiting.remove(&expected) {
                pending.extend(events);
                pending.sort_by(|a, b| a.0.write_order(&b.0));
                let cutoff = (expected + 1) * MICROS_PER_DAY;
                let split = pending.partition_point(|(e, _)| e.ts < cutoff);
                let rest = pending.split_off(split);
                for (event, json) in std::mem::replace(&mut pending, rest) {
                    summary.count(&event);
                    sink.push_encoded(&event, json);
                }
                sink.write_full(options.file_events, now)?;
                bar.inc(1);
                expected += 1;
            }
        }
        for (event, json) in pending {
            summary.count(&event);
            sink.push_encoded(&event, json);
        }
        sink.finish(options.file_events, now)
    });
    bar.finish_and_clear();
    result?;
    summary.files = sink.written.files;
    summary.bytes = sink.written.bytes;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn progress_bar(enabled: bool, days: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(days), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} days ({eta})")
    {
        bar.set_style(style);
    }
    bar
}

impl GenerateSummary {
    /// Counts one generated event (and its order, for `order_created`).
    pub(crate) fn count(&mut self, event: &GeneratedEvent) {
        self.events += 1;
        if event.event_type == EventType::OrderCreated {
            self.orders += 1;
        }
    }
}

/// All backfill events of `generator`, in write order, without touching the filesystem.
pub fn backfill_events(generator: &Generator) -> Vec<GeneratedEvent> {
    let mut events: Vec<GeneratedEvent> = generator
        .backfill_days()
        .flat_map(|day| generator.day_events(day, Phase::Backfill))
        .collect();
    events.sort_by(GeneratedEvent::write_order);
    events
}
