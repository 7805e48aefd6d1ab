//! samod's [`samod::storage::Storage`] on PostgreSQL: the documents of every hall,
//! in one table that every instance of a district's server reads and
//! writes, so a hall's documents are the same whichever instance serves
//! it (which instance writes them is decided by the hall leases,
//! [`crate::leases`]).
//!
//! One row per storage key, written as samod names it (`doc/kind/hash`),
//! as the SQLite store keeps it (`linli_core::storage`). Keys are
//! compared byte-wise (`COLLATE "C"`), so the keys under a prefix are one
//! index range.
//!
//! samod's trait cannot return errors. A write that fails (the database
//! is restarting, a connection dropped) is retried with backoff until it
//! is on disk — never dropped, so a sync message samod acknowledged is
//! kept. A read that fails is retried too: answering "absent" for a
//! document that exists would have samod treat it as new. While the
//! database is away, the hall's documents wait; the log says why.

use linli_core::storage::StorageHealth;
use std::{collections::HashMap, future::Future, time::Duration};

use deadpool_postgres::Pool;
use samod::storage::StorageKey;

use crate::{Error, Result};

/// The documents table (component `documents`).
pub const MIGRATIONS: &[&str] = &["CREATE TABLE samod_storage (
        key TEXT COLLATE \"C\" PRIMARY KEY,
        data BYTEA NOT NULL
    )"];

/// Longest wait between two tries of a failed read or write.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// samod's storage over the store's pool.
#[derive(Clone)]
pub struct PgDocuments {
    pool: Pool,
    /// Writes kept since opened (each its own commit).
    writes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// How reads and writes are going (`/readyz`).
    health: std::sync::Arc<std::sync::Mutex<StorageHealth>>,
}

fn parse_key(text: &str) -> Option<StorageKey> {
    StorageKey::from_parts(text.split('/')).ok()
}

impl PgDocuments {
    /// Storage over `pool` (whose database has been migrated with
    /// [`MIGRATIONS`]; [`crate::PgStore::open`] does it).
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            writes: Default::default(),
            health: Default::default(),
        }
    }

    async fn load_once(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let client = crate::connection(&self.pool, "loading a document").await?;
        let row = client
            .query_opt("SELECT data FROM samod_storage WHERE key = $1", &[&key])
            .await
            .map_err(|e| Error::pg(format!("loading {key}"), e))?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn load_range_once(&self, prefix: &str) -> Result<HashMap<StorageKey, Vec<u8>>> {
        let client = crate::connection(&self.pool, "loading a document").await?;
        // Keys under `prefix/`: '/' is followed by '0' in byte order.
        let rows = client
            .query(
                "SELECT key, data FROM samod_storage
                 WHERE key = $1 OR (key >= $1 || '/' AND key < $1 || '0')",
                &[&prefix],
            )
            .await
            .map_err(|e| Error::pg(format!("loading range {prefix}"), e))?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((parse_key(r.get::<_, &str>(0))?, r.get(1))))
            .collect())
    }

    async fn put_once(&self, key: &str, data: &[u8]) -> Result<()> {
        let client = crate::connection(&self.pool, "storing a document").await?;
        client
            .execute(
                "INSERT INTO samod_storage (key, data) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data",
                &[&key, &data],
            )
            .await
            .map_err(|e| Error::pg(format!("storing {key}"), e))?;
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn delete_once(&self, key: &str) -> Result<()> {
        let client = crate::connection(&self.pool, "deleting a document part").await?;
        client
            .execute("DELETE FROM samod_storage WHERE key = $1", &[&key])
            .await
            .map_err(|e| Error::pg(format!("deleting {key}"), e))?;
        Ok(())
    }

    /// The ids of every document with something stored.
    pub async fn document_ids(&self) -> Result<Vec<String>> {
        let client = crate::connection(&self.pool, "listing documents").await?;
        let rows = client
            .query(
                "SELECT DISTINCT split_part(key, '/', 1) FROM samod_storage ORDER BY 1",
                &[],
            )
            .await
            .map_err(|e| Error::pg("listing documents", e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Bytes stored for document `doc_id`.
    pub async fn document_bytes(&self, doc_id: &str) -> Result<u64> {
        let client = crate::connection(&self.pool, "sizing a document").await?;
        let n: i64 = client
            .query_one(
                "SELECT COALESCE(SUM(octet_length(data)), 0)::BIGINT FROM samod_storage
                 WHERE key >= $1 || '/' AND key < $1 || '0'",
                &[&doc_id],
            )
            .await
            .map_err(|e| Error::pg(format!("sizing document {doc_id}"), e))?
            .get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Run `op` until it succeeds, waiting longer after each failure (up to
/// [`MAX_RETRY_DELAY`]) and logging each; `health` says meanwhile that
/// the store is failing, and why.
async fn until_done<T, F, Fut>(health: &std::sync::Mutex<StorageHealth>, what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut delay = Duration::from_millis(50);
    loop {
        match op().await {
            Ok(v) => {
                if let Ok(mut h) = health.lock()
                    && h.failing.is_some()
                {
                    h.failing = None;
                }
                return v;
            }
            Err(e) => {
                if let Ok(mut h) = health.lock() {
                    h.failing = Some(format!("{what}: {e}"));
                    h.failed_attempts += 1;
                }
                tracing::error!(error = %e, "{what} failed; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }
}

impl samod::storage::Storage for PgDocuments {
    fn load(&self, key: StorageKey) -> impl Future<Output = Option<Vec<u8>>> + Send {
        let (this, key) = (self.clone(), key.to_string());
        async move { until_done(&this.health, "document load", || this.load_once(&key)).await }
    }

    fn load_range(
        &self,
        prefix: StorageKey,
    ) -> impl Future<Output = HashMap<StorageKey, Vec<u8>>> + Send {
        let (this, prefix) = (self.clone(), prefix.to_string());
        async move {
            until_done(&this.health, "document range load", || {
                this.load_range_once(&prefix)
            })
            .await
        }
    }

    fn put(&self, key: StorageKey, data: Vec<u8>) -> impl Future<Output = ()> + Send {
        let (this, key) = (self.clone(), key.to_string());
        async move { until_done(&this.health, "document put", || this.put_once(&key, &data)).await }
    }

    fn delete(&self, key: StorageKey) -> impl Future<Output = ()> + Send {
        let (this, key) = (self.clone(), key.to_string());
        async move { until_done(&this.health, "document delete", || this.delete_once(&key)).await }
    }
}

#[async_trait::async_trait]
impl linli_sync_engine::documents::DocumentStore for PgDocuments {
    async fn load(&self, key: StorageKey) -> Option<Vec<u8>> {
        samod::storage::Storage::load(self, key).await
    }
    async fn load_range(&self, prefix: StorageKey) -> HashMap<StorageKey, Vec<u8>> {
        samod::storage::Storage::load_range(self, prefix).await
    }
    async fn put(&self, key: StorageKey, data: Vec<u8>) {
        samod::storage::Storage::put(self, key, data).await;
    }
    async fn delete(&self, key: StorageKey) {
        samod::storage::Storage::delete(self, key).await;
    }

    async fn load_document(
        &self,
        doc_id: &str,
    ) -> linli_sync_engine::Result<Option<automerge::Automerge>> {
        let client = crate::connection(&self.pool, "loading a document").await?;
        let rows = client
            .query(
                "SELECT key, data FROM samod_storage WHERE key >= $1 || '/' AND key < $1 || '0'
                 ORDER BY key",
                &[&doc_id],
            )
            .await
            .map_err(|e| Error::pg(format!("loading document {doc_id}"), e))?;
        linli_sync_engine::documents::document_from_chunks(
            doc_id,
            rows.iter().map(|r| (r.get(0), r.get(1))),
        )
    }

    async fn delete_document(&self, doc_id: &str) -> linli_sync_engine::Result<usize> {
        let client = crate::connection(&self.pool, "deleting a document").await?;
        let n = client
            .execute(
                "DELETE FROM samod_storage WHERE key >= $1 || '/' AND key < $1 || '0'",
                &[&doc_id],
            )
            .await
            .map_err(|e| Error::pg(format!("deleting document {doc_id}"), e))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// PostgreSQL keeps a deleted row's bytes in its pages until the
    /// space is reused: vacuuming the tables an erasure touched marks it
    /// for reuse at once. What PostgreSQL's own write-ahead log, archives
    /// and backups hold is the operators' retention (see the README).
    async fn scrub(&self) -> linli_sync_engine::Result<()> {
        let client = crate::connection(&self.pool, "vacuuming").await?;
        client
            .batch_execute(
                "VACUUM samod_storage, checkins, shift_events, requests, ratings, hall_residents",
            )
            .await
            .map_err(|e| Error::pg("vacuuming after deletions", e))?;
        Ok(())
    }

    fn health(&self) -> StorageHealth {
        self.health.lock().map(|h| h.clone()).unwrap_or_default()
    }
    fn write_counts(&self) -> (u64, u64) {
        let n = self.writes.load(std::sync::atomic::Ordering::Relaxed);
        (n, n)
    }

    fn close(&self) {
        // Every write is its own transaction, committed before samod hears
        // of it: nothing is held to flush.
    }
}
