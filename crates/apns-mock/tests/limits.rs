//! The mock's limits: connection caps, the idle timeout, the read rate, and a record that cannot
//! be written. Out of descriptors (EMFILE) is tested on the `apns mock` process, in apns-cli.

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use apns_mock::{MockError, MockServer};
use apns_proto::Format;
use common::*;

/// Whether the server closed a raw TCP connection at once (end of stream or reset, not the
/// read timeout of a connection left open).
fn closed_at_once(mut socket: TcpStream) -> bool {
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut rest = Vec::new();
    match socket.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(error) => !matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut),
    }
}

/// Closes cleanly and waits until the server has closed too (so its slot is free).
fn close(mut client: Client) {
    client.conn.send_close_notify();
    let _ = client.flush();
    let _ = client.sock.shutdown(Shutdown::Write);
    let _ = read_until_closed(&mut client);
}

#[test]
fn connections_beyond_the_cap_are_accepted_and_closed_then_served_again() {
    let pki = pki();
    let server = MockServer::start(quick(&pki).max_connections(2)).unwrap();
    let first = connect(&server, &pki);
    let mut second = connect(&server, &pki);
    assert!(server.wait_for(|s| s.connections == 2, TIMEOUT));
    let third = TcpStream::connect(server.gateway_addr()).unwrap();
    assert!(closed_at_once(third));
    assert!(server.wait_for(|s| s.over_capacity == 1, TIMEOUT));
    // The feedback service shares the cap.
    assert!(closed_at_once(TcpStream::connect(server.feedback_addr()).unwrap()));
    assert!(server.wait_for(|s| s.over_capacity == 2, TIMEOUT));
    close(first);
    let mut again = connect(&server, &pki);
    send(&mut again, &encode(&[notification(1, token(1))], Format::Frame));
    send(&mut second, &encode(&[notification(2, token(1))], Format::Frame));
    assert!(server.wait_for_accepted(2, TIMEOUT));
    let stats = server.stop();
    assert_eq!((stats.connections, stats.over_capacity), (3, 2));
}

#[test]
fn connections_beyond_the_handshake_cap_are_closed() {
    let pki = pki();
    let server = MockServer::start(quick(&pki).max_handshaking(1)).unwrap();
    // Never handshakes: it holds the one handshake slot.
    let silent = TcpStream::connect(server.gateway_addr()).unwrap();
    assert!(server.wait_for(|s| s.connections == 1, TIMEOUT));
    assert!(closed_at_once(TcpStream::connect(server.gateway_addr()).unwrap()));
    assert!(server.wait_for(|s| s.over_capacity == 1, TIMEOUT));
    drop(silent);
    // The slot frees once the server has seen the end of the silent connection.
    let mut client = loop {
        let mut client = open(server.gateway_addr(), client_config(&pki));
        if client.conn.complete_io(&mut client.sock).is_ok() && !client.conn.is_handshaking() {
            break client;
        }
        assert!(server.stats().over_capacity < 100, "the handshake slot never came back");
    };
    send(&mut client, &encode(&[notification(1, token(1))], Format::Frame));
    assert!(server.wait_for_accepted(1, TIMEOUT));
}

#[test]
fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let pki = pki();
    let idle = Duration::from_millis(300);
    let server = MockServer::start(quick(&pki).idle_timeout(Some(idle))).unwrap();
    let started = Instant::now();
    let mut silent = connect(&server, &pki);
    let mut talking = connect(&server, &pki);
    send(&mut talking, &encode(&[notification(1, token(1))], Format::Frame));
    let (received, _) = read_until_closed(&mut silent);
    assert!(received.is_empty());
    assert!(started.elapsed() >= idle);
    assert!(server.wait_for(|s| s.idle_closed >= 1, TIMEOUT));
    assert!(server.wait_for_accepted(1, TIMEOUT));
}

#[test]
fn the_read_rate_paces_notifications() {
    let pki = pki();
    let server = MockServer::start(quick(&pki).read_rate(20)).unwrap();
    let mut client = connect(&server, &pki);
    let batch: Vec<_> = (1..=11).map(|i| notification(i, token(1))).collect();
    let sent = Instant::now();
    send(&mut client, &encode(&batch, Format::Frame));
    assert!(server.wait_for_accepted(11, TIMEOUT));
    // One notification at once, then one every 50 ms.
    assert!(sent.elapsed() >= Duration::from_millis(500), "{:?}", sent.elapsed());
    assert_eq!(server.records().iter().map(|r| r.id).collect::<Vec<_>>(), (1..=11).collect::<Vec<_>>());
}

struct Full;

impl Write for Full {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_record_that_cannot_be_written_stops_the_server_with_the_error() {
    let pki = pki();
    let server = MockServer::start(quick(&pki).record_jsonl(Full)).unwrap();
    let mut client = connect(&server, &pki);
    send(&mut client, &encode(&[notification(1, token(1))], Format::Frame));
    // Waiting ends because the server stopped, not because the condition held.
    assert!(!server.wait_for(|_| false, TIMEOUT));
    assert!(!server.is_running());
    assert!(server.failure().is_some_and(|why| why.contains("disk full")));
    match server.try_stop() {
        Err(MockError::Record(error)) => assert_eq!(error.kind(), io::ErrorKind::StorageFull),
        other => panic!("expected the record error, got {other:?}"),
    }
}
