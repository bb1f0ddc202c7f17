//! Header names, and the `authorization` value of token auth. Requests are `apns_h2::Request`s,
//! each field with its `apns_h2::Indexing` (Apple's HPACK advice: see `request.rs`).

use std::fmt;

use apns_h2::{HeaderValue, InvalidHeader};

/// `authorization`: `bearer <provider token>` (token auth).
pub const AUTHORIZATION: &str = "authorization";
/// `apns-push-type`.
pub const APNS_PUSH_TYPE: &str = "apns-push-type";
/// `apns-id`: the notification's UUID (request and response).
pub const APNS_ID: &str = "apns-id";
/// `apns-unique-id`: the sandbox's delivery-log id (response only).
pub const APNS_UNIQUE_ID: &str = "apns-unique-id";
/// `apns-expiration`: UNIX seconds; 0 = try once, do not store.
pub const APNS_EXPIRATION: &str = "apns-expiration";
/// `apns-priority`: 10, 5 or 1.
pub const APNS_PRIORITY: &str = "apns-priority";
/// `apns-topic`.
pub const APNS_TOPIC: &str = "apns-topic";
/// `apns-collapse-id`.
pub const APNS_COLLAPSE_ID: &str = "apns-collapse-id";
/// `apns-channel-id`: a broadcast channel (request and channel-creation response).
pub const APNS_CHANNEL_ID: &str = "apns-channel-id";
/// `apns-request-id`: the UUID of a broadcast or channel request (request and response).
pub const APNS_REQUEST_ID: &str = "apns-request-id";
/// `retry-after` (response): seconds or an HTTP date.
pub const RETRY_AFTER: &str = "retry-after";

/// The value of the `authorization` header for token auth: `bearer <provider token>`, built once
/// per token and shared by every request (cloning is a reference count).
///
/// A secret: `Debug` shows nothing of it, and nothing in this crate logs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization(HeaderValue);

impl Authorization {
    /// `bearer <token>` for a provider token (the JWT's three base64url parts). Refused only if
    /// the token holds bytes no header value may hold (NUL, CR, LF, surrounding whitespace).
    pub fn bearer(token: &str) -> Result<Self, InvalidHeader> {
        let mut value = Vec::with_capacity(7 + token.len());
        value.extend_from_slice(b"bearer ");
        value.extend_from_slice(token.as_bytes());
        HeaderValue::new(value).map(Self)
    }

    /// The header value (a secret: do not log it).
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The header value, shared (a secret: do not log it).
    pub fn value(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authorization(<redacted>)")
    }
}
