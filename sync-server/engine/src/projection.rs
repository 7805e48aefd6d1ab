//! The relational projection: tables of check-ins, ratings, shift events
//! and requests, kept up to date as documents change, so admin queries and
//! exports are SQL rather than document scans. The documents stay the
//! truth; `rebuild` re-creates every table from them.
//!
//! Incremental: each document's projected heads are stored, and only the
//! records that changed since (an Automerge diff) are read again. Content
//! is checked here (DESIGN.md decision 4): a document that names another
//! hall or kiosk than the one that delivered it, or a record that does not
//! fit its schema, is kept out of the tables and listed in `quarantine`
//! with its kiosk and the reason. A change once received cannot be
//! un-received, but it never reaches the statistics.
//!
//! What staff decide about a request (status, reply) is written by the
//! server alone: each answer goes into `request_answers` before it is put
//! into the kiosk's request book (which carries it back to the resident),
//! and the projection reads a request's status only from that table. A
//! kiosk owns its book and can write into it; an answer found there that
//! the server never gave is ignored and quarantined with the reason.

use std::{collections::BTreeSet, str::FromStr, time::Duration};

use automerge::{Automerge, ChangeHash, ReadDoc};
use linli_core::{
    docs::{self, DocKind, Header, ledger, points, requests},
    model::{CheckIn, Rating, ShiftEvent},
};
use samod::DocumentId;

use crate::{
    Error, Result,
    clock::now_ms,
    projection_tables::{DocumentWrite, Redeemed, Standing},
    server::ServerCore,
};

pub use crate::projection_tables::{Assessment, CLOCK_SKEW_MS, Projected, Row};

/// How the daily roll-up (`checkin_days.activity_id`) keys walk-in visits:
/// this prefix and the service's id.
pub const WALK_IN_KEY_PREFIX: &str = "walk-in:";

/// The service of a roll-up key, when it is a walk-in's.
pub fn walk_in_service(rollup_key: &str) -> Option<&str> {
    rollup_key.strip_prefix(WALK_IN_KEY_PREFIX)
}

struct Extract {
    heads: Vec<ChangeHash>,
    header: Header,
    rows: Vec<Row>,
    bad: Vec<(String, String)>,
}

/// The rows of the records `keys` of record map `map`, each with what
/// reading it gave; `Err` when the map cannot be read at all.
fn read_rows(
    d: &Automerge,
    kind: DocKind,
    map: &str,
    keys: &BTreeSet<String>,
) -> linli_core::Result<Vec<(String, linli_core::Result<Option<Row>>)>> {
    /// A record read, checked, and made a row.
    fn rows<T>(
        read: ledger::Records<T>,
        validate: impl Fn(&T) -> linli_core::Result<()>,
        row: impl Fn(String, T) -> Row,
    ) -> Vec<(String, linli_core::Result<Option<Row>>)> {
        read.into_iter()
            .map(|(key, record)| {
                let made = record.and_then(|r| {
                    r.map(|r| validate(&r).map(|()| row(key.clone(), r)))
                        .transpose()
                });
                (key, made)
            })
            .collect()
    }
    Ok(match (kind, map) {
        (DocKind::Ledger, ledger::CHECKINS) => {
            rows(ledger::checkins(d, keys)?, CheckIn::validate, Row::CheckIn)
        }
        (DocKind::Ledger, ledger::RATINGS) => {
            rows(ledger::ratings(d, keys)?, Rating::validate, Row::Rating)
        }
        (DocKind::Ledger, ledger::SHIFTS) => rows(
            ledger::shift_events(d, keys)?,
            ShiftEvent::validate,
            Row::Shift,
        ),
        // A kiosk store's spends are redemptions; its handbacks only need
        // to fit (the escrow reads them from the document). A broken one
        // is quarantined.
        (DocKind::Spends, points::SPENDS) => {
            let spender = points::spender_of(d)?;
            keys.iter()
                .map(|key| {
                    let read = points::spend(d, key).and_then(|s| {
                        s.map(|s| {
                            s.validate()
                                .map(|()| Row::Redemption(key.clone(), Redeemed::of(&spender, &s)))
                        })
                        .transpose()
                    });
                    (key.clone(), read)
                })
                .collect()
        }
        (DocKind::Spends, points::HANDBACKS) => keys
            .iter()
            .map(|key| {
                let read =
                    points::handback(d, key).and_then(|h| h.map(|h| h.part.validate()).transpose());
                (key.clone(), read.map(|_| None))
            })
            .collect(),
        _ => keys
            .iter()
            .map(|key| (key.clone(), read_request_row(d, kind, map, key)))
            .collect(),
    })
}

/// A request book's record as a row (its reply with it).
fn read_request_row(
    d: &Automerge,
    kind: DocKind,
    map: &str,
    key: &str,
) -> linli_core::Result<Option<Row>> {
    Ok(match (kind, map) {
        (DocKind::RequestBook, requests::REQUESTS) => match requests::request(d, key)? {
            Some(r) => {
                r.validate()?;
                let reply = requests::reply(d, key)?;
                if let Some(x) = &reply {
                    x.validate()?;
                }
                Some(Row::Request(key.to_string(), r, reply))
            }
            None => None,
        },
        _ => {
            return Err(linli_core::Error::Schema {
                doc: kind.name().into(),
                reason: format!("unexpected record map {map:?}"),
            });
        }
    })
}

/// Read what changed since `prev`; `Ok(None)` while the document is still
/// empty (its first change has not arrived).
fn extract(d: &Automerge, prev: &[ChangeHash]) -> std::result::Result<Option<Extract>, String> {
    let heads = d.get_heads();
    if d.keys(automerge::ROOT).next().is_none() {
        return Ok(None);
    }
    let header = docs::header(d).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for (map, mut keys) in docs::changed_records(d, prev) {
        keys.retain(|key| {
            let is_id = linli_core::ids::RecordId::parse(key).is_ok();
            if !is_id {
                bad.push((
                    format!("{map}/{key}"),
                    "record key is not a UUID".to_string(),
                ));
            }
            is_id
        });
        let read = match read_rows(d, header.kind, &map, &keys) {
            Ok(read) => read,
            Err(e) => {
                bad.extend(
                    keys.iter()
                        .map(|key| (format!("{map}/{key}"), e.to_string())),
                );
                continue;
            }
        };
        for (key, row) in read {
            match row {
                Ok(Some(row)) => rows.push(row),
                Ok(None) => {}
                Err(e) => bad.push((format!("{map}/{key}"), e.to_string())),
            }
        }
    }
    Ok(Some(Extract {
        heads,
        header,
        rows,
        bad,
    }))
}

fn heads_from_text(s: &str) -> Vec<ChangeHash> {
    s.split(',')
        .filter_map(|h| ChangeHash::from_str(h).ok())
        .collect()
}

/// Judge what changed in `d` since `prev`, for a document delivered by
/// kiosk `owner_kiosk` of hall `owner_hall`; `None` while the document is
/// still empty.
pub fn assess(
    d: &Automerge,
    prev: &[ChangeHash],
    owner_hall: &str,
    owner_kiosk: &str,
) -> Option<Assessment> {
    let ex = match extract(d, prev) {
        Ok(None) => return None,
        Ok(Some(ex)) => ex,
        Err(reason) => {
            return Some(Assessment {
                rows: Vec::new(),
                quarantine: vec![(String::new(), reason)],
                state: None,
            });
        }
    };
    let h = &ex.header;
    let doc_problem = if !matches!(
        h.kind,
        DocKind::Ledger | DocKind::RequestBook | DocKind::Spends
    ) {
        Some(format!(
            "a kiosk may not deliver a {} document",
            h.kind.name()
        ))
    } else if h.hall_id != owner_hall {
        Some(format!(
            "names hall {:?} but was delivered by a kiosk of hall {owner_hall:?}",
            h.hall_id
        ))
    } else if h.kiosk_id.as_deref() != Some(owner_kiosk) {
        Some(format!(
            "names kiosk {:?} but was delivered by kiosk {owner_kiosk:?}",
            h.kiosk_id
        ))
    } else if h.period.is_none() && h.kind != DocKind::Spends {
        Some("has no period".to_string())
    } else {
        None
    };
    let mut out = Assessment {
        rows: Vec::new(),
        quarantine: Vec::new(),
        state: None,
    };
    if let Some(reason) = doc_problem {
        out.quarantine.push((String::new(), reason));
    } else {
        out.quarantine.extend(ex.bad);
        for row in ex.rows {
            if row.kiosk_id() != owner_kiosk {
                let reason = format!("record names kiosk {:?}", row.kiosk_id());
                out.quarantine.push((row.id().to_string(), reason));
            } else {
                out.rows.push(row);
            }
        }
    }
    out.state = Some((ex.heads, ex.header));
    Some(out)
}

/// Project one document now.
pub async fn project_document(core: &ServerCore, doc: &DocumentId) -> Result<Projected> {
    let mut written = project_batch(core, std::slice::from_ref(doc)).await?;
    written.pop().map_or(Ok(Projected::default()), |(_, r)| r)
}

/// Project a batch of documents together: every document's standing read
/// in one trip to the store, their changes judged, and what changed
/// written in one transaction. Each document gets its own answer; an
/// `Err` for the whole batch means nothing of it was written (its
/// documents are projected again on their next change or a rebuild).
pub async fn project_batch(
    core: &ServerCore,
    docs: &[DocumentId],
) -> Result<Vec<(String, Result<Projected>)>> {
    let ids: Vec<String> = docs.iter().map(ToString::to_string).collect();
    let standings = core.projection.standings(&ids).await?;
    let mut pending = Vec::new();
    for (doc, standing) in docs.iter().zip(standings) {
        match prepare(core, doc, standing).await {
            Ok(Some(p)) => pending.push(p),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(doc = %doc, error = %e, "projection failed; the document is kept and will be projected again on its next change or a rebuild");
            }
        }
    }
    core.projection.write(pending, now_ms()).await
}

/// Read and judge what changed in `doc` since it was last projected;
/// `None` when there is nothing to write (an unknown document, one the
/// server writes itself, one that is not there or still empty).
async fn prepare(
    core: &ServerCore,
    doc: &DocumentId,
    standing: Standing,
) -> Result<Option<DocumentWrite>> {
    let Some(owner) = standing.owner else {
        return Ok(None);
    };
    let Some(owner_kiosk) = owner.owner_kiosk.clone() else {
        // Hall calendar and directory: written by the server, nothing to project.
        return Ok(None);
    };
    let prev = standing
        .projected_heads
        .map(|p| heads_from_text(&p))
        .unwrap_or_default();
    // Another instance holding the hall projects it there.
    let found = core.repos.find_held(&owner.hall_id, doc.clone());
    let Some(handle) = tokio::time::timeout(Duration::from_secs(10), found)
        .await
        .map_err(|_| Error::BadRequest(format!("document {doc} did not load in time")))??
    else {
        return Ok(None);
    };
    let (hall, kiosk) = (owner.hall_id.clone(), owner_kiosk.clone());
    let assessment = handle
        .with_document_async(move |d| assess(d, &prev, &hall, &kiosk))
        .await?;
    let Some(assessment) = assessment else {
        return Ok(None);
    };
    Ok(Some(DocumentWrite {
        doc: doc.to_string(),
        hall: owner.hall_id,
        kiosk: owner_kiosk,
        tagged: tag_residents(core, &assessment),
        assessment,
    }))
}

/// The residents `assessment`'s records name, each with its erasure-watch
/// tag (cheap: a keyed hash per resident named by the records that
/// changed).
pub fn tag_residents(core: &ServerCore, assessment: &Assessment) -> Vec<(String, String)> {
    assessment
        .pseudonyms()
        .into_iter()
        .map(|p| {
            let tag = core.residents.watch_tag(&p);
            (p, tag)
        })
        .collect()
}

/// Re-create every projection table from the documents. `progress` is
/// called with (done, total).
pub async fn rebuild(
    core: &ServerCore,
    mut progress: impl FnMut(usize, usize),
) -> Result<Projected> {
    core.projection.clear().await?;
    let docs = core.tables.kiosk_documents().await?;
    let total = docs.len();
    let mut sum = Projected::default();
    for (i, id) in docs.iter().enumerate() {
        let doc = DocumentId::from_str(id)
            .map_err(|e| Error::BadRequest(format!("stored document id {id}: {e}")))?;
        let p = project_document(core, &doc).await?;
        sum.records += p.records;
        sum.quarantined += p.quarantined;
        progress(i + 1, total);
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use linli_core::sqlite::DbOptions;
    use rusqlite::{Connection, params};

    use crate::db::Db;
    use crate::projection_schema::MIGRATIONS;

    fn open(dir: &std::path::Path, migrations: &'static [&'static str]) -> Db {
        Db::open(
            &dir.join("server.sqlite3"),
            DbOptions::default(),
            &[("projection", migrations)],
        )
        .expect("open")
    }

    /// Pending projections of `n` one-check-in ledgers of kiosk `k1`.
    fn pending_ledgers(n: usize) -> Vec<crate::projection_tables::DocumentWrite> {
        (0..n)
            .map(|i| {
                let mut d =
                    linli_core::docs::ledger::new_ledger("h1", "k1", "2026-12-04").expect("ledger");
                let checkin = linli_core::model::CheckIn {
                    activity_id: "act-1".into(),
                    service: None,
                    resident: None,
                    headcount: 1,
                    companions: 0,
                    kiosk_id: "k1".into(),
                    at_ms: 1_780_000_000_000,
                };
                linli_core::docs::ledger::add_checkin(
                    &mut d,
                    &uuid::Uuid::now_v7().to_string(),
                    &checkin,
                )
                .expect("check-in");
                crate::projection_tables::DocumentWrite {
                    doc: format!("doc-{i}"),
                    hall: "h1".into(),
                    kiosk: "k1".into(),
                    assessment: super::assess(&d, &[], "h1", "k1").expect("assessed"),
                    tagged: Vec::new(),
                }
            })
            .collect()
    }

    fn projected_docs(c: &Connection) -> Vec<String> {
        let mut st = c
            .prepare("SELECT doc_id FROM checkins ORDER BY doc_id")
            .expect("prepare");
        st.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    #[test]
    fn a_document_that_cannot_be_written_holds_up_none_other_in_its_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open(dir.path(), MIGRATIONS);
        db.with(|c| {
            let written = crate::projection_tables::write_batch(c, &pending_ledgers(3), 1);
            assert!(
                written
                    .iter()
                    .all(|(_, r)| matches!(r, Ok(p) if p.records == 1))
            );
            assert_eq!(projected_docs(c), ["doc-0", "doc-1", "doc-2"]);

            // A write the database refuses for one document only (here a
            // trigger; in the field an absurd record or a constraint).
            c.execute_batch(
                "DELETE FROM checkins; DELETE FROM projection_state;
                 CREATE TEMP TRIGGER refuse_doc_1 BEFORE INSERT ON checkins
                 WHEN NEW.doc_id = 'doc-1' BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .expect("trigger");
            let written = crate::projection_tables::write_batch(c, &pending_ledgers(3), 1);
            let failed: Vec<&str> = written
                .iter()
                .filter(|(_, r)| r.is_err())
                .map(|(d, _)| d.as_str())
                .collect();
            assert_eq!(failed, ["doc-1"], "only the refused document failed");
            assert_eq!(
                projected_docs(c),
                ["doc-0", "doc-2"],
                "the others were written"
            );
            let states: i64 = c
                .query_row("SELECT count(*) FROM projection_state", [], |r| r.get(0))
                .expect("count");
            assert_eq!(
                states, 2,
                "the refused document is projected again on its next change"
            );
            Ok(())
        })
        .expect("db");
    }

    fn checkin(c: &Connection, id: u32, hall: &str, date: &str, act: &str, phone: Option<&str>) {
        c.execute(
            "INSERT INTO checkins (record_id, doc_id, hall_id, kiosk_id, date, activity_id, phone_hash,
                 headcount, companions, kiosk_at_ms, received_ms)
             VALUES (?1, 'd', ?2, 'k', ?3, ?4, ?5, 1, ?6, 0, 0)",
            params![format!("c{id}"), hall, date, act, phone, id % 3],
        )
        .expect("insert check-in");
    }

    fn rating(c: &Connection, id: u32, hall: &str, date: &str, act: &str, score: u32) {
        c.execute(
            "INSERT INTO ratings (record_id, doc_id, hall_id, kiosk_id, date, activity_id, score, kiosk_at_ms, received_ms)
             VALUES (?1, 'd', ?2, 'k', ?3, ?4, ?5, 0, 0)",
            params![format!("r{id}"), hall, date, act, score],
        )
        .expect("insert rating");
    }

    /// (hall, date, activity, sum, sum) rows of a roll-up.
    type Groups = Vec<(String, String, String, i64, i64)>;

    /// The roll-ups, non-empty rows only, next to the same sums computed
    /// from the tables themselves.
    fn rolled_and_direct(c: &Connection) -> (Groups, Groups) {
        let rows = |sql: &str| -> Groups {
            let mut stmt = c.prepare(sql).expect("prepare");
            stmt.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
        };
        let rolled = [
            rows(
                "SELECT hall_id, date, activity_id, persons, named FROM checkin_days
                  WHERE persons <> 0 OR named <> 0 ORDER BY 1, 2, 3",
            ),
            rows(
                "SELECT 'r' || hall_id, date, activity_id, ratings, score_sum FROM rating_days
                  WHERE ratings <> 0 ORDER BY 1, 2, 3",
            ),
        ]
        .concat();
        let direct = [
            rows(
                "SELECT hall_id, date, COALESCE('walk-in:' || service, activity_id),
                    SUM(headcount + companions), count(phone_hash)
                  FROM checkins GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            ),
            rows(
                "SELECT 'r' || hall_id, date, activity_id, count(*), SUM(score)
                  FROM ratings GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            ),
        ]
        .concat();
        (rolled, direct)
    }

    #[test]
    fn daily_roll_ups_follow_every_insert_update_and_delete() {
        let dir = tempfile::tempdir().expect("dir");
        let db = open(dir.path(), MIGRATIONS);
        db.with(|c| {
            let halls = ["a", "b"];
            let dates = ["2026-11-01", "2026-11-02", "2026-11-09"];
            let acts = ["clinic", "class"];
            for i in 0..300u32 {
                let phone = (i % 4 != 0).then(|| format!("p{}", i % 17));
                checkin(c, i, halls[i as usize % 2], dates[i as usize % 3], acts[i as usize % 2 ], phone.as_deref());
                rating(c, i, halls[i as usize % 2], dates[i as usize % 3], acts[(i as usize / 2) % 2], 1 + i % 5);
            }
            // What the projector does to a corrected record, and a moved one.
            c.execute_batch(
                "UPDATE checkins SET activity_id = 'class', headcount = 3, companions = 2 WHERE record_id = 'c10';
                 UPDATE checkins SET date = '2026-12-24', phone_hash = 'new' WHERE record_id = 'c11';
                 UPDATE checkins SET sealed = 'only a sealed contact' WHERE record_id = 'c12';
                 UPDATE ratings SET score = 5 WHERE record_id = 'r10';
                 UPDATE ratings SET activity_id = 'walk' WHERE record_id = 'r11';
                 DELETE FROM checkins WHERE record_id IN ('c20', 'c21', 'c22');
                 -- The projector's own upsert on records it has: into a
                 -- group that exists, and into a new one.
                 INSERT INTO checkins (record_id, doc_id, hall_id, kiosk_id, date, activity_id, headcount,
                     companions, kiosk_at_ms, received_ms) VALUES ('c13', 'd', 'b', 'k', '2026-11-02', 'clinic', 2, 0, 0, 0),
                     ('c14', 'd', 'a', 'k', '2026-11-03', 'brand-new', 1, 1, 0, 0)
                   ON CONFLICT (record_id) DO UPDATE SET activity_id = excluded.activity_id,
                     headcount = excluded.headcount, companions = excluded.companions, sealed = excluded.sealed;
                 INSERT INTO ratings (record_id, doc_id, hall_id, kiosk_id, date, activity_id, score, kiosk_at_ms, received_ms)
                     VALUES ('r13', 'd', 'b', 'k', '2026-11-02', 'clinic', 2, 0, 0), ('r14', 'd', 'b', 'k', '2026-11-02', 'new', 3, 0, 0)
                   ON CONFLICT (record_id) DO UPDATE SET score = excluded.score, reason = excluded.reason;
                 DELETE FROM ratings WHERE record_id = 'r30';
                 -- Walk-ins: apart by service, moved between services, to
                 -- an activity and back, deleted.
                 INSERT INTO checkins (record_id, doc_id, hall_id, kiosk_id, date, activity_id, service,
                     headcount, companions, kiosk_at_ms, received_ms)
                     VALUES ('w1', 'd', 'a', 'k', '2026-11-01', '', 'consultation', 1, 0, 0, 0),
                     ('w2', 'd', 'a', 'k', '2026-11-01', '', 'consultation', 1, 1, 0, 0),
                     ('w3', 'd', 'a', 'k', '2026-11-01', '', 'medical_insurance', 1, 0, 0, 0),
                     ('w4', 'd', 'b', 'k', '2026-11-02', '', 'affairs', 1, 0, 0, 0),
                     ('w5', 'd', 'b', 'k', '2026-11-02', '', 'affairs', 1, 0, 0, 0);
                 UPDATE checkins SET phone_hash = 'p3' WHERE record_id = 'w1';
                 UPDATE checkins SET service = 'affairs' WHERE record_id = 'w3';
                 UPDATE checkins SET service = NULL, activity_id = 'clinic' WHERE record_id = 'w4';
                 UPDATE checkins SET service = 'convenience', activity_id = '' WHERE record_id = 'c15';
                 DELETE FROM checkins WHERE record_id = 'w5';",
            )
            .expect("changes");
            let (rolled, direct) = rolled_and_direct(c);
            assert_eq!(rolled, direct);
            assert!(direct.len() > 10, "the test covers several groups");
            let walk_in_groups = rolled
                .iter()
                .filter(|g| g.2.starts_with(super::WALK_IN_KEY_PREFIX))
                .count();
            assert_eq!(walk_in_groups, 3, "walk-ins by service: {rolled:?}");
            let missing: i64 = c
                .query_row(
                    "SELECT count(*) FROM (SELECT DISTINCT hall_id, phone_hash FROM checkins WHERE phone_hash IS NOT NULL)
                     WHERE (hall_id, phone_hash) NOT IN (SELECT hall_id, phone_hash FROM hall_residents)",
                    [],
                    |r| r.get(0),
                )
                .expect("residents");
            assert_eq!(missing, 0, "every resident with a check-in is listed for the hall");
            Ok(())
        })
        .expect("db");
    }

    #[test]
    fn the_roll_up_migration_counts_rows_that_were_there_before_it() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let db = open(dir.path(), &MIGRATIONS[..2]);
            db.with(|c| {
                for i in 0..50u32 {
                    checkin(
                        c,
                        i,
                        "a",
                        ["2026-01-01", "2026-01-02"][i as usize % 2],
                        "x",
                        Some("p"),
                    );
                    rating(c, i, "a", "2026-01-01", "x", 4);
                }
                Ok(())
            })
            .expect("seed");
        }
        let db = open(dir.path(), MIGRATIONS);
        db.with(|c| {
            let (rolled, direct) = rolled_and_direct(c);
            assert_eq!(rolled, direct);
            assert_eq!(rolled.len(), 3);
            Ok(())
        })
        .expect("db");
    }

    #[test]
    fn a_database_with_residents_of_the_old_scheme_is_refused_unchanged() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("server.sqlite3");
        {
            let db = open(dir.path(), &MIGRATIONS[..3]);
            db.with(|c| {
                checkin(c, 1, "a", "2026-01-01", "x", Some("p"));
                Ok(())
            })
            .expect("seed");
        }
        // A v3 database whose check-ins carry no masked number or name is
        // fine: only counts, nothing reversible. It migrates with its rows,
        // roll-ups and triggers.
        crate::projection_schema::refuse_old_residents(&path, DbOptions::default())
            .expect("no old residents yet");
        let upgraded = tempfile::tempdir().expect("dir");
        std::fs::copy(&path, upgraded.path().join("server.sqlite3")).expect("copy");
        let db = open(upgraded.path(), MIGRATIONS);
        db.with(|c| {
            let (rolled, direct) = rolled_and_direct(c);
            assert_eq!(rolled, direct);
            assert_eq!(direct.len(), 1, "the old check-in is still counted");
            checkin(c, 2, "a", "2026-01-01", "x", Some("q"));
            c.execute(
                "UPDATE checkins SET sealed = 's' WHERE record_id = 'c2'",
                [],
            )
            .expect("the new column");
            let (rolled, direct) = rolled_and_direct(c);
            assert_eq!(rolled, direct);
            Ok(())
        })
        .expect("upgraded");
        {
            let c = Connection::open(&path).expect("raw");
            c.execute("UPDATE checkins SET phone_masked = '138****5678'", [])
                .expect("old row");
        }
        let before = std::fs::read(&path).expect("bytes");
        let err = crate::projection_schema::refuse_old_residents(&path, DbOptions::default())
            .expect_err("refused");
        assert!(
            err.to_string().contains("linli-server upgrade-residents"),
            "{err}"
        );
        assert_eq!(
            std::fs::read(&path).expect("bytes"),
            before,
            "nothing changed"
        );
        // A database of this build, and none at all, pass.
        let fresh = tempfile::tempdir().expect("dir");
        crate::projection_schema::refuse_old_residents(
            &fresh.path().join("none.sqlite3"),
            DbOptions::default(),
        )
        .expect("no database");
        drop(open(fresh.path(), MIGRATIONS));
        crate::projection_schema::refuse_old_residents(
            &fresh.path().join("server.sqlite3"),
            DbOptions::default(),
        )
        .expect("new scheme");
    }
}
