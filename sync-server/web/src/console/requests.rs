//! 诉求台账, the requests list: filter by hall, status, category, age and
//! overdue; assign, change status and write the reply residents see on
//! the kiosk; export exactly the filtered rows as CSV (UTF-8 with a BOM,
//! so Excel opens the Chinese correctly), streamed.
//!
//! The screen shows the newest [`SCREEN_ROWS`] matches and says how many
//! there are in all; the export always has every match.
//!
//! Phone numbers show masked, opened from the sealed contact. When the
//! resident agreed to a callback, hall staff and central admins (never
//! viewers) can reveal the whole number with one click ([`reveal`]); each
//! reveal is in the audit log (who, when, which request) and no export
//! ever carries a whole number.

use std::io::Write as _;

use axum::{
    Form,
    extract::{Path, Query, State},
    http::header,
    response::{IntoResponse, Redirect, Response},
};
use linli_core::model::{RequestCategory, RequestReply, RequestStatus};
use maud::html;
use serde::Deserialize;

use super::{
    Lang, PageError, Session,
    clock::HallClocks,
    download,
    listing::{self, PAGE},
    page,
};
use crate::state::AppState;
use linli_sync_engine::{
    Error, clock::now_ms, projection_tables::RequestFilter as StoreFilter, provision,
    server::ServerCore,
};

/// Most rows one screen shows.
pub const SCREEN_ROWS: usize = 500;

const DAY_MS: i64 = 86_400_000;

/// Filters of the requests list (and its export).
#[derive(Deserialize, Default)]
pub struct RequestFilter {
    hall: Option<String>,
    status: Option<String>,
    category: Option<String>,
    /// Only requests at least this many days old.
    min_age_days: Option<String>,
    /// "1": only overdue ones.
    overdue: Option<String>,
}

impl RequestFilter {
    /// The same filters as a query string (for the export link).
    fn query_string(&self) -> String {
        let v = |o: &Option<String>| o.clone().unwrap_or_default();
        let pairs = [
            ("hall", v(&self.hall)),
            ("status", v(&self.status)),
            ("category", v(&self.category)),
            ("min_age_days", v(&self.min_age_days)),
            ("overdue", v(&self.overdue)),
        ];
        pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Days a request of a category may stay open before it is overdue.
pub fn deadline_days(category: &str) -> i64 {
    match category {
        "sanitation" | "repair" => 3,
        "dispute" | "other" => 7,
        _ => 14,
    }
}

fn category_label(l: Lang, code: &str) -> &'static str {
    match code {
        "sanitation" => l.t("环境卫生", "sanitation"),
        "repair" => l.t("设施报修", "repair"),
        "dispute" => l.t("邻里纠纷", "dispute"),
        "safety" => l.t("治安", "safety"),
        "service_suggestion" => l.t("服务建议", "service suggestion"),
        "idea" => l.t("我为社区献一策", "idea for the community"),
        "other" => l.t("其他", "other"),
        _ => "?",
    }
}

fn status_label(l: Lang, code: &str) -> &'static str {
    match code {
        "received" => l.t("已受理", "received"),
        "in_progress" => l.t("处理中", "in progress"),
        "resolved" => l.t("已解决", "resolved"),
        _ => "?",
    }
}

struct RequestLine {
    assignee: Option<String>,
    overdue: bool,
    id: String,
    hall: String,
    reference: String,
    category: String,
    text: String,
    phone: Option<String>,
    callback: bool,
    status: String,
    reply: Option<String>,
    at: i64,
}

fn empty_none(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.is_empty())
}

/// A checked filter: halls the admin may see, codes that exist, an age in
/// range.
struct RequestQuery {
    halls: Vec<String>,
    status: Option<String>,
    category: Option<String>,
    min_age_days: i64,
    only_overdue: bool,
    now: i64,
    core: std::sync::Arc<ServerCore>,
}

impl RequestQuery {
    fn new(
        s: &Session,
        f: &RequestFilter,
        core: std::sync::Arc<ServerCore>,
    ) -> Result<Self, Error> {
        let hall = empty_none(&f.hall);
        let status = empty_none(&f.status);
        let category = empty_none(&f.category);
        if let Some(h) = &hall {
            s.require_hall(h)?;
        }
        if let Some(st) = &status {
            RequestStatus::from_code(st)?;
        }
        if let Some(c) = &category {
            RequestCategory::from_code(c)?;
        }
        let min_age_days = match empty_none(&f.min_age_days) {
            None => 0,
            Some(d) => d
                .parse::<i64>()
                .ok()
                .filter(|d| (0..=3650).contains(d))
                .ok_or_else(|| {
                    Error::BadRequest(
                        "天数应为 0–3650 (min_age_days must be a number of days from 0 to 3650)"
                            .into(),
                    )
                })?,
        };
        Ok(Self {
            halls: hall.map_or_else(|| s.halls.clone(), |h| vec![h]),
            status,
            category,
            min_age_days,
            only_overdue: empty_none(&f.overdue).is_some(),
            now: now_ms(),
            core,
        })
    }

    /// Each matching request, newest first per hall, until `each` says
    /// stop: read a page at a time through the store, so an export of any
    /// size holds one page. Runs on a blocking thread (`rt` is the
    /// server's runtime, which reads each page); `each` may block.
    fn each(
        &self,
        rt: &tokio::runtime::Handle,
        mut each: impl FnMut(RequestLine) -> Result<bool, Error>,
    ) -> Result<(), Error> {
        let now = self.now;
        for h in &self.halls {
            let filter = StoreFilter {
                hall: h.clone(),
                status: self.status.clone(),
                category: self.category.clone(),
                made_until_ms: now - self.min_age_days * DAY_MS,
                oldest_first: false,
            };
            let mut cursor = None;
            loop {
                let page = rt.block_on(self.core.projection.requests_page(
                    &filter,
                    cursor.as_ref(),
                    PAGE,
                ))?;
                let full = page.len() == PAGE as usize;
                cursor = page.last().map(|r| (r.kiosk_at_ms, r.id.clone()));
                for r in page {
                    let line = RequestLine {
                        overdue: r.status != "resolved"
                            && now - r.kiosk_at_ms > deadline_days(&r.category) * DAY_MS,
                        phone: self
                            .core
                            .residents
                            .shown(r.pseudonym.as_deref(), r.sealed.as_deref())
                            .masked,
                        assignee: r.assignee,
                        id: r.id,
                        hall: r.hall_id,
                        reference: r.reference,
                        category: r.category,
                        text: r.text,
                        callback: r.callback_consent,
                        status: r.status,
                        reply: r.reply,
                        at: r.kiosk_at_ms,
                    };
                    if (!self.only_overdue || line.overdue) && !each(line)? {
                        return Ok(());
                    }
                }
                if !full {
                    break;
                }
            }
        }
        Ok(())
    }
}

pub async fn show(
    State(state): State<AppState>,
    s: Session,
    Query(f): Query<RequestFilter>,
) -> Result<Response, PageError> {
    let l = s.lang;
    let q = RequestQuery::new(&s, &f, state.core.clone())?;
    let (lines, total) = listing::screenful("listing requests", SCREEN_ROWS, move |rt, each| {
        q.each(rt, each)
    })
    .await?;
    let clocks = HallClocks::load(&state).await?;
    let can_write = s.role != "viewer";
    Ok(page(
        l,
        l.t("诉求台账", "Requests"),
        Some(&s),
        html! {
            form method="get" action="/admin/requests" {
                label { (l.t("服务中心", "Hall")) " " select name="hall" { option value="" { (l.t("全部", "all")) } @for h in &s.halls { option value=(h) selected[f.hall.as_deref() == Some(h.as_str())] { (h) } } } }
                " "
                label { (l.t("状态", "Status")) " " select name="status" { option value="" { (l.t("全部", "all")) } @for st in ["received", "in_progress", "resolved"] { option value=(st) selected[f.status.as_deref() == Some(st)] { (status_label(l, st)) } } } }
                " "
                label { (l.t("类别", "Category")) " " select name="category" { option value="" { (l.t("全部", "all")) } @for c in RequestCategory::ALL { option value=(c.code()) selected[f.category.as_deref() == Some(c.code())] { (category_label(l, c.code())) } } } }
                " " label { (l.t("至少", "At least")) " " input name="min_age_days" size="3" value=(f.min_age_days.clone().unwrap_or_default()); " " (l.t("天前", "days old")) }
                " " label { input type="checkbox" name="overdue" value="1" checked[f.overdue.as_deref() == Some("1")]; " " (l.t("只看逾期", "overdue only")) }
                " " button type="submit" { (l.t("筛选", "Filter")) }
                " " a href={ "/admin/requests.csv?" (f.query_string()) } { (l.t("导出 CSV", "Export CSV")) }
            }
            p #total {
                @if l == Lang::Zh { "共 " (total) " 条" } @else { (total) " requests" }
                @if total > lines.len() {
                    " " (l.t("（此处显示最新的", "(the newest ")) (lines.len()) (l.t(" 条，导出含全部）", " are shown here; the export has all)"))
                }
            }
            table {
                tr { th { (l.t("编号", "Ref")) } th { (l.t("服务中心", "Hall")) } th { (l.t("类别", "Category")) } th { (l.t("内容", "Text")) } th { (l.t("电话", "Phone")) } th { (l.t("时间", "Time")) } th { (l.t("状态与回复", "Status and reply")) } }
                @for r in &lines {
                    tr {
                        td { (r.reference) @if r.overdue { br; strong.err { (l.t("！逾期", "overdue")) } } }
                        td { (r.hall) }
                        td { (category_label(l, &r.category)) br; small { (l.t("时限", "Deadline")) " " (deadline_days(&r.category)) " " (l.t("天", "days")) } }
                        td { (r.text) @if let Some(a) = &r.assignee { br; (l.t("负责人", "Assignee:")) " " (a) } }
                        td {
                            (r.phone.clone().unwrap_or_else(|| "-".into()))
                            @if r.callback && r.phone.is_some() {
                                br; small { (l.t("需回电", "callback wanted")) }
                                @if can_write {
                                    form method="post" action={ "/admin/requests/" (r.id) "/reveal" } {
                                        input type="hidden" name="csrf" value=(s.csrf);
                                        input type="hidden" name="hall" value=(r.hall);
                                        button type="submit" { (l.t("显示完整号码", "Show full number")) }
                                    }
                                }
                            }
                        }
                        td { (clocks.show(&r.hall, r.at)) }
                        td {
                            (status_label(l, &r.status))
                            @if let Some(reply) = &r.reply { br; (l.t("回复：", "Reply: ")) (reply) }
                            @if can_write {
                                form method="post" action={ "/admin/requests/" (r.id) } {
                                    input type="hidden" name="csrf" value=(s.csrf);
                                    input type="hidden" name="hall" value=(r.hall);
                                    input name="assignee" placeholder=(l.t("负责人", "assignee")) maxlength="40" value=(r.assignee.clone().unwrap_or_default());
                                    br;
                                    select name="status" { @for st in ["received", "in_progress", "resolved"] { option value=(st) selected[r.status == st] { (status_label(l, st)) } } }
                                    br;
                                    textarea name="reply" rows="2" cols="30" maxlength="1000" { (r.reply.clone().unwrap_or_default()) }
                                    br;
                                    button type="submit" { (l.t("保存", "Save")) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response())
}

/// The answer form.
#[derive(Deserialize)]
pub struct AnswerForm {
    csrf: String,
    hall: String,
    status: String,
    reply: Option<String>,
    assignee: Option<String>,
}

pub async fn answer(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    Form(form): Form<AnswerForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&form.csrf)?;
    s.require_write()?;
    s.require_hall(&form.hall)?;
    let status = RequestStatus::from_code(&form.status)?;
    // Check every field before changing anything.
    let assignee = form
        .assignee
        .clone()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty());
    if let Some(a) = &assignee
        && (a.chars().count() > 40 || a.chars().any(char::is_control))
    {
        return Err(Error::BadRequest(
            "负责人最多 40 个字 (assignee: at most 40 characters)".into(),
        )
        .into());
    }
    let before: Option<String> = state
        .core
        .projection
        .request(&form.hall, &id)
        .await?
        .map(|r| format!("{}: {}", r.status, r.reply.unwrap_or_default()));
    let reply = form.reply.clone().filter(|r| !r.trim().is_empty());
    provision::reply_request(
        &state.core,
        &form.hall,
        &id,
        RequestReply {
            status,
            reply: reply.clone(),
            updated_at_ms: now_ms(),
        },
    )
    .await?;
    if let Some(a) = assignee {
        state
            .core
            .projection
            .assign_request(&id, &a, now_ms())
            .await?;
        state
            .core
            .tables
            .audit(&s.user, "assign_request", &id, None, Some(&a), now_ms())
            .await?;
    }
    let after = format!("{}: {}", status.code(), reply.unwrap_or_default());
    s.audit(&state, "answer_request", &id, before, Some(after))
        .await?;
    Ok(Redirect::to(&format!("/admin/requests?hall={}", form.hall)).into_response())
}

/// The reveal form.
#[derive(Deserialize)]
pub struct RevealForm {
    csrf: String,
    hall: String,
}

/// `POST /admin/requests/{id}/reveal`: the whole number of a resident who
/// agreed to a callback, for hall staff and central admins; audited.
pub async fn reveal(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    Form(form): Form<RevealForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&form.csrf)?;
    s.require_write()?;
    s.require_hall(&form.hall)?;
    let Some(found) = state.core.projection.request(&form.hall, &id).await? else {
        return Err(Error::NotFound(format!("request {id}")).into());
    };
    let reference = found.reference;
    let sealed = match found.sealed {
        Some(s) if found.callback_consent => s,
        _ => {
            return Err(Error::Forbidden(
                "居民未同意回电 (the resident did not ask to be called back)".into(),
            )
            .into());
        }
    };
    let number = state.core.residents.reveal(&sealed).map_err(|_| {
        Error::Config(
            "这条诉求的号码无法打开 (this request's sealed number cannot be opened)".into(),
        )
    })?;
    // Who, when and which request; never the number itself.
    s.audit(
        &state,
        "reveal_phone",
        &id,
        None,
        Some(format!("{} {}", form.hall, reference)),
    )
    .await?;
    let l = s.lang;
    Ok(page(
        l,
        l.t("回电号码", "Callback number"),
        Some(&s),
        html! {
            p { (l.t("诉求编号", "Request")) " " (reference) " · " (form.hall) }
            p #callback-number style="font-size: 2em" { a href={ "tel:" (number) } { (number) } }
            p { small { (l.t("此次查看已记入审计日志。", "This reveal is recorded in the audit log.")) } }
            p { a href={ "/admin/requests?hall=" (form.hall) } { (l.t("返回诉求台账", "Back to requests")) } }
        },
    )
    .into_response())
}

/// One CSV field, quoted when it must be, never read as a formula
/// ([`super::cells::text`]).
pub fn csv_field(s: &str) -> String {
    let s = super::cells::text(s);
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `GET /admin/requests.csv`: every row the same filters match, streamed.
pub async fn csv(
    State(state): State<AppState>,
    s: Session,
    Query(f): Query<RequestFilter>,
) -> Result<Response, PageError> {
    let q = RequestQuery::new(&s, &f, state.core.clone())?;
    let clocks = HallClocks::load(&state).await?;
    s.audit(
        &state,
        "export_requests_csv",
        "requests",
        None,
        Some(f.query_string()),
    )
    .await?;
    let rt = tokio::runtime::Handle::current();
    let body = download::streamed("requests.csv", move |w| {
        let io = |e: std::io::Error| Error::Io {
            context: "sending the export".into(),
            source: e,
        };
        w.write_all("\u{feff}编号,服务中心,类别,内容,电话,时间,状态,回复\r\n".as_bytes())
            .map_err(io)?;
        q.each(&rt, |r| {
            write!(
                w,
                "{},{},{},{},{},{},{},{}\r\n",
                csv_field(&r.reference),
                csv_field(&r.hall),
                csv_field(&r.category),
                csv_field(&r.text),
                csv_field(r.phone.as_deref().unwrap_or("")),
                csv_field(&clocks.show(&r.hall, r.at)),
                csv_field(&r.status),
                csv_field(r.reply.as_deref().unwrap_or(""))
            )
            .map_err(io)?;
            Ok(true)
        })
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"requests.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}
