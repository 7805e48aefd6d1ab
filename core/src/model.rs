//! The domain model: what a hall records. Each record type validates
//! itself with errors a person can act on; the same checks run on the kiosk
//! before writing and on the server before projecting, so a record that
//! does not fit never reaches the statistics.
//!
//! Times are milliseconds since the Unix epoch (UTC) on the writer's clock;
//! the hall's time zone turns them into local dates.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Longest activity title.
pub const MAX_TITLE_CHARS: usize = 60;
/// Longest short name (e.g. 李阿姨).
pub const MAX_NAME_CHARS: usize = 8;
/// Most companions one resident may bring in one check-in.
pub const MAX_COMPANIONS: u32 = 10;
/// Most people one headcount tap may add.
pub const MAX_HEADCOUNT: u32 = 200;
/// Longest request text.
pub const MAX_REQUEST_CHARS: usize = 500;
/// Longest staff reply.
pub const MAX_REPLY_CHARS: usize = 1000;
/// Longest short free field (room, rating reason chip).
pub const MAX_SHORT_CHARS: usize = 40;
/// Largest capacity of an activity.
pub const MAX_CAPACITY: u32 = 10_000;
/// Latest time a record may carry, ms: the end of the year 9999 (UTC).
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// A day typed as `YYYY-MM-DD` (surrounding blanks ignored), if it is one
/// in the years records may carry, 1970–9999: dates from forms and query
/// strings go through here, so the days around them (the week's Monday,
/// the day after) can always be computed.
pub fn parse_day(s: &str) -> Option<chrono::NaiveDate> {
    use chrono::Datelike as _;
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .filter(|d| (1970..=9999).contains(&d.year()))
}

fn check_time(field: &'static str, ms: i64) -> Result<()> {
    if !(0..=MAX_TIME_MS).contains(&ms) {
        return Err(Error::invalid(
            field,
            format!("{ms} is not a time between 1970 and 9999"),
        ));
    }
    Ok(())
}

fn check_text(field: &'static str, s: &str, max: usize, required: bool) -> Result<()> {
    let n = s.chars().count();
    if required && s.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if n > max {
        return Err(Error::invalid(
            field,
            format!("at most {max} characters, got {n}"),
        ));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::invalid(field, "contains control characters"));
    }
    Ok(())
}

/// What kind of activity: drives statistics by kind and the kiosk's icons.
/// Stored as its stable code; an unknown code reads as [`ActivityKind::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// 义诊, blood-sugar checks.
    HealthClinic,
    /// Health or policy lectures.
    Lecture,
    /// 四点半课堂 and weekend camps.
    AfterSchool,
    /// Calligraphy, opera, handicraft classes.
    Class,
    /// 长者助餐.
    ElderlyMeal,
    /// 党群服务集市.
    ServiceMarket,
    /// Festivals, talent nights.
    Festival,
    /// 平安巡逻 and other volunteer shifts.
    Volunteer,
    /// Anything else.
    Other,
}

impl ActivityKind {
    /// Every kind, in display order.
    pub const ALL: [ActivityKind; 9] = [
        ActivityKind::HealthClinic,
        ActivityKind::Lecture,
        ActivityKind::AfterSchool,
        ActivityKind::Class,
        ActivityKind::ElderlyMeal,
        ActivityKind::ServiceMarket,
        ActivityKind::Festival,
        ActivityKind::Volunteer,
        ActivityKind::Other,
    ];

    /// The stable code stored in documents.
    pub fn code(self) -> &'static str {
        match self {
            ActivityKind::HealthClinic => "health_clinic",
            ActivityKind::Lecture => "lecture",
            ActivityKind::AfterSchool => "after_school",
            ActivityKind::Class => "class",
            ActivityKind::ElderlyMeal => "elderly_meal",
            ActivityKind::ServiceMarket => "service_market",
            ActivityKind::Festival => "festival",
            ActivityKind::Volunteer => "volunteer",
            ActivityKind::Other => "other",
        }
    }

    /// Read a stored code; unknown codes (from a newer writer) are `Other`.
    pub fn from_code(code: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|k| k.code() == code)
            .unwrap_or(ActivityKind::Other)
    }
}

/// An activity in a hall's calendar. Written by the server only.
#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Activity {
    /// Kind code, see [`ActivityKind`].
    #[autosurgeon(hydrate = "crate::docs::values::string")]
    pub kind: String,
    /// Title, e.g. 健康义诊.
    #[autosurgeon(hydrate = "crate::docs::values::string")]
    pub title: String,
    /// Room, e.g. 二楼活动室.
    #[autosurgeon(hydrate = "crate::docs::values::opt_string")]
    pub room: Option<String>,
    /// Start, ms since epoch.
    pub starts_at_ms: i64,
    /// End, ms since epoch.
    pub ends_at_ms: i64,
    /// Places, if limited.
    #[autosurgeon(hydrate = "crate::docs::values::opt_count")]
    pub capacity: Option<u32>,
    /// False for headcount-only activities (no named check-in).
    pub named_checkin: bool,
    /// Cancelled activities stay in the calendar, marked.
    pub cancelled: bool,
}

impl Activity {
    /// The typed kind.
    pub fn kind(&self) -> ActivityKind {
        ActivityKind::from_code(&self.kind)
    }

    /// Check every field.
    pub fn validate(&self) -> Result<()> {
        check_text("activity title", &self.title, MAX_TITLE_CHARS, true)?;
        if let Some(room) = &self.room {
            check_text("room", room, MAX_SHORT_CHARS, false)?;
        }
        if self.ends_at_ms <= self.starts_at_ms {
            return Err(Error::invalid("activity end", "must be after its start"));
        }
        if self.ends_at_ms - self.starts_at_ms > 24 * 3600 * 1000 {
            return Err(Error::invalid(
                "activity end",
                "an activity lasts at most a day",
            ));
        }
        if let Some(c) = self.capacity
            && (c == 0 || c > MAX_CAPACITY)
        {
            return Err(Error::invalid(
                "capacity",
                format!("must be 1 to {MAX_CAPACITY}"),
            ));
        }
        Ok(())
    }

    /// True while check-in is open: from 30 minutes before the start to the end.
    pub fn is_open_at(&self, now_ms: i64) -> bool {
        !self.cancelled && now_ms >= self.starts_at_ms - 30 * 60 * 1000 && now_ms <= self.ends_at_ms
    }
}

pub use crate::resident::ResidentRef;

/// Check a short name a resident chose (e.g. 李阿姨) before it is boxed
/// and sealed.
pub fn check_short_name(name: &str) -> Result<()> {
    check_text("short name", name, MAX_NAME_CHARS, true)
}

/// Longest name of a walk-in service (e.g. 医保办理).
pub const MAX_SERVICE_NAME_CHARS: usize = 20;
/// Most walk-in services a hall may list (the kiosk shows them all on one screen).
pub const MAX_SERVICES: usize = 16;
/// The statistics kind of walk-in visits, beside the [`ActivityKind`] codes.
pub const WALK_IN_KIND: &str = "walk_in";

/// A kind of everyday service residents walk in for without an activity
/// (办事, 咨询, 医保办理, …): the hall lists them in its calendar document
/// (see `docs::calendar`), the kiosk offers them under 到访/办事, and a
/// walk-in check-in names one. Written by the server only. A service the
/// hall no longer offers is retired, never deleted, so past visits keep
/// their name.
#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct WalkInService {
    /// Its name, e.g. 医保办理.
    #[autosurgeon(hydrate = "crate::docs::values::string")]
    pub name: String,
    /// Its name in English, when the hall gave one (else the kiosk shows `name`).
    #[autosurgeon(hydrate = "crate::docs::values::opt_string")]
    pub name_en: Option<String>,
    /// Place in the kiosk's list (smallest first).
    #[autosurgeon(hydrate = "crate::docs::values::count")]
    pub position: u32,
    /// No longer offered at the kiosk.
    pub retired: bool,
}

impl WalkInService {
    /// Check every field.
    pub fn validate(&self) -> Result<()> {
        check_text("service name", &self.name, MAX_SERVICE_NAME_CHARS, true)?;
        if self.name.contains('\n') {
            return Err(Error::invalid("service name", "must be one line"));
        }
        if let Some(en) = &self.name_en {
            check_text("service name (English)", en, MAX_SHORT_CHARS, false)?;
            if en.contains('\n') {
                return Err(Error::invalid("service name (English)", "must be one line"));
            }
        }
        Ok(())
    }

    /// The name to show in `english` or Chinese.
    pub fn label(&self, english: bool) -> &str {
        match &self.name_en {
            Some(en) if english && !en.trim().is_empty() => en,
            _ => &self.name,
        }
    }
}

/// The services a new hall starts with (ids, then what residents see);
/// the hall changes them in the console.
pub fn standard_services() -> Vec<(&'static str, WalkInService)> {
    [
        ("affairs", "办事", "General affairs"),
        ("consultation", "咨询", "Enquiries"),
        ("medical_insurance", "医保办理", "Medical insurance"),
        ("social_insurance", "社保办理", "Social insurance"),
        ("convenience", "便民服务", "Everyday services"),
    ]
    .into_iter()
    .zip(0..)
    .map(|((id, name, en), position)| {
        (
            id,
            WalkInService {
                name: name.to_string(),
                name_en: Some(en.to_string()),
                position,
                retired: false,
            },
        )
    })
    .collect()
}

/// One check-in: a named resident (with companions), or an anonymous
/// headcount tap; to a scheduled activity, or a walk-in visit for one of
/// the hall's everyday services.
#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct CheckIn {
    /// The activity's id in the hall calendar; empty for a walk-in.
    #[autosurgeon(hydrate = "crate::docs::values::string")]
    pub activity_id: String,
    /// For a walk-in, the service's id in the hall calendar (see
    /// [`WalkInService`]); `None` for an activity. Records written before
    /// walk-ins existed have no such field, which reads as `None`.
    #[autosurgeon(hydrate = "crate::docs::values::opt_string")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The resident, or `None` for a headcount tap.
    pub resident: Option<ResidentRef>,
    /// People counted by this tap without names (1 for a named check-in).
    #[autosurgeon(hydrate = "crate::docs::values::count")]
    pub headcount: u32,
    /// Companions brought along (e.g. a grandchild).
    #[autosurgeon(hydrate = "crate::docs::values::count")]
    pub companions: u32,
    /// The kiosk that recorded it.
    #[autosurgeon(hydrate = "crate::docs::values::string")]
    pub kiosk_id: String,
    /// Kiosk wall-clock time, ms.
    pub at_ms: i64,
}

impl CheckIn {
    /// Check every field.
    pub fn validate(&self) -> Result<()> {
        match &self.service {
            None => check_text("activity", &self.activity_id, 64, true)?,
            Some(service) => {
                check_text("service", service, 64, true)?;
                if !self.activity_id.is_empty() {
                    return Err(Error::invalid(
                        "service",
                        "a check-in is for an activity or a walk-in service, not both",
                    ));
                }
            }
        }
        check_time("check-in time", self.at_ms)?;
        if let Some(r) = &self.resident {
            r.validate()?;
            if self.headcount != 1 {
                return Err(Error::invalid(
                    "headcount",
                    "a named check-in counts one person",
                ));
            }
        } else if self.headcount == 0 || self.headcount > MAX_HEADCOUNT {
            return Err(Error::invalid(
                "headcount",
                format!("must be 1 to {MAX_HEADCOUNT}"),
            ));
        }
        if self.companions > MAX_COMPANIONS {
            return Err(Error::invalid(
                "companions",
                format!("at most {MAX_COMPANIONS}"),
            ));
        }
        Ok(())
    }

    /// True for a walk-in visit (a service, no activity).
    pub fn is_walk_in(&self) -> bool {
        self.service.is_some()
    }

    /// Person-times (人次) this check-in stands for.
    pub fn person_times(&self) -> u64 {
        u64::from(self.headcount) + u64::from(self.companions)
    }
}

/// A rating of an activity: one to five smileys and an optional reason chip.
#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Rating {
    /// The activity rated.
    #[autosurgeon(hydrate = "crate::docs::values::string")]
    pub activity_id: String,
    /// 1 (very unhappy) to 5 (very happy).
    #[autosurgeon(hydrate = "crate::docs::values::count")]
    pub score: u32,
    /// Optional reason chip code, e.g. `teacher_good`.
    #[autosurgeon(hydrate = "crate::docs::values::opt_string")]
    pub reason: Option<String>,
    /// The kiosk that recorded it.
    #[autosurgeon(hydrate = "crate::docs::values::string")]
    pub kiosk_id: String,
    /// Kiosk wall-clock time, ms.
    pub at_ms: i64,
}

impl Rating {
    /// Check every field.
    pub fn validate(&self) -> Result<()> {
        check_text("activity", &self.activity_id, 64, true)?;
        check_time("rating time", self.at_ms)?;
        if !(1..=5).contains(&self.score) {
            return Err(Error::invalid("score", "must be 1 to 5"));
        }
        if let Some(r) = &self.reason {
            check_text("reason", r, MAX_SHORT_CHARS, true)?;
        }
        Ok(())
    }
}

/// Categories of requests and suggestions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestCategory {
    /// 环境卫生.
    Sanitation,
    /// 设施报修.
    Repair,
    /// 邻里纠纷.
    Dispute,
    /// 治安.
    Safety,
    /// 服务建议.
    ServiceSuggestion,
    /// 我为社区献一策.
    Idea,
    /// 其他.
    Other,
}

impl RequestCategory {
    /// Every category, in display order.
    pub const ALL: [RequestCategory; 7] = [
        RequestCategory::Sanitation,
        RequestCategory::Repair,
        RequestCategory::Dispute,
        RequestCategory::Safety,
        RequestCategory::ServiceSuggestion,
        RequestCategory::Idea,
        RequestCategory::Other,
    ];

    /// The stable code stored in documents.
    pub fn code(self) -> &'static str {
        match self {
            RequestCategory::Sanitation => "sanitation",
            RequestCategory::Repair => "repair",
            RequestCategory::Dispute => "dispute",
            RequestCategory::Safety => "safety",
            RequestCategory::ServiceSuggestion => "service_suggestion",
            RequestCategory::Idea => "idea",
            RequestCategory::Other => "other",
        }
    }

    /// Parse a stored code.
    pub fn from_code(code: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.code() == code)
            .ok_or_else(|| Error::invalid("request category", format!("unknown {code:?}")))
    }
}

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// 已受理.
    Received,
    /// 处理中.
    InProgress,
    /// 已解决.
    Resolved,
}

impl RequestStatus {
    /// The stable code stored in documents.
    pub fn code(self) -> &'static str {
        match self {
            RequestStatus::Received => "received",
            RequestStatus::InProgress => "in_progress",
            RequestStatus::Resolved => "resolved",
        }
    }

    /// Parse a stored code.
    pub fn from_code(code: &str) -> Result<Self> {
        match code {
            "received" => Ok(RequestStatus::Received),
            "in_progress" => Ok(RequestStatus::InProgress),
            "resolved" => Ok(RequestStatus::Resolved),
            other => Err(Error::invalid(
                "request status",
                format!("unknown {other:?}"),
            )),
        }
    }
}

/// A request or suggestion as the kiosk writes it. Status and reply are
/// written later by the server into the same record (see [`RequestReply`]).
#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Request {
    /// Category code, see [`RequestCategory`].
    #[autosurgeon(hydrate = "crate::docs::values::string")]
    pub category: String,
    /// The text, built from preset phrases on the kiosk.
    #[autosurgeon(hydrate = "crate::docs::values::string")]
    pub text: String,
    /// The resident, if they gave their number (needed for "My requests").
    pub resident: Option<ResidentRef>,
    /// The resident agreed to be called back on that number.
    pub callback_consent: bool,
    /// The kiosk that recorded it.
    #[autosurgeon(hydrate = "crate::docs::values::string")]
    pub kiosk_id: String,
    /// Kiosk wall-clock time, ms.
    pub at_ms: i64,
}

impl Request {
    /// Check every field.
    pub fn validate(&self) -> Result<()> {
        RequestCategory::from_code(&self.category)?;
        check_time("request time", self.at_ms)?;
        check_text("request text", &self.text, MAX_REQUEST_CHARS, false)?;
        if let Some(r) = &self.resident {
            r.validate()?;
        }
        if self.callback_consent && self.resident.is_none() {
            return Err(Error::invalid(
                "callback",
                "a callback needs the resident's phone number",
            ));
        }
        Ok(())
    }
}

/// The server's answer to a request, kept beside it in the request book.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestReply {
    /// Where the request stands.
    pub status: RequestStatus,
    /// The reply residents see, if any.
    pub reply: Option<String>,
    /// When the server last changed it, ms.
    pub updated_at_ms: i64,
}

impl RequestReply {
    /// Check every field.
    pub fn validate(&self) -> Result<()> {
        if let Some(r) = &self.reply {
            check_text("reply", r, MAX_REPLY_CHARS, false)?;
        }
        check_time("reply time", self.updated_at_ms)?;
        Ok(())
    }
}

/// Sign-in or sign-out of a volunteer shift.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShiftAction {
    /// Starting a shift.
    SignIn,
    /// Ending one.
    SignOut,
}

impl ShiftAction {
    /// The stable code stored in documents.
    pub fn code(self) -> &'static str {
        match self {
            ShiftAction::SignIn => "sign_in",
            ShiftAction::SignOut => "sign_out",
        }
    }

    /// Parse a stored code.
    pub fn from_code(code: &str) -> Result<Self> {
        match code {
            "sign_in" => Ok(ShiftAction::SignIn),
            "sign_out" => Ok(ShiftAction::SignOut),
            other => Err(Error::invalid("shift action", format!("unknown {other:?}"))),
        }
    }
}

/// A volunteer signing in or out. A sign-out names the sign-in it ends
/// (`shift_id`), so a shift may end at another kiosk or on another day.
#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct ShiftEvent {
    /// The volunteer.
    pub volunteer: ResidentRef,
    /// `sign_in` or `sign_out`.
    #[autosurgeon(hydrate = "crate::docs::values::string")]
    pub action: String,
    /// For a sign-in its own record id; for a sign-out the sign-in's id.
    #[autosurgeon(hydrate = "crate::docs::values::string")]
    pub shift_id: String,
    /// The activity served, if any.
    #[autosurgeon(hydrate = "crate::docs::values::opt_string")]
    pub activity_id: Option<String>,
    /// The kiosk that recorded it.
    #[autosurgeon(hydrate = "crate::docs::values::string")]
    pub kiosk_id: String,
    /// Kiosk wall-clock time, ms.
    pub at_ms: i64,
}

impl ShiftEvent {
    /// Check every field.
    pub fn validate(&self) -> Result<()> {
        self.volunteer.validate()?;
        check_time("shift time", self.at_ms)?;
        ShiftAction::from_code(&self.action)?;
        check_text("shift id", &self.shift_id, 64, true)?;
        Ok(())
    }

    /// The typed action.
    pub fn action(&self) -> Result<ShiftAction> {
        ShiftAction::from_code(&self.action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resident() -> ResidentRef {
        ResidentRef {
            pseudonym: "a".repeat(64),
            sealed: "c2VhbGVk".into(),
            name_box: Some("Ym94".into()),
        }
    }

    #[test]
    fn days_are_read_only_within_the_years_records_carry() {
        let day = |s| parse_day(s).map(|d| d.to_string());
        assert_eq!(day(" 2026-11-23 "), Some("2026-11-23".into()));
        assert_eq!(day("9999-12-31"), Some("9999-12-31".into()));
        assert_eq!(day("1970-01-01"), Some("1970-01-01".into()));
        for bad in [
            "1969-12-31",
            "+262143-12-31",
            "-262144-01-01",
            "2026-13-01",
            "2026-11-23\nx",
            "",
        ] {
            assert_eq!(day(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn checkin_bounds_are_enforced() {
        let mut c = CheckIn {
            activity_id: "act".into(),
            service: None,
            resident: Some(resident()),
            headcount: 1,
            companions: 2,
            kiosk_id: "k1".into(),
            at_ms: 0,
        };
        assert!(c.validate().is_ok());
        assert_eq!(c.person_times(), 3);
        c.companions = 11;
        assert!(
            c.validate()
                .expect_err("too many")
                .to_string()
                .contains("companions")
        );
        c.companions = 0;
        c.resident = None;
        c.headcount = 0;
        assert!(
            c.validate()
                .expect_err("zero")
                .to_string()
                .contains("headcount")
        );
        c.headcount = 100_000;
        assert!(c.validate().is_err());
    }

    #[test]
    fn a_checkin_is_for_an_activity_or_a_service_never_both_or_neither() {
        let mut c = CheckIn {
            activity_id: String::new(),
            service: Some("medical_insurance".into()),
            resident: None,
            headcount: 1,
            companions: 0,
            kiosk_id: "k1".into(),
            at_ms: 0,
        };
        assert!(c.validate().is_ok(), "a walk-in");
        assert!(c.is_walk_in());
        c.activity_id = "act".into();
        let err = c.validate().expect_err("both").to_string();
        assert!(err.contains("not both"), "{err}");
        c.activity_id.clear();
        c.service = Some(" ".into());
        assert!(c.validate().is_err(), "a blank service");
        c.service = Some("x".repeat(65));
        assert!(c.validate().is_err(), "an absurd service id");
        c.service = None;
        let err = c.validate().expect_err("neither").to_string();
        assert!(err.contains("activity"), "{err}");
        let json = serde_json::to_string(&CheckIn {
            activity_id: "act".into(),
            ..c.clone()
        })
        .expect("json");
        assert!(
            !json.contains("service"),
            "an activity check-in serializes as before walk-ins: {json}"
        );
    }

    #[test]
    fn walk_in_services_have_a_name_on_one_line() {
        for (_, s) in standard_services() {
            assert!(s.validate().is_ok(), "{s:?}");
            assert_ne!(s.label(true), s.label(false));
        }
        let mut s = standard_services().remove(2).1;
        assert_eq!(s.label(false), "医保办理");
        assert_eq!(s.label(true), "Medical insurance");
        s.name_en = Some(" ".into());
        assert_eq!(s.label(true), "医保办理", "a blank English name falls back");
        s.name = "医保\n办理".into();
        assert!(s.validate().is_err());
        s.name = "医".repeat(MAX_SERVICE_NAME_CHARS + 1);
        assert!(s.validate().is_err());
        s.name = String::new();
        assert!(s.validate().is_err());
    }

    #[test]
    fn times_a_clock_cannot_show_are_refused() {
        let mut c = CheckIn {
            activity_id: "act".into(),
            service: None,
            resident: None,
            headcount: 1,
            companions: 0,
            kiosk_id: "k1".into(),
            at_ms: MAX_TIME_MS,
        };
        assert!(c.validate().is_ok());
        for at_ms in [-1, i64::MIN, MAX_TIME_MS + 1, i64::MAX] {
            c.at_ms = at_ms;
            let err = c.validate().expect_err("out of range").to_string();
            assert!(err.contains("check-in time"), "{err}");
        }
        let reply = RequestReply {
            status: RequestStatus::Resolved,
            reply: None,
            updated_at_ms: i64::MIN,
        };
        assert!(reply.validate().is_err());
    }

    #[test]
    fn activity_needs_title_and_sane_times() {
        let mut a = Activity {
            kind: "lecture".into(),
            title: "糖尿病防治讲座".into(),
            room: None,
            starts_at_ms: 0,
            ends_at_ms: 3_600_000,
            capacity: Some(40),
            named_checkin: true,
            cancelled: false,
        };
        assert!(a.validate().is_ok());
        a.title = "  ".into();
        assert!(
            a.validate()
                .expect_err("empty")
                .to_string()
                .contains("title")
        );
        a.title = "x".into();
        a.ends_at_ms = 0;
        assert!(a.validate().is_err());
        assert_eq!(
            ActivityKind::from_code("from-the-future"),
            ActivityKind::Other
        );
    }

    #[test]
    fn debug_shows_nothing_that_links_or_names_a_resident() {
        let s = format!("{:?}", resident());
        assert!(!s.contains(&"a".repeat(64)), "{s}");
        assert!(!s.contains("Ym94") && !s.contains("c2VhbGVk"), "{s}");
    }

    #[test]
    fn a_resident_with_digits_or_a_name_in_the_clear_is_refused() {
        let mut r = resident();
        assert!(r.validate().is_ok());
        r.sealed = "138****5678".into();
        assert!(
            r.validate().is_err(),
            "a masked number is not a sealed contact"
        );
        r = resident();
        r.name_box = Some("李阿姨".into());
        assert!(
            r.validate().is_err(),
            "a name in the clear is not a name box"
        );
        r = resident();
        r.pseudonym = "13812345678".into();
        assert!(r.validate().is_err());
        r = resident();
        r.sealed = "A".repeat(crate::resident::MAX_SEALED_CHARS + 4);
        assert!(r.validate().is_err(), "absurdly long");
    }

    #[test]
    fn an_erased_resident_fits_only_with_nothing_beside_it() {
        assert!(ResidentRef::erased().validate().is_ok());
        assert!(ResidentRef::erased().is_erased());
        assert!(!resident().is_erased());
        let mut r = ResidentRef::erased();
        r.sealed = resident().sealed;
        assert!(
            r.validate().is_err(),
            "an erased marker with a sealed contact"
        );
        let mut r = ResidentRef::erased();
        r.name_box = resident().name_box;
        assert!(r.validate().is_err(), "an erased marker with a name box");
    }
}
