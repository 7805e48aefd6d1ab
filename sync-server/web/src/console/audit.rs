//! The audit log (central admins only): who did what, when, with before
//! and after — sign-ins, provisioning and revocation, calendar edits,
//! request answers and assignments, exports. Viewable with filters (user,
//! action, dates) and exportable as CSV, including the export itself.

use std::io::Write as _;

use axum::{
    extract::{Query, State},
    http::header,
    response::{IntoResponse, Response},
};
use maud::html;
use serde::Deserialize;

use super::{
    PageError, Session, download,
    listing::{self, PAGE},
    page,
    requests::csv_field,
};
use crate::state::AppState;
use linli_sync_engine::{Error, db::AuditFilter as StoreAuditFilter, tables::ServerTables};

/// Most rows one screen shows (newest first).
const SCREEN_ROWS: usize = 500;

/// The audit log's times are the office's: China Standard Time.
const OFFICE_TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// Filters.
#[derive(Deserialize, Default)]
pub struct AuditFilter {
    user: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// One entry: (when, who, what, target, before, after).
type AuditRow = (i64, String, String, String, Option<String>, Option<String>);

struct AuditQuery {
    user: Option<String>,
    action: Option<String>,
    from_ms: i64,
    to_ms: i64,
}

fn day_ms(field: &str, v: &Option<String>, end: bool) -> Result<i64, Error> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(if end { i64::MAX } else { i64::MIN }),
        Some(s) => {
            let d = linli_core::model::parse_day(s).ok_or_else(|| {
                Error::BadRequest(format!(
                    "日期格式应为 2026-11-23 ({field} must be a date like 2026-11-23)"
                ))
            })?;
            let d = if end {
                d + chrono::Duration::days(1)
            } else {
                d
            };
            let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
            use chrono::TimeZone as _;
            Ok(OFFICE_TZ
                .from_local_datetime(&midnight)
                .earliest()
                .map_or(0, |t| t.timestamp_millis()))
        }
    }
}

impl AuditQuery {
    fn new(s: &Session, f: &AuditFilter) -> Result<Self, Error> {
        if s.role != "central" {
            return Err(Error::Forbidden(
                "the audit log is for central admins".into(),
            ));
        }
        let text = |v: &Option<String>| {
            v.clone()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        };
        for v in [&f.user, &f.action].into_iter().flatten() {
            if v.chars().count() > 100 {
                return Err(Error::BadRequest(
                    "筛选条件太长 (filter too long: at most 100 characters)".into(),
                ));
            }
        }
        Ok(Self {
            user: text(&f.user),
            action: text(&f.action),
            from_ms: day_ms("from", &f.from, false)?,
            to_ms: day_ms("to", &f.to, true)?,
        })
    }

    /// Each matching entry, newest first, until `each` says stop: a page
    /// at a time through the store. Runs on a blocking thread (`rt` reads
    /// each page); `each` may block.
    fn each(
        &self,
        rt: &tokio::runtime::Handle,
        tables: &dyn ServerTables,
        mut each: impl FnMut(AuditRow) -> Result<bool, Error>,
    ) -> Result<(), Error> {
        let filter = StoreAuditFilter {
            user: self.user.clone(),
            action: self.action.clone(),
            from_ms: self.from_ms,
            to_ms: self.to_ms,
        };
        let mut before = None;
        loop {
            let page = rt.block_on(tables.audit_page(&filter, before, PAGE))?;
            let full = page.len() == PAGE as usize;
            before = page.last().map(|e| e.id);
            for e in page {
                if !each((e.at_ms, e.user, e.action, e.target, e.before, e.after))? {
                    return Ok(());
                }
            }
            if !full {
                return Ok(());
            }
        }
    }
}

fn fmt_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&OFFICE_TZ)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

fn query_string(f: &AuditFilter) -> String {
    [
        ("user", &f.user),
        ("action", &f.action),
        ("from", &f.from),
        ("to", &f.to),
    ]
    .iter()
    .map(|(k, v)| {
        let v = v.as_deref().unwrap_or_default();
        format!(
            "{k}={}",
            url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
        )
    })
    .collect::<Vec<_>>()
    .join("&")
}

pub async fn show(
    State(state): State<AppState>,
    s: Session,
    Query(f): Query<AuditFilter>,
) -> Result<Response, PageError> {
    let l = s.lang;
    let q = AuditQuery::new(&s, &f)?;
    let tables = state.core.tables.clone();
    let (rows, total) =
        listing::screenful("reading the audit log", SCREEN_ROWS, move |rt, each| {
            q.each(rt, tables.as_ref(), each)
        })
        .await?;
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    Ok(page(
        l,
        l.t("操作日志", "Audit log"),
        Some(&s),
        html! {
            form method="get" action="/admin/audit" {
                label { (l.t("用户", "User")) " " input name="user" size="12" value=(v(&f.user)); }
                " " label { (l.t("操作", "Action")) " " input name="action" size="18" value=(v(&f.action)); }
                " " label { (l.t("从", "From")) " " input name="from" size="10" placeholder="2026-11-01" value=(v(&f.from)); }
                " " label { (l.t("到", "To")) " " input name="to" size="10" placeholder="2026-11-30" value=(v(&f.to)); }
                " " button type="submit" { (l.t("筛选", "Filter")) }
                " " a href={ "/admin/audit.csv?" (query_string(&f)) } { (l.t("导出 CSV", "Export CSV")) }
            }
            p { (total) " " (l.t("条", "entries"))
                @if total > rows.len() { " " (l.t("（显示最新的 500 条）", "(the newest 500 shown)")) } }
            table {
                tr { th { (l.t("时间", "When")) } th { (l.t("谁", "Who")) } th { (l.t("操作", "What")) } th { (l.t("对象", "Target")) } th { (l.t("之前", "Before")) } th { (l.t("之后", "After")) } }
                @for (at, user, action, target, before, after) in &rows {
                    tr { td { (fmt_ms(*at)) } td { (user) } td { (action) } td { (target) } td { (before.clone().unwrap_or_default()) } td { (after.clone().unwrap_or_default()) } }
                }
            }
        },
    )
    .into_response())
}

/// `GET /admin/audit.csv`: the filtered log, streamed (and itself audited).
pub async fn csv(
    State(state): State<AppState>,
    s: Session,
    Query(f): Query<AuditFilter>,
) -> Result<Response, PageError> {
    let q = AuditQuery::new(&s, &f)?;
    s.audit(
        &state,
        "export_audit_csv",
        "audit_log",
        None,
        Some(query_string(&f)),
    )
    .await?;
    let (rt, tables) = (tokio::runtime::Handle::current(), state.core.tables.clone());
    let body = download::streamed("audit.csv", move |w| {
        let io = |e: std::io::Error| Error::Io {
            context: "sending the export".into(),
            source: e,
        };
        w.write_all("\u{feff}时间,用户,操作,对象,之前,之后\r\n".as_bytes())
            .map_err(io)?;
        q.each(
            &rt,
            tables.as_ref(),
            |(at, user, action, target, before, after)| {
                write!(
                    w,
                    "{},{},{},{},{},{}\r\n",
                    fmt_ms(at),
                    csv_field(&user),
                    csv_field(&action),
                    csv_field(&target),
                    csv_field(before.as_deref().unwrap_or("")),
                    csv_field(after.as_deref().unwrap_or(""))
                )
                .map_err(io)?;
                Ok(true)
            },
        )
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}
