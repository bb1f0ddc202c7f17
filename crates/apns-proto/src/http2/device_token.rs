//! The device token as the HTTP/2 API takes it: hex of any even length.

use std::fmt;
use std::str::FromStr;

use crate::{DeviceToken, TokenError};

/// A device token for the HTTP/2 API: the hex digits that go into `/3/device/<token>`.
///
/// Apple asks providers not to assume a token's length, and tokens longer than the binary
/// protocol's 32 bytes have been seen (54 and 80 bytes are reported). So this type takes any
/// whole number of bytes from 1 to [`HexDeviceToken::MAX_BYTES`], while [`DeviceToken`] stays the
/// binary protocol's exactly-32-byte token. Every `DeviceToken` converts into a
/// `HexDeviceToken`; the other way round fails when the length is not 32.
///
/// Parsing accepts either case and ignores the spaces and angle brackets of an Xcode log line,
/// like [`DeviceToken`]'s; the token is kept as lowercase hex.
///
/// ```
/// use apns_proto::http2::HexDeviceToken;
/// let token: HexDeviceToken = "<ABCD 0123>".parse()?;
/// assert_eq!(token.as_str(), "abcd0123");
/// assert_eq!(token.len_bytes(), 4);
/// # Ok::<(), apns_proto::TokenError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HexDeviceToken(Box<str>);

impl HexDeviceToken {
    /// The longest token accepted, in bytes: well above any token seen (Apple once announced up
    /// to 100 bytes), low enough that a wrong value pasted into the field is caught here.
    pub const MAX_BYTES: usize = 256;

    /// The token from raw bytes (1 to [`HexDeviceToken::MAX_BYTES`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TokenError> {
        if bytes.is_empty() {
            return Err(TokenError::Empty);
        }
        if bytes.len() > Self::MAX_BYTES {
            return Err(TokenError::TooLong { bytes: bytes.len(), max: Self::MAX_BYTES });
        }
        Ok(Self(crate::to_hex(bytes).into_boxed_str()))
    }

    /// The lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The token's length in bytes.
    pub fn len_bytes(&self) -> usize {
        self.0.len() / 2
    }

    /// The raw bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.as_bytes().chunks_exact(2).map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1])).collect()
    }
}

/// The value of a lowercase hex digit (the token holds nothing else).
fn nibble(digit: u8) -> u8 {
    match digit {
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit.wrapping_sub(b'0') & 0xf,
    }
}

impl FromStr for HexDeviceToken {
    type Err = TokenError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut hex = String::with_capacity(text.len().min(Self::MAX_BYTES * 2));
        for (position, byte) in text.bytes().enumerate() {
            match byte {
                b'0'..=b'9' | b'a'..=b'f' => hex.push(char::from(byte)),
                b'A'..=b'F' => hex.push(char::from(byte.to_ascii_lowercase())),
                b' ' | b'<' | b'>' => {}
                _ => {
                    let ch = text.get(position..).and_then(|rest| rest.chars().next()).unwrap_or('\u{fffd}');
                    return Err(TokenError::InvalidCharacter { ch, position });
                }
            }
            if hex.len() > Self::MAX_BYTES * 2 {
                return Err(TokenError::TooLong { bytes: text.len() / 2, max: Self::MAX_BYTES });
            }
        }
        if hex.is_empty() {
            return Err(TokenError::Empty);
        }
        if hex.len() % 2 != 0 {
            return Err(TokenError::OddLength { digits: hex.len() });
        }
        Ok(Self(hex.into_boxed_str()))
    }
}

impl From<DeviceToken> for HexDeviceToken {
    fn from(token: DeviceToken) -> Self {
        Self(token.to_string().into_boxed_str())
    }
}

impl From<&DeviceToken> for HexDeviceToken {
    fn from(token: &DeviceToken) -> Self {
        Self::from(*token)
    }
}

impl TryFrom<&HexDeviceToken> for DeviceToken {
    type Error = TokenError;

    fn try_from(token: &HexDeviceToken) -> Result<Self, Self::Error> {
        DeviceToken::from_slice(&token.to_bytes())
    }
}

impl fmt::Display for HexDeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for HexDeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexDeviceToken({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const HEX: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";

    #[test]
    fn any_even_length_within_bounds() {
        let binary: DeviceToken = HEX.parse().unwrap();
        let token = HexDeviceToken::from(binary);
        assert_eq!(token.as_str(), HEX);
        assert_eq!(DeviceToken::try_from(&token), Ok(binary));
        let long: HexDeviceToken = "ab".repeat(80).parse().unwrap();
        assert_eq!(long.len_bytes(), 80);
        assert_eq!(DeviceToken::try_from(&long), Err(TokenError::WrongLength { bytes: 80 }));
        assert_eq!("".parse::<HexDeviceToken>(), Err(TokenError::Empty));
        assert_eq!("abc".parse::<HexDeviceToken>(), Err(TokenError::OddLength { digits: 3 }));
        assert!(matches!("ab".repeat(257).parse::<HexDeviceToken>(), Err(TokenError::TooLong { .. })));
        assert!("ab".repeat(256).parse::<HexDeviceToken>().is_ok());
        assert_eq!(
            "ab/".parse::<HexDeviceToken>(),
            Err(TokenError::InvalidCharacter { ch: '/', position: 2 })
        );
        assert_eq!(HexDeviceToken::from_bytes(&[]), Err(TokenError::Empty));
    }

    proptest! {
        #[test]
        fn bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 1..=256)) {
            let token = HexDeviceToken::from_bytes(&bytes).unwrap();
            prop_assert_eq!(token.to_bytes(), bytes.clone());
            prop_assert_eq!(token.as_str().to_uppercase().parse::<HexDeviceToken>().unwrap(), token);
        }
    }
}
