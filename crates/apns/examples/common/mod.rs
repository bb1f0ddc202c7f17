//! What every example shares: Apple's sandbox when credentials are given, otherwise an
//! in-process mock.
#![allow(dead_code)]

use apns::binary::BinaryBuilder;
use apns::mock::{Http2Config, LocalHttp2Mock, LocalMock, MockConfig};
use apns::Builder;

/// Where a binary-protocol example sends to. Keep it alive as long as the `BinaryApns` built
/// from it.
pub(crate) struct Target {
    /// The builder to finish and `build()`.
    pub(crate) builder: BinaryBuilder,
    /// The in-process mock, when no certificate was given.
    pub(crate) mock: Option<LocalMock>,
}

/// `cargo run --example NAME -- CERT.pem KEY.pem` uses Apple's sandbox; with no arguments, an
/// in-process mock configured by `configure`.
pub(crate) fn target(configure: impl FnOnce(MockConfig) -> MockConfig) -> Result<Target, apns::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [cert, key] = args.as_slice() {
        let builder = apns::Apns::binary_builder().sandbox().cert_file(cert).key_file(key);
        return Ok(Target { builder, mock: None });
    }
    let mock = LocalMock::start_with(configure)?;
    println!(
        "no certificate given: started an in-process mock gateway on {} (pass CERT.pem KEY.pem to use Apple's sandbox)",
        mock.server().gateway_addr()
    );
    Ok(Target { builder: mock.builder(), mock: Some(mock) })
}

/// The 64-digit token used by the examples (the PyAPNs README shortened it to 56 digits, which
/// no gateway accepts).
pub(crate) const TOKEN: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";

/// Where an HTTP/2 example sends to. Keep it alive as long as the `Apns` built from it.
pub(crate) struct Http2Target {
    /// The builder to finish and `build()` (token auth, or a certificate, and a default topic).
    pub(crate) builder: Builder,
    /// The in-process mock, when no credentials were given.
    pub(crate) mock: Option<LocalHttp2Mock>,
    /// The device token (or channel id) to send to (the sandbox needs a real one).
    pub(crate) token: String,
}

/// HTTP/2 examples with token auth: `cargo run --example NAME -- KEY.p8 KEY_ID TEAM_ID
/// BUNDLE_ID DEVICE_TOKEN` (or another last argument, named by `last`) uses Apple's sandbox;
/// with no arguments, an in-process mock configured by `configure`.
pub(crate) fn http2_token_target(
    last: &str,
    configure: impl FnOnce(Http2Config) -> Http2Config,
) -> Result<Http2Target, apns::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [key, key_id, team_id, bundle_id, token] = args.as_slice() {
        let builder =
            apns::Apns::builder().sandbox().token_key(key.as_str(), key_id, team_id).topic(bundle_id);
        return Ok(Http2Target { builder, mock: None, token: token.clone() });
    }
    let mock = start_http2_mock(configure, &format!("KEY.p8 KEY_ID TEAM_ID BUNDLE_ID {last}"))?;
    Ok(Http2Target { builder: mock.builder(), mock: Some(mock), token: TOKEN.to_owned() })
}

/// HTTP/2 examples with a certificate: `cargo run --example NAME -- CERT.pem KEY.pem
/// BUNDLE_ID DEVICE_TOKEN` uses Apple's sandbox; with no arguments, an in-process mock.
pub(crate) fn http2_certificate_target(
    configure: impl FnOnce(Http2Config) -> Http2Config,
) -> Result<Http2Target, apns::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [cert, key, bundle_id, token] = args.as_slice() {
        let builder = apns::Apns::builder().sandbox().cert_file(cert).key_file(key).topic(bundle_id);
        return Ok(Http2Target { builder, mock: None, token: token.clone() });
    }
    let mock = start_http2_mock(configure, "CERT.pem KEY.pem BUNDLE_ID DEVICE_TOKEN")?;
    Ok(Http2Target { builder: mock.certificate_builder(), mock: Some(mock), token: TOKEN.to_owned() })
}

fn start_http2_mock(
    configure: impl FnOnce(Http2Config) -> Http2Config,
    arguments: &str,
) -> Result<LocalHttp2Mock, apns::Error> {
    let mock = LocalHttp2Mock::start_with(configure)?;
    println!(
        "no credentials given: started an in-process HTTP/2 mock on {} (pass {arguments} to use Apple's sandbox)",
        mock.server().addr()
    );
    Ok(mock)
}
