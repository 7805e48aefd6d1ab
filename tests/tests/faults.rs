//! A bounded number of seeded fault schedules (see `linli_tests::fault`):
//! real server and kiosk processes on loopback, proxies that drop,
//! blackhole, delay, cut and duplicate, `kill -9` and restarts, clock
//! skew, and redemptions at the halls' 爱心超市 among them. Every
//! acknowledged record must reach the server exactly once, heads must
//! agree, nothing may cross halls and no volunteer's points or item's
//! stock may be spent beyond what there was. `linli-faults` runs
//! thousands; a failure here names the seed to replay.

use linli_test_kit::init_logging;
use linli_tests::fault::{self, Schedule};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_fault_schedules_lose_and_double_nothing() -> anyhow::Result<()> {
    init_logging();
    let node_bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_linli-node"));
    let mut failed = Vec::new();
    let (mut acknowledged, mut faults, mut redeemed) = (0, 0, 0);
    for seed in 1..=6 {
        let r = fault::run(&Schedule::new(seed, 4, 40, node_bin.clone())).await?;
        println!("{r:?}");
        acknowledged += r.acknowledged;
        faults += r.faults.values().sum::<usize>();
        redeemed += r.redeemed;
        if !r.ok() {
            failed.push(seed);
        }
    }
    assert!(
        failed.is_empty(),
        "schedules failed; replay with `linli-faults --seed N --schedules 1`: {failed:?}"
    );
    // The schedules did real work.
    assert!(acknowledged > 100, "{acknowledged} records");
    assert!(faults > 50, "{faults} faults");
    assert!(redeemed > 0, "redemptions were taken");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_fault_schedules_on_three_instances_behind_haproxy_lose_and_double_nothing()
-> anyhow::Result<()> {
    init_logging();
    let node_bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_linli-node"));
    let pg = tokio::task::spawn_blocking(linli_test_kit::TestPostgres::start).await??;
    let mut failed = Vec::new();
    let (mut acknowledged, mut instance_faults) = (0, 0);
    for seed in 1..=3 {
        let r = fault::run(&Schedule {
            instances: 3,
            database_url: Some(pg.url("postgres")),
            ..Schedule::new(seed, 4, 40, node_bin.clone())
        })
        .await?;
        println!("{r:?}");
        acknowledged += r.acknowledged;
        instance_faults += r.faults.get("kill -9 instance").copied().unwrap_or(0)
            + r.faults.get("restart instance").copied().unwrap_or(0);
        if !r.ok() {
            failed.push(seed);
        }
    }
    assert!(
        failed.is_empty(),
        "schedules failed; replay with `linli-faults --instances 3 --seed N --schedules 1`: {failed:?}"
    );
    assert!(acknowledged > 50, "{acknowledged} records");
    assert!(instance_faults > 0, "instances were killed and restarted");
    Ok(())
}
