//! The projection's rows as the JSON API shows them: residents' contacts
//! opened and masked here, never stored in the clear.

use serde::Serialize;

use linli_sync_engine::{
    projection_tables::{StoredCheckin, StoredRequest},
    residents::ServerResidents,
};

/// A projected check-in as the API shows it (masked phone only, from the
/// sealed contact the server opens).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckinRow {
    /// Record id.
    pub id: String,
    /// Kiosk.
    pub kiosk_id: String,
    /// Hall-local date.
    pub date: String,
    /// `activity`, or `walk_in` for a walk-in visit for a service.
    pub kind: &'static str,
    /// Activity (empty for a walk-in).
    pub activity_id: String,
    /// For a walk-in, the service's id (see `GET /api/v1/halls/{hall}/services`).
    pub service: Option<String>,
    /// Masked phone, for named check-ins.
    pub phone_masked: Option<String>,
    /// Short name, if given.
    pub name: Option<String>,
    /// People counted without names.
    pub headcount: u32,
    /// Companions.
    pub companions: u32,
    /// Kiosk clock, ms.
    pub kiosk_at_ms: i64,
    /// Server receive time, ms.
    pub received_ms: i64,
    /// Kiosk clock was ahead of the server's.
    pub clock_skew: bool,
}

/// Check-ins as the API shows them: the resident's masked number and
/// name opened from their sealed contact.
pub fn checkin_rows(residents: &ServerResidents, stored: Vec<StoredCheckin>) -> Vec<CheckinRow> {
    stored
        .into_iter()
        .map(|c| {
            let shown = residents.shown(c.pseudonym.as_deref(), c.sealed.as_deref());
            CheckinRow {
                id: c.id,
                kiosk_id: c.kiosk_id,
                date: c.date,
                kind: if c.service.is_some() {
                    "walk_in"
                } else {
                    "activity"
                },
                activity_id: c.activity_id,
                service: c.service,
                phone_masked: shown.masked,
                name: shown.name,
                headcount: c.headcount,
                companions: c.companions,
                kiosk_at_ms: c.kiosk_at_ms,
                received_ms: c.received_ms,
                clock_skew: c.clock_skew,
            }
        })
        .collect()
}

/// A projected request as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestRow {
    /// Record id.
    pub id: String,
    /// Reference given to the resident.
    pub reference: String,
    /// Kiosk.
    pub kiosk_id: String,
    /// Category code.
    pub category: String,
    /// Text.
    pub text: String,
    /// Masked phone, if given.
    pub phone_masked: Option<String>,
    /// Callback wanted.
    pub callback_consent: bool,
    /// Status code.
    pub status: String,
    /// Staff reply.
    pub reply: Option<String>,
    /// Kiosk clock, ms.
    pub kiosk_at_ms: i64,
    /// Server receive time, ms.
    pub received_ms: i64,
}

/// Requests as the API shows them (the masked number only).
pub fn request_rows(residents: &ServerResidents, stored: Vec<StoredRequest>) -> Vec<RequestRow> {
    stored
        .into_iter()
        .map(|r| RequestRow {
            phone_masked: residents
                .shown(r.pseudonym.as_deref(), r.sealed.as_deref())
                .masked,
            id: r.id,
            reference: r.reference,
            kiosk_id: r.kiosk_id,
            category: r.category,
            text: r.text,
            callback_consent: r.callback_consent,
            status: r.status,
            reply: r.reply,
            kiosk_at_ms: r.kiosk_at_ms,
            received_ms: r.received_ms,
        })
        .collect()
}
