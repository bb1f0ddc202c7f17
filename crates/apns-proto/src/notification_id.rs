//! The 4-byte notification identifier echoed back in error responses.

use std::fmt;

/// The identifier of a notification (command 1 field, frame item 3), echoed back by the gateway
/// in an error response. Any `u32` is valid on the wire; nothing forces it to be unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NotificationId(pub u32);

impl NotificationId {
    /// The raw value.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl From<u32> for NotificationId {
    fn from(value: u32) -> Self {
        Self(value)
    }
}

impl From<NotificationId> for u32 {
    fn from(id: NotificationId) -> Self {
        id.0
    }
}

impl fmt::Display for NotificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
