//! What the HTTP/2 mock lets you see: one record per request, counters, and waiting for either.

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::Reason;

/// What happened to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Http2Outcome {
    /// Answered 200: the notification was delivered.
    Accepted,
    /// Evaluated and answered with an error status (invalid, a configured token, a token
    /// rule): final, not delivered.
    Rejected,
    /// Answered with an injected error (429/500/503 faults): not delivered, not processed.
    Fault,
    /// Answered with RST_STREAM(REFUSED_STREAM) (fault): not processed.
    Refused,
    /// Never answered: the connection closed first (drop fault, client gone, mock stopped).
    /// Not processed.
    Dropped,
}

impl Http2Outcome {
    /// `"accepted"`, `"rejected"`, `"fault"`, `"refused"` or `"dropped"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Fault => "fault",
            Self::Refused => "refused",
            Self::Dropped => "dropped",
        }
    }

    /// Whether the mock acted on the notification (accepted or definitively rejected): the
    /// requests a client must not send again blindly.
    pub const fn processed(self) -> bool {
        matches!(self, Self::Accepted | Self::Rejected)
    }
}

/// One request as the mock received and answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Http2Record {
    /// The connection number (1 for the first).
    pub conn: u64,
    /// The HTTP/2 stream id.
    pub stream: u32,
    /// `:method`.
    pub method: String,
    /// `:path`.
    pub path: String,
    /// The device token from the path, as sent (if the path had the `/3/device/` prefix).
    pub token: Option<String>,
    /// The topic (header, or the certificate's bundle id when the header was absent).
    pub topic: Option<String>,
    /// The key id of the provider token the connection was using (token auth).
    pub key_id: Option<String>,
    /// The request headers in order, except pseudo-headers; the `authorization` value is
    /// replaced by `<redacted>` (it is a credential).
    pub headers: Vec<(String, String)>,
    /// The body as read (at most the payload limit plus one byte).
    pub payload: Vec<u8>,
    /// The response status (none when refused or dropped).
    pub status: Option<u16>,
    /// The error reason (none for 200).
    pub reason: Option<Reason>,
    /// The `timestamp` of a 410 response (ms).
    pub timestamp: Option<u64>,
    /// The response's `apns-id` (echoed, or generated), or the request's when not answered.
    pub apns_id: Option<String>,
    /// The response's `apns-unique-id` (sandbox only).
    pub unique_id: Option<String>,
    /// What happened.
    pub outcome: Http2Outcome,
}

impl Http2Record {
    /// Whether the mock acted on the notification ([`Http2Outcome::processed`]).
    pub fn processed(&self) -> bool {
        self.outcome.processed()
    }

    /// The JSON line of `--record`: `{"conn","stream","method","path","token","topic",
    /// "key_id","headers":[[name,value],...],"payload":"<text>","status","reason","timestamp",
    /// "apns_id","apns_unique_id","outcome","processed"}` (absent values are `null`; a payload
    /// that is not UTF-8 is shown with replacement characters).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "conn": self.conn,
            "stream": self.stream,
            "method": self.method,
            "path": self.path,
            "token": self.token,
            "topic": self.topic,
            "key_id": self.key_id,
            "headers": self.headers.iter().map(|(n, v)| [n, v]).collect::<Vec<_>>(),
            "payload": String::from_utf8_lossy(&self.payload),
            "status": self.status,
            "reason": self.reason.as_ref().map(Reason::as_str),
            "timestamp": self.timestamp,
            "apns_id": self.apns_id,
            "apns_unique_id": self.unique_id,
            "outcome": self.outcome.as_str(),
            "processed": self.processed(),
        })
        .to_string()
    }
}

/// Counters since the mock started. Read with [`Http2Mock::stats`](super::Http2Mock::stats).
/// Serialisable, so a mock in another process can hand them over whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Http2Stats {
    /// TCP connections accepted (including those closed by the caps or failing a handshake).
    pub connections: u64,
    /// Connections closed at accept because of the connection caps.
    pub refused_connections: u64,
    /// Connections that failed or timed out in the TLS or HTTP/2 handshake.
    pub handshake_failures: u64,
    /// Requests received (each gets exactly one record).
    pub requests: u64,
    /// Requests answered 200.
    pub accepted: u64,
    /// Requests evaluated and answered with an error.
    pub rejected: u64,
    /// Requests answered with an injected 429/500/503.
    pub faults: u64,
    /// Requests answered with RST_STREAM(REFUSED_STREAM).
    pub refused_streams: u64,
    /// Requests never answered (connection closed first).
    pub dropped: u64,
    /// GOAWAY frames sent by the goaway fault.
    pub goaways: u64,
    /// Connections dropped without GOAWAY by the drop fault.
    pub connection_drops: u64,
    /// Connections closed for being idle.
    pub idle_timeouts: u64,
    /// Provider-token signatures verified (a connection verifies each new token once).
    pub token_verifications: u64,
    /// Records not kept in memory because the limit was reached.
    pub records_dropped: u64,
    /// SETTINGS frames changing the stream limit (the stream-limit fault), lowering or
    /// restoring.
    pub stream_limit_changes: u64,
    /// Requests that opened a stream while the client already had as many open as the limit it
    /// had acknowledged (the stream-limit fault). Streams the client reset but the mock still
    /// answers (after a response timeout) count as open here.
    pub stream_limit_violations: u64,
}

impl Http2Stats {
    /// The summary line of `apns mock --http2`:
    /// `{"requests":..,"accepted":..,"rejected":..,"connections":..}`.
    pub fn summary_json(&self) -> String {
        serde_json::json!({
            "requests": self.requests,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "connections": self.connections,
        })
        .to_string()
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Counter {
    Connections,
    RefusedConnections,
    HandshakeFailures,
    Requests,
    Accepted,
    Rejected,
    Faults,
    RefusedStreams,
    Dropped,
    Goaways,
    ConnectionDrops,
    IdleTimeouts,
    TokenVerifications,
    RecordsDropped,
    StreamLimitChanges,
    StreamLimitViolations,
}

const COUNTERS: usize = 16;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks leaves plain data behind; keep going.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counters, records and the condition variable waiters sleep on; shared by the server's
/// tasks and the [`Http2Mock`](super::Http2Mock) handle.
pub(crate) struct Shared {
    counters: [AtomicU64; COUNTERS],
    record_limit: usize,
    records: Mutex<Vec<Http2Record>>,
    writer: Mutex<Option<BufWriter<Box<dyn Write + Send>>>>,
    recording: bool,
    generation: Mutex<u64>,
    changed: Condvar,
    waiters: AtomicUsize,
    stopped: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(record_limit: usize, writer: Option<Box<dyn Write + Send>>) -> Self {
        Self {
            counters: Default::default(),
            record_limit,
            recording: record_limit > 0 || writer.is_some(),
            records: Mutex::new(Vec::new()),
            writer: Mutex::new(writer.map(BufWriter::new)),
            generation: Mutex::new(0),
            changed: Condvar::new(),
            waiters: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
        }
    }

    /// Whether requests are recorded at all (in memory or as JSON lines).
    pub(crate) fn recording(&self) -> bool {
        self.recording
    }

    pub(crate) fn stats(&self) -> Http2Stats {
        let [connections, refused_connections, handshake_failures, requests, accepted, rejected, faults, refused_streams, dropped, goaways, connection_drops, idle_timeouts, token_verifications, records_dropped, stream_limit_changes, stream_limit_violations] =
            self.counters.each_ref().map(|counter| counter.load(Ordering::SeqCst));
        Http2Stats {
            connections,
            refused_connections,
            handshake_failures,
            requests,
            accepted,
            rejected,
            faults,
            refused_streams,
            dropped,
            goaways,
            connection_drops,
            idle_timeouts,
            token_verifications,
            records_dropped,
            stream_limit_changes,
            stream_limit_violations,
        }
    }

    pub(crate) fn records(&self) -> Vec<Http2Record> {
        lock(&self.records).clone()
    }

    /// Counts without a record (connections, faults of the connection...).
    pub(crate) fn count(&self, counter: Counter, n: u64) {
        if n > 0 {
            if let Some(slot) = self.counters.get(counter as usize) {
                slot.fetch_add(n, Ordering::SeqCst);
            }
            self.notify();
        }
    }

    /// Publishes one request's record (if given), then counts it in `requests` and in its
    /// outcome's counter, then wakes the waiters: once a counter shows it, the record is there.
    pub(crate) fn publish(&self, record: Option<Http2Record>, outcome: Http2Outcome) {
        if let Some(record) = record {
            if let Some(writer) = lock(&self.writer).as_mut() {
                if let Err(error) = writeln!(writer, "{}", record.to_json()) {
                    tracing::warn!(%error, "cannot write the record");
                }
            }
            if self.record_limit > 0 {
                let mut records = lock(&self.records);
                if records.len() < self.record_limit {
                    records.push(record);
                } else {
                    drop(records);
                    self.bump(Counter::RecordsDropped);
                }
            }
        }
        self.bump(match outcome {
            Http2Outcome::Accepted => Counter::Accepted,
            Http2Outcome::Rejected => Counter::Rejected,
            Http2Outcome::Fault => Counter::Faults,
            Http2Outcome::Refused => Counter::RefusedStreams,
            Http2Outcome::Dropped => Counter::Dropped,
        });
        self.bump(Counter::Requests);
        self.notify();
    }

    fn bump(&self, counter: Counter) {
        if let Some(slot) = self.counters.get(counter as usize) {
            slot.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub(crate) fn flush(&self) {
        if let Some(writer) = lock(&self.writer).as_mut() {
            if let Err(error) = writer.flush() {
                tracing::warn!(%error, "cannot flush the record");
            }
        }
    }

    pub(crate) fn mark_stopped(&self) {
        self.flush();
        self.stopped.store(true, Ordering::Release);
        self.notify_always();
    }

    fn notify(&self) {
        // Waking is a lock and a syscall: skip it while nobody waits (the common case under
        // load). A waiter registers before it checks, so no wake-up is lost.
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.notify_always();
        }
    }

    fn notify_always(&self) {
        let mut generation = lock(&self.generation);
        *generation = generation.wrapping_add(1);
        self.changed.notify_all();
    }

    /// Waits until `condition` holds for the stats (true), the timeout passes or the mock has
    /// stopped (false).
    pub(crate) fn wait_for(&self, mut condition: impl FnMut(&Http2Stats) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut generation = lock(&self.generation);
        let result = loop {
            if condition(&self.stats()) {
                break true;
            }
            if self.stopped.load(Ordering::Acquire) {
                break false;
            }
            generation = match deadline {
                None => self.changed.wait(generation).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break false;
                    }
                    self.changed.wait_timeout(generation, left).unwrap_or_else(PoisonError::into_inner).0
                }
            };
        };
        drop(generation);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        result
    }
}
