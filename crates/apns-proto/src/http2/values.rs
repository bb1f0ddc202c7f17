//! Checked header values: bundle ids, topics, collapse ids, channel ids.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

use super::header;
use super::push_type::{InvalidValue, PushType};

/// Whether `value` can be an HTTP/2 field value that every server takes as is: visible ASCII
/// and spaces, no leading or trailing space (RFC 9113 §8.2.1 forbids NUL, CR and LF; we refuse
/// every control character and non-ASCII byte too, since Apple's values never need them).
fn is_plain_field_value(value: &str) -> bool {
    !value.starts_with(' ')
        && !value.ends_with(' ')
        && value.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// An app's bundle id (`com.example.MyApp`): the base of every topic, and the path segment of
/// broadcast and channel requests. Letters, digits, `-` and `.`, at most 155 characters (Apple's
/// limit for a bundle id).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BundleId(Box<str>);

impl BundleId {
    /// The longest bundle id Apple issues.
    pub const MAX_LEN: usize = 155;

    /// Checks and wraps a bundle id.
    pub fn new(id: &str) -> Result<Self, InvalidValue> {
        let valid = (1..=Self::MAX_LEN).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if valid {
            Ok(Self(id.into()))
        } else {
            Err(InvalidValue::new("bundle id", "letters, digits, '-' and '.', 1 to 155 characters"))
        }
    }

    /// The bundle id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The topic Apple expects for `push_type`: the bundle id plus the type's suffix
    /// (`com.example.MyApp.voip` for VoIP), or `None` for a push type whose suffix this crate does
    /// not know (give its topic with [`Topic::new`]).
    ///
    /// ```
    /// use apns_proto::http2::{BundleId, PushType};
    /// let app = BundleId::new("com.example.MyApp")?;
    /// assert_eq!(app.topic_for(&PushType::LIVE_ACTIVITY).unwrap().as_str(),
    ///            "com.example.MyApp.push-type.liveactivity");
    /// # Ok::<(), apns_proto::http2::InvalidValue>(())
    /// ```
    pub fn topic_for(&self, push_type: &PushType) -> Option<Topic> {
        let suffix = push_type.topic_suffix()?;
        Some(Topic(Bytes::from(format!("{}{suffix}", self.0))))
    }
}

impl FromStr for BundleId {
    type Err = InvalidValue;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        Self::new(id)
    }
}

/// The `apns-topic` header: normally a bundle id with a push type's suffix
/// ([`BundleId::topic_for`]); for MDM, the UID of the push certificate's subject. Visible ASCII,
/// 1 to 255 bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(Bytes);

impl Topic {
    /// The longest topic accepted.
    pub const MAX_LEN: usize = 255;

    /// Checks and wraps any topic.
    pub fn new(topic: &str) -> Result<Self, InvalidValue> {
        let valid = (1..=Self::MAX_LEN).contains(&topic.len()) && topic.bytes().all(|b| b.is_ascii_graphic());
        if valid {
            Ok(Self(Bytes::copy_from_slice(topic.as_bytes())))
        } else {
            Err(InvalidValue::new(header::APNS_TOPIC, "visible ASCII without spaces, 1 to 255 bytes"))
        }
    }

    /// The topic.
    pub fn as_str(&self) -> &str {
        // Checked ASCII at construction.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub(crate) fn bytes(&self) -> Bytes {
        self.0.clone()
    }
}

impl FromStr for Topic {
    type Err = InvalidValue;

    fn from_str(topic: &str) -> Result<Self, Self::Err> {
        Self::new(topic)
    }
}

impl From<&BundleId> for Topic {
    fn from(id: &BundleId) -> Self {
        Self(Bytes::copy_from_slice(id.as_str().as_bytes()))
    }
}

/// The `apns-collapse-id` header: notifications with the same one replace each other on the
/// device. At most 64 bytes (Apple's limit, answered with `BadCollapseId` otherwise).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollapseId(Bytes);

impl CollapseId {
    /// Apple's limit in bytes.
    pub const MAX_LEN: usize = 64;

    /// Checks and wraps a collapse id: 1 to 64 bytes of visible ASCII and inner spaces.
    pub fn new(id: &str) -> Result<Self, InvalidValue> {
        if (1..=Self::MAX_LEN).contains(&id.len()) && is_plain_field_value(id) {
            Ok(Self(Bytes::copy_from_slice(id.as_bytes())))
        } else {
            Err(InvalidValue::new(header::APNS_COLLAPSE_ID, "1 to 64 bytes of visible ASCII"))
        }
    }

    /// The collapse id.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub(crate) fn bytes(&self) -> Bytes {
        self.0.clone()
    }
}

/// A broadcast channel id (`apns-channel-id`): base64 text that APNs hands out when a channel is
/// created. Apple says not to assume its size; at most 256 bytes are accepted.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(Bytes);

impl ChannelId {
    /// The longest channel id accepted.
    pub const MAX_LEN: usize = 256;

    /// Checks and wraps a channel id: 1 to 256 characters of the base64 alphabet (standard or
    /// URL-safe) with `=` padding.
    pub fn new(id: &str) -> Result<Self, InvalidValue> {
        Self::from_bytes(id.as_bytes())
    }

    pub(crate) fn from_bytes(id: &[u8]) -> Result<Self, InvalidValue> {
        let valid = (1..=Self::MAX_LEN).contains(&id.len())
            && id.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'));
        if valid {
            Ok(Self(Bytes::copy_from_slice(id)))
        } else {
            Err(InvalidValue::new(header::APNS_CHANNEL_ID, "base64 text, 1 to 256 characters"))
        }
    }

    /// The channel id.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub(crate) fn bytes(&self) -> Bytes {
        self.0.clone()
    }
}

impl FromStr for ChannelId {
    type Err = InvalidValue;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        Self::new(id)
    }
}

macro_rules! text_impls {
    ($($ty:ident),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), self.as_str())
            }
        }
    )*};
}

text_impls!(BundleId, Topic, CollapseId, ChannelId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_for_every_push_type() {
        let app = BundleId::new("com.example.MyApp").unwrap();
        let expected = [
            (PushType::ALERT, "com.example.MyApp"),
            (PushType::BACKGROUND, "com.example.MyApp"),
            (PushType::LOCATION, "com.example.MyApp.location-query"),
            (PushType::VOIP, "com.example.MyApp.voip"),
            (PushType::COMPLICATION, "com.example.MyApp.complication"),
            (PushType::FILEPROVIDER, "com.example.MyApp.pushkit.fileprovider"),
            (PushType::LIVE_ACTIVITY, "com.example.MyApp.push-type.liveactivity"),
            (PushType::PUSH_TO_TALK, "com.example.MyApp.voip-ptt"),
            (PushType::CONTROLS, "com.example.MyApp.push-type.controls"),
            (PushType::WIDGETS, "com.example.MyApp.push-type.widgets"),
        ];
        for (push_type, topic) in expected {
            assert_eq!(app.topic_for(&push_type).unwrap().as_str(), topic);
        }
        assert_eq!(app.topic_for(&PushType::new("later").unwrap()), None);
        // A bundle id may itself end like a suffix: topics are made from bundle ids, never
        // split back into them (fuzz crash http2_values b16a11b4).
        let voip_app = BundleId::new("8.voip").unwrap();
        assert_eq!(voip_app.topic_for(&PushType::ALERT).unwrap().as_str(), "8.voip");
        assert_eq!(voip_app.topic_for(&PushType::VOIP).unwrap().as_str(), "8.voip.voip");
    }

    #[test]
    fn values_are_checked() {
        assert!(BundleId::new("com.example/app").is_err());
        assert!(BundleId::new(&"a".repeat(156)).is_err());
        assert!(Topic::new("com.example app").is_err());
        assert!(Topic::new("").is_err());
        assert!(CollapseId::new(&"x".repeat(64)).is_ok());
        assert!(CollapseId::new(&"x".repeat(65)).is_err());
        assert!(CollapseId::new("a\r\nb").is_err());
        assert!(CollapseId::new(" a").is_err());
        assert!(CollapseId::new("score update").is_ok());
        assert!(ChannelId::new("dHN0LXNyY2gtY2hubA==").is_ok());
        assert!(ChannelId::new("not base64!").is_err());
        let error = CollapseId::new("").unwrap_err();
        assert!(error.to_string().contains("apns-collapse-id"), "{error}");
    }
}
