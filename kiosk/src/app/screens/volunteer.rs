//! A volunteer's sign-in and sign-out, hours and points, and the items of
//! the hall's 爱心超市 their points afford (the redemption itself is
//! `market`'s).

use super::*;

impl KioskApp {
    pub(super) fn volunteer_screen(
        &mut self,
        ui: &mut egui::Ui,
        phone: PhoneNumber,
        summary: &linli_core::node::VolunteerSummary,
        shop: &Shop,
    ) {
        let balance = shop.balance.unwrap_or(u64::from(summary.points));
        // Two columns, so the 爱心超市 fits beside the standing without
        // scrolling: the standing and sign in/out, then the items.
        ui.columns(2, |cols| {
            let ui = &mut cols[0];
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
                RichText::new(format!(
                    "{}: {balance} {}",
                    self.t(Key::Balance),
                    self.t(Key::PointsUnit)
                ))
                .size(BODY + 4.0),
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
                            activity: None,
                        });
                        self.screen = Screen::Saving;
                    }
                }
                None => {
                    if primary(ui, self.t(Key::SignIn), 420.0).clicked() {
                        if self.servable().is_empty() {
                            self.sign_in(&phone, None);
                        } else {
                            self.screen = Screen::ServeWhich {
                                phone: phone.clone(),
                            };
                        }
                    }
                }
            }
            let ui = &mut cols[1];
            self.shop_part(ui, &phone, shop, balance);
        });
    }

    /// Today's activities a shift may serve: not cancelled, and not over.
    fn servable(&self) -> Vec<(String, Activity)> {
        let now = self.now();
        self.todays()
            .into_iter()
            .filter(|(_, a)| !a.cancelled && a.ends_at_ms > now)
            .collect()
    }

    /// Sign `phone` in to a shift serving `activity` (none: everyday duty).
    fn sign_in(&mut self, phone: &PhoneNumber, activity: Option<String>) {
        self.send(Command::Shift {
            volunteer: Self::resident(phone, None),
            action: ShiftAction::SignIn,
            shift: None,
            activity,
        });
        self.screen = Screen::Saving;
    }

    /// Which activity the shift serves: one of today's, or everyday duty.
    pub(super) fn serve_which_screen(&mut self, ui: &mut egui::Ui, phone: PhoneNumber) {
        ui.label(RichText::new(self.t(Key::ServeWhich)).size(TITLE));
        let width = ui.available_width().min(900.0);
        // First, where it is always in view: a long day's list scrolls.
        if primary(ui, self.t(Key::EverydayDuty), width).clicked() {
            self.sign_in(&phone, None);
        }
        ui.add_space(24.0);
        for (id, a) in self.servable() {
            if plain(ui, &self.activity_line(&a), width).clicked() {
                self.sign_in(&phone, Some(id));
            }
        }
    }

    /// The 爱心超市 part: what this kiosk may redeem, and a tile for each
    /// item the balance affords (greyed when this kiosk cannot hand it
    /// over now), saying plainly why not.
    fn shop_part(&mut self, ui: &mut egui::Ui, phone: &PhoneNumber, shop: &Shop, balance: u64) {
        ui.label(RichText::new(self.t(Key::Market)).size(TITLE).strong());
        if shop.items.is_empty() {
            ui.label(self.t(Key::NoItems));
            return;
        }
        ui.label(
            RichText::new(format!(
                "{}: {} {}",
                self.t(Key::RedeemableHere),
                shop.points_here,
                self.t(Key::PointsUnit)
            ))
            .size(BODY + 4.0),
        );
        let affordable: Vec<&ShopItem> =
            shop.items.iter().filter(|i| i.points <= balance).collect();
        if affordable.is_empty() {
            ui.label(RichText::new(self.t(Key::NothingAffordable)).color(WARN));
            return;
        }
        if affordable.iter().any(|i| i.points > shop.points_here) {
            ui.label(
                RichText::new(crate::i18n::part_here(
                    self.lang,
                    shop.points_here,
                    shop.lend_here,
                    self.status.online,
                ))
                .color(WARN),
            );
        }
        let mut chosen = None;
        ui.horizontal_wrapped(|ui| {
            for item in affordable {
                // Online, what the hall's other kiosks hold is fetched
                // when redeeming (`KioskNode::redeem_or_ask`); offline,
                // the hall's rules may let this kiosk lend the rest.
                let here = (item.points <= shop.points_here + shop.lend_here
                    && item.stock_here > 0)
                    || self.status.online;
                let detail = if item.stock_here == 0 {
                    format!(
                        "{} {} · {}",
                        item.points,
                        self.t(Key::PointsUnit),
                        self.t(Key::NoneLeftHere)
                    )
                } else {
                    crate::i18n::tile_line(self.lang, item.points, item.stock_here)
                };
                if tile(ui, &item.item, &detail, here).clicked() {
                    chosen = Some(item.clone());
                }
            }
        });
        if let Some(item) = chosen {
            let lend = if self.status.online {
                0
            } else {
                item.points.saturating_sub(shop.points_here)
            };
            self.screen = Screen::RedeemConfirm {
                phone: phone.clone(),
                item,
                balance,
                lend,
            };
        }
    }
}
