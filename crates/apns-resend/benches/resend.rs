//! Cost of the sent-notification buffer: per notification sent, and per error response with a
//! full window in flight.
//!
//! Run with `cargo bench -p apns-resend` (or `cargo xtask bench`); results are in
//! `docs/benchmarks.md`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use apns_proto::{DeviceToken, ErrorResponse, Notification, NotificationId, Payload, PayloadLimit, Status};
use apns_resend::{Config, SentBuffer};
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const BATCH: usize = 1000;
const WINDOW: usize = 10_000;

fn notification() -> Notification {
    let token: DeviceToken =
        "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80".parse().unwrap();
    let payload = Payload::new().alert("Hello World!").sound("default").badge(1);
    Notification::new(token, payload.encode(PayloadLimit::BINARY).unwrap())
}

fn config() -> Config {
    Config::default().max_in_flight(WINDOW * 2).capacity(WINDOW * 4).max_age(Duration::from_secs(3600))
}

/// A buffer with `WINDOW` notifications written on the current connection, and their wire ids.
fn in_flight(now: Instant) -> (SentBuffer, Vec<NotificationId>) {
    let mut buffer = SentBuffer::new(config()).unwrap();
    let notification = notification();
    let mut out = BytesMut::new();
    let mut ids = Vec::with_capacity(WINDOW);
    for _ in 0..WINDOW {
        buffer.send(notification.clone()).unwrap();
        ids.push(buffer.poll_transmit(now, &mut out).unwrap().wire_id);
        out.clear();
    }
    (buffer, ids)
}

fn sending(c: &mut Criterion) {
    let mut group = c.benchmark_group("send");
    group.throughput(Throughput::Elements(BATCH as u64));
    let notification = notification();
    let now = Instant::now();
    let later = now + Duration::from_secs(7200);
    let mut out = BytesMut::with_capacity(256 * BATCH);
    let mut buffer = SentBuffer::new(config()).unwrap();
    // The whole life of a notification: handed in, encoded with its wire id, aged out, reported.
    group.bench_function("send, transmit, settle, report", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                buffer.send(notification.clone()).unwrap();
                black_box(buffer.poll_transmit(now, &mut out));
            }
            out.clear();
            buffer.handle_timeout(later);
            while let Some(event) = buffer.poll_event() {
                black_box(event);
            }
        })
    });
    // The bookkeeping alone (encoding excluded: see the apns-proto codec benches).
    group.bench_function("send and settle, no encoding", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(buffer.send(notification.clone()).unwrap());
            }
            buffer.abandon();
            while let Some(event) = buffer.poll_event() {
                black_box(event);
            }
        })
    });
    group.finish();
}

fn errors(c: &mut Criterion) {
    let mut group = c.benchmark_group("error with 10,000 in flight");
    let now = Instant::now();
    let cases = [
        ("rejection of the first: 9,999 to resend", 0, Status::INVALID_TOKEN),
        ("rejection of the last: 9,999 accepted", WINDOW - 1, Status::INVALID_TOKEN),
        ("shutdown naming the middle", WINDOW / 2, Status::SHUTDOWN),
    ];
    for (name, position, status) in cases {
        group.bench_function(name, |b| {
            b.iter_batched(
                || in_flight(now),
                |(mut buffer, ids)| {
                    buffer.handle_error_response(now, ErrorResponse { status, id: ids[position] });
                    buffer.handle_close(now);
                    buffer
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.bench_function("identifier 0: 10,000 of unknown fate", |b| {
        b.iter_batched(
            || in_flight(now),
            |(mut buffer, _)| {
                let response = ErrorResponse { status: Status::PROCESSING_ERROR, id: NotificationId(0) };
                buffer.handle_error_response(now, response);
                buffer.handle_close(now);
                buffer
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("close with no error: 10,000 of unknown fate", |b| {
        b.iter_batched(
            || in_flight(now),
            |(mut buffer, _)| {
                buffer.handle_close(now);
                buffer
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn memory(c: &mut Criterion) {
    // Not a timing: prints the bookkeeping per entry once, for docs/benchmarks.md.
    let (buffer, _) = in_flight(Instant::now());
    let payload = notification().payload.len();
    println!(
        "apns-resend memory: entry {} bytes + payload {} bytes; {} in flight use {} bytes ({} per notification)",
        SentBuffer::entry_size(),
        payload,
        WINDOW,
        buffer.memory_usage(),
        buffer.memory_usage() / WINDOW,
    );
    let _ = c;
}

criterion_group!(benches, sending, errors, memory);
criterion_main!(benches);
