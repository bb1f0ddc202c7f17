//! Provider tokens checked by an independent implementation: Python's `cryptography` (OpenSSL)
//! and PyJWT verify tokens we sign, with keys cryptography generated (its own PKCS#8 layout, and
//! Apple's `.p8` layout assembled byte by byte); and we verify a token PyJWT signed.
//!
//! Needs `APNS_PYTHON`, a Python with `cryptography` and PyJWT (`cargo xtask ci` provides it).
//! Without it the test is skipped locally and fails under CI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use apns_auth::{DecodedToken, KeyId, SigningKey, TeamId, TokenSigner};

fn python() -> Option<std::ffi::OsString> {
    let python = std::env::var_os("APNS_PYTHON");
    if python.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must set APNS_PYTHON (cargo xtask ci does)");
        eprintln!("skipped: set APNS_PYTHON to a Python with cryptography and PyJWT (cargo xtask ci does)");
    }
    python
}

fn run(python: &std::ffi::OsStr, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python_es256.py");
    let output = Command::new(python).arg(script).args(args).output().expect("start APNS_PYTHON");
    assert!(output.status.success(), "python {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("apns-auth-es256-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn signer(path: &Path) -> TokenSigner {
    let key = SigningKey::from_p8_file(path).unwrap();
    TokenSigner::new(key, KeyId::new("ABC123DEFG").unwrap(), TeamId::new("DEF123GHIJ").unwrap())
}

#[test]
fn python_verifies_our_tokens_and_we_verify_pythons() {
    let Some(python) = python() else { return };
    let dir = scratch();
    let made: serde_json::Value =
        serde_json::from_str(&run(&python, &["make-keys", dir.to_str().unwrap()])).unwrap();
    assert_eq!(made["apple_der_len"], 150);
    for name in ["openssl.p8", "apple.p8"] {
        let path = dir.join(name);
        let signer = signer(&path);
        for iat in [1_700_000_000u64, 1, 4_102_444_800] {
            let token = signer.sign(UNIX_EPOCH + Duration::from_secs(iat)).unwrap();
            let checked: serde_json::Value =
                serde_json::from_str(&run(&python, &["verify", token.expose_jwt(), path.to_str().unwrap()]))
                    .unwrap();
            assert_eq!(checked["header"], serde_json::json!({"alg": "ES256", "kid": "ABC123DEFG"}), "{name}");
            assert_eq!(checked["claims"], serde_json::json!({"iss": "DEF123GHIJ", "iat": iat}), "{name}");
        }
        let theirs = run(&python, &["sign", path.to_str().unwrap()]);
        let decoded = DecodedToken::parse(&theirs).unwrap();
        assert!(decoded.verify(signer.public_key()), "{name}: PyJWT's token does not verify");
        assert_eq!(
            (decoded.key_id.as_deref(), decoded.issuer.as_deref(), decoded.issued_at),
            (Some("ABC123DEFG"), Some("DEF123GHIJ"), Some(1_700_000_000))
        );
        // A changed signature byte (well inside the last part) must not verify.
        let mut tampered = theirs.clone().into_bytes();
        let at = tampered.len() - 20;
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(!DecodedToken::parse(&tampered).unwrap().verify(signer.public_key()));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
