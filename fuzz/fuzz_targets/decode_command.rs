//! The gateway's command decoder and validation: no panic on any bytes; whatever decodes
//! encodes back to exactly the bytes it came from; and validation never panics.
#![no_main]

use apns_proto::{decode_command, Decoded, PayloadLimit};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Decoded::Complete { value, consumed }) = decode_command(rest) {
        let mut encoded = BytesMut::new();
        value.encode(&mut encoded);
        assert_eq!(&encoded[..], &rest[..consumed]);
        if let Ok(notification) = value.validate(PayloadLimit::BINARY) {
            assert!(notification.payload.len() <= PayloadLimit::BINARY.bytes());
        }
        let _ = value.id();
        assert!(consumed > 0);
        rest = &rest[consumed..];
    }
});
