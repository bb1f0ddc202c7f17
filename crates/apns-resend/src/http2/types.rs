//! The values that cross the delivery machine's boundary: items, reports, events, commands.

use std::fmt;
use std::time::{Instant, SystemTime};

use apns_h2::ErrorCode;
use apns_proto::http2::{ApnsId, BroadcastNotification, DeviceNotification, Reason};

/// A pooled connection's identity, chosen by [`Delivery`](super::Delivery): each
/// [`TransportCommand::Open`] names a new one, never reused within a `Delivery`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// Which notification a stream carries: handed out by
/// [`Delivery::poll_request`](super::Delivery::poll_request), handed back with the stream's fate.
/// Opaque; a key of a settled notification is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

/// A key as one number, for a transport that carries it with its stream
/// (`apns_h2::Connection::send_request_with_key`).
impl From<StreamKey> for u64 {
    fn from(key: StreamKey) -> Self {
        (u64::from(key.generation) << 32) | u64::from(key.slot)
    }
}

/// The key a transport hands back. Any number makes a key; one that names no notification in
/// flight on that connection is ignored, as a stale key is.
impl From<u64> for StreamKey {
    fn from(key: u64) -> Self {
        // The low and high halves, as `From<StreamKey> for u64` packs them.
        Self { slot: key as u32, generation: (key >> 32) as u32 }
    }
}

/// What to deliver: a device notification or a broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notification {
    /// `POST /3/device/<token>`.
    Device(DeviceNotification),
    /// `POST /4/broadcasts/apps/<bundle id>` (Live Activities).
    Broadcast(BroadcastNotification),
}

/// A notification handed to [`Delivery::send`](super::Delivery::send), with the caller's tag
/// (returned in its [`Report`]) and an optional deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<U> {
    /// The notification.
    pub notification: Notification,
    /// The caller's tag, returned in the report.
    pub tag: U,
    /// Give up (with [`FailReason::DeadlinePassed`]) if not settled by then. `None`: only the
    /// notification's `apns-expiration` and the retry limit bound it.
    pub deadline: Option<Instant>,
}

impl<U> Item<U> {
    /// A device notification.
    pub fn device(notification: DeviceNotification, tag: U) -> Self {
        Self { notification: Notification::Device(notification), tag, deadline: None }
    }

    /// A broadcast.
    pub fn broadcast(notification: BroadcastNotification, tag: U) -> Self {
        Self { notification: Notification::Broadcast(notification), tag, deadline: None }
    }

    /// With a deadline.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }
}

/// [`Delivery::send`](super::Delivery::send) refused an item: the machine holds `capacity`
/// notifications (queued, in flight, or settled with a report not yet polled). The item is
/// given back untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Full<U>(pub Item<U>);

impl<U> Full<U> {
    /// The item, to send later.
    pub fn into_item(self) -> Item<U> {
        self.0
    }
}

impl<U> fmt::Display for Full<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the delivery queue is full")
    }
}

impl<U: fmt::Debug> std::error::Error for Full<U> {}

/// How a notification ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Apple answered 2xx.
    Accepted {
        /// `apns-id` (Apple's echo, else the one sent; for a broadcast, `apns-request-id`).
        apns_id: Option<ApnsId>,
        /// `apns-unique-id` (the sandbox's delivery-log id), when present.
        unique_id: Option<ApnsId>,
    },
    /// Apple refused this notification for good (a bad or unregistered device token, a payload
    /// too large, ...). Never sent again.
    Rejected(Rejection),
    /// Not delivered, and not for a reason of its own.
    Failed(FailReason),
}

/// Apple's refusal: status, reason, and with 410 when the token stopped being valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `:status`.
    pub status: u16,
    /// The body's `reason`, if it had one.
    pub reason: Option<Reason>,
    /// 410 only: when Apple found the device token no longer valid for the topic.
    pub timestamp: Option<SystemTime>,
}

/// Why a notification was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailReason {
    /// The gateway halted: credentials or configuration refused (see [`HaltReason`]).
    Halted(HaltReason),
    /// Sent `max_retries + 1` times without an answer that settles it; `last` says why the last
    /// attempt failed.
    RetriesExhausted {
        /// The last attempt's failure.
        last: RetryCause,
    },
    /// Its `apns-expiration` passed before it could be (re)sent; an expiry of 0 ("now or
    /// never") passes after any attempt that may have reached Apple.
    ExpiryPassed,
    /// The item's own deadline passed.
    DeadlinePassed,
    /// No connection could be established within `reconnect_budget`.
    Unreachable,
    /// [`Delivery::abandon`](super::Delivery::abandon), or sent after
    /// [`close`](super::Delivery::close).
    Abandoned,
}

/// Why the gateway stopped sending.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HaltReason {
    /// Apple refused the credentials or configuration (InvalidProviderToken, BadCertificate,
    /// BadCertificateEnvironment, TopicDisallowed, MissingProviderToken, a 403 without reason,
    /// ...), in a response or a GOAWAY: every notification would fail the same way.
    Refused(Rejection),
    /// A provider token could not be signed.
    TokenSigning,
    /// A connection could not be established for a reason of the configuration
    /// ([`ConnectionLoss::Refused`]); the transport logs and reports which.
    ConnectRefused,
}

/// Why an attempt is repeated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryCause {
    /// Certainly not processed: REFUSED_STREAM, above a GOAWAY's last-stream-id, or never
    /// written. Not charged against `max_retries`, never a duplicate.
    Refused,
    /// The connection ended, or the stream was reset, with the request possibly processed:
    /// charged, and the notification is marked a possible duplicate.
    ConnectionLost,
    /// No response within `response_timeout`: the stream was cancelled (charged, possible
    /// duplicate).
    ResponseTimeout,
    /// 429, 500, 503 (or another "retry later" answer): charged, sent again after `retry-after`
    /// or a backoff.
    Status {
        /// `:status`.
        status: u16,
        /// The reason, if any.
        reason: Option<Reason>,
    },
    /// `ExpiredProviderToken`: charged, sent again with a new token.
    ExpiredToken,
}

/// The one report of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report<U> {
    /// The caller's tag.
    pub tag: U,
    /// The notification, as sent (with its `apns-id` / `apns-request-id` filled in).
    pub notification: Notification,
    /// The `apns-id` it was sent with (`apns-request-id` for a broadcast).
    pub apns_id: ApnsId,
    /// What happened.
    pub outcome: Outcome,
    /// It was sent again after an attempt that may have been processed (a connection lost or a
    /// stream reset with the stream open, a response timeout): the device may get it twice.
    pub possible_duplicate: bool,
    /// How many times its request was handed to a connection.
    pub attempts: u32,
}

/// What the caller learns from [`Delivery::poll_event`](super::Delivery::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // Finished is the common event.
pub enum Event<U> {
    /// A notification is settled: exactly once per item.
    Finished(Report<U>),
    /// A notification will be sent again.
    Retrying {
        /// Its `apns-id`.
        apns_id: ApnsId,
        /// Why.
        cause: RetryCause,
        /// Charged retries so far.
        retries: u32,
        /// When it may be sent again (`None`: as soon as a stream is free).
        at: Option<Instant>,
    },
    /// The gateway stopped sending: what was queued has failed with
    /// [`FailReason::Halted`], new items fail likewise until
    /// [`Delivery::resume`](super::Delivery::resume).
    Halted {
        /// Why.
        reason: HaltReason,
    },
    /// A new provider token is in use.
    TokenRefreshed,
    /// A connection is established.
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// A connection attempt failed or timed out.
    ConnectFailed {
        /// The connection.
        conn: ConnId,
    },
    /// The server sent GOAWAY: the connection takes no new streams and is replaced.
    GoAway {
        /// The connection.
        conn: ConnId,
        /// GOAWAY's code.
        code: ErrorCode,
        /// The `reason` of its debug data, if it had one.
        reason: Option<Reason>,
    },
    /// A connection is gone.
    Disconnected {
        /// The connection.
        conn: ConnId,
    },
    /// No connection taking streams for `reconnect_budget`: what was queued failed with
    /// [`FailReason::Unreachable`]. Connecting resumes with the next item.
    Unreachable,
    /// After [`close`](super::Delivery::close) or [`abandon`](super::Delivery::abandon): every
    /// notification is settled and every connection closed. Once; only the reports of items
    /// sent later (failed at once) follow it.
    Closed,
}

/// What the transport must do with its connections, from
/// [`Delivery::poll_transport`](super::Delivery::poll_transport).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportCommand {
    /// Connect (DNS, TCP, TLS with ALPN `h2`, HTTP/2 preface), then call
    /// [`handle_established`](super::Delivery::handle_established), or
    /// [`handle_closed`](super::Delivery::handle_closed) if it fails.
    Open(ConnId),
    /// Close gracefully (`apns_h2::Connection::shutdown`: GOAWAY, let open streams finish).
    Close(ConnId),
    /// Close now (`apns_h2::Connection::abort`); the open streams' fates follow.
    Abort(ConnId),
    /// Send a PING (`apns_h2::Connection::ping`).
    Ping(ConnId),
    /// Reset this stream (`apns_h2::Connection::cancel`); its fate follows.
    Cancel(ConnId, StreamKey),
}

/// How a connection ended, for [`Delivery::handle_closed`](super::Delivery::handle_closed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionLoss {
    /// It never got established (DNS, TCP, a TLS or handshake failure worth retrying).
    Connect,
    /// It was refused for a reason of the configuration that every new attempt would meet
    /// again: the server's certificate is not trusted, ours was refused (under TLS 1.3 that
    /// can come after the connection looked established), or the server does not speak
    /// HTTP/2. The gateway halts ([`HaltReason::ConnectRefused`]).
    Refused,
    /// apns-h2 reported [`apns_h2::Event::Closed`] (after every stream's fate).
    Closed(apns_h2::Closed),
    /// The transport failed without apns-h2 closing (an I/O error).
    Io,
}

/// Counters since the start, and the current sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Notifications queued (ready or waiting out a backoff), not in flight.
    pub queued: usize,
    /// Streams in flight on all connections.
    pub in_flight: usize,
    /// Connections established now.
    pub established: usize,
    /// Notifications handed in.
    pub sent: u64,
    /// Requests handed to connections (attempts).
    pub requests: u64,
    /// Accepted.
    pub accepted: u64,
    /// Rejected.
    pub rejected: u64,
    /// Failed.
    pub failed: u64,
    /// Rejections per documented reason (undocumented reasons count in `rejected_other`).
    pub rejections: std::collections::BTreeMap<Reason, u64>,
    /// Rejections with no or an undocumented reason.
    pub rejected_other: u64,
    /// Charged retries.
    pub retries: u64,
    /// Streams refused (not processed, sent again free).
    pub refused_streams: u64,
    /// Reports with `possible_duplicate`.
    pub possible_duplicates: u64,
    /// Response timeouts (streams cancelled).
    pub response_timeouts: u64,
    /// GOAWAYs received.
    pub goaways: u64,
    /// New provider tokens used.
    pub token_refreshes: u64,
    /// Connections opened (attempts).
    pub connects: u64,
    /// Connection attempts that failed or timed out.
    pub connect_failures: u64,
    /// PINGs asked for.
    pub pings: u64,
}

#[cfg(test)]
mod key_tests {
    use super::StreamKey;

    proptest::proptest! {
        /// A key survives the trip through a transport's `u64`, and every `u64` is one key.
        #[test]
        fn stream_keys_round_trip_through_u64(slot in proptest::prelude::any::<u32>(), generation in proptest::prelude::any::<u32>(), raw in proptest::prelude::any::<u64>()) {
            let key = StreamKey { slot, generation };
            proptest::prop_assert_eq!(StreamKey::from(u64::from(key)), key);
            proptest::prop_assert_eq!(u64::from(StreamKey::from(raw)), raw);
        }
    }
}
