//! Opening Linli's SQLite files the one right way: WAL, the durability the
//! caller asks for, a busy timeout, and a clear error — never a silent
//! re-create — when the file is not a database. Also the append-only
//! migration runner shared by kiosk and server.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::{Error, Result};

/// How hard SQLite works to keep a commit through a power cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a commit survives a power cut (kiosks).
    Full,
    /// `synchronous=NORMAL`: a commit survives a crash of the process;
    /// under WAL, a power cut may lose the last commits but never corrupts.
    Normal,
}

/// Options for [`open`].
#[derive(Clone, Copy, Debug)]
pub struct DbOptions {
    /// Durability of commits.
    pub durability: Durability,
    /// Cap on the file's size in pages (4 KiB each), to bound a store or
    /// simulate a full disk in tests.
    pub max_page_count: Option<u64>,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            max_page_count: None,
        }
    }
}

fn classify_open_error(path: &Path, e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(f, _) = &e
        && matches!(
            f.code,
            rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
        )
    {
        return Error::CorruptStore {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
    }
    Error::store(format!("opening {}", path.display()), e)
}

/// Open (creating if missing) the SQLite file at `path`.
pub fn open(path: &Path, options: DbOptions) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| classify_open_error(path, e))?;
    // The first statement reads the header: a damaged file fails here,
    // before anything could be written to it.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| classify_open_error(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| classify_open_error(path, e))?;
    let sync = match options.durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON;"
    ))
    .map_err(|e| classify_open_error(path, e))?;
    if let Some(max) = options.max_page_count {
        conn.query_row(&format!("PRAGMA max_page_count={max}"), [], |_| Ok(()))
            .map_err(|e| classify_open_error(path, e))?;
    }
    Ok(conn)
}

/// Apply the migrations of `component` not yet applied, each in its own
/// transaction. Migrations are append-only: never edit one that shipped.
pub fn migrate(conn: &mut Connection, component: &str, steps: &[&str]) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS linli_migrations (
            component TEXT NOT NULL,
            version INTEGER NOT NULL,
            PRIMARY KEY (component, version)
        )",
    )
    .map_err(|e| Error::store("creating the migrations table", e))?;
    let applied: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM linli_migrations WHERE component = ?1",
            [component],
            |r| r.get(0),
        )
        .map_err(|e| Error::store("reading migrations", e))?;
    for (i, sql) in steps.iter().enumerate() {
        let version = i64::try_from(i).unwrap_or(i64::MAX) + 1;
        if version <= applied {
            continue;
        }
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| Error::store("starting a migration", e))?;
        tx.execute_batch(sql)
            .map_err(|e| Error::store(format!("migrating {component} to version {version}"), e))?;
        tx.execute(
            "INSERT INTO linli_migrations (component, version) VALUES (?1, ?2)",
            rusqlite::params![component, version],
        )
        .map_err(|e| Error::store("recording a migration", e))?;
        tx.commit()
            .map_err(|e| Error::store(format!("committing migration {version}"), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kiosk.sqlite3");
        let garbage = b"this is not sqlite at all, just some bytes that were here".repeat(100);
        std::fs::write(&path, &garbage).expect("write");
        let err = open(&path, DbOptions::default()).expect_err("must refuse");
        assert!(matches!(err, Error::CorruptStore { .. }), "{err}");
        assert!(err.to_string().contains("damaged"), "{err}");
        assert_eq!(std::fs::read(&path).expect("read"), garbage);
    }

    #[test]
    fn migrations_apply_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.sqlite3");
        let mut conn = open(&path, DbOptions::default()).expect("open");
        let steps = [
            "CREATE TABLE a (x INTEGER)",
            "ALTER TABLE a ADD COLUMN y INTEGER",
        ];
        migrate(&mut conn, "t", &steps).expect("first");
        migrate(&mut conn, "t", &steps).expect("again is a no-op");
        conn.execute("INSERT INTO a (x, y) VALUES (1, 2)", [])
            .expect("columns exist");
    }
}
