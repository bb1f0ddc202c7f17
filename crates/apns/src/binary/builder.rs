//! [`BinaryBuilder`]: where to connect, with which certificate, in which mode.

use std::sync::Arc;
use std::time::Duration;

use apns_io::Endpoint;
use apns_proto::Format;

use super::feedback::Feedback;
use super::gateway::{Gateway, Settings};
use super::BinaryApns;
use crate::credentials::{certificate_setters, parse_address, rename, Certificates};
use crate::Error;

/// Builds a [`BinaryApns`]: PyAPNs' `APNs(use_sandbox, cert_file, key_file, enhanced)`.
///
/// | setting | default |
/// |---|---|
/// | environment | production (`gateway.push.apple.com:2195`, `feedback.push.apple.com:2196`) |
/// | mode | enhanced: error responses, resends and outcomes ([`Format::Frame`]) |
/// | [`idle_timeout`](Self::idle_timeout) | 30 s (as PyAPNs) |
/// | [`connections`](Self::connections) | 1 |
/// | [`send_timeout`](Self::send_timeout) | 30 s of waiting for room in the send queue |
/// | [`feedback_timeout`](Self::feedback_timeout) | 30 s |
/// | [`reconnect_for`](Self::reconnect_for) | 60 s of failed connects (backoff 100 ms to 5 s), then the waiting notifications fail |
/// | [`max_connect_failures`](Self::max_connect_failures) | no limit (the time budget decides) |
/// | [`resend`](Self::resend) | `Settlement::Prove`: a probe behind every 20,000 notifications, 4 MiB or 2 s; nothing presumed |
/// | [`queue_capacity`](Self::queue_capacity) | 10,000 notifications |
/// | [`outcome_capacity`](Self::outcome_capacity) | 100,000 outcomes |
#[derive(Debug)]
#[must_use]
pub struct BinaryBuilder {
    gateway: Result<Endpoint, Error>,
    feedback: Result<Endpoint, Error>,
    server_name: Option<String>,
    /// Which of gateway and feedback were given as `HOST:PORT` (the server name applies to them).
    named: (bool, bool),
    certs: Certificates,
    format: Format,
    connections: usize,
    idle_timeout: Option<Duration>,
    connect_timeout: Duration,
    max_connect_failures: u32,
    reconnect_for: Duration,
    send_timeout: Duration,
    feedback_timeout: Duration,
    queue_capacity: usize,
    outcome_capacity: usize,
    resend: apns_resend::Config,
}

impl Default for BinaryBuilder {
    fn default() -> Self {
        Self {
            gateway: Ok(Endpoint::gateway()),
            feedback: Ok(Endpoint::feedback()),
            server_name: None,
            named: (false, false),
            certs: Certificates::default(),
            format: Format::Frame,
            connections: 1,
            idle_timeout: Some(Duration::from_secs(30)),
            connect_timeout: Duration::from_secs(10),
            max_connect_failures: u32::MAX,
            reconnect_for: Duration::from_secs(60),
            send_timeout: Duration::from_secs(30),
            feedback_timeout: Duration::from_secs(30),
            queue_capacity: 10_000,
            outcome_capacity: 100_000,
            resend: apns_resend::Config::default(),
        }
    }
}

impl BinaryBuilder {
    /// The defaults (production).
    pub fn new() -> Self {
        Self::default()
    }

    /// Apple's sandbox gateway and feedback service (PyAPNs' `use_sandbox=True`).
    pub fn sandbox(mut self) -> Self {
        self.gateway = Ok(Endpoint::gateway_sandbox());
        self.feedback = Ok(Endpoint::feedback_sandbox());
        self
    }

    /// Apple's production gateway and feedback service (the default).
    pub fn production(mut self) -> Self {
        self.gateway = Ok(Endpoint::gateway());
        self.feedback = Ok(Endpoint::feedback());
        self
    }

    /// Any gateway, as `HOST:PORT` (a mock, a proxy). Checked by [`build`](Self::build).
    pub fn gateway(mut self, address: &str) -> Self {
        self.gateway = parse_address(address);
        self.named.0 = true;
        self
    }

    /// Any feedback service, as `HOST:PORT`. Checked by [`build`](Self::build).
    pub fn feedback(mut self, address: &str) -> Self {
        self.feedback = parse_address(address);
        self.named.1 = true;
        self
    }

    /// Any gateway [`Endpoint`], e.g. `Endpoint::at("localhost", addr)`.
    pub fn gateway_endpoint(mut self, endpoint: Endpoint) -> Self {
        self.gateway = Ok(endpoint);
        self
    }

    /// Any feedback [`Endpoint`].
    pub fn feedback_endpoint(mut self, endpoint: Endpoint) -> Self {
        self.feedback = Ok(endpoint);
        self
    }

    /// The name the server certificates must carry, when it differs from the host connected to
    /// (e.g. `localhost` for a mock reached as `127.0.0.1`). Applies to the addresses given with
    /// [`gateway`](Self::gateway) and [`feedback`](Self::feedback).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    certificate_setters!();

    /// PyAPNs' `enhanced`. `true` (the default here; PyAPNs defaulted to `false`): every
    /// notification carries an identifier, error responses are read, what the gateway discarded
    /// is resent, and every notification gets a proved or presumed outcome; notifications are
    /// written as frames (command 2, the only format that carries the priority). `false`: the
    /// simple format (command 0), which the gateway never answers, so every notification ends
    /// [`PresumedAccepted`](super::BinaryOutcome::PresumedAccepted) unless it fails.
    pub fn enhanced(mut self, enhanced: bool) -> Self {
        self.format = if enhanced { Format::Frame } else { Format::Simple };
        self
    }

    /// The wire format exactly: [`Format::Simple`], [`Format::Enhanced`] (command 1: identifier
    /// and expiry, no priority) or [`Format::Frame`].
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// How many gateway connections share the load (each keeps its notifications in order).
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections;
        self
    }

    /// Closes a gateway connection after this long with nothing to do (`None`: never); the next
    /// send reopens it. 30 s by default, as PyAPNs. The worker thread itself sleeps without
    /// cost and never keeps the process alive.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The longest a TCP connect plus TLS handshake may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// After this many consecutive failed connects, the notifications waiting are reported
    /// failed instead of waiting forever (see [`Gateway::last_connect_error`](super::Gateway::last_connect_error)).
    pub fn max_connect_failures(mut self, failures: u32) -> Self {
        self.max_connect_failures = failures;
        self
    }

    /// How long a connection keeps trying to reconnect, from its first failed attempt, before
    /// the notifications waiting on it are reported failed: a gateway that restarts within
    /// this budget loses nothing.
    pub fn reconnect_for(mut self, budget: Duration) -> Self {
        self.reconnect_for = budget;
        self
    }

    /// How long a send waits for room in the queue before failing with [`Error::Full`].
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// How long the feedback service may take to send its list and close.
    pub fn feedback_timeout(mut self, timeout: Duration) -> Self {
        self.feedback_timeout = timeout;
        self
    }

    /// How many notifications may wait between the callers and the event loop.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// The most outcomes the [`Gateway::outcomes`](super::Gateway::outcomes) iterator holds
    /// unread before the gateway stops settling into it (and so, once the buffers fill, stops
    /// taking notifications): the bound on the memory unread outcomes use (about 100 bytes
    /// each).
    pub fn outcome_capacity(mut self, capacity: usize) -> Self {
        self.outcome_capacity = capacity;
        self
    }

    /// The bounds of the sent-notification buffer of each connection (its format is set by
    /// [`enhanced`](Self::enhanced) / [`format`](Self::format)).
    pub fn resend(mut self, resend: apns_resend::Config) -> Self {
        self.resend = resend;
        self
    }

    /// Loads the certificates and starts the (idle) event loop. Nothing connects until the
    /// first send or feedback read.
    pub fn build(mut self) -> Result<BinaryApns, Error> {
        let identity = self.certs.load_identity()?.ok_or(Error::NoIdentity)?;
        let tls: Arc<rustls::ClientConfig> = self.certs.tls()?.identity(identity).build()?;
        let name = self.server_name.as_deref();
        let gateway = rename(self.gateway?, name.filter(|_| self.named.0))?;
        let feedback = rename(self.feedback?, name.filter(|_| self.named.1))?;
        let resend = self.resend.format(self.format);
        let settings = Settings {
            gateway: gateway.clone(),
            tls: tls.clone(),
            connections: self.connections,
            idle_timeout: self.idle_timeout,
            connect_timeout: self.connect_timeout,
            max_connect_failures: self.max_connect_failures,
            reconnect_for: self.reconnect_for,
            send_timeout: self.send_timeout,
            queue_capacity: self.queue_capacity,
            outcome_capacity: self.outcome_capacity,
            resend,
        };
        let feedback = Feedback::new(feedback, tls, self.feedback_timeout);
        let gateway = Gateway::start(settings)?;
        Ok(BinaryApns { gateway, feedback })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Password;

    #[test]
    fn missing_files_are_named() {
        let error =
            BinaryBuilder::new().cert_file("/nonexistent/cert.pem").key_file("/nonexistent/key.pem").build();
        let message = error.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("/nonexistent/cert.pem"), "{message}");
        assert!(matches!(BinaryBuilder::new().build(), Err(Error::NoIdentity)));
    }

    #[test]
    fn debug_never_shows_the_p12_password() {
        let builder = BinaryBuilder::new().p12_file("push.p12", "hunter2-secret");
        let debug = format!("{builder:?}");
        assert!(!debug.contains("hunter2-secret"), "{debug}");
        assert!(debug.contains("push.p12") && debug.contains("<redacted>"), "{debug}");
        assert_eq!(format!("{:?}", Password::from("x")), "\"<redacted>\"");
    }
}
