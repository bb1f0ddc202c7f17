//! `apns demo` over HTTP/2 (the default): a test PKI and a provider key in a temporary folder,
//! the HTTP/2 mock in-process with token auth, notifications sent as a user would (the `.p8`
//! key file, its key id and team id), a few rejected with Apple's reasons, one token
//! unregistered with its timestamp, a GOAWAY ridden through; then the throughput, and the
//! command that sends a real push to your own device.

use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use apns::mock::{LocalHttp2Mock, MockReason as Reason, TEST_BUNDLE_ID};
use apns::{Apns, DeviceNotification, HexDeviceToken, Payload, PushType};

use crate::cmd::connect::cli_error;
use crate::cmd::send::deliver::{self, Work};
use crate::cmd::send::print_line;
use crate::cmd::CliError;

/// Tokens the mock refuses, each with Apple's reason.
const REJECTED: [(u8, Reason); 3] =
    [(0xb1, Reason::BAD_DEVICE_TOKEN), (0xb2, Reason::DEVICE_TOKEN_NOT_FOR_TOPIC), (0xb3, Reason::FORBIDDEN)];
/// The token the mock answers 410 Unregistered for.
const UNREGISTERED: u8 = 0xd1;
/// When the mock says that token stopped being valid (ms since the epoch: 2023-11-14).
const UNREGISTERED_SINCE_MS: u64 = 1_700_000_000_000;

/// A 32-byte device token of one repeated byte (valid by construction).
fn token(byte: u8) -> HexDeviceToken {
    let hex: String = std::iter::repeat_n(format!("{byte:02x}"), 32).collect();
    match hex.parse() {
        Ok(token) => token,
        Err(_) => unreachable!("64 hex digits are a device token"),
    }
}

pub(crate) fn run(count: u32) -> Result<(), CliError> {
    let count = count.max(10);
    let dir = std::env::temp_dir().join(format!("apns-demo-{}", std::process::id()));
    let goaway_every = u64::from(count / 3).max(1);
    let mock = LocalHttp2Mock::start_with(|mut config| {
        for (byte, reason) in &REJECTED {
            config = config.reject(token(*byte).as_str(), reason.clone());
        }
        config.unregistered(token(UNREGISTERED).as_str(), UNREGISTERED_SINCE_MS).goaway_every(goaway_every)
    })
    .map_err(|e| CliError::Runtime(e.to_string()))?;
    mock.pki().write_to(&dir).map_err(|e| CliError::Runtime(format!("cannot write the test PKI: {e}")))?;
    let key = mock.provider_key();
    let key_file = dir.join(format!("AuthKey_{}.p8", key.key_id));
    std::fs::write(&key_file, &key.private_key_pem)
        .map_err(|e| CliError::Runtime(format!("cannot write {}: {e}", key_file.display())))?;
    let addr = mock.server().addr();
    print_line(&format!(
        "apns demo: a test CA and a provider key ({}) in {}; the HTTP/2 mock of APNs on {addr} (token auth, a GOAWAY after every {goaway_every} requests of a connection)",
        key_file.display(),
        dir.display(),
    ))?;

    // The client, as a user would configure it: the .p8 key, its key id, the team id, the
    // app's bundle id; here the mock's address and CA instead of Apple's.
    let apns = Apns::builder()
        .gateway(&addr.to_string())
        .server_name("localhost")
        .ca_file(dir.join("ca.pem"))
        .token_key(key_file.as_path(), key.key_id.as_str(), key.team_id.as_str())
        .topic(TEST_BUNDLE_ID)
        .connections(2)
        .max_retries(1)
        .build()
        .map_err(cli_error)?;

    let payload = Payload::new().alert("Hello from apns demo").sound("default").badge(1);
    let payload =
        payload.encode(PushType::ALERT.payload_limit()).map_err(|e| CliError::Runtime(e.to_string()))?;
    let special: Vec<u8> = REJECTED.iter().map(|(byte, _)| *byte).chain([UNREGISTERED]).collect();
    let every = count / (special.len() as u32 + 1);
    let lines = (0..count)
        .map(|id| {
            let nth = if id > 0 && id % every == 0 { (id / every) as usize } else { 0 };
            let token = match special.get(nth.wrapping_sub(1)) {
                Some(byte) => token(*byte),
                None => {
                    let mut bytes = [0x5a; 32];
                    bytes[..4].copy_from_slice(&id.to_be_bytes());
                    HexDeviceToken::from_bytes(&bytes).map_err(|e| CliError::Runtime(e.to_string()))?
                }
            };
            // No topic: the client's default one (the builder's `topic`).
            let notification = DeviceNotification::builder(token, PushType::ALERT, payload.clone())
                .build()
                .map_err(|e| CliError::Runtime(e.to_string()))?;
            Ok((id, notification))
        })
        .collect::<Result<Vec<_>, CliError>>()?;
    print_line(&format!(
        "sending {count} notifications: {} to tokens the mock refuses, 1 to a token it says is unregistered...",
        REJECTED.len()
    ))?;
    let started = Instant::now();
    let summary =
        deliver::send(&apns, Work::Devices(lines), false, Duration::from_secs(120), &AtomicUsize::new(0))?;
    let elapsed = started.elapsed();
    summary.print_demo(count, elapsed)?;
    let stats = mock.server().stats();
    print_line(&format!(
        "  the mock answered {} requests ({} accepted, {} rejected) on {} connections, {} GOAWAYs",
        stats.requests, stats.accepted, stats.rejected, stats.connections, stats.goaways
    ))?;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = mock.stop();
    let lost = summary.lost();
    print_line(if lost == 0 {
        "\nevery notification has its outcome; none lost."
    } else {
        "\nsome notifications have no outcome"
    })?;
    print_line(
        "\nto send a real push to your own iPhone (see the README, \"Send to your own iPhone\"):\n  \
         apns send --sandbox --key-file AuthKey_KEYID.p8 --key-id KEYID --team-id TEAMID --topic com.your.app --token DEVICE_TOKEN --alert \"Hello\"",
    )?;
    if lost == 0 {
        Ok(())
    } else {
        Err(CliError::Runtime("some notifications have no outcome".into()))
    }
}
