//! One scripted scenario per rule of the issue, run through the simulation.

use std::time::Duration;

use apns_proto::{ErrorResponse, Format, NotificationId, Priority, Status};
use bytes::BytesMut;

use super::sim::{notification, token, IdMode, Sim, PROBE};
use crate::{
    Config, ConfigError, ConfirmError, Confirmation, ConnectionState, Event, FailReason, Outcome, SentBuffer,
    Settlement, Ticket, TransmitKind,
};

const INVALID_TOKEN: u8 = Status::INVALID_TOKEN.0;

/// The settlement these scripts were written for (before issue 11); `prove.rs` covers
/// [`Settlement::Prove`], the default.
fn presume() -> Config {
    Config::default().settlement(Settlement::Presume)
}

fn sim() -> Sim {
    Sim::new(presume())
}

#[test]
fn silence_means_presumed_accepted_after_max_age() {
    let mut sim = sim();
    let tickets = sim.send_many(5);
    sim.drive();
    for ticket in tickets {
        assert_eq!(sim.outcome(ticket), Outcome::PresumedAccepted);
        assert_eq!(sim.report(ticket).writes, 1);
    }
    assert_eq!(sim.elapsed(), Config::DEFAULT_MAX_AGE);
    assert_eq!(sim.gateway.connections.len(), 1);
    sim.assert_invariants();
}

#[test]
fn a_rejection_proves_the_earlier_ones_and_resends_the_later_ones_in_order() {
    let mut sim = sim();
    let before = sim.send_many(3);
    let bad = sim.send_with(INVALID_TOKEN, 0).unwrap();
    let after = sim.send_many(6);
    sim.drive();
    for &ticket in &before {
        assert_eq!(sim.outcome(ticket), Outcome::Accepted);
    }
    assert_eq!(sim.outcome(bad), Outcome::Rejected(Status::INVALID_TOKEN));
    assert_eq!(sim.report(bad).writes, 1, "a rejected notification is never resent");
    for &ticket in &after {
        assert_eq!(sim.outcome(ticket), Outcome::PresumedAccepted);
        assert_eq!(sim.report(ticket).writes, 2);
        assert!(!sim.report(ticket).possible_duplicate(), "the gateway provably discarded them");
    }
    // The second connection starts with the first notification after the rejected one.
    assert_eq!(sim.gateway.connections[1], (4..10).collect::<Vec<_>>());
    let stats = sim.client.stats();
    assert_eq!((stats.resends, stats.possible_duplicates, stats.rejected), (6, 0, 1));
    sim.assert_invariants();
}

#[test]
fn user_identifiers_may_all_be_zero() {
    // PyAPNs resent almost the whole buffer when users left the identifier at 0.
    let mut sim = sim();
    sim.send_many(500);
    let bad = sim.send_with(INVALID_TOKEN, 0).unwrap();
    sim.send_many(499);
    sim.drive();
    assert_eq!(sim.outcome(bad), Outcome::Rejected(Status::INVALID_TOKEN));
    let stats = sim.client.stats();
    assert_eq!((stats.accepted, stats.resends, stats.presumed_accepted), (500, 499, 499));
    sim.assert_invariants();
}

#[test]
fn every_rejection_in_a_batch_costs_only_what_follows_it() {
    let mut sim = sim();
    for index in 0..100 {
        let status = if index % 10 == 9 { INVALID_TOKEN } else { 0 };
        sim.send_with(status, 0).unwrap();
    }
    sim.drive();
    let stats = sim.client.stats();
    assert_eq!((stats.rejected, stats.failed, stats.possible_duplicates), (10, 0, 0));
    assert_eq!(stats.accepted + stats.presumed_accepted, 90);
    // Notifications after the k-th bad one are discarded k times and never charged a retry.
    let last_good = sim.reports.get(&98).unwrap();
    assert_eq!(last_good.writes, 10);
    assert!(last_good.outcome.is_accepted());
    sim.assert_invariants();
}

#[test]
fn shutdown_names_the_last_success_and_rejects_nothing() {
    let mut sim = sim();
    sim.gateway.shutdown_after(4);
    let tickets = sim.send_many(10);
    sim.drive();
    for (position, &ticket) in tickets.iter().enumerate() {
        let report = sim.report(ticket);
        let expected = if position < 4 { Outcome::Accepted } else { Outcome::PresumedAccepted };
        assert_eq!((report.outcome, report.writes), (expected, if position < 4 { 1 } else { 2 }));
    }
    let stats = sim.client.stats();
    assert_eq!((stats.rejected, stats.failed, stats.possible_duplicates), (0, 0, 0));
    // One event for the one shutdown, after the reports it settled.
    assert_eq!(sim.responses, [Event::Shutdown]);
    sim.assert_invariants();
}

#[test]
fn shutdown_with_identifier_zero_resends_as_possible_duplicates() {
    // Pushy 0.x trusted a status-10 response naming 0 and sent duplicates it did not count.
    let mut sim = sim();
    sim.gateway.id_mode = IdMode::Zero;
    sim.gateway.shutdown_after(3);
    let tickets = sim.send_many(5);
    sim.advance(Duration::from_millis(400));
    sim.gateway.id_mode = IdMode::Real;
    sim.drive();
    for &ticket in &tickets {
        let report = sim.report(ticket);
        assert_eq!(
            (report.outcome, report.writes, report.uncertain_writes),
            (Outcome::PresumedAccepted, 2, 1)
        );
    }
    // Three were really delivered twice; all five may have been, and all five are counted.
    let duplicated = sim.gateway.delivered.values().filter(|&&count| count > 1).count();
    assert_eq!(duplicated, 3);
    assert_eq!(sim.client.stats().possible_duplicates, 5);
    assert!(matches!(sim.events[..], [Event::UnmatchedError { late: false, .. }]));
    assert!(sim.responses.is_empty(), "a shutdown naming 0 is an unmatched error only");
    sim.assert_invariants();
}

#[test]
fn a_silent_close_resends_the_unconfirmed_and_counts_possible_duplicates() {
    let mut sim = sim();
    sim.gateway.silent_close_after(3);
    let tickets = sim.send_many(10);
    sim.drive();
    for &ticket in &tickets {
        let report = sim.report(ticket);
        assert_eq!(report.outcome, Outcome::PresumedAccepted);
        assert_eq!((report.writes, report.uncertain_writes), (2, 1));
        assert!(report.possible_duplicate());
    }
    let stats = sim.client.stats();
    assert_eq!((stats.silent_closes, stats.possible_duplicates, stats.uncertain_writes), (1, 10, 10));
    assert_eq!(sim.gateway.delivered.values().filter(|&&count| count == 2).count(), 3);
    sim.assert_invariants();
}

#[test]
fn a_gateway_dropping_every_connection_early_cannot_trap_the_window() {
    // The gateway closes silently after 40 notifications on every connection, while 64 may be in
    // flight. Before the window halved, each connection was spent on the same resends: none got
    // further, and they all failed once out of budget although the gateway had accepted them.
    let mut sim = Sim::new(presume().max_in_flight(64));
    sim.gateway.silent_close_every = Some(40);
    sim.gateway.silent_close_after(40);
    let tickets = sim.send_many(300);
    sim.drive();
    for &ticket in &tickets {
        let report = sim.report(ticket);
        assert!(matches!(report.outcome, Outcome::Accepted | Outcome::PresumedAccepted), "{report:?}");
    }
    assert!(sim.client.stats().silent_closes >= 7);
    assert!(sim.client.window() <= 64);
    sim.assert_invariants();
}

#[test]
fn a_close_after_max_age_keeps_the_presumption() {
    let mut sim = sim();
    let ticket = sim.send();
    sim.advance(Duration::from_secs(5));
    sim.gateway.close_now(sim.now);
    sim.drive();
    assert_eq!(sim.report(ticket).writes, 1);
    assert_eq!(sim.client.stats().silent_closes, 0);
    sim.assert_invariants();
}

#[test]
fn identifier_zero_resends_once_per_error_with_a_bounded_budget() {
    // node-apn resent its whole cache on every error naming 0: a quadratic storm.
    let mut sim = sim();
    sim.gateway.id_mode = IdMode::Zero;
    let before = sim.send_many(10);
    let poison = sim.send_with(INVALID_TOKEN, 0).unwrap();
    let after = sim.send_many(10);
    sim.drive();
    let retries = u32::from(Config::DEFAULT_MAX_UNCERTAIN_WRITES);
    // Every write of the poison notification is answered with 0: after the budget, it fails.
    let report = sim.report(poison);
    assert_eq!(report.outcome, Outcome::Failed(FailReason::RetriesExhausted { last_status: None }));
    assert_eq!(report.writes, retries + 1);
    // So does everything written with it: the storm is linear, (retries + 1) writes each.
    for &ticket in before.iter().chain(&after) {
        let report = sim.report(ticket);
        assert_eq!(report.writes, retries + 1);
        assert!(report.maybe_delivered());
    }
    assert_eq!(sim.client.stats().writes, 21 * u64::from(retries + 1));
    assert_eq!(sim.events.len(), retries as usize + 1);
    assert!(sim.events.iter().all(|event| matches!(event, Event::UnmatchedError { late: false, .. })));
    sim.assert_invariants();
}

#[test]
fn an_unknown_identifier_is_a_transient_fault() {
    let mut sim = sim();
    sim.gateway.id_mode = IdMode::Garbage;
    let tickets = sim.send_many(4);
    let bad = sim.send_with(INVALID_TOKEN, 0).unwrap();
    sim.advance(Duration::from_millis(300));
    assert_eq!(sim.client.stats().unmatched_errors, 1);
    // The gateway recovers: the next error names the right notification.
    sim.gateway.id_mode = IdMode::Real;
    sim.drive();
    assert_eq!(sim.outcome(bad), Outcome::Rejected(Status::INVALID_TOKEN));
    for ticket in tickets {
        let report = sim.report(ticket);
        assert_eq!((report.outcome, report.writes), (Outcome::Accepted, 2));
        assert!(report.possible_duplicate());
    }
    sim.assert_invariants();
}

#[test]
fn a_late_error_is_reported_and_the_window_resent() {
    // The gateway answers after max_age: the bad notification was already presumed accepted.
    let mut sim = Sim::new(presume().max_age(Duration::from_millis(200)));
    let bad = sim.send_with(INVALID_TOKEN, 0).unwrap();
    sim.advance(Duration::from_millis(250));
    let after = sim.send();
    sim.drive();
    assert_eq!(sim.outcome(bad), Outcome::PresumedAccepted);
    assert_eq!(sim.report(after).writes, 2);
    assert_eq!(sim.client.stats().late_errors, 1);
    assert!(matches!(
        sim.events[..],
        [Event::UnmatchedError { late: true, response: ErrorResponse { id: NotificationId(1), .. } }]
    ));
    // The one invariant a too-short max_age breaks, and the reason to keep it above the delay.
    assert_eq!(sim.check_invariants(), ["index 0 reported PresumedAccepted but never delivered"]);
}

#[test]
fn transient_statuses_are_retried_within_the_budget() {
    let mut sim = sim();
    let recovers = sim.send_with(Status::PROCESSING_ERROR.0, 2).unwrap();
    let hopeless = sim.send_with(Status::UNKNOWN.0, 200).unwrap();
    sim.drive();
    let report = sim.report(recovers);
    // Proved by the next rejection of the hopeless one, written after it.
    assert_eq!((report.outcome, report.writes, report.uncertain_writes), (Outcome::Accepted, 3, 0));
    let report = sim.report(hopeless);
    let exhausted = FailReason::RetriesExhausted { last_status: Some(Status::UNKNOWN) };
    // Two free resends (discarded after the first one's rejections), then 1 + 3 retries.
    assert_eq!((report.outcome, report.writes), (Outcome::Failed(exhausted), 6));
    assert!(!report.maybe_delivered());
    // One `Retrying` per transient status that was retried, with the user's identifier and
    // token; the status that exhausted the retries is in the report instead.
    let retried: Vec<(Ticket, Status)> = sim
        .responses
        .iter()
        .map(|event| match event {
            Event::Retrying { ticket, status, token, .. } => {
                assert_eq!(*token, sim.report(*ticket).token);
                (*ticket, *status)
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let expected_retries = [recovers, recovers].map(|t| (t, Status::PROCESSING_ERROR)).into_iter();
    let expected = expected_retries.chain([hopeless; 3].map(|t| (t, Status::UNKNOWN)));
    let mut sorted = retried.clone();
    sorted.sort_by_key(|(ticket, _)| *ticket);
    assert_eq!(sorted, expected.collect::<Vec<_>>());
    sim.assert_invariants();
}

#[test]
fn resends_keep_the_priority() {
    // PyAPNs resent with the default priority.
    let mut sim = sim();
    sim.send_with(INVALID_TOKEN, 0).unwrap();
    let build = |token| notification(token).with_priority(Priority::PowerConsiderate);
    let ticket = sim.send_notification(build, 0, 0).unwrap();
    sim.drive();
    assert_eq!(sim.report(ticket).writes, 2);
    assert_eq!(sim.gateway.priorities[&1], Priority::PowerConsiderate);
    sim.assert_invariants();
}

#[test]
fn a_full_buffer_refuses_and_gives_the_notification_back() {
    let mut sim = Sim::new(presume().capacity(3));
    sim.send_many(3);
    let refused = sim.client.send(notification(token(99, 0, 0))).unwrap_err();
    assert_eq!(refused.notification.token, token(99, 0, 0));
    let report = refused.into_report();
    assert_eq!(report.outcome, Outcome::Failed(FailReason::BufferFull));
    assert_eq!(sim.client.free_capacity(), 0);
    // Settled but unpolled reports still hold their place: nobody listening means no room.
    sim.advance(Duration::from_secs(3));
    assert!(sim.client.send(notification(token(99, 0, 0))).is_ok());
    assert_eq!(sim.client.stats().refused, 1);
}

#[test]
fn unpolled_reports_count_against_the_capacity() {
    let mut client = SentBuffer::new(presume().capacity(2)).unwrap();
    let now = sim().now;
    client.send(notification(token(0, 0, 0))).unwrap();
    client.send(notification(token(1, 0, 0))).unwrap();
    let mut out = BytesMut::new();
    while client.poll_transmit(now, &mut out).is_some() {}
    client.handle_timeout(now + Duration::from_secs(2));
    assert_eq!((client.unsettled(), client.len()), (0, 2));
    assert!(client.send(notification(token(2, 0, 0))).is_err());
    assert!(matches!(client.poll_event(), Some(Event::Finished(_))));
    assert!(client.send(notification(token(2, 0, 0))).is_ok());
}

#[test]
fn the_window_bounds_what_is_in_flight() {
    let mut sim = Sim::new(presume().max_in_flight(3));
    sim.send_many(10);
    sim.write();
    assert_eq!((sim.client.in_flight(), sim.client.queued()), (3, 7));
    assert!(!sim.client.wants_write());
    sim.drive();
    assert_eq!(sim.elapsed(), Config::DEFAULT_MAX_AGE * 4);
    assert_eq!(sim.client.stats().presumed_accepted, 10);
    sim.assert_invariants();
}

#[test]
fn confirmation_proves_everything_before_it() {
    let mut sim = sim();
    let tickets = sim.send_many(5);
    assert_eq!(sim.client.confirm(), Ok(Confirmation::Queued));
    assert_eq!(sim.client.confirm(), Err(ConfirmError::AlreadyPending));
    sim.write();
    assert_eq!(sim.client.connection_state(), ConnectionState::Confirming);
    sim.drive();
    for &ticket in &tickets {
        assert_eq!(sim.outcome(ticket), Outcome::Accepted);
    }
    assert_eq!(sim.events, [Event::Confirmed]);
    // Settled after one error delay, not after max_age; the gateway closed the connection.
    assert!(sim.elapsed() < Duration::from_secs(1));
    assert_eq!(sim.gateway.connections.len(), 2);
    assert_eq!(sim.gateway.connections[0].last(), Some(&PROBE));
    assert_eq!(sim.client.stats().confirmations, 1);
    assert_eq!(sim.client.confirm(), Ok(Confirmation::Settled));
    sim.assert_invariants();
}

#[test]
fn a_probe_lost_in_a_silent_close_is_written_again() {
    let mut sim = sim();
    sim.gateway.silent_close_after(2);
    let tickets = sim.send_many(3);
    assert_eq!(sim.client.confirm(), Ok(Confirmation::Queued));
    sim.drive();
    assert_eq!(sim.events, [Event::Confirmed]);
    assert_eq!(sim.gateway.connections[1], [0, 1, 2, PROBE]);
    for ticket in tickets {
        assert_eq!(sim.outcome(ticket), Outcome::Accepted);
    }
    sim.assert_invariants();
}

#[test]
fn an_error_before_the_probe_sends_it_again_after_the_rest() {
    let mut sim = sim();
    let bad = sim.send_with(INVALID_TOKEN, 0).unwrap();
    let good = sim.send();
    assert_eq!(sim.client.confirm(), Ok(Confirmation::Queued));
    sim.drive();
    assert_eq!(sim.outcome(bad), Outcome::Rejected(Status::INVALID_TOKEN));
    assert_eq!(sim.outcome(good), Outcome::Accepted);
    assert_eq!(sim.events, [Event::Confirmed]);
    sim.assert_invariants();
}

#[test]
fn simple_format_cannot_be_confirmed() {
    let mut client = SentBuffer::new(presume().format(Format::Simple)).unwrap();
    client.send(notification(token(0, 0, 0))).unwrap();
    assert_eq!(client.confirm(), Err(ConfirmError::Unsupported));
}

#[test]
fn simple_format_errors_are_all_of_unknown_fate() {
    let mut sim = Sim::new(presume().format(Format::Simple));
    sim.send_many(2);
    sim.send_with(INVALID_TOKEN, 0).unwrap();
    sim.drive();
    let stats = sim.client.stats();
    let rounds = u64::from(Config::DEFAULT_MAX_UNCERTAIN_WRITES) + 1;
    assert_eq!((stats.rejected, stats.failed, stats.unmatched_errors), (0, 3, rounds));
    sim.assert_invariants();
}

#[test]
fn a_spurious_timeout_is_a_no_op() {
    let mut sim = sim();
    sim.send_many(3);
    sim.write();
    let deadline = sim.client.poll_timeout().unwrap();
    sim.client.handle_timeout(sim.now);
    sim.client.handle_timeout(deadline - Duration::from_nanos(1));
    assert_eq!((sim.client.in_flight(), sim.client.poll_event()), (3, None));
    sim.client.handle_timeout(deadline);
    assert_eq!(sim.client.in_flight(), 0);
}

#[test]
fn abandon_fails_everything_once() {
    let mut sim = sim();
    let written = sim.send_many(2);
    sim.write();
    let queued = sim.send();
    assert_eq!(sim.client.confirm(), Ok(Confirmation::Queued));
    sim.client.abandon();
    sim.drain_events();
    for ticket in written.into_iter().chain([queued]) {
        assert_eq!(sim.outcome(ticket), Outcome::Failed(FailReason::Abandoned));
    }
    assert_eq!(sim.report(queued).writes, 0);
    assert_eq!(sim.events, [Event::ConfirmationFailed]);
    assert!(sim.client.is_idle());
}

#[test]
fn errors_out_of_place_do_not_panic() {
    let mut client = SentBuffer::new(presume()).unwrap();
    let now = sim().now;
    let shutdown = ErrorResponse { status: Status::SHUTDOWN, id: NotificationId(0) };
    client.handle_error_response(now, shutdown);
    client.handle_error_response(now, ErrorResponse { status: Status(42), id: NotificationId(u32::MAX) });
    client.handle_close(now);
    client.handle_close(now);
    assert_eq!(client.stats().unmatched_errors, 2);
    assert_eq!(client.connection_state(), ConnectionState::Open);
}

#[test]
fn wire_identifiers_wrap_around_without_zero() {
    let mut client = SentBuffer::new(presume()).unwrap().with_next_serial(u64::from(u32::MAX) - 2);
    let now = sim().now;
    let tickets: Vec<_> =
        (0..5).map(|index| client.send(notification(token(index, 0, 0))).unwrap()).collect();
    let mut out = BytesMut::new();
    let ids: Vec<u32> =
        std::iter::from_fn(|| client.poll_transmit(now, &mut out)).map(|t| t.wire_id.0).collect();
    assert_eq!(ids, [u32::MAX - 1, u32::MAX, 1, 2, 3]);
    client.handle_error_response(now, ErrorResponse { status: Status::INVALID_TOKEN, id: NotificationId(1) });
    let outcomes: Vec<_> = std::iter::from_fn(|| client.poll_event())
        .map(|event| match event {
            Event::Finished(report) => (report.ticket, report.outcome),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (tickets[0], Outcome::Accepted),
            (tickets[1], Outcome::Accepted),
            (tickets[2], Outcome::Rejected(Status::INVALID_TOKEN))
        ]
    );
    client.handle_close(now);
    let resent = client.poll_transmit(now, &mut out).unwrap();
    assert_eq!((resent.kind, resent.wire_id), (TransmitKind::Resend(tickets[3]), NotificationId(4)));
}

#[test]
fn nothing_is_written_between_an_error_and_the_close() {
    let mut client = SentBuffer::new(presume()).unwrap();
    let now = sim().now;
    client.send(notification(token(0, 0, 0))).unwrap();
    let mut out = BytesMut::new();
    let first = client.poll_transmit(now, &mut out).unwrap();
    client.send(notification(token(1, 0, 0))).unwrap();
    client.handle_error_response(now, ErrorResponse { status: Status::INVALID_TOKEN, id: first.wire_id });
    assert_eq!(client.connection_state(), ConnectionState::Failed);
    assert!(client.poll_transmit(now, &mut out).is_none());
    client.handle_close(now);
    assert!(
        matches!(client.poll_transmit(now, &mut out), Some(t) if t.kind == TransmitKind::First(crate::Ticket(1)))
    );
}

#[test]
fn configs_are_checked() {
    let zero_age = presume().max_age(Duration::ZERO);
    assert_eq!(SentBuffer::new(zero_age).unwrap_err(), ConfigError::ZeroMaxAge);
    let zero_window = presume().max_in_flight(0);
    assert_eq!(SentBuffer::new(zero_window).unwrap_err(), ConfigError::MaxInFlight { max_in_flight: 0 });
    assert_eq!(SentBuffer::new(presume().capacity(0)).unwrap_err(), ConfigError::ZeroCapacity);
}

#[test]
fn memory_per_entry_is_small_and_accounted() {
    // Documented in the crate docs and docs/benchmarks.md.
    assert!(SentBuffer::entry_size() <= 128, "entry is {} bytes", SentBuffer::entry_size());
    let mut sim = sim();
    sim.send_many(1000);
    let payload = notification(token(0, 0, 0)).payload.len();
    assert_eq!(sim.client.payload_bytes(), 1000 * payload);
    let usage = sim.client.memory_usage();
    assert!(usage >= 1000 * (SentBuffer::entry_size() + payload));
    assert!(usage <= 2 * 1000 * SentBuffer::entry_size() + 1000 * payload);
    sim.drive();
    assert_eq!(sim.client.payload_bytes(), 0);
}

#[test]
fn resends_go_first_then_new_notifications_in_order() {
    let mut client = SentBuffer::new(presume()).unwrap();
    let now = sim().now;
    let mut out = BytesMut::new();
    let old: Vec<_> = (0..3).map(|index| client.send(notification(token(index, 0, 0))).unwrap()).collect();
    let first = client.poll_transmit(now, &mut out).unwrap();
    while client.poll_transmit(now, &mut out).is_some() {}
    client.handle_error_response(now, ErrorResponse { status: Status::INVALID_TOKEN, id: first.wire_id });
    let new = client.send(notification(token(3, 0, 0))).unwrap();
    client.handle_close(now);
    let kinds: Vec<_> = std::iter::from_fn(|| client.poll_transmit(now, &mut out)).map(|t| t.kind).collect();
    assert_eq!(kinds, [TransmitKind::Resend(old[1]), TransmitKind::Resend(old[2]), TransmitKind::First(new)]);
}

#[test]
fn an_unanswered_probe_never_presumes_and_asks_for_a_close() {
    let mut client = SentBuffer::new(presume()).unwrap();
    let now = sim().now;
    let mut out = BytesMut::new();
    client.send(notification(token(0, 0, 0))).unwrap();
    assert_eq!(client.confirm(), Ok(Confirmation::Queued));
    assert!(client.poll_transmit(now, &mut out).is_some());
    assert_eq!(client.poll_transmit(now, &mut out).map(|t| t.kind), Some(TransmitKind::Probe));
    let late = client.send(notification(token(1, 0, 0))).unwrap();
    assert!(client.poll_transmit(now, &mut out).is_none(), "nothing is written behind a probe");
    // Under Presume the notification ages out by itself; the probe waits for proof_timeout.
    client.handle_timeout(now + Config::DEFAULT_MAX_AGE);
    assert!(
        matches!(client.poll_event(), Some(Event::Finished(report)) if report.outcome == Outcome::PresumedAccepted)
    );
    assert!(!client.wants_close());
    client.handle_timeout(now + Config::DEFAULT_PROOF_TIMEOUT);
    assert!(client.wants_close(), "the gateway is not answering: close the connection");
    assert_eq!(client.poll_event(), Some(Event::ConfirmationFailed));
    assert!(client.poll_transmit(now + Config::DEFAULT_PROOF_TIMEOUT, &mut out).is_none());
    client.handle_close(now + Config::DEFAULT_PROOF_TIMEOUT);
    let resumed = client.poll_transmit(now + Config::DEFAULT_PROOF_TIMEOUT, &mut out).map(|t| t.kind);
    assert_eq!(resumed, Some(TransmitKind::First(late)));
}

#[test]
fn settled_before_follows_the_oldest_unsettled_notification() {
    let mut sim = sim();
    let first = sim.send_many(3);
    let watermark = sim.client.next_ticket();
    assert!(sim.client.settled_before(first[0]), "nothing is before the first");
    assert!(!sim.client.settled_before(watermark));
    assert_eq!(sim.client.confirm(), Ok(Confirmation::Queued));
    let later = sim.send();
    assert!(later >= watermark);
    sim.write();
    sim.advance(Duration::from_millis(400));
    // The probe proved the first three; the one after it waits for the next connection.
    assert!(sim.client.settled_before(watermark));
    assert!(!sim.client.settled_before(sim.client.next_ticket()));
    sim.drive();
    assert!(sim.client.settled_before(sim.client.next_ticket()));
    sim.assert_invariants();
}
