//! The thin I/O shell: one mio event-loop thread driving connection machines
//! ([`Machine`]), and the handle callers use to reach it.
//!
//! The shell owns what a machine must not touch: the sockets and rustls, the clock, readiness,
//! the bounded inbox between callers and the loop (with its `Waker`), the commands (flush,
//! close), the event handler and the bounded outcome queue. For every slot it moves plaintext
//! between rustls and the machine, turns socket and TLS failures into typed causes, and carries
//! out the machine's transport commands. It is generic over the machine, so a second kind of
//! connection (HTTP/2) reuses it whole.
//!
//! Readiness drives the work: a slot is driven when its socket reported readiness, when it was
//! given notifications or a command, or when its machine's timeout is due. A slot whose last
//! socket write returned `WouldBlock` is not asked for bytes until a writable event, so the
//! age of what the machine hands out starts only when the socket takes it.

use std::collections::VecDeque;
use std::mem;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use mio::{Events, Poll, Token, Waker};
use tracing::{debug, info, warn};

mod handle;
pub(crate) mod http2;
mod resolve;

pub(crate) use handle::{Handle, Refused, ShellConfig};

use crate::config::Endpoint;
use crate::machine::{Closed, Kinds, Machine, Transport};
use crate::outcomes::OutcomeQueue;
use crate::stream::{ReadStatus, TlsStream};

const WAKER: Token = Token(usize::MAX);

/// Items given to one slot before moving to the next.
const DISTRIBUTION_CHUNK: usize = 1024;

/// What the shell counts itself, per slot: bytes on the wire.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WireStats {
    pub(crate) bytes_written: u64,
    pub(crate) bytes_read: u64,
}

/// The counters as last published by the loop, per slot.
#[derive(Debug)]
struct Published<S> {
    slots: Vec<(S, WireStats)>,
}

/// What the loop leaves at a flush or a close.
#[derive(Debug)]
pub(crate) struct Summary<T> {
    pub(crate) settled: bool,
    pub(crate) unsent: Vec<T>,
}

/// A request from a caller to the loop.
enum Command<M: Kinds> {
    /// Prove everything handed in before it, then reply (`settled: false` at the deadline).
    Flush { deadline: Instant, before: u64, reply: SyncSender<Summary<M::Item>> },
    /// Settle everything (force: at once), close, reply and end the loop.
    Close { deadline: Instant, reply: SyncSender<Summary<M::Item>> },
    /// Feed final outcomes to this queue from now on (ending the previous one).
    Subscribe(Arc<OutcomeQueue<M::Outcome>>),
}

struct Inbox<M: Kinds> {
    items: VecDeque<M::Item>,
    commands: Vec<Command<M>>,
    /// Items ever pushed (the `submitted` counter, and flush marks).
    pushed: u64,
    /// No more items are taken.
    closed: bool,
    /// The loop has ended: no command is read any more.
    finished: bool,
}

/// What callers and the loop share.
struct Shared<M: Kinds> {
    inbox: Mutex<Inbox<M>>,
    /// Signalled when the loop takes items from a full inbox, and at close.
    not_full: Condvar,
    waker: Arc<Waker>,
    capacity: usize,
    published: Mutex<Published<M::Stats>>,
}

impl<M: Kinds> Shared<M> {
    fn inbox(&self) -> MutexGuard<'_, Inbox<M>> {
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The loop has ended (however: even by a bug's panic): callers blocked on the inbox or
    /// the outcome queue are released, and no command is read any more.
    fn release(&self, outcomes: Option<&OutcomeQueue<M::Outcome>>) {
        let mut inbox = self.inbox();
        inbox.closed = true;
        inbox.finished = true;
        inbox.commands.clear();
        drop(inbox);
        self.not_full.notify_all();
        if let Some(queue) = outcomes {
            queue.end();
        }
    }
}

/// One connection slot: its machine and, while connected, its transport.
struct Slot<M> {
    machine: M,
    stream: Option<TlsStream>,
    /// Plaintext handed out by the machine and not yet taken by rustls.
    pending: BytesMut,
    /// Plaintext just decrypted.
    received: Vec<u8>,
    /// The TLS handshake finished and the machine was told.
    established: bool,
    /// Readiness, items or a command arrived since the slot was last driven.
    ready: bool,
    /// A transport command taken from the machine while reading, to carry out first.
    pending_transport: Option<Transport>,
    /// Bytes of the transports already closed.
    wire: WireStats,
}

impl<M: Machine> Slot<M> {
    fn new(machine: M) -> Self {
        Self {
            machine,
            stream: None,
            pending: BytesMut::new(),
            received: Vec::new(),
            established: false,
            ready: false,
            pending_transport: None,
            wire: WireStats::default(),
        }
    }
}

struct Closing<T> {
    deadline: Instant,
    replies: Vec<SyncSender<Summary<T>>>,
}

struct PendingFlush<M: Machine> {
    deadline: Instant,
    /// Items pushed before the flush: they must all be taken before the marks are set.
    before: u64,
    marks: Option<Vec<M::Mark>>,
    reply: SyncSender<Summary<M::Item>>,
}

/// The loop thread's state.
struct Engine<M: Machine> {
    poll: Poll,
    shared: Arc<Shared<M>>,
    endpoint: Endpoint,
    tls: Arc<rustls::ClientConfig>,
    tls_buffer_limit: usize,
    on_event: Option<Box<dyn FnMut(M::Event) + Send>>,
    outcomes: Option<Arc<OutcomeQueue<M::Outcome>>>,
    slots: Vec<Slot<M>>,
    /// Items taken from the inbox that no slot had room for (kept for the next pass).
    leftover: VecDeque<M::Item>,
    /// Round-robin distribution: the slot being filled and how many it was given.
    rr: usize,
    given: usize,
    /// Items ever taken from the inbox.
    taken: u64,
    closing: Option<Closing<M::Item>>,
    flushes: Vec<PendingFlush<M>>,
    scratch: Vec<M::Item>,
    batch: Vec<M::Outcome>,
    /// A slot holds outcomes back because the outcome queue is full: the read that makes
    /// room wakes the loop, and every slot is delivered again.
    stalled: bool,
}

impl<M: Machine> Drop for Engine<M> {
    /// However the loop ends (even by a bug's panic), callers are released.
    fn drop(&mut self) {
        self.shared.release(self.outcomes.as_deref());
    }
}

impl<M: Machine> Engine<M> {
    fn run(mut self) {
        let span = tracing::info_span!("apns-io", gateway = %self.endpoint);
        let _entered = span.enter();
        let mut events = Events::with_capacity(256);
        loop {
            let now = Instant::now();
            self.take_inbox(now);
            self.start_flushes(now);
            // Driving the slots settles notifications and frees room for more from the inbox:
            // go on until the inbox gives nothing more.
            loop {
                for index in 0..self.slots.len() {
                    let slot = &self.slots[index];
                    if slot.ready || slot.machine.poll_timeout().is_some_and(|t| t <= now) {
                        self.drive(index, now);
                    }
                }
                if self.take_inbox(now) == 0 {
                    break;
                }
            }
            self.finish_flushes(now);
            if self.closing.is_some() && self.try_finish_close(now) {
                return;
            }
            let timeout = self.next_deadline().map(|at| at.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    warn!(error = %e, "poll failed; closing the client");
                    self.finish(Instant::now(), true);
                    return;
                }
            }
            if mem::take(&mut self.stalled) {
                self.slots.iter_mut().for_each(|slot| slot.ready = true);
            }
            for event in events.iter() {
                if let Some(slot) = self.slots.get_mut(event.token().0) {
                    slot.ready = true;
                    if event.is_writable() {
                        if let Some(stream) = &mut slot.stream {
                            stream.write_blocked = false;
                        }
                    }
                }
            }
        }
    }

    /// Moves items from the inbox to the slots, as far as their room allows, and takes
    /// commands. Returns how many items it took.
    fn take_inbox(&mut self, now: Instant) -> usize {
        let room: usize = self.slots.iter().map(|slot| slot.machine.free_capacity()).sum();
        let room = room.saturating_sub(self.leftover.len());
        let mut inbox = self.shared.inbox();
        let commands = mem::take(&mut inbox.commands);
        let n = room.min(inbox.items.len());
        let was_full = inbox.items.len() >= self.shared.capacity;
        self.scratch.extend(inbox.items.drain(..n));
        drop(inbox);
        if n > 0 && was_full {
            self.shared.not_full.notify_all();
        }
        self.taken += n as u64;
        let mut taken = mem::take(&mut self.scratch);
        let retry: Vec<M::Item> = self.leftover.drain(..).collect();
        for item in retry.into_iter().chain(taken.drain(..)) {
            self.distribute(now, item);
        }
        self.scratch = taken;
        let closing_before = self.closing.is_some();
        for command in commands {
            match command {
                Command::Close { deadline, reply } => {
                    info!(timeout_ms = deadline.saturating_duration_since(now).as_millis() as u64, "closing");
                    let closing = self.closing.get_or_insert(Closing { deadline, replies: Vec::new() });
                    closing.deadline = closing.deadline.min(deadline);
                    closing.replies.push(reply);
                }
                Command::Flush { deadline, before, reply } => {
                    self.flushes.push(PendingFlush { deadline, before, marks: None, reply })
                }
                Command::Subscribe(queue) => {
                    if let Some(previous) = self.outcomes.replace(queue) {
                        previous.end();
                    }
                }
            }
        }
        if self.closing.is_some() && (n > 0 || !closing_before) {
            // A graceful close proves everything, including what was just taken.
            for slot in &mut self.slots {
                if slot.machine.unsettled() > 0 {
                    let _ = slot.machine.confirm(now);
                    slot.ready = true;
                }
            }
        }
        n
    }

    fn distribute(&mut self, now: Instant, mut item: M::Item) {
        for _ in 0..=self.slots.len() {
            if self.given < DISTRIBUTION_CHUNK {
                if let Some(slot) = self.slots.get_mut(self.rr) {
                    match slot.machine.send(now, item) {
                        Ok(()) => {
                            self.given += 1;
                            slot.ready = true;
                            return;
                        }
                        Err(back) => item = back,
                    }
                }
            }
            self.rr = (self.rr + 1) % self.slots.len().max(1);
            self.given = 0;
        }
        // Not expected while `take_inbox` takes no more than the free room: keep it for later.
        self.leftover.push_back(item);
    }

    /// Sets the marks of flushes whose items have all been taken.
    fn start_flushes(&mut self, now: Instant) {
        for flush in &mut self.flushes {
            if flush.marks.is_none() && self.taken >= flush.before && self.leftover.is_empty() {
                let marks = self.slots.iter_mut().map(|slot| {
                    slot.ready = true;
                    slot.machine.confirm(now)
                });
                flush.marks = Some(marks.collect());
            }
        }
    }

    /// Answers the flushes that are proved, or past their deadline.
    fn finish_flushes(&mut self, now: Instant) {
        let slots = &self.slots;
        self.flushes.retain(|flush| {
            let confirmed = flush.marks.as_ref().is_some_and(|marks| {
                slots.iter().zip(marks).all(|(slot, &mark)| slot.machine.is_confirmed(mark))
            });
            if confirmed || now >= flush.deadline {
                let _ = flush.reply.send(Summary { settled: confirmed, unsent: Vec::new() });
                return false;
            }
            true
        });
    }

    /// Moves one slot forward: its timers, its transport commands, reading, the handshake,
    /// writing; then publishes its counters and delivers its events.
    fn drive(&mut self, index: usize, now: Instant) {
        let registry = self.poll.registry();
        let Some(slot) = self.slots.get_mut(index) else { return };
        slot.ready = false;
        if slot.machine.poll_timeout().is_some_and(|t| t <= now) {
            slot.machine.handle_timeout(now);
        }
        // Bounded: each round either ends the transport or stops on `WouldBlock`.
        for _ in 0..4 {
            while let Some(transport) =
                slot.pending_transport.take().or_else(|| slot.machine.poll_transport(now))
            {
                match transport {
                    Transport::Open => {
                        match TlsStream::open(&self.endpoint, self.tls.clone(), registry, Token(index)) {
                            Ok(mut stream) => {
                                stream.set_buffer_limit(self.tls_buffer_limit);
                                slot.stream = Some(stream);
                            }
                            Err(error) => slot.machine.handle_closed(now, Closed::Failed(error)),
                        }
                    }
                    Transport::Close => drop_stream(slot, registry, true),
                    Transport::Abort => drop_stream(slot, registry, false),
                }
            }
            match drive_stream(slot, now) {
                Ok(Step::Waiting) => break,
                Ok(Step::Transport) => {}
                Err(closed) => {
                    drop_stream(slot, registry, false);
                    slot.machine.handle_closed(now, closed);
                }
            }
        }
        self.publish(index);
        self.deliver(index);
    }

    /// Publishes a slot's counters (before its events, so a reader of an event sees counters
    /// that include it).
    fn publish(&mut self, index: usize) {
        let Some(slot) = self.slots.get(index) else { return };
        let mut published = self.shared.published.lock().unwrap_or_else(PoisonError::into_inner);
        let mut wire = slot.wire;
        if let Some(stream) = &slot.stream {
            wire.bytes_written += stream.bytes_out;
            wire.bytes_read += stream.bytes_in;
        }
        if let Some(entry) = published.slots.get_mut(index) {
            *entry = (slot.machine.stats(), wire);
        }
    }

    /// Delivers a slot's events to the handler and its outcomes to the queue, as far as the
    /// queue has room (the rest waits in the machine, pushing back on senders).
    fn deliver(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index) else { return };
        let mut room = self.outcomes.as_ref().map_or(usize::MAX, |queue| queue.room());
        while let Some(event) = slot.machine.poll_event(room > 0) {
            if let (Some(outcome), Some(_)) = (M::outcome_of(&event), &self.outcomes) {
                room = room.saturating_sub(1);
                self.batch.push(outcome.clone());
            }
            if let Some(handler) = &mut self.on_event {
                handler(event);
            }
        }
        if let Some(queue) = &self.outcomes {
            if !self.batch.is_empty() {
                queue.push(self.batch.drain(..));
            }
        }
        // Outcomes may be waiting for room: the read that makes it wakes the loop.
        self.stalled |= room == 0;
    }

    fn next_deadline(&self) -> Option<Instant> {
        let slots = self.slots.iter().filter_map(|slot| slot.machine.poll_timeout());
        let flushes = self.flushes.iter().map(|flush| flush.deadline);
        let closing = self.closing.as_ref().map(|closing| closing.deadline);
        slots.chain(flushes).chain(closing).min()
    }

    /// During a graceful close: finishes when everything is settled or the deadline passed.
    fn try_finish_close(&mut self, now: Instant) -> bool {
        let Some(closing) = &self.closing else { return false };
        let inbox_empty = self.shared.inbox().items.is_empty() && self.leftover.is_empty();
        let settled = inbox_empty && self.slots.iter().all(|slot| slot.machine.unsettled() == 0);
        if settled || now >= closing.deadline {
            self.finish(now, !settled);
            return true;
        }
        false
    }

    /// Closes everything and answers the closers; with `force`, abandons what is unsettled.
    fn finish(&mut self, now: Instant, force: bool) {
        let (mut unsent, commands): (Vec<M::Item>, _) = {
            let mut inbox = self.shared.inbox();
            inbox.closed = true;
            inbox.finished = true;
            (inbox.items.drain(..).collect(), mem::take(&mut inbox.commands))
        };
        self.shared.not_full.notify_all();
        unsent.extend(self.leftover.drain(..));
        let mut settled = unsent.is_empty();
        let registry = self.poll.registry();
        for slot in &mut self.slots {
            settled &= !force || slot.machine.unsettled() == 0;
            slot.machine.abandon(now);
            while let Some(transport) = slot.machine.poll_transport(now) {
                if transport != Transport::Open {
                    drop_stream(slot, registry, transport == Transport::Close);
                }
            }
            drop_stream(slot, registry, true);
        }
        // What is left is delivered whole: the bound applies while the client runs.
        self.outcomes_unbounded();
        for index in 0..self.slots.len() {
            self.publish(index);
            self.deliver(index);
        }
        if let Some(queue) = self.outcomes.take() {
            queue.end();
        }
        info!(settled, unsent = unsent.len(), "closed");
        let replies = self.closing.take().map(|closing| closing.replies).unwrap_or_default();
        let flushes = self.flushes.drain(..).map(|flush| flush.reply);
        answer_closers(commands, replies, flushes, Summary { settled, unsent: mem::take(&mut unsent) });
    }

    /// Lifts the outcome queue's bound for the final delivery.
    fn outcomes_unbounded(&mut self) {
        if let Some(queue) = &self.outcomes {
            queue.unbound();
        }
    }
}

/// At the end of a loop: answers the closers (the first gets the unsent items back; later ones
/// learn the same verdict), tells pending flushes they did not settle, ends late subscriptions.
fn answer_closers<K: Kinds>(
    commands: Vec<Command<K>>,
    mut replies: Vec<SyncSender<Summary<K::Item>>>,
    flushes: impl Iterator<Item = SyncSender<Summary<K::Item>>>,
    summary: Summary<K::Item>,
) {
    let mut flush_replies: Vec<_> = flushes.collect();
    for command in commands {
        match command {
            Command::Close { reply, .. } => replies.push(reply),
            Command::Flush { reply, .. } => flush_replies.push(reply),
            Command::Subscribe(queue) => queue.end(),
        }
    }
    for reply in flush_replies {
        let _ = reply.send(Summary { settled: false, unsent: Vec::new() });
    }
    let Summary { settled, mut unsent } = summary;
    for reply in replies {
        let _ = reply.send(Summary { settled, unsent: mem::take(&mut unsent) });
    }
}

/// Closes (politely or not) and forgets a slot's transport, if it has one.
fn drop_stream<M>(slot: &mut Slot<M>, registry: &mio::Registry, polite: bool) {
    if let Some(stream) = slot.stream.take() {
        slot.wire.bytes_written += stream.bytes_out;
        slot.wire.bytes_read += stream.bytes_in;
        if polite {
            stream.close(registry);
        } else {
            stream.abort(registry);
        }
    }
    slot.pending.clear();
    slot.received.clear();
    slot.established = false;
}

/// Where [`drive_stream`] stopped.
enum Step {
    /// On `WouldBlock`, or with nothing to do.
    Waiting,
    /// The machine has a transport command to carry out first.
    Transport,
}

/// Moves a slot's transport forward: the TCP connect, reading, the handshake, writing.
/// `Err` when it ended (the machine must be told).
fn drive_stream<M: Machine>(slot: &mut Slot<M>, now: Instant) -> Result<Step, Closed> {
    let Some(stream) = &mut slot.stream else { return Ok(Step::Waiting) };
    if !stream.is_connected() {
        match stream.poll_connected() {
            Ok(true) => slot.machine.handle_connected(now),
            Ok(false) => return Ok(Step::Waiting),
            Err(error) => return Err(Closed::Failed(error)),
        }
    }
    // Read: the handshake, then whatever the peer says.
    let read = stream.read(&mut slot.received);
    if !slot.received.is_empty() {
        slot.machine.handle_bytes(now, &slot.received);
        slot.received.clear();
    }
    match read {
        Err(error) => return Err(Closed::Failed(error)),
        Ok(ReadStatus::Closed) => return Err(Closed::ByPeer),
        Ok(ReadStatus::Open) => {}
    }
    if let Some(transport) = slot.machine.poll_transport(now) {
        // The bytes made the machine close (an error response): its command comes first.
        slot.pending_transport = Some(transport);
        return Ok(Step::Transport);
    }
    if stream.is_handshaking() {
        stream.flush().map_err(Closed::Failed)?;
        if stream.is_handshaking() {
            return Ok(Step::Waiting);
        }
    }
    if !slot.established {
        slot.established = true;
        debug!(version = ?stream.protocol_version(), "TLS handshake done");
        slot.machine.handle_established(now);
    }
    // Write: only while the socket takes bytes, so nothing is handed out to wait in a backlog.
    let result = loop {
        if stream.write_blocked {
            break Ok(Step::Waiting);
        }
        match stream.flush() {
            Ok(true) => {}
            Ok(false) => break Ok(Step::Waiting),
            Err(error) => break Err(Closed::Failed(error)),
        }
        if slot.pending.is_empty() && slot.machine.poll_transmit(now, &mut slot.pending).is_none() {
            break Ok(Step::Waiting);
        }
        match stream.write_plaintext(&slot.pending) {
            Ok(n) => slot.pending.advance(n),
            Err(error) => break Err(Closed::Failed(error)),
        }
    };
    slot.machine.handle_unsent(now, slot.pending.len());
    result
}
