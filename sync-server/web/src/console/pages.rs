//! Sign-in, sign-out and the overview. Each handler of the console takes
//! the [`Session`] (so it is signed in), checks role and hall, validates
//! its form server-side and says what was wrong next to it.

use axum::{
    Form,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use maud::html;
use serde::Deserialize;

use super::{Lang, PageError, Session, page, session};
use crate::state::AppState;
use linli_sync_engine::{Error, clock::now_ms};

type PageResult = Result<Response, PageError>;

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
}

fn login_page(l: Lang, error: Option<&str>) -> Html<String> {
    page(
        l,
        l.t("登录", "Sign in"),
        None,
        html! {
            @if let Some(e) = error { p.err { (l.msg(e)) } }
            form method="post" action="/admin/login" {
                p { label { (l.t("用户名", "User")) " " input name="user" autocomplete="username" required; } }
                p { label { (l.t("密码", "Password")) " " input type="password" name="password" autocomplete="current-password" required; } }
                button type="submit" { (l.t("登录", "Sign in")) }
            }
        },
    )
}

pub async fn login_form(l: Lang) -> Html<String> {
    login_page(l, None)
}

pub async fn login(
    State(state): State<AppState>,
    l: Lang,
    Form(form): Form<LoginForm>,
) -> PageResult {
    let now = now_ms();
    let limiter = &state.web.login_limiter;
    if let Some(ms) = limiter.blocked(&form.user, now) {
        let msg = format!(
            "登录失败次数过多，请 {} 分钟后再试 (too many failed sign-ins; wait {} min)",
            ms / 60_000 + 1,
            ms / 60_000 + 1
        );
        return Ok((StatusCode::TOO_MANY_REQUESTS, login_page(l, Some(&msg))).into_response());
    }
    let found = state.core.tables.admin_login(&form.user).await?;
    // One argon2 verification whether or not the name has a password.
    let stored = found.and_then(|(_, hash)| hash);
    let ok = state
        .web
        .passwords
        .verify(stored, form.password.clone())
        .await?;
    if !ok {
        limiter.fail(&form.user, now);
        tracing::info!("console sign-in failed");
        return Ok((
            StatusCode::UNAUTHORIZED,
            login_page(l, Some("用户名或密码不对 (wrong user name or password)")),
        )
            .into_response());
    }
    limiter.succeed(&form.user);
    let id =
        linli_sync_engine::accounts::create_session(&*state.core.tables, &form.user, now).await?;
    state
        .core
        .tables
        .audit(&form.user, "sign_in", "console", None, None, now)
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
        linli_sync_engine::accounts::end_session(&*state.core.tables, &id).await?;
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
    let l = s.lang;
    let connected = state.core.registry.connected_kiosks();
    let now = now_ms();
    let kiosks = state.core.tables.kiosks().await?;
    let mut rows = Vec::new();
    for hall in &s.halls {
        let Some(h) = state.core.tables.hall(hall).await? else {
            continue;
        };
        let today = h.date_at(now);
        let week = (today - chrono::Duration::days(6)).to_string();
        let month = format!("{}-01", today.format("%Y-%m"));
        let offline = kiosks
            .iter()
            .filter(|k| &k.hall_id == hall && k.revoked_ms.is_none() && !connected.contains(&k.id))
            .filter(|k| k.last_seen_ms.is_none_or(|t| now - t > 3_600_000))
            .count();
        let o = state
            .core
            .projection
            .hall_overview(hall, &today.to_string(), &week, &month)
            .await?;
        rows.push(HallSummary {
            id: h.id,
            name: h.name,
            checkins_today: o.checkins_today,
            person_times_week: o.person_times_week,
            person_times_month: o.person_times_month,
            open_requests: o.open_requests,
            kiosks_offline: i64::try_from(offline).unwrap_or(0),
        });
    }
    Ok(page(
        l,
        l.t("今日概览", "Overview"),
        Some(&s),
        html! {
            table {
                tr { th { (l.t("服务中心", "Hall")) } th { (l.t("今日签到", "Check-ins today")) } th { (l.t("本周人次", "Person-times (7 days)")) } th { (l.t("本月人次", "This month")) } th { (l.t("待办诉求", "Open requests")) } th { (l.t("离线超1小时终端", "Kiosks offline > 1 h")) } }
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
