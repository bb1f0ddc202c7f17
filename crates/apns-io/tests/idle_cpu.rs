//! The loop's CPU use when idle: it must block in `poll`. Alone in its test binary so that the
//! only thread named `apns-io` is this test's.

mod common;

use std::time::Duration;

use apns_io::Event;
use common::*;

const WAIT: Duration = Duration::from_secs(30);

/// User plus system CPU ticks of this process's thread named `name`.
fn thread_cpu_ticks(name: &str) -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let comm = std::fs::read_to_string(path.join("comm")).ok()?;
        if comm.trim() == name {
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            return Some(fields[11].parse::<u64>().ok()? + fields[12].parse::<u64>().ok()?);
        }
    }
    None
}

#[test]
fn an_idle_client_blocks_in_poll() {
    let harness = Harness::start(|mock| mock.error_delay(Duration::ZERO));
    let (client, mut events) = harness.client(|config| {
        config.idle_timeout(None).resend(apns_resend::Config::default().max_age(Duration::from_millis(50)))
    });
    client.send_batch(notifications(100), None).unwrap();
    assert!(events.wait_reports(100, WAIT));
    assert!(events.wait_event(WAIT, |e| matches!(e, Event::Connected { .. })));
    let before = thread_cpu_ticks("apns-io").expect("the event-loop thread");
    // A measurement window, not a synchronisation: the connection stays open and idle.
    std::thread::sleep(Duration::from_millis(1000));
    let after = thread_cpu_ticks("apns-io").unwrap();
    assert!(after - before <= 2, "idle loop used {} ticks in 1 s", after - before);
    assert_eq!(client.counters().connections, 1, "the connection stayed open");
}
