//! Text columns kept in the form Parquet stores them while they fill, and written as column
//! chunks without the Arrow writer: bronze's nearly unique text in PLAIN layout
//! ([`PlainText`]), its kitchens, locations and event types as dictionary codes
//! ([`DictText`]).
//!
//! Bronze's `body` is most of every bronze file's bytes. Through the Arrow writer each body
//! byte was copied into the encoder's page buffer (which reallocated, copying again, as it
//! doubled towards the page size), then copied into the page, and each page's snappy output
//! was zero-filled to its worst-case size first: ~10% of a replay's instructions besides the
//! compression itself. Here the reader appends each value once, already encoded, pages are
//! slices of that buffer, and they compress into one scratch buffer zeroed only as it grows.
//! Parquet's dictionary encoder hashed every value; [`DictText`] mostly compares with the
//! previous one.

use std::ops::Range;

use arrow_array::StringArray;
use bytes::Bytes;
use parquet::basic::{Compression, Encoding, EncodingMask, PageType};
use parquet::column::page::{CompressedPage, Page, PageWriteSpec, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ColumnChunkMetaData, PageEncodingStats};
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
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
    /// A value longer than PLAIN's length prefix can say was pushed; writing refuses.
    oversized: bool,
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
    /// The column: a required BYTE_ARRAY one.
    pub descr: ColumnDescPtr,
    /// Snappy or none.
    pub codec: Compression,
    /// Where data pages are cut.
    pub limits: PageLimits,
}

/// A text column written as column chunks without the Arrow writer.
pub trait TextChunks {
    /// Writes `spec.rows` as one column chunk in data pages v1, with its offset index: the
    /// chunk's bytes (offsets in it relative to its start) and what
    /// [`SerializedRowGroupWriter::append_column`](parquet::file::writer::SerializedRowGroupWriter::append_column)
    /// needs. `scratch` is reused between calls.
    fn chunk(
        &self,
        spec: &ChunkSpec,
        scratch: &mut Vec<u8>,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError>;

    /// Every value, as an Arrow array.
    fn to_array(&self) -> StringArray;
}

impl PlainText {
    /// Empty, with room for `values` strings of `bytes` bytes in all.
    pub fn with_capacity(values: usize, bytes: usize) -> PlainText {
        PlainText {
            bytes: Vec::with_capacity(bytes + PREFIX * values),
            ends: Vec::with_capacity(values),
            oversized: false,
        }
    }

    /// Appends one string.
    pub fn push(&mut self, text: &str) {
        let len = match i32::try_from(text.len()) {
            Ok(len) => len as u32,
            Err(_) => {
                self.oversized = true;
                0
            }
        };
        self.bytes.extend_from_slice(&len.to_le_bytes());
        if !self.oversized {
            self.bytes.extend_from_slice(text.as_bytes());
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

impl TextChunks for PlainText {
    /// Pages of PLAIN-encoded values, cut by `spec.limits`' bytes and rows.
    fn chunk(
        &self,
        spec: &ChunkSpec,
        scratch: &mut Vec<u8>,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        let (rows, codec, limits) = (spec.rows.clone(), spec.codec, spec.limits);
        if self.oversized {
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
        let mut chunk = Chunk::new(codec, guess, scratch)?;
        let mut first = rows.start;
        while first < rows.end {
            let page_begin = self.start(first);
            let limit = (first + limits.rows.max(1)).min(rows.end);
            let under = self.ends[first..limit].partition_point(|&e| e - page_begin < limits.bytes);
            let last = (first + under + 1).min(limit);
            let data = &self.bytes[page_begin..self.ends[last - 1]];
            let values = last - first;
            chunk.data_page(
                data,
                values,
                Encoding::PLAIN,
                first - rows.start,
                data.len() - PREFIX * values,
            )?;
            first = last;
        }
        chunk.finish(spec.descr.clone(), rows.len(), Encoding::PLAIN)
    }

    fn to_array(&self) -> StringArray {
        StringArray::from_iter_values(self.iter())
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

impl TextChunks for DictText {
    /// A dictionary page holding every value seen (also those of other row groups, or
    /// truncated away), then data pages of at most `spec.limits.rows` codes.
    fn chunk(
        &self,
        spec: &ChunkSpec,
        scratch: &mut Vec<u8>,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        let rows = spec.rows.clone();
        if self.dictionary.oversized {
            return Err(oversized());
        }
        let mut chunk = Chunk::new(spec.codec, 1024, scratch)?;
        chunk.dictionary_page(&self.dictionary.bytes, self.dictionary.len())?;
        // At least one bit, which every reader takes (a one-value dictionary needs none).
        let bits = (u32::BITS - (self.dictionary.len().max(2) as u32 - 1).leading_zeros()) as u8;
        let mut page = Vec::new();
        let mut first = rows.start;
        while first < rows.end {
            let last = (first + spec.limits.rows.max(1)).min(rows.end);
            let codes = &self.codes[first..last];
            page.clear();
            page.push(bits);
            bit_pack(codes, bits, &mut page);
            let unencoded = codes
                .iter()
                .map(|&c| {
                    self.dictionary.ends[c as usize] - self.dictionary.start(c as usize) - PREFIX
                })
                .sum();
            chunk.data_page(
                &page,
                codes.len(),
                Encoding::RLE_DICTIONARY,
                first - rows.start,
                unencoded,
            )?;
            first = last;
        }
        chunk.finish(spec.descr.clone(), rows.len(), Encoding::RLE_DICTIONARY)
    }

    fn to_array(&self) -> StringArray {
        StringArray::from_iter_values(self.iter())
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

/// A column chunk being written page by page into memory.
struct Chunk<'s> {
    out: TrackedWrite<Vec<u8>>,
    codec: Compression,
    encoder: snap::raw::Encoder,
    scratch: &'s mut Vec<u8>,
    dictionary_page: bool,
    locations: Vec<PageLocation>,
    unencoded: Vec<i64>,
    compressed: i64,
    uncompressed: i64,
}

impl<'s> Chunk<'s> {
    fn new(
        codec: Compression,
        guess: usize,
        scratch: &'s mut Vec<u8>,
    ) -> Result<Self, ParquetError> {
        if !matches!(codec, Compression::SNAPPY | Compression::UNCOMPRESSED) {
            return Err(ParquetError::NYI(format!("{codec} for a text column")));
        }
        Ok(Chunk {
            out: TrackedWrite::new(Vec::with_capacity(guess + 1024)),
            codec,
            encoder: snap::raw::Encoder::new(),
            scratch,
            dictionary_page: false,
            locations: Vec::new(),
            unencoded: Vec::new(),
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

    /// The dictionary page, before any data page: `values` PLAIN-encoded strings.
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
    /// the chunk's row `first_row`; `unencoded` is their strings' length in all.
    fn data_page(
        &mut self,
        data: &[u8],
        values: usize,
        encoding: Encoding,
        first_row: usize,
        unencoded: usize,
    ) -> Result<(), ParquetError> {
        let page = Page::DataPage {
            buf: self.compress(data)?,
            num_values: u32::try_from(values).map_err(|_| too_large())?,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        let spec = self.write(page, data.len())?;
        self.locations.push(PageLocation {
            offset: i64::try_from(spec.offset).map_err(|_| too_large())?,
            compressed_page_size: i32::try_from(spec.compressed_size).map_err(|_| too_large())?,
            first_row_index: first_row as i64,
        });
        self.unencoded.push(unencoded as i64);
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
        let data_offset = self.locations.first().map_or(0, |l| l.offset);
        let metadata = ColumnChunkMetaData::builder(descr)
            .set_compression(self.codec)
            .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
            .set_page_encoding_stats(stats)
            .set_total_compressed_size(self.compressed)
            .set_total_uncompressed_size(self.uncompressed)
            .set_num_values(rows as i64)
            .set_data_page_offset(data_offset)
            .set_dictionary_page_offset(self.dictionary_page.then_some(0))
            .build()?;
        let bytes = self.out.into_inner()?;
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: rows as u64,
            metadata,
            bloom_filter: None,
            column_index: None,
            offset_index: Some(OffsetIndexMetaData {
                page_locations: self.locations,
                unencoded_byte_array_data_bytes: Some(self.unencoded),
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
