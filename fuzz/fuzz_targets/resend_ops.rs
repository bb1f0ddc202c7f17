//! Drives `apns_resend::SentBuffer` with arbitrary sequences of sends, writes, error responses,
//! closes and time steps, checking that nothing panics and the invariants hold: at most one
//! report per notification (exactly one after `abandon`), nothing written after it settled,
//! writes in send order on each connection, and the count bounds.

#![no_main]

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use apns_proto::{
    DeviceToken, EncodedPayload, ErrorResponse, Format, Notification, NotificationId, PayloadLimit, Status,
};
use apns_resend::{Config, Event, SentBuffer, Settlement, Ticket, TransmitKind};
use arbitrary::Arbitrary;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Params {
    max_in_flight: u8,
    capacity: u8,
    max_retries: u8,
    max_age_ms: u16,
    format: u8,
    /// Even: `Settlement::Prove` (the default), odd: `Presume`.
    settlement: u8,
    probe_every: u8,
    probe_bytes: u16,
    probe_after_ms: u16,
    proof_timeout_ms: u16,
}

#[derive(Arbitrary, Debug)]
enum Operation {
    /// Hand in a notification with this user identifier.
    Send(u32),
    /// Write up to this many.
    Transmit(u8),
    /// An error response naming the n-th write of this connection (modulo), with a status.
    ErrorNamingWrite {
        status: u8,
        write: u16,
    },
    /// An error response with an arbitrary identifier.
    ErrorRaw {
        status: u8,
        id: u32,
    },
    Close,
    Advance(u16),
    Timeout,
    Confirm,
    Abandon,
    PollEvents,
}

struct Checker {
    buffer: SentBuffer,
    now: Instant,
    out: BytesMut,
    handed_in: HashMap<Ticket, u32>,
    reported: HashSet<Ticket>,
    connection_writes: Vec<NotificationId>,
    last_ticket_on_connection: Option<Ticket>,
}

impl Checker {
    fn poll_events(&mut self) {
        while let Some(event) = self.buffer.poll_event() {
            if let Event::Finished(report) = event {
                let user_id =
                    self.handed_in.get(&report.ticket).expect("report for a ticket never handed in");
                assert_eq!(report.id, NotificationId(*user_id), "report with the wrong user identifier");
                assert!(self.reported.insert(report.ticket), "second report for {}", report.ticket);
            }
        }
    }

    fn check_bounds(&self) {
        let config = self.buffer.config();
        assert!(self.buffer.len() <= config.capacity);
        assert!(self.buffer.in_flight() <= config.max_in_flight);
    }
}

fuzz_target!(|input: (Params, Vec<Operation>)| {
    let (params, operations) = input;
    let format = match params.format % 3 {
        0 => Format::Frame,
        1 => Format::Enhanced,
        _ => Format::Simple,
    };
    let config = Config::default()
        .max_in_flight(usize::from(params.max_in_flight).max(1))
        .capacity(usize::from(params.capacity).max(1))
        .max_retries(params.max_retries % 8)
        .max_age(Duration::from_millis(u64::from(params.max_age_ms).max(1)))
        .settlement(if params.settlement % 2 == 0 { Settlement::Prove } else { Settlement::Presume })
        .probe_every(usize::from(params.probe_every).max(1))
        .probe_bytes(usize::from(params.probe_bytes).max(1))
        .probe_after(Duration::from_millis(u64::from(params.probe_after_ms).max(1)))
        .proof_timeout(Duration::from_millis(u64::from(params.proof_timeout_ms).max(1)))
        .format(format);
    let Ok(buffer) = SentBuffer::new(config) else { return };
    let start = Instant::now();
    let mut checker = Checker {
        buffer,
        now: start,
        out: BytesMut::new(),
        handed_in: HashMap::new(),
        reported: HashSet::new(),
        connection_writes: Vec::new(),
        last_ticket_on_connection: None,
    };
    let payload = EncodedPayload::new(&b"{}"[..], PayloadLimit::BINARY).unwrap();

    for operation in operations {
        match operation {
            Operation::Send(id) => {
                let notification = Notification::new(DeviceToken::new([7; 32]), payload.clone()).with_id(id);
                match checker.buffer.send(notification) {
                    Ok(ticket) => {
                        assert!(checker.handed_in.insert(ticket, id).is_none());
                    }
                    Err(full) => assert_eq!(full.notification.id, NotificationId(id)),
                }
            }
            Operation::Transmit(count) => {
                for _ in 0..count {
                    checker.out.clear();
                    let Some(transmit) = checker.buffer.poll_transmit(checker.now, &mut checker.out) else {
                        break;
                    };
                    assert_ne!(transmit.wire_id, NotificationId(0));
                    assert_eq!(transmit.len, checker.out.len());
                    if let TransmitKind::First(ticket) | TransmitKind::Resend(ticket) = transmit.kind {
                        assert!(!checker.reported.contains(&ticket), "{ticket} written after it settled");
                        if let Some(last) = checker.last_ticket_on_connection {
                            assert!(last < ticket, "{ticket} written after {last} on one connection");
                        }
                        checker.last_ticket_on_connection = Some(ticket);
                    }
                    checker.connection_writes.push(transmit.wire_id);
                }
            }
            Operation::ErrorNamingWrite { status, write } => {
                let Some(len) = std::num::NonZeroUsize::new(checker.connection_writes.len()) else {
                    continue;
                };
                let id = checker.connection_writes[usize::from(write) % len.get()];
                checker
                    .buffer
                    .handle_error_response(checker.now, ErrorResponse { status: Status(status), id });
            }
            Operation::ErrorRaw { status, id } => {
                let response = ErrorResponse { status: Status(status), id: NotificationId(id) };
                checker.buffer.handle_error_response(checker.now, response);
            }
            Operation::Close => {
                checker.buffer.handle_close(checker.now);
                checker.connection_writes.clear();
                checker.last_ticket_on_connection = None;
            }
            Operation::Advance(millis) => checker.now += Duration::from_millis(u64::from(millis)),
            Operation::Timeout => {
                let before = checker.buffer.poll_timeout();
                checker.buffer.handle_timeout(checker.now);
                if let Some(deadline) = before {
                    if deadline > checker.now {
                        assert_eq!(
                            checker.buffer.poll_timeout(),
                            Some(deadline),
                            "spurious timeout changed state"
                        );
                    }
                }
            }
            Operation::Confirm => {
                let _ = checker.buffer.confirm();
            }
            Operation::Abandon => checker.buffer.abandon(),
            Operation::PollEvents => checker.poll_events(),
        }
        checker.check_bounds();
    }

    // Every notification handed in ends with exactly one report.
    checker.buffer.abandon();
    checker.poll_events();
    assert_eq!(checker.handed_in.keys().copied().collect::<HashSet<_>>(), checker.reported);
    assert!(checker.buffer.is_idle());
    let stats = checker.buffer.stats();
    assert_eq!(stats.accepted + stats.presumed_accepted + stats.rejected + stats.failed, stats.handed_in);
    assert_eq!(stats.handed_in, checker.handed_in.len() as u64);
});
