//! The deterministic ghost-kitchen order simulator (`caspers generate`): a port of the
//! original Casper's Kitchens generator's model (`shared/GENERATOR.md`) that writes the same
//! JSON-array event files, but reproducibly (ids and clock come from the seed and `--now`),
//! offline (a synthetic street grid instead of OpenStreetMap), with bounded backfill files and
//! a timer-driven live mode.
//!
//! - [`config`]: the config files (the original's keys plus `gk_lat`/`gk_lon`).
//! - [`catalog`]: brands, menus, categories and items; `--catalog DIR`; dimension tables.
//! - [`orders`]: the model: volume, arrivals, baskets, stage timings, pings, bodies.
//! - [`grid`]: the street grid customers, addresses and routes come from.
//! - [`events`]: a generated event and its exact JSON encoding; [`json`]: Python's
//!   `json.dumps` style.
//! - [`backfill`], [`live`], [`output`]: writing files; [`seeding`]: where randomness comes
//!   from.
//!
//! Library use without the CLI: [`Generator::new`], then [`backfill::write_backfill`],
//! [`backfill::backfill_events`] (in memory) or [`live::run_live`]; or the one-call
//! [`generate_backfill`].

pub mod backfill;
pub mod catalog;
pub mod config;
pub mod events;
pub mod grid;
pub mod json;
pub mod live;
pub mod orders;
pub mod output;
pub mod seeding;

use std::path::{Path, PathBuf};
use std::time::Duration;

use caspers_dataflows::time::{format_timestamp, parse_timestamp, Micros, MICROS_PER_DAY};

pub use backfill::{backfill_events, write_backfill, BackfillOptions};
pub use catalog::{write_dimension_tables, Catalog};
pub use config::GeneratorConfig;
pub use events::GeneratedEvent;
pub use live::{run_live, LiveOptions};
pub use output::Chaos;

use orders::{Location, Menu};

/// Why the generator could not run. Input *data* never causes these; configs, catalogs and
/// the filesystem do.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A config file is not valid JSON of the expected shape.
    #[error("config {path}: {source}")]
    ConfigParse {
        /// The config file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A config file has values the model cannot use.
    #[error("config {path}: {reason}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A catalog table is missing, malformed or inconsistent.
    #[error("catalog {path}: {reason}")]
    Catalog {
        /// The table file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `--now` is not `YYYY-MM-DD HH:MM:SS`.
    #[error("bad --now {0:?}: expected \"YYYY-MM-DD HH:MM:SS\"")]
    BadNow(String),
}

/// Which orders a day yields: those created before `now` (backfill) or at/after it (live).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Orders created before `now`, timestamps as generated.
    Backfill,
    /// Orders created at or after `now`; every timestamp gets `sequence` µs added, as the
    /// original's live path does.
    Live,
}

/// What a run wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GenerateSummary {
    /// Orders generated.
    pub orders: u64,
    /// Events generated (before chaos duplicates and malformed records).
    pub events: u64,
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Wall-clock seconds taken.
    pub seconds: f64,
}

impl std::fmt::Display for GenerateSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} orders, {} events, {} files, {} bytes, {:.2} s",
            self.orders, self.events, self.files, self.bytes, self.seconds
        )
    }
}

/// A set of locations sharing one clock and one catalog.
#[derive(Debug)]
pub struct Generator {
    menu: Menu,
    locations: Vec<Location>,
    now: Micros,
}

impl Generator {
    /// Builds the locations of `configs` for the simulated clock `now`; `seed` overrides
    /// every config's `random_seed`.
    pub fn new(
        configs: &[GeneratorConfig],
        catalog: &Catalog,
        now: Micros,
        seed: Option<u64>,
    ) -> Result<Generator, GeneratorError> {
        catalog
            .validate()
            .map_err(|reason| GeneratorError::Catalog {
                path: PathBuf::from("<catalog>"),
                reason,
            })?;
        let menu = Menu::new(catalog);
        let mut locations = Vec::with_capacity(configs.len());
        for config in configs {
            config.validate().map_err(|reason| GeneratorError::Config {
                path: PathBuf::from(&config.location_name),
                reason,
            })?;
            locations.push(Location::new(config, &menu, now, seed));
        }
        Ok(Generator {
            menu,
            locations,
            now,
        })
    }

    /// The simulated "now": the backfill holds the orders created before it.
    pub fn now(&self) -> Micros {
        self.now
    }

    /// The locations, in config order.
    pub fn locations(&self) -> &[Location] {
        &self.locations
    }

    /// Calendar days (days since the epoch) holding backfill orders: from the earliest
    /// window start to the day of `now`.
    pub fn backfill_days(&self) -> std::ops::RangeInclusive<i64> {
        let first = self
            .locations
            .iter()
            .map(|l| *l.days().start())
            .min()
            .unwrap_or(0);
        let last = self
            .locations
            .iter()
            .map(|l| *l.days().end())
            .max()
            .unwrap_or(0);
        first..=last.min(self.now.div_euclid(MICROS_PER_DAY))
    }

    /// All events of the `phase` orders created on calendar `day` at every location, in
    /// write order.
    pub fn day_events(&self, day: i64, phase: Phase) -> Vec<GeneratedEvent> {
        let mut out = Vec::new();
        for i in 0..self.locations.len() {
            out.extend(self.location_day_events(i, day, phase));
        }
        out.sort_by(GeneratedEvent::write_order);
        out
    }

    /// The events of the `phase` orders created on calendar `day` at location `index`, in
    /// generation order (order by order).
    pub fn location_day_events(&self, index: usize, day: i64, phase: Phase) -> Vec<GeneratedEvent> {
        let Some(location) = self.locations.get(index) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for arrival in location.arrivals(day) {
            let wanted = match phase {
                Phase::Backfill => arrival.ts < self.now,
                Phase::Live => arrival.ts >= self.now,
            };
            if wanted {
                location.build_order(&self.menu, day, arrival, phase == Phase::Live, &mut out);
            }
        }
        out
    }
}

/// Parses `--now` (`YYYY-MM-DD HH:MM:SS`, fractions and ISO forms accepted too).
pub fn parse_now(text: &str) -> Result<Micros, GeneratorError> {
    parse_timestamp(text).ok_or_else(|| GeneratorError::BadNow(text.to_string()))
}

/// The wall clock as naive-UTC µs, what the original's `utcnow()` returns.
pub fn wall_clock_now() -> Micros {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

/// One call for library users: the backfill of `configs` at `now` with the built-in catalog,
/// written into `out`.
pub fn generate_backfill(
    configs: &[GeneratorConfig],
    now: Micros,
    seed: Option<u64>,
    out: &Path,
    options: &BackfillOptions,
) -> Result<GenerateSummary, GeneratorError> {
    let generator = Generator::new(configs, &Catalog::builtin(), now, seed)?;
    write_backfill(&generator, out, options)
}

/// `caspers generate` options.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// Generator config file(s); several write several locations into one landing dir.
    #[arg(long = "config", required = true)]
    pub configs: Vec<PathBuf>,
    /// Landing directory to write event files into.
    #[arg(long)]
    pub out: PathBuf,
    /// Simulated current time, "YYYY-MM-DD HH:MM:SS" (UTC); fixes output byte for byte.
    /// Default: the wall clock.
    #[arg(long)]
    pub now: Option<String>,
    /// Overrides every config's random_seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// After the backfill, play future orders in (accelerated) real time.
    #[arg(long)]
    pub live: bool,
    /// Live mode: simulated seconds per wall-clock second (overrides the configs' speed_up).
    #[arg(long)]
    pub speed_up: Option<f64>,
    /// Live mode: stop after this many wall-clock seconds (default: until the window ends or
    /// Ctrl-C).
    #[arg(long = "for", value_name = "SECONDS")]
    pub for_seconds: Option<f64>,
    /// Skip the backfill (live mode only then).
    #[arg(long)]
    pub no_backfill: bool,
    /// At most this many events per backfill file.
    #[arg(long, default_value_t = 10_000)]
    pub backfill_file_events: usize,
    /// Load brands/menus/categories/items.parquet from DIR instead of the built-in catalog.
    #[arg(long, value_name = "DIR")]
    pub catalog: Option<PathBuf>,
    /// Also write the catalog as dimension tables (brands, menus, categories, items
    /// .parquet) into DIR.
    #[arg(long, value_name = "DIR")]
    pub dimensions: Option<PathBuf>,
    /// Test data: probability that an event is written twice.
    #[arg(long, default_value_t = 0.0)]
    pub chaos_duplicate_rate: f64,
    /// Test data: probability that an event is written in a later file.
    #[arg(long, default_value_t = 0.0)]
    pub chaos_late_rate: f64,
    /// Test data: probability that a malformed record is written next to an event.
    #[arg(long, default_value_t = 0.0)]
    pub chaos_malformed_rate: f64,
}

/// Runs `caspers generate`: backfill, then optionally live mode, printing a summary line per
/// phase on stderr.
pub fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let configs = args
        .configs
        .iter()
        .map(|p| GeneratorConfig::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let catalog = match &args.catalog {
        Some(dir) => Catalog::load_parquet_dir(dir)?,
        None => Catalog::builtin(),
    };
    let now = match &args.now {
        Some(text) => parse_now(text)?,
        None => wall_clock_now(),
    };
    let chaos = Chaos {
        duplicate_rate: args.chaos_duplicate_rate,
        late_rate: args.chaos_late_rate,
        malformed_rate: args.chaos_malformed_rate,
    };
    for (name, rate) in [
        ("--chaos-duplicate-rate", chaos.duplicate_rate),
        ("--chaos-late-rate", chaos.late_rate),
        ("--chaos-malformed-rate", chaos.malformed_rate),
    ] {
        anyhow::ensure!(
            (0.0..=1.0).contains(&rate),
            "{name} must be within 0..=1, got {rate}"
        );
    }
    if let Some(dir) = &args.dimensions {
        write_dimension_tables(&catalog, dir)
            .with_context(|| format!("writing dimension tables to {}", dir.display()))?;
    }
    let generator = Generator::new(&configs, &catalog, now, args.seed)?;
    eprintln!(
        "generate: now = {} UTC, {} location(s)",
        format_timestamp(now),
        configs.len()
    );
    if !args.no_backfill {
        let options = BackfillOptions {
            file_events: args.backfill_file_events.max(1),
            chaos,
            progress: true,
            threads: 0,
        };
        let summary = write_backfill(&generator, &args.out, &options)?;
        eprintln!("backfill: {summary}");
    }
    if args.live {
        let duration = match args.for_seconds {
            Some(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_secs_f64(s)),
            Some(s) => anyhow::bail!("--for must be a non-negative number of seconds, got {s}"),
            None => None,
        };
        let options = LiveOptions {
            speed_up: args.speed_up,
            duration,
            chaos,
        };
        let stop = live::ctrl_c_flag();
        let summary = run_live(&generator, &args.out, &options, stop)?;
        eprintln!("live: {summary}");
    }
    Ok(())
}
