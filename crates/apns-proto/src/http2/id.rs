//! `apns-id` and `apns-request-id`: canonical UUIDs, and a generator for them.

use std::fmt;
use std::str::FromStr;

/// A canonical UUID as APNs uses it in `apns-id` (device pushes), `apns-request-id` (broadcast
/// and channel requests) and `apns-unique-id` (sandbox responses): 32 lowercase hex digits in
/// groups of 8-4-4-4-12.
///
/// Parsing accepts either case (and so keeps whatever Apple echoes); display is always lowercase,
/// the form Apple asks for.
///
/// ```
/// use apns_proto::http2::ApnsId;
/// let id: ApnsId = "123E4567-E89B-12D3-A456-4266554400A0".parse()?;
/// assert_eq!(id.to_string(), "123e4567-e89b-12d3-a456-4266554400a0");
/// # Ok::<(), apns_proto::http2::InvalidApnsId>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApnsId(u128);

/// Byte offsets of the hyphens in the canonical form.
const HYPHENS: [usize; 4] = [8, 13, 18, 23];

impl ApnsId {
    /// The length of the canonical text form.
    pub const TEXT_LEN: usize = 36;

    /// The UUID with these 128 bits, as they are (any version).
    pub const fn from_u128(bits: u128) -> Self {
        Self(bits)
    }

    /// A version-4 (random) UUID made from 16 random bytes: the version and variant bits are set,
    /// the other 122 bits are the caller's.
    pub const fn from_random_bytes(bytes: [u8; 16]) -> Self {
        Self::v4(u128::from_be_bytes(bytes))
    }

    const fn v4(bits: u128) -> Self {
        const VERSION_MASK: u128 = 0xf << 76;
        const VARIANT_MASK: u128 = 0b11 << 62;
        Self((bits & !VERSION_MASK & !VARIANT_MASK) | (0x4 << 76) | (0b10 << 62))
    }

    /// The 128 bits.
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// The canonical text, lowercase: the header value.
    pub fn to_text(self) -> [u8; Self::TEXT_LEN] {
        // Eight hex digits at a time from 32 bits (one per request: a few word operations
        // instead of a table look-up per nibble), then the hyphens at 8, 13, 18 and 23.
        let bits = self.0;
        let words = [(bits >> 96) as u32, (bits >> 64) as u32, (bits >> 32) as u32, bits as u32];
        let mut hex = [0u8; 32];
        for (chunk, word) in hex.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&hex_digits(word).to_be_bytes());
        }
        let mut text = [b'-'; Self::TEXT_LEN];
        text[..8].copy_from_slice(&hex[..8]);
        text[9..13].copy_from_slice(&hex[8..12]);
        text[14..18].copy_from_slice(&hex[12..16]);
        text[19..23].copy_from_slice(&hex[16..20]);
        text[24..].copy_from_slice(&hex[20..]);
        text
    }

    /// Parses the canonical form (either case). Anything else, including the braced or
    /// hyphen-less forms, is refused: Apple takes only the canonical one.
    pub fn parse(text: &[u8]) -> Result<Self, InvalidApnsId> {
        if text.len() != Self::TEXT_LEN {
            return Err(InvalidApnsId);
        }
        let mut bits: u128 = 0;
        for (index, &byte) in text.iter().enumerate() {
            if HYPHENS.contains(&index) {
                if byte != b'-' {
                    return Err(InvalidApnsId);
                }
                continue;
            }
            let value = match byte {
                b'0'..=b'9' => byte - b'0',
                b'a'..=b'f' => byte - b'a' + 10,
                b'A'..=b'F' => byte - b'A' + 10,
                _ => return Err(InvalidApnsId),
            };
            bits = (bits << 4) | u128::from(value);
        }
        Ok(Self(bits))
    }
}

impl FromStr for ApnsId {
    type Err = InvalidApnsId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text.as_bytes())
    }
}

impl fmt::Display for ApnsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The text is ASCII by construction.
        f.write_str(std::str::from_utf8(&self.to_text()).unwrap_or("?"))
    }
}

impl fmt::Debug for ApnsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApnsId({self})")
    }
}

/// A string that is not a canonical UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a canonical UUID (8-4-4-4-12 hex digits, e.g. 123e4567-e89b-12d3-a456-4266554400a0)")]
pub struct InvalidApnsId;

/// Generates version-4 UUIDs for requests that the caller did not name, without reading any
/// randomness itself: the I/O shell seeds it once (16 random bytes from the operating system),
/// tests seed it with constants and get the same ids every run.
///
/// Ids from one generator never repeat (within 2⁶² ids): the low 62 bits are a bijection of a
/// counter, the high 64 a random prefix, so two generators with different seeds are as unlikely
/// to collide as random UUIDs are.
///
/// ```
/// use apns_proto::http2::ApnsIdGenerator;
/// let mut ids = ApnsIdGenerator::new([7; 16]);
/// let (first, second) = (ids.next_id(), ids.next_id());
/// assert_ne!(first, second);
/// assert_eq!(first.to_string().as_bytes()[14], b'4'); // version 4
/// ```
#[derive(Clone)]
pub struct ApnsIdGenerator {
    prefix: u64,
    key: u64,
    counter: u64,
}

impl ApnsIdGenerator {
    const LOW_BITS: u32 = 62;
    const LOW_MASK: u64 = (1 << Self::LOW_BITS) - 1;

    /// A generator seeded with 16 random bytes.
    pub const fn new(seed: [u8; 16]) -> Self {
        let bits = u128::from_be_bytes(seed);
        Self { prefix: (bits >> 64) as u64, key: bits as u64, counter: 0 }
    }

    /// The next id.
    #[must_use]
    pub fn next_id(&mut self) -> ApnsId {
        let low = permute62(self.counter ^ (self.key & Self::LOW_MASK), self.key);
        self.counter = (self.counter + 1) & Self::LOW_MASK;
        // The variant bits (10) sit above the 62 permuted bits; v4 sets them and the version.
        ApnsId::v4((u128::from(self.prefix) << 64) | u128::from(low))
    }
}

impl fmt::Debug for ApnsIdGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApnsIdGenerator").field("issued", &self.counter).finish_non_exhaustive()
    }
}

/// A bijection of the 62-bit integers (odd multiplications and xor-shifts modulo 2⁶²), keyed so
/// that consecutive counters give unrelated-looking ids.
fn permute62(value: u64, key: u64) -> u64 {
    const MASK: u64 = ApnsIdGenerator::LOW_MASK;
    let mut x = value & MASK;
    x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15 | 1) & MASK;
    x ^= x >> 31;
    x = x.wrapping_mul((key | 1) & MASK) & MASK;
    x ^= x >> 29;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9 | 1) & MASK;
    x ^= x >> 32;
    x
}

/// The eight lowercase hex digits of `word`, most significant first in the big-endian bytes:
/// each nibble spread to its own byte, then `'0'` added, and `'a' - '0' - 10` more to the
/// nibbles above 9.
const fn hex_digits(word: u32) -> u64 {
    let x = word as u64;
    let x = ((x & 0xffff_0000) << 16) | (x & 0x0000_ffff);
    let x = ((x & 0x0000_ff00_0000_ff00) << 8) | (x & 0x0000_00ff_0000_00ff);
    let x = ((x & 0x00f0_00f0_00f0_00f0) << 4) | (x & 0x000f_000f_000f_000f);
    // A byte holding 10 to 15 carries into its bit 4 when 6 is added.
    let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    x + 0x3030_3030_3030_3030 + letters * (b'a' - b'0' - 10) as u64
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn canonical_text_round_trip() {
        let text = "eabeae54-14a8-11e5-b60b-1697f925ec7b";
        let id: ApnsId = text.parse().unwrap();
        assert_eq!(id.to_string(), text);
        assert_eq!(id.as_u128(), 0xeabeae5414a811e5b60b1697f925ec7b);
        for bad in [
            "",
            "eabeae5414a811e5b60b1697f925ec7b",
            "{eabeae54-14a8-11e5-b60b-1697f925ec7b}",
            "eabeae54-14a8-11e5-b60b-1697f925ec7g",
            "eabeae54_14a8-11e5-b60b-1697f925ec7b",
        ] {
            assert_eq!(bad.parse::<ApnsId>(), Err(InvalidApnsId), "{bad}");
        }
    }

    #[test]
    fn generated_ids_are_v4_and_distinct() {
        let mut ids = ApnsIdGenerator::new(*b"0123456789abcdef");
        let mut seen = HashSet::new();
        for _ in 0..100_000 {
            let id = ids.next_id();
            let text = id.to_string();
            assert_eq!(text.as_bytes()[14], b'4');
            assert!(matches!(text.as_bytes()[19], b'8' | b'9' | b'a' | b'b'), "{text}");
            assert!(seen.insert(id));
        }
    }

    proptest! {
        #[test]
        fn any_bits_round_trip(bits in any::<u128>()) {
            let id = ApnsId::from_u128(bits);
            prop_assert_eq!(ApnsId::parse(&id.to_text()), Ok(id));
            // Lowercase and canonical, as a formatter writes it.
            let hex = format!("{bits:032x}");
            let expected = format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]);
            prop_assert_eq!(&id.to_text()[..], expected.as_bytes());
            prop_assert_eq!(id.to_string().to_uppercase().parse::<ApnsId>(), Ok(id));
        }

        #[test]
        fn permutation_is_injective(a in 0u64..(1 << 62), b in 0u64..(1 << 62), key in any::<u64>()) {
            prop_assume!(a != b);
            prop_assert_ne!(permute62(a, key), permute62(b, key));
        }
    }
}
