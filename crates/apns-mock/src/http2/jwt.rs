//! Provider tokens: parsing the JWT of `authorization: bearer <JWT>` and verifying its ES256
//! signature with the provider's public key, independently of the client's signer.
//!
//! Strict where Apple is (ES256 only, a `kid`, an `iss`, a numeric `iat`), lenient where widely
//! used libraries depend on Apple's leniency:
//! - a `typ` header (PyJWT and `jsonwebtoken` add `"typ":"JWT"`) and any extra header or claim;
//! - base64url with or without `=` padding;
//! - an ASN.1 DER signature instead of JWS's raw `r‖s` (APNSwift signed DER for years, and
//!   Apple accepted it: kylebrowning/APNSwift#36);
//! - a fractional `iat` (truncated).

use base64::alphabet::{STANDARD, URL_SAFE};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED};
use rustls::pki_types::pem::{PemObject, SectionKind};

/// Base64url, padding optional.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// Standard base64, padding optional: the `a2` crate (0.10) encodes its tokens' parts so, and
/// Apple accepts them (a2 is used against Apple in production), so the mock does too.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A token part: base64url (RFC 7519) or, failing that, standard base64.
fn decode_part(part: &str) -> Result<Vec<u8>, TokenError> {
    BASE64URL.decode(part).or_else(|_| BASE64.decode(part)).map_err(|_| TokenError::Base64)
}

/// The longest `authorization` value looked at; real tokens are about 200 bytes.
pub const MAX_TOKEN_LEN: usize = 4096;

/// A provider's public key (P-256), which verifies the tokens it signs.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderPublicKey {
    /// The uncompressed point, `04 ‖ x ‖ y`.
    point: [u8; 65],
}

impl std::fmt::Debug for ProviderPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderPublicKey").finish_non_exhaustive()
    }
}

/// Why a provider key could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM text could not be parsed.
    #[error("invalid PEM: {0}")]
    Pem(#[from] rustls::pki_types::pem::Error),
    /// Neither a `PRIVATE KEY` (PKCS#8, like Apple's `.p8`) nor a `PUBLIC KEY` section.
    #[error("no PRIVATE KEY or PUBLIC KEY section")]
    NoKey,
    /// The key is not an ECDSA P-256 key (or its PKCS#8 lacks the public key).
    #[error("not a P-256 key: {0}")]
    NotP256(ring::error::KeyRejected),
    /// The public key is not an uncompressed P-256 point.
    #[error("not a P-256 public key")]
    NotP256Public,
}

/// The DER prefix of a P-256 `SubjectPublicKeyInfo` (id-ecPublicKey, prime256v1, a 66-byte
/// BIT STRING holding an uncompressed point).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
    0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl ProviderPublicKey {
    /// From a PEM text: the provider's `.p8` (PKCS#8 `PRIVATE KEY`) or its `PUBLIC KEY`.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(text.as_bytes()) {
            match section? {
                (SectionKind::PrivateKey, der) => return Self::from_pkcs8(&der),
                (SectionKind::PublicKey, der) => return Self::from_spki(&der),
                _ => {}
            }
        }
        Err(KeyError::NoKey)
    }

    /// From a PKCS#8 private key (DER), as in Apple's `.p8` files.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        use ring::signature::KeyPair as _;
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            der,
            &ring::rand::SystemRandom::new(),
        )
        .map_err(KeyError::NotP256)?;
        Self::from_point(pair.public_key().as_ref())
    }

    /// From a `SubjectPublicKeyInfo` (DER).
    pub fn from_spki(der: &[u8]) -> Result<Self, KeyError> {
        der.strip_prefix(&P256_SPKI_PREFIX[..]).map_or(Err(KeyError::NotP256Public), Self::from_point)
    }

    /// From an uncompressed point (`04 ‖ x ‖ y`, 65 bytes).
    pub fn from_point(point: &[u8]) -> Result<Self, KeyError> {
        match <[u8; 65]>::try_from(point) {
            Ok(point) if point[0] == 4 => Ok(Self { point }),
            _ => Err(KeyError::NotP256Public),
        }
    }

    /// Whether `signature` (raw `r‖s`, or DER) signs `message` with this key.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let algorithm =
            if signature.len() == 64 { &ECDSA_P256_SHA256_FIXED } else { &ECDSA_P256_SHA256_ASN1 };
        UnparsedPublicKey::new(algorithm, &self.point[..]).verify(message, signature).is_ok()
    }
}

/// A parsed (not yet verified) provider token.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderToken {
    /// The key id (`kid` header).
    pub key_id: String,
    /// The team id (`iss` claim).
    pub team_id: String,
    /// When it was issued (`iat` claim), UNIX seconds.
    pub issued_at: i64,
    /// `header.claims`, the bytes the signature covers.
    signing_input_len: usize,
    signature: Vec<u8>,
}

impl std::fmt::Debug for ProviderToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderToken")
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

/// Why a provider token is malformed (Apple answers each with `InvalidProviderToken`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Longer than [`MAX_TOKEN_LEN`].
    #[error("token too long")]
    TooLong,
    /// Not three dot-separated base64url parts.
    #[error("not a compact JWS")]
    NotCompact,
    /// A part is not base64url.
    #[error("not base64url")]
    Base64,
    /// The header or the claims are not a JSON object.
    #[error("header or claims are not a JSON object")]
    Json,
    /// `alg` is not `ES256`.
    #[error("alg is not ES256")]
    Algorithm,
    /// No string `kid` in the header.
    #[error("no kid")]
    KeyId,
    /// No string `iss` claim.
    #[error("no iss")]
    Issuer,
    /// No numeric `iat` claim.
    #[error("no iat")]
    IssuedAt,
}

impl ProviderToken {
    /// Parses a compact JWT (without the `bearer ` prefix).
    pub fn parse(token: &str) -> Result<Self, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLong);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::NotCompact);
        };
        let object = |part: &str| -> Result<serde_json::Map<String, serde_json::Value>, TokenError> {
            let bytes = decode_part(part)?;
            match serde_json::from_slice(&bytes) {
                Ok(serde_json::Value::Object(map)) => Ok(map),
                _ => Err(TokenError::Json),
            }
        };
        let header = object(header)?;
        let claims = object(claims)?;
        let signature = decode_part(signature)?;
        if header.get("alg").and_then(serde_json::Value::as_str) != Some("ES256") {
            return Err(TokenError::Algorithm);
        }
        let string = |map: &serde_json::Map<_, serde_json::Value>, key: &str| {
            map.get(key).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
        };
        let key_id = string(&header, "kid").ok_or(TokenError::KeyId)?;
        let team_id = string(&claims, "iss").ok_or(TokenError::Issuer)?;
        let issued_at = claims
            .get("iat")
            .and_then(|iat| iat.as_i64().or_else(|| iat.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)))
            .ok_or(TokenError::IssuedAt)?;
        let signing_input_len = token.len() - token.rsplit('.').next().map_or(0, str::len) - 1;
        Ok(Self { key_id, team_id, issued_at, signing_input_len, signature })
    }

    /// Whether the signature of `token` (the text this was parsed from) verifies with `key`.
    pub fn verify(&self, token: &str, key: &ProviderPublicKey) -> bool {
        token
            .as_bytes()
            .get(..self.signing_input_len)
            .is_some_and(|input| key.verifies(input, &self.signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_in_standard_base64_are_read_too() {
        assert_eq!(decode_part("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_part("+/8=").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_part("+/8").unwrap(), [0xfb, 0xff]);
        assert!(decode_part("*").is_err());
    }
    use ring::rand::SystemRandom;
    use ring::signature::{
        EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING,
    };

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn sign(pkcs8: &[u8], der: bool, header: &str, claims: &str) -> String {
        let alg = if der { &ECDSA_P256_SHA256_ASN1_SIGNING } else { &ECDSA_P256_SHA256_FIXED_SIGNING };
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8, &rng).unwrap();
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let signature = pair.sign(&rng, input.as_bytes()).unwrap();
        format!("{input}.{}", b64(signature.as_ref()))
    }

    #[test]
    fn verifies_fixed_and_der_signatures_and_rejects_others() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let key = ProviderPublicKey::from_pkcs8(pkcs8.as_ref()).unwrap();
        assert_eq!(key, ProviderPublicKey::from_point(pair.public_key().as_ref()).unwrap());
        let header = r#"{"alg":"ES256","kid":"ABC123DEFG","typ":"JWT"}"#;
        for der in [false, true] {
            let token = sign(pkcs8.as_ref(), der, header, r#"{"iss":"TEAM123456","iat":1700000000.5}"#);
            let parsed = ProviderToken::parse(&token).unwrap();
            assert_eq!(
                (parsed.key_id.as_str(), parsed.team_id.as_str(), parsed.issued_at),
                ("ABC123DEFG", "TEAM123456", 1_700_000_000)
            );
            assert!(parsed.verify(&token, &key));
            let mut tampered = token.clone();
            tampered.insert(5, 'A');
            assert!(ProviderToken::parse(&tampered).map_or(true, |p| !p.verify(&tampered, &key)));
        }
        let other = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let token = sign(other.as_ref(), false, header, r#"{"iss":"T","iat":1}"#);
        assert!(!ProviderToken::parse(&token).unwrap().verify(&token, &key));
    }

    #[test]
    fn malformed_tokens() {
        let part = |json: &str| b64(json.as_bytes());
        let ok_header = part(r#"{"alg":"ES256","kid":"K"}"#);
        let ok_claims = part(r#"{"iss":"T","iat":1}"#);
        let cases = [
            ("a.b".to_owned(), TokenError::NotCompact),
            ("a.b.c.d".to_owned(), TokenError::NotCompact),
            (format!("{ok_header}.{ok_claims}.!!"), TokenError::Base64),
            (format!("{}.{ok_claims}.", part("[1]")), TokenError::Json),
            (format!("{}.{ok_claims}.", part(r#"{"alg":"HS256","kid":"K"}"#)), TokenError::Algorithm),
            (format!("{}.{ok_claims}.", part(r#"{"alg":"ES256"}"#)), TokenError::KeyId),
            (format!("{ok_header}.{}.", part(r#"{"iat":1}"#)), TokenError::Issuer),
            (format!("{ok_header}.{}.", part(r#"{"iss":"T","iat":"1"}"#)), TokenError::IssuedAt),
            ("a".repeat(MAX_TOKEN_LEN + 1), TokenError::TooLong),
        ];
        for (token, error) in cases {
            assert_eq!(ProviderToken::parse(&token), Err(error), "{token}");
        }
        // Padding is tolerated.
        let padded = base64::engine::general_purpose::URL_SAFE.encode(r#"{"alg":"ES256","kid":"K"}"#);
        assert!(padded.ends_with('='));
        let padded = format!("{padded}.{ok_claims}.");
        assert!(ProviderToken::parse(&padded).is_ok());
    }

    #[test]
    fn reads_pem_keys() {
        let key = rcgen::KeyPair::generate().unwrap();
        let from_private = ProviderPublicKey::from_pem(&key.serialize_pem()).unwrap();
        let from_public = ProviderPublicKey::from_pem(&key.public_key_pem()).unwrap();
        assert_eq!(from_private, from_public);
        assert!(matches!(ProviderPublicKey::from_pem("nothing"), Err(KeyError::NoKey)));
    }
}
