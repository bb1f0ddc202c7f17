//! A small blocking rustls client for the mock's tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use apns_mock::certs::TestPki;
use apns_mock::{MockConfig, MockServer};
use apns_proto::{DeviceToken, EncodedPayload, Format, Notification, PayloadLimit, Priority};
use bytes::BytesMut;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub type Client = StreamOwned<ClientConnection, TcpStream>;

pub fn pki() -> TestPki {
    TestPki::generate().unwrap()
}

/// A mock with no error delay, recording in memory.
pub fn quick(pki: &TestPki) -> MockConfig {
    MockConfig::from_test_pki(pki).error_delay(Duration::ZERO).record_in_memory(100_000).seed(1)
}

fn roots(pki: &TestPki) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.ca_cert_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

/// Trusts `server_pki`'s CA and presents `client_pki`'s client certificate.
pub fn client_config_with(server_pki: &TestPki, client_pki: Option<&TestPki>) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(server_pki));
    let config = match client_pki {
        Some(pki) => {
            let chain = CertificateDer::pem_slice_iter(pki.client_cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(pki.client_key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

pub fn client_config(pki: &TestPki) -> Arc<ClientConfig> {
    client_config_with(pki, Some(pki))
}

/// Connects without completing the handshake.
pub fn open(addr: SocketAddr, config: Arc<ClientConfig>) -> Client {
    let socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    socket.set_write_timeout(Some(TIMEOUT)).unwrap();
    socket.set_nodelay(true).unwrap();
    let conn = ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
    StreamOwned::new(conn, socket)
}

/// Connects and completes the handshake.
pub fn connect(server: &MockServer, pki: &TestPki) -> Client {
    let mut client = open(server.gateway_addr(), client_config(pki));
    while client.conn.is_handshaking() {
        client.conn.complete_io(&mut client.sock).unwrap();
    }
    client
}

pub fn token(n: u8) -> DeviceToken {
    DeviceToken::new([n; 32])
}

pub fn notification(id: u32, token: DeviceToken) -> Notification {
    let payload =
        EncodedPayload::new(format!("{{\"aps\":{{\"alert\":\"n{id}\"}}}}"), PayloadLimit::BINARY).unwrap();
    Notification::new(token, payload)
        .with_id(id)
        .with_expiry(1_700_000_000 + id)
        .with_priority(Priority::Immediate)
}

pub fn encode(notifications: &[Notification], format: Format) -> Vec<u8> {
    let mut out = BytesMut::new();
    for notification in notifications {
        notification.encode(format, &mut out);
    }
    out.to_vec()
}

/// Reads until the server closes; returns what arrived and whether it ended cleanly (EOF or
/// close_notify) rather than with an error.
pub fn read_until_closed(client: &mut Client) -> (Vec<u8>, io::Result<()>) {
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match client.read(&mut buf) {
            Ok(0) => return (received, Ok(())),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(error) => return (received, Err(error)),
        }
    }
}

pub fn send(client: &mut Client, bytes: &[u8]) {
    client.write_all(bytes).unwrap();
    client.flush().unwrap();
}
