//! The HTTP/2 bench, small: each of our runs in a child process of its own reports that
//! process's peak memory and CPU time, and curl (when the machine has one with HTTP/2) runs
//! against the same mock, counted by the mock; otherwise it is skipped with the reason.
#![allow(missing_docs)]

use apns_soak::bench::Payloads;
use apns_soak::bench_http2::{run, Http2BenchConfig};

#[test]
fn each_client_run_is_measured_in_its_own_process_and_curl_is_the_floor() {
    let config = Http2BenchConfig {
        count: 2_000,
        connections: vec![1],
        capacity: 3_000,
        queue_capacity: 2_000,
        a2: None,
        node_apn: None,
        aioapns: None,
        curl: Some(("curl".into(), 500)),
        mock_exe: env!("CARGO_BIN_EXE_apns-soak").into(),
    };
    let report = run(&config).unwrap();
    let modes: Vec<Payloads> = report.ours.iter().map(|run| run.payloads).collect();
    assert_eq!(modes, [Payloads::Prebuilt, Payloads::PerNotification]);
    for ours in &report.ours {
        assert_eq!((ours.count, ours.capacity, ours.queue_capacity), (2_000, 3_000, 2_000));
        let (before, peak) = (ours.rss_before.unwrap(), ours.peak_rss.unwrap());
        // A fresh process: it starts small, and its peak is at least where it started.
        assert!(before < 64 << 20 && peak >= before, "{ours:?}");
        assert!(ours.process_cpu_s.is_some() && ours.loop_cpu_s.is_some(), "{ours:?}");
        assert!(ours.bytes_written_per_notification > 60.0, "{ours:?}");
    }
    let skipped: Vec<&str> = report.skipped.iter().map(|(peer, _)| peer.as_str()).collect();
    assert_eq!(skipped.iter().filter(|peer| **peer != "curl").count(), 3, "{:?}", report.skipped);
    match report.peers.iter().find(|peer| peer.peer == "curl") {
        Some(curl) => {
            assert_eq!(curl.count, 500);
            assert!(curl.cpu_s.is_some_and(|cpu| cpu > 0.0), "{curl:?}");
        }
        None => {
            let (_, why) = report.skipped.iter().find(|(peer, _)| peer == "curl").unwrap();
            assert!(!why.is_empty());
        }
    }
}

#[test]
fn a_missing_curl_is_skipped_with_the_reason() {
    let config = Http2BenchConfig {
        count: 100,
        connections: vec![1],
        capacity: 2_000,
        queue_capacity: 1_000,
        a2: None,
        node_apn: None,
        aioapns: None,
        curl: Some(("/nonexistent/curl".into(), 100)),
        mock_exe: env!("CARGO_BIN_EXE_apns-soak").into(),
    };
    let report = run(&config).unwrap();
    assert_eq!(report.ours.len(), 2);
    assert!(report.peers.is_empty());
    let (_, why) = report.skipped.iter().find(|(peer, _)| peer == "curl").unwrap();
    assert!(why.starts_with("not installed"), "{why}");
}
