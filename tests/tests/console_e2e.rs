//! The admin console over real HTTP against a real server: a calendar
//! change made in the console reaches a kiosk, and a reply written in the
//! console reaches the resident's kiosk.

use std::time::Duration;

use linli_core::{
    model::{RequestCategory, RequestStatus},
    node::ResidentInput,
};
use linli_test_kit::Store;
use linli_test_kit::{
    TestKiosk, TestServer, console_session, eventually, init_logging, test_phone,
};
use linli_tests::seed::{Seed, seed_server};

struct Console {
    http: reqwest::Client,
    base: url::Url,
    cookie: String,
    csrf: String,
}

async fn sign_in(server: &TestServer) -> anyhow::Result<Console> {
    let (http, cookie) = console_session(server, "admin", "good password").await?;
    let page = http
        .get(server.url.join("admin/kiosks")?)
        .header("cookie", &cookie)
        .send()
        .await?
        .text()
        .await?;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string();
    Ok(Console {
        http,
        base: server.url.clone(),
        cookie,
        csrf,
    })
}

impl Console {
    async fn get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .get(self.base.join(path)?)
            .header("cookie", &self.cookie)
            .send()
            .await?)
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<u16> {
        let mut fields = vec![("csrf", self.csrf.as_str())];
        fields.extend_from_slice(form);
        let resp = self
            .http
            .post(self.base.join(path)?)
            .header("cookie", &self.cookie)
            .form(&fields)
            .send()
            .await?;
        Ok(resp.status().as_u16())
    }
}

async fn a_calendar_change_and_a_reply_made_in_the_console_reach_the_kiosk(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let kiosk = TestKiosk::pair(&server, "xianfeng", true).await?;
    let console = sign_in(&server).await?;

    let status = console
        .post(
            "admin/calendar/xianfeng",
            &[
                ("title", "糖尿病防治讲座"),
                ("kind", "lecture"),
                ("room", "多功能厅"),
                ("date", "2026-12-02"),
                ("start", "09:30"),
                ("end", "11:00"),
                ("capacity", "50"),
                ("named", "on"),
            ],
        )
        .await?;
    assert_eq!(status, 303);
    let acts = eventually(
        Duration::from_secs(20),
        "the lecture on the kiosk",
        || async {
            let acts = kiosk.node().activities().await?;
            Ok(acts
                .iter()
                .any(|(_, a)| a.title == "糖尿病防治讲座")
                .then_some(acts))
        },
    )
    .await?;
    let lecture = acts
        .iter()
        .find(|(_, a)| a.title == "糖尿病防治讲座")
        .expect("lecture");
    assert_eq!(lecture.1.capacity, Some(50));

    // A request from the kiosk, answered in the console.
    let phone = test_phone(4, 4)?;
    let id = kiosk
        .node()
        .record_request(
            RequestCategory::Sanitation,
            "垃圾没有及时清运".into(),
            Some(ResidentInput {
                phone: phone.clone(),
                name: None,
            }),
            true,
        )
        .await?;
    eventually(
        Duration::from_secs(20),
        "the request on the server",
        || async {
            let v = server.api.get("api/v1/halls/xianfeng/requests").await?;
            Ok((v.as_array().map(Vec::len) == Some(1)).then_some(()))
        },
    )
    .await?;
    let id = id.to_string();
    let status = console
        .post(
            &format!("admin/requests/{id}"),
            &[
                ("hall", "xianfeng"),
                ("status", "in_progress"),
                ("reply", "已通知物业，今天下午清运"),
                ("assignee", "网格员小张"),
            ],
        )
        .await?;
    assert_eq!(status, 303);
    let mine = eventually(
        Duration::from_secs(20),
        "the reply on the kiosk",
        || async {
            let mine = kiosk.node().my_requests(&phone).await?;
            Ok((mine.first().map(|r| r.status) == Some(RequestStatus::InProgress)).then_some(mine))
        },
    )
    .await?;
    assert_eq!(mine[0].reply.as_deref(), Some("已通知物业，今天下午清运"));
    let page = console
        .http
        .get(console.base.join("admin/requests?hall=xianfeng")?)
        .header("cookie", &console.cookie)
        .send()
        .await?
        .text()
        .await?;
    assert!(page.contains("负责人 网格员小张"), "the assignee shows");
    Ok(())
}

/// The statistics page's JSON data block, which its chart script draws.
fn chart_data(page: &str) -> anyhow::Result<serde_json::Value> {
    let json = page
        .split("id=\"stats-data\"")
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, body)| body.split_once("</script>"))
        .map_or("{}", |(json, _)| json);
    Ok(serde_json::from_str(json)?)
}

fn cell(page: &str, id: &str) -> i64 {
    page.split(&format!("id=\"{id}\">"))
        .nth(1)
        .and_then(|s| s.split('<').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(-1)
}

async fn statistics_on_screen_in_the_chart_data_and_in_the_api_agree(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let kiosk = TestKiosk::pair(&server, "xianfeng", true).await?;
    kiosk.record_checkins("act-a", 12, 5).await?;
    kiosk.record_checkins("act-b", 5, 5).await?;
    kiosk
        .node()
        .record_checkin(linli_core::node::NewCheckIn {
            activity_id: "act-a".into(),
            resident: None,
            headcount: 7,
            companions: 0,
        })
        .await?;
    kiosk.node().record_rating("act-a", 5, None).await?;
    kiosk.node().record_rating("act-a", 4, None).await?;
    kiosk
        .node()
        .record_request(RequestCategory::Repair, "楼道灯坏了".into(), None, false)
        .await?;
    server.api.wait_checkins("xianfeng", 18).await?;
    let api = server.api.get("api/v1/halls/xianfeng/checkins").await?;
    let person_times = api["person_times"].as_i64().unwrap_or(-1);
    assert_eq!(person_times, 24);
    eventually(
        Duration::from_secs(20),
        "ratings and the request projected",
        || async {
            let v = server.api.get("api/v1/halls/xianfeng/requests").await?;
            Ok((v.as_array().map(Vec::len) == Some(1)).then_some(()))
        },
    )
    .await?;

    let console = sign_in(&server).await?;
    let page = console
        .http
        .get(server.url.join("admin/stats?hall=xianfeng")?)
        .header("cookie", &console.cookie)
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(cell(&page, "visits"), 17, "named check-ins");
    assert_eq!(
        cell(&page, "residents"),
        12,
        "distinct residents (act-b reused five numbers)"
    );
    assert_eq!(cell(&page, "received"), 1);
    // The chart data is the tables' data: its weekly sum is the API's person-times.
    // The page's JSON data block, which the chart script draws.
    let stats = chart_data(&page)?;
    let week_sum: i64 = stats["by_week"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r[2].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(week_sum, person_times);
    let kind_sum: i64 = stats["by_kind"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r[1].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(kind_sum, person_times);
    assert_eq!(stats["satisfaction"][0][1], 2);
    assert_eq!(stats["satisfaction"][0][2], 4.5);
    // The export counts the same: read the workbook back.
    let xlsx = console
        .http
        .get(server.url.join("admin/export.xlsx?hall=xianfeng")?)
        .header("cookie", &console.cookie)
        .send()
        .await?
        .bytes()
        .await?;
    use calamine::{DataType as _, Reader as _};
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.to_vec()))?;
    assert_eq!(
        wb.sheet_names(),
        linli_web::console::export::SHEETS
            .map(String::from)
            .to_vec()
    );
    let checkins = wb.worksheet_range("签到表")?;
    assert_eq!(checkins.height(), 19, "a header and 18 check-ins");
    assert_eq!(
        checkins.get((0, 0)).map(ToString::to_string).as_deref(),
        Some("日期")
    );
    let monthly = wb.worksheet_range("服务人次月报")?;
    let monthly_sum: f64 = monthly
        .rows()
        .skip(1)
        .filter_map(|r| r.get(3).and_then(|c| c.get_float()))
        .sum();
    assert_eq!(monthly_sum as i64, person_times);
    assert_eq!(wb.worksheet_range("诉求台账")?.height(), 2);
    assert!(
        !format!("{:?}", checkins).contains("139000"),
        "phones only masked"
    );
    // The vendored chart library is served by the server itself.
    let js = console
        .http
        .get(server.url.join("admin/assets/echarts.min.js")?)
        .send()
        .await?;
    assert_eq!(js.status(), 200);
    assert!(js.bytes().await?.len() > 100_000);
    Ok(())
}

/// 100,000 requests and 100,000 check-ins: the CSV and the workbook carry
/// every row the filters match (streamed: see `console::download`), the
/// screen shows the newest 500 and the total, the kiosks page counts what
/// the kiosk delivered today and the sync errors it caused. Timings are
/// `linli-admin-bench`'s, not asserted here.
async fn large_exports_carry_every_filtered_row(store: Store) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let (kiosk, _) = server.api.add_kiosk("xianfeng", "大厅一号").await?;
    let core = server.core()?;
    let now = linli_sync_engine::clock::now_ms();
    let seed = Seed {
        hall: "xianfeng".into(),
        kiosk: kiosk.clone(),
        activity: "act-1".into(),
        checkins: 100_000,
        requests: 100_000,
        days: 60,
        now_ms: now,
    };
    seed_server(&core, server.database_url.as_deref(), &seed).await?;
    server
        .sql_execute(&format!(
            "INSERT INTO quarantine (doc_id, record_key, hall_id, kiosk_id, reason, at_ms)
             VALUES ('d', 'r', 'xianfeng', '{kiosk}', 'rating score 9 is out of range', {now})"
        ))
        .await?;
    let console = sign_in(&server).await?;

    // Every request, in a streamed CSV with a BOM; a row with a comma, a
    // quote and a line break stays one record.
    let resp = console.get("admin/requests.csv?hall=xianfeng").await?;
    assert_eq!(resp.status(), 200);
    let csv = resp.bytes().await?;
    assert!(csv.starts_with("\u{feff}编号".as_bytes()));
    let mut reader = csv::ReaderBuilder::new().from_reader(&csv[3..]);
    assert_eq!(reader.records().count(), 100_000);
    // Filters narrow the export exactly as the screen: resolved repairs.
    let filtered =
        "admin/requests.csv?hall=xianfeng&status=resolved&category=repair&min_age_days=&overdue=";
    let csv = console.get(filtered).await?.bytes().await?;
    let rows = csv::ReaderBuilder::new()
        .from_reader(&csv[3..])
        .records()
        .count();
    // i % 7 == 1 (repair) and i % 3 == 2 (resolved): i ≡ 8 (mod 21).
    assert_eq!(rows, (0..100_000).filter(|i| i % 21 == 8).count());
    let page = console
        .get("admin/requests?hall=xianfeng&status=resolved&category=repair")
        .await?
        .text()
        .await?;
    assert!(
        page.contains(&format!("共 {rows} 条")),
        "the screen counts the same"
    );
    assert_eq!(page.matches("action=\"/admin/requests/").count(), 500);

    // The workbook: every check-in and request, the monthly sheet adds up.
    let resp = console.get("admin/export.xlsx?hall=xianfeng").await?;
    assert_eq!(resp.status(), 200);
    let xlsx = resp.bytes().await?;
    use calamine::{DataType as _, Reader as _};
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.to_vec()))?;
    assert_eq!(wb.worksheet_range("签到表")?.height(), 100_001);
    assert_eq!(wb.worksheet_range("诉求台账")?.height(), 100_001);
    let monthly: f64 = wb
        .worksheet_range("服务人次月报")?
        .rows()
        .skip(1)
        .filter_map(|r| r.get(3).and_then(|c| c.get_float()))
        .sum();
    assert_eq!(
        monthly as i64,
        100_000 + 10_000,
        "people plus every tenth's companion"
    );

    // A table longer than a sheet continues on "签到表 (2)", … with the
    // header again (shown here with 40,000 rows a sheet instead of
    // XLSX's 1,048,576): nothing is cut.
    let state = linli_web::state::AppState::new(core.clone());
    let mut file = linli_web::console::export::workbook_split(
        &state,
        vec!["xianfeng".into()],
        "0000-01-01".into(),
        "9999-12-31".into(),
        40_000,
    )
    .await?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes)?;
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes))?;
    assert_eq!(
        wb.sheet_names(),
        [
            "签到表",
            "签到表 (2)",
            "签到表 (3)",
            "服务人次月报",
            "诉求台账",
            "诉求台账 (2)",
            "诉求台账 (3)",
            "志愿时长积分明细",
            "积分兑换明细"
        ]
    );
    for table in ["签到表", "诉求台账"] {
        let mut rows = 0;
        for part in [
            table.to_string(),
            format!("{table} (2)"),
            format!("{table} (3)"),
        ] {
            let range = wb.worksheet_range(&part)?;
            assert_eq!(
                range.get((0, 1)).map(|c| c.to_string()),
                Some("服务中心".to_string()),
                "{part} starts with the header"
            );
            rows += range.height() - 1;
        }
        assert_eq!(rows, 100_000, "{table}: every row, over three sheets");
    }

    // The kiosks page: records received today and today's sync errors.
    let page = console.get("admin/kiosks").await?.text().await?;
    let row = page
        .split(&format!("id=\"kiosk-{kiosk}\""))
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_default()
        .to_string();
    let day = linli_sync_engine::db::Hall {
        id: String::new(),
        name: String::new(),
        tz: "Asia/Shanghai".into(),
        calendar_doc: String::new(),
        directory_doc: String::new(),
    };
    let since = day.day_start_ms(day.date_at(now));
    let records_today: i64 = server
        .sql_strings(&format!(
            "SELECT CAST((SELECT count(*) FROM checkins WHERE received_ms >= {since})
                       + (SELECT count(*) FROM requests WHERE received_ms >= {since}) AS TEXT)"
        ))
        .await?
        .first()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(0);
    assert!(records_today > 0);
    assert!(
        row.contains(&format!("<td class=\"records\">{records_today}</td>")),
        "{row}"
    );
    assert!(row.contains("rating score 9 is out of range"), "{row}");
    Ok(())
}

async fn walk_in_services_set_in_the_console_reach_the_kiosk_and_count_as_their_own_kind(
    store: Store,
) -> anyhow::Result<()> {
    use linli_core::node::{CheckInOutcome, NewWalkIn};
    init_logging();
    let server = TestServer::start_on(store).await?;
    let kiosk = TestKiosk::pair(&server, "xianfeng", true).await?;
    let console = sign_in(&server).await?;
    // Every new hall starts with the standard five.
    let page = console
        .get("admin/services?hall=xianfeng")
        .await?
        .text()
        .await?;
    for name in ["办事", "咨询", "医保办理", "社保办理", "便民服务"] {
        assert!(page.contains(name), "{name}");
    }
    // The hall adds one, renames one and retires one.
    let add = [("name", "老年证办理"), ("name_en", "Senior citizen card")];
    assert_eq!(console.post("admin/services/xianfeng", &add).await?, 303);
    let rename = [
        ("id", "convenience"),
        ("name", "便民服务站"),
        ("name_en", ""),
    ];
    assert_eq!(console.post("admin/services/xianfeng", &rename).await?, 303);
    let retire = "admin/services/xianfeng/consultation/retire";
    assert_eq!(console.post(retire, &[]).await?, 303);
    // A blank name is refused with the reason, an unknown service is not
    // found, and neither changes anything.
    let resp = console
        .http
        .post(console.base.join("admin/services/xianfeng")?)
        .header("cookie", &console.cookie)
        .form(&[("csrf", console.csrf.as_str()), ("name", "  ")])
        .send()
        .await?;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await?.contains("请填写服务名称"));
    let unknown = [("id", "no-such-service"), ("name", "办事")];
    assert_eq!(
        console.post("admin/services/xianfeng", &unknown).await?,
        404
    );
    let listed = server.api.get("api/v1/halls/xianfeng/services").await?;
    let listed = listed.as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 6, "{listed:?}");
    assert!(
        listed
            .iter()
            .any(|s| s["id"] == "consultation" && s["retired"] == true)
    );

    // The kiosk gets the list: the new one last, the retired one gone.
    let services = eventually(
        Duration::from_secs(20),
        "the services on the kiosk",
        || async {
            let s = kiosk.node().services().await?;
            let names: Vec<&str> = s.iter().map(|(_, s)| s.name.as_str()).collect();
            Ok(
                (names == ["办事", "医保办理", "社保办理", "便民服务站", "老年证办理"])
                    .then_some(s),
            )
        },
    )
    .await?;
    let senior = services[4].0.clone();

    // Three named check-ins to an activity, five walk-ins (one with a
    // companion, one without a number), and a repeat that counts once.
    kiosk.record_checkins("act-a", 3, 6).await?;
    for i in 0..4 {
        let outcome = kiosk
            .node()
            .record_walk_in(NewWalkIn {
                service: senior.clone(),
                resident: Some(ResidentInput {
                    phone: test_phone(7, i)?,
                    name: None,
                }),
                companions: u32::from(i == 0),
            })
            .await?;
        assert!(matches!(outcome, CheckInOutcome::Recorded(_)));
    }
    kiosk
        .node()
        .record_walk_in(NewWalkIn {
            service: "medical_insurance".into(),
            resident: None,
            companions: 0,
        })
        .await?;
    let again = kiosk
        .node()
        .record_walk_in(NewWalkIn {
            service: senior.clone(),
            resident: Some(ResidentInput {
                phone: test_phone(7, 0)?,
                name: None,
            }),
            companions: 0,
        })
        .await?;
    assert_eq!(again, CheckInOutcome::AlreadyCheckedIn);
    server.api.wait_checkins("xianfeng", 8).await?;

    // The API: walk-ins are their own kind, with their service.
    let api = server.api.get("api/v1/halls/xianfeng/checkins").await?;
    assert_eq!(api["person_times"], 9);
    assert_eq!(api["walk_in_person_times"], 6);
    let rows = api["checkins"].as_array().cloned().unwrap_or_default();
    let walk_ins: Vec<_> = rows.iter().filter(|r| r["kind"] == "walk_in").collect();
    assert_eq!(walk_ins.len(), 5);
    assert!(
        walk_ins
            .iter()
            .all(|r| r["activity_id"] == "" && r["service"].is_string())
    );
    assert!(
        rows.iter()
            .filter(|r| r["kind"] == "activity")
            .all(|r| r["service"].is_null())
    );

    // Statistics: a kind of their own, and by service under the hall's names.
    let page = console
        .get("admin/stats?hall=xianfeng")
        .await?
        .text()
        .await?;
    let stats = chart_data(&page)?;
    let by_kind = stats["by_kind"].as_array().cloned().unwrap_or_default();
    assert!(
        by_kind.contains(&serde_json::json!(["到访办事", 6])),
        "{by_kind:?}"
    );
    assert_eq!(
        stats["by_service"],
        serde_json::json!([["老年证办理", 5], ["医保办理", 1]])
    );
    assert!(page.contains("到访办事（按服务项目）"));

    // The workbook: each walk-in under its service, and the monthly sheet.
    let xlsx = console
        .get("admin/export.xlsx?hall=xianfeng")
        .await?
        .bytes()
        .await?;
    use calamine::{DataType as _, Reader as _};
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.to_vec()))?;
    let checkins = wb.worksheet_range("签到表")?;
    let text =
        |r: &[calamine::Data], i: usize| r.get(i).map(ToString::to_string).unwrap_or_default();
    let walk_in_rows: Vec<_> = checkins
        .rows()
        .skip(1)
        .filter(|r| text(r, 4) == "到访办事")
        .map(|r| text(r, 3))
        .collect();
    assert_eq!(
        walk_in_rows.iter().filter(|t| *t == "老年证办理").count(),
        4
    );
    assert_eq!(walk_in_rows.iter().filter(|t| *t == "医保办理").count(), 1);
    let monthly = wb.worksheet_range("服务人次月报")?;
    let walk_in_month: f64 = monthly
        .rows()
        .skip(1)
        .filter(|r| text(r, 2) == "到访办事")
        .filter_map(|r| r.get(3).and_then(|c| c.get_float()))
        .sum();
    assert_eq!(walk_in_month, 6.0);

    // Every change to the list is in the audit log.
    let audit = console.get("admin/audit").await?.text().await?;
    for action in ["create_service", "edit_service", "retire_service"] {
        assert!(audit.contains(action), "{action} audited");
    }
    Ok(())
}

linli_test_kit::on_both_stores! {
    a_calendar_change_and_a_reply_made_in_the_console_reach_the_kiosk,
    statistics_on_screen_in_the_chart_data_and_in_the_api_agree,
    walk_in_services_set_in_the_console_reach_the_kiosk_and_count_as_their_own_kind,
    large_exports_carry_every_filtered_row,
}
