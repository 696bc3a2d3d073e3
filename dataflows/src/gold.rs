//! Gold views, one file each.

pub mod brand_sales_day;
pub mod item_sales_day;
pub mod location_sales_hourly;
pub mod order_header;
