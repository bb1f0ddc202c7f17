//! One gateway connection: incremental decoding, Apple's validation, faults, the error response.
//!
//! The connection is a small state machine:
//!
//! ```text
//! Reading ──first invalid / shutdown──▶ Discarding (until the deadline) ──▶ Closing ──▶ closed
//!    │                                  reads and throws away input         error response,
//!    └──drop fault──▶ closed silently                                       close_notify, FIN,
//!                                                                           wait for the client's
//! ```
//!
//! Plaintext is decoded in place from one buffer per connection. That buffer never holds more
//! than one incomplete command plus one read chunk, so it is bounded by
//! [`MAX_FRAME_LEN`](apns_proto::MAX_FRAME_LEN) + 5 + [`READ_CHUNK`].

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use apns_proto::{
    decode_command, item, Command, Decoded, ErrorResponse, NotificationId, Status, MAX_FRAME_LEN,
};

use crate::conn::{Ctx, Io, Next, LINGER, TURN_BUDGET};
use crate::observe::{Counter, Outcome, Record};
use crate::rng::Rng;

/// How much plaintext is read from TLS at a time.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// The longest command: a frame of [`MAX_FRAME_LEN`] plus its command byte and length.
const MAX_COMMAND_LEN: usize = 5 + MAX_FRAME_LEN as usize;

/// The most plaintext a gateway connection ever buffers: one maximal command plus one read chunk.
pub const MAX_INPUT_BUFFER: usize = MAX_COMMAND_LEN + READ_CHUNK;

#[derive(Debug)]
pub(crate) struct GatewayConn {
    pub(crate) io: Io,
    input: Input,
    state: State,
    /// The peer closed its side (TCP FIN or TLS close_notify).
    peer_eof: bool,
}

/// Received plaintext not yet decoded: `buf[start..filled]`.
#[derive(Debug)]
struct Input {
    buf: Vec<u8>,
    start: usize,
    filled: usize,
}

#[derive(Debug)]
struct State {
    conn: u64,
    phase: Phase,
    accepted: u64,
    last_accepted: NotificationId,
    stall_until: Option<Instant>,
    rng: Rng,
    /// When TLS bytes last arrived (or the server last chose not to read): for the idle timeout.
    last_input: Instant,
    idle_timeout: Option<Duration>,
    /// The read-rate token bucket: notifications that may be read now, and when it was filled.
    tokens: f64,
    filled_at: Instant,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Reading,
    /// Reading and discarding until `deadline`, then `response` is written. After an unreadable
    /// command the stream cannot be resynchronised, and input is dropped without decoding.
    Discarding {
        deadline: Instant,
        response: ErrorResponse,
        unreadable: bool,
    },
    /// The response is queued; waiting for the client to close, until `deadline`.
    Closing {
        deadline: Instant,
        shut: bool,
    },
}

/// What decoding one command asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Continue,
    Stall,
    Drop,
}

impl Input {
    fn new() -> Self {
        Self { buf: Vec::new(), start: 0, filled: 0 }
    }

    /// Room for at least one chunk after the undecoded bytes, moving them to the front first.
    fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
        let wanted = (self.filled + READ_CHUNK).min(MAX_INPUT_BUFFER);
        if self.buf.len() < wanted {
            self.buf.resize(wanted, 0);
        }
        let filled = self.filled;
        self.buf.get_mut(filled..).unwrap_or_default()
    }

    fn clear(&mut self) {
        self.start = 0;
        self.filled = 0;
    }
}

impl GatewayConn {
    pub(crate) fn new(io: Io, conn: u64, rng: Rng, now: Instant, idle_timeout: Option<Duration>) -> Self {
        Self {
            io,
            input: Input::new(),
            state: State {
                conn,
                phase: Phase::Reading,
                accepted: 0,
                last_accepted: NotificationId(0),
                stall_until: None,
                rng,
                last_input: now,
                idle_timeout,
                tokens: f64::INFINITY,
                filled_at: now,
            },
            peer_eof: false,
        }
    }

    /// The next time this connection must be served even without readiness.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.state.phase {
            Phase::Reading => self.state.stall_until.or_else(|| self.idle_deadline()),
            Phase::Discarding { deadline, .. } | Phase::Closing { deadline, .. } => Some(deadline),
        }
    }

    /// While reading after the handshake, not stalled: when the client has been silent too long.
    fn idle_deadline(&self) -> Option<Instant> {
        let idle = self.state.idle_timeout?;
        let silent = self.state.stall_until.is_none() && !self.io.tls.is_handshaking();
        silent.then(|| self.state.last_input + idle)
    }

    /// Serves the connection: reads, decodes, answers, writes. Never blocks.
    pub(crate) fn drive(&mut self, ctx: &mut Ctx<'_>) -> Next {
        if let Some(until) = self.state.stall_until {
            // Not reading was the server's choice: that time does not count as the client's.
            self.state.last_input = ctx.now;
            if ctx.now >= until {
                self.state.stall_until = None;
            }
        }
        let before = self.state.last_input;
        let next = match self.state.phase {
            Phase::Closing { .. } => self.linger(ctx),
            Phase::Reading | Phase::Discarding { .. } => self.read(ctx),
        };
        if next == Next::Close {
            return Next::Close;
        }
        let expired = self.idle_deadline().is_some_and(|deadline| deadline <= ctx.now);
        if matches!(self.state.phase, Phase::Reading) && self.state.last_input == before && expired {
            tracing::debug!(conn = self.state.conn, "closing an idle connection");
            ctx.tally.add(Counter::IdleClosed, 1);
            return Next::Close;
        }
        if let Phase::Discarding { deadline, response, .. } = self.state.phase {
            if ctx.now >= deadline {
                // Queued only: the event loop publishes this turn's records and counters before
                // the next turn writes the response (writability is reported at once), so that
                // a client that has read the response finds everything in the records.
                self.respond(response, ctx);
                return Next::Wait;
            }
        }
        if self.peer_eof && matches!(self.state.phase, Phase::Reading) && self.state.stall_until.is_none() {
            // The client closed; whatever partial command is left can never complete.
            return Next::Close;
        }
        if self.io.flush().is_err() {
            return Next::Close;
        }
        next
    }

    fn read(&mut self, ctx: &mut Ctx<'_>) -> Next {
        let mut budget = TURN_BUDGET;
        loop {
            if self.state.stall_until.is_some() {
                return Next::Wait;
            }
            match self.process(ctx) {
                Step::Continue => {}
                Step::Stall => return Next::Wait,
                Step::Drop => {
                    ctx.tally.add(Counter::Dropped, 1);
                    return Next::Close;
                }
            }
            if self.peer_eof {
                return Next::Wait;
            }
            match self.io.tls.reader().read(self.input.spare()) {
                Ok(0) => {
                    self.peer_eof = true;
                    continue;
                }
                Ok(n) => {
                    self.input.filled += n;
                    continue;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                    self.peer_eof = true;
                    continue;
                }
                Err(_) => return Next::Close,
            }
            if budget == 0 {
                return Next::Again;
            }
            match self.io.tls.read_tls(&mut self.io.socket) {
                Ok(0) => {
                    if self.io.tls.is_handshaking() {
                        // The client gave up mid-handshake: free its slot now, not at the
                        // handshake timeout.
                        ctx.tally.add(Counter::HandshakeFailures, 1);
                        return Next::Close;
                    }
                    // rustls now reports the end through the reader.
                    if self.io.tls.process_new_packets().is_err() {
                        return Next::Close;
                    }
                }
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    self.state.last_input = ctx.now;
                    if let Err(error) = self.io.tls.process_new_packets() {
                        self.io.fail(&error, ctx.tally);
                        return Next::Close;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
    }

    /// Decodes every complete command in the input buffer.
    fn process(&mut self, ctx: &mut Ctx<'_>) -> Step {
        let data = self.input.buf.get(self.input.start..self.input.filled).unwrap_or_default();
        let state = &mut self.state;
        let mut offset = 0;
        let mut step = Step::Continue;
        while let Some(rest) = data.get(offset..).filter(|rest| !rest.is_empty()) {
            match state.phase {
                Phase::Closing { .. } | Phase::Discarding { unreadable: true, .. } => {
                    offset = data.len();
                    break;
                }
                Phase::Reading | Phase::Discarding { .. } => {}
            }
            match decode_command(rest) {
                Ok(Decoded::Complete { value, consumed }) => {
                    if let Some(wait) = state.no_token(ctx) {
                        state.stall_until = Some(ctx.now + wait);
                        step = Step::Stall;
                        break;
                    }
                    offset += consumed;
                    step = state.on_command(&value, ctx);
                    if step != Step::Continue {
                        break;
                    }
                }
                Ok(Decoded::Incomplete { .. }) => break,
                Err(_) => {
                    state.on_unreadable(rest.first().copied().unwrap_or_default(), ctx);
                    offset = data.len();
                    break;
                }
            }
        }
        self.input.start += offset;
        if self.input.start == self.input.filled {
            self.input.clear();
        }
        step
    }

    fn respond(&mut self, response: ErrorResponse, ctx: &mut Ctx<'_>) {
        // At most 6 bytes plus an alert: always within rustls' buffer.
        let _ = self.io.tls.writer().write_all(&response.to_bytes());
        self.io.tls.send_close_notify();
        self.input.clear();
        self.state.phase = Phase::Closing { deadline: ctx.now + LINGER, shut: false };
    }

    /// After the response: flush it, then half-close and read until the client closes too.
    fn linger(&mut self, ctx: &mut Ctx<'_>) -> Next {
        if self.io.flush().is_err() {
            return Next::Close;
        }
        let Phase::Closing { deadline, shut } = &mut self.state.phase else {
            return Next::Wait;
        };
        if !*shut && !self.io.tls.wants_write() {
            let _ = self.io.socket.shutdown(std::net::Shutdown::Write);
            *shut = true;
        }
        match self.io.drain_raw() {
            Ok(false) if ctx.now < *deadline && !self.peer_eof => Next::Wait,
            _ => Next::Close,
        }
    }
}

impl State {
    /// With a read rate, takes a token for the next notification; if there is none, how long
    /// until there is one.
    fn no_token(&mut self, ctx: &Ctx<'_>) -> Option<Duration> {
        if !matches!(self.phase, Phase::Reading) {
            return None;
        }
        let rate = f64::from(ctx.settings.faults.read_rate?.get());
        // A hundredth of a second's worth, at least one: smooth pacing without a wake-up per
        // notification at high rates.
        let capacity = (rate / 100.0).max(1.0);
        let elapsed = ctx.now.saturating_duration_since(self.filled_at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(capacity);
        self.filled_at = ctx.now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }

    fn on_command(&mut self, command: &Command<'_>, ctx: &mut Ctx<'_>) -> Step {
        if !matches!(self.phase, Phase::Reading) {
            ctx.tally.add(Counter::Discarded, 1);
            if ctx.settings.recording {
                ctx.records.push(record(self.conn, command, Outcome::Discarded, None));
            }
            return Step::Continue;
        }
        let verdict = command.validate(ctx.settings.limit).and_then(|notification| {
            let rejected = &ctx.settings.faults.reject;
            let status = if rejected.is_empty() { None } else { rejected.get(&notification.token) };
            match status {
                Some(&status) => Err(ErrorResponse { status, id: notification.id }),
                None => Ok(notification.id),
            }
        });
        let id = match verdict {
            Ok(id) => id,
            Err(response) => {
                ctx.tally.add(Counter::Rejected, 1);
                if ctx.settings.recording {
                    ctx.records.push(record(self.conn, command, Outcome::Rejected, Some(response.status)));
                }
                self.reject(response, ctx);
                return Step::Continue;
            }
        };
        ctx.tally.add(Counter::Accepted, 1);
        if ctx.settings.recording {
            ctx.records.push(record(self.conn, command, Outcome::Accepted, None));
        }
        self.accepted += 1;
        self.last_accepted = id;
        let faults = &ctx.settings.faults;
        let every = |n: Option<std::num::NonZeroU64>| n.is_some_and(|n| self.accepted % n.get() == 0);
        if every(faults.drop_every) {
            return Step::Drop;
        }
        if faults.drop_probability > 0.0 && self.rng.unit() < faults.drop_probability {
            return Step::Drop;
        }
        if every(faults.shutdown_every) {
            ctx.tally.add(Counter::Shutdowns, 1);
            let response = ErrorResponse { status: Status::SHUTDOWN, id: self.last_accepted };
            self.phase = Phase::Discarding { deadline: ctx.now, response, unreadable: false };
            return Step::Continue;
        }
        if let Some(stall) = faults.stall.filter(|stall| self.accepted % stall.every.get() == 0) {
            self.stall_until = Some(ctx.now + stall.duration);
            return Step::Stall;
        }
        Step::Continue
    }

    /// An unknown command byte or an impossible frame length: processing error, identifier 0.
    fn on_unreadable(&mut self, command: u8, ctx: &mut Ctx<'_>) {
        match &mut self.phase {
            Phase::Reading => {
                ctx.tally.add(Counter::Rejected, 1);
                let response = ErrorResponse { status: Status::PROCESSING_ERROR, id: NotificationId(0) };
                if ctx.settings.recording {
                    ctx.records.push(Record {
                        conn: self.conn,
                        command,
                        id: 0,
                        token: Vec::new(),
                        payload: Vec::new(),
                        expiry: 0,
                        priority: 10,
                        outcome: Outcome::Rejected,
                        status: Some(response.status),
                    });
                }
                self.reject(response, ctx);
                if let Phase::Discarding { unreadable, .. } = &mut self.phase {
                    *unreadable = true;
                }
            }
            Phase::Discarding { unreadable, .. } => *unreadable = true,
            Phase::Closing { .. } => {}
        }
    }

    fn reject(&mut self, response: ErrorResponse, ctx: &mut Ctx<'_>) {
        let deadline = ctx.now + self.rng.delay(ctx.settings.error_delay);
        self.phase = Phase::Discarding { deadline, response, unreadable: false };
    }
}

/// The fields of a command as sent, valid or not.
fn record(conn: u64, command: &Command<'_>, outcome: Outcome, status: Option<Status>) -> Record {
    let mut record = Record {
        conn,
        command: command.format().command(),
        id: 0,
        token: Vec::new(),
        payload: Vec::new(),
        expiry: 0,
        priority: 10,
        outcome,
        status,
    };
    match *command {
        Command::Simple { token, payload } => {
            record.token = token.to_vec();
            record.payload = payload.to_vec();
        }
        Command::Enhanced { id, expiry, token, payload } => {
            record.id = id.get();
            record.expiry = expiry.unix_seconds();
            record.token = token.to_vec();
            record.payload = payload.to_vec();
        }
        Command::Frame(frame) => {
            let mut seen = [false; 6];
            for field in frame.items().map_while(Result::ok) {
                let Some(first) =
                    seen.get_mut(usize::from(field.id)).map(|seen| !std::mem::replace(seen, true))
                else {
                    continue;
                };
                if !first {
                    continue;
                }
                let word = <[u8; 4]>::try_from(field.data).ok().map(u32::from_be_bytes);
                match field.id {
                    item::DEVICE_TOKEN => record.token = field.data.to_vec(),
                    item::PAYLOAD => record.payload = field.data.to_vec(),
                    item::IDENTIFIER => record.id = word.unwrap_or(0),
                    item::EXPIRY => record.expiry = word.unwrap_or(0),
                    item::PRIORITY => {
                        if let [priority] = field.data {
                            record.priority = *priority;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    record
}
