//! The HTTP surface: `/healthz` (liveness), `/readyz` (readiness), the JSON API under `/api/v1` (admin API
//! tokens; the kiosk's own configuration with its kiosk token) and the
//! `/sync` WebSocket. [`router`] is a plain function so routes are tested
//! with `oneshot` and no socket. Every response carries the security
//! headers of [`headers`].

pub mod headers;
pub mod openapi;
pub mod queries;

use axum::{
    Json, Router,
    extract::{FromRequestParts, Path, Query, State},
    http::{HeaderMap, StatusCode, request::Parts},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use linli_core::model::{RequestReply, RequestStatus};
use serde::{Deserialize, Serialize};

pub use self::queries::{CheckinRow, RequestRow};
use linli_sync_engine::{
    Error, Result, auth,
    clock::now_ms,
    db::{Hall, Kiosk},
    provision,
};

use crate::{
    client::{self, ClientAddr},
    state::AppState,
    sync_ws,
};

/// The whole HTTP router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/sync", get(sync_ws::sync_handler))
        .route(
            "/internal/v1/halls/{hall}/peer",
            get(crate::peers::peer_handler),
        )
        .route("/api/v1/openapi.json", get(openapi::serve))
        .route("/api/v1/halls", get(list_halls))
        .route("/api/v1/halls/{hall}/checkins", get(list_checkins))
        .route("/api/v1/halls/{hall}/services", get(list_services))
        .route("/api/v1/halls/{hall}/requests", get(list_requests))
        .route(
            "/api/v1/halls/{hall}/requests/{id}/reply",
            post(reply_request),
        )
        .route("/api/v1/halls/{hall}/quarantine", get(list_quarantine))
        .route("/api/v1/halls/{hall}/kiosks", post(add_kiosk))
        .route("/api/v1/kiosks", get(list_kiosks))
        .route("/api/v1/kiosks/{id}/revoke", post(revoke_kiosk))
        .route("/api/v1/kiosk/config", get(kiosk_config))
        .merge(crate::console::routes())
        .layer(middleware::from_fn_with_state(state.clone(), log_request))
        .layer(middleware::from_fn(headers::secure))
        .with_state(state)
}

/// The access log: a line per request at info level with its method,
/// path, status and time taken. Never the query string (it may carry a
/// token), headers (tokens, cookies), bodies (numbers, names) or the
/// client's address; no path of Linli's holds anything personal.
async fn log_request(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    state
        .web
        .metrics
        .observe(resp.status().as_u16(), started.elapsed().as_secs_f64());
    tracing::info!(
        target: "linli::access",
        %method,
        %path,
        status = resp.status().as_u16(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "request"
    );
    resp
}

/// An admin authenticated by API token, with the halls they may see.
pub struct Admin {
    /// User name.
    pub user: String,
    /// Role.
    pub role: String,
    /// Halls visible to them (every hall for central admins).
    pub halls: Vec<String>,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let addr = ClientAddr::from_request_parts(parts, state)
            .await
            .unwrap_or(ClientAddr(None));
        let token = auth::bearer(&parts.headers).ok_or(Error::Unauthorized)?;
        let hash = auth::hash_token(token);
        let (user, role) = client::token_check(state, addr, token, async {
            state
                .core
                .tables
                .admin_by_token_hash(&hash)
                .await?
                .ok_or(Error::Unauthorized)
        })
        .await?;
        let halls = state.core.tables.admin_halls(&user, &role).await?;
        Ok(Admin { user, role, halls })
    }
}

impl Admin {
    fn require_hall(&self, hall: &str) -> Result<()> {
        // Central admins reach every hall (an unknown one is a 404 later).
        if self.role == "central" || self.halls.iter().any(|h| h == hall) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("hall {hall} is not yours")))
        }
    }

    async fn audit(&self, state: &AppState, action: &str, target: &str) -> Result<()> {
        state
            .core
            .tables
            .audit(&self.user, action, target, None, None, now_ms())
            .await
    }

    fn require_write(&self) -> Result<()> {
        if self.role == "viewer" {
            return Err(Error::Forbidden("viewers cannot change anything".into()));
        }
        Ok(())
    }
}

/// A kiosk authenticated by its token.
pub struct KioskAuth(pub Kiosk);

impl FromRequestParts<AppState> for KioskAuth {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        sync_ws::check_protocol(&parts.headers)?;
        let addr = ClientAddr::from_request_parts(parts, state)
            .await
            .unwrap_or(ClientAddr(None));
        let token = auth::bearer(&parts.headers).ok_or(Error::Unauthorized)?;
        Ok(KioskAuth(
            client::token_check(
                state,
                addr,
                token,
                provision::authenticate_kiosk(&state.core, token),
            )
            .await?,
        ))
    }
}

/// Readiness, for a load balancer or an orchestrator: 200 while this
/// instance can take kiosks and admins; 503 with the reasons while its
/// document storage fails to write, its database does not answer (within
/// 2 s), or it is shutting down. (It migrates its database before it
/// listens, so it is never up with migrations pending.) `/healthz` stays
/// liveness: the process answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready: `{\"status\":\"ready\"}`", body = Object),
        (status = 503, description = "Not ready: `{\"status\":\"unready\",\"reasons\":[…]}`", body = Object),
    ))]
async fn readyz(State(state): State<AppState>) -> Response {
    let mut reasons: Vec<String> = Vec::new();
    if state.web.draining.load(std::sync::atomic::Ordering::SeqCst) {
        reasons.push("shutting down".into());
    }
    if let Some(e) = state.core.storage.health().failing {
        reasons.push(format!("document storage is failing: {e}"));
    }
    match tokio::time::timeout(
        std::time::Duration::from_secs(2),
        state.core.tables.meta("readyz"),
    )
    .await
    {
        Err(_) => reasons.push("the database did not answer within 2 s".into()),
        Ok(Err(e)) => reasons.push(format!("the database: {e}")),
        Ok(Ok(_)) => {}
    }
    if reasons.is_empty() {
        Json(serde_json::json!({ "status": "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "unready", "reasons": reasons })),
        )
            .into_response()
    }
}

/// `GET /metrics` (an admin API token): see [`crate::metrics`].
#[utoipa::path(get, path = "/metrics", tag = "health", security(("admin_token" = [])),
    responses(
        (status = 200, description = "Prometheus/OpenMetrics text", content_type = "application/openmetrics-text", body = String),
        (status = 401, description = "No or a wrong admin token"),
    ))]
async fn metrics(State(state): State<AppState>, _admin: Admin) -> Result<Response> {
    let text = state.web.metrics.render(&state.core).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive: version, protocol, sync connections, document writes and commits", body = Object)))]
async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    // Document writes since start and the commits they took: writes that
    // arrive together share a commit (see `linli_core::storage`).
    let (writes, commits) = state.core.storage.write_counts();
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": linli_core::protocol::PROTOCOL_VERSION,
        "sync_connections": state.core.registry.connection_count(),
        "store": { "writes": writes, "commits": commits },
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct HallView {
    id: String,
    name: String,
    tz: String,
    calendar_url: String,
    directory_url: String,
}

fn hall_view(h: Hall) -> Result<HallView> {
    Ok(HallView {
        calendar_url: provision::doc_url(&h.calendar_doc)?,
        directory_url: provision::doc_url(&h.directory_doc)?,
        id: h.id,
        name: h.name,
        tz: h.tz,
    })
}

#[utoipa::path(get, path = "/api/v1/halls", tag = "halls", security(("admin_token" = [])),
    responses(
        (status = 200, description = "The halls this admin may see", body = Vec<HallView>),
        (status = 401, description = "No or a wrong admin token"),
    ))]
async fn list_halls(State(state): State<AppState>, admin: Admin) -> Result<Json<Vec<HallView>>> {
    let halls = state.core.tables.halls().await?;
    Ok(Json(
        halls
            .into_iter()
            .filter(|h| admin.halls.contains(&h.id))
            .map(hall_view)
            .collect::<Result<_>>()?,
    ))
}

async fn require_hall(state: &AppState, hall: &str) -> Result<Hall> {
    provision::require_hall(&state.core, hall).await
}

/// Query of `GET /api/v1/halls/{hall}/checkins`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckinQuery {
    /// First day, `YYYY-MM-DD` (inclusive).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (inclusive).
    pub to: Option<String>,
    /// Most rows returned (default 10,000, at most 100,000); counts cover all.
    pub limit: Option<u32>,
}

fn parse_date(field: &str, v: Option<&str>) -> Result<Option<String>> {
    v.map(|s| {
        linli_core::model::parse_day(s)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .ok_or_else(|| {
                Error::BadRequest(format!("{field} must be a date like 2026-11-23, got {s:?}"))
            })
    })
    .transpose()
}

#[derive(Serialize, utoipa::ToSchema)]
struct CheckinList {
    hall: String,
    from: Option<String>,
    to: Option<String>,
    count: u64,
    person_times: u64,
    /// Of `person_times`, walk-in visits (their own kind beside activities).
    walk_in_person_times: u64,
    returned: usize,
    checkins: Vec<CheckinRow>,
}

#[utoipa::path(get, path = "/api/v1/halls/{hall}/checkins", tag = "halls", security(("admin_token" = [])),
    params(("hall" = String, Path, description = "The hall's id"), CheckinQuery),
    responses(
        (status = 200, description = "Check-ins (masked numbers), their count and person-times", body = CheckinList),
        (status = 400, description = "A bad date or limit"),
        (status = 401, description = "No or a wrong admin token"),
        (status = 403, description = "Not this admin's hall"),
        (status = 404, description = "No such hall"),
    ))]
async fn list_checkins(
    State(state): State<AppState>,
    admin: Admin,
    Path(hall): Path<String>,
    Query(q): Query<CheckinQuery>,
) -> Result<Json<CheckinList>> {
    require_hall(&state, &hall).await?;
    admin.require_hall(&hall)?;
    let from = parse_date("from", q.from.as_deref())?;
    let to = parse_date("to", q.to.as_deref())?;
    let limit = q.limit.unwrap_or(10_000);
    if limit > 100_000 {
        return Err(Error::BadRequest("limit may be at most 100000".into()));
    }
    let (counts, stored) = state
        .core
        .projection
        .checkins(
            &hall,
            from.as_deref().unwrap_or("0000-00-00"),
            to.as_deref().unwrap_or("9999-99-99"),
            limit,
        )
        .await?;
    let checkins = queries::checkin_rows(&state.core.residents, stored);
    Ok(Json(CheckinList {
        hall,
        from,
        to,
        count: counts.count,
        person_times: counts.person_times,
        walk_in_person_times: counts.walk_in_person_times,
        returned: checkins.len(),
        checkins,
    }))
}

/// A walk-in service as `GET /api/v1/halls/{hall}/services` lists it.
#[derive(Serialize, utoipa::ToSchema)]
struct ServiceRow {
    id: String,
    name: String,
    name_en: Option<String>,
    retired: bool,
}

#[utoipa::path(get, path = "/api/v1/halls/{hall}/services", tag = "halls", security(("admin_token" = [])),
    params(("hall" = String, Path, description = "The hall's id")),
    responses(
        (status = 200, description = "The hall's walk-in services, retired ones too", body = Vec<ServiceRow>),
        (status = 401, description = "No or a wrong admin token"),
        (status = 403, description = "Not this admin's hall"),
        (status = 404, description = "No such hall"),
    ))]
/// The hall's walk-in services (retired ones too: past visits name them).
async fn list_services(
    State(state): State<AppState>,
    admin: Admin,
    Path(hall): Path<String>,
) -> Result<Json<Vec<ServiceRow>>> {
    require_hall(&state, &hall).await?;
    admin.require_hall(&hall)?;
    let services = provision::services(&state.core, &hall).await?;
    Ok(Json(
        services
            .into_iter()
            .map(|(id, s)| ServiceRow {
                id,
                name: s.name,
                name_en: s.name_en,
                retired: s.retired,
            })
            .collect(),
    ))
}

/// Query of `GET /api/v1/halls/{hall}/requests`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestQuery {
    /// Only this status.
    pub status: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/halls/{hall}/requests", tag = "requests", security(("admin_token" = [])),
    params(("hall" = String, Path, description = "The hall's id"), RequestQuery),
    responses(
        (status = 200, description = "Residents' requests and suggestions (masked numbers)", body = Vec<RequestRow>),
        (status = 400, description = "An unknown status"),
        (status = 401, description = "No or a wrong admin token"),
        (status = 403, description = "Not this admin's hall"),
        (status = 404, description = "No such hall"),
    ))]
async fn list_requests(
    State(state): State<AppState>,
    admin: Admin,
    Path(hall): Path<String>,
    Query(q): Query<RequestQuery>,
) -> Result<Json<Vec<RequestRow>>> {
    require_hall(&state, &hall).await?;
    admin.require_hall(&hall)?;
    if let Some(s) = &q.status {
        RequestStatus::from_code(s)?;
    }
    let stored = state
        .core
        .projection
        .requests(&hall, q.status.as_deref())
        .await?;
    Ok(Json(queries::request_rows(&state.core.residents, stored)))
}

/// Body of a reply.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReplyBody {
    /// `received`, `in_progress` or `resolved`.
    pub status: String,
    /// The reply residents see.
    pub reply: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/halls/{hall}/requests/{id}/reply", tag = "requests", security(("admin_token" = [])),
    params(("hall" = String, Path, description = "The hall's id"), ("id" = String, Path, description = "The request's record id")),
    request_body = ReplyBody,
    responses(
        (status = 204, description = "Answered; the kiosks show it at their next sync"),
        (status = 400, description = "An unknown status or an overlong reply"),
        (status = 401, description = "No or a wrong admin token"),
        (status = 403, description = "A viewer, or not this admin's hall"),
        (status = 404, description = "No such hall or request"),
    ))]
async fn reply_request(
    State(state): State<AppState>,
    admin: Admin,
    Path((hall, id)): Path<(String, String)>,
    Json(body): Json<ReplyBody>,
) -> Result<StatusCode> {
    admin.require_write()?;
    admin.require_hall(&hall)?;
    let reply = RequestReply {
        status: RequestStatus::from_code(&body.status)?,
        reply: body.reply.filter(|r| !r.trim().is_empty()),
        updated_at_ms: now_ms(),
    };
    provision::reply_request(&state.core, &hall, &id, reply).await?;
    tracing::info!(admin = %admin.user, hall = %hall, request = %id, "request answered");
    admin.audit(&state, "answer_request", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/halls/{hall}/quarantine", tag = "halls", security(("admin_token" = [])),
    params(("hall" = String, Path, description = "The hall's id")),
    responses(
        (status = 200, description = "Records held back as not fitting their schema, with the reason", body = Vec<QuarantineView>),
        (status = 401, description = "No or a wrong admin token"),
        (status = 403, description = "Not this admin's hall"),
        (status = 404, description = "No such hall"),
    ))]
async fn list_quarantine(
    State(state): State<AppState>,
    admin: Admin,
    Path(hall): Path<String>,
) -> Result<Json<Vec<QuarantineView>>> {
    require_hall(&state, &hall).await?;
    admin.require_hall(&hall)?;
    let rows = state.core.projection.quarantine(&hall).await?;
    Ok(Json(
        rows.into_iter()
            .map(|q| QuarantineView {
                doc_id: q.doc_id,
                record_key: q.record_key,
                kiosk_id: q.kiosk_id,
                reason: q.reason,
                at_ms: q.at_ms,
            })
            .collect(),
    ))
}

/// A quarantined record as `GET /api/v1/halls/{hall}/quarantine` lists it.
#[derive(Serialize, utoipa::ToSchema)]
struct QuarantineView {
    /// The document it came in.
    doc_id: String,
    /// The record (`map/key`); empty for the whole document.
    record_key: String,
    /// The kiosk that delivered it.
    kiosk_id: Option<String>,
    /// Why it was held back.
    reason: String,
    /// When, ms since the epoch.
    at_ms: i64,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NewKiosk {
    name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ProvisionedKiosk {
    id: String,
    hall: String,
    name: String,
    token: String,
}

#[utoipa::path(post, path = "/api/v1/halls/{hall}/kiosks", tag = "kiosks", security(("admin_token" = [])),
    params(("hall" = String, Path, description = "The hall's id")),
    request_body = NewKiosk,
    responses(
        (status = 201, description = "Provisioned; the token is shown this once", body = ProvisionedKiosk),
        (status = 400, description = "A bad name"),
        (status = 401, description = "No or a wrong admin token"),
        (status = 403, description = "A viewer, or not this admin's hall"),
        (status = 404, description = "No such hall"),
    ))]
async fn add_kiosk(
    State(state): State<AppState>,
    admin: Admin,
    Path(hall): Path<String>,
    Json(body): Json<NewKiosk>,
) -> Result<(StatusCode, Json<ProvisionedKiosk>)> {
    admin.require_write()?;
    admin.require_hall(&hall)?;
    let (kiosk, token) = provision::add_kiosk(&state.core, &hall, &body.name).await?;
    admin.audit(&state, "provision_kiosk", &kiosk.id).await?;
    tracing::info!(admin = %admin.user, kiosk = %kiosk.id, "kiosk provisioned through the API");
    Ok((
        StatusCode::CREATED,
        Json(ProvisionedKiosk {
            id: kiosk.id,
            hall: kiosk.hall_id,
            name: kiosk.name,
            token,
        }),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
struct KioskView {
    id: String,
    hall: String,
    name: String,
    connected: bool,
    last_seen_ms: Option<i64>,
    app_version: Option<String>,
    revoked: bool,
}

#[utoipa::path(get, path = "/api/v1/kiosks", tag = "kiosks", security(("admin_token" = [])),
    responses(
        (status = 200, description = "The kiosks of this admin's halls", body = Vec<KioskView>),
        (status = 401, description = "No or a wrong admin token"),
    ))]
async fn list_kiosks(State(state): State<AppState>, admin: Admin) -> Result<Json<Vec<KioskView>>> {
    let kiosks = state.core.tables.kiosks().await?;
    let connected = state.core.registry.connected_kiosks();
    let now = now_ms();
    Ok(Json(
        kiosks
            .into_iter()
            .filter(|k| admin.halls.contains(&k.hall_id))
            .map(|k| {
                let on = connected.contains(&k.id);
                KioskView {
                    connected: on,
                    last_seen_ms: if on { Some(now) } else { k.last_seen_ms },
                    revoked: k.revoked_ms.is_some(),
                    id: k.id,
                    hall: k.hall_id,
                    name: k.name,
                    app_version: k.app_version,
                }
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/kiosks/{id}/revoke", tag = "kiosks", security(("admin_token" = [])),
    params(("id" = String, Path, description = "The kiosk's id")),
    responses(
        (status = 204, description = "Revoked; its connections close and its points rights return to the hall"),
        (status = 401, description = "No or a wrong admin token"),
        (status = 403, description = "A viewer, or not this admin's hall"),
        (status = 404, description = "No such kiosk"),
    ))]
async fn revoke_kiosk(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    admin.require_write()?;
    let kiosk = provision::require_kiosk(&state.core, &id).await?;
    admin.require_hall(&kiosk.hall_id)?;
    provision::revoke_kiosk(&state.core, &id).await?;
    admin.audit(&state, "revoke_kiosk", &id).await?;
    tracing::info!(admin = %admin.user, kiosk = %id, "kiosk revoked through the API");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/kiosk/config", tag = "kiosks", security(("kiosk_token" = [])),
    responses(
        (status = 200, description = "This kiosk's configuration: its hall, documents, clock zone and residents' identity keys", body = Object),
        (status = 401, description = "No or a wrong kiosk token"),
        (status = 426, description = "A kiosk too old for this server's sync protocol"),
    ))]
async fn kiosk_config(
    State(state): State<AppState>,
    headers: HeaderMap,
    KioskAuth(kiosk): KioskAuth,
) -> Result<Response> {
    let app_version = headers
        .get(linli_core::protocol::APP_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(32).collect::<String>());
    state
        .core
        .tables
        .touch_kiosk(&kiosk.id, now_ms(), app_version.as_deref())
        .await?;
    Ok(Json(provision::kiosk_config(&state.core, &kiosk).await?).into_response())
}
