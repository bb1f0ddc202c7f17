//! Issue 11, "never report delivered what the gateway did not accept": every row of its table
//! as a test of the real `apns send` against the real `apns mock`, whose `--record` is the
//! truth. Short versions run by default (a few seconds each); the full-size rows of the issue
//! are `#[ignore]`d and run by `cargo xtask soak` (or `cargo test -p apns-cli --test honest --
//! --ignored`).

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

mod common;

use common::{certs, client_tls_args, mock_args, spawn_mock, APNS};

const BAD: &str = "baba9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9dba";

fn good_token(id: u32) -> String {
    format!("{:0>64}", format!("{id:x}a"))
}

struct Run {
    dir: PathBuf,
}

impl Run {
    fn new(name: &str) -> Self {
        let dir = common::temp_dir("apns-honest", name);
        certs(&dir);
        Self { dir }
    }

    /// Starts `apns mock` recording to `record`, with `extra` fault flags.
    fn mock(&self, record: &str, gateway: &str, extra: &[&str]) -> (Child, SocketAddr) {
        let mut command = Command::new(APNS);
        mock_args(&mut command, &self.dir)
            .args(["--gateway", gateway, "--error-delay-ms", "20-80", "--reject"])
            .arg(format!("{BAD}=8"))
            .arg("--record")
            .arg(self.dir.join(record))
            .args(extra)
            .stderr(Stdio::null());
        let (child, stdout, addresses) = spawn_mock(&mut command);
        // Keep the pipe open (the mock prints its summary at exit) without reading it.
        std::mem::forget(stdout);
        (child, addresses["gateway"].as_str().unwrap().parse().unwrap())
    }

    /// Writes `count` notifications with identifiers 1..=count, `bad` with the rejected token.
    fn file(&self, count: u32, bad: Option<u32>) -> PathBuf {
        let path = self.dir.join("notifications.jsonl");
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for id in 1..=count {
            let token = if Some(id) == bad { BAD.to_owned() } else { good_token(id) };
            writeln!(file, r#"{{"token":"{token}","id":{id},"alert":"n{id}"}}"#).unwrap();
        }
        file.flush().unwrap();
        path
    }

    fn send_command(&self, gateway: SocketAddr, file: &Path, extra: &[&str]) -> Command {
        let mut command = Command::new(APNS);
        command.args(["send", "--binary"]).arg("--gateway").arg(gateway.to_string());
        client_tls_args(&mut command, &self.dir)
            .args(["--json", "--file"])
            .arg(file)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// What the mock's records say: per notification (known by its token: the identifier on the
    /// wire is the client's own numbering), how many times it was accepted; and the rejected.
    fn record(&self, names: &[&str]) -> Truth {
        let mut truth = Truth::default();
        for name in names {
            let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            for line in text.lines() {
                let record: serde_json::Value = serde_json::from_str(line).unwrap();
                let token = record["token"].as_str().unwrap().to_owned();
                match record["outcome"].as_str().unwrap() {
                    "accepted" => *truth.accepted.entry(token).or_default() += 1,
                    "rejected" if token == BAD => truth.rejected += 1,
                    _ => {}
                }
            }
        }
        truth
    }
}

#[derive(Debug, Default)]
struct Truth {
    /// Accepted, by token.
    accepted: HashMap<String, u32>,
    /// Answers to the rejected token.
    rejected: u32,
}

fn summary(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| panic!("no summary: {output:?}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn n(value: &serde_json::Value, key: &str) -> u64 {
    value[key].as_u64().unwrap_or_else(|| panic!("no {key} in {value}"))
}

/// What every row checks: the client never claims more than the record shows.
fn assert_honest(summary: &serde_json::Value, truth: &Truth) {
    // The numbers for docs/benchmarks.md (`-- --nocapture`).
    let duplicates = truth.accepted.values().filter(|&&times| times > 1).count();
    println!(
        "client: {summary}\nmock record: {} distinct accepted, {duplicates} accepted twice or more",
        truth.accepted.len()
    );
    let claimed = n(summary, "accepted");
    let shown = truth.accepted.len() as u64;
    assert!(claimed <= shown, "client says {claimed} accepted, the mock's record shows {shown}: {summary}");
    let rejected = summary["rejected"].as_array().unwrap();
    assert!(rejected.len() as u32 <= truth.rejected, "more rejections reported than the record shows");
}

/// Everything the gateway came back for was accepted: nothing lost, exit 0 unless rejected.
fn assert_nothing_lost(summary: &serde_json::Value, truth: &Truth, count: u32, bad: Option<u32>) {
    for id in 1..=count {
        if Some(id) == bad {
            assert!(truth.rejected > 0);
            continue;
        }
        assert!(
            truth.accepted.contains_key(&good_token(id)),
            "id {id} never accepted by the mock: {summary}"
        );
    }
    let expected = u64::from(count) - u64::from(bad.is_some());
    assert_eq!(n(summary, "accepted"), expected, "{summary}");
    assert_eq!((n(summary, "unconfirmed"), n(summary, "presumed_accepted")), (0, 0), "{summary}");
    let duplicates = truth.accepted.values().filter(|&&times| times > 1).count() as u64;
    assert!(
        n(summary, "possible_duplicates") >= duplicates,
        "{duplicates} duplicates not flagged: {summary}"
    );
}

fn stop(mut mock: Child) {
    let _ = mock.kill();
    let _ = mock.wait();
}

/// Row 1: a gateway that reads one notification, then nothing for ten minutes.
fn reads_one_then_stalls(count: u32, proof_timeout: &str) {
    let run = Run::new(&format!("stall-{count}"));
    let (mock, gateway) = run.mock("record.jsonl", "127.0.0.1:0", &["--stall-every", "1:600000"]);
    let file = run.file(count, None);
    let output = run.send_command(gateway, &file, &["--proof-timeout", proof_timeout]).output().unwrap();
    stop(mock);
    let summary = summary(&output);
    let truth = run.record(&["record.jsonl"]);
    assert_honest(&summary, &truth);
    assert_eq!(output.status.code(), Some(1), "{summary}");
    assert_eq!(n(&summary, "accepted"), 0, "{summary}");
    assert_eq!(n(&summary, "presumed_accepted"), 0, "{summary}");
    assert_eq!(n(&summary, "unconfirmed"), u64::from(count), "{summary}");
    assert!(truth.accepted.len() <= 2, "{:?}", truth.accepted.len());
}

/// Rows 2 and 3: a slow gateway, and a rejection far behind the first write.
fn slow_with_a_rejection(count: u32, bad: u32, stall: &str) {
    let run = Run::new(&format!("reject-{count}-{bad}"));
    let (mock, gateway) = run.mock("record.jsonl", "127.0.0.1:0", &["--stall-every", stall]);
    let file = run.file(count, Some(bad));
    let output = run.send_command(gateway, &file, &[]).output().unwrap();
    stop(mock);
    let summary = summary(&output);
    let truth = run.record(&["record.jsonl"]);
    assert_honest(&summary, &truth);
    assert_eq!(output.status.code(), Some(1), "{summary}");
    let rejected = summary["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{summary}");
    assert_eq!(rejected[0]["id"], bad);
    assert_nothing_lost(&summary, &truth, count, Some(bad));
}

/// Row 4: a slow gateway that also drops or shuts down every connection after N.
fn slow_with_drops(count: u32, stall: &str, fault: &str, every: &str) {
    let run = Run::new(&format!("fault-{fault}-{count}"));
    let (mock, gateway) = run.mock("record.jsonl", "127.0.0.1:0", &["--stall-every", stall, fault, every]);
    let file = run.file(count, None);
    let output = run.send_command(gateway, &file, &[]).output().unwrap();
    stop(mock);
    let summary = summary(&output);
    let truth = run.record(&["record.jsonl"]);
    assert_honest(&summary, &truth);
    assert_nothing_lost(&summary, &truth, count, None);
    assert_eq!(output.status.code(), Some(0), "{summary}");
}

/// Row 5: the gateway is killed mid-run and restarted on the same port.
fn killed_and_restarted(count: u32, stall: &str, kill_after: Duration) {
    let run = Run::new(&format!("kill-{count}"));
    let (first, gateway) = run.mock("first.jsonl", "127.0.0.1:0", &["--stall-every", stall]);
    let file = run.file(count, None);
    let client = run.send_command(gateway, &file, &[]).spawn().unwrap();
    std::thread::sleep(kill_after);
    stop(first); // SIGKILL
    std::thread::sleep(Duration::from_millis(500));
    let (second, _) = run.mock("second.jsonl", &gateway.to_string(), &["--stall-every", stall]);
    let output = client.wait_with_output().unwrap();
    stop(second);
    let summary = summary(&output);
    let truth = run.record(&["first.jsonl", "second.jsonl"]);
    assert_honest(&summary, &truth);
    assert_nothing_lost(&summary, &truth, count, None);
    assert_eq!(output.status.code(), Some(0), "{summary}");
}

#[test]
fn row_1_a_gateway_that_reads_one_is_never_presumed_to_have_read_the_rest() {
    reads_one_then_stalls(3_000, "2");
}

#[test]
fn row_2_a_rejection_behind_a_slow_reader_is_reported() {
    slow_with_a_rejection(3_000, 1_500, "1000:1000");
}

#[test]
fn row_3_a_late_rejection_at_6k_per_second_is_reported() {
    slow_with_a_rejection(6_000, 4_500, "1000:150");
}

#[test]
fn row_4_drops_behind_a_slow_reader_lose_nothing() {
    slow_with_drops(5_000, "1000:300", "--drop-every", "2000");
}

#[test]
fn row_4_shutdowns_behind_a_slow_reader_lose_nothing() {
    slow_with_drops(5_000, "1000:300", "--shutdown-every", "2000");
}

#[test]
fn row_5_a_killed_and_restarted_gateway_loses_nothing() {
    killed_and_restarted(8_000, "2000:500", Duration::from_secs(1));
}

/// A signal stops the run quickly, with the summary and the signal's exit status.
/// When a test sends the signal.
enum When {
    Written,
    QueueFull,
}

fn interrupted_by(signal: &str, code: i32, count: u32, when: When) -> serde_json::Value {
    let run = Run::new(&format!("signal-{signal}-{count}"));
    let (mock, gateway) = run.mock("record.jsonl", "127.0.0.1:0", &["--stall-every", "1:600000"]);
    let file = run.file(count, None);
    let mut command = run.send_command(gateway, &file, &[]);
    let mut client = command.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let stderr = std::io::BufReader::new(client.stderr.take().unwrap());
    let (waiting_tx, waiting) = std::sync::mpsc::channel();
    let drain = std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stderr).map_while(Result::ok) {
            if line.contains("waiting for room in the send queue") {
                let _ = waiting_tx.send(());
            }
        }
    });
    match when {
        // Until the notifications are written (the mock has read the first).
        When::Written => {
            let record = run.dir.join("record.jsonl");
            while std::fs::read_to_string(&record).unwrap_or_default().is_empty() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Until the sender says it waits for room.
        When::QueueFull => waiting.recv_timeout(Duration::from_secs(60)).expect("the sender never waited"),
    }
    let started = std::time::Instant::now();
    let status =
        Command::new("kill").arg(format!("-{signal}")).arg(client.id().to_string()).status().unwrap();
    assert!(status.success());
    let mut stdout = String::new();
    std::io::Read::read_to_string(client.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    let exit = client.wait().unwrap();
    drain.join().unwrap();
    stop(mock);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!(exit.code(), Some(code), "{stdout}");
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["interrupted"], format!("SIG{signal}"), "{summary}");
    assert_eq!(n(&summary, "accepted"), 0, "{summary}");
    let unknown = n(&summary, "unconfirmed") + n(&summary, "failed_unknown_fate");
    assert_eq!(
        unknown + n(&summary, "unsent") + n(&summary, "failed_never_written"),
        u64::from(count),
        "{summary}"
    );
    assert_honest(&summary, &run.record(&["record.jsonl"]));
    summary
}

#[test]
fn sigint_exits_130_with_the_summary() {
    interrupted_by("INT", 130, 2_000, When::Written);
}

#[test]
fn sigterm_exits_143_with_the_summary() {
    interrupted_by("TERM", 143, 2_000, When::Written);
}

/// More than the send queue and the buffers hold, to a gateway that stops reading: the sender
/// waits for room when the signal comes, and must still stop within seconds.
#[test]
fn a_signal_stops_a_sender_waiting_on_a_full_queue() {
    let summary = interrupted_by("INT", 130, 100_000, When::QueueFull);
    assert!(n(&summary, "unsent") > 0, "{summary}");
}

#[test]
#[ignore = "full size (about a minute): cargo xtask soak"]
fn row_1_full() {
    reads_one_then_stalls(30_000, "30");
}

#[test]
#[ignore = "full size: cargo xtask soak"]
fn row_2_full() {
    slow_with_a_rejection(20_000, 5_000, "1000:1000");
}

#[test]
#[ignore = "full size: cargo xtask soak"]
fn row_3_full() {
    slow_with_a_rejection(20_000, 15_000, "1000:150");
}

#[test]
#[ignore = "full size: cargo xtask soak"]
fn row_4_drop_full() {
    slow_with_drops(20_000, "1000:300", "--drop-every", "8000");
}

#[test]
#[ignore = "full size: cargo xtask soak"]
fn row_4_shutdown_full() {
    slow_with_drops(20_000, "1000:300", "--shutdown-every", "8000");
}

#[test]
#[ignore = "full size: cargo xtask soak"]
fn row_5_full() {
    killed_and_restarted(50_000, "2000:500", Duration::from_secs(4));
}
