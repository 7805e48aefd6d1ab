//! Replacing kiosk documents by rebuilt ones, on the server: the way an
//! erased resident leaves the documents ([`crate::erasure`]) and residents
//! of the old reversible form are converted ([`crate::upgrade`]).
//!
//! Automerge history cannot be rewritten, so a document is replaced: with
//! the hall's repo stopped (nothing holds the old one in memory), the old
//! document is retired (no repo loads, stores or shares it again, whatever
//! a kiosk that still has it sends); the rebuilt one is created and given
//! to the same kiosk; the hall directory points the entry at it and lists
//! the old one as retired, so the hall's kiosks carry on in the new one and
//! delete their copies (`linli_core::node`); the old one's rows leave the
//! projection, its data leaves the store, and the new one is projected.

use std::str::FromStr;

use automerge::Automerge;
use linli_core::docs::{self, DocKind, directory, erase::Rebuilt};
use rusqlite::params;
use samod::{AutomergeUrl, DocumentId};

use crate::{Error, Result, clock::now_ms, projection, server::ServerCore};

/// Replace the documents `olds` of one hall by what `rebuild` makes of
/// each (with a count it returns, summed); retired, deleted and projected
/// as the module says.
pub async fn replace_documents<F>(
    core: &std::sync::Arc<ServerCore>,
    hall: &str,
    olds: &[String],
    rebuild: F,
) -> Result<usize>
where
    F: Fn(&Automerge) -> linli_core::Result<(Rebuilt, usize)> + Clone + Send + 'static,
{
    // With the hall's repo stopped, nothing holds the old documents in
    // memory; once retired, no repo loads, stores or shares them again,
    // whatever a kiosk that still has them sends.
    let retire = olds.to_vec();
    let now = now_ms();
    core.repos
        .with_hall_stopped(hall, || async {
            core.db
                .run(move |c| {
                    for d in &retire {
                        c.execute(
                            "UPDATE documents SET retired_ms = ?2 WHERE doc_id = ?1 AND retired_ms IS NULL",
                            params![d, now],
                        )
                        .map_err(|e| Error::db("retiring a document", e))?;
                    }
                    Ok(())
                })
                .await
        })
        .await?;
    let directory_id = core
        .tables
        .hall(hall)
        .await?
        .ok_or_else(|| Error::NotFound(format!("hall {hall}")))?
        .directory_doc;
    let directory_id = DocumentId::from_str(&directory_id)
        .map_err(|e| Error::BadRequest(format!("directory id: {e}")))?;
    let mut counted = 0;
    for old in olds {
        let storage = core.storage.clone();
        let o = old.clone();
        let content = tokio::task::spawn_blocking(move || storage.load_document(&o))
            .await
            .map_err(|e| Error::BadRequest(format!("store worker: {e}")))??;
        let Some(content) = content else {
            // Listed in the projection but gone from the store: nothing to
            // rebuild; its rows go below.
            forget_projected(core, old).await?;
            continue;
        };
        let f = rebuild.clone();
        let (rebuilt, n) = tokio::task::spawn_blocking(move || f(&content))
            .await
            .map_err(|e| Error::BadRequest(format!("rebuild worker: {e}")))??;
        counted += n;
        let key = directory::entry_key(rebuilt.kind, &rebuilt.kiosk_id, &rebuilt.period);
        let handle = core.repos.create(hall, rebuilt.doc).await?;
        let new_id = handle.document_id().clone();
        let (n, h, k) = (
            new_id.to_string(),
            hall.to_string(),
            rebuilt.kiosk_id.clone(),
        );
        let o = old.clone();
        core.db
            .run(move |c| {
                c.execute(
                    "INSERT INTO documents (doc_id, hall_id, owner_kiosk, first_seen_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![n, h, k, now_ms()],
                )
                .map_err(|e| Error::db("claiming a rebuilt document", e))?;
                c.execute("UPDATE documents SET replaced_by = ?2 WHERE doc_id = ?1", params![o, n])
                    .map_err(|e| Error::db("retiring a document", e))?;
                // The resident phone page's request book is found by name.
                c.execute(
                    "UPDATE server_meta SET value = ?2 WHERE key LIKE 'webbook/%' AND value = ?1",
                    params![o, n],
                )
                .map_err(|e| Error::db("retiring a document", e))?;
                Ok(())
            })
            .await?;
        let dir = core
            .repos
            .find_in(hall, directory_id.clone())
            .await?
            .ok_or_else(|| Error::NotFound(format!("the directory of hall {hall}")))?;
        let (o, url) = (old.clone(), AutomergeUrl::from(&new_id).to_string());
        let h = hall.to_string();
        dir.with_document_async(move |d| {
            docs::expect_header(d, DocKind::Directory, &h, None)?;
            directory::retire(d, &key, &o, &url)
        })
        .await??;
        forget_projected(core, old).await?;
        let storage = core.storage.clone();
        let o = old.clone();
        tokio::task::spawn_blocking(move || storage.delete_document(&o))
            .await
            .map_err(|e| Error::BadRequest(format!("store worker: {e}")))??;
        projection::project_document(core, &new_id).await?;
    }
    Ok(counted)
}

/// Take a retired document's rows out of the projection.
async fn forget_projected(core: &ServerCore, doc: &str) -> Result<()> {
    let d = doc.to_string();
    core.db
        .run(move |c| {
            let tx = c
                .transaction()
                .map_err(|e| Error::db("forgetting a retired document", e))?;
            for table in [
                "checkins",
                "ratings",
                "shift_events",
                "requests",
                "quarantine",
                "projection_state",
            ] {
                tx.execute(&format!("DELETE FROM {table} WHERE doc_id = ?1"), [&d])
                    .map_err(|e| Error::db("forgetting a retired document", e))?;
            }
            tx.commit()
                .map_err(|e| Error::db("forgetting a retired document", e))
        })
        .await
}
