//! [`Gateway`]: sending, listeners, outcomes, flushing, closing (PyAPNs' `gateway_server`).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use apns_io::{
    Client, CloseSummary, Config, ConnectError, Counters, Endpoint, Event, GatewayResponse, Outcomes,
};
use apns_proto::{DeviceToken, Notification, Payload, PayloadLimit};
use apns_resend::Report;

use super::Frame;
use crate::Error;

type ResponseListener = Box<dyn FnMut(&GatewayResponse) + Send>;
type OutcomeListener = Box<dyn FnMut(&Report) + Send>;

/// What the event-loop thread shares with the [`Gateway`] handle.
#[derive(Default)]
struct Listeners {
    responses: Mutex<Vec<ResponseListener>>,
    outcomes: Mutex<Vec<OutcomeListener>>,
    connect_error: Mutex<Option<ConnectError>>,
}

impl Listeners {
    /// One event, read once: its error response (if it reports one) to the response
    /// listeners, its outcome (if it is one) to the outcome listeners.
    fn handle(&self, event: Event) {
        if let Some(response) = event.error_response() {
            for listener in lock(&self.responses).iter_mut() {
                listener(&response);
            }
        }
        match event {
            Event::Finished { report, .. } => {
                for listener in lock(&self.outcomes).iter_mut() {
                    listener(&report);
                }
            }
            Event::ConnectFailed { error, .. } => *lock(&self.connect_error) = Some(error),
            Event::Connected { .. } => *lock(&self.connect_error) = None,
            _ => {}
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How the gateway client is started.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) gateway: Endpoint,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) connections: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_connect_failures: u32,
    pub(crate) reconnect_for: Duration,
    pub(crate) send_timeout: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) outcome_capacity: usize,
    pub(crate) resend: apns_resend::Config,
}

/// The gateway side of an [`Apns`](super::BinaryApns): PyAPNs' `gateway_server`.
///
/// Sends hand notifications to an event-loop thread and return at once; the gateway's
/// answers arrive later, to the listeners ([`register_response_listener`](Self::register_response_listener),
/// [`on_outcome`](Self::on_outcome)) and the [`outcomes`](Self::outcomes) iterator. It is
/// `Sync`: share it between threads with an `Arc` or a reference.
///
/// Listeners run on the event-loop thread: keep them short, and do not send, register or close
/// from inside one (forward to a channel instead).
pub struct Gateway {
    settings: Settings,
    limit: PayloadLimit,
    listeners: Arc<Listeners>,
    client: Client,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Gateway {
    pub(crate) fn start(settings: Settings) -> Result<Self, Error> {
        let listeners = Arc::new(Listeners::default());
        let handler = listeners.clone();
        let config = Config::new(settings.gateway.clone(), settings.tls.clone())
            .connections(settings.connections)
            .idle_timeout(settings.idle_timeout)
            .connect_timeout(settings.connect_timeout)
            .max_connect_failures(settings.max_connect_failures)
            .reconnect_for(settings.reconnect_for)
            .queue_capacity(settings.queue_capacity)
            .resend(settings.resend.clone())
            .on_event(move |event| handler.handle(event));
        let client = Client::start(config)?;
        Ok(Self { settings, limit: PayloadLimit::BINARY, listeners, client })
    }

    /// The gateway connected to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.settings.gateway
    }

    /// How long [`send`](Self::send) and [`send_all`](Self::send_all) wait for room in the send
    /// queue ([`BinaryBuilder::send_timeout`](super::BinaryBuilder::send_timeout)).
    pub fn send_timeout(&self) -> Duration {
        self.settings.send_timeout
    }

    /// Sends `payload` to `token` with identifier 0, no expiry and immediate priority: PyAPNs'
    /// `send_notification(token_hex, payload)`. The payload is encoded now, so an oversized one
    /// fails here ([`Error::Payload`]).
    pub fn send_notification(&self, token: DeviceToken, payload: &Payload) -> Result<(), Error> {
        self.send(Notification::new(token, payload.encode(self.limit)?))
    }

    /// Sends one notification with everything set by hand
    /// (`Notification::new(token, payload).with_id(..).with_expiry(..).with_priority(..)`):
    /// PyAPNs' `send_notification(token_hex, payload, identifier, expiry)`.
    pub fn send(&self, notification: Notification) -> Result<(), Error> {
        self.send_all([notification])
    }

    /// Sends a [`Frame`]: PyAPNs' `send_notification_multiple(frame)`.
    pub fn send_batch(&self, frame: Frame) -> Result<(), Error> {
        self.send_all(frame)
    }

    /// Sends notifications in order, waiting for room up to the send timeout in total. On
    /// error the notifications not taken are in the error; those before them were taken.
    pub fn send_all(&self, notifications: impl IntoIterator<Item = Notification>) -> Result<(), Error> {
        self.send_all_within(notifications, self.settings.send_timeout)
    }

    /// As [`send_all`](Self::send_all), waiting for room up to `timeout` in total instead of
    /// the send timeout: a caller that must stay responsive (to a signal, say) waits in short
    /// steps and sends the rest, which the error gives back, again.
    pub fn send_all_within(
        &self,
        notifications: impl IntoIterator<Item = Notification>,
        timeout: Duration,
    ) -> Result<(), Error> {
        Ok(self.client.send_batch(notifications, Some(timeout))?)
    }

    /// Calls `listener` for every error response of the gateway, on the event-loop thread:
    /// PyAPNs' `register_response_listener`. A rejection (statuses 2 to 8) or a transient
    /// status (1, 255) carries your identifier and token; a shutdown (10) or a response naming
    /// none of the notifications in flight carries neither. What the gateway discarded is resent
    /// for you; every notification's final word is its outcome ([`on_outcome`](Self::on_outcome)).
    pub fn register_response_listener(&self, listener: impl FnMut(&GatewayResponse) + Send + 'static) {
        lock(&self.listeners.responses).push(Box::new(listener));
    }

    /// Calls `listener` with the final outcome of every notification (accepted, presumed
    /// accepted, rejected or failed: exactly one each), on the event-loop thread.
    pub fn on_outcome(&self, listener: impl FnMut(&Report) + Send + 'static) {
        lock(&self.listeners.outcomes).push(Box::new(listener));
    }

    /// The final outcome of every notification settled from now on, as an iterator. It ends
    /// after [`close`](Self::close) or [`force_close`](Self::force_close) once every outcome has
    /// been read. Only one iterator is fed at a time: calling this again ends the previous one.
    ///
    /// It holds at most [`BinaryBuilder::outcome_capacity`](super::BinaryBuilder::outcome_capacity)
    /// outcomes (100,000 by default) while the gateway runs: when it is full, settled
    /// notifications wait in the connections, the sent-notification buffers fill, and sends
    /// wait (then fail with [`Error::Full`]) until you read. Read it as you send, or drop it.
    pub fn outcomes(&self) -> Outcomes {
        self.client.outcomes(self.settings.outcome_capacity)
    }

    /// The counters so far (sent, resent, accepted, rejected, failed, error responses...).
    pub fn counters(&self) -> Counters {
        self.client.counters()
    }

    /// Why the latest connect attempt failed, if it did (a refused connection, an untrusted
    /// server certificate, a refused client certificate, a timeout...). Cleared by a
    /// successful connect.
    pub fn last_connect_error(&self) -> Option<ConnectError> {
        lock(&self.listeners.connect_error).clone()
    }

    /// Waits until every notification sent so far has its final outcome (proved by an explicit
    /// confirmation the gateway must answer, which costs each connection a reconnection), or
    /// `timeout` passes. Nothing is restarted and nothing is abandoned: `settled: false` only
    /// says the deadline came first. The gateway stays usable throughout: sends from other
    /// threads go on. Fails with [`Error::Closed`] once the gateway is closed.
    pub fn flush(&self, timeout: Duration) -> Result<CloseSummary, Error> {
        Ok(self.client.flush(timeout)?)
    }

    /// Graceful close: waits until every notification sent has its final outcome, or `timeout`
    /// passes (what is unsettled then is reported `Failed(Abandoned)`), then closes the
    /// connections and stops the worker thread. Later sends fail with [`Error::Closed`].
    pub fn close(&self, timeout: Duration) -> CloseSummary {
        self.client.close(timeout)
    }

    /// PyAPNs' `force_close`: closes at once, within milliseconds whatever other threads are
    /// doing (a send blocked on a full queue returns [`Error::Closed`] with its notifications).
    /// Every notification not yet settled is reported `Failed(Abandoned)` (those already
    /// written may still be delivered); those that never reached a connection come back in
    /// [`CloseSummary::unsent`].
    pub fn force_close(&self) -> CloseSummary {
        self.client.force_close()
    }
}
