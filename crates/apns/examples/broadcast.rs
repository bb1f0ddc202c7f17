//! A Live Activity broadcast: one update to every device subscribed to a channel (iOS 18),
//! `POST /4/broadcasts/apps/<bundle id>` with `apns-channel-id`. Against the mock, the channel
//! is created first with the channel-management API (`apns::channels`).
//!
//! `cargo run --example broadcast` (in-process mock) or
//! `cargo run --example broadcast -- AuthKey_KEYID.p8 KEY_ID TEAM_ID BUNDLE_ID CHANNEL_ID`
//! (Apple's sandbox; the last argument is the channel id, base64).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apns::channels::MessageStoragePolicy;
use apns::{ChannelId, LiveActivityEvent, Outcome, Payload, Priority};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::http2_token_target("CHANNEL_ID", |mock| mock)?;
    let apns = target.builder.build()?;
    let channel: ChannelId = match &target.mock {
        // The mock serves the channel-management API too (Apple: on its own host).
        Some(mock) => mock.builder().build_channels()?.create(MessageStoragePolicy::NO_STORAGE)?,
        None => target.token.parse()?,
    };

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
        other => println!("broadcast not delivered: {other:?}"),
    }
    apns.close(Duration::from_secs(10));
    Ok(())
}
