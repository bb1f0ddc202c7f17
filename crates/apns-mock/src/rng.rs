//! The mock's random choices: every one comes from a seeded `fastrand` generator, derived from
//! the configured seed and the connection number, so a run is reproducible whatever the order in
//! which connections are served.

use std::time::Duration;

use crate::config::DelayRange;

#[derive(Debug, Clone)]
pub(crate) struct Rng(fastrand::Rng);

impl Rng {
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        // The stream number is hashed (by a generator of its own), not just combined with the
        // seed: generators whose seeds differ by a multiple of their increment replay each
        // other's draws a few steps later, so "random" faults would be the same few draws on
        // every connection.
        let stream_hash = fastrand::Rng::with_seed(stream).u64(..);
        Self(fastrand::Rng::with_seed(seed ^ stream_hash))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.u64(..)
    }

    /// Uniform in `0..=max`.
    pub(crate) fn up_to(&mut self, max: u64) -> u64 {
        self.0.u64(0..=max)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        self.0.f64()
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
