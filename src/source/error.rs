//! Why the reader rejected a record: one [`ReadError`] variant per dead-letter reason class.
//!
//! The class ([`ReadError::reason`]) is what dashboards and the run summary count by, so the
//! set is closed and stable ([`REASONS`]); the `Display` text is for the human fixing the file
//! and names the field and the problem.

use thiserror::Error;

/// Every reason class the reader can emit, in the order of the [`ReadError`] variants.
pub const REASONS: [&str; 11] = [
    "empty_file",
    "not_utf8",
    "malformed_json",
    "truncated",
    "too_large",
    "missing_field",
    "bad_type",
    "bad_value",
    "unknown_event_type",
    "bad_timestamp",
    "bad_body",
];

/// Why one record (or a whole file) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReadError {
    /// The file holds no bytes other than whitespace.
    #[error("empty file: no records")]
    EmptyFile,
    /// The record's bytes are not valid UTF-8.
    #[error("record is not valid UTF-8 (first invalid byte at offset {offset} of the record)")]
    NotUtf8 {
        /// Byte offset of the first invalid byte, relative to the record's start.
        offset: usize,
    },
    /// The record is not valid JSON (or, in a JSON array file, the text between elements).
    #[error("malformed JSON: {message}")]
    MalformedJson {
        /// The parser's message (positions in it are relative to the record).
        message: String,
    },
    /// The file ends inside a record, or a JSON array is never closed.
    #[error("truncated: {message}")]
    Truncated {
        /// What was cut off.
        message: String,
    },
    /// The record is larger than the configured limit.
    #[error("record of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the record in bytes.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A required field is absent or `null`.
    #[error("missing field `{field}` (absent or null)")]
    MissingField {
        /// Dotted path of the field (`order_id`, `body.items[2].price`).
        field: String,
    },
    /// A field holds a value of the wrong JSON type (or a string that does not parse as one).
    #[error("field `{field}`: expected {expected}, found {found}")]
    BadType {
        /// Dotted path of the field.
        field: String,
        /// What the field must hold.
        expected: &'static str,
        /// What it held, abbreviated.
        found: String,
    },
    /// A field has the right type but an impossible value (qty 0, negative price, overflow).
    #[error("field `{field}`: {problem}")]
    BadValue {
        /// Dotted path of the field.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// `event_type` is a string but not one of the eight lifecycle types.
    #[error("unknown event_type {name:?}")]
    UnknownEventType {
        /// The event type as written (abbreviated).
        name: String,
    },
    /// `ts` is a string but not a timestamp the reader understands.
    #[error("field `ts`: {value:?} is not a timestamp (expected YYYY-MM-DD HH:MM:SS[.ffffff] or ISO-8601)")]
    BadTimestamp {
        /// The timestamp as written (abbreviated).
        value: String,
    },
    /// `body` is missing, null, not a JSON object, or not the shape its event type needs.
    #[error("field `body`: {problem}")]
    BadBody {
        /// What is wrong with the body.
        problem: String,
    },
}

impl ReadError {
    /// The machine-readable reason class, one of [`REASONS`].
    pub fn reason(&self) -> &'static str {
        match self {
            ReadError::EmptyFile => "empty_file",
            ReadError::NotUtf8 { .. } => "not_utf8",
            ReadError::MalformedJson { .. } => "malformed_json",
            ReadError::Truncated { .. } => "truncated",
            ReadError::TooLarge { .. } => "too_large",
            ReadError::MissingField { .. } => "missing_field",
            ReadError::BadType { .. } => "bad_type",
            ReadError::BadValue { .. } => "bad_value",
            ReadError::UnknownEventType { .. } => "unknown_event_type",
            ReadError::BadTimestamp { .. } => "bad_timestamp",
            ReadError::BadBody { .. } => "bad_body",
        }
    }
}

/// Longest excerpt of a bad value quoted inside an error message, in bytes.
const EXCERPT_BYTES: usize = 80;

/// `text` cut to at most [`EXCERPT_BYTES`] on a char boundary, so one huge bad value cannot
/// blow up every message that quotes it.
pub(crate) fn excerpt(text: &str) -> String {
    if text.len() <= EXCERPT_BYTES {
        return text.to_owned();
    }
    let mut end = EXCERPT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text.get(..end).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_match_variants() {
        let all = [
            ReadError::EmptyFile,
            ReadError::NotUtf8 { offset: 0 },
            ReadError::MalformedJson {
                message: String::new(),
            },
            ReadError::Truncated {
                message: String::new(),
            },
            ReadError::TooLarge { size: 2, limit: 1 },
            ReadError::MissingField { field: "ts".into() },
            ReadError::BadType {
                field: "qty".into(),
                expected: "an integer",
                found: "1.5".into(),
            },
            ReadError::BadValue {
                field: "qty".into(),
                problem: "must be ≥ 1".into(),
            },
            ReadError::UnknownEventType { name: "x".into() },
            ReadError::BadTimestamp { value: "x".into() },
            ReadError::BadBody {
                problem: "null".into(),
            },
        ];
        let reasons: Vec<&str> = all.iter().map(ReadError::reason).collect();
        assert_eq!(reasons, REASONS);
    }

    #[test]
    fn excerpts_stay_short_and_on_char_boundaries() {
        assert_eq!(excerpt("short"), "short");
        let long = "è".repeat(100);
        let cut = excerpt(&long);
        assert!(cut.len() <= EXCERPT_BYTES + "…".len());
        assert!(cut.ends_with('…'));
    }
}
