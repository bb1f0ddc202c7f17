//! Topics of a push certificate from any DER: no panic; every topic read is a valid topic, and
//! the default topic and per-type topics are among those the certificate allows.
#![no_main]

use apns_auth::CertificateTopics;
use apns_proto::http2::PushType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(topics) = CertificateTopics::from_der(data) {
        for push_type in PushType::KNOWN {
            if let Some(topic) = topics.topic_for(&push_type) {
                assert!(topics.allows(&topic));
            }
        }
        let _ = topics.default_topic();
    }
});
