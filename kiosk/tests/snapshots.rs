//! Pictures of the main screens, rendered in software (Mesa's lavapipe)
//! and compared with the references in `tests/snapshots/`. Run with
//! `UPDATE_SNAPSHOTS=1` to accept a deliberate change, then look at the
//! new pictures before committing them.

mod common;

/// Take the pointer off the screen first: a hover highlight left under
/// the last touch would make pictures differ from run to run.
fn snap(k: &mut common::Fixture, name: &str) {
    k.harness.event(egui::Event::PointerGone);
    k.harness.step();
    k.harness.step();
    k.harness.snapshot(name);
}

use std::sync::Arc;

use common::kiosk;
use egui_kittest::Harness;
use linli_core::KioskNodeOptions;
use linli_kiosk::app::KioskApp;

#[test]
fn start_screen_in_both_languages() {
    let mut k = kiosk();
    snap(&mut k, "start_zh");
    k.tap("English");
    snap(&mut k, "start_en");
}

#[test]
fn check_in_keypad_and_name_grid() {
    let mut k = kiosk();
    k.tap("签到");
    k.tap_containing("健康义诊");
    k.type_digits("13812345678");
    snap(&mut k, "checkin_keypad");
    k.tap("下一步");
    k.until_text("第一次来");
    snap(&mut k, "checkin_name");
}

#[test]
fn walk_in_services_and_their_number_screen() {
    let mut k = kiosk();
    k.until("the hall's services", |app| app.has_services());
    k.tap("签到");
    snap(&mut k, "checkin_pick");
    k.tap("到访/办事");
    snap(&mut k, "walk_in_services");
    k.tap("医保办理");
    snap(&mut k, "walk_in_phone");
}

#[test]
fn the_volunteer_screen_with_its_shop_and_a_redemption_to_confirm() {
    let mut k = kiosk();
    // 24 points: every demo item but none above, stock as the one kiosk holds it.
    k.seed_service("13600005678", 1);
    k.volunteer_until("13600005678", "此终端可兑换: 24 分", false);
    snap(&mut k, "volunteer_shop");
    k.tap_containing("大米 5kg");
    k.until_text("用 20 分兑换「大米 5kg」？");
    snap(&mut k, "redeem_confirm");
    k.tap("确认兑换");
    k.until_text("请工作人员输入密码");
    snap(&mut k, "redeem_staff_pin");
}

#[test]
fn a_volunteer_chooses_the_activity_their_shift_serves() {
    let mut k = kiosk();
    k.tap("志愿者");
    k.type_digits("13600005678");
    k.tap("下一步");
    k.until_text("本月服务时长");
    k.tap("签到上岗");
    k.until_text("这一班服务哪个活动？");
    snap(&mut k, "serve_which");
}

#[test]
fn rating_faces() {
    let mut k = kiosk();
    k.tap("评价");
    k.tap_containing("健康义诊");
    k.tap("老师很好");
    snap(&mut k, "rate_faces");
}

#[test]
fn pairing_screen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock: linli_kiosk::app::Clock = Arc::new(common::morning);
    let app = KioskApp::unpaired(
        KioskNodeOptions::new(dir.path()),
        clock,
        chrono_tz::Asia::Shanghai,
        Arc::new(|| {}),
    );
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut KioskApp| app.show(ui), app);
    harness.run_steps(3);
    harness.event(egui::Event::PointerGone);
    harness.run_steps(2);
    harness.snapshot("pair");
}
