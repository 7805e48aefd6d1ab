//! Issue 12, the upgrade: a server database as Linli 0.1 left it (keyed
//! phone hashes beside masked numbers and names, in documents of schema
//! version 1 and in the projection, with the old key in the database) is
//! refused by this build with a message naming the command that converts
//! it; `linli-server upgrade-residents` converts it in place; afterwards
//! nothing of the old form is in the database file (bytes or any change of
//! any document), residents are pseudonyms whose sealed contacts open to
//! the same number and name, a request's answer is kept, and a second run
//! has nothing to do. A kiosk store of the old form then converts itself
//! against the converted server: nothing of the old form is left on its
//! disk, it still recognises its residents, and a visit it recorded offline
//! before the upgrade reaches the server under the resident's pseudonym.

use std::path::Path;

use automerge::{Automerge, ObjType, ROOT, transaction::Transactable};
use clap::Parser;
use hmac::{Hmac, Mac};
use linli_core::{phone::PhoneNumber, sqlite::Durability};
use linli_sync_engine::{ServerCore, clock::now_ms, provision};
use linli_sync_server::cli::{Cli, run_command};
use linli_tests::disk::search_disk_for;
use sha2::Sha256;

const PHONE: &str = "13812345678";
const NAME: &str = "王秀英";
const OLD_KEY: &[u8] = b"linli-0.1 phone key, 32 bytes !!";

fn old_hash() -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(OLD_KEY).expect("key");
    mac.update(PHONE.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A kiosk document of schema version 1 with one record naming the
/// resident the old way (and, for a request book, the server's answer).
fn v1_doc(kind: &str, kiosk: &str, period: &str, map: &str, id: &str) -> Automerge {
    let mut d = Automerge::new();
    d.transact::<_, _, automerge::AutomergeError>(|tx| {
        tx.put(ROOT, "schema", kind)?;
        tx.put(ROOT, "version", 1_u64)?;
        tx.put(ROOT, "hall_id", "xianfeng")?;
        tx.put(ROOT, "kiosk_id", kiosk)?;
        tx.put(ROOT, "period", period)?;
        let maps: &[&str] = if kind == "linli.ledger" {
            &["checkins", "ratings", "shifts"]
        } else {
            &["requests"]
        };
        for m in maps {
            let obj = tx.put_object(ROOT, *m, ObjType::Map)?;
            if *m != map {
                continue;
            }
            let rec = tx.put_object(&obj, id, ObjType::Map)?;
            tx.put(&rec, "kiosk_id", kiosk)?;
            tx.put(&rec, "at_ms", now_ms() - 3_600_000)?;
            if map == "checkins" {
                tx.put(&rec, "activity_id", "act")?;
                tx.put(&rec, "headcount", 1_u64)?;
                tx.put(&rec, "companions", 1_u64)?;
            } else {
                tx.put(&rec, "category", "repair")?;
                tx.put(&rec, "text", "楼道灯坏了")?;
                tx.put(&rec, "callback_consent", true)?;
                tx.put(&rec, "status", "resolved")?;
                tx.put(&rec, "reply", "已修好")?;
                tx.put(&rec, "updated_at_ms", 1_790_000_000_000_i64)?;
            }
            let r = tx.put_object(&rec, "resident", ObjType::Map)?;
            tx.put(&r, "phone_hash", old_hash())?;
            tx.put(&r, "phone_masked", "138****5678")?;
            tx.put(&r, "name", NAME)?;
        }
        Ok(())
    })
    .expect("v1 document");
    d
}

/// Turn a fresh server's projection back into the 0.1 one (migrations 1–3)
/// with its rows of the old form, and put the old key back.
fn age_the_database(
    dir: &Path,
    checkin: &str,
    request: &str,
    docs: &[String],
) -> anyhow::Result<()> {
    let mut c = rusqlite::Connection::open(dir.join(linli_sync_engine::db::DB_FILE))?;
    for t in [
        "projection_state",
        "checkins",
        "ratings",
        "shift_events",
        "requests",
        "quarantine",
        "checkin_days",
        "rating_days",
        "hall_residents",
        "request_answers",
        "redemptions",
    ] {
        c.execute_batch(&format!("DROP TABLE IF EXISTS {t}"))?;
    }
    c.execute(
        "DELETE FROM linli_migrations WHERE component = 'projection'",
        [],
    )?;
    linli_core::sqlite::migrate(
        &mut c,
        "projection",
        &linli_sync_engine::projection_schema::MIGRATIONS[..3],
    )?;
    c.execute(
        "INSERT INTO checkins (record_id, doc_id, hall_id, kiosk_id, date, activity_id, phone_hash, phone_masked, name,
             headcount, companions, kiosk_at_ms, received_ms) VALUES (?1, ?2, 'xianfeng', 'k', '2026-11-24', 'act', ?3, '138****5678', ?4, 1, 1, 0, 0)",
        rusqlite::params![checkin, docs[0], old_hash(), NAME],
    )?;
    c.execute(
        "INSERT INTO requests (record_id, doc_id, hall_id, kiosk_id, month, reference, category, text, phone_hash,
             phone_masked, name, callback_consent, status, reply, updated_ms, kiosk_at_ms, received_ms)
         VALUES (?1, ?2, 'xianfeng', 'k', '2026-11', 'R1', 'repair', '楼道灯坏了', ?3, '138****5678', ?4, 1, 'resolved', '已修好', 1790000000000, 0, 0)",
        rusqlite::params![request, docs[1], old_hash(), NAME],
    )?;
    c.execute(
        "INSERT OR REPLACE INTO server_meta (key, value) VALUES ('phone_key', ?1)",
        [hex::encode(OLD_KEY)],
    )?;
    Ok(())
}

async fn cli(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec![
        "linli-server",
        "--data-dir",
        dir.to_str().unwrap_or_default(),
    ];
    argv.extend(args);
    let mut out = Vec::new();
    run_command(&Cli::try_parse_from(argv)?, &mut out).await?;
    Ok(String::from_utf8(out)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_old_form_is_converted_in_place_and_keeps_nothing_of_it()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (core, _) = ServerCore::open(dir.path(), Durability::Normal, false).await?;
    provision::add_hall(&core, "xianfeng", "先锋", "Asia/Shanghai").await?;
    let (kiosk, _) = provision::add_kiosk(&core, "xianfeng", "大厅").await?;
    let (checkin, request) = (
        linli_core::ids::RecordId::new().to_string(),
        linli_core::ids::RecordId::new().to_string(),
    );
    let mut docs = Vec::new();
    for doc in [
        v1_doc(
            "linli.ledger",
            &kiosk.id,
            "2026-11-24",
            "checkins",
            &checkin,
        ),
        v1_doc("linli.requests", &kiosk.id, "2026-11", "requests", &request),
    ] {
        let h = core.repos.create("xianfeng", doc).await?;
        let (d, k) = (h.document_id().to_string(), kiosk.id.clone());
        core.tables.claim_doc(&d, "xianfeng", &k, now_ms()).await?;
        docs.push(h.document_id().to_string());
    }
    core.stop().await;
    drop(core);
    age_the_database(dir.path(), &checkin, &request, &docs)?;

    // This build refuses it, naming the command.
    let refused = ServerCore::open(dir.path(), Durability::Normal, false)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("linli-server upgrade-residents"),
        "{refused}"
    );

    let needles: Vec<(String, Vec<u8>)> = ["138****5678", NAME, &old_hash(), &hex::encode(OLD_KEY)]
        .iter()
        .map(|s| (s.to_string(), s.as_bytes().to_vec()))
        .collect();
    let (before, _, _) = search_disk_for(dir.path(), "the old server", &needles)?;
    assert!(
        before.iter().any(|f| f.contains("document")) && before.iter().any(|f| f.contains("file")),
        "the search sees the old form in documents and in the file: {before:?}"
    );

    let out = cli(dir.path(), &["upgrade-residents"]).await?;
    assert!(
        out.contains("upgraded: 1 residents (0 whose number could not be recovered are erased), 2 records in 2 documents"),
        "{out}"
    );

    // Nothing of the old form anywhere in the data directory.
    let (found, _, searched) = search_disk_for(dir.path(), "the converted server", &needles)?;
    assert!(searched >= 4, "documents searched: {searched}");
    assert!(
        found.is_empty(),
        "left of the old form:\n{}",
        found.join("\n")
    );

    // Residents are pseudonyms whose sealed contacts open to them.
    let (core, _) = ServerCore::open(dir.path(), Durability::Normal, false).await?;
    let pseudonym = core.residents.pseudonym(&PhoneNumber::parse(PHONE)?)?;
    let (p, c2, r2) = (pseudonym.clone(), checkin.clone(), request.clone());
    let rows: (String, Option<String>, String, Option<String>, String) = core
        .sqlite("a test query")?
        .run(move |c| {
            c.query_row(
                "SELECT k.phone_hash, k.sealed, r.phone_hash, r.sealed, r.status FROM checkins k, requests r
                 WHERE k.record_id = ?1 AND r.record_id = ?2",
                [&c2, &r2],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .map_err(|e| linli_sync_engine::Error::db("rows", e))
        })
        .await?;
    assert_eq!((rows.0.as_str(), rows.2.as_str()), (p.as_str(), p.as_str()));
    assert_eq!(rows.4, "resolved", "the answer is kept");
    let shown = core.residents.shown(Some(&pseudonym), rows.1.as_deref());
    assert_eq!(
        (shown.masked.as_deref(), shown.name.as_deref()),
        (Some("138****5678"), Some(NAME))
    );
    assert_eq!(
        core.residents
            .reveal(rows.3.as_deref().unwrap_or_default())?,
        PHONE
    );
    let retired: i64 = core
        .sqlite("a test query")?
        .run(|c| {
            c.query_row(
                "SELECT count(*) FROM documents WHERE retired_ms IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .map_err(|e| linli_sync_engine::Error::db("retired", e))
        })
        .await?;
    assert_eq!(retired, 2, "both old documents retired");
    core.stop().await;
    drop(core);

    let again = cli(dir.path(), &["upgrade-residents"]).await?;
    assert!(again.contains("nothing to upgrade"), "{again}");
    Ok(())
}

/// Put a JSON value into an Automerge object as Linli 0.1 wrote records.
fn put_json(
    tx: &mut impl Transactable,
    obj: &automerge::ObjId,
    key: &str,
    v: &serde_json::Value,
) -> anyhow::Result<()> {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let o = tx.put_object(obj, key, ObjType::Map)?;
            for (k, x) in m {
                put_json(tx, &o, k, x)?;
            }
        }
        Value::String(s) => tx.put(obj, key, s.as_str())?,
        Value::Bool(b) => tx.put(obj, key, *b)?,
        Value::Number(n) => tx.put(obj, key, n.as_i64().unwrap_or_default())?,
        Value::Null | Value::Array(_) => {}
    }
    Ok(())
}

/// The resident of the old form behind a new one.
fn old_form(
    r: &serde_json::Value,
    people: &std::collections::HashMap<String, (String, String)>,
) -> serde_json::Value {
    let Some((phone, name)) = r["pseudonym"].as_str().and_then(|p| people.get(p)) else {
        return r.clone();
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(OLD_KEY).expect("key");
    mac.update(phone.as_bytes());
    serde_json::json!({
        "phone_hash": hex::encode(mac.finalize().into_bytes()),
        "phone_masked": format!("{}****{}", &phone[..3], &phone[7..]),
        "name": name,
    })
}

/// A version-1 document of `rows` (journal rows: map, record id, payload).
fn v1_from_rows(
    kind: &str,
    kiosk: &str,
    period: &str,
    rows: &[(String, String, serde_json::Value)],
) -> anyhow::Result<Vec<u8>> {
    let mut d = Automerge::new();
    let mut tx = d.transaction();
    tx.put(
        ROOT,
        "schema",
        if kind == "ledger" {
            "linli.ledger"
        } else {
            "linli.requests"
        },
    )?;
    tx.put(ROOT, "version", 1_u64)?;
    tx.put(ROOT, "hall_id", "xianfeng")?;
    tx.put(ROOT, "kiosk_id", kiosk)?;
    tx.put(ROOT, "period", period)?;
    let maps: &[&str] = if kind == "ledger" {
        &["checkins", "ratings", "shifts"]
    } else {
        &["requests"]
    };
    for m in maps {
        let obj = tx.put_object(ROOT, *m, ObjType::Map)?;
        for (map, id, payload) in rows {
            if map == m {
                put_json(&mut tx, &obj, id, payload)?;
            }
        }
    }
    tx.commit();
    Ok(d.save())
}

/// Turn a paired kiosk's store and its server back into what Linli 0.1
/// left: old-form journal and configuration (with the old key), and every
/// kiosk document rewritten as a version-1 document under the same id on
/// both sides (the server's without the records it never confirmed).
fn age_kiosk_and_server(
    kiosk_dir: &Path,
    server_dir: &Path,
    people: &std::collections::HashMap<String, (String, String)>,
) -> anyhow::Result<()> {
    let k = rusqlite::Connection::open(kiosk_dir.join(linli_core::node::STORE_FILE))?;
    let kd = rusqlite::Connection::open(kiosk_dir.join(linli_core::node::DOCUMENTS_FILE))?;
    let s = rusqlite::Connection::open(server_dir.join(linli_sync_engine::db::DB_FILE))?;
    let config: String = k.query_row(
        "SELECT value FROM kiosk_meta WHERE key = 'config'",
        [],
        |r| r.get(0),
    )?;
    let mut config: serde_json::Value = serde_json::from_str(&config)?;
    let kiosk_id = config["kiosk_id"].as_str().unwrap_or_default().to_string();
    config.as_object_mut().map(|o| o.remove("identity"));
    config["phone_key"] = hex::encode(OLD_KEY).into();
    config["protocol"] = 1.into();
    k.execute(
        "UPDATE kiosk_meta SET value = ?1 WHERE key = 'config'",
        [config.to_string()],
    )?;
    let rows: Vec<(String, String, String, String, String, bool)> = k
        .prepare(
            "SELECT record_id, doc_kind, period, map, payload, synced_ms IS NOT NULL FROM journal",
        )?
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut aged = Vec::new();
    for (id, kind, period, map, payload, synced) in rows {
        let mut v: serde_json::Value = serde_json::from_str(&payload)?;
        let mut hash = None;
        for field in ["resident", "volunteer"] {
            if v[field].is_object() {
                v[field] = old_form(&v[field], people);
                hash = v[field]["phone_hash"].as_str().map(str::to_string);
            }
        }
        k.execute(
            "UPDATE journal SET payload = ?2, phone_hash = ?3 WHERE record_id = ?1",
            rusqlite::params![id, v.to_string(), hash],
        )?;
        aged.push((kind, period, map, id, v, synced));
    }
    let docs: Vec<(String, String, String)> = k
        .prepare("SELECT kind, period, doc_id FROM kiosk_docs")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (kind, period, doc) in docs {
        let of_doc = |all: bool| -> Vec<(String, String, serde_json::Value)> {
            aged.iter()
                .filter(|a| a.0 == kind && a.1 == period && (all || a.5))
                .map(|a| (a.2.clone(), a.3.clone(), a.4.clone()))
                .collect()
        };
        for (c, bytes) in [
            (&kd, v1_from_rows(&kind, &kiosk_id, &period, &of_doc(true))?),
            (&s, v1_from_rows(&kind, &kiosk_id, &period, &of_doc(false))?),
        ] {
            c.execute(
                "DELETE FROM samod_storage WHERE key >= ?1 || '/' AND key < ?1 || '0'",
                [&doc],
            )?;
            c.execute(
                "INSERT INTO samod_storage (key, data) VALUES (?1, ?2)",
                rusqlite::params![format!("{doc}/snapshot/v1fixture"), bytes],
            )?;
        }
    }
    s.execute(
        "INSERT OR REPLACE INTO server_meta (key, value) VALUES ('phone_key', ?1)",
        [hex::encode(OLD_KEY)],
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_store_of_the_old_form_converts_itself_once_its_server_is_converted()
-> anyhow::Result<()> {
    use linli_core::{
        model::RequestCategory,
        node::{CheckInOutcome, NewCheckIn, ResidentInput},
    };
    linli_test_kit::init_logging();
    let mut server = linli_test_kit::TestServer::start().await?;
    let core = server.core()?;
    let act = linli_test_kit::open_activity(&core, "xianfeng", "health_clinic", "健康义诊").await?;
    const OTHER: (&str, &str) = ("15011112222", "刘桂兰");
    let person = |who: (&str, &str)| -> anyhow::Result<ResidentInput> {
        Ok(ResidentInput {
            phone: PhoneNumber::parse(who.0)?,
            name: Some(who.1.into()),
        })
    };
    let visit = |who| -> anyhow::Result<NewCheckIn> {
        Ok(NewCheckIn {
            activity_id: act.clone(),
            resident: Some(person(who)?),
            headcount: 1,
            companions: 0,
        })
    };
    let mut kiosk = linli_test_kit::TestKiosk::pair(&server, "xianfeng", true).await?;
    kiosk.node().record_checkin(visit((PHONE, NAME))?).await?;
    kiosk
        .node()
        .record_request(
            RequestCategory::Repair,
            "楼道灯坏了".into(),
            Some(person((PHONE, NAME))?),
            true,
        )
        .await?;
    kiosk
        .node()
        .wait_synced(std::time::Duration::from_secs(30))
        .await?;
    server.api.wait_checkins("xianfeng", 1).await?;
    // One more visit while the kiosk is offline: never confirmed.
    kiosk.power_off().await;
    kiosk.power_on(false).await?;
    kiosk.node().record_checkin(visit(OTHER)?).await?;
    kiosk.power_off().await;
    let mut people = std::collections::HashMap::new();
    for (p, n) in [(PHONE, NAME), OTHER] {
        people.insert(
            core.residents.pseudonym(&PhoneNumber::parse(p)?)?,
            (p.to_string(), n.to_string()),
        );
    }
    drop(core);
    server.stop().await?;
    age_kiosk_and_server(&kiosk.data_dir(), &server.data_dir(), &people)?;
    let old_needles: Vec<(String, Vec<u8>)> = [
        "138****5678",
        "150****2222",
        NAME,
        OTHER.1,
        &old_hash(),
        &hex::encode(OLD_KEY),
    ]
    .iter()
    .map(|s| (s.to_string(), s.as_bytes().to_vec()))
    .collect();
    let (before, _, _) = search_disk_for(&kiosk.data_dir(), "the old kiosk", &old_needles)?;
    assert!(before.iter().any(|f| f.contains("document")), "{before:?}");

    // With its server stopped, the old store is refused and left as it is.
    let refused = linli_core::KioskNode::open(linli_test_kit::test_options(&kiosk.data_dir()))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("linli-server upgrade-residents")
            && refused.contains("Nothing was changed"),
        "{refused}"
    );
    let (still, _, _) = search_disk_for(&kiosk.data_dir(), "the old kiosk", &old_needles)?;
    assert_eq!(still.len(), before.len(), "nothing changed");

    let out = cli(&server.data_dir(), &["upgrade-residents"]).await?;
    assert!(out.contains("upgraded:"), "{out}");
    server.restart().await?;
    kiosk.power_on(true).await?;

    let dir = kiosk.data_dir();
    linli_test_kit::eventually(
        std::time::Duration::from_secs(60),
        "the kiosk store converted",
        || {
            let (dir, needles) = (dir.clone(), old_needles.clone());
            async move {
                let copy = tempfile::tempdir()?;
                linli_tests::disk::copy_dir(&dir, copy.path())?;
                let (found, _, _) = search_disk_for(copy.path(), "the kiosk", &needles)?;
                Ok(found.is_empty().then_some(()))
            }
        },
    )
    .await?;
    kiosk
        .node()
        .wait_synced(std::time::Duration::from_secs(30))
        .await?;
    server.api.wait_checkins("xianfeng", 2).await?;
    let store = kiosk.data_dir().join(linli_core::node::STORE_FILE);
    linli_test_kit::eventually(
        std::time::Duration::from_secs(30),
        "the conversion finished",
        || {
            let store = store.clone();
            async move {
                let c = rusqlite::Connection::open(&store)?;
                let pending: i64 = c.query_row(
                    "SELECT count(*) FROM kiosk_meta WHERE key = 'upgrade.old_documents'",
                    [],
                    |r| r.get(0),
                )?;
                Ok((pending == 0).then_some(()))
            }
        },
    )
    .await?;
    let node = kiosk.node();
    assert_eq!(
        node.known_name(&PhoneNumber::parse(PHONE)?)
            .await?
            .as_deref(),
        Some(NAME)
    );
    assert_eq!(
        node.known_name(&PhoneNumber::parse(OTHER.0)?)
            .await?
            .as_deref(),
        Some(OTHER.1)
    );
    assert_eq!(
        node.record_checkin(visit((PHONE, NAME))?).await?,
        CheckInOutcome::AlreadyCheckedIn
    );
    assert_eq!(
        node.my_requests(&PhoneNumber::parse(PHONE)?).await?.len(),
        1
    );
    let core = server.core()?;
    let pseudonyms: Vec<String> = core
        .sqlite("a test query")?
        .run(|c| {
            let mut st = c
                .prepare("SELECT phone_hash FROM checkins ORDER BY phone_hash")
                .map_err(|e| linli_sync_engine::Error::db("q", e))?;
            let rows = st
                .query_map([], |r| r.get(0))
                .map_err(|e| linli_sync_engine::Error::db("q", e))?;
            Ok(rows.filter_map(Result::ok).collect())
        })
        .await?;
    let mut want: Vec<String> = people.keys().cloned().collect();
    want.sort();
    assert_eq!(
        pseudonyms, want,
        "both visits, each under its resident's pseudonym"
    );
    Ok(())
}
