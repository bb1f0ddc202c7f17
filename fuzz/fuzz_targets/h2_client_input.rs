//! The whole client connection fed whatever a server might send, after a valid SETTINGS: no
//! panic, every stream ends with exactly one fate, and `Closed` comes last and once.
#![no_main]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use apns_h2::{Config, Connection, Event, HeaderValue, Request};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut config = Config::default();
    config.streams_before_settings = 8;
    let mut connection = Connection::new(config, now).expect("valid config");
    let mut ids = Vec::new();
    for n in 0..8u32 {
        let request = Request::post(HeaderValue::from_static("localhost"), HeaderValue::from_static("/3/device/x"))
            .body(Bytes::from(vec![b'x'; n as usize * 3000]));
        if let Ok(id) = connection.send_request(request) {
            ids.push(id);
        }
    }
    let mut out = BytesMut::new();
    let _ = connection.poll_transmit(now, &mut out);
    // An empty SETTINGS first, so the fuzzer starts past the preface check.
    connection.handle_input(now, &[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    // The input is cut where the fuzzer put 0xfe 0xfe, to vary how frames are split.
    for (index, piece) in data.split(|&byte| byte == 0xfe).enumerate() {
        connection.handle_input(now + Duration::from_millis(index as u64), piece);
        out.clear();
        let _ = connection.poll_transmit(now, &mut out);
    }
    connection.handle_timeout(now + Duration::from_secs(3600));
    connection.handle_close();
    let mut finished = HashSet::new();
    let mut closed = 0;
    while let Some(event) = connection.poll_event() {
        assert_eq!(closed, 0, "an event after Closed");
        match event {
            Event::Finished { id, .. } => assert!(finished.insert(id), "two fates for {id}"),
            Event::Closed(_) => closed += 1,
            _ => {}
        }
    }
    assert_eq!(closed, 1);
    assert_eq!(finished.len(), ids.len());
});
