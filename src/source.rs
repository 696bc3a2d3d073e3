//! Reading event files into typed events and dead letters.
//!
//! - [`parse`]: one file's bytes → [`ParsedFile`] (format detection, per-record isolation).
//! - [`record`]: one JSON record → [`Event`](caspers_dataflows::model::Event) or a [`ReadError`].
//! - [`error`]: the [`ReadError`] classes that become dead-letter reasons.
//! - `split`: the string- and bracket-aware scanners that cut a file into records.

pub mod error;
pub mod parse;
pub mod record;
mod split;

pub use error::{ReadError, REASONS};
pub use parse::{
    parse_bytes, parse_bytes_with_limit, ParsedFile, DEFAULT_MAX_RECORD_BYTES, MAX_RAW_BYTES,
};
pub use record::{parse_record, MAX_LINE_AMOUNT};
