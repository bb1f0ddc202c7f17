//! The one error type of the facade.

use apns_proto::Notification;

/// Why an operation of the facade failed. Every variant prints as one line naming the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A certificate, key, PKCS#12 or CA file is missing, unreadable or invalid.
    #[error(transparent)]
    Tls(#[from] apns_io::TlsError),
    /// No client certificate was given (see [`Builder::cert_file`](crate::Builder::cert_file)
    /// and [`Builder::p12_file`](crate::Builder::p12_file)).
    #[error("no client certificate: give a certificate and key (PEM) or a .p12 file")]
    NoIdentity,
    /// An address is not `HOST:PORT`, or its host name does not resolve.
    #[error("invalid address {address:?}: {problem}")]
    Address {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        problem: AddressProblem,
    },
    /// The event loop could not be started.
    #[error(transparent)]
    Start(#[from] apns_io::StartError),
    /// A device token is not 64 hex digits.
    #[error(transparent)]
    Token(#[from] apns_proto::TokenError),
    /// A payload could not be encoded (too large, or a custom value that is not JSON).
    #[error(transparent)]
    Payload(#[from] apns_proto::PayloadError),
    /// An expiry time does not fit Apple's 32-bit UNIX seconds.
    #[error(transparent)]
    Expiry(#[from] apns_proto::ExpiryError),
    /// The send queue stayed full for the whole send timeout (backpressure). The notifications
    /// not taken are given back, in order.
    #[error("the send queue stayed full; {} notifications were not taken", unsent.len())]
    Full {
        /// The notifications not taken.
        unsent: Vec<Notification>,
    },
    /// The gateway was closed ([`Gateway::close`](crate::Gateway::close) or
    /// [`Gateway::force_close`](crate::Gateway::force_close)). The notifications not taken are
    /// given back.
    #[error("the gateway connection is closed; {} notifications were not taken", unsent.len())]
    Closed {
        /// The notifications not taken.
        unsent: Vec<Notification>,
    },
    /// The feedback service could not be read.
    #[error(transparent)]
    Feedback(#[from] apns_io::FeedbackError),
    /// The in-process mock's test PKI could not be generated.
    #[cfg(feature = "mock")]
    #[error("cannot generate the mock's test PKI: {0}")]
    MockPki(#[from] apns_mock::certs::CertError),
    /// The in-process mock could not be started.
    #[cfg(feature = "mock")]
    #[error("cannot start the in-process mock: {0}")]
    Mock(#[from] apns_mock::MockError),
}

/// What is wrong with an address given as `HOST:PORT` ([`Error::Address`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressProblem {
    /// There is no `:PORT`.
    #[error("expected HOST:PORT")]
    NotHostPort,
    /// The port is not a number from 0 to 65535.
    #[error("the port is not a number from 0 to 65535")]
    InvalidPort,
    /// The host is empty.
    #[error("the host is empty")]
    EmptyHost,
    /// The host name could not be resolved.
    #[error("the host name does not resolve ({0})")]
    Unresolved(std::io::ErrorKind),
    /// The host name resolved to no address.
    #[error("the host has no address")]
    NoAddress,
}

impl From<apns_io::SendError> for Error {
    fn from(error: apns_io::SendError) -> Self {
        match error {
            apns_io::SendError::Full { unsent } => Self::Full { unsent },
            apns_io::SendError::Closed { unsent } => Self::Closed { unsent },
            // `SendError` is non-exhaustive: a future variant still gives nothing back lost.
            _ => Self::Closed { unsent: Vec::new() },
        }
    }
}
