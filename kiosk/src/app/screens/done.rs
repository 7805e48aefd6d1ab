//! The closing screen of every flow: what happened, with a reference.

use super::*;

impl KioskApp {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn done_screen(
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
