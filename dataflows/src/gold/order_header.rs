//! Gold `gold_order_header`: per-order revenue and counts.
//!
//! Reference (technical-reference.md, "gold_order_header"):
//! ```python
//! .groupBy("order_id", "gk_id", "location", "order_day")
//! .agg(
//!     F.sum("extended_price").alias("order_revenue"),
//!     F.sum("qty").alias("total_qty"),
//!     F.count("item_id").alias("total_items"),
//!     F.collect_set("brand_id").alias("brands_in_order")
//! )
//! ```
//! Differences, on purpose: sums are exact micro-dollars; `brands_in_order` is sorted so the
//! output is deterministic (Spark's `collect_set` order is unspecified).

use differential_dataflow::lattice::Lattice;
use differential_dataflow::VecCollection;
use timely::order::TotalOrder;
use timely::progress::Timestamp;

use crate::least::fold_per_key;
use crate::model::{GoldOrderHeader, Order};
use crate::money::Money;
use crate::text::Text;
use crate::time::{day_of, Day};

/// Aggregates the silver rows of de-duplicated orders per (order_id, gk_id, location,
/// order_day).
///
/// Each order is summed first (its sorted brand set, quantity, revenue and row count), so the
/// fold holds one value per order instead of one per item. An order without items has no
/// silver rows and so no header.
pub fn order_header<'s, T>(
    orders: VecCollection<'s, T, Order>,
) -> VecCollection<'s, T, GoldOrderHeader>
where
    T: Timestamp + Lattice + TotalOrder,
{
    order_header_from(orders.flat_map(|o| header_row(&o)))
}

/// The key of an order's header: (order_id, gk_id, location, order_day).
pub type HeaderKey = (Text, Text, Text, Day);

/// One order summed: its sorted brand set, quantity, revenue and row count.
pub type HeaderSums = (Vec<i32>, i64, i64, i64);

/// What [`order_header`] reads of one order; `None` for an order without items.
pub fn header_row(o: &Order) -> Option<(HeaderKey, HeaderSums)> {
    if o.items.is_empty() {
        return None;
    }
    let (mut revenue, mut qty, mut items) = (0i64, 0i64, 0i64);
    let mut brands: Vec<i32> = Vec::with_capacity(o.items.len());
    for line in o.items.iter() {
        revenue += line.extended_price().0;
        qty += i64::from(line.qty);
        items += 1;
        brands.push(line.item.brand_id);
    }
    brands.sort_unstable();
    brands.dedup();
    let key = (
        o.order_id.clone(),
        o.gk_id.clone(),
        o.location.clone(),
        day_of(o.ts),
    );
    Some((key, (brands, qty, revenue, items)))
}

/// [`order_header`] from the [`header_row`]s of the orders.
pub fn order_header_from<'s, T>(
    rows: VecCollection<'s, T, (HeaderKey, HeaderSums)>,
) -> VecCollection<'s, T, GoldOrderHeader>
where
    T: Timestamp + Lattice + TotalOrder,
{
    // Nearly every key has one order: `fold_per_key` keeps it once, where `reduce` kept it in
    // an input and an output arrangement (and their merges).
    fold_per_key(rows, "gold_order_header: per order", header_of)
}

/// The header of `key` from the [`header_row`] sums of its orders, with their counts (counts
/// that are not positive are skipped); `None` when they have no items. The result does not
/// depend on the orders' order.
pub fn header_of(key: &HeaderKey, orders: &[(HeaderSums, isize)]) -> Option<GoldOrderHeader> {
    let (mut revenue, mut qty, mut items) = (0i64, 0i64, 0i64);
    let mut brands: Vec<i32> = Vec::new();
    for ((order_brands, q, money, n), count) in orders {
        let count = i64::try_from(*count).unwrap_or(0);
        if count <= 0 {
            continue;
        }
        revenue += money * count;
        qty += q * count;
        items += n * count;
        brands.extend_from_slice(order_brands);
    }
    brands.sort_unstable();
    brands.dedup();
    (items > 0).then(|| {
        let (order_id, gk_id, location, order_day) = key.clone();
        GoldOrderHeader {
            order_id,
            gk_id,
            location,
            order_day,
            order_revenue: Money(revenue),
            total_qty: qty,
            total_items: items,
            brands_in_order: brands,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{order, run_epochs};

    #[test]
    fn sums_counts_and_sorted_brand_set() {
        let rows = vec![order(
            "o1",
            &[
                (7, 2, 1_500_000), // 2 × 1.50 = 3.00
                (3, 1, 2_000_000), // 1 × 2.00 = 2.00
                (7, 1, 1_000_000), // 1 × 1.00 = 1.00
            ],
        )];
        // A second identity of the same order (another sequence) adds to the same header.
        let later = vec![order("o1", &[(5, 3, 1_000_000)])]; // 3 × 1.00 = 3.00
        let out = run_epochs(vec![rows, later], order_header);
        let header = |revenue, qty, items, brands: Vec<i32>| GoldOrderHeader {
            order_id: "o1".into(),
            gk_id: "gk".into(),
            location: "loc".into(),
            order_day: 0,
            order_revenue: Money(revenue),
            total_qty: qty,
            total_items: items,
            brands_in_order: brands,
        };
        // Epoch 0: 3.00 + 2.00 + 1.00 = 6.00, qty 4, 3 rows, brands {3, 7}.
        // Epoch 1: retract that, add 9.00, qty 7, 4 rows, brands {3, 5, 7}.
        assert_eq!(
            out,
            vec![
                (header(6_000_000, 4, 3, vec![3, 7]), 0, 1),
                (header(6_000_000, 4, 3, vec![3, 7]), 1, -1),
                (header(9_000_000, 7, 4, vec![3, 5, 7]), 1, 1),
            ]
        );
    }
}
