//! Driving the real kiosk app (egui_kittest) from scenario tests, as a
//! person at the touchscreen would: tap a button, wait until the screen
//! shows something. Shared by the test files that put a kiosk app in
//! front of a real server (`mod kiosk_ui;`).

use std::time::{Duration, Instant};

use egui_kittest::{Harness, kittest::Queryable as _};
use linli_kiosk::app::KioskApp;

/// How long a screen may take to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(30);

/// Steps the app until `cond` holds; an error naming `what` after 30 s.
pub fn step_until(
    h: &mut Harness<'_, KioskApp>,
    what: &str,
    cond: impl Fn(&Harness<'_, KioskApp>) -> bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        h.step();
        if cond(h) {
            return Ok(());
        }
        anyhow::ensure!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a label on screen contains `text`.
pub fn shows(h: &Harness<'_, KioskApp>, text: &str) -> bool {
    h.query_all(egui_kittest::kittest::By::new().label_contains(text))
        .next()
        .is_some()
}

/// Taps the button labelled `label`, and lets the app answer.
#[allow(dead_code)] // not every test file taps
pub fn tap(h: &mut Harness<'_, KioskApp>, label: &str) {
    h.get_by_role_and_label(egui::accesskit::Role::Button, label)
        .click();
    h.step();
    h.step();
}
