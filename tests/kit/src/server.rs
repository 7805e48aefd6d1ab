//! A real `linli-server` on `127.0.0.1:0` in this process
//! ([`TestServer`]: dropping it stops the server and removes its files),
//! a small client of its JSON API ([`Api`]), a console sign-in over HTTP,
//! and [`eventually`] for what arrives asynchronously.

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, anyhow, bail};
use linli_sync_engine::ServerCore;
use linli_sync_server::ServeConfig;
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
    /// The store it keeps its state in.
    pub store: Store,
    /// Its PostgreSQL database, on [`Store::Postgres`].
    pub database_url: Option<String>,
    dir: Arc<TempDir>,
    /// The cluster of [`Store::Postgres`], stopped when the server is dropped.
    postgres: Option<Arc<crate::postgres::TestPostgres>>,
    running: Option<Running>,
}

/// Which store a test server keeps its state in: the SQLite file of a
/// street office, or PostgreSQL (a cluster of the test's own, started
/// with the server and stopped with it). Tests that hold for both run on
/// both ([`crate::on_both_stores`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// The SQLite file in the data directory.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl Store {
    /// A new cluster and database for [`Store::Postgres`]; nothing for SQLite.
    pub async fn start_database(
        self,
    ) -> anyhow::Result<(Option<Arc<crate::postgres::TestPostgres>>, Option<String>)> {
        match self {
            Store::Sqlite => Ok((None, None)),
            Store::Postgres => {
                let pg =
                    tokio::task::spawn_blocking(crate::postgres::TestPostgres::start).await??;
                let url = pg.create_database("linli").await?;
                Ok((Some(Arc::new(pg)), Some(url)))
            }
        }
    }
}

/// What a test body gives back: nothing (it asserts as it goes) or a
/// `Result` whose error fails the test.
pub trait TestOutcome {
    /// Fail the test if the outcome says so.
    fn check(self);
}

impl TestOutcome for () {
    fn check(self) {}
}

impl<E: std::fmt::Debug> TestOutcome for Result<(), E> {
    fn check(self) {
        if let Err(e) = self {
            panic!("{e:?}");
        }
    }
}

/// Run async tests on both stores: `on_both_stores!(a, b)` makes, for
/// each `async fn a(store: Store)` (returning `()` or a `Result`), a module
/// `a` with tests `sqlite` and `postgres` that call it on each store.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::TestOutcome::check(super::$name($crate::Store::Sqlite).await);
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $crate::TestOutcome::check(super::$name($crate::Store::Postgres).await);
                }
            }
        )+
    };
}

impl TestServer {
    /// Start a server with halls `xianfeng` and `tuanjiexiang` (no activities).
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on(Store::Sqlite).await
    }

    /// [`TestServer::start`] on `store`.
    pub async fn start_on(store: Store) -> anyhow::Result<Self> {
        let dir = Arc::new(tempfile::tempdir()?);
        let (postgres, database_url) = store.start_database().await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let running = Self::run(&dir, database_url.as_deref(), listener).await?;
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
            store,
            database_url,
            dir,
            postgres,
            running: Some(running),
        })
    }

    async fn run(
        dir: &TempDir,
        database_url: Option<&str>,
        listener: TcpListener,
    ) -> anyhow::Result<Running> {
        let config = ServeConfig {
            database_url: database_url.map(str::to_string),
            ..ServeConfig::new(dir.path())
        };
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

    /// Another instance on this server's PostgreSQL database, as a
    /// district runs several behind a load balancer: a data directory of
    /// its own holding a copy of the residents' key, its own port, the
    /// same halls, admins and documents. It shares the first one's
    /// cluster (which stays up while either lives).
    pub async fn start_beside(&self) -> anyhow::Result<TestServer> {
        let database_url = self
            .database_url
            .clone()
            .context("only an instance on PostgreSQL has others beside it")?;
        let dir = Arc::new(tempfile::tempdir()?);
        let key = linli_sync_engine::residents::KEY_FILE;
        std::fs::copy(self.dir.path().join(key), dir.path().join(key))?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let running = Self::run(&dir, Some(&database_url), listener).await?;
        let url = Url::parse(&format!("http://{addr}/"))?;
        Ok(Self {
            addr,
            api: Api::new(url.clone(), self.api.token.clone()),
            url,
            store: self.store,
            database_url: Some(database_url),
            dir,
            postgres: self.postgres.clone(),
            running: Some(running),
        })
    }

    /// [`crate::sql::strings`] on this server's store.
    pub async fn sql_strings(&self, sql: &str) -> anyhow::Result<Vec<String>> {
        crate::sql::strings(&*self.core()?, self.database_url.as_deref(), sql).await
    }

    /// [`crate::sql::execute`] on this server's store.
    pub async fn sql_execute(&self, sql: &str) -> anyhow::Result<()> {
        crate::sql::execute(&*self.core()?, self.database_url.as_deref(), sql).await
    }

    /// A closed volunteer shift of `minutes` in hall `hall`, ending now,
    /// serving `activity` if given, as the projection holds shifts its
    /// kiosks delivered (document `seed`, which nothing stores): points
    /// for a volunteer without a kiosk recording hours of service.
    pub async fn seed_shift(
        &self,
        hall: &str,
        pseudonym: &str,
        shift: &str,
        minutes: i64,
        activity: Option<&str>,
    ) -> anyhow::Result<()> {
        let end = linli_sync_engine::clock::now_ms();
        let start = end - minutes * 60_000;
        let day = chrono::DateTime::from_timestamp_millis(start)
            .unwrap_or_default()
            .format("%Y-%m-%d");
        let activity = activity.map_or("NULL".to_string(), |a| format!("'{a}'"));
        let mut sql = String::new();
        for (n, action, at) in [(1, "sign_in", start), (2, "sign_out", end)] {
            sql.push_str(&format!(
                "INSERT INTO shift_events (record_id, doc_id, hall_id, kiosk_id, date, shift_id, action,
                                           phone_hash, sealed, activity_id, kiosk_at_ms, received_ms)
                 VALUES ('{shift}-{n}', 'seed', '{hall}', '{hall}-k1', '{day}', '{shift}', '{action}',
                         '{pseudonym}', NULL, {activity}, {at}, {at});"
            ));
        }
        self.sql_execute(&sql).await
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

    /// Its database as `pg_dump` gives it, on [`Store::Postgres`].
    pub fn dump_database(&self) -> anyhow::Result<Vec<u8>> {
        self.postgres
            .as_ref()
            .context("the server's store is not PostgreSQL")?
            .dump("linli")
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
        self.running = Some(Self::run(&self.dir, self.database_url.as_deref(), listener).await?);
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
    core.tables.set_admin_password(&u, &hash).await?;
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
