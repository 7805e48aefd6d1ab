//! No one reaches a hall that is not theirs: tokens, hall isolation,
//! content checks, hostile messages, damaged stores.

use std::{str::FromStr, time::Duration};

use automerge::{ReadDoc, transaction::Transactable};
use futures::{SinkExt, StreamExt};
use linli_core::{
    docs::{ledger, requests},
    model::{CheckIn, Rating},
    protocol,
    sqlite::DbOptions,
    storage::SqliteStorage,
};
use linli_test_kit::Store;
use linli_test_kit::{RawPeer, TestKiosk, TestServer, eventually, init_logging};
use samod::{AutomergeUrl, DocumentId};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

const WAIT: Duration = Duration::from_secs(20);

async fn synced_kiosk(server: &TestServer, hall: &str, n: usize) -> anyhow::Result<TestKiosk> {
    let k = TestKiosk::pair(server, hall, true).await?;
    let before = server.api.checkin_count(hall).await?;
    k.record_checkins("act-1", n, 7).await?;
    k.node().wait_synced(WAIT).await?;
    server.api.wait_checkins(hall, before + n as u64).await?;
    Ok(k)
}

fn sync_request(
    server: &TestServer,
    token: Option<&str>,
    query_token: bool,
) -> anyhow::Result<tungstenite::handshake::client::Request> {
    let mut url = protocol::sync_url(&server.url)?;
    if let (Some(t), true) = (token, query_token) {
        url.set_query(Some(&format!("token={t}")));
    }
    let mut req = url.as_str().into_client_request()?;
    if let (Some(t), false) = (token, query_token) {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse()?);
    }
    Ok(req)
}

async fn ws_status(req: tungstenite::handshake::client::Request) -> u16 {
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, resp)) => resp.status().as_u16(),
        Err(tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
    }
}

async fn sync_and_api_refuse_missing_wrong_and_revoked_tokens(store: Store) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let kiosk = synced_kiosk(&server, "xianfeng", 1).await?;

    assert_eq!(ws_status(sync_request(&server, None, false)?).await, 401);
    assert_eq!(
        ws_status(sync_request(&server, Some("lk_wrong"), false)?).await,
        401
    );
    assert_eq!(
        ws_status(sync_request(&server, Some("lk_wrong"), true)?).await,
        401
    );
    // The right token works in the header and, for browser-style clients, the query.
    assert_eq!(
        ws_status(sync_request(&server, Some(&kiosk.token), false)?).await,
        101
    );
    assert_eq!(
        ws_status(sync_request(&server, Some(&kiosk.token), true)?).await,
        101
    );

    let http = reqwest::Client::new();
    let halls = server.url.join("api/v1/halls")?;
    assert_eq!(http.get(halls.clone()).send().await?.status(), 401);
    assert_eq!(
        http.get(halls.clone())
            .bearer_auth("la_wrong")
            .send()
            .await?
            .status(),
        401
    );
    // A kiosk token is not an admin token.
    assert_eq!(
        http.get(halls)
            .bearer_auth(&kiosk.token)
            .send()
            .await?
            .status(),
        401
    );
    let config = server.url.join("api/v1/kiosk/config")?;
    assert_eq!(
        http.get(config.clone())
            .bearer_auth("lk_wrong")
            .send()
            .await?
            .status(),
        401
    );

    // Revoked: the live connection drops within a second and the kiosk
    // stops retrying, asking staff to re-pair.
    let (status, _) = server
        .api
        .post(
            &format!("api/v1/kiosks/{}/revoke", kiosk.id),
            &serde_json::json!({}),
        )
        .await?;
    assert_eq!(status, 204);
    let started = std::time::Instant::now();
    let mut rx = kiosk.node().status();
    eventually(WAIT, "the revoked kiosk to go offline", || {
        let s = rx.borrow_and_update().clone();
        async move { Ok((!s.online).then_some(())) }
    })
    .await?;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    eventually(WAIT, "the kiosk to ask for re-pairing", || {
        let s = kiosk.node().status().borrow().clone();
        async move { Ok(s.needs_repair.then_some(s)) }
    })
    .await?;
    assert_eq!(
        http.get(config)
            .bearer_auth(&kiosk.token)
            .send()
            .await?
            .status(),
        401
    );
    assert_eq!(
        ws_status(sync_request(&server, Some(&kiosk.token), false)?).await,
        401
    );
    Ok(())
}

async fn an_older_or_newer_protocol_gets_a_clear_refusal(store: Store) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let kiosk = synced_kiosk(&server, "xianfeng", 0).await?;
    // "1" is a kiosk from before residents' pseudonyms: it would still send
    // reversible phone hashes, so it is refused like any other version.
    for version in ["99", "1"] {
        let resp = reqwest::Client::new()
            .get(server.url.join("api/v1/kiosk/config")?)
            .bearer_auth(&kiosk.token)
            .header(protocol::PROTOCOL_HEADER, version)
            .send()
            .await?;
        assert_eq!(resp.status(), 426, "protocol {version}");
        assert_eq!(
            resp.headers()[protocol::PROTOCOL_HEADER],
            protocol::PROTOCOL_VERSION.to_string().as_str()
        );
        let body: serde_json::Value = resp.json().await?;
        assert!(
            body["error"]
                .as_str()
                .unwrap_or("")
                .contains("update the kiosk"),
            "{body}"
        );
    }
    Ok(())
}

async fn a_kiosk_of_another_hall_can_neither_read_nor_write_a_halls_documents(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let a = synced_kiosk(&server, "xianfeng", 5).await?;
    let today = a.node().local_date(a.node().now_ms());
    let ledger_id = DocumentId::from_str(&a.node().ledger_id(&today).await?.expect("ledger"))?;
    let a_calendar = AutomergeUrl::from_str(&a.node().config().calendar_url)?
        .document_id()
        .clone();

    let (b_id, b_token) = server.api.add_kiosk("tuanjiexiang", "另一个大厅").await?;
    let b_peer = protocol::kiosk_peer_id(&b_id);

    // Read: hall A's ledger and calendar are not there for B; B's own calendar is.
    let b = RawPeer::connect(&server, &b_token, &b_peer).await?;
    let found = tokio::time::timeout(WAIT, b.repo.find(ledger_id.clone())).await??;
    assert!(found.is_none(), "hall B read hall A's ledger");
    let found = tokio::time::timeout(WAIT, b.repo.find(a_calendar)).await??;
    assert!(found.is_none(), "hall B read hall A's calendar");
    let b_config = protocol::fetch_kiosk_config(&server.url, &b_token, &Default::default()).await?;
    let own = AutomergeUrl::from_str(&b_config.calendar_url)?
        .document_id()
        .clone();
    assert!(
        tokio::time::timeout(WAIT, b.repo.find(own))
            .await??
            .is_some()
    );
    b.dialer.close();
    b.repo.stop().await;

    // Write: B holds a copy of A's ledger (say, leaked), adds a check-in
    // and syncs. The server ignores it.
    let core = server.core()?;
    let handle = core
        .repos
        .find(ledger_id.clone())
        .await?
        .expect("server has the ledger");
    let (bytes, heads_before) = handle.with_document(|d| (d.save(), d.get_heads()));
    let dir = tempfile::tempdir()?;
    let storage = SqliteStorage::open(&dir.path().join("forged.sqlite3"), DbOptions::default())?;
    samod::storage::Storage::put(
        &storage,
        samod::storage::StorageKey::from_parts([
            ledger_id.to_string(),
            "incremental".into(),
            "forged".into(),
        ])?,
        bytes,
    )
    .await;
    let b = RawPeer::connect_with_storage(&server, &b_token, &b_peer, storage).await?;
    let forged = b.repo.find(ledger_id.clone()).await?.expect("local copy");
    forged.with_document(|d| {
        ledger::add_checkin(
            d,
            &linli_core::ids::RecordId::new().to_string(),
            &CheckIn {
                activity_id: "act-1".into(),
                service: None,
                resident: None,
                headcount: 50,
                companions: 0,
                kiosk_id: a.id.clone(),
                at_ms: 0,
            },
        )
    })?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        handle.with_document(|d| d.get_heads()),
        heads_before,
        "server took a foreign change"
    );
    assert_eq!(server.api.checkin_count("xianfeng").await?, 5);
    // Hall A's own kiosk is unaffected.
    a.record_checkins("act-1", 1, 8).await?;
    server.api.wait_checkins("xianfeng", 6).await?;
    Ok(())
}

async fn content_that_names_another_kiosk_or_breaks_the_schema_is_quarantined(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let honest = synced_kiosk(&server, "xianfeng", 3).await?;
    let (rogue_id, rogue_token) = server.api.add_kiosk("xianfeng", "被篡改的终端").await?;
    let rogue =
        RawPeer::connect(&server, &rogue_token, &protocol::kiosk_peer_id(&rogue_id)).await?;

    // A ledger that claims to be the honest kiosk's.
    let impostor = ledger::new_ledger("xianfeng", &honest.id, "2026-11-23")?;
    let h1 = rogue.repo.create(impostor).await?;
    h1.with_document(|d| {
        ledger::add_checkin(
            d,
            &linli_core::ids::RecordId::new().to_string(),
            &CheckIn {
                activity_id: "act-1".into(),
                service: None,
                resident: None,
                headcount: 9,
                companions: 0,
                kiosk_id: honest.id.clone(),
                at_ms: 0,
            },
        )
    })?;
    // Its own ledger, with one good check-in and one rating of 9 smileys.
    let own = rogue
        .repo
        .create(ledger::new_ledger("xianfeng", &rogue_id, "2026-11-23")?)
        .await?;
    own.with_document(|d| -> anyhow::Result<()> {
        ledger::add_checkin(
            d,
            &linli_core::ids::RecordId::new().to_string(),
            &CheckIn {
                activity_id: "act-1".into(),
                service: None,
                resident: None,
                headcount: 2,
                companions: 0,
                kiosk_id: rogue_id.clone(),
                at_ms: 0,
            },
        )?;
        let ratings = match d.get(automerge::ROOT, ledger::RATINGS)? {
            Some((_, id)) => id,
            None => anyhow::bail!("no ratings map"),
        };
        let mut tx = d.transaction();
        autosurgeon::reconcile_prop(
            &mut tx,
            &ratings,
            linli_core::ids::RecordId::new().to_string().as_str(),
            &Rating {
                activity_id: "act-1".into(),
                score: 9,
                reason: None,
                kiosk_id: rogue_id.clone(),
                at_ms: 0,
            },
        )?;
        tx.put(automerge::ROOT, "noise", "x")?;
        tx.commit();
        Ok(())
    })?;

    let q = eventually(WAIT, "two quarantined items", || async {
        let q = server.api.get("api/v1/halls/xianfeng/quarantine").await?;
        Ok((q.as_array().map(Vec::len) == Some(2)).then_some(q))
    })
    .await?;
    let reasons: Vec<String> = q
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| format!("{} {}", r["kiosk_id"], r["reason"]))
        .collect();
    assert!(reasons.iter().all(|r| r.contains(&rogue_id)), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("names kiosk")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("score")), "{reasons:?}");
    // The good record of the rogue's own ledger counts; the impostor's does not.
    assert_eq!(server.api.checkin_count("xianfeng").await?, 4);
    let _ = requests::REQUESTS;
    Ok(())
}

async fn a_malformed_message_closes_only_that_connection(store: Store) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let good = synced_kiosk(&server, "xianfeng", 2).await?;
    let (_, token) = server.api.add_kiosk("xianfeng", "坏终端").await?;

    for garbage in [
        Message::Binary(vec![0xff, 0x00, 0x13, 0x37].into()),
        Message::Text("hello".into()),
    ] {
        let (mut ws, _) =
            tokio_tungstenite::connect_async(sync_request(&server, Some(&token), false)?).await?;
        ws.send(garbage).await?;
        let closed = tokio::time::timeout(WAIT, async {
            while let Some(m) = ws.next().await {
                match m {
                    Ok(Message::Close(_)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "the server kept a connection that sent garbage"
        );
    }
    // Everyone else keeps syncing.
    good.record_checkins("act-1", 3, 9).await?;
    server.api.wait_checkins("xianfeng", 5).await?;
    assert_eq!(server.api.get("healthz").await?["status"], "ok");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_kiosk_store_gives_a_clear_error_and_is_not_overwritten() -> anyhow::Result<()>
{
    init_logging();
    let server = TestServer::start().await?;
    let mut kiosk = synced_kiosk(&server, "xianfeng", 2).await?;
    kiosk.power_off().await;
    let path = kiosk.data_dir().join(linli_core::node::STORE_FILE);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut bytes = std::fs::read(&path)?;
    bytes[..100].copy_from_slice(&[0x42; 100]);
    std::fs::write(&path, &bytes)?;

    let err = match kiosk.power_on(true).await {
        Ok(()) => anyhow::bail!("a damaged store opened"),
        Err(e) => e,
    };
    let err = err.downcast::<linli_core::Error>()?;
    assert!(
        matches!(err, linli_core::Error::CorruptStore { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("has not been changed"), "{err}");
    assert_eq!(
        std::fs::read(&path)?,
        bytes,
        "the damaged file was modified"
    );
    // Pairing again into the same directory refuses too, instead of starting over.
    let again = linli_core::KioskNode::pair(
        linli_test_kit::test_options(&kiosk.data_dir()),
        &server.url,
        &kiosk.token,
    )
    .await;
    assert!(matches!(again, Err(linli_core::Error::CorruptStore { .. })));
    assert_eq!(std::fs::read(&path)?, bytes);
    Ok(())
}

async fn kiosks_read_their_hall_calendar_but_cannot_change_it(store: Store) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let core = server.core()?;
    let activity = linli_core::model::Activity {
        kind: "lecture".into(),
        title: "糖尿病防治讲座".into(),
        room: Some("多功能厅".into()),
        starts_at_ms: 1_700_000_000_000,
        ends_at_ms: 1_700_003_600_000,
        capacity: Some(50),
        named_checkin: true,
        cancelled: false,
    };
    linli_sync_engine::provision::put_activity(&core, "xianfeng", None, activity).await?;
    let (id, token) = server.api.add_kiosk("xianfeng", "大厅入口").await?;
    let peer = RawPeer::connect(&server, &token, &protocol::kiosk_peer_id(&id)).await?;
    let config = protocol::fetch_kiosk_config(&server.url, &token, &Default::default()).await?;
    let cal_id = AutomergeUrl::from_str(&config.calendar_url)?
        .document_id()
        .clone();
    let cal = tokio::time::timeout(WAIT, peer.repo.find(cal_id.clone()))
        .await??
        .expect("calendar readable");
    let acts = cal.with_document(|d| linli_core::docs::calendar::activities(d))?;
    assert_eq!(acts.len(), 1);
    assert_eq!(acts[0].1.title, "糖尿病防治讲座");
    // The kiosk renames the hall in its copy; the server keeps its own.
    cal.with_document(|d| linli_core::docs::calendar::set_hall_name(d, "被改掉的名字"))?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let server_cal = core.repos.find(cal_id).await?.expect("server calendar");
    let name = server_cal.with_document(|d| linli_core::docs::calendar::hall_name(d))?;
    assert_eq!(name.as_deref(), Some("先锋社区党群服务中心"));
    Ok(())
}

/// Issue 12: status and reply are the server's. A kiosk (or anyone with its
/// token) that writes them into its own request book moves nothing: the
/// request stays as staff left it, the write is quarantined with the
/// reason, and staff's own answers still go through.
async fn a_kiosk_that_forges_a_status_moves_no_resolution_rate(store: Store) -> anyhow::Result<()> {
    use linli_core::model::{RequestCategory, RequestReply, RequestStatus};
    init_logging();
    let server = TestServer::start_on(store).await?;
    let mut honest = TestKiosk::pair(&server, "xianfeng", true).await?;
    let id = honest
        .node()
        .record_request(RequestCategory::Repair, "路灯不亮".into(), None, false)
        .await?
        .to_string();
    honest.node().wait_synced(WAIT).await?;
    let book: String = eventually(WAIT, "the request on the server", || async {
        let docs = server
            .sql_strings(&format!(
                "SELECT doc_id FROM requests WHERE record_id = '{id}'"
            ))
            .await?;
        Ok(docs.into_iter().next())
    })
    .await?;
    honest.power_off().await;

    // Someone with the kiosk's token marks the request resolved in its book.
    let forger =
        RawPeer::connect(&server, &honest.token, &protocol::kiosk_peer_id(&honest.id)).await?;
    let doc = tokio::time::timeout(WAIT, forger.repo.find(DocumentId::from_str(&book)?))
        .await??
        .expect("the kiosk's own book");
    doc.with_document(|d| {
        requests::set_reply(
            d,
            &id,
            &RequestReply {
                status: RequestStatus::Resolved,
                reply: Some("已解决".into()),
                updated_at_ms: 1_795_000_000_000,
            },
        )
    })?;
    let quarantined = eventually(WAIT, "the forged answer quarantined", || async {
        let q = server.api.get("api/v1/halls/xianfeng/quarantine").await?;
        Ok(q.as_array().and_then(|a| {
            a.iter()
                .find(|r| r["record_key"].as_str().is_some_and(|k| k.ends_with(&id)))
                .cloned()
        }))
    })
    .await?;
    assert!(
        quarantined["reason"]
            .as_str()
            .is_some_and(|r| r.contains("only the server writes")),
        "{quarantined}"
    );
    let listed = server.api.get("api/v1/halls/xianfeng/requests").await?;
    assert_eq!(listed[0]["status"], "received", "{listed}");
    assert_eq!(listed[0]["reply"], serde_json::Value::Null, "{listed}");
    forger.dialer.close();
    forger.repo.stop().await;

    // Staff answer: that one counts, and is not taken for a forgery.
    let (status, _) = server
        .api
        .post(
            &format!("api/v1/halls/xianfeng/requests/{id}/reply"),
            &serde_json::json!({"status": "in_progress", "reply": "已派人查看"}),
        )
        .await?;
    assert_eq!(status, 204);
    eventually(WAIT, "staff's answer projected", || async {
        let v = server.api.get("api/v1/halls/xianfeng/requests").await?;
        Ok((v[0]["status"] == "in_progress").then_some(()))
    })
    .await?;
    let q = server.api.get("api/v1/halls/xianfeng/quarantine").await?;
    assert_eq!(
        q.as_array().map(Vec::len),
        Some(1),
        "only the forgery is quarantined: {q}"
    );
    Ok(())
}

linli_test_kit::on_both_stores! {
    sync_and_api_refuse_missing_wrong_and_revoked_tokens,
    an_older_or_newer_protocol_gets_a_clear_refusal,
    a_malformed_message_closes_only_that_connection,
    kiosks_read_their_hall_calendar_but_cannot_change_it,
    a_kiosk_of_another_hall_can_neither_read_nor_write_a_halls_documents,
    content_that_names_another_kiosk_or_breaks_the_schema_is_quarantined,
    a_kiosk_that_forges_a_status_moves_no_resolution_rate,
}
