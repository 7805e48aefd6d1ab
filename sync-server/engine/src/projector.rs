//! The projector: the task that keeps the projection up to date while the
//! server runs. Documents that changed arrive on a channel (from the hall
//! repos' observers and server-side edits); a burst settles into one batch
//! ([`crate::projection::project_batch`]), and records of residents erased
//! lately that arrive now ([`crate::erasure_watch`]) are erased in turn.

use std::{collections::BTreeSet, str::FromStr, sync::Arc, time::Duration};

use samod::DocumentId;
use tokio::sync::{mpsc, watch};

use crate::{ServerCore, erasure, projection};

/// Projects documents as sync data arrives, a batch at a time (each
/// document once per batch, the batch written in one transaction), until
/// `shutdown`.
pub async fn run(
    core: Arc<ServerCore>,
    mut rx: mpsc::UnboundedReceiver<DocumentId>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let first = tokio::select! {
            d = rx.recv() => d,
            _ = shutdown.wait_for(|s| *s) => None,
        };
        let Some(first) = first else { return };
        let arrived = std::time::Instant::now();
        let mut batch = BTreeSet::from([first.to_string()]);
        let mut notices = 1;
        // Let a burst of sync messages settle into one pass.
        tokio::time::sleep(Duration::from_millis(30)).await;
        while let Ok(d) = rx.try_recv() {
            batch.insert(d.to_string());
            notices += 1;
        }
        let docs: Vec<DocumentId> = batch
            .iter()
            .filter_map(|id| DocumentId::from_str(id).ok())
            .collect();
        let written = match projection::project_batch(&core, &docs).await {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "projecting a batch failed; its documents are kept and will be projected again on their next change or a rebuild");
                continue;
            }
        };
        let (records, quarantined) = written
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .fold((0, 0), |(r, q), p| (r + p.records, q + p.quarantined));
        core.counters.projected(
            notices,
            records,
            quarantined,
            rx.len(),
            u64::try_from(arrived.elapsed().as_millis()).unwrap_or(u64::MAX),
        );
        for (id, result) in written {
            match result {
                Ok(p) => {
                    for pseudonym in p.late_erasures {
                        // Off this loop: an erasure stops the hall's repo
                        // and projects the documents it rebuilds.
                        let core = core.clone();
                        tokio::spawn(async move {
                            match erasure::erase_late(core, pseudonym).await {
                                Ok(e) => tracing::info!(
                                    records = e.map_or(0, |e| e.records),
                                    "records of an erased resident arrived late and were erased"
                                ),
                                Err(e) => {
                                    tracing::error!(error = %e, "erasing records of an erased resident that arrived late failed; they are erased when the next of their records arrives, or by erasing again")
                                }
                            }
                        });
                    }
                }
                Err(e) => {
                    tracing::error!(doc = %id, error = %e, "projection failed; the document is kept and will be projected again on its next change or a rebuild");
                }
            }
        }
    }
}
