//! The HTTP/2 benchmark (`apns-soak bench --http2`): our HTTP/2 client against the HTTP/2 mock
//! (in a child process, no faults, recording off, token auth) on loopback, then the peers
//! against the same mock in the same run: `a2` (Rust), `@parse/node-apn` (Node.js), `aioapns`
//! (Python).
//!
//! Each run of ours: a fresh client (the `apns` facade: [`Apns`]) with 1 or 4 connections (up to 1,000 streams each, as the
//! mock allows), `count` notifications to one device token; the clock runs from the first send
//! until the mock has counted the last one accepted, then a graceful close confirms every
//! report `Accepted`. Payloads are either prebuilt (one notification built once, cloned per
//! send: the token, topic and encoded payload are shared) or built per notification in the
//! timed loop (`Apns::notification`: the payload builder, JSON, the size check, the topic). The
//! payload is `{"aps":{"alert":"Hello World!","sound":"default","badge":1}}` for every client.
//!
//! Measured: notifications per second; CPU time of our whole process and of the client's loop
//! thread (`apns-io`) per notification; peak resident memory of our process. A peer: its rate
//! (from its first send until the mock accepted its last notification) and its process's CPU
//! time. A peer that cannot run is reported as skipped and the benchmark goes on.
//!
//! How the peers reach the mock: node-apn by its documented `address`, `port` and `ca`
//! options; aioapns by its protocol classes' host and port constants (it knows only Apple's
//! hosts) and an SSL context trusting the test CA; a2 knows only Apple's hosts on port 443 and
//! trusts only its compiled-in roots, so its peer project (`xtask/peers/a2`) replaces
//! `webpki-roots` by the test CA, and it runs in a private mount namespace whose `/etc/hosts`
//! maps `api.push.apple.com` to 127.0.0.1, where the mock then listens on port 443.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apns::mock::{ProviderKey, TestPki};
use apns::{Apns, DeviceNotification, HexDeviceToken, Outcome, Payload, PushType};
use serde::Serialize;

use crate::bench::{timed_peer, Payloads};
use crate::remote::{Http2Spec, MockSpec, RemoteMock};
use crate::{procfs, Error};

const WAIT: Duration = Duration::from_secs(300);
const TOPIC: &str = "com.example.mock";
const TOKEN: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";
/// Apple's hosts, which a2 connects to.
const APPLE_HOSTS: [&str; 2] = ["api.push.apple.com", "api.development.push.apple.com"];

/// What [`run`] measures.
#[derive(Debug, Clone)]
pub struct Http2BenchConfig {
    /// Notifications per run of our client.
    pub count: u32,
    /// Connection counts of our client (each with both payload modes).
    pub connections: Vec<usize>,
    /// The a2 peer's binary (`xtask/peers/a2`, built by xtask), and how many it sends.
    pub a2: Option<(PathBuf, u32)>,
    /// `node_modules` with `@parse/node-apn`, and how many it sends.
    pub node_apn: Option<(PathBuf, u32)>,
    /// A python with `aioapns`, and how many it sends.
    pub aioapns: Option<(PathBuf, u32)>,
    /// The `apns-soak` executable (the mock's child process).
    pub mock_exe: PathBuf,
}

/// One run of our client.
#[derive(Debug, Clone, Serialize)]
pub struct ClientRun {
    /// Payload mode.
    pub payloads: Payloads,
    /// Connections.
    pub connections: usize,
    /// Notifications.
    pub count: u32,
    /// Until the mock accepted the last one, seconds.
    pub seconds: f64,
    /// Notifications per second.
    pub per_second: f64,
    /// CPU time of this process over the run, seconds.
    pub process_cpu_s: Option<f64>,
    /// CPU time of the client's loop thread over the run, seconds.
    pub loop_cpu_s: Option<f64>,
    /// Notifications per CPU-second of the loop thread.
    pub per_loop_cpu_s: Option<f64>,
    /// Process CPU per notification, microseconds.
    pub process_cpu_us_per_notification: Option<f64>,
    /// CPU time of the mock over the run, seconds.
    pub mock_cpu_s: Option<f64>,
    /// Peak resident memory of this process over the run, bytes.
    pub peak_rss: Option<u64>,
    /// Resident memory when the clock started (what earlier runs left to the allocator
    /// included), bytes.
    pub rss_before: Option<u64>,
    /// TLS bytes written per notification.
    pub bytes_written_per_notification: f64,
}

/// One peer's run.
#[derive(Debug, Clone, Serialize)]
pub struct PeerRun {
    /// `a2`, `node-apn` or `aioapns`.
    pub peer: &'static str,
    /// Notifications.
    pub count: u32,
    /// From its first send until the mock accepted its last, seconds.
    pub seconds: f64,
    /// Notifications per second.
    pub per_second: f64,
    /// CPU time of its process, seconds.
    pub cpu_s: Option<f64>,
    /// CPU per notification, microseconds.
    pub cpu_us_per_notification: Option<f64>,
}

/// Everything one [`run`] measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Http2BenchReport {
    /// Our client's runs.
    pub ours: Vec<ClientRun>,
    /// The peers that ran.
    pub peers: Vec<PeerRun>,
    /// The peers that did not, and why.
    pub skipped: Vec<(String, String)>,
}

/// Runs the benchmark, printing one JSON line per measurement as it goes, then the ratios.
pub fn run(config: &Http2BenchConfig) -> Result<Http2BenchReport, Error> {
    let pki = TestPki::generate_for(&APPLE_HOSTS).map_err(|e| Error::new(format!("test PKI: {e}")))?;
    let key = ProviderKey::generate().map_err(|e| Error::new(format!("provider key: {e}")))?;
    let mut report = Http2BenchReport::default();
    let spec = |addr: Option<SocketAddr>| MockSpec {
        http2: Some(Http2Spec {
            addr,
            provider_key: Some((key.key_id.clone(), key.team_id.clone(), key.private_key_pem.clone())),
            ..Http2Spec::default()
        }),
        ..MockSpec::plain(&pki.server_cert_pem, &pki.server_key_pem, &pki.ca_cert_pem)
    };
    // a2 can only reach port 443: the one mock listens there when it can.
    let mut a2 = config.a2.clone();
    let mut mock = match a2
        .is_some()
        .then(|| RemoteMock::spawn(&config.mock_exe, &spec(Some(([127, 0, 0, 1], 443).into()))))
    {
        Some(Ok(mock)) => mock,
        Some(Err(error)) => {
            report
                .skipped
                .push(("a2".to_owned(), format!("the mock cannot listen on 127.0.0.1:443: {error}")));
            a2 = None;
            RemoteMock::spawn(&config.mock_exe, &spec(None))?
        }
        None => RemoteMock::spawn(&config.mock_exe, &spec(None))?,
    };
    for payloads in [Payloads::Prebuilt, Payloads::PerNotification] {
        for &connections in &config.connections {
            let run = client_run(&pki, &key, &mut mock, payloads, connections, config.count)?;
            println!("{}", serde_json::json!({ "bench": "http2", "client": "apns-rs", "run": run }));
            report.ours.push(run);
        }
    }
    let dir = std::env::temp_dir().join(format!("apns-soak-h2-peers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(Error::io)?;
    let files = PeerFiles::write(&dir, &pki, &key)?;
    let peers: [(&'static str, Option<(PathBuf, u32)>); 3] =
        [("a2", a2), ("node-apn", config.node_apn.clone()), ("aioapns", config.aioapns.clone())];
    for (peer, setup) in peers {
        let Some((path, count)) = setup else {
            if !report.skipped.iter().any(|(name, _)| name == peer) {
                report.skipped.push((peer.to_owned(), "not installed (not given)".to_owned()));
            }
            continue;
        };
        let command = files.command(peer, &path, mock.gateway_addr(), count);
        let base = mock.stats()?.accepted;
        match timed_peer(command, &mut mock, base, count, peer) {
            Ok(timed) => {
                let run = PeerRun {
                    peer,
                    count,
                    seconds: timed.seconds,
                    per_second: f64::from(count) / timed.seconds,
                    cpu_s: timed.cpu_s,
                    cpu_us_per_notification: timed.cpu_s.map(|cpu| cpu * 1e6 / f64::from(count)),
                };
                println!(
                    "{}",
                    serde_json::json!({ "bench": "http2", "client": peer, "run": run, "said": timed.done })
                );
                report.peers.push(run);
            }
            Err(error) => report.skipped.push((peer.to_owned(), error.to_string())),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    for (peer, why) in &report.skipped {
        println!("{}", serde_json::json!({ "bench": "http2", "client": peer, "skipped": why }));
    }
    print_ratios(&report);
    let stopped = mock.stop()?;
    println!(
        "{}",
        serde_json::json!({ "bench": "http2_mock", "stats": stopped.stats.http2, "mock_cpu_s": stopped.cpu_seconds })
    );
    Ok(report)
}

fn print_ratios(report: &Http2BenchReport) {
    let fastest = report.peers.iter().max_by(|a, b| a.per_second.total_cmp(&b.per_second));
    for ours in &report.ours {
        let ratios: serde_json::Map<String, serde_json::Value> = report
            .peers
            .iter()
            .map(|peer| {
                (
                    peer.peer.to_owned(),
                    serde_json::json!((ours.per_second / peer.per_second * 100.0).round() / 100.0),
                )
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "bench": "http2_ratio",
                "same_run": "every number comes from this one run, against the same mock process",
                "payloads": ours.payloads,
                "connections": ours.connections,
                "per_second": ours.per_second.round(),
                "times_peer": ratios,
                "times_fastest_peer": fastest.map(|peer| (ours.per_second / peer.per_second * 100.0).round() / 100.0),
                "fastest_peer": fastest.map(|peer| peer.peer),
            })
        );
    }
}

/// The credentials and configuration files the peers read.
struct PeerFiles {
    dir: PathBuf,
    ca: PathBuf,
    key: PathBuf,
    key_id: String,
    team_id: String,
}

impl PeerFiles {
    fn write(dir: &Path, pki: &TestPki, key: &ProviderKey) -> Result<Self, Error> {
        let (ca, key_file) = (dir.join("ca.pem"), dir.join("provider.p8"));
        std::fs::write(&ca, &pki.ca_cert_pem).map_err(Error::io)?;
        std::fs::write(&key_file, &key.private_key_pem).map_err(Error::io)?;
        let hosts = format!("127.0.0.1 localhost\n::1 localhost\n127.0.0.1 {}\n", APPLE_HOSTS.join(" "));
        std::fs::write(dir.join("hosts"), hosts).map_err(Error::io)?;
        Ok(Self {
            dir: dir.to_owned(),
            ca,
            key: key_file,
            key_id: key.key_id.clone(),
            team_id: key.team_id.clone(),
        })
    }

    /// The command that runs `peer` (installed at `path`) against the mock at `addr`.
    fn command(&self, peer: &str, path: &Path, addr: SocketAddr, count: u32) -> Command {
        let config = serde_json::json!({
            "port": addr.port(),
            "ca": self.ca,
            "key_file": self.key,
            "key_id": self.key_id,
            "team_id": self.team_id,
            "topic": TOPIC,
            "token": TOKEN,
            "count": count,
            "concurrency": 1000,
        })
        .to_string();
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
        match peer {
            "a2" => {
                // Its own mount namespace, where Apple's hosts are 127.0.0.1 (see the module docs).
                let mut command = Command::new("unshare");
                command
                    .args([
                        "--mount",
                        "sh",
                        "-c",
                        "mount --bind \"$1\" /etc/hosts && shift && exec \"$@\"",
                        "sh",
                    ])
                    .arg(self.dir.join("hosts"))
                    .arg(path)
                    .arg(config)
                    .env("APNS_PEER_CA", &self.ca);
                command
            }
            "node-apn" => {
                let mut command = Command::new("node");
                command.arg(scripts.join("node_apn_bench.js")).arg(config).env("NODE_PATH", path);
                command
            }
            _ => {
                let mut command = Command::new(path);
                command.arg(scripts.join("aioapns_bench.py")).arg(config);
                command
            }
        }
    }
}

fn client_run(
    pki: &TestPki,
    key: &ProviderKey,
    mock: &mut RemoteMock,
    payloads: Payloads,
    connections: usize,
    count: u32,
) -> Result<ClientRun, Error> {
    let base = mock.stats()?.accepted;
    let apns = Apns::builder()
        .gateway(&format!("localhost:{}", mock.gateway_addr().port()))
        .ca_pem(pki.ca_cert_pem.as_bytes())
        .token_key(key.private_key_pem.as_bytes(), &key.key_id, &key.team_id)
        .topic(TOPIC)
        .connections(connections)
        .capacity(20_000)
        .queue_capacity(20_000)
        .send_timeout(WAIT)
        .build()?;
    let accepted = Arc::new(AtomicU64::new(0));
    let counted = accepted.clone();
    apns.on_outcome(move |report| {
        if matches!(report.outcome, Outcome::Accepted { .. }) {
            counted.fetch_add(1, Relaxed);
        }
    });
    let token: HexDeviceToken = TOKEN.parse().map_err(|e| Error::new(format!("token: {e}")))?;
    let golden = || Payload::new().alert("Hello World!").sound("default").badge(1);
    let notification = || -> Result<DeviceNotification, Error> {
        let builder = apns.notification(token.clone(), PushType::ALERT, &golden())?;
        builder.build().map_err(|e| Error::new(format!("notification: {e}")))
    };
    let prebuilt = notification()?;
    let rss_before = procfs::rss();
    let peak_reset = procfs::reset_peak_rss();
    let (cpu_before, loop_before, mock_before) = (procfs::cpu_seconds(None), loop_cpu(), mock.cpu_seconds());
    let start = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for _ in 0..count {
        batch.push(match payloads {
            Payloads::Prebuilt => prebuilt.clone(),
            Payloads::PerNotification => notification()?,
        });
        if batch.len() == 1000 {
            apns.send_all(std::mem::replace(&mut batch, Vec::with_capacity(1000)))?;
        }
    }
    apns.send_all(batch)?;
    let (reached, stats) = mock.wait_accepted(base + u64::from(count), WAIT)?;
    let seconds = start.elapsed().as_secs_f64();
    let delta =
        |after: Option<f64>, before: Option<f64>| after.zip(before).map(|(after, before)| after - before);
    let process_cpu_s = delta(procfs::cpu_seconds(None), cpu_before);
    // The loop thread may not have named itself yet when the clock started: it had done
    // nothing then.
    let loop_cpu_s = delta(loop_cpu(), loop_before.or(Some(0.0)));
    let mock_cpu_s = delta(mock.cpu_seconds(), mock_before);
    if !reached {
        return Err(Error::new(format!("the mock accepted only {} of {count}", stats.accepted - base)));
    }
    let summary = apns.close(WAIT);
    let peak_rss = if peak_reset { procfs::peak_rss() } else { None };
    drop(apns);
    if !summary.settled || accepted.load(Relaxed) != u64::from(count) {
        return Err(Error::new(format!(
            "not every notification was reported accepted: {} of {count}",
            accepted.load(Relaxed)
        )));
    }
    Ok(ClientRun {
        payloads,
        connections,
        count,
        seconds,
        per_second: f64::from(count) / seconds,
        process_cpu_s,
        loop_cpu_s,
        per_loop_cpu_s: loop_cpu_s.filter(|cpu| *cpu > 0.0).map(|cpu| f64::from(count) / cpu),
        process_cpu_us_per_notification: process_cpu_s.map(|cpu| cpu * 1e6 / f64::from(count)),
        mock_cpu_s,
        peak_rss,
        rss_before,
        bytes_written_per_notification: summary.counters.bytes_written as f64 / f64::from(count),
    })
}

/// CPU time of this process's `apns-io` threads (the client's event loop), seconds.
fn loop_cpu() -> Option<f64> {
    procfs::threads_cpu_seconds("apns-io")
}
