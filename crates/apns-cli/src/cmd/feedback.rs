//! `apns feedback`: the devices the feedback service lists, one line each
//! (`TOKEN UNIX_TIME`, or `{"token":"hex","time":unix}` with `--json`).

use std::time::UNIX_EPOCH;

use apns::binary::BinaryApns as Apns;

use super::connect::{cli_error, TlsArgs};
use super::send::print_line;
use super::CliError;

/// Arguments of `apns feedback`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The feedback service as HOST:PORT (default: Apple's production service).
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "sandbox")]
    feedback: Option<String>,
    /// Apple's sandbox feedback service.
    #[arg(long)]
    sandbox: bool,
    #[command(flatten)]
    tls: TlsArgs,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let mut builder = Apns::builder();
    if args.sandbox {
        builder = builder.sandbox();
    }
    if let Some(feedback) = &args.feedback {
        builder = builder.feedback(feedback);
    }
    let apns = args.tls.apply(builder).build().map_err(cli_error)?;
    let endpoint = apns.feedback().endpoint().to_string();
    let items = apns
        .feedback()
        .items()
        .map_err(|error| CliError::Runtime(format!("feedback service {endpoint}: {}", cli_error(error))))?;
    for (token, time) in items {
        let unix = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        if args.json {
            print_line(&serde_json::json!({ "token": token.to_string(), "time": unix }).to_string())?;
        } else {
            print_line(&format!("{token} {unix}"))?;
        }
    }
    Ok(())
}
