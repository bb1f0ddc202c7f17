//! End-to-end benchmarks of the facade against the mock (in a child process), and PyAPNs
//! against the same mock in the same run.
//!
//! Each Rust run: a fresh [`Apns`](apns::binary::BinaryApns) with `connections` gateway connections to the one mock of the
//! whole run (no faults, error delay 0, recording off); the clock starts before the first
//! notification is handed in and stops when the mock has counted every one accepted. Then a
//! graceful close confirms them all (each must end [`Outcome::Accepted`]). Payloads are either
//! prebuilt (one encoded golden payload shared by every notification, all notifications built
//! before the clock starts) or built per notification inside the timed loop (the builder, JSON,
//! the size check, one allocation each). The 60-byte golden payload
//! `{"aps":{"alert":"Hello World!","sound":"default","badge":1}}` either way: 121 bytes per
//! notification as command 2.
//!
//! The client runs with the library's defaults (issue 11): `Settlement::Prove`, a window of
//! 20,000 proved by a probe and a reconnection each, a send queue of 10,000. Before issue 11
//! the window had to be sized to the run (with presumption after 2 s, 20,000 in flight allowed
//! only 10,000 notifications per second); proof settles a window as soon as the gateway has
//! read it, so the defaults are fast and memory stays bounded by the window, not the run.
//!
//! PyAPNs: `scripts/pyapns_bench.py`, run with the given python (a virtual environment with
//! `apns3==1.0.0`), sends the same golden payload in enhanced mode (command 1) to the same mock;
//! timed from its first send (it says when it starts) until the mock has counted all of them.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apns::binary::{BinaryApns as Apns, BinaryNotification as Notification, BinaryOutcome as Outcome};
use apns::mock::TestPki;
use apns::{DeviceToken, Endpoint, Identity, Payload, PayloadLimit};
use serde::{Deserialize, Serialize};

use crate::remote::{MockSpec, RemoteMock};
use crate::{procfs, Error};

const WAIT: Duration = Duration::from_secs(300);
const EXPIRY: u32 = 1_900_000_000;

/// What [`run`] measures.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Notifications per Rust run.
    pub count: u32,
    /// The connection counts to measure (each with both payload modes).
    pub connections: Vec<usize>,
    /// A python with `apns3` installed, and the driver script, for the side-by-side run.
    pub pyapns: Option<(PathBuf, PathBuf)>,
    /// Notifications PyAPNs sends.
    pub pyapns_count: u32,
    /// The `apns-soak` executable (for the mock's child process).
    pub mock_exe: PathBuf,
}

/// How the payloads of a Rust run are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payloads {
    /// One payload encoded once, every notification built before the clock starts.
    Prebuilt,
    /// The payload built and encoded for each notification, in the timed loop.
    PerNotification,
}

/// One Rust run.
#[derive(Debug, Clone, Serialize)]
pub struct RustRun {
    /// Payload mode.
    pub payloads: Payloads,
    /// Gateway connections.
    pub connections: usize,
    /// Notifications.
    pub count: u32,
    /// Until the mock accepted the last one, seconds.
    pub seconds: f64,
    /// Notifications per second (count / seconds).
    pub per_second: f64,
    /// CPU time of this process (client and the timed loop) during the run, seconds.
    pub client_cpu_s: Option<f64>,
    /// CPU time of the mock's process during the run, seconds.
    pub mock_cpu_s: Option<f64>,
    /// Peak resident memory of this process during the run (`VmHWM`, reset before the run),
    /// bytes.
    pub peak_rss: Option<u64>,
    /// Resident memory right before the clock started (after prebuilding), bytes.
    pub rss_before: Option<u64>,
    /// Until the graceful close confirmed the last one, seconds.
    pub confirmed_seconds: f64,
}

/// The PyAPNs run.
#[derive(Debug, Clone, Serialize)]
pub struct PyapnsRun {
    /// Notifications.
    pub count: u32,
    /// From its first send until the mock accepted the last one, seconds.
    pub seconds: f64,
    /// Notifications per second.
    pub per_second: f64,
    /// How long PyAPNs itself took to return from its sends, seconds (its own clock).
    pub send_seconds: Option<f64>,
    /// CPU time of the python process, seconds.
    pub cpu_s: Option<f64>,
}

/// Everything one [`run`] measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The Rust runs, in order.
    pub rust: Vec<RustRun>,
    /// The PyAPNs run, if asked for.
    pub pyapns: Option<PyapnsRun>,
}

/// Runs the benchmark, printing one JSON line per measurement as it goes.
pub fn run(config: &BenchConfig) -> Result<BenchReport, Error> {
    let pki = TestPki::generate().map_err(|e| Error::new(format!("test PKI: {e}")))?;
    let mut mock = RemoteMock::spawn(
        &config.mock_exe,
        &MockSpec::plain(&pki.server_cert_pem, &pki.server_key_pem, &pki.ca_cert_pem),
    )?;
    let mut report = BenchReport { rust: Vec::new(), pyapns: None };
    for payloads in [Payloads::Prebuilt, Payloads::PerNotification] {
        for &connections in &config.connections {
            let run = rust_run(&pki, &mut mock, payloads, connections, config.count)?;
            println!("{}", serde_json::json!({ "bench": "rust", "run": run }));
            report.rust.push(run);
        }
    }
    if let Some((python, script)) = &config.pyapns {
        let run = pyapns_run(&pki, &mut mock, python, script, config.pyapns_count)?;
        println!("{}", serde_json::json!({ "bench": "pyapns", "run": run }));
        let best = |payloads| {
            report
                .rust
                .iter()
                .filter(|r| r.payloads == payloads && r.connections == 1)
                .map(|r| r.per_second)
                .next()
        };
        println!(
            "{}",
            serde_json::json!({
                "bench": "side_by_side",
                "same_run": "every number above comes from this one run, against the same mock process",
                "pyapns_per_second": run.per_second,
                "rust_1_connection_prebuilt_per_second": best(Payloads::Prebuilt),
                "rust_1_connection_built_per_notification_per_second": best(Payloads::PerNotification),
                "ratio_prebuilt": best(Payloads::Prebuilt).map(|r| r / run.per_second),
                "ratio_built_per_notification": best(Payloads::PerNotification).map(|r| r / run.per_second),
            })
        );
        report.pyapns = Some(run);
    }
    let stopped = mock.stop()?;
    println!(
        "{}",
        serde_json::json!({ "bench": "mock", "stats": stopped.stats, "mock_cpu_s": stopped.cpu_seconds })
    );
    Ok(report)
}

fn golden() -> Payload {
    Payload::new().alert("Hello World!").sound("default").badge(1)
}

fn rust_run(
    pki: &TestPki,
    mock: &mut RemoteMock,
    payloads: Payloads,
    connections: usize,
    count: u32,
) -> Result<RustRun, Error> {
    let base = mock.stats()?.accepted;
    let identity = Identity::from_pem(pki.client_cert_pem.as_bytes(), pki.client_key_pem.as_bytes())
        .map_err(|e| Error::new(format!("client identity: {e}")))?;
    let apns = Apns::builder()
        .gateway_endpoint(Endpoint::at("localhost", mock.gateway_addr()))
        .ca_pem(pki.ca_cert_pem.as_bytes())
        .identity(identity)
        .connections(connections)
        .send_timeout(WAIT)
        .build()?;
    let gateway = apns.gateway();
    let accepted = Arc::new(AtomicU64::new(0));
    {
        let accepted = accepted.clone();
        gateway.on_outcome(move |report| {
            if report.outcome == Outcome::Accepted {
                accepted.fetch_add(1, Relaxed);
            }
        });
    }
    let token = DeviceToken::new([0x42; 32]);
    let prebuilt: Vec<Notification> = match payloads {
        Payloads::Prebuilt => {
            let payload = golden().encode(PayloadLimit::BINARY)?;
            (1..=count)
                .map(|id| Notification::new(token, payload.clone()).with_id(id).with_expiry(EXPIRY))
                .collect()
        }
        Payloads::PerNotification => Vec::new(),
    };
    let rss_before = procfs::rss();
    let peak_reset = procfs::reset_peak_rss();
    let (cpu_before, mock_cpu_before) = (procfs::cpu_seconds(None), mock.cpu_seconds());
    let start = Instant::now();
    match payloads {
        Payloads::Prebuilt => gateway.send_all(prebuilt)?,
        Payloads::PerNotification => {
            let mut batch = Vec::with_capacity(1000);
            for id in 1..=count {
                let payload = golden().encode(PayloadLimit::BINARY)?;
                batch.push(Notification::new(token, payload).with_id(id).with_expiry(EXPIRY));
                if batch.len() == 1000 {
                    gateway.send_all(std::mem::replace(&mut batch, Vec::with_capacity(1000)))?;
                }
            }
            gateway.send_all(batch)?;
        }
    }
    let (reached, stats) = mock.wait_accepted(base + u64::from(count), WAIT)?;
    let seconds = start.elapsed().as_secs_f64();
    let cpu = procfs::cpu_seconds(None).zip(cpu_before).map(|(after, before)| after - before);
    let mock_cpu = mock.cpu_seconds().zip(mock_cpu_before).map(|(after, before)| after - before);
    if !reached {
        return Err(Error::new(format!("the mock accepted only {} of {count}", stats.accepted - base)));
    }
    let summary = gateway.close(WAIT);
    let confirmed_seconds = start.elapsed().as_secs_f64();
    let peak_rss = if peak_reset { procfs::peak_rss() } else { None };
    drop(apns);
    if !summary.settled || accepted.load(Relaxed) != u64::from(count) {
        return Err(Error::new(format!(
            "not every notification was confirmed accepted: {} of {count} ({:?})",
            accepted.load(Relaxed),
            summary.counters
        )));
    }
    Ok(RustRun {
        payloads,
        connections,
        count,
        seconds,
        per_second: f64::from(count) / seconds,
        client_cpu_s: cpu,
        mock_cpu_s: mock_cpu,
        peak_rss,
        rss_before,
        confirmed_seconds,
    })
}

fn pyapns_run(
    pki: &TestPki,
    mock: &mut RemoteMock,
    python: &Path,
    script: &Path,
    count: u32,
) -> Result<PyapnsRun, Error> {
    let dir = std::env::temp_dir().join(format!("apns-soak-pyapns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(Error::io)?;
    let (cert, key) = (dir.join("client.pem"), dir.join("client.key"));
    std::fs::write(&cert, &pki.client_cert_pem).map_err(Error::io)?;
    std::fs::write(&key, &pki.client_key_pem).map_err(Error::io)?;
    let base = mock.stats()?.accepted;
    let config = serde_json::json!({
        "port": mock.gateway_addr().port(),
        "cert": cert,
        "key": key,
        "count": count,
        "token": DeviceToken::new([0x42; 32]).to_string(),
        "expiry": EXPIRY,
    });
    let mut command = Command::new(python);
    command.arg(script).arg(config.to_string());
    let result = timed_peer(command, mock, base, count, "PyAPNs").map(|timed| PyapnsRun {
        count,
        seconds: timed.seconds,
        per_second: f64::from(count) / timed.seconds,
        send_seconds: timed.done["seconds"].as_f64(),
        cpu_s: timed.cpu_s,
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A peer's run as [`timed_peer`] measured it.
#[derive(Debug, Clone)]
pub(crate) struct TimedPeer {
    /// From the peer's `start` line until the mock accepted its last notification, seconds.
    pub(crate) seconds: f64,
    /// CPU time of the peer's process over that time, seconds.
    pub(crate) cpu_s: Option<f64>,
    /// The peer's last line (`{"event":"done",...}` and what it measured itself).
    pub(crate) done: serde_json::Value,
}

/// Runs a peer's driver (`command`), which prints `{"event":"start"}` just before its first
/// send and one more JSON line when done (then exits, or waits for `exit` on stdin), and times
/// it from its start until the mock has accepted `count` more than `base`.
pub(crate) fn timed_peer(
    mut command: Command,
    mock: &mut RemoteMock,
    base: u64,
    count: u32,
    what: &str,
) -> Result<TimedPeer, Error> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::new(format!("cannot run {what}: {e}")))?;
    let pid = child.id();
    let result = (|| {
        let stdout = child.stdout.take().ok_or_else(|| Error::new(format!("{what} has no stdout")))?;
        // Lines arrive on a thread of their own: a peer whose sends all fail says so when done,
        // while the mock never counts them.
        let (lines, said) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let parsed = line.map_err(Error::io).and_then(|line| {
                    serde_json::from_str::<serde_json::Value>(&line)
                        .map_err(|e| Error::new(format!("driver said {line:?}: {e}")))
                });
                if lines.send(parsed).is_err() {
                    break;
                }
            }
        });
        let next = |timeout: Duration| -> Result<Option<serde_json::Value>, Error> {
            match said.recv_timeout(timeout) {
                Ok(line) => line.map(Some).map_err(|e| Error::new(format!("{what}: {e}"))),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Ok(None),
                Err(_) => Err(Error::new(format!("the {what} driver exited early"))),
            }
        };
        let started = next(WAIT)?.ok_or_else(|| Error::new(format!("{what} did not start")))?;
        let start = Instant::now();
        if started["event"] != "start" {
            return Err(Error::new(format!("{what} driver: expected start, got {started}")));
        }
        let cpu_before = procfs::cpu_seconds(Some(pid));
        let target = base + u64::from(count);
        let mut done = None;
        loop {
            let (reached, stats) = mock.wait_accepted(target, Duration::from_millis(200))?;
            if reached {
                break;
            }
            if done.is_none() {
                done = next(Duration::ZERO)?;
            }
            let gave_up = match &done {
                // The peer is done: what the mock has not counted 2 s later never comes.
                Some(said) if !mock.wait_accepted(target, Duration::from_secs(2))?.0 => {
                    Some(format!("; {what} said {said}"))
                }
                Some(_) => break,
                None if start.elapsed() > WAIT => Some(String::new()),
                None => None,
            };
            if let Some(said) = gave_up {
                let accepted = stats.accepted - base;
                return Err(Error::new(format!(
                    "the mock accepted only {accepted} of {what}'s {count}{said}"
                )));
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        let cpu_s = procfs::cpu_seconds(Some(pid)).zip(cpu_before).map(|(after, before)| after - before);
        let done = match done {
            Some(done) => done,
            None => next(WAIT)?.ok_or_else(|| Error::new(format!("{what} did not finish")))?,
        };
        Ok(TimedPeer { seconds, cpu_s, done })
    })();
    // Tell the driver to exit (PyAPNs' reader thread would keep it up for 30 s otherwise).
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "exit");
    }
    if result.is_err() {
        let _ = child.kill();
    }
    let _ = child.wait();
    result
}
