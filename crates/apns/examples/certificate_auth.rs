//! HTTP/2 with a client certificate: several notifications, a rejection heard by the response
//! listener.
//!
//! `cargo run --example certificate_auth` (in-process mock) or
//! `cargo run --example certificate_auth -- cert.pem key.pem BUNDLE_ID DEVICE_TOKEN`
//! (Apple's sandbox).

mod common;

use std::time::Duration;

use apns::mock::MockReason;
use apns::{Payload, Priority, PushType};

/// A token the mock refuses (when no credentials are given).
const BAD: &str = "00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::http2_certificate_target(|mock| mock.reject(BAD, MockReason::BAD_DEVICE_TOKEN))?;
    let apns = target.builder.connections(2).build()?;
    apns.register_response_listener(|report, rejection| {
        println!("refused {}: {} {:?}", report.apns_id, rejection.status, rejection.reason);
    });

    let mut tokens = vec![target.token.clone()];
    if target.mock.is_some() {
        tokens.push(BAD.to_owned());
    }
    let mut notifications = Vec::new();
    for (n, token) in tokens.iter().enumerate() {
        let payload = Payload::new().alert(format!("Hello #{n}"));
        let notification = apns
            .notification(token.parse()?, PushType::ALERT, &payload)?
            .priority(Priority::PowerConsiderate)
            .build()?;
        notifications.push(notification);
    }
    apns.send_all(notifications)?;

    let summary = apns.close(Duration::from_secs(10));
    let counters = &summary.counters.delivery;
    println!("sent {}: {} accepted, {} refused", counters.sent, counters.accepted, counters.rejected);
    Ok(())
}
