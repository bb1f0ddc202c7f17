//! The JSON payload: the `aps` dictionary and custom keys, and its size limit.

use bytes::Bytes;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

/// The most payload bytes a gateway accepts. The binary protocol's limit is 2048 bytes
/// ([`PayloadLimit::BINARY`], the default); the others are for older devices and for later use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadLimit(u16);

impl PayloadLimit {
    /// 256 bytes: the limit before iOS 8.
    pub const LEGACY: Self = Self(256);
    /// 2048 bytes: the binary provider protocol's limit (PyAPNs' `MAX_PAYLOAD_LENGTH`).
    pub const BINARY: Self = Self(2048);
    /// 4096 bytes: the HTTP/2 provider API's limit for ordinary notifications.
    pub const HTTP2: Self = Self(4096);
    /// 5120 bytes: the HTTP/2 provider API's limit for VoIP notifications.
    pub const VOIP: Self = Self(5120);

    /// A limit of `bytes`. The binary protocol carries at most 65,535 payload bytes, so no larger
    /// limit can be expressed.
    pub const fn new(bytes: u16) -> Self {
        Self(bytes)
    }

    /// The limit in bytes.
    pub const fn bytes(self) -> usize {
        self.0 as usize
    }
}

impl Default for PayloadLimit {
    fn default() -> Self {
        Self::BINARY
    }
}

/// A notification payload: the `aps` dictionary plus custom top-level keys.
///
/// Serialised exactly as PyAPNs does (compact JSON, UTF-8 unescaped, the same key order), so a
/// payload built here is byte-identical to the same payload built with PyAPNs' `Payload`:
///
/// ```
/// use apns_proto::{Payload, PayloadLimit};
/// let payload = Payload::new().alert("Hello World!").sound("default").badge(1);
/// let bytes = payload.encode(PayloadLimit::BINARY)?;
/// assert_eq!(bytes.as_bytes(), br#"{"aps":{"alert":"Hello World!","sound":"default","badge":1}}"#);
/// # Ok::<(), apns_proto::PayloadError>(())
/// ```
///
/// Key order: in `aps`, `alert, sound, badge, category, thread-id, content-available,
/// mutable-content` (PyAPNs' keys, in PyAPNs' order), then the HTTP/2-era keys PyAPNs never had:
/// `target-content-id, interruption-level, relevance-score, filter-criteria, stale-date,
/// content-state, timestamp, event, dismissal-date, attributes-type, attributes`. Custom keys
/// follow `aps` in the order they were added. A payload that sets none of the HTTP/2-era keys is
/// byte for byte what it was before they existed.
///
/// ```
/// use apns_proto::{InterruptionLevel, LiveActivityEvent, Payload, PayloadLimit};
/// let update = Payload::new()
///     .event(LiveActivityEvent::Update)
///     .timestamp(1_700_000_000)
///     .content_state(serde_json::json!({"score": "2-1"}))?
///     .interruption_level(InterruptionLevel::TimeSensitive);
/// assert_eq!(
///     update.encode(PayloadLimit::HTTP2)?.as_bytes(),
///     br#"{"aps":{"interruption-level":"time-sensitive","content-state":{"score":"2-1"},"timestamp":1700000000,"event":"update"}}"#
/// );
/// # Ok::<(), apns_proto::PayloadError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    alert: Option<AlertContent>,
    sound: Option<Sound>,
    badge: Option<u32>,
    category: Option<String>,
    thread_id: Option<String>,
    content_available: bool,
    mutable_content: bool,
    modern: Option<Box<ModernKeys>>,
    custom: Map<String, Value>,
}

/// The `aps` keys of the HTTP/2 era, boxed so that a payload without them stays small.
#[derive(Debug, Clone, Default, PartialEq)]
struct ModernKeys {
    target_content_id: Option<String>,
    interruption_level: Option<InterruptionLevel>,
    relevance_score: Option<f64>,
    filter_criteria: Option<String>,
    stale_date: Option<u64>,
    content_state: Option<Value>,
    timestamp: Option<u64>,
    event: Option<LiveActivityEvent>,
    dismissal_date: Option<u64>,
    attributes_type: Option<String>,
    attributes: Option<Value>,
}

/// `interruption-level`: how the system presents the notification (iOS 15 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InterruptionLevel {
    /// `passive`: added to the list silently, no sound, no screen wake.
    Passive,
    /// `active`: presented immediately (the default).
    Active,
    /// `time-sensitive`: breaks through Focus and scheduled summaries.
    TimeSensitive,
    /// `critical`: breaks through the mute switch and Do Not Disturb (needs Apple's entitlement).
    Critical,
}

impl InterruptionLevel {
    /// The JSON string Apple reads.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Passive => "passive",
            Self::Active => "active",
            Self::TimeSensitive => "time-sensitive",
            Self::Critical => "critical",
        }
    }
}

/// `event`: what a Live Activity push does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LiveActivityEvent {
    /// `start`: start a Live Activity remotely (push-to-start; needs `attributes-type` and
    /// `attributes`).
    Start,
    /// `update`: new `content-state` for a running Live Activity.
    Update,
    /// `end`: end it (optionally at `dismissal-date`).
    End,
}

impl LiveActivityEvent {
    /// The JSON string Apple reads.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Update => "update",
            Self::End => "end",
        }
    }
}

/// The `alert` value: a plain string, or a dictionary.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertContent {
    /// `"alert":"text"`.
    Text(String),
    /// `"alert":{...}` (boxed: the dictionary is much larger than a string).
    Dictionary(Box<Alert>),
}

impl From<&str> for AlertContent {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for AlertContent {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<Alert> for AlertContent {
    fn from(alert: Alert) -> Self {
        Self::Dictionary(Box::new(alert))
    }
}

/// The alert dictionary (PyAPNs' `PayloadAlert`), for localised and titled alerts.
///
/// Keys are written in the order `body, title, subtitle, action-loc-key, loc-key, loc-args,
/// launch-image, title-loc-key, title-loc-args, subtitle-loc-key, subtitle-loc-args`; unset keys
/// are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Alert {
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subtitle: Option<String>,
    #[serde(rename = "action-loc-key", skip_serializing_if = "Option::is_none")]
    action_loc_key: Option<String>,
    #[serde(rename = "loc-key", skip_serializing_if = "Option::is_none")]
    loc_key: Option<String>,
    #[serde(rename = "loc-args", skip_serializing_if = "Option::is_none")]
    loc_args: Option<Vec<String>>,
    #[serde(rename = "launch-image", skip_serializing_if = "Option::is_none")]
    launch_image: Option<String>,
    #[serde(rename = "title-loc-key", skip_serializing_if = "Option::is_none")]
    title_loc_key: Option<String>,
    #[serde(rename = "title-loc-args", skip_serializing_if = "Option::is_none")]
    title_loc_args: Option<Vec<String>>,
    #[serde(rename = "subtitle-loc-key", skip_serializing_if = "Option::is_none")]
    subtitle_loc_key: Option<String>,
    #[serde(rename = "subtitle-loc-args", skip_serializing_if = "Option::is_none")]
    subtitle_loc_args: Option<Vec<String>>,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {$(
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, value: impl Into<$ty>) -> Self {
            self.$name = Some(value.into());
            self
        }
    )*};
}

impl Alert {
    /// An empty alert dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// An alert dictionary with a body, like PyAPNs' `PayloadAlert("body")`.
    pub fn with_body(body: impl Into<String>) -> Self {
        Self::new().body(body)
    }

    setters! {
        /// `body`: the alert text.
        body: String;
        /// `title`: a short title shown above the body.
        title: String;
        /// `subtitle`: a line below the title.
        subtitle: String;
        /// `action-loc-key`: the localisation key of the action button's title.
        action_loc_key: String;
        /// `loc-key`: the localisation key of the alert text.
        loc_key: String;
        /// `loc-args`: values for the format specifiers of `loc-key`.
        loc_args: Vec<String>;
        /// `launch-image`: the image shown while the app launches.
        launch_image: String;
        /// `title-loc-key`: the localisation key of the title.
        title_loc_key: String;
        /// `title-loc-args`: values for `title-loc-key`.
        title_loc_args: Vec<String>;
        /// `subtitle-loc-key`: the localisation key of the subtitle.
        subtitle_loc_key: String;
        /// `subtitle-loc-args`: values for `subtitle-loc-key`.
        subtitle_loc_args: Vec<String>;
    }

    /// The body text, if set.
    pub fn body_text(&self) -> Option<&str> {
        self.body.as_deref()
    }
}

/// The `sound` value: a sound file's name, or the critical-alert dictionary.
#[derive(Debug, Clone, PartialEq)]
pub enum Sound {
    /// `"sound":"name"` (`"default"` for the system sound).
    Named(String),
    /// `"sound":{"critical":1,"name":..,"volume":..}`: a critical alert, which plays even when
    /// the device is muted (needs Apple's entitlement).
    Critical {
        /// The sound file's name.
        name: String,
        /// The volume, from 0.0 to 1.0.
        volume: f32,
    },
}

impl From<&str> for Sound {
    fn from(name: &str) -> Self {
        Self::Named(name.to_owned())
    }
}

impl From<String> for Sound {
    fn from(name: String) -> Self {
        Self::Named(name)
    }
}

impl Serialize for Sound {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Named(name) => serializer.serialize_str(name),
            Self::Critical { name, volume } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("critical", &1)?;
                map.serialize_entry("name", name)?;
                map.serialize_entry("volume", volume)?;
                map.end()
            }
        }
    }
}

impl Serialize for AlertContent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Text(text) => serializer.serialize_str(text),
            Self::Dictionary(alert) => alert.serialize(serializer),
        }
    }
}

/// How [`Payload::encode_shortened`] marks a body it had to shorten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shorten {
    /// Cut the body and add nothing.
    Plain,
    /// Cut the body and end it with `…` (U+2026, 3 bytes).
    WithEllipsis,
}

impl Payload {
    /// An empty payload: `{"aps":{}}`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `alert`: a string, or an [`Alert`] dictionary.
    #[must_use]
    pub fn alert(mut self, alert: impl Into<AlertContent>) -> Self {
        self.alert = Some(alert.into());
        self
    }

    /// Sets `sound`: a name, or [`Sound::Critical`].
    #[must_use]
    pub fn sound(mut self, sound: impl Into<Sound>) -> Self {
        self.sound = Some(sound.into());
        self
    }

    /// Sets `badge`. A badge of 0 is written (it clears the app icon's badge).
    #[must_use]
    pub fn badge(mut self, badge: u32) -> Self {
        self.badge = Some(badge);
        self
    }

    /// Sets `category`, the notification's actionable category.
    #[must_use]
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.category = Some(category.into());
        self
    }

    /// Sets `thread-id`, which groups notifications on the device.
    #[must_use]
    pub fn thread_id(mut self, thread_id: impl Into<String>) -> Self {
        self.thread_id = Some(thread_id.into());
        self
    }

    /// Sets `content-available: 1` (a background update) when `true`.
    #[must_use]
    pub fn content_available(mut self, on: bool) -> Self {
        self.content_available = on;
        self
    }

    /// Sets `mutable-content: 1` (a notification service extension may modify it) when `true`.
    #[must_use]
    pub fn mutable_content(mut self, on: bool) -> Self {
        self.mutable_content = on;
        self
    }

    fn modern(&mut self) -> &mut ModernKeys {
        self.modern.get_or_insert_with(Box::default)
    }

    /// Sets `target-content-id`: the identifier of the window to bring forward.
    #[must_use]
    pub fn target_content_id(mut self, id: impl Into<String>) -> Self {
        self.modern().target_content_id = Some(id.into());
        self
    }

    /// Sets `interruption-level`.
    #[must_use]
    pub fn interruption_level(mut self, level: InterruptionLevel) -> Self {
        self.modern().interruption_level = Some(level);
        self
    }

    /// Sets `relevance-score`: from 0 to 1 for ordinary notifications (the summary features the
    /// highest); any number for a Live Activity. A score that is not finite is written as JSON
    /// `null`, which Apple ignores.
    #[must_use]
    pub fn relevance_score(mut self, score: f64) -> Self {
        self.modern().relevance_score = Some(score);
        self
    }

    /// Sets `filter-criteria`: which Focus filter shows the notification.
    #[must_use]
    pub fn filter_criteria(mut self, criteria: impl Into<String>) -> Self {
        self.modern().filter_criteria = Some(criteria.into());
        self
    }

    /// Sets `stale-date` (UNIX seconds): when a Live Activity becomes out of date.
    #[must_use]
    pub fn stale_date(mut self, unix_seconds: u64) -> Self {
        self.modern().stale_date = Some(unix_seconds);
        self
    }

    /// Sets `content-state`: a Live Activity's new content, matching the app's
    /// `ActivityAttributes.ContentState`. Must serialise to a JSON object.
    pub fn content_state(mut self, state: impl Serialize) -> Result<Self, PayloadError> {
        let value = object_value("content-state", state)?;
        self.modern().content_state = Some(value);
        Ok(self)
    }

    /// Sets `timestamp` (UNIX seconds): when this Live Activity update was sent; the device
    /// ignores updates older than the one it shows.
    #[must_use]
    pub fn timestamp(mut self, unix_seconds: u64) -> Self {
        self.modern().timestamp = Some(unix_seconds);
        self
    }

    /// Sets `event`: start, update or end a Live Activity.
    #[must_use]
    pub fn event(mut self, event: LiveActivityEvent) -> Self {
        self.modern().event = Some(event);
        self
    }

    /// Sets `dismissal-date` (UNIX seconds): when an ended Live Activity leaves the Lock Screen.
    #[must_use]
    pub fn dismissal_date(mut self, unix_seconds: u64) -> Self {
        self.modern().dismissal_date = Some(unix_seconds);
        self
    }

    /// Sets `attributes-type`: the name of the app's `ActivityAttributes` type (push-to-start).
    #[must_use]
    pub fn attributes_type(mut self, name: impl Into<String>) -> Self {
        self.modern().attributes_type = Some(name.into());
        self
    }

    /// Sets `attributes`: the static data of a Live Activity started by push. Must serialise to
    /// a JSON object.
    pub fn attributes(mut self, attributes: impl Serialize) -> Result<Self, PayloadError> {
        let value = object_value("attributes", attributes)?;
        self.modern().attributes = Some(value);
        Ok(self)
    }

    /// Adds a custom top-level key. Keys keep the order they were added in; adding a key again
    /// replaces its value in place. The key `aps` is refused, since it would replace the
    /// dictionary Apple reads.
    pub fn custom(mut self, key: impl Into<String>, value: impl Serialize) -> Result<Self, PayloadError> {
        let key = key.into();
        if key == "aps" {
            return Err(PayloadError::ReservedKey);
        }
        let value = serde_json::to_value(value)
            .map_err(|error| PayloadError::CustomValue { key: key.clone(), reason: error.to_string() })?;
        self.custom.insert(key, value);
        Ok(self)
    }

    /// Adds every key of a JSON object as a custom key (PyAPNs' `custom={...}`), in its order.
    pub fn custom_object(mut self, object: Map<String, Value>) -> Result<Self, PayloadError> {
        for (key, value) in object {
            self = self.custom(key, value)?;
        }
        Ok(self)
    }

    /// The alert body: the alert string, or the dictionary's `body`.
    pub fn alert_body(&self) -> Option<&str> {
        match &self.alert {
            Some(AlertContent::Text(text)) => Some(text),
            Some(AlertContent::Dictionary(alert)) => alert.body_text(),
            None => None,
        }
    }

    /// Serialises to compact JSON and checks the size against `limit`.
    pub fn encode(&self, limit: PayloadLimit) -> Result<EncodedPayload, PayloadError> {
        // Serialise into a reused per-thread buffer, then copy into an exactly sized `Bytes`:
        // one allocation per payload instead of a growing `Vec` plus `Bytes`' shared header.
        SCRATCH.with(|scratch| {
            let mut json = scratch.take();
            json.clear();
            let result = self.write_json(&mut json).and_then(|()| {
                EncodedPayload::check(&json, limit)?;
                Ok(EncodedPayload(Bytes::copy_from_slice(&json)))
            });
            scratch.replace(json);
            result
        })
    }

    /// Like [`encode`](Self::encode), but when the payload is too large, shortens the alert body
    /// (at a character boundary, never splitting a UTF-8 sequence or an escape) just enough to
    /// fit. Fails with [`PayloadError::CannotFit`] when even an empty body is too large.
    pub fn encode_shortened(
        &self,
        limit: PayloadLimit,
        mark: Shorten,
    ) -> Result<EncodedPayload, PayloadError> {
        let mut json = Vec::with_capacity(128);
        self.write_json(&mut json)?;
        if json.len() <= limit.bytes() {
            return EncodedPayload::new(Bytes::from(json), limit);
        }
        let too_large = PayloadError::TooLarge { size: json.len(), limit: limit.bytes() };
        let Some(body) = self.alert_body() else {
            return Err(too_large);
        };
        let marker = match mark {
            Shorten::Plain => "",
            Shorten::WithEllipsis => "\u{2026}",
        };
        let excess = json.len() - limit.bytes() + marker.len();
        // Drop characters from the end until their escaped JSON size covers the excess.
        let mut removed = 0usize;
        let mut cut = body.len();
        for (index, ch) in body.char_indices().rev() {
            if removed >= excess {
                break;
            }
            removed += escaped_len(ch);
            cut = index;
        }
        if removed < excess {
            let mut empty = self.clone();
            empty.set_alert_body(String::new());
            let mut bare = Vec::new();
            empty.write_json(&mut bare)?;
            return Err(PayloadError::CannotFit { size_without_body: bare.len(), limit: limit.bytes() });
        }
        let mut shortened = self.clone();
        let mut new_body = String::with_capacity(cut + marker.len());
        new_body.push_str(body.get(..cut).unwrap_or_default());
        new_body.push_str(marker);
        shortened.set_alert_body(new_body);
        shortened.encode(limit)
    }

    fn set_alert_body(&mut self, body: String) {
        match &mut self.alert {
            Some(AlertContent::Text(text)) => *text = body,
            Some(AlertContent::Dictionary(alert)) => alert.body = Some(body),
            None => {}
        }
    }

    /// Writes the compact JSON to `out` without a size check.
    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<(), PayloadError> {
        serde_json::to_writer(out, self)
            .map_err(|error| PayloadError::CustomValue { key: String::new(), reason: error.to_string() })
    }
}

/// Serialises a value that Apple requires to be a JSON object.
fn object_value(key: &str, value: impl Serialize) -> Result<Value, PayloadError> {
    let value = serde_json::to_value(value)
        .map_err(|error| PayloadError::CustomValue { key: key.to_owned(), reason: error.to_string() })?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(PayloadError::NotAnObject { key: key.to_owned() })
    }
}

thread_local! {
    /// Serialisation buffer reused by [`Payload::encode`] on each thread.
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The length of `ch` once escaped in a JSON string, as serde_json and Python's `json` write it.
fn escaped_len(ch: char) -> usize {
    match ch {
        '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
        '\0'..='\u{1f}' => 6,
        _ => ch.len_utf8(),
    }
}

/// The `aps` dictionary, borrowed from a [`Payload`] for serialisation.
struct Aps<'a>(&'a Payload);

impl Serialize for Aps<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let payload = self.0;
        let mut map = serializer.serialize_map(None)?;
        if let Some(alert) = &payload.alert {
            map.serialize_entry("alert", alert)?;
        }
        if let Some(sound) = &payload.sound {
            map.serialize_entry("sound", sound)?;
        }
        if let Some(badge) = payload.badge {
            map.serialize_entry("badge", &badge)?;
        }
        if let Some(category) = &payload.category {
            map.serialize_entry("category", category)?;
        }
        if let Some(thread_id) = &payload.thread_id {
            map.serialize_entry("thread-id", thread_id)?;
        }
        if payload.content_available {
            map.serialize_entry("content-available", &1)?;
        }
        if payload.mutable_content {
            map.serialize_entry("mutable-content", &1)?;
        }
        if let Some(modern) = &payload.modern {
            modern.serialize_into(&mut map)?;
        }
        map.end()
    }
}

impl ModernKeys {
    fn serialize_into<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        if let Some(id) = &self.target_content_id {
            map.serialize_entry("target-content-id", id)?;
        }
        if let Some(level) = self.interruption_level {
            map.serialize_entry("interruption-level", level.as_str())?;
        }
        if let Some(score) = self.relevance_score {
            map.serialize_entry("relevance-score", &score)?;
        }
        if let Some(criteria) = &self.filter_criteria {
            map.serialize_entry("filter-criteria", criteria)?;
        }
        if let Some(date) = self.stale_date {
            map.serialize_entry("stale-date", &date)?;
        }
        if let Some(state) = &self.content_state {
            map.serialize_entry("content-state", state)?;
        }
        if let Some(timestamp) = self.timestamp {
            map.serialize_entry("timestamp", &timestamp)?;
        }
        if let Some(event) = self.event {
            map.serialize_entry("event", event.as_str())?;
        }
        if let Some(date) = self.dismissal_date {
            map.serialize_entry("dismissal-date", &date)?;
        }
        if let Some(name) = &self.attributes_type {
            map.serialize_entry("attributes-type", name)?;
        }
        if let Some(attributes) = &self.attributes {
            map.serialize_entry("attributes", attributes)?;
        }
        Ok(())
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1 + self.custom.len()))?;
        map.serialize_entry("aps", &Aps(self))?;
        for (key, value) in &self.custom {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Payload bytes whose size has been checked against a [`PayloadLimit`]: ready to be framed.
///
/// Cheap to clone (a reference-counted [`Bytes`]), so one payload can go to many devices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EncodedPayload(Bytes);

impl EncodedPayload {
    /// Takes payload bytes as they are (for example a JSON document kept from elsewhere),
    /// checking only that they are not empty and fit `limit`. The content is not parsed.
    pub fn new(bytes: impl Into<Bytes>, limit: PayloadLimit) -> Result<Self, PayloadError> {
        let bytes = bytes.into();
        Self::check(&bytes, limit)?;
        Ok(Self(bytes))
    }

    fn check(bytes: &[u8], limit: PayloadLimit) -> Result<(), PayloadError> {
        if bytes.is_empty() {
            return Err(PayloadError::Empty);
        }
        if bytes.len() > limit.bytes() {
            return Err(PayloadError::TooLarge { size: bytes.len(), limit: limit.bytes() });
        }
        Ok(())
    }

    /// The JSON bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The length in bytes (at most 65,535, as every [`PayloadLimit`] is).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`: an empty payload is refused by [`EncodedPayload::new`].
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The shared bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The length as the 16-bit field written on the wire. Every limit fits in 16 bits.
    pub(crate) fn wire_len(&self) -> u16 {
        u16::try_from(self.0.len()).unwrap_or(u16::MAX)
    }
}

impl AsRef<[u8]> for EncodedPayload {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Why a payload could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The encoded payload is larger than the limit.
    #[error("payload is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The encoded size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// Even with an empty alert body the payload is larger than the limit.
    #[error(
        "payload is {size_without_body} bytes even with an empty alert body, over the limit of {limit} bytes"
    )]
    CannotFit {
        /// The encoded size with the body emptied.
        size_without_body: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A custom key named `aps` would replace Apple's dictionary.
    #[error("the custom key \"aps\" is reserved for Apple's dictionary")]
    ReservedKey,
    /// A custom value could not be represented as JSON (for example a map with non-string keys).
    #[error("custom value for key {key:?} is not representable as JSON: {reason}")]
    CustomValue {
        /// The key.
        key: String,
        /// serde_json's explanation.
        reason: String,
    },
    /// `content-state` or `attributes` was given something other than a JSON object.
    #[error("{key} must be a JSON object")]
    NotAnObject {
        /// The `aps` key.
        key: String,
    },
    /// A payload of zero bytes; the gateway answers it with "missing payload".
    #[error("payload is empty")]
    Empty,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(payload: &Payload) -> String {
        String::from_utf8(payload.encode(PayloadLimit::BINARY).unwrap().as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn golden_vector_matches_pyapns() {
        let payload = Payload::new().alert("Hello World!").sound("default").badge(1);
        assert_eq!(json(&payload), r#"{"aps":{"alert":"Hello World!","sound":"default","badge":1}}"#);
    }

    #[test]
    fn key_order_and_flags() {
        let payload = Payload::new()
            .mutable_content(true)
            .content_available(true)
            .thread_id("t")
            .category("c")
            .badge(0)
            .sound("s")
            .alert("a")
            .custom("zeta", 1)
            .unwrap()
            .custom("alpha", [1, 2])
            .unwrap();
        assert_eq!(
            json(&payload),
            r#"{"aps":{"alert":"a","sound":"s","badge":0,"category":"c","thread-id":"t","content-available":1,"mutable-content":1},"zeta":1,"alpha":[1,2]}"#
        );
    }

    #[test]
    fn alert_dictionary_order() {
        let alert = Alert::with_body("Hello world!")
            .subtitle_loc_args(vec!["s".to_owned()])
            .subtitle_loc_key("sk")
            .title_loc_args(vec!["t".to_owned()])
            .title_loc_key("tk")
            .launch_image("img")
            .loc_args(vec!["x".to_owned(), "y".to_owned()])
            .loc_key("lk")
            .action_loc_key("Click me")
            .subtitle("sub")
            .title("title");
        assert_eq!(
            json(&Payload::new().alert(alert)),
            r#"{"aps":{"alert":{"body":"Hello world!","title":"title","subtitle":"sub","action-loc-key":"Click me","loc-key":"lk","loc-args":["x","y"],"launch-image":"img","title-loc-key":"tk","title-loc-args":["t"],"subtitle-loc-key":"sk","subtitle-loc-args":["s"]}}}"#
        );
    }

    #[test]
    fn pyapns_readme_examples() {
        let alert = Alert::with_body("Hello world!").action_loc_key("Click me");
        assert_eq!(
            json(&Payload::new().alert(alert).sound("default")),
            r#"{"aps":{"alert":{"body":"Hello world!","action-loc-key":"Click me"},"sound":"default"}}"#
        );
        let custom = Payload::new().alert("Hello World!").custom("sekrit_number", 123).unwrap();
        assert_eq!(json(&custom), r#"{"aps":{"alert":"Hello World!"},"sekrit_number":123}"#);
    }

    #[test]
    fn utf8_is_not_escaped_and_controls_are() {
        let payload = Payload::new().alert("héllo \"wörld\" 👋\n\u{1}");
        assert_eq!(json(&payload), "{\"aps\":{\"alert\":\"héllo \\\"wörld\\\" 👋\\n\\u0001\"}}");
    }

    #[test]
    fn critical_sound() {
        let payload = Payload::new().sound(Sound::Critical { name: "alarm.caf".into(), volume: 0.5 });
        assert_eq!(json(&payload), r#"{"aps":{"sound":{"critical":1,"name":"alarm.caf","volume":0.5}}}"#);
    }

    #[test]
    fn aps_is_reserved() {
        assert_eq!(Payload::new().custom("aps", 1), Err(PayloadError::ReservedKey));
        let mut object = Map::new();
        object.insert("aps".into(), Value::Null);
        assert_eq!(Payload::new().custom_object(object), Err(PayloadError::ReservedKey));
    }

    #[test]
    fn size_limit_reports_size_and_limit() {
        let payload = Payload::new().alert("x".repeat(300));
        let size = payload.encode(PayloadLimit::BINARY).unwrap().len();
        assert_eq!(payload.encode(PayloadLimit::LEGACY), Err(PayloadError::TooLarge { size, limit: 256 }));
        let exact = Payload::new().alert("x".repeat(2048 - r#"{"aps":{"alert":""}}"#.len()));
        assert_eq!(exact.encode(PayloadLimit::BINARY).unwrap().len(), 2048);
        let over = Payload::new().alert("x".repeat(2049 - r#"{"aps":{"alert":""}}"#.len()));
        assert!(matches!(over.encode(PayloadLimit::BINARY), Err(PayloadError::TooLarge { size: 2049, .. })));
    }

    #[test]
    fn shortening_fits_exactly_at_char_boundaries() {
        let payload = Payload::new().alert("é".repeat(200)).badge(3);
        let fitted = payload.encode_shortened(PayloadLimit::LEGACY, Shorten::WithEllipsis).unwrap();
        assert!(fitted.len() <= 256 && fitted.len() >= 254, "{}", fitted.len());
        let text = std::str::from_utf8(fitted.as_bytes()).unwrap();
        assert!(text.contains("é…\""), "{text}");

        let small = Payload::new().alert("short");
        assert_eq!(
            small.encode_shortened(PayloadLimit::LEGACY, Shorten::Plain).unwrap(),
            small.encode(PayloadLimit::LEGACY).unwrap()
        );

        let escapes = Payload::new().alert(Alert::with_body("\u{1}".repeat(100)));
        let fitted = escapes.encode_shortened(PayloadLimit::LEGACY, Shorten::Plain).unwrap();
        assert!(fitted.len() <= 256 && fitted.len() > 250);
    }

    #[test]
    fn shortening_reports_what_cannot_fit() {
        let payload = Payload::new().alert("body").custom("big", "x".repeat(300)).unwrap();
        assert!(matches!(
            payload.encode_shortened(PayloadLimit::LEGACY, Shorten::Plain),
            Err(PayloadError::CannotFit { limit: 256, .. })
        ));
        let no_body = Payload::new().custom("big", "x".repeat(300)).unwrap();
        assert!(matches!(
            no_body.encode_shortened(PayloadLimit::LEGACY, Shorten::Plain),
            Err(PayloadError::TooLarge { .. })
        ));
    }

    #[test]
    fn http2_keys_follow_pyapns_keys_in_apple_order() {
        let payload = Payload::new()
            .attributes(serde_json::json!({"team": "A"}))
            .unwrap()
            .attributes_type("GameAttributes")
            .dismissal_date(3)
            .event(LiveActivityEvent::Start)
            .timestamp(2)
            .content_state(serde_json::json!({"score": 1}))
            .unwrap()
            .stale_date(1)
            .filter_criteria("work")
            .relevance_score(0.5)
            .interruption_level(InterruptionLevel::Passive)
            .target_content_id("w")
            .mutable_content(true)
            .alert("a")
            .custom("k", 1)
            .unwrap();
        assert_eq!(
            json(&payload),
            r#"{"aps":{"alert":"a","mutable-content":1,"target-content-id":"w","interruption-level":"passive","relevance-score":0.5,"filter-criteria":"work","stale-date":1,"content-state":{"score":1},"timestamp":2,"event":"start","dismissal-date":3,"attributes-type":"GameAttributes","attributes":{"team":"A"}},"k":1}"#
        );
        for (level, text) in [
            (InterruptionLevel::Active, "active"),
            (InterruptionLevel::TimeSensitive, "time-sensitive"),
            (InterruptionLevel::Critical, "critical"),
        ] {
            assert!(json(&Payload::new().interruption_level(level)).contains(text));
        }
        assert!(json(&Payload::new().event(LiveActivityEvent::End)).contains(r#""event":"end""#));
        assert!(json(&Payload::new().relevance_score(f64::NAN)).contains(r#""relevance-score":null"#));
    }

    #[test]
    fn live_activity_dictionaries_must_be_objects() {
        assert_eq!(
            Payload::new().content_state(3),
            Err(PayloadError::NotAnObject { key: "content-state".into() })
        );
        assert_eq!(
            Payload::new().attributes([1]),
            Err(PayloadError::NotAnObject { key: "attributes".into() })
        );
    }

    #[test]
    fn raw_payloads_are_checked() {
        assert_eq!(EncodedPayload::new(Bytes::new(), PayloadLimit::BINARY), Err(PayloadError::Empty));
        assert!(EncodedPayload::new(vec![b'x'; 257], PayloadLimit::LEGACY).is_err());
    }
}
