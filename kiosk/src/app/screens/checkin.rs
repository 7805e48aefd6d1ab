//! Checking in: choosing the activity (or, under 到访/办事, the walk-in
//! service), the number, the name, companions, confirming; and counting a
//! group by headcount. A walk-in may also be registered without a number.

use super::*;

impl KioskApp {
    /// An activity as a list of them shows it: its title and its hours.
    pub(super) fn activity_line(&self, a: &Activity) -> String {
        format!(
            "{}  {}–{}",
            a.title,
            self.hhmm(a.starts_at_ms),
            self.hhmm(a.ends_at_ms)
        )
    }

    pub(super) fn pick_screen(&mut self, ui: &mut egui::Ui, purpose: Purpose) {
        let (title, empty) = match purpose {
            Purpose::CheckIn => (Key::PickActivity, Key::NoOpenActivities),
            Purpose::Rate => (Key::RateWhich, Key::NothingToRate),
        };
        ui.label(RichText::new(self.t(title)).size(TITLE));
        let now = self.now();
        let list: Vec<_> = self
            .todays()
            .into_iter()
            .filter(|(_, a)| match purpose {
                Purpose::CheckIn => a.is_open_at(now),
                Purpose::Rate => !a.cancelled && a.starts_at_ms <= now,
            })
            .collect();
        if list.is_empty() {
            ui.label(self.t(empty));
        }
        let width = ui.available_width().min(900.0);
        for (id, a) in list {
            if plain(ui, &self.activity_line(&a), width).clicked() {
                self.screen = match purpose {
                    Purpose::Rate => Screen::Faces {
                        activity_id: id,
                        title: a.title.clone(),
                        chips: Vec::new(),
                    },
                    Purpose::CheckIn if a.named_checkin => Screen::Phone {
                        purpose: PhoneFor::CheckIn {
                            visit: Visit::Activity(id),
                            title: a.title.clone(),
                        },
                        digits: String::new(),
                        error: None,
                    },
                    Purpose::CheckIn => Screen::Headcount {
                        activity_id: id,
                        title: a.title.clone(),
                        count: 0,
                    },
                };
            }
        }
        // The standing entry for everyday services: no activity needed.
        if purpose == Purpose::CheckIn && !self.services.is_empty() {
            ui.add_space(24.0);
            if primary(ui, self.t(Key::WalkIn), width).clicked() {
                self.screen = Screen::Services;
            }
        }
    }

    pub(super) fn services_screen(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new(self.t(Key::WhichService)).size(TITLE));
        let english = self.lang == Lang::En;
        let mut chosen = None;
        // Two big buttons a row: all of a hall's services fit one screen.
        for row in self.services.chunks(2) {
            ui.horizontal(|ui| {
                for (id, service) in row {
                    if plain(ui, service.label(english), 440.0).clicked() {
                        chosen = Some((id.clone(), service.label(english).to_string()));
                    }
                }
            });
        }
        if plain(ui, self.t(Key::Back), 320.0).clicked() {
            self.screen = Screen::Pick(Purpose::CheckIn);
        }
        if let Some((id, title)) = chosen {
            self.screen = Screen::Phone {
                purpose: PhoneFor::CheckIn {
                    visit: Visit::Service(id),
                    title,
                },
                digits: String::new(),
                error: None,
            };
        }
    }

    pub(super) fn phone_screen(
        &mut self,
        ui: &mut egui::Ui,
        purpose: PhoneFor,
        mut digits: String,
        mut error: Option<Key>,
    ) {
        let heading = match &purpose {
            PhoneFor::CheckIn { title, .. } => format!("{title} · {}", self.t(Key::EnterPhone)),
            _ => self.t(Key::EnterPhone).to_string(),
        };
        ui.label(RichText::new(heading).size(TITLE));
        let mut next = false;
        let mut anonymous = None;
        // Keypad on the left, the number and the actions on the right: all
        // of it fits one screen, nothing to scroll.
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                if keypad(ui, self.lang, &mut digits, 11) {
                    error = None;
                }
            });
            ui.add_space(32.0);
            ui.vertical(|ui| {
                let shown = if digits.is_empty() {
                    "_".to_string()
                } else {
                    digits.clone()
                };
                ui.label(RichText::new(shown).size(56.0).monospace());
                if let Some(e) = error {
                    ui.label(RichText::new(format!("！ {}", self.t(e))).color(PRIMARY));
                }
                next = primary(ui, self.t(Key::Next), 320.0).clicked();
                if let PhoneFor::CheckIn {
                    visit: Visit::Service(service),
                    ..
                } = &purpose
                    && plain(ui, self.t(Key::NoNumber), 320.0).clicked()
                {
                    anonymous = Some(service.clone());
                }
                if plain(ui, self.t(Key::Back), 320.0).clicked() {
                    self.reset();
                }
            });
        });
        if self.screen == Screen::Start {
            return;
        }
        if let Some(service) = anonymous {
            self.walk_in(service, None, 0, None);
            return;
        }
        if !next {
            self.screen = Screen::Phone {
                purpose,
                digits,
                error,
            };
            return;
        }
        let phone = match PhoneNumber::parse(&digits) {
            Ok(p) => p,
            Err(_) => {
                self.screen = Screen::Phone {
                    purpose,
                    digits,
                    error: Some(Key::PhoneInvalid),
                };
                return;
            }
        };
        match purpose {
            PhoneFor::CheckIn { visit, title } => {
                self.send(Command::LookUp(phone.clone()));
                self.screen = Screen::LookingUp {
                    visit,
                    title,
                    phone,
                };
            }
            PhoneFor::Callback { category, phrases } => {
                self.submit_request(category, &phrases, Some(phone))
            }
            PhoneFor::MyRequests => {
                self.send(Command::MyRequests(phone));
                self.screen = Screen::Saving;
            }
            PhoneFor::Volunteer => {
                self.pending_volunteer = Some(phone.clone());
                self.send(Command::Volunteer(phone));
                self.screen = Screen::Saving;
            }
        }
    }

    pub(super) fn name_screen(
        &mut self,
        ui: &mut egui::Ui,
        visit: Visit,
        title: String,
        phone: PhoneNumber,
        surname: Option<String>,
    ) {
        ui.label(RichText::new(self.t(Key::WelcomeNew)).size(TITLE));
        let mut next: Option<Option<String>> = None;
        let mut chosen = surname.clone();
        match &surname {
            None => {
                ui.label(self.t(Key::ChooseSurname));
                for row in SURNAMES.chunks(8) {
                    ui.horizontal(|ui| {
                        for s in row {
                            if ui
                                .add(
                                    egui::Button::new(RichText::new(*s).size(32.0))
                                        .min_size(egui::Vec2::new(TARGET + 10.0, TARGET)),
                                )
                                .clicked()
                            {
                                chosen = Some((*s).to_string());
                            }
                        }
                    });
                }
            }
            Some(s) => {
                ui.label(self.t(Key::ChooseTitle));
                ui.horizontal(|ui| {
                    for key in [Key::Aunt, Key::Uncle, Key::Mr, Key::Ms] {
                        // Names are stored in Chinese whatever the screen language.
                        let zh = Lang::Zh.t(key);
                        if plain(ui, &format!("{s}{}", self.t(key)), 180.0).clicked() {
                            next = Some(Some(format!("{s}{zh}")));
                        }
                    }
                });
            }
        }
        if plain(ui, self.t(Key::Skip), 200.0).clicked() {
            next = Some(None);
        }
        if let Some(name) = &next {
            // Sealed while the confirm screen shows, not on the tap.
            self.send(Command::Prepare(Self::resident(&phone, name.clone())));
        }
        self.screen = match next {
            Some(name) => Screen::Confirm {
                visit,
                title,
                phone,
                name,
                companions: 0,
            },
            None => Screen::Name {
                visit,
                title,
                phone,
                surname: chosen,
            },
        };
    }

    pub(super) fn confirm_screen(
        &mut self,
        ui: &mut egui::Ui,
        visit: Visit,
        title: String,
        phone: PhoneNumber,
        name: Option<String>,
        mut companions: u32,
    ) {
        ui.label(RichText::new(&title).size(TITLE));
        let who = match &name {
            Some(n) => format!("{n}  {}", phone.masked()),
            None => phone.masked(),
        };
        ui.label(RichText::new(who).size(48.0).monospace());
        ui.horizontal(|ui| {
            ui.label(self.t(Key::Companions));
            if ui
                .add(
                    egui::Button::new(RichText::new("－").size(36.0))
                        .min_size(egui::Vec2::new(TARGET, TARGET)),
                )
                .clicked()
            {
                companions = companions.saturating_sub(1);
            }
            ui.label(RichText::new(companions.to_string()).size(40.0));
            if ui
                .add(
                    egui::Button::new(RichText::new("+").size(36.0))
                        .min_size(egui::Vec2::new(TARGET, TARGET)),
                )
                .clicked()
                && companions < MAX_COMPANIONS
            {
                companions += 1;
            }
        });
        let screen = Screen::Confirm {
            visit: visit.clone(),
            title,
            phone: phone.clone(),
            name: name.clone(),
            companions,
        };
        let confirm = match visit {
            Visit::Activity(_) => Key::Confirm,
            Visit::Service(_) => Key::ConfirmWalkIn,
        };
        if !primary(ui, self.t(confirm), 480.0).clicked() {
            self.screen = screen;
            return;
        }
        let resident = Self::resident(&phone, name);
        match visit {
            Visit::Activity(activity_id) => {
                self.retry_after_failure = Some(screen);
                self.checkin_messages = (Key::CheckedIn, Key::AlreadyCheckedIn);
                self.send(Command::CheckIn {
                    activity_id,
                    resident,
                    companions,
                });
                self.screen = Screen::Saving;
            }
            Visit::Service(service) => {
                self.walk_in(service, Some(resident), companions, Some(screen))
            }
        }
    }

    /// Record a walk-in; a failure offers `retry` (what was entered) again.
    fn walk_in(
        &mut self,
        service: String,
        resident: Option<ResidentInput>,
        companions: u32,
        retry: Option<Screen>,
    ) {
        self.retry_after_failure = retry.or_else(|| Some(self.screen.clone()));
        self.checkin_messages = (Key::WalkInRecorded, Key::AlreadyWalkedIn);
        self.send(Command::WalkIn {
            service,
            resident,
            companions,
        });
        self.screen = Screen::Saving;
    }

    pub(super) fn headcount_screen(
        &mut self,
        ui: &mut egui::Ui,
        activity_id: String,
        title: String,
        mut count: u32,
    ) {
        ui.label(RichText::new(&title).size(TITLE));
        ui.label(self.t(Key::HeadcountOnly));
        ui.label(RichText::new(format!("{} {count}", self.t(Key::Counted))).size(48.0));
        if primary(ui, self.t(Key::AddOne), 480.0).clicked() {
            self.send(Command::Headcount {
                activity_id: activity_id.clone(),
            });
            count += 1;
        }
        if self.screen != Screen::Start && matches!(self.screen, Screen::Headcount { .. }) {
            self.screen = Screen::Headcount {
                activity_id,
                title,
                count,
            };
        }
    }
}
