//! A kiosk app on a real node, paired with an in-process demo server, in a
//! kittest harness; time is injected and can be moved forward.

#![allow(dead_code)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::TimeZone;
use egui_kittest::{
    Harness,
    kittest::{By, Queryable},
};
use linli_core::KioskNodeOptions;
use linli_kiosk::{
    app::{Clock, KioskApp},
    worker::Start,
};
use linli_sync_server::in_process::InProcessServer;

/// The day every kiosk test lives in: a Tuesday, so the demo calendar
/// holds 戏曲课堂 at 14:30 whatever day the tests run on.
pub fn test_day() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 24).expect("a date")
}

/// 10:45 on [`test_day`] in the hall: the clinic (named check-in) and the
/// elderly meal (headcount) are both open.
pub fn morning() -> i64 {
    at_hall_time(10, 45)
}

pub struct Fixture {
    pub harness: Harness<'static, KioskApp>,
    pub server: InProcessServer,
    pub now: Arc<AtomicI64>,
    pub dir: tempfile::TempDir,
}

pub const PIN: &str = "2468";

pub fn clock(now: &Arc<AtomicI64>) -> Clock {
    let now = now.clone();
    Arc::new(move || now.load(Ordering::SeqCst))
}

/// An unpaired kiosk on the pairing screen, and a demo server with a
/// fresh kiosk token for it.
pub fn unpaired() -> (Fixture, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = InProcessServer::start_at(&dir.path().join("server"), Some(morning()), false)
        .expect("demo server");
    let token = server.provision_kiosk("测试终端").expect("kiosk");
    let now = Arc::new(AtomicI64::new(morning()));
    let mut options = KioskNodeOptions::new(dir.path().join("kiosk"));
    options.clock = clock(&now);
    let app = KioskApp::unpaired(
        options,
        clock(&now),
        chrono_tz::Asia::Shanghai,
        Arc::new(|| {}),
    );
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut KioskApp| app.show(ui), app);
    harness.run_steps(3);
    (
        Fixture {
            harness,
            server,
            now,
            dir,
        },
        token,
    )
}

/// `hh:mm` on [`test_day`] in the hall.
pub fn at_hall_time(hh: u32, mm: u32) -> i64 {
    let tz = chrono_tz::Asia::Shanghai;
    tz.from_local_datetime(&test_day().and_hms_opt(hh, mm, 0).expect("time"))
        .single()
        .expect("unambiguous")
        .timestamp_millis()
}

/// A paired kiosk on the start screen with the hall calendar loaded.
pub fn kiosk() -> Fixture {
    kiosk_at(morning())
}

/// [`kiosk`], with the demo server started and the kiosk's clock set at
/// `moment`.
pub fn kiosk_at(moment: i64) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = InProcessServer::start_at(&dir.path().join("server"), Some(moment), false)
        .expect("demo server");
    let token = server.provision_kiosk("测试终端").expect("kiosk");
    let now = Arc::new(AtomicI64::new(moment));
    let mut options = KioskNodeOptions::new(dir.path().join("kiosk"));
    options.clock = clock(&now);
    let start = Start::Pair {
        options,
        server: server.url.clone(),
        token,
        ca_fingerprint: None,
    };
    let app = KioskApp::new(
        start,
        clock(&now),
        chrono_tz::Asia::Shanghai,
        Arc::new(|| {}),
    )
    .expect("app")
    .with_staff_pin(PIN);
    let harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut KioskApp| app.show(ui), app);
    let mut f = Fixture {
        harness,
        server,
        now,
        dir,
    };
    f.until("the calendar", |app| app.has_activities());
    f
}

impl Fixture {
    /// Step the UI until `cond` holds (the worker answers in real time).
    pub fn until(&mut self, what: &str, cond: impl Fn(&KioskApp) -> bool) {
        let started = Instant::now();
        loop {
            self.harness.step();
            if cond(self.harness.state()) {
                self.harness.step();
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Step until some widget's label contains `text`.
    pub fn until_text(&mut self, text: &str) {
        self.until_text_within(text, Duration::from_secs(20));
    }

    /// Step until some widget's label contains `text`, for at most
    /// `patience`.
    pub fn until_text_within(&mut self, text: &str, patience: Duration) {
        let started = Instant::now();
        loop {
            self.harness.step();
            if self.shows(text) {
                return;
            }
            assert!(
                started.elapsed() < patience,
                "timed out waiting for {text:?} on screen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Click the button labelled exactly `label`.
    pub fn tap(&mut self, label: &str) {
        // As a person would: scroll it into view (a screen's scroll area
        // may hide part of it behind the bottom bar), then touch it.
        self.harness
            .get_by_role_and_label(egui::accesskit::Role::Button, label)
            .scroll_to_me();
        // The scroll moves over a few frames: touch where it ends.
        for _ in 0..10 {
            self.harness.step();
        }
        self.harness
            .get_by_role_and_label(egui::accesskit::Role::Button, label)
            .click();
        self.harness.step();
        self.harness.step();
    }

    /// The first button whose label contains `part`.
    fn button_containing<'a>(&'a self, part: &'a str) -> egui_kittest::Node<'a> {
        self.harness
            .query_all(
                By::new()
                    .role(egui::accesskit::Role::Button)
                    .label_contains(part),
            )
            .next()
            .unwrap_or_else(|| panic!("no button containing {part:?}"))
    }

    /// Click the button whose label contains `part`.
    pub fn tap_containing(&mut self, part: &str) {
        self.button_containing(part).scroll_to_me();
        // The scroll moves over a few frames: touch where it ends.
        for _ in 0..10 {
            self.harness.step();
        }
        self.button_containing(part).click();
        self.harness.step();
        self.harness.step();
    }

    /// Whether the button whose label contains `part` can be touched.
    pub fn enabled(&self, part: &str) -> bool {
        use egui_kittest::kittest::NodeT as _;
        !self.button_containing(part).accesskit_node().is_disabled()
    }

    /// Type text on the pairing screen's keys.
    pub fn type_keys(&mut self, text: &str) {
        for c in text.chars() {
            self.tap(&c.to_string());
        }
    }

    /// Type digits on the keypad.
    pub fn type_digits(&mut self, digits: &str) {
        for d in digits.chars() {
            self.tap(&d.to_string());
        }
    }

    /// True when some widget's label contains `text`.
    pub fn shows(&self, text: &str) -> bool {
        self.harness
            .query_all(By::new().label_contains(text))
            .next()
            .is_some()
    }

    /// Move the injected clock forward.
    pub fn advance(&mut self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
        self.harness.step();
        self.harness.step();
    }

    /// Run a query on the demo server's projection.
    pub fn server_count(&self, sql: &'static str) -> i64 {
        let core = self.server.core.clone();
        core.sqlite("a test query")
            .expect("sqlite")
            .with(|c| {
                c.query_row(sql, [], |r| r.get(0))
                    .map_err(|e| linli_sync_engine::Error::db("test query", e))
            })
            .expect("query")
    }

    /// What staff see of the resident in the one row `sql` returns
    /// (pseudonym, sealed contact): the server opens the sealed contact.
    pub fn shown_by_server(&self, sql: &'static str) -> linli_sync_engine::residents::Shown {
        let (pseudonym, sealed): (String, String) = self
            .server
            .core
            .sqlite("a test query")
            .expect("the SQLite store")
            .with(|c| {
                c.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(|e| linli_sync_engine::Error::db("test query", e))
            })
            .expect("query");
        self.server
            .core
            .residents
            .shown(Some(&pseudonym), Some(&sealed))
    }

    /// Wait until a projection query returns `want`.
    pub fn until_server(&mut self, sql: &'static str, want: i64) {
        let started = Instant::now();
        loop {
            self.harness.step();
            if self.server_count(sql) == want {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "timed out waiting for {sql} = {want}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Record on the server that the volunteer with `phone` served `shifts`
    /// twelve-hour shifts in the demo hall (24 points each), as the
    /// projection holds shifts its kiosks delivered.
    pub fn seed_service(&self, phone: &str, shifts: i64) {
        let pseudonym = self
            .server
            .core
            .residents
            .pseudonym(&linli_core::phone::PhoneNumber::parse(phone).expect("a number"))
            .expect("pseudonym");
        let mut sql = String::new();
        let day_ms = 86_400_000;
        let first = linli_sync_engine::clock::now_ms() - (shifts + 1) * day_ms;
        for n in 0..shifts {
            let start = first + n * day_ms;
            let end = start + 12 * 3_600_000;
            for (step, action, at) in [(1, "sign_in", start), (2, "sign_out", end)] {
                sql.push_str(&format!(
                    "INSERT INTO shift_events (record_id, doc_id, hall_id, kiosk_id, date, shift_id,
                         action, phone_hash, sealed, activity_id, kiosk_at_ms, received_ms)
                     VALUES ('seed-{n}-{step}', 'seed', '{}', 'seed-kiosk', '2026-11-01',
                         'seed-shift-{n}', '{action}', '{pseudonym}', NULL, NULL, {at}, {at});",
                    linli_sync_server::in_process::DEMO_HALL
                ));
            }
        }
        self.server
            .core
            .sqlite("seeding shifts")
            .expect("the SQLite store")
            .with(|c| {
                c.execute_batch(&sql)
                    .map_err(|e| linli_sync_engine::Error::db("seeding shifts", e))
            })
            .expect("seeded");
    }

    /// Open the volunteer screen for `phone` from the start screen until it
    /// shows `text` (the server tops the kiosk up every few seconds; each
    /// visit reads afresh), in English if `english`.
    pub fn volunteer_until(&mut self, phone: &str, text: &str, english: bool) {
        let started = Instant::now();
        loop {
            // Home first (it goes back to the kiosk's language, Chinese).
            for home in ["回首页", "Home"] {
                if self.harness.query_by_label(home).is_some() {
                    self.tap(home);
                }
            }
            if english {
                self.tap("English");
            }
            self.tap(if english { "Volunteers" } else { "志愿者" });
            self.type_digits(phone);
            self.tap(if english { "Next" } else { "下一步" });
            self.until_text(if english {
                "Hours this month"
            } else {
                "本月服务时长"
            });
            if self.shows(text) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the volunteer screen never showed {text:?}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
