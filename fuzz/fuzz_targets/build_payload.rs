//! Payload building from arbitrary fields: no panic; the size limit always holds; the JSON is
//! valid and keeps the body; shortening always fits when it succeeds and only shortens the body.
#![no_main]

use apns_proto::{Alert, Payload, PayloadError, PayloadLimit, Shorten};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    body: String,
    dictionary: bool,
    title: Option<String>,
    sound: Option<String>,
    badge: Option<u32>,
    category: Option<String>,
    custom: Vec<(String, String)>,
    limit: u16,
    ellipsis: bool,
}

fuzz_target!(|input: Input| {
    let mut payload = Payload::new().badge(input.badge.unwrap_or_default());
    payload = if input.dictionary {
        let mut alert = Alert::with_body(input.body.clone());
        if let Some(title) = input.title {
            alert = alert.title(title);
        }
        payload.alert(alert)
    } else {
        payload.alert(input.body.clone())
    };
    if let Some(sound) = input.sound {
        payload = payload.sound(sound);
    }
    if let Some(category) = input.category {
        payload = payload.category(category);
    }
    for (key, value) in input.custom {
        match payload.clone().custom(key.as_str(), value) {
            Ok(with_key) => payload = with_key,
            Err(PayloadError::ReservedKey) => assert_eq!(key, "aps"),
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    let limit = PayloadLimit::new(input.limit);
    let mut unlimited = Vec::new();
    payload.write_json(&mut unlimited).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&unlimited).unwrap();
    assert!(json.get("aps").is_some());
    match payload.encode(limit) {
        Ok(encoded) => assert!(encoded.len() <= limit.bytes() && encoded.as_bytes() == unlimited),
        Err(PayloadError::TooLarge { size, limit: reported }) => {
            assert_eq!((size, reported), (unlimited.len(), limit.bytes()));
        }
        Err(PayloadError::Empty) => unreachable!("JSON is never empty"),
        Err(other) => panic!("unexpected error {other}"),
    }
    let mark = if input.ellipsis { Shorten::WithEllipsis } else { Shorten::Plain };
    if let Ok(shortened) = payload.encode_shortened(limit, mark) {
        assert!(shortened.len() <= limit.bytes());
        let value: serde_json::Value = serde_json::from_slice(shortened.as_bytes()).unwrap();
        let body = value["aps"]["alert"].as_str().or(value["aps"]["alert"]["body"].as_str()).unwrap_or("");
        let kept = body.strip_suffix('\u{2026}').unwrap_or(body);
        assert!(input.body.starts_with(kept) || body == input.body);
    }
});
