//! Token authentication on one connection: Apple's rules for provider tokens, as a small state
//! machine fed with the `authorization` header and the time (no clock inside).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::jwt::{ProviderPublicKey, ProviderToken};
use super::Reason;

/// The provider keys the mock knows, by key id, with the team each belongs to.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProviderKeys(pub(crate) HashMap<String, (String, ProviderPublicKey)>);

/// Apple's time rules for tokens (configurable so tests need not wait 20 minutes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenRules {
    /// Older than this: `ExpiredProviderToken` (Apple: one hour).
    pub(crate) max_age: Duration,
    /// A new token sooner than this after the previous one: `TooManyProviderTokenUpdates`
    /// (Apple: 20 minutes).
    pub(crate) min_refresh: Duration,
    /// How far in the future `iat` may be (clock skew) before the token is invalid.
    pub(crate) max_skew: Duration,
}

/// A verified token in use on the connection.
#[derive(Debug)]
struct Current {
    text: Box<str>,
    issued_at: i64,
    installed: Instant,
}

/// The token state of one connection.
#[derive(Debug, Default)]
pub(crate) struct TokenAuth {
    /// The key id of the connection's first valid token: the connection is bound to it.
    bound_key: Option<String>,
    current: Option<Current>,
    /// Tokens verified on this connection (for the counters).
    pub(crate) verifications: u64,
}

impl TokenAuth {
    /// The key id the connection is bound to, once a valid token was seen.
    pub(crate) fn key_id(&self) -> Option<&str> {
        self.bound_key.as_deref()
    }

    /// Checks the `authorization` header of a request at `now` (`unix_now` in UNIX seconds).
    pub(crate) fn handle_authorization(
        &mut self,
        header: Option<&[u8]>,
        keys: &ProviderKeys,
        rules: &TokenRules,
        now: Instant,
        unix_now: i64,
    ) -> Result<(), Reason> {
        let header = header.ok_or(Reason::MISSING_PROVIDER_TOKEN)?;
        let text = std::str::from_utf8(header).map_err(|_| Reason::INVALID_PROVIDER_TOKEN)?.trim();
        let token = match text.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(Reason::INVALID_PROVIDER_TOKEN),
        };
        let age = |issued_at: i64| u64::try_from(unix_now.saturating_sub(issued_at)).unwrap_or(0);
        if let Some(current) = &self.current {
            if *current.text == *token {
                return if age(current.issued_at) > rules.max_age.as_secs() {
                    Err(Reason::EXPIRED_PROVIDER_TOKEN)
                } else {
                    Ok(())
                };
            }
        }
        let parsed = ProviderToken::parse(token).map_err(|_| Reason::INVALID_PROVIDER_TOKEN)?;
        let (team, key) = keys.0.get(&parsed.key_id).ok_or(Reason::INVALID_PROVIDER_TOKEN)?;
        if *team != parsed.team_id {
            return Err(Reason::INVALID_PROVIDER_TOKEN);
        }
        self.verifications += 1;
        if !parsed.verify(token, key) {
            return Err(Reason::INVALID_PROVIDER_TOKEN);
        }
        let skew = i64::try_from(rules.max_skew.as_secs()).unwrap_or(i64::MAX);
        if parsed.issued_at > unix_now.saturating_add(skew) {
            return Err(Reason::INVALID_PROVIDER_TOKEN);
        }
        if age(parsed.issued_at) > rules.max_age.as_secs() {
            return Err(Reason::EXPIRED_PROVIDER_TOKEN);
        }
        if self.bound_key.as_ref().is_some_and(|bound| *bound != parsed.key_id) {
            return Err(Reason::UNRELATED_KEY_ID_IN_TOKEN);
        }
        if let Some(current) = &self.current {
            if now.saturating_duration_since(current.installed) < rules.min_refresh {
                return Err(Reason::TOO_MANY_PROVIDER_TOKEN_UPDATES);
            }
        }
        self.current = Some(Current { text: token.into(), issued_at: parsed.issued_at, installed: now });
        self.bound_key = Some(parsed.key_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

    struct Key {
        pkcs8: Vec<u8>,
        kid: &'static str,
    }

    impl Key {
        fn new(kid: &'static str) -> Self {
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
            Self { pkcs8: pkcs8.as_ref().to_vec(), kid }
        }

        fn token(&self, team: &str, iat: i64) -> String {
            let b64 = |s: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
            let rng = SystemRandom::new();
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.pkcs8, &rng).unwrap();
            let input = format!(
                "{}.{}",
                b64(format!(r#"{{"alg":"ES256","kid":"{}"}}"#, self.kid).as_bytes()),
                b64(format!(r#"{{"iss":"{team}","iat":{iat}}}"#).as_bytes())
            );
            let signature = pair.sign(&rng, input.as_bytes()).unwrap();
            format!("bearer {input}.{}", b64(signature.as_ref()))
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn apples_token_rules() {
        let (a, b, unknown) = (Key::new("KEYAAAAAAA"), Key::new("KEYBBBBBBB"), Key::new("KEYCCCCCCC"));
        let mut keys = ProviderKeys::default();
        for key in [&a, &b] {
            let public = ProviderPublicKey::from_pkcs8(&key.pkcs8).unwrap();
            keys.0.insert(key.kid.to_owned(), ("TEAM000001".to_owned(), public));
        }
        let rules = TokenRules {
            max_age: Duration::from_secs(3600),
            min_refresh: Duration::from_secs(1200),
            max_skew: Duration::from_secs(60),
        };
        let start = Instant::now();
        let mut auth = TokenAuth::default();
        let mut check = |header: Option<&str>, after_secs: u64, unix: i64| {
            auth.handle_authorization(
                header.map(str::as_bytes),
                &keys,
                &rules,
                start + Duration::from_secs(after_secs),
                unix,
            )
        };
        assert_eq!(check(None, 0, NOW), Err(Reason::MISSING_PROVIDER_TOKEN));
        assert_eq!(check(Some("basic abc"), 0, NOW), Err(Reason::INVALID_PROVIDER_TOKEN));
        assert_eq!(check(Some("bearer x.y.z"), 0, NOW), Err(Reason::INVALID_PROVIDER_TOKEN));
        assert_eq!(
            check(Some(&unknown.token("TEAM000001", NOW)), 0, NOW),
            Err(Reason::INVALID_PROVIDER_TOKEN)
        );
        assert_eq!(check(Some(&a.token("OTHERTEAM1", NOW)), 0, NOW), Err(Reason::INVALID_PROVIDER_TOKEN));
        assert_eq!(
            check(Some(&a.token("TEAM000001", NOW + 600)), 0, NOW),
            Err(Reason::INVALID_PROVIDER_TOKEN)
        );
        assert_eq!(
            check(Some(&a.token("TEAM000001", NOW - 3601)), 0, NOW),
            Err(Reason::EXPIRED_PROVIDER_TOKEN)
        );
        let first = a.token("TEAM000001", NOW - 10);
        assert_eq!(check(Some(&first), 0, NOW), Ok(()));
        assert_eq!(check(Some(&first.replacen("bearer", "Bearer", 1)), 1, NOW), Ok(()));
        // Bound to key A now.
        assert_eq!(check(Some(&b.token("TEAM000001", NOW)), 1, NOW), Err(Reason::UNRELATED_KEY_ID_IN_TOKEN));
        // A new token from the same key before 20 minutes: too many updates; after: fine.
        let second = a.token("TEAM000001", NOW + 1);
        assert_eq!(check(Some(&second), 60, NOW + 60), Err(Reason::TOO_MANY_PROVIDER_TOKEN_UPDATES));
        assert_eq!(check(Some(&first), 61, NOW + 61), Ok(()));
        assert_eq!(check(Some(&second), 1200, NOW + 1200), Ok(()));
        // The token in use grows old.
        assert_eq!(check(Some(&second), 1300, NOW + 3602), Err(Reason::EXPIRED_PROVIDER_TOKEN));
        assert_eq!(auth.key_id(), Some("KEYAAAAAAA"));
    }
}
