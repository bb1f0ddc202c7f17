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
        }
    }
}

/// The mock's record, tallied per notification.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TallyReport {
    /// `(n, times accepted)` for every notification `n` in range accepted other than exactly
    /// once (0 for the rejected and the lost, 2 or more for duplicates).
    pub accepted_not_once: Vec<(u32, u32)>,
    /// `(n, status, token hex)` of every rejection of a notification in range.
    pub rejected: Vec<(u32, u8, String)>,
    /// Records of discarded notifications (read after an error or shutdown).
    pub discarded: u64,
    /// Records without `"n"` in their payload (the close's confirmation probes).
    pub other: u64,
    /// Records with an `"n"` out of range.
    pub out_of_range: u64,
    /// Lines that could not be read.
    pub unparsed: u64,
}

/// Counts the mock's JSON-lines record as it is written.
#[derive(Debug, Default)]
struct Tally {
    accepted: Vec<u32>,
    rejected: Vec<(u32, u8, String)>,
    discarded: u64,
    other: u64,
    out_of_range: u64,
    unparsed: u64,
    partial: Vec<u8>,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    token: &'a str,
    payload: String,
    #[serde(borrow)]
    outcome: &'a str,
    status: Option<u8>,
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
            ("rejected", Some(status)) => self.rejected.push((n, status, parsed.token.to_owned())),
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
        let mut child = Command::new(exe)
            .arg("mock")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::new(format!("cannot run {} mock: {e}", exe.display())))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(Error::new("the mock child has no stdin/stdout"));
        };
        let mut remote =
            Self { child, stdin: Some(stdin), stdout: BufReader::new(stdout), gateway: ([0; 4], 0).into() };
        remote.send_line(&serde_json::to_string(spec).map_err(Error::json)?)?;
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
        self.send_line(&serde_json::to_string(request).map_err(Error::json)?)?;
        self.read_reply()
    }

    fn send_line(&mut self, line: &str) -> Result<(), Error> {
        let stdin = self.stdin.as_mut().ok_or_else(|| Error::new("the mock child is stopped"))?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| Error::new(format!("mock child: {e}")))
    }

    fn read_reply<T: DeserializeOwned>(&mut self) -> Result<T, Error> {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).map_err(|e| Error::new(format!("mock child: {e}")))?;
        if n == 0 {
            return Err(Error::new("the mock child exited"));
        }
        serde_json::from_str(&line).map_err(|e| Error::new(format!("mock child said {line:?}: {e}")))
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
    let tally = spec.tally.map(|count| Arc::new(Mutex::new(Tally::new(count))));
    if let Some(tally) = &tally {
        config = config.record_jsonl(TallyWriter(tally.clone()));
    }
    let server = MockServer::start(config).map_err(|e| Error::new(format!("mock: {e}")))?;
    reply(&mut output, &Ready { gateway: server.gateway_addr() })?;
    for line in lines {
        let line = line.map_err(Error::io)?;
        match serde_json::from_str::<Request>(&line).map_err(Error::json)? {
            Request::Stats => reply(&mut output, &RemoteStats::from(server.stats()))?,
            Request::WaitAccepted { n, timeout_ms } => {
                let reached = server.wait_for_accepted(n, Duration::from_millis(timeout_ms));
                reply(&mut output, &Waited { reached, stats: server.stats().into() })?;
            }
            Request::Stop => break,
        }
    }
    let stats = server.stop().into();
    let tally = tally.map(|tally| tally.lock().unwrap_or_else(PoisonError::into_inner).report());
    reply(&mut output, &Stopped { stats, tally, cpu_seconds: procfs::cpu_seconds(None) })
}

fn reply<T: Serialize>(output: &mut impl Write, value: &T) -> Result<(), Error> {
    let line = serde_json::to_string(value).map_err(Error::json)?;
    writeln!(output, "{line}").and_then(|()| output.flush()).map_err(Error::io)
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
        assert_eq!(report.rejected, [(2, 8, "bb".to_owned())]);
        assert_eq!((report.discarded, report.other, report.out_of_range, report.unparsed), (1, 1, 1, 0));
    }

    #[test]
    fn reads_the_index_of_a_payload() {
        assert_eq!(payload_index(r#"{"aps":{"alert":"Hello World!","badge":1},"n":1234}"#), Some(1234));
        assert_eq!(payload_index(r#"{"aps":{}}"#), None);
    }
}
