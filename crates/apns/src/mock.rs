//! An in-process mock of Apple's gateway and feedback service, to try the library (and test
//! your code) without Apple, who retired the binary protocol in 2021. Feature `mock` (off by
//! default: it builds a TLS server and a certificate generator; tests and examples turn it on).
//!
//! ```
//! use apns::mock::LocalMock;
//!
//! let mock = LocalMock::start()?;              // a test PKI, a gateway and a feedback service on loopback
//! let apns = mock.builder().build()?;          // an `apns::Builder` already pointed at it
//! # drop(apns);
//! # Ok::<(), apns::Error>(())
//! ```

use std::time::Duration;

use apns_io::{Endpoint, Identity};
pub use apns_mock::certs::TestPki;
// The mock's own names: `Outcome` here is what the mock did with a notification it read
// (`Record::outcome`), not the client's [`crate::Outcome`].
pub use apns_mock::{DelayRange, Faults, FeedbackEntry, MockConfig, MockServer, MockStats, Outcome, Record};

use crate::{Builder, Error};

/// A [`MockServer`] with its own freshly generated [`TestPki`], and a [`Builder`] trusting it.
#[derive(Debug)]
pub struct LocalMock {
    pki: TestPki,
    server: MockServer,
}

impl LocalMock {
    /// Generates a test PKI and starts the mock on loopback, with error responses after a
    /// short delay (0 to 20 ms; Apple took 100 to 800 ms, see [`MockConfig::error_delay`]).
    pub fn start() -> Result<Self, Error> {
        Self::start_with(|config| config)
    }

    /// As [`start`](Self::start), with the mock configured by `configure` (rejected tokens,
    /// dropped connections, feedback tuples...).
    pub fn start_with(configure: impl FnOnce(MockConfig) -> MockConfig) -> Result<Self, Error> {
        let pki = TestPki::generate()?;
        let config = MockConfig::from_test_pki(&pki)
            .error_delay(DelayRange::between(Duration::ZERO, Duration::from_millis(20)));
        let server = MockServer::start(configure(config))?;
        Ok(Self { pki, server })
    }

    /// A [`Builder`] for this mock: its gateway and feedback addresses, the client
    /// certificate of the test PKI, and its CA as the only one trusted.
    pub fn builder(&self) -> Builder {
        let builder = Builder::new()
            .gateway_endpoint(Endpoint::at("localhost", self.server.gateway_addr()))
            .feedback_endpoint(Endpoint::at("localhost", self.server.feedback_addr()))
            .ca_pem(self.pki.ca_cert_pem.as_bytes());
        match Identity::from_pem(self.pki.client_cert_pem.as_bytes(), self.pki.client_key_pem.as_bytes()) {
            Ok(identity) => builder.identity(identity),
            // Not expected from a PKI just generated; `build` then reports the missing identity.
            Err(_) => builder,
        }
    }

    /// The mock server: its addresses, [`MockServer::stats`], [`MockServer::records`],
    /// [`MockServer::wait_for`].
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The test PKI (CA, server and client certificates, PEM).
    pub fn pki(&self) -> &TestPki {
        &self.pki
    }

    /// Stops the mock and returns its final counters.
    pub fn stop(self) -> MockStats {
        self.server.stop()
    }
}
