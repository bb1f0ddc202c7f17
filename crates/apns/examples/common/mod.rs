//! What every example shares: Apple's sandbox when a certificate is given, otherwise an
//! in-process mock.
#![allow(dead_code)]

use apns::mock::{LocalMock, MockConfig};
use apns::Builder;

/// Where an example sends to. Keep it alive as long as the `Apns` built from it.
pub(crate) struct Target {
    /// The builder to finish and `build()`.
    pub(crate) builder: Builder,
    /// The in-process mock, when no certificate was given.
    pub(crate) mock: Option<LocalMock>,
}

/// `cargo run --example NAME -- CERT.pem KEY.pem` uses Apple's sandbox; with no arguments, an
/// in-process mock configured by `configure`.
pub(crate) fn target(configure: impl FnOnce(MockConfig) -> MockConfig) -> Result<Target, apns::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [cert, key] = args.as_slice() {
        let builder = apns::Apns::builder().sandbox().cert_file(cert).key_file(key);
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
