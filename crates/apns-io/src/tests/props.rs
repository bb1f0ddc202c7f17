//! Property tests: random networks and gateways, the machine's invariants always hold.

use std::time::Duration;

use proptest::prelude::*;

use super::sim::{lifecycle, Attempt, Sim, FAST};
use crate::machine::Machine;

fn attempt() -> impl Strategy<Value = Attempt> {
    prop_oneof![
        4 => Just(FAST),
        1 => (0u64..20).prop_map(|ms| Attempt::Refused { after: Duration::from_millis(ms) }),
        1 => Just(Attempt::NoTcp),
        1 => Just(Attempt::NoHandshake),
        1 => Just(Attempt::CertificateRefused),
        1 => (0u64..50, 0u64..50).prop_map(|(tcp, handshake)| Attempt::Ok {
            tcp: Duration::from_millis(tcp),
            handshake: Duration::from_millis(handshake),
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_notification_gets_one_honest_outcome(
        attempts in proptest::collection::vec(attempt(), 0..6),
        fates in proptest::collection::vec(prop_oneof![6 => Just((0u8, 0u8)), 1 => Just((8u8, 0u8)), 1 => Just((1u8, 2u8))], 1..60),
        split in proptest::collection::vec(1usize..6, 0..3),
        silent_every in proptest::option::of(2u32..20),
        shutdown_every in proptest::option::of(2u32..20),
        confirm in any::<bool>(),
        error_delay_ms in 0u64..900,
    ) {
        let mut config = lifecycle();
        config.max_connect_failures = 100;
        let mut sim = Sim::new(config, apns_resend::Config::default());
        sim.attempts.extend(attempts);
        sim.gateway.response_split = split;
        sim.gateway.silent_close_every = silent_every;
        sim.gateway.shutdown_every = shutdown_every;
        sim.gateway.error_delay = Duration::from_millis(error_delay_ms);
        for (status, transient) in fates {
            sim.send_with(status, transient);
        }
        let mark = confirm.then(|| sim.conn.confirm(sim.now));
        sim.drive();
        if let Some(mark) = mark {
            prop_assert!(sim.conn.is_confirmed(mark));
        }
        let broken = sim.check_invariants();
        prop_assert!(broken.is_empty(), "{:#?}", broken);
    }
}
