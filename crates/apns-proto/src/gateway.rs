//! The gateway's side of commands 0, 1 and 2: streaming decoding and Apple's validation.
//!
//! Decoding and validation are two steps, as on Apple's gateway: [`decode_command`] reads one
//! command's bytes off the stream (failing only when the stream cannot be resynchronised);
//! [`Command::validate`] then decides whether that notification would be accepted, and if not,
//! which error response the gateway answers.

use bytes::BytesMut;
use nom::bytes::streaming::take;
use nom::number::streaming::{be_u16, be_u32, be_u8};
use nom::Parser;

use crate::decode::{fail, run, NomResult};
use crate::notification::{item, put_enhanced, put_simple, COMMAND_ENHANCED, COMMAND_FRAME, COMMAND_SIMPLE};
use crate::{
    DecodeError, Decoded, DeviceToken, ErrorResponse, Expiry, Format, NotificationId, PayloadLimit, Priority,
    Status,
};

/// The largest frame length accepted: one of each of the five items with the largest data a
/// 16-bit item length allows. Since a repeated item makes a frame invalid anyway, a longer frame
/// can only be garbage, and refusing it bounds what a server buffers per connection.
pub const MAX_FRAME_LEN: u32 = 5 * (3 + 65_535);

/// One command read off the gateway stream, borrowing the input. Not yet validated: it may
/// carry a token of the wrong size, no payload, unknown frame items, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// Command 0.
    Simple {
        /// The token bytes, of any length.
        token: &'a [u8],
        /// The payload bytes, of any length.
        payload: &'a [u8],
    },
    /// Command 1.
    Enhanced {
        /// The identifier.
        id: NotificationId,
        /// The expiry.
        expiry: Expiry,
        /// The token bytes, of any length.
        token: &'a [u8],
        /// The payload bytes, of any length.
        payload: &'a [u8],
    },
    /// Command 2.
    Frame(RawFrame<'a>),
}

/// The items of a command-2 frame, kept as the raw bytes that followed the frame length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFrame<'a> {
    items: &'a [u8],
}

/// One frame item: its number and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameItem<'a> {
    /// The item number (1 to 5 are defined).
    pub id: u8,
    /// The item's data.
    pub data: &'a [u8],
}

/// A frame whose last item runs past the frame's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TruncatedItem;

impl<'a> RawFrame<'a> {
    /// The raw bytes of all items.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.items
    }

    /// The items in order; the last is an error if an item header or data runs past the frame.
    pub fn items(&self) -> FrameItems<'a> {
        FrameItems { rest: self.items }
    }
}

/// Iterator over the items of a [`RawFrame`].
#[derive(Debug, Clone)]
pub struct FrameItems<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for FrameItems<'a> {
    type Item = Result<FrameItem<'a>, TruncatedItem>;

    fn next(&mut self) -> Option<Self::Item> {
        // Hand-written rather than nom: this runs per item on the mock's hot path.
        let [id, len_high, len_low, rest @ ..] = self.rest else {
            let truncated = !self.rest.is_empty();
            self.rest = &[];
            return truncated.then_some(Err(TruncatedItem));
        };
        let len = usize::from(u16::from_be_bytes([*len_high, *len_low]));
        match (rest.get(..len), rest.get(len..)) {
            (Some(data), Some(remaining)) => {
                self.rest = remaining;
                Some(Ok(FrameItem { id: *id, data }))
            }
            _ => {
                self.rest = &[];
                Some(Err(TruncatedItem))
            }
        }
    }
}

/// A notification the gateway accepts: every field present and valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayNotification<'a> {
    /// Which command carried it.
    pub format: Format,
    /// The device token.
    pub token: DeviceToken,
    /// The payload bytes (not parsed as JSON, as Apple's gateway did not at this stage).
    pub payload: &'a [u8],
    /// The identifier (0 for command 0, or a frame without item 3).
    pub id: NotificationId,
    /// The expiry (0 when absent).
    pub expiry: Expiry,
    /// The priority (10 when absent or in commands 0 and 1).
    pub priority: Priority,
}

/// Reads one command from the front of `input`.
///
/// Returns [`Decoded::Incomplete`] until the whole command has arrived, however the input is
/// split. Fails only for an unknown command byte or a frame longer than [`MAX_FRAME_LEN`]: after
/// those, the stream cannot be resynchronised, and a gateway answers with
/// [`Status::PROCESSING_ERROR`] and closes.
pub fn decode_command(input: &[u8]) -> Result<Decoded<Command<'_>>, DecodeError> {
    run(input, command)
}

fn command(input: &[u8]) -> NomResult<'_, Command<'_>> {
    let (input, command) = be_u8(input)?;
    match command {
        COMMAND_SIMPLE => {
            let (input, token) = length_prefixed(input)?;
            let (input, payload) = length_prefixed(input)?;
            Ok((input, Command::Simple { token, payload }))
        }
        COMMAND_ENHANCED => {
            let (input, id) = be_u32(input)?;
            let (input, expiry) = be_u32(input)?;
            let (input, token) = length_prefixed(input)?;
            let (input, payload) = length_prefixed(input)?;
            let (id, expiry) = (NotificationId(id), Expiry::from_unix_seconds(expiry));
            Ok((input, Command::Enhanced { id, expiry, token, payload }))
        }
        COMMAND_FRAME => {
            let (input, length) = be_u32(input)?;
            if length > MAX_FRAME_LEN {
                return fail(DecodeError::FrameTooLong { length, max: MAX_FRAME_LEN });
            }
            let (input, items) = take(length).parse(input)?;
            Ok((input, Command::Frame(RawFrame { items })))
        }
        other => fail(DecodeError::UnknownCommand { command: other }),
    }
}

fn length_prefixed(input: &[u8]) -> NomResult<'_, &[u8]> {
    let (input, len) = be_u16(input)?;
    take(len).parse(input)
}

impl<'a> Command<'a> {
    /// The identifier the gateway would name in an error response: the command-1 identifier,
    /// a frame's item 3 if it holds 4 bytes, otherwise 0.
    pub fn id(&self) -> NotificationId {
        match self {
            Self::Simple { .. } => NotificationId(0),
            Self::Enhanced { id, .. } => *id,
            Self::Frame(frame) => frame
                .items()
                .map_while(Result::ok)
                .find(|item| item.id == item::IDENTIFIER)
                .and_then(|item| <[u8; 4]>::try_from(item.data).ok())
                .map_or(NotificationId(0), |bytes| NotificationId(u32::from_be_bytes(bytes))),
        }
    }

    /// The format (command) this was sent as.
    pub fn format(&self) -> Format {
        match self {
            Self::Simple { .. } => Format::Simple,
            Self::Enhanced { .. } => Format::Enhanced,
            Self::Frame(_) => Format::Frame,
        }
    }

    /// Decides as Apple's gateway did whether the notification is accepted; if not, returns the
    /// error response the gateway sends.
    ///
    /// Checks, in this order: a malformed frame, an unknown or repeated item, or an item of the
    /// wrong size, is a processing error (1); a missing or empty token is 2; a token that is not
    /// 32 bytes is 5; a missing or empty payload is 4; a payload over `limit` is 7; a priority
    /// other than 10 or 5 is a processing error (1).
    pub fn validate(&self, limit: PayloadLimit) -> Result<GatewayNotification<'a>, ErrorResponse> {
        let (id, token, payload, expiry, priority) = match *self {
            Self::Simple { token, payload } => {
                (NotificationId(0), Some(token), Some(payload), Expiry::IMMEDIATE, 10)
            }
            Self::Enhanced { id, expiry, token, payload } => (id, Some(token), Some(payload), expiry, 10),
            Self::Frame(frame) => match FrameFields::collect(frame) {
                Ok(fields) => (fields.id, fields.token, fields.payload, fields.expiry, fields.priority),
                // Rare: scan the frame again for the identifier to name in the response.
                Err(()) => return Err(ErrorResponse { status: Status::PROCESSING_ERROR, id: self.id() }),
            },
        };
        let reject = |status: Status| ErrorResponse { status, id };
        let token = match token {
            None | Some([]) => return Err(reject(Status::MISSING_DEVICE_TOKEN)),
            Some(token) => DeviceToken::from_slice(token).map_err(|_| reject(Status::INVALID_TOKEN_SIZE))?,
        };
        let payload = match payload {
            None | Some([]) => return Err(reject(Status::MISSING_PAYLOAD)),
            Some(payload) if payload.len() > limit.bytes() => {
                return Err(reject(Status::INVALID_PAYLOAD_SIZE))
            }
            Some(payload) => payload,
        };
        let priority = Priority::try_from(priority).map_err(|_| reject(Status::PROCESSING_ERROR))?;
        Ok(GatewayNotification { format: self.format(), token, payload, id, expiry, priority })
    }

    /// Appends exactly the bytes this command was decoded from.
    pub fn encode(&self, out: &mut BytesMut) {
        // Decoded lengths came from 16-bit fields, so they fit again.
        let len16 = |bytes: &[u8]| u16::try_from(bytes.len()).unwrap_or(u16::MAX);
        match *self {
            Self::Simple { token, payload } => put_simple(out, len16(token), token, len16(payload), payload),
            Self::Enhanced { id, expiry, token, payload } => {
                put_enhanced(out, id.0, expiry.unix_seconds(), len16(token), token, len16(payload), payload);
            }
            Self::Frame(frame) => {
                out.reserve(5 + frame.items.len());
                out.extend_from_slice(&[COMMAND_FRAME]);
                // At most MAX_FRAME_LEN, since it was decoded.
                let length = u32::try_from(frame.items.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&length.to_be_bytes());
                out.extend_from_slice(frame.items);
            }
        }
    }
}

/// The fields of a frame, each item at most once.
struct FrameFields<'a> {
    id: NotificationId,
    token: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
    expiry: Expiry,
    priority: u8,
}

impl<'a> FrameFields<'a> {
    fn collect(frame: RawFrame<'a>) -> Result<Self, ()> {
        let mut fields = Self {
            id: NotificationId(0),
            token: None,
            payload: None,
            expiry: Expiry::IMMEDIATE,
            priority: 10,
        };
        // Bit n set: item n was seen. Items 1 to 5 exist, each at most once.
        let mut seen = 0u8;
        for item in frame.items() {
            let item = item.map_err(|_| ())?;
            let bit = match item.id {
                1..=5 => 1u8 << item.id,
                _ => return Err(()),
            };
            if seen & bit != 0 {
                return Err(());
            }
            seen |= bit;
            match (item.id, item.data) {
                (item::DEVICE_TOKEN, data) => fields.token = Some(data),
                (item::PAYLOAD, data) => fields.payload = Some(data),
                (item::IDENTIFIER, &[a, b, c, d]) => {
                    fields.id = NotificationId(u32::from_be_bytes([a, b, c, d]))
                }
                (item::EXPIRY, &[a, b, c, d]) => {
                    fields.expiry = Expiry::from_unix_seconds(u32::from_be_bytes([a, b, c, d]));
                }
                (item::PRIORITY, &[priority]) => fields.priority = priority,
                // An identifier, expiry or priority of the wrong size.
                _ => return Err(()),
            }
        }
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Notification, Payload};

    fn notification() -> Notification {
        let payload = Payload::new().alert("hi").encode(PayloadLimit::BINARY).unwrap();
        Notification::new(DeviceToken::new([0xab; 32]), payload)
            .with_id(42)
            .with_expiry(1_700_000_000)
            .with_priority(Priority::PowerConsiderate)
    }

    fn decode_all(bytes: &[u8]) -> Command<'_> {
        let (command, consumed) = decode_command(bytes).unwrap().complete().unwrap();
        assert_eq!(consumed, bytes.len());
        command
    }

    #[test]
    fn every_format_decodes_and_validates() {
        let sent = notification();
        for format in [Format::Simple, Format::Enhanced, Format::Frame] {
            let mut bytes = BytesMut::new();
            sent.encode(format, &mut bytes);
            let received = decode_all(&bytes).validate(PayloadLimit::BINARY).unwrap();
            assert_eq!(received.format, format);
            assert_eq!(received.token, sent.token);
            assert_eq!(received.payload, sent.payload.as_bytes());
            let (id, expiry, priority) = match format {
                Format::Simple => (NotificationId(0), Expiry::IMMEDIATE, Priority::Immediate),
                Format::Enhanced => (sent.id, sent.expiry, Priority::Immediate),
                Format::Frame => (sent.id, sent.expiry, sent.priority),
            };
            assert_eq!((received.id, received.expiry, received.priority), (id, expiry, priority));
        }
    }

    fn frame(items: &[(u8, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (id, data) in items {
            body.push(*id);
            body.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
            body.extend_from_slice(data);
        }
        let mut bytes = vec![2];
        bytes.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(&body);
        bytes
    }

    fn status_of(bytes: &[u8]) -> ErrorResponse {
        decode_all(bytes).validate(PayloadLimit::BINARY).unwrap_err()
    }

    #[test]
    fn apple_validation_statuses() {
        let token = [1u8; 32];
        let id = 7u32.to_be_bytes();
        let rejected = |status, id| ErrorResponse { status, id: NotificationId(id) };
        assert_eq!(status_of(&frame(&[(3, &id), (2, b"{}")])), rejected(Status::MISSING_DEVICE_TOKEN, 7));
        assert_eq!(
            status_of(&frame(&[(1, &[1; 31]), (2, b"{}"), (3, &id)])),
            rejected(Status::INVALID_TOKEN_SIZE, 7)
        );
        assert_eq!(status_of(&frame(&[(1, &token), (3, &id)])), rejected(Status::MISSING_PAYLOAD, 7));
        assert_eq!(
            status_of(&frame(&[(1, &token), (2, b""), (3, &id)])),
            rejected(Status::MISSING_PAYLOAD, 7)
        );
        assert_eq!(
            status_of(&frame(&[(1, &token), (2, &[b' '; 2049]), (3, &id)])),
            rejected(Status::INVALID_PAYLOAD_SIZE, 7)
        );
        assert_eq!(
            status_of(&frame(&[(1, &token), (2, b"{}"), (9, b""), (3, &id)])),
            rejected(Status::PROCESSING_ERROR, 7)
        );
        assert_eq!(
            status_of(&frame(&[(1, &token), (2, b"{}"), (2, b"{}"), (3, &id)])),
            rejected(Status::PROCESSING_ERROR, 7)
        );
        assert_eq!(
            status_of(&frame(&[(1, &token), (2, b"{}"), (5, &[7])])),
            rejected(Status::PROCESSING_ERROR, 0)
        );
        assert_eq!(
            status_of(&frame(&[(1, &token), (2, b"{}"), (4, &[0; 3])])),
            rejected(Status::PROCESSING_ERROR, 0)
        );
        assert_eq!(
            status_of(&frame(&[(1, &token), (2, b"{}"), (3, &[0; 5])])),
            rejected(Status::PROCESSING_ERROR, 0)
        );
        assert_eq!(status_of(&frame(&[(0, b"")])), rejected(Status::PROCESSING_ERROR, 0));
        let mut truncated = frame(&[(3, &id), (1, &token)]);
        truncated[4] -= 1;
        truncated.pop();
        assert_eq!(status_of(&truncated), rejected(Status::PROCESSING_ERROR, 7));
        let simple = [0, 0, 0, 0, 2, b'{', b'}'];
        assert_eq!(status_of(&simple), rejected(Status::MISSING_DEVICE_TOKEN, 0));
        let accepted = frame(&[(2, b"{}"), (1, &token)]);
        assert_eq!(decode_all(&accepted).validate(PayloadLimit::BINARY).unwrap().id, NotificationId(0));
    }

    #[test]
    fn fatal_errors() {
        assert_eq!(decode_command(&[9]), Err(DecodeError::UnknownCommand { command: 9 }));
        assert_eq!(
            decode_command(&[2, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::FrameTooLong { length: u32::MAX, max: MAX_FRAME_LEN })
        );
        assert!(matches!(decode_command(&[2, 0, 0, 0]), Ok(Decoded::Incomplete { .. })));
        assert!(matches!(decode_command(&[]), Ok(Decoded::Incomplete { .. })));
    }

    #[test]
    fn incomplete_reports_what_is_missing() {
        let mut bytes = BytesMut::new();
        notification().encode(Format::Frame, &mut bytes);
        let Ok(Decoded::Incomplete { needed }) = decode_command(&bytes[..10]) else {
            panic!("expected incomplete");
        };
        assert_eq!(needed.get(), bytes.len() - 10);
    }
}
