//! One repo per hall (`linli_sync_engine::repos`): a hall's documents
//! leave the server's memory once its kiosks have gone, come back when
//! a kiosk returns, and a hall's repo never opens another hall's
//! documents.

use std::time::Duration;

use linli_core::model::Activity;
use linli_test_kit::{Store, TestKiosk, TestServer, eventually};

const WAIT: Duration = Duration::from_secs(20);

fn activity(title: &str) -> Activity {
    let now = linli_sync_engine::clock::now_ms();
    Activity {
        kind: "health".into(),
        title: title.into(),
        room: Some("一楼大厅".into()),
        starts_at_ms: now,
        ends_at_ms: now + 3_600_000,
        capacity: None,
        named_checkin: true,
        cancelled: false,
    }
}

/// A server, and a kiosk of xianfeng that recorded `n` check-ins the
/// server has; with the id of the kiosk's ledger of today.
async fn server_with_checkins(
    store: Store,
    n: usize,
    seed: u32,
) -> anyhow::Result<(TestServer, TestKiosk, samod::DocumentId)> {
    linli_test_kit::init_logging();
    let server = TestServer::start_on(store).await?;
    let kiosk = TestKiosk::pair(&server, "xianfeng", true).await?;
    kiosk.record_checkins("walk-in", n, seed).await?;
    server.api.wait_checkins("xianfeng", n as u64).await?;
    let today = kiosk.node().local_date(kiosk.node().now_ms());
    let ledger = kiosk
        .node()
        .ledger_id(&today)
        .await?
        .expect("today's ledger")
        .parse()?;
    Ok((server, kiosk, ledger))
}

async fn an_idle_hall_is_unloaded_and_loads_again_with_nothing_lost(
    store: Store,
) -> anyhow::Result<()> {
    let (server, mut kiosk, ledger) = server_with_checkins(store, 5, 1).await?;
    let core = server.core()?;

    // Nothing is unloaded while a kiosk of the hall is connected; the
    // other hall, which nothing uses, is.
    core.repos.unload_idle(Duration::ZERO).await;
    assert_eq!(core.repos.running(), 1, "only xianfeng stays loaded");

    kiosk.power_off().await;
    eventually(WAIT, "the kiosk's connection to close", || async {
        Ok((core.registry.connection_count() == 0).then_some(()))
    })
    .await?;
    let stopped = core.repos.unload_idle(Duration::ZERO).await;
    assert_eq!(stopped, 1);
    assert_eq!(core.repos.running(), 0, "no hall loaded once all left");

    // The calendar is edited while the hall is unloaded: the edit loads
    // it, and the kiosk receives it when it comes back.
    linli_sync_engine::provision::put_activity(
        &core,
        "xianfeng",
        Some("clinic".into()),
        activity("义诊"),
    )
    .await?;
    core.repos.unload_idle(Duration::ZERO).await;
    assert_eq!(core.repos.running(), 0);

    kiosk.power_on(true).await?;
    kiosk.record_checkins("walk-in", 5, 2).await?;
    server.api.wait_checkins("xianfeng", 10).await?;
    eventually(WAIT, "the calendar edit to reach the kiosk", || async {
        let acts = kiosk.node().activities().await?;
        Ok(acts
            .iter()
            .any(|(id, a)| id == "clinic" && a.title == "义诊")
            .then_some(()))
    })
    .await?;
    // The server's copy, read back through the reloaded repo, holds
    // every record of both sessions.
    let server_copy = core.repos.find(ledger.clone()).await?.expect("server copy");
    let records =
        server_copy.with_document(|d| linli_core::docs::ledger::checkin_ids(d).map(|c| c.len()))?;
    assert_eq!(records, 10);
    drop(server_copy);
    kiosk.power_off().await;
    Ok(())
}

async fn a_halls_repo_does_not_open_another_halls_documents(store: Store) -> anyhow::Result<()> {
    let (server, mut kiosk, ledger) = server_with_checkins(store, 3, 3).await?;
    let core = server.core()?;
    kiosk.power_off().await;

    let other =
        tokio::time::timeout(WAIT, core.repos.find_in("tuanjiexiang", ledger.clone())).await??;
    assert!(
        other.is_none(),
        "tuanjiexiang's repo must not load xianfeng's ledger"
    );
    let own = core
        .repos
        .find(ledger)
        .await?
        .expect("found in its own hall");
    let records =
        own.with_document(|d| linli_core::docs::ledger::checkin_ids(d).map(|c| c.len()))?;
    assert_eq!(records, 3);
    Ok(())
}

linli_test_kit::on_both_stores! {
    an_idle_hall_is_unloaded_and_loads_again_with_nothing_lost,
    a_halls_repo_does_not_open_another_halls_documents,
}
