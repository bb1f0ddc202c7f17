//! The key id and team id of a provider token.

use std::fmt;
use std::str::FromStr;

/// Why a key id or team id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Not 10 characters.
    #[error("{what} must be 10 characters (as shown in Apple's developer account), not {len}")]
    WrongLength {
        /// `key id` or `team id`.
        what: &'static str,
        /// How many characters it had.
        len: usize,
    },
    /// A character other than an uppercase letter or a digit.
    #[error("{what} may hold only uppercase letters and digits, not {ch:?}")]
    InvalidCharacter {
        /// `key id` or `team id`.
        what: &'static str,
        /// The character.
        ch: char,
    },
}

fn check(what: &'static str, text: &str) -> Result<[u8; 10], IdError> {
    if let Some(ch) = text.chars().find(|ch| !(ch.is_ascii_uppercase() || ch.is_ascii_digit())) {
        return Err(IdError::InvalidCharacter { what, ch });
    }
    <[u8; 10]>::try_from(text.as_bytes()).map_err(|_| IdError::WrongLength { what, len: text.len() })
}

macro_rules! ten_character_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 10]);

        impl $name {
            /// Checks and wraps the id: 10 uppercase letters or digits.
            pub fn new(text: &str) -> Result<Self, IdError> {
                check($what, text).map(Self)
            }

            /// The id.
            pub fn as_str(&self) -> &str {
                // Checked ASCII at construction.
                std::str::from_utf8(&self.0).unwrap_or_default()
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::new(text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.as_str())
            }
        }
    };
}

ten_character_id! {
    /// The 10-character id of a `.p8` key (the `kid` of the token header; `AuthKey_<id>.p8`).
    KeyId, "key id"
}

ten_character_id! {
    /// The 10-character id of the developer team (the `iss` claim).
    TeamId, "team id"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_uppercase_characters() {
        assert_eq!(KeyId::new("ABC123DEFG").unwrap().as_str(), "ABC123DEFG");
        assert_eq!(TeamId::new("DEF123GHI"), Err(IdError::WrongLength { what: "team id", len: 9 }));
        assert_eq!(KeyId::new("abc123defg"), Err(IdError::InvalidCharacter { what: "key id", ch: 'a' }));
        assert_eq!(KeyId::new("ABC123DEF "), Err(IdError::InvalidCharacter { what: "key id", ch: ' ' }));
        assert!(KeyId::new("ABC123DEFGH").unwrap_err().to_string().contains("10 characters"));
    }
}
