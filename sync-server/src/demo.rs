//! Demo data: the real communities named in public reports (DOMAIN.md),
//! each with a week of typical activities from today, and a demo admin.
//! Created only when the server has no halls yet, so a restart with
//! `--demo` keeps what was recorded.

use chrono::{Datelike, Duration, NaiveDate, TimeZone, Weekday};
use linli_core::model::{Activity, ActivityKind};

use crate::{Result, provision, server::ServerCore};

/// (id, name) of the demo halls.
pub const DEMO_HALLS: [(&str, &str); 4] = [
    ("xianfeng", "先锋社区党群服务中心"),
    ("tuanjiexiang", "团结巷社区党群服务中心"),
    ("sanjiang", "三江社区党群服务中心"),
    ("zhongfu", "中福社区党群服务中心"),
];

/// The demo admin's user name.
pub const DEMO_ADMIN: &str = "demo-admin";
/// The demo admin's console password (change it on a real server).
pub const DEMO_PASSWORD: &str = "linli-demo";

/// What the demo set up.
#[derive(Debug, Default)]
pub struct DemoInfo {
    /// Halls created now (empty if the demo existed already).
    pub halls_created: Vec<String>,
    /// An API token for the demo admin, when created now.
    pub admin_token: Option<String>,
}

struct Slot {
    kind: ActivityKind,
    title: &'static str,
    room: &'static str,
    start: (u32, u32),
    end: (u32, u32),
    capacity: Option<u32>,
    named: bool,
}

fn day_plan(weekday: Weekday) -> Vec<Slot> {
    let mut v = vec![
        Slot {
            kind: ActivityKind::HealthClinic,
            title: "健康义诊",
            room: "一楼卫生服务站",
            start: (8, 30),
            end: (11, 30),
            capacity: Some(60),
            named: true,
        },
        Slot {
            kind: ActivityKind::ElderlyMeal,
            title: "长者助餐",
            room: "社区食堂",
            start: (11, 0),
            end: (13, 0),
            capacity: Some(80),
            named: false,
        },
        Slot {
            kind: ActivityKind::AfterSchool,
            title: "四点半课堂",
            room: "二楼阅览室",
            start: (16, 30),
            end: (18, 0),
            capacity: Some(30),
            named: true,
        },
        Slot {
            kind: ActivityKind::Volunteer,
            title: "平安巡逻",
            room: "服务中心门口",
            start: (19, 0),
            end: (21, 0),
            capacity: Some(12),
            named: true,
        },
    ];
    match weekday {
        Weekday::Mon | Weekday::Thu => v.push(Slot {
            kind: ActivityKind::Class,
            title: "书法课堂",
            room: "二楼活动室",
            start: (14, 30),
            end: (16, 0),
            capacity: Some(20),
            named: true,
        }),
        Weekday::Tue => v.push(Slot {
            kind: ActivityKind::Class,
            title: "戏曲课堂",
            room: "多功能厅",
            start: (14, 30),
            end: (16, 0),
            capacity: Some(25),
            named: true,
        }),
        Weekday::Wed => v.push(Slot {
            kind: ActivityKind::Lecture,
            title: "糖尿病防治讲座",
            room: "多功能厅",
            start: (9, 30),
            end: (11, 0),
            capacity: Some(50),
            named: true,
        }),
        Weekday::Fri => v.push(Slot {
            kind: ActivityKind::Festival,
            title: "邻里星光夜",
            room: "社区广场",
            start: (19, 0),
            end: (21, 0),
            capacity: None,
            named: false,
        }),
        Weekday::Sat => v.push(Slot {
            kind: ActivityKind::ServiceMarket,
            title: "党群服务集市",
            room: "社区广场",
            start: (9, 0),
            end: (12, 0),
            capacity: None,
            named: false,
        }),
        Weekday::Sun => {}
    }
    v
}

fn at(tz: chrono_tz::Tz, day: NaiveDate, (h, m): (u32, u32)) -> i64 {
    day.and_hms_opt(h, m, 0)
        .and_then(|t| tz.from_local_datetime(&t).earliest())
        .map_or(0, |t| t.timestamp_millis())
}

/// A week of activities from `first_day` for one hall.
pub fn week_of_activities(tz: chrono_tz::Tz, first_day: NaiveDate) -> Vec<Activity> {
    (0..7)
        .flat_map(|i| {
            let day = first_day + Duration::days(i);
            day_plan(day.weekday()).into_iter().map(move |s| Activity {
                kind: s.kind.code().to_string(),
                title: s.title.to_string(),
                room: Some(s.room.to_string()),
                starts_at_ms: at(tz, day, s.start),
                ends_at_ms: at(tz, day, s.end),
                capacity: s.capacity,
                named_checkin: s.named,
                cancelled: false,
            })
        })
        .collect()
}

/// Create the demo halls, their calendars (a week from the day of `now_ms`
/// in the hall) and the demo admin, unless the server already has halls.
pub async fn ensure_demo(core: &ServerCore, now_ms: i64) -> Result<DemoInfo> {
    let mut info = DemoInfo::default();
    if !core.db.call(|db| db.halls()).await?.is_empty() {
        return Ok(info);
    }
    let tz = chrono_tz::Asia::Shanghai;
    let today = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive();
    for (id, name) in DEMO_HALLS {
        provision::add_hall(core, id, name, "Asia/Shanghai").await?;
        for a in week_of_activities(tz, today) {
            provision::put_activity(core, id, None, a).await?;
        }
        info.halls_created.push(id.to_string());
    }
    provision::add_admin(core, DEMO_ADMIN, "central").await?;
    let hash = crate::console::session::hash_password_async(DEMO_PASSWORD.into()).await?;
    core.db
        .call(move |db| db.set_admin_password(DEMO_ADMIN, &hash))
        .await?;
    info.admin_token = Some(provision::admin_token(core, DEMO_ADMIN).await?);
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_has_daily_and_weekly_activities_that_validate() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let week = week_of_activities(chrono_tz::Asia::Shanghai, day);
        assert!(week.len() >= 7 * 4 + 5, "{}", week.len());
        for a in &week {
            a.validate().expect("demo activities are valid");
        }
        assert!(week.iter().any(|a| a.title == "党群服务集市"));
    }
}
