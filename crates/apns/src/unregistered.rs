//! [`Unregistered`]: HTTP/2's feedback, the device tokens to stop sending to.

use std::time::SystemTime;

use apns_proto::http2::{ApnsId, HexDeviceToken, Reason, Topic};
use apns_resend::http2::{Notification, Outcome, Report};

/// A device token Apple answered 410 for (`Unregistered`, or `ExpiredToken`): the app is gone
/// from the device, or the token is no longer valid for the topic. HTTP/2's counterpart of
/// the binary protocol's feedback service: delete the token unless the device registered it
/// again after [`since`](Self::since).
///
/// Collect them with [`Apns::on_unregistered`](crate::Apns::on_unregistered), or from any
/// report with [`Unregistered::from_report`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unregistered {
    /// The device token.
    pub token: HexDeviceToken,
    /// The topic the notification was for.
    pub topic: Option<Topic>,
    /// When Apple found the token no longer valid (the 410's `timestamp`), if it said.
    pub since: Option<SystemTime>,
    /// Apple's reason (`Unregistered` or `ExpiredToken`).
    pub reason: Option<Reason>,
    /// The `apns-id` of the notification that was refused.
    pub apns_id: ApnsId,
}

impl Unregistered {
    /// The token to delete, if this report is a 410 for a device notification.
    pub fn from_report<U>(report: &Report<U>) -> Option<Self> {
        let (Outcome::Rejected(rejection), Notification::Device(notification)) =
            (&report.outcome, &report.notification)
        else {
            return None;
        };
        (rejection.status == 410).then(|| Self {
            token: notification.token().clone(),
            topic: notification.topic().cloned(),
            since: rejection.timestamp,
            reason: rejection.reason.clone(),
            apns_id: report.apns_id,
        })
    }
}
