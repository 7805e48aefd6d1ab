//! A peer no one here wrote: the JavaScript `@automerge/automerge-repo`
//! (tests/interop, installed by scripts/install-system-deps.sh) pairs with
//! a kiosk token, reads its hall's calendar and delivers a ledger that the
//! server projects like any other.

use std::{path::PathBuf, process::Command};

use linli_test_kit::Store;
use linli_test_kit::{TestServer, init_logging};

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop")
}

async fn the_javascript_automerge_repo_syncs_with_linli_server(store: Store) -> anyhow::Result<()> {
    init_logging();
    let dir = interop_dir();
    anyhow::ensure!(
        dir.join("node_modules/@automerge/automerge-repo").exists(),
        "the JavaScript peer is not installed: run scripts/install-system-deps.sh"
    );
    let server = TestServer::start_on(store).await?;
    let core = server.core()?;
    for a in linli_sync_server::demo::week_of_activities(
        chrono_tz::Asia::Shanghai,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 24).expect("a date"),
    )
    .into_iter()
    .take(5)
    {
        linli_sync_engine::provision::put_activity(&core, "xianfeng", None, a).await?;
    }
    let (_, token) = server.api.add_kiosk("xianfeng", "浏览器终端").await?;
    let url = server.url.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(dir.join("interop.mjs"))
            .args([&url, &token])
            .current_dir(interop_dir())
            .output()
    })
    .await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "node failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(stdout.trim().lines().last().unwrap_or(""))?;
    assert_eq!(report["hallName"], "先锋社区党群服务中心");
    assert_eq!(report["activities"], 5);
    // Its ledger (Text strings, signed integers) is projected: 3 + 1 companion.
    server.api.wait_checkins("xianfeng", 1).await?;
    let list = server.api.get("api/v1/halls/xianfeng/checkins").await?;
    assert_eq!(list["person_times"], 4);
    assert_eq!(list["checkins"][0]["activity_id"], "js-act");
    Ok(())
}

linli_test_kit::on_both_stores! {
    the_javascript_automerge_repo_syncs_with_linli_server,
}
