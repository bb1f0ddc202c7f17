//! The I/O engine of the APNs binary provider: one mio event-loop thread driving non-blocking
//! rustls connections to the gateway and the feedback service.
//!
//! `apns-proto` (the codec) and `apns-resend` (the sent-notification buffer) do no I/O and read
//! no clock; this crate is the thin shell around them. It owns the sockets, reads
//! `Instant::now()` once per loop pass and feeds it to the buffers, and turns their decisions
//! into TLS writes.
//!
//! ```text
//!  callers ──send_batch──▶ bounded inbox ──(Waker)──▶ event loop ──▶ SentBuffer per connection
//!     ▲       (backpressure: block or fail)              │  poll_transmit → 64 KiB plaintext chunk
//!     │                                                  │  → rustls writer → write_tls until WouldBlock
//!     └──── Config::on_event (Event::Finished...) ◀──────┘  read_tls until WouldBlock → error responses
//! ```
//!
//! - **Connections**: [`Config::connections`] slots share the load, each with its own
//!   [`apns_resend::SentBuffer`] (order is kept per connection). A slot connects when it has
//!   something to write, closes after an error response and reconnects at once (the resends go
//!   first, in order), backs off exponentially with jitter after connect failures
//!   ([`Backoff`]), fails its waiting notifications after [`Config::max_connect_failures`], and
//!   closes when idle ([`Config::idle_timeout`], 30 s as PyAPNs).
//! - **Outcomes**: exactly one [`Event::Finished`] per notification taken, carrying the user's
//!   identifier, the token and the [`apns_resend::Outcome`]; [`Client::counters`] any time.
//! - **Closing**: [`Client::close`] confirms everything explicitly (a probe the gateway must
//!   answer) within a deadline; [`Client::force_close`] (and `Drop`) report everything unsettled
//!   as abandoned at once.
//! - **TLS**: [`Identity`] loads PEM or PKCS#12 client certificates and checks them;
//!   [`TlsConfig`] builds the rustls configuration (TLS 1.2 and 1.3, ring).
//! - **Feedback**: [`Client::fetch_feedback`] on the same loop.
//!
//! ```no_run
//! use std::time::Duration;
//! use apns_io::{Client, Config, Endpoint, Event, Identity, TlsConfig};
//! use apns_proto::{Notification, Payload, PayloadLimit};
//!
//! let tls = TlsConfig::new().identity(Identity::from_pkcs12_file("push.p12", "secret")?).build()?;
//! let config = Config::new(Endpoint::gateway_sandbox(), tls)
//!     .feedback(Endpoint::feedback_sandbox())
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
mod client;
mod config;
mod event;
mod stream;
mod tls;

pub use backoff::Backoff;
pub use client::Client;
pub use config::{Config, Endpoint, EventHandler};
pub use event::{CloseSummary, Counters, Event, FeedbackError, SendError, StartError};
pub use tls::{Identity, TlsConfig, TlsError};
