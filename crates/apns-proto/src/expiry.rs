//! When Apple may stop trying to deliver (command 1 field, frame item 4).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UNIX time in whole seconds after which Apple need not deliver the notification.
///
/// [`Expiry::IMMEDIATE`] (0) tells Apple to try once and not store the notification. PyAPNs'
/// default expiry is also 0.
///
/// Fractional seconds are truncated towards zero, as PyAPNs' `struct.pack("!I", expiry)` of an
/// `int(time.time() + 3600)` does: [`Expiry::from_unix_f64`] maps `1700000000.9` to `1700000000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Expiry(u32);

impl Expiry {
    /// Deliver once if the device is reachable now, and do not store.
    pub const IMMEDIATE: Self = Self(0);

    /// An expiry at `seconds` after the UNIX epoch.
    pub const fn from_unix_seconds(seconds: u32) -> Self {
        Self(seconds)
    }

    /// The seconds after the UNIX epoch, as written on the wire.
    pub const fn unix_seconds(self) -> u32 {
        self.0
    }

    /// Converts a float of UNIX seconds (as Python's `time.time() + 3600`), truncating the
    /// fraction. Fails for NaN, negative values and times past 2106-02-07 (beyond `u32`).
    pub fn from_unix_f64(seconds: f64) -> Result<Self, ExpiryError> {
        if !(0.0..4_294_967_296.0).contains(&seconds) {
            return Err(ExpiryError::OutOfRange { seconds: format!("{seconds}") });
        }
        // In range [0, 2^32): the cast truncates towards zero and cannot saturate.
        Ok(Self(seconds as u32))
    }

    /// The expiry `ttl` after `now` (truncated to whole seconds).
    pub fn after(now: SystemTime, ttl: Duration) -> Result<Self, ExpiryError> {
        let at = now.checked_add(ttl).ok_or(ExpiryError::OutOfRange { seconds: "overflow".to_owned() })?;
        Self::try_from(at)
    }
}

impl TryFrom<SystemTime> for Expiry {
    type Error = ExpiryError;

    fn try_from(time: SystemTime) -> Result<Self, Self::Error> {
        let since_epoch = time.duration_since(UNIX_EPOCH).map_err(|_| ExpiryError::BeforeEpoch)?;
        u32::try_from(since_epoch.as_secs())
            .map(Self)
            .map_err(|_| ExpiryError::OutOfRange { seconds: since_epoch.as_secs().to_string() })
    }
}

impl From<u32> for Expiry {
    fn from(seconds: u32) -> Self {
        Self(seconds)
    }
}

impl From<Expiry> for SystemTime {
    fn from(expiry: Expiry) -> Self {
        UNIX_EPOCH + Duration::from_secs(u64::from(expiry.0))
    }
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A time that the 32-bit expiry field cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpiryError {
    /// Before 1970-01-01.
    #[error("expiry is before the UNIX epoch")]
    BeforeEpoch,
    /// Not a number, negative, or after 2106-02-07 06:28:15 UTC.
    #[error("expiry {seconds} is not a UNIX time in seconds that fits in 32 bits")]
    OutOfRange {
        /// The value as given.
        seconds: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_fractions_like_python_int() {
        assert_eq!(Expiry::from_unix_f64(1_700_000_000.9).unwrap().unix_seconds(), 1_700_000_000);
        assert_eq!(Expiry::from_unix_f64(0.2).unwrap(), Expiry::IMMEDIATE);
        assert_eq!(Expiry::from_unix_f64(4_294_967_295.5).unwrap().unix_seconds(), u32::MAX);
    }

    #[test]
    fn refuses_what_does_not_fit() {
        for bad in [f64::NAN, f64::INFINITY, -1.0, 4_294_967_296.0] {
            assert!(Expiry::from_unix_f64(bad).is_err(), "{bad}");
        }
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(Expiry::try_from(before), Err(ExpiryError::BeforeEpoch));
        let far = UNIX_EPOCH + Duration::from_secs(1 << 33);
        assert!(matches!(Expiry::try_from(far), Err(ExpiryError::OutOfRange { .. })));
    }

    #[test]
    fn system_time_round_trip() {
        let time = UNIX_EPOCH + Duration::from_millis(1_700_000_000_750);
        let expiry = Expiry::try_from(time).unwrap();
        assert_eq!(expiry.unix_seconds(), 1_700_000_000);
        assert_eq!(SystemTime::from(expiry), UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let later = Expiry::after(time, Duration::from_secs(3600)).unwrap();
        assert_eq!(later.unix_seconds(), 1_700_003_600);
    }
}
