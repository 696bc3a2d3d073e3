//! Parsing one landing file (JSON array, JSON Lines or a stream of objects) into events and
//! dead letters.
//!
//! The format is detected from the first non-whitespace byte (after an optional UTF-8 BOM):
//! - `[`: one JSON array of event objects, the original generator's format (one line, no
//!   trailing newline). Positions are `index N`, 0-based.
//! - `{`: JSON Lines, one object per line, blank lines skipped; positions are `line N`,
//!   1-based. If the first object spans several lines the file is read as a stream of
//!   (pretty-printed) objects instead, each positioned at the line it starts on.
//! - anything else: read as JSON Lines, so every line that is not an object is dead-lettered
//!   on its own.
//!
//! A well-formed array no larger than the record limit is decoded in one serde pass (the
//! replay hot path). Otherwise, and for the other formats, the file is first split into
//! records by a scanner that only tracks strings and brackets (`split`), then each
//! record is parsed on its own ([`super::record`]): a malformed, non-UTF-8 or oversized record
//! becomes one dead letter and the records around it still count. Both paths give identical
//! results (a property test checks it). Nothing here panics on input.
//!
//! This reader needs the whole file in memory; [`super::stream`] reads files larger than the
//! record limit in chunks, and turns records into events through the same `Collector`.

use caspers_dataflows::model::{DeadLetter, Event};

use super::error::ReadError;
use super::record::{decode_array, parse_record_into, EventSink};
use super::split::{
    balanced_end, count_newlines, lines, skip_ws, split_array, split_values, ArrayPiece, ValuePiece,
};

/// Default limit on one record's size: 10 MiB (the original's largest events are a few KiB).
pub const DEFAULT_MAX_RECORD_BYTES: usize = 10 * 1024 * 1024;

/// Longest `raw` text kept in a dead letter, in bytes.
pub const MAX_RAW_BYTES: usize = 4096;

/// What one file yields: its good events in file order (in an [`EventSink`] of the caller's
/// choice) and one dead letter per bad record.
#[derive(Debug, Default, Clone)]
pub struct Parsed<S> {
    /// Well-formed events, in file order.
    pub events: S,
    /// Rejected records, in file order.
    pub dead_letters: Vec<DeadLetter>,
}

/// [`Parsed`] into owned [`Event`]s.
pub type ParsedFile = Parsed<Vec<Event>>;

/// Parses the bytes of `source_file` (a path relative to the landing dir, used in dead
/// letters) with the default record size limit.
pub fn parse_bytes(source_file: &str, bytes: &[u8]) -> ParsedFile {
    parse_bytes_with_limit(source_file, bytes, DEFAULT_MAX_RECORD_BYTES)
}

/// Parses the bytes of `source_file`; records longer than `max_record_bytes` are
/// dead-lettered as `too_large` without being parsed.
pub fn parse_bytes_with_limit(
    source_file: &str,
    bytes: &[u8],
    max_record_bytes: usize,
) -> ParsedFile {
    // ~500 bytes per event in the original's files; a guess, not a bound.
    let events = Vec::with_capacity(bytes.len() / 512);
    parse_bytes_into(source_file, bytes, max_record_bytes, events)
}

/// [`parse_bytes_with_limit`] into `events`.
pub fn parse_bytes_into<S: EventSink>(
    source_file: &str,
    bytes: &[u8],
    max_record_bytes: usize,
    events: S,
) -> Parsed<S> {
    let mut reader = Reader {
        bytes,
        collector: Collector::new(source_file, max_record_bytes, events),
    };
    let body_start = if bytes.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let first = skip_ws(bytes, body_start);
    match bytes.get(first) {
        None => reader.reject(Position::Line(1), (0, 0), ReadError::EmptyFile),
        Some(b'[') => {
            if !reader.read_array_fast(first) {
                reader.read_array(first);
            }
        }
        Some(b'{') if starts_multi_line_object(bytes, first) => {
            reader.read_values(body_start, first)
        }
        Some(_) => reader.read_lines(body_start),
    }
    reader.collector.parsed
}

/// Whether the object opening at `start` is balanced and spans more than one line (then the
/// file is pretty-printed JSON, not JSON Lines). An unbalanced first line stays JSON Lines so
/// it costs one dead letter, not the whole file.
fn starts_multi_line_object(bytes: &[u8], start: usize) -> bool {
    balanced_end(bytes, start).is_some_and(|end| count_newlines(bytes, start, end) > 0)
}

/// Where a record sits in its file.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Position {
    /// 0-based element index of a JSON array.
    Index(usize),
    /// 1-based line number.
    Line(usize),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Index(i) => write!(f, "index {i}"),
            Position::Line(n) => write!(f, "line {n}"),
        }
    }
}

struct Reader<'a, S> {
    bytes: &'a [u8],
    collector: Collector<'a, S>,
}

impl<S: EventSink> Reader<'_, S> {
    /// The happy path for arrays: one serde pass over the whole file. Taken only when no
    /// record can exceed the size limit (the file itself does not) and the file is valid
    /// UTF-8; returns `false`, having added nothing, when the file is not a well-formed array
    /// of objects, so the element-by-element path can isolate the damage.
    fn read_array_fast(&mut self, open: usize) -> bool {
        if self.bytes.len() > self.collector.max_record_bytes {
            return false;
        }
        // simdutf8 checks the ~5 MB of a landing file ~10× faster than std (~2% of a
        // replay's CPU before); a file that fails goes element by element, where std's error
        // names the offset.
        let Some(text) = simdutf8::basic::from_utf8(self.bytes)
            .ok()
            .and_then(|t| t.get(open..))
        else {
            return false;
        };
        let events = &mut self.collector.parsed.events;
        let before = events.len();
        let failures = match decode_array(text, events) {
            Ok(failures) => failures,
            Err(_) => {
                events.truncate(before);
                return false;
            }
        };
        if !failures.is_empty() {
            // Rare: find the bad records' text for the dead letters. In a well-formed array
            // the split's pieces are exactly the elements, in order.
            let pieces = split_array(self.bytes, open);
            for (index, error) in failures {
                let range = match pieces.get(index) {
                    Some(ArrayPiece::Element { index: i, range }) if *i == index => *range,
                    _ => (0, 0),
                };
                self.reject(Position::Index(index), range, error);
            }
        }
        true
    }

    fn read_array(&mut self, open: usize) {
        for piece in split_array(self.bytes, open) {
            match piece {
                ArrayPiece::Element { index, range } => self.record(Position::Index(index), range),
                ArrayPiece::Empty { index, range } => {
                    self.reject(Position::Index(index), range, empty_element())
                }
                ArrayPiece::Truncated { index, range } => self.reject(
                    Position::Index(index),
                    range,
                    truncated_element(index, range.0 < range.1),
                ),
                ArrayPiece::Unclosed { index } => {
                    let end = self.bytes.len();
                    self.reject(Position::Index(index), (end, end), unclosed_array());
                }
                ArrayPiece::Trailing { index, range } => {
                    self.reject(Position::Index(index), range, after_array())
                }
            }
        }
    }

    fn read_values(&mut self, body_start: usize, first: usize) {
        let mut line = 1 + count_newlines(self.bytes, body_start, first);
        let mut counted_to = first;
        for piece in split_values(self.bytes, first) {
            let (ValuePiece::Value { range } | ValuePiece::Truncated { range }) = piece;
            line += count_newlines(self.bytes, counted_to, range.0);
            counted_to = range.0;
            match piece {
                ValuePiece::Value { .. } => self.record(Position::Line(line), range),
                ValuePiece::Truncated { .. } => {
                    self.reject(Position::Line(line), range, truncated_value())
                }
            }
        }
    }

    fn read_lines(&mut self, body_start: usize) {
        let bytes = self.bytes.get(body_start..).unwrap_or_default();
        for (line, (start, end)) in lines(bytes) {
            let range = (start + body_start, end + body_start);
            // A last line cut mid-object (writer still busy, or the disk filled up) is a
            // truncation, not a malformed record; a middle line never is.
            let unterminated = bytes.get(end..).is_some_and(|rest| {
                rest.iter()
                    .all(|b| *b == b' ' || *b == b'\t' || *b == b'\r')
            });
            let cut = unterminated
                && bytes.get(start) == Some(&b'{')
                && balanced_end(bytes.get(..end).unwrap_or_default(), start).is_none();
            if cut {
                self.reject(Position::Line(line), range, truncated_line());
            } else {
                self.record(Position::Line(line), range);
            }
        }
    }

    fn record(&mut self, position: Position, range: (usize, usize)) {
        let bytes = self.bytes.get(range.0..range.1).unwrap_or_default();
        self.collector.record(position, bytes);
    }

    fn reject(&mut self, position: Position, range: (usize, usize), error: ReadError) {
        let raw = self.bytes.get(range.0..range.1).unwrap_or_default();
        self.collector.reject(position, raw, &error);
    }
}

/// Turns one record's bytes into an event or a dead letter. Both the whole-file reader above
/// and the streaming one ([`super::stream`]) go through it, so a record gives the same result
/// whichever path read it.
pub(crate) struct Collector<'a, S> {
    source_file: &'a str,
    /// Records longer than this are rejected as `too_large`.
    pub(crate) max_record_bytes: usize,
    pub(crate) parsed: Parsed<S>,
    /// Where each record's body is unescaped, reused.
    scratch: String,
}

impl<'a, S: EventSink> Collector<'a, S> {
    pub(crate) fn new(source_file: &'a str, max_record_bytes: usize, events: S) -> Self {
        Collector {
            source_file,
            max_record_bytes,
            parsed: Parsed {
                events,
                dead_letters: Vec::new(),
            },
            scratch: String::new(),
        }
    }

    /// Checks size and encoding, then decodes one record (`bytes`, already trimmed).
    pub(crate) fn record(&mut self, position: Position, bytes: &[u8]) {
        if bytes.len() > self.max_record_bytes {
            let error = ReadError::TooLarge {
                size: bytes.len(),
                limit: self.max_record_bytes,
            };
            return self.reject(position, bytes, &error);
        }
        let result = match std::str::from_utf8(bytes) {
            Ok(text) => parse_record_into(text, &mut self.scratch),
            Err(e) => Err(ReadError::NotUtf8 {
                offset: e.valid_up_to(),
            }),
        };
        match result {
            Ok(event) => self.parsed.events.push(event),
            Err(error) => self.reject(position, bytes, &error),
        }
    }

    /// Dead-letters a record; `raw` is its text, of which at most [`MAX_RAW_BYTES`] are kept
    /// (so a prefix of at least that length is as good as the whole).
    pub(crate) fn reject(&mut self, position: Position, raw: &[u8], error: &ReadError) {
        self.reject_with_detail(position, raw, error, error.to_string());
    }

    /// [`Self::reject`] with a detail other than the error's own text.
    pub(crate) fn reject_with_detail(
        &mut self,
        position: Position,
        raw: &[u8],
        error: &ReadError,
        detail: String,
    ) {
        self.parsed.dead_letters.push(DeadLetter {
            reason: error.reason().to_owned(),
            detail,
            source_file: self.source_file.to_owned(),
            position: position.to_string(),
            raw: bounded_raw(raw),
        });
    }
}

// The errors for the shapes of damage the splitters find, shared with the streaming reader so
// the two cannot drift apart.

pub(crate) fn empty_element() -> ReadError {
    ReadError::MalformedJson {
        message: "empty array element (two separators in a row)".to_owned(),
    }
}

/// `partial`: the file ends inside the element, not before it.
pub(crate) fn truncated_element(index: usize, partial: bool) -> ReadError {
    let message = if partial {
        format!("file ends inside element {index}")
    } else {
        format!("file ends where element {index} or the closing ']' was expected")
    };
    ReadError::Truncated { message }
}

pub(crate) fn unclosed_array() -> ReadError {
    ReadError::Truncated {
        message: "array is never closed (no ']' before the end of the file)".to_owned(),
    }
}

pub(crate) fn after_array() -> ReadError {
    ReadError::MalformedJson {
        message: "unexpected text after the array's closing ']'".to_owned(),
    }
}

pub(crate) fn truncated_value() -> ReadError {
    ReadError::Truncated {
        message: "file ends inside a JSON object".to_owned(),
    }
}

pub(crate) fn truncated_line() -> ReadError {
    ReadError::Truncated {
        message: "file ends inside the last line's object".to_owned(),
    }
}

/// At most [`MAX_RAW_BYTES`] of `bytes` as text, invalid UTF-8 replaced, cut on a char
/// boundary.
fn bounded_raw(bytes: &[u8]) -> String {
    let mut head = bytes.get(..MAX_RAW_BYTES).unwrap_or(bytes);
    // Do not turn a character split by the cut into a replacement character.
    if let Err(e) = std::str::from_utf8(head) {
        if e.error_len().is_none() {
            head = head.get(..e.valid_up_to()).unwrap_or_default();
        }
    }
    let mut text = String::from_utf8_lossy(head).into_owned();
    // Replacement characters are 3 bytes for 1, so lossy text can outgrow the bound.
    if text.len() > MAX_RAW_BYTES {
        let mut end = MAX_RAW_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_is_bounded_even_when_lossy() {
        assert_eq!(bounded_raw(b"abc"), "abc");
        assert!(bounded_raw(&[0xFF; 10_000]).len() <= MAX_RAW_BYTES);
        assert_eq!(bounded_raw(&[b'x'; 10_000]).len(), MAX_RAW_BYTES);
        let multi = "è".repeat(5000);
        let cut = bounded_raw(multi.as_bytes());
        assert!(cut.len() <= MAX_RAW_BYTES && cut.chars().all(|c| c == 'è'));
    }

    #[test]
    fn detects_multi_line_objects() {
        assert!(starts_multi_line_object(b"{\n\"a\": 1\n}", 0));
        assert!(!starts_multi_line_object(b"{\"a\": 1}\n{\"a\": 2}", 0));
        assert!(!starts_multi_line_object(b"{\"a\": {\n{\"a\": 2}", 0));
    }
}
