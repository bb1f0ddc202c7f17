//! The HTTP/2 client of Apple's provider API: [`Http2Client`], one mio event-loop thread
//! driving a pool of TLS connections (ALPN `h2`), each an [`apns_h2::Connection`], for one
//! [`apns_resend::http2::Delivery`] machine per gateway.
//!
//! ```text
//!  callers ─send─▶ bounded inbox ─(Waker)─▶ loop thread ─send─▶ Delivery (policy: pool, budget,
//!    ▲   (block / fail fast)                    │                 retries, tokens, timeouts)
//!    │                                          │ poll_transport: Open/Close/Abort/Ping/Cancel
//!    │                 lookup thread ◀─ Open ───┤ poll_request ─▶ apns_h2::Connection ─▶ rustls ─▶ socket
//!    │                 (fresh DNS)  ──addr─────▶│ handle_fate ◀── Finished{id→key} ◀── rustls ◀── socket
//!    └── outcomes (bounded) / on_event ◀─ poll_event ◀┘
//! ```
//!
//! The loop holds no policy: the delivery machine decides what goes where and settles every
//! notification exactly once ([`Event::Finished`]); the loop moves bytes, readiness and time.
//! A server that does not negotiate `h2` is refused after the handshake
//! ([`ConnectError::NoHttp2`](crate::ConnectError::NoHttp2)); the host is looked up afresh,
//! off the loop thread, before each connection.
//!
//! ```no_run
//! use std::time::{Duration, Instant, SystemTime};
//! use apns_auth::{KeyId, SigningKey, TeamId, TokenPolicy, TokenSigner};
//! use apns_io::http2::{Http2Client, Http2Config};
//! use apns_io::{Endpoint, TlsConfig};
//! use apns_resend::http2::Auth;
//!
//! let key = SigningKey::from_p8_file("AuthKey_ABC123DEFG.p8")?;
//! let signer = TokenSigner::new(key, KeyId::new("ABC123DEFG")?, TeamId::new("DEF123GHIJ")?);
//! let auth = Auth::Token(TokenPolicy::new(signer));
//! let config = Http2Config::new(Endpoint::api_sandbox(), TlsConfig::new().build_h2()?, auth, 42);
//! let client: Http2Client<u64> = Http2Client::start(config)?;
//! let outcomes = client.outcomes(1024);
//! // client.send_timeout(Item::device(notification, 7), Duration::from_secs(5))?;
//! let summary = client.close(Duration::from_secs(10));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::ops::AddAssign;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use apns_h2::{Fate, GoAway, HeaderValue, Request};
use apns_resend::http2::{
    Auth, ConnId, ConnectionLoss, Delivery, DeliveryConfig, Event, Item, Report, Stats, StreamKey,
    TransportCommand,
};
use tracing::{info, warn};

use crate::config::Endpoint;
use crate::event::StartError;
use crate::machine::Kinds;
use crate::outcomes::Outcomes;
use crate::shell::http2::{self as shell, ConnCommand, Dispatch, EventHandler, Http2Shell, Loss};
use crate::shell::{Handle, Refused, Summary};
use crate::tls::ALPN_H2;

/// How an [`Http2Client`] connects and behaves.
pub struct Http2Config<U> {
    /// The gateway: [`Endpoint::api`], [`Endpoint::api_sandbox`] (port 443 or 2197), or any
    /// `host:port` (a mock).
    pub endpoint: Endpoint,
    /// TLS ([`crate::TlsConfig::build_h2`]; with a client identity for certificate auth).
    /// ALPN is set to `h2` whatever it holds.
    pub tls: Arc<rustls::ClientConfig>,
    /// Provider tokens or the TLS client certificate.
    pub auth: Auth,
    /// The delivery machine's settings (pool size, streams, capacity, retries, timeouts); its
    /// `authority` is the endpoint's host.
    pub delivery: DeliveryConfig,
    /// Each HTTP/2 connection's settings (`max_open_streams` follows
    /// `delivery.max_streams_per_connection`).
    pub h2: apns_h2::Config,
    /// Notifications waiting between callers and the loop.
    pub queue_capacity: usize,
    on_event: Option<EventHandler<Event<U>>>,
}

impl<U> std::fmt::Debug for Http2Config<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http2Config")
            .field("endpoint", &self.endpoint)
            .field("delivery", &self.delivery)
            .field("queue_capacity", &self.queue_capacity)
            .finish_non_exhaustive()
    }
}

impl<U> Http2Config<U> {
    /// The defaults for `endpoint`; `seed` seeds jitter and generated `apns-id`s (take it
    /// from a random source in production).
    pub fn new(endpoint: Endpoint, tls: Arc<rustls::ClientConfig>, auth: Auth, seed: u64) -> Self {
        let authority = HeaderValue::new(endpoint.host().to_owned())
            .unwrap_or_else(|_| HeaderValue::from_static("api.push.apple.com"));
        Self {
            endpoint,
            tls,
            auth,
            delivery: DeliveryConfig::new(authority, seed),
            h2: apns_h2::Config::default(),
            queue_capacity: 10_000,
            on_event: None,
        }
    }

    /// Calls `handler` on the loop thread with every event (the one event stream: reports,
    /// retries, halts, token refreshes, connections). Keep it short. It sees each event by
    /// reference, so that a report then moves to [`Http2Client::outcomes`] without a copy.
    #[must_use]
    pub fn on_event(mut self, handler: impl FnMut(&Event<U>) + Send + 'static) -> Self {
        self.on_event = Some(Box::new(handler));
        self
    }
}

/// Why items were not taken by [`Http2Client::send_batch`] and friends; those not taken come
/// back, in order.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Http2SendError<U> {
    /// The queue stayed full (for the whole timeout, if any): backpressure.
    #[error("the send queue is full ({} notifications not taken)", unsent.len())]
    Full {
        /// The items not taken.
        unsent: Vec<Item<U>>,
    },
    /// The client is closed.
    #[error("the client is closed ({} notifications not taken)", unsent.len())]
    Closed {
        /// The items not taken.
        unsent: Vec<Item<U>>,
    },
}

/// The client's counters: the delivery machine's, the queue's and the wire's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Http2Counters {
    /// Notifications taken by `send`.
    pub submitted: u64,
    /// TLS bytes written and read.
    pub bytes_written: u64,
    /// TLS bytes read.
    pub bytes_read: u64,
    /// The delivery machine's counters.
    pub delivery: Stats,
}

/// What a flush or a close leaves.
#[derive(Debug)]
#[non_exhaustive]
pub struct Http2Summary<U> {
    /// Every notification taken has its report.
    pub settled: bool,
    /// Notifications that never reached the delivery machine (a forced close).
    pub unsent: Vec<Item<U>>,
    /// The counters at that moment.
    pub counters: Http2Counters,
}

/// A handle to the HTTP/2 event loop: `Sync`, usable from any thread. Dropping it
/// force-closes it and joins the thread.
pub struct Http2Client<U: Clone + Send + 'static> {
    handle: Handle<Gateway<U>>,
}

impl<U: Clone + Send + 'static> std::fmt::Debug for Http2Client<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http2Client").field("counters", &self.counters()).finish_non_exhaustive()
    }
}

impl<U: Clone + Send + 'static> Http2Client<U> {
    /// Starts the event-loop thread; connections open when there is something to send.
    pub fn start(mut config: Http2Config<U>) -> Result<Self, StartError> {
        if config.queue_capacity == 0 {
            return Err(StartError::Zero("queue_capacity"));
        }
        if config.endpoint.server_name().is_none() {
            return Err(StartError::InvalidServerName(config.endpoint.host().to_owned()));
        }
        let mut tls = Arc::unwrap_or_clone(config.tls);
        tls.alpn_protocols = vec![ALPN_H2.to_vec()];
        config.h2.max_open_streams = config.delivery.max_streams_per_connection;
        apns_h2::Connection::new(config.h2.clone(), Instant::now())?;
        let connect_timeout = config.delivery.connect_timeout;
        let delivery = Delivery::new(config.delivery, config.auth, Instant::now(), SystemTime::now())?;
        let shell = Http2Shell {
            endpoint: config.endpoint,
            tls: Arc::new(tls),
            h2: config.h2,
            connect_timeout,
            tls_buffer_limit: 256 << 10,
            on_event: config.on_event,
        };
        Ok(Self { handle: Handle::start_http2(shell, config.queue_capacity, Gateway(delivery))? })
    }

    /// Hands one item to the loop, failing at once if the queue is full.
    pub fn try_send(&self, item: Item<U>) -> Result<(), Http2SendError<U>> {
        self.send_batch(vec![item], Some(Duration::ZERO))
    }

    /// Hands one item to the loop, waiting up to `timeout` for room.
    pub fn send_timeout(&self, item: Item<U>, timeout: Duration) -> Result<(), Http2SendError<U>> {
        self.send_batch(vec![item], Some(timeout))
    }

    /// Hands items to the loop in order, waiting for room up to `timeout` in total (`None`:
    /// as long as it takes).
    pub fn send_batch(
        &self,
        items: impl IntoIterator<Item = Item<U>>,
        timeout: Option<Duration>,
    ) -> Result<(), Http2SendError<U>> {
        self.handle.send_batch(items, timeout).map_err(|refused| match refused {
            Refused::Full(unsent) => Http2SendError::Full { unsent },
            Refused::Closed(unsent) => Http2SendError::Closed { unsent },
        })
    }

    /// The counters so far.
    pub fn counters(&self) -> Http2Counters {
        let (stats, wire, submitted) = self.handle.stats();
        Http2Counters {
            submitted,
            bytes_written: wire.bytes_written,
            bytes_read: wire.bytes_read,
            delivery: stats.0,
        }
    }

    /// Items waiting in the queue between callers and the loop.
    pub fn queued(&self) -> usize {
        self.handle.queued()
    }

    /// The report of every notification settled from now on, in a queue of at most
    /// `capacity`; while it is full, reports wait in the delivery machine (counting against
    /// its capacity), which pushes back on senders. Calling it again ends the previous queue.
    pub fn outcomes(&self, capacity: usize) -> Outcomes<Report<U>> {
        Outcomes::new(self.handle.subscribe(capacity))
    }

    /// Waits until every notification taken so far has its report, or `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<Http2Summary<U>, Http2SendError<U>> {
        match self.handle.flush(timeout) {
            Some(summary) => Ok(self.summary(summary)),
            None => Err(Http2SendError::Closed { unsent: Vec::new() }),
        }
    }

    /// Graceful close: refuses further sends, delivers what is queued and in flight, closes
    /// the connections (GOAWAY); what is unsettled at `timeout` is reported `Abandoned`.
    pub fn close(&self, timeout: Duration) -> Http2Summary<U> {
        let summary = self.handle.close(timeout);
        self.summary(summary.unwrap_or(Summary { settled: true, unsent: Vec::new() }))
    }

    /// Force close, at once: everything unsettled is reported `Abandoned`, the connections
    /// are dropped, items that never reached the machine come back in `unsent`.
    pub fn force_close(&self) -> Http2Summary<U> {
        self.close(Duration::ZERO)
    }

    fn summary(&self, summary: Summary<Item<U>>) -> Http2Summary<U> {
        Http2Summary { settled: summary.settled, unsent: summary.unsent, counters: self.counters() }
    }
}

impl<U: Clone + Send + 'static> Drop for Http2Client<U> {
    fn drop(&mut self) {
        let _ = self.handle.close(Duration::ZERO);
    }
}

/// The delivery machine as the shell drives it.
struct Gateway<U>(Delivery<U>);

/// The machine's counters as the shell publishes them (one machine: adding replaces).
#[derive(Debug, Clone, Default)]
struct Published(Stats);

impl AddAssign for Published {
    fn add_assign(&mut self, other: Self) {
        self.0 = other.0;
    }
}

impl<U: Clone + Send> Kinds for Gateway<U> {
    type Item = Item<U>;
    type Outcome = Report<U>;
    type Stats = Published;
}

impl<U: Clone + Send> Dispatch for Gateway<U> {
    type Event = Event<U>;
    type Key = StreamKey;

    fn send(&mut self, now: Instant, item: Item<U>) -> Result<(), Item<U>> {
        self.0.send(now, item).map_err(|full| full.into_item())
    }

    fn unsettled(&self) -> usize {
        self.0.len()
    }

    fn room(&self) -> usize {
        self.0.room()
    }

    fn stats(&self) -> Published {
        Published(self.0.stats())
    }

    // Inlined, the report moves from the event the loop holds straight into the queue: called
    // out of line, the event is copied into the call first.
    #[inline(always)]
    fn push_outcome(event: Event<U>, outcomes: &mut VecDeque<Report<U>>) -> bool {
        match event {
            Event::Finished(report) => {
                outcomes.push_back(report);
                true
            }
            _ => false,
        }
    }

    fn close(&mut self, now: Instant) {
        self.0.close(now);
    }

    fn abandon(&mut self, now: Instant) {
        self.0.abandon(now);
    }

    fn poll_transport(&mut self, now: Instant) -> Option<ConnCommand<StreamKey>> {
        loop {
            return Some(match self.0.poll_transport(now)? {
                TransportCommand::Open(conn) => ConnCommand::Open(conn.0),
                TransportCommand::Close(conn) => ConnCommand::Close(conn.0),
                TransportCommand::Abort(conn) => ConnCommand::Abort(conn.0),
                TransportCommand::Ping(conn) => ConnCommand::Ping(conn.0),
                TransportCommand::Cancel(conn, key) => ConnCommand::Cancel(conn.0, key),
                _ => continue,
            });
        }
    }

    fn handle_established(&mut self, now: Instant, conn: shell::ConnId) {
        self.0.handle_established(now, ConnId(conn));
    }

    fn handle_stream_limit(&mut self, now: Instant, conn: shell::ConnId, limit: u32) {
        self.0.handle_stream_limit(now, ConnId(conn), limit);
    }

    fn handle_goaway(&mut self, now: Instant, conn: shell::ConnId, goaway: &GoAway) {
        self.0.handle_goaway(now, ConnId(conn), goaway);
    }

    fn handle_retire(&mut self, now: Instant, conn: shell::ConnId) {
        self.0.handle_retire(now, ConnId(conn));
    }

    fn handle_ping_ack(&mut self, now: Instant, conn: shell::ConnId, rtt: Duration) {
        self.0.handle_ping_ack(now, ConnId(conn), rtt);
    }

    fn handle_closed(&mut self, now: Instant, conn: shell::ConnId, loss: Loss) {
        let why = match loss {
            Loss::NotEstablished(error) if error.is_configuration() => ConnectionLoss::Refused,
            Loss::NotEstablished(_) => ConnectionLoss::Connect,
            Loss::Ended { transport: Some(error), .. } if error.is_configuration() => ConnectionLoss::Refused,
            Loss::Ended { closed, .. } => ConnectionLoss::Closed(closed),
        };
        self.0.handle_closed(now, ConnId(conn), why);
    }

    fn poll_request(&mut self, now: Instant, conn: shell::ConnId) -> Option<(StreamKey, Request)> {
        self.0.poll_request(now, ConnId(conn))
    }

    fn handle_fate(&mut self, now: Instant, conn: shell::ConnId, key: StreamKey, fate: &Fate) {
        self.0.handle_fate(now, ConnId(conn), key, fate);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }

    fn poll_event(&mut self) -> Option<Event<U>> {
        // The machine's own `Option` is returned as it is (no `?` and rewrap): no copy of the
        // report.
        let event = self.0.poll_event();
        match &event {
            Some(Event::TokenRefreshed) => info!("new provider token in use"),
            Some(Event::Halted { reason }) => warn!(?reason, "the gateway halted: what is queued fails"),
            Some(Event::Unreachable) => warn!("the gateway is unreachable: what is queued fails"),
            _ => {}
        }
        event
    }
}
