//! Third-party HTTP/2 APNs clients, unmodified, against the HTTP/2 mock on 127.0.0.1 with its
//! test CA: `curl --http2` (certificate and token auth, with ALPN and without), aioapns (PyPI,
//! `$APNS_PYTHON`; PyJWT signs its tokens, with a `typ` header; it sends `host` instead of
//! `:authority` and offers no ALPN) and @parse/node-apn (npm, `$APNS_NODE_MODULES`; node's
//! `jsonwebtoken` signs). A missing peer skips its test with a note, or fails it when `CI` is
//! set.

mod http2_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use apns_mock::http2::{Http2Mock, Http2Outcome, Reason};
use http2_common::*;
use serde_json::{json, Value};

const BAD: &str = "ee00000000000000000000000000000000000000000000000000000000000bad";
const GONE: &str = "dd000000000000000000000000000000000000000000000000000000000000dd";

fn peer(variable: &str, what: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{variable} is not set: it must name {what} (cargo xtask ci sets it up)")
        }
        _ => {
            eprintln!("skipped: set {variable} to {what} (cargo xtask ci does)");
            None
        }
    }
}

fn curl() -> Option<&'static str> {
    let found = Command::new("curl").arg("--version").output().is_ok_and(|o| o.status.success());
    if found {
        Some("curl")
    } else if std::env::var_os("CI").is_some() {
        panic!("curl is not installed");
    } else {
        eprintln!("skipped: curl is not installed");
        None
    }
}

/// Runs a child to completion within 120 s (killed after that).
fn run(mut command: Command) -> Output {
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("cannot start the peer");
    let pid = child.id();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(Duration::from_secs(120)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("the peer did not finish within 120 s");
        }
    }
}

/// The test PKI and provider key as files, as `apns certs` writes them.
fn files(setup: &Setup, name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("http2-interop-{name}-{}", std::process::id()));
    setup.pki.write_to(&dir).unwrap();
    setup.key.write_to(&dir).unwrap();
    std::fs::write(dir.join("client-bundle.pem"), setup.pki.client_cert_and_key_pem()).unwrap();
    dir
}

fn lines(output: &Output) -> Vec<Value> {
    assert!(
        output.status.success(),
        "peer failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

fn curl_push(curl: &str, mock: &Http2Mock, dir: &Path, extra: &[&str], token: &str) -> (u16, String) {
    let mut command = Command::new(curl);
    command
        .args(["-sS", "--cacert"])
        .arg(dir.join("ca.pem"))
        .args(extra)
        .args([
            "-H",
            &format!("apns-topic: {TOPIC}"),
            "-H",
            "apns-push-type: alert",
            "-H",
            "apns-id: 6e6f8a40-3c59-4b2c-9a6f-0f5a2f0e9d11",
        ])
        .args(["-d", PAYLOAD, "-o", "-", "-w", "\n%{http_code} %{http_version}"])
        .arg(format!("https://localhost:{}/3/device/{token}", mock.addr().port()));
    let output = run(command);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, last) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    let (code, version) = last.split_once(' ').unwrap();
    assert_eq!(version, "2", "curl spoke HTTP/{version}: {}", String::from_utf8_lossy(&output.stderr));
    (code.parse().unwrap(), body.to_owned())
}

#[test]
fn curl_with_certificate_and_token_auth() {
    let Some(curl) = curl() else { return };
    let setup = Setup::new();
    let dir = files(&setup, "curl");
    let mock = Http2Mock::start(setup.config().reject(BAD, Reason::BAD_DEVICE_TOKEN)).unwrap();
    let cert = [
        "--http2",
        "--cert",
        dir.join("client.pem").to_str().unwrap(),
        "--key",
        dir.join("client.key").to_str().unwrap(),
    ]
    .map(str::to_owned);
    let cert: Vec<&str> = cert.iter().map(String::as_str).collect();
    assert_eq!(curl_push(curl, &mock, &dir, &cert, TOKEN), (200, String::new()));
    assert_eq!(curl_push(curl, &mock, &dir, &cert, BAD), (400, r#"{"reason":"BadDeviceToken"}"#.to_owned()));
    let bearer = format!("authorization: bearer {}", setup.token());
    assert_eq!(curl_push(curl, &mock, &dir, &["--http2", "-H", &bearer], TOKEN), (200, String::new()));
    // HTTP/2 over TLS without ALPN (prior knowledge): served, as by Apple.
    assert_eq!(
        curl_push(curl, &mock, &dir, &["--http2-prior-knowledge", "--no-alpn", "-H", &bearer], TOKEN),
        (200, String::new())
    );
    let (status, body) = curl_push(curl, &mock, &dir, &["--http2"], TOKEN);
    assert_eq!((status, body.as_str()), (403, r#"{"reason":"MissingProviderToken"}"#));
    let records = mock.records();
    assert_eq!(records.len(), 5);
    assert!(records.iter().all(|r| r.apns_id.as_deref() == Some("6e6f8a40-3c59-4b2c-9a6f-0f5a2f0e9d11")));
    assert_eq!(records[0].key_id, None);
    assert_eq!(records[2].key_id.as_deref(), Some(setup.key.key_id.as_str()));
    assert!(records[0]
        .headers
        .iter()
        .any(|(name, value)| name == "user-agent" && value.starts_with("curl/")));
    assert_eq!(records[0].payload, PAYLOAD.as_bytes());
}

fn aioapns_requests() -> Value {
    json!([
        {"id": "11111111-1111-4111-8111-111111111111", "token": TOKEN, "message": {"aps": {"alert": "one"}}, "push_type": "alert", "priority": 10},
        {"id": "22222222-2222-4222-8222-222222222222", "token": BAD, "message": {"aps": {"alert": "two"}}},
        {"id": "33333333-3333-4333-8333-333333333333", "token": GONE, "message": {"aps": {"alert": "three"}}},
        {"id": "44444444-4444-4444-8444-444444444444", "token": TOKEN, "message": {"aps": {"content-available": 1}}, "push_type": "background", "priority": 5},
    ])
}

#[test]
fn aioapns_with_token_and_certificate_auth() {
    let Some(python) = peer("APNS_PYTHON", "a python with aioapns installed") else { return };
    let setup = Setup::new();
    let dir = files(&setup, "aioapns");
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aioapns_driver.py");
    for mode in ["token", "cert"] {
        let mock = Http2Mock::start(
            setup
                .config()
                .sandbox(true)
                .reject(BAD, Reason::BAD_DEVICE_TOKEN)
                .unregistered(GONE, 1_700_000_000_000),
        )
        .unwrap();
        let config = json!({
            "port": mock.addr().port(), "ca": dir.join("ca.pem"), "mode": mode, "sandbox": true,
            "key_file": dir.join("provider.p8"), "key_id": setup.key.key_id, "team_id": setup.key.team_id,
            "cert_file": dir.join("client-bundle.pem"), "topic": TOPIC, "requests": aioapns_requests(),
        });
        let mut command = Command::new(&python);
        command.arg(&driver).arg(config.to_string());
        let results = lines(&run(command));
        let summary: Vec<_> = results
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap()[..1].to_owned(),
                    r["status"].as_str().unwrap().to_owned(),
                    r["description"].clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("1".to_owned(), "200".to_owned(), Value::Null),
                ("2".to_owned(), "400".to_owned(), json!("BadDeviceToken")),
                ("3".to_owned(), "410".to_owned(), json!("Unregistered")),
                ("4".to_owned(), "200".to_owned(), Value::Null),
            ],
            "{mode}: {results:?}"
        );
        assert_eq!(results[2]["timestamp"], 1_700_000_000_000u64, "{mode}");
        assert!(mock.wait_for_requests(4, TIMEOUT));
        let mut records = mock.records();
        records.sort_by(|a, b| a.apns_id.cmp(&b.apns_id));
        assert_eq!(records.len(), 4, "{mode}");
        assert_eq!(
            records.iter().map(|r| r.outcome).collect::<Vec<_>>(),
            [Http2Outcome::Accepted, Http2Outcome::Rejected, Http2Outcome::Rejected, Http2Outcome::Accepted]
        );
        // aioapns sends `host`, not `:authority`.
        assert!(
            records[0].headers.iter().any(|(name, value)| name == "host" && value == "localhost"),
            "{mode}"
        );
        assert_eq!(records[0].payload, br#"{"aps": {"alert": "one"}}"#, "{mode}");
        let expected_key = (mode == "token").then(|| setup.key.key_id.clone());
        assert_eq!(records[0].key_id, expected_key, "{mode}");
        assert!(records[0].unique_id.is_some(), "sandbox");
    }
}

#[test]
fn node_apn_with_token_and_certificate_auth() {
    let Some(node_modules) = peer("APNS_NODE_MODULES", "a node_modules folder with @parse/node-apn") else {
        return;
    };
    let setup = Setup::new();
    let dir = files(&setup, "node-apn");
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node_apn_driver.js");
    for mode in ["token", "cert"] {
        let mock = Http2Mock::start(
            setup.config().reject(BAD, Reason::BAD_DEVICE_TOKEN).unregistered(GONE, 1_700_000_000_000),
        )
        .unwrap();
        let requests = json!([
            {"id": "11111111-1111-4111-8111-111111111111", "token": TOKEN, "alert": "one", "push_type": "alert"},
            {"id": "22222222-2222-4222-8222-222222222222", "token": BAD, "alert": "two"},
            {"id": "33333333-3333-4333-8333-333333333333", "token": GONE, "alert": "three"},
            {"id": "44444444-4444-4444-8444-444444444444", "token": TOKEN, "alert": "four", "priority": 5},
        ]);
        let config = json!({
            "address": "localhost", "port": mock.addr().port(), "ca": dir.join("ca.pem"), "mode": mode,
            "key_file": dir.join("provider.p8"), "key_id": setup.key.key_id, "team_id": setup.key.team_id,
            "cert_file": dir.join("client.pem"), "client_key_file": dir.join("client.key"), "topic": TOPIC,
            "requests": requests,
        });
        let mut command = Command::new("node");
        command.arg(&driver).arg(config.to_string()).env("NODE_PATH", &node_modules);
        let results = lines(&run(command));
        let summary: Vec<_> =
            results.iter().map(|r| (r["status"].as_u64(), r["reason"].as_str().map(str::to_owned))).collect();
        assert_eq!(
            summary,
            [
                (Some(200), None),
                (Some(400), Some("BadDeviceToken".to_owned())),
                (Some(410), Some("Unregistered".to_owned())),
                (Some(200), None)
            ],
            "{mode}: {results:?}"
        );
        assert!(mock.wait_for_requests(4, TIMEOUT));
        let mut records = mock.records();
        records.sort_by(|a, b| a.apns_id.cmp(&b.apns_id));
        assert_eq!(records.iter().map(|r| r.processed()).collect::<Vec<_>>(), [true; 4]);
        let payload: Value = serde_json::from_slice(&records[0].payload).unwrap();
        assert_eq!(payload, json!({"aps": {"alert": "one"}}), "{mode}");
        let expected_key = (mode == "token").then(|| setup.key.key_id.clone());
        assert_eq!(records[0].key_id, expected_key, "{mode}");
    }
}
