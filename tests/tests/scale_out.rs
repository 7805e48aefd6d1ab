//! Several instances on one PostgreSQL, as a district runs them
//! (`linli_sync_engine::cluster`): kiosks of one hall on different
//! instances see each other's documents, the calendar and the admins'
//! replies within 2 s, whichever instance holds the hall; behind a real
//! HAProxy, an instance killed with `kill -9` during a burst of records
//! loses nothing and its hall is served again within 10 s.

use std::time::{Duration, Instant};

use linli_core::{
    docs::directory,
    model::{RequestCategory, RequestStatus},
    node::ResidentInput,
};
use linli_test_kit::{
    Balancer, Store, TestKiosk, TestServer, eventually, open_activity, test_options, test_phone,
};
use linli_tests::fault::ServerProc;

/// The kiosks' documents `kiosk` knows of through the hall's directory:
/// (kiosk id, kind) of every entry.
async fn directory_kiosks(kiosk: &TestKiosk) -> anyhow::Result<Vec<String>> {
    let url: samod::AutomergeUrl = kiosk.node().config().directory_url.parse()?;
    let bytes = kiosk
        .node()
        .document_save(&url.document_id().to_string())
        .await?;
    let doc = automerge::Automerge::load(&bytes)?;
    Ok(directory::entries(&doc)?
        .into_iter()
        .filter_map(|(key, _)| directory::parse_entry_key(&key).map(|(_, k, _)| k.to_string()))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kiosks_of_one_hall_on_two_instances_see_each_other_the_calendar_and_replies()
-> anyhow::Result<()> {
    let one = TestServer::start_on(Store::Postgres).await?;
    let two = one.start_beside().await?;
    let a = TestKiosk::pair(&one, "xianfeng", true).await?;
    let b = TestKiosk::pair(&two, "xianfeng", true).await?;
    let within = Duration::from_secs(2);

    // The holder's peer endpoint takes only the instances' secret: a
    // kiosk's token, a wrong secret or none is refused before any upgrade.
    let peer = linli_sync_engine::cluster::Cluster::peer_url(one.url.as_str(), "xianfeng")?;
    for (what, bearer) in [
        ("a kiosk token", a.token.as_str()),
        ("a wrong secret", "0123abcd"),
    ] {
        let refused = linli_sync_engine::relay::dial(
            &peer,
            [linli_sync_engine::relay::secret_header(bearer)?],
        )
        .await;
        assert!(
            matches!(
                refused,
                Err(linli_sync_engine::relay::DialProblem::Refused(401))
            ),
            "{what}: {:?}",
            refused.as_ref().err()
        );
    }
    let refused = linli_sync_engine::relay::dial(&peer, []).await;
    assert!(
        matches!(
            refused,
            Err(linli_sync_engine::relay::DialProblem::Refused(401))
        ),
        "no secret: {:?}",
        refused.as_ref().err()
    );

    // The calendar, edited on the instance that does not hold the hall
    // (`one` made it, so `one` holds it): both kiosks have it within 2 s.
    let t = Instant::now();
    let activity = open_activity(&*two.core()?, "xianfeng", "clinic", "义诊").await?;
    for (name, kiosk) in [("A", &a), ("B", &b)] {
        eventually(within, &format!("the activity at kiosk {name}"), || async {
            let acts = kiosk.node().activities().await?;
            Ok(acts.iter().any(|(id, _)| *id == activity).then_some(()))
        })
        .await?;
    }
    println!(
        "calendar edit on the relaying instance at both kiosks: {:?}",
        t.elapsed()
    );

    // Records made at each kiosk are on both instances within 2 s.
    a.record_checkins(&activity, 3, 1).await?;
    b.record_checkins(&activity, 2, 2).await?;
    let t = Instant::now();
    one.api.wait_checkins_within("xianfeng", 5, within).await?;
    two.api.wait_checkins_within("xianfeng", 5, within).await?;
    println!(
        "five check-ins from kiosks on two instances, counted on both: {:?}",
        t.elapsed()
    );

    // Each kiosk sees the other's documents in the hall's directory.
    for (name, kiosk, other) in [("A", &a, &b), ("B", &b, &a)] {
        eventually(
            within,
            &format!("kiosk {name} seeing the other's documents"),
            || async {
                Ok(directory_kiosks(kiosk)
                    .await?
                    .contains(&other.id)
                    .then_some(()))
            },
        )
        .await?;
    }

    // A request at kiosk A (on `one`), answered through `two`'s API,
    // reaches kiosk A within 2 s.
    let phone = test_phone(7, 1)?;
    let id = a
        .node()
        .record_request(
            RequestCategory::Sanitation,
            "楼道灯坏了".into(),
            Some(ResidentInput {
                phone: phone.clone(),
                name: None,
            }),
            true,
        )
        .await?;
    eventually(
        Duration::from_secs(10),
        "the request on instance two",
        || async {
            let v = two.api.get("api/v1/halls/xianfeng/requests").await?;
            Ok((v.as_array().map(Vec::len) == Some(1)).then_some(()))
        },
    )
    .await?;
    let t = Instant::now();
    let (status, body) = two
        .api
        .post(
            &format!("api/v1/halls/xianfeng/requests/{id}/reply"),
            &serde_json::json!({ "status": "resolved", "reply": "已修好" }),
        )
        .await?;
    anyhow::ensure!(status == 204, "reply through instance two: {status} {body}");
    let mine = eventually(within, "the reply at kiosk A", || async {
        let mine = a.node().my_requests(&phone).await?;
        Ok((mine.first().map(|r| r.status) == Some(RequestStatus::Resolved)).then_some(mine))
    })
    .await?;
    assert_eq!(mine[0].reply.as_deref(), Some("已修好"));
    println!(
        "reply on the relaying instance at the kiosk: {:?}",
        t.elapsed()
    );
    Ok(())
}

/// Check-ins the kiosks acknowledged, by record id.
async fn record(kiosk: &TestKiosk, activity: &str, n: usize, seed: u32) -> anyhow::Result<()> {
    kiosk.record_checkins(activity, n, seed).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_killed_during_a_burst_loses_nothing_and_its_hall_moves_within_10_s()
-> anyhow::Result<()> {
    // The database and the halls, made by a first instance in this
    // process that then stops (its leases given back).
    let mut first = TestServer::start_on(Store::Postgres).await?;
    let activity = open_activity(&*first.core()?, "xianfeng", "clinic", "义诊").await?;
    let url = first.database_url.clone().expect("postgres");
    let (kiosk_a, token_a) = first.api.add_kiosk("xianfeng", "一号机").await?;
    let (kiosk_b, token_b) = first.api.add_kiosk("xianfeng", "二号机").await?;
    let admin = first.api.token.clone();
    let key = first
        .data_dir()
        .join(linli_sync_engine::residents::KEY_FILE);
    first.stop().await?;

    // Two instances as processes, each with its own data directory and a
    // copy of the residents' key, behind HAProxy.
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_linli-node"));
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let mut instances = Vec::new();
    for dir in &dirs {
        std::fs::copy(
            &key,
            dir.path().join(linli_sync_engine::residents::KEY_FILE),
        )?;
        let mut p = ServerProc::new(dir.path().to_path_buf())?;
        p.database_url = Some(url.clone());
        p.start(&bin).await?;
        instances.push(p);
    }
    let balancer = Balancer::start(&instances.iter().map(|p| p.addr).collect::<Vec<_>>())?;
    let api = linli_test_kit::Api::new(balancer.url.clone(), admin);

    // Two kiosks of the hall, paired and syncing through the balancer.
    let mut kiosks = Vec::new();
    for (id, token) in [(kiosk_a, token_a), (kiosk_b, token_b)] {
        let dir = tempfile::tempdir()?;
        let node =
            linli_core::KioskNode::pair(test_options(dir.path()), &balancer.url, &token).await?;
        kiosks.push(TestKiosk::from_parts(node, id, token, dir));
    }
    record(&kiosks[0], &activity, 5, 1).await?;
    record(&kiosks[1], &activity, 5, 2).await?;
    api.wait_checkins_within("xianfeng", 10, Duration::from_secs(20))
        .await?;

    // The instance that holds the hall, killed during a burst.
    let holder = {
        let leases = linli_store_postgres::PgStore::open(&url).await?.leases();
        let lease = leases.holder("xianfeng").await?.expect("the hall is held");
        let address = lease.address;
        instances
            .iter()
            .position(|p| address.ends_with(&p.addr.to_string()))
            .expect("the hall is held by one of the two instances")
    };
    let burst = {
        let (k0, k1) = (&kiosks[0], &kiosks[1]);
        let activity = activity.clone();
        async move {
            for round in 0..10u32 {
                record(k0, &activity, 2, 10 + round).await?;
                record(k1, &activity, 2, 30 + round).await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::Ok(())
        }
    };
    let kill = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        instances[holder].kill().await;
        Instant::now()
    };
    let (recorded, killed_at) = tokio::join!(burst, kill);
    recorded?;
    // One more record after the kill: when it is on the server, the hall
    // has a new holder.
    record(&kiosks[0], &activity, 1, 50).await?;
    api.wait_checkins_within("xianfeng", 51, Duration::from_secs(30))
        .await?;
    let moved = killed_at.elapsed();
    println!("hall served again {moved:?} after its holder was killed");
    assert!(
        moved <= Duration::from_secs(10),
        "the hall moved in {moved:?}, more than 10 s"
    );
    // Every acknowledged record once: 51 check-ins were acknowledged (each
    // `record` call returns once its rows are on the kiosk's disk), and
    // the server has 51 rows, each a different record.
    let v = api.get("api/v1/halls/xianfeng/checkins?limit=1000").await?;
    let rows = v["checkins"].as_array().cloned().unwrap_or_default();
    let ids: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(
        rows.len(),
        51,
        "every acknowledged check-in is on the server"
    );
    assert_eq!(ids.len(), 51, "each once");
    for p in &mut instances {
        p.kill().await;
    }
    Ok(())
}
