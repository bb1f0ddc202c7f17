//! [`Gateway`]: sending, listeners, outcomes, closing (PyAPNs' `gateway_server`).

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use apns_io::{Client, Config, Counters, Endpoint, Event};
use apns_proto::{DeviceToken, Notification, NotificationId, Payload, PayloadLimit, Status};
use apns_resend::{Outcome, Report};

use crate::{Error, Frame};

/// An error response from the gateway, as PyAPNs' response listener received it
/// (`{'status': .., 'identifier': ..}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorResponse {
    /// The status (see [`Status::description`]).
    pub status: Status,
    /// The identifier you gave the notification the response names, when it names one of
    /// yours: always for a rejection (statuses 2 to 8). `None` for a response about the
    /// connection rather than one notification: a shutdown (status 10), a processing error (1)
    /// or unknown error (255) that the library retries for you, or a response naming an
    /// identifier no longer in flight.
    pub id: Option<NotificationId>,
    /// The token of the notification named, when `id` is known.
    pub token: Option<DeviceToken>,
}

type ResponseListener = Box<dyn FnMut(&ErrorResponse) + Send>;
type OutcomeListener = Box<dyn FnMut(&Report) + Send>;

/// What the event-loop thread shares with the [`Gateway`] handle.
#[derive(Default)]
struct Listeners {
    responses: Mutex<Vec<ResponseListener>>,
    outcomes: Mutex<Vec<OutcomeListener>>,
    channel: Mutex<Option<Sender<Report>>>,
    connect_error: Mutex<Option<String>>,
}

impl Listeners {
    fn handle(&self, event: Event) {
        match event {
            Event::Finished { report, .. } => {
                if let Outcome::Rejected(status) = report.outcome {
                    self.respond(&ErrorResponse { status, id: Some(report.id), token: Some(report.token) });
                }
                for listener in lock(&self.outcomes).iter_mut() {
                    listener(&report);
                }
                let mut channel = lock(&self.channel);
                if let Some(sender) = channel.as_ref() {
                    if sender.send(report).is_err() {
                        // The iterator was dropped: stop collecting.
                        *channel = None;
                    }
                }
            }
            // Rejections are reported with the user's identifier from their `Finished` event.
            Event::ErrorResponse { response, .. } if !response.status.is_permanent() => {
                self.respond(&ErrorResponse { status: response.status, id: None, token: None });
            }
            Event::UnmatchedError { response, .. } if response.status.is_permanent() => {
                self.respond(&ErrorResponse { status: response.status, id: None, token: None });
            }
            Event::ConnectFailed { error, .. } => *lock(&self.connect_error) = Some(error),
            Event::Connected { .. } => *lock(&self.connect_error) = None,
            _ => {}
        }
    }

    fn respond(&self, response: &ErrorResponse) {
        for listener in lock(&self.responses).iter_mut() {
            listener(response);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How the gateway client is (re)started.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) gateway: Endpoint,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) connections: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_connect_failures: u32,
    pub(crate) send_timeout: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) resend: apns_resend::Config,
}

/// What [`Gateway::close`], [`Gateway::flush`] and [`Gateway::force_close`] leave.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseSummary {
    /// Whether every notification sent got its final outcome before the deadline. `false`
    /// after a force close with notifications in flight: those were reported
    /// `Failed(Abandoned)`.
    pub settled: bool,
    /// Notifications that never reached a connection (force close only).
    pub unsent: Vec<Notification>,
    /// The counters since the gateway was built.
    pub counters: Counters,
}

/// The gateway side of an [`Apns`](crate::Apns): PyAPNs' `gateway_server`.
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
    client: RwLock<Option<Client>>,
    /// Counters of clients closed by `flush`.
    past: Mutex<Counters>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Gateway {
    pub(crate) fn start(settings: Settings) -> Result<Self, Error> {
        let listeners = Arc::new(Listeners::default());
        let client = start_client(&settings, &listeners)?;
        Ok(Self {
            settings,
            limit: PayloadLimit::BINARY,
            listeners,
            client: RwLock::new(Some(client)),
            past: Mutex::new(Counters::default()),
        })
    }

    /// The gateway connected to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.settings.gateway
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
        let client = self.client.read().unwrap_or_else(PoisonError::into_inner);
        match client.as_ref() {
            Some(client) => Ok(client.send_batch(notifications, Some(self.settings.send_timeout))?),
            None => Err(Error::Closed { unsent: notifications.into_iter().collect() }),
        }
    }

    /// Calls `listener` for every error response of the gateway, on the event-loop thread:
    /// PyAPNs' `register_response_listener`. A rejected notification's response carries your
    /// identifier and token; the notifications the gateway discarded after it are resent for you.
    pub fn register_response_listener(&self, listener: impl FnMut(&ErrorResponse) + Send + 'static) {
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
    /// Outcomes wait in memory until read, so read them (or drop the iterator).
    pub fn outcomes(&self) -> Outcomes {
        let (sender, receiver) = channel();
        *lock(&self.listeners.channel) = Some(sender);
        Outcomes { receiver }
    }

    /// The counters so far (sent, resent, accepted, rejected, failed, error responses...).
    pub fn counters(&self) -> Counters {
        let past = *lock(&self.past);
        let client = self.client.read().unwrap_or_else(PoisonError::into_inner);
        match client.as_ref() {
            Some(client) => add(past, client.counters()),
            None => past,
        }
    }

    /// The last connect or TLS handshake failure, if the latest attempt failed (a wrong
    /// address, a refused connection, an untrusted server certificate, a refused client
    /// certificate...). Cleared by a successful connect.
    pub fn last_connect_error(&self) -> Option<String> {
        lock(&self.listeners.connect_error).clone()
    }

    /// Waits until every notification sent so far has its final outcome (proved by an explicit
    /// confirmation the gateway must answer), or `timeout` passes; what is unsettled then is
    /// reported `Failed(Abandoned)`. The gateway stays usable: the next send reconnects.
    pub fn flush(&self, timeout: Duration) -> Result<CloseSummary, Error> {
        let mut guard = self.client.write().unwrap_or_else(PoisonError::into_inner);
        let summary = match guard.take() {
            Some(client) => self.retire(client.close(timeout)),
            None => return Err(Error::Closed { unsent: Vec::new() }),
        };
        *guard = Some(start_client(&self.settings, &self.listeners)?);
        Ok(summary)
    }

    /// Graceful close: waits until every notification sent has its final outcome, or `timeout`
    /// passes (what is unsettled then is reported `Failed(Abandoned)`), then closes the
    /// connections and stops the worker thread. Later sends fail with [`Error::Closed`].
    pub fn close(&self, timeout: Duration) -> CloseSummary {
        self.shutdown(|client| client.close(timeout))
    }

    /// PyAPNs' `force_close`: closes at once. Every notification not yet settled is reported
    /// `Failed(Abandoned)` (those already written may still be delivered); those that never
    /// reached a connection come back in [`CloseSummary::unsent`]. Returns within milliseconds.
    pub fn force_close(&self) -> CloseSummary {
        self.shutdown(Client::force_close)
    }

    fn shutdown(&self, close: impl FnOnce(Client) -> apns_io::CloseSummary) -> CloseSummary {
        let mut guard = self.client.write().unwrap_or_else(PoisonError::into_inner);
        let summary = match guard.take() {
            Some(client) => self.retire(close(client)),
            None => CloseSummary { settled: true, unsent: Vec::new(), counters: *lock(&self.past) },
        };
        // Every outcome has been delivered: end the iterator.
        *lock(&self.listeners.channel) = None;
        summary
    }

    fn retire(&self, summary: apns_io::CloseSummary) -> CloseSummary {
        let mut past = lock(&self.past);
        *past = add(*past, summary.counters);
        CloseSummary { settled: summary.settled, unsent: summary.unsent, counters: *past }
    }
}

fn start_client(settings: &Settings, listeners: &Arc<Listeners>) -> Result<Client, Error> {
    let listeners = listeners.clone();
    let config = Config::new(settings.gateway.clone(), settings.tls.clone())
        .connections(settings.connections)
        .idle_timeout(settings.idle_timeout)
        .connect_timeout(settings.connect_timeout)
        .max_connect_failures(settings.max_connect_failures)
        .queue_capacity(settings.queue_capacity)
        .resend(settings.resend.clone())
        .on_event(move |event| listeners.handle(event));
    Ok(Client::start(config)?)
}

fn add(a: Counters, b: Counters) -> Counters {
    let mut sum = a;
    sum.submitted += b.submitted;
    sum.sent += b.sent;
    sum.resent += b.resent;
    sum.accepted += b.accepted;
    sum.rejected += b.rejected;
    sum.failed += b.failed;
    sum.possible_duplicates += b.possible_duplicates;
    sum.error_responses += b.error_responses;
    sum.silent_closes += b.silent_closes;
    sum.connections += b.connections;
    sum.reconnects += b.reconnects;
    sum.connect_failures += b.connect_failures;
    sum.bytes_written += b.bytes_written;
    sum.bytes_read += b.bytes_read;
    sum
}

/// The final outcomes of notifications, in the order they settle ([`Gateway::outcomes`]).
#[derive(Debug)]
pub struct Outcomes {
    receiver: Receiver<Report>,
}

impl Outcomes {
    /// The next outcome, waiting at most `timeout`; `None` on timeout or once the gateway is
    /// closed and every outcome was read.
    pub fn next_timeout(&self, timeout: Duration) -> Option<Report> {
        self.receiver.recv_timeout(timeout).ok()
    }

    /// The outcomes already available, without waiting.
    pub fn try_iter(&self) -> impl Iterator<Item = Report> + '_ {
        self.receiver.try_iter()
    }
}

impl Iterator for Outcomes {
    type Item = Report;

    /// Waits for the next outcome; `None` once the gateway is closed and every outcome was read.
    fn next(&mut self) -> Option<Report> {
        self.receiver.recv().ok()
    }
}
