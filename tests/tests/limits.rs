//! The limits of `linli_sync_engine::limits`, each met over a real socket
//! with the refusal it promises, while well-behaved kiosks go on syncing.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use linli_core::protocol;
use linli_sync_engine::limits;
use linli_test_kit::Store;
use linli_test_kit::{RawPeer, TestKiosk, TestServer, init_logging};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Open `/sync` with `token`: the socket, or the HTTP status it was refused with.
async fn open(server: &TestServer, token: &str) -> anyhow::Result<Result<Ws, u16>> {
    let url = protocol::sync_url(&server.url)?;
    let mut req = url.as_str().into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(Ok(ws)),
        Err(tungstenite::Error::Http(resp)) => Ok(Err(resp.status().as_u16())),
        Err(e) => Err(e.into()),
    }
}

/// Whether the server closes `ws` within a few seconds.
async fn closed_by_server(ws: &mut Ws) -> bool {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .unwrap_or(false)
}

async fn oversized_messages_and_extra_connections_are_refused(store: Store) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let honest = TestKiosk::pair(&server, "xianfeng", true).await?;
    let (_, token) = server.api.add_kiosk("xianfeng", "rogue").await?;

    // A message over the size limit closes only that connection.
    let mut ws = open(&server, &token)
        .await?
        .map_err(|s| anyhow::anyhow!("{s}"))?;
    let big = vec![0u8; limits::MAX_MESSAGE_BYTES + 1024];
    let _ = ws.send(Message::Binary(big.into())).await;
    assert!(
        closed_by_server(&mut ws).await,
        "oversized message accepted"
    );
    honest.record_checkins("act-1", 3, 1).await?;
    server.api.wait_checkins("xianfeng", 3).await?;

    // Connections per token: the one over the limit gets 429, before any
    // upgrade; when one closes there is room again.
    let mut held = Vec::new();
    for _ in 0..limits::MAX_CONNECTIONS_PER_KIOSK {
        held.push(
            open(&server, &token)
                .await?
                .map_err(|s| anyhow::anyhow!("{s}"))?,
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(open(&server, &token).await?.err(), Some(429));
    let mut first = held.remove(0);
    let _ = first.close(None).await;
    drop(first);
    let mut reopened = None;
    for _ in 0..50 {
        if let Ok(ws) = open(&server, &token).await? {
            reopened = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened.is_some(), "a closed connection frees its place");
    // The honest kiosk of the same hall is not affected.
    honest.record_checkins("act-1", 2, 2).await?;
    server.api.wait_checkins("xianfeng", 5).await?;
    Ok(())
}

async fn guessing_tokens_is_blocked_but_a_revoked_kiosk_is_told_to_re_pair(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let (id, revoked) = server.api.add_kiosk("xianfeng", "old").await?;
    let (status, _) = server
        .api
        .post(
            &format!("api/v1/kiosks/{id}/revoke"),
            &serde_json::json!({}),
        )
        .await?;
    assert!(status < 300, "{status}");
    // A revoked kiosk retrying its one token: 401 every time, never blocked.
    for _ in 0..3 * limits::MAX_TOKEN_FAILURES {
        assert_eq!(open(&server, &revoked).await?.err(), Some(401));
    }
    // Many different wrong tokens from one address: 401 until the limit,
    // then 429 — for the sync endpoint and the API alike. (The revoked
    // token was the first distinct wrong one.)
    for i in 0..limits::MAX_TOKEN_FAILURES - 2 {
        assert_eq!(
            open(&server, &format!("lk_guess{i:04}")).await?.err(),
            Some(401)
        );
    }
    let http = reqwest::Client::new();
    let last = http
        .get(server.url.join("api/v1/halls")?)
        .bearer_auth("la_guess_last")
        .send()
        .await?;
    assert_eq!(last.status(), 401);
    assert_eq!(open(&server, "lk_one_more").await?.err(), Some(429));
    let api = http
        .get(server.url.join("api/v1/halls")?)
        .bearer_auth("la_another")
        .send()
        .await?;
    assert_eq!(api.status(), 429);
    let body = api.text().await?;
    assert!(body.contains("too many"), "{body}");
    Ok(())
}

async fn a_kiosk_creating_documents_without_end_is_cut_off(store: Store) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let (id, token) = server.api.add_kiosk("xianfeng", "flood").await?;
    let rogue = RawPeer::connect(&server, &token, &protocol::kiosk_peer_id(&id)).await?;
    let core = server.core()?;
    let over = limits::MAX_NEW_DOCS_PER_KIOSK_PER_DAY + 6;
    for i in 0..over {
        let mut doc = automerge::Automerge::new();
        let mut tx = doc.transaction();
        automerge::transaction::Transactable::put(&mut tx, automerge::ROOT, "n", i)?;
        tx.commit();
        let _ = rogue.repo.create(doc).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let kiosk = id.clone();
    let claimed = core.tables.docs_claimed_since(&kiosk, 0).await?;
    assert!(
        claimed <= limits::MAX_NEW_DOCS_PER_KIOSK_PER_DAY,
        "{claimed} documents claimed"
    );
    assert!(
        claimed >= limits::MAX_NEW_DOCS_PER_KIOSK_PER_DAY - 2,
        "{claimed}"
    );
    // Another kiosk of the hall syncs as before.
    let honest = TestKiosk::pair(&server, "xianfeng", true).await?;
    honest.record_checkins("act-1", 2, 3).await?;
    server.api.wait_checkins("xianfeng", 2).await?;
    rogue.dialer.close();
    rogue.repo.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_connections_are_closed() -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    init_logging();
    let dir = tempfile::tempdir()?;
    let mut config = linli_sync_server::ServeConfig::new(dir.path());
    config.header_timeout = Duration::from_secs(1);
    config.idle_timeout = Duration::from_secs(1);
    let ready = linli_sync_server::prepare(&config).await?;
    let core = ready.core.clone();
    linli_sync_engine::provision::add_hall(&core, "xianfeng", "先锋", "Asia/Shanghai").await?;
    let (_, token) = linli_sync_engine::provision::add_kiosk(&core, "xianfeng", "一号").await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(linli_sync_server::serve(ready, listener, async move {
        let _ = stopped.await;
    }));

    // Headers that never finish: the socket is closed after the timeout.
    let mut slow = tokio::net::TcpStream::connect(addr).await?;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await?;
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(_)) | Ok(Err(_))),
        "a slow client was kept waiting"
    );

    // A sync connection that says nothing is closed by the server.
    let url: url::Url = format!("http://{addr}/").parse()?;
    let sync = protocol::sync_url(&url)?;
    let mut req = sync.as_str().into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    let started = std::time::Instant::now();
    assert!(
        closed_by_server(&mut ws).await,
        "a silent connection stayed open"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));

    // A kiosk that is idle between check-ins is cut and redials: nothing lost.
    let kdir = tempfile::tempdir()?;
    let node = linli_core::KioskNode::pair(linli_test_kit::test_options(kdir.path()), &url, &token)
        .await?;
    node.go_online()?;
    for _ in 0..3 {
        node.record_checkin(linli_core::node::NewCheckIn {
            activity_id: "act-1".into(),
            resident: None,
            headcount: 1,
            companions: 0,
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    linli_test_kit::eventually(Duration::from_secs(20), "3 check-ins", || {
        let core = core.clone();
        async move {
            let n: i64 = core
                .sqlite("a test query")?
                .run(|c| {
                    c.query_row("SELECT count(*) FROM checkins", [], |r| r.get(0))
                        .map_err(|e| linli_sync_engine::Error::db("counting", e))
                })
                .await?;
            Ok((n == 3).then_some(()))
        }
    })
    .await?;
    node.shutdown().await;
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(20), task).await???;
    Ok(())
}

/// The Automerge payloads of the sync messages the fuzzer found that make
/// automerge panic or allocate gigabytes, and a Bloom filter it divides by.
fn crafted_payloads() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/sync_message");
    let mut payloads = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if !name.starts_with("automerge-") {
            continue;
        }
        let frame = std::fs::read(&path)?;
        let data = linli_sync_engine::wire::field_bytes(&frame, "data")
            .ok_or_else(|| anyhow::anyhow!("{name} has no data"))?;
        payloads.push((name, data.to_vec()));
    }
    let mut doc = automerge::AutoCommit::new();
    let mut message = automerge::sync::SyncDoc::generate_sync_message(
        &doc.sync(),
        &mut automerge::sync::State::new(),
    )
    .ok_or_else(|| anyhow::anyhow!("no first message"))?;
    message.have.push(automerge::sync::Have {
        last_sync: Vec::new(),
        bloom: automerge::sync::BloomFilter::try_from(&[1u8, 0, 7][..])?,
    });
    payloads.push(("bloom filter without bits".into(), message.encode()));
    Ok(payloads)
}

async fn crafted_automerge_messages_close_the_connection_and_sync_goes_on(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let honest = TestKiosk::pair(&server, "xianfeng", true).await?;
    honest.record_checkins("act-1", 1, 3).await?;
    server.api.wait_checkins("xianfeng", 1).await?;
    let (id, token) = server.api.add_kiosk("xianfeng", "crafted").await?;
    let peer = protocol::kiosk_peer_id(&id);
    let server_peer = server.core()?.peer_id.to_string();
    let payloads = crafted_payloads()?;
    assert!(payloads.len() >= 4, "{} crafted payloads", payloads.len());
    for (name, data) in &payloads {
        let Ok(mut ws) = open(&server, &token).await? else {
            anyhow::bail!("{name}: the connection was refused");
        };
        let doc = samod::DocumentId::new(&mut rand::rng());
        ws.send(Message::Binary(linli_tests::raw_wire::join(&peer).into()))
            .await?;
        ws.send(Message::Binary(
            linli_tests::raw_wire::sync(&doc, &peer, &server_peer, data).into(),
        ))
        .await?;
        assert!(closed_by_server(&mut ws).await, "{name}: still open");
    }
    // Every document of the server still syncs: the honest kiosk's next
    // check-ins arrive.
    honest.record_checkins("act-1", 2, 4).await?;
    server.api.wait_checkins("xianfeng", 3).await?;
    Ok(())
}

async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_token_limit(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let web = server.web()?;
    let http = reqwest::Client::new();
    let halls = server.url.join("api/v1/halls")?;
    let guess = |token: String, forwarded: String| {
        let req = http
            .get(halls.clone())
            .bearer_auth(token)
            .header("x-forwarded-for", forwarded);
        async move { anyhow::Ok(req.send().await?.status().as_u16()) }
    };
    let sync_via = |forwarded: &str| -> anyhow::Result<_> {
        let mut req = protocol::sync_url(&server.url)?
            .as_str()
            .into_client_request()?;
        req.headers_mut()
            .insert("authorization", "Bearer lk_guess_sync".parse()?);
        req.headers_mut()
            .insert("x-forwarded-for", forwarded.parse()?);
        Ok(async move {
            match tokio_tungstenite::connect_async(req).await {
                Ok(_) => anyhow::Ok(101),
                Err(tungstenite::Error::Http(resp)) => Ok(resp.status().as_u16()),
                Err(e) => Err(e.into()),
            }
        })
    };

    // This server sits behind a proxy on the same machine.
    web.set_trusted_proxies(linli_web::proxies::TrustedProxies::parse(&["127.0.0.1"])?);
    for i in 0..limits::MAX_TOKEN_FAILURES {
        let status = guess(format!("la_guess_{i}"), "203.0.113.7".into()).await?;
        assert_eq!(status, 401);
    }
    assert_eq!(guess("la_more".into(), "203.0.113.7".into()).await?, 429);
    assert_eq!(sync_via("203.0.113.7")?.await?, 429, "/sync too");
    assert_eq!(
        guess("la_first".into(), "203.0.113.8".into()).await?,
        401,
        "another resident behind the proxy is not blocked"
    );
    assert_eq!(sync_via("203.0.113.8")?.await?, 401);

    // Without trusted proxies the header is ignored: a guesser cannot
    // escape its limit by writing a new X-Forwarded-For each time.
    web.set_trusted_proxies(Default::default());
    for i in 0..limits::MAX_TOKEN_FAILURES {
        let status = guess(format!("la_spoof_{i}"), format!("198.51.100.{i}")).await?;
        assert_eq!(status, 401);
    }
    assert_eq!(guess("la_more".into(), "198.51.100.99".into()).await?, 429);
    Ok(())
}

linli_test_kit::on_both_stores! {
    oversized_messages_and_extra_connections_are_refused,
    guessing_tokens_is_blocked_but_a_revoked_kiosk_is_told_to_re_pair,
    a_kiosk_creating_documents_without_end_is_cut_off,
    crafted_automerge_messages_close_the_connection_and_sync_goes_on,
    behind_a_trusted_proxy_each_forwarded_client_has_its_own_token_limit,
}
