//! The feedback client.

mod common;

use std::time::Duration;

use apns_io::{Config, Endpoint, FeedbackError};
use apns_mock::FeedbackEntry;
use common::*;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn feedback_items_arrive_whole_however_split() {
    let entries: Vec<FeedbackEntry> =
        (0..500).map(|i| FeedbackEntry::new(1_700_000_000 + i, token(i))).collect();
    let expected = entries.clone();
    let harness = Harness::start(move |mock| mock.feedback_tuples(entries).feedback_chunks(Some(7)));
    let (client, _events) = harness.client(|config| config);
    let items = client.fetch_feedback(WAIT).unwrap();
    assert_eq!(items.len(), expected.len());
    for (item, entry) in items.iter().zip(&expected) {
        assert_eq!(item.time, entry.time);
        assert_eq!(item.token.as_bytes().as_slice(), entry.token.as_slice());
    }
    // Twice on the same client, and an empty list.
    assert_eq!(client.fetch_feedback(WAIT).unwrap().len(), 500);
    let empty = Harness::start(|mock| mock);
    let (client, _events) = empty.client(|config| config);
    assert!(client.fetch_feedback(WAIT).unwrap().is_empty());
}

#[test]
fn feedback_times_out_if_the_server_never_closes() {
    let harness = Harness::start(|mock| mock);
    // The gateway never closes a quiet connection: use it as a feedback server that hangs.
    let config = Config::new(harness.gateway(), harness.tls()).feedback(harness.gateway());
    let client = apns_io::Client::start(config).unwrap();
    let result = client.fetch_feedback(Duration::from_millis(300));
    assert!(
        matches!(result, Err(FeedbackError::Timeout { ref received }) if received.is_empty()),
        "{result:?}"
    );
    let config = Config::new(harness.gateway(), harness.tls());
    let client = apns_io::Client::start(config).unwrap();
    assert_eq!(client.fetch_feedback(WAIT), Err(FeedbackError::NotConfigured));
    let refused = Endpoint::at("localhost", "127.0.0.1:1".parse().unwrap());
    let client =
        apns_io::Client::start(Config::new(harness.gateway(), harness.tls()).feedback(refused)).unwrap();
    assert!(matches!(client.fetch_feedback(WAIT), Err(FeedbackError::Connect(_))));
}
