//! Exponential backoff with jitter for repeated connect failures.

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
    /// 100 ms, doubling up to 5 s: a restarted gateway is found again within seconds.
    fn default() -> Self {
        Self { initial: Duration::from_millis(100), max: Duration::from_secs(5) }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_up_to_the_cap() {
        let backoff = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(1) };
        let mut rng = fastrand::Rng::with_seed(7);
        assert_eq!(backoff.delay(0, 0), Duration::ZERO);
        for failures in 1..20 {
            let base = Duration::from_millis(100 * (1u64 << (failures - 1).min(10))).min(backoff.max);
            for _ in 0..100 {
                let delay = backoff.delay(failures, rng.u64(..));
                assert!(delay >= base / 2 && delay <= base, "{failures}: {delay:?}");
            }
        }
    }
}
