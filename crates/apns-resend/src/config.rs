//! The bounds and policies of a [`SentBuffer`](crate::SentBuffer).

use std::time::Duration;

use apns_proto::Format;

/// Bounds and policies of a [`SentBuffer`](crate::SentBuffer).
///
/// Build it from [`Config::default`] and the chainable setters (or assign the public fields);
/// [`SentBuffer::new`] checks it.
///
/// | setting | default | why |
/// |---|---|---|
/// | [`max_age`](Self::max_age) | 2 s | the gateway answers an invalid notification within about a second (0.1 to 0.8 s observed); twice that leaves room for the socket buffers between our write and the gateway's read |
/// | [`max_in_flight`](Self::max_in_flight) | 20,000 | `max_in_flight / max_age` = 10,000 notifications per second per connection, above what one binary-gateway connection sustains (Apple quoted about 9,000 per second), so the bound protects memory without throttling a healthy connection |
/// | [`capacity`](Self::capacity) | 40,000 | room for a full window plus as much again queued for (re)sending; about 5 MB of bookkeeping plus the payloads |
/// | [`max_retries`](Self::max_retries) | 3 | writes of a notification again after a transient status (1, 255, undocumented codes) naming it, so that a poison notification costs at most 4 writes |
/// | [`max_uncertain_writes`](Self::max_uncertain_writes) | 10 | writes of a notification whose fate was unknown (the connection closed with it in flight and no error response, or an error response named an unknown identifier); several rounds are normal when a gateway drops connections often, so the budget is larger, but still bounded so that no storm can run forever |
/// | [`format`](Self::format) | [`Format::Frame`] | the only format that carries the priority |
///
/// [`SentBuffer::new`]: crate::SentBuffer::new
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// See [`Config::max_age()`].
    pub max_age: Duration,
    /// See [`Config::max_in_flight()`].
    pub max_in_flight: usize,
    /// See [`Config::capacity()`].
    pub capacity: usize,
    /// See [`Config::max_retries()`].
    pub max_retries: u8,
    /// See [`Config::max_uncertain_writes()`].
    pub max_uncertain_writes: u8,
    /// See [`Config::format()`].
    pub format: Format,
}

impl Config {
    /// Default [`max_age`](Self::max_age): 2 seconds.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(2);
    /// Default [`max_in_flight`](Self::max_in_flight): 20,000.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 20_000;
    /// Default [`capacity`](Self::capacity): 40,000.
    pub const DEFAULT_CAPACITY: usize = 40_000;
    /// Default [`max_retries`](Self::max_retries): 3.
    pub const DEFAULT_MAX_RETRIES: u8 = 3;
    /// Default [`max_uncertain_writes`](Self::max_uncertain_writes): 10.
    pub const DEFAULT_MAX_UNCERTAIN_WRITES: u8 = 10;
    /// The largest [`max_in_flight`](Self::max_in_flight) accepted: 2^31. Wire identifiers are
    /// unique among any 2^32 - 1 consecutive writes, so a window this size can never hold the
    /// same identifier twice.
    pub const MAX_IN_FLIGHT_LIMIT: usize = 1 << 31;

    /// How long a written notification stays in the window waiting for an error response.
    /// One that reaches this age with no error is reported
    /// [`PresumedAccepted`](crate::Outcome::PresumedAccepted) and its memory is freed.
    ///
    /// Too short, and an error response that arrives later names a notification already
    /// presumed accepted (reported as [`Event::UnmatchedError`](crate::Event::UnmatchedError)
    /// with `late: true`); too long, and memory and the in-flight window fill up.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The most notifications written on the current connection and not yet settled. When the
    /// window is full, [`SentBuffer::poll_transmit`](crate::SentBuffer::poll_transmit) returns
    /// `None` until the oldest settles or ages out.
    #[must_use]
    pub fn max_in_flight(mut self, max_in_flight: usize) -> Self {
        self.max_in_flight = max_in_flight;
        self
    }

    /// The most notifications held at once: in flight, waiting to be written (again), or
    /// settled with a [`Report`](crate::Report) not yet taken by
    /// [`poll_event`](crate::SentBuffer::poll_event). [`SentBuffer::send`](crate::SentBuffer::send)
    /// refuses more with [`Full`](crate::Full).
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How many times a notification may be written again after an error response named it
    /// with a status that is not permanent (1, 255, undocumented codes). Resends because an
    /// *earlier* notification was rejected (so the gateway provably discarded this one) are
    /// free: each such error settles at least one notification, so they cannot loop.
    #[must_use]
    pub fn max_retries(mut self, max_retries: u8) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// How many times a notification may be written again after its fate was unknown: the
    /// connection closed with it in flight and no error response, or an error response named
    /// an identifier not in flight. Past this, it is
    /// [`Failed`](crate::Outcome::Failed)`(RetriesExhausted { last_status: None })`, and may
    /// have been delivered ([`Report::maybe_delivered`](crate::Report::maybe_delivered)).
    #[must_use]
    pub fn max_uncertain_writes(mut self, max_uncertain_writes: u8) -> Self {
        self.max_uncertain_writes = max_uncertain_writes;
        self
    }

    /// The command notifications are written as. With [`Format::Simple`] the gateway cannot
    /// name a notification, so every error is of unknown fate and
    /// [`SentBuffer::confirm`](crate::SentBuffer::confirm) is unavailable.
    #[must_use]
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_age.is_zero() {
            return Err(ConfigError::ZeroMaxAge);
        }
        if self.max_in_flight == 0 || self.max_in_flight > Self::MAX_IN_FLIGHT_LIMIT {
            return Err(ConfigError::MaxInFlight { max_in_flight: self.max_in_flight });
        }
        if self.capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_age: Self::DEFAULT_MAX_AGE,
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            capacity: Self::DEFAULT_CAPACITY,
            max_retries: Self::DEFAULT_MAX_RETRIES,
            max_uncertain_writes: Self::DEFAULT_MAX_UNCERTAIN_WRITES,
            format: Format::Frame,
        }
    }
}

/// Why a [`Config`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_age` is zero: nothing could wait for an error response.
    #[error("max_age must be longer than zero")]
    ZeroMaxAge,
    /// `max_in_flight` is zero or above [`Config::MAX_IN_FLIGHT_LIMIT`].
    #[error("max_in_flight is {max_in_flight}; it must be between 1 and 2^31")]
    MaxInFlight {
        /// The value given.
        max_in_flight: usize,
    },
    /// `capacity` is zero: nothing could be sent.
    #[error("capacity must be at least 1")]
    ZeroCapacity,
}
