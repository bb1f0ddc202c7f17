//! Requests encoded and responses decoded per second, APNs-shaped.
//!
//! Run with `cargo bench -p apns-h2` (or `cargo xtask bench`); results are in
//! `docs/benchmarks.md`.
//!
//! - `encode`: `send_request` + `poll_transmit` of 1,000 typical APNs requests (`POST`, a
//!   75-byte `:path` with a device token, `:scheme`, `:authority`, six headers with a 200-byte
//!   JWT, a 100-byte body) on an established connection: HEADERS (HPACK) and DATA frames into
//!   one buffer. Prebuilt requests, and requests built from strings each time.
//! - `decode`: `handle_input` of 1,000 responses (HEADERS with `:status 200` and `apns-id`) and
//!   `poll_event` of their 1,000 fates (dropping them is not timed).
//!
//! Both run on one long-lived connection (a warm HPACK table, as in production); only the
//! encoding or decoding of each batch is timed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use apns_h2::{Connection, Event, HeaderValue, Request};
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fixtures::{connected, request, responses, BATCH, TOKEN};

mod fixtures;

/// Finishes every open stream (outside the measurement).
fn answer_all(connection: &mut Connection, first: u32, now: Instant) {
    connection.handle_input(now, &responses(first, connection.open_streams()));
    let _ = connection.poll_transmit(now, &mut BytesMut::new());
    while connection.poll_event().is_some() {}
}

/// One long-lived connection, as in production: its HPACK table is warm and its stream map
/// has its capacity. Only the encoding of each batch is timed.
fn encoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(BATCH as u64));
    let token = HeaderValue::new(TOKEN).unwrap();
    let body = Bytes::from(vec![b'{'; 100]);
    let now = Instant::now();
    let requests: Vec<Request> = (0..BATCH).map(|n| request(n, &token, &body)).collect();
    let mut out = BytesMut::with_capacity(1 << 20);
    for (name, prebuilt) in [
        ("send_request + poll_transmit, prebuilt requests", true),
        ("build + send_request + poll_transmit", false),
    ] {
        let mut connection = connected(now);
        let mut next_id = 1u32;
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iterations {
                    let batch = requests.clone();
                    out.clear();
                    let start = Instant::now();
                    if prebuilt {
                        for request in batch {
                            black_box(connection.send_request(request).unwrap());
                        }
                    } else {
                        for n in 0..BATCH {
                            black_box(connection.send_request(request(n, &token, &body)).unwrap());
                        }
                    }
                    black_box(connection.poll_transmit(now, &mut out));
                    elapsed += start.elapsed();
                    answer_all(&mut connection, next_id, now);
                    next_id += 2 * BATCH as u32;
                }
                elapsed
            })
        });
    }
    group.finish();
}

fn decoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(BATCH as u64));
    let token = HeaderValue::new(TOKEN).unwrap();
    let body = Bytes::from(vec![b'{'; 100]);
    let now = Instant::now();
    let mut connection = connected(now);
    let mut next_id = 1u32;
    group.bench_function("handle_input + poll_event, :status 200 + apns-id", |b| {
        b.iter_custom(|iterations| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iterations {
                for n in 0..BATCH {
                    connection.send_request(request(n, &token, &body)).unwrap();
                }
                let _ = connection.poll_transmit(now, &mut BytesMut::new());
                let input = responses(next_id, BATCH);
                next_id += 2 * BATCH as u32;
                let mut fates = Vec::with_capacity(BATCH);
                let start = Instant::now();
                connection.handle_input(now, &input);
                while let Some(event) = connection.poll_event() {
                    if let Event::Finished { fate, .. } = event {
                        fates.push(fate);
                    }
                }
                elapsed += start.elapsed();
                assert!(fates
                    .iter()
                    .all(|fate| fate.response().is_some_and(|response| response.status == 200)));
                assert_eq!(fates.len(), BATCH);
            }
            elapsed
        })
    });
    group.finish();
}

criterion_group!(benches, encoding, decoding);
criterion_main!(benches);
