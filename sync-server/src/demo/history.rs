//! The demo's history: about 90 days of plausible hall life in each demo
//! hall, so the console of a demo server shows what a real quarter looks
//! like (overview, statistics, requests, volunteers, kiosks, exports)
//! instead of zeros.
//!
//! It is written as kiosks write it, never straight into the tables: a
//! demo kiosk per hall ([`HISTORY_KIOSK`], named so nobody mistakes it for
//! a real one) gets a day ledger per day and a request book per month,
//! made with the same document functions a kiosk uses, registered in the
//! hall directory, claimed for that kiosk and projected like documents a
//! kiosk delivered. Past activities go into the hall calendar; answers to
//! requests go through the same path as a staff member's reply.
//!
//! Residents are a fixed cast of demo numbers (`1390000xxxx`, no one's
//! real number) with their pseudonyms, sealed contacts and name boxes made
//! as a kiosk makes them. The randomness is seeded, so every demo server
//! tells the same story. Seeding happens once, when the demo creates its
//! halls, in the background (a kiosk's demo window does not wait for it):
//! about 5 s in a release build, 18 s in the dev profile.

use std::str::FromStr;

use automerge::Automerge;
use chrono::{Duration, NaiveDate};
use linli_core::{
    docs::{DocKind, calendar, directory, ledger, requests},
    ids::RecordId,
    model::{
        Activity, ActivityKind, CheckIn, Rating, Request, RequestCategory, RequestReply,
        RequestStatus, ResidentRef, ShiftAction, ShiftEvent, standard_services,
    },
    phone::PhoneNumber,
    resident::{Pseudonymizer, SealingKey},
};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use samod::{AutomergeUrl, DocumentId};

use linli_sync_engine::{Error, Result, clock::now_ms, projection, provision, server::ServerCore};

/// Days of history before today.
pub const HISTORY_DAYS: i64 = 90;

/// The name of the kiosk each demo hall's history was recorded on.
pub const HISTORY_KIOSK: &str = "演示历史数据 · 服务台";

/// The demo residents: demo numbers (the `1390000` block, no one's) and the
/// short names they would give.
const CAST: [(&str, &str); 24] = [
    ("13900000101", "李阿姨"),
    ("13900000102", "王大爷"),
    ("13900000103", "张奶奶"),
    ("13900000104", "刘叔叔"),
    ("13900000105", "陈阿姨"),
    ("13900000106", "赵大爷"),
    ("13900000107", "孙奶奶"),
    ("13900000108", "周老师"),
    ("13900000109", "吴阿姨"),
    ("13900000110", "郑大爷"),
    ("13900000111", "冯奶奶"),
    ("13900000112", "何叔叔"),
    ("13900000113", "许阿姨"),
    ("13900000114", "马大爷"),
    ("13900000115", "朱奶奶"),
    ("13900000116", "胡阿姨"),
    ("13900000117", "郭大爷"),
    ("13900000118", "林奶奶"),
    ("13900000119", "罗叔叔"),
    ("13900000120", "高阿姨"),
    ("13900000121", "梁大爷"),
    ("13900000122", "宋奶奶"),
    ("13900000123", "唐阿姨"),
    ("13900000124", "韩大爷"),
];

/// How many of the cast also volunteer (the first ones).
const VOLUNTEERS: usize = 8;

/// Reason chips a rating may carry (the kiosk's codes).
const GOOD_REASONS: [&str; 3] = ["time_good", "teacher_good", "learned_much"];
const BAD_REASONS: [&str; 3] = ["too_crowded", "too_short", "want_more"];

/// Requests residents leave, by category, as the kiosk's phrases build them.
const REQUESTS: [(RequestCategory, &str); 14] = [
    (RequestCategory::Repair, "3号楼楼道灯坏了，晚上看不见台阶"),
    (RequestCategory::Repair, "小区东门的健身器材松动了"),
    (RequestCategory::Repair, "活动室的空调不制冷"),
    (RequestCategory::Sanitation, "垃圾分类点周末没人清运"),
    (RequestCategory::Sanitation, "5号楼后面有积水，蚊子多"),
    (RequestCategory::Dispute, "楼上装修太吵，中午也不停"),
    (RequestCategory::Safety, "南门晚上没有路灯，不安全"),
    (RequestCategory::Safety, "电动车在楼道里充电"),
    (
        RequestCategory::ServiceSuggestion,
        "希望长者助餐增加周末供应",
    ),
    (
        RequestCategory::ServiceSuggestion,
        "健康义诊能不能多一位眼科医生",
    ),
    (RequestCategory::Idea, "建议开一个智能手机使用课"),
    (RequestCategory::Idea, "可以组织邻里旧物交换"),
    (RequestCategory::Other, "想报名当志愿者，怎么报名"),
    (RequestCategory::Other, "四点半课堂还有名额吗"),
];

/// Replies staff give, by the status they set.
const IN_PROGRESS_REPLIES: [&str; 2] = ["已转物业，本周内处理", "已登记，正在联系相关部门"];
const RESOLVED_REPLIES: [&str; 3] = [
    "已处理完毕，感谢您的反映",
    "已安排人员解决，欢迎继续监督",
    "已采纳，下月开始实行",
];

/// What the history holds, for the log and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    /// Day ledgers written.
    pub ledgers: usize,
    /// Check-in records (named and headcount taps, walk-ins among them).
    pub checkins: usize,
    /// Of those, walk-in visits for the hall's everyday services.
    pub walk_ins: usize,
    /// Ratings.
    pub ratings: usize,
    /// Volunteer shifts (a sign-in and its sign-out).
    pub shifts: usize,
    /// Requests, of which some answered.
    pub requests: usize,
}

impl std::ops::AddAssign for Seeded {
    fn add_assign(&mut self, o: Self) {
        self.ledgers += o.ledgers;
        self.checkins += o.checkins;
        self.walk_ins += o.walk_ins;
        self.ratings += o.ratings;
        self.shifts += o.shifts;
        self.requests += o.requests;
    }
}

/// The cast as records know them, made as a kiosk makes them (one slow
/// pseudonym each, on two threads).
async fn cast(core: &ServerCore) -> Result<Vec<ResidentRef>> {
    let identity = core.residents.identity().clone();
    tokio::task::spawn_blocking(move || -> Result<Vec<ResidentRef>> {
        let pseudonymizer = Pseudonymizer::from_hex(&identity.salt)?;
        let sealing = SealingKey::from_hex(&identity.seal_key)?;
        let half = CAST.len() / 2;
        let make = |part: &[(&str, &str)]| -> Result<Vec<ResidentRef>> {
            part.iter()
                .map(|(number, name)| {
                    let phone = PhoneNumber::parse(number)?;
                    Ok(pseudonymizer
                        .identify(&phone)?
                        .reference(&sealing, &phone, Some(name))?)
                })
                .collect()
        };
        std::thread::scope(|s| {
            let first = s.spawn(|| make(&CAST[..half]));
            let second = make(&CAST[half..])?;
            let mut all = first
                .join()
                .map_err(|_| Error::BadRequest("demo residents: a worker failed".into()))??;
            all.extend(second);
            Ok(all)
        })
    })
    .await
    .map_err(|e| Error::BadRequest(format!("demo residents: {e}")))?
}

/// Seed the history of the demo halls `halls` up to the day before that of
/// `now_ms` (hall time). Called once, when the demo creates them.
pub async fn seed(core: &ServerCore, halls: &[&str], now_ms: i64) -> Result<Seeded> {
    let cast = cast(core).await?;
    let tz = chrono_tz::Asia::Shanghai;
    let today = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive();
    let mut total = Seeded::default();
    for (n, hall) in halls.iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(0x6c69_6e6c_6900 + n as u64);
        total += seed_hall(core, hall, (today, now_ms), &cast, &mut rng).await?;
    }
    tracing::info!(
        ledgers = total.ledgers,
        checkins = total.checkins,
        requests = total.requests,
        "demo history seeded"
    );
    Ok(total)
}

/// A document written as the history kiosk: created, claimed for it and
/// projected; its directory entry (`key`, URL) goes into `entries`, which
/// [`register`] adds to the directory in one change.
async fn deliver(
    core: &ServerCore,
    hall: &str,
    kiosk: &str,
    entries: &mut Vec<(String, String)>,
    key: String,
    doc: Automerge,
) -> Result<DocumentId> {
    let handle = core.repos.create(hall, doc).await?;
    let id = handle.document_id().clone();
    drop(handle);
    let (d, h, k) = (id.to_string(), hall.to_string(), kiosk.to_string());
    core.tables.claim_doc(&d, &h, &k, now_ms()).await?;
    entries.push((key, AutomergeUrl::from(&id).to_string()));
    projection::project_document(core, &id).await?;
    Ok(id)
}

/// List the delivered documents in the hall directory.
async fn register(
    core: &ServerCore,
    hall: &str,
    directory_doc: &DocumentId,
    entries: Vec<(String, String)>,
) -> Result<()> {
    let dir = core
        .repos
        .find_in(hall, directory_doc.clone())
        .await?
        .ok_or_else(|| Error::NotFound(format!("the directory of hall {hall}")))?;
    dir.with_document_async(move |d| {
        entries
            .iter()
            .try_for_each(|(key, url)| directory::register(d, key, url).map(|_| ()))
    })
    .await??;
    Ok(())
}

async fn seed_hall(
    core: &ServerCore,
    hall_id: &str,
    // The demo's moment and its day in the hall: what "recent" means for
    // the answers, whatever day the code runs.
    (today, now): (NaiveDate, i64),
    cast: &[ResidentRef],
    rng: &mut StdRng,
) -> Result<Seeded> {
    let tz = chrono_tz::Asia::Shanghai;
    let hall = provision::require_hall(core, hall_id).await?;
    let (kiosk, _token) = provision::add_kiosk(core, hall_id, HISTORY_KIOSK).await?;
    let directory_doc = DocumentId::from_str(&hall.directory_doc)
        .map_err(|e| Error::BadRequest(format!("directory id: {e}")))?;
    // The past calendar, in one change set per hall.
    let days: Vec<(NaiveDate, Vec<(String, Activity)>)> = (1..=HISTORY_DAYS)
        .rev()
        .map(|back| {
            let day = today - Duration::days(back);
            let acts = super::day_of_activities(tz, day)
                .into_iter()
                .map(|a| {
                    (
                        RecordId::made_at(a.starts_at_ms - 86_400_000).to_string(),
                        a,
                    )
                })
                .collect();
            (day, acts)
        })
        .collect();
    let past: Vec<(String, Activity)> = days.iter().flat_map(|(_, a)| a.clone()).collect();
    let calendar = core
        .repos
        .find_in(
            hall_id,
            DocumentId::from_str(&hall.calendar_doc)
                .map_err(|e| Error::BadRequest(format!("calendar id: {e}")))?,
        )
        .await?
        .ok_or_else(|| Error::NotFound(format!("the calendar of hall {hall_id}")))?;
    calendar
        .with_document_async(move |d| {
            past.iter()
                .try_for_each(|(id, a)| calendar::put_activity(d, id, a))
        })
        .await??;
    drop(calendar);

    let mut seeded = Seeded::default();
    let mut entries = Vec::new();
    // Built off the async workers (thousands of changes), then delivered.
    let (ledgers, counts, back) = {
        let (hall, kiosk_id, cast) = (hall_id.to_string(), kiosk.id.clone(), cast.to_vec());
        let mut rng = rng.clone();
        tokio::task::spawn_blocking(move || -> Result<_> {
            let mut counts = Seeded::default();
            let mut ledgers = Vec::new();
            for (day, acts) in &days {
                let date = day.format("%Y-%m-%d").to_string();
                let mut doc = ledger::new_ledger(&hall, &kiosk_id, &date)?;
                for (activity_id, a) in acts {
                    let n = write_activity(&mut doc, &kiosk_id, activity_id, a, &cast, &mut rng)?;
                    counts.checkins += n.0;
                    counts.ratings += n.1;
                    counts.shifts += n.2;
                }
                let walk_ins = write_walk_ins(&mut doc, &kiosk_id, tz, *day, &cast, &mut rng)?;
                counts.walk_ins += walk_ins;
                counts.checkins += walk_ins;
                counts.ledgers += 1;
                ledgers.push((date, doc));
            }
            Ok((ledgers, counts, rng))
        })
        .await
        .map_err(|e| Error::BadRequest(format!("demo history: {e}")))??
    };
    *rng = back;
    seeded += counts;
    for (date, doc) in ledgers {
        let key = directory::entry_key(DocKind::Ledger, &kiosk.id, &date);
        deliver(core, hall_id, &kiosk.id, &mut entries, key, doc).await?;
    }

    // Requests: a few a week, in one book per month, answered as staff
    // would (older ones mostly resolved).
    let mut months: Vec<(String, Vec<(String, Request)>)> = Vec::new();
    let mut back = HISTORY_DAYS;
    while back >= 1 {
        let day = today - Duration::days(back);
        let at = super::at(tz, day, (rng.random_range(9..18), rng.random_range(0..60)));
        let (category, text) = REQUESTS[rng.random_range(0..REQUESTS.len())];
        let resident = rng
            .random_bool(0.6)
            .then(|| cast[rng.random_range(0..cast.len())].clone());
        let callback_consent = resident.is_some() && rng.random_bool(0.5);
        let request = Request {
            category: category.code().to_string(),
            text: text.to_string(),
            resident,
            callback_consent,
            kiosk_id: kiosk.id.clone(),
            at_ms: at,
        };
        let month = day.format("%Y-%m").to_string();
        let id = RecordId::made_at(at).to_string();
        match months.last_mut() {
            Some((m, list)) if *m == month => list.push((id, request)),
            _ => months.push((month, vec![(id, request)])),
        }
        back -= rng.random_range(1..4);
    }
    let mut answers = Vec::new();
    let mut books = Vec::new();
    for (month, list) in months {
        let mut doc = requests::new_request_book(hall_id, &kiosk.id, &month)?;
        for (id, r) in &list {
            r.validate()?;
            requests::add_request(&mut doc, id, r)?;
            let age_days = (now - r.at_ms) / 86_400_000;
            let roll: f64 = rng.random();
            let status = match (age_days, roll) {
                (a, r) if a > 14 && r < 0.75 => Some(RequestStatus::Resolved),
                (a, r) if a > 14 && r < 0.9 => Some(RequestStatus::InProgress),
                (_, r) if r < 0.3 => Some(RequestStatus::Resolved),
                (_, r) if r < 0.6 => Some(RequestStatus::InProgress),
                _ => None,
            };
            if let Some(status) = status {
                let days = rng.random_range(1..=age_days.clamp(1, 10));
                let reply = match status {
                    RequestStatus::Resolved => {
                        RESOLVED_REPLIES[rng.random_range(0..RESOLVED_REPLIES.len())]
                    }
                    _ => IN_PROGRESS_REPLIES[rng.random_range(0..IN_PROGRESS_REPLIES.len())],
                };
                answers.push((
                    id.clone(),
                    RequestReply {
                        status,
                        reply: Some(reply.to_string()),
                        updated_at_ms: r.at_ms + days * 86_400_000,
                    },
                ));
            }
        }
        seeded.requests += list.len();
        let key = directory::entry_key(DocKind::RequestBook, &kiosk.id, &month);
        books.push(deliver(core, hall_id, &kiosk.id, &mut entries, key, doc).await?);
    }
    register(core, hall_id, &directory_doc, entries).await?;
    for (id, reply) in answers {
        provision::reply_request(core, hall_id, &id, reply).await?;
    }
    // The answers are in the books; project them now rather than when the
    // projector gets to them, so the console shows them from the start.
    for book in &books {
        projection::project_document(core, book).await?;
    }
    Ok(seeded)
}

/// A day's walk-in visits in a ledger (busier on weekdays, none on
/// Sundays, office hours): residents come for the hall's standard
/// services, most of them leaving their number, some not. A resident
/// comes for a service once a day, as the kiosk counts them. Returns how
/// many.
fn write_walk_ins(
    doc: &mut Automerge,
    kiosk: &str,
    tz: chrono_tz::Tz,
    day: NaiveDate,
    cast: &[ResidentRef],
    rng: &mut StdRng,
) -> Result<usize> {
    use chrono::Datelike as _;
    let services = standard_services();
    // 办事 and 咨询 most, then 医保, 社保 and 便民服务.
    const WEIGHTS: [u32; 5] = [30, 25, 15, 15, 15];
    let n = match day.weekday() {
        chrono::Weekday::Sun => 0,
        chrono::Weekday::Sat => rng.random_range(2..=5),
        _ => rng.random_range(6..=14),
    };
    let mut named_today: std::collections::HashSet<(usize, usize)> = Default::default();
    for _ in 0..n {
        let mut pick = rng.random_range(0..WEIGHTS.iter().sum::<u32>());
        let service = WEIGHTS
            .iter()
            .position(|w| {
                let here = pick < *w;
                pick = pick.saturating_sub(*w);
                here
            })
            .unwrap_or(0);
        let at_ms = super::at(tz, day, (rng.random_range(9..17), rng.random_range(0..60)));
        let who = rng.random_range(0..cast.len());
        let resident =
            (rng.random_bool(0.7) && named_today.insert((service, who))).then(|| cast[who].clone());
        let c = CheckIn {
            activity_id: String::new(),
            service: Some(services[service].0.to_string()),
            resident,
            headcount: 1,
            companions: u32::from(rng.random_bool(0.08)),
            kiosk_id: kiosk.to_string(),
            at_ms,
        };
        ledger::add_checkin(doc, &RecordId::made_at(at_ms).to_string(), &c)?;
    }
    Ok(n)
}

/// The records of one past activity in a ledger: check-ins (named, with
/// the odd companion, or headcount taps), ratings, and for a volunteer
/// activity the volunteers' shifts. Returns (check-ins, ratings, shifts).
fn write_activity(
    doc: &mut Automerge,
    kiosk: &str,
    activity_id: &str,
    a: &Activity,
    cast: &[ResidentRef],
    rng: &mut StdRng,
) -> Result<(usize, usize, usize)> {
    let minute = 60_000;
    let mut checkins = 0;
    let arrival =
        |rng: &mut StdRng| a.starts_at_ms - 20 * minute + rng.random_range(0..35) * minute;
    if a.kind() == ActivityKind::Volunteer {
        let mut volunteers: Vec<&ResidentRef> = cast[..VOLUNTEERS].iter().collect();
        volunteers.shuffle(rng);
        let n = rng.random_range(3..=5);
        for v in &volunteers[..n] {
            let signed_in = a.starts_at_ms - rng.random_range(0..15) * minute;
            let shift_id = RecordId::made_at(signed_in).to_string();
            let event = |action: ShiftAction, at_ms| ShiftEvent {
                volunteer: (*v).clone(),
                action: action.code().to_string(),
                shift_id: shift_id.clone(),
                activity_id: Some(activity_id.to_string()),
                kiosk_id: kiosk.to_string(),
                at_ms,
            };
            ledger::add_shift_event(doc, &shift_id, &event(ShiftAction::SignIn, signed_in))?;
            let signed_out = a.ends_at_ms + rng.random_range(0..20) * minute;
            ledger::add_shift_event(
                doc,
                &RecordId::made_at(signed_out).to_string(),
                &event(ShiftAction::SignOut, signed_out),
            )?;
        }
        return Ok((0, 0, n));
    }
    let capacity = a.capacity.unwrap_or(60) as usize;
    if a.named_checkin {
        let mut who: Vec<&ResidentRef> = cast.iter().collect();
        who.shuffle(rng);
        let most = capacity.min(cast.len());
        let n = rng.random_range(most / 4..=most / 2);
        for r in &who[..n.max(1)] {
            let at_ms = arrival(rng);
            let c = CheckIn {
                activity_id: activity_id.to_string(),
                service: None,
                resident: Some((*r).clone()),
                headcount: 1,
                companions: u32::from(rng.random_bool(0.12)),
                kiosk_id: kiosk.to_string(),
                at_ms,
            };
            ledger::add_checkin(doc, &RecordId::made_at(at_ms).to_string(), &c)?;
            checkins += 1;
        }
    } else {
        let mut counted = 0;
        let goal = rng.random_range(capacity / 3..=capacity * 2 / 3);
        while counted < goal {
            let at_ms = arrival(rng);
            let headcount = rng.random_range(2..=6u32);
            let c = CheckIn {
                activity_id: activity_id.to_string(),
                service: None,
                resident: None,
                headcount,
                companions: 0,
                kiosk_id: kiosk.to_string(),
                at_ms,
            };
            ledger::add_checkin(doc, &RecordId::made_at(at_ms).to_string(), &c)?;
            counted += headcount as usize;
            checkins += 1;
        }
    }
    let ratings = rng.random_range(1..=4);
    for _ in 0..ratings {
        let score = match rng.random_range(0..20) {
            0 => 2,
            1..=3 => 3,
            4..=10 => 4,
            _ => 5,
        };
        let reason = rng.random_bool(0.6).then(|| {
            let chips = if score >= 4 {
                &GOOD_REASONS
            } else {
                &BAD_REASONS
            };
            chips[rng.random_range(0..chips.len())].to_string()
        });
        let at_ms = a.ends_at_ms + rng.random_range(0..30) * minute;
        let r = Rating {
            activity_id: activity_id.to_string(),
            score,
            reason,
            kiosk_id: kiosk.to_string(),
            at_ms,
        };
        ledger::add_rating(doc, &RecordId::made_at(at_ms).to_string(), &r)?;
    }
    Ok((checkins, ratings, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(core: &ServerCore, sql: &'static str) -> i64 {
        core.sqlite("a test query")
            .expect("sqlite")
            .with(|c| {
                c.query_row(sql, [], |r| r.get(0))
                    .map_err(|e| Error::db("counting", e))
            })
            .expect("count")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_history_is_projected_as_kiosks_deliver_it_and_seeded_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (core, _) = ServerCore::open(dir.path(), linli_core::sqlite::Durability::Normal, false)
            .await
            .expect("open");
        let tz = chrono_tz::Asia::Shanghai;
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).expect("date");
        let now = super::super::at(tz, day, (10, 45));
        let started = std::time::Instant::now();
        let info = super::super::ensure_demo(&core, now).await.expect("demo");
        let halls: Vec<&str> = info.halls_created.iter().map(String::as_str).collect();
        let seeded = seed(&core, &halls, now).await.expect("history");
        eprintln!(
            "seeded {seeded:?} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        assert_eq!(seeded.ledgers, 4 * HISTORY_DAYS as usize);
        // Every record reached the projection, as a kiosk's would.
        assert_eq!(
            count(&core, "SELECT count(*) FROM checkins") as usize,
            seeded.checkins
        );
        assert_eq!(
            count(&core, "SELECT count(*) FROM ratings") as usize,
            seeded.ratings
        );
        assert_eq!(
            count(&core, "SELECT count(*) FROM shift_events") as usize,
            2 * seeded.shifts
        );
        assert_eq!(
            count(&core, "SELECT count(*) FROM requests") as usize,
            seeded.requests
        );
        assert_eq!(
            count(&core, "SELECT count(*) FROM quarantine"),
            0,
            "nothing quarantined"
        );
        assert!(seeded.checkins > 4 * 90 * 5, "{seeded:?}");
        // Walk-in visits, for the halls' services, named and not.
        assert!(seeded.walk_ins > 4 * 50, "{seeded:?}");
        assert_eq!(
            count(
                &core,
                "SELECT count(*) FROM checkins WHERE service IS NOT NULL"
            ) as usize,
            seeded.walk_ins
        );
        assert_eq!(
            count(
                &core,
                "SELECT count(DISTINCT service) FROM checkins WHERE activity_id = ''"
            ),
            5
        );
        assert!(
            count(
                &core,
                "SELECT count(*) FROM checkins WHERE service IS NOT NULL AND phone_hash IS NULL"
            ) > 10
        );
        // Named and anonymous, requests in every state, replies given.
        assert!(count(&core, "SELECT count(DISTINCT phone_hash) FROM checkins") >= 20);
        assert!(
            count(
                &core,
                "SELECT count(*) FROM checkins WHERE phone_hash IS NULL"
            ) > 100
        );
        for status in ["received", "in_progress", "resolved"] {
            let n: i64 = core
                .sqlite("a test query")
                .expect("the SQLite store")
                .with(|c| {
                    c.query_row(
                        "SELECT count(*) FROM requests WHERE status = ?1",
                        [status],
                        |r| r.get(0),
                    )
                    .map_err(|e| Error::db("counting", e))
                })
                .expect("count");
            assert!(n > 0, "{status}: none");
        }
        assert_eq!(
            count(
                &core,
                "SELECT count(*) FROM requests WHERE status != 'received' AND reply IS NULL"
            ),
            0
        );
        // Nothing after yesterday, nothing before the 90 days.
        let first = super::super::at(tz, day - Duration::days(HISTORY_DAYS + 1), (0, 0));
        let today = super::super::at(tz, day, (0, 0));
        let (lo, hi): (i64, i64) = core
            .sqlite("a test query")
            .expect("the SQLite store")
            .with(|c| {
                c.query_row(
                    "SELECT min(kiosk_at_ms), max(kiosk_at_ms) FROM checkins",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(|e| Error::db("counting", e))
            })
            .expect("range");
        assert!(lo >= first && hi < today, "{lo}..{hi}");
        // The kiosk it came from says it is demo data.
        assert_eq!(
            count(
                &core,
                "SELECT count(*) FROM kiosks WHERE name = '演示历史数据 · 服务台'"
            ),
            4
        );
        // The server seeds it only for halls it just created: a second
        // start creates none.
        let again = super::super::ensure_demo(&core, now + 86_400_000)
            .await
            .expect("again");
        assert!(again.halls_created.is_empty());
        core.stop().await;
    }
}
