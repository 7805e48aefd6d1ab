//! Pictures of the main screens, rendered in software (Mesa's lavapipe)
//! and compared with the references in `tests/snapshots/`. Run with
//! `UPDATE_SNAPSHOTS=1` to accept a deliberate change, then look at the
//! new pictures before committing them.

mod common;

use std::sync::Arc;

use common::kiosk;
use egui_kittest::Harness;
use linli_core::KioskNodeOptions;
use linli_kiosk::app::KioskApp;

#[test]
fn start_screen_in_both_languages() {
    let mut k = kiosk();
    k.harness.snapshot("start_zh");
    k.tap("English");
    k.harness.snapshot("start_en");
}

#[test]
fn check_in_keypad_and_name_grid() {
    let mut k = kiosk();
    k.tap("签到");
    k.tap_containing("健康义诊");
    k.type_digits("13812345678");
    k.harness.snapshot("checkin_keypad");
    k.tap("下一步");
    k.until_text("第一次来");
    k.harness.snapshot("checkin_name");
}

#[test]
fn rating_faces() {
    let mut k = kiosk();
    k.tap("评价");
    k.tap_containing("健康义诊");
    k.tap("老师很好");
    k.harness.snapshot("rate_faces");
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
    harness.snapshot("pair");
}
