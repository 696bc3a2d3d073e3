//! Test fixtures and a tiny single-worker driver for per-view unit tests.

use differential_dataflow::input::Input;
use differential_dataflow::VecCollection;
use timely::dataflow::operators::capture::{Capture, Extract};

use crate::model::{Event, EventType, SilverOrderItem};
use crate::money::Money;

/// An event with the given identity and ts; other fields fixed.
pub fn event(event_type: EventType, order_id: &str, sequence: i64, ts: i64, body: &str) -> Event {
    Event {
        ts,
        event_id: format!("e-{order_id}-{sequence}"),
        body: body.into(),
        event_type,
        order_id: order_id.into(),
        sequence,
        gk_id: "gk".into(),
        location: "loc".into(),
        ts_raw: String::new(),
        items: Vec::new(),
    }
}

/// A silver row of brand `brand` (item, menu and category ids equal the brand) on day 0.
pub fn silver_row(order_id: &str, brand: i32, qty: i32, price: i64) -> SilverOrderItem {
    SilverOrderItem {
        order_id: order_id.into(),
        gk_id: "gk".into(),
        location: "loc".into(),
        order_ts: 0,
        order_day: 0,
        item_id: brand,
        menu_id: brand,
        category_id: brand,
        brand_id: brand,
        item_name: format!("item {brand}"),
        price: Money(price),
        qty,
        extended_price: Money(price * i64::from(qty)),
    }
}

/// Feeds `epochs[i]` at time `i` into `build` on one worker and returns the output changes,
/// consolidated per time and sorted by (time, row).
pub fn run_epochs<I, O, F>(epochs: Vec<Vec<I>>, build: F) -> Vec<(O, u64, isize)>
where
    I: differential_dataflow::ExchangeData + Sync,
    O: differential_dataflow::ExchangeData,
    F: for<'s> FnOnce(VecCollection<'s, u64, I>) -> VecCollection<'s, u64, O>
        + Send
        + Sync
        + 'static,
{
    let (send, recv) = std::sync::mpsc::channel();
    timely::execute_directly(move |worker| {
        let mut input = worker.dataflow::<u64, _, _>(|scope| {
            let (handle, collection) = scope.new_collection::<I, isize>();
            build(collection).inner.capture_into(send);
            handle
        });
        for (time, batch) in epochs.into_iter().enumerate() {
            input.advance_to(u64::try_from(time).unwrap());
            for row in batch {
                input.insert(row);
            }
        }
    });
    let mut out: Vec<(O, u64, isize)> = recv
        .extract()
        .into_iter()
        .flat_map(|(_, updates)| updates)
        .collect();
    out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    differential_dataflow::consolidation::consolidate_updates(&mut out);
    out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    out
}
