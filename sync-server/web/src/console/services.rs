//! The walk-in services page: the everyday services (办事, 咨询, 医保办理,
//! …) a hall's kiosks offer under 到访/办事, for visits that need no
//! activity. Staff add, rename and retire them; they are written into the
//! hall calendar document, so they reach the kiosks by sync like the
//! activities do. A retired service leaves the kiosk but keeps its name in
//! statistics and exports of the visits it had.

use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use linli_core::model::{MAX_SERVICE_NAME_CHARS, MAX_SERVICES, MAX_SHORT_CHARS, WalkInService};
use maud::html;
use serde::Deserialize;

use super::{PageError, Session, page};
use crate::state::AppState;
use linli_sync_engine::{Error, provision};

/// Which hall, and which service is being edited.
#[derive(Deserialize, Default)]
pub struct ServicesQuery {
    hall: Option<String>,
    edit: Option<String>,
}

/// The add/rename form.
#[derive(Deserialize, Default, Clone)]
pub struct ServiceForm {
    csrf: String,
    id: Option<String>,
    name: String,
    name_en: Option<String>,
}

/// The form as a service (position and retirement are kept by
/// [`provision::put_service`] and [`retire`]), or what is wrong with it.
fn parse(form: &ServiceForm) -> Result<WalkInService, String> {
    let name = form.name.trim();
    if name.is_empty() {
        return Err("请填写服务名称 (a name is needed)".into());
    }
    if name.chars().count() > MAX_SERVICE_NAME_CHARS {
        return Err(format!(
            "名称最多 {MAX_SERVICE_NAME_CHARS} 个字 (at most {MAX_SERVICE_NAME_CHARS} characters)"
        ));
    }
    let name_en = form
        .name_en
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if name_en.is_some_and(|n| n.chars().count() > MAX_SHORT_CHARS) {
        return Err(format!(
            "英文名称最多 {MAX_SHORT_CHARS} 个字符 (English name: at most {MAX_SHORT_CHARS} characters)"
        ));
    }
    let service = WalkInService {
        name: name.to_string(),
        name_en: name_en.map(str::to_string),
        position: 0,
        retired: false,
    };
    service
        .validate()
        .map_err(|e| format!("名称不符合要求 ({e})"))?;
    Ok(service)
}

async fn render(
    state: &AppState,
    s: &Session,
    q: &ServicesQuery,
    form: Option<&ServiceForm>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let hall_id = q
        .hall
        .clone()
        .filter(|h| !h.is_empty())
        .or_else(|| s.halls.first().cloned())
        .ok_or_else(|| Error::Forbidden("no hall is yours".into()))?;
    s.require_hall(&hall_id)?;
    let hall = provision::require_hall(&state.core, &hall_id).await?;
    let services = provision::services(&state.core, &hall_id).await?;
    let editing = q
        .edit
        .as_ref()
        .and_then(|id| services.iter().find(|(i, _)| i == id));
    let prefill = form.cloned().unwrap_or_else(|| match editing {
        Some((id, service)) => ServiceForm {
            id: Some(id.clone()),
            name: service.name.clone(),
            name_en: service.name_en.clone(),
            ..ServiceForm::default()
        },
        None => ServiceForm::default(),
    });
    let can_write = s.role != "viewer";
    let l = s.lang;
    let body = html! {
        form method="get" action="/admin/services" {
            label { (l.t("服务中心", "Hall")) " " select name="hall" { @for h in &s.halls { option value=(h) selected[*h == hall_id] { (h) } } } }
            " " button type="submit" { (l.t("显示", "Show")) }
        }
        h2 { (hall.name) " · " (l.t("到访服务项目", "Walk-in services")) }
        p { (l.t(
            "居民不参加活动、来中心办事时，在终端“签到 → 到访/办事”里选这些项目登记，计入服务人次。停用的项目不再出现在终端上，已有的记录仍按原名统计。",
            "Residents who come in for an everyday service rather than an activity register under “Check in → Walk-in services” at the kiosk, choosing one of these; each visit counts as person-times. A retired service leaves the kiosk; its past visits keep its name."
        )) }
        table #services {
            tr { th { (l.t("名称", "Name")) } th { (l.t("英文名称", "English name")) } th { (l.t("状态", "Status")) } th {} }
            @for (id, service) in &services {
                tr {
                    td { @if service.retired { s { (service.name) } } @else { (service.name) } }
                    td { (service.name_en.clone().unwrap_or_default()) }
                    td { @if service.retired { (l.t("已停用", "retired")) } @else { (l.t("在用", "offered")) } }
                    td {
                        @if can_write {
                            a href={ "/admin/services?hall=" (hall_id) "&edit=" (id) } { (l.t("改名", "Rename")) }
                            form method="post" action={ "/admin/services/" (hall_id) "/" (id) "/retire" } {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button type="submit" { @if service.retired { (l.t("恢复", "Offer again")) } @else { (l.t("停用", "Retire")) } }
                            }
                        }
                    }
                }
            }
        }
        @if can_write {
            h2 { @if prefill.id.is_some() { (l.t("修改服务项目", "Rename a service")) } @else { (l.t("新增服务项目", "New service")) } }
            @if let Some(e) = &error { p.err { (l.msg(e)) } }
            @if prefill.id.is_none() && services.len() >= MAX_SERVICES {
                p { (l.t("项目已达上限，请先停用或改名已有项目。", "The list is full: rename a service instead.")) }
            } @else {
                form method="post" action={ "/admin/services/" (hall_id) } {
                    input type="hidden" name="csrf" value=(s.csrf);
                    @if let Some(id) = &prefill.id { input type="hidden" name="id" value=(id); }
                    p { label { (l.t("名称", "Name")) " " input name="name" maxlength=(MAX_SERVICE_NAME_CHARS) value=(prefill.name) required; } }
                    p { label { (l.t("英文名称（可不填）", "English name (optional)")) " " input name="name_en" maxlength=(MAX_SHORT_CHARS) value=(prefill.name_en.clone().unwrap_or_default()); } }
                    button type="submit" { (l.t("保存", "Save")) }
                }
            }
        }
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        page(l, l.t("到访服务", "Walk-in services"), Some(s), body),
    )
        .into_response())
}

/// `GET /admin/services`.
pub async fn show(
    State(state): State<AppState>,
    s: Session,
    Query(q): Query<ServicesQuery>,
) -> Result<Response, PageError> {
    render(&state, &s, &q, None, None).await
}

/// `POST /admin/services/{hall}`: add a service, or rename one.
pub async fn save(
    State(state): State<AppState>,
    s: Session,
    Path(hall_id): Path<String>,
    Form(form): Form<ServiceForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&form.csrf)?;
    s.require_write()?;
    s.require_hall(&hall_id)?;
    let q = ServicesQuery {
        hall: Some(hall_id.clone()),
        edit: None,
    };
    let mut service = match parse(&form) {
        Ok(v) => v,
        Err(e) => return render(&state, &s, &q, Some(&form), Some(e)).await,
    };
    let id = form.id.clone().filter(|i| !i.is_empty());
    let existing = provision::services(&state.core, &hall_id).await?;
    let before = match &id {
        Some(i) => {
            let (_, old) = existing
                .iter()
                .find(|(x, _)| x == i)
                .ok_or_else(|| Error::NotFound(format!("service {i}")))?;
            service.retired = old.retired;
            Some(serde_json::to_string(old).unwrap_or_default())
        }
        None if existing.len() >= MAX_SERVICES => {
            let e = format!(
                "项目已达上限 {MAX_SERVICES} 个 (a hall lists at most {MAX_SERVICES} services)"
            );
            return render(&state, &s, &q, Some(&form), Some(e)).await;
        }
        None => None,
    };
    let action = if id.is_some() {
        "edit_service"
    } else {
        "create_service"
    };
    let after = serde_json::to_string(&service).unwrap_or_default();
    let saved = provision::put_service(&state.core, &hall_id, id, service).await?;
    s.audit(&state, action, &saved, before, Some(after)).await?;
    Ok(Redirect::to(&format!("/admin/services?hall={hall_id}")).into_response())
}

/// `POST /admin/services/{hall}/{id}/retire`: retire a service, or offer
/// it again.
pub async fn retire(
    State(state): State<AppState>,
    s: Session,
    Path((hall_id, id)): Path<(String, String)>,
    Form(form): Form<super::pages::CsrfForm>,
) -> Result<Response, PageError> {
    s.check_csrf(form.csrf())?;
    s.require_write()?;
    s.require_hall(&hall_id)?;
    let (_, mut service) = provision::services(&state.core, &hall_id)
        .await?
        .into_iter()
        .find(|(x, _)| *x == id)
        .ok_or_else(|| Error::NotFound(format!("service {id}")))?;
    let state_name = |retired: bool| if retired { "retired" } else { "offered" };
    let before = state_name(service.retired);
    service.retired = !service.retired;
    let after = state_name(service.retired);
    provision::put_service(&state.core, &hall_id, Some(id.clone()), service).await?;
    s.audit(
        &state,
        "retire_service",
        &id,
        Some(before.into()),
        Some(after.into()),
    )
    .await?;
    Ok(Redirect::to(&format!("/admin/services?hall={hall_id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(name: &str, en: Option<&str>) -> ServiceForm {
        ServiceForm {
            name: name.into(),
            name_en: en.map(Into::into),
            ..ServiceForm::default()
        }
    }

    #[test]
    fn the_form_is_trimmed_and_bad_names_are_said_in_both_languages() {
        let s = parse(&form("  老年证办理 ", Some(" "))).expect("fits");
        assert_eq!(s.name, "老年证办理");
        assert_eq!(s.name_en, None, "a blank English name is none");
        for (bad, says) in [
            ("", "name is needed"),
            (&"证".repeat(MAX_SERVICE_NAME_CHARS + 1), "at most"),
            ("办\u{7}事", "名称不符合要求"),
        ] {
            let e = parse(&form(bad, None)).expect_err("bad");
            assert!(e.contains(says) && e.contains(" ("), "{e}");
        }
        let e = parse(&form("办事", Some(&"x".repeat(MAX_SHORT_CHARS + 1)))).expect_err("long");
        assert!(e.contains("English name"), "{e}");
    }
}
