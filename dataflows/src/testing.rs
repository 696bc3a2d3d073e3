//! Test fixtures and a tiny single-worker driver for per-view unit tests.

use differential_dataflow::input::Input;
use differential_dataflow::VecCollection;
use timely::dataflow::operators::capture::{Capture, Extract};

use crate::model::{Event, EventType, Line, MenuItem, Order};
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

/// An order at ts 0 (day 0, hour 0) at gk `gk`, location `loc`, with one line per
/// `(brand, qty, price)`: item, menu and category ids equal the brand.
pub fn order(order_id: &str, lines: &[(i32, i32, i64)]) -> Order {
    Order {
        order_id: order_id.into(),
        ts: 0,
        gk_id: "gk".into(),
        location: "loc".into(),
        items: lines
            .iter()
            .map(|&(brand, qty, price)| {
                Line::new(
                    MenuItem {
                        id: brand,
                        category_id: brand,
                        menu_id: brand,
                        brand_id: brand,
                        name: format!("item {brand}").into(),
                        price: Money(price),
                    },
                    qty,
                )
            })
            .collect(),
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
