//! The static Huffman code of RFC 7541 section 5.2 and Appendix B.
//!
//! Decoding reads four bits at a time through a finite-state machine built at compile time from
//! the code table: a state is an internal node of the code tree, and each (state, nibble) entry
//! says the next state, the symbol completed on the way (at most one, since the shortest code
//! has five bits), and whether stopping there leaves valid padding (at most seven 1-bits, the
//! prefix of EOS).

use bytes::BufMut;

use super::huffman_codes::CODES;

/// Why a Huffman string is invalid (RFC 7541 section 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HuffmanError {
    /// The string contains the EOS symbol.
    Eos,
    /// The padding is longer than seven bits or not the most significant bits of EOS.
    Padding,
}

/// Bytes needed to encode `input`.
pub(crate) fn encoded_len(input: &[u8]) -> usize {
    let bits: usize = input.iter().map(|&byte| usize::from(CODES[usize::from(byte)].1)).sum();
    bits.div_ceil(8)
}

/// Appends the Huffman encoding of `input` (padded with the prefix of EOS).
pub(crate) fn encode(input: &[u8], out: &mut impl BufMut) {
    // Bytes go through a local buffer, 32 bits at a time: cheaper than `out`'s capacity check
    // for each.
    let mut buffer = [0u8; 128];
    let mut used = 0usize;
    let mut bits: u64 = 0;
    let mut count: u32 = 0; // Pending bits in `bits`, right-aligned, fewer than 32 between bytes.
    for &byte in input {
        let (code, len) = CODES[usize::from(byte)];
        bits = (bits << len) | u64::from(code);
        count += u32::from(len);
        if count >= 32 {
            count -= 32;
            // Truncation keeps the 32 bits just above the `count` still pending.
            if let Some(slot) = buffer.get_mut(used..used + 4) {
                slot.copy_from_slice(&((bits >> count) as u32).to_be_bytes());
            }
            used += 4;
            if used == buffer.len() {
                out.put_slice(&buffer);
                used = 0;
            }
        }
    }
    out.put_slice(&buffer[..used]);
    while count >= 8 {
        count -= 8;
        out.put_u8((bits >> count) as u8);
    }
    if count > 0 {
        let pad = 8 - count;
        out.put_u8(((bits << pad) | ((1 << pad) - 1)) as u8);
    }
}

/// Appends the decoding of the Huffman string `input`.
pub(crate) fn decode(input: &[u8], out: &mut impl BufMut) -> Result<(), HuffmanError> {
    // Symbols go through a small local buffer: one bounds check per byte here is cheaper than
    // one capacity check per symbol on `out`.
    let mut buffer = [0u8; 64];
    let mut used = 0usize;
    let mut state = 0usize;
    let mut flags = ACCEPT;
    let mut failed = 0u8;
    for &byte in input {
        for nibble in [byte >> 4, byte & 0x0f] {
            let entry = DECODE[state][usize::from(nibble)];
            if let Some(slot) = buffer.get_mut(used) {
                *slot = entry.symbol;
            }
            used += usize::from(entry.flags & SYMBOL);
            failed |= entry.flags & FAIL;
            state = usize::from(entry.next);
            flags = entry.flags;
        }
        if used >= buffer.len() - 2 {
            out.put_slice(&buffer[..used]);
            used = 0;
        }
    }
    if failed != 0 {
        return Err(HuffmanError::Eos);
    }
    out.put_slice(&buffer[..used]);
    if flags & ACCEPT != 0 {
        Ok(())
    } else {
        Err(HuffmanError::Padding)
    }
}

const SYMBOL: u8 = 1;
const FAIL: u8 = 2;
const ACCEPT: u8 = 4;

#[derive(Debug, Clone, Copy)]
#[repr(C, align(4))]
struct Entry {
    next: u8,
    flags: u8,
    symbol: u8,
}

/// Children of an internal node: `LEAF | symbol` or the index of another internal node.
const LEAF: u16 = 0x8000;
/// Not yet assigned while the tree is built.
const NONE: u16 = 0xffff;

/// The 256 internal nodes of the code tree, the root first.
const fn build_tree() -> [[u16; 2]; 256] {
    let mut tree = [[NONE; 2]; 256];
    let mut used = 1usize;
    let mut symbol = 0usize;
    while symbol < 257 {
        let (code, len) = CODES[symbol];
        let mut node = 0usize;
        let mut depth = len;
        while depth > 1 {
            depth -= 1;
            let bit = ((code >> depth) & 1) as usize;
            if tree[node][bit] == NONE {
                tree[node][bit] = used as u16;
                used += 1;
            }
            node = tree[node][bit] as usize;
        }
        tree[node][(code & 1) as usize] = LEAF | symbol as u16;
        symbol += 1;
    }
    tree
}

const fn build_decode() -> [[Entry; 16]; 256] {
    let tree = build_tree();
    // Nodes reached from the root by one to seven 1-bits: valid places to stop (padding).
    let mut padding_ok = [false; 256];
    padding_ok[0] = true;
    let mut node = 0usize;
    let mut depth = 0;
    while depth < 7 {
        let child = tree[node][1];
        if child & LEAF != 0 {
            break;
        }
        node = child as usize;
        padding_ok[node] = true;
        depth += 1;
    }
    let mut table = [[Entry { next: 0, flags: 0, symbol: 0 }; 16]; 256];
    let mut state = 0usize;
    while state < 256 {
        let mut nibble = 0usize;
        while nibble < 16 {
            let mut node = state;
            let mut flags = 0u8;
            let mut symbol = 0u8;
            let mut bit = 4;
            while bit > 0 {
                bit -= 1;
                let child = tree[node][(nibble >> bit) & 1];
                if child & LEAF != 0 {
                    let value = child & !LEAF;
                    if value == 256 {
                        flags |= FAIL;
                    } else {
                        flags |= SYMBOL;
                        symbol = value as u8;
                    }
                    node = 0;
                } else {
                    node = child as usize;
                }
            }
            if padding_ok[node] {
                flags |= ACCEPT;
            }
            table[state][nibble] = Entry { next: node as u8, flags, symbol };
            nibble += 1;
        }
        state += 1;
    }
    table
}

static DECODE: [[Entry; 16]; 256] = build_decode();

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    /// The Huffman strings of RFC 7541 Appendix C.4 and C.6.
    const RFC_STRINGS: &[(&str, &str)] = &[
        ("www.example.com", "f1e3c2e5f23a6ba0ab90f4ff"),
        ("no-cache", "a8eb10649cbf"),
        ("custom-key", "25a849e95ba97d7f"),
        ("custom-value", "25a849e95bb8e8b4bf"),
        ("302", "6402"),
        ("307", "640eff"),
        ("private", "aec3771a4b"),
        ("Mon, 21 Oct 2013 20:13:21 GMT", "d07abe941054d444a8200595040b8166e082a62d1bff"),
        ("https://www.example.com", "9d29ad171863c78f0b97c8e9ae82ae43d3"),
        ("gzip", "9bd9ab"),
        (
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            "94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
        ),
    ];

    #[test]
    fn rfc_strings_encode_and_decode() {
        for (plain, encoded) in RFC_STRINGS {
            let mut out = Vec::new();
            encode(plain.as_bytes(), &mut out);
            assert_eq!(out, hex(encoded), "{plain}");
            assert_eq!(encoded_len(plain.as_bytes()), out.len());
            let mut back = Vec::new();
            decode(&out, &mut back).unwrap();
            assert_eq!(back, plain.as_bytes());
        }
    }

    #[test]
    fn invalid_padding_and_eos_are_refused() {
        // EOS (30 ones) inside the string.
        assert_eq!(decode(&hex("fffffffc"), &mut Vec::new()), Err(HuffmanError::Eos));
        // Eight bits of padding.
        assert_eq!(decode(&hex("1fff"), &mut Vec::new()), Err(HuffmanError::Padding));
        // Padding that is not all ones: 'a' is 00011, then 000.
        assert_eq!(decode(&hex("18"), &mut Vec::new()), Err(HuffmanError::Padding));
        // A whole byte of ones is eight bits of padding.
        assert_eq!(decode(&hex("ff"), &mut Vec::new()), Err(HuffmanError::Padding));
        assert_eq!(decode(&[], &mut Vec::new()), Ok(()));
        let mut out = Vec::new();
        decode(&hex("1f"), &mut out).unwrap();
        assert_eq!(out, b"a");
    }

    proptest! {
        #[test]
        fn round_trip(input in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut encoded = Vec::new();
            encode(&input, &mut encoded);
            prop_assert_eq!(encoded.len(), encoded_len(&input));
            let mut decoded = Vec::new();
            decode(&encoded, &mut decoded).unwrap();
            prop_assert_eq!(decoded, input);
        }

        #[test]
        fn decode_never_panics(input in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = decode(&input, &mut Vec::new());
        }
    }
}
