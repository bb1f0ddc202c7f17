//! Interoperability with nghttp2's server, `nghttpd` (Debian `nghttp2-server`), in C: the
//! reference HTTP/2 implementation behind curl and Apache's mod_http2.
//!
//! `--echo-upload` sends each POST body back, so what the client wrote is checked byte for
//! byte; tiny windows (`-w`, `-W`) force the flow control through hundreds of WINDOW_UPDATEs,
//! and a document larger than our receive windows checks that we replenish them.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apns_h2::{Config, HeaderValue, Request};
use common::{apns_request, body, peer_or_skip, Driver, Pki};

/// The server process, killed on drop.
struct Nghttpd {
    child: Child,
    address: SocketAddr,
}

impl Drop for Nghttpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(pki: &Pki, name: &str, args: &[&str]) -> Option<Nghttpd> {
    let found = Command::new("nghttpd").arg("--version").stdout(Stdio::null()).status().is_ok();
    if !peer_or_skip("nghttpd (Debian nghttp2-server)", found) {
        return None;
    }
    let dir = pki.write_pem(name);
    let docroot = dir.join("htdocs");
    std::fs::create_dir_all(&docroot).unwrap();
    std::fs::write(docroot.join("large"), body(7, 200_000)).unwrap();
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
            return Some(Nghttpd { child, address });
        }
    }
    panic!("nghttpd did not start listening on any of 5 ports");
}

/// Waits until the server process accepts connections (a readiness probe of another process,
/// bounded). False if it exited first (its port was taken).
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

#[test]
fn echoed_uploads_through_tiny_windows() {
    let pki = Pki::generate();
    // Stream windows of 1,023 bytes, a connection window of 65,535, 10 streams at a time.
    let Some(server) = start(
        &pki,
        "nghttpd-echo",
        &["--echo-upload", "-w", "10", "-W", "16", "--max-concurrent-streams=10"],
    ) else {
        return;
    };
    let mut driver = Driver::connect(server.address, &pki, Config::default());
    driver.handshake();
    assert_eq!(driver.connection.peer_settings().max_concurrent_streams, Some(10));
    assert_eq!(driver.connection.peer_settings().initial_window_size, 1023);
    let requests = (0..100).map(|n| apns_request("/3/device", n, body(n, 4096))).collect();
    let fates = driver.send_all(requests);
    for (n, (_, fate)) in fates.iter().enumerate() {
        let response = fate.response().unwrap_or_else(|| panic!("request {n}: {fate:?}"));
        assert_eq!(response.status, 200, "request {n}");
        assert_eq!(response.body, body(n as u32, 4096), "request {n}: the echo differs");
    }
}

#[test]
fn large_download_replenishes_receive_windows_and_trailers_arrive() {
    let pki = Pki::generate();
    let Some(server) = start(&pki, "nghttpd-download", &["--trailer", "x-done: yes"]) else { return };
    // A 200 KB document through 16 KiB stream windows and a 64 KiB connection window.
    let mut config = Config::default();
    config.stream_window = 16_384;
    config.connection_window = 65_535;
    config.max_response_body = 256 << 10;
    let mut driver = Driver::connect(server.address, &pki, config);
    driver.handshake();
    let get = |path: &'static str| {
        Request::new(Request::GET, HeaderValue::from_static("localhost"), HeaderValue::from_static(path))
    };
    let fates = driver.send_all(vec![get("/large"), get("/missing"), get("/large")]);
    for index in [0, 2] {
        let response = fates[index].1.response().unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, body(7, 200_000));
        assert_eq!(response.trailers.as_ref().unwrap().get("x-done").unwrap().as_bytes(), b"yes");
    }
    assert_eq!(fates[1].1.response().unwrap().status, 404);
}

#[test]
fn header_table_size_and_indexing_with_nghttpd() {
    let pki = Pki::generate();
    // The server's decoder keeps only 256 bytes of dynamic table: our encoder shrinks to it.
    let Some(server) = start(&pki, "nghttpd-table", &["--echo-upload", "-c", "256"]) else { return };
    let mut driver = Driver::connect(server.address, &pki, Config::default());
    driver.handshake();
    let requests = (0..50).map(|n| apns_request("/3/device", n, body(n, 100))).collect();
    let fates = driver.send_all(requests);
    assert!(fates
        .iter()
        .enumerate()
        .all(|(n, (_, fate))| fate.response().unwrap().body == body(n as u32, 100)));
}
