//! The binary protocol's facade end to end against the in-process binary mock: every PyAPNs operation, the outcomes,
//! the listeners, closing.

use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use apns::binary::{
    BinaryApns, BinaryBuilder, BinaryFailReason, BinaryNotification, BinaryOutcome, Frame, Status,
};
use apns::mock::{FeedbackEntry, LocalMock};
use apns::{ConnectError, DeviceToken, Error, Payload, PayloadLimit, Priority};

const TIMEOUT: Duration = Duration::from_secs(20);

fn token(byte: u8) -> DeviceToken {
    DeviceToken::new([byte; 32])
}

fn notification(byte: u8, id: u32) -> BinaryNotification {
    let payload = Payload::new().alert(format!("n{id}")).encode(PayloadLimit::BINARY).unwrap();
    BinaryNotification::new(token(byte), payload).with_id(id)
}

#[test]
fn send_notification_is_accepted_with_the_payload_bytes() {
    let mock = LocalMock::start_with(|config| config.record_in_memory(10)).unwrap();
    let apns = mock.builder().build().unwrap();
    let payload = Payload::new().alert("Hello World!").sound("default").badge(1);
    apns.gateway().send_notification(token(1), &payload).unwrap();
    let summary = apns.gateway().close(TIMEOUT);
    assert!(summary.settled);
    assert_eq!(summary.counters.accepted, 1);
    // The close's confirmation probe is recorded too, rejected.
    let records: Vec<_> =
        mock.server().records().into_iter().filter(|r| r.outcome == apns::mock::Outcome::Accepted).collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].payload, br#"{"aps":{"alert":"Hello World!","sound":"default","badge":1}}"#);
    assert_eq!(records[0].token, [1; 32]);
}

#[test]
fn frame_keeps_identifier_expiry_and_priority() {
    let mock = LocalMock::start_with(|config| config.record_in_memory(10)).unwrap();
    let apns = mock.builder().build().unwrap();
    let payload = Payload::new().alert("Hello World!");
    let mut frame = Frame::new();
    frame.add_item(token(1), &payload, 7, 1_900_000_000, Priority::Immediate).unwrap();
    frame.add_item(token(2), &payload, 8, 0, Priority::PowerConsiderate).unwrap();
    let outcomes = apns.gateway().outcomes();
    apns.gateway().send_batch(frame).unwrap();
    assert!(apns.gateway().close(TIMEOUT).settled);
    let ids: Vec<(u32, BinaryOutcome)> = outcomes.map(|report| (report.id.get(), report.outcome)).collect();
    assert_eq!(ids, [(7, BinaryOutcome::Accepted), (8, BinaryOutcome::Accepted)]);
    let records: Vec<_> =
        mock.server().records().into_iter().filter(|r| r.outcome == apns::mock::Outcome::Accepted).collect();
    let seen: Vec<(u32, u8)> = records.iter().map(|record| (record.expiry, record.priority)).collect();
    assert_eq!(seen, [(1_900_000_000, 10), (0, 5)]);
}

#[test]
fn response_listener_hears_rejections_with_the_users_identifier() {
    let mock = LocalMock::start_with(|config| config.reject(token(0xba), Status::INVALID_TOKEN)).unwrap();
    let apns = mock.builder().build().unwrap();
    let (tx, responses) = channel();
    apns.gateway().register_response_listener(move |response| {
        let _ = tx.send(*response);
    });
    let outcomes = apns.gateway().outcomes();
    let sends = [notification(1, 1), notification(0xba, 2), notification(3, 3), notification(4, 4)];
    apns.gateway().send_all(sends).unwrap();
    let summary = apns.gateway().close(TIMEOUT);
    assert!(summary.settled);
    let responses: Vec<_> = responses.try_iter().collect();
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, Status::INVALID_TOKEN);
    assert_eq!(responses[0].id.map(|id| id.get()), Some(2));
    assert_eq!(responses[0].token, Some(token(0xba)));
    let mut outcomes: Vec<(u32, BinaryOutcome)> =
        outcomes.map(|report| (report.id.get(), report.outcome)).collect();
    outcomes.sort_by_key(|&(id, _)| id);
    assert_eq!(
        outcomes,
        [
            (1, BinaryOutcome::Accepted),
            (2, BinaryOutcome::Rejected(Status::INVALID_TOKEN)),
            (3, BinaryOutcome::Accepted),
            (4, BinaryOutcome::Accepted)
        ]
    );
    assert_eq!(summary.counters.rejected, 1);
    assert_eq!(mock.server().stats().accepted, 3);
}

#[test]
fn response_listener_hears_shutdowns_too() {
    let mock = LocalMock::start_with(|config| config.shutdown_every(2)).unwrap();
    let apns = mock.builder().build().unwrap();
    let (tx, responses) = channel();
    apns.gateway().register_response_listener(move |response| {
        let _ = tx.send(*response);
    });
    apns.gateway().send_all((1..=3).map(|id| notification(1, id))).unwrap();
    let summary = apns.gateway().close(TIMEOUT);
    assert!(summary.settled);
    assert_eq!(summary.counters.accepted, 3);
    let responses: Vec<_> = responses.try_iter().collect();
    assert!(!responses.is_empty());
    assert!(responses.iter().all(|r| r.status == Status::SHUTDOWN && r.id.is_none()), "{responses:?}");
}

#[test]
fn on_outcome_sees_every_notification_once() {
    let mock = LocalMock::start_with(|config| config.reject(token(9), Status::MISSING_PAYLOAD)).unwrap();
    let apns = mock.builder().build().unwrap();
    let (tx, reports) = channel();
    apns.gateway().on_outcome(move |report| {
        let _ = tx.send(report.clone());
    });
    let n = 200u32;
    apns.gateway().send_all((0..n).map(|id| notification(if id % 50 == 7 { 9 } else { 1 }, id))).unwrap();
    assert!(apns.gateway().close(TIMEOUT).settled);
    let mut ids: Vec<u32> = reports.try_iter().map(|report| report.id.get()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..n).collect::<Vec<_>>());
    let counters = apns.gateway().counters();
    assert_eq!(counters.rejected, 4);
    assert_eq!(counters.accepted, u64::from(n) - 4);
}

#[test]
fn feedback_items_are_tokens_and_times() {
    let entries =
        [FeedbackEntry::new(1_600_000_000, token(0xaa)), FeedbackEntry::new(1_600_000_001, token(0xbb))];
    let mock =
        LocalMock::start_with(|config| config.feedback_tuples(entries).feedback_chunks(Some(3))).unwrap();
    let apns = mock.builder().build().unwrap();
    let items: Vec<_> = apns.feedback().items().unwrap().collect();
    let expected = [
        (token(0xaa), std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000)),
        (token(0xbb), std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_001)),
    ];
    assert_eq!(items, expected);
    // A new connection lists them again (the mock does not forget).
    assert_eq!(apns.feedback().items().unwrap().len(), 2);
}

#[test]
fn simple_mode_cannot_be_proved_and_presumes_only_when_asked() {
    let mock = LocalMock::start().unwrap();
    let apns = mock
        .builder()
        .enhanced(false)
        .resend(apns::binary::resend::Config::default().max_age(Duration::from_millis(100)))
        .build()
        .unwrap();
    let outcomes = apns.gateway().outcomes();
    apns.gateway().send_notification(token(1), &Payload::new().alert("simple")).unwrap();
    let report = outcomes.next_timeout(TIMEOUT).unwrap();
    assert_eq!(report.outcome, BinaryOutcome::Unconfirmed, "no probe in the simple format: never presumed");
    let presume = apns::binary::resend::Config::default()
        .settlement(apns::binary::resend::Settlement::Presume)
        .max_age(Duration::from_millis(100));
    let apns = mock.builder().enhanced(false).resend(presume).build().unwrap();
    let outcomes = apns.gateway().outcomes();
    apns.gateway().send_notification(token(1), &Payload::new().alert("simple")).unwrap();
    let report = outcomes.next_timeout(TIMEOUT).unwrap();
    assert_eq!(report.outcome, BinaryOutcome::PresumedAccepted);
    assert!(mock.server().wait_for_accepted(2, TIMEOUT));
    assert_eq!(mock.server().records().len(), 0, "records are off by default");
}

#[test]
fn force_close_is_immediate_and_later_sends_give_the_notification_back() {
    let mock = LocalMock::start_with(|config| config.stall_every(1, Duration::from_secs(30))).unwrap();
    let apns = mock.builder().build().unwrap();
    apns.gateway().send_all((0..100).map(|id| notification(1, id))).unwrap();
    let started = Instant::now();
    let summary = apns.gateway().force_close();
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(!summary.settled);
    assert_eq!(summary.counters.failed + summary.unsent.len() as u64 + summary.counters.accepted, 100);
    match apns.gateway().send(notification(1, 500)) {
        Err(Error::Closed { unsent }) => assert_eq!(unsent[0].id.get(), 500),
        other => panic!("expected Closed, got {other:?}"),
    }
    // Closing again is harmless.
    assert!(apns.gateway().close(TIMEOUT).settled);
}

#[test]
fn flush_settles_everything_and_the_gateway_stays_usable() {
    let mock = LocalMock::start().unwrap();
    let apns = mock.builder().build().unwrap();
    apns.gateway().send_all((0..10).map(|id| notification(1, id))).unwrap();
    let first = apns.gateway().flush(TIMEOUT).unwrap();
    assert!(first.settled);
    assert_eq!(first.counters.accepted, 10);
    apns.gateway().send_all((10..15).map(|id| notification(1, id))).unwrap();
    let last = apns.gateway().close(TIMEOUT);
    assert!(last.settled);
    assert_eq!(last.counters.accepted, 15);
    assert_eq!(apns.gateway().counters().accepted, 15);
}

#[test]
fn certificate_files_and_an_address_with_a_server_name() {
    let mock = LocalMock::start().unwrap();
    let dir = std::env::temp_dir().join(format!("apns-facade-files-{}", std::process::id()));
    mock.pki().write_to(&dir).unwrap();
    let apns = BinaryApns::builder()
        .gateway(&mock.server().gateway_addr().to_string())
        .feedback(&mock.server().feedback_addr().to_string())
        .server_name("localhost")
        .cert_file(dir.join("client.pem"))
        .key_file(dir.join("client.key"))
        .ca_file(dir.join("ca.pem"))
        .build()
        .unwrap();
    apns.gateway().send_notification(token(1), &Payload::new().badge(1)).unwrap();
    assert_eq!(apns.gateway().close(TIMEOUT).counters.accepted, 1);
    assert_eq!(apns.feedback().items().unwrap().len(), 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn errors_name_their_cause() {
    let missing = BinaryApns::builder().cert_file("/no/such/cert.pem").key_file("/no/such/key.pem").build();
    let message = missing.err().unwrap().to_string();
    assert!(message.contains("/no/such/cert.pem"), "{message}");
    let bad_token = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87".parse::<DeviceToken>();
    assert!(bad_token.unwrap_err().to_string().contains("32 bytes"));
    let mock = LocalMock::start().unwrap();
    let apns = mock.builder().build().unwrap();
    let huge = Payload::new().alert("x".repeat(3000));
    match apns.gateway().send_notification(token(1), &huge) {
        Err(Error::Payload(error)) => assert!(error.to_string().contains("2048"), "{error}"),
        other => panic!("expected a payload error, got {other:?}"),
    }
}

#[test]
fn an_unreachable_gateway_fails_the_notifications_and_says_why() {
    let mock = LocalMock::start().unwrap();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let apns = mock
        .builder()
        .gateway_endpoint(apns::Endpoint::at("localhost", closed_port))
        .max_connect_failures(1)
        .build()
        .unwrap();
    let outcomes = apns.gateway().outcomes();
    apns.gateway().send(notification(1, 1)).unwrap();
    let report = outcomes.next_timeout(TIMEOUT).unwrap();
    assert_eq!(report.outcome, BinaryOutcome::Failed(BinaryFailReason::Abandoned));
    assert_eq!(apns.gateway().last_connect_error(), Some(ConnectError::Refused));
}

/// Waits (yielding, bounded) until `condition` holds: for states the API cannot signal, such as
/// a sender blocked inside `send_all`.
fn wait_until(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !condition() {
        assert!(Instant::now() < deadline, "condition not reached");
        std::thread::yield_now();
    }
}

#[test]
fn force_close_is_immediate_even_with_a_sender_blocked_on_a_full_queue() {
    // The mock reads one notification, then stalls: nothing settles, the buffer (2) and the
    // queue (1) fill, and the sender waits for room for up to its 20 s send timeout.
    let mock = LocalMock::start_with(|config| config.stall_every(1, Duration::from_secs(60))).unwrap();
    let apns = std::sync::Arc::new(
        mock.builder()
            .queue_capacity(1)
            .send_timeout(Duration::from_secs(20))
            .resend(apns::binary::resend::Config::default().capacity(2).max_age(Duration::from_secs(60)))
            .build()
            .unwrap(),
    );
    let sender = {
        let apns = apns.clone();
        std::thread::spawn(move || apns.gateway().send_all((0..10).map(|id| notification(1, id))))
    };
    // Two in the buffer, one in the queue: the sender is now blocked on the rest.
    wait_until(|| apns.gateway().counters().submitted == 3);
    let started = Instant::now();
    let summary = apns.gateway().force_close();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1000), "force_close took {took:?}");
    assert!(!summary.settled);
    match sender.join().unwrap() {
        Err(Error::Closed { unsent }) => assert_eq!(unsent.len(), 7, "the blocked sender got its 7 back"),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert_eq!(summary.counters.failed + summary.unsent.len() as u64, 3);
}

#[test]
fn flush_keeps_the_same_event_loop_and_lets_senders_go_on() {
    let mock = LocalMock::start().unwrap();
    let apns = mock.builder().build().unwrap();
    let threads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = threads.clone();
    apns.gateway().on_outcome(move |_| seen.lock().unwrap().push(std::thread::current().id()));
    apns.gateway().send_all((0..5).map(|id| notification(1, id))).unwrap();
    assert!(apns.gateway().flush(TIMEOUT).unwrap().settled);
    apns.gateway().send_all((5..10).map(|id| notification(1, id))).unwrap();
    assert!(apns.gateway().flush(TIMEOUT).unwrap().settled);
    let threads = threads.lock().unwrap().clone();
    assert_eq!(threads.len(), 10);
    assert!(threads.iter().all(|&id| id == threads[0]), "one event loop, never restarted: {threads:?}");
    assert!(apns.gateway().close(TIMEOUT).settled);
    assert!(matches!(apns.gateway().flush(TIMEOUT), Err(Error::Closed { .. })));
}

#[test]
fn unread_outcomes_push_back_on_senders() {
    let mock = LocalMock::start().unwrap();
    let apns = mock
        .builder()
        .outcome_capacity(10)
        .queue_capacity(5)
        .send_timeout(Duration::from_millis(300))
        .resend(apns::binary::resend::Config::default().capacity(20).max_age(Duration::from_millis(50)))
        .build()
        .unwrap();
    let outcomes = apns.gateway().outcomes();
    // Unread, the iterator fills (10), then the buffer (20), then the queue (5): the send fails.
    let mut sent = 0u32;
    let refused = loop {
        match apns.gateway().send(notification(1, sent)) {
            Ok(()) => sent += 1,
            Err(Error::Full { unsent }) => break unsent,
            Err(other) => panic!("{other}"),
        }
        assert!(sent < 1000, "no backpressure: {sent} sent with nobody reading");
    };
    assert_eq!(refused.len(), 1);
    assert!(sent >= 10, "{sent}");
    // Reading makes room again, and nothing was lost.
    let mut read = 0;
    while read < sent {
        assert!(outcomes.next_timeout(TIMEOUT).is_some(), "read {read} of {sent}");
        read += 1;
    }
    apns.gateway().send(notification(1, sent)).unwrap();
    assert!(apns.gateway().close(TIMEOUT).settled);
    assert_eq!(outcomes.count(), 1);
}

#[test]
fn connect_failures_have_typed_causes() {
    let mock = LocalMock::start().unwrap();
    let failure = |builder: BinaryBuilder| {
        let apns =
            builder.max_connect_failures(1).connect_timeout(Duration::from_millis(300)).build().unwrap();
        let outcomes = apns.gateway().outcomes();
        apns.gateway().send(notification(1, 1)).unwrap();
        assert_eq!(
            outcomes.next_timeout(TIMEOUT).unwrap().outcome,
            BinaryOutcome::Failed(BinaryFailReason::Abandoned)
        );
        apns.gateway().last_connect_error()
    };
    // A refused connection: nothing listens.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let refused = failure(mock.builder().gateway_endpoint(apns::Endpoint::at("localhost", closed_port)));
    assert_eq!(refused, Some(ConnectError::Refused));
    // A timeout: the kernel accepts the connection, nobody answers the handshake.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let timeout = failure(
        mock.builder().gateway_endpoint(apns::Endpoint::at("localhost", silent.local_addr().unwrap())),
    );
    assert_eq!(timeout, Some(ConnectError::HandshakeTimeout));
    // An untrusted server: we trust another CA.
    let other = apns::mock::TestPki::generate().unwrap();
    let untrusted = failure(
        BinaryApns::builder()
            .gateway_endpoint(apns::Endpoint::at("localhost", mock.server().gateway_addr()))
            .identity(identity(mock.pki()))
            .ca_pem(other.ca_cert_pem.as_bytes()),
    );
    assert!(matches!(untrusted, Some(ConnectError::UntrustedServer(_))), "{untrusted:?}");
    // A refused certificate: ours comes from another CA.
    let refused_cert = failure(
        BinaryApns::builder()
            .gateway_endpoint(apns::Endpoint::at("localhost", mock.server().gateway_addr()))
            .identity(identity(&other))
            .ca_pem(mock.pki().ca_cert_pem.as_bytes()),
    );
    assert!(matches!(refused_cert, Some(ConnectError::CertificateRefused(_))), "{refused_cert:?}");
}

fn identity(pki: &apns::mock::TestPki) -> apns::Identity {
    apns::Identity::from_pem(pki.client_cert_pem.as_bytes(), pki.client_key_pem.as_bytes()).unwrap()
}

#[test]
fn each_public_type_has_one_path() {
    // The facade's types are the layers' own, by their own names, not look-alikes.
    let mock = LocalMock::start().unwrap();
    let apns = mock.builder().build().unwrap();
    apns.gateway().register_response_listener(|response: &apns_io::GatewayResponse| {
        let _ = response.status;
    });
    let outcomes: apns_io::Outcomes = apns.gateway().outcomes();
    let summary: apns_io::CloseSummary = apns.gateway().close(TIMEOUT);
    let counters: apns_io::Counters = summary.counters;
    assert_eq!(counters.submitted, 0);
    assert_eq!(outcomes.count(), 0);
}

#[test]
fn the_mock_is_opt_in() {
    // Users who do not ask for it build no TLS server and no certificate generator.
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let default = manifest.lines().find(|line| line.trim_start().starts_with("default =")).unwrap();
    assert_eq!(default.trim(), "default = []");
}
