//! HTTP/2 request descriptions built and responses parsed per second.
//!
//! Run with `cargo bench -p apns-proto --bench http2`; results are in `docs/benchmarks.md`.

use std::hint::black_box;

use apns_proto::http2::{
    goaway_reason, ApnsIdGenerator, Authorization, BundleId, DeviceNotification, PushType, Response,
};
use apns_proto::{Expiry, Payload, PayloadLimit, Priority};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const BATCH: u64 = 1000;
const TOKEN: &str = "00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0";

fn requests(c: &mut Criterion) {
    let mut group = c.benchmark_group("http2 request");
    group.throughput(Throughput::Elements(BATCH));
    let app = BundleId::new("com.example.MyApp").unwrap();
    // A typical notification: ~75-byte path, 7 headers, a 100-byte payload.
    let payload = Payload::new()
        .alert("Your order 1234 has shipped and will arrive tomorrow between 9 and 11.")
        .sound("default")
        .encode(PayloadLimit::HTTP2)
        .unwrap();
    let mut ids = ApnsIdGenerator::new([7; 16]);
    let authorization = Authorization::bearer(&"x".repeat(190)).unwrap();
    let authority = apns_h2::HeaderValue::from_static("api.push.apple.com");
    let notification = DeviceNotification::builder(TOKEN.parse().unwrap(), PushType::ALERT, payload.clone())
        .topic(app.topic_for(&PushType::ALERT).unwrap())
        .priority(Priority::Immediate)
        .expiration(Expiry::from_unix_seconds(1_700_003_600))
        .build()
        .unwrap();
    let mut described = notification.clone();
    described.ensure_id(&mut ids);
    group.bench_function("describe (token auth)", |b| {
        b.iter(|| {
            let mut total = 0;
            for _ in 0..BATCH {
                total += black_box(&described).request(&authority, Some(&authorization)).headers().count();
            }
            black_box(total)
        })
    });
    let token = TOKEN.parse::<apns_proto::http2::HexDeviceToken>().unwrap();
    let topic = app.topic_for(&PushType::ALERT).unwrap();
    group.bench_function("build + generate id + describe", |b| {
        b.iter(|| {
            let mut total = 0;
            for _ in 0..BATCH {
                let mut notification =
                    DeviceNotification::builder(token.clone(), PushType::ALERT, payload.clone())
                        .topic(topic.clone())
                        .build()
                        .unwrap();
                notification.ensure_id(&mut ids);
                total += notification.request(&authority, Some(&authorization)).path().as_bytes().len();
            }
            black_box(total)
        })
    });
    group.finish();
}

fn responses(c: &mut Criterion) {
    let mut group = c.benchmark_group("http2 response");
    group.throughput(Throughput::Elements(BATCH));
    let id = &b"eabeae54-14a8-11e5-b60b-1697f925ec7b"[..];
    group.bench_function("200 with apns-id", |b| {
        b.iter(|| {
            let mut accepted = 0;
            for _ in 0..BATCH {
                let response = Response::parse(200, [(&b"apns-id"[..], black_box(id))], b"");
                accepted += usize::from(response.apns_id.is_some());
            }
            black_box(accepted)
        })
    });
    let body = br#"{"reason":"Unregistered","timestamp":1700000000000}"#;
    group.bench_function("410 with reason and timestamp", |b| {
        b.iter(|| {
            let mut rejected = 0;
            for _ in 0..BATCH {
                let response = Response::parse(410, [(&b"apns-id"[..], id)], black_box(body));
                rejected += usize::from(response.token_invalid_since().is_some());
            }
            black_box(rejected)
        })
    });
    group.bench_function("GOAWAY reason", |b| {
        b.iter(|| {
            let mut found = 0;
            for _ in 0..BATCH {
                found += usize::from(goaway_reason(black_box(br#"{"reason":"Shutdown"}"#)).is_some());
            }
            black_box(found)
        })
    });
    group.finish();
}

criterion_group!(benches, requests, responses);
criterion_main!(benches);
