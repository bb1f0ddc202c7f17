//! The TLS side: the rustls server configuration (ALPN `h2`, optional client certificates) and
//! what a client certificate says about the topics it may push to.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::config::Http2Tls;
use crate::MockError;

/// The rustls configuration: ALPN `h2` (a client offering no ALPN at all is still served, as
/// Apple does), and client certificates from the CA when one is configured, optional when
/// token auth is on too.
pub(crate) fn server_config(source: &Http2Tls, token_auth: bool) -> Result<Arc<ServerConfig>, MockError> {
    let (cert_chain, key, client_ca) = match source {
        Http2Tls::Rustls(config) => {
            let mut config = ServerConfig::clone(config);
            config.alpn_protocols = vec![b"h2".to_vec()];
            return Ok(Arc::new(config));
        }
        Http2Tls::Pem { cert_chain, key, client_ca } => (cert_chain, key, client_ca),
    };
    let chain = pem_certs("server certificate", cert_chain)?;
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|source| MockError::Pem { what: "server key", source })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        ServerConfig::builder_with_provider(Arc::clone(&provider)).with_safe_default_protocol_versions()?;
    let mut config = match client_ca {
        None => builder.with_no_client_auth().with_single_cert(chain, key)?,
        Some(client_ca) => {
            let mut roots = RootCertStore::empty();
            for ca in pem_certs("client CA", client_ca)? {
                roots.add(ca)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if token_auth { verifier.allow_unauthenticated() } else { verifier };
            builder.with_client_cert_verifier(verifier.build()?).with_single_cert(chain, key)?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

fn pem_certs(what: &'static str, pem: &str) -> Result<Vec<CertificateDer<'static>>, MockError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| MockError::Pem { what, source })?;
    if certs.is_empty() {
        return Err(MockError::NoCertificate { what });
    }
    Ok(certs)
}

/// The bundle id an Apple push certificate is for: its subject's UID, or the part of its
/// common name after `Apple Push Services: ` (or `Apple Development IOS Push Services: `...).
pub(crate) fn certificate_bundle(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = cert.subject();
    let by_uid = subject
        .iter_attributes()
        .find(|attr| attr.attr_type().to_id_string() == "0.9.2342.19200300.100.1.1")
        .and_then(|attr| attr.as_str().ok())
        .map(str::to_owned);
    by_uid.or_else(|| {
        let cn = subject.iter_common_name().next()?.as_str().ok()?;
        let (_, bundle) = cn.split_once("Push Services: ")?;
        Some(bundle.trim().to_owned()).filter(|bundle| !bundle.is_empty())
    })
}
