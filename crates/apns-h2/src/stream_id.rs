//! Stream identifiers.

use std::fmt;

/// 2^31 - 1.
const MAX_ID: u32 = (1 << 31) - 1;

/// An HTTP/2 stream identifier (31 bits). Client-initiated streams are odd; 0 is the connection.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub(crate) u32);

impl StreamId {
    /// The connection itself (stream 0).
    pub const CONNECTION: Self = Self(0);
    /// The largest identifier (2^31 - 1).
    pub const MAX: Self = Self(MAX_ID);

    /// The identifier with the reserved bit cleared.
    pub const fn new(id: u32) -> Self {
        Self(id & MAX_ID)
    }

    /// Its numeric value.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Whether it is stream 0.
    pub const fn is_connection(self) -> bool {
        self.0 == 0
    }

    /// Whether a client opened it (odd).
    pub const fn is_client_initiated(self) -> bool {
        self.0 % 2 == 1
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({})", self.0)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
