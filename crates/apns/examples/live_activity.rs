//! A Live Activity update: push type `liveactivity` (topic `BUNDLE_ID.push-type.liveactivity`,
//! set from the default topic), `event`, `content-state`, `timestamp`, `stale-date`.
//!
//! `cargo run --example live_activity` (in-process mock) or
//! `cargo run --example live_activity -- AuthKey_KEYID.p8 KEY_ID TEAM_ID BUNDLE_ID ACTIVITY_TOKEN`
//! (Apple's sandbox; the token is the activity's push token).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apns::{LiveActivityEvent, Payload, Priority, PushType};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::http2_token_target("ACTIVITY_TOKEN", |mock| mock.record_in_memory(10))?;
    let apns = target.builder.build()?;

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let payload = Payload::new()
        .event(LiveActivityEvent::Update)
        .content_state(serde_json::json!({ "home": 2, "away": 1, "minute": 67 }))?
        .timestamp(now)
        .stale_date(now + 15 * 60)
        .alert("Goal! 2-1");
    let notification = apns
        .notification(target.token.parse()?, PushType::LIVE_ACTIVITY, &payload)?
        .priority(Priority::Immediate)
        .build()?;
    let report = send_and_wait(&apns, notification)?;
    println!("topic {:?}: {:?}", topic_of(&report), report.outcome);

    if let Some(mock) = &target.mock {
        for record in mock.server().records() {
            println!("the mock got {} with apns-topic {:?}", record.path, record.topic);
        }
    }
    Ok(())
}

/// Sends and waits for this notification's report on the outcomes iterator.
fn send_and_wait(
    apns: &apns::Apns,
    notification: apns::DeviceNotification,
) -> Result<apns::Report<apns::Tag>, Box<dyn std::error::Error>> {
    let outcomes = apns.outcomes();
    apns.send(notification)?;
    let report = outcomes.next_timeout(Duration::from_secs(10)).ok_or("no report within 10 s")?;
    apns.close(Duration::from_secs(10));
    Ok(report)
}

fn topic_of(report: &apns::Report<apns::Tag>) -> Option<String> {
    match &report.notification {
        apns::Notification::Device(notification) => notification.topic().map(|t| t.as_str().to_owned()),
        _ => None,
    }
}
