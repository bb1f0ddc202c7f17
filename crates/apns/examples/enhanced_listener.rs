//! PyAPNs README, enhanced mode with an error-response listener:
//!
//! ```python
//! apns_enhanced = APNs(use_sandbox=True, cert_file='apns.pem', enhanced=True)
//! identifier = random.getrandbits(32)
//! apns_enhanced.gateway_server.send_notification(token_hex, payload, identifier=identifier)
//! def response_listener(error_response):
//!     _logger.debug("client get error-response: " + str(error_response))
//! apns_enhanced.gateway_server.register_response_listener(response_listener)
//! ```
//!
//! Without a certificate the in-process mock rejects the second token (status 8, invalid
//! token): the listener hears about it, and the notification sent after it, which the gateway
//! discarded, is resent and accepted.

mod common;

use std::time::Duration;

use apns::binary::{BinaryNotification, Status};
use apns::{DeviceToken, Payload, PayloadLimit};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bad = DeviceToken::new([0xba; 32]);
    let target = common::target(|mock| mock.reject(bad, Status::INVALID_TOKEN))?;
    let apns_enhanced = target.builder.enhanced(true).build()?;

    apns_enhanced.gateway().register_response_listener(|error_response| {
        // The status prints with its meaning, e.g. "invalid token (8)".
        match error_response.id {
            Some(identifier) => {
                println!("client got error-response: {} for identifier {identifier}", error_response.status)
            }
            None => println!("client got error-response: {}", error_response.status),
        }
    });
    // Beyond PyAPNs: every notification's final outcome.
    apns_enhanced.gateway().on_outcome(|report| println!("notification {}: {:?}", report.id, report.outcome));

    let payload =
        Payload::new().alert("Hello World!").sound("default").badge(1).encode(PayloadLimit::BINARY)?;
    let tokens = [common::TOKEN.parse()?, bad, common::TOKEN.parse()?];
    for (identifier, token) in (1u32..).zip(tokens) {
        apns_enhanced.gateway().send(BinaryNotification::new(token, payload.clone()).with_id(identifier))?;
    }

    let summary = apns_enhanced.gateway().close(Duration::from_secs(10));
    let counters = summary.counters;
    println!("accepted {}, rejected {}, resent {}", counters.accepted, counters.rejected, counters.resent);
    Ok(())
}
