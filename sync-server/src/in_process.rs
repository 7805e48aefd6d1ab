//! A whole `linli-server` on 127.0.0.1 inside another program, on its own
//! runtime and thread: the kiosk's demo (`linli-kiosk --demo`, built with
//! the kiosk's `demo` feature) and the kiosk's tests run one beside a
//! real kiosk. Dropping it stops the server as `serve` stops.

use std::{path::Path, sync::Arc, thread::JoinHandle};

use crate::ServeConfig;
use linli_sync_engine::{Error, Result, ServerCore};
use tokio::sync::oneshot;
use url::Url;

/// The demo hall a demo kiosk serves: 先锋社区.
pub const DEMO_HALL: &str = crate::demo::DEMO_HALLS[0].0;

/// A running in-process server. Dropping it stops the server.
pub struct InProcessServer {
    /// `http://127.0.0.1:port/`.
    pub url: Url,
    /// The server's core (to provision the demo kiosk).
    pub core: Arc<ServerCore>,
    runtime: tokio::runtime::Runtime,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl InProcessServer {
    /// Start a server with demo data in `data_dir`, its calendar built
    /// around now, with the demo's history (what the console shows).
    pub fn start(data_dir: &Path) -> Result<Self> {
        Self::start_at(data_dir, None, true)
    }

    /// Start a server with demo data in `data_dir`, its calendar built
    /// around `now_ms` (a pinned moment for tests; `None` is now), with or
    /// without the demo's history.
    pub fn start_at(data_dir: &Path, now_ms: Option<i64>, history: bool) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                context: "starting the in-process server".into(),
                source,
            })?;
        let mut config = ServeConfig::new(data_dir);
        config.demo = true;
        config.demo_now_ms = now_ms;
        config.demo_history = history;
        let (ready, listener) = runtime.block_on(async {
            let ready = crate::prepare(&config).await?;
            let listener =
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|source| Error::Io {
                        context: "listening on 127.0.0.1".into(),
                        source,
                    })?;
            Ok::<_, Error>((ready, listener))
        })?;
        let addr = listener.local_addr().map_err(|source| Error::Io {
            context: "reading the demo address".into(),
            source,
        })?;
        let url =
            Url::parse(&format!("http://{addr}/")).map_err(|e| Error::BadRequest(e.to_string()))?;
        let core = ready.core.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = runtime.handle().clone();
        let thread = std::thread::Builder::new()
            .name("linli-in-process-server".into())
            .spawn(move || {
                let result = handle.block_on(crate::serve(ready, listener, async move {
                    let _ = stopped.await;
                }));
                if let Err(e) = result {
                    tracing::error!(error = %e, "in-process server stopped with an error");
                }
            })
            .map_err(|source| Error::Io {
                context: "starting the in-process server thread".into(),
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

    /// Provision a kiosk in the demo hall ([`DEMO_HALL`]); returns its token.
    pub fn provision_kiosk(&self, name: &str) -> Result<String> {
        let core = self.core.clone();
        let name = name.to_string();
        self.runtime
            .block_on(async move {
                linli_sync_engine::provision::add_kiosk(&core, DEMO_HALL, &name).await
            })
            .map(|(_, token)| token)
    }
}

impl InProcessServer {
    /// Stop serving, as `serve` stops (the kiosks it served lose their
    /// connection); its store stays, and [`Self::core`] with it. Stopping
    /// twice does nothing.
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Run `f` on the server's runtime (for tests and the demo).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        self.stop();
    }
}
