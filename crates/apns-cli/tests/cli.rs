//! The `apns` binary: `certs` and `mock` as a user runs them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use apns_proto::{DeviceToken, EncodedPayload, Format, Notification, PayloadLimit};
use bytes::BytesMut;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

mod common;

use common::{certs, mock_args, spawn_mock, APNS};

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("apns-cli", name)
}

fn client_config(dir: &Path) -> Arc<ClientConfig> {
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(&read("ca.pem")).unwrap()).unwrap();
    let chain = vec![CertificateDer::from_pem_slice(&read("client.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(&read("client.key")).unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

fn connect(addr: SocketAddr, config: &Arc<ClientConfig>) -> StreamOwned<ClientConnection, TcpStream> {
    let socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let conn = ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap()).unwrap();
    StreamOwned::new(conn, socket)
}

fn frames(ids: &[(u32, u8)]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for &(id, token) in ids {
        let payload =
            EncodedPayload::new(format!("{{\"aps\":{{\"alert\":\"{id}\"}}}}"), PayloadLimit::BINARY).unwrap();
        Notification::new(DeviceToken::new([token; 32]), payload).with_id(id).encode(Format::Frame, &mut out);
    }
    out.to_vec()
}

fn read_to_close(client: &mut StreamOwned<ClientConnection, TcpStream>) -> Vec<u8> {
    let mut received = Vec::new();
    let _ = client.read_to_end(&mut received);
    received
}

struct Mock {
    child: Child,
    stdout: BufReader<ChildStdout>,
    gateway: SocketAddr,
    feedback: SocketAddr,
}

fn start_mock(dir: &Path, extra: &[&str]) -> Mock {
    let (child, stdout, addresses) = spawn_mock(mock_args(&mut Command::new(APNS), dir).args(extra));
    let addr = |key: &str| addresses[key].as_str().unwrap().parse().unwrap();
    Mock { gateway: addr("gateway"), feedback: addr("feedback"), child, stdout }
}

impl Mock {
    fn summary(mut self) -> serde_json::Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(self.child.wait().unwrap().success());
        serde_json::from_str(&line).unwrap()
    }
}

#[test]
fn certs_then_mock_with_record_feedback_and_exit_after_accepted() {
    let dir = temp_dir("run");
    let pki = dir.join("pki/nested");
    certs(&pki);
    for name in ["ca.pem", "server.pem", "server.key", "client.pem", "client.key"] {
        assert!(std::fs::read_to_string(pki.join(name)).unwrap().starts_with("-----BEGIN"), "{name}");
    }
    let bad = "09".repeat(32);
    let tuples = dir.join("tuples.jsonl");
    std::fs::write(&tuples, format!("{{\"token\":\"{bad}\",\"time\":1700000000}}\n")).unwrap();
    let record = dir.join("record.jsonl");
    let reject = format!("{bad}=8");
    let mock = start_mock(
        &pki,
        &[
            "--error-delay-ms",
            "0",
            "--reject",
            &reject,
            "--record",
            record.to_str().unwrap(),
            "--feedback-tuples",
            tuples.to_str().unwrap(),
            "--exit-after-accepted",
            "3",
            "--seed",
            "5",
        ],
    );
    let config = client_config(&pki);

    let mut feedback = connect(mock.feedback, &config);
    let stream = read_to_close(&mut feedback);
    let mut expected = 1_700_000_000u32.to_be_bytes().to_vec();
    expected.extend_from_slice(&[0, 32]);
    expected.extend_from_slice(&[9; 32]);
    assert_eq!(stream, expected);

    let mut first = connect(mock.gateway, &config);
    first.write_all(&frames(&[(1, 1), (2, 9)])).unwrap();
    assert_eq!(read_to_close(&mut first), [8, 8, 0, 0, 0, 2]);
    let mut second = connect(mock.gateway, &config);
    second.write_all(&frames(&[(3, 1), (4, 1)])).unwrap();
    second.flush().unwrap();

    let summary = mock.summary();
    assert_eq!(summary, serde_json::json!({"accepted":3,"rejected":1,"discarded":0,"connections":2}));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let summary: Vec<_> = lines
        .iter()
        .map(|l| (l["conn"].as_u64().unwrap(), l["id"].as_u64().unwrap(), l["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(summary, [(1, 1, "accepted"), (1, 2, "rejected"), (2, 3, "accepted"), (2, 4, "accepted")]);
    assert_eq!(lines[1]["status"], 8);
    assert_eq!(lines[1]["token"], bad);
    assert_eq!(lines[0]["payload"], "{\"aps\":{\"alert\":\"1\"}}");
    assert_eq!(lines[0]["priority"], 10);
}

#[test]
fn sigterm_prints_the_summary() {
    let dir = temp_dir("sigterm");
    certs(&dir);
    let mock = start_mock(&dir, &[]);
    let config = client_config(&dir);
    let mut client = connect(mock.gateway, &config);
    client.write_all(&frames(&[(1, 1)])).unwrap();
    client.flush().unwrap();
    let status = Command::new("kill").arg("-TERM").arg(mock.child.id().to_string()).status().unwrap();
    assert!(status.success());
    let summary = mock.summary();
    assert_eq!(summary["connections"], 1);
    assert!(summary["accepted"].as_u64().unwrap() <= 1);
}

fn fails_with_usage_error(args: &[&str], expected: &str) {
    let output = Command::new(APNS).args(args).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(expected), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn bad_input_is_one_clear_line_and_status_2() {
    let dir = temp_dir("bad");
    certs(&dir);
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let (cert, key, ca) = (file("server.pem"), file("server.key"), file("ca.pem"));
    let missing = file("missing.pem");
    fails_with_usage_error(
        &["mock", "--binary", "--cert", &missing, "--key", &key, "--client-ca", &ca],
        "cannot read",
    );
    fails_with_usage_error(
        &["mock", "--binary", "--cert", &key, "--key", &key, "--client-ca", &ca],
        "no certificate",
    );
    fails_with_usage_error(
        &["mock", "--binary", "--cert", &cert, "--key", &key, "--client-ca", &ca, "--reject", "abc=8"],
        "--reject",
    );
    fails_with_usage_error(
        &["mock", "--binary", "--cert", &cert, "--key", &key, "--client-ca", &ca, "--error-delay-ms", "x"],
        "milliseconds",
    );
    fails_with_usage_error(&["mock", "--cert", &cert], "--key");
    fails_with_usage_error(&["frobnicate"], "frobnicate");
    let output = Command::new(APNS)
        .args(["mock", "--binary", "--cert", &missing, "--key", &key, "--client-ca", &ca])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("apns: cannot read"), "{stderr}");
}

/// A provider token signed with ring from `provider.p8`, with the ids from `provider.json`.
fn provider_token(dir: &Path) -> String {
    use base64::Engine as _;
    let ids: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("provider.json")).unwrap()).unwrap();
    let pem = std::fs::read(dir.join("provider.p8")).unwrap();
    let der = PrivateKeyDer::from_pem_slice(&pem).unwrap();
    let rng = ring::rand::SystemRandom::new();
    let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        der.secret_der(),
        &rng,
    )
    .unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = serde_json::json!({"alg": "ES256", "kid": ids["key_id"]}).to_string();
    let claims = serde_json::json!({"iss": ids["team_id"], "iat": now}).to_string();
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let signature = pair.sign(&rng, input.as_bytes()).unwrap();
    format!("{input}.{}", b64(signature.as_ref()))
}

fn curl_available() -> bool {
    let found = Command::new("curl").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "curl is not installed");
        eprintln!("skipped: curl is not installed");
    }
    found
}

#[test]
fn certs_then_http2_mock_with_both_auth_modes_record_and_exit_after_requests() {
    if !curl_available() {
        return;
    }
    let dir = temp_dir("http2");
    certs(&dir);
    let ids: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("provider.json")).unwrap()).unwrap();
    let (kid, team) = (ids["key_id"].as_str().unwrap(), ids["team_id"].as_str().unwrap());
    assert_eq!((kid.len(), team.len(), ids["topic"].as_str()), (10, 10, Some("com.example.mock")));
    assert!(std::fs::read_to_string(dir.join("provider.p8"))
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    let record = dir.join("record.jsonl");
    let (bad, gone) = ("ee".repeat(32), "dd".repeat(32));
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let mut child = Command::new(APNS)
        .args(["mock", "--http2", "--cert", &file("server.pem"), "--key", &file("server.key")])
        .args(["--client-ca", &file("ca.pem"), "--provider-key", &format!("{kid}={}", file("provider.p8"))])
        .args([
            "--team-id",
            team,
            "--topic",
            "com.example.mock",
            "--reject",
            &format!("{bad}=BadDeviceToken"),
        ])
        .args(["--unregistered", &format!("{gone}=1700000000000"), "--record", record.to_str().unwrap()])
        .args(["--exit-after-requests", "4", "--seed", "3"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr: SocketAddr =
        serde_json::from_str::<serde_json::Value>(&line).unwrap()["http2"].as_str().unwrap().parse().unwrap();
    let curl = |auth: &[String], token: &str| {
        let output = Command::new("curl")
            .args(["-sS", "--http2", "--cacert", &file("ca.pem"), "-H", "apns-topic: com.example.mock"])
            .args(auth)
            .args(["-d", "{\"aps\":{}}", "-o", "-", "-w", " %{http_code}"])
            .arg(format!("https://localhost:{}/3/device/{token}", addr.port()))
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    let cert = ["--cert".to_owned(), file("client.pem"), "--key".to_owned(), file("client.key")];
    let bearer = ["-H".to_owned(), format!("authorization: bearer {}", provider_token(&dir))];
    let good = "ab".repeat(32);
    assert_eq!(curl(&cert, &good), " 200");
    assert_eq!(curl(&bearer, &good), " 200");
    assert_eq!(curl(&bearer, &bad), "{\"reason\":\"BadDeviceToken\"} 400");
    assert_eq!(curl(&cert, &gone), "{\"reason\":\"Unregistered\",\"timestamp\":1700000000000} 410");
    let mut summary = String::new();
    stdout.read_line(&mut summary).unwrap();
    assert!(child.wait().unwrap().success());
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary, serde_json::json!({"requests": 4, "accepted": 2, "rejected": 2, "connections": 4}));
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&record).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let statuses: Vec<_> = lines.iter().map(|l| l["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [200, 200, 400, 410]);
    assert_eq!(lines[1]["key_id"], kid);
    assert_eq!(lines[0]["key_id"], serde_json::Value::Null);
    assert!(lines.iter().all(|l| l["processed"] == true));
}

#[test]
fn http2_usage_errors_are_one_clear_line_and_status_2() {
    let dir = temp_dir("http2-bad");
    certs(&dir);
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let (cert, key) = (file("server.pem"), file("server.key"));
    let base = ["mock", "--http2", "--cert", &cert, "--key", &key];
    let with =
        |extra: &[&str]| -> Vec<String> { base.iter().chain(extra).map(|s| (*s).to_owned()).collect() };
    fails_with_usage_error(&as_strs(&with(&[])), "--client-ca");
    fails_with_usage_error(&as_strs(&with(&["--provider-key", "K=x"])), "--team-id");
    let p8 = format!("KID0000001={}", file("provider.p8"));
    fails_with_usage_error(
        &as_strs(&with(&["--provider-key", &p8, "--team-id", "T", "--reject", "abc=Bad"])),
        "--reject",
    );
    fails_with_usage_error(
        &as_strs(&with(&[
            "--client-ca",
            &file("ca.pem"),
            "--reject",
            &format!("{}=Bad Reason", "ab".repeat(32)),
        ])),
        "--reject",
    );
    fails_with_usage_error(
        &as_strs(&with(&["--client-ca", &file("ca.pem"), "--error-every", "x"])),
        "--error-every",
    );
    fails_with_usage_error(
        &as_strs(&with(&["--provider-key", &format!("K={}", file("ca.pem")), "--team-id", "T"])),
        "--provider-key",
    );
    fails_with_usage_error(
        &[
            "mock",
            "--binary",
            "--cert",
            &cert,
            "--key",
            &key,
            "--client-ca",
            &file("ca.pem"),
            "--listen",
            "127.0.0.1:0",
        ],
        "--binary",
    );
    fails_with_usage_error(
        &as_strs(&with(&["--client-ca", &file("ca.pem"), "--shutdown-every", "3"])),
        "--shutdown-every",
    );
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
