//! `apns channels`: manage the broadcast channels of an app (iOS 18 Live Activities) on Apple's
//! channel-management API: `create`, `read`, `delete`, `list`.
//!
//! `create` prints the new channel id, `list` one id per line, `read` the channel's
//! configuration; `--json` prints one JSON object instead (`{"channel":..}`,
//! `{"channels":[..]}`, `{"channel":..,"message-storage-policy":..,"push-type":..}`,
//! `{"deleted":..}`). Exit 0 on success, 1 when APNs refuses (its reason on stderr) or cannot be
//! reached, 2 for usage errors.

use apns::channels::{ChannelError, MessageStoragePolicy};
use apns::ChannelId;

use super::connect::ConnectArgs;
use super::send::print_line;
use super::CliError;

/// Arguments of `apns channels`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

/// What every channel command takes: the app, the server, the credentials.
#[derive(Debug, clap::Args)]
struct Common {
    /// The app's bundle id.
    #[arg(long, value_name = "BUNDLE_ID")]
    topic: Option<String>,
    #[command(flatten)]
    connect: ConnectArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Create a channel; prints its id.
    Create {
        /// 0: no message stored, only connected devices get updates; 1: the most recent
        /// message is stored for devices offline.
        #[arg(long, value_name = "0|1", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
        storage: u8,
        #[command(flatten)]
        common: Common,
    },
    /// Print a channel's configuration.
    Read {
        /// The channel id.
        #[arg(long, value_name = "CHANNEL_ID")]
        channel: String,
        #[command(flatten)]
        common: Common,
    },
    /// Delete a channel.
    Delete {
        /// The channel id.
        #[arg(long, value_name = "CHANNEL_ID")]
        channel: String,
        #[command(flatten)]
        common: Common,
    },
    /// List the app's channels, one id per line.
    List {
        #[command(flatten)]
        common: Common,
    },
}

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let common = match &args.action {
        Action::Create { common, .. }
        | Action::Read { common, .. }
        | Action::Delete { common, .. }
        | Action::List { common } => common,
    };
    let topic = common
        .topic
        .as_deref()
        .ok_or_else(|| CliError::Config("--topic (the app's bundle id) is required".into()))?;
    let channel = |id: &str| id.parse::<ChannelId>().map_err(|e| CliError::Config(format!("--channel: {e}")));
    let builder = common.connect.h2_builder()?.topic(topic);
    let mut channels = builder.build_channels().map_err(super::connect::cli_error)?;
    let json = common.json;
    match &args.action {
        Action::Create { storage, .. } => {
            let id = channels.create(MessageStoragePolicy(*storage)).map_err(refused)?;
            print_line(&if json {
                serde_json::json!({ "channel": id.as_str() }).to_string()
            } else {
                id.to_string()
            })
        }
        Action::Read { channel: id, .. } => {
            let id = channel(id)?;
            let config = channels.read(&id).map_err(refused)?;
            let line = serde_json::json!({
                "channel": id.as_str(),
                "message-storage-policy": config.storage.0,
                "push-type": config.push_type,
            });
            print_line(&line.to_string())
        }
        Action::Delete { channel: id, .. } => {
            let id = channel(id)?;
            channels.delete(&id).map_err(refused)?;
            if json {
                print_line(&serde_json::json!({ "deleted": id.as_str() }).to_string())?;
            }
            Ok(())
        }
        Action::List { .. } => {
            let ids = channels.list().map_err(refused)?;
            if json {
                let ids: Vec<&str> = ids.iter().map(ChannelId::as_str).collect();
                return print_line(&serde_json::json!({ "channels": ids }).to_string());
            }
            ids.iter().try_for_each(|id| print_line(id.as_str()))
        }
    }
}

/// A failed channel request: APNs' answer with its reason, or why there was none.
fn refused(error: ChannelError) -> CliError {
    CliError::Runtime(format!("channel request failed: {error}"))
}
