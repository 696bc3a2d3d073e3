//! Silver `silver_order_items`: one row per item per order, with `extended_price`.
//!
//! Reference (technical-reference.md, "silver_order_items", partitioned by `order_day`):
//! ```python
//! .filter(F.col("event_type") == "order_created")
//! .withColumn("event_ts", F.to_timestamp("ts"))
//! .withColumn("body_obj", F.from_json("body", body_schema))
//! .withColumn("item", F.explode("body_obj.items"))
//! .withColumn("extended_price", F.col("item.price") * F.col("item.qty"))
//! .withColumn("order_day", F.to_date("event_ts"))
//! ```
//! Differences, on purpose:
//! - Reads de-duplicated `order_created` events ([`crate::bronze::per_order`], the winners of
//!   [`crate::bronze::dedup`]), so a re-delivered file does not double an order.
//! - `price` and `extended_price` are exact micro-dollars ([`crate::money::Money`]).
//! - An item repeated inside one order stays two rows, as `explode` does; in the collection that
//!   is one row with multiplicity two.

use differential_dataflow::lattice::Lattice;
use differential_dataflow::VecCollection;
use timely::progress::Timestamp;

use crate::model::{Order, SilverOrderItem};
use crate::time::day_of;

/// Explodes de-duplicated orders into item rows.
pub fn order_items<'s, T>(
    orders: VecCollection<'s, T, Order>,
) -> VecCollection<'s, T, SilverOrderItem>
where
    T: Timestamp + Lattice,
{
    orders.flat_map(|order| explode(&order).collect::<Vec<_>>())
}

/// The silver rows of one order, in body order (the lake sink keeps orders and explodes them
/// only when it writes a file).
pub fn explode(order: &Order) -> impl Iterator<Item = SilverOrderItem> + '_ {
    order.items.iter().map(move |line| SilverOrderItem {
        order_id: order.order_id.clone(),
        gk_id: order.gk_id.clone(),
        location: order.location.clone(),
        order_ts: order.ts,
        order_day: day_of(order.ts),
        item_id: line.item.id,
        menu_id: line.item.menu_id,
        category_id: line.item.category_id,
        brand_id: line.item.brand_id,
        item_name: line.item.name.clone(),
        price: line.item.price,
        qty: line.qty,
        extended_price: line.extended_price(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Line, MenuItem};
    use crate::money::Money;
    use crate::testing::{order, run_epochs};

    #[test]
    fn explodes_items_and_keeps_repeats() {
        let mut order = order("o1", &[]);
        order.ts = 86_400_000_000 + 5;
        let burger = Line::new(
            MenuItem {
                id: 1,
                category_id: 2,
                menu_id: 3,
                brand_id: 4,
                name: "Big Stack".into(),
                price: Money(8_080_000),
            },
            2,
        );
        order.items = vec![burger.clone(), burger].into();
        let out = run_epochs(vec![vec![order]], order_items);
        // Two identical rows: 8.08 × 2 = 16.16 each, on day 1 (1970-01-02).
        assert_eq!(out.len(), 1);
        let (row, time, count) = &out[0];
        assert_eq!((*time, *count), (0, 2));
        assert_eq!(row.extended_price, Money(16_160_000));
        assert_eq!(row.order_day, 1);
        assert_eq!(row.item_name.to_text_string(), "Big Stack");
    }
}
