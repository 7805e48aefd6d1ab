//! The hall directory: which ledgers and request books exist for a hall,
//! as `kind/kiosk/period -> automerge URL`. Kiosks add their own entries;
//! the server reads it to discover documents it has not seen yet and to
//! rebuild its projection. Keys are flat strings in one map created by the
//! server, so concurrent kiosk writes never conflict.

use automerge::{Automerge, ReadDoc, transaction::Transactable};

use super::{DocKind, map_obj, new_doc, read_str};
use crate::Result;

const DOCS: &str = "docs";

/// A new, empty directory for a hall.
pub fn new_directory(hall_id: &str) -> Result<Automerge> {
    new_doc(DocKind::Directory, hall_id, None, None, &[DOCS], &[])
}

/// The directory key of a kiosk document.
pub fn entry_key(kind: DocKind, kiosk_id: &str, period: &str) -> String {
    format!("{}/{kiosk_id}/{period}", kind.name())
}

/// Parse an entry key back into (kind, kiosk, period).
pub fn parse_entry_key(key: &str) -> Option<(DocKind, &str, &str)> {
    let mut parts = key.splitn(3, '/');
    let kind = DocKind::from_name(parts.next()?)?;
    Some((kind, parts.next()?, parts.next()?))
}

/// Register a document (idempotent: an existing entry is left alone).
pub fn register(doc: &mut Automerge, key: &str, url: &str) -> Result<bool> {
    let obj = map_obj(doc, DOCS)?;
    if doc.get(&obj, key)?.is_some() {
        return Ok(false);
    }
    doc.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(&obj, key, url))
        .map_err(|f| f.error)?;
    Ok(true)
}

/// Every entry, sorted by key.
pub fn entries(doc: &Automerge) -> Result<Vec<(String, String)>> {
    let obj = map_obj(doc, DOCS)?;
    let mut out = Vec::new();
    for key in doc.keys(&obj).collect::<Vec<_>>() {
        if let Some(url) = read_str(doc, &obj, &key)? {
            out.push((key, url));
        }
    }
    Ok(out)
}
