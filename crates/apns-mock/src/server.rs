//! The running server: one thread with a mio event loop serving both listeners.

use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use apns_proto::FeedbackTuple;
use bytes::BytesMut;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use crate::config::{MockConfig, TlsSource};
use crate::conn::{Ctx, Io, Next, Settings};
use crate::feedback::{FeedbackConn, FeedbackStream};
use crate::gateway::GatewayConn;
use crate::observe::{Counter, MockStats, Record, Shared, Tally};
use crate::rng::Rng;

const GATEWAY: Token = Token(0);
const FEEDBACK: Token = Token(1);
const WAKER: Token = Token(2);
const FIRST_CONN: usize = 3;

/// Why a mock server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The system's reason.
        source: io::Error,
    },
    /// A PEM text could not be parsed.
    #[error("invalid PEM in the {what}: {source}")]
    Pem {
        /// Which input: "server certificate", "server key" or "client CA".
        what: &'static str,
        /// The parser's reason.
        source: rustls::pki_types::pem::Error,
    },
    /// A PEM text held no certificate.
    #[error("no certificate found in the {what}")]
    NoCertificate {
        /// Which input.
        what: &'static str,
    },
    /// rustls refused the certificates or key.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The client certificate verifier could not be built from the CA.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The event loop could not be set up.
    #[error("event loop: {0}")]
    Io(#[from] io::Error),
    /// A notification could not be written to the JSON-lines record; the server stopped then
    /// (a test must not pass on an incomplete record).
    #[error("cannot write the record: {0}")]
    Record(io::Error),
}

/// A running mock of Apple's binary gateway and feedback service.
///
/// Started with [`MockServer::start`]; serves on its own thread until [`MockServer::stop`] or
/// drop. All methods take `&self` and may be called from any thread.
#[derive(Debug)]
pub struct MockServer {
    shared: Arc<Shared>,
    waker: Arc<Waker>,
    refuse_until: Arc<Mutex<Option<Instant>>>,
    thread: Option<JoinHandle<()>>,
    gateway_addr: SocketAddr,
    feedback_addr: SocketAddr,
}

/// Asks a server to stop from anywhere (a signal handler thread, for instance), without owning
/// it. Obtained from [`MockServer::stop_handle`].
#[derive(Debug, Clone)]
pub struct StopHandle {
    shared: Arc<Shared>,
    waker: Arc<Waker>,
}

impl StopHandle {
    /// Requests the stop and returns at once; [`MockServer::stop`] waits for it.
    pub fn stop(&self) {
        self.shared.stop_requested.store(true, Ordering::Release);
        if let Err(error) = self.waker.wake() {
            tracing::warn!(%error, "cannot wake the mock's event loop");
        }
    }
}

impl MockServer {
    /// Binds both listeners, builds the TLS configuration and starts the event-loop thread.
    /// When this returns, both addresses accept connections.
    pub fn start(config: MockConfig) -> Result<Self, MockError> {
        let tls = server_config(&config.tls)?;
        let bind =
            |addr: SocketAddr| TcpListener::bind(addr).map_err(|source| MockError::Bind { addr, source });
        let mut gateway = bind(config.gateway_addr)?;
        let mut feedback = bind(config.feedback_addr)?;
        let gateway_addr = gateway.local_addr()?;
        let feedback_addr = feedback.local_addr()?;
        let poll = Poll::new()?;
        poll.registry().register(&mut gateway, GATEWAY, Interest::READABLE)?;
        poll.registry().register(&mut feedback, FEEDBACK, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let shared = Arc::new(Shared::default());
        let refuse_until = Arc::new(Mutex::new(
            Some(config.faults.refuse_for)
                .filter(|d| !d.is_zero())
                .and_then(|d| Instant::now().checked_add(d)),
        ));

        let mut encoded = BytesMut::new();
        for entry in &config.feedback {
            FeedbackTuple { time: entry.time, token: &entry.token }.encode(&mut encoded);
        }
        let recording = config.recording();
        let event_loop = EventLoop {
            poll,
            gateway,
            feedback,
            tls,
            settings: Settings {
                limit: config.payload_limit,
                handshake_timeout: config.handshake_timeout,
                idle_timeout: config.idle_timeout,
                error_delay: config.error_delay,
                faults: config.faults,
                recording,
            },
            feedback_stream: FeedbackStream {
                bytes: Arc::from(&encoded[..]),
                tuples: config.feedback.len() as u64,
                chunk_max: config.feedback_chunk_max,
            },
            conns: Vec::new(),
            free: Vec::new(),
            again: Vec::new(),
            shared: Arc::clone(&shared),
            refuse_until: Arc::clone(&refuse_until),
            seed: config.seed,
            gateway_count: 0,
            feedback_count: 0,
            record_limit: config.record_limit,
            writer: config.record_writer.map(BufWriter::new),
            records: Vec::new(),
            tally: Tally::default(),
            max_connections: config.max_connections,
            max_handshaking: config.max_handshaking,
            open: 0,
            accept_paused_until: None,
        };
        let thread =
            std::thread::Builder::new().name("apns-mock".to_owned()).spawn(move || event_loop.run())?;
        Ok(Self { shared, waker, refuse_until, thread: Some(thread), gateway_addr, feedback_addr })
    }

    /// The gateway's address (with the real port when port 0 was asked for).
    pub fn gateway_addr(&self) -> SocketAddr {
        self.gateway_addr
    }

    /// The feedback service's address.
    pub fn feedback_addr(&self) -> SocketAddr {
        self.feedback_addr
    }

    /// The counters now.
    pub fn stats(&self) -> MockStats {
        self.shared.stats()
    }

    /// Every notification kept so far, in the order received (empty unless
    /// [`MockConfig::record_in_memory`] was set).
    pub fn records(&self) -> Vec<Record> {
        self.shared.records()
    }

    /// Waits until `condition` holds for the counters (true), or `timeout` passes or the server
    /// stops (false). Records are published before the counters that count them, so once
    /// `accepted` reached n, [`records`](Self::records) holds them. A timeout too large to
    /// represent waits without limit.
    pub fn wait_for(&self, condition: impl FnMut(&MockStats) -> bool, timeout: Duration) -> bool {
        self.shared.wait_for(condition, Some(timeout))
    }

    /// Waits until at least `n` notifications were accepted; false on timeout.
    pub fn wait_for_accepted(&self, n: u64, timeout: Duration) -> bool {
        self.wait_for(|stats| stats.accepted >= n, timeout)
    }

    /// Refuses every new connection, on both services, for `duration` from now.
    pub fn refuse_connections_for(&self, duration: Duration) {
        let until = Instant::now().checked_add(duration);
        *self.refuse_until.lock().unwrap_or_else(PoisonError::into_inner) = until;
    }

    /// A handle that can stop the server from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle { shared: Arc::clone(&self.shared), waker: Arc::clone(&self.waker) }
    }

    /// Whether the event loop still runs.
    pub fn is_running(&self) -> bool {
        !self.shared.is_stopped()
    }

    /// Stops the server: closes every connection and listener, flushes the JSON-lines record, and
    /// returns the final counters. [`try_stop`](Self::try_stop) also says whether the record
    /// could be written.
    pub fn stop(mut self) -> MockStats {
        self.shutdown();
        self.stats()
    }

    /// Like [`stop`](Self::stop), but fails with [`MockError::Record`] if a notification could
    /// not be written to the JSON-lines record (the server stopped at that moment).
    pub fn try_stop(mut self) -> Result<MockStats, MockError> {
        self.shutdown();
        match self.shared.take_failure() {
            Some(error) => Err(MockError::Record(error)),
            None => Ok(self.stats()),
        }
    }

    /// Why the server stopped on its own, if it did: a record it could not write.
    pub fn failure(&self) -> Option<String> {
        self.shared.failure_message()
    }

    fn shutdown(&mut self) {
        self.stop_handle().stop();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the mock's event loop panicked");
            }
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn server_config(source: &TlsSource) -> Result<Arc<ServerConfig>, MockError> {
    let (cert_chain, key, client_ca) = match source {
        TlsSource::Rustls(config) => return Ok(Arc::clone(config)),
        TlsSource::Pem { cert_chain, key, client_ca } => (cert_chain, key, client_ca),
    };
    let certs = |what: &'static str, pem: &str| -> Result<Vec<CertificateDer<'static>>, MockError> {
        let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| MockError::Pem { what, source })?;
        if certs.is_empty() {
            return Err(MockError::NoCertificate { what });
        }
        Ok(certs)
    };
    let chain = certs("server certificate", cert_chain)?;
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|source| MockError::Pem { what: "server key", source })?;
    let mut roots = RootCertStore::empty();
    for ca in certs("client CA", client_ca)? {
        roots.add(ca)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider)).build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    // Apple's gateway sent nothing but the error response. TLS 1.3 session tickets would be
    // unexpected input for clients (PyAPNs' reader drops the connection when a readable socket
    // yields no application data).
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

enum Conn {
    Gateway(GatewayConn),
    Feedback(FeedbackConn),
}

impl Conn {
    fn io(&mut self) -> &mut Io {
        match self {
            Self::Gateway(conn) => &mut conn.io,
            Self::Feedback(conn) => &mut conn.io,
        }
    }

    fn is_handshaking(&self) -> bool {
        match self {
            Self::Gateway(conn) => conn.io.tls.is_handshaking(),
            Self::Feedback(conn) => conn.io.tls.is_handshaking(),
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let (own, io) = match self {
            Self::Gateway(conn) => (conn.deadline(), &conn.io),
            Self::Feedback(conn) => (conn.deadline(), &conn.io),
        };
        own.into_iter().chain(io.handshake_deadline()).min()
    }
}

struct EventLoop {
    poll: Poll,
    gateway: TcpListener,
    feedback: TcpListener,
    tls: Arc<ServerConfig>,
    settings: Settings,
    feedback_stream: FeedbackStream,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// Connections whose turn ended with input left (edge-triggered readiness will not repeat).
    again: Vec<usize>,
    shared: Arc<Shared>,
    refuse_until: Arc<Mutex<Option<Instant>>>,
    seed: u64,
    gateway_count: u64,
    feedback_count: u64,
    record_limit: usize,
    writer: Option<BufWriter<Box<dyn Write + Send>>>,
    records: Vec<Record>,
    tally: Tally,
    max_connections: usize,
    max_handshaking: usize,
    /// Connections in `conns`.
    open: usize,
    /// After a failed `accept` (out of descriptors): when to try again. Readiness is
    /// edge-triggered, so clients already queued would otherwise never be accepted.
    accept_paused_until: Option<Instant>,
}

/// How long accepting pauses after a failed `accept`, unless a connection closes first.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Marks the server stopped however the loop ends, so that waiters never hang.
struct StoppedOnExit(Arc<Shared>);

impl Drop for StoppedOnExit {
    fn drop(&mut self) {
        self.0.mark_stopped();
    }
}

#[derive(Clone, Copy)]
enum Service {
    Gateway,
    Feedback,
}

impl EventLoop {
    fn run(mut self) {
        let _stopped = StoppedOnExit(Arc::clone(&self.shared));
        let mut events = Events::with_capacity(1024);
        let mut turn = Vec::new();
        while !self.shared.stop_requested.load(Ordering::Acquire) {
            let timeout = if self.again.is_empty() {
                self.next_deadline().map(|deadline| deadline.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(%error, "the mock's poll failed");
                break;
            }
            let now = Instant::now();
            turn.clear();
            turn.append(&mut self.again);
            if self.accept_paused_until.is_some_and(|until| until <= now) {
                self.accept_paused_until = None;
                self.accept(Service::Gateway, now);
                self.accept(Service::Feedback, now);
            }
            for event in events.iter() {
                match event.token() {
                    GATEWAY if self.accept_paused_until.is_none() => self.accept(Service::Gateway, now),
                    FEEDBACK if self.accept_paused_until.is_none() => self.accept(Service::Feedback, now),
                    GATEWAY | FEEDBACK => {}
                    WAKER => {}
                    Token(token) => turn.push(token - FIRST_CONN),
                }
            }
            for (index, conn) in self.conns.iter().enumerate() {
                if conn.as_ref().and_then(Conn::deadline).is_some_and(|deadline| deadline <= now) {
                    turn.push(index);
                }
            }
            turn.sort_unstable();
            turn.dedup();
            for &index in &turn {
                self.drive(index, now);
            }
            self.publish();
        }
        self.publish();
        if let Some(writer) = &mut self.writer {
            if let Err(error) = writer.flush() {
                tracing::error!(%error, "cannot write the record");
                self.shared.fail(error);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.conns.iter().flatten().filter_map(Conn::deadline).chain(self.accept_paused_until).min()
    }

    fn accept(&mut self, service: Service, now: Instant) {
        loop {
            let listener = match service {
                Service::Gateway => &self.gateway,
                Service::Feedback => &self.feedback,
            };
            let mut socket = match listener.accept() {
                Ok((socket, _)) => socket,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    continue
                }
                Err(error) => {
                    // Out of descriptors (EMFILE, ENFILE) or memory: the client stays queued.
                    // Retry after a pause, or sooner when a connection closes.
                    tracing::warn!(%error, "accept failed; retrying shortly");
                    self.tally.add(Counter::AcceptErrors, 1);
                    self.accept_paused_until = Some(now + ACCEPT_PAUSE);
                    return;
                }
            };
            let refusing =
                self.refuse_until.lock().unwrap_or_else(PoisonError::into_inner).is_some_and(|t| now < t);
            if refusing {
                self.tally.add(Counter::Refused, 1);
                continue;
            }
            if self.open >= self.max_connections || self.handshaking() >= self.max_handshaking {
                // Closed at once (dropped): a client waiting in the backlog would learn nothing.
                self.tally.add(Counter::OverCapacity, 1);
                continue;
            }
            let _ = socket.set_nodelay(true);
            let tls = match ServerConnection::new(Arc::clone(&self.tls)) {
                Ok(tls) => tls,
                Err(error) => {
                    tracing::warn!(%error, "cannot create a TLS session");
                    continue;
                }
            };
            let index = self.free.pop().unwrap_or_else(|| {
                self.conns.push(None);
                self.conns.len() - 1
            });
            if let Err(error) =
                self.poll.registry().register(&mut socket, Token(index + FIRST_CONN), Interest::READABLE)
            {
                tracing::warn!(%error, "cannot register a connection");
                self.free.push(index);
                continue;
            }
            let io = Io::new(socket, tls, now + self.settings.handshake_timeout);
            tracing::debug!(open = self.open + 1, "connection accepted");
            let conn = match service {
                Service::Gateway => {
                    self.gateway_count += 1;
                    self.tally.add(Counter::Connections, 1);
                    Conn::Gateway(GatewayConn::new(
                        io,
                        self.gateway_count,
                        Rng::new(self.seed, self.gateway_count),
                        now,
                        self.settings.idle_timeout,
                    ))
                }
                Service::Feedback => {
                    self.feedback_count += 1;
                    self.tally.add(Counter::FeedbackConnections, 1);
                    let rng = Rng::new(!self.seed, self.feedback_count);
                    Conn::Feedback(FeedbackConn::new(io, self.feedback_stream.clone(), rng))
                }
            };
            if let Some(slot) = self.conns.get_mut(index) {
                *slot = Some(conn);
                self.open += 1;
            }
        }
    }

    /// How many connections are still in their TLS handshake.
    fn handshaking(&self) -> usize {
        if self.max_handshaking >= self.max_connections {
            // The total cap binds first: skip the count.
            return 0;
        }
        self.conns.iter().flatten().filter(|conn| conn.is_handshaking()).count()
    }

    fn drive(&mut self, index: usize, now: Instant) {
        let Some(Some(conn)) = self.conns.get_mut(index) else {
            return;
        };
        let mut ctx =
            Ctx { settings: &self.settings, tally: &mut self.tally, records: &mut self.records, now };
        let next = if conn.io().handshake_expired(now) {
            tracing::debug!("TLS handshake timed out");
            ctx.tally.add(Counter::HandshakeFailures, 1);
            Next::Close
        } else {
            match conn {
                Conn::Gateway(gateway) => gateway.drive(&mut ctx),
                Conn::Feedback(feedback) => feedback.drive(&mut ctx),
            }
        };
        let token = Token(index + FIRST_CONN);
        let next = match next {
            Next::Close => Next::Close,
            other => match conn.io().update_interest(self.poll.registry(), token) {
                Ok(()) => other,
                Err(_) => Next::Close,
            },
        };
        match next {
            Next::Wait => {}
            Next::Again => self.again.push(index),
            Next::Close => {
                // Whatever the client sees next (the end of the stream), the records and
                // counters already show what happened before it.
                self.publish();
                if let Some(Some(mut conn)) = self.conns.get_mut(index).map(Option::take) {
                    let _ = self.poll.registry().deregister(&mut conn.io().socket);
                    self.open -= 1;
                }
                self.free.push(index);
                // A descriptor is free again: a paused accept may succeed now.
                if self.accept_paused_until.is_some() {
                    self.accept_paused_until = Some(now);
                }
            }
        }
    }

    /// Hands the turn's records and counters to the shared state, records first.
    fn publish(&mut self) {
        if !self.records.is_empty() {
            if let Some(writer) = &mut self.writer {
                let mut result = Ok(());
                for record in &self.records {
                    result =
                        writer.write_all(record.to_json().as_bytes()).and_then(|()| writer.write_all(b"\n"));
                    if result.is_err() {
                        break;
                    }
                }
                if let Err(error) = result.and_then(|()| writer.flush()) {
                    tracing::error!(%error, "cannot write the record; the mock stops");
                    self.writer = None;
                    self.shared.fail(error);
                }
            }
            if self.record_limit > 0 {
                let dropped = self.shared.keep_records(&mut self.records, self.record_limit);
                self.tally.add(Counter::RecordsDropped, dropped);
            }
            self.records.clear();
        }
        if !self.tally.is_empty() {
            self.shared.publish(&self.tally);
            self.tally = Tally::default();
        }
    }
}
