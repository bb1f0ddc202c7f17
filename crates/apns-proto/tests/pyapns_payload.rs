//! Payloads are byte-identical to PyAPNs' (the `apns3==1.0.0` package) for every feature PyAPNs
//! has, checked by running PyAPNs itself on the same randomly generated payloads.
//!
//! Needs `APNS_PYTHON`, a Python with `apns3` installed; `cargo xtask ci` provides it. Without
//! it the test is skipped locally and fails under CI.
//!
//! One deliberate difference is not exercised: PyAPNs leaves out fields whose value is falsy (an
//! empty alert, sound or category string, an empty `loc-args` list), while this crate writes
//! every field that was set, as set.

use std::io::Write;
use std::process::{Command, Stdio};

use apns_proto::{Alert, Payload, PayloadLimit};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone)]
struct Case {
    alert: Option<Result<String, AlertFields>>,
    sound: Option<String>,
    badge: Option<u32>,
    category: Option<String>,
    content_available: bool,
    custom: Vec<(String, Value)>,
}

#[derive(Debug, Clone)]
struct AlertFields {
    body: Option<String>,
    action_loc_key: Option<String>,
    loc_key: Option<String>,
    loc_args: Option<Vec<String>>,
    launch_image: Option<String>,
}

/// Non-empty text with quotes, backslashes, controls, accents and emoji.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 \"\\\\\n\t\u{1}\u{7f}é漢👋\u{2028}]{1,24}"
}

fn custom_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        proptest::collection::vec(text(), 0..3).prop_map(|items| json!(items)),
        (text(), any::<u16>()).prop_map(|(key, value)| json!({ key: value })),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let alert_fields = (
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(proptest::collection::vec(text(), 1..3)),
        proptest::option::of(text()),
    )
        .prop_map(|(body, action_loc_key, loc_key, loc_args, launch_image)| AlertFields {
            body,
            action_loc_key,
            loc_key,
            loc_args,
            launch_image,
        });
    let alert = proptest::option::of(prop_oneof![text().prop_map(Ok), alert_fields.prop_map(Err)]);
    let custom = proptest::collection::vec(
        ("[a-z_]{1,8}".prop_filter("reserved", |k| k != "aps"), custom_value()),
        0..4,
    );
    (
        alert,
        proptest::option::of(text()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(text()),
        any::<bool>(),
        custom,
    )
        .prop_map(|(alert, sound, badge, category, content_available, custom)| {
            // Later duplicates replace earlier ones in place in both libraries.
            Case { alert, sound, badge, category, content_available, custom }
        })
}

impl Case {
    fn to_json(&self) -> Value {
        let mut object = Map::new();
        match &self.alert {
            Some(Ok(text)) => {
                object.insert("alert".into(), text.clone().into());
            }
            Some(Err(fields)) => {
                let mut alert = Map::new();
                let mut put = |key: &str, value: Option<Value>| {
                    if let Some(value) = value {
                        alert.insert(key.into(), value);
                    }
                };
                put("body", fields.body.clone().map(Value::from));
                put("action_loc_key", fields.action_loc_key.clone().map(Value::from));
                put("loc_key", fields.loc_key.clone().map(Value::from));
                put("loc_args", fields.loc_args.clone().map(|args| json!(args)));
                put("launch_image", fields.launch_image.clone().map(Value::from));
                object.insert("alert".into(), alert.into());
            }
            None => {}
        }
        if let Some(sound) = &self.sound {
            object.insert("sound".into(), sound.clone().into());
        }
        if let Some(badge) = self.badge {
            object.insert("badge".into(), badge.into());
        }
        if let Some(category) = &self.category {
            object.insert("category".into(), category.clone().into());
        }
        object.insert("content_available".into(), self.content_available.into());
        let custom: Map<String, Value> = self.custom.iter().cloned().collect();
        object.insert("custom".into(), custom.into());
        object.into()
    }

    fn to_payload(&self) -> Payload {
        let mut payload = Payload::new();
        match &self.alert {
            Some(Ok(text)) => payload = payload.alert(text.as_str()),
            Some(Err(fields)) => {
                let mut alert = Alert::new();
                if let Some(body) = &fields.body {
                    alert = alert.body(body.as_str());
                }
                if let Some(key) = &fields.action_loc_key {
                    alert = alert.action_loc_key(key.as_str());
                }
                if let Some(key) = &fields.loc_key {
                    alert = alert.loc_key(key.as_str());
                }
                if let Some(args) = &fields.loc_args {
                    alert = alert.loc_args(args.clone());
                }
                if let Some(image) = &fields.launch_image {
                    alert = alert.launch_image(image.as_str());
                }
                payload = payload.alert(alert);
            }
            None => {}
        }
        if let Some(sound) = &self.sound {
            payload = payload.sound(sound.as_str());
        }
        if let Some(badge) = self.badge {
            payload = payload.badge(badge);
        }
        if let Some(category) = &self.category {
            payload = payload.category(category.as_str());
        }
        payload = payload.content_available(self.content_available);
        for (key, value) in &self.custom {
            payload = payload.custom(key.as_str(), value).unwrap();
        }
        payload
    }
}

#[test]
fn payloads_are_byte_identical_to_pyapns() {
    let Some(python) = std::env::var_os("APNS_PYTHON") else {
        assert!(std::env::var_os("CI").is_none(), "CI must set APNS_PYTHON (cargo xtask ci does)");
        eprintln!("skipped: set APNS_PYTHON to a Python with apns3 installed (cargo xtask ci does)");
        return;
    };
    let mut runner = TestRunner::deterministic();
    let mut cases = vec![Case {
        alert: Some(Ok("Hello World!".into())),
        sound: Some("default".into()),
        badge: Some(1),
        category: None,
        content_available: false,
        custom: Vec::new(),
    }];
    for _ in 0..300 {
        cases.push(case().new_tree(&mut runner).unwrap().current());
    }
    let input = Value::Array(cases.iter().map(Case::to_json).collect()).to_string();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyapns_payload.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start APNS_PYTHON");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "PyAPNs driver failed");
    let lines: Vec<&str> = std::str::from_utf8(&output.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), cases.len());
    assert_eq!(
        lines[0],
        apns_proto::to_hex(br#"{"aps":{"alert":"Hello World!","sound":"default","badge":1}}"#)
    );
    for (case, pyapns_hex) in cases.iter().zip(lines) {
        let ours = case.to_payload().encode(PayloadLimit::BINARY).unwrap();
        assert_eq!(apns_proto::to_hex(ours.as_bytes()), pyapns_hex, "{case:?}");
    }
}
