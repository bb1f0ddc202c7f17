//! PyAPNs README, "For more complicated alerts including custom buttons etc, use the
//! PayloadAlert class":
//!
//! ```python
//! alert = PayloadAlert("Hello world!", action_loc_key="Click me")
//! payload = Payload(alert=alert, sound="default")
//! ```

mod common;

use std::time::Duration;

use apns::{Alert, Payload, PayloadLimit};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::target(|mock| mock)?;
    let apns = target.builder.build()?;

    let alert = Alert::with_body("Hello world!").action_loc_key("Click me");
    let payload = Payload::new().alert(alert).sound("default");
    println!("payload: {}", String::from_utf8_lossy(payload.encode(PayloadLimit::BINARY)?.as_bytes()));

    apns.gateway().send_notification(common::TOKEN.parse()?, &payload)?;
    let summary = apns.gateway().close(Duration::from_secs(10));
    println!("accepted: {}", summary.counters.accepted);
    Ok(())
}
