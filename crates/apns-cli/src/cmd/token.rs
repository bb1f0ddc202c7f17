//! `apns token`: a fresh provider token (JWT) for Apple's HTTP/2 API, to try the API with `curl`
//! or to debug a token problem; `--decode` reads one back.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apns_auth::{DecodedToken, KeyId, SigningKey, TeamId, TokenSigner};

use super::CliError;

/// Arguments of `apns token`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The `.p8` key from Apple's developer account (`AuthKey_<key id>.p8`).
    #[arg(long, value_name = "FILE", required_unless_present = "decode")]
    key_file: Option<PathBuf>,
    /// The key's 10-character id.
    #[arg(long, value_name = "ID", required_unless_present = "decode")]
    key_id: Option<String>,
    /// The 10-character id of the developer team.
    #[arg(long, value_name = "ID", required_unless_present = "decode")]
    team_id: Option<String>,
    /// The `iat` claim in UNIX seconds (default: now).
    #[arg(long, value_name = "SECONDS")]
    issued_at: Option<u64>,
    /// Instead of making a token, print what TOKEN says (key id, team id, age) and, with
    /// --key-file, whether that key signed it.
    #[arg(long, value_name = "TOKEN", conflicts_with_all = ["key_id", "team_id", "issued_at"])]
    decode: Option<String>,
}

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let config = |error: &dyn std::fmt::Display| CliError::Config(error.to_string());
    let key = args.key_file.as_ref().map(SigningKey::from_p8_file).transpose().map_err(|e| config(&e))?;
    if let Some(token) = &args.decode {
        return decode(token, key.as_ref());
    }
    let (Some(key), Some(key_id), Some(team_id)) = (key, args.key_id, args.team_id) else {
        return Err(CliError::Config("--key-file, --key-id and --team-id are required".into()));
    };
    let key_id = KeyId::new(&key_id).map_err(|e| config(&e))?;
    let team_id = TeamId::new(&team_id).map_err(|e| config(&e))?;
    let issued_at = match args.issued_at {
        Some(seconds) => UNIX_EPOCH + Duration::from_secs(seconds),
        None => SystemTime::now(),
    };
    let token = TokenSigner::new(key, key_id, team_id)
        .sign(issued_at)
        .map_err(|error| CliError::Runtime(error.to_string()))?;
    println!("{}", token.expose_jwt());
    Ok(())
}

fn decode(token: &str, key: Option<&SigningKey>) -> Result<(), CliError> {
    let decoded = DecodedToken::parse(token).map_err(|error| CliError::Config(error.to_string()))?;
    let show = |value: Option<&str>| value.unwrap_or("(missing)").to_owned();
    println!("alg: {}", decoded.algorithm);
    println!("kid: {}", show(decoded.key_id.as_deref()));
    println!("iss: {}", show(decoded.issuer.as_deref()));
    match decoded.issued_at {
        Some(iat) => {
            let age = decoded.age(SystemTime::now()).as_secs();
            let verdict =
                if age >= 3600 { "older than an hour: Apple answers ExpiredProviderToken" } else { "fresh" };
            println!("iat: {iat} ({} min {} s old, {verdict})", age / 60, age % 60);
        }
        None => println!("iat: (missing)"),
    }
    if let Some(key) = key {
        let valid = decoded.verify(key.public_key());
        println!("signature: {}", if valid { "valid for this key" } else { "NOT made with this key" });
        if !valid {
            return Err(CliError::Runtime("the token was not signed with this key".into()));
        }
    }
    Ok(())
}
