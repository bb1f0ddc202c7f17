//! [`Client`]: the handle to an event loop driving binary gateway connections.

use std::time::{Duration, Instant};

use apns_proto::Notification;
use apns_resend::SentBuffer;

use crate::config::Config;
use crate::connection::{Connection, Lifecycle};
use crate::event::{CloseSummary, Counters, SendError, StartError};
use crate::outcomes::Outcomes;
use crate::shell::{Handle, Refused, ShellConfig, Summary};

/// A handle to the event loop: hand it notifications from any thread (it is `Sync`), read its
/// counters and outcomes, flush it, close it.
///
/// Every method returns promptly whatever other threads are doing: a sender blocked on a full
/// queue does not delay [`force_close`](Self::force_close), which releases it with
/// [`SendError::Closed`]. Dropping the client force-closes it and joins the thread, so a process
/// never lingers on a worker thread.
pub struct Client {
    handle: Handle<Connection>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("counters", &self.counters()).finish_non_exhaustive()
    }
}

impl Client {
    /// Starts the event-loop thread. Connections open on the first send.
    pub fn start(mut config: Config) -> Result<Self, StartError> {
        if config.connections == 0 {
            return Err(StartError::Zero("connections"));
        }
        if config.queue_capacity == 0 {
            return Err(StartError::Zero("queue_capacity"));
        }
        if config.gateway.server_name().is_none() {
            return Err(StartError::InvalidServerName(config.gateway.host().to_owned()));
        }
        let lifecycle = Lifecycle {
            connect_timeout: config.connect_timeout,
            idle_timeout: config.idle_timeout,
            backoff: config.backoff,
            max_connect_failures: config.max_connect_failures,
            reconnect_for: config.reconnect_for,
            write_chunk: config.write_chunk.max(1024),
        };
        let now = Instant::now();
        let mut seeds = fastrand::Rng::with_seed(config.seed);
        let machines = (0..config.connections)
            .map(|index| {
                let buffer = SentBuffer::new(config.resend.clone())?;
                Ok(Connection::new(index, lifecycle, buffer, seeds.fork(), now))
            })
            .collect::<Result<Vec<_>, StartError>>()?;
        let shell = ShellConfig {
            endpoint: config.gateway.clone(),
            tls: config.tls.clone(),
            queue_capacity: config.queue_capacity,
            tls_buffer_limit: config.write_chunk.max(16 * 1024) * 4,
            on_event: config.on_event.take(),
        };
        Ok(Self { handle: Handle::start(shell, machines)? })
    }

    /// Hands one notification to the loop, failing at once with [`SendError::Full`] if the queue
    /// is full.
    pub fn try_send(&self, notification: Notification) -> Result<(), SendError> {
        self.send_batch(vec![notification], Some(Duration::ZERO))
    }

    /// Hands one notification to the loop, waiting up to `timeout` for room.
    pub fn send_timeout(&self, notification: Notification, timeout: Duration) -> Result<(), SendError> {
        self.send_batch(vec![notification], Some(timeout))
    }

    /// Hands notifications to the loop in order, waiting for room up to `timeout` in total
    /// (`None`: as long as it takes). On error, the notifications not taken are given back;
    /// those before them were taken.
    pub fn send_batch(
        &self,
        notifications: impl IntoIterator<Item = Notification>,
        timeout: Option<Duration>,
    ) -> Result<(), SendError> {
        self.handle.send_batch(notifications, timeout).map_err(|refused| match refused {
            Refused::Full(unsent) => SendError::Full { unsent },
            Refused::Closed(unsent) => SendError::Closed { unsent },
        })
    }

    /// The counters so far, derived from every connection's sent-notification buffer and
    /// connection machine.
    pub fn counters(&self) -> Counters {
        let (stats, wire, submitted) = self.handle.stats();
        Counters {
            submitted,
            bytes_written: wire.bytes_written,
            bytes_read: wire.bytes_read,
            ..stats.counters()
        }
    }

    /// Notifications waiting in the queue between callers and the loop.
    pub fn queued(&self) -> usize {
        self.handle.queued()
    }

    /// The final outcome of every notification settled from now on, in a queue of at most
    /// `capacity` outcomes. While it is full, the loop holds further reports back in the
    /// connections, where they count against the sent-notification buffers' capacity: the
    /// buffers stop taking notifications and senders meet backpressure (`Full`, or a wait)
    /// until the outcomes are read. Only one queue is fed at a time: calling this again ends
    /// the previous one. It ends once the client is closed and everything was read.
    pub fn outcomes(&self, capacity: usize) -> Outcomes {
        Outcomes::new(self.handle.subscribe(capacity))
    }

    /// Waits until every notification taken before this call has its final outcome (proved by
    /// an explicit confirmation the gateway must answer, which costs a reconnection per
    /// connection), or `timeout` passes. Nothing is restarted or abandoned: `settled: false`
    /// only says the deadline came first, and the notifications go on settling. Fails with
    /// [`SendError::Closed`] once the client is closed.
    pub fn flush(&self, timeout: Duration) -> Result<CloseSummary, SendError> {
        match self.handle.flush(timeout) {
            Some(summary) => Ok(self.summary(summary)),
            None => Err(SendError::Closed { unsent: Vec::new() }),
        }
    }

    /// Graceful close: refuses further sends, writes everything queued, confirms every
    /// notification with an explicit confirmation (a probe the gateway must answer), then
    /// closes. Whatever is unsettled at `timeout` is reported `Failed(Abandoned)`. Closing an
    /// already closed client returns at once with `settled: true`.
    pub fn close(&self, timeout: Duration) -> CloseSummary {
        let summary = self.handle.close(timeout);
        self.summary(summary.unwrap_or(Summary { settled: true, unsent: Vec::new() }))
    }

    /// Force close, within milliseconds whatever other threads are doing: every notification
    /// not yet settled is reported `Failed(Abandoned)` at once (those already written may still
    /// be delivered), the connections are closed, blocked senders get their notifications back
    /// ([`SendError::Closed`]), and notifications that never reached a connection come back in
    /// [`CloseSummary::unsent`].
    pub fn force_close(&self) -> CloseSummary {
        self.close(Duration::ZERO)
    }

    fn summary(&self, summary: Summary<Notification>) -> CloseSummary {
        CloseSummary { settled: summary.settled, unsent: summary.unsent, counters: self.counters() }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.handle.close(Duration::ZERO);
    }
}
