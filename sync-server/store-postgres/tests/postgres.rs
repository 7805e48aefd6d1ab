//! The PostgreSQL store against a real PostgreSQL started by the test
//! (`linli_test_kit::TestPostgres`: `initdb` into a temporary directory,
//! a free loopback port, stopped at the end).

use std::{collections::HashMap, time::Duration};

use linli_core::{sqlite::DbOptions, storage::SqliteStorage};
use linli_store_postgres::{Error, PgStore, leases::HallLeases};
use linli_sync_engine::cluster::Acquired;
use linli_test_kit::TestPostgres;
use samod::storage::{Storage, StorageKey};

fn key(parts: &[&str]) -> StorageKey {
    StorageKey::from_parts(parts.iter().copied()).expect("key")
}

/// The same writes on any samod storage; what each read gave.
async fn exercise(s: &impl Storage) -> Vec<String> {
    let mut seen = Vec::new();
    s.put(key(&["doc1", "incremental", "h1"]), vec![1]).await;
    s.put(key(&["doc1", "snapshot", "h2"]), vec![2]).await;
    s.put(key(&["doc10", "snapshot", "h3"]), vec![3]).await;
    s.put(key(&["doc1", "incremental", "h1"]), vec![4]).await;
    seen.push(format!(
        "{:?}",
        s.load(key(&["doc1", "incremental", "h1"])).await
    ));
    seen.push(format!("{:?}", s.load(key(&["doc1", "nothing"])).await));
    let sorted = |m: HashMap<StorageKey, Vec<u8>>| {
        let mut v: Vec<_> = m.into_iter().map(|(k, d)| (k.to_string(), d)).collect();
        v.sort();
        format!("{v:?}")
    };
    seen.push(sorted(s.load_range(key(&["doc1"])).await));
    s.delete(key(&["doc1", "snapshot", "h2"])).await;
    seen.push(sorted(s.load_range(key(&["doc1"])).await));
    seen.push(sorted(s.load_range(key(&["doc"])).await));
    seen
}

#[tokio::test]
async fn documents_on_postgres_read_back_as_they_do_on_sqlite() -> anyhow::Result<()> {
    let pg = TestPostgres::start()?;
    let store = PgStore::open(&pg.create_database("linli").await?).await?;
    let dir = tempfile::tempdir()?;
    let sqlite = SqliteStorage::open(&dir.path().join("s.sqlite3"), DbOptions::default())?;
    let on_sqlite = exercise(&sqlite).await;
    let on_postgres = exercise(&store.documents()).await;
    assert_eq!(on_postgres, on_sqlite);
    assert!(
        on_sqlite[2].contains("doc1/incremental/h1"),
        "{on_sqlite:?}"
    );
    assert!(!on_sqlite[2].contains("doc10"), "doc10 is not under doc1");
    let docs = store.documents();
    assert_eq!(docs.document_ids().await?, ["doc1", "doc10"]);
    assert_eq!(docs.document_bytes("doc1").await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_samod_repo_keeps_its_documents_in_postgres_across_instances() -> anyhow::Result<()> {
    use automerge::{ReadDoc, transaction::Transactable};
    let pg = TestPostgres::start()?;
    let url = pg.create_database("linli").await?;
    let store = PgStore::open(&url).await?;
    let repo = samod::Repo::build_tokio()
        .with_storage(store.documents())
        .load()
        .await;
    let mut doc = automerge::Automerge::new();
    doc.transact(|tx| {
        tx.put(automerge::ROOT, "hall", "先锋社区")?;
        tx.put(automerge::ROOT, "checkins", 3_i64)
    })
    .map_err(|f| f.error)?;
    let handle = repo.create(doc).await?;
    let id = handle.document_id().clone();
    repo.stop().await;

    // Another instance, with its own pool, finds the same document.
    let other = PgStore::open(&url).await?;
    let repo = samod::Repo::build_tokio()
        .with_storage(other.documents())
        .load()
        .await;
    let found = repo.find(id).await?.expect("the document is in PostgreSQL");
    let hall = found.with_document(|d| {
        d.get(automerge::ROOT, "hall")
            .ok()
            .flatten()
            .map(|(v, _)| v.to_string())
    });
    assert_eq!(hall.as_deref(), Some("\"先锋社区\""));
    repo.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_write_while_the_database_restarts_waits_and_is_kept() -> anyhow::Result<()> {
    let pg = TestPostgres::start()?;
    let store = PgStore::open(&pg.create_database("linli").await?).await?;
    let docs = store.documents();
    docs.put(key(&["before", "snapshot", "a"]), vec![1]).await;
    pg.crash()?;
    let pending = tokio::spawn({
        let docs = docs.clone();
        async move {
            docs.put(key(&["during", "snapshot", "b"]), vec![2; 1000])
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !pending.is_finished(),
        "a write cannot land while the database is down"
    );
    pg.restart()?;
    tokio::time::timeout(Duration::from_secs(20), pending).await??;
    assert_eq!(
        docs.load(key(&["during", "snapshot", "b"])).await,
        Some(vec![2; 1000])
    );
    assert_eq!(
        docs.load(key(&["before", "snapshot", "a"])).await,
        Some(vec![1]),
        "what was stored before the crash is still there"
    );
    Ok(())
}

#[tokio::test]
async fn a_hall_has_one_holder_and_moves_when_its_lease_runs_out() -> anyhow::Result<()> {
    let pg = TestPostgres::start()?;
    let store = PgStore::open(&pg.create_database("linli").await?).await?;
    let leases: HallLeases = store.leases();
    let ttl = Duration::from_millis(600);

    let Acquired::Held(a) = leases
        .acquire("xianfeng", "instance-a", "http://a.test", ttl)
        .await?
    else {
        anyhow::bail!("a free hall is taken by the first to ask");
    };
    assert_eq!((a.holder.as_str(), a.epoch), ("instance-a", 1));
    assert!(a.remaining <= ttl && a.remaining > Duration::ZERO);
    match leases
        .acquire("xianfeng", "instance-b", "http://b.test", ttl)
        .await?
    {
        Acquired::Elsewhere(l) => {
            assert_eq!(l.holder, "instance-a");
            assert_eq!(
                l.address, "http://a.test",
                "b learns where to reach the holder"
            );
        }
        other => anyhow::bail!("b took a held hall: {other:?}"),
    }
    // Another hall is free for b.
    assert!(matches!(
        leases
            .acquire("zhongfu", "instance-b", "http://b.test", ttl)
            .await?,
        Acquired::Held(_)
    ));
    // Renewing keeps the epoch.
    let Acquired::Held(renewed) = leases
        .acquire("xianfeng", "instance-a", "http://a.test", ttl)
        .await?
    else {
        anyhow::bail!("the holder renews");
    };
    assert_eq!(renewed.epoch, 1);
    assert!(leases.holds("xianfeng", "instance-a", 1).await?);

    // a stops renewing (killed): once the lease runs out, b takes the hall
    // with the next epoch, and a's epoch no longer writes.
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert_eq!(leases.holder("xianfeng").await?, None, "run out");
    let Acquired::Held(b) = leases
        .acquire("xianfeng", "instance-b", "http://b.test", ttl)
        .await?
    else {
        anyhow::bail!("an expired lease is taken over");
    };
    assert_eq!((b.holder.as_str(), b.epoch), ("instance-b", 2));
    assert!(!leases.holds("xianfeng", "instance-a", 1).await?);
    assert!(matches!(
        leases
            .acquire("xianfeng", "instance-a", "http://a.test", ttl)
            .await?,
        Acquired::Elsewhere(_)
    ));

    // A clean release hands the hall over at once.
    assert!(!leases.release("xianfeng", "instance-a").await?, "not a's");
    assert!(leases.release("xianfeng", "instance-b").await?);
    let Acquired::Held(back) = leases
        .acquire("xianfeng", "instance-a", "http://a.test", ttl)
        .await?
    else {
        anyhow::bail!("a released hall is free");
    };
    assert_eq!(back.epoch, 1, "a released hall starts again");

    // b asks a for the hall: a's next renewal is refused with Yield, the
    // lease runs on unrenewed until a gives it back, then b takes it.
    leases.ask_for("xianfeng", "instance-b").await?;
    assert!(matches!(
        leases.acquire("xianfeng", "instance-a", "http://a.test", ttl).await?,
        Acquired::Yield(l) if l.holder == "instance-a"
    ));
    assert!(matches!(
        leases
            .acquire("xianfeng", "instance-b", "http://b.test", ttl)
            .await?,
        Acquired::Elsewhere(_)
    ));
    assert!(leases.release("xianfeng", "instance-a").await?);
    // Handed to b in the same statement: no one else (not a, whose kiosk
    // reconnects) can take it before b renews it; it has no address
    // until then.
    let handed = leases.holder("xianfeng").await?.expect("handed over");
    assert_eq!(
        (handed.holder.as_str(), handed.address.as_str()),
        ("instance-b", "")
    );
    assert!(matches!(
        leases.acquire("xianfeng", "instance-a", "http://a.test", ttl).await?,
        Acquired::Elsewhere(l) if l.holder == "instance-b"
    ));
    let Acquired::Held(b) = leases
        .acquire("xianfeng", "instance-b", "http://b.test", ttl)
        .await?
    else {
        anyhow::bail!("a hall given back on request is the asker's");
    };
    assert_eq!(
        (b.address.as_str(), b.epoch),
        ("http://b.test", handed.epoch),
        "renewed by the asker, in the epoch it was handed over"
    );
    assert!(b.remaining > ttl / 2, "renewed for a whole lease");
    // Asking for one's own hall changes nothing.
    leases.ask_for("xianfeng", "instance-b").await?;
    assert!(matches!(
        leases.acquire("xianfeng", "instance-b", "http://b.test", ttl).await?,
        Acquired::Held(l) if l.epoch == b.epoch
    ));
    Ok(())
}

#[tokio::test]
async fn instances_asking_for_a_hall_at_once_get_one_holder() -> anyhow::Result<()> {
    let pg = TestPostgres::start()?;
    let url = pg.create_database("linli").await?;
    let store = PgStore::open(&url).await?;
    let mut asks = Vec::new();
    for i in 0..8 {
        let leases = store.leases();
        asks.push(tokio::spawn(async move {
            leases
                .acquire(
                    "xianfeng",
                    &format!("instance-{i}"),
                    &format!("http://{i}.test"),
                    Duration::from_secs(10),
                )
                .await
        }));
    }
    let mut holders = std::collections::BTreeSet::new();
    let mut held = 0;
    for a in asks {
        match a.await?? {
            Acquired::Held(l) => {
                held += 1;
                holders.insert(l.holder);
            }
            Acquired::Elsewhere(l) => {
                holders.insert(l.holder);
            }
            Acquired::Yield(l) => anyhow::bail!("nobody asked for the hall: {l:?}"),
        }
    }
    assert_eq!(held, 1, "exactly one instance holds the hall");
    assert_eq!(holders.len(), 1, "and every other was told it: {holders:?}");
    Ok(())
}

#[tokio::test]
async fn instances_starting_together_migrate_once_and_a_newer_database_is_refused()
-> anyhow::Result<()> {
    let pg = TestPostgres::start()?;
    let url = pg.create_database("linli").await?;
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::open(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for o in opens {
        stores.push(o.await??);
    }
    let client = stores[0].pool().get().await?;
    let rows = client
        .query(
            "SELECT component, count(*) FROM linli_migrations GROUP BY component ORDER BY 1",
            &[],
        )
        .await?;
    let applied: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        applied,
        [
            ("documents".to_string(), 1),
            ("leases".to_string(), 3),
            ("projection".to_string(), 3),
            ("server".to_string(), 5)
        ]
    );

    // A newer Linli migrated this database further: refused, unchanged.
    client
        .execute(
            "INSERT INTO linli_migrations (component, version) VALUES ('documents', 9)",
            &[],
        )
        .await?;
    let err = match PgStore::open(&url).await {
        Err(e) => e,
        Ok(_) => anyhow::bail!("a newer database was opened"),
    };
    assert!(
        matches!(
            err,
            Error::NewerSchema {
                found: 9,
                known: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("written by a newer Linli"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn a_wrong_url_or_an_absent_database_is_told_plainly() -> anyhow::Result<()> {
    let err = match PgStore::open("mysql://root@localhost/linli").await {
        Err(e) => e,
        Ok(_) => anyhow::bail!("a MySQL URL was taken"),
    };
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(err.to_string().contains("postgres://"), "{err}");

    let pg = TestPostgres::start()?;
    let err = match PgStore::open(&pg.url("no_such_db")).await {
        Err(e) => e,
        Ok(_) => anyhow::bail!("an absent database was opened"),
    };
    assert!(err.to_string().contains("no_such_db"), "{err}");
    Ok(())
}

#[tokio::test]
async fn the_server_tables_on_postgres_keep_the_tables_contract() -> anyhow::Result<()> {
    let pg = TestPostgres::start()?;
    let store = PgStore::open(&pg.create_database("linli").await?).await?;
    linli_test_kit::tables::contract(&store.tables()).await
}

#[tokio::test]
async fn the_projection_on_postgres_keeps_the_projection_contract() -> anyhow::Result<()> {
    let pg = TestPostgres::start()?;
    let store = PgStore::open(&pg.create_database("linli").await?).await?;
    linli_test_kit::projection::contract(&store.projection(), &store.tables()).await
}

/// One-check-in ledgers of kiosk `k1` of hall `h1`, judged, as `doc-{i}`.
fn ledgers(n: usize) -> anyhow::Result<Vec<linli_sync_engine::projection_tables::DocumentWrite>> {
    (0..n)
        .map(|i| {
            let mut d = linli_core::docs::ledger::new_ledger("h1", "k1", "2026-12-04")?;
            let checkin = linli_core::model::CheckIn {
                activity_id: "act-1".into(),
                service: None,
                resident: None,
                headcount: 1,
                companions: 0,
                kiosk_id: "k1".into(),
                at_ms: 1_796_356_800_000,
            };
            linli_core::docs::ledger::add_checkin(
                &mut d,
                &format!("0193a000-0000-7000-8000-{i:012}"),
                &checkin,
            )?;
            Ok(linli_sync_engine::projection_tables::DocumentWrite {
                doc: format!("doc-{i}"),
                hall: "h1".into(),
                kiosk: "k1".into(),
                assessment: linli_sync_engine::projection::assess(&d, &[], "h1", "k1")
                    .ok_or_else(|| anyhow::anyhow!("empty"))?,
                tagged: Vec::new(),
            })
        })
        .collect()
}

#[tokio::test]
async fn a_document_postgres_refuses_holds_up_none_other_in_its_batch() -> anyhow::Result<()> {
    use linli_sync_engine::projection_tables::ProjectionTables;
    let pg = TestPostgres::start()?;
    let store = PgStore::open(&pg.create_database("linli").await?).await?;
    let projection = store.projection();
    let written = projection.write(ledgers(3)?, 1).await?;
    assert!(
        written
            .iter()
            .all(|(_, r)| matches!(r, Ok(p) if p.records == 1))
    );

    // A write the database refuses for one document only (here a trigger;
    // in the field a constraint, a full disk).
    let c = store.pool().get().await?;
    c.batch_execute(
        "TRUNCATE checkins, projection_state, checkin_days;
         CREATE FUNCTION refuse_doc_1() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.doc_id = 'doc-1' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER refuse_doc_1 BEFORE INSERT ON checkins
             FOR EACH ROW EXECUTE FUNCTION refuse_doc_1();",
    )
    .await?;
    let written = projection.write(ledgers(3)?, 1).await?;
    let failed: Vec<&str> = written
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(d, _)| d.as_str())
        .collect();
    assert_eq!(failed, ["doc-1"], "only the refused document failed");
    let docs: Vec<String> = c
        .query("SELECT doc_id FROM checkins ORDER BY doc_id", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(docs, ["doc-0", "doc-2"], "the others were written");
    let states: i64 = c
        .query_one("SELECT count(*) FROM projection_state", &[])
        .await?
        .get(0);
    assert_eq!(
        states, 2,
        "the refused document is projected again on its next change"
    );
    let persons: i64 = c
        .query_one(
            "SELECT COALESCE(SUM(persons), 0)::bigint FROM checkin_days",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(persons, 2, "the roll-ups hold what was written, no more");
    Ok(())
}

#[tokio::test]
async fn two_instances_claiming_the_same_documents_claim_each_once() -> anyhow::Result<()> {
    use linli_sync_engine::{
        db::{Claim, Hall, NewDoc},
        tables::ServerTables,
    };
    let pg = TestPostgres::start()?;
    let url = pg.create_database("linli").await?;
    let (a, b) = (PgStore::open(&url).await?, PgStore::open(&url).await?);
    a.tables()
        .insert_hall(
            &Hall {
                id: "xianfeng".into(),
                name: "先锋社区".into(),
                tz: "Asia/Shanghai".into(),
                calendar_doc: "cal".into(),
                directory_doc: "dir".into(),
            },
            0,
        )
        .await?;
    // The same 200 documents, delivered through both instances at once,
    // in batches of ten, by a different kiosk on each.
    let claim = |store: PgStore, kiosk: &'static str| {
        tokio::spawn(async move {
            let tables = store.tables();
            let mut mine = Vec::new();
            for batch in 0..20 {
                let docs: Vec<NewDoc> = (0..10)
                    .map(|j| NewDoc {
                        doc_id: format!("doc-{batch}-{j}"),
                        hall_id: "xianfeng".into(),
                        kiosk_id: kiosk.into(),
                    })
                    .collect();
                for (d, c) in docs.iter().zip(tables.claim_docs(&docs, 1_000, 1).await) {
                    if c? == Claim::Claimed {
                        mine.push(d.doc_id.clone());
                    }
                }
            }
            anyhow::Ok(mine)
        })
    };
    let (from_a, from_b) = (claim(a.clone(), "xianfeng-k1"), claim(b, "xianfeng-k2"));
    let (mut from_a, from_b) = (from_a.await??, from_b.await??);
    let claimed = from_a.len() + from_b.len();
    assert_eq!(claimed, 200, "each document claimed exactly once");
    from_a.extend(from_b);
    from_a.sort();
    from_a.dedup();
    assert_eq!(from_a.len(), 200, "never by both");
    assert_eq!(a.tables().kiosk_documents().await?.len(), 200);
    Ok(())
}

/// Whole documents through the engine's `DocumentStore` on `s`: read from
/// their chunks, deleted with none of a neighbour's, a damaged one named.
async fn whole_documents(
    s: &dyn linli_sync_engine::documents::DocumentStore,
) -> anyhow::Result<()> {
    use automerge::{ReadDoc, transaction::Transactable};
    let mut doc = automerge::AutoCommit::new();
    doc.put(automerge::ROOT, "hall", "xianfeng")?;
    let snapshot = doc.save();
    let heads = doc.get_heads();
    doc.put(automerge::ROOT, "kiosk", "xianfeng-k1")?;
    let incremental = doc.save_after(&heads);
    s.put(key(&["d1", "snapshot", "a"]), snapshot).await;
    s.put(key(&["d1", "incremental", "b"]), incremental).await;
    // A neighbour whose id starts with the first's, damaged.
    s.put(key(&["d10", "snapshot", "c"]), vec![0xde, 0xad])
        .await;

    let loaded = s.load_document("d1").await?.expect("stored");
    anyhow::ensure!(
        loaded.get_heads() == doc.get_heads() && loaded.get(automerge::ROOT, "kiosk")?.is_some(),
        "read whole from its two chunks"
    );
    let damaged = s.load_document("d10").await.expect_err("damaged");
    anyhow::ensure!(damaged.to_string().contains("d10"), "{damaged}");
    anyhow::ensure!(s.load_document("d2").await?.is_none(), "nothing stored");

    anyhow::ensure!(s.delete_document("d1").await? == 2, "both chunks deleted");
    anyhow::ensure!(s.load_document("d1").await?.is_none());
    anyhow::ensure!(
        s.load(key(&["d10", "snapshot", "c"])).await.is_some(),
        "the neighbour kept"
    );
    s.scrub().await?;
    let (writes, _) = s.write_counts();
    anyhow::ensure!(writes >= 3, "writes counted: {writes}");
    Ok(())
}

#[tokio::test]
async fn whole_documents_read_delete_and_scrub_alike_on_both_stores() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let sqlite = SqliteStorage::open(&dir.path().join("s.sqlite3"), DbOptions::default())?;
    whole_documents(&sqlite).await?;
    let pg = TestPostgres::start()?;
    let store = PgStore::open(&pg.create_database("linli").await?).await?;
    whole_documents(&store.documents()).await
}
