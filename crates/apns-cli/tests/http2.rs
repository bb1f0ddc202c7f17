//! `apns send`, `apns channels` and `apns demo` over HTTP/2 as a user runs them, against the
//! real `apns mock` process: token and certificate auth, the JSON summary with Apple's reasons
//! and the unregistered tokens, channels created, listed, used for a broadcast and deleted.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output};

use common::{certs, spawn_mock, temp_dir, APNS};

const GOOD: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";
const BAD: &str = "ee00000000000000000000000000000000000000000000000000000000000bad";
const GONE: &str = "dd000000000000000000000000000000000000000000000000000000000000dd";
const TOPIC: &str = "com.example.mock";

/// The HTTP/2 mock with both auth modes, a rejected and an unregistered token.
struct Mock {
    dir: PathBuf,
    child: Child,
    _stdout: std::io::BufReader<ChildStdout>,
    addr: String,
    key_id: String,
    team_id: String,
}

impl Mock {
    fn start(name: &str) -> Self {
        Self::start_with(name, &[])
    }

    fn start_with(name: &str, extra: &[&str]) -> Self {
        let dir = temp_dir("apns-cli-http2", name);
        certs(&dir);
        let ids: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("provider.json")).unwrap()).unwrap();
        let (key_id, team_id) =
            (ids["key_id"].as_str().unwrap().to_owned(), ids["team_id"].as_str().unwrap().to_owned());
        let file = |name: &str| dir.join(name);
        let mut command = Command::new(APNS);
        command
            .arg("mock")
            .arg("--cert")
            .arg(file("server.pem"))
            .arg("--key")
            .arg(file("server.key"))
            .arg("--client-ca")
            .arg(file("ca.pem"))
            .arg("--provider-key")
            .arg(format!("{key_id}={}", file("provider.p8").display()))
            .args(["--team-id", &team_id, "--topic", TOPIC])
            .args([
                "--reject",
                &format!("{BAD}=BadDeviceToken"),
                "--unregistered",
                &format!("{GONE}=1700000000000"),
            ])
            .args(extra);
        let (child, stdout, addresses) = spawn_mock(&mut command);
        let addr = addresses["http2"].as_str().unwrap().to_owned();
        Self { dir, child, _stdout: stdout, addr, key_id, team_id }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `apns <subcommand>` pointed at the mock with token auth.
    fn token_command(&self, subcommand: &[&str]) -> Command {
        let mut command = Command::new(APNS);
        command.args(subcommand).args(["--gateway", &self.addr, "--server-name", "localhost"]);
        command.arg("--ca").arg(self.file("ca.pem")).arg("--key-file").arg(self.file("provider.p8"));
        command.args(["--key-id", &self.key_id, "--team-id", &self.team_id, "--topic", TOPIC]);
        command
    }

    /// `apns <subcommand>` pointed at the mock with the client certificate.
    fn cert_command(&self, subcommand: &[&str]) -> Command {
        let mut command = Command::new(APNS);
        command.args(subcommand).args(["--gateway", &self.addr]);
        common::client_tls_args(&mut command, &self.dir);
        command
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    output
}

fn json(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"))
}

fn write_lines(dir: &Path, lines: &[String]) -> PathBuf {
    let path = dir.join("notifications.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

#[test]
fn send_with_a_provider_token_reports_reasons_and_unregistered_tokens() {
    let mock = Mock::start("token");
    // One notification from flags.
    let output = run(mock.token_command(&["send"]).args(["--token", GOOD, "--alert", "hi", "--json"]));
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let summary = json(&output);
    assert_eq!((summary["sent"].as_u64(), summary["accepted"].as_u64()), (Some(1), Some(1)));
    // Many from a file, with the HTTP/2 fields.
    let lines = [
        format!(r#"{{"token":"{GOOD}","id":1,"alert":"a","priority":5,"collapse_id":"c1"}}"#),
        format!(r#"{{"token":"{BAD}","id":2,"alert":"b"}}"#),
        format!(r#"{{"token":"{GONE}","id":3,"alert":"c","expiration":0}}"#),
        format!(
            r#"{{"token":"{GOOD}","id":4,"push_type":"background","priority":5,"content_available":true}}"#
        ),
    ];
    let file = write_lines(&mock.dir, &lines);
    let output = run(mock.token_command(&["send"]).arg("--file").arg(&file).arg("--json"));
    assert_eq!(output.status.code(), Some(1), "two were refused");
    let summary = json(&output);
    for key in
        ["sent", "accepted", "rejected", "failed", "unsent", "possible_duplicates", "resent", "elapsed_s"]
    {
        assert!(summary.get(key).is_some(), "{key} in {summary}");
    }
    assert_eq!((summary["sent"].as_u64(), summary["accepted"].as_u64()), (Some(4), Some(2)));
    let rejected = summary["rejected"].as_array().unwrap();
    let by_id = |id: u64| rejected.iter().find(|r| r["id"].as_u64() == Some(id)).unwrap().clone();
    assert_eq!(by_id(2)["token"], BAD);
    assert_eq!(
        (by_id(2)["status"].as_u64(), by_id(2)["reason"].as_str()),
        (Some(400), Some("BadDeviceToken"))
    );
    assert_eq!((by_id(3)["status"].as_u64(), by_id(3)["reason"].as_str()), (Some(410), Some("Unregistered")));
    assert_eq!(by_id(3)["timestamp"].as_u64(), Some(1_700_000_000_000));
    assert_eq!(summary["reasons"], serde_json::json!({"BadDeviceToken": 1, "Unregistered": 1}));
    assert_eq!(summary["unregistered"][0]["token"], GONE);
    assert_eq!(summary["unregistered"][0]["timestamp"].as_u64(), Some(1_700_000_000_000));
    // The text summary names the reasons too.
    let output = run(mock.token_command(&["send"]).args(["--token", BAD, "--alert", "x"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("400 BadDeviceToken"));
}

#[test]
fn send_with_a_certificate_and_usage_errors() {
    let mock = Mock::start("cert");
    let output = run(mock.cert_command(&["send"]).args(["--token", GOOD, "--alert", "hi", "--json"]));
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(json(&output)["accepted"].as_u64(), Some(1));
    // Token auth without a topic, no credentials at all, a bad priority: usage errors.
    let mut no_topic = Command::new(APNS);
    no_topic
        .args(["send", "--gateway", &mock.addr, "--token", GOOD])
        .arg("--key-file")
        .arg(mock.file("provider.p8"));
    no_topic.args(["--key-id", &mock.key_id, "--team-id", &mock.team_id]);
    let output = run(&mut no_topic);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--topic"));
    // A file line without a topic, under token auth: named with its number.
    let lines = [format!(r#"{{"token":"{GOOD}","topic":"{TOPIC}"}}"#), format!(r#"{{"token":"{GOOD}"}}"#)];
    let file = write_lines(&mock.dir, &lines);
    let mut no_topic = Command::new(APNS);
    no_topic
        .args(["send", "--gateway", &mock.addr])
        .arg("--file")
        .arg(&file)
        .arg("--key-file")
        .arg(mock.file("provider.p8"));
    no_topic.args(["--key-id", &mock.key_id, "--team-id", &mock.team_id]);
    let output = run(&mut no_topic);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(":2: no \"topic\""),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = run(Command::new(APNS).args(["send", "--gateway", &mock.addr, "--token", GOOD]));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no credentials"));
    let output = run(mock.cert_command(&["send"]).args(["--token", GOOD, "--priority", "7"]));
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn channels_create_list_broadcast_delete() {
    let mock = Mock::start("channels");
    let output = run(mock.token_command(&["channels", "create"]).args(["--storage", "1"]));
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let channel = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(!channel.is_empty());
    let output = run(&mut mock.token_command(&["channels", "list"]));
    assert_eq!(String::from_utf8(output.stdout).unwrap().lines().collect::<Vec<_>>(), [channel.as_str()]);
    let output =
        run(mock.cert_command(&["channels", "read"]).args(["--channel", &channel, "--topic", TOPIC]));
    let config = json(&output);
    assert_eq!(
        (config["message-storage-policy"].as_u64(), config["push-type"].as_str()),
        (Some(1), Some("LiveActivity"))
    );
    // A broadcast on it, and on a channel that does not exist.
    let event = r#"{"aps":{"timestamp":1,"event":"update","content-state":{"score":"1-0"}}}"#;
    let output =
        run(mock.token_command(&["send"]).args(["--channel", &channel, "--payload", event, "--json"]));
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let unknown = "dHN0LXNyY2gtY2hubA==";
    let output =
        run(mock.token_command(&["send"]).args(["--channel", unknown, "--payload", event, "--json"]));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json(&output)["reasons"], serde_json::json!({"ChannelNotRegistered": 1}));
    let output = run(mock.token_command(&["channels", "delete"]).args(["--channel", &channel]));
    assert_eq!(output.status.code(), Some(0));
    let output = run(&mut mock.token_command(&["channels", "list", "--json"]));
    assert_eq!(json(&output), serde_json::json!({"channels": []}));
    let output = run(mock.token_command(&["channels", "delete"]).args(["--channel", &channel]));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("404") && stderr.contains("BadPath"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn demo_runs_over_http2() {
    let output = run(Command::new(APNS).args(["demo", "--count", "3000"]));
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "BadDeviceToken",
        "DeviceTokenNotForTopic",
        "unregistered:",
        "1700000000000",
        "GOAWAY",
        "none lost",
        "apns send --sandbox --key-file",
    ] {
        assert!(stdout.contains(expected), "{expected} in {stdout}");
    }
}

#[test]
fn sigterm_stops_a_send_waiting_for_answers_with_143_and_the_summary() {
    // Every answer takes a minute: the notifications are in flight when the signal comes.
    let mock = Mock::start_with("sigterm", &["--latency-ms", "60000"]);
    let lines: Vec<String> =
        (0..50).map(|id| format!(r#"{{"token":"{GOOD}","id":{id},"alert":"x"}}"#)).collect();
    let file = write_lines(&mock.dir, &lines);
    let mut command = mock.token_command(&["-v", "send"]);
    command.arg("--file").arg(&file).arg("--json");
    let mut client =
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let stderr = std::io::BufReader::new(client.stderr.take().unwrap());
    let mut lines = std::io::BufRead::lines(stderr).map_while(Result::ok);
    assert!(lines.any(|line| line.contains("connection established")), "the client never connected");
    let drain = std::thread::spawn(move || lines.count());
    let started = std::time::Instant::now();
    assert!(Command::new("kill").args(["-TERM", &client.id().to_string()]).status().unwrap().success());
    let mut stdout = String::new();
    std::io::Read::read_to_string(client.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    let exit = client.wait().unwrap();
    drain.join().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!(exit.code(), Some(143), "{stdout}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["interrupted"], "SIGTERM");
    assert_eq!(summary["accepted"], 0);
    let n = |key: &str| summary[key].as_u64().unwrap();
    assert_eq!(n("failed") + n("unsent"), 50, "{summary}");
}
