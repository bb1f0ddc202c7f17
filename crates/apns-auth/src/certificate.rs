//! What an Apple push certificate allows: its topics and environments.

use apns_proto::http2::{BundleId, PushType, Topic};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::der;

/// `1.2.840.113635.100.6.3.1`: the certificate may push to the development (sandbox)
/// environment.
const OID_DEVELOPMENT: &str = "1.2.840.113635.100.6.3.1";
/// `1.2.840.113635.100.6.3.2`: the certificate may push to production.
const OID_PRODUCTION: &str = "1.2.840.113635.100.6.3.2";
/// `1.2.840.113635.100.6.3.6`: the topics the certificate may push to, each with its services.
const OID_TOPICS: &str = "1.2.840.113635.100.6.3.6";
/// The subject's UID attribute (`0.9.2342.19200300.100.1.1`): the bundle id (or MDM topic).
const OID_UID: &str = "0.9.2342.19200300.100.1.1";

/// Tags of the string types a topic may be written in (UTF8String, PrintableString, IA5String).
const STRING_TAGS: [u8; 3] = [0x0c, 0x13, 0x16];

/// One topic a certificate allows, with the services Apple lists for it (`app`, `voip`,
/// `complication`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedTopic {
    /// The topic.
    pub topic: Topic,
    /// The services, as Apple names them.
    pub services: Vec<String>,
}

/// What an Apple push certificate allows, read from its extensions and subject.
///
/// A universal certificate ("Apple Push Notification service SSL (Sandbox & Production)")
/// names both environments and lists its topics in extension `1.2.840.113635.100.6.3.6` — the
/// bundle id and, when enabled, `<bundle id>.voip` and `<bundle id>.complication`. Older
/// single-topic certificates have no topic list: the subject's UID is their only topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertificateTopics {
    /// The subject's UID: the app's bundle id (for an MDM certificate, its topic).
    pub uid: Option<String>,
    /// The topic list, in the certificate's order (empty when the extension is absent).
    pub topics: Vec<AllowedTopic>,
    /// The certificate may push to the sandbox.
    pub development: bool,
    /// The certificate may push to production.
    pub production: bool,
}

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// Not a DER X.509 certificate.
    #[error("not a DER X.509 certificate")]
    NotACertificate,
    /// The topic extension is present but not the structure Apple writes.
    #[error("the certificate's topic extension (1.2.840.113635.100.6.3.6) is malformed")]
    MalformedTopics,
}

impl CertificateTopics {
    /// Reads a DER certificate (the leaf of the chain the TLS identity presents).
    pub fn from_der(certificate: &[u8]) -> Result<Self, CertificateError> {
        let (_, parsed) =
            X509Certificate::from_der(certificate).map_err(|_| CertificateError::NotACertificate)?;
        let mut found = Self {
            uid: parsed
                .subject()
                .iter_attributes()
                .find(|attribute| attribute.attr_type().to_id_string() == OID_UID)
                .and_then(|attribute| attribute.as_str().ok())
                .map(str::to_owned),
            ..Self::default()
        };
        for extension in parsed.extensions() {
            match extension.oid.to_id_string().as_str() {
                OID_DEVELOPMENT => found.development = true,
                OID_PRODUCTION => found.production = true,
                OID_TOPICS => found.topics = parse_topics(extension.value)?,
                _ => {}
            }
        }
        Ok(found)
    }

    /// The topic to send with when the caller names none: the UID (Apple's own default for a
    /// certificate connection), else the first listed topic.
    pub fn default_topic(&self) -> Option<Topic> {
        self.uid
            .as_deref()
            .and_then(|uid| Topic::new(uid).ok())
            .or_else(|| self.topics.first().map(|allowed| allowed.topic.clone()))
    }

    /// Whether the certificate allows `topic`: listed, or (without a list) the UID.
    pub fn allows(&self, topic: &Topic) -> bool {
        if self.topics.is_empty() {
            return self.uid.as_deref() == Some(topic.as_str());
        }
        self.topics.iter().any(|allowed| allowed.topic == *topic)
    }

    /// The app's bundle id: the UID, else the listed topic whose service is `app`.
    pub fn bundle_id(&self) -> Option<BundleId> {
        let listed_app = || {
            self.topics
                .iter()
                .find(|allowed| allowed.services.iter().any(|service| service == "app"))
                .map(|allowed| allowed.topic.as_str())
        };
        BundleId::new(self.uid.as_deref().or_else(listed_app)?).ok()
    }

    /// The topic for `push_type` if the certificate allows it: the bundle id with the push
    /// type's suffix (`com.example.app.voip` for VoIP).
    pub fn topic_for(&self, push_type: &PushType) -> Option<Topic> {
        let topic = self.bundle_id()?.topic_for(push_type)?;
        self.allows(&topic).then_some(topic)
    }
}

/// Apple's topic list: `SEQUENCE { (topic STRING, SEQUENCE OF service STRING)* }`.
fn parse_topics(value: &[u8]) -> Result<Vec<AllowedTopic>, CertificateError> {
    let (mut items, _) = der::expect(value, der::SEQUENCE).ok_or(CertificateError::MalformedTopics)?;
    let mut topics = Vec::new();
    while !items.is_empty() {
        let (tag, text, rest) = der::read(items).ok_or(CertificateError::MalformedTopics)?;
        if !STRING_TAGS.contains(&tag) {
            return Err(CertificateError::MalformedTopics);
        }
        let topic = std::str::from_utf8(text)
            .ok()
            .and_then(|text| Topic::new(text).ok())
            .ok_or(CertificateError::MalformedTopics)?;
        let mut services = Vec::new();
        items = rest;
        if let Some((der::SEQUENCE, mut list, rest)) = der::read(items) {
            while let Some((tag, service, after)) = der::read(list) {
                if STRING_TAGS.contains(&tag) {
                    services.push(String::from_utf8_lossy(service).into_owned());
                }
                list = after;
            }
            items = rest;
        }
        topics.push(AllowedTopic { topic, services });
    }
    Ok(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::der::write;

    fn utf8(text: &str) -> Vec<u8> {
        write(0x0c, text.as_bytes())
    }

    /// The topic extension as Apple writes it (this layout is that of a real certificate's
    /// extension; the names are ours).
    pub(crate) fn topics_extension(bundle: &str) -> Vec<u8> {
        let mut items = utf8(bundle);
        items.extend(write(der::SEQUENCE, &utf8("app")));
        items.extend(utf8(&format!("{bundle}.voip")));
        items.extend(write(der::SEQUENCE, &utf8("voip")));
        items.extend(utf8(&format!("{bundle}.complication")));
        items.extend(write(der::SEQUENCE, &utf8("complication")));
        write(der::SEQUENCE, &items)
    }

    #[test]
    fn apples_topic_list() {
        let topics = parse_topics(&topics_extension("com.example.Mangrove")).unwrap();
        let names: Vec<(&str, Vec<&str>)> = topics
            .iter()
            .map(|t| (t.topic.as_str(), t.services.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            names,
            [
                ("com.example.Mangrove", vec!["app"]),
                ("com.example.Mangrove.voip", vec!["voip"]),
                ("com.example.Mangrove.complication", vec!["complication"]),
            ]
        );
        assert_eq!(parse_topics(&[0x30, 0x02, 0x05, 0x00]), Err(CertificateError::MalformedTopics));
        assert_eq!(parse_topics(b""), Err(CertificateError::MalformedTopics));
        assert_eq!(CertificateTopics::from_der(b"nope"), Err(CertificateError::NotACertificate));
    }
}
