//! The bench's workloads timed batch by batch, for a machine shared with other work: criterion
//! reports means over many batches, which include the time other processes held the core; the
//! median single batch of 1,000 (about half a millisecond, shorter than a scheduler slice) is
//! almost never interrupted, so it shows what one core does. Run with
//! `cargo run --release -p apns-h2 --example batch_timing`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use apns_h2::{Event, HeaderValue, Request};
use bytes::{Bytes, BytesMut};

#[path = "../benches/fixtures/mod.rs"]
mod fixtures;

use fixtures::{connected, request, responses, BATCH, TOKEN};

const ROUNDS: usize = 3000;

fn main() {
    let token = HeaderValue::new(TOKEN).unwrap();
    let body = Bytes::from(vec![b'{'; 100]);
    let now = Instant::now();
    let requests: Vec<Request> = (0..BATCH).map(|n| request(n, &token, &body)).collect();
    let mut connection = connected(now);
    let mut next_id = 1u32;
    let mut out = BytesMut::with_capacity(1 << 20);
    let (mut encode, mut decode) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
    let mut written = 0;
    for _ in 0..ROUNDS {
        let batch = requests.clone();
        out.clear();
        let start = Instant::now();
        for request in batch {
            black_box(connection.send_request(request).unwrap());
        }
        black_box(connection.poll_transmit(now, &mut out));
        encode.push(start.elapsed());
        written = out.len();

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
        decode.push(start.elapsed());
        assert_eq!(fates.len(), BATCH);
    }
    println!("{} bytes written per request (HEADERS and DATA frames)", written / BATCH);
    for (name, mut times) in
        [("encode (send_request + poll_transmit)", encode), ("decode (handle_input + poll_event)", decode)]
    {
        times.sort();
        let per_item = |d: Duration| d.as_nanos() as f64 / BATCH as f64;
        let median = per_item(times[ROUNDS / 2]);
        println!(
            "{name}: median {median:.0} ns per item ({:.2} M/s), p10 {:.0} ns, p90 {:.0} ns, over {ROUNDS} batches of {BATCH}",
            1000.0 / median,
            per_item(times[ROUNDS / 10]),
            per_item(times[ROUNDS * 9 / 10]),
        );
    }
}
