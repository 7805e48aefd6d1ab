//! The kiosks page: every kiosk of the admin's halls with its state, app
//! version, last contact, what it delivered today and what was refused
//! (sync errors); provisioning (the token shown once, with the pairing link
//! as text and as a QR code: over TLS it is `https://` and names the
//! certificate kiosks pin, so scanning it is all a kiosk needs) and
//! revocation.

use axum::{
    Form,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use maud::html;
use serde::Deserialize;

use super::{Lang, PageError, Session, page, pages::CsrfForm};
use crate::state::AppState;
use linli_core::{pairing_link::PairingLink, tls::Fingerprint};
use linli_sync_engine::{Error, clock::now_ms, db, provision};
use linli_sync_engine::{db::Hall, projection_tables::KioskDay};

type PageResult = Result<Response, PageError>;

/// A kiosk row: the kiosk, its hall's clock, what it delivered today.
struct KioskRow {
    kiosk: db::Kiosk,
    tz: chrono_tz::Tz,
    day: KioskDay,
}

fn fmt_ms(tz: chrono_tz::Tz, ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

async fn kiosks_page(
    state: &AppState,
    s: &Session,
    notice: Option<maud::Markup>,
    error: Option<String>,
) -> PageResult {
    let l = s.lang;
    let halls = s.halls.clone();
    let now = now_ms();
    let all_halls: std::collections::HashMap<String, Hall> = state
        .core
        .tables
        .halls()
        .await?
        .into_iter()
        .map(|h| (h.id.clone(), h))
        .collect();
    let mut rows: Vec<KioskRow> = Vec::new();
    for kiosk in state
        .core
        .tables
        .kiosks()
        .await?
        .into_iter()
        .filter(|k| halls.contains(&k.hall_id))
    {
        let Some(hall) = all_halls.get(&kiosk.hall_id) else {
            continue;
        };
        let since = hall.day_start_ms(hall.date_at(now));
        let day = state.core.projection.kiosk_day(&kiosk.id, since).await?;
        rows.push(KioskRow {
            kiosk,
            tz: hall.time_zone(),
            day,
        });
    }
    let connected = state.core.registry.connected_kiosks();
    let can_write = s.role != "viewer";
    Ok(page(
        l,
        l.t("终端", "Kiosks"),
        Some(s),
        html! {
            @if let Some(n) = notice { (n) }
            @if let Some(e) = error { p.err { (l.msg(&e)) } }
            table {
                tr { th { (l.t("编号", "Id")) } th { (l.t("服务中心", "Hall")) } th { (l.t("名称", "Name")) } th { (l.t("状态", "State")) } th { (l.t("最后在线", "Last seen")) } th { (l.t("版本", "Version")) } th { (l.t("今日收到记录", "Records today")) } th { (l.t("今日同步错误", "Sync errors today")) } th {} }
                @for KioskRow { kiosk: k, tz, day } in &rows {
                    tr id={ "kiosk-" (k.id) } {
                        td { (k.id) } td { (k.hall_id) } td { (k.name) }
                        td {
                            @if k.revoked_ms.is_some() { (l.t("已吊销", "revoked")) }
                            @else if connected.contains(&k.id) { span.ok { (l.t("● 在线", "online")) } }
                            @else { (l.t("○ 离线", "offline")) }
                        }
                        td { (fmt_ms(*tz, if connected.contains(&k.id) { Some(now_ms()) } else { k.last_seen_ms })) }
                        td { (k.app_version.clone().unwrap_or_else(|| "-".into())) }
                        td.records { (day.records) }
                        td.errors {
                            (day.sync_errors)
                            @if let Some(reason) = &day.last_error { br; small.err { (reason) } }
                        }
                        td {
                            @if can_write && k.revoked_ms.is_none() {
                                form method="post" action={ "/admin/kiosks/" (k.id) "/revoke" } {
                                    input type="hidden" name="csrf" value=(s.csrf);
                                    button type="submit" { (l.t("吊销", "Revoke")) }
                                }
                            }
                        }
                    }
                }
            }
            @if can_write {
                h2 { (l.t("新增终端", "Provision a kiosk")) }
                form method="post" action="/admin/kiosks" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    label { (l.t("服务中心", "Hall")) " " select name="hall" { @for h in &s.halls { option value=(h) { (h) } } } }
                    " "
                    label { (l.t("名称", "Name")) " " input name="name" maxlength="40" required; }
                    " "
                    button type="submit" { (l.t("新增", "Provision")) }
                }
            }
        },
    )
    .into_response())
}

pub async fn show(State(state): State<AppState>, s: Session) -> PageResult {
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
    let l = s.lang;
    s.check_csrf(&form.csrf)?;
    s.require_write()?;
    s.require_hall(&form.hall)?;
    match provision::add_kiosk(&state.core, &form.hall, &form.name).await {
        Ok((kiosk, token)) => {
            s.audit(&state, "provision_kiosk", &kiosk.id, None, None)
                .await?;
            let link = pairing_link(&headers, &token, state.web.pairing_ca());
            let qr = qrcode::QrCode::new(link.as_bytes())
                .map(|c| {
                    c.render::<qrcode::render::svg::Color<'_>>()
                        .min_dimensions(220, 220)
                        .build()
                })
                .unwrap_or_default();
            let notice = html! {
                p.ok {
                    @if l == Lang::Zh { "终端 " (kiosk.id) " 已新增。配对码只显示这一次：" }
                    @else { "Kiosk " (kiosk.id) " provisioned. The token is shown only this once:" }
                }
                p.token { (token) }
                div { (maud::PreEscaped(qr)) }
                p {
                    (l.t("配对链接（在终端配对页扫码或输入）：", "Pairing link (scan or type it on the kiosk's pairing screen):"))
                    br;
                    code.pairing-link { (link) }
                }
                @if let Some(ca) = state.web.pairing_ca() {
                    p.fingerprint {
                        (l.t(
                            "终端将只信任这张证书（SHA-256 指纹，应与 linli-server tls init 显示的一致）：",
                            "The kiosk will trust only this certificate (SHA-256 fingerprint; it should match what linli-server tls init printed):",
                        ))
                        br;
                        code { (ca.to_colon_hex()) }
                    }
                }
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

/// The pairing link for `token`, at the address the admin reached the
/// console by: `https://…` with the fingerprint of the certificate kiosks
/// pin when the server serves TLS, else `http://…`
/// ([`linli_core::pairing_link`]).
fn pairing_link(headers: &HeaderMap, token: &str, ca: Option<&Fingerprint>) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:7878");
    let scheme = if ca.is_some() { "https" } else { "http" };
    // A Host header that is no host: the default address, which the
    // admin can correct on the kiosk.
    let server = url::Url::parse(&format!("{scheme}://{host}/")).unwrap_or_else(|_| {
        url::Url::parse(&format!("{scheme}://127.0.0.1:7878/"))
            .expect("a fixed http(s) address parses")
    });
    PairingLink::format(&server, token, ca)
}

pub async fn revoke(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    s.check_csrf(form.csrf())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, value.parse().expect("a header value"));
        headers
    }

    #[test]
    fn the_link_is_https_with_the_fingerprint_only_when_tls_is_on() {
        let ca = Fingerprint::of(b"the office CA");
        let tls = pairing_link(&host("10.0.0.5:7878"), "lk_abc", Some(&ca));
        assert_eq!(
            tls,
            format!(
                "https://10.0.0.5:7878/#linli-pair?token=lk_abc&ca={}",
                ca.to_link_form()
            )
        );
        let plain = pairing_link(&host("10.0.0.5:7878"), "lk_abc", None);
        assert_eq!(plain, "http://10.0.0.5:7878/#linli-pair?token=lk_abc");
        // What the kiosk reads back out of it.
        let read = PairingLink::parse(&tls).expect("a link");
        assert_eq!(read.ca, Some(ca));
        assert_eq!(read.token.as_deref(), Some("lk_abc"));
        // A Host header that is no host gives the default address.
        let odd = pairing_link(&host("a b"), "lk_abc", None);
        assert!(odd.starts_with("http://127.0.0.1:7878/#"), "{odd}");
    }
}
