//! One method per screen of [`KioskApp`], one file per flow. Screens read
//! state and change `self.screen`; anything slow is a [`Command`] to the
//! worker. This file holds what every screen shares: the top bar, the
//! status strip, the idle warning, the dispatch by screen, and the
//! catalogues of categories, phrases, faces and chips.

mod checkin;
mod done;
mod market;
mod pairing;
mod rating;
mod requests;
mod staff;
mod start;
mod volunteer;

use egui::{Align, Layout, RichText};
use linli_core::{
    model::{Activity, MAX_COMPANIONS, RequestCategory, RequestStatus, ShiftAction},
    node::{ResidentInput, Shop, ShopItem},
    phone::PhoneNumber,
};

use super::{
    KioskApp, PairForm, PhoneFor, Purpose, Screen, Visit,
    widgets::{
        BODY, INK, OK_GREEN, PRIMARY, TARGET, TITLE, WARN, chip, face, keypad, plain, primary, tile,
    },
};
use crate::{
    i18n::{Key, Lang, SURNAMES},
    worker::Command,
};

fn toggle(list: &mut Vec<Key>, key: Key) {
    if let Some(i) = list.iter().position(|k| *k == key) {
        list.remove(i);
    } else {
        list.push(key);
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
                        | Screen::Receipt { .. }
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
                    Screen::Pin { .. }
                        | Screen::Staff
                        | Screen::Pair(_)
                        | Screen::RedeemStaff { .. }
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
            Screen::Redeeming => {
                ui.label(RichText::new(self.t(Key::Redeeming)).size(TITLE));
                if self.status.online {
                    ui.label(RichText::new(self.t(Key::FetchingFromHall)).size(BODY));
                }
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
            Screen::Services => self.services_screen(ui),
            Screen::Phone {
                purpose,
                digits,
                error,
            } => self.phone_screen(ui, purpose, digits, error),
            Screen::LookingUp { .. } => {
                ui.label(RichText::new(self.t(Key::Saving)).size(TITLE));
            }
            Screen::Name {
                visit,
                title,
                phone,
                surname,
            } => self.name_screen(ui, visit, title, phone, surname),
            Screen::Confirm {
                visit,
                title,
                phone,
                name,
                companions,
            } => self.confirm_screen(ui, visit, title, phone, name, companions),
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
            Screen::Volunteer {
                phone,
                summary,
                shop,
            } => self.volunteer_screen(ui, phone, &summary, &shop),
            Screen::ServeWhich { phone } => self.serve_which_screen(ui, phone),
            Screen::RedeemConfirm {
                phone,
                item,
                balance,
                lend,
            } => self.redeem_confirm_screen(ui, phone, item, balance, lend),
            Screen::RedeemStaff {
                phone,
                item,
                lend,
                digits,
                error,
            } => self.redeem_staff_screen(ui, phone, item, lend, digits, error),
            Screen::Receipt {
                item,
                points,
                owed,
                reference,
            } => self.receipt_screen(ui, &item, points, owed, &reference),
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
}
