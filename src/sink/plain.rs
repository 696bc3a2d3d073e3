//! Columns kept in the form Parquet stores them while they fill, and written as column
//! chunks without the Arrow writer: bronze's nearly unique text in PLAIN layout
//! ([`PlainText`]), its kitchens, locations and event types as dictionary codes
//! ([`DictText`]), its event times as PLAIN integers ([`PlainInt`]) and its sequence numbers
//! as dictionary codes ([`DictInt`]). Columns with statistics get them as Parquet's writer
//! computes them with page statistics on: min and max per data page (the column index) and
//! per chunk.
//!
//! Bronze's `body` is most of every bronze file's bytes. Through the Arrow writer each body
//! byte was copied into the encoder's page buffer (which reallocated, copying again, as it
//! doubled towards the page size), then copied into the page, and each page's snappy output
//! was zero-filled to its worst-case size first: ~10% of a replay's instructions besides the
//! compression itself. Here the reader appends each value once, already encoded, pages are
//! slices of that buffer, and they compress into one scratch buffer zeroed only as it grows.
//! Parquet's dictionary encoder hashed every value; [`DictText`] mostly compares with the
//! previous one.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{ArrayRef, Int64Array, StringArray};
use arrow_schema::{DataType, Field};
use bytes::Bytes;
use parquet::basic::{BoundaryOrder, Compression, Encoding, EncodingMask, PageType, Type};
use parquet::column::page::{CompressedPage, Page, PageWriteSpec, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ColumnChunkMetaData, ColumnIndexBuilder, PageEncodingStats};
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

/// Length prefix of a PLAIN-encoded byte array.
const PREFIX: usize = 4;

/// Strings in Parquet's PLAIN encoding (each one's length as 4 bytes little-endian, then its
/// bytes), back to back, with where each ends.
#[derive(Debug, Default)]
pub struct PlainText {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// The first value longer than PLAIN's length prefix can say (kept as no bytes): writing
    /// refuses while it is kept.
    oversized: Option<usize>,
}

/// Where a chunk's pages are cut.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    /// A page ends with the value that brings its encoded bytes to at least this.
    pub bytes: usize,
    /// A page holds at most this many values.
    pub rows: usize,
}

/// Which rows of a column go into a chunk, and how.
#[derive(Debug, Clone)]
pub struct ChunkSpec {
    /// The rows, of those appended.
    pub rows: Range<usize>,
    /// The column: a required BYTE_ARRAY one for text, INT64 for integers.
    pub descr: ColumnDescPtr,
    /// Snappy or none.
    pub codec: Compression,
    /// Where data pages are cut.
    pub limits: PageLimits,
    /// Whether min and max are kept, per page and for the chunk. Text values longer than
    /// [`STATISTICS_MAX_BYTES`] are refused then: Parquet's writer truncates such bounds.
    pub statistics: bool,
    /// Whether a dictionary column may write its dictionary; if not, its values go into
    /// PLAIN pages, as they also do once its dictionary page would pass
    /// [`DICTIONARY_PAGE_MAX_BYTES`].
    pub dictionary: bool,
}

/// Longest text whose min and max [`ChunkSpec::statistics`] keep (Parquet's writer
/// truncates longer ones to this).
pub const STATISTICS_MAX_BYTES: usize = 64;

/// Largest dictionary page written: past it the chunk is PLAIN, as Parquet's writer falls
/// back (a hostile file with a new kitchen id on every record must not get a dictionary as
/// large as its values).
pub const DICTIONARY_PAGE_MAX_BYTES: usize = 1 << 20;

/// A column written as column chunks without the Arrow writer.
pub trait ColumnChunks {
    /// Writes `spec.rows` as one column chunk in data pages v1, with its offset index (and
    /// column index, with statistics): the chunk's bytes (offsets in it relative to its
    /// start) and what
    /// [`SerializedRowGroupWriter::append_column`](parquet::file::writer::SerializedRowGroupWriter::append_column)
    /// needs. `scratch` is reused between calls.
    fn chunk(
        &self,
        spec: &ChunkSpec,
        scratch: &mut Vec<u8>,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError>;

    /// Every value, as an Arrow array of `field`'s type; an error where a chunk would be one
    /// (an oversized value), or where the text passes what an Arrow string array holds.
    fn to_array(&self, field: &Field) -> Result<ArrayRef, ParquetError>;
}

/// `values`, `bytes` bytes of text in all, as a string array: refused past 2 GiB, where
/// Arrow's 32-bit offsets end (building it would panic).
fn string_array<'a>(
    values: impl Iterator<Item = &'a str>,
    bytes: usize,
) -> Result<ArrayRef, ParquetError> {
    if i32::try_from(bytes).is_err() {
        return Err(too_large());
    }
    Ok(Arc::new(StringArray::from_iter_values(values)))
}

impl PlainText {
    /// Empty, with room for `values` strings of `bytes` bytes in all.
    pub fn with_capacity(values: usize, bytes: usize) -> PlainText {
        PlainText {
            bytes: Vec::with_capacity(bytes + PREFIX * values),
            ends: Vec::with_capacity(values),
            oversized: None,
        }
    }

    /// Appends one string.
    pub fn push(&mut self, text: &str) {
        match i32::try_from(text.len()) {
            Ok(len) => {
                self.bytes.extend_from_slice(&(len as u32).to_le_bytes());
                self.bytes.extend_from_slice(text.as_bytes());
            }
            Err(_) => {
                self.oversized.get_or_insert(self.ends.len());
                self.bytes.extend_from_slice(&0u32.to_le_bytes());
            }
        }
        self.ends.push(self.bytes.len());
    }

    /// Strings appended.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no string was appended.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Keeps the first `len` strings.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len() {
            return;
        }
        if self.oversized.is_some_and(|i| i >= len) {
            self.oversized = None;
        }
        self.ends.truncate(len);
        self.bytes.truncate(self.start(len));
    }

    fn start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1]
        }
    }

    /// The strings, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(move |i| {
            let value = &self.bytes[self.start(i) + PREFIX..self.ends[i]];
            // SAFETY: every value was pushed as a `&str` (an oversized one as no bytes at all),
            // and these are exactly its bytes.
            unsafe { std::str::from_utf8_unchecked(value) }
        })
    }
}

impl PlainText {
    fn value(&self, i: usize) -> &[u8] {
        &self.bytes[self.start(i) + PREFIX..self.ends[i]]
    }

    /// The length of the longest string.
    pub fn longest(&self) -> usize {
        (0..self.len())
            .map(|i| self.ends[i] - self.start(i) - PREFIX)
            .max()
            .unwrap_or(0)
    }

    /// The chunk of `spec.rows`, its pages cut by `spec.limits`' bytes and rows.
    fn plain_chunk(
        &self,
        spec: &ChunkSpec,
        scratch: &mut Vec<u8>,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        let (rows, codec, limits) = (spec.rows.clone(), spec.codec, spec.limits);
        if self.oversized.is_some() {
            return Err(oversized());
        }
        let begin = self.start(rows.start);
        let end = self.start(rows.end);
        // Snappy shrinks JSON bodies ~5×; the out buffer grows if it must.
        let guess = if codec == Compression::SNAPPY {
            (end - begin) / 4
        } else {
            end - begin
        };
        let kind = spec.statistics.then_some(Kind::Text);
        let mut chunk = Chunk::new(codec, guess, scratch, kind)?;
        let mut first = rows.start;
        while first < rows.end {
            let page_begin = self.start(first);
            let limit = (first + limits.rows.max(1)).min(rows.end);
            let under = self.ends[first..limit].partition_point(|&e| e - page_begin < limits.bytes);
            let last = (first + under + 1).min(limit);
            let data = &self.bytes[page_begin..self.ends[last - 1]];
            let values = last - first;
            let bounds = if spec.statistics {
                Some(self.bounds(first..last)?)
            } else {
                None
            };
            chunk.data_page(
                data,
                values,
                Encoding::PLAIN,
                first - rows.start,
                Some(data.len() - PREFIX * values),
                bounds.as_ref().map(|(min, max)| (*min, *max)),
            )?;
            first = last;
        }
        chunk.finish(spec.descr.clone(), rows.len(), Encoding::PLAIN)
    }

    /// The least and greatest of `rows`' values, compared as bytes (UTF-8's order), as
    /// Parquet orders strings.
    fn bounds(&self, rows: Range<usize>) -> Result<(&[u8], &[u8]), ParquetError> {
        let mut values = rows.map(|i| self.value(i));
        let first = values.next().expect("a page holds a value");
        let (mut min, mut max) = (first, first);
        for v in values {
            // Event times mostly rise through a file: one comparison a value.
            if v > max {
                max = v;
            } else if v < min {
                min = v;
            }
        }
        if max.len().max(min.len()) > STATISTICS_MAX_BYTES {
            return Err(ParquetError::General(format!(
                "a text value longer than {STATISTICS_MAX_BYTES} bytes in a column with statistics"
            )));
        }
        Ok((min, max))
    }
}

impl ColumnChunks for PlainText {
    /// Pages of PLAIN-encoded values, cut by `spec.limits`' bytes and rows.
    fn chunk(
        &self,
        spec: &ChunkSpec,
        scratch: &mut Vec<u8>,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        self.plain_chunk(spec, scratch)
    }

    fn to_array(&self, _: &Field) -> Result<ArrayRef, ParquetError> {
        if self.oversized.is_some() {
            return Err(oversized());
        }
        string_array(self.iter(), self.bytes.len() - PREFIX * self.len())
    }
}

/// Strings with few distinct values, kept as codes into a dictionary of them, written as a
/// dictionary-encoded column chunk (a dictionary page, then data pages of bit-packed codes).
/// Parquet's writer hashes every value to find its code; a landing file's kitchens, locations
/// and event types are a handful, and most records repeat a recent one.
#[derive(Debug, Default)]
pub struct DictText {
    /// The distinct values, PLAIN-encoded in order of first appearance (the dictionary page).
    dictionary: PlainText,
    /// Each value's code.
    codes: Vec<u32>,
    /// Codes of values, once there are too many for a scan to be cheap.
    index: Option<std::collections::HashMap<Box<str>, u32>>,
}

/// Distinct values past which [`DictText::push`] looks codes up in a hash map.
const SCAN: usize = 16;

impl DictText {
    /// Empty, with room for `values` values.
    pub fn with_capacity(values: usize) -> DictText {
        DictText {
            codes: Vec::with_capacity(values),
            ..DictText::default()
        }
    }

    /// Values whose codes are known: `dictionary` in code order, and each value's code.
    pub fn from_codes<'a>(
        dictionary: impl IntoIterator<Item = &'a str>,
        codes: Vec<u32>,
    ) -> DictText {
        let mut text = DictText {
            codes,
            ..DictText::default()
        };
        for value in dictionary {
            text.dictionary.push(value);
        }
        assert!(
            text.codes
                .iter()
                .all(|&c| (c as usize) < text.dictionary.len()),
            "a code past the dictionary"
        );
        text
    }

    /// Appends one value.
    pub fn push(&mut self, text: &str) {
        let code = match self.codes.last() {
            Some(&last) if self.value(last) == text => last,
            _ => self.code(text),
        };
        self.codes.push(code);
    }

    fn value(&self, code: u32) -> &str {
        let i = code as usize;
        let value =
            &self.dictionary.bytes[self.dictionary.start(i) + PREFIX..self.dictionary.ends[i]];
        // SAFETY: as in `PlainText::iter`.
        unsafe { std::str::from_utf8_unchecked(value) }
    }

    fn code(&mut self, text: &str) -> u32 {
        if let Some(index) = &self.index {
            if let Some(&code) = index.get(text) {
                return code;
            }
        } else if let Some(code) =
            (0..self.dictionary.len() as u32).find(|&c| self.value(c) == text)
        {
            return code;
        }
        let code = self.dictionary.len() as u32;
        self.dictionary.push(text);
        if let Some(index) = &mut self.index {
            index.insert(text.into(), code);
        } else if self.dictionary.len() > SCAN {
            let index = (0..=code).map(|c| (self.value(c).into(), c)).collect();
            self.index = Some(index);
        }
        code
    }

    /// Values appended.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether no value was appended.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Keeps the first `len` values (the dictionary keeps what it has seen).
    pub fn truncate(&mut self, len: usize) {
        self.codes.truncate(len);
    }

    /// The values, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.codes.iter().map(|&c| self.value(c))
    }
}

impl ColumnChunks for DictText {
    /// A dictionary page holding every value seen (also those of other row groups, or
    /// truncated away), then data pages of at most `spec.limits.rows` codes; PLAIN pages
    /// instead when `spec` allows no dictionary or it is too large.
    fn chunk(
        &self,
        spec: &ChunkSpec,
        scratch: &mut Vec<u8>,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        if self.dictionary.oversized.is_some() {
            return Err(oversized());
        }
        if !spec.dictionary || self.dictionary.bytes.len() > DICTIONARY_PAGE_MAX_BYTES {
            let mut plain = PlainText::default();
            for &code in &self.codes[spec.rows.clone()] {
                plain.push(self.value(code));
            }
            let spec = ChunkSpec {
                rows: 0..plain.len(),
                ..spec.clone()
            };
            return plain.plain_chunk(&spec, scratch);
        }
        let dictionary = &self.dictionary;
        let length = |c: u32| dictionary.ends[c as usize] - dictionary.start(c as usize) - PREFIX;
        dictionary_chunk(
            spec,
            scratch,
            Kind::Text,
            (&dictionary.bytes, dictionary.len()),
            &self.codes,
            Some(&|codes: &[u32]| codes.iter().map(|&c| length(c)).sum()),
            &|codes: &[u32]| {
                let mut values = codes.iter().map(|&c| dictionary.value(c as usize));
                let first = values.next().expect("a page holds a value");
                let (min, max) = values.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v)));
                (min.to_vec(), max.to_vec())
            },
        )
    }

    fn to_array(&self, _: &Field) -> Result<ArrayRef, ParquetError> {
        if self.dictionary.oversized.is_some() {
            return Err(oversized());
        }
        let bytes = self.codes.iter().map(|&c| self.value(c).len()).sum();
        string_array(self.iter(), bytes)
    }
}

/// The text length of some codes' values.
type CodesLength<'a> = &'a dyn Fn(&[u32]) -> usize;

/// The least and greatest of some codes' values, as Parquet stores them.
type CodesBounds<'a> = &'a dyn Fn(&[u32]) -> (Vec<u8>, Vec<u8>);

/// A column chunk of a dictionary column: the dictionary page (`dictionary`'s PLAIN bytes
/// and how many values they are), then data pages of at most `spec.limits.rows` of `codes`,
/// bit-packed. `unencoded` is a page's text length (text columns only), `bounds` its least
/// and greatest value as Parquet stores them (used with statistics).
fn dictionary_chunk(
    spec: &ChunkSpec,
    scratch: &mut Vec<u8>,
    kind: Kind,
    dictionary: (&[u8], usize),
    codes: &[u32],
    unencoded: Option<CodesLength<'_>>,
    bounds: CodesBounds<'_>,
) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
    let rows = spec.rows.clone();
    let (dictionary, entries) = dictionary;
    let mut chunk = Chunk::new(spec.codec, 1024, scratch, spec.statistics.then_some(kind))?;
    chunk.dictionary_page(dictionary, entries)?;
    // At least one bit, which every reader takes (a one-value dictionary needs none).
    let bits = (u32::BITS - (entries.max(2) as u32 - 1).leading_zeros()) as u8;
    let mut page = Vec::new();
    let mut first = rows.start;
    while first < rows.end {
        let last = (first + spec.limits.rows.max(1)).min(rows.end);
        let codes = &codes[first..last];
        page.clear();
        page.push(bits);
        bit_pack(codes, bits, &mut page);
        let page_bounds = spec.statistics.then(|| bounds(codes));
        chunk.data_page(
            &page,
            codes.len(),
            Encoding::RLE_DICTIONARY,
            first - rows.start,
            unencoded.map(|f| f(codes)),
            page_bounds
                .as_ref()
                .map(|(min, max)| (min.as_slice(), max.as_slice())),
        )?;
        first = last;
    }
    chunk.finish(spec.descr.clone(), rows.len(), Encoding::RLE_DICTIONARY)
}

/// 64-bit integers, PLAIN-encoded (each value's 8 bytes, little-endian).
#[derive(Debug, Default)]
pub struct PlainInt {
    values: Vec<i64>,
}

impl PlainInt {
    /// Empty, with room for `values` values.
    pub fn with_capacity(values: usize) -> PlainInt {
        PlainInt {
            values: Vec::with_capacity(values),
        }
    }

    /// Appends one value.
    pub fn push(&mut self, value: i64) {
        self.values.push(value);
    }

    /// Keeps the first `len` values.
    pub fn truncate(&mut self, len: usize) {
        self.values.truncate(len);
    }

    /// The values, in order.
    pub fn values(&self) -> &[i64] {
        &self.values
    }
}

impl ColumnChunks for PlainInt {
    /// Pages of PLAIN values, cut by `spec.limits`' bytes and rows.
    fn chunk(
        &self,
        spec: &ChunkSpec,
        scratch: &mut Vec<u8>,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        plain_int_chunk(&self.values[spec.rows.clone()], spec, scratch)
    }

    fn to_array(&self, field: &Field) -> Result<ArrayRef, ParquetError> {
        Ok(int_array(self.values.clone(), field))
    }
}

/// `values` (all of the chunk's) as a PLAIN chunk.
fn plain_int_chunk(
    values: &[i64],
    spec: &ChunkSpec,
    scratch: &mut Vec<u8>,
) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
    const WIDTH: usize = std::mem::size_of::<i64>();
    let kind = spec.statistics.then_some(Kind::Int64);
    let mut chunk = Chunk::new(spec.codec, values.len() * WIDTH / 2, scratch, kind)?;
    let per_page = spec
        .limits
        .rows
        .min(spec.limits.bytes.div_ceil(WIDTH))
        .max(1);
    let mut page = Vec::with_capacity(per_page.min(values.len()) * WIDTH);
    for (i, values) in values.chunks(per_page).enumerate() {
        page.clear();
        for v in values {
            page.extend_from_slice(&v.to_le_bytes());
        }
        let bounds = spec.statistics.then(|| int_bounds(values.iter().copied()));
        chunk.data_page(
            &page,
            values.len(),
            Encoding::PLAIN,
            i * per_page,
            None,
            bounds
                .as_ref()
                .map(|(min, max)| (min.as_slice(), max.as_slice())),
        )?;
    }
    chunk.finish(spec.descr.clone(), values.len(), Encoding::PLAIN)
}

/// The least and greatest of `values`, as Parquet stores them (8 bytes, little-endian).
fn int_bounds(values: impl Iterator<Item = i64>) -> (Vec<u8>, Vec<u8>) {
    let (min, max) = values.fold((i64::MAX, i64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    (min.to_le_bytes().to_vec(), max.to_le_bytes().to_vec())
}

/// `values` as an Arrow array of `field`'s type: 64-bit integers or microsecond timestamps.
fn int_array(values: Vec<i64>, field: &Field) -> ArrayRef {
    let ints = Int64Array::from(values);
    match field.data_type() {
        DataType::Timestamp(_, tz) => Arc::new(
            ints.reinterpret_cast::<TimestampMicrosecondType>()
                .with_timezone_opt(tz.clone()),
        ),
        _ => Arc::new(ints),
    }
}

/// 64-bit integers with few distinct values, kept as codes into a dictionary of them.
#[derive(Debug, Default)]
pub struct DictInt {
    /// The distinct values, in order of first appearance.
    dictionary: Vec<i64>,
    /// Each value's code.
    codes: Vec<u32>,
    /// Codes of the values 0 to 255 (sequence numbers), `u32::MAX` for none yet.
    small: Vec<u32>,
    /// Codes of the other values.
    index: HashMap<i64, u32>,
}

/// Values [`DictInt`] finds codes of without hashing.
const SMALL: usize = 256;

impl DictInt {
    /// Empty, with room for `values` values.
    pub fn with_capacity(values: usize) -> DictInt {
        DictInt {
            codes: Vec::with_capacity(values),
            ..DictInt::default()
        }
    }

    /// Appends one value.
    pub fn push(&mut self, value: i64) {
        let code = match usize::try_from(value) {
            Ok(v) if v < SMALL => {
                if self.small.is_empty() {
                    self.small = vec![u32::MAX; SMALL];
                }
                match self.small[v] {
                    u32::MAX => {
                        let code = self.add(value);
                        self.small[v] = code;
                        code
                    }
                    code => code,
                }
            }
            _ => match self.index.get(&value) {
                Some(&code) => code,
                None => {
                    let code = self.add(value);
                    self.index.insert(value, code);
                    code
                }
            },
        };
        self.codes.push(code);
    }

    fn add(&mut self, value: i64) -> u32 {
        self.dictionary.push(value);
        (self.dictionary.len() - 1) as u32
    }

    /// Keeps the first `len` values (the dictionary keeps what it has seen).
    pub fn truncate(&mut self, len: usize) {
        self.codes.truncate(len);
    }

    /// The values, in order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        self.codes.iter().map(|&c| self.dictionary[c as usize])
    }
}

impl ColumnChunks for DictInt {
    /// As [`DictText`]'s chunks.
    fn chunk(
        &self,
        spec: &ChunkSpec,
        scratch: &mut Vec<u8>,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        let width = std::mem::size_of::<i64>();
        if !spec.dictionary || self.dictionary.len() * width > DICTIONARY_PAGE_MAX_BYTES {
            let values: Vec<i64> = self.codes[spec.rows.clone()]
                .iter()
                .map(|&c| self.dictionary[c as usize])
                .collect();
            return plain_int_chunk(&values, spec, scratch);
        }
        let page: Vec<u8> = self
            .dictionary
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let dictionary = &self.dictionary;
        dictionary_chunk(
            spec,
            scratch,
            Kind::Int64,
            (&page, dictionary.len()),
            &self.codes,
            None,
            &|codes: &[u32]| int_bounds(codes.iter().map(|&c| dictionary[c as usize])),
        )
    }

    fn to_array(&self, field: &Field) -> Result<ArrayRef, ParquetError> {
        Ok(int_array(self.iter().collect(), field))
    }
}

/// Appends `codes` in the RLE/bit-packing hybrid encoding as bit-packed runs only: each run
/// a varint header (groups of eight values, shifted, low bit set), then the values' low
/// `bits` bits, least significant first, the last group padded with zeros. Runs stop at 63
/// groups, as parquet-mr's writer does, so the header is one byte.
fn bit_pack(codes: &[u32], bits: u8, out: &mut Vec<u8>) {
    for run in codes.chunks(63 * 8) {
        let groups = run.len().div_ceil(8);
        out.push(((groups << 1) | 1) as u8);
        let (mut acc, mut held) = (0u64, 0u32);
        for i in 0..groups * 8 {
            acc |= u64::from(run.get(i).copied().unwrap_or(0)) << held;
            held += u32::from(bits);
            while held >= 8 {
                out.push(acc as u8);
                acc >>= 8;
                held -= 8;
            }
        }
    }
}

/// How a column's values compare, for its statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// UTF-8 text: as unsigned bytes.
    Text,
    /// 64-bit integers (also timestamps): signed.
    Int64,
}

impl Kind {
    /// Whether `a` is greater than `b`, both as Parquet stores them.
    fn greater(self, a: &[u8], b: &[u8]) -> bool {
        match self {
            Kind::Text => a > b,
            Kind::Int64 => int(a) > int(b),
        }
    }
}

fn int(bytes: &[u8]) -> i64 {
    i64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

/// A chunk's statistics so far: each data page's least and greatest value (the column
/// index), and the chunk's.
struct Bounds {
    kind: Kind,
    index: ColumnIndexBuilder,
    chunk: Option<(Vec<u8>, Vec<u8>)>,
    /// The previous page's, and whether pages so far rose (or fell) in both.
    last: Option<(Vec<u8>, Vec<u8>)>,
    ascending: bool,
    descending: bool,
}

impl Bounds {
    fn new(kind: Kind, column_type: Type) -> Bounds {
        Bounds {
            kind,
            index: ColumnIndexBuilder::new(column_type),
            chunk: None,
            last: None,
            ascending: true,
            descending: true,
        }
    }

    /// The next data page's, as Parquet's writer keeps them (no nulls, no NaNs).
    fn page(&mut self, min: &[u8], max: &[u8]) {
        let k = self.kind;
        if let Some((last_min, last_max)) = &self.last {
            if k.greater(last_min, min) || k.greater(last_max, max) {
                self.ascending = false;
            }
            if k.greater(min, last_min) || k.greater(max, last_max) {
                self.descending = false;
            }
        }
        self.last = Some((min.to_vec(), max.to_vec()));
        self.index
            .append(false, min.to_vec(), max.to_vec(), 0, None);
        match &mut self.chunk {
            None => self.chunk = Some((min.to_vec(), max.to_vec())),
            Some((lo, hi)) => {
                if k.greater(lo, min) {
                    *lo = min.to_vec();
                }
                if k.greater(max, hi) {
                    *hi = max.to_vec();
                }
            }
        }
    }

    /// The chunk's statistics, and its column index.
    fn finish(
        mut self,
    ) -> Result<
        (
            Statistics,
            parquet::file::page_index::column_index::ColumnIndexMetaData,
        ),
        ParquetError,
    > {
        let (min, max) = match self.chunk.take() {
            Some((min, max)) => (Some(min), Some(max)),
            None => (None, None),
        };
        let statistics = match self.kind {
            Kind::Text => Statistics::ByteArray(ValueStatistics::new(
                min.map(ByteArray::from),
                max.map(ByteArray::from),
                None,
                Some(0),
                false,
            )),
            // Signed, so the deprecated min and max fields are written too, as Parquet's
            // writer does for old readers.
            Kind::Int64 => Statistics::Int64(
                ValueStatistics::new(
                    min.map(|b| int(&b)),
                    max.map(|b| int(&b)),
                    None,
                    Some(0),
                    false,
                )
                .with_backwards_compatible_min_max(true),
            ),
        };
        self.index
            .set_boundary_order(match (self.ascending, self.descending) {
                (true, _) => BoundaryOrder::ASCENDING,
                (false, true) => BoundaryOrder::DESCENDING,
                (false, false) => BoundaryOrder::UNORDERED,
            });
        Ok((statistics, self.index.build()?))
    }
}

/// A column chunk being written page by page into memory.
struct Chunk<'s> {
    out: TrackedWrite<Vec<u8>>,
    codec: Compression,
    encoder: snap::raw::Encoder,
    scratch: &'s mut Vec<u8>,
    dictionary_page: bool,
    locations: Vec<PageLocation>,
    unencoded: Vec<i64>,
    bounds: Option<Bounds>,
    compressed: i64,
    uncompressed: i64,
}

impl<'s> Chunk<'s> {
    /// A chunk compressed with `codec`, of about `guess` bytes, with statistics if `kind`.
    fn new(
        codec: Compression,
        guess: usize,
        scratch: &'s mut Vec<u8>,
        kind: Option<Kind>,
    ) -> Result<Self, ParquetError> {
        if !matches!(codec, Compression::SNAPPY | Compression::UNCOMPRESSED) {
            return Err(ParquetError::NYI(format!("{codec} for an own column")));
        }
        let column_type = |k| match k {
            Kind::Text => Type::BYTE_ARRAY,
            Kind::Int64 => Type::INT64,
        };
        Ok(Chunk {
            out: TrackedWrite::new(Vec::with_capacity(guess + 1024)),
            codec,
            encoder: snap::raw::Encoder::new(),
            scratch,
            dictionary_page: false,
            locations: Vec::new(),
            unencoded: Vec::new(),
            bounds: kind.map(|k| Bounds::new(k, column_type(k))),
            compressed: 0,
            uncompressed: 0,
        })
    }

    fn compress(&mut self, data: &[u8]) -> Result<Bytes, ParquetError> {
        if self.codec == Compression::UNCOMPRESSED {
            return Ok(Bytes::copy_from_slice(data));
        }
        let need = snap::raw::max_compress_len(data.len());
        if self.scratch.len() < need {
            self.scratch.resize(need, 0);
        }
        let n = self
            .encoder
            .compress(data, self.scratch)
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok(Bytes::copy_from_slice(&self.scratch[..n]))
    }

    fn write(&mut self, page: Page, uncompressed: usize) -> Result<PageWriteSpec, ParquetError> {
        let spec = SerializedPageWriter::new(&mut self.out)
            .write_page(CompressedPage::new(page, uncompressed))?;
        self.compressed += spec.compressed_size as i64;
        self.uncompressed += spec.uncompressed_size as i64;
        Ok(spec)
    }

    /// The dictionary page, before any data page: `values` PLAIN-encoded values.
    fn dictionary_page(&mut self, data: &[u8], values: usize) -> Result<(), ParquetError> {
        let page = Page::DictionaryPage {
            buf: self.compress(data)?,
            num_values: u32::try_from(values).map_err(|_| too_large())?,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        };
        self.write(page, data.len())?;
        self.dictionary_page = true;
        Ok(())
    }

    /// A data page v1 of `values` values encoded as `encoding` in `data`, the first of them
    /// the chunk's row `first_row`; `unencoded` is their strings' length in all (text
    /// only), `bounds` their least and greatest value (with statistics).
    fn data_page(
        &mut self,
        data: &[u8],
        values: usize,
        encoding: Encoding,
        first_row: usize,
        unencoded: Option<usize>,
        bounds: Option<(&[u8], &[u8])>,
    ) -> Result<(), ParquetError> {
        let page = Page::DataPage {
            buf: self.compress(data)?,
            num_values: u32::try_from(values).map_err(|_| too_large())?,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            // Parquet's writer leaves page headers without statistics by default: readers
            // take them from the column index.
            statistics: None,
        };
        let spec = self.write(page, data.len())?;
        self.locations.push(PageLocation {
            offset: i64::try_from(spec.offset).map_err(|_| too_large())?,
            compressed_page_size: i32::try_from(spec.compressed_size).map_err(|_| too_large())?,
            first_row_index: first_row as i64,
        });
        if let Some(unencoded) = unencoded {
            self.unencoded.push(unencoded as i64);
        }
        match (&mut self.bounds, bounds) {
            (Some(kept), Some((min, max))) => kept.page(min, max),
            (None, None) => {}
            _ => {
                return Err(ParquetError::General(
                    "page bounds without statistics".into(),
                ))
            }
        }
        Ok(())
    }

    /// The chunk's bytes and what `append_column` needs to know of them.
    fn finish(
        self,
        descr: ColumnDescPtr,
        rows: usize,
        encoding: Encoding,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        let data_pages = i32::try_from(self.locations.len()).map_err(|_| too_large())?;
        let mut stats = Vec::new();
        let mut encodings = vec![Encoding::PLAIN, Encoding::RLE];
        if self.dictionary_page {
            stats.push(PageEncodingStats {
                page_type: PageType::DICTIONARY_PAGE,
                encoding: Encoding::PLAIN,
                count: 1,
            });
        }
        if data_pages > 0 {
            stats.push(PageEncodingStats {
                page_type: PageType::DATA_PAGE,
                encoding,
                count: data_pages,
            });
        }
        encodings.push(encoding);
        let text = descr.physical_type() == Type::BYTE_ARRAY;
        let data_offset = self.locations.first().map_or(0, |l| l.offset);
        let mut metadata = ColumnChunkMetaData::builder(descr)
            .set_compression(self.codec)
            .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
            .set_page_encoding_stats(stats)
            .set_total_compressed_size(self.compressed)
            .set_total_uncompressed_size(self.uncompressed)
            .set_num_values(rows as i64)
            .set_data_page_offset(data_offset)
            .set_dictionary_page_offset(self.dictionary_page.then_some(0));
        let mut column_index = None;
        if let Some(bounds) = self.bounds {
            let (statistics, index) = bounds.finish()?;
            metadata = metadata.set_statistics(statistics);
            if text {
                metadata =
                    metadata.set_unencoded_byte_array_data_bytes(Some(self.unencoded.iter().sum()));
            }
            column_index = Some(index);
        }
        let metadata = metadata.build()?;
        let bytes = self.out.into_inner()?;
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: rows as u64,
            metadata,
            bloom_filter: None,
            column_index,
            offset_index: Some(OffsetIndexMetaData {
                page_locations: self.locations,
                unencoded_byte_array_data_bytes: text.then_some(self.unencoded),
            }),
        };
        Ok((Bytes::from(bytes), close))
    }
}

fn oversized() -> ParquetError {
    ParquetError::General("a text value is longer than a Parquet byte array can hold".into())
}

fn too_large() -> ParquetError {
    ParquetError::General("a column chunk too large for Parquet's metadata".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::basic::Repetition;
    use parquet::schema::types::{ColumnDescriptor, ColumnPath};

    fn spec(rows: usize) -> ChunkSpec {
        let column = parquet::schema::types::Type::primitive_type_builder("c", Type::BYTE_ARRAY)
            .with_repetition(Repetition::REQUIRED)
            .build()
            .unwrap();
        ChunkSpec {
            rows: 0..rows,
            descr: Arc::new(ColumnDescriptor::new(
                Arc::new(column),
                0,
                0,
                ColumnPath::from("c"),
            )),
            codec: Compression::SNAPPY,
            limits: PageLimits { bytes: 8, rows: 2 },
            statistics: true,
            dictionary: true,
        }
    }

    /// A value too long for PLAIN's length prefix refuses the chunk (and the Arrow array the
    /// Arrow path of a long `ts` writes) only while it is kept.
    /// (It is marked by hand: such a value is 2 GiB.)
    #[test]
    fn truncating_an_oversized_value_away_allows_writing() {
        let mut text = PlainText::default();
        text.push("a");
        text.push("b");
        text.oversized = Some(1);
        text.push("c");
        let mut scratch = Vec::new();
        let field = Field::new("c", DataType::Utf8, false);
        assert!(text.chunk(&spec(3), &mut scratch).is_err());
        assert!(text.to_array(&field).is_err());
        text.truncate(2);
        assert!(text.chunk(&spec(2), &mut scratch).is_err());
        text.truncate(1);
        assert_eq!(text.to_array(&field).unwrap().len(), 1);
        let (_, close) = text.chunk(&spec(1), &mut scratch).unwrap();
        assert_eq!(close.rows_written, 1);
        text.push("d");
        assert_eq!(text.iter().collect::<Vec<_>>(), ["a", "d"]);
    }
}
