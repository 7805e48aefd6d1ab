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
//! The server is three crates, dependencies pointing inward:
//! - `linli-sync-engine` (`sync-server/engine`): documents in, tables out
//!   (hall repos, intake, projection, provisioning, erasure, backup).
//! - `linli-web` (`sync-server/web`): the HTTP surface over the engine
//!   (`/sync`, the JSON API, the console, TLS).
//! - this crate: what runs them — [`ServeConfig`], [`prepare`], [`serve`],
//!   and:
//!   - [`cli`]: the `linli-server` command line.
//!   - [`demo`]: the demo halls, their week of activities and history.
//!   - [`in_process`]: a whole server on its own thread inside another
//!     program (the kiosk's demo and tests).

pub mod cli;
pub mod demo;
pub mod in_process;
pub mod tls_init;

use std::{future::Future, path::PathBuf, sync::Arc};

use linli_core::sqlite::Durability;
pub use linli_sync_engine::{Error, Result, ServerCore};
use linli_sync_engine::{accounts, backup, clock, limits, provision, repos, tasks};
use linli_web::{
    api, listen, proxies,
    state::{AppState, WebState},
    tls,
};
use tokio::{net::TcpListener, sync::watch};

/// How to run the server.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Where the SQLite file lives (and, on either store, the residents'
    /// key file).
    pub data_dir: PathBuf,
    /// Keep everything in this PostgreSQL database
    /// (`postgres://USER@HOST/DB`) instead of the SQLite file; several
    /// instances may share one.
    pub database_url: Option<String>,
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
    /// With several instances on one PostgreSQL: where the others reach
    /// this one (default: the address it listens on, unless unspecified).
    pub advertise_url: Option<url::Url>,
}

impl ServeConfig {
    /// Defaults for `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            database_url: None,
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
            advertise_url: None,
        }
    }
}

/// A server that has opened its data and is ready to accept connections.
pub struct Ready {
    /// The server's core (for in-process callers such as the kiosk demo).
    pub core: Arc<ServerCore>,
    /// The web side's limits and settings (tests change its trusted
    /// proxies while serving).
    pub web: Arc<WebState>,
    /// What `--demo` created.
    pub demo: demo::DemoInfo,
    /// The TLS configuration, checked before listening.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    header_timeout: std::time::Duration,
    /// Held while serving: `restore` refuses to run under a live server.
    _lock: backup::ServerLock,
    advertise_url: Option<url::Url>,
    projector_rx: Option<tokio::sync::mpsc::UnboundedReceiver<samod::DocumentId>>,
}

/// Even at `RUST_LOG=trace`, the libraries that log what passes through
/// them log at most `info`: the WebSocket library prints whole frames and
/// handshakes at trace (tokens, the text residents typed), and the
/// PostgreSQL client every statement's parameters at debug (request texts,
/// sealed contacts). The server's log filter goes through here.
pub fn cap_content_logs(filter: tracing_subscriber::EnvFilter) -> tracing_subscriber::EnvFilter {
    [
        "tungstenite=info",
        "tokio_tungstenite=info",
        "tokio_postgres=info",
    ]
    .into_iter()
    .filter_map(|d| d.parse().ok())
    .fold(filter, tracing_subscriber::EnvFilter::add_directive)
}

/// Open the server's core: on the PostgreSQL database at `database_url`
/// when given (migrated on the way), else on the SQLite file in
/// `data_dir`, created if need be. The residents' key is in `data_dir`
/// either way. With `projector`, the projector's feed comes back too.
pub async fn open_core(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    options: linli_core::sqlite::DbOptions,
    projector: bool,
) -> Result<(
    Arc<ServerCore>,
    Option<tokio::sync::mpsc::UnboundedReceiver<samod::DocumentId>>,
)> {
    match database_url {
        Some(url) => {
            let store = linli_store_postgres::PgStore::open(url)
                .await
                .map_err(linli_sync_engine::Error::from)?;
            ServerCore::open_on(data_dir, store.server_store(), projector).await
        }
        None => ServerCore::open_with(data_dir, options, projector).await,
    }
}

/// Open the data directory (and create demo data if asked).
pub async fn prepare(config: &ServeConfig) -> Result<Ready> {
    let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
    // Read once here: every pairing link the console shows names it.
    let pairing_ca = config.tls.as_ref().map(tls::pairing_ca).transpose()?;
    let lock = backup::lock(&config.data_dir)?;
    let options = linli_core::sqlite::DbOptions {
        durability: config.durability,
        max_page_count: config.max_db_pages,
    };
    let (core, rx) = open_core(
        &config.data_dir,
        config.database_url.as_deref(),
        options,
        true,
    )
    .await?;
    core.set_idle_timeout(config.idle_timeout);
    core.set_unload_idle_after(config.unload_idle_after);
    provision::ensure_services(&core).await?;
    // Make the sign-in's dummy hash now, not during the first sign-in.
    drop(tokio::task::spawn_blocking(accounts::dummy_hash));
    let demo = if config.demo {
        let now = config.demo_now_ms.unwrap_or_else(clock::now_ms);
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
        web: Arc::new(WebState::new(config.trusted_proxies.clone()).with_pairing_ca(pairing_ca)),
        demo,
        tls,
        header_timeout: config.header_timeout,
        _lock: lock,
        advertise_url: config.advertise_url.clone(),
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
        web,
        projector_rx,
        tls,
        header_timeout,
        advertise_url,
        ..
    } = ready;
    if let Some(cluster) = core.repos.cluster() {
        cluster.set_address(advertised(advertise_url, &listener, tls.is_some())?);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let tasks = tasks::spawn(&core, projector_rx, &stop_rx);
    let draining = web.clone();
    let app = api::router(AppState {
        core: core.clone(),
        web,
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "linli-server listening");
    }
    let registry = core.registry.clone();
    let shutdown = async move {
        shutdown.await;
        draining
            .draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
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

/// Where the other instances on the database reach this one: as told, or
/// the address it listens on (which must then be a real one).
fn advertised(told: Option<url::Url>, listener: &TcpListener, tls: bool) -> Result<url::Url> {
    if let Some(url) = told {
        return Ok(url);
    }
    let addr = listener.local_addr().map_err(|source| Error::Io {
        context: "reading the listen address".into(),
        source,
    })?;
    if addr.ip().is_unspecified() {
        return Err(Error::Config(format!(
            "listening on {addr}, which other instances cannot dial: with several instances on \
             one database, say where they reach this one with --advertise-url \
             (e.g. http://10.0.0.5:{})",
            addr.port()
        )));
    }
    let scheme = if tls { "https" } else { "http" };
    url::Url::parse(&format!("{scheme}://{addr}"))
        .map_err(|e| Error::Config(format!("the listen address {addr} as a URL: {e}")))
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
