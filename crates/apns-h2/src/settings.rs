//! The server's settings as applied, and our configuration.

use std::time::Duration;

use crate::frame::{DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT, MAX_WINDOW};

/// The server's SETTINGS in force (RFC 9113 section 6.5.2), starting from the RFC defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerSettings {
    /// SETTINGS_HEADER_TABLE_SIZE: the largest dynamic table its decoder keeps for us.
    pub header_table_size: u32,
    /// SETTINGS_MAX_CONCURRENT_STREAMS (`None`: no limit announced).
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE: each new stream's send window.
    pub initial_window_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE: the largest frame payload we may send.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE (`None`: no limit announced).
    pub max_header_list_size: Option<u32>,
}

impl Default for PeerSettings {
    fn default() -> Self {
        Self {
            header_table_size: 4096,
            max_concurrent_streams: None,
            initial_window_size: 65_535,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: None,
        }
    }
}

/// Our side of a connection: the settings we announce and the limits we enforce against the
/// server. The defaults suit APNs: small responses, up to 1,000 streams.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Our cap on open streams, whatever the server allows (memory bound). Default 1,000.
    pub max_open_streams: u32,
    /// Streams we assume the server allows until its first SETTINGS arrives. Default 1: APNs
    /// allows one stream until a provider token is accepted, and a client that guesses more
    /// would have streams refused.
    pub streams_before_settings: u32,
    /// Our SETTINGS_HEADER_TABLE_SIZE: the dynamic table the server may use for responses.
    /// Default 4,096.
    pub header_table_size: u32,
    /// Our cap on the dynamic table we keep for the server's decoder (we use the smaller of
    /// this and its SETTINGS_HEADER_TABLE_SIZE). Default 4,096.
    pub encoder_table_size: u32,
    /// Our SETTINGS_INITIAL_WINDOW_SIZE: how much response body the server may send per stream
    /// before we replenish. Default 65,535.
    pub stream_window: u32,
    /// The connection receive window (raised from 65,535 by a WINDOW_UPDATE at start),
    /// replenished as DATA arrives. Default 1 MiB.
    pub connection_window: u32,
    /// Our SETTINGS_MAX_FRAME_SIZE. Default 16,384.
    pub max_frame_size: u32,
    /// Our SETTINGS_MAX_HEADER_LIST_SIZE: larger response header lists abort the stream.
    /// Default 16 KiB.
    pub max_header_list_size: u32,
    /// Compressed bytes of one response header block (HEADERS + CONTINUATION); more ends the
    /// connection. Default 64 KiB.
    pub max_header_block: usize,
    /// Largest response body; a larger one aborts the stream. Default 64 KiB.
    pub max_response_body: usize,
    /// Largest total of the bodies of unfinished responses on the connection; the DATA frame
    /// that would exceed it aborts its stream. Default 4 MiB.
    pub max_buffered_body: usize,
    /// PING and SETTINGS acknowledgements we owe and have not written yet; more ends the
    /// connection (a flood). Default 1,024.
    pub max_pending_acks: usize,
    /// How long a PING may wait for its acknowledgement before the connection is declared
    /// dead. Default 10 s.
    pub ping_timeout: Duration,
    /// Send a PING when nothing was received for this long (`None`: only when asked).
    /// Default `None`.
    pub keepalive_interval: Option<Duration>,
    /// How long the server has to send its SETTINGS and acknowledge ours. Default 10 s.
    pub settings_timeout: Duration,
    /// Whether literal values that stay out of the dynamic table (`:path`, `apns-id`: new in
    /// every request) are Huffman-coded when that is shorter. Default false: for the hex of a
    /// device token and an id Huffman saves about 30 % of the bytes (about 32 of the 180 a
    /// typical notification takes) but costs about 1,600 instructions a request, an eighth of
    /// the client's CPU per notification, where encrypting and writing the 32 bytes costs
    /// about 100. Values that enter the table, sent once per connection, are always
    /// Huffman-coded when shorter.
    pub huffman_unindexed: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_open_streams: 1000,
            streams_before_settings: 1,
            header_table_size: 4096,
            encoder_table_size: 4096,
            stream_window: 65_535,
            connection_window: 1 << 20,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: 16 << 10,
            max_header_block: 64 << 10,
            max_response_body: 64 << 10,
            max_buffered_body: 4 << 20,
            max_pending_acks: 1024,
            ping_timeout: Duration::from_secs(10),
            keepalive_interval: None,
            settings_timeout: Duration::from_secs(10),
            huffman_unindexed: false,
        }
    }
}

/// A [`Config`] value out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `stream_window` or `connection_window` above 2^31 - 1, or the connection window below
    /// 65,535.
    #[error("a window is out of range")]
    Window,
    /// `max_frame_size` outside 16,384 to 2^24 - 1.
    #[error("max_frame_size is out of range")]
    FrameSize,
    /// `max_open_streams` or `streams_before_settings` is 0.
    #[error("stream limits must be at least 1")]
    Streams,
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.stream_window > MAX_WINDOW
            || self.connection_window > MAX_WINDOW
            || self.connection_window < 65_535
        {
            return Err(ConfigError::Window);
        }
        if !(DEFAULT_MAX_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT).contains(&self.max_frame_size) {
            return Err(ConfigError::FrameSize);
        }
        if self.max_open_streams == 0 || self.streams_before_settings == 0 {
            return Err(ConfigError::Streams);
        }
        Ok(())
    }
}
