//! Wire identifiers and the confirmation probe.
//!
//! Every write gets a serial number (a `u64` counting writes, which never wraps in practice).
//! The wire identifier is the serial modulo 2^32 - 1, plus one: never 0, so an error response
//! naming 0 is always unknown, and unique among any 2^32 - 1 consecutive writes. Since the
//! in-flight notifications of a connection have consecutive serials, an identifier maps back to
//! its position in O(1).

use apns_proto::{item, Format, NotificationId, COMMAND_ENHANCED, COMMAND_FRAME};
use bytes::{BufMut, BytesMut};

/// How many distinct wire identifiers there are: every `u32` but 0.
const MODULUS: u64 = u32::MAX as u64;

/// The wire identifier of the write numbered `serial`.
pub(crate) fn wire_id(serial: u64) -> NotificationId {
    // `serial % MODULUS` is below 2^32 - 1, so adding one still fits.
    NotificationId(u32::try_from(serial % MODULUS).unwrap_or(u32::MAX - 1) + 1)
}

/// How many writes after `base` the write with identifier `id` came, if `id` can be a wire
/// identifier at all (it is not 0). The answer is modulo 2^32 - 1.
pub(crate) fn distance_after(base: u64, id: NotificationId) -> Option<u64> {
    let residue = u64::from(id.0.checked_sub(1)?);
    Some((residue + MODULUS - base % MODULUS) % MODULUS)
}

/// The payload of a probe: the shortest JSON object.
const PROBE_PAYLOAD: &[u8] = b"{}";

/// Appends a confirmation probe with identifier `id`: a notification without a device token,
/// which the gateway reads in full and answers with status 2 (missing device token) naming `id`.
/// Nothing is written for [`Format::Simple`], which has no identifier.
pub(crate) fn encode_probe(format: Format, id: NotificationId, out: &mut BytesMut) {
    // Every length here is a small constant.
    let payload_len = PROBE_PAYLOAD.len() as u16;
    match format {
        Format::Simple => {}
        Format::Enhanced => {
            out.put_u8(COMMAND_ENHANCED);
            out.put_u32(id.0);
            out.put_u32(0);
            out.put_u16(0);
            out.put_u16(payload_len);
            out.put_slice(PROBE_PAYLOAD);
        }
        Format::Frame => {
            // Items 2 (payload), 3 (identifier) and 5 (priority); no item 1 (token).
            let items = [
                (item::PAYLOAD, PROBE_PAYLOAD),
                (item::IDENTIFIER, &id.0.to_be_bytes()[..]),
                (item::PRIORITY, &[10][..]),
            ];
            let body: usize = items.iter().map(|(_, data)| 3 + data.len()).sum();
            out.put_u8(COMMAND_FRAME);
            out.put_u32(body as u32);
            for (number, data) in items {
                out.put_u8(number);
                out.put_u16(data.len() as u16);
                out.put_slice(data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use apns_proto::{decode_command, PayloadLimit, Status};

    use super::*;

    #[test]
    fn wire_ids_skip_zero_and_wrap() {
        assert_eq!(wire_id(0), NotificationId(1));
        assert_eq!(wire_id(MODULUS - 1), NotificationId(u32::MAX));
        assert_eq!(wire_id(MODULUS), NotificationId(1));
        for base in [0, 5, MODULUS - 3, MODULUS, 3 * MODULUS + 7] {
            for step in 0..6 {
                assert_eq!(distance_after(base, wire_id(base + step)), Some(step));
            }
        }
        assert_eq!(distance_after(10, NotificationId(0)), None);
    }

    #[test]
    fn probes_are_answered_with_their_own_id() {
        for format in [Format::Enhanced, Format::Frame] {
            let mut out = BytesMut::new();
            encode_probe(format, NotificationId(0xdead_beef), &mut out);
            let (command, used) = decode_command(&out).unwrap().complete().unwrap();
            assert_eq!(used, out.len());
            let response = command.validate(PayloadLimit::BINARY).unwrap_err();
            assert_eq!(response.status, Status::MISSING_DEVICE_TOKEN);
            assert_eq!(response.id, NotificationId(0xdead_beef));
        }
        let mut out = BytesMut::new();
        encode_probe(Format::Simple, NotificationId(1), &mut out);
        assert!(out.is_empty());
    }
}
