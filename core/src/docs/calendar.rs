//! The hall calendar: hall settings and activities. Written by the server
//! (the admin console publishes it); kiosks have it read-only.

use automerge::{Automerge, ROOT, transaction::Transactable};

use super::{DocKind, new_doc, put_record, read_record, read_str, record_keys};
use crate::{Result, model::Activity};

const ACTIVITIES: &str = "activities";

/// A new, empty calendar for a hall.
pub fn new_calendar(hall_id: &str, hall_name: &str, tz: &str) -> Result<Automerge> {
    new_doc(
        DocKind::Calendar,
        hall_id,
        None,
        None,
        &[ACTIVITIES],
        &[("hall_name", hall_name), ("tz", tz)],
    )
}

/// The hall's display name.
pub fn hall_name(doc: &Automerge) -> Result<Option<String>> {
    read_str(doc, &ROOT, "hall_name")
}

/// The hall's IANA time zone (default Asia/Shanghai).
pub fn time_zone(doc: &Automerge) -> Result<String> {
    Ok(read_str(doc, &ROOT, "tz")?.unwrap_or_else(|| "Asia/Shanghai".to_string()))
}

/// Rename the hall.
pub fn set_hall_name(doc: &mut Automerge, name: &str) -> Result<()> {
    doc.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "hall_name", name))
        .map_err(|f| f.error)?;
    Ok(())
}

/// Add or replace an activity (one change). Validates first.
pub fn put_activity(doc: &mut Automerge, id: &str, activity: &Activity) -> Result<()> {
    activity.validate()?;
    put_record(doc, ACTIVITIES, id, activity)
}

/// One activity.
pub fn activity(doc: &Automerge, id: &str) -> Result<Option<Activity>> {
    read_record(doc, ACTIVITIES, id)
}

/// Every activity that reads cleanly, sorted by start time. Activities
/// that do not fit the schema are skipped (the server never writes them).
pub fn activities(doc: &Automerge) -> Result<Vec<(String, Activity)>> {
    let mut out = Vec::new();
    for id in record_keys(doc, ACTIVITIES)? {
        if let Ok(Some(a)) = read_record::<Activity>(doc, ACTIVITIES, &id) {
            out.push((id, a));
        }
    }
    out.sort_by_key(|(id, a)| (a.starts_at_ms, id.clone()));
    Ok(out)
}
