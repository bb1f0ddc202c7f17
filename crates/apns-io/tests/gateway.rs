//! The event loop against the mock gateway on loopback: happy path, every fault, closes.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use apns_io::{Backoff, ConnectError, Event, TlsConfig};
use apns_mock::certs::TestPki;
use apns_proto::Status;
use apns_resend::{FailReason, Outcome};
use common::*;

const WAIT: Duration = Duration::from_secs(60);

/// The presumption these tests were written for (settling by age); the default,
/// `Settlement::Prove`, is what `happy_path` and `rejected_tokens...` run.
fn resend(max_age_ms: u64) -> apns_resend::Config {
    apns_resend::Config::default()
        .settlement(apns_resend::Settlement::Presume)
        .max_age(Duration::from_millis(max_age_ms))
}

fn happy_path(n: u32, connections: usize) {
    let harness = Harness::start(|mock| mock.error_delay(Duration::ZERO).record_in_memory(n as usize + 100));
    let (client, mut events) = harness.client(|config| {
        config
            .connections(connections)
            .resend(apns_resend::Config::default().max_in_flight(n as usize).capacity(n as usize))
    });
    client.send_batch(notifications(n), None).unwrap();
    let summary = client.close(WAIT);
    assert!(summary.settled, "{summary:?}");
    events.drain();
    let reports = events.exactly_one_each(1..=n);
    let odd: Vec<_> = reports.iter().filter(|r| !r.outcome.is_accepted() || r.writes != 1).take(3).collect();
    assert!(odd.is_empty(), "{odd:?}");
    assert_eq!(summary.counters.accepted, u64::from(n));
    assert_eq!(summary.counters.sent, u64::from(n));
    assert_eq!(summary.counters.resent, 0);
    // The mock accepted every notification once; the probes are its only rejections.
    let records = harness.server.records();
    let accepted: Vec<_> = records.iter().filter(|r| r.outcome == apns_mock::Outcome::Accepted).collect();
    assert_eq!(accepted.len(), n as usize);
    // Order kept per connection: each connection's sequence numbers increase.
    let mut last: HashMap<u64, u32> = HashMap::new();
    for record in &accepted {
        let seq = seq_of(&record.token);
        let previous = last.insert(record.conn, seq);
        assert!(previous.is_none_or(|p| p < seq), "conn {}: {previous:?} then {seq}", record.conn);
    }
    // Every slot carried notifications, on a new connection per proved window of 20,000.
    assert!(last.len() >= connections, "{} connections", last.len());
    assert!(summary.counters.probes >= u64::from(n) / 20_000, "{:?}", summary.counters);
}

#[test]
fn happy_path_one_connection() {
    happy_path(100_000, 1);
}

#[test]
fn happy_path_four_connections() {
    happy_path(100_000, 4);
}

#[test]
fn rejected_tokens_are_reported_with_status_and_id() {
    let n = 3000u32;
    let rejected: Vec<u32> = vec![7, 500, 1200, 2222, 2999];
    let harness = Harness::start(|mut mock| {
        mock = mock.error_delay(apns_mock::DelayRange::between(
            Duration::from_millis(100),
            Duration::from_millis(800),
        ));
        for &seq in &rejected {
            mock = mock.reject(token(seq), Status::INVALID_TOKEN);
        }
        mock
    });
    let (client, mut events) = harness.client(|config| config);
    client.send_batch(notifications(n), None).unwrap();
    assert!(events.wait_reports(n as usize, WAIT));
    for (report, seq) in events.exactly_one_each(1..=n).into_iter().zip(1..) {
        if rejected.contains(&seq) {
            assert_eq!(report.outcome, Outcome::Rejected(Status::INVALID_TOKEN), "{seq}");
        } else {
            assert!(report.outcome.is_accepted(), "{seq}: {report:?}");
            assert!(!report.possible_duplicate(), "{seq}: {report:?}");
        }
    }
    let counters = client.counters();
    assert_eq!(counters.rejected, 5);
    // Five rejections, plus the answers to the probes that proved the rest.
    assert!(counters.error_responses >= 5, "{counters:?}");
    assert!(counters.resent > 0, "{counters:?}");
    assert_eq!(counters.possible_duplicates, 0);
    assert_eq!(harness.server.stats().accepted, u64::from(n) - 5, "no duplicates without silent closes");
}

#[test]
fn silent_closes_resend_and_count_duplicates() {
    let n = 5000u32;
    let harness = Harness::start(|mock| mock.error_delay(Duration::ZERO).drop_every(1000));
    // A small window aged quickly keeps the unknown-fate writes at each close few.
    let (client, mut events) =
        harness.client(|config| config.resend(resend(50).max_in_flight(200)).backoff(fast_backoff()));
    client.send_batch(notifications(n), None).unwrap();
    assert!(events.wait_reports(n as usize, WAIT));
    let reports = events.exactly_one_each(1..=n);
    assert!(reports.iter().all(|r| r.outcome.is_accepted()), "none lost");
    let duplicates = reports.iter().filter(|r| r.possible_duplicate()).count() as u64;
    let counters = client.counters();
    assert!(counters.silent_closes >= 4, "{counters:?}");
    assert_eq!(counters.possible_duplicates, duplicates);
    assert!(counters.resent >= duplicates);
    let mock = harness.server.stats();
    assert!(mock.dropped >= 4);
    assert!(mock.accepted >= u64::from(n));
    assert!(mock.accepted - u64::from(n) <= duplicates, "every duplicate delivery is counted: {mock:?}");
}

#[test]
fn shutdown_status_10_resends_the_rest_without_duplicates() {
    let n = 5000u32;
    let harness = Harness::start(|mock| mock.error_delay(Duration::from_millis(20)).shutdown_every(1500));
    let (client, mut events) = harness.client(|config| config);
    client.send_batch(notifications(n), None).unwrap();
    assert!(events.wait_reports(n as usize, WAIT));
    let reports = events.exactly_one_each(1..=n);
    assert!(reports.iter().all(|r| r.outcome.is_accepted() && !r.possible_duplicate()));
    let counters = client.counters();
    assert!(counters.error_responses >= 3, "{counters:?}");
    assert!(counters.reconnects >= 3, "{counters:?}");
    assert_eq!(harness.server.stats().accepted, u64::from(n));
}

#[test]
fn stalls_push_back_to_the_caller() {
    let n = 4000u32;
    let harness =
        Harness::start(|mock| mock.error_delay(Duration::ZERO).stall_every(500, Duration::from_millis(200)));
    let (client, mut events) = harness
        .client(|config| config.queue_capacity(100).resend(resend(100).capacity(500).max_in_flight(500)));
    let mut full = 0;
    let mut pending = notifications(n);
    pending.reverse();
    while let Some(notification) = pending.pop() {
        if let Err(apns_io::SendError::Full { mut unsent }) = client.try_send(notification) {
            full += 1;
            client.send_timeout(unsent.remove(0), WAIT).unwrap();
        }
    }
    assert!(full > 0, "the caller met backpressure");
    assert!(events.wait_reports(n as usize, WAIT));
    assert!(events.exactly_one_each(1..=n).iter().all(|r| r.outcome.is_accepted()));
    assert!(client.counters().accepted == u64::from(n));
}

fn fast_backoff() -> Backoff {
    Backoff { initial: Duration::from_millis(10), max: Duration::from_millis(80) }
}

#[test]
fn refused_connections_back_off_then_deliver() {
    let harness = Harness::start(|mock| {
        mock.error_delay(Duration::ZERO).refuse_connections_for(Duration::from_millis(300))
    });
    let (client, mut events) =
        harness.client(|config| config.backoff(fast_backoff()).max_connect_failures(100).resend(resend(100)));
    client.send_batch(notifications(100), None).unwrap();
    assert!(events.wait_reports(100, WAIT));
    assert!(events.exactly_one_each(1..=100).iter().all(|r| r.outcome.is_accepted()));
    let counters = client.counters();
    assert!(counters.connect_failures >= 2, "{counters:?}");
    let delays: Vec<Duration> = events
        .others
        .iter()
        .filter_map(|e| match e {
            Event::ConnectFailed { retry_in, .. } => Some(*retry_in),
            _ => None,
        })
        .collect();
    assert!(delays.len() >= 2);
    assert!(delays.iter().all(|d| *d <= Duration::from_millis(80)), "capped: {delays:?}");
    assert!(delays[1] >= Duration::from_millis(10), "backing off: {delays:?}");
}

#[test]
fn wrong_ca_fails_every_notification_clearly() {
    let harness = Harness::start(|mock| mock.error_delay(Duration::ZERO));
    let other = TestPki::generate().unwrap();
    let identity = apns_io::Identity::from_pem(
        harness.pki.client_cert_pem.as_bytes(),
        harness.pki.client_key_pem.as_bytes(),
    )
    .unwrap();
    let tls =
        TlsConfig::new().identity(identity).ca_pem(other.ca_cert_pem.as_bytes()).unwrap().build().unwrap();
    let (client, mut events) =
        harness.client_with_tls(tls, |config| config.backoff(fast_backoff()).max_connect_failures(3));
    client.send_batch(notifications(10), None).unwrap();
    assert!(events.wait_reports(10, WAIT));
    let reports = events.exactly_one_each(1..=10);
    assert!(reports.iter().all(|r| r.outcome == Outcome::Failed(FailReason::Abandoned) && r.writes == 0));
    let error = events.others.iter().find_map(|e| match e {
        Event::ConnectFailed { error, .. } => Some(error.clone()),
        _ => None,
    });
    assert!(matches!(error, Some(ConnectError::UntrustedServer(_))), "{error:?}");
    assert_eq!(client.counters().connections, 0);
}

#[test]
fn no_client_certificate_fails_every_notification() {
    let harness = Harness::start(|mock| mock.error_delay(Duration::ZERO));
    let tls = TlsConfig::new().ca_pem(harness.pki.ca_cert_pem.as_bytes()).unwrap().build().unwrap();
    let (client, mut events) = harness.client_with_tls(tls, |config| {
        config.backoff(fast_backoff()).max_connect_failures(3).resend(resend(100))
    });
    client.send_batch(notifications(10), None).unwrap();
    assert!(events.wait_reports(10, WAIT));
    let reports = events.exactly_one_each(1..=10);
    assert!(reports.iter().all(|r| matches!(r.outcome, Outcome::Failed(_))), "{reports:?}");
    // A refused certificate would be refused again: one attempt, not the reconnect budget.
    assert_eq!(client.counters().connect_failures, 1);
    assert_eq!(harness.server.stats().accepted, 0);
    // The server counts its failed handshake after sending the alert the client reports.
    assert!(harness.server.wait_for(|s| s.handshake_failures >= 1, WAIT));
    events.drain();
    let refused: Vec<_> = events
        .others
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::ConnectFailed { error: ConnectError::CertificateRefused(_), gave_up: true, .. }
            )
        })
        .collect();
    assert_eq!(refused.len(), 1, "{:?}", events.others);
}

#[test]
fn force_close_reports_everything_unconfirmed() {
    // A long stall: nothing gets confirmed before the force close.
    let harness =
        Harness::start(|mock| mock.error_delay(Duration::ZERO).stall_every(1, Duration::from_secs(30)));
    let (client, mut events) = harness.client(|config| config);
    client.send_batch(notifications(1000), None).unwrap();
    assert!(harness.server.wait_for(|s| s.accepted >= 1, WAIT));
    let summary = client.force_close();
    assert!(!summary.settled);
    events.drain();
    let reported: Vec<u32> = events.reports.keys().copied().collect();
    let unsent: Vec<u32> = summary.unsent.iter().map(|n| n.id.get()).collect();
    assert_eq!(reported.len() + unsent.len(), 1000, "every notification accounted for");
    events.exactly_one_each(reported.iter().copied());
    assert!(events
        .reports
        .values()
        .flatten()
        .all(|(_, r)| r.outcome == Outcome::Failed(FailReason::Abandoned)));
}

#[test]
fn graceful_close_confirms_explicitly() {
    let harness = Harness::start(|mock| mock.error_delay(Duration::from_millis(100)));
    // A max_age far beyond the test: only the explicit confirmation can settle in time.
    let (client, mut events) = harness.client(|config| config.connections(2).resend(resend(300_000)));
    client.send_batch(notifications(2000), None).unwrap();
    let start = std::time::Instant::now();
    let summary = client.close(WAIT);
    assert!(start.elapsed() < Duration::from_secs(20), "{:?}", start.elapsed());
    assert!(summary.settled);
    events.drain();
    assert!(events.exactly_one_each(1..=2000).iter().all(|r| r.outcome == Outcome::Accepted));
    assert_eq!(events.others.iter().filter(|e| matches!(e, Event::Confirmed { .. })).count(), 2);
    assert!(matches!(
        apns_io::Client::start(apns_io::Config::new(harness.gateway(), harness.tls()).connections(0)),
        Err(apns_io::StartError::Zero("connections"))
    ));
}

#[test]
fn idle_connection_closes_and_reopens_on_next_send() {
    let harness = Harness::start(|mock| mock.error_delay(Duration::ZERO));
    let (client, mut events) =
        harness.client(|config| config.idle_timeout(Some(Duration::from_millis(200))).resend(resend(50)));
    client.send_batch(notifications(10), None).unwrap();
    assert!(events.wait_reports(10, WAIT));
    assert!(events.wait_event(WAIT, |e| matches!(e, Event::IdleClosed { .. })));
    let payload = payload();
    client.send_timeout(apns_proto::Notification::new(token(11), payload).with_id(11u32), WAIT).unwrap();
    assert!(events.wait_reports(11, WAIT));
    let counters = client.counters();
    assert_eq!(counters.connections, 2);
    assert_eq!(counters.accepted, 11);
    let closed = client.close(WAIT);
    assert!(closed.settled);
    let err = closed.counters.submitted;
    assert_eq!(err, 11);
}
