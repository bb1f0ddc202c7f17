//! The HTTP/2 client end to end over TLS against the HTTP/2 mock: the delivery machine
//! (`apns_resend::http2::Delivery`) driven by the mio loop, with token and certificate auth.

use std::sync::Arc;
use std::time::Duration;

use apns_auth::TokenPolicy;
use apns_io::http2::{Http2Client, Http2Config};
use apns_io::{Endpoint, Identity, TlsConfig};
use apns_mock::certs::{ProviderKey, TestPki};
use apns_mock::http2::{Http2Config as MockConfig, Http2Mock};
use apns_proto::http2::{DeviceNotification, PushType, Reason, Topic};
use apns_proto::{Payload, PayloadLimit};
use apns_resend::http2::{Auth, FailReason, HaltReason, Item, Outcome};

mod common;
use common::peer_or_skip;

const TOPIC: &str = "com.example.mock";
const GOOD: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";
const WAIT: Duration = Duration::from_secs(20);

fn item(token: &str, tag: u64) -> Item<u64> {
    let payload = Payload::new().alert("Hello").encode(PayloadLimit::HTTP2).unwrap();
    let notification = DeviceNotification::builder(token.parse().unwrap(), PushType::ALERT, payload)
        .topic(Topic::new(TOPIC).unwrap())
        .build()
        .unwrap();
    Item::device(notification, tag)
}

fn tls(pki: &TestPki, certificate: bool) -> Arc<rustls::ClientConfig> {
    common::h2_tls(pki, certificate)
}

fn token_auth(key: &ProviderKey) -> Auth {
    Auth::Token(TokenPolicy::new(common::signer(key)))
}

fn client(mock: &Http2Mock, tls: Arc<rustls::ClientConfig>, auth: Auth) -> Http2Client<u64> {
    let mut config = Http2Config::new(Endpoint::at("localhost", mock.addr()), tls, auth, 7);
    config.delivery.connections = 1;
    config.delivery.capacity = 4096;
    Http2Client::start(config).unwrap()
}

#[test]
fn ten_thousand_with_a_provider_token() {
    let (pki, key) = (TestPki::generate().unwrap(), ProviderKey::generate().unwrap());
    let mock =
        Http2Mock::start(MockConfig::from_test_pki(&pki).provider_key_from(&key).topic(TOPIC)).unwrap();
    let client = client(&mock, tls(&pki, false), token_auth(&key));
    let outcomes = client.outcomes(20_000);
    client.send_batch((0..10_000).map(|n| item(GOOD, n)), Some(WAIT)).unwrap();
    let mut tags: Vec<u64> = (0..10_000)
        .map(|_| {
            let report = outcomes.next_timeout(WAIT).expect("a report");
            assert!(matches!(report.outcome, Outcome::Accepted { .. }), "{:?}", report.outcome);
            report.tag
        })
        .collect();
    tags.sort_unstable();
    assert!(tags.iter().enumerate().all(|(i, &tag)| tag == i as u64));
    let summary = client.close(WAIT);
    assert!(summary.settled, "{summary:?}");
    assert_eq!(summary.counters.delivery.accepted, 10_000);
    assert_eq!(summary.counters.submitted, 10_000);
    assert_eq!(mock.stats().accepted, 10_000);
}

#[test]
fn certificate_auth_and_rejections_with_reasons() {
    let pki = TestPki::generate().unwrap();
    let bad = "00".repeat(32);
    let gone = "11".repeat(32);
    let mock = Http2Mock::start(
        MockConfig::from_test_pki(&pki)
            .topic(TOPIC)
            .reject(&bad, apns_mock::http2::Reason::BAD_DEVICE_TOKEN)
            .unregistered(&gone, 1_700_000_000_000),
    )
    .unwrap();
    let client = client(&mock, tls(&pki, true), Auth::Certificate);
    let outcomes = client.outcomes(64);
    client.send_batch([item(GOOD, 0), item(&bad, 1), item(&gone, 2)], Some(WAIT)).unwrap();
    let mut reports: Vec<_> = (0..3).map(|_| outcomes.next_timeout(WAIT).unwrap()).collect();
    reports.sort_by_key(|r| r.tag);
    assert!(matches!(reports[0].outcome, Outcome::Accepted { .. }));
    match &reports[1].outcome {
        Outcome::Rejected(rejection) => {
            assert_eq!((rejection.status, rejection.reason.as_ref()), (400, Some(&Reason::BAD_DEVICE_TOKEN)))
        }
        other => panic!("{other:?}"),
    }
    match &reports[2].outcome {
        Outcome::Rejected(rejection) => assert!(rejection.status == 410 && rejection.timestamp.is_some()),
        other => panic!("{other:?}"),
    }
    assert!(client.close(WAIT).settled);
}

#[test]
fn a_refused_client_certificate_halts_the_gateway_at_once() {
    let (pki, stranger) = (TestPki::generate().unwrap(), TestPki::generate().unwrap());
    let mock = Http2Mock::start(MockConfig::from_test_pki(&pki).topic(TOPIC)).unwrap();
    // Trusts the mock, but presents a client certificate the mock's CA did not sign.
    let identity =
        Identity::from_pem(stranger.client_cert_pem.as_bytes(), stranger.client_key_pem.as_bytes());
    let tls = TlsConfig::new().ca_pem(pki.ca_cert_pem.as_bytes()).unwrap().identity(identity.unwrap());
    let client = client(&mock, tls.build_h2().unwrap(), Auth::Certificate);
    let outcomes = client.outcomes(64);
    client.send_batch((0..20).map(|n| item(GOOD, n)), Some(WAIT)).unwrap();
    for _ in 0..20 {
        let report = outcomes.next_timeout(WAIT).expect("a report");
        assert_eq!(report.outcome, Outcome::Failed(FailReason::Halted(HaltReason::ConnectRefused)));
    }
    assert_eq!(client.counters().delivery.connects, 1, "{:?}", client.counters());
    assert_eq!(mock.stats().accepted, 0);
    let _ = client.close(WAIT);
}

#[test]
fn a_rejected_provider_token_halts_the_gateway() {
    let (pki, key, other) =
        (TestPki::generate().unwrap(), ProviderKey::generate().unwrap(), ProviderKey::generate().unwrap());
    let mock =
        Http2Mock::start(MockConfig::from_test_pki(&pki).provider_key_from(&key).topic(TOPIC)).unwrap();
    let client = client(&mock, tls(&pki, false), token_auth(&other));
    let outcomes = client.outcomes(64);
    client.send_batch((0..20).map(|n| item(GOOD, n)), Some(WAIT)).unwrap();
    for _ in 0..20 {
        let report = outcomes.next_timeout(WAIT).expect("a report");
        assert!(matches!(report.outcome, Outcome::Failed(FailReason::Halted(_))), "{:?}", report.outcome);
    }
    // One request with the token was enough: the rest were never sent.
    assert_eq!(mock.stats().accepted, 0);
    assert!(mock.stats().requests <= 1, "{:?}", mock.stats());
    let _ = client.close(WAIT);
}

#[test]
fn mock_restarted_mid_run_loses_nothing() {
    let pki = TestPki::generate().unwrap();
    let first = Http2Mock::start(MockConfig::from_test_pki(&pki).topic(TOPIC)).unwrap();
    let addr = first.addr();
    let client = client(&first, tls(&pki, true), Auth::Certificate);
    let outcomes = client.outcomes(4096);
    client.send_batch((0..500).map(|n| item(GOOD, n)), Some(WAIT)).unwrap();
    for _ in 0..500 {
        assert!(matches!(outcomes.next_timeout(WAIT).unwrap().outcome, Outcome::Accepted { .. }));
    }
    first.stop();
    let second = Http2Mock::start(MockConfig::from_test_pki(&pki).topic(TOPIC).addr(addr)).unwrap();
    client.send_batch((500..1000).map(|n| item(GOOD, n)), Some(WAIT)).unwrap();
    let mut tags = Vec::new();
    let mut duplicates = 0;
    for _ in 0..500 {
        let report = outcomes.next_timeout(WAIT).expect("a report");
        assert!(matches!(report.outcome, Outcome::Accepted { .. }), "{:?}", report.outcome);
        duplicates += u64::from(report.possible_duplicate);
        tags.push(report.tag);
    }
    tags.sort_unstable();
    tags.dedup();
    assert_eq!(tags.len(), 500);
    // Only those marked may have reached the server twice.
    assert!(second.stats().accepted <= 500 + duplicates);
    assert!(client.close(WAIT).settled);
}

struct Python(std::process::Child);

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// python-hyper's h2 playing APNs (`tests/python_h2_apns.py`): stream limit 1 → 10 → 1,
/// GOAWAY with `{"reason": "Shutdown"}` every 40 answers.
#[test]
fn python_h2_stream_limits_and_goaway() {
    use std::io::{BufRead, BufReader};
    let python = std::env::var("APNS_PYTHON").ok().filter(|python| !python.is_empty());
    if !peer_or_skip("APNS_PYTHON (a python with h2==4.4.1)", python.is_some()) {
        return;
    }
    let pki = TestPki::generate().unwrap();
    let dir = std::env::temp_dir().join(format!("apns-io-python-h2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), &pki.server_cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &pki.server_key_pem).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python_h2_apns.py");
    let mut child = std::process::Command::new(python.unwrap_or_default())
        .arg(script)
        .arg(dir.join("cert.pem"))
        .arg(dir.join("key.pem"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the python server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let server = Python(child);
    let port: u16 = line.trim().strip_prefix("PORT ").expect("a port").parse().unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));

    let goaways = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = goaways.clone();
    let mut config =
        Http2Config::new(Endpoint::at("localhost", addr), tls(&pki, false), Auth::Certificate, 7).on_event(
            move |event| {
                if let apns_resend::http2::Event::GoAway { reason, .. } = event {
                    seen.lock().unwrap().push(reason.clone());
                }
            },
        );
    config.delivery.connections = 1;
    let client: Http2Client<u64> = Http2Client::start(config).unwrap();
    let outcomes = client.outcomes(1024);
    let bad = "00".repeat(32);
    let run = |items: Vec<Item<u64>>| {
        let n = items.len();
        client.send_batch(items, Some(WAIT)).unwrap();
        (0..n).map(|_| outcomes.next_timeout(WAIT).expect("a report")).collect::<Vec<_>>()
    };
    // 1 stream, then 10 after the first success; GOAWAY after 40 answers (twice here).
    let first = run((0..100).map(|n| item(GOOD, n)).collect());
    // A rejection alone (nothing else in flight): the limit goes back to 1...
    let rejected = run(vec![item(&bad, 100)]);
    // ...and up again with the next success.
    let second = run((101..150).map(|n| item(GOOD, n)).collect());
    for report in first.iter().chain(&second) {
        assert!(matches!(report.outcome, Outcome::Accepted { .. }), "{:?}", report.outcome);
        assert!(!report.possible_duplicate, "only resends of unprocessed streams: {report:?}");
    }
    match &rejected[0].outcome {
        Outcome::Rejected(rejection) => {
            assert_eq!(rejection.reason.as_ref(), Some(&Reason::BAD_DEVICE_TOKEN))
        }
        other => panic!("{other:?}"),
    }
    assert!(client.close(WAIT).settled);
    let goaways = goaways.lock().unwrap().clone();
    assert!(goaways.len() >= 3, "{goaways:?}");
    assert!(
        goaways.iter().all(|reason| reason.as_ref().is_some_and(|r| r.as_str() == "Shutdown")),
        "{goaways:?}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_machine_that_drains_in_one_turn_takes_the_waiting_inbox_at_once() {
    // The machine holds 8, the inbox the rest. When a turn settles all 8, the loop must take
    // more from the inbox before it sleeps: nothing else would wake it (no stream open, the
    // inbox never went empty), and every timer here is an hour away.
    let pki = TestPki::generate().unwrap();
    let mock = Http2Mock::start(MockConfig::from_test_pki(&pki).topic(TOPIC)).unwrap();
    let mut config =
        Http2Config::new(Endpoint::at("localhost", mock.addr()), tls(&pki, true), Auth::Certificate, 7);
    config.delivery.connections = 1;
    config.delivery.capacity = 8;
    config.delivery.max_streams_per_connection = 8;
    config.delivery.response_timeout = Duration::from_secs(3600);
    config.delivery.ping_interval = Some(Duration::from_secs(3600));
    let client: Http2Client<u64> = Http2Client::start(config).unwrap();
    let outcomes = client.outcomes(4096);
    client.send_batch((0..2000).map(|n| item(GOOD, n)), Some(WAIT)).unwrap();
    for _ in 0..2000 {
        let report =
            outcomes.next_timeout(WAIT).expect("a report: the loop went to sleep with items waiting");
        assert!(matches!(report.outcome, Outcome::Accepted { .. }), "{:?}", report.outcome);
    }
    assert!(client.close(WAIT).settled);
    assert_eq!(mock.stats().accepted, 2000);
}
