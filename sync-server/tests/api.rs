//! Routes through `router()` with `oneshot`, no socket: what each client
//! is told when it gets something wrong.

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use linli_test_kit::{Fixture, Store};

async fn healthz_answers_without_a_token(store: Store) {
    let f = Fixture::open_on(store).await.expect("fixture");
    let (status, body) = f.json("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["protocol"], linli_core::protocol::PROTOCOL_VERSION);
    let (writes, commits) = (
        body["store"]["writes"].as_u64().expect("writes"),
        body["store"]["commits"].as_u64().expect("commits"),
    );
    assert!(writes > 0, "the halls' documents were written: {body}");
    assert!(commits > 0 && commits <= writes, "{body}");
}

async fn api_routes_need_an_admin_token_and_say_how_to_send_it(store: Store) {
    let f = Fixture::open_on(store).await.expect("fixture");
    for uri in [
        "/api/v1/halls",
        "/api/v1/kiosks",
        "/api/v1/halls/xianfeng/checkins",
        "/api/v1/halls/xianfeng/requests",
    ] {
        let (status, body) = f.json("GET", uri, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or("")
                .contains("Authorization: Bearer"),
            "{uri}: {body}"
        );
        let (status, _) = f.json("GET", uri, Some("la_not-a-token"), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
    }
}

async fn halls_list_their_documents_as_automerge_urls(store: Store) {
    let f = Fixture::open_on(store).await.expect("fixture");
    let (status, body) = f
        .json("GET", "/api/v1/halls", Some(f.token("wang")), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0]["id"], "xianfeng");
    assert_eq!(body[0]["name"], "先锋社区");
    assert!(
        body[0]["calendar_url"]
            .as_str()
            .unwrap_or("")
            .starts_with("automerge:")
    );
    assert!(
        body[0]["directory_url"]
            .as_str()
            .unwrap_or("")
            .starts_with("automerge:")
    );
}

async fn bad_queries_and_unknown_halls_get_4xx_with_a_reason(store: Store) {
    let f = Fixture::open_on(store).await.expect("fixture");
    let (status, body) = f
        .json(
            "GET",
            "/api/v1/halls/xianfeng/checkins?from=yesterday",
            Some(f.token("wang")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap_or("").contains("2026-11-23"),
        "{body}"
    );
    let (status, _) = f
        .json(
            "GET",
            "/api/v1/halls/xianfeng/checkins?limit=100000000",
            Some(f.token("wang")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = f
        .json(
            "GET",
            "/api/v1/halls/xianfeng/checkins?limit=-1",
            Some(f.token("wang")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = f
        .json(
            "GET",
            "/api/v1/halls/nowhere/checkins",
            Some(f.token("wang")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap_or("").contains("nowhere"));
    let (status, _) = f
        .json(
            "GET",
            "/api/v1/halls/xianfeng/requests?status=lost",
            Some(f.token("wang")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = f
        .json(
            "POST",
            "/api/v1/halls/xianfeng/kiosks",
            Some(f.token("wang")),
            Some("{not json"),
        )
        .await;
    assert!(status.is_client_error());
    let (status, body) = f
        .json(
            "POST",
            "/api/v1/halls/xianfeng/kiosks",
            Some(f.token("wang")),
            Some(r#"{"name": ""}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let huge = format!(r#"{{"name": "{}"}}"#, "长".repeat(500));
    let (status, _) = f
        .json(
            "POST",
            "/api/v1/halls/xianfeng/kiosks",
            Some(f.token("wang")),
            Some(&huge),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = f
        .json(
            "POST",
            "/api/v1/halls/nowhere/kiosks",
            Some(f.token("wang")),
            Some(r#"{"name": "k"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn provisioning_returns_a_token_once_and_viewers_cannot_provision(store: Store) {
    let f = Fixture::open_on(store).await.expect("fixture");
    let (status, _) = f
        .json(
            "POST",
            "/api/v1/halls/xianfeng/kiosks",
            Some(f.token("zhao")),
            Some(r#"{"name": "大厅入口"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = f
        .json(
            "POST",
            "/api/v1/halls/xianfeng/kiosks",
            Some(f.token("wang")),
            Some(r#"{"name": "大厅入口"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["id"], "xianfeng-k1");
    let token = body["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("lk_"));
    // The kiosk token fetches the kiosk's configuration.
    let (status, config) = f
        .json("GET", "/api/v1/kiosk/config", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["kiosk_id"], "xianfeng-k1");
    assert_eq!(config["hall_id"], "xianfeng");
    assert_eq!(config["tz"], "Asia/Shanghai");
    // The list never shows tokens.
    let (_, kiosks) = f
        .json("GET", "/api/v1/kiosks", Some(f.token("wang")), None)
        .await;
    assert_eq!(kiosks[0]["connected"], false);
    assert!(!kiosks.to_string().contains(&token[3..]));
    // Revoked: the token stops working.
    let (status, _) = f
        .json(
            "POST",
            "/api/v1/kiosks/xianfeng-k1/revoke",
            Some(f.token("wang")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = f
        .json("GET", "/api/v1/kiosk/config", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = f
        .json(
            "POST",
            "/api/v1/kiosks/nope/revoke",
            Some(f.token("wang")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn sync_without_a_token_is_refused_before_any_upgrade(store: Store) {
    let f = Fixture::open_on(store).await.expect("fixture");
    let (status, _) = f.json("GET", "/sync", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = f.json("GET", "/sync?token=lk_wrong", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn hall_staff_tokens_reach_only_their_halls(store: Store) {
    let f = Fixture::open_on(store).await.expect("fixture");
    // li is staff of 中福社区 only.
    let chen = f.token("li").to_string();
    let (_, halls) = f.json("GET", "/api/v1/halls", Some(&chen), None).await;
    assert_eq!(halls.as_array().map(Vec::len), Some(1));
    assert_eq!(halls[0]["id"], "zhongfu");
    for uri in [
        "/api/v1/halls/xianfeng/checkins",
        "/api/v1/halls/xianfeng/requests",
        "/api/v1/halls/xianfeng/quarantine",
    ] {
        let (status, _) = f.json("GET", uri, Some(&chen), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
    }
    let (status, _) = f
        .json("GET", "/api/v1/halls/zhongfu/checkins", Some(&chen), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = f
        .json(
            "POST",
            "/api/v1/halls/xianfeng/kiosks",
            Some(&chen),
            Some(r#"{"name": "x"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = f
        .json(
            "POST",
            "/api/v1/halls/zhongfu/kiosks",
            Some(&chen),
            Some(r#"{"name": "大厅"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The central admin's provisioning elsewhere stays invisible to chen.
    f.json(
        "POST",
        "/api/v1/halls/xianfeng/kiosks",
        Some(f.token("wang")),
        Some(r#"{"name": "k"}"#),
    )
    .await;
    let (_, kiosks) = f.json("GET", "/api/v1/kiosks", Some(&chen), None).await;
    assert_eq!(kiosks.as_array().map(Vec::len), Some(1));
    let (status, _) = f
        .json(
            "POST",
            "/api/v1/kiosks/xianfeng-k1/revoke",
            Some(&chen),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// `GET /api/v1/halls` with a wrong token, as if from `peer` with an
/// `X-Forwarded-For` header.
async fn wrong_token_from(
    f: &Fixture,
    peer: &str,
    forwarded: Option<&str>,
    n: usize,
) -> StatusCode {
    let peer: std::net::SocketAddr = format!("{peer}:40000").parse().expect("peer");
    let mut req = Request::builder()
        .uri("/api/v1/halls")
        .header("authorization", format!("Bearer la_guess_{n}"))
        .extension(axum::extract::ConnectInfo(peer));
    if let Some(xff) = forwarded {
        req = req.header("x-forwarded-for", xff);
    }
    f.request(req.body(Body::empty()).expect("request"))
        .await
        .status
}

async fn behind_a_trusted_proxy_wrong_tokens_count_per_forwarded_client(store: Store) {
    use linli_sync_engine::limits::MAX_TOKEN_FAILURES;
    use linli_web::proxies::TrustedProxies;
    let f = Fixture::open_on(store).await.expect("fixture");
    f.state
        .web
        .set_trusted_proxies(TrustedProxies::parse(&["10.0.0.1"]).expect("proxies"));
    let proxy = "10.0.0.1";
    // A guesser behind the proxy uses up its wrong tokens…
    for n in 0..MAX_TOKEN_FAILURES {
        let status = wrong_token_from(&f, proxy, Some("6.6.6.6, 203.0.113.7"), n).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = wrong_token_from(&f, proxy, Some("203.0.113.7"), 99).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "blocked, whatever it writes left of the proxy's entry"
    );
    // …while another resident behind the same proxy is not blocked.
    let status = wrong_token_from(&f, proxy, Some("203.0.113.8"), 0).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = f
        .json("GET", "/api/v1/halls", Some(f.token("wang")), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // A peer that is not a trusted proxy cannot escape its limit by
    // writing a new X-Forwarded-For each time.
    for n in 0..MAX_TOKEN_FAILURES {
        let xff = format!("198.51.100.{n}");
        let status = wrong_token_from(&f, "192.0.2.50", Some(&xff), n).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = wrong_token_from(&f, "192.0.2.50", Some("198.51.100.200"), 99).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        wrong_token_from(&f, "192.0.2.51", None, 0).await,
        StatusCode::UNAUTHORIZED,
        "its neighbour is not blocked"
    );
}

linli_test_kit::on_both_stores! {
    healthz_answers_without_a_token,
    api_routes_need_an_admin_token_and_say_how_to_send_it,
    halls_list_their_documents_as_automerge_urls,
    bad_queries_and_unknown_halls_get_4xx_with_a_reason,
    provisioning_returns_a_token_once_and_viewers_cannot_provision,
    sync_without_a_token_is_refused_before_any_upgrade,
    hall_staff_tokens_reach_only_their_halls,
    behind_a_trusted_proxy_wrong_tokens_count_per_forwarded_client,
}
