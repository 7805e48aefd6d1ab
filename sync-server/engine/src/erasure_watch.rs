//! The erasure watch: for [`ERASURE_WATCH_DAYS`] after a resident is
//! erased, records of theirs that arrive late (from a kiosk that was
//! offline) are spotted as they are projected, so the projector can erase
//! them in turn. Kept apart from `erasure` so the projection, which erasure
//! itself uses, can ask it without a circle.

use rusqlite::params;

use crate::{Error, Result, clock::now_ms};

/// How long after an erasure records of the person that arrive late (from
/// a kiosk that was offline) are erased as they arrive. Until then the
/// server keeps, in `erasure_watch`, a tag of the pseudonym keyed by the
/// residents' key (`OpeningKey::tag`), which a backup never holds: a copied
/// database cannot even tell whether a guessed number was erased.
pub const ERASURE_WATCH_DAYS: i64 = 90;

/// The erasure id of a tag still on watch.
pub fn watched(c: &rusqlite::Connection, tag: &str) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    c.query_row(
        "SELECT erasure_id FROM erasure_watch WHERE tag = ?1 AND until_ms > ?2",
        params![tag, now_ms()],
        |r| r.get(0),
    )
    .optional()
    .map_err(|e| Error::db("reading the erasure watch", e))
}

/// Of the pseudonyms just projected, with their watch tags, those of
/// residents erased within [`ERASURE_WATCH_DAYS`] (expired watches are
/// dropped on the way).
pub fn late_arrivals(c: &rusqlite::Connection, tagged: &[(String, String)]) -> Result<Vec<String>> {
    c.execute("DELETE FROM erasure_watch WHERE until_ms <= ?1", [now_ms()])
        .map_err(|e| Error::db("expiring the erasure watch", e))?;
    let mut out = Vec::new();
    for (pseudonym, tag) in tagged {
        if watched(c, tag)?.is_some() {
            out.push(pseudonym.clone());
        }
    }
    Ok(out)
}

/// True when anyone is on the erasure watch (so projecting need not tag
/// pseudonyms when no one is).
pub fn watching(c: &rusqlite::Connection) -> Result<bool> {
    c.query_row("SELECT EXISTS (SELECT 1 FROM erasure_watch)", [], |r| {
        r.get(0)
    })
    .map_err(|e| Error::db("reading the erasure watch", e))
}
