//! The one error type of the facade.

use apns_proto::Notification;
use apns_resend::http2::Item;

use crate::Tag;

/// Why an operation of the facade failed. Every variant prints as one line naming the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A certificate, key, PKCS#12 or CA file is missing, unreadable or invalid.
    #[error(transparent)]
    Tls(#[from] apns_io::TlsError),
    /// No client certificate was given to the binary protocol's builder (see
    /// [`BinaryBuilder::cert_file`](crate::binary::BinaryBuilder::cert_file) and
    /// [`BinaryBuilder::p12_file`](crate::binary::BinaryBuilder::p12_file)).
    #[error("no client certificate: give a certificate and key (PEM) or a .p12 file")]
    NoIdentity,
    /// The HTTP/2 builder was given neither a provider-token key
    /// ([`Builder::token_key`](crate::Builder::token_key)) nor a client certificate.
    #[error("no credentials: give a provider-token key (.p8, key id, team id) or a client certificate")]
    NoCredentials,
    /// The provider-token key (`.p8`) is missing, unreadable or not an ES256 key.
    #[error("provider-token key: {0}")]
    ProviderKey(#[from] apns_auth::KeyError),
    /// A key id or team id is not 10 uppercase letters and digits.
    #[error(transparent)]
    Id(#[from] apns_auth::IdError),
    /// A bundle id, topic, channel id or collapse id is not what Apple accepts.
    #[error(transparent)]
    Value(#[from] apns_proto::http2::InvalidValue),
    /// An HTTP/2 notification could not be built (a payload over its push type's limit, a
    /// background notification with priority 10).
    #[error(transparent)]
    Request(#[from] apns_proto::http2::RequestError),
    /// Token auth needs an `apns-topic`, and neither the notification nor the builder
    /// ([`Builder::topic`](crate::Builder::topic)) names one (broadcasts always need the
    /// builder's bundle id).
    #[error("no topic: set a default with Builder::topic(bundle id) or give the notification one")]
    NoTopic,
    /// An address is not `HOST:PORT`, or its host name does not resolve.
    #[error("invalid address {address:?}: {problem}")]
    Address {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        problem: AddressProblem,
    },
    /// A builder setting is outside its range (e.g.
    /// [`Builder::token_refresh`](crate::Builder::token_refresh)).
    #[error("{setting} out of range: {allowed}")]
    OutOfRange {
        /// The builder method.
        setting: &'static str,
        /// What it accepts.
        allowed: &'static str,
    },
    /// The event loop could not be started.
    #[error(transparent)]
    Start(#[from] apns_io::StartError),
    /// The channel-management client could not be made
    /// ([`Builder::build_channels`](crate::Builder::build_channels)).
    #[error("cannot make the channel client: {0}")]
    Channels(Box<apns_io::channels::ChannelError>),
    /// A device token is not 64 hex digits.
    #[error(transparent)]
    Token(#[from] apns_proto::TokenError),
    /// A payload could not be encoded (too large, or a custom value that is not JSON).
    #[error(transparent)]
    Payload(#[from] apns_proto::PayloadError),
    /// An expiry time does not fit Apple's 32-bit UNIX seconds.
    #[error(transparent)]
    Expiry(#[from] apns_proto::ExpiryError),
    /// The binary protocol's send queue stayed full for the whole send timeout (backpressure). The notifications
    /// not taken are given back, in order.
    #[error("the send queue stayed full; {} notifications were not taken", unsent.len())]
    Full {
        /// The notifications not taken.
        unsent: Vec<Notification>,
    },
    /// The binary gateway was closed ([`Gateway::close`](crate::binary::Gateway::close) or
    /// [`Gateway::force_close`](crate::binary::Gateway::force_close)). The notifications not taken are
    /// given back.
    #[error("the gateway connection is closed; {} notifications were not taken", unsent.len())]
    Closed {
        /// The notifications not taken.
        unsent: Vec<Notification>,
    },
    /// The HTTP/2 send queue stayed full for the whole send timeout (for an async send: it
    /// was full). The notifications not taken are given back, in order.
    #[error("the HTTP/2 send queue stayed full; {} notifications were not taken", unsent.len())]
    Http2Full {
        /// The notifications not taken.
        unsent: Vec<Item<Tag>>,
    },
    /// The HTTP/2 client was closed ([`Apns::close`](crate::Apns::close),
    /// [`Apns::force_close`](crate::Apns::force_close)). The notifications not taken are
    /// given back.
    #[error("the HTTP/2 client is closed; {} notifications were not taken", unsent.len())]
    Http2Closed {
        /// The notifications not taken.
        unsent: Vec<Item<Tag>>,
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

impl From<apns_io::http2::Http2SendError<Tag>> for Error {
    fn from(error: apns_io::http2::Http2SendError<Tag>) -> Self {
        match error {
            apns_io::http2::Http2SendError::Full { unsent } => Self::Http2Full { unsent },
            apns_io::http2::Http2SendError::Closed { unsent } => Self::Http2Closed { unsent },
            _ => Self::Http2Closed { unsent: Vec::new() },
        }
    }
}
