//! The demo as the central admin trying Linli sees it: a real server
//! started as `serve --demo` does (in process, on 127.0.0.1), its history
//! seeded in the background, and Debian's Chromium signing in with the
//! demo account. The overview and the statistics show a quarter of hall
//! life, not zeros; screenshots land in tests/browser/shots.

use std::time::Duration;

use linli_sync_server::{ServeConfig, demo::history::HISTORY_DAYS};
use linli_test_kit::{eventually, init_logging};
use linli_tests::browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_console_shows_a_quarter_of_hall_life() -> anyhow::Result<()> {
    init_logging();
    let dir = tempfile::tempdir()?;
    let mut config = ServeConfig::new(dir.path());
    config.demo = true;
    config.durability = linli_core::sqlite::Durability::Normal;
    let ready = linli_sync_server::prepare(&config).await?;
    let core = ready.core.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(linli_sync_server::serve(ready, listener, async move {
        let _ = stopped.await;
    }));

    // The last thing the history writes: the last hall's answered requests.
    let count = |sql: &'static str| {
        let core = core.clone();
        async move {
            core.sqlite("seeding")?
                .run(move |c| {
                    c.query_row(sql, [], |r| r.get::<_, i64>(0))
                        .map_err(|e| linli_sync_engine::Error::db("counting", e))
                })
                .await
        }
    };
    eventually(Duration::from_secs(600), "the demo's history", || async {
        Ok((count(
            "SELECT count(*) FROM requests WHERE hall_id = 'zhongfu' AND status != 'received'",
        )
        .await?
            > 0)
        .then_some(()))
    })
    .await?;
    let ledgers = count("SELECT count(*) FROM projection_state WHERE kind = 'ledger'").await?;
    assert_eq!(ledgers, 4 * HISTORY_DAYS, "a ledger per hall and day");

    let shots = browser::shots_dir().to_string_lossy().into_owned();
    let report = tokio::task::spawn_blocking(move || {
        browser::run_script("demo-console.mjs", &[&url, &shots])
    })
    .await??;
    // The overview names every demo hall; the statistics of the default
    // period (the last 30 days) have weeks, kinds, residents, ratings and
    // requests, some resolved.
    let overview = report["overviewText"].as_str().unwrap_or_default();
    for (_, name) in linli_sync_server::demo::DEMO_HALLS {
        assert!(overview.contains(name), "{name} missing: {overview}");
    }
    let stats = &report["statsData"];
    let weeks = stats["by_week"].as_array().map_or(0, Vec::len);
    assert!(weeks >= 4 * 4, "four halls, four weeks or more: {stats}");
    let person_times: i64 = stats["by_kind"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k[1].as_i64())
        .sum();
    assert!(person_times > 1000, "{stats}");
    assert!(stats["residents"].as_i64().unwrap_or(0) >= 20, "{stats}");
    assert!(
        stats["satisfaction"].as_array().map_or(0, Vec::len) >= 5,
        "{stats}"
    );
    let (received, resolved) = (
        stats["received"].as_i64().unwrap_or(0),
        stats["resolved"].as_i64().unwrap_or(0),
    );
    assert!(
        received > 10 && resolved > 0 && resolved < received,
        "{stats}"
    );
    // Volunteers' points earned, by week, beside what was redeemed.
    let earned: i64 = stats["points"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w[1].as_i64())
        .sum();
    assert!(earned > 0, "{stats}");
    assert!(
        report["statsCanvas"].as_i64().unwrap_or(0) >= 4,
        "charts drawn"
    );
    // Walk-in visits count as their own kind, by service.
    let walk_ins = stats["by_kind"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k[0] == "到访办事")
        .and_then(|k| k[1].as_i64())
        .unwrap_or(0);
    assert!(walk_ins > 100, "{stats}");
    assert_eq!(
        stats["by_service"].as_array().map_or(0, Vec::len),
        5,
        "{stats}"
    );
    let services = report["servicesText"].as_str().unwrap_or_default();
    assert!(services.contains("医保办理"), "{services}");

    let _ = stop.send(());
    serving.await??;
    Ok(())
}
