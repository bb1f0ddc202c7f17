//! The HTTP/2 frame decoder: no panic on any bytes; every frame it decodes encodes to bytes that
//! decode to the same frame.
#![no_main]

use apns_h2::frame::{decode_frame, DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = BytesMut::from(data);
    while let Ok(Some(frame)) = decode_frame(&mut input, DEFAULT_MAX_FRAME_SIZE) {
        let mut encoded = BytesMut::new();
        frame.encode(&mut encoded);
        let again = decode_frame(&mut encoded, MAX_FRAME_SIZE_LIMIT).expect("re-encoded frames decode");
        assert_eq!(again.as_ref(), Some(&frame));
        assert!(encoded.is_empty());
    }
});
