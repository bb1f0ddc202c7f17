//! Broadcast channels through the facade against the in-process HTTP/2 mock: a channel made
//! with `Builder::build_channels`, a Live Activity broadcast on it with `Apns::send_broadcast`,
//! Apple's reason for an unknown channel, the channel deleted.

use std::time::Duration;

use apns::channels::{ChannelError, MessageStoragePolicy};
use apns::mock::LocalHttp2Mock;
use apns::{ChannelId, Outcome, Payload, Reason};

#[test]
fn create_broadcast_list_delete() {
    let mock = LocalHttp2Mock::start().unwrap();
    let mut channels = mock.builder().build_channels().unwrap();
    assert_eq!(channels.bundle_id().as_str(), apns::mock::TEST_BUNDLE_ID);
    let channel = channels.create(MessageStoragePolicy::MOST_RECENT).unwrap();
    assert_eq!(channels.read(&channel).unwrap().storage, MessageStoragePolicy::MOST_RECENT);
    assert_eq!(channels.list().unwrap(), std::slice::from_ref(&channel));

    let apns = mock.builder().build().unwrap();
    let outcomes = apns.outcomes();
    let payload = Payload::new().alert("1-0");
    apns.send_broadcast(channel.clone(), &payload).unwrap();
    apns.send_broadcast(ChannelId::new("dHN0LXNyY2gtY2hubA==").unwrap(), &payload).unwrap();
    let first = outcomes.next_timeout(Duration::from_secs(10)).unwrap();
    let second = outcomes.next_timeout(Duration::from_secs(10)).unwrap();
    let mut outcomes = [first.outcome, second.outcome];
    outcomes.sort_by_key(|outcome| matches!(outcome, Outcome::Rejected(_)));
    assert!(matches!(outcomes[0], Outcome::Accepted { .. }), "{outcomes:?}");
    match &outcomes[1] {
        Outcome::Rejected(rejection) => assert_eq!(rejection.reason, Some(Reason::CHANNEL_NOT_REGISTERED)),
        other => panic!("{other:?}"),
    }
    assert!(apns.close(Duration::from_secs(10)).settled);

    channels.delete(&channel).unwrap();
    assert!(channels.list().unwrap().is_empty());
    match channels.delete(&channel) {
        Err(ChannelError::Rejected { status: 404, reason, .. }) => assert_eq!(reason, Some(Reason::BAD_PATH)),
        other => panic!("{other:?}"),
    }
    // Certificate auth works the same way; without a topic there is no app to manage.
    assert_eq!(mock.certificate_builder().build_channels().unwrap().list().unwrap(), []);
    let no_topic = apns::Apns::builder().endpoint(apns::Endpoint::at("localhost", mock.server().addr()));
    assert!(matches!(no_topic.build_channels(), Err(apns::Error::NoCredentials | apns::Error::NoTopic)));
}
