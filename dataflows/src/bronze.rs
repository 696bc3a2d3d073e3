//! Bronze: `all_events`, the raw log, and the identity-based de-duplication every later stage
//! reads through.
//!
//! Reference (technical-reference.md, "all_events"):
//! ```python
//! @dlt.table(comment="Raw JSON events as ingested (one file per event).")
//! def all_events():
//!     return (
//!         spark.readStream.format("cloudFiles")
//!              .option("cloudFiles.format", "json")
//!              .load(f"/Volumes/{CATALOG}/{SCHEMA}/{VOLUME}")
//!     )
//! ```
//! Differences, on purpose:
//! - Bronze keeps every well-formed record exactly as ingested, duplicates included; records the
//!   reader rejects never get here (they are dead letters, counted by reason).
//! - From silver on, an event's identity is (order_id, event_type, sequence) and copies of one
//!   identity count once. When copies differ, the least by (ts, event_id, body) wins, so the
//!   choice never depends on arrival order, batching or worker count.

use differential_dataflow::lattice::Lattice;
use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use timely::order::TotalOrder;
use timely::progress::Timestamp;

use crate::least::least_per_key;
use crate::model::{Delivery, Event, EventType, Line, Order};
use crate::text::Text;
use crate::time::Micros;

/// The bronze view: every well-formed event as ingested.
pub fn all_events<'s, T>(events: VecCollection<'s, T, Event>) -> VecCollection<'s, T, Event>
where
    T: Timestamp + Lattice,
{
    events
}

/// One copy per identity (order_id, event_type, sequence) among events of type `event_type`:
/// the least by (ts, event_id, body), which is the derived order of [`Event`].
pub fn dedup<'s, T>(
    events: VecCollection<'s, T, Event>,
    event_type: EventType,
) -> VecCollection<'s, T, Event>
where
    T: Timestamp + Lattice + TotalOrder,
{
    dedup_where(events, move |e| e.event_type == event_type)
}

/// [`dedup`] over the events `keep` accepts, of any types.
pub fn dedup_where<'s, T>(
    events: VecCollection<'s, T, Event>,
    keep: impl Fn(&Event) -> bool + 'static,
) -> VecCollection<'s, T, Event>
where
    T: Timestamp + Lattice + TotalOrder,
{
    let pairs = events
        .filter(move |e| keep(e))
        .map(|e| ((e.order_id.clone(), e.event_type, e.sequence), e));
    least_per_key(pairs, "bronze: dedup by identity", |_identity, event| {
        event.clone()
    })
}

/// One copy of an identity, as [`orders_and_deliveries`] keeps it: the [`Event`] without the
/// fields of the identity, with ids and names as [`Text`].
///
/// WARNING: the field order is [`Event`]'s minus (event_type, order_id, sequence), which all
/// copies of one identity share, and `Text`/`Line` order like `String`/`Item`; so the derived
/// `Ord` ranks the copies of one identity exactly as `Event`'s does, and the least copy here is
/// the projection of the copy [`dedup`] keeps. Do not reorder.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct Candidate {
    ts: Micros,
    event_id: Text,
    body: String,
    gk_id: Text,
    location: Text,
    ts_raw: String,
    items: Vec<Line>,
}

/// The winner of one identity, as the views downstream read it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Winner {
    Order(Order),
    Delivery(Delivery),
}

/// [`dedup`] of the `order_created` events, as [`Order`]s, and of the `delivered` events, as
/// [`Delivery`]s: one [`least_per_key`] for both (the identity includes the type), keeping of
/// each winner only what the views read. The raw text (body, `event_id`, `ts_raw`) stays in its
/// state, where the tie-breaker needs it, and nowhere downstream.
///
/// Every `Event` is moved, never cloned, into its projection: this is the only reader of the
/// events besides the optional Postgres sink.
pub fn orders_and_deliveries<'s, T>(
    events: VecCollection<'s, T, Event>,
) -> (VecCollection<'s, T, Order>, VecCollection<'s, T, Delivery>)
where
    T: Timestamp + Lattice + TotalOrder,
{
    let copies = events.flat_map(|e| {
        let Event {
            ts,
            event_id,
            body,
            event_type,
            order_id,
            sequence,
            gk_id,
            location,
            ts_raw,
            items,
        } = e;
        if !matches!(event_type, EventType::OrderCreated | EventType::Delivered) {
            return None;
        }
        let copy = Candidate {
            ts,
            event_id: Text::from(event_id),
            body,
            gk_id: Text::from(gk_id),
            location: Text::from(location),
            ts_raw,
            items: items.into_iter().map(Line::from).collect(),
        };
        Some(((Text::from(order_id), event_type, sequence), copy))
    });
    let winners = least_per_key(
        copies,
        "bronze: dedup order_created and delivered by identity",
        |(order_id, event_type, _), copy: &Candidate| {
            if *event_type == EventType::OrderCreated {
                Winner::Order(Order {
                    order_id: order_id.clone(),
                    ts: copy.ts,
                    gk_id: copy.gk_id.clone(),
                    location: copy.location.clone(),
                    items: copy.items.clone(),
                })
            } else {
                Winner::Delivery(Delivery {
                    order_id: order_id.clone(),
                    ts: copy.ts,
                    location: copy.location.clone(),
                })
            }
        },
    );
    let orders = winners.clone().flat_map(|w| match w {
        Winner::Order(o) => Some(o),
        Winner::Delivery(_) => None,
    });
    let deliveries = winners.flat_map(|w| match w {
        Winner::Delivery(d) => Some(d),
        Winner::Order(_) => None,
    });
    (orders, deliveries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{event, run_epochs};

    #[test]
    fn keeps_least_copy_whatever_the_arrival_order() {
        let a = event(EventType::OrderCreated, "o1", 0, 10, "b");
        let b = event(EventType::OrderCreated, "o1", 0, 5, "z"); // earlier ts wins
        let c = event(EventType::OrderCreated, "o2", 0, 7, "a");
        let d = event(EventType::Delivered, "o1", 9, 7, "a"); // other type: filtered out
        let out = run_epochs(
            vec![vec![a.clone(), c.clone(), d], vec![b.clone(), a.clone()]],
            |events| dedup(events, EventType::OrderCreated),
        );
        // Epoch 0: o1 -> a, o2 -> c. Epoch 1: b (ts 5 < 10) replaces a; the second copy of a
        // changes nothing.
        assert_eq!(
            out,
            vec![(c, 0, 1), (a.clone(), 0, 1), (b, 1, 1), (a, 1, -1)]
        );
    }

    #[test]
    fn projected_dedup_keeps_the_same_copy() {
        // Copies of one identity that tie on ts and event_id: the body decides, then gk_id,
        // location and ts_raw, as in `Event`'s order.
        let mut a = event(EventType::OrderCreated, "o1", 0, 10, "b");
        let mut b = a.clone();
        b.body = "a".into();
        a.gk_id = "0".into(); // would win if gk_id were compared before the body
        let mut c = b.clone();
        c.ts_raw = "x".into();
        c.gk_id = "gk2".into();
        let mut delivered = b.clone();
        delivered.event_type = EventType::Delivered;
        for copies in [
            vec![a.clone(), b.clone(), c.clone(), delivered.clone()],
            vec![delivered.clone(), c, a, b.clone()],
        ] {
            let out = run_epochs(vec![copies], |events| orders_and_deliveries(events).0);
            let winner = Order {
                order_id: Text::from("o1"),
                ts: b.ts,
                gk_id: Text::from(b.gk_id.as_str()),
                location: Text::from(b.location.as_str()),
                items: Vec::new(),
            };
            assert_eq!(out, vec![(winner, 0, 1)]);
        }
    }
}
