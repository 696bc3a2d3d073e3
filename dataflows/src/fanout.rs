//! One pass over [`crate::bronze::per_order`]'s rows that feeds every view reading them: the
//! orders go to silver and `gold_item_sales_day`, the rows computed per order (headers, the
//! distinct units of the brand and location views, the refund join) each to their view.
//!
//! Each order used to go to six consumers (the lake's silver rows, four gold views, refunds).
//! A timely stream with several consumers clones every batch for all but the last, so each
//! order with its items was copied five times, only for each copy to be mapped into a few
//! integers and ids right away (the clones were ~5% of a replay's profile, and the copies in
//! flight ~3% of its peak memory). Here one operator derives each view's input from the order
//! once and gives it to that view's output. (Orders now share their items, so a clone would
//! be cheap; the single pass also lets item rows be summed before their arrangement.)

use std::collections::BTreeMap;

use differential_dataflow::difference::{IsZero, Multiply, Semigroup};
use differential_dataflow::lattice::Lattice;
use differential_dataflow::{AsCollection, VecCollection};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::progress::operate::FrontierInterest;
use timely::progress::Timestamp;

use crate::bronze::OrderRow;
use crate::diff::Sums;
use crate::gold::brand_sales_day::BrandDay;
use crate::gold::item_sales_day::{item_rows, ItemKey};
use crate::gold::location_sales_hourly::LocationHour;
use crate::model::{GoldOrderHeader, Order};
use crate::refunds::Timed;

/// The inputs of the views that read orders, each derived from the same orders.
pub(crate) struct OrderViews<'s, T: Timestamp> {
    /// The orders themselves (the lake explodes them into silver rows).
    pub orders: VecCollection<'s, T, Order>,
    /// `gold_order_header`.
    pub header: VecCollection<'s, T, GoldOrderHeader>,
    /// [`item_rows`].
    pub items: VecCollection<'s, T, (ItemKey, Sums)>,
    /// [`crate::gold::brand_sales_day::brand_day_rows`].
    pub brands: VecCollection<'s, T, (BrandDay, Sums)>,
    /// [`crate::gold::location_sales_hourly::location_hour_rows`].
    pub locations: VecCollection<'s, T, (LocationHour, Sums)>,
    /// The delivered orders' rows the refunds are judged on.
    pub timed: VecCollection<'s, T, Timed>,
}

/// Splits the rows of [`crate::bronze::per_order`] into the inputs of the views that read
/// them: one operator with an output per view, each record given straight to its output.
pub(crate) fn split<'s, T>(rows: VecCollection<'s, T, OrderRow>) -> OrderViews<'s, T>
where
    T: Timestamp + Lattice,
{
    let mut builder = OperatorBuilder::new("orders: fan out to the views".into(), rows.scope());
    let mut input = builder.new_input(rows.inner, Pipeline);
    builder.set_notify_for(0, FrontierInterest::Never);
    let (out_orders, orders) = builder.new_output::<Vec<(Order, T, isize)>>();
    let (out_header, header) = builder.new_output();
    let (out_items, items) = builder.new_output();
    let (out_brands, brands) = builder.new_output();
    let (out_locations, locations) = builder.new_output();
    let (out_timed, timed) = builder.new_output();
    let mut out_orders = OutputBuilder::<_, CapacityContainerBuilder<_>>::from(out_orders);
    let mut out_header = OutputBuilder::<_, CapacityContainerBuilder<_>>::from(out_header);
    let mut out_items = OutputBuilder::<_, CapacityContainerBuilder<_>>::from(out_items);
    let mut out_brands = OutputBuilder::<_, CapacityContainerBuilder<_>>::from(out_brands);
    let mut out_locations = OutputBuilder::<_, CapacityContainerBuilder<_>>::from(out_locations);
    let mut out_timed = OutputBuilder::<_, CapacityContainerBuilder<_>>::from(out_timed);
    builder.build(move |_capabilities| {
        move |_frontiers| {
            let mut out_orders = out_orders.activate();
            let mut out_header = out_header.activate();
            let mut out_items = out_items.activate();
            let mut out_brands = out_brands.activate();
            let mut out_locations = out_locations.activate();
            let mut out_timed = out_timed.activate();
            // Item rows of all the orders at hand, summed per (time, item group): an epoch's
            // thousands of orders fall into a few hundred groups, and the arrangement of
            // `gold_item_sales_day` then sorts and merges those instead of every item.
            let mut item_sums: BTreeMap<(T, ItemKey), Sums> = BTreeMap::new();
            input.for_each_stamp(|cap, containers| {
                let mut s_orders = out_orders.session(&cap);
                let mut s_header = out_header.session(&cap);
                let mut s_brands = out_brands.session(&cap);
                let mut s_locations = out_locations.session(&cap);
                let mut s_timed = out_timed.session(&cap);
                for (row, time, diff) in containers.flat_map(|data| data.drain(..)) {
                    let order = match row {
                        OrderRow::Order(order) => order,
                        OrderRow::Header(header) => {
                            s_header.give((header, time, diff));
                            continue;
                        }
                        OrderRow::Timed(timed) => {
                            s_timed.give((timed, time, diff));
                            continue;
                        }
                        OrderRow::BrandDay(key, sums) => {
                            s_brands.give(((key, sums), time, diff));
                            continue;
                        }
                        OrderRow::LocationHour(key, sums) => {
                            s_locations.give(((key, sums), time, diff));
                            continue;
                        }
                    };
                    for (key, sums) in item_rows(&order) {
                        item_sums
                            .entry((time.clone(), key))
                            .or_default()
                            .plus_equals(&sums.multiply(&diff));
                    }
                    s_orders.give((order, time, diff));
                }
                let mut s_items = out_items.session(&cap);
                for ((time, key), sums) in std::mem::take(&mut item_sums) {
                    if !sums.is_zero() {
                        s_items.give(((key, sums), time, 1));
                    }
                }
            });
        }
    });
    OrderViews {
        orders: orders.as_collection(),
        header: header.as_collection(),
        items: items.as_collection(),
        brands: brands.as_collection(),
        locations: locations.as_collection(),
        timed: timed.as_collection(),
    }
}
