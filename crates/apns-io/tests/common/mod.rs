//! Shared helpers: a mock gateway with a fresh test PKI, a client wired to it, and an event
//! collector.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apns_io::{Client, Config, Endpoint, Event, Identity, TlsConfig};
use apns_mock::certs::TestPki;
use apns_mock::{MockConfig, MockServer};
use apns_proto::{DeviceToken, EncodedPayload, Notification, Payload, PayloadLimit};
use apns_resend::{Outcome, Report};

pub struct Harness {
    pub pki: TestPki,
    pub server: MockServer,
}

impl Harness {
    pub fn start(configure: impl FnOnce(MockConfig) -> MockConfig) -> Self {
        let pki = TestPki::generate().unwrap();
        let server = MockServer::start(configure(MockConfig::from_test_pki(&pki))).unwrap();
        Self { pki, server }
    }

    pub fn tls(&self) -> Arc<rustls::ClientConfig> {
        let identity =
            Identity::from_pem(self.pki.client_cert_pem.as_bytes(), self.pki.client_key_pem.as_bytes())
                .unwrap();
        TlsConfig::new().identity(identity).ca_pem(self.pki.ca_cert_pem.as_bytes()).unwrap().build().unwrap()
    }

    pub fn gateway(&self) -> Endpoint {
        Endpoint::at("localhost", self.server.gateway_addr())
    }

    pub fn feedback(&self) -> Endpoint {
        Endpoint::at("localhost", self.server.feedback_addr())
    }

    /// A client with an event collector, after `configure`.
    pub fn client(&self, configure: impl FnOnce(Config) -> Config) -> (Client, Collector) {
        self.client_with_tls(self.tls(), configure)
    }

    pub fn client_with_tls(
        &self,
        tls: Arc<rustls::ClientConfig>,
        configure: impl FnOnce(Config) -> Config,
    ) -> (Client, Collector) {
        let (tx, rx) = channel();
        let config = configure(Config::new(self.gateway(), tls)).on_event(move |event| {
            let _ = tx.send(event);
        });
        (Client::start(config).unwrap(), Collector::new(rx))
    }
}

/// Collects events; reports are indexed by the user's identifier.
pub struct Collector {
    rx: Receiver<Event>,
    pub reports: HashMap<u32, Vec<(usize, Report)>>,
    pub others: Vec<Event>,
}

impl Collector {
    pub fn from_receiver(rx: Receiver<Event>) -> Self {
        Self::new(rx)
    }

    fn new(rx: Receiver<Event>) -> Self {
        Self { rx, reports: HashMap::new(), others: Vec::new() }
    }

    fn take(&mut self, event: Event) {
        match event {
            Event::Finished { connection, report } => {
                self.reports.entry(report.id.get()).or_default().push((connection, report))
            }
            other => self.others.push(other),
        }
    }

    /// Takes events until `n` distinct notifications have reports, or the timeout.
    pub fn wait_reports(&mut self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.reports.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(event) => self.take(event),
                Err(_) => return false,
            }
        }
        true
    }

    /// Takes events until one matches, or the timeout.
    pub fn wait_event(&mut self, timeout: Duration, mut matches: impl FnMut(&Event) -> bool) -> bool {
        if self.others.iter().any(&mut matches) {
            return true;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(event) => {
                    let hit = matches(&event);
                    self.take(event);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// Takes whatever is already there.
    pub fn drain(&mut self) {
        while let Ok(event) = self.rx.try_recv() {
            self.take(event);
        }
    }

    /// Every identifier in `ids` has exactly one report; returns them.
    pub fn exactly_one_each(&self, ids: impl IntoIterator<Item = u32>) -> Vec<Report> {
        ids.into_iter()
            .map(|id| {
                let reports = self.reports.get(&id).unwrap_or_else(|| panic!("no report for {id}"));
                assert_eq!(reports.len(), 1, "notification {id}: {reports:?}");
                reports[0].1.clone()
            })
            .collect()
    }

    pub fn count(&self, outcome: impl Fn(&Outcome) -> bool) -> usize {
        self.reports.values().flatten().filter(|(_, r)| outcome(&r.outcome)).count()
    }
}

pub fn payload() -> EncodedPayload {
    Payload::new().alert("Hello World!").sound("default").badge(1).encode(PayloadLimit::BINARY).unwrap()
}

/// The token of notification `seq`: its number in the first bytes, so the mock's records show
/// the order.
pub fn token(seq: u32) -> DeviceToken {
    let mut bytes = [0xab; 32];
    bytes[..4].copy_from_slice(&seq.to_be_bytes());
    DeviceToken::new(bytes)
}

pub fn seq_of(token: &[u8]) -> u32 {
    u32::from_be_bytes([token[0], token[1], token[2], token[3]])
}

/// Notifications 1..=n, identifier = sequence number.
pub fn notifications(n: u32) -> Vec<Notification> {
    let payload = payload();
    (1..=n).map(|seq| Notification::new(token(seq), payload.clone()).with_id(seq)).collect()
}

/// A peer the tests need and may not find: fails under CI, skips with a note otherwise (the
/// convention of apns-h2's interoperability tests).
pub fn peer_or_skip(what: &str, found: bool) -> bool {
    if found {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{what} is required in CI (cargo xtask ci installs it)");
    eprintln!("skipped: {what} not found (cargo xtask ci installs it)");
    false
}

/// TLS for the HTTP/2 mock of `pki`: its CA trusted, ALPN `h2`, the client certificate when
/// `certificate`.
pub fn h2_tls(pki: &TestPki, certificate: bool) -> Arc<rustls::ClientConfig> {
    let mut tls = TlsConfig::new().ca_pem(pki.ca_cert_pem.as_bytes()).unwrap();
    if certificate {
        let identity = Identity::from_pem(pki.client_cert_pem.as_bytes(), pki.client_key_pem.as_bytes());
        tls = tls.identity(identity.unwrap());
    }
    tls.build_h2().unwrap()
}

/// A provider-token signer for a generated key.
pub fn signer(key: &apns_mock::certs::ProviderKey) -> apns_auth::TokenSigner {
    use apns_auth::{KeyId, SigningKey, TeamId, TokenSigner};
    let signing = SigningKey::from_p8_pem(key.private_key_pem.as_bytes()).unwrap();
    TokenSigner::new(signing, KeyId::new(&key.key_id).unwrap(), TeamId::new(&key.team_id).unwrap())
}
