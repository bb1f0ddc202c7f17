//! The HTTP/2 benchmark (`apns-soak bench --http2`): our HTTP/2 client against the HTTP/2 mock
//! (in a child process, no faults, recording off, token auth) on loopback, then the peers
//! against the same mock in the same run: `a2` (Rust), `@parse/node-apn` (Node.js), `aioapns`
//! (Python), and `curl --http2 --parallel` as a floor (no client library at all).
//!
//! Each run of ours: a fresh client (the `apns` facade: [`Apns`]) with 1 or 4 connections (up to 1,000 streams each, as the
//! mock allows), `count` notifications to one device token; the clock runs from the first send
//! until the mock has counted the last one accepted, then a graceful close confirms every
//! report `Accepted`. Payloads are either prebuilt (one notification built once, cloned per
//! send: the token, topic and encoded payload are shared) or built per notification in the
//! timed loop (`Apns::notification`: the payload builder, JSON, the size check, the topic). The
//! payload is `{"aps":{"alert":"Hello World!","sound":"default","badge":1}}` for every client.
//!
//! Each run of ours is a child process of its own (`apns-soak bench-client`, [`serve_client`]),
//! so that its peak resident memory is its alone: in one process, each run started from what
//! the runs before it had left to the allocator.
//!
//! Measured: notifications per second; CPU time of the run's whole process and of the client's
//! loop thread (`apns-io`) per notification (read from `/proc` by this process); peak resident
//! memory of the run's process. A peer: its rate
//! (from its first send until the mock accepted its last notification) and its process's CPU
//! time. A peer that cannot run is reported as skipped and the benchmark goes on.
//!
//! How the peers reach the mock: node-apn by its documented `address`, `port` and `ca`
//! options; aioapns by its protocol classes' host and port constants (it knows only Apple's
//! hosts) and an SSL context trusting the test CA; a2 knows only Apple's hosts on port 443 and
//! trusts only its compiled-in roots, so its peer project (`xtask/peers/a2`) replaces
//! `webpki-roots` by the test CA, and it runs in a private mount namespace whose `/etc/hosts`
//! maps `api.push.apple.com` to 127.0.0.1, where the mock then listens on port 443. curl reaches
//! `localhost` (a name of the test certificate) with `--cacert`; it runs under
//! `apns-soak wrap-peer` ([`wrap_peer`]), which says when it starts and how much CPU it used.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use apns::mock::{ProviderKey, TestPki};
use apns::{Apns, DeviceNotification, HexDeviceToken, Outcome, Payload, PushType};
use apns_auth::{KeyId, SigningKey, TeamId, TokenSigner};
use serde::{Deserialize, Serialize};

use crate::bench::{timed_peer, Payloads};
use crate::remote::{read_json_line, spawn_child, write_json_line, Http2Spec, MockSpec, RemoteMock};
use crate::{procfs, Error};

const WAIT: Duration = Duration::from_secs(300);
const TOPIC: &str = "com.example.mock";
/// The payload every client sends (ours builds it with `Payload`; this text for curl).
const PAYLOAD: &str = r#"{"aps":{"alert":"Hello World!","sound":"default","badge":1}}"#;
/// curl's transfers at once (`--parallel-max`; curl allows at most 300).
const CURL_PARALLEL: u32 = 100;
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
    /// Our client's capacity (notifications held: queued, in flight, unread reports).
    pub capacity: usize,
    /// Our client's send queue (notifications between the caller and the loop).
    pub queue_capacity: usize,
    /// The a2 peer's binary (`xtask/peers/a2`, built by xtask), and how many it sends.
    pub a2: Option<(PathBuf, u32)>,
    /// `node_modules` with `@parse/node-apn`, and how many it sends.
    pub node_apn: Option<(PathBuf, u32)>,
    /// A python with `aioapns`, and how many it sends.
    pub aioapns: Option<(PathBuf, u32)>,
    /// A `curl` with HTTP/2 (the floor: one command line, no client library), and how many it
    /// sends.
    pub curl: Option<(PathBuf, u32)>,
    /// The `apns-soak` executable (the mock's and each client run's child process).
    pub mock_exe: PathBuf,
}

/// One run of our client.
#[derive(Debug, Clone, Serialize)]
pub struct ClientRun {
    /// Payload mode.
    pub payloads: Payloads,
    /// Connections.
    pub connections: usize,
    /// The client's capacity.
    pub capacity: usize,
    /// The client's send queue.
    pub queue_capacity: usize,
    /// Notifications.
    pub count: u32,
    /// Until the mock accepted the last one, seconds.
    pub seconds: f64,
    /// Notifications per second.
    pub per_second: f64,
    /// CPU time of the run's process over the run, seconds.
    pub process_cpu_s: Option<f64>,
    /// CPU time of the client's loop thread over the run, seconds.
    pub loop_cpu_s: Option<f64>,
    /// Notifications per CPU-second of the loop thread.
    pub per_loop_cpu_s: Option<f64>,
    /// Process CPU per notification, microseconds.
    pub process_cpu_us_per_notification: Option<f64>,
    /// CPU time of the mock over the run, seconds.
    pub mock_cpu_s: Option<f64>,
    /// Peak resident memory of the run's process (a fresh child per run: its whole life, this
    /// run alone), bytes.
    pub peak_rss: Option<u64>,
    /// Resident memory of the run's process when the clock started (client built, nothing
    /// sent), bytes.
    pub rss_before: Option<u64>,
    /// TLS bytes written per notification.
    pub bytes_written_per_notification: f64,
}

/// One peer's run.
#[derive(Debug, Clone, Serialize)]
pub struct PeerRun {
    /// `a2`, `node-apn`, `aioapns` or `curl`.
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
            let spec = ClientSpec {
                port: mock.gateway_addr().port(),
                ca_pem: pki.ca_cert_pem.clone(),
                provider_key: (key.key_id.clone(), key.team_id.clone(), key.private_key_pem.clone()),
                payloads,
                connections,
                count: config.count,
                capacity: config.capacity,
                queue_capacity: config.queue_capacity,
            };
            let run = client_run(&config.mock_exe, &spec, &mut mock)?;
            println!("{}", serde_json::json!({ "bench": "http2", "client": "apns-rs", "run": run }));
            report.ours.push(run);
        }
    }
    let dir = std::env::temp_dir().join(format!("apns-soak-h2-peers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(Error::io)?;
    let files = PeerFiles::write(&dir, &pki, &key)?;
    let peers: [(&'static str, Option<(PathBuf, u32)>); 4] = [
        ("a2", a2),
        ("node-apn", config.node_apn.clone()),
        ("aioapns", config.aioapns.clone()),
        ("curl", config.curl.clone()),
    ];
    for (peer, setup) in peers {
        let Some((path, count)) = setup else {
            if !report.skipped.iter().any(|(name, _)| name == peer) {
                report.skipped.push((peer.to_owned(), "not installed (not given)".to_owned()));
            }
            continue;
        };
        let command = match peer {
            "curl" => match files.curl_command(&config.mock_exe, &path, mock.gateway_addr(), count) {
                Ok(command) => command,
                Err(error) => {
                    report.skipped.push((peer.to_owned(), error.to_string()));
                    continue;
                }
            },
            _ => files.command(peer, &path, mock.gateway_addr(), count),
        };
        let base = mock.stats()?.accepted;
        match timed_peer(command, &mut mock, base, count, peer) {
            Ok(timed) => {
                // curl runs under `apns-soak wrap-peer`, which says curl's CPU time: the
                // process timed here is the wrapper, idle.
                let cpu_s = timed.done["cpu_s"].as_f64().or(timed.cpu_s);
                let run = PeerRun {
                    peer,
                    count,
                    seconds: timed.seconds,
                    per_second: f64::from(count) / timed.seconds,
                    cpu_s,
                    cpu_us_per_notification: cpu_s.map(|cpu| cpu * 1e6 / f64::from(count)),
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
    /// A provider token for curl, which cannot sign one (a test key's).
    jwt: String,
}

impl PeerFiles {
    fn write(dir: &Path, pki: &TestPki, key: &ProviderKey) -> Result<Self, Error> {
        let (ca, key_file) = (dir.join("ca.pem"), dir.join("provider.p8"));
        std::fs::write(&ca, &pki.ca_cert_pem).map_err(Error::io)?;
        std::fs::write(&key_file, &key.private_key_pem).map_err(Error::io)?;
        let hosts = format!("127.0.0.1 localhost\n::1 localhost\n127.0.0.1 {}\n", APPLE_HOSTS.join(" "));
        std::fs::write(dir.join("hosts"), hosts).map_err(Error::io)?;
        let signer = TokenSigner::new(
            SigningKey::from_p8_pem(key.private_key_pem.as_bytes())
                .map_err(|e| Error::new(format!("provider key: {e}")))?,
            KeyId::new(&key.key_id).map_err(|e| Error::new(format!("key id: {e}")))?,
            TeamId::new(&key.team_id).map_err(|e| Error::new(format!("team id: {e}")))?,
        );
        let token = signer.sign(SystemTime::now()).map_err(|e| Error::new(format!("provider token: {e}")))?;
        Ok(Self {
            dir: dir.to_owned(),
            ca,
            key: key_file,
            key_id: key.key_id.clone(),
            team_id: key.team_id.clone(),
            jwt: token.expose_jwt().to_owned(),
        })
    }

    /// The command that runs `curl` (at `path`) against the mock at `addr`, under
    /// `apns-soak wrap-peer` (see [`wrap_peer`]): one `curl --http2 --parallel` with `count`
    /// requests in a config file (`-K`, written here, before the clock starts), each the same
    /// `POST /3/device/<token>` with the provider token, topic, push type and the payload the
    /// other clients send, its response body to `/dev/null`. An error if `path` is no curl with
    /// HTTP/2 (the peer is then skipped).
    fn curl_command(&self, exe: &Path, path: &Path, addr: SocketAddr, count: u32) -> Result<Command, Error> {
        let version = Command::new(path)
            .arg("--version")
            .output()
            .map_err(|e| Error::new(format!("not installed ({}: {e})", path.display())))?;
        let version = String::from_utf8_lossy(&version.stdout).into_owned();
        let features = version.lines().find_map(|line| line.strip_prefix("Features:")).unwrap_or_default();
        if !features.split_whitespace().any(|feature| feature == "HTTP2") {
            return Err(Error::new(format!("{} has no HTTP/2 ({version:?})", path.display())));
        }
        let quoted = |text: &str| format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""));
        let url = quoted(&format!("https://localhost:{}/3/device/{TOKEN}", addr.port()));
        let mut file = format!(
            "http2\ncacert = {}\nheader = {}\nheader = {}\nheader = {}\ndata-binary = {}\n",
            quoted(&self.ca.to_string_lossy()),
            quoted(&format!("authorization: bearer {}", self.jwt)),
            quoted(&format!("apns-topic: {TOPIC}")),
            quoted("apns-push-type: alert"),
            quoted(PAYLOAD),
        );
        for _ in 0..count {
            file.push_str("url = ");
            file.push_str(&url);
            file.push_str("\noutput = \"/dev/null\"\n");
        }
        let config = self.dir.join("curl.conf");
        std::fs::write(&config, file).map_err(Error::io)?;
        let mut command = Command::new(exe);
        command
            .arg("wrap-peer")
            .arg(path)
            // Errors shown, no progress meter (in curl 7.88's parallel mode `--silent` does not
            // stop it once the config file sets an option).
            .args(["--no-progress-meter", "--parallel", "--parallel-max", &CURL_PARALLEL.to_string(), "-K"])
            .arg(config);
        Ok(command)
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

fn client_run(exe: &Path, spec: &ClientSpec, mock: &mut RemoteMock) -> Result<ClientRun, Error> {
    let base = mock.stats()?.accepted;
    let mut child = spawn_child(exe, "bench-client")?;
    let result = drive_client(&mut child, spec, mock, base);
    if result.is_err() {
        let _ = child.kill();
    }
    let _ = child.wait();
    result
}

/// The parent's side of one client run in the child `child`: see [`serve_client`].
fn drive_client(
    child: &mut Child,
    spec: &ClientSpec,
    mock: &mut RemoteMock,
    base: u64,
) -> Result<ClientRun, Error> {
    let pid = child.id();
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(Error::new("the client child has no stdin/stdout"));
    };
    let mut stdout = BufReader::new(stdout);
    write_json_line(&mut stdin, spec)?;
    let started: ClientStarted = read_json_line(&mut stdout, "client child")?;
    let (cpu_before, loop_before, mock_before) =
        (procfs::cpu_seconds(Some(pid)), loop_cpu(pid), mock.cpu_seconds());
    let start = Instant::now();
    let count = spec.count;
    let target = base + u64::from(count);
    loop {
        let (reached, stats) = mock.wait_accepted(target, Duration::from_millis(500))?;
        if reached {
            break;
        }
        let accepted = stats.accepted - base;
        if let Some(status) = child.try_wait().map_err(Error::io)? {
            return Err(Error::new(format!("the client child exited ({status}) at {accepted} of {count}")));
        }
        if start.elapsed() > WAIT {
            return Err(Error::new(format!("the mock accepted only {accepted} of {count}")));
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let delta =
        |after: Option<f64>, before: Option<f64>| after.zip(before).map(|(after, before)| after - before);
    let process_cpu_s = delta(procfs::cpu_seconds(Some(pid)), cpu_before);
    // The loop thread may not have named itself yet when the clock started: it had done
    // nothing then.
    let loop_cpu_s = delta(loop_cpu(pid), loop_before.or(Some(0.0)));
    let mock_cpu_s = delta(mock.cpu_seconds(), mock_before);
    stdin.write_all(b"close\n").and_then(|()| stdin.flush()).map_err(Error::io)?;
    let done: ClientDone = read_json_line(&mut stdout, "client child")?;
    if !done.settled || done.accepted != u64::from(count) {
        return Err(Error::new(format!(
            "not every notification was reported accepted: {} of {count}",
            done.accepted
        )));
    }
    Ok(ClientRun {
        payloads: spec.payloads,
        connections: spec.connections,
        capacity: spec.capacity,
        queue_capacity: spec.queue_capacity,
        count,
        seconds,
        per_second: f64::from(count) / seconds,
        process_cpu_s,
        loop_cpu_s,
        per_loop_cpu_s: loop_cpu_s.filter(|cpu| *cpu > 0.0).map(|cpu| f64::from(count) / cpu),
        process_cpu_us_per_notification: process_cpu_s.map(|cpu| cpu * 1e6 / f64::from(count)),
        mock_cpu_s,
        peak_rss: done.peak_rss,
        rss_before: started.rss,
        bytes_written_per_notification: done.bytes_written as f64 / f64::from(count),
    })
}

/// One client run, as the parent asks a client child for it (one JSON line on its stdin).
#[derive(Clone, Serialize, Deserialize)]
struct ClientSpec {
    /// The mock's port on 127.0.0.1 (reached as `localhost`).
    port: u16,
    /// The test CA (PEM).
    ca_pem: String,
    /// The provider key: id, team id, PKCS#8 PEM (a test key, generated per bench).
    provider_key: (String, String, String),
    payloads: Payloads,
    connections: usize,
    count: u32,
    capacity: usize,
    queue_capacity: usize,
}

/// What the client child says when it has built its client, just before its first send.
#[derive(Serialize, Deserialize)]
struct ClientStarted {
    /// Its resident memory then, bytes.
    rss: Option<u64>,
}

/// What the client child says after its graceful close.
#[derive(Serialize, Deserialize)]
struct ClientDone {
    /// The close settled every notification.
    settled: bool,
    /// Notifications reported `Accepted`.
    accepted: u64,
    /// TLS bytes the client wrote.
    bytes_written: u64,
    /// Its peak resident memory (`VmHWM`): the whole life of the child, this run alone.
    peak_rss: Option<u64>,
}

/// The client child's side (`apns-soak bench-client`), so that each run's peak resident
/// memory is its own (in one process, later runs start from what earlier runs left to the
/// allocator): reads one `ClientSpec` line from `input`, builds the client, says
/// `ClientStarted` and sends; then waits for a `close` line (the parent's clock has stopped
/// when the mock counted the last one), closes gracefully and says `ClientDone`. The parent
/// reads this process's CPU time and its loop thread's from `/proc` meanwhile.
pub fn serve_client(input: impl BufRead, mut output: impl Write) -> Result<(), Error> {
    let mut lines = input.lines();
    let first = lines.next().ok_or_else(|| Error::new("no client spec on stdin"))?.map_err(Error::io)?;
    let spec: ClientSpec = serde_json::from_str(&first).map_err(Error::json)?;
    let (key_id, team_id, key_pem) = &spec.provider_key;
    let apns = Apns::builder()
        .gateway(&format!("localhost:{}", spec.port))
        .ca_pem(spec.ca_pem.as_bytes())
        .token_key(key_pem.as_bytes(), key_id, team_id)
        .topic(TOPIC)
        .connections(spec.connections)
        .capacity(spec.capacity)
        .queue_capacity(spec.queue_capacity)
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
    write_json_line(&mut output, &ClientStarted { rss: procfs::rss() })?;
    let mut batch = Vec::with_capacity(1000);
    for _ in 0..spec.count {
        batch.push(match spec.payloads {
            Payloads::Prebuilt => prebuilt.clone(),
            Payloads::PerNotification => notification()?,
        });
        if batch.len() == 1000 {
            apns.send_all(std::mem::replace(&mut batch, Vec::with_capacity(1000)))?;
        }
    }
    apns.send_all(batch)?;
    match lines.next() {
        Some(Ok(line)) if line.trim() == "close" => {}
        other => return Err(Error::new(format!("expected close on stdin, got {other:?}"))),
    }
    let summary = apns.close(WAIT);
    let peak_rss = procfs::peak_rss();
    drop(apns);
    write_json_line(
        &mut output,
        &ClientDone {
            settled: summary.settled,
            accepted: accepted.load(Relaxed),
            bytes_written: summary.counters.bytes_written,
            peak_rss,
        },
    )
}

/// One JSON line to a child or the parent.
/// CPU time of the `apns-io` threads (the client's event loop) of process `pid`, seconds.
fn loop_cpu(pid: u32) -> Option<f64> {
    procfs::threads_cpu_seconds(Some(pid), "apns-io")
}

/// `apns-soak wrap-peer PROGRAM ARGS...`: runs a peer that speaks no JSON lines (curl) the way
/// `bench::timed_peer` expects a driver to: says `{"event":"start"}`, runs the program to its end,
/// then says `{"event":"done","exit","cpu_s","seconds","stderr_lines","first_error"}`, where
/// `cpu_s` is the program's CPU time (user + system over its whole life, read as this
/// process's waited-for children's).
pub fn wrap_peer(args: &[String], mut output: impl Write) -> Result<(), Error> {
    let (program, args) = args.split_first().ok_or_else(|| Error::new("wrap-peer: no program"))?;
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    write_json_line(&mut output, &serde_json::json!({ "event": "start" }))?;
    let start = Instant::now();
    let mut child = command.spawn().map_err(|e| Error::new(format!("cannot run {program}: {e}")))?;
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        // A failing transfer says so on a line of its own: all of them would flood the bench.
        let _ = pipe.read_to_string(&mut stderr);
    }
    let status = child.wait().map_err(Error::io)?;
    write_json_line(
        &mut output,
        &serde_json::json!({
            "event": "done",
            "exit": status.code(),
            "cpu_s": procfs::waited_children_cpu_seconds(),
            "seconds": start.elapsed().as_secs_f64(),
            "stderr_lines": stderr.lines().count(),
            "first_error": stderr.lines().next(),
        }),
    )
}
