//! Feedback service tuples: `[time: u32][token length: u16][token]`, repeated until close.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, BytesMut};
use nom::bytes::streaming::take;
use nom::number::streaming::{be_u16, be_u32};
use nom::Parser;

use crate::decode::{run, NomResult};
use crate::{DecodeError, Decoded, DeviceToken, TokenError};

/// One feedback record: a device that stopped accepting notifications, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedbackTuple<'a> {
    /// UNIX seconds when Apple found the app gone from the device.
    pub time: u32,
    /// The token bytes as sent (32 bytes from Apple; any length parses).
    pub token: &'a [u8],
}

impl FeedbackTuple<'_> {
    /// The token as a [`DeviceToken`], if it is 32 bytes.
    pub fn device_token(&self) -> Result<DeviceToken, TokenError> {
        DeviceToken::from_slice(self.token)
    }

    /// The time as a `SystemTime`.
    pub fn system_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(u64::from(self.time))
    }

    /// Appends the encoded tuple to `out`. Tokens longer than 65,535 bytes cannot be encoded:
    /// they are cut to that length.
    pub fn encode(&self, out: &mut BytesMut) {
        let token = self.token.get(..usize::from(u16::MAX)).unwrap_or(self.token);
        out.reserve(6 + token.len());
        out.put_u32(self.time);
        out.put_u16(u16::try_from(token.len()).unwrap_or(u16::MAX));
        out.put_slice(token);
    }
}

/// Reads one feedback tuple from the front of `input`. Never fails: any bytes are a tuple once
/// enough of them have arrived.
pub fn decode_feedback_tuple(input: &[u8]) -> Result<Decoded<FeedbackTuple<'_>>, DecodeError> {
    run(input, feedback_tuple)
}

fn feedback_tuple(input: &[u8]) -> NomResult<'_, FeedbackTuple<'_>> {
    let (input, time) = be_u32(input)?;
    let (input, len) = be_u16(input)?;
    let (input, token) = take(len).parse(input)?;
    Ok((input, FeedbackTuple { time, token }))
}

/// A feedback record with an owned, validated token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedbackItem {
    /// The device.
    pub token: DeviceToken,
    /// UNIX seconds when Apple found the app gone.
    pub time: u32,
}

/// A sans-io reader of the feedback stream: hand it bytes as they arrive, in chunks of any size,
/// and take out whole records. Unlike PyAPNs' reader, a record split across reads is kept, not
/// dropped.
#[derive(Debug, Default)]
pub struct FeedbackReader {
    buffer: BytesMut,
}

/// A feedback stream that did not end cleanly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedbackError {
    /// A record's token is not 32 bytes.
    #[error("feedback record at time {time} has an invalid token: {source}")]
    InvalidToken {
        /// The record's time.
        time: u32,
        /// What is wrong with the token.
        source: TokenError,
    },
    /// The stream ended inside a record.
    #[error("feedback stream ended inside a record ({bytes} bytes left over)")]
    Truncated {
        /// How many bytes of the partial record were received.
        bytes: usize,
    },
}

impl FeedbackReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn handle_bytes(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole record, if one has arrived. A record with a token that is not 32 bytes is
    /// returned as an error and skipped, so reading can go on.
    pub fn poll_item(&mut self) -> Option<Result<FeedbackItem, FeedbackError>> {
        let (item, consumed) = match decode_feedback_tuple(&self.buffer) {
            Ok(Decoded::Complete { value, consumed }) => {
                let item = value
                    .device_token()
                    .map(|token| FeedbackItem { token, time: value.time })
                    .map_err(|source| FeedbackError::InvalidToken { time: value.time, source });
                (item, consumed)
            }
            Ok(Decoded::Incomplete { .. }) | Err(_) => return None,
        };
        self.buffer.advance(consumed);
        Some(item)
    }

    /// Call when the server closed the stream: an error if it ended inside a record.
    pub fn finish(&self) -> Result<(), FeedbackError> {
        match self.buffer.len() {
            0 => Ok(()),
            bytes => Err(FeedbackError::Truncated { bytes }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let tuple = FeedbackTuple { time: 0x0102_0304, token: &[0xaa; 32] };
        let mut out = BytesMut::new();
        tuple.encode(&mut out);
        assert_eq!(&out[..6], &[1, 2, 3, 4, 0, 32]);
        assert_eq!(decode_feedback_tuple(&out).unwrap().complete(), Some((tuple, 38)));
    }

    #[test]
    fn reader_keeps_records_split_across_reads() {
        let mut stream = BytesMut::new();
        for time in 0..3 {
            FeedbackTuple { time, token: &[time as u8; 32] }.encode(&mut stream);
        }
        FeedbackTuple { time: 9, token: &[1; 3] }.encode(&mut stream);
        let mut reader = FeedbackReader::new();
        let mut items = Vec::new();
        for byte in stream.iter() {
            reader.handle_bytes(&[*byte]);
            while let Some(item) = reader.poll_item() {
                items.push(item);
            }
        }
        assert_eq!(items.len(), 4);
        for (time, item) in items.iter().take(3).enumerate() {
            let item = item.as_ref().unwrap();
            assert_eq!(item.time, time as u32);
            assert_eq!(item.token, DeviceToken::new([time as u8; 32]));
        }
        assert!(matches!(items[3], Err(FeedbackError::InvalidToken { time: 9, .. })));
        assert_eq!(reader.finish(), Ok(()));
        reader.handle_bytes(&[0, 0, 0]);
        assert_eq!(reader.finish(), Err(FeedbackError::Truncated { bytes: 3 }));
    }
}
