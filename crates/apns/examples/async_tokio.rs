//! The async API under tokio: `send_async` returns a future of the notification's report,
//! completed from the client's own thread, so any executor can await it (tokio here; smol,
//! async-std or `pollster::block_on` alike).
//!
//! `cargo run --example async_tokio` (in-process mock) or
//! `cargo run --example async_tokio -- AuthKey_KEYID.p8 KEY_ID TEAM_ID BUNDLE_ID DEVICE_TOKEN`.

mod common;

use std::time::Duration;

use apns::{Outcome, Payload, PushType};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::http2_token_target("DEVICE_TOKEN", |mock| mock)?;
    let apns = target.builder.build()?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(async {
        let mut futures = Vec::new();
        for n in 0..3 {
            let payload = Payload::new().alert(format!("async #{n}"));
            let notification =
                apns.notification(target.token.parse()?, PushType::ALERT, &payload)?.build()?;
            futures.push(apns.send_async(notification));
        }
        for future in futures {
            let report = future.await?;
            match report.outcome {
                Outcome::Accepted { .. } => println!("{} accepted", report.apns_id),
                other => println!("{} not delivered: {other:?}", report.apns_id),
            }
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    apns.close(Duration::from_secs(10));
    Ok(())
}
