//! The reason table of `docs/protocol.md` says what the code does: every documented reason, its
//! status and our classification, row for row.

use apns_proto::http2::{Classification, Reason};

#[test]
fn docs_table_matches_the_code() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md")).unwrap();
    let mut rows = Vec::new();
    for line in docs.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | status | `Reason` | meaning | class |
        let [_, status, reason, _, class, _] = cells[..] else { continue };
        let (Ok(status), Some(reason)) =
            (status.parse::<u16>(), reason.strip_prefix('`').and_then(|r| r.strip_suffix('`')))
        else {
            continue;
        };
        let class = class.split_whitespace().next().unwrap_or_default();
        rows.push((reason.to_owned(), status, class.to_owned()));
    }
    let code: Vec<(String, u16, String)> = Reason::DOCUMENTED
        .iter()
        .map(|(reason, status, class)| (reason.as_str().to_owned(), *status, format!("{class:?}")))
        .collect();
    assert_eq!(rows, code);
    assert!(code.iter().any(|(_, _, class)| class == &format!("{:?}", Classification::RefreshToken)));
}
