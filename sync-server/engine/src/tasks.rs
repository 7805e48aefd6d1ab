//! The server's background work beside serving connections: the
//! projector, closing connections of kiosks revoked by another process
//! (the CLI), unloading halls nothing uses, renewing the leases of the
//! halls this instance serves when several share a database, and
//! projecting documents a stopped server left unprojected, topping up
//! kiosks' shares of volunteers' points. [`spawn`] starts them all; they end
//! when `stop` turns true.

use std::{sync::Arc, time::Duration};

use samod::DocumentId;
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

use crate::{ServerCore, projection, projector};

/// Start the background tasks of a serving server. `projector_rx` is the
/// channel [`ServerCore::open`] returned when asked for a projector.
pub fn spawn(
    core: &Arc<ServerCore>,
    projector_rx: Option<mpsc::UnboundedReceiver<DocumentId>>,
    stop: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(rx) = projector_rx {
        tasks.push(tokio::spawn(projector::run(core.clone(), rx, stop.clone())));
    }
    tasks.push(tokio::spawn(revocation_watch(core.clone(), stop.clone())));
    tasks.push(tokio::spawn(catch_up(core.clone())));
    tasks.push(tokio::spawn(unload_idle_halls(core.clone(), stop.clone())));
    tasks.push(tokio::spawn(top_up_points(core.clone(), stop.clone())));
    if let Some(cluster) = core.repos.cluster() {
        let every = cluster.ttl / 3;
        tasks.push(tokio::spawn(renew_leases(
            core.clone(),
            every,
            stop.clone(),
        )));
    }
    tasks
}

/// Renew the leases of the halls this instance serves, `every` (a third
/// of a lease), so they stay here while it lives ([`crate::cluster`]).
async fn renew_leases(core: Arc<ServerCore>, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        core.repos.renew_leases().await;
    }
}

/// How often connected kiosks' shares of points and stock are topped up.
const TOP_UP_EVERY: Duration = Duration::from_secs(5);

/// Keep the kiosks of halls with a kiosk connected here topped up with
/// their shares of volunteers' points and items' stock
/// ([`crate::points::top_up`]), in the halls this instance serves: a
/// kiosk takes its grants while it is online and spends them offline.
async fn top_up_points(core: Arc<ServerCore>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TOP_UP_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        for hall in core.registry.connected_halls() {
            // Only where this instance holds the hall: its holder writes
            // its grants.
            if !matches!(
                core.repos.serving(&hall).await,
                Ok(Some(crate::repos::Serving::Here(_)))
            ) {
                continue;
            }
            if let Err(e) = crate::points::top_up(&core, &hall).await {
                tracing::warn!(%hall, error = %e, "topping up kiosks' points failed; tried again shortly");
            }
        }
    }
}

/// Close connections of kiosks revoked by another process (the CLI)
/// within a second.
async fn revocation_watch(core: Arc<ServerCore>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let connected = core.registry.connected_kiosks();
        if connected.is_empty() {
            continue;
        }
        match core.tables.revoked_kiosks().await {
            Ok(revoked) => {
                for k in revoked.iter().filter(|k| connected.contains(*k)) {
                    core.registry.kill_kiosk(k);
                    tracing::info!(kiosk = %k, "revoked kiosk disconnected");
                }
            }
            Err(e) => tracing::error!(error = %e, "checking revocations failed"),
        }
    }
}

/// Stop the repos of halls nothing has used for
/// [`crate::repos::UNLOAD_IDLE_AFTER`], so their documents leave memory.
async fn unload_idle_halls(core: Arc<ServerCore>, mut stop: watch::Receiver<bool>) {
    loop {
        let idle_after = core.unload_idle_after();
        let tick = (idle_after / 4).clamp(Duration::from_secs(1), Duration::from_secs(15));
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let stopped = core.repos.unload_idle(idle_after).await;
        if stopped > 0 {
            tracing::info!(
                stopped,
                running = core.repos.running(),
                "idle halls unloaded"
            );
        }
    }
}

/// Project documents that were claimed but never projected (the server
/// stopped between receiving a document and projecting it).
async fn catch_up(core: Arc<ServerCore>) {
    let pending = core.projection.unprojected_documents().await;
    match pending {
        Ok(ids) => {
            for id in ids {
                if let Ok(doc) = id.parse::<samod::DocumentId>()
                    && let Err(e) = projection::project_document(&core, &doc).await
                {
                    tracing::warn!(doc = %id, error = %e, "catch-up projection failed");
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "catch-up projection failed"),
    }
}
