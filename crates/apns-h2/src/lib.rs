//! A client HTTP/2 connection (RFC 9113) with its own HPACK (RFC 7541), as a pure state machine.
//!
//! This crate is a deterministic state machine: it does no I/O, reads no clock and starts no
//! thread. Bytes read from the transport go in with [`Connection::handle_input`]; bytes to write
//! come out of [`Connection::poll_transmit`]; time comes in as `now: Instant`. The event loop of
//! `apns-io` (TLS over mio), the simulation tests, the benches and the fuzzers all drive the same
//! code. It knows nothing of APNs: the delivery layer above decides what to send and what to
//! retry from each stream's [`Fate`].
//!
//! ```text
//!   request ──send_request──▶ ┌────────────┐ ──poll_transmit──▶ bytes to write (TLS plaintext)
//!                             │ Connection │
//!   Event ◀────poll_event──── └────────────┘ ◀──handle_input─── bytes read
//!   (Finished{id, fate}, Settings, GoAway, PingAcknowledged, Closed)
//! ```
//!
//! # What the caller can rely on
//!
//! - **One fate per request.** Every id [`Connection::send_request`] returns gets exactly one
//!   [`Event::Finished`]: a complete [`Response`] (status, headers, body, trailers), a reset by
//!   the server with its code ([`ErrorCode::REFUSED_STREAM`]: not processed), not processed
//!   ([`NotProcessed`]: above GOAWAY's last-stream-id, or never written), or possibly processed
//!   ([`Fate::ConnectionLost`], [`Fate::Aborted`]). [`Fate::processed`] sums it up as
//!   [`Processed::Yes`], [`No`](Processed::No) or [`Maybe`](Processed::Maybe). All fates come
//!   before [`Event::Closed`], the last event. A stream opened with
//!   [`Connection::send_request_with_key`] gets the caller's key back in its `Finished`, so
//!   the caller needs no map from stream ids to what they carry.
//! - **A send budget.** [`Connection::send_budget`] is how many streams may be opened now: the
//!   server's SETTINGS_MAX_CONCURRENT_STREAMS as it changes (APNs announces 1 until a provider
//!   token is accepted, then about 1,000, and may go back to 1), capped by our own limit and the
//!   stream ids left. `send_request` beyond it is refused with [`SendError::NoBudget`], never
//!   queued without bound and never a panic. A budget that drops below the open streams lets
//!   them finish and opens nothing new until there is room.
//! - **Flow control.** Bodies are written only within the connection and stream windows
//!   (signed: a smaller SETTINGS_INITIAL_WINDOW_SIZE can make them negative); a body that does
//!   not fit waits for WINDOW_UPDATE. Receive windows are replenished as responses are handed
//!   over.
//! - **Bounded memory.** Frames above our SETTINGS_MAX_FRAME_SIZE, header blocks above
//!   `max_header_block`, header lists above `max_header_list_size`, bodies above
//!   `max_response_body`, floods of PING or SETTINGS: each ends the stream or the connection (see
//!   [`Config`]). No input makes the crate panic (fuzzed).
//! - **Health.** [`Connection::ping`] measures a round trip ([`Event::PingAcknowledged`]) and a
//!   missing answer closes the connection after `ping_timeout`; GOAWAY's last-stream-id, code
//!   and debug data (where APNs puts `{"reason":..}`) arrive as [`Event::GoAway`];
//!   [`Connection::needs_replacement`] says when to open another connection (GOAWAY, closed, or
//!   stream ids exhausted).
//!
//! # HPACK
//!
//! Each request header carries its [`Indexing`]: the layer above knows which values repeat (an
//! `authorization` token for 20 to 60 minutes, a topic) and which are unique (`apns-id`, a
//! `:path` with a device token). Values unique to a request are sent raw unless
//! [`Config::huffman_unindexed`] asks for Huffman coding (about 30 % fewer bytes for hex, at
//! more CPU than the bytes cost to send). See [`hpack`].
//!
//! # Not supported
//!
//! Server push (disabled in our SETTINGS; PUSH_PROMISE is a connection error), priorities
//! (PRIORITY frames and fields are parsed and ignored, as RFC 9113 allows), CONNECT, streaming
//! bodies (requests and responses are whole `Bytes`), HTTP/1.1 upgrade. See `docs/protocol.md`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod connection;
mod error;
mod event;
pub mod frame;
mod header;
pub mod hpack;
mod indexing;
mod message;
mod settings;
mod stream;
mod stream_id;

#[cfg(test)]
mod tests;

pub use connection::Connection;
pub use error::{ConnectionError, ErrorCode, Limit, ProtocolViolation, SendError};
pub use event::{Abort, Closed, ConnectionEnd, Event, Fate, GoAway, Malformed, NotProcessed, Processed};
pub use header::{HeaderField, HeaderName, HeaderValue, Headers, InvalidHeader};
pub use indexing::Indexing;
pub use message::{Request, Response};
pub use settings::{Config, ConfigError, PeerSettings};
pub use stream_id::StreamId;
