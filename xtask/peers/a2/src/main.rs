//! Sends `count` notifications with a2 to the mock at api.push.apple.com (see Cargo.toml), at
//! most `concurrency` at once, on a2's own pool. Config: one JSON argument
//!   {"key_file", "key_id", "team_id", "topic", "token", "count", "concurrency"}
//! Prints `{"event":"start"}` before the first send, then
//! `{"event":"done","seconds":..,"ok":..,"failed":..,"first_error":..}`.

use std::sync::Arc;
use std::time::Instant;

use a2::{Client, ClientConfig, DefaultNotificationBuilder, Endpoint, NotificationBuilder, NotificationOptions};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let config: serde_json::Value =
        serde_json::from_str(&std::env::args().nth(1).expect("one JSON argument")).expect("JSON");
    let text = |name: &str| -> &'static str {
        Box::leak(config[name].as_str().unwrap_or_else(|| panic!("{name}")).to_owned().into_boxed_str())
    };
    let number = |name: &str| config[name].as_u64().unwrap_or_else(|| panic!("{name}"));
    let (token, topic) = (text("token"), text("topic"));
    let key = std::fs::File::open(text("key_file")).expect("key file");
    let client =
        Client::token(key, text("key_id"), text("team_id"), ClientConfig::new(Endpoint::Production)).expect("client");
    let (count, concurrency) = (number("count"), number("concurrency") as usize);
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    let mut tally = Tally::default();
    println!("{{\"event\":\"start\"}}");
    let start = Instant::now();
    for _ in 0..count {
        let permit = permits.clone().acquire_owned().await.expect("semaphore");
        let client = client.clone();
        tasks.spawn(async move {
            let options = NotificationOptions { apns_topic: Some(topic), ..Default::default() };
            let payload = DefaultNotificationBuilder::new()
                .set_body("Hello World!")
                .set_sound("default")
                .set_badge(1)
                .build(token, options);
            let result = client.send(payload).await;
            drop(permit);
            result.err().map(|error| error.to_string())
        });
        while let Some(done) = tasks.try_join_next() {
            tally.add(done.expect("task"));
        }
    }
    while let Some(done) = tasks.join_next().await {
        tally.add(done.expect("task"));
    }
    let Tally { ok, failed, first_error } = tally;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"event": "done", "seconds": seconds, "ok": ok, "failed": failed, "first_error": first_error})
    );
}

#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    first_error: Option<String>,
}

impl Tally {
    fn add(&mut self, error: Option<String>) {
        match error {
            None => self.ok += 1,
            Some(error) => {
                self.failed += 1;
                self.first_error.get_or_insert(error);
            }
        }
    }
}
