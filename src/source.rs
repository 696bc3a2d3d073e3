//! Reading event files into typed events and dead letters.
//!
//! - [`parse`]: one file's bytes → [`ParsedFile`] (format detection, per-record isolation).
//! - [`record`]: one JSON record → [`Event`](caspers_dataflows::model::Event) or a [`ReadError`].
//! - [`order`]: the `order_created` body's items (prices as exact decimals).
//! - [`stream`]: one file on disk → [`ParsedFile`], whole when small, else in chunks with
//!   bounded memory however large a record is.
//! - [`error`]: the [`ReadError`] classes that become dead-letter reasons.
//! - `split`: the string- and bracket-aware scanners that cut a file into records.

pub mod error;
pub mod order;
pub mod parse;
pub mod record;
mod split;
pub mod stream;

pub use error::{ReadError, REASONS};
pub use order::MAX_LINE_AMOUNT;
pub use parse::{
    parse_bytes, parse_bytes_into, parse_bytes_with_limit, Parsed, ParsedFile,
    DEFAULT_MAX_RECORD_BYTES, MAX_RAW_BYTES,
};
pub use record::{parse_record, EventRef, EventSink};
pub use stream::{parse_file, parse_file_into, parse_reader, ReadStats, DEFAULT_CHUNK_BYTES};
