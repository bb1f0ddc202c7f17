//! Proof under load and faults: the soak test and the end-to-end benchmarks of the `apns`
//! facade against `apns-mock`, and the side-by-side comparison with PyAPNs.
//!
//! - [`run`] ([`SoakConfig`] → [`SoakReport`]): sends notifications through the facade to a mock
//!   gateway that rejects 1 % of them (with Apple's 100–800 ms error delays), closes connections
//!   silently at random, shuts connections down with status 10 and stalls, over several TLS
//!   connections at once; then checks the mock's record against every outcome the client
//!   reported: nothing lost, every rejection reported with its status, token and identifier,
//!   every duplicate flagged as a possible duplicate, bounded memory, no thread or file
//!   descriptor left behind.
//! - [`bench`]: notifications per second, CPU time and peak memory of the client, end to end
//!   over TLS on loopback, with prebuilt payloads and with payloads built per notification, on
//!   1 and 4 connections; and PyAPNs (`apns3` 1.0.0) against the same mock in the same run.
//! - [`http2::run`] ([`http2::Http2SoakConfig`] → [`http2::Http2SoakReport`]): the same proof
//!   for the HTTP/2 client, through the facade (`apns::Apns`), against the HTTP/2 mock, token
//!   auth, every HTTP/2 fault at once
//!   (rejected and unregistered tokens, GOAWAY, drops, REFUSED_STREAM, 429/503, latency, stalls
//!   past the response deadline, an expiring provider token, a stream limit dropping to 1).
//! - [`bench_http2`]: the HTTP/2 client through the facade on 1 and 4 connections (each run in a
//!   child process of its own), then `a2`, `@parse/node-apn`, `aioapns` and `curl` against the
//!   same HTTP/2 mock in the same run.
//!
//! The mock always runs in a child process ([`remote`]: the same binary, `apns-soak mock`), so
//! that the peak resident memory, CPU time, threads and file descriptors measured in this
//! process are the client's (plus the soak's own bookkeeping, stated where it matters).
//!
//! Run them with `cargo xtask soak [--http2] [--count N] [--seed S]` and `cargo xtask bench`; the binary
//! `apns-soak` prints one JSON line per result. `docs/benchmarks.md` has the measured numbers.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod bench;
pub mod bench_http2;
pub mod http2;
pub mod procfs;
pub mod remote;
pub(crate) mod soak;

use std::fmt;

pub use soak::{run, Footprint, SoakConfig, SoakReport};

/// Why a soak or a benchmark could not run (as opposed to an invariant it found violated, which
/// is in [`SoakReport::violations`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }

    pub(crate) fn io(error: std::io::Error) -> Self {
        Self::new(error.to_string())
    }

    pub(crate) fn json(error: serde_json::Error) -> Self {
        Self::new(format!("JSON: {error}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<apns::Error> for Error {
    fn from(error: apns::Error) -> Self {
        Self::new(error.to_string())
    }
}

/// The seeded generator of tokens and choices: stream `stream` of `seed` (the stream number is
/// hashed so that streams are not shifted copies of each other).
pub(crate) fn rng(seed: u64, stream: u64) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed ^ fastrand::Rng::with_seed(stream).u64(..))
}

impl From<apns::PayloadError> for Error {
    fn from(error: apns::PayloadError) -> Self {
        Self::new(format!("payload: {error}"))
    }
}
