//! The contract of the projection's tables: what every store behind
//! `linli_sync_engine::projection_tables::ProjectionTables` writes and
//! answers, from real kiosk documents judged by the engine's own
//! `projection::assess`. The SQLite file's tests
//! (`sync-server/engine/tests/tables.rs`) and PostgreSQL's
//! (`sync-server/store-postgres/tests/postgres.rs`) run the same
//! [`contract`] on a fresh store, so the two cannot drift apart: the same
//! documents in give the same rows, roll-ups and statistics out.

use anyhow::{Context, ensure};
use automerge::{Automerge, ReadDoc, transaction::Transactable};
use linli_core::{
    docs::{ledger, points, requests},
    model::{CheckIn, Rating, Request, RequestReply, RequestStatus, ResidentRef, ShiftEvent},
};
use linli_sync_engine::{
    db::Hall,
    projection::{self, Projected},
    projection_tables::{
        CheckinCursor, DocumentWrite, FORGED_ANSWER, ProjectionTables, RequestCursor,
        RequestFilter, StoredCheckin,
    },
    tables::ServerTables,
};

const HALL: &str = "proj-hall";
const DAY: &str = "2026-12-04";
/// Noon of [`DAY`] in Shanghai, ms.
const NOON: i64 = 1_796_356_800_000;

fn resident(n: u8) -> ResidentRef {
    ResidentRef {
        pseudonym: format!("{n:02x}").repeat(32),
        sealed: "c2VhbGVk".into(),
        name_box: None,
    }
}

fn record_id(n: u32) -> String {
    format!("0193a000-0000-7000-8000-{n:012}")
}

fn checkin(
    kiosk: &str,
    activity: &str,
    who: Option<u8>,
    headcount: u32,
    companions: u32,
) -> CheckIn {
    CheckIn {
        activity_id: activity.into(),
        service: None,
        resident: who.map(resident),
        headcount,
        companions,
        kiosk_id: kiosk.into(),
        at_ms: NOON,
    }
}

/// A day's ledger of `kiosk`: two named check-ins of one resident and
/// one of another at the clinic, an anonymous group at the meal, a
/// walk-in for the barber, two ratings and a volunteer's sign-in.
fn ledger(kiosk: &str) -> anyhow::Result<Automerge> {
    let mut d = ledger::new_ledger(HALL, kiosk, DAY)?;
    ledger::add_checkin(
        &mut d,
        &record_id(1),
        &checkin(kiosk, "clinic", Some(1), 1, 0),
    )?;
    ledger::add_checkin(
        &mut d,
        &record_id(2),
        &checkin(kiosk, "clinic", Some(1), 1, 1),
    )?;
    ledger::add_checkin(
        &mut d,
        &record_id(3),
        &checkin(kiosk, "clinic", Some(2), 1, 0),
    )?;
    ledger::add_checkin(&mut d, &record_id(4), &checkin(kiosk, "meal", None, 5, 0))?;
    let mut walk_in = checkin(kiosk, "", Some(3), 1, 0);
    walk_in.service = Some("barber".into());
    ledger::add_checkin(&mut d, &record_id(5), &walk_in)?;
    for (n, score) in [(6, 5), (7, 3)] {
        let rating = Rating {
            activity_id: "clinic".into(),
            score,
            reason: None,
            kiosk_id: kiosk.into(),
            at_ms: NOON,
        };
        ledger::add_rating(&mut d, &record_id(n), &rating)?;
    }
    let shift = ShiftEvent {
        volunteer: resident(4),
        action: "sign_in".into(),
        shift_id: "shift-1".into(),
        activity_id: Some("meal".into()),
        kiosk_id: kiosk.into(),
        at_ms: NOON,
    };
    ledger::add_shift_event(&mut d, &record_id(8), &shift)?;
    Ok(d)
}

fn request(kiosk: &str, text: &str) -> Request {
    Request {
        category: "repair".into(),
        text: text.into(),
        resident: Some(resident(1)),
        callback_consent: true,
        kiosk_id: kiosk.into(),
        at_ms: NOON,
    }
}

/// `d` judged for `kiosk` since `prev`, ready to write.
fn judged(
    doc: &str,
    kiosk: &str,
    d: &Automerge,
    prev: &[automerge::ChangeHash],
) -> anyhow::Result<DocumentWrite> {
    Ok(DocumentWrite {
        doc: doc.into(),
        hall: HALL.into(),
        kiosk: kiosk.into(),
        assessment: projection::assess(d, prev, HALL, kiosk).context("the document is empty")?,
        tagged: Vec::new(),
    })
}

/// Write one document; its answer.
async fn write_one(p: &dyn ProjectionTables, w: DocumentWrite) -> anyhow::Result<Projected> {
    let mut written = p.write(vec![w], NOON + 1_000).await?;
    ensure!(written.len() == 1, "one answer per document");
    Ok(written.pop().context("answer")?.1?)
}

/// Run every call of the interface on `p`, a projection with nothing in
/// it, beside `t`, the same store's own tables (which own the documents).
pub async fn contract(p: &dyn ProjectionTables, t: &dyn ServerTables) -> anyhow::Result<()> {
    t.insert_hall(
        &Hall {
            id: HALL.into(),
            name: "投影社区".into(),
            tz: "Asia/Shanghai".into(),
            calendar_doc: "proj-cal".into(),
            directory_doc: "proj-dir".into(),
        },
        NOON,
    )
    .await?;
    let kiosk = t.insert_kiosk(HALL, "大厅", "proj-token", NOON).await?.id;
    records_and_roll_ups(p, t, &kiosk)
        .await
        .context("records and roll-ups")?;
    let book = requests_and_answers(p, t, &kiosk)
        .await
        .context("requests and answers")?;
    quarantine(p, t, &kiosk).await.context("quarantine")?;
    pages_and_overview(p, t, &kiosk)
        .await
        .context("pages and overview")?;
    erasing(p, t, &kiosk).await.context("erasing")?;
    clearing(p, &kiosk, &book).await.context("clearing")?;
    Ok(())
}

async fn records_and_roll_ups(
    p: &dyn ProjectionTables,
    t: &dyn ServerTables,
    kiosk: &str,
) -> anyhow::Result<()> {
    t.claim_doc("proj-ledger", HALL, kiosk, NOON).await?;
    let standing = p
        .standings(&["proj-ledger".into(), "proj-nobody".into()])
        .await?;
    ensure!(standing.len() == 2, "one standing per document asked");
    ensure!(
        standing[0].owner.as_ref().map(|o| o.owner_kiosk.as_deref()) == Some(Some(kiosk))
            && standing[0].projected_heads.is_none(),
        "a claimed document not projected yet: {:?}",
        standing[0]
    );
    ensure!(
        standing[1].owner.is_none() && standing[1].projected_heads.is_none(),
        "a document nobody owns stands nowhere"
    );

    let d = ledger(kiosk)?;
    let written = write_one(p, judged("proj-ledger", kiosk, &d, &[])?).await?;
    ensure!(
        written.records == 8 && written.quarantined == 0,
        "eight records written: {written:?}"
    );
    let heads = p.standings(&["proj-ledger".into()]).await?[0]
        .projected_heads
        .clone()
        .context("heads remembered")?;
    ensure!(
        heads == projection_tables_heads(&d),
        "the heads projected are the document's"
    );

    let figures_once = p.hall_figures(HALL, DAY, DAY, (NOON - 1, NOON + 1)).await?;
    ensure!(
        figures_once.checkin_days
            == [
                (DAY.to_string(), "clinic".to_string(), 4),
                (DAY.to_string(), "meal".to_string(), 5),
                (DAY.to_string(), "walk-in:barber".to_string(), 1),
            ],
        "daily roll-ups by activity and walk-in service: {:?}",
        figures_once.checkin_days
    );
    ensure!(
        figures_once.named_visits == 4 && figures_once.residents == 3,
        "four named visits of three residents: {figures_once:?}"
    );
    ensure!(
        figures_once.ratings == [("clinic".to_string(), 2, 8)],
        "ratings rolled up: {:?}",
        figures_once.ratings
    );
    let outside = p
        .hall_figures(HALL, "2026-12-05", "2026-12-31", (0, 1))
        .await?;
    ensure!(
        outside.checkin_days.is_empty() && outside.named_visits == 0 && outside.residents == 0,
        "nothing outside the range: {outside:?}"
    );

    // The same records again (a rebuild, a kiosk sending what it sent):
    // upserts, and the roll-ups count each record once.
    write_one(p, judged("proj-ledger", kiosk, &d, &[])?).await?;
    let figures_twice = p.hall_figures(HALL, DAY, DAY, (NOON - 1, NOON + 1)).await?;
    ensure!(
        figures_twice == figures_once,
        "writing the same records twice changes no figure: {figures_twice:?}"
    );

    // Only what changed since the heads projected is judged again.
    let mut d2 = d.clone();
    ledger::add_checkin(
        &mut d2,
        &record_id(9),
        &checkin(kiosk, "meal", Some(2), 1, 2),
    )?;
    let prev = d.get_heads();
    let since = write_one(p, judged("proj-ledger", kiosk, &d2, &prev)?).await?;
    ensure!(since.records == 1, "one new record since: {since:?}");

    let (counts, rows) = p.checkins(HALL, DAY, DAY, 3).await?;
    ensure!(
        counts.count == 6 && counts.person_times == 13 && counts.walk_in_person_times == 1,
        "counts of all check-ins, not only those returned: {counts:?}"
    );
    ensure!(rows.len() == 3, "at most the limit returned");
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    ensure!(
        ids == [record_id(1), record_id(2), record_id(3)],
        "by kiosk time then id: {ids:?}"
    );
    let (_, all) = p.checkins(HALL, DAY, DAY, 100).await?;
    let walk_in: &StoredCheckin = all
        .iter()
        .find(|r| r.id == record_id(5))
        .context("walk-in listed")?;
    ensure!(
        walk_in.service.as_deref() == Some("barber")
            && walk_in.activity_id.is_empty()
            && walk_in.pseudonym.as_deref() == Some(resident(3).pseudonym.as_str())
            && walk_in.sealed.as_deref() == Some("c2VhbGVk")
            && walk_in.kiosk_id == kiosk
            && walk_in.received_ms == NOON + 1_000
            && !walk_in.clock_skew,
        "a walk-in as stored: {walk_in:?}"
    );
    let anonymous = all.iter().find(|r| r.id == record_id(4)).context("group")?;
    ensure!(
        anonymous.pseudonym.is_none() && anonymous.headcount == 5,
        "an anonymous group: {anonymous:?}"
    );
    let figures = p.hall_figures(HALL, DAY, DAY, (0, 1)).await?;
    ensure!(
        figures.residents == 3 && figures.named_visits == 5,
        "a known resident again is no new resident: {figures:?}"
    );
    let day = p.kiosk_day(kiosk, NOON).await?;
    ensure!(
        day.records == 9 && day.sync_errors == 0 && day.last_error.is_none(),
        "the kiosk's day: {day:?}"
    );
    ensure!(
        p.kiosk_day(kiosk, NOON + 2_000).await?.records == 0,
        "nothing received after"
    );
    Ok(())
}

/// The heads as the projection stores them.
fn projection_tables_heads(d: &Automerge) -> String {
    linli_sync_engine::projection_tables::heads_to_text(&d.get_heads())
}

async fn requests_and_answers(
    p: &dyn ProjectionTables,
    t: &dyn ServerTables,
    kiosk: &str,
) -> anyhow::Result<Automerge> {
    t.claim_doc("proj-book", HALL, kiosk, NOON).await?;
    let mut book = requests::new_request_book(HALL, kiosk, "2026-12")?;
    let (asked, other) = (record_id(20), record_id(21));
    requests::add_request(&mut book, &asked, &request(kiosk, "楼道灯坏了"))?;
    requests::add_request(&mut book, &other, &request(kiosk, "水管漏水"))?;
    write_one(p, judged("proj-book", kiosk, &book, &[])?).await?;
    let listed = p.requests(HALL, None).await?;
    ensure!(
        listed.len() == 2
            && listed
                .iter()
                .all(|r| r.status == "received" && r.reply.is_none()),
        "new requests are received: {listed:?}"
    );
    ensure!(
        listed[0].id == other && listed[1].id == asked,
        "newest first, then by id descending"
    );
    let r = &listed[1];
    ensure!(
        r.reference == linli_sync_engine::projection_tables::request_reference(&asked)
            && r.category == "repair"
            && r.text == "楼道灯坏了"
            && r.callback_consent
            && r.pseudonym.as_deref() == Some(resident(1).pseudonym.as_str()),
        "a request as stored: {r:?}"
    );
    ensure!(
        p.request_doc(HALL, &asked).await?.as_deref() == Some("proj-book")
            && p.request_doc("another-hall", &asked).await?.is_none()
            && p.request_doc(HALL, &record_id(99)).await?.is_none(),
        "a request's book, in its own hall only"
    );

    // Staff answer: recorded first, then put into the book, which syncs.
    let answer = RequestReply {
        status: RequestStatus::Resolved,
        reply: Some("已修好".into()),
        updated_at_ms: NOON + 86_400_000,
    };
    p.record_answer(&asked, &answer).await?;
    let prev = book.get_heads();
    requests::set_reply(&mut book, &asked, &answer)?;
    // The kiosk writes an answer of its own into its book: never taken.
    let forged = RequestReply {
        status: RequestStatus::Resolved,
        reply: Some("自己解决".into()),
        updated_at_ms: NOON + 5,
    };
    requests::set_reply(&mut book, &other, &forged)?;
    let written = write_one(p, judged("proj-book", kiosk, &book, &prev)?).await?;
    ensure!(
        written.quarantined == 1,
        "the forged answer quarantined: {written:?}"
    );
    let resolved = p.requests(HALL, Some("resolved")).await?;
    ensure!(
        resolved.len() == 1
            && resolved[0].id == asked
            && resolved[0].reply.as_deref() == Some("已修好"),
        "only the server's answer counts: {resolved:?}"
    );
    ensure!(
        p.requests(HALL, Some("received")).await?.len() == 1,
        "the request the kiosk answered itself is still received"
    );
    let q = p.quarantine(HALL).await?;
    ensure!(
        q.iter().any(
            |row| row.record_key == format!("{}/{other}", requests::REQUESTS)
                && row.reason == FORGED_ANSWER
                && row.kiosk_id.as_deref() == Some(kiosk)
        ),
        "the forged answer listed with why: {q:?}"
    );
    let figures = p.hall_figures(HALL, DAY, DAY, (NOON - 1, NOON + 1)).await?;
    ensure!(
        figures.requests_received == 2
            && figures.requests_resolved == 1
            && figures.resolution_ms == [86_400_000],
        "requests in the window, resolved in a day: {figures:?}"
    );
    // A later answer replaces the earlier one in the tables (all are kept).
    let reopened = RequestReply {
        status: RequestStatus::InProgress,
        reply: Some("再看看".into()),
        updated_at_ms: NOON + 2 * 86_400_000,
    };
    p.record_answer(&asked, &reopened).await?;
    let prev = book.get_heads();
    requests::set_reply(&mut book, &asked, &reopened)?;
    write_one(p, judged("proj-book", kiosk, &book, &prev)?).await?;
    let now = p.requests(HALL, Some("in_progress")).await?;
    ensure!(
        now.len() == 1 && now[0].reply.as_deref() == Some("再看看"),
        "the latest answer stands: {now:?}"
    );
    Ok(book)
}

async fn quarantine(
    p: &dyn ProjectionTables,
    t: &dyn ServerTables,
    kiosk: &str,
) -> anyhow::Result<()> {
    // A document naming another kiosk than the one that delivered it.
    t.claim_doc("proj-stranger", HALL, kiosk, NOON).await?;
    let stranger = ledger("someone-else")?;
    let w = judged("proj-stranger", kiosk, &stranger, &[])?;
    let written = write_one(p, w).await?;
    ensure!(
        written.records == 0 && written.quarantined == 1,
        "a stranger's document keeps out whole: {written:?}"
    );
    // A record under a key that is no record id, with a NUL in it (which
    // PostgreSQL's text cannot hold): kept out, and listed all the same.
    t.claim_doc("proj-odd-key", HALL, kiosk, NOON).await?;
    let mut odd = ledger::new_ledger(HALL, kiosk, DAY)?;
    let mut tx = odd.transaction();
    let map = match tx.get(automerge::ROOT, ledger::CHECKINS)? {
        Some((_, id)) => id,
        None => anyhow::bail!("a ledger has its check-ins map"),
    };
    tx.put_object(&map, "not-an-id\0here", automerge::ObjType::Map)?;
    tx.commit();
    let written = write_one(p, judged("proj-odd-key", kiosk, &odd, &[])?).await?;
    ensure!(
        written.quarantined == 1,
        "the odd key quarantined: {written:?}"
    );
    let q = p.quarantine(HALL).await?;
    ensure!(
        q.iter().any(|row| row.doc_id == "proj-stranger"
            && row.record_key.is_empty()
            && row.reason.contains("someone-else")),
        "the stranger's document listed: {q:?}"
    );
    ensure!(
        q.iter()
            .any(|row| row.doc_id == "proj-odd-key" && row.record_key.contains('\u{FFFD}')),
        "the odd key listed, its NUL shown as a replacement character: {q:?}"
    );
    ensure!(
        p.quarantine("another-hall").await?.is_empty(),
        "each hall sees its own quarantine"
    );
    let day = p.kiosk_day(kiosk, NOON).await?;
    ensure!(
        day.sync_errors == 3 && day.last_error.is_some(),
        "the kiosk's sync errors today: {day:?}"
    );
    Ok(())
}

/// Requests at `at_ms` + i for i in `0..n`, each its own record.
fn requests_at(book: &mut Automerge, kiosk: &str, first: u32, n: u32) -> anyhow::Result<()> {
    for i in 0..n {
        let mut r = request(kiosk, &format!("第{i}件"));
        r.at_ms = NOON + 10_000 + i64::from(i / 2); // two at each moment
        r.category = if i % 3 == 0 { "sanitation" } else { "repair" }.into();
        requests::add_request(book, &record_id(first + i), &r)?;
    }
    Ok(())
}

async fn pages_and_overview(
    p: &dyn ProjectionTables,
    t: &dyn ServerTables,
    kiosk: &str,
) -> anyhow::Result<()> {
    // Seven requests in a second book, two at each moment: pages of two
    // meet every one once, in order, whichever way they run.
    t.claim_doc("proj-book-2", HALL, kiosk, NOON).await?;
    let mut book = requests::new_request_book(HALL, kiosk, "2026-12")?;
    requests_at(&mut book, kiosk, 100, 7)?;
    write_one(p, judged("proj-book-2", kiosk, &book, &[])?).await?;
    let mut filter = RequestFilter {
        hall: HALL.into(),
        status: None,
        category: None,
        made_until_ms: i64::MAX,
        oldest_first: false,
    };
    for oldest_first in [false, true] {
        filter.oldest_first = oldest_first;
        let (mut seen, mut cursor): (Vec<(i64, String)>, Option<RequestCursor>) =
            (Vec::new(), None);
        loop {
            let page = p.requests_page(&filter, cursor.as_ref(), 2).await?;
            ensure!(page.len() <= 2, "a page holds at most its limit");
            cursor = page.last().map(|r| (r.kiosk_at_ms, r.id.clone()));
            seen.extend(page.iter().map(|r| (r.kiosk_at_ms, r.id.clone())));
            if page.len() < 2 {
                break;
            }
        }
        let mut expected = seen.clone();
        expected.sort();
        if !oldest_first {
            expected.reverse();
        }
        ensure!(
            seen == expected && seen.len() == 9,
            "every request once, in order (oldest first: {oldest_first}): {seen:?}"
        );
    }
    filter.oldest_first = false;
    filter.category = Some("sanitation".into());
    let sanitation = p.requests_page(&filter, None, 100).await?;
    ensure!(
        sanitation.len() == 3 && sanitation.iter().all(|r| r.category == "sanitation"),
        "by category: {sanitation:?}"
    );
    filter.category = None;
    filter.status = Some("in_progress".into());
    ensure!(
        p.requests_page(&filter, None, 100).await?.len() == 1,
        "by status"
    );
    filter.status = None;
    filter.made_until_ms = NOON + 10_001;
    ensure!(
        p.requests_page(&filter, None, 100).await?.len() == 6,
        "made by a moment: the first two of the book, the first book's two, and two at the moment"
    );

    // Assigned, and read back one by one.
    p.assign_request(&record_id(100), "小李", NOON).await?;
    p.assign_request(&record_id(100), "小王", NOON + 1).await?;
    let one = p
        .request(HALL, &record_id(100))
        .await?
        .context("the request")?;
    ensure!(
        one.assignee.as_deref() == Some("小王")
            && one.hall_id == HALL
            && one.category == "sanitation",
        "the latest assignee: {one:?}"
    );
    ensure!(
        p.request("another-hall", &record_id(100)).await?.is_none(),
        "a request is read in its own hall only"
    );

    // Check-ins page by date, kiosk time and id.
    let (mut ids, mut cursor): (Vec<String>, Option<CheckinCursor>) = (Vec::new(), None);
    loop {
        let page = p.checkins_page(HALL, DAY, DAY, cursor.as_ref(), 4).await?;
        cursor = page
            .last()
            .map(|r| (r.date.clone(), r.kiosk_at_ms, r.id.clone()));
        ids.extend(page.iter().map(|r| r.id.clone()));
        if page.len() < 4 {
            break;
        }
    }
    let expected: Vec<String> = [1, 2, 3, 4, 5, 9].map(record_id).to_vec();
    ensure!(ids == expected, "every check-in once, in order: {ids:?}");
    ensure!(
        p.checkins_page(HALL, "2026-12-05", "2026-12-31", None, 10)
            .await?
            .is_empty(),
        "none outside the dates"
    );

    // The volunteer signed in and has not signed out yet.
    let spans = p.shift_spans(HALL, DAY, DAY).await?;
    ensure!(
        spans.len() == 1
            && spans[0].pseudonym == resident(4).pseudonym
            && spans[0].signed_in_ms == NOON
            && spans[0].signed_out_ms.is_none(),
        "an open shift: {spans:?}"
    );

    let o = p
        .hall_overview(HALL, DAY, "2026-11-28", "2026-12-01")
        .await?;
    ensure!(
        o.checkins_today == 6
            && o.person_times_week == 13
            && o.person_times_month == 13
            && o.open_requests == 9,
        "the overview: {o:?}"
    );
    let later = p
        .hall_overview(HALL, "2026-12-05", "2026-12-05", "2026-12-01")
        .await?;
    ensure!(
        later.checkins_today == 0 && later.person_times_week == 0 && later.person_times_month == 13,
        "the next day's overview: {later:?}"
    );

    // A claimed document never projected is found; one projected is not.
    t.claim_doc("proj-unseen", HALL, kiosk, NOON).await?;
    let unseen = p.unprojected_documents().await?;
    ensure!(
        unseen.contains(&"proj-unseen".to_string()) && !unseen.contains(&"proj-ledger".to_string()),
        "unprojected documents: {unseen:?}"
    );
    Ok(())
}

/// What an erasure reads and writes: the resident's records, documents
/// and contacts, the days they came, the erasure and its watch; and a
/// retired document's rows leaving.
/// A kiosk store's spends document with one redemption of resident `n`:
/// 20 points for a bag of rice.
fn spends(kiosk: &str, n: u8) -> anyhow::Result<Automerge> {
    let mut d = points::new_spends(HALL, kiosk, &format!("{kiosk}.store-1"))?;
    let part = |account: String, amount| points::Part { account, amount };
    points::put_spend(
        &mut d,
        &record_id(900),
        &points::Spend {
            parts: vec![
                part(format!("points:{}", resident(n).pseudonym), 20),
                part("stock:rice".into(), 1),
            ],
            purpose: "rice".into(),
            at_ms: NOON,
            owed: None,
        },
    )?;
    Ok(d)
}

async fn erasing(
    p: &dyn ProjectionTables,
    t: &dyn ServerTables,
    kiosk: &str,
) -> anyhow::Result<()> {
    let one = resident(1).pseudonym;
    // A redemption of resident 1's: projected once, theirs until erased.
    let d = spends(kiosk, 1)?;
    for _ in 0..2 {
        write_one(p, judged("proj-spends", kiosk, &d, &[])?).await?;
    }
    let redeemed = p.redemptions(HALL, NOON, NOON + 1).await?;
    ensure!(
        redeemed.len() == 1
            && redeemed[0].pseudonym.as_deref() == Some(one.as_str())
            && (redeemed[0].item.as_str(), redeemed[0].points) == ("rice", 20)
            && redeemed[0].kiosk_id == kiosk,
        "one redemption: {redeemed:?}"
    );
    ensure!(
        p.redemptions(HALL, NOON + 1, i64::MAX).await?.is_empty(),
        "by kiosk time"
    );
    let found = p.resident_records(&one).await?;
    ensure!(
        found.checkins == 2 && found.shifts == 0 && found.requests == 9,
        "resident 1's records: {found:?}"
    );
    ensure!(
        p.resident_records(&resident(4).pseudonym).await?.shifts == 1,
        "the volunteer's shift"
    );
    let docs = p.resident_documents(&one).await?;
    ensure!(
        docs == [
            (HALL.to_string(), "proj-book".to_string()),
            (HALL.to_string(), "proj-book-2".to_string()),
            (HALL.to_string(), "proj-ledger".to_string()),
        ],
        "each document once, by hall and id: {docs:?}"
    );
    ensure!(
        p.resident_contacts(&one).await? == ["c2VhbGVk"],
        "each contact once"
    );
    ensure!(p.resident_records("nobody").await?.checkins == 0);

    ensure!(p.watched("tag-1").await?.is_none(), "no one watched yet");
    let before = p.hall_figures(HALL, DAY, DAY, (0, 1)).await?.residents;
    p.keep_erased_visits(&one, "erasure-1").await?;
    p.keep_erased_visits(&one, "erasure-1").await?;
    p.forget_document("proj-ledger").await?;
    let finished = linli_sync_engine::projection_tables::FinishedErasure {
        pseudonym: one.clone(),
        tag: "tag-1".into(),
        erasure_id: "erasure-1".into(),
        by: "wang".into(),
        records: 13,
        documents: 3,
        at_ms: NOON,
        watch_until_ms: i64::MAX,
    };
    p.finish_erasure(&finished).await?;
    // Again (late records of the same person): added up, watched once.
    p.finish_erasure(&finished).await?;
    let redeemed = p.redemptions(HALL, 0, i64::MAX).await?;
    ensure!(
        redeemed.len() == 1 && redeemed[0].pseudonym.is_none(),
        "what they redeemed stays counted, no longer theirs: {redeemed:?}"
    );
    ensure!(
        p.watched("tag-1").await?.as_deref() == Some("erasure-1"),
        "their late records are watched for"
    );
    let (counts, _) = p.checkins(HALL, DAY, DAY, 10).await?;
    ensure!(counts.count == 0, "the retired ledger's rows are gone");
    ensure!(
        p.standings(&["proj-ledger".into()]).await?[0]
            .projected_heads
            .is_none(),
        "and what it was projected at"
    );
    let after = p.hall_figures(HALL, DAY, DAY, (0, 1)).await?.residents;
    ensure!(
        before == 3 && after == 1,
        "the erased resident still counted once by their erasure, the others gone with their \
         rows: {before} then {after}"
    );

    // The documents table: retired, and replaced by a rebuilt one.
    t.retire_documents(&["proj-ledger".to_string()], NOON)
        .await?;
    let owner = t.doc_owner("proj-ledger").await?.context("owner")?;
    ensure!(owner.retired, "retired");
    t.set_meta("webbook/proj", "proj-book").await?;
    t.replace_document("proj-book", "proj-book-new", HALL, "proj-kiosk", NOON)
        .await?;
    let new = t.doc_owner("proj-book-new").await?.context("the new one")?;
    ensure!(
        new.hall_id == HALL && new.owner_kiosk.as_deref() == Some("proj-kiosk") && !new.retired,
        "the rebuilt document is the kiosk's: {new:?}"
    );
    ensure!(
        t.meta("webbook/proj").await?.as_deref() == Some("proj-book-new"),
        "what named the old one names the new"
    );
    Ok(())
}

async fn clearing(p: &dyn ProjectionTables, kiosk: &str, book: &Automerge) -> anyhow::Result<()> {
    p.clear().await?;
    let (counts, rows) = p.checkins(HALL, DAY, DAY, 10).await?;
    ensure!(
        counts.count == 0 && rows.is_empty(),
        "no check-ins after clearing"
    );
    ensure!(
        p.requests(HALL, None).await?.is_empty() && p.quarantine(HALL).await?.is_empty(),
        "no requests, no quarantine"
    );
    let figures = p.hall_figures(HALL, DAY, DAY, (0, i64::MAX)).await?;
    ensure!(
        figures.checkin_days.is_empty() && figures.ratings.is_empty(),
        "no roll-ups: {figures:?}"
    );
    ensure!(
        figures.residents == 1,
        "only the erased resident's visit day, which outlives a rebuild: {figures:?}"
    );
    ensure!(
        p.standings(&["proj-ledger".into()]).await?[0]
            .projected_heads
            .is_none(),
        "every document to be projected again"
    );
    ensure!(
        p.request_doc(HALL, &record_id(20)).await?.is_none(),
        "the request itself goes until rebuilt"
    );
    // The answers staff gave stay: rebuilt, the request stands as staff left it.
    write_one(p, judged("proj-book", kiosk, book, &[])?).await?;
    let rebuilt = p.requests(HALL, Some("in_progress")).await?;
    ensure!(
        rebuilt.len() == 1 && rebuilt[0].id == record_id(20),
        "answers outlive a rebuild: {rebuilt:?}"
    );
    Ok(())
}
