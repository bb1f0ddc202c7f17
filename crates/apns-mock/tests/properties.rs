//! Properties over many inputs: any split of valid input is accepted whole; any bytes at all get
//! at most one error response and leave the server serving.

mod common;

use apns_mock::{MockServer, Outcome};
use apns_proto::Format;
use common::*;
use proptest::prelude::*;

fn format() -> impl Strategy<Value = Format> {
    prop_oneof![Just(Format::Simple), Just(Format::Enhanced), Just(Format::Frame)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_split_of_valid_notifications_is_accepted_in_order(
        formats in prop::collection::vec(format(), 1..20),
        cuts in prop::collection::vec(1usize..300, 1..40),
    ) {
        let pki = pki();
        let server = MockServer::start(quick(&pki)).unwrap();
        let mut bytes = Vec::new();
        for (i, format) in formats.iter().enumerate() {
            bytes.extend(encode(&[notification(i as u32, token(1))], *format));
        }
        let mut client = connect(&server, &pki);
        let mut offset = 0;
        for cut in cuts.iter().cycle() {
            if offset == bytes.len() {
                break;
            }
            let end = (offset + cut).min(bytes.len());
            send(&mut client, &bytes[offset..end]);
            offset = end;
        }
        prop_assert!(server.wait_for_accepted(formats.len() as u64, TIMEOUT));
        let records = server.records();
        prop_assert_eq!(records.len(), formats.len());
        for (i, (record, format)) in records.iter().zip(&formats).enumerate() {
            prop_assert_eq!(record.outcome, Outcome::Accepted);
            prop_assert_eq!(record.command, format.command());
            let payload = format!("{{\"aps\":{{\"alert\":\"n{i}\"}}}}");
            prop_assert_eq!(&record.payload, payload.as_bytes());
        }
    }

    #[test]
    fn any_bytes_get_at_most_one_response_and_the_server_goes_on(
        garbage in prop::collection::vec(any::<u8>(), 1..2000),
    ) {
        let pki = pki();
        let server = MockServer::start(quick(&pki)).unwrap();
        let mut client = connect(&server, &pki);
        send(&mut client, &garbage);
        // Close our side: the server answers (if the input was wrong) and closes, or waits for
        // the rest of a command that never comes and closes at our end of stream.
        client.conn.send_close_notify();
        let _ = client.conn.complete_io(&mut client.sock);
        let (received, _) = read_until_closed(&mut client);
        prop_assert!(received.is_empty() || received.len() == 6, "{:?}", received);
        if let Some(response) = apns_proto::decode_error_response(&received).ok().and_then(|d| d.complete()) {
            prop_assert_ne!(response.0.status, apns_proto::Status::SHUTDOWN);
        }
        prop_assert!(server.is_running());
        let mut other = connect(&server, &pki);
        send(&mut other, &encode(&[notification(1, token(1))], Format::Frame));
        prop_assert!(server.wait_for(|s| s.connections == 2 && s.accepted >= 1, TIMEOUT));
        let stats = server.stop();
        prop_assert!(stats.rejected <= 1);
    }
}

#[test]
fn in_memory_records_are_bounded() {
    let pki = pki();
    let server = MockServer::start(quick(&pki).record_in_memory(10)).unwrap();
    let mut client = connect(&server, &pki);
    let batch: Vec<_> = (0..25).map(|i| notification(i, token(1))).collect();
    send(&mut client, &encode(&batch, Format::Frame));
    assert!(server.wait_for_accepted(25, TIMEOUT));
    assert_eq!(server.records().len(), 10);
    assert_eq!(server.stats().records_dropped, 15);
}
