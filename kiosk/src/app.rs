//! [`KioskApp`]: the egui app. It holds what the screens show and which
//! screen is up; everything slow goes to the [`Worker`] as a [`Command`]
//! and comes back as an [`Event`]. Large targets, big type, few steps,
//! no free-text entry: choices and a numeric keypad.

use std::sync::Arc;

use chrono::TimeZone;
use egui::{Align, Button, Color32, Layout, RichText, Vec2};
use linli_core::{SyncStatus, model::Activity, node::CheckInOutcome, phone::PhoneNumber};

use crate::{
    i18n::{Key, Lang},
    worker::{Command, Event, Worker},
};

/// Wall clock in ms (injected so tests control "now").
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Smallest touch target, px.
pub const TARGET: f32 = 72.0;
/// Body text size, pt.
pub const BODY: f32 = 24.0;

const INK: Color32 = Color32::from_rgb(0x1a, 0x1a, 0x1a);
const PAPER: Color32 = Color32::from_rgb(0xfb, 0xf8, 0xf1);
const PRIMARY: Color32 = Color32::from_rgb(0x9e, 0x1b, 0x1b);
const OK_GREEN: Color32 = Color32::from_rgb(0x1b, 0x5e, 0x20);
const WARN: Color32 = Color32::from_rgb(0x8a, 0x4b, 0x00);

/// Which screen is up.
#[derive(Clone, Debug, PartialEq)]
pub enum Screen {
    /// Waiting for the worker.
    Starting,
    /// Hall name, today's activities, the big buttons.
    Start,
    /// Choose an activity open now.
    PickActivity,
    /// Type the phone number.
    Phone {
        /// Activity id.
        activity_id: String,
        /// Its title.
        title: String,
        /// Digits so far.
        digits: String,
        /// What was wrong with the last "next".
        error: Option<Key>,
    },
    /// Confirm with the masked number and companions.
    Confirm {
        /// Activity id.
        activity_id: String,
        /// Its title.
        title: String,
        /// The number.
        phone: PhoneNumber,
        /// Companions.
        companions: u32,
    },
    /// Counting heads for an activity without named check-in.
    Headcount {
        /// Activity id.
        activity_id: String,
        /// Its title.
        title: String,
        /// Taps so far on this screen.
        count: u32,
    },
    /// Waiting for the worker to commit.
    Saving,
    /// The outcome, with a way home.
    Done {
        /// Recorded (true) or not.
        ok: bool,
        /// The message.
        message: Key,
        /// Detail for staff, if it failed.
        detail: Option<String>,
    },
    /// The node could not start.
    Fatal(String),
}

/// The kiosk app.
pub struct KioskApp {
    worker: Worker,
    clock: Clock,
    tz: chrono_tz::Tz,
    /// Current language.
    pub lang: Lang,
    /// Current screen.
    pub screen: Screen,
    hall_name: String,
    status: SyncStatus,
    activities: Vec<(String, Activity)>,
}

fn big_button(ui: &mut egui::Ui, text: &str, fill: Color32, width: f32) -> egui::Response {
    ui.add_sized(
        [width, TARGET],
        Button::new(RichText::new(text).size(BODY + 4.0).color(Color32::WHITE)).fill(fill),
    )
}

impl KioskApp {
    /// An app driving `worker`, with `clock` for "now" and the hall's time zone.
    pub fn new(worker: Worker, clock: Clock, tz: chrono_tz::Tz) -> Self {
        Self {
            worker,
            clock,
            tz,
            lang: Lang::Zh,
            screen: Screen::Starting,
            hall_name: String::new(),
            status: SyncStatus::default(),
            activities: Vec::new(),
        }
    }

    /// Set fonts, sizes and relaxed click timing for elderly fingers.
    pub fn setup(ctx: &egui::Context) {
        crate::fonts::install(ctx);
        ctx.options_mut(|o| {
            o.input_options.max_click_duration = 3.0;
            o.input_options.max_click_dist = 24.0;
        });
        ctx.all_styles_mut(|s| {
            use egui::{FontFamily::Proportional, FontId, TextStyle};
            s.text_styles = [
                (TextStyle::Heading, FontId::new(40.0, Proportional)),
                (TextStyle::Body, FontId::new(BODY, Proportional)),
                (TextStyle::Button, FontId::new(BODY + 4.0, Proportional)),
                (TextStyle::Small, FontId::new(20.0, Proportional)),
                (
                    TextStyle::Monospace,
                    FontId::new(BODY, egui::FontFamily::Monospace),
                ),
            ]
            .into();
            s.spacing.item_spacing = Vec2::new(16.0, 16.0);
            s.spacing.button_padding = Vec2::new(24.0, 16.0);
            s.visuals = egui::Visuals::light();
            s.visuals.panel_fill = PAPER;
            s.visuals.override_text_color = Some(INK);
        });
    }

    fn t(&self, key: Key) -> &'static str {
        self.lang.t(key)
    }

    fn drain_events(&mut self) {
        for e in self.worker.poll() {
            match e {
                Event::Ready { hall_name, .. } => {
                    self.hall_name = hall_name;
                    if self.screen == Screen::Starting {
                        self.screen = Screen::Start;
                    }
                }
                Event::Status(s) => self.status = s,
                Event::Activities(a) => self.activities = a,
                Event::CheckedIn(r) => {
                    self.screen = match r {
                        Ok(CheckInOutcome::Recorded(_)) => Screen::Done {
                            ok: true,
                            message: Key::CheckedIn,
                            detail: None,
                        },
                        Ok(CheckInOutcome::AlreadyCheckedIn) => Screen::Done {
                            ok: true,
                            message: Key::AlreadyCheckedIn,
                            detail: None,
                        },
                        Err(e) => Screen::Done {
                            ok: false,
                            message: Key::RecordFailed,
                            detail: Some(e),
                        },
                    }
                }
                Event::Counted(r) => {
                    if let Err(e) = r {
                        self.screen = Screen::Done {
                            ok: false,
                            message: Key::RecordFailed,
                            detail: Some(e),
                        };
                    }
                }
                Event::Fatal(e) => self.screen = Screen::Fatal(e),
            }
        }
    }

    fn local_day(&self, ms: i64) -> chrono::NaiveDate {
        self.tz
            .timestamp_millis_opt(ms)
            .single()
            .map(|t| t.date_naive())
            .unwrap_or_default()
    }

    fn hhmm(&self, ms: i64) -> String {
        self.tz
            .timestamp_millis_opt(ms)
            .single()
            .map(|t| t.format("%H:%M").to_string())
            .unwrap_or_default()
    }

    fn todays(&self) -> Vec<(String, Activity)> {
        let today = self.local_day((self.clock)());
        self.activities
            .iter()
            .filter(|(_, a)| self.local_day(a.starts_at_ms) == today)
            .cloned()
            .collect()
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading(RichText::new(&self.hall_name).strong());
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                if ui
                    .add_sized([160.0, TARGET], Button::new(self.t(Key::SwitchLanguage)))
                    .clicked()
                {
                    self.lang = self.lang.toggled();
                }
                if !matches!(
                    self.screen,
                    Screen::Start | Screen::Starting | Screen::Fatal(_)
                ) && ui
                    .add_sized([160.0, TARGET], Button::new(self.t(Key::Home)))
                    .clicked()
                {
                    self.screen = Screen::Start;
                }
            });
        });
    }

    fn status_strip(&self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let (mark, key, color) = if self.status.online {
                ("●", Key::Online, OK_GREEN)
            } else {
                ("○", Key::Offline, WARN)
            };
            ui.label(
                RichText::new(format!("{mark} {}", self.t(key)))
                    .color(color)
                    .size(20.0),
            );
            ui.separator();
            let waiting = if self.status.waiting == 0 {
                self.t(Key::AllSynced).to_string()
            } else {
                format!("{} {}", self.status.waiting, self.t(Key::WaitingToSync))
            };
            ui.label(RichText::new(waiting).size(20.0));
            if let Some(ms) = self.status.last_sync_ms {
                ui.separator();
                ui.label(
                    RichText::new(format!("{} {}", self.t(Key::LastSync), self.hhmm(ms)))
                        .size(20.0),
                );
            }
            if let Some(e) = &self.status.store_error {
                ui.separator();
                ui.label(
                    RichText::new(format!("⚠ {} — {e}", self.t(Key::StaffHint)))
                        .color(PRIMARY)
                        .size(20.0),
                );
            }
        });
    }

    fn start_screen(&mut self, ui: &mut egui::Ui) {
        ui.label(
            RichText::new(self.t(Key::TodaysActivities))
                .size(30.0)
                .strong(),
        );
        let today = self.todays();
        if today.is_empty() {
            ui.label(self.t(Key::NoActivitiesYet));
        }
        for (_, a) in today.iter().take(8) {
            let places = match a.capacity {
                Some(c) => format!("{} {c}", self.t(Key::PlacesLeft)),
                None => self.t(Key::Unlimited).to_string(),
            };
            let cancelled = if a.cancelled {
                format!(" ({})", self.t(Key::Cancelled))
            } else {
                String::new()
            };
            ui.label(format!(
                "{}–{}  {}  {}  ·  {places}{cancelled}",
                self.hhmm(a.starts_at_ms),
                self.hhmm(a.ends_at_ms),
                a.title,
                a.room.clone().unwrap_or_default()
            ));
        }
        ui.add_space(24.0);
        let width = (ui.available_width() - 16.0 * 2.0) / 3.0;
        ui.horizontal(|ui| {
            if big_button(ui, self.t(Key::CheckIn), PRIMARY, width).clicked() {
                self.screen = Screen::PickActivity;
            }
            // The other flows come with the kiosk issue; they are shown but
            // not yet enabled, so the layout does not jump when they land.
            for key in [Key::Rate, Key::Requests] {
                ui.add_enabled(
                    false,
                    Button::new(RichText::new(self.t(key)).size(BODY + 4.0))
                        .min_size(Vec2::new(width, TARGET)),
                );
            }
        });
        ui.horizontal(|ui| {
            for key in [Key::Volunteers, Key::MyRequests] {
                ui.add_enabled(
                    false,
                    Button::new(RichText::new(self.t(key)).size(BODY + 4.0))
                        .min_size(Vec2::new(width, TARGET)),
                );
            }
        });
    }

    fn pick_activity(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new(self.t(Key::PickActivity)).size(30.0));
        let now = (self.clock)();
        let open: Vec<_> = self
            .todays()
            .into_iter()
            .filter(|(_, a)| a.is_open_at(now))
            .collect();
        if open.is_empty() {
            ui.label(self.t(Key::NoOpenActivities));
        }
        let width = ui.available_width();
        for (id, a) in open {
            let text = format!(
                "{}  {}–{}",
                a.title,
                self.hhmm(a.starts_at_ms),
                self.hhmm(a.ends_at_ms)
            );
            if ui.add_sized([width, TARGET], Button::new(text)).clicked() {
                self.screen = if a.named_checkin {
                    Screen::Phone {
                        activity_id: id,
                        title: a.title.clone(),
                        digits: String::new(),
                        error: None,
                    }
                } else {
                    Screen::Headcount {
                        activity_id: id,
                        title: a.title.clone(),
                        count: 0,
                    }
                };
            }
        }
    }

    fn phone_screen(&mut self, ui: &mut egui::Ui) {
        let Screen::Phone {
            activity_id,
            title,
            digits,
            error,
        } = &mut self.screen
        else {
            return;
        };
        ui.label(RichText::new(format!("{title} · {}", self.lang.t(Key::EnterPhone))).size(30.0));
        let shown = if digits.is_empty() {
            "_".to_string()
        } else {
            digits.clone()
        };
        ui.label(RichText::new(shown).size(56.0).monospace());
        if let Some(e) = error {
            ui.label(RichText::new(format!("⚠ {}", self.lang.t(*e))).color(PRIMARY));
        }
        let mut next = false;
        let key_w = 150.0;
        for row in [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"]] {
            ui.horizontal(|ui| {
                for d in row {
                    if ui
                        .add_sized([key_w, TARGET], Button::new(RichText::new(d).size(36.0)))
                        .clicked()
                        && digits.len() < 11
                    {
                        digits.push_str(d);
                        *error = None;
                    }
                }
            });
        }
        ui.horizontal(|ui| {
            if ui
                .add_sized([key_w, TARGET], Button::new(self.lang.t(Key::Clear)))
                .clicked()
            {
                digits.clear();
            }
            if ui
                .add_sized([key_w, TARGET], Button::new(RichText::new("0").size(36.0)))
                .clicked()
                && digits.len() < 11
            {
                digits.push('0');
            }
            if ui
                .add_sized([key_w, TARGET], Button::new(self.lang.t(Key::Delete)))
                .clicked()
            {
                digits.pop();
            }
        });
        ui.add_space(8.0);
        if big_button(ui, self.lang.t(Key::Next), PRIMARY, key_w * 3.0 + 32.0).clicked() {
            next = true;
        }
        if next {
            match PhoneNumber::parse(digits) {
                Ok(phone) => {
                    self.screen = Screen::Confirm {
                        activity_id: activity_id.clone(),
                        title: title.clone(),
                        phone,
                        companions: 0,
                    };
                }
                Err(_) => *error = Some(Key::PhoneInvalid),
            }
        }
    }

    fn confirm_screen(&mut self, ui: &mut egui::Ui) {
        let Screen::Confirm {
            activity_id,
            title,
            phone,
            companions,
        } = &mut self.screen
        else {
            return;
        };
        ui.label(RichText::new(title.as_str()).size(30.0));
        ui.label(RichText::new(phone.masked()).size(48.0).monospace());
        ui.horizontal(|ui| {
            ui.label(self.lang.t(Key::Companions));
            if ui
                .add_sized([TARGET, TARGET], Button::new(RichText::new("−").size(36.0)))
                .clicked()
            {
                *companions = companions.saturating_sub(1);
            }
            ui.label(RichText::new(companions.to_string()).size(40.0));
            if ui
                .add_sized([TARGET, TARGET], Button::new(RichText::new("+").size(36.0)))
                .clicked()
                && *companions < linli_core::model::MAX_COMPANIONS
            {
                *companions += 1;
            }
        });
        if big_button(ui, self.lang.t(Key::Confirm), PRIMARY, 480.0).clicked() {
            self.worker.send(Command::CheckIn {
                activity_id: activity_id.clone(),
                phone: phone.clone(),
                companions: *companions,
            });
            self.screen = Screen::Saving;
        }
    }

    fn headcount_screen(&mut self, ui: &mut egui::Ui) {
        let Screen::Headcount {
            activity_id,
            title,
            count,
        } = &mut self.screen
        else {
            return;
        };
        ui.label(RichText::new(title.as_str()).size(30.0));
        ui.label(self.lang.t(Key::HeadcountOnly));
        ui.label(RichText::new(format!("{} {count}", self.lang.t(Key::Counted))).size(48.0));
        if big_button(ui, self.lang.t(Key::AddOne), PRIMARY, 480.0).clicked() {
            self.worker.send(Command::Headcount {
                activity_id: activity_id.clone(),
            });
            *count += 1;
        }
    }

    fn done_screen(&mut self, ui: &mut egui::Ui) {
        let Screen::Done {
            ok,
            message,
            detail,
        } = &self.screen
        else {
            return;
        };
        let color = if *ok { OK_GREEN } else { PRIMARY };
        let mark = if *ok { "✔" } else { "⚠" };
        ui.label(
            RichText::new(format!("{mark} {}", self.t(*message)))
                .size(44.0)
                .color(color),
        );
        if let Some(d) = detail {
            ui.label(format!("{} — {d}", self.t(Key::StaffHint)));
        }
        if big_button(ui, self.t(Key::Home), PRIMARY, 480.0).clicked() {
            self.screen = Screen::Start;
        }
    }

    /// Draw one frame.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.drain_events();
        egui::Panel::top("top").show(ui, |ui| {
            ui.add_space(8.0);
            self.top_bar(ui);
            ui.add_space(8.0);
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.add_space(6.0);
            self.status_strip(ui);
            ui.add_space(6.0);
        });
        egui::CentralPanel::default().show(ui, |ui| match self.screen.clone() {
            Screen::Starting | Screen::Saving => {
                ui.label(RichText::new(self.t(Key::Starting)).size(30.0));
            }
            Screen::Start => self.start_screen(ui),
            Screen::PickActivity => self.pick_activity(ui),
            Screen::Phone { .. } => self.phone_screen(ui),
            Screen::Confirm { .. } => self.confirm_screen(ui),
            Screen::Headcount { .. } => self.headcount_screen(ui),
            Screen::Done { .. } => self.done_screen(ui),
            Screen::Fatal(e) => {
                ui.label(
                    RichText::new(format!("⚠ {}", self.t(Key::StaffHint)))
                        .size(40.0)
                        .color(PRIMARY),
                );
                ui.label(e);
            }
        });
    }
}

impl eframe::App for KioskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}
