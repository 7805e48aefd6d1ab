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
//! - every row is in its kiosk's hall (nothing crossed halls);
//! - no volunteer's points and no item's stock were spent beyond what
//!   there was (`overspent`), at every check of the server's
//!   redemptions during the run and after it.
//!
//! Redemptions: each hall stocks [`CATALOGUE`], and [`VOLUNTEERS`] have
//! [`EARNED`] points each in every hall before the schedule starts; a
//! step may redeem one item for one of them at a kiosk, whatever state
//! its network is in. The server shares points and stock out among the
//! hall's kiosks as it does in service; a kiosk redeems only what it
//! holds, and an acknowledged redemption counts like any record.
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
    /// Redemptions the kiosks acknowledged (in `acknowledged` too).
    pub redeemed: usize,
    /// Redemptions a kiosk refused (it held too little).
    pub refused: usize,
    /// Accounts (a volunteer's points or an item's stock in a hall) found
    /// spent beyond what there was, summed over every check.
    pub overspent: usize,
    /// Kiosk documents whose heads differ from the server's.
    pub heads_differ: usize,
    /// Wall time.
    pub seconds: f64,
}

impl Report {
    /// Whether every invariant held.
    pub fn ok(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.crossed == 0
            && self.heads_differ == 0
            && self.overspent == 0
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
    /// Redemptions asked for.
    redeem_asked: usize,
    /// Redemptions acknowledged.
    redeemed: HashSet<String>,
    /// Redemptions refused.
    refused: usize,
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

    /// The points of the volunteer with number `phone` this kiosk may
    /// redeem now (0 when it is down).
    async fn points_here(&mut self, phone: &str) -> anyhow::Result<u64> {
        let Some(p) = &mut self.proc else {
            return Ok(0);
        };
        p.send(&format!("points {phone}")).await?;
        Ok(p.line()
            .await?
            .and_then(|l| l.strip_prefix("points ").and_then(|n| n.parse().ok()))
            .unwrap_or(0))
    }

    /// Redeem one `item` at `points` for the volunteer with number
    /// `phone`.
    async fn redeem(&mut self, phone: &str, item: &str, points: i64) -> anyhow::Result<()> {
        let Some(p) = &mut self.proc else {
            return Ok(());
        };
        self.redeem_asked += 1;
        p.send(&format!("redeem {phone} {item} {points}")).await?;
        match p.line().await?.as_deref() {
            Some(line) if line.starts_with("redeemed ") => {
                self.redeemed.insert(line["redeemed ".len()..].to_string());
            }
            Some("refused") => self.refused += 1,
            _ => {}
        }
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

/// The volunteers of every hall of a schedule.
pub const VOLUNTEERS: [&str; 3] = ["13600001601", "13600001602", "13600001603"];
/// The points each of them earned in each hall before the schedule (one
/// three-hour shift): few, so schedules run into the bound.
pub const EARNED: i64 = 6;
/// Every hall's 爱心超市: (item, points, stock).
pub const CATALOGUE: [(&str, i64, i64); 2] = [("rice", 3, 12), ("soap", 1, 8)];

/// Stock every hall of the server (in `dir`, or on `database_url`) with
/// [`CATALOGUE`] and give [`VOLUNTEERS`] a closed shift of [`EARNED`]
/// points in each, as the projection holds shifts kiosks delivered
/// (before the server process starts).
pub async fn open_market(dir: &Path, database_url: Option<&str>) -> anyhow::Result<()> {
    let config = linli_sync_server::ServeConfig {
        database_url: database_url.map(str::to_string),
        ..linli_sync_server::ServeConfig::new(dir)
    };
    let ready = linli_sync_server::prepare(&config).await?;
    let core = ready.core.clone();
    let end = linli_sync_engine::clock::now_ms() - 3_600_000;
    let start = end - EARNED * 30 * 60_000;
    let day = chrono::DateTime::from_timestamp_millis(start)
        .unwrap_or_default()
        .format("%Y-%m-%d");
    let mut sql = String::new();
    for hall in core.tables.halls().await? {
        for (item, points, stock) in CATALOGUE {
            core.tables
                .set_catalogue_item(&hall.id, item, points)
                .await?;
            core.tables
                .set_catalogue_stock(&hall.id, item, stock)
                .await?;
        }
        for phone in VOLUNTEERS {
            let pseudonym = core
                .residents
                .pseudonym(&linli_core::phone::PhoneNumber::parse(phone)?)?;
            let shift = format!("seed-{}-{phone}", hall.id);
            for (action, at) in [("sign_in", start), ("sign_out", end)] {
                sql.push_str(&format!(
                    "INSERT INTO shift_events (record_id, doc_id, hall_id, kiosk_id, date, shift_id,
                         action, phone_hash, sealed, activity_id, kiosk_at_ms, received_ms)
                     VALUES ('{shift}-{action}', 'fault-seed', '{}', 'fault-seed', '{day}', '{shift}',
                         '{action}', '{pseudonym}', NULL, NULL, {at}, {at});\n",
                    hall.id
                ));
            }
        }
    }
    match database_url {
        Some(url) => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            let connection = tokio::spawn(connection);
            client.batch_execute(&sql).await?;
            drop(client);
            let _ = connection.await;
        }
        None => {
            core.sqlite("seeding volunteers' shifts")?
                .run(move |c| {
                    c.execute_batch(&sql)
                        .map_err(|e| linli_sync_engine::Error::db("seeding shifts", e))
                })
                .await?
        }
    }
    core.stop().await;
    drop(ready);
    Ok(())
}

/// Projected redemptions: record id → (hall, kiosk, volunteer's
/// pseudonym, item, points).
pub type Redemptions = HashMap<String, (String, String, Option<String>, String, i64)>;

const REDEMPTIONS_SQL: &str =
    "SELECT record_id, hall_id, kiosk_id, phone_hash, item, points FROM redemptions";

/// The server's projected redemptions.
pub async fn server_redemptions(
    dir: &Path,
    database_url: Option<&str>,
) -> anyhow::Result<Redemptions> {
    let mut out = HashMap::new();
    match database_url {
        Some(url) => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            let connection = tokio::spawn(connection);
            for r in client.query(REDEMPTIONS_SQL, &[]).await? {
                out.insert(r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)));
            }
            drop(client);
            let _ = connection.await;
        }
        None => {
            let c = rusqlite::Connection::open_with_flags(
                dir.join(linli_sync_engine::db::DB_FILE),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )?;
            c.busy_timeout(Duration::from_secs(5))?;
            let mut stmt = c.prepare(REDEMPTIONS_SQL)?;
            let mut q = stmt.query([])?;
            while let Some(r) = q.next()? {
                out.insert(
                    r.get(0)?,
                    (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
                );
            }
        }
    }
    Ok(out)
}

/// Accounts spent beyond what there was: a volunteer's points past
/// [`EARNED`], or an item past its stock in [`CATALOGUE`], per hall.
pub fn overspent(rows: &Redemptions) -> usize {
    let mut points: HashMap<(&str, &str), i64> = HashMap::new();
    let mut items: HashMap<(&str, &str), i64> = HashMap::new();
    for (hall, _, volunteer, item, spent) in rows.values() {
        if let Some(v) = volunteer {
            *points.entry((hall, v)).or_default() += spent;
        }
        *items.entry((hall, item)).or_default() += 1;
    }
    let stock = |item: &str| {
        CATALOGUE
            .iter()
            .find(|(i, _, _)| *i == item)
            .map_or(0, |(_, _, n)| *n)
    };
    points.values().filter(|n| **n > EARNED).count()
        + items
            .iter()
            .filter(|((_, item), n)| **n > stock(item))
            .count()
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
    open_market(&servers[0].dir, database_url.as_deref()).await?;
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
            redeem_asked: 0,
            redeemed: HashSet::new(),
            refused: 0,
        };
        k.start(&s.node_bin).await?;
        kiosks.push(k);
    }
    // The market opens once the server has shared the volunteers' points
    // out among the kiosks (it tops connected kiosks up every few
    // seconds): until then every redemption would be refused.
    let opening = Instant::now() + Duration::from_secs(20);
    for k in &mut kiosks {
        while k.points_here(VOLUNTEERS[0]).await? == 0 && Instant::now() < opening {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let trace = std::env::var_os("LINLI_FAULT_TRACE").is_some();
    let mut fault = |name: &'static str, kiosk: &str| {
        if trace {
            eprintln!("[seed {}] {name} ({kiosk})", s.seed);
        }
        *report.faults.entry(name).or_default() += 1;
    };

    for step in 0..s.steps {
        // The server's redemptions, checked as the run goes.
        if step % 10 == 9 {
            let rows = server_redemptions(&servers[0].dir, database_url.as_deref()).await?;
            report.overspent += overspent(&rows);
        }
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
            87..=94 => {
                // A few volunteers at the kiosk's 爱心超市 in a row.
                for _ in 0..rng.random_range(1..=6) {
                    let phone = VOLUNTEERS[rng.random_range(0..VOLUNTEERS.len())];
                    let (item, points, _) = CATALOGUE[rng.random_range(0..CATALOGUE.len())];
                    kiosks[k].redeem(phone, item, points).await?;
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
    let redeemed: HashSet<String> = kiosks
        .iter()
        .flat_map(|k| k.redeemed.iter().cloned())
        .collect();
    report.redeemed = redeemed.len();
    report.refused = kiosks.iter().map(|k| k.refused).sum();
    report.acknowledged = acked.len() + redeemed.len();
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
        let redemptions = server_redemptions(&servers[0].dir, database_url.as_deref()).await?;
        let missing = acked.keys().filter(|r| !rows.contains_key(*r)).count()
            + redeemed
                .iter()
                .filter(|r| !redemptions.contains_key(*r))
                .count();
        if (missing == 0 && differ == 0) || Instant::now() > deadline {
            break (rows, differ);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let redemptions = server_redemptions(&servers[0].dir, database_url.as_deref()).await?;
    report.overspent += overspent(&redemptions);
    report.projected = rows.len() + redemptions.len();
    report.lost = acked.keys().filter(|r| !rows.contains_key(*r)).count()
        + redeemed
            .iter()
            .filter(|r| !redemptions.contains_key(*r))
            .count();
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
        let redeemed_here = redemptions
            .values()
            .filter(|(_, kiosk, ..)| *kiosk == k.id)
            .count();
        report.duplicated += redeemed_here.saturating_sub(k.redeem_asked);
    }
    let hall_of: HashMap<&str, &str> = kiosks
        .iter()
        .map(|k| (k.id.as_str(), k.hall.as_str()))
        .collect();
    report.crossed = rows
        .values()
        .filter(|(hall, kiosk)| hall_of.get(kiosk.as_str()) != Some(&hall.as_str()))
        .count()
        + redemptions
            .values()
            .filter(|(hall, kiosk, ..)| hall_of.get(kiosk.as_str()) != Some(&hall.as_str()))
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
