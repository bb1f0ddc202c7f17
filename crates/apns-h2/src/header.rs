//! Header names and values, checked once against RFC 9113 section 8.2.

use std::fmt;

use bytes::Bytes;

/// A header field name: lowercase, non-empty, made of HTTP token characters, and not one of the
/// connection-specific fields HTTP/2 forbids. Pseudo-header names (`:path`, ...) are only made
/// by this crate.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HeaderName(Bytes);

/// Why a header name or value is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidHeader {
    /// An empty name.
    #[error("empty header name")]
    EmptyName,
    /// A name byte that is not a lowercase token character (uppercase, space, `:`, control...).
    #[error("header name byte {0:#04x} is not a lowercase token character")]
    NameByte(u8),
    /// A connection-specific field (`connection`, `keep-alive`, `proxy-connection`,
    /// `transfer-encoding`, `upgrade`) or `te` other than `trailers`.
    #[error("connection-specific header fields are not allowed in HTTP/2")]
    ConnectionSpecific,
    /// A value with NUL, CR or LF, or with leading or trailing whitespace.
    #[error("header value byte {0:#04x} is not allowed here")]
    ValueByte(u8),
}

impl HeaderName {
    /// `:method`.
    pub(crate) const METHOD: Self = Self(Bytes::from_static(b":method"));
    /// `:scheme`.
    pub(crate) const SCHEME: Self = Self(Bytes::from_static(b":scheme"));
    /// `:authority`.
    pub(crate) const AUTHORITY: Self = Self(Bytes::from_static(b":authority"));
    /// `:path`.
    pub(crate) const PATH: Self = Self(Bytes::from_static(b":path"));

    /// Checks a regular (not pseudo-) header name.
    pub fn new(name: impl Into<Bytes>) -> Result<Self, InvalidHeader> {
        let name = name.into();
        check_name(&name)?;
        Ok(Self(name))
    }

    /// A name known at compile time. Panics (at compile time in a `const`) if it is invalid.
    #[allow(clippy::panic)] // A literal written by the programmer, not input.
    pub const fn from_static(name: &'static str) -> Self {
        match check_name(name.as_bytes()) {
            Ok(()) => Self(Bytes::from_static(name.as_bytes())),
            Err(_) => panic!("invalid header name"),
        }
    }

    /// A name from the network, already checked by the caller (or a pseudo-header name).
    pub(crate) fn from_checked(name: Bytes) -> Self {
        Self(name)
    }

    /// The bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, shared.
    #[inline]
    pub fn as_shared(&self) -> &Bytes {
        &self.0
    }

    /// As text (names are ASCII).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Whether it starts with `:`.
    pub fn is_pseudo(&self) -> bool {
        self.0.first() == Some(&b':')
    }
}

impl fmt::Debug for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A header field value: no NUL, CR or LF, and no leading or trailing space or tab.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HeaderValue(Bytes);

impl HeaderValue {
    /// Checks a value. Sharing one `Bytes` between many requests (an `authorization` token)
    /// costs no copy.
    pub fn new(value: impl Into<Bytes>) -> Result<Self, InvalidHeader> {
        let value = value.into();
        check_value(&value)?;
        Ok(Self(value))
    }

    /// A value known at compile time. Panics (at compile time in a `const`) if it is invalid.
    #[allow(clippy::panic)] // A literal written by the programmer, not input.
    pub const fn from_static(value: &'static str) -> Self {
        match check_value_const(value.as_bytes()) {
            Ok(()) => Self(Bytes::from_static(value.as_bytes())),
            Err(_) => panic!("invalid header value"),
        }
    }

    /// A value whose bytes the caller's own types already restrict to what [`new`](Self::new)
    /// accepts (a hex token, a UUID, decimal digits, a validated topic), taken without
    /// scanning it again: for values built per request. Breaking the promise cannot cause
    /// undefined behaviour or a panic in release builds, only a request the server rejects as
    /// malformed; debug builds check it.
    #[inline]
    pub fn from_trusted(value: Bytes) -> Self {
        debug_assert!(check_value(&value).is_ok(), "HeaderValue::from_trusted given an invalid value");
        Self(value)
    }

    pub(crate) fn from_checked(value: Bytes) -> Self {
        Self(value)
    }

    /// The bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, shared.
    #[inline]
    pub fn as_shared(&self) -> &Bytes {
        &self.0
    }

    /// As text, if it is UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_str() {
            Some(text) => fmt::Debug::fmt(text, f),
            None => write!(f, "{:?}", self.0),
        }
    }
}

/// A name and a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField {
    /// The name.
    pub name: HeaderName,
    /// The value.
    pub value: HeaderValue,
}

impl HeaderField {
    /// Its size for `SETTINGS_MAX_HEADER_LIST_SIZE` (RFC 9113 section 6.5.2).
    pub fn list_size(&self) -> usize {
        list_size(&self.name, &self.value)
    }
}

/// A field's size for `SETTINGS_MAX_HEADER_LIST_SIZE` (RFC 9113 section 6.5.2): its name and
/// value, and 32 for the entry.
pub(crate) fn list_size(name: &HeaderName, value: &HeaderValue) -> usize {
    name.0.len() + value.0.len() + 32
}

/// The fields of a response header section or trailer section, in the order received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub(crate) Vec<HeaderField>);

impl Headers {
    /// Fields in order: for tests and simulations that build a [`Response`](crate::Response)
    /// without bytes (the connection builds them from HPACK).
    pub fn from_fields(fields: Vec<HeaderField>) -> Self {
        Self(fields)
    }

    /// The first value of `name` (lowercase).
    pub fn get(&self, name: &str) -> Option<&HeaderValue> {
        self.0.iter().find(|field| field.name.as_bytes() == name.as_bytes()).map(|field| &field.value)
    }

    /// Every field, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, HeaderField> {
        self.0.iter()
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a HeaderField;
    type IntoIter = std::slice::Iter<'a, HeaderField>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Token characters (RFC 9110 section 5.6.2), lowercase only.
const fn is_name_byte(byte: u8) -> bool {
    matches!(byte,
        b'a'..=b'z' | b'0'..=b'9' | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
        | b'^' | b'_' | b'`' | b'|' | b'~')
}

pub(crate) const fn check_name(name: &[u8]) -> Result<(), InvalidHeader> {
    if name.is_empty() {
        return Err(InvalidHeader::EmptyName);
    }
    let mut i = 0;
    while i < name.len() {
        if !is_name_byte(name[i]) {
            return Err(InvalidHeader::NameByte(name[i]));
        }
        i += 1;
    }
    if is_connection_specific(name) {
        return Err(InvalidHeader::ConnectionSpecific);
    }
    Ok(())
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// RFC 9113 section 8.2.2. (`te` is only allowed as `te: trailers`; we refuse it as a name
/// since the requests here never need it.)
const fn is_connection_specific(name: &[u8]) -> bool {
    eq(name, b"connection")
        || eq(name, b"keep-alive")
        || eq(name, b"proxy-connection")
        || eq(name, b"transfer-encoding")
        || eq(name, b"upgrade")
        || eq(name, b"te")
}

pub(crate) fn check_value(value: &[u8]) -> Result<(), InvalidHeader> {
    // A scan 8 bytes at a time first (every request checks its `apns-id` and topic), the
    // byte-by-byte one only to name the offending byte.
    let mut words = value.chunks_exact(8);
    let mut bad = false;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let word = u64::from_ne_bytes(bytes);
        bad |= has_zero_byte(word) | has_zero_byte(word ^ CR) | has_zero_byte(word ^ LF);
    }
    bad |= words.remainder().iter().any(|&byte| byte == 0 || byte == b'\r' || byte == b'\n');
    let edge = |byte: Option<&u8>| matches!(byte, Some(b' ' | b'\t'));
    if !bad && !edge(value.first()) && !edge(value.last()) {
        return Ok(());
    }
    check_value_const(value)
}

/// Eight copies of `\r` and of `\n`: XOR makes those bytes zero.
const CR: u64 = u64::from_ne_bytes([b'\r'; 8]);
const LF: u64 = u64::from_ne_bytes([b'\n'; 8]);

/// Whether any byte of `word` is 0 (the classic bit trick: only a zero byte borrows into its
/// own high bit without having it set; exact for "any", not for which).
const fn has_zero_byte(word: u64) -> bool {
    const LOW: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    word.wrapping_sub(LOW) & !word & HIGH != 0
}

/// [`check_value`] for `const` contexts (the literals of `from_static`).
const fn check_value_const(value: &[u8]) -> Result<(), InvalidHeader> {
    let mut i = 0;
    while i < value.len() {
        let byte = value[i];
        if byte == 0 || byte == b'\r' || byte == b'\n' {
            return Err(InvalidHeader::ValueByte(byte));
        }
        i += 1;
    }
    if let [first, ..] = value {
        if *first == b' ' || *first == b'\t' {
            return Err(InvalidHeader::ValueByte(*first));
        }
    }
    if let [.., last] = value {
        if *last == b' ' || *last == b'\t' {
            return Err(InvalidHeader::ValueByte(*last));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_checked() {
        assert!(HeaderName::new("apns-id").is_ok());
        assert_eq!(HeaderName::new(""), Err(InvalidHeader::EmptyName));
        assert_eq!(HeaderName::new("Apns-Id"), Err(InvalidHeader::NameByte(b'A')));
        assert_eq!(HeaderName::new(":path"), Err(InvalidHeader::NameByte(b':')));
        assert_eq!(HeaderName::new("connection"), Err(InvalidHeader::ConnectionSpecific));
        assert!(HeaderValue::new("bearer abc").is_ok());
        assert!(HeaderValue::new("").is_ok());
        assert_eq!(HeaderValue::new("a\r\nb"), Err(InvalidHeader::ValueByte(b'\r')));
        assert_eq!(HeaderValue::new(" a"), Err(InvalidHeader::ValueByte(b' ')));
        assert_eq!(HeaderValue::new("a\t"), Err(InvalidHeader::ValueByte(b'\t')));
        const TOPIC: HeaderName = HeaderName::from_static("apns-topic");
        assert_eq!(TOPIC.as_str(), "apns-topic");
    }

    proptest::proptest! {
        /// The word-at-a-time scan decides as the byte-by-byte one.
        #[test]
        fn value_scans_agree(value in proptest::collection::vec(
            proptest::prop_oneof![proptest::prelude::any::<u8>(), proptest::prelude::Just(b'a'), proptest::prelude::Just(b'\r')],
            0..40,
        )) {
            proptest::prop_assert_eq!(check_value(&value), check_value_const(&value));
        }
    }
}
