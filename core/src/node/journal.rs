//! The kiosk's write-ahead journal. Every record is committed here (in the
//! kiosk's SQLite file, `synchronous=FULL`) before the screen acknowledges
//! it, then written into its Automerge document. samod persists documents
//! asynchronously; the journal is what makes "acknowledged means on disk"
//! true, lets a restarted kiosk re-apply anything its documents missed, and
//! counts what the server has not confirmed yet. Rows are never deleted:
//! nothing on a kiosk is deleted because it was synced.
//!
//! The same file holds `kiosk_meta` (pairing) and `kiosk_docs` (which
//! document holds which day or month).

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use rusqlite::{Connection, OptionalExtension, params};

use crate::{
    Error, Result,
    docs::DocKind,
    sqlite::{self, DbOptions, SharedConnection},
};

const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE kiosk_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
    CREATE TABLE kiosk_docs (
        kind TEXT NOT NULL,
        period TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        registered INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (kind, period)
    );
    CREATE TABLE journal (
        record_id TEXT PRIMARY KEY NOT NULL,
        doc_kind TEXT NOT NULL,
        period TEXT NOT NULL,
        map TEXT NOT NULL,
        payload TEXT NOT NULL,
        activity_id TEXT,
        phone_hash TEXT,
        created_ms INTEGER NOT NULL,
        synced_ms INTEGER
    );
    CREATE INDEX journal_unsynced ON journal (doc_kind, period) WHERE synced_ms IS NULL;
    CREATE INDEX journal_phone ON journal (phone_hash, map);
    CREATE INDEX journal_activity ON journal (activity_id, phone_hash);
",
    "
    -- v2: every record of one document (checked against it at start).
    CREATE INDEX journal_doc ON journal (doc_kind, period);
",
];

/// One journalled record.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Record id (document map key).
    pub record_id: String,
    /// Which kind of document holds it.
    pub doc_kind: DocKind,
    /// The day or month of that document.
    pub period: String,
    /// The record map within the document.
    pub map: String,
    /// The record as JSON.
    pub payload: String,
    /// Activity, for duplicate check-in lookups.
    pub activity_id: Option<String>,
    /// Resident's pseudonym (column `phone_hash`), for "my requests" and
    /// duplicates.
    pub phone_hash: Option<String>,
    /// Kiosk time of recording, ms.
    pub created_ms: i64,
}

/// A document this kiosk writes.
#[derive(Clone, Debug, PartialEq)]
pub struct DocRow {
    /// Kind.
    pub kind: DocKind,
    /// Day or month.
    pub period: String,
    /// samod document id.
    pub doc_id: String,
    /// Listed in the hall directory yet.
    pub registered: bool,
}

/// Handle to the journal tables. Cheap to clone; calls block (run them
/// off the UI thread and off async executors).
#[derive(Clone)]
pub struct Journal {
    conn: Arc<SharedConnection>,
    /// Unsynced rows, counted once and then kept up to date by `append`
    /// and `mark_synced` (under the connection's lock): the status strip
    /// asks after every tap, and counting a backlog of thousands each time
    /// made an offline kiosk slower with every record.
    unsynced: Arc<Mutex<Option<u64>>>,
}

fn kind_of(s: &str) -> Result<DocKind> {
    DocKind::from_name(s).ok_or_else(|| Error::Schema {
        doc: "journal".into(),
        reason: format!("unknown document kind {s:?}"),
    })
}

impl Journal {
    /// Open the journal in the kiosk's SQLite file.
    pub fn open(path: &Path, options: DbOptions) -> Result<Self> {
        let mut conn = sqlite::open(path, options)?;
        sqlite::migrate(&mut conn, "kiosk", MIGRATIONS)?;
        Ok(Self {
            conn: Arc::new(SharedConnection::new(conn, "journal")),
            unsynced: Arc::new(Mutex::new(None)),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        self.conn.with(f)
    }

    /// Close the journal's connection now (blocking), so its closing
    /// checkpoint happens before the caller goes on; any later use fails
    /// with [`Error::Closed`]. For the end of a node's shutdown.
    pub fn close(&self) -> Result<()> {
        self.conn.close()
    }

    /// A pairing value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.query_row("SELECT value FROM kiosk_meta WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| Error::store("reading kiosk settings", e))
        })
    }

    /// Set pairing values, all in one transaction.
    pub fn set_meta(&self, pairs: &[(&str, &str)]) -> Result<()> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| Error::store("saving kiosk settings", e))?;
            for (k, v) in pairs {
                tx.execute(
                    "INSERT INTO kiosk_meta (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![k, v],
                )
                .map_err(|e| Error::store("saving kiosk settings", e))?;
            }
            tx.commit()
                .map_err(|e| Error::store("saving kiosk settings", e))
        })
    }

    /// Commit a record. Returns only once it is on disk.
    pub fn append(&self, e: &Entry) -> Result<()> {
        self.insert(e, false).map(|_| ())
    }

    /// Commit a check-in unless this resident already checked in to the
    /// same activity (or service that day): `Ok(false)` then, and nothing
    /// is written. The look-up is part of the insert, so a tap pays for one
    /// statement, as a bare insert does, and nothing can come between them.
    pub fn append_checkin_once(&self, e: &Entry) -> Result<bool> {
        self.insert(e, e.activity_id.is_some() && e.phone_hash.is_some())
    }

    fn insert(&self, e: &Entry, once: bool) -> Result<bool> {
        const PLAIN: &str = "INSERT INTO journal (record_id, doc_kind, period, map, payload, activity_id, phone_hash, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
        const ONCE: &str = "INSERT INTO journal (record_id, doc_kind, period, map, payload, activity_id, phone_hash, created_ms)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
             WHERE NOT EXISTS (SELECT 1 FROM journal
                               WHERE activity_id = ?6 AND phone_hash = ?7 AND map = 'checkins')";
        self.with(|c| {
            let inserted = c
                .prepare_cached(if once { ONCE } else { PLAIN })
                .and_then(|mut s| {
                    s.execute(params![
                        e.record_id,
                        e.doc_kind.name(),
                        e.period,
                        e.map,
                        e.payload,
                        e.activity_id,
                        e.phone_hash,
                        e.created_ms
                    ])
                })
                .map_err(|err| Error::store("recording", err))?
                == 1;
            if inserted {
                self.adjust_unsynced(|n| n + 1);
            }
            Ok(inserted)
        })
    }

    /// Change the kept unsynced count, if it has been counted (call with
    /// the connection locked, after the commit).
    fn adjust_unsynced(&self, f: impl FnOnce(u64) -> u64) {
        match self.unsynced.lock() {
            Ok(mut kept) => *kept = kept.map(f),
            Err(poisoned) => *poisoned.into_inner() = None,
        }
    }

    fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Entry, String)> {
        let kind: String = r.get(1)?;
        Ok((
            Entry {
                record_id: r.get(0)?,
                doc_kind: DocKind::Ledger,
                period: r.get(2)?,
                map: r.get(3)?,
                payload: r.get(4)?,
                activity_id: r.get(5)?,
                phone_hash: r.get(6)?,
                created_ms: r.get(7)?,
            },
            kind,
        ))
    }

    fn query_entries(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<Entry>> {
        self.with(|c| {
            let mut stmt = c
                .prepare_cached(sql)
                .map_err(|e| Error::store("reading the journal", e))?;
            let rows = stmt
                .query_map(p, Self::entry_from_row)
                .map_err(|e| Error::store("reading the journal", e))?;
            let mut out = Vec::new();
            for row in rows {
                let (mut e, kind) = row.map_err(|e| Error::store("reading the journal", e))?;
                e.doc_kind = kind_of(&kind)?;
                out.push(e);
            }
            Ok(out)
        })
    }

    const COLUMNS: &'static str =
        "record_id, doc_kind, period, map, payload, activity_id, phone_hash, created_ms";

    /// Records the server has not confirmed yet, oldest first.
    pub fn unsynced(&self) -> Result<Vec<Entry>> {
        self.query_entries(
            &format!(
                "SELECT {} FROM journal WHERE synced_ms IS NULL ORDER BY record_id",
                Self::COLUMNS
            ),
            [],
        )
    }

    /// The unsynced count if it has been counted already: no database
    /// access, so callers need not move to a blocking thread for it.
    pub fn kept_unsynced(&self) -> Option<u64> {
        self.unsynced.lock().ok().and_then(|kept| *kept)
    }

    /// How many records the server has not confirmed yet.
    pub fn unsynced_count(&self) -> Result<u64> {
        self.with(|c| {
            if let Ok(kept) = self.unsynced.lock()
                && let Some(n) = *kept
            {
                return Ok(n);
            }
            let n = c
                .query_row(
                    "SELECT count(*) FROM journal WHERE synced_ms IS NULL",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(|e| Error::store("counting unsynced records", e))?;
            if let Ok(mut kept) = self.unsynced.lock() {
                *kept = Some(n);
            }
            Ok(n)
        })
    }

    /// Unconfirmed record ids of one document.
    pub fn unsynced_ids(&self, kind: DocKind, period: &str) -> Result<Vec<String>> {
        self.with(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT record_id FROM journal WHERE synced_ms IS NULL AND doc_kind = ?1 AND period = ?2",
                )
                .map_err(|e| Error::store("reading the journal", e))?;
            let rows = stmt
                .query_map(params![kind.name(), period], |r| r.get::<_, String>(0))
                .map_err(|e| Error::store("reading the journal", e))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| Error::store("reading the journal", e))
        })
    }

    /// Mark records as confirmed by the server.
    pub fn mark_synced(&self, ids: &[String], at_ms: i64) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(|e| Error::store("marking synced", e))?;
            let mut marked = 0u64;
            {
                let mut stmt = tx
                    .prepare_cached("UPDATE journal SET synced_ms = ?2 WHERE record_id = ?1 AND synced_ms IS NULL")
                    .map_err(|e| Error::store("marking synced", e))?;
                for id in ids {
                    marked += stmt.execute(params![id, at_ms])
                        .map_err(|e| Error::store("marking synced", e))? as u64;
                }
            }
            tx.commit().map_err(|e| Error::store("marking synced", e))?;
            self.adjust_unsynced(|n| n.saturating_sub(marked));
            Ok(())
        })
    }

    /// Every record of one document (a day's ledger, a month's book).
    pub fn of_document(&self, kind: DocKind, period: &str) -> Result<Vec<Entry>> {
        self.query_entries(
            &format!(
                "SELECT {} FROM journal WHERE doc_kind = ?1 AND period = ?2 ORDER BY record_id",
                Self::COLUMNS
            ),
            params![kind.name(), period],
        )
    }

    /// Every record of one resident in one record map, newest first.
    pub fn by_resident(&self, phone_hash: &str, map: &str) -> Result<Vec<Entry>> {
        self.query_entries(
            &format!(
                "SELECT {} FROM journal WHERE phone_hash = ?1 AND map = ?2 ORDER BY record_id DESC",
                Self::COLUMNS
            ),
            params![phone_hash, map],
        )
    }

    /// The name box of the short name a resident gave most recently, if
    /// any (only their own number's key opens it).
    pub fn latest_name_box(&self, pseudonym: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.query_row(
                "SELECT COALESCE(json_extract(payload, '$.resident.name_box'), json_extract(payload, '$.volunteer.name_box'))
                 FROM journal WHERE phone_hash = ?1
                   AND COALESCE(json_extract(payload, '$.resident.name_box'), json_extract(payload, '$.volunteer.name_box')) IS NOT NULL
                 ORDER BY record_id DESC LIMIT 1",
                [pseudonym],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| Error::store("looking up a resident", e))
        })
    }

    /// Person-times per activity recorded on this kiosk for a day's ledger.
    pub fn person_times_by_activity(&self, period: &str) -> Result<Vec<(String, u64)>> {
        self.with(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT activity_id, SUM(json_extract(payload, '$.headcount') + json_extract(payload, '$.companions'))
                     FROM journal WHERE map = 'checkins' AND doc_kind = 'ledger' AND period = ?1
                     GROUP BY activity_id ORDER BY activity_id",
                )
                .map_err(|e| Error::store("counting check-ins", e))?;
            let rows = stmt
                .query_map([period], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(|e| Error::store("counting check-ins", e))?;
            let mut out = Vec::new();
            for row in rows {
                let (a, n) = row.map_err(|e| Error::store("counting check-ins", e))?;
                out.push((a, u64::try_from(n).unwrap_or(0)));
            }
            Ok(out)
        })
    }

    /// The document holding a day or month, if created.
    pub fn doc(&self, kind: DocKind, period: &str) -> Result<Option<DocRow>> {
        self.with(|c| {
            c.query_row(
                "SELECT doc_id, registered FROM kiosk_docs WHERE kind = ?1 AND period = ?2",
                params![kind.name(), period],
                |r| {
                    Ok(DocRow {
                        kind,
                        period: period.to_string(),
                        doc_id: r.get(0)?,
                        registered: r.get::<_, i64>(1)? != 0,
                    })
                },
            )
            .optional()
            .map_err(|e| Error::store("looking up documents", e))
        })
    }

    /// Remember the document holding a day or month.
    pub fn add_doc(&self, kind: DocKind, period: &str, doc_id: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO kiosk_docs (kind, period, doc_id) VALUES (?1, ?2, ?3)",
                params![kind.name(), period, doc_id],
            )
            .map(|_| ())
            .map_err(|e| Error::store("remembering a document", e))
        })
    }

    /// Documents not yet listed in the hall directory.
    pub fn unregistered_docs(&self) -> Result<Vec<DocRow>> {
        self.doc_rows("WHERE registered = 0")
    }

    /// The documents `filter` (a `WHERE` clause, or empty) selects, by
    /// kind and period.
    fn doc_rows(&self, filter: &str) -> Result<Vec<DocRow>> {
        self.with(|c| {
            let err = |e| Error::store("listing documents", e);
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT kind, period, doc_id, registered FROM kiosk_docs {filter} ORDER BY kind, period"
                ))
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .map_err(err)?;
            let mut out = Vec::new();
            for row in rows {
                let (kind, period, doc_id, registered) = row.map_err(err)?;
                out.push(DocRow {
                    kind: kind_of(&kind)?,
                    period,
                    doc_id,
                    registered: registered != 0,
                });
            }
            Ok(out)
        })
    }

    /// Mark a document as listed in the hall directory.
    pub fn mark_registered(&self, kind: DocKind, period: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE kiosk_docs SET registered = 1 WHERE kind = ?1 AND period = ?2",
                params![kind.name(), period],
            )
            .map(|_| ())
            .map_err(|e| Error::store("marking a document registered", e))
        })
    }

    /// The day or month a document of this kiosk holds, by its id.
    pub fn doc_by_id(&self, doc_id: &str) -> Result<Option<DocRow>> {
        self.with(|c| {
            let row = c
                .query_row(
                    "SELECT kind, period, registered FROM kiosk_docs WHERE doc_id = ?1",
                    [doc_id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(|e| Error::store("looking up a document", e))?;
            row.map(|(kind, period, registered)| {
                Ok(DocRow {
                    kind: kind_of(&kind)?,
                    period,
                    doc_id: doc_id.to_string(),
                    registered: registered != 0,
                })
            })
            .transpose()
        })
    }

    /// Carry on in the document the server rebuilt for a day or month
    /// (a resident was erased): one transaction that points the day at
    /// `new_doc_id`, rewrites each record as the new document holds it
    /// (`rewrites`: record id, payload, pseudonym — `None` once erased) and
    /// marks the records it lacks (`missing`) unsynced, so they are written
    /// into it and sync again.
    pub fn adopt_rebuilt(
        &self,
        kind: DocKind,
        period: &str,
        new_doc_id: &str,
        rewrites: &[(String, String, Option<String>)],
        missing: &[String],
    ) -> Result<()> {
        let r = self.with(|c| {
            let tx = c
                .transaction()
                .map_err(|e| Error::store("adopting a rebuilt document", e))?;
            tx.execute(
                "UPDATE kiosk_docs SET doc_id = ?3, registered = 1 WHERE kind = ?1 AND period = ?2",
                params![kind.name(), period, new_doc_id],
            )
            .map_err(|e| Error::store("adopting a rebuilt document", e))?;
            for (id, payload, pseudonym) in rewrites {
                tx.execute(
                    "UPDATE journal SET payload = ?2, phone_hash = ?3 WHERE record_id = ?1",
                    params![id, payload, pseudonym],
                )
                .map_err(|e| Error::store("rewriting a record", e))?;
            }
            for id in missing {
                tx.execute(
                    "UPDATE journal SET synced_ms = NULL WHERE record_id = ?1",
                    [id],
                )
                .map_err(|e| Error::store("re-queueing a record", e))?;
            }
            tx.commit()
                .map_err(|e| Error::store("adopting a rebuilt document", e))
        });
        // Records re-queued: count the backlog again on the next ask.
        if let Ok(mut n) = self.unsynced.lock() {
            *n = None;
        }
        r
    }

    /// Remove a pairing value.
    pub fn delete_meta(&self, key: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM kiosk_meta WHERE key = ?1", [key])
                .map(|_| ())
                .map_err(|e| Error::store("removing a setting", e))
        })
    }

    /// Records still holding a resident of the old reversible form (a store
    /// of Linli 0.1; see `node::upgrade`).
    pub fn old_form_entries(&self) -> Result<Vec<Entry>> {
        self.query_entries(
            &format!(
                "SELECT {} FROM journal WHERE payload LIKE '%\"phone_hash\"%' ORDER BY record_id",
                Self::COLUMNS
            ),
            [],
        )
    }

    /// Convert a store of the old form in one transaction: each record
    /// rewritten (`rewrites`: record id, payload, pseudonym), the new pairing
    /// configuration kept, and the store marked as converting until its
    /// documents are replaced too.
    pub fn convert_old_form(
        &self,
        rewrites: &[(String, String, Option<String>)],
        config_key: &str,
        config_json: &str,
        pending_key: &str,
    ) -> Result<()> {
        let r = self.with(|c| {
            let tx = c
                .transaction()
                .map_err(|e| Error::store("converting the store", e))?;
            for (id, payload, pseudonym) in rewrites {
                tx.execute(
                    "UPDATE journal SET payload = ?2, phone_hash = ?3 WHERE record_id = ?1",
                    params![id, payload, pseudonym],
                )
                .map_err(|e| Error::store("converting a record", e))?;
            }
            for (k, v) in [(config_key, config_json), (pending_key, "1")] {
                tx.execute(
                    "INSERT INTO kiosk_meta (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![k, v],
                )
                .map_err(|e| Error::store("converting the store", e))?;
            }
            tx.commit()
                .map_err(|e| Error::store("converting the store", e))?;
            sqlite::checkpoint(c)
        });
        if let Ok(mut n) = self.unsynced.lock() {
            *n = None;
        }
        r
    }

    /// Every document this kiosk has made.
    pub fn docs(&self) -> Result<Vec<DocRow>> {
        self.doc_rows("")
    }

    /// True when the server confirmed any record of this day or month.
    pub fn any_synced(&self, kind: DocKind, period: &str) -> Result<bool> {
        self.with(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM journal WHERE doc_kind = ?1 AND period = ?2 AND synced_ms IS NOT NULL)",
                params![kind.name(), period],
                |r| r.get(0),
            )
            .map_err(|e| Error::store("reading the journal", e))
        })
    }

    /// Forget the document of a day or month (it is made again from the
    /// journal): its records wait to sync again.
    pub fn forget_doc(&self, kind: DocKind, period: &str) -> Result<()> {
        let r = self.with(|c| {
            let tx = c
                .transaction()
                .map_err(|e| Error::store("forgetting a document", e))?;
            tx.execute(
                "DELETE FROM kiosk_docs WHERE kind = ?1 AND period = ?2",
                params![kind.name(), period],
            )
            .map_err(|e| Error::store("forgetting a document", e))?;
            tx.execute(
                "UPDATE journal SET synced_ms = NULL WHERE doc_kind = ?1 AND period = ?2",
                params![kind.name(), period],
            )
            .map_err(|e| Error::store("forgetting a document", e))?;
            tx.commit()
                .map_err(|e| Error::store("forgetting a document", e))
        });
        if let Ok(mut n) = self.unsynced.lock() {
            *n = None;
        }
        r
    }

    /// Clear the write-ahead log of pages that held rewritten rows.
    pub fn checkpoint(&self) -> Result<()> {
        self.with(|c| sqlite::checkpoint(c))
    }

    /// Number of documents this kiosk has written.
    pub fn doc_count(&self) -> Result<u64> {
        self.with(|c| {
            c.query_row("SELECT count(*) FROM kiosk_docs", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|e| Error::store("counting documents", e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> Entry {
        Entry {
            record_id: id.into(),
            doc_kind: DocKind::Ledger,
            period: "2026-11-24".into(),
            map: "checkins".into(),
            payload: "{}".into(),
            activity_id: None,
            phone_hash: None,
            created_ms: 1,
        }
    }

    #[test]
    fn the_kept_unsynced_count_matches_the_table() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("j.sqlite3");
        let j = Journal::open(&path, DbOptions::default()).expect("open");
        j.append(&entry("a")).expect("append");
        assert_eq!(j.unsynced_count().expect("count"), 1);
        for id in ["b", "c", "d"] {
            j.append(&entry(id)).expect("append");
        }
        assert!(j.append(&entry("a")).is_err(), "a record id is stored once");
        assert_eq!(j.unsynced_count().expect("count"), 4);
        let ids = ["a", "b", "b", "unknown"].map(String::from);
        j.mark_synced(&ids, 5).expect("mark");
        j.mark_synced(&["a".to_string()], 6).expect("mark again");
        assert_eq!(j.unsynced_count().expect("count"), 2);
        let counted_afresh = Journal::open(&path, DbOptions::default())
            .expect("reopen")
            .unsynced_count()
            .expect("count");
        assert_eq!(counted_afresh, 2);
    }

    #[test]
    fn a_resident_is_checked_in_once_per_activity_and_other_records_pass() {
        let dir = tempfile::tempdir().expect("temp dir");
        let j = Journal::open(&dir.path().join("j.sqlite3"), DbOptions::default()).expect("open");
        let checkin = |id: &str, activity: &str, who: &str| Entry {
            activity_id: Some(activity.into()),
            phone_hash: Some(who.into()),
            ..entry(id)
        };
        assert!(
            j.append_checkin_once(&checkin("1", "yoga", "wang"))
                .expect("first")
        );
        assert!(
            !j.append_checkin_once(&checkin("2", "yoga", "wang"))
                .expect("second"),
            "the same resident at the same activity is counted once"
        );
        assert!(
            j.append_checkin_once(&checkin("3", "yoga", "li"))
                .expect("other resident")
        );
        assert!(
            j.append_checkin_once(&checkin("4", "chess", "wang"))
                .expect("other activity")
        );
        // A rating of the activity by the same resident is not a check-in,
        // and does not stand in for one.
        let rating = Entry {
            map: "ratings".into(),
            ..checkin("5", "tea", "wang")
        };
        j.append(&rating).expect("rating");
        assert!(
            j.append_checkin_once(&checkin("6", "tea", "wang"))
                .expect("after rating")
        );
        // No resident: nothing to count once by.
        let anonymous = Entry {
            activity_id: Some("yoga".into()),
            ..entry("7")
        };
        assert!(j.append_checkin_once(&anonymous).expect("anonymous"));
        assert!(
            j.append_checkin_once(&Entry {
                record_id: "8".into(),
                ..anonymous
            })
            .expect("again")
        );
        assert!(
            j.append_checkin_once(&checkin("1", "darts", "zhao"))
                .is_err(),
            "a record id is stored once"
        );
        let stored = j.of_document(DocKind::Ledger, "2026-11-24").expect("read");
        let ids: Vec<_> = stored.iter().map(|e| e.record_id.as_str()).collect();
        assert_eq!(ids, ["1", "3", "4", "5", "6", "7", "8"]);
        assert_eq!(j.unsynced_count().expect("count"), 7);
    }
}
