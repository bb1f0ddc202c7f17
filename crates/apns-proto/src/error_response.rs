//! The 6-byte error response (command 8).

use bytes::{BufMut, BytesMut};
use nom::number::streaming::{be_u32, be_u8};

use crate::decode::{fail, run, NomResult};
use crate::{DecodeError, Decoded, NotificationId, Status};

/// Command byte of an error response.
pub const COMMAND_ERROR_RESPONSE: u8 = 8;

/// What the gateway writes before closing the connection after an invalid notification (or
/// before a shutdown): `[8][status][identifier: u32 big-endian]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorResponse {
    /// Why. For [`Status::SHUTDOWN`], `id` names the last notification that succeeded.
    pub status: Status,
    /// The identifier of the notification concerned, as the provider sent it; may be 0 or an
    /// identifier never sent (for a notification too malformed to read it from).
    pub id: NotificationId,
}

impl ErrorResponse {
    /// The encoded length: always 6 bytes.
    pub const LEN: usize = 6;

    /// Appends the 6 bytes to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(Self::LEN);
        out.put_u8(COMMAND_ERROR_RESPONSE);
        out.put_u8(self.status.0);
        out.put_u32(self.id.0);
    }

    /// The 6 bytes.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let [a, b, c, d] = self.id.0.to_be_bytes();
        [COMMAND_ERROR_RESPONSE, self.status.0, a, b, c, d]
    }
}

/// Reads one error response from the front of `input`.
///
/// Every status byte is accepted (unknown codes are kept in [`Status`]); only a first byte
/// other than 8 fails, with [`DecodeError::UnexpectedResponse`].
pub fn decode_error_response(input: &[u8]) -> Result<Decoded<ErrorResponse>, DecodeError> {
    run(input, error_response)
}

fn error_response(input: &[u8]) -> NomResult<'_, ErrorResponse> {
    let (input, command) = be_u8(input)?;
    if command != COMMAND_ERROR_RESPONSE {
        return fail(DecodeError::UnexpectedResponse { command });
    }
    let (input, status) = be_u8(input)?;
    let (input, id) = be_u32(input)?;
    Ok((input, ErrorResponse { status: Status(status), id: NotificationId(id) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let response = ErrorResponse { status: Status::INVALID_TOKEN, id: NotificationId(0x0102_0304) };
        assert_eq!(response.to_bytes(), [8, 8, 1, 2, 3, 4]);
        let mut out = BytesMut::new();
        response.encode(&mut out);
        assert_eq!(&out[..], &response.to_bytes());
        assert_eq!(decode_error_response(&out).unwrap().complete(), Some((response, 6)));
    }

    #[test]
    fn unknown_status_still_parses() {
        let (response, _) = decode_error_response(&[8, 42, 0, 0, 0, 0]).unwrap().complete().unwrap();
        assert_eq!(response.status.to_string(), "unknown code 42");
    }

    #[test]
    fn wrong_command_and_short_input() {
        assert_eq!(decode_error_response(&[7]), Err(DecodeError::UnexpectedResponse { command: 7 }));
        let Ok(Decoded::Incomplete { needed }) = decode_error_response(&[8, 1]) else {
            panic!("expected incomplete");
        };
        assert_eq!(needed.get(), 4);
    }
}
