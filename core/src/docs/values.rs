//! Reading values written by any automerge-repo peer. Rust writers (and
//! autosurgeon) store short strings as scalars and counts as unsigned
//! integers; the JavaScript `@automerge/automerge` stores plain JS strings
//! as collaborative Text objects and whole numbers as signed integers.
//! Both mean the same to Linli, so record fields accept either.

use automerge::ObjId;
use autosurgeon::{Hydrate, HydrateError, MaybeMissing, Prop, ReadDoc};

/// An optional field: null and a key that is not there at all (a writer
/// that predates the field, or one that leaves out what it has not got)
/// both read as `None`.
fn optional<D: ReadDoc, T: Hydrate>(
    doc: &D,
    obj: &ObjId,
    prop: Prop<'_>,
) -> Result<Option<T>, HydrateError> {
    Ok(match MaybeMissing::<Option<T>>::hydrate(doc, obj, prop)? {
        MaybeMissing::Missing => None,
        MaybeMissing::Present(v) => v,
    })
}

/// An optional field of any kind (null or missing is `None`): a field
/// added to a record after documents without it were written.
pub fn opt<D: ReadDoc, T: Hydrate>(
    doc: &D,
    obj: &ObjId,
    prop: Prop<'_>,
) -> Result<Option<T>, HydrateError> {
    optional(doc, obj, prop)
}

/// A field added to a record after documents without it were written,
/// whose absence means its default (an empty map, say).
pub fn or_default<D: ReadDoc, T: Hydrate + Default>(
    doc: &D,
    obj: &ObjId,
    prop: Prop<'_>,
) -> Result<T, HydrateError> {
    Ok(match MaybeMissing::<T>::hydrate(doc, obj, prop)? {
        MaybeMissing::Missing => T::default(),
        MaybeMissing::Present(v) => v,
    })
}

struct StrOrText(String);

impl Hydrate for StrOrText {
    fn hydrate_string(s: &'_ str) -> Result<Self, HydrateError> {
        Ok(StrOrText(s.to_string()))
    }

    fn hydrate_text<D: ReadDoc>(doc: &D, obj: &ObjId) -> Result<Self, HydrateError> {
        doc.text(obj)
            .map(StrOrText)
            .map_err(|e| HydrateError::unexpected("text", e.to_string()))
    }
}

/// A string field, scalar or Text.
pub fn string<D: ReadDoc>(doc: &D, obj: &ObjId, prop: Prop<'_>) -> Result<String, HydrateError> {
    Ok(StrOrText::hydrate(doc, obj, prop)?.0)
}

/// An optional string field, scalar or Text (null or missing is `None`).
pub fn opt_string<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    prop: Prop<'_>,
) -> Result<Option<String>, HydrateError> {
    Ok(optional::<D, StrOrText>(doc, obj, prop)?.map(|s| s.0))
}

struct Count(u32);

impl Hydrate for Count {
    fn hydrate_uint(u: u64) -> Result<Self, HydrateError> {
        u32::try_from(u)
            .map(Count)
            .map_err(|_| HydrateError::unexpected("a count", format!("{u}")))
    }

    fn hydrate_int(i: i64) -> Result<Self, HydrateError> {
        u32::try_from(i)
            .map(Count)
            .map_err(|_| HydrateError::unexpected("a count", format!("{i}")))
    }
}

/// A count (signed or unsigned integer, 0 to `u32::MAX`).
pub fn count<D: ReadDoc>(doc: &D, obj: &ObjId, prop: Prop<'_>) -> Result<u32, HydrateError> {
    Ok(Count::hydrate(doc, obj, prop)?.0)
}

/// An optional count (null or missing is `None`).
pub fn opt_count<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    prop: Prop<'_>,
) -> Result<Option<u32>, HydrateError> {
    Ok(optional::<D, Count>(doc, obj, prop)?.map(|c| c.0))
}
