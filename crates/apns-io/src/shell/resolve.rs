//! Host lookups off the event-loop thread.
//!
//! Apple asks for a fresh (uncached) DNS lookup before each connection, and `getaddrinfo`
//! blocks for as long as the resolver takes: on the loop thread it would stall every other
//! connection. Each lookup runs on a short-lived thread of its own; its answer comes back
//! through a channel and the loop's `Waker`. At most [`MAX_IN_FLIGHT`] run at once; more wait
//! in a queue bounded by the caller (one lookup per connection being opened).

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use mio::Waker;

use crate::config::Endpoint;

/// Lookups running at once.
const MAX_IN_FLIGHT: usize = 4;

/// What a lookup found, for the key it was asked for.
pub(crate) type Answer<K> = (K, io::Result<SocketAddr>);

/// Runs lookups on helper threads and hands their answers to the loop.
pub(crate) struct Resolver<K> {
    endpoint: Endpoint,
    waker: Arc<Waker>,
    sender: Sender<Answer<K>>,
    answers: Receiver<Answer<K>>,
    waiting: VecDeque<K>,
    in_flight: usize,
    /// Answers known without a thread (a fixed address, or a failed spawn).
    ready: VecDeque<Answer<K>>,
}

impl<K: Copy + Send + 'static> Resolver<K> {
    pub(crate) fn new(endpoint: Endpoint, waker: Arc<Waker>) -> Self {
        let (sender, answers) = channel();
        Self {
            endpoint,
            waker,
            sender,
            answers,
            waiting: VecDeque::new(),
            in_flight: 0,
            ready: VecDeque::new(),
        }
    }

    /// Starts (or queues) a lookup of the endpoint for `key`; its answer comes from
    /// [`poll_answer`](Self::poll_answer).
    pub(crate) fn lookup(&mut self, key: K) {
        if self.endpoint.fixed_addr().is_some() {
            self.ready.push_back((key, self.endpoint.resolve()));
        } else {
            self.waiting.push_back(key);
            self.start_waiting();
        }
    }

    /// The next answer, if one has arrived.
    pub(crate) fn poll_answer(&mut self) -> Option<Answer<K>> {
        if let Some(answer) = self.ready.pop_front() {
            return Some(answer);
        }
        let answer = self.answers.try_recv().ok()?;
        self.in_flight = self.in_flight.saturating_sub(1);
        self.start_waiting();
        Some(answer)
    }

    fn start_waiting(&mut self) {
        while self.in_flight < MAX_IN_FLIGHT {
            let Some(key) = self.waiting.pop_front() else { return };
            let (endpoint, sender, waker) = (self.endpoint.clone(), self.sender.clone(), self.waker.clone());
            let spawned = std::thread::Builder::new().name("apns-dns".into()).spawn(move || {
                let _ = sender.send((key, endpoint.resolve()));
                let _ = waker.wake();
            });
            match spawned {
                Ok(_) => self.in_flight += 1,
                Err(error) => self.ready.push_back((key, Err(error))),
            }
        }
    }
}
