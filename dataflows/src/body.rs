//! The body as the de-duplication keeps it: [`fingerprint`], the MD5 its tie-breaker orders
//! copies by, and `PackedBody`, the body itself about a third of its size, for the one output
//! that carries the winner's body (the Postgres sink's `order_events`).
//!
//! The tie-breaker orders copies with equal `ts` and `event_id` by `md5(body)` rather than by
//! the body ([`crate::bronze`]): the views keep 16 bytes per copy instead of the packed body
//! (~210 bytes an order, 47 MB of a year's 346 MB heap peak), and `md5` is in every engine
//! that checks the lake (DuckDB, Spark, PostgreSQL), so the rule stays reproducible in SQL.
//!
//! `PackedBody` keeps each of the generator's key fragments (`, "category_id": ` and the
//! like) as one byte. Measured on a year of San Francisco's bodies: 0.36 of the bytes, at
//! ~0.2 µs a body; snappy per body kept 0.60, and LZ4 with a dictionary 0.43 at four times
//! the cost.
//!
//! WARNING: three invariants make `PackedBody` behave like the body itself:
//! - packing is a function of the body and unpacking inverts it, so equal bodies have equal
//!   packed bytes and the derived `Eq` and `Hash` agree with the body's;
//! - a body that already holds a byte used as a code is kept as it is, under its own tag, so
//!   unpacking never misreads it;
//! - `Ord` compares the unpacked bytes, as `String` does (packed bytes order differently).

use std::cmp::Ordering;

use md5::{Digest, Md5};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The MD5 of a body's UTF-8 bytes. Compared as bytes it orders like its hex digits, i.e.
/// like `md5(body)` in DuckDB, Spark and PostgreSQL.
pub fn fingerprint(body: &str) -> [u8; 16] {
    Md5::digest(body.as_bytes()).into()
}

/// The fragments a code stands for: code `i + 1` is `FRAGMENTS[i]`. Tried in this order at
/// each byte, so a fragment comes before any other that is its prefix.
const FRAGMENTS: [&[u8]; 16] = [
    b"{\"customer_lat\": ",
    b", \"customer_lon\": ",
    b", \"customer_addr\": \"",
    b"\", \"items\": [{\"id\": ",
    b"\", \"items\": [",
    b", \"category_id\": ",
    b", \"menu_id\": ",
    b", \"brand_id\": ",
    b", \"name\": \"",
    b"\", \"price\": ",
    b", \"qty\": ",
    b"}, {\"id\": ",
    b"{\"id\": ",
    b"}]}",
    b"{\"delivered_lat\": ",
    b", \"delivered_lon\": ",
];

/// Highest code (codes are `1..=LAST_CODE`).
const LAST_CODE: u8 = 16;

/// First byte of the packed form: the rest is the body with fragments replaced by codes.
const TAG_CODED: u8 = 0;
/// First byte of the packed form: the rest is the body as it is (it holds a code byte).
const TAG_RAW: u8 = 1;

/// For each byte, a bit per fragment that starts with it; `CODE` for a code byte.
const CLASS: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < FRAGMENTS.len() {
        table[FRAGMENTS[i][0] as usize] |= 1 << i;
        i += 1;
    }
    let mut code = 1;
    while code <= LAST_CODE {
        table[code as usize] = CODE;
        code += 1;
    }
    table
};

/// [`CLASS`] of a code byte.
const CODE: u32 = 1 << 31;

/// A JSON body, packed (see the module header).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PackedBody(Box<[u8]>);

fn is_code(b: u8) -> bool {
    (1..=LAST_CODE).contains(&b)
}

impl PackedBody {
    /// Packs `body`.
    pub fn pack(body: &str) -> PackedBody {
        let bytes = body.as_bytes();
        let mut out = Vec::with_capacity(bytes.len() / 2 + 8);
        out.push(TAG_CODED);
        let mut i = 0;
        // Runs of bytes that start no fragment (digits, names) are copied whole.
        'runs: while i < bytes.len() {
            let run = bytes[i..]
                .iter()
                .position(|&b| CLASS[usize::from(b)] != 0)
                .unwrap_or(bytes.len() - i);
            out.extend_from_slice(&bytes[i..i + run]);
            i += run;
            let Some(&b) = bytes.get(i) else { break };
            let mut candidates = CLASS[usize::from(b)];
            if candidates == CODE {
                out.clear();
                out.push(TAG_RAW);
                out.extend_from_slice(bytes);
                break;
            }
            while candidates != 0 {
                let k = candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                if bytes[i..].starts_with(FRAGMENTS[k]) {
                    // `k < 16`, so the code fits a byte.
                    out.push(u8::try_from(k + 1).unwrap_or(0));
                    i += FRAGMENTS[k].len();
                    continue 'runs;
                }
            }
            out.push(b);
            i += 1;
        }
        PackedBody(out.into_boxed_slice())
    }

    /// The body's bytes, in order, without building it.
    fn bytes(&self) -> impl Iterator<Item = u8> + '_ {
        let (&tag, rest) = self.0.split_first().unwrap_or((&TAG_RAW, &[]));
        let coded = tag == TAG_CODED;
        rest.iter().flat_map(move |&b| {
            let (fragment, literal): (&[u8], Option<u8>) = if coded && is_code(b) {
                (FRAGMENTS[usize::from(b - 1)], None)
            } else {
                (&[], Some(b))
            };
            fragment.iter().copied().chain(literal)
        })
    }

    /// The body.
    pub fn unpack(&self) -> String {
        // Sized first: collecting the iterator (no size hint) doubled a `Vec` from 8 bytes,
        // up to twice a body's size.
        let mut bytes = Vec::with_capacity(self.bytes().count());
        bytes.extend(self.bytes());
        // Packing kept a `&str`'s bytes and whole ASCII fragments, so this is UTF-8.
        String::from_utf8(bytes).unwrap_or_default()
    }

    /// Bytes held (the packed form).
    pub fn packed_len(&self) -> usize {
        self.0.len()
    }
}

impl Ord for PackedBody {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.0 == other.0 {
            Ordering::Equal
        } else {
            self.bytes().cmp(other.bytes())
        }
    }
}

impl PartialOrd for PackedBody {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for PackedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.unpack(), f)
    }
}

/// Human-readable formats get the body; binary ones (timely's bincode between processes) the
/// packed bytes, which peers running the same binary read back as they are.
impl Serialize for PackedBody {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.unpack())
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

struct PackedVisitor;

impl serde::de::Visitor<'_> for PackedVisitor {
    type Value = PackedBody;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a packed body")
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<PackedBody, E> {
        match v.first() {
            Some(&TAG_CODED | &TAG_RAW) => Ok(PackedBody(v.into())),
            _ => Err(E::invalid_value(serde::de::Unexpected::Bytes(v), &self)),
        }
    }
}

impl<'de> Deserialize<'de> for PackedBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            String::deserialize(deserializer).map(|s| PackedBody::pack(&s))
        } else {
            deserializer.deserialize_bytes(PackedVisitor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = "{\"customer_lat\": 37.79497656916996, \"customer_lon\": -122.45595415632759, \"customer_addr\": \"6382 22nd Ave\", \"items\": [{\"id\": 113, \"category_id\": 40, \"menu_id\": 13, \"brand_id\": 13, \"name\": \"Classic Buffalo Wings\", \"price\": 11.95, \"qty\": 1}, {\"id\": 121, \"category_id\": 43, \"menu_id\": 13, \"brand_id\": 13, \"name\": \"Sweet Tea\", \"price\": 2.75, \"qty\": 1}]}";

    #[test]
    fn packs_the_generators_bodies_to_about_a_third() {
        let packed = PackedBody::pack(SAMPLE);
        assert_eq!(packed.unpack(), SAMPLE);
        assert!(
            packed.packed_len() * 100 < SAMPLE.len() * 45,
            "{}",
            packed.packed_len()
        );
        let delivered =
            "{\"delivered_lat\": 37.80584613438735, \"delivered_lon\": -122.32636561900605}";
        assert_eq!(PackedBody::pack(delivered).unpack(), delivered);
        assert!(PackedBody::pack(delivered).packed_len() < delivered.len() - 30);
    }

    #[test]
    fn a_body_holding_a_code_byte_is_kept_raw() {
        let body = "{\"id\": \"\u{1}\"}";
        let packed = PackedBody::pack(body);
        assert_eq!(packed.0[0], TAG_RAW);
        assert_eq!(packed.unpack(), body);
        assert_ne!(
            packed,
            PackedBody::pack("{\"id\": \"{\"customer_lat\": \"}")
        );
    }

    #[test]
    fn serde_round_trips_in_both_forms() {
        for body in [SAMPLE, "", "{}", "\u{2}\u{10}x"] {
            let packed = PackedBody::pack(body);
            let json = serde_json::to_string(&packed).unwrap();
            assert_eq!(json, serde_json::to_string(body).unwrap());
            assert_eq!(serde_json::from_str::<PackedBody>(&json).unwrap(), packed);
            let bytes = bincode::serialize(&packed).unwrap();
            assert_eq!(bincode::deserialize::<PackedBody>(&bytes).unwrap(), packed);
        }
        assert!(
            bincode::deserialize::<PackedBody>(&bincode::serialize(&[7u8][..]).unwrap()).is_err()
        );
    }

    /// Strings made of fragments, pieces of them, code bytes and other characters, so that
    /// packed forms often order differently from the bodies.
    fn bodies() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            (0..FRAGMENTS.len()).prop_map(|k| String::from_utf8_lossy(FRAGMENTS[k]).into_owned()),
            (0..FRAGMENTS.len(), 1usize..4).prop_map(|(k, n)| {
                String::from_utf8_lossy(&FRAGMENTS[k][..n.min(FRAGMENTS[k].len())]).into_owned()
            }),
            "[ -~]{0,3}",
            "[\u{0}-\u{12}é]",
        ];
        proptest::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        #[test]
        fn behaves_like_the_string(a in bodies(), b in bodies()) {
            let (pa, pb) = (PackedBody::pack(&a), PackedBody::pack(&b));
            prop_assert_eq!(pa.unpack(), a.clone());
            prop_assert_eq!(pb.unpack(), b.clone());
            prop_assert_eq!(pa.cmp(&pb), a.cmp(&b));
            prop_assert_eq!(pa == pb, a == b);
            prop_assert_eq!(pa.cmp(&pa.clone()), Ordering::Equal);
        }
    }
}
