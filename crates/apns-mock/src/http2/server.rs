//! The running HTTP/2 mock: a tokio runtime on its own threads, h2's server over a rustls
//! acceptor, one task per connection and one per request. Policy lives in the pure modules
//! (`request`, `auth`); this shell reads, counts, records and answers.

use std::future::{poll_fn, Future as _};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use h2::server::SendResponse;
use h2::RecvStream;
use http::{HeaderValue, Request, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};
use tokio::time::{sleep_until, Instant as TokioInstant, Sleep};
use tokio_rustls::TlsAcceptor;

use super::auth::{ProviderKeys, TokenAuth, TokenRules};
use super::channels::{Channels, Reply};
use super::config::{Http2Config, Http2Faults};
use super::record::{Counter, Http2Outcome, Http2Record, Http2Stats, Shared};
use super::request::{self, Clock, ConnAuth, Incoming, Policy, Tables, Verdict, VOIP_PAYLOAD_LIMIT};
use super::settings::{SettingsIo, StreamLimits};
use super::tls;
use crate::rng::Rng;
use crate::MockError;

/// How often buffered JSON-line records are flushed.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// How long the accept loop pauses after an accept error (EMFILE, ENFILE, ENOMEM...).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// The most bytes of a header list (HPACK-decoded) a request may carry.
const MAX_HEADER_LIST: u32 = 16 * 1024;
/// The connection-level receive window: room for many small bodies in flight.
const CONNECTION_WINDOW: u32 = 1024 * 1024;
/// The most streams of a connection reset before being accepted, and reset by the mock for an
/// error, that h2 tolerates (see `Http2Mock::start`).
const MAX_RESET_STREAMS: usize = 100_000;
/// How long a stop waits for connections to finish after their GOAWAY.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// A running mock of Apple's HTTP/2 provider API.
///
/// Started with [`Http2Mock::start`]; serves on its own threads (a tokio runtime that stays
/// inside the mock: callers need no async runtime) until [`Http2Mock::stop`] or drop. All
/// methods take `&self` and may be called from any thread.
#[derive(Debug)]
pub struct Http2Mock {
    shared: Arc<Shared>,
    stop: Http2StopHandle,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

/// Asks a mock to stop from anywhere (a signal-handling thread, for instance). Obtained from
/// [`Http2Mock::stop_handle`].
#[derive(Debug, Clone)]
pub struct Http2StopHandle(Arc<Notify>);

impl Http2StopHandle {
    /// Requests the stop and returns at once; [`Http2Mock::stop`] waits for it.
    pub fn stop(&self) {
        self.0.notify_one();
    }
}

/// Everything the tasks share, immutable after start.
struct Ctx {
    acceptor: TlsAcceptor,
    h2: h2::server::Builder,
    keys: ProviderKeys,
    token_rules: TokenRules,
    tables: Tables,
    channels: Channels,
    sandbox: bool,
    max_concurrent_streams: u32,
    handshake_timeout: Duration,
    idle_timeout: Option<Duration>,
    faults: Http2Faults,
    seed: u64,
    shared: Arc<Shared>,
    max_connections: u32,
    connections: Arc<Semaphore>,
    handshaking: Arc<Semaphore>,
    /// Becomes true when the mock stops: every connection sends GOAWAY.
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl Http2Mock {
    /// Binds the listener, builds the TLS configuration and starts the runtime. When this
    /// returns, the address accepts connections.
    pub fn start(config: Http2Config) -> Result<Self, MockError> {
        let token_auth = !config.keys.0.is_empty();
        let tls = tls::server_config(&config.tls, token_auth)?;
        let addr = config.addr;
        let listener =
            std::net::TcpListener::bind(addr).map_err(|source| MockError::Bind { addr, source })?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads)
            .thread_name("apns-mock-h2")
            .enable_io()
            .enable_time()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let shared = Arc::new(Shared::new(config.record_limit, config.record_writer));
        let mut h2 = h2::server::Builder::new();
        // h2's defences against rapid reset (CVE-2023-44487) answer GOAWAY(ENHANCE_YOUR_CALM)
        // once 20 streams were reset before being accepted: a client cancelling the requests
        // of a stalled connection after their deadline does that, and Apple does not answer so.
        h2.max_concurrent_streams(config.max_concurrent_streams)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .max_header_list_size(MAX_HEADER_LIST)
            .max_pending_accept_reset_streams(MAX_RESET_STREAMS)
            .max_local_error_reset_streams(Some(MAX_RESET_STREAMS));
        let (stopping_sender, stopping) = tokio::sync::watch::channel(false);
        let max_connections = u32::try_from(config.max_connections).unwrap_or(u32::MAX);
        let ctx = Arc::new(Ctx {
            acceptor: TlsAcceptor::from(tls),
            h2,
            keys: config.keys,
            token_rules: config.token_rules,
            tables: config.tables,
            channels: Channels::new(config.max_channels, config.seed),
            sandbox: config.sandbox,
            max_concurrent_streams: config.max_concurrent_streams,
            handshake_timeout: config.handshake_timeout,
            idle_timeout: config.idle_timeout,
            faults: config.faults,
            seed: config.seed,
            shared: Arc::clone(&shared),
            max_connections,
            connections: Arc::new(Semaphore::new(max_connections as usize)),
            handshaking: Arc::new(Semaphore::new(config.max_handshaking)),
            stopping,
        });
        let stop = Http2StopHandle(Arc::new(Notify::new()));
        let stop_requested = Arc::clone(&stop.0);
        let stopped = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("apns-mock-h2-main".to_owned()).spawn(move || {
            runtime.block_on(serve(listener, ctx, stop_requested, stopping_sender));
            // Dropping the runtime drops every connection and request task; each request
            // still open records itself as dropped on the way.
            runtime.shutdown_timeout(Duration::from_secs(2));
            stopped.mark_stopped();
        })?;
        Ok(Self { shared, stop, thread: Some(thread), addr })
    }

    /// The listening address (with the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters now.
    pub fn stats(&self) -> Http2Stats {
        self.shared.stats()
    }

    /// Every record kept so far, in the order the requests were answered (empty unless
    /// [`Http2Config::record_in_memory`] was set).
    pub fn records(&self) -> Vec<Http2Record> {
        self.shared.records()
    }

    /// Waits until `condition` holds for the counters (true), or `timeout` passes or the mock
    /// stops (false). A request's record is kept before the counters count it, so once
    /// `requests` reached n the first n records are there. A condition variable, not polling.
    pub fn wait_for(&self, condition: impl FnMut(&Http2Stats) -> bool, timeout: Duration) -> bool {
        self.shared.wait_for(condition, timeout)
    }

    /// Waits until at least `n` requests were answered or otherwise settled; false on timeout.
    pub fn wait_for_requests(&self, n: u64, timeout: Duration) -> bool {
        self.wait_for(|stats| stats.requests >= n, timeout)
    }

    /// Waits until at least `n` requests were answered 200; false on timeout.
    pub fn wait_for_accepted(&self, n: u64, timeout: Duration) -> bool {
        self.wait_for(|stats| stats.accepted >= n, timeout)
    }

    /// A handle that stops the mock from elsewhere.
    pub fn stop_handle(&self) -> Http2StopHandle {
        self.stop.clone()
    }

    /// Stops serving: stops accepting, sends GOAWAY on every connection and gives them up to a
    /// second to answer what they received and close; then closes the rest (their open requests
    /// are recorded as dropped), flushes the records, joins the threads and returns the final
    /// counters.
    pub fn stop(mut self) -> Http2Stats {
        self.shutdown();
        self.shared.stats()
    }

    fn shutdown(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the HTTP/2 mock's thread panicked");
            }
        }
    }
}

impl Drop for Http2Mock {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    ctx: Arc<Ctx>,
    stop: Arc<Notify>,
    stopping: tokio::sync::watch::Sender<bool>,
) {
    let flusher = ctx.shared.recording().then(|| {
        let shared = Arc::clone(&ctx.shared);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(FLUSH_INTERVAL);
            loop {
                interval.tick().await;
                shared.flush();
            }
        })
    });
    let mut number = 0u64;
    loop {
        let accepted = tokio::select! {
            () = stop.notified() => break,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _peer)) => tcp,
            Err(error) => {
                // Out of descriptors or memory, or a connection reset before it was accepted:
                // none is fatal; pause so a persistent condition does not spin.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        number += 1;
        ctx.shared.count(Counter::Connections, 1);
        let permits = Arc::clone(&ctx.connections)
            .try_acquire_owned()
            .and_then(|conn| Arc::clone(&ctx.handshaking).try_acquire_owned().map(|hs| (conn, hs)));
        let Ok((conn_permit, handshake_permit)) = permits else {
            ctx.shared.count(Counter::RefusedConnections, 1);
            drop(tcp);
            continue;
        };
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            connection(&ctx, tcp, number, handshake_permit).await;
            drop(conn_permit);
        });
    }
    drop(listener);
    stopping.send_replace(true);
    // Every connection holds a permit until it ends: all permits back means all closed.
    let all_closed = ctx.connections.acquire_many(ctx.max_connections);
    let _ = tokio::time::timeout(STOP_GRACE, all_closed).await;
    if let Some(flusher) = flusher {
        flusher.abort();
    }
}

/// One connection's state shared by its request tasks.
struct Conn {
    number: u64,
    auth: Mutex<ConnAuth>,
}

async fn connection(
    ctx: &Arc<Ctx>,
    tcp: TcpStream,
    number: u64,
    handshake_permit: tokio::sync::OwnedSemaphorePermit,
) {
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
    let gate = ctx.faults.stall.map(|_| Arc::new(StallGate::default()));
    let io = StallingIo { inner: tcp, gate: gate.clone(), sleep: None };
    let limits = ctx.faults.stream_limit.map(|_| Arc::new(StreamLimits::default()));
    let mut restore_limit_at = None;
    let handshake = async {
        let tls = ctx.acceptor.accept(io).await?;
        let bundle =
            tls.get_ref().1.peer_certificates().and_then(|certs| certs.first()).map(tls::certificate_bundle);
        let auth = match bundle {
            Some(bundle) => ConnAuth::Certificate { bundle },
            None => ConnAuth::Token(TokenAuth::default()),
        };
        let h2 = ctx
            .h2
            .handshake::<_, Bytes>(SettingsIo::new(tls, limits.clone()))
            .await
            .map_err(io::Error::other)?;
        Ok::<_, io::Error>((h2, auth))
    };
    let (mut h2, auth) = match tokio::time::timeout(ctx.handshake_timeout, handshake).await {
        Ok(Ok(ready)) => ready,
        Ok(Err(error)) => {
            tracing::debug!(%error, number, "handshake failed");
            ctx.shared.count(Counter::HandshakeFailures, 1);
            return;
        }
        Err(_) => {
            ctx.shared.count(Counter::HandshakeFailures, 1);
            return;
        }
    };
    drop(handshake_permit);
    let conn = Arc::new(Conn { number, auth: Mutex::new(auth) });
    // The connection's requests are futures inside this task, not tasks of their own: no
    // cross-thread wake-ups, and the responses completed in one turn leave in one TLS write
    // (see the loop).
    let mut tasks = FuturesUnordered::new();
    let mut sequence = 0u64;
    let mut idle = ctx.idle_timeout.map(|timeout| Box::pin(tokio::time::sleep(timeout)));
    let mut going_away = false;
    let mut stopping = ctx.stopping.clone();
    loop {
        // Biased, accepting first: h2 writes the responses queued so far on every poll of the
        // connection, so accepting all the requests it has read before running any, then
        // running every ready request before polling it again, writes each batch of responses
        // in one TLS write (one syscall) instead of one per response. The stream limit bounds
        // a batch.
        let accepted = tokio::select! {
            biased;
            Ok(()) = stopping.changed(), if !going_away => {
                h2.graceful_shutdown();
                going_away = true;
                continue;
            }
            accepted = h2.accept() => accepted,
            () = poll_fn(|cx| drain(&mut tasks, cx)), if !tasks.is_empty() => continue,
            () = async { if let Some(idle) = idle.as_mut() { idle.await } else { std::future::pending().await } } => {
                if tasks.is_empty() && !going_away {
                    ctx.shared.count(Counter::IdleTimeouts, 1);
                    h2.graceful_shutdown();
                    going_away = true;
                    idle = None;
                } else if let (Some(idle), Some(timeout)) = (idle.as_mut(), ctx.idle_timeout) {
                    idle.as_mut().reset(TokioInstant::now() + timeout);
                }
                continue;
            }
        };
        let Some(Ok((request, respond))) = accepted else {
            break;
        };
        sequence += 1;
        if let (Some(idle), Some(timeout)) = (idle.as_mut(), ctx.idle_timeout) {
            idle.as_mut().reset(TokioInstant::now() + timeout);
        }
        let every = |n: Option<std::num::NonZeroU64>| n.is_some_and(|n| sequence % n.get() == 0);
        let stream = respond.stream_id().as_u32();
        // Its own stream of draws (the request's generator also draws latency and errors).
        let drop_draw = || Rng::new(ctx.seed ^ 0xd50b, number << 32 | u64::from(stream)).unit();
        if every(ctx.faults.drop_every) || ctx.faults.drop_probability.is_some_and(|p| drop_draw() < p) {
            // The request is recorded as dropped as its guard goes; so are those in flight,
            // when dropping the set drops their futures.
            drop(Pending::new(ctx, &conn, &request, respond.stream_id().as_u32()));
            ctx.shared.count(Counter::ConnectionDrops, 1);
            return;
        }
        if let (Some(dip), Some(limits)) = (ctx.faults.stream_limit, &limits) {
            if limits.acknowledged().is_some_and(|limit| tasks.len() >= limit as usize) {
                ctx.shared.count(Counter::StreamLimitViolations, 1);
            }
            if restore_limit_at == Some(sequence) {
                limits.advertise(ctx.max_concurrent_streams);
                ctx.shared.count(Counter::StreamLimitChanges, 1);
                restore_limit_at = None;
            } else if sequence % dip.every.get() == 0 && restore_limit_at.is_none() {
                limits.advertise(dip.limit);
                ctx.shared.count(Counter::StreamLimitChanges, 1);
                restore_limit_at = Some(sequence + dip.requests.max(1));
            }
        }
        if let (Some(stall), Some(gate)) = (ctx.faults.stall, &gate) {
            if sequence % stall.every.get() == 0 {
                gate.pause_until(TokioInstant::now() + stall.duration);
            }
        }
        // The record guard is made here, not in the future: a future dropped before its first
        // poll (the connection dropped) still drops its guard, so the request is still recorded.
        let pending = Pending::new(ctx, &conn, &request, respond.stream_id().as_u32());
        tasks.push(handle_request(Arc::clone(ctx), Arc::clone(&conn), sequence, request, respond, pending));
        if every(ctx.faults.goaway_every) && !going_away {
            ctx.shared.count(Counter::Goaways, 1);
            h2.graceful_shutdown();
            going_away = true;
        }
    }
    // No more streams: drive the connection until the responses still being written are
    // out (and the GOAWAY exchange, if any, is done), while the request tasks finish.
    let closed = poll_fn(|cx| h2.poll_closed(cx));
    let finished = async { while tasks.next().await.is_some() {} };
    let _ = tokio::join!(closed, finished);
}

/// Polls the request futures until none is ready: `Ready` once at least one finished (or the
/// set emptied), `Pending` (woken when one can go on) otherwise.
fn drain<F: std::future::Future<Output = ()>>(
    tasks: &mut FuturesUnordered<F>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    let mut finished = false;
    while let Poll::Ready(next) = tasks.poll_next_unpin(cx) {
        finished = true;
        if next.is_none() {
            break;
        }
    }
    if finished {
        Poll::Ready(())
    } else {
        Poll::Pending
    }
}

/// A request not yet answered: dropped unanswered (connection closed, task aborted), it
/// records itself as [`Http2Outcome::Dropped`], so every request has exactly one record.
struct Pending {
    shared: Arc<Shared>,
    record: Option<Http2Record>,
    settled: bool,
}

impl Pending {
    fn new(ctx: &Ctx, conn: &Conn, request: &Request<RecvStream>, stream: u32) -> Self {
        let record = ctx.shared.recording().then(|| {
            let headers = request
                .headers()
                .iter()
                .map(|(name, value)| {
                    let value = if name == http::header::AUTHORIZATION {
                        "<redacted>".to_owned()
                    } else {
                        String::from_utf8_lossy(value.as_bytes()).into_owned()
                    };
                    (name.as_str().to_owned(), value)
                })
                .collect();
            let path = request.uri().path().to_owned();
            Http2Record {
                conn: conn.number,
                stream,
                method: request.method().as_str().to_owned(),
                token: path.strip_prefix("/3/device/").map(str::to_owned),
                path,
                topic: None,
                key_id: None,
                headers,
                payload: Vec::new(),
                status: None,
                reason: None,
                timestamp: None,
                apns_id: request
                    .headers()
                    .get(&request::APNS_ID)
                    .and_then(|id| id.to_str().ok())
                    .map(str::to_owned),
                unique_id: None,
                outcome: Http2Outcome::Dropped,
            }
        });
        Self { shared: Arc::clone(&ctx.shared), record, settled: false }
    }

    fn settle(&mut self, outcome: Http2Outcome) {
        self.settled = true;
        let record = self.record.take().map(|mut record| {
            record.outcome = outcome;
            record
        });
        self.shared.publish(record, outcome);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.settled {
            self.settle(Http2Outcome::Dropped);
        }
    }
}

async fn handle_request(
    ctx: Arc<Ctx>,
    conn: Arc<Conn>,
    sequence: u64,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    mut pending: Pending,
) {
    let stream = respond.stream_id().as_u32();
    let (parts, mut body) = request.into_parts();
    let Some(payload) = read_body(&mut body).await else {
        return; // reset by the client: recorded as dropped
    };
    drop(body);
    let mut rng = Rng::new(ctx.seed, conn.number << 32 | u64::from(stream));
    let faults = &ctx.faults;
    let every = |n: Option<std::num::NonZeroU64>| n.is_some_and(|n| sequence % n.get() == 0);
    if let Some(record) = pending.record.as_mut() {
        record.payload.clone_from(&payload);
    }
    if every(faults.refuse_stream_every) {
        pending.settle(Http2Outcome::Refused);
        respond.send_reset(h2::Reason::REFUSED_STREAM);
        return;
    }
    let injected = match (&faults.error_every, &faults.error_probability) {
        (Some((n, reason)), _) if sequence % n.get() == 0 => Some(reason.clone()),
        (_, Some((p, reason))) if rng.unit() < *p => Some(reason.clone()),
        _ => None,
    };
    let (verdict, outcome) = match injected {
        Some(reason) => {
            let apns_id = parts
                .headers
                .get(&request::APNS_ID)
                .and_then(|id| id.to_str().ok())
                .filter(|id| request::is_uuid(id));
            let channel_api = super::channels::is_channel_api(parts.uri.path());
            let verdict = Verdict {
                result: Err((reason, None)),
                apns_id: apns_id.map(str::to_owned),
                topic: None,
                reply: Reply::OK,
                channel_api,
                request_id: None,
            };
            (verdict, Http2Outcome::Fault)
        }
        None => {
            let unix_now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let mut auth = conn.auth.lock().unwrap_or_else(PoisonError::into_inner);
            let before = match &*auth {
                ConnAuth::Token(state) => state.verifications,
                ConnAuth::Certificate { .. } => 0,
            };
            let incoming = Incoming {
                method: &parts.method,
                path: parts.uri.path(),
                headers: &parts.headers,
                body: &payload,
            };
            let policy = Policy {
                keys: &ctx.keys,
                rules: &ctx.token_rules,
                tables: &ctx.tables,
                channels: &ctx.channels,
            };
            let clock = Clock { now: std::time::Instant::now(), unix_now };
            let verdict = request::evaluate(incoming, &mut auth, policy, clock);
            if let ConnAuth::Token(state) = &*auth {
                ctx.shared.count(Counter::TokenVerifications, state.verifications - before);
                if let Some(record) = pending.record.as_mut() {
                    record.key_id = state.key_id().map(str::to_owned);
                }
            }
            let outcome =
                if verdict.result.is_ok() { Http2Outcome::Accepted } else { Http2Outcome::Rejected };
            (verdict, outcome)
        }
    };
    if let Some(latency) = faults.latency {
        tokio::time::sleep(rng.delay(latency)).await;
    }
    let apns_id = verdict.apns_id.clone().unwrap_or_else(|| uuid(&mut rng));
    let request_id =
        verdict.channel_api.then(|| verdict.request_id.clone().unwrap_or_else(|| uuid(&mut rng)));
    let unique_id = (ctx.sandbox && verdict.result.is_ok() && !verdict.channel_api).then(|| uuid(&mut rng));
    let (status, body) = match &verdict.result {
        Ok(()) => (verdict.reply.status, verdict.reply.body.clone().map(Bytes::from)),
        Err((reason, timestamp)) => {
            let body = match timestamp {
                Some(timestamp) => serde_json::json!({"reason": reason.as_str(), "timestamp": timestamp}),
                None => serde_json::json!({"reason": reason.as_str()}),
            };
            (reason.status(), Some(Bytes::from(body.to_string())))
        }
    };
    if let Some(record) = pending.record.as_mut() {
        record.status = Some(status);
        record.topic = verdict.topic.clone();
        if let Err((reason, timestamp)) = &verdict.result {
            record.reason = Some(reason.clone());
            record.timestamp = *timestamp;
        }
        record.apns_id = Some(apns_id.clone());
        record.unique_id.clone_from(&unique_id);
    }
    let mut response = Response::builder().status(status);
    let id_header = if verdict.channel_api { "apns-request-id" } else { "apns-id" };
    if let Some(id) = request_id.as_deref().or(Some(&apns_id)).and_then(|id| HeaderValue::from_str(id).ok()) {
        response = response.header(id_header, id);
    }
    if let Some(channel) = verdict.reply.channel_id.as_deref().and_then(|id| HeaderValue::from_str(id).ok()) {
        if verdict.result.is_ok() {
            response = response.header("apns-channel-id", channel);
        }
    }
    if let Some(unique_id) = unique_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response = response.header("apns-unique-id", unique_id);
    }
    if body.is_some() {
        response = response.header(http::header::CONTENT_TYPE, "application/json");
    }
    let Ok(response) = response.body(()) else {
        return;
    };
    pending.settle(outcome);
    match respond.send_response(response, body.is_none()) {
        Ok(mut send) => {
            if let Some(body) = body {
                if let Err(error) = send.send_data(body, true) {
                    tracing::debug!(%error, "cannot send the error body");
                }
            }
        }
        Err(error) => tracing::debug!(%error, "cannot send the response"),
    }
}

/// Reads the body, keeping at most the largest limit plus one byte (enough to tell
/// PayloadTooLarge) and releasing flow-control capacity as it goes. `None` if the client reset
/// the stream.
async fn read_body(body: &mut RecvStream) -> Option<Vec<u8>> {
    let cap = VOIP_PAYLOAD_LIMIT + 1;
    let mut payload = Vec::new();
    while !body.is_end_stream() {
        let Some(chunk) = body.data().await else { break };
        let chunk = chunk.ok()?;
        let _ = body.flow_control().release_capacity(chunk.len());
        let room = cap.saturating_sub(payload.len());
        payload.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if payload.len() >= cap {
            break;
        }
    }
    Some(payload)
}

/// A random (version 4) UUID from the seeded generator, lowercase 8-4-4-4-12.
fn uuid(rng: &mut Rng) -> String {
    let (high, low) = (rng.next_u64(), rng.next_u64());
    let high = (high & !0xf000) | 0x4000; // version 4
    let low = (low & !(0xc << 60)) | (0x8 << 60); // variant 10
    let value = u128::from(high) << 64 | u128::from(low);
    // One allocation, no formatting machinery: this runs for every response.
    let mut id = String::with_capacity(36);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            id.push('-');
        }
        let nibble = (value >> (124 - 4 * i)) & 0xf;
        id.push(char::from(b"0123456789abcdef"[nibble as usize]));
    }
    id
}

/// Pauses reading of a connection until a deadline (the stall fault: slow reading).
#[derive(Debug, Default)]
struct StallGate(Mutex<Option<TokioInstant>>);

impl StallGate {
    fn pause_until(&self, until: TokioInstant) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(until);
    }

    fn paused_until(&self) -> Option<TokioInstant> {
        let mut until = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if until.is_some_and(|until| until <= TokioInstant::now()) {
            *until = None;
        }
        *until
    }
}

/// The TCP stream under TLS, which stops reading while its [`StallGate`] says so.
struct StallingIo {
    inner: TcpStream,
    gate: Option<Arc<StallGate>>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl AsyncRead for StallingIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(until) = this.gate.as_ref().and_then(|gate| gate.paused_until()) {
            let sleep = this.sleep.get_or_insert_with(|| Box::pin(sleep_until(until)));
            sleep.as_mut().reset(until);
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallingIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_canonical_v4_uuids() {
        let mut rng = Rng::new(1, 2);
        for _ in 0..100 {
            let id = uuid(&mut rng);
            assert!(request::is_uuid(&id), "{id}");
            assert_eq!(&id[14..15], "4");
            assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        }
    }
}
