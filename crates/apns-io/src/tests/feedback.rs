//! The feedback session machine, driven by hand with simulated time.

use std::time::{Duration, Instant};

use crate::event::{ConnectError, FeedbackError};
use crate::feedback::FeedbackSession;
use crate::machine::Closed;

fn tuples(count: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    for i in 0..count {
        bytes.extend_from_slice(&(1_700_000_000 + i).to_be_bytes());
        bytes.extend_from_slice(&32u16.to_be_bytes());
        bytes.extend_from_slice(&[i as u8; 32]);
    }
    bytes
}

fn established(now: Instant) -> FeedbackSession {
    let mut session = FeedbackSession::new(now + Duration::from_secs(30));
    session.handle_connected(now);
    session.handle_established(now);
    session
}

#[test]
fn records_split_anywhere_arrive_whole() {
    let now = Instant::now();
    let bytes = tuples(20);
    for piece in [1, 5, 6, 37, 38, 39, 100] {
        let mut session = established(now);
        for chunk in bytes.chunks(piece) {
            session.handle_bytes(now, chunk);
            assert!(session.poll_result().is_none());
        }
        session.handle_closed(now, Closed::ByPeer);
        let items = session.poll_result().unwrap().unwrap();
        assert_eq!(items.len(), 20, "pieces of {piece}");
        assert_eq!(items[19].time, 1_700_000_019);
        assert_eq!(items[19].token.as_bytes(), &[19; 32]);
        assert_eq!(session.poll_timeout(), None, "over");
    }
}

#[test]
fn a_close_inside_a_record_is_truncated() {
    let now = Instant::now();
    let mut session = established(now);
    let bytes = tuples(2);
    session.handle_bytes(now, &bytes[..bytes.len() - 3]);
    session.handle_closed(now, Closed::ByPeer);
    assert!(
        matches!(session.poll_result(), Some(Err(FeedbackError::Truncated { received })) if received.len() == 1)
    );
}

#[test]
fn timeouts_name_the_stage() {
    let now = Instant::now();
    let deadline = now + Duration::from_secs(1);
    let mut session = FeedbackSession::new(deadline);
    session.handle_timeout(now);
    assert!(session.poll_result().is_none(), "a spurious timeout is a no-op");
    session.handle_timeout(deadline);
    assert_eq!(session.poll_result(), Some(Err(FeedbackError::Connect(ConnectError::ConnectTimeout))));

    let mut session = FeedbackSession::new(deadline);
    session.handle_connected(now);
    session.handle_timeout(deadline);
    assert_eq!(session.poll_result(), Some(Err(FeedbackError::Connect(ConnectError::HandshakeTimeout))));

    let mut session = established(now);
    session.handle_bytes(now, &tuples(3));
    session.handle_timeout(now + Duration::from_secs(30));
    assert!(
        matches!(session.poll_result(), Some(Err(FeedbackError::Timeout { received })) if received.len() == 3)
    );
}

#[test]
fn a_reset_after_the_list_still_delivers_it() {
    let now = Instant::now();
    let reset = ConnectError::Io(std::io::ErrorKind::ConnectionReset);
    let mut session = established(now);
    session.handle_bytes(now, &tuples(2));
    session.handle_closed(now, Closed::Failed(reset.clone()));
    assert_eq!(session.poll_result().unwrap().unwrap().len(), 2);
    // Before any item, a reset is a failure; before the handshake, a close is too.
    let mut session = established(now);
    session.handle_closed(now, Closed::Failed(reset.clone()));
    assert_eq!(session.poll_result(), Some(Err(FeedbackError::Connect(reset))));
    let mut session = FeedbackSession::new(now + Duration::from_secs(1));
    session.handle_closed(now, Closed::ByPeer);
    assert_eq!(session.poll_result(), Some(Err(FeedbackError::Connect(ConnectError::ClosedDuringHandshake))));
}
