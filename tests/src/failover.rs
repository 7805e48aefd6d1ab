//! The failover scenario of several instances on one PostgreSQL: two (or
//! more) `linli-node server` processes behind a real HAProxy, two kiosks
//! of one hall paired and syncing through it, and the instance holding
//! the hall killed with `kill -9` during a burst of check-ins. What it
//! reports is asserted by `tests/scale_out.rs` and printed by
//! `linli-bench` (section 9).

use std::{
    collections::BTreeSet,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Context;
use linli_test_kit::{Api, Balancer, Store, TestKiosk, TestServer, open_activity, test_options};

use crate::fault::ServerProc;

/// What a failover run found.
#[derive(Debug)]
pub struct Failover {
    /// Check-ins the kiosks acknowledged (each on the kiosk's disk).
    pub acknowledged: usize,
    /// Check-in rows the server has for the hall.
    pub rows: usize,
    /// Distinct records among them.
    pub distinct: usize,
    /// From the kill until a check-in made after it was on the server.
    pub moved: Duration,
}

/// Check-ins in the burst the holder is killed during, per kiosk.
const BURST_ROUNDS: u32 = 10;

/// Run the scenario with `instances` (at least 2) `node_bin` processes.
pub async fn kill_the_holder(node_bin: &Path, instances: usize) -> anyhow::Result<Failover> {
    // The database and the hall, made by a first instance in this process
    // that then stops (its leases given back).
    let mut first = TestServer::start_on(Store::Postgres).await?;
    let activity = open_activity(&*first.core()?, "xianfeng", "clinic", "义诊").await?;
    let url = first.database_url.clone().context("a PostgreSQL store")?;
    let mut paired = Vec::new();
    for name in ["一号机", "二号机"] {
        paired.push(first.api.add_kiosk("xianfeng", name).await?);
    }
    let admin = first.api.token.clone();
    let key = first
        .data_dir()
        .join(linli_sync_engine::residents::KEY_FILE);
    first.stop().await?;

    // The instances as processes, each with its own data directory and a
    // copy of the residents' key, behind HAProxy.
    let dirs = (0..instances.max(2))
        .map(|_| tempfile::tempdir())
        .collect::<Result<Vec<_>, _>>()?;
    let mut procs = Vec::new();
    for dir in &dirs {
        std::fs::copy(
            &key,
            dir.path().join(linli_sync_engine::residents::KEY_FILE),
        )?;
        let mut p = ServerProc::new(dir.path().to_path_buf())?;
        p.database_url = Some(url.clone());
        p.start(node_bin).await?;
        procs.push(p);
    }
    let outcome = async {
        let balancer = Balancer::start(&procs.iter().map(|p| p.addr).collect::<Vec<_>>())?;
        let api = Api::new(balancer.url.clone(), admin);
        let mut kiosks = Vec::new();
        for (id, token) in paired {
            let dir = tempfile::tempdir()?;
            let node = linli_core::KioskNode::pair(test_options(dir.path()), &balancer.url, &token)
                .await?;
            kiosks.push(TestKiosk::from_parts(node, id, token, dir));
        }
        kiosks[0].record_checkins(&activity, 5, 1).await?;
        kiosks[1].record_checkins(&activity, 5, 2).await?;
        let mut acknowledged = 10;
        api.wait_checkins_within("xianfeng", 10, Duration::from_secs(20))
            .await?;

        // The instance that holds the hall, killed during a burst.
        let lease = linli_store_postgres::PgStore::open(&url)
            .await?
            .leases()
            .holder("xianfeng")
            .await?
            .context("the hall is held while its kiosks sync")?;
        let holder = procs
            .iter()
            .position(|p| lease.address.ends_with(&p.addr.to_string()))
            .context("the hall is held by one of the instances")?;
        let burst = async {
            for round in 0..BURST_ROUNDS {
                kiosks[0].record_checkins(&activity, 2, 10 + round).await?;
                kiosks[1].record_checkins(&activity, 2, 30 + round).await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::Ok(())
        };
        let kill = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            procs[holder].kill().await;
            Instant::now()
        };
        let (recorded, killed_at) = tokio::join!(burst, kill);
        recorded?;
        acknowledged += 4 * BURST_ROUNDS as usize;
        // One more after the kill: once it is on the server, the hall has
        // a new holder.
        kiosks[0].record_checkins(&activity, 1, 50).await?;
        acknowledged += 1;
        api.wait_checkins_within("xianfeng", acknowledged as u64, Duration::from_secs(30))
            .await?;
        let moved = killed_at.elapsed();
        let v = api
            .get("api/v1/halls/xianfeng/checkins?limit=100000")
            .await?;
        let rows = v["checkins"].as_array().cloned().unwrap_or_default();
        let distinct: BTreeSet<&str> = rows.iter().filter_map(|r| r["id"].as_str()).collect();
        anyhow::Ok(Failover {
            acknowledged,
            rows: rows.len(),
            distinct: distinct.len(),
            moved,
        })
    }
    .await;
    for p in &mut procs {
        p.kill().await;
    }
    outcome
}
