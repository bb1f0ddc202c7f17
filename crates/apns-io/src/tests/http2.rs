//! The HTTP/2 shell's glue, end to end over TLS against the HTTP/2 mock, driven by a minimal
//! delivery machine ([`Simple`]): one connection at a time, requests resent when certainly not
//! processed (refused, above GOAWAY, never written), a fate reported otherwise.

use std::collections::{HashMap, VecDeque};
use std::ops::AddAssign;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apns_h2::{Fate, GoAway, HeaderValue, Processed, Request};
use apns_mock::certs::TestPki;
use apns_mock::http2::{Http2Config, Http2Mock};
use apns_proto::http2::{DeviceNotification, PushType, Topic};
use apns_proto::{Payload, PayloadLimit};
use bytes::Bytes;

use crate::config::Endpoint;
use crate::event::ConnectError;
use crate::machine::Kinds;
use crate::shell::http2::{ConnCommand, ConnId, Dispatch, Http2Shell, Loss};
use crate::shell::Handle;
use crate::TlsConfig;

const TOPIC: &str = "com.example.mock";
const TOKEN: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";
const WAIT: Duration = Duration::from_secs(20);

/// What [`Simple`] reports per item: its number and the status (0: lost, possibly processed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Done {
    pub(crate) item: u64,
    pub(crate) status: u16,
    /// It was sent again after a fate that proved it unprocessed.
    pub(crate) resent: bool,
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SimpleStats {
    pub(crate) finished: u64,
    pub(crate) resent: u64,
    pub(crate) connections: u64,
}

impl AddAssign for SimpleStats {
    fn add_assign(&mut self, other: Self) {
        self.finished += other.finished;
        self.resent += other.resent;
        self.connections += other.connections;
    }
}

/// Connection events as [`Simple`] saw them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seen {
    Established(ConnId),
    Limit(ConnId, u32),
    GoAway(ConnId, Bytes),
    Closed(ConnId, Loss),
}

/// A minimal delivery machine: the loop's test double for `apns_resend::http2::Delivery`.
pub(crate) struct Simple {
    capacity: usize,
    next_conn: ConnId,
    conn: Option<ConnId>,
    failures: u32,
    queue: VecDeque<(u64, Request, bool)>,
    flying: HashMap<u64, (Request, bool)>,
    events: VecDeque<Done>,
    commands: VecDeque<ConnCommand<u64>>,
    closing: bool,
    stats: SimpleStats,
    seen: std::sync::mpsc::Sender<Seen>,
}

impl Simple {
    pub(crate) fn new(capacity: usize) -> (Self, Receiver<Seen>) {
        let (seen, rx) = channel();
        let simple = Self {
            capacity,
            next_conn: 1,
            conn: None,
            failures: 0,
            queue: VecDeque::new(),
            flying: HashMap::new(),
            events: VecDeque::new(),
            commands: VecDeque::new(),
            closing: false,
            stats: SimpleStats::default(),
            seen,
        };
        (simple, rx)
    }

    fn settle(&mut self, item: u64, status: u16, resent: bool) {
        self.stats.finished += 1;
        self.events.push_back(Done { item, status, resent });
    }

    fn fail_all(&mut self) {
        let flying: Vec<_> = self.flying.drain().map(|(item, (_, resent))| (item, resent)).collect();
        let queued: Vec<_> = self.queue.drain(..).map(|(item, _, resent)| (item, resent)).collect();
        for (item, resent) in flying.into_iter().chain(queued) {
            self.settle(item, 0, resent);
        }
    }
}

impl Kinds for Simple {
    type Item = (u64, Request);
    type Outcome = Done;
    type Stats = SimpleStats;
}

impl Dispatch for Simple {
    type Event = Done;
    type Key = u64;

    fn send(&mut self, _now: Instant, (item, request): Self::Item) -> Result<(), Self::Item> {
        if self.closing || self.unsettled() + self.events.len() >= self.capacity {
            return Err((item, request));
        }
        self.queue.push_back((item, request, false));
        Ok(())
    }

    fn unsettled(&self) -> usize {
        self.queue.len() + self.flying.len()
    }

    fn stats(&self) -> SimpleStats {
        self.stats
    }

    fn push_outcome(event: Done, outcomes: &mut VecDeque<Done>) -> bool {
        outcomes.push_back(event);
        true
    }

    fn close(&mut self, _now: Instant) {
        self.closing = true;
        if self.unsettled() == 0 {
            if let Some(conn) = self.conn {
                self.commands.push_back(ConnCommand::Close(conn));
            }
        }
    }

    fn abandon(&mut self, _now: Instant) {
        self.closing = true;
        self.fail_all();
        if let Some(conn) = self.conn {
            self.commands.push_back(ConnCommand::Abort(conn));
        }
    }

    fn poll_transport(&mut self, _now: Instant) -> Option<ConnCommand<u64>> {
        if let Some(command) = self.commands.pop_front() {
            return Some(command);
        }
        if self.conn.is_none() && !self.queue.is_empty() {
            let id = self.next_conn;
            self.next_conn += 1;
            self.conn = Some(id);
            self.stats.connections += 1;
            return Some(ConnCommand::Open(id));
        }
        None
    }

    fn handle_established(&mut self, _now: Instant, conn: ConnId) {
        self.failures = 0;
        let _ = self.seen.send(Seen::Established(conn));
    }

    fn handle_stream_limit(&mut self, _now: Instant, conn: ConnId, limit: u32) {
        let _ = self.seen.send(Seen::Limit(conn, limit));
    }

    fn handle_goaway(&mut self, _now: Instant, conn: ConnId, goaway: &GoAway) {
        let _ = self.seen.send(Seen::GoAway(conn, goaway.debug_data.clone()));
    }

    fn handle_retire(&mut self, _now: Instant, _conn: ConnId) {}

    fn handle_ping_ack(&mut self, _now: Instant, _conn: ConnId, _rtt: Duration) {}

    fn handle_closed(&mut self, _now: Instant, conn: ConnId, loss: Loss) {
        if self.conn == Some(conn) {
            self.conn = None;
        }
        if matches!(loss, Loss::NotEstablished(_)) {
            self.failures += 1;
            if self.failures >= 3 {
                self.fail_all();
            }
        }
        let _ = self.seen.send(Seen::Closed(conn, loss));
    }

    fn poll_request(&mut self, _now: Instant, conn: ConnId) -> Option<(u64, Request)> {
        if self.conn != Some(conn) {
            return None;
        }
        let (item, request, resent) = self.queue.pop_front()?;
        self.flying.insert(item, (request.clone(), resent));
        Some((item, request))
    }

    fn handle_fate(&mut self, _now: Instant, _conn: ConnId, item: u64, fate: &Fate) {
        let Some((request, resent)) = self.flying.remove(&item) else { return };
        match (fate.processed(), fate.response()) {
            (_, Some(response)) => self.settle(item, response.status, resent),
            (Processed::No, None) if !self.closing => {
                self.stats.resent += 1;
                self.queue.push_front((item, request, true));
            }
            _ => self.settle(item, 0, resent),
        }
        if self.closing && self.unsettled() == 0 {
            if let Some(conn) = self.conn {
                self.commands.push_back(ConnCommand::Close(conn));
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_event(&mut self) -> Option<Done> {
        self.events.pop_front()
    }
}

pub(crate) fn request(authority: &str, n: u64, token: &str) -> Request {
    let payload = Payload::new().alert("hello").encode(PayloadLimit::HTTP2).unwrap();
    let id = format!("00000000-0000-4000-8000-{n:012x}").parse().unwrap();
    let notification = DeviceNotification::builder(token.parse().unwrap(), PushType::ALERT, payload)
        .topic(Topic::new(TOPIC).unwrap())
        .id(id)
        .build()
        .unwrap();
    notification.request(&HeaderValue::new(authority.to_owned()).unwrap(), None)
}

pub(crate) struct Rig {
    pub(crate) handle: Handle<Simple>,
    pub(crate) seen: Receiver<Seen>,
    pub(crate) done: Receiver<Done>,
    pub(crate) authority: String,
}

pub(crate) fn client_tls(pki: &TestPki, cert: bool) -> Arc<rustls::ClientConfig> {
    let mut tls = TlsConfig::new().ca_pem(pki.ca_cert_pem.as_bytes()).unwrap();
    if cert {
        tls = tls.identity(
            crate::Identity::from_pem(pki.client_cert_pem.as_bytes(), pki.client_key_pem.as_bytes()).unwrap(),
        );
    }
    tls.build_h2().unwrap()
}

pub(crate) fn start(endpoint: Endpoint, tls: Arc<rustls::ClientConfig>, capacity: usize) -> Rig {
    start_with(endpoint, tls, capacity, Duration::from_secs(5))
}

pub(crate) fn start_with(
    endpoint: Endpoint,
    tls: Arc<rustls::ClientConfig>,
    capacity: usize,
    connect_timeout: Duration,
) -> Rig {
    let (simple, seen) = Simple::new(capacity);
    let (tx, done) = channel();
    let authority = endpoint.host().to_owned();
    let config = Http2Shell {
        endpoint,
        tls,
        h2: apns_h2::Config::default(),
        connect_timeout,
        tls_buffer_limit: 256 << 10,
        on_event: Some(Box::new(move |done: &Done| {
            let _ = tx.send(*done);
        })),
    };
    let handle = Handle::start_http2(config, capacity, simple).unwrap();
    Rig { handle, seen, done, authority }
}

fn mock(pki: &TestPki, config: impl FnOnce(Http2Config) -> Http2Config) -> Http2Mock {
    Http2Mock::start(config(Http2Config::from_test_pki(pki).topic(TOPIC).seed(1))).unwrap()
}

impl Rig {
    fn send(&self, from: u64, n: u64) {
        let items = (from..from + n).map(|i| (i, request(&self.authority, i, TOKEN)));
        assert!(self.handle.send_batch(items, Some(WAIT)).is_ok());
    }

    fn collect(&self, n: usize) -> Vec<Done> {
        (0..n).map(|_| self.done.recv_timeout(WAIT).expect("an outcome")).collect()
    }
}

#[test]
fn ten_thousand_notifications_over_tls_with_a_client_certificate() {
    let pki = TestPki::generate().unwrap();
    let mock = mock(&pki, |c| c);
    let rig = start(Endpoint::at("localhost", mock.addr()), client_tls(&pki, true), 2048);
    rig.send(0, 10_000);
    let mut done = rig.collect(10_000);
    done.sort_by_key(|d| d.item);
    assert!(done.iter().enumerate().all(|(i, d)| d.item == i as u64 && d.status == 200), "{:?}", &done[..3]);
    let summary = rig.handle.close(WAIT).unwrap();
    assert!(summary.settled && summary.unsent.is_empty());
    let (stats, wire, pushed) = rig.handle.stats();
    assert_eq!((stats.finished, pushed), (10_000, 10_000));
    assert!(wire.bytes_written > 10_000 * 20 && wire.bytes_read > 0);
    assert_eq!(mock.stats().accepted, 10_000);
    // One connection, and the mock's stream limit.
    let seen: Vec<_> = rig.seen.try_iter().collect();
    assert!(seen.contains(&Seen::Established(1)));
    assert!(seen.contains(&Seen::Limit(1, 1000)), "{seen:?}");
}

#[test]
fn rejections_carry_their_status() {
    let pki = TestPki::generate().unwrap();
    let bad = "00".repeat(32);
    let mock = mock(&pki, |c| c.unregistered(&bad, 1_700_000_000_000));
    let rig = start(Endpoint::at("localhost", mock.addr()), client_tls(&pki, true), 64);
    let items = (0..4u64).map(|i| (i, request(&rig.authority, i, if i % 2 == 1 { &bad } else { TOKEN })));
    assert!(rig.handle.send_batch(items, Some(WAIT)).is_ok());
    let mut done = rig.collect(4);
    done.sort_by_key(|d| d.item);
    let statuses: Vec<_> = done.iter().map(|d| d.status).collect();
    assert_eq!(statuses, [200, 410, 200, 410]);
    assert!(rig.handle.close(WAIT).unwrap().settled);
}

#[test]
fn a_server_without_h2_is_refused_with_a_typed_error() {
    // The binary mock speaks TLS without ALPN: the handshake succeeds, HTTP/2 is refused.
    let pki = TestPki::generate().unwrap();
    let gateway = apns_mock::MockServer::start(apns_mock::MockConfig::from_test_pki(&pki)).unwrap();
    let rig = start(Endpoint::at("localhost", gateway.gateway_addr()), client_tls(&pki, true), 8);
    rig.send(0, 1);
    let closed = rig.seen.recv_timeout(WAIT).unwrap();
    assert_eq!(closed, Seen::Closed(1, Loss::NotEstablished(ConnectError::NoHttp2 { negotiated: None })));
    // Three failures: the item fails, nothing hangs.
    assert_eq!(rig.collect(1)[0].status, 0);
    let _ = rig.handle.close(Duration::ZERO);
}

#[test]
fn goaway_mid_run_resends_what_was_not_processed() {
    let pki = TestPki::generate().unwrap();
    let mock = mock(&pki, |c| c.goaway_every(700));
    let rig = start(Endpoint::at("localhost", mock.addr()), client_tls(&pki, true), 4096);
    rig.send(0, 3000);
    let done = rig.collect(3000);
    let seen: Vec<_> = rig.seen.try_iter().collect();
    assert!(done.iter().all(|d| d.status == 200), "{:?} {seen:?}", done.iter().find(|d| d.status != 200));
    let goaways = seen.iter().filter(|s| matches!(s, Seen::GoAway(..))).count();
    assert!(goaways >= 4, "{seen:?}");
    assert!(rig.handle.close(WAIT).unwrap().settled);
    assert_eq!(mock.stats().accepted, 3000);
}

#[test]
fn mock_killed_and_restarted_loses_nothing() {
    let pki = TestPki::generate().unwrap();
    let first = mock(&pki, |c| c);
    let addr = first.addr();
    let rig = start(Endpoint::at("localhost", addr), client_tls(&pki, true), 4096);
    rig.send(0, 500);
    let before = rig.collect(500);
    assert!(before.iter().all(|d| d.status == 200));
    first.stop();
    let second = mock(&pki, |c| c.addr(addr));
    rig.send(500, 500);
    let after = rig.collect(500);
    // Each item settles exactly once; those caught in flight when the connection died are
    // reported lost (status 0), never silently dropped.
    let mut items: Vec<_> = before.iter().chain(&after).map(|d| d.item).collect();
    items.sort_unstable();
    items.dedup();
    assert_eq!(items.len(), 1000);
    let ok = after.iter().filter(|d| d.status == 200).count() as u64;
    assert_eq!(second.stats().accepted, ok);
    assert!(rig.handle.close(WAIT).unwrap().settled);
}

#[test]
fn force_close_reports_everything_at_once() {
    let pki = TestPki::generate().unwrap();
    let mock = mock(&pki, |c| c.latency(Duration::from_secs(30)));
    let rig = start(Endpoint::at("localhost", mock.addr()), client_tls(&pki, true), 64);
    rig.send(0, 10);
    let started = Instant::now();
    let summary = rig.handle.close(Duration::ZERO).unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!summary.settled);
    let mut done: Vec<_> = rig.done.try_iter().collect();
    done.sort_by_key(|d| d.item);
    assert_eq!(done.len() + summary.unsent.len(), 10);
}

#[test]
fn a_silent_server_times_out_the_handshake() {
    // TCP is accepted, TLS never answered: the connect deadline ends it with a typed cause.
    let pki = TestPki::generate().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = Endpoint::at("localhost", listener.local_addr().unwrap());
    let rig = start_with(endpoint, client_tls(&pki, true), 8, Duration::from_millis(200));
    rig.send(0, 1);
    let started = Instant::now();
    let closed = rig.seen.recv_timeout(WAIT).unwrap();
    assert_eq!(closed, Seen::Closed(1, Loss::NotEstablished(ConnectError::HandshakeTimeout)));
    assert!(started.elapsed() < Duration::from_secs(5));
    let _ = rig.handle.close(Duration::ZERO);
    drop(listener);
}
