//! What goes in and comes out of a [`SentBuffer`](crate::SentBuffer), apart from the
//! notifications themselves.

use std::fmt;

use apns_proto::{DeviceToken, ErrorResponse, Notification, NotificationId, Status};

/// The handle of one notification handed to [`SentBuffer::send`](crate::SentBuffer::send),
/// unique within that buffer. Reports carry it, so a caller can match outcomes to submissions
/// without relying on the notification identifiers its users chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub(crate) u64);

impl Ticket {
    /// The raw value: tickets count up from 0 in the order notifications were handed in.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Output of [`SentBuffer::poll_event`](crate::SentBuffer::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A notification reached its final outcome. Exactly one per notification handed in.
    Finished(Report),
    /// The confirmation probe requested with [`SentBuffer::confirm`](crate::SentBuffer::confirm)
    /// was answered: every notification handed in before it has been reported (the
    /// [`Finished`](Self::Finished) events come first).
    Confirmed,
    /// The explicit confirmation did not prove everything it covered: a probe went unanswered
    /// for `proof_timeout` (what it covered is [`Outcome::Unconfirmed`]), or the buffer was
    /// abandoned. Every notification it covered has been reported.
    ConfirmationFailed,
    /// A transient status (1, 255, or a code Apple never documented) named this notification: it
    /// is written again, first on the next connection. When its retries are exhausted there is
    /// no `Retrying`: its [`Finished`](Self::Finished) report says
    /// `Failed(RetriesExhausted { last_status })` instead.
    Retrying {
        /// The handle returned by [`SentBuffer::send`](crate::SentBuffer::send).
        ticket: Ticket,
        /// The identifier the user set on the notification (not the wire identifier).
        id: NotificationId,
        /// The device token.
        token: DeviceToken,
        /// The status of the error response.
        status: Status,
    },
    /// A shutdown (status 10) named a notification in flight: it and everything before it are
    /// accepted (their [`Finished`](Self::Finished) events come first), everything after it is
    /// written again on the next connection.
    Shutdown,
    /// An error response named an identifier that is not in the window (see the crate docs,
    /// "Unknown identifiers"). Everything in flight was treated as of unknown fate.
    UnmatchedError {
        /// The error response as received.
        response: ErrorResponse,
        /// Whether the identifier was written on this connection but had already left the
        /// window (presumed accepted): a sign that `max_age` is too short for this gateway.
        late: bool,
    },
}

/// The final outcome of one notification, with its user-chosen identifier and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The handle returned by [`SentBuffer::send`](crate::SentBuffer::send).
    pub ticket: Ticket,
    /// The identifier the user set on the notification (not the wire identifier).
    pub id: NotificationId,
    /// The device token.
    pub token: DeviceToken,
    /// What happened.
    pub outcome: Outcome,
    /// How many times the notification was written.
    pub writes: u32,
    /// How many of those writes had an unknown fate: the connection closed with no error
    /// response, or the error response named an unknown identifier, while it was in flight.
    /// Each such write may have been delivered.
    pub uncertain_writes: u8,
}

impl Report {
    /// Whether the device may receive this notification more than once: it was accepted (or
    /// presumed so) after at least one write of unknown fate, which may have been delivered too;
    /// or it failed after two or more writes of unknown fate, any of which may have been
    /// delivered.
    pub fn possible_duplicate(&self) -> bool {
        let last = self.outcome.is_accepted() || self.outcome == Outcome::Unconfirmed;
        let deliveries = u32::from(last) + u32::from(self.uncertain_writes);
        deliveries > 1
    }

    /// Whether the notification may have reached the device despite an outcome that is not
    /// acceptance: it is [`Unconfirmed`](Outcome::Unconfirmed), or one of its writes had an
    /// unknown fate.
    pub fn maybe_delivered(&self) -> bool {
        self.outcome.is_accepted() || self.outcome == Outcome::Unconfirmed || self.uncertain_writes > 0
    }
}

/// How a notification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Proved accepted: a later notification on the same connection was answered with an error
    /// response, a shutdown (status 10) response named it or a later one, or a confirmation
    /// probe after it was answered.
    Accepted,
    /// Only under [`Settlement::Presume`](crate::Settlement::Presume): left the window after
    /// `max_age` with no error response. `max_age` counts from the client's write, not the
    /// gateway's read, so a gateway that reads slowly (bytes waiting in socket buffers) can be
    /// presumed to have accepted what it never read: see the crate docs, "What presumed
    /// accepted guarantees".
    PresumedAccepted,
    /// Written, fate unknown: the probe behind it went unanswered for `proof_timeout` (the
    /// gateway was not reading, or not answering). It may or may not have been delivered; it is
    /// not written again (that could deliver it twice). Never counted as accepted.
    Unconfirmed,
    /// The gateway refused it with a permanent status (2 to 8: the notification itself is at
    /// fault). Never written again.
    Rejected(Status),
    /// Given up.
    Failed(FailReason),
}

impl Outcome {
    /// Whether this is [`Accepted`](Self::Accepted) or [`PresumedAccepted`](Self::PresumedAccepted).
    pub const fn is_accepted(self) -> bool {
        matches!(self, Self::Accepted | Self::PresumedAccepted)
    }
}

/// Why a notification was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailReason {
    /// It failed more than `max_retries` times in a way that may have been its own fault.
    /// `last_status` is the last status naming it (a transient one: 1, 255, or a code Apple never
    /// documented), or `None` if the last failure was of unknown fate (a close with no error
    /// response, or an unknown identifier).
    RetriesExhausted {
        /// The last status that named this notification, if the last failure had one.
        last_status: Option<Status>,
    },
    /// The buffer was full and the caller chose not to wait ([`Full::into_report`]).
    BufferFull,
    /// The caller gave up with [`SentBuffer::abandon`](crate::SentBuffer::abandon).
    Abandoned,
}

/// Counters since the buffer was created. Each settled notification is counted in exactly one of
/// `accepted`, `presumed_accepted`, `unconfirmed`, `rejected` and `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Notifications handed in and accepted by [`SentBuffer::send`](crate::SentBuffer::send).
    pub handed_in: u64,
    /// Notifications refused by `send` because the buffer was full.
    pub refused: u64,
    /// Notification writes, first writes and resends (probes not counted).
    pub writes: u64,
    /// Writes that were resends.
    pub resends: u64,
    /// Settled [`Outcome::Accepted`].
    pub accepted: u64,
    /// Settled [`Outcome::PresumedAccepted`].
    pub presumed_accepted: u64,
    /// Settled [`Outcome::Unconfirmed`].
    pub unconfirmed: u64,
    /// Settled [`Outcome::Rejected`].
    pub rejected: u64,
    /// Settled [`Outcome::Failed`].
    pub failed: u64,
    /// Settled notifications that may have been delivered more than once
    /// ([`Report::possible_duplicate`]).
    pub possible_duplicates: u64,
    /// Writes whose fate became unknown (each is counted in its notification's
    /// [`Report::uncertain_writes`]).
    pub uncertain_writes: u64,
    /// Error responses handled.
    pub error_responses: u64,
    /// Error responses naming an identifier not in the window.
    pub unmatched_errors: u64,
    /// Of those, the ones naming an identifier that had already aged out of the window.
    pub late_errors: u64,
    /// Connections closed ([`SentBuffer::handle_close`](crate::SentBuffer::handle_close) calls).
    pub closes: u64,
    /// Closes with notifications in flight and no error response before them.
    pub silent_closes: u64,
    /// Confirmation probes answered.
    pub confirmations: u64,
    /// Confirmation probes written (by [`Settlement::Prove`](crate::Settlement::Prove) or
    /// [`SentBuffer::confirm`](crate::SentBuffer::confirm)).
    pub probes: u64,
    /// Probes unanswered for `proof_timeout`.
    pub proof_timeouts: u64,
}

/// [`SentBuffer::send`](crate::SentBuffer::send) refused a notification: the buffer holds
/// `capacity` notifications (in flight, queued, or settled with a report not yet polled).
///
/// The notification was not handed in and is given back untouched. To wait, keep it and send it
/// again once [`SentBuffer::poll_event`](crate::SentBuffer::poll_event) or time has freed room;
/// not to wait, report it failed with [`Full::into_report`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sent-notification buffer is full")]
pub struct Full {
    /// The ticket reserved for this attempt (used by [`Full::into_report`]).
    pub ticket: Ticket,
    /// The notification, given back.
    pub notification: Notification,
}

impl Full {
    /// The final report of a notification the caller chose not to wait for:
    /// [`Outcome::Failed`] with [`FailReason::BufferFull`], never written.
    pub fn into_report(self) -> Report {
        Report {
            ticket: self.ticket,
            id: self.notification.id,
            token: self.notification.token,
            outcome: Outcome::Failed(FailReason::BufferFull),
            writes: 0,
            uncertain_writes: 0,
        }
    }
}

/// What [`SentBuffer::confirm`](crate::SentBuffer::confirm) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Confirmation {
    /// Nothing was unsettled: every notification handed in is already reported. No probe is sent.
    Settled,
    /// A probe was queued after everything handed in so far; [`Event::Confirmed`] or
    /// [`Event::ConfirmationFailed`] follows.
    Queued,
}

/// Why [`SentBuffer::confirm`](crate::SentBuffer::confirm) refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfirmError {
    /// The simple format (command 0) carries no identifier, so no answer can name the probe.
    #[error("the simple format cannot be confirmed: it carries no identifier")]
    Unsupported,
    /// A probe is already queued or in flight.
    #[error("a confirmation is already pending")]
    AlreadyPending,
}

/// One notification (or probe) written by
/// [`SentBuffer::poll_transmit`](crate::SentBuffer::poll_transmit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// The identifier written on the wire, assigned by the buffer: never 0, and unique among the
    /// last 2^32 - 1 writes.
    pub wire_id: NotificationId,
    /// How many bytes were appended to the output buffer.
    pub len: usize,
    /// What was written.
    pub kind: TransmitKind,
}

/// What a [`Transmit`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransmitKind {
    /// A notification written for the first time.
    First(Ticket),
    /// A notification written again, after a rejection of an earlier one, a shutdown, or a
    /// failure of unknown fate.
    Resend(Ticket),
    /// A confirmation probe: a deliberately invalid notification (no device token) whose error
    /// response proves that the gateway processed everything before it.
    Probe,
}

/// Where the current connection stands, as far as the buffer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Writing is allowed.
    Open,
    /// A confirmation probe was written; nothing more is written on this connection, since the
    /// gateway will discard it and close.
    Confirming,
    /// An error response arrived; the gateway discards everything else and closes. Nothing is
    /// written until [`SentBuffer::handle_close`](crate::SentBuffer::handle_close).
    Failed,
}
