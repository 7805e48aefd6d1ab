//! The admin console over real HTTP against a real server: a calendar
//! change made in the console reaches a kiosk, and a reply written in the
//! console reaches the resident's kiosk.

use std::time::Duration;

use linli_core::{
    model::{RequestCategory, RequestStatus},
    node::ResidentInput,
};
use linli_tests::{
    TestKiosk, TestServer, console_session, eventually, init_logging,
    seed::{Seed, seed_projection},
    test_phone,
};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendar_change_and_a_reply_made_in_the_console_reach_the_kiosk() -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start().await?;
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

fn cell(page: &str, id: &str) -> i64 {
    page.split(&format!("id=\"{id}\">"))
        .nth(1)
        .and_then(|s| s.split('<').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_on_screen_in_the_chart_data_and_in_the_api_agree() -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start().await?;
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
    let json = page
        .split("id=\"stats-data\"")
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, body)| body.split_once("</script>"))
        .map_or("{}", |(json, _)| json);
    let stats: serde_json::Value = serde_json::Deserializer::from_str(json)
        .into_iter::<serde_json::Value>()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no chart data"))??;
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
        linli_sync_server::console::export::SHEETS
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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_exports_carry_every_filtered_row() -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start().await?;
    let (kiosk, _) = server.api.add_kiosk("xianfeng", "大厅一号").await?;
    let core = server.core()?;
    let now = linli_sync_server::server::now_ms();
    let seed = Seed {
        hall: "xianfeng".into(),
        kiosk: kiosk.clone(),
        activity: "act-1".into(),
        checkins: 100_000,
        requests: 100_000,
        days: 60,
        now_ms: now,
    };
    let k = kiosk.clone();
    core.db
        .run(move |c| {
            seed_projection(c, &seed).map_err(|e| linli_sync_server::Error::db("seeding", e))?;
            c.execute(
                "INSERT INTO quarantine (doc_id, record_key, hall_id, kiosk_id, reason, at_ms)
                 VALUES ('d', 'r', 'xianfeng', ?1, 'rating score 9 is out of range', ?2)",
                rusqlite::params![k, now],
            )
            .map_err(|e| linli_sync_server::Error::db("seeding", e))?;
            Ok(())
        })
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
    let state = linli_sync_server::api::AppState { core: core.clone() };
    let mut file = linli_sync_server::console::export::workbook_split(
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
            "志愿时长积分明细"
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
    let records_today: i64 = core
        .db
        .run(move |c| {
            let start = linli_sync_server::db::Hall {
                id: String::new(),
                name: String::new(),
                tz: "Asia/Shanghai".into(),
                calendar_doc: String::new(),
                directory_doc: String::new(),
            };
            let since = start.day_start_ms(start.date_at(now));
            c.query_row(
                "SELECT (SELECT count(*) FROM checkins WHERE received_ms >= ?1)
                      + (SELECT count(*) FROM requests WHERE received_ms >= ?1)",
                [since],
                |r| r.get(0),
            )
            .map_err(|e| linli_sync_server::Error::db("counting", e))
        })
        .await?;
    assert!(records_today > 0);
    assert!(
        row.contains(&format!("<td class=\"records\">{records_today}</td>")),
        "{row}"
    );
    assert!(row.contains("rating score 9 is out of range"), "{row}");
    Ok(())
}
