//! Delivery priority (frame item 5).

use std::fmt;

/// How urgently Apple should deliver a notification. Only 10 and 5 exist on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Priority {
    /// 10: deliver immediately. Must trigger an alert, sound or badge on the device.
    #[default]
    Immediate,
    /// 5: deliver at a time that conserves the device's power.
    PowerConsiderate,
}

impl Priority {
    /// The byte written in frame item 5.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::Immediate => 10,
            Self::PowerConsiderate => 5,
        }
    }
}

impl From<Priority> for u8 {
    fn from(priority: Priority) -> Self {
        priority.as_u8()
    }
}

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
}
