//! Reading one record in one walk of its map.
//!
//! autosurgeon reads a struct field by field, and every `get` on an
//! Automerge document seeks through the document's operation columns: on
//! a day's ledger of 10,000 check-ins a record read that way took about
//! 20 µs, and it was the largest single cost of projecting a reconnecting
//! kiosk's ledger on the server (a third of it, under `perf`). One
//! `map_range` over the record's own map reads all its fields in one pass,
//! about 4 µs. [`RecordView`] answers autosurgeon's `get`s on a map from
//! one such walk, made the first time that map is asked about, and passes
//! everything else to the document — so the record is read by the same
//! derived code, with the same rules, as before.

use std::{cell::RefCell, collections::HashMap, ops::RangeBounds};

use automerge::{Automerge, AutomergeError, ObjId, ObjType, Prop, Value};

/// The fields of one map: key, winning value, and the id `get` gives.
type Fields = Vec<(String, Value<'static>, ObjId)>;

/// A read-only view of `doc` for hydrating one record of the record map
/// `records`: the record's own map, and the maps inside it, are each read
/// once. `records` itself (thousands of keys) is never walked: `get`s on
/// it go to the document.
pub(crate) struct RecordView<'a> {
    doc: &'a Automerge,
    records: &'a ObjId,
    maps: RefCell<HashMap<ObjId, std::rc::Rc<Fields>>>,
}

impl<'a> RecordView<'a> {
    pub(crate) fn new(doc: &'a Automerge, records: &'a ObjId) -> Self {
        Self {
            doc,
            records,
            maps: RefCell::new(HashMap::new()),
        }
    }

    /// The fields of map `obj`, walked the first time; `None` when `obj`
    /// is not a map (or is the record map itself).
    fn fields(&self, obj: &ObjId) -> Option<std::rc::Rc<Fields>> {
        if obj == self.records {
            return None;
        }
        if let Some(f) = self.maps.borrow().get(obj) {
            return Some(f.clone());
        }
        if !matches!(
            automerge::ReadDoc::object_type(self.doc, obj),
            Ok(ObjType::Map)
        ) {
            return None;
        }
        let fields: Fields = automerge::ReadDoc::map_range(self.doc, obj, ..)
            .map(|item| {
                let id = item.id();
                (item.key.into_owned(), item.value.into_value(), id)
            })
            .collect();
        let fields = std::rc::Rc::new(fields);
        self.maps.borrow_mut().insert(obj.clone(), fields.clone());
        Some(fields)
    }
}

impl autosurgeon::ReadDoc for RecordView<'_> {
    type Parents<'b>
        = automerge::Parents<'b>
    where
        Self: 'b;

    fn get_heads(&self) -> Vec<automerge::ChangeHash> {
        self.doc.get_heads()
    }

    fn get<P: Into<Prop>>(
        &self,
        obj: &ObjId,
        prop: P,
    ) -> Result<Option<(Value<'_>, ObjId)>, AutomergeError> {
        let prop = prop.into();
        if let Prop::Map(key) = &prop
            && let Some(fields) = self.fields(obj)
        {
            return Ok(fields
                .iter()
                .find(|(k, _, _)| k == key)
                .map(|(_, v, id)| (v.clone(), id.clone())));
        }
        automerge::ReadDoc::get(self.doc, obj, prop)
    }

    fn object_type<O: AsRef<ObjId>>(&self, obj: O) -> Option<ObjType> {
        automerge::ReadDoc::object_type(self.doc, obj).ok()
    }

    fn map_range<'b, O, R>(&'b self, obj: O, range: R) -> automerge::iter::MapRange<'b>
    where
        R: RangeBounds<String> + 'b,
        O: AsRef<ObjId>,
        R: RangeBounds<String>,
    {
        automerge::ReadDoc::map_range(self.doc, obj, range)
    }

    fn list_range<O: AsRef<ObjId>, R: RangeBounds<usize>>(
        &self,
        obj: O,
        range: R,
    ) -> automerge::iter::ListRange<'_> {
        automerge::ReadDoc::list_range(self.doc, obj, range)
    }

    fn length<O: AsRef<ObjId>>(&self, obj: O) -> usize {
        automerge::ReadDoc::length(self.doc, obj)
    }

    fn text<O: AsRef<ObjId>>(&self, obj: O) -> Result<String, AutomergeError> {
        automerge::ReadDoc::text(self.doc, obj)
    }

    fn parents<O: AsRef<ObjId>>(&self, obj: O) -> Result<Self::Parents<'_>, AutomergeError> {
        automerge::ReadDoc::parents(self.doc, obj)
    }

    fn is_empty(&self) -> bool {
        automerge::ReadDoc::keys(self.doc, automerge::ROOT)
            .next()
            .is_none()
    }
}

#[cfg(test)]
mod tests {
    use automerge::{ActorId, ROOT, ReadDoc, ScalarValue, transaction::Transactable};

    use super::*;
    use crate::{
        docs::ledger::{self, CHECKINS, SHIFTS},
        model::{CheckIn, ShiftEvent},
    };

    /// Read record `id` of `map` both ways: as `read_record` does, through
    /// the view, and field by field from the document with autosurgeon
    /// alone. They must agree: the same value, or both an error.
    fn both<T: autosurgeon::Hydrate + PartialEq + std::fmt::Debug>(
        doc: &Automerge,
        map: &str,
        id: &str,
    ) -> Result<T, String> {
        let (_, records) = doc.get(ROOT, map).expect("get").expect("map");
        let direct: Result<Option<T>, _> = match doc.get(&records, id).expect("get") {
            None => Ok(None),
            Some(_) => autosurgeon::hydrate_prop(doc, &records, id).map(Some),
        };
        let viewed = crate::docs::read_record::<T>(doc, map, id);
        match (direct, viewed) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "record {id}");
                a.ok_or_else(|| "absent".to_string())
            }
            (Err(a), Err(b)) => {
                let (a, b) = (a.to_string(), b.to_string());
                assert!(b.contains(&a), "record {id}: {a:?} vs {b:?}");
                Err(a)
            }
            (a, b) => panic!("record {id}: the two reads disagree: {a:?} vs {b:?}"),
        }
    }

    /// A ledger with records of every shape the readers meet (see the
    /// numbered comments), and the ids of the first eight.
    fn mixed_ledger() -> (Automerge, Vec<String>) {
        let mut doc = ledger::new_ledger("h", "k", "2026-12-06").expect("ledger");
        let ids: Vec<String> = (1..=8)
            .map(|i| format!("019ab000-0000-7000-8000-00000000000{i}"))
            .collect();
        doc.transact::<_, _, AutomergeError>(|tx| {
            let (_, checkins) = tx.get(ROOT, CHECKINS)?.expect("checkins");
            let (_, shifts) = tx.get(ROOT, SHIFTS)?.expect("shifts");
            // 1: as Rust writes it: scalars, unsigned counts, a resident.
            let c = tx.put_object(&checkins, &ids[0], ObjType::Map)?;
            tx.put(&c, "activity_id", "act")?;
            tx.put(&c, "headcount", 1u64)?;
            tx.put(&c, "companions", 2u64)?;
            tx.put(&c, "kiosk_id", "k")?;
            tx.put(&c, "at_ms", 1_764_979_200_000i64)?;
            let r = tx.put_object(&c, "resident", ObjType::Map)?;
            tx.put(&r, "pseudonym", "ab".repeat(32))?;
            tx.put(&r, "sealed", "c2VhbGVk")?;
            tx.put(&r, "name_box", ScalarValue::Null)?;
            // 2: as JavaScript writes it: Text strings, signed counts, a
            // null resident and no `service` key at all.
            let c = tx.put_object(&checkins, &ids[1], ObjType::Map)?;
            let t = tx.put_object(&c, "activity_id", ObjType::Text)?;
            tx.splice_text(&t, 0, 0, "活动")?;
            tx.put(&c, "headcount", 3i64)?;
            tx.put(&c, "companions", 0i64)?;
            tx.put(&c, "resident", ScalarValue::Null)?;
            let t = tx.put_object(&c, "kiosk_id", ObjType::Text)?;
            tx.splice_text(&t, 0, 0, "k")?;
            tx.put(&c, "at_ms", 1_764_979_200_000i64)?;
            // 3: a count out of range; 4: a field missing; 5: a field of the
            // wrong type; 6: not a map at all.
            for (i, bad) in [(2, "headcount"), (3, "kiosk_id"), (4, "at_ms")] {
                let c = tx.put_object(&checkins, &ids[i], ObjType::Map)?;
                tx.put(&c, "activity_id", "act")?;
                tx.put(&c, "headcount", if bad == "headcount" { -1i64 } else { 1 })?;
                tx.put(&c, "companions", 0u64)?;
                if bad != "kiosk_id" {
                    tx.put(&c, "kiosk_id", "k")?;
                }
                if bad == "at_ms" {
                    tx.put(&c, "at_ms", "yesterday")?;
                } else {
                    tx.put(&c, "at_ms", 1i64)?;
                }
            }
            tx.put(&checkins, &ids[5], "just a string")?;
            // 7: a shift event: the volunteer is a nested map.
            let s = tx.put_object(&shifts, &ids[6], ObjType::Map)?;
            let v = tx.put_object(&s, "volunteer", ObjType::Map)?;
            tx.put(&v, "pseudonym", "cd".repeat(32))?;
            tx.put(&v, "sealed", "c2VhbGVk")?;
            tx.put(&s, "action", "in")?;
            tx.put(&s, "shift_id", "shift")?;
            tx.put(&s, "kiosk_id", "k")?;
            tx.put(&s, "at_ms", 5i64)?;
            Ok(())
        })
        .expect("write");
        // 8: written by two kiosks at once: a conflict, whose winner both
        // reads must pick alike.
        let mut other = doc.fork().with_actor(ActorId::from(vec![0xff; 16]));
        for (d, companions) in [(&mut doc, 4u64), (&mut other, 5u64)] {
            d.transact::<_, _, AutomergeError>(|tx| {
                let (_, checkins) = tx.get(ROOT, CHECKINS)?.expect("checkins");
                let (_, c) = tx.get(&checkins, &ids[0])?.expect("record");
                tx.put(&c, "companions", companions)?;
                Ok(())
            })
            .expect("conflicting write");
        }
        doc.merge(&mut other).expect("merge");
        (doc, ids)
    }

    #[test]
    fn a_record_read_through_the_view_is_the_record_read_field_by_field() {
        let (doc, ids) = mixed_ledger();
        let rust: CheckIn = both(&doc, CHECKINS, &ids[0]).expect("rust record");
        assert!(rust.resident.is_some());
        assert_eq!(rust.companions, 5, "the later actor's write wins");
        let js: CheckIn = both(&doc, CHECKINS, &ids[1]).expect("js record");
        assert_eq!((js.activity_id.as_str(), js.headcount), ("活动", 3));
        assert_eq!((js.service, js.resident), (None, None));
        for bad in &ids[2..6] {
            both::<CheckIn>(&doc, CHECKINS, bad).expect_err("a record that does not fit");
        }
        let shift: ShiftEvent = both(&doc, SHIFTS, &ids[6]).expect("shift");
        assert_eq!(shift.volunteer.pseudonym, "cd".repeat(32));
        assert_eq!(
            both::<CheckIn>(&doc, CHECKINS, &ids[7]),
            Err("absent".to_string())
        );
    }

    #[test]
    fn records_read_together_are_the_records_read_one_by_one() {
        let (mut doc, ids) = mixed_ledger();
        // Enough plain check-ins that reading many walks the map.
        for i in 0..150u32 {
            let c = CheckIn {
                activity_id: format!("act-{i}"),
                service: None,
                headcount: 1,
                companions: i % 3,
                resident: None,
                kiosk_id: "k".into(),
                at_ms: i64::from(i),
            };
            let id = format!("019ab000-0000-7000-8000-1{i:011}");
            ledger::add_checkin(&mut doc, &id, &c).expect("add");
        }
        let one_by_one = |wanted: &std::collections::BTreeSet<String>| -> Vec<(String, String)> {
            wanted
                .iter()
                .map(|id| {
                    let read = crate::docs::read_record::<CheckIn>(&doc, CHECKINS, id);
                    (id.clone(), format!("{read:?}"))
                })
                .collect()
        };
        let mut all: std::collections::BTreeSet<String> = ledger::checkin_ids(&doc)
            .expect("ids")
            .into_iter()
            .collect();
        // Ids the ledger lacks: before the first, between two, after the last.
        all.insert("0".into());
        all.insert("019ab000-0000-7000-8000-10000000000a".into());
        all.insert("zzz".into());
        // A shift event's id, and one never written.
        all.extend(ids[6..8].iter().cloned());
        let few: std::collections::BTreeSet<String> = ids[..7].iter().cloned().collect();
        assert!(few.len() < crate::docs::WALK_FROM && all.len() > crate::docs::WALK_FROM);
        for wanted in [&all, &few] {
            let together: Vec<(String, String)> = ledger::checkins(&doc, wanted)
                .expect("read")
                .into_iter()
                .map(|(id, read)| (id, format!("{read:?}")))
                .collect();
            assert_eq!(together, one_by_one(wanted));
        }
        let absent = ledger::checkins(&doc, &all).expect("read");
        assert_eq!(
            absent.iter().filter(|(_, r)| matches!(r, Ok(None))).count(),
            5,
            "four ids never written, and one of a record in the shifts map"
        );
        assert_eq!(
            absent.iter().filter(|(_, r)| r.is_err()).count(),
            4,
            "the four records that do not fit are errors"
        );
    }
}
