//! The console's pages. Each handler takes the [`Session`] (so it is
//! signed in), checks role and hall, validates its form server-side and
//! says what was wrong next to it.

use std::fmt::Write as _;

use axum::{
    Form,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use linli_core::model::{RequestCategory, RequestReply, RequestStatus};
use maud::html;
use rusqlite::params;
use serde::Deserialize;

use super::{PageError, Session, page, session};
use crate::{Error, api::AppState, provision, server::now_ms};

type PageResult = Result<Response, PageError>;

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
}

fn login_page(error: Option<&str>) -> Html<String> {
    page(
        "登录 Sign in",
        None,
        html! {
            @if let Some(e) = error { p.err { (e) } }
            form method="post" action="/admin/login" {
                p { label { "用户名 User " input name="user" autocomplete="username" required; } }
                p { label { "密码 Password " input type="password" name="password" autocomplete="current-password" required; } }
                button type="submit" { "登录 Sign in" }
            }
        },
    )
}

pub async fn login_form() -> Html<String> {
    login_page(None)
}

pub async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> PageResult {
    let now = now_ms();
    let limiter = &state.core.login_limiter;
    if let Some(ms) = limiter.blocked(&form.user, now) {
        let msg = format!(
            "登录失败次数过多，请 {} 分钟后再试 (too many failed sign-ins; wait {} min)",
            ms / 60_000 + 1,
            ms / 60_000 + 1
        );
        return Ok((StatusCode::TOO_MANY_REQUESTS, login_page(Some(&msg))).into_response());
    }
    let user = form.user.clone();
    let found = state.core.db.call(move |db| db.admin_login(&user)).await?;
    let ok =
        matches!(&found, Some((_, Some(hash))) if session::verify_password(hash, &form.password));
    if !ok {
        limiter.fail(&form.user, now);
        tracing::info!("console sign-in failed");
        return Ok((
            StatusCode::UNAUTHORIZED,
            login_page(Some("用户名或密码不对 (wrong user name or password)")),
        )
            .into_response());
    }
    limiter.succeed(&form.user);
    let user = form.user.clone();
    let id = state
        .core
        .db
        .call(move |db| session::create(db, &user, now))
        .await?;
    let u = form.user.clone();
    state
        .core
        .db
        .call(move |db| db.audit(&u, "sign_in", "console", None, None, now))
        .await?;
    let mut resp = Redirect::to("/admin").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&session::set_cookie(&id))
            .map_err(|e| Error::BadRequest(e.to_string()))?,
    );
    Ok(resp)
}

/// A form with only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

impl CsrfForm {
    /// The token.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn logout(
    State(state): State<AppState>,
    s: Session,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    s.check_csrf(&form.csrf)?;
    if let Some(id) = session::cookie(&headers) {
        state
            .core
            .db
            .call(move |db| session::destroy(db, &id))
            .await?;
    }
    let mut resp = Redirect::to("/admin/login").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&session::clear_cookie())
            .map_err(|e| Error::BadRequest(e.to_string()))?,
    );
    Ok(resp)
}

struct HallSummary {
    id: String,
    name: String,
    checkins_today: i64,
    person_times_week: i64,
    person_times_month: i64,
    open_requests: i64,
    kiosks_offline: i64,
}

pub async fn overview(State(state): State<AppState>, s: Session) -> PageResult {
    let connected = state.core.registry.connected_kiosks();
    let halls = s.halls.clone();
    let rows = state
        .core
        .db
        .call(move |db| {
            let now = now_ms();
            let mut out = Vec::new();
            for hall in halls {
                let Some(h) = db.hall(&hall)? else { continue };
                let tz = h.time_zone();
                let today = chrono::DateTime::from_timestamp_millis(now).unwrap_or_default().with_timezone(&tz).date_naive();
                let week = (today - chrono::Duration::days(6)).to_string();
                let month = format!("{}-01", today.format("%Y-%m"));
                let today = today.to_string();
                let offline: Vec<String> = db
                    .kiosks()?
                    .into_iter()
                    .filter(|k| k.hall_id == hall && k.revoked_ms.is_none() && !connected.contains(&k.id))
                    .filter(|k| k.last_seen_ms.is_none_or(|t| now - t > 3_600_000))
                    .map(|k| k.id)
                    .collect();
                let (checkins, week_pt, month_pt, open) = db.with(|c| {
                    let q = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<i64, Error> {
                        c.query_row(sql, p, |r| r.get(0)).map_err(|e| Error::db("overview", e))
                    };
                    Ok((
                        q("SELECT count(*) FROM checkins WHERE hall_id = ?1 AND date = ?2", &[&hall, &today])?,
                        q("SELECT COALESCE(SUM(headcount + companions), 0) FROM checkins WHERE hall_id = ?1 AND date >= ?2", &[&hall, &week])?,
                        q("SELECT COALESCE(SUM(headcount + companions), 0) FROM checkins WHERE hall_id = ?1 AND date >= ?2", &[&hall, &month])?,
                        q("SELECT count(*) FROM requests WHERE hall_id = ?1 AND status != 'resolved'", &[&hall])?,
                    ))
                })?;
                out.push(HallSummary {
                    id: h.id,
                    name: h.name,
                    checkins_today: checkins,
                    person_times_week: week_pt,
                    person_times_month: month_pt,
                    open_requests: open,
                    kiosks_offline: i64::try_from(offline.len()).unwrap_or(0),
                });
            }
            Ok(out)
        })
        .await?;
    Ok(page(
        "今日概览 Overview",
        Some(&s),
        html! {
            table {
                tr { th { "服务中心 Hall" } th { "今日签到 Check-ins today" } th { "本周人次 Person-times (7 days)" } th { "本月人次 This month" } th { "待办诉求 Open requests" } th { "离线超1小时终端 Kiosks offline > 1 h" } }
                @for h in &rows {
                    tr {
                        td { (h.name) " (" (h.id) ")" }
                        td { (h.checkins_today) }
                        td { (h.person_times_week) }
                        td { (h.person_times_month) }
                        td { a href={ "/admin/requests?hall=" (h.id) } { (h.open_requests) } }
                        td { (h.kiosks_offline) }
                    }
                }
            }
        },
    )
    .into_response())
}

fn fmt_ms(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| {
            t.with_timezone(&chrono_tz::Asia::Shanghai)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "-".into())
}

async fn kiosks_page(
    state: &AppState,
    s: &Session,
    notice: Option<maud::Markup>,
    error: Option<String>,
) -> PageResult {
    let kiosks = state.core.db.call(|db| db.kiosks()).await?;
    let connected = state.core.registry.connected_kiosks();
    let can_write = s.role != "viewer";
    Ok(page(
        "终端 Kiosks",
        Some(s),
        html! {
            @if let Some(n) = notice { (n) }
            @if let Some(e) = error { p.err { (e) } }
            table {
                tr { th { "编号 Id" } th { "服务中心 Hall" } th { "名称 Name" } th { "状态 State" } th { "最后在线 Last seen" } th { "版本 Version" } th {} }
                @for k in kiosks.iter().filter(|k| s.sees(&k.hall_id)) {
                    tr {
                        td { (k.id) } td { (k.hall_id) } td { (k.name) }
                        td {
                            @if k.revoked_ms.is_some() { "已吊销 revoked" }
                            @else if connected.contains(&k.id) { span.ok { "● 在线 online" } }
                            @else { "○ 离线 offline" }
                        }
                        td { (fmt_ms(if connected.contains(&k.id) { Some(now_ms()) } else { k.last_seen_ms })) }
                        td { (k.app_version.clone().unwrap_or_else(|| "-".into())) }
                        td {
                            @if can_write && k.revoked_ms.is_none() {
                                form method="post" action={ "/admin/kiosks/" (k.id) "/revoke" } {
                                    input type="hidden" name="csrf" value=(s.csrf);
                                    button type="submit" { "吊销 Revoke" }
                                }
                            }
                        }
                    }
                }
            }
            @if can_write {
                h2 { "新增终端 Provision a kiosk" }
                form method="post" action="/admin/kiosks" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    label { "服务中心 Hall " select name="hall" { @for h in &s.halls { option value=(h) { (h) } } } }
                    " "
                    label { "名称 Name " input name="name" maxlength="40" required; }
                    " "
                    button type="submit" { "新增 Provision" }
                }
            }
        },
    )
    .into_response())
}

pub async fn kiosks(State(state): State<AppState>, s: Session) -> PageResult {
    kiosks_page(&state, &s, None, None).await
}

/// The provisioning form.
#[derive(Deserialize)]
pub struct ProvisionForm {
    csrf: String,
    hall: String,
    name: String,
}

pub async fn provision(
    State(state): State<AppState>,
    s: Session,
    headers: HeaderMap,
    Form(form): Form<ProvisionForm>,
) -> PageResult {
    s.check_csrf(&form.csrf)?;
    s.require_write()?;
    s.require_hall(&form.hall)?;
    match provision::add_kiosk(&state.core, &form.hall, &form.name).await {
        Ok((kiosk, token)) => {
            s.audit(&state, "provision_kiosk", &kiosk.id, None, None)
                .await?;
            // The pairing QR code carries the server address and the token,
            // for a phone or scanner at the kiosk.
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1:7878");
            let base = format!("http://{host}/");
            let pairing = format!("{base}#linli-pair?token={token}");
            let qr = qrcode::QrCode::new(pairing.as_bytes())
                .map(|c| {
                    c.render::<qrcode::render::svg::Color<'_>>()
                        .min_dimensions(220, 220)
                        .build()
                })
                .unwrap_or_default();
            let notice = html! {
                p.ok { "终端 " (kiosk.id) " 已新增。配对码只显示这一次 (the token is shown once):" }
                p.token { (token) }
                div { (maud::PreEscaped(qr)) }
            };
            kiosks_page(&state, &s, Some(notice), None).await
        }
        Err(e @ (Error::BadRequest(_) | Error::NotFound(_))) => {
            let page = kiosks_page(&state, &s, None, Some(e.to_string())).await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    s.check_csrf(&form.csrf)?;
    s.require_write()?;
    let kiosk = provision::require_kiosk(&state.core, &id).await?;
    s.require_hall(&kiosk.hall_id)?;
    provision::revoke_kiosk(&state.core, &id).await?;
    s.audit(
        &state,
        "revoke_kiosk",
        &id,
        Some("active".into()),
        Some("revoked".into()),
    )
    .await?;
    Ok(Redirect::to("/admin/kiosks").into_response())
}

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

/// Days a request of a category may stay open before it is overdue.
pub fn deadline_days(category: &str) -> i64 {
    match category {
        "safety" => 1,
        "sanitation" | "repair" => 3,
        "dispute" | "other" => 7,
        _ => 14,
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
    status: String,
    reply: Option<String>,
    at: i64,
}

fn empty_none(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.is_empty())
}

async fn filtered_requests(
    state: &AppState,
    s: &Session,
    f: &RequestFilter,
) -> Result<Vec<RequestLine>, Error> {
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
    let min_age = match empty_none(&f.min_age_days) {
        None => 0,
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|d| (0..=3650).contains(d))
            .ok_or_else(|| {
                Error::BadRequest("min_age_days must be a number of days from 0 to 3650".into())
            })?,
    };
    let only_overdue = empty_none(&f.overdue).is_some();
    let now = now_ms();
    let halls = match hall {
        Some(h) => vec![h],
        None => s.halls.clone(),
    };
    state
        .core
        .db
        .run(move |c| {
            let mut out = Vec::new();
            let mut stmt = c
                .prepare_cached(
                    "SELECT r.record_id, r.hall_id, r.reference, r.category, r.text, r.phone_masked, r.status, r.reply,
                            r.kiosk_at_ms, a.assignee
                     FROM requests r LEFT JOIN request_assignments a ON a.record_id = r.record_id
                     WHERE r.hall_id = ?1 AND (?2 IS NULL OR r.status = ?2) AND (?3 IS NULL OR r.category = ?3)
                       AND r.kiosk_at_ms <= ?4
                     ORDER BY r.kiosk_at_ms DESC",
                )
                .map_err(|e| Error::db("listing requests", e))?;
            for h in &halls {
                let rows = stmt
                    .query_map(params![h, status, category, now - min_age * 86_400_000], |r| {
                        let category: String = r.get(3)?;
                        let status: String = r.get(6)?;
                        let at: i64 = r.get(8)?;
                        Ok(RequestLine {
                            assignee: r.get(9)?,
                            overdue: status != "resolved" && now - at > deadline_days(&category) * 86_400_000,
                            id: r.get(0)?,
                            hall: r.get(1)?,
                            reference: r.get(2)?,
                            category,
                            text: r.get(4)?,
                            phone: r.get(5)?,
                            status,
                            reply: r.get(7)?,
                            at,
                        })
                    })
                    .map_err(|e| Error::db("listing requests", e))?;
                for row in rows {
                    let row = row.map_err(|e| Error::db("listing requests", e))?;
                    if !only_overdue || row.overdue {
                        out.push(row);
                    }
                }
            }
            Ok(out)
        })
        .await
}

fn status_label(code: &str) -> &'static str {
    match code {
        "received" => "已受理 received",
        "in_progress" => "处理中 in progress",
        "resolved" => "已解决 resolved",
        _ => "?",
    }
}

pub async fn requests(
    State(state): State<AppState>,
    s: Session,
    Query(f): Query<RequestFilter>,
) -> PageResult {
    let lines = filtered_requests(&state, &s, &f).await?;
    let can_write = s.role != "viewer";
    let query = format!(
        "hall={}&status={}&category={}",
        f.hall.clone().unwrap_or_default(),
        f.status.clone().unwrap_or_default(),
        f.category.clone().unwrap_or_default()
    );
    Ok(page(
        "诉求台账 Requests",
        Some(&s),
        html! {
            form method="get" action="/admin/requests" {
                label { "服务中心 Hall " select name="hall" { option value="" { "全部 all" } @for h in &s.halls { option value=(h) selected[f.hall.as_deref() == Some(h.as_str())] { (h) } } } }
                " "
                label { "状态 Status " select name="status" { option value="" { "全部 all" } @for st in ["received", "in_progress", "resolved"] { option value=(st) selected[f.status.as_deref() == Some(st)] { (status_label(st)) } } } }
                " "
                label { "类别 Category " select name="category" { option value="" { "全部 all" } @for c in RequestCategory::ALL { option value=(c.code()) selected[f.category.as_deref() == Some(c.code())] { (c.code()) } } } }
                " " label { "至少 At least " input name="min_age_days" size="3" value=(f.min_age_days.clone().unwrap_or_default()); " 天前 days old" }
                " " label { input type="checkbox" name="overdue" value="1" checked[f.overdue.as_deref() == Some("1")]; " 只看逾期 overdue only" }
                " " button type="submit" { "筛选 Filter" }
                " " a href={ "/admin/requests.csv?" (query) } { "导出 CSV" }
            }
            p { "共 " (lines.len()) " 条 (" (lines.len()) " requests)" }
            table {
                tr { th { "编号 Ref" } th { "服务中心 Hall" } th { "类别 Category" } th { "内容 Text" } th { "电话 Phone" } th { "时间 Time" } th { "状态与回复 Status and reply" } }
                @for r in &lines {
                    tr {
                        td { (r.reference) @if r.overdue { br; strong.err { "！逾期 overdue" } } }
                        td { (r.hall) }
                        td { (r.category) br; small { "时限 " (deadline_days(&r.category)) " 天 days" } }
                        td { (r.text) @if let Some(a) = &r.assignee { br; "负责人 Assignee: " (a) } }
                        td { (r.phone.clone().unwrap_or_else(|| "-".into())) }
                        td { (fmt_ms(Some(r.at))) }
                        td {
                            (status_label(&r.status))
                            @if let Some(reply) = &r.reply { br; "回复: " (reply) }
                            @if can_write {
                                form method="post" action={ "/admin/requests/" (r.id) } {
                                    input type="hidden" name="csrf" value=(s.csrf);
                                    input type="hidden" name="hall" value=(r.hall);
                                    input name="assignee" placeholder="负责人 assignee" maxlength="40" value=(r.assignee.clone().unwrap_or_default());
                                    br;
                                    select name="status" { @for st in ["received", "in_progress", "resolved"] { option value=(st) selected[r.status == st] { (status_label(st)) } } }
                                    br;
                                    textarea name="reply" rows="2" cols="30" maxlength="1000" { (r.reply.clone().unwrap_or_default()) }
                                    br;
                                    button type="submit" { "保存 Save" }
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
) -> PageResult {
    s.check_csrf(&form.csrf)?;
    s.require_write()?;
    s.require_hall(&form.hall)?;
    let status = RequestStatus::from_code(&form.status)?;
    let (h, i) = (form.hall.clone(), id.clone());
    let before: Option<String> = state
        .core
        .db
        .run(move |c| {
            use rusqlite::OptionalExtension;
            c.query_row(
                "SELECT status || ': ' || COALESCE(reply, '') FROM requests WHERE hall_id = ?1 AND record_id = ?2",
                [&h, &i],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| Error::db("reading a request", e))
        })
        .await?;
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
    if let Some(a) = form
        .assignee
        .clone()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
    {
        if a.chars().count() > 40 || a.chars().any(char::is_control) {
            return Err(Error::BadRequest(
                "负责人最多 40 个字 (assignee: at most 40 characters)".into(),
            )
            .into());
        }
        let (i, u) = (id.clone(), s.user.clone());
        state
            .core
            .db
            .call(move |db| {
                db.with(|c| {
                    c.execute(
                        "INSERT INTO request_assignments (record_id, assignee, at_ms) VALUES (?1, ?2, ?3)
                         ON CONFLICT (record_id) DO UPDATE SET assignee = excluded.assignee, at_ms = excluded.at_ms",
                        params![i, a, now_ms()],
                    )
                    .map_err(|e| Error::db("assigning a request", e))
                })?;
                db.audit(&u, "assign_request", &i, None, Some(&a), now_ms())
            })
            .await?;
    }
    let after = format!("{}: {}", status.code(), reply.unwrap_or_default());
    s.audit(&state, "answer_request", &id, before, Some(after))
        .await?;
    Ok(Redirect::to(&format!("/admin/requests?hall={}", form.hall)).into_response())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub async fn requests_csv(
    State(state): State<AppState>,
    s: Session,
    Query(f): Query<RequestFilter>,
) -> PageResult {
    let lines = filtered_requests(&state, &s, &f).await?;
    let mut out = String::from("\u{feff}编号,服务中心,类别,内容,电话,时间,状态,回复\r\n");
    for r in &lines {
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{}\r\n",
            csv_field(&r.reference),
            csv_field(&r.hall),
            csv_field(&r.category),
            csv_field(&r.text),
            csv_field(r.phone.as_deref().unwrap_or("")),
            csv_field(&fmt_ms(Some(r.at))),
            csv_field(&r.status),
            csv_field(r.reply.as_deref().unwrap_or(""))
        );
    }
    s.audit(
        &state,
        "export_requests_csv",
        "requests",
        None,
        Some(lines.len().to_string()),
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"requests.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// (when, who, what, target, before, after).
type AuditRow = (i64, String, String, String, Option<String>, Option<String>);

pub async fn audit(State(state): State<AppState>, s: Session) -> PageResult {
    if s.role != "central" {
        return Err(Error::Forbidden("the audit log is for central admins".into()).into());
    }
    let rows: Vec<AuditRow> = state
        .core
        .db
        .run(|c| {
            let mut stmt = c
                .prepare("SELECT at_ms, user, action, target, before, after FROM audit_log ORDER BY id DESC LIMIT 500")
                .map_err(|e| Error::db("reading the audit log", e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
                .map_err(|e| Error::db("reading the audit log", e))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| Error::db("reading the audit log", e))
        })
        .await?;
    Ok(page(
        "操作日志 Audit log",
        Some(&s),
        html! {
            table {
                tr { th { "时间 When" } th { "谁 Who" } th { "操作 What" } th { "对象 Target" } th { "之前 Before" } th { "之后 After" } }
                @for (at, user, action, target, before, after) in &rows {
                    tr { td { (fmt_ms(Some(*at))) } td { (user) } td { (action) } td { (target) } td { (before.clone().unwrap_or_default()) } td { (after.clone().unwrap_or_default()) } }
                }
            }
        },
    )
    .into_response())
}
