//! The same workload against linli-server and against the sync server the
//! Automerge project publishes for Node.js
//! (`@automerge/automerge-repo-sync-server`, installed under
//! `tests/bench-node/`): K clients — plain samod repos dialing as kiosks —
//! each with N check-ins in their day ledger, one change per check-in,
//! written while offline, all connecting at once. Measured per server:
//! seconds from the connect until the server has every client's changes
//! ([`server_has_all`] on each client), server CPU seconds (from
//! `/proc/<pid>/stat`) and peak resident memory (`VmHWM`).
//!
//! Writing the check-ins while connected, one sync round per change, left
//! 15 of 20 clients of the Node server unconfirmed after two minutes with
//! both processes idle (20 × 500; linli-server: 7.9 s), so that is not the
//! figure compared.
//!
//! linli-server does more per change than the Node server: it checks the
//! document against the hall's schema and projects every record into
//! SQLite tables. The figures include that.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow};
use linli_core::{docs::ledger, model::CheckIn, node::dialer::DialFailure};
use samod::{PeerId, Repo};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use crate::fault::{self, ServerProc};

/// The workload.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Clients (kiosks).
    pub kiosks: usize,
    /// Check-ins each client writes.
    pub checkins: usize,
}

/// What one server did with it.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Seconds from the first write until every client's changes were on
    /// the server.
    pub converge_s: f64,
    /// Server CPU seconds (user + system) over the run, start-up excluded.
    pub cpu_s: f64,
    /// Server peak resident memory, KiB.
    pub peak_rss_kib: u64,
}

/// A client: who it is, where it dials, and with which credentials.
#[derive(Clone, Debug)]
pub struct Client {
    /// Its kiosk id (its peer id is derived from it).
    pub kiosk_id: String,
    /// Its hall.
    pub hall_id: String,
    /// Its token (the Node server ignores it).
    pub token: String,
}

/// A samod repo (in memory) for `c`, connected to the server at `url`.
pub async fn connect(
    url: &url::Url,
    server_peer_id: &str,
    c: &Client,
) -> anyhow::Result<(Repo, samod::DialerHandle<DialFailure>)> {
    let repo = Repo::build_tokio()
        .with_peer_id(PeerId::from(linli_core::protocol::kiosk_peer_id(
            &c.kiosk_id,
        )))
        .load()
        .await;
    let dialer = dial(&repo, url, &c.token, server_peer_id).await?;
    Ok((repo, dialer))
}

pub use linli_test_kit::kiosk::dial;

/// A `linli-node server` process on a fresh data directory with `kiosks`
/// kiosks provisioned in `halls` halls.
pub struct LinliServer {
    /// The process (killed when dropped).
    pub proc: ServerProc,
    /// Its process id.
    pub pid: u32,
    /// Where kiosks dial.
    pub sync_url: url::Url,
    /// The server's peer id.
    pub peer_id: String,
    /// The kiosks.
    pub clients: Vec<Client>,
    _root: tempfile::TempDir,
}

impl LinliServer {
    /// Provision and start it (`node_bin` is `linli-node`).
    pub async fn start(node_bin: &Path, halls: usize, kiosks: usize) -> anyhow::Result<Self> {
        Self::start_on(node_bin, halls, kiosks, None).await
    }

    /// [`LinliServer::start`] keeping everything in the PostgreSQL
    /// database at `database_url` when given.
    pub async fn start_on(
        node_bin: &Path,
        halls: usize,
        kiosks: usize,
        database_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        let root = tempfile::tempdir()?;
        let mut proc = ServerProc::new(root.path().join("server"))?;
        proc.database_url = database_url.map(str::to_string);
        let provisioned = fault::provision_on(&proc.dir, database_url, halls, kiosks).await?;
        proc.start(node_bin).await?;
        let pid = proc.pid().context("server pid")?;
        let url: url::Url = format!("http://{}/", proc.addr).parse()?;
        let config = linli_core::protocol::fetch_kiosk_config(
            &url,
            &provisioned.first().context("no kiosks")?.2,
            &linli_core::tls::Trust::default(),
        )
        .await?;
        Ok(Self {
            proc,
            pid,
            sync_url: linli_core::protocol::sync_url(&url)?,
            peer_id: config.server_peer_id,
            clients: provisioned
                .into_iter()
                .map(|(kiosk_id, hall_id, token)| Client {
                    kiosk_id,
                    hall_id,
                    token,
                })
                .collect(),
            _root: root,
        })
    }
}

/// A check-in by `kiosk_id`, now.
pub fn checkin(kiosk_id: &str) -> CheckIn {
    CheckIn {
        activity_id: "bench-activity".into(),
        service: None,
        resident: None,
        headcount: 1,
        companions: 0,
        kiosk_id: kiosk_id.to_string(),
        at_ms: chrono::Utc::now().timestamp_millis(),
    }
}

/// Today's date in the demo halls' time zone.
pub fn hall_today() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d")
        .to_string()
}

/// Run `w` against a fresh linli-server process (`node_bin` is
/// `linli-node`).
pub async fn linli(node_bin: &Path, w: Workload) -> anyhow::Result<Outcome> {
    linli_on(node_bin, w, None).await
}

/// [`linli`] with the server keeping everything in the PostgreSQL
/// database at `database_url` when given.
pub async fn linli_on(
    node_bin: &Path,
    w: Workload,
    database_url: Option<&str>,
) -> anyhow::Result<Outcome> {
    let mut server = LinliServer::start_on(node_bin, 2, w.kiosks, database_url).await?;
    let clients = std::mem::take(&mut server.clients);
    let outcome = run(
        &[server.pid],
        std::slice::from_ref(&server.sync_url),
        &server.peer_id,
        clients,
        w,
    )
    .await;
    server.proc.kill().await;
    outcome
}

/// Run `w` against `instances` `linli-node server` processes on the one
/// PostgreSQL database at `database_url`, over `halls` halls, as a
/// load balancer spreads kiosks: the kiosks of each hall go to different
/// instances (client `i` dials instance `(i / halls) % instances`), so an
/// instance also pipes kiosks to the holders of their halls. CPU is
/// summed over the instances; memory is the largest instance's.
pub async fn linli_instances(
    node_bin: &Path,
    w: Workload,
    database_url: &str,
    instances: usize,
    halls: usize,
) -> anyhow::Result<Outcome> {
    let root = tempfile::tempdir()?;
    let dir = |i: usize| root.path().join(format!("server{i}"));
    let provisioned = fault::provision_on(&dir(0), Some(database_url), halls, w.kiosks).await?;
    let key = dir(0).join(linli_sync_engine::residents::KEY_FILE);
    let mut procs = Vec::new();
    for i in 0..instances.max(1) {
        std::fs::create_dir_all(dir(i))?;
        if i > 0 {
            std::fs::copy(&key, dir(i).join(linli_sync_engine::residents::KEY_FILE))?;
        }
        let mut proc = ServerProc::new(dir(i))?;
        proc.database_url = Some(database_url.to_string());
        proc.start(node_bin).await?;
        procs.push(proc);
    }
    let outcome = async {
        let pids = procs
            .iter()
            .map(|p| p.pid().context("server pid"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let urls = procs
            .iter()
            .map(|p| -> anyhow::Result<url::Url> {
                Ok(linli_core::protocol::sync_url(
                    &format!("http://{}/", p.addr).parse()?,
                )?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let first: url::Url = format!("http://{}/", procs[0].addr).parse()?;
        let config = linli_core::protocol::fetch_kiosk_config(
            &first,
            &provisioned.first().context("no kiosks")?.2,
            &linli_core::tls::Trust::default(),
        )
        .await?;
        let halls = halls.max(1);
        let clients: Vec<Client> = provisioned
            .into_iter()
            .map(|(kiosk_id, hall_id, token)| Client {
                kiosk_id,
                hall_id,
                token,
            })
            .collect();
        // Client i is in hall i % halls; its instance is (i / halls) % n.
        let mut spread: Vec<Vec<Client>> = vec![Vec::new(); urls.len()];
        for (i, c) in clients.into_iter().enumerate() {
            spread[(i / halls) % urls.len()].push(c);
        }
        run_spread(&pids, &urls, &config.server_peer_id, spread, w).await
    }
    .await;
    for p in &mut procs {
        p.kill().await;
    }
    outcome
}

/// Run `w` against a fresh `@automerge/automerge-repo-sync-server` process
/// on 127.0.0.1 with its own data directory; `package_dir` holds its
/// `node_modules` (installed with `npm ci` when missing).
pub async fn node(package_dir: &Path, w: Workload) -> anyhow::Result<Outcome> {
    let server = NodeServer::start(package_dir).await?;
    let clients = (0..w.kiosks)
        .map(|i| Client {
            kiosk_id: format!("k{i}"),
            hall_id: if i % 2 == 0 {
                "xianfeng"
            } else {
                "tuanjiexiang"
            }
            .into(),
            token: "unused".into(),
        })
        .collect();
    let url: url::Url = format!("ws://127.0.0.1:{}/", server.port).parse()?;
    let pid = server.pid()?;
    run(&[pid], &[url], &server.peer_id, clients, w).await
}

async fn run(
    pids: &[u32],
    urls: &[url::Url],
    server_peer_id: &str,
    clients: Vec<Client>,
    w: Workload,
) -> anyhow::Result<Outcome> {
    let mut spread: Vec<Vec<Client>> = vec![Vec::new(); urls.len()];
    for (i, c) in clients.into_iter().enumerate() {
        spread[i % urls.len()].push(c);
    }
    run_spread(pids, urls, server_peer_id, spread, w).await
}

/// [`run`] with the clients of each server given: `spread[i]` dial
/// `urls[i]`.
async fn run_spread(
    pids: &[u32],
    urls: &[url::Url],
    server_peer_id: &str,
    spread: Vec<Vec<Client>>,
    w: Workload,
) -> anyhow::Result<Outcome> {
    // Every client's ledger is written first, one change per check-in, as
    // kiosks do while offline; the clock starts when they all connect.
    let date = hall_today();
    let mut ledgers = Vec::new();
    for (url, clients) in urls.iter().zip(spread) {
        for c in clients {
            let mut doc = ledger::new_ledger(&c.hall_id, &c.kiosk_id, &date)?;
            for _ in 0..w.checkins {
                let id = uuid::Uuid::now_v7().to_string();
                ledger::add_checkin(&mut doc, &id, &checkin(&c.kiosk_id))?;
            }
            ledgers.push((url.clone(), c, doc));
        }
    }
    let cpu = || -> anyhow::Result<f64> { pids.iter().map(|p| cpu_seconds(*p)).sum() };
    let cpu_before = cpu()?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (url, c, doc) in ledgers {
        let server_peer_id = server_peer_id.to_string();
        tasks.push(tokio::spawn(async move {
            let (repo, dialer) = connect(&url, &server_peer_id, &c).await?;
            let handle = repo.create(doc).await?;
            // On the connection of the moment: with several instances a
            // kiosk may be reconnected (its hall moved) before it is done.
            let acknowledged = async {
                loop {
                    match dialer.connection_id() {
                        Some(conn) => {
                            let on_it = server_has_all(&handle, conn);
                            if tokio::time::timeout(Duration::from_secs(1), on_it)
                                .await
                                .is_ok()
                            {
                                return;
                            }
                        }
                        None => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            };
            tokio::time::timeout(Duration::from_secs(600), acknowledged)
                .await
                .with_context(|| {
                    format!(
                        "{}: the server did not get every change within 10 minutes",
                        c.kiosk_id
                    )
                })?;
            let elapsed = start.elapsed();
            dialer.close();
            repo.stop().await;
            anyhow::Ok(elapsed)
        }));
    }
    let mut converge = Duration::ZERO;
    for t in tasks {
        converge = converge.max(t.await??);
    }
    let mut peak_rss_kib = 0;
    for pid in pids {
        peak_rss_kib = peak_rss_kib.max(proc_status_kib(*pid, "VmHWM:")?);
    }
    Ok(Outcome {
        converge_s: converge.as_secs_f64(),
        cpu_s: cpu()? - cpu_before,
        peak_rss_kib,
    })
}

/// Resolves once the server on `conn` has said it holds every change of
/// `handle`: the heads it last shared or announced are ours. samod's
/// `they_have_our_changes` waits for a notification that, after a burst
/// of back-to-back changes, was seen never to come although the state it
/// would report had arrived (the kiosk asks afresh every 300 ms for the
/// same reason); so this looks at the state on every notification and at
/// least every 20 ms.
pub async fn server_has_all(handle: &samod::DocHandle, conn: samod::ConnectionId) {
    let ours = Some(handle.with_document(|d| d.get_heads()));
    let has = |s: &samod::PeerDocState| s.shared_heads == ours || s.their_heads == ours;
    loop {
        let (now, mut changes) = handle.peers();
        if now.get(&conn).is_some_and(has) {
            return;
        }
        let _ = tokio::time::timeout(
            Duration::from_millis(20),
            futures::StreamExt::next(&mut changes),
        )
        .await;
    }
}

/// `npm ci` in `package_dir` unless `installed` (a file it installs) is
/// there already.
pub async fn npm_ci_unless(package_dir: &Path, installed: &Path) -> anyhow::Result<()> {
    if installed.exists() {
        return Ok(());
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(package_dir)
        // Its report goes with the bench's progress, off the figures.
        .stdout(std::io::stderr())
        .status()
        .await
        .context("running npm (install Node.js and npm)")?;
    anyhow::ensure!(
        status.success(),
        "npm ci in {} failed",
        package_dir.display()
    );
    Ok(())
}

/// A `@automerge/automerge-repo-sync-server` process on 127.0.0.1 with its
/// own data directory (killed when dropped).
pub struct NodeServer {
    child: Child,
    /// Its port.
    pub port: u16,
    /// Its peer id.
    pub peer_id: String,
    _data: tempfile::TempDir,
}

impl NodeServer {
    /// Start it; `package_dir` holds its `node_modules` (installed with
    /// `npm ci` when missing).
    pub async fn start(package_dir: &Path) -> anyhow::Result<Self> {
        let entry =
            package_dir.join("node_modules/@automerge/automerge-repo-sync-server/src/index.js");
        npm_ci_unless(package_dir, &entry).await?;
        let data = tempfile::tempdir()?;
        let port = fault::free_port()?.port();
        let mut child = Command::new("node")
            .arg(&entry)
            .current_dir(data.path())
            .env("PORT", port.to_string())
            .env("DATA_DIR", data.path().join("amrg"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting node")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if line.starts_with("Listening on port") {
                    return anyhow::Ok(());
                }
            }
            Err(anyhow!("node exited before listening"))
        })
        .await
        .context("node did not start within 30 s")??;
        // Keep reading so the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        // The server names itself after the machine.
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")?;
        Ok(Self {
            child,
            port,
            peer_id: format!("storage-server-{}", hostname.trim()),
            _data: data,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("node pid")
    }
}

/// The directory of the Node sync server's package.
pub fn node_package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench-node")
}

/// User + system CPU seconds of `pid` so far.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').context("/proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i).context("/proc stat field")?.parse::<f64>()?)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12
    // after the state field.
    const CLOCK_TICKS: f64 = 100.0;
    Ok((ticks(11)? + ticks(12)?) / CLOCK_TICKS)
}

/// A `/proc/<pid>/status` figure in KiB (e.g. `VmRSS:`, `VmHWM:`).
pub fn proc_status_kib(pid: u32, key: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("{key} of {pid}"))
}
