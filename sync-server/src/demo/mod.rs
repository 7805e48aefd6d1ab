//! Demo data: the real communities named in public reports (DOMAIN.md),
//! each with a week of typical activities from today, and a demo admin.
//! Created only when the server has no halls yet, so a restart with
//! `--demo` keeps what was recorded.
//!
//! The demo works at any hour: a hall's typical day runs 08:30–21:00, so
//! someone trying Linli at night (or from another continent) would find
//! nothing to check in to or rate. [`around_now`] adds what that moment
//! lacks — an activity open for check-in now, and one that ran earlier
//! today to rate — and every start of a demo server adds them again for
//! its own moment, with the week ahead, to the halls it made.

use chrono::{Datelike, Duration, NaiveDate, TimeZone, Weekday};
use linli_core::model::{Activity, ActivityKind};

use linli_sync_engine::{Result, provision, server::ServerCore};

pub mod history;

/// (id, name) of the demo halls.
pub const DEMO_HALLS: [(&str, &str); 4] = [
    ("xianfeng", "先锋社区党群服务中心"),
    ("tuanjiexiang", "团结巷社区党群服务中心"),
    ("sanjiang", "三江社区党群服务中心"),
    ("zhongfu", "中福社区党群服务中心"),
];

/// The demo admin's user name.
pub const DEMO_ADMIN: &str = "demo-admin";
/// Each demo hall's 爱心超市: (item, points, stock). A volunteer earns a
/// point per half hour of service (the default rule, `linli_core::points_rules`).
pub const DEMO_CATALOGUE: [(&str, i64, i64); 6] = [
    ("肥皂", 2, 20),
    ("毛巾", 4, 15),
    ("理发券", 6, 8),
    ("洗衣液", 10, 10),
    ("食用油 1.8L", 16, 6),
    ("大米 5kg", 20, 6),
];
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
        .flat_map(|i| day_of_activities(tz, first_day + Duration::days(i)))
        .collect()
}

/// The typical activities of one day in a demo hall.
pub fn day_of_activities(tz: chrono_tz::Tz, day: NaiveDate) -> Vec<Activity> {
    day_plan(day.weekday())
        .into_iter()
        .map(move |s| Activity {
            kind: s.kind.code().to_string(),
            title: s.title.to_string(),
            room: Some(s.room.to_string()),
            starts_at_ms: at(tz, day, s.start),
            ends_at_ms: at(tz, day, s.end),
            capacity: s.capacity,
            named_checkin: s.named,
            cancelled: false,
        })
        .collect()
}

const FIVE_MINUTES: i64 = 5 * 60_000;

fn floor_to_five_minutes(ms: i64) -> i64 {
    ms.div_euclid(FIVE_MINUTES) * FIVE_MINUTES
}

/// What the demo adds at `now_ms` to a hall whose activities of that day
/// (on the hall's clock) are `today`, so that there is something open for
/// check-in and something to rate at any hour: an activity open now if
/// none is, and one that ran earlier today if nothing has started yet.
/// Both start today, which is what the kiosk lists.
pub fn around_now(tz: chrono_tz::Tz, now_ms: i64, today: &[Activity]) -> Vec<Activity> {
    let local = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .with_timezone(&tz);
    let day_start = at(tz, local.date_naive(), (0, 0));
    let mut out = Vec::new();
    let activity =
        |kind: ActivityKind, title: &str, room: &str, start: i64, end: i64, capacity| Activity {
            kind: kind.code().to_string(),
            title: title.to_string(),
            room: Some(room.to_string()),
            starts_at_ms: start,
            ends_at_ms: end,
            capacity: Some(capacity),
            named_checkin: true,
            cancelled: false,
        };
    if !today.iter().any(|a| a.is_open_at(now_ms)) {
        let start = floor_to_five_minutes(now_ms - 20 * 60_000).max(day_start);
        out.push(activity(
            ActivityKind::Class,
            "棋牌活动",
            "一楼活动室",
            start,
            start + 2 * 3_600_000,
            30,
        ));
    }
    let started = |a: &Activity| !a.cancelled && a.starts_at_ms <= now_ms;
    if !today.iter().any(started) && now_ms - day_start >= 2 * 3_600_000 {
        let start = floor_to_five_minutes(now_ms - 3 * 3_600_000).max(day_start);
        let end = (start + 90 * 60_000).min(floor_to_five_minutes(now_ms - 15 * 60_000));
        out.push(activity(
            ActivityKind::Lecture,
            "防诈骗宣传讲座",
            "多功能厅",
            start,
            end,
            50,
        ));
    }
    out
}

/// Add to a demo hall what the week from the day of `now_ms` and the
/// moment itself need, leaving every activity it has alone (one already
/// there with the same title and start is not added twice).
async fn fill_calendar(core: &ServerCore, hall: &str, now_ms: i64) -> Result<usize> {
    let tz = chrono_tz::Asia::Shanghai;
    let today = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive();
    let mut have: Vec<Activity> = provision::activities(core, hall)
        .await?
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    let mut wanted = week_of_activities(tz, today);
    let todays: Vec<Activity> = have
        .iter()
        .chain(&wanted)
        .filter(|a| {
            chrono::DateTime::from_timestamp_millis(a.starts_at_ms)
                .is_some_and(|t| t.with_timezone(&tz).date_naive() == today)
        })
        .cloned()
        .collect();
    wanted.extend(around_now(tz, now_ms, &todays));
    let mut added = 0;
    for a in wanted {
        if have
            .iter()
            .any(|h| h.title == a.title && h.starts_at_ms == a.starts_at_ms)
        {
            continue;
        }
        provision::put_activity(core, hall, None, a.clone()).await?;
        have.push(a);
        added += 1;
    }
    Ok(added)
}

/// Create the demo halls, their calendars (a week from the day of `now_ms`
/// in the hall, and what that moment needs: [`around_now`]) and the demo
/// admin, unless the server already has halls. A demo server started again
/// later gets the week and the moment of its new start added. The halls'
/// past is [`history::seed`]'s (the server seeds it in the background).
pub async fn ensure_demo(core: &ServerCore, now_ms: i64) -> Result<DemoInfo> {
    let mut info = DemoInfo::default();
    let halls = core.tables.halls().await?;
    if !halls.is_empty() {
        // Only a server the demo made (its admin is there) gets more.
        let is_demo = core.tables.admin_login(DEMO_ADMIN).await?.is_some();
        if is_demo {
            for h in halls {
                if DEMO_HALLS.iter().any(|(id, _)| *id == h.id) {
                    fill_calendar(core, &h.id, now_ms).await?;
                }
            }
        }
        return Ok(info);
    }
    for (id, name) in DEMO_HALLS {
        provision::add_hall(core, id, name, "Asia/Shanghai").await?;
        fill_calendar(core, id, now_ms).await?;
        for (item, points, stock) in DEMO_CATALOGUE {
            core.tables.set_catalogue_item(id, item, points).await?;
            core.tables.set_catalogue_stock(id, item, stock).await?;
        }
        info.halls_created.push(id.to_string());
    }
    provision::add_admin(core, DEMO_ADMIN, "central").await?;
    let hash = linli_sync_engine::accounts::hash_password_async(DEMO_PASSWORD.into()).await?;
    core.tables.set_admin_password(DEMO_ADMIN, &hash).await?;
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

    /// The demo's activities of the day at `hh:mm` Beijing time on
    /// `day`, as the kiosk lists them (started that day).
    fn demo_day_at(day: NaiveDate, hh: u32, mm: u32) -> (i64, Vec<Activity>) {
        let tz = chrono_tz::Asia::Shanghai;
        let now = at(tz, day, (hh, mm));
        let week = week_of_activities(tz, day);
        let mut today: Vec<Activity> = week
            .into_iter()
            .filter(|a| {
                a.starts_at_ms >= at(tz, day, (0, 0))
                    && a.starts_at_ms < at(tz, day + Duration::days(1), (0, 0))
            })
            .collect();
        let extra = around_now(tz, now, &today);
        for a in &extra {
            a.validate().expect("valid");
            assert!(a.starts_at_ms >= at(tz, day, (0, 0)), "starts today");
        }
        today.extend(extra);
        (now, today)
    }

    #[test]
    fn at_any_hour_there_is_something_to_check_in_to_and_something_to_rate() {
        for day in 23..=29 {
            let day = NaiveDate::from_ymd_opt(2026, 11, day).expect("date");
            for (hh, mm) in (0..24)
                .flat_map(|h| [(h, 0), (h, 5), (h, 40)])
                .chain([(23, 55)])
            {
                let (now, today) = demo_day_at(day, hh, mm);
                assert!(
                    today.iter().any(|a| a.is_open_at(now)),
                    "{day} {hh:02}:{mm:02}: nothing open for check-in"
                );
                assert!(
                    today.iter().any(|a| !a.cancelled && a.starts_at_ms <= now),
                    "{day} {hh:02}:{mm:02}: nothing to rate"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_demo_server_started_again_later_gets_that_moment_and_its_week() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (core, _) = ServerCore::open(dir.path(), linli_core::sqlite::Durability::Normal, false)
            .await
            .expect("open");
        let tz = chrono_tz::Asia::Shanghai;
        let tuesday = NaiveDate::from_ymd_opt(2026, 11, 24).expect("date");
        let first = ensure_demo(&core, at(tz, tuesday, (10, 45)))
            .await
            .expect("demo");
        assert_eq!(first.halls_created.len(), 4);
        let count = |acts: &[(String, Activity)]| acts.len();
        let before = count(
            &provision::activities(&core, "xianfeng")
                .await
                .expect("acts"),
        );
        // Nine days later, at night.
        let later = at(tz, tuesday + Duration::days(9), (23, 10));
        let again = ensure_demo(&core, later).await.expect("demo again");
        assert!(again.halls_created.is_empty() && again.admin_token.is_none());
        let acts = provision::activities(&core, "xianfeng")
            .await
            .expect("acts");
        assert!(
            count(&acts) > before + 20,
            "the new week: {} then {}",
            before,
            count(&acts)
        );
        assert!(
            acts.iter()
                .any(|(_, a)| a.title == "棋牌活动" && a.is_open_at(later)),
            "something open at 23:10"
        );
        // The same moment again adds nothing.
        ensure_demo(&core, later).await.expect("demo a third time");
        assert_eq!(
            count(
                &provision::activities(&core, "xianfeng")
                    .await
                    .expect("acts")
            ),
            count(&acts)
        );
        core.stop().await;
    }

    #[tokio::test]
    async fn a_real_server_started_with_demo_by_mistake_gets_nothing_added() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (core, _) = ServerCore::open(dir.path(), linli_core::sqlite::Durability::Normal, false)
            .await
            .expect("open");
        provision::add_hall(&core, "xianfeng", "先锋", "Asia/Shanghai")
            .await
            .expect("hall");
        let info = ensure_demo(&core, linli_sync_engine::clock::now_ms())
            .await
            .expect("demo");
        assert!(info.halls_created.is_empty());
        assert!(
            provision::activities(&core, "xianfeng")
                .await
                .expect("acts")
                .is_empty()
        );
        core.stop().await;
    }

    #[test]
    fn in_the_hall_day_nothing_is_added_and_at_night_both_are() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).expect("date");
        let tz = chrono_tz::Asia::Shanghai;
        let (now, today) = demo_day_at(day, 10, 45);
        assert_eq!(
            around_now(tz, now, &today).len(),
            0,
            "the clinic is open, it can be rated"
        );
        let (_, night) = demo_day_at(day, 5, 40);
        let titles: Vec<_> = night.iter().map(|a| a.title.as_str()).collect();
        assert!(
            titles.contains(&"棋牌活动") && titles.contains(&"防诈骗宣传讲座"),
            "{titles:?}"
        );
        let lecture = night
            .iter()
            .find(|a| a.title == "防诈骗宣传讲座")
            .expect("lecture");
        assert_eq!(lecture.starts_at_ms, at(tz, day, (2, 40)));
        assert_eq!(
            lecture.ends_at_ms,
            at(tz, day, (4, 10)),
            "ended earlier today"
        );
    }
}
