//! Apple Push Notification service: Apple's HTTP/2 provider API, with the binary protocol of
//! PyAPNs kept for its heritage.
//!
//! # HTTP/2 with a provider token
//!
//! ```no_run
//! use std::time::Duration;
//! use apns::{Apns, Outcome, Payload};
//!
//! let apns = Apns::builder()
//!     .sandbox()                                            // or .production() (the default)
//!     .token_key("AuthKey_ABC123DEFG.p8", "ABC123DEFG", "DEF123GHIJ") // .p8, key id, team id
//!     .topic("com.example.MyApp")                           // the default topic: your bundle id
//!     .build()?;
//!
//! let outcomes = apns.outcomes();
//! let token = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80".parse()?;
//! apns.send_notification(token, &Payload::new().alert("Hello World!").sound("default").badge(1))?;
//!
//! apns.close(Duration::from_secs(10)); // returns once every notification has its report
//! for report in outcomes {
//!     match report.outcome {
//!         Outcome::Accepted { apns_id, .. } => println!("accepted: {apns_id:?}"),
//!         Outcome::Rejected(rejection) => println!("refused: {} {:?}", rejection.status, rejection.reason),
//!         other => println!("not delivered: {other:?}"),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same against the in-process mock (feature `mock`, off by default; the tests and
//! examples turn it on), which checks the provider token as Apple does:
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use std::time::Duration;
//! use apns::{mock::LocalHttp2Mock, Outcome, Payload};
//!
//! let mock = LocalHttp2Mock::start()?;  // a test PKI, a provider key and an HTTP/2 mock on loopback
//! let apns = mock.builder().build()?;   // token auth, default topic, pointed at the mock
//! let outcomes = apns.outcomes();
//! let token = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80".parse()?;
//! apns.send_notification(token, &Payload::new().alert("Hello World!"))?;
//! assert!(apns.close(Duration::from_secs(10)).settled);
//! let report = outcomes.into_iter().next().unwrap();
//! assert!(matches!(report.outcome, Outcome::Accepted { .. }));
//! # }
//! # Ok::<(), apns::Error>(())
//! ```
//!
//! Every notification gets exactly one [`Report`]: [`Outcome::Accepted`] (with `apns-id` and
//! the sandbox's `apns-unique-id`), [`Outcome::Rejected`] (Apple's status and [`Reason`], and
//! for 410 when the token stopped being valid) or [`Outcome::Failed`] ([`FailReason`]). Read
//! them from [`Apns::outcomes`], [`Apns::on_outcome`], [`Apns::register_response_listener`]
//! (refusals only), or await one with [`Apns::send_async`] in any executor. HTTP/2's
//! "feedback" is the 410s: [`Apns::on_unregistered`] hands over each token to delete, as an
//! [`Unregistered`] with its time.
//!
//! A notification with everything set by hand, and a Live Activity broadcast:
//!
//! ```no_run
//! # fn demo(apns: &apns::Apns) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::{Duration, SystemTime};
//! use apns::{CollapseId, Expiry, Payload, Priority, PushType};
//!
//! let token = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80".parse()?;
//! let notification = apns
//!     .notification(token, PushType::ALERT, &Payload::new().alert("Lunch?"))? // default topic set
//!     .priority(Priority::PowerConsiderate)                            // 10, 5 or 1
//!     .expiration(Expiry::after(SystemTime::now(), Duration::from_secs(3600))?)
//!     .collapse_id(CollapseId::new("lunch")?)
//!     .build()?;
//! apns.send(notification)?;
//! apns.send_broadcast("dHN0LXUtY2hhbm5lbA==".parse()?, &Payload::new().alert("Goal!"))?;
//! # Ok(()) }
//! ```
//!
//! Broadcast channels are created, read, listed and deleted with [`channels`]
//! ([`Builder::build_channels`]: the same credentials, the environment's management host).
//!
//! # HTTP/2 with a certificate
//!
//! ```no_run
//! let apns = apns::Apns::builder()
//!     .production()
//!     .cert_file("cert.pem")
//!     .key_file("key.pem")                // or .p12_file("push.p12", "password")
//!     .topic("com.example.MyApp")         // optional: a certificate names its app
//!     .connections(4)
//!     .build()?;
//! # Ok::<(), apns::Error>(())
//! ```
//!
//! # The binary protocol: PyAPNs' API
//!
//! Apple retired the binary protocol in March 2021. Its API, PyAPNs' shape, stays in
//! [`binary`] (with its in-process mock, `mock::LocalMock`, feature `mock`):
//!
//! | PyAPNs | `apns` |
//! |---|---|
//! | `APNs(use_sandbox=True, cert_file=.., key_file=.., enhanced=True)` | [`Apns::binary_builder()`]`.sandbox().cert_file(..).key_file(..).enhanced(true).build()?` ([`binary::BinaryApns`]) |
//! | `Payload(alert=.., sound=.., badge=.., custom={..})` | [`Payload::new()`]`.alert(..).sound(..).badge(..).custom(key, value)?` |
//! | `PayloadAlert("Hello", action_loc_key="Click me")` | [`Alert::with_body`]`("Hello").action_loc_key("Click me")` |
//! | `gateway_server.send_notification(token_hex, payload, identifier, expiry)` | [`binary::Gateway::send_notification`] / [`binary::Gateway::send`] |
//! | `Frame().add_item(..)`, `send_notification_multiple(frame)` | [`binary::Frame::add_item`], [`binary::Gateway::send_batch`] |
//! | `gateway_server.register_response_listener(f)` | [`binary::Gateway::register_response_listener`] |
//! | (none) | [`binary::Gateway::on_outcome`], [`binary::Gateway::outcomes`]: every notification's final [`binary::BinaryOutcome`] |
//! | `gateway_server.force_close()` | [`binary::Gateway::force_close`]; graceful: [`binary::Gateway::close`], [`binary::Gateway::flush`] |
//! | `feedback_server.items()` | [`binary::Feedback::items`]: an iterator of `(DeviceToken, SystemTime)` |
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use std::time::Duration;
//! use apns::binary::BinaryOutcome;
//! use apns::{mock::LocalMock, Payload};
//!
//! // With Apple: Apns::binary_builder().sandbox().cert_file("cert.pem").key_file("key.pem").build()?
//! let mock = LocalMock::start()?;
//! let apns = mock.builder().build()?;
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
//! assert_eq!(outcomes, [BinaryOutcome::Accepted]);
//! # }
//! # Ok::<(), apns::Error>(())
//! ```
//!
//! # What happens underneath
//!
//! Sends go through a bounded queue to one event-loop thread (`apns-io`) that drives the
//! connections; the policy is a sans-io state machine (`apns-resend`). On HTTP/2 it keeps a
//! pool of connections, follows the server's stream limit, resends what a GOAWAY or a lost
//! connection left unanswered (marking possible duplicates), retries 429/500/503 after a
//! backoff, renews provider tokens, pings quiet connections and bounds every wait. On the
//! binary protocol, the gateway answers only the first invalid notification, then closes the
//! connection and discards whatever followed; the sent-notification buffer resends the
//! discarded notifications, in order, on a new connection. Dropping a client force-closes it,
//! so the process never lingers.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod binary;
mod builder;
pub mod channels;
mod client;
mod credentials;
mod error;
mod future;
#[cfg(feature = "mock")]
pub mod mock;
mod unregistered;

pub use builder::{Builder, KeySource};
pub use client::Apns;
pub use error::{AddressProblem, Error};
pub use future::{OutcomeFuture, Tag};
pub use unregistered::Unregistered;

// One path per type: what the facade's API names is re-exported here, once, by its own name.
// The types both protocols use, and the HTTP/2 API's; the binary protocol's own are in
// `binary`.
pub use apns_auth::{IdError, KeyError};
pub use apns_io::http2::{Http2Counters, Http2Summary};
pub use apns_io::{ConnectError, Endpoint, Identity, Outcomes, Password, StartError, TlsError};
pub use apns_proto::http2::{
    ApnsId, ApnsIdGenerator, BroadcastNotification, BundleId, ChannelId, CollapseId, DeviceNotification,
    DeviceNotificationBuilder, HexDeviceToken, InvalidApnsId, InvalidValue, PushType, Reason, RequestError,
    Topic,
};
pub use apns_proto::{
    Alert, AlertContent, DeviceToken, EncodedPayload, Expiry, ExpiryError, InterruptionLevel,
    LiveActivityEvent, Payload, PayloadError, PayloadLimit, Priority, Sound, TokenError,
};
pub use apns_resend::http2::{
    Event, FailReason, HaltReason, Item, Notification, Outcome, Rejection, Report, RetryCause, Stats,
};
