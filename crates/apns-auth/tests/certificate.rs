//! Topics read from certificates built the way Apple's push certificates are: the bundle id in
//! the subject's UID, the environments in `1.2.840.113635.100.6.3.1`/`.2`, and the topic list in
//! `1.2.840.113635.100.6.3.6`.

use apns_auth::CertificateTopics;
use apns_proto::http2::{PushType, Topic};
use rcgen::{CertificateParams, CustomExtension, DnType, KeyPair};

const UID: [u64; 7] = [0, 9, 2342, 19_200_300, 100, 1, 1];
const DEVELOPMENT: [u64; 8] = [1, 2, 840, 113_635, 100, 6, 3, 1];
const PRODUCTION: [u64; 8] = [1, 2, 840, 113_635, 100, 6, 3, 2];
const TOPICS: [u64; 8] = [1, 2, 840, 113_635, 100, 6, 3, 6];

fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if contents.len() < 0x80 {
        out.push(contents.len() as u8);
    } else {
        out.extend([0x81, contents.len() as u8]);
    }
    out.extend_from_slice(contents);
    out
}

fn topic_list(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut items = Vec::new();
    for (topic, service) in entries {
        items.extend(tlv(0x0c, topic.as_bytes()));
        items.extend(tlv(0x30, &tlv(0x0c, service.as_bytes())));
    }
    tlv(0x30, &items)
}

fn certificate(uid: Option<&str>, extensions: Vec<CustomExtension>) -> Vec<u8> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, "Apple Push Services: com.example.app");
    if let Some(uid) = uid {
        params.distinguished_name.push(DnType::CustomDnType(UID.to_vec()), uid);
    }
    params.custom_extensions = extensions;
    let key = KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

#[test]
fn universal_certificate_lists_its_topics() {
    let list = topic_list(&[
        ("com.example.app", "app"),
        ("com.example.app.voip", "voip"),
        ("com.example.app.complication", "complication"),
    ]);
    // Apple writes the environment extensions with an ASN.1 NULL value.
    let der = certificate(
        Some("com.example.app"),
        vec![
            CustomExtension::from_oid_content(&DEVELOPMENT, vec![5, 0]),
            CustomExtension::from_oid_content(&PRODUCTION, vec![5, 0]),
            CustomExtension::from_oid_content(&TOPICS, list),
        ],
    );
    let topics = CertificateTopics::from_der(&der).unwrap();
    assert_eq!(topics.uid.as_deref(), Some("com.example.app"));
    assert!(topics.development && topics.production);
    assert_eq!(topics.topics.len(), 3);
    assert_eq!(topics.topics[1].services, ["voip"]);
    assert_eq!(topics.default_topic(), Some(Topic::new("com.example.app").unwrap()));
    assert_eq!(topics.topic_for(&PushType::VOIP).unwrap().as_str(), "com.example.app.voip");
    assert_eq!(topics.topic_for(&PushType::COMPLICATION).unwrap().as_str(), "com.example.app.complication");
    assert_eq!(topics.topic_for(&PushType::ALERT).unwrap().as_str(), "com.example.app");
    assert_eq!(topics.topic_for(&PushType::LIVE_ACTIVITY), None, "not in the list");
    assert!(!topics.allows(&Topic::new("com.other.app").unwrap()));
}

#[test]
fn single_topic_sandbox_certificate_has_only_its_uid() {
    let der = certificate(
        Some("com.example.old"),
        vec![CustomExtension::from_oid_content(&DEVELOPMENT, vec![5, 0])],
    );
    let topics = CertificateTopics::from_der(&der).unwrap();
    assert!(topics.development && !topics.production);
    assert!(topics.topics.is_empty());
    assert_eq!(topics.default_topic(), Some(Topic::new("com.example.old").unwrap()));
    assert!(topics.allows(&Topic::new("com.example.old").unwrap()));
    assert_eq!(topics.topic_for(&PushType::ALERT).unwrap().as_str(), "com.example.old");
    assert_eq!(topics.topic_for(&PushType::VOIP), None);
}

#[test]
fn a_certificate_that_is_not_apples() {
    let topics = CertificateTopics::from_der(&certificate(None, Vec::new())).unwrap();
    assert_eq!(topics, CertificateTopics::default());
    assert_eq!(topics.default_topic(), None);
    let broken = certificate(
        None,
        vec![CustomExtension::from_oid_content(&TOPICS, vec![0x30, 0x03, 0x02, 0x01, 0x00])],
    );
    assert!(CertificateTopics::from_der(&broken).is_err());
}

#[test]
fn without_a_uid_the_app_topic_is_the_bundle_id() {
    let list = topic_list(&[("com.example.voip", "app"), ("com.example.voip.voip", "voip")]);
    let der = certificate(None, vec![CustomExtension::from_oid_content(&TOPICS, list)]);
    let topics = CertificateTopics::from_der(&der).unwrap();
    // A bundle id that itself ends in ".voip" keeps it.
    assert_eq!(topics.bundle_id().unwrap().as_str(), "com.example.voip");
    assert_eq!(topics.topic_for(&PushType::VOIP).unwrap().as_str(), "com.example.voip.voip");
    assert_eq!(topics.default_topic().unwrap().as_str(), "com.example.voip");
}
