//! HTTP/2 frames (RFC 9113 section 6): decoding from bytes and encoding into a `BytesMut`.
//!
//! [`decode_frame`] takes one frame off the front of a buffer and checks everything that can
//! be checked without connection state (lengths, padding, stream id 0 or not, setting values);
//! the connection checks the rest. Decoded payloads are slices of the input buffer, not copies.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::ErrorCode;
use crate::StreamId;

/// Bytes of the frame header.
pub const HEADER_LEN: usize = 9;

/// The largest frame payload a peer may allow (`SETTINGS_MAX_FRAME_SIZE`, 2^24 - 1).
pub const MAX_FRAME_SIZE_LIMIT: u32 = (1 << 24) - 1;

/// The default and smallest `SETTINGS_MAX_FRAME_SIZE`.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 1 << 14;

/// The largest flow-control window (2^31 - 1).
pub const MAX_WINDOW: u32 = (1 << 31) - 1;

/// A frame type code; unknown types are kept (and ignored by the connection, RFC 9113 section
/// 5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameKind(pub u8);

impl FrameKind {
    /// DATA.
    pub const DATA: Self = Self(0x0);
    /// HEADERS.
    pub const HEADERS: Self = Self(0x1);
    /// PRIORITY.
    pub const PRIORITY: Self = Self(0x2);
    /// RST_STREAM.
    pub const RST_STREAM: Self = Self(0x3);
    /// SETTINGS.
    pub const SETTINGS: Self = Self(0x4);
    /// PUSH_PROMISE.
    pub const PUSH_PROMISE: Self = Self(0x5);
    /// PING.
    pub const PING: Self = Self(0x6);
    /// GOAWAY.
    pub const GOAWAY: Self = Self(0x7);
    /// WINDOW_UPDATE.
    pub const WINDOW_UPDATE: Self = Self(0x8);
    /// CONTINUATION.
    pub const CONTINUATION: Self = Self(0x9);
}

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;

/// The 9-byte frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length.
    pub len: u32,
    /// Frame type.
    pub kind: FrameKind,
    /// Flags.
    pub flags: u8,
    /// Stream.
    pub stream_id: StreamId,
}

impl FrameHeader {
    /// Parses a header from the first 9 bytes, if there are 9.
    pub fn parse(input: &[u8]) -> Option<Self> {
        let header: &[u8; HEADER_LEN] = input.get(..HEADER_LEN)?.try_into().ok()?;
        let [l0, l1, l2, kind, flags, s0, s1, s2, s3] = *header;
        Some(Self {
            len: u32::from_be_bytes([0, l0, l1, l2]),
            kind: FrameKind(kind),
            flags,
            stream_id: StreamId::new(u32::from_be_bytes([s0, s1, s2, s3])),
        })
    }

    fn encode(self, out: &mut BytesMut) {
        out.put_slice(&self.to_bytes());
    }

    fn to_bytes(self) -> [u8; HEADER_LEN] {
        let [_, l0, l1, l2] = self.len.to_be_bytes();
        let [s0, s1, s2, s3] = self.stream_id.0.to_be_bytes();
        [l0, l1, l2, self.kind.0, self.flags, s0, s1, s2, s3]
    }
}

/// A stream dependency (from PRIORITY, or HEADERS with the PRIORITY flag). Parsed and then
/// ignored: RFC 9113 deprecates the scheme and APNs ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// Exclusive dependency.
    pub exclusive: bool,
    /// The stream depended on.
    pub dependency: StreamId,
    /// Weight minus one.
    pub weight: u8,
}

/// A setting identifier; unknown ones are kept and ignored (RFC 9113 section 6.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SettingId(pub u16);

impl SettingId {
    /// SETTINGS_HEADER_TABLE_SIZE.
    pub const HEADER_TABLE_SIZE: Self = Self(0x1);
    /// SETTINGS_ENABLE_PUSH.
    pub const ENABLE_PUSH: Self = Self(0x2);
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: Self = Self(0x3);
    /// SETTINGS_INITIAL_WINDOW_SIZE.
    pub const INITIAL_WINDOW_SIZE: Self = Self(0x4);
    /// SETTINGS_MAX_FRAME_SIZE.
    pub const MAX_FRAME_SIZE: Self = Self(0x5);
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub const MAX_HEADER_LIST_SIZE: Self = Self(0x6);
}

/// One frame. Payload bytes are shared with the buffer they were decoded from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// DATA.
    Data {
        /// Stream.
        stream_id: StreamId,
        /// Data (padding removed).
        data: Bytes,
        /// Padding length, if the PADDED flag was set.
        pad_len: Option<u8>,
        /// END_STREAM.
        end_stream: bool,
    },
    /// HEADERS.
    Headers {
        /// Stream.
        stream_id: StreamId,
        /// The header block fragment (padding and priority removed).
        fragment: Bytes,
        /// Padding length, if the PADDED flag was set.
        pad_len: Option<u8>,
        /// Priority fields, if the PRIORITY flag was set.
        priority: Option<Priority>,
        /// END_STREAM.
        end_stream: bool,
        /// END_HEADERS.
        end_headers: bool,
    },
    /// PRIORITY.
    Priority {
        /// Stream.
        stream_id: StreamId,
        /// Its dependency.
        priority: Priority,
    },
    /// RST_STREAM.
    RstStream {
        /// Stream.
        stream_id: StreamId,
        /// Why.
        code: ErrorCode,
    },
    /// SETTINGS.
    Settings {
        /// ACK flag (then no parameters).
        ack: bool,
        /// Parameters in order.
        params: Vec<(SettingId, u32)>,
    },
    /// PUSH_PROMISE (always refused: we disable push).
    PushPromise {
        /// Stream.
        stream_id: StreamId,
        /// The promised stream.
        promised_id: StreamId,
        /// The header block fragment.
        fragment: Bytes,
        /// Padding length, if the PADDED flag was set.
        pad_len: Option<u8>,
        /// END_HEADERS.
        end_headers: bool,
    },
    /// PING.
    Ping {
        /// ACK flag.
        ack: bool,
        /// Opaque data.
        payload: [u8; 8],
    },
    /// GOAWAY.
    GoAway {
        /// The highest stream the sender may have processed.
        last_stream_id: StreamId,
        /// Why.
        code: ErrorCode,
        /// Additional debug data (APNs: JSON with a `reason`).
        debug_data: Bytes,
    },
    /// WINDOW_UPDATE.
    WindowUpdate {
        /// Stream (0: the connection).
        stream_id: StreamId,
        /// The increment (1 to 2^31 - 1; 0 is decoded and refused by the connection, since on a
        /// stream it is only a stream error).
        increment: u32,
    },
    /// CONTINUATION.
    Continuation {
        /// Stream.
        stream_id: StreamId,
        /// The header block fragment.
        fragment: Bytes,
        /// END_HEADERS.
        end_headers: bool,
    },
    /// A frame type this crate does not know.
    Unknown {
        /// Its header.
        header: FrameHeader,
        /// Its payload.
        payload: Bytes,
    },
}

/// Why a frame is invalid: all are connection errors (RFC 9113 section 5.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Longer than our `SETTINGS_MAX_FRAME_SIZE`.
    #[error("a frame of {len} bytes exceeds the maximum frame size {max}")]
    TooLarge {
        /// Its length.
        len: u32,
        /// Our limit.
        max: u32,
    },
    /// A frame whose type fixes its length has another (PRIORITY, RST_STREAM, PING,
    /// WINDOW_UPDATE, SETTINGS not a multiple of 6, SETTINGS ACK with a payload, GOAWAY < 8).
    #[error("a {kind:?} frame has an invalid length {len}")]
    BadLength {
        /// The frame type.
        kind: FrameKind,
        /// Its length.
        len: u32,
    },
    /// Padding at least as long as the payload.
    #[error("padding exceeds the frame payload")]
    BadPadding,
    /// A stream frame on stream 0, or a connection frame on a stream.
    #[error("a {kind:?} frame on stream {stream_id} is not allowed")]
    BadStreamId {
        /// The frame type.
        kind: FrameKind,
        /// Its stream.
        stream_id: StreamId,
    },
    /// A setting out of range.
    #[error("setting {id:?} has an invalid value {value}")]
    BadSetting {
        /// The setting.
        id: SettingId,
        /// Its value.
        value: u32,
    },
}

impl FrameError {
    /// The error code a GOAWAY should carry for it.
    pub fn code(self) -> ErrorCode {
        match self {
            Self::TooLarge { .. } | Self::BadLength { .. } => ErrorCode::FRAME_SIZE_ERROR,
            Self::BadSetting { id: SettingId::INITIAL_WINDOW_SIZE, .. } => ErrorCode::FLOW_CONTROL_ERROR,
            Self::BadPadding | Self::BadStreamId { .. } | Self::BadSetting { .. } => {
                ErrorCode::PROTOCOL_ERROR
            }
        }
    }
}

/// Takes one whole frame off the front of `buf`: `Ok(None)` while it holds less than one frame.
/// A frame longer than `max_frame_size` is refused as soon as its header is in.
pub fn decode_frame(buf: &mut BytesMut, max_frame_size: u32) -> Result<Option<Frame>, FrameError> {
    let Some(header) = FrameHeader::parse(buf) else { return Ok(None) };
    if header.len > max_frame_size {
        return Err(FrameError::TooLarge { len: header.len, max: max_frame_size });
    }
    let total = HEADER_LEN + header.len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    let payload = buf.split_to(header.len as usize).freeze();
    decode_payload(header, payload).map(Some)
}

/// Decodes a frame from its header and payload.
pub fn decode_payload(header: FrameHeader, mut payload: Bytes) -> Result<Frame, FrameError> {
    let FrameHeader { len, kind, flags, stream_id } = header;
    let bad_length = || FrameError::BadLength { kind, len };
    let on_stream =
        || if stream_id.is_connection() { Err(FrameError::BadStreamId { kind, stream_id }) } else { Ok(()) };
    let on_connection =
        || if stream_id.is_connection() { Ok(()) } else { Err(FrameError::BadStreamId { kind, stream_id }) };
    Ok(match kind {
        FrameKind::DATA => {
            on_stream()?;
            let pad_len = strip_padding(flags, &mut payload)?;
            Frame::Data { stream_id, data: payload, pad_len, end_stream: flags & END_STREAM != 0 }
        }
        FrameKind::HEADERS => {
            on_stream()?;
            let pad_len = strip_padding(flags, &mut payload)?;
            let priority = if flags & PRIORITY_FLAG != 0 {
                if payload.len() < 5 {
                    return Err(bad_length());
                }
                Some(parse_priority(&mut payload))
            } else {
                None
            };
            Frame::Headers {
                stream_id,
                fragment: payload,
                pad_len,
                priority,
                end_stream: flags & END_STREAM != 0,
                end_headers: flags & END_HEADERS != 0,
            }
        }
        FrameKind::PRIORITY => {
            on_stream()?;
            if len != 5 {
                return Err(bad_length());
            }
            Frame::Priority { stream_id, priority: parse_priority(&mut payload) }
        }
        FrameKind::RST_STREAM => {
            on_stream()?;
            if len != 4 {
                return Err(bad_length());
            }
            Frame::RstStream { stream_id, code: ErrorCode(payload.get_u32()) }
        }
        FrameKind::SETTINGS => {
            on_connection()?;
            let ack = flags & ACK != 0;
            if len % 6 != 0 || (ack && len != 0) {
                return Err(bad_length());
            }
            let mut params = Vec::with_capacity(payload.len() / 6);
            while payload.has_remaining() {
                let id = SettingId(payload.get_u16());
                let value = payload.get_u32();
                let valid = match id {
                    SettingId::ENABLE_PUSH => value <= 1,
                    SettingId::INITIAL_WINDOW_SIZE => value <= MAX_WINDOW,
                    SettingId::MAX_FRAME_SIZE => {
                        (DEFAULT_MAX_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT).contains(&value)
                    }
                    _ => true,
                };
                if !valid {
                    return Err(FrameError::BadSetting { id, value });
                }
                params.push((id, value));
            }
            Frame::Settings { ack, params }
        }
        FrameKind::PUSH_PROMISE => {
            on_stream()?;
            let pad_len = strip_padding(flags, &mut payload)?;
            if payload.len() < 4 {
                return Err(bad_length());
            }
            let promised_id = StreamId::new(payload.get_u32());
            Frame::PushPromise {
                stream_id,
                promised_id,
                fragment: payload,
                pad_len,
                end_headers: flags & END_HEADERS != 0,
            }
        }
        FrameKind::PING => {
            on_connection()?;
            let payload: [u8; 8] = payload[..].try_into().map_err(|_| bad_length())?;
            Frame::Ping { ack: flags & ACK != 0, payload }
        }
        FrameKind::GOAWAY => {
            on_connection()?;
            if len < 8 {
                return Err(bad_length());
            }
            let last_stream_id = StreamId::new(payload.get_u32());
            let code = ErrorCode(payload.get_u32());
            Frame::GoAway { last_stream_id, code, debug_data: payload }
        }
        FrameKind::WINDOW_UPDATE => {
            if len != 4 {
                return Err(bad_length());
            }
            Frame::WindowUpdate { stream_id, increment: payload.get_u32() & MAX_WINDOW }
        }
        FrameKind::CONTINUATION => {
            on_stream()?;
            Frame::Continuation { stream_id, fragment: payload, end_headers: flags & END_HEADERS != 0 }
        }
        _ => Frame::Unknown { header, payload },
    })
}

fn strip_padding(flags: u8, payload: &mut Bytes) -> Result<Option<u8>, FrameError> {
    if flags & PADDED == 0 {
        return Ok(None);
    }
    let pad_len = *payload.first().ok_or(FrameError::BadPadding)?;
    // The pad length byte plus the padding must leave the rest (possibly empty) in the frame.
    let rest = payload.len() - 1;
    if usize::from(pad_len) > rest {
        return Err(FrameError::BadPadding);
    }
    payload.advance(1);
    payload.truncate(rest - usize::from(pad_len));
    Ok(Some(pad_len))
}

fn parse_priority(payload: &mut Bytes) -> Priority {
    let word = payload.get_u32();
    let weight = payload.get_u8();
    Priority { exclusive: word & !MAX_WINDOW != 0, dependency: StreamId::new(word), weight }
}

fn put_priority(priority: Priority, out: &mut BytesMut) {
    out.put_u32(priority.dependency.0 | if priority.exclusive { 1 << 31 } else { 0 });
    out.put_u8(priority.weight);
}

impl Frame {
    /// The stream it belongs to (0 for connection frames).
    pub fn stream_id(&self) -> StreamId {
        match self {
            Self::Data { stream_id, .. }
            | Self::Headers { stream_id, .. }
            | Self::Priority { stream_id, .. }
            | Self::RstStream { stream_id, .. }
            | Self::PushPromise { stream_id, .. }
            | Self::WindowUpdate { stream_id, .. }
            | Self::Continuation { stream_id, .. } => *stream_id,
            Self::Unknown { header, .. } => header.stream_id,
            Self::Settings { .. } | Self::Ping { .. } | Self::GoAway { .. } => StreamId::CONNECTION,
        }
    }

    /// Appends the frame's bytes (padding as zeros). The caller keeps payloads within the peer's
    /// maximum frame size; this is not checked.
    pub fn encode(&self, out: &mut BytesMut) {
        let padded_len =
            |len: usize, pad_len: Option<u8>| len + pad_len.map_or(0, |pad| 1 + usize::from(pad));
        let header =
            |len: usize, kind, flags, stream_id| FrameHeader { len: len as u32, kind, flags, stream_id };
        match self {
            Self::Data { stream_id, data, pad_len, end_stream } => {
                let flags = flag(*end_stream, END_STREAM) | flag(pad_len.is_some(), PADDED);
                header(padded_len(data.len(), *pad_len), FrameKind::DATA, flags, *stream_id).encode(out);
                put_padded(data, *pad_len, out);
            }
            Self::Headers { stream_id, fragment, pad_len, priority, end_stream, end_headers } => {
                let flags = flag(*end_stream, END_STREAM)
                    | flag(*end_headers, END_HEADERS)
                    | flag(pad_len.is_some(), PADDED)
                    | flag(priority.is_some(), PRIORITY_FLAG);
                let len = padded_len(fragment.len() + if priority.is_some() { 5 } else { 0 }, *pad_len);
                header(len, FrameKind::HEADERS, flags, *stream_id).encode(out);
                if let Some(pad) = pad_len {
                    out.put_u8(*pad);
                }
                if let Some(priority) = priority {
                    put_priority(*priority, out);
                }
                out.put_slice(fragment);
                out.put_bytes(0, pad_len.map_or(0, usize::from));
            }
            Self::Priority { stream_id, priority } => {
                header(5, FrameKind::PRIORITY, 0, *stream_id).encode(out);
                put_priority(*priority, out);
            }
            Self::RstStream { stream_id, code } => encode_rst_stream(*stream_id, *code, out),
            Self::Settings { ack, params } => {
                header(params.len() * 6, FrameKind::SETTINGS, flag(*ack, ACK), StreamId::CONNECTION)
                    .encode(out);
                for (id, value) in params {
                    out.put_u16(id.0);
                    out.put_u32(*value);
                }
            }
            Self::PushPromise { stream_id, promised_id, fragment, pad_len, end_headers } => {
                let flags = flag(*end_headers, END_HEADERS) | flag(pad_len.is_some(), PADDED);
                header(padded_len(fragment.len() + 4, *pad_len), FrameKind::PUSH_PROMISE, flags, *stream_id)
                    .encode(out);
                if let Some(pad) = pad_len {
                    out.put_u8(*pad);
                }
                out.put_u32(promised_id.0);
                out.put_slice(fragment);
                out.put_bytes(0, pad_len.map_or(0, usize::from));
            }
            Self::Ping { ack, payload } => encode_ping(*ack, *payload, out),
            Self::GoAway { last_stream_id, code, debug_data } => {
                encode_goaway(*last_stream_id, *code, debug_data, out)
            }
            Self::WindowUpdate { stream_id, increment } => encode_window_update(*stream_id, *increment, out),
            Self::Continuation { stream_id, fragment, end_headers } => {
                header(fragment.len(), FrameKind::CONTINUATION, flag(*end_headers, END_HEADERS), *stream_id)
                    .encode(out);
                out.put_slice(fragment);
            }
            Self::Unknown { header: unknown, payload } => {
                FrameHeader { len: payload.len() as u32, ..*unknown }.encode(out);
                out.put_slice(payload);
            }
        }
    }
}

fn flag(set: bool, bit: u8) -> u8 {
    if set {
        bit
    } else {
        0
    }
}

fn put_padded(data: &[u8], pad_len: Option<u8>, out: &mut BytesMut) {
    if let Some(pad) = pad_len {
        out.put_u8(pad);
    }
    out.put_slice(data);
    out.put_bytes(0, pad_len.map_or(0, usize::from));
}

// Encoders for the frames the connection writes, without building a `Frame`.

/// The client connection preface (RFC 9113 section 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub(crate) fn encode_data_header(stream_id: StreamId, len: usize, end_stream: bool, out: &mut BytesMut) {
    FrameHeader { len: len as u32, kind: FrameKind::DATA, flags: flag(end_stream, END_STREAM), stream_id }
        .encode(out);
}

/// The header of a HEADERS or CONTINUATION frame with no padding or priority.
pub(crate) fn encode_block_header(
    kind: FrameKind,
    stream_id: StreamId,
    len: usize,
    end_stream: bool,
    end_headers: bool,
    out: &mut BytesMut,
) {
    let flags = flag(end_stream, END_STREAM) | flag(end_headers, END_HEADERS);
    FrameHeader { len: len as u32, kind, flags, stream_id }.encode(out);
}

/// Writes the 9-byte header of a frame at `position` in `out` (reserved earlier).
pub(crate) fn write_block_header_at(
    out: &mut BytesMut,
    position: usize,
    kind: FrameKind,
    stream_id: StreamId,
    len: usize,
    end_stream: bool,
    end_headers: bool,
) {
    let flags = flag(end_stream, END_STREAM) | flag(end_headers, END_HEADERS);
    let header = FrameHeader { len: len as u32, kind, flags, stream_id }.to_bytes();
    if let Some(slot) = out.get_mut(position..position + HEADER_LEN) {
        slot.copy_from_slice(&header);
    }
}

pub(crate) fn encode_rst_stream(stream_id: StreamId, code: ErrorCode, out: &mut BytesMut) {
    FrameHeader { len: 4, kind: FrameKind::RST_STREAM, flags: 0, stream_id }.encode(out);
    out.put_u32(code.0);
}

pub(crate) fn encode_ping(ack: bool, payload: [u8; 8], out: &mut BytesMut) {
    FrameHeader { len: 8, kind: FrameKind::PING, flags: flag(ack, ACK), stream_id: StreamId::CONNECTION }
        .encode(out);
    out.put_slice(&payload);
}

pub(crate) fn encode_goaway(
    last_stream_id: StreamId,
    code: ErrorCode,
    debug_data: &[u8],
    out: &mut BytesMut,
) {
    let header = FrameHeader {
        len: 8 + debug_data.len() as u32,
        kind: FrameKind::GOAWAY,
        flags: 0,
        stream_id: StreamId::CONNECTION,
    };
    header.encode(out);
    out.put_u32(last_stream_id.0);
    out.put_u32(code.0);
    out.put_slice(debug_data);
}

pub(crate) fn encode_window_update(stream_id: StreamId, increment: u32, out: &mut BytesMut) {
    FrameHeader { len: 4, kind: FrameKind::WINDOW_UPDATE, flags: 0, stream_id }.encode(out);
    out.put_u32(increment & MAX_WINDOW);
}

pub(crate) fn encode_settings_ack(out: &mut BytesMut) {
    FrameHeader { len: 0, kind: FrameKind::SETTINGS, flags: ACK, stream_id: StreamId::CONNECTION }
        .encode(out);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn stream() -> impl Strategy<Value = StreamId> {
        (1u32..=MAX_WINDOW).prop_map(StreamId::new)
    }

    fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
    }

    fn priority() -> impl Strategy<Value = Priority> {
        (any::<bool>(), 0..=MAX_WINDOW, any::<u8>()).prop_map(|(exclusive, dependency, weight)| Priority {
            exclusive,
            dependency: StreamId::new(dependency),
            weight,
        })
    }

    fn setting() -> impl Strategy<Value = (SettingId, u32)> {
        prop_oneof![
            (0u32..=1).prop_map(|v| (SettingId::ENABLE_PUSH, v)),
            (0..=MAX_WINDOW).prop_map(|v| (SettingId::INITIAL_WINDOW_SIZE, v)),
            (DEFAULT_MAX_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT).prop_map(|v| (SettingId::MAX_FRAME_SIZE, v)),
            (any::<u16>(), any::<u32>()).prop_filter_map("checked ids", |(id, v)| {
                (![2, 4, 5].contains(&id)).then_some((SettingId(id), v))
            }),
        ]
    }

    pub(crate) fn frame() -> impl Strategy<Value = Frame> {
        prop_oneof![
            (stream(), bytes(64), proptest::option::of(any::<u8>()), any::<bool>()).prop_map(
                |(stream_id, data, pad_len, end_stream)| Frame::Data { stream_id, data, pad_len, end_stream }
            ),
            (
                stream(),
                bytes(64),
                proptest::option::of(any::<u8>()),
                proptest::option::of(priority()),
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(|(stream_id, fragment, pad_len, priority, end_stream, end_headers)| {
                    Frame::Headers { stream_id, fragment, pad_len, priority, end_stream, end_headers }
                }),
            (stream(), priority()).prop_map(|(stream_id, priority)| Frame::Priority { stream_id, priority }),
            (stream(), any::<u32>())
                .prop_map(|(stream_id, code)| Frame::RstStream { stream_id, code: ErrorCode(code) }),
            proptest::collection::vec(setting(), 0..8)
                .prop_map(|params| Frame::Settings { ack: false, params }),
            Just(Frame::Settings { ack: true, params: Vec::new() }),
            (stream(), stream(), bytes(32), proptest::option::of(any::<u8>()), any::<bool>()).prop_map(
                |(stream_id, promised_id, fragment, pad_len, end_headers)| Frame::PushPromise {
                    stream_id,
                    promised_id,
                    fragment,
                    pad_len,
                    end_headers
                }
            ),
            (any::<bool>(), any::<[u8; 8]>()).prop_map(|(ack, payload)| Frame::Ping { ack, payload }),
            (0..=MAX_WINDOW, any::<u32>(), bytes(64)).prop_map(|(last, code, debug_data)| Frame::GoAway {
                last_stream_id: StreamId::new(last),
                code: ErrorCode(code),
                debug_data
            }),
            (0..=MAX_WINDOW, 0..=MAX_WINDOW).prop_map(|(stream_id, increment)| Frame::WindowUpdate {
                stream_id: StreamId::new(stream_id),
                increment
            }),
            (stream(), bytes(64), any::<bool>()).prop_map(|(stream_id, fragment, end_headers)| {
                Frame::Continuation { stream_id, fragment, end_headers }
            }),
            (10u8.., any::<u8>(), 0..=MAX_WINDOW, bytes(32)).prop_map(|(kind, flags, stream_id, payload)| {
                Frame::Unknown {
                    header: FrameHeader {
                        len: payload.len() as u32,
                        kind: FrameKind(kind),
                        flags,
                        stream_id: StreamId::new(stream_id),
                    },
                    payload,
                }
            }),
        ]
    }

    proptest! {
        /// encode then decode gives the frame back, whatever the split of the bytes.
        #[test]
        fn round_trip(frames in proptest::collection::vec(frame(), 1..6), split in any::<prop::sample::Index>()) {
            let mut wire = BytesMut::new();
            for frame in &frames {
                frame.encode(&mut wire);
            }
            let at = split.index(wire.len() + 1);
            let mut buf = BytesMut::from(&wire[..at]);
            let mut decoded = Vec::new();
            while let Some(frame) = decode_frame(&mut buf, MAX_FRAME_SIZE_LIMIT).unwrap() {
                decoded.push(frame);
            }
            buf.extend_from_slice(&wire[at..]);
            while let Some(frame) = decode_frame(&mut buf, MAX_FRAME_SIZE_LIMIT).unwrap() {
                decoded.push(frame);
            }
            prop_assert!(buf.is_empty());
            prop_assert_eq!(decoded, frames);
        }

        /// decode then encode gives a frame that decodes the same (padding bytes become zeros and
        /// unknown flags are dropped, so compare frames, not bytes).
        #[test]
        fn decode_any_bytes(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut buf = BytesMut::from(&input[..]);
            while let Ok(Some(frame)) = decode_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE) {
                let mut wire = BytesMut::new();
                frame.encode(&mut wire);
                prop_assert_eq!(decode_frame(&mut wire, MAX_FRAME_SIZE_LIMIT).unwrap(), Some(frame));
            }
        }
    }

    #[test]
    fn invalid_frames_are_refused() {
        let cases: &[(&[u8], FrameError)] = &[
            (
                &[0, 0, 4, 3, 0, 0, 0, 0, 1, 0, 0, 0],
                FrameError::BadLength { kind: FrameKind::RST_STREAM, len: 4 },
            ),
            (
                &[0, 0, 3, 3, 0, 0, 0, 0, 1, 0, 0, 0],
                FrameError::BadLength { kind: FrameKind::RST_STREAM, len: 3 },
            ),
            (
                &[0, 0, 0, 0, 0, 0, 0, 0, 0],
                FrameError::BadStreamId { kind: FrameKind::DATA, stream_id: StreamId(0) },
            ),
            (&[0, 0, 1, 0, 8, 0, 0, 0, 1, 1], FrameError::BadPadding),
            (&[0, 0, 0, 0, 8, 0, 0, 0, 1], FrameError::BadPadding),
            (
                &[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2],
                FrameError::BadSetting { id: SettingId::ENABLE_PUSH, value: 2 },
            ),
            (
                &[0, 0, 6, 4, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0],
                FrameError::BadLength { kind: FrameKind::SETTINGS, len: 6 },
            ),
            (
                &[0, 0, 0, 4, 0, 0, 0, 0, 1],
                FrameError::BadStreamId { kind: FrameKind::SETTINGS, stream_id: StreamId(1) },
            ),
            (
                &[0, 0, 7, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                FrameError::BadLength { kind: FrameKind::PING, len: 7 },
            ),
            (
                &[0, 0, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                FrameError::BadLength { kind: FrameKind::GOAWAY, len: 7 },
            ),
        ];
        for (input, error) in cases {
            // The first case has one byte too few for RST_STREAM's payload: not yet a frame.
            let mut buf = BytesMut::from(*input);
            let result = decode_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE);
            if input.len() < HEADER_LEN + input[2] as usize {
                assert_eq!(result, Ok(None));
            } else {
                assert_eq!(result, Err(*error), "{input:?}");
            }
        }
        let mut big = BytesMut::from(&[0, 0x40, 1, 0, 0, 0, 0, 0, 1][..]);
        assert_eq!(
            decode_frame(&mut big, DEFAULT_MAX_FRAME_SIZE),
            Err(FrameError::TooLarge { len: 16385, max: 16384 })
        );
    }
}
