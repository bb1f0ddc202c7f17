//! The `apns` binary under conditions users meet in their own test suites: logs that say why a
//! connection failed, and the mock's limits (descriptors, idle connections, recording).

use std::io::BufReader;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

mod common;

use common::{certs, mock_args, spawn_mock, APNS};

const TOKEN: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("apns-hardening", name)
}

struct Mock {
    child: Child,
    #[allow(dead_code)]
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
            .arg("send")
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
