//! The feedback client: a small sans-io machine ([`FeedbackSession`]) that reads the list of
//! uninstalled devices until the server closes, and [`fetch_feedback`], which drives one on the
//! calling thread over one TLS connection (no event-loop thread, no gateway client).

use std::sync::Arc;
use std::time::{Duration, Instant};

use apns_proto::{FeedbackItem, FeedbackReader};
use mio::{Events, Poll, Token};
use tracing::{debug, info, warn};

use crate::config::Endpoint;
use crate::event::{ConnectError, FeedbackError};
use crate::machine::Closed;
use crate::stream::{ReadStatus, TlsStream};

/// Where a feedback session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting { tcp: bool },
    Established,
    Done,
}

/// One read of the feedback service, as a state machine: connected, established, bytes, closed,
/// timeout in; the result out. It never touches a socket or the clock.
#[derive(Debug)]
pub(crate) struct FeedbackSession {
    deadline: Instant,
    state: State,
    reader: FeedbackReader,
    items: Vec<FeedbackItem>,
    result: Option<Result<Vec<FeedbackItem>, FeedbackError>>,
}

impl FeedbackSession {
    /// A session that must be over by `deadline`.
    pub(crate) fn new(deadline: Instant) -> Self {
        Self {
            deadline,
            state: State::Connecting { tcp: false },
            reader: FeedbackReader::new(),
            items: Vec::new(),
            result: None,
        }
    }

    /// The TCP connect finished.
    pub(crate) fn handle_connected(&mut self, _now: Instant) {
        if self.state == (State::Connecting { tcp: false }) {
            self.state = State::Connecting { tcp: true };
        }
    }

    /// The TLS handshake finished.
    pub(crate) fn handle_established(&mut self, _now: Instant) {
        if matches!(self.state, State::Connecting { .. }) {
            self.state = State::Established;
        }
    }

    /// Plaintext arrived: complete records become items, however the bytes were split.
    pub(crate) fn handle_bytes(&mut self, _now: Instant, bytes: &[u8]) {
        if self.state != State::Established {
            return;
        }
        self.reader.handle_bytes(bytes);
        while let Some(item) = self.reader.poll_item() {
            match item {
                Ok(item) => self.items.push(item),
                Err(e) => warn!(error = %e, "feedback: skipping a record"),
            }
        }
    }

    /// The connection ended: the list is complete (or truncated, or never came).
    pub(crate) fn handle_closed(&mut self, _now: Instant, closed: Closed) {
        let result = match (self.state, closed) {
            (State::Done, _) => return,
            (State::Connecting { .. }, Closed::ByPeer) => {
                Err(FeedbackError::Connect(ConnectError::ClosedDuringHandshake))
            }
            (State::Connecting { .. }, Closed::Failed(error)) => Err(FeedbackError::Connect(error)),
            // Some servers reset instead of closing once they have sent everything.
            (State::Established, Closed::Failed(error)) if self.items.is_empty() => {
                Err(FeedbackError::Connect(error))
            }
            (State::Established, _) => self.finish(),
        };
        self.done(result);
    }

    /// Time passed: past the deadline the session fails with what it has.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if now < self.deadline {
            return;
        }
        let result = match self.state {
            State::Done => return,
            State::Connecting { tcp: false } => Err(FeedbackError::Connect(ConnectError::ConnectTimeout)),
            State::Connecting { tcp: true } => Err(FeedbackError::Connect(ConnectError::HandshakeTimeout)),
            State::Established => Err(FeedbackError::Timeout { received: std::mem::take(&mut self.items) }),
        };
        self.done(result);
    }

    /// When to call [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        (self.state != State::Done).then_some(self.deadline)
    }

    /// The result, once the session is over.
    #[must_use]
    pub(crate) fn poll_result(&mut self) -> Option<Result<Vec<FeedbackItem>, FeedbackError>> {
        self.result.take()
    }

    fn finish(&mut self) -> Result<Vec<FeedbackItem>, FeedbackError> {
        let items = std::mem::take(&mut self.items);
        match self.reader.finish() {
            Ok(()) => Ok(items),
            Err(_) => Err(FeedbackError::Truncated { received: items }),
        }
    }

    fn done(&mut self, result: Result<Vec<FeedbackItem>, FeedbackError>) {
        self.state = State::Done;
        self.result = Some(result);
    }
}

/// Connects to the feedback service at `endpoint`, reads until it closes and returns the
/// devices it listed, on the calling thread. Fails with [`FeedbackError::Timeout`] (with the
/// items so far) if the server has not closed within `timeout`.
pub fn fetch_feedback(
    endpoint: &Endpoint,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<Vec<FeedbackItem>, FeedbackError> {
    let connect_error = |e: std::io::Error| FeedbackError::Connect(ConnectError::from_io(&e));
    let mut poll = Poll::new().map_err(connect_error)?;
    let mut events = Events::with_capacity(8);
    let start = Instant::now();
    let mut session = FeedbackSession::new(start + timeout);
    debug!(endpoint = %endpoint, "feedback: connecting");
    let mut stream = match TlsStream::open(endpoint, tls, poll.registry(), Token(0)) {
        Ok(stream) => Some(stream),
        Err(error) => {
            session.handle_closed(start, Closed::Failed(error));
            None
        }
    };
    let mut received = Vec::new();
    loop {
        let now = Instant::now();
        if let Some(open) = &mut stream {
            if let Err(closed) = drive(open, &mut session, &mut received, now) {
                session.handle_closed(now, closed);
            }
        }
        if session.poll_timeout().is_some_and(|at| at <= now) {
            session.handle_timeout(now);
        }
        if let Some(result) = session.poll_result() {
            if let Some(open) = stream.take() {
                open.abort(poll.registry());
            }
            match &result {
                Ok(items) => info!(items = items.len(), "feedback: done"),
                Err(e) => warn!(error = %e, "feedback failed"),
            }
            return result;
        }
        let wait = session.poll_timeout().map(|at| at.saturating_duration_since(Instant::now()));
        if let Err(e) = poll.poll(&mut events, wait) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(connect_error(e));
            }
        }
    }
}

/// Moves the feedback connection forward; `Err` when it ended.
fn drive(
    stream: &mut TlsStream,
    session: &mut FeedbackSession,
    received: &mut Vec<u8>,
    now: Instant,
) -> Result<(), Closed> {
    if !stream.is_connected() {
        match stream.poll_connected() {
            Ok(true) => session.handle_connected(now),
            Ok(false) => return Ok(()),
            Err(error) => return Err(Closed::Failed(error)),
        }
    }
    let status = stream.read(received);
    if !stream.is_handshaking() {
        session.handle_established(now);
    }
    session.handle_bytes(now, received);
    received.clear();
    match status {
        Err(error) => return Err(Closed::Failed(error)),
        Ok(ReadStatus::Closed) => return Err(Closed::ByPeer),
        Ok(ReadStatus::Open) => {}
    }
    stream.flush().map_err(Closed::Failed)?;
    if !stream.is_handshaking() {
        session.handle_established(now);
    }
    Ok(())
}
