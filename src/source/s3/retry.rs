//! How long to wait before fetching an object again whose body was cut short: exponential
//! backoff with full jitter, as AWS's SDKs do for their own retries ("Exponential Backoff And
//! Jitter", AWS Architecture Blog), so that many requests cut at once do not come back at once.

use std::time::Duration;

/// The first wait's ceiling; it doubles with each attempt, up to [`MAX`].
const BASE: Duration = Duration::from_millis(200);
const MAX: Duration = Duration::from_secs(10);

/// A random wait in [0, min(MAX, BASE · 2^(attempt-1))] after the `attempt`-th failure (from 1).
pub(super) fn backoff(attempt: u32) -> Duration {
    let ceiling = BASE
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX);
    ceiling.mul_f64(jitter())
}

/// A number in [0, 1): the clock's nanoseconds mixed by a multiply-xorshift, which is all the
/// randomness a spread of retries needs (two waits computed at once still differ by thread).
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let thread = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::thread::current().id().hash(&mut h);
        h.finish()
    };
    let mut x = (nanos ^ thread).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_with_attempts_and_stay_under_the_ceiling() {
        for attempt in 1..=20 {
            let ceiling = BASE.saturating_mul(1 << (attempt - 1).min(16)).min(MAX);
            for _ in 0..50 {
                assert!(backoff(attempt) <= ceiling, "attempt {attempt}");
            }
        }
        // Jittered: a hundred waits are not all the same.
        let waits: std::collections::HashSet<Duration> = (0..100).map(|_| backoff(5)).collect();
        assert!(waits.len() > 1);
    }
}
