//! What a [`Client`](crate::Client) connects to and how it behaves.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

use crate::backoff::Backoff;
use crate::event::Event;

/// A host and port to connect to, with the name the server certificate must carry (SNI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    host: String,
    port: u16,
    addr: Option<SocketAddr>,
}

impl Endpoint {
    /// Apple's production gateway, `gateway.push.apple.com:2195`.
    pub fn gateway() -> Self {
        Self::new("gateway.push.apple.com", 2195)
    }

    /// Apple's sandbox gateway, `gateway.sandbox.push.apple.com:2195`.
    pub fn gateway_sandbox() -> Self {
        Self::new("gateway.sandbox.push.apple.com", 2195)
    }

    /// Apple's production feedback service, `feedback.push.apple.com:2196`.
    pub fn feedback() -> Self {
        Self::new("feedback.push.apple.com", 2196)
    }

    /// Apple's sandbox feedback service, `feedback.sandbox.push.apple.com:2196`.
    pub fn feedback_sandbox() -> Self {
        Self::new("feedback.sandbox.push.apple.com", 2196)
    }

    /// Apple's production HTTP/2 provider API, `api.push.apple.com:443` (2197 works too).
    pub fn api() -> Self {
        Self::new("api.push.apple.com", 443)
    }

    /// Apple's development HTTP/2 provider API, `api.sandbox.push.apple.com:443` (or 2197).
    pub fn api_sandbox() -> Self {
        Self::new("api.sandbox.push.apple.com", 443)
    }

    /// Apple's production channel-management API of broadcast push,
    /// `api-manage-broadcast.push.apple.com:2196`.
    pub fn channels() -> Self {
        Self::new("api-manage-broadcast.push.apple.com", 2196)
    }

    /// Apple's development channel-management API, `api-manage-broadcast.sandbox.push.apple.com:2195`.
    pub fn channels_sandbox() -> Self {
        Self::new("api-manage-broadcast.sandbox.push.apple.com", 2195)
    }

    /// Any host and port; the host is resolved on each connect and verified in the server
    /// certificate.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self { host: host.into(), port, addr: None }
    }

    /// Connects to `addr` instead of resolving the host, still verifying the certificate for
    /// `host` (for a mock on loopback whose certificate names `localhost`).
    pub fn at(host: impl Into<String>, addr: SocketAddr) -> Self {
        Self { host: host.into(), port: addr.port(), addr: Some(addr) }
    }

    /// The host name (or address) verified in the certificate.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address given to [`at`](Self::at), if any: no lookup is needed.
    pub(crate) fn fixed_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    pub(crate) fn resolve(&self) -> io::Result<SocketAddr> {
        if let Some(addr) = self.addr {
            return Ok(addr);
        }
        (self.host.as_str(), self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{} has no address", self.host)))
    }

    pub(crate) fn server_name(&self) -> Option<ServerName<'static>> {
        ServerName::try_from(self.host.clone()).ok()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The callback that receives [`Event`]s, on the event-loop thread.
pub type EventHandler = Box<dyn FnMut(Event) + Send + 'static>;

/// How a [`Client`](crate::Client) connects and behaves. Start from [`Config::new`] and the
/// chainable setters.
///
/// | setting | default |
/// |---|---|
/// | [`connections`](Self::connections) | 1 |
/// | [`queue_capacity`](Self::queue_capacity) | 10,000 notifications |
/// | [`idle_timeout`](Self::idle_timeout) | 30 s (as PyAPNs) |
/// | [`connect_timeout`](Self::connect_timeout) | 10 s (TCP connect and TLS handshake) |
/// | [`backoff`](Self::backoff) | 100 ms doubling to 5 s, with jitter |
/// | [`reconnect_for`](Self::reconnect_for) | 60 s of failed connects, then the connection's queued notifications fail |
/// | [`max_connect_failures`](Self::max_connect_failures) | no limit on the count (the time budget above decides) |
/// | [`resend`](Self::resend) | `apns_resend::Config::default()`, per connection |
#[non_exhaustive]
pub struct Config {
    /// The gateway.
    pub gateway: Endpoint,
    /// The rustls configuration (see [`TlsConfig`](crate::TlsConfig)).
    pub tls: Arc<rustls::ClientConfig>,
    /// See [`Config::connections()`].
    pub connections: usize,
    /// See [`Config::queue_capacity()`].
    pub queue_capacity: usize,
    /// See [`Config::idle_timeout()`].
    pub idle_timeout: Option<Duration>,
    /// See [`Config::connect_timeout()`].
    pub connect_timeout: Duration,
    /// See [`Config::backoff()`].
    pub backoff: Backoff,
    /// See [`Config::max_connect_failures()`].
    pub max_connect_failures: u32,
    /// See [`Config::reconnect_for()`].
    pub reconnect_for: Duration,
    /// See [`Config::resend()`].
    pub resend: apns_resend::Config,
    /// See [`Config::write_chunk()`].
    pub write_chunk: usize,
    /// See [`Config::seed()`].
    pub seed: u64,
    pub(crate) on_event: Option<EventHandler>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("gateway", &self.gateway)
            .field("connections", &self.connections)
            .field("queue_capacity", &self.queue_capacity)
            .field("idle_timeout", &self.idle_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("backoff", &self.backoff)
            .field("max_connect_failures", &self.max_connect_failures)
            .field("reconnect_for", &self.reconnect_for)
            .field("resend", &self.resend)
            .field("write_chunk", &self.write_chunk)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The defaults, for `gateway` with `tls`.
    pub fn new(gateway: Endpoint, tls: Arc<rustls::ClientConfig>) -> Self {
        Self {
            gateway,
            tls,
            connections: 1,
            queue_capacity: 10_000,
            idle_timeout: Some(Duration::from_secs(30)),
            connect_timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            max_connect_failures: u32::MAX,
            reconnect_for: Duration::from_secs(60),
            resend: apns_resend::Config::default(),
            write_chunk: 64 * 1024,
            seed: 0x5eed,
            on_event: None,
        }
    }

    /// How many gateway connections share the load. Each has its own sent-notification buffer
    /// and keeps the order of the notifications it is given.
    #[must_use]
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections;
        self
    }

    /// How many notifications wait between the callers and the event loop. When it is full,
    /// [`Client::send_timeout`](crate::Client::send_timeout) blocks and
    /// [`Client::try_send`](crate::Client::try_send) fails: backpressure.
    #[must_use]
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Closes a connection with nothing left to settle after this long without traffic; the next
    /// send reopens it. `None` keeps connections open.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The longest a TCP connect plus TLS handshake may take before it counts as a failure.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The delays between attempts after consecutive connect failures.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// After this many consecutive connect failures (refused, TLS handshake or certificate
    /// errors), every notification waiting on that connection is reported failed
    /// (`FailReason::Abandoned`) instead of waiting forever. The count starts again afterwards.
    /// By default there is no limit on the count: [`reconnect_for`](Self::reconnect_for) decides.
    #[must_use]
    pub fn max_connect_failures(mut self, failures: u32) -> Self {
        self.max_connect_failures = failures;
        self
    }

    /// How long a connection slot keeps trying to reconnect (from its first failed attempt,
    /// with the [`backoff`](Self::backoff) between attempts) before every notification waiting
    /// on it is reported failed (`FailReason::Abandoned`). A budget in time, not in attempts,
    /// so that a gateway restarting in a few seconds loses nothing.
    #[must_use]
    pub fn reconnect_for(mut self, budget: Duration) -> Self {
        self.reconnect_for = budget;
        self
    }

    /// The sent-notification buffer of each connection: format, `max_age`, in-flight window,
    /// capacity, retries. At high rates raise `max_in_flight` and `capacity` to at least the
    /// rate per connection times `max_age`.
    #[must_use]
    pub fn resend(mut self, resend: apns_resend::Config) -> Self {
        self.resend = resend;
        self
    }

    /// How many plaintext bytes of notifications are encoded before they are handed to rustls
    /// at once (many notifications per TLS record). Default 64 KiB.
    #[must_use]
    pub fn write_chunk(mut self, bytes: usize) -> Self {
        self.write_chunk = bytes;
        self
    }

    /// Seed of the backoff jitter (each connection slot draws from its own generator, derived
    /// from it).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Receives every [`Event`] (one [`Event::Finished`] per notification), on the event-loop
    /// thread: keep it short, or forward to a channel. A slow handler slows the loop, which is
    /// backpressure too.
    #[must_use]
    pub fn on_event(mut self, handler: impl FnMut(Event) + Send + 'static) -> Self {
        self.on_event = Some(Box::new(handler));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apple_endpoints() {
        assert_eq!(Endpoint::gateway().to_string(), "gateway.push.apple.com:2195");
        assert_eq!(Endpoint::gateway_sandbox().to_string(), "gateway.sandbox.push.apple.com:2195");
        assert_eq!(Endpoint::feedback().to_string(), "feedback.push.apple.com:2196");
        assert_eq!(Endpoint::feedback_sandbox().to_string(), "feedback.sandbox.push.apple.com:2196");
        let local = Endpoint::at("localhost", "127.0.0.1:4242".parse().unwrap());
        assert_eq!((local.host(), local.port()), ("localhost", 4242));
        assert_eq!(local.resolve().unwrap(), "127.0.0.1:4242".parse().unwrap());
        assert!(local.server_name().is_some());
        assert!(Endpoint::new("not a host name", 1).server_name().is_none());
    }
}
