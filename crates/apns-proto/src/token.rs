//! Device tokens: the 32-byte address of one app on one device.

use std::fmt;
use std::str::FromStr;

/// A device token, exactly [`DeviceToken::LEN`] (32) bytes long.
///
/// Apple's binary gateway accepted only 32-byte tokens and answered any other size with
/// [`Status::INVALID_TOKEN_SIZE`](crate::Status::INVALID_TOKEN_SIZE), so a `DeviceToken` can only
/// hold 32 bytes: a wrong size is caught when the token is parsed, not by the gateway later.
/// (The PyAPNs README's example token is 28 bytes; Apple would have rejected it.)
///
/// Parsing accepts hex in either case and ignores the spaces and angle brackets that appear when
/// a token is copied from an Xcode log (`<b5bb9d80 14a0f9b1 ...>`). It is displayed as 64
/// lowercase hex digits.
///
/// ```
/// use apns_proto::DeviceToken;
/// let token: DeviceToken = "<B5BB9D80 14A0F9B1 D61E21E7 96D78DCC DF1352F2 3CD32812 F4850B87 B5BB9D80>"
///     .parse()?;
/// assert_eq!(
///     token.to_string(),
///     "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80"
/// );
/// # Ok::<(), apns_proto::TokenError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceToken([u8; DeviceToken::LEN]);

impl DeviceToken {
    /// The size of a device token in bytes, as Apple's binary gateway required.
    pub const LEN: usize = 32;

    /// Wraps 32 raw bytes.
    pub const fn new(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    /// Takes a raw token, which must be exactly [`DeviceToken::LEN`] bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, TokenError> {
        let array =
            <[u8; Self::LEN]>::try_from(bytes).map_err(|_| TokenError::WrongLength { bytes: bytes.len() })?;
        Ok(Self(array))
    }

    /// The raw bytes, as written on the wire.
    pub const fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }
}

impl FromStr for DeviceToken {
    type Err = TokenError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; Self::LEN];
        let mut nibbles = 0usize;
        // Byte-wise: every accepted character is ASCII, so a non-ASCII byte is always an error.
        for (position, byte) in text.bytes().enumerate() {
            let value = match byte {
                b'0'..=b'9' => byte - b'0',
                b'a'..=b'f' => byte - b'a' + 10,
                b'A'..=b'F' => byte - b'A' + 10,
                b' ' | b'<' | b'>' => continue,
                _ => {
                    let ch = text.get(position..).and_then(|rest| rest.chars().next()).unwrap_or('\u{fffd}');
                    return Err(TokenError::InvalidCharacter { ch, position });
                }
            };
            if let Some(slot) = bytes.get_mut(nibbles / 2) {
                *slot = (*slot << 4) | value;
            }
            nibbles += 1;
        }
        if nibbles == 0 {
            return Err(TokenError::Empty);
        }
        if nibbles % 2 != 0 {
            return Err(TokenError::OddLength { digits: nibbles });
        }
        if nibbles != Self::LEN * 2 {
            return Err(TokenError::WrongLength { bytes: nibbles / 2 });
        }
        Ok(Self(bytes))
    }
}

impl From<[u8; DeviceToken::LEN]> for DeviceToken {
    fn from(bytes: [u8; DeviceToken::LEN]) -> Self {
        Self(bytes)
    }
}

impl TryFrom<&[u8]> for DeviceToken {
    type Error = TokenError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        Self::from_slice(bytes)
    }
}

impl AsRef<[u8]> for DeviceToken {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceToken({self})")
    }
}

/// Writes bytes as lowercase hex; shared by everything that shows raw tokens.
pub(crate) fn write_hex(f: &mut impl fmt::Write, bytes: &[u8]) -> fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        f.write_char(char::from(DIGITS[usize::from(byte >> 4)]))?;
        f.write_char(char::from(DIGITS[usize::from(byte & 0x0f)]))?;
    }
    Ok(())
}

/// Formats any byte string as lowercase hex (for tokens of the wrong size, seen by a server).
pub fn to_hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    // Writing to a String cannot fail.
    let _ = write_hex(&mut text, bytes);
    text
}

/// Why a device token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The text had no hex digits at all.
    #[error("device token is empty")]
    Empty,
    /// A character that is neither a hex digit nor one of the ignored separators (space, `<`, `>`).
    #[error("device token has a non-hex character {ch:?} at byte {position}")]
    InvalidCharacter {
        /// The offending character.
        ch: char,
        /// Its byte offset in the text.
        position: usize,
    },
    /// An odd number of hex digits cannot be bytes.
    #[error("device token has an odd number of hex digits ({digits})")]
    OddLength {
        /// How many hex digits there were.
        digits: usize,
    },
    /// Longer than [`HexDeviceToken::MAX_BYTES`](crate::http2::HexDeviceToken::MAX_BYTES).
    #[error("device token is {bytes} bytes long, over the {max} bytes accepted")]
    TooLong {
        /// How many bytes the token had (at least).
        bytes: usize,
        /// The most accepted.
        max: usize,
    },
    /// Well-formed, but not 32 bytes long.
    #[error("device token is {bytes} bytes long; Apple's tokens are exactly 32 bytes (64 hex digits)")]
    WrongLength {
        /// How many bytes the token had.
        bytes: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";

    #[test]
    fn parses_either_case_and_formats_lowercase() {
        let lower: DeviceToken = HEX.parse().unwrap();
        let upper: DeviceToken = HEX.to_uppercase().parse().unwrap();
        assert_eq!(lower, upper);
        assert_eq!(upper.to_string(), HEX);
        assert_eq!(lower.as_bytes()[0], 0xb5);
    }

    #[test]
    fn accepts_xcode_log_format() {
        let pasted = "<b5bb9d80 14a0f9b1 d61e21e7 96d78dcc df1352f2 3cd32812 f4850b87 b5bb9d80>";
        assert_eq!(pasted.parse::<DeviceToken>().unwrap().to_string(), HEX);
    }

    #[test]
    fn clear_errors() {
        assert_eq!("".parse::<DeviceToken>(), Err(TokenError::Empty));
        assert_eq!("<>".parse::<DeviceToken>(), Err(TokenError::Empty));
        assert_eq!("abc".parse::<DeviceToken>(), Err(TokenError::OddLength { digits: 3 }));
        assert_eq!(
            "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87".parse::<DeviceToken>(),
            Err(TokenError::WrongLength { bytes: 28 })
        );
        assert_eq!("zz".parse::<DeviceToken>(), Err(TokenError::InvalidCharacter { ch: 'z', position: 0 }));
        let too_long = format!("{HEX}00");
        assert_eq!(too_long.parse::<DeviceToken>(), Err(TokenError::WrongLength { bytes: 33 }));
        assert_eq!(DeviceToken::from_slice(&[0; 31]), Err(TokenError::WrongLength { bytes: 31 }));
    }

    #[test]
    fn error_messages_name_the_problem() {
        let message = "abc".parse::<DeviceToken>().unwrap_err().to_string();
        assert!(message.contains("odd number"), "{message}");
    }
}
