//! `refund_recommendations`: a deterministic refund policy per delivered order, maintained
//! exactly and incrementally.
//!
//! Reference (technical-reference.md, "refund_recommendations"):
//! ```python
//! refund_recommendations = spark.readStream.table(f"{CATALOG}.lakeflow.all_events") \
//!     .filter("event_type = 'delivered'") \
//!     .filter(
//!         # For historical data (ts < current_time), sample 10%
//!         # For new data (ts >= current_time), process 100%
//!         (F.col("ts") >= current_time) |
//!         ((F.col("ts") < current_time) & (F.rand() < 0.1))
//!     ) \
//!     .select(
//!         F.col("order_id"),
//!         F.current_timestamp().alias("ts"),
//!         get_chat_completion_udf(F.col("order_id")).alias("agent_response"),
//!     )
//! ```
//! Differences, on purpose:
//! - The LLM is replaced by a policy over exact percentiles: per location and delivery hour H,
//!   P50/P75/P99 (linear interpolation, as Spark's `percentile`) of delivery minutes over that
//!   location's orders delivered in [H − 24h, H). At most P75: none; up to P99: partial (15 % of
//!   the order's revenue); beyond: full; amounts rounded to the nearest $0.50. Fewer than
//!   `min_samples` deliveries in the window: none, saying so.
//! - Sampling is reproducible: a delivery before `live_from` is kept when a stable hash of its
//!   order id falls in the first `historical_sample_pct` percent.
//! - Late events update every recommendation whose inputs changed (the window percentiles or
//!   the order's own times).
//! - `ts` (processing time) is stamped by the sinks, which own the clock.

use std::sync::Arc;

use differential_dataflow::hashable::Hashable;
use differential_dataflow::lattice::Lattice;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::{ValBuilder, ValSpine};
use differential_dataflow::{Data, ExchangeData, VecCollection};
use serde::{Deserialize, Serialize};
use timely::progress::Timestamp;

use crate::hash::stable_hash;
use crate::model::Order;
use crate::money::Money;
use crate::text::Text;
use crate::time::{hour_of, Micros, MICROS_PER_HOUR};

/// Every number of the policy (`configs/refund_policy.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefundPolicy {
    /// Fewer deliveries than this in the window ⇒ no refund ("not enough recent history").
    pub min_samples: i64,
    /// Window length in whole hours before the delivery hour.
    pub window_hours: i64,
    /// Percentile (0–100) above which a delivery earns a partial refund.
    pub partial_above_percentile: i64,
    /// Percentile (0–100) above which a delivery earns a full refund.
    pub full_above_percentile: i64,
    /// Partial refund, percent of the order's revenue.
    pub partial_pct: i64,
    /// Full refund, percent of the order's revenue.
    pub full_pct: i64,
    /// Amounts are rounded to the nearest multiple of this many cents.
    pub round_to_cents: i64,
    /// Share (percent) of deliveries before `live_from` that get a recommendation.
    pub historical_sample_pct: u64,
}

impl Default for RefundPolicy {
    fn default() -> Self {
        RefundPolicy {
            min_samples: 20,
            window_hours: 24,
            partial_above_percentile: 75,
            full_above_percentile: 99,
            partial_pct: 15,
            full_pct: 100,
            round_to_cents: 50,
            historical_sample_pct: 10,
        }
    }
}

/// Whether a delivery gets a recommendation: all from `live_from` on, a stable sample before.
pub fn is_sampled(order_id: &str, delivered_ts: Micros, live_from: Micros, pct: u64) -> bool {
    delivered_ts >= live_from || stable_hash(order_id.as_bytes()) % 100 < pct
}

/// Delivery-time percentiles of one location's window, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WindowStats {
    /// Deliveries in the window.
    pub samples: i64,
    /// Median delivery time.
    pub p50: i64,
    /// The partial-refund threshold percentile.
    pub p_partial: i64,
    /// The full-refund threshold percentile.
    pub p_full: i64,
}

/// One recommendation (the sinks add the processing time `ts`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RefundRecommendation {
    /// Order id.
    pub order_id: String,
    /// The delivered event's time (µs UTC).
    pub order_ts: Micros,
    /// Location of the delivery.
    pub location: String,
    /// `none`, `partial` or `full`.
    pub refund_class: String,
    /// Recommended refund.
    pub refund_usd: Money,
    /// The order's revenue.
    pub order_revenue: Money,
    /// Delivered minus created, µs.
    pub delivery_micros: i64,
    /// The location window's delivery-time percentiles (µs): samples and P50 / partial / full
    /// thresholds, for agents that explain or override the decision.
    pub window: WindowStats,
    /// One-line JSON: refund_class, refund_usd, reason, delivery_minutes, p75, p99.
    pub agent_response: String,
}

/// Linear-interpolation percentile (`pct` in 0–100) of sorted `values`, rounded to a whole
/// microsecond with integer arithmetic so the result never depends on float evaluation order.
pub fn percentile(values: &[i64], pct: i64) -> i64 {
    let n = i64::try_from(values.len()).unwrap_or(i64::MAX);
    if n == 0 {
        return 0;
    }
    let pos = i128::from(pct) * i128::from(n - 1); // position × 100
    let lo = usize::try_from(pos / 100).unwrap_or(0);
    let frac = pos % 100;
    let v_lo = i128::from(values[lo]);
    let v_hi = i128::from(*values.get(lo + 1).unwrap_or(&values[lo]));
    let scaled = v_lo * 100 + (v_hi - v_lo) * frac;
    let rounded = if scaled >= 0 {
        (scaled + 50) / 100
    } else {
        (scaled - 50) / 100
    };
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// `n / d` rounded half away from zero (`d > 0`).
fn round_div(n: i64, d: i64) -> i64 {
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d {
        q + n.signum()
    } else {
        q
    }
}

/// Minutes with one decimal, rounded from whole microseconds (never through a float, so a
/// value exactly halfway always rounds away from zero).
fn minutes_1dp(micros: i64) -> String {
    let tenths = round_div(micros, 6_000_000);
    let sign = if tenths < 0 { "-" } else { "" };
    format!("{sign}{}.{}", tenths.abs() / 10, tenths.abs() % 10)
}

/// Minutes rounded to two decimals, from whole microseconds, as the nearest double.
fn minutes_2dp(micros: i64) -> f64 {
    #[allow(clippy::cast_precision_loss, clippy::as_conversions)]
    let hundredths = round_div(micros, 600_000) as f64;
    hundredths / 100.0
}

/// Applies the policy to one delivery.
pub fn decide(
    policy: &RefundPolicy,
    order_id: &str,
    location: &str,
    order_ts: Micros,
    delivery_micros: i64,
    revenue: Money,
    stats: WindowStats,
) -> RefundRecommendation {
    let m = minutes_1dp(delivery_micros);
    let (p_partial, p_full) = (minutes_1dp(stats.p_partial), minutes_1dp(stats.p_full));
    let (class, share, reason) = if stats.samples < policy.min_samples {
        let reason = format!(
            "Delivered in {m} min; only {} deliveries at this location in the previous {} hours (need {}), so not enough recent history to judge",
            stats.samples, policy.window_hours, policy.min_samples
        );
        ("none", 0, reason)
    } else if delivery_micros <= stats.p_partial {
        let reason = format!(
            "Delivered in {m} min, within this location's P{} of {p_partial} min",
            policy.partial_above_percentile
        );
        ("none", 0, reason)
    } else if delivery_micros <= stats.p_full {
        let reason = format!(
            "Delivered in {m} min, {} min past this location's P{} of {p_partial} min",
            minutes_1dp(delivery_micros - stats.p_partial),
            policy.partial_above_percentile
        );
        ("partial", policy.partial_pct, reason)
    } else {
        let reason = format!(
            "Delivered in {m} min, {} min past this location's P{} of {p_full} min",
            minutes_1dp(delivery_micros - stats.p_full),
            policy.full_above_percentile
        );
        ("full", policy.full_pct, reason)
    };
    let unit = i128::from(policy.round_to_cents.max(1)) * 10_000; // micro-dollars
    let raw = i128::from(revenue.0) * i128::from(share); // × 100
    let amount = (raw + unit * 50) / (unit * 100) * unit;
    let refund = Money(i64::try_from(amount).unwrap_or(0));
    let response = AgentResponse {
        refund_class: class,
        refund_usd: refund.to_f64(),
        reason: &reason,
        delivery_minutes: minutes_2dp(delivery_micros),
        p75: minutes_2dp(stats.p_partial),
        p99: minutes_2dp(stats.p_full),
    };
    RefundRecommendation {
        order_id: order_id.to_string(),
        order_ts,
        location: location.to_string(),
        refund_class: class.to_string(),
        refund_usd: refund,
        order_revenue: revenue,
        delivery_micros,
        window: stats,
        agent_response: response.to_json(),
    }
}

/// The `agent_response` document, in the original's key order plus our three numbers.
struct AgentResponse<'a> {
    refund_class: &'a str,
    refund_usd: f64,
    reason: &'a str,
    delivery_minutes: f64,
    p75: f64,
    p99: f64,
}

impl AgentResponse<'_> {
    fn to_json(&self) -> String {
        fn num(x: f64) -> String {
            // JSON has no NaN/inf; these only arise from absurd inputs.
            if x.is_finite() {
                format!("{x:?}")
            } else {
                "null".into()
            }
        }
        fn text(s: &str) -> String {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        format!(
            "{{\"refund_class\": {}, \"refund_usd\": {}, \"reason\": {}, \"delivery_minutes\": {}, \"p75\": {}, \"p99\": {}}}",
            text(self.refund_class),
            num(self.refund_usd),
            text(self.reason),
            num(self.delivery_minutes),
            num(self.p75),
            num(self.p99)
        )
    }
}

/// `input` reduced by `logic` per key, kept as the reduce's own arrangement so a join can read
/// it without arranging it again (what `reduce_named` does, minus `as_collection`).
fn reduce_arranged<'s, T, K, V, V2, L>(
    input: VecCollection<'s, T, (K, V)>,
    name: &str,
    logic: L,
) -> Arranged<'s, TraceAgent<ValSpine<K, V2, T, isize>>>
where
    T: Timestamp + Lattice,
    K: ExchangeData + Hashable,
    V: ExchangeData,
    V2: Data,
    L: FnMut(&K, &[(&V, isize)], &mut Vec<(V2, isize)>) + 'static,
{
    input
        .arrange_by_key_named(&format!("Arrange: {name}"))
        .reduce_abelian::<_, ValBuilder<_, _, _, _>, ValSpine<K, V2, _, _>, _, _>(
            name,
            logic,
            |vec, key, upds| {
                vec.clear();
                vec.extend(upds.drain(..).map(|(v, t, r)| ((key.clone(), v), t, r)));
            },
        )
}

/// What the refunds read of an order: its id, creation time and revenue.
pub fn created_row(o: &Order) -> (Text, (Micros, i64)) {
    let revenue: i64 = o
        .items
        .iter()
        .map(|i| i.item.price.0 * i64::from(i.qty))
        .sum();
    (o.order_id.clone(), (o.ts, revenue))
}

/// A delivered order as the refunds judge it: (order_id, location, delivered_ts, delivery
/// micros, revenue).
pub type Timed = (Text, Text, Micros, i64, i64);

/// The [`Timed`] row of an order from the (ts, revenue) of its `order_created` winners and the
/// (ts, location) of its delivered ones: the least of each side, joined; `None` until the
/// order has both.
pub fn timed_of<'a>(
    order_id: &Text,
    created: impl IntoIterator<Item = (Micros, i64)>,
    delivered: impl IntoIterator<Item = (Micros, &'a Text)>,
) -> Option<Timed> {
    let (created_ts, revenue) = created.into_iter().min()?;
    let (delivered_ts, location) = delivered.into_iter().min()?;
    Some((
        order_id.clone(),
        location.clone(),
        delivered_ts,
        delivered_ts - created_ts,
        revenue,
    ))
}

/// The recommendations from the [`Timed`] rows of the delivered orders.
pub fn recommendations_from_timed<'s, T>(
    timed: VecCollection<'s, T, Timed>,
    policy: RefundPolicy,
    live_from: Micros,
) -> VecCollection<'s, T, RefundRecommendation>
where
    T: Timestamp + Lattice,
{
    let window = policy.window_hours.max(1);
    let pct = policy.historical_sample_pct;
    let sampled = timed
        .clone()
        .filter(move |(order_id, _, delivered_ts, _, _)| {
            order_id.with_str(|id| is_sampled(id, *delivered_ts, live_from, pct))
        })
        .map(|(order_id, location, delivered_ts, micros, revenue)| {
            (
                (location, hour_of(delivered_ts)),
                (order_id, delivered_ts, micros, revenue),
            )
        });
    // The delivery times of each location and hour, sorted, as one value: a window then reads
    // `window` values instead of every delivery in it (24× fewer records to exchange, sort and
    // arrange than one record per delivery and window).
    let by_hour = timed
        .map(|(_, location, delivered_ts, micros, _)| ((location, hour_of(delivered_ts)), micros))
        .reduce_named(
            "refunds: delivery times per location and hour",
            |_key, values, out| {
                // `values` is sorted by value, so `sorted` is too.
                let mut sorted: Vec<i64> = Vec::new();
                for (micros, count) in values {
                    for _ in 0..usize::try_from(*count).unwrap_or(0) {
                        sorted.push(**micros);
                    }
                }
                if !sorted.is_empty() {
                    out.push((Arc::<[i64]>::from(sorted), 1isize));
                }
            },
        );
    // Each hour's deliveries belong to the windows of the `window` hours after it; the hours a
    // sampled delivery is judged in are marked with `None` so an empty window still exists.
    // The windows share the hour's times (`Arc`) between the workers of a process: a copy each
    // was ~50 MB of a year's peak.
    let contributions = by_hour.flat_map(move |((location, hour), sorted)| {
        (1..=window).map(move |k| {
            (
                (location.clone(), hour + k * MICROS_PER_HOUR),
                Some(sorted.clone()),
            )
        })
    });
    let needed = sampled.clone().map(|(key, _)| (key, None::<Arc<[i64]>>));
    let (p_partial, p_full) = (
        policy.partial_above_percentile,
        policy.full_above_percentile,
    );
    let stats = reduce_arranged(
        contributions.concat(needed),
        "refunds: delivery-time percentiles per location and hour",
        move |_key, values, out| {
            let mut sorted: Vec<i64> = Vec::new();
            for (value, count) in values {
                if let Some(hour) = value {
                    for _ in 0..usize::try_from(*count).unwrap_or(0) {
                        sorted.extend_from_slice(hour);
                    }
                }
            }
            sorted.sort_unstable();
            let samples = i64::try_from(sorted.len()).unwrap_or(i64::MAX);
            out.push((
                WindowStats {
                    samples,
                    p50: percentile(&sorted, 50),
                    p_partial: percentile(&sorted, p_partial),
                    p_full: percentile(&sorted, p_full),
                },
                1isize,
            ));
        },
    );
    sampled.join_core(
        stats,
        move |(location, _hour), (order_id, delivered_ts, micros, revenue), stats| {
            Some(order_id.with_str(|order_id| {
                location.with_str(|location| {
                    decide(
                        &policy,
                        order_id,
                        location,
                        *delivered_ts,
                        *micros,
                        Money(*revenue),
                        *stats,
                    )
                })
            }))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_spark() {
        // Spark: percentile(array(1,2,3,4), 0.75) = 3.25 (position 2.25).
        assert_eq!(percentile(&[100, 200, 300, 400], 75), 325);
        assert_eq!(percentile(&[100, 200, 300, 400], 50), 250);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[], 50), 0);
        // 0.99 × 99 = 98.01 ⇒ v[98] + 0.01 × (v[99] − v[98]).
        let values: Vec<i64> = (0..100).map(|i| i * 1000).collect();
        assert_eq!(percentile(&values, 99), 98_010);
    }

    fn stats(samples: i64, p75_min: i64, p99_min: i64) -> WindowStats {
        WindowStats {
            samples,
            p50: 0,
            p_partial: p75_min * 60_000_000,
            p_full: p99_min * 60_000_000,
        }
    }

    #[test]
    fn policy_classes_amounts_and_reasons() {
        let policy = RefundPolicy::default();
        let revenue = Money(43_370_000); // $43.37
        let at = |minutes: i64, s| decide(&policy, "o", "sf", 0, minutes * 60_000_000, revenue, s);
        let none = at(30, stats(25, 31, 39));
        assert_eq!(
            (none.refund_class.as_str(), none.refund_usd),
            ("none", Money(0))
        );
        assert!(
            none.reason_contains("within this location's P75 of 31.0 min"),
            "{}",
            none.agent_response
        );
        // 15 % of 43.37 = 6.5055 ⇒ nearest $0.50 = 6.50.
        let partial = at(35, stats(25, 31, 39));
        assert_eq!(
            (partial.refund_class.as_str(), partial.refund_usd),
            ("partial", Money(6_500_000))
        );
        assert!(partial.reason_contains(
            "Delivered in 35.0 min, 4.0 min past this location's P75 of 31.0 min"
        ));
        // 100 % of 43.37 ⇒ 43.50.
        let full = at(45, stats(25, 31, 39));
        assert_eq!(
            (full.refund_class.as_str(), full.refund_usd),
            ("full", Money(43_500_000))
        );
        let thin = at(90, stats(19, 31, 39));
        assert_eq!(thin.refund_class, "none");
        assert!(thin.reason_contains("not enough recent history"));
        let doc: Vec<&str> = full.agent_response.split("\"refund_usd\": ").collect();
        assert!(doc[1].starts_with("43.5,"), "{}", full.agent_response);
    }

    impl RefundRecommendation {
        fn reason_contains(&self, text: &str) -> bool {
            self.agent_response.contains(text)
        }
    }

    #[test]
    fn minutes_round_half_away_from_zero_exactly() {
        // 89.05 min exactly is 5,343,000,000 µs; one decimal rounds up to 89.1.
        assert_eq!(minutes_1dp(5_343_000_000), "89.1");
        // 19.955 min exactly is 1,197,300,000 µs; two decimals round up to 19.96.
        assert_eq!(minutes_2dp(1_197_300_000), 19.96);
        assert_eq!(minutes_2dp(-134_700_000), -2.25);
        assert_eq!(minutes_1dp(-3_000_000), "-0.1");
        assert_eq!(minutes_1dp(0), "0.0");
    }

    #[test]
    fn sampling_is_stable_and_about_the_configured_share() {
        let kept = (0..10_000)
            .filter(|i| is_sampled(&format!("{i:032x}"), 0, 1, 10))
            .count();
        assert!((800..1200).contains(&kept), "{kept}");
        assert!(
            is_sampled("anything", 5, 5, 0),
            "live deliveries are always kept"
        );
    }
}
