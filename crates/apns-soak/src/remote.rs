//! The mock gateway in a child process, so that what the client process uses (memory, CPU
//! time, threads, file descriptors) is the client's alone.
//!
//! The parent starts `apns-soak mock` ([`RemoteMock::spawn`]), writes one JSON line with the
//! [`MockSpec`] to its stdin, and reads one JSON line back with the gateway's address. Then each
//! request is one JSON line on stdin and each answer one JSON line on stdout: counters, waiting
//! for a number of accepted notifications, and stop (which returns the final counters, the
//! tally of the mock's record, and the child's CPU time). The child stops when its stdin
//! closes, so it never outlives the parent.
//!
//! The mock's record is its JSON-lines stream ([`MockConfig::record_jsonl`]), tallied in the
//! child as it is written ([`Tally`]): how many times each notification (identified by the
//! custom key `"n"` of its payload) was accepted, and every rejection with its status and token.

use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use apns::binary::Status;
use apns::mock::{DelayRange, MockConfig, MockServer, MockStats};
use apns::DeviceToken;
use apns_mock::http2::{Http2Config, Http2Mock, Http2Stats, ProviderPublicKey, Reason};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{procfs, Error};

/// How the child mock is configured: TLS material, faults, recording.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MockSpec {
    /// The server certificate (PEM).
    pub server_cert_pem: String,
    /// The server key (PEM).
    pub server_key_pem: String,
    /// The CA client certificates must chain to (PEM).
    pub client_ca_pem: String,
    /// Seed of every random choice of the mock.
    pub seed: u64,
    /// Error delay range, milliseconds (min, max).
    pub error_delay_ms: (u64, u64),
    /// Tokens (hex) answered with a status.
    pub reject: Vec<(String, u8)>,
    /// Probability of a silent close after each accepted notification.
    pub drop_probability: f64,
    /// Status 10 (shutdown) after every N accepted on a connection (0: never).
    pub shutdown_every: u64,
    /// Stop reading for `stall_ms` after every N accepted on a connection (0: never).
    pub stall_every: u64,
    /// The stall's length, milliseconds.
    pub stall_ms: u64,
    /// Tally the record for notifications `"n": 0..tally` (`None`: recording off).
    pub tally: Option<u32>,
    /// Run the HTTP/2 mock (`apns_mock::http2`) with these settings instead of the binary one
    /// (whose settings above, but the TLS material, the seed and the tally, are then unused).
    #[serde(default)]
    pub http2: Option<Http2Spec>,
}

/// The HTTP/2 mock's settings and faults (see [`apns_mock::http2::Http2Config`]); counts are
/// per connection, times in milliseconds, 0 is off.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Http2Spec {
    /// Where to listen (`None`: 127.0.0.1, any free port).
    #[serde(default)]
    pub addr: Option<SocketAddr>,
    /// The provider's key: id, team id, PKCS#8 PEM (token auth).
    pub provider_key: Option<(String, String, String)>,
    /// Provider tokens older than this are refused with `ExpiredProviderToken`, seconds.
    pub token_max_age_s: u64,
    /// A connection may change its token this soon after the last change, milliseconds.
    pub token_min_refresh_ms: u64,
    /// Tokens (hex) answered with a reason (by name).
    pub reject: Vec<(String, String)>,
    /// Tokens (hex) answered 410 `Unregistered` with this timestamp (ms).
    pub unregistered: Vec<(String, u64)>,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` (0: the mock's default).
    pub max_concurrent_streams: u32,
    /// GOAWAY after every N requests.
    pub goaway_every: u64,
    /// Drop the connection with streams open at every Nth request.
    pub drop_every: u64,
    /// Drop the connection with streams open at a request with this probability.
    #[serde(default)]
    pub drop_probability: f64,
    /// RST_STREAM(REFUSED_STREAM) for every Nth request.
    pub refuse_stream_every: u64,
    /// Every Nth request answered with this reason (by name).
    pub error_every: (u64, String),
    /// A request answered with this reason (by name) with this probability.
    pub error_probability: (f64, String),
    /// Response latency range, milliseconds.
    pub latency_ms: (u64, u64),
    /// Stop reading for `stall_ms` after every N requests.
    pub stall_every: u64,
    /// The stall's length, milliseconds.
    pub stall_ms: u64,
    /// The stream limit drops to `.1` at every `.0`th request, for `.2` requests.
    pub stream_limit: (u64, u32, u64),
    /// The mock's tokio worker threads (0: its default).
    pub worker_threads: usize,
}

impl MockSpec {
    /// A mock without faults, error delay 0, recording off (for benchmarks).
    pub fn plain(server_cert_pem: &str, server_key_pem: &str, client_ca_pem: &str) -> Self {
        Self {
            server_cert_pem: server_cert_pem.to_owned(),
            server_key_pem: server_key_pem.to_owned(),
            client_ca_pem: client_ca_pem.to_owned(),
            seed: 0,
            error_delay_ms: (0, 0),
            reject: Vec::new(),
            drop_probability: 0.0,
            shutdown_every: 0,
            stall_every: 0,
            stall_ms: 0,
            tally: None,
            http2: None,
        }
    }
}

/// The mock's counters (a serialisable copy of [`MockStats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteStats {
    /// Notifications accepted.
    pub accepted: u64,
    /// Error responses for invalid or rejected notifications.
    pub rejected: u64,
    /// Notifications read after an error or shutdown and thrown away.
    pub discarded: u64,
    /// Gateway connections accepted.
    pub connections: u64,
    /// Silent closes (drop faults).
    pub dropped: u64,
    /// Shutdown responses (status 10).
    pub shutdowns: u64,
    /// Failed TLS handshakes.
    pub handshake_failures: u64,
    /// The HTTP/2 mock's counters, when it is the one running (`accepted` and `connections`
    /// above are then its).
    #[serde(default)]
    pub http2: Option<Http2Stats>,
}

impl From<Http2Stats> for RemoteStats {
    fn from(stats: Http2Stats) -> Self {
        Self {
            accepted: stats.accepted,
            rejected: stats.rejected,
            connections: stats.connections,
            handshake_failures: stats.handshake_failures,
            http2: Some(stats),
            ..Self::default()
        }
    }
}

impl From<MockStats> for RemoteStats {
    fn from(stats: MockStats) -> Self {
        Self {
            accepted: stats.accepted,
            rejected: stats.rejected,
            discarded: stats.discarded,
            connections: stats.connections,
            dropped: stats.dropped,
            shutdowns: stats.shutdowns,
            handshake_failures: stats.handshake_failures,
            http2: None,
        }
    }
}

/// The mock's record, tallied per notification.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TallyReport {
    /// `(n, times accepted)` for every notification `n` in range accepted other than exactly
    /// once (0 for the rejected and the lost, 2 or more for duplicates).
    pub accepted_not_once: Vec<(u32, u32)>,
    /// Every rejection of a notification in range.
    pub rejected: Vec<Rejected>,
    /// Records of notifications read but not processed: binary, read after an error or
    /// shutdown; HTTP/2, answered with an injected fault, refused or dropped.
    pub discarded: u64,
    /// HTTP/2 requests refused for their provider token (`ExpiredProviderToken`,
    /// `TooManyProviderTokenUpdates`): not processed, to be sent again.
    pub token_refusals: u64,
    /// Records without `"n"` in their payload (the close's confirmation probes).
    pub other: u64,
    /// Records with an `"n"` out of range.
    pub out_of_range: u64,
    /// Lines that could not be read.
    pub unparsed: u64,
}

/// One rejection in the mock's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// The notification (`"n"` of its payload).
    pub n: u32,
    /// The status (binary: 1–255; HTTP/2: 400–500).
    pub status: u16,
    /// The device token, hex.
    pub token: String,
    /// The HTTP/2 reason.
    pub reason: Option<String>,
}

/// Counts the mock's JSON-lines record as it is written.
#[derive(Debug, Default)]
struct Tally {
    accepted: Vec<u32>,
    rejected: Vec<Rejected>,
    discarded: u64,
    token_refusals: u64,
    other: u64,
    out_of_range: u64,
    unparsed: u64,
    partial: Vec<u8>,
}

/// A record line of either mock (binary: `MockConfig::record_jsonl`; HTTP/2:
/// `Http2Record::to_json`); other fields are ignored.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    token: Option<&'a str>,
    payload: String,
    #[serde(borrow)]
    outcome: &'a str,
    status: Option<u16>,
    #[serde(borrow, default)]
    reason: Option<&'a str>,
}

impl Tally {
    fn new(count: u32) -> Self {
        Self { accepted: vec![0; count as usize], ..Self::default() }
    }

    fn line(&mut self, line: &[u8]) {
        if line.is_empty() {
            return;
        }
        if contains(line, br#""outcome":"discarded""#) {
            self.discarded += 1;
            return;
        }
        let Ok(parsed) = serde_json::from_slice::<Line<'_>>(line) else {
            self.unparsed += 1;
            return;
        };
        if matches!(parsed.outcome, "fault" | "refused" | "dropped") {
            self.discarded += 1;
            return;
        }
        if matches!(parsed.reason, Some("ExpiredProviderToken" | "TooManyProviderTokenUpdates")) {
            self.token_refusals += 1;
            return;
        }
        let Some(n) = payload_index(&parsed.payload) else {
            self.other += 1;
            return;
        };
        let Some(slot) = self.accepted.get_mut(n as usize) else {
            self.out_of_range += 1;
            return;
        };
        match (parsed.outcome, parsed.status) {
            ("accepted", _) => *slot = slot.saturating_add(1),
            ("rejected", Some(status)) => self.rejected.push(Rejected {
                n,
                status,
                token: parsed.token.unwrap_or_default().to_owned(),
                reason: parsed.reason.map(str::to_owned),
            }),
            _ => self.unparsed += 1,
        }
    }

    fn report(&self) -> TallyReport {
        TallyReport {
            accepted_not_once: (0u32..)
                .zip(&self.accepted)
                .filter(|(_, &times)| times != 1)
                .map(|(n, &times)| (n, times))
                .collect(),
            rejected: self.rejected.clone(),
            discarded: self.discarded,
            token_refusals: self.token_refusals,
            other: self.other,
            out_of_range: self.out_of_range,
            unparsed: self.unparsed + u64::from(!self.partial.is_empty()),
        }
    }
}

/// The value of the custom key `"n"` of a soak payload (`{"aps":{..},"n":123}`).
pub(crate) fn payload_index(payload: &str) -> Option<u32> {
    let (_, rest) = payload.rsplit_once("\"n\":")?;
    let digits = rest.find(|c: char| !c.is_ascii_digit()).map_or(rest, |end| &rest[..end]);
    digits.parse().ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// The `Write` end given to the mock's JSON-lines recorder.
struct TallyWriter(Arc<Mutex<Tally>>);

impl Write for TallyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut tally = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rest = buf;
        if !tally.partial.is_empty() {
            let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                tally.partial.extend_from_slice(rest);
                return Ok(buf.len());
            };
            let mut line = std::mem::take(&mut tally.partial);
            line.extend_from_slice(&rest[..end]);
            tally.line(&line);
            rest = &rest[end + 1..];
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            tally.line(&rest[..end]);
            rest = &rest[end + 1..];
        }
        tally.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
enum Request {
    Stats,
    WaitAccepted { n: u64, timeout_ms: u64 },
    Stop,
}

#[derive(Debug, Serialize, Deserialize)]
struct Ready {
    gateway: SocketAddr,
}

#[derive(Debug, Serialize, Deserialize)]
struct Waited {
    reached: bool,
    stats: RemoteStats,
}

/// What the child reports when it stops.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stopped {
    /// The final counters.
    pub stats: RemoteStats,
    /// The tally of the record (when recording was on).
    pub tally: Option<TallyReport>,
    /// CPU time of the mock process, seconds.
    pub cpu_seconds: Option<f64>,
}

/// The child process running the mock: see the [module docs](self).
#[derive(Debug)]
pub struct RemoteMock {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    gateway: SocketAddr,
}

impl RemoteMock {
    /// Runs `exe mock` (the `apns-soak` binary) and starts the mock described by `spec` in it.
    pub fn spawn(exe: &Path, spec: &MockSpec) -> Result<Self, Error> {
        let mut child = spawn_child(exe, "mock")?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(Error::new("the mock child has no stdin/stdout"));
        };
        let mut remote =
            Self { child, stdin: Some(stdin), stdout: BufReader::new(stdout), gateway: ([0; 4], 0).into() };
        remote.send(spec)?;
        let ready: Ready = remote.read_reply()?;
        remote.gateway = ready.gateway;
        Ok(remote)
    }

    /// The gateway's address.
    pub fn gateway_addr(&self) -> SocketAddr {
        self.gateway
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time of the mock process so far, seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        procfs::cpu_seconds(Some(self.child.id()))
    }

    /// The mock's counters now.
    pub fn stats(&mut self) -> Result<RemoteStats, Error> {
        self.request(&Request::Stats)
    }

    /// Waits until the mock has accepted at least `n` notifications in total (true), or
    /// `timeout` passes (false); with the counters then.
    pub fn wait_accepted(&mut self, n: u64, timeout: Duration) -> Result<(bool, RemoteStats), Error> {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let waited: Waited = self.request(&Request::WaitAccepted { n, timeout_ms })?;
        Ok((waited.reached, waited.stats))
    }

    /// Stops the mock: final counters, the tally of its record, its CPU time.
    pub fn stop(mut self) -> Result<Stopped, Error> {
        let stopped: Stopped = self.request(&Request::Stop)?;
        self.stdin = None;
        let _ = self.child.wait();
        Ok(stopped)
    }

    fn request<T: DeserializeOwned>(&mut self, request: &Request) -> Result<T, Error> {
        self.send(request)?;
        self.read_reply()
    }

    fn send<T: Serialize>(&mut self, value: &T) -> Result<(), Error> {
        let stdin = self.stdin.as_mut().ok_or_else(|| Error::new("the mock child is stopped"))?;
        write_json_line(stdin, value)
    }

    fn read_reply<T: DeserializeOwned>(&mut self) -> Result<T, Error> {
        read_json_line(&mut self.stdout, "mock child")
    }
}

impl Drop for RemoteMock {
    fn drop(&mut self) {
        // Closing stdin stops the child; make sure it is gone.
        self.stdin = None;
        if matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
            if matches!(self.child.try_wait(), Ok(None)) {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

/// The child's side (`apns-soak mock`): reads the spec from `input`, starts the mock, answers
/// requests until `stop` or the end of `input`.
pub fn serve(input: impl BufRead, mut output: impl Write) -> Result<(), Error> {
    let mut lines = input.lines();
    let first = lines.next().ok_or_else(|| Error::new("no mock spec on stdin"))?.map_err(Error::io)?;
    let spec: MockSpec = serde_json::from_str(&first).map_err(Error::json)?;
    let tally = spec.tally.map(|count| Arc::new(Mutex::new(Tally::new(count))));
    let server = match &spec.http2 {
        Some(http2) => Server::Http2(http2_mock(&spec, http2, tally.clone())?),
        None => Server::Binary(binary_mock(&spec, tally.clone())?),
    };
    write_json_line(&mut output, &Ready { gateway: server.addr() })?;
    for line in lines {
        let line = line.map_err(Error::io)?;
        match serde_json::from_str::<Request>(&line).map_err(Error::json)? {
            Request::Stats => write_json_line(&mut output, &server.stats())?,
            Request::WaitAccepted { n, timeout_ms } => {
                let reached = server.wait_accepted(n, Duration::from_millis(timeout_ms));
                write_json_line(&mut output, &Waited { reached, stats: server.stats() })?;
            }
            Request::Stop => break,
        }
    }
    let stats = server.stop();
    let tally = tally.map(|tally| tally.lock().unwrap_or_else(PoisonError::into_inner).report());
    write_json_line(&mut output, &Stopped { stats, tally, cpu_seconds: procfs::cpu_seconds(None) })
}

/// The mock the child runs.
enum Server {
    Binary(MockServer),
    Http2(Http2Mock),
}

impl Server {
    fn addr(&self) -> SocketAddr {
        match self {
            Self::Binary(server) => server.gateway_addr(),
            Self::Http2(mock) => mock.addr(),
        }
    }

    fn stats(&self) -> RemoteStats {
        match self {
            Self::Binary(server) => server.stats().into(),
            Self::Http2(mock) => mock.stats().into(),
        }
    }

    fn wait_accepted(&self, n: u64, timeout: Duration) -> bool {
        match self {
            Self::Binary(server) => server.wait_for_accepted(n, timeout),
            Self::Http2(mock) => mock.wait_for_accepted(n, timeout),
        }
    }

    fn stop(self) -> RemoteStats {
        match self {
            Self::Binary(server) => server.stop().into(),
            Self::Http2(mock) => mock.stop().into(),
        }
    }
}

fn binary_mock(spec: &MockSpec, tally: Option<Arc<Mutex<Tally>>>) -> Result<MockServer, Error> {
    let delay = DelayRange::between(
        Duration::from_millis(spec.error_delay_ms.0),
        Duration::from_millis(spec.error_delay_ms.1),
    );
    let mut config = MockConfig::new(&spec.server_cert_pem, &spec.server_key_pem, &spec.client_ca_pem)
        .error_delay(delay)
        .seed(spec.seed)
        .drop_probability(spec.drop_probability)
        .shutdown_every(spec.shutdown_every)
        .stall_every(spec.stall_every, Duration::from_millis(spec.stall_ms));
    for (hex, status) in &spec.reject {
        let token: DeviceToken = hex.parse().map_err(|e| Error::new(format!("token {hex}: {e}")))?;
        config = config.reject(token, Status(*status));
    }
    if let Some(tally) = tally {
        config = config.record_jsonl(TallyWriter(tally));
    }
    MockServer::start(config).map_err(|e| Error::new(format!("mock: {e}")))
}

fn http2_mock(
    spec: &MockSpec,
    http2: &Http2Spec,
    tally: Option<Arc<Mutex<Tally>>>,
) -> Result<Http2Mock, Error> {
    let ms = Duration::from_millis;
    let reason = |name: &str| Reason::new(name.to_owned());
    let mut config = Http2Config::new(&spec.server_cert_pem, &spec.server_key_pem)
        .client_ca(&spec.client_ca_pem)
        .seed(spec.seed)
        .goaway_every(http2.goaway_every)
        .drop_every(http2.drop_every)
        .drop_probability(http2.drop_probability)
        .refuse_stream_every(http2.refuse_stream_every)
        .error_every(http2.error_every.0, reason(&http2.error_every.1))
        .error_probability(http2.error_probability.0, reason(&http2.error_probability.1))
        .latency(DelayRange::between(ms(http2.latency_ms.0), ms(http2.latency_ms.1)))
        .stall_every(http2.stall_every, ms(http2.stall_ms))
        .stream_limit_every(http2.stream_limit.0, http2.stream_limit.1, http2.stream_limit.2);
    if let Some((key_id, team_id, pem)) = &http2.provider_key {
        let key = ProviderPublicKey::from_pem(pem).map_err(|e| Error::new(format!("provider key: {e}")))?;
        config = config.provider_key(key_id, team_id, key);
    }
    if let Some(addr) = http2.addr {
        config = config.addr(addr);
    }
    if http2.token_max_age_s > 0 {
        config = config.token_max_age(Duration::from_secs(http2.token_max_age_s));
    }
    config = config.token_min_refresh(ms(http2.token_min_refresh_ms));
    if http2.max_concurrent_streams > 0 {
        config = config.max_concurrent_streams(http2.max_concurrent_streams);
    }
    if http2.worker_threads > 0 {
        config = config.worker_threads(http2.worker_threads);
    }
    for (token, name) in &http2.reject {
        config = config.reject(token, reason(name));
    }
    for (token, timestamp) in &http2.unregistered {
        config = config.unregistered(token, *timestamp);
    }
    if let Some(tally) = tally {
        config = config.record_jsonl(TallyWriter(tally));
    }
    Http2Mock::start(config).map_err(|e| Error::new(format!("HTTP/2 mock: {e}")))
}

/// Writes `value` as one JSON line and flushes: the pipe protocol between `apns-soak` and its
/// child processes (the mock, a bench client), both ways.
pub(crate) fn write_json_line<T: Serialize>(output: &mut impl Write, value: &T) -> Result<(), Error> {
    let line = serde_json::to_string(value).map_err(Error::json)?;
    writeln!(output, "{line}").and_then(|()| output.flush()).map_err(Error::io)
}

/// Reads one JSON line from `who` (a child process, named in the errors).
pub(crate) fn read_json_line<T: DeserializeOwned>(input: &mut impl BufRead, who: &str) -> Result<T, Error> {
    let mut line = String::new();
    let n = input.read_line(&mut line).map_err(|e| Error::new(format!("{who}: {e}")))?;
    if n == 0 {
        return Err(Error::new(format!("the {who} exited")));
    }
    serde_json::from_str(&line).map_err(|e| Error::new(format!("{who} said {line:?}: {e}")))
}

/// Runs `exe subcommand` (the `apns-soak` binary) with piped stdin and stdout, for the JSON
/// lines.
pub(crate) fn spawn_child(exe: &Path, subcommand: &str) -> Result<Child, Error> {
    Command::new(exe)
        .arg(subcommand)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::new(format!("cannot run {} {subcommand}: {e}", exe.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_split_lines() {
        let tally = Arc::new(Mutex::new(Tally::new(4)));
        let mut writer = TallyWriter(tally.clone());
        let lines = [
            r#"{"conn":1,"id":1,"token":"aa","payload":"{\"aps\":{},\"n\":0}","expiry":0,"priority":10,"outcome":"accepted","status":null}"#,
            r#"{"conn":1,"id":2,"token":"bb","payload":"{\"aps\":{},\"n\":2}","expiry":0,"priority":10,"outcome":"rejected","status":8}"#,
            r#"{"conn":1,"id":3,"token":"aa","payload":"{\"aps\":{},\"n\":3}","expiry":0,"priority":10,"outcome":"discarded","status":null}"#,
            r#"{"conn":2,"id":1,"token":"aa","payload":"{\"aps\":{},\"n\":3}","expiry":0,"priority":10,"outcome":"accepted","status":null}"#,
            r#"{"conn":2,"id":2,"token":"aa","payload":"{\"aps\":{},\"n\":3}","expiry":0,"priority":10,"outcome":"accepted","status":null}"#,
            r#"{"conn":2,"id":3,"token":"","payload":"","expiry":0,"priority":10,"outcome":"rejected","status":2}"#,
            r#"{"conn":2,"id":4,"token":"aa","payload":"{\"n\":9}","expiry":0,"priority":10,"outcome":"accepted","status":null}"#,
        ];
        let text = lines.join("\n") + "\n";
        for chunk in text.as_bytes().chunks(7) {
            writer.write_all(chunk).unwrap();
        }
        let report = tally.lock().unwrap().report();
        assert_eq!(report.accepted_not_once, [(1, 0), (2, 0), (3, 2)]);
        assert_eq!(report.rejected, [Rejected { n: 2, status: 8, token: "bb".to_owned(), reason: None }]);
        assert_eq!((report.discarded, report.other, report.out_of_range, report.unparsed), (1, 1, 1, 0));
    }

    #[test]
    fn reads_the_index_of_a_payload() {
        assert_eq!(payload_index(r#"{"aps":{"alert":"Hello World!","badge":1},"n":1234}"#), Some(1234));
        assert_eq!(payload_index(r#"{"aps":{}}"#), None);
    }
}
