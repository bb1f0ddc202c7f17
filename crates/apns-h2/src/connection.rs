//! The client connection state machine.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::error::{ConnectionError, Limit, ProtocolViolation, SendError};
use crate::event::{Abort, Closed, ConnectionEnd, Event, Fate, GoAway, Malformed, NotProcessed};
use crate::frame::{self, decode_frame, Frame, FrameKind, SettingId, HEADER_LEN, MAX_WINDOW};
use crate::hpack::{Decoder, Encoder};
use crate::message::Request;
use crate::settings::{Config, ConfigError, PeerSettings};
use crate::stream::{Section, SectionOutcome, Stream};
use crate::ErrorCode;
use crate::StreamId;

/// Non-stream events (settings, GOAWAY) kept while nobody polls; later ones are dropped (their
/// latest state stays readable through the getters), so a flood cannot grow memory.
const MAX_PENDING_NOTICES: usize = 64;

/// Most CONTINUATION frames in one header block: the CONTINUATION-flood bound (empty frames
/// cost the byte limit nothing).
const MAX_CONTINUATIONS: u32 = 64;

/// A client HTTP/2 connection over any byte transport: a deterministic state machine with no I/O
/// and no clock.
///
/// # Methods
///
/// As in `quinn_proto::Connection`, methods come in four kinds:
///
/// - **getters** change nothing: [`send_budget`](Self::send_budget),
///   [`peer_settings`](Self::peer_settings), [`goaway`](Self::goaway),
///   [`needs_replacement`](Self::needs_replacement), [`is_closed`](Self::is_closed), ...;
/// - **commands**: [`send_request`](Self::send_request), [`cancel`](Self::cancel),
///   [`ping`](Self::ping), [`shutdown`](Self::shutdown), [`abort`](Self::abort);
/// - **`handle_*`** report what happened: [`handle_input`](Self::handle_input) (bytes read, in
///   any split), [`handle_close`](Self::handle_close) (the transport ended),
///   [`handle_timeout`](Self::handle_timeout);
/// - **`poll_*`** return the work: [`poll_transmit`](Self::poll_transmit) (appends every frame
///   that can be written now), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout).
///
/// After any command or `handle_*` call: `poll_transmit` (write what it appended), drain
/// `poll_event`, then ask `poll_timeout`. A spurious `handle_timeout` is a no-op.
///
/// # Fates
///
/// Every stream id `send_request` returns gets exactly one [`Event::Finished`] with its
/// [`Fate`], and all come before [`Event::Closed`], the last event.
#[derive(Debug)]
pub struct Connection {
    config: Config,
    peer: PeerSettings,
    state: State,
    /// Whether the preface, our SETTINGS and the connection WINDOW_UPDATE are written.
    preface_written: bool,
    settings_received: bool,
    settings_acked: bool,
    /// Until the server's SETTINGS and the ACK of ours have both arrived.
    settings_deadline: Option<Instant>,
    encoder: Encoder,
    decoder: Decoder,
    /// Bytes read and not yet a whole frame.
    input: BytesMut,
    /// A header block waiting for CONTINUATION frames.
    block: Option<PartialBlock>,
    streams: HashMap<u32, Stream, BuildHasherDefault<StreamIdHasher>>,
    /// Streams with an id whose HEADERS are not yet written, in id order, with their requests
    /// (the fields are needed only until then; the body waits in the stream).
    send_queue: VecDeque<(StreamId, Request)>,
    /// Opened streams with body bytes left to write, in the order opened.
    data_queue: VecDeque<StreamId>,
    /// Streams whose HEADERS are written and that have no fate yet.
    active: usize,
    next_stream_id: u32,
    /// The highest stream whose HEADERS we wrote: frames above it are on idle streams.
    highest_opened: u32,
    send_window: i64,
    recv_window: i64,
    /// Connection-window credit to return to the server.
    recv_owed: u32,
    /// Response body bytes held by unfinished streams.
    buffered_body: usize,
    /// Control frames to write (acknowledgements, RST_STREAM, WINDOW_UPDATE, GOAWAY).
    control: BytesMut,
    pending_acks: usize,
    ping: Ping,
    last_received: Instant,
    goaway_received: Option<GoAway>,
    goaway_sent: bool,
    events: VecDeque<Event>,
    pending_notices: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// GOAWAY sent or received: no new stream; closed when the last stream finishes.
    Draining,
    Closed,
}

#[derive(Debug)]
struct PartialBlock {
    stream_id: StreamId,
    end_stream: bool,
    fragments: BytesMut,
    continuations: u32,
}

#[derive(Debug, Default)]
struct Ping {
    /// Requested, not yet written.
    requested: bool,
    /// Written at, with its payload and deadline.
    outstanding: Option<(Instant, [u8; 8], Instant)>,
    count: u64,
}

impl Connection {
    /// A connection whose transport (TLS with ALPN `h2`) is established: the first
    /// `poll_transmit` writes the preface and our SETTINGS. `now` starts the settings timeout.
    pub fn new(config: Config, now: Instant) -> Result<Self, ConfigError> {
        config.validate()?;
        let decoder_table = config.header_table_size.max(4096) as usize;
        Ok(Self {
            peer: PeerSettings::default(),
            state: State::Open,
            preface_written: false,
            settings_received: false,
            settings_acked: false,
            settings_deadline: Some(now + config.settings_timeout),
            encoder: {
                let mut encoder = Encoder::new(config.encoder_table_size.min(4096) as usize);
                encoder.set_huffman_unindexed(config.huffman_unindexed);
                encoder
            },
            decoder: Decoder::new(decoder_table),
            input: BytesMut::new(),
            block: None,
            streams: HashMap::default(),
            send_queue: VecDeque::new(),
            data_queue: VecDeque::new(),
            active: 0,
            next_stream_id: 1,
            highest_opened: 0,
            send_window: 65_535,
            recv_window: i64::from(config.connection_window),
            recv_owed: 0,
            buffered_body: 0,
            control: BytesMut::new(),
            pending_acks: 0,
            ping: Ping::default(),
            last_received: now,
            goaway_received: None,
            goaway_sent: false,
            events: VecDeque::new(),
            pending_notices: 0,
            config,
        })
    }

    // Getters.

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The server's settings in force.
    pub fn peer_settings(&self) -> &PeerSettings {
        &self.peer
    }

    /// Whether the server's first SETTINGS has arrived (the handshake is done).
    pub fn is_established(&self) -> bool {
        self.settings_received
    }

    /// How many more streams [`send_request`](Self::send_request) would open now: the server's
    /// SETTINGS_MAX_CONCURRENT_STREAMS (or `streams_before_settings` until its SETTINGS arrive),
    /// capped by `max_open_streams` and by the stream ids left, minus the streams open or
    /// waiting to open. 0 once the connection is draining or closed. It changes on
    /// [`Event::Settings`] and [`Event::Finished`].
    pub fn send_budget(&self) -> usize {
        if self.state != State::Open {
            return 0;
        }
        let room = self.stream_limit().saturating_sub(self.active + self.send_queue.len());
        room.min(self.stream_ids_left() as usize)
    }

    /// Stream ids this connection can still hand out (2^30 at the start): a connection
    /// nearing 0 should be replaced before [`SendError::StreamIdsExhausted`].
    pub fn stream_ids_left(&self) -> u32 {
        let left =
            (u64::from(StreamId::MAX.get()) + 1).saturating_sub(u64::from(self.next_stream_id)).div_ceil(2);
        u32::try_from(left).unwrap_or(u32::MAX)
    }

    /// Streams opened (HEADERS written) and not finished.
    pub fn open_streams(&self) -> usize {
        self.active
    }

    /// Streams with an id, waiting for budget to write their HEADERS.
    pub fn queued_streams(&self) -> usize {
        self.send_queue.len()
    }

    /// The latest GOAWAY from the server.
    pub fn goaway(&self) -> Option<&GoAway> {
        self.goaway_received.as_ref()
    }

    /// Whether this connection cannot take new streams and should be replaced: GOAWAY sent or
    /// received, closed, or stream ids exhausted.
    pub fn needs_replacement(&self) -> bool {
        self.state != State::Open || self.next_stream_id > StreamId::MAX.get()
    }

    /// Whether the connection is over ([`Event::Closed`] was queued).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Our connection send window (negative values are possible only for stream windows).
    pub fn send_window(&self) -> i64 {
        self.send_window
    }

    /// Whether `poll_transmit` would append something now.
    pub fn wants_write(&self) -> bool {
        if !self.preface_written || !self.control.is_empty() {
            return true;
        }
        if self.state == State::Closed {
            return false;
        }
        self.ping.requested
            || self.recv_owed >= self.config.connection_window / 2
            || (!self.send_queue.is_empty() && self.active < self.stream_limit())
            || (self.send_window > 0
                && self
                    .data_queue
                    .iter()
                    .any(|id| self.streams.get(&id.get()).is_some_and(|s| s.send_window > 0)))
    }

    // Commands.

    /// Opens a stream for `request`, or says why not (and gives the request back). Its HEADERS
    /// are written by the next `poll_transmit`, and its body as the flow-control windows allow:
    /// a body larger than the windows waits, it does not fail. Its [`Event::Finished`] carries
    /// the key 0: see [`send_request_with_key`](Self::send_request_with_key).
    pub fn send_request(&mut self, request: Request) -> Result<StreamId, SendError> {
        self.send_request_with_key(request, 0)
    }

    /// [`send_request`](Self::send_request), with the caller's `key` for the stream (what it
    /// carries, as the caller names it), handed back in the stream's [`Event::Finished`]: a
    /// caller that tags its streams needs no map of its own from stream ids to its keys.
    /// Keys are opaque here and need not be distinct.
    pub fn send_request_with_key(&mut self, mut request: Request, key: u64) -> Result<StreamId, SendError> {
        if self.state != State::Open {
            return Err(SendError::Closing(Box::new(request)));
        }
        if self.next_stream_id > StreamId::MAX.get() {
            return Err(SendError::StreamIdsExhausted(Box::new(request)));
        }
        if self.send_budget() == 0 {
            return Err(SendError::NoBudget(Box::new(request)));
        }
        if let Some(limit) = self.peer.max_header_list_size {
            let size = request.header_list_size();
            if size > limit as usize {
                return Err(SendError::HeaderListTooLarge { request: Box::new(request), size, limit });
            }
        }
        let id = StreamId::new(self.next_stream_id);
        self.next_stream_id += 2;
        let body = request.take_body();
        self.streams.insert(id.get(), Stream::new(body, key, self.config.stream_window));
        self.send_queue.push_back((id, request));
        Ok(id)
    }

    /// The stream carrying `key` ([`send_request_with_key`](Self::send_request_with_key)) that
    /// has no fate yet, if any (the lowest id if several do). A linear search over the open
    /// and queued streams: for rare uses such as a [`cancel`](Self::cancel) by key.
    pub fn stream_with_key(&self, key: u64) -> Option<StreamId> {
        self.streams
            .iter()
            .filter(|(_, stream)| stream.key == key)
            .map(|(&id, _)| id)
            .min()
            .map(StreamId::new)
    }

    /// Gives up on a stream: one not yet written is [`NotProcessed::NeverSent`]; an open one
    /// is reset (`CANCEL`) and [`Abort::Cancelled`]. Returns whether the stream was pending.
    pub fn cancel(&mut self, id: StreamId) -> bool {
        let Some(stream) = self.streams.get(&id.get()) else { return false };
        if stream.is_opened() {
            self.abort_stream(id, ErrorCode::CANCEL, Abort::Cancelled);
        } else {
            self.send_queue.retain(|(queued, _)| *queued != id);
            self.finish(id, Fate::NotProcessed(NotProcessed::NeverSent));
            self.check_drained();
        }
        true
    }

    /// Asks for a PING (written by the next `poll_transmit`); its answer gives
    /// [`Event::PingAcknowledged`], and no answer within `ping_timeout` closes the connection
    /// with [`ConnectionEnd::PingTimeout`]. Returns false if a PING is already outstanding or
    /// the connection is closed.
    pub fn ping(&mut self) -> bool {
        if self.state == State::Closed || self.ping.requested || self.ping.outstanding.is_some() {
            return false;
        }
        self.ping.requested = true;
        true
    }

    /// Starts a graceful close: GOAWAY (`NO_ERROR`), no new stream; streams waiting for budget
    /// become [`NotProcessed::NeverSent`]; open ones may still finish, then
    /// [`Closed::Graceful`].
    pub fn shutdown(&mut self) {
        if self.state != State::Open {
            return;
        }
        self.state = State::Draining;
        self.send_goaway(ErrorCode::NO_ERROR, b"");
        self.fail_queued();
        self.check_drained();
    }

    /// Ends the connection now: GOAWAY (`NO_ERROR`); open streams become
    /// [`ConnectionEnd::Aborted`] (possibly processed).
    pub fn abort(&mut self) {
        if self.state == State::Closed {
            return;
        }
        self.send_goaway(ErrorCode::NO_ERROR, b"");
        self.close(ConnectionEnd::Aborted);
    }

    // Input.

    /// Bytes read from the transport, in any split: the result does not depend on how the
    /// stream of bytes is cut.
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        self.input.extend_from_slice(input);
        loop {
            let frame = match decode_frame(&mut self.input, self.config.max_frame_size) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => {
                    self.connection_error(error.into());
                    break;
                }
            };
            self.last_received = now;
            if let Err(error) = self.handle_frame(now, frame) {
                self.connection_error(error);
            }
            if self.state == State::Closed {
                break;
            }
        }
        if self.state == State::Closed {
            self.input = BytesMut::new();
        }
    }

    /// The transport is gone (EOF, reset, TLS failure): every stream without a fate gets one,
    /// then [`Event::Closed`].
    pub fn handle_close(&mut self) {
        if self.state != State::Closed {
            self.close(ConnectionEnd::TransportClosed);
        }
    }

    /// Time passed: checks the ping and settings deadlines and the keepalive. A call before
    /// [`poll_timeout`](Self::poll_timeout) is a no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if let Some((_, _, deadline)) = self.ping.outstanding {
            if now >= deadline {
                self.send_goaway(ErrorCode::NO_ERROR, b"ping timeout");
                self.close(ConnectionEnd::PingTimeout);
                return;
            }
        }
        if self.settings_deadline.is_some_and(|deadline| now >= deadline) {
            self.send_goaway(ErrorCode::SETTINGS_TIMEOUT, b"");
            self.close(ConnectionEnd::SettingsTimeout);
            return;
        }
        if let Some(interval) = self.config.keepalive_interval {
            if now >= self.last_received + interval {
                self.ping();
            }
        }
    }

    // Output.

    /// Appends to `out` every frame that can be written now: the preface and SETTINGS first,
    /// then acknowledgements and other control frames, then HEADERS of waiting streams (while
    /// the budget allows) and DATA (while the windows allow). Returns the bytes appended.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, out: &mut BytesMut) -> usize {
        let start = out.len();
        if !self.preface_written {
            self.preface_written = true;
            self.write_preface(out);
        }
        out.extend_from_slice(&self.control);
        self.control.clear();
        self.pending_acks = 0;
        if self.state == State::Closed {
            return out.len() - start;
        }
        if self.ping.requested {
            self.ping.requested = false;
            self.ping.count += 1;
            let payload = self.ping.count.to_be_bytes();
            frame::encode_ping(false, payload, out);
            self.ping.outstanding = Some((now, payload, now + self.config.ping_timeout));
        }
        if self.recv_owed > 0 && self.recv_owed >= self.config.connection_window / 2 {
            frame::encode_window_update(StreamId::CONNECTION, self.recv_owed, out);
            self.recv_window += i64::from(self.recv_owed);
            self.recv_owed = 0;
        }
        while self.active < self.stream_limit() {
            let Some((id, request)) = self.send_queue.pop_front() else { break };
            self.write_headers(id, &request, out);
        }
        self.write_data(out);
        out.len() - start
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        if matches!(event, Event::Settings(_) | Event::GoAway(_) | Event::PingAcknowledged { .. }) {
            self.pending_notices = self.pending_notices.saturating_sub(1);
        }
        Some(event)
    }

    /// When to call [`handle_timeout`](Self::handle_timeout), if a deadline is pending.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let ping = self.ping.outstanding.map(|(_, _, deadline)| deadline);
        let keepalive = match (self.config.keepalive_interval, &self.ping) {
            (Some(interval), Ping { requested: false, outstanding: None, .. }) => {
                Some(self.last_received + interval)
            }
            _ => None,
        };
        [ping, self.settings_deadline, keepalive].into_iter().flatten().min()
    }

    // Internals: frames in.

    fn handle_frame(&mut self, now: Instant, frame: Frame) -> Result<(), ConnectionError> {
        if !self.settings_received && !matches!(frame, Frame::Settings { ack: false, .. }) {
            return Err(ConnectionError::BadPreface);
        }
        if let Some(block) = &self.block {
            let stream_id = block.stream_id;
            match frame {
                Frame::Continuation { stream_id: id, fragment, end_headers } if id == stream_id => {
                    return self.handle_continuation(fragment, end_headers);
                }
                _ => return Err(violation(ProtocolViolation::ExpectedContinuation, frame.stream_id())),
            }
        }
        match frame {
            Frame::Data { stream_id, data, pad_len, end_stream } => {
                let flow_len = data.len() + pad_len.map_or(0, |pad| 1 + usize::from(pad));
                self.handle_data(stream_id, data, flow_len as u32, end_stream)
            }
            Frame::Headers { stream_id, fragment, end_stream, end_headers, .. } => {
                self.check_not_idle(stream_id)?;
                if end_headers {
                    self.handle_block(stream_id, &fragment, end_stream)
                } else {
                    self.start_block(stream_id, &fragment, end_stream)
                }
            }
            Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
            Frame::RstStream { stream_id, code } => {
                self.check_not_idle(stream_id)?;
                if self.streams.contains_key(&stream_id.get()) {
                    self.finish(stream_id, Fate::Reset(code));
                    self.check_drained();
                }
                Ok(())
            }
            Frame::Settings { ack: true, .. } => {
                if !self.settings_acked {
                    self.settings_acked = true;
                    self.decoder.set_max_allowed_table_size(self.config.header_table_size as usize);
                    self.update_settings_deadline();
                }
                Ok(())
            }
            Frame::Settings { ack: false, params } => self.handle_settings(&params),
            Frame::PushPromise { stream_id, .. } => Err(violation(ProtocolViolation::PushPromise, stream_id)),
            Frame::Ping { ack: false, payload } => {
                self.owe_ack()?;
                frame::encode_ping(true, payload, &mut self.control);
                Ok(())
            }
            Frame::Ping { ack: true, payload } => {
                if let Some((sent, expected, _)) = self.ping.outstanding {
                    if payload == expected {
                        self.ping.outstanding = None;
                        self.notice(Event::PingAcknowledged { rtt: now.saturating_duration_since(sent) });
                    }
                }
                Ok(())
            }
            Frame::GoAway { last_stream_id, code, debug_data } => {
                self.handle_goaway(GoAway { last_stream_id, code, debug_data });
                Ok(())
            }
            Frame::WindowUpdate { stream_id, increment } => self.handle_window_update(stream_id, increment),
            Frame::Continuation { stream_id, .. } => {
                Err(violation(ProtocolViolation::UnexpectedContinuation, stream_id))
            }
        }
    }

    /// Frames other than PRIORITY may only name streams we opened.
    fn check_not_idle(&self, stream_id: StreamId) -> Result<(), ConnectionError> {
        if !stream_id.is_client_initiated() || stream_id.get() > self.highest_opened {
            return Err(violation(ProtocolViolation::IdleStream, stream_id));
        }
        Ok(())
    }

    fn start_block(
        &mut self,
        stream_id: StreamId,
        fragment: &[u8],
        end_stream: bool,
    ) -> Result<(), ConnectionError> {
        if fragment.len() > self.config.max_header_block {
            return Err(ConnectionError::ExcessiveLoad(Limit::HeaderBlock));
        }
        let mut fragments = BytesMut::with_capacity(fragment.len() * 2);
        fragments.extend_from_slice(fragment);
        self.block = Some(PartialBlock { stream_id, end_stream, fragments, continuations: 0 });
        Ok(())
    }

    fn handle_continuation(&mut self, fragment: Bytes, end_headers: bool) -> Result<(), ConnectionError> {
        let Some(block) = self.block.as_mut() else { return Ok(()) };
        block.continuations += 1;
        if block.continuations > MAX_CONTINUATIONS {
            return Err(ConnectionError::ExcessiveLoad(Limit::ContinuationFrames));
        }
        if block.fragments.len() + fragment.len() > self.config.max_header_block {
            return Err(ConnectionError::ExcessiveLoad(Limit::HeaderBlock));
        }
        block.fragments.extend_from_slice(&fragment);
        if !end_headers {
            return Ok(());
        }
        let Some(block) = self.block.take() else { return Ok(()) };
        self.handle_block(block.stream_id, &block.fragments, block.end_stream)
    }

    /// A complete header block: decode it (always, to keep the HPACK state in step), then apply
    /// it to its stream if the stream is still ours.
    fn handle_block(
        &mut self,
        stream_id: StreamId,
        block: &[u8],
        end_stream: bool,
    ) -> Result<(), ConnectionError> {
        let mut section = Section::default();
        let max_list = self.config.max_header_list_size as usize;
        self.decoder.decode(block, |field| section.push(field.name, field.value, max_list))?;
        let Some(stream) = self.streams.get_mut(&stream_id.get()) else {
            return Ok(()); // A stream we reset or that finished: ignored (RFC 9113 section 5.1).
        };
        if section.too_large {
            self.abort_stream(stream_id, ErrorCode::CANCEL, Abort::HeadersTooLarge);
            return Ok(());
        }
        if let Some(malformed) = section.malformed {
            self.abort_stream(stream_id, ErrorCode::PROTOCOL_ERROR, Abort::Malformed(malformed));
            return Ok(());
        }
        match stream.handle_section(section, end_stream) {
            SectionOutcome::Continue => {}
            SectionOutcome::Complete => self.complete(stream_id),
            SectionOutcome::Malformed(malformed) => {
                self.abort_stream(stream_id, ErrorCode::PROTOCOL_ERROR, Abort::Malformed(malformed))
            }
        }
        Ok(())
    }

    fn handle_data(
        &mut self,
        stream_id: StreamId,
        data: Bytes,
        flow_len: u32,
        end_stream: bool,
    ) -> Result<(), ConnectionError> {
        self.check_not_idle(stream_id)?;
        if i64::from(flow_len) > self.recv_window {
            return Err(ConnectionError::FlowControl);
        }
        self.recv_window -= i64::from(flow_len);
        // Connection credit goes back as DATA arrives: buffered bodies are bounded by
        // `max_response_body` per stream and `max_buffered_body` per connection instead, so
        // that streams waiting for their END_STREAM cannot starve the others.
        self.recv_owed += flow_len;
        let Some(stream) = self.streams.get_mut(&stream_id.get()) else {
            return Ok(()); // A stream we are done with.
        };
        if i64::from(flow_len) > stream.recv_window {
            self.abort_stream(stream_id, ErrorCode::FLOW_CONTROL_ERROR, Abort::FlowControl);
            return Ok(());
        }
        stream.recv_window -= i64::from(flow_len);
        if stream.response.status.is_none() || stream.response.trailers.is_some() {
            self.abort_stream(stream_id, ErrorCode::PROTOCOL_ERROR, Abort::Malformed(Malformed::Sequence));
            return Ok(());
        }
        if stream.response.body.len() + data.len() > self.config.max_response_body {
            self.abort_stream(stream_id, ErrorCode::CANCEL, Abort::BodyTooLarge);
            return Ok(());
        }
        if self.buffered_body + data.len() > self.config.max_buffered_body {
            self.abort_stream(stream_id, ErrorCode::CANCEL, Abort::BufferFull);
            return Ok(());
        }
        self.buffered_body += data.len();
        stream.response.body.extend_from_slice(&data);
        if end_stream {
            match stream.complete() {
                SectionOutcome::Malformed(malformed) => {
                    self.abort_stream(stream_id, ErrorCode::PROTOCOL_ERROR, Abort::Malformed(malformed))
                }
                _ => self.complete(stream_id),
            }
            return Ok(());
        }
        stream.recv_owed += flow_len;
        if stream.recv_owed >= self.config.stream_window / 2 {
            frame::encode_window_update(stream_id, stream.recv_owed, &mut self.control);
            stream.recv_window += i64::from(stream.recv_owed);
            stream.recv_owed = 0;
        }
        Ok(())
    }

    fn handle_settings(&mut self, params: &[(SettingId, u32)]) -> Result<(), ConnectionError> {
        for &(id, value) in params {
            match id {
                SettingId::HEADER_TABLE_SIZE => {
                    self.peer.header_table_size = value;
                    let size = value.min(self.config.encoder_table_size) as usize;
                    if size != self.encoder.max_table_size() {
                        self.encoder.set_max_table_size(size);
                    }
                }
                SettingId::ENABLE_PUSH if value == 1 => {
                    return Err(violation(ProtocolViolation::EnablePush, StreamId::CONNECTION));
                }
                SettingId::MAX_CONCURRENT_STREAMS => self.peer.max_concurrent_streams = Some(value),
                SettingId::INITIAL_WINDOW_SIZE => {
                    let delta = i64::from(value) - i64::from(self.peer.initial_window_size);
                    self.peer.initial_window_size = value;
                    for stream in self.streams.values_mut().filter(|stream| stream.is_opened()) {
                        stream.send_window += delta;
                        if stream.send_window > i64::from(MAX_WINDOW) {
                            return Err(ConnectionError::FlowControl);
                        }
                    }
                }
                SettingId::MAX_FRAME_SIZE => self.peer.max_frame_size = value,
                SettingId::MAX_HEADER_LIST_SIZE => self.peer.max_header_list_size = Some(value),
                _ => {}
            }
        }
        self.owe_ack()?;
        frame::encode_settings_ack(&mut self.control);
        self.settings_received = true;
        self.update_settings_deadline();
        self.notice(Event::Settings(self.peer));
        Ok(())
    }

    fn handle_window_update(&mut self, stream_id: StreamId, increment: u32) -> Result<(), ConnectionError> {
        if stream_id.is_connection() {
            if increment == 0 {
                return Err(violation(ProtocolViolation::ZeroWindowIncrement, stream_id));
            }
            self.send_window += i64::from(increment);
            if self.send_window > i64::from(MAX_WINDOW) {
                return Err(ConnectionError::FlowControl);
            }
            return Ok(());
        }
        self.check_not_idle(stream_id)?;
        let Some(stream) = self.streams.get_mut(&stream_id.get()) else { return Ok(()) };
        if increment == 0 {
            self.abort_stream(stream_id, ErrorCode::PROTOCOL_ERROR, Abort::BadWindowUpdate);
            return Ok(());
        }
        stream.send_window += i64::from(increment);
        if stream.send_window > i64::from(MAX_WINDOW) {
            self.abort_stream(stream_id, ErrorCode::FLOW_CONTROL_ERROR, Abort::BadWindowUpdate);
        }
        Ok(())
    }

    fn handle_goaway(&mut self, goaway: GoAway) {
        let last = match &self.goaway_received {
            // A later GOAWAY may only lower the last stream id.
            Some(previous) => previous.last_stream_id.min(goaway.last_stream_id),
            None => goaway.last_stream_id,
        };
        let code = goaway.code;
        self.goaway_received = Some(GoAway { last_stream_id: last, ..goaway.clone() });
        self.notice(Event::GoAway(goaway));
        if self.state == State::Open {
            self.state = State::Draining;
        }
        self.fail_queued();
        let mut above: Vec<u32> = self
            .streams
            .iter()
            .filter(|(&id, stream)| id > last.get() && stream.is_opened())
            .map(|(&id, _)| id)
            .collect();
        above.sort_unstable();
        for id in above {
            self.finish(
                StreamId::new(id),
                Fate::NotProcessed(NotProcessed::GoAway { last_stream_id: last, code }),
            );
        }
        self.data_queue.retain(|id| id.get() <= last.get());
        self.check_drained();
    }

    // Internals: frames out.

    fn write_preface(&mut self, out: &mut BytesMut) {
        out.extend_from_slice(frame::PREFACE);
        let mut params = vec![(SettingId::ENABLE_PUSH, 0), (SettingId::MAX_CONCURRENT_STREAMS, 0)];
        if self.config.header_table_size != 4096 {
            params.push((SettingId::HEADER_TABLE_SIZE, self.config.header_table_size));
        }
        if self.config.stream_window != 65_535 {
            params.push((SettingId::INITIAL_WINDOW_SIZE, self.config.stream_window));
        }
        if self.config.max_frame_size != frame::DEFAULT_MAX_FRAME_SIZE {
            params.push((SettingId::MAX_FRAME_SIZE, self.config.max_frame_size));
        }
        params.push((SettingId::MAX_HEADER_LIST_SIZE, self.config.max_header_list_size));
        Frame::Settings { ack: false, params }.encode(out);
        let increment = self.config.connection_window - 65_535;
        if increment > 0 {
            frame::encode_window_update(StreamId::CONNECTION, increment, out);
        }
    }

    /// Writes a stream's HEADERS (and CONTINUATION if the block exceeds the server's frame size).
    fn write_headers(&mut self, id: StreamId, request: &Request, out: &mut BytesMut) {
        let initial_window = i64::from(self.peer.initial_window_size);
        let Some(stream) = self.streams.get_mut(&id.get()) else { return };
        if stream.opened {
            return;
        }
        stream.opened = true;
        let end_stream = stream.body.is_empty();
        stream.send_window = initial_window;
        stream.local_done = end_stream;
        self.active += 1;
        self.highest_opened = id.get();
        if !end_stream {
            self.data_queue.push_back(id);
        }
        // Encode straight after a header placeholder, then patch its length.
        let header_at = out.len();
        out.extend_from_slice(&[0; HEADER_LEN]);
        self.encoder.begin_block(out);
        let encoder = &mut self.encoder;
        request.for_each_field(|name, value, indexing| {
            encoder.encode_field(name.as_shared(), value.as_shared(), indexing, out)
        });
        let block_len = out.len() - header_at - HEADER_LEN;
        let max = self.peer.max_frame_size as usize;
        if block_len <= max {
            frame::write_block_header_at(out, header_at, FrameKind::HEADERS, id, block_len, end_stream, true);
            return;
        }
        let rest = out.split_off(header_at + HEADER_LEN + max);
        frame::write_block_header_at(out, header_at, FrameKind::HEADERS, id, max, end_stream, false);
        let mut chunks = rest.chunks(max).peekable();
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            frame::encode_block_header(FrameKind::CONTINUATION, id, chunk.len(), false, last, out);
            out.extend_from_slice(chunk);
        }
    }

    /// Writes DATA while the windows allow, in the order streams were opened.
    fn write_data(&mut self, out: &mut BytesMut) {
        let max_frame = self.peer.max_frame_size as i64;
        let mut index = 0;
        while index < self.data_queue.len() && self.send_window > 0 {
            let Some(&id) = self.data_queue.get(index) else { break };
            let Some(stream) = self.streams.get_mut(&id.get()) else {
                self.data_queue.remove(index);
                continue;
            };
            while stream.send_window > 0 && self.send_window > 0 && !stream.body.is_empty() {
                let len =
                    (stream.body.len() as i64).min(stream.send_window).min(self.send_window).min(max_frame)
                        as usize;
                let chunk = stream.body.split_to(len);
                let end_stream = stream.body.is_empty();
                frame::encode_data_header(id, len, end_stream, out);
                out.extend_from_slice(&chunk);
                stream.send_window -= len as i64;
                self.send_window -= len as i64;
                stream.local_done = end_stream;
            }
            if stream.body.is_empty() {
                self.data_queue.remove(index);
            } else {
                index += 1;
            }
        }
    }

    fn send_goaway(&mut self, code: ErrorCode, debug_data: &[u8]) {
        if !self.goaway_sent {
            self.goaway_sent = true;
            // We accept no server-initiated stream, so the last one we processed is 0.
            frame::encode_goaway(StreamId::CONNECTION, code, debug_data, &mut self.control);
        }
    }

    // Internals: fates.

    /// Takes the stream out and queues its fate: the only place a stream ends.
    fn finish(&mut self, id: StreamId, fate: Fate) {
        let Some(stream) = self.streams.remove(&id.get()) else { return };
        if stream.is_opened() {
            self.active -= 1;
        }
        self.buffered_body -= stream.buffered_body();
        self.events.push_back(Event::Finished { id, key: stream.key, fate });
    }

    fn complete(&mut self, id: StreamId) {
        let Some(stream) = self.streams.get_mut(&id.get()) else { return };
        self.buffered_body -= stream.buffered_body();
        let response = stream.take_response();
        if !stream.local_done {
            // The server answered before reading the whole body (RFC 9113 section 8.1): stop.
            frame::encode_rst_stream(id, ErrorCode::CANCEL, &mut self.control);
        }
        self.finish(id, Fate::Response(response));
        self.check_drained();
    }

    fn abort_stream(&mut self, id: StreamId, code: ErrorCode, reason: Abort) {
        frame::encode_rst_stream(id, code, &mut self.control);
        self.finish(id, Fate::Aborted(reason));
        self.check_drained();
    }

    /// Streams that have an id but no HEADERS written: certainly not processed.
    fn fail_queued(&mut self) {
        while let Some((id, _)) = self.send_queue.pop_front() {
            self.finish(id, Fate::NotProcessed(NotProcessed::NeverSent));
        }
    }

    /// A draining connection with no stream left is closed.
    fn check_drained(&mut self) {
        if self.state == State::Draining && self.streams.is_empty() {
            self.state = State::Closed;
            self.events.push_back(Event::Closed(Closed::Graceful));
        }
    }

    fn connection_error(&mut self, error: ConnectionError) {
        let debug = error.to_string();
        self.send_goaway(error.code(), debug.as_bytes());
        self.close(ConnectionEnd::Error(error));
    }

    /// Every stream without a fate gets one, then `Closed`.
    fn close(&mut self, end: ConnectionEnd) {
        self.fail_queued();
        let mut ids: Vec<u32> = self.streams.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.finish(StreamId::new(id), Fate::ConnectionLost(end.clone()));
        }
        self.data_queue.clear();
        self.block = None;
        self.ping = Ping::default();
        self.settings_deadline = None;
        self.state = State::Closed;
        self.events.push_back(Event::Closed(Closed::Ended(end)));
    }

    // Internals: bookkeeping.

    /// The most streams that may be open at once now.
    fn stream_limit(&self) -> usize {
        let peer = if self.settings_received {
            self.peer.max_concurrent_streams.unwrap_or(u32::MAX)
        } else {
            self.config.streams_before_settings
        };
        peer.min(self.config.max_open_streams) as usize
    }

    fn owe_ack(&mut self) -> Result<(), ConnectionError> {
        self.pending_acks += 1;
        if self.pending_acks > self.config.max_pending_acks {
            return Err(ConnectionError::ExcessiveLoad(Limit::PendingAcks));
        }
        Ok(())
    }

    fn update_settings_deadline(&mut self) {
        if self.settings_received && self.settings_acked {
            self.settings_deadline = None;
        }
    }

    fn notice(&mut self, event: Event) {
        if self.pending_notices < MAX_PENDING_NOTICES {
            self.pending_notices += 1;
            self.events.push_back(event);
        }
    }
}

fn violation(what: ProtocolViolation, stream_id: StreamId) -> ConnectionError {
    ConnectionError::Protocol { what, stream_id }
}

/// Stream ids are distinct odd numbers: a multiplicative hash spreads them well and costs one
/// multiplication (the default SipHash is built for hostile keys; ids are ours).
#[derive(Debug, Default)]
struct StreamIdHasher(u64);

impl Hasher for StreamIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

#[cfg(test)]
impl Connection {
    /// Skips ahead in stream ids, to test their exhaustion.
    pub(crate) fn set_next_stream_id(&mut self, id: u32) {
        self.next_stream_id = id;
    }
}
