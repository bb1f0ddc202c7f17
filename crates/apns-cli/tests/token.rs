//! `apns token` as a user runs it: a token from a `.p8`, read back with `--decode`, and clear
//! errors for wrong input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING};

const APNS: &str = env!("CARGO_BIN_EXE_apns");

fn write_key(dir: &Path, name: &str, der: &[u8]) -> PathBuf {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let path = dir.join(name);
    std::fs::write(&path, format!("-----BEGIN PRIVATE KEY-----\n{text}\n-----END PRIVATE KEY-----\n"))
        .unwrap();
    path
}

fn dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("apns-cli-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn apns(args: &[&str]) -> Output {
    Command::new(APNS).arg("token").args(args).output().unwrap()
}

#[test]
fn token_then_decode() {
    let dir = dir();
    let rng = SystemRandom::new();
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let key = write_key(&dir, "AuthKey_ABC123DEFG.p8", der.as_ref());
    let key = key.to_str().unwrap();
    let output = apns(&[
        "--key-file",
        key,
        "--key-id",
        "ABC123DEFG",
        "--team-id",
        "DEF123GHIJ",
        "--issued-at",
        "1700000000",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).unwrap();
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3);
    assert!(token.starts_with("eyJhbGciOiJFUzI1NiIsImtpZCI6IkFCQzEyM0RFRkcifQ."));

    let decoded = apns(&["--decode", token, "--key-file", key]);
    assert!(decoded.status.success(), "{}", String::from_utf8_lossy(&decoded.stderr));
    let text = String::from_utf8(decoded.stdout).unwrap();
    assert!(text.contains("kid: ABC123DEFG") && text.contains("iss: DEF123GHIJ"), "{text}");
    assert!(text.contains("iat: 1700000000") && text.contains("ExpiredProviderToken"), "{text}");
    assert!(text.contains("signature: valid for this key"), "{text}");

    let other = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let other = write_key(&dir, "other.p8", other.as_ref());
    let wrong = apns(&["--decode", token, "--key-file", other.to_str().unwrap()]);
    assert_eq!(wrong.status.code(), Some(1));
}

#[test]
fn clear_errors() {
    let dir = dir();
    let rng = SystemRandom::new();
    let p384 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let p384 = write_key(&dir, "p384.p8", p384.as_ref());
    let cases: [(&[&str], &str); 4] = [
        (
            &["--key-file", p384.to_str().unwrap(), "--key-id", "ABC123DEFG", "--team-id", "DEF123GHIJ"],
            "P-256",
        ),
        (&["--key-file", p384.to_str().unwrap(), "--key-id", "ABC", "--team-id", "DEF123GHIJ"], "P-256"),
        (
            &["--key-file", "/nonexistent/AuthKey.p8", "--key-id", "ABC123DEFG", "--team-id", "DEF123GHIJ"],
            "cannot read",
        ),
        (&["--decode", "not-a-token"], "three parts"),
    ];
    for (args, expected) in cases {
        let output = apns(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let key = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let key = write_key(&dir, "good.p8", key.as_ref());
    let output = apns(&["--key-file", key.to_str().unwrap(), "--key-id", "abc", "--team-id", "DEF123GHIJ"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("key id"));
}
