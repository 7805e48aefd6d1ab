//! The embedded font: a GB2312 subset of Noto Sans CJK SC (SIL OFL 1.1,
//! licence in `assets/OFL.txt`), so every kiosk renders Chinese the same
//! with no system fonts.

use std::sync::Arc;

/// The font file.
pub const NOTO_SANS_SC: &[u8] = include_bytes!("../assets/NotoSansSC-Regular-GB2312.otf");

/// Put the CJK font first for proportional and monospace text, keeping
/// egui's own fonts behind it for symbols and emoji.
pub fn install(ctx: &egui::Context) {
    let mut fonts = egui::FontDefinitions::default();
    fonts.font_data.insert(
        "noto-sans-sc".to_owned(),
        Arc::new(egui::FontData::from_static(NOTO_SANS_SC)),
    );
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        fonts
            .families
            .entry(family)
            .or_default()
            .insert(0, "noto-sans-sc".to_owned());
    }
    ctx.set_fonts(fonts);
}
