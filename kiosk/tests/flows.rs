//! Every resident and staff flow, driven by label through the real
//! `KioskApp` on a real `KioskNode`, asserting on what the screen shows
//! and what was stored (as the server's projection received it).

mod common;

use common::{PIN, kiosk};
use linli_core::model::{RequestReply, RequestStatus};

#[test]
fn a_new_resident_checks_in_with_a_name_and_a_companion_then_is_recognised() {
    let mut k = kiosk();
    k.tap("签到");
    k.tap_containing("健康义诊");
    assert!(k.shows("请输入手机号码"));
    k.type_digits("1381234567");
    k.tap("下一步");
    assert!(k.shows("11 位"), "ten digits are refused with the reason");
    k.type_digits("8");
    k.tap("下一步");
    k.until_text("第一次来");
    k.tap("王");
    k.tap("王阿姨");
    assert!(k.shows("138****5678"), "the number shows masked");
    assert!(k.shows("王阿姨"));
    assert!(!k.shows("13812345678"), "never the raw number");
    k.tap("+");
    k.tap("确认签到");
    k.until_text("签到成功");
    k.until_server(
        "SELECT count(*) FROM checkins WHERE companions = 1 AND phone_hash IS NOT NULL AND sealed IS NOT NULL",
        1,
    );
    // The server opens what the kiosk sealed: the masked number and the name.
    let shown = k.shown_by_server("SELECT phone_hash, sealed FROM checkins WHERE companions = 1");
    assert_eq!(shown.masked.as_deref(), Some("138****5678"));
    assert_eq!(shown.name.as_deref(), Some("王阿姨"));

    // The same resident again: recognised by number, and told kindly.
    k.tap("回首页");
    k.tap("签到");
    k.tap_containing("健康义诊");
    k.type_digits("13812345678");
    k.tap("下一步");
    k.until_text("确认签到");
    assert!(k.shows("王阿姨"), "the name given last time is remembered");
    k.tap("确认签到");
    k.until_text("您已经签到过了");
    k.until_server("SELECT count(*) FROM checkins", 1);
}

#[test]
fn check_in_works_in_english_too() {
    let mut k = kiosk();
    k.tap("English");
    k.tap("Check in");
    k.tap_containing("健康义诊");
    assert!(k.shows("Type your mobile number"));
    k.type_digits("13900001111");
    k.tap("Next");
    k.until_text("First visit?");
    k.tap("Skip");
    assert!(k.shows("139****1111"));
    k.tap("Confirm check-in");
    k.until_text("You are checked in");
    k.until_server("SELECT count(*) FROM checkins WHERE sealed IS NOT NULL", 1);
    let shown = k.shown_by_server("SELECT phone_hash, sealed FROM checkins");
    assert_eq!(shown.masked.as_deref(), Some("139****1111"));
    assert_eq!(shown.name, None, "no name was given");
    k.tap("中文");
    assert!(k.shows("签到成功"));
}

#[test]
fn headcount_activities_count_each_tap() {
    let mut k = kiosk();
    k.tap("签到");
    k.tap_containing("长者助餐");
    assert!(k.shows("按人数统计"));
    for _ in 0..3 {
        k.tap("来了一位 +1");
    }
    assert!(k.shows("已计入 3"));
    k.until_server(
        "SELECT COALESCE(SUM(headcount), 0) FROM checkins WHERE phone_hash IS NULL",
        3,
    );
}

#[test]
fn a_walk_in_registers_for_a_service_with_a_number_or_without_one() {
    let mut k = kiosk();
    k.until("the hall's services", |app| app.has_services());
    k.tap("签到");
    k.tap("到访/办事");
    assert!(k.shows("您今天来办什么事"));
    for service in ["办事", "咨询", "医保办理", "社保办理", "便民服务"] {
        assert!(k.shows(service), "{service} is offered");
    }
    k.tap("医保办理");
    assert!(k.shows("医保办理 · 请输入手机号码"));
    k.type_digits("13812345678");
    k.tap("下一步");
    k.until_text("第一次来");
    k.tap("跳过");
    assert!(k.shows("138****5678"));
    k.tap("确认登记");
    k.until_text("已登记，请稍候");
    k.until_server(
        "SELECT count(*) FROM checkins WHERE service = 'medical_insurance' AND activity_id = ''
         AND phone_hash IS NOT NULL AND sealed IS NOT NULL",
        1,
    );
    // The same resident for the same service today counts once.
    k.tap("回首页");
    k.tap("签到");
    k.tap("到访/办事");
    k.tap("医保办理");
    k.type_digits("13812345678");
    k.tap("下一步");
    k.until_text("第一次来");
    k.tap("跳过");
    k.tap("确认登记");
    k.until_text("今天已为您登记过这项服务");
    // Someone who leaves no number is counted too, once.
    k.tap("回首页");
    k.tap("签到");
    k.tap("到访/办事");
    k.tap("咨询");
    k.tap("不留号码，直接登记");
    k.until_text("已登记，请稍候");
    k.until_server(
        "SELECT count(*) FROM checkins WHERE service = 'consultation' AND phone_hash IS NULL AND headcount = 1",
        1,
    );
    k.until_server("SELECT count(*) FROM checkins", 2);
    // Back from the services goes to the activities, not home.
    k.tap("回首页");
    k.tap("签到");
    k.tap("到访/办事");
    k.tap("返回");
    assert!(k.shows("请选择活动"));
}

#[test]
fn walk_ins_in_english_show_the_services_english_names() {
    let mut k = kiosk();
    k.until("the hall's services", |app| app.has_services());
    k.tap("English");
    k.tap("Check in");
    k.tap("Walk-in services");
    assert!(k.shows("What have you come in for?"));
    assert!(
        !k.shows("社保办理"),
        "English names where the hall gave them"
    );
    k.tap("Social insurance");
    k.tap("Register without a number");
    k.until_text("You are registered");
    k.until_server(
        "SELECT count(*) FROM checkins WHERE service = 'social_insurance' AND phone_hash IS NULL",
        1,
    );
    // Home hands the kiosk back in its own language.
    k.tap("Home");
    k.tap("English");
    k.tap("Check in");
    k.tap("Walk-in services");
    k.tap("Enquiries");
    k.type_digits("13900002222");
    k.tap("Next");
    k.until_text("First visit?");
    k.tap("Skip");
    k.tap("+");
    k.tap("Confirm");
    k.until_text("You are registered");
    k.until_server(
        "SELECT count(*) FROM checkins WHERE service = 'consultation' AND companions = 1 AND phone_hash IS NOT NULL",
        1,
    );
}

#[test]
fn one_tap_on_a_face_rates_and_a_repeat_counts_once() {
    let mut k = kiosk();
    k.tap("评价");
    k.tap_containing("健康义诊");
    k.tap("老师很好");
    assert!(
        k.shows("✓ 老师很好"),
        "the chosen chip is ticked, not only coloured"
    );
    k.tap("很满意");
    k.until_text("谢谢您的评价");
    // Back at once and tapping again counts once.
    k.tap("回首页");
    k.tap("评价");
    k.tap_containing("健康义诊");
    k.tap("很满意");
    k.until_text("谢谢您的评价");
    k.until_server(
        "SELECT count(*) FROM ratings WHERE score = 5 AND reason = 'teacher_good'",
        1,
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(k.server_count("SELECT count(*) FROM ratings"), 1);
}

#[test]
fn rating_in_english() {
    let mut k = kiosk();
    k.tap("English");
    k.tap("Rate");
    k.tap_containing("健康义诊");
    assert!(k.shows("One tap on a face is enough"));
    k.tap("Okay");
    k.until_text("Thank you for rating");
    k.until_server(
        "SELECT count(*) FROM ratings WHERE score = 3 AND reason IS NULL",
        1,
    );
}

#[test]
fn a_request_with_a_callback_gets_a_reference_and_a_qr_code_and_the_reply_comes_back() {
    let mut k = kiosk();
    k.tap("意见建议");
    k.tap("设施报修");
    k.tap("楼道灯坏了");
    k.tap("电梯有故障");
    k.tap("下一步");
    k.tap("需要，留下电话");
    k.type_digits("13712345678");
    k.tap("下一步");
    k.until_text("您的编号");
    assert!(k.shows("用手机扫码"));
    k.until_server("SELECT count(*) FROM requests WHERE category = 'repair' AND text = '楼道灯坏了；电梯有故障' AND callback_consent = 1", 1);

    // Staff answer on the server; the resident sees it under My requests.
    let core = k.server.core.clone();
    let id: String = core
        .sqlite("a test query")
        .expect("the SQLite store")
        .with(|c| {
            c.query_row("SELECT record_id FROM requests", [], |r| r.get(0))
                .map_err(|e| linli_sync_engine::Error::db("q", e))
        })
        .expect("id");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    rt.block_on(linli_sync_engine::provision::reply_request(
        &core,
        "xianfeng",
        &id,
        RequestReply {
            status: RequestStatus::Resolved,
            reply: Some("已更换灯泡".into()),
            updated_at_ms: 1,
        },
    ))
    .expect("reply");
    let started = std::time::Instant::now();
    loop {
        k.tap("回首页");
        k.tap("我的诉求");
        k.type_digits("13712345678");
        k.tap("下一步");
        k.until_text("您的编号");
        if k.shows("已更换灯泡") {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the reply did not arrive"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(k.shows("已解决"));
}

#[test]
fn a_request_without_a_callback_in_english() {
    let mut k = kiosk();
    k.tap("English");
    k.tap("Requests & suggestions");
    k.tap("An idea for the community");
    k.tap("More seating please");
    k.tap("Next");
    k.tap("No, just submit");
    k.until_text("Your reference");
    k.until_server(
        "SELECT count(*) FROM requests WHERE category = 'idea' AND phone_hash IS NULL",
        1,
    );
    k.tap("Home");
    // Home is for the next person: back in the default language.
    assert!(k.shows("今日活动"));
    k.tap("English");
    k.tap("My requests");
    k.type_digits("13712345678");
    k.tap("Next");
    k.until_text("You have no requests yet");
}

#[test]
fn a_volunteer_signs_in_and_out_and_earns_points() {
    let mut k = kiosk();
    k.tap("志愿者");
    k.type_digits("13600001234");
    k.tap("下一步");
    k.until_text("本月服务时长");
    k.tap("签到上岗");
    // The clinic and the meal are on: which does the shift serve? Neither.
    k.until_text("这一班服务哪个活动？");
    k.tap("日常值班（不属于某个活动）");
    k.until_text("已上岗");
    // Two hours later (the kiosk went home by itself meanwhile).
    k.advance(2 * 3_600_000);
    k.until_text("今日活动");
    k.tap("志愿者");
    k.type_digits("13600001234");
    k.tap("下一步");
    k.until_text("上岗时间");
    k.tap("签退");
    k.until_text("已签退");
    k.tap("回首页");
    k.tap("志愿者");
    k.type_digits("13600001234");
    k.tap("下一步");
    k.until_text("积分余额: 4 分");
    assert!(k.shows("本月服务时长（小时）: 2.0"));
    k.until_server("SELECT count(*) FROM shift_events", 2);
}

#[test]
fn a_shift_serving_the_clinic_earns_the_rate_the_hall_gives_clinics() {
    let mut k = kiosk();
    k.server
        .block_on(async {
            let rule = linli_core::points_rules::PointsRule {
                from_ms: 0,
                per_hour_by_kind: [("health_clinic".to_string(), 5)].into(),
                ..Default::default()
            };
            k.server
                .core
                .tables
                .add_points_rule(linli_sync_server::in_process::DEMO_HALL, &rule)
                .await
        })
        .expect("a rate for clinics");
    k.tap("志愿者");
    k.type_digits("13600004321");
    k.tap("下一步");
    k.until_text("本月服务时长");
    k.tap("签到上岗");
    k.until_text("这一班服务哪个活动？");
    k.tap_containing("健康义诊");
    k.until_text("已上岗");
    k.until_server(
        "SELECT count(*) FROM shift_events WHERE action = 'sign_in' AND activity_id IS NOT NULL",
        1,
    );
    k.advance(2 * 3_600_000);
    k.until_text("今日活动");
    k.volunteer_until("13600004321", "上岗时间", false);
    k.tap("签退");
    k.until_text("已签退");
    k.tap("回首页");
    // Two hours at 5 an hour, not the hours rate's 4.
    k.volunteer_until("13600004321", "积分余额: 10 分", false);
}

#[test]
fn staff_mode_needs_the_pin_and_locks_after_five_wrong_tries() {
    let mut k = kiosk();
    k.tap("工作人员");
    k.type_digits(PIN);
    k.tap("下一步");
    k.until_text("工作人员模式");
    assert!(k.shows("xianfeng-k1"));
    assert!(k.shows("今日签到人次"));
    // Settings: English by default, a 30-second idle timeout.
    k.tap("英文");
    k.tap("30");
    k.tap("退出工作人员模式");
    assert!(
        k.shows("Today's activities"),
        "the default language applies at home"
    );
    k.tap("Staff");
    for _ in 0..5 {
        k.type_digits("0000");
        k.tap("Next");
    }
    assert!(k.shows("Too many wrong tries"));
    k.type_digits(PIN);
    k.tap("Next");
    assert!(
        k.shows("Too many wrong tries"),
        "locked even with the right PIN"
    );
    // Five minutes later (the kiosk went home by itself meanwhile).
    k.advance(5 * 60_000 + 1);
    k.until_text("Today's activities");
    k.tap("Staff");
    k.type_digits(PIN);
    k.tap("Next");
    k.until_text("Staff mode");
}

#[test]
fn an_idle_kiosk_warns_then_returns_home_and_forgets_the_last_person() {
    let mut k = kiosk();
    k.tap("签到");
    k.tap_containing("健康义诊");
    k.type_digits("13812345678");
    k.advance(45_000);
    assert!(!k.shows("还在使用吗"));
    k.advance(6_000);
    k.until_text("还在使用吗");
    k.tap("继续使用");
    assert!(k.shows("13812345678"), "continuing keeps what was typed");
    k.advance(61_000);
    k.until_text("今日活动");
    k.tap("签到");
    k.tap_containing("健康义诊");
    assert!(
        !k.shows("13812345678"),
        "nothing of the last person remains"
    );
}

#[test]
fn staff_pair_a_new_kiosk_on_screen_keys_and_a_wrong_token_keeps_what_was_typed() {
    let (mut k, token) = common::unpaired();
    assert!(k.shows("终端配对"));
    let server = k.server.url.to_string();
    let rest = server.trim_start_matches("http://").to_string();
    k.type_keys(&rest);
    k.tap_containing("配对码");
    k.type_keys("lk_0000");
    k.tap_containing("工作人员密码");
    k.type_digits("2468");
    k.tap("开始配对");
    k.until_text("re-pair");
    assert!(
        k.shows(&format!("服务器地址: {server}")),
        "the address is kept after a refusal"
    );
    // Correct the token.
    k.tap_containing("配对码");
    for _ in 0..7 {
        k.tap("删除");
    }
    k.type_keys(&token);
    k.tap("开始配对");
    k.until_text("今日活动");
    assert!(k.shows("先锋社区党群服务中心"));
    // The PIN set while pairing opens staff mode.
    k.tap("工作人员");
    k.type_digits("2468");
    k.tap("下一步");
    k.until_text("工作人员模式");
}

#[test]
fn staff_pair_by_scanning_the_consoles_link_and_typing_only_the_pin() {
    let (mut k, token) = common::unpaired();
    // The console's link for a server without TLS, as a USB QR scanner
    // types it (one key at a time after the prefilled "http://", then
    // Enter): the server field holds the link, the token comes from it,
    // and the PIN field is next.
    let link = format!("{}#linli-pair?token={token}", k.server.url);
    for c in link.chars() {
        k.harness.event(egui::Event::Text(c.to_string()));
    }
    k.harness.key_press(egui::Key::Enter);
    k.harness.run_steps(2);
    assert!(
        k.shows(&format!("服务器地址: {link}")),
        "the prefill gave way"
    );
    assert!(
        k.shows(&format!("配对码: {token}")),
        "the token from the link"
    );
    assert!(k.shows("→ 设置工作人员密码"), "the PIN is next");
    // A PIN on the keyboard and Enter: paired with that server.
    k.harness.event(egui::Event::Text("2468".into()));
    k.harness.key_press(egui::Key::Enter);
    k.until_text("今日活动");
    assert!(k.shows("先锋社区党群服务中心"));
}

#[test]
fn a_full_store_gives_a_clear_message_keeps_what_was_entered_and_the_kiosk_runs_on() {
    let k = common::kiosk();
    let common::Fixture {
        harness,
        server,
        now,
        dir,
    } = k;
    drop(harness);
    // Reopen the same kiosk with its store capped at its current size.
    let path = dir.path().join("kiosk").join(linli_core::node::STORE_FILE);
    let pages: u64 = rusqlite::Connection::open(&path)
        .and_then(|c| c.query_row("PRAGMA page_count", [], |r| r.get(0)))
        .expect("page count");
    let mut options = linli_core::KioskNodeOptions::new(dir.path().join("kiosk"));
    options.clock = common::clock(&now);
    options.max_page_count = Some(pages);
    options.server_override = Some(server.url.clone());
    let app = linli_kiosk::app::KioskApp::new(
        linli_kiosk::worker::Start::Open(options),
        common::clock(&now),
        chrono_tz::Asia::Shanghai,
        std::sync::Arc::new(|| {}),
    )
    .expect("app");
    let harness = egui_kittest::Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut linli_kiosk::app::KioskApp| app.show(ui), app);
    let mut k = common::Fixture {
        harness,
        server,
        now,
        dir,
    };
    k.until("the calendar", |app| app.has_activities());

    let mut failed = false;
    for i in 0..60 {
        k.tap("签到");
        k.tap_containing("健康义诊");
        k.type_digits(&format!("135{i:08}"));
        k.tap("下一步");
        k.until_text("第一次来");
        k.tap("跳过");
        k.tap("确认签到");
        k.until_text("回首页");
        k.until("an outcome", |app| {
            !matches!(app.screen, linli_kiosk::app::Screen::Saving)
        });
        if k.shows("没能保存") {
            failed = true;
            assert!(
                k.shows("终端的存储空间已满"),
                "a full store is told apart from other failures"
            );
            assert!(k.shows("请联系工作人员"), "a hint for staff");
            assert!(k.shows("full"), "the reason, for staff");
            // What was entered is kept: back to the confirmation, same number.
            k.tap("返回");
            assert!(
                k.shows(&format!("135****{:04}", i % 10_000)),
                "the number is still there"
            );
            k.tap("回首页");
            break;
        }
        k.tap("回首页");
    }
    assert!(failed, "the capped store never filled up");
    // The kiosk keeps running.
    assert!(k.shows("今日活动"));
    k.tap("评价");
    assert!(k.shows("请选择要评价的活动"));
}

#[test]
fn volunteers_and_headcount_in_english() {
    let mut k = kiosk();
    k.tap("English");
    k.tap("Volunteers");
    k.type_digits("13600004321");
    k.tap("Next");
    k.until_text("Hours this month");
    assert!(k.shows("Points balance: 0 points"));
    k.tap("Sign in to a shift");
    k.until_text("Which activity is this shift for?");
    k.tap("Everyday duty (no particular activity)");
    k.until_text("Signed in. Thank you!");
    k.tap("Home");
    k.tap("English");
    k.tap("Check in");
    k.tap_containing("长者助餐");
    assert!(k.shows("Counted by head"));
    k.tap("One more +1");
    assert!(k.shows("Counted 1"));
    k.until_server("SELECT count(*) FROM checkins WHERE phone_hash IS NULL", 1);
    k.until_server(
        "SELECT count(*) FROM shift_events WHERE action = 'sign_in'",
        1,
    );
}

#[test]
fn the_start_screen_shows_todays_date_weekday_and_time_on_the_halls_clock() {
    let mut k = kiosk();
    // 10:45 on Tuesday 24 November 2026, Shanghai time.
    assert!(k.shows("11月24日 星期二 10:45"));
    k.advance(2 * 3_600_000 + 15 * 60_000);
    assert!(k.shows("11月24日 星期二 13:00"), "the time moves on");
    k.tap("English");
    assert!(k.shows("Tuesday 24 November, 13:00"));
    // Past midnight it is Wednesday.
    k.advance(11 * 3_600_000);
    assert!(k.shows("Wednesday 25 November, 00:00"));
}

#[test]
fn at_night_the_demo_still_has_an_activity_to_check_in_to_and_one_to_rate() {
    for (hh, mm) in [(5, 40), (23, 10)] {
        let mut k = common::kiosk_at(common::at_hall_time(hh, mm));
        k.tap("签到");
        assert!(k.shows("棋牌活动"), "{hh:02}:{mm:02}: open for check-in");
        assert!(!k.shows("现在没有可以签到的活动"));
        k.tap("回首页");
        k.tap("评价");
        assert!(
            !k.shows("今天还没有可以评价的活动"),
            "{hh:02}:{mm:02}: something to rate"
        );
        if hh == 5 {
            assert!(
                k.shows("防诈骗宣传讲座"),
                "the talk that ran earlier tonight"
            );
        }
    }
}

#[test]
fn with_spoken_prompts_on_each_screen_title_and_the_touched_button_are_read_aloud() {
    let mut k = kiosk();
    assert!(k.harness.state().spoken().is_empty(), "off by default");
    k.tap("签到");
    assert!(k.harness.state().spoken().is_empty(), "still off");
    k.tap("回首页");
    // Staff turn it on.
    k.tap("工作人员");
    k.type_digits(PIN);
    k.tap("下一步");
    k.until_text("工作人员模式");
    k.tap("开");
    k.tap("退出工作人员模式");
    let said = |k: &common::Fixture| k.harness.state().spoken().to_vec();
    assert_eq!(
        said(&k).last().map(String::as_str),
        Some("退出工作人员模式，今日活动")
    );
    k.tap("签到");
    assert_eq!(
        said(&k).last().map(String::as_str),
        Some("签到，请选择活动")
    );
    k.tap_containing("健康义诊");
    assert!(
        said(&k)
            .last()
            .is_some_and(|s| s.ends_with("请输入手机号码")),
        "{:?}",
        said(&k)
    );
    // The walk-in services screen is read out too.
    k.tap("返回");
    k.until("the hall's services", |app| app.has_services());
    k.tap("签到");
    k.tap("到访/办事");
    assert_eq!(
        said(&k).last().map(String::as_str),
        Some("到访/办事，您今天来办什么事？请点一项")
    );
    k.tap("便民服务");
    assert_eq!(
        said(&k).last().map(String::as_str),
        Some("便民服务，请输入手机号码")
    );
    // In English, in English.
    k.tap("English");
    assert_eq!(
        said(&k).last().map(String::as_str),
        Some("English，Type your mobile number")
    );
    // Home is the resident's way out: the kiosk's own language again.
    k.tap("Home");
    assert_eq!(said(&k).last().map(String::as_str), Some("Home，今日活动"));
    let n = said(&k).len();
    // The idle reset stops speech and says nothing of the last person.
    k.tap("签到");
    k.advance(61_000);
    k.until_text("今日活动");
    assert!(said(&k).len() <= n + 2, "{:?}", &said(&k)[n..]);
    assert!(
        !said(&k).iter().any(|s| s.contains("138")),
        "no number is ever read out"
    );
}
