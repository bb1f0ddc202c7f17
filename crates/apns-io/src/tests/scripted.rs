//! One scripted scenario per rule of the connection machine, run through the simulation.

use std::time::Duration;

use apns_proto::{Format, Status};
use apns_resend::{FailReason, Outcome};

use super::sim::{lifecycle, presume, resend_in, Attempt, Sim, FAST};
use crate::event::{ConnectError, Event};
use crate::machine::{Machine, Transport};

const INVALID_TOKEN: u8 = Status::INVALID_TOKEN.0;

#[test]
fn connects_on_the_first_send_and_presumes_acceptance_after_max_age() {
    let mut sim = Sim::default();
    assert_eq!(sim.conn.poll_transport(sim.now), None, "nothing to send, no connection");
    let sent = sim.send_many(5);
    sim.drive();
    for index in sent {
        assert_eq!(sim.report(index).outcome, Outcome::PresumedAccepted);
    }
    assert_eq!(sim.opened, 1);
    assert_eq!(sim.count(|e| matches!(e, Event::Connected { .. })), 1);
    let counters = sim.conn.stats().counters();
    assert_eq!((counters.sent, counters.connections, counters.reconnects), (5, 1, 0));
    // Then the idle timeout closes the connection: nothing is left to settle.
    assert_eq!(sim.commands.last(), Some(&Transport::Close));
    assert_eq!(sim.count(|e| matches!(e, Event::IdleClosed { .. })), 1);
    sim.assert_invariants();
}

#[test]
fn refused_connects_back_off_then_deliver() {
    let mut sim = Sim::default();
    let refused = Attempt::Refused { after: Duration::from_millis(1) };
    sim.attempts.extend([refused, refused, refused]);
    sim.send_many(3);
    sim.drive();
    let failures: Vec<(u32, Duration)> = sim
        .events
        .iter()
        .filter_map(|event| match event {
            Event::ConnectFailed {
                attempt, error: ConnectError::Refused, retry_in, gave_up: false, ..
            } => Some((*attempt, *retry_in)),
            _ => None,
        })
        .collect();
    assert_eq!(failures.iter().map(|(attempt, _)| *attempt).collect::<Vec<_>>(), [1, 2, 3]);
    // Exponential with equal jitter: each delay in the upper half of 100 ms, 200 ms, 400 ms.
    for (attempt, delay) in &failures {
        let base = Duration::from_millis(100 << (attempt - 1));
        assert!(*delay >= base / 2 && *delay <= base, "attempt {attempt}: {delay:?}");
    }
    assert_eq!(sim.opened, 4);
    assert!(sim.reports.values().all(|report| report.outcome.is_accepted()));
    assert_eq!(sim.conn.stats().counters().connect_failures, 3);
    sim.assert_invariants();
}

#[test]
fn too_many_failures_give_up_the_waiting_notifications() {
    let mut sim = Sim::default();
    sim.attempts.extend([Attempt::Refused { after: Duration::from_millis(1) }; 5]);
    let sent = sim.send_many(4);
    sim.drive();
    for index in sent {
        let report = sim.report(index);
        assert_eq!((report.outcome, report.writes), (Outcome::Failed(FailReason::Abandoned), 0));
    }
    let gave_up = sim.events.iter().filter(|e| matches!(e, Event::ConnectFailed { gave_up: true, .. }));
    assert_eq!(gave_up.count(), 1);
    // The count starts again: the next send connects (and succeeds).
    let next = sim.send_with(0, 0);
    sim.drive();
    assert!(sim.report(next).outcome.is_accepted());
    sim.assert_invariants();
}

#[test]
fn a_tcp_connect_that_never_finishes_times_out() {
    let mut sim = Sim::default();
    sim.attempts.push_back(Attempt::NoTcp);
    sim.send_with(0, 0);
    sim.pump();
    assert_eq!(sim.conn.poll_timeout(), Some(sim.start + lifecycle().connect_timeout));
    sim.drive();
    assert!(matches!(
        sim.events[0],
        Event::ConnectFailed { error: ConnectError::ConnectTimeout, attempt: 1, .. }
    ));
    assert_eq!(sim.commands[..2], [Transport::Open, Transport::Abort]);
    assert!(sim.report(0).outcome.is_accepted(), "the next attempt succeeded");
    sim.assert_invariants();
}

#[test]
fn a_handshake_that_never_finishes_times_out() {
    let mut sim = Sim::default();
    sim.attempts.push_back(Attempt::NoHandshake);
    sim.send_with(0, 0);
    sim.drive();
    assert!(matches!(sim.events[0], Event::ConnectFailed { error: ConnectError::HandshakeTimeout, .. }));
    let failed_at = lifecycle().connect_timeout;
    assert!(sim.elapsed() > failed_at, "{:?}", sim.elapsed());
    sim.assert_invariants();
}

#[test]
fn a_refused_client_certificate_fails_at_once_without_retrying() {
    let mut sim = Sim::default();
    sim.attempts.extend([Attempt::CertificateRefused; 5]);
    sim.send_with(0, 0);
    sim.drive();
    let refused: Vec<_> = sim
        .events
        .iter()
        .filter(|e| matches!(e, Event::ConnectFailed { error: ConnectError::CertificateRefused(_), .. }))
        .collect();
    assert_eq!(refused.len(), 1, "a new attempt would be refused again: {refused:?}");
    assert!(matches!(refused[0], Event::ConnectFailed { gave_up: true, .. }), "{refused:?}");
    assert_eq!(sim.report(0).outcome, Outcome::Failed(FailReason::Abandoned));
    assert!(sim.elapsed() < Duration::from_secs(1), "{:?}", sim.elapsed());
    sim.assert_invariants();
}

#[test]
fn an_error_response_split_anywhere_is_read_whole() {
    for split in [vec![1], vec![2], vec![3], vec![5], vec![1, 1, 1, 1, 1], vec![4, 1]] {
        let mut sim = Sim::default();
        sim.gateway.response_split = split.clone();
        let before = sim.send_many(3);
        let bad = sim.send_with(INVALID_TOKEN, 0);
        let after = sim.send_many(3);
        sim.drive();
        for &index in &before {
            assert_eq!(sim.report(index).outcome, Outcome::Accepted, "{split:?}");
        }
        assert_eq!(sim.report(bad).outcome, Outcome::Rejected(Status::INVALID_TOKEN), "{split:?}");
        for &index in &after {
            assert_eq!(sim.report(index).writes, 2, "{split:?}: resent on the next connection");
        }
        assert_eq!(sim.opened, 2, "{split:?}");
        assert_eq!(sim.responses_reported, 1, "{split:?}: one event for the one error response");
        sim.assert_invariants();
    }
}

#[test]
fn the_machine_closes_at_once_after_an_error_response() {
    let mut sim = Sim::default();
    sim.gateway.close_delay = Duration::from_secs(5);
    sim.send_with(INVALID_TOKEN, 0);
    let after = sim.send_with(0, 0);
    sim.advance(Duration::from_millis(304));
    // It does not wait for the gateway's close: the resend is written on a new connection.
    assert_eq!(sim.commands[..3], [Transport::Open, Transport::Close, Transport::Open]);
    sim.drive();
    assert_eq!(sim.report(after).writes, 2);
    sim.assert_invariants();
}

#[test]
fn unreadable_bytes_abort_the_connection() {
    let mut sim = Sim::default();
    sim.send_with(0, 0);
    sim.advance(Duration::from_millis(10));
    sim.conn.handle_bytes(sim.now, &[0x42]);
    sim.pump();
    assert_eq!(sim.commands.last(), Some(&Transport::Open), "reconnects to resend");
    assert!(sim.commands.contains(&Transport::Abort));
    assert_eq!(sim.count(|e| matches!(e, Event::SilentClose { in_flight: 1, .. })), 1);
    sim.drive();
    assert!(sim.report(0).possible_duplicate());
    sim.assert_invariants();
}

#[test]
fn a_silent_close_resends_and_flags_duplicates() {
    // A window smaller than what the gateway lets through per connection, once halved.
    let mut sim = Sim::new(lifecycle(), presume().max_in_flight(4));
    sim.gateway.silent_close_every = Some(3);
    sim.send_many(6);
    sim.drive();
    assert!(sim.count(|e| matches!(e, Event::SilentClose { .. })) >= 1);
    assert!(sim.reports.values().all(|report| report.outcome.is_accepted()));
    assert!(sim.conn.stats().counters().silent_closes >= 1);
    sim.assert_invariants();
}

#[test]
fn every_error_response_is_one_event() {
    // A shutdown, a transient status, a rejection and responses naming 0.
    let mut sim = Sim::default();
    sim.gateway.shutdown_every = Some(3);
    sim.send_many(4);
    sim.send_with(Status::PROCESSING_ERROR.0, 1);
    sim.send_with(INVALID_TOKEN, 0);
    sim.send_many(2);
    sim.drive();
    assert!(sim.count(|e| matches!(e, Event::Shutdown { .. })) >= 1);
    assert_eq!(
        sim.count(|e| matches!(e, Event::Retrying { status: Status::PROCESSING_ERROR, .. })),
        1,
        "{:#?}",
        sim.events
    );
    let retrying = sim.events.iter().find_map(|e| match e {
        Event::Retrying { id, token, .. } => Some((id.get(), *token)),
        _ => None,
    });
    assert_eq!(retrying, Some((4, sim.report(4).token)), "the user's identifier and token");
    let responses = sim.gateway.responses_written - sim.gateway.probe_responses;
    assert_eq!(sim.responses_reported, responses);
    sim.assert_invariants();

    let mut sim = Sim::default();
    sim.gateway.zero_ids = true;
    sim.send_with(INVALID_TOKEN, 0);
    // The answer arrives at 303 ms (3 ms of handshake, 300 ms of error delay); the resend is
    // written on the next connection at 306 ms: answer it with the real identifier.
    sim.advance(Duration::from_millis(304));
    sim.gateway.zero_ids = false;
    sim.drive();
    assert_eq!(sim.count(|e| matches!(e, Event::UnmatchedError { status: Status::INVALID_TOKEN, .. })), 1);
    assert_eq!(sim.responses_reported, sim.gateway.responses_written);
    sim.assert_invariants();
}

#[test]
fn idle_close_waits_for_silence_and_the_next_send_reopens() {
    let mut sim = Sim::default();
    sim.send_with(0, 0);
    sim.advance(Duration::from_secs(3));
    assert!(sim.conn.is_established(), "settled, not yet idle for 30 s");
    let idle_at = sim.conn.poll_timeout().unwrap();
    assert_eq!(idle_at - sim.start, Duration::from_secs(30) + Duration::from_millis(3));
    // A spurious timeout changes nothing.
    sim.conn.handle_timeout(sim.now);
    sim.pump();
    assert!(sim.conn.is_established());
    sim.advance(Duration::from_secs(28));
    assert!(!sim.conn.is_established());
    assert_eq!(sim.count(|e| matches!(e, Event::IdleClosed { .. })), 1);
    sim.send_with(0, 0);
    sim.drive();
    assert_eq!(sim.opened, 2);
    assert_eq!(sim.conn.stats().counters().reconnects, 1);
    sim.assert_invariants();
}

#[test]
fn no_idle_close_while_notifications_are_unsettled() {
    let mut config = lifecycle();
    config.idle_timeout = Some(Duration::from_millis(100));
    let mut sim = Sim::new(config, presume().max_age(Duration::from_secs(2)));
    sim.send_with(0, 0);
    sim.advance(Duration::from_millis(1000));
    assert!(sim.conn.is_established(), "one in flight: the connection stays");
    sim.drive();
    assert_eq!(sim.count(|e| matches!(e, Event::IdleClosed { .. })), 1);
    sim.assert_invariants();
}

#[test]
fn a_confirmation_proves_everything_within_one_error_delay() {
    let mut sim = Sim::default();
    let sent = sim.send_many(10);
    let mark = sim.conn.confirm(sim.now);
    assert!(!sim.conn.is_confirmed(mark));
    sim.advance(Duration::from_millis(400));
    assert!(sim.conn.is_confirmed(mark));
    for index in sent {
        assert_eq!(sim.report(index).outcome, Outcome::Accepted);
    }
    assert_eq!(sim.count(|e| matches!(e, Event::Confirmed { .. })), 1);
    assert_eq!(sim.gateway.probe_responses, 1);
    assert_eq!(sim.responses_reported, 0, "a probe's answer is not an error response to report");
    sim.assert_invariants();
}

#[test]
fn a_confirmation_lost_in_a_silent_close_is_asked_again() {
    let mut sim = Sim::default();
    sim.gateway.silent_close_next = Some(3);
    sim.send_many(3);
    let mark = sim.conn.confirm(sim.now);
    sim.drive();
    assert!(sim.conn.is_confirmed(mark));
    assert_eq!(sim.count(|e| matches!(e, Event::Confirmed { .. })), 1);
    assert!(sim.gateway.connections >= 2);
    assert!(sim.reports.values().all(|report| report.outcome == Outcome::Accepted));
    sim.assert_invariants();
}

#[test]
fn without_confirmation_notifications_settle_by_age() {
    // The simple format carries no identifier: no probe can be answered.
    let mut sim = Sim::new(lifecycle(), resend_in(Format::Simple));
    sim.send_many(3);
    let mark = sim.conn.confirm(sim.now);
    sim.advance(Duration::from_millis(1000));
    assert!(!sim.conn.is_confirmed(mark));
    sim.drive();
    assert!(sim.conn.is_confirmed(mark));
    assert!(sim.reports.values().all(|report| report.outcome == Outcome::PresumedAccepted));
    assert_eq!(sim.gateway.probe_responses, 0);
    sim.assert_invariants();
}

#[test]
fn a_forced_close_abandons_everything_and_closes_the_transport() {
    let mut sim = Sim::default();
    sim.send_many(5);
    sim.advance(Duration::from_millis(10));
    sim.conn.abandon(sim.now);
    sim.pump();
    assert_eq!(sim.commands.last(), Some(&Transport::Close));
    assert!(sim
        .reports
        .values()
        .all(|r| r.outcome == Outcome::Failed(FailReason::Abandoned) && r.writes == 1));
    assert_eq!(sim.conn.unsettled(), 0);
    assert_eq!(sim.conn.poll_transport(sim.now), None, "nothing left: no reconnect");
}

#[test]
fn unpolled_reports_hold_their_room() {
    let mut sim = Sim::new(lifecycle(), presume().capacity(4));
    sim.send_many(4);
    assert_eq!(sim.conn.free_capacity(), 0);
    // Settle them without polling events.
    while let Some(command) = sim.conn.poll_transport(sim.now) {
        assert_eq!(command, Transport::Open);
    }
    let now = sim.now + FAST_DONE;
    sim.conn.handle_connected(now);
    sim.conn.handle_established(now);
    let mut out = bytes::BytesMut::new();
    while sim.conn.poll_transmit(now, &mut out).is_some() {}
    sim.conn.handle_timeout(now + Duration::from_secs(3));
    assert_eq!(sim.conn.unsettled(), 0);
    assert_eq!(sim.conn.free_capacity(), 0, "the four reports are not read yet");
    let mut read = 0;
    while let Some(event) = sim.conn.poll_event(true) {
        read += usize::from(matches!(event, Event::Finished { .. }));
    }
    assert_eq!((read, sim.conn.free_capacity()), (4, 4));
}

const FAST_DONE: Duration = Duration::from_millis(3);

#[test]
fn the_transport_learns_what_it_still_holds() {
    let mut sim = Sim::default();
    sim.send_many(2);
    sim.advance(Duration::from_millis(5));
    let (handed_out, _) = sim.conn.bytes_in_transport();
    assert_eq!(handed_out, 2 * 83, "two frames of 83 bytes");
    sim.conn.handle_unsent(sim.now, 40);
    assert_eq!(sim.conn.bytes_in_transport(), (166, 40));
    let _ = FAST;
}

#[test]
fn an_unanswered_confirmation_is_asked_again_at_once() {
    let mut sim = Sim::default();
    sim.gateway.ignore_probes = true;
    sim.send_many(3);
    let mark = sim.conn.confirm(sim.now);
    // The probe ages out unanswered (2 s): the notifications are presumed accepted, and a new
    // probe is queued while the events are read; the machine asks to be driven at once.
    sim.advance(Duration::from_millis(2010));
    assert!(sim.conn.is_confirmed(mark), "everything before the mark settled by age");
    let another = sim.send_with(0, 0);
    let mark = sim.conn.confirm(sim.now);
    sim.gateway.ignore_probes = false;
    sim.drive();
    assert!(sim.conn.is_confirmed(mark));
    assert_eq!(sim.report(another).outcome, Outcome::Accepted);
    assert_eq!(sim.count(|e| matches!(e, Event::Confirmed { .. })), 1);
    sim.assert_invariants();
}

#[test]
fn an_unanswered_probe_closes_the_connection_and_the_rest_goes_on() {
    let mut sim = Sim::default();
    sim.gateway.ignore_probes = true;
    sim.send_many(2);
    let first = sim.conn.confirm(sim.now);
    sim.advance(Duration::from_millis(1000));
    // More notifications after the mark, and a second mark covering them; from now on probes
    // are answered, but the first one was already read and ignored.
    let later = sim.send_many(2);
    let second = sim.conn.confirm(sim.now);
    sim.gateway.ignore_probes = false;
    sim.drive();
    assert!(sim.conn.is_confirmed(first) && sim.conn.is_confirmed(second));
    // The first probe went unanswered for proof_timeout: the connection was closed, and a new
    // probe on the next connection proved the later notifications.
    assert_eq!(sim.count(|e| matches!(e, Event::ProofTimeout { .. })), 1);
    for index in later {
        assert_eq!(sim.report(index).outcome, Outcome::Accepted);
    }
    assert_eq!(sim.count(|e| matches!(e, Event::Confirmed { .. })), 1);
    sim.assert_invariants();
}
