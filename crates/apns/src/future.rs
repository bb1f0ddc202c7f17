//! The async API's one piece: a oneshot completed from the event-loop thread.
//!
//! No executor is assumed: [`OutcomeFuture`] is a plain [`Future`] whose waker is called from
//! the loop thread when the notification's report arrives, so tokio, smol, async-std or a
//! bare `block_on` all drive it. It costs nothing to sends that are not awaited: their
//! [`Tag`] holds no slot, and the loop only checks that it is empty. A hand-written slot (a
//! mutex and a waker) rather than `futures-channel`: it is a dozen lines, and a dependency for
//! it would pull a crate into every user's build for what the standard library has.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use apns_resend::http2::Report;

use crate::Error;

/// The facade's tag on every HTTP/2 notification, returned in its [`Report`]: whether an
/// [`OutcomeFuture`] waits for it. Opaque; its `Debug` says only that.
#[derive(Clone, Default)]
pub struct Tag {
    slot: Option<Arc<Slot>>,
}

impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tag").field("awaited", &self.is_awaited()).finish()
    }
}

impl Tag {
    /// The tag of a notification nobody awaits.
    pub(crate) fn none() -> Self {
        Self { slot: None }
    }

    /// A tag whose report completes the returned future.
    pub(crate) fn awaited() -> (Self, OutcomeFuture) {
        let slot = Arc::new(Slot::default());
        (Self { slot: Some(slot.clone()) }, OutcomeFuture { slot })
    }

    /// Whether an [`OutcomeFuture`] waits for this notification's report.
    pub fn is_awaited(&self) -> bool {
        self.slot.is_some()
    }

    /// Completes the waiting future, if any, with this report (its copy of the tag emptied,
    /// so that the slot never holds a reference to itself).
    pub(crate) fn complete(report: &Report<Tag>) {
        if let Some(slot) = &report.tag.slot {
            let mut copy = report.clone();
            copy.tag = Tag::none();
            slot.complete(Ok(copy));
        }
    }

    /// Completes the waiting future, if any, with `error` (the notification was not taken).
    pub(crate) fn fail(&mut self, error: impl FnOnce() -> Error) {
        if let Some(slot) = self.slot.take() {
            slot.complete(Err(error()));
        }
    }
}

impl Drop for Tag {
    fn drop(&mut self) {
        // The last tag of a notification that never got a report (given back unsent by a
        // forced close, then dropped): the future would wait forever, so it fails instead.
        // Two references left: this tag and the future's; a report, which completes the slot
        // first, is the only thing that clones a tag.
        if let Some(slot) = self.slot.take() {
            if Arc::strong_count(&slot) == 2 {
                slot.complete(Err(Error::Http2Closed { unsent: Vec::new() }));
            }
        }
    }
}

/// What a sender waits for and the loop thread fills in.
#[derive(Default)]
struct Slot {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    result: Option<Result<Report<Tag>, Error>>,
    completed: bool,
    waker: Option<Waker>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The first completion wins; the waker is called outside the lock.
    fn complete(&self, result: Result<Report<Tag>, Error>) {
        let waker = {
            let mut state = self.lock();
            if state.completed {
                return;
            }
            state.completed = true;
            state.result = Some(result);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The report of one notification sent with [`Apns::send_async`](crate::Apns::send_async) (or
/// [`send_broadcast_async`](crate::Apns::send_broadcast_async)), as a future that any
/// executor can drive.
///
/// The notification was handed to the client when the future was created: dropping the
/// future does not cancel it (its report still reaches the listeners and
/// [`outcomes`](crate::Apns::outcomes)). It resolves to the [`Report`] (accepted, rejected or
/// failed), or to an [`Error`] if the notification was not taken (queue full, client
/// closed). Polled again after it resolved, it stays pending.
#[must_use = "a future does nothing unless awaited (the notification is sent either way)"]
pub struct OutcomeFuture {
    slot: Arc<Slot>,
}

impl std::fmt::Debug for OutcomeFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutcomeFuture").field("completed", &self.slot.lock().completed).finish()
    }
}

impl Future for OutcomeFuture {
    type Output = Result<Report<Tag>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.lock();
        if let Some(result) = state.result.take() {
            return Poll::Ready(result);
        }
        // Replace the waker only if it would wake another task (the future moved).
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_dropped_without_a_report_fails_its_future() {
        let (tag, future) = Tag::awaited();
        let copy = tag.clone();
        drop(tag);
        // A copy still exists: nothing is decided yet.
        assert!(!future.slot.lock().completed);
        drop(copy);
        assert!(matches!(pollster::block_on(future), Err(Error::Http2Closed { .. })));
    }

    #[test]
    fn a_tag_without_a_future_is_free_and_silent() {
        let tag = Tag::default();
        assert!(!tag.is_awaited());
        assert_eq!(format!("{tag:?}"), "Tag { awaited: false }");
        let (tag, future) = Tag::awaited();
        drop(future);
        drop(tag); // no future left to fail: nothing happens
    }
}
