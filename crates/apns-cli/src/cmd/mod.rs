//! The subcommands, and the error type they share.

pub(crate) mod certs;
pub(crate) mod channels;
mod connect;
pub(crate) mod demo;
pub(crate) mod feedback;
pub(crate) mod mock;
pub(crate) mod send;
pub(crate) mod token;

use std::fmt;

/// A subcommand's failure: a message for one line of stderr, and whether it was the user's input.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Bad arguments, unreadable or invalid input files: exit status 2.
    Config(String),
    /// A failure while running: exit status 1.
    Runtime(String),
    /// Stopped by a signal: exit status 128 + the signal number (130 for SIGINT, 143 for
    /// SIGTERM).
    Signal(i32, String),
}

impl CliError {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::Runtime(_) => 1,
            Self::Signal(signal, _) => u8::try_from(128 + signal).unwrap_or(1),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(message) | Self::Runtime(message) | Self::Signal(_, message) => f.write_str(message),
        }
    }
}
