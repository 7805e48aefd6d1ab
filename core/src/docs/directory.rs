//! The hall directory: which ledgers and request books exist for a hall,
//! as `kind/kiosk/period -> automerge URL`. Kiosks add their own entries;
//! the server reads it to discover documents it has not seen yet and to
//! rebuild its projection. Keys are flat strings in one map created by the
//! server, so concurrent kiosk writes never conflict.
//!
//! When the server rebuilds a kiosk's document without a resident who
//! asked to be erased (see [`super::erase`]), it points the entry at the
//! new document and lists the old one under `retired` (old document id →
//! new URL): every kiosk of the hall that stores the old one deletes it,
//! and the kiosk that owns it carries on in the new one.

use automerge::{Automerge, ReadDoc, transaction::Transactable};

use super::{DocKind, map_obj, new_doc, read_str};
use crate::Result;

const DOCS: &str = "docs";
const RETIRED: &str = "retired";

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

/// Point entry `key` at `url`, whatever it named before (one change, none
/// when it names `url` already): a kiosk whose store lost a document and
/// made it again from its journal lists the new one in its place.
pub fn point(doc: &mut Automerge, key: &str, url: &str) -> Result<bool> {
    let obj = map_obj(doc, DOCS)?;
    if read_str(doc, &obj, key)?.as_deref() == Some(url) {
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

/// Server side: point entry `key` at `new_url` and list document `old_id`
/// as retired in its favour (one change).
pub fn retire(doc: &mut Automerge, key: &str, old_id: &str, new_url: &str) -> Result<()> {
    let docs = map_obj(doc, DOCS)?;
    let retired = map_obj(doc, RETIRED).ok();
    doc.transact::<_, _, automerge::AutomergeError>(|tx| {
        let retired = match &retired {
            Some(obj) => obj.clone(),
            None => tx.put_object(automerge::ROOT, RETIRED, automerge::ObjType::Map)?,
        };
        tx.put(&docs, key, new_url)?;
        tx.put(&retired, old_id, new_url)
    })
    .map_err(|f| f.error)?;
    Ok(())
}

/// Every retired document: (old document id, URL of the one replacing it).
pub fn retired(doc: &Automerge) -> Result<Vec<(String, String)>> {
    let Ok(obj) = map_obj(doc, RETIRED) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for key in doc.keys(&obj).collect::<Vec<_>>() {
        if let Some(url) = read_str(doc, &obj, &key)? {
            out.push((key, url));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retired_document_is_replaced_in_its_entry_and_listed() {
        let mut d = new_directory("h1").expect("fixture");
        let key = entry_key(DocKind::Ledger, "k1", "2026-11-24");
        assert!(register(&mut d, &key, "automerge:old").expect("fixture"));
        assert!(retired(&d).expect("fixture").is_empty());
        retire(&mut d, &key, "old", "automerge:new").expect("fixture");
        retire(
            &mut d,
            &entry_key(DocKind::Ledger, "k1", "2026-11-25"),
            "old2",
            "automerge:new2",
        )
        .expect("fixture");
        assert_eq!(
            retired(&d).expect("fixture"),
            vec![
                ("old".to_string(), "automerge:new".to_string()),
                ("old2".to_string(), "automerge:new2".to_string())
            ]
        );
        assert!(
            entries(&d)
                .expect("fixture")
                .contains(&(key, "automerge:new".to_string()))
        );
    }
}
