//! Properties of the HTTP/2 mock's parsers: provider tokens round-trip through an independent
//! signer (ring) and any changed byte makes them fail; arbitrary requests never panic and their
//! status always matches Apple's table for the reason.

use apns_mock::certs::ProviderKey;
use apns_mock::http2::{fuzzing, ProviderToken, Reason};
use base64::Engine as _;
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;

fn sign(key: &ProviderKey, header: &str, claims: &str, der: bool) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let pkcs8 = PrivateKeyDer::from_pem_slice(key.private_key_pem.as_bytes()).unwrap();
    let alg = if der { &ECDSA_P256_SHA256_ASN1_SIGNING } else { &ECDSA_P256_SHA256_FIXED_SIGNING };
    let rng = SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.secret_der(), &rng).unwrap();
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    format!("{input}.{}", b64(pair.sign(&rng, input.as_bytes()).unwrap().as_ref()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tokens_round_trip_and_tampering_fails(
        kid in "[A-Z0-9]{10}",
        team in "[A-Z0-9]{10}",
        iat in 0i64..4_000_000_000,
        typ in any::<bool>(),
        der in any::<bool>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let key = ProviderKey::generate().unwrap();
        let typ = if typ { r#","typ":"JWT""# } else { "" };
        let token = sign(&key, &format!(r#"{{"alg":"ES256","kid":"{kid}"{typ}}}"#), &format!(r#"{{"iss":"{team}","iat":{iat}}}"#), der);
        let parsed = ProviderToken::parse(&token).unwrap();
        prop_assert_eq!((&parsed.key_id, &parsed.team_id, parsed.issued_at), (&kid, &team, iat));
        prop_assert!(parsed.verify(&token, &key.public_key()));
        let other = ProviderKey::generate().unwrap();
        prop_assert!(!parsed.verify(&token, &other.public_key()));
        // Change one character of the signed part (to another base64url character).
        let mut bytes = token.clone().into_bytes();
        let signed = token.rfind('.').unwrap();
        let at = flip.index(signed);
        if bytes[at] != b'.' {
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            prop_assert!(ProviderToken::parse(&tampered).map_or(true, |p| !p.verify(&tampered, &key.public_key())));
        }
    }

    #[test]
    fn arbitrary_requests_get_a_consistent_status(
        method in prop::sample::select(vec!["POST", "GET", "PUT", "\u{1}"]),
        path in prop_oneof!["/3/device/[0-9a-fA-F]{0,70}", ".{0,40}"],
        headers in prop::collection::vec(
            (prop::sample::select(vec!["apns-id", "apns-topic", "apns-push-type", "apns-priority", "apns-expiration", "apns-collapse-id", "authorization", "x"]), ".{0,70}"),
            0..6,
        ),
        body in prop_oneof![Just(Vec::new()), "\\{\"aps\":\\{\\}\\}".prop_map(String::into_bytes), prop::collection::vec(any::<u8>(), 0..200)],
        certificate in any::<bool>(),
    ) {
        let headers: Vec<_> = headers.into_iter().map(|(n, v)| (n.as_bytes().to_vec(), v.into_bytes())).collect();
        let (status, reason) = fuzzing::evaluate_request(method.as_bytes(), &path, &headers, &body, certificate);
        match reason {
            None => prop_assert_eq!(status, 200),
            Some(reason) => prop_assert_eq!(status, reason.parse::<Reason>().unwrap().status()),
        }
    }
}
