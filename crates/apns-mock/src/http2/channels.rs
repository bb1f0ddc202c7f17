//! Broadcast push (iOS 18 Live Activities): `POST /4/broadcasts/apps/<bundle id>` with
//! `apns-channel-id`, and the channel-management API Apple serves on
//! `api-manage-broadcast[.sandbox].push.apple.com` (the mock serves it on the same listener):
//! `POST`, `GET`, `DELETE /1/apps/<bundle id>/channels` and `GET /1/apps/<bundle id>/all-channels`.
//! Pure functions of the request and the channel table, as in `request`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use http::{HeaderMap, Method};

use super::request::{check_payload, duplicate_headers, is_topic, is_uuid, Credentials, PAYLOAD_LIMIT};
use super::Reason;
use crate::rng::Rng;

/// The path prefix of broadcast notifications.
pub(crate) const BROADCAST_PREFIX: &str = "/4/broadcasts/apps/";
/// The path prefix of channel management.
pub(crate) const MANAGE_PREFIX: &str = "/1/apps/";
/// The most channels one app may have (Apple: 10,000 per environment).
pub const MAX_CHANNELS: usize = 10_000;
/// The most apps with channels the mock keeps (bounds memory when any topic is allowed).
const MAX_APPS: usize = 64;
/// The longest `apns-channel-id` accepted.
const MAX_CHANNEL_ID: usize = 256;

/// The headers a broadcast or channel request may carry only once.
const SINGLE_HEADERS: [&str; 6] = [
    "authorization",
    "apns-request-id",
    "apns-channel-id",
    "apns-push-type",
    "apns-priority",
    "apns-expiration",
];

/// The channels of every app, shared by all connections.
#[derive(Debug)]
pub(crate) struct Channels {
    table: Mutex<Table>,
}

#[derive(Debug)]
struct Table {
    /// Per bundle id: channel id → message storage policy.
    apps: HashMap<String, BTreeMap<String, u8>>,
    max_per_app: usize,
    rng: Rng,
}

impl Channels {
    /// An empty table allowing `max_per_app` channels per app; channel ids drawn from `seed`.
    pub(crate) fn new(max_per_app: usize, seed: u64) -> Self {
        Self { table: Mutex::new(Table { apps: HashMap::new(), max_per_app, rng: Rng::new(seed, u64::MAX) }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The storage policy of `channel` of `bundle`, if it exists.
    fn policy(&self, bundle: &str, channel: &str) -> Option<u8> {
        self.lock().apps.get(bundle).and_then(|channels| channels.get(channel)).copied()
    }
}

/// What a successful channel request answers: the status, `apns-channel-id` and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) channel_id: Option<String>,
    pub(crate) body: Option<String>,
}

impl Reply {
    /// 200, nothing else: a device notification's or a broadcast's answer.
    pub(crate) const OK: Self = Self { status: 200, channel_id: None, body: None };
}

/// Whether `path` is a broadcast or channel-management request.
pub(crate) fn is_channel_api(path: &str) -> bool {
    path.starts_with(BROADCAST_PREFIX) || path.starts_with(MANAGE_PREFIX)
}

type Checked<T> = Result<T, Reason>;

/// A broadcast notification: checks the request against Apple's rules and the channel table.
/// `credentials` authenticates the request and says which bundle ids it may use.
pub(crate) fn broadcast<'a>(
    method: &Method,
    bundle: &str,
    headers: &HeaderMap,
    body: &[u8],
    channels: &Channels,
    credentials: impl FnOnce() -> Checked<Credentials<'a>>,
) -> Checked<()> {
    if method != Method::POST {
        return Err(Reason::METHOD_NOT_ALLOWED);
    }
    if !is_topic(bundle) {
        return Err(Reason::BAD_PATH);
    }
    common_checks(headers, bundle, credentials)?;
    let channel = channel_id(headers)?;
    let text = |name: &str| headers.get(name).map(|value| value.to_str().unwrap_or("\u{0}"));
    match text("apns-push-type") {
        None => return Err(Reason::MISSING_PUSH_TYPE),
        Some("liveactivity") => {}
        Some(_) => return Err(Reason::INVALID_PUSH_TYPE),
    }
    if !matches!(text("apns-priority"), None | Some("10" | "5" | "1")) {
        return Err(Reason::BAD_PRIORITY);
    }
    let expiration = match text("apns-expiration") {
        None => None,
        Some(e) => Some(e.parse::<u64>().map_err(|_| Reason::BAD_EXPIRATION_DATE)?),
    };
    let policy = channels.policy(bundle, channel).ok_or(Reason::CHANNEL_NOT_REGISTERED)?;
    // Apple: a channel that stores no message takes only an expiration of 0.
    if policy == 0 && expiration.is_some_and(|e| e != 0) {
        return Err(Reason::BAD_EXPIRATION_DATE);
    }
    check_payload(body, PAYLOAD_LIMIT)
}

/// A channel-management request (`path` starts with [`MANAGE_PREFIX`]).
pub(crate) fn manage<'a>(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    channels: &Channels,
    credentials: impl FnOnce() -> Checked<Credentials<'a>>,
) -> Checked<Reply> {
    let rest = path.strip_prefix(MANAGE_PREFIX).unwrap_or_default();
    let (bundle, resource) = rest.split_once('/').ok_or(Reason::BAD_PATH)?;
    if !is_topic(bundle) || !matches!(resource, "channels" | "all-channels") {
        return Err(Reason::BAD_PATH);
    }
    let allowed = match resource {
        "channels" => [Method::POST, Method::GET, Method::DELETE].contains(method),
        _ => method == Method::GET,
    };
    if !allowed {
        return Err(Reason::METHOD_NOT_ALLOWED);
    }
    common_checks(headers, bundle, credentials)?;
    if resource == "all-channels" {
        let table = channels.lock();
        let ids: Vec<&String> = table.apps.get(bundle).map(|c| c.keys().collect()).unwrap_or_default();
        let body = serde_json::json!({ "channels": ids }).to_string();
        return Ok(Reply { status: 200, channel_id: None, body: Some(body) });
    }
    if *method == Method::POST {
        let policy = creation(body)?;
        let mut table = channels.lock();
        let table = &mut *table;
        if !table.apps.contains_key(bundle) && table.apps.len() >= MAX_APPS {
            return Err(Reason::CANNOT_CREATE_CHANNEL_CONFIG);
        }
        let app = table.apps.entry(bundle.to_owned()).or_default();
        if app.len() >= table.max_per_app {
            return Err(Reason::CANNOT_CREATE_CHANNEL_CONFIG);
        }
        let id = loop {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&table.rng.next_u64().to_le_bytes());
            bytes[8..].copy_from_slice(&table.rng.next_u64().to_le_bytes());
            let id = base64::engine::general_purpose::STANDARD.encode(bytes);
            if !app.contains_key(&id) {
                break id;
            }
        };
        app.insert(id.clone(), policy);
        return Ok(Reply { status: 201, channel_id: Some(id), body: None });
    }
    let channel = channel_id(headers)?;
    let mut table = channels.lock();
    let app = table.apps.get_mut(bundle);
    if *method == Method::GET {
        let policy = app.and_then(|app| app.get(channel)).ok_or(Reason::BAD_PATH)?;
        let body = serde_json::json!({ "message-storage-policy": policy, "push-type": "LiveActivity" });
        return Ok(Reply { status: 200, channel_id: Some(channel.to_owned()), body: Some(body.to_string()) });
    }
    app.and_then(|app| app.remove(channel)).ok_or(Reason::BAD_PATH)?;
    Ok(Reply { status: 204, channel_id: None, body: None })
}

/// Duplicate headers, a malformed `apns-request-id`, the credentials and the bundle id.
fn common_checks<'a>(
    headers: &HeaderMap,
    bundle: &str,
    credentials: impl FnOnce() -> Checked<Credentials<'a>>,
) -> Checked<()> {
    if duplicate_headers(headers, SINGLE_HEADERS) {
        return Err(Reason::DUPLICATE_HEADERS);
    }
    let bundles = credentials()?.bundles;
    if !bundles.is_empty() && !bundles.iter().any(|allowed| allowed == bundle) {
        return Err(Reason::TOPIC_MISMATCH);
    }
    if headers.get("apns-request-id").is_some_and(|id| !id.to_str().is_ok_and(is_uuid)) {
        return Err(Reason::BAD_MESSAGE_ID);
    }
    Ok(())
}

/// The `apns-channel-id` header: base64 text of at most [`MAX_CHANNEL_ID`] characters.
fn channel_id(headers: &HeaderMap) -> Checked<&str> {
    let value = headers.get("apns-channel-id").ok_or(Reason::MISSING_CHANNEL_ID)?;
    let text = value.to_str().map_err(|_| Reason::BAD_CHANNEL_ID)?;
    let base64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_');
    if text.is_empty() || text.len() > MAX_CHANNEL_ID || !text.bytes().all(base64) {
        return Err(Reason::BAD_CHANNEL_ID);
    }
    Ok(text)
}

/// The body of a channel creation: `{"message-storage-policy": 0|1, "push-type": "LiveActivity"}`.
fn creation(body: &[u8]) -> Checked<u8> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Err(Reason::BAD_REQUEST_PAYLOAD);
    };
    if fields.keys().any(|key| !matches!(key.as_str(), "message-storage-policy" | "push-type")) {
        return Err(Reason::BAD_REQUEST_PARAMS);
    }
    match fields.get("push-type") {
        None => return Err(Reason::MISSING_PUSH_TYPE),
        Some(push_type) if push_type == "LiveActivity" => {}
        Some(_) => return Err(Reason::INVALID_PUSH_TYPE),
    }
    match fields.get("message-storage-policy").and_then(serde_json::Value::as_u64) {
        Some(policy @ (0 | 1)) => Ok(policy as u8),
        _ => Err(Reason::BAD_REQUEST_PARAMS),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn any() -> Checked<Credentials<'static>> {
        Ok(Credentials { bundles: &[] })
    }

    const CREATE: &[u8] = br#"{"message-storage-policy":1,"push-type":"LiveActivity"}"#;
    const APP: &str = "/1/apps/com.example.app/channels";

    #[test]
    fn create_read_list_delete() {
        let channels = Channels::new(2, 7);
        let create = |body: &[u8]| manage(&Method::POST, APP, &HeaderMap::new(), body, &channels, any);
        let created = create(CREATE).unwrap();
        assert_eq!(created.status, 201);
        let id = created.channel_id.unwrap();
        assert_eq!(id.len(), 24, "{id}");
        let with_id = headers(&[("apns-channel-id", &id)]);
        let read = manage(&Method::GET, APP, &with_id, b"", &channels, any).unwrap();
        assert_eq!(read.body.as_deref(), Some(r#"{"message-storage-policy":1,"push-type":"LiveActivity"}"#));
        let list = manage(
            &Method::GET,
            "/1/apps/com.example.app/all-channels",
            &HeaderMap::new(),
            b"",
            &channels,
            any,
        )
        .unwrap();
        assert_eq!(list.body.unwrap(), format!(r#"{{"channels":["{id}"]}}"#));
        create(br#"{"message-storage-policy":0,"push-type":"LiveActivity"}"#).unwrap();
        assert_eq!(create(CREATE), Err(Reason::CANNOT_CREATE_CHANNEL_CONFIG));
        assert_eq!(manage(&Method::DELETE, APP, &with_id, b"", &channels, any).unwrap().status, 204);
        assert_eq!(manage(&Method::DELETE, APP, &with_id, b"", &channels, any), Err(Reason::BAD_PATH));
        assert_eq!(manage(&Method::GET, APP, &with_id, b"", &channels, any), Err(Reason::BAD_PATH));
    }

    #[test]
    fn management_reasons() {
        let channels = Channels::new(10, 1);
        let post = |body: &[u8]| manage(&Method::POST, APP, &HeaderMap::new(), body, &channels, any);
        assert_eq!(post(b"{"), Err(Reason::BAD_REQUEST_PAYLOAD));
        assert_eq!(post(br#"{"push-type":"LiveActivity","colour":1}"#), Err(Reason::BAD_REQUEST_PARAMS));
        assert_eq!(post(br#"{"message-storage-policy":0}"#), Err(Reason::MISSING_PUSH_TYPE));
        assert_eq!(
            post(br#"{"message-storage-policy":2,"push-type":"LiveActivity"}"#),
            Err(Reason::BAD_REQUEST_PARAMS)
        );
        let get = |path: &str, headers: &HeaderMap| manage(&Method::GET, path, headers, b"", &channels, any);
        assert_eq!(get(APP, &HeaderMap::new()), Err(Reason::MISSING_CHANNEL_ID));
        assert_eq!(get(APP, &headers(&[("apns-channel-id", "not base64!")])), Err(Reason::BAD_CHANNEL_ID));
        assert_eq!(get("/1/apps/com.example.app/other", &HeaderMap::new()), Err(Reason::BAD_PATH));
        assert_eq!(
            manage(&Method::PUT, APP, &HeaderMap::new(), b"", &channels, any),
            Err(Reason::METHOD_NOT_ALLOWED)
        );
        let allowed = ["com.example.other".to_owned()];
        let other = || Ok(Credentials { bundles: &allowed });
        assert_eq!(
            manage(&Method::POST, APP, &HeaderMap::new(), CREATE, &channels, other),
            Err(Reason::TOPIC_MISMATCH)
        );
        let refused = || Err(Reason::MISSING_PROVIDER_TOKEN);
        assert_eq!(
            manage(&Method::POST, APP, &HeaderMap::new(), CREATE, &channels, refused),
            Err(Reason::MISSING_PROVIDER_TOKEN)
        );
        assert_eq!(
            get(APP, &headers(&[("apns-request-id", "x"), ("apns-channel-id", "AAAA")])),
            Err(Reason::BAD_MESSAGE_ID)
        );
    }

    #[test]
    fn broadcasts() {
        let channels = Channels::new(10, 3);
        let stored = manage(&Method::POST, APP, &HeaderMap::new(), CREATE, &channels, any)
            .unwrap()
            .channel_id
            .unwrap();
        let body = br#"{"message-storage-policy":0,"push-type":"LiveActivity"}"#;
        let live =
            manage(&Method::POST, APP, &HeaderMap::new(), body, &channels, any).unwrap().channel_id.unwrap();
        let send = |pairs: &[(&'static str, &str)]| {
            broadcast(&Method::POST, "com.example.app", &headers(pairs), br#"{"aps":{}}"#, &channels, any)
        };
        let push = ("apns-push-type", "liveactivity");
        assert_eq!(send(&[push, ("apns-channel-id", &stored), ("apns-expiration", "1700000000")]), Ok(()));
        assert_eq!(send(&[push, ("apns-channel-id", &live), ("apns-expiration", "0")]), Ok(()));
        assert_eq!(
            send(&[push, ("apns-channel-id", &live), ("apns-expiration", "5")]),
            Err(Reason::BAD_EXPIRATION_DATE)
        );
        assert_eq!(send(&[push]), Err(Reason::MISSING_CHANNEL_ID));
        assert_eq!(send(&[push, ("apns-channel-id", "a b")]), Err(Reason::BAD_CHANNEL_ID));
        assert_eq!(
            send(&[push, ("apns-channel-id", "dHN0LXNyY2gtY2hubA==")]),
            Err(Reason::CHANNEL_NOT_REGISTERED)
        );
        assert_eq!(send(&[("apns-channel-id", &stored)]), Err(Reason::MISSING_PUSH_TYPE));
        assert_eq!(
            send(&[("apns-push-type", "alert"), ("apns-channel-id", &stored)]),
            Err(Reason::INVALID_PUSH_TYPE)
        );
        assert_eq!(
            send(&[push, ("apns-channel-id", &stored), ("apns-channel-id", &stored)]),
            Err(Reason::DUPLICATE_HEADERS)
        );
        let elsewhere = broadcast(
            &Method::POST,
            "com.example.other",
            &headers(&[push, ("apns-channel-id", &stored)]),
            b"{}",
            &channels,
            any,
        );
        assert_eq!(elsewhere, Err(Reason::CHANNEL_NOT_REGISTERED));
        assert_eq!(
            broadcast(&Method::GET, "com.example.app", &HeaderMap::new(), b"", &channels, any),
            Err(Reason::METHOD_NOT_ALLOWED)
        );
    }
}
