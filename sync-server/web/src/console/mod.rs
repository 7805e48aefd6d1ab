//! The admin console: server-rendered HTML from this binary (maud
//! templates, every byte embedded, nothing from a CDN), behind a signed-in
//! session with roles and per-hall access. Every page checks the session,
//! the role and the hall; every form carries the session's CSRF token;
//! every admin action lands in the audit log.
//!
//! - [`session`]: passwords, sessions, CSRF, sign-in limits.
//! - [`lang`]: the Chinese/English switch.
//! - `pages`: sign-in, sign-out and the overview.
//! - `password`: changing one's own password (ends one's other sessions).
//! - `kiosks`: the kiosks page, provisioning and revocation.
//! - [`requests`]: 诉求台账 with its filters, answers and CSV export.
//! - `audit`: the audit log and its export.
//! - `residents`: erasing a resident on request (central admins).
//! - `calendar`: the activity calendar page.
//! - `services`: the walk-in services a hall's kiosks offer.
//! - [`mobile`]: the resident mobile page behind the kiosk's QR code.
//! - [`stats`]: statistics with charts (vendored ECharts).
//! - [`export`]: the XLSX workbook.
//! - [`cells`]: export cells safe against formula injection.
//! - [`download`]: streaming large downloads.
//! - [`clock`]: times on each hall's own clock.
//! - [`volunteers`]: hours, points and the points catalogue.

mod audit;
mod calendar;
pub mod cells;
pub mod clock;
pub mod download;
pub mod export;
mod kiosks;
pub mod lang;
mod listing;
pub mod mobile;
mod pages;
mod password;
pub mod redemptions;
pub mod requests;
mod residents;
mod services;
pub mod session;
pub mod stats;
pub mod volunteers;

use axum::{
    Router,
    extract::FromRequestParts,
    http::{StatusCode, request::Parts},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use maud::{DOCTYPE, Markup, html};

pub use self::{lang::Lang, session::Session};
use crate::state::AppState;
use linli_sync_engine::{Error, clock::now_ms};

/// The console's routes, under `/admin`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/login", get(pages::login_form).post(pages::login))
        .route("/admin/logout", post(pages::logout))
        .route(
            "/admin/password",
            get(password::show).post(password::change),
        )
        .route("/admin/lang/{code}", get(lang::switch))
        .route("/admin", get(pages::overview))
        .route("/admin/kiosks", get(kiosks::show).post(kiosks::provision))
        .route("/admin/kiosks/{id}/revoke", post(kiosks::revoke))
        .route("/admin/requests", get(requests::show))
        .route("/admin/requests.csv", get(requests::csv))
        .route("/admin/requests/{id}", post(requests::answer))
        .route("/admin/requests/{id}/reveal", post(requests::reveal))
        .route("/admin/residents", get(residents::show))
        .route("/admin/residents/erase", post(residents::erase))
        .route("/admin/audit", get(audit::show))
        .route("/admin/audit.csv", get(audit::csv))
        .route(
            "/m/request",
            get(mobile::show)
                .post(mobile::submit)
                .layer(axum::extract::DefaultBodyLimit::max(mobile::MAX_BODY)),
        )
        .route("/admin/stats", get(stats::show))
        .route("/admin/volunteers", get(volunteers::show))
        .route("/admin/volunteers/catalogue", post(volunteers::save_item))
        .route("/admin/volunteers/rules", post(volunteers::save_rules))
        .route("/admin/export.xlsx", get(export::xlsx))
        .route("/admin/redemptions.csv", get(redemptions::csv))
        .route("/admin/assets/echarts.min.js", get(stats::echarts))
        .route("/admin/assets/stats.js", get(stats::charts))
        .route("/admin/calendar", get(calendar::show))
        .route("/admin/calendar/{hall}", post(calendar::save))
        .route("/admin/calendar/{hall}/{id}/cancel", post(calendar::cancel))
        .route("/admin/services", get(services::show))
        .route("/admin/services/{hall}", post(services::save))
        .route("/admin/services/{hall}/{id}/retire", post(services::retire))
}

const CSS: &str = "
body{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:0;background:#fbf8f1;color:#1a1a1a;font-size:17px}
header{background:#9e1b1b;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}header .lang{margin-left:auto}
main{padding:20px;max-width:1200px}table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #d8d2c4;padding:6px 8px;text-align:left;vertical-align:top}th{background:#efe9dc}
.err{color:#9e1b1b;font-weight:600}.ok{color:#1b5e20;font-weight:600}button{padding:6px 14px}
input,select,textarea{font-size:16px;padding:4px}.token{font-family:monospace;font-size:15px;background:#fff;padding:8px;border:2px solid #1b5e20;word-break:break-all}
";

/// A whole page in the reader's language `l`.
pub fn page(l: Lang, title: &str, session: Option<&Session>, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang=(l.html_lang()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · " (l.t("邻里", "Linli")) }
                    style { (maud::PreEscaped(CSS)) }
                }
                body {
                    header {
                        strong { (l.t("邻里", "Linli")) }
                        @if session.is_some() {
                            a href="/admin" { (l.t("概览", "Overview")) }
                            a href="/admin/kiosks" { (l.t("终端", "Kiosks")) }
                            a href="/admin/calendar" { (l.t("活动日历", "Calendar")) }
                            a href="/admin/services" { (l.t("到访服务", "Walk-in services")) }
                            a href="/admin/requests" { (l.t("诉求台账", "Requests")) }
                            a href="/admin/stats" { (l.t("统计", "Statistics")) }
                            a href="/admin/volunteers" { (l.t("志愿者", "Volunteers")) }
                            a href="/admin/audit" { (l.t("操作日志", "Audit")) }
                            @if session.is_some_and(|s| s.role == "central") {
                                a href="/admin/residents" { (l.t("居民信息删除", "Erase a resident")) }
                            }
                        }
                        span.lang {
                            a href="/admin/lang/zh" lang="zh-CN" { "中文" }
                            " | "
                            a href="/admin/lang/en" lang="en" { "English" }
                        }
                        @if let Some(s) = session {
                            form method="post" action="/admin/logout" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                span { (s.user) " (" (s.role) ") " }
                                a href="/admin/password" { (l.t("修改密码", "Password")) } " "
                                button type="submit" { (l.t("退出", "Sign out")) }
                            }
                        }
                    }
                    main { h1 { (title) } (body) }
                }
            }
        }
        .into_string(),
    )
}

/// A refusal as a page (the JSON API has its own form).
pub struct PageError(pub Error);

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        PageError(e)
    }
}

impl From<linli_core::Error> for PageError {
    fn from(e: linli_core::Error) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Core(e) if matches!(**e, linli_core::Error::Invalid { .. }) => {
                StatusCode::BAD_REQUEST
            }
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Conflict(_) => StatusCode::CONFLICT,
            _ => {
                tracing::error!(error = %self.0, "console request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let msg = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "服务器出错，已记录，请稍后再试 (server error, logged; try again later)".to_string()
        } else {
            self.0.to_string()
        };
        (
            status,
            // An error page is shown in both languages: the handler that
            // failed may not have known the reader's.
            page(
                Lang::Zh,
                "出错了 Error",
                None,
                html! { p.err { (msg) } p { a href="/admin" { "返回 Back" } } },
            ),
        )
            .into_response()
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(id) = session::cookie(&parts.headers) else {
            return Err(Redirect::to("/admin/login").into_response());
        };
        match session::lookup(&*state.core.tables, &id, now_ms()).await {
            Ok(Some(s)) => Ok(Session {
                lang: Lang::from_headers(&parts.headers),
                ..s
            }),
            Ok(None) => Err(Redirect::to("/admin/login").into_response()),
            Err(e) => Err(PageError(e).into_response()),
        }
    }
}
