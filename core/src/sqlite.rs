//! Opening Linli's SQLite files the one right way: WAL, the durability the
//! caller asks for, a busy handler, and a clear error — never a silent
//! re-create — when the file is not a database. Also the append-only
//! migration runner shared by kiosk and server.

use std::{path::Path, sync::Mutex};

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

/// Short waits while another connection writes, before longer ones.
const SHORT_WAITS: i32 = 200;
const SHORT_WAIT: std::time::Duration = std::time::Duration::from_micros(50);
const LONG_WAIT: std::time::Duration = std::time::Duration::from_millis(5);
/// 200 × 50 µs + 1,998 × 5 ms: about 10 s in all, then `SQLITE_BUSY`.
const MAX_WAITS: i32 = 2_198;

/// The busy handler of every connection: whether to try again after
/// `attempt` failed tries, having waited. A kiosk's journal and its
/// document store are two connections to one file, and their writes take
/// well under a millisecond; SQLite's own busy timeout sleeps a whole
/// millisecond or more at the first conflict, which made the slowest
/// taps several times the median. So: 50 µs waits first, 5 ms ones
/// later, and up to about 10 s as before.
fn wait_while_busy(attempt: i32) -> bool {
    if attempt >= MAX_WAITS {
        return false;
    }
    std::thread::sleep(if attempt < SHORT_WAITS {
        SHORT_WAIT
    } else {
        LONG_WAIT
    });
    true
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
    conn.busy_handler(Some(wait_while_busy))
        .map_err(|e| classify_open_error(path, e))?;
    let sync = match options.durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON;
         PRAGMA secure_delete=ON;"
    ))
    .map_err(|e| classify_open_error(path, e))?;
    if let Some(max) = options.max_page_count {
        conn.query_row(&format!("PRAGMA max_page_count={max}"), [], |_| Ok(()))
            .map_err(|e| classify_open_error(path, e))?;
    }
    Ok(conn)
}

/// One connection, shared by clones of its owner, that the owner closes at
/// a moment it chooses.
///
/// SQLite checkpoints the write-ahead log into the database file when the
/// last connection to it closes. Left to `Drop`, that happens whenever the
/// last clone of the owner goes — perhaps after a shutdown has returned,
/// while staff copy the file away or a test damages it on purpose. After
/// [`close`](Self::close) every use fails with [`Error::Closed`] instead.
pub struct SharedConnection {
    conn: Mutex<Option<Connection>>,
    what: &'static str,
}

impl SharedConnection {
    /// Share `conn`; `what` names it in errors ("journal", "document store").
    pub fn new(conn: Connection, what: &'static str) -> Self {
        Self {
            conn: Mutex::new(Some(conn)),
            what,
        }
    }

    /// Run `f` on the connection, unless it has been closed. Holds the
    /// connection for as long as `f` runs.
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().map_err(|_| {
            Error::store(
                format!("locking the {}", self.what),
                rusqlite::Error::InvalidQuery,
            )
        })?;
        match conn.as_mut() {
            Some(c) => f(c),
            None => Err(Error::Closed(self.what)),
        }
    }

    /// Close the connection now (blocking: waits for a use in progress,
    /// then for SQLite's closing checkpoint). Closing twice is harmless.
    pub fn close(&self) -> Result<()> {
        let conn = match self.conn.lock() {
            Ok(mut c) => c.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        match conn {
            Some(c) => c
                .close()
                .map_err(|(_, e)| Error::store(format!("closing the {}", self.what), e)),
            None => Ok(()),
        }
    }
}

/// Copy the write-ahead log into the database file and truncate it. With
/// `secure_delete` on (every connection [`open`] makes has it: a resident's
/// erased record must not linger in free pages), this leaves no copy of
/// deleted rows in either file. Readers that hold old pages make it wait.
pub fn checkpoint(conn: &Connection) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|_| ())
    .map_err(|e| Error::store("checkpointing the write-ahead log", e))
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
    let known = i64::try_from(steps.len()).unwrap_or(i64::MAX);
    if applied > known {
        return Err(Error::NewerSchema {
            component: component.to_string(),
            found: applied,
            known,
        });
    }
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
    fn a_file_a_newer_linli_migrated_further_is_refused_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = open(&dir.path().join("s.sqlite3"), DbOptions::default()).expect("open");
        let steps = ["CREATE TABLE a (x)", "CREATE TABLE b (x)"];
        migrate(&mut c, "server", &steps).expect("migrated");
        migrate(&mut c, "server", &steps).expect("again: nothing to do");
        let e = migrate(&mut c, "server", &steps[..1]).expect_err("an older build");
        assert!(
            matches!(
                e,
                Error::NewerSchema {
                    found: 2,
                    known: 1,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("written by a newer Linli"), "{e}");
        let tables: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('a', 'b')",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(tables, 2, "nothing dropped or changed");
    }

    #[test]
    fn a_shared_connection_closes_when_told_and_refuses_use_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kiosk.sqlite3");
        let wal = dir.path().join("kiosk.sqlite3-wal");
        let shared = std::sync::Arc::new(SharedConnection::new(
            open(&path, DbOptions::default()).expect("open"),
            "journal",
        ));
        shared
            .with(|c| {
                c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
                    .map_err(|e| Error::store("writing", e))
            })
            .expect("write");
        assert!(
            wal.exists(),
            "a write under WAL leaves a log until the close"
        );
        // A clone still held elsewhere (a task not yet dropped) does not
        // keep the file open: the close checkpoints and removes the log now.
        let held_elsewhere = shared.clone();
        shared.close().expect("close");
        assert!(
            !wal.exists(),
            "the closing checkpoint ran before close returned"
        );
        let err = held_elsewhere
            .with(|_| Ok(()))
            .expect_err("a closed connection must refuse");
        assert!(matches!(err, Error::Closed("journal")), "{err}");
        assert!(err.to_string().contains("closed"), "{err}");
        shared.close().expect("closing twice is harmless");
        // What was written is in the database file itself.
        let again = open(&path, DbOptions::default()).expect("reopen");
        let x: i64 = again
            .query_row("SELECT x FROM t", [], |r| r.get(0))
            .expect("read");
        assert_eq!(x, 1);
    }

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

    #[test]
    fn a_writer_waits_for_another_connections_transaction_then_commits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.sqlite3");
        let mut first = open(&path, DbOptions::default()).expect("open");
        first
            .execute_batch("CREATE TABLE t (x INTEGER)")
            .expect("table");
        let second = open(&path, DbOptions::default()).expect("open again");
        let tx = first
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("write lock");
        tx.execute("INSERT INTO t VALUES (1)", [])
            .expect("first row");
        let writer = std::thread::spawn(move || {
            second
                .execute("INSERT INTO t VALUES (2)", [])
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        // Long enough for the writer to have met the lock and waited.
        std::thread::sleep(std::time::Duration::from_millis(50));
        tx.commit().expect("commit");
        writer
            .join()
            .expect("writer thread")
            .expect("the waiting writer commits once the lock is free");
        let rows: i64 = first
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 2);
    }

    #[test]
    fn the_busy_handler_gives_up_after_its_last_wait() {
        assert!(wait_while_busy(0));
        assert!(wait_while_busy(SHORT_WAITS));
        assert!(!wait_while_busy(MAX_WAITS));
    }
}
