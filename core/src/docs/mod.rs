//! Typed read/write of Linli's four document kinds (DESIGN.md decision 3).
//!
//! Every document has a root with `schema`, `version` and `hall_id`, plus
//! maps of records keyed by record id. Records are written one per change
//! with `reconcile_prop` on their map key — never by reconciling a whole
//! document, which is quadratic — and read one by one, so a single bad
//! record can be quarantined without hiding the others.
//!
//! - [`calendar`]: the hall calendar (server writes, kiosks read).
//! - [`directory`]: which documents exist for a hall.
//! - [`ledger`]: one kiosk's day of check-ins, ratings and shift events.
//! - [`requests`]: one kiosk's month of requests, with the server's replies.
//! - [`erase`]: a kiosk document rebuilt without one resident.
//! - [`upgrade`]: a version-1 kiosk document converted to this version.
//! - [`values`]: strings and counts as whichever peer wrote them.

pub mod calendar;
pub mod directory;
pub mod erase;
pub mod ledger;
pub mod requests;
pub mod upgrade;
pub mod values;

use std::collections::{BTreeMap, BTreeSet};

use automerge::{
    Automerge, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value,
    transaction::Transactable,
};
use autosurgeon::{Hydrate, Reconcile};

use crate::{Error, Result};

/// The schema version this build writes and understands. Version 2
/// (issue 12): residents are pseudonyms with sealed contacts and name boxes
/// (`model::ResidentRef`); a version-1 record of a resident no longer fits
/// and is quarantined, never read as a number.
pub const SCHEMA_VERSION: u64 = 2;

/// The four kinds of Linli document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DocKind {
    /// Hall calendar.
    Calendar,
    /// Hall directory.
    Directory,
    /// Kiosk day ledger.
    Ledger,
    /// Kiosk request book.
    RequestBook,
}

impl DocKind {
    /// The `schema` value stored at the document root.
    pub fn schema(self) -> &'static str {
        match self {
            DocKind::Calendar => "linli.calendar",
            DocKind::Directory => "linli.directory",
            DocKind::Ledger => "linli.ledger",
            DocKind::RequestBook => "linli.requests",
        }
    }

    /// The short name used in logs and the server's tables.
    pub fn name(self) -> &'static str {
        match self {
            DocKind::Calendar => "calendar",
            DocKind::Directory => "directory",
            DocKind::Ledger => "ledger",
            DocKind::RequestBook => "requests",
        }
    }

    /// Parse [`DocKind::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        [
            DocKind::Calendar,
            DocKind::Directory,
            DocKind::Ledger,
            DocKind::RequestBook,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// What every document says about itself at its root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The document kind.
    pub kind: DocKind,
    /// Schema version it was written with.
    pub version: u64,
    /// The hall it belongs to.
    pub hall_id: String,
    /// The writing kiosk (ledgers and request books).
    pub kiosk_id: Option<String>,
    /// The day (`2026-11-23`) or month (`2026-11`) it covers.
    pub period: Option<String>,
}

/// Read and check a document's header. An empty document (not yet synced)
/// or one of another schema is an error naming what was found.
pub fn header(doc: &Automerge) -> Result<Header> {
    let schema = read_str(doc, &ROOT, "schema")?
        .ok_or_else(|| schema_err("document", "no schema at its root (empty or foreign)"))?;
    let kind = [
        DocKind::Calendar,
        DocKind::Directory,
        DocKind::Ledger,
        DocKind::RequestBook,
    ]
    .into_iter()
    .find(|k| k.schema() == schema)
    .ok_or_else(|| schema_err("document", format!("unknown schema {schema:?}")))?;
    let version =
        read_u64(doc, &ROOT, "version")?.ok_or_else(|| schema_err(kind.name(), "no version"))?;
    if version > SCHEMA_VERSION {
        return Err(schema_err(
            kind.name(),
            format!(
                "written with schema version {version}, this build reads up to {SCHEMA_VERSION}: update"
            ),
        ));
    }
    let hall_id =
        read_str(doc, &ROOT, "hall_id")?.ok_or_else(|| schema_err(kind.name(), "no hall_id"))?;
    Ok(Header {
        kind,
        version,
        hall_id,
        kiosk_id: read_str(doc, &ROOT, "kiosk_id")?,
        period: read_str(doc, &ROOT, "period")?,
    })
}

fn schema_err(doc: &str, reason: impl Into<String>) -> Error {
    Error::Schema {
        doc: doc.to_string(),
        reason: reason.into(),
    }
}

/// Make a new document of `kind` with its header and empty record maps, in
/// one change.
pub(crate) fn new_doc(
    kind: DocKind,
    hall_id: &str,
    kiosk_id: Option<&str>,
    period: Option<&str>,
    maps: &[&str],
    extra: &[(&str, &str)],
) -> Result<Automerge> {
    let mut doc = Automerge::new();
    doc.transact::<_, _, automerge::AutomergeError>(|tx| {
        tx.put(ROOT, "schema", kind.schema())?;
        tx.put(ROOT, "version", SCHEMA_VERSION)?;
        tx.put(ROOT, "hall_id", hall_id)?;
        if let Some(k) = kiosk_id {
            tx.put(ROOT, "kiosk_id", k)?;
        }
        if let Some(p) = period {
            tx.put(ROOT, "period", p)?;
        }
        for (k, v) in extra {
            tx.put(ROOT, *k, *v)?;
        }
        for m in maps {
            tx.put_object(ROOT, *m, ObjType::Map)?;
        }
        Ok(())
    })
    .map_err(|f| f.error)?;
    Ok(doc)
}

/// The id of the record map `name` at the root.
pub(crate) fn map_obj(doc: &Automerge, name: &str) -> Result<ObjId> {
    match doc.get(ROOT, name)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        Some(_) => Err(schema_err(name, "is not a map")),
        None => Err(schema_err(name, "record map missing")),
    }
}

/// Write one record as one change.
pub(crate) fn put_record<T: Reconcile>(
    doc: &mut Automerge,
    map: &str,
    id: &str,
    value: &T,
) -> Result<()> {
    let obj = map_obj(doc, map)?;
    let mut tx = doc.transaction();
    if let Err(e) = autosurgeon::reconcile_prop(&mut tx, &obj, id, value) {
        tx.rollback();
        return Err(e.into());
    }
    tx.commit();
    Ok(())
}

/// True when the record map `map` has `id`.
pub(crate) fn has_record(doc: &Automerge, map: &str, id: &str) -> Result<bool> {
    let obj = map_obj(doc, map)?;
    Ok(doc.get(&obj, id)?.is_some())
}

/// Read one record; `Ok(None)` when absent, `Err` when it does not fit `T`.
pub(crate) fn read_record<T: Hydrate>(doc: &Automerge, map: &str, id: &str) -> Result<Option<T>> {
    let obj = map_obj(doc, map)?;
    if doc.get(&obj, id)?.is_none() {
        return Ok(None);
    }
    autosurgeon::hydrate_prop(doc, &obj, id)
        .map(Some)
        .map_err(|e| schema_err(map, format!("record {id}: {e}")))
}

/// Every key of the record map `map`.
pub(crate) fn record_keys(doc: &Automerge, map: &str) -> Result<Vec<String>> {
    let obj = map_obj(doc, map)?;
    Ok(doc.keys(&obj).collect())
}

/// Number of records in `map`.
pub fn record_count(doc: &Automerge, map: &str) -> Result<usize> {
    let obj = map_obj(doc, map)?;
    Ok(doc.length(&obj))
}

/// Which records of which maps changed between `before` and the current
/// heads. `before` empty means "everything". This is how the server's
/// projection stays incremental: it never re-reads unchanged records.
pub fn changed_records(
    doc: &Automerge,
    before: &[ChangeHash],
) -> BTreeMap<String, BTreeSet<String>> {
    let after = doc.get_heads();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for patch in doc.diff(before, &after) {
        let map_name = match patch.path.first() {
            Some((_, automerge::Prop::Map(name))) => name.clone(),
            Some(_) => continue,
            None => {
                // A change at the root: a record map itself was (re)put.
                if let automerge::PatchAction::PutMap { key, .. } = &patch.action {
                    out.entry(key.clone()).or_default();
                }
                continue;
            }
        };
        let key = match (patch.path.get(1), &patch.action) {
            (Some((_, automerge::Prop::Map(k))), _) => k.clone(),
            (None, automerge::PatchAction::PutMap { key, .. }) => key.clone(),
            (None, automerge::PatchAction::DeleteMap { key }) => key.clone(),
            _ => continue,
        };
        out.entry(map_name).or_default().insert(key);
    }
    out
}

/// Read a string at `obj[key]` (a scalar, or a Text object as the
/// JavaScript implementation writes); `Ok(None)` when absent.
pub(crate) fn read_str(doc: &Automerge, obj: &ObjId, key: &str) -> Result<Option<String>> {
    match doc.get(obj, key)? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Str(s) => Ok(Some(s.to_string())),
            _ => Err(schema_err(key, "is not text")),
        },
        Some((Value::Object(ObjType::Text), id)) => Ok(Some(doc.text(&id)?)),
        Some(_) => Err(schema_err(key, "is not text")),
        None => Ok(None),
    }
}

/// Read an integer at `obj[key]`; `Ok(None)` when absent.
pub(crate) fn read_i64(doc: &Automerge, obj: &ObjId, key: &str) -> Result<Option<i64>> {
    match doc.get(obj, key)? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Int(i) => Ok(Some(*i)),
            ScalarValue::Uint(u) => i64::try_from(*u)
                .map(Some)
                .map_err(|_| schema_err(key, "out of range")),
            ScalarValue::Timestamp(t) => Ok(Some(*t)),
            _ => Err(schema_err(key, "is not a number")),
        },
        Some(_) => Err(schema_err(key, "is not a number")),
        None => Ok(None),
    }
}

fn read_u64(doc: &Automerge, obj: &ObjId, key: &str) -> Result<Option<u64>> {
    read_i64(doc, obj, key)?
        .map(|i| u64::try_from(i).map_err(|_| schema_err(key, "is negative")))
        .transpose()
}

/// Check that a document is of `kind` for `hall_id` (and `kiosk_id`, when
/// given) before writing to it.
pub fn expect_header(
    doc: &Automerge,
    kind: DocKind,
    hall_id: &str,
    kiosk_id: Option<&str>,
) -> Result<Header> {
    let h = header(doc)?;
    if h.kind != kind {
        return Err(schema_err(
            kind.name(),
            format!("is a {} document", h.kind.name()),
        ));
    }
    if h.hall_id != hall_id {
        return Err(schema_err(kind.name(), "belongs to another hall"));
    }
    if let Some(k) = kiosk_id
        && h.kiosk_id.as_deref() != Some(k)
    {
        return Err(schema_err(kind.name(), "belongs to another kiosk"));
    }
    Ok(h)
}
