//! `apns-push-type`: an open type, so a push type Apple adds needs no release.

use std::borrow::Cow;
use std::fmt;

use crate::PayloadLimit;

/// The `apns-push-type` header: what the notification is, which fixes its topic suffix and its
/// payload limit.
///
/// An open newtype: the named constants are the types Apple documents; [`PushType::new`] takes
/// any other (a type Apple adds later), written as given.
///
/// ```
/// use apns_proto::http2::PushType;
/// assert_eq!(PushType::VOIP.topic_suffix(), Some(".voip"));
/// assert_eq!(PushType::VOIP.payload_limit().bytes(), 5120);
/// assert_eq!(PushType::new("newkind")?.topic_suffix(), None);
/// # Ok::<(), apns_proto::http2::InvalidValue>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PushType(Cow<'static, str>);

impl PushType {
    /// `alert`: shows an alert, plays a sound or badges the icon. Topic: the bundle id.
    pub const ALERT: Self = Self::known("alert");
    /// `background`: content for the app in the background, no user interaction; priority 5
    /// only. Topic: the bundle id.
    pub const BACKGROUND: Self = Self::known("background");
    /// `location`: asks a Location Push Service Extension for the location (token auth only).
    /// Topic: `<bundle id>.location-query`.
    pub const LOCATION: Self = Self::known("location");
    /// `voip`: an incoming VoIP call (PushKit). Topic: `<bundle id>.voip`; payload up to 5 KB.
    pub const VOIP: Self = Self::known("voip");
    /// `complication`: a watchOS complication update. Topic: `<bundle id>.complication`.
    pub const COMPLICATION: Self = Self::known("complication");
    /// `fileprovider`: a File Provider extension change. Topic: `<bundle id>.pushkit.fileprovider`.
    pub const FILEPROVIDER: Self = Self::known("fileprovider");
    /// `mdm`: tells a managed device to contact its MDM server. Topic: the UID of the MDM push
    /// certificate's subject.
    pub const MDM: Self = Self::known("mdm");
    /// `liveactivity`: a Live Activity update. Topic: `<bundle id>.push-type.liveactivity`.
    pub const LIVE_ACTIVITY: Self = Self::known("liveactivity");
    /// `pushtotalk`: a Push to Talk update. Topic: `<bundle id>.voip-ptt`.
    pub const PUSH_TO_TALK: Self = Self::known("pushtotalk");
    /// `controls`: reloads a control. Topic: `<bundle id>.push-type.controls`.
    pub const CONTROLS: Self = Self::known("controls");
    /// `widgets`: reloads WidgetKit widgets. Topic: `<bundle id>.push-type.widgets`.
    pub const WIDGETS: Self = Self::known("widgets");

    /// Every push type Apple documents, in Apple's order.
    pub const KNOWN: [Self; 11] = [
        Self::ALERT,
        Self::BACKGROUND,
        Self::LOCATION,
        Self::VOIP,
        Self::COMPLICATION,
        Self::FILEPROVIDER,
        Self::MDM,
        Self::LIVE_ACTIVITY,
        Self::PUSH_TO_TALK,
        Self::CONTROLS,
        Self::WIDGETS,
    ];

    const fn known(name: &'static str) -> Self {
        Self(Cow::Borrowed(name))
    }

    /// Any push type: lowercase letters, digits and `-`, 1 to 32 characters (every documented
    /// type is of that shape). A documented name gives the named constant.
    pub fn new(name: &str) -> Result<Self, InvalidValue> {
        if let Some(known) = Self::KNOWN.iter().find(|known| known.as_str() == name) {
            return Ok(known.clone());
        }
        let valid = (1..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(Cow::Owned(name.to_owned())))
        } else {
            Err(InvalidValue::new(
                super::header::APNS_PUSH_TYPE,
                "lowercase letters, digits and '-', 1 to 32",
            ))
        }
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, when it is one of the named constants' (so it needs no copy).
    pub(crate) fn static_name(&self) -> Option<&'static str> {
        match self.0 {
            Cow::Borrowed(name) => Some(name),
            Cow::Owned(_) => None,
        }
    }

    /// What Apple appends to the bundle id to make this type's `apns-topic` (`""` for alert,
    /// background and mdm), or `None` for a type this crate does not know.
    pub fn topic_suffix(&self) -> Option<&'static str> {
        Some(match self.as_str() {
            "alert" | "background" | "mdm" => "",
            "location" => ".location-query",
            "voip" => ".voip",
            "complication" => ".complication",
            "fileprovider" => ".pushkit.fileprovider",
            "liveactivity" => ".push-type.liveactivity",
            "pushtotalk" => ".voip-ptt",
            "controls" => ".push-type.controls",
            "widgets" => ".push-type.widgets",
            _ => return None,
        })
    }

    /// The largest payload Apple accepts for this type: 5,120 bytes for VoIP, 4,096 otherwise.
    pub fn payload_limit(&self) -> PayloadLimit {
        if *self == Self::VOIP {
            PayloadLimit::VOIP
        } else {
            PayloadLimit::HTTP2
        }
    }
}

impl fmt::Display for PushType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PushType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PushType({})", self.as_str())
    }
}

/// A value that cannot go into its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid {header} value: must be {rule}")]
pub struct InvalidValue {
    /// The header (or path segment) the value was for.
    pub header: &'static str,
    /// What the value must be.
    pub rule: &'static str,
}

impl InvalidValue {
    pub(crate) const fn new(header: &'static str, rule: &'static str) -> Self {
        Self { header, rule }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_type_has_a_suffix_and_parses_to_itself() {
        for push_type in PushType::KNOWN {
            assert!(push_type.topic_suffix().is_some(), "{push_type}");
            assert_eq!(PushType::new(push_type.as_str()), Ok(push_type.clone()));
        }
        assert_eq!(PushType::PUSH_TO_TALK.topic_suffix(), Some(".voip-ptt"));
        assert_eq!(PushType::ALERT.payload_limit(), PayloadLimit::HTTP2);
        assert!(PushType::new("Alert").is_err());
        assert!(PushType::new("").is_err());
        assert!(PushType::new("a b").is_err());
        assert_eq!(PushType::new("future-kind").unwrap().as_str(), "future-kind");
    }
}
