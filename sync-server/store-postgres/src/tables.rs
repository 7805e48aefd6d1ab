//! The server's own tables on PostgreSQL: [`PgTables`] implements
//! `linli_sync_engine::tables::ServerTables` as the SQLite file does, one
//! statement or one transaction per call, shared by every instance.
//!
//! The schema is the SQLite one's, in PostgreSQL's terms: times stay
//! milliseconds since the epoch (`BIGINT`) as the engine counts them, and
//! the admin's name is `user_name` (`user` is reserved here).

use async_trait::async_trait;
use deadpool_postgres::Pool;
use linli_core::points_rules::PointsRule;
use linli_sync_engine::{
    Error as EngineError, Result,
    db::{AuditEntry, AuditFilter, Claim, DocOwner, Hall, Kiosk, NewDoc, SessionRow},
    tables::{AdminTokens, RemovedAdmin, ServerTables},
};
use tokio_postgres::{Row, error::SqlState};

use crate::Error;

/// The server's own tables (component `server`).
pub const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE server_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE halls (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        tz TEXT NOT NULL,
        calendar_doc TEXT NOT NULL,
        directory_doc TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    );
    CREATE TABLE kiosks (
        id TEXT PRIMARY KEY,
        hall_id TEXT NOT NULL REFERENCES halls (id),
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_ms BIGINT NOT NULL,
        revoked_ms BIGINT,
        last_seen_ms BIGINT,
        app_version TEXT
    );
    CREATE TABLE admins (
        user_name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        password_hash TEXT
    );
    CREATE TABLE admin_tokens (
        token_hash TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES admins (user_name),
        created_ms BIGINT NOT NULL,
        revoked_ms BIGINT
    );
    CREATE TABLE admin_halls (
        user_name TEXT NOT NULL REFERENCES admins (user_name),
        hall_id TEXT NOT NULL REFERENCES halls (id),
        PRIMARY KEY (user_name, hall_id)
    );
    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES admins (user_name),
        csrf TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL
    );
    CREATE TABLE audit_log (
        id BIGSERIAL PRIMARY KEY,
        at_ms BIGINT NOT NULL,
        user_name TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        before TEXT,
        after TEXT
    );
    CREATE TABLE documents (
        doc_id TEXT PRIMARY KEY,
        hall_id TEXT NOT NULL,
        kind TEXT,
        owner_kiosk TEXT,
        first_seen_ms BIGINT NOT NULL,
        retired_ms BIGINT,
        replaced_by TEXT
    );
    CREATE INDEX documents_hall ON documents (hall_id);
    CREATE INDEX documents_owner_seen ON documents (owner_kiosk, first_seen_ms);
",
    "
    -- Requests assigned to staff, and a hall's points catalogue.
    CREATE TABLE request_assignments (
        record_id TEXT PRIMARY KEY,
        assignee TEXT NOT NULL,
        at_ms BIGINT NOT NULL
    );
    CREATE TABLE points_catalogue (
        hall_id TEXT NOT NULL REFERENCES halls (id),
        item TEXT NOT NULL,
        points BIGINT NOT NULL,
        PRIMARY KEY (hall_id, item)
    );
    -- Each erasure, for the operators' record: who, when, how much. Never
    -- the number, never the pseudonym.
    CREATE TABLE erasures (
        id TEXT PRIMARY KEY,
        by_user TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        records BIGINT NOT NULL,
        documents BIGINT NOT NULL
    );
    -- The days an erased resident visited each hall, under the erasure's
    -- random id and pointing at no record: distinct-resident counts stay.
    CREATE TABLE erased_visits (
        erasure_id TEXT NOT NULL,
        hall_id TEXT NOT NULL,
        date TEXT NOT NULL,
        PRIMARY KEY (hall_id, date, erasure_id)
    );
    -- Residents erased lately, as tags only the residents' key computes:
    -- their records that arrive late are erased as they arrive.
    CREATE TABLE erasure_watch (
        tag TEXT PRIMARY KEY,
        erasure_id TEXT NOT NULL,
        until_ms BIGINT NOT NULL
    );
",
    "
    -- (issue 16): how many of each catalogue item the hall has to hand
    -- over (kiosks are granted shares of it, as of volunteers' points).
    ALTER TABLE points_catalogue ADD COLUMN stock BIGINT NOT NULL DEFAULT 0;
",
    "
    -- (issue 16): each hall's points rules, one row per version, each in
    -- force from its start until the next; versions are only added.
    CREATE TABLE points_rules (
        hall_id TEXT NOT NULL REFERENCES halls (id),
        from_ms BIGINT NOT NULL,
        per_hour BIGINT NOT NULL,
        monthly_cap BIGINT NOT NULL,
        offline_share BIGINT NOT NULL,
        iou_cap BIGINT NOT NULL,
        PRIMARY KEY (hall_id, from_ms)
    );
",
    "
    -- (issue 16): points per hour by activity kind, as
    -- `health_clinic:4,lecture:3` (PointsRule::by_kind_text; empty: none).
    ALTER TABLE points_rules ADD COLUMN per_hour_by_kind TEXT NOT NULL DEFAULT '';
",
];

/// The server's own tables over the store's pool.
#[derive(Clone)]
pub struct PgTables {
    pool: Pool,
}

impl From<Error> for EngineError {
    fn from(e: Error) -> Self {
        match e {
            Error::Config(m) => EngineError::Config(m),
            Error::NewerSchema { .. } => EngineError::Config(e.to_string()),
            Error::Pool { context, detail } => EngineError::Store { context, detail },
            Error::Postgres {
                context, detail, ..
            } => EngineError::Store { context, detail },
        }
    }
}

/// A statement's error in the engine's terms.
pub(crate) fn pg(context: &str, e: tokio_postgres::Error) -> EngineError {
    Error::pg(context, e).into()
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

const KIOSK_COLUMNS: &str = "id, hall_id, name, created_ms, revoked_ms, last_seen_ms, app_version";
const HALL_COLUMNS: &str = "id, name, tz, calendar_doc, directory_doc";

fn kiosk_from_row(r: &Row) -> Kiosk {
    Kiosk {
        id: r.get(0),
        hall_id: r.get(1),
        name: r.get(2),
        created_ms: r.get(3),
        revoked_ms: r.get(4),
        last_seen_ms: r.get(5),
        app_version: r.get(6),
    }
}

fn hall_from_row(r: &Row) -> Hall {
    Hall {
        id: r.get(0),
        name: r.get(1),
        tz: r.get(2),
        calendar_doc: r.get(3),
        directory_doc: r.get(4),
    }
}

fn owner_from_row(r: &Row) -> DocOwner {
    DocOwner {
        hall_id: r.get(0),
        kind: r.get(1),
        owner_kiosk: r.get(2),
        retired: r.get(3),
    }
}

const DOC_OWNER_SQL: &str =
    "SELECT hall_id, kind, owner_kiosk, retired_ms IS NOT NULL FROM documents WHERE doc_id = $1";

impl PgTables {
    /// The tables over `pool` (migrated with [`MIGRATIONS`]).
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    async fn client(&self, what: &str) -> Result<deadpool_postgres::Object> {
        Ok(crate::connection(&self.pool, what).await?)
    }

    /// Claim `docs` inside `tx` in three round trips, whatever their
    /// number: which are owned already, how many each kiosk claimed in the
    /// last day, then one insert of those to claim. Decided in order as
    /// [`Self::claim_one`] decides each (a document named twice is known
    /// the second time; claims earlier in the batch count towards the
    /// kiosk's limit). A document another instance claims between our
    /// look and our insert is known.
    async fn claim_batch(
        tx: &deadpool_postgres::Transaction<'_>,
        docs: &[NewDoc],
        max_per_day: i64,
        now_ms: i64,
    ) -> Result<Vec<Claim>> {
        use std::collections::{HashMap, HashSet};
        let ids: Vec<&str> = docs.iter().map(|d| d.doc_id.as_str()).collect();
        let kiosks: Vec<&str> = docs.iter().map(|d| d.kiosk_id.as_str()).collect();
        let mut owned: HashSet<String> = tx
            .query(
                "SELECT doc_id FROM documents WHERE doc_id = ANY($1)",
                &[&ids],
            )
            .await
            .map_err(|e| pg("looking up documents", e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut claimed: HashMap<String, i64> = tx
            .query(
                "SELECT owner_kiosk, count(*) FROM documents
                 WHERE owner_kiosk = ANY($1) AND first_seen_ms >= $2 GROUP BY owner_kiosk",
                &[&kiosks, &(now_ms - 86_400_000)],
            )
            .await
            .map_err(|e| pg("counting kiosks' documents", e))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut claims = Vec::with_capacity(docs.len());
        let (mut new_ids, mut halls, mut owners) = (Vec::new(), Vec::new(), Vec::new());
        for d in docs {
            let count = claimed.entry(d.kiosk_id.clone()).or_default();
            claims.push(if owned.contains(&d.doc_id) {
                Claim::Known
            } else if *count >= max_per_day {
                Claim::OverLimit
            } else {
                *count += 1;
                owned.insert(d.doc_id.clone());
                new_ids.push(d.doc_id.as_str());
                halls.push(d.hall_id.as_str());
                owners.push(d.kiosk_id.as_str());
                Claim::Claimed
            });
        }
        if new_ids.is_empty() {
            return Ok(claims);
        }
        let inserted: HashSet<String> = tx
            .query(
                "INSERT INTO documents (doc_id, hall_id, owner_kiosk, first_seen_ms)
                 SELECT d, h, k, $4 FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[]) AS t (d, h, k)
                 ON CONFLICT (doc_id) DO NOTHING RETURNING doc_id",
                &[&new_ids, &halls, &owners, &now_ms],
            )
            .await
            .map_err(|e| pg("claiming documents", e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for (claim, d) in claims.iter_mut().zip(docs) {
            if *claim == Claim::Claimed && !inserted.contains(&d.doc_id) {
                // Claimed by another instance a moment ago.
                *claim = Claim::Known;
            }
        }
        Ok(claims)
    }

    /// Claim one document inside `tx` (or on a plain connection).
    async fn claim_one(
        c: &impl deadpool_postgres::GenericClient,
        d: &NewDoc,
        max_per_day: i64,
        now_ms: i64,
    ) -> Result<Claim> {
        if c.query_opt("SELECT 1 FROM documents WHERE doc_id = $1", &[&d.doc_id])
            .await
            .map_err(|e| pg("looking up a document", e))?
            .is_some()
        {
            return Ok(Claim::Known);
        }
        let claimed: i64 = c
            .query_one(
                "SELECT count(*) FROM documents WHERE owner_kiosk = $1 AND first_seen_ms >= $2",
                &[&d.kiosk_id, &(now_ms - 86_400_000)],
            )
            .await
            .map_err(|e| pg("counting a kiosk's documents", e))?
            .get(0);
        if claimed >= max_per_day {
            return Ok(Claim::OverLimit);
        }
        let n = c
            .execute(
                "INSERT INTO documents (doc_id, hall_id, owner_kiosk, first_seen_ms)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (doc_id) DO NOTHING",
                &[&d.doc_id, &d.hall_id, &d.kiosk_id, &now_ms],
            )
            .await
            .map_err(|e| pg("claiming a document", e))?;
        // Another instance claimed it between our look and our insert.
        Ok(if n == 0 { Claim::Known } else { Claim::Claimed })
    }
}

#[async_trait]
impl ServerTables for PgTables {
    fn close_connections(&self) {
        // The projection and the documents share this pool: it closes for
        // all of them.
        self.pool.close();
    }

    async fn meta(&self, key: &str) -> Result<Option<String>> {
        let c = self.client("reading server settings").await?;
        let row = c
            .query_opt("SELECT value FROM server_meta WHERE key = $1", &[&key])
            .await
            .map_err(|e| pg("reading server settings", e))?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        let c = self.client("saving server settings").await?;
        c.execute(
            "INSERT INTO server_meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&key, &value],
        )
        .await
        .map_err(|e| pg("saving server settings", e))?;
        Ok(())
    }

    async fn meta_or_insert(&self, key: &str, value: &str) -> Result<String> {
        let c = self.client("saving server settings").await?;
        c.execute(
            "INSERT INTO server_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &value],
        )
        .await
        .map_err(|e| pg("saving server settings", e))?;
        Ok(
            c.query_one("SELECT value FROM server_meta WHERE key = $1", &[&key])
                .await
                .map_err(|e| pg("reading server settings", e))?
                .get(0),
        )
    }

    async fn insert_hall(&self, hall: &Hall, now_ms: i64) -> Result<()> {
        let mut c = self.client("adding a hall").await?;
        let tx = c.transaction().await.map_err(|e| pg("adding a hall", e))?;
        tx.execute(
            "INSERT INTO halls (id, name, tz, calendar_doc, directory_doc, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &hall.id,
                &hall.name,
                &hall.tz,
                &hall.calendar_doc,
                &hall.directory_doc,
                &now_ms,
            ],
        )
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                EngineError::Conflict(format!("hall {}", hall.id))
            } else {
                pg("adding a hall", e)
            }
        })?;
        for (doc, kind) in [
            (&hall.calendar_doc, "calendar"),
            (&hall.directory_doc, "directory"),
        ] {
            tx.execute(
                "INSERT INTO documents (doc_id, hall_id, kind, first_seen_ms) VALUES ($1, $2, $3, $4)",
                &[doc, &hall.id, &kind, &now_ms],
            )
            .await
            .map_err(|e| pg("recording hall documents", e))?;
        }
        tx.commit().await.map_err(|e| pg("adding a hall", e))
    }

    async fn halls(&self) -> Result<Vec<Hall>> {
        let c = self.client("listing halls").await?;
        let rows = c
            .query(
                &format!("SELECT {HALL_COLUMNS} FROM halls ORDER BY id"),
                &[],
            )
            .await
            .map_err(|e| pg("listing halls", e))?;
        Ok(rows.iter().map(hall_from_row).collect())
    }

    async fn hall(&self, id: &str) -> Result<Option<Hall>> {
        let c = self.client("reading a hall").await?;
        let row = c
            .query_opt(
                &format!("SELECT {HALL_COLUMNS} FROM halls WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(|e| pg("reading a hall", e))?;
        Ok(row.as_ref().map(hall_from_row))
    }

    async fn insert_kiosk(
        &self,
        hall_id: &str,
        name: &str,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Kiosk> {
        let mut c = self.client("adding a kiosk").await?;
        let tx = c.transaction().await.map_err(|e| pg("adding a kiosk", e))?;
        // One kiosk id picked at a time per hall, whichever instance asks.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('linli-kiosk-ids:' || $1))",
            &[&hall_id],
        )
        .await
        .map_err(|e| pg("adding a kiosk", e))?;
        let n: i64 = tx
            .query_one(
                "SELECT count(*) FROM kiosks WHERE hall_id = $1",
                &[&hall_id],
            )
            .await
            .map_err(|e| pg("adding a kiosk", e))?
            .get(0);
        let mut next = n + 1;
        let id = loop {
            let candidate = format!("{hall_id}-k{next}");
            let taken = tx
                .query_opt("SELECT 1 FROM kiosks WHERE id = $1", &[&candidate])
                .await
                .map_err(|e| pg("adding a kiosk", e))?;
            if taken.is_none() {
                break candidate;
            }
            next += 1;
        };
        tx.execute(
            "INSERT INTO kiosks (id, hall_id, name, token_hash, created_ms) VALUES ($1, $2, $3, $4, $5)",
            &[&id, &hall_id, &name, &token_hash, &now_ms],
        )
        .await
        .map_err(|e| pg("adding a kiosk", e))?;
        tx.commit().await.map_err(|e| pg("adding a kiosk", e))?;
        Ok(Kiosk {
            id,
            hall_id: hall_id.to_string(),
            name: name.to_string(),
            created_ms: now_ms,
            revoked_ms: None,
            last_seen_ms: None,
            app_version: None,
        })
    }

    async fn kiosk_by_token_hash(&self, token_hash: &str) -> Result<Option<Kiosk>> {
        let c = self.client("checking a kiosk token").await?;
        let row = c
            .query_opt(
                &format!("SELECT {KIOSK_COLUMNS} FROM kiosks WHERE token_hash = $1"),
                &[&token_hash],
            )
            .await
            .map_err(|e| pg("checking a kiosk token", e))?;
        Ok(row.as_ref().map(kiosk_from_row))
    }

    async fn kiosk(&self, id: &str) -> Result<Option<Kiosk>> {
        let c = self.client("reading a kiosk").await?;
        let row = c
            .query_opt(
                &format!("SELECT {KIOSK_COLUMNS} FROM kiosks WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(|e| pg("reading a kiosk", e))?;
        Ok(row.as_ref().map(kiosk_from_row))
    }

    async fn kiosks(&self) -> Result<Vec<Kiosk>> {
        let c = self.client("listing kiosks").await?;
        let rows = c
            .query(
                &format!("SELECT {KIOSK_COLUMNS} FROM kiosks ORDER BY hall_id, id"),
                &[],
            )
            .await
            .map_err(|e| pg("listing kiosks", e))?;
        Ok(rows.iter().map(kiosk_from_row).collect())
    }

    async fn revoke_kiosk(&self, id: &str, now_ms: i64) -> Result<bool> {
        let c = self.client("revoking a kiosk").await?;
        let row = c
            .query_opt(
                "UPDATE kiosks SET revoked_ms = COALESCE(revoked_ms, $2) WHERE id = $1
                 RETURNING revoked_ms = $2",
                &[&id, &now_ms],
            )
            .await
            .map_err(|e| pg("revoking a kiosk", e))?;
        match row {
            None => Err(EngineError::NotFound(format!("kiosk {id}"))),
            Some(r) => Ok(r.get(0)),
        }
    }

    async fn revoked_kiosks(&self) -> Result<Vec<String>> {
        let c = self.client("listing revoked kiosks").await?;
        let rows = c
            .query("SELECT id FROM kiosks WHERE revoked_ms IS NOT NULL", &[])
            .await
            .map_err(|e| pg("listing revoked kiosks", e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn touch_kiosk(&self, id: &str, now_ms: i64, app_version: Option<&str>) -> Result<()> {
        let c = self.client("noting a kiosk's visit").await?;
        c.execute(
            "UPDATE kiosks SET last_seen_ms = $2, app_version = COALESCE($3, app_version) WHERE id = $1",
            &[&id, &now_ms, &app_version],
        )
        .await
        .map_err(|e| pg("noting a kiosk's visit", e))?;
        Ok(())
    }

    async fn insert_admin(&self, user: &str, role: &str, now_ms: i64) -> Result<()> {
        let c = self.client("adding an admin").await?;
        c.execute(
            "INSERT INTO admins (user_name, role, created_ms) VALUES ($1, $2, $3)",
            &[&user, &role, &now_ms],
        )
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                EngineError::Conflict(format!("admin {user}"))
            } else {
                pg("adding an admin", e)
            }
        })?;
        Ok(())
    }

    async fn insert_admin_token(&self, user: &str, token_hash: &str, now_ms: i64) -> Result<()> {
        let c = self.client("issuing a token").await?;
        let n = c
            .execute(
                "INSERT INTO admin_tokens (token_hash, user_name, created_ms)
                 SELECT $2, user_name, $3 FROM admins WHERE user_name = $1",
                &[&user, &token_hash, &now_ms],
            )
            .await
            .map_err(|e| pg("issuing a token", e))?;
        if n == 0 {
            return Err(EngineError::NotFound(format!("admin {user}")));
        }
        Ok(())
    }

    async fn admin_by_token_hash(&self, token_hash: &str) -> Result<Option<(String, String)>> {
        let c = self.client("checking an admin token").await?;
        let row = c
            .query_opt(
                "SELECT a.user_name, a.role FROM admin_tokens t JOIN admins a ON a.user_name = t.user_name
                 WHERE t.token_hash = $1 AND t.revoked_ms IS NULL",
                &[&token_hash],
            )
            .await
            .map_err(|e| pg("checking an admin token", e))?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    async fn set_admin_password(&self, user: &str, password_hash: &str) -> Result<()> {
        let c = self.client("setting a password").await?;
        let n = c
            .execute(
                "UPDATE admins SET password_hash = $2 WHERE user_name = $1",
                &[&user, &password_hash],
            )
            .await
            .map_err(|e| pg("setting a password", e))?;
        if n == 0 {
            return Err(EngineError::NotFound(format!("admin {user}")));
        }
        Ok(())
    }

    async fn admin_login(&self, user: &str) -> Result<Option<(String, Option<String>)>> {
        let c = self.client("reading an admin").await?;
        let row = c
            .query_opt(
                "SELECT role, password_hash FROM admins WHERE user_name = $1",
                &[&user],
            )
            .await
            .map_err(|e| pg("reading an admin", e))?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    async fn grant_hall(&self, user: &str, hall_id: &str) -> Result<()> {
        let c = self.client("granting a hall").await?;
        c.execute(
            "INSERT INTO admin_halls (user_name, hall_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&user, &hall_id],
        )
        .await
        .map_err(|e| pg("granting a hall", e))?;
        Ok(())
    }

    async fn ungrant_hall(&self, user: &str, hall_id: &str) -> Result<bool> {
        let c = self.client("taking a hall from an admin").await?;
        c.execute(
            "DELETE FROM admin_halls WHERE user_name = $1 AND hall_id = $2",
            &[&user, &hall_id],
        )
        .await
        .map(|n| n > 0)
        .map_err(|e| pg("taking a hall from an admin", e))
    }

    async fn remove_admin(&self, user: &str) -> Result<RemovedAdmin> {
        let err = |e| pg("removing an admin", e);
        let mut c = self.client("removing an admin").await?;
        let tx = c.transaction().await.map_err(err)?;
        // One removal at a time, so two never leave no central admin.
        tx.execute("LOCK TABLE admins IN SHARE ROW EXCLUSIVE MODE", &[])
            .await
            .map_err(err)?;
        let role: Option<String> = tx
            .query_opt("SELECT role FROM admins WHERE user_name = $1", &[&user])
            .await
            .map_err(err)?
            .map(|r| r.get(0));
        let Some(role) = role else {
            return Err(EngineError::NotFound(format!("admin {user}")));
        };
        let centrals: i64 = tx
            .query_one("SELECT count(*) FROM admins WHERE role = 'central'", &[])
            .await
            .map_err(err)?
            .get(0);
        if role == "central" && centrals <= 1 {
            return Err(EngineError::Conflict(format!(
                "{user} is the last central admin: add another central admin first"
            )));
        }
        let mut counts = [0_usize; 3];
        for (i, table) in ["admin_tokens", "sessions", "admin_halls"]
            .iter()
            .enumerate()
        {
            counts[i] = usize::try_from(
                tx.execute(
                    &format!("DELETE FROM {table} WHERE user_name = $1"),
                    &[&user],
                )
                .await
                .map_err(err)?,
            )
            .unwrap_or(usize::MAX);
        }
        tx.execute("DELETE FROM admins WHERE user_name = $1", &[&user])
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(RemovedAdmin {
            tokens: counts[0],
            sessions: counts[1],
            halls: counts[2],
        })
    }

    async fn revoke_admin_tokens(&self, which: AdminTokens<'_>, now_ms: i64) -> Result<usize> {
        let c = self.client("revoking admin tokens").await?;
        let (hashed, of) = match which {
            AdminTokens::Hashed(h) => (Some(h), None),
            AdminTokens::Of(u) => (None, Some(u)),
        };
        c.execute(
            "UPDATE admin_tokens SET revoked_ms = $3
             WHERE revoked_ms IS NULL AND (token_hash = $1 OR user_name = $2)",
            &[&hashed, &of, &now_ms],
        )
        .await
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .map_err(|e| pg("revoking admin tokens", e))
    }

    async fn admin_halls(&self, user: &str, role: &str) -> Result<Vec<String>> {
        let c = self.client("listing an admin's halls").await?;
        let rows = if role == "central" {
            c.query("SELECT id FROM halls ORDER BY id", &[]).await
        } else {
            c.query(
                "SELECT hall_id FROM admin_halls WHERE user_name = $1 ORDER BY hall_id",
                &[&user],
            )
            .await
        }
        .map_err(|e| pg("listing an admin's halls", e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn insert_session(
        &self,
        id_hash: &str,
        user: &str,
        csrf: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<()> {
        let c = self.client("starting a session").await?;
        c.execute("DELETE FROM sessions WHERE expires_ms < $1", &[&now_ms])
            .await
            .map_err(|e| pg("expiring sessions", e))?;
        c.execute(
            "INSERT INTO sessions (id_hash, user_name, csrf, created_ms, expires_ms)
             VALUES ($1, $2, $3, $4, $5)",
            &[&id_hash, &user, &csrf, &now_ms, &expires_ms],
        )
        .await
        .map_err(|e| pg("starting a session", e))?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        let c = self.client("ending a session").await?;
        c.execute("DELETE FROM sessions WHERE id_hash = $1", &[&id_hash])
            .await
            .map_err(|e| pg("ending a session", e))?;
        Ok(())
    }

    async fn session(&self, id_hash: &str, now_ms: i64) -> Result<Option<SessionRow>> {
        let c = self.client("reading a session").await?;
        let row = c
            .query_opt(
                "SELECT s.user_name, a.role, s.csrf FROM sessions s
                 JOIN admins a ON a.user_name = s.user_name
                 WHERE s.id_hash = $1 AND s.expires_ms > $2",
                &[&id_hash, &now_ms],
            )
            .await
            .map_err(|e| pg("reading a session", e))?;
        Ok(row.map(|r| SessionRow {
            user: r.get(0),
            role: r.get(1),
            csrf: r.get(2),
        }))
    }

    async fn change_password(
        &self,
        user: &str,
        password_hash: &str,
        keep: Option<&str>,
    ) -> Result<usize> {
        let mut c = self.client("changing a password").await?;
        let tx = c
            .transaction()
            .await
            .map_err(|e| pg("changing a password", e))?;
        let n = tx
            .execute(
                "UPDATE admins SET password_hash = $2 WHERE user_name = $1",
                &[&user, &password_hash],
            )
            .await
            .map_err(|e| pg("changing a password", e))?;
        if n == 0 {
            return Err(EngineError::NotFound(format!("admin {user}")));
        }
        let ended = tx
            .execute(
                "DELETE FROM sessions WHERE user_name = $1 AND id_hash IS DISTINCT FROM $2",
                &[&user, &keep],
            )
            .await
            .map_err(|e| pg("changing a password", e))?;
        tx.commit()
            .await
            .map_err(|e| pg("changing a password", e))?;
        Ok(usize::try_from(ended).unwrap_or(usize::MAX))
    }

    async fn audit(
        &self,
        user: &str,
        action: &str,
        target: &str,
        before: Option<&str>,
        after: Option<&str>,
        now_ms: i64,
    ) -> Result<()> {
        let c = self.client("writing the audit log").await?;
        c.execute(
            "INSERT INTO audit_log (at_ms, user_name, action, target, before, after)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&now_ms, &user, &action, &target, &before, &after],
        )
        .await
        .map_err(|e| pg("writing the audit log", e))?;
        Ok(())
    }

    async fn audit_page(
        &self,
        f: &AuditFilter,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let err = |e| pg("reading the audit log", e);
        let c = self.client("reading the audit log").await?;
        Ok(c.query(
            "SELECT id, at_ms, user_name, action, target, before, after FROM audit_log
             WHERE ($1::text IS NULL OR user_name = $1) AND ($2::text IS NULL OR action = $2)
               AND at_ms >= $3 AND at_ms < $4 AND ($5::bigint IS NULL OR id < $5)
             ORDER BY id DESC LIMIT $6",
            &[
                &f.user,
                &f.action,
                &f.from_ms,
                &f.to_ms,
                &before_id,
                &i64::from(limit),
            ],
        )
        .await
        .map_err(err)?
        .iter()
        .map(|r| AuditEntry {
            id: r.get(0),
            at_ms: r.get(1),
            user: r.get(2),
            action: r.get(3),
            target: r.get(4),
            before: r.get(5),
            after: r.get(6),
        })
        .collect())
    }

    async fn points_catalogue(&self, hall_id: &str) -> Result<Vec<(String, i64)>> {
        let c = self.client("reading the catalogue").await?;
        Ok(c.query(
            "SELECT item, points FROM points_catalogue WHERE hall_id = $1 ORDER BY points, item",
            &[&hall_id],
        )
        .await
        .map_err(|e| pg("reading the catalogue", e))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
    }

    async fn set_catalogue_item(&self, hall_id: &str, item: &str, points: i64) -> Result<()> {
        let c = self.client("saving the catalogue").await?;
        c.execute(
            "INSERT INTO points_catalogue (hall_id, item, points) VALUES ($1, $2, $3)
             ON CONFLICT (hall_id, item) DO UPDATE SET points = excluded.points",
            &[&hall_id, &item, &points],
        )
        .await
        .map(|_| ())
        .map_err(|e| pg("saving the catalogue", e))
    }

    async fn catalogue_stock(&self, hall_id: &str) -> Result<Vec<(String, i64)>> {
        let c = self.client("reading the catalogue").await?;
        let rows = c
            .query(
                "SELECT item, stock FROM points_catalogue WHERE hall_id = $1 ORDER BY item",
                &[&hall_id],
            )
            .await
            .map_err(|e| pg("reading the catalogue", e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn set_catalogue_stock(&self, hall_id: &str, item: &str, stock: i64) -> Result<bool> {
        let c = self.client("saving the catalogue").await?;
        c.execute(
            "UPDATE points_catalogue SET stock = $3 WHERE hall_id = $1 AND item = $2",
            &[&hall_id, &item, &stock],
        )
        .await
        .map(|n| n > 0)
        .map_err(|e| pg("saving the catalogue", e))
    }

    async fn points_rules(&self, hall_id: &str) -> Result<Vec<PointsRule>> {
        let c = self.client("reading the points rules").await?;
        let rows = c
            .query(
                "SELECT from_ms, per_hour, monthly_cap, offline_share, iou_cap, per_hour_by_kind
                 FROM points_rules WHERE hall_id = $1 ORDER BY from_ms",
                &[&hall_id],
            )
            .await
            .map_err(|e| pg("reading the points rules", e))?;
        let figure =
            |r: &tokio_postgres::Row, i: usize| u64::try_from(r.get::<_, i64>(i)).unwrap_or(0);
        rows.iter()
            .map(|r| {
                Ok(PointsRule {
                    from_ms: r.get(0),
                    per_hour: figure(r, 1),
                    monthly_cap: figure(r, 2),
                    offline_share: figure(r, 3),
                    iou_cap: figure(r, 4),
                    per_hour_by_kind: PointsRule::parse_by_kind(r.get(5))?,
                })
            })
            .collect()
    }

    async fn add_points_rule(&self, hall_id: &str, rule: &PointsRule) -> Result<bool> {
        let c = self.client("saving the points rules").await?;
        let figure = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        c.execute(
            "INSERT INTO points_rules (hall_id, from_ms, per_hour, monthly_cap, offline_share, iou_cap, per_hour_by_kind)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            &[
                &hall_id,
                &rule.from_ms,
                &figure(rule.per_hour),
                &figure(rule.monthly_cap),
                &figure(rule.offline_share),
                &figure(rule.iou_cap),
                &rule.by_kind_text(),
            ],
        )
        .await
        .map(|n| n > 0)
        .map_err(|e| pg("saving the points rules", e))
    }

    async fn doc_owner(&self, doc_id: &str) -> Result<Option<DocOwner>> {
        let c = self.client("looking up a document").await?;
        let row = c
            .query_opt(DOC_OWNER_SQL, &[&doc_id])
            .await
            .map_err(|e| pg("looking up a document", e))?;
        Ok(row.as_ref().map(owner_from_row))
    }

    async fn claim_doc(
        &self,
        doc_id: &str,
        hall_id: &str,
        kiosk_id: &str,
        now_ms: i64,
    ) -> Result<DocOwner> {
        let c = self.client("claiming a document").await?;
        c.execute(
            "INSERT INTO documents (doc_id, hall_id, owner_kiosk, first_seen_ms)
             VALUES ($1, $2, $3, $4) ON CONFLICT (doc_id) DO NOTHING",
            &[&doc_id, &hall_id, &kiosk_id, &now_ms],
        )
        .await
        .map_err(|e| pg("claiming a document", e))?;
        let row = c
            .query_opt(DOC_OWNER_SQL, &[&doc_id])
            .await
            .map_err(|e| pg("looking up a document", e))?;
        row.as_ref()
            .map(owner_from_row)
            .ok_or_else(|| EngineError::NotFound(format!("document {doc_id}")))
    }

    async fn claim_docs(
        &self,
        docs: &[NewDoc],
        max_per_day: i64,
        now_ms: i64,
    ) -> Vec<Result<Claim>> {
        let together = async {
            let mut c = self.client("claiming documents").await?;
            let tx = c
                .transaction()
                .await
                .map_err(|e| pg("claiming documents", e))?;
            let claims = Self::claim_batch(&tx, docs, max_per_day, now_ms).await?;
            tx.commit().await.map_err(|e| pg("claiming documents", e))?;
            Ok::<_, EngineError>(claims)
        };
        match together.await {
            Ok(claims) => claims.into_iter().map(Ok).collect(),
            Err(e) if docs.len() == 1 => vec![Err(e)],
            Err(_) => {
                // Each on its own, so one that cannot be holds up no other.
                let mut out = Vec::with_capacity(docs.len());
                for d in docs {
                    let one = async {
                        let c = self.client("claiming a document").await?;
                        Self::claim_one(&c, d, max_per_day, now_ms).await
                    };
                    out.push(one.await);
                }
                out
            }
        }
    }

    async fn docs_claimed_since(&self, kiosk_id: &str, since_ms: i64) -> Result<i64> {
        let c = self.client("counting a kiosk's documents").await?;
        Ok(c.query_one(
            "SELECT count(*) FROM documents WHERE owner_kiosk = $1 AND first_seen_ms >= $2",
            &[&kiosk_id, &since_ms],
        )
        .await
        .map_err(|e| pg("counting a kiosk's documents", e))?
        .get(0))
    }

    async fn retire_documents(&self, doc_ids: &[String], now_ms: i64) -> Result<()> {
        let c = self.client("retiring a document").await?;
        c.execute(
            "UPDATE documents SET retired_ms = $2 WHERE doc_id = ANY($1) AND retired_ms IS NULL",
            &[&doc_ids, &now_ms],
        )
        .await
        .map(|_| ())
        .map_err(|e| pg("retiring a document", e))
    }

    async fn replace_document(
        &self,
        old_doc: &str,
        new_doc: &str,
        hall_id: &str,
        kiosk_id: &str,
        now_ms: i64,
    ) -> Result<()> {
        let err = |e| pg("replacing a document", e);
        let mut c = self.client("replacing a document").await?;
        let tx = c.transaction().await.map_err(err)?;
        tx.execute(
            "INSERT INTO documents (doc_id, hall_id, owner_kiosk, first_seen_ms) VALUES ($1, $2, $3, $4)",
            &[&new_doc, &hall_id, &kiosk_id, &now_ms],
        )
        .await
        .map_err(err)?;
        tx.execute(
            "UPDATE documents SET replaced_by = $2 WHERE doc_id = $1",
            &[&old_doc, &new_doc],
        )
        .await
        .map_err(err)?;
        // The resident phone page's request book is found by name.
        tx.execute(
            "UPDATE server_meta SET value = $2 WHERE key LIKE 'webbook/%' AND value = $1",
            &[&old_doc, &new_doc],
        )
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)
    }

    async fn kiosk_documents(&self) -> Result<Vec<String>> {
        let c = self.client("listing documents").await?;
        let rows = c
            .query(
                "SELECT doc_id FROM documents WHERE owner_kiosk IS NOT NULL AND retired_ms IS NULL
                 ORDER BY doc_id",
                &[],
            )
            .await
            .map_err(|e| pg("listing documents", e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn insert_hall_doc(
        &self,
        doc_id: &str,
        hall_id: &str,
        kind: &str,
        now_ms: i64,
    ) -> Result<()> {
        let c = self.client("recording a hall document").await?;
        c.execute(
            "INSERT INTO documents (doc_id, hall_id, kind, first_seen_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (doc_id) DO NOTHING",
            &[&doc_id, &hall_id, &kind, &now_ms],
        )
        .await
        .map_err(|e| pg("recording a hall document", e))?;
        Ok(())
    }

    async fn hall_doc(&self, hall_id: &str, kind: &str) -> Result<Option<String>> {
        let c = self.client("finding a hall document").await?;
        let row = c
            .query_opt(
                "SELECT doc_id FROM documents
                 WHERE hall_id = $1 AND kind = $2 AND owner_kiosk IS NULL AND retired_ms IS NULL
                 ORDER BY first_seen_ms, doc_id LIMIT 1",
                &[&hall_id, &kind],
            )
            .await
            .map_err(|e| pg("finding a hall document", e))?;
        Ok(row.map(|r| r.get(0)))
    }
}
