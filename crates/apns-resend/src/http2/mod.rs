//! The HTTP/2 delivery machine: Apple's HTTP/2 provider API, nothing lost.
//!
//! [`Delivery`] is sans-io and stream-level: it knows nothing of bytes. Per gateway (one
//! `:authority`) it owns a bounded queue of notifications and a pool of connections, decides
//! which request goes on which connection, and settles every notification from the stream
//! fates `apns-h2` reports. `apns-io` drives it with one `apns_h2::Connection` per pooled TLS
//! connection:
//!
//! ```text
//!  send(Item) ─▶ ┌──────────┐ ─poll_transport─▶ Open / Close / Abort / Ping / Cancel
//!               │ Delivery │ ─poll_request──▶ (StreamKey, apns_h2::Request) ─▶ send_request
//!  Event ◀────── └──────────┘ ◀─handle_fate / handle_stream_limit / handle_goaway / handle_closed
//! ```
//!
//! # What it guarantees
//!
//! - **One report per notification**: [`Event::Finished`] with [`Outcome::Accepted`] (the
//!   `apns-id`, and `apns-unique-id` when Apple sends it), [`Outcome::Rejected`] (status, reason,
//!   and the 410 timestamp), or [`Outcome::Failed`] ([`FailReason`]).
//! - **Resends follow the fate** (`apns_h2::Fate::processed`): not processed (REFUSED_STREAM,
//!   above GOAWAY's last-stream-id) → sent again, free, never a duplicate; possibly processed
//!   (connection lost or stream reset with the stream open, a response timeout) → sent again,
//!   charged, [`Report::possible_duplicate`]; 429/500/503 → after `retry-after` or a backoff,
//!   charged; `ExpiredProviderToken` → a new token as [`apns_auth::TokenPolicy`] allows,
//!   charged; a credentials or configuration refusal ([`Classification::Misconfigured`]) →
//!   the gateway halts ([`Event::Halted`]) and what is queued fails at once. A notification
//!   whose `apns-expiration` passed is not sent again ([`FailReason::ExpiryPassed`]).
//! - **Stream budget** per connection: min(the server's SETTINGS_MAX_CONCURRENT_STREAMS, our
//!   `max_streams_per_connection`), and 1 under token auth until a request with the current
//!   token is answered 2xx (Apple's rule). It follows the server down and up.
//! - **Nothing hangs**: a connect deadline, a response deadline per request (the stream is
//!   cancelled, then the connection aborted if even that goes unanswered), PING on quiet
//!   connections, reconnection with exponential backoff and seeded jitter, and a reconnect
//!   budget after which what is queued fails ([`FailReason::Unreachable`]).
//! - **Bounded memory**: `capacity` notifications held, counting unpolled reports;
//!   [`Delivery::send`] gives the item back in [`Full`].
//!
//! [`Classification::Misconfigured`]: apns_proto::http2::Classification::Misconfigured

mod config;
mod delivery;
mod types;

#[cfg(test)]
mod tests;

pub use config::{Backoff, ConfigError, DeliveryConfig};
pub use delivery::{Auth, Delivery};
pub use types::{
    ConnId, ConnectionLoss, Event, FailReason, Full, HaltReason, Item, Notification, Outcome, Rejection,
    Report, RetryCause, Stats, StreamKey, TransportCommand,
};
