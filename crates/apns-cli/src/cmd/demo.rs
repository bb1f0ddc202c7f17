//! `apns demo`: the whole library in a few seconds, with nothing to set up. Over HTTP/2 (the
//! default) in `demo/http2.rs`; with `--binary`, the binary protocol's demo here: it generates a
//! test PKI in a temporary folder, starts the mock in-process, sends 100,000 notifications (some
//! to tokens the mock rejects, through a connection the mock drops once), reads the feedback
//! service, and reports what happened.

use std::time::{Duration, Instant, UNIX_EPOCH};

use apns::binary::{BinaryApns as Apns, BinaryNotification as Notification, Status};
use apns::mock::{FeedbackEntry, LocalMock};
use apns::{DeviceToken, Payload, PayloadLimit};

use super::connect::cli_error;
use super::send::{print_line, send};
use super::CliError;

mod http2;

/// Arguments of `apns demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The binary protocol's demo (PyAPNs' gateway and feedback service) instead of HTTP/2.
    #[arg(long)]
    binary: bool,
    /// How many notifications to send (default 100,000).
    #[arg(long, hide = true)]
    count: Option<u32>,
}

const BAD_TOKENS: [(u8, Status); 3] =
    [(0xb1, Status::INVALID_TOKEN), (0xb2, Status::INVALID_TOKEN_SIZE), (0xb3, Status::INVALID_PAYLOAD_SIZE)];

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    if !args.binary {
        return http2::run(args.count.unwrap_or(100_000));
    }
    let count = args.count.unwrap_or(100_000).max(10);
    let dir = std::env::temp_dir().join(format!("apns-demo-{}", std::process::id()));
    // The mock: three tokens it rejects, a connection dropped silently now and then, two
    // uninstalled devices.
    // The mock drops a connection silently after this many notifications on it: once between
    // two rejections.
    let drop_every = u64::from(count) * 3 / 20;
    let uninstalled = [DeviceToken::new([0xd1; 32]), DeviceToken::new([0xd2; 32])];
    let mock = LocalMock::start_with(|mut config| {
        for (byte, status) in BAD_TOKENS {
            config = config.reject(DeviceToken::new([byte; 32]), status);
        }
        config
            .drop_every(drop_every)
            .feedback_tuples(uninstalled.iter().map(|token| FeedbackEntry::new(1_700_000_000, *token)))
    })
    .map_err(|e| CliError::Runtime(e.to_string()))?;
    mock.pki().write_to(&dir).map_err(|e| CliError::Runtime(format!("cannot write the test PKI: {e}")))?;
    print_line(&format!(
        "apns demo: test certificates in {}; mock gateway on {}, feedback on {}",
        dir.display(),
        mock.server().gateway_addr(),
        mock.server().feedback_addr()
    ))?;

    // The client, as a user would configure it: certificate files, the mock's CA.
    let apns = Apns::builder()
        .gateway(&mock.server().gateway_addr().to_string())
        .feedback(&mock.server().feedback_addr().to_string())
        .server_name("localhost")
        .cert_file(dir.join("client.pem"))
        .key_file(dir.join("client.key"))
        .ca_file(dir.join("ca.pem"))
        // The mock answers errors within 20 ms (Apple: 0.1 to 0.8 s), so a notification
        // unanswered for 100 ms is safely presumed accepted; a window of half the drop interval
        // means no notification is in flight during two drops.
        .resend(
            apns::binary::resend::Config::default()
                .max_age(Duration::from_millis(100))
                .max_in_flight(usize::try_from(drop_every / 2).unwrap_or(10_000).max(1))
                .capacity(usize::try_from(drop_every * 2).unwrap_or(40_000).max(2)),
        )
        .build()
        .map_err(cli_error)?;

    let payload = Payload::new().alert("Hello from apns demo").sound("default").badge(1);
    let payload = payload.encode(PayloadLimit::BINARY).map_err(|e| CliError::Runtime(e.to_string()))?;
    let bad_every = count / (BAD_TOKENS.len() as u32 + 1);
    let notifications: Vec<Notification> = (0..count)
        .map(|id| {
            let nth_bad = if id > 0 && id % bad_every == 0 { (id / bad_every) as usize } else { 0 };
            let token = match BAD_TOKENS.get(nth_bad.wrapping_sub(1)) {
                Some((byte, _)) => DeviceToken::new([*byte; 32]),
                None => {
                    let mut bytes = [0x5a; 32];
                    bytes[..4].copy_from_slice(&id.to_be_bytes());
                    DeviceToken::new(bytes)
                }
            };
            Notification::new(token, payload.clone()).with_id(id)
        })
        .collect();
    print_line(&format!(
        "sending {count} notifications ({} to tokens the gateway rejects; the gateway also drops a connection without a word after every {drop_every} it accepts)...",
        BAD_TOKENS.len()
    ))?;
    let started = Instant::now();
    let summary = send(&apns, notifications, false)?;
    let elapsed = started.elapsed();

    let tally = &summary.tally;
    let counters = &summary.counters;
    let rate = f64::from(count) / elapsed.as_secs_f64().max(1e-9);
    print_line(&format!(
        "\nsent {count} in {:.2} s ({:.0} notifications/s) over {} TLS connections",
        elapsed.as_secs_f64(),
        rate,
        counters.connections
    ))?;
    print_line(&format!(
        "  accepted   {:>7}  ({} proved by the gateway, {} presumed)",
        counters.accepted,
        counters.accepted - counters.presumed_accepted,
        counters.presumed_accepted
    ))?;
    print_line(&format!("  rejected   {:>7}", tally.rejected.len()))?;
    for report in tally.rejected.iter().take(10) {
        if let apns::binary::BinaryOutcome::Rejected(status) = report.outcome {
            let token = report.token.to_string();
            print_line(&format!(
                "    id {:>6}  token {}…  {status}",
                report.id,
                token.get(..16).unwrap_or(&token)
            ))?;
        }
    }
    if tally.rejected.len() > 10 {
        print_line(&format!("    ... and {} more", tally.rejected.len() - 10))?;
    }
    print_line(&format!("  failed     {:>7}", counters.failed))?;
    print_line(&format!(
        "  resent     {:>7}  (discarded by the gateway after an error response, or in flight when a connection dropped)",
        counters.resent
    ))?;
    print_line(&format!(
        "  error responses {}, silent closes {}, possible duplicates {}",
        counters.error_responses, counters.silent_closes, counters.possible_duplicates
    ))?;
    let stats = mock.server().stats();
    print_line(&format!(
        "  the mock gateway accepted {}, rejected {}, discarded {}, dropped {} connection(s)",
        stats.accepted, stats.rejected, stats.discarded, stats.dropped
    ))?;

    let feedback = apns.feedback().items().map_err(|e| CliError::Runtime(format!("feedback: {e}")))?;
    print_line(&format!("\nfeedback service: {} uninstalled device(s)", feedback.len()))?;
    for (token, time) in feedback {
        let unix = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        print_line(&format!("  {token} at {unix}"))?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = mock.stop();
    let lost = u64::from(count).saturating_sub(counters.finished());
    print_line(&format!(
        "\n{}",
        if lost == 0 && counters.failed == 0 {
            "every notification has its outcome; none lost."
        } else {
            "some notifications have no outcome"
        }
    ))?;
    Ok(())
}
