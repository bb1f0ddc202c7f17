//! What Apple answered: status, identifiers, the error body, `retry-after`, GOAWAY data.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::header;
use super::id::ApnsId;
use super::reason::{classify_status, Classification, Reason};
use super::values::ChannelId;

/// The most body bytes parsed as an error body or GOAWAY data. Apple's are tens of bytes; more
/// is not Apple's, and is not parsed.
pub const MAX_ERROR_BODY: usize = 4096;

/// A response from APNs, parsed from what the HTTP/2 layer received.
///
/// Parsing never fails and never panics: a header that is malformed is left out (its field is
/// `None`), a body that is not Apple's JSON leaves [`Response::error`] empty and says why in
/// [`Response::body_problem`]. The classification then rests on the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// `:status`.
    pub status: u16,
    /// `apns-id`: Apple echoes the request's, or the one it made.
    pub apns_id: Option<ApnsId>,
    /// `apns-unique-id`: the sandbox's id for the delivery log.
    pub apns_unique_id: Option<ApnsId>,
    /// `apns-request-id` (broadcast and channel requests).
    pub request_id: Option<ApnsId>,
    /// `apns-channel-id` (the answer to creating a channel).
    pub channel_id: Option<ChannelId>,
    /// `retry-after`, if the server sent one.
    pub retry_after: Option<RetryAfter>,
    /// The error body (`reason`, and `timestamp` with 410), for a status other than 2xx.
    pub error: Option<ErrorBody>,
    /// Why an error response's body could not be read, if it could not.
    pub body_problem: Option<BodyError>,
}

impl Response {
    /// Parses a response: the `:status`, the other header fields (name, value; names compared
    /// without regard to case), and the body (ignored for 2xx, whose bodies are the channel
    /// replies read by [`ChannelConfig::parse`] and [`parse_channel_list`]).
    pub fn parse<'a>(
        status: u16,
        headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        body: &[u8],
    ) -> Self {
        let mut response = Self {
            status,
            apns_id: None,
            apns_unique_id: None,
            request_id: None,
            channel_id: None,
            retry_after: None,
            error: None,
            body_problem: None,
        };
        for (name, value) in headers {
            let is = |expected: &str| name.eq_ignore_ascii_case(expected.as_bytes());
            // The first of a repeated header wins.
            if is(header::APNS_ID) {
                response.apns_id = response.apns_id.or_else(|| ApnsId::parse(value).ok());
            } else if is(header::APNS_UNIQUE_ID) {
                response.apns_unique_id = response.apns_unique_id.or_else(|| ApnsId::parse(value).ok());
            } else if is(header::APNS_REQUEST_ID) {
                response.request_id = response.request_id.or_else(|| ApnsId::parse(value).ok());
            } else if is(header::APNS_CHANNEL_ID) {
                if response.channel_id.is_none() {
                    response.channel_id = ChannelId::from_bytes(value).ok();
                }
            } else if is(header::RETRY_AFTER) && response.retry_after.is_none() {
                response.retry_after = RetryAfter::parse(value);
            }
        }
        if !(200..300).contains(&status) {
            match ErrorBody::parse(body) {
                Ok(error) => response.error = Some(error),
                Err(problem) => response.body_problem = Some(problem),
            }
        }
        response
    }

    /// The error reason, if the body had one.
    pub fn reason(&self) -> Option<&Reason> {
        self.error.as_ref().map(|error| &error.reason)
    }

    /// What to do: 2xx is accepted whatever else came; otherwise a documented reason decides,
    /// and without one the status does (403 misconfigured; 429 and 5xx retry later; other
    /// statuses rejected).
    pub fn classification(&self) -> Classification {
        if (200..300).contains(&self.status) {
            return Classification::Accepted;
        }
        self.reason().and_then(Reason::classification).unwrap_or_else(|| classify_status(self.status))
    }

    /// For 410: when Apple found the device token no longer valid for the topic.
    pub fn token_invalid_since(&self) -> Option<SystemTime> {
        if self.status != 410 {
            return None;
        }
        self.error.as_ref().and_then(ErrorBody::timestamp)
    }
}

/// The JSON body of an error response: `{"reason": "...", "timestamp": <ms>}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// Why.
    pub reason: Reason,
    /// Milliseconds since the UNIX epoch (with 410 only): when the token stopped being valid.
    pub timestamp_ms: Option<u64>,
}

#[derive(Deserialize)]
struct RawErrorBody<'a> {
    #[serde(borrow)]
    reason: Option<Cow<'a, str>>,
    timestamp: Option<serde_json::Value>,
}

impl ErrorBody {
    /// Parses an error body (at most [`MAX_ERROR_BODY`] bytes; other keys are ignored). A
    /// `timestamp` that is neither a non-negative integer nor a string of one is ignored.
    pub fn parse(body: &[u8]) -> Result<Self, BodyError> {
        let raw = parse_reason_json(body)?;
        let timestamp_ms = raw.timestamp.and_then(|value| match value {
            serde_json::Value::Number(number) => number.as_u64(),
            serde_json::Value::String(text) => text.parse().ok(),
            _ => None,
        });
        let reason = reason_from(raw.reason)?;
        Ok(Self { reason, timestamp_ms })
    }

    /// The timestamp as a time.
    pub fn timestamp(&self) -> Option<SystemTime> {
        self.timestamp_ms.and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
    }
}

fn parse_reason_json(body: &[u8]) -> Result<RawErrorBody<'_>, BodyError> {
    if body.is_empty() {
        return Err(BodyError::Empty);
    }
    if body.len() > MAX_ERROR_BODY {
        return Err(BodyError::TooLarge { len: body.len() });
    }
    from_json_object(body)
}

/// Deserialises a JSON *object* only: serde's derived structs would also take an array of the
/// fields in order (`["Shutdown", 0]`), which is not what Apple sends.
fn from_json_object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, BodyError> {
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(BodyError::NotJson);
    }
    serde_json::from_slice(body).map_err(|_| BodyError::NotJson)
}

fn reason_from(reason: Option<Cow<'_, str>>) -> Result<Reason, BodyError> {
    match reason {
        None => Err(BodyError::NoReason),
        Some(text) if text.is_empty() => Err(BodyError::NoReason),
        Some(text) if text.len() > Reason::MAX_LEN => Err(BodyError::ReasonTooLong { len: text.len() }),
        Some(text) => Ok(Reason::new(&text)),
    }
}

/// The reason in a GOAWAY frame's debug data, when APNs put its JSON there
/// (`{"reason":"Shutdown"}`). `None` for empty, non-JSON or reason-less data: GOAWAY debug data
/// is free-form.
pub fn goaway_reason(debug_data: &[u8]) -> Option<Reason> {
    parse_reason_json(debug_data).ok().and_then(|raw| reason_from(raw.reason).ok())
}

/// Why an error body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// No body.
    #[error("the error response has no body")]
    Empty,
    /// Larger than [`MAX_ERROR_BODY`].
    #[error("the error body is {len} bytes, over the {MAX_ERROR_BODY} read")]
    TooLarge {
        /// Its length.
        len: usize,
    },
    /// Not a JSON object of the expected shape.
    #[error("the error body is not Apple's JSON")]
    NotJson,
    /// A JSON object without a `reason` string (or with an empty one).
    #[error("the error body has no reason")]
    NoReason,
    /// A reason longer than [`Reason::MAX_LEN`].
    #[error("the error reason is {len} bytes, too long to be Apple's")]
    ReasonTooLong {
        /// Its length.
        len: usize,
    },
}

/// `retry-after` (RFC 9110 §10.2.3): a delay in seconds or an HTTP date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// Wait this long.
    Delay(Duration),
    /// Wait until then.
    At(SystemTime),
}

impl RetryAfter {
    /// Parses delay-seconds or an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`); `None` for
    /// anything else (including the obsolete date formats).
    pub fn parse(value: &[u8]) -> Option<Self> {
        let value = value.trim_ascii();
        if !value.is_empty() && value.len() <= 10 && value.iter().all(u8::is_ascii_digit) {
            let seconds: u64 = std::str::from_utf8(value).ok()?.parse().ok()?;
            return Some(Self::Delay(Duration::from_secs(seconds)));
        }
        parse_imf_fixdate(value).map(Self::At)
    }

    /// How long to wait from `now`: zero when the date has passed.
    pub fn delay_from(self, now: SystemTime) -> Duration {
        match self {
            Self::Delay(delay) => delay,
            Self::At(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        }
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → the time.
fn parse_imf_fixdate(value: &[u8]) -> Option<SystemTime> {
    const MONTHS: [&[u8; 3]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    if value.len() != 29 || value.get(3) != Some(&b',') || !value.ends_with(b" GMT") {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u64> {
        let digits = value.get(range)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let separators = [(4, b' '), (7, b' '), (11, b' '), (16, b' '), (19, b':'), (22, b':')];
    if separators.iter().any(|&(at, byte)| value.get(at) != Some(&byte)) {
        return None;
    }
    let day = number(5..7)?;
    let month_name = value.get(8..11)?;
    let month = MONTHS.iter().position(|name| name.as_slice() == month_name)? as u64 + 1;
    let year = number(12..16)?;
    let (hour, minute, second) = (number(17..19)?, number(20..22)?, number(23..25)?);
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (year ≥ 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    // Howard Hinnant's algorithm, shifted so that March is the first month.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era).saturating_sub(719_468)
}

/// A channel's configuration, the body of a successful channel read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    /// `message-storage-policy`.
    pub storage: super::MessageStoragePolicy,
    /// `push-type` (`LiveActivity`).
    pub push_type: String,
}

/// The most body bytes parsed as a channel reply (10,000 channel ids fit).
pub const MAX_CHANNEL_BODY: usize = 4 << 20;

#[derive(Deserialize)]
struct RawChannelConfig {
    #[serde(rename = "message-storage-policy")]
    storage: u8,
    #[serde(rename = "push-type")]
    push_type: String,
}

impl ChannelConfig {
    /// Parses `{"message-storage-policy": 0|1, "push-type": "LiveActivity"}`.
    pub fn parse(body: &[u8]) -> Result<Self, BodyError> {
        if body.len() > MAX_ERROR_BODY {
            return Err(BodyError::TooLarge { len: body.len() });
        }
        let raw: RawChannelConfig = from_json_object(body)?;
        Ok(Self { storage: super::MessageStoragePolicy(raw.storage), push_type: raw.push_type })
    }
}

#[derive(Deserialize)]
struct RawChannelList<'a> {
    #[serde(borrow)]
    channels: Vec<Cow<'a, str>>,
}

/// Parses the body of a successful channel listing, `{"channels": ["...", ...]}` (at most
/// [`MAX_CHANNEL_BODY`] bytes). Entries that are not channel ids are left out.
pub fn parse_channel_list(body: &[u8]) -> Result<Vec<ChannelId>, BodyError> {
    if body.len() > MAX_CHANNEL_BODY {
        return Err(BodyError::TooLarge { len: body.len() });
    }
    let raw: RawChannelList<'_> = from_json_object(body)?;
    Ok(raw.channels.iter().filter_map(|id| ChannelId::new(id).ok()).collect())
}
