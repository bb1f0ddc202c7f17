//! Interoperability with python-hyper's `h2` 4.4.1 (pure Python, sans-io), run with
//! `$APNS_PYTHON` (`cargo xtask ci` sets it up): `tests/python_h2_server.py` plays APNs' stream
//! limit (1, then 10 after a success, 1 after a rejection), resets a stream with REFUSED_STREAM
//! and ends with GOAWAY between held streams, with `{"reason":"Shutdown"}` as debug data. h2
//! treats a client that opens more streams than its acknowledged limit as a connection error,
//! so the whole run also proves the budget is kept.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use apns_h2::{Closed, Config, ErrorCode, Event, Fate, NotProcessed, Processed};
use common::{apns_id, apns_request, body, peer_or_skip, Driver, Pki};

struct PythonServer {
    child: Child,
    address: SocketAddr,
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(pki: &Pki) -> Option<PythonServer> {
    let python = std::env::var("APNS_PYTHON").ok().filter(|python| !python.is_empty());
    if !peer_or_skip("APNS_PYTHON (a python with h2==4.4.1)", python.is_some()) {
        return None;
    }
    let dir = pki.write_pem("python-h2");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python_h2_server.py");
    let mut child = Command::new(python.unwrap_or_default())
        .arg(script)
        .arg(dir.join("cert.pem"))
        .arg(dir.join("key.pem"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("the python server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port: u16 =
        line.trim().strip_prefix("PORT ").unwrap_or_else(|| panic!("no port: {line:?}")).parse().unwrap();
    Some(PythonServer { child, address: SocketAddr::from(([127, 0, 0, 1], port)) })
}

fn one(driver: &mut Driver, path: &str, n: u32) -> Fate {
    let fates = driver.send_all(vec![apns_request(path, n, body(n, 200))]);
    fates[0].1.clone()
}

#[test]
fn apns_like_stream_limits_refusal_and_goaway() {
    let pki = Pki::generate();
    let Some(server) = start(&pki) else { return };
    let mut driver = Driver::connect(server.address, &pki, Config::default());
    driver.handshake();
    assert_eq!(driver.connection.peer_settings().max_concurrent_streams, Some(1));
    assert_eq!(driver.connection.send_budget(), 1);

    // The first success raises the limit to 10.
    let good = one(&mut driver, "/good", 0);
    assert_eq!(good.response().unwrap().headers.get("apns-id").unwrap().as_bytes(), apns_id(0).as_bytes());
    driver.run_until(Duration::from_secs(10), |connection, _| connection.send_budget() == 10);

    // A rejection drops it back to 1, the next success raises it again.
    let bad = one(&mut driver, "/bad", 1);
    let response = bad.response().unwrap();
    assert_eq!((response.status, &response.body[..]), (400, &br#"{"reason": "BadDeviceToken"}"#[..]));
    driver.run_until(Duration::from_secs(10), |connection, _| {
        connection.peer_settings().max_concurrent_streams == Some(1)
    });
    assert_eq!(driver.connection.send_budget(), 1);
    assert!(one(&mut driver, "/good", 2).response().is_some());
    driver.run_until(Duration::from_secs(10), |connection, _| connection.send_budget() == 10);

    let refused = one(&mut driver, "/refuse", 3);
    assert_eq!(refused, Fate::Reset(ErrorCode::REFUSED_STREAM));

    // Five held streams; GOAWAY names the third.
    let fates = driver.send_all((4..9).map(|n| apns_request("/hold", n, body(n, 200))).collect());
    let goaway = driver.connection.goaway().cloned().unwrap();
    assert_eq!(&goaway.debug_data[..], br#"{"reason": "Shutdown"}"#);
    assert_eq!(goaway.code, ErrorCode::NO_ERROR);
    assert_eq!(goaway.last_stream_id, fates[2].0);
    for (id, fate) in &fates[..3] {
        assert_eq!(fate.processed(), Processed::Yes, "{id}");
    }
    for (_, fate) in &fates[3..] {
        assert_eq!(
            *fate,
            Fate::NotProcessed(NotProcessed::GoAway {
                last_stream_id: goaway.last_stream_id,
                code: ErrorCode::NO_ERROR
            })
        );
    }
    assert!(driver.events.iter().any(|event| matches!(event, Event::Closed(Closed::Graceful))));
}
