//! The HPACK decoder (RFC 7541 sections 3, 5 and 6).

use bytes::{Bytes, BytesMut};

use super::huffman::{self, HuffmanError};
use super::table::{DynamicTable, Entry, STATIC};

/// Why a header block cannot be decoded. Each is a connection error of type
/// `COMPRESSION_ERROR` in HTTP/2 (RFC 9113 section 4.3): the dynamic tables are out of step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The block ends inside a representation.
    #[error("the header block ends inside a field")]
    Truncated,
    /// An integer does not fit in 32 bits or has superfluous continuation bytes.
    #[error("an HPACK integer is too large")]
    IntegerOverflow,
    /// Index 0, or an index past the end of the static and dynamic tables.
    #[error("HPACK index {0} is not in the tables")]
    InvalidIndex(u32),
    /// A Huffman string contains EOS.
    #[error("a Huffman string contains EOS")]
    HuffmanEos,
    /// A Huffman string is padded with more than seven bits, or not with ones.
    #[error("a Huffman string is badly padded")]
    HuffmanPadding,
    /// A dynamic table size update above the size our settings allow.
    #[error("a table size update to {requested} exceeds the allowed {allowed}")]
    TableSizeTooLarge {
        /// The size the update asks for.
        requested: u32,
        /// The largest size allowed.
        allowed: usize,
    },
    /// A dynamic table size update after the first field of the block.
    #[error("a table size update after a header field")]
    LateTableSizeUpdate,
}

impl From<HuffmanError> for DecodeError {
    fn from(error: HuffmanError) -> Self {
        match error {
            HuffmanError::Eos => Self::HuffmanEos,
            HuffmanError::Padding => Self::HuffmanPadding,
        }
    }
}

/// One decoded header field. Names and values are bytes as received: checking them against
/// HTTP's rules is the caller's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedField {
    /// The name.
    pub name: Bytes,
    /// The value.
    pub value: Bytes,
    /// Sent as a never-indexed literal: intermediaries must not compress it.
    pub never_indexed: bool,
}

/// Bytes allocated at a time for decoded strings.
const SCRATCH_CHUNK: usize = 4096;

/// The decoding context of one connection direction: its dynamic table and size limit.
#[derive(Debug, Clone)]
pub struct Decoder {
    table: DynamicTable,
    /// The largest size a table size update may set (our `SETTINGS_HEADER_TABLE_SIZE`).
    max_allowed: usize,
    /// Where literals are decoded; each field's strings are split off it, so one allocation
    /// serves a whole block.
    scratch: BytesMut,
}

impl Decoder {
    /// A decoder whose peer may use a dynamic table of up to `max_table_size` bytes (the
    /// `SETTINGS_HEADER_TABLE_SIZE` we advertise; 4,096 by default).
    pub fn new(max_table_size: usize) -> Self {
        Self {
            table: DynamicTable::new(max_table_size),
            max_allowed: max_table_size,
            scratch: BytesMut::new(),
        }
    }

    /// Changes the size limit size updates must respect (when our settings change).
    pub fn set_max_allowed_table_size(&mut self, max_table_size: usize) {
        self.max_allowed = max_table_size;
        if self.table.max_size() > max_table_size {
            self.table.set_max_size(max_table_size);
        }
    }

    /// The dynamic table's current maximum size.
    pub fn table_size_limit(&self) -> usize {
        self.table.max_size()
    }

    /// Entries in the dynamic table.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// Decodes one complete header block, calling `field` for each field in order.
    ///
    /// On an error the dynamic table may hold part of the block's insertions: the connection
    /// must end (the error is a connection error).
    pub fn decode(&mut self, block: &[u8], mut field: impl FnMut(DecodedField)) -> Result<(), DecodeError> {
        // Huffman decoding expands at most 8/5. Strings are split off `scratch`, so one
        // allocation of a few KiB serves many blocks (a decoded value keeps its chunk alive).
        let needed = block.len() * 8 / 5 + 8;
        if self.scratch.capacity() < needed {
            self.scratch = BytesMut::with_capacity(needed.max(SCRATCH_CHUNK));
        }
        let mut input = block;
        let mut fields_seen = false;
        while let Some(&first) = input.first() {
            if first & 0x80 != 0 {
                // Indexed field (section 6.1).
                let index = decode_integer(&mut input, 7)?;
                let (name, value) = self.indexed(index)?;
                field(DecodedField { name, value, never_indexed: false });
                fields_seen = true;
            } else if first & 0xc0 == 0x40 {
                // Literal with incremental indexing (section 6.2.1).
                let (name, value) = self.literal(&mut input, 6)?;
                self.table.insert(Entry { name: name.clone(), value: value.clone() });
                field(DecodedField { name, value, never_indexed: false });
                fields_seen = true;
            } else if first & 0xe0 == 0x20 {
                // Dynamic table size update (section 6.3).
                if fields_seen {
                    return Err(DecodeError::LateTableSizeUpdate);
                }
                let size = decode_integer(&mut input, 5)?;
                if size as usize > self.max_allowed {
                    return Err(DecodeError::TableSizeTooLarge {
                        requested: size,
                        allowed: self.max_allowed,
                    });
                }
                self.table.set_max_size(size as usize);
            } else {
                // Literal without indexing (0000) or never indexed (0001) (sections 6.2.2, 6.2.3).
                let never_indexed = first & 0x10 != 0;
                let (name, value) = self.literal(&mut input, 4)?;
                field(DecodedField { name, value, never_indexed });
                fields_seen = true;
            }
        }
        Ok(())
    }

    /// The field at HPACK index `index` (1-based, static table first).
    fn indexed(&self, index: u32) -> Result<(Bytes, Bytes), DecodeError> {
        let position = index as usize;
        if position == 0 {
            return Err(DecodeError::InvalidIndex(index));
        }
        if let Some((name, value)) = STATIC.get(position - 1) {
            return Ok((Bytes::from_static(name), Bytes::from_static(value)));
        }
        let entry = self.table.get(position - 1 - STATIC.len()).ok_or(DecodeError::InvalidIndex(index))?;
        Ok((entry.name.clone(), entry.value.clone()))
    }

    fn indexed_name(&self, index: u32) -> Result<Bytes, DecodeError> {
        let position = index as usize;
        if position == 0 {
            return Err(DecodeError::InvalidIndex(index));
        }
        if let Some((name, _)) = STATIC.get(position - 1) {
            return Ok(Bytes::from_static(name));
        }
        let entry = self.table.get(position - 1 - STATIC.len()).ok_or(DecodeError::InvalidIndex(index))?;
        Ok(entry.name.clone())
    }

    /// A literal representation whose name index has a `prefix`-bit prefix (0: a new name).
    fn literal(&mut self, input: &mut &[u8], prefix: u8) -> Result<(Bytes, Bytes), DecodeError> {
        let index = decode_integer(input, prefix)?;
        let name = if index == 0 { self.string(input)? } else { self.indexed_name(index)? };
        let value = self.string(input)?;
        Ok((name, value))
    }

    /// A string literal (section 5.2).
    fn string(&mut self, input: &mut &[u8]) -> Result<Bytes, DecodeError> {
        let huffman = input.first().ok_or(DecodeError::Truncated)? & 0x80 != 0;
        let len = decode_integer(input, 7)? as usize;
        if len > input.len() {
            return Err(DecodeError::Truncated);
        }
        let (raw, rest) = input.split_at(len);
        *input = rest;
        if huffman {
            huffman::decode(raw, &mut self.scratch)?;
        } else {
            self.scratch.extend_from_slice(raw);
        }
        Ok(self.scratch.split().freeze())
    }
}

/// Decodes an integer with an `prefix`-bit prefix (section 5.1), advancing `input`.
pub(crate) fn decode_integer(input: &mut &[u8], prefix: u8) -> Result<u32, DecodeError> {
    let (&first, mut rest) = input.split_first().ok_or(DecodeError::Truncated)?;
    let mask = (1u32 << prefix) - 1;
    let mut value = u32::from(first) & mask;
    if value < mask {
        *input = rest;
        return Ok(value);
    }
    let mut shift = 0u32;
    loop {
        let (&byte, tail) = rest.split_first().ok_or(DecodeError::Truncated)?;
        rest = tail;
        // Five continuation bytes carry 35 bits: more than any 32-bit value needs.
        if shift > 28 {
            return Err(DecodeError::IntegerOverflow);
        }
        let add = u64::from(byte & 0x7f) << shift;
        let sum = u64::from(value) + add;
        value = u32::try_from(sum).map_err(|_| DecodeError::IntegerOverflow)?;
        shift += 7;
        if byte & 0x80 == 0 {
            break;
        }
    }
    *input = rest;
    Ok(value)
}

#[cfg(test)]
impl Decoder {
    pub(crate) fn table(&self) -> &DynamicTable {
        &self.table
    }
}
