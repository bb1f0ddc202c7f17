//! [`Builder`]: where to connect, with which certificate, in which mode.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use apns_io::{Endpoint, Identity, Password, TlsConfig};
use apns_proto::Format;

use crate::error::AddressProblem;
use crate::feedback::Feedback;
use crate::gateway::{Gateway, Settings};
use crate::{Apns, Error};

/// Builds an [`Apns`]: PyAPNs' `APNs(use_sandbox, cert_file, key_file, enhanced)`.
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
pub struct Builder {
    gateway: Result<Endpoint, Error>,
    feedback: Result<Endpoint, Error>,
    server_name: Option<String>,
    /// Which of gateway and feedback were given as `HOST:PORT` (the server name applies to them).
    named: (bool, bool),
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    p12: Option<(PathBuf, Password)>,
    identity: Option<Identity>,
    ca_files: Vec<PathBuf>,
    ca_pems: Vec<Vec<u8>>,
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

impl Default for Builder {
    fn default() -> Self {
        Self {
            gateway: Ok(Endpoint::gateway()),
            feedback: Ok(Endpoint::feedback()),
            server_name: None,
            named: (false, false),
            cert_file: None,
            key_file: None,
            p12: None,
            identity: None,
            ca_files: Vec::new(),
            ca_pems: Vec::new(),
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

impl Builder {
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

    /// The client certificate, PEM (PyAPNs' `cert_file`). Without [`key_file`](Self::key_file)
    /// the key is read from the same file, as PyAPNs does.
    pub fn cert_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cert_file = Some(path.into());
        self
    }

    /// The client certificate's private key, PEM (PyAPNs' `key_file`): PKCS#8, PKCS#1 or SEC1,
    /// not encrypted.
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    /// The client certificate and key as a PKCS#12 (`.p12`) file, as exported by Keychain.
    /// The password is kept as a [`Password`], which `Debug` (of the builder too) never shows.
    pub fn p12_file(mut self, path: impl Into<PathBuf>, password: impl Into<Password>) -> Self {
        self.p12 = Some((path.into(), password.into()));
        self
    }

    /// A client identity already loaded (e.g. [`Identity::from_pem`] from memory).
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Trusts the CA certificates of this PEM file instead of the public roots (for a mock or a
    /// test PKI). May be called several times.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Trusts the CA certificates of this PEM text instead of the public roots.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pems.push(pem.into());
        self
    }

    /// PyAPNs' `enhanced`. `true` (the default here; PyAPNs defaulted to `false`): every
    /// notification carries an identifier, error responses are read, what the gateway discarded
    /// is resent, and every notification gets a proved or presumed outcome; notifications are
    /// written as frames (command 2, the only format that carries the priority). `false`: the
    /// simple format (command 0), which the gateway never answers, so every notification ends
    /// [`PresumedAccepted`](crate::Outcome::PresumedAccepted) unless it fails.
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
    /// failed instead of waiting forever (see [`Gateway::last_connect_error`]).
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

    /// The most outcomes the [`Gateway::outcomes`](crate::Gateway::outcomes) iterator holds
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
    pub fn build(self) -> Result<Apns, Error> {
        let identity = match (self.identity, self.p12, self.cert_file, self.key_file) {
            (Some(identity), ..) => identity,
            (None, Some((path, password)), ..) => Identity::from_pkcs12_file(path, password.expose())?,
            (None, None, Some(cert), Some(key)) => Identity::from_pem_files(cert, key)?,
            (None, None, Some(cert), None) => Identity::from_pem_file(cert)?,
            (None, None, None, Some(key)) => Identity::from_pem_file(key)?,
            (None, None, None, None) => return Err(Error::NoIdentity),
        };
        let mut tls = TlsConfig::new().identity(identity);
        for path in &self.ca_files {
            tls = tls.ca_file(path)?;
        }
        for pem in &self.ca_pems {
            tls = tls.ca_pem(pem)?;
        }
        let tls: Arc<rustls::ClientConfig> = tls.build()?;
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
        Ok(Apns { gateway, feedback })
    }
}

fn parse_address(address: &str) -> Result<Endpoint, Error> {
    let bad = |problem: AddressProblem| Error::Address { address: address.to_owned(), problem };
    if let Ok(addr) = address.parse::<SocketAddr>() {
        return Ok(Endpoint::new(addr.ip().to_string(), addr.port()));
    }
    let (host, port) = address.rsplit_once(':').ok_or_else(|| bad(AddressProblem::NotHostPort))?;
    let port = port.parse::<u16>().map_err(|_| bad(AddressProblem::InvalidPort))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad(AddressProblem::EmptyHost));
    }
    Ok(Endpoint::new(host, port))
}

/// With a server name, resolves the endpoint now and verifies `name` instead of its host.
fn rename(endpoint: Endpoint, name: Option<&str>) -> Result<Endpoint, Error> {
    let Some(name) = name else { return Ok(endpoint) };
    let address = endpoint.to_string();
    let resolved = (endpoint.host(), endpoint.port())
        .to_socket_addrs()
        .map_err(|e| Error::Address {
            address: address.clone(),
            problem: AddressProblem::Unresolved(e.kind()),
        })?
        .next()
        .ok_or(Error::Address { address, problem: AddressProblem::NoAddress })?;
    Ok(Endpoint::at(name, resolved))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        let endpoint = parse_address("127.0.0.1:2195").unwrap();
        assert_eq!((endpoint.host(), endpoint.port()), ("127.0.0.1", 2195));
        let endpoint = parse_address("gateway.example:1").unwrap();
        assert_eq!((endpoint.host(), endpoint.port()), ("gateway.example", 1));
        let endpoint = parse_address("[::1]:9").unwrap();
        assert_eq!((endpoint.host(), endpoint.port()), ("::1", 9));
        assert!(parse_address("nohost").is_err());
        assert!(parse_address("host:x").is_err());
        assert!(parse_address(":5").is_err());
    }

    #[test]
    fn missing_files_are_named() {
        let error =
            Builder::new().cert_file("/nonexistent/cert.pem").key_file("/nonexistent/key.pem").build();
        let message = error.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("/nonexistent/cert.pem"), "{message}");
        assert!(matches!(Builder::new().build(), Err(Error::NoIdentity)));
    }

    #[test]
    fn debug_never_shows_the_p12_password() {
        let builder = Builder::new().p12_file("push.p12", "hunter2-secret");
        let debug = format!("{builder:?}");
        assert!(!debug.contains("hunter2-secret"), "{debug}");
        assert!(debug.contains("push.p12") && debug.contains("<redacted>"), "{debug}");
        assert_eq!(format!("{:?}", Password::from("x")), "\"<redacted>\"");
    }
}
