//! Client TLS configuration: the provider's identity (certificate and key) and the trust anchors
//! for the gateway's certificate.
//!
//! Apple issued each app a client certificate; the Keychain exports it with its key as a
//! password-protected PKCS#12 file (`.p12`), and many deployments convert it to PEM. Both load
//! here, in pure Rust, and are checked before any connection is attempted: the key must match
//! the certificate and the certificate must be within its validity period. Every error names the
//! file and the problem. Key material never appears in an error, a `Debug` output or a log.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore};

/// A secret such as a PKCS#12 file's password: `Debug` prints `"<redacted>"`, so that it never
/// reaches a log or a panic message through a `{:?}` of the structure holding it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl From<String> for Password {
    fn from(password: String) -> Self {
        Self(password)
    }
}

impl From<&str> for Password {
    fn from(password: &str) -> Self {
        Self(password.to_owned())
    }
}

/// Why an identity or a TLS configuration could not be loaded. Every variant names the file it
/// concerns (`<memory>` for bytes handed in directly).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The file could not be read (missing, unreadable...).
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file holds no PEM certificate (or no certificate in the PKCS#12 file).
    #[error("{path}: no certificate found")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The file holds no private key.
    #[error("{path}: no private key found (expected a PEM PKCS#8, PKCS#1 or SEC1 key)")]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The PEM key is encrypted; decrypt it first or use a PKCS#12 file with its password.
    #[error("{path}: the private key is encrypted; decrypt it (openssl pkey) or use the .p12 file with its password")]
    EncryptedKey {
        /// The file.
        path: PathBuf,
    },
    /// The PEM text is malformed.
    #[error("{path}: malformed PEM: {problem}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The PKCS#12 file could not be decrypted with the password given (or its integrity check
    /// failed).
    #[error("{path}: wrong password for the PKCS#12 file (or the file is corrupt)")]
    WrongPassword {
        /// The file.
        path: PathBuf,
    },
    /// The PKCS#12 file is malformed or uses an unsupported algorithm.
    #[error("{path}: cannot read the PKCS#12 file: {problem}")]
    Pkcs12 {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The key is of a type rustls cannot sign with.
    #[error("{path}: unsupported private key: {problem}")]
    UnsupportedKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The private key is not the key of the certificate.
    #[error("the private key in {key_path} does not match the certificate in {cert_path}")]
    KeyMismatch {
        /// The certificate file.
        cert_path: PathBuf,
        /// The key file.
        key_path: PathBuf,
    },
    /// The certificate cannot be parsed.
    #[error("{path}: invalid certificate: {problem}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The certificate's validity period ended.
    #[error("{path}: the certificate \"{subject}\" expired on {not_after} (UNIX time)")]
    Expired {
        /// The file.
        path: PathBuf,
        /// The certificate's subject.
        subject: String,
        /// End of the validity period, UNIX seconds.
        not_after: i64,
    },
    /// The certificate's validity period has not begun.
    #[error("{path}: the certificate \"{subject}\" is not valid before {not_before} (UNIX time)")]
    NotYetValid {
        /// The file.
        path: PathBuf,
        /// The certificate's subject.
        subject: String,
        /// Start of the validity period, UNIX seconds.
        not_before: i64,
    },
    /// A CA certificate could not be added to the trust anchors.
    #[error("{path}: unusable CA certificate: {problem}")]
    Ca {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Config(#[from] rustls::Error),
}

/// The ALPN protocol id of HTTP/2 over TLS (RFC 9113, section 3.2).
pub(crate) const ALPN_H2: &[u8] = b"h2";

/// The pseudo-path of bytes handed in directly.
const MEMORY: &str = "<memory>";

/// The provider's client identity: a certificate chain (leaf first) and its private key, checked
/// to match and to be within its validity period.
///
/// `Debug` shows the subject and the source files, never the key.
#[derive(Clone)]
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    subject: String,
    not_after: i64,
    source: PathBuf,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("subject", &self.subject)
            .field("chain_len", &self.chain.len())
            .field("not_after", &self.not_after)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Loads a PEM certificate chain (leaf first) from `cert_path` and a PEM private key
    /// (PKCS#8, PKCS#1 RSA or SEC1 EC) from `key_path`. They may be the same file.
    pub fn from_pem_files(cert_path: impl AsRef<Path>, key_path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
        let cert_pem = read(cert_path)?;
        let key_pem = if key_path == cert_path { cert_pem.clone() } else { read(key_path)? };
        Self::from_pem_named(&cert_pem, cert_path, &key_pem, key_path)
    }

    /// Loads a PEM file holding both the certificate chain and the private key (what PyAPNs'
    /// `cert_file` holds when no `key_file` is given).
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, TlsError> {
        Self::from_pem_files(path.as_ref(), path.as_ref())
    }

    /// Loads an identity from PEM text in memory.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        Self::from_pem_named(cert_pem, Path::new(MEMORY), key_pem, Path::new(MEMORY))
    }

    /// Loads a PKCS#12 file (`.p12`, as the Keychain exports it) with its password. Both the
    /// modern encryption (PBES2 with AES) and the legacy one (3DES, RC2) are read.
    pub fn from_pkcs12_file(path: impl AsRef<Path>, password: &str) -> Result<Self, TlsError> {
        let path = path.as_ref();
        Self::from_pkcs12_named(&read(path)?, password, path)
    }

    /// Loads a PKCS#12 archive from memory.
    pub fn from_pkcs12(der: &[u8], password: &str) -> Result<Self, TlsError> {
        Self::from_pkcs12_named(der, password, Path::new(MEMORY))
    }

    /// The subject of the leaf certificate (for logs: Apple's name the app).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// End of the leaf certificate's validity period, as a `SystemTime`.
    pub fn not_after(&self) -> SystemTime {
        let secs = u64::try_from(self.not_after).unwrap_or(0);
        UNIX_EPOCH + std::time::Duration::from_secs(secs)
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    fn from_pem_named(
        cert_pem: &[u8],
        cert_path: &Path,
        key_pem: &[u8],
        key_path: &Path,
    ) -> Result<Self, TlsError> {
        let pem_error =
            |path: &Path, e: pem::Error| TlsError::Pem { path: path.to_owned(), problem: e.to_string() };
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error(cert_path, e))?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate { path: cert_path.to_owned() });
        }
        let key = match PrivateKeyDer::from_pem_slice(key_pem) {
            Ok(key) => key,
            Err(pem::Error::NoItemsFound) => {
                let text = String::from_utf8_lossy(key_pem);
                return Err(if text.contains("ENCRYPTED") {
                    TlsError::EncryptedKey { path: key_path.to_owned() }
                } else {
                    TlsError::NoPrivateKey { path: key_path.to_owned() }
                });
            }
            Err(e) => return Err(pem_error(key_path, e)),
        };
        Self::checked(chain, key, cert_path, key_path)
    }

    fn from_pkcs12_named(der: &[u8], password: &str, path: &Path) -> Result<Self, TlsError> {
        use p12_keystore::{error::Error as P12Error, KeyStore, Pkcs12ImportPolicy};
        let store =
            KeyStore::from_pkcs12(der, password, Pkcs12ImportPolicy::Strict).map_err(|e| match e {
                P12Error::MacError(_) | P12Error::UnpadError => {
                    TlsError::WrongPassword { path: path.to_owned() }
                }
                other => TlsError::Pkcs12 { path: path.to_owned(), problem: other.to_string() },
            })?;
        let Some((_alias, chain)) = store.private_key_chain() else {
            return Err(TlsError::NoPrivateKey { path: path.to_owned() });
        };
        let certs: Vec<CertificateDer<'static>> =
            chain.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec())).collect();
        if certs.is_empty() {
            return Err(TlsError::NoCertificate { path: path.to_owned() });
        }
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
        Self::checked(certs, key, path, path)
    }

    /// Checks that the key is usable and matches the leaf, and that the leaf is valid now.
    fn checked(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<Self, TlsError> {
        let provider = provider();
        let signing_key = provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| TlsError::UnsupportedKey { path: key_path.to_owned(), problem: e.to_string() })?;
        let certified = CertifiedKey::new(chain.clone(), signing_key);
        match certified.keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(_)) => {
                return Err(TlsError::KeyMismatch {
                    cert_path: cert_path.to_owned(),
                    key_path: key_path.to_owned(),
                })
            }
            Err(e) => {
                return Err(TlsError::Certificate { path: cert_path.to_owned(), problem: e.to_string() })
            }
        }
        let leaf = chain.first().ok_or_else(|| TlsError::NoCertificate { path: cert_path.to_owned() })?;
        let (subject, not_before, not_after) = validity(leaf)
            .map_err(|problem| TlsError::Certificate { path: cert_path.to_owned(), problem })?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        if now > not_after {
            return Err(TlsError::Expired { path: cert_path.to_owned(), subject, not_after });
        }
        if now < not_before {
            return Err(TlsError::NotYetValid { path: cert_path.to_owned(), subject, not_before });
        }
        Ok(Self { chain, key: Arc::new(key), subject, not_after, source: cert_path.to_owned() })
    }
}

/// Subject, notBefore and notAfter (UNIX seconds) of a DER certificate.
fn validity(cert: &CertificateDer<'_>) -> Result<(String, i64, i64), String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|e| e.to_string())?;
    let validity = parsed.validity();
    Ok((parsed.subject().to_string(), validity.not_before.timestamp(), validity.not_after.timestamp()))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
}

/// The crypto provider every connection uses: rustls' ring backend.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls client configuration: TLS 1.3 and 1.2, the server verified against
/// Mozilla's root store (webpki-roots) or the configured CAs, and the client identity.
///
/// ```no_run
/// use apns_io::{Identity, TlsConfig};
/// let config = TlsConfig::new()
///     .identity(Identity::from_pkcs12_file("push.p12", "secret")?)
///     .build()?;
/// # Ok::<(), apns_io::TlsError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    identity: Option<Identity>,
    ca: Option<Vec<(CertificateDer<'static>, PathBuf)>>,
}

impl TlsConfig {
    /// No client identity, Mozilla's roots.
    pub fn new() -> Self {
        Self::default()
    }

    /// Presents `identity` when the server asks for a client certificate (Apple's gateway always
    /// does).
    #[must_use]
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Trusts the CA certificates of a PEM file instead of Mozilla's roots (for a mock gateway
    /// or a test PKI). May be called several times to add more.
    pub fn ca_file(self, path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let path = path.as_ref();
        let pem = read(path)?;
        self.ca_named(&pem, path)
    }

    /// Trusts the CA certificates of PEM text instead of Mozilla's roots.
    pub fn ca_pem(self, pem: &[u8]) -> Result<Self, TlsError> {
        self.ca_named(pem, Path::new(MEMORY))
    }

    fn ca_named(mut self, pem: &[u8], path: &Path) -> Result<Self, TlsError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Pem { path: path.to_owned(), problem: e.to_string() })?;
        if certs.is_empty() {
            return Err(TlsError::NoCertificate { path: path.to_owned() });
        }
        self.ca.get_or_insert_with(Vec::new).extend(certs.into_iter().map(|c| (c, path.to_owned())));
        Ok(self)
    }

    /// The rustls configuration for Apple's HTTP/2 provider API: as [`build`](Self::build),
    /// offering ALPN `h2` only. A server that negotiates anything else (or nothing) is refused
    /// after the handshake with [`ConnectError::NoHttp2`](crate::ConnectError::NoHttp2).
    pub fn build_h2(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let mut config = Arc::unwrap_or_clone(self.build()?);
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }

    /// The rustls configuration.
    pub fn build(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let mut roots = RootCertStore::empty();
        match &self.ca {
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(cas) => {
                for (cert, path) in cas {
                    roots
                        .add(cert.clone())
                        .map_err(|e| TlsError::Ca { path: path.clone(), problem: e.to_string() })?;
                }
            }
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_root_certificates(roots);
        let config = match &self.identity {
            Some(identity) => {
                builder.with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ec_identity_pem() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert =
            rcgen::CertificateParams::new(vec!["client".to_owned()]).unwrap().self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn debug_never_shows_the_key() {
        let (cert, key) = ec_identity_pem();
        let identity = Identity::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        let shown = format!("{identity:?}");
        assert!(!shown.contains("PRIVATE"), "{shown}");
        assert!(shown.contains("<memory>"));
    }

    #[test]
    fn mismatched_key_is_named() {
        let (cert, _) = ec_identity_pem();
        let (_, other_key) = ec_identity_pem();
        let err = Identity::from_pem(cert.as_bytes(), other_key.as_bytes()).unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
    }

    #[test]
    fn h2_offers_only_h2() {
        let config = TlsConfig::new().build_h2().unwrap();
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);
        assert!(TlsConfig::new().build().unwrap().alpn_protocols.is_empty());
    }

    #[test]
    fn default_roots_build() {
        let config = TlsConfig::new().build().unwrap();
        assert!(!config.client_auth_cert_resolver.has_certs());
    }
}
