//! The binary provider protocol, PyAPNs' API: [`BinaryApns`] (PyAPNs' `APNs`), its
//! [`Gateway`] (`gateway_server`) and [`Feedback`] (`feedback_server`), [`Frame`] batches.
//!
//! Apple retired this protocol in March 2021; it stays for the PyAPNs heritage, for the
//! in-process mock (`apns::mock::LocalMock`, feature `mock`) and for gateways
//! that still speak it. The types the two protocols share ([`Payload`](crate::Payload),
//! [`DeviceToken`](crate::DeviceToken), [`Priority`](crate::Priority), [`Expiry`](crate::Expiry),
//! [`Error`](crate::Error)...) are at the crate root; those of this protocol whose name the
//! HTTP/2 API also uses carry a `Binary` prefix here ([`BinaryOutcome`], [`BinaryReport`],
//! [`BinaryNotification`], [`BinaryFailReason`]).
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use std::time::Duration;
//! use apns::binary::{BinaryApns, BinaryOutcome};
//! use apns::{mock::LocalMock, Payload};
//!
//! // With Apple's gateway: BinaryApns::builder().sandbox().cert_file("cert.pem").key_file("key.pem").build()?
//! let mock = LocalMock::start()?;
//! let apns: BinaryApns = mock.builder().build()?;
//! let outcomes = apns.gateway().outcomes();
//! let token = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80".parse()?;
//! apns.gateway().send_notification(token, &Payload::new().alert("Hello World!"))?;
//! assert!(apns.gateway().close(Duration::from_secs(10)).settled);
//! assert_eq!(outcomes.map(|report| report.outcome).collect::<Vec<_>>(), [BinaryOutcome::Accepted]);
//! # }
//! # Ok::<(), apns::Error>(())
//! ```

mod builder;
mod feedback;
mod frame;
mod gateway;

pub use builder::BinaryBuilder;
pub use feedback::{Feedback, FeedbackItems};
pub use frame::Frame;
pub use gateway::Gateway;

// One path per type: the binary protocol's own types, each once, by its own name (or, where
// the HTTP/2 API uses the same name for another type, with a `Binary` prefix).
pub use apns_io::{CloseSummary, Counters, FeedbackError, GatewayResponse};
pub use apns_proto::{Format, Notification as BinaryNotification, NotificationId, Status};
pub use apns_resend::{FailReason as BinaryFailReason, Outcome as BinaryOutcome, Report as BinaryReport};

/// The bounds of each connection's sent-notification buffer ([`BinaryBuilder::resend`]).
pub mod resend {
    pub use apns_resend::{Config, ConfigError, Settlement};
}

/// A connection to APNs over the binary protocol: the gateway (sending) and the feedback
/// service. PyAPNs' `APNs`.
#[derive(Debug)]
pub struct BinaryApns {
    gateway: Gateway,
    feedback: Feedback,
}

impl BinaryApns {
    /// Starts building: [`BinaryBuilder`] (also [`Apns::binary_builder`](crate::Apns::binary_builder)).
    pub fn builder() -> BinaryBuilder {
        BinaryBuilder::new()
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
