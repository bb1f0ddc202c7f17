//! One non-blocking TLS connection: a mio `TcpStream` under a rustls `ClientConnection`.
//!
//! Registered once for both readable and writable readiness (mio is edge-triggered, so an idle
//! connection produces no events and costs nothing). Reads and writes are drained to
//! `WouldBlock`, as mio's "Draining readiness" asks, or (reads, on request) to a short read,
//! which on Linux's epoll means the socket was drained (tokio relies on it too): data arriving
//! later raises a new readable event.

use std::io::{self, BufRead, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use crate::config::Endpoint;
use crate::event::ConnectError;

/// What a [`TlsStream::read`] found besides plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadStatus {
    /// The connection is open; no more bytes for now.
    Open,
    /// The peer closed the connection (TCP FIN or TLS close_notify).
    Closed,
}

/// The socket as rustls reads it, noting whether a read returned less than asked for.
struct DrainingReader<'a> {
    sock: &'a mut TcpStream,
    drained: bool,
}

impl Read for DrainingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        self.drained = n < buf.len();
        Ok(n)
    }
}

/// A TLS client connection over a non-blocking socket.
pub(crate) struct TlsStream {
    sock: TcpStream,
    tls: ClientConnection,
    tcp_connected: bool,
    /// The last socket write returned `WouldBlock`: nothing is written until a writable event
    /// clears it.
    pub(crate) write_blocked: bool,
    /// TLS bytes read and written.
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
}

impl TlsStream {
    /// Resolves `endpoint`, starts a non-blocking TCP connect and registers the socket under
    /// `token` for both readinesses.
    pub(crate) fn open(
        endpoint: &Endpoint,
        config: Arc<ClientConfig>,
        registry: &Registry,
        token: Token,
    ) -> Result<Self, ConnectError> {
        let resolve_error = || ConnectError::Resolve { host: endpoint.host().to_owned() };
        let addr = endpoint.resolve().map_err(|_| resolve_error())?;
        let name = endpoint.server_name().ok_or_else(resolve_error)?;
        Self::connect(addr, name, config, registry, token)
    }

    /// Starts a non-blocking TCP connect to `addr` and registers the socket under `token`.
    pub(crate) fn connect(
        addr: SocketAddr,
        name: ServerName<'static>,
        config: Arc<ClientConfig>,
        registry: &Registry,
        token: Token,
    ) -> Result<Self, ConnectError> {
        let tls = ClientConnection::new(config, name).map_err(ConnectError::from_tls)?;
        let mut sock = TcpStream::connect(addr).map_err(|e| ConnectError::from_io(&e))?;
        registry
            .register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| ConnectError::from_io(&e))?;
        Ok(Self { sock, tls, tcp_connected: false, write_blocked: false, bytes_in: 0, bytes_out: 0 })
    }

    /// Whether the TCP connect has finished: checks `take_error` and the peer address after a
    /// readiness event. `Err` if the connect failed.
    pub(crate) fn poll_connected(&mut self) -> Result<bool, ConnectError> {
        if self.tcp_connected {
            return Ok(true);
        }
        let io = |e: io::Error| ConnectError::from_io(&e);
        if let Some(e) = self.sock.take_error().map_err(io)? {
            return Err(io(e));
        }
        match self.sock.peer_addr() {
            Ok(_) => {
                self.tcp_connected = true;
                // Best effort: the loop writes in large chunks, so Nagle only adds latency.
                let _ = self.sock.set_nodelay(true);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(io(e)),
        }
    }

    /// Whether the TLS handshake is still running.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// Whether the TCP connect has finished (see [`poll_connected`](Self::poll_connected)).
    pub(crate) fn is_connected(&self) -> bool {
        self.tcp_connected
    }

    /// The negotiated TLS version, once known.
    pub(crate) fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.tls.protocol_version()
    }

    /// The ALPN protocol the server chose, once the handshake is done.
    pub(crate) fn alpn_protocol(&self) -> Option<&[u8]> {
        self.tls.alpn_protocol()
    }

    /// Reads everything the socket has, decrypts it and appends the plaintext to `out`. On
    /// `Err`, `out` still holds what was decrypted before the error.
    pub(crate) fn read(&mut self, out: &mut Vec<u8>) -> Result<ReadStatus, ConnectError> {
        self.read_with(false, |plaintext| out.extend_from_slice(plaintext))
    }

    /// Reads everything the socket has, decrypts it and hands the plaintext to `consume` as
    /// rustls holds it (one call per record or so), without a copy. On `Err`, `consume` has
    /// had what was decrypted before the error. `Ok(ReadStatus::Open)` means the socket was
    /// drained: nothing more to read until its next readable event.
    ///
    /// With `until_short_read`, a read that returns less than asked for ends it: the socket
    /// was empty then (no `WouldBlock` read to learn it). Only for a caller that knows no close
    /// was reported since the last read: a FIN already queued behind the bytes raises no new
    /// event, so then it must read on to `WouldBlock` or the end.
    pub(crate) fn read_with(
        &mut self,
        until_short_read: bool,
        mut consume: impl FnMut(&[u8]),
    ) -> Result<ReadStatus, ConnectError> {
        if !self.tcp_connected {
            return Ok(ReadStatus::Open);
        }
        let mut status = ReadStatus::Open;
        loop {
            let mut would_block = false;
            let mut sock = DrainingReader { sock: &mut self.sock, drained: false };
            match self.tls.read_tls(&mut sock) {
                Ok(0) => status = ReadStatus::Closed,
                Ok(n) => {
                    self.bytes_in += n as u64;
                    // Less than rustls asked for: the socket is empty, and asking again would
                    // only return `WouldBlock` (one system call more per read).
                    would_block = until_short_read && sock.drained;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => would_block = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => status = ReadStatus::Closed,
                Err(e) => return Err(ConnectError::from_io(&e)),
            }
            let state = self.tls.process_new_packets().map_err(ConnectError::from_tls)?;
            if state.plaintext_bytes_to_read() > 0 {
                let mut reader = self.tls.reader();
                loop {
                    match reader.fill_buf() {
                        Ok([]) => {
                            status = ReadStatus::Closed;
                            break;
                        }
                        Ok(plaintext) => {
                            let n = plaintext.len();
                            consume(plaintext);
                            reader.consume(n);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                            status = ReadStatus::Closed;
                            break;
                        }
                        Err(e) => return Err(ConnectError::from_io(&e)),
                    }
                }
            }
            if state.peer_has_closed() {
                status = ReadStatus::Closed;
            }
            // Drain to WouldBlock (mio's "Draining readiness"), or stop at the close.
            if would_block || status == ReadStatus::Closed {
                break;
            }
        }
        Ok(status)
    }

    /// Writes pending TLS records until rustls has none or the socket would block. Returns
    /// whether everything was written.
    pub(crate) fn flush(&mut self) -> Result<bool, ConnectError> {
        if !self.tcp_connected {
            return Ok(false);
        }
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(n) => self.bytes_out += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.write_blocked = true;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ConnectError::from_io(&e)),
            }
        }
        Ok(true)
    }

    /// Hands plaintext to rustls, which encrypts it into records (up to its buffer limit).
    /// Returns how many bytes it took.
    pub(crate) fn write_plaintext(&mut self, data: &[u8]) -> Result<usize, ConnectError> {
        self.tls.writer().write(data).map_err(|e| ConnectError::from_io(&e))
    }

    /// Sends close_notify (best effort) and deregisters the socket.
    pub(crate) fn close(mut self, registry: &Registry) {
        self.tls.send_close_notify();
        let _ = self.flush();
        let _ = registry.deregister(&mut self.sock);
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
    }

    /// Deregisters the socket without a close_notify (after an error).
    pub(crate) fn abort(mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.sock);
    }

    /// Sets the most TLS bytes rustls buffers before [`write_plaintext`](Self::write_plaintext)
    /// takes less than offered.
    pub(crate) fn set_buffer_limit(&mut self, limit: usize) {
        self.tls.set_buffer_limit(Some(limit));
    }
}
