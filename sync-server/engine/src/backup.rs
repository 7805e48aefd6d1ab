//! `linli-server backup --to FILE` and `restore --from FILE`.
//!
//! Backup is online and consistent: `VACUUM INTO` copies one snapshot of
//! the database (WAL readers never block the running server's writers),
//! and the copy is checked with `PRAGMA integrity_check` before it is
//! reported. It never overwrites an existing file.
//!
//! Restore needs the server stopped: a running server holds an exclusive
//! lock on `linli-server.lock` in the data directory (see [`ServerLock`]).
//! The backup is checked first (integrity, and that it is a Linli server
//! database); the current database, with its WAL, is kept beside it as
//! `linli-server.sqlite3.before-restore-<time>` — nothing that was stored
//! is deleted — and the backup takes its place. Documents changed after
//! the backup come back when the kiosks reconnect: their stores still
//! hold every change and sync them to the server again.

use std::{
    fs::File,
    path::{Path, PathBuf},
};

use rusqlite::{Connection, OpenFlags};

use crate::{Error, Result, db::DB_FILE};

const LOCK_FILE: &str = "linli-server.lock";

/// Held by a running server; released when dropped (or the process dies).
#[derive(Debug)]
pub struct ServerLock {
    _file: File,
}

/// Take the data directory's server lock, or say that a server is running.
pub fn lock(data_dir: &Path) -> Result<ServerLock> {
    std::fs::create_dir_all(data_dir).map_err(|source| Error::Io {
        context: format!("creating the data directory {}", data_dir.display()),
        source,
    })?;
    let path = data_dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| Error::Io {
            context: format!("opening {}", path.display()),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(ServerLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Conflict(format!(
            "a linli-server is running on {}; stop it first",
            data_dir.display()
        ))),
        Err(std::fs::TryLockError::Error(source)) => Err(Error::Io {
            context: format!("locking {}", path.display()),
            source,
        }),
    }
}

/// What a backup or restore copied.
#[derive(Debug)]
pub struct Copied {
    /// Bytes of the copy.
    pub bytes: u64,
    /// Documents in it.
    pub documents: i64,
    /// Projected check-ins in it.
    pub checkins: i64,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// Check a database file: intact, and a Linli server's. Its contents.
fn verify(path: &Path) -> Result<Copied> {
    let what = format!("{} is not a usable Linli server backup", path.display());
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| Error::db(&what, e))?;
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| Error::db(&what, e))?;
    if check != "ok" {
        return Err(Error::BadRequest(format!(
            "{what}: integrity check says {check}"
        )));
    }
    let count = |sql: &str| -> Result<i64> {
        c.query_row(sql, [], |r| r.get(0))
            .map_err(|e| Error::db(&what, e))
    };
    // Every Linli server database has these (the peer id is set at first start).
    count("SELECT count(*) FROM server_meta WHERE key = 'peer_id'")?;
    Ok(Copied {
        bytes: std::fs::metadata(path)
            .map_err(io(format!("reading {}", path.display())))?
            .len(),
        documents: count("SELECT count(*) FROM documents")?,
        checkins: count("SELECT count(*) FROM checkins")?,
    })
}

/// Copy the live database to `to` (which must not exist) and check the copy.
pub fn backup(data_dir: &Path, to: &Path) -> Result<Copied> {
    let db = data_dir.join(DB_FILE);
    if !db.exists() {
        return Err(Error::NotFound(format!(
            "no server database in {}",
            data_dir.display()
        )));
    }
    if to.exists() {
        return Err(Error::Conflict(format!(
            "{} exists; a backup never overwrites a file",
            to.display()
        )));
    }
    let c = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| Error::db("opening the database for a backup", e))?;
    c.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(|e| Error::db("opening the database for a backup", e))?;
    let target = to
        .to_str()
        .ok_or_else(|| Error::BadRequest(format!("{} is not a UTF-8 path", to.display())))?;
    if let Err(e) = c.execute("VACUUM INTO ?1", [target]) {
        // A half-written copy (e.g. the disk filled up) must not look like a backup.
        let _ = std::fs::remove_file(to);
        return Err(Error::db(format!("writing the backup {}", to.display()), e));
    }
    verify(to)
}

/// Replace the (stopped) server's database with the backup `from`; the
/// database it replaces is kept. Returns the backup's contents and where
/// the replaced database went.
pub fn restore(data_dir: &Path, from: &Path) -> Result<(Copied, Option<PathBuf>)> {
    let _lock = lock(data_dir)?;
    let copied = verify(from)?;
    let db = data_dir.join(DB_FILE);
    let staged = data_dir.join(format!("{DB_FILE}.restoring"));
    std::fs::copy(from, &staged).map_err(io(format!("copying {}", from.display())))?;
    File::open(&staged)
        .and_then(|f| f.sync_all())
        .map_err(io(format!("syncing {}", staged.display())))?;
    let mut kept = None;
    if db.exists() {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let aside = data_dir.join(format!("{DB_FILE}.before-restore-{stamp}"));
        // The WAL and shared-memory files follow their database's name.
        for suffix in ["", "-wal", "-shm"] {
            let old = PathBuf::from(format!("{}{suffix}", db.display()));
            if old.exists() {
                let new = PathBuf::from(format!("{}{suffix}", aside.display()));
                std::fs::rename(&old, &new).map_err(io(format!("keeping {}", old.display())))?;
            }
        }
        kept = Some(aside);
    }
    std::fs::rename(&staged, &db).map_err(io(format!("restoring into {}", db.display())))?;
    if let Ok(dir) = File::open(data_dir) {
        let _ = dir.sync_all();
    }
    Ok((copied, kept))
}
