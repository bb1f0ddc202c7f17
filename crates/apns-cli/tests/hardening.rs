//! The `apns` binary under conditions users meet in their own test suites: logs that say why a
//! connection failed, and the mock's limits (descriptors, idle connections, recording).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

mod common;

use common::{certs, client_tls_args, mock_args, spawn_mock, APNS};

const TOKEN: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("apns-hardening", name)
}

struct Mock {
    child: Child,
    stdout: BufReader<ChildStdout>,
    gateway: SocketAddr,
}

/// `apns mock` with the PKI in `dir`, run through `wrapper` (e.g. `prlimit ...`) if given.
fn start_mock(dir: &Path, wrapper: &[&str], extra: &[&str]) -> Mock {
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(APNS);
            command
        }
        None => Command::new(APNS),
    };
    mock_args(&mut command, dir).args(extra).stderr(Stdio::piped());
    let (child, stdout, addresses) = spawn_mock(&mut command);
    let gateway = addresses["gateway"].as_str().unwrap().parse().unwrap();
    Mock { child, stdout, gateway }
}

impl Mock {
    /// Waits for the mock to exit: its status, the rest of stdout and all of stderr.
    fn finish(&mut self) -> (Option<i32>, String, String) {
        let mut stdout = String::new();
        let _ = self.stdout.read_to_string(&mut stdout);
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        (self.child.wait().unwrap().code(), stdout, stderr)
    }
}

/// `apns send` of one notification to the mock, with the client certificate of `pki`.
fn send_one(mock: &Mock, pki: &Path) -> Command {
    let mut command = Command::new(APNS);
    command.args(["send", "--binary", "--gateway", &mock.gateway.to_string()]);
    client_tls_args(&mut command, pki)
        .args(["--token", TOKEN, "--alert", "hi"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn verbose_send_shows_the_tls_alert_of_a_refused_client_certificate() {
    let (server, stranger) = (temp_dir("alert-server"), temp_dir("alert-client"));
    certs(&server);
    certs(&stranger);
    let mock = start_mock(&server, &[], &[]);
    // The stranger's client certificate, which the mock's CA did not sign.
    let send = |verbose: &[&str]| {
        Command::new(APNS)
            .args(["send", "--binary"])
            .args(verbose)
            .args(["--gateway", &mock.gateway.to_string(), "--server-name", "localhost"])
            .arg("--cert")
            .arg(stranger.join("client.pem"))
            .arg("--key")
            .arg(stranger.join("client.key"))
            .arg("--ca")
            .arg(server.join("ca.pem"))
            .args(["--token", TOKEN, "--alert", "hi"])
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let output = send(&["-v"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refused the client certificate (TLS alert"), "{stderr}");
    assert!(!stderr.contains("\u{1b}["), "no colours when stderr is not a terminal: {stderr}");

    // Without -v, the same failure is the one summary line.
    let quiet = send(&[]);
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert!(!stderr.contains("TLS alert"), "{stderr}");
}

#[test]
fn a_record_that_cannot_be_written_stops_the_mock_with_status_1() {
    let dir = temp_dir("full");
    certs(&dir);
    let mut mock = start_mock(&dir, &[], &["--record", "/dev/full"]);
    // The mock is gone after the first record: the client need not keep reconnecting for long.
    let _ = send_one(&mock, &dir).args(["--reconnect-for", "1"]).output().unwrap();
    let (code, stdout, stderr) = mock.finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("cannot write the record /dev/full"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Out of descriptors: a client queued in the backlog meanwhile is served once descriptors are
/// available again. It sends nothing before it is accepted, so only the mock's retry of `accept`
/// can find it (edge-triggered readiness is not reported again for it).
#[test]
fn a_client_queued_past_the_descriptor_limit_is_served_later() {
    let prlimit = Command::new("prlimit").arg("--version").output();
    if !prlimit.is_ok_and(|output| output.status.success()) {
        eprintln!("skipped: prlimit (util-linux) is not installed");
        return;
    }
    let dir = temp_dir("emfile");
    certs(&dir);
    let mut mock = start_mock(&dir, &[], &["-vv"]);
    let pid = mock.child.id().to_string();
    // A failing run must not hang: the mock is killed if the test has not finished in time.
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = {
        let pid = pid.clone();
        std::thread::spawn(move || {
            if finished.recv_timeout(std::time::Duration::from_secs(30)).is_err() {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        })
    };
    let set_limit = |n: u32| {
        // The soft limit only: raising a lowered hard limit needs a privilege.
        let limit = format!("--nofile={n}:");
        assert!(Command::new("prlimit").args(["--pid", &pid, &limit]).status().unwrap().success());
    };
    // Descriptors 0 to 2 are taken: no new one can be opened.
    set_limit(3);
    let mut stderr = BufReader::new(mock.child.stderr.take().unwrap());
    let mut wait_for_log = |needle: &str| {
        let mut line = String::new();
        while !line.contains(needle) {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "the mock never logged {needle:?}");
        }
    };
    let queued = TcpStream::connect(mock.gateway).unwrap();
    wait_for_log("accept failed");
    set_limit(1024);
    wait_for_log("connection accepted");
    drop(queued);
    // Served for real, too.
    let sent = send_one(&mock, &dir).output().unwrap();
    assert_eq!(sent.status.code(), Some(0), "{}", String::from_utf8_lossy(&sent.stderr));
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let (code, stdout, _) = mock.finish();
    let _ = done.send(());
    watchdog.join().unwrap();
    assert_eq!(code, Some(0));
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["accepted"], 1);
    assert_eq!(summary["connections"], 2);
}
