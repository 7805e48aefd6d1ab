//! Issue 12, erasure, as a resident's request would be carried out: two
//! kiosks of a hall record a resident (check-ins at both, a request with a
//! callback, a volunteer shift) beside others; a central admin erases them
//! from the console (preview, confirm); the kiosks sync. Then neither
//! kiosk's copied data directory, nor a server backup taken afterwards,
//! holds their pseudonym, sealed contact, name box, number or name — in
//! file bytes or in any change of any document — while the other
//! residents are still there, their records no longer link to each other,
//! statistics are what they were, and both kiosks carry on recording.
//! A kiosk that was offline during the erasure keeps what it recorded
//! meanwhile, and the resident's visit it recorded then is erased as it
//! arrives. Erasing someone with no records says so and changes nothing.
//! On both stores: the backup searched is the SQLite file's copy or a
//! `pg_dump`.

use std::time::Duration;

use linli_core::{
    model::{RequestCategory, ShiftAction},
    node::{CheckInOutcome, NewCheckIn, NewWalkIn, ResidentInput},
    phone::PhoneNumber,
};
use linli_test_kit::{Store, TestKiosk, TestServer, console_session, eventually, init_logging};
use linli_tests::disk::{copy_dir, search_disk_for, search_pg_dump};

const WAIT: Duration = Duration::from_secs(60);
const ERASED: (&str, &str) = ("13812345678", "王秀英");
const KEPT: (&str, &str) = ("15011112222", "刘桂兰");

fn person(who: (&str, &str)) -> anyhow::Result<ResidentInput> {
    Ok(ResidentInput {
        phone: PhoneNumber::parse(who.0)?,
        name: Some(who.1.to_string()),
    })
}

fn needles_of(strings: &[String]) -> Vec<(String, Vec<u8>)> {
    strings
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| (s.clone(), s.as_bytes().to_vec()))
        .collect()
}

/// Every string that could lead back to a resident, their pseudonym
/// first: what the server and kiosks store of them (pseudonym, sealed
/// contacts, name boxes) and the number and name themselves.
async fn traces_of(
    server: &TestServer,
    kiosks: &[&TestKiosk],
    who: (&str, &str),
) -> anyhow::Result<Vec<String>> {
    let pseudonym = server
        .core()?
        .residents
        .pseudonym(&PhoneNumber::parse(who.0)?)?;
    // Hex: nothing to escape.
    let mut out = server
        .sql_strings(&format!(
            "SELECT sealed FROM checkins WHERE phone_hash = '{pseudonym}' AND sealed IS NOT NULL
             UNION SELECT sealed FROM shift_events WHERE phone_hash = '{pseudonym}' AND sealed IS NOT NULL
             UNION SELECT sealed FROM requests WHERE phone_hash = '{pseudonym}' AND sealed IS NOT NULL"
        ))
        .await?;
    for k in kiosks {
        let c = rusqlite::Connection::open(k.data_dir().join(linli_core::node::STORE_FILE))?;
        let mut stmt = c.prepare(
            "SELECT COALESCE(json_extract(payload, '$.resident.name_box'), json_extract(payload, '$.volunteer.name_box'))
             FROM journal WHERE phone_hash = ?1",
        )?;
        let boxes = stmt.query_map([&pseudonym], |r| r.get::<_, Option<String>>(0))?;
        out.extend(boxes.filter_map(|b| b.ok().flatten()));
    }
    out.insert(0, pseudonym);
    out.push(who.0.to_string());
    out.push(format!("{} {} {}", &who.0[..3], &who.0[3..7], &who.0[7..]));
    out.push(format!("{}****{}", &who.0[..3], &who.0[7..]));
    out.push(who.1.to_string());
    let mut seen = std::collections::HashSet::new();
    out.retain(|s| seen.insert(s.clone()));
    Ok(out)
}

/// The one number `sql` answers, on either store.
async fn count(server: &TestServer, sql: &str) -> anyhow::Result<i64> {
    let answer = server
        .sql_strings(&format!("SELECT CAST(({sql}) AS TEXT)"))
        .await?;
    Ok(answer.first().map(|n| n.parse()).transpose()?.unwrap_or(0))
}

/// What the statistics page shows for the whole test period.
async fn stats(console: &Console) -> anyhow::Result<(String, String)> {
    let page = console
        .get("admin/stats?from=2000-01-01&to=2099-12-31")
        .await?;
    let cell = |id: &str| {
        page.split(&format!("id=\"{id}\">"))
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap_or("?")
            .to_string()
    };
    Ok((cell("visits"), cell("residents")))
}

struct Console {
    http: reqwest::Client,
    base: url::Url,
    cookie: String,
    csrf: String,
}

impl Console {
    async fn sign_in(server: &TestServer) -> anyhow::Result<Self> {
        let (http, cookie) = console_session(server, "admin", "good password").await?;
        let mut c = Console {
            http,
            base: server.url.clone(),
            cookie,
            csrf: String::new(),
        };
        let page = c.get("admin/residents").await?;
        c.csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default()
            .to_string();
        Ok(c)
    }

    async fn get(&self, path: &str) -> anyhow::Result<String> {
        let r = self
            .http
            .get(self.base.join(path)?)
            .header("cookie", &self.cookie)
            .send()
            .await?;
        anyhow::ensure!(r.status() == 200, "GET {path}: {}", r.status());
        Ok(r.text().await?)
    }

    async fn erase(&self, phone: &str, confirm: bool) -> anyhow::Result<(u16, String)> {
        let mut form = vec![("csrf", self.csrf.as_str()), ("phone", phone)];
        if confirm {
            form.push(("confirm", "yes"));
        }
        let r = self
            .http
            .post(self.base.join("admin/residents/erase")?)
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await?;
        Ok((r.status().as_u16(), r.text().await?))
    }
}

async fn an_erased_resident_is_gone_from_kiosks_documents_and_backups_and_counts_stay(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let core = server.core()?;
    let act = linli_test_kit::open_activity(&core, "xianfeng", "health_clinic", "健康义诊").await?;
    let act2 = linli_test_kit::open_activity(&core, "xianfeng", "lecture", "防诈骗讲座").await?;
    let mut a = TestKiosk::pair(&server, "xianfeng", true).await?;
    let b = TestKiosk::pair(&server, "xianfeng", true).await?;
    let checkin = |who| -> anyhow::Result<NewCheckIn> {
        Ok(NewCheckIn {
            activity_id: act.clone(),
            resident: Some(person(who)?),
            headcount: 1,
            companions: 1,
        })
    };
    for who in [ERASED, KEPT] {
        assert!(matches!(
            a.node().record_checkin(checkin(who)?).await?,
            CheckInOutcome::Recorded(_)
        ));
    }
    b.node().record_checkin(checkin(ERASED)?).await?;
    // A walk-in visit too: erased like any check-in.
    b.node()
        .record_walk_in(NewWalkIn {
            service: "medical_insurance".into(),
            resident: Some(person(ERASED)?),
            companions: 0,
        })
        .await?;
    a.node()
        .record_request(
            RequestCategory::Repair,
            "楼道灯坏了".into(),
            Some(person(ERASED)?),
            true,
        )
        .await?;
    let shift = b
        .node()
        .record_shift(
            person(ERASED)?,
            ShiftAction::SignIn,
            None,
            Some(act.clone()),
        )
        .await?;
    b.node()
        .record_shift(
            person(ERASED)?,
            ShiftAction::SignOut,
            Some(shift.to_string()),
            Some(act.clone()),
        )
        .await?;
    // And a request from the phone page behind the kiosk's QR code.
    let web = |phone: &'static str| {
        let url = server.url.join("m/request");
        async move {
            let r = reqwest::Client::new()
                .post(url?)
                .form(&[
                    ("hall", "xianfeng"),
                    ("category", "repair"),
                    (
                        "text",
                        &format!(
                            "我是{}，电话{} {} {}，电梯坏了",
                            if phone == ERASED.0 { ERASED.1 } else { KEPT.1 },
                            &phone[..3],
                            &phone[3..7],
                            &phone[7..]
                        ),
                    ),
                    ("phone", phone),
                ])
                .send()
                .await?;
            anyhow::ensure!(r.status() == 200, "phone page: {}", r.status());
            anyhow::Ok(())
        }
    };
    web(ERASED.0).await?;
    a.node().wait_synced(WAIT).await?;
    b.node().wait_synced(WAIT).await?;
    server.api.wait_checkins("xianfeng", 4).await?;
    eventually(WAIT, "the request and the shift projected", || async {
        let n = count(
            &server,
            "SELECT (SELECT count(*) FROM requests) + (SELECT count(*) FROM shift_events)",
        )
        .await?;
        Ok((n == 4).then_some(()))
    })
    .await?;

    let console = Console::sign_in(&server).await?;
    let before = stats(&console).await?;
    assert_eq!(
        before,
        ("4".to_string(), "2".to_string()),
        "visits, residents"
    );
    let gone = traces_of(&server, &[&a, &b], ERASED).await?;
    let kept = traces_of(&server, &[&a, &b], KEPT).await?;
    assert!(
        gone.len() >= 6,
        "pseudonym, sealed contacts and name boxes found: {}",
        gone.len()
    );

    // Kiosk A is offline while the erasure runs and records meanwhile.
    a.power_off().await;
    a.power_on(false).await?;
    let offline_visit = a
        .node()
        .record_checkin(NewCheckIn {
            activity_id: act.clone(),
            resident: None,
            headcount: 3,
            companions: 0,
        })
        .await?;
    assert!(matches!(offline_visit, CheckInOutcome::Recorded(_)));
    // The resident comes by once more, at the kiosk that cannot reach the
    // server: that record arrives after the erasure, and is erased too.
    let late = a
        .node()
        .record_checkin(NewCheckIn {
            activity_id: act2.clone(),
            ..checkin(ERASED)?
        })
        .await?;
    assert!(matches!(late, CheckInOutcome::Recorded(_)));

    // Preview: what is stored, and a confirm step; nothing changed yet.
    let (status, preview) = console.erase(ERASED.0, false).await?;
    assert_eq!(status, 200, "{preview}");
    assert!(preview.contains("id=\"erase-found\""), "{preview}");
    assert!(preview.contains("id=\"erase-confirm\""));
    assert_eq!(count(&server, "SELECT count(*) FROM erasures").await?, 0);
    let (status, done) = console.erase(ERASED.0, true).await?;
    assert_eq!(status, 200, "{done}");
    assert!(done.contains("id=\"erase-done\""), "{done}");
    assert!(!done.contains(ERASED.0), "the number is not shown back");
    // The audit's user column is `user` on SQLite, `user_name` on
    // PostgreSQL (where `user` is a reserved word).
    let user = match store {
        Store::Sqlite => "user",
        Store::Postgres => "user_name",
    };
    let audit = server
        .sql_strings(&format!(
            "SELECT {user} || ' ' || COALESCE(after, '') FROM audit_log WHERE action = 'erase_resident'"
        ))
        .await?;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert!(audit[0].starts_with("admin "), "{audit:?}");
    assert!(audit[0].contains("7 records"), "{audit:?}");

    // The kiosks sync: A comes back online and carries its offline visit
    // into the rebuilt ledger.
    a.node().go_online()?;
    for k in [&a, &b] {
        let data_dir = k.data_dir();
        let needles = needles_of(&gone[..1]);
        eventually(WAIT, "the kiosk dropped the erased resident", || {
            let data_dir = data_dir.clone();
            let needles = needles.clone();
            async move {
                let dir = tempfile::tempdir()?;
                // The journal's file and the documents' file, each with its
                // write-ahead log.
                for file in [
                    linli_core::node::STORE_FILE,
                    linli_core::node::DOCUMENTS_FILE,
                ] {
                    let store = data_dir.join(file);
                    std::fs::copy(&store, dir.path().join(file))?;
                    let wal = store.with_extension("sqlite3-wal");
                    if wal.exists() {
                        std::fs::copy(&wal, dir.path().join(format!("{file}-wal")))?;
                    }
                }
                let (found, _, _) = search_disk_for(dir.path(), "kiosk", &needles)?;
                Ok(found.is_empty().then_some(()))
            }
        })
        .await?;
    }
    a.node().wait_synced(WAIT).await?;
    server.api.wait_checkins("xianfeng", 6).await?;
    eventually(WAIT, "the late record erased", || async {
        let n = count(
            &server,
            "SELECT count(*) FROM checkins WHERE phone_hash = 'erased'",
        )
        .await?;
        Ok((n == 4).then_some(()))
    })
    .await?;

    // Nothing of them on either kiosk's disk, nor in a backup taken now.
    let needles = needles_of(&gone);
    for (name, k) in [("A", &a), ("B", &b)] {
        let copy = tempfile::tempdir()?;
        copy_dir(&k.data_dir(), copy.path())?;
        let (found, files, docs) =
            search_disk_for(copy.path(), &format!("kiosk {name}"), &needles)?;
        println!("kiosk {name}: {files} files, {docs} documents searched");
        assert!(
            found.is_empty(),
            "left on kiosk {name}:\n{}",
            found.join("\n")
        );
        let (seen, _, _) = search_disk_for(copy.path(), "kiosk", &needles_of(&kept[..1]))?;
        if name == "A" {
            assert!(
                !seen.is_empty(),
                "the search does find a resident who is still there"
            );
        }
    }
    // A backup taken now (the store's own: a copy of the SQLite file, or
    // a `pg_dump`).
    let backups = tempfile::tempdir()?;
    let (found, docs, seen) = match store {
        Store::Sqlite => {
            linli_sync_engine::backup::backup(
                &server.data_dir(),
                &backups.path().join("b.sqlite3"),
            )?;
            let (found, _, docs) = search_disk_for(backups.path(), "the backup", &needles)?;
            let (seen, _, _) = search_disk_for(backups.path(), "the backup", &needles_of(&kept))?;
            (found, docs, seen)
        }
        Store::Postgres => {
            let dump = String::from_utf8(server.dump_database()?)?;
            let (found, docs) = search_pg_dump(&dump, &needles)?;
            let (seen, _) = search_pg_dump(&dump, &needles_of(&kept))?;
            (found, docs, seen)
        }
    };
    assert!(docs >= 4, "documents searched in the backup: {docs}");
    assert!(
        found.is_empty(),
        "left in the backup:\n{}",
        found.join("\n")
    );
    assert!(
        !seen.is_empty(),
        "the other resident is still in the backup"
    );
    // The SQLite server's own files too (secure_delete and a checkpoint
    // leave nothing). PostgreSQL's files are not searched: VACUUM frees
    // the dead rows' space without overwriting it, and its write-ahead
    // log and archives keep what they kept, as the README says.
    if store == Store::Sqlite {
        let (found, _, _) = search_disk_for(&server.data_dir(), "the server", &needles)?;
        assert!(
            found.is_empty(),
            "left on the server's disk:\n{}",
            found.join("\n")
        );
    }

    // Their records stay, unlinked, and the numbers are what they were,
    // plus what A recorded offline: a headcount of three (no named visit)
    // and the erased resident's late visit (named, and the same resident).
    assert_eq!(
        count(
            &server,
            "SELECT count(*) FROM checkins WHERE phone_hash = 'erased'"
        )
        .await?,
        4,
        "three check-ins and the walk-in"
    );
    assert_eq!(
        count(
            &server,
            "SELECT count(*) FROM checkins WHERE phone_hash = 'erased' AND service = 'medical_insurance' AND sealed = ''"
        )
        .await?,
        1,
        "the walk-in stays a walk-in, for its service, without the resident"
    );
    assert_eq!(
        count(
            &server,
            "SELECT count(*) FROM shift_events WHERE phone_hash = 'erased' AND sealed = ''"
        )
        .await?,
        2
    );
    assert_eq!(
        count(
            &server,
            "SELECT count(*) FROM requests WHERE phone_hash = 'erased' AND NOT callback_consent"
        )
        .await?,
        2,
        "the kiosk's request and the phone page's"
    );
    // The phone page goes on in its rebuilt book (no new book per request).
    let docs_now = count(&server, "SELECT count(*) FROM documents").await?;
    web(KEPT.0).await?;
    web(KEPT.0).await?;
    eventually(WAIT, "the phone page's requests projected", || async {
        let n = count(&server, "SELECT count(*) FROM requests").await?;
        Ok((n == 4).then_some(()))
    })
    .await?;
    assert_eq!(
        count(&server, "SELECT count(*) FROM documents").await?,
        docs_now
    );
    assert_eq!(
        stats(&console).await?,
        ("5".to_string(), "2".to_string()),
        "one named visit more, and still two distinct residents"
    );
    assert_eq!(
        count(
            &server,
            "SELECT COALESCE(SUM(persons), 0) FROM checkin_days"
        )
        .await?,
        4 * 2 + 3 + 1,
        "person-times: four named check-ins with a companion each, the headcount of three, the walk-in"
    );
    assert_eq!(
        count(
            &server,
            &format!("SELECT count(*) FROM audit_log WHERE action = 'erase_resident_again' AND {user} = 'erasure-watch'")
        )
        .await?,
        1,
        "the late record's erasure is audited"
    );
    assert_eq!(
        count(&server, "SELECT count(*) FROM erasure_watch").await?,
        1,
        "kept a while, as a keyed tag (the backup search above did not find the pseudonym)"
    );

    // The kiosks carry on, and no longer know the erased resident.
    let erased_phone = PhoneNumber::parse(ERASED.0)?;
    for k in [&a, &b] {
        assert_eq!(k.node().known_name(&erased_phone).await?, None);
        assert!(k.node().my_requests(&erased_phone).await?.is_empty());
        assert_eq!(k.node().volunteer_summary(&erased_phone).await?.points, 0);
    }
    assert_eq!(
        a.node()
            .known_name(&PhoneNumber::parse(KEPT.0)?)
            .await?
            .as_deref(),
        Some(KEPT.1)
    );
    assert_eq!(
        a.node().record_checkin(checkin(KEPT)?).await?,
        CheckInOutcome::AlreadyCheckedIn,
        "still recognised offline-style by the journal"
    );
    b.node().record_checkin(checkin(KEPT)?).await?;
    b.node().wait_synced(WAIT).await?;
    server.api.wait_checkins("xianfeng", 6).await?;

    // Erasing them again, or anyone with no records: said, nothing changed.
    let docs_before = count(&server, "SELECT count(*) FROM documents").await?;
    let (status, again) = console.erase(ERASED.0, true).await?;
    assert_eq!(status, 200);
    assert!(again.contains("id=\"erase-none\""), "{again}");
    let (_, stranger) = console.erase("13900000000", false).await?;
    assert!(stranger.contains("id=\"erase-none\""), "{stranger}");
    assert_eq!(
        count(&server, "SELECT count(*) FROM documents").await?,
        docs_before
    );
    assert_eq!(count(&server, "SELECT count(*) FROM erasures").await?, 1);
    Ok(())
}

async fn only_central_admins_erase_and_a_bad_number_is_refused(store: Store) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let core = server.core()?;
    linli_sync_engine::provision::add_admin(&core, "staff", "hall_staff").await?;
    let (http, cookie) = console_session(&server, "staff", "good password").await?;
    let r = http
        .get(server.url.join("admin/residents")?)
        .header("cookie", &cookie)
        .send()
        .await?;
    assert_eq!(r.status(), 403, "hall staff do not erase");
    let console = Console::sign_in(&server).await?;
    let (status, _) = console.erase("1381234", true).await?;
    assert_eq!(status, 400, "not a mobile number");
    let mut forged = Console::sign_in(&server).await?;
    forged.csrf = "0".repeat(64);
    let (status, _) = forged.erase(ERASED.0, true).await?;
    assert_eq!(status, 403, "a form from elsewhere");
    let erasures = linli_sync_engine::db::AuditFilter {
        action: Some("erase_resident".into()),
        to_ms: i64::MAX,
        ..Default::default()
    };
    assert!(
        core.tables
            .audit_page(&erasures, None, 10)
            .await?
            .is_empty(),
        "nothing was erased"
    );
    Ok(())
}

linli_test_kit::on_both_stores! {
    an_erased_resident_is_gone_from_kiosks_documents_and_backups_and_counts_stay,
    only_central_admins_erase_and_a_bad_number_is_refused,
}
