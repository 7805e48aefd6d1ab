//! The connected workload, side by side: K kiosks of one hall, each writing
//! one check-in at a time while connected, driven by the JavaScript
//! `@automerge/automerge-repo` client from npm (the client most
//! automerge-repo users run; `tests/bench-node/client/connected.mjs`)
//! against linli-server and against the Node.js sync server alike — one
//! client process, one repo and one WebSocket (and, for linli-server, one
//! kiosk token) per kiosk.
//!
//! A record counts as synced when the server's next sync message for that
//! ledger carries the kiosk's heads: the server holds it (linli-server says
//! so only once it is durable). Measured per server: the server's CPU
//! seconds over the writing phase (connections and empty ledgers made
//! before, off the clock), per record; seconds until every kiosk's last
//! record was synced; each record's sync latency; the client process's
//! own CPU seconds, to tell when the load generator is the bound.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::Command,
};

use crate::versus::{self, LinliServer, NodeServer};

/// The workload.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Kiosks, all of one hall.
    pub kiosks: usize,
    /// Check-ins each kiosk writes, one at a time.
    pub records: usize,
}

/// What one server did with it.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Records written (kiosks × records).
    pub records: usize,
    /// Seconds from the first write until every record was synced.
    pub converge_s: f64,
    /// Server CPU seconds (user + system) over the writing phase.
    pub cpu_s: f64,
    /// Sync latency of a record, p50 and p99, milliseconds.
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p99_ms: f64,
    /// The client process's CPU seconds over the writing phase.
    pub client_cpu_s: f64,
    /// Server peak resident memory, KiB.
    pub peak_rss_kib: u64,
}

impl Outcome {
    /// Server CPU milliseconds per record.
    pub fn cpu_ms_per_record(&self) -> f64 {
        self.cpu_s * 1e3 / self.records.max(1) as f64
    }
}

/// The directory of the JavaScript client's package: `client/` in the
/// Node.js server's package directory.
pub fn client_dir(server_package: &Path) -> PathBuf {
    server_package.join("client")
}

/// Run `w` against a fresh linli-server process (`node_bin` is
/// `linli-node`), its kiosks in one hall.
pub async fn linli(node_bin: &Path, client_dir: &Path, w: Workload) -> anyhow::Result<Outcome> {
    let mut server = LinliServer::start(node_bin, 1, w.kiosks).await?;
    let clients = server
        .clients
        .iter()
        .map(|c| SpecClient {
            kiosk_id: c.kiosk_id.clone(),
            hall_id: c.hall_id.clone(),
            token: Some(c.token.clone()),
        })
        .collect();
    let outcome = drive(client_dir, server.pid, server.sync_url.as_str(), clients, w).await;
    server.proc.kill().await;
    outcome
}

/// Run `w` against a fresh `@automerge/automerge-repo-sync-server`
/// (`server_package` holds it) with the same clients, no tokens.
pub async fn node(
    server_package: &Path,
    client_dir: &Path,
    w: Workload,
) -> anyhow::Result<Outcome> {
    let server = NodeServer::start(server_package).await?;
    let clients = (0..w.kiosks)
        .map(|i| SpecClient {
            kiosk_id: format!("k{i}"),
            hall_id: "xianfeng".into(),
            token: None,
        })
        .collect();
    let url = format!("ws://127.0.0.1:{}/", server.port);
    drive(client_dir, server.pid()?, &url, clients, w).await
}

#[derive(Serialize)]
struct SpecClient {
    kiosk_id: String,
    hall_id: String,
    token: Option<String>,
}

#[derive(Serialize)]
struct Spec<'a> {
    url: &'a str,
    records: usize,
    period: String,
    clients: Vec<SpecClient>,
}

#[derive(Deserialize)]
struct Report {
    records: usize,
    converge_ms: f64,
    latencies_ms: Vec<f64>,
    client_cpu_s: f64,
}

async fn drive(
    client_dir: &Path,
    pid: u32,
    url: &str,
    clients: Vec<SpecClient>,
    w: Workload,
) -> anyhow::Result<Outcome> {
    versus::npm_ci_unless(
        client_dir,
        &client_dir.join("node_modules/@automerge/automerge-repo"),
    )
    .await?;
    let spec_file = tempfile::NamedTempFile::new()?;
    serde_json::to_writer(
        spec_file.as_file(),
        &Spec {
            url,
            records: w.records,
            period: versus::hall_today(),
            clients,
        },
    )?;
    let mut child = Command::new("node")
        .arg(client_dir.join("connected.mjs"))
        .arg(spec_file.path())
        .current_dir(client_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting the JavaScript client (node)")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(120), lines.next_line())
        .await
        .context("the client's kiosks were not all connected with their ledgers within 120 s")??;
    anyhow::ensure!(
        first.as_deref() == Some("ready"),
        "the client said {first:?} instead of ready"
    );
    let cpu_before = versus::cpu_seconds(pid)?;
    stdin.write_all(b"go\n").await?;
    stdin.flush().await?;
    let last = tokio::time::timeout(std::time::Duration::from_secs(1200), lines.next_line())
        .await
        .context("the client did not finish within 20 minutes")??
        .context("the client exited without a report")?;
    let cpu_s = versus::cpu_seconds(pid)? - cpu_before;
    let peak_rss_kib = versus::proc_status_kib(pid, "VmHWM:")?;
    let report: Report = serde_json::from_str(&last).context("the client's report")?;
    let _ = child.wait().await;
    anyhow::ensure!(
        report.records == w.kiosks * w.records,
        "the client synced {} records of {}",
        report.records,
        w.kiosks * w.records
    );
    let mut lat = report.latencies_ms;
    lat.sort_by(f64::total_cmp);
    let at = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    Ok(Outcome {
        records: report.records,
        converge_s: report.converge_ms / 1e3,
        cpu_s,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        client_cpu_s: report.client_cpu_s,
        peak_rss_kib,
    })
}
