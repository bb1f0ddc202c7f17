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
    // The pseudo-header fields are known by position: their names are constants, not stored.
    method: HeaderValue,
    scheme: HeaderValue,
    authority: HeaderValue,
    path: HeaderValue,
    path_indexing: Indexing,
    /// The regular header fields, in order.
    headers: Vec<(HeaderField, Indexing)>,
    body: Bytes,
}

/// The pseudo-header names, as `fields` lends them.
static METHOD: HeaderName = HeaderName::METHOD;
static SCHEME: HeaderName = HeaderName::SCHEME;
static AUTHORITY: HeaderName = HeaderName::AUTHORITY;
static PATH: HeaderName = HeaderName::PATH;

/// Regular header fields a request has room for before its list grows (an APNs request has
/// up to seven).
const HEADERS_CAPACITY: usize = 7;

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
    #[inline]
    pub fn new(method: HeaderValue, authority: HeaderValue, path: HeaderValue) -> Self {
        Self {
            method,
            scheme: Self::HTTPS,
            authority,
            path,
            path_indexing: Indexing::WithoutIndexing,
            headers: Vec::with_capacity(HEADERS_CAPACITY),
            body: Bytes::new(),
        }
    }

    /// `POST` to `path` at `authority`.
    #[inline]
    pub fn post(authority: HeaderValue, path: HeaderValue) -> Self {
        Self::new(Self::POST, authority, path)
    }

    /// Sets `:scheme` (`https` by default).
    #[inline]
    pub fn scheme(mut self, scheme: HeaderValue) -> Self {
        self.scheme = scheme;
        self
    }

    /// Sets how `:path` is indexed ([`Indexing::WithoutIndexing`] by default).
    #[inline]
    pub fn path_indexing(mut self, indexing: Indexing) -> Self {
        self.path_indexing = indexing;
        self
    }

    /// Appends a header field with its indexing choice.
    #[inline]
    pub fn header(mut self, name: HeaderName, value: HeaderValue, indexing: Indexing) -> Self {
        self.push_header(name, value, indexing);
        self
    }

    /// Appends a header field (by reference, for loops).
    #[inline]
    pub fn push_header(&mut self, name: HeaderName, value: HeaderValue, indexing: Indexing) {
        self.headers.push((HeaderField { name, value }, indexing));
    }

    /// Sets the body (shared: one payload for many requests costs no copy).
    #[inline]
    pub fn body(mut self, body: Bytes) -> Self {
        self.body = body;
        self
    }

    /// Every field in the order sent, pseudo-headers first (`:method`, `:scheme`,
    /// `:authority`, `:path`), each with its indexing.
    pub fn fields(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue, Indexing)> {
        self.pseudo_fields()
            .into_iter()
            .chain(self.headers.iter().map(|(field, indexing)| (&field.name, &field.value, *indexing)))
    }

    /// The pseudo-header fields, in the order sent.
    #[inline]
    fn pseudo_fields(&self) -> [(&HeaderName, &HeaderValue, Indexing); 4] {
        [
            (&METHOD, &self.method, Indexing::Incremental),
            (&SCHEME, &self.scheme, Indexing::Incremental),
            (&AUTHORITY, &self.authority, Indexing::Incremental),
            (&PATH, &self.path, self.path_indexing),
        ]
    }

    /// The `:method`.
    pub fn method(&self) -> &HeaderValue {
        &self.method
    }

    /// The `:authority`.
    pub fn authority(&self) -> &HeaderValue {
        &self.authority
    }

    /// The `:path`.
    pub fn path(&self) -> &HeaderValue {
        &self.path
    }

    /// The regular (not pseudo-) header fields, in order, with their indexing.
    pub fn headers(&self) -> impl Iterator<Item = &(HeaderField, Indexing)> {
        self.headers.iter()
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
        self.fields().map(|(name, value, _)| crate::header::list_size(name, value)).sum()
    }

    /// Calls `f` with every field in the order sent (what [`fields`](Self::fields) yields,
    /// without its chained iterator: the encoder's loop).
    pub(crate) fn for_each_field(&self, mut f: impl FnMut(&HeaderName, &HeaderValue, Indexing)) {
        for (name, value, indexing) in self.pseudo_fields() {
            f(name, value, indexing);
        }
        for (field, indexing) in &self.headers {
            f(&field.name, &field.value, *indexing);
        }
    }

    /// Takes the body out (the connection keeps it apart from the fields, which it drops
    /// once the HEADERS are written).
    #[inline]
    pub(crate) fn take_body(&mut self) -> Bytes {
        std::mem::take(&mut self.body)
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
