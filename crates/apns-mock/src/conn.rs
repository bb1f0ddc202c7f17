//! What gateway and feedback connections share: the event loop's context, TLS output, interest.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use apns_proto::PayloadLimit;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::ServerConnection;

use crate::config::{DelayRange, Faults};
use crate::observe::{Counter, Record, Tally};

/// How long a closing connection waits for the client to close its side (so that unread input
/// does not turn our close into a reset that could destroy the error response in flight).
pub(crate) const LINGER: Duration = Duration::from_secs(2);

/// How many bytes of TLS a connection reads per turn before letting the others be served.
pub(crate) const TURN_BUDGET: usize = 1 << 20;

/// The server's settings, fixed at start.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) limit: PayloadLimit,
    pub(crate) handshake_timeout: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) error_delay: DelayRange,
    pub(crate) faults: Faults,
    pub(crate) recording: bool,
}

/// What a connection's turn may use and report.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) settings: &'a Settings,
    pub(crate) tally: &'a mut Tally,
    pub(crate) records: &'a mut Vec<Record>,
    pub(crate) now: Instant,
}

/// What the event loop does with a connection after its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Wait for readiness or the connection's deadline.
    Wait,
    /// The turn's budget ran out with input left: serve it again without waiting.
    Again,
    /// Deregister and drop it.
    Close,
}

/// The socket, its TLS state and the interest registered for it.
#[derive(Debug)]
pub(crate) struct Io {
    pub(crate) socket: TcpStream,
    pub(crate) tls: ServerConnection,
    interest: Interest,
    handshake_deadline: Instant,
}

impl Io {
    pub(crate) fn new(socket: TcpStream, tls: ServerConnection, handshake_deadline: Instant) -> Self {
        Self { socket, tls, interest: Interest::READABLE, handshake_deadline }
    }

    /// While the handshake is unfinished: when the client runs out of time.
    pub(crate) fn handshake_deadline(&self) -> Option<Instant> {
        self.tls.is_handshaking().then_some(self.handshake_deadline)
    }

    /// Whether the handshake is still unfinished at `now`, past its deadline.
    pub(crate) fn handshake_expired(&self, now: Instant) -> bool {
        self.handshake_deadline().is_some_and(|deadline| deadline <= now)
    }

    /// Writes pending TLS records until done or the socket is full.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.socket) {
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Registers for writability only while TLS output is pending.
    pub(crate) fn update_interest(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let wanted =
            if self.tls.wants_write() { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
        if wanted != self.interest {
            registry.reregister(&mut self.socket, token, wanted)?;
            self.interest = wanted;
        }
        Ok(())
    }

    /// Sends the alert rustls queued after `error`, counting a handshake failure if it was one.
    pub(crate) fn fail(&mut self, error: &rustls::Error, tally: &mut Tally) {
        if self.tls.is_handshaking() {
            tally.add(Counter::HandshakeFailures, 1);
            tracing::debug!(%error, "TLS handshake failed");
        } else {
            tracing::debug!(%error, "TLS error");
        }
        let _ = self.flush();
    }

    /// Reads and throws away raw bytes until the socket would block; true at end of stream.
    pub(crate) fn drain_raw(&mut self) -> io::Result<bool> {
        let mut scratch = [0u8; 8192];
        loop {
            match self.socket.read(&mut scratch) {
                Ok(0) => return Ok(true),
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
}
