//! What the `apns` binary's integration tests share: a test PKI written by `apns certs`, the
//! `apns mock` started on it, and the TLS flags of a client trusting it.

// Each test binary uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

/// The binary under test.
pub(crate) const APNS: &str = env!("CARGO_BIN_EXE_apns");

/// A fresh, empty directory for one test, under the target's temporary folder.
pub(crate) fn temp_dir(prefix: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Writes a test PKI into `dir` with `apns certs`.
pub(crate) fn certs(dir: &Path) {
    let status = Command::new(APNS).arg("certs").arg("--out").arg(dir).status().unwrap();
    assert!(status.success());
}

/// Adds `mock --binary` (the binary gateway) and the server side of the PKI in `dir`
/// (certificate, key, client CA) to `command` (the `apns` binary, or a wrapper running it).
pub(crate) fn mock_args<'a>(command: &'a mut Command, dir: &Path) -> &'a mut Command {
    command
        .args(["mock", "--binary"])
        .arg("--cert")
        .arg(dir.join("server.pem"))
        .arg("--key")
        .arg(dir.join("server.key"))
        .arg("--client-ca")
        .arg(dir.join("ca.pem"))
}

/// Spawns a mock `command` with stdout piped and reads its first line, the JSON with its
/// addresses. The stdout is handed back open: the mock prints its summary there at exit.
pub(crate) fn spawn_mock(command: &mut Command) -> (Child, BufReader<ChildStdout>, serde_json::Value) {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addresses = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    (child, stdout, addresses)
}

/// Adds the client side of the PKI in `dir` (client certificate and key, the CA to trust, the
/// server's name) to an `apns send` or `apns feedback` command.
pub(crate) fn client_tls_args<'a>(command: &'a mut Command, dir: &Path) -> &'a mut Command {
    command
        .arg("--cert")
        .arg(dir.join("client.pem"))
        .arg("--key")
        .arg(dir.join("client.key"))
        .arg("--ca")
        .arg(dir.join("ca.pem"))
        .args(["--server-name", "localhost"])
}
