//! The gateway against real TLS clients: Apple's behaviour, each fault, and bad clients.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use apns_mock::{MockConfig, MockServer, Outcome};
use apns_proto::{ErrorResponse, Format, NotificationId, Status, MAX_FRAME_LEN};
use common::*;

fn response(bytes: &[u8]) -> ErrorResponse {
    let (response, consumed) = apns_proto::decode_error_response(bytes).unwrap().complete().unwrap();
    assert_eq!(consumed, bytes.len(), "exactly one error response");
    response
}

fn expect(status: Status, id: u32) -> ErrorResponse {
    ErrorResponse { status, id: NotificationId(id) }
}

#[test]
fn every_format_is_accepted_whatever_the_split() {
    let pki = pki();
    let server = MockServer::start(quick(&pki)).unwrap();
    let mut bytes = Vec::new();
    for (i, format) in [Format::Simple, Format::Enhanced, Format::Frame].into_iter().enumerate() {
        bytes.extend(encode(&[notification(i as u32 + 1, token(1))], format));
    }
    // One byte per TLS record, then growing odd-sized pieces.
    let mut client = connect(&server, &pki);
    for byte in &bytes {
        send(&mut client, std::slice::from_ref(byte));
    }
    let mut rest = Vec::new();
    for i in 0..40u32 {
        rest.extend(encode(&[notification(100 + i, token(2))], Format::Frame));
    }
    let mut offset = 0;
    let mut size = 1;
    while offset < rest.len() {
        let end = (offset + size).min(rest.len());
        send(&mut client, &rest[offset..end]);
        offset = end;
        size = size * 3 + 1;
    }
    assert!(server.wait_for_accepted(43, TIMEOUT));
    let records = server.records();
    assert_eq!(records.len(), 43);
    assert!(records.iter().all(|r| r.outcome == Outcome::Accepted && r.conn == 1 && r.status.is_none()));
    assert_eq!((records[0].command, records[0].id, records[0].expiry), (0, 0, 0));
    assert_eq!((records[1].command, records[1].id, records[1].expiry), (1, 2, 1_700_000_002));
    assert_eq!((records[2].command, records[2].id, records[2].priority), (2, 3, 10));
    assert_eq!(records[2].payload, br#"{"aps":{"alert":"n3"}}"#);
    assert_eq!(records[2].token, vec![1; 32]);
    assert_eq!(records[42].id, 139);
    let stats = server.stop();
    assert_eq!((stats.accepted, stats.rejected, stats.connections), (43, 0, 1));
}

#[test]
fn first_invalid_gets_its_response_after_the_delay_and_the_rest_is_discarded() {
    let pki = pki();
    let delay = Duration::from_millis(150);
    let server = MockServer::start(quick(&pki).error_delay(delay)).unwrap();
    let mut client = connect(&server, &pki);
    let mut bytes = encode(&[notification(1, token(1))], Format::Frame);
    // A 31-byte token in an enhanced notification: status 5.
    let mut bad = encode(&[notification(2, token(1))], Format::Enhanced);
    bad[9] = 0;
    bad[10] = 31;
    bad.remove(11);
    bytes.extend(bad);
    bytes.extend(encode(&[notification(3, token(1)), notification(4, token(1))], Format::Frame));
    let sent = Instant::now();
    send(&mut client, &bytes);
    let (received, end) = read_until_closed(&mut client);
    assert!(sent.elapsed() >= delay, "the response came before the delay");
    end.unwrap();
    assert_eq!(response(&received), expect(Status::INVALID_TOKEN_SIZE, 2));
    assert!(server.wait_for(|s| s.discarded == 2, TIMEOUT));
    let outcomes: Vec<_> = server.records().iter().map(|r| (r.id, r.outcome, r.status)).collect();
    assert_eq!(
        outcomes,
        [
            (1, Outcome::Accepted, None),
            (2, Outcome::Rejected, Some(Status::INVALID_TOKEN_SIZE)),
            (3, Outcome::Discarded, None),
            (4, Outcome::Discarded, None),
        ]
    );
    assert_eq!(server.records()[1].token.len(), 31);
    let stats = server.stop();
    assert_eq!((stats.accepted, stats.rejected, stats.discarded), (1, 1, 2));
}

#[test]
fn input_arriving_during_the_delay_is_discarded() {
    let pki = pki();
    let server = MockServer::start(quick(&pki).error_delay(Duration::from_millis(300))).unwrap();
    let mut client = connect(&server, &pki);
    let mut bytes = encode(&[notification(1, token(1))], Format::Frame);
    bytes[5] = 9; // item 9 in place of item 1: processing error, identifier still read.
    send(&mut client, &bytes);
    assert!(server.wait_for(|s| s.rejected == 1, TIMEOUT));
    for id in 2..12 {
        send(&mut client, &encode(&[notification(id, token(1))], Format::Frame));
    }
    let (received, _) = read_until_closed(&mut client);
    assert_eq!(response(&received), expect(Status::PROCESSING_ERROR, 1));
    let stats = server.stop();
    assert_eq!((stats.accepted, stats.rejected, stats.discarded), (0, 1, 10));
}

#[test]
fn listed_tokens_are_rejected_with_their_status() {
    let pki = pki();
    let server = MockServer::start(quick(&pki).reject(token(9), Status::INVALID_TOKEN)).unwrap();
    let mut client = connect(&server, &pki);
    let batch = [notification(1, token(1)), notification(2, token(9)), notification(3, token(1))];
    send(&mut client, &encode(&batch, Format::Enhanced));
    let (received, _) = read_until_closed(&mut client);
    assert_eq!(response(&received), expect(Status::INVALID_TOKEN, 2));
    assert!(server.wait_for(|s| s.accepted == 1 && s.rejected == 1, TIMEOUT));
}

#[test]
fn garbage_gets_processing_error_with_identifier_zero() {
    let pki = pki();
    let server = MockServer::start(quick(&pki)).unwrap();
    let mut client = connect(&server, &pki);
    let mut bytes = encode(&[notification(5, token(1))], Format::Frame);
    bytes.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    bytes.extend(encode(&[notification(6, token(1))], Format::Frame));
    send(&mut client, &bytes);
    let (received, _) = read_until_closed(&mut client);
    assert_eq!(response(&received), expect(Status::PROCESSING_ERROR, 0));
    let records = server.records();
    assert_eq!(records.len(), 2, "nothing after unreadable input is decoded");
    assert_eq!((records[1].command, records[1].outcome), (b'G', Outcome::Rejected));
    let stats = server.stop();
    assert_eq!((stats.accepted, stats.rejected, stats.discarded), (1, 1, 0));
}

#[test]
fn a_frame_length_of_4_gib_is_refused_without_buffering() {
    let pki = pki();
    let server = MockServer::start(quick(&pki)).unwrap();
    let mut client = connect(&server, &pki);
    send(&mut client, &[2, 0xff, 0xff, 0xff, 0xff, 1, 0, 32]);
    let (received, _) = read_until_closed(&mut client);
    assert_eq!(response(&received), expect(Status::PROCESSING_ERROR, 0));

    // The longest legal frame length is buffered and decoded: a frame of garbage items.
    let mut client = connect(&server, &pki);
    let mut frame = vec![2];
    frame.extend_from_slice(&MAX_FRAME_LEN.to_be_bytes());
    frame.extend(std::iter::repeat_n(7u8, MAX_FRAME_LEN as usize));
    send(&mut client, &frame);
    let (received, _) = read_until_closed(&mut client);
    assert_eq!(response(&received), expect(Status::PROCESSING_ERROR, 0));
    assert_eq!(server.stop().rejected, 2);
    const { assert!(apns_mock::MAX_INPUT_BUFFER < 400 * 1024) };
}

#[test]
fn drop_every_closes_silently() {
    let pki = pki();
    let server = MockServer::start(quick(&pki).drop_every(3)).unwrap();
    for conn in 0..2u32 {
        let mut client = connect(&server, &pki);
        let batch: Vec<_> = (1..=5).map(|i| notification(conn * 10 + i, token(1))).collect();
        send(&mut client, &encode(&batch, Format::Frame));
        let (received, _) = read_until_closed(&mut client);
        assert!(received.is_empty(), "a drop sends nothing");
    }
    assert!(server.wait_for(|s| s.dropped == 2, TIMEOUT));
    let stats = server.stop();
    assert_eq!((stats.accepted, stats.rejected, stats.discarded, stats.connections), (6, 0, 0, 2));
}

#[test]
fn drop_probability_is_deterministic_under_a_seed() {
    let pki = pki();
    let run = |seed| {
        let server = MockServer::start(quick(&pki).drop_probability(0.2).seed(seed)).unwrap();
        let mut client = connect(&server, &pki);
        let batch: Vec<_> = (1..=200).map(|i| notification(i, token(1))).collect();
        let _ = client.write_all(&encode(&batch, Format::Frame));
        let _ = client.flush();
        let _ = read_until_closed(&mut client);
        assert!(server.wait_for(|s| s.dropped == 1, TIMEOUT));
        server.stop().accepted
    };
    let first = run(42);
    assert!(first < 200);
    assert_eq!(run(42), first);
}

#[test]
fn shutdown_names_the_last_accepted_notification() {
    let pki = pki();
    let server = MockServer::start(quick(&pki).shutdown_every(2)).unwrap();
    let mut client = connect(&server, &pki);
    let batch: Vec<_> = (11..=15).map(|i| notification(i, token(1))).collect();
    send(&mut client, &encode(&batch, Format::Enhanced));
    let (received, end) = read_until_closed(&mut client);
    end.unwrap();
    assert_eq!(response(&received), expect(Status::SHUTDOWN, 12));
    let stats = server.stop();
    assert_eq!((stats.accepted, stats.rejected, stats.discarded, stats.shutdowns), (2, 0, 3, 1));
}

#[test]
fn stall_stops_reading_for_a_while() {
    let pki = pki();
    let stall = Duration::from_millis(300);
    let server = MockServer::start(quick(&pki).stall_every(2, stall)).unwrap();
    let mut client = connect(&server, &pki);
    let batch: Vec<_> = (1..=3).map(|i| notification(i, token(1))).collect();
    let sent = Instant::now();
    send(&mut client, &encode(&batch, Format::Frame));
    assert!(server.wait_for_accepted(2, TIMEOUT));
    assert!(server.wait_for_accepted(3, TIMEOUT));
    assert!(sent.elapsed() >= stall);
}

#[test]
fn a_stalled_server_pushes_back_on_the_client() {
    let pki = pki();
    let server = MockServer::start(quick(&pki).stall_every(1, Duration::from_secs(600))).unwrap();
    let mut client = connect(&server, &pki);
    // rustls' blocking stream reads when a write would block: time out both.
    client.sock.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
    client.sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let chunk = encode(&(1..=1000).map(|i| notification(i, token(1))).collect::<Vec<_>>(), Format::Frame);
    // Unhindered, even a debug build moves well over 64 MiB in 1.5 s over loopback. Stalled, the
    // kernel's buffers fill (a few MiB) and then writes block: either one times out, or the
    // kernel trickles so little that the client is far below that.
    let started = Instant::now();
    let mut written = 0usize;
    while started.elapsed() < Duration::from_millis(1500) {
        match client.write_all(&chunk).and_then(|()| client.flush()) {
            Ok(()) => written += chunk.len(),
            Err(_) => break,
        }
    }
    assert!(written < 64 << 20, "the client never met backpressure ({written} bytes written)");
    assert_eq!(server.stats().accepted, 1);
}

#[test]
fn refused_connections_then_accepted_again() {
    let pki = pki();
    let server = MockServer::start(quick(&pki).refuse_connections_for(Duration::from_secs(600))).unwrap();
    let mut client = open(server.gateway_addr(), client_config(&pki));
    assert!(client.conn.complete_io(&mut client.sock).is_err() || read_until_closed(&mut client).1.is_err());
    let mut feedback = open(server.feedback_addr(), client_config(&pki));
    assert!(
        feedback.conn.complete_io(&mut feedback.sock).is_err() || read_until_closed(&mut feedback).1.is_err()
    );
    assert!(server.wait_for(|s| s.refused == 2, TIMEOUT));
    server.refuse_connections_for(Duration::ZERO);
    let mut client = connect(&server, &pki);
    send(&mut client, &encode(&[notification(1, token(1))], Format::Frame));
    assert!(server.wait_for_accepted(1, TIMEOUT));
    assert_eq!(server.stats().connections, 1, "refused connections are not counted as served");
}

fn refused_at_handshake(server: &MockServer, config: std::sync::Arc<rustls::ClientConfig>) {
    let mut client = open(server.gateway_addr(), config);
    // With TLS 1.3 the client finishes its side before the server has checked its certificate:
    // the refusal then arrives as an alert on the first read.
    let handshake = client.conn.complete_io(&mut client.sock);
    if handshake.is_ok() {
        let _ = client.write_all(&encode(&[notification(1, token(1))], Format::Frame));
        let _ = client.flush();
        let (received, end) = read_until_closed(&mut client);
        assert!(received.is_empty());
        assert!(end.is_err(), "expected an alert");
    }
}

#[test]
fn a_client_without_certificate_is_refused_at_the_handshake() {
    let pki = pki();
    let server = MockServer::start(quick(&pki)).unwrap();
    refused_at_handshake(&server, client_config_with(&pki, None));
    assert!(server.wait_for(|s| s.handshake_failures == 1, TIMEOUT));
    // And the server goes on serving.
    let mut client = connect(&server, &pki);
    send(&mut client, &encode(&[notification(1, token(1))], Format::Frame));
    assert!(server.wait_for_accepted(1, TIMEOUT));
    assert_eq!(server.stop().accepted, 1);
}

#[test]
fn a_client_certificate_from_another_ca_is_refused() {
    let pki = pki();
    let stranger = common::pki();
    let server = MockServer::start(quick(&pki)).unwrap();
    refused_at_handshake(&server, client_config_with(&pki, Some(&stranger)));
    assert!(server.wait_for(|s| s.handshake_failures == 1, TIMEOUT));
    assert_eq!(server.stop().accepted, 0);
}

#[test]
fn plain_tcp_garbage_instead_of_tls_is_refused() {
    let pki = pki();
    let server = MockServer::start(quick(&pki)).unwrap();
    let mut socket = std::net::TcpStream::connect(server.gateway_addr()).unwrap();
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    socket.write_all(&encode(&[notification(1, token(1))], Format::Frame)).unwrap();
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut socket, &mut rest);
    assert!(server.wait_for(|s| s.handshake_failures == 1, TIMEOUT));
}

#[test]
fn a_client_that_never_handshakes_is_dropped_and_others_are_served() {
    let pki = pki();
    let server = MockServer::start(quick(&pki).handshake_timeout(Duration::from_millis(500))).unwrap();
    let mut silent = std::net::TcpStream::connect(server.gateway_addr()).unwrap();
    silent.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut client = connect(&server, &pki);
    // The mock closes the silent connection: the read ends instead of timing out.
    let mut rest = Vec::new();
    assert_eq!(std::io::Read::read_to_end(&mut silent, &mut rest).map(|_| rest.len()).ok(), Some(0));
    assert!(server.wait_for(|s| s.handshake_failures == 1, TIMEOUT));
    send(&mut client, &encode(&[notification(1, token(1))], Format::Frame));
    assert!(server.wait_for_accepted(1, TIMEOUT));
}

#[test]
fn a_client_disconnecting_mid_frame_does_not_disturb_others() {
    let pki = pki();
    let server = MockServer::start(quick(&pki)).unwrap();
    let mut other = connect(&server, &pki);
    let mut client = connect(&server, &pki);
    let bytes = encode(&[notification(1, token(1)), notification(2, token(1))], Format::Frame);
    send(&mut client, &bytes[..bytes.len() - 10]);
    assert!(server.wait_for_accepted(1, TIMEOUT));
    drop(client);
    send(&mut other, &encode(&[notification(3, token(1))], Format::Frame));
    assert!(server.wait_for_accepted(2, TIMEOUT));
    let stats = server.stop();
    assert_eq!((stats.accepted, stats.rejected, stats.discarded), (2, 0, 0));
}

#[test]
fn a_client_that_never_reads_is_closed_after_its_error() {
    let pki = pki();
    let server = MockServer::start(quick(&pki)).unwrap();
    let mut client = connect(&server, &pki);
    client.sock.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut bad = encode(&[notification(1, token(1))], Format::Frame);
    bad[5] = 9;
    send(&mut client, &bad);
    // Keep writing, never reading: the server discards, then closes; writes start failing.
    let chunk = encode(&(2..500).map(|i| notification(i, token(1))).collect::<Vec<_>>(), Format::Frame);
    let started = Instant::now();
    let mut other = connect(&server, &pki);
    send(&mut other, &encode(&[notification(1000, token(2))], Format::Frame));
    assert!(server.wait_for_accepted(1, TIMEOUT));
    while client.write_all(&chunk).and_then(|()| client.flush()).is_ok() {
        assert!(started.elapsed() < Duration::from_secs(30), "the server never closed");
    }
    assert_eq!(server.stop().rejected, 1);
}

#[test]
fn a_hundred_connections_at_once() {
    let pki = pki();
    let server = MockServer::start(MockConfig::from_test_pki(&pki).error_delay(Duration::ZERO)).unwrap();
    let config = client_config(&pki);
    let addr = server.gateway_addr();
    let threads: Vec<_> = (0..100u32)
        .map(|conn| {
            let config = config.clone();
            std::thread::spawn(move || {
                let mut client = open(addr, config);
                let batch: Vec<_> = (0..100).map(|i| notification(conn * 1000 + i, token(3))).collect();
                send(&mut client, &encode(&batch, Format::Frame));
                client
            })
        })
        .collect();
    let clients: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(server.wait_for_accepted(10_000, TIMEOUT));
    drop(clients);
    let stats = server.stop();
    assert_eq!((stats.accepted, stats.connections, stats.rejected), (10_000, 100, 0));
}

#[test]
fn records_are_written_as_json_lines() {
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let pki = pki();
    let sink = Shared::default();
    let config = MockConfig::from_test_pki(&pki)
        .error_delay(Duration::ZERO)
        .record_jsonl(sink.clone())
        .reject(token(9), Status::INVALID_TOKEN);
    let server = MockServer::start(config).unwrap();
    let mut client = connect(&server, &pki);
    let batch = [
        notification(1, token(1)).with_priority(apns_proto::Priority::PowerConsiderate),
        notification(2, token(9)),
    ];
    send(&mut client, &encode(&batch, Format::Frame));
    let _ = read_until_closed(&mut client);
    server.stop();
    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        lines[0],
        serde_json::json!({"conn":1,"id":1,"token":"01".repeat(32),"payload":"{\"aps\":{\"alert\":\"n1\"}}",
            "expiry":1_700_000_001,"priority":5,"outcome":"accepted","status":null})
    );
    assert_eq!(
        (&lines[1]["outcome"], &lines[1]["status"]),
        (&serde_json::json!("rejected"), &serde_json::json!(8))
    );
    assert_eq!(lines.len(), 2);
}

#[test]
fn wait_for_times_out_and_stop_ends_waiting() {
    let pki = pki();
    let server = MockServer::start(quick(&pki)).unwrap();
    let started = Instant::now();
    assert!(!server.wait_for_accepted(1, Duration::from_millis(50)));
    assert!(started.elapsed() >= Duration::from_millis(50));
    let handle = server.stop_handle();
    handle.stop();
    assert!(!server.wait_for_accepted(1, Duration::MAX));
    assert!(!server.is_running());
}

#[test]
fn bad_tls_material_is_a_clear_error() {
    let pki = pki();
    let error =
        MockServer::start(MockConfig::new("not pem", &pki.server_key_pem, &pki.ca_cert_pem)).unwrap_err();
    assert!(error.to_string().contains("server certificate"), "{error}");
    let error = MockServer::start(MockConfig::new(&pki.server_cert_pem, "", &pki.ca_cert_pem)).unwrap_err();
    assert!(error.to_string().contains("server key"), "{error}");
    let taken = MockServer::start(quick(&pki)).unwrap();
    let error = MockServer::start(quick(&pki).gateway_addr(taken.gateway_addr())).unwrap_err();
    assert!(error.to_string().contains("cannot listen"), "{error}");
}
