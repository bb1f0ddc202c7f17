//! A throw-away PKI for tests: one CA, a server certificate and a client certificate.
//!
//! Apple's gateway required a client certificate issued by Apple; the mock requires one issued by
//! the CA it is configured with. [`TestPki::generate`] makes a fresh CA every time, so two
//! generated PKIs do not trust each other's certificates (which is how tests check that a client
//! from another CA is refused).

use std::fs;
use std::io;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A CA with a server certificate (for `localhost` and `127.0.0.1`) and a client certificate,
/// all as PEM text. The keys are ECDSA P-256.
#[derive(Clone)]
pub struct TestPki {
    /// The CA certificate: the server's trust anchor for client certificates, and the client's
    /// for the server certificate.
    pub ca_cert_pem: String,
    /// The server certificate, signed by the CA, valid for `localhost` and `127.0.0.1`.
    pub server_cert_pem: String,
    /// The server's private key (PKCS#8).
    pub server_key_pem: String,
    /// The client certificate, signed by the CA, with the client-authentication usage.
    pub client_cert_pem: String,
    /// The client's private key (PKCS#8).
    pub client_key_pem: String,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

/// Why the test PKI could not be made or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// rcgen failed to generate a key or sign a certificate.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// Writing the PEM files failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
}

/// The file names [`TestPki::write_to`] writes: CA, server certificate, server key, client
/// certificate, client key.
pub const FILE_NAMES: [&str; 5] = ["ca.pem", "server.pem", "server.key", "client.pem", "client.key"];

impl TestPki {
    /// Generates a new CA and the two certificates it signs.
    pub fn generate() -> Result<Self, CertError> {
        Self::generate_for(&[])
    }

    /// [`generate`](Self::generate), with these host names in the server certificate too
    /// (besides `localhost` and `127.0.0.1`): for clients that only connect to Apple's hosts,
    /// pointed at the mock by their resolver.
    pub fn generate_for(extra_names: &[&str]) -> Result<Self, CertError> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "apns-mock test CA");
        ca_params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, &ca_key);

        let server_key = KeyPair::generate()?;
        let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        names.extend(extra_names.iter().map(|name| (*name).to_owned()));
        let mut server_params = CertificateParams::new(names)?;
        server_params.distinguished_name.push(DnType::CommonName, "localhost");
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params.signed_by(&server_key, &issuer)?;

        let client_key = KeyPair::generate()?;
        let mut client_params = CertificateParams::new(Vec::<String>::new())?;
        // Apple's provider certificates were named like this.
        client_params.distinguished_name.push(DnType::CommonName, "Apple Push Services: com.example.mock");
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params.signed_by(&client_key, &issuer)?;

        Ok(Self {
            ca_cert_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        })
    }

    /// Writes `ca.pem`, `server.pem`, `server.key`, `client.pem` and `client.key` into `dir`,
    /// creating it (and its parents) if missing.
    pub fn write_to(&self, dir: &Path) -> Result<(), CertError> {
        let failed = |path: &Path| {
            let path = path.display().to_string();
            move |source| CertError::Write { path, source }
        };
        fs::create_dir_all(dir).map_err(failed(dir))?;
        let contents = [
            &self.ca_cert_pem,
            &self.server_cert_pem,
            &self.server_key_pem,
            &self.client_cert_pem,
            &self.client_key_pem,
        ];
        for (name, text) in FILE_NAMES.iter().zip(contents) {
            let path = dir.join(name);
            fs::write(&path, text).map_err(failed(&path))?;
        }
        Ok(())
    }

    /// The client certificate followed by its key, as one PEM text (what PyAPNs' `cert_file` may
    /// hold when no separate `key_file` is given).
    pub fn client_cert_and_key_pem(&self) -> String {
        format!("{}{}", self.client_cert_pem, self.client_key_pem)
    }
}

/// The bundle id the test client certificate names (`Apple Push Services: com.example.mock`),
/// and the topic the generated provider files suggest.
pub const TEST_BUNDLE_ID: &str = "com.example.mock";

/// The file names [`ProviderKey::write_to`] writes: the key (`.p8`, PKCS#8 PEM, like Apple's
/// `AuthKey_<KEY ID>.p8`) and `{"key_id","team_id","topic"}` as JSON.
pub const PROVIDER_FILE_NAMES: [&str; 2] = ["provider.p8", "provider.json"];

/// A provider signing key for token auth, as Apple issues them: an ECDSA P-256 key in PKCS#8
/// (the `.p8` file), a 10-character key id, and the 10-character team id it belongs to.
#[derive(Clone)]
pub struct ProviderKey {
    /// The key id (`kid` of the tokens it signs).
    pub key_id: String,
    /// The team id (`iss` of the tokens it signs).
    pub team_id: String,
    /// The private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub private_key_pem: String,
    public: crate::http2::ProviderPublicKey,
}

impl std::fmt::Debug for ProviderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderKey")
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .finish_non_exhaustive()
    }
}

impl ProviderKey {
    /// A new key with a random key id and team id.
    pub fn generate() -> Result<Self, CertError> {
        let key = KeyPair::generate()?;
        let id = || -> Result<String, CertError> {
            let mut bytes = [0u8; 10];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
                .map_err(|_| CertError::Generate(rcgen::Error::RingUnspecified))?;
            const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            Ok(bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect())
        };
        Ok(Self {
            key_id: id()?,
            team_id: id()?,
            private_key_pem: key.serialize_pem(),
            public: crate::http2::ProviderPublicKey::from_point(key.public_key_raw())
                .map_err(|_| CertError::Generate(rcgen::Error::UnsupportedSignatureAlgorithm))?,
        })
    }

    /// The public key, for the mock's [`Http2Config::provider_key`](crate::http2::Http2Config::provider_key).
    pub fn public_key(&self) -> crate::http2::ProviderPublicKey {
        self.public.clone()
    }

    /// Writes `provider.p8` and `provider.json` into `dir`, creating it if missing.
    pub fn write_to(&self, dir: &Path) -> Result<(), CertError> {
        let failed = |path: &Path| {
            let path = path.display().to_string();
            move |source| CertError::Write { path, source }
        };
        fs::create_dir_all(dir).map_err(failed(dir))?;
        let json = format!(
            "{{\"key_id\":\"{}\",\"team_id\":\"{}\",\"topic\":\"{TEST_BUNDLE_ID}\",\"key_file\":\"{}\"}}\n",
            self.key_id, self.team_id, PROVIDER_FILE_NAMES[0]
        );
        for (name, text) in PROVIDER_FILE_NAMES.iter().zip([&self.private_key_pem, &json]) {
            let path = dir.join(name);
            fs::write(&path, text).map_err(failed(&path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_pem() {
        let pki = TestPki::generate().unwrap();
        assert!(pki.ca_cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pki.server_key_pem.contains("PRIVATE KEY"));
        assert!(pki.client_cert_and_key_pem().contains("PRIVATE KEY"));
        let other = TestPki::generate().unwrap();
        assert_ne!(pki.ca_cert_pem, other.ca_cert_pem);
    }

    #[test]
    fn provider_keys() {
        let key = ProviderKey::generate().unwrap();
        assert_eq!((key.key_id.len(), key.team_id.len()), (10, 10));
        assert!(key.private_key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(
            key.public_key(),
            crate::http2::ProviderPublicKey::from_pem(&key.private_key_pem).unwrap()
        );
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }
}
