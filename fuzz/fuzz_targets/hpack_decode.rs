//! The HPACK decoder: no panic on any sequence of header blocks (the first byte picks the table
//! size, 0xff separates blocks); whatever decodes, encoded again with every indexing choice,
//! decodes to the same fields with a fresh pair of contexts.
#![no_main]

use apns_h2::hpack::{Decoder, Encoder};
use apns_h2::Indexing;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&size, rest)) = data.split_first() else { return };
    let table_size = usize::from(size) * 32;
    let mut decoder = Decoder::new(table_size);
    let mut encoder = Encoder::new(table_size);
    let mut mirror = Decoder::new(table_size);
    for block in rest.split(|&byte| byte == 0xff) {
        let mut fields = Vec::new();
        if decoder.decode(block, |field| fields.push(field)).is_err() {
            return; // A connection error: nothing after it is decoded.
        }
        let mut encoded = BytesMut::new();
        encoder.begin_block(&mut encoded);
        for (index, field) in fields.iter().enumerate() {
            let indexing = match (index + field.value.len()) % 3 {
                0 => Indexing::Incremental,
                1 => Indexing::WithoutIndexing,
                _ => Indexing::NeverIndexed,
            };
            encoder.encode_field(&field.name, &field.value, indexing, &mut encoded);
        }
        let mut again: Vec<(Bytes, Bytes)> = Vec::new();
        mirror.decode(&encoded, |field| again.push((field.name, field.value))).expect("our own blocks decode");
        let fields: Vec<(Bytes, Bytes)> = fields.into_iter().map(|field| (field.name, field.value)).collect();
        assert_eq!(again, fields);
        assert_eq!(encoder.table_len(), mirror.table_len());
    }
});
