//! The error-response decoder: no panic; decode then encode gives the same 6 bytes.
#![no_main]

use apns_proto::{decode_error_response, Decoded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Decoded::Complete { value, consumed }) = decode_error_response(rest) {
        assert_eq!(consumed, 6);
        assert_eq!(&value.to_bytes()[..], &rest[..6]);
        let _ = value.status.to_string();
        rest = &rest[consumed..];
    }
});
