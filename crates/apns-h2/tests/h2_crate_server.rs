//! Interoperability with the `h2` crate's server (hyperium/h2 on tokio, over tokio-rustls):
//! an independent HTTP/2 and HPACK implementation, the one Apple-facing Rust servers and mocks
//! use.
//!
//! The server echoes what it read: `x-body-len`, `x-apns-id`, and the number of fields; paths
//! choose a behaviour (`/refuse`: RST_STREAM REFUSED_STREAM, `/error`: 400 with a JSON body,
//! `/trailers`: a body and trailers, `/shutdown`: a graceful GOAWAY).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use apns_h2::{Closed, Config, ErrorCode, Event, Fate, Processed};
use bytes::Bytes;
use common::{apns_id, apns_request, body, Driver, Pki};

#[derive(Clone, Copy)]
struct ServerOptions {
    max_concurrent_streams: u32,
    initial_window_size: u32,
    connection_window_size: u32,
    max_frame_size: u32,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 100,
            initial_window_size: 65_535,
            connection_window_size: 65_535,
            max_frame_size: 16_384,
        }
    }
}

/// Starts the server on a thread with its own runtime; it serves one connection.
fn start_server(pki: &Pki, options: ServerOptions) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(pki.server_config()));
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let (socket, _) = listener.accept().await.unwrap();
            let Ok(tls) = acceptor.accept(socket).await else { return };
            let mut connection = h2::server::Builder::new()
                .max_concurrent_streams(options.max_concurrent_streams)
                .initial_window_size(options.initial_window_size)
                .initial_connection_window_size(options.connection_window_size)
                .max_frame_size(options.max_frame_size)
                .handshake::<_, Bytes>(tls)
                .await
                .unwrap();
            let (shutdown_tx, mut shutdown_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
            loop {
                tokio::select! {
                    accepted = connection.accept() => match accepted {
                        Some(Ok((request, respond))) => {
                            let shutdown = shutdown_tx.clone();
                            tokio::spawn(async move {
                                let _ = handle(request, respond, shutdown).await;
                            });
                        }
                        _ => break,
                    },
                    Some(()) = shutdown_rx.recv() => connection.graceful_shutdown(),
                }
            }
        });
    });
    address
}

async fn handle(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    shutdown: tokio::sync::mpsc::UnboundedSender<()>,
) -> Result<(), h2::Error> {
    let (parts, mut body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    if path.starts_with("/refuse") {
        respond.send_reset(h2::Reason::REFUSED_STREAM);
        return Ok(());
    }
    let mut received = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        body.flow_control().release_capacity(chunk.len())?;
        received.extend_from_slice(&chunk);
    }
    let header = |name: &str| {
        parts.headers.get(name).map(|v| v.to_str().unwrap_or("?").to_owned()).unwrap_or_default()
    };
    let mut response = http::Response::builder()
        .status(if path.starts_with("/error") { 400 } else { 200 })
        .header("apns-id", header("apns-id"))
        .header("x-body-len", received.len().to_string())
        .header("x-fields", parts.headers.len().to_string())
        .header("x-authorization-ok", (header("authorization") == common::TOKEN).to_string())
        .header("x-method", parts.method.as_str())
        .body(())
        .unwrap();
    if path.starts_with("/shutdown") {
        let _ = shutdown.send(());
        response.headers_mut().insert("x-shutdown", http::HeaderValue::from_static("1"));
    }
    if path.starts_with("/error") {
        let mut stream = respond.send_response(response, false)?;
        stream.send_data(Bytes::from_static(br#"{"reason":"BadDeviceToken"}"#), true)?;
    } else if path.starts_with("/trailers") {
        let mut stream = respond.send_response(response, false)?;
        stream.send_data(Bytes::from(received), false)?;
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-checksum", http::HeaderValue::from_static("ok"));
        stream.send_trailers(trailers)?;
    } else {
        respond.send_response(response, true)?;
    }
    Ok(())
}

#[test]
fn many_requests_with_bodies_beyond_the_windows() {
    let pki = Pki::generate();
    let options =
        ServerOptions { initial_window_size: 16_384, max_concurrent_streams: 50, ..ServerOptions::default() };
    let address = start_server(&pki, options);
    let mut driver = Driver::connect(address, &pki, Config::default());
    driver.handshake();
    assert_eq!(driver.connection.peer_settings().max_concurrent_streams, Some(50));
    // 300 requests of 4 KiB: 1.2 MB through a 65,535-byte connection window and 16 KiB
    // stream windows, 50 streams at a time.
    let requests = (0..300).map(|n| apns_request("/3/device", n, body(n, 4096))).collect();
    let fates = driver.send_all(requests);
    assert_eq!(fates.len(), 300);
    for (n, (_, fate)) in fates.iter().enumerate() {
        let response = fate.response().unwrap_or_else(|| panic!("request {n}: {fate:?}"));
        assert_eq!(response.status, 200);
        assert_eq!(response.headers.get("apns-id").unwrap().as_bytes(), apns_id(n as u32).as_bytes());
        assert_eq!(response.headers.get("x-body-len").unwrap().as_bytes(), b"4096");
        assert_eq!(response.headers.get("x-authorization-ok").unwrap().as_bytes(), b"true");
        assert_eq!(response.headers.get("x-method").unwrap().as_bytes(), b"POST");
    }
    // Requests coalesce: far fewer TLS writes than requests.
    assert!(driver.writes < 300, "{} writes", driver.writes);
}

#[test]
fn refused_error_body_trailers_and_ping() {
    let pki = Pki::generate();
    let address = start_server(&pki, ServerOptions::default());
    let mut driver = Driver::connect(address, &pki, Config::default());
    driver.handshake();
    let requests = vec![
        apns_request("/refuse", 0, body(0, 10)),
        apns_request("/error", 1, body(1, 10)),
        apns_request("/trailers", 2, body(2, 20_000)),
    ];
    let fates = driver.send_all(requests);
    assert_eq!(fates[0].1, Fate::Reset(ErrorCode::REFUSED_STREAM));
    assert_eq!(fates[0].1.processed(), Processed::No);
    let error = fates[1].1.response().unwrap();
    assert_eq!((error.status, &error.body[..]), (400, &br#"{"reason":"BadDeviceToken"}"#[..]));
    let trailers = fates[2].1.response().unwrap();
    assert_eq!(trailers.body, body(2, 20_000));
    assert_eq!(trailers.trailers.as_ref().unwrap().get("x-checksum").unwrap().as_bytes(), b"ok");

    assert!(driver.connection.ping());
    driver.run_until(Duration::from_secs(10), |_, events| {
        events.iter().any(|event| matches!(event, Event::PingAcknowledged { .. }))
    });
}

#[test]
fn graceful_shutdown_finishes_what_was_sent() {
    let pki = Pki::generate();
    let address = start_server(&pki, ServerOptions::default());
    let mut driver = Driver::connect(address, &pki, Config::default());
    driver.handshake();
    let first = driver.send_all(vec![apns_request("/shutdown", 0, body(0, 100))]);
    assert!(first[0].1.response().is_some());
    // h2 sends GOAWAY(2^31 - 1) and a PING, then GOAWAY with the real last stream id.
    driver.run_until(Duration::from_secs(10), |connection, _| connection.goaway().is_some());
    assert!(driver.connection.needs_replacement());
    assert_eq!(driver.connection.goaway().unwrap().code, ErrorCode::NO_ERROR);
    assert!(matches!(
        driver.connection.send_request(apns_request("/3/device", 1, Bytes::new())),
        Err(apns_h2::SendError::Closing(_))
    ));
    driver.run_until(Duration::from_secs(10), |connection, _| connection.is_closed());
    assert!(driver.events.iter().any(|event| matches!(event, Event::Closed(Closed::Graceful))));
}

#[test]
fn small_frames_and_continuation_for_large_header_blocks() {
    let pki = Pki::generate();
    let address = start_server(&pki, ServerOptions::default());
    let mut driver = Driver::connect(address, &pki, Config::default());
    driver.handshake();
    // A 30 KB header value needs HEADERS and CONTINUATION frames at the default 16 KiB frame size.
    let big = apns_h2::HeaderValue::new("Z".repeat(30_000)).unwrap();
    let request = apns_request("/3/device", 0, body(0, 10)).header(
        apns_h2::HeaderName::from_static("x-big"),
        big,
        apns_h2::Indexing::Incremental,
    );
    let fates = driver.send_all(vec![request]);
    let response = fates[0].1.response().unwrap();
    assert_eq!(response.headers.get("x-fields").unwrap().as_bytes(), b"6");
}
