//! Encoding view rows as Arrow record batches and publishing Parquet files atomically.
//!
//! Encoding (rows → `RecordBatch`) is kept apart from publishing (temp file, fsync, rename,
//! fsync of the directory) so either can be tested alone. Schemas follow the technical
//! reference: money as DOUBLE (converted from exact micro-dollars here and nowhere earlier),
//! DATE as Date32, TIMESTAMP as microseconds UTC, arrays as lists. Hive partition columns
//! (`order_day`, `day`, `hour_ts`) live in the directory name only, as Spark writes them.

use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    Date32Builder, Float64Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowRowGroupWriterFactory};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter, ArrowWriter};
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

use caspers_dataflows::model::{
    EventType, GoldBrandSalesDay, GoldItemSalesDay, GoldLocationSalesHourly, GoldOrderHeader,
    SilverOrderItem,
};
use caspers_dataflows::refunds::RefundRecommendation;

use crate::sink::plain::{
    ChunkSpec, ColumnChunks, DictInt, DictText, PageLimits, PlainInt, PlainText,
    STATISTICS_MAX_BYTES,
};
use crate::source::EventRef;

/// Errors while encoding or publishing a Parquet file.
#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    /// [`BronzeColumns::finish`] of columns that kept no text (a bug of the caller).
    #[error("bronze columns made by BronzeColumns::tally have no text to write")]
    Tally,
    /// Arrow refused the batch (a schema bug, not a data problem).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The Parquet writer failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The file system failed (unwritable or full lake directory).
    #[error("writing {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ParquetError + '_ {
    move |source| ParquetError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn field(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, false)
}

/// Repeats each row as many times as its multiplicity says (an item repeated in one order is
/// two rows); non-positive counts never reach an encoder. The rows are borrowed: the sink
/// keeps them, and cloning each file's rows out of its map cost a third of publishing.
fn expand<'a, R>(rows: &'a [(&'a R, i64)]) -> impl Iterator<Item = &'a R> + 'a {
    rows.iter()
        .flat_map(|&(row, count)| std::iter::repeat_n(row, usize::try_from(count).unwrap_or(0)))
}

/// Schema of `all_events` (bronze): the original record plus the parsed event time.
pub fn all_events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("event_id", DataType::Utf8),
        field("event_type", DataType::Utf8),
        field("ts", DataType::Utf8),
        field("gk_id", DataType::Utf8),
        field("location", DataType::Utf8),
        field("order_id", DataType::Utf8),
        field("sequence", DataType::Int64),
        field("body", DataType::Utf8),
        field("event_ts", utc_micros()),
    ]))
}

/// The bronze table of one landing file, filled as the reader decodes it: no owned event per
/// record, and each text column is one buffer (most records are only ever written here).
#[derive(Debug, Default)]
pub struct BronzeColumns {
    event_id: PlainText,
    event_type: Vec<EventType>,
    ts: PlainText,
    gk_id: DictText,
    location: DictText,
    order_id: PlainText,
    sequence: DictInt,
    body: PlainText,
    event_ts: PlainInt,
    /// Only types and times are kept ([`BronzeColumns::tally`]).
    tally: bool,
}

impl BronzeColumns {
    /// Empty columns with room for a landing file of `file_bytes` bytes, so they do not grow
    /// by copying as the file is read: each doubling of a multi-megabyte column copied it into
    /// fresh pages, and those page faults were ~2% of a replay's CPU. The reservation is an
    /// upper bound (a field's text is never longer than the file); pages never written are
    /// never faulted in. Capped, so a huge (streamed) file asks for no more address space
    /// up front than a normal one; its columns grow as before past that.
    pub fn for_file(file_bytes: u64) -> BronzeColumns {
        const CAP: usize = 64 << 20;
        let bytes = usize::try_from(file_bytes).unwrap_or(CAP).min(CAP);
        // The shortest record the generator writes is ~260 bytes.
        let records = bytes / 200 + 1;
        BronzeColumns {
            event_id: PlainText::with_capacity(records, records * 32),
            event_type: Vec::with_capacity(records),
            ts: PlainText::with_capacity(records, records * 26),
            gk_id: DictText::with_capacity(records),
            location: DictText::with_capacity(records),
            order_id: PlainText::with_capacity(records, records * 32),
            sequence: DictInt::with_capacity(records),
            body: PlainText::with_capacity(records, bytes),
            event_ts: PlainInt::with_capacity(records),
            tally: false,
        }
    }

    /// Columns that keep only each record's type and time, what the run's counters read,
    /// when no bronze file is written (`--no-bronze`); [`BronzeColumns::finish`] refuses them.
    pub fn tally() -> BronzeColumns {
        BronzeColumns {
            tally: true,
            ..BronzeColumns::default()
        }
    }

    /// Appends one record.
    pub fn push(&mut self, e: &EventRef<'_>) {
        self.event_type.push(e.event_type);
        self.event_ts.push(e.ts);
        if self.tally {
            return;
        }
        self.event_id.push(&e.event_id);
        self.ts.push(&e.ts_raw);
        self.gk_id.push(&e.gk_id);
        self.location.push(&e.location);
        self.order_id.push(&e.order_id);
        self.sequence.push(e.sequence);
        self.body.push(e.body);
    }

    /// Records appended.
    pub fn len(&self) -> usize {
        self.event_type.len()
    }

    /// Whether no record was appended.
    pub fn is_empty(&self) -> bool {
        self.event_type.is_empty()
    }

    /// Keeps the first `len` records.
    pub fn truncate(&mut self, len: usize) {
        self.gk_id.truncate(len);
        self.location.truncate(len);
        for column in [
            &mut self.event_id,
            &mut self.ts,
            &mut self.order_id,
            &mut self.body,
        ] {
            column.truncate(len);
        }
        self.event_type.truncate(len);
        self.sequence.truncate(len);
        self.event_ts.truncate(len);
    }

    /// Each record's type, in order.
    pub fn event_types(&self) -> &[EventType] {
        &self.event_type
    }

    /// Each record's event time, in order.
    pub fn event_times(&self) -> &[i64] {
        self.event_ts.values()
    }

    /// The record batch, in the order appended (copying every column).
    pub fn finish(self) -> Result<RecordBatch, ParquetError> {
        let event_type = self.event_type_column()?;
        let schema = all_events_schema();
        let columns = (0..schema.fields().len())
            .map(|i| self.column(i, &event_type).to_array(schema.field(i)))
            .collect::<Result<_, _>>()?;
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// `event_type` as [`BronzeColumns::stage`] writes it: its codes are the types'
    /// discriminants (the run's counters read the types themselves, so they are kept as such).
    fn event_type_column(&self) -> Result<DictText, ParquetError> {
        if self.tally {
            return Err(ParquetError::Tally);
        }
        Ok(DictText::from_codes(
            EventType::ALL.iter().map(|t| t.as_str()),
            self.event_type.iter().map(|&t| t as u32).collect(),
        ))
    }

    /// The column at index `i` of [`all_events_schema`], each kept as Parquet stores it while
    /// the reader fills it, so that [`BronzeColumns::stage`] encodes it without the Arrow
    /// writer: through it, copying each value into its page buffers, hashing dictionary values
    /// and comparing for statistics value by value was ~10% of a replay's instructions besides
    /// the compression itself.
    fn column<'a>(&'a self, i: usize, event_type: &'a DictText) -> &'a dyn ColumnChunks {
        match i {
            0 => &self.event_id,
            1 => event_type,
            2 => &self.ts,
            3 => &self.gk_id,
            4 => &self.location,
            5 => &self.order_id,
            6 => &self.sequence,
            7 => &self.body,
            8 => &self.event_ts,
            _ => panic!("all_events has 9 columns, not {}", i + 1),
        }
    }

    /// Writes the bronze file of these records under the hidden temp name of `path`, as
    /// [`stage_parquet`] would write [`BronzeColumns::finish`]'s batch (but for dictionary
    /// order and page cuts), and returns that name. The columns are encoded without the
    /// Arrow writer ([`BronzeColumns::column`]), with [`writer_properties`]' compression, dictionaries
    /// and statistics; but `ts` when a value is too long for exact statistics.
    pub fn stage(self, path: &Path) -> Result<std::path::PathBuf, ParquetError> {
        self.stage_sized(path, None)
    }

    /// [`BronzeColumns::stage`], with row groups of at most `sizes.0` rows and pages cut at
    /// `sizes.1` instead of the writer properties' (tests make many of both from few rows).
    fn stage_sized(
        self,
        path: &Path,
        sizes: Option<(usize, PageLimits)>,
    ) -> Result<std::path::PathBuf, ParquetError> {
        let rows = self.len();
        let event_type = self.event_type_column()?;
        let schema = all_events_schema();
        let mut props = writer_properties(&schema, rows);
        add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&schema)?;
        let props = Arc::new(props);
        let (group_rows, limits) = sizes.unwrap_or((
            props.max_row_group_row_count().unwrap_or(usize::MAX),
            PageLimits {
                bytes: props.data_page_size_limit(),
                rows: props.data_page_row_count_limit(),
            },
        ));
        let group_rows = group_rows.max(1);
        // Parquet's writer truncates longer min/max values; such (hostile) text takes its
        // path, exactly as it writes it.
        let ts_index = schema.index_of("ts")?;
        let arrow_ts = (self.ts.longest() > STATISTICS_MAX_BYTES)
            .then(|| self.ts.to_array(schema.field(ts_index)))
            .transpose()?;
        write_staged(path, |file| {
            let mut writer =
                SerializedFileWriter::new(file, parquet_schema.root_schema_ptr(), props.clone())?;
            let factory = arrow_ts
                .as_ref()
                .map(|_| ArrowRowGroupWriterFactory::new(&writer, schema.clone()));
            let mut scratch = SCRATCH.take();
            let mut first = 0;
            let mut group = 0;
            // No records, no row group, as with the Arrow writer.
            while first < rows {
                let last = first.saturating_add(group_rows).min(rows);
                let mut row_group = writer.next_row_group()?;
                for i in 0..schema.fields().len() {
                    let descr = parquet_schema.column(i);
                    if let (Some(factory), Some(array)) = (&factory, &arrow_ts) {
                        if i == ts_index {
                            let mut column = factory.create_column_writers(group)?.swap_remove(i);
                            let slice = array.slice(first, last - first);
                            for leaf in compute_leaves(schema.field(i), &slice)? {
                                column.write(&leaf)?;
                            }
                            column.close()?.append_to_row_group(&mut row_group)?;
                            continue;
                        }
                    }
                    let path = descr.path().clone();
                    let spec = ChunkSpec {
                        rows: first..last,
                        descr,
                        codec: props.compression(&path),
                        limits,
                        statistics: props.statistics_enabled(&path) != EnabledStatistics::None,
                        dictionary: props.dictionary_enabled(&path),
                    };
                    let (bytes, close) = self.column(i, &event_type).chunk(&spec, &mut scratch)?;
                    row_group.append_column(&bytes, close)?;
                }
                row_group.close()?;
                first = last;
                group += 1;
            }
            writer.close()?;
            if scratch.len() <= SCRATCH_KEEP {
                SCRATCH.set(scratch);
            }
            Ok(())
        })
    }
}

thread_local! {
    /// The snappy output buffer of [`BronzeColumns::stage`], kept between files: it must be
    /// initialised memory, and zero-filling a fresh one per file (its size grows with each
    /// larger page) was ~1.4% of a replay's instructions.
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Largest [`SCRATCH`] kept (pages of huge records need more, once).
const SCRATCH_KEEP: usize = 4 << 20;

/// Schema of `silver_order_items` files (`order_day` is the partition directory).
pub fn silver_order_items_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("order_id", DataType::Utf8),
        field("gk_id", DataType::Utf8),
        field("location", DataType::Utf8),
        field("order_ts", utc_micros()),
        field("item_id", DataType::Int32),
        field("menu_id", DataType::Int32),
        field("category_id", DataType::Int32),
        field("brand_id", DataType::Int32),
        field("item_name", DataType::Utf8),
        field("price", DataType::Float64),
        field("qty", DataType::Int32),
        field("extended_price", DataType::Float64),
    ]))
}

/// Encodes silver rows (with multiplicities).
pub fn encode_silver_order_items(
    rows: &[(&SilverOrderItem, i64)],
) -> Result<RecordBatch, ParquetError> {
    // Sized up front: growing a day's dozen builders showed up in publishing.
    let n = expand(rows).count();
    let mut order_id = StringBuilder::with_capacity(n, n * 32);
    let mut gk_id = StringBuilder::with_capacity(n, n * 32);
    let mut location = StringBuilder::with_capacity(n, n * 16);
    let mut order_ts = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut item_id = Int32Builder::with_capacity(n);
    let mut menu_id = Int32Builder::with_capacity(n);
    let mut category_id = Int32Builder::with_capacity(n);
    let mut brand_id = Int32Builder::with_capacity(n);
    let mut item_name = StringBuilder::with_capacity(n, n * 24);
    let mut price = Float64Builder::with_capacity(n);
    let mut qty = Int32Builder::with_capacity(n);
    let mut extended_price = Float64Builder::with_capacity(n);
    for r in expand(rows) {
        r.order_id.with_str(|s| order_id.append_value(s));
        r.gk_id.with_str(|s| gk_id.append_value(s));
        r.location.with_str(|s| location.append_value(s));
        order_ts.append_value(r.order_ts);
        item_id.append_value(r.item_id);
        menu_id.append_value(r.menu_id);
        category_id.append_value(r.category_id);
        brand_id.append_value(r.brand_id);
        r.item_name.with_str(|s| item_name.append_value(s));
        price.append_value(r.price.to_f64());
        qty.append_value(r.qty);
        extended_price.append_value(r.extended_price.to_f64());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(order_id.finish()),
        Arc::new(gk_id.finish()),
        Arc::new(location.finish()),
        Arc::new(order_ts.finish()),
        Arc::new(item_id.finish()),
        Arc::new(menu_id.finish()),
        Arc::new(category_id.finish()),
        Arc::new(brand_id.finish()),
        Arc::new(item_name.finish()),
        Arc::new(price.finish()),
        Arc::new(qty.finish()),
        Arc::new(extended_price.finish()),
    ];
    Ok(RecordBatch::try_new(silver_order_items_schema(), columns)?)
}

/// Schema of `gold_order_header` (not partitioned, so `order_day` is a column).
pub fn gold_order_header_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("order_id", DataType::Utf8),
        field("gk_id", DataType::Utf8),
        field("location", DataType::Utf8),
        field("order_day", DataType::Date32),
        field("order_revenue", DataType::Float64),
        field("total_qty", DataType::Int64),
        field("total_items", DataType::Int64),
        field(
            "brands_in_order",
            DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
        ),
    ]))
}

/// Encodes order headers.
pub fn encode_gold_order_header(
    rows: &[(&GoldOrderHeader, i64)],
) -> Result<RecordBatch, ParquetError> {
    let n = expand(rows).count();
    let mut order_id = StringBuilder::with_capacity(n, n * 32);
    let mut gk_id = StringBuilder::with_capacity(n, n * 32);
    let mut location = StringBuilder::with_capacity(n, n * 16);
    let mut order_day = Date32Builder::with_capacity(n);
    let mut order_revenue = Float64Builder::with_capacity(n);
    let mut total_qty = Int64Builder::with_capacity(n);
    let mut total_items = Int64Builder::with_capacity(n);
    let mut brands = ListBuilder::with_capacity(Int32Builder::with_capacity(2 * n), n);
    for r in expand(rows) {
        r.order_id.with_str(|s| order_id.append_value(s));
        r.gk_id.with_str(|s| gk_id.append_value(s));
        r.location.with_str(|s| location.append_value(s));
        order_day.append_value(r.order_day);
        order_revenue.append_value(r.order_revenue.to_f64());
        total_qty.append_value(r.total_qty);
        total_items.append_value(r.total_items);
        brands.values().append_slice(&r.brands_in_order);
        brands.append(true);
    }
    let brands = brands.finish();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(order_id.finish()),
        Arc::new(gk_id.finish()),
        Arc::new(location.finish()),
        Arc::new(order_day.finish()),
        Arc::new(order_revenue.finish()),
        Arc::new(total_qty.finish()),
        Arc::new(total_items.finish()),
        Arc::new(brands),
    ];
    // The list builder names its child "item" and makes it nullable; the schema says the same.
    Ok(RecordBatch::try_new(gold_order_header_schema(), columns)?)
}

/// Schema of `gold_item_sales_day` files (`day` is the partition directory).
pub fn gold_item_sales_day_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("item_id", DataType::Int32),
        field("menu_id", DataType::Int32),
        field("category_id", DataType::Int32),
        field("brand_id", DataType::Int32),
        field("units_sold", DataType::Int64),
        field("gross_revenue", DataType::Float64),
    ]))
}

/// Encodes item sales rows of one day.
pub fn encode_gold_item_sales_day(
    rows: &[(&GoldItemSalesDay, i64)],
) -> Result<RecordBatch, ParquetError> {
    let mut item_id = Int32Builder::new();
    let mut menu_id = Int32Builder::new();
    let mut category_id = Int32Builder::new();
    let mut brand_id = Int32Builder::new();
    let mut units_sold = Int64Builder::new();
    let mut gross_revenue = Float64Builder::new();
    for r in expand(rows) {
        item_id.append_value(r.item_id);
        menu_id.append_value(r.menu_id);
        category_id.append_value(r.category_id);
        brand_id.append_value(r.brand_id);
        units_sold.append_value(r.units_sold);
        gross_revenue.append_value(r.gross_revenue.to_f64());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(item_id.finish()),
        Arc::new(menu_id.finish()),
        Arc::new(category_id.finish()),
        Arc::new(brand_id.finish()),
        Arc::new(units_sold.finish()),
        Arc::new(gross_revenue.finish()),
    ];
    Ok(RecordBatch::try_new(gold_item_sales_day_schema(), columns)?)
}

/// Schema of `gold_brand_sales_day` files (`day` is the partition directory).
pub fn gold_brand_sales_day_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("brand_id", DataType::Int32),
        field("orders", DataType::Int64),
        field("items_sold", DataType::Int64),
        field("brand_revenue", DataType::Float64),
    ]))
}

/// Encodes brand sales rows of one day.
pub fn encode_gold_brand_sales_day(
    rows: &[(&GoldBrandSalesDay, i64)],
) -> Result<RecordBatch, ParquetError> {
    let mut brand_id = Int32Builder::new();
    let mut orders = Int64Builder::new();
    let mut items_sold = Int64Builder::new();
    let mut brand_revenue = Float64Builder::new();
    for r in expand(rows) {
        brand_id.append_value(r.brand_id);
        orders.append_value(r.orders);
        items_sold.append_value(r.items_sold);
        brand_revenue.append_value(r.brand_revenue.to_f64());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(brand_id.finish()),
        Arc::new(orders.finish()),
        Arc::new(items_sold.finish()),
        Arc::new(brand_revenue.finish()),
    ];
    Ok(RecordBatch::try_new(
        gold_brand_sales_day_schema(),
        columns,
    )?)
}

/// Schema of `gold_location_sales_hourly` files (`hour_ts` is the partition directory).
pub fn gold_location_sales_hourly_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("location", DataType::Utf8),
        field("orders", DataType::Int64),
        field("revenue", DataType::Float64),
    ]))
}

/// Encodes location sales rows of one hour.
pub fn encode_gold_location_sales_hourly(
    rows: &[(&GoldLocationSalesHourly, i64)],
) -> Result<RecordBatch, ParquetError> {
    let mut location = StringBuilder::new();
    let mut orders = Int64Builder::new();
    let mut revenue = Float64Builder::new();
    for r in expand(rows) {
        location.append_value(&r.location);
        orders.append_value(r.orders);
        revenue.append_value(r.revenue.to_f64());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(location.finish()),
        Arc::new(orders.finish()),
        Arc::new(revenue.finish()),
    ];
    Ok(RecordBatch::try_new(
        gold_location_sales_hourly_schema(),
        columns,
    )?)
}

/// Schema of `refund_recommendations`: the reference's columns plus the class and amount
/// (for filtering without JSON parsing) and the delivery's location.
pub fn refund_recommendations_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("order_id", DataType::Utf8),
        field("ts", utc_micros()),
        field("order_ts", utc_micros()),
        field("agent_response", DataType::Utf8),
        field("refund_class", DataType::Utf8),
        field("refund_usd", DataType::Float64),
        field("location", DataType::Utf8),
    ]))
}

/// Encodes recommendations; `ts` gives each row's processing time (µs UTC).
pub fn encode_refund_recommendations(
    rows: &[(&RefundRecommendation, i64)],
    ts: impl Fn(&RefundRecommendation) -> i64,
) -> Result<RecordBatch, ParquetError> {
    let mut order_id = StringBuilder::new();
    let mut stamp = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut order_ts = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut response = StringBuilder::new();
    let mut class = StringBuilder::new();
    let mut usd = Float64Builder::new();
    let mut location = StringBuilder::new();
    for r in expand(rows) {
        order_id.append_value(&r.order_id);
        stamp.append_value(ts(r));
        order_ts.append_value(r.order_ts);
        response.append_value(&r.agent_response);
        class.append_value(&r.refund_class);
        usd.append_value(r.refund_usd.to_f64());
        location.append_value(&r.location);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(order_id.finish()),
        Arc::new(stamp.finish()),
        Arc::new(order_ts.finish()),
        Arc::new(response.finish()),
        Arc::new(class.finish()),
        Arc::new(usd.finish()),
        Arc::new(location.finish()),
    ];
    Ok(RecordBatch::try_new(
        refund_recommendations_schema(),
        columns,
    )?)
}

/// Writes `batch` to `path` atomically: a hidden temp file in the same directory, fsync, rename
/// over `path`, fsync of the directory. Readers see the old file or the new one, never a part.
pub fn publish_parquet(path: &Path, batch: &RecordBatch) -> Result<(), ParquetError> {
    let tmp = stage_parquet(path, batch)?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io_err(&tmp))?;
    commit_staged(&tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes everything written under `path`'s file system durable: one `syncfs` instead of one
/// fsync per file and directory, which matters when a publish rewrites thousands of
/// partitions. Call it after staging (so no rename can expose unflushed data) and again after
/// the renames.
pub fn sync_filesystem(path: &Path) -> Result<(), ParquetError> {
    let dir = File::open(path).map_err(io_err(path))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: syncfs only reads the descriptor, which `dir` keeps open for the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(io_err(path)(io::Error::last_os_error()));
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        dir.sync_all().map_err(io_err(path))
    }
}

/// The hidden temp name [`stage_parquet`] uses for `path`; no reader glob matches it.
pub fn staged_name(path: &Path) -> std::path::PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("part.parquet");
    dir.join(format!(".{name}.tmp"))
}

/// Renames a staged file into place (make it durable first: [`sync_filesystem`]).
pub fn commit_staged(tmp: &Path, path: &Path) -> Result<(), ParquetError> {
    fs::rename(tmp, path).map_err(io_err(path))
}

/// Files with fewer rows are written without dictionaries.
const TINY_FILE_ROWS: usize = 64;

/// Writes `batch` under the hidden temp name of `path`, returning that name; the file becomes
/// visible only through [`commit_staged`], after a [`sync_filesystem`].
pub fn stage_parquet(path: &Path, batch: &RecordBatch) -> Result<std::path::PathBuf, ParquetError> {
    let props = writer_properties(&batch.schema(), batch.num_rows());
    write_staged(path, |file| {
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
        writer.write(batch)?;
        writer.into_inner()?;
        Ok(())
    })
}

/// Creates the hidden temp file of `path` (and its directory), lets `write` fill it, and
/// returns its name; on failure the temp file is removed.
fn write_staged(
    path: &Path,
    write: impl FnOnce(File) -> Result<(), ParquetError>,
) -> Result<std::path::PathBuf, ParquetError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = staged_name(path);
    let file = File::create(&tmp).map_err(io_err(&tmp))?;
    if let Err(err) = write(file) {
        let _ = fs::remove_file(&tmp);
        return Err(err);
    }
    Ok(tmp)
}

/// How a file of `schema` with `rows` rows is written.
fn writer_properties(schema: &Schema, rows: usize) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by("caspers".into());
    // Nearly unique text: a dictionary never pays off (the writer builds one, then falls back),
    // and min/max statistics of JSON bodies help no reader. `order_id` repeats only a few
    // times per file (an order's events in bronze, its items in silver): its dictionary saved
    // ~2% of bronze's bytes for ~2% of a replay's CPU, hashing every id; its statistics stay
    // for readers that prune by order.
    for name in ["event_id", "ts", "body", "order_id"] {
        if schema.column_with_name(name).is_some() {
            let column = ColumnPath::from(name);
            props = props.set_column_dictionary_enabled(column.clone(), false);
            if name != "ts" && name != "order_id" {
                props = props.set_column_statistics_enabled(column, EnabledStatistics::None);
            }
        }
    }
    // A bronze file holds one landing file's records in arrival order: every location,
    // kitchen, type and a spread of random order ids, so their min/max never prune a file
    // or a page, and computing them (two string comparisons a value) was ~3% of a replay.
    // Its time columns keep theirs (landing files are cut by time). `event_ts` is nearly
    // unique per file: a dictionary only costs a hash per value. Event ids are random hex,
    // which snappy shrinks by a tenth at ~4% of a full replay's instructions (it hunts for
    // repeats that are not there): they are stored as they are, for 3.5% more bronze bytes.
    if schema.column_with_name("body").is_some() {
        for name in ["order_id", "gk_id", "location", "event_type"] {
            props = props
                .set_column_statistics_enabled(ColumnPath::from(name), EnabledStatistics::None);
        }
        props = props
            .set_column_dictionary_enabled(ColumnPath::from("event_ts"), false)
            .set_column_compression(ColumnPath::from("event_id"), Compression::UNCOMPRESSED);
    }
    // Most partition files are tiny (a location's hour, a day's brands): a dictionary cannot
    // pay off in a few rows, and setting up its hash table was a quarter of such a file's
    // instructions, ~9 K files a year.
    if rows < TINY_FILE_ROWS {
        props = props.set_dictionary_enabled(false);
    }
    props.build()
}

/// Removes a published file (a partition that became empty) and syncs its directory.
pub fn unpublish(path: &Path) -> Result<(), ParquetError> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(path)(e)),
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    // An emptied partition directory would still show up as a partition to some readers.
    let _ = fs::remove_dir(dir);
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), ParquetError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, StringArray};

    fn record<'e>(order_id: &'e str, body: &'e str, ts: i64) -> EventRef<'e> {
        EventRef {
            ts,
            event_type: EventType::DriverPing,
            sequence: 3,
            event_id: "e".into(),
            order_id: order_id.into(),
            gk_id: "gk".into(),
            location: "sf".into(),
            ts_raw: "raw".into(),
            body,
            items: Vec::new(),
        }
    }

    fn strings(batch: &RecordBatch, name: &str) -> Vec<String> {
        let column = batch.column_by_name(name).unwrap();
        let column = column.as_any().downcast_ref::<StringArray>().unwrap();
        (0..column.len())
            .map(|i| column.value(i).to_owned())
            .collect()
    }

    /// Tally columns (`--no-bronze`) keep types and times through pushes and truncation, and
    /// refuse to become a bronze file.
    #[test]
    fn tally_keeps_types_and_times_only() {
        let mut columns = BronzeColumns::tally();
        columns.push(&record("a", "{}", 1));
        columns.push(&record("b", "{}", 2));
        columns.truncate(1);
        columns.push(&record("c", "{}", 3));
        assert_eq!(columns.len(), 2);
        assert_eq!(columns.event_times(), &[1, 3]);
        assert_eq!(columns.event_types().len(), 2);
        assert!(matches!(columns.finish(), Err(ParquetError::Tally)));
    }

    /// Bronze files keep min/max only where they can prune (the time columns), and read back
    /// with every value intact.
    /// A file of a few rows has no dictionary; one of many rows keeps them; both read back.
    #[test]
    fn tiny_files_without_dictionaries() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let dir = tempfile::tempdir().unwrap();
        for (n, dictionaries) in [
            (1, false),
            (TINY_FILE_ROWS - 1, false),
            (TINY_FILE_ROWS, true),
        ] {
            let row = GoldLocationSalesHourly {
                location: "sanfrancisco".into(),
                hour_ts: 0,
                orders: 3,
                revenue: caspers_dataflows::money::Money::parse_decimal("19.99").unwrap(),
            };
            let rows = vec![(&row, 1); n];
            let batch = encode_gold_location_sales_hourly(&rows).unwrap();
            let tmp = stage_parquet(&dir.path().join(format!("{n}.parquet")), &batch).unwrap();
            let reader = SerializedFileReader::new(File::open(&tmp).unwrap()).unwrap();
            let group = reader.metadata().row_group(0);
            for i in 0..group.num_columns() {
                let column = group.column(i);
                assert_eq!(
                    column.dictionary_page_offset().is_some(),
                    dictionaries,
                    "{n} rows, {}",
                    column.column_path()
                );
            }
            let back: Vec<RecordBatch> =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    File::open(&tmp).unwrap(),
                )
                .unwrap()
                .build()
                .unwrap()
                .map(|b| b.unwrap())
                .collect();
            assert_eq!(back, vec![batch]);
        }
    }

    #[test]
    fn bronze_statistics_only_on_time_columns_and_event_ids_uncompressed() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let mut columns = BronzeColumns::default();
        columns.push(&record("b", "{\"x\": 1}", 7));
        columns.push(&record("a", "{\"é\": \"ü\"}", 5));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.parquet");
        let tmp = columns.stage(&path).unwrap();
        let reader = SerializedFileReader::new(File::open(&tmp).unwrap()).unwrap();
        let group = reader.metadata().row_group(0);
        let chunk = |name: &str| column_named(group, name);
        let stats = |name: &str| {
            chunk(name)
                .statistics()
                .is_some_and(|s| s.min_bytes_opt().is_some())
        };
        for i in 0..group.num_columns() {
            let column = group.column(i);
            let expected = if column.column_path().string() == "event_id" {
                Compression::UNCOMPRESSED
            } else {
                Compression::SNAPPY
            };
            assert_eq!(column.compression(), expected, "{}", column.column_path());
        }
        assert_eq!(chunk("body").compression(), Compression::SNAPPY);
        for name in ["ts", "event_ts", "sequence"] {
            assert!(stats(name), "{name} lost its statistics");
        }
        for name in [
            "event_id",
            "body",
            "order_id",
            "gk_id",
            "location",
            "event_type",
        ] {
            assert!(!stats(name), "{name} has statistics");
        }
        let back = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            File::open(&tmp).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
        assert_eq!(strings(&back, "order_id"), ["b", "a"]);
        assert_eq!(strings(&back, "body"), ["{\"x\": 1}", "{\"é\": \"ü\"}"]);
    }

    /// A kitchen id new on every record makes a dictionary larger than its page limit: that
    /// column is written PLAIN (as Parquet's writer falls back), the others keep theirs, and
    /// every value reads back.
    #[test]
    fn huge_dictionaries_fall_back_to_plain() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let n = 40_000;
        let mut columns = BronzeColumns::default();
        let ids: Vec<String> = (0..n).map(|i| format!("{i:032x}")).collect();
        for (i, id) in ids.iter().enumerate() {
            let mut r = record("o", "{}", i as i64);
            r.gk_id = id.as_str().into();
            columns.push(&r);
        }
        let dir = tempfile::tempdir().unwrap();
        let tmp = columns.stage(&dir.path().join("part.parquet")).unwrap();
        let reader = SerializedFileReader::new(File::open(&tmp).unwrap()).unwrap();
        let group = reader.metadata().row_group(0);
        let dictionary = |name: &str| column_named(group, name).dictionary_page_offset().is_some();
        assert!(!dictionary("gk_id"));
        assert!(dictionary("location"));
        assert!(dictionary("event_type"));
        let back = read_all(&tmp);
        let gk: Vec<String> = back.iter().flat_map(|b| strings(b, "gk_id")).collect();
        assert_eq!(gk, ids);
    }

    /// The array fast path truncates what it pushed when it gives up: what is pushed after
    /// must line up with what was kept, in every column.
    #[test]
    fn bronze_columns_truncate_then_push() {
        let mut columns = BronzeColumns::default();
        columns.push(&record("a", "{\"x\": 1}", 1));
        columns.push(&record("bb", "{\"é\": \"ü\"}", 2));
        columns.push(&record("ccc", "{}", 3));
        columns.truncate(1);
        assert_eq!(columns.len(), 1);
        columns.push(&record("d", "{\"y\": [1, 2]}", 4));
        assert_eq!(columns.event_times(), &[1, 4]);
        let batch = columns.finish().unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(strings(&batch, "order_id"), ["a", "d"]);
        assert_eq!(strings(&batch, "body"), ["{\"x\": 1}", "{\"y\": [1, 2]}"]);
        assert_eq!(
            strings(&batch, "event_type"),
            ["driver_ping", "driver_ping"]
        );
    }

    /// What a reader of the file makes of it: the text columns bronze writes itself, read
    /// through parquet's own reader with the offset index required, skipping `skip` rows and
    /// taking `take`.
    fn read_selected(path: &Path, skip: usize, take: usize) -> Vec<[String; 6]> {
        use parquet::arrow::arrow_reader::{
            ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
        };
        use parquet::file::metadata::PageIndexPolicy;
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(
            File::open(path).unwrap(),
            options,
        )
        .unwrap();
        let metadata = builder.metadata().clone();
        for group in metadata.row_groups() {
            assert!(group
                .columns()
                .iter()
                .all(|c| c.offset_index_offset().is_some()));
        }
        let selection =
            RowSelection::from(vec![RowSelector::skip(skip), RowSelector::select(take)]);
        let reader = builder.with_row_selection(selection).build().unwrap();
        let mut out = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            let columns = [
                "event_id",
                "event_type",
                "gk_id",
                "location",
                "order_id",
                "body",
            ]
            .map(|name| strings(&batch, name));
            for i in 0..batch.num_rows() {
                out.push(columns.each_ref().map(|c| c[i].clone()));
            }
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// A bronze file whose text columns bypass the Arrow writer reads back, through
        /// parquet's own reader, as the records pushed: across row groups, pages cut by bytes
        /// and by rows, values longer than a page, empty and non-ASCII values, dictionaries
        /// small and past the scan (bit widths 1 to 6), a truncation, and a selection that
        /// the reader serves through the offset index.
        #[test]
        fn staged_bronze_reads_back_as_pushed(
            records in proptest::collection::vec(
                (
                    proptest::prop_oneof![".{0,12}", "\\PC{0,40}", "[a-z]{150,400}"],
                    0usize..8,
                    0u8..3,
                    proptest::prop_oneof![0u8..2, 0u8..50],
                ),
                0..70,
            ),
            dropped in 0usize..5,
            group_rows in 1usize..30,
            page_bytes in 1usize..600,
            page_rows in 1usize..12,
            skip in 0usize..80,
            take in 0usize..80,
        ) {
            let mut columns = BronzeColumns::default();
            let mut expected = Vec::new();
            let kept = records.len().saturating_sub(dropped);
            let push = |columns: &mut BronzeColumns, i: usize, body: &str, t: EventType, gk: String, loc: String| {
                let event_id = format!("e{i}");
                let order_id = format!("o{i}");
                columns.push(&EventRef {
                    ts: i as i64,
                    event_type: t,
                    sequence: 1,
                    event_id: event_id.as_str().into(),
                    order_id: order_id.as_str().into(),
                    gk_id: gk.as_str().into(),
                    location: loc.as_str().into(),
                    ts_raw: "raw".into(),
                    body,
                    items: Vec::new(),
                });
                [event_id, t.as_str().to_owned(), gk, loc, order_id, body.to_owned()]
            };
            for (i, (body, t, loc, gk)) in records.iter().enumerate() {
                let row = push(
                    &mut columns,
                    i,
                    body,
                    EventType::ALL[*t],
                    format!("gk-é{gk}"),
                    ["sf", "", "chicago"][*loc as usize].to_owned(),
                );
                if i < kept {
                    expected.push(row);
                }
            }
            columns.truncate(kept);
            expected.push(push(&mut columns, 99, "{}", EventType::Delivered, "gk-new".into(), "nyc".into()));

            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("part.parquet");
            let limits = PageLimits { bytes: page_bytes, rows: page_rows };
            let tmp = columns.stage_sized(&path, Some((group_rows, limits))).unwrap();
            let n = expected.len();
            let groups = parquet::file::reader::FileReader::metadata(
                &parquet::file::reader::SerializedFileReader::new(File::open(&tmp).unwrap())
                    .unwrap(),
            )
            .num_row_groups();
            proptest::prop_assert_eq!(groups, n.div_ceil(group_rows));
            proptest::prop_assert_eq!(read_selected(&tmp, 0, n), expected.clone());
            let skip = skip.min(n);
            let take = take.min(n - skip);
            proptest::prop_assert_eq!(
                read_selected(&tmp, skip, take),
                expected[skip..skip + take].to_vec()
            );
        }

        /// Bronze's columns with statistics, written by [`BronzeColumns::stage`], carry the
        /// same chunk statistics, column index, offset index, encodings and compression as
        /// parquet's own writer gives the same batch (files of a few rows, without
        /// dictionaries, and of more; `ts` values too long for exact statistics), and read
        /// back the same.
        #[test]
        fn staged_bronze_metadata_matches_parquets_writer(
            records in proptest::collection::vec(time_columns(), 1..140),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let ours = timed_columns(&records).stage(&dir.path().join("ours.parquet")).unwrap();
            let batch = timed_columns(&records).finish().unwrap();
            let theirs = stage_parquet(&dir.path().join("theirs.parquet"), &batch).unwrap();
            let (ours_meta, theirs_meta) = (page_indexed(&ours), page_indexed(&theirs));
            proptest::prop_assert_eq!(ours_meta.num_row_groups(), 1);
            proptest::prop_assert_eq!(theirs_meta.num_row_groups(), 1);
            let (a, b) = (ours_meta.row_group(0), theirs_meta.row_group(0));
            for i in 0..a.num_columns() {
                let (x, y) = (a.column(i), b.column(i));
                let name = x.column_path().string();
                proptest::prop_assert_eq!(x.compression(), y.compression(), "{}", name);
                proptest::prop_assert_eq!(x.statistics(), y.statistics(), "{}", name);
                proptest::prop_assert_eq!(
                    x.dictionary_page_offset().is_some(),
                    y.dictionary_page_offset().is_some(),
                    "{}", name
                );
                proptest::prop_assert_eq!(
                    x.unencoded_byte_array_data_bytes(),
                    y.unencoded_byte_array_data_bytes(),
                    "{}", name
                );
                proptest::prop_assert_eq!(
                    ours_meta.page_index_for_row_group(0).column_index(i).cloned(),
                    theirs_meta.page_index_for_row_group(0).column_index(i).cloned(),
                    "{}", name
                );
                let (p, q) = (
                    ours_meta.page_index_for_row_group(0).offset_index(i).unwrap().clone(),
                    theirs_meta.page_index_for_row_group(0).offset_index(i).unwrap().clone(),
                );
                let rows = |o: &parquet::file::page_index::offset_index::OffsetIndexMetaData| {
                    o.page_locations().iter().map(|l| l.first_row_index).collect::<Vec<_>>()
                };
                proptest::prop_assert_eq!(rows(&p), rows(&q), "{}", name);
                proptest::prop_assert_eq!(
                    p.unencoded_byte_array_data_bytes(),
                    q.unencoded_byte_array_data_bytes(),
                    "{}", name
                );
            }
            proptest::prop_assert_eq!(read_all(&ours), vec![batch]);
        }

        /// Across row groups and pages cut small, each page's column index entry and each
        /// row group's statistics are the least and greatest of its values, computed here
        /// from the records pushed; the boundary order is what the pages' bounds show.
        #[test]
        fn staged_bronze_statistics_bound_each_page(
            records in proptest::collection::vec(time_columns(), 1..90),
            group_rows in 1usize..40,
            page_bytes in 1usize..300,
            page_rows in 1usize..12,
        ) {
            use parquet::basic::BoundaryOrder;
            use parquet::file::page_index::column_index::ColumnIndexMetaData;
            use parquet::file::statistics::Statistics;
            let records: Vec<_> = records.into_iter().filter(|r| r.0.len() <= 64).collect();
            proptest::prop_assume!(!records.is_empty());
            let dir = tempfile::tempdir().unwrap();
            let limits = PageLimits { bytes: page_bytes, rows: page_rows };
            let tmp = timed_columns(&records)
                .stage_sized(&dir.path().join("part.parquet"), Some((group_rows, limits)))
                .unwrap();
            let meta = page_indexed(&tmp);
            let schema = all_events_schema();
            let columns = ["ts", "sequence", "event_ts"].map(|n| schema.index_of(n).unwrap());
            for (g, group) in meta.row_groups().iter().enumerate() {
                let first = g * group_rows;
                let rows = &records[first..first + group.num_rows() as usize];
                for &c in &columns {
                    // Each value as Parquet compares it: text as bytes, integers signed.
                    let key = |r: &(String, i64, i64)| match c {
                        2 => Err(r.0.as_bytes().to_vec()),
                        6 => Ok(r.1),
                        _ => Ok(r.2),
                    };
                    let bounds = |rows: &[(String, i64, i64)]| {
                        let keys: Vec<_> = rows.iter().map(key).collect();
                        (keys.iter().min().unwrap().clone(), keys.iter().max().unwrap().clone())
                    };
                    let (min, max) = bounds(rows);
                    let stats = group.column(c).statistics().unwrap();
                    proptest::prop_assert_eq!(stats.null_count_opt(), Some(0));
                    match (stats, &min, &max) {
                        (Statistics::ByteArray(s), Err(lo), Err(hi)) => {
                            proptest::prop_assert_eq!(s.min_opt().unwrap().data(), &lo[..]);
                            proptest::prop_assert_eq!(s.max_opt().unwrap().data(), &hi[..]);
                        }
                        (Statistics::Int64(s), Ok(lo), Ok(hi)) => {
                            proptest::prop_assert_eq!(s.min_opt(), Some(lo));
                            proptest::prop_assert_eq!(s.max_opt(), Some(hi));
                        }
                        other => proptest::prop_assert!(false, "{:?}", other),
                    }
                    let page_index = meta.page_index_for_row_group(g);
                    let starts: Vec<usize> = page_index
                        .page_locations(c)
                        .unwrap()
                        .iter()
                        .map(|l| l.first_row_index as usize)
                        .chain([rows.len()])
                        .collect();
                    let pages: Vec<_> = starts.windows(2).map(|w| bounds(&rows[w[0]..w[1]])).collect();
                    let index = page_index.column_index(c).unwrap();
                    let listed: Vec<_> = match index {
                        ColumnIndexMetaData::BYTE_ARRAY(x) => x
                            .min_values_iter()
                            .zip(x.max_values_iter())
                            .map(|(lo, hi)| (Err(lo.unwrap().to_vec()), Err(hi.unwrap().to_vec())))
                            .collect(),
                        ColumnIndexMetaData::INT64(x) => x
                            .min_values_iter()
                            .zip(x.max_values_iter())
                            .map(|(lo, hi)| (Ok(*lo.unwrap()), Ok(*hi.unwrap())))
                            .collect(),
                        other => panic!("{other:?}"),
                    };
                    proptest::prop_assert_eq!(&listed, &pages);
                    let rising = pages.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1);
                    let falling = pages.windows(2).all(|w| w[0].0 >= w[1].0 && w[0].1 >= w[1].1);
                    let order = match (rising, falling) {
                        (true, _) => BoundaryOrder::ASCENDING,
                        (false, true) => BoundaryOrder::DESCENDING,
                        _ => BoundaryOrder::UNORDERED,
                    };
                    proptest::prop_assert_eq!(index.get_boundary_order(), Some(order));
                }
            }
            let back = read_all(&tmp);
            let back: Vec<_> = back.iter().flat_map(|b| {
                let ts = strings(b, "ts");
                let seq = b.column_by_name("sequence").unwrap().as_any()
                    .downcast_ref::<arrow_array::Int64Array>().unwrap().values().to_vec();
                let at = b.column_by_name("event_ts").unwrap().as_any()
                    .downcast_ref::<arrow_array::TimestampMicrosecondArray>().unwrap().values().to_vec();
                (0..b.num_rows()).map(move |i| (ts[i].clone(), seq[i], at[i]))
            }).collect();
            proptest::prop_assert_eq!(back, records);
        }
    }

    /// A record's `ts` text, sequence number and event time: times rising, falling and
    /// scattered, repeated sequence numbers and any, and (rarely) `ts` text longer than
    /// exact statistics allow.
    fn time_columns() -> impl proptest::strategy::Strategy<Value = (String, i64, i64)> {
        use proptest::prelude::*;
        (
            prop_oneof![
                6 => "2026-1[0-2]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:00\\.[0-9]{6}",
                2 => "\\PC{0,10}",
                1 => "[ a-z]{60,70}",
            ],
            prop_oneof![0i64..4, 0i64..300, any::<i64>()],
            prop_oneof![0i64..10, any::<i64>()],
        )
    }

    /// Bronze columns of `records`' times (the other columns fixed).
    fn timed_columns(records: &[(String, i64, i64)]) -> BronzeColumns {
        let mut columns = BronzeColumns::default();
        for (i, (ts_raw, sequence, ts)) in records.iter().enumerate() {
            let id = format!("e{i}");
            columns.push(&EventRef {
                ts: *ts,
                event_type: EventType::ALL[i % EventType::ALL.len()],
                sequence: *sequence,
                event_id: id.as_str().into(),
                order_id: id.as_str().into(),
                gk_id: "gk".into(),
                location: "sf".into(),
                ts_raw: ts_raw.as_str().into(),
                body: "{}",
                items: Vec::new(),
            });
        }
        columns
    }

    /// The chunk of the column `name` in `group`.
    fn column_named<'g>(
        group: &'g parquet::file::metadata::RowGroupMetaData,
        name: &str,
    ) -> &'g parquet::file::metadata::ColumnChunkMetaData {
        group
            .columns()
            .iter()
            .find(|c| c.column_path().string() == name)
            .unwrap()
    }

    /// A file's metadata with its column and offset indexes, which it must have.
    fn page_indexed(path: &Path) -> parquet::file::metadata::ParquetMetaData {
        use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
        ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Required)
            .parse_and_finish(&File::open(path).unwrap())
            .unwrap()
    }

    fn read_all(path: &Path) -> Vec<RecordBatch> {
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            File::open(path).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
    }
}
