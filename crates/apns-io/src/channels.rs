//! The channel-management client of broadcast push (iOS 18 Live Activities): create, read,
//! delete and list an app's channels on `api-manage-broadcast[.sandbox].push.apple.com`
//! ([`Endpoint::channels`], [`Endpoint::channels_sandbox`]).
//!
//! [`ChannelClient`] is blocking and runs on the calling thread: one TLS connection (ALPN
//! `h2`, kept open between calls while the server keeps it) driven by an
//! [`apns_h2::Connection`], one request at a time. Every call has a deadline
//! ([`ChannelClient::timeout`], 10 s by default) covering connect, handshake and answer, so it
//! never hangs; failures are typed ([`ChannelError`]), with Apple's reason when it gave one.
//!
//! ```no_run
//! use apns_auth::{KeyId, SigningKey, TeamId, TokenSigner};
//! use apns_io::channels::{ChannelAuth, ChannelClient};
//! use apns_io::{Endpoint, TlsConfig};
//! use apns_proto::http2::{BundleId, MessageStoragePolicy};
//!
//! let key = SigningKey::from_p8_file("AuthKey_ABC123DEFG.p8")?;
//! let signer = TokenSigner::new(key, KeyId::new("ABC123DEFG")?, TeamId::new("DEF123GHIJ")?);
//! let tls = TlsConfig::new().build_h2()?;
//! let mut client = ChannelClient::new(Endpoint::channels_sandbox(), tls, ChannelAuth::Token(signer), 7)?;
//! let app = BundleId::new("com.example.MyApp")?;
//! let channel = client.create(&app, MessageStoragePolicy::NO_STORAGE)?;
//! println!("created {channel}; all: {:?}", client.list(&app)?);
//! client.delete(&app, &channel)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use apns_auth::{ProviderToken, SignError, TokenSigner};
use apns_h2::{Fate, HeaderValue, Processed, StreamId};
use apns_proto::http2::{
    parse_channel_list, ApnsId, ApnsIdGenerator, BodyError, BundleId, ChannelConfig, ChannelId,
    ChannelOperation, ChannelRequest, MessageStoragePolicy, Reason, Response, MAX_CHANNEL_BODY,
};
use bytes::{Buf, BytesMut};
use mio::{Events, Poll, Token};
use tracing::{debug, warn};

use crate::config::Endpoint;
use crate::event::ConnectError;
use crate::stream::{ReadStatus, TlsStream};
use crate::tls::ALPN_H2;

/// How long a call may take by default, connect included.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// A provider token is signed again once this old (Apple: at most every 20 minutes, at least
/// every 60).
const TOKEN_LIFETIME: Duration = Duration::from_secs(50 * 60);

/// How channel requests authenticate.
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // one per client
pub enum ChannelAuth {
    /// A provider token (JWT) in `authorization`, signed by this signer.
    Token(TokenSigner),
    /// The TLS client certificate of the [`rustls::ClientConfig`] given to
    /// [`ChannelClient::new`].
    Certificate,
}

impl std::fmt::Debug for ChannelAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(signer) => write!(f, "Token(key id {})", signer.key_id()),
            Self::Certificate => f.write_str("Certificate"),
        }
    }
}

/// Why a channel request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The connection could not be made (TCP, TLS, certificates, no HTTP/2, timeouts before
    /// the request went out).
    #[error("cannot connect: {0}")]
    Connect(ConnectError),
    /// APNs answered with an error status, and its reason if the body had one.
    #[error("APNs answered {status}{}", reason.as_ref().map(|r| format!(" {r}")).unwrap_or_default())]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// Apple's reason (`BadChannelId`, `ChannelNotRegistered`, ...).
        reason: Option<Reason>,
        /// The `apns-request-id` of the answer.
        request_id: Option<ApnsId>,
    },
    /// No answer within the deadline. `sent` says whether the request had been written (then
    /// APNs may have acted on it).
    #[error("no answer within {timeout:?} (the request was {}written)", if *sent { "" } else { "not " })]
    Timeout {
        /// The deadline of the call.
        timeout: Duration,
        /// Whether the request was written.
        sent: bool,
    },
    /// The connection ended, or the stream was reset, before an answer.
    #[error("the connection ended before an answer (processed: {processed:?})")]
    NoAnswer {
        /// Whether APNs processed the request, as far as HTTP/2 tells.
        processed: Processed,
    },
    /// A channel creation answered 2xx without a valid `apns-channel-id`.
    #[error("the answer to a channel creation has no valid apns-channel-id")]
    NoChannelId,
    /// The request's header list is larger than the server's SETTINGS_MAX_HEADER_LIST_SIZE.
    #[error("the request's headers ({size} bytes) exceed the server's limit of {limit}")]
    HeadersTooLarge {
        /// The header list size.
        size: usize,
        /// The server's limit.
        limit: u32,
    },
    /// The body of a successful answer could not be read.
    #[error("unreadable answer: {0}")]
    Body(#[from] BodyError),
    /// The provider token could not be signed.
    #[error("cannot sign the provider token: {0}")]
    Sign(#[from] SignError),
    /// The endpoint's host is not a valid server name (nor a header value).
    #[error("invalid server name {0:?}")]
    InvalidServerName(String),
    /// The HTTP/2 settings were refused.
    #[error("invalid HTTP/2 configuration: {0}")]
    Http2Config(#[from] apns_h2::ConfigError),
}

/// A blocking client of Apple's channel-management API; see the [module docs](self).
pub struct ChannelClient {
    endpoint: Endpoint,
    tls: Arc<rustls::ClientConfig>,
    auth: ChannelAuth,
    token: Option<ProviderToken>,
    authority: HeaderValue,
    ids: ApnsIdGenerator,
    h2: apns_h2::Config,
    timeout: Duration,
    poll: Poll,
    conn: Option<Conn>,
}

impl std::fmt::Debug for ChannelClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelClient")
            .field("endpoint", &self.endpoint)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// One open connection.
struct Conn {
    stream: TlsStream,
    /// Made once the TLS handshake negotiated `h2`.
    h2: Option<apns_h2::Connection>,
    /// Plaintext from `poll_transmit` that rustls has not taken yet.
    out: BytesMut,
    /// Plaintext read, handed to the HTTP/2 connection.
    input: Vec<u8>,
    /// Whether a response has ever completed on it (a reused connection that fails at once is
    /// retried on a new one).
    used: bool,
}

impl ChannelClient {
    /// A client of `endpoint` with `tls` (ALPN is set to `h2`; with a client identity for
    /// [`ChannelAuth::Certificate`]). `seed` seeds the `apns-request-id`s (take it from a
    /// random source). Nothing is connected until the first call.
    pub fn new(
        endpoint: Endpoint,
        tls: Arc<rustls::ClientConfig>,
        auth: ChannelAuth,
        seed: u64,
    ) -> Result<Self, ChannelError> {
        if endpoint.server_name().is_none() {
            return Err(ChannelError::InvalidServerName(endpoint.host().to_owned()));
        }
        let authority = HeaderValue::new(endpoint.host().to_owned())
            .map_err(|_| ChannelError::InvalidServerName(endpoint.host().to_owned()))?;
        let mut tls = Arc::unwrap_or_clone(tls);
        tls.alpn_protocols = vec![ALPN_H2.to_vec()];
        // A listing of 10,000 channels is a few hundred KiB: room for it in one stream.
        let body = MAX_CHANNEL_BODY;
        let mut h2 = apns_h2::Config::default();
        h2.max_open_streams = 1;
        h2.max_response_body = body;
        h2.max_buffered_body = body;
        h2.stream_window = u32::try_from(body).unwrap_or(u32::MAX);
        h2.connection_window = u32::try_from(body).unwrap_or(u32::MAX);
        apns_h2::Connection::new(h2.clone(), Instant::now())?;
        let poll = Poll::new().map_err(|error| ChannelError::Connect(ConnectError::from_io(&error)))?;
        let mut id_seed = [0u8; 16];
        id_seed[..8].copy_from_slice(&seed.to_be_bytes());
        id_seed[8..].copy_from_slice(&(!seed).rotate_left(17).to_be_bytes());
        Ok(Self {
            endpoint,
            tls: Arc::new(tls),
            auth,
            token: None,
            authority,
            ids: ApnsIdGenerator::new(id_seed),
            h2,
            timeout: DEFAULT_TIMEOUT,
            poll,
            conn: None,
        })
    }

    /// Sets the deadline of each call, connect included (default 10 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Creates a channel for `bundle` with this storage policy; returns its id.
    pub fn create(
        &mut self,
        bundle: &BundleId,
        policy: MessageStoragePolicy,
    ) -> Result<ChannelId, ChannelError> {
        let answer = self.execute(bundle, ChannelOperation::Create(policy))?;
        answer.channel_id.ok_or(ChannelError::NoChannelId)
    }

    /// Reads a channel's configuration.
    pub fn read(&mut self, bundle: &BundleId, channel: &ChannelId) -> Result<ChannelConfig, ChannelError> {
        let answer = self.execute(bundle, ChannelOperation::Read(channel.clone()))?;
        Ok(ChannelConfig::parse(&answer.body)?)
    }

    /// Deletes a channel.
    pub fn delete(&mut self, bundle: &BundleId, channel: &ChannelId) -> Result<(), ChannelError> {
        self.execute(bundle, ChannelOperation::Delete(channel.clone())).map(drop)
    }

    /// Lists every channel of `bundle`.
    pub fn list(&mut self, bundle: &BundleId) -> Result<Vec<ChannelId>, ChannelError> {
        let answer = self.execute(bundle, ChannelOperation::ListAll)?;
        Ok(parse_channel_list(&answer.body)?)
    }

    /// Sends one request and waits for its answer: a 2xx, or the error with Apple's reason.
    fn execute(&mut self, bundle: &BundleId, operation: ChannelOperation) -> Result<Answer, ChannelError> {
        let deadline = Instant::now() + self.timeout;
        let mut request = ChannelRequest::new(bundle.clone(), operation);
        request.ensure_request_id(&mut self.ids);
        let authorization = self.authorization()?;
        let request = request.request(&self.authority, authorization.as_ref());
        // A kept connection the server closed meanwhile fails before the request is processed:
        // then once more on a new one.
        let (fate, reused) = self.exchange(request.clone(), deadline)?;
        let fate = match fate {
            Fate::Response(_) => fate,
            other if reused && other.processed() == Processed::No => self.exchange(request, deadline)?.0,
            other => other,
        };
        let response = match fate {
            Fate::Response(response) => response,
            other => return Err(ChannelError::NoAnswer { processed: other.processed() }),
        };
        let headers = response.headers.iter().map(|field| (field.name.as_bytes(), field.value.as_bytes()));
        let parsed = Response::parse(response.status, headers, &response.body);
        if !(200..300).contains(&response.status) {
            return Err(ChannelError::Rejected {
                status: parsed.status,
                reason: parsed.reason().cloned(),
                request_id: parsed.request_id,
            });
        }
        Ok(Answer { channel_id: parsed.channel_id, body: response.body })
    }

    /// The `authorization` header under token auth, signing a token when there is none or it
    /// is old.
    fn authorization(&mut self) -> Result<Option<apns_proto::http2::Authorization>, ChannelError> {
        let ChannelAuth::Token(signer) = &self.auth else { return Ok(None) };
        let now = SystemTime::now();
        let fresh = self
            .token
            .as_ref()
            .is_some_and(|token| now.duration_since(token.issued_at()).is_ok_and(|age| age < TOKEN_LIFETIME));
        if !fresh {
            self.token = Some(signer.sign(now)?);
        }
        Ok(self.token.as_ref().map(|token| token.authorization().clone()))
    }

    /// Writes `request` on the kept connection or a new one and drives it until the stream's
    /// fate or the deadline. Returns the fate and whether the connection was a kept one.
    fn exchange(
        &mut self,
        request: apns_h2::Request,
        deadline: Instant,
    ) -> Result<(Fate, bool), ChannelError> {
        let mut conn = match self.conn.take() {
            Some(conn) if conn.h2.as_ref().is_some_and(|h2| !h2.needs_replacement()) => conn,
            stale => {
                if let Some(stale) = stale {
                    stale.stream.close(self.poll.registry());
                }
                debug!(endpoint = %self.endpoint, "channels: connecting");
                let stream =
                    TlsStream::open(&self.endpoint, Arc::clone(&self.tls), self.poll.registry(), Token(0))
                        .map_err(ChannelError::Connect)?;
                Conn { stream, h2: None, out: BytesMut::new(), input: Vec::new(), used: false }
            }
        };
        let reused = conn.used;
        let mut pending = Some(request);
        let mut stream_id: Option<StreamId> = None;
        let mut events = Events::with_capacity(8);
        let result = loop {
            let now = Instant::now();
            match self.step(&mut conn, now, &mut pending, &mut stream_id) {
                Ok(Some(fate)) => break Ok(fate),
                Ok(None) => {}
                Err(error) => break Err(error),
            }
            if now >= deadline {
                let timeout = self.timeout;
                break Err(match (&conn.h2, stream_id) {
                    (_, Some(_)) => ChannelError::Timeout { timeout, sent: true },
                    (Some(_), None) => ChannelError::Timeout { timeout, sent: false },
                    (None, _) if !conn.stream.is_connected() => {
                        ChannelError::Connect(ConnectError::ConnectTimeout)
                    }
                    (None, _) => ChannelError::Connect(ConnectError::HandshakeTimeout),
                });
            }
            let wake = conn
                .h2
                .as_ref()
                .and_then(apns_h2::Connection::poll_timeout)
                .map_or(deadline, |at| at.min(deadline));
            let wait = wake.saturating_duration_since(Instant::now());
            if let Err(error) = self.poll.poll(&mut events, Some(wait)) {
                if error.kind() != std::io::ErrorKind::Interrupted {
                    break Err(ChannelError::Connect(ConnectError::from_io(&error)));
                }
            }
        };
        match &result {
            Ok(Fate::Response(_)) if conn.h2.as_ref().is_some_and(|h2| !h2.needs_replacement()) => {
                conn.used = true;
                self.conn = Some(conn);
            }
            _ => conn.stream.abort(self.poll.registry()),
        }
        result.map(|fate| (fate, reused))
    }

    /// Moves the connection forward once: connect, read, HTTP/2 input and timers, the request,
    /// writes. `Some` with the request's fate once it has one.
    fn step(
        &self,
        conn: &mut Conn,
        now: Instant,
        pending: &mut Option<apns_h2::Request>,
        stream_id: &mut Option<StreamId>,
    ) -> Result<Option<Fate>, ChannelError> {
        if !conn.stream.is_connected() {
            match conn.stream.poll_connected() {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(error) => return Err(ChannelError::Connect(error)),
            }
        }
        let status = conn.stream.read(&mut conn.input);
        if conn.h2.is_none() && !conn.stream.is_handshaking() {
            if conn.stream.alpn_protocol() != Some(ALPN_H2) {
                let negotiated = conn.stream.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned());
                return Err(ChannelError::Connect(ConnectError::NoHttp2 { negotiated }));
            }
            let h2 = apns_h2::Connection::new(self.h2.clone(), now)?;
            conn.h2 = Some(h2);
        }
        let Some(h2) = conn.h2.as_mut() else {
            return match status {
                Err(error) => Err(ChannelError::Connect(error)),
                Ok(ReadStatus::Closed) => Err(ChannelError::Connect(ConnectError::ClosedDuringHandshake)),
                Ok(ReadStatus::Open) => conn.stream.flush().map(|_| None).map_err(ChannelError::Connect),
            };
        };
        if !conn.input.is_empty() {
            h2.handle_input(now, &conn.input);
            conn.input.clear();
        }
        match status {
            // A certificate refused under TLS 1.3 arrives after the handshake (and after the
            // request was written): still a connection failure, and nothing was processed.
            Err(error) if error.is_tls() && !conn.used => return Err(ChannelError::Connect(error)),
            Err(error) => {
                warn!(%error, "channels: the connection failed");
                h2.handle_close();
            }
            Ok(ReadStatus::Closed) => h2.handle_close(),
            Ok(ReadStatus::Open) => {}
        }
        if h2.poll_timeout().is_some_and(|at| at <= now) {
            h2.handle_timeout(now);
        }
        if let Some(request) = pending.take() {
            match h2.send_request(request) {
                Ok(id) => *stream_id = Some(id),
                Err(apns_h2::SendError::NoBudget(request)) => *pending = Some(*request),
                Err(apns_h2::SendError::Closing(_) | apns_h2::SendError::StreamIdsExhausted(_)) => {
                    return Ok(Some(Fate::NotProcessed(apns_h2::NotProcessed::NeverSent)));
                }
                Err(apns_h2::SendError::HeaderListTooLarge { size, limit, .. }) => {
                    return Err(ChannelError::HeadersTooLarge { size, limit });
                }
                Err(_) => return Ok(Some(Fate::NotProcessed(apns_h2::NotProcessed::NeverSent))),
            }
        }
        let mut fate = None;
        while let Some(event) = h2.poll_event() {
            match event {
                apns_h2::Event::Finished { id, fate: finished, .. } if Some(id) == *stream_id => {
                    fate = Some(finished)
                }
                apns_h2::Event::Closed(closed) if fate.is_none() && stream_id.is_none() => {
                    debug!(?closed, "channels: the connection closed before the request was written");
                    fate = Some(Fate::NotProcessed(apns_h2::NotProcessed::NeverSent));
                }
                _ => {}
            }
        }
        loop {
            if conn.out.is_empty() && h2.poll_transmit(now, &mut conn.out) == 0 {
                break;
            }
            let taken = conn.stream.write_plaintext(&conn.out).map_err(ChannelError::Connect)?;
            conn.out.advance(taken);
            if !conn.stream.flush().map_err(ChannelError::Connect)? || taken == 0 {
                break;
            }
        }
        Ok(fate)
    }
}

/// A successful answer.
struct Answer {
    channel_id: Option<ChannelId>,
    body: bytes::Bytes,
}
