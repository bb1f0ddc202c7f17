//! A notification as the provider sends it, and its three wire formats.

use bytes::{BufMut, BytesMut};

use crate::{DeviceToken, EncodedPayload, Expiry, NotificationId, Priority};

/// Command byte of the simple format.
pub const COMMAND_SIMPLE: u8 = 0;
/// Command byte of the enhanced format.
pub const COMMAND_ENHANCED: u8 = 1;
/// Command byte of the frame format.
pub const COMMAND_FRAME: u8 = 2;

/// Frame item numbers (command 2).
pub mod item {
    /// Item 1: the device token.
    pub const DEVICE_TOKEN: u8 = 1;
    /// Item 2: the JSON payload.
    pub const PAYLOAD: u8 = 2;
    /// Item 3: the 4-byte notification identifier.
    pub const IDENTIFIER: u8 = 3;
    /// Item 4: the 4-byte expiry.
    pub const EXPIRY: u8 = 4;
    /// Item 5: the 1-byte priority.
    pub const PRIORITY: u8 = 5;
}

/// Which command a notification is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Command 0: token and payload only. The gateway cannot name it in an error response, and
    /// closes the connection silently on an error.
    Simple,
    /// Command 1: adds identifier and expiry; no priority. What PyAPNs' enhanced mode sends.
    Enhanced,
    /// Command 2: a frame of items, with identifier, expiry and priority.
    #[default]
    Frame,
}

impl Format {
    /// The command byte.
    pub const fn command(self) -> u8 {
        match self {
            Self::Simple => COMMAND_SIMPLE,
            Self::Enhanced => COMMAND_ENHANCED,
            Self::Frame => COMMAND_FRAME,
        }
    }
}

/// One notification, ready to encode: a device token, a size-checked payload, and the
/// identifier, expiry and priority that the enhanced and frame formats carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The device to deliver to.
    pub token: DeviceToken,
    /// The JSON payload.
    pub payload: EncodedPayload,
    /// The identifier the gateway echoes in an error response (formats 1 and 2).
    pub id: NotificationId,
    /// When Apple may give up delivering (formats 1 and 2).
    pub expiry: Expiry,
    /// Delivery priority (format 2 only; [`Priority::Low`] is written as 5).
    pub priority: Priority,
}

impl Notification {
    /// A notification with identifier 0, expiry 0 ([`Expiry::IMMEDIATE`]) and priority 10,
    /// PyAPNs' defaults.
    pub fn new(token: DeviceToken, payload: EncodedPayload) -> Self {
        Self {
            token,
            payload,
            id: NotificationId(0),
            expiry: Expiry::IMMEDIATE,
            priority: Priority::Immediate,
        }
    }

    /// Sets the identifier.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<NotificationId>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the expiry.
    #[must_use]
    pub fn with_expiry(mut self, expiry: impl Into<Expiry>) -> Self {
        self.expiry = expiry.into();
        self
    }

    /// Sets the priority.
    #[must_use]
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// How many bytes [`encode`](Self::encode) writes for `format`.
    pub fn encoded_len(&self, format: Format) -> usize {
        encoded_len(format, self.payload.len())
    }

    /// Appends the notification in `format` to `out`.
    pub fn encode(&self, format: Format, out: &mut BytesMut) {
        self.encode_with_id(format, self.id, out);
    }

    /// Appends the notification in `format` with `id` in place of its own identifier (a resend
    /// buffer numbers notifications itself so that duplicates chosen by users cannot confuse it).
    pub fn encode_with_id(&self, format: Format, id: NotificationId, out: &mut BytesMut) {
        let token = self.token.as_bytes();
        let payload = self.payload.as_bytes();
        let payload_len = self.payload.wire_len();
        out.reserve(self.encoded_len(format));
        match format {
            Format::Simple => put_simple(out, TOKEN_LEN_U16, token, payload_len, payload),
            Format::Enhanced => put_enhanced(
                out,
                id.0,
                self.expiry.unix_seconds(),
                TOKEN_LEN_U16,
                token,
                payload_len,
                payload,
            ),
            Format::Frame => {
                let body_len = frame_body_len(payload.len());
                out.put_u8(COMMAND_FRAME);
                // At most 65,535 + 54 bytes: always fits in 32 bits.
                out.put_u32(u32::try_from(body_len).unwrap_or(u32::MAX));
                put_item(out, item::DEVICE_TOKEN, TOKEN_LEN_U16, token);
                put_item(out, item::PAYLOAD, payload_len, payload);
                put_item(out, item::IDENTIFIER, 4, &id.0.to_be_bytes());
                put_item(out, item::EXPIRY, 4, &self.expiry.unix_seconds().to_be_bytes());
                put_item(out, item::PRIORITY, 1, &[self.priority.binary_byte()]);
            }
        }
    }
}

/// The token length as written: always 32, so always fits a `u16`.
const TOKEN_LEN_U16: u16 = DeviceToken::LEN as u16;

/// Encoded size of a notification of `format` with a 32-byte token and a payload of
/// `payload_len` bytes.
pub fn encoded_len(format: Format, payload_len: usize) -> usize {
    match format {
        Format::Simple => 1 + 2 + DeviceToken::LEN + 2 + payload_len,
        Format::Enhanced => 1 + 4 + 4 + 2 + DeviceToken::LEN + 2 + payload_len,
        Format::Frame => 1 + 4 + frame_body_len(payload_len),
    }
}

/// The frame length field: five items, each with a 3-byte header.
fn frame_body_len(payload_len: usize) -> usize {
    5 * 3 + DeviceToken::LEN + payload_len + 4 + 4 + 1
}

pub(crate) fn put_simple(out: &mut BytesMut, token_len: u16, token: &[u8], payload_len: u16, payload: &[u8]) {
    out.put_u8(COMMAND_SIMPLE);
    out.put_u16(token_len);
    out.put_slice(token);
    out.put_u16(payload_len);
    out.put_slice(payload);
}

pub(crate) fn put_enhanced(
    out: &mut BytesMut,
    id: u32,
    expiry: u32,
    token_len: u16,
    token: &[u8],
    payload_len: u16,
    payload: &[u8],
) {
    out.put_u8(COMMAND_ENHANCED);
    out.put_u32(id);
    out.put_u32(expiry);
    out.put_u16(token_len);
    out.put_slice(token);
    out.put_u16(payload_len);
    out.put_slice(payload);
}

fn put_item(out: &mut BytesMut, id: u8, len: u16, data: &[u8]) {
    out.put_u8(id);
    out.put_u16(len);
    out.put_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Payload, PayloadLimit};

    fn golden() -> Notification {
        let token = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80".parse().unwrap();
        let payload = Payload::new()
            .alert("Hello World!")
            .sound("default")
            .badge(1)
            .encode(PayloadLimit::BINARY)
            .unwrap();
        Notification::new(token, payload)
            .with_id(1)
            .with_expiry(1_700_000_000)
            .with_priority(Priority::Immediate)
    }

    fn hex(bytes: &[u8]) -> String {
        crate::to_hex(bytes)
    }

    #[test]
    fn frame_golden_vector() {
        let mut out = BytesMut::new();
        golden().encode(Format::Frame, &mut out);
        assert_eq!(out.len(), 121);
        assert_eq!(out.len(), golden().encoded_len(Format::Frame));
        assert_eq!(
            hex(&out),
            "0200000074010020b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d8002003c7b22617073223a7b22616c657274223a2248656c6c6f20576f726c6421222c22736f756e64223a2264656661756c74222c226261646765223a317d7d030004000000010400046553f1000500010a"
        );
    }

    #[test]
    fn enhanced_and_simple_layouts() {
        let notification = golden();
        let mut out = BytesMut::new();
        notification.encode(Format::Enhanced, &mut out);
        assert_eq!(out.len(), notification.encoded_len(Format::Enhanced));
        assert_eq!(hex(&out[..13]), "01000000016553f1000020b5bb");
        assert_eq!(&out[out.len() - 60..], notification.payload.as_bytes());
        assert_eq!(&out[43..45], &[0x00, 0x3c]);

        out.clear();
        notification.encode(Format::Simple, &mut out);
        assert_eq!(out.len(), notification.encoded_len(Format::Simple));
        assert_eq!(hex(&out[..5]), "000020b5bb");
        assert_eq!(&out[35..37], &[0x00, 0x3c]);
    }

    #[test]
    fn encode_with_id_overrides_only_the_id() {
        let mut own = BytesMut::new();
        let mut other = BytesMut::new();
        golden().with_id(7).encode(Format::Frame, &mut own);
        golden().encode_with_id(Format::Frame, NotificationId(7), &mut other);
        assert_eq!(own, other);
    }
}
