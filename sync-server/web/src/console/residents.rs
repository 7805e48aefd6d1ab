//! Erasing a resident on request (central admins only): `GET
//! /admin/residents` asks for the number, `POST /admin/residents/erase`
//! first says what is stored of them and asks to confirm, then erases
//! (see [`linli_sync_engine::erasure`]) and audits who did it. The number is never
//! shown back, logged or written to the audit log.

use axum::{
    extract::{Form, State},
    response::Html,
};
use linli_core::phone::PhoneNumber;
use maud::html;
use serde::Deserialize;

use super::{PageError, Session, page};
use crate::state::AppState;
use linli_sync_engine::{Error, erasure};

fn require_central(s: &Session) -> Result<(), PageError> {
    Ok(s.require_central("erasing a resident")?)
}

/// `GET /admin/residents`: the erase form.
pub async fn show(s: Session) -> Result<Html<String>, PageError> {
    require_central(&s)?;
    let l = s.lang;
    Ok(page(
        l,
        l.t("删除居民个人信息", "Erase a resident"),
        Some(&s),
        html! {
            p { (l.t(
                "居民要求删除其个人信息时使用。删除后，各服务中心的记录不再含有其号码和称呼，也不再彼此关联；到访人次和统计不变。各终端在下次同步时删除其副本。",
                "For a resident who asks for their personal information to be deleted. Afterwards no record at any hall holds their number or name, nor links to their other records; visit counts and statistics stay. Each kiosk deletes its copies at its next sync."
            )) }
            form #erase-form method="post" action="/admin/residents/erase" {
                input type="hidden" name="csrf" value=(s.csrf);
                label { (l.t("手机号", "Mobile number")) " "
                    input #erase-phone type="tel" name="phone" inputmode="numeric" autocomplete="off" maxlength="20" required;
                }
                " "
                button #erase-find type="submit" { (l.t("查找", "Find")) }
            }
        },
    ))
}

/// The erase form's fields.
#[derive(Deserialize)]
pub struct EraseForm {
    csrf: String,
    phone: String,
    /// `yes` once the admin has seen what will be erased.
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /admin/residents/erase`: preview, then (confirmed) erase.
pub async fn erase(
    State(state): State<AppState>,
    s: Session,
    Form(form): Form<EraseForm>,
) -> Result<Html<String>, PageError> {
    s.check_csrf(&form.csrf)?;
    require_central(&s)?;
    let l = s.lang;
    let phone = PhoneNumber::parse(&form.phone).map_err(|_| {
        Error::BadRequest("请输入11位手机号 (enter an 11-digit mobile number)".into())
    })?;
    let title = l.t("删除居民个人信息", "Erase a resident");
    if form.confirm.as_deref() != Some("yes") {
        let found = erasure::find(&state.core, &phone).await?;
        return Ok(page(
            l,
            title,
            Some(&s),
            html! {
                @if found.total() == 0 {
                    p #erase-none { (l.t("本服务器没有这个号码的记录，无需删除，没有任何改动。", "No record of this number is stored on this server: there is nothing to erase and nothing was changed.")) }
                    p { a href="/admin/residents" { (l.t("返回", "Back")) } }
                } @else {
                    p #erase-found { (phone.masked()) " · " (l.t("找到此号码的记录：", "Records of this number: "))
                        (found.checkins) (l.t(" 次签到，", " check-ins, "))
                        (found.shifts) (l.t(" 条志愿服务记录，", " volunteer shift events, "))
                        (found.requests) (l.t(" 条诉求。", " requests."))
                    }
                    p.err { (l.t("删除后无法恢复。记录本身保留（人次和统计不变），但不再含有此人的号码、称呼或彼此之间的关联。", "This cannot be undone. The records stay (counts and statistics do not change) but no longer hold this person's number or name, or link to each other.")) }
                    form #erase-confirm-form method="post" action="/admin/residents/erase" {
                        input type="hidden" name="csrf" value=(s.csrf);
                        input type="hidden" name="phone" value=(phone.expose_digits());
                        input type="hidden" name="confirm" value="yes";
                        button #erase-confirm type="submit" { (l.t("确认删除", "Erase for good")) }
                        " "
                        a href="/admin/residents" { (l.t("取消", "Cancel")) }
                    }
                }
            },
        ));
    }
    let done = erasure::erase_resident(&state.core, &phone, &s.user).await?;
    Ok(page(
        l,
        title,
        Some(&s),
        html! {
            @match done {
                Some(e) => {
                    p #erase-done .ok { (l.t("已删除：", "Erased: ")) (e.records) (l.t(" 条记录所在的 ", " records, in ")) (e.documents)
                        (l.t(" 份文档已重建。各终端将在下次同步时删除其副本。", " documents rebuilt. Each kiosk deletes its copies at its next sync.")) }
                    p { small { (l.t("此次删除已记入审计日志。", "This erasure is recorded in the audit log.")) } }
                }
                None => {
                    p #erase-none { (l.t("本服务器没有这个号码的记录，没有任何改动。", "No record of this number is stored on this server: nothing was changed.")) }
                }
            }
            p { a href="/admin/residents" { (l.t("返回", "Back")) } }
        },
    ))
}
