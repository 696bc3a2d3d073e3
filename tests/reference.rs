//! The oracle: the six tables computed from a list of events in plain Rust over `BTreeMap`s,
//! written from the specification (`spec/technical-reference.md`, issue 3 and DESIGN.md's
//! contract) without looking at the dataflow's view code. Differential's own tests keep such
//! an oracle next to the real computation (`tests/bfs.rs`, `reduce_reference.rs`).
//!
//! Semantics implemented here, one step per function:
//! - `all_events`: every event exactly as given, duplicates included (the raw log).
//! - de-duplication: an event's identity is `(order_id, event_type, sequence)`; among the copies
//!   of one identity the least by `(ts, event_id, md5(body))` wins, then by the whole `Event`
//!   (its derived `Ord`), so the choice never depends on arrival order.
//! - `silver_order_items`: every chosen `order_created` explodes into one row per element of
//!   `items` (a repeated item stays two rows), `order_ts = ts`, `order_day` its UTC day,
//!   `extended_price = price × qty` in exact micro-dollars.
//! - the four gold tables group silver rows; distinct order counts are exact; no watermark.
//!
//! Every table is a multiset: a `BTreeMap` from row to its (positive) multiplicity.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use md5::Digest;

use caspers_dataflows::model::{
    Event, EventType, GoldBrandSalesDay, GoldItemSalesDay, GoldLocationSalesHourly,
    GoldOrderHeader, SilverOrderItem,
};
use caspers_dataflows::money::Money;
use caspers_dataflows::time::{day_of, hour_of, Day, Micros};

/// A sorted multiset of rows: row ↦ multiplicity (always > 0).
pub(crate) type Multiset<R> = BTreeMap<R, i64>;

/// The six tables of the pipeline, each as a sorted multiset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tables {
    /// Bronze: every event as given.
    pub all_events: Multiset<Event>,
    /// Silver: one row per item per chosen `order_created`.
    pub silver_order_items: Multiset<SilverOrderItem>,
    /// Gold: per (order_id, gk_id, location, order_day).
    pub gold_order_header: Multiset<GoldOrderHeader>,
    /// Gold: per (item_id, menu_id, category_id, brand_id, day).
    pub gold_item_sales_day: Multiset<GoldItemSalesDay>,
    /// Gold: per (brand_id, day).
    pub gold_brand_sales_day: Multiset<GoldBrandSalesDay>,
    /// Gold: per (location, hour_ts).
    pub gold_location_sales_hourly: Multiset<GoldLocationSalesHourly>,
}

/// The six tables the pipeline must hold after ingesting exactly `events` (in any order, in
/// any batching): the entry point for property and end-to-end tests.
pub(crate) fn compute(events: &[Event]) -> Tables {
    let chosen = dedup(events);
    let silver = silver_order_items(&chosen);
    Tables {
        all_events: multiset(events.iter().cloned()),
        gold_order_header: gold_order_header(&silver),
        gold_item_sales_day: gold_item_sales_day(&silver),
        gold_brand_sales_day: gold_brand_sales_day(&silver),
        gold_location_sales_hourly: gold_location_sales_hourly(&silver),
        silver_order_items: multiset(silver),
    }
}

/// One event per identity `(order_id, event_type, sequence)`: the least copy by
/// `(ts, event_id, md5(body))`, then by `Event`'s derived order. Returned sorted by identity.
pub(crate) fn dedup(events: &[Event]) -> Vec<Event> {
    type Rank<'a> = (Micros, &'a str, [u8; 16], &'a Event);
    let mut least: BTreeMap<(String, EventType, i64), Rank<'_>> = BTreeMap::new();
    for event in events {
        let identity = (event.order_id.clone(), event.event_type, event.sequence);
        let md5: [u8; 16] = md5::Md5::digest(event.body.as_bytes()).into();
        let candidate = (event.ts, event.event_id.as_str(), md5, event);
        match least.get(&identity) {
            Some(current) if *current <= candidate => {}
            _ => {
                least.insert(identity, candidate);
            }
        }
    }
    least.into_values().map(|(_, _, _, e)| e.clone()).collect()
}

/// Silver rows of the given (already de-duplicated) events, as a list (repeated items twice).
pub(crate) fn silver_order_items(chosen: &[Event]) -> Vec<SilverOrderItem> {
    let mut rows = Vec::new();
    for event in chosen
        .iter()
        .filter(|e| e.event_type == EventType::OrderCreated)
    {
        for item in &event.items {
            rows.push(SilverOrderItem {
                order_id: event.order_id.as_str().into(),
                gk_id: event.gk_id.as_str().into(),
                location: event.location.as_str().into(),
                order_ts: event.ts,
                order_day: day_of(event.ts),
                item_id: item.id,
                menu_id: item.menu_id,
                category_id: item.category_id,
                brand_id: item.brand_id,
                item_name: item.name.as_str().into(),
                price: item.price,
                qty: item.qty,
                extended_price: Money(item.price.0 * i64::from(item.qty)),
            });
        }
    }
    rows
}

/// `gold_order_header`: group by (order_id, gk_id, location, order_day).
pub(crate) fn gold_order_header(silver: &[SilverOrderItem]) -> Multiset<GoldOrderHeader> {
    #[derive(Default)]
    struct Acc {
        revenue: i64,
        qty: i64,
        items: i64,
        brands: BTreeSet<i32>,
    }
    let mut groups: BTreeMap<(String, String, String, Day), Acc> = BTreeMap::new();
    for row in silver {
        let key = (
            row.order_id.to_string(),
            row.gk_id.to_string(),
            row.location.to_string(),
            row.order_day,
        );
        let acc = groups.entry(key).or_default();
        acc.revenue += row.extended_price.0;
        acc.qty += i64::from(row.qty);
        acc.items += 1;
        acc.brands.insert(row.brand_id);
    }
    multiset(
        groups.into_iter().map(
            |((order_id, gk_id, location, order_day), acc)| GoldOrderHeader {
                order_id: order_id.into(),
                gk_id: gk_id.into(),
                location: location.into(),
                order_day,
                order_revenue: Money(acc.revenue),
                total_qty: acc.qty,
                total_items: acc.items,
                brands_in_order: acc.brands.into_iter().collect(),
            },
        ),
    )
}

/// `gold_item_sales_day`: group by (item_id, menu_id, category_id, brand_id, day).
pub(crate) fn gold_item_sales_day(silver: &[SilverOrderItem]) -> Multiset<GoldItemSalesDay> {
    /// (item_id, menu_id, category_id, brand_id, day).
    type Key = (i32, i32, i32, i32, Day);
    let mut groups: BTreeMap<Key, (i64, i64)> = BTreeMap::new();
    for row in silver {
        let key = (
            row.item_id,
            row.menu_id,
            row.category_id,
            row.brand_id,
            row.order_day,
        );
        let acc = groups.entry(key).or_default();
        acc.0 += i64::from(row.qty);
        acc.1 += row.extended_price.0;
    }
    multiset(groups.into_iter().map(
        |((item_id, menu_id, category_id, brand_id, day), (units, revenue))| GoldItemSalesDay {
            item_id,
            menu_id,
            category_id,
            brand_id,
            day,
            units_sold: units,
            gross_revenue: Money(revenue),
        },
    ))
}

/// `gold_brand_sales_day`: group by (brand_id, day), exact distinct orders.
pub(crate) fn gold_brand_sales_day(silver: &[SilverOrderItem]) -> Multiset<GoldBrandSalesDay> {
    #[derive(Default)]
    struct Acc {
        orders: BTreeSet<String>,
        items: i64,
        revenue: i64,
    }
    let mut groups: BTreeMap<(i32, Day), Acc> = BTreeMap::new();
    for row in silver {
        let acc = groups.entry((row.brand_id, row.order_day)).or_default();
        acc.orders.insert(row.order_id.to_string());
        acc.items += i64::from(row.qty);
        acc.revenue += row.extended_price.0;
    }
    multiset(
        groups
            .into_iter()
            .map(|((brand_id, day), acc)| GoldBrandSalesDay {
                brand_id,
                day,
                orders: count(&acc.orders),
                items_sold: acc.items,
                brand_revenue: Money(acc.revenue),
            }),
    )
}

/// `gold_location_sales_hourly`: group by (location, hour of order_ts), exact distinct orders.
pub(crate) fn gold_location_sales_hourly(
    silver: &[SilverOrderItem],
) -> Multiset<GoldLocationSalesHourly> {
    let mut groups: BTreeMap<(String, Micros), (BTreeSet<String>, i64)> = BTreeMap::new();
    for row in silver {
        let acc = groups
            .entry((row.location.to_string(), hour_of(row.order_ts)))
            .or_default();
        acc.0.insert(row.order_id.to_string());
        acc.1 += row.extended_price.0;
    }
    multiset(
        groups
            .into_iter()
            .map(
                |((location, hour_ts), (orders, revenue))| GoldLocationSalesHourly {
                    location,
                    hour_ts,
                    orders: count(&orders),
                    revenue: Money(revenue),
                },
            ),
    )
}

/// The multiset of `rows`.
pub(crate) fn multiset<R: Ord>(rows: impl IntoIterator<Item = R>) -> Multiset<R> {
    let mut set = Multiset::new();
    for row in rows {
        *set.entry(row).or_insert(0) += 1;
    }
    set
}

/// The rows of a multiset as a sorted list, each repeated by its multiplicity.
pub(crate) fn rows<R: Clone>(set: &Multiset<R>) -> Vec<R> {
    set.iter()
        .flat_map(|(row, n)| std::iter::repeat_n(row.clone(), usize::try_from(*n).unwrap_or(0)))
        .collect()
}

fn count(set: &BTreeSet<String>) -> i64 {
    i64::try_from(set.len()).unwrap_or(i64::MAX)
}

/// Describes how `actual` differs from `expected` (rows present on one side only, with
/// multiplicities), or `None` when equal. `table` names the table in the report.
pub(crate) fn diff_table<R: Ord + Debug>(
    table: &str,
    expected: &Multiset<R>,
    actual: &Multiset<R>,
) -> Option<String> {
    use std::fmt::Write;
    if expected == actual {
        return None;
    }
    let mut report = String::new();
    for (row, n) in expected {
        let m = actual.get(row).copied().unwrap_or(0);
        if m != *n {
            let _ = writeln!(report, "  {table}: reference ×{n}, dataflow ×{m}: {row:?}");
        }
    }
    for (row, m) in actual {
        if !expected.contains_key(row) {
            let _ = writeln!(report, "  {table}: reference ×0, dataflow ×{m}: {row:?}");
        }
    }
    Some(report)
}

impl Tables {
    /// Describes every difference of `actual` from `self` (the reference), table by table, or
    /// `None` when all six tables are equal.
    pub(crate) fn diff(&self, actual: &Tables) -> Option<String> {
        let parts = [
            diff_table("all_events", &self.all_events, &actual.all_events),
            diff_table(
                "silver_order_items",
                &self.silver_order_items,
                &actual.silver_order_items,
            ),
            diff_table(
                "gold_order_header",
                &self.gold_order_header,
                &actual.gold_order_header,
            ),
            diff_table(
                "gold_item_sales_day",
                &self.gold_item_sales_day,
                &actual.gold_item_sales_day,
            ),
            diff_table(
                "gold_brand_sales_day",
                &self.gold_brand_sales_day,
                &actual.gold_brand_sales_day,
            ),
            diff_table(
                "gold_location_sales_hourly",
                &self.gold_location_sales_hourly,
                &actual.gold_location_sales_hourly,
            ),
        ];
        let report: String = parts.into_iter().flatten().collect();
        (!report.is_empty()).then_some(report)
    }
}

#[cfg(test)]
mod tests {
    //! The oracle checked against hand-worked numbers, so it is not merely self-consistent.

    use super::*;
    use caspers_dataflows::model::Item;
    use caspers_dataflows::time::{MICROS_PER_DAY, MICROS_PER_HOUR};

    fn item(id: i32, brand_id: i32, price: i64, qty: i32) -> Item {
        Item {
            id,
            category_id: id * 10,
            menu_id: id * 100,
            brand_id,
            name: format!("item {id}"),
            price: Money(price),
            qty,
        }
    }

    fn created(order_id: &str, location: &str, ts: Micros, items: Vec<Item>) -> Event {
        Event {
            ts,
            event_id: format!("ev-{order_id}"),
            body: "{}".into(),
            event_type: EventType::OrderCreated,
            order_id: order_id.into(),
            sequence: 0,
            gk_id: format!("gk-{location}"),
            location: location.into(),
            ts_raw: String::new(),
            items,
        }
    }

    /// Day 20_000 (2024-10-04), 10:15 and 10:45 and 11:05.
    const D: Micros = 20_000 * MICROS_PER_DAY;

    fn example() -> Vec<Event> {
        let t1015 = D + 10 * MICROS_PER_HOUR + MICROS_PER_HOUR / 4;
        let t1045 = D + 10 * MICROS_PER_HOUR + 3 * MICROS_PER_HOUR / 4;
        let t1105 = D + 11 * MICROS_PER_HOUR + MICROS_PER_HOUR / 12;
        // o1: item 1 (brand 7, $2.50) × 2 twice (repeated item) and item 2 (brand 8, $1) × 1.
        let o1 = created(
            "o1",
            "sf",
            t1015,
            vec![
                item(1, 7, 2_500_000, 2),
                item(1, 7, 2_500_000, 2),
                item(2, 8, 1_000_000, 1),
            ],
        );
        // o2: item 1 × 1 in the same hour and location.
        let o2 = created("o2", "sf", t1045, vec![item(1, 7, 2_500_000, 1)]);
        // o2 again with a later ts: a conflicting copy that must lose to the one above.
        let mut o2_late = created("o2", "sf", t1105, vec![item(2, 8, 1_000_000, 9)]);
        o2_late.event_id = "a-smaller-id-but-later-ts".into();
        // A non-order_created event and an empty order: no silver rows.
        let mut ping = created("o1", "sf", t1105, Vec::new());
        ping.event_type = EventType::DriverPing;
        ping.sequence = 6;
        let empty = created("o3", "oak", t1105, Vec::new());
        vec![o1.clone(), o2, o2_late, ping, empty, o1]
    }

    #[test]
    fn reference_hand_worked_example() {
        let events = example();
        let tables = compute(&events);
        // Bronze keeps all six records, the exact duplicate of o1 twice.
        assert_eq!(tables.all_events.values().sum::<i64>(), 6);
        assert_eq!(tables.all_events[&events[0]], 2);
        // Silver: o1 gives 3 rows (item 1 twice), o2 one row; o1's duplicate counts once.
        assert_eq!(tables.silver_order_items.values().sum::<i64>(), 4);
        let repeated = tables
            .silver_order_items
            .iter()
            .find(|(r, _)| r.order_id.to_string() == "o1");
        assert_eq!(
            repeated.map(|(r, n)| (r.item_id, r.extended_price, *n)),
            Some((1, Money(5_000_000), 2))
        );

        // Header o1: revenue 2×5.00 + 1.00 = 11.00, qty 2+2+1 = 5, 3 item rows, brands {7, 8}.
        let headers: Vec<_> = rows(&tables.gold_order_header);
        assert_eq!(headers.len(), 2);
        assert_eq!(headers[0].order_id.to_string(), "o1");
        assert_eq!(headers[0].order_revenue, Money(11_000_000));
        assert_eq!((headers[0].total_qty, headers[0].total_items), (5, 3));
        assert_eq!(headers[0].brands_in_order, vec![7, 8]);
        assert_eq!(headers[0].order_day, 20_000);
        // Header o2: the copy at 10:45 wins: revenue 2.50, qty 1, 1 row, brands {7}.
        assert_eq!(headers[1].order_revenue, Money(2_500_000));
        assert_eq!((headers[1].total_qty, headers[1].total_items), (1, 1));

        // Item 1 on day 20_000: units 2+2+1 = 5, revenue 5+5+2.5 = 12.50; item 2: 1, 1.00.
        let items: Vec<_> = rows(&tables.gold_item_sales_day);
        assert_eq!(
            items
                .iter()
                .map(|r| (r.item_id, r.units_sold, r.gross_revenue))
                .collect::<Vec<_>>(),
            vec![(1, 5, Money(12_500_000)), (2, 1, Money(1_000_000))]
        );
        // Brand 7: orders {o1, o2} = 2, items 5, revenue 12.50; brand 8: {o1} = 1, 1, 1.00.
        let brands: Vec<_> = rows(&tables.gold_brand_sales_day);
        assert_eq!(
            brands
                .iter()
                .map(|r| (r.brand_id, r.orders, r.items_sold, r.brand_revenue))
                .collect::<Vec<_>>(),
            vec![(7, 2, 5, Money(12_500_000)), (8, 1, 1, Money(1_000_000))]
        );
        // sf 10:00: orders {o1, o2} = 2, revenue 11.00 + 2.50 = 13.50. Nothing at 11:00.
        let hourly: Vec<_> = rows(&tables.gold_location_sales_hourly);
        assert_eq!(
            hourly
                .iter()
                .map(|r| (r.location.as_str(), r.hour_ts, r.orders, r.revenue))
                .collect::<Vec<_>>(),
            vec![("sf", D + 10 * MICROS_PER_HOUR, 2, Money(13_500_000))]
        );
    }

    #[test]
    fn reference_is_independent_of_input_order() {
        let mut events = example();
        let forward = compute(&events);
        events.reverse();
        assert_eq!(compute(&events), forward);
    }

    #[test]
    fn reference_dedup_takes_least_copy_on_every_field() {
        let base = created("o", "sf", D, vec![item(1, 1, 1, 1)]);
        // Same ts: event_id decides; same event_id: the body's MD5 decides (md5("c") =
        // 4a8a… < md5("b") = 92eb…, though "b" < "c"); then the remaining fields.
        let mut by_id = base.clone();
        by_id.event_id = "0".into();
        let (mut body_b, mut body_c) = (base.clone(), base.clone());
        body_b.body = "b".into();
        body_c.body = "c".into();
        let mut by_location = base.clone();
        by_location.location = "aaa".into();
        for (winner, loser) in [(&by_id, &base), (&body_c, &body_b), (&by_location, &base)] {
            assert_eq!(
                dedup(&[loser.clone(), winner.clone()]),
                vec![winner.clone()]
            );
            assert_eq!(
                dedup(&[winner.clone(), loser.clone()]),
                vec![winner.clone()]
            );
        }
        // A different sequence is a different identity: both stay.
        let mut other_seq = base.clone();
        other_seq.sequence = 1;
        assert_eq!(dedup(&[base.clone(), other_seq]).len(), 2);
    }

    #[test]
    fn reference_diff_reports_rows_on_one_side_only() {
        let expected = compute(&example());
        let mut actual = expected.clone();
        assert_eq!(expected.diff(&actual), None);
        let first = actual.gold_brand_sales_day.keys().next().cloned();
        actual.gold_brand_sales_day.remove(&first.unwrap());
        let report = expected.diff(&actual).unwrap();
        assert!(
            report.contains("gold_brand_sales_day: reference ×1, dataflow ×0"),
            "{report}"
        );
    }
}
