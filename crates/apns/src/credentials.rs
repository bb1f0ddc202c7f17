//! What both builders share: the client certificate and the trusted CAs, and `HOST:PORT`
//! addresses.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use apns_io::{Endpoint, Identity, Password, TlsConfig};

use crate::error::AddressProblem;
use crate::Error;

/// The client certificate (any of its forms) and the CAs trusted instead of the public roots.
#[derive(Debug, Default)]
pub(crate) struct Certificates {
    pub(crate) cert_file: Option<PathBuf>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) p12: Option<(PathBuf, Password)>,
    pub(crate) identity: Option<Identity>,
    pub(crate) ca_files: Vec<PathBuf>,
    pub(crate) ca_pems: Vec<Vec<u8>>,
}

impl Certificates {
    /// Loads the client identity, if one was given: an identity, else a `.p12`, else PEM
    /// files (the key in the certificate's file when no key file is given, as PyAPNs).
    pub(crate) fn load_identity(&mut self) -> Result<Option<Identity>, Error> {
        Ok(Some(match (self.identity.take(), self.p12.take(), self.cert_file.take(), self.key_file.take()) {
            (Some(identity), ..) => identity,
            (None, Some((path, password)), ..) => Identity::from_pkcs12_file(path, password.expose())?,
            (None, None, Some(cert), Some(key)) => Identity::from_pem_files(cert, key)?,
            (None, None, Some(cert), None) => Identity::from_pem_file(cert)?,
            (None, None, None, Some(key)) => Identity::from_pem_file(key)?,
            (None, None, None, None) => return Ok(None),
        }))
    }

    /// A TLS configuration trusting the CAs given (or the public roots), without identity.
    pub(crate) fn tls(&self) -> Result<TlsConfig, Error> {
        let mut tls = TlsConfig::new();
        for path in &self.ca_files {
            tls = tls.ca_file(path)?;
        }
        for pem in &self.ca_pems {
            tls = tls.ca_pem(pem)?;
        }
        Ok(tls)
    }
}

/// The certificate setters both builders share (on a `certs: Certificates` field), so that
/// the two protocols take a certificate the same way.
macro_rules! certificate_setters {
    () => {
        /// The client certificate, PEM (PyAPNs' `cert_file`). Without
        /// [`key_file`](Self::key_file) the key is read from the same file, as PyAPNs does.
        pub fn cert_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
            self.certs.cert_file = Some(path.into());
            self
        }

        /// The client certificate's private key, PEM (PyAPNs' `key_file`): PKCS#8, PKCS#1 or
        /// SEC1, not encrypted.
        pub fn key_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
            self.certs.key_file = Some(path.into());
            self
        }

        /// The client certificate and key as a PKCS#12 (`.p12`) file, as exported by Keychain.
        /// The password is kept as a [`Password`](crate::Password), which `Debug` (of the
        /// builder too) never shows.
        pub fn p12_file(
            mut self,
            path: impl Into<std::path::PathBuf>,
            password: impl Into<crate::Password>,
        ) -> Self {
            self.certs.p12 = Some((path.into(), password.into()));
            self
        }

        /// A client identity already loaded (e.g. [`Identity::from_pem`](crate::Identity::from_pem)
        /// from memory).
        pub fn identity(mut self, identity: crate::Identity) -> Self {
            self.certs.identity = Some(identity);
            self
        }

        /// Trusts the CA certificates of this PEM file instead of the public roots (for a mock
        /// or a test PKI). May be called several times.
        pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
            self.certs.ca_files.push(path.into());
            self
        }

        /// Trusts the CA certificates of this PEM text instead of the public roots.
        pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
            self.certs.ca_pems.push(pem.into());
            self
        }
    };
}
pub(crate) use certificate_setters;

/// Parses `HOST:PORT` (an IPv6 host in brackets).
pub(crate) fn parse_address(address: &str) -> Result<Endpoint, Error> {
    let bad = |problem: AddressProblem| Error::Address { address: address.to_owned(), problem };
    if let Ok(addr) = address.parse::<SocketAddr>() {
        return Ok(Endpoint::new(addr.ip().to_string(), addr.port()));
    }
    let (host, port) = address.rsplit_once(':').ok_or_else(|| bad(AddressProblem::NotHostPort))?;
    let port = port.parse::<u16>().map_err(|_| bad(AddressProblem::InvalidPort))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad(AddressProblem::EmptyHost));
    }
    Ok(Endpoint::new(host, port))
}

/// With a server name, resolves the endpoint now and verifies `name` instead of its host.
pub(crate) fn rename(endpoint: Endpoint, name: Option<&str>) -> Result<Endpoint, Error> {
    let Some(name) = name else { return Ok(endpoint) };
    let address = endpoint.to_string();
    let resolved = (endpoint.host(), endpoint.port())
        .to_socket_addrs()
        .map_err(|e| Error::Address {
            address: address.clone(),
            problem: AddressProblem::Unresolved(e.kind()),
        })?
        .next()
        .ok_or(Error::Address { address, problem: AddressProblem::NoAddress })?;
    Ok(Endpoint::at(name, resolved))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        let endpoint = parse_address("127.0.0.1:2195").unwrap();
        assert_eq!((endpoint.host(), endpoint.port()), ("127.0.0.1", 2195));
        let endpoint = parse_address("gateway.example:1").unwrap();
        assert_eq!((endpoint.host(), endpoint.port()), ("gateway.example", 1));
        let endpoint = parse_address("[::1]:9").unwrap();
        assert_eq!((endpoint.host(), endpoint.port()), ("::1", 9));
        assert!(parse_address("nohost").is_err());
        assert!(parse_address("host:x").is_err());
        assert!(parse_address(":5").is_err());
    }
}
