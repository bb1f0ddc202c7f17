//! Drives `apns_resend::http2::Delivery` through its seam with arbitrary sequences of sends,
//! transport turns, stream fates (responses of any status, resets, refusals, losses), GOAWAYs,
//! limit changes, connection losses, closes and time steps, checking that nothing panics and
//! the invariants hold: at most one report per notification (exactly one after `abandon`),
//! never more streams on a connection than its budget, and no notification accepted or possibly
//! processed twice without `possible_duplicate`.

#![no_main]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant, UNIX_EPOCH};

use apns_h2::{
    ConnectionEnd, ErrorCode, Fate, GoAway, HeaderField, HeaderName, HeaderValue, Headers, NotProcessed, Processed,
    Request, Response, StreamId,
};
use apns_proto::http2::{ApnsId, DeviceNotification, PushType};
use apns_proto::{EncodedPayload, Expiry, PayloadLimit};
use apns_resend::http2::{
    Auth, ConnId, ConnectionLoss, Delivery, DeliveryConfig, Event, Item, StreamKey, TransportCommand,
};
use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Params {
    connections: u8,
    max_streams: u8,
    capacity: u8,
    max_retries: u8,
    seed: u64,
}

#[derive(Arbitrary, Debug)]
enum Operation {
    Send { expiry: Option<u8> },
    Turn,
    Answer { conn: u8, n: u8, fate: FateKind },
    Lose(u8),
    GoAway { conn: u8, last: u8, reason: u8 },
    Limit { conn: u8, limit: u8 },
    FailConnect,
    Advance(u16),
    Close,
    Abandon,
    Resume,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum FateKind {
    Status { status: u16, reason: u8, retry_after: Option<u8> },
    Refused,
    Reset(u32),
    AboveGoAway,
    Lost,
    Cancelled,
}

const REASONS: &[&str] = &[
    "BadDeviceToken", "Unregistered", "TooManyRequests", "ServiceUnavailable", "ExpiredProviderToken",
    "InvalidProviderToken", "BadCertificate", "InternalServerError", "Shutdown", "SomethingNew", "",
];

fn fate(kind: FateKind, request: &Request) -> Fate {
    match kind {
        FateKind::Status { status, reason, retry_after } => {
            let status = 200 + status % 400;
            let mut fields = Vec::new();
            if let Some(id) = request.header_value("apns-id") {
                fields.push(HeaderField { name: HeaderName::from_static("apns-id"), value: id.clone() });
            }
            if let Some(seconds) = retry_after {
                fields.push(HeaderField {
                    name: HeaderName::from_static("retry-after"),
                    value: HeaderValue::new(seconds.to_string()).unwrap(),
                });
            }
            let reason = REASONS[reason as usize % REASONS.len()];
            let body = if status < 300 { Bytes::new() } else { Bytes::from(format!(r#"{{"reason":"{reason}"}}"#)) };
            Fate::Response(Response { status, headers: Headers::from_fields(fields), body, trailers: None })
        }
        FateKind::Refused => Fate::Reset(ErrorCode::REFUSED_STREAM),
        FateKind::Reset(code) => Fate::Reset(ErrorCode(code)),
        FateKind::AboveGoAway => {
            Fate::NotProcessed(NotProcessed::GoAway { last_stream_id: StreamId::new(1), code: ErrorCode::NO_ERROR })
        }
        FateKind::Lost => Fate::ConnectionLost(ConnectionEnd::TransportClosed),
        FateKind::Cancelled => Fate::Aborted(apns_h2::Abort::Cancelled),
    }
}

struct Model {
    d: Delivery<u32>,
    now: Instant,
    conns: BTreeMap<ConnId, (bool, VecDeque<(StreamKey, Request)>)>,
    pending_open: Vec<ConnId>,
    reported: HashSet<u32>,
    delivered: HashMap<ApnsId, u32>,
    duplicates_ok: HashSet<ApnsId>,
    abandoned: bool,
}

impl Model {
    fn settle(&mut self, id: ConnId, key: StreamKey, request: &Request, fate: &Fate) {
        let delivered = match fate.processed() {
            Processed::Maybe => true,
            Processed::Yes => fate.response().is_some_and(|r| (200..300).contains(&r.status)),
            Processed::No => false,
        };
        if delivered {
            if let Some(id) = request.header_value("apns-id").and_then(|v| ApnsId::parse(v.as_bytes()).ok()) {
                *self.delivered.entry(id).or_default() += 1;
            }
        }
        self.d.handle_fate(self.now, id, key, fate);
    }

    fn drop_conn(&mut self, id: ConnId, end: Fate) {
        if let Some((_, streams)) = self.conns.remove(&id) {
            for (key, request) in streams {
                self.settle(id, key, &request, &end);
            }
            self.d.handle_closed(self.now, id, ConnectionLoss::Io);
        }
    }

    fn turn(&mut self) {
        while let Some(command) = self.d.poll_transport(self.now) {
            match command {
                TransportCommand::Open(id) => self.pending_open.push(id),
                TransportCommand::Close(id) | TransportCommand::Abort(id) => {
                    self.pending_open.retain(|p| *p != id);
                    self.drop_conn(id, Fate::ConnectionLost(ConnectionEnd::Aborted));
                }
                TransportCommand::Ping(id) => self.d.handle_ping_ack(self.now, id, Duration::from_millis(1)),
                TransportCommand::Cancel(id, key) => {
                    let found = self.conns.get_mut(&id).and_then(|(_, streams)| {
                        let at = streams.iter().position(|(k, _)| *k == key)?;
                        streams.remove(at)
                    });
                    if let Some((key, request)) = found {
                        self.settle(id, key, &request, &Fate::Aborted(apns_h2::Abort::Cancelled));
                    }
                }
                _ => {}
            }
        }
        // Connections establish at the next turn after Open.
        for id in std::mem::take(&mut self.pending_open) {
            self.conns.insert(id, (true, VecDeque::new()));
            self.d.handle_established(self.now, id);
            self.d.handle_stream_limit(self.now, id, 100);
        }
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            let mut n = 0;
            while let Some((key, request)) = self.d.poll_request(self.now, id) {
                assert!(self.d.in_flight(id) <= self.d.stream_budget(id), "over the budget");
                if let Some((_, streams)) = self.conns.get_mut(&id) {
                    streams.push_back((key, request));
                }
                n += 1;
                assert!(n <= 100_000);
            }
        }
        self.events();
    }

    fn events(&mut self) {
        while let Some(event) = self.d.poll_event() {
            if let Event::Finished(report) = event {
                assert!(self.reported.insert(report.tag), "two reports for {}", report.tag);
                if report.possible_duplicate {
                    self.duplicates_ok.insert(report.apns_id);
                }
                let times = self.delivered.get(&report.apns_id).copied().unwrap_or(0);
                assert!(times <= 1 || report.possible_duplicate, "delivered {times} times silently");
            }
        }
    }
}

fuzz_target!(|input: (Params, Vec<Operation>)| {
    let (params, operations) = input;
    let mut config = DeliveryConfig::new(HeaderValue::from_static("api.push.apple.com"), params.seed);
    config.connections = 1 + params.connections as usize % 3;
    config.max_streams_per_connection = 1 + u32::from(params.max_streams % 20);
    config.capacity = 1 + params.capacity as usize;
    config.max_retries = u32::from(params.max_retries % 5);
    let start = Instant::now();
    let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut model = Model {
        d: Delivery::new(config, Auth::Certificate, start, wall).unwrap(),
        now: start,
        conns: BTreeMap::new(),
        pending_open: Vec::new(),
        reported: HashSet::new(),
        delivered: HashMap::new(),
        duplicates_ok: HashSet::new(),
        abandoned: false,
    };
    let payload = EncodedPayload::new(&b"{}"[..], PayloadLimit::HTTP2).unwrap();
    let token: apns_proto::http2::HexDeviceToken =
        "00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0".parse().unwrap();
    let mut tags = 0u32;
    for operation in operations.into_iter().take(400) {
        match operation {
            Operation::Send { expiry } => {
                let mut builder = DeviceNotification::builder(token.clone(), PushType::ALERT, payload.clone());
                if let Some(after) = expiry {
                    let at = wall + Duration::from_secs(u64::from(after)) + model.now.duration_since(start);
                    let seconds = at.duration_since(UNIX_EPOCH).unwrap().as_secs() as u32;
                    builder = builder.expiration(Expiry::from_unix_seconds(if after == 0 { 0 } else { seconds }));
                }
                if model.d.send(model.now, Item::device(builder.build().unwrap(), tags)).is_ok() {
                    tags += 1;
                }
            }
            Operation::Turn => model.turn(),
            Operation::Answer { conn, n, fate: kind } => {
                let ids: Vec<ConnId> = model.conns.keys().copied().collect();
                if let Some(&id) = ids.get(conn as usize % ids.len().max(1)) {
                    for _ in 0..n {
                        let Some((key, request)) = model.conns.get_mut(&id).and_then(|(_, s)| s.pop_front()) else {
                            break;
                        };
                        let fate = fate(kind, &request);
                        model.settle(id, key, &request, &fate);
                    }
                }
            }
            Operation::Lose(conn) => {
                let ids: Vec<ConnId> = model.conns.keys().copied().collect();
                if let Some(&id) = ids.get(conn as usize % ids.len().max(1)) {
                    model.drop_conn(id, Fate::ConnectionLost(ConnectionEnd::TransportClosed));
                }
            }
            Operation::GoAway { conn, last, reason } => {
                let ids: Vec<ConnId> = model.conns.keys().copied().collect();
                if let Some(&id) = ids.get(conn as usize % ids.len().max(1)) {
                    let goaway = GoAway {
                        last_stream_id: StreamId::new(u32::from(last)),
                        code: ErrorCode::NO_ERROR,
                        // Any reason: refusals halt, an expired token refreshes, others drain.
                        debug_data: Bytes::from(format!(
                            r#"{{"reason":"{}"}}"#,
                            REASONS[reason as usize % REASONS.len()]
                        )),
                    };
                    model.d.handle_goaway(model.now, id, &goaway);
                }
            }
            Operation::Limit { conn, limit } => {
                let ids: Vec<ConnId> = model.conns.keys().copied().collect();
                if let Some(&id) = ids.get(conn as usize % ids.len().max(1)) {
                    model.d.handle_stream_limit(model.now, id, u32::from(limit));
                }
            }
            Operation::FailConnect => {
                if let Some(id) = model.pending_open.pop() {
                    model.d.handle_closed(model.now, id, ConnectionLoss::Connect);
                }
            }
            Operation::Advance(ms) => {
                model.now += Duration::from_millis(u64::from(ms) * 10);
                model.d.handle_timeout(model.now);
                let _ = model.d.poll_timeout();
            }
            Operation::Close => model.d.close(model.now),
            Operation::Abandon => {
                model.d.abandon(model.now);
                model.abandoned = true;
            }
            Operation::Resume => model.d.resume(model.now),
        }
        model.events();
    }
    model.d.abandon(model.now);
    model.events();
    assert_eq!(model.reported.len() as u32, tags, "every notification one report after abandon");
});
