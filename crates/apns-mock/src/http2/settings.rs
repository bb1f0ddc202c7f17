//! The stream-limit fault: `SETTINGS_MAX_CONCURRENT_STREAMS` changed on a live connection.
//!
//! h2's server cannot send a new SETTINGS frame after its handshake, so [`SettingsIo`] sits
//! between TLS and h2: it writes a SETTINGS frame of its own at a frame boundary of what h2
//! writes, and takes the client's ACK of it out of what h2 reads (h2 would refuse an ACK of
//! settings it never sent). h2's own SETTINGS frame is the first the client receives and so
//! the first it acknowledges: every later ACK is one of ours. The limit counts once the client
//! has acknowledged it (RFC 9113 §6.5.3: the ACK says the settings were applied).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The HTTP/2 client connection preface (RFC 9113 §3.4), before the client's first frame.
const PREFACE_LEN: usize = 24;
const FRAME_HEADER: usize = 9;
const SETTINGS: u8 = 0x4;
const ACK: u8 = 0x1;
const MAX_CONCURRENT_STREAMS: u16 = 0x3;

/// One connection's advertised stream limits: asked for by the connection loop, written and
/// acknowledged through its [`SettingsIo`].
#[derive(Debug, Default)]
pub(crate) struct StreamLimits(Mutex<LimitState>);

#[derive(Debug, Default)]
struct LimitState {
    /// Values to advertise at the next frame boundary.
    to_send: VecDeque<u32>,
    /// Advertised, not yet acknowledged.
    unacked: VecDeque<u32>,
    /// The last acknowledged value (`None`: the handshake's).
    acked: Option<u32>,
}

impl StreamLimits {
    fn state(&self) -> std::sync::MutexGuard<'_, LimitState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Advertises `limit` as soon as a frame boundary allows.
    pub(crate) fn advertise(&self, limit: u32) {
        self.state().to_send.push_back(limit);
    }

    /// The limit the client has acknowledged, if one of ours.
    pub(crate) fn acknowledged(&self) -> Option<u32> {
        self.state().acked
    }

    fn take_to_send(&self) -> Option<u32> {
        let mut state = self.state();
        let limit = state.to_send.pop_front()?;
        state.unacked.push_back(limit);
        Some(limit)
    }

    fn acknowledge(&self) {
        let mut state = self.state();
        if let Some(limit) = state.unacked.pop_front() {
            state.acked = Some(limit);
        }
    }
}

/// Where a byte stream of HTTP/2 frames is: in a header, in a payload, or between frames.
#[derive(Debug, Clone, Copy, Default)]
struct FrameCursor {
    header: [u8; FRAME_HEADER],
    have: usize,
    payload_left: usize,
}

impl FrameCursor {
    fn at_boundary(&self) -> bool {
        self.have == 0 && self.payload_left == 0
    }

    /// Consumes up to one frame header or payload part of `bytes`: how many bytes, and the
    /// header when this completed one (its payload follows).
    fn step(&mut self, bytes: &[u8]) -> (usize, Option<[u8; FRAME_HEADER]>) {
        if self.payload_left > 0 {
            let n = self.payload_left.min(bytes.len());
            self.payload_left -= n;
            return (n, None);
        }
        let n = (FRAME_HEADER - self.have).min(bytes.len());
        self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
        self.have += n;
        if self.have < FRAME_HEADER {
            return (n, None);
        }
        self.have = 0;
        let [a, b, c, ..] = self.header;
        self.payload_left = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
        (n, Some(self.header))
    }

    fn advance(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let (n, _) = self.step(bytes);
            bytes = &bytes[n..];
        }
    }
}

fn settings_frame(limit: u32) -> Vec<u8> {
    let mut frame = vec![0, 0, 6, SETTINGS, 0, 0, 0, 0, 0];
    frame.extend_from_slice(&MAX_CONCURRENT_STREAMS.to_be_bytes());
    frame.extend_from_slice(&limit.to_be_bytes());
    frame
}

/// The TLS stream under h2, injecting SETTINGS frames (see the [module docs](self)). Without
/// limits it passes everything through.
pub(crate) struct SettingsIo<T> {
    inner: T,
    limits: Option<std::sync::Arc<StreamLimits>>,
    // Write side: what h2 wrote, and an injected frame not yet fully written.
    written: FrameCursor,
    injected: Vec<u8>,
    injected_at: usize,
    // Read side: the client's preface, then frames; bytes ready for h2.
    preface_left: usize,
    read: FrameCursor,
    seen_first_ack: bool,
    ready: Vec<u8>,
    ready_at: usize,
}

impl<T> SettingsIo<T> {
    pub(crate) fn new(inner: T, limits: Option<std::sync::Arc<StreamLimits>>) -> Self {
        Self {
            inner,
            limits,
            written: FrameCursor::default(),
            injected: Vec::new(),
            injected_at: 0,
            preface_left: PREFACE_LEN,
            read: FrameCursor::default(),
            seen_first_ack: false,
            ready: Vec::new(),
            ready_at: 0,
        }
    }

    /// Appends to `ready` what h2 should read of `input`, dropping the ACKs of our settings.
    fn filter(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            if self.preface_left > 0 {
                let n = self.preface_left.min(input.len());
                self.ready.extend_from_slice(&input[..n]);
                self.preface_left -= n;
                input = &input[n..];
                continue;
            }
            let in_payload = self.read.payload_left > 0;
            let (n, header) = self.read.step(input);
            if in_payload {
                self.ready.extend_from_slice(&input[..n]);
            } else if let Some(header) = header {
                let settings_ack =
                    header[3] == SETTINGS && header[4] & ACK != 0 && self.read.payload_left == 0;
                match (settings_ack, self.seen_first_ack, &self.limits) {
                    (true, true, Some(limits)) => limits.acknowledge(),
                    _ => {
                        self.seen_first_ack |= settings_ack;
                        self.ready.extend_from_slice(&header);
                    }
                }
            }
            input = &input[n..];
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for SettingsIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.limits.is_none() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        loop {
            if this.ready_at < this.ready.len() {
                let n = (this.ready.len() - this.ready_at).min(buf.remaining());
                buf.put_slice(&this.ready[this.ready_at..this.ready_at + n]);
                this.ready_at += n;
                return Poll::Ready(Ok(()));
            }
            this.ready.clear();
            this.ready_at = 0;
            let mut raw = [0u8; 8192];
            let mut raw_buf = ReadBuf::new(&mut raw);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut raw_buf))?;
            if raw_buf.filled().is_empty() {
                return Poll::Ready(Ok(())); // end of stream
            }
            let filled = raw_buf.filled().to_vec();
            this.filter(&filled);
        }
    }
}

impl<T: AsyncWrite + Unpin> SettingsIo<T> {
    /// Writes the injected frame, if any, and starts the next one when at a frame boundary.
    fn poll_injected(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            while self.injected_at < self.injected.len() {
                let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.injected[self.injected_at..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.injected_at += n;
            }
            self.injected.clear();
            self.injected_at = 0;
            let next = match &self.limits {
                Some(limits) if self.written.at_boundary() => limits.take_to_send(),
                _ => None,
            };
            match next {
                Some(limit) => self.injected = settings_frame(limit),
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SettingsIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.limits.is_none() {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        ready!(this.poll_injected(cx))?;
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.written.advance(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.limits.is_none() {
            return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        }
        let first = bufs.iter().find(|buf| !buf.is_empty()).map_or(&[][..], |buf| &**buf);
        self.poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.limits.is_some() {
            ready!(this.poll_injected(cx))?;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len().to_be_bytes();
        let mut frame = vec![len[5], len[6], len[7], kind, flags, 0, 0, 0, 1];
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn only_the_acks_of_injected_settings_are_taken_out() {
        let limits = std::sync::Arc::new(StreamLimits::default());
        let mut io = SettingsIo::new((), Some(limits.clone()));
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        let headers = frame(0x1, 0x4, &[0x82; 20]);
        let ack = frame(SETTINGS, ACK, &[]);
        for part in [&frame(SETTINGS, 0, &[0, 3, 0, 0, 0, 9]), &ack, &headers, &ack, &headers] {
            input.extend_from_slice(part);
        }
        limits.advertise(1);
        assert_eq!(limits.take_to_send(), Some(1));
        assert_eq!(limits.acknowledged(), None);
        // Byte by byte: headers split across reads.
        for byte in &input {
            io.filter(std::slice::from_ref(byte));
        }
        let mut expected = input.clone();
        let second_ack = PREFACE_LEN + 15 + 9 + headers.len();
        expected.drain(second_ack..second_ack + 9);
        assert_eq!(io.ready, expected);
        assert_eq!(limits.acknowledged(), Some(1));
    }

    #[test]
    fn the_write_cursor_finds_frame_boundaries() {
        let mut cursor = FrameCursor::default();
        let data = frame(0x0, 0x1, &[7; 100]);
        cursor.advance(&data[..50]);
        assert!(!cursor.at_boundary());
        cursor.advance(&data[50..]);
        assert!(cursor.at_boundary());
        assert_eq!(settings_frame(1), [0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1]);
    }
}
