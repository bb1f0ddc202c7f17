//! A faithful, fault-injecting, fast mock of Apple's binary push notification gateway and
//! feedback service.
//!
//! Apple shut the binary provider protocol down in 2021; this mock is what every test and
//! benchmark of the project runs against, and what users run to test their own push code. It
//! speaks real TLS (rustls) on real sockets (mio), requires a client certificate from a
//! configured CA, and behaves as Apple's gateway did:
//!
//! - commands 0, 1 and 2 are read incrementally, however they are split across reads, and
//!   validated by [`apns_proto::Command::validate`];
//! - valid notifications get no answer;
//! - the FIRST invalid one starts a delay (100–800 ms by default, as observed on Apple's
//!   servers) during which everything that arrives is read and discarded; then the 6-byte error
//!   response naming that notification is written and the connection closed;
//! - an unknown command byte or an impossible frame length gets status 1 (processing error) with
//!   identifier 0, after the same delay.
//!
//! Faults ([`Faults`]) can be injected, all deterministic under [`MockConfig::seed`]: rejected
//! tokens, silent drops, shutdowns (status 10), stalls, refused connections. The feedback
//! service serves configured tuples on each connection, optionally in small random chunks.
//!
//! Everything is observable: [`MockServer::stats`], [`MockServer::records`], JSON lines
//! ([`MockConfig::record_jsonl`]) and [`MockServer::wait_for`], which blocks on a condition
//! variable until a condition on the counters holds, so tests need no sleeps.
//!
//! ```no_run
//! use std::time::Duration;
//! use apns_mock::{certs::TestPki, MockConfig, MockServer};
//!
//! let pki = TestPki::generate()?;
//! let server = MockServer::start(MockConfig::from_test_pki(&pki).error_delay(Duration::ZERO).record_in_memory(1000))?;
//! // ... connect a client to server.gateway_addr() with pki.client_cert_pem / client_key_pem ...
//! assert!(server.wait_for_accepted(1, Duration::from_secs(5)));
//! let received = server.records();
//! let stats = server.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Architecture
//!
//! One thread runs a mio event loop for both listeners and every connection. Delays are
//! deadlines in that loop (its poll timeout), never sleeps. Each gateway connection decodes
//! plaintext in place from a buffer bounded by one maximal command plus one read chunk, and
//! allocates nothing per notification unless recording is on. `docs/mock.md` in the repository
//! has the details and the command line.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod certs;
mod config;
mod conn;
mod feedback;
mod gateway;
pub mod http2;
mod observe;
mod rng;
mod server;

pub use config::{DelayRange, Faults, FeedbackEntry, MockConfig, Stall};
pub use gateway::MAX_INPUT_BUFFER;
pub use observe::{MockStats, Outcome, Record};
pub use server::{MockError, MockServer, StopHandle};
