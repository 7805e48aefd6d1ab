//! The documents themselves behind one interface, [`DocumentStore`]:
//! samod's storage (what a hall's repo loads and saves), and what the
//! server does with a whole document beside it (read one to rebuild it,
//! delete one that was replaced, leave nothing of deleted data behind).
//!
//! samod's own `Storage` trait returns `impl Future`, which cannot sit
//! behind a `dyn`; this one can, so the repos take whichever store the
//! server was started on: the SQLite file ([`SqliteStorage`], below) or
//! PostgreSQL (`linli-store-postgres`). Like samod's, the four storage
//! calls cannot fail: each store retries a failed write until it is kept.

use std::collections::HashMap;

use async_trait::async_trait;
use automerge::Automerge;
use linli_core::storage::{SqliteStorage, StorageHealth};
use samod::{
    DocumentId,
    storage::{Storage, StorageKey},
};

use crate::{Error, Result};

/// The documents' store. See the module docs.
#[async_trait]
pub trait DocumentStore: Send + Sync + 'static {
    /// samod: the bytes under `key`, if any.
    async fn load(&self, key: StorageKey) -> Option<Vec<u8>>;
    /// samod: everything under `prefix`.
    async fn load_range(&self, prefix: StorageKey) -> HashMap<StorageKey, Vec<u8>>;
    /// samod: keep `data` under `key` (replacing).
    async fn put(&self, key: StorageKey, data: Vec<u8>);
    /// samod: forget `key`.
    async fn delete(&self, key: StorageKey);

    /// Document `doc_id` whole, from every chunk stored for it; `None`
    /// when nothing is stored.
    async fn load_document(&self, doc_id: &str) -> Result<Option<Automerge>>;
    /// Delete every chunk of document `doc_id`; how many there were.
    async fn delete_document(&self, doc_id: &str) -> Result<usize>;
    /// After deletions (an erasure): leave as little of the deleted data
    /// in the store's own files as the store allows.
    async fn scrub(&self) -> Result<()>;
    /// Whether writes are failing now (and why), and how many attempts
    /// failed since the store was opened (`/readyz`, `/metrics`).
    fn health(&self) -> StorageHealth;
    /// (writes, commits) since the store was opened, for the metrics.
    fn write_counts(&self) -> (u64, u64);
    /// Take no more writes (the server is stopping).
    fn close(&self);
}

/// Keep `doc` whole under the new id `doc_id`, as the one compacted
/// chunk samod itself writes when it compacts a document (its key and
/// hash are samod's own), so any repo loads it like one it saved.
pub async fn put_new_document(store: &dyn DocumentStore, doc_id: &DocumentId, doc: &Automerge) {
    let hash = samod_core::CompactionHash::new(&doc.get_heads());
    store
        .put(StorageKey::snapshot_path(doc_id, &hash), doc.save())
        .await;
}

/// Load a document from its chunks (in key order), named `doc_id` in the
/// error if one does not load.
pub fn document_from_chunks(
    doc_id: &str,
    chunks: impl IntoIterator<Item = (String, Vec<u8>)>,
) -> Result<Option<Automerge>> {
    let mut chunks: Vec<(String, Vec<u8>)> = chunks.into_iter().collect();
    if chunks.is_empty() {
        return Ok(None);
    }
    chunks.sort_by(|a, b| a.0.cmp(&b.0));
    let mut doc = Automerge::new();
    for (key, data) in chunks {
        doc.load_incremental(&data).map_err(|e| {
            Error::from(linli_core::Error::Schema {
                doc: doc_id.to_string(),
                reason: format!("stored chunk {key} does not load: {e}"),
            })
        })?;
    }
    Ok(Some(doc))
}

/// Run `f` with the store on a blocking thread.
async fn blocking<T: Send + 'static>(
    s: &SqliteStorage,
    what: &str,
    f: impl FnOnce(&SqliteStorage) -> linli_core::Result<T> + Send + 'static,
) -> Result<T> {
    let s = s.clone();
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .map_err(|e| Error::Io {
            context: what.to_string(),
            source: std::io::Error::other(e.to_string()),
        })?
        .map_err(Error::from)
}

#[async_trait]
impl DocumentStore for SqliteStorage {
    async fn load(&self, key: StorageKey) -> Option<Vec<u8>> {
        Storage::load(self, key).await
    }
    async fn load_range(&self, prefix: StorageKey) -> HashMap<StorageKey, Vec<u8>> {
        Storage::load_range(self, prefix).await
    }
    async fn put(&self, key: StorageKey, data: Vec<u8>) {
        Storage::put(self, key, data).await;
    }
    async fn delete(&self, key: StorageKey) {
        Storage::delete(self, key).await;
    }
    async fn load_document(&self, doc_id: &str) -> Result<Option<Automerge>> {
        let d = doc_id.to_string();
        blocking(self, "loading a document", move |s| s.load_document(&d)).await
    }
    async fn delete_document(&self, doc_id: &str) -> Result<usize> {
        let d = doc_id.to_string();
        blocking(self, "deleting a document", move |s| s.delete_document(&d)).await
    }
    async fn scrub(&self) -> Result<()> {
        // `secure_delete` overwrote the freed pages; the checkpoint clears
        // the write-ahead log of their old copies.
        blocking(self, "checkpointing", SqliteStorage::checkpoint).await
    }
    fn health(&self) -> StorageHealth {
        SqliteStorage::health(self)
    }
    fn write_counts(&self) -> (u64, u64) {
        SqliteStorage::write_counts(self)
    }
    fn close(&self) {
        SqliteStorage::close(self);
    }
}
