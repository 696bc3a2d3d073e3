//! Generator config files: the original's JSON keys (every one of them, so the original
//! `sanfrancisco.json`/`chicago.json` load unchanged) plus `gk_lat`/`gk_lon`, which place the
//! kitchen on our synthetic street grid instead of geocoding `gk_location` over the network.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::GeneratorError;

/// One location's generator config, shaped like the original's config files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorConfig {
    /// The window starts this many days before `now` (day 0 is that date, from 00:00 UTC).
    pub start_days_ago: f64,
    /// The window ends this many days after `now`.
    pub end_days_ahead: f64,
    /// Live mode plays simulated time this many times faster than the wall clock.
    pub speed_up: f64,
    /// Orders per day on day 0, before weekday factor and noise.
    pub orders_day_1: f64,
    /// Orders per day on the last day of the window (linear ramp in between).
    pub orders_last: f64,
    /// Daily volume noise: each day's volume is multiplied by U(1 − p/100, 1 + p/100).
    pub noise_pct: f64,
    /// Stage service times, each `[mean, sigma]` in minutes.
    pub svc: Svc,
    /// When the driver arrives at the kitchen.
    pub driver_arrival: DriverArrival,
    /// Fractions of brands that improve, stay flat or decline.
    pub brand_momentum: BrandMomentum,
    /// Per-30-day growth and decline rates of improving and declining brands.
    pub momentum_rates: MomentumRates,
    /// Data-quality injection: `dq[event_type][body_field]` = probability of nulling that field.
    #[serde(default)]
    pub dq: BTreeMap<String, BTreeMap<String, f64>>,
    /// Street address of the kitchen (informational: we never geocode).
    #[serde(default)]
    pub gk_location: String,
    /// Kitchen latitude; defaults to the known coordinates of `location_name`.
    #[serde(default)]
    pub gk_lat: Option<f64>,
    /// Kitchen longitude; defaults to the known coordinates of `location_name`.
    #[serde(default)]
    pub gk_lon: Option<f64>,
    /// The `location` field of every event.
    pub location_name: String,
    /// Customers live within this many miles (straight line) of the kitchen.
    pub radius_mi: f64,
    /// Driving speed; drive time = route length / driver_mph.
    pub driver_mph: f64,
    /// Live mode writes a file once this many events are buffered.
    pub batch_rows: usize,
    /// Live mode writes a non-empty buffer at least this often (seconds).
    pub batch_seconds: f64,
    /// Seconds between two driver pings.
    pub ping_sec: f64,
    /// Seed of every random draw for this location.
    pub random_seed: u64,
}

/// Stage service times (`[mean, sigma]`, minutes), drawn as `max(0.1, N(mean, sigma))`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Svc {
    /// created → gk_started.
    pub cs: [f64; 2],
    /// gk_started → gk_finished (cooking).
    pub sf: [f64; 2],
    /// gk_finished → gk_ready (packaging).
    pub fr: [f64; 2],
    /// gk_ready → driver_picked_up.
    pub rp: [f64; 2],
}

/// Driver arrival: a Beta(alpha, beta) fraction of an interval chosen by `after_ready_pct`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriverArrival {
    /// Beta shape α.
    pub alpha: f64,
    /// Beta shape β.
    pub beta: f64,
    /// Probability that the driver arrives between ready and pickup (else between created
    /// and ready).
    pub after_ready_pct: f64,
}

/// Fractions of brands per momentum class (cumulative cuts over the shuffled brand list).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BrandMomentum {
    /// Fraction of improving brands.
    pub improving: f64,
    /// Fraction of flat brands.
    pub flat: f64,
    /// Fraction of declining brands (the rest; informational).
    pub declining: f64,
}

/// Momentum rates, applied per 30 days: `(1 + growth)^(d/30)` and `(1 − decline)^(d/30)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MomentumRates {
    /// Growth per 30 days of improving brands.
    pub growth: f64,
    /// Decline per 30 days of declining brands.
    pub decline: f64,
}

/// Kitchen coordinates of the locations the original shipped, for configs without
/// `gk_lat`/`gk_lon`.
pub const KNOWN_LOCATIONS: [(&str, f64, f64); 2] = [
    ("sanfrancisco", 37.791024, -122.392865),
    ("chicago", 41.890, -87.631),
];

const SANFRANCISCO_JSON: &str = include_str!("../../configs/sanfrancisco.json");
const CHICAGO_JSON: &str = include_str!("../../configs/chicago.json");

impl GeneratorConfig {
    /// Parses a config from JSON text.
    pub fn from_json(text: &str) -> Result<GeneratorConfig, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Reads and parses a config file, checking that it can drive the model.
    pub fn load(path: &Path) -> Result<GeneratorConfig, GeneratorError> {
        let text = std::fs::read_to_string(path).map_err(|source| GeneratorError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let config =
            GeneratorConfig::from_json(&text).map_err(|source| GeneratorError::ConfigParse {
                path: path.to_path_buf(),
                source,
            })?;
        config.validate().map_err(|reason| GeneratorError::Config {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(config)
    }

    /// The config shipped in `configs/<name>.json` (`sanfrancisco` or `chicago`), compiled in
    /// so `demo` and tests need no files.
    pub fn builtin(name: &str) -> Option<GeneratorConfig> {
        let text = match name {
            "sanfrancisco" => SANFRANCISCO_JSON,
            "chicago" => CHICAGO_JSON,
            _ => return None,
        };
        GeneratorConfig::from_json(text).ok()
    }

    /// The kitchen's coordinates: `gk_lat`/`gk_lon`, else the known location's.
    pub fn kitchen(&self) -> Option<(f64, f64)> {
        match (self.gk_lat, self.gk_lon) {
            (Some(lat), Some(lon)) => Some((lat, lon)),
            _ => KNOWN_LOCATIONS
                .iter()
                .find(|(name, _, _)| *name == self.location_name)
                .map(|(_, lat, lon)| (*lat, *lon)),
        }
    }

    /// Checks the values the model divides by or samples from.
    pub fn validate(&self) -> Result<(), String> {
        if self.kitchen().is_none() {
            return Err(format!(
                "no gk_lat/gk_lon and no known coordinates for location {:?}",
                self.location_name
            ));
        }
        let positive = [
            ("radius_mi", self.radius_mi),
            ("driver_mph", self.driver_mph),
            ("ping_sec", self.ping_sec),
            ("driver_arrival.alpha", self.driver_arrival.alpha),
            ("driver_arrival.beta", self.driver_arrival.beta),
        ];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("{name} must be a positive number, got {value}"));
            }
        }
        let finite = [
            ("start_days_ago", self.start_days_ago),
            ("end_days_ahead", self.end_days_ahead),
            ("orders_day_1", self.orders_day_1),
            ("orders_last", self.orders_last),
            ("noise_pct", self.noise_pct),
        ];
        for (name, value) in finite {
            if !value.is_finite() || value < 0.0 {
                return Err(format!("{name} must be a non-negative number, got {value}"));
            }
        }
        if self.start_days_ago + self.end_days_ahead > 36_600.0 {
            return Err("the window is longer than a century".to_string());
        }
        for (name, [mu, sigma]) in [
            ("cs", self.svc.cs),
            ("sf", self.svc.sf),
            ("fr", self.svc.fr),
            ("rp", self.svc.rp),
        ] {
            if !(mu.is_finite() && sigma.is_finite() && sigma >= 0.0) {
                return Err(format!(
                    "svc.{name} must be [mean, sigma >= 0], got [{mu}, {sigma}]"
                ));
            }
        }
        if self.batch_rows == 0 {
            return Err("batch_rows must be at least 1".to_string());
        }
        if self.location_name.is_empty() {
            return Err("location_name must not be empty".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_configs_load_and_validate() {
        for name in ["sanfrancisco", "chicago"] {
            let config = GeneratorConfig::builtin(name).unwrap();
            assert_eq!(config.location_name, name);
            config.validate().unwrap();
        }
    }

    #[test]
    fn original_keys_without_coordinates_use_known_location() {
        let mut config = GeneratorConfig::builtin("chicago").unwrap();
        config.gk_lat = None;
        config.gk_lon = None;
        assert_eq!(config.kitchen(), Some((41.890, -87.631)));
        config.location_name = "atlantis".to_string();
        assert!(config.validate().is_err());
    }
}
