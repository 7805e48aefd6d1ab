//! A real browser (Debian's Chromium, driven by playwright-core from
//! tests/browser) through the admin console against a real server: sign
//! in, provision a kiosk (its token pairs a real kiosk), add an activity
//! (it reaches the kiosk), answer a request (the reply reaches the kiosk),
//! look at the statistics chart, export XLSX (read back), erase a resident
//! (the kiosk forgets them). Screenshots land in tests/browser/shots.

use std::time::Duration;

use linli_core::{
    KioskNode,
    model::{RequestCategory, RequestStatus},
    node::{NewCheckIn, ResidentInput},
};
use linli_test_kit::Store;
use linli_test_kit::{TestKiosk, TestServer, eventually, init_logging, test_options, test_phone};
use linli_tests::browser;

async fn an_office_worker_runs_the_console_in_chromium(store: Store) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let core = server.core()?;
    let hash = linli_sync_engine::accounts::hash_password("good password")?;
    core.tables.set_admin_password("admin", &hash).await?;
    let kiosk = TestKiosk::pair(&server, "xianfeng", true).await?;
    kiosk.record_checkins("act-1", 5, 1).await?;
    let phone = test_phone(6, 6)?;
    kiosk
        .node()
        .record_request(
            RequestCategory::Repair,
            "电梯有故障".into(),
            Some(ResidentInput {
                phone: phone.clone(),
                name: None,
            }),
            true,
        )
        .await?;
    eventually(
        Duration::from_secs(20),
        "the request on the server",
        || async {
            let v = server.api.get("api/v1/halls/xianfeng/requests").await?;
            Ok((v.as_array().map(Vec::len) == Some(1)).then_some(()))
        },
    )
    .await?;

    // A resident who will ask to be erased.
    let leaving = test_phone(6, 7)?;
    let leaving_checkin = || NewCheckIn {
        activity_id: "act-1".into(),
        resident: Some(ResidentInput {
            phone: leaving.clone(),
            name: Some("赵大爷".into()),
        }),
        headcount: 1,
        companions: 0,
    };
    kiosk.node().record_checkin(leaving_checkin()).await?;
    kiosk.node().wait_synced(Duration::from_secs(20)).await?;
    server.api.wait_checkins("xianfeng", 6).await?;

    let url = server.url.to_string();
    let shots = browser::shots_dir().to_string_lossy().into_owned();
    let erase_phone = leaving.expose_digits().to_string();
    let report = tokio::task::spawn_blocking(move || {
        browser::run_script(
            "console.mjs",
            &[
                &url,
                "admin",
                "good password",
                "xianfeng",
                &shots,
                &erase_phone,
            ],
        )
    })
    .await??;
    assert_eq!(report["requestAnswered"], true);
    // The callback number, revealed with one click, and the reveal audited.
    assert_eq!(report["revealed"], phone.expose_digits(), "{report}");
    assert_eq!(report["auditReveal"], true, "{report}");
    // The phone page fits a 390 px wide phone.
    let right = report["mobileRight"].as_f64().unwrap_or(f64::MAX);
    assert!(
        right > 300.0 && right <= 390.0,
        "fields end at {right} px: {report}"
    );
    assert_eq!(report["mobileScrollWidth"], 390, "{report}");
    assert_eq!(report["statsCanvas"], true);
    assert_eq!(
        report["cspViolations"],
        serde_json::json!([]),
        "the Content-Security-Policy blocks nothing the console needs"
    );
    assert!(report["xlsxBytes"].as_u64().unwrap_or(0) > 1000);
    // Erased from the browser: the preview found their check-in, the
    // erasure is audited, and the kiosk no longer knows them.
    assert!(
        report["eraseFound"]
            .as_str()
            .is_some_and(|s| s.contains("1 次签到") && s.contains("****")),
        "{report}"
    );
    assert!(
        report["erased"].as_str().is_some_and(|s| !s.is_empty()),
        "{report}"
    );
    assert_eq!(report["auditErase"], true, "{report}");
    eventually(
        Duration::from_secs(20),
        "the kiosk forgot the erased resident",
        || async { Ok((kiosk.node().known_name(&leaving).await?.is_none()).then_some(())) },
    )
    .await?;
    assert!(
        matches!(
            kiosk.node().record_checkin(leaving_checkin()).await?,
            linli_core::node::CheckInOutcome::Recorded(_)
        ),
        "a new visit, not 'already checked in': nothing links it to the erased one"
    );
    // The language switch keeps the reader on the page, in their language.
    assert_eq!(report["english"], "Statistics", "{report}");
    assert_eq!(report["chinese"], "统计", "{report}");

    // The token shown once in the browser pairs a real kiosk.
    let token = report["token"].as_str().unwrap_or_default().to_string();
    let dir = tempfile::tempdir()?;
    let second = KioskNode::pair(test_options(dir.path()), &server.url, &token).await?;
    assert_eq!(second.config().hall_id, "xianfeng");
    // The activity added in the browser reaches the kiosks.
    eventually(
        Duration::from_secs(20),
        "the new activity on the kiosk",
        || async {
            let acts = kiosk.node().activities().await?;
            Ok(acts
                .iter()
                .any(|(_, a)| a.title == "浏览器加的讲座")
                .then_some(()))
        },
    )
    .await?;
    // The reply written in the browser reaches the resident.
    eventually(
        Duration::from_secs(20),
        "the reply on the kiosk",
        || async {
            let mine = kiosk.node().my_requests(&phone).await?;
            Ok((mine.first().map(|r| (r.status, r.reply.clone()))
                == Some((RequestStatus::Resolved, Some("浏览器里回复：已处理".into()))))
            .then_some(()))
        },
    )
    .await?;
    second.shutdown().await;
    Ok(())
}

linli_test_kit::on_both_stores! {
    an_office_worker_runs_the_console_in_chromium,
}
