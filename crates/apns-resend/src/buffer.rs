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
use crate::{Config, ConfigError, Settlement};

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
    /// wait to be written (again).
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
    /// The probe written on the current connection, if any: always the last write on it,
    /// right after the `in_flight` entries (nothing is written behind a probe).
    probe: Option<ProbeInFlight>,
    /// An explicit confirmation ([`SentBuffer::confirm`]) covers every ticket below this.
    confirm_before: Option<u64>,
    /// A probe of the pending explicit confirmation went unanswered.
    confirm_failed: bool,
    /// Unprobed writes on the current connection: plaintext bytes, and when the first was.
    unprobed_bytes: usize,
    first_unprobed_at: Option<Instant>,
    /// `probe_after` passed since the first unprobed write: the next write is a probe.
    probe_due: bool,
    /// The probe went unanswered for `proof_timeout`: the connection should be closed.
    stalled: bool,
    events: VecDeque<Event>,
    /// `Event::Finished` in `events`: they count against the capacity.
    pending_reports: usize,
    pending_diagnostics: usize,
    /// Payload bytes of the entries (counted once per entry even when shared).
    payload_bytes: usize,
    stats: Stats,
}

/// The confirmation probe written on the current connection.
#[derive(Debug, Clone, Copy)]
struct ProbeInFlight {
    serial: u64,
    sent_at: Instant,
}

/// One unsettled notification.
#[derive(Debug)]
struct Entry {
    notification: Notification,
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
            probe: None,
            confirm_before: None,
            confirm_failed: false,
            unprobed_bytes: 0,
            first_unprobed_at: None,
            probe_due: false,
            stalled: false,
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
        self.entries.len()
    }

    /// Notifications written on the current connection and not yet settled (the probe, if
    /// written, is not counted).
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Notifications waiting to be written, resends first.
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
        self.entries.front().is_none_or(|entry| entry.ticket >= ticket.0)
    }

    /// How many more notifications [`send`](Self::send) accepts now.
    pub fn free_capacity(&self) -> usize {
        self.config.capacity.saturating_sub(self.len())
    }

    /// Whether nothing is left to do: nothing unsettled, no probe, no event to poll.
    pub fn is_idle(&self) -> bool {
        self.entries.is_empty()
            && self.events.is_empty()
            && self.probe.is_none()
            && self.confirm_before.is_none()
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) has something to write on the current
    /// connection (it may also free room by aging entries, or decide a probe is due, so `false`
    /// can turn `true` with time).
    pub fn wants_write(&self) -> bool {
        self.state == ConnectionState::Open
            && ((self.in_flight < self.window && self.entries.len() > self.in_flight) || self.probe_now())
    }

    /// Whether the current connection should be closed: a probe written on it went unanswered
    /// for [`Config::proof_timeout`], so the gateway is not reading it (or not answering). What
    /// was in flight before the probe is already reported
    /// [`Unconfirmed`](Outcome::Unconfirmed). The I/O layer closes the connection and calls
    /// [`handle_close`](Self::handle_close); the rest is written on the next one.
    pub fn wants_close(&self) -> bool {
        self.stalled
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
        self.entries.push_back(Entry::new(notification, ticket.0));
        self.stats.handed_in += 1;
        Ok(ticket)
    }

    /// Requests an explicit confirmation: a deliberately invalid notification (no device token)
    /// is written once everything handed in so far is. Its error response, naming its own
    /// identifier, proves that the gateway processed every notification before it, which are
    /// then all [`Accepted`](Outcome::Accepted), followed by [`Event::Confirmed`] once every
    /// notification handed in before the call has settled.
    ///
    /// The price: the gateway closes the connection after answering, and nothing more is written
    /// on it once the probe is (see the crate docs, "Explicit confirmation"). Under
    /// [`Settlement::Prove`] (the default) the buffer also probes on its own, behind every
    /// window; `confirm` makes the last window short. If the probe goes unanswered for
    /// [`Config::proof_timeout`], what it covered is [`Unconfirmed`](Outcome::Unconfirmed) and
    /// [`Event::ConfirmationFailed`] follows: a confirmation proves or fails, it never presumes.
    pub fn confirm(&mut self) -> Result<Confirmation, ConfirmError> {
        if self.config.format == Format::Simple {
            return Err(ConfirmError::Unsupported);
        }
        if self.confirm_before.is_some() {
            return Err(ConfirmError::AlreadyPending);
        }
        if self.entries.is_empty() {
            return Ok(Confirmation::Settled);
        }
        self.confirm_before = Some(self.next_ticket);
        Ok(Confirmation::Queued)
    }

    /// Gives up every unsettled notification: each is reported
    /// [`Failed`](Outcome::Failed)`(`[`Abandoned`](FailReason::Abandoned)`)` (those with
    /// [`Report::writes`] > 0 may still have been delivered), and a pending confirmation ends
    /// with [`Event::ConfirmationFailed`]. The buffer stays usable.
    pub fn abandon(&mut self) {
        let entries = mem::take(&mut self.entries);
        self.in_flight = 0;
        self.probe = None;
        self.reset_unprobed();
        if self.state == ConnectionState::Confirming {
            self.state = ConnectionState::Open;
        }
        for entry in entries {
            self.settle(entry, Outcome::Failed(FailReason::Abandoned));
        }
        self.confirm_failed = false;
        if self.confirm_before.take().is_some() {
            self.events.push_back(Event::ConfirmationFailed);
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
    /// - If it names the probe, everything before it is accepted (and [`Event::Confirmed`]
    ///   follows if it completes an explicit confirmation).
    /// - If it names 0 or any identifier not in flight, everything in flight has an unknown fate
    ///   (see the crate docs, "Unknown identifiers").
    ///
    /// Either way the connection is [`Failed`](ConnectionState::Failed): nothing more is written
    /// until [`handle_close`](Self::handle_close).
    pub fn handle_error_response(&mut self, now: Instant, response: ErrorResponse) {
        let _ = now; // Error responses are facts: they are applied before any aging.
        self.stats.error_responses += 1;
        if self.names_probe(response.id) {
            self.stats.confirmations += 1;
            for _ in 0..mem::take(&mut self.in_flight) {
                let Some(entry) = self.entries.pop_front() else { break };
                self.settle(entry, Outcome::Accepted);
            }
        } else {
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
        }
        self.probe = None;
        self.reset_unprobed();
        self.state = ConnectionState::Failed;
        self.check_confirmed();
    }

    /// The current connection closed, after an error response or not.
    ///
    /// Notifications still in flight (under [`Settlement::Presume`], those that have not
    /// reached `max_age`) had an unknown fate: the gateway may have processed them or not. They
    /// are written again on the next connection, each counted as an uncertain write (a possible
    /// duplicate if later accepted, bounded by [`Config::max_uncertain_writes`]), and the window
    /// is halved. A probe in flight is lost with them (an explicit confirmation writes another).
    /// The next write starts a new connection.
    pub fn handle_close(&mut self, now: Instant) {
        self.expire(now);
        self.stats.closes += 1;
        if self.in_flight > 0 {
            self.stats.silent_closes += 1;
            self.requeue_unknown_fate();
        }
        self.probe = None;
        self.reset_unprobed();
        self.stalled = false;
        self.state = ConnectionState::Open;
        self.connection_start = self.next_serial;
        self.check_confirmed();
    }

    /// Time passed: under [`Settlement::Presume`], notifications in flight for `max_age` with no
    /// error response are [`PresumedAccepted`](Outcome::PresumedAccepted); a probe unanswered
    /// for `proof_timeout` leaves what it covered [`Unconfirmed`](Outcome::Unconfirmed); under
    /// [`Settlement::Prove`], `probe_after` after the first unprobed write a probe is due. A
    /// call before [`poll_timeout`](Self::poll_timeout) is a harmless no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    // Output.

    /// Appends the next write on the current connection to `out`, with the wire identifier the
    /// buffer assigned, and records it as in flight since `now`.
    ///
    /// Notifications to write again come first, in the order they were handed in, then new
    /// ones; a probe goes behind them when one is due (see [`Settlement::Prove`] and
    /// [`confirm`](Self::confirm)). Returns `None` when nothing is queued, when `max_in_flight`
    /// notifications are in flight, after an error response, or after a probe (until
    /// [`handle_close`](Self::handle_close)).
    ///
    /// Under [`Settlement::Presume`], `max_age` counts from `now`, so call this only when the
    /// bytes will go to the socket promptly (while the TLS writer has room), not to fill a
    /// backlog the gateway reads seconds later.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, out: &mut BytesMut) -> Option<Transmit> {
        self.expire(now);
        if self.state != ConnectionState::Open {
            return None;
        }
        let serial = self.next_serial;
        let wire_id = wire::wire_id(serial);
        let format = self.config.format;
        let before = out.len();
        if self.probe_now() {
            wire::encode_probe(format, wire_id, out);
            self.probe = Some(ProbeInFlight { serial, sent_at: now });
            self.reset_unprobed();
            self.state = ConnectionState::Confirming;
            self.next_serial += 1;
            self.stats.probes += 1;
            return Some(Transmit { wire_id, len: out.len() - before, kind: TransmitKind::Probe });
        }
        if self.in_flight >= self.window {
            return None;
        }
        let entry = self.entries.get_mut(self.in_flight)?;
        entry.notification.encode_with_id(format, wire_id, out);
        let kind = if entry.writes == 0 {
            TransmitKind::First(Ticket(entry.ticket))
        } else {
            self.stats.resends += 1;
            TransmitKind::Resend(Ticket(entry.ticket))
        };
        entry.serial = serial;
        entry.sent_at = Some(now);
        entry.writes = entry.writes.saturating_add(1);
        self.next_serial += 1;
        self.in_flight += 1;
        self.stats.writes += 1;
        let len = out.len() - before;
        self.unprobed_bytes += len;
        self.first_unprobed_at.get_or_insert(now);
        Some(Transmit { wire_id, len, kind })
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

    /// When to call [`handle_timeout`](Self::handle_timeout): when a probe in flight reaches
    /// `proof_timeout`; under [`Settlement::Presume`], when the oldest notification in flight
    /// reaches `max_age`; under [`Settlement::Prove`], when a probe becomes due. `None` when
    /// nothing is in flight.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if let Some(probe) = self.probe {
            let proof = probe.sent_at.checked_add(self.config.proof_timeout);
            if !self.proves() {
                return proof.into_iter().chain(self.age_deadline()).min();
            }
            return proof;
        }
        if self.in_flight == 0 || self.state != ConnectionState::Open {
            return self.age_deadline();
        }
        if self.proves() {
            if self.probe_due {
                return None; // Due now: `wants_write` says so.
            }
            return self.first_unprobed_at?.checked_add(self.config.probe_after);
        }
        self.age_deadline()
    }

    // Internals.

    /// Whether notifications settle by proof: [`Settlement::Prove`], in a format that can be
    /// probed.
    fn proves(&self) -> bool {
        self.config.settlement == Settlement::Prove && self.config.format != Format::Simple
    }

    /// When the oldest notification in flight reaches `max_age` (unless settled by proof).
    fn age_deadline(&self) -> Option<Instant> {
        if self.proves() || self.in_flight == 0 {
            return None;
        }
        self.entries.front()?.sent_at?.checked_add(self.config.max_age)
    }

    /// Whether the next write on the current connection is a probe.
    fn probe_now(&self) -> bool {
        if self.state != ConnectionState::Open || self.in_flight == 0 || self.config.format == Format::Simple
        {
            return false;
        }
        // An explicit confirmation: everything it covers is written.
        let covered = self
            .confirm_before
            .is_some_and(|before| self.entries.get(self.in_flight).is_none_or(|next| next.ticket >= before));
        if covered {
            return true;
        }
        if !self.proves() {
            return false;
        }
        let config = &self.config;
        // A full window would never settle without a probe.
        self.in_flight >= self.window
            || self.probe_due
            || self.in_flight >= config.probe_every
            || self.unprobed_bytes >= config.probe_bytes
    }

    fn reset_unprobed(&mut self) {
        self.unprobed_bytes = 0;
        self.first_unprobed_at = None;
        self.probe_due = false;
    }

    /// Applies time: a probe unanswered for `proof_timeout`, a probe becoming due, and (under
    /// [`Settlement::Presume`]) in-flight entries older than `max_age`, oldest first.
    fn expire(&mut self, now: Instant) {
        if let Some(probe) = self.probe {
            if now.saturating_duration_since(probe.sent_at) >= self.config.proof_timeout {
                self.give_up_proof();
            }
        }
        if self.proves() {
            if self.probe.is_none()
                && self
                    .first_unprobed_at
                    .is_some_and(|at| now.saturating_duration_since(at) >= self.config.probe_after)
            {
                self.probe_due = true;
            }
            return;
        }
        let outcome = if self.config.settlement == Settlement::Prove {
            // The simple format cannot be probed: under Prove nothing is ever presumed.
            Outcome::Unconfirmed
        } else {
            Outcome::PresumedAccepted
        };
        while self.in_flight > 0 {
            let Some(sent_at) = self.entries.front().and_then(|entry| entry.sent_at) else { return };
            if now.saturating_duration_since(sent_at) < self.config.max_age {
                return;
            }
            let Some(entry) = self.entries.pop_front() else { return };
            self.in_flight -= 1;
            self.settle(entry, outcome);
        }
        if self.probe.is_none() {
            self.check_confirmed();
        }
    }

    /// The probe went unanswered for `proof_timeout`: what it covered was written, and its fate
    /// is unknown. Nothing more is written on this connection; the I/O layer closes it
    /// ([`wants_close`](Self::wants_close)).
    fn give_up_proof(&mut self) {
        self.probe = None;
        self.stats.proof_timeouts += 1;
        for _ in 0..mem::take(&mut self.in_flight) {
            let Some(entry) = self.entries.pop_front() else { break };
            self.settle(entry, Outcome::Unconfirmed);
        }
        self.stalled = true;
        self.state = ConnectionState::Failed;
        self.confirm_failed |= self.confirm_before.is_some();
        self.check_confirmed();
    }

    /// Ends an explicit confirmation once everything it covers has settled.
    fn check_confirmed(&mut self) {
        let Some(before) = self.confirm_before else { return };
        if self.settled_before(Ticket(before)) {
            self.confirm_before = None;
            let failed = mem::take(&mut self.confirm_failed);
            self.events.push_back(if failed { Event::ConfirmationFailed } else { Event::Confirmed });
        }
    }

    /// Whether `id` names the probe in flight.
    fn names_probe(&self, id: NotificationId) -> bool {
        self.probe.is_some_and(|probe| wire::wire_id(probe.serial) == id)
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
        if status.is_shutdown() {
            self.settle(named, Outcome::Accepted);
            self.push_diagnostic(Event::Shutdown);
        } else if status.is_permanent() {
            self.settle(named, Outcome::Rejected(status));
        } else {
            named.retries = named.retries.saturating_add(1);
            if named.retries > self.config.max_retries {
                let reason = FailReason::RetriesExhausted { last_status: Some(status) };
                self.settle(named, Outcome::Failed(reason));
            } else {
                let (id, token) = (named.notification.id, named.notification.token);
                self.push_diagnostic(Event::Retrying { ticket: Ticket(named.ticket), id, token, status });
                self.entries.push_front(named);
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
    /// resends and never get further. Halved, the next window fits, is proved (or ages out)
    /// and the window grows back by one per settled notification.
    fn requeue_unknown_fate(&mut self) {
        let count = mem::take(&mut self.in_flight);
        // Under Prove the probe window is the effective window: the floor follows it.
        let full = if self.proves() {
            self.config.max_in_flight.min(self.config.probe_every)
        } else {
            self.config.max_in_flight
        };
        let floor = (full / MIN_WINDOW_DIVISOR).max(1);
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
        let notification = entry.notification;
        self.payload_bytes = self.payload_bytes.saturating_sub(notification.payload.len());
        if !matches!(outcome, Outcome::Failed(_) | Outcome::Unconfirmed) {
            // The gateway is processing again: regrow the window after a halving.
            self.window = (self.window + 1).min(self.config.max_in_flight);
        }
        let stats = &mut self.stats;
        match outcome {
            Outcome::Accepted => stats.accepted += 1,
            Outcome::PresumedAccepted => stats.presumed_accepted += 1,
            Outcome::Unconfirmed => stats.unconfirmed += 1,
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
    fn new(notification: Notification, ticket: u64) -> Self {
        Self { notification, ticket, serial: 0, sent_at: None, writes: 0, uncertain_writes: 0, retries: 0 }
    }
}
