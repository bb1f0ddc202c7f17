//! One stream's state: what is left to send, the windows, and the response being assembled.

use bytes::{Bytes, BytesMut};

use crate::event::Malformed;
use crate::header::{HeaderField, Headers};
use crate::message::Response;

/// Most informational (1xx) responses accepted before the final one.
const MAX_INFORMATIONAL: u8 = 8;

#[derive(Debug)]
pub(crate) struct Stream {
    /// Whether its HEADERS are written.
    pub(crate) opened: bool,
    /// The caller's key, for its `Event::Finished`.
    pub(crate) key: u64,
    /// Body bytes not yet written.
    pub(crate) body: Bytes,
    /// Whether our END_STREAM is written.
    pub(crate) local_done: bool,
    /// Our send window (signed: SETTINGS_INITIAL_WINDOW_SIZE can push it below zero).
    pub(crate) send_window: i64,
    /// What the server may still send before we replenish.
    pub(crate) recv_window: i64,
    /// Bytes received and not yet returned to the server's stream window.
    pub(crate) recv_owed: u32,
    pub(crate) response: ResponseState,
}

#[derive(Debug, Default)]
pub(crate) struct ResponseState {
    pub(crate) informational: u8,
    pub(crate) status: Option<u16>,
    pub(crate) headers: Headers,
    pub(crate) content_length: Option<u64>,
    pub(crate) body: BytesMut,
    pub(crate) trailers: Option<Headers>,
}

/// What a decoded header section means for the stream.
#[derive(Debug)]
pub(crate) enum SectionOutcome {
    /// More is expected (headers without END_STREAM, or an informational response).
    Continue,
    /// The response is complete.
    Complete,
    /// The response is malformed.
    Malformed(Malformed),
}

impl Stream {
    pub(crate) fn new(body: Bytes, key: u64, recv_window: u32) -> Self {
        Self {
            opened: false,
            key,
            body,
            local_done: false,
            send_window: 0,
            recv_window: i64::from(recv_window),
            recv_owed: 0,
            response: ResponseState::default(),
        }
    }

    /// Response body bytes held (counted against `max_buffered_body`).
    pub(crate) fn buffered_body(&self) -> usize {
        self.response.body.len()
    }

    pub(crate) fn is_opened(&self) -> bool {
        self.opened
    }

    /// Applies a complete header section: response headers, an informational response, or
    /// trailers.
    pub(crate) fn handle_section(&mut self, section: Section, end_stream: bool) -> SectionOutcome {
        let response = &mut self.response;
        if response.status.is_some() {
            // Trailers: they end the stream and carry no pseudo-header.
            if !end_stream {
                return SectionOutcome::Malformed(Malformed::Sequence);
            }
            if section.status.is_some() || section.pseudo_error {
                return SectionOutcome::Malformed(Malformed::PseudoHeader);
            }
            response.trailers = Some(section.fields);
            return self.complete();
        }
        if section.pseudo_error {
            return SectionOutcome::Malformed(Malformed::PseudoHeader);
        }
        let Some(status) = section.status else { return SectionOutcome::Malformed(Malformed::Status) };
        if (100..200).contains(&status) {
            // 101 cannot happen in HTTP/2 (RFC 9113 section 8.6); an informational response
            // cannot end the stream.
            response.informational += 1;
            if status == 101 || end_stream {
                return SectionOutcome::Malformed(Malformed::Status);
            }
            if response.informational > MAX_INFORMATIONAL {
                return SectionOutcome::Malformed(Malformed::Informational);
            }
            return SectionOutcome::Continue;
        }
        if section.content_length_invalid {
            return SectionOutcome::Malformed(Malformed::ContentLength);
        }
        response.status = Some(status);
        response.content_length = section.content_length;
        response.headers = section.fields;
        if end_stream {
            return self.complete();
        }
        SectionOutcome::Continue
    }

    /// Checks the body against `content-length` at END_STREAM.
    pub(crate) fn complete(&mut self) -> SectionOutcome {
        let response = &self.response;
        match response.content_length {
            Some(length) if length != response.body.len() as u64 => {
                SectionOutcome::Malformed(Malformed::ContentLength)
            }
            _ => SectionOutcome::Complete,
        }
    }

    pub(crate) fn take_response(&mut self) -> Response {
        let response = std::mem::take(&mut self.response);
        Response {
            status: response.status.unwrap_or_default(),
            headers: response.headers,
            body: response.body.freeze(),
            trailers: response.trailers,
        }
    }
}

/// A decoded and checked header section.
#[derive(Debug, Default)]
pub(crate) struct Section {
    pub(crate) status: Option<u16>,
    /// A pseudo-header other than one `:status` first.
    pub(crate) pseudo_error: bool,
    pub(crate) content_length: Option<u64>,
    pub(crate) content_length_invalid: bool,
    pub(crate) fields: Headers,
    /// The first problem with a name or value.
    pub(crate) malformed: Option<Malformed>,
    /// The list size (RFC 9113 section 6.5.2), to compare with our limit.
    pub(crate) list_size: usize,
    pub(crate) too_large: bool,
}

impl Section {
    /// Adds one decoded field, checking it (RFC 9113 section 8.2 and 8.3.2).
    pub(crate) fn push(&mut self, name: Bytes, value: Bytes, max_list_size: usize) {
        self.list_size = self.list_size.saturating_add(name.len() + value.len() + 32);
        if self.list_size > max_list_size {
            // Keep decoding (the HPACK state must stay in step) but keep nothing.
            self.too_large = true;
            self.fields.0.clear();
            return;
        }
        if self.too_large || self.malformed.is_some() {
            return;
        }
        if crate::header::check_value(&value).is_err() {
            self.malformed = Some(Malformed::Value);
            return;
        }
        if name.first() == Some(&b':') {
            if name.as_ref() == b":status" && self.status.is_none() && self.fields.is_empty() {
                match parse_status(&value) {
                    Some(status) => self.status = Some(status),
                    None => self.malformed = Some(Malformed::Status),
                }
            } else {
                self.pseudo_error = true;
            }
            return;
        }
        if crate::header::check_name(&name).is_err() {
            self.malformed = Some(Malformed::Name);
            return;
        }
        if name.as_ref() == b"content-length" {
            match parse_decimal(&value) {
                Some(length) if self.content_length.is_none_or(|seen| seen == length) => {
                    self.content_length = Some(length)
                }
                _ => self.content_length_invalid = true,
            }
        }
        self.fields.0.push(HeaderField {
            name: crate::HeaderName::from_checked(name),
            value: crate::HeaderValue::from_checked(value),
        });
    }
}

fn parse_status(value: &[u8]) -> Option<u16> {
    match value {
        [a @ b'1'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9'] => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

fn parse_decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 {
        return None;
    }
    value.iter().try_fold(0u64, |sum, &byte| byte.is_ascii_digit().then(|| sum * 10 + u64::from(byte - b'0')))
}
