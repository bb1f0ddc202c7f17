//! Requests and responses.

use bytes::Bytes;

use crate::header::{HeaderField, HeaderName, HeaderValue, Headers};
use crate::Indexing;

/// A request: pseudo-header fields, header fields, each with its HPACK [`Indexing`], and a
/// body.
///
/// ```
/// use apns_h2::{HeaderName, HeaderValue, Indexing, Request};
/// use bytes::Bytes;
///
/// let token = HeaderValue::new("bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln")?; // shared by many requests
/// let request = Request::post(
///     HeaderValue::from_static("api.push.apple.com"),
///     HeaderValue::new("/3/device/00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0")?,
/// )
/// .header(HeaderName::from_static("authorization"), token, Indexing::Incremental)
/// .header(HeaderName::from_static("apns-topic"), HeaderValue::from_static("com.example.app"), Indexing::Incremental)
/// .body(Bytes::from_static(br#"{"aps":{"alert":"Hello"}}"#));
/// assert_eq!(request.fields().count(), 6);
/// # Ok::<(), apns_h2::InvalidHeader>(())
/// ```
#[derive(Debug, Clone)]
pub struct Request {
    /// Pseudo-header fields first (`:method`, `:scheme`, `:authority`, `:path`), then the rest.
    fields: Vec<(HeaderField, Indexing)>,
    body: Bytes,
}

impl Request {
    /// `:method` `POST` (indexed: it is in the static table).
    pub const POST: HeaderValue = HeaderValue::from_static("POST");
    /// `:method` `GET`.
    pub const GET: HeaderValue = HeaderValue::from_static("GET");
    /// `:method` `DELETE`.
    pub const DELETE: HeaderValue = HeaderValue::from_static("DELETE");
    /// `:scheme` `https`.
    pub const HTTPS: HeaderValue = HeaderValue::from_static("https");

    /// A request with `:scheme https`. `:authority` is indexed incrementally (it is the same
    /// for every request of a connection); `:path` is not indexed (it usually carries an
    /// identifier unique to the request: change it with [`path_indexing`](Self::path_indexing)).
    pub fn new(method: HeaderValue, authority: HeaderValue, path: HeaderValue) -> Self {
        let mut fields = Vec::with_capacity(10);
        fields.push((HeaderField { name: HeaderName::METHOD, value: method }, Indexing::Incremental));
        fields.push((HeaderField { name: HeaderName::SCHEME, value: Self::HTTPS }, Indexing::Incremental));
        fields.push((HeaderField { name: HeaderName::AUTHORITY, value: authority }, Indexing::Incremental));
        fields.push((HeaderField { name: HeaderName::PATH, value: path }, Indexing::WithoutIndexing));
        Self { fields, body: Bytes::new() }
    }

    /// `POST` to `path` at `authority`.
    pub fn post(authority: HeaderValue, path: HeaderValue) -> Self {
        Self::new(Self::POST, authority, path)
    }

    /// Sets `:scheme` (`https` by default).
    pub fn scheme(mut self, scheme: HeaderValue) -> Self {
        if let Some((field, _)) = self.fields.get_mut(1) {
            field.value = scheme;
        }
        self
    }

    /// Sets how `:path` is indexed ([`Indexing::WithoutIndexing`] by default).
    pub fn path_indexing(mut self, indexing: Indexing) -> Self {
        if let Some((_, path)) = self.fields.get_mut(3) {
            *path = indexing;
        }
        self
    }

    /// Appends a header field with its indexing choice.
    pub fn header(mut self, name: HeaderName, value: HeaderValue, indexing: Indexing) -> Self {
        self.push_header(name, value, indexing);
        self
    }

    /// Appends a header field (by reference, for loops).
    pub fn push_header(&mut self, name: HeaderName, value: HeaderValue, indexing: Indexing) {
        self.fields.push((HeaderField { name, value }, indexing));
    }

    /// Sets the body (shared: one payload for many requests costs no copy).
    pub fn body(mut self, body: Bytes) -> Self {
        self.body = body;
        self
    }

    /// Every field in the order sent, pseudo-headers first.
    pub fn fields(&self) -> impl Iterator<Item = &(HeaderField, Indexing)> {
        self.fields.iter()
    }

    /// The `:method`.
    pub fn method(&self) -> &HeaderValue {
        &self.fields[0].0.value
    }

    /// The `:authority`.
    pub fn authority(&self) -> &HeaderValue {
        &self.fields[2].0.value
    }

    /// The `:path`.
    pub fn path(&self) -> &HeaderValue {
        &self.fields[3].0.value
    }

    /// The regular (not pseudo-) header fields, in order, with their indexing.
    pub fn headers(&self) -> impl Iterator<Item = &(HeaderField, Indexing)> {
        self.fields.iter().skip(4)
    }

    /// The value of the first regular header field called `name` (lowercase).
    pub fn header_value(&self, name: &str) -> Option<&HeaderValue> {
        self.headers()
            .find(|(field, _)| field.name.as_bytes() == name.as_bytes())
            .map(|(field, _)| &field.value)
    }

    /// The body.
    pub fn body_bytes(&self) -> &Bytes {
        &self.body
    }

    /// The header list size (RFC 9113 section 6.5.2), as `SETTINGS_MAX_HEADER_LIST_SIZE` counts.
    pub fn header_list_size(&self) -> usize {
        self.fields.iter().map(|(field, _)| field.list_size()).sum()
    }

    pub(crate) fn into_parts(self) -> (Vec<(HeaderField, Indexing)>, Bytes) {
        (self.fields, self.body)
    }
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// `:status` (200 to 599; informational responses are skipped).
    pub status: u16,
    /// The header fields, without `:status`.
    pub headers: Headers,
    /// The body (all DATA frames together).
    pub body: Bytes,
    /// The trailer fields, if the server sent any.
    pub trailers: Option<Headers>,
}
