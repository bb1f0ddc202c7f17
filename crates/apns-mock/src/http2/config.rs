//! What an HTTP/2 mock does: address, TLS material, authentication, tables, limits, faults,
//! recording.

use std::fmt;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use super::auth::{ProviderKeys, TokenRules};
use super::jwt::ProviderPublicKey;
use super::request::{Tables, TokenFate};
use super::Reason;
use crate::certs::{ProviderKey, TestPki};
use crate::config::{DelayRange, Stall};

/// The configuration of an [`Http2Mock`](super::Http2Mock), built with chained methods.
///
/// Certificate auth is on when a client CA is given, token auth when a provider key is; with
/// both, a connection that presents a certificate uses it and the others use tokens.
///
/// ```no_run
/// use std::time::Duration;
/// use apns_mock::certs::{ProviderKey, TestPki};
/// use apns_mock::http2::{Http2Config, Http2Mock, Reason};
///
/// let pki = TestPki::generate()?;
/// let key = ProviderKey::generate()?;
/// let config = Http2Config::from_test_pki(&pki)
///     .provider_key_from(&key)
///     .topic("com.example.mock")
///     .reject("ee".repeat(32), Reason::BAD_DEVICE_TOKEN)
///     .unregistered("dd".repeat(32), 1_700_000_000_000)
///     .goaway_every(1000)
///     .record_in_memory(10_000)
///     .seed(7);
/// let mock = Http2Mock::start(config)?;
/// println!("listening on {}", mock.addr());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Http2Config {
    pub(crate) addr: SocketAddr,
    pub(crate) tls: Http2Tls,
    pub(crate) keys: ProviderKeys,
    pub(crate) token_rules: TokenRules,
    pub(crate) tables: Tables,
    pub(crate) sandbox: bool,
    pub(crate) max_channels: usize,
    pub(crate) max_concurrent_streams: u32,
    pub(crate) max_connections: usize,
    pub(crate) max_handshaking: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) faults: Http2Faults,
    pub(crate) seed: u64,
    pub(crate) record_limit: usize,
    pub(crate) record_writer: Option<Box<dyn Write + Send>>,
    pub(crate) worker_threads: usize,
}

/// Where the server's TLS configuration comes from.
#[derive(Clone)]
pub(crate) enum Http2Tls {
    Pem { cert_chain: String, key: String, client_ca: Option<String> },
    Rustls(Arc<rustls::ServerConfig>),
}

/// Injected faults. All are off by default and combine; every random choice is drawn from a
/// generator seeded with [`Http2Config::seed`], the connection number and the stream id, so a
/// run is reproducible whatever the scheduling. "Every N" counts the requests of a connection.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Http2Faults {
    /// After the Nth request of a connection is answered, GOAWAY (NO_ERROR): streams already
    /// received are still answered, later ones are refused by the protocol.
    pub goaway_every: Option<NonZeroU64>,
    /// At the Nth request of a connection, close the TCP connection without GOAWAY and without
    /// answering the streams still open.
    pub drop_every: Option<NonZeroU64>,
    /// At each request, close the TCP connection as `drop_every` does with this probability
    /// (unlike `drop_every`, also on connections that a shorter `goaway_every` ends first).
    pub drop_probability: Option<f64>,
    /// Answer every Nth request of a connection with RST_STREAM(REFUSED_STREAM).
    pub refuse_stream_every: Option<NonZeroU64>,
    /// Answer every Nth request of a connection with this reason (e.g. 429 TooManyRequests,
    /// 500 InternalServerError, 503 ServiceUnavailable).
    pub error_every: Option<(NonZeroU64, Reason)>,
    /// Answer a request with this reason with this probability.
    pub error_probability: Option<(f64, Reason)>,
    /// How long each response waits (drawn uniformly per request).
    pub latency: Option<DelayRange>,
    /// Stop reading the connection's socket for a while after every N requests (slow reading:
    /// the client meets TCP backpressure).
    pub stall: Option<Stall>,
    /// Lower `SETTINGS_MAX_CONCURRENT_STREAMS` on a live connection, then raise it back.
    pub stream_limit: Option<StreamLimitDip>,
}

/// The stream-limit fault ([`Http2Config::stream_limit_every`]): at every `every`th request of
/// a connection, a SETTINGS frame lowers `SETTINGS_MAX_CONCURRENT_STREAMS` to `limit`; `requests`
/// requests later another restores the configured
/// [`max_concurrent_streams`](Http2Config::max_concurrent_streams). Requests opened beyond an
/// acknowledged limit are counted ([`Http2Stats::stream_limit_violations`](super::Http2Stats)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimitDip {
    /// Every how many requests of a connection the limit drops.
    pub every: NonZeroU64,
    /// The lowered limit.
    pub limit: u32,
    /// For how many requests of the connection it stays lowered.
    pub requests: u64,
}

impl Http2Config {
    /// A configuration with the server's certificate chain and key (PEM). Without
    /// [`client_ca`](Self::client_ca) nor a provider key nothing could authenticate, so add one.
    pub fn new(cert_chain_pem: impl Into<String>, key_pem: impl Into<String>) -> Self {
        Self::with_tls(Http2Tls::Pem {
            cert_chain: cert_chain_pem.into(),
            key: key_pem.into(),
            client_ca: None,
        })
    }

    /// The [`TestPki`]'s server certificate, with certificate auth by its CA.
    pub fn from_test_pki(pki: &TestPki) -> Self {
        Self::new(&pki.server_cert_pem, &pki.server_key_pem).client_ca(&pki.ca_cert_pem)
    }

    /// A ready rustls configuration (which decides about client certificates; its ALPN list
    /// is replaced by `h2`).
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> Self {
        Self::with_tls(Http2Tls::Rustls(config))
    }

    fn with_tls(tls: Http2Tls) -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tls,
            keys: ProviderKeys::default(),
            token_rules: TokenRules {
                max_age: Duration::from_secs(3600),
                min_refresh: Duration::from_secs(20 * 60),
                max_skew: Duration::from_secs(60),
            },
            tables: Tables::default(),
            sandbox: false,
            max_channels: super::MAX_CHANNELS,
            max_concurrent_streams: 1000,
            max_connections: 1024,
            max_handshaking: 64,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(3600)),
            faults: Http2Faults::default(),
            seed: 0,
            record_limit: 0,
            record_writer: None,
            worker_threads: 2,
        }
    }

    /// Where to listen (port 0: any free port). Default `127.0.0.1:0`.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Turns certificate auth on: client certificates must chain to this CA (PEM). Only with
    /// [`new`](Self::new) or [`from_test_pki`](Self::from_test_pki).
    pub fn client_ca(mut self, ca_pem: impl Into<String>) -> Self {
        if let Http2Tls::Pem { client_ca, .. } = &mut self.tls {
            *client_ca = Some(ca_pem.into());
        }
        self
    }

    /// Turns token auth on (or adds a key): tokens with this key id must be issued by `team_id`
    /// and signed by the key.
    pub fn provider_key(
        mut self,
        key_id: impl Into<String>,
        team_id: impl Into<String>,
        key: ProviderPublicKey,
    ) -> Self {
        self.keys.0.insert(key_id.into(), (team_id.into(), key));
        self
    }

    /// [`provider_key`](Self::provider_key) for a generated [`ProviderKey`].
    pub fn provider_key_from(self, key: &ProviderKey) -> Self {
        self.provider_key(&key.key_id, &key.team_id, key.public_key())
    }

    /// An app's bundle id the credentials may push to (repeatable). With none, any topic is
    /// allowed for tokens, and a certificate allows the bundle id it names.
    pub fn topic(mut self, bundle_id: impl Into<String>) -> Self {
        self.tables.topics.push(bundle_id.into());
        self
    }

    /// Answers notifications to `token` (hex) with `reason` (and its status).
    pub fn reject(mut self, token: impl AsRef<str>, reason: Reason) -> Self {
        self.tables.tokens.insert(token.as_ref().to_ascii_lowercase(), TokenFate::Reject(reason));
        self
    }

    /// Answers notifications to `token` with 410 `Unregistered` and this `timestamp` (ms).
    pub fn unregistered(mut self, token: impl AsRef<str>, timestamp_ms: u64) -> Self {
        self.tables
            .tokens
            .insert(token.as_ref().to_ascii_lowercase(), TokenFate::Gone(Reason::UNREGISTERED, timestamp_ms));
        self
    }

    /// Answers notifications to `token` with 410 `ExpiredToken` and this `timestamp` (ms).
    pub fn expired_token(mut self, token: impl AsRef<str>, timestamp_ms: u64) -> Self {
        self.tables.tokens.insert(
            token.as_ref().to_ascii_lowercase(),
            TokenFate::Gone(Reason::EXPIRED_TOKEN, timestamp_ms),
        );
        self
    }

    /// Registers `token` for one bundle id: other topics get `DeviceTokenNotForTopic`.
    pub fn token_topic(mut self, token: impl AsRef<str>, bundle_id: impl Into<String>) -> Self {
        self.tables.token_topics.insert(token.as_ref().to_ascii_lowercase(), bundle_id.into());
        self
    }

    /// Behave as the sandbox (development) environment: successful responses carry
    /// `apns-unique-id`. Default off (production).
    pub fn sandbox(mut self, sandbox: bool) -> Self {
        self.sandbox = sandbox;
        self
    }

    /// The most broadcast channels one app may have (default [`MAX_CHANNELS`](super::MAX_CHANNELS),
    /// 10,000 as Apple); creating more answers `CannotCreateChannelConfig`.
    pub fn max_channels(mut self, channels: usize) -> Self {
        self.max_channels = channels;
        self
    }

    /// Tokens older than this get `ExpiredProviderToken`. Default one hour, as Apple.
    pub fn token_max_age(mut self, age: Duration) -> Self {
        self.token_rules.max_age = age;
        self
    }

    /// A connection changing its token sooner than this after the last change gets 429
    /// `TooManyProviderTokenUpdates`. Default 20 minutes, as Apple; tests set less.
    pub fn token_min_refresh(mut self, interval: Duration) -> Self {
        self.token_rules.min_refresh = interval;
        self
    }

    /// `SETTINGS_MAX_CONCURRENT_STREAMS` advertised (default 1,000). It is not lowered to 1
    /// before the first valid token as Apple does (h2 cannot change it on a live connection; the
    /// [`stream_limit_every`](Self::stream_limit_every) fault works around that).
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.max_concurrent_streams = streams;
        self
    }

    /// The most connections open at once (default 1,024); more are closed at accept.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// The most connections in their TLS or HTTP/2 handshake at once (default 64); more are
    /// closed at accept.
    pub fn max_handshaking(mut self, connections: usize) -> Self {
        self.max_handshaking = connections.max(1);
        self
    }

    /// How long the TLS and HTTP/2 handshakes may take together (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// A connection with no request for this long gets GOAWAY and is closed (default one hour;
    /// `None`: never).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Replaces all faults.
    pub fn faults(mut self, faults: Http2Faults) -> Self {
        self.faults = faults;
        self
    }

    /// GOAWAY after every `n` requests of a connection (0: never).
    pub fn goaway_every(mut self, n: u64) -> Self {
        self.faults.goaway_every = NonZeroU64::new(n);
        self
    }

    /// Drops the connection (no GOAWAY, streams open) at every `n`th request (0: never).
    pub fn drop_every(mut self, n: u64) -> Self {
        self.faults.drop_every = NonZeroU64::new(n);
        self
    }

    /// Drops the connection (no GOAWAY, streams open) at a request with probability `p`
    /// (clamped to 0..=1).
    pub fn drop_probability(mut self, p: f64) -> Self {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        self.faults.drop_probability = Some(p).filter(|p| *p > 0.0);
        self
    }

    /// RST_STREAM(REFUSED_STREAM) for every `n`th request of a connection (0: never).
    pub fn refuse_stream_every(mut self, n: u64) -> Self {
        self.faults.refuse_stream_every = NonZeroU64::new(n);
        self
    }

    /// Answers every `n`th request of a connection with `reason` (0: never).
    pub fn error_every(mut self, n: u64, reason: Reason) -> Self {
        self.faults.error_every = NonZeroU64::new(n).map(|n| (n, reason));
        self
    }

    /// Answers a request with `reason` with probability `p` (clamped to 0..=1).
    pub fn error_probability(mut self, p: f64, reason: Reason) -> Self {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        self.faults.error_probability = Some((p, reason)).filter(|(p, _)| *p > 0.0);
        self
    }

    /// Delays each response by a duration drawn from `latency`.
    pub fn latency(mut self, latency: impl Into<DelayRange>) -> Self {
        self.faults.latency = Some(latency.into()).filter(|range| !range.max.is_zero());
        self
    }

    /// Stops reading a connection for `duration` after every `n` requests on it (0: never).
    pub fn stall_every(mut self, n: u64, duration: Duration) -> Self {
        self.faults.stall = NonZeroU64::new(n).map(|every| Stall { every, duration });
        self
    }

    /// Lowers the stream limit to `limit` at every `n`th request of a connection, for the
    /// `requests` requests after it (0: never); see [`StreamLimitDip`]. h2 cannot change its
    /// settings on a live connection, so the mock writes the SETTINGS frame itself between two of
    /// h2's frames and takes the client's ACK of it out of what h2 reads.
    pub fn stream_limit_every(mut self, n: u64, limit: u32, requests: u64) -> Self {
        self.faults.stream_limit = NonZeroU64::new(n).map(|every| StreamLimitDip { every, limit, requests });
        self
    }

    /// Seeds every random choice (latencies, error probability, generated `apns-id`s).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Keeps up to `limit` records in memory (default 0: off). Requests past the limit are
    /// counted in `records_dropped`, not kept.
    pub fn record_in_memory(mut self, limit: usize) -> Self {
        self.record_limit = limit;
        self
    }

    /// Writes every request as a JSON line to `writer` (buffered; flushed at least every
    /// 100 ms and on stop).
    pub fn record_jsonl(mut self, writer: impl Write + Send + 'static) -> Self {
        self.record_writer = Some(Box::new(writer));
        self
    }

    /// The tokio worker threads of the mock's runtime (default 2).
    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = threads.max(1);
        self
    }
}

impl fmt::Debug for Http2Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http2Config")
            .field("addr", &self.addr)
            .field("provider_keys", &self.keys.0.keys().collect::<Vec<_>>())
            .field("topics", &self.tables.topics)
            .field("sandbox", &self.sandbox)
            .field("max_concurrent_streams", &self.max_concurrent_streams)
            .field("faults", &self.faults)
            .field("seed", &self.seed)
            .field("record_limit", &self.record_limit)
            .field("record_jsonl", &self.record_writer.is_some())
            .finish_non_exhaustive()
    }
}
