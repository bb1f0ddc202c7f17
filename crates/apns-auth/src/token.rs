//! Provider tokens: ES256 JWTs signed with the `.p8` key.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apns_proto::http2::Authorization;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use serde::Deserialize;

use crate::{KeyId, SignError, SigningKey, TeamId};

/// What signs provider tokens: the `.p8` key, its key id and the team id.
///
/// ```
/// # fn key() -> apns_auth::SigningKey { unimplemented!() }
/// use std::time::{Duration, UNIX_EPOCH};
/// use apns_auth::{KeyId, TeamId, TokenSigner};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if true { return Ok(()) }
/// let signer = TokenSigner::new(key(), KeyId::new("ABC123DEFG")?, TeamId::new("DEF123GHIJ")?);
/// let token = signer.sign(UNIX_EPOCH + Duration::from_secs(1_700_000_000))?;
/// println!("authorization: bearer {}", token.expose_jwt());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TokenSigner {
    key: SigningKey,
    key_id: KeyId,
    team_id: TeamId,
}

impl TokenSigner {
    /// A signer for `key`, whose id is `key_id`, of the team `team_id`.
    pub fn new(key: SigningKey, key_id: KeyId, team_id: TeamId) -> Self {
        Self { key, key_id, team_id }
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The team id.
    pub fn team_id(&self) -> TeamId {
        self.team_id
    }

    /// The public key (uncompressed SEC1 point), to verify tokens with.
    pub fn public_key(&self) -> &[u8] {
        self.key.public_key()
    }

    /// Signs a token issued at `issued_at` (wall-clock time; whole seconds go into `iat`).
    /// The caller passes the time: nothing here reads a clock.
    pub fn sign(&self, issued_at: SystemTime) -> Result<ProviderToken, SignError> {
        let iat = issued_at.duration_since(UNIX_EPOCH).map_err(|_| SignError)?.as_secs();
        let header = format!(r#"{{"alg":"ES256","kid":"{}"}}"#, self.key_id);
        let claims = format!(r#"{{"iss":"{}","iat":{iat}}}"#, self.team_id);
        let mut jwt = String::with_capacity(200);
        URL_SAFE_NO_PAD.encode_string(header, &mut jwt);
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut jwt);
        let signature = self.key.sign(jwt.as_bytes())?;
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut jwt);
        Ok(ProviderToken {
            // base64url and dots: always a valid header value.
            authorization: Authorization::bearer(&jwt).map_err(|_| SignError)?,
            issued_at: UNIX_EPOCH + Duration::from_secs(iat),
            key_id: self.key_id,
        })
    }
}

/// A signed provider token and its `authorization` header value, built once and shared by every
/// request and connection (cloning is a reference count).
///
/// A secret: `Debug` shows when it was issued and by which key, never the token.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderToken {
    authorization: Authorization,
    issued_at: SystemTime,
    key_id: KeyId,
}

impl ProviderToken {
    /// The `authorization` header for requests.
    pub fn authorization(&self) -> &Authorization {
        &self.authorization
    }

    /// The JWT itself (a secret: for `curl` and debugging, not for logs).
    pub fn expose_jwt(&self) -> &str {
        let value = self.authorization.expose();
        std::str::from_utf8(value.get(7..).unwrap_or_default()).unwrap_or_default()
    }

    /// The `iat` claim as a time.
    pub fn issued_at(&self) -> SystemTime {
        self.issued_at
    }

    /// The key that signed it.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }
}

impl fmt::Debug for ProviderToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let iat = self.issued_at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        write!(f, "ProviderToken(kid {}, iat {iat}, <redacted>)", self.key_id)
    }
}

/// A provider token read back from its text, to inspect it (`apns token --decode`) or to check
/// a token made elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedToken {
    /// The header's `alg`.
    pub algorithm: String,
    /// The header's `kid`, if any.
    pub key_id: Option<String>,
    /// The `iss` claim, if any.
    pub issuer: Option<String>,
    /// The `iat` claim, if any.
    pub issued_at: Option<u64>,
    signing_input: String,
    signature: Vec<u8>,
}

/// Why a token could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Longer than [`DecodedToken::MAX_LEN`].
    #[error("the token is {len} bytes; provider tokens are about 200")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Not three dot-separated parts.
    #[error("a token has three parts separated by dots")]
    NotThreeParts,
    /// A part is not base64url.
    #[error("the token's {0} is not base64url")]
    NotBase64(&'static str),
    /// The header or claims are not a JSON object of the expected shape.
    #[error("the token's {0} is not the expected JSON")]
    NotJson(&'static str),
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct RawClaims {
    iss: Option<String>,
    iat: Option<u64>,
}

/// Deserialises a JSON object only (serde's derived structs would take an array too).
fn from_json_object<T: for<'de> Deserialize<'de>>(json: &[u8], what: &'static str) -> Result<T, JwtError> {
    if json.trim_ascii_start().first() != Some(&b'{') {
        return Err(JwtError::NotJson(what));
    }
    serde_json::from_slice(json).map_err(|_| JwtError::NotJson(what))
}

impl DecodedToken {
    /// The longest token read.
    pub const MAX_LEN: usize = 4096;

    /// Reads a JWT's header and claims (without checking the signature: see
    /// [`DecodedToken::verify`]).
    pub fn parse(token: &str) -> Result<Self, JwtError> {
        let token = token.strip_prefix("bearer ").unwrap_or(token).trim();
        if token.len() > Self::MAX_LEN {
            return Err(JwtError::TooLong { len: token.len() });
        }
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::NotThreeParts);
        };
        let decode = |part: &str, what| URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::NotBase64(what));
        let raw_header: RawHeader = from_json_object(&decode(header, "header")?, "header")?;
        let raw_claims: RawClaims = from_json_object(&decode(claims, "claims")?, "claims")?;
        Ok(Self {
            algorithm: raw_header.alg,
            key_id: raw_header.kid,
            issuer: raw_claims.iss,
            issued_at: raw_claims.iat,
            signing_input: format!("{header}.{claims}"),
            signature: decode(signature, "signature")?,
        })
    }

    /// Whether the signature is a valid ES256 signature by `public_key` (an uncompressed SEC1
    /// point, as [`SigningKey::public_key`] gives).
    pub fn verify(&self, public_key: &[u8]) -> bool {
        self.algorithm == "ES256"
            && UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_key)
                .verify(self.signing_input.as_bytes(), &self.signature)
                .is_ok()
    }

    /// How old the token is at `now` (zero if `iat` is in the future or missing).
    pub fn age(&self, now: SystemTime) -> Duration {
        let iat = UNIX_EPOCH + Duration::from_secs(self.issued_at.unwrap_or(u64::MAX / 4));
        now.duration_since(iat).unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::tests::{apple_style_pkcs8, pem};

    fn signer() -> TokenSigner {
        let key = SigningKey::from_p8_pem(pem("PRIVATE KEY", &apple_style_pkcs8()).as_bytes()).unwrap();
        TokenSigner::new(key, KeyId::new("ABC123DEFG").unwrap(), TeamId::new("DEF123GHIJ").unwrap())
    }

    #[test]
    fn header_and_claims_are_apples_and_the_signature_verifies() {
        let signer = signer();
        let token = signer.sign(UNIX_EPOCH + Duration::from_millis(1_700_000_000_900)).unwrap();
        let jwt = token.expose_jwt();
        let mut parts = jwt.split('.');
        // Golden: the first two parts are deterministic.
        assert_eq!(parts.next(), Some("eyJhbGciOiJFUzI1NiIsImtpZCI6IkFCQzEyM0RFRkcifQ"));
        assert_eq!(parts.next(), Some("eyJpc3MiOiJERUYxMjNHSElKIiwiaWF0IjoxNzAwMDAwMDAwfQ"));
        assert_eq!(URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap().len(), 64);
        let decoded = DecodedToken::parse(jwt).unwrap();
        assert_eq!(
            (
                decoded.algorithm.as_str(),
                decoded.key_id.as_deref(),
                decoded.issuer.as_deref(),
                decoded.issued_at
            ),
            ("ES256", Some("ABC123DEFG"), Some("DEF123GHIJ"), Some(1_700_000_000))
        );
        assert!(decoded.verify(signer.public_key()));
        assert!(!decoded.verify(self::signer().public_key()), "another key must not verify");
        assert_eq!(token.authorization().expose(), format!("bearer {jwt}").as_bytes());
        assert_eq!(token.issued_at(), UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let debug = format!("{token:?} {:?}", token.authorization());
        assert!(!debug.contains(jwt) && !debug.contains("eyJ"), "{debug}");
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let signer = signer();
        let jwt = signer.sign(UNIX_EPOCH + Duration::from_secs(1)).unwrap().expose_jwt().to_owned();
        let claims = URL_SAFE_NO_PAD.encode(r#"{"iss":"DEF123GHIJ","iat":2}"#);
        let parts: Vec<&str> = jwt.split('.').collect();
        let forged = format!("{}.{claims}.{}", parts[0], parts[2]);
        assert!(!DecodedToken::parse(&forged).unwrap().verify(signer.public_key()));
    }

    #[test]
    fn unreadable_tokens() {
        assert_eq!(DecodedToken::parse("a.b"), Err(JwtError::NotThreeParts));
        assert_eq!(DecodedToken::parse("a.b.c.d"), Err(JwtError::NotThreeParts));
        assert_eq!(DecodedToken::parse("!.b.c"), Err(JwtError::NotBase64("header")));
        assert_eq!(DecodedToken::parse("e30.e30.c"), Err(JwtError::NotJson("header")));
        // A JSON array with the fields in order is not a JWT header (serde's derive takes it).
        let array = URL_SAFE_NO_PAD.encode(r#"["ES256","ABC123DEFG"]"#);
        assert_eq!(DecodedToken::parse(&format!("{array}.e30.AA")), Err(JwtError::NotJson("header")));
        assert!(matches!(DecodedToken::parse(&"a".repeat(5000)), Err(JwtError::TooLong { .. })));
        assert!(signer().sign(UNIX_EPOCH - Duration::from_secs(1)).is_err());
    }
}
