//! Pairing an unpaired kiosk with its server: on the screen's keys, or
//! from a physical keyboard or a USB QR scanner (a "keyboard wedge": it
//! types what it reads, then Enter) into the field marked →. Scanning the
//! console's pairing link into the server field fills the token too, and
//! Enter moves on to the PIN; Enter on the PIN pairs.

use linli_core::pairing_link::{self, PairingLink};

use super::*;

/// Longest text a field takes (a pairing link with a fingerprint is about
/// 180 characters).
const FIELD_MAX: usize = 400;

/// The server field begins with `http://` typed for staff; a scanner types
/// the whole link after it. Keep only the last address begun.
fn last_address(text: &str) -> &str {
    let begun = ["http://", "https://"]
        .iter()
        .filter_map(|scheme| text.rfind(scheme))
        .max();
    match begun {
        Some(i) => &text[i..],
        None => text,
    }
}

/// What a keyboard or scanner asked of the pairing form this frame.
#[derive(Debug, Default, PartialEq)]
struct Typed {
    /// Enter was pressed.
    enter: bool,
}

/// Apply this frame's keyboard events to the field in use.
fn apply_keyboard(form: &mut PairForm, events: &[egui::Event]) -> Typed {
    let mut typed = Typed::default();
    for event in events {
        match event {
            egui::Event::Text(text) | egui::Event::Paste(text) => {
                let field = form.field;
                let target = field_mut(form, field);
                for c in text.chars().filter(|c| !c.is_control()) {
                    let fits = if field == 2 {
                        c.is_ascii_digit() && target.len() < 8
                    } else {
                        target.len() < FIELD_MAX
                    };
                    if fits {
                        target.push(c);
                    }
                }
            }
            egui::Event::Key {
                key: egui::Key::Backspace,
                pressed: true,
                ..
            } => {
                let field = form.field;
                field_mut(form, field).pop();
            }
            egui::Event::Key {
                key: egui::Key::Enter,
                pressed: true,
                ..
            } => typed.enter = true,
            _ => {}
        }
    }
    if form.field == 0 {
        form.server = last_address(&form.server).to_string();
    }
    typed
}

fn field_mut(form: &mut PairForm, field: usize) -> &mut String {
    match field {
        0 => &mut form.server,
        1 => &mut form.token,
        _ => &mut form.pin,
    }
}

impl KioskApp {
    pub(super) fn pair_screen(&mut self, ui: &mut egui::Ui, mut form: PairForm) {
        let events = ui.input(|i| i.events.clone());
        let mut pair = false;
        if apply_keyboard(&mut form, &events).enter {
            match form.field {
                0 => match PairingLink::parse(&form.server) {
                    // A link that cannot be used says why at once, and the
                    // field keeps it to be corrected.
                    Err(e) if form.server.contains(pairing_link::FRAGMENT_PREFIX) => {
                        form.error = Some(format!("{}: {e}", self.t(Key::PairLinkBad)));
                    }
                    _ => {
                        // A whole link gives the token: on to the PIN.
                        form.error = None;
                        form.take_token_from_link();
                        form.field = if form.token.is_empty() { 1 } else { 2 };
                    }
                },
                1 => form.field = 2,
                _ => pair = true,
            }
        }
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
        let field = form.field;
        let target = field_mut(&mut form, field);
        let rows: &[&str] = if field == 2 {
            &["1234567890"]
        } else {
            &["1234567890", "qwertyuiop", "asdfghjkl_", "zxcvbnm.:/-"]
        };
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
                                && target.len() < FIELD_MAX
                            {
                                target.push(c);
                            }
                        }
                    });
                }
            });
            ui.add_space(16.0);
            ui.vertical(|ui| {
                pair |= primary(ui, self.t(Key::PairNow), 300.0).clicked();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> egui::Event {
        egui::Event::Text(t.into())
    }

    fn enter() -> egui::Event {
        egui::Event::Key {
            key: egui::Key::Enter,
            physical_key: None,
            pressed: true,
            repeat: false,
            modifiers: egui::Modifiers::NONE,
        }
    }

    #[test]
    fn a_scanned_link_replaces_the_prefilled_scheme_and_enter_is_reported() {
        let mut form = PairForm {
            server: "http://".into(),
            ..PairForm::default()
        };
        // A scanner types one character at a time, then Enter.
        let link = "https://10.0.0.5:7878/#linli-pair?token=lk_1&ca=sha256:ab";
        let mut events: Vec<egui::Event> = link.chars().map(|c| text(&c.to_string())).collect();
        events.push(enter());
        let typed = apply_keyboard(&mut form, &events);
        assert!(typed.enter);
        assert_eq!(form.server, link);
        form.take_token_from_link();
        // The fingerprint is garbled, so the link does not parse and the
        // token is not taken: pairing will say why.
        assert_eq!(form.token, "");
    }

    #[test]
    fn the_pin_field_takes_digits_only_and_backspace_deletes() {
        let mut form = PairForm {
            field: 2,
            ..PairForm::default()
        };
        apply_keyboard(&mut form, &[text("12a34567890")]);
        assert_eq!(
            form.pin, "12345678",
            "eight digits at most, letters dropped"
        );
        let backspace = egui::Event::Key {
            key: egui::Key::Backspace,
            physical_key: None,
            pressed: true,
            repeat: false,
            modifiers: egui::Modifiers::NONE,
        };
        apply_keyboard(&mut form, &[backspace]);
        assert_eq!(form.pin, "1234567");
    }

    #[test]
    fn the_last_address_begun_is_kept() {
        assert_eq!(last_address("http://https://h/"), "https://h/");
        assert_eq!(last_address("http://http://h/"), "http://h/");
        assert_eq!(last_address("http://h/"), "http://h/");
        assert_eq!(last_address("abc"), "abc");
    }
}
