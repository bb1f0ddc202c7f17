//! The HTTP/2 value types from any text (device tokens, ids, topics, collapse and channel ids,
//! push types): no panic; whatever is accepted makes a request whose every header value is a
//! valid HTTP/2 field value and reads back as given.
#![no_main]

use apns_proto::http2::{
    ApnsId, BundleId, ChannelId, CollapseId, DeviceNotification, HexDeviceToken, PushType, RetryAfter, Topic,
};
use apns_proto::{EncodedPayload, PayloadLimit};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    token: &'a str,
    push_type: &'a str,
    topic: &'a str,
    collapse: &'a str,
    id: &'a str,
    bundle: &'a str,
    channel: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    let _ = ChannelId::new(input.channel);
    let _ = RetryAfter::parse(input.channel.as_bytes());
    if let Ok(id) = input.id.parse::<ApnsId>() {
        assert!(id.to_string().eq_ignore_ascii_case(input.id));
    }
    if let Ok(bundle) = BundleId::new(input.bundle) {
        for push_type in PushType::KNOWN {
            let topic = bundle.topic_for(&push_type).unwrap();
            assert_eq!(topic.as_str(), format!("{bundle}{}", push_type.topic_suffix().unwrap()));
        }
    }
    let (Ok(token), Ok(push_type)) = (input.token.parse::<HexDeviceToken>(), PushType::new(input.push_type)) else {
        return;
    };
    assert_eq!(HexDeviceToken::from_bytes(&token.to_bytes()).unwrap(), token);
    let payload = EncodedPayload::new(&b"{}"[..], PayloadLimit::HTTP2).unwrap();
    let mut builder = DeviceNotification::builder(token, push_type, payload);
    let topic = Topic::new(input.topic).ok();
    let collapse = CollapseId::new(input.collapse).ok();
    if let Some(topic) = &topic {
        builder = builder.topic(topic.clone());
    }
    if let Some(collapse) = &collapse {
        builder = builder.collapse_id(collapse.clone());
    }
    let authority = apns_h2::HeaderValue::from_static("api.push.apple.com");
    let request = builder.build().unwrap().request(&authority, None);
    for (field, _) in request.headers() {
        let value = field.value.as_bytes();
        assert!(!value.is_empty());
        assert!(value.iter().all(|&b| b == b' ' || b.is_ascii_graphic()), "{field:?}");
    }
    assert!(request.path().as_bytes().iter().all(u8::is_ascii_graphic));
    let header = |name: &str| request.header_value(name).map(apns_h2::HeaderValue::as_bytes);
    assert_eq!(header("apns-topic"), topic.as_ref().map(|t| t.as_str().as_bytes()));
    assert_eq!(header("apns-collapse-id"), collapse.as_ref().map(|c| c.as_str().as_bytes()));
});
