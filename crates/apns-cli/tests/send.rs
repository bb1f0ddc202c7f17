//! `apns send`, `apns feedback` and `apns demo` as a user runs them, against an in-process mock.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use apns::binary::Status;
use apns::mock::{FeedbackEntry, LocalMock};
use apns::DeviceToken;

mod common;

use common::APNS;

const GOOD: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";

fn bad_token() -> DeviceToken {
    DeviceToken::new([0xba; 32])
}

struct Setup {
    mock: LocalMock,
    dir: PathBuf,
}

fn setup(name: &str) -> Setup {
    let mock = LocalMock::start_with(|config| {
        config
            .reject(bad_token(), Status::INVALID_TOKEN)
            .feedback_tuples([FeedbackEntry::new(1_600_000_000, DeviceToken::new([0xaa; 32]))])
    })
    .unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("apns-send-{name}-{}", std::process::id()));
    mock.pki().write_to(&dir).unwrap();
    Setup { mock, dir }
}

impl Setup {
    fn tls_args(&self, command: &mut Command) {
        common::client_tls_args(command, &self.dir);
    }

    fn send(&self, extra: &[&str], stdin: Option<&str>) -> Output {
        let mut command = Command::new(APNS);
        command
            .args(["send", "--binary"])
            .arg("--gateway")
            .arg(self.mock.server().gateway_addr().to_string());
        self.tls_args(&mut command);
        command.args(extra);
        run(command, stdin)
    }
}

fn run(mut command: Command, stdin: Option<&str>) -> Output {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One line naming the cause, no panic, no backtrace.
fn assert_one_clear_line(output: &Output, needle: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("apns: ") && stderr.contains(needle), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn send_one_token_json_exit_0() {
    let setup = setup("one");
    let output = setup.send(
        &["--token", GOOD, "--alert", "Hello", "--badge", "1", "--custom", r#"{"k":1}"#, "--json"],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["sent"], 1);
    assert_eq!(summary["accepted"], 1);
    assert_eq!(summary["rejected"], serde_json::json!([]));
    assert!(summary["elapsed_s"].is_number());
    assert_eq!(setup.mock.server().stats().accepted, 1);
}

#[test]
fn send_file_with_a_rejected_token_exit_1() {
    let setup = setup("file");
    let lines = format!(
        "{{\"token\":\"{GOOD}\",\"id\":1,\"alert\":\"a\"}}\n\n{{\"token\":\"{}\",\"id\":2,\"alert\":{{\"body\":\"b\",\"title\":\"t\"}}}}\n{{\"token\":\"{GOOD}\",\"id\":3,\"payload\":{{\"aps\":{{\"badge\":3}}}}}}\n",
        bad_token()
    );
    let output = setup.send(&["--file", "-", "--json"], Some(&lines));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["sent"], 3);
    assert_eq!(summary["accepted"], 2);
    assert_eq!(
        summary["rejected"],
        serde_json::json!([{"id": 2, "token": bad_token().to_string(), "status": 8, "reason": "invalid token"}])
    );
    assert_one_clear_line(&output, "2 accepted of 3: 1 rejected");
}

#[test]
fn a_bad_line_fails_the_run_or_is_skipped() {
    let setup = setup("badline");
    let lines = format!("{{\"token\":\"{GOOD}\"}}\n{{\"token\":\"abc\"}}\n");
    let output = setup.send(&["--file", "-"], Some(&lines));
    assert_eq!(output.status.code(), Some(2));
    assert_one_clear_line(&output, "-:2: device token has an odd number");
    assert_eq!(setup.mock.server().stats().accepted, 0, "nothing is sent when the run fails");
    let output = setup.send(&["--file", "-", "--skip-bad-lines", "--json"], Some(&lines));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("-:2:"));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["accepted"], 1);
}

#[test]
fn feedback_json_lines() {
    let setup = setup("feedback");
    let mut command = Command::new(APNS);
    command
        .arg("feedback")
        .arg("--feedback")
        .arg(setup.mock.server().feedback_addr().to_string())
        .arg("--json");
    setup.tls_args(&mut command);
    let output = run(command, None);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(line, serde_json::json!({"token": "aa".repeat(32), "time": 1_600_000_000}));
}

#[test]
fn usage_and_configuration_errors_exit_2_with_one_line() {
    let setup = setup("usage");
    // Neither --token nor --file: clap's usage error.
    let output = setup.send(&[], None);
    assert_eq!(output.status.code(), Some(2));
    // A missing certificate file.
    let output = run(
        {
            let mut command = Command::new(APNS);
            command.args([
                "send",
                "--binary",
                "--sandbox",
                "--cert",
                "/no/such/cert.pem",
                "--key",
                "/no/such/key.pem",
                "--token",
                GOOD,
            ]);
            command
        },
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert_one_clear_line(&output, "/no/such/cert.pem");
    // An invalid token, an oversized payload.
    let output = setup.send(&["--token", "1234"], None);
    assert_eq!(output.status.code(), Some(2));
    assert_one_clear_line(&output, "--token: device token is 2 bytes long");
    let output = setup.send(&["--token", GOOD, "--alert", &"x".repeat(3000)], None);
    assert_eq!(output.status.code(), Some(2));
    assert_one_clear_line(&output, "over the limit of 2048 bytes");
}

#[test]
fn an_unreachable_gateway_exits_1_with_one_line() {
    let setup = setup("unreachable");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut command = Command::new(APNS);
    command.args(["send", "--binary"]).arg("--gateway").arg(closed.to_string());
    setup.tls_args(&mut command);
    command.args(["--token", GOOD, "--reconnect-for", "0.5"]);
    let output = run(command, None);
    assert_eq!(output.status.code(), Some(1));
    assert_one_clear_line(&output, &format!("cannot connect to localhost:{}", closed.port()));
    assert!(text(&output.stderr).contains("refused"));
}

#[test]
fn a_handshake_failure_exits_1_with_one_line() {
    let other = setup("handshake-other");
    let setup = setup("handshake");
    let mut command = Command::new(APNS);
    command.args(["send", "--binary"]).arg("--gateway").arg(setup.mock.server().gateway_addr().to_string());
    // Trusts another CA: the server certificate cannot be verified.
    other.tls_args(&mut command);
    command.args(["--token", GOOD, "--reconnect-for", "0.5"]);
    let output = run(command, None);
    assert_eq!(output.status.code(), Some(1));
    assert_one_clear_line(&output, "cannot connect to");
}

#[test]
fn demo_reports_what_happened() {
    let output = run(
        {
            let mut command = Command::new(APNS);
            command.args(["demo", "--binary", "--count", "2000"]);
            command
        },
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("rejected         3"), "{stdout}");
    assert!(stdout.contains("invalid token (8)"), "{stdout}");
    assert!(stdout.contains("feedback service: 2 uninstalled device(s)"), "{stdout}");
    assert!(stdout.contains("none lost"), "{stdout}");
}
