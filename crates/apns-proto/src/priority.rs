//! Delivery priority (binary frame item 5, HTTP/2 `apns-priority`).

use std::fmt;

/// How urgently Apple should deliver a notification.
///
/// The binary protocol knows 10 and 5; Apple's HTTP/2 API adds 1 ([`Priority::Low`]). The binary
/// side keeps its rules: [`TryFrom<u8>`] reads a binary frame's byte (10 or 5 only), and the
/// binary encoder writes [`Priority::binary_byte`], which is never 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Priority {
    /// 10: deliver immediately. Must trigger an alert, sound or badge on the device.
    #[default]
    Immediate,
    /// 5: deliver at a time that conserves the device's power.
    PowerConsiderate,
    /// 1 (HTTP/2 only): put the device's power first, never wake it. The binary protocol has no
    /// such value; its encoder writes 5, the nearest priority it has.
    Low,
}

impl Priority {
    /// The priority's number: 10, 5 or 1 (the value of HTTP/2's `apns-priority` header).
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::Immediate => 10,
            Self::PowerConsiderate => 5,
            Self::Low => 1,
        }
    }

    /// The byte written in a binary frame's item 5: 10 or 5 ([`Priority::Low`] becomes 5).
    pub const fn binary_byte(self) -> u8 {
        match self {
            Self::Immediate => 10,
            Self::PowerConsiderate | Self::Low => 5,
        }
    }

    /// The `apns-priority` header value: `"10"`, `"5"` or `"1"`.
    pub const fn header_value(self) -> &'static str {
        match self {
            Self::Immediate => "10",
            Self::PowerConsiderate => "5",
            Self::Low => "1",
        }
    }

    /// Reads an `apns-priority` header value (`10`, `5` or `1`).
    pub fn from_header_value(value: &[u8]) -> Option<Self> {
        match value {
            b"10" => Some(Self::Immediate),
            b"5" => Some(Self::PowerConsiderate),
            b"1" => Some(Self::Low),
            _ => None,
        }
    }
}

impl From<Priority> for u8 {
    fn from(priority: Priority) -> Self {
        priority.as_u8()
    }
}

/// Reads a binary frame's priority byte: only 10 and 5 exist there, so 1 is refused.
impl TryFrom<u8> for Priority {
    type Error = InvalidPriority;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        match value {
            10 => Ok(Self::Immediate),
            5 => Ok(Self::PowerConsiderate),
            other => Err(InvalidPriority(other)),
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u8())
    }
}

/// A priority byte other than 10 or 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("priority must be 10 (immediate) or 5 (power-considerate), not {0}")]
pub struct InvalidPriority(pub u8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ten_and_five() {
        for byte in 0..=u8::MAX {
            match Priority::try_from(byte) {
                Ok(priority) => assert_eq!(priority.as_u8(), byte),
                Err(InvalidPriority(rejected)) => {
                    assert_eq!(rejected, byte);
                    assert!(byte != 10 && byte != 5);
                }
            }
        }
        assert_eq!(Priority::default(), Priority::Immediate);
    }

    #[test]
    fn low_is_http2_only() {
        assert_eq!(Priority::Low.as_u8(), 1);
        assert_eq!(Priority::Low.binary_byte(), 5);
        assert_eq!(Priority::try_from(1), Err(InvalidPriority(1)));
        for priority in [Priority::Immediate, Priority::PowerConsiderate, Priority::Low] {
            assert_eq!(Priority::from_header_value(priority.header_value().as_bytes()), Some(priority));
            assert_eq!(priority.header_value(), priority.as_u8().to_string());
        }
        assert_eq!(Priority::from_header_value(b"2"), None);
    }
}
