//! # linli-kiosk
//!
//! The touchscreen kiosk in the hall, as a library: [`app::KioskApp`] is
//! the egui app, driven in tests by `egui_kittest` and in production by
//! the thin `main.rs`. A worker thread owns the [`linli_core::KioskNode`];
//! the UI only sends commands and reads events.
//!
//! # Layout
//! - [`app`]: screens and what they show.
//! - [`worker`]: the thread that owns the node (commands in, events out).
//! - [`i18n`]: the string catalogues (Chinese, English).
//! - [`fonts`]: the embedded CJK font.
//! - [`pin`]: the staff PIN (salted hash, lockout).
//! - [`qr`]: QR codes for the mobile request page.
//! - [`speech`]: spoken prompts through espeak-ng (a staff setting).

pub mod app;
pub mod fonts;
pub mod i18n;
pub mod pin;
pub mod qr;
pub mod speech;
pub mod worker;
