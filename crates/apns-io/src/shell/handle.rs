//! The callers' side of the shell: handing items in (with backpressure), commands, counters.

use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Poll, Waker};

use super::{Command, Engine, Inbox, Published, Shared, Slot, Summary, WireStats, WAKER};
use crate::config::Endpoint;
use crate::machine::{Kinds, Machine};
use crate::outcomes::OutcomeQueue;

/// Why items were not taken by [`Handle::send_batch`].
pub(crate) enum Refused<T> {
    Full(Vec<T>),
    Closed(Vec<T>),
}

/// The callers' side of a running shell: `Sync`, usable from any thread.
pub(crate) struct Handle<M: Kinds> {
    shared: Arc<Shared<M>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// How the shell connects and sizes its buffers.
pub(crate) struct ShellConfig<M: Machine> {
    pub(crate) endpoint: Endpoint,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) queue_capacity: usize,
    /// The most TLS bytes rustls buffers per connection.
    pub(crate) tls_buffer_limit: usize,
    pub(crate) on_event: Option<Box<dyn FnMut(M::Event) + Send>>,
}

impl<M: Machine + Send + 'static> Handle<M> {
    /// Starts the loop thread over `machines`, one per slot.
    pub(crate) fn start(config: ShellConfig<M>, machines: Vec<M>) -> std::io::Result<Self> {
        let stats = machines.iter().map(|m| m.stats()).collect();
        Self::spawn(config.queue_capacity, stats, move |poll, shared| {
            let slots = machines.into_iter().map(Slot::new).collect();
            Engine {
                poll,
                shared,
                endpoint: config.endpoint,
                tls: config.tls,
                tls_buffer_limit: config.tls_buffer_limit,
                on_event: config.on_event,
                outcomes: None,
                slots,
                leftover: VecDeque::new(),
                rr: 0,
                given: 0,
                taken: 0,
                closing: None,
                flushes: Vec::new(),
                scratch: Vec::new(),
                batch: Vec::new(),
                stalled: false,
            }
            .run()
        })
    }
}

impl<M: Kinds + 'static> Handle<M> {
    /// Starts a loop thread: `run` gets the `Poll` (its `Waker` is registered under
    /// [`WAKER`]) and the state shared with callers. `stats` are the counters published
    /// before the loop's first turn, one per slot.
    pub(super) fn spawn(
        queue_capacity: usize,
        stats: Vec<M::Stats>,
        run: impl FnOnce(Poll, Arc<Shared<M>>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox {
                items: VecDeque::new(),
                commands: Vec::new(),
                pushed: 0,
                closed: false,
                finished: false,
            }),
            not_full: Condvar::new(),
            waker,
            capacity: queue_capacity.max(1),
            published: Mutex::new(Published {
                slots: stats.into_iter().map(|s| (s, WireStats::default())).collect(),
            }),
        });
        let loop_shared = shared.clone();
        let thread =
            std::thread::Builder::new().name("apns-io".into()).spawn(move || run(poll, loop_shared))?;
        Ok(Self { shared, thread: Mutex::new(Some(thread)) })
    }

    /// Hands items to the loop in order, waiting for room up to `timeout` in total (`None`: as
    /// long as it takes). On error, the items not taken are given back.
    pub(crate) fn send_batch(
        &self,
        items: impl IntoIterator<Item = M::Item>,
        timeout: Option<Duration>,
    ) -> Result<(), Refused<M::Item>> {
        let mut batch: VecDeque<M::Item> = items.into_iter().collect();
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut inbox = self.shared.inbox();
        while !batch.is_empty() {
            if inbox.closed {
                return Err(Refused::Closed(batch.into()));
            }
            let room = self.shared.capacity.saturating_sub(inbox.items.len());
            if room > 0 {
                let was_empty = inbox.items.is_empty();
                let n = room.min(batch.len());
                inbox.items.extend(batch.drain(..n));
                inbox.pushed += n as u64;
                if was_empty {
                    // Wake the loop only on the empty → non-empty transition: a loop that left
                    // items behind is waiting for room on its own connections, not for us.
                    let _ = self.shared.waker.wake();
                }
                continue;
            }
            let wait = match deadline {
                None => Duration::from_secs(3600),
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return Err(Refused::Full(batch.into())),
                },
            };
            inbox = self.shared.not_full.wait_timeout(inbox, wait).unwrap_or_else(PoisonError::into_inner).0;
        }
        Ok(())
    }

    /// Items waiting in the inbox.
    pub(crate) fn queued(&self) -> usize {
        self.shared.inbox().items.len()
    }

    /// The machines' counters summed, the wire counters summed, and the items ever pushed.
    pub(crate) fn stats(&self) -> (M::Stats, WireStats, u64) {
        let pushed = self.shared.inbox().pushed;
        let published = self.shared.published.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut stats, mut wire) = (M::Stats::default(), WireStats::default());
        for (slot, slot_wire) in &published.slots {
            stats += slot.clone();
            wire.bytes_written += slot_wire.bytes_written;
            wire.bytes_read += slot_wire.bytes_read;
        }
        (stats, wire, pushed)
    }

    /// A new bounded outcome queue, fed from now on; the previous one ends.
    pub(crate) fn subscribe(&self, capacity: usize) -> Arc<OutcomeQueue<M::Outcome>> {
        let queue = OutcomeQueue::new(capacity, self.shared.waker.clone());
        if !self.command(Command::Subscribe(queue.clone()), false) {
            queue.end();
        }
        queue
    }

    /// Waits until everything handed in before this call is settled and reported, or
    /// `timeout`. `None` if the loop has ended.
    pub(crate) fn flush(&self, timeout: Duration) -> Option<Summary<M::Item>> {
        let (reply, answer) = sync_channel(1);
        let deadline = Instant::now() + timeout;
        let before = self.shared.inbox().pushed;
        if !self.command(Command::Flush { deadline, before, reply }, false) {
            return None;
        }
        answer.recv().ok()
    }

    /// Closes: refuses further items (waking blocked senders at once), settles what it can
    /// until `timeout` (zero: abandons everything at once), closes the connections and ends the
    /// loop. Returns within milliseconds of the deadline whatever other threads are doing; the
    /// summary is `None` if the loop had already ended.
    pub(crate) fn close(&self, timeout: Duration) -> Option<Summary<M::Item>> {
        let (reply, answer): (_, Receiver<Summary<M::Item>>) = sync_channel(1);
        let sent = self.command(Command::Close { deadline: Instant::now() + timeout, reply }, true);
        let summary = if sent { answer.recv().ok() } else { None };
        let thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        summary
    }

    /// Queues a command and wakes the loop; `false` if the loop has ended.
    fn command(&self, command: Command<M>, close: bool) -> bool {
        let mut inbox = self.shared.inbox();
        if inbox.finished {
            return false;
        }
        inbox.closed |= close;
        inbox.commands.push(command);
        drop(inbox);
        if close {
            // Blocked senders see `closed` and give their items back now.
            self.shared.not_full.notify_all();
        }
        let _ = self.shared.waker.wake();
        true
    }
}
