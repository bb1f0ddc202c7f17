//! Codec throughput: encoding frames, building payloads, decoding commands.
//!
//! Run with `cargo bench -p apns-proto` (or `cargo xtask bench`); results are in
//! `docs/benchmarks.md`.

use std::hint::black_box;

use apns_proto::{
    decode_command, decode_error_response, DeviceToken, ErrorResponse, Format, Notification, NotificationId,
    Payload, PayloadLimit, Priority, Status,
};
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const BATCH: u64 = 1000;

fn token() -> DeviceToken {
    "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80".parse().unwrap()
}

fn golden_payload() -> Payload {
    Payload::new().alert("Hello World!").sound("default").badge(1)
}

fn encoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(BATCH));
    let notification = Notification::new(token(), golden_payload().encode(PayloadLimit::BINARY).unwrap())
        .with_expiry(1_700_000_000)
        .with_priority(Priority::Immediate);
    let mut out = BytesMut::with_capacity(notification.encoded_len(Format::Frame) * BATCH as usize);
    for format in [Format::Frame, Format::Enhanced] {
        group.bench_function(format!("{format:?} with prebuilt payload"), |b| {
            b.iter(|| {
                out.clear();
                for id in 0..BATCH as u32 {
                    notification.encode_with_id(format, NotificationId(id), &mut out);
                }
                black_box(out.len())
            })
        });
    }
    let token = token();
    group.bench_function("payload building + Frame", |b| {
        b.iter(|| {
            out.clear();
            for id in 0..BATCH as u32 {
                let payload = Payload::new()
                    .alert(black_box("Hello World!"))
                    .sound("default")
                    .badge(id)
                    .encode(PayloadLimit::BINARY)
                    .unwrap();
                Notification::new(token, payload).with_id(id).encode(Format::Frame, &mut out);
            }
            black_box(out.len())
        })
    });
    group.finish();
}

fn decoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(BATCH));
    let notification = Notification::new(token(), golden_payload().encode(PayloadLimit::BINARY).unwrap());
    for format in [Format::Frame, Format::Enhanced] {
        let mut stream = BytesMut::new();
        for id in 0..BATCH as u32 {
            notification.encode_with_id(format, NotificationId(id), &mut stream);
        }
        group.bench_function(format!("{format:?} + validate"), |b| {
            b.iter(|| {
                let mut rest = &stream[..];
                let mut accepted = 0u32;
                while let Some((command, consumed)) = decode_command(rest).unwrap().complete() {
                    accepted += u32::from(command.validate(PayloadLimit::BINARY).is_ok());
                    rest = &rest[consumed..];
                }
                assert_eq!(accepted, BATCH as u32);
            })
        });
    }
    let mut responses = BytesMut::new();
    for id in 0..BATCH as u32 {
        ErrorResponse { status: Status::INVALID_TOKEN, id: NotificationId(id) }.encode(&mut responses);
    }
    let mut frames = BytesMut::new();
    for id in 0..BATCH as u32 {
        notification.encode_with_id(Format::Frame, NotificationId(id), &mut frames);
    }
    group.bench_function("Frame, decode only", |b| {
        b.iter(|| {
            let mut rest = &frames[..];
            while let Some((command, consumed)) = decode_command(rest).unwrap().complete() {
                black_box(command);
                rest = &rest[consumed..];
            }
        })
    });
    group.bench_function("error response", |b| {
        b.iter(|| {
            let mut rest = &responses[..];
            while let Some((response, consumed)) = decode_error_response(rest).unwrap().complete() {
                black_box(response);
                rest = &rest[consumed..];
            }
        })
    });
    group.finish();
}

criterion_group!(benches, encoding, decoding);
criterion_main!(benches);
