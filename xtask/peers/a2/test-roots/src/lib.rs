//! `webpki-roots` for the a2 peer: `TLS_SERVER_ROOTS` holds the test CA of the PEM file named
//! by the `APNS_PEER_CA` environment variable (nothing if unset or unreadable).

use std::sync::LazyLock;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor};

/// The trust anchors: the test CA(s) of `APNS_PEER_CA`.
pub static TLS_SERVER_ROOTS: LazyLock<Vec<TrustAnchor<'static>>> = LazyLock::new(|| {
    let Some(path) = std::env::var_os("APNS_PEER_CA") else { return Vec::new() };
    let Ok(certs) = CertificateDer::pem_file_iter(path) else { return Vec::new() };
    certs
        .flatten()
        .filter_map(|cert| webpki::anchor_from_trusted_cert(&cert).ok().map(|anchor| anchor.to_owned()))
        .collect()
});
