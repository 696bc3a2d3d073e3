//! Silver stages.

pub mod order_items;
