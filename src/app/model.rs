//! The API's JSON shapes: what the handlers return and what a validated request holds.
//!
//! Money leaves PostgreSQL as `float8` (a NUMERIC converted once, after any sum, so
//! totals are exact to the cent before the one rounding to a double); money entering it is
//! integer cents, so a decision's amount is stored exactly.

use std::collections::BTreeMap;

use serde::Serialize;

/// Suggestion classes the pipeline writes; `error` marks a recommendation it could not make.
pub const SUGGESTION_CLASSES: [&str; 4] = ["none", "partial", "full", "error"];

/// Classes a person may decide.
pub const DECISION_CLASSES: [&str; 3] = ["none", "partial", "full"];

/// `GET /api/summary`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Recommendations counted (all, or only the non-zero ones unless `include_zero`).
    pub recommendations_count: i64,
    /// All recommendations, whatever `include_zero` says.
    pub total_recommendations: i64,
    /// `recommendations_count` by suggested class (`none`, `partial`, `full` always present).
    pub suggestions_by_class: BTreeMap<String, i64>,
    /// Sum of the counted suggestions' `refund_usd`, `error` rows left out, in dollars.
    pub suggested_total_usd: f64,
    /// Orders with a decision (the latest decision per order counts; a re-decision replaces
    /// the earlier one rather than adding to it).
    pub decisions_count: i64,
    /// `decisions_count` by decided class (`none`, `partial`, `full` always present).
    pub decisions_by_class: BTreeMap<String, i64>,
    /// Sum of the latest decisions' amounts, in dollars.
    pub decided_total_usd: f64,
    /// Counted recommendations with no decision yet.
    pub pending_count: i64,
}

/// The pipeline's suggestion for one order, read from its row and `agent_response`.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    /// `none`, `partial`, `full` or `error`.
    pub refund_class: String,
    /// Suggested refund, in dollars.
    pub refund_usd: f64,
    /// Why, from `agent_response` (a note when that is not valid JSON).
    pub reason: String,
    /// Minutes from order to delivery, when the recommender reported it.
    pub delivery_minutes: Option<f64>,
    /// The location's 75th-percentile delivery minutes the recommender compared against.
    pub p75: Option<f64>,
    /// The location's 99th-percentile delivery minutes.
    pub p99: Option<f64>,
}

/// A stored decision (`refund_decisions` without `source_suggestion`).
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// Row id; later decisions for an order have later ids.
    pub id: i64,
    /// The order decided.
    pub order_id: String,
    /// When it was recorded, ISO 8601 in UTC.
    pub decided_ts: String,
    /// Refund granted, in dollars.
    pub amount_usd: f64,
    /// `none`, `partial` or `full`.
    pub refund_class: String,
    /// The reviewer's reason.
    pub reason: String,
    /// Who decided, when given.
    pub decided_by: Option<String>,
}

/// Whether a recommendation has a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No decision yet.
    Pending,
    /// At least one decision recorded.
    Applied,
}

impl Status {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Applied => "applied",
        }
    }
}

/// One row of `GET /api/recommendations`.
#[derive(Debug, Clone, Serialize)]
pub struct RecommendationItem {
    /// The order.
    pub order_id: String,
    /// When the pipeline last changed this recommendation, ISO 8601 in UTC.
    pub ts: String,
    /// When the order was delivered, ISO 8601 in UTC, when known.
    pub order_ts: Option<String>,
    /// The order's revenue in dollars, when known (the ceiling for a refund).
    pub order_revenue: Option<f64>,
    /// What the pipeline suggests.
    pub suggestion: Suggestion,
    /// The latest decision, if any.
    pub decision: Option<Decision>,
    /// `pending` or `applied`.
    pub status: Status,
}

/// `GET /api/recommendations`.
#[derive(Debug, Clone, Serialize)]
pub struct RecommendationPage {
    /// This page, newest delivery first.
    pub items: Vec<RecommendationItem>,
    /// Page size used (the requested one, capped).
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
    /// Rows matching the filters, across all pages.
    pub total: i64,
    /// Whether rows follow this page.
    pub has_more: bool,
}

/// One event of `GET /api/orders/{order_id}/events`.
#[derive(Debug, Clone, Serialize)]
pub struct OrderEvent {
    /// The event's id, when the source had one.
    pub event_id: Option<String>,
    /// `order_created`, `gk_started`, …, `delivered`.
    pub event_type: String,
    /// Event time, ISO 8601 in UTC.
    pub ts: String,
    /// The ghost kitchen.
    pub gk_id: Option<String>,
    /// The location.
    pub location: Option<String>,
    /// Position in the order's event sequence.
    pub sequence: i64,
    /// The event body, parsed (null when absent).
    pub body: serde_json::Value,
}

/// `GET /api/orders/{order_id}/events`.
#[derive(Debug, Clone, Serialize)]
pub struct OrderEvents {
    /// The order.
    pub order_id: String,
    /// Its events except driver pings, by sequence.
    pub events: Vec<OrderEvent>,
}

/// A validated `POST /api/refunds` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDecision {
    /// The order, trimmed, non-empty.
    pub order_id: String,
    /// Refund, in cents, ≥ 0.
    pub amount_cents: i64,
    /// `none`, `partial` or `full`.
    pub refund_class: String,
    /// Trimmed, non-empty.
    pub reason: String,
    /// Trimmed; empty becomes `None`.
    pub decided_by: Option<String>,
}

/// A validated `GET /api/recommendations` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Page size, 0 to [`crate::app::params::MAX_LIMIT`].
    pub limit: i64,
    /// Rows to skip, ≥ 0.
    pub offset: i64,
    /// Include $0 suggestions.
    pub include_zero: bool,
    /// Only pending or only applied recommendations.
    pub status: Option<Status>,
    /// Only this suggested class.
    pub refund_class: Option<String>,
    /// Only order ids starting with this.
    pub q: Option<String>,
}

/// Parses `agent_response` into a suggestion, trusting the row's own class and amount (the
/// pipeline writes those columns; the JSON adds the reason and delivery figures).
pub fn suggestion(refund_class: String, refund_usd: f64, agent_response: &str) -> Suggestion {
    let parsed: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(agent_response).ok();
    let number = |key: &str| {
        parsed
            .as_ref()
            .and_then(|m| m.get(key))
            .and_then(serde_json::Value::as_f64)
    };
    let reason = match &parsed {
        Some(m) => m
            .get("reason")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string(),
        None => "agent response is not valid JSON".to_string(),
    };
    Suggestion {
        refund_class,
        refund_usd,
        reason,
        delivery_minutes: number("delivery_minutes"),
        p75: number("p75"),
        p99: number("p99"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestion_from_agent_response() {
        let s = suggestion(
            "partial".into(),
            4.5,
            r#"{"refund_class":"partial","refund_usd":4.5,"reason":"late","delivery_minutes":52.5,"p75":40,"p99":70}"#,
        );
        assert_eq!(s.reason, "late");
        assert_eq!(
            (s.delivery_minutes, s.p75, s.p99),
            (Some(52.5), Some(40.0), Some(70.0))
        );
        let s = suggestion("error".into(), 0.0, "not json");
        assert_eq!(s.reason, "agent response is not valid JSON");
        assert_eq!(s.delivery_minutes, None);
    }
}
