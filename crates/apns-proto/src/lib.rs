//! The codecs of Apple's push notification provider APIs: the legacy binary protocol (at the
//! crate root) and the HTTP/2 API's requests and responses ([`http2`]).
//!
//! This crate is pure: it does no I/O, reads no clock and starts no thread. It turns values into
//! bytes and bytes into values, so that an event loop, a mock server, a fuzzer or a test can all
//! use the same code. Like `rustls` and `quinn-proto`, it leaves the sockets to its caller.
//!
//! # The protocol
//!
//! A provider writes notifications to the gateway (port 2195) over TLS, in one of three formats
//! ([`Format`]): command 0 (simple), command 1 (enhanced: with identifier and expiry) or command
//! 2 (a frame of items, adding priority). A notification the gateway accepts gets no answer. The
//! first invalid one gets a 6-byte [`ErrorResponse`], after which the gateway discards whatever
//! else it read and closes the connection. The feedback service (port 2196) writes
//! [`FeedbackTuple`]s of devices that uninstalled the app, then closes. `docs/protocol.md` in the
//! repository draws every format byte by byte.
//!
//! # Sending
//!
//! ```
//! use apns_proto::{DeviceToken, Format, Notification, Payload, PayloadLimit, Priority};
//! use bytes::BytesMut;
//!
//! let token: DeviceToken = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80".parse()?;
//! let payload = Payload::new().alert("Hello World!").sound("default").badge(1).encode(PayloadLimit::BINARY)?;
//! let notification = Notification::new(token, payload).with_id(1).with_expiry(1_700_000_000).with_priority(Priority::Immediate);
//! let mut wire = BytesMut::new();
//! notification.encode(Format::Frame, &mut wire);
//! assert_eq!(wire.len(), 121);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Receiving
//!
//! The decoders are streaming: given the bytes received so far, they return
//! [`Decoded::Complete`] with the value and how many bytes it took, or [`Decoded::Incomplete`]
//! when the input ends inside a value (keep the bytes and call again when more arrive). An `Err`
//! means the stream is beyond repair. nom does the parsing, but no nom type appears in this API.
//!
//! ```
//! use apns_proto::{decode_error_response, Decoded, Status};
//! let received = [8, 8, 0, 0, 0, 1];
//! match decode_error_response(&received[..4])? {
//!     Decoded::Incomplete { needed } => assert_eq!(needed.get(), 2),
//!     Decoded::Complete { .. } => unreachable!(),
//! }
//! let (response, consumed) = decode_error_response(&received)?.complete().unwrap();
//! assert_eq!((response.status, response.id.get(), consumed), (Status::INVALID_TOKEN, 1, 6));
//! # Ok::<(), apns_proto::DecodeError>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod decode;
mod error_response;
mod expiry;
mod feedback;
mod gateway;
pub mod http2;
mod notification;
mod notification_id;
mod payload;
mod priority;
mod status;
mod token;

pub use decode::{DecodeError, Decoded};
pub use error_response::{decode_error_response, ErrorResponse, COMMAND_ERROR_RESPONSE};
pub use expiry::{Expiry, ExpiryError};
pub use feedback::{decode_feedback_tuple, FeedbackError, FeedbackItem, FeedbackReader, FeedbackTuple};
pub use gateway::{
    decode_command, Command, FrameItem, FrameItems, GatewayNotification, RawFrame, TruncatedItem,
    MAX_FRAME_LEN,
};
pub use notification::{
    encoded_len, item, Format, Notification, COMMAND_ENHANCED, COMMAND_FRAME, COMMAND_SIMPLE,
};
pub use notification_id::NotificationId;
pub use payload::{
    Alert, AlertContent, EncodedPayload, InterruptionLevel, LiveActivityEvent, Payload, PayloadError,
    PayloadLimit, Shorten, Sound,
};
pub use priority::{InvalidPriority, Priority};
pub use status::Status;
pub use token::{to_hex, DeviceToken, TokenError};
