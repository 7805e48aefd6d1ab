//! SQL over the projection for the JSON API.

use rusqlite::{Connection, params};
use serde::Serialize;

use linli_sync_engine::{Error, Result, residents::ServerResidents};

/// A projected check-in as the API shows it (masked phone only, from the
/// sealed contact the server opens).
#[derive(Debug, Serialize)]
pub struct CheckinRow {
    /// Record id.
    pub id: String,
    /// Kiosk.
    pub kiosk_id: String,
    /// Hall-local date.
    pub date: String,
    /// `activity`, or `walk_in` for a walk-in visit for a service.
    pub kind: &'static str,
    /// Activity (empty for a walk-in).
    pub activity_id: String,
    /// For a walk-in, the service's id (see `GET /api/v1/halls/{hall}/services`).
    pub service: Option<String>,
    /// Masked phone, for named check-ins.
    pub phone_masked: Option<String>,
    /// Short name, if given.
    pub name: Option<String>,
    /// People counted without names.
    pub headcount: u32,
    /// Companions.
    pub companions: u32,
    /// Kiosk clock, ms.
    pub kiosk_at_ms: i64,
    /// Server receive time, ms.
    pub received_ms: i64,
    /// Kiosk clock was ahead of the server's.
    pub clock_skew: bool,
}

/// The counts of [`checkins`]: every check-in in the range, not only
/// those returned.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CheckinCounts {
    /// Check-ins.
    pub count: u64,
    /// Person-times of all of them.
    pub person_times: u64,
    /// Person-times of walk-in visits among them.
    pub walk_in_person_times: u64,
}

/// Check-ins of a hall between two dates: their counts and the first rows.
pub fn checkins(
    c: &Connection,
    residents: &ServerResidents,
    hall: &str,
    from: Option<&str>,
    to: Option<&str>,
    limit: u32,
) -> Result<(CheckinCounts, Vec<CheckinRow>)> {
    let from = from.unwrap_or("0000-00-00");
    let to = to.unwrap_or("9999-99-99");
    let err = |e| Error::db("listing check-ins", e);
    let (count, pt, walk_ins): (i64, i64, i64) = c
        .query_row(
            "SELECT count(*), COALESCE(SUM(headcount + companions), 0),
                    COALESCE(SUM(CASE WHEN service IS NOT NULL THEN headcount + companions END), 0)
             FROM checkins WHERE hall_id = ?1 AND date BETWEEN ?2 AND ?3",
            params![hall, from, to],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(err)?;
    let mut stmt = c
        .prepare_cached(
            "SELECT record_id, kiosk_id, date, activity_id, phone_hash, sealed, headcount, companions,
                    kiosk_at_ms, received_ms, clock_skew, service
             FROM checkins WHERE hall_id = ?1 AND date BETWEEN ?2 AND ?3
             ORDER BY kiosk_at_ms, record_id LIMIT ?4",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map(params![hall, from, to, limit], |r| {
            let shown = residents.shown(
                r.get::<_, Option<String>>(4)?.as_deref(),
                r.get::<_, Option<String>>(5)?.as_deref(),
            );
            let service: Option<String> = r.get(11)?;
            Ok(CheckinRow {
                id: r.get(0)?,
                kiosk_id: r.get(1)?,
                date: r.get(2)?,
                kind: if service.is_some() {
                    "walk_in"
                } else {
                    "activity"
                },
                activity_id: r.get(3)?,
                service,
                phone_masked: shown.masked,
                name: shown.name,
                headcount: r.get(6)?,
                companions: r.get(7)?,
                kiosk_at_ms: r.get(8)?,
                received_ms: r.get(9)?,
                clock_skew: r.get(10)?,
            })
        })
        .map_err(err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(err)?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok((
        CheckinCounts {
            count: n(count),
            person_times: n(pt),
            walk_in_person_times: n(walk_ins),
        },
        rows,
    ))
}

/// A projected request as the API shows it.
#[derive(Debug, Serialize)]
pub struct RequestRow {
    /// Record id.
    pub id: String,
    /// Reference given to the resident.
    pub reference: String,
    /// Kiosk.
    pub kiosk_id: String,
    /// Category code.
    pub category: String,
    /// Text.
    pub text: String,
    /// Masked phone, if given.
    pub phone_masked: Option<String>,
    /// Callback wanted.
    pub callback_consent: bool,
    /// Status code.
    pub status: String,
    /// Staff reply.
    pub reply: Option<String>,
    /// Kiosk clock, ms.
    pub kiosk_at_ms: i64,
    /// Server receive time, ms.
    pub received_ms: i64,
}

/// Requests of a hall, newest first.
pub fn requests(
    c: &Connection,
    residents: &ServerResidents,
    hall: &str,
    status: Option<&str>,
) -> Result<Vec<RequestRow>> {
    let err = |e| Error::db("listing requests", e);
    let mut stmt = c
        .prepare_cached(
            "SELECT record_id, reference, kiosk_id, category, text, phone_hash, callback_consent, status, reply,
                    kiosk_at_ms, received_ms, sealed
             FROM requests WHERE hall_id = ?1 AND (?2 IS NULL OR status = ?2)
             ORDER BY kiosk_at_ms DESC, record_id DESC",
        )
        .map_err(err)?;
    stmt.query_map(params![hall, status], |r| {
        Ok(RequestRow {
            id: r.get(0)?,
            reference: r.get(1)?,
            kiosk_id: r.get(2)?,
            category: r.get(3)?,
            text: r.get(4)?,
            phone_masked: residents
                .shown(
                    r.get::<_, Option<String>>(5)?.as_deref(),
                    r.get::<_, Option<String>>(11)?.as_deref(),
                )
                .masked,
            callback_consent: r.get(6)?,
            status: r.get(7)?,
            reply: r.get(8)?,
            kiosk_at_ms: r.get(9)?,
            received_ms: r.get(10)?,
        })
    })
    .map_err(err)?
    .collect::<rusqlite::Result<Vec<_>>>()
    .map_err(err)
}

/// A quarantined document or record.
#[derive(Debug, Serialize)]
pub struct QuarantineRow {
    /// Document id.
    pub doc_id: String,
    /// Record (`map/key`), empty for the whole document.
    pub record_key: String,
    /// Delivering kiosk.
    pub kiosk_id: Option<String>,
    /// Why.
    pub reason: String,
    /// When, ms.
    pub at_ms: i64,
}

/// Quarantine of a hall.
pub fn quarantine(c: &Connection, hall: &str) -> Result<Vec<QuarantineRow>> {
    let err = |e| Error::db("listing quarantine", e);
    let mut stmt = c
        .prepare_cached(
            "SELECT doc_id, record_key, kiosk_id, reason, at_ms FROM quarantine WHERE hall_id = ?1 ORDER BY at_ms DESC",
        )
        .map_err(err)?;
    stmt.query_map([hall], |r| {
        Ok(QuarantineRow {
            doc_id: r.get(0)?,
            record_key: r.get(1)?,
            kiosk_id: r.get(2)?,
            reason: r.get(3)?,
            at_ms: r.get(4)?,
        })
    })
    .map_err(err)?
    .collect::<rusqlite::Result<Vec<_>>>()
    .map_err(err)
}

/// What one kiosk delivered since a moment (start of its hall's day).
#[derive(Debug, Default, Serialize)]
pub struct KioskDay {
    /// Records (check-ins, ratings, shift events, requests) received.
    pub records: i64,
    /// Records refused into quarantine (sync errors).
    pub sync_errors: i64,
    /// The latest refusal's reason, if any.
    pub last_error: Option<String>,
}

/// Records and sync errors of `kiosk` received since `since_ms`.
pub fn kiosk_day(c: &Connection, kiosk: &str, since_ms: i64) -> Result<KioskDay> {
    let err = |e| Error::db("counting a kiosk's records", e);
    let mut day = KioskDay::default();
    for table in ["checkins", "ratings", "shift_events", "requests"] {
        let n: i64 = c
            .prepare_cached(&format!(
                "SELECT count(*) FROM {table} WHERE kiosk_id = ?1 AND received_ms >= ?2"
            ))
            .and_then(|mut s| s.query_row(params![kiosk, since_ms], |r| r.get(0)))
            .map_err(err)?;
        day.records += n;
    }
    (day.sync_errors, day.last_error) = c
        .query_row(
            "SELECT count(*), (SELECT reason FROM quarantine WHERE kiosk_id = ?1 AND at_ms >= ?2
                               ORDER BY at_ms DESC LIMIT 1)
             FROM quarantine WHERE kiosk_id = ?1 AND at_ms >= ?2",
            params![kiosk, since_ms],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(err)?;
    Ok(day)
}
