//! The typed rows that flow through the dataflow: the bronze event as the original generator
//! writes it, the parsed order body, and one row struct per view. Everything here crosses
//! process boundaries through serde + bincode, so rows are plain structs and externally
//! tagged enums only (no `serde_json::Value`, no `skip_serializing_if`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::text::Text;
use crate::time::{Day, Micros};

/// The eight lifecycle event types, in lifecycle order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// The customer placed the order; the body carries the items.
    OrderCreated,
    /// The kitchen started cooking.
    GkStarted,
    /// The kitchen finished cooking.
    GkFinished,
    /// The order is packed and ready for pickup.
    GkReady,
    /// The driver arrived at the kitchen.
    DriverArrived,
    /// The driver picked the order up; the body carries the route.
    DriverPickedUp,
    /// A position update on the way to the customer.
    DriverPing,
    /// The order reached the customer.
    Delivered,
}

impl EventType {
    /// Every event type, in lifecycle order.
    pub const ALL: [EventType; 8] = [
        EventType::OrderCreated,
        EventType::GkStarted,
        EventType::GkFinished,
        EventType::GkReady,
        EventType::DriverArrived,
        EventType::DriverPickedUp,
        EventType::DriverPing,
        EventType::Delivered,
    ];

    /// The name used in the files (`order_created`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderCreated => "order_created",
            EventType::GkStarted => "gk_started",
            EventType::GkFinished => "gk_finished",
            EventType::GkReady => "gk_ready",
            EventType::DriverArrived => "driver_arrived",
            EventType::DriverPickedUp => "driver_picked_up",
            EventType::DriverPing => "driver_ping",
            EventType::Delivered => "delivered",
        }
    }

    /// The event type named `name`, if it is one of the eight.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One ordered item inside an `order_created` body.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Item {
    /// Item id (`items.id`).
    pub id: i32,
    /// Category id.
    pub category_id: i32,
    /// Menu id.
    pub menu_id: i32,
    /// Brand id.
    pub brand_id: i32,
    /// Item name as written in the body.
    pub name: String,
    /// Unit price, parsed from the JSON number's decimal text.
    pub price: Money,
    /// Quantity ordered; always ≥ 1 (the reader dead-letters anything else).
    pub qty: i32,
}

/// A well-formed bronze event: the original's record, with the timestamp parsed.
///
/// Field order matters: the derived `Ord` makes `(ts, event_id, body)` the tie-breaker when
/// several copies of one identity differ (see [`crate::bronze::dedup`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Event {
    /// Event time, microseconds since the Unix epoch, UTC.
    pub ts: Micros,
    /// `event_id` as written (32 hex chars from the generator); empty when the file had none.
    pub event_id: String,
    /// The body, a JSON document as a string, kept verbatim for bronze.
    pub body: String,
    /// Event type.
    pub event_type: EventType,
    /// Order id.
    pub order_id: String,
    /// Position in the order's lifecycle (`sequence`, or `seq`).
    pub sequence: i64,
    /// Ghost kitchen id.
    pub gk_id: String,
    /// Location name (`sanfrancisco`, …).
    pub location: String,
    /// `ts` exactly as written in the file (bronze keeps the raw string, as the reference).
    pub ts_raw: String,
    /// The parsed items of an `order_created` body; empty for every other type.
    pub items: Vec<Item>,
}

impl Event {
    /// The identity duplicates share: (order_id, event_type, sequence).
    pub fn identity(&self) -> (String, EventType, i64) {
        (self.order_id.clone(), self.event_type, self.sequence)
    }
}

/// What an order line refers to: an item of a menu with its price as the body wrote it.
/// A menu has a few hundred of these and every order repeats them, so lines share one copy
/// ([`Line::new`] interns it) instead of each carrying its own name and ids.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MenuItem {
    /// Item id (`items.id`).
    pub id: i32,
    /// Category id.
    pub category_id: i32,
    /// Menu id.
    pub menu_id: i32,
    /// Brand id.
    pub brand_id: i32,
    /// Item name as written in the body.
    pub name: Text,
    /// Unit price.
    pub price: Money,
}

/// An ordered item as the views carry it: [`Item`] as a shared [`MenuItem`] and a quantity,
/// 16 bytes instead of 56 (a year of San Francisco has ~0.9 M lines and ~200 menu items).
///
/// The fields are in [`Item`]'s order (`Arc` compares what it points to, and `Text` orders
/// like `String`), so the derived `Ord` is [`Item`]'s (the de-duplication tie-breaker
/// compares items last). Serialized flat, as [`Item`]'s fields, and interned again when read
/// (between processes).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "LineWire", into = "LineWire")]
pub struct Line {
    /// The item.
    pub item: Arc<MenuItem>,
    /// Quantity ordered.
    pub qty: i32,
}

/// [`Line`] on the wire: [`Item`]'s fields, flat.
#[derive(Serialize, Deserialize)]
struct LineWire {
    id: i32,
    category_id: i32,
    menu_id: i32,
    brand_id: i32,
    name: Text,
    price: Money,
    qty: i32,
}

impl From<LineWire> for Line {
    fn from(w: LineWire) -> Line {
        let item = MenuItem {
            id: w.id,
            category_id: w.category_id,
            menu_id: w.menu_id,
            brand_id: w.brand_id,
            name: w.name,
            price: w.price,
        };
        Line::new(item, w.qty)
    }
}

impl From<Line> for LineWire {
    fn from(line: Line) -> LineWire {
        let item = Arc::unwrap_or_clone(line.item);
        LineWire {
            id: item.id,
            category_id: item.category_id,
            menu_id: item.menu_id,
            brand_id: item.brand_id,
            name: item.name,
            price: item.price,
            qty: line.qty,
        }
    }
}

impl From<Item> for Line {
    fn from(item: Item) -> Line {
        let menu_item = MenuItem {
            id: item.id,
            category_id: item.category_id,
            menu_id: item.menu_id,
            brand_id: item.brand_id,
            name: Text::from(item.name),
            price: item.price,
        };
        Line::new(menu_item, item.qty)
    }
}

/// Distinct menu items this thread interned at most; past it, lines get their own copy (a
/// stream of made-up items must not grow the table without bound).
const INTERNED_MAX: usize = 1 << 14;

thread_local! {
    /// The menu items lines of this thread share. Per thread, so interning takes no lock;
    /// an item read on two workers is two copies, which is nothing next to one per line.
    static MENU: std::cell::RefCell<std::collections::BTreeSet<Arc<MenuItem>>> =
        const { std::cell::RefCell::new(std::collections::BTreeSet::new()) };
}

impl Line {
    /// A line of `qty` × `item`, sharing `item` with every line of this thread that has it.
    pub fn new(item: MenuItem, qty: i32) -> Line {
        let item = MENU.with_borrow_mut(|menu| {
            if let Some(shared) = menu.get(&item) {
                return Arc::clone(shared);
            }
            let item = Arc::new(item);
            if menu.len() < INTERNED_MAX {
                menu.insert(Arc::clone(&item));
            }
            item
        });
        Line { item, qty }
    }

    /// `price × qty`, exact; the reader bounds price and qty so this cannot overflow, and it
    /// saturates to stay total.
    pub fn extended_price(&self) -> Money {
        self.item
            .price
            .checked_mul(i64::from(self.qty))
            .unwrap_or(Money(i64::MAX))
    }
}

/// A de-duplicated order, as silver, gold and refunds read it: the winning `order_created`
/// copy of one identity without its raw text (body, `event_id`, `ts_raw`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Order {
    /// Order id.
    pub order_id: Text,
    /// `order_created` event time (µs UTC).
    pub ts: Micros,
    /// Ghost kitchen id.
    pub gk_id: Text,
    /// Location name.
    pub location: Text,
    /// The items, in body order; shared (not copied) between the de-duplication's state and
    /// every view and sink the order goes to.
    pub items: Arc<[Line]>,
}

/// A record the reader or the dataflow rejected, with enough context to find and fix it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Short machine-readable reason class (`malformed_json`, `bad_timestamp`, …).
    pub reason: String,
    /// Human-readable detail naming the field and the problem.
    pub detail: String,
    /// Source file, relative to the landing directory.
    pub source_file: String,
    /// Position in the file: `line N` (JSON Lines) or `index N` (JSON array), 1-based lines.
    pub position: String,
    /// The offending text (truncated to a bounded length by the reader).
    pub raw: String,
}

/// `silver_order_items`: one row per item per order. Ids and names are [`Text`] (which orders
/// like `String`): this is the most numerous row of the job, held by the lake sink and sent
/// between processes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SilverOrderItem {
    /// Order id.
    pub order_id: Text,
    /// Ghost kitchen id.
    pub gk_id: Text,
    /// Location name.
    pub location: Text,
    /// `order_created` event time (µs UTC).
    pub order_ts: Micros,
    /// UTC day of `order_ts`.
    pub order_day: Day,
    /// Item id.
    pub item_id: i32,
    /// Menu id.
    pub menu_id: i32,
    /// Category id.
    pub category_id: i32,
    /// Brand id.
    pub brand_id: i32,
    /// Item name.
    pub item_name: Text,
    /// Unit price.
    pub price: Money,
    /// Quantity.
    pub qty: i32,
    /// `price × qty`, exact.
    pub extended_price: Money,
}

/// `gold_order_header`: per-order revenue and counts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GoldOrderHeader {
    /// Order id.
    pub order_id: Text,
    /// Ghost kitchen id.
    pub gk_id: Text,
    /// Location name.
    pub location: Text,
    /// UTC day of the order.
    pub order_day: Day,
    /// Sum of extended prices.
    pub order_revenue: Money,
    /// Sum of quantities.
    pub total_qty: i64,
    /// Number of item rows (the reference's `count(item_id)`).
    pub total_items: i64,
    /// Sorted set of brand ids in the order.
    pub brands_in_order: Vec<i32>,
}

/// `gold_item_sales_day`: units and revenue per item and day.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GoldItemSalesDay {
    /// Item id.
    pub item_id: i32,
    /// Menu id.
    pub menu_id: i32,
    /// Category id.
    pub category_id: i32,
    /// Brand id.
    pub brand_id: i32,
    /// UTC day.
    pub day: Day,
    /// Sum of quantities.
    pub units_sold: i64,
    /// Sum of extended prices.
    pub gross_revenue: Money,
}

/// `gold_brand_sales_day`: orders, items and revenue per brand and day.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GoldBrandSalesDay {
    /// Brand id.
    pub brand_id: i32,
    /// UTC day.
    pub day: Day,
    /// Exact number of distinct orders containing the brand.
    pub orders: i64,
    /// Sum of quantities.
    pub items_sold: i64,
    /// Sum of extended prices.
    pub brand_revenue: Money,
}

/// `gold_location_sales_hourly`: orders and revenue per location and hour.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GoldLocationSalesHourly {
    /// Location name.
    pub location: String,
    /// Order time truncated to the hour (µs UTC).
    pub hour_ts: Micros,
    /// Exact number of distinct orders.
    pub orders: i64,
    /// Sum of extended prices.
    pub revenue: Money,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, price: i64) -> Item {
        Item {
            id: 7,
            category_id: 2,
            menu_id: 3,
            brand_id: 4,
            name: name.into(),
            price: Money(price),
            qty: 2,
        }
    }

    #[test]
    fn lines_share_equal_items_and_order_like_items() {
        let (a, b) = (Line::from(item("Fries", 5)), Line::from(item("Fries", 5)));
        assert!(Arc::ptr_eq(&a.item, &b.item));
        let c = Line::from(item("Fries", 6));
        assert!(!Arc::ptr_eq(&a.item, &c.item));
        // Whatever the sharing, lines order and compare as the items they came from.
        let items = [
            item("Fries", 6),
            item("Fries", 5),
            item("Chips", 9),
            item("Fries", 5),
        ];
        let mut by_item = items.to_vec();
        by_item.sort();
        let mut by_line: Vec<Line> = items.into_iter().map(Line::from).collect();
        by_line.sort();
        let expected: Vec<Line> = by_item.into_iter().map(Line::from).collect();
        assert_eq!(by_line, expected);
    }

    #[test]
    fn lines_cross_the_wire_flat_and_are_shared_again() {
        let line = Line::from(item("Fries", 5));
        let bytes = bincode::serialize(&line).unwrap();
        let flat =
            bincode::serialize(&(7i32, 2i32, 3i32, 4i32, Text::from("Fries"), Money(5), 2i32))
                .unwrap();
        assert_eq!(bytes, flat);
        let back: Line = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back, line);
        assert!(Arc::ptr_eq(&back.item, &line.item));
    }
}
