//! Header names, HPACK indexing hints, and the request description the HTTP/2 layer writes.

use std::fmt;

use bytes::Bytes;

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

/// The request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `POST`: send a notification, create a channel.
    Post,
    /// `GET`: read a channel, list channels.
    Get,
    /// `DELETE`: delete a channel.
    Delete,
}

impl Method {
    /// The `:method` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Get => "GET",
            Self::Delete => "DELETE",
        }
    }
}

/// RFC 7541's three literal representations (§6.2.1–§6.2.3). An encoder that finds the whole
/// field (name and value) in its static or dynamic table may still send it indexed (§6.1) when the
/// kind is [`LiteralKind::IncrementalIndexing`]; with the other two kinds the value is written as a
/// literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LiteralKind {
    /// §6.2.1, literal with incremental indexing: the field enters the dynamic table, so the
    /// next identical field costs one byte.
    IncrementalIndexing,
    /// §6.2.2, literal without indexing: the table is left alone; the name may still be an
    /// index into it.
    WithoutIndexing,
    /// §6.2.3, never indexed: like without indexing, and intermediaries must not index it either.
    NeverIndexed,
}

/// How the HTTP/2 layer should encode one header, following Apple's HPACK advice.
///
/// Apple asks for header *names* to enter the dynamic table once and be reused, and for
/// values to be indexed only when they repeat. So a hint has two kinds: `first` when the
/// encoder's dynamic table holds no field with this name (the first time on a connection, or
/// after eviction), `repeated` once it does (the name is then referenced by its index).
/// [`Indexing::kind`] picks one; the HTTP/2 layer obeys it 1:1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Indexing {
    /// The kind when the dynamic table has no field of this name.
    pub first: LiteralKind,
    /// The kind when it has one.
    pub repeated: LiteralKind,
}

impl Indexing {
    /// A value that repeats (topic, push type, priority, the provider token, a bundle-id path):
    /// incremental indexing always.
    pub const INDEXED: Self =
        Self { first: LiteralKind::IncrementalIndexing, repeated: LiteralKind::IncrementalIndexing };
    /// A value unique to the request (`apns-id`, `apns-expiration`, `apns-collapse-id`): indexed
    /// the first time so that the name enters the table, without indexing after that.
    pub const NAME_ONLY: Self =
        Self { first: LiteralKind::IncrementalIndexing, repeated: LiteralKind::WithoutIndexing };
    /// A value that must not fill the table (a device token's `:path`): without indexing always
    /// (the `:path` name is in the static table already).
    pub const NOT_INDEXED: Self =
        Self { first: LiteralKind::WithoutIndexing, repeated: LiteralKind::WithoutIndexing };

    /// The kind to use, given whether the encoder's dynamic table already holds a field with
    /// this name.
    pub const fn kind(self, name_in_dynamic_table: bool) -> LiteralKind {
        if name_in_dynamic_table {
            self.repeated
        } else {
            self.first
        }
    }
}

/// One request header: a lowercase name, its value, and how to encode it.
///
/// `Debug` never shows an `authorization` value.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    /// The name, lowercase (one of this module's constants).
    pub name: &'static str,
    /// The value: visible ASCII (checked when the value type was built).
    pub value: Bytes,
    /// The HPACK representation to use.
    pub indexing: Indexing,
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Header");
        debug.field("name", &self.name);
        if self.name == AUTHORIZATION {
            debug.field("value", &"<redacted>");
        } else {
            debug.field("value", &String::from_utf8_lossy(&self.value));
        }
        debug.field("indexing", &self.indexing).finish()
    }
}

/// The value of the `authorization` header for token auth: `bearer <provider token>`, built once
/// per token and shared by every request (cloning is a reference count).
///
/// A secret: `Debug` shows nothing of it, and nothing in this crate logs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization(Bytes);

impl Authorization {
    /// `bearer <token>` for a provider token (the JWT's three base64url parts).
    pub fn bearer(token: &str) -> Self {
        let mut value = Vec::with_capacity(7 + token.len());
        value.extend_from_slice(b"bearer ");
        value.extend_from_slice(token.as_bytes());
        Self(Bytes::from(value))
    }

    /// The header value (a secret: do not log it).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn header(&self) -> Header {
        Header { name: AUTHORIZATION, value: self.0.clone(), indexing: Indexing::INDEXED }
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authorization(<redacted>)")
    }
}

/// A request as the HTTP/2 layer writes it: method, path, headers in order, body.
///
/// `:scheme` (`https`) and `:authority` (the host) are the connection's, not the request's.
/// Every value is visible ASCII, so it can be written as an HTTP/2 field value without further
/// checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `:method`.
    pub method: Method,
    /// `:path`.
    pub path: Bytes,
    /// How to encode `:path`.
    pub path_indexing: Indexing,
    /// The other headers, in the order to write them.
    pub headers: Vec<Header>,
    /// The body (a shared payload: cloning is a reference count); empty for GET and DELETE.
    pub body: Bytes,
}

impl Request {
    /// The value of the first header called `name`, if any.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|header| header.name == name).map(|header| &header.value[..])
    }
}
