//! Apple's error reasons, and what each means for the sender.

use std::borrow::Cow;
use std::fmt;

/// What the delivery layer should do with a response (or a GOAWAY reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Classification {
    /// 2xx: Apple took it.
    Accepted,
    /// This request can never succeed as it is (a bad or unregistered token, a payload too
    /// large, a malformed header): report it and do not send it again. For 410 the response
    /// carries the time the token stopped being valid, the modern feedback service.
    Rejected,
    /// The provider's credentials or configuration are refused (invalid provider token, wrong
    /// certificate or environment, a topic the credentials do not allow): every other
    /// notification would fail the same way. Stop sending on this gateway and say why, rather
    /// than burn through the queue.
    Misconfigured,
    /// Apple is busy or failing (429, 500, 503, a shutdown): send again later, after the
    /// response's `retry-after` if it has one, else with backoff.
    RetryLater,
    /// The provider token is older than Apple accepts (`ExpiredProviderToken`): make a new one
    /// (the token policy says when that is allowed) and send again.
    RefreshToken,
}

/// The `reason` of an error response or a GOAWAY: an open newtype. The named constants are the
/// reasons Apple documents; any other string is kept as it came.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reason(Cow<'static, str>);

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident = $text:literal, $status:literal, $class:ident;)*) => {
        impl Reason {
            $($(#[$doc])* pub const $name: Self = Self(Cow::Borrowed($text));)*

            /// Every documented reason with the status Apple sends it with and our
            /// classification, in Apple's tables' order.
            pub const DOCUMENTED: &'static [(Reason, u16, Classification)] = &[
                $((Self::$name, $status, Classification::$class),)*
            ];
        }
    };
}

reasons! {
    /// 400: the collapse id is over 64 bytes.
    BAD_COLLAPSE_ID = "BadCollapseId", 400, Rejected;
    /// 400: the device token is invalid, or for the other environment.
    BAD_DEVICE_TOKEN = "BadDeviceToken", 400, Rejected;
    /// 400: `apns-expiration` is invalid.
    BAD_EXPIRATION_DATE = "BadExpirationDate", 400, Rejected;
    /// 400: `apns-id` (or `apns-request-id`) is invalid.
    BAD_MESSAGE_ID = "BadMessageId", 400, Rejected;
    /// 400: `apns-priority` is invalid.
    BAD_PRIORITY = "BadPriority", 400, Rejected;
    /// 400: `apns-topic` is invalid.
    BAD_TOPIC = "BadTopic", 400, Rejected;
    /// 400: the device token is not for this topic.
    DEVICE_TOKEN_NOT_FOR_TOPIC = "DeviceTokenNotForTopic", 400, Rejected;
    /// 400: a header was repeated.
    DUPLICATE_HEADERS = "DuplicateHeaders", 400, Rejected;
    /// 400 (and GOAWAY): the connection was idle too long; send again on a new connection.
    IDLE_TIMEOUT = "IdleTimeout", 400, RetryLater;
    /// 400: `apns-push-type` is invalid.
    INVALID_PUSH_TYPE = "InvalidPushType", 400, Rejected;
    /// 400: no device token in `:path`.
    MISSING_DEVICE_TOKEN = "MissingDeviceToken", 400, Rejected;
    /// 400: no `apns-topic`, required with a multi-topic certificate and with token auth.
    MISSING_TOPIC = "MissingTopic", 400, Rejected;
    /// 400: the payload is empty.
    PAYLOAD_EMPTY = "PayloadEmpty", 400, Rejected;
    /// 400: the credentials do not allow pushing to this topic.
    TOPIC_DISALLOWED = "TopicDisallowed", 400, Misconfigured;
    /// 403: the certificate is invalid.
    BAD_CERTIFICATE = "BadCertificate", 403, Misconfigured;
    /// 403: the certificate is for the other environment.
    BAD_CERTIFICATE_ENVIRONMENT = "BadCertificateEnvironment", 403, Misconfigured;
    /// 403: the provider token is too old; make a new one.
    EXPIRED_PROVIDER_TOKEN = "ExpiredProviderToken", 403, RefreshToken;
    /// 403: the action is not allowed (Apple: do not retry).
    FORBIDDEN = "Forbidden", 403, Rejected;
    /// 403: the provider token is invalid or its signature does not verify.
    INVALID_PROVIDER_TOKEN = "InvalidProviderToken", 403, Misconfigured;
    /// 403: neither a certificate nor a provider token.
    MISSING_PROVIDER_TOKEN = "MissingProviderToken", 403, Misconfigured;
    /// 403: the token's key id is not the one this connection's first push used.
    UNRELATED_KEY_ID_IN_TOKEN = "UnrelatedKeyIdInToken", 403, Misconfigured;
    /// 403: the token's key id is for the other environment.
    BAD_ENVIRONMENT_KEY_ID_IN_TOKEN = "BadEnvironmentKeyIdInToken", 403, Misconfigured;
    /// 404: the `:path` is invalid (for a channel: the channel does not exist).
    BAD_PATH = "BadPath", 404, Rejected;
    /// 405: the `:method` is not allowed.
    METHOD_NOT_ALLOWED = "MethodNotAllowed", 405, Rejected;
    /// 410: the device token has expired.
    EXPIRED_TOKEN = "ExpiredToken", 410, Rejected;
    /// 410: the device token is no longer active for the topic (the app was removed); the body's
    /// timestamp says since when.
    UNREGISTERED = "Unregistered", 410, Rejected;
    /// 413: the payload is too large.
    PAYLOAD_TOO_LARGE = "PayloadTooLarge", 413, Rejected;
    /// 429: the provider token was changed more often than every 20 minutes: keep the current
    /// one and send again later.
    TOO_MANY_PROVIDER_TOKEN_UPDATES = "TooManyProviderTokenUpdates", 429, RetryLater;
    /// 429: too many requests to the same device token.
    TOO_MANY_REQUESTS = "TooManyRequests", 429, RetryLater;
    /// 500: Apple's internal error.
    INTERNAL_SERVER_ERROR = "InternalServerError", 500, RetryLater;
    /// 503: the service is unavailable.
    SERVICE_UNAVAILABLE = "ServiceUnavailable", 503, RetryLater;
    /// 503 (and GOAWAY): the server is shutting down.
    SHUTDOWN = "Shutdown", 503, RetryLater;
    /// 400 (broadcast): broadcast is not enabled for this app.
    FEATURE_NOT_ENABLED = "FeatureNotEnabled", 400, Misconfigured;
    /// 400 (broadcast): no `apns-channel-id`.
    MISSING_CHANNEL_ID = "MissingChannelId", 400, Rejected;
    /// 400 (broadcast): `apns-channel-id` is malformed or too long.
    BAD_CHANNEL_ID = "BadChannelId", 400, Rejected;
    /// 400 (broadcast): the channel does not exist.
    CHANNEL_NOT_REGISTERED = "ChannelNotRegistered", 400, Rejected;
    /// 400 (channels): the JSON body has an attribute Apple does not know.
    BAD_REQUEST_PARAMS = "BadRequestParams", 400, Rejected;
    /// 400 (channels): the JSON body does not parse.
    BAD_REQUEST_PAYLOAD = "BadRequestPayload", 400, Rejected;
    /// 400 (channels): no push type.
    MISSING_PUSH_TYPE = "MissingPushType", 400, Rejected;
    /// 400 (channels): the app has the most channels allowed (10,000 per environment).
    CANNOT_CREATE_CHANNEL_CONFIG = "CannotCreateChannelConfig", 400, Rejected;
    /// 403 (broadcast): the credentials' bundle ids do not include the path's.
    TOPIC_MISMATCH = "TopicMismatch", 403, Misconfigured;
}

impl Reason {
    /// The longest reason string kept; longer ones are not Apple's.
    pub const MAX_LEN: usize = 128;

    /// The reason for this string: the named constant if Apple documents it, else the string
    /// as given.
    pub fn new(text: &str) -> Self {
        match Self::DOCUMENTED.iter().find(|(reason, ..)| reason.as_str() == text) {
            Some((reason, ..)) => reason.clone(),
            None => Self(Cow::Owned(text.to_owned())),
        }
    }

    /// The reason string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether Apple documents this reason.
    pub fn is_documented(&self) -> bool {
        self.classification().is_some()
    }

    /// Our classification of a documented reason; `None` for one Apple does not document (then
    /// the status decides, see [`Classification`] and `Response::classification`).
    pub fn classification(&self) -> Option<Classification> {
        Self::DOCUMENTED.iter().find(|(reason, ..)| reason == self).map(|&(_, _, class)| class)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reason({})", self.as_str())
    }
}

/// The classification of a status without a documented reason: 2xx accepted; 403 a credentials
/// problem; 429 and 5xx retry later; anything else rejected.
pub fn classify_status(status: u16) -> Classification {
    match status {
        200..=299 => Classification::Accepted,
        403 => Classification::Misconfigured,
        429 | 500..=599 => Classification::RetryLater,
        _ => Classification::Rejected,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn documented_reasons_are_unique_and_found() {
        let mut names = HashSet::new();
        for (reason, status, class) in Reason::DOCUMENTED {
            assert!(names.insert(reason.as_str()), "{reason} twice");
            assert_eq!(Reason::new(reason.as_str()), *reason);
            assert_eq!(reason.classification(), Some(*class));
            assert!((400..600).contains(status));
        }
        assert_eq!(names.len(), 41);
    }

    #[test]
    fn unknown_reasons_are_kept() {
        let reason = Reason::new("SomethingNew");
        assert_eq!(reason.as_str(), "SomethingNew");
        assert!(!reason.is_documented());
        assert_eq!(reason.classification(), None);
    }

    #[test]
    fn the_classes_the_delivery_layer_acts_on() {
        assert_eq!(Reason::UNREGISTERED.classification(), Some(Classification::Rejected));
        assert_eq!(Reason::EXPIRED_PROVIDER_TOKEN.classification(), Some(Classification::RefreshToken));
        assert_eq!(Reason::INVALID_PROVIDER_TOKEN.classification(), Some(Classification::Misconfigured));
        assert_eq!(
            Reason::TOO_MANY_PROVIDER_TOKEN_UPDATES.classification(),
            Some(Classification::RetryLater)
        );
        assert_eq!(classify_status(204), Classification::Accepted);
        assert_eq!(classify_status(403), Classification::Misconfigured);
        assert_eq!(classify_status(502), Classification::RetryLater);
        assert_eq!(classify_status(418), Classification::Rejected);
    }
}
