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
/// | [`settlement`](Self::settlement) | [`Settlement::Prove`] | nothing is reported accepted that the gateway did not prove it processed; presuming from silence fails against a gateway that reads slowly (issue 11) |
/// | [`probe_every`](Self::probe_every) | 20,000 | one probe (and one reconnection) per window; at 20,000 notifications a TLS handshake costs well under 1 % of the time |
/// | [`probe_bytes`](Self::probe_bytes) | 4 MiB | a window of large payloads is probed sooner, so the proof never waits behind more bytes than socket buffers commonly hold |
/// | [`probe_after`](Self::probe_after) | 2 s | a slow trickle is proved within seconds, not when a window fills |
/// | [`proof_timeout`](Self::proof_timeout) | 30 s | a probe behind a full window (20,000 notifications) still gets through a gateway reading about 700 per second; past that, the gateway is not reading and what the probe covered is [`Unconfirmed`](crate::Outcome::Unconfirmed) |
/// | [`max_age`](Self::max_age) | 2 s | under [`Settlement::Presume`] only: the gateway answers an invalid notification within about a second (0.1 to 0.8 s observed); twice that leaves room for the socket buffers between our write and the gateway's read |
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
    /// See [`Config::settlement()`].
    pub settlement: Settlement,
    /// See [`Config::probe_every()`].
    pub probe_every: usize,
    /// See [`Config::probe_bytes()`].
    pub probe_bytes: usize,
    /// See [`Config::probe_after()`].
    pub probe_after: Duration,
    /// See [`Config::proof_timeout()`].
    pub proof_timeout: Duration,
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

/// How a written notification comes to be reported accepted ([`Config::settlement`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Settlement {
    /// Proof instead of presumption (the default): the buffer writes a confirmation probe (a
    /// notification the gateway must reject, answered in order) behind every window of
    /// [`probe_every`](Config::probe_every) notifications or [`probe_bytes`](Config::probe_bytes)
    /// bytes, [`probe_after`](Config::probe_after) after the first unprobed write, and for every
    /// [`SentBuffer::confirm`](crate::SentBuffer::confirm). Its answer proves everything before
    /// it [`Accepted`](crate::Outcome::Accepted), at the price of one reconnection per window.
    /// Nothing is presumed: a probe unanswered within [`proof_timeout`](Config::proof_timeout)
    /// leaves what it covered [`Unconfirmed`](crate::Outcome::Unconfirmed). With
    /// [`Format::Simple`], which cannot be probed, notifications are `Unconfirmed` after
    /// `max_age`.
    #[default]
    Prove,
    /// The behaviour before issue 11, as an opt-in: a notification with no error response
    /// `max_age` after it was written is [`PresumedAccepted`](crate::Outcome::PresumedAccepted);
    /// probes are written only for [`SentBuffer::confirm`](crate::SentBuffer::confirm). Cheaper
    /// (no reconnection per window), but wrong against a gateway that reads slower than the
    /// client writes: the age counts from the write, not from the gateway's read.
    Presume,
}

impl Config {
    /// Default [`probe_every`](Self::probe_every): 20,000.
    pub const DEFAULT_PROBE_EVERY: usize = 20_000;
    /// Default [`probe_bytes`](Self::probe_bytes): 4 MiB.
    pub const DEFAULT_PROBE_BYTES: usize = 4 << 20;
    /// Default [`probe_after`](Self::probe_after): 2 seconds.
    pub const DEFAULT_PROBE_AFTER: Duration = Duration::from_secs(2);
    /// Default [`proof_timeout`](Self::proof_timeout): 30 seconds.
    pub const DEFAULT_PROOF_TIMEOUT: Duration = Duration::from_secs(30);
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

    /// How written notifications settle: by proof ([`Settlement::Prove`], the default) or by
    /// presumption after `max_age` ([`Settlement::Presume`]).
    #[must_use]
    pub fn settlement(mut self, settlement: Settlement) -> Self {
        self.settlement = settlement;
        self
    }

    /// Under [`Settlement::Prove`], a probe is written behind at most this many notifications.
    #[must_use]
    pub fn probe_every(mut self, notifications: usize) -> Self {
        self.probe_every = notifications;
        self
    }

    /// Under [`Settlement::Prove`], a probe is written once the unprobed notifications on the
    /// connection add up to this many bytes.
    #[must_use]
    pub fn probe_bytes(mut self, bytes: usize) -> Self {
        self.probe_bytes = bytes;
        self
    }

    /// Under [`Settlement::Prove`], a probe is written this long after the first unprobed
    /// write, however few notifications it covers.
    #[must_use]
    pub fn probe_after(mut self, after: Duration) -> Self {
        self.probe_after = after;
        self
    }

    /// How long a probe may go unanswered. Past it, every notification it covered is
    /// [`Unconfirmed`](crate::Outcome::Unconfirmed) (never presumed) and the connection should
    /// be closed ([`SentBuffer::wants_close`](crate::SentBuffer::wants_close)). It counts from
    /// the probe's write, so it must cover the time the gateway takes to read a whole window.
    #[must_use]
    pub fn proof_timeout(mut self, timeout: Duration) -> Self {
        self.proof_timeout = timeout;
        self
    }

    /// Under [`Settlement::Presume`], how long a written notification stays in the window
    /// waiting for an error response. One that reaches this age with no error is reported
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
        if self.probe_every == 0 || self.probe_bytes == 0 {
            return Err(ConfigError::ZeroProbeWindow);
        }
        if self.probe_after.is_zero() || self.proof_timeout.is_zero() {
            return Err(ConfigError::ZeroProbeTime);
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            settlement: Settlement::Prove,
            probe_every: Self::DEFAULT_PROBE_EVERY,
            probe_bytes: Self::DEFAULT_PROBE_BYTES,
            probe_after: Self::DEFAULT_PROBE_AFTER,
            proof_timeout: Self::DEFAULT_PROOF_TIMEOUT,
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
    /// `probe_every` or `probe_bytes` is zero.
    #[error("probe_every and probe_bytes must be at least 1")]
    ZeroProbeWindow,
    /// `probe_after` or `proof_timeout` is zero.
    #[error("probe_after and proof_timeout must be longer than zero")]
    ZeroProbeTime,
}
