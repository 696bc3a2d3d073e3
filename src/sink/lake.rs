//! The lake sink: every silver and gold change, exchanged to the worker that owns its Parquet
//! file, accumulated at the frontier and published as whole-file rewrites of changed
//! partitions.
//!
//! Ownership is by file: each Hive partition (or, for the unpartitioned `gold_order_header`,
//! each of [`ORDER_HEADER_BUCKETS`] hash buckets) is one file `part-00000.parquet` written by
//! exactly one worker. The layout therefore does not depend on the worker or process count, and
//! rows inside a file are sorted, so the same input gives the same files.
//!
//! WARNING: a partition's rows are published only once every update at times before the
//! frontier has been applied; publishing earlier would expose a half-applied epoch.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;

use caspers_dataflows::model::{
    GoldBrandSalesDay, GoldItemSalesDay, GoldLocationSalesHourly, GoldOrderHeader, Order,
    SilverOrderItem,
};
use caspers_dataflows::money::Money;
use caspers_dataflows::refunds::RefundRecommendation;
use caspers_dataflows::silver::order_items::explode;
use caspers_dataflows::text::Text;
use caspers_dataflows::time::{day_of, format_day, format_timestamp, Day, Micros};

use crate::runtime::retention::Retention;

use crate::sink::frontier::FrontierBuffer;
use crate::sink::parquet::{self, ParquetError};

/// Hash buckets (files) of the unpartitioned `gold_order_header` table.
pub const ORDER_HEADER_BUCKETS: u64 = 16;

/// A row of one of the lake's silver or gold tables.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LakeRow {
    /// An order, whose items are its `silver_order_items` rows (exploded when the file is
    /// written: one order instead of ~4 rows to keep and to send to the file's owner).
    Silver(Order),
    /// `gold_order_header`.
    OrderHeader(GoldOrderHeader),
    /// `gold_item_sales_day`.
    ItemSalesDay(GoldItemSalesDay),
    /// `gold_brand_sales_day`.
    BrandSalesDay(GoldBrandSalesDay),
    /// `gold_location_sales_hourly`.
    LocationSalesHourly(GoldLocationSalesHourly),
    /// `refund_recommendations`, boxed: it is the largest row (160 bytes), and every row of
    /// the sink's maps, nearly all silver orders and order headers, took its size.
    Refund(Box<RefundRecommendation>),
}

pub use caspers_dataflows::hash::stable_hash;

/// The Hive directory value of an hour, as Spark writes it (`:` escaped as `%3A`).
pub fn hour_partition_value(hour_ts: Micros) -> String {
    let text = format_timestamp(hour_ts);
    // "YYYY-MM-DD HH:00:00.000000" -> "YYYY-MM-DD HH%3A00%3A00"
    text[..19].replace(':', "%3A")
}

/// A file of the lake, by what names it: cheap to compare, hash and keep per update; the path
/// is formatted only when the file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LakeFile {
    /// `silver_order_items/order_day=…`.
    Silver(Day),
    /// A hash bucket of `gold_order_header`.
    OrderHeader(u64),
    /// `gold_item_sales_day/day=…`.
    ItemSalesDay(Day),
    /// `gold_brand_sales_day/day=…`.
    BrandSalesDay(Day),
    /// `gold_location_sales_hourly/hour_ts=…`.
    LocationSalesHourly(Micros),
    /// A hash bucket of `refund_recommendations`.
    Refund(u64),
}

impl LakeFile {
    /// The path relative to the lake root.
    pub fn path(&self) -> String {
        match *self {
            LakeFile::Silver(day) => format!(
                "silver_order_items/order_day={}/part-00000.parquet",
                format_day(day)
            ),
            LakeFile::OrderHeader(bucket) => {
                format!("gold_order_header/part-{bucket:05}.parquet")
            }
            LakeFile::ItemSalesDay(day) => format!(
                "gold_item_sales_day/day={}/part-00000.parquet",
                format_day(day)
            ),
            LakeFile::BrandSalesDay(day) => format!(
                "gold_brand_sales_day/day={}/part-00000.parquet",
                format_day(day)
            ),
            LakeFile::LocationSalesHourly(hour) => format!(
                "gold_location_sales_hourly/hour_ts={}/part-00000.parquet",
                hour_partition_value(hour)
            ),
            LakeFile::Refund(bucket) => {
                format!("refund_recommendations/part-{bucket:05}.parquet")
            }
        }
    }

    /// Which worker writes the file: any stable spread works, since the files' contents do
    /// not depend on who writes them.
    fn owner_hash(&self) -> u64 {
        let (tag, value): (u8, i64) = match *self {
            LakeFile::Silver(day) => (0, i64::from(day)),
            LakeFile::OrderHeader(b) => (1, i64::try_from(b).unwrap_or(0)),
            LakeFile::ItemSalesDay(day) => (2, i64::from(day)),
            LakeFile::BrandSalesDay(day) => (3, i64::from(day)),
            LakeFile::LocationSalesHourly(hour) => (4, hour),
            LakeFile::Refund(b) => (5, i64::try_from(b).unwrap_or(0)),
        };
        let mut bytes = [0u8; 9];
        bytes[0] = tag;
        bytes[1..].copy_from_slice(&value.to_le_bytes());
        stable_hash(&bytes)
    }
}

impl LakeRow {
    /// The file this row lives in.
    pub fn file(&self) -> LakeFile {
        match self {
            LakeRow::Silver(o) => LakeFile::Silver(day_of(o.ts)),
            LakeRow::OrderHeader(r) => LakeFile::OrderHeader(
                r.order_id.with_str(|id| stable_hash(id.as_bytes())) % ORDER_HEADER_BUCKETS,
            ),
            LakeRow::ItemSalesDay(r) => LakeFile::ItemSalesDay(r.day),
            LakeRow::BrandSalesDay(r) => LakeFile::BrandSalesDay(r.day),
            LakeRow::LocationSalesHourly(r) => LakeFile::LocationSalesHourly(r.hour_ts),
            LakeRow::Refund(r) => {
                LakeFile::Refund(stable_hash(r.order_id.as_bytes()) % ORDER_HEADER_BUCKETS)
            }
        }
    }

    /// The day a row belongs to, for `--retain-days`.
    pub fn day(&self) -> Day {
        match self {
            LakeRow::Silver(o) => day_of(o.ts),
            LakeRow::OrderHeader(r) => r.order_day,
            LakeRow::ItemSalesDay(r) => r.day,
            LakeRow::BrandSalesDay(r) => r.day,
            LakeRow::LocationSalesHourly(r) => day_of(r.hour_ts),
            LakeRow::Refund(r) => day_of(r.order_ts),
        }
    }

    /// Whether the row's file holds one day (or hour) only, so a retired day's file is final.
    /// The hash-bucketed tables mix days in a file and keep every row in memory.
    pub fn partitioned_by_time(&self) -> bool {
        !matches!(self, LakeRow::OrderHeader(_) | LakeRow::Refund(_))
    }

    /// The table this row belongs to.
    pub fn table(&self) -> &'static str {
        match self {
            LakeRow::Silver(_) => "silver_order_items",
            LakeRow::OrderHeader(_) => "gold_order_header",
            LakeRow::ItemSalesDay(_) => "gold_item_sales_day",
            LakeRow::BrandSalesDay(_) => "gold_brand_sales_day",
            LakeRow::LocationSalesHourly(_) => "gold_location_sales_hourly",
            LakeRow::Refund(_) => "refund_recommendations",
        }
    }
}

/// When the sink writes what it has applied.
#[derive(Clone, Copy, Debug)]
pub enum PublishPolicy {
    /// Only once the input is complete (replay): every file is written once.
    AtEnd,
    /// Whenever the frontier advanced, at most once per interval (follow mode).
    Every(Duration),
}

/// What a worker's lake sink reports to the runtime.
#[derive(Debug, Default)]
pub struct SinkStatus {
    /// Epochs below this are applied and published by this worker.
    pub published_through: u64,
    /// Files (re)written so far.
    pub files_written: u64,
    /// The first error that stopped publishing (an unwritable or full lake).
    pub error: Option<String>,
}

/// The rows of one file with their counts: a sorted, consolidated run, and the updates since
/// in arrival order. The updates are merged in when they reach a quarter of the run (at least
/// 64: a pending `Vec` doubles, so a larger floor left most small files half empty), and before
/// the file is read ([`FileRows::settle`]). A `BTreeMap` of the rows took ~1.45× their size
/// (half-full nodes); this is the sink's largest state (a year's silver orders and order
/// headers).
#[derive(Debug, Default)]
pub struct FileRows {
    sorted: Vec<(LakeRow, i64)>,
    pending: Vec<(LakeRow, i64)>,
}

impl FileRows {
    /// Adds `diff` copies of `row`.
    pub fn update(&mut self, row: LakeRow, diff: i64) {
        if diff == 0 {
            return;
        }
        self.pending.push((row, diff));
        if self.pending.len() >= (self.sorted.len() / 4).max(64) {
            self.settle();
        }
    }

    /// Merges the pending updates into the sorted run.
    pub fn settle(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        differential_dataflow::consolidation::consolidate(&mut pending);
        let sorted = std::mem::take(&mut self.sorted);
        let mut merged = Vec::with_capacity(sorted.len() + pending.len());
        let mut sorted = sorted.into_iter().peekable();
        let mut pending = pending.into_iter().peekable();
        loop {
            let next = match (sorted.peek(), pending.peek()) {
                (Some(a), Some(b)) => match a.0.cmp(&b.0) {
                    std::cmp::Ordering::Less => sorted.next(),
                    std::cmp::Ordering::Greater => pending.next(),
                    std::cmp::Ordering::Equal => {
                        let (row, n) = sorted.next().unwrap_or_else(|| unreachable!());
                        let (_, m) = pending.next().unwrap_or_else(|| unreachable!());
                        Some((row, n + m))
                    }
                },
                (Some(_), None) => sorted.next(),
                (None, Some(_)) => pending.next(),
                (None, None) => break,
            };
            if let Some((row, n)) = next.filter(|(_, n)| *n != 0) {
                merged.push((row, n));
            }
        }
        self.sorted = merged;
    }

    /// The rows, sorted and consolidated: call [`FileRows::settle`] first.
    pub fn rows(&self) -> &[(LakeRow, i64)] {
        debug_assert!(self.pending.is_empty());
        &self.sorted
    }

    /// Whether the file has no rows: call [`FileRows::settle`] first.
    pub fn is_empty(&self) -> bool {
        self.rows().is_empty()
    }

    /// Some row of the file (they all share its table and partition).
    fn any_row(&self) -> Option<&LakeRow> {
        self.sorted
            .first()
            .or(self.pending.first())
            .map(|(row, _)| row)
    }
}

/// Attaches the lake sink to `rows`; `status` is shared with the worker's runtime loop.
///
/// With `retention`, changes to retired rows are ignored (the lake keeps them as last
/// published), and a day- or hour-partitioned file whose day is retired is published at once
/// (it can no longer change) and dropped from memory.
pub fn lake_sink<'s>(
    rows: VecCollection<'s, u64, LakeRow>,
    lake: PathBuf,
    policy: PublishPolicy,
    retention: Option<Retention>,
    status: std::rc::Rc<std::cell::RefCell<SinkStatus>>,
) {
    let mut pending: FrontierBuffer<LakeRow> = FrontierBuffer::default();
    let mut files: BTreeMap<LakeFile, FileRows> = BTreeMap::new();
    let mut dirty: BTreeSet<LakeFile> = BTreeSet::new();
    // Processing time of the epoch that last changed each recommendation (the sinks own the
    // clock; the views never read it).
    let mut stamps: BTreeMap<String, i64> = BTreeMap::new();
    let mut last_publish = Instant::now();
    let pact = Exchange::new(|(row, _time, _diff): &(LakeRow, u64, isize)| row.file().owner_hash());
    rows.inner
        .sink(pact, "lake sink", move |(input, frontier)| {
            input.for_each(|_cap, data| {
                for (row, time, diff) in data.drain(..) {
                    pending.absorb(row, time, diff);
                }
            });
            for (time, updates) in pending.complete(frontier) {
                let now = crate::runtime::now_micros();
                for (row, diff) in updates {
                    if retention.is_some_and(|r| r.frozen(row.day(), time)) {
                        continue;
                    }
                    if let (LakeRow::Refund(r), true) = (&row, diff > 0) {
                        stamps.insert(r.order_id.clone(), now);
                    }
                    let file = row.file();
                    let diff = i64::try_from(diff).unwrap_or(0);
                    files.entry(file).or_default().update(row, diff);
                    dirty.insert(file);
                }
            }
            let through = frontier.frontier().first().copied().unwrap_or(u64::MAX);
            let due = match policy {
                PublishPolicy::AtEnd => frontier.is_empty(),
                PublishPolicy::Every(interval) => {
                    frontier.is_empty() || last_publish.elapsed() >= interval
                }
            };
            let mut status = status.borrow_mut();
            // Files no future change can reach: publish them now, whatever the policy, and
            // forget their rows.
            let retired: BTreeSet<LakeFile> = match retention {
                Some(r) => files
                    .iter()
                    .filter(|(_, rows)| {
                        rows.any_row().is_some_and(|row| {
                            row.partitioned_by_time() && r.frozen(row.day(), through)
                        })
                    })
                    .map(|(file, _)| *file)
                    .collect(),
                None => BTreeSet::new(),
            };
            let publishing: BTreeSet<LakeFile> = if due {
                dirty.clone()
            } else {
                dirty.intersection(&retired).copied().collect()
            };
            if status.error.is_none() && !publishing.is_empty() {
                for file in &publishing {
                    if let Some(rows) = files.get_mut(file) {
                        rows.settle();
                    }
                }
                match publish_files(&lake, &publishing, &files, &stamps) {
                    Ok(n) => {
                        status.files_written += n;
                        for file in &publishing {
                            dirty.remove(file);
                            if files.get(file).is_some_and(FileRows::is_empty) {
                                files.remove(file);
                            }
                        }
                        if due {
                            last_publish = Instant::now();
                        }
                    }
                    Err(err) => status.error = Some(format!("{err:#}")),
                }
            }
            for file in retired {
                if !dirty.contains(&file) {
                    files.remove(&file);
                }
            }
            if due && dirty.is_empty() && status.error.is_none() {
                status.published_through = through;
            }
        });
}

/// Rewrites every dirty file (or removes it, when it has no rows left): all are staged under
/// hidden names, made durable with one file-system sync, renamed into place, and synced again.
/// Returns the number of files written or removed.
fn publish_files(
    lake: &Path,
    dirty: &BTreeSet<LakeFile>,
    files: &BTreeMap<LakeFile, FileRows>,
    stamps: &BTreeMap<String, i64>,
) -> Result<u64, ParquetError> {
    let mut staged = Vec::new();
    let mut removed = Vec::new();
    for file in dirty {
        let path = lake.join(file.path());
        match files.get(file).filter(|r| !r.is_empty()) {
            Some(rows) => {
                let batch = encode_rows(rows.rows(), stamps)?;
                staged.push((parquet::stage_parquet(&path, &batch)?, path));
            }
            None => removed.push(path),
        }
    }
    parquet::sync_filesystem(lake)?;
    for (tmp, path) in &staged {
        parquet::commit_staged(tmp, path)?;
    }
    for path in &removed {
        parquet::unpublish(path)?;
    }
    parquet::sync_filesystem(lake)?;
    Ok(u64::try_from(staged.len() + removed.len()).unwrap_or(u64::MAX))
}

/// Sorts and consolidates the silver rows of one order in place (as `consolidate_slice`
/// does), returning how many are kept. The rows share every field before the item's, so
/// the item's fields order them as the whole row does, without comparing the three ids
/// and the times of every pair first: a sort by whole rows was 1.4% of a replay.
fn consolidate_one_order(rows: &mut [(SilverOrderItem, i64)]) -> usize {
    fn item(r: &SilverOrderItem) -> (i32, i32, i32, i32, &Text, Money, i32, Money) {
        (
            r.item_id,
            r.menu_id,
            r.category_id,
            r.brand_id,
            &r.item_name,
            r.price,
            r.qty,
            r.extended_price,
        )
    }
    rows.sort_unstable_by(|(a, _), (b, _)| item(a).cmp(&item(b)));
    // Equal rows (an item repeated in the body) are adjacent now: one row, counts summed.
    let mut merged = 0;
    for i in 0..rows.len() {
        if merged > 0 && rows[merged - 1].0 == rows[i].0 {
            rows[merged - 1].1 += rows[i].1;
        } else {
            rows.swap(merged, i);
            merged += 1;
        }
    }
    let mut kept = 0;
    for i in 0..merged {
        if rows[i].1 != 0 {
            rows.swap(kept, i);
            kept += 1;
        }
    }
    kept
}

/// Encodes the rows of one file, all of one table, sorted and consolidated.
pub fn encode_rows(
    rows: &[(LakeRow, i64)],
    stamps: &BTreeMap<String, i64>,
) -> Result<arrow_array::RecordBatch, ParquetError> {
    fn pick<'a, T>(
        rows: &'a [(LakeRow, i64)],
        f: impl Fn(&'a LakeRow) -> Option<&'a T>,
    ) -> Vec<(&'a T, i64)> {
        rows.iter()
            .filter_map(|(r, c)| f(r).map(|t| (t, *c)))
            .collect()
    }
    match rows.first().map(|(row, _)| row) {
        Some(LakeRow::Silver(_)) => {
            let orders = pick(rows, |r| match r {
                LakeRow::Silver(o) => Some(o),
                _ => None,
            });
            // Sorted and consolidated, as the silver collection's rows would be: an item
            // repeated in an order is one row with a count of two there. A row sorts by its
            // order_id first, and the orders come sorted by order_id, so only the rows of one
            // order_id need sorting among themselves (sorting the whole file's rows was a
            // fifth of publishing).
            // The generator's orders have ~4 items: sized once instead of doubling.
            let mut items: Vec<(SilverOrderItem, i64)> = Vec::with_capacity(orders.len() * 4);
            for group in orders.chunk_by(|a, b| a.0.order_id == b.0.order_id) {
                let start = items.len();
                for (order, count) in group {
                    items.extend(explode(order).map(|row| (row, *count)));
                }
                let kept = match group {
                    [_] => consolidate_one_order(items.get_mut(start..).unwrap_or_default()),
                    _ => differential_dataflow::consolidation::consolidate_slice(
                        items.get_mut(start..).unwrap_or_default(),
                    ),
                };
                items.truncate(start + kept);
            }
            let refs: Vec<(&SilverOrderItem, i64)> = items.iter().map(|(r, c)| (r, *c)).collect();
            parquet::encode_silver_order_items(&refs)
        }
        Some(LakeRow::OrderHeader(_)) => {
            parquet::encode_gold_order_header(&pick(rows, |r| match r {
                LakeRow::OrderHeader(x) => Some(x),
                _ => None,
            }))
        }
        Some(LakeRow::ItemSalesDay(_)) => {
            parquet::encode_gold_item_sales_day(&pick(rows, |r| match r {
                LakeRow::ItemSalesDay(x) => Some(x),
                _ => None,
            }))
        }
        Some(LakeRow::BrandSalesDay(_)) => {
            parquet::encode_gold_brand_sales_day(&pick(rows, |r| match r {
                LakeRow::BrandSalesDay(x) => Some(x),
                _ => None,
            }))
        }
        Some(LakeRow::Refund(_)) => parquet::encode_refund_recommendations(
            &pick(rows, |r| match r {
                LakeRow::Refund(x) => Some(x.as_ref()),
                _ => None,
            }),
            |r| stamps.get(&r.order_id).copied().unwrap_or(0),
        ),
        Some(LakeRow::LocationSalesHourly(_)) | None => {
            parquet::encode_gold_location_sales_hourly(&pick(rows, |r| match r {
                LakeRow::LocationSalesHourly(x) => Some(x),
                _ => None,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caspers_dataflows::model::{Line, MenuItem};
    use caspers_dataflows::money::Money;
    use proptest::prelude::*;

    /// Orders from a few ids, timestamps, kitchens and items, so that orders share an
    /// order_id (distinct identities of one order), an item repeats inside an order, and one
    /// order_id's rows would interleave with another's if sorted by anything else.
    fn orders() -> impl Strategy<Value = Vec<(Order, i64)>> {
        // Menu and category vary against each other, so rows ordered by category before
        // menu (the fields' order in `MenuItem`) come out in another order than silver's.
        let line = (0i32..3, 0i32..2, 0i32..2, 1i32..3).prop_map(|(item, menu, category, qty)| {
            Line::new(
                MenuItem {
                    id: item,
                    category_id: category,
                    menu_id: menu,
                    brand_id: item % 2,
                    name: format!("item {item}").into(),
                    price: Money(1_000_000 + i64::from(item)),
                },
                qty,
            )
        });
        let order = (
            0u8..3,
            0i64..3,
            0u8..2,
            proptest::collection::vec(line, 0..4),
        )
            .prop_map(|(id, ts, gk, items)| Order {
                order_id: format!("o{id}").into(),
                ts: ts * 3_600_000_000,
                gk_id: format!("gk{gk}").into(),
                location: "loc".into(),
                items: items.into(),
            });
        proptest::collection::vec((order, 1i64..3), 1..8)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Updates of either sign, merged at any points: the rows are the consolidated sums
        /// of every update, as a map from row to count (zeros dropped) gives them.
        #[test]
        fn file_rows_are_the_consolidated_updates(
            updates in proptest::collection::vec((orders(), -2i64..3, proptest::bool::ANY), 0..12)
        ) {
            let mut file = FileRows::default();
            let mut reference: BTreeMap<LakeRow, i64> = BTreeMap::new();
            for (orders, diff, settle) in updates {
                for (order, _) in orders {
                    let row = LakeRow::Silver(order);
                    *reference.entry(row.clone()).or_default() += diff;
                    file.update(row, diff);
                }
                if settle {
                    file.settle();
                }
            }
            file.settle();
            reference.retain(|_, n| *n != 0);
            let want: Vec<(LakeRow, i64)> = reference.into_iter().collect();
            prop_assert_eq!(file.rows(), &want[..]);
        }

        /// A silver file's batch is every order's rows exploded, then sorted and consolidated
        /// as one multiset: the per-order_id sort `encode_rows` does must give exactly that.
        #[test]
        fn silver_file_rows_are_the_sorted_consolidated_explosion(orders in orders()) {
            let mut rows: BTreeMap<LakeRow, i64> = BTreeMap::new();
            for (order, count) in &orders {
                *rows.entry(LakeRow::Silver(order.clone())).or_default() += count;
            }
            let mut file = FileRows::default();
            for (row, count) in &rows {
                file.update(row.clone(), *count);
            }
            file.settle();
            let batch = encode_rows(file.rows(), &BTreeMap::new()).expect("encodes");
            let mut expected: Vec<(SilverOrderItem, i64)> = rows
                .iter()
                .flat_map(|(row, count)| match row {
                    LakeRow::Silver(order) => explode(order).map(|r| (r, *count)).collect(),
                    _ => Vec::new(),
                })
                .collect();
            differential_dataflow::consolidation::consolidate(&mut expected);
            let refs: Vec<(&SilverOrderItem, i64)> = expected.iter().map(|(r, c)| (r, *c)).collect();
            let want = parquet::encode_silver_order_items(&refs).expect("encodes");
            prop_assert_eq!(batch, want);
        }
    }
}
