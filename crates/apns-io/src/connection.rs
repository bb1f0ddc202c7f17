//! One gateway connection slot as a sans-io state machine: its lifecycle (connect and handshake
//! deadlines, backoff, idle close, graceful and forced close), the framing of error responses,
//! the confirmation probe, and the slot's [`SentBuffer`].
//!
//! It takes plaintext, transport news and `Instant`s in, and hands out plaintext to write,
//! transport commands, the next timeout and [`Event`]s. The shell ([`crate::shell`]) does the
//! I/O; the simulation in `tests/` drives it with a model gateway and simulated time.

use std::collections::VecDeque;
use std::ops::AddAssign;
use std::time::{Duration, Instant};

use apns_proto::{decode_error_response, Decoded, Notification};
use apns_resend::{
    Confirmation, Event as BufferEvent, Report, SentBuffer, Stats as BufferStats, Ticket, TransmitKind,
};
use bytes::BytesMut;
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::event::{ConnectError, Counters, Event};
use crate::machine::{Closed, Kinds, Machine, Transport};

/// Events other than outcomes kept while nobody polls; later ones are dropped (and logged), so
/// a connection that keeps failing while the outcome queue is full cannot grow memory.
const MAX_PENDING_NOTICES: usize = 64;

/// The lifecycle settings of a connection (from [`Config`](crate::Config)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifecycle {
    /// The longest a TCP connect plus TLS handshake may take.
    pub(crate) connect_timeout: Duration,
    /// Close after this long with nothing unsettled and no traffic.
    pub(crate) idle_timeout: Option<Duration>,
    /// Delays after consecutive connect failures.
    pub(crate) backoff: Backoff,
    /// After this many consecutive failures, the waiting notifications fail.
    pub(crate) max_connect_failures: u32,
    /// After failing to connect for this long (from the first failure of a streak), the
    /// waiting notifications fail.
    pub(crate) reconnect_for: Duration,
    /// Plaintext bytes encoded per [`Connection::poll_transmit`].
    pub(crate) write_chunk: usize,
}

/// Where the transport stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No transport: connect when there is something to write and the backoff allows.
    Closed,
    /// [`Transport::Open`] was asked at `since`; `tcp` once the TCP connect finished.
    Connecting { since: Instant, tcp: bool },
    /// The TLS handshake finished.
    Established,
}

/// Connection-level counters; the notification counters are the buffer's.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ConnectionStats {
    pub(crate) buffer: BufferStats,
    pub(crate) connections: u64,
    pub(crate) reconnects: u64,
    pub(crate) connect_failures: u64,
}

impl AddAssign for ConnectionStats {
    fn add_assign(&mut self, other: Self) {
        let (a, b) = (&mut self.buffer, other.buffer);
        a.handed_in += b.handed_in;
        a.refused += b.refused;
        a.writes += b.writes;
        a.resends += b.resends;
        a.accepted += b.accepted;
        a.presumed_accepted += b.presumed_accepted;
        a.unconfirmed += b.unconfirmed;
        a.probes += b.probes;
        a.proof_timeouts += b.proof_timeouts;
        a.rejected += b.rejected;
        a.failed += b.failed;
        a.possible_duplicates += b.possible_duplicates;
        a.uncertain_writes += b.uncertain_writes;
        a.error_responses += b.error_responses;
        a.unmatched_errors += b.unmatched_errors;
        a.late_errors += b.late_errors;
        a.closes += b.closes;
        a.silent_closes += b.silent_closes;
        a.confirmations += b.confirmations;
        self.connections += other.connections;
        self.reconnects += other.reconnects;
        self.connect_failures += other.connect_failures;
    }
}

impl ConnectionStats {
    /// The public counters, with what only the shell knows (`submitted` and the TLS bytes) left
    /// at zero.
    pub(crate) fn counters(&self) -> Counters {
        let b = &self.buffer;
        Counters {
            submitted: 0,
            sent: b.writes - b.resends,
            resent: b.resends,
            accepted: b.accepted + b.presumed_accepted,
            presumed_accepted: b.presumed_accepted,
            unconfirmed: b.unconfirmed,
            probes: b.probes,
            proof_timeouts: b.proof_timeouts,
            rejected: b.rejected,
            failed: b.failed,
            possible_duplicates: b.possible_duplicates,
            error_responses: b.error_responses,
            silent_closes: b.silent_closes,
            connections: self.connections,
            reconnects: self.reconnects,
            connect_failures: self.connect_failures,
            bytes_written: 0,
            bytes_read: 0,
        }
    }
}

/// One gateway connection slot: see the module docs.
#[derive(Debug)]
pub(crate) struct Connection {
    /// The slot number, for events and logs.
    index: usize,
    lifecycle: Lifecycle,
    buffer: SentBuffer,
    state: State,
    rng: fastrand::Rng,
    /// Consecutive connect failures.
    failures: u32,
    /// When the first of them happened: the reconnect budget counts from there.
    failing_since: Option<Instant>,
    /// No connect before this (backoff).
    retry_at: Option<Instant>,
    /// Plaintext received on this connection: at most one error response.
    received: Vec<u8>,
    /// Last write, read or handshake, for the idle timeout.
    last_activity: Instant,
    ever_connected: bool,
    /// Every notification with a ticket below this must be proved (a flush or a close).
    confirm_until: Option<Ticket>,
    probe_pending: bool,
    transport: Option<Transport>,
    /// Events about the connection itself; the buffer's own events (outcomes, error responses)
    /// stay in the buffer until polled, where unread reports count against its capacity.
    notices: VecDeque<Event>,
    /// The latest `now` seen, for a wakeup asked outside a `handle_*` call.
    last_now: Instant,
    /// Be driven again at once (a probe was queued while events were polled).
    wake_at: Option<Instant>,
    /// Plaintext bytes handed out by `poll_transmit` on the current connection.
    bytes_out: u64,
    /// Of those, how many the transport still holds ([`Connection::handle_unsent`]).
    unsent: usize,
    stats: ConnectionStats,
}

impl Connection {
    /// A slot with no connection, numbered `index`, whose backoff jitter comes from `rng`.
    pub(crate) fn new(
        index: usize,
        lifecycle: Lifecycle,
        buffer: SentBuffer,
        rng: fastrand::Rng,
        now: Instant,
    ) -> Self {
        Self {
            index,
            lifecycle,
            buffer,
            state: State::Closed,
            rng,
            failures: 0,
            failing_since: None,
            retry_at: None,
            received: Vec::with_capacity(6),
            last_activity: now,
            ever_connected: false,
            confirm_until: None,
            probe_pending: false,
            transport: None,
            notices: VecDeque::new(),
            last_now: now,
            wake_at: None,
            bytes_out: 0,
            unsent: 0,
            stats: ConnectionStats::default(),
        }
    }

    /// Whether the TLS handshake finished and the connection is open.
    #[cfg(test)]
    pub(crate) fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// Plaintext bytes handed out on the current connection, and how many of them the transport
    /// still holds: what issue 11's rule "presume only bytes the gateway can have read" needs.
    #[cfg(test)]
    pub(crate) fn bytes_in_transport(&self) -> (u64, usize) {
        (self.bytes_out, self.unsent)
    }

    /// The buffer's next event in the connection's terms, acting on those about the probe.
    fn poll_buffer(&mut self) -> Option<Event> {
        loop {
            let event = match self.buffer.poll_event()? {
                BufferEvent::Finished(report) => Event::Finished { connection: self.index, report },
                BufferEvent::Retrying { id, token, status, .. } => {
                    Event::Retrying { connection: self.index, id, token, status }
                }
                BufferEvent::Shutdown => Event::Shutdown { connection: self.index },
                BufferEvent::UnmatchedError { response, late } => {
                    warn!(connection = self.index, status = %response.status, late, "error response naming no notification in flight");
                    Event::UnmatchedError { connection: self.index, status: response.status, late }
                }
                BufferEvent::Confirmed => {
                    self.probe_pending = false;
                    self.keep_confirming_soon();
                    Event::Confirmed { connection: self.index }
                }
                BufferEvent::ConfirmationFailed => {
                    self.probe_pending = false;
                    self.keep_confirming_soon();
                    continue;
                }
                _ => continue,
            };
            return Some(event);
        }
    }

    /// [`keep_confirming`](Self::keep_confirming) outside a `handle_*` call: a probe queued now
    /// must be written, so ask to be driven at once.
    fn keep_confirming_soon(&mut self) {
        let before = self.probe_pending;
        self.keep_confirming();
        if self.probe_pending && !before {
            self.wake_at = Some(self.last_now);
        }
    }

    /// Queues an event about the connection, within [`MAX_PENDING_NOTICES`].
    fn notice(&mut self, event: Event) {
        if self.notices.len() < MAX_PENDING_NOTICES {
            self.notices.push_back(event);
        } else {
            debug!(connection = self.index, ?event, "event dropped: nobody reads events");
        }
    }

    /// While a confirmation is asked for, keeps a probe queued until everything before the mark
    /// is settled (a probe lost in a close or given up is queued again).
    fn keep_confirming(&mut self) {
        let Some(until) = self.confirm_until else { return };
        if self.buffer.settled_before(until) {
            self.confirm_until = None;
            return;
        }
        if self.probe_pending {
            return;
        }
        match self.buffer.confirm() {
            Ok(Confirmation::Queued) | Err(apns_resend::ConfirmError::AlreadyPending) => {
                self.probe_pending = true
            }
            Ok(Confirmation::Settled) => self.confirm_until = None,
            // The simple format cannot be confirmed: the notifications settle by age alone.
            Err(_) => {}
        }
    }

    /// A probe went unanswered for `proof_timeout` (what it covered is already reported
    /// `Unconfirmed`): the gateway is not reading this connection, so close it and write the
    /// rest on a new one.
    fn close_if_unanswered(&mut self, now: Instant) {
        if !self.buffer.wants_close() || self.state == State::Closed {
            return;
        }
        warn!(connection = self.index, "the gateway left a probe unanswered: closing the connection");
        self.transport = Some(Transport::Abort);
        self.lose_transport(now);
        self.notice(Event::ProofTimeout { connection: self.index });
    }

    /// The connection is gone (whoever closed it): the buffer learns it, and the transport
    /// state resets.
    fn lose_transport(&mut self, now: Instant) {
        self.state = State::Closed;
        self.received.clear();
        self.bytes_out = 0;
        self.unsent = 0;
        self.buffer.handle_close(now);
    }

    /// A connect, handshake or TLS failure: backoff, and give up after the reconnect budget (at
    /// once for a failure of the configuration, which a new attempt would meet again).
    fn connect_failed(&mut self, now: Instant, error: ConnectError) {
        self.lose_transport(now);
        self.failures += 1;
        self.stats.connect_failures += 1;
        let attempt = self.failures;
        let since = *self.failing_since.get_or_insert(now);
        let gave_up = error.is_configuration()
            || attempt >= self.lifecycle.max_connect_failures
            || now.saturating_duration_since(since) >= self.lifecycle.reconnect_for;
        let retry_in = self.lifecycle.backoff.delay(attempt, self.rng.u64(..));
        self.retry_at = Some(now + retry_in);
        warn!(connection = self.index, attempt, error = %error, retry_in_ms = retry_in.as_millis() as u64, gave_up, "connect failed");
        if gave_up {
            self.failures = 0;
            self.failing_since = None;
            self.confirm_until = None;
            self.buffer.abandon();
        }
        self.notice(Event::ConnectFailed { connection: self.index, attempt, error, gave_up, retry_in });
    }

    /// The established connection ended without an error response.
    fn closed_silently(&mut self, now: Instant, why: &Closed) {
        let in_flight = self.buffer.in_flight();
        self.lose_transport(now);
        self.failures = 0;
        self.failing_since = None;
        self.retry_at = None;
        if in_flight > 0 {
            info!(connection = self.index, in_flight, ?why, "connection closed without an error response");
            self.notice(Event::SilentClose { connection: self.index, in_flight });
        } else {
            debug!(connection = self.index, ?why, "connection closed");
        }
    }
}

impl Kinds for Connection {
    type Item = Notification;
    type Outcome = Report;
    type Stats = ConnectionStats;
}

impl Machine for Connection {
    type Event = Event;
    type Mark = Ticket;

    fn free_capacity(&self) -> usize {
        self.buffer.free_capacity()
    }

    fn unsettled(&self) -> usize {
        self.buffer.unsettled()
    }

    fn is_confirmed(&self, mark: Ticket) -> bool {
        // Settled, and every report taken (the buffer holds unread ones).
        self.buffer.settled_before(mark) && self.buffer.len() == self.buffer.unsettled()
    }

    fn stats(&self) -> ConnectionStats {
        ConnectionStats { buffer: self.buffer.stats(), ..self.stats }
    }

    fn outcome_of(event: &Event) -> Option<&Report> {
        match event {
            Event::Finished { report, .. } => Some(report),
            _ => None,
        }
    }

    fn send(&mut self, now: Instant, notification: Notification) -> Result<(), Notification> {
        self.last_now = now;
        if self.free_capacity() == 0 {
            return Err(notification);
        }
        self.buffer.send(notification).map(drop).map_err(|full| full.notification)
    }

    fn confirm(&mut self, now: Instant) -> Ticket {
        self.last_now = now;
        let until = self.buffer.next_ticket();
        self.confirm_until = Some(until);
        self.keep_confirming();
        until
    }

    fn abandon(&mut self, now: Instant) {
        self.last_now = now;
        self.confirm_until = None;
        self.buffer.abandon();
        if self.state != State::Closed {
            self.transport = Some(Transport::Close);
            self.lose_transport(now);
        }
    }

    fn handle_connected(&mut self, now: Instant) {
        self.last_now = now;
        if let State::Connecting { since, .. } = self.state {
            self.state = State::Connecting { since, tcp: true };
        }
    }

    fn handle_established(&mut self, now: Instant) {
        self.last_now = now;
        if !matches!(self.state, State::Connecting { .. }) {
            return;
        }
        self.state = State::Established;
        self.stats.connections += 1;
        if self.ever_connected {
            self.stats.reconnects += 1;
        }
        self.ever_connected = true;
        self.last_activity = now;
        info!(connection = self.index, resends = self.buffer.queued(), "connected");
        self.notice(Event::Connected { connection: self.index });
    }

    fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        self.last_now = now;
        if self.state != State::Established || bytes.is_empty() {
            return;
        }
        self.last_activity = now;
        // An error response is 6 bytes and the gateway closes after it: keep no more than that.
        let room = 6usize.saturating_sub(self.received.len());
        self.received.extend_from_slice(&bytes[..bytes.len().min(room)]);
        match decode_error_response(&self.received) {
            Ok(Decoded::Complete { value: response, .. }) => {
                warn!(
                    connection = self.index,
                    status = %response.status,
                    in_flight = self.buffer.in_flight(),
                    "error response"
                );
                self.buffer.handle_error_response(now, response);
                // The gateway discards everything after the failed notification and closes:
                // close now rather than wait, so the resends start at once.
                self.transport = Some(Transport::Close);
                self.lose_transport(now);
                self.failures = 0;
                self.failing_since = None;
                self.retry_at = None;
            }
            Ok(Decoded::Incomplete { .. }) => {}
            Err(e) => {
                warn!(connection = self.index, error = %e, "unreadable bytes from the gateway");
                self.transport = Some(Transport::Abort);
                self.closed_silently(now, &Closed::ByPeer);
            }
        }
    }

    fn handle_closed(&mut self, now: Instant, closed: Closed) {
        self.last_now = now;
        match (self.state, closed) {
            (State::Closed, _) => {}
            (State::Connecting { .. }, Closed::ByPeer) => {
                self.connect_failed(now, ConnectError::ClosedDuringHandshake)
            }
            (State::Connecting { .. }, Closed::Failed(error)) => self.connect_failed(now, error),
            // A certificate refused after our side of the handshake (TLS 1.3) is a connect failure.
            (State::Established, Closed::Failed(error)) if error.is_tls() => self.connect_failed(now, error),
            (State::Established, why) => self.closed_silently(now, &why),
        }
    }

    fn handle_unsent(&mut self, now: Instant, bytes: usize) {
        self.last_now = now;
        self.unsent = bytes;
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        if self.wake_at.is_some_and(|at| at <= now) {
            self.wake_at = None;
        }
        self.buffer.handle_timeout(now);
        self.close_if_unanswered(now);
        match self.state {
            State::Connecting { since, tcp } if now >= since + self.lifecycle.connect_timeout => {
                self.transport = Some(Transport::Abort);
                let error = if tcp { ConnectError::HandshakeTimeout } else { ConnectError::ConnectTimeout };
                self.connect_failed(now, error);
            }
            State::Established => {
                let idle = self.lifecycle.idle_timeout.filter(|_| self.buffer.is_idle());
                if idle.is_some_and(|idle| now >= self.last_activity + idle) {
                    info!(connection = self.index, "closing idle connection");
                    self.transport = Some(Transport::Close);
                    self.lose_transport(now);
                    self.notice(Event::IdleClosed { connection: self.index });
                }
            }
            _ => {}
        }
    }

    fn poll_transport(&mut self, now: Instant) -> Option<Transport> {
        self.last_now = now;
        if let Some(transport) = self.transport.take() {
            return Some(transport);
        }
        let backoff_over = self.retry_at.is_none_or(|at| at <= now);
        if self.state == State::Closed && self.buffer.wants_write() && backoff_over {
            self.retry_at = None;
            self.state = State::Connecting { since: now, tcp: false };
            debug!(connection = self.index, "connecting");
            return Some(Transport::Open);
        }
        None
    }

    fn poll_transmit(&mut self, now: Instant, out: &mut BytesMut) -> Option<usize> {
        self.last_now = now;
        if self.state != State::Established {
            return None;
        }
        let before = out.len();
        let mut resent = 0u32;
        while out.len() - before < self.lifecycle.write_chunk {
            match self.buffer.poll_transmit(now, out) {
                Some(transmit) => resent += u32::from(matches!(transmit.kind, TransmitKind::Resend(_))),
                None => break,
            }
        }
        if resent > 0 {
            debug!(connection = self.index, resent, "resending");
        }
        let written = out.len() - before;
        if written == 0 {
            return None;
        }
        self.last_activity = now;
        self.bytes_out += written as u64;
        Some(written)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let lifecycle = match self.state {
            State::Connecting { since, .. } => Some(since + self.lifecycle.connect_timeout),
            State::Established if self.buffer.is_idle() => {
                self.lifecycle.idle_timeout.map(|idle| self.last_activity + idle)
            }
            State::Closed if self.buffer.wants_write() => self.retry_at,
            _ => None,
        };
        [lifecycle, self.buffer.poll_timeout(), self.wake_at].into_iter().flatten().min()
    }

    fn poll_event(&mut self, outcomes: bool) -> Option<Event> {
        if let Some(event) = self.notices.pop_front() {
            return Some(event);
        }
        if outcomes {
            return self.poll_buffer();
        }
        None
    }
}
