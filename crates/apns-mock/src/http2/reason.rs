//! Apple's error reasons and the HTTP status each one comes with: the mock's own table, kept
//! independent of the client's on purpose, so that each checks the other.

use std::borrow::Cow;
use std::fmt;

/// The `reason` of an APNs error response, an open set: Apple adds reasons over time, so any
/// non-empty name parses, and the known ones are named constants.
///
/// ```
/// use apns_mock::http2::Reason;
/// assert_eq!(Reason::BAD_DEVICE_TOKEN.status(), 400);
/// assert_eq!("Unregistered".parse::<Reason>().unwrap(), Reason::UNREGISTERED);
/// assert_eq!("SomethingNew".parse::<Reason>().unwrap().status(), 400);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reason(Cow<'static, str>);

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident = $text:literal, $status:literal;)*) => {
        impl Reason {
            $($(#[$doc])* pub const $name: Self = Self(Cow::Borrowed($text));)*

            /// Every reason in Apple's documentation, with its status.
            pub const KNOWN: &'static [(Self, u16)] = &[$((Self::$name, $status)),*];
        }
    };
}

reasons! {
    /// The collapse identifier exceeds the maximum allowed size (64 bytes).
    BAD_COLLAPSE_ID = "BadCollapseId", 400;
    /// The specified device token is invalid.
    BAD_DEVICE_TOKEN = "BadDeviceToken", 400;
    /// The `apns-expiration` value is invalid.
    BAD_EXPIRATION_DATE = "BadExpirationDate", 400;
    /// The `apns-id` value is not a UUID.
    BAD_MESSAGE_ID = "BadMessageId", 400;
    /// The `apns-priority` value is invalid.
    BAD_PRIORITY = "BadPriority", 400;
    /// The `apns-topic` value is invalid.
    BAD_TOPIC = "BadTopic", 400;
    /// The device token does not match the specified topic.
    DEVICE_TOKEN_NOT_FOR_TOPIC = "DeviceTokenNotForTopic", 400;
    /// One or more headers are repeated.
    DUPLICATE_HEADERS = "DuplicateHeaders", 400;
    /// Idle timeout (sent in a GOAWAY).
    IDLE_TIMEOUT = "IdleTimeout", 400;
    /// The `apns-push-type` value is invalid.
    INVALID_PUSH_TYPE = "InvalidPushType", 400;
    /// The device token is not in the path.
    MISSING_DEVICE_TOKEN = "MissingDeviceToken", 400;
    /// The `apns-topic` header is missing and required.
    MISSING_TOPIC = "MissingTopic", 400;
    /// The message payload is empty.
    PAYLOAD_EMPTY = "PayloadEmpty", 400;
    /// Pushing to this topic is not allowed.
    TOPIC_DISALLOWED = "TopicDisallowed", 400;
    /// The certificate is invalid.
    BAD_CERTIFICATE = "BadCertificate", 403;
    /// The client certificate is for the wrong environment.
    BAD_CERTIFICATE_ENVIRONMENT = "BadCertificateEnvironment", 403;
    /// The provider token is stale and a new token should be generated.
    EXPIRED_PROVIDER_TOKEN = "ExpiredProviderToken", 403;
    /// The specified action is not allowed.
    FORBIDDEN = "Forbidden", 403;
    /// The provider token is not valid, or its signature could not be verified.
    INVALID_PROVIDER_TOKEN = "InvalidProviderToken", 403;
    /// No provider certificate was used and no provider token was in `authorization`.
    MISSING_PROVIDER_TOKEN = "MissingProviderToken", 403;
    /// The key id in the provider token is not related to the key id of the connection's first
    /// token.
    UNRELATED_KEY_ID_IN_TOKEN = "UnrelatedKeyIdInToken", 403;
    /// The key id in the provider token does not match the environment.
    BAD_ENVIRONMENT_KEY_ID_IN_TOKEN = "BadEnvironmentKeyIdInToken", 403;
    /// The request's `:path` is invalid.
    BAD_PATH = "BadPath", 404;
    /// The request's `:method` is not `POST`.
    METHOD_NOT_ALLOWED = "MethodNotAllowed", 405;
    /// The device token has expired.
    EXPIRED_TOKEN = "ExpiredToken", 410;
    /// The device token is inactive for the specified topic.
    UNREGISTERED = "Unregistered", 410;
    /// The message payload is too large.
    PAYLOAD_TOO_LARGE = "PayloadTooLarge", 413;
    /// The provider token is being updated too often.
    TOO_MANY_PROVIDER_TOKEN_UPDATES = "TooManyProviderTokenUpdates", 429;
    /// Too many requests were made consecutively to the same device token.
    TOO_MANY_REQUESTS = "TooManyRequests", 429;
    /// An internal server error occurred.
    INTERNAL_SERVER_ERROR = "InternalServerError", 500;
    /// The service is unavailable.
    SERVICE_UNAVAILABLE = "ServiceUnavailable", 503;
    /// The APNs server is shutting down.
    SHUTDOWN = "Shutdown", 503;
    /// Broadcast: the feature is not enabled for this app.
    FEATURE_NOT_ENABLED = "FeatureNotEnabled", 400;
    /// Broadcast and channels: no `apns-channel-id`.
    MISSING_CHANNEL_ID = "MissingChannelId", 400;
    /// Broadcast and channels: `apns-channel-id` is malformed.
    BAD_CHANNEL_ID = "BadChannelId", 400;
    /// Broadcast: the channel does not exist for this app.
    CHANNEL_NOT_REGISTERED = "ChannelNotRegistered", 400;
    /// Channels: the body has an attribute that is not known, or a value out of range.
    BAD_REQUEST_PARAMS = "BadRequestParams", 400;
    /// Channels: the body is not a JSON object.
    BAD_REQUEST_PAYLOAD = "BadRequestPayload", 400;
    /// Broadcast and channels: no push type.
    MISSING_PUSH_TYPE = "MissingPushType", 400;
    /// Channels: the app has the most channels allowed.
    CANNOT_CREATE_CHANNEL_CONFIG = "CannotCreateChannelConfig", 400;
    /// Broadcast and channels: the credentials do not allow the path's bundle id.
    TOPIC_MISMATCH = "TopicMismatch", 403;
}

impl Reason {
    /// A reason by name, known or not.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        Self(name.into())
    }

    /// The name, as Apple spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The HTTP status Apple answers this reason with; 400 for a reason not in the table.
    pub fn status(&self) -> u16 {
        Self::KNOWN.iter().find(|(known, _)| known == self).map_or(400, |&(_, status)| status)
    }

    /// Whether Apple says never to retry a notification rejected for this reason.
    pub fn is_permanent(&self) -> bool {
        [
            Self::BAD_DEVICE_TOKEN,
            Self::DEVICE_TOKEN_NOT_FOR_TOPIC,
            Self::FORBIDDEN,
            Self::EXPIRED_TOKEN,
            Self::UNREGISTERED,
            Self::PAYLOAD_TOO_LARGE,
        ]
        .contains(self)
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reason({})", self.0)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A reason name that is empty or not made of ASCII letters and digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a reason is a name of ASCII letters and digits, like BadDeviceToken")]
#[non_exhaustive]
pub struct InvalidReason;

impl std::str::FromStr for Reason {
    type Err = InvalidReason;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() || text.len() > 64 || !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(InvalidReason);
        }
        Ok(Self::KNOWN
            .iter()
            .find(|(known, _)| known.as_str() == text)
            .map_or_else(|| Self(Cow::Owned(text.to_owned())), |(known, _)| known.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_apples() {
        assert_eq!(Reason::KNOWN.len(), 41);
        for (reason, status) in Reason::KNOWN {
            assert_eq!(reason.as_str().parse::<Reason>().unwrap().status(), *status);
        }
        assert_eq!(Reason::UNREGISTERED.status(), 410);
        assert_eq!(Reason::SHUTDOWN.status(), 503);
        assert_eq!(Reason::METHOD_NOT_ALLOWED.status(), 405);
        assert!("".parse::<Reason>().is_err());
        assert!("Bad Token".parse::<Reason>().is_err());
        assert!(Reason::UNREGISTERED.is_permanent());
        assert!(!Reason::TOO_MANY_REQUESTS.is_permanent());
    }
}
