//! Where every random draw comes from. Each stream is a ChaCha8 generator seeded from a hash of
//! `(seed, location, purpose, day, order index)`, so an order's contents depend only on its own
//! coordinates: not on thread count, on which days were generated before it, or on `now`
//! (beyond which orders fall before it). IDs come from the same streams, which is what makes
//! two runs with the same seed and `--now` byte-identical (the original used `uuid4`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Stream purpose: per-location setup (gk_id, brand shuffle, street grid).
pub const SETUP: u64 = 1;
/// Stream purpose: per-day volume noise, Poisson counts and seconds offsets.
pub const DAY: u64 = 2;
/// Stream purpose: one order's basket, customer, timings and ids.
pub const ORDER: u64 = 3;
/// Stream purpose: one order's data-quality (`dq`) draws, apart so enabling `dq` changes
/// nothing else.
pub const DQ: u64 = 4;

/// SplitMix64's finaliser over `a` combined with `b`: a cheap, well-mixed, stable hash step.
pub const fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of a string: stable across Rust versions and platforms, unlike `DefaultHasher`.
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// The stream for a tuple of coordinates.
pub fn stream(parts: &[u64]) -> ChaCha8Rng {
    let key = parts.iter().fold(0x6361_7370_6572_7321, |h, p| mix(h, *p));
    ChaCha8Rng::seed_from_u64(key)
}

/// A random version-4 UUID as 32 lowercase hex digits, the original's `uuid4().hex` shape.
pub fn uuid_hex(rng: &mut ChaCha8Rng) -> String {
    let mut v: u128 = rng.random();
    v = (v & !(0xF << 76)) | (0x4 << 76);
    v = (v & !(0x3 << 62)) | (0x2 << 62);
    format!("{v:032x}")
}

/// A day number (days since 1970-01-01, may be negative) as a stream coordinate.
pub fn day_key(day: i64) -> u64 {
    u64::from_ne_bytes(day.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_look_like_uuid4_hex() {
        let mut rng = stream(&[1, 2, 3]);
        let a = uuid_hex(&mut rng);
        let b = uuid_hex(&mut rng);
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.len(), 32);
            assert!(id
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
            assert_eq!(&id[12..13], "4");
            assert!("89ab".contains(&id[16..17]));
        }
        assert_eq!(
            uuid_hex(&mut stream(&[1, 2, 3])),
            uuid_hex(&mut stream(&[1, 2, 3]))
        );
    }
}
