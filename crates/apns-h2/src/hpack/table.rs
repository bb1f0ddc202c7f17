//! The static table (RFC 7541 Appendix A) and the dynamic table (section 4).

use std::collections::VecDeque;

use bytes::Bytes;

/// Per-entry overhead counted in a table's size (RFC 7541 section 4.1).
pub(crate) const ENTRY_OVERHEAD: usize = 32;

/// RFC 7541 Appendix A: index 1 is the first entry.
pub(crate) const STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// Where a field stands in the static table, for the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StaticMatch {
    /// Name and value: index it.
    Field(usize),
    /// The name only.
    Name(usize),
    /// Not there.
    None,
}

/// Looks a field up in the static table, by name first (a `match` the compiler turns into a
/// length switch), then among that name's values.
pub(crate) fn static_match(name: &[u8], value: &[u8]) -> StaticMatch {
    let Some((first, count)) = static_range(name) else { return StaticMatch::None };
    for index in first..first + count {
        if STATIC[index - 1].1 == value {
            return StaticMatch::Field(index);
        }
    }
    StaticMatch::Name(first)
}

/// The static entries called `name`.
pub(crate) fn static_entries(name: &[u8]) -> &'static [(&'static [u8], &'static [u8])] {
    static_range(name).and_then(|(first, count)| STATIC.get(first - 1..first - 1 + count)).unwrap_or(&[])
}

/// The static entries called `name`: the first one's index and how many.
fn static_range(name: &[u8]) -> Option<(usize, usize)> {
    let range = match name {
        b":authority" => (1, 1),
        b":method" => (2, 2),
        b":path" => (4, 2),
        b":scheme" => (6, 2),
        b":status" => (8, 7),
        b"accept-charset" => (15, 1),
        b"accept-encoding" => (16, 1),
        b"accept-language" => (17, 1),
        b"accept-ranges" => (18, 1),
        b"accept" => (19, 1),
        b"access-control-allow-origin" => (20, 1),
        b"age" => (21, 1),
        b"allow" => (22, 1),
        b"authorization" => (23, 1),
        b"cache-control" => (24, 1),
        b"content-disposition" => (25, 1),
        b"content-encoding" => (26, 1),
        b"content-language" => (27, 1),
        b"content-length" => (28, 1),
        b"content-location" => (29, 1),
        b"content-range" => (30, 1),
        b"content-type" => (31, 1),
        b"cookie" => (32, 1),
        b"date" => (33, 1),
        b"etag" => (34, 1),
        b"expect" => (35, 1),
        b"expires" => (36, 1),
        b"from" => (37, 1),
        b"host" => (38, 1),
        b"if-match" => (39, 1),
        b"if-modified-since" => (40, 1),
        b"if-none-match" => (41, 1),
        b"if-range" => (42, 1),
        b"if-unmodified-since" => (43, 1),
        b"last-modified" => (44, 1),
        b"link" => (45, 1),
        b"location" => (46, 1),
        b"max-forwards" => (47, 1),
        b"proxy-authenticate" => (48, 1),
        b"proxy-authorization" => (49, 1),
        b"range" => (50, 1),
        b"referer" => (51, 1),
        b"refresh" => (52, 1),
        b"retry-after" => (53, 1),
        b"server" => (54, 1),
        b"set-cookie" => (55, 1),
        b"strict-transport-security" => (56, 1),
        b"transfer-encoding" => (57, 1),
        b"user-agent" => (58, 1),
        b"vary" => (59, 1),
        b"via" => (60, 1),
        b"www-authenticate" => (61, 1),
        _ => return None,
    };
    Some(range)
}

/// One dynamic table entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: Bytes,
    pub(crate) value: Bytes,
}

impl Entry {
    pub(crate) fn size(&self) -> usize {
        self.name.len() + self.value.len() + ENTRY_OVERHEAD
    }
}

/// The dynamic table: newest entry first (HPACK index 62), evicting the oldest to stay within
/// the maximum size.
#[derive(Debug, Clone)]
pub(crate) struct DynamicTable {
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
    /// Counts changes (inserts, size changes): what was looked up in an earlier epoch may have
    /// moved.
    epoch: u64,
}

impl DynamicTable {
    pub(crate) fn new(max_size: usize) -> Self {
        Self { entries: VecDeque::new(), size: 0, max_size, epoch: 0 }
    }

    /// Changes whenever an entry's index or the table's content may have changed.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry at dynamic index `index` (0 is the newest: HPACK index 62).
    pub(crate) fn get(&self, index: usize) -> Option<&Entry> {
        self.entries.get(index)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Changes the maximum size, evicting what no longer fits.
    pub(crate) fn set_max_size(&mut self, max_size: usize) {
        self.epoch += 1;
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    /// Adds an entry (RFC 7541 section 4.4: an entry larger than the table empties it and is not
    /// added).
    pub(crate) fn insert(&mut self, entry: Entry) {
        self.epoch += 1;
        let size = entry.size();
        if size > self.max_size {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max_size - size);
        self.size += size;
        self.entries.push_front(entry);
    }

    fn evict_to(&mut self, limit: usize) {
        while self.size > limit {
            match self.entries.pop_back() {
                Some(entry) => self.size -= entry.size(),
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn size(&self) -> usize {
        self.size
    }
}
