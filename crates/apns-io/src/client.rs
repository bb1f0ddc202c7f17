//! The client handle and its event-loop thread.

use std::collections::VecDeque;
use std::mem;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use apns_proto::{decode_error_response, Decoded, FeedbackItem, FeedbackReader, Notification};
use apns_resend::{Confirmation, Event as BufferEvent, Outcome, SentBuffer, TransmitKind};
use bytes::{Buf, BytesMut};
use mio::{Events, Poll, Token, Waker};
use tracing::{debug, info, warn};

use crate::backoff::Rng;
use crate::config::{Config, Endpoint, EventHandler};
use crate::event::{AtomicCounters, CloseSummary, Counters, Event, FeedbackError, SendError, StartError};
use crate::stream::{ReadStatus, StreamError, TlsStream};

const WAKER: Token = Token(usize::MAX);
/// Tokens of feedback connections start here; gateway connections use their slot index.
const FEEDBACK_BASE: usize = usize::MAX / 2;

/// A handle to the event loop: hand it notifications from any thread (it is `Sync`), read its
/// counters, fetch feedback, close it.
///
/// Dropping the client force-closes it (see [`force_close`](Self::force_close)) and joins the
/// thread, so a process never lingers on a worker thread.
#[derive(Debug)]
pub struct Client {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    inbox: Mutex<Inbox>,
    /// Signalled when the loop takes notifications from a full inbox.
    not_full: Condvar,
    waker: Waker,
    counters: AtomicCounters,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inbox {
    items: VecDeque<Notification>,
    commands: Vec<Command>,
    closed: bool,
}

#[derive(Debug)]
enum Command {
    Close { deadline: Instant, reply: SyncSender<CloseSummary> },
    Feedback { deadline: Instant, reply: SyncSender<Result<Vec<FeedbackItem>, FeedbackError>> },
}

impl Client {
    /// Starts the event-loop thread. Connections open on the first send.
    pub fn start(mut config: Config) -> Result<Self, StartError> {
        if config.connections == 0 {
            return Err(StartError::Zero("connections"));
        }
        if config.queue_capacity == 0 {
            return Err(StartError::Zero("queue_capacity"));
        }
        for endpoint in std::iter::once(&config.gateway).chain(config.feedback.as_ref()) {
            if endpoint.server_name().is_none() {
                return Err(StartError::InvalidServerName(endpoint.host().to_owned()));
            }
        }
        let slots = (0..config.connections)
            .map(|_| Ok(Slot::new(SentBuffer::new(config.resend.clone())?)))
            .collect::<Result<Vec<_>, StartError>>()?;
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox::default()),
            not_full: Condvar::new(),
            waker,
            counters: AtomicCounters::default(),
            capacity: config.queue_capacity,
        });
        let on_event = config.on_event.take();
        let engine = Engine {
            poll,
            shared: shared.clone(),
            rng: Rng::new(config.seed),
            config,
            slots,
            feedbacks: Vec::new(),
            on_event,
            rr: 0,
            given: 0,
            closing: None,
            scratch: Vec::new(),
        };
        let thread = std::thread::Builder::new().name("apns-io".into()).spawn(move || engine.run())?;
        Ok(Self { shared, thread: Some(thread) })
    }

    /// Hands one notification to the loop, failing at once with [`SendError::Full`] if the queue
    /// is full.
    pub fn try_send(&self, notification: Notification) -> Result<(), SendError> {
        self.send_batch(vec![notification], Some(Duration::ZERO))
    }

    /// Hands one notification to the loop, waiting up to `timeout` for room.
    pub fn send_timeout(&self, notification: Notification, timeout: Duration) -> Result<(), SendError> {
        self.send_batch(vec![notification], Some(timeout))
    }

    /// Hands notifications to the loop in order, waiting for room up to `timeout` in total
    /// (`None`: as long as it takes). On error, the notifications not taken are given back;
    /// those before them were taken.
    pub fn send_batch(
        &self,
        notifications: impl IntoIterator<Item = Notification>,
        timeout: Option<Duration>,
    ) -> Result<(), SendError> {
        let mut batch: VecDeque<Notification> = notifications.into_iter().collect();
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut inbox = self.lock();
        while !batch.is_empty() {
            if inbox.closed {
                return Err(SendError::Closed { unsent: batch.into() });
            }
            let room = self.shared.capacity.saturating_sub(inbox.items.len());
            if room > 0 {
                let was_empty = inbox.items.is_empty();
                let n = room.min(batch.len());
                inbox.items.extend(batch.drain(..n));
                self.shared.counters.submitted.fetch_add(n as u64, Relaxed);
                if was_empty {
                    // Wake the loop only on the empty → non-empty transition: a loop that left
                    // items behind is waiting for room on its own connections, not for us.
                    let _ = self.shared.waker.wake();
                }
                continue;
            }
            let wait = match deadline {
                None => Duration::from_secs(3600),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(SendError::Full { unsent: batch.into() });
                    }
                    deadline - now
                }
            };
            inbox = match self.shared.not_full.wait_timeout(inbox, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        Ok(())
    }

    /// The counters so far.
    pub fn counters(&self) -> Counters {
        self.shared.counters.snapshot()
    }

    /// Notifications waiting in the queue between callers and the loop.
    pub fn queued(&self) -> usize {
        self.lock().items.len()
    }

    /// Connects to the feedback service, reads until it closes and returns the devices it
    /// listed. Fails with [`FeedbackError::Timeout`] (with the items so far) if the server has
    /// not closed within `timeout`.
    pub fn fetch_feedback(&self, timeout: Duration) -> Result<Vec<FeedbackItem>, FeedbackError> {
        let (reply, answer) = sync_channel(1);
        self.command(Command::Feedback { deadline: Instant::now() + timeout, reply }, false)
            .map_err(|_| FeedbackError::Closed)?;
        answer.recv().unwrap_or(Err(FeedbackError::Closed))
    }

    /// Graceful close: refuses further sends, writes everything queued, confirms every
    /// notification with an explicit confirmation (a probe the gateway must answer), then
    /// closes. Whatever is unsettled at `timeout` is reported `Failed(Abandoned)`.
    pub fn close(mut self, timeout: Duration) -> CloseSummary {
        self.shutdown(timeout)
    }

    /// Force close: every notification not yet settled is reported `Failed(Abandoned)` at
    /// once (those already written may still be delivered) and the connections are closed;
    /// notifications that never reached a connection come back in
    /// [`CloseSummary::unsent`].
    pub fn force_close(mut self) -> CloseSummary {
        self.shutdown(Duration::ZERO)
    }

    fn shutdown(&mut self, timeout: Duration) -> CloseSummary {
        let Some(thread) = self.thread.take() else {
            return CloseSummary { settled: true, unsent: Vec::new(), counters: self.counters() };
        };
        let (reply, answer): (_, Receiver<CloseSummary>) = sync_channel(1);
        let sent = self.command(Command::Close { deadline: Instant::now() + timeout, reply }, true);
        let summary = if sent.is_ok() { answer.recv().ok() } else { None };
        let _ = thread.join();
        summary.unwrap_or_else(|| CloseSummary {
            settled: false,
            unsent: Vec::new(),
            counters: self.counters(),
        })
    }

    fn command(&self, command: Command, close: bool) -> Result<(), ()> {
        let mut inbox = self.lock();
        if inbox.closed {
            return Err(());
        }
        inbox.closed |= close;
        inbox.commands.push(command);
        drop(inbox);
        self.shared.not_full.notify_all();
        self.shared.waker.wake().map_err(|_| ())
    }

    fn lock(&self) -> MutexGuard<'_, Inbox> {
        self.shared.inbox.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.shutdown(Duration::ZERO);
    }
}

/// Where one gateway connection slot stands.
struct Slot {
    buffer: SentBuffer,
    conn: Option<Conn>,
    /// Consecutive connect failures.
    failures: u32,
    /// No connect before this (backoff).
    next_attempt: Option<Instant>,
    /// Encoded notifications not yet taken by rustls.
    pending: BytesMut,
    /// Plaintext received (error responses).
    received: Vec<u8>,
    last_activity: Instant,
    ever_connected: bool,
    probe_pending: bool,
}

struct Conn {
    stream: TlsStream,
    started: Instant,
    established: bool,
}

/// Why a connection ended.
enum Ending {
    /// After an error response, or a close by us.
    Normal,
    /// The peer closed or the socket broke with no error response.
    Silent(String),
    /// The connect, handshake or TLS layer failed: counts toward backoff.
    Failure(String),
}

impl Slot {
    fn new(buffer: SentBuffer) -> Self {
        Self {
            buffer,
            conn: None,
            failures: 0,
            next_attempt: None,
            pending: BytesMut::new(),
            received: Vec::new(),
            last_activity: Instant::now(),
            ever_connected: false,
            probe_pending: false,
        }
    }
}

struct FeedbackConn {
    stream: TlsStream,
    reader: FeedbackReader,
    items: Vec<FeedbackItem>,
    received: Vec<u8>,
    deadline: Instant,
    reply: SyncSender<Result<Vec<FeedbackItem>, FeedbackError>>,
}

struct Closing {
    deadline: Instant,
    reply: SyncSender<CloseSummary>,
}

struct Engine {
    poll: Poll,
    shared: Arc<Shared>,
    config: Config,
    rng: Rng,
    slots: Vec<Slot>,
    feedbacks: Vec<Option<FeedbackConn>>,
    on_event: Option<EventHandler>,
    /// Round-robin distribution: the slot being filled and how many it was given.
    rr: usize,
    given: usize,
    closing: Option<Closing>,
    scratch: Vec<Notification>,
}

impl Drop for Engine {
    /// However the loop ends (even by a bug's panic), callers waiting for room are released.
    fn drop(&mut self) {
        if let Ok(mut inbox) = self.shared.inbox.lock() {
            inbox.closed = true;
        }
        self.shared.not_full.notify_all();
    }
}

/// Notifications given to one slot before moving to the next.
const DISTRIBUTION_CHUNK: usize = 1024;

impl Engine {
    fn run(mut self) {
        let span = tracing::info_span!("apns-io", gateway = %self.config.gateway);
        let _entered = span.enter();
        let mut events = Events::with_capacity(256);
        loop {
            let now = Instant::now();
            // Driving the slots settles notifications and frees room for more from the inbox:
            // go on until the inbox gives nothing more.
            self.take_inbox(now);
            loop {
                for index in 0..self.slots.len() {
                    self.drive_slot(index, now);
                }
                if self.take_inbox(now) == 0 {
                    break;
                }
            }
            self.drive_feedbacks(now);
            if self.closing.is_some() && self.try_finish_close(now) {
                return;
            }
            let timeout =
                self.next_deadline().map(|deadline| deadline.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    warn!(error = %e, "poll failed; closing the client");
                    self.finish(Instant::now(), true);
                    return;
                }
            }
            // Readiness is edge-triggered and every connection is drained on each pass, so the
            // events only need to have woken us: record writability for blocked writers.
            for event in events.iter() {
                let token = event.token().0;
                if token < self.slots.len() {
                    if let Some(conn) = &mut self.slots[token].conn {
                        conn.stream.write_blocked = false;
                    }
                }
            }
        }
    }

    /// Moves notifications from the shared inbox to the slots, as far as their capacity allows,
    /// and takes commands.
    fn take_inbox(&mut self, now: Instant) -> usize {
        let room: usize = self.slots.iter().map(|slot| slot.buffer.free_capacity()).sum();
        let mut inbox = self.shared.inbox.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let commands = mem::take(&mut inbox.commands);
        let n = room.min(inbox.items.len());
        let was_full = inbox.items.len() >= self.shared.capacity;
        self.scratch.extend(inbox.items.drain(..n));
        drop(inbox);
        if n > 0 && was_full {
            self.shared.not_full.notify_all();
        }
        let mut taken = mem::take(&mut self.scratch);
        for notification in taken.drain(..) {
            self.distribute(notification);
        }
        self.scratch = taken;
        for command in commands {
            match command {
                Command::Close { deadline, reply } => {
                    info!(timeout_ms = deadline.saturating_duration_since(now).as_millis() as u64, "closing");
                    self.closing = Some(Closing { deadline, reply });
                }
                Command::Feedback { deadline, reply } => self.start_feedback(now, deadline, reply),
            }
        }
        n
    }

    fn distribute(&mut self, mut notification: Notification) {
        for _ in 0..=self.slots.len() {
            if self.given < DISTRIBUTION_CHUNK {
                if let Some(slot) = self.slots.get_mut(self.rr) {
                    match slot.buffer.send(notification) {
                        Ok(_) => {
                            self.given += 1;
                            return;
                        }
                        Err(full) => notification = full.notification,
                    }
                }
            }
            self.rr = (self.rr + 1) % self.slots.len();
            self.given = 0;
        }
        // Unreachable while `take_inbox` takes no more than the free capacity; report rather
        // than lose it.
        let slot = &mut self.slots[self.rr];
        if let Err(full) = slot.buffer.send(notification) {
            let report = full.into_report();
            self.shared.counters.failed.fetch_add(1, Relaxed);
            if let Some(handler) = &mut self.on_event {
                handler(Event::Finished { connection: self.rr, report });
            }
        }
    }

    fn drive_slot(&mut self, index: usize, now: Instant) {
        let closing = self.closing.is_some();
        let slot = &mut self.slots[index];
        if slot.buffer.poll_timeout().is_some_and(|t| t <= now) {
            slot.buffer.handle_timeout(now);
        }
        if closing && !slot.probe_pending && slot.buffer.unsettled() > 0 {
            // Unsupported (the simple format) counts as pending too: the notifications then
            // settle by age alone.
            if !matches!(slot.buffer.confirm(), Ok(Confirmation::Settled)) {
                slot.probe_pending = true;
            }
        }
        if slot.conn.is_none() && slot.buffer.wants_write() && slot.next_attempt.is_none_or(|t| t <= now) {
            self.connect(index, now);
        }
        // Driven right after the connect too: a refused loopback connect may already be known.
        if self.slots[index].conn.is_some() {
            if let Some(ending) = self.drive_conn(index, now) {
                self.end_conn(index, now, ending);
            }
        }
        self.poll_buffer_events(index);
        self.maybe_idle_close(index, now);
    }

    fn connect(&mut self, index: usize, now: Instant) {
        match connect_to(&self.config.gateway, &self.config, &self.poll, Token(index)) {
            Ok(mut stream) => {
                stream.set_buffer_limit(self.config.write_chunk.max(16 * 1024) * 4);
                debug!(connection = index, endpoint = %self.config.gateway, "connecting");
                self.slots[index].conn = Some(Conn { stream, started: now, established: false });
            }
            Err(e) => self.connect_failed(index, now, e.to_string()),
        }
    }

    /// Moves one connection forward: connect, handshake, read, write. Returns why it ended, if it
    /// did.
    fn drive_conn(&mut self, index: usize, now: Instant) -> Option<Ending> {
        let connect_timeout = self.config.connect_timeout;
        let chunk = self.config.write_chunk.max(1024);
        let counters = &self.shared.counters;
        let on_event = &mut self.on_event;
        let slot = &mut self.slots[index];
        let conn = slot.conn.as_mut()?;
        match conn.stream.poll_connected() {
            Ok(true) => {}
            Ok(false) => {
                if now >= conn.started + connect_timeout {
                    return Some(Ending::Failure("TCP connect timed out".into()));
                }
                return None;
            }
            Err(e) => return Some(Ending::Failure(format!("TCP connect failed: {e}"))),
        }
        // Read: error responses (and the handshake).
        let before = conn.stream.bytes_in;
        let read = conn.stream.read(&mut slot.received);
        AtomicCounters::add(&counters.bytes_read, conn.stream.bytes_in - before);
        let status = match read {
            Ok(status) => status,
            Err(StreamError::Tls(e)) => return Some(Ending::Failure(format!("TLS error: {e}"))),
            Err(StreamError::Io(e)) if !conn.established => {
                return Some(Ending::Failure(format!("during the TLS handshake: {e}")))
            }
            Err(e) => return Some(Ending::Silent(e.to_string())),
        };
        if !slot.received.is_empty() {
            slot.last_activity = now;
            match decode_error_response(&slot.received) {
                Ok(Decoded::Complete { value: response, .. }) => {
                    warn!(
                        connection = index,
                        status = %response.status,
                        id = response.id.get(),
                        in_flight = slot.buffer.in_flight(),
                        "error response"
                    );
                    counters.error_responses.fetch_add(1, Relaxed);
                    if let Some(handler) = on_event.as_mut() {
                        handler(Event::ErrorResponse { connection: index, response });
                    }
                    slot.buffer.handle_error_response(now, response);
                    slot.received.clear();
                    // The gateway discards everything after the failed notification and closes:
                    // close now rather than wait, so the resends start at once.
                    return Some(Ending::Normal);
                }
                Ok(Decoded::Incomplete { .. }) => {}
                Err(e) => return Some(Ending::Silent(format!("unreadable bytes from the gateway: {e}"))),
            }
        }
        if status == ReadStatus::Closed {
            return Some(if conn.established {
                Ending::Silent("closed by the gateway".into())
            } else {
                Ending::Failure("closed during the TLS handshake".into())
            });
        }
        if conn.stream.is_handshaking() {
            let before = conn.stream.bytes_out;
            let flushed = conn.stream.flush();
            AtomicCounters::add(&counters.bytes_written, conn.stream.bytes_out - before);
            if let Err(e) = flushed {
                return Some(Ending::Failure(format!("during the TLS handshake: {e}")));
            }
            if conn.stream.is_handshaking() {
                if now >= conn.started + connect_timeout {
                    return Some(Ending::Failure("TLS handshake timed out".into()));
                }
                return None;
            }
        }
        if !conn.established {
            conn.established = true;
            counters.connections.fetch_add(1, Relaxed);
            if slot.ever_connected {
                counters.reconnects.fetch_add(1, Relaxed);
            }
            slot.ever_connected = true;
            slot.last_activity = now;
            info!(
                connection = index,
                version = ?conn.stream.protocol_version(),
                resends = slot.buffer.queued(),
                "connected"
            );
            if let Some(handler) = &mut self.on_event {
                handler(Event::Connected { connection: index });
            }
        }
        // Write: resends first (the buffer orders them), coalesced into large plaintext chunks.
        let before = conn.stream.bytes_out;
        let result = loop {
            match conn.stream.flush() {
                Ok(true) => {}
                Ok(false) => break Ok(()),
                Err(e) => break Err(e),
            }
            if slot.pending.is_empty() {
                let (mut first, mut resent) = (0u64, 0u64);
                while slot.pending.len() < chunk {
                    match slot.buffer.poll_transmit(now, &mut slot.pending) {
                        Some(transmit) => match transmit.kind {
                            TransmitKind::First(_) => first += 1,
                            TransmitKind::Resend(_) => resent += 1,
                            TransmitKind::Probe => {}
                        },
                        None => break,
                    }
                }
                AtomicCounters::add(&counters.sent, first);
                AtomicCounters::add(&counters.resent, resent);
                if resent > 0 {
                    debug!(connection = index, resent, "resending");
                }
                if slot.pending.is_empty() {
                    break Ok(());
                }
                slot.last_activity = now;
            }
            match conn.stream.write_plaintext(&slot.pending) {
                Ok(n) => slot.pending.advance(n),
                Err(e) => break Err(e),
            }
        };
        AtomicCounters::add(&counters.bytes_written, conn.stream.bytes_out - before);
        match result {
            Ok(()) => None,
            Err(e) => Some(Ending::Silent(e.to_string())),
        }
    }

    fn end_conn(&mut self, index: usize, now: Instant, ending: Ending) {
        let registry = self.poll.registry();
        let slot = &mut self.slots[index];
        let Some(conn) = slot.conn.take() else { return };
        let in_flight = slot.buffer.in_flight();
        slot.pending.clear();
        slot.received.clear();
        match ending {
            Ending::Normal => {
                conn.stream.close(registry);
                slot.failures = 0;
                slot.next_attempt = None;
                slot.buffer.handle_close(now);
            }
            Ending::Silent(reason) => {
                conn.stream.abort(registry);
                slot.failures = 0;
                slot.next_attempt = None;
                slot.buffer.handle_close(now);
                if in_flight > 0 {
                    self.shared.counters.silent_closes.fetch_add(1, Relaxed);
                    info!(connection = index, in_flight, reason = %reason, "connection closed without an error response");
                    if let Some(handler) = &mut self.on_event {
                        handler(Event::SilentClose { connection: index, in_flight });
                    }
                } else {
                    debug!(connection = index, reason = %reason, "connection closed");
                }
            }
            Ending::Failure(reason) => {
                conn.stream.abort(registry);
                slot.buffer.handle_close(now);
                self.connect_failed(index, now, reason);
            }
        }
    }

    fn connect_failed(&mut self, index: usize, now: Instant, error: String) {
        let slot = &mut self.slots[index];
        slot.failures += 1;
        let attempt = slot.failures;
        let gave_up = attempt >= self.config.max_connect_failures;
        let retry_in = self.config.backoff.delay(attempt, self.rng.next_u64());
        slot.next_attempt = Some(now + retry_in);
        self.shared.counters.connect_failures.fetch_add(1, Relaxed);
        warn!(connection = index, attempt, error = %error, retry_in_ms = retry_in.as_millis() as u64, gave_up, "connect failed");
        if gave_up {
            slot.failures = 0;
            slot.buffer.abandon();
        }
        if let Some(handler) = &mut self.on_event {
            handler(Event::ConnectFailed { connection: index, attempt, error, gave_up, retry_in });
        }
    }

    fn poll_buffer_events(&mut self, index: usize) {
        let counters = &self.shared.counters;
        let slot = &mut self.slots[index];
        while let Some(event) = slot.buffer.poll_event() {
            let event = match event {
                BufferEvent::Finished(report) => {
                    match report.outcome {
                        Outcome::Accepted | Outcome::PresumedAccepted => {
                            counters.accepted.fetch_add(1, Relaxed);
                            if report.possible_duplicate() {
                                counters.possible_duplicates.fetch_add(1, Relaxed);
                            }
                        }
                        Outcome::Rejected(_) => {
                            counters.rejected.fetch_add(1, Relaxed);
                        }
                        _ => {
                            counters.failed.fetch_add(1, Relaxed);
                        }
                    }
                    Event::Finished { connection: index, report }
                }
                BufferEvent::Confirmed => {
                    slot.probe_pending = false;
                    Event::Confirmed { connection: index }
                }
                BufferEvent::ConfirmationFailed => {
                    slot.probe_pending = false;
                    continue;
                }
                BufferEvent::UnmatchedError { response, late } => {
                    Event::UnmatchedError { connection: index, response, late }
                }
                _ => continue,
            };
            if let Some(handler) = &mut self.on_event {
                handler(event);
            }
        }
    }

    fn maybe_idle_close(&mut self, index: usize, now: Instant) {
        let Some(idle) = self.config.idle_timeout else { return };
        let slot = &mut self.slots[index];
        let idle_conn = slot.conn.as_ref().is_some_and(|c| c.established) && slot.buffer.is_idle();
        if idle_conn && now >= slot.last_activity + idle {
            if let Some(conn) = slot.conn.take() {
                info!(connection = index, "closing idle connection");
                conn.stream.close(self.poll.registry());
                slot.buffer.handle_close(now);
                if let Some(handler) = &mut self.on_event {
                    handler(Event::IdleClosed { connection: index });
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut deadline: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                deadline = Some(deadline.map_or(t, |d| d.min(t)));
            }
        };
        for slot in &self.slots {
            consider(slot.buffer.poll_timeout());
            match &slot.conn {
                Some(conn) if !conn.established => consider(Some(conn.started + self.config.connect_timeout)),
                Some(_) => {
                    if slot.buffer.is_idle() {
                        consider(self.config.idle_timeout.map(|idle| slot.last_activity + idle));
                    }
                }
                None => {
                    if slot.buffer.wants_write() {
                        consider(Some(slot.next_attempt.unwrap_or_else(Instant::now)));
                    }
                }
            }
        }
        for feedback in self.feedbacks.iter().flatten() {
            consider(Some(feedback.deadline));
        }
        if let Some(closing) = &self.closing {
            consider(Some(closing.deadline));
            // A confirmation to queue (after a failed one) waits for no event.
            if self.slots.iter().any(|slot| !slot.probe_pending && slot.buffer.unsettled() > 0) {
                consider(Some(Instant::now()));
            }
        }
        deadline
    }

    /// During a graceful close: finishes when everything is settled or the deadline passed.
    fn try_finish_close(&mut self, now: Instant) -> bool {
        let Some(closing) = &self.closing else { return false };
        let inbox_empty = self.shared.inbox.lock().map(|inbox| inbox.items.is_empty()).unwrap_or(true);
        let settled = inbox_empty && self.slots.iter().all(|slot| slot.buffer.is_idle());
        if settled {
            self.finish(now, false);
            return true;
        }
        if now >= closing.deadline {
            self.finish(now, true);
            return true;
        }
        false
    }

    /// Closes everything; with `force`, abandons what is unsettled.
    fn finish(&mut self, now: Instant, force: bool) {
        let unsent: Vec<Notification> = {
            let mut inbox = self.shared.inbox.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            inbox.closed = true;
            inbox.items.drain(..).collect()
        };
        self.shared.not_full.notify_all();
        let mut settled = unsent.is_empty();
        for index in 0..self.slots.len() {
            let slot = &mut self.slots[index];
            if force && !slot.buffer.is_idle() {
                settled &= slot.buffer.unsettled() == 0;
                slot.buffer.abandon();
            }
            if let Some(conn) = slot.conn.take() {
                conn.stream.close(self.poll.registry());
                slot.buffer.handle_close(now);
            }
            self.poll_buffer_events(index);
        }
        for feedback in self.feedbacks.iter_mut().filter_map(Option::take) {
            let _ = feedback.reply.send(Err(FeedbackError::Closed));
        }
        let counters = self.shared.counters.snapshot();
        info!(?counters, settled, unsent = unsent.len(), "closed");
        if let Some(closing) = self.closing.take() {
            let _ = closing.reply.send(CloseSummary { settled, unsent, counters });
        }
    }

    fn start_feedback(
        &mut self,
        now: Instant,
        deadline: Instant,
        reply: SyncSender<Result<Vec<FeedbackItem>, FeedbackError>>,
    ) {
        let Some(endpoint) = self.config.feedback.clone() else {
            let _ = reply.send(Err(FeedbackError::NotConfigured));
            return;
        };
        let index = self.feedbacks.iter().position(Option::is_none).unwrap_or(self.feedbacks.len());
        let attempt = connect_to(&endpoint, &self.config, &self.poll, Token(FEEDBACK_BASE + index));
        match attempt {
            Ok(stream) => {
                debug!(endpoint = %endpoint, "feedback: connecting");
                let conn = FeedbackConn {
                    stream,
                    reader: FeedbackReader::new(),
                    items: Vec::new(),
                    received: Vec::new(),
                    deadline,
                    reply,
                };
                if index == self.feedbacks.len() {
                    self.feedbacks.push(Some(conn));
                } else {
                    self.feedbacks[index] = Some(conn);
                }
            }
            Err(e) => {
                let _ = reply.send(Err(FeedbackError::Connect(e.to_string())));
            }
        }
        let _ = now;
    }

    fn drive_feedbacks(&mut self, now: Instant) {
        for index in 0..self.feedbacks.len() {
            let Some(conn) = &mut self.feedbacks[index] else { continue };
            let result = drive_feedback(conn, now);
            if let Some(result) = result {
                if let Some(conn) = self.feedbacks[index].take() {
                    match &result {
                        Ok(items) => info!(items = items.len(), "feedback: done"),
                        Err(e) => warn!(error = %e, "feedback failed"),
                    }
                    conn.stream.abort(self.poll.registry());
                    let _ = conn.reply.send(result);
                }
            }
        }
    }
}

fn connect_to(
    endpoint: &Endpoint,
    config: &Config,
    poll: &Poll,
    token: Token,
) -> Result<TlsStream, StreamError> {
    let addr = endpoint.resolve().map_err(StreamError::Io)?;
    let name = endpoint.server_name().ok_or_else(|| {
        StreamError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, "invalid server name"))
    })?;
    TlsStream::connect(addr, name, config.tls.clone(), poll.registry(), token)
}

/// Moves a feedback connection forward; `Some` when it is over.
fn drive_feedback(conn: &mut FeedbackConn, now: Instant) -> Option<Result<Vec<FeedbackItem>, FeedbackError>> {
    match conn.stream.poll_connected() {
        Ok(true) => {}
        Ok(false) => {
            return (now >= conn.deadline)
                .then(|| Err(FeedbackError::Connect("TCP connect timed out".into())))
        }
        Err(e) => return Some(Err(FeedbackError::Connect(e.to_string()))),
    }
    let status = conn.stream.read(&mut conn.received);
    if !conn.received.is_empty() {
        conn.reader.handle_bytes(&conn.received);
        conn.received.clear();
        while let Some(item) = conn.reader.poll_item() {
            match item {
                Ok(item) => conn.items.push(item),
                Err(e) => warn!(error = %e, "feedback: skipping a record"),
            }
        }
    }
    match status {
        Err(StreamError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Some(finish_feedback(conn));
        }
        Err(e) => {
            if conn.stream.is_handshaking() || conn.items.is_empty() {
                return Some(Err(FeedbackError::Connect(e.to_string())));
            }
            return Some(finish_feedback(conn));
        }
        Ok(ReadStatus::Closed) => return Some(finish_feedback(conn)),
        Ok(ReadStatus::Open) => {}
    }
    if let Err(e) = conn.stream.flush() {
        return Some(Err(FeedbackError::Connect(e.to_string())));
    }
    if now >= conn.deadline {
        return Some(Err(FeedbackError::Timeout { received: mem::take(&mut conn.items) }));
    }
    None
}

fn finish_feedback(conn: &mut FeedbackConn) -> Result<Vec<FeedbackItem>, FeedbackError> {
    let items = mem::take(&mut conn.items);
    match conn.reader.finish() {
        Ok(()) => Ok(items),
        Err(_) => Err(FeedbackError::Truncated { received: items }),
    }
}
