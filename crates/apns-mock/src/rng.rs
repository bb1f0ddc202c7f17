//! A small deterministic generator (SplitMix64): every random choice of the mock comes from one,
//! seeded from the configured seed and the connection number, so a run is reproducible whatever
//! the order in which connections are served.

use std::time::Duration;

use crate::config::DelayRange;

#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        // The stream number is hashed, not just multiplied by the increment: with
        // `seed ^ stream * increment`, stream k + 1 (k + 2 for odd seeds) replayed stream k's
        // draws one step later, so "random" faults were the same few draws on every connection.
        let mut rng = Self(seed ^ Self(stream).next_u64());
        rng.next_u64();
        rng
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`.
    pub(crate) fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(bound) => self.next_u64() % bound,
            None => self.next_u64(),
        }
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn delay(&mut self, range: DelayRange) -> Duration {
        let span = range.max.saturating_sub(range.min);
        let nanos = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        range.min + Duration::from_nanos(self.up_to(nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let mut a = Rng::new(7, 1);
        let mut b = Rng::new(7, 1);
        let range = DelayRange::APPLE;
        for _ in 0..1000 {
            let delay = a.delay(range);
            assert_eq!(delay, b.delay(range));
            assert!(delay >= range.min && delay <= range.max);
            let unit = a.unit();
            assert_eq!(unit, b.unit());
            assert!((0.0..1.0).contains(&unit));
        }
        assert_ne!(Rng::new(7, 1).next_u64(), Rng::new(7, 2).next_u64());
        assert_eq!(Rng::new(0, 0).delay(DelayRange::fixed(Duration::ZERO)), Duration::ZERO);
    }

    #[test]
    fn streams_are_not_shifted_copies_of_each_other() {
        for seed in [0, 1, 7] {
            let mut seen = std::collections::HashSet::new();
            for stream in 0..1000 {
                let mut rng = Rng::new(seed, stream);
                for _ in 0..100 {
                    seen.insert(rng.next_u64());
                }
            }
            assert_eq!(seen.len(), 100_000, "seed {seed}: connections draw the same numbers");
        }
    }
}
