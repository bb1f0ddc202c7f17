//! One feedback connection: after the handshake, write every configured tuple, then close.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Instant;

use crate::conn::{Ctx, Io, Next, LINGER};
use crate::observe::Counter;
use crate::rng::Rng;

/// The largest piece handed to TLS at once when not chunking (one TLS record's worth).
const WHOLE_CHUNK: usize = 16 * 1024;

/// The encoded tuples, shared by all feedback connections.
#[derive(Debug, Clone)]
pub(crate) struct FeedbackStream {
    pub(crate) bytes: Arc<[u8]>,
    pub(crate) tuples: u64,
    pub(crate) chunk_max: Option<usize>,
}

#[derive(Debug)]
pub(crate) struct FeedbackConn {
    pub(crate) io: Io,
    stream: FeedbackStream,
    sent: usize,
    rng: Rng,
    closing: Option<Instant>,
    shut: bool,
    peer_eof: bool,
}

impl FeedbackConn {
    pub(crate) fn new(io: Io, stream: FeedbackStream, rng: Rng) -> Self {
        Self { io, stream, sent: 0, rng, closing: None, shut: false, peer_eof: false }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.closing
    }

    pub(crate) fn drive(&mut self, ctx: &mut Ctx<'_>) -> Next {
        if self.read(ctx).is_err() {
            return Next::Close;
        }
        if !self.io.tls.is_handshaking() && self.write(ctx).is_err() {
            return Next::Close;
        }
        if self.io.flush().is_err() {
            return Next::Close;
        }
        if let Some(deadline) = self.closing {
            if !self.shut && !self.io.tls.wants_write() {
                let _ = self.io.socket.shutdown(std::net::Shutdown::Write);
                self.shut = true;
            }
            if self.peer_eof || ctx.now >= deadline {
                return Next::Close;
            }
        } else if self.peer_eof {
            return Next::Close;
        }
        Next::Wait
    }

    /// Reads the handshake and throws away whatever plaintext the client sends.
    fn read(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ()> {
        let mut scratch = [0u8; 4096];
        loop {
            loop {
                match self.io.tls.reader().read(&mut scratch) {
                    Ok(0) => {
                        self.peer_eof = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        self.peer_eof = true;
                        break;
                    }
                }
            }
            if self.peer_eof {
                return Ok(());
            }
            match self.io.tls.read_tls(&mut self.io.socket) {
                Ok(0) => {
                    self.peer_eof = true;
                    return Ok(());
                }
                Ok(_) => {
                    if let Err(error) = self.io.tls.process_new_packets() {
                        self.io.fail(&error, ctx.tally);
                        return Err(());
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
    }

    /// Hands the tuples to TLS, a chunk at a time, as fast as the socket takes them.
    fn write(&mut self, ctx: &mut Ctx<'_>) -> io::Result<()> {
        while self.closing.is_none() {
            self.io.flush()?;
            if self.io.tls.wants_write() {
                return Ok(());
            }
            let left = self.stream.bytes.get(self.sent..).unwrap_or_default();
            if left.is_empty() {
                self.io.tls.send_close_notify();
                self.closing = Some(ctx.now + LINGER);
                ctx.tally.add(Counter::FeedbackTuplesSent, self.stream.tuples);
                break;
            }
            let chunk = match self.stream.chunk_max {
                Some(max) => 1 + usize::try_from(self.rng.up_to(max as u64 - 1)).unwrap_or(0),
                None => WHOLE_CHUNK,
            };
            let piece = left.get(..chunk.min(left.len())).unwrap_or(left);
            let written = self.io.tls.writer().write(piece)?;
            if written == 0 {
                return Ok(());
            }
            self.sent += written;
        }
        Ok(())
    }
}
