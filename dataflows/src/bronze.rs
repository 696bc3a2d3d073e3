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
//!   identity count once. When copies differ, the least by (ts, event_id, md5(body)) wins (then
//!   by the remaining fields), so the choice never depends on arrival order, batching or worker
//!   count. MD5 rather than the body itself: see [`crate::body`].

use std::sync::Arc;

use differential_dataflow::lattice::Lattice;
use differential_dataflow::{AsCollection, VecCollection};
use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;
use timely::order::TotalOrder;
use timely::progress::Timestamp;

use std::collections::BTreeMap;

use crate::body::{fingerprint, PackedBody};
use crate::diff::Sums;
use crate::gold::brand_sales_day::{brand_day_rows, BrandDay};
use crate::gold::location_sales_hourly::{location_hour_rows, LocationHour};
use crate::gold::order_header::{header_of, header_row, HeaderKey, HeaderSums};
use crate::least::{fold_per_key_into, least_per_key};
use crate::md5_lanes::md5_many;
use crate::model::{Event, EventType, GoldOrderHeader, Line, Order};
use crate::refunds::{created_row, timed_of, Timed};
use crate::shared::SharedText;
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
/// the least by (ts, event_id, md5(body)), then by the derived order of [`Event`].
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
    let pairs = events.filter(move |e| keep(e)).map(|e| {
        let identity = (e.order_id.clone(), e.event_type, e.sequence);
        (
            identity,
            ((e.ts, e.event_id.clone(), fingerprint(&e.body)), e),
        )
    });
    least_per_key(
        pairs,
        "bronze: dedup by identity",
        |_identity, (_, event)| event.clone(),
    )
}

/// One copy of an identity, as [`per_order`] keeps it: the [`Event`] without the
/// fields of the identity, with ids and names as [`Text`] (kitchen and location shared, as
/// [`SharedText`]) and the body as its MD5.
///
/// WARNING: the field order is [`dedup`]'s order, (ts, event_id, md5(body)) and then
/// [`Event`]'s minus (ts, event_id), minus (event_type, order_id, sequence), which all copies
/// of one identity share, and minus `ts_raw`; `Text`/`Line` order like `String`/`Item`. So
/// the least copy here agrees with the copy [`dedup`] keeps on (ts, event_id, md5(body),
/// gk_id, location), and on `items` too, which the reader derives from the body alone (equal
/// MD5s are taken for equal bodies): its projection is the same winner. `ts_raw` is left out
/// because no view reads it and it can never change the projection; it was ~25 MB of a
/// year's state. `body` is the body where the winner's body is an output
/// ([`dedup_for_order_events`]: a [`PackedBody`]) and nothing (`()`) elsewhere; it comes last,
/// so it decides only between bodies with one MD5. Do not reorder.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct Candidate<B> {
    ts: Micros,
    event_id: Text,
    body_md5: [u8; 16],
    gk_id: SharedText,
    location: SharedText,
    items: Arc<[Line]>,
    body: B,
}

impl<B> Candidate<B> {
    /// An event as its identity and the copy of it the de-duplication keeps, with `keep` of
    /// its body.
    /// `body_md5` is [`fingerprint`] of the event's body.
    fn split(
        e: Event,
        body_md5: [u8; 16],
        keep: impl FnOnce(&str) -> B,
    ) -> ((Text, EventType, i64), Candidate<B>) {
        let Event {
            ts,
            event_id,
            body,
            event_type,
            order_id,
            sequence,
            gk_id,
            location,
            ts_raw: _,
            items,
        } = e;
        let items = if items.is_empty() {
            NO_ITEMS.with(Arc::clone)
        } else {
            items.into_iter().map(Line::from).collect()
        };
        let copy = Candidate {
            ts,
            event_id: Text::from(event_id),
            body_md5,
            gk_id: SharedText::from(Text::from(gk_id)),
            location: SharedText::from(Text::from(location)),
            items,
            body: keep(&body),
        };
        ((Text::from(order_id), event_type, sequence), copy)
    }
}

/// `logic` of each event `keep` accepts and its body's [`fingerprint`], the fingerprints of a
/// batch computed together by [`md5_many`] (eight lanes at once; one by one they were ~3.7% of
/// a replay's instructions).
fn with_body_md5<'s, T, D>(
    events: VecCollection<'s, T, Event>,
    name: &str,
    keep: impl Fn(&Event) -> bool + 'static,
    mut logic: impl FnMut(Event, [u8; 16]) -> Option<D> + 'static,
) -> VecCollection<'s, T, D>
where
    T: Timestamp,
    D: Clone + 'static,
{
    let mut kept = Vec::new();
    events
        .inner
        .unary::<CapacityContainerBuilder<Vec<(D, T, isize)>>, _, _, _>(
            Pipeline,
            name,
            move |_, _| {
                move |input, output| {
                    input.for_each(|time, data| {
                        kept.extend(data.drain(..).filter(|(e, _, _)| keep(e)));
                        let bodies: Vec<&[u8]> =
                            kept.iter().map(|(e, _, _)| e.body.as_bytes()).collect();
                        let digests = md5_many(&bodies);
                        output.session(&time).give_iterator(
                            kept.drain(..)
                                .zip(digests)
                                .filter_map(|((e, t, r), md5)| Some((logic(e, md5)?, t, r))),
                        );
                    });
                }
            },
        )
        .as_collection()
}

thread_local! {
    /// One empty item list per thread, shared by every copy without items (deliveries, most
    /// `order_events`): an empty `Arc` is still an allocation.
    static NO_ITEMS: Arc<[Line]> = Arc::from(Vec::new());
}

/// [`dedup_where`]'s winners as the Postgres sink's `order_events` stores them: every field but
/// `ts_raw` and `items`, which it does not store (they are empty here). The state keeps each
/// copy compactly, as [`per_order`] does (ids as [`Text`]), with its body packed, where
/// [`dedup_where`] kept whole `Event`s: ~1 KB per event, gigabytes for a year. Copies that
/// differ only in `ts_raw` or `items` are one copy here; they would write the same row.
pub fn dedup_for_order_events<'s, T>(
    events: VecCollection<'s, T, Event>,
    keep: impl Fn(&Event) -> bool + 'static,
) -> VecCollection<'s, T, Event>
where
    T: Timestamp + Lattice + TotalOrder,
{
    let pairs = with_body_md5(events, "bronze: order_events copies", keep, |e, md5| {
        Some(Candidate::split(e, md5, PackedBody::pack))
    });
    least_per_key(
        pairs,
        "bronze: dedup for order_events",
        |(order_id, event_type, sequence), copy| Event {
            ts: copy.ts,
            event_id: copy.event_id.to_text_string(),
            body: copy.body.unpack(),
            event_type: *event_type,
            order_id: order_id.to_text_string(),
            sequence: *sequence,
            gk_id: copy.gk_id.text().to_text_string(),
            location: copy.location.text().to_text_string(),
            ts_raw: String::new(),
            items: Vec::new(),
        },
    )
}

/// What [`per_order`] emits for an order: the winners of its `order_created` identities, its
/// `gold_order_header` rows, and, once delivered, the row its refund is judged on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OrderRow {
    /// The winner of one `order_created` identity, as the views read it.
    Order(Order),
    /// A `gold_order_header` row: the order's winners summed per (gk_id, location, day).
    Header(GoldOrderHeader),
    /// The order's earliest creation joined with its earliest delivery.
    Timed(Timed),
    /// A `gold_brand_sales_day` unit: the order once per (brand, day), with its sums there.
    BrandDay(BrandDay, Sums),
    /// A `gold_location_sales_hourly` unit: the order once per (location, hour).
    LocationHour(LocationHour, Sums),
}

/// The de-duplication of `order_created` and `delivered` events ([`dedup`]'s winners, keeping
/// of each only what the views read), with what the views compute per order, in one operator
/// keyed by `order_id`: per order, the copies of every identity of these two types. It emits
/// each `order_created` winner as an [`Order`], the order's `gold_order_header` rows
/// ([`header_of`] of the winners' [`header_row`]s), its refund [`Timed`] row (the least
/// (ts, revenue) of the winners joined with the least (ts, location) of the delivered
/// winners), and its units of the two views that count distinct orders ([`brand_day_rows`],
/// [`location_hour_rows`]).
///
/// One map entry per order holds it all. Keyed by identity, with the header and the refunds'
/// join as folds of their own, the same orders took three maps (~0.1 GB more for a year). The
/// tie-breaker's `event_id` and body MD5 stay in the state and go nowhere downstream. Every `Event` is moved, never cloned, into its projection: this is the only
/// reader of the events besides the optional Postgres sink.
pub fn per_order<'s, T>(events: VecCollection<'s, T, Event>) -> VecCollection<'s, T, OrderRow>
where
    T: Timestamp + Lattice + TotalOrder,
{
    let copies = with_body_md5(
        events,
        "bronze: order copies",
        |e| matches!(e.event_type, EventType::OrderCreated | EventType::Delivered),
        |e, md5| {
            let ((order_id, event_type, sequence), copy) = Candidate::split(e, md5, |_| ());
            Some((order_id, (event_type, sequence, copy)))
        },
    );
    fold_per_key_into(
        copies,
        "bronze: dedup order_created and delivered, per order",
        order_rows,
    )
}

/// A copy of one of an order's identities, as [`per_order`] keeps it: the identity without
/// the order id, and the copy without its body.
type OrderCopy = (EventType, i64, Candidate<()>);

/// [`per_order`]'s rows of one order from the copies of its identities.
fn order_rows(order_id: &Text, copies: &[(OrderCopy, isize)], out: &mut Vec<OrderRow>) {
    let mut orders = Vec::new();
    let mut delivered = Vec::new();
    // Sorted by identity, then by copy: each identity's winner is its first positive copy.
    for identity in copies.chunk_by(|a, b| (a.0 .0, a.0 .1) == (b.0 .0, b.0 .1)) {
        let Some(((event_type, _, copy), _)) = identity.iter().find(|(_, n)| *n > 0) else {
            continue;
        };
        if *event_type == EventType::OrderCreated {
            let order = Order {
                order_id: order_id.clone(),
                ts: copy.ts,
                gk_id: copy.gk_id.text().clone(),
                location: copy.location.text().clone(),
                items: copy.items.clone(),
            };
            orders.push(order);
        } else {
            delivered.push((copy.ts, copy.location.text()));
        }
    }
    let mut headers: BTreeMap<HeaderKey, Vec<(HeaderSums, isize)>> = BTreeMap::new();
    for (key, sums) in orders.iter().filter_map(header_row) {
        headers.entry(key).or_default().push((sums, 1));
    }
    out.extend(
        headers
            .iter()
            .filter_map(|(key, sums)| header_of(key, sums))
            .map(OrderRow::Header),
    );
    let created = orders.iter().map(|order| created_row(order).1);
    out.extend(timed_of(order_id, created, delivered).map(OrderRow::Timed));
    out.extend(
        brand_day_rows(orders.iter())
            .into_iter()
            .map(|(key, sums)| OrderRow::BrandDay(key, sums)),
    );
    out.extend(
        location_hour_rows(orders.iter())
            .into_iter()
            .map(|(key, sums)| OrderRow::LocationHour(key, sums)),
    );
    out.extend(orders.into_iter().map(OrderRow::Order));
}

/// The [`Order`]s of [`per_order`]'s rows.
pub fn orders_of<'s, T>(rows: VecCollection<'s, T, OrderRow>) -> VecCollection<'s, T, Order>
where
    T: Timestamp + Lattice,
{
    rows.flat_map(|row| match row {
        OrderRow::Order(order) => Some(order),
        _ => None,
    })
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

    /// The tie-break is the MD5 of the body, not the body: "c" sorts after "b" but its MD5
    /// (4a8a…) before b's (92eb…), as `md5(body)` orders them in SQL.
    #[test]
    fn md5_of_the_body_breaks_ties() {
        let hex = |d: [u8; 16]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(hex(fingerprint("c")), "4a8a08f09d37b73795649038408b5f33");
        assert_eq!(hex(fingerprint("b")), "92eb5ffee6ae2fec3ad71c777531578f");
        let b = event(EventType::OrderCreated, "o1", 0, 10, "b");
        let mut c = b.clone();
        c.body = "c".into();
        for copies in [vec![b.clone(), c.clone()], vec![c.clone(), b.clone()]] {
            let out = run_epochs(vec![copies.clone()], |events| {
                dedup(events, EventType::OrderCreated)
            });
            assert_eq!(out, vec![(c.clone(), 0, 1)]);
            let for_pg = run_epochs(vec![copies], |events| {
                dedup_for_order_events(events, |_| true)
            });
            assert_eq!(for_pg.len(), 1);
            assert_eq!(for_pg[0].0.body, "c");
        }
    }

    #[test]
    fn projected_dedup_keeps_the_same_copy() {
        // Copies of one identity that tie on ts and event_id: the body's MD5 decides
        // (md5("a") < md5("b")), then gk_id and location, as in `Event`'s order (a differing
        // ts_raw never changes the winner's projection).
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
            let out = run_epochs(vec![copies], |events| orders_of(per_order(events)));
            let winner = Order {
                order_id: Text::from("o1"),
                ts: b.ts,
                gk_id: Text::from(b.gk_id.as_str()),
                location: Text::from(b.location.as_str()),
                items: Vec::new().into(),
            };
            assert_eq!(out, vec![(winner, 0, 1)]);
        }
    }

    /// Items as the reader would derive them from `body` (a function of the body alone).
    fn items_of(body: &str) -> Vec<crate::model::Item> {
        body.bytes()
            .map(|b| crate::model::Item {
                id: i32::from(b),
                category_id: 1,
                menu_id: 1,
                brand_id: i32::from(b % 3),
                name: format!("n{b}"),
                price: crate::money::Money(i64::from(b)),
                qty: 1,
            })
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        /// Copies that differ in any of the fields the tie-breaker reads (few values each, so
        /// ties are common), in any epochs: the projected de-duplication emits exactly the
        /// projection of what `dedup` keeps.
        #[test]
        fn projected_dedup_agrees_with_dedup(epochs in proptest::collection::vec(
            proptest::collection::vec(
                (0u8..3, proptest::bool::ANY, 0i64..2, 0u8..2, 0u8..4, 0u8..2, 0u8..2, 0u8..2),
                0..10,
            ),
            1..4,
        )) {
            let epochs: Vec<Vec<Event>> = epochs
                .into_iter()
                .map(|epoch| {
                    epoch
                        .into_iter()
                        .map(|(order, delivered, ts, id, body, gk, loc, raw)| {
                            let kind = if delivered { EventType::Delivered } else { EventType::OrderCreated };
                            // The last two pack into codes: the Postgres path unpacks them.
                            let body = ["{}", "{\"a\": 1}", "{\"id\": 2}", "{\"delivered_lat\": 1}"][usize::from(body)];
                            let mut e = event(kind, &format!("o{order}"), 0, ts, body);
                            e.event_id = format!("e{id}");
                            e.gk_id = format!("gk{gk}");
                            e.location = format!("loc{loc}");
                            e.ts_raw = format!("raw{raw}");
                            if kind == EventType::OrderCreated {
                                e.items = items_of(body);
                            }
                            e
                        })
                        .collect()
                })
                .collect();
            let projected = run_epochs(epochs.clone(), |events| orders_of(per_order(events)));
            // The Postgres sink's dedup: `dedup_where`'s winners without ts_raw and items.
            let for_pg = run_epochs(epochs.clone(), |events| {
                dedup_for_order_events(events, |e| e.sequence == 0)
            });
            let pg_reference = run_epochs(epochs.clone(), |events| {
                dedup_where(events, |e| e.sequence == 0).map(|e| Event {
                    ts_raw: String::new(),
                    items: Vec::new(),
                    ..e
                })
            });
            proptest::prop_assert_eq!(for_pg, pg_reference);
            let reference = run_epochs(epochs, |events| {
                dedup(events, EventType::OrderCreated).map(|e| Order {
                    order_id: Text::from(e.order_id),
                    ts: e.ts,
                    gk_id: Text::from(e.gk_id),
                    location: Text::from(e.location),
                    items: e.items.into_iter().map(Line::from).collect(),
                })
            });
            proptest::prop_assert_eq!(projected, reference);
        }
    }
}
