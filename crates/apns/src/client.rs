//! [`Apns`]: the HTTP/2 client — sending, listeners, outcomes, flushing, closing.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use apns_io::http2::{Http2Client, Http2Counters, Http2SendError, Http2Summary};
use apns_io::{Endpoint, Outcomes};
use apns_proto::http2::{
    BroadcastNotification, BundleId, ChannelId, DeviceNotification, DeviceNotificationBuilder,
    HexDeviceToken, PushType,
};
use apns_proto::Payload;
use apns_resend::http2::{Event, Item, Outcome, Rejection, Report};

use crate::binary::BinaryBuilder;
use crate::future::{OutcomeFuture, Tag};
use crate::{Builder, Error, Unregistered};

type ReportListener = Box<dyn FnMut(&Report<Tag>) + Send>;
type RejectionListener = Box<dyn FnMut(&Report<Tag>, &Rejection) + Send>;
type UnregisteredListener = Box<dyn FnMut(&Unregistered) + Send>;
type EventListener = Box<dyn FnMut(&Event<Tag>) + Send>;

/// What the event-loop thread shares with the [`Apns`] handle.
#[derive(Default)]
pub(crate) struct Listeners {
    events: Mutex<Vec<EventListener>>,
    outcomes: Mutex<Vec<ReportListener>>,
    rejections: Mutex<Vec<RejectionListener>>,
    unregistered: Mutex<Vec<UnregisteredListener>>,
}

impl Listeners {
    /// One event, on the loop thread: to the event listeners; a report to the outcome
    /// listeners, a rejection to the response listeners, a 410 to the unregistered
    /// listeners, and to the future awaiting it, if any.
    pub(crate) fn handle(&self, event: &Event<Tag>) {
        for listener in lock(&self.events).iter_mut() {
            listener(event);
        }
        let Event::Finished(report) = event else { return };
        for listener in lock(&self.outcomes).iter_mut() {
            listener(report);
        }
        if let Outcome::Rejected(rejection) = &report.outcome {
            for listener in lock(&self.rejections).iter_mut() {
                listener(report, rejection);
            }
            if let Some(unregistered) = Unregistered::from_report(report) {
                for listener in lock(&self.unregistered).iter_mut() {
                    listener(&unregistered);
                }
            }
        }
        Tag::complete(report);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the handle needs of the builder's settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) endpoint: Endpoint,
    pub(crate) bundle_id: Option<BundleId>,
    pub(crate) token_auth: bool,
    pub(crate) send_timeout: Duration,
    pub(crate) outcome_capacity: usize,
}

/// A client of Apple's HTTP/2 provider API: [`Apns::builder`], then send.
///
/// Sends hand notifications to an event-loop thread and return at once; Apple's answers
/// arrive later, as one [`Report`] per notification, to the listeners
/// ([`on_outcome`](Self::on_outcome), [`register_response_listener`](Self::register_response_listener),
/// [`on_unregistered`](Self::on_unregistered)), the [`outcomes`](Self::outcomes) iterator and,
/// for [`send_async`](Self::send_async), its future. It is `Sync`: share it between threads
/// with an `Arc` or a reference. Dropping it force-closes it.
///
/// Listeners run on the event-loop thread: keep them short, and do not send, register or
/// close from inside one (forward to a channel instead).
pub struct Apns {
    client: Http2Client<Tag>,
    listeners: Arc<Listeners>,
    settings: Settings,
}

impl std::fmt::Debug for Apns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apns").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Apns {
    /// Starts building an HTTP/2 client: [`Builder`].
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Starts building a client of the (retired) binary protocol, PyAPNs' `APNs`:
    /// [`BinaryBuilder`].
    pub fn binary_builder() -> BinaryBuilder {
        BinaryBuilder::new()
    }

    pub(crate) fn new(client: Http2Client<Tag>, listeners: Arc<Listeners>, settings: Settings) -> Self {
        Self { client, listeners, settings }
    }

    /// The gateway connected to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.settings.endpoint
    }

    /// The default bundle id ([`Builder::topic`]).
    pub fn bundle_id(&self) -> Option<&BundleId> {
        self.settings.bundle_id.as_ref()
    }

    /// Starts a notification of `push_type` to `token`, with the default topic (plus the push
    /// type's suffix) already set and the payload encoded against the push type's limit
    /// (4,096 bytes, 5,120 for VoIP). Chain `.priority(..)`, `.expiration(..)`,
    /// `.collapse_id(..)`, `.id(..)`, then `.build()?` and [`send`](Self::send) it.
    pub fn notification(
        &self,
        token: HexDeviceToken,
        push_type: PushType,
        payload: &Payload,
    ) -> Result<DeviceNotificationBuilder, Error> {
        let payload = payload.encode(push_type.payload_limit())?;
        let topic = self.settings.bundle_id.as_ref().and_then(|bundle| bundle.topic_for(&push_type));
        let builder = DeviceNotification::builder(token, push_type, payload);
        Ok(match topic {
            Some(topic) => builder.topic(topic),
            None => builder,
        })
    }

    /// Sends an alert with `payload` to `token`, to the default topic, with Apple's defaults
    /// otherwise (priority 10, stored by Apple's policy): PyAPNs' `send_notification(token,
    /// payload)`. Waits for room in the queue up to the send timeout.
    pub fn send_notification(&self, token: HexDeviceToken, payload: &Payload) -> Result<(), Error> {
        self.send(self.notification(token, PushType::ALERT, payload)?.build()?)
    }

    /// Sends one notification built by hand (topic, push type, priority 10/5/1, expiration,
    /// collapse id, `apns-id`); without a topic, the default one. Waits for room in the queue
    /// up to the send timeout.
    pub fn send(&self, notification: DeviceNotification) -> Result<(), Error> {
        self.send_all([notification])
    }

    /// Sends notifications in order, waiting for room up to the send timeout in total. On
    /// [`Error::Http2Full`] / [`Error::Http2Closed`] the notifications not taken are in the
    /// error; those before them were taken.
    pub fn send_all(&self, notifications: impl IntoIterator<Item = DeviceNotification>) -> Result<(), Error> {
        self.send_all_within(notifications, self.settings.send_timeout)
    }

    /// As [`send_all`](Self::send_all), waiting for room up to `timeout` in total instead of
    /// the send timeout (`Duration::ZERO`: not at all): a caller that must stay responsive (to
    /// a signal, say) waits in short steps and sends the rest, which the error gives back,
    /// again. Every notification's topic is checked before any is handed over.
    pub fn send_all_within(
        &self,
        notifications: impl IntoIterator<Item = DeviceNotification>,
        timeout: Duration,
    ) -> Result<(), Error> {
        let items = notifications
            .into_iter()
            .map(|notification| Ok(Item::device(self.with_topic(notification)?, Tag::none())))
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(self.client.send_batch(items, Some(timeout))?)
    }

    /// Notifications waiting in the queue between the callers and the event loop.
    pub fn queued(&self) -> usize {
        self.client.queued()
    }

    /// Sends `payload` as a Live Activity broadcast on `channel` of the default bundle id
    /// ([`Builder::topic`]): every device subscribed to the channel gets it (iOS 18).
    pub fn send_broadcast(&self, channel: ChannelId, payload: &Payload) -> Result<(), Error> {
        self.send_broadcast_notification(self.broadcast(channel, payload)?)
    }

    /// Sends a broadcast built by hand (expiration, priority, `apns-request-id`).
    pub fn send_broadcast_notification(&self, broadcast: BroadcastNotification) -> Result<(), Error> {
        let item = Item::broadcast(broadcast, Tag::none());
        Ok(self.client.send_timeout(item, self.settings.send_timeout)?)
    }

    /// A broadcast of `payload` on `channel` of the default bundle id, to adjust
    /// (`.with_expiration(..)`, `.with_priority(..)`) before sending.
    pub fn broadcast(&self, channel: ChannelId, payload: &Payload) -> Result<BroadcastNotification, Error> {
        let bundle_id = self.settings.bundle_id.clone().ok_or(Error::NoTopic)?;
        let payload = payload.encode(PushType::LIVE_ACTIVITY.payload_limit())?;
        Ok(BroadcastNotification::new(bundle_id, channel, payload)?)
    }

    /// Sends one notification and returns a future of its [`Report`], which any executor
    /// can await (it is completed from the event-loop thread). The notification is handed
    /// over now, without waiting: if the queue is full, the future resolves at once to
    /// [`Error::Http2Full`] (with the notification), so an async caller never blocks its
    /// executor.
    pub fn send_async(&self, notification: DeviceNotification) -> OutcomeFuture {
        let (tag, future) = Tag::awaited();
        match self.with_topic(notification) {
            Ok(notification) => self.submit(Item::device(notification, tag)),
            Err(error) => {
                let mut tag = tag;
                tag.fail(|| error);
            }
        }
        future
    }

    /// [`send_async`](Self::send_async) for a broadcast.
    pub fn send_broadcast_async(&self, broadcast: BroadcastNotification) -> OutcomeFuture {
        let (tag, future) = Tag::awaited();
        self.submit(Item::broadcast(broadcast, tag));
        future
    }

    /// Hands an awaited item to the loop at once; if it is refused, its future gets the
    /// error, with the item given back (its tag emptied, so the error holds no reference to
    /// the future's slot).
    fn submit(&self, item: Item<Tag>) {
        let Err(refused) = self.client.try_send(item) else { return };
        let (mut unsent, full) = match refused {
            Http2SendError::Full { unsent } => (unsent, true),
            Http2SendError::Closed { unsent } => (unsent, false),
            _ => (Vec::new(), false),
        };
        let tags: Vec<Tag> = unsent.iter_mut().map(|item| std::mem::take(&mut item.tag)).collect();
        let mut error = Some(if full { Error::Http2Full { unsent } } else { Error::Http2Closed { unsent } });
        for mut tag in tags {
            tag.fail(|| error.take().unwrap_or(Error::Http2Closed { unsent: Vec::new() }));
        }
    }

    /// A notification without a topic gets the default one (with its push type's suffix);
    /// token auth needs one.
    fn with_topic(&self, notification: DeviceNotification) -> Result<DeviceNotification, Error> {
        if notification.topic().is_some() {
            return Ok(notification);
        }
        let topic =
            self.settings.bundle_id.as_ref().and_then(|bundle| bundle.topic_for(notification.push_type()));
        let Some(topic) = topic else {
            return if self.settings.token_auth { Err(Error::NoTopic) } else { Ok(notification) };
        };
        let mut builder = DeviceNotification::builder(
            notification.token().clone(),
            notification.push_type().clone(),
            notification.payload().clone(),
        )
        .topic(topic);
        if let Some(id) = notification.id() {
            builder = builder.id(id);
        }
        if let Some(expiry) = notification.expiration() {
            builder = builder.expiration(expiry);
        }
        if let Some(priority) = notification.priority() {
            builder = builder.priority(priority);
        }
        if let Some(collapse_id) = notification.collapse_id() {
            builder = builder.collapse_id(collapse_id.clone());
        }
        Ok(builder.build()?)
    }

    /// Calls `listener` with the report of every notification (accepted, rejected or failed:
    /// exactly one each), on the event-loop thread.
    pub fn on_outcome(&self, listener: impl FnMut(&Report<Tag>) + Send + 'static) {
        lock(&self.listeners.outcomes).push(Box::new(listener));
    }

    /// Calls `listener` for every notification Apple refused, with Apple's status and reason
    /// (and for 410 the time the token stopped being valid), on the event-loop thread: the
    /// counterpart of PyAPNs' `register_response_listener`. Answers that are retried (429,
    /// 500, 503, an expired provider token) are not refusals; they reach
    /// [`on_event`](Self::on_event) as retries.
    pub fn register_response_listener(
        &self,
        listener: impl FnMut(&Report<Tag>, &Rejection) + Send + 'static,
    ) {
        lock(&self.listeners.rejections).push(Box::new(listener));
    }

    /// Calls `listener` with every device token Apple answered 410 for (`Unregistered`,
    /// `ExpiredToken`), with the time it noticed: HTTP/2's feedback, the tokens to delete.
    pub fn on_unregistered(&self, listener: impl FnMut(&Unregistered) + Send + 'static) {
        lock(&self.listeners.unregistered).push(Box::new(listener));
    }

    /// Calls `listener` with every event of the client, on the event-loop thread: reports,
    /// retries, GOAWAYs, connections, provider-token renewals, halts.
    pub fn on_event(&self, listener: impl FnMut(&Event<Tag>) + Send + 'static) {
        lock(&self.listeners.events).push(Box::new(listener));
    }

    /// The report of every notification settled from now on, as an iterator. It ends after
    /// [`close`](Self::close) or [`force_close`](Self::force_close) once every report has been
    /// read. Only one iterator is fed at a time: calling this again ends the previous one.
    ///
    /// It holds at most [`Builder::outcome_capacity`] reports while the client runs: when it
    /// is full, reports wait in the client, which then stops taking notifications. Read it
    /// as you send, or drop it.
    pub fn outcomes(&self) -> Outcomes<Report<Tag>> {
        self.client.outcomes(self.settings.outcome_capacity)
    }

    /// The counters so far (submitted, accepted, rejected per reason, retries, GOAWAYs,
    /// connections, bytes...).
    pub fn counters(&self) -> Http2Counters {
        self.client.counters()
    }

    /// Waits until every notification sent so far has its report, or `timeout` passes
    /// (`settled: false`). The client stays usable; sends from other threads go on. Fails
    /// with [`Error::Http2Closed`] once the client is closed.
    pub fn flush(&self, timeout: Duration) -> Result<Http2Summary<Tag>, Error> {
        Ok(self.client.flush(timeout)?)
    }

    /// Graceful close: refuses further sends, delivers what is queued and in flight, closes
    /// the connections (GOAWAY); what is unsettled at `timeout` is reported
    /// `Failed(Abandoned)`.
    pub fn close(&self, timeout: Duration) -> Http2Summary<Tag> {
        self.client.close(timeout)
    }

    /// Closes at once: every notification not yet settled is reported `Failed(Abandoned)`
    /// (those already written may still be delivered); those that never reached the client's
    /// loop come back in [`Http2Summary::unsent`].
    pub fn force_close(&self) -> Http2Summary<Tag> {
        self.client.force_close()
    }
}
