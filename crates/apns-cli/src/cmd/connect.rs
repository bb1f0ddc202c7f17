//! What `send`, `feedback` and `demo` share: the client certificate and trust options, error
//! mapping, the outcome tally and its report.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use apns::{Builder, Outcome, Report};

use super::CliError;

/// The client certificate and the trust options.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TlsArgs {
    /// The client certificate (PEM); without --key, the file must hold the key too.
    #[arg(long, value_name = "FILE", required_unless_present = "p12", conflicts_with = "p12")]
    pub(crate) cert: Option<PathBuf>,
    /// The client certificate's private key (PEM, not encrypted).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub(crate) key: Option<PathBuf>,
    /// The client certificate and key as a PKCS#12 file (as exported by Keychain).
    #[arg(long, value_name = "FILE")]
    pub(crate) p12: Option<PathBuf>,
    /// The password of the PKCS#12 file.
    #[arg(long, value_name = "PW", default_value = "", requires = "p12")]
    pub(crate) p12_password: String,
    /// Trust this CA (PEM) instead of the public roots, e.g. the mock's ca.pem.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca: Option<PathBuf>,
    /// The name the server certificate must carry, if not the host connected to.
    #[arg(long, value_name = "NAME")]
    pub(crate) server_name: Option<String>,
}

impl TlsArgs {
    pub(crate) fn apply(&self, mut builder: Builder) -> Builder {
        if let Some(p12) = &self.p12 {
            builder = builder.p12_file(p12, self.p12_password.clone());
        }
        if let Some(cert) = &self.cert {
            builder = builder.cert_file(cert);
        }
        if let Some(key) = &self.key {
            builder = builder.key_file(key);
        }
        if let Some(ca) = &self.ca {
            builder = builder.ca_file(ca);
        }
        if let Some(name) = &self.server_name {
            builder = builder.server_name(name.clone());
        }
        // A command line should say "unreachable" within half a minute, yet ride out a gateway
        // that restarts (`apns send --reconnect-for` changes it).
        builder.reconnect_for(Duration::from_secs(30)).connect_timeout(Duration::from_secs(10))
    }
}

/// Maps a library error: what the user gave is wrong (exit 2), or running failed (exit 1).
pub(crate) fn cli_error(error: apns::Error) -> CliError {
    match error {
        apns::Error::Tls(_)
        | apns::Error::NoIdentity
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
    pub(crate) fn listen(gateway: &apns::Gateway, on_each: impl Fn() + Send + 'static) -> Arc<Mutex<Self>> {
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
        _ => apns::Status::UNKNOWN,
    };
    serde_json::json!({
        "id": report.id.get(),
        "token": report.token.to_string(),
        "status": status.0,
        "reason": status.description().unwrap_or("undocumented status"),
    })
}
