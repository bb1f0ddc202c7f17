//! Apple's HTTP/2 provider API, without the HTTP/2: what a request carries and what a response
//! means.
//!
//! Like the binary codec at the crate root, this module is pure. It turns notifications into
//! [`apns_h2::Request`]s (method, path, headers in order with the HPACK
//! [`Indexing`](apns_h2::Indexing) Apple advises for each, and the body) that an
//! [`apns_h2::Connection`] writes as they are, and turns what the connection
//! received (status, header fields, body, GOAWAY debug data) into a [`Response`] with the
//! [`Classification`] a delivery layer acts on. Provider tokens (the JWT) live in the
//! `apns-auth` crate; this module only carries their [`Authorization`] header.
//!
//! The binary protocol's types are shared where they mean the same thing: [`Payload`] (with the
//! HTTP/2-era `aps` keys), [`Priority`] (with HTTP/2's priority 1) and [`Expiry`]. A device
//! token is a [`HexDeviceToken`] here, since the HTTP/2 API takes tokens of any length, and a
//! [`DeviceToken`](crate::DeviceToken) converts into one.
//!
//! ```
//! use apns_proto::http2::{
//!     BundleId, Classification, DeviceNotification, PushType, Reason, Response,
//! };
//! use apns_proto::{Payload, PayloadLimit, Priority};
//!
//! let app = BundleId::new("com.example.MyApp")?;
//! let payload = Payload::new().alert("Hello").encode(PayloadLimit::HTTP2)?;
//! let notification = DeviceNotification::builder("0a1b2c3d".parse()?, PushType::ALERT, payload)
//!     .topic(app.topic_for(&PushType::ALERT).unwrap())
//!     .priority(Priority::Low)
//!     .build()?;
//! let authority = apns_h2::HeaderValue::from_static("api.push.apple.com");
//! let request = notification.request(&authority, None); // certificate auth: no authorization
//! assert_eq!(request.header_value("apns-priority").map(|v| v.as_bytes()), Some(&b"1"[..]));
//!
//! let headers = [(&b"apns-id"[..], &b"eabeae54-14a8-11e5-b60b-1697f925ec7b"[..])];
//! let response = Response::parse(410, headers, br#"{"reason":"Unregistered","timestamp":1700000000000}"#);
//! assert_eq!(response.reason(), Some(&Reason::UNREGISTERED));
//! assert_eq!(response.classification(), Classification::Rejected);
//! assert!(response.token_invalid_since().is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Payload`]: crate::Payload
//! [`Priority`]: crate::Priority
//! [`Expiry`]: crate::Expiry

mod device_token;
pub mod header;
mod id;
mod push_type;
mod reason;
mod request;
mod response;
mod values;

pub use device_token::HexDeviceToken;
pub use header::Authorization;
pub use id::{ApnsId, ApnsIdGenerator, InvalidApnsId};
pub use push_type::{InvalidValue, PushType};
pub use reason::{classify_status, Classification, Reason};
pub use request::{
    BroadcastNotification, ChannelOperation, ChannelRequest, DeviceNotification, DeviceNotificationBuilder,
    MessageStoragePolicy, RequestError,
};
pub use response::{
    goaway_reason, parse_channel_list, BodyError, ChannelConfig, ErrorBody, Response, RetryAfter,
    MAX_CHANNEL_BODY, MAX_ERROR_BODY,
};
pub use values::{BundleId, ChannelId, CollapseId, Topic};

#[cfg(test)]
mod tests;
