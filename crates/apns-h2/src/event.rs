//! What the connection reports: [`Event`]s, and each stream's [`Fate`].

use std::time::Duration;

use bytes::Bytes;

use crate::error::{ConnectionError, ErrorCode};
use crate::message::Response;
use crate::settings::PeerSettings;
use crate::StreamId;

/// Something the caller must learn, from [`Connection::poll_event`](crate::Connection::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The server's SETTINGS were applied. The first one completes the handshake; later ones
    /// may change the send budget (`max_concurrent_streams`), in either direction.
    Settings(PeerSettings),
    /// A stream ended: its one and only fate. Every id returned by `send_request` gets exactly
    /// one `Finished`, before [`Closed`](Self::Closed).
    Finished {
        /// The stream.
        id: StreamId,
        /// The caller's key for it, from
        /// [`send_request_with_key`](crate::Connection::send_request_with_key) (0 from
        /// `send_request`).
        key: u64,
        /// What happened to the request.
        fate: Fate,
    },
    /// The server sent GOAWAY. Streams above `last_stream_id` get
    /// [`Fate::NotProcessed`]`(`[`NotProcessed::GoAway`]`)` right after this event; the others
    /// may still complete. No new stream can be opened.
    GoAway(GoAway),
    /// The server answered our PING.
    PingAcknowledged {
        /// From writing the PING (the `poll_transmit` that wrote it) to reading the answer.
        rtt: Duration,
    },
    /// The connection is over: the last event. Every stream has its fate; write what
    /// `poll_transmit` still gives (a GOAWAY) and close the transport.
    Closed(Closed),
}

/// A GOAWAY frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoAway {
    /// The highest stream the server may have processed.
    pub last_stream_id: StreamId,
    /// Why (`NO_ERROR`: a graceful shutdown).
    pub code: ErrorCode,
    /// Opaque debug data (APNs puts JSON there: `{"reason":"..."}`).
    pub debug_data: Bytes,
}

/// Whether the server processed a request, as far as HTTP/2 can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed {
    /// It answered.
    Yes,
    /// Certainly not (RFC 9113 section 8.7): safe to send again.
    No,
    /// Unknown: sending again may duplicate it.
    Maybe,
}

/// The one terminal fate of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fate {
    /// A complete response (END_STREAM received; trailers included if sent).
    Response(Response),
    /// The server reset the stream before completing a response. With
    /// [`ErrorCode::REFUSED_STREAM`] the request was not processed; with any other code it may
    /// have been.
    Reset(ErrorCode),
    /// The request was certainly not processed: safe to send again, on another connection.
    NotProcessed(NotProcessed),
    /// The connection ended before a response: the request may have been processed.
    ConnectionLost(ConnectionEnd),
    /// We reset the stream (RST_STREAM) before a complete response: the request may have been
    /// processed.
    Aborted(Abort),
}

impl Fate {
    /// Whether the server processed the request.
    pub fn processed(&self) -> Processed {
        match self {
            Self::Response(_) => Processed::Yes,
            Self::Reset(ErrorCode::REFUSED_STREAM) | Self::NotProcessed(_) => Processed::No,
            Self::Reset(_) | Self::ConnectionLost(_) | Self::Aborted(_) => Processed::Maybe,
        }
    }

    /// The response, if there is one.
    pub fn response(&self) -> Option<&Response> {
        match self {
            Self::Response(response) => Some(response),
            _ => None,
        }
    }
}

/// Why a request was certainly not processed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotProcessed {
    /// Its id is above the last-stream-id of the server's GOAWAY (RFC 9113 section 6.8).
    GoAway {
        /// The GOAWAY's last-stream-id.
        last_stream_id: StreamId,
        /// The GOAWAY's code.
        code: ErrorCode,
    },
    /// Its HEADERS were never written: the connection closed or started closing first, or it
    /// was cancelled before being written.
    NeverSent,
}

/// How the connection ended, for streams caught in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEnd {
    /// The transport closed ([`Connection::handle_close`](crate::Connection::handle_close)),
    /// after a GOAWAY from the server if it sent one.
    TransportClosed,
    /// We found a protocol error and sent GOAWAY.
    Error(ConnectionError),
    /// No PING acknowledgement within the ping timeout.
    PingTimeout,
    /// The server acknowledged neither our SETTINGS nor sent its own in time.
    SettingsTimeout,
    /// We closed it ([`Connection::abort`](crate::Connection::abort)).
    Aborted,
}

/// Why we reset a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Abort {
    /// [`Connection::cancel`](crate::Connection::cancel).
    Cancelled,
    /// The response is malformed (RFC 9113 section 8.1.1): we sent `PROTOCOL_ERROR`.
    Malformed(Malformed),
    /// The response body exceeded `max_response_body`; we sent `CANCEL`.
    BodyTooLarge,
    /// The bodies of all unfinished responses together would exceed `max_buffered_body`; we
    /// sent `CANCEL`.
    BufferFull,
    /// The response header list exceeded our `max_header_list_size`; we sent `CANCEL`.
    HeadersTooLarge,
    /// The server sent more than the stream's window; we sent `FLOW_CONTROL_ERROR`.
    FlowControl,
    /// A WINDOW_UPDATE overflowed the stream's send window or had a zero increment; we sent
    /// `FLOW_CONTROL_ERROR` or `PROTOCOL_ERROR`.
    BadWindowUpdate,
}

/// What is wrong with a malformed response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// `:status` missing, repeated, or not three digits.
    Status,
    /// A pseudo-header other than `:status`, or one after a regular field, or any in trailers.
    PseudoHeader,
    /// A name that is not lowercase token characters, or a connection-specific field.
    Name,
    /// A value with NUL, CR, LF or surrounding whitespace.
    Value,
    /// The body length differs from `content-length`.
    ContentLength,
    /// HEADERS after trailers, or trailers without END_STREAM, or DATA before the response
    /// headers.
    Sequence,
    /// Too many informational (1xx) responses.
    Informational,
}

/// Why the connection is over, in [`Event::Closed`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Closed {
    /// GOAWAY was exchanged (either way) and every stream finished.
    Graceful,
    /// See [`ConnectionEnd`].
    Ended(ConnectionEnd),
}
