//! `GET /metrics` as a Prometheus scrape sees it, on both stores: it needs
//! an admin API token; it says the build; and its figures move as kiosks
//! connect and sync (connected kiosks by hall, records projected, document
//! changes, store writes, loaded documents) and as bad tokens are refused (refusals by
//! status), in the OpenMetrics text format Prometheus reads.

use anyhow::Context;
use std::time::Duration;

use linli_test_kit::{Store, TestKiosk, TestServer, eventually, init_logging, open_activity};

const WAIT: Duration = Duration::from_secs(20);

/// The value of the sample line that starts with `name` (with its
/// labels), if there is one.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(server: &TestServer, token: Option<&str>) -> anyhow::Result<(u16, String, String)> {
    let mut r = reqwest::Client::new().get(server.url.join("metrics")?);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await?;
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Ok((status, kind, r.text().await?))
}

async fn the_metrics_move_as_kiosks_sync_and_bad_tokens_are_refused(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let token = server.api.token.clone();
    let (status, _, _) = scrape(&server, None).await?;
    assert_eq!(status, 401, "no token, no metrics");
    let (status, _, _) = scrape(&server, Some("la_wrong")).await?;
    assert_eq!(status, 401);
    let (status, kind, before) = scrape(&server, Some(&token)).await?;
    assert_eq!(status, 200);
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(before.trim_end().ends_with("# EOF"), "{before}");
    assert!(
        before.contains(&format!(
            "linli_build_info{{version=\"{}\"",
            env!("CARGO_PKG_VERSION")
        )),
        "{before}"
    );
    let refused = sample(&before, "linli_http_refusals_total{status=\"401\"}").unwrap_or(0.0);
    assert!(refused >= 2.0, "the two refused scrapes: {before}");
    let projected = sample(&before, "linli_records_projected_total").unwrap_or(0.0);
    let documents = sample(&before, "linli_loaded_documents").context("loaded documents")?;

    // A kiosk connects and syncs ten check-ins.
    let core = server.core()?;
    let act = open_activity(&core, "xianfeng", "health_clinic", "健康义诊").await?;
    let a = TestKiosk::pair(&server, "xianfeng", true).await?;
    a.record_checkins(&act, 10, 3).await?;
    a.node().wait_synced(WAIT).await?;
    server.api.wait_checkins("xianfeng", 10).await?;
    let after = eventually(WAIT, "the figures to move", || async {
        let (_, _, text) = scrape(&server, Some(&token)).await?;
        let moved = sample(&text, "linli_connected_kiosks{hall=\"xianfeng\"}") == Some(1.0)
            && sample(&text, "linli_records_projected_total").unwrap_or(0.0) >= projected + 10.0
            && sample(&text, "linli_document_changes_total").unwrap_or(0.0) > 0.0
            && sample(&text, "linli_storage_writes_total").unwrap_or(0.0) > 0.0;
        Ok(moved.then_some(text))
    })
    .await?;
    assert_eq!(sample(&after, "linli_storage_failing"), Some(0.0));
    assert!(sample(&after, "linli_loaded_halls").unwrap_or(0.0) >= 1.0);
    // The kiosk's own documents and the check-ins' are now in memory.
    assert!(
        sample(&after, "linli_loaded_documents").unwrap_or(0.0) > documents,
        "{after}"
    );
    assert!(
        after.contains("linli_http_request_duration_seconds_bucket{le="),
        "{after}"
    );
    assert!(
        sample(&after, "linli_sync_message_intake_seconds_count").unwrap_or(0.0) >= 1.0,
        "the kiosk's sync messages timed: {after}"
    );

    // A wrong admin token at the API: counted.
    let r = reqwest::Client::new()
        .get(server.url.join("api/v1/halls")?)
        .bearer_auth("la_not_a_token")
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    let (_, _, last) = scrape(&server, Some(&token)).await?;
    assert!(
        sample(&last, "linli_http_refusals_total{status=\"401\"}").unwrap_or(0.0) >= refused + 1.0,
        "{last}"
    );
    assert!(!last.contains(&token), "no token in the metrics");
    Ok(())
}

linli_test_kit::on_both_stores! {
    the_metrics_move_as_kiosks_sync_and_bad_tokens_are_refused,
}
