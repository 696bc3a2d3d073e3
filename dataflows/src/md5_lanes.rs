//! MD5 of many messages at once: [`md5_many`].
//!
//! The de-duplication's tie-breaker needs the MD5 of every `order_created` and `delivered`
//! body ([`crate::body`]), ~3.7% of a replay's instructions one body at a time. MD5 is a
//! chain within a message, but eight messages are eight independent chains: with AVX2 each
//! instruction advances all eight, one message per 32-bit lane, and a lane whose message ends
//! takes the next one. Digests are MD5's, bit for bit (the tests hold them to the `md-5`
//! crate), so the tie-breaker stays `md5(body)` in every SQL engine.

use md5::{Digest, Md5};

/// Fewer messages than this are hashed one by one: the lanes would mostly idle.
const MIN_BATCH: usize = 4;

/// The MD5 of each message, in order.
pub fn md5_many(messages: &[&[u8]]) -> Vec<[u8; 16]> {
    #[cfg(target_arch = "x86_64")]
    if messages.len() >= MIN_BATCH && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { lanes::md5_many_avx2(messages) };
    }
    messages.iter().map(|m| one(m)).collect()
}

fn one(message: &[u8]) -> [u8; 16] {
    Md5::digest(message).into()
}

#[cfg(target_arch = "x86_64")]
mod lanes {
    use std::arch::x86_64::*;

    const LANES: usize = 8;

    /// MD5's additive constants, one per step.
    const K: [u32; 64] = [
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
        0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
        0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
        0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
        0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
        0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
        0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
        0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
        0xeb86d391,
    ];

    /// The message word each step adds: `i`, `5i + 1`, `3i + 5`, `7i` (mod 16) in the four
    /// rounds.
    const WORD: [usize; 64] = {
        let mut words = [0; 64];
        let mut i = 0;
        while i < 64 {
            words[i] = match i / 16 {
                0 => i,
                1 => 5 * i + 1,
                2 => 3 * i + 5,
                _ => 7 * i,
            } % 16;
            i += 1;
        }
        words
    };

    /// MD5's initial chaining values.
    const IV: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

    /// A message in a lane: its whole 64-byte blocks are read in place, the rest with the
    /// padding and the bit length is `tail`.
    struct Lane<'m> {
        message: usize,
        whole: &'m [u8],
        next: usize,
        blocks: usize,
        tail: [u8; 128],
    }

    impl<'m> Lane<'m> {
        fn new(message: usize, bytes: &'m [u8]) -> Self {
            let whole_blocks = bytes.len() / 64;
            let (whole, rest) = bytes.split_at(whole_blocks * 64);
            let mut tail = [0u8; 128];
            tail[..rest.len()].copy_from_slice(rest);
            tail[rest.len()] = 0x80;
            let tail_blocks = if rest.len() < 56 { 1 } else { 2 };
            let bits = (bytes.len() as u64).wrapping_mul(8);
            tail[tail_blocks * 64 - 8..tail_blocks * 64].copy_from_slice(&bits.to_le_bytes());
            Lane {
                message,
                whole,
                next: 0,
                blocks: whole_blocks + tail_blocks,
                tail,
            }
        }

        fn block(&self, i: usize) -> &[u8; 64] {
            let whole_blocks = self.whole.len() / 64;
            let bytes = if i < whole_blocks {
                &self.whole[i * 64..(i + 1) * 64]
            } else {
                &self.tail[(i - whole_blocks) * 64..(i - whole_blocks + 1) * 64]
            };
            bytes.try_into().expect("a block is 64 bytes")
        }
    }

    /// [`super::md5_many`] eight lanes at a time.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn md5_many_avx2(messages: &[&[u8]]) -> Vec<[u8; 16]> {
        let mut out = vec![[0u8; 16]; messages.len()];
        // Word w of lane l's chaining value is `state[w][l]`.
        let mut state = [[0u32; LANES]; 4];
        let mut lanes: [Option<Lane<'_>>; LANES] = Default::default();
        let mut queued = 0;
        for l in 0..LANES {
            fill(messages, &mut queued, &mut lanes, l, &mut state);
        }
        let idle = [0u8; 64];
        loop {
            if lanes.iter().all(Option::is_none) {
                break;
            }
            let blocks: [&[u8; 64]; LANES] = std::array::from_fn(|l| match &lanes[l] {
                Some(lane) => lane.block(lane.next),
                None => &idle,
            });
            compress(&mut state, &blocks);
            for l in 0..LANES {
                let Some(lane) = &mut lanes[l] else { continue };
                lane.next += 1;
                if lane.next == lane.blocks {
                    out[lane.message] = digest(&state, l);
                    fill(messages, &mut queued, &mut lanes, l, &mut state);
                }
            }
        }
        out
    }

    /// Puts the next waiting message, if any, into lane `l`, with MD5's initial chaining value.
    fn fill<'m>(
        messages: &[&'m [u8]],
        queued: &mut usize,
        lanes: &mut [Option<Lane<'m>>; LANES],
        l: usize,
        state: &mut [[u32; LANES]; 4],
    ) {
        lanes[l] = messages.get(*queued).map(|m| Lane::new(*queued, m));
        *queued += usize::from(lanes[l].is_some());
        for (word, iv) in state.iter_mut().zip(IV) {
            word[l] = iv;
        }
    }

    fn digest(state: &[[u32; LANES]; 4], l: usize) -> [u8; 16] {
        words_to_digest([state[0][l], state[1][l], state[2][l], state[3][l]])
    }

    fn words_to_digest(words: [u32; 4]) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (chunk, word) in out.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn add(a: __m256i, b: __m256i) -> __m256i {
        _mm256_add_epi32(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn rotl<const L: i32, const R: i32>(x: __m256i) -> __m256i {
        _mm256_or_si256(_mm256_slli_epi32::<L>(x), _mm256_srli_epi32::<R>(x))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn f(b: __m256i, c: __m256i, d: __m256i) -> __m256i {
        // (b & c) | (!b & d), as d ^ (b & (c ^ d)).
        _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn g(b: __m256i, c: __m256i, d: __m256i) -> __m256i {
        // (b & d) | (c & !d), as c ^ (d & (b ^ c)).
        _mm256_xor_si256(c, _mm256_and_si256(d, _mm256_xor_si256(b, c)))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn h(b: __m256i, c: __m256i, d: __m256i) -> __m256i {
        _mm256_xor_si256(_mm256_xor_si256(b, c), d)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn i(b: __m256i, c: __m256i, d: __m256i) -> __m256i {
        // c ^ (b | !d).
        _mm256_xor_si256(
            c,
            _mm256_or_si256(b, _mm256_xor_si256(d, _mm256_set1_epi32(-1))),
        )
    }

    /// One 64-byte block of each lane into its chaining value.
    #[target_feature(enable = "avx2")]
    fn compress(state: &mut [[u32; LANES]; 4], blocks: &[&[u8; 64]; LANES]) {
        let word = |l: usize, w: usize| {
            i32::from_le_bytes(blocks[l][w * 4..w * 4 + 4].try_into().expect("four bytes"))
        };
        let m: [__m256i; 16] = std::array::from_fn(|w| {
            _mm256_set_epi32(
                word(7, w),
                word(6, w),
                word(5, w),
                word(4, w),
                word(3, w),
                word(2, w),
                word(1, w),
                word(0, w),
            )
        });
        let load = |words: &[u32; LANES]| {
            _mm256_set_epi32(
                words[7] as i32,
                words[6] as i32,
                words[5] as i32,
                words[4] as i32,
                words[3] as i32,
                words[2] as i32,
                words[1] as i32,
                words[0] as i32,
            )
        };
        let (a0, b0, c0, d0) = (
            load(&state[0]),
            load(&state[1]),
            load(&state[2]),
            load(&state[3]),
        );
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);

        // One step: `a = b + ((a + fun(b, c, d) + m[WORD[at]] + K[at]) <<< s)`.
        macro_rules! step {
            ($fun:ident, $a:ident, $b:ident, $c:ident, $d:ident, $at:expr, $s:literal) => {
                let k = _mm256_set1_epi32(K[$at] as i32);
                let t = add(add($a, $fun($b, $c, $d)), add(m[WORD[$at]], k));
                $a = add($b, rotl::<$s, { 32 - $s }>(t));
            };
        }
        // A round's sixteen steps, four at a time with the names rotating, as MD5 writes them.
        macro_rules! round {
            ($fun:ident, $round:literal, $s0:literal, $s1:literal, $s2:literal, $s3:literal) => {
                for quad in 0..4 {
                    let at = 16 * $round + 4 * quad;
                    step!($fun, a, b, c, d, at, $s0);
                    step!($fun, d, a, b, c, at + 1, $s1);
                    step!($fun, c, d, a, b, at + 2, $s2);
                    step!($fun, b, c, d, a, at + 3, $s3);
                }
            };
        }
        round!(f, 0, 7, 12, 17, 22);
        round!(g, 1, 5, 9, 14, 20);
        round!(h, 2, 4, 11, 16, 23);
        round!(i, 3, 6, 10, 15, 21);

        for (words, (v, v0)) in state.iter_mut().zip([(a, a0), (b, b0), (c, c0), (d, d0)]) {
            let mut lanes = [0u32; LANES];
            // SAFETY: `lanes` is 32 writable bytes; the store has no alignment needs.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), add(v, v0)) };
            *words = lanes;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{md5_many, one};

    /// Every length around the block and padding boundaries, in batches whose lanes end
    /// at different times (long and short messages mixed, fewer and more than eight).
    #[test]
    fn equals_md5_at_every_boundary() {
        let lengths: Vec<usize> = (0..200).chain([255, 256, 1000, 1023, 1024, 4095]).collect();
        let messages: Vec<Vec<u8>> = lengths
            .iter()
            .map(|&n| (0..n).map(|i| (i * 31 + n) as u8).collect())
            .collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        for batch in [1, 3, 4, 7, 8, 9, 17, refs.len()] {
            for chunk in refs.chunks(batch) {
                let expected: Vec<[u8; 16]> = chunk.iter().map(|m| one(m)).collect();
                assert_eq!(md5_many(chunk), expected, "batches of {batch}");
            }
        }
    }

    #[test]
    fn known_digests() {
        let hex = |d: [u8; 16]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let words: [&[u8]; 5] = [b"", b"a", b"abc", b"message digest", b"c"];
        let digests: Vec<String> = md5_many(&words).into_iter().map(hex).collect();
        assert_eq!(
            digests,
            [
                "d41d8cd98f00b204e9800998ecf8427e",
                "0cc175b9c0f1b6a831c399e269772661",
                "900150983cd24fb0d6963f7d28e17f72",
                "f96b697d7cb7938d525a2f31aaf161d0",
                "4a8a08f09d37b73795649038408b5f33",
            ]
        );
    }

    proptest! {
        #[test]
        fn equals_md5_one_by_one(
            messages in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..300), 0..40),
        ) {
            let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            let expected: Vec<[u8; 16]> = refs.iter().map(|m| one(m)).collect();
            prop_assert_eq!(md5_many(&refs), expected);
        }
    }
}
