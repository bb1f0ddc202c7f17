//! A Live Activity broadcast: one update to every device subscribed to a channel (iOS 18),
//! `POST /4/broadcasts/apps/<bundle id>` with `apns-channel-id`. Creating the channel is the
//! channel-management API's job.
//!
//! `cargo run --example broadcast` (in-process mock) or
//! `cargo run --example broadcast -- AuthKey_KEYID.p8 KEY_ID TEAM_ID BUNDLE_ID CHANNEL_ID`
//! (Apple's sandbox; the last argument is the channel id, base64).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apns::{ChannelId, LiveActivityEvent, Outcome, Payload, Priority};

/// A channel id in Apple's format (base64), for the mock.
const CHANNEL: &str = "dHN0LXUtY2hhbm5lbA==";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::http2_token_target("CHANNEL_ID", |mock| mock)?;
    let apns = target.builder.build()?;
    let channel: ChannelId = if target.mock.is_some() { CHANNEL.parse()? } else { target.token.parse()? };

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let payload = Payload::new()
        .event(LiveActivityEvent::Update)
        .content_state(serde_json::json!({ "home": 2, "away": 1 }))?
        .timestamp(now);
    let broadcast = apns.broadcast(channel, &payload)?.with_priority(Priority::Immediate);

    let outcomes = apns.outcomes();
    apns.send_broadcast_notification(broadcast)?;
    let report = outcomes.next_timeout(Duration::from_secs(10)).ok_or("no report within 10 s")?;
    match &report.outcome {
        Outcome::Accepted { apns_id, .. } => println!("broadcast accepted, apns-request-id {apns_id:?}"),
        other if target.mock.is_some() => {
            println!("the mock answered {other:?} (its broadcast endpoint comes with channel management)")
        }
        other => println!("broadcast not delivered: {other:?}"),
    }
    apns.close(Duration::from_secs(10));
    Ok(())
}
