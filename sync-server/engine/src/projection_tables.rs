//! The projection's tables behind one interface, [`ProjectionTables`]:
//! what projecting a batch of documents writes (records, quarantine,
//! where each document was projected to, the daily roll-ups that keep
//! themselves), the answers staff give to requests, and the reads the API
//! and the console's statistics make of them.
//!
//! Two stores implement it, as they do [`crate::tables::ServerTables`]:
//! the SQLite file (below, for [`Db`]) and PostgreSQL
//! (`linli-store-postgres`). What goes in is decided before either sees
//! it: [`crate::projection::assess`] judges a document's changes from the
//! document alone, and a store only writes that judgement, checking one
//! thing only it can (whether a request's answer found in a kiosk's book
//! is one the server gave, [`DocumentWrite::quarantine`]). One contract,
//! run against both by their tests (`linli_test_kit::projection`), says
//! how every call answers.
//!
//! A batch is written in one transaction, so that under connected load one
//! commit carries a change from each of many kiosks; when it fails, each
//! document is written again in its own, so one that cannot be written (an
//! absurd record, a full disk) holds up none other.

use async_trait::async_trait;
use linli_core::model::RequestReply;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use std::collections::BTreeSet;

use automerge::ChangeHash;
use linli_core::{
    docs::Header,
    model::{CheckIn, Rating, Request, ShiftEvent},
};

use crate::{
    Error, Result,
    db::{Db, DocOwner},
};

/// A record kiosk clocks may be ahead of the server by before it is flagged.
pub const CLOCK_SKEW_MS: i64 = 10 * 60 * 1000;

/// A record that goes into the tables, by its id: a kiosk's check-in,
/// rating or shift event, or a request (with the answer found beside it
/// in the kiosk's book, which the store checks against those it gave).
#[derive(Debug)]
pub enum Row {
    /// A check-in.
    CheckIn(String, CheckIn),
    /// A rating.
    Rating(String, Rating),
    /// A volunteer's shift event.
    Shift(String, ShiftEvent),
    /// A request, and the answer the kiosk's book holds for it.
    Request(String, Request, Option<RequestReply>),
    /// A redemption at the hall's 爱心超市 (a kiosk store's spend).
    Redemption(String, Redeemed),
}

/// A redemption as the projection keeps it: read from a kiosk store's
/// spends document (`linli_core::docs::points`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redeemed {
    /// The kiosk store that took it.
    pub spender: String,
    /// Its kiosk (the spender id's first part).
    pub kiosk_id: String,
    /// The volunteer's pseudonym, if the spend debited points.
    pub volunteer: Option<String>,
    /// The catalogue item.
    pub item: String,
    /// Points spent, lent ones included.
    pub points: u64,
    /// Of them, what the kiosk lent beyond its rights (赊兑).
    pub owed: u64,
    /// When, on the kiosk's clock (ms).
    pub at_ms: i64,
}

impl Redeemed {
    /// The row of spend `s` of store `spender`: its points part names the
    /// volunteer, its stock part the item.
    pub fn of(spender: &str, s: &linli_core::docs::points::Spend) -> Self {
        let mut r = Redeemed {
            spender: spender.to_string(),
            kiosk_id: spender
                .rsplit_once('.')
                .map_or(spender, |(kiosk, _)| kiosk)
                .to_string(),
            volunteer: None,
            item: s.purpose.clone(),
            points: 0,
            owed: 0,
            at_ms: s.at_ms,
        };
        // An erased volunteer's points are no one's.
        let volunteer = |account: &str| {
            account
                .strip_prefix("points:")
                .filter(|p| *p != linli_core::model::ResidentRef::ERASED)
                .map(str::to_string)
        };
        for p in &s.parts {
            if p.account.starts_with("points:") {
                r.volunteer = volunteer(&p.account);
                r.points += p.amount;
            } else if let Some(item) = p.account.strip_prefix("stock:") {
                r.item = item.to_string();
            }
        }
        if let Some(owed) = &s.owed
            && owed.account.starts_with("points:")
        {
            r.volunteer = volunteer(&owed.account);
            r.points += owed.amount;
            r.owed = owed.amount;
        }
        r
    }
}

/// A redemption as stored (the console's lists and the exports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRedemption {
    /// Record id (its short reference is on the receipt).
    pub record_id: String,
    /// The kiosk.
    pub kiosk_id: String,
    /// The volunteer's pseudonym (none once erased).
    pub pseudonym: Option<String>,
    /// The item.
    pub item: String,
    /// Points spent, lent ones included.
    pub points: i64,
    /// Of them, what the kiosk lent beyond its rights (赊兑).
    pub owed: i64,
    /// When, on the kiosk's clock (ms).
    pub kiosk_at_ms: i64,
}

impl Row {
    /// The kiosk the record names.
    pub fn kiosk_id(&self) -> &str {
        match self {
            Row::CheckIn(_, c) => &c.kiosk_id,
            Row::Rating(_, r) => &r.kiosk_id,
            Row::Shift(_, s) => &s.kiosk_id,
            Row::Request(_, r, _) => &r.kiosk_id,
            Row::Redemption(_, r) => &r.kiosk_id,
        }
    }
    /// The record's id.
    pub fn id(&self) -> &str {
        match self {
            Row::CheckIn(id, _)
            | Row::Rating(id, _)
            | Row::Shift(id, _)
            | Row::Request(id, _, _)
            | Row::Redemption(id, _) => id,
        }
    }
}

/// What projecting one document did.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Projected {
    /// Records written (new or changed).
    pub records: usize,
    /// Records quarantined.
    pub quarantined: usize,
    /// Pseudonyms of erased residents whose records just arrived late
    /// (see `erasure_watch::ERASURE_WATCH_DAYS`): to be erased in turn. Never
    /// serialized.
    #[serde(skip)]
    pub late_erasures: Vec<String>,
}

/// What a document delivered by one kiosk puts into the tables: the rows
/// that fit, and what is quarantined with the reason. Decided from the
/// document alone, so it is tested (and fuzzed) without a server.
#[derive(Debug)]
pub struct Assessment {
    /// The records that go into the tables.
    pub rows: Vec<Row>,
    /// Quarantined: the record (`map/key`, a record id, or empty for the
    /// whole document) and why.
    pub quarantine: Vec<(String, String)>,
    /// The heads and header to remember; `None` when the header could not
    /// be read (the document is looked at again on its next change).
    pub state: Option<(Vec<ChangeHash>, Header)>,
}

impl Assessment {
    /// Ids of the records that go into the tables.
    pub fn record_ids(&self) -> impl Iterator<Item = &str> {
        self.rows.iter().map(Row::id)
    }

    /// The distinct pseudonyms of residents those records name.
    pub fn pseudonyms(&self) -> BTreeSet<String> {
        let redeemed = self.rows.iter().filter_map(|r| match r {
            Row::Redemption(_, r) => r.volunteer.clone(),
            _ => None,
        });
        self.rows
            .iter()
            .filter_map(|r| match r {
                Row::CheckIn(_, c) => c.resident.as_ref(),
                Row::Shift(_, s) => Some(&s.volunteer),
                Row::Request(_, q, _) => q.resident.as_ref(),
                Row::Rating(..) | Row::Redemption(..) => None,
            })
            .filter(|r| !r.is_erased())
            .map(|r| r.pseudonym.clone())
            .chain(redeemed)
            .collect()
    }
}

/// Heads as stored (comma-separated hashes).
pub fn heads_to_text(heads: &[ChangeHash]) -> String {
    heads
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Where a document stands before it is projected.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Standing {
    /// Who owns it; `None` for a document the server never claimed.
    pub owner: Option<DocOwner>,
    /// The heads it was last projected at (comma-separated), if ever.
    pub projected_heads: Option<String>,
}

/// One document's changes, judged and waiting to be written.
#[derive(Debug)]
pub struct DocumentWrite {
    /// Document id.
    pub doc: String,
    /// The hall that owns it.
    pub hall: String,
    /// The kiosk that delivered it.
    pub kiosk: String,
    /// What goes in, and what is quarantined.
    pub assessment: Assessment,
    /// The residents its records name, with their erasure-watch tags.
    pub tagged: Vec<(String, String)>,
}

/// Why an answer found in a kiosk's request book is not taken.
pub const FORGED_ANSWER: &str =
    "the kiosk wrote a status or reply, which only the server writes; ignored";

impl DocumentWrite {
    /// What is quarantined, once `given` has said of each answer found in
    /// the kiosk's request book whether the server gave it: the
    /// assessment's own list, and a line per answer it never gave.
    pub fn quarantine(
        &self,
        mut given: impl FnMut(&str, &RequestReply) -> Result<bool>,
    ) -> Result<Vec<(String, String)>> {
        let mut out = self.assessment.quarantine.clone();
        if self.assessment.state.is_some() {
            for row in &self.assessment.rows {
                if let Row::Request(id, _, Some(reply)) = row
                    && !given(id, reply)?
                {
                    out.push((
                        format!("{}/{id}", linli_core::docs::requests::REQUESTS),
                        FORGED_ANSWER.into(),
                    ));
                }
            }
        }
        // PostgreSQL's text holds no NUL; a forged key may (it is only
        // ever shown, so the replacement character stands in for it).
        for (key, reason) in &mut out {
            for text in [key, reason] {
                if text.contains('\0') {
                    *text = text.replace('\0', "\u{FFFD}");
                }
            }
        }
        for (key, reason) in &out {
            let record = match key.rsplit_once('/') {
                Some((_, id)) if linli_core::ids::RecordId::parse(id).is_err() => {
                    "(not a record id)"
                }
                _ => key.as_str(),
            };
            tracing::warn!(doc = %self.doc, record, kiosk = %self.kiosk, reason, "quarantined");
        }
        Ok(out)
    }

    /// The answers found in the kiosk's request book, by request id.
    pub fn kiosk_answers(&self) -> impl Iterator<Item = (&str, &RequestReply)> {
        self.assessment.rows.iter().filter_map(|row| match row {
            Row::Request(id, _, Some(reply)) => Some((id.as_str(), reply)),
            _ => None,
        })
    }
}

/// A projected check-in as stored: the resident as a pseudonym and a
/// sealed contact (only the server's key opens it).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredCheckin {
    /// Record id.
    pub id: String,
    /// Kiosk.
    pub kiosk_id: String,
    /// Hall-local date.
    pub date: String,
    /// Activity (empty for a walk-in).
    pub activity_id: String,
    /// For a walk-in, the service's id.
    pub service: Option<String>,
    /// The resident's pseudonym, for named check-ins.
    pub pseudonym: Option<String>,
    /// Their sealed contact.
    pub sealed: Option<String>,
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

/// The counts of [`ProjectionTables::checkins`]: every check-in in the
/// range, not only those returned.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CheckinCounts {
    /// Check-ins.
    pub count: u64,
    /// Person-times of all of them.
    pub person_times: u64,
    /// Person-times of walk-in visits among them.
    pub walk_in_person_times: u64,
}

/// A projected request as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRequest {
    /// Record id.
    pub id: String,
    /// Its hall.
    pub hall_id: String,
    /// The staff member it is assigned to, if any.
    pub assignee: Option<String>,
    /// Reference given to the resident.
    pub reference: String,
    /// Kiosk.
    pub kiosk_id: String,
    /// Category code.
    pub category: String,
    /// Text.
    pub text: String,
    /// The resident's pseudonym, if given.
    pub pseudonym: Option<String>,
    /// Their sealed contact.
    pub sealed: Option<String>,
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

/// Which requests the console lists: one hall's, of a status and a
/// category if given, made (kiosk clock) at or before `made_until_ms`.
#[derive(Clone, Debug)]
pub struct RequestFilter {
    /// The hall.
    pub hall: String,
    /// Only this status.
    pub status: Option<String>,
    /// Only this category.
    pub category: Option<String>,
    /// Made at or before this, ms.
    pub made_until_ms: i64,
    /// Oldest first (exports); else newest first (the console's list).
    pub oldest_first: bool,
}

/// Where a page of requests ends: its last row's kiosk time and id. The
/// next page starts after it (keyset paging: no row twice or skipped,
/// whatever the page size, and no cursor held open between pages).
pub type RequestCursor = (i64, String);

/// Where a page of check-ins ends: its last row's date, kiosk time and id.
pub type CheckinCursor = (String, i64, String);

/// A volunteer's shift: signed in, and out if they have.
#[derive(Clone, Debug, PartialEq)]
pub struct ShiftSpan {
    /// The shift's id (its sign-in's).
    pub shift_id: String,
    /// The day it began, on the kiosk's (the hall's) clock: `2026-11-23`.
    pub date: String,
    /// The volunteer's pseudonym.
    pub pseudonym: String,
    /// Their sealed contact.
    pub sealed: Option<String>,
    /// Signed in, kiosk clock ms.
    pub signed_in_ms: i64,
    /// Signed out, if they have.
    pub signed_out_ms: Option<i64>,
    /// The activity it served, if the sign-in named one.
    pub activity_id: Option<String>,
}

/// A hall's day at a glance (the console's overview).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HallOverview {
    /// Check-ins today.
    pub checkins_today: i64,
    /// Person-times since the week's first day asked.
    pub person_times_week: i64,
    /// Person-times since the month's first day.
    pub person_times_month: i64,
    /// Requests not resolved.
    pub open_requests: i64,
}

/// How many records of each kind name one resident.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ResidentRecords {
    /// Check-ins.
    pub checkins: i64,
    /// Shift events.
    pub shifts: i64,
    /// Requests.
    pub requests: i64,
}

/// An erasure, done: what the tables keep of it.
#[derive(Clone, Debug)]
pub struct FinishedErasure {
    /// The resident's pseudonym (forgotten as a hall resident).
    pub pseudonym: String,
    /// Their erasure-watch tag.
    pub tag: String,
    /// The erasure's random id.
    pub erasure_id: String,
    /// Who asked.
    pub by: String,
    /// Records and documents it took.
    pub records: i64,
    /// Documents replaced.
    pub documents: i64,
    /// When, ms.
    pub at_ms: i64,
    /// Late records are erased as they arrive until then, ms.
    pub watch_until_ms: i64,
}

/// A quarantined document or record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuarantineRow {
    /// Document id.
    pub doc_id: String,
    /// Record (`map/key`), empty for the whole document.
    pub record_key: String,
    /// Delivering kiosk.
    pub kiosk_id: Option<String>,
    /// Why.
    pub reason: String,
    /// When, ms.
    pub at_ms: i64,
}

/// What one kiosk delivered since a moment (start of its hall's day).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KioskDay {
    /// Records (check-ins, ratings, shift events, requests) received.
    pub records: i64,
    /// Records refused into quarantine (sync errors).
    pub sync_errors: i64,
    /// The latest refusal's reason, if any.
    pub last_error: Option<String>,
}

/// A hall's figures over a range of days, from the daily roll-ups: what
/// the console's statistics are made of.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HallFigures {
    /// (date, roll-up key, person-times) for each day and activity (or
    /// `walk-in:` service) with any, by date and key.
    pub checkin_days: Vec<(String, String, i64)>,
    /// Check-ins that named a resident.
    pub named_visits: i64,
    /// Distinct residents who checked in (erased ones counted by erasure).
    pub residents: i64,
    /// (activity, ratings, sum of scores) for each activity rated, by activity.
    pub ratings: Vec<(String, i64, i64)>,
    /// Requests made in the window (kiosk clock).
    pub requests_received: i64,
    /// Of those, resolved.
    pub requests_resolved: i64,
    /// For each resolved one, ms from the request to its resolution.
    pub resolution_ms: Vec<i64>,
}

/// The projection's tables. See the module docs.
#[async_trait]
pub trait ProjectionTables: Send + Sync {
    /// Where each of `docs` stands, in order; one answer per document.
    async fn standings(&self, docs: &[String]) -> Result<Vec<Standing>>;

    /// Write `docs` (see the module docs for how a batch fails), received
    /// at `received_ms`; one result per document, by id. `Err` only when
    /// the store itself could not be reached.
    async fn write(
        &self,
        docs: Vec<DocumentWrite>,
        received_ms: i64,
    ) -> Result<Vec<(String, Result<Projected>)>>;

    /// Record an answer the server gives to request `record_id` (before it
    /// goes into the kiosk's book); the projection takes a request's
    /// status only from these.
    async fn record_answer(&self, record_id: &str, reply: &RequestReply) -> Result<()>;

    /// Empty every projected table (records, quarantine, roll-ups, what
    /// was projected), before a rebuild from the documents. The answers
    /// staff gave stay.
    async fn clear(&self) -> Result<()>;

    /// The request book that holds request `record_id` of `hall`.
    async fn request_doc(&self, hall: &str, record_id: &str) -> Result<Option<String>>;

    /// One request of `hall`.
    async fn request(&self, hall: &str, record_id: &str) -> Result<Option<StoredRequest>>;

    /// A page of at most `limit` requests matching `filter`, after
    /// `cursor` (the last row of the page before).
    async fn requests_page(
        &self,
        filter: &RequestFilter,
        cursor: Option<&RequestCursor>,
        limit: u32,
    ) -> Result<Vec<StoredRequest>>;

    /// Assign request `record_id` to `assignee` (replacing any).
    async fn assign_request(&self, record_id: &str, assignee: &str, at_ms: i64) -> Result<()>;

    /// A page of at most `limit` check-ins of `hall` between two dates
    /// (inclusive), by date, kiosk time and id, after `cursor`.
    async fn checkins_page(
        &self,
        hall: &str,
        from: &str,
        to: &str,
        cursor: Option<&CheckinCursor>,
        limit: u32,
    ) -> Result<Vec<StoredCheckin>>;

    /// Volunteers' shifts signed in at `hall` between two dates
    /// (inclusive), by sign-in time.
    async fn shift_spans(&self, hall: &str, from: &str, to: &str) -> Result<Vec<ShiftSpan>>;

    /// Redemptions at `hall` from `from_ms` to before `until_ms` (kiosk
    /// clock), oldest first.
    async fn redemptions(
        &self,
        hall: &str,
        from_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<StoredRedemption>>;

    /// `hall`'s check-ins on `today`, person-times since `week_from` and
    /// since `month_from` (dates), and its open requests.
    async fn hall_overview(
        &self,
        hall: &str,
        today: &str,
        week_from: &str,
        month_from: &str,
    ) -> Result<HallOverview>;

    /// Kiosk documents claimed but never projected (the server stopped in
    /// between), to project now.
    async fn unprojected_documents(&self) -> Result<Vec<String>>;

    /// How many records name resident `pseudonym`.
    async fn resident_records(&self, pseudonym: &str) -> Result<ResidentRecords>;
    /// (hall, document) of every record naming resident `pseudonym`, by
    /// hall and document.
    async fn resident_documents(&self, pseudonym: &str) -> Result<Vec<(String, String)>>;
    /// The distinct sealed contacts the records of `pseudonym` carry.
    async fn resident_contacts(&self, pseudonym: &str) -> Result<Vec<String>>;
    /// The erasure id of an erasure-watch tag still watched.
    async fn watched(&self, tag: &str) -> Result<Option<String>>;
    /// Keep the days `pseudonym` visited each hall, under `erasure_id` and
    /// pointing at no record (distinct-resident counts stay as they were).
    async fn keep_erased_visits(&self, pseudonym: &str, erasure_id: &str) -> Result<()>;
    /// Finish an erasure in one transaction: the resident is no hall's
    /// resident any more, the erasure is recorded (added to an earlier one
    /// of the same person), and their late records are watched for.
    async fn finish_erasure(&self, e: &FinishedErasure) -> Result<()>;
    /// Take a retired document's rows out of the projection.
    async fn forget_document(&self, doc: &str) -> Result<()>;

    /// Check-ins of `hall` between two dates (inclusive): the counts of
    /// all, and the first `limit` by kiosk time.
    async fn checkins(
        &self,
        hall: &str,
        from: &str,
        to: &str,
        limit: u32,
    ) -> Result<(CheckinCounts, Vec<StoredCheckin>)>;

    /// Requests of `hall`, newest first, of one status if given.
    async fn requests(&self, hall: &str, status: Option<&str>) -> Result<Vec<StoredRequest>>;

    /// Quarantine of `hall`, newest first.
    async fn quarantine(&self, hall: &str) -> Result<Vec<QuarantineRow>>;

    /// Records and sync errors of `kiosk` received since `since_ms`.
    async fn kiosk_day(&self, kiosk: &str, since_ms: i64) -> Result<KioskDay>;

    /// `hall`'s figures between two dates (inclusive), with requests taken
    /// from `window_ms` (the hall's first ms of `from` to its first ms
    /// after `to`).
    async fn hall_figures(
        &self,
        hall: &str,
        from: &str,
        to: &str,
        window_ms: (i64, i64),
    ) -> Result<HallFigures>;
}

/// The columns of a stored request, in [`StoredRequest`]'s order (both
/// stores select them so; each adds its own conditions).
pub const REQUEST_SELECT: &str =
    "SELECT r.record_id, r.hall_id, a.assignee, r.reference, r.kiosk_id,
        r.category, r.text, r.phone_hash, r.sealed, r.callback_consent, r.status, r.reply,
        r.kiosk_at_ms, r.received_ms
    FROM requests r LEFT JOIN request_assignments a ON a.record_id = r.record_id";

/// The columns of a stored check-in, in [`StoredCheckin`]'s order.
pub const CHECKIN_SELECT: &str =
    "SELECT record_id, kiosk_id, date, activity_id, phone_hash, sealed,
        headcount, companions, kiosk_at_ms, received_ms, clock_skew, service FROM checkins";

/// The columns of a stored redemption, in [`StoredRedemption`]'s order.
pub const REDEMPTION_SELECT: &str =
    "SELECT record_id, kiosk_id, phone_hash, item, points, kiosk_at_ms, owed FROM redemptions";

/// Volunteers' shifts: each sign-in with its sign-out, if any.
pub const SHIFT_SELECT: &str =
    "SELECT i.phone_hash, i.sealed, i.kiosk_at_ms, o.kiosk_at_ms, i.shift_id, i.date, i.activity_id FROM shift_events i
    LEFT JOIN shift_events o ON o.shift_id = i.shift_id AND o.action = 'sign_out'";

/// The tables whose rows belong to one document.
pub const PROJECTED_BY_DOCUMENT: [&str; 7] = [
    "checkins",
    "ratings",
    "shift_events",
    "requests",
    "redemptions",
    "quarantine",
    "projection_state",
];

/// (hall, document) of the records naming resident `$1`.
pub const RESIDENT_DOCUMENTS_SQL: &str =
    "SELECT hall_id, doc_id FROM checkins WHERE phone_hash = $1
    UNION SELECT hall_id, doc_id FROM shift_events WHERE phone_hash = $1
    UNION SELECT hall_id, doc_id FROM requests WHERE phone_hash = $1
    ORDER BY 1, 2";

/// The sealed contacts of the records naming resident `$1`.
pub const RESIDENT_CONTACTS_SQL: &str =
    "SELECT sealed FROM checkins WHERE phone_hash = $1 AND sealed IS NOT NULL
    UNION SELECT sealed FROM shift_events WHERE phone_hash = $1 AND sealed IS NOT NULL
    UNION SELECT sealed FROM requests WHERE phone_hash = $1 AND sealed IS NOT NULL";

/// The days resident `$1` visited each hall, kept under erasure `$2`.
pub const KEEP_ERASED_VISITS_SQL: &str = "INSERT INTO erased_visits (erasure_id, hall_id, date)
    SELECT DISTINCT CAST($2 AS TEXT), hall_id, date FROM checkins WHERE phone_hash = $1
    ON CONFLICT DO NOTHING";

/// The request's short reference given to the resident.
pub fn request_reference(record_id: &str) -> String {
    linli_core::ids::RecordId::parse(record_id)
        .map(|i| i.short_reference())
        .unwrap_or_default()
}

// ---- SQLite ----------------------------------------------------------

#[async_trait]
impl ProjectionTables for Db {
    async fn standings(&self, docs: &[String]) -> Result<Vec<Standing>> {
        let docs = docs.to_vec();
        self.run(move |c| docs.iter().map(|d| read_standing(c, d)).collect())
            .await
    }

    async fn write(
        &self,
        docs: Vec<DocumentWrite>,
        received_ms: i64,
    ) -> Result<Vec<(String, Result<Projected>)>> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        self.run(move |c| Ok(write_batch(c, &docs, received_ms)))
            .await
    }

    async fn record_answer(&self, record_id: &str, reply: &RequestReply) -> Result<()> {
        let (id, reply) = (record_id.to_string(), reply.clone());
        self.run(move |c| record_answer(c, &id, &reply)).await
    }

    async fn clear(&self) -> Result<()> {
        self.run(|c| {
            c.execute_batch(
                "BEGIN; DELETE FROM checkins; DELETE FROM ratings; DELETE FROM shift_events; DELETE FROM requests;
                 DELETE FROM redemptions;
                 DELETE FROM quarantine; DELETE FROM projection_state;
                 DELETE FROM checkin_days; DELETE FROM rating_days; DELETE FROM hall_residents; COMMIT;",
            )
            .map_err(|e| Error::db("clearing the projection", e))
        })
        .await
    }

    async fn request_doc(&self, hall: &str, record_id: &str) -> Result<Option<String>> {
        let (hall, record_id) = (hall.to_string(), record_id.to_string());
        self.run(move |c| {
            c.query_row(
                "SELECT doc_id FROM requests WHERE hall_id = ?1 AND record_id = ?2",
                [&hall, &record_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| Error::db("finding a request", e))
        })
        .await
    }

    async fn request(&self, hall: &str, record_id: &str) -> Result<Option<StoredRequest>> {
        let (hall, id) = (hall.to_string(), record_id.to_string());
        self.run(move |c| {
            c.prepare_cached(&format!(
                "{REQUEST_SELECT} WHERE r.hall_id = ?1 AND r.record_id = ?2"
            ))
            .and_then(|mut st| st.query_row([&hall, &id], request_from_sqlite).optional())
            .map_err(|e| Error::db("reading a request", e))
        })
        .await
    }

    async fn requests_page(
        &self,
        filter: &RequestFilter,
        cursor: Option<&RequestCursor>,
        limit: u32,
    ) -> Result<Vec<StoredRequest>> {
        let (f, cursor) = (filter.clone(), cursor.cloned());
        self.run(move |c| sqlite_requests_page(c, &f, cursor.as_ref(), limit))
            .await
    }

    async fn assign_request(&self, record_id: &str, assignee: &str, at_ms: i64) -> Result<()> {
        let (id, who) = (record_id.to_string(), assignee.to_string());
        self.run(move |c| {
            c.execute(
                "INSERT INTO request_assignments (record_id, assignee, at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (record_id) DO UPDATE SET assignee = excluded.assignee, at_ms = excluded.at_ms",
                params![id, who, at_ms],
            )
            .map(|_| ())
            .map_err(|e| Error::db("assigning a request", e))
        })
        .await
    }

    async fn checkins_page(
        &self,
        hall: &str,
        from: &str,
        to: &str,
        cursor: Option<&CheckinCursor>,
        limit: u32,
    ) -> Result<Vec<StoredCheckin>> {
        let (hall, from, to, cursor) = (
            hall.to_string(),
            from.to_string(),
            to.to_string(),
            cursor.cloned(),
        );
        self.run(move |c| sqlite_checkins_page(c, &hall, (&from, &to), cursor.as_ref(), limit))
            .await
    }

    async fn shift_spans(&self, hall: &str, from: &str, to: &str) -> Result<Vec<ShiftSpan>> {
        let (hall, from, to) = (hall.to_string(), from.to_string(), to.to_string());
        self.run(move |c| {
            c.prepare_cached(&format!(
                "{SHIFT_SELECT} WHERE i.action = 'sign_in' AND i.hall_id = ?1 AND i.date BETWEEN ?2 AND ?3
                 ORDER BY i.kiosk_at_ms, i.record_id"
            ))
            .and_then(|mut st| {
                st.query_map(params![hall, from, to], |r| {
                    Ok(ShiftSpan {
                        pseudonym: r.get(0)?,
                        sealed: r.get(1)?,
                        signed_in_ms: r.get(2)?,
                        signed_out_ms: r.get(3)?,
                        shift_id: r.get(4)?,
                        date: r.get(5)?,
                        activity_id: r.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| Error::db("reading volunteers' shifts", e))
        })
        .await
    }

    async fn redemptions(
        &self,
        hall: &str,
        from_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<StoredRedemption>> {
        let hall = hall.to_string();
        self.run(move |c| {
            c.prepare_cached(&format!(
                "{REDEMPTION_SELECT} WHERE hall_id = ?1 AND kiosk_at_ms >= ?2 AND kiosk_at_ms < ?3
                 ORDER BY kiosk_at_ms, record_id"
            ))
            .and_then(|mut st| {
                st.query_map(params![hall, from_ms, until_ms], |r| {
                    Ok(StoredRedemption {
                        record_id: r.get(0)?,
                        kiosk_id: r.get(1)?,
                        pseudonym: r.get(2)?,
                        item: r.get(3)?,
                        points: r.get(4)?,
                        kiosk_at_ms: r.get(5)?,
                        owed: r.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| Error::db("reading redemptions", e))
        })
        .await
    }

    async fn hall_overview(
        &self,
        hall: &str,
        today: &str,
        week_from: &str,
        month_from: &str,
    ) -> Result<HallOverview> {
        let args = [hall, today, week_from, month_from].map(str::to_string);
        self.run(move |c| {
            c.query_row(
                OVERVIEW_SQL,
                rusqlite::named_params! {
                    "$1": args[0], "$2": args[1], "$3": args[2], "$4": args[3]
                },
                |r| {
                    Ok(HallOverview {
                        checkins_today: r.get(0)?,
                        person_times_week: r.get(1)?,
                        person_times_month: r.get(2)?,
                        open_requests: r.get(3)?,
                    })
                },
            )
            .map_err(|e| Error::db("overview", e))
        })
        .await
    }

    async fn unprojected_documents(&self) -> Result<Vec<String>> {
        self.run(|c| {
            c.prepare(UNPROJECTED_SQL)
                .and_then(|mut st| {
                    st.query_map([], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(|e| Error::db("finding unprojected documents", e))
        })
        .await
    }

    async fn resident_records(&self, pseudonym: &str) -> Result<ResidentRecords> {
        let p = pseudonym.to_string();
        self.run(move |c| {
            let count = |table: &str| -> Result<i64> {
                c.query_row(
                    &format!("SELECT count(*) FROM {table} WHERE phone_hash = ?1"),
                    [&p],
                    |r| r.get(0),
                )
                .map_err(|e| Error::db("counting a resident's records", e))
            };
            Ok(ResidentRecords {
                checkins: count("checkins")?,
                shifts: count("shift_events")?,
                requests: count("requests")?,
            })
        })
        .await
    }

    async fn resident_documents(&self, pseudonym: &str) -> Result<Vec<(String, String)>> {
        let p = pseudonym.to_string();
        self.run(move |c| {
            c.prepare(RESIDENT_DOCUMENTS_SQL)
                .and_then(|mut st| {
                    st.query_map([&p], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(|e| Error::db("finding a resident's documents", e))
        })
        .await
    }

    async fn resident_contacts(&self, pseudonym: &str) -> Result<Vec<String>> {
        let p = pseudonym.to_string();
        self.run(move |c| {
            c.prepare(RESIDENT_CONTACTS_SQL)
                .and_then(|mut st| {
                    st.query_map([&p], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(|e| Error::db("reading a resident's contacts", e))
        })
        .await
    }

    async fn watched(&self, tag: &str) -> Result<Option<String>> {
        let t = tag.to_string();
        self.run(move |c| crate::erasure_watch::watched(c, &t))
            .await
    }

    async fn keep_erased_visits(&self, pseudonym: &str, erasure_id: &str) -> Result<()> {
        let (p, e) = (pseudonym.to_string(), erasure_id.to_string());
        self.run(move |c| {
            // By name: SQLite numbers `$n` parameters in order of first
            // appearance, and `$2` comes first here.
            c.execute(
                KEEP_ERASED_VISITS_SQL,
                rusqlite::named_params! {"$1": p, "$2": e},
            )
            .map(|_| ())
            .map_err(|e| Error::db("keeping an erased resident's visit days", e))
        })
        .await
    }

    async fn finish_erasure(&self, e: &FinishedErasure) -> Result<()> {
        let e = e.clone();
        self.run(move |c| {
            let err = |x| Error::db("finishing an erasure", x);
            let tx = c.transaction().map_err(err)?;
            tx.execute("DELETE FROM hall_residents WHERE phone_hash = ?1", [&e.pseudonym])
                .map_err(err)?;
            // What they redeemed stays counted, no longer theirs.
            tx.execute(
                "UPDATE redemptions SET phone_hash = NULL WHERE phone_hash = ?1",
                [&e.pseudonym],
            )
            .map_err(err)?;
            tx.execute(
                "INSERT INTO erasures (id, by_user, at_ms, records, documents) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET records = records + excluded.records,
                     documents = documents + excluded.documents",
                params![e.erasure_id, e.by, e.at_ms, e.records, e.documents],
            )
            .map_err(err)?;
            tx.execute(
                "INSERT INTO erasure_watch (tag, erasure_id, until_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tag) DO NOTHING",
                params![e.tag, e.erasure_id, e.watch_until_ms],
            )
            .map_err(err)?;
            tx.commit().map_err(err)?;
            linli_core::sqlite::checkpoint(c).map_err(Error::from)
        })
        .await
    }

    async fn forget_document(&self, doc: &str) -> Result<()> {
        let d = doc.to_string();
        self.run(move |c| {
            let err = |e| Error::db("forgetting a retired document", e);
            let tx = c.transaction().map_err(err)?;
            for table in PROJECTED_BY_DOCUMENT {
                tx.execute(&format!("DELETE FROM {table} WHERE doc_id = ?1"), [&d])
                    .map_err(err)?;
            }
            tx.commit().map_err(err)
        })
        .await
    }

    async fn checkins(
        &self,
        hall: &str,
        from: &str,
        to: &str,
        limit: u32,
    ) -> Result<(CheckinCounts, Vec<StoredCheckin>)> {
        let (hall, from, to) = (hall.to_string(), from.to_string(), to.to_string());
        self.run(move |c| sqlite_checkins(c, &hall, &from, &to, limit))
            .await
    }

    async fn requests(&self, hall: &str, status: Option<&str>) -> Result<Vec<StoredRequest>> {
        let (hall, status) = (hall.to_string(), status.map(str::to_string));
        self.run(move |c| sqlite_requests(c, &hall, status.as_deref()))
            .await
    }

    async fn quarantine(&self, hall: &str) -> Result<Vec<QuarantineRow>> {
        let hall = hall.to_string();
        self.run(move |c| sqlite_quarantine(c, &hall)).await
    }

    async fn kiosk_day(&self, kiosk: &str, since_ms: i64) -> Result<KioskDay> {
        let kiosk = kiosk.to_string();
        self.run(move |c| sqlite_kiosk_day(c, &kiosk, since_ms))
            .await
    }

    async fn hall_figures(
        &self,
        hall: &str,
        from: &str,
        to: &str,
        window_ms: (i64, i64),
    ) -> Result<HallFigures> {
        let (hall, from, to) = (hall.to_string(), from.to_string(), to.to_string());
        self.run(move |c| sqlite_hall_figures(c, &hall, &from, &to, window_ms))
            .await
    }
}

fn read_standing(c: &rusqlite::Connection, doc: &str) -> Result<Standing> {
    let owner = crate::db::doc_owner(c, doc)?;
    let projected_heads: Option<String> = c
        .prepare_cached("SELECT heads FROM projection_state WHERE doc_id = ?1")
        .and_then(|mut st| st.query_row([doc], |r| r.get(0)).optional())
        .map_err(|e| Error::db("reading projection state", e))?;
    Ok(Standing {
        owner,
        projected_heads,
    })
}

/// Write `docs` in one transaction, or when that fails each in its own.
pub fn write_batch(
    c: &mut rusqlite::Connection,
    docs: &[DocumentWrite],
    received: i64,
) -> Vec<(String, Result<Projected>)> {
    let ids = docs.iter().map(|p| p.doc.clone());
    match write_together(c, docs, received) {
        Ok(written) => ids.zip(written.into_iter().map(Ok)).collect(),
        Err(e) if docs.len() == 1 => ids.zip([Err(e)]).collect(),
        Err(_) => docs
            .iter()
            .map(|p| {
                let one = write_together(c, std::slice::from_ref(p), received)
                    .map(|mut w| w.pop().unwrap_or_default());
                (p.doc.clone(), one)
            })
            .collect(),
    }
}

/// Write every one of `docs` in one transaction, or none.
fn write_together(
    c: &mut rusqlite::Connection,
    docs: &[DocumentWrite],
    received: i64,
) -> Result<Vec<Projected>> {
    let tx = c
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| Error::db("projecting", e))?;
    let mut written = Vec::with_capacity(docs.len());
    for p in docs {
        let mut out = store(&tx, p, received)?;
        if out.records > 0 && crate::erasure_watch::watching(&tx)? {
            out.late_erasures = crate::erasure_watch::late_arrivals(&tx, &p.tagged)?;
        }
        written.push(out);
    }
    tx.commit().map_err(|e| Error::db("projecting", e))?;
    Ok(written)
}

/// Write one document's judgement inside `tx` (the seeds of the tests
/// and benchmarks write through here too).
pub fn store(
    tx: &rusqlite::Transaction<'_>,
    p: &DocumentWrite,
    received: i64,
) -> Result<Projected> {
    let mut out = Projected::default();
    let quarantine = p.quarantine(|id, reply| answer_was_given(tx, id, reply))?;
    for (key, reason) in &quarantine {
        tx.execute(
            "INSERT INTO quarantine (doc_id, record_key, hall_id, kiosk_id, reason, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (doc_id, record_key) DO UPDATE SET reason = excluded.reason, at_ms = excluded.at_ms",
            params![p.doc, key, p.hall, p.kiosk, reason, received],
        )
        .map_err(|e| Error::db("quarantining", e))?;
        out.quarantined += 1;
    }
    let Some((heads, header)) = &p.assessment.state else {
        return Ok(out);
    };
    let period = header.period.clone().unwrap_or_default();
    for row in &p.assessment.rows {
        write_row(tx, row, p, &period, received)?;
        out.records += 1;
    }
    tx.execute(
        "INSERT INTO projection_state (doc_id, kind, period, heads, projected_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (doc_id) DO UPDATE SET kind = excluded.kind, period = excluded.period,
             heads = excluded.heads, projected_ms = excluded.projected_ms",
        params![p.doc, header.kind.name(), header.period, heads_to_text(heads), received],
    )
    .map_err(|e| Error::db("saving projection state", e))?;
    Ok(out)
}

/// True when the server itself gave `reply` to request `id`.
fn answer_was_given(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    reply: &RequestReply,
) -> Result<bool> {
    tx.prepare_cached(
        "SELECT 1 FROM request_answers WHERE record_id = ?1 AND updated_ms = ?2 AND status = ?3 AND reply IS ?4",
    )
    .and_then(|mut st| {
        st.exists(params![id, reply.updated_at_ms, reply.status.code(), reply.reply])
    })
    .map_err(|e| Error::db("checking a request's answer", e))
}

pub fn record_answer(c: &rusqlite::Connection, id: &str, reply: &RequestReply) -> Result<()> {
    c.execute(
        "INSERT INTO request_answers (record_id, status, reply, updated_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (record_id, updated_ms) DO UPDATE SET status = excluded.status, reply = excluded.reply",
        params![id, reply.status.code(), reply.reply, reply.updated_at_ms],
    )
    .map(|_| ())
    .map_err(|e| Error::db("recording an answer", e))
}

fn write_row(
    tx: &rusqlite::Transaction<'_>,
    row: &Row,
    p: &DocumentWrite,
    period: &str,
    received: i64,
) -> Result<()> {
    let (doc, hall, kiosk) = (&p.doc, &p.hall, &p.kiosk);
    let r = match row {
        Row::CheckIn(id, c) => tx.prepare_cached("INSERT INTO checkins (record_id, doc_id, hall_id, kiosk_id, date, activity_id, phone_hash, sealed,
                 headcount, companions, kiosk_at_ms, received_ms, clock_skew, service)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (record_id) DO UPDATE SET activity_id = excluded.activity_id, service = excluded.service,
                 headcount = excluded.headcount, companions = excluded.companions, sealed = excluded.sealed")
            .and_then(|mut st| st.execute(params![
                id,
                doc,
                hall,
                kiosk,
                period,
                c.activity_id,
                c.resident.as_ref().map(|r| &r.pseudonym),
                c.resident.as_ref().map(|r| &r.sealed),
                c.headcount,
                c.companions,
                c.at_ms,
                received,
                c.at_ms.saturating_sub(received) > CLOCK_SKEW_MS,
                c.service
            ])),
        Row::Rating(id, r) => tx.prepare_cached("INSERT INTO ratings (record_id, doc_id, hall_id, kiosk_id, date, activity_id, score, reason, kiosk_at_ms, received_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (record_id) DO UPDATE SET score = excluded.score, reason = excluded.reason")
            .and_then(|mut st| st.execute(params![id, doc, hall, kiosk, period, r.activity_id, r.score, r.reason, r.at_ms, received])),
        Row::Shift(id, s) => tx.prepare_cached("INSERT INTO shift_events (record_id, doc_id, hall_id, kiosk_id, date, shift_id, action, phone_hash, sealed,
                 activity_id, kiosk_at_ms, received_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (record_id) DO NOTHING")
            .and_then(|mut st| st.execute(params![
                id,
                doc,
                hall,
                kiosk,
                period,
                s.shift_id,
                s.action,
                s.volunteer.pseudonym,
                s.volunteer.sealed,
                s.activity_id,
                s.at_ms,
                received
            ])),
        Row::Redemption(id, r) => tx.prepare_cached("INSERT INTO redemptions (record_id, doc_id, hall_id, kiosk_id, spender, item, points,
                 phone_hash, kiosk_at_ms, received_ms, owed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (record_id) DO NOTHING")
            .and_then(|mut st| st.execute(params![
                id,
                doc,
                hall,
                kiosk,
                r.spender,
                r.item,
                i64::try_from(r.points).unwrap_or(i64::MAX),
                r.volunteer,
                r.at_ms,
                received,
                i64::try_from(r.owed).unwrap_or(i64::MAX)
            ])),
        Row::Request(id, r, _from_the_kiosks_book) => {
            let reply: Option<RequestReply> = tx
                .prepare_cached(
                    "SELECT status, reply, updated_ms FROM request_answers WHERE record_id = ?1
                     ORDER BY updated_ms DESC LIMIT 1",
                )
                .and_then(|mut st| {
                    st.query_row([id], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?, row.get::<_, i64>(2)?))
                    })
                    .optional()
                })
                .map_err(|e| Error::db("reading a request's answer", e))?
                .and_then(|(status, reply, updated_at_ms)| {
                    linli_core::model::RequestStatus::from_code(&status)
                        .ok()
                        .map(|status| RequestReply { status, reply, updated_at_ms })
                });
            tx.prepare_cached("INSERT INTO requests (record_id, doc_id, hall_id, kiosk_id, month, reference, category, text, phone_hash,
                     sealed, callback_consent, status, reply, updated_ms, kiosk_at_ms, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                 ON CONFLICT (record_id) DO UPDATE SET status = excluded.status, reply = excluded.reply,
                     updated_ms = excluded.updated_ms")
            .and_then(|mut st| st.execute(params![
                    id,
                    doc,
                    hall,
                    kiosk,
                    period,
                    request_reference(id),
                    r.category,
                    r.text,
                    r.resident.as_ref().map(|x| &x.pseudonym),
                    r.resident.as_ref().map(|x| &x.sealed),
                    r.callback_consent,
                    reply.as_ref().map_or("received", |x| x.status.code()),
                    reply.as_ref().and_then(|x| x.reply.as_ref()),
                    reply.as_ref().map(|x| x.updated_at_ms),
                    r.at_ms,
                    received
                ]))
        }
    };
    r.map(|_| ())
        .map_err(|e| Error::db("writing a projected record", e))
}

fn sqlite_checkins(
    c: &rusqlite::Connection,
    hall: &str,
    from: &str,
    to: &str,
    limit: u32,
) -> Result<(CheckinCounts, Vec<StoredCheckin>)> {
    let err = |e| Error::db("listing check-ins", e);
    let (count, pt, walk_ins): (i64, i64, i64) = c
        .query_row(
            "SELECT count(*), COALESCE(SUM(headcount + companions), 0),
                    COALESCE(SUM(CASE WHEN service IS NOT NULL THEN headcount + companions END), 0)
             FROM checkins WHERE hall_id = ?1 AND date BETWEEN ?2 AND ?3",
            params![hall, from, to],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(err)?;
    let rows = c
        .prepare_cached(&format!(
            "{CHECKIN_SELECT} WHERE hall_id = ?1 AND date BETWEEN ?2 AND ?3
             ORDER BY kiosk_at_ms, record_id LIMIT ?4"
        ))
        .and_then(|mut stmt| {
            stmt.query_map(params![hall, from, to, limit], checkin_from_sqlite)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(err)?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok((
        CheckinCounts {
            count: n(count),
            person_times: n(pt),
            walk_in_person_times: n(walk_ins),
        },
        rows,
    ))
}

fn request_from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRequest> {
    Ok(StoredRequest {
        id: r.get(0)?,
        hall_id: r.get(1)?,
        assignee: r.get(2)?,
        reference: r.get(3)?,
        kiosk_id: r.get(4)?,
        category: r.get(5)?,
        text: r.get(6)?,
        pseudonym: r.get(7)?,
        sealed: r.get(8)?,
        callback_consent: r.get(9)?,
        status: r.get(10)?,
        reply: r.get(11)?,
        kiosk_at_ms: r.get(12)?,
        received_ms: r.get(13)?,
    })
}

fn sqlite_requests(
    c: &rusqlite::Connection,
    hall: &str,
    status: Option<&str>,
) -> Result<Vec<StoredRequest>> {
    c.prepare_cached(&format!(
        "{REQUEST_SELECT} WHERE r.hall_id = ?1 AND (?2 IS NULL OR r.status = ?2)
         ORDER BY r.kiosk_at_ms DESC, r.record_id DESC"
    ))
    .and_then(|mut stmt| {
        stmt.query_map(params![hall, status], request_from_sqlite)?
            .collect::<rusqlite::Result<Vec<_>>>()
    })
    .map_err(|e| Error::db("listing requests", e))
}

fn sqlite_requests_page(
    c: &rusqlite::Connection,
    f: &RequestFilter,
    cursor: Option<&RequestCursor>,
    limit: u32,
) -> Result<Vec<StoredRequest>> {
    let (after, order) = if f.oldest_first {
        ("(r.kiosk_at_ms, r.record_id) > (?5, ?6)", "ASC")
    } else {
        ("(r.kiosk_at_ms, r.record_id) < (?5, ?6)", "DESC")
    };
    let sql = format!(
        "{REQUEST_SELECT} WHERE r.hall_id = ?1 AND (?2 IS NULL OR r.status = ?2)
           AND (?3 IS NULL OR r.category = ?3) AND r.kiosk_at_ms <= ?4
           AND (?5 IS NULL OR {after})
         ORDER BY r.kiosk_at_ms {order}, r.record_id {order} LIMIT ?7"
    );
    let (at, id) = cursor.map_or((None, None), |(at, id)| (Some(*at), Some(id.as_str())));
    c.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_map(
                params![f.hall, f.status, f.category, f.made_until_ms, at, id, limit],
                request_from_sqlite,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| Error::db("listing requests", e))
}

fn checkin_from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredCheckin> {
    Ok(StoredCheckin {
        id: r.get(0)?,
        kiosk_id: r.get(1)?,
        date: r.get(2)?,
        activity_id: r.get(3)?,
        pseudonym: r.get(4)?,
        sealed: r.get(5)?,
        headcount: r.get(6)?,
        companions: r.get(7)?,
        kiosk_at_ms: r.get(8)?,
        received_ms: r.get(9)?,
        clock_skew: r.get(10)?,
        service: r.get(11)?,
    })
}

fn sqlite_checkins_page(
    c: &rusqlite::Connection,
    hall: &str,
    (from, to): (&str, &str),
    cursor: Option<&CheckinCursor>,
    limit: u32,
) -> Result<Vec<StoredCheckin>> {
    let (date, at, id) = cursor.map_or((None, None, None), |(d, at, id)| {
        (Some(d.as_str()), Some(*at), Some(id.as_str()))
    });
    c.prepare_cached(&format!(
        "{CHECKIN_SELECT} WHERE hall_id = ?1 AND date BETWEEN ?2 AND ?3
           AND (?4 IS NULL OR (date, kiosk_at_ms, record_id) > (?4, ?5, ?6))
         ORDER BY date, kiosk_at_ms, record_id LIMIT ?7"
    ))
    .and_then(|mut stmt| {
        stmt.query_map(
            params![hall, from, to, date, at, id, limit],
            checkin_from_sqlite,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()
    })
    .map_err(|e| Error::db("exporting check-ins", e))
}

fn sqlite_quarantine(c: &rusqlite::Connection, hall: &str) -> Result<Vec<QuarantineRow>> {
    c.prepare_cached(
        "SELECT doc_id, record_key, kiosk_id, reason, at_ms FROM quarantine WHERE hall_id = ?1
         ORDER BY at_ms DESC, doc_id, record_key",
    )
    .and_then(|mut stmt| {
        stmt.query_map([hall], |r| {
            Ok(QuarantineRow {
                doc_id: r.get(0)?,
                record_key: r.get(1)?,
                kiosk_id: r.get(2)?,
                reason: r.get(3)?,
                at_ms: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
    })
    .map_err(|e| Error::db("listing quarantine", e))
}

fn sqlite_kiosk_day(c: &rusqlite::Connection, kiosk: &str, since_ms: i64) -> Result<KioskDay> {
    let err = |e| Error::db("counting a kiosk's records", e);
    let mut day = KioskDay::default();
    for table in [
        "checkins",
        "ratings",
        "shift_events",
        "requests",
        "redemptions",
    ] {
        let n: i64 = c
            .prepare_cached(&format!(
                "SELECT count(*) FROM {table} WHERE kiosk_id = ?1 AND received_ms >= ?2"
            ))
            .and_then(|mut s| s.query_row(params![kiosk, since_ms], |r| r.get(0)))
            .map_err(err)?;
        day.records += n;
    }
    (day.sync_errors, day.last_error) = c
        .query_row(
            "SELECT count(*), (SELECT reason FROM quarantine WHERE kiosk_id = ?1 AND at_ms >= ?2
                               ORDER BY at_ms DESC LIMIT 1)
             FROM quarantine WHERE kiosk_id = ?1 AND at_ms >= ?2",
            params![kiosk, since_ms],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(err)?;
    Ok(day)
}

fn sqlite_hall_figures(
    c: &rusqlite::Connection,
    hall: &str,
    from: &str,
    to: &str,
    (from_ms, to_ms): (i64, i64),
) -> Result<HallFigures> {
    let err = |e| Error::db("computing statistics", e);
    let mut f = HallFigures {
        checkin_days: c
            .prepare_cached(
                "SELECT date, activity_id, persons FROM checkin_days
                 WHERE hall_id = ?1 AND date BETWEEN ?2 AND ?3 AND persons <> 0 ORDER BY 1, 2",
            )
            .and_then(|mut st| {
                st.query_map(params![hall, from, to], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(err)?,
        ratings: c
            .prepare_cached(
                "SELECT activity_id, SUM(ratings), SUM(score_sum) FROM rating_days
                 WHERE hall_id = ?1 AND date BETWEEN ?2 AND ?3 GROUP BY 1 HAVING SUM(ratings) > 0 ORDER BY 1",
            )
            .and_then(|mut st| {
                st.query_map(params![hall, from, to], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(err)?,
        resolution_ms: c
            .prepare_cached(
                "SELECT updated_ms - kiosk_at_ms FROM requests WHERE hall_id = ?1 AND status = 'resolved'
                 AND updated_ms IS NOT NULL AND kiosk_at_ms >= ?2 AND kiosk_at_ms < ?3 ORDER BY 1",
            )
            .and_then(|mut st| {
                st.query_map(params![hall, from_ms, to_ms], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(err)?,
        ..HallFigures::default()
    };
    (f.named_visits, f.residents) = c
        .query_row(RESIDENTS_SQL_SQLITE, params![hall, from, to], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(err)?;
    (f.requests_received, f.requests_resolved) = c
        .query_row(
            "SELECT count(*), COALESCE(SUM(status = 'resolved'), 0) FROM requests
             WHERE hall_id = ?1 AND kiosk_at_ms >= ?2 AND kiosk_at_ms < ?3",
            params![hall, from_ms, to_ms],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(err)?;
    Ok(f)
}

/// A hall's overview. SQLite takes `$n` parameters too, bound by name
/// (it numbers them in order of first appearance).
pub const OVERVIEW_SQL: &str = "SELECT
       (SELECT count(*) FROM checkins WHERE hall_id = $1 AND date = $2),
       (SELECT COALESCE(SUM(headcount + companions), 0) FROM checkins WHERE hall_id = $1 AND date >= $3),
       (SELECT COALESCE(SUM(headcount + companions), 0) FROM checkins WHERE hall_id = $1 AND date >= $4),
       (SELECT count(*) FROM requests WHERE hall_id = $1 AND status <> 'resolved')";

/// Kiosk documents claimed and never projected.
pub const UNPROJECTED_SQL: &str = "SELECT d.doc_id FROM documents d WHERE d.owner_kiosk IS NOT NULL
    AND d.retired_ms IS NULL
    AND NOT EXISTS (SELECT 1 FROM projection_state s WHERE s.doc_id = d.doc_id)
    ORDER BY d.doc_id";

/// Named visits and distinct residents of a hall over a range of days:
/// one index seek per resident of the hall (`hall_residents`), and the
/// residents erased since counted once per erasure (`erased_visits`).
const RESIDENTS_SQL_SQLITE: &str = "SELECT
       (SELECT COALESCE(SUM(named), 0) FROM checkin_days
         WHERE hall_id = ?1 AND date BETWEEN ?2 AND ?3),
       (SELECT count(*) FROM hall_residents r WHERE r.hall_id = ?1
         AND r.phone_hash <> 'erased' AND EXISTS (
         SELECT 1 FROM checkins c WHERE c.hall_id = r.hall_id
           AND c.phone_hash = r.phone_hash AND c.date BETWEEN ?2 AND ?3))
       + (SELECT count(DISTINCT erasure_id) FROM erased_visits
         WHERE hall_id = ?1 AND date BETWEEN ?2 AND ?3)";
