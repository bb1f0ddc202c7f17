//! HPACK (RFC 7541): header compression for HTTP/2.
//!
//! Written for this crate because no maintained crate gives both a bounded, fast decoder and an
//! encoder that lets the caller choose each field's representation (the `h2` crate's HPACK is
//! private; `hpack` and `hpack_codec` are unmaintained since 2016-2018 and choose for the caller).
//!
//! - [`Decoder`]: Huffman strings (a four-bits-at-a-time state machine built at compile time),
//!   the dynamic table with size updates and eviction, and every malformed input refused with a
//!   [`DecodeError`]; memory is bounded by the table size and by the block being decoded.
//! - [`Encoder`]: the field's [`Indexing`](crate::Indexing) is the caller's choice; the encoder uses an indexed
//!   field or an indexed name whenever the tables allow, and Huffman-codes a literal when that
//!   is shorter.
//!
//! Both pass the examples of RFC 7541 Appendix C (see the tests), and the decoder is fuzzed
//! (`cargo xtask fuzz hpack_decode`).

mod decoder;
mod encoder;
mod huffman;
mod huffman_codes;
mod table;

pub use decoder::{DecodeError, DecodedField, Decoder};
pub use encoder::Encoder;

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};
    use proptest::prelude::*;

    use super::*;
    use crate::Indexing;

    fn hex(text: &str) -> Vec<u8> {
        let text: String = text.split_whitespace().collect();
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    fn decode(decoder: &mut Decoder, block: &[u8]) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        decoder
            .decode(block, |field| {
                fields.push((
                    String::from_utf8(field.name.to_vec()).unwrap(),
                    String::from_utf8(field.value.to_vec()).unwrap(),
                ))
            })
            .unwrap();
        fields
    }

    fn encode(encoder: &mut Encoder, fields: &[(&str, &str, Indexing)]) -> Vec<u8> {
        let mut out = BytesMut::new();
        encoder.begin_block(&mut out);
        for (name, value, indexing) in fields {
            encoder.encode_field(
                &Bytes::copy_from_slice(name.as_bytes()),
                &Bytes::copy_from_slice(value.as_bytes()),
                *indexing,
                &mut out,
            );
        }
        out.to_vec()
    }

    fn pairs(fields: &[(&str, &str, Indexing)]) -> Vec<(String, String)> {
        fields.iter().map(|(name, value, _)| (name.to_string(), value.to_string())).collect()
    }

    /// Encodes with `encoder`, checks the bytes, decodes with `decoder`, checks the fields and
    /// the table sizes both sides agree on.
    fn check(
        encoder: &mut Encoder,
        decoder: &mut Decoder,
        fields: &[(&str, &str, Indexing)],
        expected: &str,
        table_size: usize,
    ) {
        let block = encode(encoder, fields);
        assert_eq!(block, hex(expected), "encoding of {fields:?}");
        assert_eq!(decode(decoder, &block), pairs(fields));
        assert_eq!(decoder.table().size(), table_size);
        assert_eq!(encoder.table().size(), table_size);
    }

    use Indexing::{Incremental as Inc, NeverIndexed, WithoutIndexing};

    type Fields = &'static [(&'static str, &'static str, Indexing)];

    #[test]
    fn rfc7541_c2_field_representations() {
        // C.2.1 to C.2.4, each with fresh contexts.
        let cases: [(Fields, &str, usize); 4] = [
            (
                &[("custom-key", "custom-header", Inc)],
                "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
                55,
            ),
            (&[(":path", "/sample/path", WithoutIndexing)], "040c 2f73 616d 706c 652f 7061 7468", 0),
            (&[("password", "secret", NeverIndexed)], "1008 7061 7373 776f 7264 0673 6563 7265 74", 0),
            (&[(":method", "GET", Inc)], "82", 0),
        ];
        for (fields, expected, size) in cases {
            let mut encoder = Encoder::new(4096);
            encoder.set_huffman(false);
            check(&mut encoder, &mut Decoder::new(4096), fields, expected, size);
        }
        // The never-indexed flag reaches the decoder's caller.
        let mut flags = Vec::new();
        Decoder::new(4096)
            .decode(&hex("1008 7061 7373 776f 7264 0673 6563 7265 74"), |f| flags.push(f.never_indexed))
            .unwrap();
        assert_eq!(flags, [true]);
    }

    const C3_REQUESTS: [Fields; 3] = [
        &[
            (":method", "GET", Inc),
            (":scheme", "http", Inc),
            (":path", "/", Inc),
            (":authority", "www.example.com", Inc),
        ],
        &[
            (":method", "GET", Inc),
            (":scheme", "http", Inc),
            (":path", "/", Inc),
            (":authority", "www.example.com", Inc),
            ("cache-control", "no-cache", Inc),
        ],
        &[
            (":method", "GET", Inc),
            (":scheme", "https", Inc),
            (":path", "/index.html", Inc),
            (":authority", "www.example.com", Inc),
            ("custom-key", "custom-value", Inc),
        ],
    ];

    const C5_RESPONSES: [Fields; 3] = [
        &[
            (":status", "302", Inc),
            ("cache-control", "private", Inc),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT", Inc),
            ("location", "https://www.example.com", Inc),
        ],
        &[
            (":status", "307", Inc),
            ("cache-control", "private", Inc),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT", Inc),
            ("location", "https://www.example.com", Inc),
        ],
        &[
            (":status", "200", Inc),
            ("cache-control", "private", Inc),
            ("date", "Mon, 21 Oct 2013 20:13:22 GMT", Inc),
            ("location", "https://www.example.com", Inc),
            ("content-encoding", "gzip", Inc),
            ("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1", Inc),
        ],
    ];

    #[test]
    fn rfc7541_c3_requests_without_huffman() {
        let (mut encoder, mut decoder) = (Encoder::new(4096), Decoder::new(4096));
        encoder.set_huffman(false);
        let expected = [
            ("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", 57),
            ("8286 84be 5808 6e6f 2d63 6163 6865", 110),
            ("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65", 164),
        ];
        for (fields, (bytes, size)) in C3_REQUESTS.iter().zip(expected) {
            check(&mut encoder, &mut decoder, fields, bytes, size);
        }
    }

    #[test]
    fn rfc7541_c4_requests_with_huffman() {
        let (mut encoder, mut decoder) = (Encoder::new(4096), Decoder::new(4096));
        let expected = [
            ("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", 57),
            ("8286 84be 5886 a8eb 1064 9cbf", 110),
            ("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf", 164),
        ];
        for (fields, (bytes, size)) in C3_REQUESTS.iter().zip(expected) {
            check(&mut encoder, &mut decoder, fields, bytes, size);
        }
    }

    #[test]
    fn rfc7541_c5_responses_without_huffman_and_eviction() {
        let (mut encoder, mut decoder) = (Encoder::new(256), Decoder::new(256));
        encoder.set_huffman(false);
        let expected = [
            ("4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", 222),
            ("4803 3330 37c1 c0bf", 222),
            ("88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31", 215),
        ];
        for (fields, (bytes, size)) in C5_RESPONSES.iter().zip(expected) {
            check(&mut encoder, &mut decoder, fields, bytes, size);
        }
        assert_eq!(decoder.table_len(), 3);
    }

    #[test]
    fn rfc7541_c6_responses_with_huffman_and_eviction() {
        let (mut encoder, mut decoder) = (Encoder::new(256), Decoder::new(256));
        let expected = [
            ("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3", 222),
            ("4883 640e ffc1 c0bf", 222),
            ("88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07", 215),
        ];
        for (fields, (bytes, size)) in C5_RESPONSES.iter().zip(expected) {
            check(&mut encoder, &mut decoder, fields, bytes, size);
        }
    }

    #[test]
    fn table_size_updates() {
        let mut encoder = Encoder::new(4096);
        let mut decoder = Decoder::new(4096);
        let first = encode(&mut encoder, &[("a", "1", Inc), ("b", "2", Inc)]);
        decode(&mut decoder, &first);
        assert_eq!(decoder.table_len(), 2);
        // Shrinking to 0 then growing to 100 is signalled as two updates: the table empties.
        encoder.set_max_table_size(0);
        encoder.set_max_table_size(100);
        let second = encode(&mut encoder, &[("c", "3", Inc)]);
        assert_eq!(&second[..2], &[0x20, 0x3f]);
        assert_eq!(decode(&mut decoder, &second), [("c".to_string(), "3".to_string())]);
        assert_eq!(decoder.table_len(), 1);
        assert_eq!(decoder.table_size_limit(), 100);
        // An update above the allowed size, or after a field, is refused.
        assert_eq!(
            Decoder::new(4096).decode(&hex("3fe21f"), |_| ()),
            Err(DecodeError::TableSizeTooLarge { requested: 4097, allowed: 4096 })
        );
        assert_eq!(Decoder::new(4096).decode(&hex("8220"), |_| ()), Err(DecodeError::LateTableSizeUpdate));
    }

    #[test]
    fn malformed_blocks_are_refused() {
        let cases: &[(&str, DecodeError)] = &[
            ("80", DecodeError::InvalidIndex(0)),
            ("be", DecodeError::InvalidIndex(62)),
            ("ff80808080808080", DecodeError::IntegerOverflow),
            ("ffffffffff0f", DecodeError::IntegerOverflow),
            ("ff", DecodeError::Truncated),
            ("4005", DecodeError::Truncated),
            ("0081", DecodeError::Truncated),
            ("40", DecodeError::Truncated),
            ("0084ffffffff", DecodeError::HuffmanEos),
            ("00811801", DecodeError::HuffmanPadding),
        ];
        for (block, error) in cases {
            assert_eq!(Decoder::new(4096).decode(&hex(block), |_| ()), Err(*error), "{block}");
        }
    }

    #[test]
    fn name_only_stores_the_name_once() {
        let mut encoder = Encoder::new(4096);
        // First time: incremental, so the name enters the table.
        let first = encode(&mut encoder, &[("apns-id", "a", Indexing::NameOnly)]);
        assert_eq!(first[0], 0x40);
        assert_eq!(encoder.table_len(), 1);
        // Then: the name by its index (62), the value literal, nothing stored.
        let second = encode(&mut encoder, &[("apns-id", "b", Indexing::NameOnly)]);
        assert_eq!(second[0], 0x0f);
        assert_eq!(encoder.table_len(), 1);
        // A value already in the table is still one byte.
        assert_eq!(encode(&mut encoder, &[("apns-id", "a", Indexing::NameOnly)]), [0xbe]);
    }

    #[test]
    fn never_indexed_does_not_reuse_a_table_value() {
        let mut encoder = Encoder::new(4096);
        encode(&mut encoder, &[("authorization", "secret", Inc)]);
        // The name comes from the static table; the value is sent again as a never-indexed literal.
        let block = encode(&mut encoder, &[("authorization", "secret", NeverIndexed)]);
        assert_eq!(block[0], 0x1f);
        assert_eq!(encoder.table_len(), 1);
        // The same field with indexing allowed is one byte.
        assert_eq!(encode(&mut encoder, &[("authorization", "secret", WithoutIndexing)]), [0xbe]);
    }

    #[test]
    fn unindexed_values_may_skip_huffman() {
        let fields =
            [("apns-topic", "com.example.app", Inc), (":path", "/3/device/00fc13adff", WithoutIndexing)];
        let mut huffman = Encoder::new(4096);
        let mut raw = Encoder::new(4096);
        raw.set_huffman_unindexed(false);
        let (coded, plain) = (encode(&mut huffman, &fields), encode(&mut raw, &fields));
        // The indexed topic is Huffman-coded either way; the path only by the first encoder.
        assert_eq!(plain.len(), coded.len() + 6, "{coded:02x?} {plain:02x?}");
        assert!(plain.windows(20).any(|window| window == b"/3/device/00fc13adff"));
        let mut decoder = Decoder::new(4096);
        assert_eq!(decode(&mut decoder, &plain), pairs(&fields));
    }

    fn field() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, Indexing)> {
        let name = prop_oneof![
            Just(b":path".to_vec()),
            Just(b"authorization".to_vec()),
            Just(b"apns-id".to_vec()),
            proptest::collection::vec(b'a'..=b'z', 1..12),
        ];
        let value = prop_oneof![Just(b"x".to_vec()), proptest::collection::vec(any::<u8>(), 0..80)];
        let indexing =
            prop_oneof![Just(Inc), Just(WithoutIndexing), Just(NeverIndexed), Just(Indexing::NameOnly)];
        (name, value, indexing)
    }

    proptest! {
        /// Any sequence of blocks, with size changes between them, decodes to what was encoded,
        /// and both tables stay identical.
        #[test]
        fn encoder_and_decoder_agree(
            blocks in proptest::collection::vec(
                (proptest::option::of(0usize..600), proptest::collection::vec(field(), 0..8)), 1..12),
        ) {
            let mut encoder = Encoder::new(512);
            let mut decoder = Decoder::new(512);
            for (resize, fields) in blocks {
                if let Some(size) = resize {
                    encoder.set_max_table_size(size.min(512));
                }
                let mut out = BytesMut::new();
                encoder.begin_block(&mut out);
                for (name, value, indexing) in &fields {
                    encoder.encode_field(&Bytes::from(name.clone()), &Bytes::from(value.clone()), *indexing, &mut out);
                }
                let mut decoded = Vec::new();
                decoder.decode(&out, |f| decoded.push((f.name.to_vec(), f.value.to_vec(), f.never_indexed))).unwrap();
                let expected: Vec<_> = fields.iter().map(|(n, v, i)| (n.clone(), v.clone(), *i == NeverIndexed)).collect();
                prop_assert_eq!(decoded, expected);
                prop_assert_eq!(encoder.table().iter().collect::<Vec<_>>(), decoder.table().iter().collect::<Vec<_>>());
            }
        }

        /// Memoised fields are encoded exactly as the full search encodes them: blocks of
        /// fields drawn from a small pool (so that they repeat, by position too), values shared
        /// or copied, with size changes between blocks.
        #[test]
        fn memoised_fields_encode_as_searched(
            blocks in proptest::collection::vec(
                (proptest::option::of(0usize..300),
                 proptest::collection::vec((0usize..5, 0usize..6, 0usize..4, any::<bool>()), 0..10)),
                1..16),
        ) {
            const NAMES: [&str; 5] = [":path", "apns-id", "apns-topic", ":method", "x-a"];
            const VALUES: [&str; 6] = ["", "/", "POST", "0123456789abcdef", "0123456789abcdeg", "topic"];
            const INDEXING: [Indexing; 4] = [Inc, WithoutIndexing, NeverIndexed, Indexing::NameOnly];
            let names: Vec<Bytes> = NAMES.iter().map(|n| Bytes::from_static(n.as_bytes())).collect();
            let values: Vec<Bytes> = VALUES.iter().map(|v| Bytes::from_static(v.as_bytes())).collect();
            let mut memoising = Encoder::new(200);
            let mut searching = Encoder::new(200);
            let mut decoder = Decoder::new(200);
            for (resize, fields) in blocks {
                if let Some(size) = resize {
                    memoising.set_max_table_size(size.min(200));
                    searching.set_max_table_size(size.min(200));
                }
                let (mut memoised, mut searched) = (BytesMut::new(), BytesMut::new());
                memoising.begin_block(&mut memoised);
                searching.begin_block(&mut searched);
                for &(name, value, indexing, shared) in &fields {
                    let value = if shared { values[value].clone() } else { Bytes::copy_from_slice(&values[value]) };
                    memoising.encode_field(&names[name], &value, INDEXING[indexing], &mut memoised);
                    searching.encode_field_searching(&names[name], &value, INDEXING[indexing], &mut searched);
                }
                prop_assert_eq!(&memoised, &searched);
                let mut decoded = Vec::new();
                decoder.decode(&memoised, |f| decoded.push((f.name.to_vec(), f.value.to_vec()))).unwrap();
                let expected: Vec<_> =
                    fields.iter().map(|&(n, v, ..)| (NAMES[n].as_bytes().to_vec(), VALUES[v].as_bytes().to_vec())).collect();
                prop_assert_eq!(decoded, expected);
            }
        }

        #[test]
        fn decoder_never_panics(block in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Decoder::new(4096).decode(&block, |_| ());
        }
    }
}
