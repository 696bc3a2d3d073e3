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
use timely::progress::Timestamp;

use crate::model::{Event, EventType};

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
    T: Timestamp + Lattice,
{
    dedup_where(events, move |e| e.event_type == event_type)
}

/// [`dedup`] over the events `keep` accepts, of any types.
pub fn dedup_where<'s, T>(
    events: VecCollection<'s, T, Event>,
    keep: impl Fn(&Event) -> bool + 'static,
) -> VecCollection<'s, T, Event>
where
    T: Timestamp + Lattice,
{
    events
        .filter(move |e| keep(e))
        .map(|e| ((e.order_id.clone(), e.event_type, e.sequence), e))
        .reduce_named("bronze: dedup by identity", |_identity, copies, output| {
            // `copies` is sorted by value, so the first one with a positive count is the least.
            if let Some((first, _)) = copies.iter().find(|(_, count)| *count > 0) {
                output.push(((*first).clone(), 1));
            }
        })
        .map(|(_identity, event)| event)
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
}
