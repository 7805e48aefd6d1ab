//! The server's SQLite file: the server's own tables (halls, kiosks,
//! admins, sessions, audit, document ownership), whose typed calls are
//! `tables::ServerTables` on SQLite, and the connection the
//! projection's tables are read and written on.
//! One connection behind a mutex: SQLite serialises writers anyway, and
//! every call is short; callers on async tasks go through
//! [`Db::run`], which moves the work to a blocking thread.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use linli_core::{
    points_rules::PointsRule,
    sqlite::{self, DbOptions},
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::{Error, Result};

/// The server's SQLite file inside its data directory.
pub const DB_FILE: &str = "linli-server.sqlite3";

const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE server_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
    CREATE TABLE halls (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        tz TEXT NOT NULL,
        calendar_doc TEXT NOT NULL,
        directory_doc TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE kiosks (
        id TEXT PRIMARY KEY NOT NULL,
        hall_id TEXT NOT NULL REFERENCES halls (id),
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL,
        revoked_ms INTEGER,
        last_seen_ms INTEGER,
        app_version TEXT
    );
    CREATE TABLE admins (
        user TEXT PRIMARY KEY NOT NULL,
        role TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE admin_tokens (
        token_hash TEXT PRIMARY KEY NOT NULL,
        user TEXT NOT NULL REFERENCES admins (user),
        created_ms INTEGER NOT NULL,
        revoked_ms INTEGER
    );
    CREATE TABLE documents (
        doc_id TEXT PRIMARY KEY NOT NULL,
        hall_id TEXT NOT NULL,
        kind TEXT,
        owner_kiosk TEXT,
        first_seen_ms INTEGER NOT NULL
    );
    CREATE INDEX documents_hall ON documents (hall_id);
",
    "
    ALTER TABLE admins ADD COLUMN password_hash TEXT;
    CREATE TABLE admin_halls (
        user TEXT NOT NULL REFERENCES admins (user),
        hall_id TEXT NOT NULL REFERENCES halls (id),
        PRIMARY KEY (user, hall_id)
    );
    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY NOT NULL,
        user TEXT NOT NULL REFERENCES admins (user),
        csrf TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms INTEGER NOT NULL,
        user TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        before TEXT,
        after TEXT
    );
",
    "
    CREATE TABLE request_assignments (
        record_id TEXT PRIMARY KEY NOT NULL,
        assignee TEXT NOT NULL,
        at_ms INTEGER NOT NULL
    );
    CREATE TABLE points_catalogue (
        hall_id TEXT NOT NULL REFERENCES halls (id),
        item TEXT NOT NULL,
        points INTEGER NOT NULL,
        PRIMARY KEY (hall_id, item)
    );
",
    "
    -- v4: documents a kiosk created recently (limits::MAX_NEW_DOCS_PER_KIOSK_PER_DAY).
    CREATE INDEX documents_owner_seen ON documents (owner_kiosk, first_seen_ms);
",
    "
    -- v5 (issue 12): the HMAC key of the old phone hashes goes: with it and
    -- a masked number, 10,000 guesses gave a number back. Residents are
    -- pseudonyms now (residents.rs); their salt is not secret.
    DELETE FROM server_meta WHERE key = 'phone_key';
",
    "
    -- v6 (issue 12, erasure): a kiosk document rebuilt without an erased
    -- resident is retired in favour of its replacement: never loaded,
    -- stored or shared again (its data is deleted), so a kiosk that still
    -- has it cannot bring it back.
    ALTER TABLE documents ADD COLUMN retired_ms INTEGER;
    ALTER TABLE documents ADD COLUMN replaced_by TEXT;
    -- Each erasure, for the operators' record: who, when, how much. Never
    -- the number, never the pseudonym.
    CREATE TABLE erasures (
        id TEXT PRIMARY KEY NOT NULL,
        by_user TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        records INTEGER NOT NULL,
        documents INTEGER NOT NULL
    );
    -- The days an erased resident visited each hall, under the erasure's
    -- random id and pointing at no record: distinct-resident counts over
    -- any range stay what they were (console::stats).
    CREATE TABLE erased_visits (
        erasure_id TEXT NOT NULL,
        hall_id TEXT NOT NULL,
        date TEXT NOT NULL,
        PRIMARY KEY (hall_id, date, erasure_id)
    ) WITHOUT ROWID;
    -- For a while after an erasure, records of the person that a kiosk
    -- delivers late (it was offline) are erased as they arrive
    -- (erasure_watch::ERASURE_WATCH_DAYS). Kept as a tag only the residents' key
    -- computes from the pseudonym (never in a backup), then dropped.
    CREATE TABLE erasure_watch (
        tag TEXT PRIMARY KEY NOT NULL,
        erasure_id TEXT NOT NULL,
        until_ms INTEGER NOT NULL
    );
",
    "
    -- v8 (issue 16): how many of each catalogue item the hall has to hand
    -- over (kiosks are granted shares of it, as of volunteers' points).
    ALTER TABLE points_catalogue ADD COLUMN stock INTEGER NOT NULL DEFAULT 0;
",
    "
    -- v9 (issue 16): each hall's points rules, one row per version, each
    -- in force from its start until the next (linli_core::points_rules).
    -- Versions are only added: a rule never reaches back.
    CREATE TABLE points_rules (
        hall_id TEXT NOT NULL REFERENCES halls (id),
        from_ms INTEGER NOT NULL,
        per_hour INTEGER NOT NULL,
        monthly_cap INTEGER NOT NULL,
        offline_share INTEGER NOT NULL,
        iou_cap INTEGER NOT NULL,
        PRIMARY KEY (hall_id, from_ms)
    ) WITHOUT ROWID;
",
    "
    -- v10 (issue 16): points per hour by activity kind, as
    -- `health_clinic:4,lecture:3` (PointsRule::by_kind_text; empty: none).
    ALTER TABLE points_rules ADD COLUMN per_hour_by_kind TEXT NOT NULL DEFAULT '';
",
];

/// A hall.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Hall {
    /// Slug id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// IANA time zone.
    pub tz: String,
    /// Calendar document id.
    pub calendar_doc: String,
    /// Directory document id.
    pub directory_doc: String,
}

impl Hall {
    /// The hall's time zone (Asia/Shanghai if the stored name is unknown).
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.tz.parse().unwrap_or(chrono_tz::Asia::Shanghai)
    }

    /// The hall's local date at `ms`.
    pub fn date_at(&self, ms: i64) -> chrono::NaiveDate {
        self.local(ms).date_naive()
    }

    /// `ms` on the hall's clock.
    pub fn local(&self, ms: i64) -> chrono::DateTime<chrono_tz::Tz> {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .with_timezone(&self.time_zone())
    }

    /// The first millisecond of `date` in the hall (the earliest, should a
    /// time-zone change skip midnight).
    pub fn day_start_ms(&self, date: chrono::NaiveDate) -> i64 {
        use chrono::TimeZone as _;
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        self.time_zone()
            .from_local_datetime(&midnight)
            .earliest()
            .map_or_else(
                || midnight.and_utc().timestamp_millis(),
                |d| d.timestamp_millis(),
            )
    }
}

/// A kiosk as the server knows it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Kiosk {
    /// Id.
    pub id: String,
    /// Its hall.
    pub hall_id: String,
    /// Display name.
    pub name: String,
    /// Created, ms.
    pub created_ms: i64,
    /// Revoked, ms.
    pub revoked_ms: Option<i64>,
    /// Last connected or disconnected, ms.
    pub last_seen_ms: Option<i64>,
    /// App version it reported.
    pub app_version: Option<String>,
}

/// Who owns a document.
#[derive(Clone, Debug, PartialEq)]
pub struct DocOwner {
    /// Its hall.
    pub hall_id: String,
    /// `calendar`, `directory`, [`GRANTS_KIND`] for the hall documents the
    /// server makes, or `None` for kiosk documents.
    pub kind: Option<String>,
    /// The kiosk that first delivered it.
    pub owner_kiosk: Option<String>,
    /// Rebuilt without an erased resident and replaced: never loaded,
    /// stored or shared again.
    pub retired: bool,
}

/// The kind a hall's grants document (points and stock its kiosks may
/// spend; `crate::points`) is recorded under.
pub const GRANTS_KIND: &str = "grants";

/// Which audit entries to list: by whom and what if given, within
/// `[from_ms, to_ms)`.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only this admin's.
    pub user: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// From, ms.
    pub from_ms: i64,
    /// Until (exclusive), ms.
    pub to_ms: i64,
}

/// One entry of the audit log.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    /// Its number (newer entries have larger ones).
    pub id: i64,
    /// When, ms.
    pub at_ms: i64,
    /// Who.
    pub user: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Before, if it says.
    pub before: Option<String>,
    /// After, if it says.
    pub after: Option<String>,
}

/// A live console session as stored: whose it is, their role, and the
/// session's CSRF token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    /// User name.
    pub user: String,
    /// Their role.
    pub role: String,
    /// The token every form of the session carries.
    pub csrf: String,
}

/// Handle to the server's database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: Arc<std::path::PathBuf>,
}

fn kiosk_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Kiosk> {
    Ok(Kiosk {
        id: r.get(0)?,
        hall_id: r.get(1)?,
        name: r.get(2)?,
        created_ms: r.get(3)?,
        revoked_ms: r.get(4)?,
        last_seen_ms: r.get(5)?,
        app_version: r.get(6)?,
    })
}

const KIOSK_COLUMNS: &str = "id, hall_id, name, created_ms, revoked_ms, last_seen_ms, app_version";

/// Who owns a document, on a connection (also used inside transactions).
pub fn doc_owner(c: &Connection, doc_id: &str) -> Result<Option<DocOwner>> {
    c.query_row(
        "SELECT hall_id, kind, owner_kiosk, retired_ms IS NOT NULL FROM documents WHERE doc_id = ?1",
        [doc_id],
        |r| {
            Ok(DocOwner {
                hall_id: r.get(0)?,
                kind: r.get(1)?,
                owner_kiosk: r.get(2)?,
                retired: r.get(3)?,
            })
        },
    )
    .optional()
    .map_err(|e| Error::db("looking up a document", e))
}

/// Give `doc_id` to `kiosk_id` of `hall_id` unless someone owns it already
/// (an earlier claim wins).
fn insert_claim(
    c: &Connection,
    doc_id: &str,
    hall_id: &str,
    kiosk_id: &str,
    now_ms: i64,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO documents (doc_id, hall_id, owner_kiosk, first_seen_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (doc_id) DO NOTHING",
    )
    .and_then(|mut st| st.execute(params![doc_id, hall_id, kiosk_id, now_ms]))
    .map(|_| ())
    .map_err(|e| Error::db("claiming a document", e))
}

/// Documents `kiosk_id` created on the server since `since_ms`.
fn claimed_since(c: &Connection, kiosk_id: &str, since_ms: i64) -> Result<i64> {
    c.prepare_cached(
        "SELECT count(*) FROM documents WHERE owner_kiosk = ?1 AND first_seen_ms >= ?2",
    )
    .and_then(|mut st| st.query_row(params![kiosk_id, since_ms], |r| r.get(0)))
    .map_err(|e| Error::db("counting a kiosk's documents", e))
}

fn hall_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Hall> {
    Ok(Hall {
        id: r.get(0)?,
        name: r.get(1)?,
        tz: r.get(2)?,
        calendar_doc: r.get(3)?,
        directory_doc: r.get(4)?,
    })
}

/// A document that a kiosk's sync message delivers for the first time on
/// its connection, to be claimed for the kiosk's hall.
#[derive(Clone, Debug)]
pub struct NewDoc {
    /// The document.
    pub doc_id: String,
    /// The kiosk's hall.
    pub hall_id: String,
    /// The kiosk.
    pub kiosk_id: String,
}

/// What claiming a [`NewDoc`] came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Someone owns it already (perhaps this kiosk, on an earlier connection).
    Known,
    /// Now this kiosk's, for its hall.
    Claimed,
    /// The kiosk has created its day's share of documents already.
    OverLimit,
}

impl Db {
    /// Open (creating) the database at `path` and migrate it, with the
    /// given extra migrations (the projection's) applied too.
    pub fn open(path: &Path, options: DbOptions, extra: &[(&str, &[&str])]) -> Result<Self> {
        let mut conn = sqlite::open(path, options)?;
        // Statement journals (each projected row's upsert and triggers
        // needs one) stay in memory instead of a temporary file: one
        // syscall less per row. Exports, whose sorts can be large, read
        // through their own connection (`reader`), which keeps files.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(|e| Error::db("configuring the database", e))?;
        sqlite::migrate(&mut conn, "server", MIGRATIONS)?;
        for (component, steps) in extra {
            sqlite::migrate(&mut conn, component, steps)?;
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path.to_path_buf()),
        })
    }

    /// A separate read-only connection for long reads (exports), so they
    /// never hold the shared connection: WAL lets it read a consistent
    /// snapshot while syncs and the console keep writing.
    pub fn reader(&self) -> Result<Connection> {
        let err = |e| Error::db("opening a reader", e);
        let c = Connection::open_with_flags(
            self.path.as_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        c.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        c.execute_batch("PRAGMA query_only = ON;").map_err(err)?;
        Ok(c)
    }

    /// Run `f` with the connection, on the calling thread.
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|poisoned| {
            // A panic while the lock was held: the transaction it was in
            // rolled back as it unwound (or is rolled back here), so the
            // connection is whole and the server goes on with it.
            tracing::error!("a task panicked while holding the database; going on");
            self.conn.clear_poison();
            let conn = poisoned.into_inner();
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            conn
        });
        f(&mut conn)
    }

    /// Run `f` with the connection on a blocking thread.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.with(f))
            .await
            .map_err(|e| Error::Io {
                context: "database worker".into(),
                source: std::io::Error::other(e.to_string()),
            })?
    }

    /// Run `f` with this handle on a blocking thread (for the query
    /// methods below, from async code).
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Db) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| Error::Io {
                context: "database worker".into(),
                source: std::io::Error::other(e.to_string()),
            })?
    }

    /// A server setting.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.query_row("SELECT value FROM server_meta WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| Error::db("reading server settings", e))
        })
    }

    /// Set a server setting (replacing it).
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO server_meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| Error::db("saving server settings", e))
        })
    }

    /// Set a server setting if it is not set yet; returns the value in force.
    pub fn meta_or_insert(&self, key: &str, value: &str) -> Result<String> {
        self.with(|c| {
            c.execute(
                "INSERT INTO server_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                params![key, value],
            )
            .map_err(|e| Error::db("saving server settings", e))?;
            c.query_row("SELECT value FROM server_meta WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .map_err(|e| Error::db("reading server settings", e))
        })
    }

    /// Add a hall.
    pub fn insert_hall(&self, hall: &Hall, now_ms: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO halls (id, name, tz, calendar_doc, directory_doc, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![hall.id, hall.name, hall.tz, hall.calendar_doc, hall.directory_doc, now_ms],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                    Error::Conflict(format!("hall {}", hall.id))
                }
                e => Error::db("adding a hall", e),
            })?;
            for (doc, kind) in [(&hall.calendar_doc, "calendar"), (&hall.directory_doc, "directory")] {
                c.execute(
                    "INSERT INTO documents (doc_id, hall_id, kind, first_seen_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![doc, hall.id, kind, now_ms],
                )
                .map_err(|e| Error::db("recording hall documents", e))?;
            }
            Ok(())
        })
    }

    /// Every hall, by id.
    pub fn halls(&self) -> Result<Vec<Hall>> {
        self.with(|c| {
            let mut stmt = c
                .prepare("SELECT id, name, tz, calendar_doc, directory_doc FROM halls ORDER BY id")
                .map_err(|e| Error::db("listing halls", e))?;
            let rows = stmt
                .query_map([], hall_from_row)
                .map_err(|e| Error::db("listing halls", e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| Error::db("listing halls", e))
        })
    }

    /// One hall.
    pub fn hall(&self, id: &str) -> Result<Option<Hall>> {
        self.with(|c| {
            c.query_row(
                "SELECT id, name, tz, calendar_doc, directory_doc FROM halls WHERE id = ?1",
                [id],
                hall_from_row,
            )
            .optional()
            .map_err(|e| Error::db("reading a hall", e))
        })
    }

    /// Add a kiosk with the hash of its token; picks the id `{hall}-k{n}`.
    pub fn insert_kiosk(
        &self,
        hall_id: &str,
        name: &str,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Kiosk> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(|e| Error::db("adding a kiosk", e))?;
            let n: i64 = tx
                .query_row("SELECT count(*) FROM kiosks WHERE hall_id = ?1", [hall_id], |r| r.get(0))
                .map_err(|e| Error::db("adding a kiosk", e))?;
            let mut next = n + 1;
            let id = loop {
                let candidate = format!("{hall_id}-k{next}");
                let taken: Option<i64> = tx
                    .query_row("SELECT 1 FROM kiosks WHERE id = ?1", [&candidate], |r| r.get(0))
                    .optional()
                    .map_err(|e| Error::db("adding a kiosk", e))?;
                if taken.is_none() {
                    break candidate;
                }
                next += 1;
            };
            tx.execute(
                "INSERT INTO kiosks (id, hall_id, name, token_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, hall_id, name, token_hash, now_ms],
            )
            .map_err(|e| Error::db("adding a kiosk", e))?;
            tx.commit().map_err(|e| Error::db("adding a kiosk", e))?;
            Ok(Kiosk {
                id,
                hall_id: hall_id.to_string(),
                name: name.to_string(),
                created_ms: now_ms,
                revoked_ms: None,
                last_seen_ms: None,
                app_version: None,
            })
        })
    }

    /// The kiosk holding a token (by its hash), revoked or not.
    pub fn kiosk_by_token_hash(&self, token_hash: &str) -> Result<Option<Kiosk>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {KIOSK_COLUMNS} FROM kiosks WHERE token_hash = ?1"),
                [token_hash],
                kiosk_from_row,
            )
            .optional()
            .map_err(|e| Error::db("checking a kiosk token", e))
        })
    }

    /// One kiosk.
    pub fn kiosk(&self, id: &str) -> Result<Option<Kiosk>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {KIOSK_COLUMNS} FROM kiosks WHERE id = ?1"),
                [id],
                kiosk_from_row,
            )
            .optional()
            .map_err(|e| Error::db("reading a kiosk", e))
        })
    }

    /// Every kiosk, by hall and id.
    pub fn kiosks(&self) -> Result<Vec<Kiosk>> {
        self.with(|c| {
            let mut stmt = c
                .prepare(&format!(
                    "SELECT {KIOSK_COLUMNS} FROM kiosks ORDER BY hall_id, id"
                ))
                .map_err(|e| Error::db("listing kiosks", e))?;
            let rows = stmt
                .query_map([], kiosk_from_row)
                .map_err(|e| Error::db("listing kiosks", e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| Error::db("listing kiosks", e))
        })
    }

    /// Revoke a kiosk; false if it was already revoked.
    pub fn revoke_kiosk(&self, id: &str, now_ms: i64) -> Result<bool> {
        self.with(|c| {
            let exists: Option<Option<i64>> = c
                .query_row("SELECT revoked_ms FROM kiosks WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(|e| Error::db("revoking a kiosk", e))?;
            match exists {
                None => Err(Error::NotFound(format!("kiosk {id}"))),
                Some(Some(_)) => Ok(false),
                Some(None) => {
                    c.execute(
                        "UPDATE kiosks SET revoked_ms = ?2 WHERE id = ?1",
                        params![id, now_ms],
                    )
                    .map_err(|e| Error::db("revoking a kiosk", e))?;
                    Ok(true)
                }
            }
        })
    }

    /// Ids of revoked kiosks.
    pub fn revoked_kiosks(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let mut stmt = c
                .prepare_cached("SELECT id FROM kiosks WHERE revoked_ms IS NOT NULL")
                .map_err(|e| Error::db("listing revoked kiosks", e))?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .map_err(|e| Error::db("listing revoked kiosks", e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| Error::db("listing revoked kiosks", e))
        })
    }

    /// Note that a kiosk was seen now, with its app version.
    pub fn touch_kiosk(&self, id: &str, now_ms: i64, app_version: Option<&str>) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE kiosks SET last_seen_ms = ?2, app_version = COALESCE(?3, app_version) WHERE id = ?1",
                params![id, now_ms, app_version],
            )
            .map(|_| ())
            .map_err(|e| Error::db("noting a kiosk's visit", e))
        })
    }

    /// Add an admin user.
    pub fn insert_admin(&self, user: &str, role: &str, now_ms: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO admins (user, role, created_ms) VALUES (?1, ?2, ?3)",
                params![user, role, now_ms],
            )
            .map(|_| ())
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Error::Conflict(format!("admin {user}"))
                }
                e => Error::db("adding an admin", e),
            })
        })
    }

    /// Store an admin API token's hash.
    pub fn insert_admin_token(&self, user: &str, token_hash: &str, now_ms: i64) -> Result<()> {
        self.with(|c| {
            let exists: Option<i64> = c
                .query_row("SELECT 1 FROM admins WHERE user = ?1", [user], |r| r.get(0))
                .optional()
                .map_err(|e| Error::db("issuing a token", e))?;
            if exists.is_none() {
                return Err(Error::NotFound(format!("admin {user}")));
            }
            c.execute(
                "INSERT INTO admin_tokens (token_hash, user, created_ms) VALUES (?1, ?2, ?3)",
                params![token_hash, user, now_ms],
            )
            .map(|_| ())
            .map_err(|e| Error::db("issuing a token", e))
        })
    }

    /// The admin (user, role) holding a live token.
    pub fn admin_by_token_hash(&self, token_hash: &str) -> Result<Option<(String, String)>> {
        self.with(|c| {
            c.query_row(
                "SELECT a.user, a.role FROM admin_tokens t JOIN admins a ON a.user = t.user
                 WHERE t.token_hash = ?1 AND t.revoked_ms IS NULL",
                [token_hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| Error::db("checking an admin token", e))
        })
    }

    /// Set an admin's password (stored as an argon2 hash).
    pub fn set_admin_password(&self, user: &str, password_hash: &str) -> Result<()> {
        self.with(|c| {
            let n = c
                .execute(
                    "UPDATE admins SET password_hash = ?2 WHERE user = ?1",
                    params![user, password_hash],
                )
                .map_err(|e| Error::db("setting a password", e))?;
            if n == 0 {
                return Err(Error::NotFound(format!("admin {user}")));
            }
            Ok(())
        })
    }

    /// An admin's role and password hash.
    pub fn admin_login(&self, user: &str) -> Result<Option<(String, Option<String>)>> {
        self.with(|c| {
            c.query_row(
                "SELECT role, password_hash FROM admins WHERE user = ?1",
                [user],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| Error::db("reading an admin", e))
        })
    }

    /// Give a hall-staff admin or viewer access to a hall.
    pub fn grant_hall(&self, user: &str, hall_id: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO admin_halls (user, hall_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![user, hall_id],
            )
            .map(|_| ())
            .map_err(|e| Error::db("granting a hall", e))
        })
    }

    /// Take a hall from an admin; false if they did not have it.
    pub fn ungrant_hall(&self, user: &str, hall_id: &str) -> Result<bool> {
        self.with(|c| {
            c.execute(
                "DELETE FROM admin_halls WHERE user = ?1 AND hall_id = ?2",
                params![user, hall_id],
            )
            .map(|n| n > 0)
            .map_err(|e| Error::db("taking a hall from an admin", e))
        })
    }

    /// Remove an admin with their tokens, sessions and grants (see
    /// `ServerTables::remove_admin`).
    pub fn remove_admin(&self, user: &str) -> Result<crate::tables::RemovedAdmin> {
        self.with(|c| {
            let err = |e| Error::db("removing an admin", e);
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(err)?;
            let role: Option<String> = tx
                .query_row("SELECT role FROM admins WHERE user = ?1", [user], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(err)?;
            let Some(role) = role else {
                return Err(Error::NotFound(format!("admin {user}")));
            };
            let centrals: i64 = tx
                .query_row(
                    "SELECT count(*) FROM admins WHERE role = 'central'",
                    [],
                    |r| r.get(0),
                )
                .map_err(err)?;
            if role == "central" && centrals <= 1 {
                return Err(Error::Conflict(format!(
                    "{user} is the last central admin: add another central admin first"
                )));
            }
            let removed = crate::tables::RemovedAdmin {
                tokens: tx
                    .execute("DELETE FROM admin_tokens WHERE user = ?1", [user])
                    .map_err(err)?,
                sessions: tx
                    .execute("DELETE FROM sessions WHERE user = ?1", [user])
                    .map_err(err)?,
                halls: tx
                    .execute("DELETE FROM admin_halls WHERE user = ?1", [user])
                    .map_err(err)?,
            };
            tx.execute("DELETE FROM admins WHERE user = ?1", [user])
                .map_err(err)?;
            tx.commit().map_err(err)?;
            Ok(removed)
        })
    }

    /// Revoke live admin API tokens: the one hashed `hashed`, or every one
    /// of `of`; how many.
    pub fn revoke_admin_tokens(
        &self,
        hashed: Option<&str>,
        of: Option<&str>,
        now_ms: i64,
    ) -> Result<usize> {
        self.with(|c| {
            c.execute(
                "UPDATE admin_tokens SET revoked_ms = ?3
                 WHERE revoked_ms IS NULL AND (token_hash = ?1 OR user = ?2)",
                params![hashed, of, now_ms],
            )
            .map_err(|e| Error::db("revoking admin tokens", e))
        })
    }

    /// The halls an admin may see (all, for central admins).
    pub fn admin_halls(&self, user: &str, role: &str) -> Result<Vec<String>> {
        self.with(|c| {
            let sql = if role == "central" {
                "SELECT id FROM halls WHERE ?1 IS NOT NULL ORDER BY id"
            } else {
                "SELECT hall_id FROM admin_halls WHERE user = ?1 ORDER BY hall_id"
            };
            let mut stmt = c
                .prepare(sql)
                .map_err(|e| Error::db("listing an admin's halls", e))?;
            let rows = stmt
                .query_map([user], |r| r.get(0))
                .map_err(|e| Error::db("listing an admin's halls", e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| Error::db("listing an admin's halls", e))
        })
    }

    /// Start a console session (by its cookie's hash), dropping expired ones.
    pub fn insert_session(
        &self,
        id_hash: &str,
        user: &str,
        csrf: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM sessions WHERE expires_ms < ?1", [now_ms])
                .map_err(|e| Error::db("expiring sessions", e))?;
            c.execute(
                "INSERT INTO sessions (id_hash, user, csrf, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id_hash, user, csrf, now_ms, expires_ms],
            )
            .map(|_| ())
            .map_err(|e| Error::db("starting a session", e))
        })
    }

    /// End a session.
    pub fn delete_session(&self, id_hash: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])
                .map(|_| ())
                .map_err(|e| Error::db("ending a session", e))
        })
    }

    /// The live session with this hash.
    pub fn session(&self, id_hash: &str, now_ms: i64) -> Result<Option<SessionRow>> {
        self.with(|c| {
            c.query_row(
                "SELECT s.user, a.role, s.csrf FROM sessions s JOIN admins a ON a.user = s.user
                 WHERE s.id_hash = ?1 AND s.expires_ms > ?2",
                params![id_hash, now_ms],
                |r| {
                    Ok(SessionRow {
                        user: r.get(0)?,
                        role: r.get(1)?,
                        csrf: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| Error::db("reading a session", e))
        })
    }

    /// Set `user`'s password hash and end their sessions but the one
    /// hashed `keep`, in one transaction; how many ended.
    pub fn change_password(
        &self,
        user: &str,
        password_hash: &str,
        keep: Option<&str>,
    ) -> Result<usize> {
        self.with(|c| {
            let err = |e| Error::db("changing a password", e);
            let tx = c.transaction().map_err(err)?;
            let n = tx
                .execute(
                    "UPDATE admins SET password_hash = ?2 WHERE user = ?1",
                    params![user, password_hash],
                )
                .map_err(err)?;
            if n == 0 {
                return Err(Error::NotFound(format!("admin {user}")));
            }
            let ended = tx
                .execute(
                    "DELETE FROM sessions WHERE user = ?1 AND id_hash IS NOT ?2",
                    params![user, keep],
                )
                .map_err(err)?;
            tx.commit().map_err(err)?;
            Ok(ended)
        })
    }

    /// Record an admin action (who, what, on what, before and after).
    pub fn audit(
        &self,
        user: &str,
        action: &str,
        target: &str,
        before: Option<&str>,
        after: Option<&str>,
        now_ms: i64,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO audit_log (at_ms, user, action, target, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![now_ms, user, action, target, before, after],
            )
            .map(|_| ())
            .map_err(|e| Error::db("writing the audit log", e))
        })
    }

    /// A page of the audit log, newest first (see `ServerTables::audit_page`).
    pub fn audit_page(
        &self,
        f: &AuditFilter,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT id, at_ms, user, action, target, before, after FROM audit_log
                 WHERE (?1 IS NULL OR user = ?1) AND (?2 IS NULL OR action = ?2)
                   AND at_ms >= ?3 AND at_ms < ?4 AND (?5 IS NULL OR id < ?5)
                 ORDER BY id DESC LIMIT ?6",
            )
            .and_then(|mut st| {
                st.query_map(
                    params![f.user, f.action, f.from_ms, f.to_ms, before_id, limit],
                    |r| {
                        Ok(AuditEntry {
                            id: r.get(0)?,
                            at_ms: r.get(1)?,
                            user: r.get(2)?,
                            action: r.get(3)?,
                            target: r.get(4)?,
                            before: r.get(5)?,
                            after: r.get(6)?,
                        })
                    },
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| Error::db("reading the audit log", e))
        })
    }

    /// A hall's points catalogue, cheapest first.
    pub fn points_catalogue(&self, hall_id: &str) -> Result<Vec<(String, i64)>> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT item, points FROM points_catalogue WHERE hall_id = ?1 ORDER BY points, item",
            )
            .and_then(|mut st| {
                st.query_map([hall_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| Error::db("reading the catalogue", e))
        })
    }

    /// Add or change an item of a hall's catalogue.
    pub fn set_catalogue_item(&self, hall_id: &str, item: &str, points: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO points_catalogue (hall_id, item, points) VALUES (?1, ?2, ?3)
                 ON CONFLICT (hall_id, item) DO UPDATE SET points = excluded.points",
                params![hall_id, item, points],
            )
            .map(|_| ())
            .map_err(|e| Error::db("saving the catalogue", e))
        })
    }

    /// A hall's catalogue stock: (item, stock), by item.
    pub fn catalogue_stock(&self, hall_id: &str) -> Result<Vec<(String, i64)>> {
        self.with(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT item, stock FROM points_catalogue WHERE hall_id = ?1 ORDER BY item",
                )
                .map_err(|e| Error::db("reading the catalogue", e))?;
            let rows = stmt
                .query_map([hall_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| Error::db("reading the catalogue", e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| Error::db("reading the catalogue", e))
        })
    }

    /// Set an item's stock; false when the hall's catalogue lacks it.
    pub fn set_catalogue_stock(&self, hall_id: &str, item: &str, stock: i64) -> Result<bool> {
        self.with(|c| {
            c.execute(
                "UPDATE points_catalogue SET stock = ?3 WHERE hall_id = ?1 AND item = ?2",
                params![hall_id, item, stock],
            )
            .map(|n| n > 0)
            .map_err(|e| Error::db("saving the catalogue", e))
        })
    }

    /// A hall's points rules, every version, oldest first.
    pub fn points_rules(&self, hall_id: &str) -> Result<Vec<PointsRule>> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT from_ms, per_hour, monthly_cap, offline_share, iou_cap, per_hour_by_kind
                 FROM points_rules WHERE hall_id = ?1 ORDER BY from_ms",
            )
            .and_then(|mut st| {
                st.query_map([hall_id], |r| {
                    Ok((
                        PointsRule {
                            from_ms: r.get(0)?,
                            per_hour: r.get(1)?,
                            monthly_cap: r.get(2)?,
                            offline_share: r.get(3)?,
                            iou_cap: r.get(4)?,
                            per_hour_by_kind: Default::default(),
                        },
                        r.get::<_, String>(5)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| Error::db("reading the points rules", e))?
            .into_iter()
            .map(|(mut rule, by_kind)| {
                rule.per_hour_by_kind = PointsRule::parse_by_kind(&by_kind)?;
                Ok(rule)
            })
            .collect()
        })
    }

    /// Add a version of a hall's points rules; false when one already
    /// starts at the same moment (nothing changed).
    pub fn add_points_rule(&self, hall_id: &str, rule: &PointsRule) -> Result<bool> {
        self.with(|c| {
            c.execute(
                "INSERT INTO points_rules (hall_id, from_ms, per_hour, monthly_cap, offline_share, iou_cap, per_hour_by_kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                params![
                    hall_id,
                    rule.from_ms,
                    rule.per_hour,
                    rule.monthly_cap,
                    rule.offline_share,
                    rule.iou_cap,
                    rule.by_kind_text()
                ],
            )
            .map(|n| n > 0)
            .map_err(|e| Error::db("saving the points rules", e))
        })
    }

    /// Retire documents (see `ServerTables::retire_documents`).
    pub fn retire_documents(&self, doc_ids: &[String], now_ms: i64) -> Result<()> {
        self.with(|c| {
            let tx = c
                .transaction()
                .map_err(|e| Error::db("retiring a document", e))?;
            for d in doc_ids {
                tx.execute(
                    "UPDATE documents SET retired_ms = ?2 WHERE doc_id = ?1 AND retired_ms IS NULL",
                    params![d, now_ms],
                )
                .map_err(|e| Error::db("retiring a document", e))?;
            }
            tx.commit().map_err(|e| Error::db("retiring a document", e))
        })
    }

    /// Replace a retired document (see `ServerTables::replace_document`).
    pub fn replace_document(
        &self,
        old_doc: &str,
        new_doc: &str,
        hall_id: &str,
        kiosk_id: &str,
        now_ms: i64,
    ) -> Result<()> {
        self.with(|c| {
            let err = |e| Error::db("replacing a document", e);
            let tx = c.transaction().map_err(err)?;
            tx.execute(
                "INSERT INTO documents (doc_id, hall_id, owner_kiosk, first_seen_ms) VALUES (?1, ?2, ?3, ?4)",
                params![new_doc, hall_id, kiosk_id, now_ms],
            )
            .map_err(err)?;
            tx.execute(
                "UPDATE documents SET replaced_by = ?2 WHERE doc_id = ?1",
                params![old_doc, new_doc],
            )
            .map_err(err)?;
            // The resident phone page's request book is found by name.
            tx.execute(
                "UPDATE server_meta SET value = ?2 WHERE key LIKE 'webbook/%' AND value = ?1",
                params![old_doc, new_doc],
            )
            .map_err(err)?;
            tx.commit().map_err(err)
        })
    }

    /// Who owns a document, if anyone yet.
    pub fn doc_owner(&self, doc_id: &str) -> Result<Option<DocOwner>> {
        self.with(|c| doc_owner(c, doc_id))
    }

    /// Give an unknown document to the kiosk that first delivered it.
    /// Returns the owner in force (an earlier claim wins).
    pub fn claim_doc(
        &self,
        doc_id: &str,
        hall_id: &str,
        kiosk_id: &str,
        now_ms: i64,
    ) -> Result<DocOwner> {
        self.with(|c| {
            insert_claim(c, doc_id, hall_id, kiosk_id, now_ms)?;
            doc_owner(c, doc_id)?.ok_or_else(|| Error::NotFound(format!("document {doc_id}")))
        })
    }

    /// Claim each of `docs` for its kiosk's hall — unless it is owned
    /// already ([`Claim::Known`]) or its kiosk has created `max_per_day`
    /// documents in the day before `now_ms` ([`Claim::OverLimit`]) — all
    /// in one transaction, so one fsync: at opening time a thousand
    /// kiosks' new day ledgers arrive in the same second, and a commit
    /// each made them wait in line for the disk. When that transaction
    /// fails, each is claimed in its own, so one that cannot be holds up
    /// no other. One result per document, in order.
    pub fn claim_docs(&self, docs: &[NewDoc], max_per_day: i64, now_ms: i64) -> Vec<Result<Claim>> {
        let claim = |c: &Connection, d: &NewDoc| -> Result<Claim> {
            if doc_owner(c, &d.doc_id)?.is_some() {
                return Ok(Claim::Known);
            }
            if claimed_since(c, &d.kiosk_id, now_ms - 86_400_000)? >= max_per_day {
                return Ok(Claim::OverLimit);
            }
            insert_claim(c, &d.doc_id, &d.hall_id, &d.kiosk_id, now_ms)?;
            Ok(Claim::Claimed)
        };
        let together = self.with(|c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| Error::db("claiming documents", e))?;
            let claims = docs
                .iter()
                .map(|d| claim(&tx, d))
                .collect::<Result<Vec<_>>>()?;
            tx.commit()
                .map_err(|e| Error::db("claiming documents", e))?;
            Ok(claims)
        });
        match together {
            Ok(claims) => claims.into_iter().map(Ok).collect(),
            Err(e) if docs.len() == 1 => vec![Err(e)],
            Err(_) => docs.iter().map(|d| self.with(|c| claim(c, d))).collect(),
        }
    }

    /// Documents `kiosk_id` created on the server since `since_ms`.
    pub fn docs_claimed_since(&self, kiosk_id: &str, since_ms: i64) -> Result<i64> {
        self.with(|c| claimed_since(c, kiosk_id, since_ms))
    }

    /// Every kiosk-delivered document id still in use (not retired).
    pub fn kiosk_documents(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT doc_id FROM documents WHERE owner_kiosk IS NOT NULL AND retired_ms IS NULL
                     ORDER BY doc_id",
                )
                .map_err(|e| Error::db("listing documents", e))?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .map_err(|e| Error::db("listing documents", e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| Error::db("listing documents", e))
        })
    }

    /// Record a document the server made for a hall (see
    /// [`crate::tables::ServerTables::insert_hall_doc`]).
    pub fn insert_hall_doc(
        &self,
        doc_id: &str,
        hall_id: &str,
        kind: &str,
        now_ms: i64,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO documents (doc_id, hall_id, kind, first_seen_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (doc_id) DO NOTHING",
                params![doc_id, hall_id, kind, now_ms],
            )
            .map_err(|e| Error::db("recording a hall document", e))?;
            Ok(())
        })
    }

    /// The hall's first document of `kind` still in use.
    pub fn hall_doc(&self, hall_id: &str, kind: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.query_row(
                "SELECT doc_id FROM documents
                 WHERE hall_id = ?1 AND kind = ?2 AND owner_kiosk IS NULL AND retired_ms IS NULL
                 ORDER BY first_seen_ms, doc_id LIMIT 1",
                params![hall_id, kind],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| Error::db("finding a hall document", e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_claimed_together_get_each_their_own_answer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&dir.path().join("s.db"), DbOptions::default(), &[]).expect("open");
        let new = |doc: &str, kiosk: &str| NewDoc {
            doc_id: doc.into(),
            hall_id: "xianfeng".into(),
            kiosk_id: kiosk.into(),
        };
        let now = 1_765_000_000_000;
        assert_eq!(
            db.claim_docs(&[new("owned", "k0")], 10, now)[0]
                .as_ref()
                .ok(),
            Some(&Claim::Claimed)
        );
        // One batch: a document owned already, two kiosks' new documents,
        // and kiosk k2 going past its limit of 2 within the batch itself.
        let batch = [
            new("owned", "k1"),
            new("a", "k1"),
            new("b", "k2"),
            new("c", "k2"),
            new("d", "k2"),
            new("a", "k2"),
        ];
        let answers: Vec<Claim> = db
            .claim_docs(&batch, 2, now)
            .into_iter()
            .map(|r| r.expect("claimed"))
            .collect();
        use Claim::*;
        assert_eq!(
            answers,
            [Known, Claimed, Claimed, Claimed, OverLimit, Known]
        );
        let owner = |d: &str| db.doc_owner(d).expect("owner").and_then(|o| o.owner_kiosk);
        assert_eq!(owner("owned").as_deref(), Some("k0"));
        assert_eq!(owner("a").as_deref(), Some("k1"));
        assert_eq!(owner("d"), None, "over the limit: not claimed");
        // A claim that cannot be written (here a trigger refuses it, as a
        // full disk would) fails alone: the rest of its batch is claimed.
        db.with(|c| {
            c.execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON documents WHEN NEW.doc_id = 'bad'
                 BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .map_err(|e| Error::db("trigger", e))
        })
        .expect("trigger");
        let answers = db.claim_docs(&[new("e", "k3"), new("bad", "k3"), new("f", "k3")], 10, now);
        assert!(matches!(answers[0], Ok(Claim::Claimed)));
        assert!(answers[1].is_err(), "{:?}", answers[1]);
        assert!(matches!(answers[2], Ok(Claim::Claimed)));
        assert_eq!(owner("f").as_deref(), Some("k3"));
        assert_eq!(owner("bad"), None);
    }

    #[test]
    fn a_panic_while_holding_the_database_loses_only_its_own_transaction() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&dir.path().join("s.db"), DbOptions::default(), &[]).expect("open");
        db.with(|c| {
            c.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
                .map_err(|e| Error::db("setup", e))
        })
        .expect("setup");
        let panicking = db.clone();
        let joined = std::thread::spawn(move || {
            let _: Result<()> = panicking.with(|c| {
                c.execute_batch("BEGIN; INSERT INTO t VALUES (2);")
                    .map_err(|e| Error::db("insert", e))?;
                panic!("a bug in the middle of a transaction");
            });
        })
        .join();
        assert!(joined.is_err(), "the thread panicked");
        let rows: Vec<i64> = db
            .with(|c| {
                let mut s = c
                    .prepare("SELECT x FROM t")
                    .map_err(|e| Error::db("q", e))?;
                s.query_map([], |r| r.get(0))
                    .and_then(Iterator::collect)
                    .map_err(|e| Error::db("q", e))
            })
            .expect("the database still answers");
        assert_eq!(rows, vec![1], "the half-done transaction was rolled back");
        db.with(|c| {
            c.execute("INSERT INTO t VALUES (3)", [])
                .map_err(|e| Error::db("insert", e))
        })
        .expect("and takes writes again");
    }
}
