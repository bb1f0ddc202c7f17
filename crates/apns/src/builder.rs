//! [`Builder`]: where the HTTP/2 client connects, with which credentials, how it behaves.

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use apns_auth::{KeyId, SigningKey, TeamId, TokenPolicy, TokenSigner, TokenTiming};
use apns_io::http2::{Http2Client, Http2Config};
use apns_io::{Endpoint, StartError};
use apns_proto::http2::BundleId;
use apns_resend::http2::{Auth, Backoff};

use crate::client::{Apns, Listeners, Settings};
use crate::credentials::{certificate_setters, parse_address, rename, Certificates};
use crate::Error;

/// Where a provider-token signing key (`.p8`) comes from: a file, or its PEM text.
///
/// A path converts from `&str`, `String`, `&Path` and `PathBuf`; PEM text from `Vec<u8>` and
/// `&[u8]`. `Debug` never shows the PEM text.
#[derive(Clone)]
#[non_exhaustive]
pub enum KeySource {
    /// A `.p8` file, as downloaded from Apple's developer account.
    File(PathBuf),
    /// The PEM text of a `.p8` file.
    Pem(Vec<u8>),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Pem(_) => f.write_str("Pem(<redacted>)"),
        }
    }
}

impl From<&str> for KeySource {
    fn from(path: &str) -> Self {
        Self::File(path.into())
    }
}

impl From<String> for KeySource {
    fn from(path: String) -> Self {
        Self::File(path.into())
    }
}

impl From<&Path> for KeySource {
    fn from(path: &Path) -> Self {
        Self::File(path.into())
    }
}

impl From<PathBuf> for KeySource {
    fn from(path: PathBuf) -> Self {
        Self::File(path)
    }
}

impl From<Vec<u8>> for KeySource {
    fn from(pem: Vec<u8>) -> Self {
        Self::Pem(pem)
    }
}

impl From<&[u8]> for KeySource {
    fn from(pem: &[u8]) -> Self {
        Self::Pem(pem.to_vec())
    }
}

/// Builds an HTTP/2 [`Apns`] client.
///
/// | setting | default |
/// |---|---|
/// | environment | production (`api.push.apple.com:443`); [`sandbox`](Self::sandbox) for development builds |
/// | credentials | none: give [`token_key`](Self::token_key) or a certificate ([`cert_file`](Self::cert_file), [`p12_file`](Self::p12_file), [`identity`](Self::identity)) |
/// | [`topic`](Self::topic) | none (token auth then needs a topic on every notification) |
/// | [`connections`](Self::connections) | 2 |
/// | [`max_streams_per_connection`](Self::max_streams_per_connection) | 1,000 (fewer if the server says so) |
/// | [`capacity`](Self::capacity) | 100,000 notifications held (queued, in flight, unread reports) |
/// | [`queue_capacity`](Self::queue_capacity) | 10,000 notifications between callers and the loop |
/// | [`outcome_capacity`](Self::outcome_capacity) | 100,000 unread outcomes |
/// | [`send_timeout`](Self::send_timeout) | 30 s of waiting for room in the send queue |
/// | [`connect_timeout`](Self::connect_timeout) | 10 s |
/// | [`response_timeout`](Self::response_timeout) | 30 s, then the stream is cancelled and the notification sent again |
/// | [`ping_interval`](Self::ping_interval) | 60 s of quiet |
/// | [`max_retries`](Self::max_retries) | 3 charged retries per notification |
/// | [`reconnect_budget`](Self::reconnect_budget) | 5 minutes without a usable connection, then what is queued fails |
/// | [`token_refresh`](Self::token_refresh) | 50 minutes of use per provider token |
/// | [`retry_backoff`](Self::retry_backoff) | 1 s doubling to 60 s before resending after 429/500/503 without `retry-after` |
/// | [`reconnect_backoff`](Self::reconnect_backoff) | 100 ms doubling to 30 s between failed connection attempts |
#[derive(Debug)]
#[must_use]
pub struct Builder {
    endpoint: Result<Endpoint, Error>,
    /// The endpoint was given as `HOST:PORT`: the server name applies to it.
    named: bool,
    server_name: Option<String>,
    certs: Certificates,
    token_key: Option<(KeySource, String, String)>,
    topic: Option<String>,
    connections: usize,
    max_streams: u32,
    capacity: usize,
    queue_capacity: usize,
    outcome_capacity: usize,
    send_timeout: Duration,
    connect_timeout: Duration,
    response_timeout: Duration,
    ping_interval: Option<Duration>,
    max_retries: u32,
    reconnect_budget: Duration,
    token_refresh: Duration,
    retry_backoff: (Duration, Duration),
    reconnect_backoff: (Duration, Duration),
    seed: Option<u64>,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            endpoint: Ok(Endpoint::api()),
            named: false,
            server_name: None,
            certs: Certificates::default(),
            token_key: None,
            topic: None,
            connections: 2,
            max_streams: 1000,
            capacity: 100_000,
            queue_capacity: 10_000,
            outcome_capacity: 100_000,
            send_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(30),
            ping_interval: Some(Duration::from_secs(60)),
            max_retries: 3,
            reconnect_budget: Duration::from_secs(300),
            token_refresh: TokenTiming::APPLE.refresh_after,
            retry_backoff: (Duration::from_secs(1), Duration::from_secs(60)),
            reconnect_backoff: (Duration::from_millis(100), Duration::from_secs(30)),
            seed: None,
        }
    }
}

impl Builder {
    /// The defaults (production, no credentials yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Apple's development environment, `api.sandbox.push.apple.com:443` (apps built for
    /// development get sandbox device tokens).
    pub fn sandbox(mut self) -> Self {
        self.endpoint = Ok(Endpoint::api_sandbox());
        self.named = false;
        self
    }

    /// Apple's production environment, `api.push.apple.com:443` (the default).
    pub fn production(mut self) -> Self {
        self.endpoint = Ok(Endpoint::api());
        self.named = false;
        self
    }

    /// Any HTTP/2 gateway, as `HOST:PORT` (a mock, a proxy, or Apple's port 2197). Checked by
    /// [`build`](Self::build).
    pub fn gateway(mut self, address: &str) -> Self {
        self.endpoint = parse_address(address);
        self.named = true;
        self
    }

    /// Any gateway [`Endpoint`], e.g. `Endpoint::at("localhost", addr)`.
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = Ok(endpoint);
        self.named = false;
        self
    }

    /// The name the server certificate must carry, when it differs from the host connected to
    /// (e.g. `localhost` for a mock reached as `127.0.0.1`). Applies to an address given with
    /// [`gateway`](Self::gateway).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Token-based auth: the `.p8` signing key (a path, or its PEM text as bytes, see
    /// [`KeySource`]), its 10-character key id and the 10-character team id, as shown in
    /// Apple's developer account. The client signs ES256 provider tokens with it and renews
    /// them as Apple requires (between 20 and 60 minutes). Checked by [`build`](Self::build):
    /// [`Error::ProviderKey`], [`Error::Id`].
    pub fn token_key(
        mut self,
        key: impl Into<KeySource>,
        key_id: impl Into<String>,
        team_id: impl Into<String>,
    ) -> Self {
        self.token_key = Some((key.into(), key_id.into(), team_id.into()));
        self
    }

    certificate_setters!();

    /// The app's bundle id, the default topic: a notification without a topic is sent to it,
    /// with its push type's suffix (`com.example.app.push-type.liveactivity` for a Live
    /// Activity, `.voip` for VoIP...). Broadcasts go to this app's channels. Checked by
    /// [`build`](Self::build).
    pub fn topic(mut self, bundle_id: impl Into<String>) -> Self {
        self.topic = Some(bundle_id.into());
        self
    }

    /// How many HTTP/2 connections share the load (Apple advises several for throughput).
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections;
        self
    }

    /// Our cap on concurrent streams per connection, whatever the server allows.
    pub fn max_streams_per_connection(mut self, streams: u32) -> Self {
        self.max_streams = streams;
        self
    }

    /// How many notifications the client holds at once (queued, in flight, and settled with a
    /// report not yet delivered): the bound on its memory.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How many notifications may wait between the callers and the event loop.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// The most outcomes the [`Apns::outcomes`] iterator holds unread before the client stops
    /// settling into it (and so, once [`capacity`](Self::capacity) is reached, stops taking
    /// notifications).
    pub fn outcome_capacity(mut self, capacity: usize) -> Self {
        self.outcome_capacity = capacity;
        self
    }

    /// How long a blocking send waits for room in the queue before failing with
    /// [`Error::Http2Full`].
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// The longest a TCP connect, TLS handshake and HTTP/2 preface may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a request may wait for its response; then its stream is cancelled and the
    /// notification sent again (marked a possible duplicate).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// PING a connection quiet for this long (`None`: never), so a dead one is noticed.
    pub fn ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.ping_interval = interval;
        self
    }

    /// Charged retries per notification (a connection lost, a timeout, 429/500/503, an
    /// expired provider token) before it fails; refused streams are resent free.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// How long without a usable connection, with work waiting, before what is queued fails
    /// ([`FailReason::Unreachable`](crate::FailReason::Unreachable)).
    pub fn reconnect_budget(mut self, budget: Duration) -> Self {
        self.reconnect_budget = budget;
        self
    }

    /// How long a provider token is used before a new one is made (token auth; default 50
    /// minutes). With Apple keep it between 20 and 60 minutes: Apple refuses tokens an hour
    /// old (`ExpiredProviderToken`) and renewals closer than 20 minutes apart
    /// (`TooManyProviderTokenUpdates`). Shorter periods, down to 1 second, are for tests
    /// against a mock whose token age limit is short.
    ///
    /// A token refused as expired is replaced as soon as the renewal rule allows: 20 minutes
    /// after it was made, or after half the period when the period is under 20 minutes
    /// (nothing is sent with the credential meanwhile). A token is never used past 60
    /// minutes. Checked by [`build`](Self::build): from 1 second to under 60 minutes, else
    /// [`Error::OutOfRange`].
    pub fn token_refresh(mut self, period: Duration) -> Self {
        self.token_refresh = period;
        self
    }

    /// The wait before resending a notification answered 429, 500 or 503 without
    /// `retry-after`: `initial` for the first retry, doubling up to `max`, each wait drawn
    /// between half and all of it (jitter). Checked by [`build`](Self::build): `initial`
    /// above zero and at most `max`, else [`Error::OutOfRange`].
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.retry_backoff = (initial, max);
        self
    }

    /// The wait between connection attempts after failures (refused, TLS or preface errors,
    /// timeouts): `initial`, doubling up to `max`, with jitter as
    /// [`retry_backoff`](Self::retry_backoff). Checked likewise.
    pub fn reconnect_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.reconnect_backoff = (initial, max);
        self
    }

    /// Seeds the jitter and the generated `apns-id`s (by default a random seed), for
    /// reproducible tests.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Loads the credentials and starts the (idle) event loop. Nothing connects until the
    /// first send.
    pub fn build(mut self) -> Result<Apns, Error> {
        // The settings first: nothing is read or started for a builder that cannot work.
        let timing = token_timing(self.token_refresh)?;
        let retry_backoff = backoff("retry_backoff", self.retry_backoff)?;
        let reconnect_backoff = backoff("reconnect_backoff", self.reconnect_backoff)?;
        let Checked { signer, tls, endpoint, bundle_id } = self.check()?;
        let token_auth = signer.is_some();
        let auth = match signer {
            // `token_timing` keeps min_interval <= refresh_after < max_age.
            Some(signer) => Auth::Token(
                TokenPolicy::with_timing(signer, timing)
                    .map_err(|_| out_of_range("token_refresh", TOKEN_REFRESH_RANGE))?,
            ),
            None => Auth::Certificate,
        };
        if self.outcome_capacity == 0 {
            return Err(StartError::Zero("outcome_capacity").into());
        }
        let listeners = Arc::new(Listeners::default());
        let handler = listeners.clone();
        let seed = self.seed.unwrap_or_else(random_seed);
        let mut config =
            Http2Config::new(endpoint.clone(), tls, auth, seed).on_event(move |event| handler.handle(event));
        config.delivery.connections = self.connections;
        config.delivery.max_streams_per_connection = self.max_streams;
        config.delivery.capacity = self.capacity;
        config.delivery.max_retries = self.max_retries;
        config.delivery.connect_timeout = self.connect_timeout;
        config.delivery.response_timeout = self.response_timeout;
        config.delivery.ping_interval = self.ping_interval;
        config.delivery.reconnect_budget = self.reconnect_budget;
        config.delivery.retry_backoff = retry_backoff;
        config.delivery.reconnect_backoff = reconnect_backoff;
        config.queue_capacity = self.queue_capacity;
        let client = Http2Client::start(config)?;
        let settings = Settings {
            endpoint,
            bundle_id,
            token_auth,
            send_timeout: self.send_timeout,
            outcome_capacity: self.outcome_capacity,
        };
        Ok(Apns::new(client, listeners, settings))
    }
}

/// What both the client and the channel-management client need, checked once.
pub(crate) struct Checked {
    /// Token auth's signer; `None`: the certificate in `tls`.
    pub(crate) signer: Option<TokenSigner>,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) endpoint: Endpoint,
    pub(crate) bundle_id: Option<BundleId>,
}

impl Builder {
    /// Loads and checks the credentials, the trust options, the endpoint (renamed with the
    /// server name) and the default topic.
    pub(crate) fn check(&mut self) -> Result<Checked, Error> {
        let identity = self.certs.load_identity()?;
        let signer = match self.token_key.take() {
            Some((key, key_id, team_id)) => {
                let (key_id, team_id) = (KeyId::new(&key_id)?, TeamId::new(&team_id)?);
                let key = match key {
                    KeySource::File(path) => SigningKey::from_p8_file(path)?,
                    KeySource::Pem(pem) => SigningKey::from_p8_pem(&pem)?,
                };
                Some(TokenSigner::new(key, key_id, team_id))
            }
            None if identity.is_some() => None,
            None => return Err(Error::NoCredentials),
        };
        let mut tls = self.certs.tls()?;
        if let Some(identity) = identity {
            tls = tls.identity(identity);
        }
        let tls: Arc<rustls::ClientConfig> = tls.build_h2()?;
        let name = self.server_name.as_deref().filter(|_| self.named);
        let endpoint = std::mem::replace(&mut self.endpoint, Ok(Endpoint::api()))?;
        let endpoint = rename(endpoint, name)?;
        let bundle_id = self.topic.as_deref().map(BundleId::new).transpose()?;
        Ok(Checked { signer, tls, endpoint, bundle_id })
    }

    /// The connect timeout and the seed, for the channel-management client.
    pub(crate) fn timeout_and_seed(&self) -> (Duration, u64) {
        (self.connect_timeout, self.seed.unwrap_or_else(random_seed))
    }
}

const TOKEN_REFRESH_RANGE: &str = "from 1 second to under 60 minutes";

fn out_of_range(setting: &'static str, allowed: &'static str) -> Error {
    Error::OutOfRange { setting, allowed }
}

/// The provider-token timing for a refresh period (see [`Builder::token_refresh`]).
fn token_timing(period: Duration) -> Result<TokenTiming, Error> {
    let apple = TokenTiming::APPLE;
    if period < Duration::from_secs(1) || period >= apple.max_age {
        return Err(out_of_range("token_refresh", TOKEN_REFRESH_RANGE));
    }
    // Apple's 20 minutes between renewals, unless the period itself is shorter (a mock): then
    // half of it, so that a token refused as expired is soon replaced.
    let min_interval = if period >= apple.min_interval { apple.min_interval } else { period / 2 };
    Ok(TokenTiming { refresh_after: period, min_interval, max_age: apple.max_age })
}

fn backoff(setting: &'static str, (initial, max): (Duration, Duration)) -> Result<Backoff, Error> {
    if initial.is_zero() || initial > max {
        return Err(out_of_range(setting, "initial above zero and at most max"));
    }
    Ok(Backoff { initial, max })
}

/// A seed from the standard library's randomly keyed hasher (fresh keys per process and
/// call): two processes do not generate the same `apns-id`s.
fn random_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let builder = Builder::new()
            .token_key(b"-----BEGIN PRIVATE KEY-----secret".as_slice(), "ABC123DEFG", "DEF123GHIJ")
            .p12_file("push.p12", "hunter2-secret");
        let debug = format!("{builder:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("Pem(<redacted>)") && debug.contains("push.p12"), "{debug}");
    }

    #[test]
    fn credentials_are_checked_with_typed_errors() {
        assert!(matches!(Builder::new().build(), Err(Error::NoCredentials)));
        let bad_id = Builder::new().token_key("/no/such/AuthKey.p8", "short", "DEF123GHIJ").build();
        assert!(matches!(bad_id, Err(Error::Id(_))), "{bad_id:?}");
        let missing = Builder::new().token_key("/no/such/AuthKey.p8", "ABC123DEFG", "DEF123GHIJ").build();
        match missing {
            Err(Error::ProviderKey(error)) => assert!(error.to_string().contains("/no/such/AuthKey.p8")),
            other => panic!("expected a key error, got {other:?}"),
        }
        let not_pem = Builder::new().token_key(b"not a key".as_slice(), "ABC123DEFG", "DEF123GHIJ").build();
        assert!(matches!(not_pem, Err(Error::ProviderKey(apns_auth::KeyError::NotPem))), "{not_pem:?}");
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn token_refresh_keeps_apple_rules_and_allows_short_periods_for_mocks() {
        assert_eq!(token_timing(TokenTiming::APPLE.refresh_after).unwrap(), TokenTiming::APPLE);
        let apple = token_timing(30 * MINUTE).unwrap();
        assert_eq!(
            (apple.refresh_after, apple.min_interval, apple.max_age),
            (30 * MINUTE, 20 * MINUTE, 60 * MINUTE)
        );
        let mock = token_timing(Duration::from_secs(30)).unwrap();
        let expected = (Duration::from_secs(30), Duration::from_secs(15), 60 * MINUTE);
        assert_eq!((mock.refresh_after, mock.min_interval, mock.max_age), expected);
        assert!(token_timing(Duration::from_secs(1)).is_ok());
        for bad in [Duration::ZERO, Duration::from_millis(999), 60 * MINUTE, 2 * 60 * MINUTE] {
            let error = token_timing(bad).unwrap_err();
            assert!(
                matches!(error, Error::OutOfRange { setting: "token_refresh", .. }),
                "{bad:?}: {error:?}"
            );
        }
    }

    #[test]
    fn backoffs_are_checked() {
        let (ms, s) = (Duration::from_millis(50), Duration::from_secs(2));
        assert_eq!(backoff("retry_backoff", (ms, s)).unwrap(), Backoff { initial: ms, max: s });
        assert_eq!(backoff("retry_backoff", (s, s)).unwrap(), Backoff { initial: s, max: s });
        for bad in [(Duration::ZERO, s), (s, ms)] {
            let error = backoff("reconnect_backoff", bad).unwrap_err();
            assert!(matches!(error, Error::OutOfRange { setting: "reconnect_backoff", .. }), "{error:?}");
        }
    }

    #[test]
    fn build_refuses_out_of_range_settings_before_starting() {
        let key = "/no/such/AuthKey.p8";
        // Checked before anything is loaded or started: the key file is not even read.
        let short = Builder::new().token_key(key, "ABC123DEFG", "DEF123GHIJ").token_refresh(Duration::ZERO);
        let error = short.build().unwrap_err();
        assert!(matches!(error, Error::OutOfRange { setting: "token_refresh", .. }), "{error:?}");
        assert_eq!(error.to_string(), "token_refresh out of range: from 1 second to under 60 minutes");
        let backoff = Builder::new()
            .token_key(key, "ABC123DEFG", "DEF123GHIJ")
            .retry_backoff(Duration::from_secs(2), Duration::from_secs(1));
        let error = backoff.build().unwrap_err();
        assert!(matches!(error, Error::OutOfRange { setting: "retry_backoff", .. }), "{error:?}");
    }
}
