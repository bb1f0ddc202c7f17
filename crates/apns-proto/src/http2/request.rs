//! What to send: device notifications, broadcasts and channel-management requests, each turned
//! into a [`Request`] for the HTTP/2 layer.

use apns_h2::{HeaderName, HeaderValue, Indexing, Request};
use bytes::{Bytes, BytesMut};

use super::header::{self, Authorization};
use super::id::{ApnsId, ApnsIdGenerator};
use super::values::{BundleId, ChannelId, CollapseId, Topic};
use super::{HexDeviceToken, PushType};
use crate::{EncodedPayload, Expiry, Priority};

/// A notification to one device: `POST /3/device/<token>`.
///
/// Built with [`DeviceNotification::builder`], which checks what Apple would otherwise reject:
/// the payload limit of the push type (4,096 bytes; 5,120 for VoIP) and the background type's
/// priority (5; Apple calls 10 an error, and a background notification without a priority is
/// sent with 5).
///
/// ```
/// use apns_proto::http2::{ApnsIdGenerator, Authorization, BundleId, DeviceNotification, PushType};
/// use apns_proto::{Payload, PayloadLimit};
///
/// let app = BundleId::new("com.example.MyApp")?;
/// let payload = Payload::new().alert("Hello").encode(PayloadLimit::HTTP2)?;
/// let token = "00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0".parse()?;
/// let mut notification = DeviceNotification::builder(token, PushType::ALERT, payload)
///     .topic(app.topic_for(&PushType::ALERT).unwrap())
///     .build()?;
/// notification.ensure_id(&mut ApnsIdGenerator::new([1; 16]));
/// let authority = apns_h2::HeaderValue::from_static("api.push.apple.com");
/// let request = notification.request(&authority, Some(&Authorization::bearer("eyJ...")?));
/// assert_eq!(request.path().as_bytes(), &b"/3/device/00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0"[..]);
/// assert_eq!(request.header_value("apns-topic").map(|v| v.as_bytes()), Some(&b"com.example.MyApp"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNotification {
    token: HexDeviceToken,
    /// `/3/device/<token>`, built with the notification: a request shares it.
    path: HeaderValue,
    push_type: PushType,
    payload: EncodedPayload,
    topic: Option<Topic>,
    id: Option<ApnsId>,
    expiration: Option<Expiry>,
    priority: Option<Priority>,
    collapse_id: Option<CollapseId>,
}

/// Builds a [`DeviceNotification`]; every field but the token, push type and payload is optional.
#[derive(Debug, Clone)]
#[must_use]
pub struct DeviceNotificationBuilder(DeviceNotification);

impl DeviceNotificationBuilder {
    /// `apns-topic`. Required with token auth; with a certificate APNs defaults to the
    /// certificate's bundle id.
    pub fn topic(mut self, topic: Topic) -> Self {
        self.0.topic = Some(topic);
        self
    }

    /// `apns-id`. Without one, [`DeviceNotification::ensure_id`] generates one.
    pub fn id(mut self, id: ApnsId) -> Self {
        self.0.id = Some(id);
        self
    }

    /// `apns-expiration`: UNIX seconds after which Apple stops trying; [`Expiry::IMMEDIATE`]
    /// (0) = deliver now or never. Without it Apple stores the notification by its own policy.
    pub fn expiration(mut self, expiry: Expiry) -> Self {
        self.0.expiration = Some(expiry);
        self
    }

    /// `apns-priority`. Without it Apple uses 10 (background notifications: 5, see
    /// [`DeviceNotification`]).
    pub fn priority(mut self, priority: Priority) -> Self {
        self.0.priority = Some(priority);
        self
    }

    /// `apns-collapse-id`.
    pub fn collapse_id(mut self, id: CollapseId) -> Self {
        self.0.collapse_id = Some(id);
        self
    }

    /// Checks the combination and returns the notification.
    pub fn build(mut self) -> Result<DeviceNotification, RequestError> {
        let notification = &mut self.0;
        let limit = notification.push_type.payload_limit().bytes();
        if notification.payload.len() > limit {
            return Err(RequestError::PayloadTooLarge { size: notification.payload.len(), limit });
        }
        if notification.push_type == PushType::BACKGROUND {
            match notification.priority {
                Some(Priority::Immediate) => return Err(RequestError::BackgroundPriority),
                None => notification.priority = Some(Priority::PowerConsiderate),
                Some(_) => {}
            }
        }
        Ok(self.0)
    }
}

impl DeviceNotification {
    /// Starts a notification to `token`.
    pub fn builder(
        token: HexDeviceToken,
        push_type: PushType,
        payload: EncodedPayload,
    ) -> DeviceNotificationBuilder {
        let mut path = BytesMut::with_capacity(DEVICE_PATH.len() + token.as_str().len());
        path.extend_from_slice(DEVICE_PATH);
        path.extend_from_slice(token.as_str().as_bytes());
        DeviceNotificationBuilder(Self {
            token,
            path: value(path.freeze()),
            push_type,
            payload,
            topic: None,
            id: None,
            expiration: None,
            priority: None,
            collapse_id: None,
        })
    }

    /// The device.
    pub fn token(&self) -> &HexDeviceToken {
        &self.token
    }

    /// The push type.
    pub fn push_type(&self) -> &PushType {
        &self.push_type
    }

    /// The payload.
    pub fn payload(&self) -> &EncodedPayload {
        &self.payload
    }

    /// The topic, if set.
    pub fn topic(&self) -> Option<&Topic> {
        self.topic.as_ref()
    }

    /// The `apns-id`, if set or generated.
    pub fn id(&self) -> Option<ApnsId> {
        self.id
    }

    /// The expiry, if set.
    pub fn expiration(&self) -> Option<Expiry> {
        self.expiration
    }

    /// The priority, if set.
    pub fn priority(&self) -> Option<Priority> {
        self.priority
    }

    /// The collapse id, if set.
    pub fn collapse_id(&self) -> Option<&CollapseId> {
        self.collapse_id.as_ref()
    }

    /// The notification's `apns-id`, generating one from `ids` if it has none yet (so that a
    /// response, a log line and a resend all name it the same way).
    pub fn ensure_id(&mut self, ids: &mut ApnsIdGenerator) -> ApnsId {
        *self.id.get_or_insert_with(|| ids.next_id())
    }

    /// The request to `authority` (the gateway host): `authorization` (token auth only),
    /// `apns-id`, `apns-push-type`, `apns-expiration`, `apns-priority`, `apns-topic`,
    /// `apns-collapse-id` (each when set), in the order of Apple's example, each with the HPACK
    /// indexing Apple advises: repeating values incremental, unique values
    /// [`NameOnly`](Indexing::NameOnly), the device `:path` not indexed.
    pub fn request(&self, authority: &HeaderValue, authorization: Option<&Authorization>) -> Request {
        // The values unique to this request (id, expiry) share one small allocation.
        let mut unique = UniqueValues { text: [0; UniqueValues::CAPACITY], len: 0 };
        if let Some(id) = self.id {
            unique.push(&id.to_text());
        }
        let id_end = unique.len;
        if let Some(expiry) = self.expiration {
            let mut digits = [0u8; 10];
            unique.push(decimal(expiry.unix_seconds(), &mut digits));
        }
        let unique = if unique.len > 0 { Bytes::from_owner(unique) } else { Bytes::new() };

        let mut request = Request::post(authority.clone(), self.path.clone())
            .path_indexing(Indexing::WithoutIndexing)
            .body(self.payload.clone().into_bytes());
        if let Some(authorization) = authorization {
            push_authorization(&mut request, authorization);
        }
        if self.id.is_some() {
            request.push_header(APNS_ID, value(unique.slice(..id_end)), Indexing::NameOnly);
        }
        push_type_header(&mut request, &self.push_type);
        if self.expiration.is_some() {
            request.push_header(APNS_EXPIRATION, value(unique.slice(id_end..)), Indexing::NameOnly);
        }
        if let Some(priority) = self.priority {
            push_priority(&mut request, priority);
        }
        if let Some(topic) = &self.topic {
            request.push_header(APNS_TOPIC, value(topic.bytes()), Indexing::Incremental);
        }
        if let Some(collapse_id) = &self.collapse_id {
            request.push_header(APNS_COLLAPSE_ID, value(collapse_id.bytes()), Indexing::NameOnly);
        }
        request
    }
}

const AUTHORIZATION: HeaderName = HeaderName::from_static(header::AUTHORIZATION);
const APNS_ID: HeaderName = HeaderName::from_static(header::APNS_ID);
const APNS_PUSH_TYPE: HeaderName = HeaderName::from_static(header::APNS_PUSH_TYPE);
const APNS_EXPIRATION: HeaderName = HeaderName::from_static(header::APNS_EXPIRATION);
const APNS_PRIORITY: HeaderName = HeaderName::from_static(header::APNS_PRIORITY);
const APNS_TOPIC: HeaderName = HeaderName::from_static(header::APNS_TOPIC);
const APNS_COLLAPSE_ID: HeaderName = HeaderName::from_static(header::APNS_COLLAPSE_ID);
const APNS_CHANNEL_ID: HeaderName = HeaderName::from_static(header::APNS_CHANNEL_ID);
const APNS_REQUEST_ID: HeaderName = HeaderName::from_static(header::APNS_REQUEST_ID);

/// A header value from bytes this module's types already restrict to visible ASCII without
/// surrounding spaces (tokens in hex, ids, decimal numbers, push types, topics, collapse and
/// channel ids, bundle ids), which HTTP/2 always accepts: not scanned again per request.
fn value(bytes: Bytes) -> HeaderValue {
    HeaderValue::from_trusted(bytes)
}

fn push_authorization(request: &mut Request, authorization: &Authorization) {
    // Valid for 20 to 60 minutes and shared by every request: indexed once, then one byte.
    request.push_header(AUTHORIZATION, authorization.value().clone(), Indexing::Incremental);
}

const DEVICE_PATH: &[u8] = b"/3/device/";

/// The `apns-id` text and the `apns-expiration` digits of one request, owned by the `Bytes`
/// their header values slice: one allocation, and no copy into a second buffer.
struct UniqueValues {
    text: [u8; Self::CAPACITY],
    len: usize,
}

impl UniqueValues {
    /// An id and the ten digits of a `u32`.
    const CAPACITY: usize = ApnsId::TEXT_LEN + 10;

    fn push(&mut self, bytes: &[u8]) {
        if let Some(slot) = self.text.get_mut(self.len..self.len + bytes.len()) {
            slot.copy_from_slice(bytes);
            self.len += bytes.len();
        }
    }
}

impl AsRef<[u8]> for UniqueValues {
    fn as_ref(&self) -> &[u8] {
        &self.text[..self.len]
    }
}

/// `value` in decimal, written at the end of `digits`.
fn decimal(mut value: u32, digits: &mut [u8; 10]) -> &[u8] {
    let mut start = digits.len();
    loop {
        start -= 1;
        // A decimal digit: below 10.
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    &digits[start..]
}

fn push_id(request: &mut Request, name: HeaderName, id: ApnsId) {
    request.push_header(name, value(Bytes::copy_from_slice(&id.to_text())), Indexing::NameOnly);
}

fn push_type_header(request: &mut Request, push_type: &PushType) {
    let bytes = match push_type.static_name() {
        // Documented types are 'static: no allocation.
        Some(name) => Bytes::from_static(name.as_bytes()),
        None => Bytes::copy_from_slice(push_type.as_str().as_bytes()),
    };
    request.push_header(APNS_PUSH_TYPE, value(bytes), Indexing::Incremental);
}

fn push_expiration(request: &mut Request, expiry: Expiry) {
    let bytes = if expiry == Expiry::IMMEDIATE {
        Bytes::from_static(b"0")
    } else {
        Bytes::from(expiry.unix_seconds().to_string())
    };
    request.push_header(APNS_EXPIRATION, value(bytes), Indexing::NameOnly);
}

fn push_priority(request: &mut Request, priority: Priority) {
    let bytes = Bytes::from_static(priority.header_value().as_bytes());
    request.push_header(APNS_PRIORITY, value(bytes), Indexing::Incremental);
}

/// A Live Activity update to every device subscribed to a channel (iOS 18):
/// `POST /4/broadcasts/apps/<bundle id>` with `apns-channel-id`, on the same hosts as device
/// notifications. The push type is always `liveactivity`; there is no `apns-topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastNotification {
    bundle_id: BundleId,
    channel: ChannelId,
    payload: EncodedPayload,
    request_id: Option<ApnsId>,
    expiration: Option<Expiry>,
    priority: Option<Priority>,
}

impl BroadcastNotification {
    /// A broadcast of `payload` on `channel` of the app `bundle_id`. The payload must fit 4,096
    /// bytes.
    pub fn new(
        bundle_id: BundleId,
        channel: ChannelId,
        payload: EncodedPayload,
    ) -> Result<Self, RequestError> {
        let limit = PushType::LIVE_ACTIVITY.payload_limit().bytes();
        if payload.len() > limit {
            return Err(RequestError::PayloadTooLarge { size: payload.len(), limit });
        }
        Ok(Self { bundle_id, channel, payload, request_id: None, expiration: None, priority: None })
    }

    /// Sets `apns-request-id`.
    #[must_use]
    pub fn with_request_id(mut self, id: ApnsId) -> Self {
        self.request_id = Some(id);
        self
    }

    /// Sets `apns-expiration` (a channel without message storage takes only 0).
    #[must_use]
    pub fn with_expiration(mut self, expiry: Expiry) -> Self {
        self.expiration = Some(expiry);
        self
    }

    /// Sets `apns-priority`.
    #[must_use]
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// The channel.
    pub fn channel(&self) -> &ChannelId {
        &self.channel
    }

    /// The expiry, if set.
    pub fn expiration(&self) -> Option<Expiry> {
        self.expiration
    }

    /// The `apns-request-id`, if set or generated.
    pub fn request_id(&self) -> Option<ApnsId> {
        self.request_id
    }

    /// The request id, generating one from `ids` if there is none yet.
    pub fn ensure_request_id(&mut self, ids: &mut ApnsIdGenerator) -> ApnsId {
        *self.request_id.get_or_insert_with(|| ids.next_id())
    }

    /// The request to `authority`: `authorization`, `apns-request-id`,
    /// `apns-push-type: liveactivity`, `apns-channel-id`, `apns-expiration`, `apns-priority`
    /// (each when set).
    pub fn request(&self, authority: &HeaderValue, authorization: Option<&Authorization>) -> Request {
        let path = value(Bytes::from(format!("/4/broadcasts/apps/{}", self.bundle_id.as_str())));
        let mut request = Request::post(authority.clone(), path)
            .path_indexing(Indexing::Incremental)
            .body(self.payload.clone().into_bytes());
        if let Some(authorization) = authorization {
            push_authorization(&mut request, authorization);
        }
        if let Some(id) = self.request_id {
            push_id(&mut request, APNS_REQUEST_ID, id);
        }
        push_type_header(&mut request, &PushType::LIVE_ACTIVITY);
        push_channel(&mut request, &self.channel);
        if let Some(expiry) = self.expiration {
            push_expiration(&mut request, expiry);
        }
        if let Some(priority) = self.priority {
            push_priority(&mut request, priority);
        }
        request
    }
}

fn push_channel(request: &mut Request, channel: &ChannelId) {
    // Apple: a broadcast channel id "might not change often and can be indexed".
    request.push_header(APNS_CHANNEL_ID, value(channel.bytes()), Indexing::Incremental);
}

/// A channel's message storage policy (`message-storage-policy`). An open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageStoragePolicy(pub u8);

impl MessageStoragePolicy {
    /// 0: no message stored; only connected devices get updates (a higher publishing budget).
    pub const NO_STORAGE: Self = Self(0);
    /// 1: the most recent message is stored (up to 8 hours) for offline devices.
    pub const MOST_RECENT: Self = Self(1);
}

/// What a channel-management request does (on `api-manage-broadcast[.sandbox].push.apple.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelOperation {
    /// `POST /1/apps/<bundle id>/channels`: create a channel (201 and `apns-channel-id`).
    Create(MessageStoragePolicy),
    /// `GET /1/apps/<bundle id>/channels`: read its configuration (200 and a JSON body).
    Read(ChannelId),
    /// `DELETE /1/apps/<bundle id>/channels`: delete it (204).
    Delete(ChannelId),
    /// `GET /1/apps/<bundle id>/all-channels`: list every channel (200 and `{"channels":[..]}`).
    ListAll,
}

/// A channel-management request for one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRequest {
    bundle_id: BundleId,
    operation: ChannelOperation,
    request_id: Option<ApnsId>,
}

impl ChannelRequest {
    /// A request for `operation` on the app's channels.
    pub fn new(bundle_id: BundleId, operation: ChannelOperation) -> Self {
        Self { bundle_id, operation, request_id: None }
    }

    /// Sets `apns-request-id`.
    #[must_use]
    pub fn with_request_id(mut self, id: ApnsId) -> Self {
        self.request_id = Some(id);
        self
    }

    /// The operation.
    pub fn operation(&self) -> &ChannelOperation {
        &self.operation
    }

    /// The request id, generating one from `ids` if there is none yet.
    pub fn ensure_request_id(&mut self, ids: &mut ApnsIdGenerator) -> ApnsId {
        *self.request_id.get_or_insert_with(|| ids.next_id())
    }

    /// The request to `authority` (a channel-management host).
    pub fn request(&self, authority: &HeaderValue, authorization: Option<&Authorization>) -> Request {
        let (method, resource, body, channel) = match &self.operation {
            ChannelOperation::Create(policy) => {
                let body = format!(r#"{{"message-storage-policy":{},"push-type":"LiveActivity"}}"#, policy.0);
                (Request::POST, "channels", Bytes::from(body), None)
            }
            ChannelOperation::Read(channel) => (Request::GET, "channels", Bytes::new(), Some(channel)),
            ChannelOperation::Delete(channel) => (Request::DELETE, "channels", Bytes::new(), Some(channel)),
            ChannelOperation::ListAll => (Request::GET, "all-channels", Bytes::new(), None),
        };
        let path = value(Bytes::from(format!("/1/apps/{}/{resource}", self.bundle_id.as_str())));
        let mut request =
            Request::new(method, authority.clone(), path).path_indexing(Indexing::Incremental).body(body);
        if let Some(authorization) = authorization {
            push_authorization(&mut request, authorization);
        }
        if let Some(id) = self.request_id {
            push_id(&mut request, APNS_REQUEST_ID, id);
        }
        if let Some(channel) = channel {
            push_channel(&mut request, channel);
        }
        request
    }
}

/// Why a request could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The payload is over the push type's limit (Apple would answer 413 PayloadTooLarge).
    #[error("payload is {size} bytes, over this push type's limit of {limit} bytes")]
    PayloadTooLarge {
        /// The payload's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A background notification with priority 10, which Apple calls an error.
    #[error("background notifications must use priority 5 (or 1), not 10")]
    BackgroundPriority,
}
