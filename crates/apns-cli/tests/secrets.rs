//! The PKCS#12 password: from the command line, a file, a named variable or APNS_P12_PASSWORD,
//! with a clear error for a missing file or variable, and never in a `Debug` output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use apns::mock::{FeedbackEntry, LocalMock};
use apns::DeviceToken;
use p12_keystore::{Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const APNS: &str = env!("CARGO_BIN_EXE_apns");
const PASSWORD: &str = "correct horse battery staple";

/// The mock's PKI written out, with the client certificate and key also as `client.p12`.
fn setup(name: &str) -> (LocalMock, PathBuf) {
    let mock = LocalMock::start_with(|config| {
        config.feedback_tuples([FeedbackEntry::new(1_600_000_000, DeviceToken::new([0xaa; 32]))])
    })
    .unwrap();
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("apns-secrets-{name}-{}", std::process::id()));
    mock.pki().write_to(&dir).unwrap();
    let cert = CertificateDer::from_pem_file(dir.join("client.pem")).unwrap();
    let key = match PrivateKeyDer::from_pem_file(dir.join("client.key")).unwrap() {
        PrivateKeyDer::Pkcs8(key) => key.secret_pkcs8_der().to_vec(),
        other => panic!("unexpected key format {other:?}"),
    };
    let chain = PrivateKeyChain::new(
        b"key-1".as_slice(),
        PrivateKey::from_der(&key).unwrap(),
        [Certificate::from_der(&cert).unwrap()],
    );
    let mut store = KeyStore::new();
    store.add_entry("push", KeyStoreEntry::PrivateKeyChain(chain));
    let der = store
        .writer(PASSWORD)
        .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
        .encryption_iterations(1000)
        .mac_iterations(1000)
        .write()
        .unwrap();
    std::fs::write(dir.join("client.p12"), der).unwrap();
    (mock, dir)
}

fn feedback(mock: &LocalMock, dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(APNS);
    command
        .arg("feedback")
        .arg("--feedback")
        .arg(mock.server().feedback_addr().to_string())
        .arg("--p12")
        .arg(dir.join("client.p12"))
        .arg("--ca")
        .arg(dir.join("ca.pem"))
        .args(["--server-name", "localhost"])
        .args(extra)
        .env_remove("APNS_P12_PASSWORD");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn assert_served(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.trim(), format!("{} 1600000000", DeviceToken::new([0xaa; 32])));
}

fn assert_usage_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
    assert!(!stderr.contains(PASSWORD) && !stderr.contains("panicked"), "{stderr}");
}

#[test]
fn every_password_source_works() {
    let (mock, dir) = setup("sources");
    assert_served(&feedback(&mock, &dir, &["--p12-password", PASSWORD], &[]));

    let file = dir.join("p12-password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let file = file.to_str().unwrap();
    assert_served(&feedback(&mock, &dir, &["--p12-password-file", file], &[]));

    assert_served(&feedback(&mock, &dir, &["--p12-password-env", "MY_P12_PW"], &[("MY_P12_PW", PASSWORD)]));
    assert_served(&feedback(&mock, &dir, &[], &[("APNS_P12_PASSWORD", PASSWORD)]));
    // An explicit source wins over the default variable.
    assert_served(&feedback(&mock, &dir, &["--p12-password-file", file], &[("APNS_P12_PASSWORD", "wrong")]));

    let wrong = feedback(&mock, &dir, &[], &[("APNS_P12_PASSWORD", "wrong")]);
    assert_usage_error(&wrong, "wrong password");
}

#[test]
fn missing_sources_are_clear_errors() {
    let (mock, dir) = setup("missing");
    let missing = dir.join("no-such-file");
    let output = feedback(&mock, &dir, &["--p12-password-file", missing.to_str().unwrap()], &[]);
    assert_usage_error(&output, "cannot read");
    assert_usage_error(&output, "no-such-file");
    let output = feedback(&mock, &dir, &["--p12-password-env", "APNS_TEST_UNSET_VARIABLE"], &[]);
    assert_usage_error(&output, "APNS_TEST_UNSET_VARIABLE is not set");
    let output =
        feedback(&mock, &dir, &["--p12-password", PASSWORD, "--p12-password-env", "X"], &[("X", PASSWORD)]);
    assert_usage_error(&output, "cannot be used with");
}
