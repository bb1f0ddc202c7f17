//! End-to-end throughput and error recovery, client to the mock over TLS on loopback.
//!
//! Run with `cargo bench -p apns-io` (or `cargo xtask bench`). Not a criterion bench: each run is
//! one long transfer, timed on the wall clock. Prints one line per measurement.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apns_io::{Client, Config, Endpoint, Event, Identity, TlsConfig};
use apns_mock::certs::TestPki;
use apns_mock::{MockConfig, MockServer};
use apns_proto::{DeviceToken, Notification, Payload, PayloadLimit, Status};
use apns_resend::Outcome;

const WAIT: Duration = Duration::from_secs(120);

fn tls(pki: &TestPki) -> Arc<rustls::ClientConfig> {
    let identity = Identity::from_pem(pki.client_cert_pem.as_bytes(), pki.client_key_pem.as_bytes()).unwrap();
    TlsConfig::new().identity(identity).ca_pem(pki.ca_cert_pem.as_bytes()).unwrap().build().unwrap()
}

fn notifications(n: u32, first_token: u8) -> Vec<Notification> {
    let payload =
        Payload::new().alert("Hello World!").sound("default").badge(1).encode(PayloadLimit::BINARY).unwrap();
    let token = DeviceToken::new([first_token; 32]);
    (1..=n)
        .map(|id| Notification::new(token, payload.clone()).with_id(id).with_expiry(1_700_000_000))
        .collect()
}

fn throughput(n: u32, connections: usize) {
    let pki = TestPki::generate().unwrap();
    let server = MockServer::start(MockConfig::from_test_pki(&pki).error_delay(Duration::ZERO)).unwrap();
    let finished = Arc::new(AtomicU64::new(0));
    let counter = finished.clone();
    let per_connection = n as usize / connections + 1024;
    let config = Config::new(Endpoint::at("localhost", server.gateway_addr()), tls(&pki))
        .connections(connections)
        .queue_capacity(100_000)
        .resend(
            apns_resend::Config::default()
                .max_age(Duration::from_secs(30))
                .max_in_flight(per_connection)
                .capacity(per_connection),
        )
        .on_event(move |event| {
            if let Event::Finished { report, .. } = event {
                if report.outcome == Outcome::Accepted {
                    counter.fetch_add(1, Relaxed);
                }
            }
        });
    let client = Client::start(config).unwrap();
    let batch = notifications(n, 0x42);
    let start = Instant::now();
    client.send_batch(batch, None).unwrap();
    let handed = start.elapsed();
    assert!(server.wait_for(|stats| stats.accepted >= u64::from(n), WAIT), "{:?}", server.stats());
    let received = start.elapsed();
    let summary = client.close(WAIT);
    let confirmed = start.elapsed();
    assert!(summary.settled);
    assert_eq!(finished.load(Relaxed), u64::from(n), "{:?}", summary.counters);
    let mbytes = summary.counters.bytes_written as f64 / 1e6;
    println!(
        "apns-io throughput: {n} notifications, {connections} connection(s): handed in {handed:.2?}, \
         all received by the mock {received:.2?} = {:.0} notifications/s ({:.0} MB/s TLS), \
         all confirmed {confirmed:.2?} = {:.0}/s",
        f64::from(n) / received.as_secs_f64(),
        mbytes / received.as_secs_f64(),
        f64::from(n) / confirmed.as_secs_f64(),
    );
    server.stop();
}

/// One rejected notification followed by `n` in flight, all discarded by the gateway: how long
/// from the error response's arrival until the gateway has all `n` again.
fn recovery(n: u32) -> Duration {
    let pki = TestPki::generate().unwrap();
    let bad = DeviceToken::new([0xee; 32]);
    let server = MockServer::start(
        MockConfig::from_test_pki(&pki)
            .error_delay(Duration::from_millis(300))
            .reject(bad, Status::INVALID_TOKEN),
    )
    .unwrap();
    let error_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let seen = error_at.clone();
    let config =
        Config::new(Endpoint::at("localhost", server.gateway_addr()), tls(&pki)).on_event(move |event| {
            if let Event::Finished { report, .. } = event {
                if matches!(report.outcome, Outcome::Rejected(_)) {
                    *seen.lock().unwrap() = Some(Instant::now());
                }
            }
        });
    let client = Client::start(config).unwrap();
    let payload = Payload::new().alert("bad").encode(PayloadLimit::BINARY).unwrap();
    let mut batch = vec![Notification::new(bad, payload).with_id(0u32)];
    batch.extend(notifications(n, 0x42));
    client.send_batch(batch, None).unwrap();
    assert!(server.wait_for(|stats| stats.accepted >= u64::from(n), WAIT), "{:?}", server.stats());
    let done = Instant::now();
    let stats = server.stats();
    assert_eq!(stats.discarded, u64::from(n), "all {n} were in flight and discarded: {stats:?}");
    let error_at = error_at.lock().unwrap().expect("the rejection was reported");
    let took = done - error_at;
    drop(client);
    server.stop();
    took
}

fn main() {
    // `cargo bench` passes `--bench`; an argument without dashes filters by name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    if wanted("throughput") {
        for connections in [1, 4] {
            throughput(1_000_000, connections);
        }
        throughput(100_000, 1);
    }
    if wanted("recovery") {
        let mut runs: Vec<Duration> = (0..5).map(|_| recovery(10_000)).collect();
        runs.sort();
        println!(
            "apns-io recovery: 10000 in-flight notifications discarded by an error response, all received \
             again {:.2?} after the response arrived (median of 5; min {:.2?}, max {:.2?})",
            runs[2], runs[0], runs[4]
        );
    }
}
