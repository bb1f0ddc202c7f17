//! The HPACK encoder, with the caller choosing each field's representation.

use bytes::{BufMut, Bytes, BytesMut};

use super::huffman;
use super::table::{static_match, DynamicTable, Entry, StaticMatch, STATIC};
use crate::Indexing;

/// The encoding context of one connection direction: a mirror of the peer's dynamic table.
#[derive(Debug, Clone)]
pub struct Encoder {
    table: DynamicTable,
    /// Size updates to signal at the start of the next block: the smallest size set since the
    /// last block, and the latest (RFC 7541 section 4.2).
    pending_update: Option<(usize, usize)>,
    huffman: bool,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl Encoder {
    /// An encoder for a peer whose dynamic table holds `max_table_size` bytes (its
    /// `SETTINGS_HEADER_TABLE_SIZE`, or less if we choose).
    pub fn new(max_table_size: usize) -> Self {
        Self { table: DynamicTable::new(max_table_size), pending_update: None, huffman: true }
    }

    /// Whether string literals are Huffman-coded when that makes them shorter (the default), or
    /// always sent raw.
    pub fn set_huffman(&mut self, enabled: bool) {
        self.huffman = enabled;
    }

    /// Changes the table size, to be signalled at the start of the next block.
    pub fn set_max_table_size(&mut self, max_table_size: usize) {
        let smallest = match self.pending_update {
            Some((smallest, _)) => smallest.min(max_table_size),
            None => max_table_size.min(self.table.max_size()),
        };
        self.pending_update = Some((smallest, max_table_size));
    }

    /// The table size the peer's decoder has (or will have once the next block is read).
    pub fn max_table_size(&self) -> usize {
        self.pending_update.map_or(self.table.max_size(), |(_, latest)| latest)
    }

    /// Entries in the dynamic table.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// Starts a header block: writes pending table size updates. Call it once before the first
    /// [`encode_field`](Self::encode_field) of each block.
    pub fn begin_block(&mut self, out: &mut BytesMut) {
        if let Some((smallest, latest)) = self.pending_update.take() {
            if smallest < latest {
                encode_integer(smallest as u32, 5, 0x20, out);
                self.table.set_max_size(smallest);
            }
            encode_integer(latest as u32, 5, 0x20, out);
            self.table.set_max_size(latest);
        }
    }

    /// Encodes one field of the current block. `name` must be lowercase (HTTP/2 requires it; the
    /// request types check it).
    pub fn encode_field(&mut self, name: &Bytes, value: &Bytes, indexing: Indexing, out: &mut BytesMut) {
        let static_hit = static_match(name, value);
        if let StaticMatch::Field(index) = static_hit {
            if indexing != Indexing::NeverIndexed {
                encode_integer(index as u32, 7, 0x80, out);
                return;
            }
        }
        let mut name_index = match static_hit {
            StaticMatch::Field(index) | StaticMatch::Name(index) => Some(index),
            StaticMatch::None => None,
        };
        let mut name_in_dynamic = false;
        for (position, entry) in self.table.iter().enumerate() {
            if !same(&entry.name, name) {
                continue;
            }
            let index = STATIC.len() + 1 + position;
            if indexing != Indexing::NeverIndexed && same(&entry.value, value) {
                encode_integer(index as u32, 7, 0x80, out);
                return;
            }
            name_in_dynamic = true;
            name_index.get_or_insert(index);
            if indexing == Indexing::NeverIndexed {
                break;
            }
        }
        let indexing = match indexing {
            // The name entered the dynamic table with an earlier field: reference it, store
            // nothing more.
            Indexing::NameOnly if name_in_dynamic => Indexing::WithoutIndexing,
            Indexing::NameOnly => Indexing::Incremental,
            other => other,
        };
        let (pattern, prefix) = match indexing {
            Indexing::Incremental | Indexing::NameOnly => (0x40, 6),
            Indexing::WithoutIndexing => (0x00, 4),
            Indexing::NeverIndexed => (0x10, 4),
        };
        match name_index {
            Some(index) => encode_integer(index as u32, prefix, pattern, out),
            None => {
                out.put_u8(pattern);
                encode_string(name, self.huffman, out);
            }
        }
        encode_string(value, self.huffman, out);
        if indexing == Indexing::Incremental {
            self.table.insert(Entry { name: name.clone(), value: value.clone() });
        }
    }
}

/// Equal bytes, with a shortcut for the same shared buffer (a header value reused across
/// requests).
fn same(a: &Bytes, b: &Bytes) -> bool {
    a.len() == b.len() && (a.as_ptr() == b.as_ptr() || a == b)
}

/// Writes `value` with an `prefix`-bit prefix, the bits above it taken from `pattern`.
pub(crate) fn encode_integer(value: u32, prefix: u8, pattern: u8, out: &mut impl BufMut) {
    let mask = (1u32 << prefix) - 1;
    if value < mask {
        out.put_u8(pattern | value as u8);
        return;
    }
    out.put_u8(pattern | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        out.put_u8((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.put_u8(rest as u8);
}

/// Writes a string literal, Huffman-coded if allowed and not longer (as the RFC examples do).
fn encode_string(value: &[u8], allow_huffman: bool, out: &mut BytesMut) {
    if allow_huffman && value.len() < 0x7f {
        // One pass: Huffman-code after a one-byte length (any length below 127 fits), then keep
        // the raw string instead if that is shorter.
        let start = out.len();
        out.put_u8(0);
        huffman::encode(value, out);
        let huffman_len = out.len() - start - 1;
        if huffman_len <= value.len() {
            if let Some(prefix) = out.get_mut(start) {
                *prefix = 0x80 | huffman_len as u8;
            }
            return;
        }
        out.truncate(start);
    } else if allow_huffman {
        let huffman_len = huffman::encoded_len(value);
        if huffman_len <= value.len() {
            encode_integer(huffman_len as u32, 7, 0x80, out);
            huffman::encode(value, out);
            return;
        }
    }
    encode_integer(value.len() as u32, 7, 0x00, out);
    out.extend_from_slice(value);
}

#[cfg(test)]
impl Encoder {
    pub(crate) fn table(&self) -> &DynamicTable {
        &self.table
    }
}
