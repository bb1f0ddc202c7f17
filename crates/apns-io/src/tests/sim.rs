//! A deterministic simulation in the style of quinn's `Pair`: a [`Connection`] machine, a model
//! network (connects that succeed, are refused, hang, or meet a refused certificate) and a model
//! gateway exchanging plaintext under a simulated clock. The harness plays the shell's part:
//! it carries out transport commands, moves bytes, and delivers what is due.
//!
//! Test notifications carry their identity and fate in the device token: bytes 0..8 are the
//! index (also the user identifier), byte 8 a status the gateway rejects them with (0: none),
//! byte 9 how many times a transient status is answered before the gateway accepts.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use apns_proto::{
    decode_command, DeviceToken, EncodedPayload, ErrorResponse, Format, Notification, NotificationId,
    PayloadLimit, Status,
};
use apns_resend::Report;
use bytes::BytesMut;

use crate::backoff::Backoff;
use crate::connection::{Connection, Lifecycle};
use crate::event::{ConnectError, Event};
use crate::machine::{Closed, Machine, Transport};

/// How the next connect attempt goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Attempt {
    /// TCP after `tcp`, the TLS handshake `handshake` later.
    Ok { tcp: Duration, handshake: Duration },
    /// Refused after `after`.
    Refused { after: Duration },
    /// The TCP connect never finishes.
    NoTcp,
    /// TCP connects, the handshake never finishes.
    NoHandshake,
    /// The handshake finishes on our side, then the server refuses the client certificate
    /// (TLS 1.3 verifies it after the client's Finished).
    CertificateRefused,
}

/// The default attempt: 1 ms to connect, 2 ms to handshake.
pub(crate) const FAST: Attempt =
    Attempt::Ok { tcp: Duration::from_millis(1), handshake: Duration::from_millis(2) };

/// Something due on the simulated network.
#[derive(Debug, Clone, PartialEq)]
enum Due {
    Tcp,
    Established,
    Refused,
    CertificateRefused,
    /// Gateway bytes for the client.
    Bytes(Vec<u8>),
    /// The gateway closes.
    Close,
}

/// The model gateway: Apple's documented behaviour, with knobs.
#[derive(Debug)]
pub(crate) struct Gateway {
    pub(crate) error_delay: Duration,
    pub(crate) close_delay: Duration,
    /// Error responses are written in pieces of these sizes, 1 ms apart (the rest in one).
    pub(crate) response_split: Vec<usize>,
    /// On every connection, close with no error after accepting this many.
    pub(crate) silent_close_every: Option<u32>,
    /// On the next connection only, close with no error after accepting this many.
    pub(crate) silent_close_next: Option<u32>,
    silent_close_here: Option<u32>,
    /// On every connection, answer status 10 after accepting this many.
    pub(crate) shutdown_every: Option<u32>,
    /// Answer error responses with identifier 0.
    pub(crate) zero_ids: bool,
    /// Read probes and say nothing (a gateway that does not treat them as invalid).
    pub(crate) ignore_probes: bool,
    accepted_here: u32,
    /// An error or close is scheduled on this connection: everything read is discarded.
    closing: bool,
    pending: BytesMut,
    /// Notifications processed and accepted, by index.
    pub(crate) delivered: HashMap<u64, u32>,
    pub(crate) rejected: HashMap<u64, Status>,
    transient: HashMap<u64, u8>,
    /// Error responses written, and those naming a probe.
    pub(crate) responses_written: u32,
    pub(crate) probe_responses: u32,
    pub(crate) connections: u32,
}

impl Gateway {
    fn new() -> Self {
        Self {
            error_delay: Duration::from_millis(300),
            close_delay: Duration::from_millis(10),
            response_split: Vec::new(),
            silent_close_every: None,
            silent_close_next: None,
            silent_close_here: None,
            shutdown_every: None,
            zero_ids: false,
            ignore_probes: false,
            accepted_here: 0,
            closing: false,
            pending: BytesMut::new(),
            delivered: HashMap::new(),
            rejected: HashMap::new(),
            transient: HashMap::new(),
            responses_written: 0,
            probe_responses: 0,
            connections: 0,
        }
    }

    fn connect(&mut self) {
        self.connections += 1;
        self.accepted_here = 0;
        self.closing = false;
        self.silent_close_here = self.silent_close_next.take().or(self.silent_close_every);
        self.pending.clear();
    }

    /// Reads what the client wrote; returns what to send back, with delays.
    fn receive(&mut self, bytes: &[u8]) -> Vec<(Duration, Due)> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            let used = match decode_command(&self.pending) {
                Ok(decoded) => match decoded.complete() {
                    Some((_, used)) => used,
                    None => break,
                },
                Err(e) => panic!("undecodable write: {e}"),
            };
            let bytes = self.pending.split_to(used);
            let Ok(Some((command, _))) = decode_command(&bytes).map(|d| d.complete()) else { unreachable!() };
            let validated = command.validate(PayloadLimit::BINARY);
            if self.closing {
                continue;
            }
            let notification = match validated {
                Err(_) if self.ignore_probes => continue,
                Err(response) => {
                    self.probe_responses += 1;
                    self.fail(response, &mut out);
                    continue;
                }
                Ok(notification) => notification,
            };
            let index = index_of(&notification.token);
            let [status, transient_count] =
                [notification.token.as_bytes()[8], notification.token.as_bytes()[9]];
            if status != 0 {
                let status = Status(status);
                let response = ErrorResponse { status, id: notification.id };
                if status.is_permanent() {
                    self.rejected.insert(index, status);
                    self.fail(response, &mut out);
                    continue;
                }
                let seen = self.transient.entry(index).or_default();
                if *seen < transient_count {
                    *seen += 1;
                    self.fail(response, &mut out);
                    continue;
                }
            }
            *self.delivered.entry(index).or_default() += 1;
            self.accepted_here += 1;
            if self.shutdown_every == Some(self.accepted_here) {
                self.fail(ErrorResponse { status: Status::SHUTDOWN, id: notification.id }, &mut out);
            } else if self.silent_close_here == Some(self.accepted_here) {
                self.closing = true;
                out.push((self.close_delay, Due::Close));
            }
        }
        out
    }

    fn fail(&mut self, mut response: ErrorResponse, out: &mut Vec<(Duration, Due)>) {
        if self.zero_ids {
            response.id = NotificationId(0);
        }
        self.closing = true;
        self.responses_written += 1;
        let mut bytes = [8u8, response.status.0, 0, 0, 0, 0];
        bytes[2..].copy_from_slice(&response.id.get().to_be_bytes());
        let mut at = self.error_delay;
        let mut rest = &bytes[..];
        for &size in &self.response_split {
            let (piece, after) = rest.split_at(size.min(rest.len()));
            if !piece.is_empty() {
                out.push((at, Due::Bytes(piece.to_vec())));
                at += Duration::from_millis(1);
            }
            rest = after;
        }
        if !rest.is_empty() {
            out.push((at, Due::Bytes(rest.to_vec())));
        }
        out.push((at + self.close_delay, Due::Close));
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

/// The lifecycle every test starts from.
pub(crate) fn lifecycle() -> Lifecycle {
    Lifecycle {
        connect_timeout: Duration::from_secs(10),
        idle_timeout: Some(Duration::from_secs(30)),
        backoff: Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(2) },
        max_connect_failures: 5,
        reconnect_for: Duration::from_secs(3600),
        write_chunk: 64 * 1024,
    }
}

/// The machine, the network and the gateway, with a simulated clock.
pub(crate) struct Sim {
    pub(crate) conn: Connection,
    pub(crate) gateway: Gateway,
    pub(crate) start: Instant,
    pub(crate) now: Instant,
    /// How the next connect attempts go (then [`FAST`]).
    pub(crate) attempts: VecDeque<Attempt>,
    /// Transports opened, and the commands the machine gave.
    pub(crate) opened: u32,
    pub(crate) commands: Vec<Transport>,
    /// Due network events of the current transport (cleared when it goes).
    due: Vec<(Instant, Due)>,
    connected: bool,
    out: BytesMut,
    next_index: u64,
    pub(crate) reports: BTreeMap<u64, Report>,
    /// Events other than reports, in order.
    pub(crate) events: Vec<Event>,
    /// Error responses the events reported ([`Event::error_response`]).
    pub(crate) responses_reported: u32,
    pub(crate) violations: Vec<String>,
}

impl Sim {
    pub(crate) fn new(lifecycle: Lifecycle, resend: apns_resend::Config) -> Self {
        let start = Instant::now();
        let buffer = apns_resend::SentBuffer::new(resend).expect("a valid config");
        Self {
            conn: Connection::new(0, lifecycle, buffer, fastrand::Rng::with_seed(7), start),
            gateway: Gateway::new(),
            start,
            now: start,
            attempts: VecDeque::new(),
            opened: 0,
            commands: Vec::new(),
            due: Vec::new(),
            connected: false,
            out: BytesMut::new(),
            next_index: 0,
            reports: BTreeMap::new(),
            events: Vec::new(),
            responses_reported: 0,
            violations: Vec::new(),
        }
    }

    pub(crate) fn default() -> Self {
        Self::new(lifecycle(), presume())
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Hands in the next notification with a fate (`status` 0: good); its index.
    pub(crate) fn send_with(&mut self, status: u8, transient_count: u8) -> u64 {
        let index = self.next_index;
        let payload = EncodedPayload::new(&br#"{"aps":{"alert":"hi"}}"#[..], PayloadLimit::BINARY)
            .expect("a valid payload");
        let id = u32::try_from(index).expect("small test");
        let notification = Notification::new(token(index, status, transient_count), payload).with_id(id);
        if self.conn.send(self.now, notification).is_err() {
            panic!("no room for notification {index}");
        }
        self.next_index += 1;
        index
    }

    pub(crate) fn send_many(&mut self, count: usize) -> Vec<u64> {
        (0..count).map(|_| self.send_with(0, 0)).collect()
    }

    /// Carries out transport commands and writes, as the shell does, until nothing changes.
    pub(crate) fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(command) = self.conn.poll_transport(self.now) {
                progressed = true;
                self.commands.push(command);
                match command {
                    Transport::Open => self.open(),
                    Transport::Close | Transport::Abort => self.drop_transport(),
                }
            }
            if self.conn.is_established() {
                while let Some(len) = self.conn.poll_transmit(self.now, &mut self.out) {
                    progressed = true;
                    if len != self.out.len() {
                        self.violations.push(format!("transmit length {len} != {}", self.out.len()));
                    }
                    let bytes = self.out.split();
                    let replies = self.gateway.receive(&bytes);
                    let now = self.now;
                    self.due.extend(replies.into_iter().map(|(delay, due)| (now + delay, due)));
                }
                self.conn.handle_unsent(self.now, 0);
            }
            self.drain_events();
            if !progressed {
                return;
            }
        }
    }

    fn open(&mut self) {
        self.opened += 1;
        self.due.clear();
        self.connected = false;
        let now = self.now;
        match self.attempts.pop_front().unwrap_or(FAST) {
            Attempt::Ok { tcp, handshake } => {
                self.due.push((now + tcp, Due::Tcp));
                self.due.push((now + tcp + handshake, Due::Established));
            }
            Attempt::Refused { after } => self.due.push((now + after, Due::Refused)),
            Attempt::NoTcp => {}
            Attempt::NoHandshake => self.due.push((now + Duration::from_millis(1), Due::Tcp)),
            Attempt::CertificateRefused => {
                self.due.push((now + Duration::from_millis(1), Due::Tcp));
                self.due.push((now + Duration::from_millis(3), Due::Established));
                self.due.push((now + Duration::from_millis(5), Due::CertificateRefused));
            }
        }
    }

    fn drop_transport(&mut self) {
        self.due.clear();
        self.connected = false;
    }

    fn next_due(&self) -> Option<Instant> {
        self.due.iter().map(|(at, _)| *at).min()
    }

    /// One wakeup: pump, jump to the next due event or timeout, handle what is due. Returns
    /// whether anything was left to happen.
    pub(crate) fn step(&mut self) -> bool {
        self.pump();
        let Some(next) = [self.next_due(), self.conn.poll_timeout()].into_iter().flatten().min() else {
            return false;
        };
        self.now = self.now.max(next);
        self.deliver();
        true
    }

    /// Delivers every network event due now, then the machine's timers.
    fn deliver(&mut self) {
        loop {
            // The earliest first; in the order they were scheduled when several are due at once.
            let earliest = self.due.iter().enumerate().filter(|(_, (at, _))| *at <= self.now);
            let Some((position, _)) = earliest.min_by_key(|(i, (at, _))| (*at, *i)) else { break };
            let (_, due) = self.due.remove(position);
            match due {
                Due::Tcp => {
                    self.connected = true;
                    self.conn.handle_connected(self.now);
                }
                Due::Established => {
                    self.gateway.connect();
                    self.conn.handle_established(self.now);
                }
                Due::Refused => {
                    self.due.clear();
                    self.conn.handle_closed(self.now, Closed::Failed(ConnectError::Refused));
                }
                Due::CertificateRefused => {
                    self.due.clear();
                    let alert = rustls::AlertDescription::CertificateRequired;
                    self.conn
                        .handle_closed(self.now, Closed::Failed(ConnectError::CertificateRefused(alert)));
                }
                Due::Bytes(bytes) => self.conn.handle_bytes(self.now, &bytes),
                Due::Close => {
                    self.due.clear();
                    self.conn.handle_closed(self.now, Closed::ByPeer);
                }
            }
            self.pump();
        }
        if self.conn.poll_timeout().is_some_and(|at| at <= self.now) {
            self.conn.handle_timeout(self.now);
        }
        self.pump();
    }

    /// Runs until nothing is left to happen.
    pub(crate) fn drive(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the simulation did not settle");
    }

    /// Lets `duration` pass, handling everything due on the way.
    pub(crate) fn advance(&mut self, duration: Duration) {
        let target = self.now + duration;
        loop {
            self.pump();
            match [self.next_due(), self.conn.poll_timeout()].into_iter().flatten().min() {
                Some(next) if next <= target => {
                    self.now = self.now.max(next);
                    self.deliver();
                }
                _ => break,
            }
        }
        self.now = target;
        self.deliver();
    }

    pub(crate) fn drain_events(&mut self) {
        while let Some(event) = self.conn.poll_event(true) {
            self.responses_reported += u32::from(event.error_response().is_some());
            match event {
                Event::Finished { report, .. } => {
                    let index = u64::from(report.id.get());
                    if let Some(previous) = self.reports.insert(index, report) {
                        self.violations.push(format!("second report for {index}: {previous:?}"));
                    }
                }
                other => self.events.push(other),
            }
        }
    }

    pub(crate) fn report(&self, index: u64) -> &Report {
        self.reports.get(&index).unwrap_or_else(|| panic!("no report for {index}"))
    }

    /// The events of one kind.
    pub(crate) fn count(&self, matches: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|event| matches(event)).count()
    }

    /// The invariants every settled run keeps. Returns the broken ones.
    pub(crate) fn check_invariants(&self) -> Vec<String> {
        let mut broken = self.violations.clone();
        if self.conn.unsettled() != 0 {
            broken.push(format!("{} unsettled", self.conn.unsettled()));
        }
        for index in 0..self.next_index {
            let Some(report) = self.reports.get(&index) else {
                broken.push(format!("no report for {index}"));
                continue;
            };
            let delivered = self.gateway.delivered.get(&index).copied().unwrap_or(0);
            if report.outcome.is_accepted() && delivered == 0 {
                broken.push(format!("{index} reported {:?}, never delivered", report.outcome));
            }
            if let apns_resend::Outcome::Rejected(status) = report.outcome {
                if self.gateway.rejected.get(&index) != Some(&status) {
                    broken.push(format!("{index} reported rejected, not rejected by the gateway"));
                }
            }
            if delivered > 1 && !report.possible_duplicate() {
                broken.push(format!("{index} delivered {delivered} times, not flagged"));
            }
        }
        let stats = self.conn.stats().counters();
        if stats.finished() != self.next_index {
            broken.push(format!("counters do not add up: {stats:?}"));
        }
        broken
    }

    pub(crate) fn assert_invariants(&self) {
        let broken = self.check_invariants();
        assert!(broken.is_empty(), "broken invariants: {broken:#?}");
    }
}

/// The settlement the scripted tests were written for (before issue 11); `prove.rs` covers
/// the default, `Settlement::Prove`.
pub(crate) fn presume() -> apns_resend::Config {
    apns_resend::Config::default().settlement(apns_resend::Settlement::Presume)
}

/// A resend configuration in `format`.
pub(crate) fn resend_in(format: Format) -> apns_resend::Config {
    presume().format(format)
}
