//! What the interoperability tests share: a throw-away PKI, and a tiny blocking driver (std
//! `TcpStream` + `rustls::ClientConnection` + [`Connection`]). The real driver is `apns-io`'s mio
//! loop; this one only has to be obviously right.

#![allow(dead_code, unreachable_pub)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apns_h2::{Config, Connection, Event, Fate, HeaderName, HeaderValue, Indexing, Request, StreamId};
use bytes::{Bytes, BytesMut};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

/// A CA and a server certificate for `localhost` and 127.0.0.1.
pub struct Pki {
    pub ca_der: CertificateDer<'static>,
    pub server_der: CertificateDer<'static>,
    pub server_key_der: Vec<u8>,
    pub server_pem: String,
    pub server_key_pem: String,
}

impl Pki {
    pub fn generate() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "apns-h2 test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, &ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &issuer).unwrap();
        Self {
            ca_der: ca.der().clone(),
            server_der: cert.der().clone(),
            server_key_der: key.serialize_der(),
            server_pem: cert.pem(),
            server_key_pem: key.serialize_pem(),
        }
    }

    /// Writes `cert.pem` and `key.pem` into a fresh directory, for servers in other processes.
    pub fn write_pem(&self, name: &str) -> PathBuf {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cert.pem"), &self.server_pem).unwrap();
        std::fs::write(dir.join("key.pem"), &self.server_key_pem).unwrap();
        dir
    }

    pub fn server_config(&self) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![self.server_der.clone()], key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        config
    }
}

/// A peer the tests need and may not find: fails under CI, skips with a note otherwise.
pub fn peer_or_skip(what: &str, found: bool) -> bool {
    if found {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{what} is required in CI (cargo xtask ci installs it)");
    eprintln!("skipped: {what} not found (cargo xtask ci installs it)");
    false
}

/// The blocking driver.
pub struct Driver {
    pub connection: Connection,
    tls: rustls::ClientConnection,
    socket: TcpStream,
    pub events: Vec<Event>,
    /// Bytes the connection wrote, and TLS writes (each `poll_transmit` batch is one write).
    pub bytes_written: usize,
    pub writes: usize,
}

impl Driver {
    /// Connects with TLS and ALPN `h2`, checking the server certificate against `pki`'s CA.
    pub fn connect(address: SocketAddr, pki: &Pki, config: Config) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls_config.alpn_protocols = vec![b"h2".to_vec()];
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = rustls::ClientConnection::new(Arc::new(tls_config), name).unwrap();
        tls.set_buffer_limit(None); // The connection bounds what it writes (the windows).
        let mut socket = TcpStream::connect(address).unwrap();
        socket.set_nodelay(true).unwrap();
        while tls.is_handshaking() {
            tls.complete_io(&mut socket).unwrap();
        }
        assert_eq!(tls.alpn_protocol(), Some(&b"h2"[..]), "ALPN negotiated h2");
        // Reads wake up at least this often so that timers run.
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let connection = Connection::new(config, Instant::now()).unwrap();
        Self { connection, tls, socket, events: Vec::new(), bytes_written: 0, writes: 0 }
    }

    /// Writes everything the connection has to write.
    pub fn flush(&mut self) {
        let mut out = BytesMut::new();
        let written = self.connection.poll_transmit(Instant::now(), &mut out);
        if written > 0 {
            self.bytes_written += written;
            self.writes += 1;
            self.tls.writer().write_all(&out).unwrap();
        }
        while self.tls.wants_write() {
            if let Err(error) = self.tls.write_tls(&mut self.socket) {
                if error.kind() == io::ErrorKind::BrokenPipe || error.kind() == io::ErrorKind::ConnectionReset
                {
                    return;
                }
                panic!("write: {error}");
            }
        }
    }

    /// One read (or a read timeout), handed to the connection.
    fn read(&mut self) {
        match self.tls.read_tls(&mut self.socket) {
            Ok(0) => self.connection.handle_close(),
            Ok(_) => {
                let state = match self.tls.process_new_packets() {
                    Ok(state) => state,
                    Err(_) => {
                        self.connection.handle_close();
                        return;
                    }
                };
                let mut plaintext = vec![0; state.plaintext_bytes_to_read()];
                self.tls.reader().read_exact(&mut plaintext).unwrap();
                self.connection.handle_input(Instant::now(), &plaintext);
                if state.peer_has_closed() {
                    self.connection.handle_close();
                }
            }
            Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(_) => self.connection.handle_close(),
        }
        let now = Instant::now();
        if self.connection.poll_timeout().is_some_and(|deadline| deadline <= now) {
            self.connection.handle_timeout(now);
        }
    }

    /// Runs until `done` says so, or panics after `limit`.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Connection, &[Event]) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            self.flush();
            while let Some(event) = self.connection.poll_event() {
                self.events.push(event);
            }
            if done(&self.connection, &self.events) {
                self.flush();
                return;
            }
            assert!(Instant::now() < deadline, "not done within {limit:?}; events: {:?}", self.events);
            if self.connection.is_closed() {
                panic!("the connection closed first: {:?}", self.events.last());
            }
            self.read();
        }
    }

    /// Runs until the server's SETTINGS are in.
    pub fn handshake(&mut self) {
        self.run_until(Duration::from_secs(10), |connection, _| connection.is_established());
    }

    /// Sends `requests` as the budget allows, and runs until each has its fate.
    pub fn send_all(&mut self, mut requests: Vec<Request>) -> Vec<(StreamId, Fate)> {
        requests.reverse();
        let mut ids = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            while let Some(request) = requests.pop() {
                match self.connection.send_request(request) {
                    Ok(id) => ids.push(id),
                    Err(apns_h2::SendError::NoBudget(request)) => {
                        requests.push(*request);
                        break;
                    }
                    Err(error) => panic!("send_request: {error}"),
                }
            }
            let fates = self.fates();
            let finished = ids.iter().filter(|id| fates.iter().any(|(done, _)| done == *id)).count();
            if requests.is_empty() && finished >= ids.len() {
                break;
            }
            assert!(Instant::now() < deadline, "{} of {} finished", finished, ids.len());
            let before = self.events.len();
            self.run_until(Duration::from_secs(30), |connection, events| {
                events.len() > before || (connection.send_budget() > 0 && !requests.is_empty())
            });
        }
        let fates = self.fates();
        ids.iter().map(|id| (*id, fates.iter().find(|(f, _)| f == id).unwrap().1.clone())).collect()
    }

    pub fn fates(&self) -> Vec<(StreamId, Fate)> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::Finished { id, fate, .. } => Some((*id, fate.clone())),
                _ => None,
            })
            .collect()
    }
}

pub const TOKEN: &str = "bearer eyJhbGciOiJFUzI1NiIsImtpZCI6IkFCQzEyM0RFRkcifQ.eyJpc3MiOiJERUYxMjNHSElKIiwiaWF0IjoxNzAwMDAwMDAwfQ.MEUCIQDv0hXvZzV1N0eLq2xk7M8Lr4w4bX0gS2Jg3o9s8l5W8QIgW4m6c8J0Zk1r2x6Qh9yT0u5v3b7n1m2k4j6h8g0f2d4";

/// An APNs-shaped request; `n` makes the path and `apns-id` unique.
pub fn apns_request(path: &str, n: u32, body: Bytes) -> Request {
    Request::post(
        HeaderValue::from_static("localhost"),
        HeaderValue::new(format!("{path}/{n:064x}")).unwrap(),
    )
    .header(HeaderName::from_static("authorization"), HeaderValue::from_static(TOKEN), Indexing::NeverIndexed)
    .header(
        HeaderName::from_static("apns-topic"),
        HeaderValue::from_static("com.example.app"),
        Indexing::Incremental,
    )
    .header(
        HeaderName::from_static("apns-push-type"),
        HeaderValue::from_static("alert"),
        Indexing::Incremental,
    )
    .header(
        HeaderName::from_static("apns-id"),
        HeaderValue::new(apns_id(n)).unwrap(),
        Indexing::WithoutIndexing,
    )
    .header(HeaderName::from_static("apns-priority"), HeaderValue::from_static("10"), Indexing::Incremental)
    .body(body)
}

pub fn apns_id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// A body of `len` bytes that differs per request.
pub fn body(n: u32, len: usize) -> Bytes {
    (0..len).map(|i| b'a' + ((i as u32 + n) % 26) as u8).collect::<Vec<u8>>().into()
}
