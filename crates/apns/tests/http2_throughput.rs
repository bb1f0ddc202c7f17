//! What the facade costs over the bare HTTP/2 client, against the in-process mock (ignored by
//! default; numbers in docs/benchmarks.md):
//! `cargo test --release -p apns --test http2_throughput -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use apns::mock::LocalHttp2Mock;
use apns::{DeviceToken, HexDeviceToken, Outcome, Payload, PushType};
use apns_auth::{KeyId, SigningKey, TeamId, TokenPolicy, TokenSigner};
use apns_io::http2::{Http2Client, Http2Config};
use apns_io::{Endpoint, TlsConfig};
use apns_resend::http2::{Auth, Item};

const N: usize = 50_000;
const WAIT: Duration = Duration::from_secs(120);

fn token(n: usize) -> HexDeviceToken {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&(n as u64).to_be_bytes());
    DeviceToken::new(bytes).into()
}

fn rate(label: &str, started: Instant) {
    let took = started.elapsed();
    println!("{label:<44} {N} in {took:>8.2?}: {:>8.0} notifications/s", N as f64 / took.as_secs_f64());
}

fn raw(mock: &LocalHttp2Mock) {
    let key = mock.provider_key();
    let signer = TokenSigner::new(
        SigningKey::from_p8_pem(key.private_key_pem.as_bytes()).unwrap(),
        KeyId::new(&key.key_id).unwrap(),
        TeamId::new(&key.team_id).unwrap(),
    );
    let tls = TlsConfig::new().ca_pem(mock.pki().ca_cert_pem.as_bytes()).unwrap().build_h2().unwrap();
    let endpoint = Endpoint::at("localhost", mock.server().addr());
    let config = Http2Config::new(endpoint, tls, Auth::Token(TokenPolicy::new(signer)), 1);
    let client: Http2Client<u64> = Http2Client::start(config).unwrap();
    let facade = mock.builder().build().unwrap(); // only to build the notifications alike
    let outcomes = client.outcomes(N);
    let started = Instant::now();
    let payload = Payload::new().alert("Hello");
    let items = (0..N).map(|n| {
        let notification = facade.notification(token(n), PushType::ALERT, &payload).unwrap().build().unwrap();
        Item::device(notification, n as u64)
    });
    client.send_batch(items, Some(WAIT)).unwrap();
    let accepted = (0..N)
        .filter(|_| matches!(outcomes.next_timeout(WAIT).map(|r| r.outcome), Some(Outcome::Accepted { .. })))
        .count();
    rate("apns_io::http2::Http2Client (no on_event)", started);
    assert_eq!(accepted, N);
}

fn facade_blocking(mock: &LocalHttp2Mock) {
    let apns = mock.builder().seed(1).build().unwrap();
    let outcomes = apns.outcomes();
    let started = Instant::now();
    let payload = Payload::new().alert("Hello");
    let notifications =
        (0..N).map(|n| apns.notification(token(n), PushType::ALERT, &payload).unwrap().build().unwrap());
    apns.send_all(notifications).unwrap();
    let accepted = (0..N)
        .filter(|_| matches!(outcomes.next_timeout(WAIT).map(|r| r.outcome), Some(Outcome::Accepted { .. })))
        .count();
    rate("apns::Apns send_all + outcomes()", started);
    assert_eq!(accepted, N);
}

fn facade_async(mock: &LocalHttp2Mock) {
    let apns = mock.builder().seed(1).queue_capacity(N).build().unwrap();
    let started = Instant::now();
    let payload = Payload::new().alert("Hello");
    let futures: Vec<_> = (0..N)
        .map(|n| {
            apns.send_async(apns.notification(token(n), PushType::ALERT, &payload).unwrap().build().unwrap())
        })
        .collect();
    let accepted = futures
        .into_iter()
        .map(pollster::block_on)
        .filter(|report| matches!(report.as_ref().map(|r| &r.outcome), Ok(Outcome::Accepted { .. })))
        .count();
    rate("apns::Apns send_async, each awaited (pollster)", started);
    assert_eq!(accepted, N);
}

#[test]
#[ignore = "a measurement: run in release with --nocapture"]
fn facade_against_the_bare_client() {
    let mock = LocalHttp2Mock::start().unwrap();
    for _ in 0..2 {
        raw(&mock);
        facade_blocking(&mock);
        facade_async(&mock);
    }
}

/// What the loop no longer does per report for [`apns::Apns::outcomes`]: it cloned each one
/// for the iterator (the facade always has an event handler, which then took the original)
/// and dropped the copy after the handler. Here: one clone and drop of each of N real reports,
/// each cloned once as the loop did.
#[test]
#[ignore = "a measurement: run in release with --nocapture"]
fn cost_of_the_report_clone_the_loop_no_longer_makes() {
    let mock = LocalHttp2Mock::start().unwrap();
    let apns = mock.builder().seed(1).build().unwrap();
    let outcomes = apns.outcomes();
    let payload = Payload::new().alert("Hello");
    let notifications =
        (0..N).map(|n| apns.notification(token(n), PushType::ALERT, &payload).unwrap().build().unwrap());
    apns.send_all(notifications).unwrap();
    let reports: Vec<_> = (0..N).map(|_| outcomes.next_timeout(WAIT).unwrap()).collect();
    // The first clone of a report is the loop's case (it also makes the payload and topic
    // buffers shared); later ones only count references.
    for round in ["first clone (the loop's)", "second clone", "third clone"] {
        let started = Instant::now();
        for report in &reports {
            drop(std::hint::black_box(report.clone()));
        }
        let took = started.elapsed();
        println!(
            "{round:<26} and drop of a report: {:>4.0} ns each ({N} reports)",
            took.as_nanos() as f64 / N as f64
        );
    }
    assert!(apns.close(WAIT).settled);
}
