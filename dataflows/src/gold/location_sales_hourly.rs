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

use crate::diff::Sums;
use crate::model::{GoldLocationSalesHourly, SilverOrderItem};
use crate::money::Money;
use crate::time::hour_of;

/// Exact distinct orders and revenue per (location, hour).
pub fn location_sales_hourly<'s, T>(
    silver: VecCollection<'s, T, SilverOrderItem>,
) -> VecCollection<'s, T, GoldLocationSalesHourly>
where
    T: Timestamp + Lattice + TotalOrder,
{
    silver
        .explode(|r| {
            let key = ((r.location, hour_of(r.order_ts)), r.order_id);
            Some((
                key,
                Sums {
                    rows: 0,
                    qty: i64::from(r.qty),
                    money: r.extended_price.0,
                },
            ))
        })
        .arrange_by_self_named("gold_location_sales_hourly: by location, hour and order")
        .count_total()
        .explode(|((key, _order_id), per_order)| {
            Some((
                key,
                Sums {
                    rows: 1,
                    qty: per_order.qty,
                    money: per_order.money,
                },
            ))
        })
        .arrange_by_self_named("gold_location_sales_hourly: by location and hour")
        .count_total()
        .map(|((location, hour_ts), sums)| GoldLocationSalesHourly {
            location,
            hour_ts,
            orders: sums.rows,
            revenue: Money(sums.money),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run_epochs, silver_row};
    use crate::time::MICROS_PER_HOUR;

    #[test]
    fn buckets_by_hour_with_exact_orders() {
        let mut late = silver_row("o3", 1, 1, 2_000_000);
        late.order_ts = MICROS_PER_HOUR + 17; // next hour
        let rows = vec![
            silver_row("o1", 1, 1, 1_000_000),
            silver_row("o1", 2, 2, 1_000_000),
            late,
        ];
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
