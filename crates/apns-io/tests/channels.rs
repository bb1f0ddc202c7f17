//! The channel-management client end to end over TLS against the HTTP/2 mock: create, read,
//! list and delete with a provider token and with a certificate, Apple's reasons as typed
//! errors, a kept connection the server closed, and deadlines that hold against a silent server.

use std::time::{Duration, Instant};

use apns_io::channels::{ChannelAuth, ChannelClient, ChannelError};
use apns_io::{ConnectError, Endpoint};
use apns_mock::certs::{ProviderKey, TestPki};
use apns_mock::http2::{Http2Config, Http2Mock};
use apns_proto::http2::{BundleId, ChannelId, MessageStoragePolicy, Reason};

mod common;
use common::{h2_tls as tls, signer};

const APP: &str = "com.example.mock";

fn reason(error: ChannelError) -> (u16, Option<Reason>) {
    match error {
        ChannelError::Rejected { status, reason, request_id } => {
            assert!(request_id.is_some(), "apns-request-id is echoed");
            (status, reason)
        }
        other => panic!("not a rejection: {other:?}"),
    }
}

#[test]
fn create_read_list_delete_with_a_provider_token() {
    let (pki, key) = (TestPki::generate().unwrap(), ProviderKey::generate().unwrap());
    let mock = Http2Mock::start(
        Http2Config::from_test_pki(&pki)
            .provider_key_from(&key)
            .topic(APP)
            .max_channels(2)
            .record_in_memory(100),
    )
    .unwrap();
    let endpoint = Endpoint::at("localhost", mock.addr());
    let mut client =
        ChannelClient::new(endpoint, tls(&pki, false), ChannelAuth::Token(signer(&key)), 1).unwrap();
    let app = BundleId::new(APP).unwrap();
    let stored = client.create(&app, MessageStoragePolicy::MOST_RECENT).unwrap();
    let live = client.create(&app, MessageStoragePolicy::NO_STORAGE).unwrap();
    assert_ne!(stored, live);
    assert_eq!(client.read(&app, &stored).unwrap().storage, MessageStoragePolicy::MOST_RECENT);
    assert_eq!(client.read(&app, &live).unwrap().push_type, "LiveActivity");
    let mut listed = client.list(&app).unwrap();
    listed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut expected = vec![stored.clone(), live.clone()];
    expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(listed, expected);
    // The third is over the limit; a deleted one is gone; another app is not the token's.
    let full = client.create(&app, MessageStoragePolicy::NO_STORAGE).unwrap_err();
    assert_eq!(reason(full), (400, Some(Reason::CANNOT_CREATE_CHANNEL_CONFIG)));
    client.delete(&app, &stored).unwrap();
    assert_eq!(reason(client.read(&app, &stored).unwrap_err()), (404, Some(Reason::BAD_PATH)));
    assert_eq!(client.list(&app).unwrap(), vec![live.clone()]);
    let other = BundleId::new("com.example.other").unwrap();
    assert_eq!(reason(client.list(&other).unwrap_err()), (403, Some(Reason::TOPIC_MISMATCH)));
    let unknown = ChannelId::new("dHN0LXNyY2gtY2hubA==").unwrap();
    assert_eq!(reason(client.delete(&app, &unknown).unwrap_err()), (404, Some(Reason::BAD_PATH)));
    // Every call went over one connection, each with a fresh apns-request-id.
    let records = mock.records();
    assert_eq!(records.len(), 11);
    assert!(records.iter().all(|record| record.conn == 1));
    let ids: std::collections::HashSet<_> = records
        .iter()
        .filter_map(|r| r.headers.iter().find(|(name, _)| name == "apns-request-id").map(|(_, v)| v.clone()))
        .collect();
    assert_eq!(ids.len(), 11);
}

#[test]
fn certificate_auth_and_a_connection_closed_between_calls() {
    let pki = TestPki::generate().unwrap();
    // The mock closes a connection idle for 50 ms: the second call finds the kept one gone.
    let mock = Http2Mock::start(
        Http2Config::from_test_pki(&pki).idle_timeout(Some(Duration::from_millis(50))).record_in_memory(100),
    )
    .unwrap();
    let endpoint = Endpoint::at("localhost", mock.addr());
    let mut client = ChannelClient::new(endpoint, tls(&pki, true), ChannelAuth::Certificate, 2).unwrap();
    let app = BundleId::new(APP).unwrap();
    let channel = client.create(&app, MessageStoragePolicy::NO_STORAGE).unwrap();
    assert!(mock.wait_for(|stats| stats.idle_timeouts >= 1, Duration::from_secs(10)));
    // The call succeeds whether the GOAWAY was read first (a new connection) or the request
    // was still answered before the final GOAWAY (h2 shuts down in two steps).
    assert_eq!(client.list(&app).unwrap(), vec![channel]);
    assert!(matches!(mock.stats().connections, 1 | 2));
}

#[test]
fn deadlines_hold_against_a_silent_server_and_refusals_are_typed() {
    // A listener that accepts and never answers: the TLS handshake cannot finish.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let pki = TestPki::generate().unwrap();
    let endpoint = Endpoint::at("localhost", silent.local_addr().unwrap());
    let mut client = ChannelClient::new(endpoint, tls(&pki, true), ChannelAuth::Certificate, 3)
        .unwrap()
        .timeout(Duration::from_millis(300));
    let started = Instant::now();
    let error = client.list(&BundleId::new(APP).unwrap()).unwrap_err();
    assert!(matches!(error, ChannelError::Connect(ConnectError::HandshakeTimeout)), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);
    // Nothing listening: refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut client =
        ChannelClient::new(Endpoint::at("localhost", closed), tls(&pki, true), ChannelAuth::Certificate, 4)
            .unwrap();
    let error = client.list(&BundleId::new(APP).unwrap()).unwrap_err();
    assert!(matches!(error, ChannelError::Connect(ConnectError::Refused)), "{error:?}");
    // A server that wants a client certificate refuses a connection without one.
    let mock = Http2Mock::start(Http2Config::from_test_pki(&pki)).unwrap();
    let key = ProviderKey::generate().unwrap();
    let mut client = ChannelClient::new(
        Endpoint::at("localhost", mock.addr()),
        tls(&pki, false),
        ChannelAuth::Token(signer(&key)),
        5,
    )
    .unwrap();
    let error = client.create(&BundleId::new(APP).unwrap(), MessageStoragePolicy::NO_STORAGE).unwrap_err();
    assert!(matches!(error, ChannelError::Connect(ConnectError::CertificateRefused(_))), "{error:?}");
}

#[test]
fn broadcast_on_a_created_channel_and_on_an_unknown_one() {
    use apns_io::http2::{Http2Client, Http2Config as ClientConfig};
    use apns_proto::http2::BroadcastNotification;
    use apns_proto::PayloadLimit;
    use apns_resend::http2::{Auth, Item, Outcome};

    let pki = TestPki::generate().unwrap();
    let mock = Http2Mock::start(Http2Config::from_test_pki(&pki)).unwrap();
    let endpoint = Endpoint::at("localhost", mock.addr());
    let app = BundleId::new(APP).unwrap();
    let mut channels =
        ChannelClient::new(endpoint.clone(), tls(&pki, true), ChannelAuth::Certificate, 6).unwrap();
    let channel = channels.create(&app, MessageStoragePolicy::NO_STORAGE).unwrap();
    let client: Http2Client<u8> =
        Http2Client::start(ClientConfig::new(endpoint, tls(&pki, true), Auth::Certificate, 6)).unwrap();
    let outcomes = client.outcomes(8);
    let payload = || {
        let text = r#"{"aps":{"timestamp":1,"event":"update","content-state":{"score":"1-0"}}}"#;
        apns_proto::EncodedPayload::new(text.as_bytes().to_vec(), PayloadLimit::HTTP2).unwrap()
    };
    let unknown = ChannelId::new("dHN0LXNyY2gtY2hubA==").unwrap();
    for (tag, channel) in [(0, channel), (1, unknown)] {
        let broadcast = BroadcastNotification::new(app.clone(), channel, payload()).unwrap();
        client.send_timeout(Item::broadcast(broadcast, tag), Duration::from_secs(5)).unwrap();
    }
    let mut reports: Vec<_> =
        (0..2).map(|_| outcomes.next_timeout(Duration::from_secs(20)).unwrap()).collect();
    reports.sort_by_key(|report| report.tag);
    assert!(matches!(reports[0].outcome, Outcome::Accepted { .. }), "{:?}", reports[0].outcome);
    match &reports[1].outcome {
        Outcome::Rejected(rejection) => {
            assert_eq!(
                (rejection.status, rejection.reason.clone()),
                (400, Some(Reason::CHANNEL_NOT_REGISTERED))
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(client.close(Duration::from_secs(10)).settled);
}
