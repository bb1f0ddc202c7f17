//! The `.p8` signing key: PKCS#8 PEM, ECDSA P-256.

use std::fmt;
use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rustls_pki_types::pem::{PemObject, SectionKind};

use crate::der;

/// The largest key file read: a `.p8` is about 250 bytes.
pub const MAX_KEY_FILE: usize = 64 * 1024;

/// DER of the OID id-ecPublicKey (1.2.840.10045.2.1).
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// DER of the OID prime256v1 / P-256 (1.2.840.10045.3.1.7).
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The algorithm of a key that is not an EC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSA (a certificate's key, not a `.p8`).
    Rsa,
    /// Ed25519.
    Ed25519,
    /// Another algorithm.
    Other,
}

/// The curve of an EC key that is not P-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Curve {
    /// P-384 (secp384r1).
    P384,
    /// P-521 (secp521r1).
    P521,
    /// secp256k1 (the Bitcoin curve).
    Secp256k1,
    /// Another curve, or explicit parameters.
    Other,
}

/// What the file held instead of a private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PemKind {
    /// A certificate.
    Certificate,
    /// A public key.
    PublicKey,
    /// A certificate signing request or revocation list.
    Other,
}

/// Why a `.p8` key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// Larger than [`MAX_KEY_FILE`]: not a `.p8`.
    #[error("the key file is {len} bytes; a .p8 key is a few hundred")]
    TooLarge {
        /// Its size.
        len: usize,
    },
    /// No PEM section at all (a `.p8` starts with `-----BEGIN PRIVATE KEY-----`).
    #[error("not a PEM file: a .p8 key starts with -----BEGIN PRIVATE KEY-----")]
    NotPem,
    /// A PEM file whose base64 or framing is broken.
    #[error("the PEM file is damaged: {0}")]
    BadPem(String),
    /// An encrypted private key; Apple's `.p8` files are not encrypted.
    #[error("the private key is encrypted; Apple's .p8 keys are not (decrypt it with `openssl pkcs8`)")]
    Encrypted,
    /// A PEM file holding something other than a private key.
    #[error("the file holds a {0:?}, not a private key")]
    NotAPrivateKey(PemKind),
    /// A private key of another algorithm (an RSA key is a certificate's, not a `.p8`).
    #[error("the key is {0:?}, not an ECDSA P-256 key as Apple's .p8 keys are")]
    WrongAlgorithm(KeyAlgorithm),
    /// An EC key on another curve.
    #[error("the key is on curve {0:?}; APNs provider tokens need P-256 (ES256)")]
    WrongCurve(Curve),
    /// A P-256 key without its public key, which the signer (ring) needs.
    #[error("the key has no embedded public key (Apple's .p8 files have one); add it with `openssl pkey -in KEY -out KEY.p8`")]
    NoPublicKey,
    /// The DER structure is not PKCS#8 (or SEC1).
    #[error("the key is not a well-formed PKCS#8 (or SEC1) EC key")]
    Malformed,
    /// ring refused the key (for example a public key that does not match the private one).
    #[error("the key was refused: {0}")]
    Rejected(ring::error::KeyRejected),
}

/// A provider-token signing key: the ECDSA P-256 private key of a `.p8` file.
///
/// A secret: `Debug` shows no key material.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl SigningKey {
    /// Loads a `.p8` file.
    pub fn from_p8_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| KeyError::Read { path: path.to_owned(), source })?;
        Self::from_p8_pem(&bytes)
    }

    /// Loads a `.p8` key from its PEM text (`-----BEGIN PRIVATE KEY-----`). A SEC1
    /// `-----BEGIN EC PRIVATE KEY-----` with its public key is taken too.
    pub fn from_p8_pem(pem: &[u8]) -> Result<Self, KeyError> {
        if pem.len() > MAX_KEY_FILE {
            return Err(KeyError::TooLarge { len: pem.len() });
        }
        let mut other = None;
        for section in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(pem) {
            let (kind, der) = section.map_err(|error| KeyError::BadPem(error.to_string()))?;
            match kind {
                SectionKind::PrivateKey => return Self::from_pkcs8_der(&der),
                SectionKind::EcPrivateKey => return Self::from_sec1_der(&der),
                SectionKind::RsaPrivateKey => return Err(KeyError::WrongAlgorithm(KeyAlgorithm::Rsa)),
                SectionKind::Certificate => other = other.or(Some(PemKind::Certificate)),
                SectionKind::PublicKey => other = other.or(Some(PemKind::PublicKey)),
                _ => other = other.or(Some(PemKind::Other)),
            }
        }
        if contains(pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(KeyError::Encrypted);
        }
        Err(other.map_or(KeyError::NotPem, KeyError::NotAPrivateKey))
    }

    /// Loads a PKCS#8 DER key (the base64 inside a `.p8`, decoded).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        check_pkcs8(der)?;
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(KeyError::Rejected)?;
        Ok(Self { pair, rng })
    }

    fn from_sec1_der(der: &[u8]) -> Result<Self, KeyError> {
        let (private, public) = read_ec_private_key(der, true)?;
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            private,
            public,
            &rng,
        )
        .map_err(KeyError::Rejected)?;
        Ok(Self { pair, rng })
    }

    /// The public key, as an uncompressed SEC1 point (65 bytes, `04 || x || y`): what verifies
    /// the tokens, and no secret.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// Signs `message` with ES256: the raw 64-byte `r || s` that JWS uses.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        let signature = self.pair.sign(&self.rng, message).map_err(|_| SignError)?;
        <[u8; 64]>::try_from(signature.as_ref()).map_err(|_| SignError)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(P-256, <redacted>)")
    }
}

/// The signer failed (ring's signing does not fail with a valid key; this is for completeness).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ES256 signing failed")]
pub struct SignError;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// Checks a PKCS#8 `PrivateKeyInfo` far enough to name what is wrong with it, before ring
/// (whose errors do not say) parses it.
fn check_pkcs8(der: &[u8]) -> Result<(), KeyError> {
    let (info, _) = der::expect(der, der::SEQUENCE).ok_or(KeyError::Malformed)?;
    let (_version, rest) = der::expect(info, der::INTEGER).ok_or(KeyError::Malformed)?;
    let (algorithm, rest) = der::expect(rest, der::SEQUENCE).ok_or(KeyError::Malformed)?;
    let (oid, parameters) = der::expect(algorithm, der::OID).ok_or(KeyError::Malformed)?;
    if oid != OID_EC_PUBLIC_KEY {
        return Err(KeyError::WrongAlgorithm(algorithm_of(oid)));
    }
    match der::expect(parameters, der::OID) {
        Some((curve, _)) if curve == OID_P256 => {}
        Some((curve, _)) => return Err(KeyError::WrongCurve(curve_of(curve))),
        None => return Err(KeyError::WrongCurve(Curve::Other)),
    }
    let (ec_private_key, _) = der::expect(rest, der::OCTET_STRING).ok_or(KeyError::Malformed)?;
    read_ec_private_key(ec_private_key, false).map(|_| ())
}

/// Reads an `ECPrivateKey` (RFC 5915): the private scalar and the public point.
fn read_ec_private_key(der: &[u8], check_curve: bool) -> Result<(&[u8], &[u8]), KeyError> {
    let (key, _) = der::expect(der, der::SEQUENCE).ok_or(KeyError::Malformed)?;
    let (_version, rest) = der::expect(key, der::INTEGER).ok_or(KeyError::Malformed)?;
    let (private, mut rest) = der::expect(rest, der::OCTET_STRING).ok_or(KeyError::Malformed)?;
    let mut public = None;
    while let Some((tag, contents, after)) = der::read(rest) {
        match tag {
            der::CONTEXT_0 if check_curve => match der::expect(contents, der::OID) {
                Some((curve, _)) if curve == OID_P256 => {}
                Some((curve, _)) => return Err(KeyError::WrongCurve(curve_of(curve))),
                None => return Err(KeyError::WrongCurve(Curve::Other)),
            },
            der::CONTEXT_1 => {
                let (bits, _) = der::expect(contents, der::BIT_STRING).ok_or(KeyError::Malformed)?;
                // No unused bits, then the point.
                public = bits.split_first().filter(|(unused, _)| **unused == 0).map(|(_, point)| point);
            }
            _ => {}
        }
        rest = after;
    }
    if private.len() != 32 {
        return Err(KeyError::Malformed);
    }
    public.map(|public| (private, public)).ok_or(KeyError::NoPublicKey)
}

fn algorithm_of(oid: &[u8]) -> KeyAlgorithm {
    match oid {
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01] => KeyAlgorithm::Rsa,
        [0x2b, 0x65, 0x70] => KeyAlgorithm::Ed25519,
        _ => KeyAlgorithm::Other,
    }
}

fn curve_of(oid: &[u8]) -> Curve {
    match oid {
        [0x2b, 0x81, 0x04, 0x00, 0x22] => Curve::P384,
        [0x2b, 0x81, 0x04, 0x00, 0x23] => Curve::P521,
        [0x2b, 0x81, 0x04, 0x00, 0x0a] => Curve::Secp256k1,
        _ => Curve::Other,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use ring::signature::{Ed25519KeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};

    use super::*;
    use crate::der::write;

    /// A P-256 key in exactly the layout of Apple's `.p8` files (150 bytes of DER:
    /// `MIGTAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBHkwdwIBAQQg…`, with the curve in `[0]` and the
    /// public key in `[1]`), built from a freshly generated key.
    pub(crate) fn apple_style_pkcs8() -> Vec<u8> {
        let rng = SystemRandom::new();
        let generated = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let (info, _) = der::expect(generated.as_ref(), der::SEQUENCE).unwrap();
        let (_, rest) = der::expect(info, der::INTEGER).unwrap();
        let (_, rest) = der::expect(rest, der::SEQUENCE).unwrap();
        let (inner, _) = der::expect(rest, der::OCTET_STRING).unwrap();
        let (private, public) = read_ec_private_key(inner, true).unwrap();
        apple_layout(private, Some(public))
    }

    pub(crate) fn apple_layout(private: &[u8], public: Option<&[u8]>) -> Vec<u8> {
        let mut ec = write(der::INTEGER, &[1]);
        ec.extend(write(der::OCTET_STRING, private));
        ec.extend(write(der::CONTEXT_0, &write(der::OID, OID_P256)));
        if let Some(public) = public {
            let mut bits = vec![0];
            bits.extend_from_slice(public);
            ec.extend(write(der::CONTEXT_1, &write(der::BIT_STRING, &bits)));
        }
        let mut algorithm = write(der::OID, OID_EC_PUBLIC_KEY);
        algorithm.extend(write(der::OID, OID_P256));
        let mut info = write(der::INTEGER, &[0]);
        info.extend(write(der::SEQUENCE, &algorithm));
        info.extend(write(der::OCTET_STRING, &write(der::SEQUENCE, &ec)));
        write(der::SEQUENCE, &info)
    }

    pub(crate) fn pem(label: &str, der: &[u8]) -> String {
        use base64::Engine;
        let text = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> =
            text.as_bytes().chunks(64).map(|chunk| std::str::from_utf8(chunk).unwrap()).collect();
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
    }

    #[test]
    fn apple_layout_loads() {
        let der = apple_style_pkcs8();
        assert_eq!(der.len(), 150);
        let text = pem("PRIVATE KEY", &der);
        assert!(
            text.starts_with("-----BEGIN PRIVATE KEY-----\nMIGTAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBHkwdwIBAQQg")
        );
        let key = SigningKey::from_p8_pem(text.as_bytes()).unwrap();
        assert_eq!(key.public_key().len(), 65);
        assert_eq!(format!("{key:?}"), "SigningKey(P-256, <redacted>)");
    }

    #[test]
    fn ring_generated_pkcs8_and_sec1_load() {
        let rng = SystemRandom::new();
        let generated = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        assert!(SigningKey::from_p8_pem(pem("PRIVATE KEY", generated.as_ref()).as_bytes()).is_ok());
        let der = apple_style_pkcs8();
        let (info, _) = der::expect(&der, der::SEQUENCE).unwrap();
        let (_, rest) = der::expect(info, der::INTEGER).unwrap();
        let (_, rest) = der::expect(rest, der::SEQUENCE).unwrap();
        let (sec1, _) = der::expect(rest, der::OCTET_STRING).unwrap();
        assert!(SigningKey::from_p8_pem(pem("EC PRIVATE KEY", sec1).as_bytes()).is_ok());
    }

    #[test]
    fn clear_errors() {
        let rng = SystemRandom::new();
        let err = |text: &[u8]| SigningKey::from_p8_pem(text).unwrap_err();
        assert!(matches!(err(b"hello"), KeyError::NotPem));
        assert!(matches!(
            err(b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n"),
            KeyError::BadPem(_)
        ));
        let p384 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
        assert!(matches!(
            err(pem("PRIVATE KEY", p384.as_ref()).as_bytes()),
            KeyError::WrongCurve(Curve::P384)
        ));
        let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        assert!(matches!(
            err(pem("PRIVATE KEY", ed.as_ref()).as_bytes()),
            KeyError::WrongAlgorithm(KeyAlgorithm::Ed25519)
        ));
        assert!(matches!(
            err(pem("RSA PRIVATE KEY", &[0x30, 0]).as_bytes()),
            KeyError::WrongAlgorithm(KeyAlgorithm::Rsa)
        ));
        assert!(matches!(
            err(pem("CERTIFICATE", &[0x30, 0]).as_bytes()),
            KeyError::NotAPrivateKey(PemKind::Certificate)
        ));
        assert!(matches!(err(pem("ENCRYPTED PRIVATE KEY", &[0x30, 0]).as_bytes()), KeyError::Encrypted));
        assert!(matches!(err(pem("PRIVATE KEY", &[0x30, 0]).as_bytes()), KeyError::Malformed));
        let no_public = apple_layout(&[7; 32], None);
        assert!(matches!(err(pem("PRIVATE KEY", &no_public).as_bytes()), KeyError::NoPublicKey));
        let mismatched = apple_layout(&[7; 32], Some(&[4; 65]));
        assert!(matches!(err(pem("PRIVATE KEY", &mismatched).as_bytes()), KeyError::Rejected(_)));
        assert!(matches!(err(&vec![b'a'; MAX_KEY_FILE + 1]), KeyError::TooLarge { .. }));
        let message = err(pem("PRIVATE KEY", p384.as_ref()).as_bytes()).to_string();
        assert!(message.contains("P-256"), "{message}");
    }
}
