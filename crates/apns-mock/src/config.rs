//! What a mock server does: addresses, TLS material, validation limit, delays, faults, recording.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use apns_proto::{DeviceToken, PayloadLimit, Status};

use crate::certs::TestPki;

/// The configuration of a [`MockServer`](crate::MockServer), built with chained methods.
///
/// ```no_run
/// use std::time::Duration;
/// use apns_mock::{certs::TestPki, MockConfig, MockServer};
/// use apns_proto::{DeviceToken, Status};
///
/// let pki = TestPki::generate()?;
/// let bad = DeviceToken::new([0xee; 32]);
/// let config = MockConfig::from_test_pki(&pki)
///     .error_delay(Duration::ZERO)
///     .reject(bad, Status::INVALID_TOKEN)
///     .record_in_memory(10_000)
///     .seed(7);
/// let server = MockServer::start(config)?;
/// println!("gateway on {}", server.gateway_addr());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MockConfig {
    pub(crate) gateway_addr: SocketAddr,
    pub(crate) feedback_addr: SocketAddr,
    pub(crate) tls: TlsSource,
    pub(crate) payload_limit: PayloadLimit,
    pub(crate) handshake_timeout: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_connections: usize,
    pub(crate) max_handshaking: usize,
    pub(crate) error_delay: DelayRange,
    pub(crate) faults: Faults,
    pub(crate) seed: u64,
    pub(crate) record_limit: usize,
    pub(crate) record_writer: Option<Box<dyn Write + Send>>,
    pub(crate) feedback: Vec<FeedbackEntry>,
    pub(crate) feedback_chunk_max: Option<usize>,
}

/// Where the server's TLS configuration comes from.
#[derive(Clone)]
pub(crate) enum TlsSource {
    Pem { cert_chain: String, key: String, client_ca: String },
    Rustls(Arc<rustls::ServerConfig>),
}

/// A range of durations; each use draws one uniformly, from the server's seeded generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelayRange {
    /// The shortest delay.
    pub min: Duration,
    /// The longest delay (at least `min`).
    pub max: Duration,
}

impl DelayRange {
    /// What Apple's gateway was observed to take between an invalid notification and its error
    /// response: 100 to 800 ms.
    pub const APPLE: Self = Self { min: Duration::from_millis(100), max: Duration::from_millis(800) };

    /// Always the same delay.
    pub const fn fixed(delay: Duration) -> Self {
        Self { min: delay, max: delay }
    }

    /// Between `min` and `max` (swapped if given in the wrong order).
    pub fn between(min: Duration, max: Duration) -> Self {
        if min <= max {
            Self { min, max }
        } else {
            Self { min: max, max: min }
        }
    }
}

impl From<Duration> for DelayRange {
    fn from(delay: Duration) -> Self {
        Self::fixed(delay)
    }
}

/// Injected faults. All are off by default and can be combined; those that draw random numbers
/// are deterministic under [`MockConfig::seed`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Faults {
    /// Tokens answered with the given status (after the usual validation passed).
    pub reject: HashMap<DeviceToken, Status>,
    /// Close the connection silently (no error response) after every N accepted notifications.
    pub drop_every: Option<NonZeroU64>,
    /// Close the connection silently after an accepted notification with this probability.
    pub drop_probability: f64,
    /// After every N accepted notifications on a connection, answer status 10 (shutdown) with the
    /// identifier of the last accepted one, discard the rest and close.
    pub shutdown_every: Option<NonZeroU64>,
    /// Stop reading a connection for a while after every N accepted notifications.
    pub stall: Option<Stall>,
    /// Refuse (accept and immediately close) every connection for this long after start.
    pub refuse_for: Duration,
    /// Read at most this many notifications per second from each gateway connection.
    pub read_rate: Option<std::num::NonZeroU32>,
}

/// The stall fault: the server stops reading so the client meets TCP backpressure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// After how many accepted notifications on a connection (and again after each further N).
    pub every: NonZeroU64,
    /// How long the server reads nothing from that connection.
    pub duration: Duration,
}

/// One tuple the feedback service serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeedbackEntry {
    /// UNIX seconds when the app was found gone.
    pub time: u32,
    /// The token bytes (normally 32; other lengths are served as given, to test clients).
    pub token: Vec<u8>,
}

impl FeedbackEntry {
    /// A tuple for a device token.
    pub fn new(time: u32, token: DeviceToken) -> Self {
        Self { time, token: token.as_bytes().to_vec() }
    }
}

impl MockConfig {
    /// A configuration with the server's certificate chain, its key and the CA that client
    /// certificates must chain to, all as PEM text. Both services listen on `127.0.0.1:0`.
    pub fn new(
        cert_chain_pem: impl Into<String>,
        key_pem: impl Into<String>,
        client_ca_pem: impl Into<String>,
    ) -> Self {
        Self::with_tls(TlsSource::Pem {
            cert_chain: cert_chain_pem.into(),
            key: key_pem.into(),
            client_ca: client_ca_pem.into(),
        })
    }

    /// A configuration using a [`TestPki`]'s server certificate and CA.
    pub fn from_test_pki(pki: &TestPki) -> Self {
        Self::new(&pki.server_cert_pem, &pki.server_key_pem, &pki.ca_cert_pem)
    }

    /// A configuration with a ready rustls server configuration (which decides itself whether
    /// and how client certificates are verified).
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> Self {
        Self::with_tls(TlsSource::Rustls(config))
    }

    fn with_tls(tls: TlsSource) -> Self {
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self {
            gateway_addr: local,
            feedback_addr: local,
            tls,
            payload_limit: PayloadLimit::BINARY,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(300)),
            max_connections: 1024,
            max_handshaking: 128,
            error_delay: DelayRange::APPLE,
            faults: Faults::default(),
            seed: 0,
            record_limit: 0,
            record_writer: None,
            feedback: Vec::new(),
            feedback_chunk_max: None,
        }
    }

    /// Where the gateway listens (port 0: any free port). Default `127.0.0.1:0`.
    pub fn gateway_addr(mut self, addr: SocketAddr) -> Self {
        self.gateway_addr = addr;
        self
    }

    /// Where the feedback service listens (port 0: any free port). Default `127.0.0.1:0`.
    pub fn feedback_addr(mut self, addr: SocketAddr) -> Self {
        self.feedback_addr = addr;
        self
    }

    /// The largest payload accepted. Default [`PayloadLimit::BINARY`] (2048 bytes).
    pub fn payload_limit(mut self, limit: PayloadLimit) -> Self {
        self.payload_limit = limit;
        self
    }

    /// How long a client may take to finish the TLS handshake before it is dropped and counted
    /// in [`MockStats::handshake_failures`](crate::MockStats::handshake_failures) (default 10 s),
    /// so connections that never handshake cannot pile up.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long a gateway connection may send nothing after its handshake before it is closed
    /// and counted in [`MockStats::idle_closed`](crate::MockStats::idle_closed) (default 5
    /// minutes; `None`: never), so that forgotten clients cannot hold descriptors forever.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout.filter(|timeout| !timeout.is_zero());
        self
    }

    /// The most connections open at once, both services together (default 1,024). Beyond it,
    /// new connections are accepted and closed at once, and counted in
    /// [`MockStats::over_capacity`](crate::MockStats::over_capacity); none waits unaccepted.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// The most connections still in their TLS handshake at once (default 128); beyond it, new
    /// connections are closed at once like those beyond [`max_connections`](Self::max_connections).
    pub fn max_handshaking(mut self, max: usize) -> Self {
        self.max_handshaking = max;
        self
    }

    /// Reads at most `per_second` notifications per second from each gateway connection (a
    /// token bucket holding a hundredth of a second's worth, at least one), so that clients meet
    /// a slow-reading gateway and TCP backpressure. `0`: unlimited (the default).
    pub fn read_rate(mut self, per_second: u32) -> Self {
        self.faults.read_rate = std::num::NonZeroU32::new(per_second);
        self
    }

    /// How long the gateway waits, discarding input, between the first invalid notification and
    /// its error response. Default [`DelayRange::APPLE`]; tests usually set `Duration::ZERO`.
    pub fn error_delay(mut self, delay: impl Into<DelayRange>) -> Self {
        self.error_delay = delay.into();
        self
    }

    /// Seeds every random choice (delays, drop probability, feedback chunks). Default 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Replaces all faults.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Answers notifications to `token` with `status` (for example [`Status::INVALID_TOKEN`]).
    pub fn reject(mut self, token: DeviceToken, status: Status) -> Self {
        self.faults.reject.insert(token, status);
        self
    }

    /// Closes each connection silently after every `n` accepted notifications (0: never).
    pub fn drop_every(mut self, n: u64) -> Self {
        self.faults.drop_every = NonZeroU64::new(n);
        self
    }

    /// Closes the connection silently after an accepted notification with probability `p`
    /// (clamped to 0..=1).
    pub fn drop_probability(mut self, p: f64) -> Self {
        self.faults.drop_probability = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        self
    }

    /// Sends a shutdown (status 10) after every `n` accepted notifications on a connection, then
    /// closes (0: never).
    pub fn shutdown_every(mut self, n: u64) -> Self {
        self.faults.shutdown_every = NonZeroU64::new(n);
        self
    }

    /// Stops reading a connection for `duration` after every `n` accepted notifications on it
    /// (0: never).
    pub fn stall_every(mut self, n: u64, duration: Duration) -> Self {
        self.faults.stall = NonZeroU64::new(n).map(|every| Stall { every, duration });
        self
    }

    /// Refuses all connections (both services) for `duration` after start.
    pub fn refuse_connections_for(mut self, duration: Duration) -> Self {
        self.faults.refuse_for = duration;
        self
    }

    /// Keeps up to `limit` [`Record`](crate::Record)s in memory, for
    /// [`MockServer::records`](crate::MockServer::records). Default 0 (off). Notifications past
    /// the limit are still counted, but not kept.
    pub fn record_in_memory(mut self, limit: usize) -> Self {
        self.record_limit = limit;
        self
    }

    /// Writes every notification received as a JSON line to `writer` (buffered by the server,
    /// flushed after each batch of events and on stop).
    pub fn record_jsonl(mut self, writer: impl Write + Send + 'static) -> Self {
        self.record_writer = Some(Box::new(writer));
        self
    }

    /// The tuples the feedback service writes on each connection before closing it.
    pub fn feedback_tuples(mut self, tuples: impl IntoIterator<Item = FeedbackEntry>) -> Self {
        self.feedback = tuples.into_iter().collect();
        self
    }

    /// Writes the feedback stream in chunks of 1 to `max` bytes (drawn from the seeded
    /// generator), each in its own TLS record, to exercise clients' incremental parsing.
    /// `None` (the default) writes it at once.
    pub fn feedback_chunks(mut self, max: Option<usize>) -> Self {
        self.feedback_chunk_max = max.filter(|&max| max > 0);
        self
    }

    /// Whether any notification is recorded (in memory or as JSON lines).
    pub(crate) fn recording(&self) -> bool {
        self.record_limit > 0 || self.record_writer.is_some()
    }
}

impl fmt::Debug for MockConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockConfig")
            .field("gateway_addr", &self.gateway_addr)
            .field("feedback_addr", &self.feedback_addr)
            .field("payload_limit", &self.payload_limit)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_handshaking", &self.max_handshaking)
            .field("error_delay", &self.error_delay)
            .field("faults", &self.faults)
            .field("seed", &self.seed)
            .field("record_limit", &self.record_limit)
            .field("record_jsonl", &self.record_writer.is_some())
            .field("feedback", &self.feedback.len())
            .field("feedback_chunk_max", &self.feedback_chunk_max)
            .finish_non_exhaustive()
    }
}
