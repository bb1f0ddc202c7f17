//! Scenarios from issue 15.

use super::*;

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
    assert_eq!(stats.rejections.get(&apns_proto::http2::Reason::UNREGISTERED), Some(&5));
    // Two connections, the streams spread over both.
    assert_eq!(sim.d.stats().established, 2);
}
