//! The delivery machine's configuration.

use std::time::Duration;

use apns_h2::HeaderValue;

/// Exponential backoff with jitter: attempt `n` (from 1) waits a uniformly random time between
/// half and all of `min(max, initial * 2^(n-1))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The largest delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay before attempt `n` (1 = the first retry), with `jitter` in `[0, 1)`.
    pub fn delay(&self, n: u32, jitter: f64) -> Duration {
        let doublings = n.saturating_sub(1).min(30);
        let full = self.initial.saturating_mul(1 << doublings).min(self.max);
        full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// The configuration of one gateway's [`Delivery`](super::Delivery).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeliveryConfig {
    /// `:authority` of every request: `api.push.apple.com`, `api.sandbox.push.apple.com` (a
    /// port suffix only if not 443).
    pub authority: HeaderValue,
    /// Connections kept open (Apple: several for throughput). Default 2.
    pub connections: usize,
    /// Our cap on streams per connection, whatever the server allows. Default 1,000.
    pub max_streams_per_connection: u32,
    /// Notifications held: queued, in flight, and settled with a report not yet polled.
    /// [`send`](super::Delivery::send) refuses more ([`Full`](super::Full)). Default 100,000.
    pub capacity: usize,
    /// Charged retries per notification (connection lost, timeout, 429/500/503, expired
    /// token) before it fails with `RetriesExhausted`. Refused streams are free. Default 3.
    pub max_retries: u32,
    /// From `Open` to `handle_established`: else the attempt is aborted and counted as a
    /// connect failure. Default 10 s.
    pub connect_timeout: Duration,
    /// From handing a request out to its fate: else the stream is cancelled (its fate is then
    /// "maybe processed": sent again, marked possible duplicate). Default 30 s.
    pub response_timeout: Duration,
    /// PING a connection that has been quiet this long (`None`: never). Default 60 s.
    pub ping_interval: Option<Duration>,
    /// Between connection attempts after failures. Default 100 ms to 30 s.
    pub reconnect_backoff: Backoff,
    /// No established connection that takes streams (none, or all at a stream limit of 0) for
    /// this long, with work waiting: what is queued fails with `Unreachable`. Default 5
    /// minutes.
    pub reconnect_budget: Duration,
    /// Before resending after 429/500/503 without `retry-after`. Default 1 s to 60 s.
    pub retry_backoff: Backoff,
    /// The longest `retry-after` honoured (longer ones are cut to this). Default 1 hour.
    pub max_retry_after: Duration,
    /// The seed of every random choice (jitter, generated `apns-id`s): take it from a random
    /// source, so that two processes do not generate the same ids. Deterministic for tests.
    pub seed: u64,
}

impl DeliveryConfig {
    /// The defaults for `authority`, with `seed` (see [`seed`](Self::seed)).
    pub fn new(authority: HeaderValue, seed: u64) -> Self {
        Self {
            authority,
            connections: 2,
            max_streams_per_connection: 1000,
            capacity: 100_000,
            max_retries: 3,
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(30),
            ping_interval: Some(Duration::from_secs(60)),
            reconnect_backoff: Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(30) },
            reconnect_budget: Duration::from_secs(300),
            retry_backoff: Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(60) },
            max_retry_after: Duration::from_secs(3600),
            seed,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.connections == 0 {
            return Err(ConfigError::Connections);
        }
        if self.max_streams_per_connection == 0 {
            return Err(ConfigError::Streams);
        }
        if self.capacity == 0 {
            return Err(ConfigError::Capacity);
        }
        if self.connect_timeout.is_zero() || self.response_timeout.is_zero() {
            return Err(ConfigError::Timeout);
        }
        if self.ping_interval.is_some_and(|interval| interval.is_zero()) {
            return Err(ConfigError::Timeout);
        }
        Ok(())
    }
}

/// A [`DeliveryConfig`] value out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `connections` is 0.
    #[error("at least one connection is needed")]
    Connections,
    /// `max_streams_per_connection` is 0.
    #[error("max_streams_per_connection must be at least 1")]
    Streams,
    /// `capacity` is 0.
    #[error("capacity must be at least 1")]
    Capacity,
    /// A zero `connect_timeout`, `response_timeout` or `ping_interval`.
    #[error("timeouts must be above zero")]
    Timeout,
}
