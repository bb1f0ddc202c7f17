//! The HPACK encoder, with the caller choosing each field's representation.

use bytes::{BufMut, Bytes, BytesMut};

use super::huffman;
use super::table::{static_entries, static_match, DynamicTable, Entry, StaticMatch, STATIC};
use crate::Indexing;

/// The encoding context of one connection direction: a mirror of the peer's dynamic table.
#[derive(Debug, Clone)]
pub struct Encoder {
    table: DynamicTable,
    /// Size updates to signal at the start of the next block: the smallest size set since the
    /// last block, and the latest (RFC 7541 section 4.2).
    pending_update: Option<(usize, usize)>,
    huffman: bool,
    /// Whether values that stay out of the table are Huffman-coded too.
    huffman_unindexed: bool,
    /// What the field at each position of earlier blocks was encoded as (see [`Memo`]).
    memos: Vec<Option<Memo>>,
    /// The position of the next field in the current block.
    position: usize,
}

/// Fields of the blocks memoised by position: requests on a connection repeat their fields in
/// the same order, so a repeated field costs two comparisons instead of the table searches.
const MEMO_POSITIONS: usize = 16;

/// How a field that stores nothing in the table was encoded, valid while the dynamic table is
/// unchanged (its epoch): the encoding is then a function of the name, the value and the
/// indexing, so the same inputs give the same bytes as the full search.
#[derive(Debug, Clone)]
struct Memo {
    epoch: u64,
    name: Bytes,
    indexing: Indexing,
    kind: MemoKind,
    /// The field's whole encoding (`Indexed`) or the representation's first bytes, the name's
    /// index (`IndexedName`).
    prefix: [u8; 4],
    prefix_len: u8,
}

#[derive(Debug, Clone)]
enum MemoKind {
    /// A reference to a table entry with this value.
    Indexed(Bytes),
    /// A literal value after an indexed name, for any value but these (the values of table
    /// entries of the same name, which would make the field a reference).
    IndexedName { rivals: Vec<Bytes> },
}

impl Memo {
    fn prefix(&self) -> &[u8] {
        &self.prefix[..usize::from(self.prefix_len)]
    }
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
        Self {
            table: DynamicTable::new(max_table_size),
            pending_update: None,
            huffman: true,
            huffman_unindexed: true,
            memos: Vec::new(),
            position: 0,
        }
    }

    /// Whether string literals are Huffman-coded when that makes them shorter (the default), or
    /// always sent raw.
    pub fn set_huffman(&mut self, enabled: bool) {
        self.huffman = enabled;
    }

    /// Whether literal values that do not enter the dynamic table (not indexed, never indexed)
    /// are Huffman-coded too (the default) when Huffman coding is enabled. A value unique to
    /// its request is coded again in every request, where the few bytes saved may cost more
    /// CPU than they save.
    pub fn set_huffman_unindexed(&mut self, enabled: bool) {
        self.huffman_unindexed = enabled;
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
        self.position = 0;
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
        let position = self.position;
        self.position += 1;
        if let Some(Some(memo)) = self.memos.get(position) {
            if memo.epoch == self.table.epoch() && memo.indexing == indexing && same(&memo.name, name) {
                match &memo.kind {
                    MemoKind::Indexed(known) if same(known, value) => {
                        out.extend_from_slice(memo.prefix());
                        return;
                    }
                    MemoKind::IndexedName { rivals } if !rivals.iter().any(|rival| same(rival, value)) => {
                        out.extend_from_slice(memo.prefix());
                        encode_string(value, self.huffman && self.huffman_unindexed, out);
                        return;
                    }
                    _ => {}
                }
            }
        }
        let start = out.len();
        let Some((kind, prefix_len)) = self.encode_searching(name, value, indexing, out) else { return };
        let mut prefix = [0u8; 4];
        let (Some(slot), Some(written)) = (prefix.get_mut(..prefix_len), out.get(start..start + prefix_len))
        else {
            return; // A long index: not worth memoising.
        };
        slot.copy_from_slice(written);
        if position >= MEMO_POSITIONS {
            return;
        }
        if self.memos.len() <= position {
            self.memos.resize(position + 1, None);
        }
        self.memos[position] = Some(Memo {
            epoch: self.table.epoch(),
            name: name.clone(),
            indexing,
            kind,
            prefix,
            prefix_len: prefix_len as u8,
        });
    }

    /// Encodes a field by searching the tables: the static one, then the dynamic one. Returns
    /// how to memoise it when it stores nothing in the table: its kind, and the length of the
    /// bytes it starts with that do not depend on the value.
    fn encode_searching(
        &mut self,
        name: &Bytes,
        value: &Bytes,
        indexing: Indexing,
        out: &mut BytesMut,
    ) -> Option<(MemoKind, usize)> {
        let start = out.len();
        let static_hit = static_match(name, value);
        if let StaticMatch::Field(index) = static_hit {
            if indexing != Indexing::NeverIndexed {
                encode_integer(index as u32, 7, 0x80, out);
                return Some((MemoKind::Indexed(value.clone()), out.len() - start));
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
                return Some((MemoKind::Indexed(value.clone()), out.len() - start));
            }
            name_in_dynamic = true;
            name_index.get_or_insert(index);
            if indexing == Indexing::NeverIndexed {
                break;
            }
        }
        let representation = match indexing {
            // The name entered the dynamic table with an earlier field: reference it, store
            // nothing more.
            Indexing::NameOnly if name_in_dynamic => Indexing::WithoutIndexing,
            Indexing::NameOnly => Indexing::Incremental,
            other => other,
        };
        let (pattern, prefix) = match representation {
            Indexing::Incremental | Indexing::NameOnly => (0x40, 6),
            Indexing::WithoutIndexing => (0x00, 4),
            Indexing::NeverIndexed => (0x10, 4),
        };
        let prefix_len = match name_index {
            Some(index) => {
                encode_integer(index as u32, prefix, pattern, out);
                Some(out.len() - start)
            }
            None => {
                out.put_u8(pattern);
                encode_string(name, self.huffman, out);
                None
            }
        };
        let huffman = self.huffman && (representation == Indexing::Incremental || self.huffman_unindexed);
        encode_string(value, huffman, out);
        if representation == Indexing::Incremental {
            self.table.insert(Entry { name: name.clone(), value: value.clone() });
            return None;
        }
        // A value of a static entry of this name would choose that entry's index (for the
        // field, or for the name if never indexed), a value of a dynamic one a reference
        // (unless never indexed): other values are encoded alike.
        let in_static = static_entries(name).iter().map(|(_, value)| Bytes::from_static(value));
        let rivals: Vec<Bytes> = if indexing == Indexing::NeverIndexed {
            in_static.collect()
        } else {
            let in_dynamic =
                self.table.iter().filter(|entry| same(&entry.name, name)).map(|entry| entry.value.clone());
            in_static.chain(in_dynamic).collect()
        };
        if rivals.iter().any(|rival| same(rival, value)) {
            return None; // Encoded as this value alone is: not as the others.
        }
        Some((MemoKind::IndexedName { rivals }, prefix_len?))
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

    /// [`encode_field`](Self::encode_field) without the memo.
    pub(crate) fn encode_field_searching(
        &mut self,
        name: &Bytes,
        value: &Bytes,
        indexing: Indexing,
        out: &mut BytesMut,
    ) {
        let _ = self.encode_searching(name, value, indexing, out);
    }
}
