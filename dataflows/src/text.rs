//! `Text`: an immutable string for ids and names inside the dataflow that clones and compares
//! without touching the heap in the common cases.
//!
//! Arrangements clone their keys and values on every merge, and exchanges and fan-outs clone
//! whole rows, so a `String` there costs an allocation, a copy and a free each time. The
//! generator's ids (`order_id`, `gk_id`, `event_id`) are 32 lowercase hex digits and fit in
//! 16 bytes; location and item names are short. Everything else stays on the heap.
//!
//! WARNING: `Text` must behave exactly like the `String` it replaces, because it takes part in
//! the de-duplication tie-breaker ([`crate::bronze`]). Three invariants make that so:
//! - the representation is canonical (a string has exactly one form: [`Text::from`] puts every
//!   32-digit lowercase hex string in `Hex`, every other string of at most
//!   [`SHORT`] bytes in `Short`, the rest in `Long`), so derived `Hash` agrees with `Eq`;
//! - `Ord` compares the strings' bytes, as `String` does (two `Hex` compare as numbers, which
//!   for fixed-width lowercase hex is the same order);
//! - serde writes and reads the plain string in human-readable formats; binary ones (timely's
//!   bincode between processes) get a tagged byte string, 17 bytes for an id.

use std::cmp::Ordering;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest string kept inline (bytes).
pub const SHORT: usize = 22;

/// A string, stored as 128 bits when it is 32 lowercase hex digits, inline when short.
///
/// The representation is private, so every `Short` holds the bytes of a `&str` (see `From`):
/// [`Text::with_str`] relies on that to skip a UTF-8 check.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Text(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    /// 32 lowercase hex digits, as the number they spell (high, low 64 bits).
    Hex([u64; 2]),
    /// At most [`SHORT`] bytes: the length and the bytes.
    Short(u8, [u8; SHORT]),
    /// Anything else.
    Long(Box<str>),
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Each byte's value as a lowercase hex digit, or 0xFF.
const HEX_VALUE: [u8; 256] = {
    let mut table = [0xFF_u8; 256];
    let mut i = 0;
    while i < 16 {
        table[HEX_DIGITS[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The number 32 lowercase hex digits spell, as (high, low 64 bits); `None` for any other
/// string. Every id of every event comes through here: on x86_64 each half is read as one
/// SSE2 block (digit by digit it was ~1.6% of a replay's instructions).
fn parse_hex(s: &str) -> Option<[u64; 2]> {
    let b: &[u8; 32] = s.as_bytes().try_into().ok()?;
    #[cfg(target_arch = "x86_64")]
    {
        let (high, low) = b.split_at(16);
        Some([sse2::parse_hex16(high)?, sse2::parse_hex16(low)?])
    }
    #[cfg(not(target_arch = "x86_64"))]
    parse_hex_scalar(b)
}

/// [`parse_hex`] a digit at a time: the other targets' reading and the tests' reference.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn parse_hex_scalar(b: &[u8; 32]) -> Option<[u64; 2]> {
    let mut halves = [0u64; 2];
    let mut invalid = 0u8;
    for (half, chunk) in halves.iter_mut().zip(b.chunks_exact(16)) {
        for &c in chunk {
            let digit = HEX_VALUE[usize::from(c)];
            invalid |= digit;
            *half = (*half << 4) | u64::from(digit & 0x0F);
        }
    }
    (invalid & 0xF0 == 0).then_some(halves)
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::*;

    /// The 16 digits of `b` (16 bytes) as a number, or `None` unless every byte is one of
    /// `0-9a-f`.
    #[inline]
    pub(super) fn parse_hex16(b: &[u8]) -> Option<u64> {
        assert_eq!(b.len(), 16);
        // SAFETY: SSE2 is part of every x86_64 target, and the load reads the 16 bytes of `b`
        // (checked above) without an alignment requirement.
        unsafe {
            let c = _mm_loadu_si128(b.as_ptr().cast());
            // Signed compares: bytes from 0x80 up are negative, so in neither range.
            let in_range = |lo: u8, hi: u8| {
                _mm_and_si128(
                    _mm_cmpgt_epi8(c, _mm_set1_epi8((lo - 1) as i8)),
                    _mm_cmplt_epi8(c, _mm_set1_epi8((hi + 1) as i8)),
                )
            };
            let digits = in_range(b'0', b'9');
            let letters = in_range(b'a', b'f');
            if _mm_movemask_epi8(_mm_or_si128(digits, letters)) != 0xFFFF {
                return None;
            }
            // '0'..'9' keep their low nibble; 'a'..'f' have 1..6 there, plus 9 is 10..15.
            let nibbles = _mm_add_epi8(
                _mm_and_si128(c, _mm_set1_epi8(0x0F)),
                _mm_and_si128(letters, _mm_set1_epi8(9)),
            );
            // Each 16-bit lane holds two digits, the first in its low byte: first × 16 + second.
            let pairs = _mm_or_si128(
                _mm_slli_epi16(_mm_and_si128(nibbles, _mm_set1_epi16(0x00FF)), 4),
                _mm_srli_epi16(nibbles, 8),
            );
            let bytes = _mm_packus_epi16(pairs, _mm_setzero_si128());
            // The first digit pair is the lowest byte, and the most significant.
            Some((_mm_cvtsi128_si64(bytes) as u64).swap_bytes())
        }
    }
}

/// The 32 digits, eight at a time: each 32-bit quarter's nibbles are spread one per byte,
/// then turned into ASCII by adding '0', plus 39 more where the nibble is 10 or more (to land
/// on 'a'). Every id written to the lake is rendered here; digit by digit it was ~2% of a
/// replay's instructions.
fn render_hex(halves: [u64; 2], out: &mut [u8; 32]) {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    for (chunk, quarter) in out.chunks_exact_mut(8).zip(
        halves
            .iter()
            .flat_map(|half| [(half >> 32) as u32, *half as u32]),
    ) {
        let mut x = u64::from(quarter);
        x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
        x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
        x = (x | (x << 4)) & (ONES * 0x0F);
        // Byte k now holds nibble k (the lowest first): big-endian puts the highest first.
        // No byte carries into the next: each stays at most 15 + 6, or 15 + 0x30 + 39.
        let letters = ((x + ONES * 6) >> 4) & ONES;
        let ascii = x + ONES * u64::from(b'0') + letters * 39;
        chunk.copy_from_slice(&ascii.to_be_bytes());
    }
}

impl Text {
    /// Calls `f` with the string's bytes (rendered on the stack for `Hex`).
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match &self.0 {
            Repr::Hex(halves) => {
                let mut buf = [0u8; 32];
                render_hex(*halves, &mut buf);
                f(&buf)
            }
            Repr::Short(len, bytes) => f(&bytes[..usize::from(*len)]),
            Repr::Long(s) => f(s.as_bytes()),
        }
    }

    /// The string, as an owned `String`.
    pub fn to_text_string(&self) -> String {
        self.with_bytes(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// Calls `f` with the string.
    pub fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match &self.0 {
            Repr::Long(s) => f(s),
            Repr::Hex(halves) => {
                let mut buf = [0u8; 32];
                render_hex(*halves, &mut buf);
                debug_assert!(buf.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
                // SAFETY: `render_hex` writes only the ASCII bytes `0-9a-f`, so `buf` is
                // UTF-8. Checking it anyway was ~0.8% of a replay: every id the lake writes
                // goes through here.
                f(unsafe { std::str::from_utf8_unchecked(&buf) })
            }
            // SAFETY: a `Short` is only made by `From<&str>` from the bytes of a `&str` (the
            // representation is private; the binary form is read back through `From` after
            // a UTF-8 check), so its bytes are UTF-8. Checking them again was ~0.6% of a
            // replay: every location and item name the lake writes comes through here.
            Repr::Short(len, bytes) => {
                let bytes = &bytes[..usize::from(*len)];
                debug_assert!(std::str::from_utf8(bytes).is_ok());
                f(unsafe { std::str::from_utf8_unchecked(bytes) })
            }
        }
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        if let Some(halves) = parse_hex(s) {
            Text(Repr::Hex(halves))
        } else if s.len() <= SHORT {
            let mut bytes = [0u8; SHORT];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Text(Repr::Short(u8::try_from(s.len()).unwrap_or(0), bytes))
        } else {
            Text(Repr::Long(s.into()))
        }
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        match parse_hex(&s) {
            Some(halves) => Text(Repr::Hex(halves)),
            None if s.len() > SHORT => Text(Repr::Long(s.into_boxed_str())),
            None => Text::from(s.as_str()),
        }
    }
}

impl From<&Text> for String {
    fn from(t: &Text) -> String {
        t.to_text_string()
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            (Repr::Hex(a), Repr::Hex(b)) => a.cmp(b),
            (Repr::Short(la, a), Repr::Short(lb, b)) => {
                a[..usize::from(*la)].cmp(&b[..usize::from(*lb)])
            }
            _ => self.with_bytes(|a| other.with_bytes(|b| a.cmp(b))),
        }
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with_str(|s| std::fmt::Debug::fmt(s, f))
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with_str(|s| f.write_str(s))
    }
}

/// Tag of the binary form's first byte: 16 big-endian bytes of a `Hex` text follow.
const TAG_HEX: u8 = 0;
/// Tag of the binary form's first byte: the string's UTF-8 bytes follow.
const TAG_STR: u8 = 1;

/// Human-readable formats (JSON) get the plain string. Binary ones (bincode, which timely uses
/// between processes) get one byte string: a tag, then 16 bytes for an id (17 bytes instead of
/// 40, and no hex parsing on arrival) or the UTF-8 bytes of any other string.
impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            return self.with_str(|s| serializer.serialize_str(s));
        }
        match &self.0 {
            Repr::Hex([high, low]) => {
                let mut buf = [0u8; 17];
                buf[0] = TAG_HEX;
                buf[1..9].copy_from_slice(&high.to_be_bytes());
                buf[9..].copy_from_slice(&low.to_be_bytes());
                serializer.serialize_bytes(&buf)
            }
            Repr::Short(len, bytes) => {
                let len = usize::from(*len);
                let mut buf = [0u8; SHORT + 1];
                buf[0] = TAG_STR;
                buf[1..=len].copy_from_slice(&bytes[..len]);
                serializer.serialize_bytes(&buf[..=len])
            }
            Repr::Long(s) => {
                let mut buf = Vec::with_capacity(s.len() + 1);
                buf.push(TAG_STR);
                buf.extend_from_slice(s.as_bytes());
                serializer.serialize_bytes(&buf)
            }
        }
    }
}

/// Reads the binary form [`Text`]'s `Serialize` writes.
struct BinaryVisitor;

impl serde::de::Visitor<'_> for BinaryVisitor {
    type Value = Text;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a tagged byte string")
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Text, E> {
        match v.split_first() {
            Some((&TAG_HEX, rest)) if rest.len() == 16 => {
                let mut high = [0u8; 8];
                let mut low = [0u8; 8];
                high.copy_from_slice(&rest[..8]);
                low.copy_from_slice(&rest[8..]);
                Ok(Text(Repr::Hex([
                    u64::from_be_bytes(high),
                    u64::from_be_bytes(low),
                ])))
            }
            // `Text::from` keeps the representation canonical whatever the sender did.
            Some((&TAG_STR, rest)) => std::str::from_utf8(rest)
                .map(Text::from)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Bytes(rest), &self)),
            _ => Err(E::invalid_value(serde::de::Unexpected::Bytes(v), &self)),
        }
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            String::deserialize(deserializer).map(Text::from)
        } else {
            deserializer.deserialize_bytes(BinaryVisitor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: [&str; 12] = [
        "",
        "a",
        "sanfrancisco",
        "Classic Buffalo Wings",
        "Korean Gochujang Wings",
        "Korean Gochujang Wingss",
        "3abddd92679a4d8d9fa7ca74836bcdbc",
        "3abddd92679a4d8d9fa7ca74836bcdbd",
        "3ABDDD92679A4D8D9FA7CA74836BCDBC",
        "3abddd92679a4d8d9fa7ca74836bcdb",
        "3abddd92679a4d8d9fa7ca74836bcdbc0",
        "ffffffffffffffffffffffffffffffff",
    ];

    #[test]
    fn round_trips_and_picks_the_compact_form() {
        for s in SAMPLES {
            let t = Text::from(s);
            assert_eq!(t.to_text_string(), s);
            assert_eq!(Text::from(s.to_string()), t);
            assert_eq!(format!("{t}"), s);
        }
        assert!(matches!(Text::from(SAMPLES[6]).0, Repr::Hex(_)));
        assert!(matches!(Text::from(SAMPLES[8]).0, Repr::Long(_)));
        assert!(matches!(Text::from(SAMPLES[4]).0, Repr::Short(22, _)));
        assert!(matches!(Text::from(SAMPLES[5]).0, Repr::Long(_)));
    }

    #[test]
    fn serde_round_trips_in_both_forms() {
        for s in SAMPLES {
            let t = Text::from(s);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, serde_json::to_string(s).unwrap());
            assert_eq!(serde_json::from_str::<Text>(&json).unwrap(), t);
            let bytes = bincode::serialize(&t).unwrap();
            assert_eq!(bincode::deserialize::<Text>(&bytes).unwrap(), t, "{s:?}");
        }
        // An id is 8 (length) + 1 (tag) + 16 bytes, not 8 + 32.
        assert_eq!(
            bincode::serialize(&Text::from(SAMPLES[6])).unwrap().len(),
            25
        );
        assert!(bincode::deserialize::<Text>(&bincode::serialize(&[7u8][..]).unwrap()).is_err());
    }

    #[test]
    fn orders_and_compares_like_string() {
        for a in SAMPLES {
            for b in SAMPLES {
                let (ta, tb) = (Text::from(a), Text::from(b));
                assert_eq!(ta.cmp(&tb), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(ta == tb, a == b, "{a:?} vs {b:?}");
            }
        }
    }

    proptest::proptest! {
        /// 32-character strings over digits, both cases and neighbours of the hex ranges:
        /// `Hex` exactly when all are lowercase hex digits, and the string always comes back.
        #[test]
        fn hex_form_exactly_for_lowercase_hex(s in "[0-9a-fA-F/:`g@G]{32}") {
            let t = Text::from(s.as_str());
            let lowercase_hex = s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
            proptest::prop_assert_eq!(matches!(t.0, Repr::Hex(_)), lowercase_hex);
            proptest::prop_assert_eq!(t.to_text_string(), s.clone());
            proptest::prop_assert_eq!(Text::from(s), t);
        }

        /// Near-ids (32 lowercase hex digits with up to two bytes replaced by a neighbour of the
        /// hex ranges, an uppercase digit or a non-ASCII character) read as the digit-by-digit
        /// reading does, at every position of either half.
        #[test]
        fn parse_hex_agrees_with_the_scalar_reading(
            high in proptest::prelude::any::<u64>(),
            low in proptest::prelude::any::<u64>(),
            edits in proptest::collection::vec(
                (0usize..32, proptest::sample::select(&["/", ":", "`", "g", "@", "G", "A", "F", "\0", "\u{7f}", "é", "\u{b0}", " "][..])),
                0..3,
            ),
        ) {
            let mut s = format!("{high:016x}{low:016x}");
            for (at, with) in edits {
                let at = (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                let end = (at + 1..=s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(s.len());
                s.replace_range(at..end, with);
            }
            let expected = <&[u8; 32]>::try_from(s.as_bytes()).ok().and_then(super::parse_hex_scalar);
            proptest::prop_assert_eq!(super::parse_hex(&s), expected);
            if s == format!("{high:016x}{low:016x}") {
                proptest::prop_assert_eq!(expected, Some([high, low]));
            }
        }

        /// Any id renders as its 32 lowercase hex digits, which `with_str` relies on to
        /// skip the UTF-8 check.
        #[test]
        fn every_id_renders_as_lowercase_hex(
            high in proptest::prelude::any::<u64>(),
            low in proptest::prelude::any::<u64>(),
        ) {
            let mut buf = [0u8; 32];
            super::render_hex([high, low], &mut buf);
            let expected = format!("{high:016x}{low:016x}");
            proptest::prop_assert_eq!(&buf[..], expected.as_bytes());
            proptest::prop_assert_eq!(Text(Repr::Hex([high, low])).with_str(str::to_owned), expected);
        }
    }
}
