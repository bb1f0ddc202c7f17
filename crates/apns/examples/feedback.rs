//! PyAPNs README, "Get feedback messages":
//!
//! ```python
//! feedback_connection = APNs(use_sandbox=True, cert_file='cert.pem', key_file='key.pem')
//! for (token_hex, fail_time) in feedback_connection.feedback_server.items():
//!     # do stuff with token_hex and fail_time
//! ```
//!
//! Without a certificate the in-process mock lists two uninstalled devices.

mod common;

use std::time::UNIX_EPOCH;

use apns::mock::FeedbackEntry;
use apns::DeviceToken;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gone = [DeviceToken::new([0xaa; 32]), DeviceToken::new([0xbb; 32])];
    let target = common::target(|mock| {
        mock.feedback_tuples(gone.iter().map(|token| FeedbackEntry::new(1_700_000_000, *token)))
    })?;
    let feedback_connection = target.builder.build()?;

    for (token, fail_time) in feedback_connection.feedback().items()? {
        let unix = fail_time.duration_since(UNIX_EPOCH)?.as_secs();
        // Stop sending to `token` unless it registered again after `fail_time`.
        println!("{token} uninstalled the app at {unix} (UNIX time)");
    }
    Ok(())
}
