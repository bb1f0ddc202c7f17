//! Interoperability with PyAPNs, the library this project re-implements: the PyPI package
//! `apns3==1.0.0` (a Python 3 port of PyAPNs with the same API) sends to the mock through
//! `tests/pyapns_driver.py`, run with `$APNS_PYTHON` (`cargo xtask ci` sets it to a virtual
//! environment's python with apns3 installed).
//!
//! What PyAPNs really does, as this test pins down:
//! - Enhanced mode writes command 1; `Frame` writes one command-2 frame per notification, with
//!   all five items. The mock receives byte for byte what PyAPNs says it sent.
//! - The response listener is called with `{"status", "identifier"}` for the error response.
//! - Right after calling it, the reader thread dies with a `TypeError`:
//!   `_resend_notifications_by_id` calls `_resend_notification_by_range(0, fail_idx + 1, len)`,
//!   one argument too many. So nothing is ever resent: the notifications the gateway discarded
//!   after the failed one (4 and 5 here) are silently lost. (Had the call worked, the range
//!   would have resent the already accepted ones and the failed one, not those after it.)
//! - The next send starts a new reader thread and reconnects, so sending goes on.
//! - `feedback_server.items()` yields `(token, datetime)` with the token as `bytes` of hex in
//!   Python 3 (`b2a_hex`), not `str`.
//! - When the feedback stream arrives in small TLS records, `items()` stops at the first read
//!   that leaves fewer than 6 bytes buffered (`if len(buff) < 6: break`), silently dropping every
//!   tuple after it: with records of at most 5 bytes it yields nothing at all.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use apns_mock::{FeedbackEntry, MockServer, Outcome, Record};
use apns_proto::{DeviceToken, Status};
use serde_json::{json, Value};

const GOOD: [&str; 2] = [
    "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80",
    "7d865e959b2466918c9863afca942d0fb89d7c9ac0c99bafc3749504ded97730",
];
const BAD: &str = "ee00000000000000000000000000000000000000000000000000000000000bad";
const EXPIRY: u32 = 1_900_000_000;

fn python() -> Option<String> {
    match std::env::var("APNS_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ if std::env::var_os("CI").is_some() => {
            panic!("APNS_PYTHON is not set: it must name a python with apns3==1.0.0 installed (cargo xtask ci sets it up)")
        }
        _ => {
            eprintln!("skipped: set APNS_PYTHON (cargo xtask ci does)");
            None
        }
    }
}

fn feedback_tuples() -> Vec<FeedbackEntry> {
    GOOD.iter()
        .chain(&[BAD])
        .enumerate()
        .map(|(i, hex)| FeedbackEntry::new(1_600_000_000 + i as u32, hex.parse().unwrap()))
        .collect()
}

fn run_driver(python: &str, config: &Value) -> Vec<Value> {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyapns_driver.py");
    let child = Command::new(python)
        .arg(driver)
        .arg(config.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run $APNS_PYTHON");
    let pid = child.id();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    let output = match receiver.recv_timeout(Duration::from_secs(120)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("the PyAPNs driver did not finish within 120 s");
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "driver failed ({}):\n{stdout}\n{stderr}", output.status);
    stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

fn events<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|line| line["event"] == kind).collect()
}

#[test]
fn pyapns_sends_to_the_mock_and_reads_its_feedback() {
    let Some(python) = python() else { return };
    let pki = common::pki();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pyapns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("client.pem"), dir.join("client.key"));
    std::fs::write(&cert, &pki.client_cert_pem).unwrap();
    std::fs::write(&key, &pki.client_key_pem).unwrap();

    let bad: DeviceToken = BAD.parse().unwrap();
    // 500 ms: PyAPNs has written every notification of a phase well before the response.
    let server = MockServer::start(
        apns_mock::MockConfig::from_test_pki(&pki)
            .error_delay(Duration::from_millis(500))
            .reject(bad, Status::INVALID_TOKEN)
            .record_in_memory(1000)
            .feedback_tuples(feedback_tuples())
            .seed(11),
    )
    .unwrap();
    let chunked = MockServer::start(
        apns_mock::MockConfig::from_test_pki(&pki)
            .feedback_tuples(feedback_tuples())
            .feedback_chunks(Some(5))
            .seed(11),
    )
    .unwrap();
    let config = json!({
        "gateway": server.gateway_addr().port(),
        "feedback": server.feedback_addr().port(),
        "feedback_chunked": chunked.feedback_addr().port(),
        "cert": cert, "key": key, "good": GOOD, "bad": BAD, "expiry": EXPIRY,
    });
    let lines = run_driver(&python, &config);
    assert_eq!(lines.last().map(|line| &line["event"]), Some(&json!("done")), "{lines:#?}");

    // The listener got both error responses, with the right status and identifier.
    let responses: Vec<_> = events(&lines, "error_response")
        .iter()
        .map(|r| (r["status"].clone(), r["identifier"].clone()))
        .collect();
    assert_eq!(responses, [(json!(8), json!(3)), (json!(8), json!(10))]);

    // The mock received exactly what PyAPNs sent, in order, on two connections.
    assert!(server.wait_for(|s| s.accepted == 6 && s.rejected == 2 && s.discarded == 2, common::TIMEOUT));
    let records = server.records();
    let sent = events(&lines, "sent");
    assert_eq!(records.len(), sent.len(), "{records:#?}");
    for (record, sent) in records.iter().zip(&sent) {
        let Record { conn, command, id, token, payload, expiry, priority, outcome, status, .. } = record;
        assert_eq!(json!(id), sent["id"]);
        assert_eq!(json!(command), sent["command"]);
        assert_eq!(json!(apns_proto::to_hex(token)), sent["token"]);
        assert_eq!(json!(String::from_utf8_lossy(payload)), sent["payload"]);
        assert_eq!(json!(expiry), sent["expiry"]);
        assert_eq!(json!(priority), sent["priority"]);
        let expected = match id {
            1 | 2 | 6..=9 => (Outcome::Accepted, None),
            3 | 10 => (Outcome::Rejected, Some(Status::INVALID_TOKEN)),
            _ => (Outcome::Discarded, None),
        };
        assert_eq!((*outcome, *status), expected, "notification {id}");
        assert_eq!(*conn, if *id <= 5 { 1 } else { 2 }, "notification {id}");
    }
    assert_eq!(server.stats().connections, 2);

    // PyAPNs' reader thread dies after each error response: nothing is resent (4 and 5 are lost).
    let exceptions = events(&lines, "thread_exception");
    assert_eq!(exceptions.len(), 2, "{lines:#?}");
    for exception in &exceptions {
        assert_eq!(exception["type"], "TypeError");
        assert!(
            exception["message"].as_str().unwrap().contains("_resend_notification_by_range"),
            "{exception}"
        );
    }
    assert!(events(&lines, "worker").iter().all(|worker| worker["alive"] == false));

    // Feedback, written at once: every tuple, tokens as bytes.
    let feedback = |source: &str| -> Vec<(String, u64)> {
        events(&lines, "feedback")
            .iter()
            .filter(|item| item["source"] == source)
            .map(|item| {
                assert_eq!(item["token_type"], "bytes");
                (item["token"].as_str().unwrap().to_owned(), item["time"].as_u64().unwrap())
            })
            .collect()
    };
    let expected: Vec<_> = GOOD
        .iter()
        .chain(&[BAD])
        .enumerate()
        .map(|(i, t)| (t.to_string(), 1_600_000_000 + i as u64))
        .collect();
    assert_eq!(feedback("whole"), expected);
    assert_eq!(server.stats().feedback_connections, 1);

    // Feedback in TLS records of 1 to 5 bytes: each of PyAPNs' reads returns one record, so the
    // first read leaves fewer than 6 bytes buffered and items() ends without a single tuple, and
    // without an error.
    let partial = feedback("chunked");
    assert_eq!(partial, [], "PyAPNs now reads chunked feedback");
    assert!(chunked.wait_for(|s| s.feedback_connections == 1, common::TIMEOUT));
}
