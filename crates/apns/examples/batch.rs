//! PyAPNs README, "Send multiple notifications in a single transmission":
//!
//! ```python
//! frame = Frame()
//! identifier = 1
//! expiry = time.time()+3600
//! priority = 10
//! frame.add_item('b5bb9d80...', payload, identifier, expiry, priority)
//! apns.gateway_server.send_notification_multiple(frame)
//! ```

mod common;

use std::time::{Duration, SystemTime};

use apns::binary::Frame;
use apns::{Expiry, Payload, Priority};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::target(|mock| mock)?;
    let apns = target.builder.build()?;

    let payload = Payload::new().alert("Hello World!").sound("default").badge(1);
    let expiry = Expiry::after(SystemTime::now(), Duration::from_secs(3600))?;
    let mut frame = Frame::new();
    for identifier in 1..=3 {
        frame.add_item(common::TOKEN.parse()?, &payload, identifier, expiry, Priority::Immediate)?;
    }
    apns.gateway().send_batch(frame)?;

    // Every notification's outcome, as it settles.
    let outcomes = apns.gateway().outcomes();
    let summary = apns.gateway().close(Duration::from_secs(10));
    for report in outcomes {
        println!("notification {}: {:?}", report.id, report.outcome);
    }
    println!("settled: {}", summary.settled);
    Ok(())
}
