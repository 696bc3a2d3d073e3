//! Reading event files into typed events and dead letters.

pub mod parse;

pub use parse::{parse_bytes, ParsedFile};
