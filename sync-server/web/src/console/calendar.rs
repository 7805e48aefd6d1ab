//! The calendar page: a hall's activities by week; create, edit, cancel
//! and repeat weekly. Changes are written into the hall calendar document,
//! so they reach the hall's kiosks by sync (kiosks hold it read-only).

use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone};
use linli_core::model::{Activity, ActivityKind};
use maud::html;
use serde::Deserialize;

use super::{Lang, PageError, Session, page};
use crate::state::AppState;
use linli_sync_engine::{Error, clock::now_ms, provision};

/// Most weeks an activity may be repeated at once.
pub const MAX_REPEAT_WEEKS: u32 = 26;

/// Which hall and week to show.
#[derive(Deserialize, Default)]
pub struct WeekQuery {
    hall: Option<String>,
    week: Option<String>,
    edit: Option<String>,
}

/// The activity form.
#[derive(Deserialize, Default, Clone)]
pub struct ActivityForm {
    csrf: String,
    id: Option<String>,
    kind: String,
    title: String,
    room: Option<String>,
    date: String,
    start: String,
    end: String,
    capacity: Option<String>,
    named: Option<String>,
    repeat_weeks: Option<String>,
}

fn monday(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

fn local(tz: chrono_tz::Tz, ms: i64) -> chrono::DateTime<chrono_tz::Tz> {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&tz)
}

/// An activity kind's name in the reader's language.
pub(super) fn kind_label(l: Lang, kind: ActivityKind) -> &'static str {
    match kind {
        ActivityKind::HealthClinic => l.t("义诊", "clinic"),
        ActivityKind::Lecture => l.t("讲座", "lecture"),
        ActivityKind::AfterSchool => l.t("四点半课堂", "after school"),
        ActivityKind::Class => l.t("课堂", "class"),
        ActivityKind::ElderlyMeal => l.t("长者助餐", "meal"),
        ActivityKind::ServiceMarket => l.t("服务集市", "market"),
        ActivityKind::Festival => l.t("节庆", "festival"),
        ActivityKind::Volunteer => l.t("志愿", "volunteer"),
        ActivityKind::Other => l.t("其他", "other"),
    }
}

/// The name of a statistics kind code (an activity kind's, or walk-in
/// visits') in the reader's language.
pub(super) fn kind_code_label(l: Lang, code: &str) -> &'static str {
    if code == linli_core::model::WALK_IN_KIND {
        l.t("到访办事", "walk-in")
    } else {
        kind_label(l, ActivityKind::from_code(code))
    }
}

/// Turn the form into activities (one per repeated week), or say which
/// field is wrong.
fn parse(form: &ActivityForm, tz: chrono_tz::Tz) -> Result<(Activity, u32), String> {
    let kind = ActivityKind::ALL
        .into_iter()
        .find(|k| k.code() == form.kind)
        .ok_or("类别不对 (unknown kind)")?;
    let date = linli_core::model::parse_day(&form.date)
        .ok_or("日期格式应为 2026-11-23 (date like 2026-11-23)")?;
    let start = NaiveTime::parse_from_str(form.start.trim(), "%H:%M")
        .map_err(|_| "开始时间格式应为 09:30 (start like 09:30)")?;
    let end = NaiveTime::parse_from_str(form.end.trim(), "%H:%M")
        .map_err(|_| "结束时间格式应为 11:00 (end like 11:00)")?;
    let at = |t: NaiveTime| {
        tz.from_local_datetime(&date.and_time(t))
            .earliest()
            .map(|d| d.timestamp_millis())
            .ok_or("该时间在本时区不存在 (no such local time)")
    };
    let capacity = match form
        .capacity
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => None,
        Some(c) => Some(
            c.parse::<u32>()
                .map_err(|_| "名额应为数字 (capacity must be a number)")?,
        ),
    };
    let repeat = match form
        .repeat_weeks
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => 0,
        Some(r) => r
            .parse::<u32>()
            .ok()
            .filter(|r| *r <= MAX_REPEAT_WEEKS)
            .ok_or("重复周数应为 0–26 (repeat 0 to 26 weeks)")?,
    };
    let activity = Activity {
        kind: kind.code().to_string(),
        title: form.title.trim().to_string(),
        room: form
            .room
            .clone()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty()),
        starts_at_ms: at(start)?,
        ends_at_ms: at(end)?,
        capacity,
        named_checkin: form.named.is_some(),
        cancelled: false,
    };
    activity.validate().map_err(|e| e.to_string())?;
    Ok((activity, repeat))
}

async fn render(
    state: &AppState,
    s: &Session,
    q: &WeekQuery,
    form: Option<&ActivityForm>,
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
    let tz = hall.time_zone();
    let today = local(tz, now_ms()).date_naive();
    let week = q
        .week
        .as_deref()
        .and_then(linli_core::model::parse_day)
        .map_or_else(|| monday(today), monday);
    let activities = provision::activities(&state.core, &hall_id).await?;
    let in_week: Vec<_> = activities
        .iter()
        .filter(|(_, a)| {
            let d = local(tz, a.starts_at_ms).date_naive();
            d >= week && d < week + Duration::days(7)
        })
        .collect();
    let editing = q
        .edit
        .as_ref()
        .and_then(|id| activities.iter().find(|(i, _)| i == id));
    let prefill = form.cloned().unwrap_or_else(|| match editing {
        Some((id, a)) => ActivityForm {
            id: Some(id.clone()),
            kind: a.kind.clone(),
            title: a.title.clone(),
            room: a.room.clone(),
            date: local(tz, a.starts_at_ms).format("%Y-%m-%d").to_string(),
            start: local(tz, a.starts_at_ms).format("%H:%M").to_string(),
            end: local(tz, a.ends_at_ms).format("%H:%M").to_string(),
            capacity: a.capacity.map(|c| c.to_string()),
            named: a.named_checkin.then(|| "on".to_string()),
            ..ActivityForm::default()
        },
        None => ActivityForm {
            date: today.to_string(),
            start: "09:00".into(),
            end: "10:00".into(),
            named: Some("on".into()),
            ..ActivityForm::default()
        },
    });
    let can_write = s.role != "viewer";
    let l = s.lang;
    let body = html! {
        form method="get" action="/admin/calendar" {
            label { (l.t("服务中心", "Hall")) " " select name="hall" { @for h in &s.halls { option value=(h) selected[*h == hall_id] { (h) } } } }
            " " input type="hidden" name="week" value=(week);
            button type="submit" { (l.t("显示", "Show")) }
            " " a href={ "/admin/calendar?hall=" (hall_id) "&week=" (week - Duration::days(7)) } { (l.t("← 上一周", "previous week")) }
            " " a href={ "/admin/calendar?hall=" (hall_id) "&week=" (week + Duration::days(7)) } { (l.t("下一周", "next week →")) }
        }
        h2 { (hall.name) " · " (week) " – " (week + Duration::days(6)) }
        table {
            tr { th { (l.t("日期", "Day")) } th { (l.t("时间", "Time")) } th { (l.t("活动", "Activity")) } th { (l.t("类别", "Kind")) } th { (l.t("地点", "Room")) } th { (l.t("名额", "Places")) } th { (l.t("签到", "Check-in")) } th {} }
            @for (id, a) in &in_week {
                tr {
                    td { (local(tz, a.starts_at_ms).format("%m-%d %a")) }
                    td { (local(tz, a.starts_at_ms).format("%H:%M")) "–" (local(tz, a.ends_at_ms).format("%H:%M")) }
                    td { @if a.cancelled { s { (a.title) } " (" (l.t("已取消", "cancelled")) ")" } @else { (a.title) } }
                    td { (kind_label(l, a.kind())) }
                    td { (a.room.clone().unwrap_or_default()) }
                    td { (a.capacity.map_or_else(|| l.t("不限", "open").to_string(), |c| c.to_string())) }
                    td { @if a.named_checkin { (l.t("实名", "named")) } @else { (l.t("计数", "headcount")) } }
                    td {
                        @if can_write {
                            a href={ "/admin/calendar?hall=" (hall_id) "&week=" (week) "&edit=" (id) } { (l.t("编辑", "Edit")) }
                            form method="post" action={ "/admin/calendar/" (hall_id) "/" (id) "/cancel" } {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button type="submit" { @if a.cancelled { (l.t("恢复", "Restore")) } @else { (l.t("取消", "Cancel")) } }
                            }
                        }
                    }
                }
            }
        }
        @if can_write {
            h2 { @if prefill.id.is_some() { (l.t("编辑活动", "Edit activity")) } @else { (l.t("新增活动", "New activity")) } }
            @if let Some(e) = &error { p.err { (l.msg(e)) } }
            form method="post" action={ "/admin/calendar/" (hall_id) } {
                input type="hidden" name="csrf" value=(s.csrf);
                @if let Some(id) = &prefill.id { input type="hidden" name="id" value=(id); }
                p { label { (l.t("名称", "Title")) " " input name="title" maxlength="60" value=(prefill.title) required; } }
                p { label { (l.t("类别", "Kind")) " " select name="kind" { @for k in ActivityKind::ALL { option value=(k.code()) selected[prefill.kind == k.code()] { (kind_label(l, k)) } } } } }
                p { label { (l.t("地点", "Room")) " " input name="room" maxlength="40" value=(prefill.room.clone().unwrap_or_default()); } }
                p {
                    label { (l.t("日期", "Date")) " " input name="date" value=(prefill.date) placeholder="2026-11-23"; }
                    " " label { (l.t("开始", "Start")) " " input name="start" value=(prefill.start) size="5"; }
                    " " label { (l.t("结束", "End")) " " input name="end" value=(prefill.end) size="5"; }
                }
                p {
                    label { (l.t("名额", "Places")) " " input name="capacity" value=(prefill.capacity.clone().unwrap_or_default()) size="5"; }
                    " " label { input type="checkbox" name="named" checked[prefill.named.is_some()]; " " (l.t("实名签到", "named check-in")) }
                    " " label { (l.t("每周重复", "Repeat weekly for")) " " input name="repeat_weeks" value=(prefill.repeat_weeks.clone().unwrap_or_default()) size="3"; " " (l.t("周", "weeks")) }
                }
                button type="submit" { (l.t("保存", "Save")) }
            }
        }
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, page(l, l.t("活动日历", "Calendar"), Some(s), body)).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    s: Session,
    Query(q): Query<WeekQuery>,
) -> Result<Response, PageError> {
    render(&state, &s, &q, None, None).await
}

pub async fn save(
    State(state): State<AppState>,
    s: Session,
    Path(hall_id): Path<String>,
    Form(form): Form<ActivityForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&form.csrf)?;
    s.require_write()?;
    s.require_hall(&hall_id)?;
    let hall = provision::require_hall(&state.core, &hall_id).await?;
    let tz = hall.time_zone();
    let q = WeekQuery {
        hall: Some(hall_id.clone()),
        week: Some(form.date.clone()),
        edit: None,
    };
    let (activity, repeat) = match parse(&form, tz) {
        Ok(v) => v,
        Err(e) => return render(&state, &s, &q, Some(&form), Some(e)).await,
    };
    let id = form.id.clone().filter(|i| !i.is_empty());
    let before = match &id {
        Some(i) => provision::activities(&state.core, &hall_id)
            .await?
            .into_iter()
            .find(|(x, _)| x == i)
            .map(|(_, a)| serde_json::to_string(&a).unwrap_or_default()),
        None => None,
    };
    let week_ms = 7 * 24 * 3600 * 1000;
    for w in 0..=repeat {
        let mut a = activity.clone();
        a.starts_at_ms += i64::from(w) * week_ms;
        a.ends_at_ms += i64::from(w) * week_ms;
        let this_id = if w == 0 { id.clone() } else { None };
        let saved = provision::put_activity(&state.core, &hall_id, this_id, a.clone()).await?;
        let after = serde_json::to_string(&a).unwrap_or_default();
        let b = if w == 0 { before.clone() } else { None };
        let action = if w == 0 && id.is_some() {
            "edit_activity"
        } else {
            "create_activity"
        };
        s.audit(&state, action, &saved, b, Some(after)).await?;
    }
    // The week of the saved activity, as parsed (never the raw field).
    Ok(Redirect::to(&format!(
        "/admin/calendar?hall={hall_id}&week={}",
        local(tz, activity.starts_at_ms).date_naive()
    ))
    .into_response())
}

/// Cancel (or restore) an activity.
pub async fn cancel(
    State(state): State<AppState>,
    s: Session,
    Path((hall_id, id)): Path<(String, String)>,
    Form(form): Form<super::pages::CsrfForm>,
) -> Result<Response, PageError> {
    s.check_csrf(form.csrf())?;
    s.require_write()?;
    s.require_hall(&hall_id)?;
    let (_, mut a) = provision::activities(&state.core, &hall_id)
        .await?
        .into_iter()
        .find(|(x, _)| *x == id)
        .ok_or_else(|| Error::NotFound(format!("activity {id}")))?;
    let before = if a.cancelled {
        "cancelled"
    } else {
        "scheduled"
    };
    a.cancelled = !a.cancelled;
    let after = if a.cancelled {
        "cancelled"
    } else {
        "scheduled"
    };
    let tz = provision::require_hall(&state.core, &hall_id)
        .await?
        .time_zone();
    let week = monday(local(tz, a.starts_at_ms).date_naive());
    provision::put_activity(&state.core, &hall_id, Some(id.clone()), a).await?;
    s.audit(
        &state,
        "cancel_activity",
        &id,
        Some(before.into()),
        Some(after.into()),
    )
    .await?;
    Ok(Redirect::to(&format!("/admin/calendar?hall={hall_id}&week={week}")).into_response())
}
