//! The statistics page: person-times by hall and week and by activity
//! kind (walk-in visits as a kind of their own, and by service), unique
//! residents versus visits, satisfaction by activity, and
//! requests received versus resolved with the median days to resolve — as
//! charts (Apache ECharts, vendored in `assets/vendor/echarts` and served
//! from this binary) with the same numbers in tables beside them. Every
//! figure comes from one query per table; the charts draw the tables'
//! numbers, so they cannot disagree.

use std::collections::HashMap;

use axum::{
    extract::{Query, State},
    http::header,
    response::{IntoResponse, Response},
};
use linli_core::model::WALK_IN_KIND;
use maud::{PreEscaped, html};
use serde::{Deserialize, Serialize};

use super::{PageError, Session, page};
use crate::state::AppState;
use linli_sync_engine::{Error, credit, projection, provision};

/// The vendored chart library.
pub const ECHARTS_JS: &[u8] = include_bytes!("../../assets/vendor/echarts/echarts.common.min.js");

/// `GET /admin/assets/echarts.min.js`.
pub async fn echarts() -> Response {
    script(ECHARTS_JS)
}

/// `GET /admin/assets/stats.js`: the page's chart code (a file of its own,
/// not an inline script, so the Content-Security-Policy needs no
/// `'unsafe-inline'` for scripts; see [`crate::api::headers`]).
pub async fn charts() -> Response {
    script(CHARTS_JS.as_bytes())
}

fn script(body: &'static [u8]) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

/// The period and halls.
#[derive(Deserialize, Default)]
pub struct StatsQuery {
    hall: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// Everything the page shows.
#[derive(Serialize, Default, Debug, PartialEq)]
pub struct Stats {
    /// (hall, ISO week like 2026-W48, person-times).
    pub by_week: Vec<(String, String, i64)>,
    /// (activity kind code, or `walk_in`, person-times).
    pub by_kind: Vec<(String, i64)>,
    /// Walk-in visits: (service name, person-times).
    pub by_service: Vec<(String, i64)>,
    /// Check-ins with a resident, and distinct residents among them.
    pub visits: i64,
    /// Distinct residents.
    pub residents: i64,
    /// (activity title, ratings, average score).
    pub satisfaction: Vec<(String, i64, f64)>,
    /// Requests received in the period.
    pub received: i64,
    /// Of those, resolved.
    pub resolved: i64,
    /// Median days from request to resolution, if any resolved.
    pub median_days: Option<f64>,
    /// Volunteer points by week: (week, earned, redeemed at the 爱心超市).
    pub points: Vec<(String, i64, i64)>,
}

fn check_date(field: &str, v: &Option<String>) -> Result<Option<String>, Error> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => linli_core::model::parse_day(s)
            .map(|d| Some(d.to_string()))
            .ok_or_else(|| Error::BadRequest(format!("{field} must be a date like 2026-11-23"))),
    }
}

/// Compute the statistics for `halls` between two dates (inclusive).
pub async fn compute(
    state: &AppState,
    halls: Vec<String>,
    from: &str,
    to: &str,
) -> Result<Stats, Error> {
    // Activity kinds and titles live in the hall calendars.
    let mut info: HashMap<String, (String, String)> = HashMap::new();
    // Walk-in services by roll-up key ("walk-in:<id>"), per hall: their names.
    let mut service_names: HashMap<(String, String), String> = HashMap::new();
    // Request windows are each hall's own days: [first ms of `from`,
    // first ms of the day after `to`) on the hall's clock.
    let mut windows: HashMap<String, (i64, i64)> = HashMap::new();
    let mut zones: HashMap<String, chrono_tz::Tz> = HashMap::new();
    let day = |d: &str| {
        linli_core::model::parse_day(d)
            .ok_or_else(|| Error::BadRequest(format!("{d:?} is not a date like 2026-11-23")))
    };
    let (first, last) = (day(from)?, day(to)?);
    for h in &halls {
        for (id, a) in provision::activities(&state.core, h).await? {
            info.insert(id, (a.kind.clone(), a.title.clone()));
        }
        for (id, service) in provision::services(&state.core, h).await? {
            service_names.insert((h.clone(), id), service.name);
        }
        let hall = provision::require_hall(&state.core, h).await?;
        zones.insert(h.clone(), hall.time_zone());
        windows.insert(
            h.clone(),
            (
                hall.day_start_ms(first),
                hall.day_start_ms(last + chrono::Duration::days(1)),
            ),
        );
    }
    let mut st = Stats::default();
    let mut kinds: HashMap<String, i64> = HashMap::new();
    let mut titles: HashMap<String, (i64, i64)> = HashMap::new();
    let mut services: HashMap<String, i64> = HashMap::new();
    let mut days: Vec<f64> = Vec::new();
    let mut points: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
    for h in &halls {
        let window = windows.get(h).copied().unwrap_or_default();
        // Points earned (closed shifts, by sign-in) and redeemed, by the
        // week on the hall's clock.
        let tz = zones.get(h).copied().unwrap_or(chrono_tz::Asia::Shanghai);
        let week = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| t.with_timezone(&tz).format("%Y-W%W").to_string())
                .unwrap_or_default()
        };
        for (span, earned) in credit::credited_in(&state.core, h, from, to).await? {
            if span.signed_out_ms.is_some() {
                points.entry(week(span.signed_in_ms)).or_default().0 +=
                    i64::try_from(earned).unwrap_or(i64::MAX);
            }
        }
        for r in state
            .core
            .projection
            .redemptions(h, window.0, window.1)
            .await?
        {
            points.entry(week(r.kiosk_at_ms)).or_default().1 += r.points;
        }
        let figures = state
            .core
            .projection
            .hall_figures(h, from, to, window)
            .await?;
        // ISO-like weeks as the console has always labelled them: Monday
        // first, the days before the year's first Monday in week 00.
        let mut weeks: std::collections::BTreeMap<String, i64> = Default::default();
        for (date, key, n) in &figures.checkin_days {
            if let Some(d) = linli_core::model::parse_day(date) {
                *weeks.entry(d.format("%Y-W%W").to_string()).or_default() += n;
            }
            if let Some(service) = projection::walk_in_service(key) {
                *kinds.entry(WALK_IN_KIND.to_string()).or_default() += n;
                let name = service_names
                    .get(&(h.clone(), service.to_string()))
                    .cloned()
                    .unwrap_or_else(|| service.to_string());
                *services.entry(name).or_default() += n;
                continue;
            }
            let kind = info
                .get(key)
                .map_or_else(|| "other".to_string(), |(k, _)| k.clone());
            *kinds.entry(kind).or_default() += n;
        }
        st.by_week.extend(
            weeks
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(w, n)| (h.clone(), w, n)),
        );
        st.visits += figures.named_visits;
        st.residents += figures.residents;
        for (activity, n, sum) in figures.ratings {
            let title = info
                .get(&activity)
                .map_or_else(|| activity.clone(), |(_, t)| t.clone());
            let e = titles.entry(title).or_default();
            e.0 += n;
            e.1 += sum;
        }
        st.received += figures.requests_received;
        st.resolved += figures.requests_resolved;
        days.extend(
            figures
                .resolution_ms
                .iter()
                .map(|ms| (*ms).max(0) as f64 / 86_400_000.0),
        );
    }
    kinds.retain(|_, n| *n > 0);
    days.sort_by(f64::total_cmp);
    st.median_days = (!days.is_empty()).then(|| {
        let m = days.len() / 2;
        if days.len() % 2 == 1 {
            days[m]
        } else {
            (days[m - 1] + days[m]) / 2.0
        }
    });
    let mut by_kind: Vec<_> = kinds.into_iter().collect();
    by_kind.sort();
    st.by_kind = by_kind;
    let mut by_service: Vec<_> = services.into_iter().filter(|(_, n)| *n > 0).collect();
    by_service.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    st.by_service = by_service;
    let mut sat: Vec<_> = titles
        .into_iter()
        .map(|(t, (n, sum))| (t, n, if n > 0 { sum as f64 / n as f64 } else { 0.0 }))
        .collect();
    sat.sort_by(|a, b| a.0.cmp(&b.0));
    st.satisfaction = sat;
    st.points = points
        .into_iter()
        .filter(|(_, (earned, redeemed))| *earned > 0 || *redeemed > 0)
        .map(|(w, (earned, redeemed))| (w, earned, redeemed))
        .collect();
    Ok(st)
}

/// JSON for a `<script type="application/json">` data block: `<` escaped
/// so no text can end the block.
fn script_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
}

pub async fn show(
    State(state): State<AppState>,
    s: Session,
    Query(q): Query<StatsQuery>,
) -> Result<Response, PageError> {
    let l = s.lang;
    let hall = q.hall.clone().filter(|h| !h.is_empty());
    if let Some(h) = &hall {
        s.require_hall(h)?;
    }
    // "Today" on the clock of the hall shown (or the admin's first hall).
    let tz = match hall.as_ref().or(s.halls.first()) {
        Some(h) => provision::require_hall(&state.core, h).await?.time_zone(),
        None => chrono_tz::Asia::Shanghai,
    };
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let from = check_date("from", &q.from)?
        .unwrap_or_else(|| (today - chrono::Duration::days(29)).to_string());
    let to = check_date("to", &q.to)?.unwrap_or_else(|| today.to_string());
    let halls = hall.clone().map_or_else(|| s.halls.clone(), |h| vec![h]);
    let mut st = compute(&state, halls, &from, &to).await?;
    // Kinds by name in the reader's language, in the table and the chart alike.
    for (kind, _) in &mut st.by_kind {
        *kind = super::calendar::kind_code_label(l, kind).to_string();
    }
    let rate = if st.received > 0 {
        format!("{:.0}%", 100.0 * st.resolved as f64 / st.received as f64)
    } else {
        "-".into()
    };
    let body = html! {
        form method="get" action="/admin/stats" {
            label { (l.t("服务中心", "Hall")) " " select name="hall" { option value="" { (l.t("全部", "all")) } @for h in &s.halls { option value=(h) selected[hall.as_deref() == Some(h.as_str())] { (h) } } } }
            " " label { (l.t("从", "From")) " " input name="from" value=(from) size="10"; }
            " " label { (l.t("到", "To")) " " input name="to" value=(to) size="10"; }
            " " button type="submit" { (l.t("统计", "Show")) }
            " " a href={ "/admin/export.xlsx?hall=" (hall.clone().unwrap_or_default()) "&from=" (from) "&to=" (to) } { (l.t("导出", "Excel (XLSX)")) }
        }
        h2 { (l.t("服务人次", "Person-times by week")) }
        div #chart-week style="height:280px" {}
        table { tr { th { (l.t("服务中心", "Hall")) } th { (l.t("周", "Week")) } th { (l.t("人次", "Person-times")) } }
            @for (h, w, n) in &st.by_week { tr { td { (h) } td { (w) } td.n { (n) } } } }
        h2 { (l.t("按活动类别", "By activity kind")) }
        div #chart-kind style="height:280px" {}
        table { tr { th { (l.t("类别", "Kind")) } th { (l.t("人次", "Person-times")) } } @for (k, n) in &st.by_kind { tr { td { (k) } td.n { (n) } } } }
        h2 { (l.t("到访办事（按服务项目）", "Walk-in visits by service")) }
        @if st.by_service.is_empty() { p { (l.t("这段时间没有到访办事记录。", "No walk-in visits in this period.")) } }
        @else { table #by-service { tr { th { (l.t("服务项目", "Service")) } th { (l.t("人次", "Person-times")) } } @for (name, n) in &st.by_service { tr { td { (name) } td.n { (n) } } } } }
        h2 { (l.t("居民与到访", "Residents and visits")) }
        table { tr { th { (l.t("实名到访", "Named visits")) } th { (l.t("不同居民", "Distinct residents")) } } tr { td #visits { (st.visits) } td #residents { (st.residents) } } }
        h2 { (l.t("满意度", "Satisfaction by activity")) }
        div #chart-sat style="height:280px" {}
        table { tr { th { (l.t("活动", "Activity")) } th { (l.t("评价数", "Ratings")) } th { (l.t("平均分", "Average (1–5)")) } }
            @for (t, n, avg) in &st.satisfaction { tr { td { (t) } td.n { (n) } td { (format!("{avg:.2}")) } } } }
        h2 { (l.t("志愿积分：获得与兑换", "Volunteer points: earned and redeemed")) }
        @if st.points.is_empty() { p { (l.t("这段时间没有志愿积分。", "No volunteer points in this period.")) } }
        @else {
            div #chart-points style="height:280px" data-earned=(l.t("获得", "Earned")) data-redeemed=(l.t("兑换", "Redeemed")) {}
            table #points { tr { th { (l.t("周", "Week")) } th { (l.t("获得", "Earned")) } th { (l.t("兑换", "Redeemed")) } }
                @for (w, earned, redeemed) in &st.points { tr { td { (w) } td.n { (earned) } td.n { (redeemed) } } } }
        }
        h2 { (l.t("诉求", "Requests")) }
        table { tr { th { (l.t("收到", "Received")) } th { (l.t("已解决", "Resolved")) } th { (l.t("解决率", "Resolution rate")) } th { (l.t("解决用时中位数（天）", "Median days to resolve")) } }
            tr { td #received { (st.received) } td #resolved { (st.resolved) } td { (rate) } td { (st.median_days.map_or_else(|| "-".to_string(), |d| format!("{d:.1}"))) } } }
        script #stats-data type="application/json" { (PreEscaped(script_json(&st))) }
        script src="/admin/assets/echarts.min.js" {}
        script src="/admin/assets/stats.js" {}
    };
    Ok(page(l, l.t("统计", "Statistics"), Some(&s), body).into_response())
}

/// The chart code: draws the numbers of the page's `#stats-data` block.
const CHARTS_JS: &str = r#"
(function(){
  if (typeof echarts === 'undefined') return;
  var STATS = JSON.parse(document.getElementById('stats-data').textContent);
  function bar(id, labels, values){
    var c = echarts.init(document.getElementById(id));
    c.setOption({animation:false, tooltip:{}, xAxis:{type:'category', data:labels}, yAxis:{type:'value'},
      series:[{type:'bar', data:values, itemStyle:{color:'#9e1b1b'}, label:{show:true, position:'top'}}]});
  }
  bar('chart-week', STATS.by_week.map(function(r){return r[0]+' '+r[1];}), STATS.by_week.map(function(r){return r[2];}));
  bar('chart-kind', STATS.by_kind.map(function(r){return r[0];}), STATS.by_kind.map(function(r){return r[1];}));
  bar('chart-sat', STATS.satisfaction.map(function(r){return r[0];}), STATS.satisfaction.map(function(r){return Math.round(r[2]*100)/100;}));
  var pts = document.getElementById('chart-points');
  if (pts) {
    var c = echarts.init(pts);
    c.setOption({animation:false, tooltip:{}, legend:{},
      xAxis:{type:'category', data:STATS.points.map(function(r){return r[0];})}, yAxis:{type:'value'},
      series:[
        {name:pts.dataset.earned, type:'bar', data:STATS.points.map(function(r){return r[1];}), itemStyle:{color:'#1b5e20'}, label:{show:true, position:'top'}},
        {name:pts.dataset.redeemed, type:'bar', data:STATS.points.map(function(r){return r[2];}), itemStyle:{color:'#9e1b1b'}, label:{show:true, position:'top'}}
      ]});
  }
})();
"#;
