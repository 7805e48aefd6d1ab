//! Many kiosks at once: K clients (samod repos dialing as kiosks, as in
//! [`crate::versus`]) connected to one linli-server process, each writing
//! one check-in into its day ledger every `interval` for `duration`. Sync
//! latency is the time from a write until samod on the client reports that
//! the server has it (`they_have_our_changes`); a write not confirmed
//! within 10 s counts as an error. Server memory is sampled every second.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use linli_core::docs::ledger;

use crate::versus::{self, proc_status_kib};

/// What the run saw.
#[derive(Debug, Default)]
pub struct ManyReport {
    /// Seconds until every client was connected.
    pub connect_s: f64,
    /// Every confirmed write's sync latency, sorted.
    pub latencies: Vec<Duration>,
    /// Writes not confirmed within 10 s, or failed.
    pub errors: u64,
    /// Server resident memory at the end of the run, KiB.
    pub end_rss_kib: u64,
    /// Server peak resident memory, KiB.
    pub peak_rss_kib: u64,
    /// Document writes the server's store made during the run, and the
    /// commits they took (its `/healthz`).
    pub store_writes: u64,
    /// See `store_writes`.
    pub store_commits: u64,
    /// Seconds the writing lasted.
    pub write_s: f64,
    /// CPU seconds the server spent while the kiosks wrote.
    pub server_cpu_s: f64,
    /// CPU seconds this process (the load generator: every client) spent
    /// meanwhile.
    pub clients_cpu_s: f64,
}

/// The server's store counters from its `/healthz`: (writes, commits).
async fn store_counts(sync_url: &url::Url) -> anyhow::Result<(u64, u64)> {
    let mut url = sync_url.clone();
    url.set_path("/healthz");
    url.set_query(None);
    let _ = url.set_scheme(if sync_url.scheme() == "wss" {
        "https"
    } else {
        "http"
    });
    let v: serde_json::Value = reqwest::get(url).await?.json().await?;
    let n = |k: &str| v["store"][k].as_u64().unwrap_or(0);
    Ok((n("writes"), n("commits")))
}

/// Run `kiosks` clients, `per_hall` to a hall, against a fresh server
/// (`node_bin` is `linli-node`).
pub async fn run(
    node_bin: &Path,
    kiosks: usize,
    per_hall: usize,
    duration: Duration,
    interval: Duration,
) -> anyhow::Result<ManyReport> {
    let mut server =
        versus::LinliServer::start(node_bin, kiosks.div_ceil(per_hall.max(1)), kiosks).await?;
    let pid = server.pid;
    let provisioned = std::mem::take(&mut server.clients);

    // Connect in batches, as kiosks coming back after a power cut would.
    let started = Instant::now();
    let mut connected = Vec::new();
    for batch in provisioned.chunks(50) {
        let dials = batch.iter().map(|c| {
            let (u, p) = (server.sync_url.clone(), server.peer_id.clone());
            async move {
                let (repo, dialer) = versus::connect(&u, &p, c).await?;
                anyhow::Ok((c.clone(), repo, dialer))
            }
        });
        for r in futures::future::join_all(dials).await {
            connected.push(r?);
        }
        eprint!("\rconnected {}/{}", connected.len(), kiosks);
    }
    eprintln!();
    let connect_s = started.elapsed().as_secs_f64();
    let store_before = store_counts(&server.sync_url).await?;
    let cpu_before = (
        versus::cpu_seconds(pid)?,
        versus::cpu_seconds(std::process::id())?,
    );
    let writing = Instant::now();

    let latencies = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let date = versus::hall_today();
    let mut tasks = Vec::new();
    for (i, (c, repo, dialer)) in connected.into_iter().enumerate() {
        let (latencies, errors, date) = (latencies.clone(), errors.clone(), date.clone());
        tasks.push(tokio::spawn(async move {
            // Spread the clients over the interval.
            let offset = interval.mul_f64(i as f64 / kiosks.max(1) as f64);
            tokio::time::sleep(offset).await;
            let doc = ledger::new_ledger(&c.hall_id, &c.kiosk_id, &date)?;
            let handle = repo.create(doc).await?;
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while Instant::now() < deadline {
                tick.tick().await;
                let id = uuid::Uuid::now_v7().to_string();
                let checkin = versus::checkin(&c.kiosk_id);
                let t = Instant::now();
                let written = handle.with_document(|d| ledger::add_checkin(d, &id, &checkin));
                let confirmed = match (written, dialer.connection_id()) {
                    (Ok(()), Some(conn)) => tokio::time::timeout(
                        Duration::from_secs(10),
                        versus::server_has_all(&handle, conn),
                    )
                    .await
                    .is_ok(),
                    _ => false,
                };
                if confirmed {
                    if let Ok(mut l) = latencies.lock() {
                        l.push(t.elapsed());
                    }
                } else {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            dialer.close();
            repo.stop().await;
            anyhow::Ok(())
        }));
    }
    let sampler = tokio::spawn(async move {
        let mut highest = 0u64;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Ok(rss) = proc_status_kib(pid, "VmRSS:") {
                highest = highest.max(rss);
                eprint!("\rserver RSS {} MiB   ", rss / 1024);
            }
        }
        eprintln!();
        highest
    });
    for t in tasks {
        t.await??;
    }
    let _ = sampler.await;
    let write_s = writing.elapsed().as_secs_f64();
    let server_cpu_s = versus::cpu_seconds(pid)? - cpu_before.0;
    let clients_cpu_s = versus::cpu_seconds(std::process::id())? - cpu_before.1;
    let store_after = store_counts(&server.sync_url).await?;
    let end_rss_kib = proc_status_kib(pid, "VmRSS:")?;
    let peak_rss_kib = proc_status_kib(pid, "VmHWM:")?;
    server.proc.kill().await;
    let mut latencies =
        std::mem::take(&mut *latencies.lock().map_err(|_| anyhow::anyhow!("lock"))?);
    latencies.sort();
    Ok(ManyReport {
        connect_s,
        latencies,
        errors: errors.load(std::sync::atomic::Ordering::Relaxed),
        end_rss_kib,
        peak_rss_kib,
        store_writes: store_after.0.saturating_sub(store_before.0),
        store_commits: store_after.1.saturating_sub(store_before.1),
        write_s,
        server_cpu_s,
        clients_cpu_s,
    })
}
