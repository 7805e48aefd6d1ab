//! The volunteers page: hours and points per volunteer per month (from
//! the projected shift events; points under the hall's rules,
//! `linli_sync_engine::credit`) with what each redeemed that month and
//! their balance, the month's redemptions (`super::redemptions`), the
//! hall's points rules (central admins add a version, in force from then
//! on, audited), and the catalogue of each hall's 爱心超市: items, their
//! points and stock, how many were redeemed and are left.

use axum::{
    Form,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use linli_core::{
    model::ActivityKind,
    points_rules::{MAX_LIMIT, MAX_PER_HOUR, MAX_SHIFT_MS, PointsRule},
};
use maud::html;
use serde::Deserialize;

use std::collections::{BTreeMap, HashMap};

use super::{PageError, Session, clock::HallClocks, page, redemptions};
use crate::state::AppState;
use linli_sync_engine::{Error, clock::now_ms, credit, provision};

/// Which hall and month.
#[derive(Deserialize, Default)]
pub struct VolunteerQuery {
    hall: Option<String>,
    month: Option<String>,
}

/// One volunteer's month.
#[derive(Debug, PartialEq)]
pub struct VolunteerMonth {
    /// Masked phone.
    pub phone: String,
    /// Short name, if given.
    pub name: Option<String>,
    /// Closed shifts.
    pub shifts: u32,
    /// Hours (each shift capped at 12).
    pub hours: f64,
    /// Points earned this month.
    pub points: u64,
    /// Points redeemed this month.
    pub redeemed: i64,
    /// Points earned in all, less those redeemed in all.
    pub balance: i64,
}

/// The month asked for, or this month on the hall's clock.
fn month_of(q: &Option<String>, tz: chrono_tz::Tz) -> Result<String, Error> {
    match q.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => Ok(chrono::Utc::now()
            .with_timezone(&tz)
            .format("%Y-%m")
            .to_string()),
        Some(m) => linli_core::model::parse_day(&format!("{m}-01"))
            .map(|_| m.to_string())
            .ok_or_else(|| Error::BadRequest("month must look like 2026-11".into())),
    }
}

async fn page_for(
    state: &AppState,
    s: &Session,
    q: &VolunteerQuery,
    error: Option<String>,
) -> Result<Response, PageError> {
    let l = s.lang;
    let hall = q
        .hall
        .clone()
        .filter(|h| !h.is_empty())
        .or_else(|| s.halls.first().cloned())
        .ok_or_else(|| Error::Forbidden("no hall is yours".into()))?;
    s.require_hall(&hall)?;
    let tz = provision::require_hall(&state.core, &hall)
        .await?
        .time_zone();
    let month = month_of(&q.month, tz)?;
    // Every shift of the hall with the points it earned under the hall's
    // rules (a monthly cap needs the month's earlier shifts; balances
    // need all): read once for the whole page.
    let mut credited = credit::credited_shifts(&state.core, &hall).await?;
    let volunteers = redemptions::Volunteers::from_credited(state, &credited);
    // This month's completed shifts (by the day each began) of residents
    // not erased, each volunteer's together.
    credited.retain(|(s, _)| {
        s.signed_out_ms.is_some()
            && s.pseudonym != "erased"
            && s.date.get(..7) == Some(month.as_str())
    });
    credited.sort_by(|(a, _), (b, _)| a.pseudonym.cmp(&b.pseudonym));
    let mut people: Vec<(String, VolunteerMonth)> = Vec::new();
    for (span, points) in credited {
        let (start, end) = (
            span.signed_in_ms,
            span.signed_out_ms.unwrap_or(span.signed_in_ms),
        );
        let shown = state
            .core
            .residents
            .shown(Some(&span.pseudonym), span.sealed.as_deref());
        let (phone, name) = (shown.masked.unwrap_or_else(|| "-".into()), shown.name);
        let hours = (end - start).clamp(0, MAX_SHIFT_MS) as f64 / 3_600_000.0;
        match people.last_mut() {
            Some((h, v)) if *h == span.pseudonym => {
                v.shifts += 1;
                v.hours += hours;
                v.points += points;
                if v.name.is_none() {
                    v.name = name;
                }
            }
            _ => people.push((
                span.pseudonym,
                VolunteerMonth {
                    phone,
                    name,
                    shifts: 1,
                    hours,
                    points,
                    redeemed: 0,
                    balance: 0,
                },
            )),
        }
    }
    // Redemptions: this month's by volunteer and in all, by volunteer
    // and by item.
    let clocks = HallClocks::load(state).await?;
    let (month_first, month_last) = redemptions::month_days(&month)
        .ok_or_else(|| Error::BadRequest("month must look like 2026-11".into()))?;
    let (from_ms, until_ms) = redemptions::days_as_ms(tz, &month_first, &month_last);
    let every = state
        .core
        .projection
        .redemptions(&hall, 0, i64::MAX)
        .await?;
    let (mut redeemed_all, mut redeemed_month) = (HashMap::new(), HashMap::new());
    let mut items_redeemed: HashMap<&str, i64> = HashMap::new();
    for r in &every {
        *items_redeemed.entry(r.item.as_str()).or_default() += 1;
        let Some(p) = r.pseudonym.as_deref() else {
            continue;
        };
        *redeemed_all.entry(p).or_insert(0) += r.points;
        if (from_ms..until_ms).contains(&r.kiosk_at_ms) {
            *redeemed_month.entry(p).or_insert(0) += r.points;
        }
    }
    for p in redeemed_month.keys() {
        if !people.iter().any(|(q, _)| q == p) {
            people.push((
                p.to_string(),
                VolunteerMonth {
                    phone: volunteers.shown(Some(p)),
                    name: None,
                    shifts: 0,
                    hours: 0.0,
                    points: 0,
                    redeemed: 0,
                    balance: 0,
                },
            ));
        }
    }
    for (p, v) in &mut people {
        v.redeemed = redeemed_month.get(p.as_str()).copied().unwrap_or(0);
        v.balance = volunteers.earned(p) - redeemed_all.get(p.as_str()).copied().unwrap_or(0);
    }
    let people: Vec<VolunteerMonth> = people.into_iter().map(|(_, v)| v).collect();
    let month_rows = every
        .iter()
        .filter(|r| (from_ms..until_ms).contains(&r.kiosk_at_ms))
        .cloned()
        .collect();
    let month_lines = redemptions::as_lines(&clocks, &hall, &volunteers, month_rows);
    let catalogue = state.core.tables.points_catalogue(&hall).await?;
    let stock: HashMap<String, i64> = state
        .core
        .tables
        .catalogue_stock(&hall)
        .await?
        .into_iter()
        .collect();
    let can_write = s.role != "viewer";
    let rules = credit::rules_of(&state.core, &hall).await?;
    let rule = rules.current();
    let none = l.t("无", "none");
    let body = html! {
        form method="get" action="/admin/volunteers" {
            label { (l.t("服务中心", "Hall")) " " select name="hall" { @for h in &s.halls { option value=(h) selected[*h == hall] { (h) } } } }
            " " label { (l.t("月份", "Month")) " " input name="month" value=(month) size="7"; }
            " " button type="submit" { (l.t("显示", "Show")) }
        }
        h2 { (l.t("志愿时长与积分", "Hours and points ·")) " " (month) }
        table {
            tr {
                th { (l.t("志愿者", "Volunteer")) } th { (l.t("班次", "Shifts")) } th { (l.t("时长（小时）", "Hours")) }
                th { (l.t("积分", "Points")) } th { (l.t("本月兑换", "Redeemed")) } th { (l.t("积分余额", "Balance")) }
            }
            @for v in &people {
                tr {
                    td { (v.phone) @if let Some(n) = &v.name { " " (n) } } td { (v.shifts) } td { (format!("{:.1}", v.hours)) }
                    td { (v.points) } td { (v.redeemed) }
                    td { (v.balance) @if v.balance < 0 { br; strong.err.owing { (l.t("！欠 ", "owes ")) (-v.balance) (l.t(" 分", "")) } } }
                }
            }
        }
        h2 { (l.t("积分兑换明细", "Redemptions ·")) " " (month) }
        p { a href=(format!("/admin/redemptions.csv?hall={hall}&from={month_first}&to={month_last}")) { (l.t("导出 CSV", "Export CSV")) } }
        table {
            tr {
                th { (l.t("时间", "Time")) } th { (l.t("志愿者", "Volunteer")) } th { (l.t("物品", "Item")) }
                th { (l.t("积分", "Points")) } th { (l.t("终端", "Kiosk")) } th { (l.t("兑换编号", "Receipt")) }
            }
            @for r in &month_lines {
                tr {
                    td { (r.at) } td { (r.volunteer) } td { (r.item) }
                    td { (r.points) @if r.owed > 0 { br; strong.err.lent { (l.t("！其中赊兑 ", "lent ")) (r.owed) (l.t(" 分", "")) } } }
                    td { (r.kiosk) } td { (r.reference) }
                }
            }
        }
        h2 { (l.t("爱心超市积分目录", "Points catalogue")) }
        @if let Some(e) = &error { p.err { (e) } }
        table {
            tr {
                th { (l.t("物品", "Item")) } th { (l.t("所需积分", "Points")) } th { (l.t("库存（累计）", "Stocked (in all)")) }
                th { (l.t("已兑换", "Redeemed")) } th { (l.t("剩余", "Left")) }
            }
            @for (item, pts) in &catalogue {
                @let stocked = stock.get(item).copied().unwrap_or(0);
                @let gone = items_redeemed.get(item.as_str()).copied().unwrap_or(0);
                tr { td { (item) } td { (pts) } td { (stocked) } td { (gone) } td { ((stocked - gone).max(0)) } }
            }
        }
        h2 #rules { (l.t("积分规则", "Points rules")) }
        p #rule-now {
            (l.t("现行：每小时服务 ", "In force: "))
            strong { (rule.per_hour) }
            (l.t(" 分（不足一小时按比例向上取整，每班最多计 12 小时）；每人每月上限 ", " points per hour of service (part hours pro rata, rounded up; 12 hours a shift at most); monthly cap per volunteer "))
            strong { @if rule.monthly_cap == 0 { (none) } @else { (rule.monthly_cap) } }
            (l.t("；每台终端最多持有每位志愿者 ", "; each kiosk holds at most "))
            strong { (rule.offline_share) }
            (l.t(" 分（离线时可兑换的上限）；离线赊兑：", " of a volunteer's points (what it can redeem offline); offline lending: "))
            strong { @if rule.iou_cap == 0 { (l.t("不允许", "off")) } @else { (l.t("每人每台终端最多 ", "at most ")) (rule.iou_cap) (l.t(" 分，须工作人员确认", " points per volunteer per kiosk, staff confirming")) } }
            @if let Some(line) = by_kind_line(l, &rule) {
                (l.t("；按所服务活动的类型每小时：", "; per hour serving an activity of a kind: "))
                strong #rule-by-kind { (line) }
                (l.t("（其余按每小时积分）", " (others at the hours rate)"))
            }
            (l.t("。", "."))
        }
        @if !rules.versions().is_empty() {
            table #rule-versions {
                tr {
                    th { (l.t("生效时间", "In force from")) } th { (l.t("每小时积分", "Points per hour")) }
                    th { (l.t("每月上限", "Monthly cap")) } th { (l.t("每台终端持有上限", "Most a kiosk holds")) }
                    th { (l.t("赊兑上限", "Most a kiosk lends")) } th { (l.t("按活动类型每小时", "Per hour by kind")) }
                }
                @for r in rules.versions().iter().rev() {
                    tr {
                        td { (clocks.show(&hall, r.from_ms)) } td { (r.per_hour) }
                        td { @if r.monthly_cap == 0 { (none) } @else { (r.monthly_cap) } } td { (r.offline_share) }
                        td { @if r.iou_cap == 0 { (none) } @else { (r.iou_cap) } }
                        td { (by_kind_line(l, r).unwrap_or_else(|| none.to_string())) }
                    }
                }
            }
        }
        p { (l.t("新规则自保存时起生效，只计入此后开始的班次；已得积分不变。", "A new rule applies to shifts begun after it is saved; points already earned never change.")) }
        @if s.role == "central" {
            form #rules-form method="post" action="/admin/volunteers/rules" {
                input type="hidden" name="csrf" value=(s.csrf);
                input type="hidden" name="hall" value=(hall);
                label { (l.t("每小时积分", "Points per hour")) " " input name="per_hour" size="3" value=(rule.per_hour) required; }
                " " label { (l.t("每月上限（留空：不设）", "Monthly cap (blank: none)")) " " input name="monthly_cap" size="6" value=(if rule.monthly_cap == 0 { String::new() } else { rule.monthly_cap.to_string() }); }
                " " label { (l.t("每台终端持有上限", "Most a kiosk holds")) " " input name="offline_share" size="6" value=(rule.offline_share) required; }
                " " label { (l.t("离线赊兑上限（留空：不允许）", "Offline lending cap (blank: off)")) " " input name="iou_cap" size="6" value=(if rule.iou_cap == 0 { String::new() } else { rule.iou_cap.to_string() }); }
                fieldset #rules-by-kind {
                    legend { (l.t("按所服务活动的类型，每小时积分（留空：按每小时积分）", "Points per hour serving an activity of a kind (blank: the hours rate)")) }
                    @for kind in ActivityKind::ALL {
                        label { (super::calendar::kind_label(l, kind)) " " input name=(format!("kind_{}", kind.code())) size="3" value=(rule.per_hour_by_kind.get(kind.code()).map(u64::to_string).unwrap_or_default()); }
                        " "
                    }
                }
                " " button type="submit" { (l.t("保存规则", "Save rules")) }
            }
        } @else {
            p { (l.t("积分规则由街道（中心）管理员设置。", "Points rules are set by central admins.")) }
        }
        @if can_write {
            form method="post" action="/admin/volunteers/catalogue" {
                input type="hidden" name="csrf" value=(s.csrf);
                input type="hidden" name="hall" value=(hall);
                label { (l.t("物品", "Item")) " " input name="item" maxlength="40" required; }
                " " label { (l.t("积分", "Points")) " " input name="points" size="5" required; }
                " " label { (l.t("库存（累计，补货时加上新到数量；留空不变）", "Stocked in all (add new stock to it; blank: unchanged)")) " " input name="stock" size="5"; }
                " " button type="submit" { (l.t("添加或修改", "Add or change")) }
            }
        }
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, page(l, l.t("志愿者", "Volunteers"), Some(s), body)).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    s: Session,
    Query(q): Query<VolunteerQuery>,
) -> Result<Response, PageError> {
    page_for(&state, &s, &q, None).await
}

/// A catalogue entry.
#[derive(Deserialize)]
pub struct CatalogueForm {
    csrf: String,
    hall: String,
    item: String,
    points: String,
    /// How many the hall has to hand; blank leaves it as it is.
    #[serde(default)]
    stock: String,
}

pub async fn save_item(
    State(state): State<AppState>,
    s: Session,
    Form(f): Form<CatalogueForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    s.require_hall(&f.hall)?;
    let item = f.item.trim().to_string();
    let q = VolunteerQuery {
        hall: Some(f.hall.clone()),
        month: None,
    };
    if item.is_empty() || item.chars().count() > 40 || item.chars().any(char::is_control) {
        return page_for(
            &state,
            &s,
            &q,
            Some("物品名称 1–40 个字 (item: 1 to 40 characters)".into()),
        )
        .await;
    }
    let Some(points) = f
        .points
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|p| (1..=100_000).contains(p))
    else {
        return page_for(
            &state,
            &s,
            &q,
            Some("积分应为 1–100000 的整数 (points: a whole number from 1 to 100000)".into()),
        )
        .await;
    };
    let stock = match f.stock.trim() {
        "" => None,
        given => match given
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=100_000).contains(n))
        {
            Some(n) => Some(n),
            None => {
                return page_for(
                    &state,
                    &s,
                    &q,
                    Some(
                        "库存应为 0–100000 的整数 (in stock: a whole number from 0 to 100000)"
                            .into(),
                    ),
                )
                .await;
            }
        },
    };
    let tables = &state.core.tables;
    tables.set_catalogue_item(&f.hall, &item, points).await?;
    tables
        .audit(
            &s.user,
            "catalogue_item",
            &format!("{}/{item}", f.hall),
            None,
            Some(&points.to_string()),
            now_ms(),
        )
        .await?;
    if let Some(stock) = stock {
        // What the hall has to hand: the server shares it out among the
        // hall's kiosks (`linli_sync_engine::points::top_up`).
        let before = tables
            .catalogue_stock(&f.hall)
            .await?
            .into_iter()
            .find(|(i, _)| *i == item)
            .map(|(_, n)| n.to_string());
        tables.set_catalogue_stock(&f.hall, &item, stock).await?;
        tables
            .audit(
                &s.user,
                "catalogue_stock",
                &format!("{}/{item}", f.hall),
                before.as_deref(),
                Some(&stock.to_string()),
                now_ms(),
            )
            .await?;
    }
    Ok(Redirect::to(&format!("/admin/volunteers?hall={}", f.hall)).into_response())
}

/// The points rules form.
#[derive(Deserialize)]
pub struct RulesForm {
    csrf: String,
    hall: String,
    per_hour: String,
    /// Blank: no cap.
    #[serde(default)]
    monthly_cap: String,
    offline_share: String,
    /// Blank: no lending.
    #[serde(default)]
    iou_cap: String,
    /// `kind_<code>`: points per hour serving an activity of that kind
    /// (blank: the hours rate).
    #[serde(flatten)]
    by_kind: BTreeMap<String, String>,
}

/// A rule's rates by activity kind as the console shows them
/// (`义诊 6、讲座 3`), or `None` when it has none.
fn by_kind_line(l: crate::console::Lang, rule: &PointsRule) -> Option<String> {
    if rule.per_hour_by_kind.is_empty() {
        return None;
    }
    Some(
        rule.per_hour_by_kind
            .iter()
            .map(|(code, rate)| {
                format!(
                    "{} {rate}",
                    super::calendar::kind_label(l, ActivityKind::from_code(code))
                )
            })
            .collect::<Vec<_>>()
            .join(l.t("、", ", ")),
    )
}

/// `POST /admin/volunteers/rules`: a new version of a hall's points
/// rules, in force from now (central admins only; audited). A rule never
/// reaches back: shifts begun before it keep what they earned.
pub async fn save_rules(
    State(state): State<AppState>,
    s: Session,
    Form(f): Form<RulesForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&f.csrf)?;
    s.require_central("setting the points rules")?;
    s.require_hall(&f.hall)?;
    provision::require_hall(&state.core, &f.hall).await?;
    let q = VolunteerQuery {
        hall: Some(f.hall.clone()),
        month: None,
    };
    let figure = |text: &str| text.trim().parse::<u64>().ok();
    let rules = credit::rules_of(&state.core, &f.hall).await?;
    let before = rules.current();
    // Each kind's rate, blank ones left out; `None` if one is not a
    // whole number or names no kind.
    let by_kind: Option<BTreeMap<String, u64>> = f
        .by_kind
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| {
            let code = k.strip_prefix("kind_")?;
            ActivityKind::ALL.iter().find(|c| c.code() == code)?;
            Some((code.to_string(), figure(v)?))
        })
        .collect();
    let rule = match (
        figure(&f.per_hour),
        match f.monthly_cap.trim() {
            "" => Some(0),
            cap => figure(cap),
        },
        figure(&f.offline_share),
        match f.iou_cap.trim() {
            "" => Some(0),
            cap => figure(cap),
        },
    ) {
        (Some(per_hour), Some(monthly_cap), Some(offline_share), Some(iou_cap))
            if by_kind.is_some() =>
        {
            PointsRule {
                // After the last version, should the clock have gone back.
                from_ms: now_ms().max(before.from_ms + 1),
                per_hour,
                monthly_cap,
                offline_share,
                iou_cap,
                per_hour_by_kind: by_kind.unwrap_or_default(),
            }
        }
        _ => {
            return page_for(
                &state,
                &s,
                &q,
                Some("积分规则应为整数 (the rules are whole numbers)".into()),
            )
            .await;
        }
    };
    if rule.validate().is_err() {
        return page_for(
            &state,
            &s,
            &q,
            Some(format!(
                "每小时积分（含按活动类型）1–{MAX_PER_HOUR}，每月上限 0–{MAX_LIMIT}，每台终端持有上限 1–{MAX_LIMIT}，赊兑上限 0–{MAX_LIMIT} (points per hour, by kind too, 1 to {MAX_PER_HOUR}; monthly cap 0 to {MAX_LIMIT}; most a kiosk holds 1 to {MAX_LIMIT}; most a kiosk lends 0 to {MAX_LIMIT})"
            )),
        )
        .await;
    }
    let same = PointsRule {
        from_ms: before.from_ms,
        ..rule.clone()
    };
    if same != before {
        state.core.tables.add_points_rule(&f.hall, &rule).await?;
        s.audit(
            &state,
            "points_rules",
            &f.hall,
            Some(before.audit_text()),
            Some(rule.audit_text()),
        )
        .await?;
    }
    Ok(Redirect::to(&format!("/admin/volunteers?hall={}#rules", f.hall)).into_response())
}
