//! A deterministic simulation in the style of quinn's `Pair`: a [`SentBuffer`] and a model
//! gateway exchanging bytes and error responses under a simulated clock.
//!
//! Test notifications carry their identity and fate in the device token: bytes 0..8 are the
//! index (the order they were sent in), byte 8 a status the gateway rejects them with (0: none),
//! byte 9 how many times a transient status is answered before the gateway accepts.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use apns_proto::{
    decode_command, DeviceToken, EncodedPayload, ErrorResponse, Notification, NotificationId, PayloadLimit,
    Priority, Status,
};
use bytes::BytesMut;

use crate::{Config, Event, Outcome, Report, SentBuffer, Ticket, TransmitKind};

/// What the model gateway writes in the identifier field of its error responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdMode {
    /// The identifier of the notification concerned, as Apple documents.
    Real,
    /// Always 0.
    Zero,
    /// An identifier the client never sent.
    Garbage,
}

/// What the gateway sends the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToClient {
    /// An error response; the index is the notification it names, if it names one (`None`: the
    /// probe, a shutdown, or an identifier that is not the real one).
    Error(ErrorResponse, Option<u64>),
    /// The connection closes.
    Close,
}

/// Index of the probe in the logs.
pub(crate) const PROBE: u64 = u64::MAX;

/// One connection as the gateway sees it.
#[derive(Debug, Default)]
struct GatewayConnection {
    /// An error or close is scheduled: everything read from now on is discarded.
    closing: bool,
    outbox: VecDeque<(Instant, ToClient)>,
    last_success: Option<NotificationId>,
    /// Accept this many more, then answer status 10 naming the last and close.
    shutdown_after: Option<u32>,
    /// Accept this many more, then drop everything and close with no error response.
    silent_after: Option<u32>,
    /// Notifications accepted on this connection (for the stall).
    accepted: u32,
    /// Not reading until then (a slow gateway): writes wait in `backlog`.
    stalled_until: Option<Instant>,
    /// Writes not read yet, as in the socket buffers between client and gateway.
    backlog: VecDeque<bytes::Bytes>,
}

/// The model gateway: Apple's documented behaviour, with knobs for the undocumented one.
#[derive(Debug)]
pub(crate) struct Gateway {
    /// Between reading an invalid notification and the error response reaching the client.
    pub(crate) error_delay: Duration,
    /// Between the error response (or the decision to close silently) and the close.
    pub(crate) close_delay: Duration,
    pub(crate) id_mode: IdMode,
    /// On every connection, close with no error after accepting this many notifications.
    pub(crate) silent_close_every: Option<u32>,
    /// On every connection, stop reading for the duration after every N accepted
    /// notifications (`apns mock --stall-every N:MS`): a gateway slower than the client.
    pub(crate) stall_every: Option<(u32, Duration)>,
    connection: GatewayConnection,
    /// Notifications processed and accepted, by index (several times for duplicates).
    pub(crate) delivered: HashMap<u64, u32>,
    /// Every write sent to the gateway, including discarded and unread ones, by index.
    pub(crate) writes: HashMap<u64, u32>,
    /// Permanent rejections, by index.
    pub(crate) rejected: HashMap<u64, Status>,
    /// Transient rejections so far, by index.
    transient: HashMap<u64, u8>,
    /// Per connection, the indexes in the order they were read (the probe is [`PROBE`]).
    pub(crate) connections: Vec<Vec<u64>>,
    /// The priority of each index's latest write.
    pub(crate) priorities: HashMap<u64, Priority>,
}

impl Gateway {
    fn new() -> Self {
        Self {
            error_delay: Duration::from_millis(300),
            close_delay: Duration::from_millis(10),
            id_mode: IdMode::Real,
            silent_close_every: None,
            stall_every: None,
            connection: GatewayConnection::default(),
            delivered: HashMap::new(),
            writes: HashMap::new(),
            rejected: HashMap::new(),
            transient: HashMap::new(),
            connections: vec![Vec::new()],
            priorities: HashMap::new(),
        }
    }

    /// After accepting `count` more notifications on this connection, shut down (status 10).
    pub(crate) fn shutdown_after(&mut self, count: u32) {
        self.connection.shutdown_after = Some(count);
    }

    /// After accepting `count` more notifications on this connection, close with no error.
    pub(crate) fn silent_close_after(&mut self, count: u32) {
        self.connection.silent_after = Some(count);
    }

    /// Close now with no error response, unless already closing.
    pub(crate) fn close_now(&mut self, now: Instant) {
        if !self.connection.closing {
            self.connection.closing = true;
            self.connection.outbox.push_back((now, ToClient::Close));
        }
    }

    fn next_time(&self) -> Option<Instant> {
        let unstall = self.connection.stalled_until.filter(|_| !self.connection.backlog.is_empty());
        self.connection.outbox.front().map(|(at, _)| *at).into_iter().chain(unstall).min()
    }

    /// Bytes arrive from the client: read now, or kept unread while the gateway stalls.
    fn offer(&mut self, now: Instant, bytes: bytes::Bytes) {
        // Counted as written when sent: a write the gateway never reads was still written.
        let Ok(decoded) = decode_command(&bytes) else { panic!("undecodable write") };
        let (command, _) = decoded.complete().expect("one whole command per transmit");
        let index = match command.validate(PayloadLimit::BINARY) {
            Ok(notification) => index_of(&notification.token),
            Err(_) => PROBE,
        };
        *self.writes.entry(index).or_default() += 1;
        self.connection.backlog.push_back(bytes);
        self.pump(now);
    }

    /// Reads what waits, unless stalled.
    fn pump(&mut self, now: Instant) {
        loop {
            if self.connection.stalled_until.is_some_and(|until| now < until) {
                return;
            }
            self.connection.stalled_until = None;
            let Some(bytes) = self.connection.backlog.pop_front() else { return };
            self.receive(now, &bytes);
        }
    }

    /// Writes sent but never read by the gateway on its current connection.
    pub(crate) fn unread(&self) -> usize {
        self.connection.backlog.len()
    }

    fn pop_due(&mut self, now: Instant) -> Option<ToClient> {
        if self.connection.outbox.front()?.0 <= now {
            return self.connection.outbox.pop_front().map(|(_, message)| message);
        }
        None
    }

    fn reconnect(&mut self) {
        self.connection =
            GatewayConnection { silent_after: self.silent_close_every, ..GatewayConnection::default() };
        self.connections.push(Vec::new());
    }

    /// Reads one command, as the gateway would.
    fn receive(&mut self, now: Instant, bytes: &[u8]) {
        let Ok(decoded) = decode_command(bytes) else { panic!("undecodable write") };
        let (command, used) = decoded.complete().expect("one whole command per transmit");
        assert_eq!(used, bytes.len());
        let validated = command.validate(PayloadLimit::BINARY);
        let index = match &validated {
            Ok(notification) => index_of(&notification.token),
            Err(_) => PROBE,
        };
        if let Some(log) = self.connections.last_mut() {
            log.push(index);
        }
        if self.connection.closing {
            return; // Discarded: the gateway stopped processing this connection.
        }
        let notification = match validated {
            Err(response) => return self.fail(now, response, None),
            Ok(notification) => notification,
        };
        self.priorities.insert(index, notification.priority);
        let [.., status, transient_count] = behaviour(&notification.token);
        if status != 0 {
            let status = Status(status);
            let reject = ErrorResponse { status, id: notification.id };
            if status.is_permanent() {
                self.rejected.insert(index, status);
                return self.fail(now, reject, Some(index));
            }
            let seen = self.transient.entry(index).or_default();
            if *seen < transient_count {
                *seen += 1;
                return self.fail(now, reject, Some(index));
            }
        }
        *self.delivered.entry(index).or_default() += 1;
        self.connection.last_success = Some(notification.id);
        self.connection.accepted += 1;
        if let Some((every, duration)) = self.stall_every {
            if every > 0 && self.connection.accepted % every == 0 {
                self.connection.stalled_until = Some(now + duration);
            }
        }
        if let Some(left) = self.connection.shutdown_after.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                let id = notification.id;
                self.fail(now, ErrorResponse { status: Status::SHUTDOWN, id }, None);
                return;
            }
        }
        if let Some(left) = self.connection.silent_after.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                let at = now + self.close_delay;
                self.connection.closing = true;
                self.connection.outbox.push_back((at, ToClient::Close));
            }
        }
    }

    /// Answers an error response after the delay, discards everything after it, then closes.
    fn fail(&mut self, now: Instant, mut response: ErrorResponse, index: Option<u64>) {
        let (id, index) = match self.id_mode {
            IdMode::Real if response.id.0 != 0 => (response.id, index),
            IdMode::Real | IdMode::Zero => (NotificationId(0), None),
            IdMode::Garbage => (NotificationId(0x7654_3210), None),
        };
        response.id = id;
        let at = now + self.error_delay;
        self.connection.closing = true;
        self.connection.outbox.push_back((at, ToClient::Error(response, index)));
        self.connection.outbox.push_back((at + self.close_delay, ToClient::Close));
    }
}

/// A token for test notification `index` with a fate.
pub(crate) fn token(index: u64, status: u8, transient_count: u8) -> DeviceToken {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&index.to_be_bytes());
    bytes[8] = status;
    bytes[9] = transient_count;
    DeviceToken::new(bytes)
}

fn index_of(token: &DeviceToken) -> u64 {
    let mut index = [0u8; 8];
    index.copy_from_slice(&token.as_bytes()[..8]);
    u64::from_be_bytes(index)
}

fn behaviour(token: &DeviceToken) -> [u8; 2] {
    [token.as_bytes()[8], token.as_bytes()[9]]
}

/// A good notification in the shape every test uses: user identifier 0, as PyAPNs' default.
pub(crate) fn notification(token: DeviceToken) -> Notification {
    let payload = EncodedPayload::new(&br#"{"aps":{"alert":"hi"}}"#[..], PayloadLimit::BINARY)
        .expect("a valid payload");
    Notification::new(token, payload)
}

/// The client and the model gateway, with a simulated clock.
#[derive(Debug)]
pub(crate) struct Sim {
    pub(crate) client: SentBuffer,
    pub(crate) gateway: Gateway,
    pub(crate) start: Instant,
    pub(crate) now: Instant,
    out: BytesMut,
    next_index: u64,
    /// Index of each ticket handed in.
    pub(crate) indexes: HashMap<Ticket, u64>,
    pub(crate) reports: BTreeMap<u64, Report>,
    /// Events other than reports and [`Event::Retrying`] / [`Event::Shutdown`], in order.
    pub(crate) events: Vec<Event>,
    /// [`Event::Retrying`] and [`Event::Shutdown`], in order.
    pub(crate) responses: Vec<Event>,
    /// Indexes the client was told were permanently rejected.
    told_rejected: HashSet<u64>,
    /// Broken invariants seen along the way.
    pub(crate) violations: Vec<String>,
}

impl Sim {
    pub(crate) fn new(config: Config) -> Self {
        let start = Instant::now();
        Self {
            client: SentBuffer::new(config).expect("a valid config"),
            gateway: Gateway::new(),
            start,
            now: start,
            out: BytesMut::new(),
            next_index: 0,
            indexes: HashMap::new(),
            reports: BTreeMap::new(),
            events: Vec::new(),
            responses: Vec::new(),
            told_rejected: HashSet::new(),
            violations: Vec::new(),
        }
    }

    /// Time since the start.
    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Hands in the next notification, with a fate (`status` 0: good); `None` if full.
    pub(crate) fn send_with(&mut self, status: u8, transient_count: u8) -> Option<Ticket> {
        self.send_notification(notification, status, transient_count)
    }

    /// Hands in a notification built by `build` from the next test token.
    pub(crate) fn send_notification(
        &mut self,
        build: impl FnOnce(DeviceToken) -> Notification,
        status: u8,
        transient_count: u8,
    ) -> Option<Ticket> {
        let index = self.next_index;
        let ticket = self.client.send(build(token(index, status, transient_count))).ok()?;
        self.next_index += 1;
        self.indexes.insert(ticket, index);
        Some(ticket)
    }

    /// Hands in a good notification.
    pub(crate) fn send(&mut self) -> Ticket {
        self.send_with(0, 0).expect("room in the buffer")
    }

    /// Hands in `count` good notifications.
    pub(crate) fn send_many(&mut self, count: usize) -> Vec<Ticket> {
        (0..count).map(|_| self.send()).collect()
    }

    /// Writes everything the client wants to write now.
    pub(crate) fn write(&mut self) {
        while let Some(transmit) = self.client.poll_transmit(self.now, &mut self.out) {
            if transmit.len != self.out.len() {
                self.violations.push(format!("transmit length {} != {}", transmit.len, self.out.len()));
            }
            if let TransmitKind::First(ticket) | TransmitKind::Resend(ticket) = transmit.kind {
                if let Some(index) = self.indexes.get(&ticket) {
                    if self.told_rejected.contains(index) {
                        self.violations.push(format!("index {index} resent after a permanent rejection"));
                    }
                }
            }
            let bytes = self.out.split().freeze();
            self.gateway.offer(self.now, bytes);
            self.check_bounds();
        }
    }

    /// One wakeup: write, jump to the next gateway message or client timeout, handle it.
    /// Returns whether anything was left to happen.
    pub(crate) fn step(&mut self) -> bool {
        self.write();
        let next = match (self.gateway.next_time(), self.client.poll_timeout()) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(next) => next,
                None => return false,
            },
        };
        self.now = self.now.max(next);
        self.deliver();
        true
    }

    /// Delivers what is due at `now` and lets the client's timers run.
    fn deliver(&mut self) {
        self.gateway.pump(self.now);
        while let Some(message) = self.gateway.pop_due(self.now) {
            match message {
                ToClient::Error(response, index) => {
                    if let Some(index) = index.filter(|_| response.status.is_permanent()) {
                        self.told_rejected.insert(index);
                    }
                    self.client.handle_error_response(self.now, response);
                }
                ToClient::Close => {
                    self.client.handle_close(self.now);
                    self.gateway.reconnect();
                }
            }
            self.check_bounds();
        }
        self.client.handle_timeout(self.now);
        if self.client.wants_close() {
            // The probe went unanswered: the I/O layer closes the connection.
            self.client.handle_close(self.now);
            self.gateway.reconnect();
        }
        self.drain_events();
    }

    /// Runs until nothing is left to happen.
    pub(crate) fn drive(&mut self) {
        for _ in 0..1_000_000 {
            if !self.step() {
                self.drain_events();
                return;
            }
        }
        panic!("the simulation did not settle");
    }

    /// Lets `duration` pass, handling everything due on the way.
    pub(crate) fn advance(&mut self, duration: Duration) {
        let target = self.now + duration;
        loop {
            self.write();
            let next = [self.gateway.next_time(), self.client.poll_timeout()].into_iter().flatten().min();
            match next {
                Some(next) if next <= target => {
                    self.now = self.now.max(next);
                    self.deliver();
                }
                _ => break,
            }
        }
        self.now = target;
        self.deliver();
        self.write();
    }

    pub(crate) fn drain_events(&mut self) {
        while let Some(event) = self.client.poll_event() {
            match event {
                Event::Finished(report) => {
                    let Some(&index) = self.indexes.get(&report.ticket) else {
                        self.violations.push(format!("report for unknown ticket {}", report.ticket));
                        continue;
                    };
                    if let Some(previous) = self.reports.insert(index, report) {
                        self.violations.push(format!("second report for index {index}: {previous:?}"));
                    }
                }
                response @ (Event::Retrying { .. } | Event::Shutdown) => self.responses.push(response),
                other => self.events.push(other),
            }
        }
    }

    fn check_bounds(&mut self) {
        let config = self.client.config();
        if self.client.len() > config.capacity {
            self.violations.push(format!("{} held, over the capacity", self.client.len()));
        }
        if self.client.in_flight() > config.max_in_flight {
            self.violations.push(format!("{} in flight, over the window", self.client.in_flight()));
        }
    }

    /// The report of the notification with `ticket`.
    pub(crate) fn report(&self, ticket: Ticket) -> &Report {
        let index = self.indexes[&ticket];
        self.reports.get(&index).unwrap_or_else(|| panic!("no report for {ticket}"))
    }

    /// The outcome of the notification with `ticket`.
    pub(crate) fn outcome(&self, ticket: Ticket) -> Outcome {
        self.report(ticket).outcome
    }

    /// The invariants every run must keep, once settled. Returns the broken ones.
    pub(crate) fn check_invariants(&self) -> Vec<String> {
        let mut broken = self.violations.clone();
        if !self.client.is_idle() {
            broken.push("not settled".into());
        }
        // Every notification handed in has exactly one report (duplicates caught on arrival).
        for (ticket, index) in &self.indexes {
            let Some(report) = self.reports.get(index) else {
                broken.push(format!("no report for {ticket} (index {index})"));
                continue;
            };
            let delivered = self.gateway.delivered.get(index).copied().unwrap_or(0);
            let written = self.gateway.writes.get(index).copied().unwrap_or(0);
            // Nothing the gateway did not accept is reported accepted: nothing is lost.
            if report.outcome.is_accepted() && delivered == 0 {
                broken.push(format!("index {index} reported {:?} but never delivered", report.outcome));
            }
            if let Outcome::Rejected(status) = report.outcome {
                if self.gateway.rejected.get(index) != Some(&status) {
                    broken.push(format!("index {index} reported rejected, not rejected by the gateway"));
                }
            }
            if let Outcome::Failed(crate::FailReason::RetriesExhausted { last_status: Some(status) }) =
                report.outcome
            {
                if status.is_permanent() {
                    broken.push(format!("index {index} retried after permanent status {status}"));
                }
            }
            // Every duplicate delivery is flagged.
            if delivered > 1 && !report.possible_duplicate() {
                broken.push(format!("index {index} delivered {delivered} times, not flagged"));
            }
            if report.writes != written {
                broken.push(format!(
                    "index {index}: report says {} writes, gateway read {written}",
                    report.writes
                ));
            }
        }
        // Resends keep the original order: each connection reads notifications in send order.
        for (number, log) in self.gateway.connections.iter().enumerate() {
            let notifications: Vec<u64> = log.iter().copied().filter(|&index| index != PROBE).collect();
            if notifications.windows(2).any(|pair| pair[0] >= pair[1]) {
                broken.push(format!("connection {number} out of order: {notifications:?}"));
            }
        }
        let stats = self.client.stats();
        let settled =
            stats.accepted + stats.presumed_accepted + stats.unconfirmed + stats.rejected + stats.failed;
        let config = self.client.config();
        if config.settlement == crate::Settlement::Prove && stats.presumed_accepted > 0 {
            broken.push(format!("{} presumed accepted under Prove", stats.presumed_accepted));
        }
        if settled != stats.handed_in || stats.handed_in != self.indexes.len() as u64 {
            broken.push(format!("stats do not add up: {stats:?}"));
        }
        let flagged = self.reports.values().filter(|report| report.possible_duplicate()).count() as u64;
        if flagged != stats.possible_duplicates {
            broken.push(format!("{flagged} flagged, stats say {}", stats.possible_duplicates));
        }
        broken
    }

    /// Panics with every broken invariant.
    pub(crate) fn assert_invariants(&self) {
        let broken = self.check_invariants();
        assert!(broken.is_empty(), "broken invariants: {broken:#?}");
    }
}
