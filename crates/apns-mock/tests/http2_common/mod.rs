//! A minimal HTTP/2 client for the HTTP/2 mock's tests (h2's client over tokio-rustls, on a
//! runtime of its own so the tests stay synchronous), and an ES256 token signer made directly
//! with ring, independent of the mock's verifier.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apns_mock::certs::{ProviderKey, TestPki};
use apns_mock::http2::Http2Config;
use base64::Engine as _;
use bytes::Bytes;
use h2::client::SendRequest;
use http::{HeaderMap, Request};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::runtime::Runtime;

pub const TIMEOUT: Duration = Duration::from_secs(10);
pub const TOPIC: &str = "com.example.mock";
pub const TOKEN: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";
pub const PAYLOAD: &str = r#"{"aps":{"alert":"hello"}}"#;

pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A PKI and a provider key, and a mock configuration with both auth modes and the topic.
pub struct Setup {
    pub pki: TestPki,
    pub key: ProviderKey,
}

impl Setup {
    pub fn new() -> Self {
        Self { pki: TestPki::generate().unwrap(), key: ProviderKey::generate().unwrap() }
    }

    pub fn config(&self) -> Http2Config {
        Http2Config::from_test_pki(&self.pki)
            .provider_key_from(&self.key)
            .topic(TOPIC)
            .record_in_memory(100_000)
            .seed(1)
    }

    pub fn token(&self) -> String {
        sign(&self.key, &self.key.key_id, &self.key.team_id, unix_now())
    }

    pub fn tls(&self, client_cert: bool) -> Arc<ClientConfig> {
        client_tls(&self.pki, client_cert.then_some(&self.pki), &[b"h2"])
    }
}

/// A JWT signed with `key` under the given `kid`, `iss` and `iat`, by ring directly.
pub fn sign(key: &ProviderKey, kid: &str, iss: &str, iat: i64) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let der = PrivateKeyDer::from_pem_slice(key.private_key_pem.as_bytes()).unwrap();
    let rng = SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.secret_der(), &rng).unwrap();
    let input = format!(
        "{}.{}",
        b64(format!(r#"{{"alg":"ES256","kid":"{kid}"}}"#).as_bytes()),
        b64(format!(r#"{{"iss":"{iss}","iat":{iat}}}"#).as_bytes())
    );
    let signature = pair.sign(&rng, input.as_bytes()).unwrap();
    format!("{input}.{}", b64(signature.as_ref()))
}

/// Trusts `server`'s CA; presents `client`'s client certificate if given; offers `alpn`.
pub fn client_tls(server: &TestPki, client: Option<&TestPki>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(server.ca_cert_pem.as_bytes()).unwrap()).unwrap();
    let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        Some(pki) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(pki.client_cert_pem.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(pki.client_key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    /// `POST /3/device/TOKEN` with the topic, a bearer token if given, and PAYLOAD.
    pub fn push(token: Option<&str>) -> Self {
        let mut headers = vec![("apns-topic".to_owned(), TOPIC.to_owned())];
        if let Some(token) = token {
            headers.push(("authorization".to_owned(), format!("bearer {token}")));
        }
        Self {
            method: "POST",
            path: format!("/3/device/{TOKEN}"),
            headers,
            body: PAYLOAD.as_bytes().to_vec(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| n != name);
        self
    }

    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }
}

/// A response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn reason(&self) -> Option<String> {
        self.json()["reason"].as_str().map(str::to_owned)
    }

    pub fn apns_id(&self) -> Option<String> {
        self.headers.get("apns-id").map(|v| v.to_str().unwrap().to_owned())
    }
}

/// One HTTP/2 connection to the mock.
pub struct Client {
    runtime: Runtime,
    send: SendRequest<Bytes>,
    connection: tokio::task::JoinHandle<Result<(), h2::Error>>,
}

impl Client {
    pub fn connect(addr: SocketAddr, tls: Arc<ClientConfig>) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (send, connection) = runtime.block_on(async {
            let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            let connector = tokio_rustls::TlsConnector::from(tls);
            let name = ServerName::try_from("localhost").unwrap();
            let tls = tokio::time::timeout(TIMEOUT, connector.connect(name, tcp))
                .await
                .map_err(|_| "TLS timeout".to_owned())?
                .map_err(|e| e.to_string())?;
            let (send, connection) = tokio::time::timeout(TIMEOUT, h2::client::handshake(tls))
                .await
                .map_err(|_| "h2 timeout".to_owned())?
                .map_err(|e| e.to_string())?;
            let connection = tokio::spawn(connection);
            let send = tokio::time::timeout(TIMEOUT, send.ready())
                .await
                .map_err(|_| "ready timeout".to_owned())?
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((send, connection))
        })?;
        Ok(Self { runtime, send, connection })
    }

    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS, once its SETTINGS arrived.
    pub fn max_streams(&mut self) -> usize {
        let mut send = self.send.clone();
        self.runtime.block_on(async {
            // A round trip makes sure the server's SETTINGS have been read.
            let _ = request(&mut send, Req::push(None).method("GET")).await;
            send.current_max_send_streams()
        })
    }

    pub fn send(&mut self, req: Req) -> Result<Resp, h2::Error> {
        let mut send = self.send.clone();
        self.runtime.block_on(async move { request(&mut send, req).await })
    }

    /// Sends all at once (as many streams as the server allows), then collects the answers in
    /// order.
    pub fn send_all(&mut self, reqs: Vec<Req>) -> Vec<Result<Resp, h2::Error>> {
        let send = self.send.clone();
        self.runtime.block_on(async move {
            let tasks: Vec<_> = reqs
                .into_iter()
                .map(|req| {
                    let mut send = send.clone();
                    tokio::spawn(async move { request(&mut send, req).await })
                })
                .collect();
            let mut out = Vec::new();
            for task in tasks {
                out.push(task.await.unwrap());
            }
            out
        })
    }

    /// Waits until the server closes the connection; the connection's result.
    pub fn closed(self) -> Result<(), String> {
        let Self { runtime, send, connection } = self;
        // Holding `send` keeps the client from closing the connection itself.
        let result = runtime.block_on(async {
            match tokio::time::timeout(TIMEOUT, connection).await {
                Ok(Ok(result)) => result.map_err(|e| e.to_string()),
                Ok(Err(join)) => Err(join.to_string()),
                Err(_) => Err("still open".to_owned()),
            }
        });
        drop(send);
        result
    }
}

async fn request(send: &mut SendRequest<Bytes>, req: Req) -> Result<Resp, h2::Error> {
    let mut builder = Request::builder().method(req.method).uri(format!("https://localhost{}", req.path));
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder.body(()).unwrap();
    let mut send = send.clone().ready().await?;
    let end = req.body.is_empty();
    let (response, mut body) = send.send_request(request, end)?;
    if !end {
        body.reserve_capacity(req.body.len());
        body.send_data(Bytes::from(req.body), true)?;
    }
    let response = tokio::time::timeout(TIMEOUT, response).await.expect("no response in time")?;
    let (parts, mut recv) = response.into_parts();
    let mut bytes = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk?;
        let _ = recv.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    Ok(Resp { status: parts.status.as_u16(), headers: parts.headers, body: bytes })
}
