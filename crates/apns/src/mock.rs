//! In-process mocks of Apple's gateways, to try the library (and test your code) without
//! Apple: [`LocalHttp2Mock`] for the HTTP/2 API, [`LocalMock`] for the binary protocol (which
//! Apple retired in 2021). Feature `mock` (off by default: it builds TLS servers and a
//! certificate generator; tests and examples turn it on).
//!
//! ```
//! use apns::mock::{LocalHttp2Mock, LocalMock};
//!
//! let mock = LocalHttp2Mock::start()?;         // a test PKI, a provider key, an HTTP/2 mock on loopback
//! let apns = mock.builder().build()?;          // an `apns::Builder` already pointed at it (token auth)
//! let binary = LocalMock::start()?;            // a binary gateway and a feedback service
//! let gateway = binary.builder().build()?;     // an `apns::binary::BinaryBuilder` pointed at it
//! # drop((apns, gateway));
//! # Ok::<(), apns::Error>(())
//! ```

use std::time::Duration;

use apns_io::{Endpoint, Identity};
pub use apns_mock::certs::{ProviderKey, TestPki, TEST_BUNDLE_ID};
// The HTTP/2 mock's names, its `Reason` renamed: the mock's own type (it answers with any
// reason), not the client's [`crate::Reason`].
pub use apns_mock::http2::{
    Http2Config, Http2Faults, Http2Mock, Http2Outcome, Http2Record, Http2Stats, Reason as MockReason,
};
// The mock's own names: `Outcome` here is what the binary mock did with a notification it
// read (`Record::outcome`), not the client's [`crate::Outcome`].
pub use apns_mock::{DelayRange, Faults, FeedbackEntry, MockConfig, MockServer, MockStats, Outcome, Record};

use crate::binary::BinaryBuilder;
use crate::{Builder, Error};

/// An [`Http2Mock`] with its own freshly generated [`TestPki`] and [`ProviderKey`], and
/// [`Builder`]s pointed at it: [`builder`](Self::builder) with token auth,
/// [`certificate_builder`](Self::certificate_builder) with the test client certificate. Both
/// have [`TEST_BUNDLE_ID`] as their default topic.
#[derive(Debug)]
pub struct LocalHttp2Mock {
    pki: TestPki,
    key: ProviderKey,
    server: Http2Mock,
}

impl LocalHttp2Mock {
    /// Generates a test PKI and a provider key, and starts the mock on loopback, accepting
    /// tokens signed by that key and the test client certificate.
    pub fn start() -> Result<Self, Error> {
        Self::start_with(|config| config)
    }

    /// As [`start`](Self::start), with the mock configured by `configure` (rejected tokens,
    /// unregistered tokens, GOAWAYs, faults, records...).
    pub fn start_with(configure: impl FnOnce(Http2Config) -> Http2Config) -> Result<Self, Error> {
        let pki = TestPki::generate()?;
        let key = ProviderKey::generate()?;
        let config = Http2Config::from_test_pki(&pki).provider_key_from(&key);
        let server = Http2Mock::start(configure(config))?;
        Ok(Self { pki, key, server })
    }

    /// A [`Builder`] for this mock with token auth: its address, its CA as the only one
    /// trusted, the provider key, and [`TEST_BUNDLE_ID`] as the default topic.
    pub fn builder(&self) -> Builder {
        self.untrusted_builder().token_key(
            self.key.private_key_pem.as_bytes(),
            self.key.key_id.as_str(),
            self.key.team_id.as_str(),
        )
    }

    /// A [`Builder`] for this mock with certificate auth (the test PKI's client certificate).
    pub fn certificate_builder(&self) -> Builder {
        let builder = self.untrusted_builder();
        match Identity::from_pem(self.pki.client_cert_pem.as_bytes(), self.pki.client_key_pem.as_bytes()) {
            Ok(identity) => builder.identity(identity),
            // Not expected from a PKI just generated; `build` then reports the missing credentials.
            Err(_) => builder,
        }
    }

    /// Pointed at the mock and trusting it, without credentials.
    fn untrusted_builder(&self) -> Builder {
        Builder::new()
            .endpoint(Endpoint::at("localhost", self.server.addr()))
            .ca_pem(self.pki.ca_cert_pem.as_bytes())
            .topic(TEST_BUNDLE_ID)
    }

    /// The mock server: its address, [`Http2Mock::stats`], [`Http2Mock::records`],
    /// [`Http2Mock::wait_for`].
    pub fn server(&self) -> &Http2Mock {
        &self.server
    }

    /// The test PKI (CA, server and client certificates, PEM).
    pub fn pki(&self) -> &TestPki {
        &self.pki
    }

    /// The provider key the mock accepts tokens from (key id, team id, PEM).
    pub fn provider_key(&self) -> &ProviderKey {
        &self.key
    }

    /// Stops the mock and returns its final counters.
    pub fn stop(self) -> Http2Stats {
        self.server.stop()
    }
}

/// A [`MockServer`] (binary protocol) with its own freshly generated [`TestPki`], and a
/// [`BinaryBuilder`] trusting it.
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

    /// A [`BinaryBuilder`] for this mock: its gateway and feedback addresses, the client
    /// certificate of the test PKI, and its CA as the only one trusted.
    pub fn builder(&self) -> BinaryBuilder {
        let builder = BinaryBuilder::new()
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
