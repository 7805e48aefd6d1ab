//! The staff PIN and the staff screen (settings, sync, diagnostics).

use super::*;

impl KioskApp {
    pub(super) fn pin_screen(
        &mut self,
        ui: &mut egui::Ui,
        mut digits: String,
        mut error: Option<String>,
    ) {
        ui.label(RichText::new(self.t(Key::EnterPin)).size(TITLE));
        let (next, back) = self.pin_pad(ui, &mut digits, error.as_deref(), Key::Next);
        if back {
            self.reset();
            return;
        }
        if next {
            match self.check_staff_pin(&mut digits) {
                Ok(()) => {
                    self.send(Command::TodayStats);
                    self.screen = Screen::Staff;
                    return;
                }
                Err(e) => error = Some(e),
            }
        }
        self.screen = Screen::Pin { digits, error };
    }

    /// The staff PIN keypad beside the dots typed so far, the error and
    /// two buttons: `go` and back. Returns which was touched.
    pub(super) fn pin_pad(
        &mut self,
        ui: &mut egui::Ui,
        digits: &mut String,
        error: Option<&str>,
        go: Key,
    ) -> (bool, bool) {
        let (mut next, mut back) = (false, false);
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                keypad(ui, self.lang, digits, 8);
            });
            ui.add_space(32.0);
            ui.vertical(|ui| {
                ui.label(RichText::new("●".repeat(digits.len()) + "_").size(48.0));
                if let Some(e) = error {
                    ui.label(RichText::new(format!("！ {e}")).color(PRIMARY));
                }
                next = primary(ui, self.t(go), 320.0).clicked();
                back = plain(ui, self.t(Key::Back), 320.0).clicked();
            });
        });
        (next, back)
    }

    /// Check `digits` against the staff PIN (five wrong tries lock it for
    /// five minutes); on a wrong one, clear them and say why.
    pub(super) fn check_staff_pin(&mut self, digits: &mut String) -> Result<(), String> {
        let now = self.now();
        let stored = self.staff_pin.clone().unwrap_or_default();
        if self.pin_guard.attempt(&stored, digits, now) {
            return Ok(());
        }
        digits.clear();
        Err(match self.pin_guard.locked(now) {
            Some(ms) => format!("{} {}", self.t(Key::PinLocked), (ms + 59_999) / 60_000),
            None => self.t(Key::PinWrong).to_string(),
        })
    }

    pub(super) fn staff_screen(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new(self.t(Key::StaffTitle)).size(TITLE).strong());
        // Three columns so everything fits one screen: today, sync and
        // kiosk, settings.
        ui.columns(3, |cols| {
            let ui = &mut cols[0];
            ui.label(RichText::new(self.t(Key::TodayCheckins)).strong());
            for (id, a) in self.todays() {
                let n = self.today.get(&id).copied().unwrap_or(0);
                ui.label(
                    RichText::new(format!("{} {}  {n}", self.hhmm(a.starts_at_ms), a.title))
                        .size(20.0),
                );
                if !a.named_checkin
                    && plain(ui, &format!("{} · {}", a.title, self.t(Key::AddOne)), 300.0).clicked()
                {
                    self.screen = Screen::Headcount {
                        activity_id: id.clone(),
                        title: a.title.clone(),
                        count: 0,
                    };
                }
            }
            let ui = &mut cols[1];
            ui.label(RichText::new(self.t(Key::SyncDetails)).strong());
            let s = self.status.clone();
            let small = |t: String| RichText::new(t).size(20.0);
            ui.label(small(
                self.t(if s.online { Key::Online } else { Key::Offline })
                    .to_string(),
            ));
            ui.label(small(format!(
                "{} {}",
                s.waiting,
                self.t(Key::WaitingToSync)
            )));
            if let Some(ms) = s.last_sync_ms {
                ui.label(small(format!(
                    "{} {}",
                    self.t(Key::LastSync),
                    self.hhmm(ms)
                )));
            }
            if let Some(e) = s.last_error.as_ref().or(s.store_error.as_ref()) {
                ui.label(small(format!("{}: {e}", self.t(Key::LastError))).color(PRIMARY));
            }
            if s.needs_repair {
                ui.label(small(self.t(Key::NeedsRepair).to_string()).color(PRIMARY));
            }
            ui.label(RichText::new(self.t(Key::KioskInfo)).strong());
            ui.label(small(format!("{}: {}", self.t(Key::Hall), self.hall_name)));
            ui.label(small(format!(
                "{}: {}",
                self.t(Key::KioskId),
                self.kiosk_id
            )));
            ui.label(small(format!(
                "{}: {}",
                self.t(Key::Version),
                linli_core::protocol::APP_VERSION
            )));
            ui.label(small(format!("{}: {}", self.t(Key::Server), self.server)));
            let ui = &mut cols[2];
            if primary(ui, self.t(Key::ExitStaff), 360.0).clicked() {
                self.reset();
            }
            ui.label(RichText::new(self.t(Key::DefaultLanguage)).strong());
            ui.horizontal_wrapped(|ui| {
                for lang in [Lang::Zh, Lang::En] {
                    let label = self.t(if lang == Lang::Zh {
                        Key::LangNameZh
                    } else {
                        Key::LangNameEn
                    });
                    if chip(ui, label, self.default_lang == lang).clicked() {
                        self.default_lang = lang;
                        self.send(Command::SetSetting("lang".into(), lang.code().into()));
                    }
                }
            });
            ui.label(RichText::new(self.t(Key::IdleTimeout)).strong());
            ui.horizontal_wrapped(|ui| {
                for secs in [30u32, 60, 120, 300] {
                    if chip(ui, &secs.to_string(), self.idle_secs == secs).clicked() {
                        self.idle_secs = secs;
                        self.send(Command::SetSetting("idle_secs".into(), secs.to_string()));
                    }
                }
            });
            ui.label(RichText::new(self.t(Key::SpokenPrompts)).strong());
            ui.horizontal_wrapped(|ui| {
                for on in [true, false] {
                    let label = self.t(if on { Key::SettingOn } else { Key::SettingOff });
                    if chip(ui, label, self.speech.enabled() == on).clicked() {
                        self.speech.set_enabled(on);
                        let v = if on { "on" } else { "off" };
                        self.send(Command::SetSetting("speech".into(), v.into()));
                    }
                }
            });
            if plain(ui, self.t(Key::LeaveFullscreen), 360.0).clicked() {
                ui.ctx()
                    .send_viewport_cmd(egui::ViewportCommand::Fullscreen(false));
            }
            if plain(ui, self.t(Key::Repair), 360.0).clicked() {
                self.screen = Screen::Pair(PairForm {
                    server: self.server.clone(),
                    ..PairForm::default()
                });
            }
        });
    }
}
