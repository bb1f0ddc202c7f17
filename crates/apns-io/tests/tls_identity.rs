//! Loading client identities: PEM (RSA and ECDSA; PKCS#8, PKCS#1, SEC1) and PKCS#12, and the
//! errors a user sees for a missing file, a wrong password, a mismatched key, an expired
//! certificate.

use std::path::{Path, PathBuf};

use apns_io::{Identity, TlsConfig, TlsError};
use p12_keystore::{Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use rcgen::{CertificateParams, KeyPair};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// A fresh temporary directory for this test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("apns-io-tls-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A certificate for the PKCS#8 key in `key_file`, self-signed, with the given validity.
fn cert_for(key_file: &str, expired: bool) -> (rcgen::Certificate, KeyPair) {
    let pem = std::fs::read_to_string(data(key_file)).unwrap();
    let key = KeyPair::from_pem(&pem).unwrap();
    let mut params = CertificateParams::new(vec!["client".to_owned()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "Apple Push Services: com.example.test");
    if expired {
        params.not_before = rcgen::date_time_ymd(2001, 1, 1);
        params.not_after = rcgen::date_time_ymd(2002, 1, 1);
    }
    (params.self_signed(&key).unwrap(), key)
}

fn p12(cert: &rcgen::Certificate, key: &KeyPair, password: &str, algorithm: EncryptionAlgorithm) -> Vec<u8> {
    let chain = PrivateKeyChain::new(
        b"key-1".as_slice(),
        PrivateKey::from_der(&key.serialize_der()).unwrap(),
        [Certificate::from_der(cert.der()).unwrap()],
    );
    let mut store = KeyStore::new();
    store.add_entry("push", KeyStoreEntry::PrivateKeyChain(chain));
    store
        .writer(password)
        .encryption_algorithm(algorithm)
        .encryption_iterations(1000)
        .mac_iterations(1000)
        .write()
        .unwrap()
}

#[test]
fn pem_rsa_pkcs8_and_pkcs1() {
    let dir = temp_dir("rsa");
    let (cert, _) = cert_for("rsa.pkcs8.pem", false);
    let cert_path = dir.join("cert.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    for key in ["rsa.pkcs8.pem", "rsa.pkcs1.pem"] {
        let identity = Identity::from_pem_files(&cert_path, data(key)).unwrap();
        assert!(identity.subject().contains("com.example.test"), "{}", identity.subject());
        TlsConfig::new().identity(identity).build().unwrap();
    }
}

#[test]
fn pem_ecdsa_pkcs8_and_sec1_and_combined_file() {
    let dir = temp_dir("ec");
    let (cert, _) = cert_for("ec.pkcs8.pem", false);
    let cert_path = dir.join("cert.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    for key in ["ec.pkcs8.pem", "ec.sec1.pem"] {
        let identity = Identity::from_pem_files(&cert_path, data(key)).unwrap();
        assert_eq!(identity.chain().len(), 1);
    }
    let combined = dir.join("both.pem");
    std::fs::write(
        &combined,
        format!("{}{}", cert.pem(), std::fs::read_to_string(data("ec.sec1.pem")).unwrap()),
    )
    .unwrap();
    assert!(Identity::from_pem_file(&combined).is_ok());
}

#[test]
fn pkcs12_modern_and_legacy() {
    let (cert, key) = cert_for("rsa.pkcs8.pem", false);
    for algorithm in
        [EncryptionAlgorithm::PbeWithHmacSha256AndAes256, EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc]
    {
        let der = p12(&cert, &key, "s3cret", algorithm);
        let identity = Identity::from_pkcs12(&der, "s3cret").unwrap();
        assert!(identity.subject().contains("com.example.test"));
        TlsConfig::new().identity(identity).build().unwrap();
    }
    let (cert, key) = cert_for("ec.pkcs8.pem", false);
    let dir = temp_dir("p12");
    let path = dir.join("push.p12");
    std::fs::write(&path, p12(&cert, &key, "", EncryptionAlgorithm::PbeWithHmacSha256AndAes256)).unwrap();
    assert!(Identity::from_pkcs12_file(&path, "").is_ok());
}

#[test]
fn pkcs12_wrong_password_is_a_clear_error() {
    let (cert, key) = cert_for("ec.pkcs8.pem", false);
    let dir = temp_dir("p12-wrong");
    let path = dir.join("push.p12");
    std::fs::write(&path, p12(&cert, &key, "right", EncryptionAlgorithm::PbeWithHmacSha256AndAes256))
        .unwrap();
    for password in ["wrong", ""] {
        let err = Identity::from_pkcs12_file(&path, password).unwrap_err();
        assert!(matches!(err, TlsError::WrongPassword { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("push.p12") && message.contains("wrong password"), "{message}");
    }
    let err = Identity::from_pkcs12(b"not a p12 file", "x").unwrap_err();
    assert!(matches!(err, TlsError::Pkcs12 { .. }), "{err:?}");
}

#[test]
fn missing_file_is_named() {
    let err = Identity::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem").unwrap_err();
    assert!(matches!(err, TlsError::Read { .. }));
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
    let err = Identity::from_pkcs12_file("/nonexistent/push.p12", "x").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/push.p12"), "{err}");
    let err = TlsConfig::new().ca_file("/nonexistent/ca.pem").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

#[test]
fn key_not_matching_certificate_names_both_files() {
    let dir = temp_dir("mismatch");
    let (cert, _) = cert_for("rsa.pkcs8.pem", false);
    let cert_path = dir.join("cert.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    let err = Identity::from_pem_files(&cert_path, data("ec.pkcs8.pem")).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("cert.pem") && message.contains("ec.pkcs8.pem"), "{message}");
}

#[test]
fn expired_certificate_is_refused() {
    let dir = temp_dir("expired");
    let (cert, key) = cert_for("ec.pkcs8.pem", true);
    let cert_path = dir.join("old.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    let err = Identity::from_pem_files(&cert_path, data("ec.pkcs8.pem")).unwrap_err();
    assert!(matches!(err, TlsError::Expired { .. }), "{err:?}");
    assert!(err.to_string().contains("old.pem") && err.to_string().contains("expired"), "{err}");
    let der = p12(&cert, &key, "pw", EncryptionAlgorithm::PbeWithHmacSha256AndAes256);
    assert!(matches!(Identity::from_pkcs12(&der, "pw"), Err(TlsError::Expired { .. })));
}

#[test]
fn pem_without_key_or_certificate() {
    let (cert, _) = cert_for("ec.pkcs8.pem", false);
    let err = Identity::from_pem(cert.pem().as_bytes(), cert.pem().as_bytes()).unwrap_err();
    assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err:?}");
    let key = std::fs::read(data("ec.pkcs8.pem")).unwrap();
    let err = Identity::from_pem(&key, &key).unwrap_err();
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");
    let encrypted = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let err = Identity::from_pem(cert.pem().as_bytes(), encrypted).unwrap_err();
    assert!(matches!(err, TlsError::EncryptedKey { .. }), "{err:?}");
}

#[test]
fn ca_pem_replaces_the_default_roots() {
    let (cert, _) = cert_for("ec.pkcs8.pem", false);
    assert!(TlsConfig::new().ca_pem(cert.pem().as_bytes()).unwrap().build().is_ok());
    assert!(matches!(TlsConfig::new().ca_pem(b"nothing"), Err(TlsError::NoCertificate { .. })));
}
