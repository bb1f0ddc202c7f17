//! What the event loop reports: the one event stream, counters, typed errors.

use std::io;
use std::time::Duration;

use apns_proto::{DeviceToken, FeedbackItem, Notification, NotificationId, Status};
use apns_resend::{FailReason, Outcome, Report};
use rustls::{AlertDescription, CertificateError};

/// Something that happened on the event loop, delivered to the
/// [`Config::on_event`](crate::Config::on_event) handler: the one stream of what the client
/// learned.
///
/// Every error response of the gateway yields exactly one event that says what it meant (see
/// [`Event::error_response`]): a rejection is the [`Finished`](Self::Finished) report of the
/// notification it named; a transient status is [`Retrying`](Self::Retrying); a shutdown is
/// [`Shutdown`](Self::Shutdown); a response naming no notification in flight is
/// [`UnmatchedError`](Self::UnmatchedError); the answer to a confirmation probe is
/// [`Confirmed`](Self::Confirmed). The identifier the client wrote on the wire never appears.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A notification reached its final outcome: exactly one per notification the client took.
    /// A rejection (`Outcome::Rejected(status)`) carries the status of the error response with
    /// the user's identifier and the token.
    Finished {
        /// The connection slot (0 to `connections - 1`) it was sent on.
        connection: usize,
        /// The outcome, with the user's identifier and the token.
        report: Report,
    },
    /// The gateway answered a notification with a transient status (1, 255 or an undocumented
    /// code): it is written again on the next connection. (When its retries are exhausted its
    /// [`Finished`](Self::Finished) report carries the status instead.)
    Retrying {
        /// The connection slot.
        connection: usize,
        /// The identifier the user gave the notification.
        id: NotificationId,
        /// Its device token.
        token: DeviceToken,
        /// The status of the error response.
        status: Status,
    },
    /// The gateway shut the connection down (status 10): the notifications before the one it
    /// named are accepted (their reports come first), those after it are written again.
    Shutdown {
        /// The connection slot.
        connection: usize,
    },
    /// An error response named no notification in flight (identifier 0, an unknown one, or one
    /// already presumed accepted): everything in flight is written again, as possible
    /// duplicates (see `apns_resend`, "Unknown identifiers").
    UnmatchedError {
        /// The connection slot.
        connection: usize,
        /// The status of the error response.
        status: Status,
        /// Whether it named a notification already presumed accepted (a sign that `max_age` is
        /// too short for this gateway).
        late: bool,
    },
    /// An explicit confirmation (a flush or a graceful close) was answered on a connection:
    /// every notification written before the probe is proved accepted or was reported.
    Confirmed {
        /// The connection slot.
        connection: usize,
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
        error: ConnectError,
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
    /// A connection with nothing left to settle was closed after the idle timeout; the next
    /// send reopens it.
    IdleClosed {
        /// The connection slot.
        connection: usize,
    },
    /// A confirmation probe went unanswered for `proof_timeout`: the notifications it covered
    /// were reported `Unconfirmed` (written, fate unknown; never presumed), and the connection
    /// was closed. The rest is written on a new one.
    ProofTimeout {
        /// The connection slot.
        connection: usize,
    },
}

impl Event {
    /// The error response this event reports, in the user's terms, if it reports one: a
    /// rejection, a transient status (retried, or the last one of a notification out of
    /// retries), a shutdown, or a response naming no notification in flight. Exactly one event
    /// per error response the gateway sent answers `Some` (confirmation probes excepted).
    pub fn error_response(&self) -> Option<GatewayResponse> {
        match *self {
            Self::Finished { ref report, .. } => {
                let status = match report.outcome {
                    Outcome::Rejected(status) => status,
                    Outcome::Failed(FailReason::RetriesExhausted { last_status: Some(status) }) => status,
                    _ => return None,
                };
                Some(GatewayResponse { status, id: Some(report.id), token: Some(report.token) })
            }
            Self::Retrying { id, token, status, .. } => {
                Some(GatewayResponse { status, id: Some(id), token: Some(token) })
            }
            Self::Shutdown { .. } => {
                Some(GatewayResponse { status: Status::SHUTDOWN, id: None, token: None })
            }
            Self::UnmatchedError { status, .. } => Some(GatewayResponse { status, id: None, token: None }),
            _ => None,
        }
    }
}

/// An error response of the gateway as it concerns the user (PyAPNs' response listener
/// argument, `{'status': .., 'identifier': ..}`): see [`Event::error_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewayResponse {
    /// The status (see [`Status::description`]).
    pub status: Status,
    /// The identifier you gave the notification it named: always for a rejection (statuses 2
    /// to 8) and a transient status (1, 255); `None` for a shutdown (10) or a response naming
    /// no notification in flight.
    pub id: Option<NotificationId>,
    /// The token of the notification named, when `id` is known.
    pub token: Option<DeviceToken>,
}

/// Why a connection could not be made (or broke): the cause of
/// [`Event::ConnectFailed`] and [`FeedbackError::Connect`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The host name has no address.
    #[error("cannot resolve {host}")]
    Resolve {
        /// The host name.
        host: String,
    },
    /// The server refused the TCP connection (nothing listens there, or a firewall said no).
    #[error("connection refused")]
    Refused,
    /// The TCP connect did not finish within the connect timeout.
    #[error("the TCP connect timed out")]
    ConnectTimeout,
    /// The TLS handshake did not finish within the connect timeout.
    #[error("the TLS handshake timed out")]
    HandshakeTimeout,
    /// The server's certificate is not trusted: unknown issuer, wrong name, expired...
    #[error("the server's certificate is not trusted: {0}")]
    UntrustedServer(CertificateError),
    /// The server refused the client certificate (or its absence), with this TLS alert.
    #[error("the server refused the client certificate (TLS alert {0:?})")]
    CertificateRefused(AlertDescription),
    /// The connection closed before the TLS handshake finished.
    #[error("the server closed the connection during the TLS handshake")]
    ClosedDuringHandshake,
    /// The server did not negotiate HTTP/2 (ALPN `h2`): it chose another protocol (given,
    /// lossily decoded) or none at all.
    #[error("the server did not negotiate HTTP/2 (ALPN h2); it chose {}", negotiated.as_deref().unwrap_or("no protocol"))]
    NoHttp2 {
        /// The protocol the server chose, if any.
        negotiated: Option<String>,
    },
    /// Any other TLS failure.
    #[error("TLS error: {0}")]
    Tls(rustls::Error),
    /// Any other socket error.
    #[error("socket error: {0}")]
    Io(io::ErrorKind),
}

impl ConnectError {
    /// The cause of a socket error.
    pub(crate) fn from_io(error: &io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::ConnectionRefused => Self::Refused,
            kind => Self::Io(kind),
        }
    }

    /// The cause of a TLS error: the server's certificate refused by us, ours refused by it, or
    /// anything else.
    pub(crate) fn from_tls(error: rustls::Error) -> Self {
        use AlertDescription as A;
        match error {
            rustls::Error::InvalidCertificate(cause) => Self::UntrustedServer(cause),
            rustls::Error::AlertReceived(
                alert @ (A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::AccessDenied
                | A::CertificateRequired
                // A certificate whose signature does not verify (RFC 8446, section 6.2), as
                // rustls servers answer a client certificate from an issuer they do not know.
                | A::DecryptError),
            ) => Self::CertificateRefused(alert),
            other => Self::Tls(other),
        }
    }

    /// Whether this is a TLS-level failure (certificates, alerts): one that a new attempt made
    /// at once would meet again, so it counts toward the backoff even after the handshake.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(
            self,
            Self::UntrustedServer(_) | Self::CertificateRefused(_) | Self::Tls(_) | Self::NoHttp2 { .. }
        )
    }

    /// Whether this failure is the configuration's (the server's certificate not trusted, ours
    /// refused, no HTTP/2): waiting and reconnecting would meet it again, so the attempts end at
    /// once instead of after the reconnect budget.
    pub fn is_configuration(&self) -> bool {
        matches!(self, Self::UntrustedServer(_) | Self::CertificateRefused(_) | Self::NoHttp2 { .. })
    }
}

/// A snapshot of the client's counters ([`Client::counters`](crate::Client::counters)), derived
/// from each connection's sent-notification buffer
/// ([`apns_resend::Stats`](apns_resend::Stats)) and connection machine: nothing is counted twice.
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
    /// Of `accepted`, those presumed accepted (no error response within `max_age`, under
    /// `Settlement::Presume` only), not proved.
    pub presumed_accepted: u64,
    /// Notifications written whose fate is unknown: the probe behind them went unanswered
    /// ([`Outcome::Unconfirmed`]). Not counted in `accepted`.
    pub unconfirmed: u64,
    /// Confirmation probes written.
    pub probes: u64,
    /// Probes unanswered within `proof_timeout`.
    pub proof_timeouts: u64,
    /// Notifications rejected with a permanent status.
    pub rejected: u64,
    /// Notifications given up (retries exhausted, connect failures, force close).
    pub failed: u64,
    /// Accepted notifications that may have been delivered twice (after a silent close).
    pub possible_duplicates: u64,
    /// Error responses received (including the answers to confirmation probes).
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
        self.accepted + self.unconfirmed + self.rejected + self.failed
    }
}

/// Why [`Client::start`](crate::Client::start) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The poller, the waker or the thread could not be created.
    #[error("cannot start the event loop: {0}")]
    Io(#[from] std::io::Error),
    /// The gateway host is not a valid DNS name or IP address.
    #[error("invalid server name {0:?}")]
    InvalidServerName(String),
    /// The sent-notification buffer configuration was refused.
    #[error("invalid resend configuration: {0}")]
    Resend(#[from] apns_resend::ConfigError),
    /// `connections` or `queue_capacity` is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// The HTTP/2 delivery configuration was refused.
    #[error("invalid HTTP/2 delivery configuration: {0}")]
    Delivery(#[from] apns_resend::http2::ConfigError),
    /// The HTTP/2 connection configuration was refused.
    #[error("invalid HTTP/2 connection configuration: {0}")]
    Http2(#[from] apns_h2::ConfigError),
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

/// Why [`fetch_feedback`](crate::fetch_feedback) failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedbackError {
    /// The connection could not be made, or failed before any item arrived.
    #[error("feedback connection failed: {0}")]
    Connect(ConnectError),
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
}

/// What [`Client::flush`](crate::Client::flush), [`Client::close`](crate::Client::close) and
/// [`Client::force_close`](crate::Client::force_close) leave.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseSummary {
    /// Whether every notification taken (before the flush, for a flush) was settled (confirmed,
    /// rejected or failed) before the deadline. `false` after a force close with notifications
    /// in flight: those were reported `Failed(Abandoned)`.
    pub settled: bool,
    /// Notifications taken by `send` that never reached a connection (force close only).
    pub unsent: Vec<Notification>,
    /// The counters at that moment.
    pub counters: Counters,
}
