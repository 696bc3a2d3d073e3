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
use timely::progress::Timestamp;

use crate::model::{GoldOrderHeader, SilverOrderItem};
use crate::money::Money;

/// Aggregates silver rows per (order_id, gk_id, location, order_day).
pub fn order_header<'s, T>(
    silver: VecCollection<'s, T, SilverOrderItem>,
) -> VecCollection<'s, T, GoldOrderHeader>
where
    T: Timestamp + Lattice,
{
    silver
        .map(|r| {
            let key = (r.order_id, r.gk_id, r.location, r.order_day);
            (key, (r.brand_id, i64::from(r.qty), r.extended_price.0))
        })
        .reduce_named("gold_order_header: per order", |_key, rows, output| {
            let (mut revenue, mut qty, mut items) = (0i64, 0i64, 0i64);
            let mut brands: Vec<i32> = Vec::new();
            for ((brand, q, money), count) in rows {
                let count = i64::try_from(*count).unwrap_or(0);
                if count <= 0 {
                    continue;
                }
                revenue += money * count;
                qty += q * count;
                items += count;
                brands.push(*brand);
            }
            brands.sort_unstable();
            brands.dedup();
            if items > 0 {
                output.push(((revenue, qty, items, brands), 1));
            }
        })
        .map(
            |(
                (order_id, gk_id, location, order_day),
                (revenue, total_qty, total_items, brands),
            )| {
                GoldOrderHeader {
                    order_id,
                    gk_id,
                    location,
                    order_day,
                    order_revenue: Money(revenue),
                    total_qty,
                    total_items,
                    brands_in_order: brands,
                }
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_epochs, silver_row};

    #[test]
    fn sums_counts_and_sorted_brand_set() {
        let rows = vec![
            silver_row("o1", 7, 2, 1_500_000), // 2 × 1.50 = 3.00
            silver_row("o1", 3, 1, 2_000_000), // 1 × 2.00 = 2.00
            silver_row("o1", 7, 1, 1_000_000), // 1 × 1.00 = 1.00
        ];
        let later = vec![silver_row("o1", 5, 3, 1_000_000)]; // 3 × 1.00 = 3.00
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
