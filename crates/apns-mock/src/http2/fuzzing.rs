//! Entry points for the fuzz targets (`fuzz/`): the parsers the mock runs beyond h2's own, on
//! arbitrary input. Not a stable API.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::auth::{ProviderKeys, TokenAuth, TokenRules};
use super::channels::Channels;
use super::jwt::ProviderPublicKey;
use super::request::{self, Clock, ConnAuth, Incoming, Policy, Tables, TokenFate};
use super::Reason;

/// The fixed key and tables the fuzzed requests are checked against.
fn keys() -> &'static (ProviderKeys, Tables) {
    static KEYS: OnceLock<(ProviderKeys, Tables)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = ProviderKeys::default();
        // The P-256 base point: a valid public key nobody signs with here.
        let mut point = vec![4u8];
        point.extend_from_slice(&[
            0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
            0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
        ]);
        point.extend_from_slice(&[
            0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
            0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
        ]);
        if let Ok(key) = ProviderPublicKey::from_point(&point) {
            keys.0.insert("KEYID00001".to_owned(), ("TEAMID0001".to_owned(), key));
        }
        let mut tables = Tables { topics: vec!["com.example.mock".to_owned()], ..Tables::default() };
        tables.tokens.insert("ee".repeat(32), TokenFate::Reject(Reason::BAD_DEVICE_TOKEN));
        tables.tokens.insert("dd".repeat(32), TokenFate::Gone(Reason::UNREGISTERED, 1));
        tables.token_topics.insert("aa".repeat(32), "com.example.other".to_owned());
        (keys, tables)
    })
}

/// Evaluates an arbitrary request (headers that are not valid HTTP are skipped, an invalid
/// method becomes `POST`) under token auth (`certificate` false) or a certificate for
/// `com.example.mock`; returns the status and reason. Must never panic.
pub fn evaluate_request(
    method: &[u8],
    path: &str,
    headers: &[(Vec<u8>, Vec<u8>)],
    body: &[u8],
    certificate: bool,
) -> (u16, Option<String>) {
    let (keys, tables) = keys();
    let method = Method::from_bytes(method).unwrap_or(Method::POST);
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            map.append(name, value);
        }
    }
    let mut auth = if certificate {
        ConnAuth::Certificate { bundle: Some("com.example.mock".to_owned()) }
    } else {
        ConnAuth::Token(TokenAuth::default())
    };
    let rules = TokenRules {
        max_age: Duration::from_secs(3600),
        min_refresh: Duration::from_secs(1200),
        max_skew: Duration::from_secs(60),
    };
    let verdict = request::evaluate(
        Incoming { method: &method, path, headers: &map, body },
        &mut auth,
        Policy { keys, rules: &rules, tables, channels: &Channels::new(16, 0) },
        Clock { now: Instant::now(), unix_now: 1_800_000_000 },
    );
    match verdict.result {
        Ok(()) => (verdict.reply.status, None),
        Err((reason, _)) => (reason.status(), Some(reason.as_str().to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs() {
        let topic = (b"apns-topic".to_vec(), b"com.example.mock".to_vec());
        let token = "ab".repeat(32);
        let path = format!("/3/device/{token}");
        assert_eq!(evaluate_request(b"POST", &path, std::slice::from_ref(&topic), b"{}", true), (200, None));
        let (status, reason) = evaluate_request(b"POST", &path, &[topic], b"{}", false);
        assert_eq!((status, reason.as_deref()), (403, Some("MissingProviderToken")));
        assert_eq!(evaluate_request(b"\xff", "", &[(b"\x00".to_vec(), b"\n".to_vec())], b"", true).0, 404);
        let create = br#"{"message-storage-policy":0,"push-type":"LiveActivity"}"#;
        assert_eq!(
            evaluate_request(b"POST", "/1/apps/com.example.mock/channels", &[], create, true),
            (201, None)
        );
        let (status, reason) =
            evaluate_request(b"POST", "/4/broadcasts/apps/com.example.mock", &[], b"{}", true);
        assert_eq!((status, reason.as_deref()), (400, Some("MissingChannelId")));
    }
}
