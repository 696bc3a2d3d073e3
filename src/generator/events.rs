//! One generated event row and its exact file encoding: the original's field order
//! `{"event_id", "event_type", "ts", "gk_id", "location", "order_id", "sequence", "body"}`,
//! `ts` as `%Y-%m-%d %H:%M:%S.%f`, and `body` the `json.dumps` text of the body object
//! embedded as a string.

use std::cmp::Ordering;
use std::fmt::Write;
use std::sync::Arc;

use caspers_dataflows::model::{Event, EventType, Item};
use caspers_dataflows::time::{format_timestamp, Micros};

use super::json::push_str;

/// A generated event, before it is written to a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedEvent {
    /// Event time, µs since the Unix epoch (naive UTC).
    pub ts: Micros,
    /// Event type.
    pub event_type: EventType,
    /// Position in the order's lifecycle: 0 for `order_created`, 6 + n for `delivered`.
    pub sequence: i64,
    /// 32 lowercase hex digits from the order's seeded stream.
    pub event_id: String,
    /// 32 lowercase hex digits, shared by the order's events.
    pub order_id: Arc<str>,
    /// Ghost-kitchen id of the location (one per seed and location).
    pub gk_id: Arc<str>,
    /// `location_name` of the config.
    pub location: Arc<str>,
    /// The body as the original writes it: `json.dumps` of the body object.
    pub body: String,
    /// The order's items (`order_created` only, empty when `dq` nulled them), so in-memory
    /// users can build [`Event`]s without parsing the body.
    pub items: Vec<Item>,
}

impl GeneratedEvent {
    /// Appends the event as one JSON object, exactly as the original writes it.
    pub fn push_json(&self, out: &mut String) {
        out.push_str("{\"event_id\": ");
        push_str(out, &self.event_id);
        out.push_str(", \"event_type\": \"");
        out.push_str(self.event_type.as_str());
        out.push_str("\", \"ts\": \"");
        out.push_str(&format_timestamp(self.ts));
        out.push_str("\", \"gk_id\": ");
        push_str(out, &self.gk_id);
        out.push_str(", \"location\": ");
        push_str(out, &self.location);
        out.push_str(", \"order_id\": ");
        push_str(out, &self.order_id);
        out.push_str(", \"sequence\": ");
        let _ = write!(out, "{}", self.sequence);
        out.push_str(", \"body\": ");
        push_str(out, &self.body);
        out.push('}');
    }

    /// The event as one JSON object (see [`GeneratedEvent::push_json`]).
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.body.len() + 320);
        self.push_json(&mut out);
        out
    }

    /// The typed bronze record the reader would produce from this event's JSON.
    pub fn to_event(&self) -> Event {
        let ts_raw = format_timestamp(self.ts);
        Event {
            ts: self.ts,
            event_id: self.event_id.clone(),
            body: self.body.clone(),
            event_type: self.event_type,
            order_id: self.order_id.to_string(),
            sequence: self.sequence,
            gk_id: self.gk_id.to_string(),
            location: self.location.to_string(),
            ts_raw,
            items: self.items.clone(),
        }
    }

    /// The order events are written in: by time, then order id, then sequence, so ties
    /// between orders break the same way in every run.
    pub fn write_order(&self, other: &GeneratedEvent) -> Ordering {
        (self.ts, &*self.order_id, self.sequence).cmp(&(other.ts, &*other.order_id, other.sequence))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_in_the_original_field_order() {
        let event = GeneratedEvent {
            ts: caspers_dataflows::time::parse_timestamp("2026-11-25 02:14:33.49882").unwrap(),
            event_type: EventType::DriverPing,
            sequence: 6,
            event_id: "9ff57c2e20544b81a76323c72394db28".to_string(),
            order_id: Arc::from("dabf1ef0a54341a3b2242ec24c79a27a"),
            gk_id: Arc::from("4ef724292ef14e5ebb894886d1421cf2"),
            location: Arc::from("sanfrancisco"),
            body: r#"{"progress_pct": 10.0, "loc_lat": 37.791024, "loc_lon": -122.3860445506673}"#
                .to_string(),
            items: Vec::new(),
        };
        // Copied from the original's sample file (GENERATOR.md §1.10).
        let want = r#"{"event_id": "9ff57c2e20544b81a76323c72394db28", "event_type": "driver_ping", "ts": "2026-11-25 02:14:33.498820", "gk_id": "4ef724292ef14e5ebb894886d1421cf2", "location": "sanfrancisco", "order_id": "dabf1ef0a54341a3b2242ec24c79a27a", "sequence": 6, "body": "{\"progress_pct\": 10.0, \"loc_lat\": 37.791024, \"loc_lon\": -122.3860445506673}"}"#;
        assert_eq!(event.to_json(), want);
    }
}
