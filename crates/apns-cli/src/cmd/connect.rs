//! What `send`, `feedback` and `demo` share: the client certificate and trust options, error
//! mapping, the outcome tally and its report.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use apns::binary::{BinaryBuilder as Builder, BinaryOutcome as Outcome, BinaryReport as Report};
use apns::Password;

use super::CliError;

/// Which server: Apple's production or sandbox one, or any `HOST:PORT` (a mock).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServerArgs {
    /// The server as HOST:PORT (default: Apple's production server).
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "sandbox")]
    pub(crate) gateway: Option<String>,
    /// Apple's sandbox (development) server.
    #[arg(long)]
    pub(crate) sandbox: bool,
    /// Apple's production server (the default).
    #[arg(long, conflicts_with_all = ["sandbox", "gateway"])]
    pub(crate) production: bool,
}

/// Token auth (HTTP/2): the provider key from Apple's developer portal, its id and the team's.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TokenArgs {
    /// Token auth: the provider key from Apple's developer portal (AuthKey_XXXXXXXXXX.p8).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cert", "p12"])]
    pub(crate) key_file: Option<PathBuf>,
    /// Token auth: the key's 10-character id.
    #[arg(long, value_name = "KEY_ID", requires = "key_file")]
    pub(crate) key_id: Option<String>,
    /// Token auth: your 10-character team id.
    #[arg(long, value_name = "TEAM_ID", requires = "key_file")]
    pub(crate) team_id: Option<String>,
}

/// Applies the certificate and trust flags to a builder of either protocol (they share the
/// setters' names).
macro_rules! tls_setters {
    ($tls:expr, $builder:expr) => {{
        let (tls, mut builder) = ($tls, $builder);
        if let Some(p12) = &tls.p12 {
            builder = builder.p12_file(p12, tls.p12_password());
        }
        if let Some(cert) = &tls.cert {
            builder = builder.cert_file(cert);
        }
        if let Some(key) = &tls.key {
            builder = builder.key_file(key);
        }
        if let Some(ca) = &tls.ca {
            builder = builder.ca_file(ca);
        }
        if let Some(name) = &tls.server_name {
            builder = builder.server_name(name.clone());
        }
        builder
    }};
}

/// The client certificate and the trust options.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TlsArgs {
    /// The client certificate (PEM); without --key, the file must hold the key too.
    #[arg(long, value_name = "FILE", conflicts_with = "p12")]
    pub(crate) cert: Option<PathBuf>,
    /// The client certificate's private key (PEM, not encrypted).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub(crate) key: Option<PathBuf>,
    /// The client certificate and key as a PKCS#12 file (as exported by Keychain).
    #[arg(long, value_name = "FILE")]
    pub(crate) p12: Option<PathBuf>,
    /// The password of the PKCS#12 file (visible to other users in the process list: prefer
    /// --p12-password-file, --p12-password-env or the APNS_P12_PASSWORD variable).
    #[arg(long, value_name = "PW", requires = "p12", value_parser = password_arg, group = "p12_pw")]
    pub(crate) p12_password: Option<Password>,
    /// Read the PKCS#12 password from FILE (its first line; a trailing newline is not part of it).
    #[arg(long, value_name = "FILE", requires = "p12", value_parser = password_file, group = "p12_pw")]
    pub(crate) p12_password_file: Option<Password>,
    /// Read the PKCS#12 password from the environment variable VAR.
    #[arg(long, value_name = "VAR", requires = "p12", value_parser = password_env, group = "p12_pw")]
    pub(crate) p12_password_env: Option<Password>,
    /// Trust this CA (PEM) instead of the public roots, e.g. the mock's ca.pem.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca: Option<PathBuf>,
    /// The name the server certificate must carry, if not the host connected to.
    #[arg(long, value_name = "NAME")]
    pub(crate) server_name: Option<String>,
}

impl TlsArgs {
    /// The first of --p12-password, --p12-password-file, --p12-password-env (one at most is
    /// allowed), else `APNS_P12_PASSWORD`, else empty.
    fn p12_password(&self) -> Password {
        self.p12_password
            .clone()
            .or_else(|| self.p12_password_file.clone())
            .or_else(|| self.p12_password_env.clone())
            .or_else(|| std::env::var(PASSWORD_VAR).ok().map(Password::from))
            .unwrap_or_default()
    }

    pub(crate) fn apply(&self, builder: Builder) -> Builder {
        let builder = tls_setters!(self, builder);
        // A command line should say "unreachable" within half a minute, yet ride out a gateway
        // that restarts (`apns send --reconnect-for` changes it).
        builder.reconnect_for(Duration::from_secs(30)).connect_timeout(Duration::from_secs(10))
    }
}

/// Where to connect and with which credentials: the server, token auth's key, the certificate
/// and trust options.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConnectArgs {
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    #[command(flatten)]
    pub(crate) token_key: TokenArgs,
    #[command(flatten)]
    pub(crate) tls: TlsArgs,
}

impl ConnectArgs {
    /// The facade's HTTP/2 builder for these flags.
    pub(crate) fn h2_builder(&self) -> Result<apns::Builder, CliError> {
        h2_builder(&self.server, &self.token_key, &self.tls)
    }
}

/// The facade's HTTP/2 builder for these flags: the server, the credentials (a provider key,
/// checked here so that a bad one is named by its flag, or a certificate), the trust options.
fn h2_builder(server: &ServerArgs, token: &TokenArgs, tls: &TlsArgs) -> Result<apns::Builder, CliError> {
    let mut builder = apns::Apns::builder();
    if server.sandbox {
        builder = builder.sandbox();
    }
    if let Some(gateway) = &server.gateway {
        builder = builder.gateway(gateway);
    }
    let flag = |flag: &str, why: &dyn std::fmt::Display| CliError::Config(format!("--{flag}: {why}"));
    match (&token.key_file, &token.key_id, &token.team_id) {
        (Some(path), Some(key_id), Some(team_id)) => {
            let pem = std::fs::read(path)
                .map_err(|e| flag("key-file", &format!("cannot read {}: {e}", path.display())))?;
            apns_auth::SigningKey::from_p8_pem(&pem).map_err(|e| flag("key-file", &e))?;
            apns_auth::KeyId::new(key_id).map_err(|e| flag("key-id", &e))?;
            apns_auth::TeamId::new(team_id).map_err(|e| flag("team-id", &e))?;
            builder = builder.token_key(pem, key_id.as_str(), team_id.as_str());
        }
        (Some(_), _, _) => return Err(CliError::Config("--key-file needs --key-id and --team-id".into())),
        (None, _, _) if tls.cert.is_none() && tls.p12.is_none() => {
            return Err(CliError::Config(
                "no credentials: give --key-file AuthKey.p8 --key-id ID --team-id ID (token auth), \
                 or --cert/--key or --p12 (certificate auth)"
                    .into(),
            ));
        }
        (None, _, _) => {}
    }
    Ok(tls_setters!(tls, builder).connect_timeout(Duration::from_secs(10)))
}

/// The environment variable read for the PKCS#12 password when no flag gives it.
const PASSWORD_VAR: &str = "APNS_P12_PASSWORD";

fn password_arg(text: &str) -> Result<Password, std::convert::Infallible> {
    Ok(Password::from(text))
}

fn password_file(path: &str) -> Result<Password, String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("cannot read {path}: {error}"))?;
    let line = text.split_once('\n').map_or(text.as_str(), |(line, _)| line);
    Ok(Password::from(line.strip_suffix('\r').unwrap_or(line)))
}

fn password_env(var: &str) -> Result<Password, String> {
    match std::env::var(var) {
        Ok(password) => Ok(Password::from(password)),
        Err(std::env::VarError::NotPresent) => Err(format!("the environment variable {var} is not set")),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("the environment variable {var} is not UTF-8")),
    }
}

/// Maps a library error: what the user gave is wrong (exit 2), or running failed (exit 1).
pub(crate) fn cli_error(error: apns::Error) -> CliError {
    match error {
        apns::Error::Tls(_)
        | apns::Error::NoIdentity
        | apns::Error::NoCredentials
        | apns::Error::ProviderKey(_)
        | apns::Error::Id(_)
        | apns::Error::Value(_)
        | apns::Error::Request(_)
        | apns::Error::NoTopic
        | apns::Error::Address { .. }
        | apns::Error::Token(_)
        | apns::Error::Payload(_)
        | apns::Error::Expiry(_) => CliError::Config(error.to_string()),
        _ => CliError::Runtime(error.to_string()),
    }
}

/// The rejected notifications, kept on the event-loop thread for the report (the counts come
/// from the gateway's counters).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) rejected: Vec<Report>,
    /// Failed before any write: certainly not delivered.
    pub(crate) failed_never_written: u64,
    /// Failed after a write of unknown fate: may have been delivered.
    pub(crate) failed_unknown_fate: u64,
    /// Written, fate unknown (the probe behind them went unanswered).
    pub(crate) unconfirmed: u64,
}

impl Tally {
    pub(crate) fn listen(
        gateway: &apns::binary::Gateway,
        on_each: impl Fn() + Send + 'static,
    ) -> Arc<Mutex<Self>> {
        let tally = Arc::new(Mutex::new(Self::default()));
        let shared = tally.clone();
        gateway.on_outcome(move |report| {
            let mut tally = shared.lock().unwrap_or_else(PoisonError::into_inner);
            match report.outcome {
                Outcome::Rejected(_) => tally.rejected.push(report.clone()),
                Outcome::Unconfirmed => tally.unconfirmed += 1,
                Outcome::Failed(_) if report.maybe_delivered() => tally.failed_unknown_fate += 1,
                Outcome::Failed(_) => tally.failed_never_written += 1,
                _ => {}
            }
            drop(tally);
            on_each();
        });
        tally
    }

    pub(crate) fn take(tally: &Mutex<Self>) -> Self {
        std::mem::take(&mut *tally.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// `{"id":..,"token":..,"status":..,"reason":".."}` for a rejected notification.
pub(crate) fn rejected_json(report: &Report) -> serde_json::Value {
    let status = match report.outcome {
        Outcome::Rejected(status) => status,
        _ => apns::binary::Status::UNKNOWN,
    };
    serde_json::json!({
        "id": report.id.get(),
        "token": report.token.to_string(),
        "status": status.0,
        "reason": status.description().unwrap_or("undocumented status"),
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        tls: TlsArgs,
    }

    #[test]
    fn debug_never_shows_the_p12_password() {
        let cli =
            Cli::try_parse_from(["apns", "--p12", "push.p12", "--p12-password", "hunter2-secret"]).unwrap();
        assert_eq!(cli.tls.p12_password().expose(), "hunter2-secret");
        let debug = format!("{cli:?} {:?}", cli.tls.apply(Builder::new()));
        assert!(!debug.contains("hunter2-secret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }
}
