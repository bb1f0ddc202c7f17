//! [`Frame`]: several notifications sent together (PyAPNs' `Frame`).

use apns_proto::{DeviceToken, Expiry, Notification, Payload, PayloadLimit, Priority};

use crate::Error;

/// Several notifications handed to the gateway at once, in order (PyAPNs'
/// `Frame` / `send_notification_multiple`).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use apns::binary::Frame;
/// use apns::{Expiry, Payload, Priority};
///
/// let payload = Payload::new().alert("Hello World!").sound("default").badge(1);
/// let token = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80".parse()?;
/// let expiry = Expiry::after(SystemTime::now(), Duration::from_secs(3600))?;
/// let mut frame = Frame::new();
/// frame.add_item(token, &payload, 1, expiry, Priority::Immediate)?;
/// assert_eq!(frame.len(), 1);
/// # Ok::<(), apns::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Frame {
    items: Vec<Notification>,
}

impl Frame {
    /// An empty frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a notification, as PyAPNs' `frame.add_item(token_hex, payload, identifier, expiry,
    /// priority)`. The payload is encoded now (up to 2048 bytes); an oversized one is refused
    /// here, not by the gateway.
    pub fn add_item(
        &mut self,
        token: DeviceToken,
        payload: &Payload,
        identifier: u32,
        expiry: impl Into<Expiry>,
        priority: Priority,
    ) -> Result<&mut Self, Error> {
        let notification = Notification::new(token, payload.encode(PayloadLimit::BINARY)?)
            .with_id(identifier)
            .with_expiry(expiry)
            .with_priority(priority);
        self.items.push(notification);
        Ok(self)
    }

    /// Adds a notification built by hand.
    pub fn push(&mut self, notification: Notification) -> &mut Self {
        self.items.push(notification);
        self
    }

    /// How many notifications the frame holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The notifications, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Notification> {
        self.items.iter()
    }
}

impl IntoIterator for Frame {
    type Item = Notification;
    type IntoIter = std::vec::IntoIter<Notification>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a> IntoIterator for &'a Frame {
    type Item = &'a Notification;
    type IntoIter = std::slice::Iter<'a, Notification>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl FromIterator<Notification> for Frame {
    fn from_iter<I: IntoIterator<Item = Notification>>(iter: I) -> Self {
        Self { items: iter.into_iter().collect() }
    }
}

impl Extend<Notification> for Frame {
    fn extend<I: IntoIterator<Item = Notification>>(&mut self, iter: I) {
        self.items.extend(iter);
    }
}
