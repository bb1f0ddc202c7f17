//! `apns send` over Apple's HTTP/2 provider API (the default): the flags and the `--file`
//! lines parsed once into checked types ([`Http2Send`], [`Http2Line`]).

use apns_proto::http2::{
    ApnsId, BundleId, ChannelId, CollapseId, DeviceNotification, HexDeviceToken, PushType, Topic,
};
use apns_proto::{EncodedPayload, Expiry, Priority};
use serde_json::{Map, Value};

use super::{take_number, take_payload, Args};
use crate::cmd::CliError;

/// What the flags of an HTTP/2 `apns send` say, checked.
#[derive(Debug)]
pub(crate) struct Http2Send {
    /// The defaults of every notification (a `--file` line may override them).
    pub(crate) defaults: Defaults,
    pub(crate) connections: usize,
    /// A broadcast on this channel instead of device notifications (`--channel`).
    pub(crate) channel: Option<ChannelId>,
}

/// The per-notification settings from the flags.
#[derive(Debug, Clone, Default)]
pub(crate) struct Defaults {
    pub(crate) topic: Option<String>,
    pub(crate) push_type: Option<PushType>,
    pub(crate) priority: Option<Priority>,
    pub(crate) expiration: Option<Expiry>,
    pub(crate) collapse_id: Option<CollapseId>,
    pub(crate) apns_id: Option<ApnsId>,
}

/// One notification to send, with the number the summary reports it by (`id`).
#[derive(Debug, Clone)]
pub(crate) struct Http2Line {
    pub(crate) id: u32,
    pub(crate) notification: DeviceNotification,
}

fn config(flag: &str, why: impl std::fmt::Display) -> CliError {
    CliError::Config(format!("--{flag}: {why}"))
}

impl Http2Send {
    /// Checks the flags of an HTTP/2 send.
    pub(crate) fn from_args(args: &Args) -> Result<Self, CliError> {
        let token_auth = args.connect.token_key.key_file.is_some();
        let push_type = match &args.push_type {
            Some(name) => Some(PushType::new(name).map_err(|e| config("push-type", e))?),
            None => None,
        };
        let defaults = Defaults {
            topic: args.topic.clone(),
            push_type,
            priority: args.priority.map(priority).transpose().map_err(|e| config("priority", e))?,
            expiration: args.expiration.map(expiry).transpose().map_err(|e| config("expiration", e))?,
            collapse_id: match &args.collapse_id {
                Some(id) => Some(CollapseId::new(id).map_err(|e| config("collapse-id", e))?),
                None => None,
            },
            apns_id: match &args.apns_id {
                Some(id) => Some(id.parse::<ApnsId>().map_err(|e| config("apns-id", e))?),
                None => None,
            },
        };
        if token_auth && defaults.topic.is_none() && args.file.is_none() {
            return Err(CliError::Config(
                "--topic (your app's bundle id) is required with token auth".into(),
            ));
        }
        let channel = match &args.channel {
            Some(id) => Some(id.parse::<ChannelId>().map_err(|e| config("channel", e))?),
            None => None,
        };
        if channel.is_some() && defaults.topic.is_none() {
            return Err(CliError::Config("--channel needs --topic (the app's bundle id)".into()));
        }
        // The facade's default (2) unless given.
        let connections = args.connections.unwrap_or(2);
        if connections == 0 {
            return Err(CliError::Config("--connections must be at least 1".into()));
        }
        Ok(Self { defaults, connections, channel })
    }

    /// The bundle id of `--topic`, for a broadcast (`--channel`).
    pub(crate) fn bundle_id(&self) -> Result<BundleId, CliError> {
        let topic = self.defaults.topic.as_deref().unwrap_or_default();
        BundleId::new(topic).map_err(|e| config("topic", e))
    }
}

/// The priority from its number: 10, 5 or 1.
pub(crate) fn priority(number: u8) -> Result<Priority, String> {
    match number {
        10 => Ok(Priority::Immediate),
        5 => Ok(Priority::PowerConsiderate),
        1 => Ok(Priority::Low),
        other => Err(format!("the priority is 10, 5 or 1, not {other}")),
    }
}

fn expiry(unix: u64) -> Result<Expiry, String> {
    u32::try_from(unix)
        .map(Expiry::from_unix_seconds)
        .map_err(|_| format!("{unix} is past 2106 (UNIX seconds in 32 bits)"))
}

/// A topic for `push_type`: the one given (a bundle id gets the type's suffix, `.voip` for
/// VoIP...), else none (a certificate's own is used).
fn topic(given: Option<&str>, push_type: &PushType) -> Result<Option<Topic>, String> {
    let Some(given) = given else { return Ok(None) };
    let suffix = push_type.topic_suffix().unwrap_or_default();
    let text = if given.ends_with(suffix) { given.to_owned() } else { format!("{given}{suffix}") };
    Topic::new(&text).map(Some).map_err(|e| format!("topic {text:?}: {e}"))
}

/// The notification to one token with `defaults` and `payload`.
pub(crate) fn device(
    token: HexDeviceToken,
    payload: EncodedPayload,
    defaults: &Defaults,
) -> Result<DeviceNotification, String> {
    let push_type = defaults.push_type.clone().unwrap_or(PushType::ALERT);
    let mut builder = DeviceNotification::builder(token, push_type.clone(), payload);
    if let Some(topic) = topic(defaults.topic.as_deref(), &push_type)? {
        builder = builder.topic(topic);
    }
    if let Some(priority) = defaults.priority {
        builder = builder.priority(priority);
    }
    if let Some(expiration) = defaults.expiration {
        builder = builder.expiration(expiration);
    }
    if let Some(id) = &defaults.collapse_id {
        builder = builder.collapse_id(id.clone());
    }
    if let Some(id) = defaults.apns_id {
        builder = builder.id(id);
    }
    builder.build().map_err(|e| e.to_string())
}

/// One line of `--file` for HTTP/2: the binary fields (`token`, `id`, `priority` 10|5|1,
/// `expiry`), `topic`, `push_type`, `expiration`, `collapse_id`, `apns_id`, and either
/// `payload` or builder fields. The flags give the defaults.
pub(crate) fn parse_line(line: &str, defaults: &Defaults) -> Result<Http2Line, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(mut object) = value else { return Err("not a JSON object".into()) };
    let token = match object.remove("token") {
        Some(Value::String(token)) => token.parse::<HexDeviceToken>().map_err(|e| e.to_string())?,
        Some(_) => return Err("\"token\" must be a string of hex digits".into()),
        None => return Err("missing \"token\"".into()),
    };
    let id = take_number(&mut object, "id")?.unwrap_or(0);
    let mut line = defaults.clone();
    let text = |object: &mut Map<String, Value>, key: &str| match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("\"{key}\" must be a string")),
    };
    if let Some(topic) = text(&mut object, "topic")? {
        line.topic = Some(topic);
    }
    if let Some(name) = text(&mut object, "push_type")? {
        line.push_type = Some(PushType::new(&name).map_err(|e| format!("\"push_type\": {e}"))?);
    }
    if let Some(number) = take_number(&mut object, "priority")? {
        let number = u8::try_from(number).unwrap_or(0);
        line.priority = Some(priority(number).map_err(|e| format!("\"priority\": {e}"))?);
    }
    for key in ["expiration", "expiry"] {
        if let Some(unix) = take_number(&mut object, key)? {
            line.expiration = Some(Expiry::from_unix_seconds(unix));
        }
    }
    if let Some(id) = text(&mut object, "collapse_id")? {
        line.collapse_id = Some(CollapseId::new(&id).map_err(|e| format!("\"collapse_id\": {e}"))?);
    }
    if let Some(id) = text(&mut object, "apns_id")? {
        line.apns_id = Some(id.parse::<ApnsId>().map_err(|e| format!("\"apns_id\": {e}"))?);
    }
    let limit = line.push_type.as_ref().unwrap_or(&PushType::ALERT).payload_limit();
    let payload = take_payload(object, limit)?;
    Ok(Http2Line { id, notification: device(token, payload, &line)? })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn flags(extra: &[&str]) -> Result<Http2Send, String> {
        let cli = Cli::try_parse_from(["apns"].iter().chain(extra)).map_err(|e| e.to_string())?;
        Http2Send::from_args(&cli.args).map_err(|e| e.to_string())
    }

    #[test]
    fn flags_become_checked_types() {
        let dir = std::env::temp_dir().join(format!("apns-cli-flags-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = apns_mock::certs::ProviderKey::generate().unwrap();
        let p8 = dir.join("AuthKey.p8");
        std::fs::write(&p8, &key.private_key_pem).unwrap();
        let p8 = p8.to_str().unwrap();
        let token = ["--key-file", p8, "--key-id", &key.key_id, "--team-id", &key.team_id];
        let send =
            flags(&[&token[..], &["--token", TOKEN, "--topic", "com.example.app", "--sandbox"]].concat())
                .unwrap();
        assert_eq!(send.defaults.topic.as_deref(), Some("com.example.app"));
        let send = flags(
            &[
                &token[..],
                &[
                    "--token",
                    TOKEN,
                    "--topic",
                    "com.example.app",
                    "--gateway",
                    "127.0.0.1:1",
                    "--priority",
                    "1",
                ],
                &[
                    "--expiration",
                    "7",
                    "--collapse-id",
                    "c",
                    "--apns-id",
                    "123e4567-e89b-12d3-a456-426655440000",
                ],
                &["--push-type", "background", "--connections", "3"],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!((send.defaults.priority, send.connections), (Some(Priority::Low), 3));
        assert_eq!(send.defaults.push_type, Some(PushType::BACKGROUND));
        let broadcast = flags(
            &[&token[..], &["--channel", "dHN0LXNyY2gtY2hubA==", "--topic", "com.example.app"]].concat(),
        );
        assert_eq!(
            broadcast.unwrap().channel.map(|c| c.as_str().to_owned()).as_deref(),
            Some("dHN0LXNyY2gtY2hubA==")
        );
        // What is wrong says so.
        let error = |extra: &[&str]| flags(extra).unwrap_err();
        let builder = |extra: &[&str]| {
            let cli = Cli::try_parse_from(["apns"].iter().chain(extra)).unwrap();
            let args = cli.args;
            args.connect.h2_builder().map(drop).unwrap_err().to_string()
        };
        assert!(builder(&["--token", TOKEN]).contains("no credentials"));
        assert!(builder(&["--token", TOKEN, "--key-file", "/no/such.p8", "--key-id", "A", "--team-id", "B"])
            .contains("--key-file"));
        assert!(builder(
            &[&token[..2], &["--key-id", "short", "--team-id", &key.team_id, "--token", TOKEN]].concat()
        )
        .contains("--key-id"));
        let good = Cli::try_parse_from(["apns", "--token", TOKEN].iter().chain(&token)).unwrap().args;
        let debug = format!("{:?}", good.connect.h2_builder().unwrap());
        assert!(!debug.contains("PRIVATE KEY"), "the key never shows: {debug}");
        assert!(error(&[&token[..], &["--token", TOKEN]].concat()).contains("--topic"));
        assert!(error(&[&token[..], &["--token", TOKEN, "--priority", "7"]].concat()).contains("10"));
        assert!(error(&[&token[..], &["--token", TOKEN, "--topic", "a", "--apns-id", "x"]].concat())
            .contains("--apns-id"));
        assert!(error(&[&token[..], &["--token", TOKEN, "--topic", "a", "--connections", "0"]].concat())
            .contains("at least 1"));
        assert!(error(&[&token[..], &["--channel", "!!", "--topic", "a"]].concat()).contains("--channel"));
        assert!(error(&["--binary", "--channel", "AAAA", "--cert", "c.pem"]).contains("--channel"));
        let binary = Cli::try_parse_from(["apns", "--binary", "--token", TOKEN, "--key-file", p8]).unwrap();
        assert!(crate::cmd::send::run(binary.args).unwrap_err().to_string().contains("--key-file"));
        assert!(error(&["--key-id", "A", "--token", TOKEN]).contains("--key-file"));
        assert!(error(&["--production", "--sandbox", "--token", TOKEN]).contains("--sandbox"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    const TOKEN: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b87b5bb9d80";

    #[test]
    fn lines_take_the_http2_fields_over_the_defaults() {
        let defaults = Defaults { topic: Some("com.example.app".into()), ..Defaults::default() };
        let line = format!(
            r#"{{"token":"{TOKEN}","id":3,"push_type":"voip","priority":1,"expiration":5,"collapse_id":"c","apns_id":"123e4567-e89b-12d3-a456-426655440000","alert":"hi"}}"#
        );
        let parsed = parse_line(&line, &defaults).unwrap();
        let n = &parsed.notification;
        assert_eq!(parsed.id, 3);
        assert_eq!(n.topic().map(Topic::as_str), Some("com.example.app.voip"));
        assert_eq!(n.push_type(), &PushType::VOIP);
        assert_eq!(n.priority(), Some(Priority::Low));
        assert_eq!(n.expiration(), Some(Expiry::from_unix_seconds(5)));
        assert_eq!(n.collapse_id().map(CollapseId::as_str), Some("c"));
        assert_eq!(n.id().map(|id| id.to_string()).as_deref(), Some("123e4567-e89b-12d3-a456-426655440000"));
        let plain = parse_line(&format!(r#"{{"token":"{TOKEN}","alert":"hi"}}"#), &defaults).unwrap();
        assert_eq!(plain.notification.topic().map(Topic::as_str), Some("com.example.app"));
        assert_eq!(plain.notification.push_type(), &PushType::ALERT);
    }

    #[test]
    fn bad_lines_say_why() {
        let defaults = Defaults::default();
        let error = |line: String| parse_line(&line, &defaults).unwrap_err();
        assert!(error(format!(r#"{{"token":"{TOKEN}","priority":7}}"#)).contains("10, 5 or 1"));
        assert!(error(format!(r#"{{"token":"{TOKEN}","apns_id":"x"}}"#)).contains("apns_id"));
        assert!(error(format!(r#"{{"token":"{TOKEN}","collapse_id":"{}"}}"#, "c".repeat(65)))
            .contains("collapse_id"));
        assert!(error(format!(r#"{{"token":"{TOKEN}","push_type":"background","priority":10}}"#))
            .contains("priority 5"));
        assert!(error(format!(r#"{{"token":"{TOKEN}","topic":7}}"#)).contains("must be a string"));
        assert!(error(r#"{"token":"zz"}"#.into()).contains("hex"));
        let big = "x".repeat(4100);
        assert!(error(format!(r#"{{"token":"{TOKEN}","alert":"{big}"}}"#)).contains("over the limit"));
    }
}
