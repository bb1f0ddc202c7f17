//! Scenarios from issue 15, each under simulated time.

use apns_h2::GoAway;
use apns_proto::http2::Reason;
use apns_proto::Expiry;

use super::*;

fn one_connection() -> DeliveryConfig {
    let mut config = config();
    config.connections = 1;
    config
}

fn all_accepted(sim: &Sim) -> bool {
    sim.reports.iter().all(|r| matches!(r.outcome, Outcome::Accepted { .. }))
}

#[test]
fn accepted_and_rejected() {
    let mut sim = Sim::new(config());
    sim.send(10);
    let mut n = 0;
    sim.run(10, |request| {
        n += 1;
        if n % 2 == 0 {
            ok(request)
        } else {
            reject(410, "Unregistered")
        }
    });
    sim.assert_one_report_each();
    assert_eq!(sim.outcomes().get("accepted"), Some(&5));
    assert_eq!(sim.outcomes().get("rejected 410"), Some(&5));
    let accepted = sim.reports.iter().find(|r| matches!(r.outcome, Outcome::Accepted { .. })).unwrap();
    assert_eq!(accepted.outcome, Outcome::Accepted { apns_id: Some(accepted.apns_id), unique_id: None });
    assert_eq!(accepted.attempts, 1);
    assert!(!accepted.possible_duplicate);
    let stats = sim.d.stats();
    assert_eq!((stats.accepted, stats.rejected, stats.in_flight, stats.queued), (5, 5, 0, 0));
    assert_eq!(stats.rejections.get(&Reason::UNREGISTERED), Some(&5));
    // Two connections, the streams spread over both.
    assert_eq!(stats.established, 2);
    assert!(sim.received.values().all(|&n| n == 1));
}

#[test]
fn streams_spread_over_the_pool() {
    let mut sim = Sim::new(config());
    sim.send(1000);
    sim.turn();
    let counts: Vec<usize> = sim.conns.values().map(|c| c.open.len()).collect();
    assert_eq!(counts, [500, 500]);
}

#[test]
fn settings_drop_to_one_and_back() {
    let mut sim = Sim::new(one_connection());
    sim.send(1300);
    sim.turn();
    let id = sim.first_conn();
    assert_eq!(sim.open_streams(id), 1000, "our cap");
    sim.d.handle_stream_limit(sim.now, id, 1);
    sim.answer_n(id, 10, ok);
    sim.turn();
    assert_eq!(sim.open_streams(id), 990, "nothing new above the lowered limit");
    sim.answer_all(ok);
    sim.turn();
    assert_eq!(sim.open_streams(id), 1);
    for _ in 0..5 {
        sim.answer_all(ok);
        sim.turn();
        assert_eq!(sim.open_streams(id), 1);
    }
    sim.d.handle_stream_limit(sim.now, id, 1000);
    sim.turn();
    assert_eq!(sim.open_streams(id), 1300 - 1006 + 1);
    sim.run(10, ok);
    sim.assert_one_report_each();
    assert!(all_accepted(&sim));
}

#[test]
fn goaway_mid_burst() {
    let mut sim = Sim::new(one_connection());
    sim.send(100);
    sim.turn();
    let id = sim.first_conn();
    // Streams 1, 3, ..., 99 (the first 50) were processed; the rest were not.
    let goaway = GoAway {
        last_stream_id: StreamId::new(99),
        code: ErrorCode::NO_ERROR,
        debug_data: Bytes::from_static(br#"{"reason":"Shutdown"}"#),
    };
    sim.d.handle_goaway(sim.now, id, &goaway);
    sim.answer_n(id, 50, ok);
    sim.answer_n(id, 50, |_| above_goaway(99));
    // A replacement opens at once; nothing goes to the draining connection.
    sim.turn();
    assert!(sim
        .events
        .iter()
        .any(|e| matches!(e, Event::GoAway { reason: Some(r), .. } if *r == Reason::SHUTDOWN)));
    assert!(sim.commands.contains(&TransportCommand::Close(id)));
    sim.run(10, ok);
    sim.assert_one_report_each();
    assert!(all_accepted(&sim));
    assert!(sim.reports.iter().all(|r| !r.possible_duplicate));
    let stats = sim.d.stats();
    assert_eq!((stats.goaways, stats.refused_streams, stats.retries), (1, 50, 0));
    assert_eq!(sim.received.values().filter(|&&n| n == 2).count(), 50);
}

#[test]
fn refused_streams_are_sent_again_free() {
    let mut sim = Sim::new(one_connection());
    sim.send(20);
    sim.turn();
    sim.answer_all(|_| refused());
    sim.run(10, ok);
    sim.assert_one_report_each();
    assert!(all_accepted(&sim));
    assert!(sim.reports.iter().all(|r| r.attempts == 2 && !r.possible_duplicate));
    assert_eq!((sim.d.stats().refused_streams, sim.d.stats().retries), (20, 0));
}

#[test]
fn connection_death_with_1000_streams_open() {
    let mut sim = Sim::new(one_connection());
    sim.send(1000);
    sim.turn();
    let id = sim.first_conn();
    assert_eq!(sim.open_streams(id), 1000);
    sim.kill(id);
    // The connection died before any answer: the reconnection backs off.
    sim.turn();
    assert!(sim.conns.is_empty());
    sim.advance_by(Duration::from_millis(200));
    assert_eq!(sim.conns.len(), 1);
    sim.run(10, ok);
    sim.assert_one_report_each();
    assert!(all_accepted(&sim));
    assert!(sim.reports.iter().all(|r| r.possible_duplicate && r.attempts == 2));
    let stats = sim.d.stats();
    assert_eq!((stats.retries, stats.possible_duplicates), (1000, 1000));
}

#[test]
fn too_many_requests_storm_honours_retry_after() {
    let mut sim = Sim::new(config());
    sim.send(200);
    sim.turn();
    sim.answer_all(|_| response(429, &[("retry-after", "5")], r#"{"reason":"TooManyRequests"}"#));
    sim.turn();
    assert!(sim.conns.values().all(|c| c.open.is_empty()), "nothing before retry-after");
    sim.advance_by(Duration::from_secs(4));
    assert!(sim.conns.values().all(|c| c.open.is_empty()));
    sim.advance_by(Duration::from_secs(1));
    assert_eq!(sim.conns.values().map(|c| c.open.len()).sum::<usize>(), 200);
    // A second storm, then the retry limit.
    for _ in 0..3 {
        sim.answer_all(|_| response(503, &[], r#"{"reason":"ServiceUnavailable"}"#));
        // Backoff without retry-after: 0.5-1 s, 1-2 s, 2-4 s.
        sim.advance_by(Duration::from_secs(5));
    }
    sim.assert_one_report_each();
    assert!(sim.reports.iter().all(|r| matches!(
        &r.outcome,
        Outcome::Failed(FailReason::RetriesExhausted { last: RetryCause::Status { status: 503, .. } })
    )));
    assert_eq!(sim.d.stats().retries, 800);
}

fn token_policy() -> apns_auth::TokenPolicy {
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &ring::rand::SystemRandom::new())
            .unwrap();
    let key = apns_auth::SigningKey::from_pkcs8_der(pkcs8.as_ref()).unwrap();
    let signer = apns_auth::TokenSigner::new(
        key,
        apns_auth::KeyId::new("ABC123DEFG").unwrap(),
        apns_auth::TeamId::new("DEF123GHIJ").unwrap(),
    );
    apns_auth::TokenPolicy::new(signer)
}

#[test]
fn token_auth_sends_one_stream_until_the_first_success() {
    let mut sim = Sim::with_auth(one_connection(), Auth::Token(token_policy()));
    sim.send(100);
    sim.turn();
    let id = sim.first_conn();
    assert_eq!(sim.open_streams(id), 1);
    assert!(sim.conns[&id].open[0].request.header_value("authorization").is_some());
    sim.answer_all(ok);
    sim.turn();
    assert_eq!(sim.open_streams(id), 99);
    sim.run(5, ok);
    sim.assert_one_report_each();
}

/// Ten accepted under a token, then 30 minutes on five more in flight with it: Apple may now
/// call it expired, and a new one is allowed (20-minute rule). Gives the connection and the
/// token's header value.
fn five_in_flight_with_an_old_token() -> (Sim, ConnId, Option<HeaderValue>) {
    let mut sim = Sim::with_auth(one_connection(), Auth::Token(token_policy()));
    sim.send(10);
    sim.run(20, ok);
    assert_eq!(sim.reports.len(), 10);
    sim.advance_by(Duration::from_secs(30 * 60));
    sim.send(5);
    sim.turn();
    let id = sim.first_conn();
    let before = sim.conns[&id].open[0].request.header_value("authorization").cloned();
    (sim, id, before)
}

#[test]
fn expired_token_then_refresh() {
    let (mut sim, id, before) = five_in_flight_with_an_old_token();
    sim.answer_all(|_| reject(403, "ExpiredProviderToken"));
    sim.turn();
    let after = sim.conns[&id].open.front().and_then(|s| s.request.header_value("authorization").cloned());
    assert!(after.is_some() && after != before, "sent again with a new token");
    sim.run(20, ok);
    sim.assert_one_report_each();
    assert!(all_accepted(&sim));
    assert_eq!(sim.d.stats().token_refreshes, 1);
    assert!(sim.events.iter().any(|e| matches!(e, Event::TokenRefreshed)));
}

#[test]
fn expired_token_too_soon_waits_for_the_twenty_minute_rule() {
    let mut sim = Sim::with_auth(one_connection(), Auth::Token(token_policy()));
    sim.send(3);
    sim.turn();
    sim.answer_all(|_| reject(403, "ExpiredProviderToken"));
    sim.advance_by(Duration::from_secs(60));
    assert!(sim.conns.values().all(|c| c.open.is_empty()), "no new token within 20 minutes");
    sim.advance_by(Duration::from_secs(20 * 60));
    sim.run(20, ok);
    sim.assert_one_report_each();
    assert!(all_accepted(&sim));
}

#[test]
fn credentials_refused_halts_and_fails_the_queue_fast() {
    let mut config = one_connection();
    config.max_streams_per_connection = 10;
    let mut sim = Sim::new(config);
    sim.send(100);
    sim.turn();
    sim.answer_all(|_| reject(403, "BadCertificate"));
    sim.turn();
    sim.assert_one_report_each();
    let halted = sim.events.iter().filter(|e| matches!(e, Event::Halted { .. })).count();
    assert_eq!(halted, 1);
    assert!(sim.reports.iter().all(|r| matches!(&r.outcome, Outcome::Failed(FailReason::Halted(HaltReason::Refused(rej))) if rej.reason == Some(Reason::BAD_CERTIFICATE))));
    assert_eq!(sim.received.len(), 10, "only what was in flight reached Apple");
    assert!(sim.conns.is_empty(), "connections closed");
    // While halted, new items fail at once; after resume they go out again.
    sim.send(1);
    sim.drain_events();
    assert_eq!(sim.reports.len(), 101);
    sim.d.resume(sim.now);
    sim.send(1);
    sim.run(5, ok);
    sim.assert_one_report_each();
    assert!(matches!(sim.reports.last().unwrap().outcome, Outcome::Accepted { .. }));
}

#[test]
fn expiry_passing_during_backoff() {
    let mut sim = Sim::new(one_connection());
    let mut soon = notification();
    soon = DeviceNotification::builder(soon.token().clone(), PushType::ALERT, soon.payload().clone())
        .expiration(Expiry::from_unix_seconds((EPOCH_SECS + 3) as u32))
        .build()
        .unwrap();
    sim.send_one(soon);
    sim.send(1);
    sim.turn();
    sim.answer_all(|_| response(429, &[("retry-after", "10")], r#"{"reason":"TooManyRequests"}"#));
    sim.advance_by(Duration::from_secs(11));
    sim.run(5, ok);
    sim.assert_one_report_each();
    assert_eq!(sim.reports[0].outcome, Outcome::Failed(FailReason::ExpiryPassed));
    assert_eq!(sim.reports[0].tag, 0);
    assert!(matches!(sim.reports[1].outcome, Outcome::Accepted { .. }));
    assert_eq!(sim.received.values().copied().collect::<Vec<_>>().iter().sum::<u32>(), 3);
}

#[test]
fn response_deadline_cancels_and_resends_marked() {
    let mut sim = Sim::new(one_connection());
    sim.send(3);
    sim.turn();
    sim.advance_by(Duration::from_secs(30));
    assert_eq!(sim.commands.iter().filter(|c| matches!(c, TransportCommand::Cancel(..))).count(), 3);
    sim.run(5, ok);
    sim.assert_one_report_each();
    assert!(all_accepted(&sim));
    assert!(sim.reports.iter().all(|r| r.possible_duplicate && r.attempts == 2));
    assert_eq!(sim.d.stats().response_timeouts, 3);
}

#[test]
fn ping_on_quiet_connections() {
    let mut sim = Sim::new(one_connection());
    sim.send(1);
    sim.run(3, ok);
    sim.advance_by(Duration::from_secs(61));
    assert_eq!(sim.commands.iter().filter(|c| matches!(c, TransportCommand::Ping(_))).count(), 1);
    sim.advance_by(Duration::from_secs(60));
    assert_eq!(sim.d.stats().pings, 2);
    assert_eq!(sim.conns.len(), 1, "long-lived connection kept");
}

#[test]
fn a_connection_refused_by_configuration_halts_at_once() {
    let mut sim = Sim::new(one_connection());
    sim.connect_ok = false;
    sim.connect_loss = ConnectionLoss::Refused;
    sim.send(20);
    sim.turn();
    sim.assert_one_report_each();
    assert!(
        sim.reports
            .iter()
            .all(|r| r.outcome == Outcome::Failed(FailReason::Halted(HaltReason::ConnectRefused))),
        "{:?}",
        sim.reports
    );
    assert!(sim.events.iter().any(|e| matches!(e, Event::Halted { reason: HaltReason::ConnectRefused })));
    assert_eq!(sim.d.stats().connects, 1, "no second attempt: it would be refused again");
}

#[test]
fn connect_timeout_backoff_and_reconnect_budget() {
    let mut sim = Sim::new(one_connection());
    sim.connect_answers = false;
    sim.send(5);
    sim.turn();
    sim.advance_by(Duration::from_secs(10));
    assert!(sim.commands.iter().any(|c| matches!(c, TransportCommand::Abort(_))));
    assert_eq!(sim.d.stats().connect_failures, 1);
    sim.advance_by(Duration::from_secs(300));
    sim.assert_one_report_each();
    assert!(sim.reports.iter().all(|r| r.outcome == Outcome::Failed(FailReason::Unreachable)));
    assert!(sim.events.iter().any(|e| matches!(e, Event::Unreachable)));
    // Backoff grows: far fewer attempts than one per connect timeout... and bounded.
    let connects = sim.d.stats().connects;
    assert!((5..=31).contains(&connects), "{connects}");
    // The network comes back: the next item goes out.
    sim.connect_answers = true;
    sim.send(1);
    sim.advance_by(Duration::from_secs(31));
    sim.run(5, ok);
    sim.assert_one_report_each();
    assert!(matches!(sim.reports.last().unwrap().outcome, Outcome::Accepted { .. }));
}

#[test]
fn close_finishes_then_closes() {
    let mut sim = Sim::new(config());
    sim.send(50);
    sim.turn();
    sim.d.close(sim.now);
    sim.send(1); // after close: abandoned at once
    sim.run(5, ok);
    sim.assert_one_report_each();
    assert_eq!(sim.outcomes().get("accepted"), Some(&50));
    let late = sim.reports.iter().find(|r| r.tag == 50).unwrap();
    assert_eq!(late.outcome, Outcome::Failed(FailReason::Abandoned));
    assert!(matches!(sim.events.last(), Some(Event::Closed)));
    assert!(sim.conns.is_empty());
}

#[test]
fn abandon_fails_everything() {
    let mut sim = Sim::new(one_connection());
    sim.send(20);
    sim.turn();
    sim.d.abandon(sim.now);
    sim.turn();
    sim.assert_one_report_each();
    assert!(sim.reports.iter().all(|r| r.outcome == Outcome::Failed(FailReason::Abandoned)));
    assert!(matches!(sim.events.last(), Some(Event::Closed)));
    assert!(sim.d.is_empty());
}

#[test]
fn full_gives_the_item_back() {
    let mut config = config();
    config.capacity = 2;
    let mut sim = Sim::new(config);
    sim.send(2);
    let refused = sim.d.send(sim.now, Item::device(notification(), 99)).unwrap_err();
    assert_eq!(refused.into_item().tag, 99);
}

fn goaway(last: u32, debug: &'static [u8]) -> GoAway {
    GoAway {
        last_stream_id: StreamId::new(last),
        code: ErrorCode::NO_ERROR,
        debug_data: Bytes::from_static(debug),
    }
}

#[test]
fn goaway_with_a_credentials_refusal_halts_like_the_response() {
    let mut config = one_connection();
    config.max_streams_per_connection = 10;
    let mut sim = Sim::with_auth(config, Auth::Token(token_policy()));
    sim.send(100);
    sim.turn();
    let id = sim.first_conn();
    assert_eq!(sim.open_streams(id), 1);
    sim.d.handle_goaway(sim.now, id, &goaway(0, br#"{"reason":"InvalidProviderToken"}"#));
    sim.drain_events();
    // Halted at once: the 99 queued fail fast, before the in-flight one's fate.
    let halted: Vec<_> = sim.events.iter().filter(|e| matches!(e, Event::Halted { .. })).cloned().collect();
    assert_eq!(halted.len(), 1);
    assert_eq!(sim.reports.len(), 99);
    sim.answer_all(|_| above_goaway(0));
    sim.turn();
    sim.assert_one_report_each();
    let expected = HaltReason::Refused(Rejection {
        status: 403,
        reason: Some(Reason::INVALID_PROVIDER_TOKEN),
        timestamp: None,
    });
    assert!(matches!(&halted[0], Event::Halted { reason } if *reason == expected));
    assert!(sim.reports.iter().all(|r| r.outcome == Outcome::Failed(FailReason::Halted(expected.clone()))));
    assert_eq!(sim.received.len(), 1, "only the one stream in flight reached Apple");
    assert!(sim.conns.is_empty(), "connections closed, none reopened");
    assert_eq!(sim.d.halted(), Some(&expected));
    // Resumed: new items go out again.
    sim.d.resume(sim.now);
    sim.send(1);
    sim.run(5, ok);
    sim.assert_one_report_each();
    assert!(matches!(sim.reports.last().unwrap().outcome, Outcome::Accepted { .. }));
}

#[test]
fn goaway_with_a_refusal_reason_halts_under_certificates_too() {
    let mut sim = Sim::new(one_connection());
    sim.send(10);
    sim.turn();
    let id = sim.first_conn();
    sim.d.handle_goaway(sim.now, id, &goaway(3, br#"{"reason":"BadCertificateEnvironment"}"#));
    // Streams 1 and 3 were answered; the rest came back not processed.
    sim.answer_n(id, 2, ok);
    sim.answer_all(|_| above_goaway(3));
    sim.turn();
    sim.assert_one_report_each();
    assert_eq!(sim.outcomes().get("accepted"), Some(&2));
    let halted = sim
        .reports
        .iter()
        .filter(|r| matches!(&r.outcome, Outcome::Failed(FailReason::Halted(HaltReason::Refused(rej))) if rej.reason == Some(Reason::BAD_CERTIFICATE_ENVIRONMENT) && rej.status == 403))
        .count();
    assert_eq!(halted, 8);
    assert!(sim.received.values().all(|&n| n == 1), "nothing sent again");
}

#[test]
fn goaway_with_a_shutdown_reason_does_not_halt() {
    let mut sim = Sim::new(one_connection());
    sim.send(4);
    sim.turn();
    let id = sim.first_conn();
    sim.d.handle_goaway(sim.now, id, &goaway(0, br#"{"reason":"Shutdown"}"#));
    sim.answer_all(|_| above_goaway(0));
    sim.run(5, ok);
    sim.assert_one_report_each();
    assert!(all_accepted(&sim));
    assert!(sim.d.halted().is_none());
}

#[test]
fn goaway_with_an_expired_token_refreshes_it() {
    let (mut sim, id, before) = five_in_flight_with_an_old_token();
    sim.d.handle_goaway(sim.now, id, &goaway(0, br#"{"reason":"ExpiredProviderToken"}"#));
    sim.answer_all(|_| above_goaway(0));
    sim.turn();
    let replacement = *sim.conns.keys().find(|&&c| c != id).unwrap();
    let after =
        sim.conns[&replacement].open.front().and_then(|s| s.request.header_value("authorization").cloned());
    assert!(after.is_some() && after != before, "the replacement carries a new token");
    sim.run(20, ok);
    sim.assert_one_report_each();
    assert!(all_accepted(&sim));
    assert_eq!(sim.d.stats().token_refreshes, 1);
    assert!(sim.d.halted().is_none());
}

fn expiring_at(unix: u64) -> DeviceNotification {
    let base = notification();
    DeviceNotification::builder(base.token().clone(), PushType::ALERT, base.payload().clone())
        .expiration(Expiry::from_unix_seconds(unix as u32))
        .build()
        .unwrap()
}

#[test]
fn connections_that_never_establish_fail_every_item_within_the_budget() {
    let mut sim = Sim::new(config());
    sim.connect_ok = false;
    sim.send(20);
    sim.turn();
    sim.advance_by(Duration::from_secs(299));
    assert!(sim.reports.is_empty(), "not before the budget");
    sim.advance_by(Duration::from_secs(1));
    sim.assert_one_report_each();
    assert!(sim
        .reports
        .iter()
        .all(|r| r.outcome == Outcome::Failed(FailReason::Unreachable) && r.attempts == 0));
    assert!(sim.received.is_empty());
}

#[test]
fn a_pool_that_takes_no_streams_fails_the_queue_within_the_budget() {
    // Established, but SETTINGS_MAX_CONCURRENT_STREAMS 0 for good: as good as no connection.
    let mut sim = Sim::new(config());
    sim.server_limit = 0;
    sim.send(20);
    sim.turn();
    assert_eq!(sim.d.stats().established, 2);
    sim.advance_by(Duration::from_secs(299));
    assert!(sim.reports.is_empty());
    sim.advance_by(Duration::from_secs(1));
    sim.assert_one_report_each();
    assert!(sim.reports.iter().all(|r| r.outcome == Outcome::Failed(FailReason::Unreachable)));
    assert!(sim.received.is_empty());
    // The server opens up again: the next item goes out.
    for id in sim.conns.keys().copied().collect::<Vec<_>>() {
        sim.d.handle_stream_limit(sim.now, id, 100);
        sim.conns.get_mut(&id).unwrap().limit = 100;
    }
    sim.send(1);
    sim.run(5, ok);
    sim.assert_one_report_each();
    assert!(matches!(sim.reports.last().unwrap().outcome, Outcome::Accepted { .. }));
}

#[test]
fn expiry_passing_while_queued_fails_it_unsent() {
    let mut sim = Sim::new(one_connection());
    sim.connect_answers = false;
    sim.send_one(expiring_at(EPOCH_SECS - 10)); // already past when queued
    sim.send_one(expiring_at(EPOCH_SECS + 5));
    sim.send(1);
    sim.turn();
    sim.advance(Duration::ZERO);
    assert_eq!(sim.reports.len(), 1);
    assert_eq!(
        (sim.reports[0].tag, &sim.reports[0].outcome),
        (0, &Outcome::Failed(FailReason::ExpiryPassed))
    );
    sim.advance_by(Duration::from_secs(4));
    assert_eq!(sim.reports.len(), 1, "not before it expires");
    sim.advance_by(Duration::from_secs(1));
    assert_eq!(sim.reports.len(), 2);
    assert_eq!(
        (sim.reports[1].tag, &sim.reports[1].outcome),
        (1, &Outcome::Failed(FailReason::ExpiryPassed))
    );
    assert!(sim.reports.iter().all(|r| r.attempts == 0));
    // The network comes back: the third is delivered, the expired ones never were.
    sim.connect_answers = true;
    sim.advance_by(Duration::from_secs(31));
    sim.run(5, ok);
    sim.assert_one_report_each();
    assert!(matches!(sim.reports[2].outcome, Outcome::Accepted { .. }));
    assert_eq!(sim.received.len(), 1);
}

#[test]
fn a_deadline_passing_while_queued_fails_it_unsent() {
    let mut sim = Sim::new(one_connection());
    sim.server_limit = 0;
    let mut item = Item::device(notification(), 0);
    item.deadline = Some(sim.now + Duration::from_secs(2));
    sim.next_tag = 1;
    sim.d.send(sim.now, item).unwrap();
    sim.turn();
    sim.advance_by(Duration::from_secs(2));
    sim.assert_one_report_each();
    assert_eq!(sim.reports[0].outcome, Outcome::Failed(FailReason::DeadlinePassed));
    assert!(sim.received.is_empty());
}

#[test]
fn expiry_timers_stay_bounded_under_resends() {
    let mut sim = Sim::new(one_connection());
    for _ in 0..50 {
        sim.send_one(expiring_at(EPOCH_SECS + 3600));
    }
    for _ in 0..40 {
        sim.turn();
        sim.answer_all(|_| refused());
    }
    assert!(sim.d.expiries.len() <= 2 * 50 + 64, "{}", sim.d.expiries.len());
    sim.run(5, ok);
    sim.assert_one_report_each();
    assert!(all_accepted(&sim));
}

fn broadcast(channel: &str) -> apns_proto::http2::BroadcastNotification {
    use apns_proto::http2::{BroadcastNotification, BundleId, ChannelId};
    let update = Payload::new().event(apns_proto::LiveActivityEvent::Update).timestamp(1);
    BroadcastNotification::new(
        BundleId::new("com.example.MyApp").unwrap(),
        ChannelId::new(channel).unwrap(),
        update.encode(PayloadLimit::HTTP2).unwrap(),
    )
    .unwrap()
}

fn request_id(request: &Request) -> Option<ApnsId> {
    request.header_value("apns-request-id").and_then(|v| ApnsId::parse(v.as_bytes()).ok())
}

#[test]
fn broadcasts_accepted_rejected_and_resent_with_their_request_id() {
    let mut sim = Sim::new(one_connection());
    for tag in 0..3 {
        sim.d.send(sim.now, Item::broadcast(broadcast("dHN0LXNyY2gtY2hubA=="), tag)).unwrap();
    }
    sim.next_tag = 3;
    sim.turn();
    let id = sim.first_conn();
    let sent: Vec<(ApnsId, Vec<u8>)> = sim.conns[&id]
        .open
        .iter()
        .map(|s| (request_id(&s.request).unwrap(), s.request.path().as_bytes().to_vec()))
        .collect();
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|(_, path)| path == b"/4/broadcasts/apps/com.example.MyApp"));
    // Accepted (Apple echoes apns-request-id), rejected, refused (then accepted).
    sim.answer_n(id, 1, |request| {
        let id = request.header_value("apns-request-id").unwrap().to_str().unwrap().to_string();
        response(200, &[("apns-request-id", &id)], "")
    });
    sim.answer_n(id, 1, |_| reject(400, "BadChannelId"));
    sim.answer_n(id, 1, |_| refused());
    sim.turn();
    let again = request_id(&sim.conns[&id].open[0].request);
    assert_eq!(again, Some(sent[2].0), "the same apns-request-id on the resend");
    sim.answer_all(ok);
    sim.turn();
    sim.assert_one_report_each();
    let by_tag = |tag: u64| sim.reports.iter().find(|r| r.tag == tag).unwrap();
    assert_eq!(by_tag(0).outcome, Outcome::Accepted { apns_id: Some(sent[0].0), unique_id: None });
    assert_eq!(by_tag(0).apns_id, sent[0].0);
    assert_eq!(
        by_tag(1).outcome,
        Outcome::Rejected(Rejection { status: 400, reason: Some(Reason::BAD_CHANNEL_ID), timestamp: None })
    );
    assert_eq!(by_tag(1).apns_id, sent[1].0);
    // Accepted without an echo: the id it was sent with.
    assert_eq!(by_tag(2).outcome, Outcome::Accepted { apns_id: Some(sent[2].0), unique_id: None });
    assert_eq!((by_tag(2).attempts, by_tag(2).possible_duplicate), (2, false));
    assert!(
        matches!(&by_tag(2).notification, Notification::Broadcast(b) if b.request_id() == Some(sent[2].0))
    );
}

#[test]
fn unpolled_reports_hold_their_room_and_keep_their_order() {
    let mut config = one_connection();
    config.capacity = 2;
    let (now, wall) = (Instant::now(), UNIX_EPOCH + Duration::from_secs(EPOCH_SECS));
    let mut d: Delivery<u64> = Delivery::new(config, Auth::Certificate, now, wall).unwrap();
    d.send(now, Item::device(notification(), 0)).unwrap();
    d.send(now, Item::device(notification(), 1)).unwrap();
    d.abandon(now);
    // Settled, not polled: the reports still count against the capacity.
    assert_eq!((d.len(), d.room()), (2, 0));
    assert!(d.send(now, Item::device(notification(), 2)).is_err());
    let tag = |event: Option<Event<u64>>| match event {
        Some(Event::Finished(report)) => {
            assert_eq!(report.outcome, Outcome::Failed(FailReason::Abandoned));
            Some(report.tag)
        }
        _ => None,
    };
    assert_eq!(tag(d.poll_event()), Some(0));
    assert_eq!(d.room(), 1);
    // After the close, a new item fails at once; its report follows `Closed`, in order.
    d.send(now, Item::device(notification(), 3)).unwrap();
    assert_eq!(tag(d.poll_event()), Some(1));
    assert!(matches!(d.poll_event(), Some(Event::Closed)));
    assert_eq!(tag(d.poll_event()), Some(3));
    assert!(d.poll_event().is_none());
    assert!(d.is_empty());
}

#[test]
fn the_in_flight_index_holds_what_is_in_flight_not_what_was_answered() {
    // The clock stands still, far from any response deadline, so the timer pass never prunes
    // the index: answered requests leave it as they are answered.
    let mut sim = Sim::new(one_connection());
    for _ in 0..20 {
        sim.send(500);
        sim.turn();
        let conn = sim.first_conn();
        assert!(sim.d.in_flight(conn) > 0);
        assert_eq!(sim.d.sent_index_len(conn), sim.d.in_flight(conn));
        sim.run(10, ok);
        assert_eq!((sim.d.in_flight(conn), sim.d.sent_index_len(conn)), (0, 0));
    }
    sim.assert_one_report_each();
    assert_eq!(sim.outcomes().get("accepted"), Some(&10_000));
}

#[test]
fn a_stream_never_answered_keeps_the_in_flight_index_bounded() {
    // The first request is held by the server; everything after it is answered. The index
    // must not keep the answered ones behind the held one until its response deadline.
    let mut sim = Sim::new(one_connection());
    sim.send(1);
    sim.turn();
    let conn = sim.first_conn();
    let held = sim.conns.get_mut(&conn).unwrap().open.pop_front().unwrap();
    for _ in 0..40 {
        sim.send(500);
        sim.turn();
        sim.answer_all(ok);
        let in_flight = sim.d.in_flight(conn);
        assert_eq!(in_flight, 1);
        assert!(sim.d.sent_index_len(conn) <= 2 * in_flight + 64 + 1, "{}", sim.d.sent_index_len(conn));
    }
    sim.run(100, ok);
    let fate = ok(&held.request);
    sim.settle(conn, held, &fate);
    sim.drain_events();
    sim.assert_one_report_each();
    assert_eq!(sim.outcomes().get("accepted"), Some(&20_001));
}
