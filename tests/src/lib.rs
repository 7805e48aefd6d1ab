//! # linli-tests
//!
//! Scenarios across the server and kiosks, on real sockets on 127.0.0.1
//! and real SQLite files in temp dirs, plus the `linli-sim` load tool and
//! the `linli-bench` benchmarks.
//!
//! # Layout
//! - [`TestServer`]: a real `linli-server` on `127.0.0.1:0` in this process;
//!   dropping it stops the server and removes its files.
//! - [`TestKiosk`]: a paired [`KioskNode`] on its own temp dir.
//! - [`Api`]: a small client of the JSON API.
//! - [`RawPeer`]: a bare samod peer with a kiosk token, for hostile and
//!   foreign-client scenarios.
//! - [`eventually`]: poll a condition with a deadline.
//! - [`disk`]: searching copied disks for what must not be there.
//! - [`seed`]: projected rows written straight into a server's database.
//! - [`fault`]: the seeded fault runner (processes, proxies, schedules).
//! - [`soak`]: many kiosks for a long time; server memory over time.
//! - [`versus`] and [`connected`]: linli-server beside the Node.js sync
//!   server, kiosks reconnecting with whole ledgers and kiosks writing
//!   while connected.

pub mod browser;
pub mod connected;
pub mod console_bench;
pub mod disk;
pub mod fault;
pub mod many;
pub mod raw_wire;
pub mod seed;
pub mod soak;
pub mod versus;
pub mod years;

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, anyhow, bail};
use linli_core::{
    KioskNode, KioskNodeOptions,
    node::{CheckInOutcome, NewCheckIn, ResidentInput, dialer::DialFailure},
    phone::PhoneNumber,
    protocol,
};
use linli_sync_engine::ServerCore;
use linli_sync_server::ServeConfig;
use samod::{BackoffConfig, DialerHandle, PeerId, Repo};
use serde_json::Value;
use tempfile::TempDir;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use url::Url;

/// Poll `check` every 50 ms until it returns `Some`, or fail after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_err = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(match last_err {
                Some(e) => e.context(format!("timed out after {timeout:?} waiting for {what}")),
                None => anyhow!("timed out after {timeout:?} waiting for {what}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A JSON API client with an admin token.
#[derive(Clone)]
pub struct Api {
    /// `http://127.0.0.1:port/`.
    pub base: Url,
    /// Admin API token.
    pub token: String,
    client: reqwest::Client,
}

impl Api {
    /// A client of `base` with `token`.
    pub fn new(base: Url, token: String) -> Self {
        Self {
            base,
            token,
            client: reqwest::Client::new(),
        }
    }

    /// GET a JSON document; fails on a non-2xx status.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let resp = self
            .client
            .get(self.base.join(path)?)
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("GET {path}: {status}: {body}");
        }
        Ok(body)
    }

    /// POST JSON; returns (status, body).
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let resp = self
            .client
            .post(self.base.join(path)?)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(Value::Null)))
    }

    /// Provision a kiosk in `hall`; returns (id, token).
    pub async fn add_kiosk(&self, hall: &str, name: &str) -> anyhow::Result<(String, String)> {
        let (status, body) = self
            .post(
                &format!("api/v1/halls/{hall}/kiosks"),
                &serde_json::json!({ "name": name }),
            )
            .await?;
        if status != 201 {
            bail!("provisioning a kiosk: {status} {body}");
        }
        Ok((
            body["id"].as_str().context("id")?.to_string(),
            body["token"].as_str().context("token")?.to_string(),
        ))
    }

    /// Wait until the projection has exactly `want` check-ins for `hall`.
    pub async fn wait_checkins(&self, hall: &str, want: u64) -> anyhow::Result<()> {
        self.wait_checkins_within(hall, want, Duration::from_secs(30))
            .await
    }

    /// [`Api::wait_checkins`] with a chosen timeout.
    pub async fn wait_checkins_within(
        &self,
        hall: &str,
        want: u64,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        eventually(
            timeout,
            &format!("{want} check-ins in the server API"),
            || async { Ok((self.checkin_count(hall).await? == want).then_some(())) },
        )
        .await
    }

    /// Number of check-ins the server's projection has for `hall`.
    pub async fn checkin_count(&self, hall: &str) -> anyhow::Result<u64> {
        let v = self
            .get(&format!("api/v1/halls/{hall}/checkins?limit=0"))
            .await?;
        v["count"].as_u64().context("count")
    }
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<linli_sync_engine::Result<()>>,
    core: Arc<ServerCore>,
    web: Arc<linli_web::state::WebState>,
}

/// A real server on 127.0.0.1. Dropping it stops the server and removes
/// its files.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://addr/`.
    pub url: Url,
    /// A central admin's API client.
    pub api: Api,
    dir: Arc<TempDir>,
    running: Option<Running>,
}

impl TestServer {
    /// Start a server with halls `xianfeng` and `tuanjiexiang` (no activities).
    pub async fn start() -> anyhow::Result<Self> {
        let dir = Arc::new(tempfile::tempdir()?);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let running = Self::run(&dir, listener).await?;
        linli_sync_engine::provision::add_hall(
            &running.core,
            "xianfeng",
            "先锋社区党群服务中心",
            "Asia/Shanghai",
        )
        .await?;
        linli_sync_engine::provision::add_hall(
            &running.core,
            "tuanjiexiang",
            "团结巷社区党群服务中心",
            "Asia/Shanghai",
        )
        .await?;
        linli_sync_engine::provision::add_admin(&running.core, "admin", "central").await?;
        let token = linli_sync_engine::provision::admin_token(&running.core, "admin").await?;
        let url = Url::parse(&format!("http://{addr}/"))?;
        Ok(Self {
            addr,
            api: Api::new(url.clone(), token),
            url,
            dir,
            running: Some(running),
        })
    }

    async fn run(dir: &TempDir, listener: TcpListener) -> anyhow::Result<Running> {
        let config = ServeConfig::new(dir.path());
        let ready = linli_sync_server::prepare(&config).await?;
        let (core, web) = (ready.core.clone(), ready.web.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(linli_sync_server::serve(ready, listener, async move {
            let _ = stopped.await;
        }));
        Ok(Running {
            stop,
            task,
            core,
            web,
        })
    }

    /// The running server's web side (its limits and trusted proxies).
    pub fn web(&self) -> anyhow::Result<Arc<linli_web::state::WebState>> {
        self.running
            .as_ref()
            .map(|r| r.web.clone())
            .context("server is stopped")
    }

    /// The running server's core.
    pub fn core(&self) -> anyhow::Result<Arc<ServerCore>> {
        self.running
            .as_ref()
            .map(|r| r.core.clone())
            .context("server is stopped")
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Stop the server (its files stay until the `TestServer` is dropped).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(r) = self.running.take() {
            let _ = r.stop.send(());
            r.task.await??;
        }
        Ok(())
    }

    /// Start it again on the same address and data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        let listener = eventually(Duration::from_secs(5), "the port to be free", || async {
            Ok(TcpListener::bind(self.addr).await.ok())
        })
        .await?;
        self.running = Some(Self::run(&self.dir, listener).await?);
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.stop.send(());
            r.task.abort();
        }
    }
}

/// A paired kiosk node on its own temp dir.
pub struct TestKiosk {
    /// The node (None while "powered off").
    pub node: Option<KioskNode>,
    /// The kiosk's id.
    pub id: String,
    /// Its token.
    pub token: String,
    dir: TempDir,
}

/// Set `user`'s console password and sign in over HTTP: a client that
/// does not follow redirects, and the session's `Cookie` header value.
pub async fn console_session(
    server: &TestServer,
    user: &str,
    password: &str,
) -> anyhow::Result<(reqwest::Client, String)> {
    let core = server.core()?;
    let hash = linli_sync_engine::accounts::hash_password(password)?;
    let u = user.to_string();
    core.db
        .call(move |db| db.set_admin_password(&u, &hash))
        .await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let resp = http
        .post(server.url.join("admin/login")?)
        .form(&[("user", user), ("password", password)])
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 303, "sign-in: {}", resp.status());
    let cookie = resp.headers()["set-cookie"]
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    Ok((http, cookie))
}

/// Put an activity with named check-in into `hall`'s calendar, open from
/// ten minutes ago for an hour (a clinic unless `kind` says otherwise);
/// returns its id.
pub async fn open_activity(
    core: &ServerCore,
    hall: &str,
    kind: &str,
    title: &str,
) -> anyhow::Result<String> {
    let now = linli_sync_engine::clock::now_ms();
    Ok(linli_sync_engine::provision::put_activity(
        core,
        hall,
        None,
        linli_core::model::Activity {
            kind: kind.into(),
            title: title.into(),
            room: None,
            starts_at_ms: now - 600_000,
            ends_at_ms: now + 3_600_000,
            capacity: None,
            named_checkin: true,
            cancelled: false,
        },
    )
    .await?)
}

/// A distinct valid phone number for (seed, i).
pub fn test_phone(seed: u32, i: usize) -> anyhow::Result<PhoneNumber> {
    let n = (u64::from(seed) * 1_000_000 + i as u64) % 100_000_000;
    Ok(PhoneNumber::parse(&format!("139{n:08}"))?)
}

/// Options tuned for tests: quick reconnects.
pub fn test_options(dir: &std::path::Path) -> KioskNodeOptions {
    let mut o = KioskNodeOptions::new(dir);
    o.backoff = BackoffConfig {
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(500),
        max_retries: None,
    };
    o
}

impl TestKiosk {
    /// Provision a kiosk in `hall` through the API and pair it. With
    /// `online` false it records offline until [`KioskNode::go_online`].
    pub async fn pair(server: &TestServer, hall: &str, online: bool) -> anyhow::Result<Self> {
        let (id, token) = server.api.add_kiosk(hall, "测试终端").await?;
        let dir = tempfile::tempdir()?;
        let mut options = test_options(dir.path());
        options.connect = online;
        let node = KioskNode::pair(options, &server.url, &token).await?;
        Ok(Self {
            node: Some(node),
            id,
            token,
            dir,
        })
    }

    /// Wrap an already paired node.
    pub fn from_parts(node: KioskNode, id: String, token: String, dir: TempDir) -> Self {
        Self {
            node: Some(node),
            id,
            token,
            dir,
        }
    }

    /// The node; panics in a test if powered off.
    pub fn node(&self) -> &KioskNode {
        self.node.as_ref().expect("kiosk is powered off")
    }

    /// The kiosk's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Record `n` named check-ins with distinct phone numbers (distinct
    /// across seeds below 100 and `n` below 1,000,000).
    pub async fn record_checkins(&self, activity: &str, n: usize, seed: u32) -> anyhow::Result<()> {
        for i in 0..n {
            let phone = test_phone(seed, i)?;
            let outcome = self
                .node()
                .record_checkin(NewCheckIn {
                    activity_id: activity.to_string(),
                    resident: Some(ResidentInput { phone, name: None }),
                    headcount: 1,
                    companions: 0,
                })
                .await?;
            if outcome == CheckInOutcome::AlreadyCheckedIn {
                bail!("check-in {i} of seed {seed} was taken for a duplicate");
            }
        }
        Ok(())
    }

    /// Shut the node down (as at power off); its files stay.
    pub async fn power_off(&mut self) {
        if let Some(n) = self.node.take() {
            n.shutdown().await;
        }
    }

    /// Open the node again from its files.
    pub async fn power_on(&mut self, online: bool) -> anyhow::Result<()> {
        let mut options = test_options(self.dir.path());
        options.connect = online;
        self.node = Some(KioskNode::open(options).await?);
        Ok(())
    }
}

/// A bare samod peer that dials the server with a kiosk token, for
/// hostile-client scenarios.
pub struct RawPeer {
    /// Its repo.
    pub repo: Repo,
    /// Its dialer.
    pub dialer: DialerHandle<DialFailure>,
}

impl RawPeer {
    /// Connect with `token`, claiming `peer_id`, with in-memory storage.
    pub async fn connect(server: &TestServer, token: &str, peer_id: &str) -> anyhow::Result<Self> {
        let repo = Repo::build_tokio()
            .with_peer_id(PeerId::from(peer_id))
            .load()
            .await;
        Self::dial(server, token, repo).await
    }

    /// Connect with `token`, claiming `peer_id`, over prepared `storage`
    /// (e.g. holding a forged copy of someone else's document).
    pub async fn connect_with_storage(
        server: &TestServer,
        token: &str,
        peer_id: &str,
        storage: linli_core::storage::SqliteStorage,
    ) -> anyhow::Result<Self> {
        let repo = Repo::build_tokio()
            .with_peer_id(PeerId::from(peer_id))
            .with_storage(storage)
            .load()
            .await;
        Self::dial(server, token, repo).await
    }

    async fn dial(server: &TestServer, token: &str, repo: Repo) -> anyhow::Result<Self> {
        let config =
            protocol::fetch_kiosk_config(&server.url, token, &linli_core::tls::Trust::default())
                .await?;
        let url = protocol::sync_url(&server.url)?;
        let dialer = versus::dial(&repo, &url, token, &config.server_peer_id).await?;
        Ok(Self { repo, dialer })
    }
}

/// Install a test log subscriber once (respects `RUST_LOG`).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}
