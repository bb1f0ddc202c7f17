//! Credentials for Apple's HTTP/2 provider API: the `.p8` signing key, ES256 provider tokens,
//! the policy that decides when a token is replaced, and what a push certificate allows.
//!
//! Pure like `apns-proto`: no sockets, no clock (every time is the caller's), no threads. The
//! only thing read from the operating system is randomness for ECDSA signatures (ring's
//! `SystemRandom`), and files only where a function says so (`SigningKey::from_p8_file`).
//!
//! Secrets never show: `Debug` of a [`SigningKey`], a [`ProviderToken`] or an
//! [`Authorization`](apns_proto::http2::Authorization) prints no key material or token.
//!
//! ```no_run
//! use std::time::{Instant, SystemTime};
//! use apns_auth::{KeyId, SigningKey, TeamId, TokenPolicy, TokenSigner};
//!
//! let key = SigningKey::from_p8_file("AuthKey_ABC123DEFG.p8")?;
//! let signer = TokenSigner::new(key, KeyId::new("ABC123DEFG")?, TeamId::new("DEF123GHIJ")?);
//! let mut policy = TokenPolicy::new(signer);
//! let (token, _generation) = policy.token(Instant::now(), SystemTime::now())?;
//! // request = notification.request(&authority, Some(token.authorization()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod certificate;
mod der;
mod ids;
mod key;
mod policy;
mod token;

pub use certificate::{AllowedTopic, CertificateError, CertificateTopics};
pub use ids::{IdError, KeyId, TeamId};
pub use key::{Curve, KeyAlgorithm, KeyError, PemKind, SignError, SigningKey, MAX_KEY_FILE};
pub use policy::{InvalidTiming, Refresh, TokenGeneration, TokenPolicy, TokenTiming};
pub use token::{DecodedToken, JwtError, ProviderToken, TokenSigner};
