//! A hasher for the folding maps, whose keys are small numbers, 128-bit hashes, or short strings.
//!
//! They are hashed once or more per event. `Xxh3Builder` hashes each through xxh3's streaming
//! state, whose setup costs more than the key; here numbers are mixed by a multiply and strings
//! hashed in one shot. Keys come from the trail, but never pick which number they are interned
//! as, so the weaker mixing of numbers cannot be steered into collisions.

use std::hash::{BuildHasherDefault, Hasher};

#[derive(Debug, Default, Clone, Copy)]
pub struct WordHasher(u64);

/// An odd constant with bits spread over the word (the fractional part of the golden ratio).
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

impl WordHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(26) ^ word).wrapping_mul(SPREAD);
    }
}

impl Hasher for WordHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.mix(xxhash_rust::xxh3::xxh3_64(bytes));
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    #[inline]
    fn write_u128(&mut self, n: u128) {
        self.mix(n as u64 ^ (n >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
}

pub type BuildWordHasher = BuildHasherDefault<WordHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    #[test]
    fn small_tuples_spread_over_the_buckets() {
        let build = BuildWordHasher::default();
        // The low bits pick the bucket: sequential ids must not pile up there.
        let mut low = HashSet::new();
        for a in 0..64u32 {
            for b in 0..64u32 {
                low.insert(build.hash_one((a, b, 0u32, 1u32, 0u32)) & 0xfff);
            }
        }
        assert!(low.len() > 2_500, "{} distinct buckets of 4096", low.len());
    }
}
