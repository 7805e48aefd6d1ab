//! The kiosk's building blocks: colours with contrast ≥ 4.5:1 on the
//! paper background, big buttons, the numeric keypad, chips, smiley faces
//! and the status strip. Every interactive piece is at least [`TARGET`]
//! high and carries its text as its accessible label.

use egui::{Button, Color32, Pos2, Response, RichText, Sense, Stroke, Vec2, WidgetInfo};

use crate::i18n::{Key, Lang};

/// Smallest touch target, px.
pub const TARGET: f32 = 72.0;
/// Body text size, pt.
pub const BODY: f32 = 24.0;
/// Headline size, pt.
pub const TITLE: f32 = 32.0;

/// Text colour (contrast 16:1 on [`PAPER`]).
pub const INK: Color32 = Color32::from_rgb(0x1a, 0x1a, 0x1a);
/// Background.
pub const PAPER: Color32 = Color32::from_rgb(0xfb, 0xf8, 0xf1);
/// Primary actions: white text on it has contrast 8.6:1.
pub const PRIMARY: Color32 = Color32::from_rgb(0x9e, 0x1b, 0x1b);
/// Success (white on it 7.9:1; as text on paper 7.4:1).
pub const OK_GREEN: Color32 = Color32::from_rgb(0x1b, 0x5e, 0x20);
/// Warnings as text on paper (5.9:1).
pub const WARN: Color32 = Color32::from_rgb(0x8a, 0x4b, 0x00);
/// Secondary buttons.
pub const SECONDARY: Color32 = Color32::from_rgb(0xe4, 0xdf, 0xd3);

/// A full-colour action button.
pub fn primary(ui: &mut egui::Ui, text: &str, width: f32) -> Response {
    ui.add(
        Button::new(RichText::new(text).size(BODY + 4.0).color(Color32::WHITE))
            .fill(PRIMARY)
            .min_size(egui::Vec2::new(width, TARGET)),
    )
}

/// A plain button.
pub fn plain(ui: &mut egui::Ui, text: &str, width: f32) -> Response {
    ui.add(
        Button::new(RichText::new(text).size(BODY).color(INK))
            .fill(SECONDARY)
            .min_size(egui::Vec2::new(width, TARGET)),
    )
}

/// A large two-line tile (an item of the 爱心超市: its name, then what
/// it costs and how many are left); greyed and inert when not `enabled`.
pub fn tile(ui: &mut egui::Ui, name: &str, detail: &str, enabled: bool) -> Response {
    let (fill, color) = if enabled {
        (OK_GREEN, Color32::WHITE)
    } else {
        (SECONDARY, INK)
    };
    ui.add_enabled(
        enabled,
        Button::new(
            RichText::new(format!("{name}\n{detail}"))
                .size(BODY + 2.0)
                .color(color),
        )
        .fill(fill)
        .min_size(Vec2::new(290.0, 1.4 * TARGET)),
    )
}

/// A toggle chip; the tick shows the state in shape, not colour alone.
pub fn chip(ui: &mut egui::Ui, text: &str, on: bool) -> Response {
    let label = if on {
        format!("✓ {text}")
    } else {
        text.to_string()
    };
    let fill = if on { OK_GREEN } else { SECONDARY };
    let color = if on { Color32::WHITE } else { INK };
    ui.add(
        Button::new(RichText::new(label).size(BODY).color(color))
            .fill(fill)
            .min_size(Vec2::new(0.0, TARGET)),
    )
}

/// The numeric keypad: appends to `digits` up to `max`. Returns true when
/// anything changed.
pub fn keypad(ui: &mut egui::Ui, lang: Lang, digits: &mut String, max: usize) -> bool {
    let before = digits.clone();
    let w = 150.0;
    for row in [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"]] {
        ui.horizontal(|ui| {
            for d in row {
                if ui
                    .add(
                        Button::new(RichText::new(d).size(36.0))
                            .min_size(egui::Vec2::new(w, TARGET)),
                    )
                    .clicked()
                    && digits.len() < max
                {
                    digits.push_str(d);
                }
            }
        });
    }
    ui.horizontal(|ui| {
        if plain(ui, lang.t(Key::Clear), w).clicked() {
            digits.clear();
        }
        if ui
            .add(Button::new(RichText::new("0").size(36.0)).min_size(egui::Vec2::new(w, TARGET)))
            .clicked()
            && digits.len() < max
        {
            digits.push('0');
        }
        if plain(ui, lang.t(Key::Delete), w).clicked() {
            digits.pop();
        }
    });
    *digits != before
}

/// A smiley face for score 1–5, drawn (no emoji font needed), labelled.
pub fn face(ui: &mut egui::Ui, score: u32, label: &str) -> Response {
    let size = Vec2::new(150.0, 170.0);
    let (rect, resp) = ui.allocate_exact_size(size, Sense::click());
    resp.widget_info(|| WidgetInfo::labeled(egui::Role::Button, true, label));
    let p = ui.painter_at(rect);
    let center = Pos2::new(rect.center().x, rect.top() + 65.0);
    let fill = if resp.hovered() {
        SECONDARY
    } else {
        Color32::from_rgb(0xff, 0xe0, 0x82)
    };
    p.circle(center, 58.0, fill, Stroke::new(3.0, INK));
    p.circle_filled(center + Vec2::new(-20.0, -15.0), 6.0, INK);
    p.circle_filled(center + Vec2::new(20.0, -15.0), 6.0, INK);
    // Mouth: from a frown (1) to a broad smile (5).
    let curve = (score as f32 - 3.0) * 9.0;
    let left = center + Vec2::new(-26.0, 22.0);
    let right = center + Vec2::new(26.0, 22.0);
    let mid = center + Vec2::new(0.0, 22.0 + curve);
    let points: Vec<Pos2> = (0..=12)
        .map(|i| {
            let t = i as f32 / 12.0;
            let a = left.lerp(mid, t);
            let b = mid.lerp(right, t);
            a.lerp(b, t)
        })
        .collect();
    p.add(egui::Shape::line(points, Stroke::new(4.0, INK)));
    p.text(
        Pos2::new(rect.center().x, rect.bottom() - 18.0),
        egui::Align2::CENTER_CENTER,
        label,
        egui::FontId::proportional(BODY - 2.0),
        INK,
    );
    resp
}
