//! Golden vectors and property tests of requests and responses.

use std::time::{Duration, UNIX_EPOCH};

use apns_h2::{HeaderValue, Indexing, Request};
use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::{Expiry, Payload, PayloadLimit, Priority};

const TOKEN: &str = "00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0";

fn hello() -> crate::EncodedPayload {
    Payload::new().alert("Hello").encode(PayloadLimit::HTTP2).unwrap()
}

const AUTHORITY: HeaderValue = HeaderValue::from_static("api.push.apple.com");

fn names(request: &Request) -> Vec<&str> {
    request.headers().map(|(field, _)| field.name.as_str()).collect()
}

/// The value of `name`, as bytes.
fn header<'a>(request: &'a Request, name: &str) -> Option<&'a [u8]> {
    request.header_value(name).map(HeaderValue::as_bytes)
}

/// Apple's sample request ("Sending notification requests to APNs"), header for header.
#[test]
fn apples_sample_request() {
    let notification = DeviceNotification::builder(TOKEN.parse().unwrap(), PushType::ALERT, hello())
        .id("eabeae54-14a8-11e5-b60b-1697f925ec7b".parse().unwrap())
        .expiration(Expiry::IMMEDIATE)
        .priority(Priority::Immediate)
        .topic(Topic::new("com.example.MyApp").unwrap())
        .build()
        .unwrap();
    let authorization = Authorization::bearer("eyAia2lkIjogIjhZTDNHM1JSWDciIH0.e30.sig").unwrap();
    let request = notification.request(&AUTHORITY, Some(&authorization));
    assert_eq!(request.method().as_bytes(), b"POST");
    assert_eq!(request.authority(), &AUTHORITY);
    assert_eq!(request.path().as_bytes(), format!("/3/device/{TOKEN}").as_bytes());
    let path_indexing = request.fields().nth(3).map(|(_, _, indexing)| indexing);
    assert_eq!(path_indexing, Some(Indexing::WithoutIndexing));
    let expected: [(&str, &[u8], Indexing); 6] = [
        ("authorization", b"bearer eyAia2lkIjogIjhZTDNHM1JSWDciIH0.e30.sig", Indexing::Incremental),
        ("apns-id", b"eabeae54-14a8-11e5-b60b-1697f925ec7b", Indexing::NameOnly),
        ("apns-push-type", b"alert", Indexing::Incremental),
        ("apns-expiration", b"0", Indexing::NameOnly),
        ("apns-priority", b"10", Indexing::Incremental),
        ("apns-topic", b"com.example.MyApp", Indexing::Incremental),
    ];
    assert_eq!(request.headers().count(), expected.len());
    for ((field, indexing), (name, value, expected)) in request.headers().zip(expected) {
        assert_eq!((field.name.as_str(), field.value.as_bytes(), *indexing), (name, value, expected));
    }
    assert_eq!(&request.body_bytes()[..], br#"{"aps":{"alert":"Hello"}}"#);
    let debug = format!("{authorization:?}");
    assert!(!debug.contains("eyAia2lk"), "{debug}");
    assert!(debug.contains("<redacted>"));
}

#[test]
fn certificate_auth_sends_no_authorization_and_optional_headers_only_when_set() {
    let notification =
        DeviceNotification::builder(TOKEN.parse().unwrap(), PushType::ALERT, hello()).build().unwrap();
    assert_eq!(names(&notification.request(&AUTHORITY, None)), ["apns-push-type"]);
}

#[test]
fn hpack_hints_follow_apples_advice() {
    // Unique values: the name enters the table once, the values never (apns-h2's NameOnly).
    let notification = DeviceNotification::builder(TOKEN.parse().unwrap(), PushType::ALERT, hello())
        .collapse_id(CollapseId::new("score").unwrap())
        .expiration(Expiry::from_unix_seconds(1_700_000_000))
        .build()
        .unwrap();
    let request = notification.request(&AUTHORITY, None);
    for (field, indexing) in request.headers() {
        let expected = match field.name.as_str() {
            "apns-id" | "apns-expiration" | "apns-collapse-id" => Indexing::NameOnly,
            _ => Indexing::Incremental,
        };
        assert_eq!(*indexing, expected, "{}", field.name);
    }
    assert_eq!(header(&request, "apns-expiration"), Some(&b"1700000000"[..]));
}

#[test]
fn builder_checks_what_apple_would_reject() {
    let big = Payload::new().alert("x".repeat(4200)).encode(PayloadLimit::VOIP).unwrap();
    let token: HexDeviceToken = TOKEN.parse().unwrap();
    assert!(matches!(
        DeviceNotification::builder(token.clone(), PushType::ALERT, big.clone()).build(),
        Err(RequestError::PayloadTooLarge { limit: 4096, .. })
    ));
    assert!(DeviceNotification::builder(token.clone(), PushType::VOIP, big).build().is_ok());
    assert_eq!(
        DeviceNotification::builder(token.clone(), PushType::BACKGROUND, hello())
            .priority(Priority::Immediate)
            .build(),
        Err(RequestError::BackgroundPriority)
    );
    let background = DeviceNotification::builder(token, PushType::BACKGROUND, hello()).build().unwrap();
    assert_eq!(background.priority(), Some(Priority::PowerConsiderate));
    assert_eq!(header(&background.request(&AUTHORITY, None), "apns-priority"), Some(&b"5"[..]));
}

#[test]
fn ensure_id_generates_once() {
    let mut ids = ApnsIdGenerator::new([9; 16]);
    let mut notification =
        DeviceNotification::builder(TOKEN.parse().unwrap(), PushType::ALERT, hello()).build().unwrap();
    let id = notification.ensure_id(&mut ids);
    assert_eq!(notification.ensure_id(&mut ids), id);
    assert_eq!(header(&notification.request(&AUTHORITY, None), "apns-id"), Some(&id.to_text()[..]));
}

#[test]
fn broadcast_and_channel_requests() {
    let app = BundleId::new("com.example.MyApp").unwrap();
    let channel = ChannelId::new("dHN0LXNyY2gtY2hubA==").unwrap();
    let update = Payload::new().event(crate::LiveActivityEvent::Update).timestamp(1);
    let broadcast =
        BroadcastNotification::new(app.clone(), channel.clone(), update.encode(PayloadLimit::HTTP2).unwrap())
            .unwrap()
            .with_request_id("2288cf3f-70d8-46a6-97d7-dd5d00867127".parse().unwrap())
            .with_expiration(Expiry::IMMEDIATE)
            .with_priority(Priority::PowerConsiderate);
    let request = broadcast.request(&AUTHORITY, None);
    assert_eq!(request.path().as_bytes(), b"/4/broadcasts/apps/com.example.MyApp");
    assert_eq!(
        names(&request),
        ["apns-request-id", "apns-push-type", "apns-channel-id", "apns-expiration", "apns-priority"]
    );
    assert_eq!(header(&request, "apns-push-type"), Some(&b"liveactivity"[..]));
    assert_eq!(header(&request, "apns-channel-id"), Some(&b"dHN0LXNyY2gtY2hubA=="[..]));

    let create =
        ChannelRequest::new(app.clone(), ChannelOperation::Create(MessageStoragePolicy::MOST_RECENT));
    let request = create.request(&AUTHORITY, None);
    assert_eq!(
        (request.method(), request.path().as_bytes()),
        (&Request::POST, &b"/1/apps/com.example.MyApp/channels"[..])
    );
    let body: serde_json::Value = serde_json::from_slice(request.body_bytes()).unwrap();
    assert_eq!(body, serde_json::json!({"message-storage-policy": 1, "push-type": "LiveActivity"}));
    let read =
        ChannelRequest::new(app.clone(), ChannelOperation::Read(channel.clone())).request(&AUTHORITY, None);
    assert_eq!(
        (read.method(), read.header_value("apns-channel-id").is_some(), read.body_bytes().len()),
        (&Request::GET, true, 0)
    );
    let delete =
        ChannelRequest::new(app.clone(), ChannelOperation::Delete(channel)).request(&AUTHORITY, None);
    assert_eq!(delete.method(), &Request::DELETE);
    let list = ChannelRequest::new(app, ChannelOperation::ListAll).request(&AUTHORITY, None);
    assert_eq!(
        (list.method(), list.path().as_bytes()),
        (&Request::GET, &b"/1/apps/com.example.MyApp/all-channels"[..])
    );
}

#[test]
fn responses() {
    let ok = Response::parse(
        200,
        [
            (&b"apns-id"[..], &b"EABEAE54-14A8-11E5-B60B-1697F925EC7B"[..]),
            (b"apns-unique-id", b"a8cf4c61-2e3a-4ff2-8ba7-0eb4e1a1ee6b"),
        ],
        b"",
    );
    assert_eq!(ok.classification(), Classification::Accepted);
    assert_eq!(ok.apns_id.unwrap().to_string(), "eabeae54-14a8-11e5-b60b-1697f925ec7b");
    assert!(ok.apns_unique_id.is_some());

    let gone = Response::parse(410, [], br#"{"reason":"Unregistered","timestamp":1700000000123}"#);
    assert_eq!(gone.token_invalid_since(), Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)));
    assert_eq!(gone.classification(), Classification::Rejected);

    let expired = Response::parse(403, [], br#"{"reason":"ExpiredProviderToken"}"#);
    assert_eq!(expired.classification(), Classification::RefreshToken);
    let busy = Response::parse(429, [(&b"retry-after"[..], &b"120"[..])], br#"{"reason":"TooManyRequests"}"#);
    assert_eq!(busy.classification(), Classification::RetryLater);
    assert_eq!(busy.retry_after, Some(RetryAfter::Delay(Duration::from_secs(120))));

    let unknown = Response::parse(403, [], br#"{"reason":"BrandNewReason"}"#);
    assert_eq!(unknown.reason().map(Reason::as_str), Some("BrandNewReason"));
    assert_eq!(unknown.classification(), Classification::Misconfigured);

    let garbage = Response::parse(503, [], b"<html>");
    assert_eq!((garbage.error.as_ref(), garbage.body_problem), (None, Some(BodyError::NotJson)));
    assert_eq!(garbage.classification(), Classification::RetryLater);

    let created = Response::parse(201, [(&b"apns-channel-id"[..], &b"dHN0LXNyY2gtY2hubA=="[..])], b"");
    assert_eq!(created.channel_id.unwrap().as_str(), "dHN0LXNyY2gtY2hubA==");
}

#[test]
fn goaway_and_channel_bodies() {
    assert_eq!(goaway_reason(br#"{"reason":"Shutdown"}"#), Some(Reason::SHUTDOWN));
    assert_eq!(goaway_reason(b""), None);
    assert_eq!(goaway_reason(b"bye"), None);
    assert_eq!(goaway_reason(br#"{"why":"x"}"#), None);
    assert_eq!(goaway_reason(&[b' '; MAX_ERROR_BODY + 1]), None);
    let config = ChannelConfig::parse(br#"{"message-storage-policy":0,"push-type":"LiveActivity"}"#).unwrap();
    assert_eq!(config.storage, MessageStoragePolicy::NO_STORAGE);
    let list = parse_channel_list(br#"{"channels":["YWJj","bad id!","ZGVm"]}"#).unwrap();
    assert_eq!(list.iter().map(ChannelId::as_str).collect::<Vec<_>>(), ["YWJj", "ZGVm"]);
}

/// Fuzz crash `http2_goaway` crash-b884a0afa6f8658d2de01201098b52fbff63d66b: `["",6]` was read
/// as an error body (serde's derived structs also take arrays), with an empty reason.
#[test]
fn regression_json_arrays_and_empty_reasons_are_not_error_bodies() {
    assert_eq!(goaway_reason(b"[\n\"\",\t\n6]\t"), None);
    assert_eq!(ErrorBody::parse(br#"["Shutdown", 1]"#), Err(BodyError::NotJson));
    assert_eq!(ErrorBody::parse(br#"{"reason":""}"#), Err(BodyError::NoReason));
    assert_eq!(ChannelConfig::parse(br#"[0, "LiveActivity"]"#), Err(BodyError::NotJson));
    assert_eq!(parse_channel_list(br#"[["a"]]"#), Err(BodyError::NotJson));
    assert_eq!(ErrorBody::parse(b"  {\"reason\":\"Shutdown\"}").map(|e| e.reason), Ok(Reason::SHUTDOWN));
}

#[test]
fn retry_after_dates() {
    let at = RetryAfter::parse(b"Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
    assert_eq!(at, RetryAfter::At(UNIX_EPOCH + Duration::from_secs(784_111_777)));
    assert_eq!(at.delay_from(UNIX_EPOCH + Duration::from_secs(784_111_700)), Duration::from_secs(77));
    assert_eq!(at.delay_from(UNIX_EPOCH + Duration::from_secs(900_000_000)), Duration::ZERO);
    for bad in [
        &b""[..],
        b"-1",
        b"1.5",
        b"Sunday, 06-Nov-94 08:49:37 GMT",
        b"Sun, 06 Nov 1994 25:49:37 GMT",
        b"12345678901",
    ] {
        assert_eq!(RetryAfter::parse(bad), None, "{}", String::from_utf8_lossy(bad));
    }
}

/// Formats an IMF-fixdate (the test's own, independent of the parser's arithmetic).
fn imf_fixdate(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (mut days, secs) = (unix / 86_400, unix % 86_400);
    let weekday = DAYS[(days % 7) as usize];
    let mut year = 1970;
    loop {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let len = if leap { 366 } else { 365 };
        if days < len {
            let lengths = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            let mut month = 0;
            while days >= lengths[month] {
                days -= lengths[month];
                month += 1;
            }
            return format!(
                "{weekday}, {:02} {} {year} {:02}:{:02}:{:02} GMT",
                days + 1,
                MONTHS[month],
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            );
        }
        days -= len;
        year += 1;
    }
}

fn push_type() -> impl Strategy<Value = PushType> {
    prop_oneof![
        proptest::sample::select(PushType::KNOWN.to_vec()),
        "[a-z][a-z0-9-]{0,20}".prop_map(|name| PushType::new(&name).unwrap()),
    ]
}

fn priority() -> impl Strategy<Value = Priority> {
    proptest::sample::select(vec![Priority::Immediate, Priority::PowerConsiderate, Priority::Low])
}

proptest! {
    /// Every header of any notification is a valid HTTP/2 field (lowercase name, visible ASCII
    /// value), appears once, and reads back as the field it was made from.
    #[test]
    fn request_headers_read_back(
        token in proptest::collection::vec(any::<u8>(), 1..=100),
        push_type in push_type(),
        id in proptest::option::of(any::<u128>()),
        expiry in proptest::option::of(any::<u32>()),
        priority in proptest::option::of(priority()),
        topic in proptest::option::of("[!-~]{1,80}"),
        collapse in proptest::option::of("[!-~][ -~]{0,62}[!-~]"),
        jwt in proptest::option::of("[A-Za-z0-9_-]{10,40}\\.[A-Za-z0-9_-]{10,40}\\.[A-Za-z0-9_-]{10,90}"),
    ) {
        let token = HexDeviceToken::from_bytes(&token).unwrap();
        let mut builder = DeviceNotification::builder(token.clone(), push_type.clone(), hello());
        if let Some(id) = id { builder = builder.id(ApnsId::from_u128(id)); }
        if let Some(expiry) = expiry { builder = builder.expiration(Expiry::from_unix_seconds(expiry)); }
        if let Some(priority) = priority { builder = builder.priority(priority); }
        if let Some(topic) = &topic { builder = builder.topic(Topic::new(topic).unwrap()); }
        if let Some(collapse) = &collapse { builder = builder.collapse_id(CollapseId::new(collapse).unwrap()); }
        let notification = match builder.build() {
            Ok(notification) => notification,
            Err(RequestError::BackgroundPriority) => {
                prop_assert!(push_type == PushType::BACKGROUND && priority == Some(Priority::Immediate));
                return Ok(());
            }
            Err(other) => return Err(TestCaseError::fail(other.to_string())),
        };
        let authorization = jwt.as_deref().map(|jwt| Authorization::bearer(jwt).unwrap());
        let request = notification.request(&AUTHORITY, authorization.as_ref());
        let path = format!("/3/device/{token}");
        prop_assert_eq!(request.path().as_bytes(), path.as_bytes());
        let mut seen = std::collections::HashSet::new();
        for (field, _) in request.headers() {
            let (name, value) = (field.name.as_str(), field.value.as_bytes());
            prop_assert!(seen.insert(name), "{} twice", name);
            prop_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
            prop_assert!(!value.is_empty());
            prop_assert!(value.iter().all(|&b| b == b' ' || b.is_ascii_graphic()));
            prop_assert!(value[0] != b' ' && value[value.len() - 1] != b' ');
        }
        prop_assert_eq!(header(&request, "apns-id").map(|v| ApnsId::parse(v).unwrap()), id.map(ApnsId::from_u128));
        prop_assert_eq!(header(&request, "apns-push-type"), Some(push_type.as_str().as_bytes()));
        prop_assert_eq!(
            header(&request, "apns-expiration").map(|v| std::str::from_utf8(v).unwrap().parse::<u32>().unwrap()),
            expiry
        );
        prop_assert_eq!(header(&request, "apns-priority").and_then(Priority::from_header_value), notification.priority());
        prop_assert_eq!(header(&request, "apns-topic"), topic.as_deref().map(str::as_bytes));
        prop_assert_eq!(header(&request, "apns-collapse-id"), collapse.as_deref().map(str::as_bytes));
        let expected_auth = jwt.as_ref().map(|jwt| format!("bearer {jwt}"));
        prop_assert_eq!(header(&request, "authorization"), expected_auth.as_deref().map(str::as_bytes));
        prop_assert_eq!(request.body_bytes().clone(), Bytes::from_static(br#"{"aps":{"alert":"Hello"}}"#));
    }

    /// Any error body serde_json writes reads back; documented reasons keep their class.
    #[test]
    fn error_bodies_read_back(reason in "[ -~]{1,128}", timestamp in proptest::option::of(any::<u64>()), status in 400u16..600) {
        let mut body = serde_json::json!({ "reason": reason });
        if let Some(timestamp) = timestamp { body["timestamp"] = timestamp.into(); }
        let response = Response::parse(status, [], &serde_json::to_vec(&body).unwrap());
        let error = response.error.clone().unwrap();
        prop_assert_eq!(error.reason.as_str(), reason.as_str());
        prop_assert_eq!(error.timestamp_ms, timestamp);
        let expected = Reason::new(&reason).classification().unwrap_or_else(|| classify_status(status));
        prop_assert_eq!(response.classification(), expected);
    }

    /// Any bytes, in any header and body: parsing returns, never panics.
    #[test]
    fn any_response_bytes_parse(
        status in any::<u16>(),
        headers in proptest::collection::vec((
            proptest::sample::select(vec!["apns-id", "apns-unique-id", "apns-request-id", "apns-channel-id", "retry-after", "x"]),
            proptest::collection::vec(any::<u8>(), 0..64)), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let response = Response::parse(status, headers.iter().map(|(n, v)| (n.as_bytes(), &v[..])), &body);
        let _ = response.classification();
        let _ = goaway_reason(&body);
    }

    /// IMF-fixdates of any time from 1970 to 9999 parse to that time.
    #[test]
    fn retry_after_dates_round_trip(unix in 0u64..253_402_300_799) {
        let text = imf_fixdate(unix);
        prop_assert_eq!(RetryAfter::parse(text.as_bytes()), Some(RetryAfter::At(UNIX_EPOCH + Duration::from_secs(unix))), "{}", text);
    }
}
