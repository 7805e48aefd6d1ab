//! The real kiosk app against a real server: a check-in made on the
//! touchscreen while the server is down shows as waiting, is kept, and
//! reaches the server's API once it is back.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use chrono::TimeZone;
use egui_kittest::{Harness, kittest::Queryable};
use linli_kiosk::{app::KioskApp, worker::Start};
use linli_test_kit::{TestServer, init_logging, test_options};

mod kiosk_ui;
use kiosk_ui::{shows, step_until, tap};

#[test]
fn a_check_in_made_while_the_server_is_down_reaches_it_when_it_returns() -> anyhow::Result<()> {
    init_logging();
    let rt = tokio::runtime::Runtime::new()?;
    let mut server = rt.block_on(TestServer::start())?;
    let core = server.core()?;
    let tz = chrono_tz::Asia::Shanghai;
    // A fixed day, so what the kiosk shows does not depend on when the test runs.
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).expect("a date");
    for a in linli_sync_server::demo::week_of_activities(tz, today)
        .into_iter()
        .take(6)
    {
        rt.block_on(linli_sync_engine::provision::put_activity(
            &core, "xianfeng", None, a,
        ))?;
    }
    let (_, token) = rt.block_on(server.api.add_kiosk("xianfeng", "大厅入口"))?;
    let morning = tz
        .from_local_datetime(&today.and_hms_opt(9, 0, 0).expect("time"))
        .single()
        .expect("time")
        .timestamp_millis();
    let now = Arc::new(AtomicI64::new(morning));
    let clock: linli_kiosk::app::Clock = {
        let now = now.clone();
        Arc::new(move || now.load(Ordering::SeqCst))
    };
    let dir = tempfile::tempdir()?;
    let mut options = test_options(dir.path());
    options.clock = clock.clone();
    let start = Start::Pair {
        options,
        server: server.url.clone(),
        token,
        ca_fingerprint: None,
    };
    let app = KioskApp::new(start, clock, tz, Arc::new(|| {}))?;
    let mut h = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut KioskApp| app.show(ui), app);
    step_until(&mut h, "the calendar", |h| h.state().has_activities())?;

    // The server goes away.
    rt.block_on(server.stop())?;
    step_until(&mut h, "the kiosk to notice", |h| shows(h, "未联网"))?;

    tap(&mut h, "签到");
    h.query_all(
        egui_kittest::kittest::By::new()
            .role(egui::accesskit::Role::Button)
            .label_contains("健康义诊"),
    )
    .next()
    .expect("the clinic is open")
    .click();
    h.step();
    h.step();
    for d in "13812345678".chars() {
        tap(&mut h, &d.to_string());
    }
    tap(&mut h, "下一步");
    step_until(&mut h, "the name screen", |h| shows(h, "第一次来"))?;
    tap(&mut h, "跳过");
    tap(&mut h, "确认签到");
    step_until(&mut h, "the acknowledgement", |h| shows(h, "签到成功"))?;
    step_until(&mut h, "one record waiting", |h| {
        shows(h, "1 条记录等待同步")
    })?;

    // The server returns: the record arrives, and the strip says so.
    rt.block_on(server.restart())?;
    step_until(&mut h, "everything synced", |h| {
        shows(h, "全部已同步") && shows(h, "已联网")
    })?;
    rt.block_on(server.api.wait_checkins("xianfeng", 1))?;
    let list = rt.block_on(server.api.get("api/v1/halls/xianfeng/checkins"))?;
    assert_eq!(list["checkins"][0]["phone_masked"], "138****5678");
    drop(h);
    Ok(())
}
