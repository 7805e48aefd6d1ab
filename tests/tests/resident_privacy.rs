//! Issue 12, as a privacy reviewer would try it: after real check-ins,
//! ratings, a request with a callback and a volunteer shift, copy a
//! kiosk's whole data directory and take a server backup, and look for
//! the residents' numbers and names everywhere on those disks — in every
//! file's bytes and in every change of every Automerge document, the keys
//! those disks hold included. Then open the copied kiosk with no network:
//! it still recognises the same residents.

use std::{path::Path, time::Duration};

use linli_core::{
    KioskNode,
    model::{RequestCategory, ShiftAction},
    node::{CheckInOutcome, NewCheckIn, ResidentInput},
    phone::PhoneNumber,
};
use linli_test_kit::{Store, TestKiosk, TestServer, eventually, init_logging, test_options};
use linli_tests::disk::{copy_dir, search_disk_for, search_pg_dump};

const WAIT: Duration = Duration::from_secs(30);
/// (number, short name) of the residents in this test.
const PEOPLE: [(&str, &str); 3] = [
    ("13812345678", "王秀英"),
    ("15011112222", "刘桂兰"),
    ("13612341234", "李建国"),
];

/// What must not be found: each number whole, its first and last eight
/// digits, its masked form and its masked halves, and each name as UTF-8,
/// as JSON's \u escapes and as hex of its UTF-8.
fn needles() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (phone, name) in PEOPLE {
        let masked = format!("{}****{}", &phone[..3], &phone[7..]);
        for s in [
            phone.to_string(),
            phone[..8].to_string(),
            phone[3..].to_string(),
            masked,
            format!("****{}", &phone[7..]),
            name.to_string(),
            name.chars()
                .map(|c| format!("\\u{:04x}", c as u32))
                .collect(),
            name.bytes().map(|b| format!("{b:02x}")).collect(),
        ] {
            out.push((s.clone(), s.into_bytes()));
        }
    }
    out
}

/// Look through every file under `dir` and every document in its SQLite
/// files.
fn search_disk(dir: &Path, what: &str) -> anyhow::Result<(Vec<String>, usize, usize)> {
    search_disk_for(dir, what, &needles())
}

fn input(i: usize, named: bool) -> anyhow::Result<ResidentInput> {
    Ok(ResidentInput {
        phone: PhoneNumber::parse(PEOPLE[i].0)?,
        name: named.then(|| PEOPLE[i].1.to_string()),
    })
}

/// What a kiosk records of the residents in a day at `act`: two named
/// check-ins with a companion each, a rating, a request with a callback,
/// and a volunteer's shift, signed in and out.
async fn record_a_day(node: &KioskNode, act: &str) -> anyhow::Result<()> {
    for i in 0..2 {
        let outcome = node
            .record_checkin(NewCheckIn {
                activity_id: act.to_string(),
                resident: Some(input(i, true)?),
                headcount: 1,
                companions: 1,
            })
            .await?;
        assert!(matches!(outcome, CheckInOutcome::Recorded(_)));
    }
    node.record_rating(act, 5, Some("teacher_good".into()))
        .await?;
    node.record_request(
        RequestCategory::Repair,
        "楼道灯坏了".into(),
        Some(input(0, true)?),
        true,
    )
    .await?;
    let shift = node
        .record_shift(
            input(2, true)?,
            ShiftAction::SignIn,
            None,
            Some(act.to_string()),
        )
        .await?;
    // A shift lasts some time: signed out in the same millisecond, it
    // would count no hours (a CI run on a fast disk did just that).
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    node.record_shift(
        input(2, true)?,
        ShiftAction::SignOut,
        Some(shift.to_string()),
        Some(act.to_string()),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_kiosk_and_a_server_backup_give_back_no_number_and_no_name() -> anyhow::Result<()>
{
    init_logging();
    let server = TestServer::start().await?;
    let core = server.core()?;
    let act = linli_test_kit::open_activity(&core, "xianfeng", "health_clinic", "健康义诊").await?;
    let kiosk = TestKiosk::pair(&server, "xianfeng", true).await?;
    let node = kiosk.node();
    record_a_day(node, &act).await?;
    node.wait_synced(WAIT).await?;
    server.api.wait_checkins("xianfeng", 2).await?;
    eventually(WAIT, "the request and the shift projected", || async {
        let requests = server.api.get("api/v1/halls/xianfeng/requests").await?;
        let shifts: i64 = core
            .sqlite("a test query")?
            .run(|c| {
                c.query_row("SELECT count(*) FROM shift_events", [], |r| r.get(0))
                    .map_err(|e| linli_sync_engine::Error::db("count", e))
            })
            .await?;
        Ok((requests.as_array().map(Vec::len) == Some(1) && shifts == 2).then_some(()))
    })
    .await?;

    // Staff still see what they need: masked numbers and names, opened by
    // the server from the sealed contacts.
    let list = server.api.get("api/v1/halls/xianfeng/checkins").await?;
    let mut shown: Vec<_> = list["checkins"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| (c["phone_masked"].to_string(), c["name"].to_string()))
                .collect()
        })
        .unwrap_or_default();
    shown.sort();
    assert_eq!(
        shown,
        [
            ("\"138****5678\"".to_string(), "\"王秀英\"".to_string()),
            ("\"150****2222\"".to_string(), "\"刘桂兰\"".to_string()),
        ]
    );

    // The kiosk's whole data directory, copied as a thief would, while it
    // runs (journal, documents, WAL, pairing configuration with its keys).
    let stolen = tempfile::tempdir()?;
    copy_dir(&kiosk.data_dir(), stolen.path())?;
    let (leaks, files, docs) = search_disk(stolen.path(), "the kiosk's")?;
    println!("kiosk copy: {files} files, {docs} documents searched");
    assert!(docs >= 3, "the search saw the documents ({docs})");
    assert!(
        leaks.is_empty(),
        "found on the kiosk:\n{}",
        leaks.join("\n")
    );
    // The search does see text the documents hold: the request's words,
    // and the short reason chip of the rating.
    let control: Vec<(String, Vec<u8>)> = ["楼道灯坏了", "teacher_good"]
        .iter()
        .map(|s| (s.to_string(), s.as_bytes().to_vec()))
        .collect();
    let (seen, _, _) = search_disk_for(stolen.path(), "the kiosk's", &control)?;
    assert!(
        seen.iter().any(|l| l.contains("document")) && seen.len() >= 2,
        "the search must find what is there: {seen:?}"
    );

    // A server backup, and the server's whole data directory without its
    // residents' key file.
    let backups = tempfile::tempdir()?;
    let backup = backups.path().join("linli-backup.sqlite3");
    linli_sync_engine::backup::backup(&server.data_dir(), &backup)?;
    let (leaks, _, docs) = search_disk(backups.path(), "the backup's")?;
    println!("server backup: {docs} documents searched");
    assert!(docs >= 4, "the search saw the documents ({docs})");
    assert!(
        leaks.is_empty(),
        "found in the backup:\n{}",
        leaks.join("\n")
    );
    let copied_server = tempfile::tempdir()?;
    copy_dir(&server.data_dir(), copied_server.path())?;
    std::fs::remove_file(
        copied_server
            .path()
            .join(linli_sync_engine::residents::KEY_FILE),
    )?;
    let (leaks, _, _) = search_disk(copied_server.path(), "the server's (no key file)")?;
    assert!(
        leaks.is_empty(),
        "found on the server's disk:\n{}",
        leaks.join("\n")
    );
    let refused = ServerCoreProbe::open(copied_server.path()).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("missing")),
        "a server without its key file must refuse to start: {refused:?}"
    );

    // The copied kiosk, opened with no network, still recognises everyone.
    let mut options = test_options(stolen.path());
    options.connect = false;
    let copy = KioskNode::open(options).await?;
    let wang = PhoneNumber::parse(PEOPLE[0].0)?;
    assert_eq!(copy.known_name(&wang).await?.as_deref(), Some("王秀英"));
    assert_eq!(
        copy.record_checkin(NewCheckIn {
            activity_id: act.clone(),
            resident: Some(input(0, false)?),
            headcount: 1,
            companions: 0,
        })
        .await?,
        CheckInOutcome::AlreadyCheckedIn
    );
    let mine = copy.my_requests(&wang).await?;
    assert_eq!(mine.len(), 1, "my requests, offline");
    let li = copy
        .volunteer_summary(&PhoneNumber::parse(PEOPLE[2].0)?)
        .await?;
    // The shift (a few milliseconds long here) is known and closed.
    assert!(
        li.hours_this_month > 0.0 && li.open_shift.is_none(),
        "{li:?}"
    );
    let stranger = PhoneNumber::parse("13900000000")?;
    assert_eq!(copy.known_name(&stranger).await?, None);
    assert!(copy.my_requests(&stranger).await?.is_empty());
    assert_eq!(
        copy.volunteer_summary(&stranger).await?.hours_this_month,
        0.0
    );
    copy.shutdown().await;
    Ok(())
}

/// Opening a server's data directory the way `linli-server` does.
struct ServerCoreProbe;

impl ServerCoreProbe {
    async fn open(dir: &Path) -> Result<(), String> {
        linli_sync_engine::ServerCore::open(dir, linli_core::sqlite::Durability::Full, false)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// On PostgreSQL the backup is PostgreSQL's own: a `pg_dump` of the
/// database after the same kinds of records holds no number and no name,
/// in its text or in any change of any document it carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_dump_gives_back_no_number_and_no_name() -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(Store::Postgres).await?;
    let core = server.core()?;
    let act = linli_test_kit::open_activity(&core, "xianfeng", "health_clinic", "健康义诊").await?;
    let kiosk = TestKiosk::pair(&server, "xianfeng", true).await?;
    let node = kiosk.node();
    record_a_day(node, &act).await?;
    node.wait_synced(WAIT).await?;
    server.api.wait_checkins("xianfeng", 2).await?;
    eventually(WAIT, "the request projected", || async {
        let requests = server.api.get("api/v1/halls/xianfeng/requests").await?;
        Ok((requests.as_array().map(Vec::len) == Some(1)).then_some(()))
    })
    .await?;

    let dump = String::from_utf8(server.dump_database()?)?;
    let (leaks, docs) = search_pg_dump(&dump, &needles())?;
    println!("pg_dump: {} bytes, {docs} documents searched", dump.len());
    assert!(docs >= 4, "the search saw the documents ({docs})");
    assert!(leaks.is_empty(), "found in the dump:\n{}", leaks.join("\n"));
    // The search sees what is there: the request's words, in its row and
    // in the kiosk's request book.
    let control = [("楼道灯坏了".to_string(), "楼道灯坏了".as_bytes().to_vec())];
    let (seen, _) = search_pg_dump(&dump, &control)?;
    assert!(
        seen.iter().any(|s| s.contains("the dump's document"))
            && seen.iter().any(|s| !s.contains("the dump's document")),
        "the search must find what is there: {seen:?}"
    );
    Ok(())
}
