//! A faithful, fault-injecting mock of Apple's HTTP/2 provider API (`POST /3/device/<token>`).
//!
//! Built on the `h2` crate's server, tokio and a rustls acceptor: deliberately another HTTP/2
//! implementation than the project's client, so each checks the other. The runtime stays inside
//! the mock: [`Http2Mock::start`] returns a plain handle, usable from synchronous tests.
//!
//! - TLS with ALPN `h2` (clients offering no ALPN are served too, as by Apple); certificate auth
//!   (client certificates from a CA; the bundle id they name is the topic they may push to) and
//!   token auth (ES256 provider tokens verified with the provider's public key, by `kid`, with
//!   Apple's rules: issuer, age, one key per connection, at most one new token per 20 minutes).
//! - Every documented request rule answers with Apple's status and reason (see [`Reason`]);
//!   `apns-id` is echoed exactly or generated; the sandbox adds `apns-unique-id`.
//! - Broadcast push (`POST /4/broadcasts/apps/<bundle id>` with `apns-channel-id`) and the
//!   channel-management API (`POST`/`GET`/`DELETE /1/apps/<bundle id>/channels`,
//!   `GET /1/apps/<bundle id>/all-channels`; Apple serves it on
//!   `api-manage-broadcast[.sandbox].push.apple.com`, the mock on the same listener), with
//!   `apns-request-id` echoed (or generated) and at most [`MAX_CHANNELS`] channels per app.
//! - Faults ([`Http2Faults`]), seeded and counted: GOAWAY every N, connection drops with streams
//!   open, RST_STREAM(REFUSED_STREAM), injected 429/500/503, latency, slow reading, idle
//!   timeout.
//! - Every request gets exactly one [`Http2Record`] (in memory, bounded, and as JSON lines),
//!   counters ([`Http2Stats`]) and [`Http2Mock::wait_for`] (a condition variable, no polling).
//!
//! ```no_run
//! use std::time::Duration;
//! use apns_mock::certs::{ProviderKey, TestPki};
//! use apns_mock::http2::{Http2Config, Http2Mock};
//!
//! let pki = TestPki::generate()?;
//! let key = ProviderKey::generate()?;
//! let mock = Http2Mock::start(Http2Config::from_test_pki(&pki).provider_key_from(&key).record_in_memory(1000))?;
//! // ... send to mock.addr() over TLS (trusting pki.ca_cert_pem) with ALPN h2 ...
//! assert!(mock.wait_for_requests(1, Duration::from_secs(5)));
//! let records = mock.records();
//! let stats = mock.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What h2 does not allow, and so the mock does not do: changing `SETTINGS_MAX_CONCURRENT_STREAMS`
//! on a live connection by itself (Apple allows one stream under token auth until the first valid
//! token; the mock advertises the configured number from the start; the
//! [`stream_limit_every`](Http2Config::stream_limit_every) fault changes it by writing the frame
//! under h2), and debug data in GOAWAY (Apple
//! sends `{"reason":"Shutdown"}`; the mock's GOAWAY frames carry none). `docs/mock.md` has the
//! details.

mod auth;
mod channels;
mod config;
#[doc(hidden)]
pub mod fuzzing;
mod jwt;
mod reason;
mod record;
mod request;
mod server;
mod settings;
mod tls;

pub use channels::MAX_CHANNELS;
pub use config::{Http2Config, Http2Faults, StreamLimitDip};
pub use jwt::{KeyError, ProviderPublicKey, ProviderToken, TokenError, MAX_TOKEN_LEN};
pub use reason::{InvalidReason, Reason};
pub use record::{Http2Outcome, Http2Record, Http2Stats};
pub use request::{MAX_COLLAPSE_ID, MAX_TOKEN_HEX, PAYLOAD_LIMIT, VOIP_PAYLOAD_LIMIT};
pub use server::{Http2Mock, Http2StopHandle};
