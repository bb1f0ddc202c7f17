//! `.p8` loading from any bytes, as PEM and as DER: no panic; a key that loads signs tokens that
//! verify with its public key.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use apns_auth::{DecodedToken, KeyId, SigningKey, TeamId, TokenSigner};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for key in [SigningKey::from_p8_pem(data), SigningKey::from_pkcs8_der(data)] {
        let Ok(key) = key else { continue };
        let signer = TokenSigner::new(key, KeyId::new("ABC123DEFG").unwrap(), TeamId::new("DEF123GHIJ").unwrap());
        let token = signer.sign(UNIX_EPOCH + Duration::from_secs(1_700_000_000)).unwrap();
        assert!(DecodedToken::parse(token.expose_jwt()).unwrap().verify(signer.public_key()));
    }
});
