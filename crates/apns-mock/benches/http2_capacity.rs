//! How many requests per second the HTTP/2 mock answers: `cargo bench -p apns-mock --bench
//! http2_capacity`.
//!
//! Starts the mock in-process (recording off, no faults) and drives it with h2's client over
//! TLS on loopback: several connections, many streams in flight on each (workers that each send
//! a request and await its response, in a loop). Reports requests per second of wall time, and
//! per CPU-second of the mock's threads (their names start with `apns-mock-h2`), read from
//! `/proc/self/task/*/stat`. The client runs in the same process on its own runtime, so on a
//! small machine the wall rate is shared between both: the per-CPU-second number is the mock's.
//!
//! Run without `--bench` (as `cargo test --all-targets` does) it only checks that it works.
//! `APNS_BENCH_REQUESTS=<n>` sets the requests per run (for profiling).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use apns_mock::certs::{ProviderKey, TestPki};
use apns_mock::http2::{Http2Config, Http2Mock};
use base64::Engine as _;
use bytes::Bytes;
use http::Request;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

const PAYLOAD: &str = r#"{"aps":{"alert":"Hello World!","sound":"default","badge":1}}"#;

fn client_tls(pki: &TestPki, certificate: bool) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pki.ca_cert_pem.as_bytes()).unwrap()).unwrap();
    let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = if certificate {
        builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(pki.client_cert_pem.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(pki.client_key_pem.as_bytes()).unwrap(),
            )
            .unwrap()
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

fn token(key: &ProviderKey) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let der = PrivateKeyDer::from_pem_slice(key.private_key_pem.as_bytes()).unwrap();
    let rng = ring::rand::SystemRandom::new();
    let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        der.secret_der(),
        &rng,
    )
    .unwrap();
    let iat = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let input = format!(
        "{}.{}",
        b64(format!(r#"{{"alg":"ES256","kid":"{}"}}"#, key.key_id).as_bytes()),
        b64(format!(r#"{{"iss":"{}","iat":{iat}}}"#, key.team_id).as_bytes())
    );
    format!("{input}.{}", b64(pair.sign(&rng, input.as_bytes()).unwrap().as_ref()))
}

/// CPU seconds used so far by this process's threads whose names start with `prefix`.
fn threads_cpu(prefix: &str) -> Option<f64> {
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
        let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
        if name.starts_with(prefix) {
            let fields: Vec<&str> = rest.split(' ').collect();
            // utime and stime, fields 14 and 15 of stat: indices 11 and 12 after the name.
            ticks += fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        }
    }
    Some(ticks as f64 / 100.0)
}

struct Run {
    name: String,
    workers: usize,
    connections: usize,
    streams: usize,
    token_auth: bool,
    total: u64,
}

fn run(pki: &TestPki, key: &ProviderKey, run: &Run) {
    let mock = Http2Mock::start(
        Http2Config::from_test_pki(pki)
            .provider_key_from(key)
            .topic("com.example.mock")
            .worker_threads(run.workers),
    )
    .unwrap();
    let addr = mock.addr();
    let tls = client_tls(pki, !run.token_auth);
    let authorization = run.token_auth.then(|| format!("bearer {}", token(key)));
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let senders: Vec<_> = client.block_on(async {
        let mut senders = Vec::new();
        for _ in 0..run.connections {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(&tls))
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .unwrap();
            let (send, connection) = h2::client::Builder::new()
                .initial_connection_window_size(1 << 20)
                .handshake::<_, Bytes>(tls)
                .await
                .unwrap();
            tokio::spawn(connection);
            senders.push(send.ready().await.unwrap());
        }
        senders
    });
    let path = format!("https://localhost/3/device/{}", "b5".repeat(32));
    let cpu_before = threads_cpu("apns-mock-h2");
    let started = Instant::now();
    client.block_on(async {
        let mut workers = Vec::new();
        for send in &senders {
            for _ in 0..run.streams {
                let (mut send, sent, path, authorization, total) =
                    (send.clone(), Arc::clone(&sent), path.clone(), authorization.clone(), run.total);
                workers.push(tokio::spawn(async move {
                    while sent.fetch_add(1, Ordering::Relaxed) < total {
                        let mut request = Request::post(path.as_str())
                            .header("apns-topic", "com.example.mock")
                            .header("apns-push-type", "alert");
                        if let Some(authorization) = &authorization {
                            request = request.header("authorization", authorization.as_str());
                        }
                        send = send.ready().await.unwrap();
                        let (response, mut body) =
                            send.send_request(request.body(()).unwrap(), false).unwrap();
                        body.send_data(Bytes::from_static(PAYLOAD.as_bytes()), true).unwrap();
                        let response = response.await.unwrap();
                        assert_eq!(response.status(), 200);
                    }
                }));
            }
        }
        for worker in workers {
            worker.await.unwrap();
        }
    });
    let wall = started.elapsed();
    let cpu = threads_cpu("apns-mock-h2").zip(cpu_before).map(|(after, before)| after - before);
    let stats = mock.stop();
    assert_eq!(stats.accepted, run.total);
    drop(senders);
    client.shutdown_timeout(Duration::from_secs(1));
    let per_second = run.total as f64 / wall.as_secs_f64();
    println!(
        "{}: {} requests on {} connections x {} streams in {:.3} s: {:.0} requests/s wall{}",
        run.name,
        run.total,
        run.connections,
        run.streams,
        wall.as_secs_f64(),
        per_second,
        match cpu.filter(|cpu| *cpu > 0.0) {
            Some(cpu) =>
                format!("; mock {cpu:.2} CPU-s: {:.0} requests per CPU-second", run.total as f64 / cpu),
            None => String::new(),
        }
    );
}

fn main() {
    let benching = std::env::args().any(|arg| arg == "--bench");
    let pki = TestPki::generate().unwrap();
    let key = ProviderKey::generate().unwrap();
    // APNS_BENCH_REQUESTS shortens (or lengthens) a run, for profiling.
    let total = std::env::var("APNS_BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if benching { 1_000_000 } else { 2_000 });
    if benching {
        // Warm up, not reported.
        run(
            &pki,
            &key,
            &Run {
                name: "warm-up".into(),
                workers: 1,
                connections: 2,
                streams: 100,
                token_auth: true,
                total: 100_000,
            },
        );
    }
    for (workers, token_auth) in [(1, true), (2, true), (1, false)] {
        let auth = if token_auth { "token" } else { "certificate" };
        let name = format!("{auth} auth, {workers} mock worker thread(s)");
        run(&pki, &key, &Run { name, workers, connections: 4, streams: 250, token_auth, total });
    }
}
