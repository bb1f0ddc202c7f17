//! The machine.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use apns_auth::{Refresh, TokenGeneration, TokenPolicy};
use apns_h2::{Fate, GoAway, Processed, Request};
use apns_proto::http2::{goaway_reason, ApnsId, ApnsIdGenerator, Classification, Reason, Response};
use apns_proto::Expiry;

use super::config::{ConfigError, DeliveryConfig};
use super::types::{
    ConnId, ConnectionLoss, Event, FailReason, Full, HaltReason, Item, Notification, Outcome, Rejection,
    Report, RetryCause, Stats, StreamKey, TransportCommand,
};

/// How requests authenticate.
#[derive(Debug)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // One per gateway.
pub enum Auth {
    /// Provider tokens (JWT) from this policy, in `authorization`. A connection carries one
    /// stream until a request with the current token is answered 2xx (Apple's rule).
    Token(TokenPolicy),
    /// A client certificate (the TLS layer's): no `authorization` header.
    Certificate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    Waiting(Instant),
    InFlight(ConnId),
}

#[derive(Debug)]
struct Entry<U> {
    item: Item<U>,
    apns_id: ApnsId,
    state: State,
    retries: u32,
    attempts: u32,
    possible_duplicate: bool,
    cancelled: bool,
    token: Option<TokenGeneration>,
    /// Its deadline/expiry timer is in `expiries` (at most one live timer per entry).
    armed: bool,
}

#[derive(Debug)]
struct Slot<U> {
    generation: u32,
    entry: Option<Entry<U>>,
    /// Settled: the entry waits in its slot, with its outcome, until `poll_event` moves it out
    /// as its report (one move of the large notification, not one per queue it would cross).
    outcome: Option<Outcome>,
}

impl<U> Slot<U> {
    /// Whether the slot holds an unsettled entry under `generation`: a key of a settled or
    /// freed slot (or any other number a transport hands back) names nothing.
    fn holds(&self, generation: u32) -> bool {
        self.generation == generation && self.outcome.is_none() && self.entry.is_some()
    }
}

/// What [`Delivery::poll_event`] hands out next, in order.
#[derive(Debug, Clone, Copy)]
enum Next {
    /// The report of the settled entry in this slot.
    Report(u32),
    /// The front of `events`.
    Event,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting {
        deadline: Instant,
    },
    Established,
    /// GOAWAY or retired: no new streams; closed once empty.
    Draining,
    /// Close or Abort issued: waiting for `handle_closed`.
    Closing,
}

#[derive(Debug)]
struct Conn {
    id: ConnId,
    phase: Phase,
    limit: u32,
    in_flight: usize,
    /// (response deadline, key, attempt) in send order: the in-flight index, and its timers.
    sent: VecDeque<(Instant, StreamKey, u32)>,
    confirmed: Option<TokenGeneration>,
    answered: bool,
    last_activity: Instant,
    ping_outstanding: bool,
}

/// The sans-io HTTP/2 delivery machine of one gateway (one `:authority`): a bounded queue of
/// notifications, a pool of connections, and one [`Report`] per notification. See the
/// [module documentation](super).
#[derive(Debug)]
pub struct Delivery<U> {
    config: DeliveryConfig,
    auth: Auth,
    start: Instant,
    wall_start: SystemTime,
    rng: fastrand::Rng,
    ids: ApnsIdGenerator,
    slots: Vec<Slot<U>>,
    free: Vec<u32>,
    live: usize,
    unpolled: usize,
    queue: VecDeque<StreamKey>,
    resend: VecDeque<StreamKey>,
    waiting: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    /// (deadline or expiry, slot, generation) of queued items that have one: so that an item
    /// stuck in the queue (no connection, no stream budget) still settles on time. May hold
    /// stale keys, pruned when it outgrows the live items.
    pub(super) expiries: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    conns: Vec<Conn>,
    next_conn: u32,
    failures: u32,
    reconnect_at: Option<Instant>,
    unreachable_since: Option<Instant>,
    paused_until: Option<Instant>,
    token_generation: Option<TokenGeneration>,
    keep_open: bool,
    halted: Option<HaltReason>,
    closing: bool,
    closed: bool,
    commands: VecDeque<TransportCommand>,
    /// The order of what `poll_event` hands out: reports (from their slots) and `events`.
    next: VecDeque<Next>,
    /// Events other than reports.
    events: VecDeque<Event<U>>,
    stats: Stats,
}

impl<U> Delivery<U> {
    /// A machine for one gateway. `now` and `wall` are the same moment on the monotonic and the
    /// wall clock: the wall clock (for `apns-expiration`, `retry-after` dates and token `iat`)
    /// is derived from `now` from then on (re-anchor with
    /// [`handle_wall_clock`](Self::handle_wall_clock)).
    pub fn new(
        config: DeliveryConfig,
        auth: Auth,
        now: Instant,
        wall: SystemTime,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let mut seed = [0u8; 16];
        seed[..8].copy_from_slice(&rng.u64(..).to_be_bytes());
        seed[8..].copy_from_slice(&rng.u64(..).to_be_bytes());
        Ok(Self {
            config,
            auth,
            start: now,
            wall_start: wall,
            rng,
            ids: ApnsIdGenerator::new(seed),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            unpolled: 0,
            queue: VecDeque::new(),
            resend: VecDeque::new(),
            waiting: BinaryHeap::new(),
            expiries: BinaryHeap::new(),
            conns: Vec::new(),
            next_conn: 0,
            failures: 0,
            reconnect_at: None,
            unreachable_since: None,
            paused_until: None,
            token_generation: None,
            keep_open: false,
            halted: None,
            closing: false,
            closed: false,
            commands: VecDeque::new(),
            next: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DeliveryConfig {
        &self.config
    }

    /// Re-anchors the wall clock (after the system clock was adjusted).
    pub fn handle_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        self.start = now;
        self.wall_start = wall;
    }

    fn wall(&self, now: Instant) -> SystemTime {
        self.wall_start + now.saturating_duration_since(self.start)
    }

    // ---- commands ----

    /// Queues a notification. It gets an `apns-id` (`apns-request-id` for a broadcast) if it has
    /// none, kept across retries. Refused with [`Full`] when `capacity` notifications are held.
    /// After [`close`](Self::close) it fails at once (`Abandoned`); while halted, with
    /// `Halted`.
    #[allow(clippy::result_large_err)] // The item itself comes back, unboxed: no allocation.
    pub fn send(&mut self, now: Instant, mut item: Item<U>) -> Result<(), Full<U>> {
        if self.live + self.unpolled >= self.config.capacity {
            return Err(Full(item));
        }
        let apns_id = match &mut item.notification {
            Notification::Device(notification) => notification.ensure_id(&mut self.ids),
            Notification::Broadcast(notification) => notification.ensure_request_id(&mut self.ids),
        };
        self.stats.sent += 1;
        let key = self.insert(item, apns_id);
        if self.closing {
            self.finish(key, Outcome::Failed(FailReason::Abandoned));
        } else if let Some(reason) = self.halted.clone() {
            self.finish(key, Outcome::Failed(FailReason::Halted(reason)));
        } else {
            self.queue.push_back(key);
            self.watch_expiry(now, key);
            self.keep_open = true;
            if self.live > 1 {
                // Another item was held already: the pool was maintained for it, and one more
                // changes nothing there until `poll_transport` (which maintains it first).
                return Ok(());
            }
        }
        self.maintain(now);
        Ok(())
    }

    /// Graceful close: what is queued and in flight is still delivered; then every connection
    /// is closed and [`Event::Closed`] follows. Items sent after this fail (`Abandoned`).
    pub fn close(&mut self, now: Instant) {
        self.closing = true;
        self.maintain(now);
    }

    /// Fails everything unsettled (`Abandoned`), aborts every connection, and ends with
    /// [`Event::Closed`]. Later fates and connection events are ignored.
    pub fn abandon(&mut self, now: Instant) {
        self.closing = true;
        for slot in 0..self.slots.len() {
            if let Some(key) = self.key_of(slot) {
                self.finish(key, Outcome::Failed(FailReason::Abandoned));
            }
        }
        for conn in std::mem::take(&mut self.conns) {
            if conn.phase != Phase::Closing {
                self.commands.push_back(TransportCommand::Abort(conn.id));
            }
        }
        self.maintain(now);
    }

    /// Ends a halt ([`Event::Halted`]): sending resumes with the next items (after the
    /// credentials or configuration were fixed).
    pub fn resume(&mut self, now: Instant) {
        self.halted = None;
        self.maintain(now);
    }

    /// Whether the gateway is halted, and why.
    pub fn halted(&self) -> Option<&HaltReason> {
        self.halted.as_ref()
    }

    // ---- transport ----

    /// The next thing to do with a connection.
    pub fn poll_transport(&mut self, now: Instant) -> Option<TransportCommand> {
        self.maintain(now);
        self.commands.pop_front()
    }

    /// The connection of an [`TransportCommand::Open`] is up: TLS with ALPN `h2`, preface
    /// sent. It carries one stream until [`handle_stream_limit`](Self::handle_stream_limit).
    pub fn handle_established(&mut self, now: Instant, conn: ConnId) {
        let Some(c) = self.conn_mut(conn) else { return };
        if let Phase::Connecting { .. } = c.phase {
            c.phase = Phase::Established;
            c.last_activity = now;
            self.push_event(Event::Connected { conn });
        }
        self.maintain(now);
    }

    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS as applied on `conn`
    /// (`apns_h2::PeerSettings::max_concurrent_streams`, `u32::MAX` when none is announced),
    /// after every `apns_h2::Event::Settings`. It may go down (even to 0 or 1) and back up.
    pub fn handle_stream_limit(&mut self, now: Instant, conn: ConnId, limit: u32) {
        if let Some(c) = self.conn_mut(conn) {
            c.limit = limit;
            c.last_activity = now;
        }
        self.maintain(now);
    }

    /// The server sent GOAWAY on `conn`: no new streams there; it is replaced. The streams
    /// above its last-stream-id come back as not processed (sent again free).
    pub fn handle_goaway(&mut self, now: Instant, conn: ConnId, goaway: &GoAway) {
        let Some(c) = self.conn_mut(conn) else { return };
        if matches!(c.phase, Phase::Established | Phase::Connecting { .. }) {
            c.phase = Phase::Draining;
        }
        c.last_activity = now;
        self.stats.goaways += 1;
        let reason = goaway_reason(&goaway.debug_data);
        self.push_event(Event::GoAway { conn, code: goaway.code, reason: reason.clone() });
        // A documented reason means what it means in a response: the same refusal would meet
        // every request on every connection, so it halts (or refreshes the token) likewise.
        let documented = reason.as_ref().and_then(|reason| {
            Reason::DOCUMENTED
                .iter()
                .find(|(known, ..)| known == reason)
                .map(|(_, status, class)| (*status, *class))
        });
        match (reason, documented) {
            (Some(reason), Some((status, Classification::Misconfigured))) => {
                self.halt(HaltReason::Refused(Rejection { status, reason: Some(reason), timestamp: None }));
            }
            (_, Some((_, Classification::RefreshToken))) => {
                if let (Auth::Token(policy), Some(generation)) = (&mut self.auth, self.token_generation) {
                    if let Refresh::At(at) = policy.handle_expired(generation, now) {
                        self.paused_until = Some(self.paused_until.map_or(at, |until| until.max(at)));
                    }
                }
            }
            _ => {}
        }
        self.maintain(now);
    }

    /// `conn` must be replaced without a GOAWAY (apns-h2's `needs_replacement`, e.g. stream
    /// ids running out): no new streams there, closed once its streams finish.
    pub fn handle_retire(&mut self, now: Instant, conn: ConnId) {
        if let Some(c) = self.conn_mut(conn) {
            if matches!(c.phase, Phase::Established | Phase::Connecting { .. }) {
                c.phase = Phase::Draining;
            }
        }
        self.maintain(now);
    }

    /// The answer to a [`TransportCommand::Ping`].
    pub fn handle_ping_ack(&mut self, now: Instant, conn: ConnId, _rtt: Duration) {
        if let Some(c) = self.conn_mut(conn) {
            c.ping_outstanding = false;
            c.last_activity = now;
        }
    }

    /// `conn` is gone: after every fate apns-h2 reported for it (streams still in flight are
    /// taken as connection lost: possibly processed), or its connection attempt failed.
    pub fn handle_closed(&mut self, now: Instant, conn: ConnId, why: ConnectionLoss) {
        let Some(index) = self.conns.iter().position(|c| c.id == conn) else { return };
        let c = self.conns.swap_remove(index);
        for &(_, key, attempt) in &c.sent {
            if self.in_flight_on(key, conn, attempt) {
                if let Some(entry) = self.entry_mut(key) {
                    entry.state = State::Ready;
                }
                self.lost(now, key, RetryCause::ConnectionLost);
            }
        }
        let was_closing = c.phase == Phase::Closing;
        if let Phase::Connecting { .. } = c.phase {
            self.stats.connect_failures += 1;
            self.push_event(Event::ConnectFailed { conn });
            if why == ConnectionLoss::Refused {
                // Every attempt would be refused the same way: say so now, not after the
                // reconnect budget.
                self.halt(HaltReason::ConnectRefused);
            } else {
                self.backoff_reconnect(now);
            }
        } else {
            self.push_event(Event::Disconnected { conn });
            if why == ConnectionLoss::Refused {
                // A client certificate refused after our side of a TLS 1.3 handshake: the
                // connection looked established, but every new one would end the same way.
                self.halt(HaltReason::ConnectRefused);
            } else if !c.answered && !was_closing && why != ConnectionLoss::Closed(apns_h2::Closed::Graceful)
            {
                self.backoff_reconnect(now);
            }
        }
        self.maintain(now);
    }

    // ---- streams ----

    /// The next request for `conn`, within its stream budget: min(the server's limit, our
    /// `max_streams_per_connection`), 1 under token auth until a request with the current
    /// token is answered 2xx, and a fair share when other connections have room. Call while
    /// apns-h2's `send_budget()` is above 0, and pass the request to `send_request`.
    pub fn poll_request(&mut self, now: Instant, conn: ConnId) -> Option<(StreamKey, Request)> {
        if self.halted.is_some() || self.paused_until.is_some_and(|until| until > now) {
            return None;
        }
        let index = self.conns.iter().position(|c| c.id == conn)?;
        if self.conns[index].phase != Phase::Established {
            return None;
        }
        let authorization = match &mut self.auth {
            Auth::Certificate => None,
            Auth::Token(policy) => {
                let wall = self.wall_start + now.saturating_duration_since(self.start);
                match policy.token(now, wall) {
                    Ok((token, generation)) => {
                        if self.token_generation.is_some_and(|known| known != generation) {
                            self.stats.token_refreshes += 1;
                            self.push_event(Event::TokenRefreshed);
                        }
                        self.token_generation = Some(generation);
                        Some(token.authorization().clone())
                    }
                    Err(_) => {
                        self.halt(HaltReason::TokenSigning);
                        return None;
                    }
                }
            }
        };
        let budget = self.budget(&self.conns[index]);
        let in_flight = self.conns[index].in_flight;
        if in_flight >= budget {
            return None;
        }
        // Spread: leave the rest to connections with room once this one has its share.
        let (mut usable, mut total, mut with_room) = (0usize, 0usize, 0usize);
        for c in self.conns.iter().filter(|c| c.phase == Phase::Established) {
            usable += 1;
            total += c.in_flight;
            with_room += usize::from(c.in_flight < self.budget(c));
        }
        let share = (total + self.queue.len() + self.resend.len()).div_ceil(usable.max(1));
        // This connection has room (checked above): others too?
        let others_have_room = with_room > 1;
        if in_flight >= share && others_have_room {
            return None;
        }
        let wall = self.wall(now);
        let mut failed_any = false;
        let key = loop {
            let Some(key) = self.resend.pop_front().or_else(|| self.queue.pop_front()) else {
                if failed_any {
                    // What failed here may have been the last item held: a close can finish now.
                    self.maintain(now);
                }
                return None;
            };
            let Some(entry) = self.entry(key) else { continue };
            if entry.state != State::Ready {
                continue;
            }
            if let Some(reason) = self.unsendable(entry, now, wall) {
                self.finish(key, Outcome::Failed(reason));
                failed_any = true;
                continue;
            }
            break key;
        };
        let timeout = self.config.response_timeout;
        let generation = self.token_generation;
        let entry = self.entry_mut(key)?;
        entry.state = State::InFlight(conn);
        entry.attempts += 1;
        entry.cancelled = false;
        entry.token = generation;
        let attempt = entry.attempts;
        // Borrowed again, shared this time, so that the authority is lent, not cloned.
        let entry = self.entry(key)?;
        let authority = &self.config.authority;
        let request = match &entry.item.notification {
            Notification::Device(notification) => notification.request(authority, authorization.as_ref()),
            Notification::Broadcast(notification) => notification.request(authority, authorization.as_ref()),
        };
        let c = &mut self.conns[index];
        c.in_flight += 1;
        c.sent.push_back((now + timeout, key, attempt));
        self.stats.requests += 1;
        Some((key, request))
    }

    /// The fate apns-h2 reported for the stream that carried `key` on `conn`.
    pub fn handle_fate(&mut self, now: Instant, conn: ConnId, key: StreamKey, fate: &Fate) {
        let Some(index) = self.conns.iter().position(|c| c.id == conn) else { return };
        let Some(entry) = self.entry(key) else { return };
        if entry.state != State::InFlight(conn) {
            return;
        }
        let (cancelled, generation) = (entry.cancelled, entry.token);
        if let Some(entry) = self.entry_mut(key) {
            // Landed: no longer in flight (settling or retrying decides what next).
            entry.state = State::Ready;
        }
        self.conns[index].in_flight = self.conns[index].in_flight.saturating_sub(1);
        self.prune_sent(index);
        let c = &mut self.conns[index];
        match fate.processed() {
            Processed::Yes => {
                c.last_activity = now;
                c.answered = true;
                self.failures = 0;
                self.reconnect_at = None;
                match fate.response() {
                    Some(response) => self.settle_response(now, index, key, generation, response),
                    None => self.lost(now, key, RetryCause::ConnectionLost),
                }
            }
            Processed::No => {
                self.stats.refused_streams += 1;
                self.retry(now, key, RetryCause::Refused, None);
            }
            Processed::Maybe => {
                let cause = if cancelled { RetryCause::ResponseTimeout } else { RetryCause::ConnectionLost };
                self.lost(now, key, cause);
            }
        }
        self.maintain(now);
    }

    fn settle_response(
        &mut self,
        now: Instant,
        index: usize,
        key: StreamKey,
        generation: Option<TokenGeneration>,
        response: &apns_h2::Response,
    ) {
        let headers = response.headers.iter().map(|field| (field.name.as_bytes(), field.value.as_bytes()));
        let parsed = Response::parse(response.status, headers, &response.body);
        let rejection = || Rejection {
            status: parsed.status,
            reason: parsed.reason().cloned(),
            timestamp: parsed.token_invalid_since(),
        };
        match parsed.classification() {
            Classification::Accepted => {
                if let Some(generation) = generation {
                    let c = &mut self.conns[index];
                    c.confirmed = c.confirmed.max(Some(generation));
                }
                let fallback = self.entry(key).map(|entry| entry.apns_id);
                let apns_id = parsed.apns_id.or(parsed.request_id).or(fallback);
                self.finish(key, Outcome::Accepted { apns_id, unique_id: parsed.apns_unique_id });
            }
            Classification::Misconfigured => {
                let reason = HaltReason::Refused(rejection());
                self.halt(reason.clone());
                self.finish(key, Outcome::Failed(FailReason::Halted(reason)));
            }
            Classification::RetryLater => {
                if parsed.reason() == Some(&Reason::TOO_MANY_PROVIDER_TOKEN_UPDATES) {
                    if let Auth::Token(policy) = &mut self.auth {
                        policy.handle_too_many_updates(now);
                    }
                }
                let retries = self.entry(key).map_or(0, |entry| entry.retries);
                let delay = match parsed.retry_after {
                    Some(after) => after.delay_from(self.wall(now)).min(self.config.max_retry_after),
                    None => self.config.retry_backoff.delay(retries + 1, self.rng.f64()),
                };
                let cause = RetryCause::Status { status: parsed.status, reason: parsed.reason().cloned() };
                self.retry(now, key, cause, Some(now + delay));
            }
            Classification::RefreshToken => {
                if let (Auth::Token(policy), Some(generation)) = (&mut self.auth, generation) {
                    if let Refresh::At(at) = policy.handle_expired(generation, now) {
                        self.paused_until = Some(self.paused_until.map_or(at, |until| until.max(at)));
                    }
                }
                self.retry(now, key, RetryCause::ExpiredToken, None);
            }
            _ => {
                let rejection = rejection();
                match rejection.reason.as_ref().filter(|reason| reason.is_documented()) {
                    Some(reason) => *self.stats.rejections.entry(reason.clone()).or_default() += 1,
                    None => self.stats.rejected_other += 1,
                }
                self.finish(key, Outcome::Rejected(rejection));
            }
        }
    }

    // ---- time and output ----

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for c in &self.conns {
            match c.phase {
                Phase::Connecting { deadline } => at(deadline),
                Phase::Established | Phase::Draining => {
                    if let Some(&(deadline, ..)) = c.sent.front() {
                        at(deadline);
                    }
                    if let (Some(interval), false, Phase::Established) =
                        (self.config.ping_interval, c.ping_outstanding, c.phase)
                    {
                        at(c.last_activity + interval);
                    }
                }
                Phase::Closing => {}
            }
        }
        if let Some(Reverse((t, ..))) = self.waiting.peek() {
            at(*t);
        }
        if let Some(Reverse((t, ..))) = self.expiries.peek() {
            at(*t);
        }
        if let Some(t) = self.paused_until {
            at(t);
        }
        if let Some(since) = self.unreachable_since {
            at(since + self.config.reconnect_budget);
        }
        if self.wants_connections() {
            if let Some(t) = self.reconnect_at {
                at(t);
            }
        }
        next
    }

    /// Runs the timers due at `now`: connect and response deadlines, pings, backoffs, the
    /// reconnect budget.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Connect deadlines.
        let mut index = 0;
        while index < self.conns.len() {
            if let Phase::Connecting { deadline } = self.conns[index].phase {
                if deadline <= now {
                    let c = self.conns.swap_remove(index);
                    self.commands.push_back(TransportCommand::Abort(c.id));
                    self.stats.connect_failures += 1;
                    self.push_event(Event::ConnectFailed { conn: c.id });
                    self.backoff_reconnect(now);
                    continue;
                }
            }
            index += 1;
        }
        // Response deadlines and pings.
        for index in 0..self.conns.len() {
            let id = self.conns[index].id;
            while let Some(&(deadline, key, attempt)) = self.conns[index].sent.front() {
                if !self.in_flight_on(key, id, attempt) {
                    self.conns[index].sent.pop_front();
                    continue;
                }
                if deadline > now {
                    break;
                }
                self.conns[index].sent.pop_front();
                let cancelled = self.entry(key).is_some_and(|entry| entry.cancelled);
                if cancelled {
                    // A cancel went unanswered: the connection is stuck.
                    let c = &mut self.conns[index];
                    c.sent.push_front((deadline, key, attempt));
                    if c.phase != Phase::Closing {
                        c.phase = Phase::Closing;
                        self.commands.push_back(TransportCommand::Abort(id));
                    }
                    break;
                }
                if let Some(entry) = self.entry_mut(key) {
                    entry.cancelled = true;
                }
                self.stats.response_timeouts += 1;
                self.commands.push_back(TransportCommand::Cancel(id, key));
                let timeout = self.config.response_timeout;
                self.conns[index].sent.push_back((now + timeout, key, attempt));
            }
            let c = &mut self.conns[index];
            if let Some(interval) = self.config.ping_interval {
                if c.phase == Phase::Established && !c.ping_outstanding && c.last_activity + interval <= now {
                    c.ping_outstanding = true;
                    c.last_activity = now;
                    self.stats.pings += 1;
                    self.commands.push_back(TransportCommand::Ping(id));
                }
            }
        }
        // Backoffs.
        let wall = self.wall(now);
        while let Some(&Reverse((at, slot, generation))) = self.waiting.peek() {
            if at > now {
                break;
            }
            self.waiting.pop();
            let key = StreamKey { slot, generation };
            let Some(entry) = self.entry(key) else { continue };
            if entry.state != State::Waiting(at) {
                continue;
            }
            if let Some(reason) = self.unsendable(entry, now, wall) {
                self.finish(key, Outcome::Failed(reason));
                continue;
            }
            if let Some(entry) = self.entry_mut(key) {
                entry.state = State::Ready;
            }
            self.resend.push_back(key);
        }
        // Deadlines and expiries of what is queued.
        while let Some(&Reverse((at, slot, generation))) = self.expiries.peek() {
            if at > now {
                break;
            }
            self.expiries.pop();
            let key = StreamKey { slot, generation };
            let Some(entry) = self.entry_mut(key) else { continue };
            entry.armed = false;
            let Some(entry) = self.entry(key) else { continue };
            if matches!(entry.state, State::InFlight(_)) {
                // Its fate decides; a retry checks again and watches it again.
                continue;
            }
            if let Some(reason) = self.unsendable(entry, now, wall) {
                self.finish(key, Outcome::Failed(reason));
            } else if self.settle_by(entry, now).is_some_and(|t| t > now) {
                // The wall clock was re-anchored: not yet.
                self.watch_expiry(now, key);
            }
        }
        if self.paused_until.is_some_and(|until| until <= now) {
            self.paused_until = None;
        }
        // The reconnect budget.
        if self.unreachable_since.is_some_and(|since| since + self.config.reconnect_budget <= now) {
            self.unreachable_since = None;
            self.keep_open = false;
            self.fail_unsent(FailReason::Unreachable);
            self.push_event(Event::Unreachable);
        }
        self.maintain(now);
    }

    /// The next event: a [`Report`] per notification, and the connection-level facts.
    pub fn poll_event(&mut self) -> Option<Event<U>> {
        loop {
            let slot = match self.next.pop_front()? {
                Next::Event => return self.events.pop_front(),
                Next::Report(slot) => slot,
            };
            let Some(s) = self.slots.get_mut(slot as usize) else { continue };
            let Some(outcome) = s.outcome.take() else { continue };
            let Some(Entry {
                item: Item { notification, tag, .. },
                apns_id,
                possible_duplicate,
                attempts,
                ..
            }) = s.entry.take()
            else {
                continue;
            };
            self.free.push(slot);
            self.unpolled = self.unpolled.saturating_sub(1);
            return Some(Event::Finished(Report {
                tag,
                notification,
                apns_id,
                outcome,
                possible_duplicate,
                attempts,
            }));
        }
    }

    /// Counters and current sizes.
    pub fn stats(&self) -> Stats {
        let mut stats = self.stats.clone();
        stats.in_flight = self.conns.iter().map(|c| c.in_flight).sum();
        stats.queued = self.live.saturating_sub(stats.in_flight);
        stats.established = self.conns.iter().filter(|c| c.phase == Phase::Established).count();
        stats
    }

    /// Streams in flight on `conn` (0 if unknown).
    pub fn in_flight(&self, conn: ConnId) -> usize {
        self.conns.iter().find(|c| c.id == conn).map_or(0, |c| c.in_flight)
    }

    /// The stream budget of `conn` now (see [`poll_request`](Self::poll_request)), 0 if it
    /// is not established or not taking streams.
    pub fn stream_budget(&self, conn: ConnId) -> usize {
        self.conns
            .iter()
            .find(|c| c.id == conn && c.phase == Phase::Established)
            .map_or(0, |c| self.budget(c))
    }

    /// Notifications held (queued, in flight, settled with a report not polled).
    pub fn len(&self) -> usize {
        self.live + self.unpolled
    }

    /// How many more notifications [`send`](Self::send) takes now (its capacity less what is
    /// held).
    pub fn room(&self) -> usize {
        self.config.capacity.saturating_sub(self.len())
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // ---- internals ----

    fn budget(&self, c: &Conn) -> usize {
        let limit = c.limit.min(self.config.max_streams_per_connection) as usize;
        match (&self.auth, self.token_generation) {
            (Auth::Token(_), generation) if c.confirmed.is_none() || c.confirmed < generation => limit.min(1),
            _ => limit,
        }
    }

    fn wants_connections(&self) -> bool {
        self.halted.is_none()
            && !self.closed
            && (self.keep_open || self.live > 0)
            && !(self.closing && self.live == 0)
    }

    /// Opens, closes and drains connections as the state asks.
    fn maintain(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        let in_flight: usize = self.conns.iter().map(|c| c.in_flight).sum();
        let finished = (self.closing && self.live == 0) || (self.halted.is_some() && in_flight == 0);
        for c in &mut self.conns {
            let drained = c.in_flight == 0 && c.phase == Phase::Draining;
            if (finished || drained) && c.phase != Phase::Closing {
                let command = match c.phase {
                    Phase::Connecting { .. } => TransportCommand::Abort(c.id),
                    _ => TransportCommand::Close(c.id),
                };
                c.phase = Phase::Closing;
                self.commands.push_back(command);
            }
        }
        if self.closing && self.live == 0 {
            // Closes are issued; nothing more will be asked of these connections.
            self.conns.clear();
            self.closed = true;
            self.push_event(Event::Closed);
            return;
        }
        if !self.wants_connections() {
            self.unreachable_since = None;
            return;
        }
        // Reachable: an established connection that takes streams. One that announces
        // SETTINGS_MAX_CONCURRENT_STREAMS 0 and stays so is as good as none: the budget runs.
        let taking = self.conns.iter().any(|c| c.phase == Phase::Established && self.budget(c) > 0);
        if taking || self.live == 0 {
            self.unreachable_since = None;
        } else {
            self.unreachable_since.get_or_insert(now);
        }
        if self.reconnect_at.is_some_and(|at| at > now) {
            return;
        }
        self.reconnect_at = None;
        let mut usable = self
            .conns
            .iter()
            .filter(|c| matches!(c.phase, Phase::Established | Phase::Connecting { .. }))
            .count();
        while usable < self.config.connections {
            let id = ConnId(self.next_conn);
            self.next_conn = self.next_conn.wrapping_add(1);
            self.conns.push(Conn {
                id,
                phase: Phase::Connecting { deadline: now + self.config.connect_timeout },
                limit: 1,
                in_flight: 0,
                sent: VecDeque::new(),
                confirmed: None,
                answered: false,
                last_activity: now,
                ping_outstanding: false,
            });
            self.stats.connects += 1;
            self.commands.push_back(TransportCommand::Open(id));
            usable += 1;
        }
    }

    fn backoff_reconnect(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        let delay = self.config.reconnect_backoff.delay(self.failures, self.rng.f64());
        self.reconnect_at = Some(now + delay);
    }

    fn halt(&mut self, reason: HaltReason) {
        if self.halted.is_some() {
            return;
        }
        self.halted = Some(reason.clone());
        self.push_event(Event::Halted { reason: reason.clone() });
        self.fail_unsent(FailReason::Halted(reason));
    }

    /// Fails every notification not in flight.
    fn fail_unsent(&mut self, reason: FailReason) {
        for slot in 0..self.slots.len() {
            let Some(key) = self.key_of(slot) else { continue };
            if self.entry(key).is_some_and(|entry| !matches!(entry.state, State::InFlight(_))) {
                self.finish(key, Outcome::Failed(reason.clone()));
            }
        }
        self.queue.clear();
        self.resend.clear();
        self.waiting.clear();
        self.expiries.clear();
        for entry in self.slots.iter_mut().filter_map(|s| s.entry.as_mut()) {
            entry.armed = false;
        }
    }

    /// A possibly processed attempt: charged, marked.
    fn lost(&mut self, now: Instant, key: StreamKey, cause: RetryCause) {
        if let Some(entry) = self.entry_mut(key) {
            entry.possible_duplicate = true;
        }
        self.retry(now, key, cause, None);
    }

    fn retry(&mut self, now: Instant, key: StreamKey, cause: RetryCause, at: Option<Instant>) {
        let max_retries = self.config.max_retries;
        let charged = cause != RetryCause::Refused;
        let wall = self.wall(now);
        let halted = self.halted.clone();
        let Some(entry) = self.entry_mut(key) else { return };
        if charged {
            entry.retries += 1;
        }
        let retries = entry.retries;
        let apns_id = entry.apns_id;
        if charged {
            self.stats.retries += 1;
        }
        let failure = if let Some(reason) = halted {
            Some(FailReason::Halted(reason))
        } else if retries > max_retries {
            Some(FailReason::RetriesExhausted { last: cause.clone() })
        } else {
            self.entry(key).and_then(|entry| self.unsendable(entry, now, wall))
        };
        if let Some(reason) = failure {
            self.finish(key, Outcome::Failed(reason));
            return;
        }
        if let Some(entry) = self.entry_mut(key) {
            match at {
                Some(at) => entry.state = State::Waiting(at),
                None => entry.state = State::Ready,
            }
        }
        match at {
            Some(at) => self.waiting.push(Reverse((at, key.slot, key.generation))),
            None => self.resend.push_back(key),
        }
        self.watch_expiry(now, key);
        self.push_event(Event::Retrying { apns_id, cause, retries, at });
    }

    /// When `entry` must be settled even if it is never sent: its deadline, or the moment its
    /// `apns-expiration` passes (on the wall clock as anchored now).
    fn settle_by(&self, entry: &Entry<U>, now: Instant) -> Option<Instant> {
        let expiry = match &entry.item.notification {
            Notification::Device(notification) => notification.expiration(),
            Notification::Broadcast(notification) => notification.expiration(),
        };
        let expires = expiry.filter(|&expiry| expiry != Expiry::IMMEDIATE).map(|expiry| {
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(expiry.unix_seconds()));
            now + at.duration_since(self.wall(now)).unwrap_or(Duration::ZERO)
        });
        match (entry.item.deadline, expires) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Arms the deadline/expiry timer of a queued `key`, if it has one.
    fn watch_expiry(&mut self, now: Instant, key: StreamKey) {
        let Some(entry) = self.entry(key).filter(|entry| !entry.armed) else { return };
        let Some(at) = self.settle_by(entry, now) else { return };
        if self.expiries.len() >= 2 * self.live + 64 {
            // Stale keys (settled, or armed again by a retry) outnumber the live: prune.
            let slots = &self.slots;
            self.expiries.retain(|&Reverse((_, slot, generation))| {
                slots.get(slot as usize).is_some_and(|s| s.holds(generation))
            });
        }
        self.expiries.push(Reverse((at, key.slot, key.generation)));
        if let Some(entry) = self.entry_mut(key) {
            entry.armed = true;
        }
    }

    /// Why an entry may not be (re)sent now, if it may not.
    fn unsendable(&self, entry: &Entry<U>, now: Instant, wall: SystemTime) -> Option<FailReason> {
        if entry.item.deadline.is_some_and(|deadline| deadline <= now) {
            return Some(FailReason::DeadlinePassed);
        }
        let expiry = match &entry.item.notification {
            Notification::Device(notification) => notification.expiration(),
            Notification::Broadcast(notification) => notification.expiration(),
        };
        match expiry {
            // 0: once, now or never: not after an attempt that may have reached Apple.
            Some(Expiry::IMMEDIATE) if entry.retries > 0 => Some(FailReason::ExpiryPassed),
            Some(Expiry::IMMEDIATE) | None => None,
            Some(expiry) => {
                let seconds = wall.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_secs());
                (seconds >= u64::from(expiry.unix_seconds())).then_some(FailReason::ExpiryPassed)
            }
        }
    }

    /// Holds a new item in a free slot. The entry is built where it is stored: the item is
    /// copied once.
    fn insert(&mut self, item: Item<U>, apns_id: ApnsId) -> StreamKey {
        self.live += 1;
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot { generation: 0, entry: None, outcome: None });
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let s = &mut self.slots[slot as usize];
        s.entry = Some(Entry {
            item,
            apns_id,
            state: State::Ready,
            retries: 0,
            attempts: 0,
            possible_duplicate: false,
            cancelled: false,
            token: None,
            armed: false,
        });
        StreamKey { slot, generation: s.generation }
    }

    fn key_of(&self, slot: usize) -> Option<StreamKey> {
        let s = self.slots.get(slot)?;
        if !s.holds(s.generation) {
            return None;
        }
        Some(StreamKey { slot: u32::try_from(slot).ok()?, generation: s.generation })
    }

    fn entry(&self, key: StreamKey) -> Option<&Entry<U>> {
        let slot = self.slots.get(key.slot as usize)?;
        if !slot.holds(key.generation) {
            return None;
        }
        slot.entry.as_ref()
    }

    fn entry_mut(&mut self, key: StreamKey) -> Option<&mut Entry<U>> {
        let slot = self.slots.get_mut(key.slot as usize)?;
        if !slot.holds(key.generation) {
            return None;
        }
        slot.entry.as_mut()
    }

    /// Drops the answered requests at the front of connection `index`'s in-flight index. The
    /// timer pass prunes it too, but it runs at the front's response deadline: without this
    /// the index would hold every request answered within one response timeout (32 bytes each,
    /// growing with the rate), not about what is in flight.
    fn prune_sent(&mut self, index: usize) {
        let id = self.conns[index].id;
        while let Some(&(_, key, attempt)) = self.conns[index].sent.front() {
            if self.in_flight_on(key, id, attempt) {
                break;
            }
            self.conns[index].sent.pop_front();
        }
        // A request left unanswered at the front (a peer that never answers one stream) would
        // keep everything answered behind it until its deadline: compact when the answered
        // ones outnumber the rest, so the index stays within twice what is in flight
        // (amortised: each compaction at least halves it).
        let c = &self.conns[index];
        if c.sent.len() > 2 * c.in_flight + 64 {
            let mut sent = std::mem::take(&mut self.conns[index].sent);
            sent.retain(|&(_, key, attempt)| self.in_flight_on(key, id, attempt));
            self.conns[index].sent = sent;
        }
    }

    /// Entries in connection `conn`'s in-flight index (answered ones not yet pruned included).
    #[cfg(test)]
    pub(crate) fn sent_index_len(&self, conn: ConnId) -> usize {
        self.conns.iter().find(|c| c.id == conn).map_or(0, |c| c.sent.len())
    }

    fn in_flight_on(&self, key: StreamKey, conn: ConnId, attempt: u32) -> bool {
        self.entry(key).is_some_and(|entry| entry.state == State::InFlight(conn) && entry.attempts == attempt)
    }

    fn conn_mut(&mut self, conn: ConnId) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id == conn)
    }

    fn push_event(&mut self, event: Event<U>) {
        self.events.push_back(event);
        self.next.push_back(Next::Event);
    }

    /// Settles `key`: its one report, which stays in the slot until polled.
    fn finish(&mut self, key: StreamKey, outcome: Outcome) {
        let Some(slot) = self.slots.get_mut(key.slot as usize) else { return };
        if !slot.holds(key.generation) {
            return;
        }
        let Some(entry) = &slot.entry else { return };
        let (state, possible_duplicate) = (entry.state, entry.possible_duplicate);
        // The old key no longer finds it; the slot is free again once the report is polled.
        slot.generation = slot.generation.wrapping_add(1);
        slot.outcome = Some(outcome);
        self.live -= 1;
        if let State::InFlight(conn) = state {
            // Settled while in flight (abandon): its stream no longer counts for us.
            if let Some(c) = self.conns.iter_mut().find(|c| c.id == conn) {
                c.in_flight = c.in_flight.saturating_sub(1);
            }
        }
        match slot.outcome {
            Some(Outcome::Accepted { .. }) => self.stats.accepted += 1,
            Some(Outcome::Rejected(_)) => self.stats.rejected += 1,
            _ => self.stats.failed += 1,
        }
        if possible_duplicate {
            self.stats.possible_duplicates += 1;
        }
        self.unpolled += 1;
        self.next.push_back(Next::Report(key.slot));
    }
}
