//! Reading the lake back into view rows, through the parquet crate alone: for `demo`'s
//! printout and for tests that compare what was published with an independent oracle.
//! Hive partition values are taken from the directory names, as any lake reader does.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use caspers_dataflows::model::{
    Event, EventType, GoldBrandSalesDay, GoldItemSalesDay, GoldLocationSalesHourly,
    GoldOrderHeader, SilverOrderItem,
};
use caspers_dataflows::money::Money;
use caspers_dataflows::time::{day_of, parse_timestamp, Day, Micros};

/// A table as a sorted multiset: row ↦ multiplicity.
pub type Rows<R> = BTreeMap<R, i64>;

/// Every table of a lake, read back.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LakeTables {
    /// Bronze events (without parsed items: the lake keeps the raw body).
    pub all_events: Rows<Event>,
    /// `silver_order_items`.
    pub silver_order_items: Rows<SilverOrderItem>,
    /// `gold_order_header`.
    pub gold_order_header: Rows<GoldOrderHeader>,
    /// `gold_item_sales_day`.
    pub gold_item_sales_day: Rows<GoldItemSalesDay>,
    /// `gold_brand_sales_day`.
    pub gold_brand_sales_day: Rows<GoldBrandSalesDay>,
    /// `gold_location_sales_hourly`.
    pub gold_location_sales_hourly: Rows<GoldLocationSalesHourly>,
    /// `refund_recommendations` without the processing time `ts`:
    /// (order_id, order_ts, agent_response, refund_class, refund_usd, location).
    pub refund_recommendations: Rows<RefundRow>,
}

/// A recommendation as the lake holds it, minus its processing time.
pub type RefundRow = (String, Micros, String, String, Money, String);

/// Every visible `*.parquet` file under `dir` (hidden and temp names skipped), sorted, with
/// the Hive `key=value` pairs of its directories.
pub fn table_files(dir: &Path) -> anyhow::Result<Vec<(PathBuf, BTreeMap<String, String>)>> {
    let mut out = Vec::new();
    if dir.is_dir() {
        walk(dir, &BTreeMap::new(), &mut out)?;
    }
    out.sort();
    Ok(out)
}

fn walk(
    dir: &Path,
    parts: &BTreeMap<String, String>,
    out: &mut Vec<(PathBuf, BTreeMap<String, String>)>,
) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            let mut parts = parts.clone();
            if let Some((k, v)) = name.split_once('=') {
                parts.insert(k.to_string(), v.replace("%3A", ":"));
            }
            walk(&path, &parts, out)?;
        } else if name.ends_with(".parquet") {
            out.push((path, parts.clone()));
        }
    }
    Ok(())
}

fn read_batches(path: &Path) -> anyhow::Result<Vec<RecordBatch>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    reader.map(|b| b.map_err(anyhow::Error::from)).collect()
}

fn col<'a>(batch: &'a RecordBatch, name: &str) -> anyhow::Result<&'a dyn Array> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| anyhow!("column {name} missing"))
}

fn strings(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<String>> {
    let a = col(batch, name)?
        .as_string_opt::<i32>()
        .ok_or_else(|| anyhow!("{name}: not utf8"))?;
    Ok(a.iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

fn i32s(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<i32>> {
    let a = col(batch, name)?
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(|| anyhow!("{name}: not int32"))?;
    Ok(a.values().to_vec())
}

fn i64s(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<i64>> {
    let a = col(batch, name)?
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| anyhow!("{name}: not int64"))?;
    Ok(a.values().to_vec())
}

fn money(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<Money>> {
    let a = col(batch, name)?
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| anyhow!("{name}: not double"))?;
    // The sink wrote exact micro-dollars as the nearest double; rounding recovers them.
    #[allow(clippy::cast_possible_truncation, clippy::as_conversions)]
    let out = a
        .values()
        .iter()
        .map(|v| Money((v * 1e6).round() as i64))
        .collect();
    Ok(out)
}

fn timestamps(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<Micros>> {
    let a = col(batch, name)?
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| anyhow!("{name}: not timestamp(us)"))?;
    Ok(a.values().to_vec())
}

fn dates(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<Day>> {
    let a = col(batch, name)?
        .as_primitive_opt::<Date32Type>()
        .ok_or_else(|| anyhow!("{name}: not date32"))?;
    Ok(a.values().to_vec())
}

fn partition_day(parts: &BTreeMap<String, String>, key: &str) -> anyhow::Result<Day> {
    let text = parts
        .get(key)
        .ok_or_else(|| anyhow!("partition {key} missing"))?;
    let ts = parse_timestamp(&format!("{text} 00:00:00"))
        .ok_or_else(|| anyhow!("partition {key}={text} is not a date"))?;
    Ok(day_of(ts))
}

fn add<R: Ord>(rows: &mut Rows<R>, row: R) {
    *rows.entry(row).or_insert(0) += 1;
}

/// Reads every table of the lake at `lake`.
pub fn read_lake(lake: &Path) -> anyhow::Result<LakeTables> {
    let mut t = LakeTables::default();
    for (path, _) in table_files(&lake.join("all_events"))? {
        for b in read_batches(&path)? {
            let (ids, types, ts_raw) = (
                strings(&b, "event_id")?,
                strings(&b, "event_type")?,
                strings(&b, "ts")?,
            );
            let (gk, loc, oid) = (
                strings(&b, "gk_id")?,
                strings(&b, "location")?,
                strings(&b, "order_id")?,
            );
            let (seq, body, ts) = (
                i64s(&b, "sequence")?,
                strings(&b, "body")?,
                timestamps(&b, "event_ts")?,
            );
            for i in 0..b.num_rows() {
                let event_type = EventType::parse(&types[i])
                    .ok_or_else(|| anyhow!("unknown event_type {}", types[i]))?;
                add(
                    &mut t.all_events,
                    Event {
                        ts: ts[i],
                        event_id: ids[i].clone(),
                        body: body[i].clone(),
                        event_type,
                        order_id: oid[i].as_str().into(),
                        sequence: seq[i],
                        gk_id: gk[i].as_str().into(),
                        location: loc[i].as_str().into(),
                        ts_raw: ts_raw[i].clone(),
                        items: Vec::new(),
                    },
                );
            }
        }
    }
    for (path, parts) in table_files(&lake.join("silver_order_items"))? {
        let order_day = partition_day(&parts, "order_day")?;
        for b in read_batches(&path)? {
            let (oid, gk, loc) = (
                strings(&b, "order_id")?,
                strings(&b, "gk_id")?,
                strings(&b, "location")?,
            );
            let (ts, item, menu) = (
                timestamps(&b, "order_ts")?,
                i32s(&b, "item_id")?,
                i32s(&b, "menu_id")?,
            );
            let (cat, brand, name) = (
                i32s(&b, "category_id")?,
                i32s(&b, "brand_id")?,
                strings(&b, "item_name")?,
            );
            let (price, qty, ext) = (
                money(&b, "price")?,
                i32s(&b, "qty")?,
                money(&b, "extended_price")?,
            );
            for i in 0..b.num_rows() {
                add(
                    &mut t.silver_order_items,
                    SilverOrderItem {
                        order_id: oid[i].as_str().into(),
                        gk_id: gk[i].as_str().into(),
                        location: loc[i].as_str().into(),
                        order_ts: ts[i],
                        order_day,
                        item_id: item[i],
                        menu_id: menu[i],
                        category_id: cat[i],
                        brand_id: brand[i],
                        item_name: name[i].as_str().into(),
                        price: price[i],
                        qty: qty[i],
                        extended_price: ext[i],
                    },
                );
            }
        }
    }
    for (path, _) in table_files(&lake.join("gold_order_header"))? {
        for b in read_batches(&path)? {
            let (oid, gk, loc) = (
                strings(&b, "order_id")?,
                strings(&b, "gk_id")?,
                strings(&b, "location")?,
            );
            let (day, rev) = (dates(&b, "order_day")?, money(&b, "order_revenue")?);
            let (qty, items) = (i64s(&b, "total_qty")?, i64s(&b, "total_items")?);
            let brands = col(&b, "brands_in_order")?
                .as_list_opt::<i32>()
                .ok_or_else(|| anyhow!("brands_in_order: not a list"))?;
            for i in 0..b.num_rows() {
                let list = brands.value(i);
                let list = list
                    .as_primitive_opt::<Int32Type>()
                    .ok_or_else(|| anyhow!("brands_in_order: not int32"))?;
                add(
                    &mut t.gold_order_header,
                    GoldOrderHeader {
                        order_id: oid[i].as_str().into(),
                        gk_id: gk[i].as_str().into(),
                        location: loc[i].as_str().into(),
                        order_day: day[i],
                        order_revenue: rev[i],
                        total_qty: qty[i],
                        total_items: items[i],
                        brands_in_order: list.values().to_vec(),
                    },
                );
            }
        }
    }
    for (path, parts) in table_files(&lake.join("gold_item_sales_day"))? {
        let day = partition_day(&parts, "day")?;
        for b in read_batches(&path)? {
            let (item, menu, cat, brand) = (
                i32s(&b, "item_id")?,
                i32s(&b, "menu_id")?,
                i32s(&b, "category_id")?,
                i32s(&b, "brand_id")?,
            );
            let (units, rev) = (i64s(&b, "units_sold")?, money(&b, "gross_revenue")?);
            for i in 0..b.num_rows() {
                add(
                    &mut t.gold_item_sales_day,
                    GoldItemSalesDay {
                        item_id: item[i],
                        menu_id: menu[i],
                        category_id: cat[i],
                        brand_id: brand[i],
                        day,
                        units_sold: units[i],
                        gross_revenue: rev[i],
                    },
                );
            }
        }
    }
    for (path, parts) in table_files(&lake.join("gold_brand_sales_day"))? {
        let day = partition_day(&parts, "day")?;
        for b in read_batches(&path)? {
            let (brand, orders) = (i32s(&b, "brand_id")?, i64s(&b, "orders")?);
            let (items, rev) = (i64s(&b, "items_sold")?, money(&b, "brand_revenue")?);
            for i in 0..b.num_rows() {
                add(
                    &mut t.gold_brand_sales_day,
                    GoldBrandSalesDay {
                        brand_id: brand[i],
                        day,
                        orders: orders[i],
                        items_sold: items[i],
                        brand_revenue: rev[i],
                    },
                );
            }
        }
    }
    for (path, parts) in table_files(&lake.join("gold_location_sales_hourly"))? {
        let text = parts
            .get("hour_ts")
            .ok_or_else(|| anyhow!("partition hour_ts missing"))?;
        let hour_ts = parse_timestamp(text)
            .ok_or_else(|| anyhow!("partition hour_ts={text} is not a timestamp"))?;
        for b in read_batches(&path)? {
            let (loc, orders, rev) = (
                strings(&b, "location")?,
                i64s(&b, "orders")?,
                money(&b, "revenue")?,
            );
            for i in 0..b.num_rows() {
                add(
                    &mut t.gold_location_sales_hourly,
                    GoldLocationSalesHourly {
                        location: loc[i].clone(),
                        hour_ts,
                        orders: orders[i],
                        revenue: rev[i],
                    },
                );
            }
        }
    }
    for (path, _) in table_files(&lake.join("refund_recommendations"))? {
        for b in read_batches(&path)? {
            let (oid, ts, resp) = (
                strings(&b, "order_id")?,
                timestamps(&b, "order_ts")?,
                strings(&b, "agent_response")?,
            );
            let (class, usd, loc) = (
                strings(&b, "refund_class")?,
                money(&b, "refund_usd")?,
                strings(&b, "location")?,
            );
            for i in 0..b.num_rows() {
                let row = (
                    oid[i].clone(),
                    ts[i],
                    resp[i].clone(),
                    class[i].clone(),
                    usd[i],
                    loc[i].clone(),
                );
                add(&mut t.refund_recommendations, row);
            }
        }
    }
    Ok(t)
}
