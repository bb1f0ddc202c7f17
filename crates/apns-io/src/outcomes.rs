//! The bounded queue behind [`Client::outcomes`](crate::Client::outcomes): final outcomes
//! waiting for a reader.
//!
//! The event loop never blocks on it. When it is full, the loop leaves the next reports in
//! their connection machines, where they count against the sent-notification buffer's
//! capacity; the buffers then refuse new notifications, the send queue fills, and senders wait
//! or fail with `Full`: an application that does not read its outcomes is pushed back, not
//! silently buffered without bound. Reading from a full queue wakes the loop.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use apns_resend::Report;
use mio::Waker;

/// The shared state of one outcome queue.
#[derive(Debug)]
pub(crate) struct OutcomeQueue<T> {
    state: Mutex<State<T>>,
    readable: Condvar,
    waker: Arc<Waker>,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    capacity: usize,
    /// No more items will come (the client closed, or a newer queue replaced this one).
    ended: bool,
    /// The reader is gone: the loop stops feeding it.
    detached: bool,
    /// The loop found the queue full and waits to be woken by a read.
    loop_waiting: bool,
    /// Readers blocked on `readable`: the loop signals it only for them (a notify is a system
    /// call even when nobody waits).
    readers_waiting: usize,
}

impl<T> OutcomeQueue<T> {
    pub(crate) fn new(capacity: usize, waker: Arc<Waker>) -> Arc<Self> {
        let state = State {
            items: VecDeque::new(),
            capacity: capacity.max(1),
            ended: false,
            detached: false,
            loop_waiting: false,
            readers_waiting: 0,
        };
        Arc::new(Self { state: Mutex::new(state), readable: Condvar::new(), waker })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // The loop's side.

    /// How many more items fit now (`usize::MAX` once the reader is gone). At zero, the loop is
    /// woken by the next read.
    pub(crate) fn room(&self) -> usize {
        let mut state = self.lock();
        if state.detached || state.ended {
            return usize::MAX;
        }
        let room = state.capacity.saturating_sub(state.items.len());
        state.loop_waiting = room == 0;
        room
    }

    /// Appends items.
    pub(crate) fn push(&self, items: impl IntoIterator<Item = T>) {
        let mut state = self.lock();
        if state.detached || state.ended {
            return;
        }
        let before = state.items.len();
        state.items.extend(items);
        if state.items.len() > before && state.readers_waiting > 0 {
            drop(state);
            self.readable.notify_all();
        }
    }

    /// Appends every item of `items`, leaving it empty: an empty queue takes the whole batch by
    /// a swap, no item copied while the reader waits for the lock.
    pub(crate) fn push_all(&self, items: &mut VecDeque<T>) {
        if items.is_empty() {
            return;
        }
        let mut state = self.lock();
        if state.detached || state.ended {
            items.clear();
            return;
        }
        if state.items.is_empty() {
            std::mem::swap(&mut state.items, items);
        } else {
            state.items.extend(items.drain(..));
        }
        if state.readers_waiting > 0 {
            drop(state);
            self.readable.notify_all();
        }
    }

    /// Lifts the bound (at close, what is left is delivered whole).
    pub(crate) fn unbound(&self) {
        self.lock().capacity = usize::MAX;
    }

    /// No more items will come: the reader ends once it has read what is queued.
    pub(crate) fn end(&self) {
        self.lock().ended = true;
        self.readable.notify_all();
    }

    // The reader's side.

    /// Takes the next item, waiting until `deadline` (`None`: as long as it takes). `None` on
    /// timeout, or once the queue has ended and is empty.
    fn pop(&self, deadline: Option<Instant>) -> Option<T> {
        let mut state = self.lock();
        loop {
            if let Some(item) = state.items.pop_front() {
                if std::mem::take(&mut state.loop_waiting) {
                    drop(state);
                    // The loop holds reports back until there is room: tell it there is.
                    let _ = self.waker.wake();
                }
                return Some(item);
            }
            if state.ended {
                return None;
            }
            let left = match deadline {
                None => None,
                Some(deadline) => Some(deadline.checked_duration_since(Instant::now())?),
            };
            state.readers_waiting += 1;
            state = match left {
                None => self.readable.wait(state).unwrap_or_else(PoisonError::into_inner),
                Some(left) => {
                    self.readable.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0
                }
            };
            state.readers_waiting -= 1;
        }
    }

    fn detach(&self) {
        let mut state = self.lock();
        state.detached = true;
        state.items.clear();
        let waiting = std::mem::take(&mut state.loop_waiting);
        drop(state);
        if waiting {
            let _ = self.waker.wake();
        }
    }
}

/// The final outcome of every notification settled after it was created, in the order they
/// settle ([`Client::outcomes`](crate::Client::outcomes)).
///
/// It holds at most the capacity it was created with while the client runs; when it is full,
/// the client stops settling reports into it until you read (which pushes back on senders).
/// It ends (`None`) once the client is closed and every outcome was read, or when a newer
/// `outcomes()` replaces it. Dropping it stops the feeding.
#[derive(Debug)]
pub struct Outcomes<T = Report> {
    queue: Arc<OutcomeQueue<T>>,
}

impl<T> Outcomes<T> {
    pub(crate) fn new(queue: Arc<OutcomeQueue<T>>) -> Self {
        Self { queue }
    }

    /// The next outcome, waiting at most `timeout`; `None` on timeout or once the client is
    /// closed and every outcome was read.
    pub fn next_timeout(&self, timeout: Duration) -> Option<T> {
        self.queue.pop(Some(Instant::now() + timeout))
    }

    /// The outcomes already available, without waiting.
    pub fn try_iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.queue.pop(Some(Instant::now())))
    }
}

impl<T> Iterator for Outcomes<T> {
    type Item = T;

    /// Waits for the next outcome; `None` once the client is closed and every outcome was read.
    fn next(&mut self) -> Option<T> {
        self.queue.pop(None)
    }
}

impl<T> Drop for Outcomes<T> {
    fn drop(&mut self) {
        self.queue.detach();
    }
}
