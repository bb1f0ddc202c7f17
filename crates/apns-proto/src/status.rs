//! The status byte of an error response.

use std::fmt;

/// The status code of an error response (command 8).
///
/// An open newtype: every byte parses, and codes Apple never documented are kept and shown as
/// "unknown code N" rather than refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Status(pub u8);

impl Status {
    /// 0: no errors encountered.
    pub const NO_ERRORS: Self = Self(0);
    /// 1: processing error (also what a gateway answers for a malformed frame).
    pub const PROCESSING_ERROR: Self = Self(1);
    /// 2: missing device token.
    pub const MISSING_DEVICE_TOKEN: Self = Self(2);
    /// 3: missing topic.
    pub const MISSING_TOPIC: Self = Self(3);
    /// 4: missing payload.
    pub const MISSING_PAYLOAD: Self = Self(4);
    /// 5: invalid token size.
    pub const INVALID_TOKEN_SIZE: Self = Self(5);
    /// 6: invalid topic size.
    pub const INVALID_TOPIC_SIZE: Self = Self(6);
    /// 7: invalid payload size.
    pub const INVALID_PAYLOAD_SIZE: Self = Self(7);
    /// 8: invalid token (not valid for this certificate's environment or app).
    pub const INVALID_TOKEN: Self = Self(8);
    /// 10: shutdown. The identifier is the LAST SUCCESSFUL notification, not a failed one:
    /// everything sent after it must be sent again on a new connection.
    pub const SHUTDOWN: Self = Self(10);
    /// 255: none (unknown).
    pub const UNKNOWN: Self = Self(255);

    /// Apple's description of the code, or `None` for codes Apple never documented.
    pub const fn description(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "no errors encountered",
            1 => "processing error",
            2 => "missing device token",
            3 => "missing topic",
            4 => "missing payload",
            5 => "invalid token size",
            6 => "invalid topic size",
            7 => "invalid payload size",
            8 => "invalid token",
            10 => "shutdown",
            255 => "none (unknown)",
            _ => return None,
        })
    }

    /// Whether this is the shutdown status, whose identifier names an accepted notification.
    pub const fn is_shutdown(self) -> bool {
        self.0 == Self::SHUTDOWN.0
    }

    /// Whether sending the same notification again can only give the same answer: the
    /// notification itself is at fault (codes 2 to 8).
    pub const fn is_permanent(self) -> bool {
        matches!(self.0, 2..=8)
    }
}

impl From<u8> for Status {
    fn from(code: u8) -> Self {
        Self(code)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.description() {
            Some(text) => write!(f, "{text} ({})", self.0),
            None => write!(f, "unknown code {}", self.0),
        }
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Status({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_has_a_meaning() {
        for code in 0..=u8::MAX {
            let text = Status(code).to_string();
            assert!(!text.is_empty());
            if Status(code).description().is_none() {
                assert_eq!(text, format!("unknown code {code}"));
            }
        }
        assert_eq!(Status::SHUTDOWN.to_string(), "shutdown (10)");
        assert!(Status::SHUTDOWN.is_shutdown());
        assert!(Status::INVALID_TOKEN.is_permanent());
        assert!(!Status::PROCESSING_ERROR.is_permanent());
        assert!(!Status::SHUTDOWN.is_permanent());
    }
}
