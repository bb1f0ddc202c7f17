//! PyAPNs README, "Send a notification":
//!
//! ```python
//! apns = APNs(use_sandbox=True, cert_file='cert.pem', key_file='key.pem')
//! payload = Payload(alert="Hello World!", sound="default", badge=1)
//! apns.gateway_server.send_notification(token_hex, payload)
//! ```
//!
//! `cargo run --example send` (in-process mock) or `cargo run --example send -- cert.pem key.pem`.

mod common;

use std::time::Duration;

use apns::{DeviceToken, Payload};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::target(|mock| mock)?;
    let apns = target.builder.build()?;

    let token: DeviceToken = common::TOKEN.parse()?;
    let payload = Payload::new().alert("Hello World!").sound("default").badge(1);
    apns.gateway().send_notification(token, &payload)?;

    // PyAPNs gave no way to know; here `close` waits until the gateway proved it accepted.
    let summary = apns.gateway().close(Duration::from_secs(10));
    println!(
        "sent 1 notification: {} accepted, {} rejected",
        summary.counters.accepted, summary.counters.rejected
    );
    Ok(())
}
