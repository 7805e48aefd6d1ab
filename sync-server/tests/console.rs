//! The admin console through `router()` with `oneshot`: sign-in, sessions,
//! CSRF, roles and halls, escaping, exports — and each refusal.

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use linli_sync_engine::provision;
use linli_test_kit::{Fixture, Store};
use linli_web::{api::router, console::session};
use tower::ServiceExt;

/// The fixture's request: its record id ends so that its reference is
/// `AB12CD`.
const R1: &str = "0193a000-0000-7000-8000-000000ab12cd";

/// The kit's fixture on SQLite (for the tests that look at its tables).
/// The kit's fixture on `store`, with a request as a kiosk delivers it and
/// the projection holds it: markup in its text, the resident's number
/// sealed to the server as a kiosk seals it, a callback asked for.
async fn fixture_on(store: Store) -> Fixture {
    let f = Fixture::open_on(store).await.expect("fixture");
    let core = f.core();
    let sealed = core
        .residents
        .seal(&linli_core::resident::Contact {
            phone: "13812345678".into(),
            name: None,
        })
        .expect("seal");
    let mut book =
        linli_core::docs::requests::new_request_book("xianfeng", "xianfeng-k1", "2026-11")
            .expect("book");
    let request = linli_core::model::Request {
        category: "repair".into(),
        text: "<script>alert(1)</script>, 楼道灯坏了".into(),
        resident: Some(linli_core::model::ResidentRef {
            pseudonym: "a1".repeat(32),
            sealed,
            name_box: None,
        }),
        callback_consent: true,
        kiosk_id: "xianfeng-k1".into(),
        at_ms: 1,
    };
    linli_core::docs::requests::add_request(&mut book, R1, &request).expect("request");
    let written = core
        .projection
        .write(
            vec![linli_sync_engine::projection_tables::DocumentWrite {
                doc: "d1".into(),
                hall: "xianfeng".into(),
                kiosk: "xianfeng-k1".into(),
                assessment: linli_sync_engine::projection::assess(
                    &book,
                    &[],
                    "xianfeng",
                    "xianfeng-k1",
                )
                .expect("assessed"),
                tagged: Vec::new(),
            }],
            1,
        )
        .await
        .expect("seed");
    assert!(
        matches!(&written[..], [(_, Ok(p))] if p.records == 1),
        "{written:?}"
    );
    f
}

/// `s` as an SQL string literal (both stores read it).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The hall xianfeng's workbook (`/admin/export.xlsx`) as `cookie`'s
/// session downloads it.
async fn workbook(f: &Fixture, cookie: &str) -> calamine::Xlsx<std::io::Cursor<Vec<u8>>> {
    let resp = router(f.state.clone())
        .oneshot(
            Request::builder()
                .uri("/admin/export.xlsx?hall=xianfeng")
                .header(header::COOKIE, format!("{}={cookie}", session::COOKIE))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).expect("xlsx")
}

async fn sign_in(f: &Fixture, user: &str) -> (String, String) {
    let r = f
        .form(
            "POST",
            "/admin/login",
            None,
            Some(&format!("user={user}&password=good+password")),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let set = r.headers[header::SET_COOKIE]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let id = set
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .expect("id");
    let page = f.form("GET", "/admin/kiosks", Some(&id), None).await;
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf in the page")
        .to_string();
    (id, csrf)
}

async fn pages_need_a_session_and_wrong_passwords_are_limited(store: Store) {
    let f = fixture_on(store).await;
    for uri in [
        "/admin",
        "/admin/kiosks",
        "/admin/requests",
        "/admin/requests.csv",
        "/admin/audit",
    ] {
        let r = f.form("GET", uri, None, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{uri}");
        assert_eq!(r.headers[header::LOCATION], "/admin/login");
        let r = f.form("GET", uri, Some("forged"), None).await;
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "{uri} with a forged cookie"
        );
    }
    let login = f.form("GET", "/admin/login", None, None).await;
    assert!(login.body.contains("登录"));
    for _ in 0..5 {
        let r = f
            .form(
                "POST",
                "/admin/login",
                None,
                Some("user=wang&password=nope"),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("用户名或密码不对"));
    }
    let r = f
        .form(
            "POST",
            "/admin/login",
            None,
            Some("user=wang&password=good+password"),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked even with the right password"
    );
    // Another user is not affected.
    sign_in(&f, "li").await;
}

async fn every_sign_in_costs_one_password_verification_known_name_or_not(store: Store) {
    let f = fixture_on(store).await;
    provision::add_admin(&f.state.core, "sun", "viewer")
        .await
        .expect("an admin without a password");
    let passwords = &f.state.web.passwords;
    for (form, status) in [
        (
            "user=nobody&password=whatever+it+is",
            StatusCode::UNAUTHORIZED,
        ),
        (
            "user=wang&password=wrong+password",
            StatusCode::UNAUTHORIZED,
        ),
        ("user=sun&password=good+password", StatusCode::UNAUTHORIZED),
        ("user=&password=", StatusCode::UNAUTHORIZED),
        ("user=wang&password=good+password", StatusCode::SEE_OTHER),
    ] {
        let before = passwords.verifications();
        let r = f.form("POST", "/admin/login", None, Some(form)).await;
        assert_eq!(r.status, status, "{form}");
        assert_eq!(passwords.verifications(), before + 1, "{form}");
        if status == StatusCode::UNAUTHORIZED {
            assert!(
                r.body.contains("用户名或密码不对"),
                "the same answer: {form}"
            );
        }
    }
}

async fn changing_a_password_signs_the_admin_out_everywhere_else(store: Store) {
    let f = fixture_on(store).await;
    let (here, csrf) = sign_in(&f, "wang").await;
    let (elsewhere, _) = sign_in(&f, "wang").await;
    let (li, _) = sign_in(&f, "li").await;
    let page = f.form("GET", "/admin/password", Some(&here), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"current\""));
    let change = |fields: &str| format!("csrf={csrf}&{fields}");

    // Refusals change nothing.
    for (fields, status, why) in [
        (
            "current=wrong+password&new=brand+new+one&repeat=brand+new+one",
            StatusCode::UNAUTHORIZED,
            "当前密码不对",
        ),
        (
            "current=good+password&new=brand+new+one&repeat=brand+new+two",
            StatusCode::BAD_REQUEST,
            "两次输入的新密码不一样",
        ),
        (
            "current=good+password&new=short&repeat=short",
            StatusCode::BAD_REQUEST,
            "至少 8 个字符",
        ),
    ] {
        let r = f
            .form(
                "POST",
                "/admin/password",
                Some(&here),
                Some(&change(fields)),
            )
            .await;
        assert_eq!(r.status, status, "{fields}");
        assert!(r.body.contains(why), "{fields}: {}", r.body);
    }
    let r = f
        .form(
            "POST",
            "/admin/password",
            Some(&here),
            Some("csrf=forged&current=good+password&new=brand+new+one&repeat=brand+new+one"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = f.form("GET", "/admin", Some(&elsewhere), None).await;
    assert_eq!(r.status, StatusCode::OK, "the other session is still there");

    let r = f
        .form(
            "POST",
            "/admin/password",
            Some(&here),
            Some(&change(
                "current=good+password&new=brand+new+one&repeat=brand+new+one",
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("密码已修改") && r.body.contains("其他登录已退出：1"));
    let r = f.form("GET", "/admin", Some(&here), None).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the session that changed it stays"
    );
    let r = f.form("GET", "/admin", Some(&elsewhere), None).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "the other one is signed out"
    );
    assert_eq!(r.headers[header::LOCATION], "/admin/login");
    let r = f.form("GET", "/admin", Some(&li), None).await;
    assert_eq!(r.status, StatusCode::OK, "other admins are not affected");

    // Only the new password signs in now.
    let r = f
        .form(
            "POST",
            "/admin/login",
            None,
            Some("user=wang&password=good+password"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = f
        .form(
            "POST",
            "/admin/login",
            None,
            Some("user=wang&password=brand+new+one"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let audit = f.form("GET", "/admin/audit", Some(&here), None).await;
    assert!(audit.body.contains("change_password"));
    assert!(
        !audit.body.contains("brand new one"),
        "no password in the log"
    );
}

async fn wrong_current_passwords_count_against_the_sign_in_limit(store: Store) {
    let f = fixture_on(store).await;
    let (here, csrf) = sign_in(&f, "wang").await;
    let form = |current: &str| {
        format!("csrf={csrf}&current={current}&new=brand+new+one&repeat=brand+new+one")
    };
    for _ in 0..linli_web::limiters::MAX_FAILURES {
        let r = f
            .form("POST", "/admin/password", Some(&here), Some(&form("nope")))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = f
        .form(
            "POST",
            "/admin/password",
            Some(&here),
            Some(&form("good+password")),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = f
        .form(
            "POST",
            "/admin/login",
            None,
            Some("user=wang&password=good+password"),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "sign-in too");
}

async fn central_admin_sees_every_hall_and_markup_is_escaped(store: Store) {
    let f = fixture_on(store).await;
    let (id, _) = sign_in(&f, "wang").await;
    let r = f.form("GET", "/admin", Some(&id), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("先锋社区") && r.body.contains("中福社区"));
    let r = f.form("GET", "/admin/requests", Some(&id), None).await;
    assert!(
        r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped: {}",
        r.body
    );
    assert!(!r.body.contains("<script>alert(1)"));
    assert!(r.body.contains("138****5678"));
    let r = f
        .form("GET", "/admin/requests?status=lost", Some(&id), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("request status"));
}

async fn csv_export_has_a_bom_chinese_headers_and_the_filtered_rows(store: Store) {
    let f = fixture_on(store).await;
    let (id, _) = sign_in(&f, "wang").await;
    let r = f
        .form(
            "GET",
            "/admin/requests.csv?hall=xianfeng&status=received",
            Some(&id),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.starts_with('\u{feff}'));
    let lines: Vec<&str> = r.body.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("编号,服务中心,类别"));
    assert!(
        lines[1].starts_with("AB12CD,xianfeng,repair,\"<script>alert(1)</script>, 楼道灯坏了\""),
        "{}",
        lines[1]
    );
    let none = f
        .form(
            "GET",
            "/admin/requests.csv?hall=xianfeng&status=resolved",
            Some(&id),
            None,
        )
        .await;
    assert_eq!(none.body.trim_end().split("\r\n").count(), 1);
    let audit = f.form("GET", "/admin/audit", Some(&id), None).await;
    assert!(audit.body.contains("export_requests_csv"));
    assert!(audit.body.contains("sign_in"));
}

/// Text that a spreadsheet would run as a formula (OWASP CSV injection).
const FORMULAS: [&str; 6] = [
    "=HYPERLINK(\"http://evil.example\",\"点我\")",
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
];

/// The rows of a CSV export, its BOM and header left out.
fn csv_rows(body: &str) -> Vec<csv::StringRecord> {
    let body = body.strip_prefix('\u{feff}').expect("a BOM");
    csv::ReaderBuilder::new()
        .from_reader(body.as_bytes())
        .records()
        .collect::<Result<_, _>>()
        .expect("valid CSV")
}

async fn exports_never_hand_a_spreadsheet_a_formula(store: Store) {
    let f = fixture_on(store).await;
    // A name that looks like a formula, sealed as a kiosk seals it.
    let formula_name = f
        .state
        .core
        .residents
        .seal(&linli_core::resident::Contact {
            phone: "13812345678".into(),
            name: Some("@SUM(A1)".into()),
        })
        .expect("seal");
    let mut seed = String::new();
    for (i, text) in FORMULAS.iter().enumerate() {
        seed.push_str(&format!(
            "INSERT INTO requests (record_id, doc_id, hall_id, kiosk_id, month, reference, category, text,
                 callback_consent, status, reply, kiosk_at_ms, received_ms)
             VALUES ('f{i}', 'd1', 'xianfeng', 'xianfeng-k1', '2026-11', 'FX{i}', 'other', {t}, false, 'received', {t}, 1, 1);\n",
            t = literal(text)
        ));
    }
    seed.push_str(&format!(
        "INSERT INTO checkins (record_id, doc_id, hall_id, kiosk_id, date, activity_id, phone_hash, sealed,
             headcount, companions, kiosk_at_ms, received_ms)
         VALUES ('c1', 'd2', 'xianfeng', 'xianfeng-k1', '2026-11-23', '=act', 'h-c1', {}, 1, 2, 1, 1);",
        literal(&formula_name)
    ));
    f.sql_execute(&seed).await.expect("seed");
    f.core()
        .tables
        .audit(
            "wang",
            "=action",
            "+target",
            Some("-2+3"),
            Some("@SUM(A1)"),
            1,
        )
        .await
        .expect("audit");
    let (wang, _) = sign_in(&f, "wang").await;
    let quoted = |s: &str| format!("'{s}");

    // The requests CSV: the text and the reply of each, quoted.
    let r = f
        .form("GET", "/admin/requests.csv", Some(&wang), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let rows = csv_rows(&r.body);
    for text in FORMULAS {
        let row = rows
            .iter()
            .find(|row| row.get(3) == Some(quoted(text).as_str()))
            .unwrap_or_else(|| panic!("{text:?} quoted in {rows:?}"));
        assert_eq!(row.get(7), Some(quoted(text).as_str()), "the reply too");
    }
    assert!(
        rows.iter()
            .any(|row| row.get(3) == Some("<script>alert(1)</script>, 楼道灯坏了")),
        "other text as written"
    );

    // The audit CSV.
    let r = f.form("GET", "/admin/audit.csv", Some(&wang), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let rows = csv_rows(&r.body);
    let row = rows
        .iter()
        .find(|row| row.get(1) == Some("wang") && row.get(2) == Some("'=action"))
        .unwrap_or_else(|| panic!("the seeded entry in {rows:?}"));
    assert_eq!(
        row.iter().skip(2).collect::<Vec<_>>(),
        ["'=action", "'+target", "'-2+3", "'@SUM(A1)"]
    );

    // The workbook: text cells quoted, numbers still numbers.
    use calamine::Reader as _;
    let mut wb = workbook(&f, &wang).await;
    let requests = wb.worksheet_range("诉求台账").expect("诉求台账");
    let cell = |range: &calamine::Range<calamine::Data>, row: usize, col: usize| {
        range
            .get((row, col))
            .cloned()
            .unwrap_or(calamine::Data::Empty)
    };
    let texts: Vec<_> = (1..requests.height())
        .map(|r| cell(&requests, r, 3))
        .collect();
    for text in FORMULAS {
        assert!(
            texts.contains(&calamine::Data::String(quoted(text))),
            "{text:?} quoted in {texts:?}"
        );
    }
    let replies: Vec<_> = (1..requests.height())
        .map(|r| cell(&requests, r, 7))
        .collect();
    assert!(replies.contains(&calamine::Data::String(quoted("@SUM(A1)"))));
    let checkins = wb.worksheet_range("签到表").expect("签到表");
    assert_eq!(checkins.height(), 2, "a header and the check-in");
    assert_eq!(
        cell(&checkins, 1, 3),
        calamine::Data::String("'=act".into())
    );
    assert_eq!(
        cell(&checkins, 1, 4),
        calamine::Data::String("其他".into()),
        "an activity not in the calendar is of kind other"
    );
    assert_eq!(
        cell(&checkins, 1, 6),
        calamine::Data::String("'@SUM(A1)".into())
    );
    assert_eq!(
        cell(&checkins, 1, 7),
        calamine::Data::Float(1.0),
        "a number"
    );
    assert_eq!(
        cell(&checkins, 1, 8),
        calamine::Data::Float(2.0),
        "a number"
    );
}

async fn every_response_carries_the_security_headers(store: Store) {
    let f = fixture_on(store).await;
    let (wang, _) = sign_in(&f, "wang").await;
    let token = provision::admin_token(&f.state.core, "wang")
        .await
        .expect("token");
    let cases = [
        ("/admin/login", None, None, StatusCode::OK),
        ("/admin/stats", Some(&wang), None, StatusCode::OK),
        ("/admin/requests.csv", Some(&wang), None, StatusCode::OK),
        ("/admin/export.xlsx", Some(&wang), None, StatusCode::OK),
        ("/admin/kiosks", None, None, StatusCode::SEE_OTHER),
        ("/m/request?hall=xianfeng", None, None, StatusCode::OK),
        ("/api/v1/halls", None, Some(&token), StatusCode::OK),
        ("/api/v1/halls", None, None, StatusCode::UNAUTHORIZED),
        ("/healthz", None, None, StatusCode::OK),
        ("/nowhere", None, None, StatusCode::NOT_FOUND),
    ];
    for (uri, cookie, bearer, status) in cases {
        let mut req = Request::builder().uri(uri);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, format!("{}={c}", session::COOKIE));
        }
        if let Some(t) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let resp = router(f.state.clone())
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("response");
        assert_eq!(resp.status(), status, "{uri}");
        let h = resp.headers();
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().expect("csp");
        for directive in [
            "default-src 'self'",
            "script-src 'self';",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{uri}: {csp}");
        }
        assert!(!csp.contains("script-src 'self' 'unsafe"), "{uri}: {csp}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{uri}");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{uri}");
        assert_eq!(h[header::REFERRER_POLICY], "same-origin", "{uri}");
    }
}

async fn console_pages_run_no_inline_script(store: Store) {
    let f = fixture_on(store).await;
    let (wang, _) = sign_in(&f, "wang").await;
    for uri in [
        "/admin/login",
        "/admin",
        "/admin/kiosks",
        "/admin/requests",
        "/admin/stats",
        "/admin/calendar",
        "/admin/volunteers",
        "/admin/audit",
        "/admin/password",
        "/m/request?hall=xianfeng",
    ] {
        let r = f.form("GET", uri, Some(&wang), None).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        for tag in r.body.split("<script").skip(1) {
            let tag = tag.split('>').next().unwrap_or_default();
            assert!(
                tag.contains(" src=\"/admin/assets/") || tag.contains("type=\"application/json\""),
                "{uri}: an inline script the Content-Security-Policy would block: <script{tag}>"
            );
        }
    }
    // The statistics page's numbers travel as data, its code as a file.
    let r = f.form("GET", "/admin/stats", Some(&wang), None).await;
    let data = r
        .body
        .split("<script id=\"stats-data\" type=\"application/json\">")
        .nth(1)
        .and_then(|s| s.split("</script>").next())
        .expect("the data block");
    let stats: serde_json::Value = serde_json::from_str(data).expect("JSON");
    assert!(stats["by_week"].is_array(), "{stats}");
    let js = f.form("GET", "/admin/assets/stats.js", None, None).await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(
        js.headers[header::CONTENT_TYPE]
            .to_str()
            .is_ok_and(|t| t.starts_with("application/javascript"))
    );
    assert!(js.body.contains("getElementById('stats-data')"));
}

async fn forms_need_the_csrf_token_and_roles_and_halls_are_enforced(store: Store) {
    let f = fixture_on(store).await;
    let (wang, csrf) = sign_in(&f, "wang").await;
    let r = f
        .form(
            "POST",
            "/admin/kiosks",
            Some(&wang),
            Some("csrf=wrong&hall=xianfeng&name=k"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = f
        .form(
            "POST",
            "/admin/kiosks",
            Some(&wang),
            Some("hall=xianfeng&name=k"),
        )
        .await;
    assert!(r.status.is_client_error());
    let r = f
        .form(
            "POST",
            "/admin/kiosks",
            Some(&wang),
            Some(&format!("csrf={csrf}&hall=xianfeng&name=")),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("kiosk name"), "the reason next to the form");
    let r = f
        .form(
            "POST",
            "/admin/kiosks",
            Some(&wang),
            Some(&format!(
                "csrf={csrf}&hall=xianfeng&name=%E5%A4%A7%E5%8E%85"
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("配对码只显示这一次"));
    assert!(r.body.contains("lk_"));
    assert!(r.body.contains("<svg"), "a pairing QR code");

    // A viewer reads but cannot change anything.
    let (zhao, zcsrf) = sign_in(&f, "zhao").await;
    let r = f.form("GET", "/admin/requests", Some(&zhao), None).await;
    assert!(r.body.contains("AB12CD") && !r.body.contains("保存 Save"));
    let r = f
        .form(
            "POST",
            "/admin/kiosks",
            Some(&zhao),
            Some(&format!("csrf={zcsrf}&hall=xianfeng&name=x")),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = f
        .form(
            "POST",
            "/admin/kiosks/xianfeng-k1/revoke",
            Some(&zhao),
            Some(&format!("csrf={zcsrf}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = f.form("GET", "/admin/audit", Some(&zhao), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Hall staff of another hall see nothing of xianfeng.
    let (li, lcsrf) = sign_in(&f, "li").await;
    let r = f.form("GET", "/admin/requests", Some(&li), None).await;
    assert!(!r.body.contains("AB12CD"));
    let r = f
        .form("GET", "/admin/requests?hall=xianfeng", Some(&li), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = f.form("GET", "/admin/kiosks", Some(&li), None).await;
    assert!(!r.body.contains("xianfeng-k1"));
    let r = f
        .form(
            "POST",
            "/admin/kiosks/xianfeng-k1/revoke",
            Some(&li),
            Some(&format!("csrf={lcsrf}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = f
        .form(
            "POST",
            "/admin/kiosks",
            Some(&li),
            Some(&format!("csrf={lcsrf}&hall=xianfeng&name=x")),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = f
        .form(
            "POST",
            &format!("/admin/requests/{R1}"),
            Some(&li),
            Some(&format!(
                "csrf={lcsrf}&hall=xianfeng&status=resolved&reply=x"
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The central admin revokes; it is audited with before and after.
    let r = f
        .form(
            "POST",
            "/admin/kiosks/xianfeng-k1/revoke",
            Some(&wang),
            Some(&format!("csrf={csrf}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let audit = f.form("GET", "/admin/audit", Some(&wang), None).await;
    assert!(audit.body.contains("revoke_kiosk") && audit.body.contains("revoked"));
    assert!(audit.body.contains("provision_kiosk"));

    // Signing out ends the session.
    let r = f
        .form(
            "POST",
            "/admin/logout",
            Some(&wang),
            Some(&format!("csrf={csrf}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = f.form("GET", "/admin", Some(&wang), None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

async fn calendar_edits_reach_the_calendar_document_and_are_audited(store: Store) {
    let f = fixture_on(store).await;
    let core = f.state.core.clone();
    let (wang, csrf) = sign_in(&f, "wang").await;
    let form = format!(
        "csrf={csrf}&title=%E4%B9%A6%E6%B3%95%E8%AF%BE%E5%A0%82&kind=class&room=&date=2026-12-01&start=14:30&end=16:00&capacity=20&named=on&repeat_weeks=2"
    );
    let r = f
        .form("POST", "/admin/calendar/xianfeng", Some(&wang), Some(&form))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let acts = provision::activities(&core, "xianfeng")
        .await
        .expect("activities");
    assert_eq!(acts.len(), 3, "the first week and two repeats");
    assert!(
        acts.iter()
            .all(|(_, a)| a.title == "书法课堂" && a.capacity == Some(20))
    );
    assert_eq!(
        acts[1].1.starts_at_ms - acts[0].1.starts_at_ms,
        7 * 24 * 3600 * 1000
    );
    let page = f
        .form(
            "GET",
            "/admin/calendar?hall=xianfeng&week=2026-12-01",
            Some(&wang),
            None,
        )
        .await;
    assert!(
        page.body.contains("书法课堂") && page.body.contains("14:30–16:00"),
        "{}",
        page.body
    );

    // Wrong input: a clear message next to the form, nothing written.
    let bad = format!("csrf={csrf}&title=x&kind=class&date=2026-12-01&start=9%E7%82%B9&end=16:00");
    let r = f
        .form("POST", "/admin/calendar/xianfeng", Some(&wang), Some(&bad))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("开始时间格式"), "{}", r.body);
    let bad =
        format!("csrf={csrf}&title=%3Cscript%3E&kind=class&date=2026-12-01&start=16:00&end=15:00");
    let r = f
        .form("POST", "/admin/calendar/xianfeng", Some(&wang), Some(&bad))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("after its start"));
    assert!(r.body.contains("&lt;script&gt;") && !r.body.contains("value=\"<script>"));
    assert_eq!(
        provision::activities(&core, "xianfeng")
            .await
            .expect("activities")
            .len(),
        3
    );

    // Cancel one; it stays in the calendar, marked.
    let id = acts[0].0.clone();
    let r = f
        .form(
            "POST",
            &format!("/admin/calendar/xianfeng/{id}/cancel"),
            Some(&wang),
            Some(&format!("csrf={csrf}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let acts = provision::activities(&core, "xianfeng")
        .await
        .expect("activities");
    assert!(
        acts.iter()
            .find(|(i, _)| *i == id)
            .is_some_and(|(_, a)| a.cancelled)
    );
    let audit = f.form("GET", "/admin/audit", Some(&wang), None).await;
    assert!(audit.body.contains("create_activity") && audit.body.contains("cancel_activity"));

    // Viewers and other halls' staff cannot edit.
    let (zhao, zcsrf) = sign_in(&f, "zhao").await;
    let r = f
        .form(
            "POST",
            "/admin/calendar/xianfeng",
            Some(&zhao),
            Some(&form.replace(&csrf, &zcsrf)),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let (li, lcsrf) = sign_in(&f, "li").await;
    let r = f
        .form(
            "POST",
            "/admin/calendar/xianfeng",
            Some(&li),
            Some(&form.replace(&csrf, &lcsrf)),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = f
        .form("GET", "/admin/calendar?hall=xianfeng", Some(&li), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn overdue_requests_are_flagged_and_filtered_by_age(store: Store) {
    let f = fixture_on(store).await;
    let (wang, _) = sign_in(&f, "wang").await;
    // The seeded repair request is decades old: overdue (3-day deadline).
    let r = f
        .form("GET", "/admin/requests?overdue=1", Some(&wang), None)
        .await;
    assert!(
        r.body.contains("AB12CD") && r.body.contains("逾期"),
        "{}",
        r.body
    );
    assert!(r.body.contains("时限 3 天"));
    let r = f
        .form("GET", "/admin/requests?min_age_days=30", Some(&wang), None)
        .await;
    assert!(r.body.contains("AB12CD"));
    let r = f
        .form(
            "GET",
            "/admin/requests?min_age_days=lots",
            Some(&wang),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A fresh request is neither overdue nor old.
    f.sql_execute(&format!(
        "INSERT INTO requests (record_id, doc_id, hall_id, kiosk_id, month, reference, category, text,
             callback_consent, status, kiosk_at_ms, received_ms)
         VALUES ('r2', 'd2', 'xianfeng', 'xianfeng-k1', '2026-11', 'EF34GH', 'idea', '希望增加休息座椅', false, 'received', {now}, {now})",
        now = linli_sync_engine::clock::now_ms()
    ))
    .await
    .expect("seed");
    let r = f
        .form("GET", "/admin/requests?overdue=1", Some(&wang), None)
        .await;
    assert!(!r.body.contains("EF34GH"));
    let r = f
        .form("GET", "/admin/requests?min_age_days=1", Some(&wang), None)
        .await;
    assert!(!r.body.contains("EF34GH") && r.body.contains("AB12CD"));
    let r = f.form("GET", "/admin/requests", Some(&wang), None).await;
    assert!(r.body.contains("EF34GH"));
}

async fn volunteer_hours_points_and_the_points_catalogue(store: Store) {
    let f = fixture_on(store).await;
    let now = linli_sync_engine::clock::now_ms();
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
        .to_string();
    let sealed = f
        .state
        .core
        .residents
        .seal(&linli_core::resident::Contact {
            phone: "13600001234".into(),
            name: Some("王大爷".into()),
        })
        .expect("seal");
    let mut seed = String::new();
    for (id, action, at) in [
        ("s1", "sign_in", now - 2 * 3_600_000),
        ("s2", "sign_out", now),
    ] {
        seed.push_str(&format!(
            "INSERT INTO shift_events (record_id, doc_id, hall_id, kiosk_id, date, shift_id, action, phone_hash, sealed,
                 activity_id, kiosk_at_ms, received_ms)
             VALUES ('{id}', 'd', 'xianfeng', 'xianfeng-k1', '{today}', 's1', '{action}', 'h1', {}, NULL, {at}, {at});\n",
            literal(&sealed)
        ));
    }
    f.sql_execute(&seed).await.expect("seed");
    let (wang, csrf) = sign_in(&f, "wang").await;
    let r = f
        .form("GET", "/admin/volunteers?hall=xianfeng", Some(&wang), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("136****1234 王大爷"), "{}", r.body);
    assert!(
        r.body.contains("<td>2.0</td><td>4</td>"),
        "two hours, four points"
    );
    let r = f
        .form(
            "POST",
            "/admin/volunteers/catalogue",
            Some(&wang),
            Some(&format!(
                "csrf={csrf}&hall=xianfeng&item=%E5%A4%A7%E7%B1%B3&points=20"
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = f
        .form("GET", "/admin/volunteers?hall=xianfeng", Some(&wang), None)
        .await;
    assert!(
        r.body.contains("<td>大米</td><td>20</td><td>0</td>"),
        "none in stock yet"
    );
    // Stock set (audited), and left alone when the field is blank.
    for (stock, shown) in [("12", 12), ("", 12)] {
        let r = f
            .form(
                "POST",
                "/admin/volunteers/catalogue",
                Some(&wang),
                Some(&format!(
                    "csrf={csrf}&hall=xianfeng&item=%E5%A4%A7%E7%B1%B3&points=20&stock={stock}"
                )),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let r = f
            .form("GET", "/admin/volunteers?hall=xianfeng", Some(&wang), None)
            .await;
        assert!(
            r.body
                .contains(&format!("<td>大米</td><td>20</td><td>{shown}</td>")),
            "{}",
            r.body
        );
    }
    let audited = f
        .sql_strings("SELECT after FROM audit_log WHERE action = 'catalogue_stock'")
        .await
        .expect("audit");
    assert_eq!(audited, ["12"]);
    let r = f
        .form(
            "POST",
            "/admin/volunteers/catalogue",
            Some(&wang),
            Some(&format!(
                "csrf={csrf}&hall=xianfeng&item=%E5%A4%A7%E7%B1%B3&points=20&stock=-1"
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("库存应为"));

    // A redemption of the volunteer's (as a kiosk store's spend is
    // projected): their month, the month's redemptions, the item's stock,
    // and the CSV.
    let record = linli_core::ids::RecordId::new().to_string();
    let reference = linli_sync_engine::projection_tables::request_reference(&record);
    f.sql_execute(&format!(
        "INSERT INTO redemptions (record_id, doc_id, hall_id, kiosk_id, spender, item, points,
             phone_hash, kiosk_at_ms, received_ms)
         VALUES ('{record}', 'spends', 'xianfeng', 'xianfeng-k1', 'xianfeng-k1.s', '大米', 3,
             'h1', {now}, {now})"
    ))
    .await
    .expect("seed a redemption");
    let r = f
        .form("GET", "/admin/volunteers?hall=xianfeng", Some(&wang), None)
        .await;
    assert!(
        r.body
            .contains("<td>2.0</td><td>4</td><td>3</td><td>1</td>"),
        "4 earned, 3 redeemed, 1 left: {}",
        r.body
    );
    assert!(r.body.contains(&format!(
        "<td>136****1234 王大爷</td><td>大米</td><td>3</td><td>xianfeng-k1</td><td>{reference}</td>"
    )));
    assert!(
        r.body
            .contains("<td>大米</td><td>20</td><td>12</td><td>1</td><td>11</td>"),
        "12 stocked, 1 redeemed, 11 left"
    );
    let r = f
        .form(
            "GET",
            "/admin/redemptions.csv?hall=xianfeng",
            Some(&wang),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let lines: Vec<&str> = r.body.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines[0],
        "服务中心,时间,志愿者（脱敏）,物品,积分,终端,兑换编号,其中赊兑积分"
    );
    assert_eq!(lines.len(), 2);
    assert!(
        lines[1].starts_with("xianfeng,")
            && lines[1].ends_with(&format!(
                ",136****1234 王大爷,大米,3,xianfeng-k1,{reference},0"
            )),
        "{}",
        lines[1]
    );
    let r = f
        .form(
            "GET",
            "/admin/redemptions.csv?hall=xianfeng&from=2000-01-01&to=2000-12-31",
            Some(&wang),
            None,
        )
        .await;
    assert_eq!(
        r.body.trim_start_matches('\u{feff}').lines().count(),
        1,
        "none then"
    );
    // The statistics: points earned against points redeemed, by week.
    let r = f
        .form("GET", "/admin/stats?hall=xianfeng", Some(&wang), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("id=\"chart-points\"") && r.body.contains("id=\"points\""));
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let st = linli_web::console::stats::compute(
        &f.state,
        vec!["xianfeng".into()],
        &(today - chrono::Duration::days(1)).to_string(),
        &today.to_string(),
    )
    .await
    .expect("statistics");
    let sums = st
        .points
        .iter()
        .fold((0, 0), |(e, r), (_, earned, redeemed)| {
            (e + earned, r + redeemed)
        });
    assert_eq!(sums, (4, 3), "earned and redeemed: {:?}", st.points);
    // The workbook's 积分兑换明细 has the same row, its points a number.
    use calamine::Reader as _;
    let mut wb = workbook(&f, &wang).await;
    let sheet = wb.worksheet_range("积分兑换明细").expect("the sheet");
    assert_eq!(sheet.height(), 2, "a header and the redemption");
    let row: Vec<String> = (0..8)
        .map(|c| {
            sheet
                .get((1, c))
                .map(ToString::to_string)
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        row[2..],
        [
            "136****1234 王大爷",
            "大米",
            "3",
            "xianfeng-k1",
            reference.as_str(),
            "0"
        ]
    );
    assert_eq!(sheet.get((1, 4)), Some(&calamine::Data::Float(3.0)));
    assert_eq!(
        sheet.get((1, 7)),
        Some(&calamine::Data::Float(0.0)),
        "nothing lent"
    );

    // A redemption of 3 points of which a kiosk lent 2 (赊兑, offline,
    // staff confirming): flagged on the line, and the volunteer, who now
    // owes 2 points, flagged too; the CSV says how much was lent.
    let lent = linli_core::ids::RecordId::new().to_string();
    f.sql_execute(&format!(
        "INSERT INTO redemptions (record_id, doc_id, hall_id, kiosk_id, spender, item, points,
             phone_hash, kiosk_at_ms, received_ms, owed)
         VALUES ('{lent}', 'spends', 'xianfeng', 'xianfeng-k1', 'xianfeng-k1.s', '大米', 3,
             'h1', {now}, {now}, 2)"
    ))
    .await
    .expect("seed a redemption on credit");
    let r = f
        .form("GET", "/admin/volunteers?hall=xianfeng", Some(&wang), None)
        .await;
    assert!(
        r.body
            .contains("<td>3<br><strong class=\"err lent\">！其中赊兑 2 分</strong></td>"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("<td>6</td><td>-2<br><strong class=\"err owing\">！欠 2 分</strong></td>"),
        "4 earned, 6 redeemed: {}",
        r.body
    );
    let r = f
        .form(
            "GET",
            "/admin/redemptions.csv?hall=xianfeng",
            Some(&wang),
            None,
        )
        .await;
    let lines: Vec<&str> = r.body.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines.iter().any(|l| l.ends_with(&format!(
            ",{},2",
            linli_sync_engine::projection_tables::request_reference(&lent)
        ))),
        "{lines:?}"
    );
    let r = f
        .form(
            "GET",
            "/admin/redemptions.csv?from=yesterday",
            Some(&wang),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = f
        .form(
            "POST",
            "/admin/volunteers/catalogue",
            Some(&wang),
            Some(&format!("csrf={csrf}&hall=xianfeng&item=x&points=lots")),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("积分应为"));
    let r = f
        .form("GET", "/admin/volunteers?month=Nov", Some(&wang), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let (zhao, zcsrf) = sign_in(&f, "zhao").await;
    let r = f
        .form(
            "POST",
            "/admin/volunteers/catalogue",
            Some(&zhao),
            Some(&format!("csrf={zcsrf}&hall=xianfeng&item=x&points=1")),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let (li, _) = sign_in(&f, "li").await;
    let r = f
        .form("GET", "/admin/volunteers?hall=xianfeng", Some(&li), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn the_resident_mobile_page_lands_in_the_requests_list(store: Store) {
    let f = fixture_on(store).await;
    let page = f
        .form("GET", "/m/request?hall=xianfeng&ref=AB12CD", None, None)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("补充编号") && page.body.contains("AB12CD"));
    let r = f.form("GET", "/m/request?hall=nowhere", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Bad input: reasons, what was typed kept.
    let r = f
        .form(
            "POST",
            "/m/request",
            None,
            Some("hall=xianfeng&category=repair&text=%20&phone="),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("请写下内容"));
    let long = "长".repeat(501);
    let r = f
        .form(
            "POST",
            "/m/request",
            None,
            Some(&format!("hall=xianfeng&category=repair&text={long}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = f
        .form(
            "POST",
            "/m/request",
            None,
            Some("hall=xianfeng&category=repair&text=%E7%81%AF&phone=123"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("11 位") && r.body.contains(">灯</textarea>"),
        "the text is kept"
    );
    let huge = format!("hall=xianfeng&category=repair&text={}", "a".repeat(20_000));
    let r = f.form("POST", "/m/request", None, Some(&huge)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);

    let r = f.form("POST",
        "/m/request",
        None,
        Some("hall=xianfeng&ref=AB12CD&category=repair&text=%3Cb%3E3%E5%8F%B7%E6%A5%BC%3C%2Fb%3E%E7%94%B5%E6%A2%AF%E5%8F%88%E5%9D%8F%E4%BA%86&phone=13812345678"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let reference = r
        .body
        .split("id=\"reference\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("reference")
        .to_string();
    // Projected like a kiosk's book (the projector is not running in this test).
    let core = f.state.core.clone();
    for id in core.projection.unprojected_documents().await.expect("docs") {
        let doc: samod::DocumentId = id.parse().expect("id");
        linli_sync_engine::projection::project_document(&core, &doc)
            .await
            .expect("project");
    }
    let (wang, _) = sign_in(&f, "wang").await;
    let list = f
        .form("GET", "/admin/requests?hall=xianfeng", Some(&wang), None)
        .await;
    assert!(list.body.contains(&reference), "the web request is listed");
    assert!(
        list.body
            .contains("[补充 AB12CD] &lt;b&gt;3号楼&lt;/b&gt;电梯又坏了"),
        "escaped, with its reference"
    );
    assert!(list.body.contains("138****5678") && !list.body.contains("13812345678"));
}

async fn the_mobile_page_takes_ten_requests_an_hour_from_one_address(store: Store) {
    use linli_web::limiters::MAX_PER_ADDRESS;
    let f = fixture_on(store).await;
    let submit = |from: &'static str| {
        let req = Request::builder()
            .method("POST")
            .uri("/m/request")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .extension(axum::extract::ConnectInfo(
                from.parse::<std::net::SocketAddr>().expect("address"),
            ))
            .body(Body::from(
                "hall=xianfeng&category=repair&text=%E6%A5%BC%E9%81%93%E7%81%AF%E5%9D%8F%E4%BA%86",
            ))
            .expect("request");
        let app = router(f.state.clone());
        async move {
            let resp = app.oneshot(req).await.expect("response");
            let status = resp.status();
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    for _ in 0..MAX_PER_ADDRESS {
        let (status, body) = submit("203.0.113.7:50000").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = submit("203.0.113.7:50001").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        body.contains("这台设备（网络）提交太多了，请 60 分钟后再试")
            && body.contains("try again in 60 minutes"),
        "{body}"
    );
    let (status, body) = submit("203.0.113.8:50000").await;
    assert_eq!(status, StatusCode::OK, "another phone: {body}");
}

async fn the_console_switches_between_chinese_and_english(store: Store) {
    let f = fixture_on(store).await;
    let (wang, csrf) = sign_in(&f, "wang").await;
    // Chinese by default, and only Chinese.
    let r = f
        .form("GET", "/admin/requests?overdue=1", Some(&wang), None)
        .await;
    assert!(r.body.contains("诉求台账") && r.body.contains("时限 3 天"));
    assert!(!r.body.contains("Deadline") && !r.body.contains(">Requests<"));
    // Switching remembers the choice in a cookie and goes back to the page.
    let req = Request::builder()
        .uri("/admin/lang/en")
        .header(
            header::REFERER,
            "http://127.0.0.1:7878/admin/requests?overdue=1",
        )
        .body(Body::empty())
        .expect("request");
    let resp = router(f.state.clone())
        .oneshot(req)
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers()[header::LOCATION],
        "/admin/requests?overdue=1"
    );
    let set = resp.headers()[header::SET_COOKIE].to_str().expect("cookie");
    assert!(set.starts_with("linli_lang=en;"), "{set}");
    // The same page in English.
    let en = format!("{wang}; linli_lang=en");
    let r = f
        .form("GET", "/admin/requests?overdue=1", Some(&en), None)
        .await;
    assert!(
        r.body.contains("<html lang=\"en\">") && r.body.contains("Deadline 3 days"),
        "{}",
        r.body
    );
    assert!(r.body.contains("overdue") && !r.body.contains("时限"));
    // Data stays as written (the hall's name is Chinese in either language).
    assert!(r.body.contains("xianfeng"));
    // A validation message shows the reader's half.
    let form = format!("csrf={csrf}&kind=lecture&title=T&date=tomorrow&start=09:00&end=10:00");
    let r = f
        .form("POST", "/admin/calendar/xianfeng", Some(&en), Some(&form))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("date like 2026-11-23") && !r.body.contains("日期格式应为"));
    // Never a redirect off this server, nor a panic on odd input.
    for back in [
        "//evil.example/",
        "https://evil.example/",
        "/%E4%B8%AD",
        "/a%0d%0aX:1",
    ] {
        let req = Request::builder()
            .uri(format!("/admin/lang/zh?back={back}"))
            .body(Body::empty())
            .expect("request");
        let resp = router(f.state.clone())
            .oneshot(req)
            .await
            .expect("response");
        assert_eq!(resp.headers()[header::LOCATION], "/admin", "{back}");
    }
    // The sign-in page follows the cookie too.
    let req = Request::builder()
        .uri("/admin/login")
        .header(header::COOKIE, "linli_lang=en")
        .body(Body::empty())
        .expect("request");
    let resp = router(f.state.clone())
        .oneshot(req)
        .await
        .expect("response");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("Password") && !body.contains("密码"),
        "{body}"
    );
}

async fn staff_reveal_a_consented_callback_number_and_every_reveal_is_audited(store: Store) {
    let f = fixture_on(store).await;
    // A second request whose resident gave a number but wants no callback.
    let sealed = f
        .state
        .core
        .residents
        .seal(&linli_core::resident::Contact {
            phone: "13900001111".into(),
            name: None,
        })
        .expect("seal");
    f.sql_execute(&format!(
        "INSERT INTO requests (record_id, doc_id, hall_id, kiosk_id, month, reference, category, text, phone_hash,
             sealed, callback_consent, status, kiosk_at_ms, received_ms)
         VALUES ('r2', 'd1', 'xianfeng', 'xianfeng-k1', '2026-11', 'EF34GH', 'idea', '多种树', 'h-r2', {}, false, 'received', 2, 2)",
        literal(&sealed)
    ))
    .await
    .expect("seed");
    // The list shows masked numbers only, and the reveal button only on the
    // request that asked for a callback.
    let (wang, csrf) = sign_in(&f, "wang").await;
    let list = f
        .form("GET", "/admin/requests?hall=xianfeng", Some(&wang), None)
        .await;
    assert!(list.body.contains("138****5678") && list.body.contains("139****1111"));
    assert!(!list.body.contains("13812345678") && !list.body.contains("13900001111"));
    assert_eq!(
        list.body.matches("/reveal").count(),
        1,
        "one consented callback"
    );

    // A central admin reveals it with one click: the number, and an audit row.
    let r = f
        .form(
            "POST",
            &format!("/admin/requests/{R1}/reveal"),
            Some(&wang),
            Some(&format!("csrf={csrf}&hall=xianfeng")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("tel:13812345678"), "{}", r.body);
    assert_eq!(audited(&f).await, 1);
    let audit = f.form("GET", "/admin/audit", Some(&wang), None).await;
    assert!(audit.body.contains("reveal_phone") && audit.body.contains(R1));
    assert!(audit.body.contains("wang"));
    assert!(
        !audit.body.contains("13812345678"),
        "the audit log names the request, not the number"
    );

    // Refused: without the form token, no consent, a viewer, another hall's staff.
    let r = f
        .form(
            "POST",
            &format!("/admin/requests/{R1}/reveal"),
            Some(&wang),
            Some("hall=xianfeng"),
        )
        .await;
    assert!(r.status.is_client_error());
    let r = f
        .form(
            "POST",
            "/admin/requests/r2/reveal",
            Some(&wang),
            Some(&format!("csrf={csrf}&hall=xianfeng")),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no consent: {}", r.body);
    assert!(!r.body.contains("13900001111"));
    let (zhao, zcsrf) = sign_in(&f, "zhao").await;
    let viewer_list = f
        .form("GET", "/admin/requests?hall=xianfeng", Some(&zhao), None)
        .await;
    assert!(
        !viewer_list.body.contains("/reveal"),
        "viewers get no button"
    );
    let r = f
        .form(
            "POST",
            &format!("/admin/requests/{R1}/reveal"),
            Some(&zhao),
            Some(&format!("csrf={zcsrf}&hall=xianfeng")),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let (li, lcsrf) = sign_in(&f, "li").await;
    let r = f
        .form(
            "POST",
            &format!("/admin/requests/{R1}/reveal"),
            Some(&li),
            Some(&format!("csrf={lcsrf}&hall=xianfeng")),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        audited(&f).await,
        1,
        "refusals reveal nothing and record no reveal"
    );

    // Exports never carry the whole number.
    let csv = f
        .form(
            "GET",
            "/admin/requests.csv?hall=xianfeng",
            Some(&wang),
            None,
        )
        .await;
    assert!(csv.body.contains("138****5678"));
    assert!(!csv.body.contains("13812345678"));
}

/// Seed one closed shift of volunteer `hash` in xianfeng, from `from_ms`
/// to `to_ms`, as the projection holds a kiosk's shift events.
async fn seed_shift(f: &Fixture, hash: &str, shift: &str, from_ms: i64, to_ms: i64) {
    let date = chrono::DateTime::from_timestamp_millis(from_ms)
        .expect("time")
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let mut seed = String::new();
    for (action, at) in [("sign_in", from_ms), ("sign_out", to_ms)] {
        seed.push_str(&format!(
            "INSERT INTO shift_events (record_id, doc_id, hall_id, kiosk_id, date, shift_id, action, phone_hash, sealed,
                 activity_id, kiosk_at_ms, received_ms)
             VALUES ('{shift}-{action}', 'd', 'xianfeng', 'xianfeng-k1', '{date}', '{shift}', '{action}', '{hash}', NULL, NULL, {at}, {at});\n"
        ));
    }
    f.sql_execute(&seed).await.expect("seed");
}

async fn points_rules_are_set_by_central_admins_and_never_reach_back(store: Store) {
    use chrono::TimeZone as _;
    let f = fixture_on(store).await;
    let shanghai = chrono_tz::Asia::Shanghai;
    let at = |d: u32, h: u32| {
        shanghai
            .with_ymd_and_hms(2026, 10, d, h, 0, 0)
            .single()
            .expect("a time")
            .timestamp_millis()
    };
    // Two hours in October under the default rule: 4 points.
    seed_shift(&f, "h1", "old", at(5, 9), at(5, 11)).await;
    let (wang, csrf) = sign_in(&f, "wang").await;
    let r = f
        .form("GET", "/admin/volunteers?hall=xianfeng", Some(&wang), None)
        .await;
    assert!(
        r.body.contains("id=\"rules-form\""),
        "central admins set rules"
    );
    assert!(
        r.body.contains("<strong>2</strong>"),
        "the default: 2 an hour"
    );

    // Refused, with a plain reason and nothing changed: absurd figures,
    // words, hall staff and viewers.
    for (form, why) in [
        (
            "per_hour=0&monthly_cap=&offline_share=200",
            "每小时积分（含按活动类型）1–60",
        ),
        (
            "per_hour=61&monthly_cap=&offline_share=200",
            "每小时积分（含按活动类型）1–60",
        ),
        (
            "per_hour=2&monthly_cap=100001&offline_share=200",
            "每月上限 0–100000",
        ),
        (
            "per_hour=2&monthly_cap=&offline_share=0",
            "每台终端持有上限 1–100000",
        ),
        (
            "per_hour=two&monthly_cap=&offline_share=200",
            "积分规则应为整数",
        ),
        (
            "per_hour=-1&monthly_cap=&offline_share=200",
            "积分规则应为整数",
        ),
        (
            "per_hour=2&offline_share=200&kind_lecture=0",
            "每小时积分（含按活动类型）1–60",
        ),
        (
            "per_hour=2&offline_share=200&kind_lecture=x",
            "积分规则应为整数",
        ),
        (
            "per_hour=2&offline_share=200&kind_patrolling=3",
            "积分规则应为整数",
        ),
    ] {
        let r = f
            .form(
                "POST",
                "/admin/volunteers/rules",
                Some(&wang),
                Some(&format!("csrf={csrf}&hall=xianfeng&{form}")),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{form}");
        assert!(r.body.contains(why), "{form}: {}", r.body);
    }
    for user in ["li", "zhao"] {
        let (cookie, token) = sign_in(&f, user).await;
        let r = f
            .form(
                "POST",
                "/admin/volunteers/rules",
                Some(&cookie),
                Some(&format!(
                    "csrf={token}&hall=xianfeng&per_hour=9&monthly_cap=&offline_share=9"
                )),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{user}");
    }
    let rules = || async {
        linli_sync_engine::credit::rules_of(&f.state.core, "xianfeng")
            .await
            .expect("rules")
    };
    assert!(rules().await.versions().is_empty(), "nothing was set");

    // Set: 5 an hour, 8 serving a clinic, at most 6 a month, 50 per
    // kiosk; audited.
    let before = linli_sync_engine::clock::now_ms();
    let set = "per_hour=5&monthly_cap=6&offline_share=50&kind_health_clinic=8&kind_lecture=";
    for _ in 0..2 {
        let r = f
            .form(
                "POST",
                "/admin/volunteers/rules",
                Some(&wang),
                Some(&format!("csrf={csrf}&hall=xianfeng&{set}")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
    }
    let now = rules().await;
    assert_eq!(
        now.versions().len(),
        1,
        "the same rule twice is one version"
    );
    let rule = now.current();
    assert!(rule.from_ms >= before);
    assert_eq!(
        (rule.per_hour, rule.monthly_cap, rule.offline_share),
        (5, 6, 50)
    );
    assert_eq!(
        rule.by_kind_text(),
        "health_clinic:8",
        "a blank kind is none"
    );
    let audited = f
        .sql_strings(
            "SELECT target || ': ' || before || ' -> ' || after FROM audit_log WHERE action = 'points_rules'",
        )
        .await
        .expect("audit");
    assert_eq!(
        audited,
        [
            "xianfeng: per_hour=2 monthly_cap=none offline_share=200 iou_cap=0 -> per_hour=5 monthly_cap=6 offline_share=50 iou_cap=0 by_kind=health_clinic:8"
        ]
    );

    // October's shift keeps its 4 points; a shift begun after the rule
    // earns 5 an hour, capped at 6 in its month.
    let start = rule.from_ms + 60_000;
    seed_shift(&f, "h1", "new", start, start + 2 * 3_600_000).await;
    let credited = linli_sync_engine::credit::credited_shifts(&f.state.core, "xianfeng")
        .await
        .expect("credited");
    let by_shift: Vec<(&str, u64)> = credited
        .iter()
        .map(|(s, p)| (s.shift_id.as_str(), *p))
        .collect();
    assert_eq!(by_shift, [("old", 4), ("new", 6)]);
    let r = f
        .form(
            "GET",
            "/admin/volunteers?hall=xianfeng&month=2026-10",
            Some(&wang),
            None,
        )
        .await;
    assert!(
        r.body.contains("<td>1</td><td>2.0</td><td>4</td>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("<strong>5</strong>") && r.body.contains("<strong>6</strong>"));
    assert!(
        r.body
            .contains("<strong id=\"rule-by-kind\">义诊 8</strong>"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("name=\"kind_health_clinic\" size=\"3\" value=\"8\"")
    );
    assert!(r.body.contains("id=\"rule-versions\""));
    // Hall staff see the rules but get no form.
    let (li, _) = sign_in(&f, "li").await;
    let r = f
        .form("GET", "/admin/volunteers?hall=zhongfu", Some(&li), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains("id=\"rules-form\"") && r.body.contains("积分规则由街道"));
}

linli_test_kit::on_both_stores! {
    pages_need_a_session_and_wrong_passwords_are_limited,
    every_sign_in_costs_one_password_verification_known_name_or_not,
    changing_a_password_signs_the_admin_out_everywhere_else,
    wrong_current_passwords_count_against_the_sign_in_limit,
    central_admin_sees_every_hall_and_markup_is_escaped,
    csv_export_has_a_bom_chinese_headers_and_the_filtered_rows,
    every_response_carries_the_security_headers,
    console_pages_run_no_inline_script,
    forms_need_the_csrf_token_and_roles_and_halls_are_enforced,
    calendar_edits_reach_the_calendar_document_and_are_audited,
    the_mobile_page_takes_ten_requests_an_hour_from_one_address,
    the_console_switches_between_chinese_and_english,
    exports_never_hand_a_spreadsheet_a_formula,
    overdue_requests_are_flagged_and_filtered_by_age,
    volunteer_hours_points_and_the_points_catalogue,
    points_rules_are_set_by_central_admins_and_never_reach_back,
    the_resident_mobile_page_lands_in_the_requests_list,
    staff_reveal_a_consented_callback_number_and_every_reveal_is_audited,
}

/// How many times staff revealed a number, by the audit log.
async fn audited(f: &Fixture) -> i64 {
    f.sql_strings("SELECT CAST(count(*) AS TEXT) FROM audit_log WHERE action = 'reveal_phone'")
        .await
        .expect("audit")[0]
        .parse()
        .expect("a count")
}
