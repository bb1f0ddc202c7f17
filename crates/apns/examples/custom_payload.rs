//! PyAPNs README, "To send custom payload arguments, pass a dictionary to the custom kwarg":
//!
//! ```python
//! payload = Payload(alert="Hello World!", custom={'sekrit_number':123})
//! ```

mod common;

use std::time::Duration;

use apns::{Payload, PayloadLimit};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::target(|mock| mock)?;
    let apns = target.builder.build()?;

    // Any `serde::Serialize` value; `custom_object` merges a whole JSON object.
    let payload = Payload::new().alert("Hello World!").custom("sekrit_number", 123)?;
    println!("payload: {}", String::from_utf8_lossy(payload.encode(PayloadLimit::BINARY)?.as_bytes()));

    apns.gateway().send_notification(common::TOKEN.parse()?, &payload)?;
    let summary = apns.gateway().close(Duration::from_secs(10));
    println!("accepted: {}", summary.counters.accepted);
    Ok(())
}
