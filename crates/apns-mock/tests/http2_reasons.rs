//! Every documented rule of a notification request, each broken once, with a minimal h2 client:
//! the mock answers with Apple's status and reason, echoes `apns-id` exactly, and records it.

mod http2_common;

use std::time::Duration;

use apns_mock::http2::{Http2Mock, Http2Outcome, Reason};
use http2_common::*;

const REJECTED: &str = "ee00000000000000000000000000000000000000000000000000000000000bad";
const GONE: &str = "dd000000000000000000000000000000000000000000000000000000000000dd";
const EXPIRED: &str = "cc000000000000000000000000000000000000000000000000000000000000cc";
const OTHER_APP: &str = "aa000000000000000000000000000000000000000000000000000000000000aa";

#[test]
fn every_request_rule_gets_apples_status_and_reason() {
    let setup = Setup::new();
    let mock = Http2Mock::start(
        setup
            .config()
            .reject(REJECTED, Reason::BAD_DEVICE_TOKEN)
            .unregistered(GONE, 1_700_000_000_123)
            .expired_token(EXPIRED, 1_600_000_000_000)
            .token_topic(OTHER_APP, "com.example.other")
            .topic("com.example.other"),
    )
    .unwrap();
    let token = setup.token();
    let good = || Req::push(Some(&token));
    let long = |n: usize| format!("{{\"aps\":{{}},\"x\":\"{}\"}}", "a".repeat(n - 17));
    assert_eq!(long(100).len(), 100);
    let cases: Vec<(&str, Req, u16, Option<&str>)> = vec![
        ("valid", good(), 200, None),
        ("uppercase token", good().path(format!("/3/device/{}", TOKEN.to_uppercase())), 200, None),
        ("GET", good().method("GET"), 405, Some("MethodNotAllowed")),
        ("PUT", good().method("PUT"), 405, Some("MethodNotAllowed")),
        ("other path", good().path("/3/devices/abc"), 404, Some("BadPath")),
        ("version 2", good().path(format!("/2/device/{TOKEN}")), 404, Some("BadPath")),
        ("no token", good().path("/3/device/"), 400, Some("MissingDeviceToken")),
        ("not hex", good().path("/3/device/zz"), 400, Some("BadDeviceToken")),
        ("odd length", good().path("/3/device/abc"), 400, Some("BadDeviceToken")),
        ("duplicate topic", good().header("apns-topic", TOPIC), 400, Some("DuplicateHeaders")),
        (
            "duplicate id",
            good()
                .header("apns-id", "123e4567-e89b-12d3-a456-426655440000")
                .header("apns-id", "123e4567-e89b-12d3-a456-426655440000"),
            400,
            Some("DuplicateHeaders"),
        ),
        ("no topic", good().without("apns-topic"), 400, Some("MissingTopic")),
        (
            "bad topic",
            good().without("apns-topic").header("apns-topic", "com example"),
            400,
            Some("BadTopic"),
        ),
        (
            "foreign topic",
            good().without("apns-topic").header("apns-topic", "com.other.app"),
            400,
            Some("TopicDisallowed"),
        ),
        ("unknown push type", good().header("apns-push-type", "bogus"), 400, Some("InvalidPushType")),
        ("voip without .voip", good().header("apns-push-type", "voip"), 400, Some("InvalidPushType")),
        (
            "liveactivity without suffix",
            good().header("apns-push-type", "liveactivity"),
            400,
            Some("InvalidPushType"),
        ),
        (
            "voip",
            good()
                .without("apns-topic")
                .header("apns-topic", "com.example.mock.voip")
                .header("apns-push-type", "voip"),
            200,
            None,
        ),
        (
            "liveactivity",
            good()
                .without("apns-topic")
                .header("apns-topic", "com.example.mock.push-type.liveactivity")
                .header("apns-push-type", "liveactivity"),
            200,
            None,
        ),
        ("alert", good().header("apns-push-type", "alert").header("apns-priority", "10"), 200, None),
        (
            "background 5",
            good().header("apns-push-type", "background").header("apns-priority", "5"),
            200,
            None,
        ),
        (
            "background 10",
            good().header("apns-push-type", "background").header("apns-priority", "10"),
            400,
            Some("BadPriority"),
        ),
        ("priority 7", good().header("apns-priority", "7"), 400, Some("BadPriority")),
        ("priority 1", good().header("apns-priority", "1"), 200, None),
        ("expiration", good().header("apns-expiration", "0"), 200, None),
        ("bad expiration", good().header("apns-expiration", "soon"), 400, Some("BadExpirationDate")),
        ("negative expiration", good().header("apns-expiration", "-1"), 400, Some("BadExpirationDate")),
        ("collapse 64", good().header("apns-collapse-id", &"c".repeat(64)), 200, None),
        ("collapse 65", good().header("apns-collapse-id", &"c".repeat(65)), 400, Some("BadCollapseId")),
        ("bad apns-id", good().header("apns-id", "not-a-uuid"), 400, Some("BadMessageId")),
        ("empty body", good().body(Vec::new()), 400, Some("PayloadEmpty")),
        ("4096 bytes", good().body(long(4096)), 200, None),
        ("4097 bytes", good().body(long(4097)), 413, Some("PayloadTooLarge")),
        (
            "voip 5120",
            good()
                .without("apns-topic")
                .header("apns-topic", "com.example.mock.voip")
                .header("apns-push-type", "voip")
                .body(long(5120)),
            200,
            None,
        ),
        (
            "voip 5121",
            good()
                .without("apns-topic")
                .header("apns-topic", "com.example.mock.voip")
                .header("apns-push-type", "voip")
                .body(long(5121)),
            413,
            Some("PayloadTooLarge"),
        ),
        ("huge body", good().body(vec![b' '; 100_000]), 413, Some("PayloadTooLarge")),
        ("array body", good().body("[1,2]"), 400, Some("BadPayload")),
        ("broken json", good().body("{\"aps\":"), 400, Some("BadPayload")),
        ("rejected token", good().path(format!("/3/device/{REJECTED}")), 400, Some("BadDeviceToken")),
        ("unregistered", good().path(format!("/3/device/{GONE}")), 410, Some("Unregistered")),
        ("expired token", good().path(format!("/3/device/{EXPIRED}")), 410, Some("ExpiredToken")),
        (
            "token of another app",
            good().path(format!("/3/device/{OTHER_APP}")),
            400,
            Some("DeviceTokenNotForTopic"),
        ),
        (
            "token of that app",
            good()
                .path(format!("/3/device/{OTHER_APP}"))
                .without("apns-topic")
                .header("apns-topic", "com.example.other"),
            200,
            None,
        ),
    ];
    let mut client = Client::connect(mock.addr(), setup.tls(false)).unwrap();
    for (name, req, status, reason) in &cases {
        let response = client.send(req.clone()).unwrap();
        assert_eq!((response.status, response.reason().as_deref()), (*status, *reason), "{name}");
        let id = response.apns_id().unwrap_or_else(|| panic!("{name}: no apns-id"));
        assert!(id.len() == 36, "{name}: {id}");
        if *status == 410 {
            let expected = if name.contains("expired") { 1_600_000_000_000u64 } else { 1_700_000_000_123 };
            assert_eq!(response.json()["timestamp"], expected, "{name}");
        } else {
            assert!(response.json().get("timestamp").is_none(), "{name}");
        }
        if *status == 200 {
            assert!(response.body.is_empty(), "{name}");
        } else {
            assert_eq!(response.headers["content-type"], "application/json");
        }
    }
    let records = mock.records();
    assert_eq!(records.len(), cases.len());
    for (record, (name, _, status, reason)) in records.iter().zip(&cases) {
        assert_eq!(record.status, Some(*status), "{name}");
        assert_eq!(record.reason.as_ref().map(Reason::as_str), *reason, "{name}");
        let outcome = if *status == 200 { Http2Outcome::Accepted } else { Http2Outcome::Rejected };
        assert_eq!(record.outcome, outcome, "{name}");
        assert!(record.processed());
        assert_eq!(record.conn, 1);
    }
    let stats = mock.stop();
    assert_eq!(stats.requests, cases.len() as u64);
    assert_eq!(stats.accepted, cases.iter().filter(|c| c.2 == 200).count() as u64);
    assert_eq!(stats.token_verifications, 1, "one token, verified once for the whole connection");
}

#[test]
fn apns_id_is_echoed_exactly_or_generated_and_the_sandbox_adds_a_unique_id() {
    let setup = Setup::new();
    let mock = Http2Mock::start(setup.config().sandbox(true)).unwrap();
    let token = setup.token();
    let mut client = Client::connect(mock.addr(), setup.tls(false)).unwrap();
    for id in ["123e4567-e89b-12d3-a456-426655440000", "ABCDEF01-2345-6789-ABCD-EF0123456789"] {
        let response = client.send(Req::push(Some(&token)).header("apns-id", id)).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.apns_id().as_deref(), Some(id));
        let unique = response.headers["apns-unique-id"].to_str().unwrap().to_owned();
        assert!(unique.len() == 36 && unique != id);
    }
    let generated = client.send(Req::push(Some(&token))).unwrap();
    let id = generated.apns_id().unwrap();
    assert_eq!((id.len(), &id[14..15]), (36, "4"), "{id}");
    let rejected = client
        .send(Req::push(Some(&token)).header("apns-id", "123e4567-e89b-12d3-a456-426655440000").body(""))
        .unwrap();
    assert_eq!(rejected.apns_id().as_deref(), Some("123e4567-e89b-12d3-a456-426655440000"));
    assert!(rejected.headers.get("apns-unique-id").is_none(), "only successes have a unique id");
    let records = mock.records();
    assert_eq!(records[2].apns_id.as_deref(), Some(id.as_str()));
    assert!(records[0].unique_id.is_some());
    drop(mock);

    // Production sends no apns-unique-id.
    let mock = Http2Mock::start(setup.config()).unwrap();
    let mut client = Client::connect(mock.addr(), setup.tls(false)).unwrap();
    let response = client.send(Req::push(Some(&token))).unwrap();
    assert!(response.headers.get("apns-unique-id").is_none());
}

#[test]
fn provider_token_rules() {
    let setup = Setup::new();
    let second = apns_mock::certs::ProviderKey::generate().unwrap();
    let second_kid = second.key_id.clone();
    let mock = Http2Mock::start(
        setup
            .config()
            .provider_key(&second_kid, &setup.key.team_id, second.public_key())
            .token_min_refresh(Duration::from_secs(1200)),
    )
    .unwrap();
    let key = &setup.key;
    let now = unix_now();
    let expect = |token: Option<&str>, status: u16, reason: Option<&str>| {
        let mut client = Client::connect(mock.addr(), setup.tls(false)).unwrap();
        let response = client.send(Req::push(token)).unwrap();
        assert_eq!((response.status, response.reason().as_deref()), (status, reason), "{token:?}");
    };
    expect(None, 403, Some("MissingProviderToken"));
    expect(Some("not.a.jwt"), 403, Some("InvalidProviderToken"));
    expect(Some(&sign(key, "UNKNOWNKID", &key.team_id, now)), 403, Some("InvalidProviderToken"));
    expect(Some(&sign(key, &key.key_id, "OTHERTEAM0", now)), 403, Some("InvalidProviderToken"));
    expect(Some(&sign(&second, &key.key_id, &key.team_id, now)), 403, Some("InvalidProviderToken"));
    expect(Some(&sign(key, &key.key_id, &key.team_id, now - 3601)), 403, Some("ExpiredProviderToken"));
    expect(Some(&sign(key, &key.key_id, &key.team_id, now + 3600)), 403, Some("InvalidProviderToken"));
    expect(Some(&sign(key, &key.key_id, &key.team_id, now - 3500)), 200, None);

    // On one connection: bound to the first key; a second token within 20 minutes is refused
    // and the first goes on working.
    let mut client = Client::connect(mock.addr(), setup.tls(false)).unwrap();
    let first = sign(key, &key.key_id, &key.team_id, now - 10);
    assert_eq!(client.send(Req::push(Some(&first))).unwrap().status, 200);
    let other_key = sign(&second, &second_kid, &key.team_id, now);
    let response = client.send(Req::push(Some(&other_key))).unwrap();
    assert_eq!((response.status, response.reason().as_deref()), (403, Some("UnrelatedKeyIdInToken")));
    let refreshed = sign(key, &key.key_id, &key.team_id, now);
    let response = client.send(Req::push(Some(&refreshed))).unwrap();
    assert_eq!((response.status, response.reason().as_deref()), (429, Some("TooManyProviderTokenUpdates")));
    assert_eq!(client.send(Req::push(Some(&first))).unwrap().status, 200);
    // Another connection may start with the other key.
    let mut other = Client::connect(mock.addr(), setup.tls(false)).unwrap();
    assert_eq!(other.send(Req::push(Some(&other_key))).unwrap().status, 200);
    let records = mock.records();
    assert_eq!(records.last().unwrap().key_id.as_deref(), Some(second_kid.as_str()));
    assert!(records.iter().all(|r| r.headers.iter().all(|(n, v)| n != "authorization" || v == "<redacted>")));
    drop(mock);

    // With a short refresh interval (tests need not wait 20 minutes) the new token is taken.
    let mock = Http2Mock::start(setup.config().token_min_refresh(Duration::ZERO)).unwrap();
    let mut client = Client::connect(mock.addr(), setup.tls(false)).unwrap();
    assert_eq!(client.send(Req::push(Some(&first))).unwrap().status, 200);
    assert_eq!(client.send(Req::push(Some(&refreshed))).unwrap().status, 200);
    assert_eq!(mock.stop().token_verifications, 2);
}

#[test]
fn certificate_auth_allows_the_bundle_it_names() {
    let setup = Setup::new();
    let mock = Http2Mock::start(setup.config()).unwrap();
    let mut client = Client::connect(mock.addr(), setup.tls(true)).unwrap();
    // No authorization needed; a stale one is ignored, as Apple ignores it with a certificate.
    assert_eq!(client.send(Req::push(None)).unwrap().status, 200);
    assert_eq!(client.send(Req::push(Some("garbage"))).unwrap().status, 200);
    // A certificate for one bundle id needs no topic.
    assert_eq!(client.send(Req::push(None).without("apns-topic")).unwrap().status, 200);
    let voip = Req::push(None)
        .without("apns-topic")
        .header("apns-topic", "com.example.mock.voip")
        .header("apns-push-type", "voip");
    assert_eq!(client.send(voip).unwrap().status, 200);
    let response =
        client.send(Req::push(None).without("apns-topic").header("apns-topic", "com.example.other")).unwrap();
    assert_eq!((response.status, response.reason().as_deref()), (400, Some("TopicDisallowed")));
    let records = mock.records();
    assert_eq!(records[2].topic.as_deref(), Some(TOPIC));
    assert_eq!(records[0].key_id, None);

    // A certificate from another CA fails the handshake; a token client on the same mock works.
    let stranger = apns_mock::certs::TestPki::generate().unwrap();
    let refused = Client::connect(mock.addr(), client_tls(&setup.pki, Some(&stranger), &[b"h2"]))
        .and_then(|mut client| client.send(Req::push(None)).map_err(|e| e.to_string()));
    assert!(refused.is_err());
    assert!(mock.wait_for(|s| s.handshake_failures == 1, TIMEOUT));
    let mut token_client = Client::connect(mock.addr(), setup.tls(false)).unwrap();
    assert_eq!(token_client.send(Req::push(Some(&setup.token()))).unwrap().status, 200);

    // Certificate auth alone: a client without a certificate cannot connect.
    let cert_only = Http2Mock::start(apns_mock::http2::Http2Config::from_test_pki(&setup.pki)).unwrap();
    let refused = Client::connect(cert_only.addr(), setup.tls(false))
        .and_then(|mut client| client.send(Req::push(None)).map_err(|e| e.to_string()));
    assert!(refused.is_err());
    let mut client = Client::connect(cert_only.addr(), setup.tls(true)).unwrap();
    assert_eq!(client.send(Req::push(None)).unwrap().status, 200);
}
