//! `apns send`: one notification from flags, or many from a JSON-lines file.
//!
//! Exit 0 only when every notification was accepted (proved by the gateway, or presumed under
//! `--presume`); 1 otherwise (rejected, unconfirmed, failed, unsent, or the gateway could not be
//! reached); 2 for usage and configuration errors; 130 on SIGINT and 143 on SIGTERM (sending
//! stops, the client closes within a short deadline and the summary is printed). `--json`
//! prints one summary line: `{"sent":N,"accepted":N,"presumed_accepted":N,"unconfirmed":N,
//! "rejected":[{"id":..,"token":..,"status":..,"reason":".."}],"failed":N,
//! "failed_never_written":N,"failed_unknown_fate":N,"possible_duplicates":N,"unsent":N,
//! "interrupted":null|"SIGINT"|"SIGTERM","resent":N,"elapsed_s":..}`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apns::binary::resend::Settlement;
use apns::binary::{BinaryApns as Apns, BinaryNotification as Notification, Format};
use apns::{Alert, DeviceToken, EncodedPayload, Payload, PayloadLimit, Priority};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value};
use signal_hook::consts::{SIGINT, SIGTERM};

use super::connect::{cli_error, rejected_json, ConnectArgs, Tally};
use super::CliError;

pub(crate) mod deliver;
mod http2;

/// Arguments of `apns send`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["token", "file", "channel"])))]
pub(crate) struct Args {
    /// Use the binary provider protocol (PyAPNs' legacy gateway, certificates only) instead of
    /// Apple's HTTP/2 API.
    #[arg(long)]
    binary: bool,
    #[command(flatten)]
    connect: ConnectArgs,
    /// `apns-topic`: the app's bundle id (the push type's suffix, `.voip`..., is added when
    /// missing). Required with token auth.
    #[arg(long, value_name = "BUNDLE_ID", conflicts_with = "binary")]
    topic: Option<String>,
    /// `apns-push-type`: alert (default), background, voip, liveactivity, ...
    #[arg(long, value_name = "TYPE", conflicts_with = "binary")]
    push_type: Option<String>,
    /// `apns-collapse-id` (at most 64 bytes).
    #[arg(long, value_name = "ID", conflicts_with = "binary")]
    collapse_id: Option<String>,
    /// `apns-id`, a UUID (default: generated).
    #[arg(long, value_name = "UUID", conflicts_with = "binary")]
    apns_id: Option<String>,
    /// Broadcast to the devices subscribed to this channel (Live Activities; see `apns
    /// channels`) instead of one device: needs --topic.
    #[arg(long, value_name = "CHANNEL_ID", conflicts_with_all = ["binary", "token", "file"])]
    channel: Option<String>,
    /// The device token, in hex.
    #[arg(long, value_name = "HEX", conflicts_with = "file")]
    token: Option<String>,
    /// The alert text.
    #[arg(long, value_name = "TEXT")]
    alert: Option<String>,
    /// The badge number.
    #[arg(long, value_name = "N")]
    badge: Option<u32>,
    /// The sound.
    #[arg(long, value_name = "S")]
    sound: Option<String>,
    /// The notification category.
    #[arg(long, value_name = "C")]
    category: Option<String>,
    /// Sets `content-available: 1`.
    #[arg(long)]
    content_available: bool,
    /// Sets `mutable-content: 1`.
    #[arg(long)]
    mutable_content: bool,
    /// A JSON object merged at the top level of the payload.
    #[arg(long, value_name = "JSON")]
    custom: Option<String>,
    /// The whole payload, a JSON object sent as is (e.g. a Live Activity's `aps` with
    /// `timestamp`, `event`, `content-state`), instead of --alert, --badge...
    #[arg(long, value_name = "JSON", conflicts_with_all = ["alert", "badge", "sound", "category", "content_available", "mutable_content", "custom"])]
    payload: Option<String>,
    /// The notification identifier.
    #[arg(long, value_name = "N", default_value_t = 0)]
    id: u32,
    /// When Apple may give up delivering, UNIX seconds (0: try once; --binary default 0).
    #[arg(long, value_name = "UNIX", alias = "expiry")]
    expiration: Option<u64>,
    /// The priority: 10 (immediate), 5 (power considerate) or 1 (low; HTTP/2 only).
    #[arg(long, value_name = "10|5|1", value_parser = parse_priority)]
    priority: Option<u8>,
    /// Notifications as JSON lines (`-`: standard input); see the README for the fields.
    #[arg(long, value_name = "FILE|-")]
    file: Option<PathBuf>,
    /// Skip (and report) bad lines of --file instead of failing before sending anything.
    #[arg(long, requires = "file")]
    skip_bad_lines: bool,
    /// The wire format of the binary protocol.
    #[arg(long, value_name = "FORMAT", default_value = "frame", value_parser = ["frame", "enhanced", "simple"])]
    format: String,
    /// Connections to share the load (default 2; --binary: 1).
    #[arg(long, value_name = "N")]
    connections: Option<usize>,
    /// Print one JSON summary line on stdout at the end.
    #[arg(long)]
    json: bool,
    /// Keep reconnecting for this many seconds after the gateway goes away, before the
    /// notifications waiting fail.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    reconnect_for: f64,
    /// How long a confirmation probe may go unanswered before what it covers is reported
    /// unconfirmed, in seconds (--binary).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    proof_timeout: f64,
    /// Presume accepted what the gateway has not answered within 2 s of the write, instead of
    /// proving it (--binary; faster, but wrong against a gateway that reads slowly).
    #[arg(long, requires = "binary")]
    presume: bool,
    /// The longest the final close (proving what is in flight) may take, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0)]
    close_timeout: f64,
}

pub(crate) fn seconds(flag: &str, value: f64) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| CliError::Config(format!("--{flag} must be a positive number of seconds")))
}

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    if !args.binary {
        return deliver::run(args);
    }
    let notifications = notifications(&args)?;
    let format = match args.format.as_str() {
        "simple" => Format::Simple,
        "enhanced" => Format::Enhanced,
        _ => Format::Frame,
    };
    let connections = args.connections.unwrap_or(1);
    if connections == 0 {
        return Err(CliError::Config("--connections must be at least 1".into()));
    }
    let reconnect_for = seconds("reconnect-for", args.reconnect_for)?;
    let proof_timeout = seconds("proof-timeout", args.proof_timeout)?;
    let close_timeout = seconds("close-timeout", args.close_timeout)?;
    let settlement = if args.presume { Settlement::Presume } else { Settlement::Prove };
    let resend = apns::binary::resend::Config::default().settlement(settlement).proof_timeout(proof_timeout);
    let mut builder = Apns::builder().format(format).connections(connections).resend(resend);
    if args.connect.token_key.key_file.is_some() {
        return Err(CliError::Config("--key-file: token auth is HTTP/2 only (drop --binary)".into()));
    }
    if args.connect.server.sandbox {
        builder = builder.sandbox();
    }
    if let Some(gateway) = &args.connect.server.gateway {
        builder = builder.gateway(gateway);
    }
    let apns = args.connect.tls.apply(builder).reconnect_for(reconnect_for).build().map_err(cli_error)?;
    let signal = Arc::new(AtomicUsize::new(0));
    for number in [SIGINT, SIGTERM] {
        // A signal asks for a quick, reported stop: the flag is read between batches.
        signal_hook::flag::register_usize(number, signal.clone(), number as usize)
            .map_err(|error| CliError::Runtime(format!("cannot handle signals: {error}")))?;
    }
    let summary = send_until(&apns, notifications, args.json, close_timeout, &signal)?;
    summary.finish()
}

/// What a send run produced.
pub(crate) struct SendSummary {
    pub(crate) tally: Tally,
    /// Notifications never handed to the client (the send queue stayed full, or a signal).
    pub(crate) unsent: u64,
    /// The signal that stopped the run, if one did.
    pub(crate) interrupted: Option<i32>,
    pub(crate) counters: apns::binary::Counters,
    pub(crate) elapsed: Duration,
    pub(crate) connect_error: Option<apns::ConnectError>,
    pub(crate) endpoint: String,
    pub(crate) json: bool,
}

/// [`send_until`] with no signal handling and the default close deadline (for `apns demo`).
pub(crate) fn send(
    apns: &Apns,
    notifications: Vec<Notification>,
    json: bool,
) -> Result<SendSummary, CliError> {
    send_until(apns, notifications, json, Duration::from_secs(120), &AtomicUsize::new(0))
}

/// How long one attempt to hand notifications to the client waits for room.
pub(crate) const SEND_STEP: Duration = Duration::from_millis(200);

/// After this long without room, the user is told that the gateway pushes back.
const WAIT_NOTICE: Duration = Duration::from_secs(1);

/// Sends everything with a progress bar, closes gracefully and tallies the outcomes; stops
/// early (and says so in the summary) when the send queue stays full or a signal arrives.
pub(crate) fn send_until(
    apns: &Apns,
    notifications: Vec<Notification>,
    json: bool,
    close_timeout: Duration,
    signal: &AtomicUsize,
) -> Result<SendSummary, CliError> {
    let total = notifications.len() as u64;
    let bar = progress_bar(total);
    let on_each = bar.clone();
    let tally = Tally::listen(apns.gateway(), move || on_each.inc(1));
    let started = Instant::now();
    let pumped =
        pump(&Binary(apns), &notifications, apns.gateway().send_timeout(), close_timeout, signal, &bar)?;
    let summary = apns.gateway().close(pumped.close_deadline);
    bar.finish_and_clear();
    Ok(SendSummary {
        tally: Tally::take(&tally),
        unsent: total - pumped.taken + summary.unsent.len() as u64,
        interrupted: pumped.interrupted.or(signal_now(signal)),
        counters: summary.counters,
        elapsed: started.elapsed(),
        connect_error: apns.gateway().last_connect_error(),
        endpoint: apns.gateway().endpoint().to_string(),
        json,
    })
}

/// A progress bar on stderr for runs of 1,000 notifications or more.
pub(crate) fn progress_bar(total: u64) -> ProgressBar {
    let bar = if total >= 1000 {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} settled, {per_sec} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// What the send loop needs of a client, binary or HTTP/2.
pub(crate) trait Sink {
    /// What is sent.
    type Item: Clone;
    /// Hands over `chunk` in order, waiting up to `step` for room: how many were taken.
    fn offer(&self, chunk: &[Self::Item], step: Duration) -> Result<usize, Refusal>;
    /// Waits up to `step` for what was handed over: whether everything is settled (or the
    /// client is closed).
    fn settled_within(&self, step: Duration) -> bool;
}

/// Why a sink took less than offered, beyond a full queue.
pub(crate) enum Refusal {
    /// The client is closed; this many were taken first.
    Closed(usize),
    /// Something else went wrong.
    Failed(CliError),
}

/// What [`pump`] did.
pub(crate) struct Pumped {
    /// Items handed to the client.
    pub(crate) taken: u64,
    /// The signal that stopped it.
    pub(crate) interrupted: Option<i32>,
    /// How long the final close may take.
    pub(crate) close_deadline: Duration,
}

struct Binary<'a>(&'a Apns);

impl Sink for Binary<'_> {
    type Item = Notification;

    fn offer(&self, chunk: &[Notification], step: Duration) -> Result<usize, Refusal> {
        match self.0.gateway().send_all_within(chunk.iter().cloned(), step) {
            Ok(()) => Ok(chunk.len()),
            Err(apns::Error::Full { unsent }) => Ok(chunk.len() - unsent.len()),
            Err(apns::Error::Closed { unsent }) => Err(Refusal::Closed(chunk.len() - unsent.len())),
            Err(error) => Err(Refusal::Failed(cli_error(error))),
        }
    }

    fn settled_within(&self, step: Duration) -> bool {
        !matches!(self.0.gateway().flush(step), Ok(flushed) if !flushed.settled)
    }
}

/// Hands `items` to `sink` in chunks, then waits for their outcomes, up to `close_timeout`.
/// The queue is waited on in short steps, so that a signal is noticed within a fraction of a
/// second even while the server pushes back; handing over stops when the queue has taken
/// nothing for `send_timeout`. On a signal, the close that follows gets a short deadline
/// (what is unsettled is reported, not waited for).
pub(crate) fn pump<S: Sink>(
    sink: &S,
    items: &[S::Item],
    send_timeout: Duration,
    close_timeout: Duration,
    signal: &AtomicUsize,
    bar: &ProgressBar,
) -> Result<Pumped, CliError> {
    let mut taken = 0u64;
    let mut stop_error = None;
    let mut rest = items;
    let mut waited = Duration::ZERO;
    while !rest.is_empty() && signal_now(signal).is_none() {
        let chunk = &rest[..rest.len().min(1024)];
        let accepted = match sink.offer(chunk, SEND_STEP) {
            Ok(accepted) => accepted,
            Err(Refusal::Closed(accepted)) => {
                taken += accepted as u64;
                stop_error = Some("the gateway closed");
                break;
            }
            Err(Refusal::Failed(error)) => return Err(error),
        };
        taken += accepted as u64;
        rest = &rest[accepted..];
        waited = if accepted == 0 { waited + SEND_STEP } else { Duration::ZERO };
        if waited == WAIT_NOTICE {
            bar.suspend(|| {
                eprintln!(
                    "apns: waiting for room in the send queue (the gateway is not taking notifications)"
                )
            });
        }
        if waited >= send_timeout {
            stop_error = Some("the send queue stayed full");
            break;
        }
    }
    let end = Instant::now() + close_timeout;
    while signal_now(signal).is_none() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() || sink.settled_within(left.min(SEND_STEP)) {
            break;
        }
    }
    let interrupted = signal_now(signal);
    let close_deadline = if interrupted.is_some() {
        Duration::from_secs(2)
    } else {
        end.saturating_duration_since(Instant::now()).max(Duration::from_secs(1))
    };
    if let Some(why) = stop_error {
        bar.suspend(|| eprintln!("apns: {why}: {} notifications not sent", items.len() as u64 - taken));
    }
    Ok(Pumped { taken, interrupted, close_deadline })
}

pub(crate) fn signal_now(signal: &AtomicUsize) -> Option<i32> {
    i32::try_from(signal.load(Ordering::SeqCst)).ok().filter(|&number| number != 0)
}

pub(crate) fn signal_name(number: i32) -> &'static str {
    if number == SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}

impl SendSummary {
    /// `{"sent":..,"accepted":..,...}`.
    pub(crate) fn json_line(&self) -> String {
        let (tally, counters) = (&self.tally, &self.counters);
        serde_json::json!({
            "sent": counters.submitted,
            "accepted": counters.accepted,
            "presumed_accepted": counters.presumed_accepted,
            "unconfirmed": counters.unconfirmed,
            "rejected": tally.rejected.iter().map(rejected_json).collect::<Vec<_>>(),
            "failed": counters.failed,
            "failed_never_written": tally.failed_never_written,
            "failed_unknown_fate": tally.failed_unknown_fate,
            "possible_duplicates": counters.possible_duplicates,
            "unsent": self.unsent,
            "interrupted": self.interrupted.map(signal_name),
            "resent": counters.resent,
            "elapsed_s": (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        })
        .to_string()
    }

    /// Whether every notification given was accepted (proved, or presumed under `--presume`).
    fn all_accepted(&self) -> bool {
        let c = &self.counters;
        self.unsent == 0
            && self.interrupted.is_none()
            && c.accepted == c.submitted
            && c.finished() == c.submitted
    }

    /// Prints the summary and turns failures into the exit status.
    pub(crate) fn finish(self) -> Result<(), CliError> {
        let tally = &self.tally;
        if self.json {
            print_line(&self.json_line())?;
        } else {
            let c = &self.counters;
            print_line(&format!(
                "sent {} in {:.2} s: {} accepted ({} presumed), {} unconfirmed, {} rejected, {} failed \
                 ({} never written, {} unknown fate), {} possible duplicates, {} unsent, {} resent{}",
                c.submitted,
                self.elapsed.as_secs_f64(),
                c.accepted,
                c.presumed_accepted,
                c.unconfirmed,
                tally.rejected.len(),
                c.failed,
                tally.failed_never_written,
                tally.failed_unknown_fate,
                c.possible_duplicates,
                self.unsent,
                c.resent,
                self.interrupted.map(|n| format!(", interrupted by {}", signal_name(n))).unwrap_or_default(),
            ))?;
            for report in &tally.rejected {
                if let apns::binary::BinaryOutcome::Rejected(status) = report.outcome {
                    print_line(&format!("rejected: id {} token {}: {status}", report.id, report.token))?;
                }
            }
        }
        if self.counters.connections == 0 {
            if let Some(error) = &self.connect_error {
                return Err(CliError::Runtime(format!("cannot connect to {}: {error}", self.endpoint)));
            }
        }
        let c = &self.counters;
        let counts = format!(
            "{} accepted of {}: {} rejected, {} unconfirmed, {} failed, {} unsent",
            c.accepted,
            c.submitted + self.unsent,
            tally.rejected.len(),
            c.unconfirmed,
            c.failed,
            self.unsent
        );
        exit_status(self.interrupted, self.all_accepted(), &counts)
    }
}

/// The end of a run: a signal (130, 143), or not everything accepted (1), or success; `counts`
/// says what happened.
pub(crate) fn exit_status(
    interrupted: Option<i32>,
    all_accepted: bool,
    counts: &str,
) -> Result<(), CliError> {
    if let Some(number) = interrupted {
        return Err(CliError::Signal(number, format!("interrupted by {}: {counts}", signal_name(number))));
    }
    if !all_accepted {
        return Err(CliError::Runtime(format!("not every notification was accepted: {counts}")));
    }
    Ok(())
}

fn parse_priority(text: &str) -> Result<u8, String> {
    match text {
        "10" => Ok(10),
        "5" => Ok(5),
        "1" => Ok(1),
        _ => Err("the priority is 10 (immediate), 5 (power considerate) or 1 (low)".into()),
    }
}

pub(crate) fn print_line(line: &str) -> Result<(), CliError> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|error| CliError::Runtime(format!("cannot write to stdout: {error}")))
}

fn notifications(args: &Args) -> Result<Vec<Notification>, CliError> {
    if let Some(path) = &args.file {
        return read_lines(path, args.skip_bad_lines, parse_line);
    }
    let token = args.token.as_deref().unwrap_or_default();
    let token: DeviceToken = token.parse().map_err(|e| CliError::Config(format!("--token: {e}")))?;
    let payload =
        flag_payload(args)?.encode(PayloadLimit::BINARY).map_err(|e| CliError::Config(e.to_string()))?;
    let priority = match args.priority {
        None | Some(10) => Priority::Immediate,
        Some(5) => Priority::PowerConsiderate,
        Some(_) => return Err(CliError::Config("--priority: the binary protocol has 10 and 5 only".into())),
    };
    let expiry = u32::try_from(args.expiration.unwrap_or(0))
        .map_err(|_| CliError::Config("--expiry: UNIX seconds must fit in 32 bits".into()))?;
    Ok(vec![Notification::new(token, payload).with_id(args.id).with_expiry(expiry).with_priority(priority)])
}

/// The payload the flags give, encoded within `limit`: `--payload` as is, or built from
/// `--alert`, `--badge`, ..., `--custom`.
pub(crate) fn flag_encoded(args: &Args, limit: PayloadLimit) -> Result<EncodedPayload, CliError> {
    let Some(text) = &args.payload else {
        return flag_payload(args)?.encode(limit).map_err(|e| CliError::Config(e.to_string()));
    };
    let object = match serde_json::from_str::<Value>(text) {
        Ok(object @ Value::Object(_)) => object,
        Ok(_) => return Err(CliError::Config("--payload must be a JSON object".into())),
        Err(e) => return Err(CliError::Config(format!("--payload is not JSON: {e}"))),
    };
    let bytes = serde_json::to_vec(&object).map_err(|e| CliError::Config(e.to_string()))?;
    EncodedPayload::new(bytes, limit).map_err(|e| CliError::Config(format!("--payload: {e}")))
}

/// The payload the flags describe (`--alert`, `--badge`, ..., `--custom`).
pub(crate) fn flag_payload(args: &Args) -> Result<Payload, CliError> {
    let mut payload = Payload::new();
    if let Some(alert) = &args.alert {
        payload = payload.alert(alert.as_str());
    }
    if let Some(badge) = args.badge {
        payload = payload.badge(badge);
    }
    if let Some(sound) = &args.sound {
        payload = payload.sound(sound.as_str());
    }
    if let Some(category) = &args.category {
        payload = payload.category(category.as_str());
    }
    payload = payload.content_available(args.content_available).mutable_content(args.mutable_content);
    if let Some(custom) = &args.custom {
        let object = match serde_json::from_str::<Value>(custom) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err(CliError::Config("--custom must be a JSON object".into())),
            Err(e) => return Err(CliError::Config(format!("--custom is not JSON: {e}"))),
        };
        payload = payload.custom_object(object).map_err(|e| CliError::Config(format!("--custom: {e}")))?;
    }
    Ok(payload)
}

/// The lines of `--file` (`-`: standard input), each parsed by `parse`; a bad line fails the
/// run with its number, or is reported and skipped with `skip_bad_lines`.
pub(crate) fn read_lines<T>(
    path: &PathBuf,
    skip_bad_lines: bool,
    mut parse: impl FnMut(&str) -> Result<T, String>,
) -> Result<Vec<T>, CliError> {
    let name = path.display().to_string();
    let reader: Box<dyn BufRead> = if name == "-" {
        Box::new(BufReader::new(io::stdin()))
    } else {
        let file = File::open(path).map_err(|e| CliError::Config(format!("cannot read {name}: {e}")))?;
        Box::new(BufReader::new(file))
    };
    let mut items = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| CliError::Config(format!("cannot read {name}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        match parse(&line) {
            Ok(item) => items.push(item),
            Err(why) if skip_bad_lines => eprintln!("apns: {name}:{}: {why} (skipped)", index + 1),
            Err(why) => return Err(CliError::Config(format!("{name}:{}: {why}", index + 1))),
        }
    }
    Ok(items)
}

/// One line of `--file`: token, id, expiry, priority, and either `payload` or builder fields.
pub(crate) fn parse_line(line: &str) -> Result<Notification, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(mut object) = value else { return Err("not a JSON object".into()) };
    let token = match object.remove("token") {
        Some(Value::String(token)) => token.parse::<DeviceToken>().map_err(|e| e.to_string())?,
        Some(_) => return Err("\"token\" must be a string of 64 hex digits".into()),
        None => return Err("missing \"token\"".into()),
    };
    let id = take_number(&mut object, "id")?.unwrap_or(0);
    let expiry = take_number(&mut object, "expiry")?.unwrap_or(0);
    let priority = match take_number(&mut object, "priority")? {
        None | Some(10) => Priority::Immediate,
        Some(5) => Priority::PowerConsiderate,
        Some(other) => return Err(format!("\"priority\" must be 10 or 5, not {other}")),
    };
    let payload = take_payload(object, PayloadLimit::BINARY)?;
    Ok(Notification::new(token, payload).with_id(id).with_expiry(expiry).with_priority(priority))
}

/// Removes `key` from a `--file` line: a whole number of 32 bits, if there.
pub(crate) fn take_number(object: &mut Map<String, Value>, key: &str) -> Result<Option<u32>, String> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("\"{key}\" must be a whole number from 0 to 4294967295")),
    }
}

/// The payload of a `--file` line: `payload` sent as is, or built from the fields left.
pub(crate) fn take_payload(
    mut object: Map<String, Value>,
    limit: PayloadLimit,
) -> Result<EncodedPayload, String> {
    match object.remove("payload") {
        Some(Value::Object(payload)) => {
            if let Some(key) = object.keys().next() {
                return Err(format!("\"payload\" is sent as is: remove {key:?} or put it inside"));
            }
            let bytes = serde_json::to_vec(&Value::Object(payload)).map_err(|e| e.to_string())?;
            EncodedPayload::new(bytes, limit).map_err(|e| e.to_string())
        }
        Some(_) => Err("\"payload\" must be a JSON object".into()),
        None => build_payload(object)?.encode(limit).map_err(|e| e.to_string()),
    }
}

fn build_payload(object: Map<String, Value>) -> Result<Payload, String> {
    let mut payload = Payload::new();
    for (key, value) in object {
        payload = match (key.as_str(), value) {
            ("alert", Value::String(text)) => payload.alert(text),
            ("alert", Value::Object(fields)) => payload.alert(alert(fields)?),
            ("badge", value) => payload.badge(
                value
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or("\"badge\" must be a whole number")?,
            ),
            ("sound", Value::String(sound)) => payload.sound(sound),
            ("category", Value::String(category)) => payload.category(category),
            ("content_available", Value::Bool(on)) => payload.content_available(on),
            ("mutable_content", Value::Bool(on)) => payload.mutable_content(on),
            ("custom", Value::Object(custom)) => payload.custom_object(custom).map_err(|e| e.to_string())?,
            (
                key @ ("alert" | "sound" | "category" | "content_available" | "mutable_content" | "custom"),
                _,
            ) => return Err(format!("\"{key}\" has the wrong type")),
            (key, _) => return Err(format!("unknown field {key:?}")),
        };
    }
    Ok(payload)
}

fn alert(fields: Map<String, Value>) -> Result<Alert, String> {
    let mut alert = Alert::new();
    for (key, value) in fields {
        let text = |value: Value| match value {
            Value::String(text) => Ok(text),
            _ => Err(format!("alert \"{key}\" must be a string")),
        };
        alert = match key.as_str() {
            "body" => alert.body(text(value)?),
            "title" => alert.title(text(value)?),
            "subtitle" => alert.subtitle(text(value)?),
            "action-loc-key" => alert.action_loc_key(text(value)?),
            "loc-key" => alert.loc_key(text(value)?),
            "launch-image" => alert.launch_image(text(value)?),
            "loc-args" => {
                let args: Option<Vec<String>> = value
                    .as_array()
                    .map(|items| items.iter().map(|item| item.as_str().map(str::to_owned)).collect())
                    .and_then(|args: Option<Vec<String>>| args);
                alert.loc_args(args.ok_or("alert \"loc-args\" must be an array of strings")?)
            }
            other => return Err(format!("unknown alert field {other:?}")),
        };
    }
    Ok(alert)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";

    fn payload_text(line: &str) -> String {
        String::from_utf8(parse_line(line).unwrap().payload.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn lines_with_builder_fields() {
        let line = format!(
            r#"{{"token":"{TOKEN}","id":7,"expiry":5,"priority":5,"alert":{{"body":"hi","loc-args":["a"]}},"badge":2,"custom":{{"k":1}}}}"#
        );
        let notification = parse_line(&line).unwrap();
        assert_eq!((notification.id.get(), notification.expiry.unix_seconds()), (7, 5));
        assert_eq!(notification.priority, Priority::PowerConsiderate);
        assert_eq!(
            payload_text(&line),
            r#"{"aps":{"alert":{"body":"hi","loc-args":["a"]},"badge":2},"k":1}"#
        );
    }

    #[test]
    fn raw_payload_is_sent_as_is() {
        let line = format!(r#"{{"token":"{TOKEN}","payload":{{"z":1, "aps":{{"alert":"x"}}}}}}"#);
        assert_eq!(payload_text(&line), r#"{"z":1,"aps":{"alert":"x"}}"#);
    }

    #[test]
    fn bad_lines_say_why() {
        let error = |line: &str| parse_line(line).unwrap_err();
        assert!(error("{}").contains("missing \"token\""));
        assert!(error(r#"{"token":"abc"}"#).contains("odd number"));
        assert!(error(&format!(r#"{{"token":"{TOKEN}","priority":7}}"#)).contains("10 or 5"));
        assert!(error(&format!(r#"{{"token":"{TOKEN}","colour":1}}"#)).contains("unknown field"));
        let big = "x".repeat(3000);
        assert!(error(&format!(r#"{{"token":"{TOKEN}","alert":"{big}"}}"#)).contains("over the limit"));
        assert!(error("not json").contains("not JSON"));
    }
}
