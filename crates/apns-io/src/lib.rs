//! The I/O engine of the APNs binary provider: one mio event-loop thread driving non-blocking
//! rustls connections to the gateway, and a feedback client.
//!
//! `apns-proto` (the codec) and `apns-resend` (the sent-notification buffer) do no I/O and read
//! no clock. Here the policy of a connection is a sans-io state machine too (the connection
//! machine: connect and handshake deadlines, backoff, error-response framing, idle close, the
//! confirmation probe, graceful and forced close, each slot's `SentBuffer`), driven by a thin
//! shell that owns the sockets, rustls, readiness and the clock, as `quinn` drives
//! `quinn-proto`:
//!
//! ```text
//!  callers ──send_batch──▶ bounded inbox ──(Waker)──▶ shell (mio loop, rustls, Instant::now)
//!     ▲       (backpressure: block or fail)              │ plaintext, readiness, Instants ▲ plaintext to write,
//!     │                                                  ▼                               │ transport commands,
//!     │                                     connection machine per slot ─────────────────┘ timeouts, events
//!     └── Config::on_event (the one event stream) ◀── events ── SentBuffer (apns-resend)
//!         Client::outcomes (bounded queue)
//! ```
//!
//! - **Connections**: [`Config::connections`] slots share the load, each with its own
//!   [`apns_resend::SentBuffer`] (order is kept per connection). A slot connects when it has
//!   something to write, closes after an error response and reconnects at once (the resends go
//!   first, in order), backs off exponentially with jitter after connect failures
//!   ([`Backoff`], 100 ms to 5 s), fails its waiting notifications once it has failed to
//!   connect for [`Config::reconnect_for`] (60 s), closes a connection whose probe went
//!   unanswered ([`Event::ProofTimeout`]), and closes when idle ([`Config::idle_timeout`], 30 s
//!   as PyAPNs).
//! - **One event stream**: exactly one [`Event::Finished`] per notification taken, carrying the
//!   user's identifier, the token and the [`apns_resend::Outcome`] (a rejection is that report);
//!   one event per other error response ([`Event::Retrying`], [`Event::Shutdown`],
//!   [`Event::UnmatchedError`]; [`Event::error_response`] gives each in the user's terms); the
//!   wire identifier never leaves the machine. [`Client::counters`] are derived from the
//!   buffers' and machines' own counts.
//! - **Outcomes**: [`Client::outcomes`] is a bounded queue; unread, it pushes back on senders.
//! - **Closing**: [`Client::flush`] and [`Client::close`] confirm everything explicitly (a probe
//!   the gateway must answer) within a deadline; [`Client::force_close`] (and `Drop`) report
//!   everything unsettled as abandoned at once, whatever other threads are doing.
//! - **TLS**: [`Identity`] loads PEM or PKCS#12 client certificates and checks them;
//!   [`TlsConfig`] builds the rustls configuration (TLS 1.2 and 1.3, ring). Failures have typed
//!   causes ([`ConnectError`]): a refused connection, an untrusted server, a refused client
//!   certificate and a timeout are told apart.
//! - **Channels**: [`channels::ChannelClient`], the blocking channel-management client of
//!   broadcast push (create, read, delete, list), with a deadline on every call.
//! - **Feedback**: [`fetch_feedback`], its own small machine on the calling thread.
//! - **HTTP/2**: [`http2::Http2Client`], Apple's HTTP/2 provider API: a second shell over the
//!   same caller side, driving a pool of TLS connections (ALPN `h2`, refused with
//!   [`ConnectError::NoHttp2`] otherwise) each under an `apns_h2::Connection`, for the delivery
//!   machine `apns_resend::http2::Delivery`.
//!
//! ```no_run
//! use std::time::Duration;
//! use apns_io::{Client, Config, Endpoint, Event, Identity, TlsConfig};
//! use apns_proto::{Notification, Payload, PayloadLimit};
//!
//! let tls = TlsConfig::new().identity(Identity::from_pkcs12_file("push.p12", "secret")?).build()?;
//! let config = Config::new(Endpoint::gateway_sandbox(), tls)
//!     .on_event(|event| if let Event::Finished { report, .. } = event { println!("{:?}", report.outcome) });
//! let client = Client::start(config)?;
//! let payload = Payload::new().alert("Hello").encode(PayloadLimit::BINARY)?;
//! let token = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80".parse()?;
//! client.send_timeout(Notification::new(token, payload).with_id(1u32), Duration::from_secs(5))?;
//! let summary = client.close(Duration::from_secs(10));
//! assert!(summary.settled);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Logging goes through `tracing`: connects, handshakes, error responses, resends, reconnects
//! and closes at `info`/`warn`, never a payload, a token or key material above `debug`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod backoff;
pub mod channels;
mod client;
mod config;
mod connection;
mod event;
mod feedback;
pub mod http2;
mod machine;
mod outcomes;
mod shell;
mod stream;
mod tls;

#[cfg(test)]
mod tests;

pub use backoff::Backoff;
pub use client::Client;
pub use config::{Config, Endpoint, EventHandler};
pub use event::{
    CloseSummary, ConnectError, Counters, Event, FeedbackError, GatewayResponse, SendError, StartError,
};
pub use feedback::fetch_feedback;
pub use outcomes::Outcomes;
pub use tls::{Identity, Password, TlsConfig, TlsError};
