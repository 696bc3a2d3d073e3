//! Gold `gold_brand_sales_day`: brand-level orders, items and revenue by day.
//!
//! Reference (technical-reference.md, "gold_brand_sales_day", partitioned by `day`):
//! ```python
//! .withWatermark("order_ts", "3 hours")
//! .groupBy("brand_id", F.col("order_day").alias("day"))
//! .agg(
//!     F.approx_count_distinct("order_id").alias("orders"),
//!     F.sum("qty").alias("items_sold"),
//!     F.sum("extended_price").alias("brand_revenue")
//! )
//! ```
//! Differences, on purpose:
//! - `orders` is an EXACT distinct count, not HyperLogLog.
//! - No watermark: a late order updates its day however late it arrives.
//!
//! Each order becomes one unit per (brand, day) where the order is reduced to its winners
//! ([`crate::bronze::per_order`], which holds them all: [`brand_day_rows`]), and the units are
//! summed in the diff per (brand, day). Keyed by (brand, day, order) in an arrangement of its
//! own, the same distinct step held every order's id (~30 MB for a year).

use differential_dataflow::lattice::Lattice;
use differential_dataflow::operators::CountTotal;
use differential_dataflow::VecCollection;
use timely::order::TotalOrder;
use timely::progress::Timestamp;

use crate::diff::{once_per_group, Sums};
use crate::gold::per_order_id;
use crate::model::{GoldBrandSalesDay, Order};
use crate::money::Money;
use crate::time::{day_of, Day};

/// Exact distinct orders, quantity and revenue of the silver rows of de-duplicated orders per
/// (brand, day).
pub fn brand_sales_day<'s, T>(
    orders: VecCollection<'s, T, Order>,
) -> VecCollection<'s, T, GoldBrandSalesDay>
where
    T: Timestamp + Lattice + TotalOrder,
{
    brand_sales_day_from(per_order_id(
        orders,
        "gold_brand_sales_day: per order",
        |orders| brand_day_rows(orders.iter()),
    ))
}

/// The (brand, day) of a brand row.
pub type BrandDay = (i32, Day);

/// What [`brand_sales_day`] reads of one order, from all its winners (with repeats): per
/// (brand, day) in it, the order once and the quantity and money of its silver rows there.
pub fn brand_day_rows<'a>(orders: impl Iterator<Item = &'a Order>) -> Vec<(BrandDay, Sums)> {
    once_per_group(orders.flat_map(|o| {
        let day = day_of(o.ts);
        o.items.iter().map(move |r| {
            let sums = Sums {
                rows: 0,
                qty: i64::from(r.qty),
                money: r.extended_price().0,
            };
            ((r.item.brand_id, day), sums)
        })
    }))
}

/// [`brand_sales_day`] from the [`brand_day_rows`] of the orders.
pub fn brand_sales_day_from<'s, T>(
    rows: VecCollection<'s, T, (BrandDay, Sums)>,
) -> VecCollection<'s, T, GoldBrandSalesDay>
where
    T: Timestamp + Lattice + TotalOrder,
{
    rows.explode(|(key, sums)| Some((key, sums)))
        .arrange_by_self_named("gold_brand_sales_day: by brand and day")
        .count_total()
        .map(|((brand_id, day), sums)| GoldBrandSalesDay {
            brand_id,
            day,
            orders: sums.rows,
            items_sold: sums.qty,
            brand_revenue: Money(sums.money),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{order, run_epochs};

    #[test]
    fn counts_distinct_orders_exactly() {
        // o1 has brand 7 twice; it still counts as one order.
        let first = vec![
            order("o1", &[(7, 2, 1_000_000), (7, 1, 3_000_000)]),
            order("o2", &[(7, 1, 1_000_000)]),
        ];
        let second = vec![order("o3", &[(7, 4, 500_000)])];
        let out = run_epochs(vec![first, second], brand_sales_day);
        let row = |orders, items, revenue| GoldBrandSalesDay {
            brand_id: 7,
            day: 0,
            orders,
            items_sold: items,
            brand_revenue: Money(revenue),
        };
        // Epoch 0: orders {o1, o2} = 2, items 2 + 1 + 1 = 4, revenue 2 + 3 + 1 = 6.00.
        // Epoch 1: + o3 (4 × 0.50 = 2.00) -> 3 orders, 8 items, 8.00.
        assert_eq!(
            out,
            vec![
                (row(2, 4, 6_000_000), 0, 1),
                (row(2, 4, 6_000_000), 1, -1),
                (row(3, 8, 8_000_000), 1, 1),
            ]
        );
    }
}
