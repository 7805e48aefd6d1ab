//! Typed read/write of Linli's document kinds (DESIGN.md decision 3).
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
//! - [`points`]: a hall's grants of points and stock, and each kiosk
//!   store's spends (redemption at the 爱心超市).
//! - [`erase`]: a kiosk document rebuilt without one resident.
//! - [`upgrade`]: a version-1 kiosk document converted to this version.
//! - [`values`]: strings and counts as whichever peer wrote them.

pub mod calendar;
pub mod directory;
pub mod erase;
pub mod erase_points;
pub mod ledger;
pub mod points;
mod record_view;
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

/// The kinds of Linli document.
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
    /// A hall's grants of points and stock to its kiosks' stores (the
    /// server writes, kiosks read; [`points`]).
    Grants,
    /// One kiosk store's spends ([`points`]).
    Spends,
}

/// Every kind.
const KINDS: [DocKind; 6] = [
    DocKind::Calendar,
    DocKind::Directory,
    DocKind::Ledger,
    DocKind::RequestBook,
    DocKind::Grants,
    DocKind::Spends,
];

impl DocKind {
    /// The `schema` value stored at the document root.
    pub fn schema(self) -> &'static str {
        match self {
            DocKind::Calendar => "linli.calendar",
            DocKind::Directory => "linli.directory",
            DocKind::Ledger => "linli.ledger",
            DocKind::RequestBook => "linli.requests",
            DocKind::Grants => points::GRANTS_SCHEMA,
            DocKind::Spends => points::SPENDS_SCHEMA,
        }
    }

    /// The short name used in logs and the server's tables.
    pub fn name(self) -> &'static str {
        match self {
            DocKind::Calendar => "calendar",
            DocKind::Directory => "directory",
            DocKind::Ledger => "ledger",
            DocKind::RequestBook => "requests",
            DocKind::Grants => "grants",
            DocKind::Spends => "spends",
        }
    }

    /// Parse [`DocKind::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        KINDS.into_iter().find(|k| k.name() == s)
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
    let kind = KINDS
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
    let view = record_view::RecordView::new(doc, &obj);
    let hydrated = match doc.get(&obj, id)? {
        None => return Ok(None),
        // What `hydrate_prop` does with a map, without looking the record
        // up in its (large) record map a second time.
        Some((Value::Object(ObjType::Map), record)) => T::hydrate_map(&view, &record),
        Some(_) => autosurgeon::hydrate_prop(&view, &obj, id),
    };
    hydrated
        .map(Some)
        .map_err(|e| schema_err(map, format!("record {id}: {e}")))
}

/// From how many ids [`read_records`] walks the record map instead of
/// looking each one up: a walk reads every record of the map, a look-up
/// seeks through the document's operations (about 8 µs on a 10,000-record
/// ledger), so a walk pays off well before a tenth of a day's records.
const WALK_FROM: usize = 64;

/// The records `ids` of the record map `map`, each read as [`read_record`]
/// reads it, in key order, `None` for an id the map lacks. A kiosk
/// reconnecting delivers a day's ledger at once: its records are found in
/// one walk of the map.
pub(crate) fn read_records<T: Hydrate>(
    doc: &Automerge,
    map: &str,
    ids: &BTreeSet<String>,
) -> Result<Vec<(String, Result<Option<T>>)>> {
    if ids.len() < WALK_FROM {
        return Ok(ids
            .iter()
            .map(|id| (id.clone(), read_record(doc, map, id)))
            .collect());
    }
    let obj = map_obj(doc, map)?;
    let mut out = Vec::with_capacity(ids.len());
    let mut wanted = ids.iter().peekable();
    for item in doc.map_range(&obj, ..) {
        // Ids the map lacks, up to this key.
        while let Some(id) = wanted.next_if(|id| id.as_str() < item.key.as_ref()) {
            out.push((id.clone(), Ok(None)));
        }
        if wanted
            .next_if(|id| id.as_str() == item.key.as_ref())
            .is_none()
        {
            continue;
        }
        let id = item.key.to_string();
        let view = record_view::RecordView::new(doc, &obj);
        let hydrated = match item.value {
            automerge::ValueRef::Object(ObjType::Map) => T::hydrate_map(&view, &item.id()),
            _ => autosurgeon::hydrate_prop(&view, &obj, id.as_str()),
        };
        let read = hydrated
            .map(Some)
            .map_err(|e| schema_err(map, format!("record {id}: {e}")));
        out.push((id, read));
    }
    out.extend(wanted.map(|id| (id.clone(), Ok(None))));
    Ok(out)
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
///
/// Read from the operations of the changes since `before`, not from a
/// diff of the two states: a diff walks the whole document (on a day's
/// ledger it was a third of the server's CPU under connected load), the
/// operations are only what arrived. An operation names its object and
/// key; the object's path from the root tells the map and the record. The
/// result can name a record that ends up as it was (an edit undone, a
/// record deleted again): the reader finds it unchanged or absent.
pub fn changed_records(
    doc: &Automerge,
    before: &[ChangeHash],
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if before.is_empty() {
        for item in doc.map_range(ROOT, ..) {
            let keys = out.entry(item.key.to_string()).or_default();
            if let (automerge::ValueRef::Object(ObjType::Map), id) = (&item.value, item.id()) {
                keys.extend(doc.keys(&id));
            }
        }
        return out;
    }
    // Where each object touched sits: its record map and record key, or
    // `None` for an object that is not under a record map at the root.
    let mut places: std::collections::HashMap<String, Option<(String, Option<String>)>> =
        std::collections::HashMap::new();
    for change in doc.get_changes(before) {
        for op in change.decode().operations {
            let key = match &op.key {
                automerge::legacy::Key::Map(k) => Some(k.to_string()),
                automerge::legacy::Key::Seq(_) => None,
            };
            let obj = match &op.obj {
                automerge::legacy::ObjectId::Root => {
                    if let Some(map) = key {
                        // A map itself (re)put at the root.
                        out.entry(map).or_default();
                    }
                    continue;
                }
                automerge::legacy::ObjectId::Id(id) => id.to_string(),
            };
            let place = places
                .entry(obj)
                .or_insert_with_key(|obj| place_of(doc, obj))
                .clone();
            match place {
                Some((map, Some(record))) => {
                    out.entry(map).or_default().insert(record);
                }
                Some((map, None)) => {
                    if let Some(record) = key {
                        out.entry(map).or_default().insert(record);
                    }
                }
                None => {}
            }
        }
    }
    out
}

/// The record map at the root that object `obj` ("counter@actor") is in,
/// and the record it is part of (`None` when `obj` is the record map
/// itself); `None` when it is not in a map at the root or not found.
fn place_of(doc: &Automerge, obj: &str) -> Option<(String, Option<String>)> {
    let id = doc.import_obj(obj).ok()?;
    let path = doc.parents(&id).ok()?.path();
    let map = match path.first() {
        Some((_, automerge::Prop::Map(map))) => map.clone(),
        _ => return None,
    };
    let record = match path.get(1) {
        Some((_, automerge::Prop::Map(record))) => Some(record.clone()),
        Some(_) => return None,
        None => None,
    };
    Some((map, record))
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use automerge::{
        ActorId, AutoCommit, Automerge, ChangeHash, ObjType, ROOT, ReadDoc,
        transaction::Transactable,
    };

    use super::changed_records;

    /// One edit a kiosk makes.
    type Edit = dyn Fn(&mut AutoCommit);

    /// What a diff of the two states says changed: the reference the
    /// operation walk must cover.
    fn by_diff(doc: &Automerge, before: &[ChangeHash]) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for patch in doc.diff(before, &doc.get_heads()) {
            let map = match patch.path.first() {
                Some((_, automerge::Prop::Map(name))) => name.clone(),
                Some(_) => continue,
                None => {
                    if let automerge::PatchAction::PutMap { key, .. } = &patch.action {
                        out.entry(key.clone()).or_default();
                    }
                    continue;
                }
            };
            let key = match (patch.path.get(1), &patch.action) {
                (Some((_, automerge::Prop::Map(k))), _) => k.clone(),
                (None, automerge::PatchAction::PutMap { key, .. })
                | (None, automerge::PatchAction::DeleteMap { key }) => key.clone(),
                _ => continue,
            };
            out.entry(map).or_default().insert(key);
        }
        out
    }

    fn record(d: &mut AutoCommit, map: &str, key: &str, n: i64) {
        let m = match d.get(ROOT, map).expect("get") {
            Some((_, id)) => id,
            None => d.put_object(ROOT, map, ObjType::Map).expect("map"),
        };
        let r = d.put_object(&m, key, ObjType::Map).expect("record");
        d.put(&r, "headcount", n).expect("put");
        let t = d.put_object(&r, "note", ObjType::Text).expect("text");
        d.splice_text(&t, 0, 0, "hi").expect("text");
    }

    fn field(d: &mut AutoCommit, map: &str, key: &str) -> automerge::ObjId {
        let (_, m) = d.get(ROOT, map).expect("get").expect("map");
        d.get(&m, key).expect("get").expect("record").1
    }

    #[test]
    fn the_records_named_by_new_operations_cover_what_a_diff_sees() {
        let mut a = AutoCommit::new().with_actor(ActorId::from(b"kiosk-a".as_slice()));
        a.put(ROOT, "schema", "linli.ledger").expect("put");
        record(&mut a, "checkins", "c1", 1);
        record(&mut a, "checkins", "c2", 1);
        record(&mut a, "ratings", "r1", 4);
        let doc = a.document().clone();
        assert_eq!(changed_records(&doc, &[]), by_diff(&doc, &[]), "everything");

        let mut steps: Vec<(&str, Box<Edit>)> = vec![
            ("a new record", Box::new(|d| record(d, "checkins", "c3", 2))),
            (
                "a field of a record",
                Box::new(|d| {
                    let r = field(d, "checkins", "c1");
                    d.put(&r, "headcount", 5).expect("put");
                }),
            ),
            (
                "text deep in a record",
                Box::new(|d| {
                    let r = field(d, "ratings", "r1");
                    let (_, t) = d.get(&r, "note").expect("get").expect("note");
                    d.splice_text(&t, 1, 0, "!").expect("text");
                }),
            ),
            (
                "a deleted record",
                Box::new(|d| {
                    let (_, m) = d.get(ROOT, "checkins").expect("get").expect("map");
                    d.delete(&m, "c2").expect("delete");
                }),
            ),
            (
                "a map put at the root",
                Box::new(|d| {
                    d.put_object(ROOT, "shifts", ObjType::Map).expect("map");
                }),
            ),
        ];
        for (what, step) in steps.drain(..) {
            let before = a.get_heads();
            step(&mut a);
            let doc = a.document().clone();
            let (ops, diff) = (changed_records(&doc, &before), by_diff(&doc, &before));
            assert_eq!(ops, diff, "{what}");
        }

        // Two kiosks' edits merged: concurrent changes since a common head.
        let before = a.get_heads();
        let mut b = a.fork().with_actor(ActorId::from(b"kiosk-b".as_slice()));
        record(&mut b, "checkins", "c4", 1);
        let r = field(&mut a, "checkins", "c1");
        a.put(&r, "headcount", 7).expect("put");
        a.merge(&mut b).expect("merge");
        let doc = a.document().clone();
        let ops = changed_records(&doc, &before);
        assert_eq!(ops, by_diff(&doc, &before), "merged");
        assert_eq!(
            ops["checkins"],
            BTreeSet::from(["c1".to_string(), "c4".to_string()])
        );

        // An edit undone within the new changes: named, unchanged.
        let before = a.get_heads();
        let r = field(&mut a, "checkins", "c3");
        a.put(&r, "headcount", 9).expect("put");
        a.commit();
        a.put(&r, "headcount", 2).expect("put");
        let doc = a.document().clone();
        let ops = changed_records(&doc, &before);
        let diff = by_diff(&doc, &before);
        for (map, keys) in &diff {
            assert!(ops.get(map).is_some_and(|k| k.is_superset(keys)), "{map}");
        }
        assert!(ops["checkins"].contains("c3"));
    }
}
