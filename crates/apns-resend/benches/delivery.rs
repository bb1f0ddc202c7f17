//! The HTTP/2 delivery machine's cost per notification: send, request (built by apns-proto),
//! fate, report, with no bytes (the codec's cost is apns-h2's bench).
//!
//! Run with `cargo bench -p apns-resend --bench delivery`; results are in `docs/benchmarks.md`.

use std::hint::black_box;
use std::time::{Duration, Instant, UNIX_EPOCH};

use apns_h2::{Fate, HeaderField, HeaderName, Headers, Response};
use apns_proto::http2::{DeviceNotification, PushType};
use apns_proto::{Payload, PayloadLimit};
use apns_resend::http2::{Auth, ConnectionLoss, Delivery, DeliveryConfig, Event, Item, TransportCommand};
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const BATCH: u64 = 1000;
const TOKEN: &str = "00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0";

fn delivery(c: &mut Criterion) {
    let payload = Payload::new().alert("Hello").encode(PayloadLimit::HTTP2).unwrap();
    let notification =
        DeviceNotification::builder(TOKEN.parse().unwrap(), PushType::ALERT, payload).build().unwrap();
    let mut group = c.benchmark_group("http2 delivery");
    group.throughput(Throughput::Elements(BATCH));
    for lose_first in [false, true] {
        let name = if lose_first {
            "send, connection lost, resend, 200, report"
        } else {
            "send, request, 200, report"
        };
        group.bench_function(name, |b| {
            let start = Instant::now();
            let mut config = DeliveryConfig::new(apns_h2::HeaderValue::from_static("api.push.apple.com"), 1);
            config.connections = 1;
            let mut d: Delivery<u64> = Delivery::new(config, Auth::Certificate, start, UNIX_EPOCH).unwrap();
            let mut now = start;
            let mut streams = Vec::with_capacity(BATCH as usize);
            let mut current = None;
            b.iter(|| {
                for tag in 0..BATCH {
                    d.send(now, Item::device(notification.clone(), tag)).unwrap();
                }
                let mut rounds = if lose_first { 2 } else { 1 };
                while rounds > 0 {
                    rounds -= 1;
                    while let Some(command) = d.poll_transport(now) {
                        if let TransportCommand::Open(id) = command {
                            d.handle_established(now, id);
                            d.handle_stream_limit(now, id, 1000);
                            current = Some(id);
                        }
                    }
                    let Some(id) = current else { break };
                    while let Some((key, request)) = d.poll_request(now, id) {
                        streams.push((key, request));
                    }
                    for (key, request) in streams.drain(..) {
                        let fate = if rounds > 0 {
                            Fate::ConnectionLost(apns_h2::ConnectionEnd::TransportClosed)
                        } else {
                            let id_value = request.header_value("apns-id").unwrap().clone();
                            let headers = Headers::from_fields(vec![HeaderField {
                                name: HeaderName::from_static("apns-id"),
                                value: id_value,
                            }]);
                            Fate::Response(Response {
                                status: 200,
                                headers,
                                body: Bytes::new(),
                                trailers: None,
                            })
                        };
                        d.handle_fate(now, id, key, &fate);
                    }
                    if rounds > 0 {
                        d.handle_closed(now, id, ConnectionLoss::Io);
                        now += Duration::from_secs(1); // past the reconnect backoff
                        d.handle_timeout(now);
                    }
                }
                let mut reports = 0;
                while let Some(event) = d.poll_event() {
                    if let Event::Finished(report) = event {
                        reports += 1;
                        black_box(report);
                    }
                }
                assert_eq!(reports, BATCH, "{:?}", d.stats());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, delivery);
criterion_main!(benches);
