//! Apple's rules for one notification request, as pure functions of the request's method, path,
//! headers and body, the connection's authentication and the configured device tables. The
//! server shell reads the request and hands it here; nothing in this module does I/O.

use std::collections::HashMap;
use std::time::Instant;

use http::header::{AsHeaderName, AUTHORIZATION};
use http::{HeaderMap, HeaderName, Method};

use super::auth::{ProviderKeys, TokenAuth, TokenRules};
use super::channels::{self, Channels, Reply};
use super::Reason;

/// The largest payload of a notification (Apple: 4 KiB).
pub const PAYLOAD_LIMIT: usize = 4096;
/// The largest payload of a VoIP notification (Apple: 5 KiB).
pub const VOIP_PAYLOAD_LIMIT: usize = 5120;
/// The longest `apns-collapse-id` (Apple: 64 bytes).
pub const MAX_COLLAPSE_ID: usize = 64;
/// The longest device token accepted, in hex digits (Apple says not to assume a length; real
/// tokens are 64 digits today).
pub const MAX_TOKEN_HEX: usize = 200;

const PATH_PREFIX: &str = "/3/device/";

/// The header names looked up, as `HeaderName`s: a lookup by `&str` parses and validates the
/// name first, on every request.
pub(crate) const APNS_ID: HeaderName = HeaderName::from_static("apns-id");
const APNS_TOPIC: HeaderName = HeaderName::from_static("apns-topic");
const APNS_PUSH_TYPE: HeaderName = HeaderName::from_static("apns-push-type");
const APNS_PRIORITY: HeaderName = HeaderName::from_static("apns-priority");
const APNS_EXPIRATION: HeaderName = HeaderName::from_static("apns-expiration");
const APNS_COLLAPSE_ID: HeaderName = HeaderName::from_static("apns-collapse-id");
const APNS_REQUEST_ID: HeaderName = HeaderName::from_static("apns-request-id");

/// The headers that may appear only once (DuplicateHeaders otherwise).
const SINGLE_HEADERS: [HeaderName; 7] =
    [AUTHORIZATION, APNS_ID, APNS_TOPIC, APNS_PUSH_TYPE, APNS_PRIORITY, APNS_EXPIRATION, APNS_COLLAPSE_ID];

/// `apns-push-type` values, each with the topic suffix it requires.
const PUSH_TYPES: [(&str, &str); 11] = [
    ("alert", ""),
    ("background", ""),
    ("location", ".location-query"),
    ("voip", ".voip"),
    ("complication", ".complication"),
    ("fileprovider", ".pushkit.fileprovider"),
    ("mdm", ""),
    ("liveactivity", ".push-type.liveactivity"),
    ("pushtotalk", ".voip-ptt"),
    ("controls", ".push-type.controls"),
    ("widgets", ".push-type.widgets"),
];

/// A body that is not a JSON object. Apple documents no reason for it; this is the mock's name,
/// with status 400.
pub(crate) fn bad_payload() -> Reason {
    Reason::new("BadPayload")
}

/// How a device token is answered, beyond the request's own validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenFate {
    /// Rejected with this reason (status from Apple's table).
    Reject(Reason),
    /// 410 with this reason (`Unregistered` or `ExpiredToken`) and `timestamp` (ms).
    Gone(Reason, u64),
}

/// What the server knows about topics and device tokens.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tables {
    /// The bundle ids of the team (token auth) or allowed beside a certificate's own; empty: any.
    pub(crate) topics: Vec<String>,
    /// Device tokens (lowercase hex) with a fixed answer.
    pub(crate) tokens: HashMap<String, TokenFate>,
    /// Device tokens (lowercase hex) registered for one bundle id only.
    pub(crate) token_topics: HashMap<String, String>,
}

/// How a connection authenticated.
#[derive(Debug)]
pub(crate) enum ConnAuth {
    /// A client certificate, naming a bundle id (or none, then the configured topics apply).
    Certificate { bundle: Option<String> },
    /// Provider tokens, checked per request.
    Token(TokenAuth),
}

/// What was decided about a request, with what the record shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// `Ok` for 200; otherwise the reason and, for 410, the timestamp.
    pub(crate) result: Result<(), (Reason, Option<u64>)>,
    /// The request's `apns-id`, if it was a valid UUID (echoed exactly).
    pub(crate) apns_id: Option<String>,
    /// The topic the notification was for (the header, or the certificate's default).
    pub(crate) topic: Option<String>,
    /// What a success answers (200 for notifications; 201, 204 or a body for channels).
    pub(crate) reply: Reply,
    /// Whether the response carries `apns-request-id` (broadcast and channel requests).
    pub(crate) channel_api: bool,
    /// The request's `apns-request-id`, if it was a valid UUID (echoed exactly).
    pub(crate) request_id: Option<String>,
}

/// One request as read: its method, path, headers and body (at most the largest payload
/// limit plus one byte).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Incoming<'a> {
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

/// What the server is configured to accept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy<'a> {
    pub(crate) keys: &'a ProviderKeys,
    pub(crate) rules: &'a TokenRules,
    pub(crate) tables: &'a Tables,
    pub(crate) channels: &'a Channels,
}

/// The time of a request: monotonic (token refresh intervals) and UNIX seconds (token age).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub(crate) now: Instant,
    pub(crate) unix_now: i64,
}

/// Evaluates one request on a connection authenticated as `auth`: a device notification, a
/// broadcast, or a channel-management request.
pub(crate) fn evaluate(
    request: Incoming<'_>,
    auth: &mut ConnAuth,
    policy: Policy<'_>,
    clock: Clock,
) -> Verdict {
    let headers = request.headers;
    let uuid_header = |name: &HeaderName| {
        headers.get(name).and_then(|v| v.to_str().ok()).filter(|id| is_uuid(id)).map(str::to_owned)
    };
    let channel_api = channels::is_channel_api(request.path);
    let mut verdict = Verdict {
        result: Ok(()),
        apns_id: uuid_header(&APNS_ID),
        topic: None,
        reply: Reply::OK,
        channel_api,
        request_id: uuid_header(&APNS_REQUEST_ID).filter(|_| channel_api),
    };
    if !channel_api {
        verdict.result = check(request, auth, policy, clock, &mut verdict.topic);
        return verdict;
    }
    let Incoming { method, path, headers, body } = request;
    let credentials = move || {
        let auth = auth; // moved: the closure is `FnOnce`, so the bundles may borrow from it
        authenticate(headers, auth, policy, clock).map(|(bundles, _)| Credentials { bundles })
    };
    let outcome = match path.strip_prefix(channels::BROADCAST_PREFIX) {
        Some(bundle) => {
            verdict.topic = Some(bundle.to_owned());
            channels::broadcast(method, bundle, headers, body, policy.channels, credentials)
                .map(|()| Reply::OK)
        }
        None => channels::manage(method, path, headers, body, policy.channels, credentials),
    };
    match outcome {
        Ok(reply) => verdict.reply = reply,
        Err(reason) => verdict.result = Err((reason, None)),
    }
    verdict
}

/// What a request's credentials allow: the bundle ids it may use (empty: any).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Credentials<'a> {
    pub(crate) bundles: &'a [String],
}

/// Checks the request's credentials (the provider token, or the connection's certificate):
/// the bundle ids they allow (empty: any) and the topic a request without `apns-topic` goes to.
fn authenticate<'a>(
    headers: &HeaderMap,
    auth: &'a mut ConnAuth,
    Policy { keys, rules, tables, .. }: Policy<'a>,
    Clock { now, unix_now }: Clock,
) -> Result<(&'a [String], Option<&'a str>), Reason> {
    match auth {
        ConnAuth::Token(state) => {
            let header = headers.get(AUTHORIZATION).map(http::HeaderValue::as_bytes);
            state.handle_authorization(header, keys, rules, now, unix_now)?;
            Ok((&tables.topics, None))
        }
        ConnAuth::Certificate { bundle: Some(bundle) } => {
            Ok((std::slice::from_ref(bundle), Some(bundle.as_str())))
        }
        ConnAuth::Certificate { bundle: None } => {
            let default = match tables.topics.as_slice() {
                [only] => Some(only.as_str()),
                _ => None,
            };
            Ok((&tables.topics, default))
        }
    }
}

/// Whether one of `names` appears more than once.
pub(crate) fn duplicate_headers<K: AsHeaderName>(
    headers: &HeaderMap,
    names: impl IntoIterator<Item = K>,
) -> bool {
    names.into_iter().any(|name| headers.get_all(name).iter().nth(1).is_some())
}

fn check(
    Incoming { method, path, headers, body }: Incoming<'_>,
    auth: &mut ConnAuth,
    policy: Policy<'_>,
    clock: Clock,
    topic_out: &mut Option<String>,
) -> Result<(), (Reason, Option<u64>)> {
    let fail = |reason: Reason| Err((reason, None));
    let tables = policy.tables;
    if method != Method::POST {
        return fail(Reason::METHOD_NOT_ALLOWED);
    }
    let Some(token) = path.strip_prefix(PATH_PREFIX) else {
        return fail(Reason::BAD_PATH);
    };
    if token.is_empty() {
        return fail(Reason::MISSING_DEVICE_TOKEN);
    }
    if token.len() % 2 != 0 || token.len() > MAX_TOKEN_HEX || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return fail(Reason::BAD_DEVICE_TOKEN);
    }
    if duplicate_headers(headers, &SINGLE_HEADERS) {
        return fail(Reason::DUPLICATE_HEADERS);
    }
    let text = |name: &HeaderName| headers.get(name).map(|value| value.to_str().map_err(|_| ()));
    let (bundles, default_topic) =
        authenticate(headers, auth, policy, clock).map_err(|reason| (reason, None))?;
    if text(&APNS_ID).is_some_and(|id| !id.is_ok_and(is_uuid)) {
        return fail(Reason::BAD_MESSAGE_ID);
    }
    let push_type = match text(&APNS_PUSH_TYPE) {
        None => None,
        Some(value) => match PUSH_TYPES.iter().find(|(name, _)| value == Ok(*name)) {
            Some(known) => Some(*known),
            None => return fail(Reason::INVALID_PUSH_TYPE),
        },
    };
    let topic = match text(&APNS_TOPIC) {
        None => default_topic.ok_or((Reason::MISSING_TOPIC, None))?,
        Some(Ok(topic)) if is_topic(topic) => topic,
        Some(_) => return fail(Reason::BAD_TOPIC),
    };
    *topic_out = Some(topic.to_owned());
    let bundle = bundle_of(topic);
    if !bundles.is_empty() && !bundles.iter().any(|allowed| allowed == bundle) {
        return fail(Reason::TOPIC_DISALLOWED);
    }
    if push_type.is_some_and(|(_, suffix)| !topic.ends_with(suffix)) {
        return fail(Reason::INVALID_PUSH_TYPE);
    }
    let priority = match text(&APNS_PRIORITY) {
        None => None,
        Some(Ok("10")) => Some(10),
        Some(Ok("5")) => Some(5),
        Some(Ok("1")) => Some(1),
        Some(_) => return fail(Reason::BAD_PRIORITY),
    };
    // Apple: background notifications must use priority 5 (sending 10 is an error).
    if push_type.is_some_and(|(name, _)| name == "background") && priority == Some(10) {
        return fail(Reason::BAD_PRIORITY);
    }
    if text(&APNS_EXPIRATION)
        .is_some_and(|e| !e.is_ok_and(|e| !e.is_empty() && e.len() <= 20 && e.parse::<u64>().is_ok()))
    {
        return fail(Reason::BAD_EXPIRATION_DATE);
    }
    if headers.get(&APNS_COLLAPSE_ID).is_some_and(|id| id.len() > MAX_COLLAPSE_ID) {
        return fail(Reason::BAD_COLLAPSE_ID);
    }
    let voip = push_type.map_or(topic.ends_with(".voip"), |(name, _)| name == "voip");
    check_payload(body, if voip { VOIP_PAYLOAD_LIMIT } else { PAYLOAD_LIMIT })
        .map_err(|reason| (reason, None))?;
    if tables.token_topics.is_empty() && tables.tokens.is_empty() {
        return Ok(());
    }
    let token = token.to_ascii_lowercase();
    if tables.token_topics.get(&token).is_some_and(|registered| registered != bundle) {
        return fail(Reason::DEVICE_TOKEN_NOT_FOR_TOPIC);
    }
    match tables.tokens.get(&token) {
        None => Ok(()),
        Some(TokenFate::Reject(reason)) => fail(reason.clone()),
        Some(TokenFate::Gone(reason, timestamp)) => Err((reason.clone(), Some(*timestamp))),
    }
}

/// PayloadEmpty, PayloadTooLarge, or not a JSON object.
pub(crate) fn check_payload(body: &[u8], limit: usize) -> Result<(), Reason> {
    if body.is_empty() {
        return Err(Reason::PAYLOAD_EMPTY);
    }
    if body.len() > limit {
        return Err(Reason::PAYLOAD_TOO_LARGE);
    }
    let is_object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !is_object || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
        return Err(bad_payload());
    }
    Ok(())
}

/// A topic without the suffix of a push type: the app's bundle id.
pub(crate) fn bundle_of(topic: &str) -> &str {
    PUSH_TYPES
        .iter()
        .filter(|(_, suffix)| !suffix.is_empty())
        .find_map(|(_, suffix)| topic.strip_suffix(suffix))
        .unwrap_or(topic)
}

/// A bundle id, possibly with a suffix: letters, digits, `.`, `-`, `_`.
pub(crate) fn is_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 255
        && topic.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// A UUID in its canonical 8-4-4-4-12 form (either case).
pub(crate) fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_parsers() {
        assert!(is_uuid("123e4567-e89b-12d3-a456-426655440000"));
        assert!(is_uuid("123E4567-E89B-12D3-A456-426655440000"));
        assert!(!is_uuid("123e4567e89b12d3a456426655440000"));
        assert!(!is_uuid("123e4567-e89b-12d3-a456-42665544000g"));
        assert_eq!(bundle_of("com.example.app.voip"), "com.example.app");
        assert_eq!(bundle_of("com.example.app.push-type.liveactivity"), "com.example.app");
        assert_eq!(bundle_of("com.example.app"), "com.example.app");
        assert_eq!(check_payload(b"", 10), Err(Reason::PAYLOAD_EMPTY));
        assert_eq!(check_payload(b"{\"a\":12345}", 10), Err(Reason::PAYLOAD_TOO_LARGE));
        assert_eq!(check_payload(b"[1]", 10), Err(bad_payload()));
        assert_eq!(check_payload(b"{\"a\":", 10), Err(bad_payload()));
        assert_eq!(check_payload(b" {} ", 10), Ok(()));
    }
}
