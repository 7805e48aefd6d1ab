//! A full disk on the server: its database may not grow (a page cap, as
//! a full disk would refuse). Kiosks keep recording; what the server had
//! stored stays readable; the server keeps answering. When space returns
//! (the server restarted without the cap) the kiosks supply what it could
//! not keep, and every record arrives exactly once. Meanwhile `/healthz`
//! says it is alive and `/readyz` that it is not ready, and why. (The kiosk's own full
//! disk is `kiosk/tests/flows.rs` and `core` storage tests.)

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use linli_core::{
    KioskNode,
    node::{NewCheckIn, ResidentInput},
};
use linli_sync_engine::ServerCore;
use linli_sync_server::ServeConfig;
use linli_test_kit::{eventually, init_logging, test_options, test_phone};
use tokio::{net::TcpListener, sync::oneshot};

struct Running {
    core: Arc<ServerCore>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<linli_sync_engine::Result<()>>,
}

async fn start(dir: &Path, addr: SocketAddr, max_pages: Option<u64>) -> anyhow::Result<Running> {
    let mut config = ServeConfig::new(dir);
    config.max_db_pages = max_pages;
    let ready = linli_sync_server::prepare(&config).await?;
    let core = ready.core.clone();
    let listener = eventually(Duration::from_secs(5), "the port", || async {
        Ok(TcpListener::bind(addr).await.ok())
    })
    .await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(linli_sync_server::serve(ready, listener, async move {
        let _ = stopped.await;
    }));
    Ok(Running { core, stop, task })
}

impl Running {
    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(20), self.task).await???;
        Ok(())
    }

    async fn count(&self) -> anyhow::Result<i64> {
        Ok(self
            .core
            .sqlite("a test query")?
            .run(|c| {
                c.query_row("SELECT count(*) FROM checkins", [], |r| r.get(0))
                    .map_err(|e| linli_sync_engine::Error::db("counting", e))
            })
            .await?)
    }

    async fn pages(&self) -> anyhow::Result<u64> {
        Ok(self
            .core
            .sqlite("a test query")?
            .run(|c| {
                c.query_row("PRAGMA page_count", [], |r| r.get(0))
                    .map_err(|e| linli_sync_engine::Error::db("pages", e))
            })
            .await?)
    }
}

async fn record(node: &KioskNode, seed: u32, n: usize) -> anyhow::Result<()> {
    for i in 0..n {
        node.record_checkin(NewCheckIn {
            activity_id: "act-1".into(),
            resident: Some(ResidentInput {
                phone: test_phone(seed, i)?,
                name: Some("王阿姨".into()),
            }),
            headcount: 1,
            companions: 0,
        })
        .await?;
    }
    Ok(())
}

async fn wait_count(server: &Running, want: i64) -> anyhow::Result<()> {
    eventually(
        Duration::from_secs(60),
        "check-ins on the server",
        || async { Ok((server.count().await? == want).then_some(())) },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_disk_loses_nothing_and_recovers() -> anyhow::Result<()> {
    init_logging();
    let dir = tempfile::tempdir()?;
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let server = start(dir.path(), addr, None).await?;
    linli_sync_engine::provision::add_hall(&server.core, "xianfeng", "先锋", "Asia/Shanghai")
        .await?;
    let (_, token) =
        linli_sync_engine::provision::add_kiosk(&server.core, "xianfeng", "一号").await?;
    let kdir = tempfile::tempdir()?;
    let node = KioskNode::pair(
        test_options(kdir.path()),
        &format!("http://{addr}/").parse()?,
        &token,
    )
    .await?;
    node.go_online()?;
    record(&node, 1, 20).await?;
    wait_count(&server, 20).await?;
    let pages = server.pages().await?;
    server.stop().await?;

    // The disk fills: the database may grow by only a few pages.
    let server = start(dir.path(), addr, Some(pages + 4)).await?;
    record(&node, 2, 400).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stored = server.count().await?;
    assert!(
        (20..420).contains(&stored),
        "{stored}: what was stored stays, what does not fit is refused"
    );
    // The server keeps answering. (The kiosk may already show "synced":
    // the server's repository holds the changes in memory while its disk
    // refuses them. Nothing is lost for that: the kiosk keeps every record
    // and the sync after the restart compares heads afresh.)
    let health = reqwest::get(format!("http://{addr}/healthz")).await?;
    assert_eq!(health.status(), 200, "alive");
    // But not ready: a load balancer sends new work elsewhere, and says
    // why. (/readyz answers 503 while the store's writes are failing.)
    let ready = eventually(Duration::from_secs(10), "/readyz to say 503", || async {
        let r = reqwest::get(format!("http://{addr}/readyz")).await?;
        Ok((r.status() == 503).then_some(r))
    })
    .await?;
    let said: serde_json::Value = ready.json().await?;
    assert_eq!(said["status"], "unready");
    assert!(
        said["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("document storage is failing")),
        "{said}"
    );
    server.stop().await?;

    // Space returns: ready again; every record, once.
    let server = start(dir.path(), addr, None).await?;
    let ready = reqwest::get(format!("http://{addr}/readyz")).await?;
    assert_eq!(ready.status(), 200);
    wait_count(&server, 420).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(server.count().await?, 420);
    eventually(
        Duration::from_secs(30),
        "the kiosk to see everything synced",
        || async { Ok((node.status().borrow().waiting == 0).then_some(())) },
    )
    .await?;
    node.shutdown().await;
    server.stop().await?;
    Ok(())
}
