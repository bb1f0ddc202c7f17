//! Properties: input split anywhere gives the same events; under any script of server actions
//! every stream gets exactly one fate that agrees with what the server did, the client never
//! opens more streams than the limit it acknowledged nor sends beyond the windows (the scripted
//! server asserts both as it reads).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::server::Server;
use super::sim::{apns_request, small_body, Sim};
use crate::frame::{Frame, FrameHeader, FrameKind, Priority, SettingId};
use crate::StreamId;
use crate::{Config, Connection, ErrorCode, Event, Fate, NotProcessed};

const REQUESTS: u32 = 6;

/// A client that has written `REQUESTS` requests, before any input.
fn fresh_client(now: Instant) -> Connection {
    let config = Config { streams_before_settings: 100, ..Config::default() };
    let mut client = Connection::new(config, now).unwrap();
    for n in 0..REQUESTS {
        client.send_request(apns_request(n, small_body())).unwrap();
    }
    let _ = client.poll_transmit(now, &mut BytesMut::new());
    client
}

/// Everything a server writes in one rich script: settings, a PING, CONTINUATION, padding,
/// trailers, informational responses, unknown and PRIORITY frames, a reset, GOAWAY.
fn server_script(now: Instant) -> Vec<u8> {
    let mut client = fresh_client(now);
    let mut out = BytesMut::new();
    let _ = client.poll_transmit(now, &mut out);
    let mut server = Server::new();
    server.receive(&out);
    server.out.clear(); // Its SETTINGS ACK comes below, after its own SETTINGS.
    let s = StreamId::new;
    server.settings(&[(SettingId::MAX_CONCURRENT_STREAMS, 100), (SettingId::INITIAL_WINDOW_SIZE, 1000)]);
    server.frame(Frame::Settings { ack: true, params: Vec::new() });
    server.frame(Frame::Ping { ack: false, payload: *b"pingpong" });
    server.headers_split(
        s(1),
        &[(":status", "200"), ("apns-id", "one"), ("x-pad", &"p".repeat(100))],
        false,
        3,
    );
    server.data(s(1), b"body of one", false);
    server.headers(s(1), &[("trailer", "yes")], true);
    server.reset(s(3), ErrorCode::REFUSED_STREAM);
    let fragment = server.encode_block(&[(":status", "410"), ("apns-id", "three")]);
    server.frame(Frame::Headers {
        stream_id: s(5),
        fragment,
        pad_len: Some(7),
        priority: Some(Priority { exclusive: false, dependency: s(0), weight: 15 }),
        end_stream: false,
        end_headers: true,
    });
    server.frame(Frame::Data {
        stream_id: s(5),
        data: Bytes::from_static(br#"{"reason":"Unregistered"}"#),
        pad_len: Some(3),
        end_stream: true,
    });
    server.frame(Frame::Unknown {
        header: FrameHeader { len: 3, kind: FrameKind(0xfa), flags: 0xff, stream_id: s(7) },
        payload: Bytes::from_static(b"???"),
    });
    server.frame(Frame::Priority {
        stream_id: s(21),
        priority: Priority { exclusive: true, dependency: s(1), weight: 0 },
    });
    server.headers(s(7), &[(":status", "103")], false);
    server.window_update(StreamId::CONNECTION, 1_000_000);
    server.window_update(s(9), 100);
    server.goaway(s(9), ErrorCode::NO_ERROR, br#"{"reason":"Shutdown"}"#);
    server.respond(s(7), 200, &[("apns-id", "four")], b"");
    server.respond(s(9), 200, &[("apns-id", "five")], b"");
    server.out.to_vec()
}

fn events_after(now: Instant, pieces: &[&[u8]]) -> Vec<Event> {
    let mut client = fresh_client(now);
    for piece in pieces {
        client.handle_input(now, piece);
    }
    std::iter::from_fn(|| client.poll_event()).collect()
}

#[test]
fn every_split_point_gives_the_same_events() {
    let now = Instant::now();
    let script = server_script(now);
    let whole = events_after(now, &[&script]);
    // The script exercises what it claims.
    let fates: BTreeMap<_, _> = whole
        .iter()
        .filter_map(|event| match event {
            Event::Finished { id, fate, .. } => Some((id.get(), fate.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(fates.len(), REQUESTS as usize);
    let one = fates[&1].response().unwrap();
    assert_eq!((&one.body[..], one.trailers.as_ref().unwrap().len()), (&b"body of one"[..], 1));
    assert_eq!(fates[&3], Fate::Reset(ErrorCode::REFUSED_STREAM));
    assert_eq!(fates[&5].response().unwrap().status, 410);
    assert_eq!(fates[&9].response().unwrap().headers.get("apns-id").unwrap().as_bytes(), b"five");
    assert!(matches!(fates[&11], Fate::NotProcessed(NotProcessed::GoAway { .. })));
    assert!(matches!(whole.last(), Some(Event::Closed(crate::Closed::Graceful))));

    for at in 0..=script.len() {
        assert_eq!(events_after(now, &[&script[..at], &script[at..]]), whole, "split at {at}");
    }
    let bytes: Vec<&[u8]> = script.chunks(1).collect();
    assert_eq!(events_after(now, &bytes), whole, "one byte at a time");
}

proptest! {
    #[test]
    fn any_cut_into_pieces_gives_the_same_events(cuts in proptest::collection::btree_set(0usize..4000, 0..20)) {
        let now = Instant::now();
        let script = server_script(now);
        let mut pieces = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().map(|cut| cut % (script.len() + 1)).collect::<BTreeSet<_>>() {
            pieces.push(&script[start..cut]);
            start = cut;
        }
        pieces.push(&script[start..]);
        prop_assert_eq!(events_after(now, &pieces), events_after(now, &[&script]));
    }
}

#[derive(Debug, Clone)]
enum Op {
    Send { body: usize },
    Settings { max_streams: Option<u32>, window: Option<u32> },
    Respond { pick: usize, body: usize },
    Reset { pick: usize, refused: bool },
    GoAway { pick: usize },
    Credit { amount: u32 },
    AutoCredit(bool),
    Ping,
    Advance { secs: u64 },
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..6000).prop_map(|body| Op::Send { body }),
        2 => (proptest::option::of(0u32..20), proptest::option::of(0u32..70_000))
            .prop_map(|(max_streams, window)| Op::Settings { max_streams, window }),
        5 => (any::<usize>(), 0usize..300).prop_map(|(pick, body)| Op::Respond { pick, body }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, refused)| Op::Reset { pick, refused }),
        1 => any::<usize>().prop_map(|pick| Op::GoAway { pick }),
        2 => (1u32..100_000).prop_map(|amount| Op::Credit { amount }),
        1 => any::<bool>().prop_map(Op::AutoCredit),
        1 => Just(Op::Ping),
        1 => (0u64..20).prop_map(|secs| Op::Advance { secs }),
        1 => Just(Op::Close),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_stream_gets_exactly_one_fate(ops in proptest::collection::vec(op(), 1..60)) {
        let mut sim = Sim::new(Config::default());
        sim.server.settings(&[(SettingId::MAX_CONCURRENT_STREAMS, 4)]);
        sim.drive();
        let mut sent = Vec::new();
        let mut responded = BTreeSet::new();
        let mut reset = BTreeMap::new();
        let mut goaway_last: Option<u32> = None;
        for op in ops {
            match op {
                Op::Send { body } => {
                    if let Ok(id) = sim.client.send_request(apns_request(sent.len() as u32, Bytes::from(vec![b'b'; body]))) {
                        sent.push(id);
                    }
                }
                Op::Settings { max_streams, window } => {
                    let mut params = Vec::new();
                    params.extend(max_streams.map(|v| (SettingId::MAX_CONCURRENT_STREAMS, v)));
                    params.extend(window.map(|v| (SettingId::INITIAL_WINDOW_SIZE, v)));
                    sim.server.settings(&params);
                }
                Op::Respond { pick, body } => {
                    let ready = sim.server.complete_requests();
                    if !ready.is_empty() {
                        let id = ready[pick % ready.len()];
                        sim.server.respond(id, 200, &[("apns-id", "x")], &vec![b'r'; body]);
                        responded.insert(id);
                    }
                }
                Op::Reset { pick, refused } => {
                    let open: Vec<_> = sim.server.open.iter().copied().collect();
                    if !open.is_empty() {
                        let id = StreamId::new(open[pick % open.len()]);
                        let code = if refused { ErrorCode::REFUSED_STREAM } else { ErrorCode::INTERNAL_ERROR };
                        sim.server.reset(id, code);
                        reset.insert(id, code);
                    }
                }
                Op::GoAway { pick } => {
                    let opened = sim.server.opened();
                    let last = if opened.is_empty() { 0 } else { opened[pick % opened.len()].get() };
                    let last = goaway_last.map_or(last, |previous| previous.min(last));
                    goaway_last = Some(last);
                    sim.server.goaway(StreamId::new(last), ErrorCode::NO_ERROR, b"");
                }
                Op::Credit { amount } => {
                    sim.server.window_update(StreamId::CONNECTION, amount);
                    for id in sim.server.open.clone() {
                        sim.server.window_update(StreamId::new(id), amount);
                    }
                }
                Op::AutoCredit(on) => sim.server.auto_window_update = on,
                Op::Ping => {
                    let _ = sim.client.ping();
                }
                Op::Advance { secs } => sim.advance(Duration::from_secs(secs)),
                Op::Close => sim.client.handle_close(),
            }
            sim.drive();
            let budget = sim.client.send_budget();
            let limit = sim.client.peer_settings().max_concurrent_streams.unwrap_or(u32::MAX) as usize;
            prop_assert!(budget == 0 || budget + sim.client.open_streams() + sim.client.queued_streams() <= limit);
        }
        sim.client.handle_close();
        sim.drive();

        let fates = sim.fates();
        prop_assert_eq!(fates.len(), sent.len(), "every stream has a fate");
        let closed = sim.events.iter().filter(|event| matches!(event, Event::Closed(_))).count();
        prop_assert_eq!(closed, 1);
        prop_assert!(matches!(sim.events.last(), Some(Event::Closed(_))), "Closed is last");
        let opened: BTreeSet<_> = sim.server.opened().into_iter().collect();
        for (id, fate) in &fates {
            match fate {
                Fate::Response(_) => prop_assert!(responded.contains(id), "{id}: a response nobody sent"),
                Fate::Reset(code) => prop_assert_eq!(reset.get(id), Some(code)),
                Fate::NotProcessed(NotProcessed::NeverSent) => prop_assert!(!opened.contains(id), "{id} was written"),
                Fate::NotProcessed(NotProcessed::GoAway { last_stream_id, .. }) => {
                    prop_assert!(id.get() > last_stream_id.get());
                    prop_assert!(!responded.contains(id));
                }
                // Possibly processed: it was written (the server may even have answered, too late).
                Fate::ConnectionLost(_) | Fate::Aborted(_) => prop_assert!(opened.contains(id)),
            }
        }
    }
}
