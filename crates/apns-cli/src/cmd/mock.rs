//! `apns mock`: the mock of Apple's HTTP/2 provider API as a process (the default, in
//! `mock/http2.rs`), or with `--binary` the mock binary gateway and feedback service.
//!
//! With `--binary`, prints `{"gateway":"ADDR","feedback":"ADDR"}` once listening, and on SIGTERM, SIGINT or after
//! `--exit-after-accepted N` the summary `{"accepted":..,"rejected":..,"discarded":..,
//! "connections":..}`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use apns_mock::{DelayRange, FeedbackEntry, MockConfig, MockServer};
use apns_proto::{DeviceToken, Status};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::CliError;

mod http2;

/// Arguments of `apns mock`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Run the mock of Apple's HTTP/2 provider API (the default; accepted for older scripts).
    #[arg(long)]
    http2: bool,
    /// Run the mock binary gateway and feedback service (the legacy protocol) instead.
    #[arg(long, conflicts_with = "http2")]
    binary: bool,
    /// The server certificate chain (PEM).
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// The server's private key (PEM).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The CA that client certificates must chain to (PEM): turns certificate auth on (required
    /// with --binary).
    #[arg(long, value_name = "FILE", required_if_eq("binary", "true"))]
    client_ca: Option<PathBuf>,
    /// Gateway address (port 0: any free port).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:0",
        requires = "binary",
        conflicts_with = "http2"
    )]
    gateway: SocketAddr,
    /// Feedback service address (port 0: any free port).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:0",
        requires = "binary",
        conflicts_with = "http2"
    )]
    feedback: SocketAddr,
    /// Answer notifications to this token with Apple's reason (repeatable), e.g. `--reject
    /// <hex>=BadDeviceToken`; with --binary, a status: `--reject <64 hex digits>=8`.
    #[arg(long, value_name = "TOKEN_HEX=STATUS")]
    reject: Vec<String>,
    /// Delay before an error response, in ms: fixed (`0`) or a range (`100-800`, the default).
    #[arg(long, value_name = "MIN[-MAX]", value_parser = parse_delay, requires = "binary", conflicts_with = "http2")]
    error_delay_ms: Option<DelayRange>,
    /// Drop the connection, without GOAWAY, at every Nth request (--binary: close it silently
    /// after every N accepted notifications).
    #[arg(long, value_name = "N")]
    drop_every: Option<u64>,
    /// Close the connection silently after an accepted notification with probability P.
    #[arg(long, value_name = "P", requires = "binary", conflicts_with = "http2")]
    drop_probability: Option<f64>,
    /// Send a shutdown (status 10) after every N accepted notifications on a connection.
    #[arg(long, value_name = "N", requires = "binary", conflicts_with = "http2")]
    shutdown_every: Option<u64>,
    /// Stop reading a connection for MS milliseconds after every N requests (--binary: after
    /// every N accepted notifications).
    #[arg(long, value_name = "N:MS", value_parser = parse_stall)]
    stall_every: Option<(u64, Duration)>,
    /// Read at most N notifications per second from each connection (a token bucket): a
    /// slow-reading gateway, steadier than --stall-every.
    #[arg(long, value_name = "N", requires = "binary", conflicts_with = "http2")]
    read_rate: Option<u32>,
    /// GOAWAY a connection with no request for MS milliseconds (0: never; default one hour;
    /// --binary: close a connection that sends nothing, default 5 minutes).
    #[arg(long, value_name = "MS")]
    idle_timeout_ms: Option<u64>,
    /// The most connections open at once (both services together; default 1024); beyond it, new
    /// ones are accepted and closed at once.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// The most connections in their TLS handshake at once; beyond it, new ones are accepted
    /// and closed at once.
    #[arg(long, value_name = "N", default_value_t = 128, requires = "binary", conflicts_with = "http2")]
    max_handshaking: usize,
    /// Refuse every connection for the first MS milliseconds.
    #[arg(long, value_name = "MS", requires = "binary", conflicts_with = "http2")]
    refuse_for_ms: Option<u64>,
    /// Feedback tuples to serve: JSON lines `{"token":hex,"time":unix}`.
    #[arg(long, value_name = "FILE", requires = "binary", conflicts_with = "http2")]
    feedback_tuples: Option<PathBuf>,
    /// Write the feedback stream in random chunks of 1 to N bytes, each its own TLS record.
    #[arg(long, value_name = "N", requires = "binary", conflicts_with = "http2")]
    feedback_chunk_max: Option<usize>,
    /// The largest payload accepted, in bytes (--binary; the HTTP/2 mock applies Apple's).
    #[arg(long, value_name = "BYTES", default_value_t = 2048)]
    payload_limit: u16,
    /// Write every request (--binary: notification) received as a JSON line to FILE. A failed
    /// write stops the mock with exit status 1.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Stop (printing the summary) once N notifications were accepted (answered 200).
    #[arg(long, value_name = "N")]
    exit_after_accepted: Option<u64>,
    /// Seed of every random choice (delays, drops, chunks).
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    http2_args: http2::Http2Args,
}

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    if !args.binary {
        return http2::run(args);
    }
    let exit_after = args.exit_after_accepted;
    let record = args.record.clone();
    let config = config(args)?;
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|error| CliError::Runtime(format!("cannot handle signals: {error}")))?;
    let server = MockServer::start(config).map_err(|error| match error {
        apns_mock::MockError::Bind { .. } | apns_mock::MockError::Io(_) => {
            CliError::Runtime(error.to_string())
        }
        _ => CliError::Config(error.to_string()),
    })?;
    let stop = server.stop_handle();
    let signal_handle = signals.handle();
    let watcher = std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            stop.stop();
        }
    });
    let addresses = serde_json::json!({
        "gateway": server.gateway_addr().to_string(),
        "feedback": server.feedback_addr().to_string(),
    });
    print_line(&addresses.to_string())?;
    server.wait_for(|stats| exit_after.is_some_and(|n| stats.accepted >= n), Duration::MAX);
    let stopped = server.try_stop();
    signal_handle.close();
    let _ = watcher.join();
    match stopped {
        Ok(stats) => print_line(&stats.summary_json()),
        Err(error) => {
            let file = record.as_deref().map_or_else(String::new, |path| format!(" {}", path.display()));
            Err(CliError::Runtime(format!(
                "the mock stopped: cannot write the record{file}: {}",
                record_cause(&error)
            )))
        }
    }
}

fn record_cause(error: &apns_mock::MockError) -> String {
    match error {
        apns_mock::MockError::Record(source) => source.to_string(),
        other => other.to_string(),
    }
}

fn print_line(line: &str) -> Result<(), CliError> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|error| CliError::Runtime(format!("cannot write to stdout: {error}")))
}

fn config(args: Args) -> Result<MockConfig, CliError> {
    let read = |path: &Path| {
        fs::read_to_string(path)
            .map_err(|error| CliError::Config(format!("cannot read {}: {error}", path.display())))
    };
    let client_ca =
        args.client_ca.as_deref().ok_or_else(|| CliError::Config("--client-ca is required".into()))?;
    let mut config = MockConfig::new(read(&args.cert)?, read(&args.key)?, read(client_ca)?)
        .gateway_addr(args.gateway)
        .feedback_addr(args.feedback)
        .payload_limit(apns_proto::PayloadLimit::new(args.payload_limit))
        .seed(args.seed)
        .feedback_chunks(args.feedback_chunk_max)
        .max_handshaking(args.max_handshaking);
    if let Some(ms) = args.idle_timeout_ms {
        config = config.idle_timeout(Some(Duration::from_millis(ms)));
    }
    if let Some(n) = args.max_connections {
        config = config.max_connections(n);
    }
    if let Some(rate) = args.read_rate {
        config = config.read_rate(rate);
    }
    for reject in &args.reject {
        let (token, status) = parse_reject(reject)
            .map_err(|why| CliError::Config(format!("invalid value '{reject}' for '--reject': {why}")))?;
        config = config.reject(token, status);
    }
    if let Some(delay) = args.error_delay_ms {
        config = config.error_delay(delay);
    }
    if let Some(n) = args.drop_every {
        config = config.drop_every(n);
    }
    if let Some(p) = args.drop_probability {
        if !(0.0..=1.0).contains(&p) {
            return Err(CliError::Config(format!("--drop-probability {p} is not between 0 and 1")));
        }
        config = config.drop_probability(p);
    }
    if let Some(n) = args.shutdown_every {
        config = config.shutdown_every(n);
    }
    if let Some((n, duration)) = args.stall_every {
        config = config.stall_every(n, duration);
    }
    if let Some(ms) = args.refuse_for_ms {
        config = config.refuse_connections_for(Duration::from_millis(ms));
    }
    if let Some(path) = &args.feedback_tuples {
        config = config.feedback_tuples(feedback_tuples(path, &read(path)?)?);
    }
    if let Some(path) = &args.record {
        let file = File::create(path)
            .map_err(|error| CliError::Config(format!("cannot create {}: {error}", path.display())))?;
        config = config.record_jsonl(file);
    }
    Ok(config)
}

fn parse_reject(text: &str) -> Result<(DeviceToken, Status), String> {
    let (token, status) = text.split_once('=').ok_or("expected TOKEN_HEX=STATUS")?;
    let token = token.parse::<DeviceToken>().map_err(|error| error.to_string())?;
    let status =
        status.trim().parse::<u8>().map_err(|_| format!("status {status:?} is not a number 0-255"))?;
    Ok((token, Status(status)))
}

fn parse_delay(text: &str) -> Result<DelayRange, String> {
    let ms = |part: &str| {
        part.trim()
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("{part:?} is not a number of milliseconds"))
    };
    match text.split_once('-') {
        Some((min, max)) => Ok(DelayRange::between(ms(min)?, ms(max)?)),
        None => Ok(DelayRange::fixed(ms(text)?)),
    }
}

fn parse_stall(text: &str) -> Result<(u64, Duration), String> {
    let (n, ms) = text.split_once(':').ok_or("expected N:MS")?;
    let n = n.parse::<u64>().map_err(|_| format!("{n:?} is not a count"))?;
    let ms = ms.parse::<u64>().map_err(|_| format!("{ms:?} is not a number of milliseconds"))?;
    Ok((n, Duration::from_millis(ms)))
}

/// Parses JSON lines `{"token":hex,"time":unix}`; tokens may have any even number of hex digits,
/// so that clients can be tested with malformed feedback too.
fn feedback_tuples(path: &Path, text: &str) -> Result<Vec<FeedbackEntry>, CliError> {
    let mut tuples = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| CliError::Config(format!("{}:{}: {why}", path.display(), number + 1));
        let value: serde_json::Value = serde_json::from_str(line).map_err(|error| bad(error.to_string()))?;
        let token = value
            .get("token")
            .and_then(|token| token.as_str())
            .ok_or_else(|| bad("missing \"token\"".into()))?;
        let time = value
            .get("time")
            .and_then(serde_json::Value::as_u64)
            .and_then(|time| u32::try_from(time).ok())
            .ok_or_else(|| bad("\"time\" must be UNIX seconds that fit in 32 bits".into()))?;
        let token = decode_hex(token).ok_or_else(|| bad(format!("token {token:?} is not hex")))?;
        tuples.push(FeedbackEntry { time, token });
    }
    Ok(tuples)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '<' | '>'))
        .map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok()))
        .collect::<Option<_>>()?;
    if digits.len() % 2 != 0 || digits.len() > 2 * usize::from(u16::MAX) {
        return None;
    }
    Some(digits.chunks(2).map(|pair| pair.iter().fold(0, |byte, digit| byte << 4 | digit)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arguments() {
        let token = "ab".repeat(32);
        assert_eq!(
            parse_reject(&format!("{token}=8")).unwrap(),
            (token.parse().unwrap(), Status::INVALID_TOKEN)
        );
        assert!(parse_reject("abc=8").is_err());
        assert!(parse_reject(&format!("{token}=x")).is_err());
        assert_eq!(parse_delay("0").unwrap(), DelayRange::fixed(Duration::ZERO));
        assert_eq!(
            parse_delay("100-800").unwrap(),
            DelayRange::between(Duration::from_millis(100), Duration::from_millis(800))
        );
        assert!(parse_delay("1-x").is_err());
        assert_eq!(parse_stall("3:250").unwrap(), (3, Duration::from_millis(250)));
        assert_eq!(decode_hex("0a ff"), Some(vec![10, 255]));
        assert_eq!(decode_hex("abc"), None);
        let path = Path::new("f.jsonl");
        let tuples = feedback_tuples(path, &format!("{{\"token\":\"{token}\",\"time\":5}}\n\n")).unwrap();
        assert_eq!(tuples, [FeedbackEntry { time: 5, token: vec![0xab; 32] }]);
        let error = feedback_tuples(path, "{\"token\":\"00\"}").unwrap_err();
        assert_eq!(error.to_string(), "f.jsonl:1: \"time\" must be UNIX seconds that fit in 32 bits");
    }
}
