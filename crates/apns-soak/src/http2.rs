//! The HTTP/2 soak (`apns-soak soak --http2`): notifications through the HTTP/2 client to the
//! HTTP/2 mock over TLS with token auth, every fault at once, then the mock's record checked
//! notification by notification against the client's reports.
//!
//! Faults, all at once: rejected device tokens (several reasons, and `Unregistered` with its
//! timestamp), GOAWAY, connection drops with streams open, REFUSED_STREAM, 429 and 503
//! answers, response latency, slow reading (stalls longer than the client's response timeout,
//! so that requests time out and are cancelled), a provider token that expires (the mock's age
//! limit is shorter than the client's refresh interval), and a stream limit that drops to 1
//! and comes back. The client is the `apns` facade ([`Apns`], token auth with a short
//! [`token_refresh`](apns::Builder::token_refresh)); it is driven through `Driver`, the one
//! place that knows the client's API.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use apns::mock::TestPki;
use apns::{
    Apns, ApnsId, DeviceNotification, Endpoint, HexDeviceToken, Http2Counters, Outcome, Payload, PushType,
    Report,
};
use apns_mock::certs::ProviderKey;
use apns_mock::http2::Http2Stats;
use serde::Serialize;

use crate::remote::{Http2Spec, MockSpec, RemoteMock, Stopped};
use crate::soak::{Footprint, Meter, Tokens};
use crate::{procfs, Error};

const MIB: u64 = 1024 * 1024;
const TOPIC: &str = "com.example.mock";

/// The reasons the mock gives rejected device tokens (cycled through; `Unregistered`, with its
/// timestamp, for every eleventh).
const REASONS: [&str; 6] =
    ["BadDeviceToken", "BadDeviceToken", "DeviceTokenNotForTopic", "Forbidden", "ExpiredToken", "BadTopic"];
/// The `timestamp` of the `Unregistered` answers, ms.
const UNREGISTERED_SINCE_MS: u64 = 1_700_000_000_000;

/// What an HTTP/2 soak run does. [`Http2SoakConfig::new`] is the full run of the issue
/// (1,000,000 notifications); every field can be changed. Counts of the mock's faults are per
/// connection (the mock counts each connection's requests).
#[derive(Debug, Clone)]
pub struct Http2SoakConfig {
    /// Notifications sent (payload `{"aps":{..},"n":<index>}`, tagged with the index).
    pub count: u32,
    /// Seed of the tokens, of which are rejected, and of the mock's random choices.
    pub seed: u64,
    /// Connections of the client's pool.
    pub connections: usize,
    /// Distinct device tokens.
    pub tokens: u32,
    /// Fraction of the tokens the mock rejects (1 in 11 of them `Unregistered`).
    pub reject_fraction: f64,
    /// GOAWAY after every N requests of a connection: a connection's life, so the other
    /// "every N" faults need a shorter period to happen at all.
    pub goaway_every: u64,
    /// The connection dropped, streams open, at a request with this probability.
    pub drop_probability: f64,
    /// RST_STREAM(REFUSED_STREAM) for every Nth request.
    pub refuse_stream_every: u64,
    /// 429 `TooManyRequests` for every Nth request.
    pub too_many_requests_every: u64,
    /// 503 `ServiceUnavailable` with this probability per request.
    pub unavailable_probability: f64,
    /// The mock's response latency, drawn per request between these.
    pub latency: (Duration, Duration),
    /// The mock stops reading a connection after every N requests...
    pub stall_every: u64,
    /// ... for this long (longer than `response_timeout`: requests time out).
    pub stall: Duration,
    /// The client's response deadline for every request.
    pub response_timeout: Duration,
    /// The mock's `SETTINGS_MAX_CONCURRENT_STREAMS` (the client's own cap is 1,000).
    pub max_concurrent_streams: u32,
    /// The stream limit drops to `.1` at every `.0`th request of a connection, for `.2`
    /// requests.
    pub stream_limit: (u64, u32, u64),
    /// The mock refuses provider tokens older than this (`iat`; whole seconds, at least 2).
    /// The client's [`token_refresh`](apns::Builder::token_refresh) is 1.5 times it, so each
    /// token is refused before it is replaced.
    pub token_max_age: Duration,
    /// The client's delivery capacity (queued, in flight and settled not yet reported).
    pub capacity: usize,
    /// Charged retries per notification before it fails.
    pub max_retries: u32,
    /// The bound on the peak resident memory of this process while the client runs, bytes.
    pub memory_bound: u64,
    /// Notifications handed to the client at a time.
    pub batch: usize,
    /// How long the final graceful close may take.
    pub close_timeout: Duration,
    /// The `apns-soak` executable (the mock's child process).
    pub mock_exe: PathBuf,
}

impl Http2SoakConfig {
    /// The run: 1,000,000 notifications on 4 connections; 1.1 % to rejected tokens
    /// (0.1 % `Unregistered`); per connection, GOAWAY every 50,000 requests, REFUSED_STREAM
    /// every 1,009, 429 every 997, a 6 s stall every 30,011 requests against a 4 s response
    /// timeout, the stream limit at 1 for 50 requests every 20,011; per request, a drop with
    /// probability 1/100,000 and 503 with 0.002; latency 1–50 ms; tokens refused after 20 s;
    /// peak memory under 64 MiB.
    pub fn new(mock_exe: impl Into<PathBuf>) -> Self {
        Self {
            count: 1_000_000,
            seed: 1,
            connections: 4,
            tokens: 10_000,
            reject_fraction: 0.011,
            goaway_every: 50_000,
            drop_probability: 1e-5,
            refuse_stream_every: 1_009,
            too_many_requests_every: 997,
            unavailable_probability: 0.002,
            latency: (Duration::from_millis(1), Duration::from_millis(50)),
            stall_every: 30_011,
            stall: Duration::from_secs(6),
            response_timeout: Duration::from_secs(4),
            max_concurrent_streams: 1000,
            stream_limit: (20_011, 1, 50),
            token_max_age: Duration::from_secs(20),
            capacity: 20_000,
            max_retries: 10,
            memory_bound: 64 * MIB,
            batch: 1000,
            close_timeout: Duration::from_secs(600),
            mock_exe: mock_exe.into(),
        }
    }
}

/// What an HTTP/2 soak found; [`violations`](Self::violations) is empty when every invariant
/// held.
#[derive(Debug, Clone, Serialize)]
pub struct Http2SoakReport {
    /// Notifications sent.
    pub count: u32,
    /// Seed.
    pub seed: u64,
    /// Connections.
    pub connections: usize,
    /// To good tokens, and never accepted by the mock.
    pub lost: u64,
    /// Accepted by the mock more than once.
    pub duplicates: u64,
    /// Reported with `possible_duplicate`.
    pub possible_duplicates_reported: u64,
    /// To rejected tokens.
    pub rejected_expected: u64,
    /// Of those, reported rejected with the mock's status and reason.
    pub rejected_reported: u64,
    /// Reported accepted.
    pub accepted: u64,
    /// Reported failed.
    pub failed: u64,
    /// The client's counters at the end.
    pub client: ClientCounters,
    /// The mock's counters.
    pub mock: Http2Stats,
    /// Requests the mock refused for their provider token.
    pub mock_token_refusals: u64,
    /// CPU time of the mock's process, seconds.
    pub mock_cpu_s: Option<f64>,
    /// What the client process used while the client ran (peak memory reset at its start).
    pub footprint: Footprint,
    /// Every invariant that did not hold.
    pub violations: Vec<String>,
}

/// The client's counters that matter to the soak.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[allow(missing_docs)] // apns::Stats' fields, documented there
pub struct ClientCounters {
    pub requests: u64,
    pub retries: u64,
    pub refused_streams: u64,
    pub response_timeouts: u64,
    pub goaways: u64,
    pub token_refreshes: u64,
    pub connects: u64,
    pub connect_failures: u64,
    pub bytes_written: u64,
}

impl From<&Http2Counters> for ClientCounters {
    fn from(counters: &Http2Counters) -> Self {
        let stats = &counters.delivery;
        Self {
            requests: stats.requests,
            retries: stats.retries,
            refused_streams: stats.refused_streams,
            response_timeouts: stats.response_timeouts,
            goaways: stats.goaways,
            token_refreshes: stats.token_refreshes,
            connects: stats.connects,
            connect_failures: stats.connect_failures,
            bytes_written: counters.bytes_written,
        }
    }
}

impl Http2SoakReport {
    /// Whether every invariant held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The summary as one JSON line (as the binary soak prints).
    pub fn to_json(&self) -> String {
        let mut json = serde_json::json!({
            "soak": if self.passed() { "passed" } else { "FAILED" },
            "protocol": "http2",
            "count": self.count,
            "seed": self.seed,
            "connections": self.connections,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "possible_duplicates_reported": self.possible_duplicates_reported,
            "rejected_expected": self.rejected_expected,
            "rejected_reported": self.rejected_reported,
            "accepted": self.accepted,
            "failed": self.failed,
            "client": self.client,
            "mock": self.mock,
            "mock_token_refusals": self.mock_token_refusals,
            "mock_cpu_s": self.mock_cpu_s,
        });
        self.footprint.add_json(&mut json);
        json["violations"] = serde_json::json!(self.violations);
        json.to_string()
    }
}

/// Which reason the mock gives notification `n`'s token, if it rejects it.
fn expected_reason(tokens: &Tokens, n: u32) -> Option<&'static str> {
    let index = tokens.index(n);
    (index < tokens.rejected.len()).then(|| match index % 11 {
        0 => "Unregistered",
        i => REASONS[i % REASONS.len()],
    })
}

/// What the client reported for one notification.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    reports: u8,
    accepted: bool,
    failed: bool,
    possible_duplicate: bool,
    /// Rejected with the expected status, reason (and timestamp for `Unregistered`).
    rejected_as_expected: bool,
    rejected: bool,
}

#[derive(Debug, Default)]
struct Ledger {
    entries: Vec<Entry>,
    unknown: u64,
    failures: HashMap<String, u64>,
}

impl Ledger {
    fn record<T>(&mut self, n: u32, report: &Report<T>, tokens: &Tokens) {
        let Some(entry) = self.entries.get_mut(n as usize) else {
            self.unknown += 1;
            return;
        };
        entry.reports = entry.reports.saturating_add(1);
        entry.possible_duplicate |= report.possible_duplicate;
        match &report.outcome {
            Outcome::Accepted { .. } => entry.accepted = true,
            Outcome::Rejected(rejection) => {
                entry.rejected = true;
                let reason = rejection.reason.as_ref().map(|reason| reason.as_str());
                let expected = expected_reason(tokens, n);
                let status_ok = match expected {
                    Some("Unregistered" | "ExpiredToken") => rejection.status == 410,
                    Some("Forbidden") => rejection.status == 403,
                    _ => rejection.status == 400,
                };
                let timestamp_ok = expected != Some("Unregistered")
                    || rejection.timestamp == Some(UNIX_EPOCH + Duration::from_millis(UNREGISTERED_SINCE_MS));
                entry.rejected_as_expected = reason == expected && status_ok && timestamp_ok;
            }
            Outcome::Failed(reason) => {
                entry.failed = true;
                *self.failures.entry(format!("{reason:?}")).or_default() += 1;
            }
            _ => entry.failed = true,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The client side of the soak: the only code that knows the client's API.
struct Driver {
    apns: Apns,
    /// The high half of every `apns-id` (the low 32 bits are the notification's index).
    id_base: u128,
}

impl Driver {
    fn start(
        config: &Http2SoakConfig,
        pki: &TestPki,
        key: &ProviderKey,
        mock: &RemoteMock,
        mut on_report: impl FnMut(u32, &Report<apns::Tag>) + Send + 'static,
    ) -> Result<Self, Error> {
        let apns = Apns::builder()
            .endpoint(Endpoint::at("localhost", mock.gateway_addr()))
            .ca_pem(pki.ca_cert_pem.as_bytes())
            .token_key(key.private_key_pem.as_bytes(), &key.key_id, &key.team_id)
            .topic(TOPIC)
            // Later than the mock's limit, so that the mock refuses each token before it is
            // replaced.
            .token_refresh(config.token_max_age * 3 / 2)
            .connections(config.connections)
            .capacity(config.capacity)
            .queue_capacity(config.batch.max(1) * 4)
            .max_retries(config.max_retries)
            .response_timeout(config.response_timeout)
            .retry_backoff(Duration::from_millis(50), Duration::from_secs(2))
            .reconnect_backoff(Duration::from_millis(10), Duration::from_secs(1))
            .send_timeout(config.close_timeout)
            .seed(config.seed)
            .build()?;
        apns.on_outcome(move |report| on_report(index_of(report.apns_id), report));
        Ok(Self { apns, id_base: u128::from(config.seed) << 64 })
    }

    /// Notification `n` of the soak: its index in the low bits of its `apns-id`, which every
    /// report carries.
    fn notification(
        &self,
        n: u32,
        token: HexDeviceToken,
        payload: &Payload,
    ) -> Result<DeviceNotification, Error> {
        let id = ApnsId::from_random_bytes((self.id_base | u128::from(n)).to_be_bytes());
        let builder = self.apns.notification(token, PushType::ALERT, payload)?;
        builder.id(id).build().map_err(|e| Error::new(format!("notification: {e}")))
    }

    fn send(&self, notifications: Vec<DeviceNotification>) -> Result<(), Error> {
        Ok(self.apns.send_all(notifications)?)
    }

    /// Graceful close: whether everything settled, and the counters. The client is dropped.
    fn close(self, timeout: Duration) -> (bool, Http2Counters) {
        let summary = self.apns.close(timeout);
        (summary.settled && summary.unsent.is_empty(), summary.counters)
    }
}

/// The notification index in an `apns-id` made by [`Driver::notification`] (its low 32 bits,
/// which the UUID's version and variant bits leave alone).
fn index_of(id: ApnsId) -> u32 {
    (id.as_u128() & u128::from(u32::MAX)) as u32
}

/// Runs an HTTP/2 soak: see the [module docs](self). An error only when the run could not be
/// carried out; broken invariants are in [`Http2SoakReport::violations`].
pub fn run(config: &Http2SoakConfig) -> Result<Http2SoakReport, Error> {
    let pki = TestPki::generate().map_err(|e| Error::new(format!("test PKI: {e}")))?;
    let key = ProviderKey::generate().map_err(|e| Error::new(format!("provider key: {e}")))?;
    let tokens = Arc::new(Tokens::new(config.seed, config.tokens, config.reject_fraction));
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let (mut reject, mut unregistered) = (Vec::new(), Vec::new());
    for (index, token) in tokens.tokens.iter().enumerate().take(tokens.rejected.len()) {
        match index % 11 {
            0 => unregistered.push((token.to_string(), UNREGISTERED_SINCE_MS)),
            i => reject.push((token.to_string(), REASONS[i % REASONS.len()].to_owned())),
        }
    }
    let http2 = Http2Spec {
        addr: None,
        provider_key: Some((key.key_id.clone(), key.team_id.clone(), key.private_key_pem.clone())),
        token_max_age_s: config.token_max_age.as_secs().max(2),
        token_min_refresh_ms: millis(config.token_max_age / 4),
        reject,
        unregistered,
        max_concurrent_streams: config.max_concurrent_streams,
        goaway_every: config.goaway_every,
        drop_every: 0,
        drop_probability: config.drop_probability,
        refuse_stream_every: config.refuse_stream_every,
        error_every: (config.too_many_requests_every, "TooManyRequests".to_owned()),
        error_probability: (config.unavailable_probability, "ServiceUnavailable".to_owned()),
        latency_ms: (millis(config.latency.0), millis(config.latency.1)),
        stall_every: config.stall_every,
        stall_ms: millis(config.stall),
        stream_limit: config.stream_limit,
        worker_threads: 0,
    };
    let spec = MockSpec {
        seed: config.seed,
        tally: Some(config.count),
        http2: Some(http2),
        ..MockSpec::plain(&pki.server_cert_pem, &pki.server_key_pem, &pki.ca_cert_pem)
    };
    let mock = RemoteMock::spawn(&config.mock_exe, &spec)?;

    let entries = vec![Entry::default(); config.count as usize];
    let ledger = Arc::new(Mutex::new(Ledger { entries, ..Ledger::default() }));
    let payload = |n: u32| -> Result<Payload, Error> {
        Ok(Payload::new().alert("Hello World!").sound("default").badge(1).custom("n", n)?)
    };
    let token = |n: u32| -> Result<HexDeviceToken, Error> {
        tokens.token(n).to_string().parse().map_err(|e| Error::new(format!("token: {e}")))
    };

    let meter = Meter::start()?;
    procfs::reset_peak_rss();
    let start = Instant::now();
    let driver = {
        let (ledger, tokens) = (ledger.clone(), tokens.clone());
        Driver::start(config, &pki, &key, &mock, move |n, report| lock(&ledger).record(n, report, &tokens))?
    };
    let batch_size = config.batch.max(1);
    let mut batch = Vec::with_capacity(batch_size);
    for n in 0..config.count {
        batch.push(driver.notification(n, token(n)?, &payload(n)?)?);
        if batch.len() == batch_size {
            driver.send(std::mem::replace(&mut batch, Vec::with_capacity(batch_size)))?;
        }
    }
    driver.send(batch)?;
    let (settled, counters) = driver.close(config.close_timeout);
    let elapsed = start.elapsed();
    let footprint = meter.finish(elapsed, config.memory_bound)?;
    let stopped = mock.stop()?;

    let ledger = lock(&ledger);
    let mut report = Http2SoakReport {
        count: config.count,
        seed: config.seed,
        connections: config.connections,
        lost: 0,
        duplicates: 0,
        possible_duplicates_reported: counters.delivery.possible_duplicates,
        rejected_expected: 0,
        rejected_reported: 0,
        accepted: 0,
        failed: 0,
        client: (&counters).into(),
        mock: stopped.stats.http2.unwrap_or_default(),
        mock_token_refusals: stopped.tally.as_ref().map_or(0, |tally| tally.token_refusals),
        mock_cpu_s: stopped.cpu_seconds,
        footprint,
        violations: Vec::new(),
    };
    check(&mut report, &tokens, &ledger, &stopped, settled);
    Ok(report)
}

/// Compares the mock's record with the client's reports, and the resources with their bounds.
fn check(report: &mut Http2SoakReport, tokens: &Tokens, ledger: &Ledger, stopped: &Stopped, settled: bool) {
    let mut violations = Vec::new();
    let Some(tally) = &stopped.tally else {
        report.violations.push("the mock returned no record".to_owned());
        return;
    };
    let mut accepted = vec![1u32; ledger.entries.len()];
    for &(n, times) in &tally.accepted_not_once {
        if let Some(slot) = accepted.get_mut(n as usize) {
            *slot = times;
        }
    }
    let mut mock_rejected: HashMap<u32, (u16, Option<&str>, &str)> = HashMap::new();
    for rejected in &tally.rejected {
        mock_rejected
            .insert(rejected.n, (rejected.status, rejected.reason.as_deref(), rejected.token.as_str()));
    }
    let mut counts = [0u64; 8];
    let [missing, twice, unflagged, false_rejections, accepted_bad, mock_mismatch, unreported, ghost] =
        &mut counts;
    let mut examples: Vec<String> = Vec::new();
    let mut example = |text: String| {
        if examples.len() < 5 {
            examples.push(text);
        }
    };
    for (n, entry) in (0u32..).zip(&ledger.entries) {
        let times = accepted.get(n as usize).copied().unwrap_or(0);
        *missing += u64::from(entry.reports == 0);
        *twice += u64::from(entry.reports > 1);
        report.accepted += u64::from(entry.accepted);
        report.failed += u64::from(entry.failed);
        if let Some(reason) = expected_reason(tokens, n) {
            report.rejected_expected += 1;
            *accepted_bad += u64::from(times > 0);
            let token = tokens.token(n).to_string();
            match mock_rejected.get(&n) {
                Some(&(_, Some(mock_reason), mock_token)) if mock_reason == reason && mock_token == token => {
                }
                other => {
                    *mock_mismatch += 1;
                    example(format!("n={n}: the mock's record has {other:?}, expected {reason}"));
                }
            }
            if entry.rejected && entry.rejected_as_expected {
                report.rejected_reported += 1;
            } else {
                *unreported += 1;
                example(format!("n={n}: rejected with {reason} by the mock, reported {entry:?}"));
            }
            continue;
        }
        if times == 0 {
            report.lost += 1;
            example(format!("n={n}: never accepted by the mock; client reported {entry:?}"));
        }
        *false_rejections += u64::from(entry.rejected);
        *ghost += u64::from(entry.accepted && times == 0);
        if times > 1 {
            report.duplicates += 1;
            if !entry.possible_duplicate {
                *unflagged += 1;
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
    fail(*missing > 0, format!("{missing} notifications without a report"));
    fail(*twice > 0, format!("{twice} notifications reported more than once"));
    fail(ledger.unknown > 0, format!("{} reports for notifications never sent", ledger.unknown));
    fail(report.failed > 0, format!("{} notifications failed: {:?}", report.failed, ledger.failures));
    fail(*accepted_bad > 0, format!("{accepted_bad} notifications to rejected tokens accepted by the mock"));
    fail(
        *mock_mismatch > 0,
        format!("{mock_mismatch} rejections missing from the mock's record or unlike it"),
    );
    fail(*unreported > 0, format!("{unreported} rejections not reported with their status and reason"));
    fail(*false_rejections > 0, format!("{false_rejections} good notifications reported rejected"));
    fail(*ghost > 0, format!("{ghost} reported accepted but never accepted by the mock"));
    fail(*unflagged > 0, format!("{unflagged} duplicates not reported as possible duplicates"));
    fail(!settled, "the graceful close did not settle every notification in time".to_owned());
    // A stream the client cancelled after its deadline still counts as open at the mock until
    // the mock answers it: the count is exact only without timeouts.
    fail(
        report.mock.stream_limit_violations > 0 && report.client.response_timeouts == 0,
        format!("{} streams opened beyond the acknowledged limit", report.mock.stream_limit_violations),
    );
    fail(
        tally.unparsed > 0 || tally.out_of_range > 0,
        format!("{} unreadable records", tally.unparsed + tally.out_of_range),
    );
    violations.extend(report.footprint.violations());
    violations.extend(examples);
    report.violations = violations;
}
