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
use linli_test_kit::{Store, TestKiosk, TestServer, eventually, open_activity, test_phone};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_killed_during_a_burst_loses_nothing_and_its_hall_moves_within_10_s()
-> anyhow::Result<()> {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_linli-node"));
    let run = linli_tests::failover::kill_the_holder(&bin, 2).await?;
    println!(
        "hall served again {:?} after its holder was killed",
        run.moved
    );
    assert_eq!(run.acknowledged, 51, "the scenario's check-ins");
    assert_eq!(run.rows, 51, "every acknowledged check-in is on the server");
    assert_eq!(run.distinct, 51, "each once");
    assert!(
        run.moved <= Duration::from_secs(10),
        "the hall moved in {:?}, more than 10 s",
        run.moved
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resident_is_erased_through_an_instance_that_does_not_serve_their_hall()
-> anyhow::Result<()> {
    let one = TestServer::start_on(Store::Postgres).await?;
    let two = one.start_beside().await?;
    // Kiosk A syncs through `one`, which made the hall and holds it.
    let a = TestKiosk::pair(&one, "xianfeng", true).await?;
    let activity = open_activity(&*one.core()?, "xianfeng", "clinic", "义诊").await?;
    a.record_checkins(&activity, 3, 5).await?;
    one.api
        .wait_checkins_within("xianfeng", 3, Duration::from_secs(10))
        .await?;

    // Erased through `two`: it asks `one` for the hall, `one` hands it
    // over at its next renewal, and the resident's documents are rebuilt.
    let phone = test_phone(5, 0)?;
    let t = Instant::now();
    let erased = linli_sync_engine::erasure::erase_resident(&two.core()?, &phone, "admin").await?;
    assert!(erased.is_some(), "the resident had records");
    println!("erasure through the other instance: {:?}", t.elapsed());
    for server in [&one, &two] {
        let found = linli_sync_engine::erasure::find(&server.core()?, &phone).await?;
        assert_eq!(found.checkins, 0, "nothing of the resident is left");
        // The visit still counts, without the person (once the rebuilt
        // ledger is projected).
        server
            .api
            .wait_checkins_within("xianfeng", 3, Duration::from_secs(10))
            .await?;
    }
    // The hall goes on serving its kiosk: once the kiosk has taken up its
    // rebuilt ledger and synced, a new check-in reaches the server.
    let wait = Duration::from_secs(30);
    a.node().wait_synced(wait).await?;
    a.record_checkins(&activity, 1, 6).await?;
    a.node().wait_synced(wait).await?;
    two.api.wait_checkins_within("xianfeng", 4, wait).await?;
    Ok(())
}

/// Every store used no more of any account than it was granted, and no
/// more was committed of the volunteer's points or the rice than there is.
fn assert_covered(view: &linli_core::escrow::Escrow, points: &str, earned: u64) {
    for spender in view.spenders() {
        for account in [points, "stock:rice"] {
            assert!(
                view.used(&spender, account) <= view.granted(&spender, account),
                "{spender} used more of {account} than it was granted"
            );
        }
    }
    assert!(view.committed(points) <= earned, "points over-committed");
    assert!(view.committed("stock:rice") <= 3, "rice over-committed");
}

/// The 爱心超市 across a change of the hall's holder: two kiosks on two
/// instances redeem through the first holder; it stops; the other
/// instance takes the hall over and goes on granting from the same
/// grants document, counting what was spent before: the volunteer's new
/// points are shared out, and nothing is ever granted twice or spent
/// beyond a grant, before or after the old instance returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_halls_grants_survive_a_change_of_holder_and_nothing_is_granted_twice()
-> anyhow::Result<()> {
    use linli_core::node::Redemption;
    use linli_sync_engine::points as server_points;
    let wait = Duration::from_secs(60);
    let mut one = TestServer::start_on(Store::Postgres).await?;
    let two = one.start_beside().await?;
    let core = one.core()?;
    core.tables
        .set_catalogue_item("xianfeng", "rice", 4)
        .await?;
    core.tables
        .set_catalogue_stock("xianfeng", "rice", 3)
        .await?;
    // `one` makes the hall's documents, so it holds the hall.
    let a = TestKiosk::pair(&one, "xianfeng", true).await?;
    let b = TestKiosk::pair(&two, "xianfeng", true).await?;
    let phone = test_phone(17, 1)?;
    let pseudonym = core.residents.pseudonym(&phone)?;
    let points = format!("points:{pseudonym}");
    one.seed_shift("xianfeng", &pseudonym, "shift-1", 240, None)
        .await?;
    eventually(wait, "each kiosk holds 4 of the 8 points", || async {
        let here = (
            a.node().points_here(&phone).await?,
            b.node().points_here(&phone).await?,
        );
        Ok((here == (4, 4)).then_some(()))
    })
    .await?;
    let grants_before = server_points::grants_doc(&core, "xianfeng").await?;
    for k in [&a, &b] {
        assert!(matches!(
            k.node().redeem(&phone, "rice", 4).await?,
            Redemption::Redeemed { .. }
        ));
        k.node().wait_synced(wait).await?;
    }
    eventually(wait, "both redemptions on the server", || async {
        let view = server_points::escrow_of(&core, "xianfeng").await?;
        Ok((view.spent(&points) == 8).then_some(()))
    })
    .await?;

    // The holder stops; two more hours of service. The other instance
    // takes the hall over and shares out the 4 new points from the same
    // grants document, what was spent counted.
    one.stop().await?;
    let t = Instant::now();
    two.seed_shift("xianfeng", &pseudonym, "shift-2", 120, None)
        .await?;
    let other = two.core()?;
    eventually(
        wait,
        "kiosk B granted its share by the new holder",
        || async { Ok((b.node().points_here(&phone).await? == 2).then_some(())) },
    )
    .await?;
    println!("grants went on {:?} after the holder stopped", t.elapsed());
    assert_eq!(
        server_points::grants_doc(&other, "xianfeng").await?,
        grants_before,
        "the same grants document"
    );
    let view = server_points::escrow_of(&other, "xianfeng").await?;
    assert_eq!(view.spent(&points), 8, "what was spent before, counted");
    assert_covered(&view, &points, 12);
    // Neither kiosk holds enough for another bag of rice, nor could the
    // two together have been granted it twice.
    assert_eq!(
        b.node().redeem(&phone, "rice", 4).await?,
        Redemption::Refused {
            points_here: 2,
            stock_here: b.node().stock_here("rice").await?
        }
    );

    // The old instance returns; kiosk A, back online, gets its share.
    one.restart().await?;
    eventually(wait, "kiosk A granted its share", || async {
        Ok((a.node().points_here(&phone).await? == 2).then_some(()))
    })
    .await?;
    assert!(matches!(
        a.node().redeem(&phone, "rice", 4).await?,
        Redemption::Refused { points_here: 2, .. }
    ));
    for server in [&one, &two] {
        let view = server_points::escrow_of(&*server.core()?, "xianfeng").await?;
        assert_covered(&view, &points, 12);
        assert_eq!(view.spent("stock:rice"), 2);
    }
    Ok(())
}
