//! A volunteer's sign-in and sign-out, hours and points.

use super::*;

impl KioskApp {
    pub(super) fn volunteer_screen(
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
}
