//! The feedback client.

mod common;

use std::time::Duration;

use apns_io::{fetch_feedback, ConnectError, Endpoint, FeedbackError};
use apns_mock::FeedbackEntry;
use common::*;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn feedback_items_arrive_whole_however_split() {
    let entries: Vec<FeedbackEntry> =
        (0..500).map(|i| FeedbackEntry::new(1_700_000_000 + i, token(i))).collect();
    let expected = entries.clone();
    let harness = Harness::start(move |mock| mock.feedback_tuples(entries).feedback_chunks(Some(7)));
    let items = fetch_feedback(&harness.feedback(), harness.tls(), WAIT).unwrap();
    assert_eq!(items.len(), expected.len());
    for (item, entry) in items.iter().zip(&expected) {
        assert_eq!(item.time, entry.time);
        assert_eq!(item.token.as_bytes().as_slice(), entry.token.as_slice());
    }
    // Twice, and an empty list.
    assert_eq!(fetch_feedback(&harness.feedback(), harness.tls(), WAIT).unwrap().len(), 500);
    let empty = Harness::start(|mock| mock);
    assert!(fetch_feedback(&empty.feedback(), empty.tls(), WAIT).unwrap().is_empty());
}

#[test]
fn feedback_times_out_if_the_server_never_closes() {
    let harness = Harness::start(|mock| mock);
    // The gateway never closes a quiet connection: use it as a feedback server that hangs.
    let result = fetch_feedback(&harness.gateway(), harness.tls(), Duration::from_millis(300));
    assert!(
        matches!(result, Err(FeedbackError::Timeout { ref received }) if received.is_empty()),
        "{result:?}"
    );
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let refused = Endpoint::at("localhost", closed_port);
    assert_eq!(
        fetch_feedback(&refused, harness.tls(), WAIT),
        Err(FeedbackError::Connect(ConnectError::Refused))
    );
}
