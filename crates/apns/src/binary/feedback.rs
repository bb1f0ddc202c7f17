//! [`Feedback`]: the feedback service as an iterator (PyAPNs' `feedback_server`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use apns_io::Endpoint;
use apns_proto::{DeviceToken, FeedbackItem};

use crate::Error;

/// The feedback side of an [`Apns`](super::BinaryApns): PyAPNs' `feedback_server`.
///
/// Apple lists, once, the devices where the app was uninstalled, with the time it noticed; it
/// clears the list once read. Stop sending to a device unless it registered again after that
/// time.
pub struct Feedback {
    endpoint: Endpoint,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
}

impl std::fmt::Debug for Feedback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feedback").field("endpoint", &self.endpoint).field("timeout", &self.timeout).finish()
    }
}

impl Feedback {
    pub(crate) fn new(endpoint: Endpoint, tls: Arc<rustls::ClientConfig>, timeout: Duration) -> Self {
        Self { endpoint, tls, timeout }
    }

    /// The feedback service connected to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Connects to the feedback service, reads its whole list on a new connection (as Apple
    /// requires) and returns it as an iterator of `(token, time)`: PyAPNs'
    /// `feedback_server.items()`. Records split across reads are kept whole (PyAPNs dropped
    /// them). It runs on the calling thread, over one connection to the feedback service
    /// only.
    pub fn items(&self) -> Result<FeedbackItems, Error> {
        let items = apns_io::fetch_feedback(&self.endpoint, self.tls.clone(), self.timeout)?;
        Ok(FeedbackItems { items: items.into_iter() })
    }
}

/// The devices listed by the feedback service ([`Feedback::items`]).
#[derive(Debug, Clone)]
pub struct FeedbackItems {
    items: std::vec::IntoIter<FeedbackItem>,
}

impl FeedbackItems {
    /// The items as Apple sent them (token and UNIX seconds).
    pub fn as_slice(&self) -> &[FeedbackItem] {
        self.items.as_slice()
    }
}

impl Iterator for FeedbackItems {
    type Item = (DeviceToken, SystemTime);

    fn next(&mut self) -> Option<Self::Item> {
        self.items
            .next()
            .map(|item| (item.token, SystemTime::UNIX_EPOCH + Duration::from_secs(item.time.into())))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.items.size_hint()
    }
}

impl ExactSizeIterator for FeedbackItems {}
