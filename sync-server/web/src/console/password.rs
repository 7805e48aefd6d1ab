//! Changing one's own console password (`/admin/password`), for every
//! role. The current password is checked like a sign-in (one argon2
//! verification off the async workers, counted against the same failure
//! limit, so a session left open cannot be used to guess it); the change
//! ends every other session of that admin and keeps this one
//! ([`linli_sync_engine::accounts::change_password`]), so whoever knew the old password is
//! signed out everywhere. `linli-server admin password` ends them all.

use axum::{
    Form,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
};
use maud::html;
use serde::Deserialize;

use super::{Lang, PageError, Session, page, session};
use crate::state::AppState;
use linli_sync_engine::{Error, clock::now_ms};

/// The form.
#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
    repeat: String,
}

fn password_page(l: Lang, s: &Session, error: Option<&str>, done: Option<usize>) -> Html<String> {
    page(
        l,
        l.t("修改密码", "Change password"),
        Some(s),
        html! {
            @if let Some(e) = error { p.err { (l.msg(e)) } }
            @if let Some(n) = done {
                p.ok {
                    (l.t("密码已修改。", "Password changed."))
                    " "
                    @if n > 0 {
                        (l.t("其他登录已退出：", "Other sessions signed out: ")) (n)
                    } @else {
                        (l.t("没有其他登录。", "There were no other sessions."))
                    }
                }
            }
            form method="post" action="/admin/password" {
                input type="hidden" name="csrf" value=(s.csrf);
                p { label { (l.t("当前密码", "Current password")) " " input type="password" name="current" autocomplete="current-password" required; } }
                p { label { (l.t("新密码（至少 8 个字符）", "New password (at least 8 characters)")) " " input type="password" name="new" autocomplete="new-password" minlength=(linli_sync_engine::accounts::MIN_PASSWORD) required; } }
                p { label { (l.t("再输入一次", "Repeat it")) " " input type="password" name="repeat" autocomplete="new-password" required; } }
                button type="submit" { (l.t("修改密码", "Change password")) }
            }
        },
    )
}

/// `GET /admin/password`.
pub async fn show(s: Session) -> Html<String> {
    password_page(s.lang, &s, None, None)
}

/// `POST /admin/password`.
pub async fn change(
    State(state): State<AppState>,
    s: Session,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&form.csrf)?;
    let l = s.lang;
    let refuse =
        |status, msg: &str| Ok((status, password_page(l, &s, Some(msg), None)).into_response());
    let now = now_ms();
    let limiter = &state.web.login_limiter;
    if limiter.blocked(&s.user, now).is_some() {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "密码错误次数过多，请稍后再试 (too many wrong passwords; try again later)",
        );
    }
    if form.new != form.repeat {
        return refuse(
            StatusCode::BAD_REQUEST,
            "两次输入的新密码不一样 (the new password and its repetition differ)",
        );
    }
    if form.new.chars().count() < linli_sync_engine::accounts::MIN_PASSWORD {
        return refuse(
            StatusCode::BAD_REQUEST,
            "新密码至少 8 个字符 (a new password needs at least 8 characters)",
        );
    }
    let stored = state
        .core
        .tables
        .admin_login(&s.user)
        .await?
        .and_then(|(_, hash)| hash);
    if !state.web.passwords.verify(stored, form.current).await? {
        limiter.fail(&s.user, now);
        tracing::info!("console password change refused: wrong current password");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "当前密码不对 (the current password is wrong)",
        );
    }
    limiter.succeed(&s.user);
    let hash = linli_sync_engine::accounts::hash_password_async(form.new).await?;
    let keep = session::cookie(&headers)
        .ok_or_else(|| Error::BadRequest("the session cookie went missing".into()))?;
    let ended = linli_sync_engine::accounts::change_password(
        &*state.core.tables,
        &s.user,
        &hash,
        Some(&keep),
    )
    .await?;
    s.audit(
        &state,
        "change_password",
        "console",
        None,
        Some(format!("{ended} other sessions ended")),
    )
    .await?;
    Ok(password_page(l, &s, None, Some(ended)).into_response())
}
