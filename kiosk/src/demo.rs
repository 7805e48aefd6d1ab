//! The demo: an in-process `linli-server` on 127.0.0.1 with the demo halls,
//! and a kiosk of 先锋社区 paired with it, so the README's one command shows
//! a working, syncing kiosk on a fresh machine.

use std::{path::Path, sync::Arc, thread::JoinHandle};

use linli_sync_server::{ServeConfig, ServerCore};
use tokio::sync::oneshot;
use url::Url;

/// The hall the demo kiosk serves.
pub const DEMO_HALL: &str = "xianfeng";

/// A running in-process server. Dropping it stops the server.
pub struct DemoServer {
    /// `http://127.0.0.1:port/`.
    pub url: Url,
    /// The server's core (to provision the demo kiosk).
    pub core: Arc<ServerCore>,
    runtime: tokio::runtime::Runtime,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl DemoServer {
    /// Start a server with demo data in `data_dir`, its calendar built
    /// around now, with the demo's history (what the console shows).
    pub fn start(data_dir: &Path) -> linli_sync_server::Result<Self> {
        Self::start_at(data_dir, None, true)
    }

    /// Start a server with demo data in `data_dir`, its calendar built
    /// around `now_ms` (a pinned moment for tests; `None` is now), with or
    /// without the demo's history.
    pub fn start_at(
        data_dir: &Path,
        now_ms: Option<i64>,
        history: bool,
    ) -> linli_sync_server::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|source| linli_sync_server::Error::Io {
                context: "starting the demo server".into(),
                source,
            })?;
        let mut config = ServeConfig::new(data_dir);
        config.demo = true;
        config.demo_now_ms = now_ms;
        config.demo_history = history;
        let (ready, listener) = runtime.block_on(async {
            let ready = linli_sync_server::prepare(&config).await?;
            let listener =
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|source| linli_sync_server::Error::Io {
                        context: "listening on 127.0.0.1".into(),
                        source,
                    })?;
            Ok::<_, linli_sync_server::Error>((ready, listener))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|source| linli_sync_server::Error::Io {
                context: "reading the demo address".into(),
                source,
            })?;
        let url = Url::parse(&format!("http://{addr}/"))
            .map_err(|e| linli_sync_server::Error::BadRequest(e.to_string()))?;
        let core = ready.core.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = runtime.handle().clone();
        let thread = std::thread::Builder::new()
            .name("linli-demo-server".into())
            .spawn(move || {
                let result =
                    handle.block_on(linli_sync_server::serve(ready, listener, async move {
                        let _ = stopped.await;
                    }));
                if let Err(e) = result {
                    tracing::error!(error = %e, "demo server stopped with an error");
                }
            })
            .map_err(|source| linli_sync_server::Error::Io {
                context: "starting the demo server thread".into(),
                source,
            })?;
        Ok(Self {
            url,
            core,
            runtime,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Provision a kiosk in the demo hall; returns its token.
    pub fn provision_kiosk(&self, name: &str) -> linli_sync_server::Result<String> {
        let core = self.core.clone();
        let name = name.to_string();
        self.runtime
            .block_on(async move {
                linli_sync_server::provision::add_kiosk(&core, DEMO_HALL, &name).await
            })
            .map(|(_, token)| token)
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
