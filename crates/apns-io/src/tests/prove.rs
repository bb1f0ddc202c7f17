//! The connection machine under `Settlement::Prove` (the default) and the reconnect budget
//! in time (issue 11).

use std::time::Duration;

use apns_resend::{FailReason, Outcome};

use super::sim::{lifecycle, Attempt, Sim};
use crate::event::Event;
use crate::machine::{Machine, Transport};

fn prove() -> apns_resend::Config {
    apns_resend::Config::default()
}

#[test]
fn every_window_is_proved_by_a_probe_and_a_reconnection() {
    let mut sim = Sim::new(lifecycle(), prove().probe_every(5));
    sim.send_many(12);
    sim.drive();
    assert!(sim.reports.values().all(|report| report.outcome == Outcome::Accepted), "{:?}", sim.reports);
    // Three windows (5, 5, 2), each answered, each costing a connection.
    assert_eq!(sim.gateway.probe_responses, 3);
    assert_eq!(sim.gateway.connections, 3);
    let counters = sim.conn.stats().counters();
    assert_eq!((counters.accepted, counters.presumed_accepted, counters.unconfirmed), (12, 0, 0));
    assert_eq!(counters.probes, 3);
    sim.assert_invariants();
}

#[test]
fn an_unanswered_probe_leaves_its_window_unconfirmed_and_closes_the_connection() {
    let mut sim = Sim::new(lifecycle(), prove().probe_every(3).proof_timeout(Duration::from_secs(5)));
    sim.gateway.ignore_probes = true;
    let first = sim.send_many(3);
    sim.advance(Duration::from_millis(4_900));
    assert!(sim.reports.is_empty(), "nothing presumed while the probe can answer");
    let later = sim.send_many(2);
    sim.advance(Duration::from_millis(200));
    for &index in &first {
        assert_eq!(sim.report(index).outcome, Outcome::Unconfirmed);
    }
    assert_eq!(sim.count(|event| matches!(event, Event::ProofTimeout { .. })), 1);
    assert!(sim.commands.contains(&Transport::Abort), "{:?}", sim.commands);
    sim.gateway.ignore_probes = false;
    sim.drive();
    for &index in &later {
        assert_eq!(sim.report(index).outcome, Outcome::Accepted);
    }
    let counters = sim.conn.stats().counters();
    assert_eq!((counters.accepted, counters.unconfirmed, counters.proof_timeouts), (2, 3, 1));
    sim.assert_invariants();
}

#[test]
fn a_flush_proves_or_fails_never_presumes() {
    let mut sim = Sim::new(lifecycle(), prove().proof_timeout(Duration::from_secs(3)));
    sim.gateway.ignore_probes = true;
    sim.send_many(4);
    let mark = sim.conn.confirm(sim.now);
    sim.drive();
    assert!(sim.conn.is_confirmed(mark));
    assert!(sim.reports.values().all(|report| report.outcome == Outcome::Unconfirmed));
    assert_eq!(sim.count(|event| matches!(event, Event::Confirmed { .. })), 0);
    assert_eq!(sim.conn.stats().counters().presumed_accepted, 0);
}

#[test]
fn the_reconnect_budget_is_time_not_attempts() {
    let mut config = lifecycle();
    config.max_connect_failures = u32::MAX;
    config.reconnect_for = Duration::from_secs(10);
    let mut sim = Sim::new(config, prove());
    // A gateway down for about 6 s: many refused attempts, within the budget.
    let refused = Attempt::Refused { after: Duration::from_millis(1) };
    sim.attempts.extend([refused; 6]);
    sim.send_many(3);
    sim.drive();
    assert!(sim.reports.values().all(|report| report.outcome == Outcome::Accepted));
    assert!(sim.count(|event| matches!(event, Event::ConnectFailed { gave_up: true, .. })) == 0);

    // A gateway that never comes back: given up once the budget is spent, whatever the count.
    let mut config = lifecycle();
    config.max_connect_failures = u32::MAX;
    config.reconnect_for = Duration::from_secs(10);
    let mut sim = Sim::new(config, prove());
    sim.attempts.extend([refused; 200]);
    sim.send_many(3);
    sim.advance(Duration::from_secs(30));
    let gave_up = sim.events.iter().find_map(|event| match event {
        Event::ConnectFailed { gave_up: true, attempt, .. } => Some(*attempt),
        _ => None,
    });
    let attempt = gave_up.expect("gave up");
    assert!(attempt > 5, "more attempts than the old count limit: {attempt}");
    assert!(sim.elapsed() >= Duration::from_secs(10));
    for report in sim.reports.values() {
        assert_eq!(report.outcome, Outcome::Failed(FailReason::Abandoned));
        assert_eq!(report.writes, 0, "never written");
    }
}
