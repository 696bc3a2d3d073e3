//! Gold `gold_item_sales_day`: item-level units and revenue by day (partitioned by `day`).
//!
//! Reference (technical-reference.md, "gold_item_sales_day"): grouped by item_id, menu_id,
//! category_id, brand_id and day = order_day; `units_sold = sum(qty)`,
//! `gross_revenue = sum(extended_price)`.
//! ```python
//! @dlt.table(
//!     name="gold_item_sales_day",
//!     partition_cols=["day"],
//!     comment="Gold – item-level units & revenue by day."
//! )
//! ```
//! Differences, on purpose: exact money; late orders update their day however late they are.

use differential_dataflow::lattice::Lattice;
use differential_dataflow::operators::CountTotal;
use differential_dataflow::VecCollection;
use timely::order::TotalOrder;
use timely::progress::Timestamp;

use crate::diff::Sums;
use crate::model::{GoldItemSalesDay, Order};
use crate::money::Money;
use crate::time::{day_of, Day};

/// Sums quantity and revenue of the silver rows of de-duplicated orders per (item, menu,
/// category, brand, day), in the diff.
pub fn item_sales_day<'s, T>(
    orders: VecCollection<'s, T, Order>,
) -> VecCollection<'s, T, GoldItemSalesDay>
where
    T: Timestamp + Lattice + TotalOrder,
{
    item_sales_day_from(orders.flat_map(|o| item_rows(&o).collect::<Vec<_>>()))
}

/// The group of an item row: (item_id, menu_id, category_id, brand_id, day).
pub type ItemKey = (i32, i32, i32, i32, Day);

/// What [`item_sales_day`] reads of one order: per silver row, its group and its sums.
pub fn item_rows(o: &Order) -> impl Iterator<Item = (ItemKey, Sums)> + '_ {
    let day = day_of(o.ts);
    o.items.iter().map(move |r| {
        let key = (
            r.item.id,
            r.item.menu_id,
            r.item.category_id,
            r.item.brand_id,
            day,
        );
        let sums = Sums {
            rows: 1,
            qty: i64::from(r.qty),
            money: r.extended_price().0,
        };
        (key, sums)
    })
}

/// [`item_sales_day`] from the [`item_rows`] of the orders.
pub fn item_sales_day_from<'s, T>(
    rows: VecCollection<'s, T, (ItemKey, Sums)>,
) -> VecCollection<'s, T, GoldItemSalesDay>
where
    T: Timestamp + Lattice + TotalOrder,
{
    rows.explode(|(key, sums)| Some((key, sums)))
        .arrange_by_self_named("gold_item_sales_day: by item and day")
        .count_total()
        .map(
            |((item_id, menu_id, category_id, brand_id, day), sums)| GoldItemSalesDay {
                item_id,
                menu_id,
                category_id,
                brand_id,
                day,
                units_sold: sums.qty,
                gross_revenue: Money(sums.money),
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{order, run_epochs};

    #[test]
    fn sums_per_item_and_day() {
        let first = vec![
            order("o1", &[(7, 2, 1_500_000)]),
            order("o2", &[(7, 1, 1_500_000)]),
        ];
        let out = run_epochs(vec![first, vec![]], item_sales_day);
        let row = |units, revenue| GoldItemSalesDay {
            item_id: 7,
            menu_id: 7,
            category_id: 7,
            brand_id: 7,
            day: 0,
            units_sold: units,
            gross_revenue: Money(revenue),
        };
        // 2 × 1.50 + 1 × 1.50 = 4.50 over 3 units.
        assert_eq!(out, vec![(row(3, 4_500_000), 0, 1)]);
    }
}
