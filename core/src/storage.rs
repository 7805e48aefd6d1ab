//! samod's [`samod::Storage`] over SQLite, used by kiosk and server alike.
//!
//! One row per storage key (`a/b/c`). Writes are group-committed
//! ([`crate::group_commit`]): the writes queued while a commit is on disk
//! share the next transaction (one fsync), and each write's future
//! resolves only once its transaction is durable. A batch that fails is
//! committed again write by write, so one write that does not fit (a full
//! store) holds up no other.
//!
//! samod's trait cannot return errors, so a failed write is retried with
//! backoff until it succeeds — never dropped — and meanwhile
//! [`StorageHealth`] says so, for the kiosk's status strip and the
//! server's metrics.

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
    group_commit::GroupCommit,
    sqlite::{self, DbOptions, SharedConnection},
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
    conn: SharedConnection,
    path: PathBuf,
    health: Mutex<StorageHealth>,
    closing: std::sync::atomic::AtomicBool,
    queue: GroupCommit<WriteOp, Result<()>>,
    /// Writes committed, and the transactions they took.
    writes: std::sync::atomic::AtomicU64,
    commits: std::sync::atomic::AtomicU64,
    /// Bumped after every batch the writer commits, for
    /// [`SqliteStorage::wait_for_document`].
    committed: tokio::sync::watch::Sender<u64>,
}

/// One write to the store.
enum WriteOp {
    Put(String, Arc<Vec<u8>>),
    Delete(String),
}

impl WriteOp {
    fn apply(&self, c: &Connection) -> Result<()> {
        match self {
            WriteOp::Put(key, data) => c
                .prepare_cached(
                    "INSERT INTO samod_storage (key, data) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET data = excluded.data",
                )
                .and_then(|mut s| s.execute(params![key, data.as_slice()]))
                .map(|_| ())
                .map_err(|e| Error::store(format!("writing {key}"), e)),
            WriteOp::Delete(key) => c
                .prepare_cached("DELETE FROM samod_storage WHERE key = ?1")
                .and_then(|mut s| s.execute([key]))
                .map(|_| ())
                .map_err(|e| Error::store(format!("deleting {key}"), e)),
        }
    }
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
                conn: SharedConnection::new(conn, "document store"),
                path: path.to_path_buf(),
                health: Mutex::new(StorageHealth::default()),
                closing: std::sync::atomic::AtomicBool::new(false),
                queue: GroupCommit::new(),
                writes: std::sync::atomic::AtomicU64::new(0),
                commits: std::sync::atomic::AtomicU64::new(0),
                committed: tokio::sync::watch::Sender::new(0),
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

    /// Close the connection now (blocking), so SQLite's closing checkpoint
    /// happens before the caller goes on rather than whenever the last
    /// clone drops; any later use fails with [`Error::Closed`]. Call after
    /// [`close`](Self::close) and after samod has stopped.
    pub fn close_connection(&self) -> Result<()> {
        self.close();
        self.inner.conn.close()
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

    /// True when anything of `doc_id` is stored (committed).
    pub fn has_document(&self, doc_id: &str) -> Result<bool> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM samod_storage
                 WHERE key >= ?1 || '/' AND key < ?1 || '0')",
                [doc_id],
                |r| r.get(0),
            )
            .map_err(|e| Error::store("looking for a document", e))
        })
    }

    /// Wait until samod's first save of `doc_id` is committed: true once
    /// it is, false if `within` passes first (writes failing, say).
    /// `Repo::create` answers before that save is written, so whoever
    /// remembers a new document's id (the kiosk's list of its days) waits
    /// here first; otherwise a crash in between leaves the id of a
    /// document with no data.
    pub async fn wait_for_document(&self, doc_id: &str, within: Duration) -> Result<bool> {
        // Subscribed before looking, so a commit just after the look wakes us.
        let mut committed = self.inner.committed.subscribe();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (this, id) = (self.clone(), doc_id.to_string());
            let stored = tokio::task::spawn_blocking(move || this.has_document(&id))
                .await
                .map_err(|e| Error::Io {
                    context: "store reader".into(),
                    source: std::io::Error::other(e.to_string()),
                })??;
            if stored {
                return Ok(true);
            }
            match tokio::time::timeout_at(deadline, committed.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return Ok(false),
            }
        }
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
        self.inner.conn.with(|c| f(c))
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

    /// Writes committed so far, and the transactions they took (fewer
    /// when writes arrived together and shared commits).
    pub fn write_counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.inner.writes.load(Relaxed),
            self.inner.commits.load(Relaxed),
        )
    }

    /// Queue `op` for the next commit; resolves once that commit is durable
    /// (or failed). See [`crate::group_commit`].
    async fn write(&self, op: WriteOp) -> Result<()> {
        let this = self.clone();
        let commit = move |ops: Vec<WriteOp>| {
            let results = this.commit(&ops.iter().collect::<Vec<_>>());
            this.inner.committed.send_modify(|n| *n += 1);
            results
        };
        self.inner
            .queue
            .submit(op, commit)
            .await
            .unwrap_or_else(|| {
                Err(Error::Io {
                    context: "store writer".into(),
                    source: std::io::Error::other("the writer stopped before committing"),
                })
            })
    }

    /// Commit `ops` in one transaction; if that fails, each in its own, so
    /// only what does not fit fails. One result per op.
    fn commit(&self, ops: &[&WriteOp]) -> Vec<Result<()>> {
        match self.inner.conn.with(|conn| Ok(self.commit_on(conn, ops))) {
            Ok(results) => results,
            // Closed, or its lock poisoned: no op could be tried.
            Err(e) => ops
                .iter()
                .map(|_| {
                    Err(match &e {
                        Error::Closed(what) => Error::Closed(what),
                        other => Error::store(other.to_string(), rusqlite::Error::InvalidQuery),
                    })
                })
                .collect(),
        }
    }

    fn commit_on(&self, conn: &mut Connection, ops: &[&WriteOp]) -> Vec<Result<()>> {
        use std::sync::atomic::Ordering::Relaxed;
        let one_by_one = |c: &Connection| -> Vec<Result<()>> {
            ops.iter()
                .map(|op| {
                    let r = op.apply(c);
                    if r.is_ok() {
                        self.inner.writes.fetch_add(1, Relaxed);
                        self.inner.commits.fetch_add(1, Relaxed);
                    }
                    r
                })
                .collect()
        };
        if ops.len() == 1 {
            return one_by_one(conn);
        }
        let together = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| Error::store("starting a write", e))
            .and_then(|tx| {
                for op in ops {
                    op.apply(&tx)?;
                }
                tx.commit()
                    .map_err(|e| Error::store("committing writes", e))
            });
        match together {
            Ok(()) => {
                self.inner.writes.fetch_add(ops.len() as u64, Relaxed);
                self.inner.commits.fetch_add(1, Relaxed);
                ops.iter().map(|_| Ok(())).collect()
            }
            Err(_) => one_by_one(conn),
        }
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

    /// Write through the queue, retrying with backoff (50 ms up to 5 s)
    /// until it succeeds. samod's trait has no way to report failure, and
    /// dropping the write would lose data.
    async fn write_until_done(&self, what: &'static str, op: impl Fn() -> WriteOp) {
        let mut delay = Duration::from_millis(50);
        loop {
            let result = self.write(op()).await;
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
        let (key, data) = (key_text(&key), Arc::new(data));
        async move {
            this.write_until_done("storage put", || WriteOp::Put(key.clone(), data.clone()))
                .await
        }
    }

    fn delete(&self, key: StorageKey) -> impl Future<Output = ()> + Send {
        let this = self.clone();
        let key = key_text(&key);
        async move {
            this.write_until_done("storage delete", || WriteOp::Delete(key.clone()))
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

    /// Cap the store at its size now plus `room` pages (`None`: uncap).
    fn cap(s: &SqliteStorage, room: Option<i64>) {
        s.with_conn(|c| {
            let pages: i64 = c
                .query_row("PRAGMA page_count", [], |r| r.get(0))
                .map_err(|e| Error::store("x", e))?;
            let max = room.map_or(1_000_000, |r| pages + r);
            c.query_row(&format!("PRAGMA max_page_count={max}"), [], |_| Ok(()))
                .map_err(|e| Error::store("x", e))
        })
        .expect("cap");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_document_is_waited_for_until_its_first_save_is_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s =
            SqliteStorage::open(&dir.path().join("s.sqlite3"), DbOptions::default()).expect("open");
        // Nothing stored: the wait gives up, and says so.
        assert!(
            !s.wait_for_document("doc1", Duration::from_millis(50))
                .await
                .expect("wait")
        );
        // A save committed while we wait ends the wait.
        let writer = s.clone();
        let put = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            writer.put(key(&["doc2", "snapshot", "h"]), vec![1]).await;
        });
        assert!(
            s.wait_for_document("doc2", Duration::from_secs(10))
                .await
                .expect("wait")
        );
        put.await.expect("put");
        // A document samod makes: once waited for, its data is on disk.
        let repo = samod::Repo::build_tokio()
            .with_storage(s.clone())
            .load()
            .await;
        let handle = repo
            .create(automerge::Automerge::new())
            .await
            .expect("create");
        let id = handle.document_id().to_string();
        assert!(
            s.wait_for_document(&id, Duration::from_secs(10))
                .await
                .expect("wait")
        );
        assert!(s.has_document(&id).expect("look"));
        assert!(!s.has_document("doc1").expect("look"));
        repo.stop().await;
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
    async fn writes_that_arrive_together_share_a_commit_and_each_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s =
            SqliteStorage::open(&dir.path().join("s.sqlite3"), DbOptions::default()).expect("open");
        let writes: Vec<_> = (0..200)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(
                    async move { s.put(key(&["d", &format!("c{i:03}")]), vec![1; 100]).await },
                )
            })
            .collect();
        for w in writes {
            w.await.expect("write");
        }
        assert_eq!(s.load_range(key(&["d"])).await.len(), 200);
        let (written, commits) = s.write_counts();
        assert_eq!(written, 200);
        assert!(
            commits <= 20,
            "200 writes queued at once took {commits} commits"
        );
        // A lone write commits by itself, at once.
        s.put(key(&["d", "lone"]), vec![2]).await;
        assert_eq!(s.write_counts(), (201, commits + 1));
    }

    #[tokio::test]
    async fn a_write_that_does_not_fit_holds_up_none_of_those_committed_with_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s =
            SqliteStorage::open(&dir.path().join("s.sqlite3"), DbOptions::default()).expect("open");
        s.put(key(&["d", "first"]), vec![7; 10]).await;
        // Room for small rows, not for a 256 KiB one.
        cap(&s, Some(8));
        let big = {
            let s = s.clone();
            tokio::spawn(async move { s.put(key(&["d", "big"]), vec![9; 256 * 1024]).await })
        };
        let small: Vec<_> = (0..10)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { s.put(key(&["d", &format!("s{i}")]), vec![i; 20]).await })
            })
            .collect();
        for w in small {
            tokio::time::timeout(Duration::from_secs(10), w)
                .await
                .expect("the small writes complete while the big one cannot")
                .expect("task");
        }
        assert!(!big.is_finished(), "the big write waits for room");
        assert_eq!(s.load_range(key(&["d"])).await.len(), 11);
        cap(&s, None);
        tokio::time::timeout(Duration::from_secs(10), big)
            .await
            .expect("completes")
            .expect("task");
        assert_eq!(s.load_range(key(&["d"])).await.len(), 12);
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
        cap(&s, Some(1));
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
        cap(&s, None);
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
