//! The sent-notification buffer of Apple's binary push provider protocol, as a pure state
//! machine.
//!
//! This crate is a deterministic state machine: it does no I/O, reads no clock and starts no
//! thread. Every call that depends on time takes `now: Instant`; the caller reports what happened
//! on the connection (`handle_*`) and asks what to do next (`poll_*`), as with `quinn-proto`. So
//! the event loop of `apns-io`, the simulation tests, the benches and the fuzzer all drive the
//! same code, and every behaviour below is tested under simulated time.
//!
//! # What it decides
//!
//! Apple's gateway answers nothing to a notification it accepts. It answers the first invalid
//! one on a connection with a 6-byte error response (status, identifier), usually 0.1 to 0.8 s
//! later; discards everything it read after that notification; and closes the connection. So
//! what a provider wrote must be kept until its fate is known. [`SentBuffer`] keeps it, and gives
//! every notification handed in exactly one final [`Outcome`], with the user's identifier and
//! token ([`Report`]):
//!
//! - [`Accepted`](Outcome::Accepted): proved, because an error response named a later
//!   notification on the same connection, a shutdown (status 10) named it or a later one, or a
//!   confirmation probe after it was answered.
//! - [`PresumedAccepted`](Outcome::PresumedAccepted): only under [`Settlement::Presume`]:
//!   `max_age` passed with no error response.
//! - [`Unconfirmed`](Outcome::Unconfirmed): written, but the probe behind it went unanswered for
//!   `proof_timeout`: fate unknown, never counted as accepted.
//! - [`Rejected`](Outcome::Rejected): named with a permanent status (2 to 8); never written again.
//! - [`Failed`](Outcome::Failed): out of retries, or abandoned ([`SentBuffer::abandon`]), or
//!   refused while the buffer was full and the caller chose not to wait ([`Full::into_report`]).
//!
//! Notifications written after a rejected one, or after the last success named by a shutdown,
//! are written again on the next connection, first and in their original order.
//!
//! # Proof, not presumption (issue 11)
//!
//! By default ([`Settlement::Prove`]) nothing is reported accepted that the gateway did not
//! prove it processed. Behind every window of [`Config::probe_every`] notifications (20,000),
//! [`Config::probe_bytes`] (4 MiB), or [`Config::probe_after`] (2 s) after the first unprobed
//! write, the buffer writes a probe (see "Explicit confirmation"); its answer proves everything
//! before it. No age limit applies while a probe can answer; one unanswered for
//! [`Config::proof_timeout`] (30 s) leaves what it covered [`Outcome::Unconfirmed`] and
//! [`SentBuffer::wants_close`] asks the I/O layer to close the connection.
//!
//! # What presumed accepted guarantees
//!
//! Under [`Settlement::Presume`] (opt-in), `PresumedAccepted` says only: no error response came
//! within `max_age` of our *write*. Had the gateway read the notification promptly and found it
//! invalid, we would have heard; but a gateway that reads slower than we write (bytes waiting
//! in socket buffers, even bytes the kernel acknowledged) may not have read it at all. Measured
//! in issue 11: a mock that read one notification and stalled was presumed to have accepted
//! 30,000. Use it only against a gateway known to read as fast as you write.
//!
//! # Connections
//!
//! One `SentBuffer` serves one connection at a time: an error response or a close refers to the
//! notifications written on the current connection only, and the first write after
//! [`SentBuffer::handle_close`] starts the next connection. An I/O layer with several parallel
//! connections gives each its own `SentBuffer` (and so its own order and window).
//!
//! # Wire identifiers
//!
//! Correctness never depends on the identifiers users choose (PyAPNs resent almost its whole
//! buffer when users left them at 0). The buffer numbers every write itself: the wire identifier
//! is a running count of writes modulo 2^32 - 1, plus one. It is never 0, unique among any
//! 2^32 - 1 consecutive writes (the window is at most 2^31), and maps back to the notification in
//! O(1). A resend gets a new identifier; the user's own identifier is only carried into the
//! [`Report`].
//!
//! # Defaults and bounds
//!
//! Memory is bounded by count and by age (see [`Config`]):
//!
//! - `max_age` = 2 s: error responses arrive within about a second (0.1 to 0.8 s observed), so a
//!   notification twice that old with no answer is presumed accepted and freed. A shorter age
//!   risks presuming accepted one that is then named by a late error response (reported as
//!   [`Event::UnmatchedError`] with `late: true`).
//! - `max_in_flight` = 20,000: at 2 s that allows 10,000 notifications per second per connection,
//!   above what one binary connection sustains, so the window bounds memory without throttling.
//!   When the window is full, [`SentBuffer::poll_transmit`] returns `None`.
//! - `capacity` = 40,000: notifications held, counting in-flight, queued and settled-but-not-polled
//!   ones. [`SentBuffer::send`] then refuses with [`Full`] and gives the notification back
//!   (backpressure: the caller waits or reports [`FailReason::BufferFull`]). Since unpolled
//!   reports count, an application that never reads outcomes is stopped, not silently ignored.
//! - `max_retries` = 3 and `max_uncertain_writes` = 10: see below.
//!
//! # Statuses
//!
//! - 10 (shutdown): the identifier is the last success; it and everything before it are
//!   accepted, everything after is written again, nothing is rejected ([`Event::Shutdown`]).
//! - 2 to 8 ([`Status::is_permanent`](apns_proto::Status::is_permanent)): the notification is
//!   rejected, never retried (its [`Report`] says `Rejected(status)`).
//! - 1 (processing error), 255 (unknown) and codes Apple never documented: a transient failure of
//!   the named notification; it is written again ([`Event::Retrying`]), up to `max_retries` times,
//!   then `Failed(RetriesExhausted { last_status: Some(status) })`.
//!
//! So every error response yields exactly one event that says what it meant: a report
//! (rejected, or failed with its status), `Retrying`, `Shutdown`, [`Event::UnmatchedError`], or
//! [`Event::Confirmed`] for the answer to a probe.
//!
//! Resends of notifications written *after* the named one are free: the gateway provably
//! discarded them, and each such error response settles at least the named notification, so they
//! cannot loop. A notification after k rejected ones is written k + 1 times, none a duplicate.
//!
//! # Unknown identifiers
//!
//! An error response naming 0 (never a wire identifier here) or an identifier not in flight
//! cannot say which notification failed nor which were processed. The policy, deliberately:
//!
//! 1. It is reported as [`Event::UnmatchedError`] (with `late: true` if the identifier was written
//!    on this connection but had already aged out) and counted in [`Stats::unmatched_errors`].
//! 2. Everything in flight on that connection has an unknown fate: each is written again on the
//!    next connection, once, in order, and is charged one uncertain write.
//! 3. Nothing is rejected on a guess, nothing panics, and no resend storm is possible: each
//!    notification is charged for every unknown-fate round it is in, so it is written at most
//!    `max_uncertain_writes + 1` times for such reasons. node-apn, which resent its whole cache on every
//!    such error, could go quadratic; here the total is linear in what was in flight.
//!
//! Since this crate encodes every notification itself, the gateway can always read the
//! identifier; an answer naming 0 or a stranger is a gateway-side fault that is not tied to one
//! notification, hence a bounded blind retry rather than a search for the culprit. The same
//! applies to a shutdown naming 0 (Pushy 0.x took it at its word and sent uncounted duplicates).
//!
//! # Closes without an error response, and duplicates
//!
//! When the connection closes with notifications in flight and no error response, they may or
//! may not have been processed. They are handled as after an unknown identifier: written again
//! and counted as uncertain writes. A notification accepted after an uncertain write may reach
//! the device twice: [`Report::possible_duplicate`] says so, and [`Stats::possible_duplicates`]
//! counts them for the final report. In flight notifications that already reached `max_age` at
//! the close stay presumed accepted.
//!
//! Each such close also halves the in-flight window ([`SentBuffer::window`]), down to a
//! sixteenth of `max_in_flight` at most, and it grows back by one per settled notification. Without it, a gateway that drops every connection after N
//! notifications, facing a window of N or more, would see the same resends on every connection
//! and never the notifications behind them; uncertain writes are not retries, since a dropped
//! connection is rarely a notification's own fault, so only `max_uncertain_writes` bounds them.
//!
//! # Explicit confirmation
//!
//! [`SentBuffer::confirm`] queues a probe after everything handed in: a deliberately invalid
//! notification (no device token) carrying its own wire identifier. The gateway processes in
//! order, so its error response naming the probe proves every notification before it was
//! processed: they become [`Accepted`](Outcome::Accepted) within one error delay, instead of
//! [`PresumedAccepted`](Outcome::PresumedAccepted) after `max_age`, and [`Event::Confirmed`]
//! follows. A graceful close or flush uses it.
//!
//! The trade-off: the gateway closes the connection after answering, so each confirmation costs
//! a reconnection (a TLS handshake) and nothing is written behind the probe on that connection.
//! Frequent invalid notifications may also look like misbehaviour to Apple. Use it to finish, not
//! as a heartbeat. If the connection closes before the answer, the probe is written again after
//! the resends; if it stays unanswered for `max_age`, [`Event::ConfirmationFailed`] is emitted
//! and writing resumes. The simple format (command 0) carries no identifier and cannot be
//! confirmed.
//!
//! # Memory
//!
//! Each held notification costs one queue entry of [`SentBuffer::entry_size`] bytes (120 on
//! 64-bit targets: the [`Notification`](apns_proto::Notification) with its 32-byte token and
//! shared payload handle, plus the ticket, serial, write time and counters) plus its payload
//! bytes, which are shared (`Bytes`) when one payload goes to many devices. Queues grow by
//! doubling, so allow up to twice the entries; [`SentBuffer::memory_usage`] gives the bound.
//! Measured with the 60-byte golden payload: 10,000 in flight use 2.57 MB, 256 bytes per
//! notification. A settled report waiting for [`SentBuffer::poll_event`] costs an [`Event`]
//! (56 bytes) and no payload. Unmatched-error events waiting to be polled are capped at 64.
//!
//! # Performance
//!
//! Sending is O(1) amortised: a push, an encode, and a pop when it settles. An error response
//! is located in O(1) from its identifier; the notifications after it are requeued in O(1) (the
//! in-flight notifications are the front of the same queue), and those before it are settled in
//! O(1) each. See `docs/benchmarks.md` (`cargo bench -p apns-resend`): about 90 ns per
//! notification for its whole life, and under a microsecond to handle the rejection of the first
//! of 10,000 in flight.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod buffer;
mod config;
mod event;
pub mod http2;
mod wire;

#[cfg(test)]
mod tests;

pub use buffer::SentBuffer;
pub use config::{Config, ConfigError, Settlement};
pub use event::{
    ConfirmError, Confirmation, ConnectionState, Event, FailReason, Full, Outcome, Report, Stats, Ticket,
    Transmit, TransmitKind,
};
