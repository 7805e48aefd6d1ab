//! samod's [`samod::Storage`] over SQLite, used by kiosk and server alike.
//!
//! One row per storage key (`a/b/c`), one transaction per put. samod's
//! trait cannot return errors, so a failed write is retried with backoff
//! until it succeeds — never dropped — and meanwhile [`StorageHealth`]
//! says so, for the kiosk's status strip and the server's metrics.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use rusqlite::{Connection, OptionalExtension, params};
use samod::storage::StorageKey;

use crate::{
    Error, Result,
    sqlite::{self, DbOptions},
};

const MIGRATIONS: &[&str] = &["CREATE TABLE samod_storage (
        key TEXT PRIMARY KEY NOT NULL,
        data BLOB NOT NULL
    ) WITHOUT ROWID"];

/// How the store's writes are going.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageHealth {
    /// The last write error, while writes are failing.
    pub failing: Option<String>,
    /// Writes that failed at least once (and were retried).
    pub failed_attempts: u64,
}

struct Inner {
    conn: Mutex<Connection>,
    path: PathBuf,
    health: Mutex<StorageHealth>,
    closing: std::sync::atomic::AtomicBool,
}

/// A SQLite-backed samod storage. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStorage {
    inner: Arc<Inner>,
}

fn key_text(key: &StorageKey) -> String {
    key.to_string()
}

fn parse_key(text: &str) -> Option<StorageKey> {
    StorageKey::from_parts(text.split('/')).ok()
}

impl SqliteStorage {
    /// Open the store in the SQLite file at `path` (its own connection).
    pub fn open(path: &Path, options: DbOptions) -> Result<Self> {
        let mut conn = sqlite::open(path, options)?;
        sqlite::migrate(&mut conn, "samod_storage", MIGRATIONS)?;
        Ok(Self {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                path: path.to_path_buf(),
                health: Mutex::new(StorageHealth::default()),
                closing: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    /// Stop retrying failed writes: the owner is shutting down. Kiosks
    /// re-apply what was lost from their journal at the next start, and the
    /// server gets it again from the kiosks, which keep everything.
    pub fn close(&self) {
        self.inner
            .closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The file behind this store.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How writes are going.
    pub fn health(&self) -> StorageHealth {
        self.inner
            .health
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    /// Bytes stored for one document (all its chunks), for benchmarks and
    /// the admin console.
    pub fn document_bytes(&self, doc_id: &str) -> Result<u64> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(length(data)), 0) FROM samod_storage
                 WHERE key >= ?1 || '/' AND key < ?1 || '0'",
                [doc_id],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|e| Error::store("measuring a document", e))
        })
    }

    /// The id of every document with anything stored.
    pub fn document_ids(&self) -> Result<Vec<String>> {
        self.with_conn(|c| {
            let mut stmt = c
                .prepare("SELECT DISTINCT substr(key, 1, instr(key, '/') - 1) FROM samod_storage WHERE instr(key, '/') > 0")
                .map_err(|e| Error::store("listing documents", e))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(|e| Error::store("listing documents", e))?;
            let mut out = Vec::new();
            for r in rows {
                let id = r.map_err(|e| Error::store("listing documents", e))?;
                if id != "storage-adapter-id" && !id.is_empty() {
                    out.push(id);
                }
            }
            Ok(out)
        })
    }

    /// A document as stored (every chunk samod wrote for it, loaded into
    /// one), or `None` when nothing is stored for it. Read without a repo,
    /// so a document can be rebuilt while no repo holds it.
    pub fn load_document(&self, doc_id: &str) -> Result<Option<automerge::Automerge>> {
        let chunks: Vec<(String, Vec<u8>)> = self.with_conn(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT key, data FROM samod_storage
                     WHERE key >= ?1 || '/' AND key < ?1 || '0' ORDER BY key",
                )
                .map_err(|e| Error::store("loading a document", e))?;
            let rows = stmt
                .query_map([doc_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| Error::store("loading a document", e))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| Error::store("loading a document", e))
        })?;
        if chunks.is_empty() {
            return Ok(None);
        }
        let mut doc = automerge::Automerge::new();
        for (key, data) in chunks {
            doc.load_incremental(&data).map_err(|e| Error::Schema {
                doc: doc_id.to_string(),
                reason: format!("stored chunk {key} does not load: {e}"),
            })?;
        }
        Ok(Some(doc))
    }

    /// Delete everything stored for a document; returns the chunks deleted.
    /// The connection has `secure_delete` on (see [`crate::sqlite::open`]),
    /// so the freed pages are overwritten; call [`SqliteStorage::checkpoint`]
    /// after to clear the write-ahead log of the old pages too.
    pub fn delete_document(&self, doc_id: &str) -> Result<usize> {
        self.with_conn(|c| {
            c.execute(
                "DELETE FROM samod_storage WHERE key >= ?1 || '/' AND key < ?1 || '0'",
                [doc_id],
            )
            .map_err(|e| Error::store("deleting a document", e))
        })
    }

    /// Copy the write-ahead log into the database and truncate it, so
    /// pages that held deleted data are gone from both files.
    pub fn checkpoint(&self) -> Result<()> {
        self.with_conn(crate::sqlite::checkpoint)
    }

    fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self
            .inner
            .conn
            .lock()
            .map_err(|_| Error::store("locking the store", rusqlite::Error::InvalidQuery))?;
        f(&conn)
    }

    fn load_sync(&self, key: &StorageKey) -> Result<Option<Vec<u8>>> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT data FROM samod_storage WHERE key = ?1",
                [key_text(key)],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| Error::store(format!("loading {key}"), e))
        })
    }

    fn load_range_sync(&self, prefix: &StorageKey) -> Result<HashMap<StorageKey, Vec<u8>>> {
        let p = key_text(prefix);
        self.with_conn(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT key, data FROM samod_storage
                     WHERE key = ?1 OR (key >= ?1 || '/' AND key < ?1 || '0')",
                )
                .map_err(|e| Error::store("preparing a range load", e))?;
            let rows = stmt
                .query_map([&p], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .map_err(|e| Error::store(format!("loading range {p}"), e))?;
            let mut out = HashMap::new();
            for row in rows {
                let (k, v) = row.map_err(|e| Error::store(format!("loading range {p}"), e))?;
                if let Some(key) = parse_key(&k) {
                    out.insert(key, v);
                }
            }
            Ok(out)
        })
    }

    fn put_sync(&self, key: &StorageKey, data: &[u8]) -> Result<()> {
        self.with_conn(|c| {
            c.prepare_cached(
                "INSERT INTO samod_storage (key, data) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET data = excluded.data",
            )
            .and_then(|mut s| s.execute(params![key_text(key), data]))
            .map(|_| ())
            .map_err(|e| Error::store(format!("writing {key}"), e))
        })
    }

    fn delete_sync(&self, key: &StorageKey) -> Result<()> {
        self.with_conn(|c| {
            c.prepare_cached("DELETE FROM samod_storage WHERE key = ?1")
                .and_then(|mut s| s.execute([key_text(key)]))
                .map(|_| ())
                .map_err(|e| Error::store(format!("deleting {key}"), e))
        })
    }

    fn record_result(&self, result: &Result<()>) {
        if let Ok(mut h) = self.inner.health.lock() {
            match result {
                Ok(()) => h.failing = None,
                Err(e) => {
                    h.failing = Some(e.to_string());
                    h.failed_attempts += 1;
                }
            }
        }
    }

    /// Run a write on a blocking thread, retrying with backoff (50 ms up
    /// to 5 s) until it succeeds. samod's trait has no way to report
    /// failure, and dropping the write would lose data.
    async fn write_until_done(
        &self,
        what: &'static str,
        op: impl Fn(&Self) -> Result<()> + Clone + Send + 'static,
    ) {
        let mut delay = Duration::from_millis(50);
        loop {
            let this = self.clone();
            let op = op.clone();
            let result = tokio::task::spawn_blocking(move || op(&this))
                .await
                .unwrap_or_else(|e| {
                    Err(Error::Io {
                        context: "store worker".into(),
                        source: std::io::Error::other(e.to_string()),
                    })
                });
            self.record_result(&result);
            match result {
                Ok(()) => return,
                Err(e) if self.inner.closing.load(std::sync::atomic::Ordering::SeqCst) => {
                    tracing::error!(error = %e, "{what} failed while shutting down; abandoned (it is re-applied from the journal or re-synced)");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "{what} failed; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn read_blocking<T: Send + 'static>(
        &self,
        default: T,
        op: impl FnOnce(&Self) -> Result<T> + Send + 'static,
    ) -> T {
        let this = self.clone();
        match tokio::task::spawn_blocking(move || op(&this)).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "store read failed");
                default
            }
            Err(e) => {
                tracing::error!(error = %e, "store worker failed");
                default
            }
        }
    }
}

impl samod::storage::Storage for SqliteStorage {
    fn load(&self, key: StorageKey) -> impl Future<Output = Option<Vec<u8>>> + Send {
        let this = self.clone();
        async move { this.read_blocking(None, move |s| s.load_sync(&key)).await }
    }

    fn load_range(
        &self,
        prefix: StorageKey,
    ) -> impl Future<Output = HashMap<StorageKey, Vec<u8>>> + Send {
        let this = self.clone();
        async move {
            this.read_blocking(HashMap::new(), move |s| s.load_range_sync(&prefix))
                .await
        }
    }

    fn put(&self, key: StorageKey, data: Vec<u8>) -> impl Future<Output = ()> + Send {
        let this = self.clone();
        let data = Arc::new(data);
        async move {
            this.write_until_done("storage put", move |s| s.put_sync(&key, &data))
                .await
        }
    }

    fn delete(&self, key: StorageKey) -> impl Future<Output = ()> + Send {
        let this = self.clone();
        async move {
            this.write_until_done("storage delete", move |s| s.delete_sync(&key))
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use samod::storage::Storage as _;

    use super::*;

    fn key(parts: &[&str]) -> StorageKey {
        StorageKey::from_parts(parts.iter().copied()).expect("key")
    }

    #[tokio::test]
    async fn put_load_range_delete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s =
            SqliteStorage::open(&dir.path().join("s.sqlite3"), DbOptions::default()).expect("open");
        s.put(key(&["doc1", "incremental", "h1"]), vec![1]).await;
        s.put(key(&["doc1", "snapshot", "h2"]), vec![2]).await;
        s.put(key(&["doc10", "snapshot", "h3"]), vec![3]).await;
        s.put(key(&["doc1", "incremental", "h1"]), vec![4]).await;
        assert_eq!(
            s.load(key(&["doc1", "incremental", "h1"])).await,
            Some(vec![4])
        );
        let range = s.load_range(key(&["doc1"])).await;
        assert_eq!(range.len(), 2, "doc10 is not under doc1: {range:?}");
        s.delete(key(&["doc1", "snapshot", "h2"])).await;
        assert_eq!(s.load_range(key(&["doc1"])).await.len(), 1);
        let mut ids = s.document_ids().expect("ids");
        ids.sort();
        assert_eq!(ids, vec!["doc1", "doc10"]);
    }

    #[tokio::test]
    async fn data_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.sqlite3");
        {
            let s = SqliteStorage::open(&path, DbOptions::default()).expect("open");
            s.put(key(&["d", "x"]), b"kept".to_vec()).await;
        }
        let s = SqliteStorage::open(&path, DbOptions::default()).expect("reopen");
        assert_eq!(s.load(key(&["d", "x"])).await, Some(b"kept".to_vec()));
    }

    #[tokio::test]
    async fn a_full_store_is_retried_reported_and_completes_when_space_returns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.sqlite3");
        let s = SqliteStorage::open(&path, DbOptions::default()).expect("open");
        s.put(key(&["d", "small"]), vec![7; 10]).await;
        let pages: i64 = s
            .with_conn(|c| {
                c.query_row("PRAGMA page_count", [], |r| r.get(0))
                    .map_err(|e| Error::store("x", e))
            })
            .expect("pages");
        s.with_conn(|c| {
            c.query_row(&format!("PRAGMA max_page_count={}", pages + 1), [], |_| {
                Ok(())
            })
            .map_err(|e| Error::store("x", e))
        })
        .expect("cap");
        let big = s.clone();
        let write =
            tokio::spawn(async move { big.put(key(&["d", "big"]), vec![9; 64 * 1024]).await });
        // The write keeps failing while the store is full, and says so.
        let mut saw_failure = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Some(msg) = s.health().failing {
                assert!(msg.contains("full"), "{msg}");
                saw_failure = true;
                break;
            }
        }
        assert!(saw_failure, "health must report the failing write");
        assert!(!write.is_finished());
        assert_eq!(
            s.load(key(&["d", "small"])).await,
            Some(vec![7; 10]),
            "old data intact"
        );
        // Space returns: the same write completes by itself.
        s.with_conn(|c| {
            c.query_row("PRAGMA max_page_count=1000000", [], |_| Ok(()))
                .map_err(|e| Error::store("x", e))
        })
        .expect("uncap");
        tokio::time::timeout(Duration::from_secs(10), write)
            .await
            .expect("completes")
            .expect("task");
        assert_eq!(
            s.load(key(&["d", "big"])).await.map(|v| v.len()),
            Some(64 * 1024)
        );
        assert_eq!(s.health().failing, None);
    }
}
