//! The authorization matrix: every route of the JSON API and the console,
//! and every document kind over `/sync`, against each kind of caller, with
//! the answer each one must get — over real HTTP to a real server.
//!
//! Callers (`WHO`): nobody; a kiosk of another hall; a revoked kiosk of the
//! victim hall; a viewer, a hall staff member of another hall and a central
//! admin; hall staff of the victim hall (a positive control); and the
//! central admin with only a session cookie or only an API token. Each
//! caller sends every credential it holds on every request (a kiosk also
//! tries its token as a session cookie and as the form's CSRF token; an
//! admin sends both the API token and the session cookie, and forms carry
//! that session's own CSRF token, so a refusal is about authorization,
//! never about CSRF). The victim is hall `xianfeng`; the other hall is
//! `tuanjiexiang`.
//!
//! Cells: a status (`401`, `403`, `404`, `201`, `204`, `101`), `login` (303
//! to the sign-in page), `out` (303 to the sign-in page clearing the
//! session), `303` (any other redirect: the action was done), `200`, and
//! `200+` / `200-`: 200 whose body does / does not show the victim's row
//! (`marker`; XLSX bodies are read cell by cell). Refusals are sent first;
//! the victim's state must be unchanged after them.
//!
//! The table must name every route the router's source registers (read at
//! compile time): a route added without a row fails the test.
//!
//! Documents (`DOC_WHO` × the hall calendar, the hall directory, a kiosk's
//! day ledger, its request book and the web request book): nobody; the
//! other hall's kiosk; the same kiosk claiming the victim kiosk's peer id
//! while that kiosk is offline (`o-spoof`) and, while it is online, in one
//! burst of frames sent before the server can refuse the claim
//! (`o-burst`); the revoked kiosk; viewer, other hall's staff and central
//! admin with their session cookie and API token; and another kiosk of the
//! victim hall (`s-kiosk`, the control). A cell is `R`/`-` whether the
//! caller could read the document over sync and `W`/`-` whether a change
//! it made reached the server's copy, or the status `/sync` answered.

use std::{collections::BTreeSet, str::FromStr, sync::Arc, time::Duration};

use anyhow::{Context, bail, ensure};
use automerge::{ReadDoc, transaction::Transactable};
use linli_core::{
    docs::{self, requests},
    model::{Activity, RequestCategory, ShiftAction},
    node::{NewCheckIn, ResidentInput},
    phone::PhoneNumber,
    protocol,
    sqlite::DbOptions,
    storage::SqliteStorage,
};
use linli_sync_engine::{ServerCore, provision};
use linli_test_kit::{RawPeer, Store, TestKiosk, TestServer, eventually};
use linli_web::console::session;
use samod::{AutomergeUrl, DocumentId};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

const API_SRC: &str = include_str!("../../sync-server/web/src/api/mod.rs");
const CONSOLE_SRC: &str = include_str!("../../sync-server/web/src/console/mod.rs");

const WAIT: Duration = Duration::from_secs(20);
const VICTIM: &str = "xianfeng";
const OTHER: &str = "tuanjiexiang";
use linli_test_kit::fixture::{PASSWORD, add_admin};
const TITLE: &str = "先锋书法课堂";

/// The callers of the route matrix, in column order.
const WHO: [&str; 9] = [
    "none", "o-kiosk", "r-kiosk", "viewer", "o-staff", "central", "x-staff", "c-cookie", "c-token",
];

#[derive(Clone, Copy, PartialEq)]
enum Via {
    Get,
    Post,
    /// `GET /sync` as a WebSocket handshake, token in `Authorization`.
    Ws,
    /// The same with the token in `?token=`.
    WsQuery,
}

#[derive(Clone, Copy)]
enum Body {
    Empty,
    /// URL-encoded fields; the caller's CSRF token is added.
    Form(&'static str),
    Json(&'static str),
    /// The sign-in form with the caller's own user name and secret.
    SignIn,
}

struct Route {
    via: Via,
    /// The route as the router registers it.
    registered: &'static str,
    /// What is sent; `{…}` are filled from the fixture.
    path: &'static str,
    body: Body,
    /// Text that shows the victim's data, for `200+` / `200-`.
    marker: Option<&'static str>,
    expect: [&'static str; 9],
}

const fn r(
    via: Via,
    registered: &'static str,
    path: &'static str,
    body: Body,
    marker: Option<&'static str>,
    expect: [&'static str; 9],
) -> Route {
    Route {
        via,
        registered,
        path,
        body,
        marker,
        expect,
    }
}

use Body::{Empty, Form, Json, SignIn};
use Via::{Get, Post, Ws, WsQuery};

const L: &str = "login";
const REPLY: &str = r#"{"status":"in_progress","reply":"authz"}"#;

#[rustfmt::skip]
const ROUTES: &[Route] = &[
    // via      registered route                            request sent                                        body                                                          marker              none  o-kiosk r-kiosk viewer  o-staff central x-staff c-cookie c-token
    r(Get,     "/healthz",                                  "/healthz",                                         Empty,                                                        None,               ["200", "200", "200", "200", "200", "200", "200", "200", "200"]),
    r(Get,     "/readyz",                                   "/readyz",                                          Empty,                                                        None,               ["200", "200", "200", "200", "200", "200", "200", "200", "200"]),
    r(Get,     "/api/v1/openapi.json",                      "/api/v1/openapi.json",                             Empty,                                                        Some("openapi"),    ["200+","200+","200+","200+","200+","200+","200+","200+","200+"]),
    r(Get,     "/metrics",                                  "/metrics",                                         Empty,                                                        Some("linli_build_info"),["401", "401", "401", "200+","200+","200+","200+","401", "200+"]),
    r(Ws,      "/sync",                                     "/sync",                                            Empty,                                                        None,               ["401", "101", "401", "401", "401", "401", "401", "401", "401"]),
    r(WsQuery, "/sync",                                     "/sync?token=…",                                    Empty,                                                        None,               ["401", "101", "401", "401", "401", "401", "401", "401", "401"]),
    // Instances' relays only, with the cluster's secret: 404 on SQLite (a server alone); 401 for every caller on PostgreSQL (see `expected`).
    r(Get,     "/internal/v1/halls/{hall}/peer",            "/internal/v1/halls/xianfeng/peer",                 Empty,                                                        None,               ["404", "404", "404", "404", "404", "404", "404", "404", "404"]),
    r(Get,     "/api/v1/halls",                             "/api/v1/halls",                                    Empty,                                                        Some("xianfeng"),   ["401", "401", "401", "200+","200-","200+","200+","401", "200+"]),
    r(Get,     "/api/v1/halls/{hall}/checkins",             "/api/v1/halls/xianfeng/checkins",                  Empty,                                                        Some("{masked}"),   ["401", "401", "401", "200+","403", "200+","200+","401", "200+"]),
    r(Get,     "/api/v1/halls/{hall}/requests",             "/api/v1/halls/xianfeng/requests",                  Empty,                                                        Some("{req}"),      ["401", "401", "401", "200+","403", "200+","200+","401", "200+"]),
    r(Post,    "/api/v1/halls/{hall}/requests/{id}/reply",  "/api/v1/halls/xianfeng/requests/{req}/reply",      Json(REPLY),                                                  None,               ["401", "401", "401", "403", "403", "204", "204", "401", "204"]),
    r(Post,    "/api/v1/halls/{hall}/requests/{id}/reply",  "/api/v1/halls/tuanjiexiang/requests/{req}/reply",  Json(REPLY),                                                  None,               ["401", "401", "401", "403", "404", "404", "403", "401", "404"]),
    r(Get,     "/api/v1/halls/{hall}/services",             "/api/v1/halls/xianfeng/services",                  Empty,                                                        Some("medical_insurance"),["401", "401", "401", "200+","403", "200+","200+","401", "200+"]),
    r(Get,     "/api/v1/halls/{hall}/quarantine",           "/api/v1/halls/xianfeng/quarantine",                Empty,                                                        Some("authz-probe"),["401", "401", "401", "200+","403", "200+","200+","401", "200+"]),
    r(Post,    "/api/v1/halls/{hall}/kiosks",               "/api/v1/halls/xianfeng/kiosks",                    Json(r#"{"name":"authz"}"#),                                  None,               ["401", "401", "401", "403", "403", "201", "201", "401", "201"]),
    r(Get,     "/api/v1/kiosks",                            "/api/v1/kiosks",                                   Empty,                                                        Some("{kiosk}"),    ["401", "401", "401", "200+","200-","200+","200+","401", "200+"]),
    r(Post,    "/api/v1/kiosks/{id}/revoke",                "/api/v1/kiosks/{target}/revoke",                   Empty,                                                        None,               ["401", "401", "401", "403", "403", "204", "204", "401", "204"]),
    r(Get,     "/api/v1/kiosk/config",                      "/api/v1/kiosk/config",                             Empty,                                                        Some("xianfeng"),   ["401", "200-","401", "401", "401", "401", "401", "401", "401"]),
    r(Get,     "/admin/login",                              "/admin/login",                                     Empty,                                                        None,               ["200", "200", "200", "200", "200", "200", "200", "200", "200"]),
    r(Post,    "/admin/login",                              "/admin/login",                                     SignIn,                                                       None,               ["401", "401", "401", "303", "303", "303", "303", "401", "401"]),
    r(Post,    "/admin/logout",                             "/admin/logout",                                    Form(""),                                                     None,               [L,     L,     L,     "out", "out", "out", "out", "out", L    ]),
    r(Get,     "/admin/password",                           "/admin/password",                                  Empty,                                                        None,               [L,     L,     L,     "200", "200", "200", "200", "200", L    ]),
    r(Post,    "/admin/password",                           "/admin/password",                                  Form("current=wrong+password&new=authz+password&repeat=authz+password"), None,    [L,     L,     L,     "401", "401", "401", "401", "401", L    ]),
    r(Get,     "/admin/lang/{code}",                        "/admin/lang/en",                                   Empty,                                                        None,               ["303", "303", "303", "303", "303", "303", "303", "303", "303"]),
    r(Get,     "/admin",                                    "/admin",                                           Empty,                                                        Some("xianfeng"),   [L,     L,     L,     "200+","200-","200+","200+","200+",L    ]),
    r(Get,     "/admin/kiosks",                             "/admin/kiosks",                                    Empty,                                                        Some("{kiosk}"),    [L,     L,     L,     "200+","200-","200+","200+","200+",L    ]),
    r(Post,    "/admin/kiosks",                             "/admin/kiosks",                                    Form("hall=xianfeng&name=authz"),                             None,               [L,     L,     L,     "403", "403", "200", "200", "200", L    ]),
    r(Post,    "/admin/kiosks/{id}/revoke",                 "/admin/kiosks/{target}/revoke",                    Form(""),                                                     None,               [L,     L,     L,     "403", "403", "303", "303", "303", L    ]),
    r(Get,     "/admin/requests",                           "/admin/requests?hall=xianfeng",                    Empty,                                                        Some("{ref}"),      [L,     L,     L,     "200+","403", "200+","200+","200+",L    ]),
    r(Get,     "/admin/requests",                           "/admin/requests",                                  Empty,                                                        Some("{ref}"),      [L,     L,     L,     "200+","200-","200+","200+","200+",L    ]),
    r(Get,     "/admin/requests.csv",                       "/admin/requests.csv?hall=xianfeng",                Empty,                                                        Some("{ref}"),      [L,     L,     L,     "200+","403", "200+","200+","200+",L    ]),
    r(Get,     "/admin/requests.csv",                       "/admin/requests.csv",                              Empty,                                                        Some("{ref}"),      [L,     L,     L,     "200+","200-","200+","200+","200+",L    ]),
    r(Post,    "/admin/requests/{id}",                      "/admin/requests/{req}",                            Form("hall=xianfeng&status=in_progress&reply=authz"),         None,               [L,     L,     L,     "403", "403", "303", "303", "303", L    ]),
    r(Post,    "/admin/requests/{id}",                      "/admin/requests/{req}",                            Form("hall=tuanjiexiang&status=resolved&reply=authz"),        None,               [L,     L,     L,     "403", "404", "404", "403", "404", L    ]),
    r(Post,    "/admin/requests/{id}/reveal",               "/admin/requests/{req}/reveal",                     Form("hall=xianfeng"),                                        None,               [L,     L,     L,     "403", "403", "200", "200", "200", L    ]),
    r(Post,    "/admin/requests/{id}/reveal",               "/admin/requests/{req}/reveal",                     Form("hall=tuanjiexiang"),                                    None,               [L,     L,     L,     "403", "404", "404", "403", "404", L    ]),
    r(Get,     "/admin/audit",                              "/admin/audit",                                     Empty,                                                        None,               [L,     L,     L,     "403", "403", "200", "403", "200", L    ]),
    r(Get,     "/admin/audit.csv",                          "/admin/audit.csv",                                 Empty,                                                        None,               [L,     L,     L,     "403", "403", "200", "403", "200", L    ]),
    r(Get,     "/admin/residents",                          "/admin/residents",                                 Empty,                                                        None,               [L,     L,     L,     "403", "403", "200", "403", "200", L    ]),
    r(Post,    "/admin/residents/erase",                    "/admin/residents/erase",                           Form("phone=13900000000"),                                    None,               [L,     L,     L,     "403", "403", "200", "403", "200", L    ]),
    r(Post,    "/admin/residents/erase",                    "/admin/residents/erase",                           Form("phone=13900000000&confirm=yes"),                        None,               [L,     L,     L,     "403", "403", "200", "403", "200", L    ]),
    r(Get,     "/m/request",                                "/m/request?hall=xianfeng",                         Empty,                                                        None,               ["200", "200", "200", "200", "200", "200", "200", "200", "200"]),
    r(Post,    "/m/request",                                "/m/request",                                       Form("hall=xianfeng&category=repair&text=authz"),             None,               ["200", "200", "200", "200", "200", "200", "200", "200", "200"]),
    r(Get,     "/admin/stats",                              "/admin/stats?hall=xianfeng",                       Empty,                                                        None,               [L,     L,     L,     "200", "403", "200", "200", "200", L    ]),
    r(Get,     "/admin/stats",                              "/admin/stats",                                     Empty,                                                        Some("xianfeng"),   [L,     L,     L,     "200+","200-","200+","200+","200+",L    ]),
    r(Get,     "/admin/volunteers",                         "/admin/volunteers?hall=xianfeng",                  Empty,                                                        Some("{vmasked}"),  [L,     L,     L,     "200+","403", "200+","200+","200+",L    ]),
    r(Get,     "/admin/volunteers",                         "/admin/volunteers",                                Empty,                                                        Some("{vmasked}"),  [L,     L,     L,     "200+","200-","200", "200+","200", L    ]),
    r(Post,    "/admin/volunteers/catalogue",               "/admin/volunteers/catalogue",                      Form("hall=xianfeng&item=authz&points=5"),                    None,               [L,     L,     L,     "403", "403", "303", "303", "303", L    ]),
    r(Post,    "/admin/volunteers/rules",                   "/admin/volunteers/rules",                          Form("hall=xianfeng&per_hour=3&monthly_cap=&offline_share=50"), None,             [L,     L,     L,     "403", "403", "303", "403", "303", L    ]),
    r(Get,     "/admin/export.xlsx",                        "/admin/export.xlsx?hall=xianfeng",                 Empty,                                                        Some("{masked}"),   [L,     L,     L,     "200+","403", "200+","200+","200+",L    ]),
    r(Get,     "/admin/export.xlsx",                        "/admin/export.xlsx",                               Empty,                                                        Some("{masked}"),   [L,     L,     L,     "200+","200-","200+","200+","200+",L    ]),
    r(Get,     "/admin/redemptions.csv",                    "/admin/redemptions.csv?hall=xianfeng",             Empty,                                                        None,               [L,     L,     L,     "200", "403", "200", "200", "200", L    ]),
    r(Get,     "/admin/redemptions.csv",                    "/admin/redemptions.csv",                           Empty,                                                        None,               [L,     L,     L,     "200", "200", "200", "200", "200", L    ]),
    r(Get,     "/admin/assets/echarts.min.js",              "/admin/assets/echarts.min.js",                     Empty,                                                        None,               ["200", "200", "200", "200", "200", "200", "200", "200", "200"]),
    r(Get,     "/admin/assets/stats.js",                    "/admin/assets/stats.js",                           Empty,                                                        None,               ["200", "200", "200", "200", "200", "200", "200", "200", "200"]),
    r(Get,     "/admin/calendar",                           "/admin/calendar?hall=xianfeng&week={week}",        Empty,                                                        Some("{title}"),    [L,     L,     L,     "200+","403", "200+","200+","200+",L    ]),
    r(Get,     "/admin/calendar",                           "/admin/calendar?week={week}",                      Empty,                                                        Some("{title}"),    [L,     L,     L,     "200+","200-","200", "200+","200", L    ]),
    r(Post,    "/admin/calendar/{hall}",                    "/admin/calendar/xianfeng",                         Form("title=authz&kind=class&date=2026-12-01&start=14:30&end=16:00"), None,       [L,     L,     L,     "403", "403", "303", "303", "303", L    ]),
    r(Post,    "/admin/calendar/{hall}/{id}/cancel",        "/admin/calendar/xianfeng/{act}/cancel",            Form(""),                                                     None,               [L,     L,     L,     "403", "403", "303", "303", "303", L    ]),
    r(Post,    "/admin/calendar/{hall}/{id}/cancel",        "/admin/calendar/tuanjiexiang/{act}/cancel",        Form(""),                                                     None,               [L,     L,     L,     "403", "404", "404", "403", "404", L    ]),
    r(Get,     "/admin/services",                           "/admin/services?hall=xianfeng",                    Empty,                                                        None,               [L,     L,     L,     "200", "403", "200", "200", "200", L    ]),
    r(Post,    "/admin/services/{hall}",                    "/admin/services/xianfeng",                         Form("name=authz"),                                           None,               [L,     L,     L,     "403", "403", "303", "303", "303", L    ]),
    r(Post,    "/admin/services/{hall}/{id}/retire",        "/admin/services/xianfeng/affairs/retire",          Form(""),                                                     None,               [L,     L,     L,     "403", "403", "303", "303", "303", L    ]),
    r(Post,    "/admin/services/{hall}/{id}/retire",        "/admin/services/tuanjiexiang/no-such-service/retire", Form(""),                                                  None,               [L,     L,     L,     "403", "404", "404", "403", "404", L    ]),
];

/// The callers of the document matrix, in column order.
const DOC_WHO: [&str; 9] = [
    "none", "o-kiosk", "o-spoof", "o-burst", "r-kiosk", "viewer", "o-staff", "central", "s-kiosk",
];

#[rustfmt::skip]
const DOCS: &[(&str, [&str; 9])] = &[
    // document        none   o-kiosk o-spoof o-burst r-kiosk viewer o-staff central s-kiosk
    ("calendar",       ["401", "--",  "--",   "--",   "401",  "401", "401",  "401",  "R-"]),
    ("directory",      ["401", "--",  "--",   "--",   "401",  "401", "401",  "401",  "RW"]),
    ("ledger",         ["401", "--",  "--",   "--",   "401",  "401", "401",  "401",  "R-"]),
    ("requests",       ["401", "--",  "--",   "--",   "401",  "401", "401",  "401",  "R-"]),
    ("requests (web)", ["401", "--",  "--",   "--",   "401",  "401", "401",  "401",  "R-"]),
];

/// Times the burst of `o-burst` is tried.
const BURSTS: usize = 30;

/// What a caller holds.
#[derive(Clone, Default)]
struct Creds {
    name: &'static str,
    bearer: Option<String>,
    cookie: Option<String>,
    csrf: Option<String>,
    /// What it types into the sign-in form.
    sign_in: (String, String),
    /// A second session (cookie, CSRF) to sign out with.
    spare: Option<(String, String)>,
    /// A kiosk's id and token, for sync.
    kiosk: Option<(String, String)>,
}

impl Creds {
    fn kiosk(name: &'static str, id: &str, token: &str) -> Self {
        Self {
            name,
            bearer: Some(token.into()),
            cookie: Some(token.into()),
            csrf: Some(token.into()),
            sign_in: (id.into(), token.into()),
            kiosk: Some((id.into(), token.into())),
            ..Self::default()
        }
    }
}

/// Ids and markers of the victim hall's data.
struct Fixture {
    fill: Vec<(&'static str, String)>,
}

impl Fixture {
    fn fill(&self, s: &str) -> String {
        self.fill
            .iter()
            .fold(s.to_string(), |s, (k, v)| s.replace(k, v))
    }
}

/// What an answer was.
struct Seen {
    status: u16,
    location: Option<String>,
    clears_session: bool,
    text: String,
}

impl Seen {
    fn verdict(&self, marker: Option<&str>) -> String {
        match (self.status, self.location.as_deref(), marker) {
            (303, Some("/admin/login"), _) if self.clears_session => "out".into(),
            (303, Some("/admin/login"), _) => "login".into(),
            (200, _, Some(m)) if self.text.contains(m) => "200+".into(),
            (200, _, Some(_)) => "200-".into(),
            (s, _, _) => s.to_string(),
        }
    }
}

fn matches(expect: &str, got: &str) -> bool {
    expect == got || (expect == "200" && got.starts_with("200"))
}

fn is_refusal(expect: &str) -> bool {
    !(expect.starts_with('2') || expect.starts_with('1') || expect == "303" || expect == "out")
}

/// Every (method, route) the router registers, read from its source.
fn registered_routes() -> anyhow::Result<BTreeSet<(String, String)>> {
    linli_test_kit::routes::registered(&[("api/mod.rs", API_SRC), ("console/mod.rs", CONSOLE_SRC)])
}

/// Sign in over HTTP; returns (session cookie value, its CSRF token).
async fn sign_in(
    http: &reqwest::Client,
    server: &TestServer,
    user: &str,
) -> anyhow::Result<(String, String)> {
    let resp = http
        .post(server.url.join("admin/login")?)
        .form(&[("user", user), ("password", PASSWORD)])
        .send()
        .await?;
    ensure!(resp.status() == 303, "signing in {user}: {}", resp.status());
    let set = resp.headers()["set-cookie"].to_str()?;
    let cookie = set
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .context("session cookie")?;
    let page = http
        .get(server.url.join("admin/kiosks")?)
        .header("cookie", format!("{}={cookie}", session::COOKIE))
        .send()
        .await?
        .text()
        .await?;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .context("csrf in the page")?
        .to_string();
    Ok((cookie, csrf))
}

async fn admin_creds(
    http: &reqwest::Client,
    server: &TestServer,
    name: &'static str,
    user: &str,
    token: &str,
) -> anyhow::Result<Creds> {
    let (cookie, csrf) = sign_in(http, server, user).await?;
    Ok(Creds {
        name,
        bearer: Some(token.into()),
        cookie: Some(cookie),
        csrf: Some(csrf),
        sign_in: (user.into(), PASSWORD.into()),
        spare: Some(sign_in(http, server, user).await?),
        kiosk: None,
    })
}

fn xlsx_text(bytes: &[u8]) -> anyhow::Result<String> {
    use calamine::Reader as _;
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec()))?;
    let mut text = String::new();
    for name in wb.sheet_names() {
        let range = wb.worksheet_range(&name)?;
        for row in range.rows() {
            for cell in row {
                text.push_str(&cell.to_string());
                text.push('\t');
            }
            text.push('\n');
        }
    }
    Ok(text)
}

async fn ws_status(server: &TestServer, p: &Creds, query: bool) -> anyhow::Result<u16> {
    let mut url = protocol::sync_url(&server.url)?;
    let token = p.bearer.clone().or_else(|| p.cookie.clone());
    if let (true, Some(t)) = (query, &token) {
        url.set_query(Some(&format!("token={t}")));
    }
    let mut req = url.as_str().into_client_request()?;
    if let (false, Some(b)) = (query, &p.bearer) {
        req.headers_mut()
            .insert("authorization", format!("Bearer {b}").parse()?);
    }
    if let Some(c) = &p.cookie {
        req.headers_mut()
            .insert("cookie", format!("{}={c}", session::COOKIE).parse()?);
    }
    Ok(match tokio_tungstenite::connect_async(req).await {
        Ok((ws, resp)) => {
            drop(ws);
            resp.status().as_u16()
        }
        Err(tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => bail!("connecting to /sync as {}: {e}", p.name),
    })
}

async fn send(
    http: &reqwest::Client,
    server: &TestServer,
    route: &Route,
    p: &Creds,
    fx: &Fixture,
) -> anyhow::Result<Seen> {
    if matches!(route.via, Ws | WsQuery) {
        return Ok(Seen {
            status: ws_status(server, p, route.via == WsQuery).await?,
            location: None,
            clears_session: false,
            text: String::new(),
        });
    }
    let url = server
        .url
        .join(fx.fill(route.path).trim_start_matches('/'))?;
    let mut req = match route.via {
        Post => http.post(url),
        _ => http.get(url),
    };
    let (cookie, csrf) = match (&p.spare, route.registered) {
        (Some((c, x)), "/admin/logout") => (Some(c.clone()), Some(x.clone())),
        _ => (p.cookie.clone(), p.csrf.clone()),
    };
    if let Some(b) = &p.bearer {
        req = req.bearer_auth(b);
    }
    if let Some(c) = &cookie {
        req = req.header("cookie", format!("{}={c}", session::COOKIE));
    }
    req = match route.body {
        Empty => req,
        Json(j) => req
            .header("content-type", "application/json")
            .body(fx.fill(j)),
        Form(f) => {
            let mut fields = fx.fill(f);
            if let Some(x) = &csrf {
                if !fields.is_empty() {
                    fields.push('&');
                }
                fields.push_str(&format!("csrf={x}"));
            }
            req.header("content-type", "application/x-www-form-urlencoded")
                .body(fields)
        }
        SignIn => req.form(&[("user", &p.sign_in.0), ("password", &p.sign_in.1)]),
    };
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(String::from);
    let clears_session = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with(&format!("{}=;", session::COOKIE)) && v.contains("Max-Age=0"));
    let xlsx = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("spreadsheetml"));
    let bytes = resp.bytes().await?;
    let text = if xlsx && status == 200 {
        xlsx_text(&bytes)?
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Ok(Seen {
        status,
        location,
        clears_session,
        text,
    })
}

/// What refusals must leave alone in the victim hall.
async fn victim_state(
    server: &TestServer,
    core: &Arc<ServerCore>,
    book: &DocumentId,
) -> anyhow::Result<String> {
    let mut tables = String::new();
    for sql in [
        "SELECT id || ':' || CAST(revoked_ms IS NULL AS TEXT) FROM kiosks WHERE hall_id = 'xianfeng' ORDER BY id",
        "SELECT record_id || ':' || status || ':' || COALESCE(reply, '') FROM requests WHERE hall_id = 'xianfeng' ORDER BY record_id",
        "SELECT record_id || ':' || assignee FROM request_assignments ORDER BY record_id",
        "SELECT hall_id || ':' || item || ':' || CAST(points AS TEXT) FROM points_catalogue ORDER BY 1",
        "SELECT hall_id || ':' || CAST(from_ms AS TEXT) || ':' || CAST(per_hour AS TEXT) FROM points_rules ORDER BY 1",
        "SELECT 'sessions:' || CAST(count(*) AS TEXT) FROM sessions",
        "SELECT 'audit:' || CAST(count(*) AS TEXT) FROM audit_log",
    ] {
        for row in server.sql_strings(sql).await? {
            tables.push_str(&row);
            tables.push('\n');
        }
    }
    let activities = provision::activities(core, VICTIM).await?;
    let handle = core
        .repos
        .find(book.clone())
        .await?
        .context("request book")?;
    let replies = handle.with_document(|d| -> anyhow::Result<Vec<String>> {
        let mut v = Vec::new();
        for id in requests::request_ids(d)? {
            v.push(format!("{id}:{:?}", requests::reply(d, &id)?));
        }
        Ok(v)
    })?;
    Ok(format!(
        "{tables}{:?}\n{replies:?}",
        activities
            .iter()
            .map(|(id, a)| format!("{id}:{}:{}", a.title, a.cancelled))
            .collect::<Vec<_>>()
    ))
}

/// A sync message carrying one change to the server's copy of `doc` that
/// sets `key`.
async fn change_message(
    core: &Arc<ServerCore>,
    doc: &DocumentId,
    key: &str,
) -> anyhow::Result<Vec<u8>> {
    let h = core.repos.find(doc.clone()).await?.context("server copy")?;
    let mut d = automerge::Automerge::load(&h.with_document(|d| d.save()))?;
    let mut tx = d.transaction();
    tx.put(automerge::ROOT, key, "written")?;
    tx.commit();
    let change = d.get_last_local_change().context("the change")?;
    Ok(automerge::sync::Message {
        heads: d.get_heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![change.raw_bytes().to_vec()].into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    }
    .encode())
}

/// Connect with `token`, then in one burst claim `peer` and send a change
/// to every document, before the server can bind (and refuse) the claimed
/// peer id. Returns, per document, whether the server sent it back.
async fn burst(
    server: &TestServer,
    token: &str,
    peer: &str,
    server_peer: &str,
    changes: &[(DocumentId, Vec<u8>)],
) -> anyhow::Result<Vec<bool>> {
    use futures::{SinkExt as _, StreamExt as _};
    use tungstenite::Message;
    let mut req = protocol::sync_url(&server.url)?
        .as_str()
        .into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (ws, _) = tokio_tungstenite::connect_async(req).await?;
    let (mut tx, mut rx) = ws.split();
    tx.feed(Message::Binary(linli_tests::raw_wire::join(peer).into()))
        .await?;
    for (doc, data) in changes {
        tx.feed(Message::Binary(
            linli_tests::raw_wire::sync(doc, peer, server_peer, data).into(),
        ))
        .await?;
    }
    tx.flush().await?;
    let mut read = vec![false; changes.len()];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(m)) = rx.next().await {
            let Message::Binary(b) = m else { continue };
            if !b.windows(10).any(|w| w == b"\x64type\x64sync") {
                continue;
            }
            for (i, (doc, _)) in changes.iter().enumerate() {
                let id = doc.to_string();
                if b.windows(id.len()).any(|w| w == id.as_bytes()) {
                    read[i] = true;
                }
            }
        }
    })
    .await;
    let _ = tx.close().await;
    Ok(read)
}

fn print_table(title: &str, corner: &str, cols: &[&str], rows: &[(String, Vec<String>)]) {
    let first = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .chain([corner.chars().count()])
        .max()
        .unwrap_or(0);
    let width = rows
        .iter()
        .flat_map(|(_, c)| c.iter().map(|s| s.chars().count()))
        .chain(cols.iter().map(|c| c.chars().count()))
        .max()
        .unwrap_or(0)
        + 1;
    println!("\n{title}");
    let mut line = format!("{corner:<first$}");
    for c in cols {
        line.push_str(&format!(" {c:<width$}"));
    }
    println!("{line}");
    for (label, cells) in rows {
        let pad = first - label.chars().count();
        let mut line = format!("{label}{}", " ".repeat(pad));
        for c in cells {
            let pad = width - c.chars().count();
            line.push_str(&format!(" {c}{}", " ".repeat(pad)));
        }
        println!("{line}");
    }
}

/// What `route` must answer caller `pi` on `store`: as the table says,
/// but for the instances' peer endpoint, which exists on PostgreSQL (where
/// several instances may run) and refuses every caller's credentials there,
/// the cluster's secret being no caller's.
fn expected(route: &Route, pi: usize, store: Store) -> &'static str {
    if route.registered == "/internal/v1/halls/{hall}/peer" && store == Store::Postgres {
        "401"
    } else {
        route.expect[pi]
    }
}

linli_test_kit::on_both_stores!(every_route_and_document_answers_each_caller_as_the_matrix_says);

async fn every_route_and_document_answers_each_caller_as_the_matrix_says(
    store: Store,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();

    // The table covers exactly the routes the router registers.
    let registered = registered_routes()?;
    let covered: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| {
            let m = if r.via == Post { "POST" } else { "GET" };
            (m.to_string(), r.registered.to_string())
        })
        .collect();
    let missing: Vec<_> = registered.difference(&covered).collect();
    let stale: Vec<_> = covered.difference(&registered).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "the matrix must cover every registered route: missing {missing:?}, not registered {stale:?}"
    );

    // The victim hall: a paired kiosk with a named check-in, a request with
    // a callback number and a volunteer's shift, an activity, a quarantined
    // delivery.
    let server = TestServer::start_on(store).await?;
    let core = server.core()?;
    let now = linli_sync_engine::clock::now_ms();
    let act = provision::put_activity(
        &core,
        VICTIM,
        None,
        Activity {
            kind: "class".into(),
            title: TITLE.into(),
            room: None,
            starts_at_ms: now,
            ends_at_ms: now + 3_600_000,
            capacity: None,
            named_checkin: true,
            cancelled: false,
        },
    )
    .await?;
    let victim = TestKiosk::pair(&server, VICTIM, true).await?;
    let resident = PhoneNumber::parse("13812345678")?;
    let volunteer = PhoneNumber::parse("13612341234")?;
    victim
        .node()
        .record_checkin(NewCheckIn {
            activity_id: act.clone(),
            resident: Some(ResidentInput {
                phone: resident.clone(),
                name: Some("王秀英".into()),
            }),
            headcount: 1,
            companions: 0,
        })
        .await?;
    victim
        .node()
        .record_request(
            RequestCategory::Repair,
            "楼道灯坏了".into(),
            Some(ResidentInput {
                phone: resident.clone(),
                name: None,
            }),
            true,
        )
        .await?;
    let shift = victim
        .node()
        .record_shift(
            ResidentInput {
                phone: volunteer.clone(),
                name: Some("李建国".into()),
            },
            ShiftAction::SignIn,
            None,
            None,
        )
        .await?;
    victim
        .node()
        .record_shift(
            ResidentInput {
                phone: volunteer.clone(),
                name: Some("李建国".into()),
            },
            ShiftAction::SignOut,
            Some(shift.to_string()),
            None,
        )
        .await?;
    victim.node().wait_synced(WAIT).await?;
    server.api.wait_checkins(VICTIM, 1).await?;
    let listed = eventually(WAIT, "the request and the shift projected", || async {
        let v = server.api.get("api/v1/halls/xianfeng/requests").await?;
        let shifts = server
            .sql_strings("SELECT CAST(count(*) AS TEXT) FROM shift_events")
            .await?;
        Ok((v.as_array().map(Vec::len) == Some(1) && shifts == ["2"]).then_some(v))
    })
    .await?;
    let req = listed[0]["id"].as_str().context("request id")?.to_string();
    let reference = listed[0]["reference"]
        .as_str()
        .context("reference")?
        .to_string();
    let (target, _) = server.api.add_kiosk(VICTIM, "将被吊销").await?;
    let (revoked_id, revoked_token) = server.api.add_kiosk(VICTIM, "已吊销").await?;
    let (status, _) = server
        .api
        .post(
            &format!("api/v1/kiosks/{revoked_id}/revoke"),
            &serde_json::json!({}),
        )
        .await?;
    ensure!(status == 204, "revoking: {status}");
    let (other_id, other_token) = server.api.add_kiosk(OTHER, "团结巷大厅").await?;
    let (sibling_id, sibling_token) = server.api.add_kiosk(VICTIM, "先锋二号").await?;
    server
        .sql_execute(&format!(
            "INSERT INTO quarantine (doc_id, record_key, hall_id, kiosk_id, reason, at_ms)
             VALUES ('d', 'r', 'xianfeng', '{}', 'authz-probe: rating score 9 is out of range', {now})",
            victim.id
        ))
        .await?;
    let book_id = core
        .projection
        .request_doc(VICTIM, &req)
        .await?
        .context("the request's book")?;
    let book = DocumentId::from_str(&book_id)?;
    let week = chrono::DateTime::from_timestamp_millis(now)
        .context("now")?
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d")
        .to_string();
    let fx = Fixture {
        fill: vec![
            ("{req}", req.clone()),
            ("{ref}", reference),
            ("{kiosk}", victim.id.clone()),
            ("{target}", target.clone()),
            ("{act}", act.clone()),
            ("{masked}", resident.masked()),
            ("{vmasked}", volunteer.masked()),
            ("{title}", TITLE.into()),
            ("{week}", week),
        ],
    };

    // The callers.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let central_token = add_admin(&core, "wang", "central", None).await?;
    let viewer_token = add_admin(&core, "zhao", "viewer", Some(VICTIM)).await?;
    let ostaff_token = add_admin(&core, "li", "hall_staff", Some(OTHER)).await?;
    let xstaff_token = add_admin(&core, "chen", "hall_staff", Some(VICTIM)).await?;
    let central = admin_creds(&http, &server, "central", "wang", &central_token).await?;
    let c_cookie = {
        let (cookie, csrf) = sign_in(&http, &server, "wang").await?;
        Creds {
            name: "c-cookie",
            cookie: Some(cookie.clone()),
            csrf: Some(csrf),
            sign_in: ("wang".into(), cookie),
            spare: Some(sign_in(&http, &server, "wang").await?),
            ..Creds::default()
        }
    };
    let who: [Creds; 9] = [
        Creds {
            name: "none",
            sign_in: ("nobody".into(), "not a password".into()),
            ..Creds::default()
        },
        Creds::kiosk("o-kiosk", &other_id, &other_token),
        Creds::kiosk("r-kiosk", &revoked_id, &revoked_token),
        admin_creds(&http, &server, "viewer", "zhao", &viewer_token).await?,
        admin_creds(&http, &server, "o-staff", "li", &ostaff_token).await?,
        central.clone(),
        admin_creds(&http, &server, "x-staff", "chen", &xstaff_token).await?,
        c_cookie,
        Creds {
            name: "c-token",
            bearer: Some(central_token.clone()),
            sign_in: ("wang".into(), central_token.clone()),
            ..Creds::default()
        },
    ];
    for (w, c) in WHO.iter().zip(&who) {
        assert_eq!(*w, c.name);
    }

    // Refusals first: afterwards the victim hall must be as it was.
    let mut got: Vec<Vec<String>> = ROUTES.iter().map(|_| vec![String::new(); 9]).collect();
    let before = victim_state(&server, &core, &book).await?;
    for refusals in [true, false] {
        for (ri, route) in ROUTES.iter().enumerate() {
            for (pi, p) in who.iter().enumerate() {
                if is_refusal(expected(route, pi, store)) != refusals {
                    continue;
                }
                let marker = route.marker.map(|m| fx.fill(m));
                let seen = send(&http, &server, route, p, &fx)
                    .await
                    .with_context(|| format!("{} {} as {}", ri, route.path, p.name))?;
                got[ri][pi] = seen.verdict(marker.as_deref());
            }
        }
        if refusals {
            let after = victim_state(&server, &core, &book).await?;
            assert_eq!(before, after, "a refused request changed the victim hall");
        }
    }

    // Documents over /sync. The victim kiosk goes offline so another hall's
    // kiosk can claim its peer id.
    let hall = {
        let h = VICTIM.to_string();
        core.tables.hall(&h).await?.context("hall")?
    };
    let today = victim.node().local_date(victim.node().now_ms());
    let ledger = victim.node().ledger_id(&today).await?.context("ledger")?;
    let month = &today[..7];
    let web_key = format!("webbook/{VICTIM}/{month}");
    let web = core
        .tables
        .meta(&web_key)
        .await?
        .context("the web request book (made by POST /m/request)")?;
    let doc_ids: Vec<DocumentId> = [
        hall.calendar_doc.as_str(),
        hall.directory_doc.as_str(),
        ledger.as_str(),
        book_id.as_str(),
        web.as_str(),
    ]
    .into_iter()
    .map(DocumentId::from_str)
    .collect::<Result<_, _>>()?;
    // Another hall's kiosk claims the (online) victim kiosk's peer id and
    // sends its changes at once, racing the server's refusal of the claim.
    let server_peer = core.peer_id.to_string();
    let burst_key = "authz_probe_o_burst";
    let mut changes = Vec::new();
    for id in &doc_ids {
        changes.push((id.clone(), change_message(&core, id, burst_key).await?));
    }
    let mut burst_read = vec![false; doc_ids.len()];
    for _ in 0..BURSTS {
        let read = burst(
            &server,
            &other_token,
            &protocol::kiosk_peer_id(&victim.id),
            &server_peer,
            &changes,
        )
        .await?;
        for (b, r) in burst_read.iter_mut().zip(read) {
            *b |= r;
        }
    }
    victim.node().go_offline();
    let victim_id = victim.id.clone();
    eventually(WAIT, "the victim kiosk to disconnect", || async {
        Ok((!core.registry.connected_kiosks().contains(&victim_id)).then_some(()))
    })
    .await?;
    let sibling = Creds::kiosk("s-kiosk", &sibling_id, &sibling_token);
    let mut spoof = who[1].clone();
    spoof.name = "o-spoof";
    let burster = Creds {
        name: "o-burst",
        ..Creds::default()
    };
    let doc_who: [(&Creds, String); 9] = [
        (&who[0], String::new()),
        (&who[1], protocol::kiosk_peer_id(&other_id)),
        (&spoof, protocol::kiosk_peer_id(&victim.id)),
        (&burster, String::new()),
        (&who[2], protocol::kiosk_peer_id(&revoked_id)),
        (&who[3], String::new()),
        (&who[4], String::new()),
        (&who[5], String::new()),
        (&sibling, protocol::kiosk_peer_id(&sibling_id)),
    ];
    let mut doc_got: Vec<Vec<String>> = DOCS.iter().map(|_| vec![String::new(); 9]).collect();
    let mut writers = Vec::new();
    let mut write_keys: Vec<(usize, String)> = Vec::new();
    for (pi, (p, peer_id)) in doc_who.iter().enumerate() {
        assert_eq!(DOC_WHO[pi], p.name);
        if p.name == "o-burst" {
            for (di, r) in burst_read.iter().enumerate() {
                doc_got[di][pi] = if *r { "R" } else { "-" }.into();
            }
            write_keys.push((pi, burst_key.to_string()));
            continue;
        }
        let status = ws_status(&server, p, false).await?;
        let Some((_, token)) = p.kiosk.as_ref().filter(|_| status == 101) else {
            for row in &mut doc_got {
                row[pi] = status.to_string();
            }
            continue;
        };
        // Read: ask the server for each document.
        let peer = RawPeer::connect(&server, token, peer_id).await?;
        let found = futures::future::join_all(doc_ids.iter().map(|id| {
            let repo = peer.repo.clone();
            let id = id.clone();
            async move {
                match tokio::time::timeout(WAIT, repo.find(id)).await {
                    Ok(Ok(Some(h))) => h.with_document(|d| docs::header(d).is_ok()),
                    _ => false,
                }
            }
        }))
        .await;
        let config = protocol::fetch_kiosk_config(&server.url, token, &Default::default()).await?;
        let own = AutomergeUrl::from_str(&config.calendar_url)?
            .document_id()
            .clone();
        let control = tokio::time::timeout(WAIT, peer.repo.find(own))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
            .is_some();
        peer.dialer.close();
        peer.repo.stop().await;
        for (di, f) in found.iter().enumerate() {
            doc_got[di][pi] = match (control, f) {
                (false, _) => "no own calendar: connection broken".into(),
                (true, true) => "R".into(),
                (true, false) => "-".into(),
            };
        }
        // Write: change a copy of each document (taken from the server)
        // and sync it.
        let dir = tempfile::tempdir()?;
        let storage =
            SqliteStorage::open(&dir.path().join("copies.sqlite3"), DbOptions::default())?;
        for id in &doc_ids {
            let h = core.repos.find(id.clone()).await?.context("server copy")?;
            let bytes = h.with_document(|d| d.save());
            samod::storage::Storage::put(
                &storage,
                samod::storage::StorageKey::from_parts([
                    id.to_string(),
                    "incremental".into(),
                    "copy".into(),
                ])?,
                bytes,
            )
            .await;
        }
        let writer = RawPeer::connect_with_storage(&server, token, peer_id, storage).await?;
        let key = format!("authz_probe_{}", p.name.replace('-', "_"));
        for id in &doc_ids {
            let h = writer.repo.find(id.clone()).await?.context("local copy")?;
            let k = key.clone();
            h.with_document(|d| -> anyhow::Result<()> {
                let mut tx = d.transaction();
                tx.put(automerge::ROOT, k.as_str(), "written")?;
                tx.commit();
                Ok(())
            })?;
        }
        write_keys.push((pi, key));
        writers.push((writer, dir));
    }
    // Give writes that should land the time to land, then look.
    let has_key = |id: DocumentId, key: String| {
        let core = core.clone();
        async move {
            let h = core.repos.find(id).await?.context("server copy")?;
            anyhow::Ok(h.with_document(|d| {
                d.get(automerge::ROOT, key.as_str())
                    .ok()
                    .flatten()
                    .is_some()
            }))
        }
    };
    let _ = eventually(WAIT, "the expected writes", || async {
        for (di, (_, expect)) in DOCS.iter().enumerate() {
            for (pi, e) in expect.iter().enumerate() {
                if e.ends_with('W') {
                    let key = format!("authz_probe_{}", DOC_WHO[pi].replace('-', "_"));
                    if !has_key(doc_ids[di].clone(), key).await? {
                        return Ok(None);
                    }
                }
            }
        }
        Ok(Some(()))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (pi, key) in &write_keys {
        for (di, id) in doc_ids.iter().enumerate() {
            let w = if has_key(id.clone(), key.clone()).await? {
                "W"
            } else {
                "-"
            };
            doc_got[di][*pi].push_str(w);
        }
    }
    for (writer, _dir) in writers {
        writer.dialer.close();
        writer.repo.stop().await;
    }

    // Show both matrices, then fail on every cell that differs.
    let mut mismatches = Vec::new();
    let mut rows = Vec::new();
    for (ri, route) in ROUTES.iter().enumerate() {
        let method = match route.via {
            Get => "GET",
            Post => "POST",
            Ws => "WS",
            WsQuery => "WS",
        };
        let label = format!("{method} {}", route.path);
        let mut cells = Vec::new();
        for pi in 0..route.expect.len() {
            let e = expected(route, pi, store);
            let g = &got[ri][pi];
            if matches(e, g) {
                cells.push(g.clone());
            } else {
                cells.push(format!("{g}≠{e}"));
                mismatches.push(format!("{label} as {}: expected {e}, got {g}", WHO[pi]));
            }
        }
        rows.push((label, cells));
    }
    print_table(
        "Routes × callers (victim hall xianfeng; ≠ marks got≠expected)",
        "route",
        &WHO,
        &rows,
    );
    let mut rows = Vec::new();
    for (di, (doc, expect)) in DOCS.iter().enumerate() {
        let mut cells = Vec::new();
        for (pi, e) in expect.iter().enumerate() {
            let g = &doc_got[di][pi];
            if e == g {
                cells.push(g.clone());
            } else {
                cells.push(format!("{g}≠{e}"));
                mismatches.push(format!(
                    "document {doc} as {}: expected {e}, got {g}",
                    DOC_WHO[pi]
                ));
            }
        }
        rows.push((doc.to_string(), cells));
    }
    print_table(
        "Documents × sync callers (R read, W write reached the server, else /sync status)",
        "document",
        &DOC_WHO,
        &rows,
    );
    let cells = ROUTES.len() * WHO.len() + DOCS.len() * DOC_WHO.len();
    println!(
        "\n{cells} cells ({} routes, {} documents) in {:.1} s",
        ROUTES.len() * WHO.len(),
        DOCS.len() * DOC_WHO.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        mismatches.is_empty(),
        "{} cells differ from the matrix:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    Ok(())
}
