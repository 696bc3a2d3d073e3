//! A scanner for the records the generator writes, in front of serde.
//!
//! serde_json's derived visitor was the largest single cost of a replay (~13% of its CPU: key
//! matching, `Option` and `Field` dispatch per field). Nearly every record has the same
//! simple shape: an object of known keys whose values are strings without escapes, one
//! non-negative integer, and the body as a string. [`scan_record`] reads exactly that shape
//! and nothing else; on anything it does not handle (an unknown, repeated or escaped key,
//! `null`, a number in another form, an escaped id, an inline body, odd syntax) it returns
//! `None` and the caller hands the record to serde, which decides. So for every record it
//! accepts it must produce what serde would: the tests check that against serde itself.
//! [`certainly_json`] is the same idea for the check that a body is JSON.

use std::borrow::Cow;

use super::{Field, RawRecord};

/// JSON's four whitespace bytes. Nearly every gap in the generator's JSON is nothing or one
/// space (after each `:` and `,`, ~70 a record): those two take one comparison each, where
/// the loop's four-way test per byte was ~2% of a replay. Every whitespace byte is below
/// `!`, so a byte above the space ends the gap.
#[inline(always)]
pub(in crate::source) fn skip_ws(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(&c) if c > b' ' => i,
        Some(b' ') if b.get(i + 1).is_some_and(|&c| c > b' ') => i + 1,
        _ => skip_ws_loop(b, i),
    }
}

fn skip_ws_loop(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

const ONES: u64 = u64::from_le_bytes([1; 8]);
const HIGH: u64 = u64::from_le_bytes([0x80; 8]);

/// The index of the first byte of `b` that `is_stop` picks. On x86_64 sixteen bytes at a
/// time with SSE2 (part of every x86_64 target): `block_stops` gives a bit per byte of a
/// block that `is_stop` would pick. The rest, and everything elsewhere, eight bytes at a time
/// (SWAR): `word_stops` sets the high bit of each byte of a little-endian word that `is_stop`
/// would pick, exactly at the lowest such byte (bits above it may be wrong, as borrows and
/// carries only run upwards from a flagged byte); the tail goes byte by byte.
#[inline(always)]
fn first_stop(
    b: &[u8],
    block_stops: impl Fn(&[u8; 16]) -> u32,
    word_stops: impl Fn(u64) -> u64,
    is_stop: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut offset = 0;
    if cfg!(target_arch = "x86_64") {
        for block in b.chunks_exact(16) {
            let Ok(block) = <&[u8; 16]>::try_from(block) else {
                break;
            };
            let stops = block_stops(block);
            if stops != 0 {
                return Some(offset + stops.trailing_zeros() as usize);
            }
            offset += 16;
        }
    }
    let rest = b.get(offset..)?;
    let mut chunks = rest.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let stops = word_stops(u64::from_le_bytes(word)) & HIGH;
        if stops != 0 {
            return Some(offset + (stops.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| is_stop(c))
        .map(|at| offset + at)
}

/// Byte classes of a 16-byte block, a bit per byte (bit `i` for `block[i]`), with SSE2.
#[cfg(target_arch = "x86_64")]
mod block {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_sub_epi8,
    };

    /// Quotes, backslashes and control bytes (below 0x20).
    #[inline(always)]
    pub(super) fn string_stops(block: &[u8; 16]) -> u32 {
        // SAFETY: SSE2 is part of every x86_64 target, and this module is built only there.
        unsafe { string_stops_sse2(block) }
    }

    /// Bytes that are not ASCII digits.
    #[inline(always)]
    pub(super) fn non_digits(block: &[u8; 16]) -> u32 {
        // SAFETY: as in `string_stops`.
        unsafe { non_digits_sse2(block) }
    }

    /// The ASCII digits of 32 bytes.
    #[inline(always)]
    pub(super) fn digits32(window: &[u8; 32]) -> Option<u32> {
        let (low, high) = window.split_at(16);
        let low = <&[u8; 16]>::try_from(low).ok()?;
        let high = <&[u8; 16]>::try_from(high).ok()?;
        Some(!(non_digits(low) | (non_digits(high) << 16)))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn load(block: &[u8; 16]) -> __m128i {
        // SAFETY: reads exactly the 16 bytes `block` borrows; the load has no alignment needs.
        unsafe { _mm_loadu_si128(block.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn mask(v: __m128i) -> u32 {
        // One bit per byte, the low 16 bits: never negative.
        u32::try_from(_mm_movemask_epi8(v)).unwrap_or(0)
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn string_stops_sse2(block: &[u8; 16]) -> u32 {
        let v = load(block);
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(i8::from_ne_bytes([b'"'])));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(i8::from_ne_bytes([b'\\'])));
        // max(v, 0x1f) == 0x1f exactly for the unsigned bytes up to 0x1f.
        let low = _mm_set1_epi8(0x1f);
        let control = _mm_cmpeq_epi8(_mm_max_epu8(v, low), low);
        mask(_mm_or_si128(_mm_or_si128(quote, backslash), control))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn non_digits_sse2(block: &[u8; 16]) -> u32 {
        // The digits are the bytes with `byte - '0'` at most 9 as unsigned bytes.
        let shifted = _mm_sub_epi8(load(block), _mm_set1_epi8(i8::from_ne_bytes([b'0'])));
        let nine = _mm_set1_epi8(9);
        !mask(_mm_cmpeq_epi8(_mm_max_epu8(shifted, nine), nine)) & 0xFFFF
    }
}

/// Elsewhere the blocks are never searched ([`first_stop`] goes word by word).
#[cfg(not(target_arch = "x86_64"))]
mod block {
    pub(super) fn string_stops(_: &[u8; 16]) -> u32 {
        0
    }

    pub(super) fn non_digits(_: &[u8; 16]) -> u32 {
        0
    }

    /// Not searched here: [`super::number`] reads every number.
    pub(super) fn digits32(_: &[u8; 32]) -> Option<u32> {
        None
    }
}

/// The index of the first byte in `b` that ends a run of plain string content: a quote, a
/// backslash or a control character. Word at a time: the byte-by-byte search was the
/// largest part of the scanner's cost, as the ids are 32 bytes and a `driver_picked_up` body
/// runs ~1.6 KB without an escape.
#[inline]
fn string_stop(b: &[u8]) -> Option<usize> {
    first_stop(
        b,
        block::string_stops,
        |x| {
            // A byte's high bit ends up set where it is zero (or below 0x20 for `x` itself).
            let quote = x ^ (ONES * u64::from(b'"'));
            let backslash = x ^ (ONES * u64::from(b'\\'));
            (quote.wrapping_sub(ONES) & !quote)
                | (backslash.wrapping_sub(ONES) & !backslash)
                | (x.wrapping_sub(ONES * 0x20) & !x)
        },
        |c| c == b'"' || c == b'\\' || c < 0x20,
    )
}

/// The index of a member's value, after the key that ends at `after_key`, the `:` and the
/// whitespace around it.
pub(in crate::source) fn colon(b: &[u8], after_key: usize) -> Option<usize> {
    let i = skip_ws(b, after_key);
    (b.get(i) == Some(&b':')).then(|| skip_ws(b, i + 1))
}

/// A string literal at `b[i] == '"'` with no escapes and no control characters: its content
/// and the index after the closing quote.
pub(in crate::source) fn plain_string(text: &str, i: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let end = start + string_stop(b.get(start..)?)?;
    if b[end] != b'"' {
        return None;
    }
    // Both ends sit next to ASCII quotes, so they are character boundaries.
    Some((text.get(start..end)?, end + 1))
}

/// The string literal at `text[i] == '"'`, its value appended to `out`, and the index after
/// it: finding the end and unescaping in one pass over the body, the longest field. `None`
/// where [`string`] would say no, and also for a `\u` escape that does not decode (a lone
/// surrogate): serde then reads the record and the body's check reports it.
fn unescape_literal(text: &str, i: usize, out: &mut String) -> Option<usize> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        let at = j + string_stop(b.get(j..)?)?;
        out.push_str(text.get(j..at)?);
        match b[at] {
            b'"' => return Some(at + 1),
            // A body's keys and strings are quoted by `\"`: ~9 a record, not worth a call.
            b'\\' if b.get(at + 1) == Some(&b'"') => {
                out.push('"');
                j = at + 2;
            }
            b'\\' => {
                let (decoded, after) = super::decode_escape(b, at)?;
                out.push(decoded);
                j = after;
            }
            _ => return None,
        }
    }
}

/// Whether `text` is certainly one JSON value with only whitespace around it, as serde_json
/// reads it: the strict grammar, nested at most [`MAX_DEPTH`] deep. `false` means "not
/// sure", and the caller asks serde; so this must never say `true` for text serde rejects
/// (the tests check that against serde). Every non-order body is validated, and serde's
/// `IgnoredAny` walk of the route points in `driver_picked_up` bodies was ~4% of a replay.
pub(super) fn certainly_json(text: &str) -> bool {
    let b = text.as_bytes();
    value(b, skip_ws(b, 0), 0).is_some_and(|end| skip_ws(b, end) == b.len())
}

/// Deepest nesting [`certainly_json`] follows on the call stack; deeper text goes to serde
/// (whose walk for `IgnoredAny` keeps no call stack).
const MAX_DEPTH: usize = 64;

/// The index after the JSON value at `b[i]`.
pub(in crate::source) fn value(b: &[u8], i: usize, depth: usize) -> Option<usize> {
    match b.get(i)? {
        b'{' if depth < MAX_DEPTH => {
            let mut i = skip_ws(b, i + 1);
            if b.get(i) == Some(&b'}') {
                return Some(i + 1);
            }
            loop {
                i = skip_ws(b, string(b, i)?);
                if b.get(i) != Some(&b':') {
                    return None;
                }
                i = skip_ws(b, value(b, skip_ws(b, i + 1), depth + 1)?);
                match b.get(i)? {
                    b',' => i = skip_ws(b, i + 1),
                    b'}' => return Some(i + 1),
                    _ => return None,
                }
            }
        }
        b'[' if depth < MAX_DEPTH => {
            if depth + 2 < MAX_DEPTH {
                if let Some(end) = numeric_array(b, i) {
                    return Some(end);
                }
            }
            let mut i = skip_ws(b, i + 1);
            if b.get(i) == Some(&b']') {
                return Some(i + 1);
            }
            loop {
                i = skip_ws(b, value(b, i, depth + 1)?);
                match b.get(i)? {
                    b',' => i = skip_ws(b, i + 1),
                    b']' => return Some(i + 1),
                    _ => return None,
                }
            }
        }
        b'"' => string(b, i),
        b't' => b[i..].starts_with(b"true").then_some(i + 4),
        b'f' => b[i..].starts_with(b"false").then_some(i + 5),
        b'n' => b[i..].starts_with(b"null").then_some(i + 4),
        b'-' | b'0'..=b'9' => number(b, i),
        _ => None,
    }
}

/// The index after the array at `b[i] == '['` when its elements are numbers or arrays of
/// numbers (a route's points), read in one loop: [`value`]'s call per element and per point
/// cost more than the numbers themselves (a `driver_picked_up` body is ~85 of them). `None`
/// when the array holds anything else or is not JSON, for [`value`] to decide; so it never
/// accepts more than [`value`] does.
fn numeric_array(b: &[u8], mut i: usize) -> Option<usize> {
    let mut open = 0u32;
    loop {
        // A value starts at `i`.
        let whole_point = if open == 1 { point(b, i) } else { None };
        if let Some(end) = whole_point {
            i = end;
        } else if b.get(i) == Some(&b'[') {
            open += 1;
            if open > 2 {
                return None;
            }
            i = skip_ws(b, i + 1);
            if b.get(i) != Some(&b']') {
                continue;
            }
            open -= 1;
            i += 1;
        } else {
            i = match short_number(b, i) {
                Some(end) => end,
                None => number(b, i)?,
            };
        }
        // After a value: a comma and the next value, or brackets closing.
        loop {
            if open == 0 {
                return Some(i);
            }
            i = skip_ws(b, i);
            match b.get(i)? {
                b',' => {
                    i = skip_ws(b, i + 1);
                    break;
                }
                b']' => {
                    open -= 1;
                    i += 1;
                }
                _ => return None,
            }
        }
    }
}

/// The index after the point at `b[i]` when it is written as the generator writes route points,
/// `[` number `, ` number `]` with numbers [`short_number`] reads: the two numbers without
/// [`numeric_array`]'s state changes and whitespace checks between them. `None` for anything
/// else, which [`numeric_array`] then reads element by element.
#[inline(always)]
fn point(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let i = short_number(b, i + 1)?;
    if b.get(i..i + 2)? != b", " {
        return None;
    }
    let i = short_number(b, i + 2)?;
    (b.get(i) == Some(&b']')).then_some(i + 1)
}

/// The index after the number at `b[i]` when it is `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, not
/// followed by an exponent, and ends within 32 bytes of `i` that `b` holds: found from one
/// digit mask of those 32 bytes, without a loop per digit run. `None` for anything else
/// (where [`number`] decides).
#[inline(always)]
fn short_number(b: &[u8], i: usize) -> Option<usize> {
    let window = <&[u8; 32]>::try_from(b.get(i..i.checked_add(32)?)?).ok()?;
    let digits = block::digits32(window)?;
    let sign = usize::from(window[0] == b'-');
    // Bits past the window shift in as zeros, i.e. as non-digits: every run ends by bit 32.
    let int = (!(digits >> sign)).trailing_zeros() as usize;
    if int == 0 || (int > 1 && window[sign] == b'0') {
        return None;
    }
    let mut end = sign + int;
    if end >= 31 {
        return None;
    }
    if window[end] == b'.' {
        let fraction = (!(digits >> (end + 1))).trailing_zeros() as usize;
        if fraction == 0 {
            return None;
        }
        end += 1 + fraction;
        if end >= 32 {
            return None;
        }
    }
    if matches!(window[end], b'e' | b'E') {
        return None;
    }
    Some(i + end)
}

/// The index after the string literal at `b[i]`, if its escapes are ones JSON allows (a `\u`
/// needs four hex digits; whether they decode is not checked, as serde does not when it
/// skips a string) and it holds no control character.
pub(in crate::source) fn string(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        let at = j + string_stop(b.get(j..)?)?;
        match b[at] {
            b'"' => return Some(at + 1),
            b'\\' => match b.get(at + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j = at + 2,
                b'u' if b.get(at + 2..at + 6)?.iter().all(u8::is_ascii_hexdigit) => j = at + 6,
                _ => return None,
            },
            _ => return None,
        }
    }
}

/// The index after the JSON number at `b[i]`: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
pub(in crate::source) fn number(b: &[u8], i: usize) -> Option<usize> {
    let digits = |from: usize| b.get(from..).map_or(0, digit_run);
    let mut i = i + usize::from(b.get(i) == Some(&b'-'));
    match b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i += digits(i),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        let n = digits(i + 1);
        if n == 0 {
            return None;
        }
        i += 1 + n;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let n = digits(i);
        if n == 0 {
            return None;
        }
        i += n;
    }
    Some(i)
}

/// How many ASCII digits `b` starts with, a word at a time: the route points of a
/// `driver_picked_up` body are ~1.6 KB of 15-digit numbers, checked digit by digit before.
fn digit_run(b: &[u8]) -> usize {
    first_stop(
        b,
        block::non_digits,
        // A byte below '0' borrows (high bit set by the subtraction); one above '9' carries
        // into its high bit by the addition, and so does every byte from 0x80 that the
        // subtraction leaves clear.
        |x| x.wrapping_sub(ONES * 0x30) | x.wrapping_add(ONES * 0x46),
        |c| !c.is_ascii_digit(),
    )
    .unwrap_or(b.len())
}

/// `0` or `[1-9][0-9]{0,17}` followed by a byte that cannot continue a JSON number.
pub(in crate::source) fn small_integer(b: &[u8], i: usize) -> Option<(i128, usize)> {
    let digits = b
        .get(i..)?
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if digits == 0 || digits > 18 || (digits > 1 && b[i] == b'0') {
        return None;
    }
    let end = i + digits;
    if matches!(b.get(end), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    let n = b[i..end]
        .iter()
        .fold(0i128, |n, &d| n * 10 + i128::from(d - b'0'));
    Some((n, end))
}

/// The record keys the scanner reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    EventId,
    EventType,
    Ts,
    GkId,
    Location,
    OrderId,
    Sequence,
    Seq,
    Body,
}

impl Key {
    const ALL: [Key; 9] = [
        Key::EventId,
        Key::EventType,
        Key::Ts,
        Key::GkId,
        Key::Location,
        Key::OrderId,
        Key::Sequence,
        Key::Seq,
        Key::Body,
    ];

    fn name(self) -> &'static str {
        match self {
            Key::EventId => "event_id",
            Key::EventType => "event_type",
            Key::Ts => "ts",
            Key::GkId => "gk_id",
            Key::Location => "location",
            Key::OrderId => "order_id",
            Key::Sequence => "sequence",
            Key::Seq => "seq",
            Key::Body => "body",
        }
    }

    fn of(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|key| key.name() == name)
    }
}

/// A record key at `b[i] == '"'` written without escapes, and the index after its closing
/// quote: picked by its first letter and compared whole, which costs less than searching for
/// the quote and then matching the text against every key.
fn known_key(b: &[u8], i: usize) -> Option<(Key, usize)> {
    let rest = b.get(i..)?;
    // Each pattern is a constant, so the comparisons compile to a few word compares instead
    // of a `memcmp` call per key (nine per record, ~1.2% of a replay's instructions).
    let is = |pattern: &[u8]| rest.starts_with(pattern);
    let key = match rest.get(1)? {
        b'e' if is(b"\"event_id\"") => Key::EventId,
        b'e' if is(b"\"event_type\"") => Key::EventType,
        b't' if is(b"\"ts\"") => Key::Ts,
        b'g' if is(b"\"gk_id\"") => Key::GkId,
        b'l' if is(b"\"location\"") => Key::Location,
        b'o' if is(b"\"order_id\"") => Key::OrderId,
        b's' if is(b"\"sequence\"") => Key::Sequence,
        b's' if is(b"\"seq\"") => Key::Seq,
        b'b' if is(b"\"body\"") => Key::Body,
        _ => return None,
    };
    Some((key, i + key.name().len() + 2))
}

/// The record (a JSON object) starting at `text[i]`, and the index after its closing brace,
/// with its body's value in `scratch` (replaced); `None` when it is not in the shape this
/// scanner reads (serde then reads it).
pub(super) fn scan_record<'t>(
    text: &'t str,
    i: usize,
    scratch: &mut String,
) -> Option<(RawRecord<'t>, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut record = RawRecord::default();
    let mut i = skip_ws(b, i + 1);
    loop {
        let (key, after_key) = match known_key(b, i) {
            Some(found) => found,
            None => {
                let (name, end) = plain_string(text, i)?;
                (Key::of(name)?, end)
            }
        };
        i = colon(b, after_key)?;
        let string_slot = match key {
            Key::EventId => Some(&mut record.event_id),
            Key::EventType => Some(&mut record.event_type),
            Key::Ts => Some(&mut record.ts),
            Key::GkId => Some(&mut record.gk_id),
            Key::Location => Some(&mut record.location),
            Key::OrderId => Some(&mut record.order_id),
            Key::Sequence | Key::Seq | Key::Body => None,
        };
        if let Some(slot) = string_slot {
            let (value, end) = plain_string(text, i)?;
            if slot.replace(Field::Str(Cow::Borrowed(value))).is_some() {
                return None;
            }
            i = end;
        } else if key == Key::Body {
            if record.body.is_some() {
                return None;
            }
            scratch.clear();
            let end = unescape_literal(text, i, scratch)?;
            record.body = Some(text.get(i..end)?);
            record.body_unescaped = true;
            i = end;
        } else {
            let slot = if key == Key::Seq {
                &mut record.seq
            } else {
                &mut record.sequence
            };
            let (n, end) = small_integer(b, i)?;
            if slot.replace(Field::Int(n)).is_some() {
                return None;
            }
            i = end;
        }
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Some((record, i + 1)),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_array, decode_array_serde};
    use caspers_dataflows::model::Event;
    use proptest::prelude::*;

    /// Well-formed JSON values a field may hold: the generator's forms and the deviations the
    /// scanner must leave to serde.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => Just(r#""3abddd92679a4d8d9fa7ca74836bcdbc""#.to_owned()),
            2 => Just(r#""order_created""#.to_owned()),
            2 => Just(r#""delivered""#.to_owned()),
            2 => Just(r#""2025-11-28 00:30:31.000000""#.to_owned()),
            2 => Just(r#""sanfrancisco""#.to_owned()),
            3 => Just(r#""{\"items\": [{\"id\": 1, \"category_id\": 2, \"menu_id\": 3, \"brand_id\": 4, \"name\": \"Caff\u00e8\", \"price\": 2.5, \"qty\": 1}]}""#.to_owned()),
            2 => Just(r#""{\"progress_pct\": 28.6}""#.to_owned()),
            1 => Just(r#""{}""#.to_owned()),
            1 => Just(r#""{\"a\": \"\\ud800\"}""#.to_owned()),
            1 => Just(r#""\t{\"a\":\r\n1}\/""#.to_owned()),
            1 => Just(r#"{"inline": [1, 2]}"#.to_owned()),
            1 => Just(r#""a\"b""#.to_owned()),
            1 => Just(r#""\u0041bc""#.to_owned()),
            1 => Just(r#""\ud800""#.to_owned()),
            1 => Just("null".to_owned()),
            1 => Just("true".to_owned()),
            1 => Just("[1, {\"a\": 2}]".to_owned()),
            8 => (0u64..30).prop_map(|n| n.to_string()),
            1 => Just("0".to_owned()),
            1 => Just("-3".to_owned()),
            1 => Just("-0".to_owned()),
            1 => Just("1.5".to_owned()),
            1 => Just("2e3".to_owned()),
            1 => Just("2E3".to_owned()),
            1 => Just("123456789012345678".to_owned()),
            1 => Just("1234567890123456789".to_owned()),
            1 => Just("123456789012345678901234567890".to_owned()),
            1 => Just(r#""12""#.to_owned()),
        ]
    }

    /// Text that is not a JSON value (or not a valid one).
    fn broken_value() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            r#""bad \x escape""#,
            "\"raw \u{1} control\"",
            "\"raw \u{1f} control\"",
            r#""\u12G4""#,
            r#""{\"a\": \"\u12\"}""#,
            "\"unterminated",
            "007",
            "01",
            "1.",
            "",
            "tru",
        ])
        .prop_map(str::to_owned)
    }

    fn key() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "event_id",
            "event_type",
            "ts",
            "gk_id",
            "location",
            "order_id",
            "sequence",
            "seq",
            "seq",
            "body",
            "extra",
            "extra",
            r"b\u006fdy",
        ])
        .prop_map(|k| format!("\"{k}\""))
    }

    fn ws() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["", "", " ", " ", "\n", "\t ", "\r\n", "  ", " \t"])
    }

    /// The fields of a well-formed record of the generator's shape.
    fn good_fields() -> impl Strategy<Value = Vec<(String, String)>> {
        (0u64..5, prop::bool::ANY).prop_flat_map(|(seq, created)| {
            let fields: Vec<(String, String)> = [
                ("event_id", r#""1b66d9046df049758f612a2010e979c8""#.to_owned()),
                ("event_type", if created { r#""order_created""# } else { r#""driver_ping""# }.to_owned()),
                ("ts", r#""2025-11-28 00:30:31.000000""#.to_owned()),
                ("gk_id", r#""4f4e4b487fc04fec96ae62da43fc2c13""#.to_owned()),
                ("location", r#""sanfrancisco""#.to_owned()),
                ("order_id", r#""3abddd92679a4d8d9fa7ca74836bcdbc""#.to_owned()),
                ("sequence", seq.to_string()),
                ("body", if created {
                    r#""{\"items\": [{\"id\": 113, \"category_id\": 40, \"menu_id\": 13, \"brand_id\": 13, \"name\": \"Classic \\\"Buffalo\\\" Wings\", \"price\": 11.95, \"qty\": 2}]}""#
                } else {
                    r#""{\"loc_lat\": 37.77, \"loc_lon\": -122.39}""#
                }.to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (format!("\"{k}\""), v))
            .collect();
            Just(fields).prop_shuffle()
        })
    }

    /// One change to a good record's fields.
    fn mutated_fields() -> impl Strategy<Value = Vec<(String, String)>> {
        (
            good_fields(),
            0usize..8,
            0u8..6,
            key(),
            value(),
            broken_value(),
        )
            .prop_map(|(mut fields, at, kind, key, value, broken)| {
                match kind {
                    0 => fields[at].1 = value,
                    1 => fields.push((key, value)),
                    2 => {
                        fields.remove(at);
                    }
                    3 => fields[at].1 = broken,
                    4 => fields[at].0 = key,
                    _ => {
                        let copy = fields[at].clone();
                        fields.push(copy);
                    }
                }
                fields
            })
    }

    fn render(fields: Vec<(String, String)>, spaces: Vec<(&str, &str)>) -> String {
        let parts: Vec<String> = fields
            .into_iter()
            .zip(spaces.into_iter().cycle())
            .map(|((k, v), (a, b))| format!("{a}{k}{b}:{a}{v}{b}"))
            .collect();
        format!("{{{}}}", parts.join(","))
    }

    /// A record: good, changed in one field, random, or not an object at all.
    fn any_record() -> impl Strategy<Value = String> {
        let spaces = || proptest::collection::vec((ws(), ws()), 1..4);
        prop_oneof![
            3 => (good_fields(), spaces()).prop_map(|(f, s)| render(f, s)),
            6 => (mutated_fields(), spaces()).prop_map(|(f, s)| render(f, s)),
            2 => (proptest::collection::vec((key(), value()), 0..10), spaces())
                .prop_map(|(f, s)| render(f, s)),
            1 => prop::sample::select(vec!["5", "{}", "{\"ts\": \"x\",}", "{\"ts\" \"x\"}", "{,}"])
                .prop_map(str::to_owned),
        ]
    }

    /// What a decode gave: the events and each failure (index, error), or `None` on `Err`.
    type Decoded = Option<(Vec<Event>, Vec<(usize, String)>)>;

    fn decode(text: &str, serde_only: bool) -> Decoded {
        let mut events = Vec::new();
        let failures = if serde_only {
            decode_array_serde(text, &mut events)
        } else {
            decode_array(text, &mut events)
        };
        failures.ok().map(|f| {
            let f = f.into_iter().map(|(i, e)| (i, format!("{e:?}"))).collect();
            (events, f)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]
        /// Arrays of good, odd and broken records, with odd separators and ends now and then:
        /// the same events and failures as serde alone, or an error from both.
        #[test]
        fn decodes_exactly_as_serde(
            records in proptest::collection::vec((any_record(), ws(), ws()), 0..4),
            (open, separator, close) in prop_oneof![
                8 => Just(("[", ",", "]")),
                1 => Just((" [", ", ", "] ")),
                1 => (
                    prop::sample::select(vec!["[", " [", "{", ""]),
                    prop::sample::select(vec![",", "", ",,", ";"]),
                    prop::sample::select(vec!["]", "", "]x", ",]", "]]"]),
                ),
            ],
        ) {
            let inner: Vec<String> = records
                .into_iter()
                .map(|(r, a, b)| format!("{a}{r}{b}"))
                .collect();
            let text = format!("{open}{}{close}", inner.join(separator));
            prop_assert_eq!(decode(&text, false), decode(&text, true), "{}", text);
        }
    }

    #[test]
    fn the_generators_records_take_the_scanner_and_decode_as_serde_does() {
        let text = concat!(
            r#"[{"event_id": "1b66d9046df049758f612a2010e979c8", "event_type": "order_created", "ts": "2025-11-28 00:30:31.000000", "gk_id": "4f4e4b487fc04fec96ae62da43fc2c13", "location": "sanfrancisco", "order_id": "3abddd92679a4d8d9fa7ca74836bcdbc", "sequence": 0, "body": "{\"customer_lat\": 37.79, \"items\": [{\"id\": 113, \"category_id\": 40, \"menu_id\": 13, \"brand_id\": 13, \"name\": \"Classic Buffalo Wings\", \"price\": 11.95, \"qty\": 1}]}"},"#,
            r#" {"event_id": "8af380c5e1564405af2c3d205ca7943d", "event_type": "gk_started", "ts": "2025-11-28 00:32:02.262428", "gk_id": "4f4e4b487fc04fec96ae62da43fc2c13", "location": "sanfrancisco", "order_id": "3abddd92679a4d8d9fa7ca74836bcdbc", "sequence": 1, "body": "{}"}]"#,
        );
        let records = [text.find('{').unwrap(), text.find(" {").unwrap() + 1];
        for start in records {
            assert!(
                super::scan_record(text, start, &mut String::new()).is_some(),
                "declined at {start}"
            );
        }
        let (events, failures) = decode(text, false).unwrap();
        assert_eq!(events.len(), 2);
        assert!(failures.is_empty());
        assert_eq!(decode(text, true), Some((events, failures)));
    }

    /// Well-formed JSON text of nesting up to `depth`, with whitespace here and there.
    fn json(depth: u32) -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            prop::sample::select(vec![
                "0",
                "-0",
                "7",
                "-12",
                "3.25",
                "-0.5e-3",
                "1E+9",
                "2e10",
                "123456789012345678901",
                "true",
                "false",
                "null",
                r#""""#,
                r#""a""#,
                r#""\\\"\/\b\f\n\r\t""#,
                r#""\u00e9\ud83d\udca9""#,
                r#""\ud800""#,
                "\"é ü\"",
            ])
            .prop_map(str::to_owned),
            (-200.0f64..200.0).prop_map(|x| x.to_string()),
        ];
        leaf.prop_recursive(depth, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec((inner.clone(), ws()), 0..6).prop_map(|items| {
                    let parts: Vec<String> = items
                        .into_iter()
                        .map(|(v, w)| format!("{w}{v}{w}"))
                        .collect();
                    format!("[{}]", parts.join(","))
                }),
                proptest::collection::vec(("[a-z\\\\\"]{0,3}", inner, ws()), 0..6).prop_map(
                    |fields| {
                        let parts: Vec<String> = fields
                            .into_iter()
                            .map(|(k, v, w)| {
                                format!("{w}{}{w}:{w}{v}", serde_json::to_string(&k).unwrap())
                            })
                            .collect();
                        format!("{{{}}}", parts.join(","))
                    }
                ),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Well-formed JSON is certainly JSON; and whatever a random edit makes of it, the
        /// quick check never accepts what serde rejects.
        #[test]
        fn certainly_json_is_sound_against_serde(
            text in json(4),
            edits in proptest::collection::vec(
                (0usize..400, prop::sample::select(vec![
                    "", "", "\"", "\\", ",", ":", "{", "}", "[", "]", "-", ".", "e", "0",
                    "01", "\u{1}", "\\u12", "\\x", " ", "tru", "+",
                ])),
                0..3,
            ),
            deep in 0usize..3,
        ) {
            let serde_ok = |t: &str| serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok();
            prop_assert!(serde_ok(&text), "generator wrote bad JSON: {}", text);
            prop_assert!(super::certainly_json(&text), "{}", text);
            let mut edited = text.clone();
            for (at, piece) in edits {
                let mut at = at % (edited.len() + 1);
                while !edited.is_char_boundary(at) {
                    at -= 1;
                }
                if piece.is_empty() && at < edited.len() {
                    let len = edited[at..].chars().next().map_or(0, char::len_utf8);
                    edited.replace_range(at..at + len, "");
                } else {
                    edited.insert_str(at, piece);
                }
            }
            // Nesting past the quick check's limit.
            let depth = [0, 70, 130][deep];
            let edited = format!("{}{edited}{}", "[".repeat(depth), "]".repeat(depth));
            if super::certainly_json(&edited) {
                prop_assert!(serde_ok(&edited), "accepted what serde rejects: {}", edited);
            }
        }
    }

    /// Numbers as a route's points hold them, and the other forms JSON allows.
    fn number_text() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => (-200.0f64..200.0).prop_map(|x| x.to_string()),
            1 => prop::sample::select(vec![
                "0", "-0", "7", "-12", "0.5", "1e5", "-1.5E-3", "2.5e+1",
                "123456789012345678901234567890123", "-1.0000000000000000000000000000001",
                "12345678901234567890123456789.5",
            ])
            .prop_map(str::to_owned),
        ]
    }

    /// An array of numbers and of arrays of numbers, with whitespace here and there.
    fn numeric_array_text() -> impl Strategy<Value = String> {
        let element = prop_oneof![
            number_text(),
            (number_text(), number_text()).prop_map(|(lat, lon)| format!("[{lat}, {lon}]")),
            proptest::collection::vec((number_text(), ws()), 0..4).prop_map(|items| {
                let parts: Vec<String> =
                    items.into_iter().map(|(n, w)| format!("{w}{n}")).collect();
                format!("[{}]", parts.join(","))
            }),
        ];
        proptest::collection::vec((element, ws()), 0..12).prop_map(|items| {
            let parts: Vec<String> = items.into_iter().map(|(e, w)| format!("{e}{w}")).collect();
            format!("[{}]", parts.join(", "))
        })
    }

    /// Where serde's reading of the first JSON value of `text` ends, if it reads one.
    fn serde_end(text: &str) -> Option<usize> {
        let mut stream =
            serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
        match stream.next() {
            Some(Ok(_)) => Some(stream.byte_offset()),
            _ => None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// A route's array is read whole, and ends where serde's reading ends; whatever a
        /// random edit makes of it, the quick read never ends a value where serde does not.
        #[test]
        fn numeric_array_ends_where_serde_does(
            text in numeric_array_text(),
            edits in proptest::collection::vec(
                (0usize..300, prop::sample::select(vec![
                    "", "", "", "-", ".", "e", "E", "0", "01", "00", ",", "[", "]", " ", "+",
                    "x", "\"", "9",
                ])),
                0..3,
            ),
            tail in "[\\]} ]{0,40}",
        ) {
            let whole = format!("{text}{tail}");
            prop_assert_eq!(super::numeric_array(whole.as_bytes(), 0), Some(text.len()), "{}", whole);
            prop_assert_eq!(serde_end(&whole), Some(text.len()), "{}", whole);
            let mut edited = text.clone();
            for (at, piece) in edits {
                let at = at % (edited.len() + 1);
                if piece.is_empty() && at < edited.len() {
                    edited.remove(at);
                } else {
                    edited.insert_str(at, piece);
                }
            }
            let edited = format!("{edited}{tail}");
            if edited.starts_with('[') {
                if let Some(end) = super::numeric_array(edited.as_bytes(), 0) {
                    prop_assert_eq!(serde_end(&edited), Some(end), "{}", edited);
                }
            }
        }
    }

    proptest! {
        /// The one-space shortcuts land where the plain loop over JSON's whitespace lands,
        /// also on bytes around the space (`!`, control bytes, non-ASCII) and at the end.
        #[test]
        fn skip_ws_stops_at_the_first_non_whitespace_byte(
            bytes in proptest::collection::vec(prop::sample::select(vec![
                b' ', b' ', b'\t', b'\n', b'\r', b'!', b'"', 0x1f, 0x0b, 0x0c, 0, 0x80, 0xa0, b'x',
            ]), 0..8),
            start in 0usize..9,
        ) {
            let expected = start + bytes.iter().skip(start)
                .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
                .count();
            prop_assert_eq!(super::skip_ws(&bytes, start), expected);
        }

        /// The block- and word-at-a-time count is the plain byte loop's, wherever the first
        /// non-digit sits relative to the 16-byte blocks and eight-byte words.
        #[test]
        fn digit_run_counts_the_leading_digits(
            run in proptest::collection::vec(b'0'..=b'9', 0..70),
            rest in proptest::collection::vec(prop_oneof![
                6 => b'0'..=b'9',
                1 => any::<u8>(),
                1 => prop::sample::select(vec![b'/', b':', b'.', b'-', b'e', 0x80, 0xb0, 0xb9, 0xba, 0xff, 0]),
            ], 0..40),
        ) {
            let bytes = [run, rest].concat();
            let expected = bytes.iter().take_while(|c| c.is_ascii_digit()).count();
            prop_assert_eq!(super::digit_run(&bytes), expected);
        }

        /// A string literal's value as serde_json decodes it, or `None` exactly where serde
        /// rejects the literal.
        #[test]
        fn unescape_literal_decodes_as_serde(
            pieces in proptest::collection::vec(prop::sample::select(vec![
                "a", "plain text ", "37.79, -122.39", "é", "💩", r#"\""#, r"\\", r"\/", r"\b",
                r"\f", r"\n", r"\r", r"\t", r"\u00e8", r"\u00E8", r"\ud83d\udca9", r"\ud800",
                r"\udca9", r"\ud83d\u0041", r"\u12G4", r"\u+abc", r"\x", "\u{1}", "\u{1f}",
                "\u{7f}", "\"",
            ]), 0..12),
        ) {
            let literal = format!("\"{}\"", pieces.concat());
            let mut out = String::from("kept ");
            // A quote among the pieces ends the literal early: serde then rejects the text.
            let ours = super::unescape_literal(&literal, 0, &mut out)
                .filter(|&end| end == literal.len())
                .map(|end| (end, out));
            let serde = serde_json::from_str::<String>(&literal)
                .ok()
                .map(|value| (literal.len(), format!("kept {value}")));
            prop_assert_eq!(ours, serde, "{}", literal);
        }

        /// The block- and word-at-a-time search finds what a plain byte loop finds, wherever
        /// the stop byte sits relative to the 16-byte blocks and eight-byte words.
        #[test]
        fn string_stop_is_the_first_stop_byte(
            run in proptest::collection::vec(0x20u8..=0xff, 0..70),
            rest in proptest::collection::vec(prop_oneof![
                8 => 0x20u8..=0xff,
                1 => prop::sample::select(vec![b'"', b'\\', 0, 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xa0, 0xff]),
            ], 0..40),
        ) {
            let bytes = [run, rest].concat();
            let expected = bytes.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
            prop_assert_eq!(super::string_stop(&bytes), expected);
        }
    }

    #[test]
    fn certainly_json_rejects_what_serde_rejects() {
        for bad in [
            r#"{"a" 1}"#,
            r#"{"a"x 1}"#,
            r#"{"a":}"#,
            "[1,]",
            "{,}",
            "[01]",
            "[1.]",
            "[.5]",
            "[1e]",
            "[1e+]",
            r#"["\x"]"#,
            r#"["\u12G4"]"#,
            "[\"\u{1}\"]",
            "[tru]",
            "[nul]",
            r#"{"a":1,}"#,
            r#"{"a":1 "b":2}"#,
            "[1 2]",
            "{} {}",
            "\"unterminated",
            "[-]",
            "[--1]",
            "[+1]",
            "{1:2}",
            "[",
            "]",
            "",
            " ",
        ] {
            assert!(
                serde_json::from_str::<serde::de::IgnoredAny>(bad).is_err(),
                "{bad}"
            );
            assert!(!super::certainly_json(bad), "{bad}");
        }
    }
}
