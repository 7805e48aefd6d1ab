//! # linli-sync-server
//!
//! The street office's server: kiosks sync their Automerge documents here
//! over the automerge-repo protocol (samod), the server projects them into
//! SQL tables, and admins read them through a JSON API. Operators manage
//! halls, kiosks and admins with the `linli-server` CLI.
//!
//! [`serve`] takes its listener and a shutdown future, so a test can bind
//! `127.0.0.1:0`, run the server and stop it cleanly.
//!
//! # Layout
//! - [`server`]: [`ServerCore`] — repos, storage, tables.
//! - [`registry`]: live sync connections and their peer-id bindings.
//! - [`repos`]: one samod repo per hall in use; idle halls unloaded.
//! - [`residents`]: the residents' key pair and salt; opening sealed contacts.
//! - [`sync_ws`]: the `/sync` WebSocket endpoint.
//! - [`wire`]: a peek into incoming messages (who delivered a document).
//! - [`tls`]: HTTPS/WSS with rustls.
//! - [`projection`]: documents → SQL tables, incrementally; rebuild.
//! - [`api`]: the HTTP router (`/healthz`, `/api/v1`, `/sync`).
//! - [`console`]: the admin console (`/admin`): sessions, roles, pages.
//! - [`provision`]: halls, kiosks, admins, tokens, server-side edits.
//! - [`erasure`]: erasing one resident on request (documents rebuilt).
//! - [`replace`]: replacing kiosk documents by rebuilt ones.
//! - [`upgrade`]: converting a database of the old resident form in place.
//! - [`demo`]: the demo halls and their week of activities.
//! - [`in_process`]: a whole server on its own thread inside another
//!   program (the kiosk's demo and tests).
//! - [`db`]: the server's own tables.
//! - [`auth`]: tokens and their hashes.
//! - [`backup`]: online backup, restore, the running server's lock.
//! - [`cli`]: the `linli-server` command line.
//! - [`harness`]: fuzz harnesses for what kiosks and browsers send (also
//!   replayed by `tests/fuzz_corpus.rs`).
//! - [`error`]: the crate's error type and its HTTP form.
//! - [`limits`]: what one client may use of what all share.
//! - [`proxies`]: the client's address behind trusted reverse proxies.
//! - [`listen`]: accepting connections, plain or TLS, with timeouts.

pub mod api;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod console;
pub mod db;
pub mod demo;
pub mod erasure;
pub mod error;
pub mod harness;
pub mod in_process;
pub mod intake;
pub mod limits;
pub mod listen;
pub mod projection;
pub mod provision;
pub mod proxies;
pub mod registry;
pub mod replace;
pub mod repos;
pub mod residents;
pub mod server;
pub mod sync_ws;
pub mod tls;
pub mod upgrade;
pub mod wire;

use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

pub use error::{Error, Result};
use linli_core::sqlite::Durability;
pub use server::ServerCore;
use tokio::{net::TcpListener, sync::watch};

/// How to run the server.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Where the SQLite file lives.
    pub data_dir: PathBuf,
    /// Create the demo halls if there are none.
    pub demo: bool,
    /// The moment (ms since epoch) the demo calendar is built around;
    /// `None` is now. Tests pin it so what they see does not depend on the
    /// day they run.
    pub demo_now_ms: Option<i64>,
    /// With `demo`, new demo halls also get about 90 days of history
    /// (`demo::history`); tests that count records turn it off.
    pub demo_history: bool,
    /// Commit durability of the server's store.
    pub durability: Durability,
    /// Serve HTTPS/WSS with this certificate and key (else plain HTTP).
    pub tls: Option<tls::TlsFiles>,
    /// Refuse to grow the database beyond this many 4 KiB pages (as a full
    /// disk would; for tests and for operators who want a hard cap).
    pub max_db_pages: Option<u64>,
    /// Longest a client may take to send request headers.
    pub header_timeout: std::time::Duration,
    /// A sync connection silent this long is closed.
    pub idle_timeout: std::time::Duration,
    /// A hall's documents leave memory once nothing has used them this
    /// long (see [`repos`]).
    pub unload_idle_after: std::time::Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client (see
    /// [`proxies`]); none by default.
    pub trusted_proxies: proxies::TrustedProxies,
}

impl ServeConfig {
    /// Defaults for `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            demo: false,
            demo_now_ms: None,
            demo_history: true,
            durability: Durability::Full,
            tls: None,
            max_db_pages: None,
            header_timeout: listen::DEFAULT_HEADER_TIMEOUT,
            idle_timeout: limits::IDLE_TIMEOUT,
            unload_idle_after: repos::UNLOAD_IDLE_AFTER,
            trusted_proxies: proxies::TrustedProxies::default(),
        }
    }
}

/// A server that has opened its data and is ready to accept connections.
pub struct Ready {
    /// The server's core (for in-process callers such as the kiosk demo).
    pub core: Arc<ServerCore>,
    /// What `--demo` created.
    pub demo: demo::DemoInfo,
    /// The TLS configuration, checked before listening.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    header_timeout: std::time::Duration,
    /// Held while serving: `restore` refuses to run under a live server.
    _lock: backup::ServerLock,
    projector_rx: Option<tokio::sync::mpsc::UnboundedReceiver<samod::DocumentId>>,
}

/// Open the data directory (and create demo data if asked).
pub async fn prepare(config: &ServeConfig) -> Result<Ready> {
    let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
    let lock = backup::lock(&config.data_dir)?;
    let options = linli_core::sqlite::DbOptions {
        durability: config.durability,
        max_page_count: config.max_db_pages,
    };
    let (core, rx) = ServerCore::open_with(&config.data_dir, options, true).await?;
    core.set_idle_timeout(config.idle_timeout);
    core.set_unload_idle_after(config.unload_idle_after);
    core.set_trusted_proxies(config.trusted_proxies.clone());
    provision::ensure_services(&core).await?;
    // Make the sign-in's dummy hash now, not during the first sign-in.
    drop(tokio::task::spawn_blocking(console::session::dummy_hash));
    let demo = if config.demo {
        let now = config.demo_now_ms.unwrap_or_else(server::now_ms);
        let info = demo::ensure_demo(&core, now).await?;
        if config.demo_history && !info.halls_created.is_empty() {
            let (core, halls) = (core.clone(), info.halls_created.clone());
            tokio::spawn(async move {
                let halls: Vec<&str> = halls.iter().map(String::as_str).collect();
                if let Err(e) = demo::history::seed(&core, &halls, now).await {
                    tracing::error!(error = %e, "seeding the demo's history failed");
                }
            });
        }
        info
    } else {
        demo::DemoInfo::default()
    };
    Ok(Ready {
        core,
        demo,
        tls,
        header_timeout: config.header_timeout,
        _lock: lock,
        projector_rx: rx,
    })
}

/// Serve on `listener` until `shutdown` completes, then close every sync
/// connection, stop the projector and the repository.
pub async fn serve(
    ready: Ready,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let Ready {
        core,
        projector_rx,
        tls,
        header_timeout,
        ..
    } = ready;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    if let Some(rx) = projector_rx {
        tasks.push(tokio::spawn(projection::run(
            core.clone(),
            rx,
            stop_rx.clone(),
        )));
    }
    tasks.push(tokio::spawn(revocation_watch(
        core.clone(),
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(catch_up(core.clone())));
    tasks.push(tokio::spawn(unload_idle_halls(
        core.clone(),
        stop_rx.clone(),
    )));
    let app = api::router(api::AppState { core: core.clone() });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "linli-server listening");
    }
    let registry = core.registry.clone();
    let shutdown = async move {
        shutdown.await;
        registry.kill_all();
    };
    listen::serve(listener, tls, app, header_timeout, shutdown).await?;
    let _ = stop_tx.send(true);
    for t in tasks {
        t.abort();
    }
    core.stop().await;
    tracing::info!("linli-server stopped");
    Ok(())
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
        match core.db.call(|db| db.revoked_kiosks()).await {
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
/// [`repos::UNLOAD_IDLE_AFTER`], so their documents leave memory.
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
    let pending = core
        .db
        .run(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT doc_id FROM documents WHERE owner_kiosk IS NOT NULL
                     AND doc_id NOT IN (SELECT doc_id FROM projection_state)",
                )
                .map_err(|e| Error::db("finding unprojected documents", e))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(|e| Error::db("finding unprojected documents", e))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| Error::db("finding unprojected documents", e))
        })
        .await;
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

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled, so a signal that arrives
/// right after the server says it is listening still stops it cleanly.
/// Call it inside the runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        [SignalKind::interrupt(), SignalKind::terminate()]
            .into_iter()
            .filter_map(|kind| signal(kind).ok())
            .collect::<Vec<_>>()
    };
    async move {
        #[cfg(unix)]
        {
            let mut signals = signals;
            if signals.is_empty() {
                let _ = tokio::signal::ctrl_c().await;
            } else {
                let waits = signals.iter_mut().map(|s| Box::pin(s.recv()));
                futures::future::select_all(waits).await;
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received");
    }
}
