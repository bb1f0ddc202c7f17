//! Sending over HTTP/2 with the facade's client: it as a [`Sink`], the tally of its reports
//! (rejections with Apple's reasons, unregistered tokens with their timestamps), and the
//! summary (`--json`: the binary run's keys, plus `reasons` and `unregistered`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use apns::{
    Apns, ApnsId, ApnsIdGenerator, BroadcastNotification, DeviceNotification, FailReason, HaltReason,
    Http2Counters, Notification, Outcome, Report, Tag,
};
use indicatif::ProgressBar;

use super::{exit_status, print_line, progress_bar, pump, signal_name, signal_now, Refusal, Sink};
use crate::cmd::connect::cli_error;
use crate::cmd::CliError;

/// What one run sends: device notifications (each with the number its report is shown by), or
/// one broadcast.
pub(crate) enum Work {
    /// Device notifications, with their `id`.
    Devices(Vec<(u32, DeviceNotification)>),
    /// A broadcast on a channel.
    Broadcast(BroadcastNotification),
}

/// One item for the send loop.
#[derive(Clone)]
pub(crate) enum Push {
    Device(DeviceNotification),
    Broadcast(BroadcastNotification),
}

struct Http2<'a>(&'a Apns);

impl Sink for Http2<'_> {
    type Item = Push;

    fn offer(&self, chunk: &[Push], step: Duration) -> Result<usize, Refusal> {
        let devices: Vec<DeviceNotification> = chunk
            .iter()
            .map_while(|push| match push {
                Push::Device(notification) => Some(notification.clone()),
                Push::Broadcast(_) => None,
            })
            .collect();
        let result = match (devices.is_empty(), chunk.first()) {
            (true, Some(Push::Broadcast(broadcast))) => {
                self.0.send_broadcast_notification(broadcast.clone()).map(|()| 1)
            }
            _ => self.0.send_all_within(devices.iter().cloned(), step).map(|()| devices.len()),
        };
        let offered = if devices.is_empty() { chunk.len().min(1) } else { devices.len() };
        match result {
            Ok(taken) => Ok(taken),
            Err(apns::Error::Http2Full { unsent }) => Ok(offered - unsent.len()),
            Err(apns::Error::Http2Closed { unsent }) => Err(Refusal::Closed(offered - unsent.len())),
            Err(error) => Err(Refusal::Failed(cli_error(error))),
        }
    }

    fn settled_within(&self, step: Duration) -> bool {
        !matches!(self.0.flush(step), Ok(flushed) if !flushed.settled)
    }
}

/// A rejected notification, for the report.
#[derive(Debug, Clone)]
struct Rejected {
    id: u32,
    token: Option<String>,
    status: u16,
    reason: Option<String>,
    /// For 410: when Apple found the token no longer valid, ms since the UNIX epoch.
    timestamp_ms: Option<u64>,
}

/// What the reports said, gathered on the event-loop thread.
#[derive(Debug, Default)]
struct Tally {
    rejected: Vec<Rejected>,
    failed_never_written: u64,
    failed_unknown_fate: u64,
    /// Why the client halted or could not connect, if it did.
    stopped: Option<String>,
    unreachable: bool,
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Tally {
    fn listen(apns: &Apns, ids: HashMap<ApnsId, u32>, bar: ProgressBar) -> Arc<Mutex<Self>> {
        let tally = Arc::new(Mutex::new(Self::default()));
        let shared = Arc::clone(&tally);
        apns.on_outcome(move |report: &Report<Tag>| {
            let mut tally = shared.lock().unwrap_or_else(PoisonError::into_inner);
            tally.count(report, ids.get(&report.apns_id).copied().unwrap_or(0));
            drop(tally);
            bar.inc(1);
        });
        tally
    }

    fn count(&mut self, report: &Report<Tag>, id: u32) {
        let token = match &report.notification {
            Notification::Device(notification) => Some(notification.token().as_str().to_owned()),
            _ => None,
        };
        match &report.outcome {
            Outcome::Accepted { .. } => {}
            Outcome::Rejected(rejection) => self.rejected.push(Rejected {
                id,
                token,
                status: rejection.status,
                reason: rejection.reason.as_ref().map(|reason| reason.as_str().to_owned()),
                timestamp_ms: rejection.timestamp.map(unix_ms),
            }),
            Outcome::Failed(reason) => {
                if report.attempts == 0 {
                    self.failed_never_written += 1;
                } else {
                    self.failed_unknown_fate += 1;
                }
                match reason {
                    FailReason::Halted(HaltReason::Refused(rejection)) if self.stopped.is_none() => {
                        let reason = rejection.reason.as_ref().map_or("no reason", |reason| reason.as_str());
                        self.stopped =
                            Some(format!("APNs refused the credentials: {} {reason}", rejection.status));
                    }
                    FailReason::Halted(HaltReason::ConnectRefused) | FailReason::Unreachable => {
                        self.unreachable = true
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

/// What an HTTP/2 run produced.
pub(crate) struct Summary {
    tally: Tally,
    unsent: u64,
    interrupted: Option<i32>,
    counters: Http2Counters,
    elapsed: Duration,
    endpoint: String,
    json: bool,
}

/// Sends `work` with a progress bar, closes gracefully and tallies the reports.
pub(crate) fn send(
    apns: &Apns,
    work: Work,
    json: bool,
    close_timeout: Duration,
    signal: &AtomicUsize,
) -> Result<Summary, CliError> {
    // Every notification gets its apns-id now, so that its report finds its number.
    let mut generator = ApnsIdGenerator::new(seed());
    let mut ids = HashMap::new();
    let pushes: Vec<Push> = match work {
        Work::Devices(lines) => lines
            .into_iter()
            .map(|(id, mut notification)| {
                ids.insert(notification.ensure_id(&mut generator), id);
                Push::Device(notification)
            })
            .collect(),
        Work::Broadcast(broadcast) => vec![Push::Broadcast(broadcast)],
    };
    let total = pushes.len() as u64;
    let bar = progress_bar(total);
    let tally = Tally::listen(apns, ids, bar.clone());
    let started = Instant::now();
    let pumped = pump(&Http2(apns), &pushes, SEND_TIMEOUT, close_timeout, signal, &bar)?;
    let summary = apns.close(pumped.close_deadline);
    bar.finish_and_clear();
    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(Summary {
        tally,
        unsent: total - pumped.taken + summary.unsent.len() as u64,
        interrupted: pumped.interrupted.or(signal_now(signal)),
        counters: summary.counters,
        elapsed: started.elapsed(),
        endpoint: apns.endpoint().to_string(),
        json,
    })
}

/// How long the send loop waits for room in all before it gives up on the rest.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// A seed for the `apns-id`s from the standard library's randomly keyed hasher.
fn seed() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let mut seed = [0u8; 16];
    for half in seed.chunks_mut(8) {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(std::process::id().into());
        half.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    seed
}

impl Summary {
    /// `{"sent":..,"accepted":..,"rejected":[..],...,"reasons":{..},"unregistered":[..]}`.
    pub(crate) fn json_line(&self) -> String {
        let (tally, stats) = (&self.tally, &self.counters.delivery);
        let rejected: Vec<_> = tally
            .rejected
            .iter()
            .map(|r| {
                let mut object = serde_json::json!({
                    "id": r.id,
                    "token": r.token,
                    "status": r.status,
                    "reason": r.reason,
                });
                if let (Some(ms), Some(map)) = (r.timestamp_ms, object.as_object_mut()) {
                    map.insert("timestamp".into(), ms.into());
                }
                object
            })
            .collect();
        let unregistered: Vec<_> = tally
            .rejected
            .iter()
            .filter(|r| r.status == 410)
            .map(|r| serde_json::json!({ "token": r.token, "timestamp": r.timestamp_ms, "reason": r.reason }))
            .collect();
        serde_json::json!({
            "sent": self.counters.submitted,
            "accepted": stats.accepted,
            "presumed_accepted": 0,
            "unconfirmed": 0,
            "rejected": rejected,
            "failed": stats.failed,
            "failed_never_written": tally.failed_never_written,
            "failed_unknown_fate": tally.failed_unknown_fate,
            "possible_duplicates": stats.possible_duplicates,
            "unsent": self.unsent,
            "interrupted": self.interrupted.map(signal_name),
            "resent": stats.retries + stats.refused_streams,
            "elapsed_s": (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "reasons": self.reasons(),
            "unregistered": unregistered,
            "goaways": stats.goaways,
            "connections": stats.connects,
        })
        .to_string()
    }

    /// Rejections per reason (`"(none)"` for a rejection without one).
    fn reasons(&self) -> BTreeMap<String, u64> {
        let mut reasons = BTreeMap::new();
        for rejected in &self.tally.rejected {
            *reasons.entry(rejected.reason.clone().unwrap_or_else(|| "(none)".into())).or_insert(0) += 1;
        }
        reasons
    }

    /// Notifications handed over without a report.
    pub(crate) fn lost(&self) -> u64 {
        let stats = &self.counters.delivery;
        self.counters.submitted.saturating_sub(stats.accepted + stats.rejected + stats.failed)
    }

    /// The demo's report: throughput, rejections by reason, unregistered tokens, GOAWAYs.
    pub(crate) fn print_demo(&self, count: u32, elapsed: Duration) -> Result<(), CliError> {
        let (tally, stats) = (&self.tally, &self.counters.delivery);
        let rate = f64::from(count) / elapsed.as_secs_f64().max(1e-9);
        print_line(&format!(
            "\nsent {count} in {:.2} s ({rate:.0} notifications/s) over {} HTTP/2 connections",
            elapsed.as_secs_f64(),
            stats.connects
        ))?;
        print_line(&format!("  accepted     {:>7}", stats.accepted))?;
        print_line(&format!("  rejected     {:>7}", tally.rejected.len()))?;
        for (reason, n) in self.reasons() {
            print_line(&format!("    {reason:<24} {n}"))?;
        }
        for r in tally.rejected.iter().filter(|r| r.status == 410) {
            let since = r.timestamp_ms.map_or_else(|| "an unknown time".into(), |ms| format!("{ms} ms"));
            print_line(&format!(
                "  unregistered: {} since {since} (delete it: the app is gone from that device)",
                r.token.as_deref().unwrap_or_default()
            ))?;
        }
        print_line(&format!("  failed       {:>7}", stats.failed))?;
        print_line(&format!(
            "  GOAWAY frames {:>6}  (connections told to go away were replaced; {} requests certainly not processed sent again, never twice)",
            stats.goaways, stats.refused_streams
        ))?;
        print_line(&format!("  possible duplicates {}", stats.possible_duplicates))
    }

    fn all_accepted(&self) -> bool {
        let stats = &self.counters.delivery;
        self.unsent == 0 && self.interrupted.is_none() && stats.accepted == self.counters.submitted
    }

    /// Prints the summary and turns failures into the exit status.
    pub(crate) fn finish(self) -> Result<(), CliError> {
        let (tally, stats) = (&self.tally, &self.counters.delivery);
        if self.json {
            print_line(&self.json_line())?;
        } else {
            print_line(&format!(
                "sent {} in {:.2} s: {} accepted, {} rejected, {} failed ({} never written, {} unknown fate), \
                 {} possible duplicates, {} unsent, {} resent, {} GOAWAY{}",
                self.counters.submitted,
                self.elapsed.as_secs_f64(),
                stats.accepted,
                tally.rejected.len(),
                stats.failed,
                tally.failed_never_written,
                tally.failed_unknown_fate,
                stats.possible_duplicates,
                self.unsent,
                stats.retries + stats.refused_streams,
                stats.goaways,
                self.interrupted.map(|n| format!(", interrupted by {}", signal_name(n))).unwrap_or_default(),
            ))?;
            for r in &tally.rejected {
                let token = r.token.as_deref().unwrap_or("(broadcast)");
                let reason = r.reason.as_deref().unwrap_or("no reason");
                let since =
                    r.timestamp_ms.map(|ms| format!(" (unregistered since {ms} ms)")).unwrap_or_default();
                print_line(&format!("rejected: id {} token {token}: {} {reason}{since}", r.id, r.status))?;
            }
        }
        if stats.accepted + stats.rejected == 0 {
            if let Some(why) = &tally.stopped {
                return Err(CliError::Runtime(why.clone()));
            }
            if tally.unreachable {
                return Err(CliError::Runtime(format!("cannot connect to {} (-v says why)", self.endpoint)));
            }
        }
        let counts = format!(
            "{} accepted of {}: {} rejected, {} failed, {} unsent",
            stats.accepted,
            self.counters.submitted + self.unsent,
            tally.rejected.len(),
            stats.failed,
            self.unsent
        );
        exit_status(self.interrupted, self.all_accepted(), &counts)
    }
}

/// `apns send` over HTTP/2: the checked flags, the notifications (flags or `--file`), the
/// facade's client, the send loop, the summary.
pub(crate) fn run(args: super::Args) -> Result<(), CliError> {
    use super::http2::{device, parse_line, Http2Send};
    let send = Http2Send::from_args(&args)?;
    let reconnect_for = super::seconds("reconnect-for", args.reconnect_for)?;
    let close_timeout = super::seconds("close-timeout", args.close_timeout)?;
    let work = if let Some(channel) = &send.channel {
        let payload = super::flag_encoded(&args, apns::PushType::LIVE_ACTIVITY.payload_limit())?;
        let mut broadcast = BroadcastNotification::new(send.bundle_id()?, channel.clone(), payload)
            .map_err(|e| CliError::Config(e.to_string()))?;
        if let Some(expiration) = send.defaults.expiration {
            broadcast = broadcast.with_expiration(expiration);
        }
        if let Some(priority) = send.defaults.priority {
            broadcast = broadcast.with_priority(priority);
        }
        Work::Broadcast(broadcast)
    } else if let Some(path) = &args.file {
        let token_auth = args.connect.token_key.key_file.is_some();
        let lines = super::read_lines(path, args.skip_bad_lines, |line| {
            let line = parse_line(line, &send.defaults)?;
            if token_auth && line.notification.topic().is_none() {
                return Err("no \"topic\": token auth needs one (on the line, or --topic)".into());
            }
            Ok(line)
        })?;
        Work::Devices(lines.into_iter().map(|line| (line.id, line.notification)).collect())
    } else {
        let token = args.token.as_deref().unwrap_or_default();
        let token = token.parse().map_err(|e| CliError::Config(format!("--token: {e}")))?;
        let push_type = send.defaults.push_type.clone().unwrap_or(apns::PushType::ALERT);
        let payload = super::flag_encoded(&args, push_type.payload_limit())?;
        let notification = device(token, payload, &send.defaults).map_err(CliError::Config)?;
        Work::Devices(vec![(args.id, notification)])
    };
    let mut builder =
        args.connect.h2_builder()?.connections(send.connections).reconnect_budget(reconnect_for);
    if let Some(topic) = &send.defaults.topic {
        builder = builder.topic(topic.as_str());
    }
    let apns = builder.build().map_err(cli_error)?;
    let signal = Arc::new(AtomicUsize::new(0));
    for number in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_usize(number, signal.clone(), number as usize)
            .map_err(|error| CliError::Runtime(format!("cannot handle signals: {error}")))?;
    }
    self::send(&apns, work, args.json, close_timeout, &signal)?.finish()
}
