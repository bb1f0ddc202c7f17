//! How many notifications per second the mock accepts: `cargo bench -p apns-mock`.
//!
//! Starts the mock in-process (recording off, no faults), and replays prebuilt command-2 frames
//! from blocking rustls client threads. Reports notifications per second of wall time, and per
//! second of CPU time of the mock's event-loop thread (its single core), read from
//! `/proc/self/task/*/stat` on Linux.
//!
//! Run without `--bench` (as `cargo test --all-targets` does) it only checks that it works, with
//! a few thousand notifications.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apns_mock::certs::TestPki;
use apns_mock::{MockConfig, MockServer};
use apns_proto::{DeviceToken, Format, Notification, Payload, PayloadLimit};
use bytes::BytesMut;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

fn client_config(pki: &TestPki) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pki.ca_cert_pem.as_bytes()).unwrap()).unwrap();
    let chain = vec![CertificateDer::from_pem_slice(pki.client_cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(pki.client_key_pem.as_bytes()).unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

/// `count` frames like a real provider's: 32-byte token, a short alert, id, expiry, priority.
fn frames(count: u32) -> Vec<u8> {
    let payload =
        Payload::new().alert("Hello World!").sound("default").badge(1).encode(PayloadLimit::BINARY).unwrap();
    let mut out = BytesMut::new();
    for id in 0..count {
        let mut token = [0u8; 32];
        token[..4].copy_from_slice(&id.to_be_bytes());
        Notification::new(DeviceToken::new(token), payload.clone())
            .with_id(id)
            .with_expiry(1_700_000_000)
            .encode(Format::Frame, &mut out);
    }
    out.to_vec()
}

/// CPU seconds used so far by the thread named `apns-mock` (Linux only).
fn mock_thread_cpu() -> Option<f64> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
        let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
        if name == "apns-mock" {
            let fields: Vec<&str> = rest.split(' ').collect();
            // Fields 14 and 15 of stat (utime, stime), counted after the name: indices 11, 12.
            let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            return Some(ticks as f64 / 100.0);
        }
    }
    None
}

struct Outcome {
    notifications: u64,
    bytes: u64,
    wall: Duration,
    cpu: Option<f64>,
}

fn run(pki: &TestPki, connections: usize, batch: &Arc<Vec<u8>>, per_batch: u32, repeats: usize) -> Outcome {
    let server = MockServer::start(MockConfig::from_test_pki(pki).error_delay(Duration::ZERO)).unwrap();
    let addr: SocketAddr = server.gateway_addr();
    let config = client_config(pki);
    let clients: Vec<_> = (0..connections)
        .map(|_| {
            let socket = TcpStream::connect(addr).unwrap();
            socket.set_nodelay(true).unwrap();
            let conn =
                ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap()).unwrap();
            let mut client = StreamOwned::new(conn, socket);
            while client.conn.is_handshaking() {
                client.conn.complete_io(&mut client.sock).unwrap();
            }
            client
        })
        .collect();
    let total = (connections * repeats) as u64 * u64::from(per_batch);
    let cpu_before = mock_thread_cpu();
    let started = Instant::now();
    let threads: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            let batch = Arc::clone(batch);
            std::thread::spawn(move || {
                for _ in 0..repeats {
                    client.write_all(&batch).unwrap();
                }
                client.flush().unwrap();
                client
            })
        })
        .collect();
    assert!(server.wait_for_accepted(total, Duration::from_secs(600)), "not everything was accepted");
    let wall = started.elapsed();
    let cpu = mock_thread_cpu().zip(cpu_before).map(|(after, before)| after - before);
    for thread in threads {
        drop(thread.join().unwrap());
    }
    let stats = server.stop();
    assert_eq!((stats.accepted, stats.rejected), (total, 0));
    Outcome { notifications: total, bytes: (batch.len() * repeats * connections) as u64, wall, cpu }
}

fn report(name: &str, outcome: &Outcome) {
    let per_second = outcome.notifications as f64 / outcome.wall.as_secs_f64();
    let per_cpu = outcome.cpu.filter(|cpu| *cpu > 0.0).map(|cpu| outcome.notifications as f64 / cpu);
    println!(
        "{name}: {} notifications ({:.0} MB) in {:.3} s: {:.2} M notifications/s wall, {:.0} MB/s{}",
        outcome.notifications,
        outcome.bytes as f64 / 1e6,
        outcome.wall.as_secs_f64(),
        per_second / 1e6,
        outcome.bytes as f64 / 1e6 / outcome.wall.as_secs_f64(),
        match (outcome.cpu, per_cpu) {
            (Some(cpu), Some(per_cpu)) => {
                format!("; mock thread {cpu:.2} CPU-s: {:.2} M notifications per CPU-second", per_cpu / 1e6)
            }
            _ => String::new(),
        }
    );
}

fn main() {
    let benching = std::env::args().any(|arg| arg == "--bench");
    let pki = TestPki::generate().unwrap();
    let (per_batch, repeats) = if benching { (100_000, 40) } else { (1_000, 2) };
    let batch = Arc::new(frames(per_batch));
    println!("frame size: {} bytes", batch.len() / per_batch as usize);
    if benching {
        // Warm up (page faults, TCP windows), not reported.
        run(&pki, 1, &batch, per_batch, 5);
    }
    report("1 connection", &run(&pki, 1, &batch, per_batch, repeats));
    let (connections, repeats) = if benching { (100, 1) } else { (10, 1) };
    report(&format!("{connections} connections"), &run(&pki, connections, &batch, per_batch, repeats));
}
