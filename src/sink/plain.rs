//! A UTF-8 column kept in Parquet's PLAIN layout while it fills, and written as a
//! snappy-compressed column chunk without the Arrow writer.
//!
//! Bronze's `body` is most of every bronze file's bytes. Through the Arrow writer each body
//! byte was copied into the encoder's page buffer (which reallocated, copying again, as it
//! doubled towards the page size), then copied into the page, and each page's snappy output
//! was zero-filled to its worst-case size first: ~10% of a replay's instructions besides the
//! compression itself. Here the reader appends each value once, already encoded, pages are
//! slices of that buffer, and they compress into one scratch buffer zeroed only as it grows.

use std::ops::Range;

use bytes::Bytes;
use parquet::basic::{Compression, Encoding, EncodingMask, PageType};
use parquet::column::page::{CompressedPage, Page, PageWriter};
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

    /// Writes strings `rows` as one column chunk of `descr` (a required BYTE_ARRAY column),
    /// compressed with `codec` (snappy or none), in data pages v1 cut at `limits`, with its offset index: the chunk's bytes,
    /// their offsets relative to the chunk's start, for
    /// [`SerializedRowGroupWriter::append_column`](parquet::file::writer::SerializedRowGroupWriter::append_column).
    /// `scratch` is reused between calls.
    pub fn chunk(
        &self,
        rows: Range<usize>,
        descr: ColumnDescPtr,
        codec: Compression,
        limits: PageLimits,
        scratch: &mut Vec<u8>,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        if !matches!(codec, Compression::SNAPPY | Compression::UNCOMPRESSED) {
            return Err(ParquetError::NYI(format!(
                "{codec} for a plain text column"
            )));
        }
        if self.oversized {
            return Err(ParquetError::General(
                "a text value is longer than a Parquet byte array can hold".into(),
            ));
        }
        let begin = self.start(rows.start);
        let end = self.start(rows.end);
        // Snappy shrinks JSON bodies ~5×; the out buffer grows if it must.
        let guess = if codec == Compression::SNAPPY {
            (end - begin) / 4
        } else {
            end - begin
        };
        let mut out = TrackedWrite::new(Vec::with_capacity(guess + 1024));
        let mut locations = Vec::new();
        let mut unencoded = Vec::new();
        let (mut compressed, mut uncompressed) = (0i64, 0i64);
        let mut encoder = snap::raw::Encoder::new();
        {
            let mut pages = SerializedPageWriter::new(&mut out);
            let mut first = rows.start;
            while first < rows.end {
                let page_begin = self.start(first);
                let limit = (first + limits.rows.max(1)).min(rows.end);
                let under =
                    self.ends[first..limit].partition_point(|&e| e - page_begin < limits.bytes);
                let last = (first + under + 1).min(limit);
                let data = &self.bytes[page_begin..self.ends[last - 1]];
                let buf = if codec == Compression::SNAPPY {
                    let need = snap::raw::max_compress_len(data.len());
                    if scratch.len() < need {
                        scratch.resize(need, 0);
                    }
                    let n = encoder
                        .compress(data, scratch)
                        .map_err(|e| ParquetError::External(Box::new(e)))?;
                    Bytes::copy_from_slice(&scratch[..n])
                } else {
                    Bytes::copy_from_slice(data)
                };
                let values = last - first;
                let page = Page::DataPage {
                    buf,
                    num_values: u32::try_from(values).map_err(|_| too_large())?,
                    encoding: Encoding::PLAIN,
                    def_level_encoding: Encoding::RLE,
                    rep_level_encoding: Encoding::RLE,
                    statistics: None,
                };
                let spec = pages.write_page(CompressedPage::new(page, data.len()))?;
                locations.push(PageLocation {
                    offset: i64::try_from(spec.offset).map_err(|_| too_large())?,
                    compressed_page_size: i32::try_from(spec.compressed_size)
                        .map_err(|_| too_large())?,
                    first_row_index: (first - rows.start) as i64,
                });
                unencoded.push((data.len() - PREFIX * values) as i64);
                compressed += spec.compressed_size as i64;
                uncompressed += spec.uncompressed_size as i64;
                first = last;
            }
            pages.close()?;
        }
        let pages = i32::try_from(locations.len()).map_err(|_| too_large())?;
        let metadata = ColumnChunkMetaData::builder(descr)
            .set_compression(codec)
            .set_encodings_mask(EncodingMask::new_from_encodings(
                [Encoding::PLAIN, Encoding::RLE].iter(),
            ))
            .set_page_encoding_stats(vec![PageEncodingStats {
                page_type: PageType::DATA_PAGE,
                encoding: Encoding::PLAIN,
                count: pages,
            }])
            .set_total_compressed_size(compressed)
            .set_total_uncompressed_size(uncompressed)
            .set_num_values(rows.len() as i64)
            .set_data_page_offset(0)
            .build()?;
        let bytes = out.into_inner()?;
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: rows.len() as u64,
            metadata,
            bloom_filter: None,
            column_index: None,
            offset_index: Some(OffsetIndexMetaData {
                page_locations: locations,
                unencoded_byte_array_data_bytes: Some(unencoded),
            }),
        };
        Ok((Bytes::from(bytes), close))
    }
}

fn too_large() -> ParquetError {
    ParquetError::General("a column chunk too large for Parquet's metadata".into())
}
