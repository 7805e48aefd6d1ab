//! Years of documents: a server data directory holding a year of day
//! ledgers for H halls × K kiosks (two check-ins a day each), written
//! straight into the server's store the way the server itself would have
//! kept them (samod storage rows, document ownership, projection through
//! the server's own `projection_tables::store`), so that seeding 190,000
//! documents takes a minute rather than the hours real syncing would.
//!
//! Then, with a real `linli-node server` process on it: restart time (spawn
//! to ready), memory once idle, and memory after every kiosk has synced
//! once (each client fetches its today's ledger, as a kiosk opening its day
//! does), and once more after the halls' repos were unloaded.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Context;
use linli_core::{docs::ledger, model::CheckIn};
use rusqlite::params;
use samod::{DocumentId, storage::StorageKey};

use crate::{
    fault::ServerProc,
    versus::{self, Client, proc_status_kib},
};

/// What the run measured.
#[derive(Debug, Default)]
pub struct YearsReport {
    /// Documents in the store.
    pub documents: u64,
    /// Seconds it took to seed them.
    pub seed_s: f64,
    /// Bytes of the database file.
    pub db_bytes: u64,
    /// Seconds from spawning the server until it was ready.
    pub restart_s: f64,
    /// Resident memory 5 s after start, KiB.
    pub idle_rss_kib: u64,
    /// Resident memory once every kiosk fetched its today's ledger, KiB.
    pub synced_rss_kib: u64,
    /// Seconds until every kiosk had its ledger (or the sync stalled).
    pub sync_all_s: f64,
    /// Kiosks that got their ledger.
    pub synced: usize,
    /// Why syncing stopped early, if it did (a fetch over 60 s).
    pub stalled: Option<String>,
    /// Resident memory [`AFTER_S`] after the kiosks left, KiB.
    pub after_rss_kib: u64,
}

/// Seed `halls` × `kiosks` kiosks × `days` ledgers into the server data
/// directory `dir`; the clients (with tokens) and their today's ledger.
pub async fn seed(
    dir: &Path,
    halls: usize,
    kiosks: usize,
    days: usize,
) -> anyhow::Result<Vec<(Client, DocumentId)>> {
    let ready = linli_sync_server::prepare(&linli_sync_server::ServeConfig::new(dir)).await?;
    let core = ready.core.clone();
    let mut clients = Vec::new();
    for h in 0..halls {
        let hall = format!("hall-{h:03}");
        linli_sync_engine::provision::add_hall(&core, &hall, &hall, "Asia/Shanghai").await?;
        for k in 0..kiosks {
            let (kiosk, token) =
                linli_sync_engine::provision::add_kiosk(&core, &hall, &format!("k{k}")).await?;
            clients.push(Client {
                kiosk_id: kiosk.id,
                hall_id: hall.clone(),
                token,
            });
        }
    }
    core.stop().await;
    drop(ready);

    let today = chrono::NaiveDate::parse_from_str(&versus::hall_today(), "%Y-%m-%d")?;
    let mut db = rusqlite::Connection::open(dir.join(linli_sync_engine::db::DB_FILE))?;
    db.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;")?;
    let mut out = Vec::new();
    for (n, c) in clients.into_iter().enumerate() {
        let tx = db.transaction()?;
        let mut todays = None;
        for d in 0..days {
            let date = today - chrono::Duration::days(d as i64);
            let doc_id = DocumentId::new(&mut rand::rng());
            let (doc, heads) = day_ledger(&c, &date.to_string())?;
            let bytes = doc.save();
            let key = StorageKey::from_parts([
                doc_id.to_string(),
                "incremental".into(),
                heads.first().context("heads")?.to_string(),
            ])
            .map_err(|_| anyhow::anyhow!("storage key"))?;
            let received = date
                .and_hms_opt(12, 0, 0)
                .context("noon")?
                .and_utc()
                .timestamp_millis();
            tx.execute(
                "INSERT INTO samod_storage (key, data) VALUES (?1, ?2)",
                params![key.to_string(), bytes],
            )?;
            tx.execute(
                "INSERT INTO documents (doc_id, hall_id, kind, owner_kiosk, first_seen_ms)
                 VALUES (?1, ?2, 'ledger', ?3, ?4)",
                params![doc_id.to_string(), c.hall_id, c.kiosk_id, received],
            )?;
            let assessment =
                linli_sync_engine::projection::assess(&doc, &[], &c.hall_id, &c.kiosk_id)
                    .context("assessing a seeded ledger")?;
            let write = linli_sync_engine::projection_tables::DocumentWrite {
                doc: doc_id.to_string(),
                hall: c.hall_id.clone(),
                kiosk: c.kiosk_id.clone(),
                assessment,
                tagged: Vec::new(),
            };
            linli_sync_engine::projection_tables::store(&tx, &write, received)?;
            if d == 0 {
                todays = Some(doc_id);
            }
        }
        tx.commit()?;
        out.push((c, todays.context("no days")?));
        if n % 10 == 9 {
            eprint!("\rseeded {} kiosks", n + 1);
        }
    }
    eprintln!();
    db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(out)
}

/// A day's ledger of kiosk `c` with two check-ins, and its heads.
fn day_ledger(
    c: &Client,
    date: &str,
) -> anyhow::Result<(automerge::Automerge, Vec<automerge::ChangeHash>)> {
    let mut doc = ledger::new_ledger(&c.hall_id, &c.kiosk_id, date)?;
    let noon = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")?
        .and_hms_opt(4, 0, 0)
        .context("time")?
        .and_utc()
        .timestamp_millis();
    for i in 0..2 {
        let checkin = CheckIn {
            activity_id: "act-1".into(),
            service: None,
            resident: None,
            headcount: 1 + i,
            companions: 0,
            kiosk_id: c.kiosk_id.clone(),
            at_ms: noon + i64::from(i) * 60_000,
        };
        ledger::add_checkin(&mut doc, &uuid::Uuid::now_v7().to_string(), &checkin)?;
    }
    let heads = doc.get_heads();
    Ok((doc, heads))
}

/// The server's `--unload-idle-after` in this run, seconds: short, so
/// the run need not wait the default three minutes.
pub const UNLOAD_AFTER_S: u64 = 10;

/// Seconds after the kiosks left at which memory is read again: past the
/// unloading of every hall.
pub const AFTER_S: u64 = 30;

/// Seed, start a server on the result, and measure.
pub async fn run(
    node_bin: &Path,
    halls: usize,
    kiosks: usize,
    days: usize,
) -> anyhow::Result<YearsReport> {
    let root = tempfile::tempdir()?;
    let mut server = ServerProc::new(root.path().join("server"))?;
    server.unload_idle_after = Some(UNLOAD_AFTER_S);
    let t = Instant::now();
    let clients = seed(&server.dir, halls, kiosks, days).await?;
    let seed_s = t.elapsed().as_secs_f64();
    let db_bytes = std::fs::metadata(server.dir.join(linli_sync_engine::db::DB_FILE))?.len();

    let t = Instant::now();
    server.start(node_bin).await?;
    let restart_s = t.elapsed().as_secs_f64();
    let pid = server.pid().context("server pid")?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_rss_kib = proc_status_kib(pid, "VmRSS:")?;

    let url: url::Url = format!("http://{}/", server.addr).parse()?;
    let config = linli_core::protocol::fetch_kiosk_config(
        &url,
        &clients[0].0.token,
        &linli_core::tls::Trust::default(),
    )
    .await?;
    let sync_url = linli_core::protocol::sync_url(&url)?;
    let t = Instant::now();
    let mut peers = Vec::new();
    let mut stalled = None;
    for batch in clients.chunks(50) {
        let fetches = batch.iter().map(|(c, today)| {
            let (u, p) = (sync_url.clone(), config.server_peer_id.clone());
            async move {
                let (repo, dialer) = versus::connect(&u, &p, c).await?;
                let found = tokio::time::timeout(Duration::from_secs(60), repo.find(today.clone()))
                    .await
                    .context("fetching today's ledger")??;
                anyhow::ensure!(found.is_some(), "{}: today's ledger not found", c.kiosk_id);
                anyhow::Ok((repo, dialer))
            }
        });
        let mut failed = None;
        for r in futures::future::join_all(fetches).await {
            match r {
                Ok(peer) => peers.push(peer),
                Err(e) => failed = Some(format!("{e:#}")),
            }
        }
        eprint!("\rsynced {}/{}", peers.len(), clients.len());
        if failed.is_some() {
            stalled = failed;
            break;
        }
    }
    eprintln!();
    let sync_all_s = t.elapsed().as_secs_f64();
    let synced_rss_kib = proc_status_kib(pid, "VmRSS:")?;
    let synced = peers.len();
    for (repo, dialer) in peers {
        dialer.close();
        repo.stop().await;
    }
    tokio::time::sleep(Duration::from_secs(AFTER_S)).await;
    let after_rss_kib = proc_status_kib(pid, "VmRSS:")?;
    server.kill().await;
    Ok(YearsReport {
        documents: (clients.len() * days) as u64,
        seed_s,
        db_bytes,
        restart_s,
        idle_rss_kib,
        synced_rss_kib,
        sync_all_s,
        synced,
        stalled,
        after_rss_kib,
    })
}
