//! The JSON API's OpenAPI document, as a client generator fetches it from
//! a running server: `GET /api/v1/openapi.json` needs no token, is OpenAPI
//! 3.1, names every (method, route) the router registers in
//! `sync-server/web/src/api/mod.rs` and nothing else, says which token
//! each takes, and its schemas are the bodies the server really sends.

use std::collections::BTreeSet;

use linli_test_kit::{Store, TestServer, init_logging};

const API_SRC: &str = include_str!("../../sync-server/web/src/api/mod.rs");

#[tokio::test]
async fn the_openapi_document_names_every_route_the_router_registers() -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(Store::Sqlite).await?;
    let r = reqwest::get(server.url.join("api/v1/openapi.json")?).await?;
    assert_eq!(r.status(), 200, "no token needed");
    let doc: serde_json::Value = r.json().await?;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let registered = linli_test_kit::routes::registered(&[("api/mod.rs", API_SRC)])?;
    assert_eq!(
        documented, registered,
        "the document and the router name the same routes"
    );

    // Admin routes say they take an admin token; the kiosk's, a kiosk's.
    let security = |path: &str, method: &str| doc["paths"][path][method]["security"].to_string();
    assert!(security("/api/v1/halls", "get").contains("admin_token"));
    assert!(security("/api/v1/kiosk/config", "get").contains("kiosk_token"));
    assert!(security("/healthz", "get") == "null", "open");
    for scheme in ["admin_token", "kiosk_token", "instance_secret"] {
        assert_eq!(
            doc["components"]["securitySchemes"][scheme]["scheme"], "bearer",
            "{scheme}"
        );
    }
    // A schema is what the server sends: the halls list's fields.
    let hall_schema = &doc["components"]["schemas"]["HallView"]["properties"];
    let halls = server.api.get("api/v1/halls").await?;
    let first = halls[0].as_object().expect("a hall");
    let sent: BTreeSet<&String> = first.keys().collect();
    let described: BTreeSet<&String> = hall_schema
        .as_object()
        .expect("properties")
        .keys()
        .collect();
    assert_eq!(sent, described);
    Ok(())
}
