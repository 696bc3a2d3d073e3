//! Gold `gold_location_sales_hourly`: orders and revenue per location and hour.
//!
//! Reference (technical-reference.md, "gold_location_sales_hourly", partitioned by `hour_ts`):
//! ```python
//! .withWatermark("order_ts", "3 hours")
//! .withColumn("hour_ts", F.date_trunc("hour", "order_ts"))
//! .groupBy("location", "hour_ts")
//! .agg(
//!     F.approx_count_distinct("order_id").alias("orders"),
//!     F.sum("extended_price").alias("revenue")
//! )
//! ```
//! Differences, on purpose:
//! - `orders` is an EXACT distinct count, not HyperLogLog.
//! - No watermark: a late order updates its hour however late it arrives.

use differential_dataflow::lattice::Lattice;
use differential_dataflow::operators::CountTotal;
use differential_dataflow::VecCollection;
use timely::order::TotalOrder;
use timely::progress::Timestamp;

use crate::diff::{once_per_group, Sums};
use crate::gold::per_order_id;
use crate::model::{GoldLocationSalesHourly, Order};
use crate::money::Money;
use crate::text::Text;
use crate::time::{hour_of, Micros};

/// Exact distinct orders and revenue of the silver rows of de-duplicated orders per
/// (location, hour).
pub fn location_sales_hourly<'s, T>(
    orders: VecCollection<'s, T, Order>,
) -> VecCollection<'s, T, GoldLocationSalesHourly>
where
    T: Timestamp + Lattice + TotalOrder,
{
    location_sales_hourly_from(per_order_id(
        orders,
        "gold_location_sales_hourly: per order",
        |orders| location_hour_rows(orders.iter()),
    ))
}

/// The (location, hour) of a location row.
pub type LocationHour = (Text, Micros);

/// What [`location_sales_hourly`] reads of one order, from all its winners (with repeats):
/// per (location, hour) of a winner with items, the order once and the quantity and money of
/// its silver rows there (an order without silver rows has no part in the view). The distinct
/// step happens here, per order ([`crate::bronze::per_order`] holds all its winners), instead
/// of in an arrangement keyed by (location, hour, order).
pub fn location_hour_rows<'a>(
    orders: impl Iterator<Item = &'a Order>,
) -> Vec<(LocationHour, Sums)> {
    once_per_group(orders.filter(|o| !o.items.is_empty()).map(|o| {
        let mut sums = Sums::default();
        for r in o.items.iter() {
            sums.qty += i64::from(r.qty);
            sums.money += r.extended_price().0;
        }
        ((o.location.clone(), hour_of(o.ts)), sums)
    }))
}

/// [`location_sales_hourly`] from the [`location_hour_rows`] of the orders.
pub fn location_sales_hourly_from<'s, T>(
    rows: VecCollection<'s, T, (LocationHour, Sums)>,
) -> VecCollection<'s, T, GoldLocationSalesHourly>
where
    T: Timestamp + Lattice + TotalOrder,
{
    rows.explode(|(key, sums)| Some((key, sums)))
        .arrange_by_self_named("gold_location_sales_hourly: by location and hour")
        .count_total()
        .map(|((location, hour_ts), sums)| GoldLocationSalesHourly {
            location: location.to_text_string(),
            hour_ts,
            orders: sums.rows,
            revenue: Money(sums.money),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{order, run_epochs};
    use crate::time::MICROS_PER_HOUR;

    #[test]
    fn buckets_by_hour_with_exact_orders() {
        let mut late = order("o3", &[(1, 1, 2_000_000)]);
        late.ts = MICROS_PER_HOUR + 17; // next hour
        let rows = vec![order("o1", &[(1, 1, 1_000_000), (2, 2, 1_000_000)]), late];
        let out = run_epochs(vec![rows], location_sales_hourly);
        let row = |hour_ts, orders, revenue| GoldLocationSalesHourly {
            location: "loc".into(),
            hour_ts,
            orders,
            revenue: Money(revenue),
        };
        // Hour 0: o1 only, 1.00 + 2 × 1.00 = 3.00. Hour 1: o3, 2.00.
        assert_eq!(
            out,
            vec![
                (row(0, 1, 3_000_000), 0, 1),
                (row(MICROS_PER_HOUR, 1, 2_000_000), 0, 1)
            ]
        );
    }
}
