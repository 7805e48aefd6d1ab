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
    core.repos
        .with_hall_stopped(hall, || core.tables.retire_documents(olds, now_ms()))
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
        let content = core.storage.load_document(old).await?;
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
        // Claimed before any repo holds it, or a kiosk connected now would
        // never be given it (and never carry on in it).
        let kiosk = rebuilt.kiosk_id.clone();
        let handle = core
            .repos
            .create_claimed(hall, &rebuilt.doc, |new_id| async move {
                core.tables
                    .replace_document(old, &new_id.to_string(), hall, &kiosk, now_ms())
                    .await
            })
            .await?;
        let new_id = handle.document_id().clone();
        drop(handle);
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
        core.storage.delete_document(old).await?;
        projection::project_document(core, &new_id).await?;
    }
    Ok(counted)
}

/// Take a retired document's rows out of the projection.
async fn forget_projected(core: &ServerCore, doc: &str) -> Result<()> {
    core.projection.forget_document(doc).await
}
