//! The server's side of redeeming points at the hall's 爱心超市 (issue 16;
//! the documents and the arithmetic are `linli_core::docs::points` and
//! `linli_core::escrow`).
//!
//! Each hall has one grants document, which the server alone writes: made
//! on first need, recorded as the hall's document of kind
//! [`GRANTS_KIND`] (so the share policy gives it to the hall's kiosks
//! read-only, as the calendar) and listed in the hall's directory under
//! [`GRANTS_ENTRY`], where kiosks find it. Kiosk stores' spends documents
//! are kiosk documents like ledgers: claimed by the kiosk that delivers
//! them, written by no one else, listed in the directory under their kind.
//! [`escrow_of`] reads a hall's rights from the server's copies, and
//! [`grant`] writes a grant only within what they allow.

use std::str::FromStr;

use linli_core::{
    docs::{
        DocKind, directory,
        points::{self, Grant},
    },
    escrow::{self, Escrow, Shortfall},
};
use samod::{AutomergeUrl, DocumentId};

use crate::{Error, Result, clock::now_ms, server::ServerCore};

pub use crate::db::GRANTS_KIND;
pub use linli_core::docs::points::GRANTS_ENTRY;

/// One grants document made at a time (per process; across instances
/// the hall's lease orders writes and the first recorded one is used).
static MAKING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn doc_id(id: &str) -> Result<DocumentId> {
    DocumentId::from_str(id).map_err(|e| Error::BadRequest(format!("document id {id}: {e}")))
}

/// The hall's directory, in its repo.
async fn directory_of(core: &ServerCore, hall_id: &str) -> Result<crate::repos::HallDoc> {
    let hall = core
        .tables
        .hall(hall_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("hall {hall_id}")))?;
    core.repos
        .find_in(hall_id, doc_id(&hall.directory_doc)?)
        .await?
        .ok_or_else(|| Error::NotFound(format!("the directory of hall {hall_id}")))
}

/// The hall's grants document, made (and listed) if it has none yet.
pub async fn grants_doc(core: &ServerCore, hall_id: &str) -> Result<DocumentId> {
    if let Some(id) = core.tables.hall_doc(hall_id, GRANTS_KIND).await? {
        return doc_id(&id);
    }
    let _one_at_a_time = MAKING.lock().await;
    if let Some(id) = core.tables.hall_doc(hall_id, GRANTS_KIND).await? {
        return doc_id(&id);
    }
    // The hall's directory first: a hall that does not exist gets nothing.
    let dir = directory_of(core, hall_id).await?;
    let made = core
        .repos
        .create_claimed(hall_id, &points::new_grants(hall_id)?, |id| async move {
            core.tables
                .insert_hall_doc(&id.to_string(), hall_id, GRANTS_KIND, now_ms())
                .await
        })
        .await?;
    made.confirmed().await?;
    let id = made.document_id().clone();
    let url = AutomergeUrl::from(&id).to_string();
    dir.with_document_async(move |d| directory::register(d, GRANTS_ENTRY, &url))
        .await??;
    dir.confirmed().await?;
    tracing::info!(hall = %hall_id, "the hall's grants document was made");
    // The first recorded one wins should another instance have made one
    // at the same moment.
    match core.tables.hall_doc(hall_id, GRANTS_KIND).await? {
        Some(first) => doc_id(&first),
        None => Ok(id),
    }
}

/// The hall's rights as the server's copies show them: its grants
/// document and every spends document its directory lists.
pub async fn escrow_of(core: &ServerCore, hall_id: &str) -> Result<Escrow> {
    let grants_id = grants_doc(core, hall_id).await?;
    let dir = directory_of(core, hall_id).await?;
    let entries = dir.with_document(|d| directory::entries(d))?;
    let mut spends = Vec::new();
    for (key, url) in entries {
        if !matches!(
            directory::parse_entry_key(&key),
            Some((DocKind::Spends, _, _))
        ) {
            continue;
        }
        let id = AutomergeUrl::from_str(&url)
            .map_err(|e| Error::BadRequest(format!("directory entry {key}: {e}")))?
            .document_id()
            .clone();
        // A store's document that has not reached the server yet counts
        // for nothing spent: its spender was granted nothing it could not
        // spend, so what it spent is within its grants all the same.
        if let Some(doc) = core.repos.find_in(hall_id, id).await? {
            spends.push(doc.with_document(|d| d.fork()));
        }
    }
    let grants = core
        .repos
        .find_in(hall_id, grants_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("the grants of hall {hall_id}")))?;
    let spends: Vec<&automerge::Automerge> = spends.iter().collect();
    Ok(grants.with_document(|g| Escrow::read(g, &spends))?)
}

/// Grant `g` in hall `hall_id`, if it fits beside what is committed of an
/// account whose total is `total`: `Ok(Err(shortfall))` changes nothing.
/// Returns once the hall's holder has the grant.
pub async fn grant(
    core: &ServerCore,
    hall_id: &str,
    g: Grant,
    total: u64,
) -> Result<std::result::Result<(), Shortfall>> {
    // Read and written under one lock: two grants never both fit in one
    // remainder.
    let _one_at_a_time = GRANTING.lock().await;
    let view = escrow_of(core, hall_id).await?;
    let grants = core
        .repos
        .find_in(hall_id, grants_doc(core, hall_id).await?)
        .await?
        .ok_or_else(|| Error::NotFound(format!("the grants of hall {hall_id}")))?;
    let id = linli_core::ids::RecordId::new().to_string();
    let done = grants
        .with_document_async(move |d| escrow::grant(d, &view, &id, &g, total))
        .await??;
    if done.is_ok() {
        grants.confirmed().await?;
    }
    Ok(done)
}

/// One grant decided at a time (per process; across instances the hall's
/// holder is the one writer of its grants document).
static GRANTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
