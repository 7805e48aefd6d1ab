//! The start screen: the hall's day and the main choices.

use super::*;

impl KioskApp {
    pub(super) fn start_screen(&mut self, ui: &mut egui::Ui) {
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
}
