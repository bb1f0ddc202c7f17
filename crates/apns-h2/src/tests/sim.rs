//! The simulation harness: a [`Connection`] and a scripted [`Server`] exchanging bytes under a
//! simulated clock, in the style of quinn's `Pair`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::server::Server;
use crate::frame::SettingId;
use crate::{Config, Connection, Event, Fate, HeaderName, HeaderValue, Indexing, Request, StreamId};

pub(crate) struct Sim {
    pub(crate) client: Connection,
    pub(crate) server: Server,
    pub(crate) now: Instant,
    /// Every event the client gave, in order.
    pub(crate) events: Vec<Event>,
    /// Every byte the client wrote.
    pub(crate) written: usize,
    /// Deliver the server's bytes to the client in pieces of this size (0: whole).
    pub(crate) chunk: usize,
}

impl Sim {
    pub(crate) fn new(config: Config) -> Self {
        let now = Instant::now();
        Self {
            client: Connection::new(config, now).unwrap(),
            server: Server::new(),
            now,
            events: Vec::new(),
            written: 0,
            chunk: 0,
        }
    }

    /// A connection after the handshake, the server announcing `settings`.
    pub(crate) fn connected(settings: &[(SettingId, u32)]) -> Self {
        let mut sim = Self::new(Config::default());
        sim.server.settings(settings);
        sim.drive();
        assert!(sim.client.is_established());
        sim
    }

    /// Moves bytes both ways until neither side has anything to say.
    pub(crate) fn drive(&mut self) {
        for _ in 0..10_000 {
            let mut out = BytesMut::new();
            let written = self.client.poll_transmit(self.now, &mut out);
            assert_eq!(written, out.len());
            self.written += written;
            self.server.receive(&out);
            let input = std::mem::take(&mut self.server.out);
            if self.chunk == 0 {
                self.client.handle_input(self.now, &input);
            } else {
                for piece in input.chunks(self.chunk) {
                    self.client.handle_input(self.now, piece);
                }
            }
            while let Some(event) = self.client.poll_event() {
                self.events.push(event);
            }
            if written == 0 && input.is_empty() && !self.client.wants_write() {
                return;
            }
        }
        panic!("the simulation does not settle");
    }

    /// Moves the clock to the client's next deadline (at most `limit` ahead), then drives.
    pub(crate) fn step(&mut self, limit: Duration) -> bool {
        let Some(deadline) = self.client.poll_timeout() else { return false };
        if deadline > self.now + limit {
            return false;
        }
        self.now = self.now.max(deadline);
        self.client.handle_timeout(self.now);
        self.drive();
        true
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += by;
        self.client.handle_timeout(self.now);
        self.drive();
    }

    pub(crate) fn send(&mut self, request: Request) -> StreamId {
        self.client.send_request(request).unwrap()
    }

    /// Fates by stream, checking each stream has only one.
    pub(crate) fn fates(&self) -> BTreeMap<StreamId, Fate> {
        let mut fates = BTreeMap::new();
        for event in &self.events {
            if let Event::Finished { id, fate, .. } = event {
                assert!(fates.insert(*id, fate.clone()).is_none(), "stream {id} has two fates");
            }
        }
        fates
    }

    pub(crate) fn fate(&self, id: StreamId) -> Fate {
        self.fates().remove(&id).unwrap_or_else(|| panic!("stream {id} has no fate"))
    }

    pub(crate) fn closed(&self) -> Option<&crate::Closed> {
        self.events.iter().find_map(|event| match event {
            Event::Closed(closed) => Some(closed),
            _ => None,
        })
    }

    /// Answers every complete request with 200 and an `apns-id` echoing its own.
    pub(crate) fn answer_all(&mut self) {
        for id in self.server.complete_requests() {
            let apns_id = self.server.streams[&id.get()]
                .field("apns-id")
                .map(|v| String::from_utf8(v.to_vec()).unwrap());
            let apns_id = apns_id.unwrap_or_default();
            self.server.respond(id, 200, &[("apns-id", &apns_id)], b"");
        }
        self.drive();
    }
}

pub(crate) const TOKEN: &str = "bearer eyJhbGciOiJFUzI1NiIsImtpZCI6IkFCQzEyM0RFRkcifQ.eyJpc3MiOiJERUYxMjNHSElKIiwiaWF0IjoxNzAwMDAwMDAwfQ.MEUCIQDv0hXvZzV1N0eLq2xk7M8Lr4w4bX0gS2Jg3o9s8l5W8QIgW4m6c8J0Zk1r2x6Qh9yT0u5v3b7n1m2k4j6h8g0f2d4";

/// An APNs-shaped request: `n` makes the device token and `apns-id` unique.
pub(crate) fn apns_request(n: u32, body: Bytes) -> Request {
    let path = format!("/3/device/{:064x}", n);
    Request::post(HeaderValue::from_static("api.push.apple.com"), HeaderValue::new(path).unwrap())
        .header(
            HeaderName::from_static("authorization"),
            HeaderValue::from_static(TOKEN),
            Indexing::Incremental,
        )
        .header(
            HeaderName::from_static("apns-topic"),
            HeaderValue::from_static("com.example.app"),
            Indexing::Incremental,
        )
        .header(
            HeaderName::from_static("apns-push-type"),
            HeaderValue::from_static("alert"),
            Indexing::Incremental,
        )
        .header(
            HeaderName::from_static("apns-id"),
            HeaderValue::new(format!("00000000-0000-0000-0000-{n:012x}")).unwrap(),
            Indexing::WithoutIndexing,
        )
        .header(
            HeaderName::from_static("apns-expiration"),
            HeaderValue::from_static("0"),
            Indexing::Incremental,
        )
        .header(
            HeaderName::from_static("apns-priority"),
            HeaderValue::from_static("10"),
            Indexing::Incremental,
        )
        .body(body)
}

pub(crate) fn small_body() -> Bytes {
    Bytes::from_static(br#"{"aps":{"alert":"Hello World!","sound":"default","badge":1}}"#)
}
