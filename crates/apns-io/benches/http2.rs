//! HTTP/2 throughput: the `Http2Client` (mio loop, rustls, apns-h2, the delivery machine) over
//! one TLS connection on loopback with up to 1,000 streams, against a blind responder (h2's
//! server answering 200 to everything, no validation) and, shorter, against the HTTP/2
//! mock (which checks every request).
//!
//! Run with `cargo bench -p apns-io --bench http2` (`N=...` sets the count, default
//! 1,000,000). Prints notifications per second on the wall clock and per CPU-second of the
//! client's loop thread (read from `/proc/self/task/<tid>/stat`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apns_io::http2::{Http2Client, Http2Config};
use apns_io::{Endpoint, Identity, TlsConfig};
use apns_mock::certs::TestPki;
use apns_mock::http2::{Http2Config as MockConfig, Http2Mock};
use apns_proto::http2::{DeviceNotification, PushType, Topic};
use apns_proto::{Payload, PayloadLimit};
use apns_resend::http2::{Auth, Item, Outcome};
use bytes::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const TOPIC: &str = "com.example.mock";
const TOKEN: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";

/// Starts h2's server on a thread of its own (one runtime thread): 200 to every request.
fn blind_responder(pki: &TestPki) -> SocketAddr {
    let certs = vec![CertificateDer::from_pem_slice(pki.server_cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let responder = std::thread::Builder::new().name("responder".into());
    let _ = responder.spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                // Without it Nagle holds the small response frames for the client's delayed ACK.
                let _ = socket.set_nodelay(true);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(socket).await else { return };
                    let Ok(mut connection) = h2::server::Builder::new()
                        .max_concurrent_streams(1000)
                        // It answers before reading the body, so the client's DATA meets streams
                        // h2 has reset; h2's default limit on those sends GOAWAY every ~1,024
                        // and the client would reconnect dozens of times per run.
                        .max_local_error_reset_streams(None)
                        .handshake::<_, Bytes>(tls)
                        .await
                    else {
                        return;
                    };
                    while let Some(Ok((_request, mut respond))) = connection.accept().await {
                        let response = http::Response::builder().status(200).body(()).unwrap();
                        let _ = respond.send_response(response, true);
                    }
                });
            }
        });
    });
    addr
}

/// User plus system CPU time of every thread of this process, by name (summed per name).
fn threads_cpu() -> Vec<(String, Duration)> {
    threads_cpu_split().into_iter().map(|(name, user, system)| (name, user + system)).collect()
}

/// User and system CPU time of every thread of this process, by name (summed per name).
fn threads_cpu_split() -> Vec<(String, Duration, Duration)> {
    let ticks = 100.0; // USER_HZ on Linux
    let mut threads: Vec<(String, Duration, Duration)> = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return threads };
    for task in tasks.flatten() {
        let path = task.path();
        let (Ok(comm), Ok(stat)) =
            (std::fs::read_to_string(path.join("comm")), std::fs::read_to_string(path.join("stat")))
        else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let time = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        let (user, system) =
            (Duration::from_secs_f64(time(11) / ticks), Duration::from_secs_f64(time(12) / ticks));
        match threads.iter_mut().find(|(name, ..)| name == comm.trim()) {
            Some((_, total_user, total_system)) => {
                *total_user += user;
                *total_system += system;
            }
            None => threads.push((comm.trim().to_owned(), user, system)),
        }
    }
    threads
}

/// System CPU time of this process's threads called `name`.
fn thread_system_cpu(name: &str) -> Duration {
    threads_cpu_split().into_iter().find(|(n, ..)| n == name).map_or(Duration::ZERO, |(_, _, system)| system)
}

/// CPU time of this process's threads called `name`.
fn thread_cpu(name: &str) -> Option<Duration> {
    threads_cpu().into_iter().find(|(n, _)| n == name).map(|(_, cpu)| cpu)
}

fn run(label: &str, addr: SocketAddr, pki: &TestPki, n: u64) {
    let identity = Identity::from_pem(pki.client_cert_pem.as_bytes(), pki.client_key_pem.as_bytes()).unwrap();
    let tls =
        TlsConfig::new().identity(identity).ca_pem(pki.ca_cert_pem.as_bytes()).unwrap().build_h2().unwrap();
    let mut config = Http2Config::new(Endpoint::at("localhost", addr), tls, Auth::Certificate, 1);
    config.delivery.connections = 1;
    config.delivery.max_streams_per_connection = 1000;
    config.delivery.capacity = 20_000;
    config.queue_capacity = 20_000;
    let client: Http2Client<u64> = Http2Client::start(config).unwrap();
    let outcomes = client.outcomes(20_000);
    let payload =
        Payload::new().alert("Hello World!").sound("default").badge(1).encode(PayloadLimit::HTTP2).unwrap();
    let notification = DeviceNotification::builder(TOKEN.parse().unwrap(), PushType::ALERT, payload)
        .topic(Topic::new(TOPIC).unwrap())
        .build()
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut accepted = 0u64;
        for _ in 0..n {
            let Some(report) = outcomes.next_timeout(Duration::from_secs(60)) else { break };
            accepted += u64::from(matches!(report.outcome, Outcome::Accepted { .. }));
        }
        accepted
    });
    let cpu_before = thread_cpu("apns-io").unwrap_or_default();
    let system_before = thread_system_cpu("apns-io");
    let started = Instant::now();
    let mut sent = 0;
    while sent < n {
        let batch = (sent..(sent + 1000).min(n)).map(|tag| Item::device(notification.clone(), tag));
        client.send_batch(batch, None).unwrap();
        sent = (sent + 1000).min(n);
    }
    let accepted = reader.join().unwrap();
    let wall = started.elapsed();
    let cpu = thread_cpu("apns-io").unwrap_or_default().saturating_sub(cpu_before);
    let system = thread_system_cpu("apns-io").saturating_sub(system_before);
    let counters = client.close(Duration::from_secs(10)).counters;
    let others: Vec<String> =
        threads_cpu().iter().map(|(name, cpu)| format!("{name} {:.2}s", cpu.as_secs_f64())).collect();
    println!("  CPU by thread since the start: {}", others.join(", "));
    println!(
        "{label}: {n} notifications, {accepted} accepted, {:.2} s wall: {:.0} notifications/s; loop thread \
         {:.2} CPU-s ({:.2} system): {:.0} notifications per CPU-second; {:.0} bytes written per notification; \
         {} connections, {} GOAWAYs",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64(),
        system.as_secs_f64(),
        n as f64 / cpu.as_secs_f64().max(1e-9),
        counters.bytes_written as f64 / n as f64,
        counters.delivery.connects,
        counters.delivery.goaways,
    );
    assert_eq!(accepted, n);
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let n: u64 = std::env::var("N").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let pki = TestPki::generate().unwrap();
    run("blind responder (h2 crate)", blind_responder(&pki), &pki, n);
    let mock = Http2Mock::start(MockConfig::from_test_pki(&pki).topic(TOPIC).worker_threads(1)).unwrap();
    // The mock validates everything and is the bottleneck: a shorter run.
    run("HTTP/2 mock", mock.addr(), &pki, (n / 10).max(1000));
}
