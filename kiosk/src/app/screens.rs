//! One method per screen of [`KioskApp`]. Screens read state and change
//! `self.screen`; anything slow is a [`Command`] to the worker.

use egui::{Align, Layout, RichText};
use linli_core::{
    model::{MAX_COMPANIONS, RequestCategory, RequestStatus, ShiftAction},
    phone::PhoneNumber,
};

use super::{
    KioskApp, PairForm, PhoneFor, Purpose, Screen,
    widgets::{
        BODY, INK, OK_GREEN, PRIMARY, TARGET, TITLE, WARN, chip, face, keypad, plain, primary,
    },
};
use crate::{
    i18n::{Key, Lang, SURNAMES},
    worker::Command,
};

/// The category grid, in order, with its label.
const CATEGORIES: [(RequestCategory, Key); 7] = [
    (RequestCategory::Sanitation, Key::CatSanitation),
    (RequestCategory::Repair, Key::CatRepair),
    (RequestCategory::Dispute, Key::CatDispute),
    (RequestCategory::Safety, Key::CatSafety),
    (RequestCategory::ServiceSuggestion, Key::CatService),
    (RequestCategory::Idea, Key::CatIdea),
    (RequestCategory::Other, Key::CatOther),
];

fn phrases(category: RequestCategory) -> &'static [Key] {
    match category {
        RequestCategory::Sanitation => &[Key::PhRubbish, Key::PhCorridor, Key::PhGreen],
        RequestCategory::Repair => &[Key::PhLight, Key::PhLift, Key::PhWater],
        RequestCategory::Dispute => &[Key::PhNoise, Key::PhParking, Key::PhPets],
        RequestCategory::Safety => &[Key::PhStranger, Key::PhPatrol, Key::PhCamera],
        RequestCategory::ServiceSuggestion => {
            &[Key::PhMoreClasses, Key::PhLongerHours, Key::PhBetterMeals]
        }
        RequestCategory::Idea => &[Key::PhSeating, Key::PhActivity, Key::PhVolunteer],
        RequestCategory::Other => &[Key::PhOther],
    }
}

/// Reason chips offered with a rating, with their stored codes.
const CHIPS: [(Key, &str); 6] = [
    (Key::ChipTimeGood, "time_good"),
    (Key::ChipTeacherGood, "teacher_good"),
    (Key::ChipLearned, "learned_much"),
    (Key::ChipCrowded, "too_crowded"),
    (Key::ChipTooShort, "too_short"),
    (Key::ChipWantMore, "want_more"),
];

const FACES: [(u32, Key); 5] = [
    (1, Key::FaceVeryUnhappy),
    (2, Key::FaceUnhappy),
    (3, Key::FaceOkay),
    (4, Key::FaceHappy),
    (5, Key::FaceVeryHappy),
];

/// Taps on a face within this long of the last rating of the same
/// activity count once.
const RATING_DEBOUNCE_MS: i64 = 5_000;

fn toggle(list: &mut Vec<Key>, key: Key) {
    if let Some(i) = list.iter().position(|k| *k == key) {
        list.remove(i);
    } else {
        list.push(key);
    }
}

fn status_key(s: RequestStatus) -> Key {
    match s {
        RequestStatus::Received => Key::StatusReceived,
        RequestStatus::InProgress => Key::StatusInProgress,
        RequestStatus::Resolved => Key::StatusResolved,
    }
}

impl KioskApp {
    pub(super) fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading(RichText::new(&self.hall_name).strong());
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                if plain(ui, self.t(Key::SwitchLanguage), 140.0).clicked() {
                    self.lang = self.lang.toggled();
                }
                let size_key = if self.large_text {
                    Key::NormalText
                } else {
                    Key::LargeText
                };
                if plain(ui, self.t(size_key), 140.0).clicked() {
                    self.large_text = !self.large_text;
                    ui.ctx()
                        .set_zoom_factor(if self.large_text { 1.25 } else { 1.0 });
                }
                if !matches!(
                    self.screen,
                    Screen::Start
                        | Screen::Starting
                        | Screen::Fatal(_)
                        | Screen::Pair(_)
                        | Screen::Done { .. }
                ) && primary(ui, self.t(Key::Home), 160.0).clicked()
                {
                    self.reset();
                }
            });
        });
    }

    pub(super) fn status_strip(&mut self, ui: &mut egui::Ui) {
        if self.worker.is_none() {
            // Not paired: nothing to sync yet.
            ui.label(RichText::new(self.t(Key::PairTitle)).size(20.0));
            return;
        }
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
            if self.status.store_error.is_some() {
                ui.separator();
                ui.label(
                    RichText::new(format!("！ {}", self.t(Key::StaffHint)))
                        .color(PRIMARY)
                        .size(20.0),
                );
            }
            if self.worker.is_some()
                && !matches!(
                    self.screen,
                    Screen::Pin { .. } | Screen::Staff | Screen::Pair(_)
                )
            {
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    if ui
                        .add(
                            egui::Button::new(RichText::new(self.t(Key::Staff)).size(20.0))
                                .min_size(egui::Vec2::new(120.0, 60.0)),
                        )
                        .clicked()
                    {
                        self.screen = Screen::Pin {
                            digits: String::new(),
                            error: None,
                        };
                    }
                });
            }
        });
    }

    pub(super) fn idle_warning(&mut self, ui: &mut egui::Ui, left: u32) {
        ui.add_space(80.0);
        ui.vertical_centered(|ui| {
            ui.label(RichText::new(self.t(Key::StillThere)).size(44.0));
            ui.label(RichText::new(format!("{left} {}", self.t(Key::ReturningIn))).size(TITLE));
            // Any touch on this screen continues (see `idle`); the button
            // says so in words.
            let _ = primary(ui, self.t(Key::Continue), 420.0);
        });
    }

    pub(super) fn screen_ui(&mut self, ui: &mut egui::Ui) {
        match self.screen.clone() {
            Screen::Starting | Screen::Saving => {
                let key = if self.screen == Screen::Saving {
                    Key::Saving
                } else {
                    Key::Starting
                };
                ui.label(RichText::new(self.t(key)).size(TITLE));
            }
            Screen::Fatal(e) => {
                ui.label(
                    RichText::new(format!("！ {}", self.t(Key::StaffHint)))
                        .size(40.0)
                        .color(PRIMARY),
                );
                ui.label(e);
            }
            Screen::Pair(form) => self.pair_screen(ui, form),
            Screen::Start => self.start_screen(ui),
            Screen::Pick(purpose) => self.pick_screen(ui, purpose),
            Screen::Phone {
                purpose,
                digits,
                error,
            } => self.phone_screen(ui, purpose, digits, error),
            Screen::LookingUp { .. } => {
                ui.label(RichText::new(self.t(Key::Saving)).size(TITLE));
            }
            Screen::Name {
                activity_id,
                title,
                phone,
                surname,
            } => self.name_screen(ui, activity_id, title, phone, surname),
            Screen::Confirm {
                activity_id,
                title,
                phone,
                name,
                companions,
            } => self.confirm_screen(ui, activity_id, title, phone, name, companions),
            Screen::Headcount {
                activity_id,
                title,
                count,
            } => self.headcount_screen(ui, activity_id, title, count),
            Screen::Faces {
                activity_id,
                title,
                chips,
            } => self.faces_screen(ui, activity_id, title, chips),
            Screen::Category => self.category_screen(ui),
            Screen::Compose { category, phrases } => self.compose_screen(ui, category, phrases),
            Screen::Callback { category, phrases } => self.callback_screen(ui, category, phrases),
            Screen::MyRequests(list) => self.my_requests_screen(ui, &list),
            Screen::Volunteer { phone, summary } => self.volunteer_screen(ui, phone, &summary),
            Screen::Pin { digits, error } => self.pin_screen(ui, digits, error),
            Screen::Staff => self.staff_screen(ui),
            Screen::Done {
                ok,
                message,
                detail,
                reference,
                qr,
                retry,
            } => self.done_screen(ui, ok, message, detail, reference, qr, retry),
        }
    }

    fn start_screen(&mut self, ui: &mut egui::Ui) {
        // Today's date, weekday and time, large: elderly residents orient
        // by them (on the hall's clock).
        let today_line = self
            .local_now()
            .map(|t| crate::i18n::today_line(self.lang, &t))
            .unwrap_or_default();
        ui.horizontal(|ui| {
            ui.label(
                RichText::new(self.t(Key::TodaysActivities))
                    .size(TITLE)
                    .strong(),
            );
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                ui.label(RichText::new(today_line).size(TITLE).strong());
            });
        });
        let today = self.todays();
        if today.is_empty() {
            ui.label(self.t(Key::NoActivitiesYet));
        }
        // Fewer lines in large text, so the buttons stay on screen.
        for (id, a) in today.iter().take(if self.large_text { 3 } else { 6 }) {
            let places = match self.places_left(id, a) {
                Some(0) => self.t(Key::Full).to_string(),
                Some(n) => format!("{} {n}", self.t(Key::PlacesLeft)),
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
        ui.add_space(16.0);
        let width = (ui.available_width() - 32.0) / 3.0;
        ui.horizontal(|ui| {
            if primary(ui, self.t(Key::CheckIn), width).clicked() {
                self.screen = Screen::Pick(Purpose::CheckIn);
            }
            if primary(ui, self.t(Key::Rate), width).clicked() {
                self.screen = Screen::Pick(Purpose::Rate);
            }
            if primary(ui, self.t(Key::Requests), width).clicked() {
                self.screen = Screen::Category;
            }
        });
        ui.horizontal(|ui| {
            if primary(ui, self.t(Key::Volunteers), width).clicked() {
                self.screen = Screen::Phone {
                    purpose: PhoneFor::Volunteer,
                    digits: String::new(),
                    error: None,
                };
            }
            if primary(ui, self.t(Key::MyRequests), width).clicked() {
                self.screen = Screen::Phone {
                    purpose: PhoneFor::MyRequests,
                    digits: String::new(),
                    error: None,
                };
            }
        });
    }

    fn pick_screen(&mut self, ui: &mut egui::Ui, purpose: Purpose) {
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
            let text = format!(
                "{}  {}–{}",
                a.title,
                self.hhmm(a.starts_at_ms),
                self.hhmm(a.ends_at_ms)
            );
            if plain(ui, &text, width).clicked() {
                self.screen = match purpose {
                    Purpose::Rate => Screen::Faces {
                        activity_id: id,
                        title: a.title.clone(),
                        chips: Vec::new(),
                    },
                    Purpose::CheckIn if a.named_checkin => Screen::Phone {
                        purpose: PhoneFor::CheckIn {
                            activity_id: id,
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
    }

    fn phone_screen(
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
                if plain(ui, self.t(Key::Back), 320.0).clicked() {
                    self.reset();
                }
            });
        });
        if self.screen == Screen::Start {
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
            PhoneFor::CheckIn { activity_id, title } => {
                self.send(Command::LookUp(phone.clone()));
                self.screen = Screen::LookingUp {
                    activity_id,
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

    fn name_screen(
        &mut self,
        ui: &mut egui::Ui,
        activity_id: String,
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
        self.screen = match next {
            Some(name) => Screen::Confirm {
                activity_id,
                title,
                phone,
                name,
                companions: 0,
            },
            None => Screen::Name {
                activity_id,
                title,
                phone,
                surname: chosen,
            },
        };
    }

    fn confirm_screen(
        &mut self,
        ui: &mut egui::Ui,
        activity_id: String,
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
            activity_id: activity_id.clone(),
            title,
            phone: phone.clone(),
            name: name.clone(),
            companions,
        };
        if primary(ui, self.t(Key::Confirm), 480.0).clicked() {
            self.retry_after_failure = Some(screen);
            self.send(Command::CheckIn {
                activity_id,
                resident: Self::resident(&phone, name),
                companions,
            });
            self.screen = Screen::Saving;
        } else {
            self.screen = screen;
        }
    }

    fn headcount_screen(
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

    fn faces_screen(
        &mut self,
        ui: &mut egui::Ui,
        activity_id: String,
        title: String,
        mut chips: Vec<Key>,
    ) {
        ui.label(RichText::new(&title).size(TITLE));
        ui.label(self.t(Key::HowWasIt));
        let mut score = None;
        ui.horizontal(|ui| {
            for (s, key) in FACES {
                if face(ui, s, self.t(key)).clicked() {
                    score = Some(s);
                }
            }
        });
        ui.label(self.t(Key::ReasonsOptional));
        ui.horizontal_wrapped(|ui| {
            for (key, _) in CHIPS {
                if chip(ui, self.t(key), chips.contains(&key)).clicked() {
                    toggle(&mut chips, key);
                }
            }
        });
        let Some(score) = score else {
            self.screen = Screen::Faces {
                activity_id,
                title,
                chips,
            };
            return;
        };
        let now = self.now();
        if let Some((last, at)) = &self.last_rating
            && *last == activity_id
            && now - at < RATING_DEBOUNCE_MS
        {
            // A repeated press: it counted already.
            self.done(Key::ThanksRating);
            return;
        }
        self.last_rating = Some((activity_id.clone(), now));
        let reason = CHIPS
            .iter()
            .filter(|(k, _)| chips.contains(k))
            .map(|(_, code)| *code)
            .collect::<Vec<_>>()
            .join(",");
        self.retry_after_failure = Some(Screen::Faces {
            activity_id: activity_id.clone(),
            title,
            chips,
        });
        self.send(Command::Rate {
            activity_id,
            score,
            reason: (!reason.is_empty()).then_some(reason),
        });
        self.screen = Screen::Saving;
    }

    fn category_screen(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new(self.t(Key::ChooseCategory)).size(TITLE));
        let width = (ui.available_width() - 32.0) / 3.0;
        for row in CATEGORIES.chunks(3) {
            ui.horizontal(|ui| {
                for (cat, key) in row {
                    if plain(ui, self.t(*key), width).clicked() {
                        self.screen = Screen::Compose {
                            category: *cat,
                            phrases: Vec::new(),
                        };
                    }
                }
            });
        }
    }

    fn compose_screen(
        &mut self,
        ui: &mut egui::Ui,
        category: RequestCategory,
        mut chosen: Vec<Key>,
    ) {
        let cat_key = CATEGORIES
            .iter()
            .find(|(c, _)| *c == category)
            .map_or(Key::CatOther, |(_, k)| *k);
        ui.label(RichText::new(self.t(cat_key)).size(TITLE));
        ui.label(self.t(Key::ChoosePhrases));
        ui.horizontal_wrapped(|ui| {
            for key in phrases(category) {
                if chip(ui, self.t(*key), chosen.contains(key)).clicked() {
                    toggle(&mut chosen, *key);
                }
            }
        });
        ui.add_space(12.0);
        ui.label(RichText::new(self.t(Key::ScanForMore)).size(20.0));
        let mut next = false;
        ui.horizontal(|ui| {
            if plain(ui, self.t(Key::Back), 200.0).clicked() {
                self.screen = Screen::Category;
            }
            if !chosen.is_empty() {
                next = primary(ui, self.t(Key::Next), 300.0).clicked();
            }
        });
        if self.screen == Screen::Category {
            return;
        }
        self.screen = if next {
            Screen::Callback {
                category,
                phrases: chosen,
            }
        } else {
            Screen::Compose {
                category,
                phrases: chosen,
            }
        };
    }

    fn callback_screen(&mut self, ui: &mut egui::Ui, category: RequestCategory, phrases: Vec<Key>) {
        ui.label(RichText::new(self.t(Key::WantCallback)).size(TITLE));
        ui.horizontal(|ui| {
            if primary(ui, self.t(Key::YesCallback), 420.0).clicked() {
                self.screen = Screen::Phone {
                    purpose: PhoneFor::Callback {
                        category,
                        phrases: phrases.clone(),
                    },
                    digits: String::new(),
                    error: None,
                };
            }
            if plain(ui, self.t(Key::NoCallback), 420.0).clicked() {
                self.submit_request(category, &phrases, None);
            }
        });
    }

    fn submit_request(
        &mut self,
        category: RequestCategory,
        phrases: &[Key],
        phone: Option<PhoneNumber>,
    ) {
        // Requests are read by hall staff in Chinese, whatever the screen language.
        let text = phrases
            .iter()
            .map(|k| Lang::Zh.t(*k))
            .collect::<Vec<_>>()
            .join("；");
        self.retry_after_failure = Some(Screen::Callback {
            category,
            phrases: phrases.to_vec(),
        });
        self.send(Command::Request {
            category,
            text,
            resident: phone.map(|p| Self::resident(&p, None)),
        });
        self.screen = Screen::Saving;
    }

    fn my_requests_screen(&mut self, ui: &mut egui::Ui, list: &[linli_core::node::MyRequest]) {
        ui.label(RichText::new(self.t(Key::MyRequests)).size(TITLE));
        if list.is_empty() {
            ui.label(self.t(Key::NoRequests));
        }
        for r in list {
            let cat = RequestCategory::from_code(&r.request.category)
                .ok()
                .and_then(|c| CATEGORIES.iter().find(|(x, _)| *x == c).map(|(_, k)| *k))
                .unwrap_or(Key::CatOther);
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.label(
                    RichText::new(format!(
                        "{} {}  ·  {}  ·  {}",
                        self.t(Key::YourReference),
                        r.reference,
                        self.t(cat),
                        self.t(status_key(r.status))
                    ))
                    .strong(),
                );
                ui.label(&r.request.text);
                if let Some(reply) = &r.reply {
                    ui.label(
                        RichText::new(format!("{}: {reply}", self.t(Key::Reply))).color(OK_GREEN),
                    );
                }
            });
        }
    }

    fn volunteer_screen(
        &mut self,
        ui: &mut egui::Ui,
        phone: PhoneNumber,
        summary: &linli_core::node::VolunteerSummary,
    ) {
        ui.label(
            RichText::new(format!(
                "{}  {}",
                self.t(Key::VolunteerTitle),
                phone.masked()
            ))
            .size(TITLE),
        );
        ui.label(
            RichText::new(format!(
                "{}: {:.1}",
                self.t(Key::HoursThisMonth),
                summary.hours_this_month
            ))
            .size(BODY + 4.0),
        );
        ui.label(
            RichText::new(format!("{}: {}", self.t(Key::Points), summary.points)).size(BODY + 4.0),
        );
        match &summary.open_shift {
            Some((shift, since)) => {
                ui.label(format!(
                    "{} {}",
                    self.t(Key::OnShiftSince),
                    self.hhmm(*since)
                ));
                if primary(ui, self.t(Key::SignOut), 420.0).clicked() {
                    self.send(Command::Shift {
                        volunteer: Self::resident(&phone, None),
                        action: ShiftAction::SignOut,
                        shift: Some(shift.clone()),
                    });
                    self.screen = Screen::Saving;
                }
            }
            None => {
                if primary(ui, self.t(Key::SignIn), 420.0).clicked() {
                    self.send(Command::Shift {
                        volunteer: Self::resident(&phone, None),
                        action: ShiftAction::SignIn,
                        shift: None,
                    });
                    self.screen = Screen::Saving;
                }
            }
        }
    }

    fn pin_screen(&mut self, ui: &mut egui::Ui, mut digits: String, mut error: Option<String>) {
        ui.label(RichText::new(self.t(Key::EnterPin)).size(TITLE));
        let mut next = false;
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                keypad(ui, self.lang, &mut digits, 8);
            });
            ui.add_space(32.0);
            ui.vertical(|ui| {
                ui.label(RichText::new("●".repeat(digits.len()) + "_").size(48.0));
                if let Some(e) = &error {
                    ui.label(RichText::new(format!("！ {e}")).color(PRIMARY));
                }
                next = primary(ui, self.t(Key::Next), 320.0).clicked();
                if plain(ui, self.t(Key::Back), 320.0).clicked() {
                    self.reset();
                }
            });
        });
        if self.screen == Screen::Start {
            return;
        }
        if next {
            let now = self.now();
            let stored = self.staff_pin.clone().unwrap_or_default();
            if self.pin_guard.attempt(&stored, &digits, now) {
                self.send(Command::TodayStats);
                self.screen = Screen::Staff;
                return;
            }
            error = Some(match self.pin_guard.locked(now) {
                Some(ms) => format!("{} {}", self.t(Key::PinLocked), (ms + 59_999) / 60_000),
                None => self.t(Key::PinWrong).to_string(),
            });
            digits.clear();
        }
        self.screen = Screen::Pin { digits, error };
    }

    fn staff_screen(&mut self, ui: &mut egui::Ui) {
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

    fn pair_screen(&mut self, ui: &mut egui::Ui, mut form: PairForm) {
        // Denser than resident screens (staff use it once), so it fits.
        ui.spacing_mut().item_spacing = egui::Vec2::new(8.0, 6.0);
        ui.label(RichText::new(self.t(Key::PairTitle)).size(TITLE).strong());
        let fields = [
            (Key::ServerAddress, form.server.clone()),
            (Key::PairingToken, form.token.clone()),
            (Key::NewPin, "●".repeat(form.pin.len())),
        ];
        for (i, (key, value)) in fields.iter().enumerate() {
            let marker = if form.field == i { "→" } else { "  " };
            let text = format!("{marker} {}: {value}", self.t(*key));
            if ui
                .add(
                    egui::Button::new(RichText::new(text).size(22.0).color(INK))
                        .min_size(egui::Vec2::new(1000.0, 44.0)),
                )
                .clicked()
            {
                form.field = i;
            }
        }
        if let Some(e) = &form.error {
            ui.label(RichText::new(format!("！ {e}")).color(PRIMARY).size(20.0));
        }
        let target = match form.field {
            0 => &mut form.server,
            1 => &mut form.token,
            _ => &mut form.pin,
        };
        let rows: &[&str] = if form.field == 2 {
            &["1234567890"]
        } else {
            &["1234567890", "qwertyuiop", "asdfghjkl_", "zxcvbnm.:/-"]
        };
        let mut pair = false;
        // Keys on the left, the actions beside them: one screen, no scrolling.
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                for row in rows {
                    ui.horizontal(|ui| {
                        for c in row.chars() {
                            if ui
                                .add(
                                    egui::Button::new(RichText::new(c.to_string()).size(26.0))
                                        .min_size(egui::Vec2::new(64.0, 60.0)),
                                )
                                .clicked()
                                && target.len() < 200
                            {
                                target.push(c);
                            }
                        }
                    });
                }
            });
            ui.add_space(16.0);
            ui.vertical(|ui| {
                pair = primary(ui, self.t(Key::PairNow), 300.0).clicked();
                if plain(ui, self.t(Key::Delete), 300.0).clicked() {
                    target.pop();
                }
                if plain(ui, self.t(Key::Clear), 300.0).clicked() {
                    target.clear();
                }
            });
        });
        if pair {
            self.pair(form);
        } else {
            self.screen = Screen::Pair(form);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn done_screen(
        &mut self,
        ui: &mut egui::Ui,
        ok: bool,
        message: Key,
        detail: Option<String>,
        reference: Option<String>,
        qr: Option<String>,
        retry: Option<Box<Screen>>,
    ) {
        let color = if ok { OK_GREEN } else { PRIMARY };
        let mark = if ok { "✓" } else { "！" };
        ui.label(
            RichText::new(format!("{mark} {}", self.t(message)))
                .size(44.0)
                .color(color),
        );
        if let Some(r) = &reference {
            ui.label(
                RichText::new(format!("{}: {r}", self.t(Key::YourReference)))
                    .size(48.0)
                    .monospace(),
            );
        }
        if let Some(link) = &qr {
            ui.label(self.t(Key::ScanForMore));
            crate::qr::show(ui, link, 220.0);
        }
        if let Some(d) = &detail {
            ui.label(RichText::new(format!("{} — {d}", self.t(Key::StaffHint))).size(20.0));
        }
        ui.horizontal(|ui| {
            if let Some(screen) = &retry
                && plain(ui, self.t(Key::Back), 240.0).clicked()
            {
                self.screen = (**screen).clone();
            }
            if primary(ui, self.t(Key::Home), 480.0).clicked() {
                self.reset();
            }
        });
    }
}
