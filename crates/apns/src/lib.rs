//! Apple Push Notification service over the binary provider protocol: the API of PyAPNs, in
//! Rust.
//!
//! Apple retired the binary protocol in March 2021; this crate ships an in-process mock
//! (`mock::LocalMock`, feature `mock`, off by default) so everything below runs as is with
//! `features = ["mock"]`.
//!
//! | PyAPNs | `apns` |
//! |---|---|
//! | `APNs(use_sandbox=True, cert_file=.., key_file=.., enhanced=True)` | [`Apns::builder()`]`.sandbox().cert_file(..).key_file(..).enhanced(true).build()?` |
//! | `Payload(alert=.., sound=.., badge=.., custom={..})` | [`Payload::new()`]`.alert(..).sound(..).badge(..).custom(key, value)?` |
//! | `PayloadAlert("Hello", action_loc_key="Click me")` | [`Alert::with_body`]`("Hello").action_loc_key("Click me")` |
//! | `gateway_server.send_notification(token_hex, payload, identifier, expiry)` | [`Gateway::send_notification`] / [`Gateway::send`] |
//! | `Frame().add_item(..)`, `send_notification_multiple(frame)` | [`Frame::add_item`], [`Gateway::send_batch`] |
//! | `gateway_server.register_response_listener(f)` | [`Gateway::register_response_listener`] |
//! | (none) | [`Gateway::on_outcome`], [`Gateway::outcomes`]: every notification's final [`Outcome`] |
//! | `gateway_server.force_close()` | [`Gateway::force_close`]; graceful: [`Gateway::close`], [`Gateway::flush`] |
//! | `feedback_server.items()` | [`Feedback::items`]: an iterator of `(DeviceToken, SystemTime)` |
//!
//! # Quick start
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use std::time::Duration;
//! use apns::{mock::LocalMock, Apns, Outcome, Payload};
//!
//! // With Apple: Apns::builder().sandbox().cert_file("cert.pem").key_file("key.pem").build()?
//! let mock = LocalMock::start()?;
//! let apns: Apns = mock.builder().build()?;
//!
//! let outcomes = apns.gateway().outcomes();
//! let token = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80".parse()?;
//! let payload = Payload::new().alert("Hello World!").sound("default").badge(1);
//! apns.gateway().send_notification(token, &payload)?;
//!
//! // Returns once every notification has its outcome (proved by the gateway), or after 10 s.
//! let summary = apns.gateway().close(Duration::from_secs(10));
//! assert!(summary.settled);
//! let outcomes: Vec<_> = outcomes.map(|report| report.outcome).collect();
//! assert_eq!(outcomes, [Outcome::Accepted]);
//! # }
//! # Ok::<(), apns::Error>(())
//! ```
//!
//! # What happens underneath
//!
//! Sends go through a bounded queue to one event-loop thread (`apns-io`) that writes them over
//! TLS without waiting for answers; each connection's policy is a sans-io state machine there. The gateway answers only the first invalid notification,
//! then closes the connection and discards whatever followed; the sent-notification buffer
//! (`apns-resend`) knows what was written and resends the discarded notifications, in order,
//! on a new connection. Every notification ends with exactly one [`Outcome`]:
//! [`Accepted`](Outcome::Accepted) (proved), [`PresumedAccepted`](Outcome::PresumedAccepted)
//! (no error within 2 s), [`Rejected`](Outcome::Rejected) (with the [`Status`]) or
//! [`Failed`](Outcome::Failed). Connections close after 30 s idle; dropping the [`Apns`]
//! force-closes it, so the process never lingers.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod builder;
mod error;
mod feedback;
mod frame;
mod gateway;
#[cfg(feature = "mock")]
pub mod mock;

pub use builder::Builder;
pub use error::{AddressProblem, Error};
pub use feedback::{Feedback, FeedbackItems};
pub use frame::Frame;
pub use gateway::Gateway;

// One path per type: what the facade's API names is re-exported here, once, by its own name.
pub use apns_io::{
    CloseSummary, ConnectError, Counters, Endpoint, FeedbackError, GatewayResponse, Identity, Outcomes,
    Password, StartError, TlsError,
};
pub use apns_proto::{
    Alert, DeviceToken, EncodedPayload, Expiry, ExpiryError, Format, Notification, NotificationId, Payload,
    PayloadError, PayloadLimit, Priority, Sound, Status, TokenError,
};
pub use apns_resend::{FailReason, Outcome, Report};

/// The bounds of each connection's sent-notification buffer ([`Builder::resend`]).
pub mod resend {
    pub use apns_resend::{Config, ConfigError, Settlement};
}

/// A connection to APNs: the gateway (sending) and the feedback service. PyAPNs' `APNs`.
#[derive(Debug)]
pub struct Apns {
    gateway: Gateway,
    feedback: Feedback,
}

impl Apns {
    /// Starts building: [`Builder`].
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// The gateway: send, listen, close. PyAPNs' `gateway_server`.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The feedback service. PyAPNs' `feedback_server`.
    pub fn feedback(&self) -> &Feedback {
        &self.feedback
    }

    /// Both halves, e.g. to move the gateway to another thread.
    pub fn into_parts(self) -> (Gateway, Feedback) {
        (self.gateway, self.feedback)
    }
}
