//! Decoding one JSON record into an [`Event`], or the [`ReadError`] that names the first
//! problem found.
//!
//! Speed matters (replay is the recovery path), so records deserialize into borrowed structs
//! whose fields are `Field`s: a visitor that accepts any JSON value without failing, so a
//! wrong type surfaces as a precise `bad_type` for *that* field instead of serde's opaque
//! message, and strings without escapes are borrowed from the input. The body is kept as
//! raw text and unescaped once into a reused scratch buffer; only `order_created` bodies are
//! parsed further ([`super::order`]), every other body is only checked to be a JSON object.
//! A decoded record is an [`EventRef`] borrowing all of that, handed to an [`EventSink`]: the
//! runtime's sink copies most records straight into bronze columns and makes an owned
//! [`Event`] only of those the views read.
//!
//! Checks run in this order, and the first failure wins: `event_type`, `ts`, `order_id`,
//! `gk_id`, `location`, `sequence`/`seq`, `event_id`, `body`.

use std::borrow::Cow;
use std::fmt;

use caspers_dataflows::model::{Event, EventType, Item};
use caspers_dataflows::time::parse_timestamp;
use caspers_dataflows::time::Micros;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::{excerpt, ReadError};

pub(super) mod fast;

/// Where a field sits, for error messages; formatted only when an error is built, so the
/// happy path allocates nothing for it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Path<'p> {
    /// A top-level record field (`ts`, `order_id`, …).
    Top(&'p str),
    /// A field of the `i`-th element of an order body's `items`.
    Item(usize, &'p str),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Top(name) => f.write_str(name),
            Path::Item(i, name) => write!(f, "body.items[{i}].{name}"),
        }
    }
}

/// Any JSON value except `null` (which `Option` absorbs), keeping just what validation needs.
#[derive(Debug)]
pub(crate) enum Field<'a> {
    Str(Cow<'a, str>),
    /// Every JSON integer fits an i128 (serde_json hands out i64 or u64).
    Int(i128),
    Float(f64),
    Bool(bool),
    Array,
    Object,
}

impl Field<'_> {
    /// Short description for `bad_type` messages: the JSON type and, for scalars, the value.
    pub(crate) fn describe(&self) -> String {
        match self {
            Field::Str(s) => format!("string {:?}", excerpt(s)),
            Field::Int(n) => format!("integer {n}"),
            Field::Float(x) => format!("number {x}"),
            Field::Bool(b) => format!("boolean {b}"),
            Field::Array => "an array".to_owned(),
            Field::Object => "an object".to_owned(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor(std::marker::PhantomData))
    }
}

struct FieldVisitor<'a>(std::marker::PhantomData<Field<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for FieldVisitor<'a> {
    type Value = Field<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Field::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field::Int(i128::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field::Int(i128::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Field::Float(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Object)
    }
}

/// The bronze record as written, every field optional so absence is ours to report.
#[derive(Default, Deserialize)]
struct RawRecord<'a> {
    #[serde(borrow)]
    event_id: Option<Field<'a>>,
    #[serde(borrow)]
    event_type: Option<Field<'a>>,
    #[serde(borrow)]
    ts: Option<Field<'a>>,
    #[serde(borrow)]
    gk_id: Option<Field<'a>>,
    #[serde(borrow)]
    location: Option<Field<'a>>,
    #[serde(borrow)]
    order_id: Option<Field<'a>>,
    #[serde(borrow)]
    sequence: Option<Field<'a>>,
    /// The technical reference's name for `sequence`; used only when `sequence` is absent.
    #[serde(borrow)]
    seq: Option<Field<'a>>,
    /// A string holding the body (the original), or the body inline. Kept as raw text and
    /// unescaped by [`unescape`]: serde_json would grow a fresh scratch buffer for every
    /// record's escaped body, the largest single cost of the reader.
    #[serde(borrow, default, deserialize_with = "raw_text")]
    body: Option<&'a str>,
    /// Whether [`fast::scan_record`] has already unescaped the body string into the scratch
    /// buffer, in the same pass that found its end.
    #[serde(skip)]
    body_unescaped: bool,
}

/// A JSON value's text exactly as written (serde_json's raw value), `None` for `null`.
pub(in crate::source) fn raw_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'de str>, D::Error> {
    Option::<&'de RawValue>::deserialize(deserializer).map(|raw| raw.map(RawValue::get))
}

/// The JSON type of the value whose text starts at the first byte of `text`.
pub(crate) fn json_kind(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(_) => "a number",
        None => "nothing",
    }
}

fn malformed(err: &serde_json::Error) -> ReadError {
    ReadError::MalformedJson {
        message: err.to_string(),
    }
}

/// Decodes one record's text (a JSON object) into an event.
pub fn parse_record(text: &str) -> Result<Event, ReadError> {
    let mut scratch = String::new();
    parse_record_into(text, &mut scratch).map(EventRef::into_event)
}

/// [`parse_record`] without copying: the event borrows from `text`, and its body from
/// `scratch` (cleared and reused).
pub(crate) fn parse_record_into<'e>(
    text: &'e str,
    scratch: &'e mut String,
) -> Result<EventRef<'e>, ReadError> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        // Tell "valid JSON, but not an object" apart from "not JSON at all".
        return match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => Err(ReadError::BadType {
                field: "record".to_owned(),
                expected: "a JSON object",
                found: json_kind(trimmed).to_owned(),
            }),
            Err(e) => Err(malformed(&e)),
        };
    }
    // With every field lenient, the only data errors left are duplicate keys, which make the
    // record ambiguous: treat them as malformed too.
    let raw: RawRecord<'_> = serde_json::from_str(text).map_err(|e| malformed(&e))?;
    build_event(raw, scratch)
}

/// A well-formed record whose text borrows from the file (and its body from a scratch
/// buffer): a sink can store it without an allocation per field. Most events are only ever
/// written to bronze, so most never become an owned [`Event`].
#[derive(Debug)]
pub struct EventRef<'e> {
    /// Event time, microseconds since the Unix epoch, UTC.
    pub ts: Micros,
    /// Event type.
    pub event_type: EventType,
    /// `sequence` (or `seq`).
    pub sequence: i64,
    /// `event_id`; empty when the record had none.
    pub event_id: Cow<'e, str>,
    /// Order id.
    pub order_id: Cow<'e, str>,
    /// Ghost kitchen id.
    pub gk_id: Cow<'e, str>,
    /// Location name.
    pub location: Cow<'e, str>,
    /// `ts` as written.
    pub ts_raw: Cow<'e, str>,
    /// The body, unescaped.
    pub body: &'e str,
    /// The parsed items of an `order_created` body; empty for every other type.
    pub items: Vec<Item>,
}

impl EventRef<'_> {
    /// The owned event.
    pub fn into_event(self) -> Event {
        Event {
            ts: self.ts,
            event_id: self.event_id.into_owned(),
            body: self.body.to_owned(),
            event_type: self.event_type,
            order_id: self.order_id.into_owned(),
            sequence: self.sequence,
            gk_id: self.gk_id.into_owned(),
            location: self.location.into_owned(),
            ts_raw: self.ts_raw.into_owned(),
            items: self.items,
        }
    }
}

/// Where the readers put the good records of a file, in file order.
pub trait EventSink {
    /// Takes one record.
    fn push(&mut self, event: EventRef<'_>);
    /// How many records it took.
    fn len(&self) -> usize;
    /// Whether it took none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Forgets every record after the first `len` (the array fast path gives up half-way).
    fn truncate(&mut self, len: usize);
}

impl EventSink for Vec<Event> {
    fn push(&mut self, event: EventRef<'_>) {
        Vec::push(self, event.into_event());
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }
}

/// Decodes a whole JSON array of records in one pass: good events are appended to `events`,
/// and each record that is valid JSON but not a valid event is returned with its index. `Err`
/// when the text is not a well-formed array of objects (or has duplicate keys); the caller
/// then falls back to splitting the array and decoding element by element, which isolates
/// the damage. This path skips that split, a per-record UTF-8 check and a parser per record:
/// on the original's files it is the difference that matters. Each record goes through
/// [`fast::scan_record`] first and through serde only when that declines it.
pub(crate) fn decode_array<S: EventSink>(
    text: &str,
    events: &mut S,
) -> Result<Vec<(usize, ReadError)>, serde_json::Error> {
    let b = text.as_bytes();
    let ws = |mut i: usize| {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
            i += 1;
        }
        i
    };
    // Errors of the array's own syntax: serde's message for the whole text, which the
    // caller only uses to decide to fall back.
    let syntax = || match serde_json::from_str::<IgnoredAny>(text) {
        Err(e) => e,
        Ok(_) => serde::de::Error::custom("expected an array of event objects"),
    };
    let mut i = ws(0);
    if b.get(i) != Some(&b'[') {
        return Err(syntax());
    }
    i = ws(i + 1);
    let mut failures = Vec::new();
    let mut scratch = String::new();
    if b.get(i) == Some(&b']') {
        return if ws(i + 1) == b.len() {
            Ok(failures)
        } else {
            Err(syntax())
        };
    }
    let mut index = 0;
    loop {
        let (raw, end) = match fast::scan_record(text, i, &mut scratch) {
            Some(found) => found,
            None => {
                let rest = text.get(i..).unwrap_or("");
                let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<RawRecord>();
                match stream.next() {
                    Some(raw) => (raw?, i + stream.byte_offset()),
                    None => return Err(syntax()),
                }
            }
        };
        match build_event(raw, &mut scratch) {
            Ok(event) => events.push(event),
            Err(error) => failures.push((index, error)),
        }
        index += 1;
        i = ws(end);
        match b.get(i) {
            Some(b',') => i = ws(i + 1),
            Some(b']') if ws(i + 1) == b.len() => return Ok(failures),
            _ => return Err(syntax()),
        }
    }
}

/// The serde-only [`decode_array`], as it was before the scanner: the reference the tests
/// compare it with.
#[cfg(test)]
pub(crate) fn decode_array_serde<S: EventSink>(
    text: &str,
    events: &mut S,
) -> Result<Vec<(usize, ReadError)>, serde_json::Error> {
    struct ArrayVisitor<'v, S> {
        events: &'v mut S,
    }
    impl<'de, S: EventSink> Visitor<'de> for ArrayVisitor<'_, S> {
        type Value = Vec<(usize, ReadError)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of event objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut failures = Vec::new();
            let mut index = 0;
            let mut scratch = String::new();
            while let Some(raw) = seq.next_element::<RawRecord<'de>>()? {
                match build_event(raw, &mut scratch) {
                    Ok(event) => self.events.push(event),
                    Err(error) => failures.push((index, error)),
                }
                index += 1;
            }
            Ok(failures)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let failures = de.deserialize_seq(ArrayVisitor { events })?;
    de.end()?;
    Ok(failures)
}

fn build_event<'e>(raw: RawRecord<'e>, scratch: &'e mut String) -> Result<EventRef<'e>, ReadError> {
    let event_type = match raw.event_type {
        None => return Err(missing(Path::Top("event_type"))),
        Some(Field::Str(name)) => {
            EventType::parse(&name).ok_or_else(|| ReadError::UnknownEventType {
                name: excerpt(&name),
            })?
        }
        Some(other) => return Err(bad_type(Path::Top("event_type"), "a string", &other)),
    };
    let ts_raw = required_str(Path::Top("ts"), raw.ts)?;
    let ts = parse_timestamp(&ts_raw).ok_or_else(|| ReadError::BadTimestamp {
        value: excerpt(&ts_raw),
    })?;
    let order_id = required_str(Path::Top("order_id"), raw.order_id)?;
    if order_id.is_empty() {
        return Err(ReadError::BadValue {
            field: "order_id".to_owned(),
            problem: "is empty".to_owned(),
        });
    }
    let gk_id = required_str(Path::Top("gk_id"), raw.gk_id)?;
    let location = required_str(Path::Top("location"), raw.location)?;
    let sequence = match (raw.sequence, raw.seq) {
        (Some(f), _) => int_field(Path::Top("sequence"), f, 0, i128::from(i64::MAX))?,
        (None, Some(f)) => int_field(Path::Top("seq"), f, 0, i128::from(i64::MAX))?,
        (None, None) => return Err(missing(Path::Top("sequence"))),
    };
    let sequence = i64::try_from(sequence).unwrap_or(i64::MAX);
    let event_id = match raw.event_id {
        None => Cow::Borrowed(""),
        Some(Field::Str(s)) => s,
        Some(other) => return Err(bad_type(Path::Top("event_id"), "a string", &other)),
    };
    body_text(raw.body, raw.body_unescaped, scratch)?;
    let body = scratch.as_str();
    let items = if event_type == EventType::OrderCreated {
        super::order::parse_items(body)?
    } else {
        // Every body must be a JSON object; typed bodies other than order_created are not
        // needed by any view yet, so checking syntax is enough (no allocation). Serde has the
        // last word (and the error message) whenever the quick check is not sure.
        if !fast::certainly_json(body) {
            serde_json::from_str::<IgnoredAny>(body).map_err(|e| ReadError::BadBody {
                problem: format!("not valid JSON: {e}"),
            })?;
        }
        Vec::new()
    };
    Ok(EventRef {
        ts,
        event_type,
        sequence,
        event_id,
        order_id,
        gk_id,
        location,
        ts_raw,
        body,
        items,
    })
}

pub(crate) fn missing(field: Path<'_>) -> ReadError {
    ReadError::MissingField {
        field: field.to_string(),
    }
}

pub(crate) fn bad_type(field: Path<'_>, expected: &'static str, found: &Field<'_>) -> ReadError {
    ReadError::BadType {
        field: field.to_string(),
        expected,
        found: found.describe(),
    }
}

fn required_str<'a>(field: Path<'_>, value: Option<Field<'a>>) -> Result<Cow<'a, str>, ReadError> {
    match value {
        None => Err(missing(field)),
        Some(Field::Str(s)) => Ok(s),
        Some(other) => Err(bad_type(field, "a string", &other)),
    }
}

/// An integer field within `[min, max]`: a JSON integer, or a string of digits (the original
/// ingestion kept every column as STRING, so `"7"` is accepted). Fractions and words are
/// `bad_type`; integers outside the range are `bad_value`.
pub(crate) fn int_field(
    field: Path<'_>,
    value: Field<'_>,
    min: i128,
    max: i128,
) -> Result<i128, ReadError> {
    let n = match &value {
        Field::Int(n) => *n,
        Field::Str(s) => parse_int_text(s).ok_or_else(|| bad_type(field, "an integer", &value))?,
        _ => return Err(bad_type(field, "an integer", &value)),
    };
    if n < min {
        return Err(ReadError::BadValue {
            field: field.to_string(),
            problem: format!("{n} is below the minimum {min}"),
        });
    }
    if n > max {
        return Err(ReadError::BadValue {
            field: field.to_string(),
            problem: format!("{n} is above the maximum {max}"),
        });
    }
    Ok(n)
}

/// `[+-]digits` (surrounding whitespace allowed) as an integer; `None` for anything else,
/// including more digits than any field could hold.
fn parse_int_text(text: &str) -> Option<i128> {
    let t = text.trim();
    let (negative, digits) = match t.as_bytes().first()? {
        b'-' => (true, t.get(1..)?),
        b'+' => (false, t.get(1..)?),
        _ => (false, t),
    };
    if digits.is_empty() || digits.len() > 30 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i128 = digits.parse().ok()?;
    Some(if negative { -n } else { n })
}

/// The body as a JSON text, into `out` (replacing what it held): a string holding a JSON
/// object (the original), or an object given inline (its text is stored as is).
/// `unescaped`: the scanner has already put the string's value into `out`.
fn body_text(body: Option<&str>, unescaped: bool, out: &mut String) -> Result<(), ReadError> {
    let missing_body = || ReadError::BadBody {
        problem: "missing or null".to_owned(),
    };
    let raw = body.ok_or_else(missing_body)?;
    match raw.as_bytes().first() {
        Some(b'"') if unescaped => {}
        Some(b'"') => {
            out.clear();
            unescape_into(raw, out).ok_or_else(|| ReadError::BadBody {
                problem: "string holds an invalid escape (e.g. a lone surrogate)".to_owned(),
            })?
        }
        Some(b'{') => {
            out.clear();
            out.push_str(raw);
        }
        Some(b'n') => return Err(missing_body()),
        _ => {
            return Err(ReadError::BadBody {
                problem: format!(
                    "expected a JSON object or a string holding one, found {}",
                    json_kind(raw)
                ),
            })
        }
    }
    if !out.trim_start().starts_with('{') {
        let found = match serde_json::from_str::<IgnoredAny>(out) {
            Ok(_) => json_kind(out).to_owned(),
            Err(_) => format!("text that is not JSON ({:?})", excerpt(out)),
        };
        return Err(ReadError::BadBody {
            problem: format!("expected a JSON object, found {found}"),
        });
    }
    Ok(())
}

/// The value of a JSON string literal (quotes included) that serde_json has already checked
/// for syntax, appended to `out`. `None` on an escape that does not decode (a lone UTF-16
/// surrogate), which serde_json would reject too.
pub(in crate::source) fn unescape_into(literal: &str, out: &mut String) -> Option<()> {
    let inner = literal.strip_prefix('"')?.strip_suffix('"')?;
    let bytes = inner.as_bytes();
    out.reserve(inner.len());
    let mut i = 0;
    while let Some(at) = memchr::memchr(b'\\', bytes.get(i..)?) {
        let esc = i + at;
        out.push_str(inner.get(i..esc)?);
        let (decoded, after) = decode_escape(bytes, esc)?;
        out.push(decoded);
        i = after;
    }
    out.push_str(inner.get(i..)?);
    Some(())
}

/// The escape at `bytes[esc] == b'\\'`, decoded, and the index after it (a surrogate pair is
/// one escape). `None` for an escape JSON does not allow or one that does not decode.
fn decode_escape(bytes: &[u8], esc: usize) -> Option<(char, usize)> {
    let decoded = match bytes.get(esc + 1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let unit = hex4(bytes.get(esc + 2..esc + 6)?)?;
            let after = esc + 6;
            if !(0xD800..0xDC00).contains(&unit) {
                return Some((char::from_u32(unit)?, after));
            }
            // A high surrogate must be followed by an escaped low one.
            if bytes.get(after..after + 2)? != b"\\u" {
                return None;
            }
            let low = hex4(bytes.get(after + 2..after + 6)?)?;
            if !(0xDC00..0xE000).contains(&low) {
                return None;
            }
            let c = char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))?;
            return Some((c, after + 6));
        }
        _ => return None,
    };
    Some((decoded, esc + 2))
}

/// Four hex digits as a number.
fn hex4(digits: &[u8]) -> Option<u32> {
    if digits.len() != 4 {
        return None;
    }
    digits
        .iter()
        .try_fold(0, |n, &d| Some(n * 16 + char::from(d).to_digit(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unescape(literal: &str) -> Option<String> {
        let mut out = String::new();
        unescape_into(literal, &mut out).map(|()| out)
    }

    #[test]
    fn integer_text_forms() {
        assert_eq!(parse_int_text("7"), Some(7));
        assert_eq!(parse_int_text(" -3 "), Some(-3));
        assert_eq!(parse_int_text("+0"), Some(0));
        for bad in ["", "-", "zero", "1.5", "1e3", "0x10", &"9".repeat(31)] {
            assert_eq!(parse_int_text(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unescapes_like_serde_json() {
        for literal in [
            r#""plain""#,
            r#""{\"a\": \"Caff\u00e8 Latte\"}""#,
            r#""tab\tnl\ncr\rbs\bff\fsl\/bsl\\""#,
            r#""pile \ud83d\udca9 of""#,
            r#""\u0000 end\"""#,
            r#""""#,
        ] {
            let expected: String = serde_json::from_str(literal).unwrap();
            assert_eq!(
                unescape(literal).as_deref(),
                Some(expected.as_str()),
                "{literal}"
            );
        }
        for bad in [
            r#""\ud83d""#,
            r#""\ud83d\u0041""#,
            r#""\udca9""#,
            r#""\x""#,
            r#""\u12""#,
            "x",
        ] {
            assert_eq!(unescape(bad), None, "{bad}");
        }
    }
}
