//! The feedback service: tuples served whole or in small chunks, to any number of clients.

mod common;

use apns_mock::{FeedbackEntry, MockServer};
use apns_proto::FeedbackReader;
use common::*;

fn tuples() -> Vec<FeedbackEntry> {
    (0..50u8).map(|i| FeedbackEntry::new(1_600_000_000 + u32::from(i), token(i))).collect()
}

/// A socket that keeps a copy of every byte received, to count TLS records.
struct Tap {
    socket: std::net::TcpStream,
    seen: Vec<u8>,
}

impl std::io::Read for Tap {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.socket.read(buf)?;
        self.seen.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl std::io::Write for Tap {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.socket.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.socket.flush()
    }
}

/// Reads the whole feedback stream: the tuples as (time, first token byte), and how many TLS
/// application-data records carried the stream.
fn read_feedback(server: &MockServer, pki: &apns_mock::certs::TestPki) -> (Vec<(u32, u8)>, usize) {
    let client = open(server.feedback_addr(), client_config(pki));
    let (mut conn, socket) = (client.conn, client.sock);
    let mut tap = Tap { socket, seen: Vec::new() };
    let mut stream = rustls::Stream::new(&mut conn, &mut tap);
    let mut reader = FeedbackReader::new();
    let mut buf = [0u8; 4096];
    loop {
        match std::io::Read::read(&mut stream, &mut buf) {
            Ok(0) => break,
            Ok(n) => reader.handle_bytes(&buf[..n]),
            Err(error) => panic!("feedback read failed: {error}"),
        }
    }
    let mut items = Vec::new();
    while let Some(item) = reader.poll_item() {
        let item = item.unwrap();
        items.push((item.time, item.token.as_bytes()[0]));
    }
    reader.finish().unwrap();
    let mut records = 0;
    let mut rest = &tap.seen[..];
    while rest.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        records += usize::from(rest[0] == 0x17);
        rest = &rest[(5 + len).min(rest.len())..];
    }
    (items, records)
}

#[test]
fn serves_every_tuple_then_closes_on_each_connection() {
    let pki = pki();
    let server = MockServer::start(quick(&pki).feedback_tuples(tuples())).unwrap();
    let expected: Vec<_> = (0..50u8).map(|i| (1_600_000_000 + u32::from(i), i)).collect();
    for _ in 0..3 {
        assert_eq!(read_feedback(&server, &pki).0, expected);
    }
    assert!(server.wait_for(|s| s.feedback_tuples_sent == 150, TIMEOUT));
    let stats = server.stop();
    assert_eq!((stats.feedback_connections, stats.connections), (3, 0));
}

#[test]
fn chunked_feedback_arrives_in_many_records() {
    let pki = pki();
    let server =
        MockServer::start(quick(&pki).feedback_tuples(tuples()).feedback_chunks(Some(7)).seed(3)).unwrap();
    let (items, records) = read_feedback(&server, &pki);
    assert_eq!(items.len(), 50);
    // 50 tuples of 38 bytes in chunks of at most 7 bytes: at least 272 TLS records.
    assert!(records >= 272, "{records} records");
    let whole = MockServer::start(quick(&pki).feedback_tuples(tuples())).unwrap();
    let (_, records) = read_feedback(&whole, &pki);
    assert!(records < 10, "{records} records");
}

#[test]
fn no_tuples_is_an_immediate_clean_close() {
    let pki = pki();
    let server = MockServer::start(quick(&pki)).unwrap();
    assert_eq!(read_feedback(&server, &pki).0, Vec::new());
}

#[test]
fn feedback_requires_a_client_certificate() {
    let pki = pki();
    let server = MockServer::start(quick(&pki).feedback_tuples(tuples())).unwrap();
    let mut client = open(server.feedback_addr(), client_config_with(&pki, None));
    let (received, end) = if client.conn.complete_io(&mut client.sock).is_ok() {
        read_until_closed(&mut client)
    } else {
        (Vec::new(), Err(std::io::Error::other("handshake")))
    };
    assert!(received.is_empty() && end.is_err());
    assert!(server.wait_for(|s| s.handshake_failures == 1, TIMEOUT));
}
