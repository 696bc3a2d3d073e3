//! The benchmark's landing directories, generated once by the real generator into the cache
//! directory and reused while their `manifest.json` says they are complete.
//!
//! Every dataset uses a fixed `--now` and the configs' seeds, so the files are identical on
//! every machine. Each location's volume ramp is made to end at `now` (`end_days_ahead = 0`):
//! with the shipped `end_days_ahead = 362` a year of San Francisco is only ~1.65 M events
//! because the ramp has reached only half way to `orders_last`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use caspers::generator::{self, BackfillOptions, Generator, GeneratorConfig};
use caspers_dataflows::model::Event;
use serde::{Deserialize, Serialize};

use crate::measure::remove_dir;

/// The simulated "now" of every dataset.
pub const NOW: &str = "2026-11-28 00:00:00";

/// A dataset: which locations, how many days of history each.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Name (cache directory).
    pub name: &'static str,
    /// (built-in config, days of history) per location.
    pub locations: &'static [(&'static str, f64)],
    /// One line for the results file.
    pub description: &'static str,
}

/// A year of San Francisco (~3.0 M events, ~1.5 GB).
pub const SF_YEAR: Spec = Spec {
    name: "sf-year",
    locations: &[("sanfrancisco", 365.0)],
    description: "sanfrancisco.json, 365 days, ramp 50→1000 orders/day ending at now",
};

/// San Francisco for a year plus Chicago for 270 days (~5.1 M events).
pub const MULTI: Spec = Spec {
    name: "multi-5m",
    locations: &[("sanfrancisco", 365.0), ("chicago", 270.0)],
    description: "sanfrancisco.json 365 days + chicago.json 270 days, ramps ending at now",
};

/// The last 30 days of San Francisco (~0.25 M events): the Postgres sink measurement.
pub const SF_MONTH: Spec = Spec {
    name: "sf-30d",
    locations: &[("sanfrancisco", 30.0)],
    description: "sanfrancisco.json, 30 days, ramp ending at now",
};

/// Looks a dataset up by name.
pub fn by_name(name: &str) -> Option<Spec> {
    [SF_YEAR, MULTI, SF_MONTH]
        .into_iter()
        .find(|s| s.name == name)
}

/// What the cache holds for a dataset.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Dataset name.
    pub name: String,
    /// Orders generated.
    pub orders: u64,
    /// Events generated.
    pub events: u64,
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Seconds the generator took (when it ran).
    pub generate_seconds: f64,
}

/// A generated dataset on disk.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Its spec.
    pub spec: Spec,
    /// The landing directory.
    pub landing: PathBuf,
    /// What it holds.
    pub manifest: Manifest,
    /// Whether this run generated it (false: taken from the cache).
    pub generated_now: bool,
}

/// The generator configs of `spec`.
pub fn configs(spec: &Spec) -> anyhow::Result<Vec<GeneratorConfig>> {
    spec.locations
        .iter()
        .map(|(name, days)| {
            let mut config = GeneratorConfig::builtin(name)
                .with_context(|| format!("no built-in config {name}"))?;
            config.start_days_ago = *days;
            config.end_days_ahead = 0.0;
            Ok(config)
        })
        .collect()
}

/// The dataset from the cache, generating it first if needed.
pub fn ensure(cache: &Path, spec: Spec) -> anyhow::Result<Dataset> {
    let dir = cache.join("datasets").join(spec.name);
    let landing = dir.join("landing");
    let manifest_path = dir.join("manifest.json");
    if let Ok(text) = std::fs::read_to_string(&manifest_path) {
        if let Ok(manifest) = serde_json::from_str::<Manifest>(&text) {
            return Ok(Dataset {
                spec,
                landing,
                manifest,
                generated_now: false,
            });
        }
    }
    remove_dir(&dir)?;
    eprintln!("bench: generating {} into {}", spec.name, landing.display());
    let now = generator::parse_now(NOW)?;
    let started = Instant::now();
    let summary = generator::generate_backfill(
        &configs(&spec)?,
        now,
        None,
        &landing,
        &BackfillOptions::default(),
    )?;
    let manifest = Manifest {
        name: spec.name.to_string(),
        orders: summary.orders,
        events: summary.events,
        files: summary.files,
        bytes: summary.bytes,
        generate_seconds: started.elapsed().as_secs_f64(),
    };
    std::fs::write(&manifest_path, serde_json::to_string_pretty(&manifest)?)
        .with_context(|| format!("writing {}", manifest_path.display()))?;
    Ok(Dataset {
        spec,
        landing,
        manifest,
        generated_now: true,
    })
}

/// The generator of `spec` at [`NOW`].
pub fn generator_for(spec: &Spec) -> anyhow::Result<Generator> {
    let now = generator::parse_now(NOW)?;
    Ok(Generator::new(
        &configs(spec)?,
        &generator::Catalog::builtin(),
        now,
        None,
    )?)
}

/// Every backfill event of `spec` as the typed record the reader produces, in write order,
/// generated in memory on `threads` threads (days are independent).
pub fn events_in_memory(spec: &Spec, threads: usize) -> anyhow::Result<Vec<Event>> {
    let generator = generator_for(spec)?;
    let days: Vec<i64> = generator.backfill_days().collect();
    let chunk = days.len().div_ceil(threads.max(1)).max(1);
    let mut generated: Vec<generator::GeneratedEvent> = std::thread::scope(|scope| {
        let handles: Vec<_> = days
            .chunks(chunk)
            .map(|days| {
                let generator = &generator;
                scope.spawn(move || {
                    days.iter()
                        .flat_map(|&day| generator.day_events(day, generator::Phase::Backfill))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    generated.sort_by(generator::GeneratedEvent::write_order);
    Ok(generated.iter().map(|e| e.to_event()).collect())
}

/// The first `n` live events after [`NOW`] (orders created on the day of `now` at or after
/// it), as generated: the files the follow-mode measurement drops into the landing directory.
pub fn live_events(spec: &Spec, n: usize) -> anyhow::Result<Vec<generator::GeneratedEvent>> {
    let generator = generator_for(spec)?;
    let first = generator
        .now()
        .div_euclid(caspers_dataflows::time::MICROS_PER_DAY);
    let mut out = Vec::new();
    for day in first..first + 30 {
        let mut events = generator.day_events(day, generator::Phase::Live);
        events.sort_by(generator::GeneratedEvent::write_order);
        out.extend(events);
        if out.len() >= n {
            break;
        }
    }
    out.truncate(n);
    Ok(out)
}
