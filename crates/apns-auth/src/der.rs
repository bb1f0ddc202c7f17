//! Just enough DER to tell what a key file holds and to read Apple's topic extension: one
//! tag-length-value at a time, lengths checked before every slice, no recursion.

/// `SEQUENCE`.
pub(crate) const SEQUENCE: u8 = 0x30;
/// `INTEGER`.
pub(crate) const INTEGER: u8 = 0x02;
/// `OCTET STRING`.
pub(crate) const OCTET_STRING: u8 = 0x04;
/// `BIT STRING`.
pub(crate) const BIT_STRING: u8 = 0x03;
/// `OBJECT IDENTIFIER`.
pub(crate) const OID: u8 = 0x06;
/// `[0]` constructed.
pub(crate) const CONTEXT_0: u8 = 0xa0;
/// `[1]` constructed.
pub(crate) const CONTEXT_1: u8 = 0xa1;

/// Reads one element: `(tag, contents, rest)`. Only definite lengths of up to four bytes, as DER
/// requires; `None` for anything truncated or malformed.
pub(crate) fn read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    // High tag numbers (0x1f) never occur in what we read.
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, after) = rest.split_at_checked(count)?;
        rest = after;
        bytes.iter().fold(0usize, |len, &byte| (len << 8) | usize::from(byte))
    };
    let (contents, rest) = rest.split_at_checked(len)?;
    Some((tag, contents, rest))
}

/// Reads one element that must have `tag`.
pub(crate) fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match read(input)? {
        (found, contents, rest) if found == tag => Some((contents, rest)),
        _ => None,
    }
}

/// Writes `tag`, a DER length and `contents` (test helpers and key conversion).
#[cfg(test)]
pub(crate) fn write(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match contents.len() {
        len @ 0..=0x7f => out.push(len as u8),
        len @ 0x80..=0xff => out.extend([0x81, len as u8]),
        len => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(contents);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(read(&[0x04, 0x01, 0xaa, 0xbb]), Some((0x04, &[0xaa][..], &[0xbb][..])));
        assert_eq!(read(&[0x04, 0x81, 0x01, 0xaa]), Some((0x04, &[0xaa][..], &[][..])));
        assert_eq!(read(&[0x04, 0x02, 0xaa]), None);
        assert_eq!(read(&[0x04, 0x80]), None);
        assert_eq!(read(&[0x04, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(read(&[0x1f, 0x01, 0x00]), None);
        assert_eq!(read(&[]), None);
        let long = write(OCTET_STRING, &[7; 300]);
        assert_eq!(expect(&long, OCTET_STRING).map(|(c, _)| c.len()), Some(300));
    }
}
