//! The HTTP/2 soak in the default test run: 20,000 notifications through the HTTP/2 client to
//! the HTTP/2 mock over TLS with token auth on 4 connections, every fault of the full run at
//! once, then the mock's record checked notification by notification.
//!
//! Scaled down from `cargo xtask soak --http2` (1,000,000): GOAWAY every 1,000 requests of a
//! connection (so about a dozen connections), the other per-connection periods below that so
//! that each fault happens on most connections; the stall (1.3 s against a 1 s response
//! timeout) and the token age limit (2 s) are short, and the mock allows 100 streams per
//! connection, so the run takes seconds in a debug build.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use apns_soak::http2::{run, Http2SoakConfig};

#[test]
fn http2_soak_under_every_fault_at_once() {
    let mut config = Http2SoakConfig::new(env!("CARGO_BIN_EXE_apns-soak"));
    config.count = 20_000;
    config.seed = 7;
    config.goaway_every = 1_000;
    config.drop_probability = 1.0 / 4_000.0;
    config.refuse_stream_every = 101;
    config.too_many_requests_every = 97;
    config.unavailable_probability = 0.005;
    config.stall_every = 701;
    config.stall = Duration::from_millis(1_300);
    config.response_timeout = Duration::from_secs(1);
    // The debug mock answers a few thousand requests a second: 4 × 1,000 in flight would
    // queue longer than the response timeout.
    config.max_concurrent_streams = 100;
    config.stream_limit = (501, 1, 30);
    config.token_max_age = Duration::from_secs(2);
    let start = Instant::now();
    let report = run(&config).unwrap();
    println!("{}", report.to_json());
    assert!(report.passed(), "{:#?}", report.violations);
    assert_eq!(report.lost, 0);
    // Every fault happened.
    let mock = &report.mock;
    assert!(
        mock.goaways >= 1 && mock.connection_drops >= 1 && mock.refused_streams >= 1,
        "{}",
        report.to_json()
    );
    assert!(mock.faults >= 1 && mock.stream_limit_changes >= 2, "{}", report.to_json());
    assert!(report.mock_token_refusals >= 1 && report.client.token_refreshes >= 1, "{}", report.to_json());
    assert!(report.client.response_timeouts >= 1, "{}", report.to_json());
    assert!(report.rejected_expected >= 100, "{}", report.to_json());
    assert!(start.elapsed() < Duration::from_secs(60), "took {:?}", start.elapsed());
}

/// The full run of the issue (1,000,000 notifications, about 75 s in release on the development
/// machine): `cargo test --release -p apns-soak --test http2_soak -- --ignored`, or
/// `cargo xtask soak --http2`.
#[test]
#[ignore = "the full soak: minutes, both cores"]
fn http2_soak_full_run() {
    let report = run(&Http2SoakConfig::new(env!("CARGO_BIN_EXE_apns-soak"))).unwrap();
    println!("{}", report.to_json());
    assert!(report.passed(), "{:#?}", report.violations);
    assert_eq!(report.lost, 0);
}
