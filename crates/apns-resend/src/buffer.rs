//! The state machine.

use std::collections::VecDeque;
use std::mem;
use std::time::Instant;

use apns_proto::{ErrorResponse, Format, Notification, NotificationId, Status};
use bytes::BytesMut;

use crate::event::{
    ConfirmError, Confirmation, ConnectionState, Event, FailReason, Full, Outcome, Report, Stats, Ticket,
    Transmit, TransmitKind,
};
use crate::wire;
use crate::{Config, ConfigError};

/// The window never shrinks below `max_in_flight / MIN_WINDOW_DIVISOR`: four halvings from a
/// full window suffice against any gateway that lets a sixteenth of it through, and a floor keeps
/// the occasional drop from throttling small sends.
const MIN_WINDOW_DIVISOR: usize = 16;

/// Most events about error responses ([`Event::UnmatchedError`], [`Event::Retrying`],
/// [`Event::Shutdown`]) kept while nobody polls; later ones are only counted in [`Stats`], so a
/// gateway flooding error responses cannot grow memory.
const MAX_PENDING_DIAGNOSTICS: usize = 64;

/// The sent-notification buffer of one gateway connection slot: a deterministic state machine
/// with no I/O and no clock.
///
/// One `SentBuffer` serves a sequence of connections, one at a time: the connection it refers to
/// is "the current one" until [`handle_close`](Self::handle_close), and the next write starts a
/// new one. To write on several connections in parallel, give each its own `SentBuffer`.
///
/// # Methods
///
/// Like `quinn_proto::Connection`, methods come in four kinds:
///
/// - **getters** ([`stats`](Self::stats), [`len`](Self::len), [`in_flight`](Self::in_flight),
///   [`wants_write`](Self::wants_write), ...) change nothing;
/// - **commands** from the application: [`send`](Self::send), [`confirm`](Self::confirm),
///   [`abandon`](Self::abandon);
/// - **`handle_*`** report what happened: [`handle_error_response`](Self::handle_error_response),
///   [`handle_close`](Self::handle_close), [`handle_timeout`](Self::handle_timeout);
/// - **`poll_*`** return the work to do: [`poll_transmit`](Self::poll_transmit) (what to write
///   now: resends first, in their original order, then new notifications),
///   [`poll_event`](Self::poll_event) (outcomes), [`poll_timeout`](Self::poll_timeout) (when to
///   call `handle_timeout`).
///
/// After any command or `handle_*` call, drain `poll_transmit` while the connection can take
/// bytes, then `poll_event`, then ask `poll_timeout`. An I/O loop should read an error response
/// (and call `handle_error_response`) before reporting the close that follows it.
///
/// ```
/// use std::time::{Duration, Instant};
/// use apns_proto::{ErrorResponse, Notification, Payload, PayloadLimit, Status};
/// use apns_resend::{Config, Event, Outcome, SentBuffer};
/// use bytes::BytesMut;
///
/// let payload = Payload::new().alert("Hi").encode(PayloadLimit::BINARY)?;
/// let good = Notification::new([1; 32].into(), payload.clone());
/// let bad = Notification::new([2; 32].into(), payload);
///
/// let mut buffer = SentBuffer::new(Config::default())?;
/// let now = Instant::now();
/// let first = buffer.send(good.clone()).unwrap();
/// let second = buffer.send(bad).unwrap();
/// let third = buffer.send(good).unwrap();
///
/// let mut wire = BytesMut::new();
/// let mut ids = Vec::new();
/// while let Some(transmit) = buffer.poll_transmit(now, &mut wire) {
///     ids.push(transmit.wire_id); // `wire` now also holds these bytes: write them
/// }
/// // The gateway rejects the second notification, then closes the connection.
/// let later = now + Duration::from_millis(300);
/// buffer.handle_error_response(later, ErrorResponse { status: Status::INVALID_TOKEN, id: ids[1] });
/// buffer.handle_close(later);
///
/// let outcomes: Vec<_> = std::iter::from_fn(|| buffer.poll_event())
///     .map(|event| match event { Event::Finished(report) => (report.ticket, report.outcome), _ => unreachable!() })
///     .collect();
/// assert_eq!(outcomes, [(first, Outcome::Accepted), (second, Outcome::Rejected(Status::INVALID_TOKEN))]);
///
/// // The third is written again on the next connection, with a fresh wire identifier.
/// wire.clear();
/// let resend = buffer.poll_transmit(later, &mut wire).unwrap();
/// assert_eq!(resend.kind, apns_resend::TransmitKind::Resend(third));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SentBuffer {
    config: Config,
    /// Every unsettled notification, in the order handed in (ticket order). The first
    /// `in_flight` were written on the current connection, with consecutive serials; the rest
    /// wait to be written (again). At most one entry is a probe.
    entries: VecDeque<Entry>,
    in_flight: usize,
    /// The current limit on `in_flight`: `max_in_flight`, halved (down to a sixteenth of it)
    /// after each close that left notifications of unknown fate, growing back by one per
    /// notification settled.
    window: usize,
    state: ConnectionState,
    /// Serial of the next write.
    next_serial: u64,
    /// Serial of the first write on the current connection.
    connection_start: u64,
    next_ticket: u64,
    probe_pending: bool,
    events: VecDeque<Event>,
    /// `Event::Finished` in `events`: they count against the capacity.
    pending_reports: usize,
    pending_diagnostics: usize,
    /// Payload bytes of the entries (counted once per entry even when shared).
    payload_bytes: usize,
    stats: Stats,
}

/// One unsettled notification (or the probe).
#[derive(Debug)]
struct Entry {
    body: Body,
    ticket: u64,
    /// Serial of the latest write (meaningful while in flight).
    serial: u64,
    /// When it was last written (meaningful while in flight).
    sent_at: Option<Instant>,
    writes: u32,
    uncertain_writes: u8,
    /// Transient statuses charged against `max_retries`.
    retries: u8,
}

#[derive(Debug)]
enum Body {
    Notification(Notification),
    Probe,
}

impl SentBuffer {
    /// A buffer with no connection history.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            window: config.max_in_flight,
            config,
            entries: VecDeque::new(),
            in_flight: 0,
            state: ConnectionState::Open,
            next_serial: 0,
            connection_start: 0,
            next_ticket: 0,
            probe_pending: false,
            events: VecDeque::new(),
            pending_reports: 0,
            pending_diagnostics: 0,
            payload_bytes: 0,
            stats: Stats::default(),
        })
    }

    // Getters.

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters since creation.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Notifications held against the capacity: unsettled ones plus reports not yet polled.
    pub fn len(&self) -> usize {
        self.unsettled() + self.pending_reports
    }

    /// Whether no notification is held (see [`len`](Self::len)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Notifications not yet settled (in flight or waiting to be written).
    pub fn unsettled(&self) -> usize {
        self.entries.len().saturating_sub(usize::from(self.probe_pending))
    }

    /// Notifications (and probe) written on the current connection and not yet settled.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Notifications (and probe) waiting to be written, resends first.
    pub fn queued(&self) -> usize {
        self.entries.len().saturating_sub(self.in_flight)
    }

    /// The ticket the next notification handed in will get: every notification handed in so far
    /// has a smaller one.
    pub fn next_ticket(&self) -> Ticket {
        Ticket(self.next_ticket)
    }

    /// Whether every notification handed in with a ticket below `ticket` has settled (its
    /// report may still wait in [`poll_event`](Self::poll_event)). Unsettled notifications are
    /// kept in ticket order, so this is O(1).
    pub fn settled_before(&self, ticket: Ticket) -> bool {
        self.entries
            .iter()
            .find(|entry| matches!(entry.body, Body::Notification(_)))
            .is_none_or(|entry| entry.ticket >= ticket.0)
    }

    /// How many more notifications [`send`](Self::send) accepts now.
    pub fn free_capacity(&self) -> usize {
        self.config.capacity.saturating_sub(self.len())
    }

    /// Whether nothing is left to do: nothing unsettled, no probe, no event to poll.
    pub fn is_idle(&self) -> bool {
        self.entries.is_empty() && self.events.is_empty()
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) has something to write on the current
    /// connection (it may also free room by aging entries, so `false` can turn `true` with time).
    pub fn wants_write(&self) -> bool {
        self.state == ConnectionState::Open
            && self.in_flight < self.window
            && self.entries.len() > self.in_flight
    }

    /// The current limit on notifications in flight: [`Config::max_in_flight`], or less after
    /// closes that left notifications of unknown fate (see the crate docs, "Closes without an
    /// error response").
    pub fn window(&self) -> usize {
        self.window
    }

    /// Where the current connection stands.
    pub fn connection_state(&self) -> ConnectionState {
        self.state
    }

    /// Payload bytes held by unsettled notifications (a payload shared by several notifications
    /// is counted once per notification, so this is an upper bound).
    pub fn payload_bytes(&self) -> usize {
        self.payload_bytes
    }

    /// Bookkeeping bytes per held notification, besides its payload: the size of one queue
    /// entry. See the crate docs, "Memory".
    pub const fn entry_size() -> usize {
        mem::size_of::<Entry>()
    }

    /// An upper bound of the heap memory used: the allocated queue slots (entries and events)
    /// plus [`payload_bytes`](Self::payload_bytes).
    pub fn memory_usage(&self) -> usize {
        self.entries.capacity() * mem::size_of::<Entry>()
            + self.events.capacity() * mem::size_of::<Event>()
            + self.payload_bytes
    }

    // Commands.

    /// Hands a notification in, to be written after everything handed in before it.
    ///
    /// Its own identifier is kept for the [`Report`] only; the buffer numbers writes itself, so
    /// duplicate or zero user identifiers are harmless. Returns [`Full`], giving the notification
    /// back, when [`len`](Self::len) has reached the capacity.
    pub fn send(&mut self, notification: Notification) -> Result<Ticket, Full> {
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        if self.len() >= self.config.capacity {
            self.stats.refused += 1;
            return Err(Full { ticket, notification });
        }
        self.payload_bytes += notification.payload.len();
        self.entries.push_back(Entry::new(Body::Notification(notification), ticket.0));
        self.stats.handed_in += 1;
        Ok(ticket)
    }

    /// Requests an explicit confirmation: a deliberately invalid notification (no device token)
    /// is queued after everything handed in so far. Its error response, naming its own
    /// identifier, proves that the gateway processed every notification before it, which are
    /// then all [`Accepted`](Outcome::Accepted), followed by [`Event::Confirmed`].
    ///
    /// The price: the gateway closes the connection after answering, and nothing more is written
    /// on it once the probe is (see the crate docs, "Explicit confirmation"). Use it for a
    /// graceful close or flush, not routinely.
    pub fn confirm(&mut self) -> Result<Confirmation, ConfirmError> {
        if self.config.format == Format::Simple {
            return Err(ConfirmError::Unsupported);
        }
        if self.probe_pending {
            return Err(ConfirmError::AlreadyPending);
        }
        if self.entries.is_empty() {
            return Ok(Confirmation::Settled);
        }
        self.probe_pending = true;
        self.entries.push_back(Entry::new(Body::Probe, self.next_ticket));
        Ok(Confirmation::Queued)
    }

    /// Gives up every unsettled notification: each is reported
    /// [`Failed`](Outcome::Failed)`(`[`Abandoned`](FailReason::Abandoned)`)` (those with
    /// [`Report::writes`] > 0 may still have been delivered), and a pending probe ends with
    /// [`Event::ConfirmationFailed`]. The buffer stays usable.
    pub fn abandon(&mut self) {
        let entries = mem::take(&mut self.entries);
        self.in_flight = 0;
        if self.state == ConnectionState::Confirming {
            self.state = ConnectionState::Open;
        }
        for entry in entries {
            self.settle(entry, Outcome::Failed(FailReason::Abandoned));
        }
    }

    // Events in.

    /// An error response arrived on the current connection.
    ///
    /// - If it names a notification in flight, every notification written before it on this
    ///   connection is [`Accepted`](Outcome::Accepted). The named one is accepted too for status
    ///   10 (shutdown), [`Rejected`](Outcome::Rejected) for a permanent status (2 to 8), and
    ///   otherwise (1, 255, undocumented codes) written again unless its retries are exhausted.
    ///   Everything written after it was discarded by the gateway and is written again on the
    ///   next connection, without counting as a retry.
    /// - If it names the probe, everything before it is accepted and [`Event::Confirmed`] follows.
    /// - If it names 0 or any identifier not in flight, everything in flight has an unknown fate
    ///   (see the crate docs, "Unknown identifiers").
    ///
    /// Either way the connection is [`Failed`](ConnectionState::Failed): nothing more is written
    /// until [`handle_close`](Self::handle_close).
    pub fn handle_error_response(&mut self, now: Instant, response: ErrorResponse) {
        let _ = now; // Error responses are facts: they are applied before any aging.
        self.stats.error_responses += 1;
        match self.position(response.id) {
            Some(index) => self.settle_named(index, response.status),
            None => {
                let late = self.is_late(response.id);
                self.stats.unmatched_errors += 1;
                self.stats.late_errors += u64::from(late);
                self.push_diagnostic(Event::UnmatchedError { response, late });
                self.requeue_unknown_fate();
            }
        }
        self.state = ConnectionState::Failed;
    }

    /// The current connection closed, after an error response or not.
    ///
    /// Notifications still in flight that have not reached `max_age` had an unknown fate: the
    /// gateway may have processed them or not. They are written again on the next connection,
    /// each counted as an uncertain write (a possible duplicate if later accepted, bounded by
    /// [`Config::max_uncertain_writes`]), and the window is halved. The next write starts a new
    /// connection.
    pub fn handle_close(&mut self, now: Instant) {
        self.expire(now);
        self.stats.closes += 1;
        if self.in_flight > 0 {
            self.stats.silent_closes += 1;
            self.requeue_unknown_fate();
        }
        self.state = ConnectionState::Open;
        self.connection_start = self.next_serial;
    }

    /// Time passed: notifications in flight for `max_age` with no error response are
    /// [`PresumedAccepted`](Outcome::PresumedAccepted). A call before
    /// [`poll_timeout`](Self::poll_timeout) is a harmless no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    // Output.

    /// Appends the next notification to write on the current connection to `out`, with the wire
    /// identifier the buffer assigned, and records it as in flight since `now`.
    ///
    /// Notifications to write again come first, in the order they were handed in, then new
    /// ones. Returns `None` when nothing is queued, when `max_in_flight` notifications are in
    /// flight, after an error response, or after a probe (until
    /// [`handle_close`](Self::handle_close)).
    ///
    /// `max_age` counts from `now`, so call this only when the bytes will go to the socket
    /// promptly (while the TLS writer has room), not to fill a backlog the gateway reads seconds
    /// later.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, out: &mut BytesMut) -> Option<Transmit> {
        self.expire(now);
        if !self.wants_write() {
            return None;
        }
        let serial = self.next_serial;
        let wire_id = wire::wire_id(serial);
        let format = self.config.format;
        let entry = self.entries.get_mut(self.in_flight)?;
        let before = out.len();
        let kind = match &entry.body {
            Body::Notification(notification) => {
                notification.encode_with_id(format, wire_id, out);
                if entry.writes == 0 {
                    TransmitKind::First(Ticket(entry.ticket))
                } else {
                    TransmitKind::Resend(Ticket(entry.ticket))
                }
            }
            Body::Probe => {
                wire::encode_probe(format, wire_id, out);
                TransmitKind::Probe
            }
        };
        entry.serial = serial;
        entry.sent_at = Some(now);
        entry.writes = entry.writes.saturating_add(1);
        self.next_serial += 1;
        self.in_flight += 1;
        match kind {
            TransmitKind::First(_) => self.stats.writes += 1,
            TransmitKind::Resend(_) => {
                self.stats.writes += 1;
                self.stats.resends += 1;
            }
            TransmitKind::Probe => self.state = ConnectionState::Confirming,
        }
        Some(Transmit { wire_id, len: out.len() - before, kind })
    }

    /// The next event: outcomes in the order notifications settle, and confirmation and
    /// diagnostic events.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        match event {
            Event::Finished(_) => self.pending_reports = self.pending_reports.saturating_sub(1),
            Event::UnmatchedError { .. } | Event::Retrying { .. } | Event::Shutdown => {
                self.pending_diagnostics = self.pending_diagnostics.saturating_sub(1)
            }
            Event::Confirmed | Event::ConfirmationFailed => {}
        }
        Some(event)
    }

    /// When to call [`handle_timeout`](Self::handle_timeout): when the oldest notification in
    /// flight reaches `max_age`. `None` when nothing is in flight.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.in_flight == 0 {
            return None;
        }
        self.entries.front()?.sent_at?.checked_add(self.config.max_age)
    }

    // Internals.

    /// Settles in-flight entries older than `max_age`, oldest first.
    fn expire(&mut self, now: Instant) {
        while self.in_flight > 0 {
            let Some(sent_at) = self.entries.front().and_then(|entry| entry.sent_at) else { return };
            if now.saturating_duration_since(sent_at) < self.config.max_age {
                return;
            }
            let Some(entry) = self.entries.pop_front() else { return };
            self.in_flight -= 1;
            if matches!(entry.body, Body::Probe) && self.state == ConnectionState::Confirming {
                // The gateway did not treat the probe as invalid: writing may go on.
                self.state = ConnectionState::Open;
            }
            self.settle(entry, Outcome::PresumedAccepted);
        }
    }

    /// The position in `entries` of the in-flight write with identifier `id`.
    fn position(&self, id: NotificationId) -> Option<usize> {
        let front = self.entries.front().filter(|_| self.in_flight > 0)?;
        let offset = usize::try_from(wire::distance_after(front.serial, id)?).ok()?;
        if offset >= self.in_flight {
            return None;
        }
        let entry = self.entries.get(offset)?;
        (entry.serial == front.serial + offset as u64).then_some(offset)
    }

    /// Whether `id` was written on the current connection but has left the window.
    fn is_late(&self, id: NotificationId) -> bool {
        let oldest = match self.entries.front() {
            Some(front) if self.in_flight > 0 => front.serial,
            _ => self.next_serial,
        };
        // How far back from `oldest` the identifier was written (modulo 2^32 - 1).
        match wire::distance_after(oldest, id) {
            Some(0) | None => false,
            Some(forward) => {
                let back = (u64::from(u32::MAX) - forward) % u64::from(u32::MAX);
                back > 0 && back <= oldest.saturating_sub(self.connection_start)
            }
        }
    }

    /// Applies an error response naming the in-flight entry at `index`.
    fn settle_named(&mut self, index: usize, status: Status) {
        for _ in 0..index {
            let Some(entry) = self.entries.pop_front() else { return };
            self.settle(entry, Outcome::Accepted);
        }
        self.in_flight -= index;
        let Some(mut named) = self.entries.pop_front() else { return };
        self.in_flight -= 1;
        match named.body {
            Body::Probe => {
                self.stats.confirmations += 1;
                self.settle(named, Outcome::Accepted);
            }
            Body::Notification(_) if status.is_shutdown() => {
                self.settle(named, Outcome::Accepted);
                self.push_diagnostic(Event::Shutdown);
            }
            Body::Notification(_) if status.is_permanent() => self.settle(named, Outcome::Rejected(status)),
            Body::Notification(ref notification) => {
                named.retries = named.retries.saturating_add(1);
                if named.retries > self.config.max_retries {
                    let reason = FailReason::RetriesExhausted { last_status: Some(status) };
                    self.settle(named, Outcome::Failed(reason));
                } else {
                    let (id, token) = (notification.id, notification.token);
                    self.push_diagnostic(Event::Retrying { ticket: Ticket(named.ticket), id, token, status });
                    self.entries.push_front(named);
                }
            }
        }
        // The rest was discarded by the gateway: it goes back to the queue, in order, as it is.
        self.in_flight = 0;
    }

    /// Everything in flight had an unknown fate: charge an uncertain write to each, give up
    /// those over budget, queue the rest again in order, and halve the window.
    ///
    /// Halving matters when a gateway drops connections after a fixed number of notifications:
    /// with a window as large as that number, every connection would spend itself on the same
    /// resends and never get further. Halved, the next window fits, ages out (or is proved) and
    /// the window grows back by one per settled notification.
    fn requeue_unknown_fate(&mut self) {
        let count = mem::take(&mut self.in_flight);
        let floor = (self.config.max_in_flight / MIN_WINDOW_DIVISOR).max(1);
        self.window = (count / 2).clamp(floor, self.config.max_in_flight);
        let max_uncertain = self.config.max_uncertain_writes;
        let mut exhausted = false;
        for entry in self.entries.iter_mut().take(count) {
            entry.uncertain_writes = entry.uncertain_writes.saturating_add(1);
            exhausted |= entry.uncertain_writes > max_uncertain;
        }
        self.stats.uncertain_writes += count as u64;
        if !exhausted {
            return;
        }
        // Rare (a gateway that never lets these through): rebuild the queue without them.
        let mut kept = VecDeque::with_capacity(self.entries.len());
        let entries = mem::take(&mut self.entries);
        for (index, entry) in entries.into_iter().enumerate() {
            if index < count && entry.uncertain_writes > max_uncertain {
                let reason = FailReason::RetriesExhausted { last_status: None };
                self.settle(entry, Outcome::Failed(reason));
            } else {
                kept.push_back(entry);
            }
        }
        self.entries = kept;
    }

    /// Queues an event about an error response (not an outcome), unless
    /// [`MAX_PENDING_DIAGNOSTICS`] are already waiting to be polled.
    fn push_diagnostic(&mut self, event: Event) {
        if self.pending_diagnostics < MAX_PENDING_DIAGNOSTICS {
            self.pending_diagnostics += 1;
            self.events.push_back(event);
        }
    }

    /// Reports the final outcome of an entry taken out of `entries`.
    fn settle(&mut self, entry: Entry, outcome: Outcome) {
        let notification = match entry.body {
            Body::Notification(notification) => notification,
            Body::Probe => {
                self.probe_pending = false;
                let confirmed = outcome == Outcome::Accepted;
                self.events.push_back(if confirmed { Event::Confirmed } else { Event::ConfirmationFailed });
                return;
            }
        };
        self.payload_bytes = self.payload_bytes.saturating_sub(notification.payload.len());
        if !matches!(outcome, Outcome::Failed(_)) {
            // The gateway is processing again: regrow the window after a halving.
            self.window = (self.window + 1).min(self.config.max_in_flight);
        }
        let stats = &mut self.stats;
        match outcome {
            Outcome::Accepted => stats.accepted += 1,
            Outcome::PresumedAccepted => stats.presumed_accepted += 1,
            Outcome::Rejected(_) => stats.rejected += 1,
            Outcome::Failed(_) => stats.failed += 1,
        }
        let report = Report {
            ticket: Ticket(entry.ticket),
            id: notification.id,
            token: notification.token,
            outcome,
            writes: entry.writes,
            uncertain_writes: entry.uncertain_writes,
        };
        stats.possible_duplicates += u64::from(report.possible_duplicate());
        self.pending_reports += 1;
        self.events.push_back(Event::Finished(report));
    }
}

#[cfg(test)]
impl SentBuffer {
    /// Starts numbering writes at `serial`, to test the wrap-around of wire identifiers.
    pub(crate) fn with_next_serial(mut self, serial: u64) -> Self {
        self.next_serial = serial;
        self.connection_start = serial;
        self
    }
}

impl Entry {
    fn new(body: Body, ticket: u64) -> Self {
        Self { body, ticket, serial: 0, sent_at: None, writes: 0, uncertain_writes: 0, retries: 0 }
    }
}
