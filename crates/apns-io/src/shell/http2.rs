//! The HTTP/2 shell: one mio event-loop thread driving a pool of TLS connections, each under
//! an [`apns_h2::Connection`], for one stream-level delivery machine ([`Dispatch`]).
//!
//! The binary shell gives each connection slot its own machine; here one machine (the delivery
//! machine of a gateway) spans every connection, decides which to open, close, ping, and what
//! each carries, and settles notifications from the fates `apns_h2` reports. The glue only
//! moves bytes and events:
//!
//! ```text
//!  socket ⇄ rustls ⇄ plaintext ⇄ apns_h2::Connection (each stream tagged with its key) ⇄ Dispatch
//!                                  events: Settings → handle_budget, Finished → handle_fate,
//!                                  GoAway → handle_goaway, PingAcknowledged → handle_ping_ack,
//!                                  Closed → handle_closed
//! ```
//!
//! It reuses the binary shell's caller side whole ([`Handle`](super::Handle): the bounded
//! inbox and its `Waker`, backpressure, commands, the outcome queue, published counters) and
//! its TLS stream ([`TlsStream`]). The only timer of its own is the connect timeout (TCP and
//! TLS, a transport matter); every other deadline is a machine's `poll_timeout`.

use std::collections::{HashMap, VecDeque};
use std::mem;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use apns_h2::{Event as H2Event, Fate, GoAway, Request};
use bytes::{Buf, BytesMut};
use mio::{Events, Poll, Token};
use tracing::{debug, info, warn};

use super::resolve::Resolver;
use super::{Command, Shared, Summary, WireStats, WAKER};
use crate::config::Endpoint;
use crate::event::ConnectError;
use crate::machine::Kinds;
use crate::outcomes::OutcomeQueue;
use crate::stream::{ReadStatus, TlsStream};
use crate::tls::ALPN_H2;

/// A connection of the pool, as the delivery machine names it (an incarnation: never reused).
pub(crate) type ConnId = u32;

/// Items taken from the inbox under one lock.
const INBOX_CHUNK: usize = 1024;

/// Rounds of commands, requests and I/O per loop turn before polling again (a bound: each round
/// either makes progress or ends the turn).
const MAX_ROUNDS: usize = 64;

/// What the delivery machine asks of the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnCommand<K> {
    /// Resolve the host afresh, connect, handshake (ALPN `h2`), write the preface.
    Open(ConnId),
    /// Graceful: GOAWAY, let open streams finish, then close.
    Close(ConnId),
    /// At once: open streams get `ConnectionLost`/`Aborted` fates.
    Abort(ConnId),
    /// Measure the round trip.
    Ping(ConnId),
    /// Give up one stream (reset it if written).
    Cancel(ConnId, K),
}

/// How a connection ended ([`Dispatch::handle_closed`], after all its fates).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Loss {
    /// It never got established (lookup, TCP, TLS, ALPN, timeout), or was closed before.
    NotEstablished(ConnectError),
    /// The HTTP/2 connection ended, with the transport failure that ended it, if one did.
    Ended { closed: apns_h2::Closed, transport: Option<ConnectError> },
}

/// The stream-level delivery machine the HTTP/2 shell drives: the seam of
/// `apns_resend::http2::Delivery`, as the loop sees it.
pub(crate) trait Dispatch: Kinds {
    /// What the machine tells the user: the one event stream.
    type Event: Send;
    /// Which notification a stream carries: apns-h2 carries it with the stream (as a `u64`)
    /// and hands it back with the stream's fate, so the loop keeps no map of its own.
    type Key: Copy + PartialEq + Into<u64> + From<u64>;

    /// Hands an item in; gives it back if there is no room.
    fn send(&mut self, now: Instant, item: Self::Item) -> Result<(), Self::Item>;
    /// Items handed in and not settled (reported) yet.
    fn unsettled(&self) -> usize;
    /// How many items `send` would take now (it may still refuse some: the rest goes back).
    fn room(&self) -> usize {
        usize::MAX
    }
    /// Counters since creation.
    fn stats(&self) -> Self::Stats;
    /// Moves the outcome an event reports, if it reports one, straight onto `outcomes` (never
    /// cloned: the handler sees the event first, by reference; no intermediate `Result` to
    /// copy the large report through). Whether it did.
    fn push_outcome(event: Self::Event, outcomes: &mut VecDeque<Self::Outcome>) -> bool;
    /// Graceful close: finish what was handed in, then close every connection.
    fn close(&mut self, now: Instant);
    /// Fail everything unsettled at once and close every connection.
    fn abandon(&mut self, now: Instant);

    /// What to do with the connections.
    fn poll_transport(&mut self, now: Instant) -> Option<ConnCommand<Self::Key>>;
    /// TLS is up with ALPN `h2`; the preface goes out with the next write.
    fn handle_established(&mut self, now: Instant, conn: ConnId);
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS after each SETTINGS (`u32::MAX` when
    /// none is announced).
    fn handle_stream_limit(&mut self, now: Instant, conn: ConnId, limit: u32);
    /// The server sent GOAWAY.
    fn handle_goaway(&mut self, now: Instant, conn: ConnId, goaway: &GoAway);
    /// The connection ran out of stream ids: no new streams there, to be replaced.
    fn handle_retire(&mut self, now: Instant, conn: ConnId);
    /// The server answered our PING.
    fn handle_ping_ack(&mut self, now: Instant, conn: ConnId, rtt: Duration);
    /// The connection is gone; every stream of it had its fate.
    fn handle_closed(&mut self, now: Instant, conn: ConnId, loss: Loss);
    /// The next request for `conn` (asked only while its send budget is positive).
    fn poll_request(&mut self, now: Instant, conn: ConnId) -> Option<(Self::Key, Request)>;
    /// A stream's one fate.
    fn handle_fate(&mut self, now: Instant, conn: ConnId, key: Self::Key, fate: &Fate);

    /// When to call [`handle_timeout`](Self::handle_timeout).
    fn poll_timeout(&self) -> Option<Instant>;
    /// Time passed.
    fn handle_timeout(&mut self, now: Instant);
    /// The next event for the user.
    fn poll_event(&mut self) -> Option<Self::Event>;
}

/// How the HTTP/2 shell connects and sizes its buffers.
pub(crate) struct Http2Shell<D: Dispatch> {
    pub(crate) endpoint: Endpoint,
    /// Offers ALPN `h2` ([`crate::TlsConfig::build_h2`]).
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) h2: apns_h2::Config,
    /// From the TCP connect to the end of the TLS handshake.
    pub(crate) connect_timeout: Duration,
    /// The most TLS bytes rustls buffers per connection.
    pub(crate) tls_buffer_limit: usize,
    pub(crate) on_event: Option<EventHandler<D::Event>>,
}

/// What the loop calls with each event, by reference (the outcome then moves to the queue).
pub(crate) type EventHandler<E> = Box<dyn FnMut(&E) + Send>;

/// One connection of the pool.
struct Conn {
    stream: Option<TlsStream>,
    /// Once TLS is established with ALPN `h2`.
    h2: Option<apns_h2::Connection>,
    /// The connect (TCP + TLS) deadline, until established.
    deadline: Option<Instant>,
    /// Plaintext handed out by apns_h2 and not yet taken by rustls.
    pending: BytesMut,
    /// Plaintext that came before the HTTP/2 connection existed (with the end of the handshake).
    received: Vec<u8>,
    ready: bool,
    /// The socket may have bytes to read: it had an event since a read drained it.
    readable: bool,
    /// An event since the last read reported the peer's close or an error: read to the end.
    read_closed: bool,
    refused: u64,
    /// The machine was told the connection ran out of stream ids.
    retired: bool,
    opened_at: Instant,
}

impl Conn {
    fn new(now: Instant, connect_timeout: Duration) -> Self {
        Self {
            stream: None,
            h2: None,
            deadline: Some(now + connect_timeout),
            pending: BytesMut::new(),
            received: Vec::new(),
            ready: false,
            readable: true,
            read_closed: false,
            refused: 0,
            retired: false,
            opened_at: now,
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let h2 = self.h2.as_ref().and_then(apns_h2::Connection::poll_timeout);
        [self.deadline, h2].into_iter().flatten().min()
    }
}

struct Closing<T> {
    deadline: Instant,
    /// `Dispatch::close` was called (once the inbox was drained into the machine).
    started: bool,
    replies: Vec<SyncSender<Summary<T>>>,
}

struct Flush<T> {
    deadline: Instant,
    before: u64,
    reply: SyncSender<Summary<T>>,
}

/// The loop thread's state.
pub(super) struct Engine<D: Dispatch> {
    poll: Poll,
    shared: Arc<Shared<D>>,
    config: Http2Shell<D>,
    dispatch: D,
    conns: HashMap<ConnId, Conn>,
    resolver: Resolver<ConnId>,
    outcomes: Option<Arc<OutcomeQueue<D::Outcome>>>,
    closing: Option<Closing<D::Item>>,
    flushes: Vec<Flush<D::Item>>,
    /// Items ever taken from the inbox.
    taken: u64,
    /// Events wait in the machine because the outcome queue is full.
    stalled: bool,
    /// The last turn stopped at `MAX_ROUNDS` with work left.
    again: bool,
    /// Items were left in the inbox for want of room in the machine: when the machine makes
    /// room, nothing else wakes the loop for them (the inbox never went empty).
    inbox_waiting: bool,
    /// Bytes of the connections already closed.
    wire: WireStats,
    scratch: VecDeque<D::Item>,
    batch: VecDeque<D::Outcome>,
    ids: Vec<ConnId>,
}

impl<D: Dispatch> Drop for Engine<D> {
    /// However the loop ends (even by a bug's panic), callers are released.
    fn drop(&mut self) {
        self.shared.release(self.outcomes.as_deref());
    }
}

impl<D: Dispatch + Send + 'static> super::Handle<D>
where
    D::Key: Send,
{
    /// Starts the HTTP/2 loop thread driving `dispatch`.
    pub(crate) fn start_http2(
        config: Http2Shell<D>,
        queue_capacity: usize,
        dispatch: D,
    ) -> std::io::Result<Self> {
        Self::spawn(queue_capacity, vec![dispatch.stats()], move |poll, shared| {
            let resolver = Resolver::new(config.endpoint.clone(), shared.waker.clone());
            Engine {
                poll,
                shared,
                config,
                dispatch,
                conns: HashMap::new(),
                resolver,
                outcomes: None,
                closing: None,
                flushes: Vec::new(),
                taken: 0,
                stalled: false,
                again: false,
                inbox_waiting: false,
                wire: WireStats::default(),
                scratch: VecDeque::new(),
                batch: VecDeque::new(),
                ids: Vec::new(),
            }
            .run()
        })
    }
}

impl<D: Dispatch> Engine<D> {
    fn run(mut self) {
        let span = tracing::info_span!("apns-io-h2", gateway = %self.config.endpoint);
        let _entered = span.enter();
        let mut events = Events::with_capacity(256);
        loop {
            let now = Instant::now();
            self.take_inbox(now);
            self.take_answers(now);
            self.handle_timeouts(now);
            self.pump(now);
            self.deliver();
            // Room made this turn (reports delivered) for items still in the inbox: take them
            // now, not at the next wake-up, which may be a timer far away.
            if self.inbox_waiting && self.dispatch.room() > 0 {
                self.again = true;
            }
            self.publish();
            self.finish_flushes(now);
            if self.closing.is_some() && self.try_finish_close(now) {
                return;
            }
            let timeout = if mem::take(&mut self.again) {
                Some(Duration::ZERO)
            } else {
                self.next_deadline().map(|at| at.saturating_duration_since(Instant::now()))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    warn!(error = %e, "poll failed; closing the client");
                    self.finish(Instant::now(), true);
                    return;
                }
            }
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                let Ok(id) = ConnId::try_from(event.token().0) else { continue };
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.ready = true;
                    // Any event: a read, an error or a close may be waiting (epoll re-reports
                    // what is ready with every wake-up of the socket).
                    conn.readable = true;
                    conn.read_closed |= event.is_read_closed() || event.is_error();
                    if event.is_writable() {
                        if let Some(stream) = &mut conn.stream {
                            stream.write_blocked = false;
                        }
                    }
                }
            }
        }
    }

    /// Moves items from the inbox into the machine as far as it takes them, and takes
    /// commands. Returns how many items it took.
    fn take_inbox(&mut self, now: Instant) -> usize {
        let mut total = 0;
        loop {
            let mut inbox = self.shared.inbox();
            let commands = mem::take(&mut inbox.commands);
            let was_full = inbox.items.len() >= self.shared.capacity;
            // No more than the machine takes: items refused would go back to the inbox, each
            // copied twice for nothing.
            let n = inbox.items.len().min(INBOX_CHUNK).min(self.dispatch.room());
            self.inbox_waiting = n < inbox.items.len();
            if n == inbox.items.len() {
                // All of it: swap the queues (the scratch one is empty), no item copied while
                // the lock is held.
                mem::swap(&mut inbox.items, &mut self.scratch);
            } else {
                self.scratch.extend(inbox.items.drain(..n));
            }
            drop(inbox);
            self.take_commands(now, commands);
            let mut taken = 0;
            while let Some(item) = self.scratch.pop_front() {
                match self.dispatch.send(now, item) {
                    Ok(()) => taken += 1,
                    Err(back) => {
                        // No room in the machine: the rest goes back, in order, to wait.
                        let mut inbox = self.shared.inbox();
                        while let Some(item) = self.scratch.pop_back() {
                            inbox.items.push_front(item);
                        }
                        inbox.items.push_front(back);
                        self.inbox_waiting = true;
                        break;
                    }
                }
            }
            self.taken += taken as u64;
            total += taken;
            if taken > 0 && was_full {
                self.shared.not_full.notify_all();
            }
            if taken < INBOX_CHUNK {
                return total;
            }
        }
    }

    fn take_commands(&mut self, now: Instant, commands: Vec<Command<D>>) {
        for command in commands {
            match command {
                Command::Close { deadline, reply } => {
                    info!(timeout_ms = deadline.saturating_duration_since(now).as_millis() as u64, "closing");
                    let closing =
                        self.closing.get_or_insert(Closing { deadline, started: false, replies: Vec::new() });
                    closing.deadline = closing.deadline.min(deadline);
                    closing.replies.push(reply);
                }
                Command::Flush { deadline, before, reply } => {
                    self.flushes.push(Flush { deadline, before, reply })
                }
                Command::Subscribe(queue) => {
                    if let Some(previous) = self.outcomes.replace(queue) {
                        previous.end();
                    }
                }
            }
        }
    }

    /// Connects the connections whose lookups answered.
    fn take_answers(&mut self, now: Instant) {
        while let Some((id, answer)) = self.resolver.poll_answer() {
            let Some(conn) = self.conns.get_mut(&id) else { continue };
            let host = self.config.endpoint.host();
            let connected = match (answer, self.config.endpoint.server_name()) {
                (Ok(addr), Some(name)) => {
                    debug!(conn = id, %addr, "connecting");
                    TlsStream::connect(addr, name, self.config.tls.clone(), self.poll.registry(), token(id))
                }
                _ => Err(ConnectError::Resolve { host: host.to_owned() }),
            };
            match connected {
                Ok(mut stream) => {
                    stream.set_buffer_limit(self.config.tls_buffer_limit);
                    conn.stream = Some(stream);
                    conn.ready = true;
                }
                Err(error) => self.lost(now, id, Some(error)),
            }
        }
    }

    fn handle_timeouts(&mut self, now: Instant) {
        if self.dispatch.poll_timeout().is_some_and(|t| t <= now) {
            self.dispatch.handle_timeout(now);
        }
        self.ids.clear();
        self.ids.extend(self.conns.keys().copied());
        for index in 0..self.ids.len() {
            let id = self.ids[index];
            let Some(conn) = self.conns.get_mut(&id) else { continue };
            if conn.deadline.is_some_and(|t| t <= now) {
                let connected = conn.stream.as_ref().is_some_and(TlsStream::is_connected);
                let error =
                    if connected { ConnectError::HandshakeTimeout } else { ConnectError::ConnectTimeout };
                self.lost(now, id, Some(error));
                continue;
            }
            if let Some(h2) = &mut conn.h2 {
                if h2.poll_timeout().is_some_and(|t| t <= now) {
                    h2.handle_timeout(now);
                    conn.ready = true;
                }
            }
        }
    }

    /// Carries out the machine's commands, hands requests to connections with budget, and
    /// drives the connections that have work, until nothing moves.
    fn pump(&mut self, now: Instant) {
        for _ in 0..MAX_ROUNDS {
            let mut moved = false;
            while let Some(command) = self.dispatch.poll_transport(now) {
                self.command(now, command);
                moved = true;
            }
            // A fixed address answers at once, without a thread or a wake.
            self.take_answers(now);
            self.ids.clear();
            self.ids.extend(self.conns.keys().copied());
            for index in 0..self.ids.len() {
                let id = self.ids[index];
                moved |= self.feed(now, id);
                if self.conns.get(&id).is_some_and(|conn| conn.ready) {
                    self.drive(now, id);
                    moved = true;
                }
            }
            if !moved {
                return;
            }
        }
        self.again = true;
    }

    fn command(&mut self, now: Instant, command: ConnCommand<D::Key>) {
        match command {
            ConnCommand::Open(id) => {
                if self.conns.contains_key(&id) {
                    return;
                }
                info!(conn = id, "opening a connection");
                self.conns.insert(id, Conn::new(now, self.config.connect_timeout));
                self.resolver.lookup(id);
            }
            ConnCommand::Close(id) => self.end(now, id, true),
            ConnCommand::Abort(id) => self.end(now, id, false),
            ConnCommand::Ping(id) => {
                if let Some(conn) = self.conns.get_mut(&id) {
                    if let Some(h2) = &mut conn.h2 {
                        h2.ping();
                        conn.ready = true;
                    }
                }
            }
            ConnCommand::Cancel(id, key) => {
                let Some(conn) = self.conns.get_mut(&id) else { return };
                let Some(h2) = &mut conn.h2 else { return };
                // Rare: a linear search keeps the hot path to apns-h2's one map.
                if let Some(stream) = h2.stream_with_key(key.into()) {
                    h2.cancel(stream);
                    conn.ready = true;
                }
            }
        }
    }

    /// Closes a connection on the machine's command: gracefully (GOAWAY, open streams finish)
    /// or at once (open streams lost). One not established yet just goes.
    fn end(&mut self, now: Instant, id: ConnId, graceful: bool) {
        let Some(conn) = self.conns.get_mut(&id) else { return };
        let Some(h2) = &mut conn.h2 else {
            let loss = Loss::NotEstablished(ConnectError::ClosedDuringHandshake);
            return self.closed(now, id, loss, graceful);
        };
        debug!(conn = id, graceful, "closing");
        if graceful {
            h2.shutdown();
        } else {
            h2.abort();
        }
        conn.ready = true;
    }

    /// Hands the machine's requests for `id` to its connection while the budget allows.
    fn feed(&mut self, now: Instant, id: ConnId) -> bool {
        let Some(conn) = self.conns.get_mut(&id) else { return false };
        let Some(h2) = &mut conn.h2 else { return false };
        let mut fed = false;
        while h2.send_budget() > 0 {
            let Some((key, request)) = self.dispatch.poll_request(now, id) else { break };
            match h2.send_request_with_key(request, key.into()) {
                Ok(_) => fed = true,
                Err(error) => {
                    // Not expected within the budget; the machine learns it as a fate.
                    let fate = Fate::NotProcessed(apns_h2::NotProcessed::NeverSent);
                    warn!(conn = id, error = %error, "request refused by the connection");
                    self.dispatch.handle_fate(now, id, key, &fate);
                }
            }
        }
        if fed && h2.stream_ids_left() == 0 && !mem::replace(&mut conn.retired, true) {
            info!(conn = id, "stream ids exhausted: the connection is retired");
            self.dispatch.handle_retire(now, id);
        }
        conn.ready |= fed;
        fed
    }

    /// Moves one connection forward: the TCP connect, reading, the handshake and ALPN, the
    /// HTTP/2 events, writing.
    fn drive(&mut self, now: Instant, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else { return };
        conn.ready = false;
        let Some(stream) = &mut conn.stream else { return };
        if !stream.is_connected() {
            match stream.poll_connected() {
                Ok(true) => debug!(conn = id, "TCP connected"),
                Ok(false) => return,
                Err(error) => return self.lost(now, id, Some(error)),
            }
        }
        // Plaintext goes straight from rustls to the HTTP/2 connection once there is one (the
        // bytes that came with the end of the handshake wait in `received`).
        // A connection driven for its writes (fed requests) reads only after an event: the
        // last read drained the socket, so another would return nothing (a system call each).
        let read = if mem::take(&mut conn.readable) {
            let until_short_read = !mem::take(&mut conn.read_closed);
            let (h2, received) = (&mut conn.h2, &mut conn.received);
            stream.read_with(until_short_read, |plaintext| match h2 {
                Some(h2) => h2.handle_input(now, plaintext),
                None => received.extend_from_slice(plaintext),
            })
        } else {
            Ok(ReadStatus::Open)
        };
        if conn.h2.is_none() && !stream.is_handshaking() {
            if stream.alpn_protocol() != Some(ALPN_H2) {
                let negotiated = stream.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned());
                warn!(conn = id, ?negotiated, "the server did not negotiate HTTP/2");
                return self.lost(now, id, Some(ConnectError::NoHttp2 { negotiated }));
            }
            match apns_h2::Connection::new(self.config.h2.clone(), now) {
                Ok(h2) => conn.h2 = Some(h2),
                Err(error) => {
                    warn!(conn = id, %error, "invalid HTTP/2 configuration");
                    return self.lost(now, id, Some(ConnectError::ClosedDuringHandshake));
                }
            }
            conn.deadline = None;
            info!(conn = id, version = ?stream.protocol_version(), "connection established (TLS, ALPN h2)");
            self.dispatch.handle_established(now, id);
        }
        if let Some(h2) = &mut conn.h2 {
            if !conn.received.is_empty() {
                h2.handle_input(now, &conn.received);
                conn.received.clear();
            }
        }
        match read {
            Err(error) => return self.lost(now, id, Some(error)),
            Ok(ReadStatus::Closed) => return self.lost(now, id, None),
            Ok(ReadStatus::Open) => {}
        }
        if stream.is_handshaking() {
            if let Err(error) = stream.flush() {
                let error = self.why_write_failed(now, id).unwrap_or(error);
                return self.lost(now, id, Some(error));
            }
            return;
        }
        if let Some(closed) = self.events(now, id) {
            return self.ended(now, id, closed, None);
        }
        if let Err(error) = self.write(now, id) {
            let error = self.why_write_failed(now, id).unwrap_or(error);
            self.lost(now, id, Some(error));
        }
    }

    /// After a failed write: what the peer said before it closed, if it did (a TLS alert
    /// refusing our certificate says more than the reset it leaves on the socket). Reads
    /// happen on events only, so the alert may still be unread.
    fn why_write_failed(&mut self, now: Instant, id: ConnId) -> Option<ConnectError> {
        let conn = self.conns.get_mut(&id)?;
        let stream = conn.stream.as_mut()?;
        let h2 = &mut conn.h2;
        stream
            .read_with(false, |plaintext| {
                if let Some(h2) = h2 {
                    h2.handle_input(now, plaintext)
                }
            })
            .err()
    }

    /// Hands a connection's HTTP/2 events to the machine; returns how it closed, if it did.
    fn events(&mut self, now: Instant, id: ConnId) -> Option<apns_h2::Closed> {
        let conn = self.conns.get_mut(&id)?;
        let h2 = conn.h2.as_mut()?;
        while let Some(event) = h2.poll_event() {
            match event {
                H2Event::Settings(settings) => {
                    debug!(conn = id, max_concurrent_streams = ?settings.max_concurrent_streams, "server settings");
                    let limit = settings.max_concurrent_streams.unwrap_or(u32::MAX);
                    self.dispatch.handle_stream_limit(now, id, limit);
                }
                H2Event::Finished { id: stream, key, fate } => {
                    if matches!(fate, Fate::Reset(apns_h2::ErrorCode::REFUSED_STREAM)) {
                        conn.refused += 1;
                        debug!(conn = id, stream = stream.get(), "stream refused");
                    }
                    self.dispatch.handle_fate(now, id, D::Key::from(key), &fate);
                }
                H2Event::GoAway(goaway) => {
                    info!(
                        conn = id,
                        last_stream_id = goaway.last_stream_id.get(),
                        code = ?goaway.code,
                        reason = ?apns_proto::http2::goaway_reason(&goaway.debug_data),
                        "GOAWAY from the server"
                    );
                    self.dispatch.handle_goaway(now, id, &goaway);
                }
                H2Event::PingAcknowledged { rtt } => {
                    debug!(conn = id, rtt_us = rtt.as_micros() as u64, "ping answered");
                    self.dispatch.handle_ping_ack(now, id, rtt);
                }
                H2Event::Closed(closed) => return Some(closed),
                _ => {}
            }
        }
        None
    }

    /// Writes what the connection has while the socket takes it: many requests per TLS write.
    fn write(&mut self, now: Instant, id: ConnId) -> Result<(), ConnectError> {
        let Some(conn) = self.conns.get_mut(&id) else { return Ok(()) };
        let (Some(stream), Some(h2)) = (&mut conn.stream, &mut conn.h2) else { return Ok(()) };
        loop {
            if stream.write_blocked || !stream.flush()? {
                return Ok(());
            }
            if conn.pending.is_empty() && h2.poll_transmit(now, &mut conn.pending) == 0 {
                return Ok(());
            }
            let n = stream.write_plaintext(&conn.pending)?;
            conn.pending.advance(n);
        }
    }

    /// The transport failed or closed (`error: None`: by the peer).
    fn lost(&mut self, now: Instant, id: ConnId, error: Option<ConnectError>) {
        let Some(conn) = self.conns.get_mut(&id) else { return };
        match &mut conn.h2 {
            None => {
                let error = error.unwrap_or(ConnectError::ClosedDuringHandshake);
                warn!(conn = id, %error, "connection failed");
                self.closed(now, id, Loss::NotEstablished(error), false);
            }
            Some(h2) => {
                h2.handle_close();
                let closed = self
                    .events(now, id)
                    .unwrap_or(apns_h2::Closed::Ended(apns_h2::ConnectionEnd::TransportClosed));
                self.ended(now, id, closed, error);
            }
        }
    }

    /// The HTTP/2 connection is over: writes its last frames, closes the transport, tells
    /// the machine.
    fn ended(&mut self, now: Instant, id: ConnId, closed: apns_h2::Closed, transport: Option<ConnectError>) {
        let polite = transport.is_none();
        if polite {
            let _ = self.write(now, id);
        }
        self.closed(now, id, Loss::Ended { closed, transport }, polite);
    }

    fn closed(&mut self, now: Instant, id: ConnId, loss: Loss, polite: bool) {
        let Some(mut conn) = self.conns.remove(&id) else { return };
        if let Some(stream) = conn.stream.take() {
            self.wire.bytes_written += stream.bytes_out;
            self.wire.bytes_read += stream.bytes_in;
            if polite {
                stream.close(self.poll.registry());
            } else {
                stream.abort(self.poll.registry());
            }
        }
        // Streams the connection has not reported yet (a path that drops it before its
        // `Closed`) still get a fate: apns-h2 gives every one of them its fate, with its key,
        // on close. Nothing is lost silently.
        if let Some(h2) = &mut conn.h2 {
            h2.handle_close();
            while let Some(event) = h2.poll_event() {
                if let H2Event::Finished { key, fate, .. } = event {
                    self.dispatch.handle_fate(now, id, D::Key::from(key), &fate);
                }
            }
        }
        let lived_ms = now.saturating_duration_since(conn.opened_at).as_millis() as u64;
        info!(conn = id, lived_ms, refused_streams = conn.refused, loss = ?loss, "connection closed");
        self.dispatch.handle_closed(now, id, loss);
    }

    /// Delivers the machine's events to the handler and its outcomes to the queue, as far as
    /// the queue has room (the rest waits in the machine, pushing back on senders).
    fn deliver(&mut self) {
        let mut room = self.outcomes.as_ref().map_or(usize::MAX, |queue| queue.room());
        self.stalled = false;
        while room > 0 {
            let Some(event) = self.dispatch.poll_event() else { break };
            if let Some(handler) = &mut self.config.on_event {
                handler(&event);
            }
            // The handler only looked: the outcome moves to the queue, never copied.
            if self.outcomes.is_some() && D::push_outcome(event, &mut self.batch) {
                room = room.saturating_sub(1);
            }
        }
        if let Some(queue) = &self.outcomes {
            queue.push_all(&mut self.batch);
        }
        // Events wait for room: the read that makes it wakes the loop.
        self.stalled = room == 0;
    }

    fn publish(&mut self) {
        let mut wire = self.wire;
        for conn in self.conns.values() {
            if let Some(stream) = &conn.stream {
                wire.bytes_written += stream.bytes_out;
                wire.bytes_read += stream.bytes_in;
            }
        }
        let mut published = self.shared.published.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = published.slots.first_mut() {
            *entry = (self.dispatch.stats(), wire);
        }
    }

    /// Answers the flushes whose items are all settled and reported, or past their deadline.
    fn finish_flushes(&mut self, now: Instant) {
        let settled = !self.stalled && self.dispatch.unsettled() == 0;
        let taken = self.taken;
        self.flushes.retain(|flush| {
            let done = settled && taken >= flush.before;
            if done || now >= flush.deadline {
                let _ = flush.reply.send(Summary { settled: done, unsent: Vec::new() });
                return false;
            }
            true
        });
    }

    fn next_deadline(&self) -> Option<Instant> {
        let conns = self.conns.values().filter_map(Conn::poll_timeout);
        let flushes = self.flushes.iter().map(|flush| flush.deadline);
        let closing = self.closing.as_ref().map(|closing| closing.deadline);
        conns.chain(self.dispatch.poll_timeout()).chain(flushes).chain(closing).min()
    }

    /// During a graceful close: hands the machine its close once the inbox is drained, and
    /// finishes when everything is settled and closed, or at the deadline.
    fn try_finish_close(&mut self, now: Instant) -> bool {
        let inbox_empty = self.shared.inbox().items.is_empty();
        let Some(closing) = &mut self.closing else { return false };
        if inbox_empty && !closing.started {
            closing.started = true;
            self.dispatch.close(now);
            self.pump(now);
            self.deliver();
        }
        let Some(closing) = &self.closing else { return false };
        let settled = closing.started && self.dispatch.unsettled() == 0 && !self.stalled;
        if (settled && self.conns.is_empty()) || now >= closing.deadline {
            self.finish(now, !settled);
            return true;
        }
        false
    }

    /// Closes everything and answers the closers; with `force`, abandons what is unsettled.
    fn finish(&mut self, now: Instant, force: bool) {
        let (unsent, commands): (Vec<D::Item>, _) = {
            let mut inbox = self.shared.inbox();
            inbox.closed = true;
            inbox.finished = true;
            (inbox.items.drain(..).collect(), mem::take(&mut inbox.commands))
        };
        self.shared.not_full.notify_all();
        let mut settled = unsent.is_empty() && self.dispatch.unsettled() == 0;
        if force {
            self.dispatch.abandon(now);
        }
        self.pump(now);
        // Whatever is still open goes now: the machine gets every fate.
        self.ids.clear();
        self.ids.extend(self.conns.keys().copied());
        for index in 0..self.ids.len() {
            let id = self.ids[index];
            if let Some(h2) = self.conns.get_mut(&id).and_then(|conn| conn.h2.as_mut()) {
                h2.abort();
            }
            match self.events(now, id) {
                Some(closed) => self.ended(now, id, closed, None),
                None => {
                    self.closed(now, id, Loss::NotEstablished(ConnectError::ClosedDuringHandshake), false)
                }
            }
        }
        while self.dispatch.poll_transport(now).is_some() {}
        settled &= self.dispatch.unsettled() == 0;
        // What is left is delivered whole: the bound applies while the client runs.
        if let Some(queue) = &self.outcomes {
            queue.unbound();
        }
        self.deliver();
        self.publish();
        if let Some(queue) = self.outcomes.take() {
            queue.end();
        }
        info!(settled, unsent = unsent.len(), "closed");
        let replies = self.closing.take().map(|closing| closing.replies).unwrap_or_default();
        let flushes = self.flushes.drain(..).map(|flush| flush.reply);
        super::answer_closers(commands, replies, flushes, Summary { settled, unsent });
    }
}

fn token(id: ConnId) -> Token {
    Token(id as usize)
}
