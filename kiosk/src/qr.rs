//! QR codes drawn with egui's painter (black modules on white, with a
//! quiet zone), for the link to the server's mobile request page.

use egui::{Color32, Rect, Sense, Vec2};
use qrcode::{Color, QrCode};

/// Draw `data` as a QR code `size` points wide; returns false if it
/// cannot be encoded.
pub fn show(ui: &mut egui::Ui, data: &str, size: f32) -> bool {
    let Ok(code) = QrCode::new(data.as_bytes()) else {
        return false;
    };
    let n = code.width();
    let quiet = 4;
    let cells = (n + 2 * quiet) as f32;
    let (rect, _) = ui.allocate_exact_size(Vec2::splat(size), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, Color32::WHITE);
    let cell = size / cells;
    let colors = code.to_colors();
    for y in 0..n {
        for x in 0..n {
            if colors[y * n + x] == Color::Dark {
                let min =
                    rect.min + Vec2::new((x + quiet) as f32 * cell, (y + quiet) as f32 * cell);
                painter.rect_filled(
                    Rect::from_min_size(min, Vec2::splat(cell.ceil())),
                    0.0,
                    Color32::BLACK,
                );
            }
        }
    }
    true
}
