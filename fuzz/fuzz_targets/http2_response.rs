//! APNs response parsing from any status, header fields and body: no panic; 2xx is accepted; an
//! error body that parses keeps a bounded reason that re-encodes to the same reason; channel
//! bodies and retry-after parse or refuse, never panic.
#![no_main]

use apns_proto::http2::{
    classify_status, parse_channel_list, ChannelConfig, Classification, ErrorBody, Response, RetryAfter,
};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 7] =
    ["apns-id", "apns-unique-id", "apns-request-id", "apns-channel-id", "retry-after", "APNS-ID", "content-type"];

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    status: u16,
    headers: Vec<(u8, &'a [u8])>,
    body: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let headers: Vec<(&[u8], &[u8])> = input
        .headers
        .iter()
        .map(|&(name, value)| (NAMES[usize::from(name) % NAMES.len()].as_bytes(), value))
        .collect();
    let response = Response::parse(input.status, headers.iter().copied(), input.body);
    let class = response.classification();
    if (200..300).contains(&input.status) {
        assert_eq!(class, Classification::Accepted);
        assert!(response.error.is_none() && response.body_problem.is_none());
    } else {
        assert!(response.error.is_some() != response.body_problem.is_some());
        if response.reason().and_then(|reason| reason.classification()).is_none() {
            assert_eq!(class, classify_status(input.status));
        }
    }
    if let Some(error) = &response.error {
        assert!(error.reason.as_str().len() <= apns_proto::http2::Reason::MAX_LEN);
        let again = serde_json::to_vec(&serde_json::json!({ "reason": error.reason.as_str() })).unwrap();
        assert_eq!(ErrorBody::parse(&again).unwrap().reason, error.reason);
        let _ = response.token_invalid_since();
    }
    if let Some(id) = response.apns_id {
        assert_eq!(id.to_string().len(), 36);
    }
    let _ = RetryAfter::parse(input.body).map(|retry| retry.delay_from(std::time::UNIX_EPOCH));
    let _ = ChannelConfig::parse(input.body);
    if let Ok(channels) = parse_channel_list(input.body) {
        assert!(channels.iter().all(|id| !id.as_str().is_empty()));
    }
});
