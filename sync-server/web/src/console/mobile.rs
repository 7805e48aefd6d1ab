//! The resident mobile page, opened from the kiosk's QR code: a phone's
//! own input method for a longer request. No account: submissions are
//! size-limited ([`MAX_BODY`]) and rate-limited, per client address
//! ([`crate::limiters::MAX_PER_ADDRESS`] an hour, so one phone or script cannot fill a
//! hall's quota; the address is the one [`ClientAddr`] names, behind
//! trusted proxies too) and per hall ([`crate::limiters::MAX_PER_WINDOW`] per ten minutes,
//! whatever the addresses); each refusal is a 429 saying when to try
//! again. They land in the hall's web request book — a request book the
//! server writes, projected like a kiosk's, so they appear in the same
//! requests list.

use std::str::FromStr;

use axum::{
    Form,
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use linli_core::{
    docs::requests,
    ids::RecordId,
    model::{Request, RequestCategory},
    phone::PhoneNumber,
};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use linli_sync_engine::{Error, clock::now_ms, provision};

use crate::state::AppState;
use crate::{client::ClientAddr, limiters::Refusal};

/// Largest form body accepted, bytes.
pub const MAX_BODY: usize = 16 * 1024;

const CATEGORIES: [(RequestCategory, &str); 7] = [
    (RequestCategory::Sanitation, "环境卫生"),
    (RequestCategory::Repair, "设施报修"),
    (RequestCategory::Dispute, "邻里纠纷"),
    (RequestCategory::Safety, "治安"),
    (RequestCategory::ServiceSuggestion, "服务建议"),
    (RequestCategory::Idea, "我为社区献一策"),
    (RequestCategory::Other, "其他"),
];

fn mobile_page(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="zh-CN" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) }
                    style { "*{box-sizing:border-box}label{display:block}body{font-family:sans-serif;font-size:20px;margin:16px;background:#fbf8f1;color:#1a1a1a}select,textarea,input,button{font-size:20px;width:100%;max-width:100%;margin:6px 0;padding:8px}button{background:#9e1b1b;color:#fff;border:0;border-radius:6px}.err{color:#9e1b1b}.ok{color:#1b5e20}" }
                }
                body { h1 { (title) } (body) }
            }
        }
        .into_string(),
    )
}

/// The page's query.
#[derive(Deserialize, Default)]
pub struct MobileQuery {
    hall: Option<String>,
    r#ref: Option<String>,
}

/// The form.
#[derive(Deserialize, Default, Clone)]
pub struct MobileForm {
    hall: String,
    r#ref: Option<String>,
    category: String,
    text: String,
    phone: Option<String>,
}

fn form(
    hall: &str,
    reference: Option<&str>,
    f: Option<&MobileForm>,
    error: Option<&str>,
) -> Markup {
    html! {
        @if let Some(r) = reference { p { "补充编号 " strong { (r) } " 的诉求 (adding to request " (r) ")" } }
        @if let Some(e) = error { p.err { (e) } }
        form method="post" action="/m/request" {
            input type="hidden" name="hall" value=(hall);
            @if let Some(r) = reference { input type="hidden" name="ref" value=(r); }
            label { "类别 Category" select name="category" { @for (c, name) in CATEGORIES { option value=(c.code()) selected[f.is_some_and(|f| f.category == c.code())] { (name) } } } }
            label { "内容（500 字以内） What happened" textarea name="text" rows="6" maxlength="500" required { (f.map(|f| f.text.clone()).unwrap_or_default()) } }
            label { "手机号（可不填，填了方便回电） Phone (optional)" input type="tel" name="phone" maxlength="13" value=(f.and_then(|f| f.phone.clone()).unwrap_or_default()); }
            button type="submit" { "提交 Submit" }
        }
    }
}

pub async fn show(
    State(state): State<AppState>,
    Query(q): Query<MobileQuery>,
) -> Result<Response, super::PageError> {
    let hall = q.hall.clone().unwrap_or_default();
    let h = provision::require_hall(&state.core, &hall).await?;
    let reference = q
        .r#ref
        .clone()
        .filter(|r| r.len() <= 12 && r.chars().all(|c| c.is_ascii_alphanumeric()));
    Ok(mobile_page(
        &format!("{} · 意见建议", h.name),
        form(&hall, reference.as_deref(), None, None),
    )
    .into_response())
}

/// The request a form describes, and the number the resident typed (its
/// pseudonym and sealed contact are made by [`resident_of`]).
fn validate(f: &MobileForm) -> Result<(Request, Option<PhoneNumber>), String> {
    let category = RequestCategory::from_code(&f.category)
        .map_err(|_| "请选择类别 (choose a category)".to_string())?;
    let text = f.text.trim();
    if text.is_empty() {
        return Err("请写下内容 (please write something)".into());
    }
    if text.chars().count() > linli_core::model::MAX_REQUEST_CHARS {
        return Err("内容请在 500 字以内 (at most 500 characters)".into());
    }
    let phone = match f.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(
            PhoneNumber::parse(p)
                .map_err(|_| "手机号应为 11 位 (a mobile number has 11 digits)".to_string())?,
        ),
    };
    let reference = f
        .r#ref
        .as_deref()
        .filter(|r| r.len() <= 12 && r.chars().all(|c| c.is_ascii_alphanumeric()));
    let text = match reference {
        Some(r) => format!("[补充 {r}] {text}"),
        None => text.to_string(),
    };
    let request = Request {
        category: category.code().to_string(),
        text,
        callback_consent: phone.is_some(),
        resident: None,
        kiosk_id: String::new(),
        at_ms: now_ms(),
    };
    Ok((request, phone))
}

/// What the request keeps of the resident: the pseudonym kiosks compute
/// too (slow, so on a blocking thread) and the number sealed to the server.
async fn resident_of(
    state: &AppState,
    phone: PhoneNumber,
) -> Result<linli_core::model::ResidentRef, linli_sync_engine::Error> {
    let core = state.core.clone();
    tokio::task::spawn_blocking(move || {
        Ok(linli_core::model::ResidentRef {
            pseudonym: core.residents.pseudonym(&phone)?,
            sealed: core.residents.seal(&linli_core::resident::Contact {
                phone: phone.expose_digits().to_string(),
                name: None,
            })?,
            name_box: None,
        })
    })
    .await
    .map_err(|e| linli_sync_engine::Error::Io {
        context: "pseudonym worker".into(),
        source: std::io::Error::other(e.to_string()),
    })?
}

pub async fn submit(
    State(state): State<AppState>,
    addr: ClientAddr,
    Form(f): Form<MobileForm>,
) -> Result<Response, super::PageError> {
    let hall = provision::require_hall(&state.core, &f.hall).await?;
    let (mut request, phone) = match validate(&f) {
        Ok(r) => r,
        Err(e) => {
            let page = mobile_page(
                &format!("{} · 意见建议", hall.name),
                form(&f.hall, f.r#ref.as_deref(), Some(&f), Some(&e)),
            );
            return Ok((StatusCode::BAD_REQUEST, page).into_response());
        }
    };
    if let Err(refusal) = state.web.web_limiter.allow(&hall.id, addr.0, now_ms()) {
        let message = match refusal {
            Refusal::Address(ms) => {
                let min = (ms + 59_999) / 60_000;
                format!(
                    "这台设备（网络）提交太多了，请 {min} 分钟后再试 (too many submissions from this device or network; try again in {min} minutes)"
                )
            }
            Refusal::Hall => {
                "提交太多了，请过一会儿再试 (too many submissions; try again in a few minutes)"
                    .to_string()
            }
        };
        let page = mobile_page("请稍后再试 Please wait", html! { p.err { (message) } });
        return Ok((StatusCode::TOO_MANY_REQUESTS, page).into_response());
    }
    // After the limit: each pseudonym costs tens of milliseconds on purpose.
    if let Some(phone) = phone {
        request.resident = Some(resident_of(&state, phone).await?);
    }
    let web_kiosk = format!("{}-web", hall.id);
    request.kiosk_id = web_kiosk.clone();
    request.validate()?;
    let tz = hall.time_zone();
    let month = chrono::DateTime::from_timestamp_millis(request.at_ms)
        .unwrap_or_default()
        .with_timezone(&tz)
        .format("%Y-%m")
        .to_string();
    let book = web_book(&state, &hall.id, &web_kiosk, &month).await?;
    let id = RecordId::new();
    let key = id.to_string();
    book.with_document_async(move |d| requests::add_request(d, &key, &request))
        .await
        .map_err(Error::from)??;
    book.confirmed().await?;
    state.core.mark_dirty(book.document_id().clone());
    let reference = id.short_reference();
    Ok(mobile_page(
        "已收到，谢谢您",
        html! { p.ok { "已收到，我们会尽快处理。(Received, thank you.)" } p { "您的编号 Your reference: " strong #reference { (reference) } } },
    )
    .into_response())
}

/// The hall's web request book for a month, made on first use.
async fn web_book(
    state: &AppState,
    hall: &str,
    web_kiosk: &str,
    month: &str,
) -> Result<linli_sync_engine::repos::HallDoc, Error> {
    let meta_key = format!("webbook/{hall}/{month}");
    let existing = state.core.tables.meta(&meta_key).await?;
    if let Some(id) = existing {
        let doc = samod::DocumentId::from_str(&id)
            .map_err(|e| Error::BadRequest(format!("stored web book id: {e}")))?;
        if let Some(h) = state.core.repos.find_in(hall, doc).await? {
            return Ok(h);
        }
    }
    let handle = state
        .core
        .repos
        .create(hall, requests::new_request_book(hall, web_kiosk, month)?)
        .await?;
    let doc = handle.document_id().to_string();
    let tables = &state.core.tables;
    tables.claim_doc(&doc, hall, web_kiosk, now_ms()).await?;
    tables.meta_or_insert(&meta_key, &doc).await?;
    Ok(handle)
}
