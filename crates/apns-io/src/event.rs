//! What the event loop reports: events, counters, errors.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use apns_proto::{ErrorResponse, FeedbackItem, Notification};
use apns_resend::Report;

/// Something that happened on the event loop, delivered to the
/// [`Config::on_event`](crate::Config::on_event) handler.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A notification reached its final outcome: exactly one per notification the client took.
    Finished {
        /// The connection slot (0 to `connections - 1`) it was sent on.
        connection: usize,
        /// The outcome, with the user's identifier and the token.
        report: Report,
    },
    /// A gateway connection finished its TLS handshake.
    Connected {
        /// The connection slot.
        connection: usize,
    },
    /// A connect attempt failed (TCP, TLS handshake, certificate, timeout).
    ConnectFailed {
        /// The connection slot.
        connection: usize,
        /// Consecutive failures so far.
        attempt: u32,
        /// What went wrong.
        error: String,
        /// Whether the limit was reached and the slot's waiting notifications were failed.
        gave_up: bool,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
    /// The gateway closed a connection without an error response (or the connection broke):
    /// the notifications in flight are written again and counted as possible duplicates.
    SilentClose {
        /// The connection slot.
        connection: usize,
        /// Notifications that were in flight.
        in_flight: usize,
    },
    /// An error response named an identifier not in flight (see `apns_resend`).
    UnmatchedError {
        /// The connection slot.
        connection: usize,
        /// The response.
        response: ErrorResponse,
        /// Whether it named a notification already presumed accepted.
        late: bool,
    },
    /// The gateway sent an error response (any status, including 10, shutdown), before the
    /// notifications it settles are reported. `response.id` is the wire identifier, not the
    /// user's: the [`Event::Finished`] events that follow carry the user's identifiers.
    ErrorResponse {
        /// The connection slot.
        connection: usize,
        /// The response as received.
        response: ErrorResponse,
    },
    /// A connection with nothing left to settle was closed after the idle timeout; the next
    /// send reopens it.
    IdleClosed {
        /// The connection slot.
        connection: usize,
    },
    /// An explicit confirmation (graceful close) was answered on a connection.
    Confirmed {
        /// The connection slot.
        connection: usize,
    },
}

/// A snapshot of the client's counters ([`Client::counters`](crate::Client::counters)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Counters {
    /// Notifications taken by `send`.
    pub submitted: u64,
    /// First writes of notifications.
    pub sent: u64,
    /// Writes again (after an error response discarded them, a shutdown or a silent close).
    pub resent: u64,
    /// Notifications accepted or presumed accepted.
    pub accepted: u64,
    /// Notifications rejected with a permanent status.
    pub rejected: u64,
    /// Notifications given up (retries exhausted, connect failures, force close).
    pub failed: u64,
    /// Accepted notifications that may have been delivered twice (after a silent close).
    pub possible_duplicates: u64,
    /// Error responses received.
    pub error_responses: u64,
    /// Closes without an error response while notifications were in flight.
    pub silent_closes: u64,
    /// Successful handshakes.
    pub connections: u64,
    /// Successful handshakes that replaced an earlier connection of the same slot.
    pub reconnects: u64,
    /// Failed connect attempts.
    pub connect_failures: u64,
    /// TLS bytes written to sockets.
    pub bytes_written: u64,
    /// TLS bytes read from sockets.
    pub bytes_read: u64,
}

impl Counters {
    /// Notifications with a final outcome.
    pub fn finished(&self) -> u64 {
        self.accepted + self.rejected + self.failed
    }
}

#[derive(Debug, Default)]
pub(crate) struct AtomicCounters {
    pub(crate) submitted: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) resent: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) possible_duplicates: AtomicU64,
    pub(crate) error_responses: AtomicU64,
    pub(crate) silent_closes: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    pub(crate) bytes_read: AtomicU64,
}

impl AtomicCounters {
    pub(crate) fn snapshot(&self) -> Counters {
        Counters {
            submitted: self.submitted.load(Relaxed),
            sent: self.sent.load(Relaxed),
            resent: self.resent.load(Relaxed),
            accepted: self.accepted.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            failed: self.failed.load(Relaxed),
            possible_duplicates: self.possible_duplicates.load(Relaxed),
            error_responses: self.error_responses.load(Relaxed),
            silent_closes: self.silent_closes.load(Relaxed),
            connections: self.connections.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
            bytes_written: self.bytes_written.load(Relaxed),
            bytes_read: self.bytes_read.load(Relaxed),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Relaxed);
        }
    }
}

/// Why [`Client::start`](crate::Client::start) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The poller, the waker or the thread could not be created.
    #[error("cannot start the event loop: {0}")]
    Io(#[from] std::io::Error),
    /// The gateway or feedback host is not a valid DNS name or IP address.
    #[error("invalid server name {0:?}")]
    InvalidServerName(String),
    /// The sent-notification buffer configuration was refused.
    #[error("invalid resend configuration: {0}")]
    Resend(#[from] apns_resend::ConfigError),
    /// `connections` or `queue_capacity` is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

/// Why notifications were not taken by [`Client::send_timeout`](crate::Client::send_timeout) and
/// friends. The notifications not taken are given back, in order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The queue stayed full (for the whole timeout, if any): backpressure.
    #[error("the send queue is full ({} notifications not taken)", unsent.len())]
    Full {
        /// The notifications not taken.
        unsent: Vec<Notification>,
    },
    /// The client is closing or closed.
    #[error("the client is closed ({} notifications not taken)", unsent.len())]
    Closed {
        /// The notifications not taken.
        unsent: Vec<Notification>,
    },
}

/// Why [`Client::fetch_feedback`](crate::Client::fetch_feedback) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedbackError {
    /// No feedback endpoint was configured.
    #[error("no feedback endpoint configured")]
    NotConfigured,
    /// The connection failed.
    #[error("feedback connection failed: {0}")]
    Connect(String),
    /// The server did not close the connection before the deadline.
    #[error("the feedback server did not close within the timeout ({} items received)", received.len())]
    Timeout {
        /// The items received before the deadline.
        received: Vec<FeedbackItem>,
    },
    /// The server closed inside a record.
    #[error("the feedback stream ended inside a record ({} items received)", received.len())]
    Truncated {
        /// The complete items received.
        received: Vec<FeedbackItem>,
    },
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
}

/// What [`Client::close`](crate::Client::close) and
/// [`Client::force_close`](crate::Client::force_close) leave.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseSummary {
    /// Whether every notification taken was settled (confirmed, rejected or failed) before the
    /// deadline. `false` after a force close with notifications in flight: those were reported
    /// `Failed(Abandoned)`.
    pub settled: bool,
    /// Notifications taken by `send` that never reached a connection (force close only).
    pub unsent: Vec<Notification>,
    /// The final counters.
    pub counters: Counters,
}
