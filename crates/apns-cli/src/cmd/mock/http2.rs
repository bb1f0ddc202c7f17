//! `apns mock` (without `--binary`): the mock of Apple's HTTP/2 provider API as a process, with
//! broadcast and the channel-management API on the same listener.
//!
//! Prints `{"http2":"ADDR"}` once listening, and on SIGTERM, SIGINT, `--exit-after-accepted N`
//! or `--exit-after-requests N` the summary `{"requests":..,"accepted":..,"rejected":..,
//! "connections":..}`.

use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use apns_mock::http2::{Http2Config, Http2Mock, ProviderPublicKey, Reason};
use apns_mock::DelayRange;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::{parse_delay, print_line, CliError};

/// The flags only the HTTP/2 mock takes.
#[derive(Debug, clap::Args)]
pub(crate) struct Http2Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0", conflicts_with = "binary")]
    listen: SocketAddr,
    /// Token auth: a provider key (`.p8`, or its public key PEM) and its key id (repeatable).
    #[arg(long, value_name = "KID=FILE", requires = "team_id", conflicts_with = "binary")]
    provider_key: Vec<String>,
    /// The team id the provider keys belong to (`iss` of the tokens).
    #[arg(long, value_name = "TEAM_ID", conflicts_with = "binary")]
    team_id: Option<String>,
    /// A bundle id the credentials may push to (repeatable; none: any).
    #[arg(long, value_name = "BUNDLE_ID", conflicts_with = "binary")]
    topic: Vec<String>,
    /// Answer 410 Unregistered for this token, with `timestamp` MS (default: now).
    #[arg(long, value_name = "TOKEN_HEX[=MS]", conflicts_with = "binary")]
    unregistered: Vec<String>,
    /// Register this token for one bundle id only (DeviceTokenNotForTopic for others).
    #[arg(long, value_name = "TOKEN_HEX=BUNDLE_ID", conflicts_with = "binary")]
    token_topic: Vec<String>,
    /// Behave as the sandbox: successful responses carry `apns-unique-id`.
    #[arg(long, conflicts_with = "binary")]
    sandbox: bool,
    /// SETTINGS_MAX_CONCURRENT_STREAMS advertised.
    #[arg(long, value_name = "N", default_value_t = 1000, conflicts_with = "binary")]
    max_concurrent_streams: u32,
    /// GOAWAY after every N requests of a connection.
    #[arg(long, value_name = "N", conflicts_with = "binary")]
    goaway_every: Option<u64>,
    /// RST_STREAM(REFUSED_STREAM) for every Nth request of a connection.
    #[arg(long, value_name = "N", conflicts_with = "binary")]
    refuse_stream_every: Option<u64>,
    /// Answer every Nth request of a connection with REASON (e.g. `10:ServiceUnavailable`).
    #[arg(long, value_name = "N:REASON", conflicts_with = "binary")]
    error_every: Option<String>,
    /// Answer a request with REASON with probability P (e.g. `0.01:TooManyRequests`).
    #[arg(long, value_name = "P:REASON", conflicts_with = "binary")]
    error_probability: Option<String>,
    /// Delay each response by MS, fixed or a range drawn per request (`0-5`).
    #[arg(long, value_name = "MIN[-MAX]", value_parser = parse_delay, conflicts_with = "binary")]
    latency_ms: Option<DelayRange>,
    /// A connection may change its provider token at most every SECS (Apple: 1200).
    #[arg(long, value_name = "SECS", conflicts_with = "binary")]
    token_min_refresh_secs: Option<u64>,
    /// Stop (printing the summary) once N requests were answered or settled.
    #[arg(long, value_name = "N", conflicts_with = "binary")]
    exit_after_requests: Option<u64>,
}

pub(crate) fn run(args: super::Args) -> Result<(), CliError> {
    let exit_after = (args.exit_after_accepted, args.http2_args.exit_after_requests);
    let config = config(args)?;
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|error| CliError::Runtime(format!("cannot handle signals: {error}")))?;
    let mock = Http2Mock::start(config).map_err(|error| match error {
        apns_mock::MockError::Bind { .. } | apns_mock::MockError::Io(_) => {
            CliError::Runtime(error.to_string())
        }
        _ => CliError::Config(error.to_string()),
    })?;
    let stop = mock.stop_handle();
    let signal_handle = signals.handle();
    let watcher = std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            stop.stop();
        }
    });
    print_line(&serde_json::json!({ "http2": mock.addr().to_string() }).to_string())?;
    mock.wait_for(
        |stats| {
            exit_after.0.is_some_and(|n| stats.accepted >= n)
                || exit_after.1.is_some_and(|n| stats.requests >= n)
        },
        Duration::MAX,
    );
    let stats = mock.stop();
    signal_handle.close();
    let _ = watcher.join();
    print_line(&stats.summary_json())
}

fn config(args: super::Args) -> Result<Http2Config, CliError> {
    let read = |path: &Path| {
        fs::read_to_string(path)
            .map_err(|error| CliError::Config(format!("cannot read {}: {error}", path.display())))
    };
    let bad = |flag: &str, value: &str, why: &dyn std::fmt::Display| {
        CliError::Config(format!("invalid value '{value}' for '--{flag}': {why}"))
    };
    let h2 = args.http2_args;
    let mut config = Http2Config::new(read(&args.cert)?, read(&args.key)?)
        .addr(h2.listen)
        .seed(args.seed)
        .sandbox(h2.sandbox)
        .max_concurrent_streams(h2.max_concurrent_streams);
    if let Some(ca) = &args.client_ca {
        config = config.client_ca(read(ca)?);
    }
    if h2.provider_key.is_empty() && args.client_ca.is_none() {
        return Err(CliError::Config(
            "the HTTP/2 mock needs --client-ca (certificate auth) or --provider-key (token auth)".into(),
        ));
    }
    for entry in &h2.provider_key {
        let (kid, file) =
            entry.split_once('=').ok_or_else(|| bad("provider-key", entry, &"expected KID=FILE"))?;
        let key = ProviderPublicKey::from_pem(&read(&PathBuf::from(file))?)
            .map_err(|why| bad("provider-key", entry, &why))?;
        let team = h2.team_id.clone().unwrap_or_default();
        config = config.provider_key(kid, team, key);
    }
    for topic in h2.topic {
        config = config.topic(topic);
    }
    for entry in &args.reject {
        let (token, reason) =
            entry.split_once('=').ok_or_else(|| bad("reject", entry, &"expected TOKEN_HEX=REASON"))?;
        let reason = reason.parse::<Reason>().map_err(|why| bad("reject", entry, &why))?;
        config = config.reject(hex_token(token).map_err(|why| bad("reject", entry, &why))?, reason);
    }
    for entry in &h2.unregistered {
        let (token, ms) = match entry.split_once('=') {
            Some((token, ms)) => (
                token,
                Some(ms.parse::<u64>().map_err(|_| bad("unregistered", entry, &"MS is not a number"))?),
            ),
            None => (entry.as_str(), None),
        };
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
        };
        config = config.unregistered(
            hex_token(token).map_err(|why| bad("unregistered", entry, &why))?,
            ms.unwrap_or_else(now),
        );
    }
    for entry in &h2.token_topic {
        let (token, bundle) = entry
            .split_once('=')
            .ok_or_else(|| bad("token-topic", entry, &"expected TOKEN_HEX=BUNDLE_ID"))?;
        config = config.token_topic(hex_token(token).map_err(|why| bad("token-topic", entry, &why))?, bundle);
    }
    if let Some(n) = args.max_connections {
        config = config.max_connections(n);
    }
    if let Some(n) = h2.goaway_every {
        config = config.goaway_every(n);
    }
    if let Some(n) = args.drop_every {
        config = config.drop_every(n);
    }
    if let Some(n) = h2.refuse_stream_every {
        config = config.refuse_stream_every(n);
    }
    if let Some(entry) = &h2.error_every {
        let (n, reason) =
            entry.split_once(':').ok_or_else(|| bad("error-every", entry, &"expected N:REASON"))?;
        let n = n.parse::<u64>().map_err(|_| bad("error-every", entry, &"N is not a count"))?;
        config = config.error_every(n, reason.parse().map_err(|why| bad("error-every", entry, &why))?);
    }
    if let Some(entry) = &h2.error_probability {
        let (p, reason) =
            entry.split_once(':').ok_or_else(|| bad("error-probability", entry, &"expected P:REASON"))?;
        let p = p
            .parse::<f64>()
            .ok()
            .filter(|p| (0.0..=1.0).contains(p))
            .ok_or_else(|| bad("error-probability", entry, &"P is not between 0 and 1"))?;
        config =
            config.error_probability(p, reason.parse().map_err(|why| bad("error-probability", entry, &why))?);
    }
    if let Some(latency) = h2.latency_ms {
        config = config.latency(latency);
    }
    if let Some((n, duration)) = args.stall_every {
        config = config.stall_every(n, duration);
    }
    if let Some(ms) = args.idle_timeout_ms {
        config = config.idle_timeout(Some(Duration::from_millis(ms)).filter(|d| !d.is_zero()));
    }
    if let Some(secs) = h2.token_min_refresh_secs {
        config = config.token_min_refresh(Duration::from_secs(secs));
    }
    if let Some(path) = &args.record {
        let file = File::create(path)
            .map_err(|error| CliError::Config(format!("cannot create {}: {error}", path.display())))?;
        config = config.record_jsonl(file);
    }
    Ok(config)
}

/// A device token as hex digits (any even length up to Apple's limit).
fn hex_token(text: &str) -> Result<String, &'static str> {
    let text = text.trim();
    if text.is_empty()
        || text.len() % 2 != 0
        || text.len() > apns_mock::http2::MAX_TOKEN_HEX
        || !text.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err("the token must be an even number of hex digits");
    }
    Ok(text.to_ascii_lowercase())
}
