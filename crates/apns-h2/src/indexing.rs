//! The HPACK representation a request field asks for.

/// How a header field may be stored in the peer's dynamic table (RFC 7541 section 6.2). The
/// encoder still uses an indexed representation when the same field is already in a table
/// (except for [`NeverIndexed`](Self::NeverIndexed)), and an indexed name whenever it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Indexing {
    /// Literal with incremental indexing: added to the dynamic table, so the next identical
    /// field costs one byte. For values that repeat (a token valid for minutes, a topic).
    Incremental,
    /// Literal without indexing: not added. For values unique to a request (an identifier, a
    /// path holding a device token), which would only evict useful entries.
    #[default]
    WithoutIndexing,
    /// Literal never indexed: not added, and intermediaries must not index it either (section
    /// 7.1.3). For secrets that must not be guessable through compression.
    NeverIndexed,
    /// Incremental the first time on a connection, so that the *name* enters the dynamic table,
    /// then without indexing (the name referenced by its index) while a field of that name is in
    /// the table. For values unique to a request whose name repeats (`apns-id`,
    /// `apns-expiration`, `apns-collapse-id`): Apple's HPACK advice.
    NameOnly,
}
