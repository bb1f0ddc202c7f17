//! The I/O engine of the APNs binary provider: one mio event loop thread driving non-blocking
//! rustls connections to the gateway and the feedback service.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod tls;

pub use tls::{Identity, TlsConfig, TlsError};
