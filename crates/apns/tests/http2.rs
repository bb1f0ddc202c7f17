//! The HTTP/2 facade end to end against the in-process HTTP/2 mock: token and certificate
//! auth, the notification's headers, rejections, 410s collected as unregistered tokens,
//! GOAWAYs ridden through, the async API under two executors, typed errors.

use std::sync::mpsc::channel;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apns::mock::{LocalHttp2Mock, MockReason, TEST_BUNDLE_ID};
use apns::{
    Apns, ApnsId, CollapseId, DeviceToken, Error, Expiry, FailReason, HexDeviceToken, KeyError,
    LiveActivityEvent, Outcome, Payload, Priority, PushType, Reason, Report, Tag, Unregistered,
};

const WAIT: Duration = Duration::from_secs(20);
const GOOD: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";

fn token(byte: u8) -> HexDeviceToken {
    DeviceToken::new([byte; 32]).into()
}

fn hex(byte: u8) -> String {
    format!("{byte:02x}").repeat(32)
}

fn alert(apns: &Apns, byte: u8, text: &str) -> apns::DeviceNotification {
    apns.notification(token(byte), PushType::ALERT, &Payload::new().alert(text)).unwrap().build().unwrap()
}

fn accepted(report: &Report<Tag>) -> bool {
    matches!(report.outcome, Outcome::Accepted { .. })
}

#[test]
fn token_auth_sends_to_the_default_topic_and_reports_the_apns_id() {
    let mock = LocalHttp2Mock::start_with(|config| config.record_in_memory(10).sandbox(true)).unwrap();
    let apns = mock.builder().build().unwrap();
    let outcomes = apns.outcomes();
    let payload = Payload::new().alert("Hello World!").sound("default").badge(1);
    apns.send_notification(GOOD.parse().unwrap(), &payload).unwrap();
    let report = outcomes.next_timeout(WAIT).expect("a report");
    match report.outcome {
        Outcome::Accepted { apns_id, unique_id } => {
            assert_eq!(apns_id, Some(report.apns_id));
            assert!(unique_id.is_some(), "the sandbox mock sends apns-unique-id");
        }
        other => panic!("expected accepted, got {other:?}"),
    }
    assert!(apns.close(WAIT).settled);
    let records = mock.server().records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].topic.as_deref(), Some(TEST_BUNDLE_ID));
    assert_eq!(records[0].key_id.as_deref(), Some(mock.provider_key().key_id.as_str()));
    assert_eq!(records[0].payload, br#"{"aps":{"alert":"Hello World!","sound":"default","badge":1}}"#);
    assert_eq!(records[0].apns_id.as_deref(), Some(report.apns_id.to_string().as_str()));
}

#[test]
fn certificate_auth_from_files_with_an_address_and_server_name() {
    let mock = LocalHttp2Mock::start_with(|config| config.record_in_memory(10)).unwrap();
    let dir = std::env::temp_dir().join(format!("apns-http2-files-{}", std::process::id()));
    mock.pki().write_to(&dir).unwrap();
    let apns = Apns::builder()
        .gateway(&mock.server().addr().to_string())
        .server_name("localhost")
        .cert_file(dir.join("client.pem"))
        .key_file(dir.join("client.key"))
        .ca_file(dir.join("ca.pem"))
        .build()
        .unwrap();
    let outcomes = apns.outcomes();
    // No default topic: with a certificate Apple (and the mock) use the certificate's.
    apns.send_notification(token(1), &Payload::new().badge(1)).unwrap();
    assert!(accepted(&outcomes.next_timeout(WAIT).unwrap()));
    assert_eq!(apns.close(WAIT).counters.delivery.accepted, 1);
    let records = mock.server().records();
    assert_eq!(records[0].key_id, None, "no provider token under certificate auth");
    assert_eq!(records[0].topic.as_deref(), Some(TEST_BUNDLE_ID));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_notification_carries_every_header_set_by_hand() {
    let mock = LocalHttp2Mock::start_with(|config| config.record_in_memory(10)).unwrap();
    let apns = mock.certificate_builder().build().unwrap();
    let id: ApnsId = "eabeae54-14a8-11e5-b60b-1697f925ec7b".parse().unwrap();
    let expiry = Expiry::after(SystemTime::now(), Duration::from_secs(3600)).unwrap();
    let payload = Payload::new()
        .event(LiveActivityEvent::Update)
        .content_state(serde_json::json!({"score": "2-1"}))
        .unwrap()
        .timestamp(1_700_000_000);
    let notification = apns
        .notification(token(2), PushType::LIVE_ACTIVITY, &payload)
        .unwrap()
        .priority(Priority::Low)
        .expiration(expiry)
        .collapse_id(CollapseId::new("score").unwrap())
        .id(id)
        .build()
        .unwrap();
    let outcomes = apns.outcomes();
    apns.send(notification).unwrap();
    let report = outcomes.next_timeout(WAIT).unwrap();
    assert!(accepted(&report), "{:?}", report.outcome);
    assert_eq!(report.apns_id, id);
    let record = &mock.server().records()[0];
    let header = |name: &str| record.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert_eq!(header("apns-topic"), Some("com.example.mock.push-type.liveactivity"));
    assert_eq!(header("apns-push-type"), Some("liveactivity"));
    assert_eq!(header("apns-priority"), Some("1"));
    assert_eq!(header("apns-collapse-id"), Some("score"));
    assert_eq!(header("apns-id"), Some("eabeae54-14a8-11e5-b60b-1697f925ec7b"));
    assert_eq!(header("apns-expiration").map(|v| v.parse::<u32>().is_ok()), Some(true));
    let body: serde_json::Value = serde_json::from_slice(&record.payload).unwrap();
    assert_eq!(body["aps"]["event"], "update");
    assert_eq!(body["aps"]["content-state"]["score"], "2-1");
    assert!(apns.close(WAIT).settled);
}

#[test]
fn rejections_reach_the_response_listener_with_apples_reason() {
    let mock =
        LocalHttp2Mock::start_with(|config| config.reject(hex(0xba), MockReason::BAD_DEVICE_TOKEN)).unwrap();
    let apns = mock.builder().build().unwrap();
    let (tx, rejections) = channel();
    apns.register_response_listener(move |report, rejection| {
        let _ = tx.send((report.apns_id, rejection.clone()));
    });
    let (tx, reports) = channel();
    apns.on_outcome(move |report| {
        let _ = tx.send(report.clone());
    });
    apns.send_all([alert(&apns, 1, "a"), alert(&apns, 0xba, "b"), alert(&apns, 3, "c")]).unwrap();
    let summary = apns.close(WAIT);
    assert!(summary.settled);
    let rejections: Vec<_> = rejections.try_iter().collect();
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].1.status, 400);
    assert_eq!(rejections[0].1.reason, Some(Reason::BAD_DEVICE_TOKEN));
    let reports: Vec<Report<Tag>> = reports.try_iter().collect();
    assert_eq!(reports.len(), 3);
    assert_eq!(reports.iter().filter(|r| accepted(r)).count(), 2);
    assert_eq!(summary.counters.delivery.rejected, 1);
    assert_eq!(summary.counters.delivery.rejections.get(&Reason::BAD_DEVICE_TOKEN), Some(&1));
}

#[test]
fn a_410_is_collected_as_an_unregistered_token_with_its_time() {
    let gone_ms = 1_700_000_000_123;
    let mock = LocalHttp2Mock::start_with(|config| config.unregistered(hex(0x99), gone_ms)).unwrap();
    let apns = mock.builder().build().unwrap();
    let (tx, unregistered) = channel();
    apns.on_unregistered(move |token: &Unregistered| {
        let _ = tx.send(token.clone());
    });
    let outcomes = apns.outcomes();
    apns.send_all([alert(&apns, 1, "ok"), alert(&apns, 0x99, "gone")]).unwrap();
    assert!(apns.close(WAIT).settled);
    let unregistered: Vec<Unregistered> = unregistered.try_iter().collect();
    assert_eq!(unregistered.len(), 1);
    assert_eq!(unregistered[0].token, token(0x99));
    assert_eq!(unregistered[0].since, Some(UNIX_EPOCH + Duration::from_millis(gone_ms)));
    assert_eq!(unregistered[0].reason, Some(Reason::UNREGISTERED));
    assert_eq!(unregistered[0].topic.as_ref().map(|t| t.as_str()), Some(TEST_BUNDLE_ID));
    // The same from the reports themselves.
    let from_reports: Vec<Unregistered> = outcomes.filter_map(|r| Unregistered::from_report(&r)).collect();
    assert_eq!(from_reports, unregistered);
}

#[test]
fn goaways_are_ridden_through_without_losing_a_notification() {
    let mock = LocalHttp2Mock::start_with(|config| config.goaway_every(40)).unwrap();
    let apns = mock.builder().connections(1).build().unwrap();
    let outcomes = apns.outcomes();
    let n = 250u8;
    apns.send_all((0..n).map(|i| alert(&apns, i, "n"))).unwrap();
    let summary = apns.close(WAIT);
    assert!(summary.settled, "{summary:?}");
    let reports: Vec<_> = outcomes.collect();
    assert_eq!(reports.len(), usize::from(n));
    assert!(reports.iter().all(accepted), "{:?}", reports.iter().find(|r| !accepted(r)));
    assert!(mock.server().stats().goaways > 0, "{:?}", mock.server().stats());
    assert!(summary.counters.delivery.goaways > 0);
    assert_eq!(mock.server().stats().accepted, u64::from(n));
}

#[test]
fn send_async_under_a_tokio_current_thread_runtime() {
    let mock =
        LocalHttp2Mock::start_with(|config| config.reject(hex(0xba), MockReason::BAD_DEVICE_TOKEN)).unwrap();
    let apns = mock.builder().build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let (first, second, bad) = runtime.block_on(async {
        let first = apns.send_async(alert(&apns, 1, "one"));
        let second = apns.send_async(alert(&apns, 2, "two"));
        let bad = apns.send_async(alert(&apns, 0xba, "bad"));
        tokio::join!(first, second, bad)
    });
    assert!(accepted(&first.unwrap()));
    assert!(accepted(&second.unwrap()));
    match bad.unwrap().outcome {
        Outcome::Rejected(rejection) => assert_eq!(rejection.reason, Some(Reason::BAD_DEVICE_TOKEN)),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(apns.close(WAIT).counters.delivery.accepted, 2);
}

#[test]
fn send_async_under_pollster_and_after_close() {
    let mock = LocalHttp2Mock::start().unwrap();
    let apns = mock.builder().build().unwrap();
    let outcomes = apns.outcomes();
    let report = pollster::block_on(apns.send_async(alert(&apns, 1, "one"))).unwrap();
    assert!(accepted(&report));
    assert!(!report.tag.is_awaited(), "the future's copy holds no reference to its own slot");
    // The report reached the iterator too; non-async sends carry no waiter.
    assert!(outcomes.next_timeout(WAIT).unwrap().tag.is_awaited());
    apns.send(alert(&apns, 2, "two")).unwrap();
    assert!(!outcomes.next_timeout(WAIT).unwrap().tag.is_awaited());
    assert!(apns.close(WAIT).settled);
    match pollster::block_on(apns.send_async(alert(&apns, 3, "late"))) {
        Err(Error::Http2Closed { unsent }) => {
            assert_eq!(unsent.len(), 1);
            assert!(!unsent[0].tag.is_awaited());
        }
        other => panic!("expected Http2Closed, got {other:?}"),
    }
}

#[test]
fn a_broadcast_settles_with_a_report() {
    let mock = LocalHttp2Mock::start().unwrap();
    let apns = mock.builder().build().unwrap();
    let payload = Payload::new().event(LiveActivityEvent::Update).timestamp(1_700_000_000);
    let broadcast = apns.broadcast("dHN0LXUtY2hhbm5lbA==".parse().unwrap(), &payload).unwrap();
    let report = pollster::block_on(apns.send_broadcast_async(broadcast)).unwrap();
    // Whatever the mock answers (its broadcast endpoint may not exist yet), the report names
    // the broadcast and never hangs.
    assert!(matches!(report.notification, apns::Notification::Broadcast(_)));
    assert!(apns.close(WAIT).settled);
}

#[test]
fn a_bad_key_file_is_a_typed_error() {
    let dir = std::env::temp_dir().join(format!("apns-http2-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("AuthKey_ABC123DEFG.p8");
    std::fs::write(&path, "this is not a key").unwrap();
    let built = Apns::builder().token_key(path.as_path(), "ABC123DEFG", "DEF123GHIJ").build();
    assert!(matches!(built, Err(Error::ProviderKey(KeyError::NotPem))), "{built:?}");
    let missing = Apns::builder().token_key(dir.join("none.p8"), "ABC123DEFG", "DEF123GHIJ").build();
    assert!(matches!(missing, Err(Error::ProviderKey(KeyError::Read { .. }))), "{missing:?}");
    let bad_team = Apns::builder().token_key(path.as_path(), "ABC123DEFG", "team").build();
    assert!(matches!(bad_team, Err(Error::Id(_))), "{bad_team:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_input_gives_errors_not_panics() {
    let mock = LocalHttp2Mock::start().unwrap();
    assert!(matches!(mock.builder().topic("").build(), Err(Error::Value(_))));
    let no_port = mock.builder().gateway("nohost").build();
    assert!(matches!(no_port, Err(Error::Address { .. })), "{no_port:?}");
    assert!(matches!(mock.builder().outcome_capacity(0).build(), Err(Error::Start(_))));
    assert!(matches!(mock.builder().connections(0).build(), Err(Error::Start(_))));
    assert!("zz".parse::<HexDeviceToken>().is_err());
    assert!("".parse::<HexDeviceToken>().is_err());
    let apns = mock.builder().build().unwrap();
    let huge = Payload::new().alert("x".repeat(5000));
    assert!(matches!(apns.send_notification(token(1), &huge), Err(Error::Payload(_))));
    // Token auth without any topic: refused before sending.
    let key = mock.provider_key();
    let no_topic = Apns::builder()
        .endpoint(apns::Endpoint::at("localhost", mock.server().addr()))
        .ca_pem(mock.pki().ca_cert_pem.as_bytes())
        .token_key(key.private_key_pem.as_bytes(), key.key_id.as_str(), key.team_id.as_str())
        .build()
        .unwrap();
    let bare = apns::DeviceNotification::builder(
        token(1),
        PushType::ALERT,
        Payload::new().alert("x").encode(apns::PayloadLimit::HTTP2).unwrap(),
    )
    .build()
    .unwrap();
    assert!(matches!(no_topic.send(bare.clone()), Err(Error::NoTopic)));
    assert!(matches!(pollster::block_on(no_topic.send_async(bare)), Err(Error::NoTopic)));
    assert!(matches!(no_topic.send_broadcast("dHN0".parse().unwrap(), &Payload::new()), Err(Error::NoTopic)));
    // A background notification with priority 10 is refused by the builder.
    let background = apns
        .notification(token(1), PushType::BACKGROUND, &Payload::new().content_available(true))
        .unwrap()
        .priority(Priority::Immediate)
        .build();
    assert!(background.is_err());
    assert!(apns.close(WAIT).settled);
}

#[test]
fn awaited_sends_resolve_after_a_force_close_whatever_became_of_them() {
    let mock = LocalHttp2Mock::start_with(|config| config.latency(Duration::from_secs(30))).unwrap();
    let apns = mock.builder().build().unwrap();
    let futures: Vec<_> = (0..50).map(|i| apns.send_async(alert(&apns, i, "slow"))).collect();
    let summary = apns.force_close();
    assert!(!summary.settled);
    // Items that never reached the loop come back here; dropping them fails their futures.
    drop(summary);
    for future in futures {
        match pollster::block_on(future) {
            Ok(report) => assert!(
                matches!(report.outcome, Outcome::Failed(FailReason::Abandoned)),
                "{:?}",
                report.outcome
            ),
            Err(Error::Http2Closed { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn a_full_queue_gives_the_notifications_back() {
    let mock = LocalHttp2Mock::start_with(|config| config.latency(Duration::from_secs(30))).unwrap();
    let apns = mock.builder().capacity(1).queue_capacity(1).build().unwrap();
    // One in the client, at most one in the queue: the rest come back at once, in order.
    match apns.send_all_within((0..10).map(|i| alert(&apns, i, "n")), Duration::ZERO) {
        Err(Error::Http2Full { unsent }) => {
            assert!(unsent.len() >= 8, "{}", unsent.len());
            let last = match &unsent[unsent.len() - 1].notification {
                apns::Notification::Device(notification) => notification.token().clone(),
                other => panic!("{other:?}"),
            };
            assert_eq!(last, token(9));
        }
        other => panic!("expected Http2Full, got {other:?}"),
    }
    assert!(apns.queued() <= 1);
    assert!(!apns.force_close().settled);
}

#[test]
fn the_client_is_shared_between_threads_and_its_futures_move_between_them() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Apns>();
    send_sync::<Report<Tag>>();
    send::<apns::OutcomeFuture>();
    send_sync::<Error>();
    let mock = LocalHttp2Mock::start().unwrap();
    let apns = std::sync::Arc::new(mock.builder().build().unwrap());
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let apns = apns.clone();
            std::thread::spawn(move || pollster::block_on(apns.send_async(alert(&apns, t, "threads"))))
        })
        .collect();
    for thread in threads {
        assert!(accepted(&thread.join().unwrap().unwrap()));
    }
    assert!(apns.close(WAIT).settled);
}
