//! HTTP/2 with a provider token (`.p8` key): send one alert, read its report.
//!
//! `cargo run --example token_auth` (in-process mock) or
//! `cargo run --example token_auth -- AuthKey_KEYID.p8 KEY_ID TEAM_ID BUNDLE_ID DEVICE_TOKEN`
//! (Apple's sandbox).

mod common;

use std::time::Duration;

use apns::{Outcome, Payload};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::http2_token_target("DEVICE_TOKEN", |mock| mock)?;
    let apns = target.builder.build()?;
    // HTTP/2's feedback: the tokens Apple answers 410 for, to delete.
    apns.on_unregistered(|gone| println!("delete {} (gone since {:?})", gone.token, gone.since));

    let outcomes = apns.outcomes();
    let payload = Payload::new().alert("Hello World!").sound("default").badge(1);
    apns.send_notification(target.token.parse()?, &payload)?;

    let summary = apns.close(Duration::from_secs(10));
    for report in outcomes {
        match report.outcome {
            Outcome::Accepted { apns_id, .. } => println!("accepted, apns-id {apns_id:?}"),
            Outcome::Rejected(rejection) => {
                println!("refused: {} {:?}", rejection.status, rejection.reason)
            }
            other => println!("not delivered: {other:?}"),
        }
    }
    println!("settled: {}, {} accepted", summary.settled, summary.counters.delivery.accepted);
    Ok(())
}
