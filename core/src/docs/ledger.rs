//! A kiosk's day ledger: its check-ins, ratings and volunteer shift events
//! for one local day. One writer (that kiosk), so no two kiosks ever fight
//! over it, and a closed day never changes again.

use std::collections::BTreeSet;

use automerge::Automerge;

use super::{DocKind, has_record, new_doc, put_record, read_record, read_records, record_keys};
use crate::{
    Result,
    model::{CheckIn, Rating, ShiftEvent},
};

/// Map of check-ins.
pub const CHECKINS: &str = "checkins";
/// Map of ratings.
pub const RATINGS: &str = "ratings";
/// Map of volunteer shift events.
pub const SHIFTS: &str = "shifts";

/// A new ledger for `kiosk_id` on local date `date` (`2026-11-23`).
pub fn new_ledger(hall_id: &str, kiosk_id: &str, date: &str) -> Result<Automerge> {
    new_doc(
        DocKind::Ledger,
        hall_id,
        Some(kiosk_id),
        Some(date),
        &[CHECKINS, RATINGS, SHIFTS],
        &[],
    )
}

/// Add a check-in (one change).
pub fn add_checkin(doc: &mut Automerge, id: &str, c: &CheckIn) -> Result<()> {
    c.validate()?;
    put_record(doc, CHECKINS, id, c)
}

/// Add a rating (one change).
pub fn add_rating(doc: &mut Automerge, id: &str, r: &Rating) -> Result<()> {
    r.validate()?;
    put_record(doc, RATINGS, id, r)
}

/// Add a shift event (one change).
pub fn add_shift_event(doc: &mut Automerge, id: &str, s: &ShiftEvent) -> Result<()> {
    s.validate()?;
    put_record(doc, SHIFTS, id, s)
}

/// True when the ledger already holds record `id` in `map`.
pub fn contains(doc: &Automerge, map: &str, id: &str) -> Result<bool> {
    has_record(doc, map, id)
}

/// One check-in; `Err` if it does not fit the schema.
pub fn checkin(doc: &Automerge, id: &str) -> Result<Option<CheckIn>> {
    read_record(doc, CHECKINS, id)
}

/// One rating.
pub fn rating(doc: &Automerge, id: &str) -> Result<Option<Rating>> {
    read_record(doc, RATINGS, id)
}

/// One shift event.
pub fn shift_event(doc: &Automerge, id: &str) -> Result<Option<ShiftEvent>> {
    read_record(doc, SHIFTS, id)
}

/// Records read several at a time: `(id, record)` in id order, `None`
/// for an id the ledger lacks, `Err` for one that does not fit the schema.
pub type Records<T> = Vec<(String, Result<Option<T>>)>;

/// The check-ins `ids` (one walk of the ledger when there are many).
pub fn checkins(doc: &Automerge, ids: &BTreeSet<String>) -> Result<Records<CheckIn>> {
    read_records(doc, CHECKINS, ids)
}

/// The ratings `ids`.
pub fn ratings(doc: &Automerge, ids: &BTreeSet<String>) -> Result<Records<Rating>> {
    read_records(doc, RATINGS, ids)
}

/// The shift events `ids`.
pub fn shift_events(doc: &Automerge, ids: &BTreeSet<String>) -> Result<Records<ShiftEvent>> {
    read_records(doc, SHIFTS, ids)
}

/// Ids of every check-in.
pub fn checkin_ids(doc: &Automerge) -> Result<Vec<String>> {
    record_keys(doc, CHECKINS)
}

#[cfg(test)]
mod tests {
    use automerge::{ObjType, ROOT, ReadDoc, ScalarValue, transaction::Transactable};

    use super::*;

    /// A check-in as a writer that predates walk-ins (or the JavaScript
    /// client, which leaves out what it has not got) writes it: no
    /// `service` key at all.
    #[test]
    fn a_checkin_without_a_service_key_reads_as_an_activity_checkin() {
        let mut doc = new_ledger("h", "k", "2026-12-04").expect("ledger");
        let id = "019ab000-0000-7000-8000-000000000001";
        doc.transact::<_, _, automerge::AutomergeError>(|tx| {
            let (_, map) = tx.get(ROOT, CHECKINS)?.expect("map");
            let c = tx.put_object(&map, id, ObjType::Map)?;
            tx.put(&c, "activity_id", "act")?;
            tx.put(&c, "resident", ScalarValue::Null)?;
            tx.put(&c, "headcount", 3_i64)?;
            tx.put(&c, "companions", 0_i64)?;
            tx.put(&c, "kiosk_id", "k")?;
            tx.put(&c, "at_ms", 1_i64)?;
            Ok(())
        })
        .expect("write");
        let c = checkin(&doc, id).expect("fits").expect("there");
        assert_eq!(c.service, None);
        assert!(!c.is_walk_in());
        assert!(c.validate().is_ok());
        assert_eq!(c.person_times(), 3);
    }

    #[test]
    fn a_walk_in_round_trips_through_the_ledger() {
        let mut doc = new_ledger("h", "k", "2026-12-04").expect("ledger");
        let c = CheckIn {
            activity_id: String::new(),
            service: Some("medical_insurance".into()),
            resident: None,
            headcount: 1,
            companions: 1,
            kiosk_id: "k".into(),
            at_ms: 5,
        };
        add_checkin(&mut doc, "w1", &c).expect("add");
        assert_eq!(checkin(&doc, "w1").expect("fits"), Some(c.clone()));
        let both = CheckIn {
            activity_id: "act".into(),
            ..c
        };
        assert!(add_checkin(&mut doc, "w2", &both).is_err(), "refused");
        assert!(!contains(&doc, CHECKINS, "w2").expect("read"));
        assert_eq!(
            super::super::record_count(&doc, CHECKINS).expect("count"),
            1
        );
    }
}
