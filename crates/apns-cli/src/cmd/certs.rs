//! `apns certs --out DIR`: a test PKI as PEM files, and a provider key for token auth.

use std::path::PathBuf;

use apns_mock::certs::{ProviderKey, TestPki};

use super::CliError;

/// Arguments of `apns certs`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Directory to write ca.pem, server.pem, server.key, client.pem and client.key into, and
    /// for token auth provider.p8 (a P-256 PKCS#8 key, like Apple's .p8) with provider.json
    /// (`{"key_id","team_id","topic","key_file"}`) (created if missing; existing files are
    /// overwritten).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let pki = TestPki::generate().map_err(|error| CliError::Runtime(error.to_string()))?;
    let key = ProviderKey::generate().map_err(|error| CliError::Runtime(error.to_string()))?;
    pki.write_to(&args.out).map_err(|error| CliError::Config(error.to_string()))?;
    key.write_to(&args.out).map_err(|error| CliError::Config(error.to_string()))
}
