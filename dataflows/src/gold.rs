//! Gold views, one file each.

pub mod brand_sales_day;
pub mod item_sales_day;
pub mod location_sales_hourly;
pub mod order_header;

use differential_dataflow::lattice::Lattice;
use differential_dataflow::{Data, VecCollection};
use timely::order::TotalOrder;
use timely::progress::Timestamp;

use crate::least::fold_per_key_into;
use crate::model::Order;

/// `rows` of each order's winners (the orders of one `order_id`, one copy per unit of count),
/// as a fold per `order_id`: the distinct step of the views that count orders, for callers
/// that start from orders. The pipeline gets the same rows from [`crate::bronze::per_order`],
/// which holds an order's winners already.
pub fn per_order_id<'s, T, R, F>(
    orders: VecCollection<'s, T, Order>,
    name: &str,
    rows: F,
) -> VecCollection<'s, T, R>
where
    T: Timestamp + Lattice + TotalOrder,
    R: Data,
    F: Fn(&[Order]) -> Vec<R> + 'static,
{
    let keyed = orders.map(|o| (o.order_id.clone(), o));
    fold_per_key_into(keyed, name, move |_order_id, copies, out| {
        let winners: Vec<Order> = copies
            .iter()
            .flat_map(|(o, n)| std::iter::repeat_n(o, usize::try_from(*n).unwrap_or(0)))
            .cloned()
            .collect();
        out.extend(rows(&winners));
    })
}
