//! Deterministic simulations of the delivery machine against a model APNs server that works at
//! the seam (stream fates, no bytes), and property tests over random operation sequences.
#![allow(unreachable_pub, dead_code)] // Shared by the scenarios, the properties and the bench-like runs.

mod props;
mod scenarios;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use apns_h2::{
    Abort, ConnectionEnd, ErrorCode, Fate, HeaderField, HeaderName, HeaderValue, Headers, NotProcessed,
    Request, StreamId,
};
use apns_proto::http2::{ApnsId, DeviceNotification, PushType};
use apns_proto::{Payload, PayloadLimit};
use bytes::Bytes;

use super::*;

pub(crate) const AUTHORITY: HeaderValue = HeaderValue::from_static("api.push.apple.com");
pub(crate) const TOKEN: &str = "00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0";
/// The simulated wall clock starts here (2023-11-14).
pub(crate) const EPOCH_SECS: u64 = 1_700_000_000;

pub(crate) fn notification() -> DeviceNotification {
    let payload = Payload::new().alert("Hello").encode(PayloadLimit::HTTP2).unwrap();
    DeviceNotification::builder(TOKEN.parse().unwrap(), PushType::ALERT, payload).build().unwrap()
}

pub(crate) fn config() -> DeliveryConfig {
    DeliveryConfig::new(AUTHORITY, 7)
}

/// A response as apns-h2 would hand it over.
pub(crate) fn response(status: u16, headers: &[(&'static str, &str)], body: &str) -> Fate {
    let fields = headers
        .iter()
        .map(|(name, value)| HeaderField {
            name: HeaderName::from_static(name),
            value: HeaderValue::new(value.to_string()).unwrap(),
        })
        .collect();
    Fate::Response(apns_h2::Response {
        status,
        headers: Headers::from_fields(fields),
        body: Bytes::from(body.to_string()),
        trailers: None,
    })
}

pub(crate) fn ok(request: &Request) -> Fate {
    let id = request.header_value("apns-id").and_then(HeaderValue::to_str).unwrap_or("").to_string();
    let fields =
        vec![HeaderField { name: HeaderName::from_static("apns-id"), value: HeaderValue::new(id).unwrap() }];
    Fate::Response(apns_h2::Response {
        status: 200,
        headers: Headers::from_fields(fields),
        body: Bytes::new(),
        trailers: None,
    })
}

pub(crate) fn reject(status: u16, reason: &str) -> Fate {
    response(status, &[], &format!(r#"{{"reason":"{reason}"}}"#))
}

pub(crate) fn refused() -> Fate {
    Fate::Reset(ErrorCode::REFUSED_STREAM)
}

pub(crate) fn lost() -> Fate {
    Fate::ConnectionLost(ConnectionEnd::TransportClosed)
}

pub(crate) fn above_goaway(last: u32) -> Fate {
    Fate::NotProcessed(NotProcessed::GoAway {
        last_stream_id: StreamId::new(last),
        code: ErrorCode::NO_ERROR,
    })
}

/// One stream the model server holds.
#[derive(Debug)]
pub(crate) struct Stream {
    pub key: StreamKey,
    pub request: Request,
}

/// One simulated connection.
#[derive(Debug, Default)]
pub(crate) struct SimConn {
    pub established: bool,
    pub open: VecDeque<Stream>,
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS.
    pub limit: u32,
}

/// The harness: the machine, a simulated clock, the model server's connections, and what came
/// out.
pub(crate) struct Sim {
    pub d: Delivery<u64>,
    pub now: Instant,
    pub conns: BTreeMap<ConnId, SimConn>,
    pub reports: Vec<Report<u64>>,
    pub events: Vec<Event<u64>>,
    /// Requests received per apns-id.
    pub received: HashMap<ApnsId, u32>,
    /// Whether new connections get established (else they fail).
    pub connect_ok: bool,
    /// How a failed connect ends (when `connect_ok` is false).
    pub connect_loss: ConnectionLoss,
    /// Whether Open is answered at all (else the attempt hangs until its deadline).
    pub connect_answers: bool,
    /// The stream limit new connections announce.
    pub server_limit: u32,
    pub next_tag: u64,
    pub commands: Vec<TransportCommand>,
    /// Per apns-id: attempts that Apple accepted or may have processed (Processed::Maybe).
    pub maybe_delivered: HashMap<ApnsId, u32>,
}

impl Sim {
    pub fn new(config: DeliveryConfig) -> Self {
        Self::with_auth(config, Auth::Certificate)
    }

    pub fn with_auth(config: DeliveryConfig, auth: Auth) -> Self {
        let now = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(EPOCH_SECS);
        Self {
            d: Delivery::new(config, auth, now, wall).unwrap(),
            now,
            conns: BTreeMap::new(),
            reports: Vec::new(),
            events: Vec::new(),
            received: HashMap::new(),
            connect_ok: true,
            connect_loss: ConnectionLoss::Connect,
            connect_answers: true,
            server_limit: 1000,
            next_tag: 0,
            commands: Vec::new(),
            maybe_delivered: HashMap::new(),
        }
    }

    /// Hands `fate` for `stream` to the machine, noting whether it may have been delivered.
    pub fn settle(&mut self, id: ConnId, stream: Stream, fate: &Fate) {
        let delivered = match fate.processed() {
            apns_h2::Processed::Maybe => true,
            apns_h2::Processed::Yes => fate.response().is_some_and(|r| (200..300).contains(&r.status)),
            apns_h2::Processed::No => false,
        };
        let apns_id = stream.request.header_value("apns-id").and_then(|v| ApnsId::parse(v.as_bytes()).ok());
        if let (true, Some(apns_id)) = (delivered, apns_id) {
            *self.maybe_delivered.entry(apns_id).or_default() += 1;
        }
        self.d.handle_fate(self.now, id, stream.key, fate);
    }

    pub fn wall(&self, after: Duration) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(EPOCH_SECS) + after
    }

    /// Queues `n` notifications.
    pub fn send(&mut self, n: usize) {
        for _ in 0..n {
            self.send_one(notification());
        }
    }

    pub fn send_one(&mut self, notification: DeviceNotification) -> u64 {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.d.send(self.now, Item::device(notification, tag)).unwrap();
        tag
    }

    /// One transport turn: commands, then requests on every established connection.
    pub fn turn(&mut self) {
        for _ in 0..100 {
            let mut progressed = false;
            while let Some(command) = self.d.poll_transport(self.now) {
                progressed = true;
                self.commands.push(command);
                self.apply(command);
            }
            let ids: Vec<ConnId> =
                self.conns.iter().filter(|(_, c)| c.established).map(|(id, _)| *id).collect();
            for id in ids {
                while let Some((key, request)) = self.d.poll_request(self.now, id) {
                    progressed = true;
                    let id_value =
                        request.header_value("apns-id").and_then(|v| ApnsId::parse(v.as_bytes()).ok());
                    if let Some(apns_id) = id_value {
                        *self.received.entry(apns_id).or_default() += 1;
                    }
                    let conn = self.conns.get_mut(&id).unwrap();
                    conn.open.push_back(Stream { key, request });
                    assert!(
                        conn.open.len() <= conn.limit.max(1) as usize || conn.limit == 0,
                        "over the server limit"
                    );
                    assert!(self.d.in_flight(id) <= self.d.stream_budget(id).max(1), "over the budget");
                }
            }
            self.drain_events();
            if !progressed {
                break;
            }
        }
    }

    fn apply(&mut self, command: TransportCommand) {
        match command {
            TransportCommand::Open(id) => {
                if !self.connect_answers {
                    return;
                }
                if self.connect_ok {
                    self.conns.insert(
                        id,
                        SimConn { established: true, open: VecDeque::new(), limit: self.server_limit },
                    );
                    self.d.handle_established(self.now, id);
                    self.d.handle_stream_limit(self.now, id, self.server_limit);
                } else {
                    self.d.handle_closed(self.now, id, self.connect_loss.clone());
                }
            }
            TransportCommand::Close(id) | TransportCommand::Abort(id) => {
                if let Some(conn) = self.conns.remove(&id) {
                    for stream in conn.open {
                        self.settle(id, stream, &Fate::ConnectionLost(ConnectionEnd::Aborted));
                    }
                    self.d.handle_closed(self.now, id, ConnectionLoss::Closed(apns_h2::Closed::Graceful));
                }
            }
            TransportCommand::Ping(id) => {
                if self.conns.contains_key(&id) {
                    self.d.handle_ping_ack(self.now, id, Duration::from_millis(20));
                }
            }
            TransportCommand::Cancel(id, key) => {
                if let Some(conn) = self.conns.get_mut(&id) {
                    if let Some(stream) =
                        conn.open.iter().position(|s| s.key == key).and_then(|at| conn.open.remove(at))
                    {
                        self.settle(id, stream, &Fate::Aborted(Abort::Cancelled));
                    }
                }
            }
        }
    }

    pub fn drain_events(&mut self) {
        while let Some(event) = self.d.poll_event() {
            if let Event::Finished(report) = &event {
                self.reports.push(report.clone());
            }
            self.events.push(event);
        }
    }

    /// Answers every open stream of every connection with `answer`.
    pub fn answer_all(&mut self, mut answer: impl FnMut(&Request) -> Fate) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            while let Some(stream) = self.conns.get_mut(&id).and_then(|c| c.open.pop_front()) {
                let fate = answer(&stream.request);
                self.settle(id, stream, &fate);
            }
        }
        self.drain_events();
    }

    /// Answers the first `n` open streams of `id` (in send order) with `answer`.
    pub fn answer_n(&mut self, id: ConnId, n: usize, mut answer: impl FnMut(&Request) -> Fate) {
        for _ in 0..n {
            let Some(stream) = self.conns.get_mut(&id).and_then(|c| c.open.pop_front()) else { break };
            let fate = answer(&stream.request);
            self.settle(id, stream, &fate);
        }
        self.drain_events();
    }

    pub fn open_streams(&self, id: ConnId) -> usize {
        self.conns.get(&id).map_or(0, |c| c.open.len())
    }

    pub fn first_conn(&self) -> ConnId {
        *self.conns.keys().next().unwrap()
    }

    /// Turns and answers until nothing is in flight or `rounds` pass.
    pub fn run(&mut self, rounds: usize, mut answer: impl FnMut(&Request) -> Fate) {
        for _ in 0..rounds {
            self.turn();
            if self.conns.values().all(|c| c.open.is_empty()) {
                break;
            }
            self.answer_all(&mut answer);
        }
        self.turn();
    }

    /// Advances the clock to the machine's next timeout (at most `limit` later) and runs it.
    pub fn advance(&mut self, limit: Duration) {
        let target = self.now + limit;
        let next = self.d.poll_timeout().map_or(target, |t| t.min(target)).max(self.now);
        self.now = next;
        self.d.handle_timeout(self.now);
        self.turn();
    }

    pub fn advance_by(&mut self, by: Duration) {
        let target = self.now + by;
        let mut steps = 0;
        while self.now < target {
            self.advance(target - self.now);
            steps += 1;
            assert!(steps < 100_000, "time does not advance: poll_timeout {:?}", self.d.poll_timeout());
        }
        self.turn();
    }

    /// Kills a connection with its streams open.
    pub fn kill(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.remove(&id) {
            for stream in conn.open {
                self.settle(id, stream, &lost());
            }
            self.d.handle_closed(
                self.now,
                id,
                ConnectionLoss::Closed(apns_h2::Closed::Ended(ConnectionEnd::TransportClosed)),
            );
        }
        self.drain_events();
    }

    pub fn outcomes(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for report in &self.reports {
            let name = match &report.outcome {
                Outcome::Accepted { .. } => "accepted".to_string(),
                Outcome::Rejected(rejection) => format!("rejected {}", rejection.status),
                Outcome::Failed(reason) => format!("failed {reason:?}"),
            };
            *counts.entry(name).or_default() += 1;
        }
        counts
    }

    /// No notification may have reached a device twice unless its report says so.
    pub fn assert_no_silent_duplicates(&self) {
        for report in &self.reports {
            let delivered = self.maybe_delivered.get(&report.apns_id).copied().unwrap_or(0);
            assert!(delivered <= 1 || report.possible_duplicate, "{report:?} delivered {delivered} times");
        }
    }

    /// Every tag has exactly one report.
    pub fn assert_one_report_each(&self) {
        let mut seen = std::collections::HashSet::new();
        for report in &self.reports {
            assert!(seen.insert(report.tag), "tag {} reported twice", report.tag);
        }
        assert_eq!(seen.len() as u64, self.next_tag, "{:?}", self.outcomes());
    }
}
