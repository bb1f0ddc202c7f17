//! HTTP/2 error codes and the errors of this crate.

use std::fmt;

use crate::frame::FrameError;
use crate::hpack::DecodeError;
use crate::StreamId;

/// An HTTP/2 error code (RFC 9113 section 7), as carried by RST_STREAM and GOAWAY. Open: codes
/// this crate does not name still parse.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// Graceful shutdown, or a stream no longer needed after a complete response.
    pub const NO_ERROR: Self = Self(0x0);
    /// A protocol violation.
    pub const PROTOCOL_ERROR: Self = Self(0x1);
    /// An internal error of the sender.
    pub const INTERNAL_ERROR: Self = Self(0x2);
    /// Flow-control limits violated.
    pub const FLOW_CONTROL_ERROR: Self = Self(0x3);
    /// SETTINGS not acknowledged in time.
    pub const SETTINGS_TIMEOUT: Self = Self(0x4);
    /// A frame on a half-closed stream.
    pub const STREAM_CLOSED: Self = Self(0x5);
    /// A frame of invalid size.
    pub const FRAME_SIZE_ERROR: Self = Self(0x6);
    /// The stream was refused before any processing: safe to retry.
    pub const REFUSED_STREAM: Self = Self(0x7);
    /// The stream is no longer needed.
    pub const CANCEL: Self = Self(0x8);
    /// The header compression context could not be kept.
    pub const COMPRESSION_ERROR: Self = Self(0x9);
    /// A CONNECT request's connection failed.
    pub const CONNECT_ERROR: Self = Self(0xa);
    /// The peer behaves in a way that may generate excessive load.
    pub const ENHANCE_YOUR_CALM: Self = Self(0xb);
    /// The transport does not meet minimum security requirements.
    pub const INADEQUATE_SECURITY: Self = Self(0xc);
    /// HTTP/1.1 is required instead.
    pub const HTTP_1_1_REQUIRED: Self = Self(0xd);

    fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NO_ERROR => "NO_ERROR",
            Self::PROTOCOL_ERROR => "PROTOCOL_ERROR",
            Self::INTERNAL_ERROR => "INTERNAL_ERROR",
            Self::FLOW_CONTROL_ERROR => "FLOW_CONTROL_ERROR",
            Self::SETTINGS_TIMEOUT => "SETTINGS_TIMEOUT",
            Self::STREAM_CLOSED => "STREAM_CLOSED",
            Self::FRAME_SIZE_ERROR => "FRAME_SIZE_ERROR",
            Self::REFUSED_STREAM => "REFUSED_STREAM",
            Self::CANCEL => "CANCEL",
            Self::COMPRESSION_ERROR => "COMPRESSION_ERROR",
            Self::CONNECT_ERROR => "CONNECT_ERROR",
            Self::ENHANCE_YOUR_CALM => "ENHANCE_YOUR_CALM",
            Self::INADEQUATE_SECURITY => "INADEQUATE_SECURITY",
            Self::HTTP_1_1_REQUIRED => "HTTP_1_1_REQUIRED",
            _ => return None,
        })
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "ErrorCode({:#x})", self.0),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A protocol violation by the server that ends the connection: we send GOAWAY with
/// [`code`](Self::code) and every open stream gets its fate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The server did not begin with a valid SETTINGS frame.
    #[error("the server's preface is not a SETTINGS frame")]
    BadPreface,
    /// An invalid frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A header block could not be decoded.
    #[error("header block: {0}")]
    Compression(#[from] DecodeError),
    /// A frame that the state of the connection or stream forbids (for example DATA on a
    /// stream never opened, a frame other than CONTINUATION inside a header block,
    /// PUSH_PROMISE with push disabled).
    #[error("{what} on stream {stream_id}")]
    Protocol {
        /// What was wrong.
        what: ProtocolViolation,
        /// The stream concerned (0: the connection).
        stream_id: StreamId,
    },
    /// The server sent more than a connection window allowed, or overflowed one of our send
    /// windows.
    #[error("flow control violated on the connection")]
    FlowControl,
    /// The server made us buffer more than the limits allow (a header block, pings or settings
    /// acknowledgements not read).
    #[error("the server exceeded a resource limit: {0}")]
    ExcessiveLoad(Limit),
}

impl ConnectionError {
    /// The error code our GOAWAY carries.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadPreface => ErrorCode::PROTOCOL_ERROR,
            Self::Frame(error) => error.code(),
            Self::Compression(_) => ErrorCode::COMPRESSION_ERROR,
            Self::Protocol { what: ProtocolViolation::ClosedStream, .. } => ErrorCode::STREAM_CLOSED,
            Self::Protocol { .. } => ErrorCode::PROTOCOL_ERROR,
            Self::FlowControl => ErrorCode::FLOW_CONTROL_ERROR,
            Self::ExcessiveLoad(_) => ErrorCode::ENHANCE_YOUR_CALM,
        }
    }
}

/// What state-dependent rule a frame broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// A frame on a stream the client never opened (including any server-initiated stream).
    IdleStream,
    /// HEADERS or DATA after the stream ended.
    ClosedStream,
    /// A frame other than CONTINUATION for the same stream in the middle of a header block.
    ExpectedContinuation,
    /// CONTINUATION with no header block in progress.
    UnexpectedContinuation,
    /// PUSH_PROMISE, though we disabled push.
    PushPromise,
    /// SETTINGS_ENABLE_PUSH = 1 from a server.
    EnablePush,
    /// WINDOW_UPDATE with a zero increment on the connection.
    ZeroWindowIncrement,
}

impl fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::IdleStream => "a frame on an idle stream",
            Self::ClosedStream => "a frame on a closed stream",
            Self::ExpectedContinuation => "a frame inside a header block",
            Self::UnexpectedContinuation => "CONTINUATION outside a header block",
            Self::PushPromise => "PUSH_PROMISE with push disabled",
            Self::EnablePush => "SETTINGS_ENABLE_PUSH = 1 from a server",
            Self::ZeroWindowIncrement => "WINDOW_UPDATE with increment 0",
        })
    }
}

/// A resource limit of [`Config`](crate::Config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// `max_header_block`: compressed bytes of one header block (all its frames).
    HeaderBlock,
    /// Too many CONTINUATION frames in one header block.
    ContinuationFrames,
    /// Acknowledgements (PING, SETTINGS) owed but not yet written.
    PendingAcks,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HeaderBlock => "header block size",
            Self::ContinuationFrames => "CONTINUATION frames per header block",
            Self::PendingAcks => "acknowledgements not yet written",
        })
    }
}

/// Why [`Connection::send_request`](crate::Connection::send_request) did not open a stream.
/// The request comes back, untouched (boxed: a refusal is rare, and a `Result` this large would
/// cost every successful call its moves).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No stream can be opened now: as many as the server allows (or our own cap) are open or
    /// waiting to open. Try again after a stream finishes or the server raises its limit.
    #[error("no stream budget now")]
    NoBudget(Box<crate::Request>),
    /// The connection accepts no new stream: GOAWAY was sent or received, or the connection
    /// has closed. Use another connection.
    #[error("the connection is closing or closed")]
    Closing(Box<crate::Request>),
    /// Stream identifiers are exhausted (2^31 - 1 reached): replace the connection.
    #[error("stream identifiers are exhausted")]
    StreamIdsExhausted(Box<crate::Request>),
    /// The header list exceeds the server's SETTINGS_MAX_HEADER_LIST_SIZE.
    #[error("the header list ({size} bytes) exceeds the server's limit of {limit}")]
    HeaderListTooLarge {
        /// The request.
        request: Box<crate::Request>,
        /// Its header list size (RFC 9113 section 6.5.2: names, values, 32 per field).
        size: usize,
        /// The server's limit.
        limit: u32,
    },
}

impl SendError {
    /// The request that was not sent.
    pub fn into_request(self) -> crate::Request {
        match self {
            Self::NoBudget(request) | Self::Closing(request) | Self::StreamIdsExhausted(request) => *request,
            Self::HeaderListTooLarge { request, .. } => *request,
        }
    }
}
