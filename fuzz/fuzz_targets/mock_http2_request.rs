//! The HTTP/2 mock's request rules (path, headers, push type, topic, priority, expiration,
//! collapse id, apns-id, provider token, JSON body) on arbitrary requests: no panic, and the
//! status always matches Apple's table for the reason.
#![no_main]

use apns_mock::http2::{fuzzing, Reason};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    method: Vec<u8>,
    device_path: bool,
    path: String,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    well_known: Vec<(u8, String)>,
    body: Vec<u8>,
    certificate: bool,
}

const NAMES: [&str; 9] = [
    "authorization",
    "apns-id",
    "apns-topic",
    "apns-push-type",
    "apns-priority",
    "apns-expiration",
    "apns-collapse-id",
    "host",
    "content-type",
];

fuzz_target!(|input: Input| {
    let path = if input.device_path { format!("/3/device/{}", input.path) } else { input.path };
    let mut headers = input.headers;
    for (which, value) in input.well_known {
        let name = NAMES[usize::from(which) % NAMES.len()];
        headers.push((name.as_bytes().to_vec(), value.into_bytes()));
    }
    let (status, reason) = fuzzing::evaluate_request(&input.method, &path, &headers, &input.body, input.certificate);
    match reason {
        None => assert_eq!(status, 200),
        Some(reason) => assert_eq!(status, reason.parse::<Reason>().expect("a reason name").status()),
    }
});
