//! Several notifications in one buffer (PyAPNs' `Frame`).

use bytes::{Bytes, BytesMut};

use crate::{Format, Notification};

/// Several notifications encoded back to back in one buffer, to be written in one go: the
/// equivalent of PyAPNs' `Frame` with its `add_item`. (PyAPNs calls it a frame, but each
/// notification is its own command-2 frame on the wire, as here.)
///
/// ```
/// use apns_proto::{Batch, Format, Notification, Payload, PayloadLimit, DeviceToken};
/// let token = DeviceToken::new([7; 32]);
/// let payload = Payload::new().alert("Hello World!").encode(PayloadLimit::BINARY)?;
/// let mut batch = Batch::new(Format::Frame);
/// for id in 1..=3 {
///     batch.push(&Notification::new(token, payload.clone()).with_id(id));
/// }
/// assert_eq!(batch.len(), 3);
/// assert_eq!(batch.as_bytes().len(), 3 * Notification::new(token, payload).encoded_len(Format::Frame));
/// # Ok::<(), apns_proto::PayloadError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Batch {
    format: Format,
    bytes: BytesMut,
    count: usize,
}

impl Batch {
    /// An empty batch whose notifications are written in `format`.
    pub fn new(format: Format) -> Self {
        Self { format, bytes: BytesMut::new(), count: 0 }
    }

    /// Appends one notification.
    pub fn push(&mut self, notification: &Notification) {
        notification.encode(self.format, &mut self.bytes);
        self.count += 1;
    }

    /// How many notifications the batch holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the batch holds no notification.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The format every notification is written in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The encoded notifications.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Takes the encoded notifications, leaving the batch empty and ready for reuse.
    pub fn take(&mut self) -> Bytes {
        self.count = 0;
        self.bytes.split().freeze()
    }
}
