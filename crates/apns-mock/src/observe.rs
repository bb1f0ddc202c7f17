//! What the server lets you see: counters, records of notifications, and waiting for either.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use apns_proto::{to_hex, Status};

/// Counters since the server started. Read with [`MockServer::stats`](crate::MockServer::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockStats {
    /// Notifications accepted by the gateway.
    pub accepted: u64,
    /// Commands answered with an error response for being invalid or rejected (at most one per
    /// connection). Shutdowns are counted in `shutdowns`, not here.
    pub rejected: u64,
    /// Notifications read after an error, or after a shutdown, and thrown away.
    pub discarded: u64,
    /// Gateway connections accepted (including those refused at the handshake).
    pub connections: u64,
    /// Feedback connections accepted.
    pub feedback_connections: u64,
    /// Connections refused by the refuse fault.
    pub refused: u64,
    /// Connections closed silently by the drop faults.
    pub dropped: u64,
    /// Shutdown responses (status 10) sent.
    pub shutdowns: u64,
    /// Connections that failed the TLS handshake (no client certificate, wrong CA, not TLS...).
    pub handshake_failures: u64,
    /// Feedback tuples written (each counted once per connection it was served on).
    pub feedback_tuples_sent: u64,
    /// Records not kept because the in-memory limit was reached.
    pub records_dropped: u64,
    /// Connections closed as soon as accepted, because `max_connections` or `max_handshaking`
    /// were reached.
    pub over_capacity: u64,
    /// Gateway connections closed for sending nothing for the idle timeout.
    pub idle_closed: u64,
    /// Failed `accept` calls (out of file descriptors, for instance); accepting resumes after a
    /// short pause or when a connection closes.
    pub accept_errors: u64,
}

impl MockStats {
    /// The summary line of the `apns mock` command:
    /// `{"accepted":..,"rejected":..,"discarded":..,"connections":..}`.
    pub fn summary_json(&self) -> String {
        serde_json::json!({
            "accepted": self.accepted,
            "rejected": self.rejected,
            "discarded": self.discarded,
            "connections": self.connections,
        })
        .to_string()
    }
}

/// What happened to one notification received by the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Valid and accepted.
    Accepted,
    /// Answered with an error response (invalid, a rejected token, or unreadable).
    Rejected,
    /// Read after the connection's error or shutdown, and thrown away.
    Discarded,
}

impl Outcome {
    /// `"accepted"`, `"rejected"` or `"discarded"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Discarded => "discarded",
        }
    }
}

/// One command received by the gateway, as read off the wire (fields of invalid commands are
/// kept as sent: a token of any length, an empty payload...).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record {
    /// The connection number (1 for the gateway's first connection).
    pub conn: u64,
    /// The command byte (0, 1, 2, or the unknown byte of an unreadable command).
    pub command: u8,
    /// The identifier (0 when the command has none).
    pub id: u32,
    /// The token bytes.
    pub token: Vec<u8>,
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// The expiry, UNIX seconds (0 when absent).
    pub expiry: u32,
    /// The priority byte (10 when absent).
    pub priority: u8,
    /// What the gateway did with it.
    pub outcome: Outcome,
    /// The status of the error response, for a rejected one.
    pub status: Option<Status>,
}

impl Record {
    /// The JSON line of `--record`:
    /// `{"conn":n,"id":..,"token":hex,"payload":"<raw json text>","expiry":..,"priority":..,
    /// "outcome":..,"status":..}` (`status` is `null` unless rejected; a payload that is not
    /// UTF-8 is shown with replacement characters).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "conn": self.conn,
            "id": self.id,
            "token": to_hex(&self.token),
            "payload": String::from_utf8_lossy(&self.payload),
            "expiry": self.expiry,
            "priority": self.priority,
            "outcome": self.outcome.as_str(),
            "status": self.status.map(|status| status.0),
        })
        .to_string()
    }
}

/// Counters as atomics, records, and the condition variable waiters sleep on. Shared between the
/// event loop (the only writer) and the [`MockServer`](crate::MockServer) handles.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    counters: [AtomicU64; COUNTERS],
    records: Mutex<Vec<Record>>,
    generation: Mutex<u64>,
    changed: Condvar,
    pub(crate) stop_requested: AtomicBool,
    stopped: AtomicBool,
    /// Why the event loop stopped on its own (a record it could not write).
    failure: Mutex<Option<std::io::Error>>,
}

const COUNTERS: usize = 14;

/// Counter changes accumulated by the event loop, published once per loop iteration.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally(pub(crate) [u64; COUNTERS]);

#[derive(Debug, Clone, Copy)]
pub(crate) enum Counter {
    Accepted,
    Rejected,
    Discarded,
    Connections,
    FeedbackConnections,
    Refused,
    Dropped,
    Shutdowns,
    HandshakeFailures,
    FeedbackTuplesSent,
    RecordsDropped,
    OverCapacity,
    IdleClosed,
    AcceptErrors,
}

impl Tally {
    pub(crate) fn add(&mut self, counter: Counter, n: u64) {
        if let Some(slot) = self.0.get_mut(counter as usize) {
            *slot += n;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(|&n| n == 0)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks leaves plain data behind; keep going.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn stats(&self) -> MockStats {
        let [accepted, rejected, discarded, connections, feedback_connections, refused, dropped, shutdowns, handshake_failures, feedback_tuples_sent, records_dropped, over_capacity, idle_closed, accept_errors] =
            self.counters.each_ref().map(|counter| counter.load(Ordering::Acquire));
        MockStats {
            accepted,
            rejected,
            discarded,
            connections,
            feedback_connections,
            refused,
            dropped,
            shutdowns,
            handshake_failures,
            feedback_tuples_sent,
            records_dropped,
            over_capacity,
            idle_closed,
            accept_errors,
        }
    }

    pub(crate) fn records(&self) -> Vec<Record> {
        lock(&self.records).clone()
    }

    /// Keeps records up to `limit`; returns how many did not fit.
    pub(crate) fn keep_records(&self, records: &mut Vec<Record>, limit: usize) -> u64 {
        let mut kept = lock(&self.records);
        let room = limit.saturating_sub(kept.len());
        let dropped = records.len().saturating_sub(room);
        records.truncate(room);
        kept.append(records);
        dropped as u64
    }

    /// Publishes counter changes (after the records), then wakes the waiters.
    pub(crate) fn publish(&self, tally: &Tally) {
        for (counter, n) in self.counters.iter().zip(tally.0) {
            if n > 0 {
                counter.fetch_add(n, Ordering::AcqRel);
            }
        }
        self.notify();
    }

    /// Stops the loop for `error`, kept for [`MockServer::try_stop`](crate::MockServer::try_stop).
    pub(crate) fn fail(&self, error: std::io::Error) {
        lock(&self.failure).get_or_insert(error);
        self.stop_requested.store(true, Ordering::Release);
    }

    /// Whether the loop stopped for a failure, without taking it.
    pub(crate) fn failure_message(&self) -> Option<String> {
        lock(&self.failure).as_ref().map(ToString::to_string)
    }

    pub(crate) fn take_failure(&self) -> Option<std::io::Error> {
        lock(&self.failure).take()
    }

    pub(crate) fn mark_stopped(&self) {
        self.stopped.store(true, Ordering::Release);
        self.notify();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    fn notify(&self) {
        let mut generation = lock(&self.generation);
        *generation = generation.wrapping_add(1);
        self.changed.notify_all();
    }

    /// Waits until `condition` holds for the stats (true), the timeout passes or the server has
    /// stopped (false).
    pub(crate) fn wait_for(
        &self,
        mut condition: impl FnMut(&MockStats) -> bool,
        timeout: Option<Duration>,
    ) -> bool {
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let mut generation = lock(&self.generation);
        loop {
            if condition(&self.stats()) {
                return true;
            }
            if self.is_stopped() {
                return false;
            }
            generation = match deadline {
                None => self.changed.wait(generation).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.changed.wait_timeout(generation, left).unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
    }
}
