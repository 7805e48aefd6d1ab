//! The offline-to-online round trip: records made with no network reach
//! the server's API once the network returns, from one or several kiosks,
//! across kiosk and server restarts, exactly once.

use std::time::Duration;

use linli_test_kit::Store;
use linli_test_kit::{TestKiosk, TestServer, eventually, init_logging};

const WAIT: Duration = Duration::from_secs(30);

async fn wait_count(server: &TestServer, hall: &str, want: u64) -> anyhow::Result<()> {
    eventually(
        WAIT,
        &format!("{want} check-ins in the server API"),
        || async {
            let n = server.api.checkin_count(hall).await?;
            Ok((n == want).then_some(()))
        },
    )
    .await
}

async fn checkins_made_offline_reach_the_server_when_the_network_returns(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let kiosk = TestKiosk::pair(&server, "xianfeng", false).await?;
    kiosk.record_checkins("act-clinic", 25, 1).await?;

    // Offline: all 25 are on disk and waiting; the server has none.
    let status = kiosk.node().status().borrow().clone();
    assert!(!status.online);
    assert_eq!(status.waiting, 25);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.api.checkin_count("xianfeng").await?, 0);

    kiosk.node().go_online()?;
    wait_count(&server, "xianfeng", 25).await?;
    let status = kiosk.node().wait_synced(WAIT).await?;
    assert_eq!(status.waiting, 0);
    assert!(status.online);
    assert!(status.last_sync_ms.is_some());

    // The API shows masked numbers only, with both clocks.
    let list = server.api.get("api/v1/halls/xianfeng/checkins").await?;
    assert_eq!(list["person_times"], 25);
    let first = &list["checkins"][0];
    assert_eq!(
        first["phone_masked"].as_str().map(|s| s.contains("****")),
        Some(true)
    );
    assert!(first["received_ms"].as_i64() >= first["kiosk_at_ms"].as_i64());
    assert_eq!(first["kiosk_id"], kiosk.id.as_str());
    Ok(())
}

async fn two_kiosks_of_one_hall_sync_at_once_and_the_server_has_the_union(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let a = TestKiosk::pair(&server, "xianfeng", true).await?;
    let b = TestKiosk::pair(&server, "xianfeng", true).await?;
    let (ra, rb) = tokio::join!(
        a.record_checkins("act-meal", 40, 1),
        b.record_checkins("act-meal", 35, 2)
    );
    ra?;
    rb?;
    wait_count(&server, "xianfeng", 75).await?;
    a.node().wait_synced(WAIT).await?;
    b.node().wait_synced(WAIT).await?;
    let kiosks = server.api.get("api/v1/kiosks").await?;
    let connected = kiosks
        .as_array()
        .map(|k| k.iter().filter(|k| k["connected"] == true).count());
    assert_eq!(connected, Some(2), "{kiosks}");
    Ok(())
}

async fn a_kiosk_restarted_between_recording_and_syncing_loses_nothing(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let mut kiosk = TestKiosk::pair(&server, "xianfeng", false).await?;
    kiosk.record_checkins("act-class", 30, 3).await?;
    kiosk.power_off().await;
    // Powered back on from its SQLite file, still offline: all still waiting.
    kiosk.power_on(false).await?;
    assert_eq!(kiosk.node().status().borrow().waiting, 30);
    assert_eq!(kiosk.node().checkins_today().await?.len(), 30);
    kiosk.node().go_online()?;
    wait_count(&server, "xianfeng", 30).await?;
    kiosk.node().wait_synced(WAIT).await?;
    Ok(())
}

async fn a_server_restarted_mid_sync_ends_with_every_record_once(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let mut server = TestServer::start_on(store).await?;
    let kiosk = TestKiosk::pair(&server, "xianfeng", false).await?;
    kiosk.record_checkins("act-market", 400, 4).await?;
    kiosk.node().go_online()?;
    // Stop the server as soon as the first records arrive.
    eventually(WAIT, "the first records", || async {
        Ok((server.api.checkin_count("xianfeng").await.unwrap_or(0) > 0).then_some(()))
    })
    .await
    .ok();
    server.restart().await?;
    wait_count(&server, "xianfeng", 400).await?;
    kiosk.node().wait_synced(WAIT).await?;
    // More records after the restart flow too.
    kiosk.record_checkins("act-market", 10, 5).await?;
    wait_count(&server, "xianfeng", 410).await?;
    Ok(())
}

async fn records_sent_again_are_not_duplicated_and_rebuild_agrees(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let mut kiosk = TestKiosk::pair(&server, "xianfeng", false).await?;
    kiosk.record_checkins("act-lecture", 20, 6).await?;
    kiosk.power_off().await;
    // A copy of the kiosk's store as it was before syncing (e.g. restored
    // from a backup): it will send the same records a second time.
    let copy = tempfile::tempdir()?;
    for f in std::fs::read_dir(kiosk.data_dir())? {
        let f = f?;
        std::fs::copy(f.path(), copy.path().join(f.file_name()))?;
    }
    kiosk.power_on(true).await?;
    wait_count(&server, "xianfeng", 20).await?;
    kiosk.node().wait_synced(WAIT).await?;
    kiosk.power_off().await;

    let again = linli_core::KioskNode::open(linli_test_kit::test_options(copy.path())).await?;
    again.wait_synced(WAIT).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.api.checkin_count("xianfeng").await?, 20);

    // The projection rebuilt from the documents says the same.
    let core = server.core()?;
    let rebuilt = linli_sync_engine::projection::rebuild(&core, |_, _| {}).await?;
    assert_eq!(rebuilt.records, 20);
    assert_eq!(rebuilt.quarantined, 0);
    assert_eq!(server.api.checkin_count("xianfeng").await?, 20);
    again.shutdown().await;
    Ok(())
}

/// A kiosk killed between making a day's ledger and its first save
/// reaching the disk (seen under `linli-faults`: a `kill -9` just after the
/// first tap of a day) keeps the day listed but has no data for it. It
/// starts anyway: the ledger is made again from the journal, every record
/// syncs once — here both when the server had the lost ledger already and
/// when it had none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_whose_ledger_never_reached_its_disk_starts_and_loses_nothing() -> anyhow::Result<()>
{
    init_logging();
    let server = TestServer::start().await?;
    for synced_first in [true, false] {
        let hall = if synced_first {
            "xianfeng"
        } else {
            "tuanjiexiang"
        };
        let mut kiosk = TestKiosk::pair(&server, hall, synced_first).await?;
        kiosk.record_checkins("act-clinic", 3, 20).await?;
        if synced_first {
            wait_count(&server, hall, 3).await?;
            kiosk.node().wait_synced(WAIT).await?;
        }
        let today = kiosk.node().local_date(kiosk.node().now_ms());
        let ledger = kiosk
            .node()
            .ledger_id(&today)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no ledger for today"))?;
        kiosk.power_off().await;
        // What the crash leaves: the day listed, no data for its document.
        let store = linli_core::storage::SqliteStorage::open(
            &kiosk.data_dir().join(linli_core::node::DOCUMENTS_FILE),
            linli_core::sqlite::DbOptions::default(),
        )?;
        assert!(store.delete_document(&ledger)? > 0);
        drop(store);

        kiosk.power_on(false).await?;
        // Every record is in the day's ledger again, and waits to sync.
        assert_eq!(kiosk.node().checkins_today().await?.len(), 3);
        assert_eq!(kiosk.node().status().borrow().waiting, 3);
        kiosk.record_checkins("act-clinic", 2, 21).await?;
        kiosk.node().go_online()?;
        kiosk.node().wait_synced(WAIT).await?;
        wait_count(&server, hall, 5).await?;
        // Nothing counted twice, however long it is given.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(server.api.checkin_count(hall).await?, 5);
    }
    Ok(())
}

async fn one_resident_tapping_twice_at_once_is_counted_once_and_reaches_the_server_once(
    store: Store,
) -> anyhow::Result<()> {
    use linli_core::node::{CheckInOutcome, NewCheckIn, ResidentInput};
    init_logging();
    let server = TestServer::start_on(store).await?;
    let kiosk = TestKiosk::pair(&server, "xianfeng", true).await?;
    let node = kiosk.node().clone();
    let phone = linli_test_kit::test_phone(7, 1)?;
    let with_name = |name: Option<&str>| ResidentInput {
        phone: phone.clone(),
        name: name.map(str::to_string),
    };
    // The name screen was left with a name: the resident's part of the
    // record is sealed ahead, and the tap takes it.
    node.prepare_resident(&with_name(Some("张阿姨"))).await?;
    let first = node
        .record_checkin(NewCheckIn {
            activity_id: "act-talk".into(),
            resident: Some(with_name(Some("张阿姨"))),
            headcount: 1,
            companions: 0,
        })
        .await?;
    assert!(matches!(first, CheckInOutcome::Recorded(_)));
    // A double tap, and a second finger, all at once, one of them with a
    // reference sealed ahead for another name.
    node.prepare_resident(&with_name(None)).await?;
    let taps: Vec<_> = (0..6)
        .map(|i| {
            let (node, resident) = (node.clone(), with_name((i % 2 == 0).then_some("张阿姨")));
            tokio::spawn(async move {
                node.record_checkin(NewCheckIn {
                    activity_id: "act-clinic".into(),
                    resident: Some(resident),
                    headcount: 1,
                    companions: 0,
                })
                .await
            })
        })
        .collect();
    let mut recorded = 0;
    for t in taps {
        match t.await?? {
            CheckInOutcome::Recorded(_) => recorded += 1,
            CheckInOutcome::AlreadyCheckedIn => {}
        }
    }
    assert_eq!(recorded, 1, "one check-in, five told they are in already");
    assert_eq!(node.checkins_today().await?.len(), 2);
    wait_count(&server, "xianfeng", 2).await?;
    let status = node.wait_synced(WAIT).await?;
    assert_eq!(status.waiting, 0);
    // The server opened the reference sealed ahead: the number (masked)
    // and the name chosen on the name screen.
    let list = server.api.get("api/v1/halls/xianfeng/checkins").await?;
    assert_eq!(list["person_times"], 2);
    let talk = list["checkins"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["activity_id"] == "act-talk"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(talk["name"], "张阿姨", "{list}");
    assert!(
        talk["phone_masked"]
            .as_str()
            .is_some_and(|m| m.contains("****"))
    );
    Ok(())
}

/// A power cut with the network down too: the kiosk starts again with no
/// server to reach, and still shows the hall's activities (from its own
/// store) and checks residents in to them; the check-ins reach the server
/// when the network returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_restarted_with_no_network_still_shows_the_days_activities() -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start().await?;
    let core = server.core()?;
    let act = linli_test_kit::open_activity(&core, "xianfeng", "health_clinic", "健康义诊").await?;
    let mut kiosk = TestKiosk::pair(&server, "xianfeng", true).await?;
    eventually(WAIT, "the calendar at the kiosk", || async {
        Ok((!kiosk.node().activities().await?.is_empty()).then_some(()))
    })
    .await?;
    kiosk.power_off().await;
    kiosk.power_on(false).await?;
    // The activities, and the status strip the screens go by.
    let shown = eventually(WAIT, "the calendar from the kiosk's own store", || async {
        let acts = kiosk.node().activities().await?;
        let ready = kiosk.node().status().borrow().calendar_ready;
        Ok((!acts.is_empty() && ready).then_some(acts))
    })
    .await?;
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].1.title, "健康义诊");
    assert!(!kiosk.node().status().borrow().online);
    kiosk.record_checkins(&act, 3, 9).await?;
    kiosk.node().go_online()?;
    kiosk.node().wait_synced(WAIT).await?;
    wait_count(&server, "xianfeng", 3).await?;
    Ok(())
}

linli_test_kit::on_both_stores! {
    checkins_made_offline_reach_the_server_when_the_network_returns,
    two_kiosks_of_one_hall_sync_at_once_and_the_server_has_the_union,
    a_kiosk_restarted_between_recording_and_syncing_loses_nothing,
    a_server_restarted_mid_sync_ends_with_every_record_once,
    records_sent_again_are_not_duplicated_and_rebuild_agrees,
    one_resident_tapping_twice_at_once_is_counted_once_and_reaches_the_server_once,
}
