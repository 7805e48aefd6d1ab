//! A bounded number of seeded fault schedules (see `linli_tests::fault`):
//! real server and kiosk processes on loopback, proxies that drop,
//! blackhole, delay, cut and duplicate, `kill -9` and restarts, clock
//! skew. Every acknowledged record must reach the server exactly once,
//! heads must agree and nothing may cross halls. `linli-faults` runs
//! thousands; a failure here names the seed to replay.

use linli_test_kit::init_logging;
use linli_tests::fault::{self, Schedule};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_fault_schedules_lose_and_double_nothing() -> anyhow::Result<()> {
    init_logging();
    let node_bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_linli-node"));
    let mut failed = Vec::new();
    let (mut acknowledged, mut faults) = (0, 0);
    for seed in 1..=6 {
        let r = fault::run(&Schedule {
            seed,
            kiosks: 4,
            steps: 40,
            node_bin: node_bin.clone(),
        })
        .await?;
        println!("{r:?}");
        acknowledged += r.acknowledged;
        faults += r.faults.values().sum::<usize>();
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
    Ok(())
}
