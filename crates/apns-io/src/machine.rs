//! The seam between the event-loop shell ([`crate::shell`]) and a per-connection state machine.
//!
//! The shell owns sockets, rustls, the clock, the inbox and the event handler; a machine owns
//! one connection slot's policy: when to connect, what the bytes received mean, what to write,
//! when to give up, when to close. A machine never touches a socket or reads the clock: time
//! comes in as `now`, bytes come in as plaintext, and decisions go out through `poll_*`. The
//! binary gateway connection ([`crate::connection::Connection`]) is one machine; an HTTP/2
//! connection would be another, driven by the same shell.
//!
//! Methods come in the kinds of `quinn_proto::Connection`: getters, commands, `handle_*`
//! (what happened) and `poll_*` (what to do). After any command or `handle_*`, the shell calls
//! [`Machine::poll_transport`] until `None`, writes what [`Machine::poll_transmit`] gives while
//! the socket takes it, then delivers [`Machine::poll_event`] and sleeps until
//! [`Machine::poll_timeout`] or the next readiness event.

use std::ops::AddAssign;
use std::time::Instant;

use bytes::BytesMut;

use crate::event::ConnectError;

/// What a machine asks of its transport ([`Machine::poll_transport`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Open a connection: a TCP connect, then the TLS handshake. The shell answers with
    /// [`Machine::handle_connected`] and [`Machine::handle_established`], or with
    /// [`Machine::handle_closed`] if it fails.
    Open,
    /// Close the connection politely (TLS close_notify, then a TCP shutdown). The machine has
    /// already let go of it: no `handle_closed` follows.
    Close,
    /// Drop the connection at once, without close_notify (after a protocol error or a
    /// timeout). No `handle_closed` follows.
    Abort,
}

/// How a transport ended without the machine asking ([`Machine::handle_closed`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Closed {
    /// The peer closed it (TCP FIN or TLS close_notify).
    ByPeer,
    /// It could not be opened, or broke.
    Failed(ConnectError),
}

/// What flows between callers and a loop: the types the shell's inbox, outcome queue and
/// published counters carry. Shared by the binary [`Machine`] and the HTTP/2 delivery seam
/// ([`crate::shell::http2::Dispatch`]).
pub(crate) trait Kinds {
    /// What callers hand in through the inbox.
    type Item: Send;
    /// A final outcome, as the bounded outcome queue carries it.
    type Outcome: Clone + Send;
    /// Counters, summed over the slots by the shell.
    type Stats: Clone + Default + AddAssign + Send;
}

/// A per-connection state machine the shell can drive.
pub(crate) trait Machine: Kinds {
    /// What the machine tells the user: the one event stream.
    type Event: Send;
    /// Marks a point in the sequence of items handed in ([`confirm`](Self::confirm)).
    type Mark: Copy + Send;

    // Getters.

    /// How many more items [`send`](Self::send) accepts now (outcomes not yet polled count
    /// against it, so an unread outcome queue pushes back on the callers).
    fn free_capacity(&self) -> usize;

    /// Items handed in and not settled yet.
    fn unsettled(&self) -> usize;

    /// Whether every item handed in before `mark` has settled and been reported.
    fn is_confirmed(&self, mark: Self::Mark) -> bool;

    /// Counters since creation.
    fn stats(&self) -> Self::Stats;

    /// The outcome an event reports, if it reports one.
    fn outcome_of(event: &Self::Event) -> Option<&Self::Outcome>;

    // Commands.

    /// Hands an item in; gives it back if there is no room.
    fn send(&mut self, now: Instant, item: Self::Item) -> Result<(), Self::Item>;

    /// Proves everything handed in so far (a flush or a graceful close): returns the mark to
    /// pass to [`is_confirmed`](Self::is_confirmed).
    fn confirm(&mut self, now: Instant) -> Self::Mark;

    /// Gives up everything unsettled (each reported failed) and closes the transport.
    fn abandon(&mut self, now: Instant);

    // Input.

    /// The TCP connect finished; the TLS handshake starts.
    fn handle_connected(&mut self, now: Instant);

    /// The TLS handshake finished: plaintext can flow.
    fn handle_established(&mut self, now: Instant);

    /// Plaintext arrived from the peer.
    fn handle_bytes(&mut self, now: Instant, bytes: &[u8]);

    /// The transport ended without the machine asking.
    fn handle_closed(&mut self, now: Instant, closed: Closed);

    /// How many of the plaintext bytes handed out by [`poll_transmit`](Self::poll_transmit)
    /// the transport still holds, not yet on their way to the peer (as far as the shell knows).
    fn handle_unsent(&mut self, now: Instant, bytes: usize);

    /// Time passed; a call before [`poll_timeout`](Self::poll_timeout) is a no-op.
    fn handle_timeout(&mut self, now: Instant);

    // Output.

    /// What to do with the transport, if anything.
    #[must_use]
    fn poll_transport(&mut self, now: Instant) -> Option<Transport>;

    /// Appends plaintext to write now to `out`; returns how many bytes, `None` if nothing.
    /// Called only while the transport is established and the socket takes bytes.
    #[must_use]
    fn poll_transmit(&mut self, now: Instant, out: &mut BytesMut) -> Option<usize>;

    /// When to call [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;

    /// The next event for the user. With `outcomes` false (the outcome queue is full), only
    /// events that are not outcomes: the outcomes wait in the machine, counting against its
    /// capacity.
    #[must_use]
    fn poll_event(&mut self, outcomes: bool) -> Option<Self::Event>;
}
