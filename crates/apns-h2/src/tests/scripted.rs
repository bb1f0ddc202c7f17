//! Scripted scenarios against the simulated server: each test reads as what the server does and
//! what the client must conclude.

use std::time::Duration;

use bytes::Bytes;

use super::sim::{apns_request, small_body, Sim};
use crate::frame::{Frame, SettingId};
use crate::StreamId;
use crate::{
    Abort, Closed, Config, ConnectionEnd, ConnectionError, ErrorCode, Event, Fate, Limit, Malformed,
    NotProcessed, Processed, SendError,
};

const MAX_STREAMS: SettingId = SettingId::MAX_CONCURRENT_STREAMS;

fn id(n: u32) -> StreamId {
    StreamId::new(n)
}

#[test]
fn handshake_writes_preface_settings_and_window_and_acknowledges() {
    let mut sim = Sim::new(Config::default());
    // Before the server's SETTINGS: one stream, as APNs allows.
    assert_eq!(sim.client.send_budget(), 1);
    sim.server.settings(&[(MAX_STREAMS, 1000), (SettingId::INITIAL_WINDOW_SIZE, 1 << 20)]);
    sim.drive();
    assert!(sim.client.is_established());
    assert_eq!(sim.client.send_budget(), 1000);
    assert_eq!(sim.server.client_settings.len(), 1);
    // Our connection window was raised to 1 MiB at once.
    assert_eq!(sim.server.window_updates, [(StreamId::CONNECTION, (1 << 20) - 65_535)]);
    assert!(
        matches!(sim.events[0], Event::Settings(settings) if settings.max_concurrent_streams == Some(1000))
    );
    assert_eq!(sim.client.poll_timeout(), None, "settings acknowledged both ways: no deadline left");
}

#[test]
fn budget_follows_max_concurrent_streams_as_it_changes() {
    // APNs: 1 stream until a token is accepted, then 1,000, then 1 again after a rejection.
    let mut sim = Sim::connected(&[(MAX_STREAMS, 1)]);
    let first = sim.send(apns_request(0, small_body()));
    assert_eq!(sim.client.send_budget(), 0);
    assert!(matches!(sim.client.send_request(apns_request(1, small_body())), Err(SendError::NoBudget(_))));
    sim.drive();
    sim.server.settings(&[(MAX_STREAMS, 1000)]);
    sim.answer_all();
    assert!(sim.fate(first).response().is_some());
    assert_eq!(sim.client.send_budget(), 1000);
    let ids: Vec<_> = (1..=10).map(|n| sim.send(apns_request(n, small_body()))).collect();
    assert_eq!(sim.client.send_budget(), 990);
    sim.drive();
    assert_eq!(sim.server.opened().len(), 11);
    // The limit drops to 1 with 10 streams open: they may finish, nothing new opens meanwhile.
    sim.server.settings(&[(MAX_STREAMS, 1)]);
    sim.drive();
    assert_eq!(sim.client.send_budget(), 0);
    for &stream in &ids[..9] {
        sim.server.respond(stream, 200, &[], b"");
    }
    sim.drive();
    assert_eq!(sim.client.send_budget(), 0, "one stream is still open against a limit of 1");
    sim.server.respond(ids[9], 200, &[], b"");
    sim.drive();
    assert_eq!(sim.client.send_budget(), 1);
    assert_eq!(sim.fates().len(), 11);
}

#[test]
fn streams_waiting_for_budget_open_in_order_when_the_limit_drops_before_they_are_written() {
    let mut sim = Sim::connected(&[(MAX_STREAMS, 5)]);
    let ids: Vec<_> = (0..5).map(|n| sim.send(apns_request(n, small_body()))).collect();
    // The server lowers its limit before the client writes anything.
    sim.server.settings(&[(MAX_STREAMS, 2)]);
    let input = std::mem::take(&mut sim.server.out);
    sim.client.handle_input(sim.now, &input);
    sim.drive();
    assert_eq!(sim.server.opened(), &ids[..2]);
    assert_eq!(sim.client.queued_streams(), 3);
    assert_eq!(sim.client.send_budget(), 0);
    while sim.fates().len() < 5 {
        sim.answer_all();
    }
    assert_eq!(sim.server.opened(), ids);
    assert_eq!(sim.server.max_open_seen, 2);
}

#[test]
fn bodies_beyond_the_windows_wait_and_all_arrive() {
    // 1,000 streams of 4 KiB exceed the 65,535-byte connection window many times over.
    let mut sim = Sim::connected(&[(MAX_STREAMS, 1000)]);
    sim.server.auto_window_update = false;
    let body = Bytes::from(vec![b'x'; 4096]);
    let ids: Vec<_> = (0..1000).map(|n| sim.send(apns_request(n, body.clone()))).collect();
    sim.drive();
    assert_eq!(sim.server.opened().len(), 1000, "every HEADERS is written at once");
    let sent: usize = sim.server.streams.values().map(|stream| stream.body.len()).sum();
    assert_eq!(sent, 65_535, "DATA stops at the connection window");
    assert_eq!(sim.client.send_window(), 0);
    // The server reads at its own pace: 100 KiB of credit at a time.
    sim.server.auto_window_update = true;
    while sim.server.streams.values().any(|stream| !stream.ended) {
        sim.server.window_update(StreamId::CONNECTION, 100 << 10);
        sim.drive();
    }
    assert!(sim.server.streams.values().all(|stream| stream.body == body));
    sim.answer_all();
    assert!(ids.iter().all(|&stream| sim.fate(stream).response().is_some()));
}

#[test]
fn initial_window_size_can_make_stream_windows_negative() {
    let mut sim = Sim::connected(&[(MAX_STREAMS, 10), (SettingId::INITIAL_WINDOW_SIZE, 1000)]);
    sim.server.auto_window_update = false;
    let stream = sim.send(apns_request(0, Bytes::from(vec![b'y'; 3000])));
    sim.drive();
    assert_eq!(sim.server.streams[&stream.get()].body.len(), 1000);
    // The initial window drops from 1,000 to 0 after 1,000 bytes were sent: the window is
    // now -1,000.
    sim.server.settings(&[(SettingId::INITIAL_WINDOW_SIZE, 0)]);
    sim.drive();
    sim.server.window_update(stream, 1000);
    sim.drive();
    assert_eq!(sim.server.streams[&stream.get()].body.len(), 1000, "the window is back to 0: still nothing");
    sim.server.window_update(stream, 2000);
    sim.drive();
    assert_eq!(sim.server.streams[&stream.get()].body.len(), 3000);
    assert!(sim.server.streams[&stream.get()].ended);
}

#[test]
fn goaway_splits_streams_at_last_stream_id() {
    let mut sim = Sim::connected(&[(MAX_STREAMS, 10)]);
    let open: Vec<_> = (0..10).map(|n| sim.send(apns_request(n, small_body()))).collect();
    sim.drive();
    sim.server.settings(&[(MAX_STREAMS, 12)]);
    sim.drive();
    // Two more waiting for their HEADERS when the GOAWAY arrives.
    let queued: Vec<_> = (10..12).map(|n| sim.send(apns_request(n, small_body()))).collect();
    sim.server.goaway(id(9), ErrorCode::NO_ERROR, br#"{"reason":"Shutdown"}"#);
    let input = std::mem::take(&mut sim.server.out);
    sim.client.handle_input(sim.now, &input);
    assert!(sim.client.needs_replacement());
    assert_eq!(sim.client.send_budget(), 0);
    assert!(matches!(sim.client.send_request(apns_request(99, small_body())), Err(SendError::Closing(_))));
    sim.drive();
    let goaway = sim.client.goaway().unwrap();
    assert_eq!((goaway.last_stream_id, &goaway.debug_data[..]), (id(9), &br#"{"reason":"Shutdown"}"#[..]));
    for &stream in &open[5..] {
        let fate = sim.fate(stream);
        assert_eq!(
            fate,
            Fate::NotProcessed(NotProcessed::GoAway { last_stream_id: id(9), code: ErrorCode::NO_ERROR })
        );
        assert_eq!(fate.processed(), Processed::No);
    }
    for &stream in &queued {
        assert_eq!(sim.fate(stream), Fate::NotProcessed(NotProcessed::NeverSent));
    }
    assert_eq!(sim.server.opened(), &open[..], "nothing is written after the GOAWAY");
    // Streams 1 to 9 still complete, then the connection closes gracefully.
    assert!(sim.closed().is_none());
    sim.answer_all();
    for &stream in &open[..5] {
        assert_eq!(sim.fate(stream).processed(), Processed::Yes);
    }
    assert_eq!(sim.closed(), Some(&Closed::Graceful));
    assert!(matches!(sim.events.last(), Some(Event::Closed(_))));
}

#[test]
fn goaway_then_transport_close_loses_streams_below_last_stream_id() {
    let mut sim = Sim::connected(&[(MAX_STREAMS, 10)]);
    let ids: Vec<_> = (0..4).map(|n| sim.send(apns_request(n, small_body()))).collect();
    sim.drive();
    sim.server.goaway(id(3), ErrorCode::INTERNAL_ERROR, b"");
    sim.drive();
    sim.client.handle_close();
    sim.drive();
    for &stream in &ids[..2] {
        assert_eq!(sim.fate(stream), Fate::ConnectionLost(ConnectionEnd::TransportClosed));
        assert_eq!(sim.fate(stream).processed(), Processed::Maybe);
    }
    for &stream in &ids[2..] {
        assert_eq!(sim.fate(stream).processed(), Processed::No);
    }
    assert_eq!(sim.closed(), Some(&Closed::Ended(ConnectionEnd::TransportClosed)));
}

#[test]
fn rst_stream_refused_is_not_processed_and_others_maybe() {
    let mut sim = Sim::connected(&[(MAX_STREAMS, 10)]);
    let refused = sim.send(apns_request(0, small_body()));
    let cancelled = sim.send(apns_request(1, small_body()));
    sim.drive();
    sim.server.reset(refused, ErrorCode::REFUSED_STREAM);
    sim.server.reset(cancelled, ErrorCode::INTERNAL_ERROR);
    sim.drive();
    assert_eq!(sim.fate(refused), Fate::Reset(ErrorCode::REFUSED_STREAM));
    assert_eq!(sim.fate(refused).processed(), Processed::No);
    assert_eq!(sim.fate(cancelled).processed(), Processed::Maybe);
    assert_eq!(sim.client.send_budget(), 10);
    // Frames for a stream already reset are ignored, DATA's credit returned.
    sim.server.respond(refused, 200, &[], b"late");
    sim.drive();
    assert!(!sim.client.is_closed());
}

#[test]
fn responses_in_continuation_frames_and_trailers() {
    let mut sim = Sim::connected(&[(MAX_STREAMS, 10)]);
    let stream = sim.send(apns_request(0, small_body()));
    sim.drive();
    let long = "v".repeat(300);
    sim.server.headers_split(stream, &[(":status", "400"), ("apns-id", "abc"), ("x-long", &long)], false, 4);
    sim.server.data(stream, br#"{"reason":"BadDeviceToken"}"#, false);
    sim.server.headers_split(stream, &[("x-trailer", "done")], true, 2);
    sim.drive();
    let Fate::Response(response) = sim.fate(stream) else { panic!("no response") };
    assert_eq!(response.status, 400);
    assert_eq!(response.headers.get("apns-id").unwrap().as_bytes(), b"abc");
    assert_eq!(response.headers.get("x-long").unwrap().as_bytes(), long.as_bytes());
    assert_eq!(&response.body[..], br#"{"reason":"BadDeviceToken"}"#);
    assert_eq!(response.trailers.unwrap().get("x-trailer").unwrap().as_bytes(), b"done");
}

#[test]
fn request_header_blocks_larger_than_a_frame_use_continuation() {
    let mut sim = Sim::connected(&[(MAX_STREAMS, 10)]);
    let big = crate::HeaderValue::new("z".repeat(40_000)).unwrap();
    let request = apns_request(0, small_body()).header(
        crate::HeaderName::from_static("x-big"),
        big,
        crate::Indexing::NeverIndexed,
    );
    let stream = sim.send(request);
    sim.drive();
    let read = &sim.server.streams[&stream.get()];
    assert_eq!(read.field("x-big").unwrap().len(), 40_000);
    assert!(read.fields.iter().any(|(name, _, never)| name.as_ref() == b"x-big" && *never));
    assert_eq!(sim.server.frame_counts[&9], 2, "40 KB of Huffman-coded z is three frames");
}

#[test]
fn indexing_choices_reach_the_wire() {
    let mut sim = Sim::connected(&[(MAX_STREAMS, 10)]);
    let first = sim.send(apns_request(0, small_body()));
    let second = sim.send(apns_request(1, small_body()));
    sim.drive();
    let (first, second) = (&sim.server.streams[&first.get()], &sim.server.streams[&second.get()]);
    // The second block reuses the indexed fields (authorization, topic, ...): only :path and
    // apns-id are literals, sent raw (not Huffman-coded by default: `huffman_unindexed`).
    assert!(first.block_len > 250, "{}", first.block_len);
    assert!(second.block_len < 130, "{}", second.block_len);
    let differing: Vec<_> =
        first.fields.iter().zip(&second.fields).filter(|(a, b)| a != b).map(|(a, _)| a.0.clone()).collect();
    assert_eq!(differing, [&b":path"[..], b"apns-id"]);
}

#[test]
fn ping_round_trip_and_timeout() {
    let mut sim = Sim::connected(&[(MAX_STREAMS, 10)]);
    assert!(sim.client.ping());
    assert!(!sim.client.ping(), "one at a time");
    let mut out = bytes::BytesMut::new();
    let _ = sim.client.poll_transmit(sim.now, &mut out);
    sim.server.receive(&out);
    sim.now += Duration::from_millis(40);
    sim.drive();
    assert!(sim.events.contains(&Event::PingAcknowledged { rtt: Duration::from_millis(40) }));

    // A server that stops answering: the in-flight request's fate is unknown.
    sim.server.answer_pings = false;
    let stream = sim.send(apns_request(0, small_body()));
    assert!(sim.client.ping());
    sim.drive();
    assert_eq!(sim.client.poll_timeout(), Some(sim.now + Duration::from_secs(10)));
    sim.advance(Duration::from_secs(9));
    assert!(!sim.client.is_closed(), "a spurious timeout changes nothing");
    while sim.step(Duration::from_secs(60)) {}
    assert_eq!(sim.fate(stream), Fate::ConnectionLost(ConnectionEnd::PingTimeout));
    assert_eq!(sim.closed(), Some(&Closed::Ended(ConnectionEnd::PingTimeout)));
    assert!(sim.server.goaway.is_some());
}

#[test]
fn keepalive_pings_an_idle_connection() {
    let config = Config { keepalive_interval: Some(Duration::from_secs(60)), ..Config::default() };
    let mut sim = Sim::new(config);
    sim.server.settings(&[]);
    sim.drive();
    assert_eq!(sim.client.poll_timeout(), Some(sim.now + Duration::from_secs(60)));
    assert!(sim.step(Duration::from_secs(60)));
    assert_eq!(sim.server.pings.len(), 1);
    assert!(sim.events.iter().any(|event| matches!(event, Event::PingAcknowledged { .. })));
    assert!(!sim.client.is_closed());
}

#[test]
fn a_server_that_never_sends_settings_times_out() {
    let mut sim = Sim::new(Config::default());
    sim.server.ack_settings = false;
    sim.server.auto_window_update = false;
    let stream = sim.send(apns_request(0, small_body()));
    sim.drive();
    while sim.step(Duration::from_secs(60)) {}
    assert_eq!(sim.fate(stream), Fate::ConnectionLost(ConnectionEnd::SettingsTimeout));
    assert_eq!(sim.server.goaway.as_ref().unwrap().1, ErrorCode::SETTINGS_TIMEOUT);
}

#[test]
fn stream_ids_run_out_and_the_connection_asks_to_be_replaced() {
    let mut sim = Sim::connected(&[(MAX_STREAMS, 100)]);
    sim.client.set_next_stream_id(StreamId::MAX.get() - 2);
    assert_eq!(sim.client.send_budget(), 2);
    assert_eq!(sim.client.stream_ids_left(), 2);
    let a = sim.send(apns_request(0, small_body()));
    let b = sim.send(apns_request(1, small_body()));
    assert_eq!((a.get(), b.get()), (StreamId::MAX.get() - 2, StreamId::MAX.get()));
    assert!(sim.client.needs_replacement());
    assert_eq!((sim.client.send_budget(), sim.client.stream_ids_left()), (0, 0));
    assert!(matches!(
        sim.client.send_request(apns_request(2, small_body())),
        Err(SendError::StreamIdsExhausted(_))
    ));
    sim.drive();
    sim.answer_all();
    assert!(sim.fate(b).response().is_some());
}

#[test]
fn malformed_responses_reset_the_stream_only() {
    let cases: Vec<(Vec<(&str, &str)>, Malformed)> = vec![
        (vec![("apns-id", "x")], Malformed::Status),
        (vec![(":status", "2000")], Malformed::Status),
        (vec![(":status", "200"), (":path", "/")], Malformed::PseudoHeader),
        (vec![(":status", "200"), ("Apns-Id", "x")], Malformed::Name),
        (vec![(":status", "200"), ("connection", "close")], Malformed::Name),
        (vec![(":status", "200"), ("content-length", "5")], Malformed::ContentLength),
        (vec![(":status", "101")], Malformed::Status),
    ];
    let mut sim = Sim::connected(&[(MAX_STREAMS, 100)]);
    for (fields, expected) in cases {
        let stream = sim.send(apns_request(0, small_body()));
        sim.drive();
        sim.server.headers(stream, &fields, true);
        sim.drive();
        assert_eq!(sim.fate(stream), Fate::Aborted(Abort::Malformed(expected)), "{fields:?}");
        assert_eq!(sim.server.streams[&stream.get()].reset, Some(ErrorCode::PROTOCOL_ERROR));
    }
    // A value with a newline can only come from a raw HPACK literal.
    let stream = sim.send(apns_request(0, small_body()));
    sim.drive();
    let fragment = Bytes::from_static(b"\x88\x00\x01a\x02b\n");
    sim.server.frame(Frame::Headers {
        stream_id: stream,
        fragment,
        pad_len: None,
        priority: None,
        end_stream: true,
        end_headers: true,
    });
    sim.drive();
    assert_eq!(sim.fate(stream), Fate::Aborted(Abort::Malformed(Malformed::Value)));
    assert!(!sim.client.is_closed());
}

#[test]
fn informational_responses_are_skipped() {
    let mut sim = Sim::connected(&[(MAX_STREAMS, 10)]);
    let stream = sim.send(apns_request(0, small_body()));
    sim.drive();
    sim.server.headers(stream, &[(":status", "100")], false);
    sim.server.headers(stream, &[(":status", "103"), ("link", "</a>")], false);
    sim.server.respond(stream, 200, &[("content-length", "2")], b"ok");
    sim.drive();
    let response = sim.fate(stream).response().cloned().unwrap();
    assert_eq!((response.status, &response.body[..]), (200, &b"ok"[..]));
}

#[test]
fn oversized_responses_abort_the_stream() {
    let config = Config { max_response_body: 100, max_header_list_size: 200, ..Config::default() };
    let mut sim = Sim::new(config);
    sim.server.settings(&[(MAX_STREAMS, 10)]);
    sim.drive();
    let body = sim.send(apns_request(0, small_body()));
    let headers = sim.send(apns_request(1, small_body()));
    sim.drive();
    sim.server.respond(body, 200, &[], &[b'b'; 101]);
    sim.server.respond(headers, 200, &[("x", &"h".repeat(200))], b"");
    sim.drive();
    assert_eq!(sim.fate(body), Fate::Aborted(Abort::BodyTooLarge));
    assert_eq!(sim.fate(headers), Fate::Aborted(Abort::HeadersTooLarge));
    // The HPACK state stayed in step: the next response decodes.
    let next = sim.send(apns_request(2, small_body()));
    sim.drive();
    sim.server.respond(next, 200, &[("x", &"h".repeat(100))], b"");
    sim.drive();
    assert!(sim.fate(next).response().is_some());
}

#[test]
fn a_response_before_the_whole_body_stops_the_upload() {
    let mut sim = Sim::connected(&[(MAX_STREAMS, 10), (SettingId::INITIAL_WINDOW_SIZE, 100)]);
    sim.server.auto_window_update = false;
    let stream = sim.send(apns_request(0, Bytes::from(vec![b'q'; 1000])));
    sim.drive();
    sim.server.respond(stream, 413, &[], br#"{"reason":"PayloadTooLarge"}"#);
    sim.drive();
    assert_eq!(sim.fate(stream).response().unwrap().status, 413);
    assert_eq!(sim.server.streams[&stream.get()].reset, Some(ErrorCode::CANCEL));
    sim.server.window_update(stream, 10_000);
    sim.drive();
    assert_eq!(sim.server.streams[&stream.get()].body.len(), 100, "no DATA after the reset");
}

#[test]
fn receive_windows_are_replenished() {
    let mut sim = Sim::connected(&[(MAX_STREAMS, 100)]);
    // 40 responses of 60 KB: 2.4 MB through a 1 MiB connection window, each body past half
    // of its 65,535-byte stream window.
    let body = vec![b'r'; 60_000];
    for n in 0..40 {
        let stream = sim.send(apns_request(n, small_body()));
        sim.drive();
        sim.server.headers(stream, &[(":status", "200")], false);
        for (index, piece) in body.chunks(15_000).enumerate() {
            sim.server.data(stream, piece, index == 3);
        }
        sim.drive();
        assert_eq!(sim.fate(stream).response().unwrap().body.len(), 60_000);
    }
    let connection_credit: u64 = sim
        .server
        .window_updates
        .iter()
        .filter(|(id, _)| id.is_connection())
        .map(|&(_, n)| u64::from(n))
        .sum();
    assert!(connection_credit >= 40 * 60_000 - (1 << 20), "{connection_credit}");
    assert!(sim.server.window_updates.iter().any(|(id, _)| !id.is_connection()), "stream windows too");
}

#[test]
fn connection_errors_send_goaway_and_end_every_stream() {
    type Script = fn(&mut Sim, StreamId);
    let cases: Vec<(Script, ErrorCode)> = vec![
        (
            |sim, id| {
                sim.server.frame(Frame::PushPromise {
                    stream_id: id,
                    promised_id: StreamId::new(2),
                    fragment: Bytes::new(),
                    pad_len: None,
                    end_headers: true,
                })
            },
            ErrorCode::PROTOCOL_ERROR,
        ),
        (
            |sim, _| sim.server.headers(StreamId::new(99), &[(":status", "200")], true),
            ErrorCode::PROTOCOL_ERROR,
        ),
        (
            |sim, _| sim.server.headers(StreamId::new(2), &[(":status", "200")], true),
            ErrorCode::PROTOCOL_ERROR,
        ),
        (
            |sim, id| {
                sim.server.frame(Frame::Headers {
                    stream_id: id,
                    fragment: Bytes::from_static(b"\xff"),
                    pad_len: None,
                    priority: None,
                    end_stream: true,
                    end_headers: true,
                })
            },
            ErrorCode::COMPRESSION_ERROR,
        ),
        (
            |sim, id| {
                sim.server.frame(Frame::Headers {
                    stream_id: id,
                    fragment: Bytes::from_static(b"\x88"),
                    pad_len: None,
                    priority: None,
                    end_stream: true,
                    end_headers: false,
                });
                sim.server.frame(Frame::Ping { ack: false, payload: [0; 8] })
            },
            ErrorCode::PROTOCOL_ERROR,
        ),
        (
            |sim, _| {
                sim.server.frame(Frame::Continuation {
                    stream_id: StreamId::new(1),
                    fragment: Bytes::new(),
                    end_headers: true,
                })
            },
            ErrorCode::PROTOCOL_ERROR,
        ),
        (|sim, _| sim.server.settings(&[(SettingId::ENABLE_PUSH, 1)]), ErrorCode::PROTOCOL_ERROR),
        (|sim, _| sim.server.raw(&[0, 0x40, 1, 0, 0, 0, 0, 0, 1]), ErrorCode::FRAME_SIZE_ERROR),
        (|sim, _| sim.server.window_update(StreamId::CONNECTION, 0), ErrorCode::PROTOCOL_ERROR),
        (
            |sim, _| sim.server.window_update(StreamId::CONNECTION, (1 << 31) - 1),
            ErrorCode::FLOW_CONTROL_ERROR,
        ),
        (
            |sim, id| {
                sim.server.window_update(id, 5000);
                sim.server.settings(&[(SettingId::INITIAL_WINDOW_SIZE, (1 << 31) - 1)])
            },
            ErrorCode::FLOW_CONTROL_ERROR,
        ),
    ];
    for (index, (script, code)) in cases.into_iter().enumerate() {
        let mut sim = Sim::connected(&[(MAX_STREAMS, 10), (SettingId::INITIAL_WINDOW_SIZE, 1000)]);
        sim.server.auto_window_update = false;
        let stream = sim.send(apns_request(0, Bytes::from(vec![b'd'; 2000])));
        sim.drive();
        script(&mut sim, stream);
        sim.drive();
        let goaway = sim.server.goaway.clone().unwrap_or_else(|| panic!("case {index}: no GOAWAY"));
        assert_eq!(goaway.1, code, "case {index}");
        assert!(matches!(sim.fate(stream), Fate::ConnectionLost(ConnectionEnd::Error(_))), "case {index}");
        assert!(matches!(sim.closed(), Some(Closed::Ended(ConnectionEnd::Error(_)))));
        assert!(sim.client.is_closed());
    }
}

#[test]
fn a_first_frame_other_than_settings_is_refused() {
    let mut sim = Sim::new(Config::default());
    sim.server.frame(Frame::Ping { ack: false, payload: [1; 8] });
    sim.drive();
    assert_eq!(sim.closed(), Some(&Closed::Ended(ConnectionEnd::Error(ConnectionError::BadPreface))));
}

#[test]
fn floods_are_bounded() {
    let mut sim = Sim::connected(&[]);
    let stream = sim.send(apns_request(0, small_body()));
    sim.drive();
    // 2,000 PINGs read before the client can write a single acknowledgement.
    let mut flood = bytes::BytesMut::new();
    for _ in 0..2000 {
        crate::frame::encode_ping(false, [7; 8], &mut flood);
    }
    sim.client.handle_input(sim.now, &flood);
    sim.drive();
    assert_eq!(
        sim.fate(stream),
        Fate::ConnectionLost(ConnectionEnd::Error(ConnectionError::ExcessiveLoad(Limit::PendingAcks)))
    );
    // Empty CONTINUATION frames without end.
    let mut sim = Sim::connected(&[]);
    let stream = sim.send(apns_request(0, small_body()));
    sim.drive();
    sim.server.frame(Frame::Headers {
        stream_id: stream,
        fragment: Bytes::new(),
        pad_len: None,
        priority: None,
        end_stream: true,
        end_headers: false,
    });
    for _ in 0..100 {
        sim.server.frame(Frame::Continuation {
            stream_id: stream,
            fragment: Bytes::new(),
            end_headers: false,
        });
    }
    sim.drive();
    assert_eq!(
        sim.fate(stream),
        Fate::ConnectionLost(ConnectionEnd::Error(ConnectionError::ExcessiveLoad(Limit::ContinuationFrames)))
    );
}

#[test]
fn transport_close_ends_everything_once() {
    let mut sim = Sim::connected(&[(MAX_STREAMS, 1)]);
    let sent = sim.send(apns_request(0, small_body()));
    sim.drive();
    sim.server.settings(&[(MAX_STREAMS, 2)]);
    sim.drive();
    let queued = sim.client.send_request(apns_request(1, small_body())).unwrap();
    sim.client.handle_close();
    sim.client.handle_close();
    sim.drive();
    assert_eq!(sim.fate(sent), Fate::ConnectionLost(ConnectionEnd::TransportClosed));
    assert_eq!(sim.fate(queued), Fate::NotProcessed(NotProcessed::NeverSent));
    assert_eq!(sim.events.iter().filter(|e| matches!(e, Event::Closed(_))).count(), 1);
    assert!(matches!(sim.client.send_request(apns_request(2, small_body())), Err(SendError::Closing(_))));
}

#[test]
fn every_fate_carries_its_streams_key_once_even_on_close() {
    // The caller keeps no map of its own: each key comes back exactly once, with its stream's
    // fate, whether answered, reset, cancelled by key, never written, or lost on close.
    let mut sim = Sim::connected(&[(MAX_STREAMS, 4)]);
    let send = |sim: &mut Sim, key: u64| {
        sim.client.send_request_with_key(apns_request(key as u32, small_body()), key).unwrap()
    };
    let answered = send(&mut sim, 10);
    let reset = send(&mut sim, 11);
    let cancelled = send(&mut sim, 12);
    let lost = send(&mut sim, 13);
    sim.drive();
    assert_eq!(sim.client.stream_with_key(12), Some(cancelled));
    assert_eq!(sim.client.stream_with_key(99), None);
    sim.server.respond(answered, 200, &[], b"");
    sim.server.reset(reset, ErrorCode::REFUSED_STREAM);
    sim.drive();
    assert!(sim.client.cancel(cancelled));
    // Not written before the close: never sent.
    let queued = send(&mut sim, 14);
    sim.client.handle_close();
    sim.drive();
    let keys: Vec<(StreamId, u64)> = sim
        .events
        .iter()
        .filter_map(|event| match event {
            Event::Finished { id, key, .. } => Some((*id, *key)),
            _ => None,
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [(answered, 10), (reset, 11), (cancelled, 12), (lost, 13), (queued, 14)]);
    assert!(matches!(sim.events.last(), Some(Event::Closed(_))), "every fate comes before Closed");
    assert_eq!(sim.fate(queued), Fate::NotProcessed(NotProcessed::NeverSent));
    assert_eq!(sim.fate(lost), Fate::ConnectionLost(ConnectionEnd::TransportClosed));
    assert_eq!(sim.client.stream_with_key(13), None, "no stream is left after close");
    // `send_request` tags with 0.
    let mut sim = Sim::connected(&[(MAX_STREAMS, 1)]);
    let plain = sim.send(apns_request(0, small_body()));
    sim.client.handle_close();
    sim.drive();
    assert!(sim.events.iter().any(|e| matches!(e, Event::Finished { id, key: 0, .. } if *id == plain)));
}

#[test]
fn shutdown_and_cancel() {
    let mut sim = Sim::connected(&[(MAX_STREAMS, 2)]);
    let a = sim.send(apns_request(0, small_body()));
    let b = sim.send(apns_request(1, small_body()));
    sim.drive();
    assert!(sim.client.cancel(a));
    assert!(!sim.client.cancel(a));
    sim.drive();
    assert_eq!(sim.fate(a), Fate::Aborted(Abort::Cancelled));
    assert_eq!(sim.server.streams[&a.get()].reset, Some(ErrorCode::CANCEL));
    sim.client.shutdown();
    sim.drive();
    assert_eq!(sim.server.goaway.as_ref().unwrap().1, ErrorCode::NO_ERROR);
    assert!(sim.closed().is_none(), "b is still open");
    sim.answer_all();
    assert!(sim.fate(b).response().is_some());
    assert_eq!(sim.closed(), Some(&Closed::Graceful));
}

#[test]
fn server_pings_and_settings_are_acknowledged() {
    let mut sim = Sim::connected(&[]);
    sim.server.frame(Frame::Ping { ack: false, payload: *b"12345678" });
    sim.server.settings(&[(SettingId::HEADER_TABLE_SIZE, 0), (SettingId::MAX_FRAME_SIZE, 20_000)]);
    sim.drive();
    assert_eq!(sim.server.ping_acks, [*b"12345678"]);
    assert_eq!(sim.client.peer_settings().max_frame_size, 20_000);
    // With a table size of 0 the encoder stops indexing; blocks still decode.
    let a = sim.send(apns_request(0, small_body()));
    let b = sim.send(apns_request(1, small_body()));
    sim.drive();
    assert!(sim.server.streams[&b.get()].block_len > 250);
    assert_eq!(sim.server.streams[&a.get()].fields.len(), sim.server.streams[&b.get()].fields.len());
}

#[test]
fn partial_bodies_do_not_starve_the_connection_window() {
    // Found with nghttpd: two 60 KB responses interleaved through a 65,535-byte connection
    // window stalled when credit was only returned at END_STREAM.
    let config = Config { connection_window: 65_535, ..Config::default() };
    let mut sim = Sim::new(config);
    sim.server.settings(&[(MAX_STREAMS, 10)]);
    sim.drive();
    let a = sim.send(apns_request(0, small_body()));
    let b = sim.send(apns_request(1, small_body()));
    sim.drive();
    sim.server.headers(a, &[(":status", "200")], false);
    sim.server.headers(b, &[(":status", "200")], false);
    let piece = vec![b'p'; 10_000];
    for round in 0..6 {
        for stream in [a, b] {
            sim.server.data(stream, &piece, round == 5);
            sim.drive();
        }
    }
    assert_eq!(sim.fate(a).response().unwrap().body.len(), 60_000);
    assert_eq!(sim.fate(b).response().unwrap().body.len(), 60_000);
}

#[test]
fn buffered_bodies_are_bounded_per_connection() {
    let config = Config { max_buffered_body: 25_000, ..Config::default() };
    let mut sim = Sim::new(config);
    sim.server.settings(&[(MAX_STREAMS, 10)]);
    sim.drive();
    let streams: Vec<_> = (0..3).map(|n| sim.send(apns_request(n, small_body()))).collect();
    sim.drive();
    for &stream in &streams {
        sim.server.headers(stream, &[(":status", "200")], false);
        sim.server.data(stream, &[b'b'; 10_000], false);
    }
    sim.drive();
    assert_eq!(sim.fate(streams[2]), Fate::Aborted(Abort::BufferFull));
    // The others go on, and the freed room is usable again.
    sim.server.data(streams[0], b"", true);
    sim.drive();
    assert_eq!(sim.fate(streams[0]).response().unwrap().body.len(), 10_000);
    let next = sim.send(apns_request(9, small_body()));
    sim.drive();
    sim.server.respond(next, 200, &[], &[b'n'; 14_000]);
    sim.drive();
    assert!(sim.fate(next).response().is_some());
}
