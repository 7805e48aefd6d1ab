//! A server without sockets, seated with the halls and the admins of every
//! role that tests name ([`Fixture`]): its engine core in a temp dir, the
//! web side's [`AppState`], and requests through the real router with
//! `oneshot` ([`Fixture::json`] for the API, [`Fixture::form`] for the
//! console). [`add_admin`] seats one more admin the same way, on any core.

use std::sync::Arc;

use axum::{
    body::Body,
    http::{HeaderMap, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use linli_core::sqlite::Durability;
use linli_sync_engine::{ServerCore, accounts, provision};
use linli_web::{api::router, console::session, state::AppState};
use tempfile::TempDir;
use tower::ServiceExt;

/// Every fixture admin's console password.
pub const PASSWORD: &str = "good password";

/// The fixture's halls: (id, name).
pub const HALLS: [(&str, &str); 2] = [("xianfeng", "先锋社区"), ("zhongfu", "中福社区")];

/// The fixture's admins, one of each role: (user, role, the hall granted).
pub const ADMINS: [(&str, &str, Option<&str>); 3] = [
    ("wang", "central", None),
    ("li", "hall_staff", Some("zhongfu")),
    ("zhao", "viewer", Some("xianfeng")),
];

/// Seat admin `user` with `role` on `core`: console password
/// [`PASSWORD`], `hall` granted if given; returns a fresh API token.
pub async fn add_admin(
    core: &Arc<ServerCore>,
    user: &str,
    role: &str,
    hall: Option<&str>,
) -> linli_sync_engine::Result<String> {
    provision::add_admin(core, user, role).await?;
    let hash = accounts::hash_password_async(PASSWORD.into()).await?;
    let u = user.to_string();
    core.tables.set_admin_password(&u, &hash).await?;
    if let Some(h) = hall {
        let (u, h) = (user.to_string(), h.to_string());
        core.tables.grant_hall(&u, &h).await?;
    }
    provision::admin_token(core, user).await
}

/// A response as a test reads it.
pub struct Response {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body as text.
    pub body: String,
}

/// A server core and its router, seated with [`HALLS`] and [`ADMINS`].
pub struct Fixture {
    /// What the router's handlers reach.
    pub state: AppState,
    tokens: Vec<(String, String)>,
    database_url: Option<String>,
    _dir: TempDir,
    _postgres: Option<Arc<crate::postgres::TestPostgres>>,
}

impl Fixture {
    /// Open a fresh server core (no projector, no sockets) and seat the
    /// halls and admins.
    pub async fn open() -> anyhow::Result<Self> {
        Self::open_on(crate::Store::Sqlite).await
    }

    /// [`Fixture::open`] on `store`.
    pub async fn open_on(store: crate::Store) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let (postgres, url) = store.start_database().await?;
        let options = linli_core::sqlite::DbOptions {
            durability: Durability::Normal,
            max_page_count: None,
        };
        let (core, _) =
            linli_sync_server::open_core(dir.path(), url.as_deref(), options, false).await?;
        for (id, name) in HALLS {
            provision::add_hall(&core, id, name, "Asia/Shanghai").await?;
        }
        let mut tokens = Vec::new();
        for (user, role, hall) in ADMINS {
            tokens.push((user.to_string(), add_admin(&core, user, role, hall).await?));
        }
        Ok(Self {
            state: AppState::new(core),
            tokens,
            database_url: url,
            _dir: dir,
            _postgres: postgres,
        })
    }

    /// The server's core.
    pub fn core(&self) -> &Arc<ServerCore> {
        &self.state.core
    }

    /// [`crate::sql::strings`] on this fixture's store.
    pub async fn sql_strings(&self, sql: &str) -> anyhow::Result<Vec<String>> {
        crate::sql::strings(self.core(), self.database_url.as_deref(), sql).await
    }

    /// [`crate::sql::execute`] on this fixture's store.
    pub async fn sql_execute(&self, sql: &str) -> anyhow::Result<()> {
        crate::sql::execute(self.core(), self.database_url.as_deref(), sql).await
    }

    /// The API token of fixture admin `user`.
    pub fn token(&self, user: &str) -> &str {
        self.tokens
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, t)| t.as_str())
            .expect("a fixture admin")
    }

    /// Any request through the router.
    pub async fn request(&self, req: Request<Body>) -> Response {
        let resp = router(self.state.clone())
            .oneshot(req)
            .await
            .expect("the router always answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("a body").to_bytes();
        Response {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// A JSON API request, with a bearer `token` and a JSON `body` if
    /// given; the status and the JSON answer (`Null` if not JSON).
    pub async fn json(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, serde_json::Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Body::from(body.unwrap_or("").to_string()))
            .expect("a request");
        let resp = self.request(req).await;
        (
            resp.status,
            serde_json::from_str(&resp.body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// A console request, with the session `cookie` value and a
    /// url-encoded `form` if given.
    pub async fn form(
        &self,
        method: &str,
        uri: &str,
        cookie: Option<&str>,
        form: Option<&str>,
    ) -> Response {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, format!("{}={c}", session::COOKIE));
        }
        if form.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let req = req
            .body(Body::from(form.unwrap_or("").to_string()))
            .expect("a request");
        self.request(req).await
    }
}
