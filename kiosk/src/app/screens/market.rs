//! Redeeming at the hall's 爱心超市: confirm the item, staff confirm the
//! hand-over with their PIN, the receipt. What the kiosk may redeem is
//! checked again by the node when it records the redemption
//! (`linli_core::node::KioskNode::redeem`): these screens only ask.

use super::*;

impl KioskApp {
    pub(super) fn redeem_confirm_screen(
        &mut self,
        ui: &mut egui::Ui,
        phone: PhoneNumber,
        item: ShopItem,
        balance: u64,
        lend: u64,
    ) {
        ui.label(RichText::new(self.t(Key::RedeemTitle)).size(TITLE));
        ui.label(
            RichText::new(crate::i18n::redeem_question(
                self.lang,
                &item.item,
                item.points,
            ))
            .size(44.0),
        );
        ui.label(
            RichText::new(format!(
                "{}: {} {}",
                self.t(Key::BalanceAfter),
                balance.saturating_sub(item.points),
                self.t(Key::PointsUnit)
            ))
            .size(BODY + 4.0),
        );
        if lend > 0 {
            ui.label(
                RichText::new(crate::i18n::lend_line(self.lang, lend))
                    .size(BODY + 2.0)
                    .color(WARN),
            );
        }
        ui.add_space(16.0);
        ui.horizontal(|ui| {
            if plain(ui, self.t(Key::Back), 240.0).clicked() {
                self.back_to_volunteer(phone.clone());
            }
            if primary(ui, self.t(Key::ConfirmRedeem), 420.0).clicked() {
                self.screen = Screen::RedeemStaff {
                    phone: phone.clone(),
                    item: item.clone(),
                    lend,
                    digits: String::new(),
                    error: None,
                };
            }
        });
    }

    /// The volunteer screen again, read afresh.
    fn back_to_volunteer(&mut self, phone: PhoneNumber) {
        self.pending_volunteer = Some(phone.clone());
        self.send(Command::Volunteer(phone));
        self.screen = Screen::Saving;
    }

    pub(super) fn redeem_staff_screen(
        &mut self,
        ui: &mut egui::Ui,
        phone: PhoneNumber,
        item: ShopItem,
        lend: u64,
        mut digits: String,
        mut error: Option<String>,
    ) {
        ui.label(RichText::new(self.t(Key::StaffConfirm)).size(TITLE));
        ui.label(
            RichText::new(format!(
                "{} · {} {}",
                item.item,
                item.points,
                self.t(Key::PointsUnit)
            ))
            .size(BODY + 4.0),
        );
        if lend > 0 {
            // Staff confirm the lending too: say it again where they type.
            ui.label(
                RichText::new(crate::i18n::lend_line(self.lang, lend))
                    .size(BODY)
                    .color(WARN),
            );
        }
        let (next, back) = self.pin_pad(ui, &mut digits, error.as_deref(), Key::ConfirmRedeem);
        if back {
            self.back_to_volunteer(phone);
            return;
        }
        if next {
            match self.check_staff_pin(&mut digits) {
                Ok(()) => {
                    self.send(Command::Redeem {
                        phone,
                        item: item.item,
                        points: item.points,
                        lend: lend > 0,
                    });
                    self.screen = Screen::Redeeming;
                    return;
                }
                Err(e) => error = Some(e),
            }
        }
        self.screen = Screen::RedeemStaff {
            phone,
            item,
            lend,
            digits,
            error,
        };
    }

    pub(super) fn receipt_screen(
        &mut self,
        ui: &mut egui::Ui,
        item: &str,
        points: u64,
        owed: u64,
        reference: &str,
    ) {
        ui.label(
            RichText::new(format!("✓ {}", self.t(Key::Redeemed)))
                .size(44.0)
                .color(OK_GREEN),
        );
        ui.label(
            RichText::new(format!("{item}  −{points} {}", self.t(Key::PointsUnit))).size(TITLE),
        );
        if owed > 0 {
            ui.label(
                RichText::new(crate::i18n::lent_receipt_line(self.lang, owed))
                    .size(BODY + 4.0)
                    .color(WARN),
            );
        }
        ui.label(
            RichText::new(format!("{}: {reference}", self.t(Key::ReceiptNumber)))
                .size(48.0)
                .monospace(),
        );
        if primary(ui, self.t(Key::Home), 480.0).clicked() {
            self.reset();
        }
    }
}
