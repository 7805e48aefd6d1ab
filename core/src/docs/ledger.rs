//! A kiosk's day ledger: its check-ins, ratings and volunteer shift events
//! for one local day. One writer (that kiosk), so no two kiosks ever fight
//! over it, and a closed day never changes again.

use automerge::Automerge;

use super::{DocKind, has_record, new_doc, put_record, read_record, record_keys};
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

/// Ids of every check-in.
pub fn checkin_ids(doc: &Automerge) -> Result<Vec<String>> {
    record_keys(doc, CHECKINS)
}
