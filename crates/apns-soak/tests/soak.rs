//! The soak in the default test run: 50,000 notifications through the facade over TLS on 4
//! connections, with every fault of the full run at once (rejected tokens, silent closes,
//! shutdowns, stalls), then the mock's record checked against every outcome.
//!
//! What is scaled down from `cargo xtask soak` (1,000,000 notifications), and why: the wall time
//! of a soak is about `rejections × mean error delay / connections`, since each rejection halts
//! its connection for the error delay. At 1 % rejected and Apple's 100–800 ms that is 56 s for
//! 50,000 notifications, whatever the build; so here the error delays are 10–80 ms (a tenth),
//! still long enough for each connection to write hundreds of notifications behind a rejected
//! one before the response arrives. Silent closes come every ~5,000 accepted notifications
//! instead of ~20,000, so that about ten happen.
//!
//! The client settles by proof (`Settlement::Prove`, the default): a first run of this test
//! under the old presumption lost 10,734 notifications that the debug mock had not read within
//! `max_age` (see `docs/benchmarks.md`, "Soak"); proof does not depend on how fast the gateway
//! reads. The stalls are a slow reader: 2.5 s, longer than `max_age`. The in-flight window is
//! 1,000 per connection for speed only: at 1 % rejected, each rejection discards what is in
//! flight behind it, and with the default 20,000 that was 2.9 million resends and 73 s
//! (measured), every one still accounted for (lost 0).
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use apns_soak::{run, SoakConfig};

#[test]
fn soak_under_every_fault_at_once() {
    let mut config = SoakConfig::new(env!("CARGO_BIN_EXE_apns-soak"));
    config.count = 50_000;
    config.seed = 7;
    config.error_delay = (Duration::from_millis(10), Duration::from_millis(80));
    config.drop_probability = 1.0 / 5_000.0;
    config.stall = Duration::from_millis(2_500);
    config.resend = apns::binary::resend::Config::default().max_in_flight(1_000);
    let start = Instant::now();
    let report = run(&config).unwrap();
    println!("{}", report.to_json());
    assert!(report.passed(), "{:#?}", report.violations);
    // Every fault happened.
    assert!(report.mock.dropped >= 1 && report.silent_closes >= 1, "{}", report.to_json());
    assert!(report.mock.shutdowns >= 1, "{}", report.to_json());
    assert!(report.rejected_expected >= 300, "{}", report.to_json());
    assert_eq!(report.lost, 0);
    assert!(start.elapsed() < Duration::from_secs(60), "took {:?}", start.elapsed());
}
