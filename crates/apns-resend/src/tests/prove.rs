//! [`Settlement::Prove`], the default: probes behind every window, proof timeouts,
//! [`Outcome::Unconfirmed`], and a gateway that reads slower than the client writes (issue 11).

use std::time::Duration;

use apns_proto::Status;

use super::sim::{Sim, PROBE};
use crate::{Config, ConnectionState, Event, Outcome, Settlement, TransmitKind};

const INVALID_TOKEN: u8 = Status::INVALID_TOKEN.0;

#[test]
fn prove_is_the_default() {
    assert_eq!(Config::default().settlement, Settlement::Prove);
    assert_eq!(Config::default().probe_every, 20_000);
    assert_eq!(Config::default().probe_bytes, 4 << 20);
    assert_eq!(Config::default().probe_after, Duration::from_secs(2));
    assert_eq!(Config::default().proof_timeout, Duration::from_secs(30));
}

#[test]
fn a_probe_behind_every_window_proves_it() {
    let mut sim = Sim::new(Config::default().probe_every(4));
    let tickets = sim.send_many(10);
    sim.drive();
    for &ticket in &tickets {
        assert_eq!(sim.outcome(ticket), Outcome::Accepted, "proved, not presumed");
    }
    // Four per connection, each followed by its probe.
    assert_eq!(sim.gateway.connections[0], [0, 1, 2, 3, PROBE]);
    assert_eq!(sim.gateway.connections[1], [4, 5, 6, 7, PROBE]);
    // The last two: proved probe_after after their write.
    assert_eq!(sim.gateway.connections[2], [8, 9, PROBE]);
    let stats = sim.client.stats();
    assert_eq!((stats.probes, stats.confirmations, stats.presumed_accepted), (3, 3, 0));
    assert!(sim.events.is_empty(), "automatic probes are no confirmation: {:?}", sim.events);
    sim.assert_invariants();
}

#[test]
fn a_full_window_is_probed_at_once() {
    let mut sim = Sim::new(Config::default().max_in_flight(3));
    sim.send_many(5);
    sim.write();
    assert_eq!(sim.gateway.connections[0], [0, 1, 2, PROBE]);
    assert_eq!(sim.client.connection_state(), ConnectionState::Confirming);
    sim.drive();
    assert_eq!(sim.client.stats().accepted, 5);
    sim.assert_invariants();
}

#[test]
fn the_byte_budget_probes_large_payloads_sooner() {
    // Each test notification is about 60 bytes on the wire.
    let mut sim = Sim::new(Config::default().probe_bytes(100));
    sim.send_many(4);
    sim.write();
    assert_eq!(sim.gateway.connections[0], [0, 1, PROBE]);
    sim.drive();
    assert_eq!(sim.client.stats().accepted, 4);
    sim.assert_invariants();
}

#[test]
fn a_trickle_is_proved_after_probe_after() {
    let mut sim = Sim::new(Config::default());
    let ticket = sim.send();
    sim.write();
    assert_eq!(sim.client.poll_timeout(), Some(sim.now + Config::DEFAULT_PROBE_AFTER));
    sim.drive();
    assert_eq!(sim.outcome(ticket), Outcome::Accepted);
    let answered = Config::DEFAULT_PROBE_AFTER + sim.gateway.error_delay;
    assert_eq!(sim.elapsed(), answered + sim.gateway.close_delay);
    sim.assert_invariants();
}

#[test]
fn nothing_is_presumed_while_the_probe_can_answer() {
    // The gateway reads one notification per 5 s: far slower than max_age.
    let mut sim = Sim::new(Config::default().probe_every(3).max_age(Duration::from_millis(100)));
    sim.gateway.stall_every = Some((1, Duration::from_secs(5)));
    let tickets = sim.send_many(3);
    sim.write();
    sim.advance(Duration::from_secs(4));
    assert_eq!(sim.gateway.unread(), 3, "two notifications and the probe wait unread");
    assert!(sim.reports.is_empty(), "nothing settled without proof: {:?}", sim.reports);
    sim.drive();
    for ticket in tickets {
        assert_eq!(sim.outcome(ticket), Outcome::Accepted);
    }
    assert_eq!(sim.elapsed(), Duration::from_secs(15) + sim.gateway.error_delay + sim.gateway.close_delay);
    sim.assert_invariants();
}

#[test]
fn an_unanswered_probe_leaves_its_window_unconfirmed_then_the_rest_goes_on() {
    // Reads one notification, then stalls for far longer than the proof timeout.
    let config = Config::default().probe_every(4).proof_timeout(Duration::from_secs(3));
    let mut sim = Sim::new(config);
    sim.gateway.stall_every = Some((1, Duration::from_secs(600)));
    let tickets = sim.send_many(6);
    sim.write();
    sim.advance(Duration::from_secs(3));
    // The first window: written, the gateway read one, the client cannot tell which.
    for &ticket in &tickets[..4] {
        let report = sim.report(ticket);
        assert_eq!(report.outcome, Outcome::Unconfirmed);
        assert!(report.maybe_delivered() && !report.outcome.is_accepted());
    }
    assert_eq!(sim.client.stats().proof_timeouts, 1);
    // The connection was closed; the rest went on a new one (which read one, and stalls).
    assert_eq!(sim.gateway.connections.len(), 2);
    assert_eq!(sim.gateway.delivered.len(), 2);
    sim.drive();
    for &ticket in &tickets[4..] {
        assert_eq!(sim.outcome(ticket), Outcome::Unconfirmed);
    }
    let stats = sim.client.stats();
    assert_eq!((stats.accepted, stats.presumed_accepted, stats.unconfirmed), (0, 0, 6));
    sim.assert_invariants();
}

#[test]
fn a_confirmation_proves_or_fails_never_presumes() {
    let mut sim = Sim::new(Config::default().proof_timeout(Duration::from_secs(3)));
    sim.gateway.stall_every = Some((2, Duration::from_secs(600)));
    sim.send_many(5);
    assert!(sim.client.confirm().is_ok());
    sim.drive();
    assert_eq!(sim.events, [Event::ConfirmationFailed]);
    let stats = sim.client.stats();
    assert_eq!((stats.accepted, stats.presumed_accepted, stats.unconfirmed), (0, 0, 5));
    sim.assert_invariants();

    let mut sim = Sim::new(Config::default());
    sim.gateway.stall_every = Some((2, Duration::from_secs(1)));
    sim.send_many(5);
    assert!(sim.client.confirm().is_ok());
    sim.drive();
    assert_eq!(sim.events, [Event::Confirmed]);
    assert_eq!(sim.client.stats().accepted, 5);
    sim.assert_invariants();
}

#[test]
fn a_rejection_behind_a_slow_reader_is_still_reported() {
    // Issue 11, row 2 in miniature: the bad notification is read long after max_age.
    let mut sim = Sim::new(Config::default().probe_every(50).max_age(Duration::from_millis(100)));
    sim.gateway.stall_every = Some((10, Duration::from_secs(1)));
    let before = sim.send_many(20);
    let bad = sim.send_with(INVALID_TOKEN, 0).unwrap();
    let after = sim.send_many(20);
    sim.drive();
    assert_eq!(sim.outcome(bad), Outcome::Rejected(Status::INVALID_TOKEN));
    for ticket in before.into_iter().chain(after) {
        assert_eq!(sim.outcome(ticket), Outcome::Accepted);
    }
    sim.assert_invariants();
}

#[test]
fn under_presume_a_slow_reader_is_presumed_what_it_never_read() {
    // The failure of issue 11, kept as the documented price of the opt-in.
    let config = Config::default().settlement(Settlement::Presume);
    let mut sim = Sim::new(config);
    sim.gateway.stall_every = Some((1, Duration::from_secs(600)));
    sim.send_many(5);
    sim.advance(Config::DEFAULT_MAX_AGE);
    assert_eq!(sim.client.stats().presumed_accepted, 5);
    assert_eq!(sim.gateway.delivered.len(), 1, "the gateway read only one");
}

#[test]
fn a_silent_close_before_the_proof_resends_the_window() {
    // A gateway that drops every connection after 5: the window (8) halves until it fits.
    let mut sim = Sim::new(Config::default().probe_every(8));
    sim.gateway.silent_close_every = Some(5);
    sim.gateway.silent_close_after(5);
    let tickets = sim.send_many(8);
    sim.drive();
    for &ticket in &tickets {
        assert_eq!(sim.outcome(ticket), Outcome::Accepted);
    }
    assert!(sim.client.stats().possible_duplicates > 0);
    assert!(sim.client.stats().silent_closes > 0);
    sim.assert_invariants();
}

#[test]
fn the_simple_format_is_never_presumed_under_prove() {
    let mut sim = Sim::new(Config::default().format(apns_proto::Format::Simple));
    let ticket = sim.send();
    sim.drive();
    assert_eq!(sim.outcome(ticket), Outcome::Unconfirmed);
    let written = sim.client.stats().probes;
    assert_eq!(written, 0, "the simple format cannot be probed");
    assert!(!matches!(
        sim.client.poll_transmit(sim.now, &mut bytes::BytesMut::new()).map(|t| t.kind),
        Some(TransmitKind::Probe)
    ));
}
