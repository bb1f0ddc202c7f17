//! PyAPNs README, "Error response worker will be auto-close after 30 secs idle of connection
//! operations. If you want disable APNS connection and error-responses handler immediately,
//! force_close it":
//!
//! ```python
//! apns_enhanced.gateway_server.force_close()
//! ```

mod common;

use std::time::{Duration, Instant};

use apns::Payload;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::target(|mock| mock)?;
    // Connections close by themselves after 30 s idle (the default, as PyAPNs); 5 s here.
    let apns = target.builder.idle_timeout(Some(Duration::from_secs(5))).build()?;

    let payload = Payload::new().alert("Hello World!");
    for _ in 0..1000 {
        apns.gateway().send_notification(common::TOKEN.parse()?, &payload)?;
    }

    let started = Instant::now();
    let summary = apns.gateway().force_close();
    println!(
        "force-closed in {:?}: {} notifications settled, {} abandoned, {} never written",
        started.elapsed(),
        summary.counters.accepted + summary.counters.rejected,
        summary.counters.failed,
        summary.unsent.len()
    );
    // Sending after the close is an error, not a hang.
    if let Err(error) = apns.gateway().send_notification(common::TOKEN.parse()?, &payload) {
        println!("after force_close: {error}");
    }
    Ok(())
}
