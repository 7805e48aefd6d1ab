//! Issue 16, the server's side of redemption, on both stores: each hall
//! gets one grants document, which its kiosks find in the hall's
//! directory and read but cannot change; the server grants only within
//! what is left of an account; a kiosk store's spends document is its
//! own (claimed as it arrives, read by the hall's other kiosks, written by
//! none of them), and what it spends is counted against its grants.

use std::{str::FromStr, time::Duration};

use linli_core::{KioskNode, node::Redemption, phone::PhoneNumber};
use linli_core::{
    docs::{
        DocKind, directory,
        points::{self, Grant, Part, Spend},
    },
    escrow::{self, Escrow},
    protocol,
};
use linli_sync_engine::points as server_points;
use linli_test_kit::{RawPeer, Store, TestKiosk, TestServer, eventually, init_logging, test_phone};
use samod::{AutomergeUrl, DocumentId};

const WAIT: Duration = Duration::from_secs(20);

fn part(account: &str, amount: u64) -> Part {
    Part {
        account: account.into(),
        amount,
    }
}

/// Write a spend of 5 of a volunteer's points into a spends document,
/// with no check (what a forger does).
fn spend_five(d: &mut automerge::Automerge) -> linli_core::Result<()> {
    points::put_spend(
        d,
        &linli_core::ids::RecordId::new().to_string(),
        &Spend {
            parts: vec![part("points:volunteer", 5)],
            purpose: "soap".into(),
            at_ms: 0,
            owed: None,
        },
    )
}

/// A raw kiosk of `hall` and the hall's directory as it sees it.
async fn kiosk(
    server: &TestServer,
    hall: &str,
) -> anyhow::Result<(String, RawPeer, samod::DocHandle)> {
    let (id, token) = server.api.add_kiosk(hall, "爱心超市").await?;
    let peer = RawPeer::connect(server, &token, &protocol::kiosk_peer_id(&id)).await?;
    let config = protocol::fetch_kiosk_config(&server.url, &token, &Default::default()).await?;
    let dir_id = AutomergeUrl::from_str(&config.directory_url)?
        .document_id()
        .clone();
    let dir = tokio::time::timeout(WAIT, peer.repo.find(dir_id))
        .await??
        .ok_or_else(|| anyhow::anyhow!("the directory is readable"))?;
    Ok((id, peer, dir))
}

/// The document a directory entry names.
fn entry(dir: &samod::DocHandle, key: &str) -> anyhow::Result<Option<DocumentId>> {
    let entries = dir.with_document(|d| directory::entries(d))?;
    Ok(entries
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, url)| AutomergeUrl::from_str(&url).map(|u| u.document_id().clone()))
        .transpose()?)
}

async fn a_halls_grants_are_the_servers_and_a_stores_spends_are_its_own(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let core = server.core()?;
    let (k1, peer, dir) = kiosk(&server, "xianfeng").await?;

    // Made on first need, once, and listed in the hall's directory.
    let grants_id = server_points::grants_doc(&core, "xianfeng").await?;
    assert_eq!(
        server_points::grants_doc(&core, "xianfeng").await?,
        grants_id
    );
    let listed = eventually(WAIT, "the grants document listed", || async {
        entry(&dir, server_points::GRANTS_ENTRY)
    })
    .await?;
    assert_eq!(listed, grants_id);
    assert_ne!(
        server_points::grants_doc(&core, "tuanjiexiang").await?,
        grants_id,
        "each hall its own"
    );
    assert!(
        server_points::grants_doc(&core, "nowhere").await.is_err(),
        "no hall, no grants"
    );
    assert!(core.tables.hall_doc("nowhere", "grants").await?.is_none());

    // The server grants within what is left of an account.
    let spender = format!("{k1}.store-1");
    let g = |amount| Grant {
        spender: spender.clone(),
        part: part("points:volunteer", amount),
        at_ms: 0,
    };
    server_points::grant(&core, "xianfeng", g(30), 50)
        .await?
        .expect("30 of 50");
    let short = server_points::grant(&core, "xianfeng", g(30), 50)
        .await?
        .expect_err("only 20 left");
    assert_eq!((short.wanted, short.available), (30, 20));
    server_points::grant(
        &core,
        "xianfeng",
        Grant {
            spender: spender.clone(),
            part: part("stock:rice", 3),
            at_ms: 0,
        },
        10,
    )
    .await?
    .expect("3 bags of 10");

    // The kiosk reads them, and cannot add one of its own.
    let grants = tokio::time::timeout(WAIT, peer.repo.find(grants_id.clone()))
        .await??
        .ok_or_else(|| anyhow::anyhow!("the grants are readable"))?;
    eventually(WAIT, "both grants at the kiosk", || async {
        Ok((grants.with_document(|d| points::grant_count(d))? == 2).then_some(()))
    })
    .await?;
    // The store's spends document: made by the kiosk, listed, claimed as
    // it arrives; what it spends within its grants counts on the server.
    let spends = peer
        .repo
        .create(points::new_spends("xianfeng", &k1, &spender)?)
        .await?;
    let key = directory::entry_key(DocKind::Spends, &k1, &spender);
    let url = spends.url().to_string();
    dir.with_document(|d| directory::register(d, &key, &url))?;
    let redeem = Spend {
        parts: vec![part("points:volunteer", 25), part("stock:rice", 1)],
        purpose: "rice".into(),
        at_ms: 0,
        owed: None,
    };
    let mine = grants.with_document(|g| spends.with_document(|s| Escrow::read(g, &[&*s])))?;
    let id = linli_core::ids::RecordId::new().to_string();
    spends
        .with_document(|d| escrow::spend(d, &mine, &id, &redeem))?
        .expect("25 of 30 points, 1 of 3 bags");
    let too_much = Spend {
        parts: vec![part("points:volunteer", 6)],
        purpose: "soap".into(),
        at_ms: 0,
        owed: None,
    };
    let mine = grants.with_document(|g| spends.with_document(|s| Escrow::read(g, &[&*s])))?;
    let id = linli_core::ids::RecordId::new().to_string();
    let short = spends
        .with_document(|d| escrow::spend(d, &mine, &id, &too_much))?
        .expect_err("5 left");
    assert_eq!(short.available, 5);
    let spends_id = spends.document_id().clone();
    let view = eventually(WAIT, "the spend counted on the server", || async {
        let view = server_points::escrow_of(&core, "xianfeng").await?;
        Ok((view.spent("points:volunteer") == 25).then_some(view))
    })
    .await?;
    assert_eq!(view.available(&spender, "points:volunteer"), 5);
    assert_eq!(view.available(&spender, "stock:rice"), 2);

    // A grant the kiosk writes into its copy never reaches the server.
    grants.with_document(|d| {
        points::put_grant(
            d,
            &linli_core::ids::RecordId::new().to_string(),
            &Grant {
                spender: spender.clone(),
                part: part("points:volunteer", 1_000),
                at_ms: 0,
            },
        )
    })?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let view = server_points::escrow_of(&core, "xianfeng").await?;
    assert_eq!(view.granted(&spender, "points:volunteer"), 30);
    let owner = core.tables.doc_owner(&spends_id.to_string()).await?;
    assert_eq!(
        owner.and_then(|o| o.owner_kiosk).as_deref(),
        Some(k1.as_str()),
        "claimed by the kiosk that delivered it"
    );

    // Another kiosk of the hall reads it but cannot spend from it.
    let (other_id, other, other_dir) = kiosk(&server, "xianfeng").await?;
    let theirs = tokio::time::timeout(WAIT, other.repo.find(spends_id.clone()))
        .await??
        .ok_or_else(|| anyhow::anyhow!("readable by the hall's kiosks"))?;
    theirs.with_document(spend_five)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        server_points::escrow_of(&core, "xianfeng")
            .await?
            .spent("points:volunteer"),
        25,
        "another kiosk's write to a store's spends never reaches the server"
    );

    // Nor can it pass off a document of its own as that store's: listed
    // under its own kiosk, a document naming another store counts for
    // neither.
    let forged = other
        .repo
        .create(points::new_spends("xianfeng", &other_id, &spender)?)
        .await?;
    forged.with_document(spend_five)?;
    let key = directory::entry_key(DocKind::Spends, &other_id, &format!("{other_id}.x"));
    let url = forged.url().to_string();
    other_dir.with_document(|d| directory::register(d, &key, &url))?;
    eventually(WAIT, "the forged document on the server", || async {
        let owner = core
            .tables
            .doc_owner(&forged.document_id().to_string())
            .await?;
        Ok(owner.map(|_| ()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let view = server_points::escrow_of(&core, "xianfeng").await?;
    assert_eq!(
        view.spent("points:volunteer"),
        25,
        "the forged spend is not counted"
    );

    // The forged spend is quarantined, as any record naming another
    // kiosk than the one that delivered it; nothing else is.
    let quarantined = eventually(WAIT, "the forged spend quarantined", || async {
        let q = server
            .sql_strings("SELECT kiosk_id || ': ' || reason FROM quarantine")
            .await?;
        Ok((!q.is_empty()).then_some(q))
    })
    .await?;
    assert_eq!(
        quarantined,
        [format!("{other_id}: record names kiosk \"{k1}\"")]
    );
    let projected = core.projection.redemptions("xianfeng", 0, i64::MAX).await?;
    assert_eq!(projected.len(), 1, "the store's own redemption, once");
    assert_eq!(
        (projected[0].points, projected[0].item.as_str()),
        (25, "rice")
    );
    Ok(())
}

/// The case, with real kiosks: two kiosks of a hall go offline,
/// one volunteer redeems at both until each refuses (one of them restarted
/// on the way, still offline); back online, every redemption is counted
/// once, no balance went below zero and the stock is right.
async fn a_volunteer_redeems_at_two_offline_kiosks_until_each_refuses(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let core = server.core()?;
    let mut a = TestKiosk::pair(&server, "xianfeng", true).await?;
    let b = TestKiosk::pair(&server, "xianfeng", true).await?;
    let phone = test_phone(16, 1)?;
    let account = format!("points:{}", core.residents.pseudonym(&phone)?);
    // The hall's catalogue: rice at 30 points (6 bags), oil at 20 (4
    // bottles), soap at 1 (2 bars); the server shares the stock between
    // the two kiosks' stores by itself.
    for (item, points, stock) in [("rice", 30, 6), ("oil", 20, 4), ("soap", 1, 2)] {
        core.tables
            .set_catalogue_item("xianfeng", item, points)
            .await?;
        assert!(
            core.tables
                .set_catalogue_stock("xianfeng", item, stock)
                .await?
        );
    }
    // Of the volunteer's 100 points, it grants each store half here.
    for k in [&a, &b] {
        let spender = k.node().spender().await?;
        for (acc, amount, total) in [(account.as_str(), 50, 100)] {
            let g = Grant {
                spender: spender.clone(),
                part: part(acc, amount),
                at_ms: 0,
            };
            server_points::grant(&core, "xianfeng", g, total)
                .await?
                .expect("within the total");
        }
    }
    for k in [&a, &b] {
        eventually(
            WAIT,
            "the grants and the catalogue at the kiosk",
            || async {
                let shop = k.node().shop(&phone).await?;
                let stock: Vec<(&str, u64, u64)> = shop
                    .items
                    .iter()
                    .map(|i| (i.item.as_str(), i.points, i.stock_here))
                    .collect();
                Ok((shop.points_here == 50
                    && stock == [("soap", 1, 1), ("oil", 20, 2), ("rice", 30, 3)])
                .then_some(()))
            },
        )
        .await?;
        k.node().go_offline();
    }
    assert_eq!(
        a.node().redeem(&phone, "rice", 25).await?,
        Redemption::NotOffered,
        "not at a price other than the catalogue's"
    );
    assert_eq!(
        a.node().redeem(&phone, "gold", 1).await?,
        Redemption::NotOffered,
        "nor an item the catalogue lacks"
    );

    let redeemed = |r: Redemption| match r {
        Redemption::Redeemed { reference, .. } => !reference.is_empty(),
        Redemption::Refused { .. } | Redemption::NotOffered => false,
    };
    assert!(redeemed(a.node().redeem(&phone, "rice", 30).await?));
    // Restarted with no network, after a crash that left its spends
    // document without the spend (the journal had it): its rights and
    // spends are still there, and it cannot redeem the 30 points again.
    let spends = a.node().spends_id().await?.expect("made");
    a.power_off().await;
    let docs = linli_core::storage::SqliteStorage::open(
        &a.data_dir().join(linli_core::node::DOCUMENTS_FILE),
        linli_core::sqlite::DbOptions::default(),
    )?;
    assert!(docs.delete_document(&spends)? > 0);
    drop(docs);
    a.power_on(false).await?;
    let held = eventually(WAIT, "the grants from the kiosk's own store", || async {
        let here = a.node().points_here(&phone).await?;
        Ok((here > 0).then_some(here))
    })
    .await?;
    assert_eq!(held, 20);
    assert_eq!(
        a.node().redeem(&phone, "rice", 30).await?,
        Redemption::Refused {
            points_here: 20,
            stock_here: 2
        },
        "this kiosk holds 20 of the volunteer's points"
    );
    assert!(redeemed(a.node().redeem(&phone, "oil", 20).await?));
    assert!(redeemed(b.node().redeem(&phone, "rice", 30).await?));
    assert!(redeemed(b.node().redeem(&phone, "oil", 20).await?));
    assert_eq!(
        b.node().redeem(&phone, "soap", 1).await?,
        Redemption::Refused {
            points_here: 0,
            stock_here: 1
        }
    );

    // Back online: each redemption counted once, nothing below zero.
    for k in [&a, &b] {
        k.node().go_online()?;
        k.node().wait_synced(WAIT).await?;
    }
    let view = eventually(WAIT, "four redemptions on the server", || async {
        let view = server_points::escrow_of(&core, "xianfeng").await?;
        Ok((view.spent("stock:rice") + view.spent("stock:oil") == 4).then_some(view))
    })
    .await?;
    assert_eq!(view.spent(&account), 100, "every point once");
    assert_eq!(view.committed(&account), 100, "never more than earned");
    assert_eq!((view.spent("stock:rice"), view.spent("stock:oil")), (2, 2));
    // And in the projection, once each: what the console lists and
    // exports.
    let core = server.core()?;
    let rows = eventually(WAIT, "four redemptions projected", || async {
        let rows = core.projection.redemptions("xianfeng", 0, i64::MAX).await?;
        Ok((rows.len() == 4).then_some(rows))
    })
    .await?;
    let pseudonym = account.strip_prefix("points:").map(str::to_string);
    assert!(rows.iter().all(|r| r.pseudonym == pseudonym));
    assert_eq!(rows.iter().map(|r| r.points).sum::<i64>(), 100);
    let mut items: Vec<&str> = rows.iter().map(|r| r.item.as_str()).collect();
    items.sort_unstable();
    assert_eq!(items, ["oil", "oil", "rice", "rice"]);
    assert!(
        rows.iter()
            .all(|r| r.kiosk_id == a.id || r.kiosk_id == b.id)
    );
    for k in [&a, &b] {
        let spender = k.node().spender().await?;
        assert_eq!(view.available(&spender, &account), 0);
        assert_eq!(view.available(&spender, "stock:rice"), 2);
        assert_eq!(view.available(&spender, "stock:oil"), 1);
    }
    let quarantined = server.sql_strings("SELECT reason FROM quarantine").await?;
    assert!(quarantined.is_empty(), "{quarantined:?}");
    Ok(())
}

/// A closed volunteer shift of `minutes` in hall xianfeng (see
/// `TestServer::seed_shift`).
async fn seed_shift(
    server: &TestServer,
    pseudonym: &str,
    shift: &str,
    minutes: i64,
) -> anyhow::Result<()> {
    seed_shift_at(server, pseudonym, shift, minutes, None).await
}

/// [`seed_shift`] serving activity `activity`, if one.
async fn seed_shift_at(
    server: &TestServer,
    pseudonym: &str,
    shift: &str,
    minutes: i64,
    activity: Option<&str>,
) -> anyhow::Result<()> {
    server
        .seed_shift("xianfeng", pseudonym, shift, minutes, activity)
        .await
}

/// A hall whose catalogue has rice at 4 points, 3 bags in stock, a kiosk
/// of it, and a volunteer with three hours of service (6 points) whom the
/// server has topped the kiosk up for (6 points, 3 bags): the server,
/// the kiosk, the volunteer's number and pseudonym.
async fn a_topped_up_kiosk(
    store: Store,
    seed: usize,
) -> anyhow::Result<(TestServer, TestKiosk, PhoneNumber, String)> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let core = server.core()?;
    core.tables
        .set_catalogue_item("xianfeng", "rice", 4)
        .await?;
    assert!(
        core.tables
            .set_catalogue_stock("xianfeng", "rice", 3)
            .await?
    );
    let a = TestKiosk::pair(&server, "xianfeng", true).await?;
    let phone = test_phone(16, seed)?;
    let pseudonym = core.residents.pseudonym(&phone)?;
    seed_shift(&server, &pseudonym, "shift-1", 180).await?;
    eventually(WAIT, "the kiosk topped up", || async {
        let (points, rice) = (
            a.node().points_here(&phone).await?,
            a.node().stock_here("rice").await?,
        );
        Ok((points == 6 && rice == 3).then_some(()))
    })
    .await?;
    Ok((server, a, phone, pseudonym))
}

/// The granting rule at work: a connected kiosk is topped up with its
/// share of what volunteers earned in the hall and of the catalogue's
/// stock, without anyone asking, and again as they earn more.
async fn a_connected_kiosk_is_topped_up_as_volunteers_earn(store: Store) -> anyhow::Result<()> {
    let (server, a, phone, pseudonym) = a_topped_up_kiosk(store, 2).await?;
    let core = server.core()?;
    let shop = a.node().shop(&phone).await?;
    assert_eq!((shop.balance, shop.points_here), (Some(6), 6));
    assert_eq!(shop.items.len(), 1);
    assert_eq!(
        (
            shop.items[0].item.as_str(),
            shop.items[0].points,
            shop.items[0].stock_here
        ),
        ("rice", 4, 3)
    );
    assert!(matches!(
        a.node().redeem(&phone, "rice", 4).await?,
        Redemption::Redeemed { .. }
    ));
    assert_eq!(
        a.node().redeem(&phone, "rice", 4).await?,
        Redemption::Refused {
            points_here: 2,
            stock_here: 2
        }
    );
    // The balance shows the redemption at once, offline or not.
    assert_eq!(a.node().shop(&phone).await?.balance, Some(2));
    // An hour more: 2 points more, and the kiosk holds the 4 left; the
    // server's count of the balance reaches the kiosk. An erased
    // volunteer's ten hours count as service but are no one's points.
    seed_shift(
        &server,
        linli_core::model::ResidentRef::ERASED,
        "shift-x",
        600,
    )
    .await?;
    seed_shift(&server, &pseudonym, "shift-2", 60).await?;
    eventually(WAIT, "topped up again", || async {
        let shop = a.node().shop(&phone).await?;
        Ok((shop.points_here == 4 && shop.balance == Some(4)).then_some(()))
    })
    .await?;
    assert!(matches!(
        a.node().redeem(&phone, "rice", 4).await?,
        Redemption::Redeemed { .. }
    ));
    a.node().wait_synced(WAIT).await?;
    let account = format!("points:{pseudonym}");
    let view = eventually(WAIT, "both redemptions on the server", || async {
        let view = server_points::escrow_of(&core, "xianfeng").await?;
        Ok((view.spent(&account) == 8).then_some(view))
    })
    .await?;
    assert_eq!(view.committed(&account), 8, "all 8 earned, none more");
    assert_eq!(view.committed("points:erased"), 0, "no one's points");
    assert_eq!(view.spent("stock:rice"), 2);
    Ok(())
}

/// A revoked kiosk's rights go back to the hall: what it spent stays
/// spent, the rest is granted to the hall's other kiosks.
async fn a_revoked_kiosks_points_return_to_the_hall(store: Store) -> anyhow::Result<()> {
    let (server, a, phone, pseudonym) = a_topped_up_kiosk(store, 3).await?;
    let core = server.core()?;
    assert!(matches!(
        a.node().redeem(&phone, "rice", 4).await?,
        Redemption::Redeemed { .. }
    ));
    a.node().wait_synced(WAIT).await?;
    let account = format!("points:{pseudonym}");
    eventually(WAIT, "the redemption on the server", || async {
        let view = server_points::escrow_of(&core, "xianfeng").await?;
        Ok((view.spent(&account) == 4).then_some(()))
    })
    .await?;

    // Revoked: its store is written off with the 4 points and 1 bag it
    // spent; the 2 points and 2 bags it held go to kiosk B.
    assert!(linli_sync_engine::provision::revoke_kiosk(&core, &a.id).await?);
    let view = server_points::escrow_of(&core, "xianfeng").await?;
    let store = a.node().spender().await?;
    assert!(view.is_retired(&store));
    assert_eq!(view.available(&store, &account), 0);
    assert_eq!(view.committed(&account), 4, "only what it spent");
    assert_eq!(view.grantable("stock:rice", 3), 2);
    let b = TestKiosk::pair(&server, "xianfeng", true).await?;
    eventually(WAIT, "kiosk B topped up with what A held", || async {
        let (points, rice) = (
            b.node().points_here(&phone).await?,
            b.node().stock_here("rice").await?,
        );
        Ok((points == 2 && rice == 2).then_some(()))
    })
    .await?;
    assert_eq!(
        b.node().redeem(&phone, "rice", 4).await?,
        Redemption::Refused {
            points_here: 2,
            stock_here: 2
        },
        "the volunteer has 2 points left, not 4"
    );
    Ok(())
}

/// A kiosk that came first was granted all of a volunteer's points and
/// the whole stock; a second kiosk of the hall is paired: the first hands
/// back what is above its share, and the server grants it to the second.
async fn a_kiosk_that_came_first_hands_back_what_a_later_one_needs(
    store: Store,
) -> anyhow::Result<()> {
    let (server, a, phone, pseudonym) = a_topped_up_kiosk(store, 4).await?;
    let core = server.core()?;
    let b = TestKiosk::pair(&server, "xianfeng", true).await?;
    let held = eventually(WAIT, "the points and rice shared out", || async {
        let held = (
            a.node().points_here(&phone).await?,
            b.node().points_here(&phone).await?,
            a.node().stock_here("rice").await?,
            b.node().stock_here("rice").await?,
        );
        Ok((held.1 > 0 && held.3 > 0).then_some(held))
    })
    .await?;
    assert_eq!(held, (3, 3, 2, 1), "6 points halved, 3 bags as 2 and 1");
    let account = format!("points:{pseudonym}");
    let view = server_points::escrow_of(&core, "xianfeng").await?;
    assert_eq!(view.committed(&account), 6, "never more than earned");
    assert_eq!(view.committed("stock:rice"), 3);
    // Each redeems what it holds.
    assert!(matches!(
        b.node().redeem(&phone, "rice", 4).await?,
        Redemption::Refused {
            points_here: 3,
            stock_here: 1
        }
    ));
    // Online, the volunteer at B still gets their rice: B asks for the 4
    // points, the server shrinks A's share, A hands back, B is granted.
    assert!(matches!(
        b.node()
            .redeem_or_ask(&phone, "rice", 4, Duration::from_secs(30))
            .await?,
        Redemption::Redeemed { .. }
    ));
    b.node().wait_synced(WAIT).await?;
    let view = eventually(WAIT, "the redemption on the server", || async {
        let view = server_points::escrow_of(&core, "xianfeng").await?;
        Ok((view.spent(&account) == 4).then_some(view))
    })
    .await?;
    assert!(view.committed(&account) <= 6, "never more than earned");
    assert_eq!(view.spent("stock:rice"), 1);
    // The ask is withdrawn: the 2 points left are shared evenly again.
    eventually(WAIT, "the ask withdrawn and the rest shared", || async {
        let held = (
            a.node().points_here(&phone).await?,
            b.node().points_here(&phone).await?,
        );
        Ok((held == (1, 1)).then_some(()))
    })
    .await?;
    // Offline, asking is no use: refused at once, as `redeem`.
    b.node().go_offline();
    let started = std::time::Instant::now();
    assert!(matches!(
        b.node()
            .redeem_or_ask(&phone, "rice", 4, Duration::from_secs(30))
            .await?,
        Redemption::Refused { .. }
    ));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no waiting offline"
    );
    Ok(())
}

/// The hall's rules, as the central admin sets them in the console,
/// reach the kiosk: it holds no more of a volunteer's points than the
/// rule allows (handing the rest back), shifts begun under a new rate earn
/// by it (a shift serving a 义诊 by the clinic's rate), and those before
/// keep what they earned.
async fn the_halls_rules_set_what_a_kiosk_holds_and_what_a_shift_earns(
    store: Store,
) -> anyhow::Result<()> {
    let (server, a, phone, pseudonym) = a_topped_up_kiosk(store, 5).await?;
    let core = server.core()?;
    let rule = linli_core::points_rules::PointsRule {
        from_ms: linli_sync_engine::clock::now_ms() - 30 * 60_000,
        per_hour: 6,
        monthly_cap: 0,
        offline_share: 4,
        iou_cap: 0,
        per_hour_by_kind: [("health_clinic".to_string(), 12)].into(),
    };
    assert!(core.tables.add_points_rule("xianfeng", &rule).await?);
    // Twenty minutes begun under the new rule: 2 points; twenty serving a
    // clinic: 4; the three hours before it keep their 6.
    seed_shift(&server, &pseudonym, "shift-2", 20).await?;
    let clinic =
        linli_test_kit::open_activity(&core, "xianfeng", "health_clinic", "健康义诊").await?;
    seed_shift_at(&server, &pseudonym, "shift-3", 20, Some(&clinic)).await?;
    eventually(WAIT, "the rule at the kiosk", || async {
        let shop = a.node().shop(&phone).await?;
        let rules = a.node().points_rules().await?;
        Ok(
            (shop.balance == Some(12) && shop.points_here == 4 && rules.current() == rule)
                .then_some(()),
        )
    })
    .await?;
    // The server sees the same once the kiosk's handback reaches it.
    let account = format!("points:{pseudonym}");
    let spender = a.node().spender().await?;
    let view = eventually(WAIT, "the handback on the server", || async {
        let view = server_points::escrow_of(&core, "xianfeng").await?;
        Ok((view.available(&spender, &account) == 4).then_some(view))
    })
    .await?;
    assert!(view.committed(&account) <= 12, "never more than earned");
    Ok(())
}

/// Copy the files of kiosk data directory `from` over those of `to` (a
/// flat directory of SQLite files), as an operator restoring a backup.
/// Once the server has written the restored copy's store `old` off, the
/// hall's escrow, with the new store `new` granted the 2 points of
/// `account` and the 2 bags of rice left, never more.
async fn new_store_granted_what_is_left(
    core: &linli_sync_engine::ServerCore,
    old: &str,
    new: &str,
    account: &str,
) -> anyhow::Result<Escrow> {
    eventually(WAIT, "the new store granted what is left", || async {
        let view = server_points::escrow_of(core, "xianfeng").await?;
        Ok((view.is_retired(old)
            && view.available(new, account) == 2
            && view.available(new, "stock:rice") == 2)
            .then_some(view))
    })
    .await
}

fn copy_files(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    for old in std::fs::read_dir(to)? {
        let old = old?.path();
        if old.is_file() {
            std::fs::remove_file(old)?;
        }
    }
    for f in std::fs::read_dir(from)? {
        let f = f?.path();
        if let Some(name) = f.file_name().filter(|_| f.is_file()) {
            std::fs::copy(&f, to.join(name))?;
        }
    }
    Ok(())
}

/// A copy of kiosk `a`'s store taken with it powered off (a topped-up
/// kiosk's: 6 points and 3 bags), then, after it, a bag of rice for 4
/// points redeemed and synced: what the copy does not know.
async fn copy_then_redeem(
    a: &mut TestKiosk,
    phone: &PhoneNumber,
) -> anyhow::Result<tempfile::TempDir> {
    a.power_off().await;
    let copy = tempfile::tempdir()?;
    copy_files(&a.data_dir(), copy.path())?;
    a.power_on(true).await?;
    assert!(matches!(
        a.node().redeem(phone, "rice", 4).await?,
        Redemption::Redeemed { .. }
    ));
    a.node().wait_synced(WAIT).await?;
    Ok(copy)
}

/// A kiosk whose store is restored from an older copy must not spend
/// again what it spent after the copy was taken: once it hears from the
/// server that its store wrote records its journal lacks, it closes that
/// store and carries on as a new one; the server writes the old one off
/// with all it spent and grants the new one only what is left.
async fn a_store_restored_from_an_older_copy_carries_on_as_a_new_one(
    store: Store,
) -> anyhow::Result<()> {
    let (server, mut a, phone, pseudonym) = a_topped_up_kiosk(store, 6).await?;
    let core = server.core()?;
    let old = a.node().spender().await?;
    let copy = copy_then_redeem(&mut a, &phone).await?;
    let account = format!("points:{pseudonym}");
    eventually(WAIT, "the redemption on the server", || async {
        let view = server_points::escrow_of(&core, "xianfeng").await?;
        Ok((view.spent(&account) == 4).then_some(()))
    })
    .await?;

    // Restored from the copy: it hears of the redemption it has no record
    // of, closes its store and carries on as a new one.
    a.power_off().await;
    copy_files(copy.path(), &a.data_dir())?;
    a.power_on(true).await?;
    let new = eventually(WAIT, "a new store", || async {
        let s = a.node().spender().await?;
        Ok((s != old).then_some(s))
    })
    .await?;
    assert!(new.starts_with(&format!("{}.", a.id)), "{new}");
    // The server writes the old store off (4 points and 1 bag spent) and
    // grants the new one the 2 points and 2 bags left, never more.
    let view = new_store_granted_what_is_left(&core, &old, &new, &account).await?;
    assert!(view.is_closed(&old));
    assert_eq!(
        view.committed(&account),
        6,
        "4 spent and 2 granted: all earned"
    );
    assert_eq!(view.spent(&account), 4, "the redemption counted once");
    let shop = eventually(WAIT, "the kiosk shows what is left", || async {
        let shop = a.node().shop(&phone).await?;
        Ok((shop.points_here == 2 && shop.balance == Some(2)).then_some(shop))
    })
    .await?;
    assert_eq!(shop.items[0].stock_here, 2);
    // 4 points the restored store no longer has: refused.
    assert_eq!(
        a.node().redeem(&phone, "rice", 4).await?,
        Redemption::Refused {
            points_here: 2,
            stock_here: 2
        }
    );
    Ok(())
}

/// Restored with `linli-kiosk restore` (`node::restore`), a kiosk's
/// store closes its old points store at once, offline, before anything
/// can be redeemed: the copy's 6 points and 3 bags, of which 4 points and
/// a bag were spent after the copy was taken, are not spendable again
/// even with no network. Back online, the server writes the old store off
/// and grants the new one what is left.
async fn a_store_restored_by_the_command_redeems_nothing_again_even_offline(
    store: Store,
) -> anyhow::Result<()> {
    let (server, mut a, phone, pseudonym) = a_topped_up_kiosk(store, 11).await?;
    let core = server.core()?;
    let old = a.node().spender().await?;
    let copy = copy_then_redeem(&mut a, &phone).await?;
    a.power_off().await;

    let restored = linli_core::node::restore::restore_store(
        copy.path(),
        &a.data_dir(),
        linli_sync_engine::clock::now_ms(),
    )?;
    let aside = restored.moved_aside.expect("the store in use moved aside");
    assert!(aside.join(linli_core::node::STORE_FILE).exists(), "kept");
    // Offline: a new store, holding nothing yet; nothing to redeem.
    a.power_on(false).await?;
    let new = a.node().spender().await?;
    assert_ne!(new, old);
    assert_eq!(
        a.node().redeem(&phone, "rice", 4).await?,
        Redemption::Refused {
            points_here: 0,
            stock_here: 0
        }
    );
    // Online: the old store written off with its spend, the new one
    // granted the 2 points and 2 bags left.
    a.node().go_online()?;
    let account = format!("points:{pseudonym}");
    let view = new_store_granted_what_is_left(&core, &old, &new, &account).await?;
    assert_eq!((view.spent(&account), view.committed(&account)), (4, 6));
    std::fs::remove_dir_all(aside)?;
    Ok(())
}

/// A kiosk paired anew (a new token, so a new kiosk id, on the same
/// store) spends as a new store: the old one's rights belonged to the old
/// kiosk, and come back to the hall when that kiosk is revoked.
async fn a_kiosk_paired_anew_is_a_new_spender(store: Store) -> anyhow::Result<()> {
    let (server, mut a, phone, pseudonym) = a_topped_up_kiosk(store, 7).await?;
    let core = server.core()?;
    let old = a.node().spender().await?;
    a.power_off().await;
    let (new_id, token) = server.api.add_kiosk("xianfeng", "换新的终端").await?;
    let node = KioskNode::pair(
        linli_test_kit::kiosk::test_options(&a.data_dir()),
        &server.url,
        &token,
    )
    .await?;
    let new = node.spender().await?;
    assert!(
        new.starts_with(&format!("{new_id}.")) && new != old,
        "{new}"
    );
    // Until the old kiosk is revoked its store keeps its 6 points; then
    // they come to the new one.
    assert!(linli_sync_engine::provision::revoke_kiosk(&core, &a.id).await?);
    let account = format!("points:{pseudonym}");
    eventually(WAIT, "the new store granted the points", || async {
        let shop = node.shop(&phone).await?;
        Ok((shop.points_here == 6).then_some(()))
    })
    .await?;
    let view = server_points::escrow_of(&core, "xianfeng").await?;
    assert!(view.is_retired(&old));
    assert_eq!(view.committed(&account), 6);
    node.shutdown().await;
    Ok(())
}

/// An erased volunteer's points leave the hall's grants document and the
/// kiosk's spends document, in history too, on the server (its files or
/// a `pg_dump`) and on the kiosk, which carries on in the rebuilt ones:
/// what they redeemed stays counted, no longer theirs, and another
/// volunteer's points and the stock are what they were.
async fn an_erased_volunteers_points_leave_the_grants_and_the_spends(
    store: Store,
) -> anyhow::Result<()> {
    let (server, mut a, phone, pseudonym) = a_topped_up_kiosk(store, 9).await?;
    let core = server.core()?;
    assert!(
        core.tables
            .set_catalogue_stock("xianfeng", "rice", 4)
            .await?
    );
    let kept = test_phone(16, 10)?;
    let kept_pseudonym = core.residents.pseudonym(&kept)?;
    seed_shift(&server, &kept_pseudonym, "shift-k", 240).await?;
    seed_shift(&server, &pseudonym, "shift-2", 120).await?;
    eventually(WAIT, "10 and 8 points and 4 bags at the kiosk", || async {
        let here = (
            a.node().points_here(&phone).await?,
            a.node().points_here(&kept).await?,
            a.node().stock_here("rice").await?,
        );
        Ok((here == (10, 8, 4)).then_some(()))
    })
    .await?;
    for who in [&phone, &kept] {
        assert!(matches!(
            a.node().redeem(who, "rice", 4).await?,
            Redemption::Redeemed { .. }
        ));
    }
    a.node().wait_synced(WAIT).await?;
    let (theirs, others) = (
        points::points_account(&pseudonym),
        points::points_account(&kept_pseudonym),
    );
    eventually(WAIT, "both redemptions on the server", || async {
        let view = server_points::escrow_of(&core, "xianfeng").await?;
        Ok((view.spent(&theirs) == 4 && view.spent(&others) == 4).then_some(()))
    })
    .await?;
    // The kiosk is offline while the erasure runs, and the volunteer
    // redeems there once more meanwhile.
    a.power_off().await;
    a.power_on(false).await?;
    assert!(matches!(
        a.node().redeem(&phone, "rice", 4).await?,
        Redemption::Redeemed { .. }
    ));
    let spends_before = a.node().spends_id().await?;
    let grants_before = server_points::grants_doc(&core, "xianfeng").await?;

    let erasure = linli_sync_engine::erasure::erase_resident(&core, &phone, "admin")
        .await?
        .ok_or_else(|| anyhow::anyhow!("the volunteer was found"))?;
    // Records: their two grants (6 points, then 4), their balance and
    // share, and the spend the server has (the seeded shifts' document is
    // not stored: nothing in it to rebuild). Documents: that one, the
    // grants, the spends.
    assert_eq!((erasure.records, erasure.documents), (5, 3), "{erasure:?}");
    let grants_after = server_points::grants_doc(&core, "xianfeng").await?;
    assert_ne!(grants_after, grants_before, "the grants rebuilt");

    // Back online, the kiosk reads the new grants and carries on in its
    // new spends document, its offline redemption carried into it as no
    // one's; nothing of the volunteer is left on its disk.
    a.node().go_online()?;
    eventually(WAIT, "the kiosk in its rebuilt spends document", || async {
        Ok((a.node().spends_id().await? != spends_before).then_some(()))
    })
    .await?;
    let needles = vec![(pseudonym.clone(), pseudonym.as_bytes().to_vec())];
    let kept_needles = vec![(kept_pseudonym.clone(), kept_pseudonym.as_bytes().to_vec())];
    let data_dir = a.data_dir();
    eventually(WAIT, "the kiosk's disk holds nothing of them", || {
        let (data_dir, needles) = (data_dir.clone(), needles.clone());
        async move {
            let copy = tempfile::tempdir()?;
            linli_tests::disk::copy_dir(&data_dir, copy.path())?;
            let (found, _, _) = linli_tests::disk::search_disk_for(copy.path(), "kiosk", &needles)?;
            Ok(found.is_empty().then_some(()))
        }
    })
    .await?;
    let copy = tempfile::tempdir()?;
    linli_tests::disk::copy_dir(&data_dir, copy.path())?;
    let (seen, _, docs) = linli_tests::disk::search_disk_for(copy.path(), "kiosk", &kept_needles)?;
    assert!(
        !seen.is_empty() && docs >= 2,
        "the search finds the other volunteer ({docs} documents)"
    );
    match store {
        Store::Sqlite => {
            let (found, _, _) =
                linli_tests::disk::search_disk_for(&server.data_dir(), "the server", &needles)?;
            assert!(
                found.is_empty(),
                "left on the server:\n{}",
                found.join("\n")
            );
        }
        Store::Postgres => {
            let dump = String::from_utf8(server.dump_database()?)?;
            let (found, docs) = linli_tests::disk::search_pg_dump(&dump, &needles)?;
            assert!(found.is_empty(), "left in the dump:\n{}", found.join("\n"));
            assert!(docs >= 3, "documents searched in the dump: {docs}");
        }
    }

    // What was redeemed stays counted, no longer theirs (the offline
    // redemption too); the other volunteer's points are as they were, and
    // no store used more of an account than it was granted.
    let erased = linli_core::docs::erase_points::erased_account();
    a.node().wait_synced(WAIT).await?;
    let view = eventually(WAIT, "the offline redemption counted", || async {
        let view = server_points::escrow_of(&core, "xianfeng").await?;
        Ok((view.spent("stock:rice") == 3).then_some(view))
    })
    .await?;
    assert_eq!(
        (view.spent(&erased), view.committed(&theirs)),
        (8, 0),
        "spent, no one's"
    );
    assert_eq!(view.spent(&others), 4);
    for spender in view.spenders() {
        for account in [&erased, &others, &"stock:rice".to_string()] {
            assert!(
                view.used(&spender, account) <= view.granted(&spender, account),
                "{spender} spent no more of {account} than it was granted"
            );
        }
    }
    let rows = server
        .sql_strings("SELECT COALESCE(phone_hash, 'none') FROM redemptions ORDER BY 1")
        .await?;
    let mut want = vec![
        kept_pseudonym.clone(),
        "none".to_string(),
        "none".to_string(),
    ];
    want.sort();
    assert_eq!(rows, want);
    // The kiosk goes on: the other volunteer redeems the last bag; the
    // erased one has nothing here.
    assert_eq!(a.node().points_here(&phone).await?, 0);
    assert_eq!(a.node().shop(&phone).await?.balance, None);
    assert!(matches!(
        a.node().redeem(&kept, "rice", 4).await?,
        Redemption::Redeemed { .. }
    ));
    a.node().wait_synced(WAIT).await?;
    eventually(WAIT, "the fourth bag counted", || async {
        let view = server_points::escrow_of(&core, "xianfeng").await?;
        Ok((view.spent("stock:rice") == 4 && view.spent(&others) == 8).then_some(()))
    })
    .await?;
    Ok(())
}

linli_test_kit::on_both_stores! {
    a_store_restored_by_the_command_redeems_nothing_again_even_offline,
    an_erased_volunteers_points_leave_the_grants_and_the_spends,
    a_kiosk_paired_anew_is_a_new_spender,
    a_store_restored_from_an_older_copy_carries_on_as_a_new_one,
    the_halls_rules_set_what_a_kiosk_holds_and_what_a_shift_earns,
    a_kiosk_that_came_first_hands_back_what_a_later_one_needs,
    a_halls_grants_are_the_servers_and_a_stores_spends_are_its_own,
    a_volunteer_redeems_at_two_offline_kiosks_until_each_refuses,
    a_connected_kiosk_is_topped_up_as_volunteers_earn,
    a_revoked_kiosks_points_return_to_the_hall,
}
