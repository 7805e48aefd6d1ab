//! Requests and suggestions: category, preset phrases, callback consent;
//! and a resident's own requests with the staff's replies.

use super::*;

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

fn status_key(s: RequestStatus) -> Key {
    match s {
        RequestStatus::Received => Key::StatusReceived,
        RequestStatus::InProgress => Key::StatusInProgress,
        RequestStatus::Resolved => Key::StatusResolved,
    }
}

impl KioskApp {
    pub(super) fn category_screen(&mut self, ui: &mut egui::Ui) {
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

    pub(super) fn compose_screen(
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

    pub(super) fn callback_screen(
        &mut self,
        ui: &mut egui::Ui,
        category: RequestCategory,
        phrases: Vec<Key>,
    ) {
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

    pub(super) fn submit_request(
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

    pub(super) fn my_requests_screen(
        &mut self,
        ui: &mut egui::Ui,
        list: &[linli_core::node::MyRequest],
    ) {
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
}
