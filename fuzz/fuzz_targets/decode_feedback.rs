//! The feedback decoder and the incremental reader: no panic, exact round trips, and the
//! reader yields the same records whatever the chunking.
#![no_main]

use apns_proto::{decode_feedback_tuple, Decoded, FeedbackReader};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else { return };
    let mut rest = data;
    let mut whole = Vec::new();
    while let Ok(Decoded::Complete { value, consumed }) = decode_feedback_tuple(rest) {
        let mut encoded = BytesMut::new();
        value.encode(&mut encoded);
        assert_eq!(&encoded[..], &rest[..consumed]);
        whole.push(value.device_token().map(|token| (token, value.time)).ok());
        rest = &rest[consumed..];
    }
    let mut reader = FeedbackReader::new();
    let mut chunked = Vec::new();
    for piece in data.chunks(usize::from(chunk.max(1))) {
        reader.handle_bytes(piece);
        while let Some(item) = reader.poll_item() {
            chunked.push(item.ok().map(|item| (item.token, item.time)));
        }
    }
    assert_eq!(whole, chunked);
    assert_eq!(reader.finish().is_ok(), rest.is_empty());
});
