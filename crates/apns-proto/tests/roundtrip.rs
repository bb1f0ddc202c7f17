//! Property tests: every codec round-trips in both directions, and every streaming decoder gives
//! the same result however its input is split.

use apns_proto::{
    decode_command, decode_error_response, decode_feedback_tuple, DecodeError, Decoded, DeviceToken,
    ErrorResponse, Expiry, FeedbackTuple, Format, Notification, NotificationId, Payload, PayloadLimit,
    Priority, Status,
};
use bytes::BytesMut;
use proptest::prelude::*;

fn token() -> impl Strategy<Value = DeviceToken> {
    any::<[u8; 32]>().prop_map(DeviceToken::new)
}

fn format() -> impl Strategy<Value = Format> {
    prop_oneof![Just(Format::Simple), Just(Format::Enhanced), Just(Format::Frame)]
}

fn priority() -> impl Strategy<Value = Priority> {
    prop_oneof![Just(Priority::Immediate), Just(Priority::PowerConsiderate)]
}

fn notification() -> impl Strategy<Value = Notification> {
    (token(), "\\PC{0,60}", any::<Option<u32>>(), any::<u32>(), any::<u32>(), priority()).prop_map(
        |(token, alert, badge, id, expiry, priority)| {
            let mut payload = Payload::new().alert(alert);
            if let Some(badge) = badge {
                payload = payload.badge(badge);
            }
            let payload = payload.encode(PayloadLimit::BINARY).unwrap();
            Notification::new(token, payload).with_id(id).with_expiry(expiry).with_priority(priority)
        },
    )
}

/// Bytes shaped like gateway commands (right command bytes, lengths in range, random contents),
/// so that the decoder accepts a good share of them.
fn command_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let field = || proptest::collection::vec(any::<u8>(), 0..40);
    let length_prefixed = |bytes: Vec<u8>| {
        let mut out = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
        out.extend(bytes);
        out
    };
    let item = (any::<u8>(), field()).prop_map(move |(id, data)| {
        let mut out = vec![id];
        out.extend(length_prefixed(data));
        out
    });
    prop_oneof![
        (field(), field()).prop_map(move |(token, payload)| {
            let mut out = vec![0];
            out.extend(length_prefixed(token));
            out.extend(length_prefixed(payload));
            out
        }),
        (any::<u32>(), any::<u32>(), field(), field()).prop_map(move |(id, expiry, token, payload)| {
            let mut out = vec![1];
            out.extend(id.to_be_bytes());
            out.extend(expiry.to_be_bytes());
            out.extend(length_prefixed(token));
            out.extend(length_prefixed(payload));
            out
        }),
        (proptest::collection::vec(item, 0..7), any::<u8>()).prop_map(|(items, trim)| {
            let mut body: Vec<u8> = items.concat();
            // Sometimes cut the last item short inside the frame: a malformed frame.
            if trim % 4 == 0 && !body.is_empty() {
                body.truncate(body.len() - 1);
            }
            let mut out = vec![2];
            out.extend(u32::try_from(body.len()).unwrap().to_be_bytes());
            out.extend(body);
            out
        }),
        proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

/// Decodes a whole stream of gateway commands; the `Debug` text of each outcome stands for it.
fn decode_commands(input: &[u8]) -> Vec<String> {
    let mut results = Vec::new();
    let mut rest = input;
    loop {
        match decode_command(rest) {
            Ok(Decoded::Complete { value, consumed }) => {
                results.push(format!("{value:?} => {:?}", value.validate(PayloadLimit::BINARY)));
                rest = &rest[consumed..];
            }
            Ok(Decoded::Incomplete { .. }) => {
                results.push(format!("incomplete with {} bytes", rest.len()));
                return results;
            }
            Err(error) => {
                results.push(format!("{error:?}"));
                return results;
            }
        }
    }
}

/// Decodes a stream delivered in two reads split at `split`, as a socket reader would: keep
/// what is not consumed, append the next read, decode again.
fn decode_commands_split(input: &[u8], split: usize) -> Vec<String> {
    let mut buffer = input[..split].to_vec();
    let mut results = Vec::new();
    let mut pending = Some(&input[split..]);
    loop {
        match decode_command(&buffer) {
            Ok(Decoded::Complete { value, consumed }) => {
                results.push(format!("{value:?} => {:?}", value.validate(PayloadLimit::BINARY)));
                buffer.drain(..consumed);
            }
            Ok(Decoded::Incomplete { needed }) => {
                let Some(more) = pending.take() else {
                    results.push(format!("incomplete with {} bytes", buffer.len()));
                    return results;
                };
                if !more.is_empty() {
                    assert!(needed.get() >= 1);
                }
                buffer.extend_from_slice(more);
            }
            Err(error) => {
                results.push(format!("{error:?}"));
                return results;
            }
        }
    }
}

proptest! {
    #[test]
    fn notification_decodes_to_what_was_encoded(notification in notification(), format in format()) {
        let mut wire = BytesMut::new();
        notification.encode(format, &mut wire);
        prop_assert_eq!(wire.len(), notification.encoded_len(format));
        let (command, consumed) = decode_command(&wire).unwrap().complete().unwrap();
        prop_assert_eq!(consumed, wire.len());
        let received = command.validate(PayloadLimit::BINARY).unwrap();
        prop_assert_eq!(received.token, notification.token);
        prop_assert_eq!(received.payload, notification.payload.as_bytes());
        prop_assert_eq!(received.format, format);
        if format != Format::Simple {
            prop_assert_eq!(received.id, notification.id);
            prop_assert_eq!(received.expiry, notification.expiry);
        }
        if format == Format::Frame {
            prop_assert_eq!(received.priority, notification.priority);
        }
    }

    #[test]
    fn accepted_commands_encode_back_to_their_bytes(bytes in command_like_bytes()) {
        let mut rest = &bytes[..];
        while let Ok(Decoded::Complete { value, consumed }) = decode_command(rest) {
            let mut encoded = BytesMut::new();
            value.encode(&mut encoded);
            prop_assert_eq!(&encoded[..], &rest[..consumed]);
            rest = &rest[consumed..];
        }
    }

    #[test]
    fn command_stream_split_anywhere_decodes_the_same(
        notifications in proptest::collection::vec((notification(), format()), 1..4),
        garbage in command_like_bytes(),
    ) {
        let mut stream = BytesMut::new();
        for (notification, format) in &notifications {
            notification.encode(*format, &mut stream);
        }
        stream.extend_from_slice(&garbage);
        let whole = decode_commands(&stream);
        prop_assert!(whole.len() > notifications.len());
        for split in 0..=stream.len() {
            prop_assert_eq!(&decode_commands_split(&stream, split), &whole, "split at {}", split);
        }
    }

    #[test]
    fn error_response_round_trips(status in any::<u8>(), id in any::<u32>()) {
        let response = ErrorResponse { status: Status(status), id: NotificationId(id) };
        let bytes = response.to_bytes();
        prop_assert_eq!(decode_error_response(&bytes).unwrap().complete(), Some((response, 6)));
        for split in 0..6 {
            prop_assert!(
                matches!(decode_error_response(&bytes[..split]), Ok(Decoded::Incomplete { needed }) if needed.get() >= 1),
                "prefix of {} bytes must be incomplete", split
            );
        }
    }

    #[test]
    fn error_response_bytes_round_trip(bytes in any::<[u8; 6]>()) {
        match decode_error_response(&bytes) {
            Ok(decoded) => {
                let (response, consumed) = decoded.complete().unwrap();
                prop_assert_eq!(consumed, 6);
                prop_assert_eq!(response.to_bytes(), bytes);
            }
            Err(error) => prop_assert_eq!(error, DecodeError::UnexpectedResponse { command: bytes[0] }),
        }
    }

    #[test]
    fn feedback_round_trips(time in any::<u32>(), token in proptest::collection::vec(any::<u8>(), 0..80)) {
        let tuple = FeedbackTuple { time, token: &token };
        let mut bytes = BytesMut::new();
        tuple.encode(&mut bytes);
        prop_assert_eq!(decode_feedback_tuple(&bytes).unwrap().complete(), Some((tuple, 6 + token.len())));
        for split in 0..bytes.len() {
            let incomplete = matches!(decode_feedback_tuple(&bytes[..split]), Ok(Decoded::Incomplete { .. }));
            prop_assert!(incomplete, "prefix of {} bytes must be incomplete", split);
        }
    }

    #[test]
    fn feedback_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let mut rest = &bytes[..];
        while let Ok(Decoded::Complete { value, consumed }) = decode_feedback_tuple(rest) {
            let mut encoded = BytesMut::new();
            value.encode(&mut encoded);
            prop_assert_eq!(&encoded[..], &rest[..consumed]);
            rest = &rest[consumed..];
        }
    }

    #[test]
    fn token_text_round_trips(token in token()) {
        prop_assert_eq!(token.to_string().parse::<DeviceToken>().unwrap(), token);
        prop_assert_eq!(token.to_string().to_uppercase().parse::<DeviceToken>().unwrap(), token);
    }

    #[test]
    fn expiry_from_float_truncates(seconds in 0.0f64..4_294_967_295.0) {
        prop_assert_eq!(Expiry::from_unix_f64(seconds).unwrap().unix_seconds(), seconds.trunc() as u32);
    }
}
