//! Property tests over random operation sequences: every notification one report; none
//! delivered twice unless marked a possible duplicate; never more streams than the budget (checked
//! on every request by the harness).

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    Send(usize),
    /// Items with a deadline (ms from now) and an `apns-expiration` (seconds from the epoch).
    SendBounded(usize, u64, u64),
    Turn,
    Answer {
        conn: usize,
        n: usize,
        kind: u8,
    },
    Kill(usize),
    GoAway(usize, u8),
    Resume,
    Limit(usize, u32),
    Advance(u64),
    Close,
    Abandon,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1usize..40).prop_map(Op::Send),
        4 => Just(Op::Turn),
        8 => (0usize..3, 1usize..50, any::<u8>()).prop_map(|(conn, n, kind)| Op::Answer { conn, n, kind }),
        1 => (0usize..3).prop_map(Op::Kill),
        1 => (0usize..3, any::<u8>()).prop_map(|(conn, kind)| Op::GoAway(conn, kind)),
        2 => (1usize..10, 0u64..60_000, 0u64..120).prop_map(|(n, ms, s)| Op::SendBounded(n, ms, s)),
        1 => Just(Op::Resume),
        1 => (0usize..3, prop_oneof![Just(0u32), Just(1), Just(5), Just(1000)]).prop_map(|(c, l)| Op::Limit(c, l)),
        3 => (0u64..40_000).prop_map(Op::Advance),
        1 => Just(Op::Close),
        1 => Just(Op::Abandon),
    ]
}

pub(crate) fn fate_for(kind: u8, request: &Request) -> Fate {
    match kind % 16 {
        0..=6 => ok(request),
        7 => reject(400, "BadDeviceToken"),
        8 => refused(),
        9 => response(429, &[("retry-after", "2")], r#"{"reason":"TooManyRequests"}"#),
        10 => reject(503, "ServiceUnavailable"),
        11 => Fate::Reset(ErrorCode::CANCEL),
        12 => lost(),
        13 => above_goaway(1),
        14 => reject(410, "Unregistered"),
        _ if kind == 255 => reject(403, "InvalidProviderToken"),
        _ => ok(request),
    }
}

/// GOAWAY debug data: mostly none or Shutdown, sometimes an expired token, rarely a refusal.
fn goaway_debug(kind: u8) -> &'static [u8] {
    match kind {
        0..=99 => b"",
        100..=199 => br#"{"reason":"Shutdown"}"#,
        200..=249 => br#"{"reason":"ExpiredProviderToken"}"#,
        _ => br#"{"reason":"InvalidProviderToken"}"#,
    }
}

fn run(ops: Vec<Op>, config: DeliveryConfig) {
    let response_timeout = config.response_timeout;
    let mut sim = Sim::new(config);
    let start = sim.now;
    // tag → the latest instant it must be settled by (its deadline or expiry, plus the time a
    // stream in flight may take to land: a response timeout, then the cancel's).
    let mut bounds: Vec<(u64, Instant)> = Vec::new();
    for op in ops {
        let ids: Vec<ConnId> = sim.conns.keys().copied().collect();
        let pick = |i: usize| ids.get(i % ids.len().max(1)).copied();
        match op {
            Op::Send(n) => {
                for _ in 0..n {
                    let tag = sim.next_tag;
                    if sim.d.send(sim.now, Item::device(notification(), tag)).is_ok() {
                        sim.next_tag += 1;
                    }
                }
            }
            Op::SendBounded(n, ms, secs) => {
                for _ in 0..n {
                    let tag = sim.next_tag;
                    let base = notification();
                    let expiring = DeviceNotification::builder(
                        base.token().clone(),
                        PushType::ALERT,
                        base.payload().clone(),
                    )
                    .expiration(apns_proto::Expiry::from_unix_seconds((EPOCH_SECS + secs) as u32))
                    .build()
                    .unwrap();
                    let mut item = Item::device(expiring, tag);
                    let deadline = sim.now + Duration::from_millis(ms);
                    item.deadline = Some(deadline);
                    if sim.d.send(sim.now, item).is_ok() {
                        sim.next_tag += 1;
                        let expires = start + Duration::from_secs(secs);
                        bounds.push((tag, deadline.min(expires.max(sim.now)) + 2 * response_timeout));
                    }
                }
            }
            Op::Turn => sim.turn(),
            Op::Answer { conn, n, kind } => {
                if let Some(id) = pick(conn) {
                    sim.answer_n(id, n, |request| fate_for(kind, request));
                }
            }
            Op::Kill(conn) => {
                if let Some(id) = pick(conn) {
                    sim.kill(id);
                }
            }
            Op::GoAway(conn, kind) => {
                if let Some(id) = pick(conn) {
                    let goaway = apns_h2::GoAway {
                        last_stream_id: StreamId::new(0),
                        code: ErrorCode::NO_ERROR,
                        debug_data: Bytes::from_static(goaway_debug(kind)),
                    };
                    sim.d.handle_goaway(sim.now, id, &goaway);
                }
            }
            Op::Limit(conn, limit) => {
                if let Some(id) = pick(conn) {
                    sim.d.handle_stream_limit(sim.now, id, limit);
                    if let Some(c) = sim.conns.get_mut(&id) {
                        c.limit = limit;
                    }
                }
            }
            Op::Advance(ms) => sim.advance_by(Duration::from_millis(ms)),
            Op::Resume => sim.d.resume(sim.now),
            Op::Close => sim.d.close(sim.now),
            Op::Abandon => sim.d.abandon(sim.now),
        }
        sim.drain_events();
        sim.assert_no_silent_duplicates();
        // Bounded time: whatever the pool does, a deadline or an expiry settles the item.
        for &(tag, by) in &bounds {
            if by <= sim.now {
                assert!(sim.reports.iter().any(|r| r.tag == tag), "tag {tag} unsettled past its bound");
            }
        }
    }
    // Finish: the server heals (limits back), everything answered, time runs out.
    sim.d.close(sim.now);
    for (id, c) in sim.conns.iter_mut() {
        c.limit = 1000;
        sim.d.handle_stream_limit(sim.now, *id, 1000);
    }
    for _ in 0..200 {
        sim.run(5, ok);
        if sim.d.is_empty() && sim.reports.len() as u64 == sim.next_tag {
            break;
        }
        sim.advance_by(Duration::from_secs(60));
    }
    sim.drain_events();
    sim.assert_one_report_each();
    sim.assert_no_silent_duplicates();
    assert_eq!(sim.events.iter().filter(|e| matches!(e, Event::Closed)).count(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_notification_one_report(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops, config());
    }

    #[test]
    fn every_notification_one_report_small_pool(ops in proptest::collection::vec(op(), 1..60)) {
        let mut config = config();
        config.connections = 1;
        config.max_streams_per_connection = 7;
        config.capacity = 50;
        run(ops, config);
    }
}
