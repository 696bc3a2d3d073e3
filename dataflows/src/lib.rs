//! The caspers views as pure timely/differential code: no files, sockets, threads or clocks.
//!
//! ```text
//!  events (well-formed bronze records; timely time = ingest epoch)
//!    │
//!    ├──▶ bronze::all_events ─────────────────────────────▶ all_events
//!    │
//!    └──▶ bronze::per_order: dedup   identity = (order_id, event_type, sequence), keyed by order_id
//!            │  per order: its order_created winners (model::Order, without body/event_id/
//!            │  ts_raw), its gold_order_header rows, and its earliest creation ⨝ earliest
//!            │  delivery (the de-duplicated `delivered` events)
//!   ┌────────┼──────────────┬──────────────────┬──────────────────────┬──────────────┐
//!   ▼        ▼              ▼                  ▼                      ▼              ▼
//! silver:: gold::         gold::             gold::                 gold::         refunds:
//! order_   order_header   item_sales_day     brand_sales_day        location_      delivery
//! items    (per order)    (sums in diff)     (exact distinct)       sales_hourly   minutes, per-
//!   │                                                               (exact         location 24 h
//!   │                                                                distinct)     percentiles
//!   └─────────────────────────────────────────────────▶ silver_order_items           │
//!                                                                                     ▼
//!                                                                    refund_recommendations
//! ```
//!
//! Each gold view aggregates the silver rows of an order (explode of its items, as
//! `silver_order_items` is), but reads the compact [`model::Order`] instead of the silver rows:
//! one fan-out of small rows rather than five copies of string-heavy ones.
//!
//! Every builder is generic over a totally ordered timestamp, so tests drive them with `u64`
//! epochs and the runtime with its own epoch type.

#![warn(missing_docs)]

pub mod body;
pub mod bronze;
pub mod diff;
mod fanout;
pub mod gold;
pub mod hash;
pub mod least;
pub mod md5_lanes;
pub mod model;
pub mod money;
pub mod refunds;
pub mod shared;
pub mod silver;
pub mod text;
pub mod time;

#[cfg(test)]
pub(crate) mod testing;

use differential_dataflow::lattice::Lattice;
use differential_dataflow::VecCollection;
use timely::order::TotalOrder;
use timely::progress::Timestamp;

use model::{
    Event, GoldBrandSalesDay, GoldItemSalesDay, GoldLocationSalesHourly, GoldOrderHeader, Order,
    SilverOrderItem,
};
use refunds::{RefundPolicy, RefundRecommendation};
use time::Micros;

/// Every view of the pipeline, as collections in one scope.
pub struct Views<'s, T: Timestamp> {
    /// Bronze: every well-formed event as ingested.
    pub all_events: VecCollection<'s, T, Event>,
    /// The de-duplicated orders, which silver explodes into item rows: see
    /// [`Views::silver_order_items`].
    pub orders: VecCollection<'s, T, Order>,
    /// Gold: per-order totals.
    pub gold_order_header: VecCollection<'s, T, GoldOrderHeader>,
    /// Gold: per item and day.
    pub gold_item_sales_day: VecCollection<'s, T, GoldItemSalesDay>,
    /// Gold: per brand and day, exact distinct orders.
    pub gold_brand_sales_day: VecCollection<'s, T, GoldBrandSalesDay>,
    /// Gold: per location and hour, exact distinct orders.
    pub gold_location_sales_hourly: VecCollection<'s, T, GoldLocationSalesHourly>,
    /// One refund recommendation per sampled delivered order.
    pub refund_recommendations: VecCollection<'s, T, RefundRecommendation>,
}

impl<'s, T: Timestamp + Lattice> Views<'s, T> {
    /// Silver: one row per item per (de-duplicated) order. Built on request: the runtime's lake
    /// sink takes [`Views::orders`] instead and explodes them when it writes a file, which keeps
    /// one order rather than ~4 rows per order in memory and on the wire.
    pub fn silver_order_items(&self) -> VecCollection<'s, T, SilverOrderItem> {
        silver::order_items::order_items(self.orders.clone())
    }
}

/// Parameters of the views that are not data: the refund policy and the live/historical split.
#[derive(Clone, Debug)]
pub struct PipelineParams {
    /// The refund policy.
    pub refund_policy: RefundPolicy,
    /// Deliveries at or after this time all get a recommendation; earlier ones are sampled.
    pub live_from: Micros,
}

impl Default for PipelineParams {
    fn default() -> Self {
        PipelineParams {
            refund_policy: RefundPolicy::default(),
            live_from: Micros::MIN,
        }
    }
}

/// Builds bronze → silver → gold (and refunds, every delivery recommended) from the
/// collection of well-formed events.
pub fn build_all<'s, T>(events: VecCollection<'s, T, Event>) -> Views<'s, T>
where
    T: Timestamp + Lattice + TotalOrder,
{
    build_all_with(events, PipelineParams::default())
}

/// [`build_all`] with explicit parameters.
pub fn build_all_with<'s, T>(
    events: VecCollection<'s, T, Event>,
    params: PipelineParams,
) -> Views<'s, T>
where
    T: Timestamp + Lattice + TotalOrder,
{
    let all_events = bronze::all_events(events);
    let views = fanout::split(bronze::per_order(all_events.clone()));
    Views {
        orders: views.orders,
        gold_order_header: views.header,
        gold_item_sales_day: gold::item_sales_day::item_sales_day_from(views.items),
        gold_brand_sales_day: gold::brand_sales_day::brand_sales_day_from(views.brands),
        gold_location_sales_hourly: gold::location_sales_hourly::location_sales_hourly_from(
            views.locations,
        ),
        refund_recommendations: refunds::recommendations_from_timed(
            views.timed,
            params.refund_policy,
            params.live_from,
        ),
        all_events,
    }
}
