//! The projection's tables on PostgreSQL: [`PgProjection`] implements
//! `linli_sync_engine::projection_tables::ProjectionTables` as the SQLite
//! file does, and keeps the same daily roll-ups with triggers (PL/pgSQL
//! here), so a statistic over a year reads a row per hall, day and
//! activity whichever store holds it.
//!
//! The schema is the SQLite one's as it stands after its eight steps,
//! in PostgreSQL's terms: counts and times `BIGINT`, flags `BOOLEAN`.
//! Statements are prepared once per connection (`prepare_cached`), so a
//! projected record costs one round trip inside its batch's transaction.

use std::collections::HashSet;

use async_trait::async_trait;
use deadpool_postgres::{Pool, Transaction};
use linli_core::model::RequestReply;
use linli_sync_engine::{
    Result,
    clock::now_ms,
    db::DocOwner,
    projection::{CLOCK_SKEW_MS, Projected, Row},
    projection_tables::{
        CHECKIN_SELECT, CheckinCounts, CheckinCursor, DocumentWrite, FinishedErasure, HallFigures,
        HallOverview, KEEP_ERASED_VISITS_SQL, KioskDay, PROJECTED_BY_DOCUMENT, ProjectionTables,
        QuarantineRow, REDEMPTION_SELECT, REQUEST_SELECT, RESIDENT_CONTACTS_SQL,
        RESIDENT_DOCUMENTS_SQL, RequestCursor, RequestFilter, ResidentRecords, SHIFT_SELECT,
        ShiftSpan, Standing, StoredCheckin, StoredRedemption, StoredRequest, UNPROJECTED_SQL,
        heads_to_text, request_reference,
    },
};

use crate::tables::pg;

/// The projection's tables (component `projection`).
pub const MIGRATIONS: &[&str] = &["
    CREATE TABLE projection_state (
        doc_id TEXT PRIMARY KEY,
        kind TEXT,
        period TEXT,
        heads TEXT NOT NULL,
        projected_ms BIGINT NOT NULL
    );
    CREATE TABLE checkins (
        record_id TEXT PRIMARY KEY,
        doc_id TEXT NOT NULL,
        hall_id TEXT NOT NULL,
        kiosk_id TEXT NOT NULL,
        date TEXT NOT NULL,
        activity_id TEXT NOT NULL,
        service TEXT,
        phone_hash TEXT,
        sealed TEXT,
        headcount BIGINT NOT NULL,
        companions BIGINT NOT NULL,
        kiosk_at_ms BIGINT NOT NULL,
        received_ms BIGINT NOT NULL,
        clock_skew BOOLEAN NOT NULL DEFAULT false
    );
    CREATE INDEX checkins_hall_date ON checkins (hall_id, date);
    CREATE INDEX checkins_kiosk_received ON checkins (kiosk_id, received_ms);
    CREATE INDEX checkins_hall_phone_date ON checkins (hall_id, phone_hash, date);
    CREATE INDEX checkins_phone ON checkins (phone_hash);
    CREATE TABLE ratings (
        record_id TEXT PRIMARY KEY,
        doc_id TEXT NOT NULL,
        hall_id TEXT NOT NULL,
        kiosk_id TEXT NOT NULL,
        date TEXT NOT NULL,
        activity_id TEXT NOT NULL,
        score BIGINT NOT NULL,
        reason TEXT,
        kiosk_at_ms BIGINT NOT NULL,
        received_ms BIGINT NOT NULL
    );
    CREATE INDEX ratings_hall_date ON ratings (hall_id, date);
    CREATE INDEX ratings_kiosk_received ON ratings (kiosk_id, received_ms);
    CREATE TABLE shift_events (
        record_id TEXT PRIMARY KEY,
        doc_id TEXT NOT NULL,
        hall_id TEXT NOT NULL,
        kiosk_id TEXT NOT NULL,
        date TEXT NOT NULL,
        shift_id TEXT NOT NULL,
        action TEXT NOT NULL,
        phone_hash TEXT NOT NULL,
        sealed TEXT,
        activity_id TEXT,
        kiosk_at_ms BIGINT NOT NULL,
        received_ms BIGINT NOT NULL
    );
    CREATE INDEX shift_events_shift ON shift_events (shift_id);
    CREATE INDEX shift_events_kiosk_received ON shift_events (kiosk_id, received_ms);
    CREATE INDEX shift_events_phone ON shift_events (phone_hash);
    CREATE TABLE requests (
        record_id TEXT PRIMARY KEY,
        doc_id TEXT NOT NULL,
        hall_id TEXT NOT NULL,
        kiosk_id TEXT NOT NULL,
        month TEXT NOT NULL,
        reference TEXT NOT NULL,
        category TEXT NOT NULL,
        text TEXT NOT NULL,
        phone_hash TEXT,
        sealed TEXT,
        callback_consent BOOLEAN NOT NULL,
        status TEXT NOT NULL,
        reply TEXT,
        updated_ms BIGINT,
        kiosk_at_ms BIGINT NOT NULL,
        received_ms BIGINT NOT NULL
    );
    CREATE INDEX requests_hall ON requests (hall_id, status);
    CREATE INDEX requests_hall_at ON requests (hall_id, kiosk_at_ms);
    CREATE INDEX requests_kiosk_received ON requests (kiosk_id, received_ms);
    CREATE INDEX requests_phone ON requests (phone_hash);
    CREATE TABLE quarantine (
        doc_id TEXT NOT NULL,
        record_key TEXT NOT NULL,
        hall_id TEXT NOT NULL,
        kiosk_id TEXT,
        reason TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        PRIMARY KEY (doc_id, record_key)
    );
    CREATE INDEX quarantine_kiosk ON quarantine (kiosk_id, at_ms);
    CREATE INDEX quarantine_hall ON quarantine (hall_id, at_ms);

    -- What staff decided about each request, every answer kept: the
    -- projection takes a request's status only from here.
    CREATE TABLE request_answers (
        record_id TEXT NOT NULL,
        status TEXT NOT NULL,
        reply TEXT,
        updated_ms BIGINT NOT NULL,
        PRIMARY KEY (record_id, updated_ms)
    );

    -- Daily roll-ups, kept exact by triggers whoever writes the records.
    -- Walk-in visits are keyed 'walk-in:' || service.
    CREATE TABLE checkin_days (
        hall_id TEXT NOT NULL,
        date TEXT NOT NULL,
        activity_id TEXT NOT NULL,
        persons BIGINT NOT NULL DEFAULT 0,
        named BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (hall_id, date, activity_id)
    );
    CREATE TABLE rating_days (
        hall_id TEXT NOT NULL,
        date TEXT NOT NULL,
        activity_id TEXT NOT NULL,
        ratings BIGINT NOT NULL DEFAULT 0,
        score_sum BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (hall_id, date, activity_id)
    );
    -- Distinct residents over a range: one index probe per resident of the
    -- hall, not a scan of its check-ins.
    CREATE TABLE hall_residents (
        hall_id TEXT NOT NULL,
        phone_hash TEXT NOT NULL,
        PRIMARY KEY (hall_id, phone_hash)
    );

    CREATE FUNCTION linli_checkin_days() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE checkin_days SET persons = persons - OLD.headcount - OLD.companions,
                    named = named - (OLD.phone_hash IS NOT NULL)::int
                WHERE hall_id = OLD.hall_id AND date = OLD.date
                    AND activity_id = COALESCE('walk-in:' || OLD.service, OLD.activity_id);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO checkin_days AS d (hall_id, date, activity_id, persons, named)
                VALUES (NEW.hall_id, NEW.date, COALESCE('walk-in:' || NEW.service, NEW.activity_id),
                    NEW.headcount + NEW.companions, (NEW.phone_hash IS NOT NULL)::int)
                ON CONFLICT (hall_id, date, activity_id) DO UPDATE SET
                    persons = d.persons + excluded.persons, named = d.named + excluded.named;
            IF NEW.phone_hash IS NOT NULL THEN
                INSERT INTO hall_residents (hall_id, phone_hash) VALUES (NEW.hall_id, NEW.phone_hash)
                    ON CONFLICT DO NOTHING;
            END IF;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER checkin_days AFTER INSERT OR DELETE
        OR UPDATE OF hall_id, date, activity_id, service, headcount, companions, phone_hash
        ON checkins FOR EACH ROW EXECUTE FUNCTION linli_checkin_days();

    CREATE FUNCTION linli_rating_days() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE rating_days SET ratings = ratings - 1, score_sum = score_sum - OLD.score
                WHERE hall_id = OLD.hall_id AND date = OLD.date AND activity_id = OLD.activity_id;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO rating_days AS d (hall_id, date, activity_id, ratings, score_sum)
                VALUES (NEW.hall_id, NEW.date, NEW.activity_id, 1, NEW.score)
                ON CONFLICT (hall_id, date, activity_id) DO UPDATE SET
                    ratings = d.ratings + 1, score_sum = d.score_sum + excluded.score_sum;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER rating_days AFTER INSERT OR DELETE
        OR UPDATE OF hall_id, date, activity_id, score
        ON ratings FOR EACH ROW EXECUTE FUNCTION linli_rating_days();
", "
    -- 2 (issue 16): redemptions at the hall's 爱心超市, one per spend a
    -- kiosk store recorded. A record is written once and never changed.
    CREATE TABLE redemptions (
        record_id TEXT PRIMARY KEY,
        doc_id TEXT NOT NULL,
        hall_id TEXT NOT NULL,
        kiosk_id TEXT NOT NULL,
        spender TEXT NOT NULL,
        item TEXT NOT NULL,
        points BIGINT NOT NULL,
        phone_hash TEXT,
        kiosk_at_ms BIGINT NOT NULL,
        received_ms BIGINT NOT NULL
    );
    CREATE INDEX redemptions_hall ON redemptions (hall_id, kiosk_at_ms);
    CREATE INDEX redemptions_phone ON redemptions (phone_hash);
    CREATE INDEX redemptions_kiosk_received ON redemptions (kiosk_id, received_ms);
", "
    -- 3 (issue 16): of a redemption's points, what the kiosk lent beyond
    -- its rights (赊兑, staff confirming): the console flags it.
    ALTER TABLE redemptions ADD COLUMN owed BIGINT NOT NULL DEFAULT 0;
"];

/// The projection's tables over the store's pool.
#[derive(Clone)]
pub struct PgProjection {
    pool: Pool,
}

impl PgProjection {
    /// The tables over `pool` (migrated with [`MIGRATIONS`]).
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    async fn client(&self, what: &str) -> Result<deadpool_postgres::Object> {
        Ok(crate::connection(&self.pool, what).await?)
    }
}

/// Run `sql` inside `tx` with `params`, prepared once per connection
/// (a projected record costs one round trip); `err` names a failure.
async fn execute_cached(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    err: impl Fn(tokio_postgres::Error) -> linli_sync_engine::Error,
) -> Result<u64> {
    let st = tx.prepare_cached(sql).await.map_err(&err)?;
    tx.execute(&st, params).await.map_err(err)
}

/// Write every one of `docs` in one transaction, or none.
async fn write_together(
    client: &mut deadpool_postgres::Object,
    docs: &[DocumentWrite],
    received: i64,
) -> Result<Vec<Projected>> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg("projecting", e))?;
    let mut written = Vec::with_capacity(docs.len());
    for p in docs {
        let mut out = store(&tx, p, received).await?;
        if out.records > 0 {
            out.late_erasures = late_arrivals(&tx, &p.tagged).await?;
        }
        written.push(out);
    }
    tx.commit().await.map_err(|e| pg("projecting", e))?;
    Ok(written)
}

/// The answers the server gave to the requests whose answers `p`'s
/// kiosk book holds, as (id, updated, status, reply).
async fn answers_given(
    tx: &Transaction<'_>,
    p: &DocumentWrite,
) -> Result<HashSet<(String, i64, String, Option<String>)>> {
    let ids: Vec<&str> = p.kiosk_answers().map(|(id, _)| id).collect();
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let st = tx
        .prepare_cached(
            "SELECT record_id, updated_ms, status, reply FROM request_answers WHERE record_id = ANY($1)",
        )
        .await
        .map_err(|e| pg("checking requests' answers", e))?;
    Ok(tx
        .query(&st, &[&ids])
        .await
        .map_err(|e| pg("checking requests' answers", e))?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect())
}

/// Write one document's judgement inside `tx`.
async fn store(tx: &Transaction<'_>, p: &DocumentWrite, received: i64) -> Result<Projected> {
    let mut out = Projected::default();
    let given = answers_given(tx, p).await?;
    let quarantine = p.quarantine(|id, reply: &RequestReply| {
        Ok(given.contains(&(
            id.to_string(),
            reply.updated_at_ms,
            reply.status.code().to_string(),
            reply.reply.clone(),
        )))
    })?;
    if !quarantine.is_empty() {
        let st = tx
            .prepare_cached(
                "INSERT INTO quarantine (doc_id, record_key, hall_id, kiosk_id, reason, at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (doc_id, record_key) DO UPDATE SET reason = excluded.reason, at_ms = excluded.at_ms",
            )
            .await
            .map_err(|e| pg("quarantining", e))?;
        for (key, reason) in &quarantine {
            tx.execute(&st, &[&p.doc, key, &p.hall, &p.kiosk, reason, &received])
                .await
                .map_err(|e| pg("quarantining", e))?;
            out.quarantined += 1;
        }
    }
    let Some((heads, header)) = &p.assessment.state else {
        return Ok(out);
    };
    let period = header.period.clone().unwrap_or_default();
    for row in &p.assessment.rows {
        write_row(tx, row, p, &period, received).await?;
        out.records += 1;
    }
    let st = tx
        .prepare_cached(
            "INSERT INTO projection_state (doc_id, kind, period, heads, projected_ms) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (doc_id) DO UPDATE SET kind = excluded.kind, period = excluded.period,
                 heads = excluded.heads, projected_ms = excluded.projected_ms",
        )
        .await
        .map_err(|e| pg("saving projection state", e))?;
    tx.execute(
        &st,
        &[
            &p.doc,
            &header.kind.name(),
            &header.period,
            &heads_to_text(heads),
            &received,
        ],
    )
    .await
    .map_err(|e| pg("saving projection state", e))?;
    Ok(out)
}

async fn write_row(
    tx: &Transaction<'_>,
    row: &Row,
    p: &DocumentWrite,
    period: &str,
    received: i64,
) -> Result<()> {
    let (doc, hall, kiosk) = (&p.doc, &p.hall, &p.kiosk);
    let err = |e| pg("writing a projected record", e);
    match row {
        Row::CheckIn(id, c) => {
            execute_cached(
                tx,
                "INSERT INTO checkins (record_id, doc_id, hall_id, kiosk_id, date, activity_id, phone_hash, sealed,
                         headcount, companions, kiosk_at_ms, received_ms, clock_skew, service)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                     ON CONFLICT (record_id) DO UPDATE SET activity_id = excluded.activity_id, service = excluded.service,
                         headcount = excluded.headcount, companions = excluded.companions, sealed = excluded.sealed",
                &[
                    id,
                    doc,
                    hall,
                    kiosk,
                    &period,
                    &c.activity_id,
                    &c.resident.as_ref().map(|r| &r.pseudonym),
                    &c.resident.as_ref().map(|r| &r.sealed),
                    &i64::from(c.headcount),
                    &i64::from(c.companions),
                    &c.at_ms,
                    &received,
                    &(c.at_ms.saturating_sub(received) > CLOCK_SKEW_MS),
                    &c.service,
                ],
                err,
            )
            .await?;
        }
        Row::Rating(id, r) => {
            execute_cached(
                tx,
                "INSERT INTO ratings (record_id, doc_id, hall_id, kiosk_id, date, activity_id, score, reason,
                         kiosk_at_ms, received_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                     ON CONFLICT (record_id) DO UPDATE SET score = excluded.score, reason = excluded.reason",
                &[
                    id,
                    doc,
                    hall,
                    kiosk,
                    &period,
                    &r.activity_id,
                    &i64::from(r.score),
                    &r.reason,
                    &r.at_ms,
                    &received,
                ],
                err,
            )
            .await?;
        }
        Row::Shift(id, s) => {
            execute_cached(
                tx,
                "INSERT INTO shift_events (record_id, doc_id, hall_id, kiosk_id, date, shift_id, action, phone_hash,
                         sealed, activity_id, kiosk_at_ms, received_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                     ON CONFLICT (record_id) DO NOTHING",
                &[
                    id,
                    doc,
                    hall,
                    kiosk,
                    &period,
                    &s.shift_id,
                    &s.action,
                    &s.volunteer.pseudonym,
                    &s.volunteer.sealed,
                    &s.activity_id,
                    &s.at_ms,
                    &received,
                ],
                err,
            )
            .await?;
        }
        Row::Redemption(id, r) => {
            execute_cached(
                tx,
                "INSERT INTO redemptions (record_id, doc_id, hall_id, kiosk_id, spender, item, points,
                         phone_hash, kiosk_at_ms, received_ms, owed)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (record_id) DO NOTHING",
                &[
                    id,
                    doc,
                    hall,
                    kiosk,
                    &r.spender,
                    &r.item,
                    &i64::try_from(r.points).unwrap_or(i64::MAX),
                    &r.volunteer,
                    &r.at_ms,
                    &received,
                    &i64::try_from(r.owed).unwrap_or(i64::MAX),
                ],
                err,
            )
            .await?;
        }
        Row::Request(id, r, _from_the_kiosks_book) => {
            // The status and reply are the server's latest answer, if any.
            execute_cached(
                tx,
                "INSERT INTO requests (record_id, doc_id, hall_id, kiosk_id, month, reference, category, text,
                         phone_hash, sealed, callback_consent, status, reply, updated_ms, kiosk_at_ms, received_ms)
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                         COALESCE(a.status, 'received'), a.reply, a.updated_ms, $12, $13
                     FROM (SELECT 1) AS one LEFT JOIN LATERAL (
                         SELECT status, reply, updated_ms FROM request_answers WHERE record_id = $1
                         ORDER BY updated_ms DESC LIMIT 1) AS a ON true
                     ON CONFLICT (record_id) DO UPDATE SET status = excluded.status, reply = excluded.reply,
                         updated_ms = excluded.updated_ms",
                &[
                    id,
                    doc,
                    hall,
                    kiosk,
                    &period,
                    &request_reference(id),
                    &r.category,
                    &r.text,
                    &r.resident.as_ref().map(|x| &x.pseudonym),
                    &r.resident.as_ref().map(|x| &x.sealed),
                    &r.callback_consent,
                    &r.at_ms,
                    &received,
                ],
                err,
            )
            .await?;
        }
    }
    Ok(())
}

/// Of the pseudonyms just projected, with their watch tags, those of
/// residents erased within the watch (expired watches dropped on the way).
async fn late_arrivals(tx: &Transaction<'_>, tagged: &[(String, String)]) -> Result<Vec<String>> {
    let err = |e| pg("reading the erasure watch", e);
    let watching = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM erasure_watch)")
        .await
        .map_err(err)?;
    if !tx
        .query_one(&watching, &[])
        .await
        .map_err(err)?
        .get::<_, bool>(0)
        || tagged.is_empty()
    {
        return Ok(Vec::new());
    }
    let now = now_ms();
    tx.execute("DELETE FROM erasure_watch WHERE until_ms <= $1", &[&now])
        .await
        .map_err(err)?;
    let tags: Vec<&str> = tagged.iter().map(|(_, t)| t.as_str()).collect();
    let watched: HashSet<String> = tx
        .query(
            "SELECT tag FROM erasure_watch WHERE tag = ANY($1) AND until_ms > $2",
            &[&tags, &now],
        )
        .await
        .map_err(err)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(tagged
        .iter()
        .filter(|(_, tag)| watched.contains(tag))
        .map(|(p, _)| p.clone())
        .collect())
}

fn request_from_row(r: &tokio_postgres::Row) -> StoredRequest {
    StoredRequest {
        id: r.get(0),
        hall_id: r.get(1),
        assignee: r.get(2),
        reference: r.get(3),
        kiosk_id: r.get(4),
        category: r.get(5),
        text: r.get(6),
        pseudonym: r.get(7),
        sealed: r.get(8),
        callback_consent: r.get(9),
        status: r.get(10),
        reply: r.get(11),
        kiosk_at_ms: r.get(12),
        received_ms: r.get(13),
    }
}

fn checkin_from_row(r: &tokio_postgres::Row) -> StoredCheckin {
    let small = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    StoredCheckin {
        id: r.get(0),
        kiosk_id: r.get(1),
        date: r.get(2),
        activity_id: r.get(3),
        pseudonym: r.get(4),
        sealed: r.get(5),
        headcount: small(r.get(6)),
        companions: small(r.get(7)),
        kiosk_at_ms: r.get(8),
        received_ms: r.get(9),
        clock_skew: r.get(10),
        service: r.get(11),
    }
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

#[async_trait]
impl ProjectionTables for PgProjection {
    async fn standings(&self, docs: &[String]) -> Result<Vec<Standing>> {
        let c = self.client("reading projection state").await?;
        let rows = c
            .query(
                "SELECT d.doc_id, d.hall_id, d.kind, d.owner_kiosk, d.retired_ms IS NOT NULL, s.heads
                 FROM documents d LEFT JOIN projection_state s USING (doc_id)
                 WHERE d.doc_id = ANY($1)",
                &[&docs],
            )
            .await
            .map_err(|e| pg("reading projection state", e))?;
        let mut found: std::collections::HashMap<String, Standing> = rows
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    Standing {
                        owner: Some(DocOwner {
                            hall_id: r.get(1),
                            kind: r.get(2),
                            owner_kiosk: r.get(3),
                            retired: r.get(4),
                        }),
                        projected_heads: r.get(5),
                    },
                )
            })
            .collect();
        // A document nobody owns has no standing but what it was projected
        // at (SQLite answers the same: its heads, no owner).
        let orphans: Vec<&String> = docs.iter().filter(|d| !found.contains_key(*d)).collect();
        if !orphans.is_empty() {
            for r in c
                .query(
                    "SELECT doc_id, heads FROM projection_state WHERE doc_id = ANY($1)",
                    &[&orphans],
                )
                .await
                .map_err(|e| pg("reading projection state", e))?
            {
                found.insert(
                    r.get(0),
                    Standing {
                        owner: None,
                        projected_heads: r.get(1),
                    },
                );
            }
        }
        Ok(docs
            .iter()
            .map(|d| found.get(d).cloned().unwrap_or_default())
            .collect())
    }

    async fn write(
        &self,
        docs: Vec<DocumentWrite>,
        received_ms: i64,
    ) -> Result<Vec<(String, Result<Projected>)>> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.client("projecting").await?;
        let ids = docs.iter().map(|p| p.doc.clone());
        Ok(match write_together(&mut c, &docs, received_ms).await {
            Ok(written) => ids.zip(written.into_iter().map(Ok)).collect(),
            Err(e) if docs.len() == 1 => ids.zip([Err(e)]).collect(),
            Err(_) => {
                let mut out = Vec::with_capacity(docs.len());
                for p in &docs {
                    let one = write_together(&mut c, std::slice::from_ref(p), received_ms)
                        .await
                        .map(|mut w| w.pop().unwrap_or_default());
                    out.push((p.doc.clone(), one));
                }
                out
            }
        })
    }

    async fn record_answer(&self, record_id: &str, reply: &RequestReply) -> Result<()> {
        self.client("recording an answer")
            .await?
            .execute(
                "INSERT INTO request_answers (record_id, status, reply, updated_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (record_id, updated_ms) DO UPDATE SET status = excluded.status, reply = excluded.reply",
                &[&record_id, &reply.status.code(), &reply.reply, &reply.updated_at_ms],
            )
            .await
            .map(|_| ())
            .map_err(|e| pg("recording an answer", e))
    }

    async fn clear(&self) -> Result<()> {
        self.client("clearing the projection")
            .await?
            .batch_execute(
                "BEGIN;
                 TRUNCATE checkins, ratings, shift_events, requests, redemptions, quarantine, projection_state,
                     checkin_days, rating_days, hall_residents;
                 COMMIT;",
            )
            .await
            .map_err(|e| pg("clearing the projection", e))
    }

    async fn request_doc(&self, hall: &str, record_id: &str) -> Result<Option<String>> {
        Ok(self
            .client("finding a request")
            .await?
            .query_opt(
                "SELECT doc_id FROM requests WHERE hall_id = $1 AND record_id = $2",
                &[&hall, &record_id],
            )
            .await
            .map_err(|e| pg("finding a request", e))?
            .map(|r| r.get(0)))
    }

    async fn checkins(
        &self,
        hall: &str,
        from: &str,
        to: &str,
        limit: u32,
    ) -> Result<(CheckinCounts, Vec<StoredCheckin>)> {
        let err = |e| pg("listing check-ins", e);
        let c = self.client("listing check-ins").await?;
        let counts = c
            .query_one(
                "SELECT count(*), COALESCE(SUM(headcount + companions), 0)::bigint,
                        COALESCE(SUM(headcount + companions) FILTER (WHERE service IS NOT NULL), 0)::bigint
                 FROM checkins WHERE hall_id = $1 AND date BETWEEN $2 AND $3",
                &[&hall, &from, &to],
            )
            .await
            .map_err(err)?;
        let rows = c
            .query(
                &format!(
                    "{CHECKIN_SELECT} WHERE hall_id = $1 AND date BETWEEN $2 AND $3
                     ORDER BY kiosk_at_ms, record_id LIMIT $4"
                ),
                &[&hall, &from, &to, &i64::from(limit)],
            )
            .await
            .map_err(err)?;
        Ok((
            CheckinCounts {
                count: count(counts.get(0)),
                person_times: count(counts.get(1)),
                walk_in_person_times: count(counts.get(2)),
            },
            rows.iter().map(checkin_from_row).collect(),
        ))
    }

    async fn requests(&self, hall: &str, status: Option<&str>) -> Result<Vec<StoredRequest>> {
        Ok(self
            .client("listing requests")
            .await?
            .query(
                &format!(
                    "{REQUEST_SELECT} WHERE r.hall_id = $1 AND ($2::text IS NULL OR r.status = $2)
                     ORDER BY r.kiosk_at_ms DESC, r.record_id DESC"
                ),
                &[&hall, &status],
            )
            .await
            .map_err(|e| pg("listing requests", e))?
            .iter()
            .map(request_from_row)
            .collect())
    }

    async fn request(&self, hall: &str, record_id: &str) -> Result<Option<StoredRequest>> {
        Ok(self
            .client("reading a request")
            .await?
            .query_opt(
                &format!("{REQUEST_SELECT} WHERE r.hall_id = $1 AND r.record_id = $2"),
                &[&hall, &record_id],
            )
            .await
            .map_err(|e| pg("reading a request", e))?
            .as_ref()
            .map(request_from_row))
    }

    async fn requests_page(
        &self,
        f: &RequestFilter,
        cursor: Option<&RequestCursor>,
        limit: u32,
    ) -> Result<Vec<StoredRequest>> {
        let (after, order) = if f.oldest_first {
            ("(r.kiosk_at_ms, r.record_id) > ($5, $6)", "ASC")
        } else {
            ("(r.kiosk_at_ms, r.record_id) < ($5, $6)", "DESC")
        };
        let (at, id) = cursor.map_or((None, None), |(at, id)| (Some(*at), Some(id.as_str())));
        let c = self.client("listing requests").await?;
        let st = c
            .prepare_cached(&format!(
                "{REQUEST_SELECT} WHERE r.hall_id = $1 AND ($2::text IS NULL OR r.status = $2)
                   AND ($3::text IS NULL OR r.category = $3) AND r.kiosk_at_ms <= $4
                   AND ($5::bigint IS NULL OR {after})
                 ORDER BY r.kiosk_at_ms {order}, r.record_id {order} LIMIT $7"
            ))
            .await
            .map_err(|e| pg("listing requests", e))?;
        Ok(c.query(
            &st,
            &[
                &f.hall,
                &f.status,
                &f.category,
                &f.made_until_ms,
                &at,
                &id,
                &i64::from(limit),
            ],
        )
        .await
        .map_err(|e| pg("listing requests", e))?
        .iter()
        .map(request_from_row)
        .collect())
    }

    async fn assign_request(&self, record_id: &str, assignee: &str, at_ms: i64) -> Result<()> {
        self.client("assigning a request")
            .await?
            .execute(
                "INSERT INTO request_assignments (record_id, assignee, at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (record_id) DO UPDATE SET assignee = excluded.assignee, at_ms = excluded.at_ms",
                &[&record_id, &assignee, &at_ms],
            )
            .await
            .map(|_| ())
            .map_err(|e| pg("assigning a request", e))
    }

    async fn checkins_page(
        &self,
        hall: &str,
        from: &str,
        to: &str,
        cursor: Option<&CheckinCursor>,
        limit: u32,
    ) -> Result<Vec<StoredCheckin>> {
        let (date, at, id) = cursor.map_or((None, None, None), |(d, at, id)| {
            (Some(d.as_str()), Some(*at), Some(id.as_str()))
        });
        let c = self.client("exporting check-ins").await?;
        let st = c
            .prepare_cached(&format!(
                "{CHECKIN_SELECT} WHERE hall_id = $1 AND date BETWEEN $2 AND $3
                   AND ($4::text IS NULL OR (date, kiosk_at_ms, record_id) > ($4, $5, $6))
                 ORDER BY date, kiosk_at_ms, record_id LIMIT $7"
            ))
            .await
            .map_err(|e| pg("exporting check-ins", e))?;
        Ok(c.query(
            &st,
            &[&hall, &from, &to, &date, &at, &id, &i64::from(limit)],
        )
        .await
        .map_err(|e| pg("exporting check-ins", e))?
        .iter()
        .map(checkin_from_row)
        .collect())
    }

    async fn shift_spans(&self, hall: &str, from: &str, to: &str) -> Result<Vec<ShiftSpan>> {
        Ok(self
            .client("reading volunteers' shifts")
            .await?
            .query(
                &format!(
                    "{SHIFT_SELECT} WHERE i.action = 'sign_in' AND i.hall_id = $1 AND i.date BETWEEN $2 AND $3
                     ORDER BY i.kiosk_at_ms, i.record_id"
                ),
                &[&hall, &from, &to],
            )
            .await
            .map_err(|e| pg("reading volunteers' shifts", e))?
            .iter()
            .map(|r| ShiftSpan {
                pseudonym: r.get(0),
                sealed: r.get(1),
                signed_in_ms: r.get(2),
                signed_out_ms: r.get(3),
                shift_id: r.get(4),
                date: r.get(5),
                activity_id: r.get(6),
            })
            .collect())
    }

    async fn redemptions(
        &self,
        hall: &str,
        from_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<StoredRedemption>> {
        Ok(self
            .client("reading redemptions")
            .await?
            .query(
                &format!(
                    "{REDEMPTION_SELECT} WHERE hall_id = $1 AND kiosk_at_ms >= $2 AND kiosk_at_ms < $3
                     ORDER BY kiosk_at_ms, record_id"
                ),
                &[&hall, &from_ms, &until_ms],
            )
            .await
            .map_err(|e| pg("reading redemptions", e))?
            .iter()
            .map(|r| StoredRedemption {
                record_id: r.get(0),
                kiosk_id: r.get(1),
                pseudonym: r.get(2),
                item: r.get(3),
                points: r.get(4),
                kiosk_at_ms: r.get(5),
                owed: r.get(6),
            })
            .collect())
    }

    async fn hall_overview(
        &self,
        hall: &str,
        today: &str,
        week_from: &str,
        month_from: &str,
    ) -> Result<HallOverview> {
        let r = self
            .client("overview")
            .await?
            .query_one(
                "SELECT
                   (SELECT count(*) FROM checkins WHERE hall_id = $1 AND date = $2),
                   (SELECT COALESCE(SUM(headcount + companions), 0)::bigint FROM checkins
                     WHERE hall_id = $1 AND date >= $3),
                   (SELECT COALESCE(SUM(headcount + companions), 0)::bigint FROM checkins
                     WHERE hall_id = $1 AND date >= $4),
                   (SELECT count(*) FROM requests WHERE hall_id = $1 AND status <> 'resolved')",
                &[&hall, &today, &week_from, &month_from],
            )
            .await
            .map_err(|e| pg("overview", e))?;
        Ok(HallOverview {
            checkins_today: r.get(0),
            person_times_week: r.get(1),
            person_times_month: r.get(2),
            open_requests: r.get(3),
        })
    }

    async fn unprojected_documents(&self) -> Result<Vec<String>> {
        Ok(self
            .client("finding unprojected documents")
            .await?
            .query(UNPROJECTED_SQL, &[])
            .await
            .map_err(|e| pg("finding unprojected documents", e))?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    async fn resident_records(&self, pseudonym: &str) -> Result<ResidentRecords> {
        let r = self
            .client("counting a resident's records")
            .await?
            .query_one(
                "SELECT (SELECT count(*) FROM checkins WHERE phone_hash = $1),
                        (SELECT count(*) FROM shift_events WHERE phone_hash = $1),
                        (SELECT count(*) FROM requests WHERE phone_hash = $1)",
                &[&pseudonym],
            )
            .await
            .map_err(|e| pg("counting a resident's records", e))?;
        Ok(ResidentRecords {
            checkins: r.get(0),
            shifts: r.get(1),
            requests: r.get(2),
        })
    }

    async fn resident_documents(&self, pseudonym: &str) -> Result<Vec<(String, String)>> {
        Ok(self
            .client("finding a resident's documents")
            .await?
            .query(RESIDENT_DOCUMENTS_SQL, &[&pseudonym])
            .await
            .map_err(|e| pg("finding a resident's documents", e))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    async fn resident_contacts(&self, pseudonym: &str) -> Result<Vec<String>> {
        Ok(self
            .client("reading a resident's contacts")
            .await?
            .query(RESIDENT_CONTACTS_SQL, &[&pseudonym])
            .await
            .map_err(|e| pg("reading a resident's contacts", e))?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    async fn watched(&self, tag: &str) -> Result<Option<String>> {
        Ok(self
            .client("reading the erasure watch")
            .await?
            .query_opt(
                "SELECT erasure_id FROM erasure_watch WHERE tag = $1 AND until_ms > $2",
                &[&tag, &now_ms()],
            )
            .await
            .map_err(|e| pg("reading the erasure watch", e))?
            .map(|r| r.get(0)))
    }

    async fn keep_erased_visits(&self, pseudonym: &str, erasure_id: &str) -> Result<()> {
        self.client("keeping an erased resident's visit days")
            .await?
            .execute(KEEP_ERASED_VISITS_SQL, &[&pseudonym, &erasure_id])
            .await
            .map(|_| ())
            .map_err(|e| pg("keeping an erased resident's visit days", e))
    }

    async fn finish_erasure(&self, e: &FinishedErasure) -> Result<()> {
        let err = |x| pg("finishing an erasure", x);
        let mut c = self.client("finishing an erasure").await?;
        let tx = c.transaction().await.map_err(err)?;
        tx.execute(
            "DELETE FROM hall_residents WHERE phone_hash = $1",
            &[&e.pseudonym],
        )
        .await
        .map_err(err)?;
        // What they redeemed stays counted, no longer theirs.
        tx.execute(
            "UPDATE redemptions SET phone_hash = NULL WHERE phone_hash = $1",
            &[&e.pseudonym],
        )
        .await
        .map_err(err)?;
        tx.execute(
            "INSERT INTO erasures AS x (id, by_user, at_ms, records, documents) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET records = x.records + excluded.records,
                 documents = x.documents + excluded.documents",
            &[&e.erasure_id, &e.by, &e.at_ms, &e.records, &e.documents],
        )
        .await
        .map_err(err)?;
        tx.execute(
            "INSERT INTO erasure_watch (tag, erasure_id, until_ms) VALUES ($1, $2, $3)
             ON CONFLICT (tag) DO NOTHING",
            &[&e.tag, &e.erasure_id, &e.watch_until_ms],
        )
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)
    }

    async fn forget_document(&self, doc: &str) -> Result<()> {
        let err = |x| pg("forgetting a retired document", x);
        let mut c = self.client("forgetting a retired document").await?;
        let tx = c.transaction().await.map_err(err)?;
        for table in PROJECTED_BY_DOCUMENT {
            tx.execute(&format!("DELETE FROM {table} WHERE doc_id = $1"), &[&doc])
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    async fn quarantine(&self, hall: &str) -> Result<Vec<QuarantineRow>> {
        Ok(self
            .client("listing quarantine")
            .await?
            .query(
                "SELECT doc_id, record_key, kiosk_id, reason, at_ms FROM quarantine WHERE hall_id = $1
                 ORDER BY at_ms DESC, doc_id, record_key",
                &[&hall],
            )
            .await
            .map_err(|e| pg("listing quarantine", e))?
            .iter()
            .map(|r| QuarantineRow {
                doc_id: r.get(0),
                record_key: r.get(1),
                kiosk_id: r.get(2),
                reason: r.get(3),
                at_ms: r.get(4),
            })
            .collect())
    }

    async fn kiosk_day(&self, kiosk: &str, since_ms: i64) -> Result<KioskDay> {
        let r = self
            .client("counting a kiosk's records")
            .await?
            .query_one(
                "SELECT
                   (SELECT count(*) FROM checkins WHERE kiosk_id = $1 AND received_ms >= $2)
                 + (SELECT count(*) FROM ratings WHERE kiosk_id = $1 AND received_ms >= $2)
                 + (SELECT count(*) FROM shift_events WHERE kiosk_id = $1 AND received_ms >= $2)
                 + (SELECT count(*) FROM requests WHERE kiosk_id = $1 AND received_ms >= $2)
                 + (SELECT count(*) FROM redemptions WHERE kiosk_id = $1 AND received_ms >= $2),
                   (SELECT count(*) FROM quarantine WHERE kiosk_id = $1 AND at_ms >= $2),
                   (SELECT reason FROM quarantine WHERE kiosk_id = $1 AND at_ms >= $2
                    ORDER BY at_ms DESC LIMIT 1)",
                &[&kiosk, &since_ms],
            )
            .await
            .map_err(|e| pg("counting a kiosk's records", e))?;
        Ok(KioskDay {
            records: r.get(0),
            sync_errors: r.get(1),
            last_error: r.get(2),
        })
    }

    async fn hall_figures(
        &self,
        hall: &str,
        from: &str,
        to: &str,
        (from_ms, to_ms): (i64, i64),
    ) -> Result<HallFigures> {
        let err = |e| pg("computing statistics", e);
        let c = self.client("computing statistics").await?;
        let checkin_days = c
            .query(
                "SELECT date, activity_id, persons FROM checkin_days
                 WHERE hall_id = $1 AND date BETWEEN $2 AND $3 AND persons <> 0 ORDER BY 1, 2",
                &[&hall, &from, &to],
            )
            .await
            .map_err(err)?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let ratings = c
            .query(
                "SELECT activity_id, SUM(ratings)::bigint, SUM(score_sum)::bigint FROM rating_days
                 WHERE hall_id = $1 AND date BETWEEN $2 AND $3 GROUP BY 1 HAVING SUM(ratings) > 0 ORDER BY 1",
                &[&hall, &from, &to],
            )
            .await
            .map_err(err)?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let resolution_ms = c
            .query(
                "SELECT updated_ms - kiosk_at_ms FROM requests WHERE hall_id = $1 AND status = 'resolved'
                 AND updated_ms IS NOT NULL AND kiosk_at_ms >= $2 AND kiosk_at_ms < $3 ORDER BY 1",
                &[&hall, &from_ms, &to_ms],
            )
            .await
            .map_err(err)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let residents = c
            .query_one(
                "SELECT
                   (SELECT COALESCE(SUM(named), 0)::bigint FROM checkin_days
                     WHERE hall_id = $1 AND date BETWEEN $2 AND $3),
                   (SELECT count(*) FROM hall_residents r WHERE r.hall_id = $1
                     AND r.phone_hash <> 'erased' AND EXISTS (
                     SELECT 1 FROM checkins c WHERE c.hall_id = r.hall_id
                       AND c.phone_hash = r.phone_hash AND c.date BETWEEN $2 AND $3))
                   + (SELECT count(DISTINCT erasure_id) FROM erased_visits
                     WHERE hall_id = $1 AND date BETWEEN $2 AND $3)",
                &[&hall, &from, &to],
            )
            .await
            .map_err(err)?;
        let requests = c
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE status = 'resolved') FROM requests
                 WHERE hall_id = $1 AND kiosk_at_ms >= $2 AND kiosk_at_ms < $3",
                &[&hall, &from_ms, &to_ms],
            )
            .await
            .map_err(err)?;
        Ok(HallFigures {
            checkin_days,
            named_visits: residents.get(0),
            residents: residents.get(1),
            ratings,
            requests_received: requests.get(0),
            requests_resolved: requests.get(1),
            resolution_ms,
        })
    }
}
