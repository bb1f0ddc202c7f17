//! The HTTP/2 client against an independent server: nghttp2's `nghttpd` (Debian
//! `nghttp2-server`, in C), over TLS with ALPN `h2` and a test certificate. It is no APNs: it
//! serves files, so a POST to `/3/device/<token>` gets `404 Not Found` with an HTML body (and,
//! with `--echo-upload`, `200` echoing the payload). Whatever it answers, each notification
//! must get exactly one honest report: no retry of a definite answer, no invented reason.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apns_io::http2::{Http2Client, Http2Config};
use apns_io::{Endpoint, TlsConfig};
use apns_mock::certs::TestPki;
use apns_proto::http2::{DeviceNotification, PushType, Topic};
use apns_proto::{Payload, PayloadLimit};
use apns_resend::http2::{Auth, Item, Outcome, Report};

mod common;
use common::peer_or_skip;

const TOKEN: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";
const WAIT: Duration = Duration::from_secs(20);

/// The server process, killed on drop, and its scratch directory.
struct Nghttpd {
    child: Child,
    address: SocketAddr,
    dir: std::path::PathBuf,
}

impl Drop for Nghttpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(pki: &TestPki, name: &str, args: &[&str]) -> Option<Nghttpd> {
    let found = Command::new("nghttpd").arg("--version").stdout(Stdio::null()).status().is_ok();
    if !peer_or_skip("nghttpd (Debian nghttp2-server)", found) {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("apns-io-{name}-{}", std::process::id()));
    let docroot = dir.join("htdocs");
    std::fs::create_dir_all(&docroot).unwrap();
    std::fs::write(dir.join("cert.pem"), &pki.server_cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &pki.server_key_pem).unwrap();
    // A free port: taken, released, then given to nghttpd. Another process may take it in
    // between (nghttpd then exits): try again with another.
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new("nghttpd")
            .args(["-a", "127.0.0.1", "-d"])
            .arg(&docroot)
            .args(args)
            .arg(port.to_string())
            .arg(dir.join("key.pem"))
            .arg(dir.join("cert.pem"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nghttpd starts");
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        if wait_listening(&mut child, address) {
            return Some(Nghttpd { child, address, dir });
        }
    }
    panic!("nghttpd did not start listening on any of 5 ports");
}

/// Waits until the server process accepts connections (a readiness probe of another process,
/// bounded). False if it exited first (its port was taken). The same probe as apns-h2's
/// nghttpd tests (test files of two crates).
fn wait_listening(child: &mut Child, address: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        // A probe that connected to itself (Linux picks the same ephemeral port as the local
        // one now and then, with nothing listening) proves nothing.
        if let Ok(probe) = TcpStream::connect(address) {
            if probe.local_addr().ok() != probe.peer_addr().ok() {
                return true;
            }
        }
        assert!(Instant::now() < deadline, "nghttpd did not start listening");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn item(tag: u64) -> Item<u64> {
    let payload = Payload::new().alert("Hello").encode(PayloadLimit::HTTP2).unwrap();
    let notification = DeviceNotification::builder(TOKEN.parse().unwrap(), PushType::ALERT, payload)
        .topic(Topic::new("com.example.nghttpd").unwrap())
        .build()
        .unwrap();
    Item::device(notification, tag)
}

/// Sends `n` notifications through a fresh client and returns their reports.
fn run(server: &Nghttpd, pki: &TestPki, n: u64) -> Vec<Report<u64>> {
    let tls: Arc<rustls::ClientConfig> =
        TlsConfig::new().ca_pem(pki.ca_cert_pem.as_bytes()).unwrap().build_h2().unwrap();
    let mut config = Http2Config::new(Endpoint::at("localhost", server.address), tls, Auth::Certificate, 7);
    config.delivery.connections = 2;
    let client: Http2Client<u64> = Http2Client::start(config).unwrap();
    let outcomes = client.outcomes(1024);
    client.send_batch((0..n).map(item), Some(WAIT)).unwrap();
    let reports: Vec<_> = (0..n).map(|_| outcomes.next_timeout(WAIT).expect("a report")).collect();
    assert!(client.close(WAIT).settled);
    assert!(outcomes.try_iter().next().is_none(), "one report per notification, no more");
    let tags: HashSet<u64> = reports.iter().map(|r| r.tag).collect();
    assert_eq!(tags.len() as u64, n, "each notification reported once");
    reports
}

#[test]
fn nghttpd_serving_files_rejects_each_notification_once() {
    let pki = TestPki::generate().unwrap();
    let Some(server) = start(&pki, "nghttpd-files", &["--max-concurrent-streams=10"]) else { return };
    let reports = run(&server, &pki, 200);
    for report in &reports {
        // 404 with an HTML body: a definite answer, rejected with no reason, never resent.
        match &report.outcome {
            Outcome::Rejected(rejection) => {
                assert_eq!((rejection.status, &rejection.reason), (404, &None), "{report:?}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!((report.attempts, report.possible_duplicate), (1, false), "{report:?}");
    }
}

#[test]
fn nghttpd_echoing_uploads_accepts_each_notification_once() {
    let pki = TestPki::generate().unwrap();
    let Some(server) = start(&pki, "nghttpd-echo", &["--echo-upload", "--max-concurrent-streams=10"]) else {
        return;
    };
    let reports = run(&server, &pki, 200);
    for report in &reports {
        // 200 without an apns-id echo: accepted under the id it was sent with.
        assert_eq!(report.outcome, Outcome::Accepted { apns_id: Some(report.apns_id), unique_id: None });
        assert_eq!((report.attempts, report.possible_duplicate), (1, false), "{report:?}");
    }
}
