//! What the streaming decoders return, and the one place nom's types are translated.

use std::num::NonZeroUsize;

/// The result of a streaming decoder that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Decoded<T> {
    /// A whole value was read from the front of the input.
    Complete {
        /// The value.
        value: T,
        /// How many input bytes it took; drop them before decoding the next value.
        consumed: usize,
    },
    /// The input ends inside a value: call again once at least `needed` more bytes arrived.
    Incomplete {
        /// A lower bound on the bytes still missing.
        needed: NonZeroUsize,
    },
}

impl<T> Decoded<T> {
    /// The value and its length, or `None` when more bytes are needed.
    pub fn complete(self) -> Option<(T, usize)> {
        match self {
            Self::Complete { value, consumed } => Some((value, consumed)),
            Self::Incomplete { .. } => None,
        }
    }
}

/// Input that no amount of further bytes can make valid: the stream cannot be resynchronised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A gateway command byte other than 0, 1 or 2.
    #[error("unknown command {command} (expected 0, 1 or 2)")]
    UnknownCommand {
        /// The byte read.
        command: u8,
    },
    /// A frame longer than any frame with one of each item could be.
    #[error("frame length {length} exceeds the maximum of {max} bytes")]
    FrameTooLong {
        /// The length field.
        length: u32,
        /// [`MAX_FRAME_LEN`](crate::MAX_FRAME_LEN).
        max: u32,
    },
    /// A response command byte other than 8.
    #[error("unexpected response command {command} (expected 8)")]
    UnexpectedResponse {
        /// The byte read.
        command: u8,
    },
}

/// nom's result with our error type. Only `Incomplete` and our own failures come out of nom.
pub(crate) type NomResult<'a, T> = nom::IResult<&'a [u8], T, Failure>;

/// The error type threaded through nom: either ours, or nom's own (which our grammar, made only
/// of streaming `take`s and integers, never produces; it maps to "need more").
#[derive(Debug)]
pub(crate) enum Failure {
    Decode(DecodeError),
    Nom,
}

impl nom::error::ParseError<&[u8]> for Failure {
    fn from_error_kind(_input: &[u8], _kind: nom::error::ErrorKind) -> Self {
        Failure::Nom
    }

    fn append(_input: &[u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

pub(crate) fn fail<T>(error: DecodeError) -> NomResult<'static, T> {
    Err(nom::Err::Failure(Failure::Decode(error)))
}

/// Runs a nom parser and converts its result to ours.
pub(crate) fn run<'a, T>(
    input: &'a [u8],
    parser: impl FnOnce(&'a [u8]) -> NomResult<'a, T>,
) -> Result<Decoded<T>, DecodeError> {
    match parser(input) {
        Ok((rest, value)) => Ok(Decoded::Complete { value, consumed: input.len() - rest.len() }),
        Err(nom::Err::Incomplete(needed)) => Ok(Decoded::Incomplete {
            needed: match needed {
                nom::Needed::Size(size) => size,
                nom::Needed::Unknown => NonZeroUsize::MIN,
            },
        }),
        Err(nom::Err::Error(failure) | nom::Err::Failure(failure)) => match failure {
            Failure::Decode(error) => Err(error),
            // Unreachable with our grammar; claiming one more byte is needed is the safe answer.
            Failure::Nom => Ok(Decoded::Incomplete { needed: NonZeroUsize::MIN }),
        },
    }
}
