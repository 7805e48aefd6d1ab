//! Pairing an unpaired kiosk with its server.

use super::*;

impl KioskApp {
    pub(super) fn pair_screen(&mut self, ui: &mut egui::Ui, mut form: PairForm) {
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
}
