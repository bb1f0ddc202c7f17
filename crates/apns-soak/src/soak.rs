//! The soak: many notifications through the facade, every fault at once, then the mock's record
//! checked against the client's outcomes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use apns::binary::{
    BinaryApns as Apns, BinaryNotification as Notification, BinaryOutcome as Outcome, BinaryReport as Report,
    Status,
};
use apns::mock::TestPki;
use apns::{DeviceToken, Endpoint, Identity, Payload, PayloadLimit};
use serde::Serialize;

use crate::remote::{MockSpec, RemoteMock, Stopped};
use crate::{procfs, rng, Error};

const MIB: u64 = 1024 * 1024;

/// What a soak run does. [`SoakConfig::new`] gives the full run of the issue (1,000,000
/// notifications); every field can be changed.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// Notifications sent (each with its own payload, `{"aps":{..},"n":<index>}`, and its
    /// index as identifier).
    pub count: u32,
    /// Seed of the tokens, of which are rejected, and of every random choice of the mock.
    pub seed: u64,
    /// Gateway connections of the client.
    pub connections: usize,
    /// Distinct device tokens; each notification goes to one drawn from the seed.
    pub tokens: u32,
    /// Fraction of the tokens the mock rejects (with statuses 2 to 8).
    pub reject_fraction: f64,
    /// The mock's delay before an error response: drawn between these.
    pub error_delay: (Duration, Duration),
    /// Probability of a silent close after each accepted notification.
    pub drop_probability: f64,
    /// Status 10 (shutdown) after every N accepted on one connection (0: never).
    pub shutdown_every: u64,
    /// A stall (the mock reads nothing) after every N accepted on one connection (0: never).
    pub stall_every: u64,
    /// How long a stall lasts.
    pub stall: Duration,
    /// The bound on the peak resident memory of this process (`VmHWM`), bytes.
    pub memory_bound: u64,
    /// Notifications built and handed to the gateway at a time.
    pub batch: usize,
    /// The client's sent-notification buffer per connection (the library's defaults unless
    /// changed).
    pub resend: apns::binary::resend::Config,
    /// How long the final graceful close may take. It returns as soon as everything is settled;
    /// with 1 % rejected and Apple's delays the client settles only about 900 notifications per
    /// second on 4 connections, and up to 4 × 40,000 + 10,000 notifications are still buffered
    /// when the last send returns, so allow minutes.
    pub close_timeout: Duration,
    /// The `apns-soak` executable, run as `apns-soak mock` for the mock's child process.
    pub mock_exe: PathBuf,
}

impl SoakConfig {
    /// The run the issue asks for: 1,000,000 notifications on 4 connections; 1 % of the
    /// notifications to rejected tokens, answered after 100–800 ms (Apple's delays); a silent
    /// close after each accepted notification with probability 1/20,000; a shutdown (status 10)
    /// after every 400 accepted on one connection; a 2.5 s stall (a slow reader: longer than
    /// `max_age`) after every 300; peak memory
    /// under 64 MiB.
    ///
    /// With 1 % rejected, a connection accepts about 100 notifications between two error
    /// responses, so per-connection counts stay small: every 300 and 400 make stalls and
    /// shutdowns happen on a few percent of the connections. And the run takes about
    /// `count × 1 % × 450 ms / connections` (≈ 19 min for 1,000,000): each rejection halts its
    /// connection for the error delay, as it did with Apple.
    pub fn new(mock_exe: impl Into<PathBuf>) -> Self {
        Self {
            count: 1_000_000,
            seed: 1,
            connections: 4,
            tokens: 10_000,
            reject_fraction: 0.01,
            error_delay: (Duration::from_millis(100), Duration::from_millis(800)),
            drop_probability: 1.0 / 20_000.0,
            shutdown_every: 400,
            stall_every: 300,
            // A slow reader: longer than `max_age`, so presumption would claim unread ones.
            stall: Duration::from_millis(2_500),
            memory_bound: 64 * MIB,
            batch: 1000,
            resend: apns::binary::resend::Config::default(),
            close_timeout: Duration::from_secs(1800),
            mock_exe: mock_exe.into(),
        }
    }
}

/// What a soak run found. [`violations`](Self::violations) is empty when every invariant held.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// Notifications sent.
    pub count: u32,
    /// Seed.
    pub seed: u64,
    /// Connections.
    pub connections: usize,
    /// Not rejected, and never accepted by the mock.
    pub lost: u64,
    /// Notifications the mock accepted more than once.
    pub duplicates: u64,
    /// Extra deliveries (sum of accepted times minus one over the duplicates).
    pub duplicate_deliveries: u64,
    /// Notifications the client reported as possible duplicates
    /// ([`Counters::possible_duplicates`](apns::binary::Counters::possible_duplicates)).
    pub possible_duplicates_reported: u64,
    /// Notifications to rejected tokens.
    pub rejected_expected: u64,
    /// Of those, reported rejected by the client with the mock's status, the right token and
    /// identifier.
    pub rejected_reported: u64,
    /// Reported accepted after an error response or confirmation proved it.
    pub accepted: u64,
    /// Reported accepted because no error came within `max_age`.
    pub presumed_accepted: u64,
    /// Reported failed.
    pub failed: u64,
    /// Writes again ([`Counters::resent`](apns::binary::Counters::resent)).
    pub resent: u64,
    /// Silent closes seen by the client.
    pub silent_closes: u64,
    /// Error responses seen by the client (rejections, shutdowns, confirmations).
    pub error_responses: u64,
    /// The mock's counters.
    pub mock: crate::remote::RemoteStats,
    /// CPU time of the mock's process, seconds.
    pub mock_cpu_s: Option<f64>,
    /// CPU time of this process (the client), seconds.
    pub client_cpu_s: Option<f64>,
    /// Peak resident memory of this process (`VmHWM`), bytes.
    pub peak_rss: u64,
    /// The bound it was checked against, bytes.
    pub memory_bound: u64,
    /// Threads of this process before building the client and after dropping it.
    pub threads: (usize, usize),
    /// Open file descriptors before and after.
    pub fds: (usize, usize),
    /// From the first send to the end of the graceful close, seconds.
    pub elapsed_s: f64,
    /// Every invariant that did not hold, in words.
    pub violations: Vec<String>,
}

impl SoakReport {
    /// Whether every invariant held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The summary as one JSON line.
    pub fn to_json(&self) -> String {
        let mib = |bytes: u64| (bytes as f64 / MIB as f64 * 10.0).round() / 10.0;
        serde_json::json!({
            "soak": if self.passed() { "passed" } else { "FAILED" },
            "count": self.count,
            "seed": self.seed,
            "connections": self.connections,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "possible_duplicates_reported": self.possible_duplicates_reported,
            "rejected_expected": self.rejected_expected,
            "rejected_reported": self.rejected_reported,
            "resent": self.resent,
            "failed": self.failed,
            "presumed_accepted": self.presumed_accepted,
            "silent_closes": self.silent_closes,
            "mock_dropped": self.mock.dropped,
            "mock_shutdowns": self.mock.shutdowns,
            "mock_rejected": self.mock.rejected,
            "mock_discarded": self.mock.discarded,
            "mock_connections": self.mock.connections,
            "peak_rss_mib": mib(self.peak_rss),
            "memory_bound_mib": mib(self.memory_bound),
            "threads": [self.threads.0, self.threads.1],
            "fds": [self.fds.0, self.fds.1],
            "client_cpu_s": self.client_cpu_s,
            "mock_cpu_s": self.mock_cpu_s,
            "elapsed_s": (self.elapsed_s * 100.0).round() / 100.0,
            "violations": self.violations,
        })
        .to_string()
    }
}

/// The device tokens of a run, and which the mock rejects with which status.
#[derive(Debug)]
struct Tokens {
    seed: u64,
    tokens: Vec<DeviceToken>,
    /// The status of each rejected token (the first `rejected.len()` tokens).
    rejected: Vec<Status>,
}

impl Tokens {
    fn new(seed: u64, count: u32, fraction: f64) -> Self {
        let count = count.max(1);
        let mut rng = rng(seed, 1);
        let tokens = (0..count)
            .map(|_| {
                let mut bytes = [0u8; 32];
                for chunk in bytes.chunks_mut(8) {
                    chunk.copy_from_slice(&rng.u64(..).to_be_bytes());
                }
                DeviceToken::new(bytes)
            })
            .collect();
        let bad = ((f64::from(count) * fraction.clamp(0.0, 1.0)).round() as usize).min(count as usize);
        // Every permanent status, 8 (invalid token) most often.
        const STATUSES: [u8; 10] = [8, 8, 8, 8, 2, 3, 4, 5, 6, 7];
        let rejected = (0..bad).map(|i| Status(STATUSES[i % STATUSES.len()])).collect();
        Self { seed, tokens, rejected }
    }

    fn index(&self, n: u32) -> usize {
        let draw = rng(self.seed, 0x70ce_0000_0000 + u64::from(n)).u64(..);
        (draw % self.tokens.len() as u64) as usize
    }

    fn token(&self, n: u32) -> DeviceToken {
        self.tokens[self.index(n)]
    }

    fn rejection(&self, n: u32) -> Option<Status> {
        self.rejected.get(self.index(n)).copied()
    }
}

/// What the client reported for each notification, one byte each.
#[derive(Debug)]
struct Ledger {
    entries: Vec<u8>,
    rejected: HashMap<u32, u8>,
    unknown: u64,
}

const ACCEPTED: u8 = 1;
const PRESUMED: u8 = 2;
const REJECTED: u8 = 3;
const FAILED: u8 = 4;
const KIND: u8 = 0x0f;
const POSSIBLE_DUPLICATE: u8 = 0x10;
const REPORTED_TWICE: u8 = 0x20;
const WRONG_TOKEN: u8 = 0x40;

impl Ledger {
    fn record(&mut self, report: &Report, tokens: &Tokens) {
        let n = report.id.0;
        let Some(entry) = self.entries.get_mut(n as usize) else {
            self.unknown += 1;
            return;
        };
        let kind = match report.outcome {
            Outcome::Accepted => ACCEPTED,
            Outcome::PresumedAccepted => PRESUMED,
            Outcome::Rejected(status) => {
                self.rejected.insert(n, status.0);
                REJECTED
            }
            _ => FAILED,
        };
        if *entry & KIND == 0 {
            *entry |= kind;
        } else {
            *entry |= REPORTED_TWICE;
        }
        if report.possible_duplicate() {
            *entry |= POSSIBLE_DUPLICATE;
        }
        if report.token != tokens.token(n) {
            *entry |= WRONG_TOKEN;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs a soak: see the [crate docs](crate). Returns an error only when the run itself could not
/// be carried out; broken invariants are listed in [`SoakReport::violations`].
pub fn run(config: &SoakConfig) -> Result<SoakReport, Error> {
    let pki = TestPki::generate().map_err(|e| Error::new(format!("test PKI: {e}")))?;
    let tokens = Arc::new(Tokens::new(config.seed, config.tokens, config.reject_fraction));
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let spec = MockSpec {
        seed: config.seed,
        error_delay_ms: (millis(config.error_delay.0), millis(config.error_delay.1)),
        reject: tokens
            .rejected
            .iter()
            .zip(&tokens.tokens)
            .map(|(status, token)| (token.to_string(), status.0))
            .collect(),
        drop_probability: config.drop_probability,
        shutdown_every: config.shutdown_every,
        stall_every: config.stall_every,
        stall_ms: millis(config.stall),
        tally: Some(config.count),
        ..MockSpec::plain(&pki.server_cert_pem, &pki.server_key_pem, &pki.ca_cert_pem)
    };
    let mock = RemoteMock::spawn(&config.mock_exe, &spec)?;

    let threads_before = procfs::threads().map_err(Error::io)?;
    let fds_before = procfs::fds().map_err(Error::io)?;
    let cpu_before = procfs::cpu_seconds(None);
    let ledger = Arc::new(Mutex::new(Ledger {
        entries: vec![0; config.count as usize],
        rejected: HashMap::new(),
        unknown: 0,
    }));

    let start = Instant::now();
    let identity = Identity::from_pem(pki.client_cert_pem.as_bytes(), pki.client_key_pem.as_bytes())
        .map_err(|e| Error::new(format!("client identity: {e}")))?;
    let apns = Apns::builder()
        .gateway_endpoint(Endpoint::at("localhost", mock.gateway_addr()))
        .feedback_endpoint(Endpoint::at("localhost", mock.gateway_addr()))
        .ca_pem(pki.ca_cert_pem.as_bytes())
        .identity(identity)
        .connections(config.connections)
        .send_timeout(Duration::from_secs(600))
        .resend(config.resend.clone())
        .build()?;
    let gateway = apns.gateway();
    {
        let ledger = ledger.clone();
        let tokens = tokens.clone();
        gateway.on_outcome(move |report| lock(&ledger).record(report, &tokens));
    }
    let mut batch = Vec::with_capacity(config.batch.max(1));
    for n in 0..config.count {
        let payload = Payload::new()
            .alert("Hello World!")
            .sound("default")
            .badge(1)
            .custom("n", n)?
            .encode(PayloadLimit::BINARY)?;
        batch.push(Notification::new(tokens.token(n), payload).with_id(n));
        if batch.len() >= config.batch.max(1) {
            gateway.send_all(std::mem::take(&mut batch))?;
        }
    }
    gateway.send_all(batch)?;
    let summary = gateway.close(config.close_timeout);
    let elapsed = start.elapsed();
    drop(apns);
    let peak_rss = procfs::peak_rss().unwrap_or(0);
    let client_cpu_s = procfs::cpu_seconds(None).zip(cpu_before).map(|(after, before)| after - before);
    let threads_after = procfs::threads().map_err(Error::io)?;
    let fds_after = procfs::fds().map_err(Error::io)?;
    let stopped = mock.stop()?;

    let ledger = lock(&ledger);
    let mut report = SoakReport {
        count: config.count,
        seed: config.seed,
        connections: config.connections,
        lost: 0,
        duplicates: 0,
        duplicate_deliveries: 0,
        possible_duplicates_reported: summary.counters.possible_duplicates,
        rejected_expected: 0,
        rejected_reported: 0,
        accepted: 0,
        presumed_accepted: 0,
        failed: 0,
        resent: summary.counters.resent,
        silent_closes: summary.counters.silent_closes,
        error_responses: summary.counters.error_responses,
        mock: stopped.stats,
        mock_cpu_s: stopped.cpu_seconds,
        client_cpu_s,
        peak_rss,
        memory_bound: config.memory_bound,
        threads: (threads_before, threads_after),
        fds: (fds_before, fds_after),
        elapsed_s: elapsed.as_secs_f64(),
        violations: Vec::new(),
    };
    check(&mut report, config, &tokens, &ledger, &stopped, summary.settled);
    Ok(report)
}

/// Compares the mock's record with the client's reports, and the resources with their bounds.
fn check(
    report: &mut SoakReport,
    config: &SoakConfig,
    tokens: &Tokens,
    ledger: &Ledger,
    stopped: &Stopped,
    settled: bool,
) {
    let mut violations = Vec::new();
    let Some(tally) = &stopped.tally else {
        report.violations.push("the mock returned no record".to_owned());
        return;
    };
    let mut accepted = vec![1u32; config.count as usize];
    for &(n, times) in &tally.accepted_not_once {
        if let Some(slot) = accepted.get_mut(n as usize) {
            *slot = times;
        }
    }
    let mut mock_rejected: HashMap<u32, (u8, &str)> = HashMap::new();
    let mut rejected_twice = 0u64;
    for (n, status, token) in &tally.rejected {
        if mock_rejected.insert(*n, (*status, token.as_str())).is_some() {
            rejected_twice += 1;
        }
    }
    let (mut missing, mut twice, mut wrong_token) = (0u64, 0u64, 0u64);
    let (mut accepted_but_bad, mut mock_mismatch, mut unreported_rejections) = (0u64, 0u64, 0u64);
    let (mut false_rejections, mut unflagged_duplicates, mut accepted_not_received) = (0u64, 0u64, 0u64);
    let mut examples: Vec<String> = Vec::new();
    let mut example = |text: String| {
        if examples.len() < 5 {
            examples.push(text);
        }
    };
    for (n, &entry) in (0u32..).zip(&ledger.entries) {
        let times = accepted.get(n as usize).copied().unwrap_or(0);
        let kind = entry & KIND;
        match kind {
            0 => missing += 1,
            ACCEPTED => report.accepted += 1,
            PRESUMED => report.presumed_accepted += 1,
            FAILED => report.failed += 1,
            _ => {}
        }
        twice += u64::from(entry & REPORTED_TWICE != 0);
        wrong_token += u64::from(entry & WRONG_TOKEN != 0);
        if let Some(status) = tokens.rejection(n) {
            report.rejected_expected += 1;
            if times > 0 {
                accepted_but_bad += 1;
            }
            let hex = tokens.token(n).to_string();
            match mock_rejected.get(&n) {
                Some(&(mock_status, mock_token)) if mock_status == status.0 && mock_token == hex => {}
                _ => {
                    mock_mismatch += 1;
                    example(format!(
                        "n={n}: the mock's record has {:?}, expected status {}",
                        mock_rejected.get(&n),
                        status.0
                    ));
                }
            }
            if kind == REJECTED && ledger.rejected.get(&n) == Some(&status.0) && entry & WRONG_TOKEN == 0 {
                report.rejected_reported += 1;
            } else {
                unreported_rejections += 1;
                example(format!("n={n}: rejected with {} by the mock, reported kind {kind}", status.0));
            }
            continue;
        }
        if times == 0 {
            report.lost += 1;
            example(format!("n={n}: never accepted by the mock; client reported kind {kind}"));
        }
        if kind == REJECTED {
            false_rejections += 1;
        }
        if matches!(kind, ACCEPTED | PRESUMED) && times == 0 {
            accepted_not_received += 1;
        }
        if times > 1 {
            report.duplicates += 1;
            report.duplicate_deliveries += u64::from(times - 1);
            if entry & POSSIBLE_DUPLICATE == 0 {
                unflagged_duplicates += 1;
                example(format!("n={n}: accepted {times} times, not reported as a possible duplicate"));
            }
        }
    }
    let mut fail = |condition: bool, text: String| {
        if condition {
            violations.push(text);
        }
    };
    fail(report.lost > 0, format!("{} notifications lost", report.lost));
    fail(missing > 0, format!("{missing} notifications without an outcome"));
    fail(twice > 0, format!("{twice} notifications with more than one outcome"));
    fail(ledger.unknown > 0, format!("{} outcomes for identifiers never sent", ledger.unknown));
    fail(wrong_token > 0, format!("{wrong_token} outcomes with the wrong token"));
    fail(report.failed > 0, format!("{} notifications failed", report.failed));
    fail(
        accepted_but_bad > 0,
        format!("{accepted_but_bad} notifications to rejected tokens accepted by the mock"),
    );
    fail(
        mock_mismatch > 0,
        format!("{mock_mismatch} rejections missing from the mock's record or with another status/token"),
    );
    fail(rejected_twice > 0, format!("{rejected_twice} notifications rejected twice by the mock"));
    fail(
        report.rejected_reported != report.rejected_expected,
        format!("{unreported_rejections} rejections not reported with their status, token and identifier"),
    );
    fail(false_rejections > 0, format!("{false_rejections} good notifications reported rejected"));
    fail(
        accepted_not_received > 0,
        format!("{accepted_not_received} reported accepted but never accepted by the mock"),
    );
    fail(
        unflagged_duplicates > 0,
        format!("{unflagged_duplicates} duplicates not reported as possible duplicates"),
    );
    fail(
        report.duplicates > report.possible_duplicates_reported,
        format!(
            "{} duplicates but only {} possible duplicates reported",
            report.duplicates, report.possible_duplicates_reported
        ),
    );
    fail(
        report.duplicates > 0 && report.mock.dropped == 0,
        format!("{} duplicates without any silent close", report.duplicates),
    );
    fail(!settled, "the graceful close did not settle every notification in time".to_owned());
    fail(
        report.peak_rss > report.memory_bound,
        format!("peak resident memory {} B above the bound {} B", report.peak_rss, report.memory_bound),
    );
    fail(
        report.threads.1 != report.threads.0,
        format!("threads {} before, {} after", report.threads.0, report.threads.1),
    );
    fail(
        report.fds.1 != report.fds.0,
        format!("file descriptors {} before, {} after", report.fds.0, report.fds.1),
    );
    fail(
        tally.unparsed > 0 || tally.out_of_range > 0,
        format!("{} unreadable records", tally.unparsed + tally.out_of_range),
    );
    violations.extend(examples);
    report.violations = violations;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_seeded_and_one_percent_rejected() {
        let tokens = Tokens::new(7, 10_000, 0.01);
        assert_eq!(tokens.rejected.len(), 100);
        let again = Tokens::new(7, 10_000, 0.01);
        assert_eq!(tokens.token(12345), again.token(12345));
        let rejected = (0..100_000).filter(|&n| tokens.rejection(n).is_some()).count();
        assert!((800..1200).contains(&rejected), "{rejected}");
        let statuses: std::collections::HashSet<u8> = tokens.rejected.iter().map(|s| s.0).collect();
        assert_eq!(statuses.len(), 7);
    }
}
