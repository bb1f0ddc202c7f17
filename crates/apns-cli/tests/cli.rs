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

const APNS: &str = env!("CARGO_BIN_EXE_apns");

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("apns-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn certs(dir: &Path) {
    let status = Command::new(APNS).arg("certs").arg("--out").arg(dir).status().unwrap();
    assert!(status.success());
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
    let mut child = Command::new(APNS)
        .arg("mock")
        .arg("--cert")
        .arg(dir.join("server.pem"))
        .arg("--key")
        .arg(dir.join("server.key"))
        .arg("--client-ca")
        .arg(dir.join("ca.pem"))
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addresses: serde_json::Value = serde_json::from_str(&line).unwrap();
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
    fails_with_usage_error(&["mock", "--cert", &missing, "--key", &key, "--client-ca", &ca], "cannot read");
    fails_with_usage_error(&["mock", "--cert", &key, "--key", &key, "--client-ca", &ca], "no certificate");
    fails_with_usage_error(
        &["mock", "--cert", &cert, "--key", &key, "--client-ca", &ca, "--reject", "abc=8"],
        "--reject",
    );
    fails_with_usage_error(
        &["mock", "--cert", &cert, "--key", &key, "--client-ca", &ca, "--error-delay-ms", "x"],
        "milliseconds",
    );
    fails_with_usage_error(&["mock", "--cert", &cert], "--key");
    fails_with_usage_error(&["frobnicate"], "frobnicate");
    let output = Command::new(APNS)
        .args(["mock", "--cert", &missing, "--key", &key, "--client-ca", &ca])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("apns: cannot read"), "{stderr}");
}
