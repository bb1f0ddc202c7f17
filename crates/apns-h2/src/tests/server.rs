//! A scripted HTTP/2 server for the simulation: it decodes everything the client writes, checks
//! the client against the RFC as it goes (preface, stream order, the stream limit and the
//! windows the client has acknowledged), and writes whatever frames the test script asks for.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::{Bytes, BytesMut};

use crate::frame::{self, decode_frame, Frame, SettingId, MAX_FRAME_SIZE_LIMIT};
use crate::hpack::{Decoder, Encoder};
use crate::ErrorCode;
use crate::{Indexing, StreamId};

/// A request as the server read it.
#[derive(Debug, Default, Clone)]
pub(crate) struct ServerStream {
    /// Decoded fields: name, value, never-indexed flag.
    pub(crate) fields: Vec<(Bytes, Bytes, bool)>,
    pub(crate) body: Vec<u8>,
    /// The client's END_STREAM arrived.
    pub(crate) ended: bool,
    /// Bytes of the header block(s), compressed.
    pub(crate) block_len: usize,
    /// What the client may still send on this stream.
    recv_window: i64,
    /// Reset by the client, with this code.
    pub(crate) reset: Option<ErrorCode>,
}

impl ServerStream {
    pub(crate) fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields.iter().find(|(n, _, _)| n.as_ref() == name.as_bytes()).map(|(_, v, _)| v.as_ref())
    }
}

#[derive(Debug)]
pub(crate) struct Server {
    decoder: Decoder,
    pub(crate) encoder: Encoder,
    input: BytesMut,
    preface_seen: bool,
    /// Bytes for the client.
    pub(crate) out: BytesMut,
    /// SETTINGS written and not yet acknowledged, oldest first.
    unacked: VecDeque<Vec<(SettingId, u32)>>,
    /// The stream limit and initial window the client has acknowledged.
    limit: Option<u32>,
    initial_window: u32,
    max_frame_size: u32,
    /// What the client may still send on the connection.
    conn_window: i64,
    /// Give back flow-control credit for every DATA frame at once.
    pub(crate) auto_window_update: bool,
    /// Answer PINGs.
    pub(crate) answer_pings: bool,
    /// Acknowledge the client's SETTINGS.
    pub(crate) ack_settings: bool,
    pub(crate) streams: BTreeMap<u32, ServerStream>,
    /// Streams counting against the limit: opened by the client, not yet ended by our END_STREAM
    /// or a reset.
    pub(crate) open: BTreeSet<u32>,
    pub(crate) max_open_seen: usize,
    last_stream: u32,
    /// The client's SETTINGS parameters, in order.
    pub(crate) client_settings: Vec<Vec<(SettingId, u32)>>,
    pub(crate) pings: Vec<[u8; 8]>,
    pub(crate) ping_acks: Vec<[u8; 8]>,
    pub(crate) goaway: Option<(StreamId, ErrorCode, Bytes)>,
    pub(crate) window_updates: Vec<(StreamId, u32)>,
    /// Frames of each type read, by type code.
    pub(crate) frame_counts: BTreeMap<u8, usize>,
    block: Option<(u32, BytesMut, bool)>,
}

impl Server {
    pub(crate) fn new() -> Self {
        Self {
            decoder: Decoder::new(4096),
            encoder: Encoder::new(4096),
            input: BytesMut::new(),
            preface_seen: false,
            out: BytesMut::new(),
            unacked: VecDeque::new(),
            limit: None,
            initial_window: 65_535,
            max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
            conn_window: 65_535,
            auto_window_update: true,
            answer_pings: true,
            ack_settings: true,
            streams: BTreeMap::new(),
            open: BTreeSet::new(),
            max_open_seen: 0,
            last_stream: 0,
            client_settings: Vec::new(),
            pings: Vec::new(),
            ping_acks: Vec::new(),
            goaway: None,
            window_updates: Vec::new(),
            frame_counts: BTreeMap::new(),
            block: None,
        }
    }

    // What the script writes.

    pub(crate) fn settings(&mut self, params: &[(SettingId, u32)]) {
        Frame::Settings { ack: false, params: params.to_vec() }.encode(&mut self.out);
        self.unacked.push_back(params.to_vec());
    }

    pub(crate) fn frame(&mut self, frame: Frame) {
        frame.encode(&mut self.out);
        self.after_write(&frame);
    }

    /// Writes raw bytes (for malformed input).
    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    pub(crate) fn encode_block(&mut self, fields: &[(&str, &str)]) -> Bytes {
        let mut block = BytesMut::new();
        self.encoder.begin_block(&mut block);
        for (name, value) in fields {
            self.encoder.encode_field(
                &Bytes::copy_from_slice(name.as_bytes()),
                &Bytes::copy_from_slice(value.as_bytes()),
                Indexing::Incremental,
                &mut block,
            );
        }
        block.freeze()
    }

    pub(crate) fn headers(&mut self, id: StreamId, fields: &[(&str, &str)], end_stream: bool) {
        let fragment = self.encode_block(fields);
        self.frame(Frame::Headers {
            stream_id: id,
            fragment,
            pad_len: None,
            priority: None,
            end_stream,
            end_headers: true,
        });
    }

    /// HEADERS and CONTINUATION frames, the block cut into `pieces` pieces.
    pub(crate) fn headers_split(
        &mut self,
        id: StreamId,
        fields: &[(&str, &str)],
        end_stream: bool,
        pieces: usize,
    ) {
        let block = self.encode_block(fields);
        let size = block.len().div_ceil(pieces).max(1);
        let chunks: Vec<Bytes> =
            (0..block.len()).step_by(size).map(|at| block.slice(at..(at + size).min(block.len()))).collect();
        for (index, chunk) in chunks.iter().enumerate() {
            let end_headers = index + 1 == chunks.len();
            let frame = if index == 0 {
                Frame::Headers {
                    stream_id: id,
                    fragment: chunk.clone(),
                    pad_len: None,
                    priority: None,
                    end_stream,
                    end_headers,
                }
            } else {
                Frame::Continuation { stream_id: id, fragment: chunk.clone(), end_headers }
            };
            self.frame(frame);
        }
    }

    pub(crate) fn data(&mut self, id: StreamId, data: &[u8], end_stream: bool) {
        self.frame(Frame::Data {
            stream_id: id,
            data: Bytes::copy_from_slice(data),
            pad_len: None,
            end_stream,
        });
    }

    /// A whole response: HEADERS (`:status`, then `fields`), then DATA if `body` is not empty.
    pub(crate) fn respond(&mut self, id: StreamId, status: u16, fields: &[(&str, &str)], body: &[u8]) {
        let status = status.to_string();
        let mut all = vec![(":status", status.as_str())];
        all.extend_from_slice(fields);
        self.headers(id, &all, body.is_empty());
        if !body.is_empty() {
            self.data(id, body, true);
        }
    }

    pub(crate) fn reset(&mut self, id: StreamId, code: ErrorCode) {
        self.frame(Frame::RstStream { stream_id: id, code });
    }

    pub(crate) fn goaway(&mut self, last: StreamId, code: ErrorCode, debug: &[u8]) {
        self.open.retain(|&id| id <= last.get());
        self.frame(Frame::GoAway { last_stream_id: last, code, debug_data: Bytes::copy_from_slice(debug) });
    }

    /// Gives the client flow-control credit (and counts it).
    pub(crate) fn window_update(&mut self, id: StreamId, increment: u32) {
        if id.is_connection() {
            self.conn_window += i64::from(increment);
        } else if let Some(stream) = self.streams.get_mut(&id.get()) {
            stream.recv_window += i64::from(increment);
        }
        self.frame(Frame::WindowUpdate { stream_id: id, increment });
    }

    fn after_write(&mut self, frame: &Frame) {
        match frame {
            Frame::Headers { stream_id, end_stream: true, .. }
            | Frame::Data { stream_id, end_stream: true, .. } => {
                self.open.remove(&stream_id.get());
            }
            Frame::RstStream { stream_id, .. } => {
                self.open.remove(&stream_id.get());
            }
            _ => {}
        }
    }

    // What the server reads.

    /// Reads the client's bytes, checking it as it goes.
    pub(crate) fn receive(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
        if !self.preface_seen {
            if self.input.len() < frame::PREFACE.len() {
                return;
            }
            assert_eq!(&self.input[..frame::PREFACE.len()], frame::PREFACE, "client preface");
            let _ = self.input.split_to(frame::PREFACE.len());
            self.preface_seen = true;
        }
        while let Some(frame) =
            decode_frame(&mut self.input, MAX_FRAME_SIZE_LIMIT).expect("the client writes valid frames")
        {
            self.handle(frame);
        }
    }

    fn handle(&mut self, frame: Frame) {
        if let Some((id, _, _)) = &self.block {
            assert!(
                matches!(&frame, Frame::Continuation { stream_id, .. } if stream_id.get() == *id),
                "a header block is interrupted by {frame:?}"
            );
        }
        *self.frame_counts.entry(frame_type(&frame)).or_default() += 1;
        assert!(
            self.goaway.is_none()
                || matches!(
                    frame,
                    Frame::GoAway { .. }
                        | Frame::Settings { ack: true, .. }
                        | Frame::Ping { ack: true, .. }
                        | Frame::WindowUpdate { .. }
                ),
            "the client wrote {frame:?} after its GOAWAY"
        );
        match frame {
            Frame::Settings { ack: false, params } => {
                assert!(params.contains(&(SettingId::ENABLE_PUSH, 0)), "push is disabled");
                for &(id, value) in &params {
                    if id == SettingId::MAX_FRAME_SIZE {
                        self.max_frame_size = value;
                    }
                }
                self.client_settings.push(params);
                if self.ack_settings {
                    Frame::Settings { ack: true, params: Vec::new() }.encode(&mut self.out);
                }
            }
            Frame::Settings { ack: true, .. } => {
                let params = self.unacked.pop_front().expect("an ACK of SETTINGS we sent");
                for (id, value) in params {
                    match id {
                        SettingId::MAX_CONCURRENT_STREAMS => self.limit = Some(value),
                        SettingId::INITIAL_WINDOW_SIZE => {
                            let delta = i64::from(value) - i64::from(self.initial_window);
                            self.initial_window = value;
                            for stream in self.streams.values_mut() {
                                stream.recv_window += delta;
                            }
                        }
                        _ => {}
                    }
                }
            }
            Frame::Headers { stream_id, fragment, end_stream, end_headers, .. } => {
                let id = stream_id.get();
                if let Some(stream) = self.streams.get_mut(&id) {
                    panic!("HEADERS again on stream {id}: {stream:?}");
                }
                assert!(id % 2 == 1 && id > self.last_stream, "stream {id} after {}", self.last_stream);
                self.last_stream = id;
                self.open.insert(id);
                if let Some(limit) = self.limit {
                    assert!(
                        self.open.len() <= limit as usize,
                        "{} streams open with a limit of {limit}",
                        self.open.len()
                    );
                }
                self.max_open_seen = self.max_open_seen.max(self.open.len());
                let window = i64::from(self.initial_window);
                self.streams.insert(
                    id,
                    ServerStream { ended: end_stream, recv_window: window, ..ServerStream::default() },
                );
                if end_headers {
                    self.decode_block(id, &fragment);
                } else {
                    self.block = Some((id, BytesMut::from(&fragment[..]), end_stream));
                }
            }
            Frame::Continuation { stream_id, fragment, end_headers } => {
                let (id, mut block, _) = self.block.take().expect("CONTINUATION inside a block");
                assert_eq!(id, stream_id.get());
                block.extend_from_slice(&fragment);
                if end_headers {
                    self.decode_block(id, &block);
                } else {
                    self.block = Some((id, block, false));
                }
            }
            Frame::Data { stream_id, data, end_stream, pad_len } => {
                let id = stream_id.get();
                let len = data.len() as i64 + pad_len.map_or(0, |pad| 1 + i64::from(pad));
                assert!(len <= i64::from(self.max_frame_size));
                self.conn_window -= len;
                assert!(self.conn_window >= 0, "the client overran the connection window");
                let auto = self.auto_window_update;
                let stream = self.streams.get_mut(&id).expect("DATA on an open stream");
                assert!(!stream.ended, "DATA after END_STREAM on {id}");
                stream.recv_window -= len;
                assert!(stream.recv_window >= 0, "the client overran stream {id}'s window");
                stream.body.extend_from_slice(&data);
                stream.ended = end_stream;
                if auto && len > 0 {
                    self.window_update(StreamId::CONNECTION, len as u32);
                    if !end_stream {
                        self.window_update(stream_id, len as u32);
                    }
                }
            }
            Frame::RstStream { stream_id, code } => {
                self.open.remove(&stream_id.get());
                if let Some(stream) = self.streams.get_mut(&stream_id.get()) {
                    stream.reset = Some(code);
                }
            }
            Frame::Ping { ack: false, payload } => {
                self.pings.push(payload);
                if self.answer_pings {
                    frame::encode_ping(true, payload, &mut self.out);
                }
            }
            Frame::Ping { ack: true, payload } => self.ping_acks.push(payload),
            Frame::GoAway { last_stream_id, code, debug_data } => {
                self.goaway = Some((last_stream_id, code, debug_data))
            }
            Frame::WindowUpdate { stream_id, increment } => self.window_updates.push((stream_id, increment)),
            other => panic!("a client does not write {other:?}"),
        }
    }

    fn decode_block(&mut self, id: u32, block: &[u8]) {
        let mut fields = Vec::new();
        self.decoder
            .decode(block, |field| fields.push((field.name, field.value, field.never_indexed)))
            .expect("the client's header blocks decode");
        let stream = self.streams.get_mut(&id).expect("stream");
        stream.block_len = block.len();
        let names: Vec<&[u8]> = fields.iter().map(|(name, _, _)| name.as_ref()).collect();
        assert_eq!(
            &names[..4],
            [&b":method"[..], b":scheme", b":authority", b":path"],
            "pseudo-headers first"
        );
        stream.fields = fields;
    }

    /// Requests read in full (END_STREAM) and not yet answered or reset, in id order.
    pub(crate) fn complete_requests(&self) -> Vec<StreamId> {
        self.streams
            .iter()
            .filter(|(id, stream)| stream.ended && stream.reset.is_none() && self.open.contains(id))
            .map(|(&id, _)| StreamId::new(id))
            .collect()
    }

    /// Streams opened by the client, in id order.
    pub(crate) fn opened(&self) -> Vec<StreamId> {
        self.streams.keys().map(|&id| StreamId::new(id)).collect()
    }
}

fn frame_type(frame: &Frame) -> u8 {
    let mut out = BytesMut::new();
    frame.encode(&mut out);
    out[3]
}
