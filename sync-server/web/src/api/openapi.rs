//! The JSON API described: an OpenAPI 3.1 document built from the
//! handlers' own annotations and types (utoipa), served at
//! `GET /api/v1/openapi.json` for whoever writes a client (a district's
//! data office, a monitoring script). A test checks that it names every
//! route the router registers, so the two cannot drift apart.

use axum::{Json, response::IntoResponse};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

/// The document (see the module docs).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Linli sync server",
        description = "The street office server of Linli's hall kiosks: health, metrics, the admin JSON API, the kiosks' configuration and sync. Admin calls take an admin API token (`linli-server admin token`), kiosk calls a kiosk token, as `Authorization: Bearer …`. Phone numbers are only ever shown masked."
    ),
    paths(
        super::healthz,
        super::readyz,
        super::metrics,
        serve,
        super::list_halls,
        super::list_checkins,
        super::list_services,
        super::list_requests,
        super::reply_request,
        super::list_quarantine,
        super::add_kiosk,
        super::list_kiosks,
        super::revoke_kiosk,
        super::kiosk_config,
        crate::sync_ws::sync_handler,
        crate::peers::peer_handler,
    ),
    modifiers(&BearerTokens),
    tags(
        (name = "health", description = "Liveness, readiness, metrics"),
        (name = "halls", description = "Halls and what their kiosks recorded"),
        (name = "requests", description = "Residents' requests and the answers to them"),
        (name = "kiosks", description = "Provisioning and revoking kiosks; a kiosk's own configuration"),
        (name = "sync", description = "The kiosks' sync WebSocket and the instances' relays"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The three kinds of bearer token.
struct BearerTokens;

impl Modify for BearerTokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, what) in [
            ("admin_token", "An admin API token, `la_…`"),
            ("kiosk_token", "A kiosk's token, `lk_…`"),
            (
                "instance_secret",
                "The secret the instances on one database share",
            ),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(what))
                        .build(),
                ),
            );
        }
    }
}

/// `GET /api/v1/openapi.json`.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "This document", body = Object)))]
pub async fn serve() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}
