//! The kiosk's two SQLite files, and how a kiosk that kept everything in
//! one comes to keep two.
//!
//! - [`STORE_FILE`](super::STORE_FILE) (`kiosk.sqlite3`) holds what the
//!   kiosk must never lose: its pairing, the list of its documents and the
//!   [`journal`](super::journal) of every record, each committed with
//!   `synchronous=FULL` before the screen acknowledges a tap.
//! - [`DOCUMENTS_FILE`] (`documents.sqlite3`) holds samod's Automerge
//!   documents as samod saves them, with `synchronous=NORMAL`: a power cut
//!   may lose its last commits but never corrupts it, and whatever it lost
//!   is written again from the journal at start (the node's journal replay,
//!   and a listed document with no data made again).
//!
//! Why two: in one file, the journal's fsync on every tap also carried
//! every document frame written since the last one — samod re-saves a
//! whole day's ledger every tenth change or so — and the two writers took
//! turns at one write lock. The slowest taps were those that paid for a
//! document's save. In two files a tap's fsync carries the journal's own
//! few pages and nothing else.
//!
//! Kiosks paired before this change kept their documents in
//! `kiosk.sqlite3`; [`open`] moves them out once, before anything else
//! opens them, in a way a crash at any point leaves re-doable.

use std::path::{Path, PathBuf};

use super::journal::Journal;
use crate::{
    Error, Result,
    sqlite::{self, DbOptions, Durability},
    storage::SqliteStorage,
};

/// The SQLite file of the kiosk's Automerge documents, inside its data
/// directory.
pub const DOCUMENTS_FILE: &str = "documents.sqlite3";

/// The journal's file in `data_dir`.
pub(super) fn journal_path(data_dir: &Path) -> PathBuf {
    data_dir.join(super::STORE_FILE)
}

/// The documents' file in `data_dir`.
pub(super) fn documents_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DOCUMENTS_FILE)
}

/// Open a kiosk's journal and document store (blocking), moving documents
/// out of the journal's file first if this kiosk still keeps them there.
pub(super) fn open(data_dir: &Path, options: DbOptions) -> Result<(Journal, SqliteStorage)> {
    let journal = Journal::open(&journal_path(data_dir), options)?;
    move_documents_out(data_dir, options)?;
    let storage = SqliteStorage::open(
        &documents_path(data_dir),
        DbOptions {
            durability: Durability::Normal,
            ..options
        },
    )?;
    Ok((journal, storage))
}

/// Move the documents of a one-file kiosk into their own file. The copy is
/// committed (and synced) in the documents' file before the old table is
/// dropped, so a crash in between only means copying again at the next
/// start; keys are content hashes, so copying twice changes nothing.
fn move_documents_out(data_dir: &Path, options: DbOptions) -> Result<()> {
    let old_path = journal_path(data_dir);
    let mut old = sqlite::open(&old_path, options)?;
    let has_documents: bool = old
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'samod_storage')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| Error::store("looking for documents in the kiosk's store", e))?;
    if !has_documents {
        return Ok(());
    }
    let new_path = documents_path(data_dir);
    // Made with its table, as the store makes it.
    drop(SqliteStorage::open(&new_path, options)?);
    let mut new = sqlite::open(
        &new_path,
        DbOptions {
            durability: Durability::Full,
            ..options
        },
    )?;
    let moving = |e| Error::store("moving documents into their own file", e);
    new.execute(
        "ATTACH DATABASE ?1 AS old",
        [old_path.to_string_lossy().as_ref()],
    )
    .map_err(moving)?;
    let tx = new
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(moving)?;
    let moved = tx
        .execute(
            "INSERT OR REPLACE INTO main.samod_storage (key, data)
             SELECT key, data FROM old.samod_storage",
            [],
        )
        .map_err(moving)?;
    tx.commit().map_err(moving)?;
    new.execute("DETACH DATABASE old", []).map_err(moving)?;
    drop(new);
    // Only now, with the copy on disk, is the old table let go.
    let tx = old
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(moving)?;
    tx.execute_batch(
        "DROP TABLE samod_storage;
         DELETE FROM linli_migrations WHERE component = 'samod_storage';",
    )
    .map_err(moving)?;
    tx.commit().map_err(moving)?;
    // secure_delete overwrote the freed pages; give the space back too.
    sqlite::checkpoint(&old)?;
    if let Err(e) = old.execute_batch("VACUUM") {
        tracing::warn!(error = %e, "documents moved out of the kiosk's store, which could not be compacted (it keeps its size)");
    }
    tracing::info!(
        chunks = moved,
        "documents moved into their own file, {DOCUMENTS_FILE}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use samod::storage::{Storage as _, StorageKey};

    use super::*;

    fn key(parts: &[&str]) -> StorageKey {
        StorageKey::from_parts(parts.iter().copied()).expect("key")
    }

    #[tokio::test]
    async fn a_one_file_kiosk_keeps_its_journal_and_its_documents_move_to_their_own_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A kiosk as it was: journal and documents in kiosk.sqlite3.
        {
            let path = journal_path(dir.path());
            let j = Journal::open(&path, DbOptions::default()).expect("journal");
            j.set_meta(&[("token", "t")]).expect("meta");
            j.add_doc(crate::docs::DocKind::Ledger, "2026-11-24", "doc1")
                .expect("doc");
            let s = SqliteStorage::open(&path, DbOptions::default()).expect("store");
            s.put(key(&["doc1", "snapshot", "h1"]), vec![1, 2, 3]).await;
            s.put(key(&["doc1", "incremental", "h2"]), vec![4]).await;
        }
        let (journal, storage) = tokio::task::spawn_blocking({
            let d = dir.path().to_path_buf();
            move || open(&d, DbOptions::default())
        })
        .await
        .expect("join")
        .expect("open");
        assert_eq!(journal.meta("token").expect("meta").as_deref(), Some("t"));
        assert_eq!(journal.doc_count().expect("docs"), 1);
        assert_eq!(
            storage.load(key(&["doc1", "snapshot", "h1"])).await,
            Some(vec![1, 2, 3])
        );
        assert_eq!(storage.load_range(key(&["doc1"])).await.len(), 2);
        assert!(storage.path().ends_with(DOCUMENTS_FILE));
        // The old table is gone from the journal's file.
        let old = rusqlite::Connection::open(journal_path(dir.path())).expect("old");
        let left: i64 = old
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'samod_storage'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(left, 0);
        drop((journal, storage));
        // Opening again moves nothing and loses nothing.
        let (_, storage) = open(dir.path(), DbOptions::default()).expect("again");
        assert_eq!(storage.load_range(key(&["doc1"])).await.len(), 2);
    }

    #[tokio::test]
    async fn a_move_cut_short_after_the_copy_is_done_again_and_loses_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = journal_path(dir.path());
        {
            Journal::open(&path, DbOptions::default()).expect("journal");
            let s = SqliteStorage::open(&path, DbOptions::default()).expect("store");
            s.put(key(&["doc1", "snapshot", "h1"]), vec![1]).await;
            // The copy made, the old table not yet dropped: as after a crash.
            let n = SqliteStorage::open(&documents_path(dir.path()), DbOptions::default())
                .expect("new");
            n.put(key(&["doc1", "snapshot", "h1"]), vec![1]).await;
        }
        let (_, storage) = open(dir.path(), DbOptions::default()).expect("open");
        assert_eq!(
            storage
                .load_range(key(&["doc1"]))
                .await
                .into_values()
                .collect::<Vec<_>>(),
            vec![vec![1]]
        );
    }
}
