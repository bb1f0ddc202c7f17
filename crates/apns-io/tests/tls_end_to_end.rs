//! Client certificates end to end: RSA and ECDSA identities from PEM and PKCS#12 complete the
//! mutual-TLS handshake with the mock and deliver; TLS 1.2 works as well as 1.3; PKCS#12 files
//! as OpenSSL (and the Keychain) write them load.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use apns_io::{Client, Config, Endpoint, Identity, TlsConfig, TlsError};
use apns_mock::{MockConfig, MockServer};
use common::{notifications, Collector};
use p12_keystore::{Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const WAIT: Duration = Duration::from_secs(30);

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// A CA, a server certificate for localhost and a client certificate for `client_key`.
struct Pki {
    ca_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
    client_cert: rcgen::Certificate,
    client_key: KeyPair,
}

fn pki(client_key_file: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "apns-io test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, &ca_key);
    let server_key = KeyPair::generate().unwrap();
    let mut server_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
    let client_key = KeyPair::from_pem(&std::fs::read_to_string(data(client_key_file)).unwrap()).unwrap();
    let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params.distinguished_name.push(DnType::CommonName, "Apple Push Services: com.example.e2e");
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        server_cert_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
        client_cert,
        client_key,
    }
}

/// Sends 50 notifications with `identity` and checks every one is accepted.
fn deliver(server: &MockServer, pki: &Pki, identity: Identity) {
    let tls = TlsConfig::new().identity(identity).ca_pem(pki.ca_pem.as_bytes()).unwrap().build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let config = Config::new(Endpoint::at("localhost", server.gateway_addr()), tls)
        .max_connect_failures(2)
        .on_event(move |event| {
            let _ = tx.send(event);
        });
    let client = Client::start(config).unwrap();
    client.send_batch(notifications(50), None).unwrap();
    let summary = client.close(WAIT);
    assert!(summary.settled, "{summary:?}");
    assert_eq!(summary.counters.accepted, 50, "{summary:?}");
    let mut collector = Collector::from_receiver(rx);
    collector.drain();
    assert!(collector.exactly_one_each(1..=50).iter().all(|r| r.outcome.is_accepted()));
}

fn mock(pki: &Pki) -> MockServer {
    MockServer::start(
        MockConfig::new(&pki.server_cert_pem, &pki.server_key_pem, &pki.ca_pem).error_delay(Duration::ZERO),
    )
    .unwrap()
}

#[test]
fn pem_rsa_and_ecdsa_identities_handshake_and_deliver() {
    for (key_file, formats) in [
        ("rsa.pkcs8.pem", ["rsa.pkcs8.pem", "rsa.pkcs1.pem"]),
        ("ec.pkcs8.pem", ["ec.pkcs8.pem", "ec.sec1.pem"]),
    ] {
        let pki = pki(key_file);
        let server = mock(&pki);
        for format in formats {
            let key = std::fs::read(data(format)).unwrap();
            deliver(&server, &pki, Identity::from_pem(pki.client_cert.pem().as_bytes(), &key).unwrap());
        }
    }
}

#[test]
fn pkcs12_identity_handshakes_and_delivers() {
    for key_file in ["rsa.pkcs8.pem", "ec.pkcs8.pem"] {
        let pki = pki(key_file);
        let chain = PrivateKeyChain::new(
            b"1".as_slice(),
            PrivateKey::from_der(&pki.client_key.serialize_der()).unwrap(),
            [Certificate::from_der(pki.client_cert.der()).unwrap()],
        );
        let mut store = KeyStore::new();
        store.add_entry("push", KeyStoreEntry::PrivateKeyChain(chain));
        let p12 = store
            .writer("pw")
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .encryption_iterations(1000)
            .mac_iterations(1000)
            .write()
            .unwrap();
        let server = mock(&pki);
        deliver(&server, &pki, Identity::from_pkcs12(&p12, "pw").unwrap());
    }
}

#[test]
fn tls_1_2_works_too() {
    let pki = pki("ec.pkcs8.pem");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap()).unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .unwrap();
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(pki.server_cert_pem.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap(),
        )
        .unwrap();
    let server =
        MockServer::start(MockConfig::from_rustls(Arc::new(server_config)).error_delay(Duration::ZERO))
            .unwrap();
    let key = std::fs::read(data("ec.pkcs8.pem")).unwrap();
    deliver(&server, &pki, Identity::from_pem(pki.client_cert.pem().as_bytes(), &key).unwrap());
}

#[test]
fn openssl_pkcs12_files_load_legacy_and_modern() {
    // Written by `openssl pkcs12 -export [-legacy]`: the legacy file encrypts the certificate
    // with RC2-40 and the key with 3DES, as the macOS Keychain does; the other uses PBES2/AES-256.
    for file in ["keychain-legacy.p12", "keychain-aes.p12"] {
        let identity = Identity::from_pkcs12_file(data(file), "apns").unwrap();
        assert!(identity.subject().contains("com.example.legacy"), "{file}: {}", identity.subject());
        TlsConfig::new().identity(identity).build().unwrap();
        let err = Identity::from_pkcs12_file(data(file), "not the password").unwrap_err();
        assert!(matches!(err, TlsError::WrongPassword { .. }), "{file}: {err:?}");
        assert!(err.to_string().contains(file), "{err}");
    }
}
