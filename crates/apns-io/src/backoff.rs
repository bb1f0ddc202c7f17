//! Exponential backoff with jitter for repeated connect failures, driven by a small seeded PRNG.

use std::time::Duration;

/// How long to wait before reconnecting after consecutive connect failures: `initial` after the
/// first, doubling after each further one, never above `max`, each delay drawn uniformly from
/// its upper half ("equal jitter") so that many clients do not reconnect in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure (before jitter).
    pub initial: Duration,
    /// The cap.
    pub max: Duration,
}

impl Default for Backoff {
    /// 100 ms, doubling up to 30 s.
    fn default() -> Self {
        Self { initial: Duration::from_millis(100), max: Duration::from_secs(30) }
    }
}

impl Backoff {
    /// The delay before attempt `failures + 1`, after `failures` consecutive failures (at least
    /// 1). `random` is a uniform 64-bit value.
    pub fn delay(&self, failures: u32, random: u64) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let exponent = (failures - 1).min(30);
        let base = self.initial.saturating_mul(1u32 << exponent).min(self.max);
        let half = base / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if nanos == 0 { 0 } else { random % (nanos + 1) };
        half + Duration::from_nanos(jitter)
    }
}

/// SplitMix64: a tiny, seedable generator, good enough for jitter.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_up_to_the_cap() {
        let backoff = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(1) };
        let mut rng = Rng::new(7);
        assert_eq!(backoff.delay(0, 0), Duration::ZERO);
        for failures in 1..20 {
            let base = Duration::from_millis(100 * (1u64 << (failures - 1).min(10))).min(backoff.max);
            for _ in 0..100 {
                let delay = backoff.delay(failures, rng.next_u64());
                assert!(delay >= base / 2 && delay <= base, "{failures}: {delay:?}");
            }
        }
    }

    #[test]
    fn rng_is_deterministic() {
        let (mut a, mut b) = (Rng::new(1), Rng::new(1));
        assert!((0..10).all(|_| a.next_u64() == b.next_u64()));
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
