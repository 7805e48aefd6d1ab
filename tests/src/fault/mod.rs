//! The seeded fault runner: a real server process and K kiosk processes
//! (`linli-node`) in two halls, each kiosk behind its own [`proxy::Proxy`],
//! and a schedule drawn from a seed: record, partition, heal, delay, cut a
//! connection mid-message, duplicate connections, skew a kiosk's clock by
//! hours, `kill -9` a kiosk (also while it records) or the server, restart
//! either. After healing, the invariants:
//!
//! - every record a kiosk acknowledged is in the server's projection, once;
//! - no kiosk has more rows than it was asked to record (no doubles);
//! - every kiosk's open documents have the server's heads;
//! - every row is in its kiosk's hall (nothing crossed halls).
//!
//! A failing schedule names its seed; the same seed replays the same
//! schedule (`linli-faults --seed N`).
//!
//! With [`Schedule::instances`] above one, the server is that many
//! instances on one PostgreSQL database (a fresh one per schedule, on the
//! server [`Schedule::database_url`] names) behind a real HAProxy, the
//! kiosks' proxies lead to the balancer, and the server faults kill and
//! restart one instance at a time.

pub mod proxy;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

use self::proxy::{Mode, Proxy};

/// One schedule's settings.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// The seed everything random is drawn from.
    pub seed: u64,
    /// Kiosks (split over two halls).
    pub kiosks: usize,
    /// Steps in the schedule.
    pub steps: usize,
    /// The `linli-node` executable.
    pub node_bin: PathBuf,
    /// Server instances (1: one, on SQLite, unless `database_url`).
    pub instances: usize,
    /// A PostgreSQL server (`postgres://USER@HOST:PORT/DB`, the user
    /// allowed to create databases) on which each schedule gets a database
    /// of its own; needed for more than one instance.
    pub database_url: Option<String>,
}

impl Schedule {
    /// `steps` steps over `kiosks` kiosks, one server on SQLite.
    pub fn new(seed: u64, kiosks: usize, steps: usize, node_bin: PathBuf) -> Self {
        Schedule {
            seed,
            kiosks,
            steps,
            node_bin,
            instances: 1,
            database_url: None,
        }
    }
}

/// What a schedule did and found.
#[derive(Debug, Default)]
pub struct Report {
    /// Its seed.
    pub seed: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, usize>,
    /// Records the kiosks acknowledged.
    pub acknowledged: usize,
    /// Rows the server's projection has.
    pub projected: usize,
    /// Acknowledged records missing from the projection.
    pub lost: usize,
    /// Rows beyond what the kiosks were asked to record.
    pub duplicated: usize,
    /// Rows in another hall than their kiosk's.
    pub crossed: usize,
    /// Kiosk documents whose heads differ from the server's.
    pub heads_differ: usize,
    /// Wall time.
    pub seconds: f64,
}

impl Report {
    /// Whether every invariant held.
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.crossed == 0 && self.heads_differ == 0
    }
}

struct KioskProc {
    id: String,
    hall: String,
    dir: PathBuf,
    proxy: Proxy,
    token: String,
    proc: Option<Running>,
    asked: usize,
    acked: HashSet<String>,
}

struct Running {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Running {
    async fn send(&mut self, line: &str) -> anyhow::Result<()> {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    async fn line(&mut self) -> anyhow::Result<Option<String>> {
        Ok(tokio::time::timeout(Duration::from_secs(60), self.lines.next_line()).await??)
    }
}

async fn spawn(bin: &Path, args: &[String]) -> anyhow::Result<Running> {
    let show_logs = std::env::var_os("LINLI_FAULT_LOGS").is_some();
    let mut child = Command::new(bin)
        .args(args)
        // An error's own words, not a backtrace, in the lines kept below.
        .env("RUST_LIB_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // Their logs (samod reports every cut connection as an error) go
        // to the terminal only when asked for; otherwise the last lines
        // are kept to explain a process that did not start.
        .stderr(if show_logs {
            Stdio::inherit()
        } else {
            Stdio::piped()
        })
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdin = child.stdin.take().context("stdin")?;
    let stdout = child.stdout.take().context("stdout")?;
    let tail = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
    if let Some(stderr) = child.stderr.take() {
        let tail = tail.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut t) = tail.lock() {
                    if t.len() >= 20 {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            }
        });
    }
    let mut r = Running {
        child,
        stdin,
        lines: BufReader::new(stdout).lines(),
    };
    match r.line().await? {
        Some(l) if l == "ready" => Ok(r),
        other => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            // How it ended (a signal, an exit code), or that it still runs.
            let ended = match r.child.try_wait() {
                Ok(Some(status)) => status.to_string(),
                Ok(None) => "still running".to_string(),
                Err(e) => format!("unknown: {e}"),
            };
            let said: Vec<String> = tail
                .lock()
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default();
            bail!(
                "{} {} did not start ({other:?}; {ended}); it said:\n{}",
                bin.display(),
                args.first().map_or("", String::as_str),
                said.join("\n")
            )
        }
    }
}

impl KioskProc {
    async fn start(&mut self, bin: &Path) -> anyhow::Result<()> {
        let url = format!("http://{}/", self.proxy.addr);
        let args = vec![
            "kiosk".into(),
            "--data-dir".into(),
            self.dir.display().to_string(),
            "--server".into(),
            url,
            "--token".into(),
            self.token.clone(),
        ];
        self.proc = Some(spawn(bin, &args).await?);
        Ok(())
    }

    /// Record `n` check-ins; count the acknowledgements.
    async fn record(&mut self, n: usize) -> anyhow::Result<()> {
        let Some(p) = &mut self.proc else {
            return Ok(());
        };
        self.asked += n;
        p.send(&format!("record {n}")).await?;
        while let Some(line) = p.line().await? {
            if let Some(id) = line.strip_prefix("ack ") {
                self.acked.insert(id.to_string());
            } else if line == "done" {
                break;
            }
        }
        Ok(())
    }

    /// Ask for `n` records and `kill -9` after `after`: whatever was
    /// acknowledged before the kill must survive it.
    async fn record_and_kill(&mut self, n: usize, after: Duration) -> anyhow::Result<()> {
        let Some(mut p) = self.proc.take() else {
            return Ok(());
        };
        self.asked += n;
        p.send(&format!("record {n}")).await?;
        let deadline = Instant::now() + after;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, p.lines.next_line()).await {
                Ok(Ok(Some(line))) => {
                    if let Some(id) = line.strip_prefix("ack ") {
                        self.acked.insert(id.to_string());
                    } else if line == "done" {
                        break;
                    }
                }
                _ => break,
            }
        }
        p.child.start_kill()?;
        // Acknowledgements already written before the kill still count.
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_secs(5), p.lines.next_line()).await
        {
            if let Some(id) = line.strip_prefix("ack ") {
                self.acked.insert(id.to_string());
            }
        }
        let _ = p.child.wait().await;
        Ok(())
    }

    async fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            let _ = p.child.start_kill();
            let _ = p.child.wait().await;
        }
    }

    async fn heads(&mut self) -> anyhow::Result<Vec<(String, String)>> {
        let Some(p) = &mut self.proc else {
            return Ok(Vec::new());
        };
        p.send("heads").await?;
        let mut out = Vec::new();
        while let Some(line) = p.line().await? {
            if line == "end" {
                break;
            }
            let mut parts = line.splitn(3, ' ');
            if let (Some("heads"), Some(doc), heads) = (parts.next(), parts.next(), parts.next()) {
                out.push((doc.to_string(), heads.unwrap_or("").to_string()));
            }
        }
        Ok(out)
    }
}

/// A `linli-node server` process.
pub struct ServerProc {
    /// Its data directory.
    pub dir: PathBuf,
    /// Where it listens.
    pub addr: SocketAddr,
    /// `--unload-idle-after` for the process, seconds (else its default).
    pub unload_idle_after: Option<u64>,
    /// Its PostgreSQL database, if it keeps everything there.
    pub database_url: Option<String>,
    proc: Option<Running>,
}

impl ServerProc {
    /// A server for `dir` on a free loopback port (not started).
    pub fn new(dir: PathBuf) -> anyhow::Result<Self> {
        Ok(Self {
            dir,
            addr: free_port()?,
            unload_idle_after: None,
            database_url: None,
            proc: None,
        })
    }

    /// Its process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().and_then(|p| p.child.id())
    }

    /// Start it (retrying while the port is still taken).
    pub async fn start(&mut self, bin: &Path) -> anyhow::Result<()> {
        let mut args = vec![
            "server".into(),
            "--data-dir".into(),
            self.dir.display().to_string(),
            "--listen".into(),
            self.addr.to_string(),
        ];
        if let Some(s) = self.unload_idle_after {
            args.extend(["--unload-idle-after".into(), s.to_string()]);
        }
        if let Some(url) = &self.database_url {
            args.extend(["--database-url".into(), url.clone()]);
        }
        // The port of a killed server may take a moment to be free.
        let mut last = None;
        for _ in 0..50 {
            match spawn(bin, &args).await {
                Ok(r) => {
                    self.proc = Some(r);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("server did not start")))
    }

    /// `kill -9` it.
    pub async fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            let _ = p.child.start_kill();
            let _ = p.child.wait().await;
        }
    }
}

/// Provision two halls and the kiosks in the server's data directory
/// (before the server process starts); the kiosks' (id, hall, token).
pub async fn provision(dir: &Path, kiosks: usize) -> anyhow::Result<Vec<(String, String, String)>> {
    provision_in_halls(dir, 2, kiosks).await
}

/// [`provision`] with `halls` halls (at least one); kiosk `i` is in hall
/// `i % halls`. The first two halls are `xianfeng` and `tuanjiexiang`,
/// the others `hall-NNN`.
pub async fn provision_in_halls(
    dir: &Path,
    halls: usize,
    kiosks: usize,
) -> anyhow::Result<Vec<(String, String, String)>> {
    provision_on(dir, None, halls, kiosks).await
}

/// [`provision_in_halls`] on the PostgreSQL database at `database_url`
/// when given.
pub async fn provision_on(
    dir: &Path,
    database_url: Option<&str>,
    halls: usize,
    kiosks: usize,
) -> anyhow::Result<Vec<(String, String, String)>> {
    let config = linli_sync_server::ServeConfig {
        database_url: database_url.map(str::to_string),
        ..linli_sync_server::ServeConfig::new(dir)
    };
    let ready = linli_sync_server::prepare(&config).await?;
    let core = ready.core.clone();
    let halls: Vec<String> = (0..halls.max(1))
        .map(|h| match h {
            0 => "xianfeng".to_string(),
            1 => "tuanjiexiang".to_string(),
            h => format!("hall-{h:03}"),
        })
        .collect();
    for h in &halls {
        linli_sync_engine::provision::add_hall(&core, h, h, "Asia/Shanghai").await?;
    }
    let mut out = Vec::new();
    for i in 0..kiosks {
        let hall = &halls[i % halls.len()];
        let (k, token) =
            linli_sync_engine::provision::add_kiosk(&core, hall, &format!("k{i}")).await?;
        out.push((k.id, hall.to_string(), token));
    }
    core.stop().await;
    drop(ready);
    Ok(out)
}

/// Projected check-ins: record id → (hall, kiosk).
pub type Rows = HashMap<String, (String, String)>;

/// Projected heads: document id → sorted heads, comma-separated.
pub type Heads = HashMap<String, String>;

/// What the server's database holds now.
pub fn server_rows(dir: &Path) -> anyhow::Result<(Rows, Heads)> {
    let c = rusqlite::Connection::open_with_flags(
        dir.join(linli_sync_engine::db::DB_FILE),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    c.busy_timeout(Duration::from_secs(5))?;
    let mut rows = HashMap::new();
    let mut stmt = c.prepare("SELECT record_id, hall_id, kiosk_id FROM checkins")?;
    let mut q = stmt.query([])?;
    while let Some(r) = q.next()? {
        rows.insert(r.get(0)?, (r.get(1)?, r.get(2)?));
    }
    let mut heads = HashMap::new();
    let mut stmt = c.prepare("SELECT doc_id, heads FROM projection_state")?;
    let mut q = stmt.query([])?;
    while let Some(r) = q.next()? {
        let h: String = r.get(1)?;
        let mut v: Vec<&str> = h.split(',').filter(|s| !s.is_empty()).collect();
        v.sort_unstable();
        heads.insert(r.get(0)?, v.join(","));
    }
    Ok((rows, heads))
}

/// A database `name` made afresh (dropped first if there) on the
/// PostgreSQL server `url` points at; its URL.
pub async fn fresh_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connecting to the PostgreSQL server given for the schedules")?;
    let connection = tokio::spawn(connection);
    // Each its own statement: neither may run inside a transaction.
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        client
            .batch_execute(&sql)
            .await
            .with_context(|| format!("making database {name} (the user must be allowed to)"))?;
    }
    drop(client);
    let _ = connection.await;
    let mut fresh = url::Url::parse(url)
        .context("the database URL must be of the form postgres://USER@HOST:PORT/DB")?;
    fresh.set_path(&format!("/{name}"));
    Ok(fresh.to_string())
}

/// What the server's PostgreSQL database holds now ([`server_rows`]).
pub async fn server_rows_pg(url: &str) -> anyhow::Result<(Rows, Heads)> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let connection = tokio::spawn(connection);
    let mut rows = HashMap::new();
    for r in client
        .query("SELECT record_id, hall_id, kiosk_id FROM checkins", &[])
        .await?
    {
        rows.insert(r.get(0), (r.get(1), r.get(2)));
    }
    let mut heads = HashMap::new();
    for r in client
        .query("SELECT doc_id, heads FROM projection_state", &[])
        .await?
    {
        let h: String = r.get(1);
        let mut v: Vec<&str> = h.split(',').filter(|s| !s.is_empty()).collect();
        v.sort_unstable();
        heads.insert(r.get(0), v.join(","));
    }
    drop(client);
    let _ = connection.await;
    Ok((rows, heads))
}

/// The `linli-node` binary next to the running one (the load, fault and
/// benchmark binaries start it as a separate process).
pub fn node_bin() -> anyhow::Result<PathBuf> {
    let bin = std::env::current_exe()?
        .parent()
        .map(|d| d.join("linli-node"))
        .context("where is linli-node?")?;
    anyhow::ensure!(
        bin.exists(),
        "{} is missing: cargo build --release -p linli-tests --bins",
        bin.display()
    );
    Ok(bin)
}

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// Run one schedule to the end and check the invariants.
pub async fn run(s: &Schedule) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(s.seed);
    let mut report = Report {
        seed: s.seed,
        ..Report::default()
    };
    let root = tempfile::tempdir()?;
    let database_url = match &s.database_url {
        Some(url) => Some(fresh_database(url, &format!("linli_fault_{}", s.seed)).await?),
        None if s.instances > 1 => {
            bail!("several instances share a PostgreSQL database: give a database URL")
        }
        None => None,
    };
    let mut servers = Vec::new();
    for i in 0..s.instances.max(1) {
        let mut server = ServerProc::new(root.path().join(format!("server{i}")))?;
        server.database_url = database_url.clone();
        servers.push(server);
    }
    let provisioned =
        provision_on(&servers[0].dir, database_url.as_deref(), 2, s.kiosks.max(2)).await?;
    let key = servers[0].dir.join(linli_sync_engine::residents::KEY_FILE);
    for server in &mut servers {
        if !server.dir.exists() {
            std::fs::create_dir_all(&server.dir)?;
            std::fs::copy(
                &key,
                server.dir.join(linli_sync_engine::residents::KEY_FILE),
            )?;
        }
        server.start(&s.node_bin).await?;
    }
    // Several instances: a real balancer in front, as a district runs them.
    let balancer = match servers.len() {
        1 => None,
        _ => Some(linli_test_kit::Balancer::start(
            &servers.iter().map(|p| p.addr).collect::<Vec<_>>(),
        )?),
    };
    let upstream = balancer.as_ref().map_or(servers[0].addr, |b| b.addr);
    let mut kiosks = Vec::new();
    for (id, hall, token) in provisioned {
        let mut k = KioskProc {
            dir: root.path().join(&id),
            proxy: Proxy::start(upstream).await?,
            id,
            hall,
            token,
            proc: None,
            asked: 0,
            acked: HashSet::new(),
        };
        k.start(&s.node_bin).await?;
        kiosks.push(k);
    }
    let trace = std::env::var_os("LINLI_FAULT_TRACE").is_some();
    let mut fault = |name: &'static str, kiosk: &str| {
        if trace {
            eprintln!("[seed {}] {name} ({kiosk})", s.seed);
        }
        *report.faults.entry(name).or_default() += 1;
    };

    for _ in 0..s.steps {
        let k = rng.random_range(0..kiosks.len());
        match rng.random_range(0..100) {
            0..=34 => {
                let n = rng.random_range(1..=8);
                kiosks[k].record(n).await?;
                if trace {
                    eprintln!(
                        "[seed {}] record {n} ({}): {} acknowledged so far",
                        s.seed,
                        kiosks[k].id,
                        kiosks[k].acked.len()
                    );
                }
            }
            35..=42 => {
                kiosks[k].proxy.set(Mode::Drop);
                fault("partition (drop)", &kiosks[k].id);
            }
            43..=47 => {
                kiosks[k].proxy.set(Mode::Blackhole);
                fault("partition (blackhole)", &kiosks[k].id);
            }
            48..=55 => {
                kiosks[k].proxy.set(Mode::Pass);
                fault("heal", &kiosks[k].id);
            }
            56..=59 => {
                kiosks[k].proxy.set(Mode::Delay(Duration::from_millis(
                    rng.random_range(20..400),
                )));
                fault("delay", &kiosks[k].id);
            }
            60..=63 => {
                kiosks[k].proxy.set(Mode::Cut(rng.random_range(0..200)));
                fault("cut mid-message", &kiosks[k].id);
            }
            64..=66 => {
                kiosks[k].proxy.set(Mode::Duplicate);
                fault("duplicate connection", &kiosks[k].id);
            }
            67..=72 => {
                if kiosks[k].proc.is_some() {
                    kiosks[k].kill().await;
                    fault("kill -9 kiosk", &kiosks[k].id);
                } else {
                    kiosks[k].start(&s.node_bin).await?;
                    fault("restart kiosk", &kiosks[k].id);
                }
            }
            73..=77 => {
                let n = rng.random_range(5..=30);
                let after = Duration::from_millis(rng.random_range(0..60));
                kiosks[k].record_and_kill(n, after).await?;
                fault("kill -9 kiosk while recording", &kiosks[k].id);
            }
            78..=82 if servers.len() == 1 => {
                let server = &mut servers[0];
                if server.proc.is_some() {
                    server.kill().await;
                    fault("kill -9 server", "server");
                } else {
                    server.start(&s.node_bin).await?;
                    fault("restart server", "server");
                }
            }
            78..=82 => {
                let i = rng.random_range(0..servers.len());
                let server = &mut servers[i];
                if server.proc.is_some() {
                    server.kill().await;
                    fault("kill -9 instance", "instance");
                } else {
                    server.start(&s.node_bin).await?;
                    fault("restart instance", "instance");
                }
            }
            83..=86 => {
                if let Some(p) = &mut kiosks[k].proc {
                    let hours = rng.random_range(-30..=30);
                    p.send(&format!("skew {hours}")).await?;
                    let _ = p.line().await?;
                    fault("clock skew", &kiosks[k].id);
                }
            }
            _ => {
                tokio::time::sleep(Duration::from_millis(rng.random_range(50..400))).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(10..120))).await;
    }

    // Heal everything, start what is down.
    for server in &mut servers {
        if server.proc.is_none() {
            server.start(&s.node_bin).await?;
        }
    }
    for k in &mut kiosks {
        k.proxy.set(Mode::Pass);
        if k.proc.is_none() {
            k.start(&s.node_bin).await?;
        }
    }
    let acked: HashMap<String, String> = kiosks
        .iter()
        .flat_map(|k| k.acked.iter().map(|r| (r.clone(), k.id.clone())))
        .collect();
    report.acknowledged = acked.len();
    // Wait until every acknowledged record and every kiosk's heads arrived.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (rows, heads_differ) = loop {
        let (rows, server_heads) = match &database_url {
            Some(url) => server_rows_pg(url).await?,
            None => server_rows(&servers[0].dir)?,
        };
        let mut differ = 0;
        for k in &mut kiosks {
            for (doc, heads) in k.heads().await? {
                if server_heads.get(&doc) != Some(&heads) {
                    differ += 1;
                }
            }
        }
        let missing = acked.keys().filter(|r| !rows.contains_key(*r)).count();
        if (missing == 0 && differ == 0) || Instant::now() > deadline {
            break (rows, differ);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    report.projected = rows.len();
    report.lost = acked.keys().filter(|r| !rows.contains_key(*r)).count();
    if trace {
        for k in &kiosks {
            let missing = k.acked.iter().filter(|r| !rows.contains_key(*r)).count();
            eprintln!(
                "[seed {}] {} ({}): asked {}, acknowledged {}, missing {missing}",
                s.seed,
                k.id,
                k.hall,
                k.asked,
                k.acked.len()
            );
        }
    }
    report.heads_differ = heads_differ;
    for k in &kiosks {
        let theirs = rows.values().filter(|(_, kiosk)| *kiosk == k.id).count();
        report.duplicated += theirs.saturating_sub(k.asked);
    }
    let hall_of: HashMap<&str, &str> = kiosks
        .iter()
        .map(|k| (k.id.as_str(), k.hall.as_str()))
        .collect();
    report.crossed = rows
        .values()
        .filter(|(hall, kiosk)| hall_of.get(kiosk.as_str()) != Some(&hall.as_str()))
        .count();
    for k in &mut kiosks {
        k.kill().await;
    }
    for server in &mut servers {
        server.kill().await;
    }
    drop(balancer);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
