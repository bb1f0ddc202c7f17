//! GOAWAY debug data: any bytes give a reason only when they are a JSON object with a bounded
//! `reason` string, and that reason is the one in the JSON.
#![no_main]

use apns_proto::http2::{goaway_reason, Reason, MAX_ERROR_BODY};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(reason) = goaway_reason(data) {
        assert!(data.len() <= MAX_ERROR_BODY);
        assert!(reason.as_str().len() <= Reason::MAX_LEN);
        let value: serde_json::Value = serde_json::from_slice(data).expect("a reason comes from JSON");
        assert_eq!(value["reason"].as_str(), Some(reason.as_str()));
        let _ = reason.classification();
    }
});
