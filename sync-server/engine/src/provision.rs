//! Provisioning: halls (with their calendar and directory documents),
//! kiosks and their tokens, admins and their API tokens, and the
//! server-side edits of documents (activities, walk-in services, request
//! replies). The CLI, the JSON API and the demo all go through here.

use std::str::FromStr;

use linli_core::{
    docs::{DocKind, calendar, directory, requests},
    ids::{HallId, RecordId},
    model::{Activity, RequestReply, WalkInService, standard_services},
    protocol::{KioskConfig, PROTOCOL_VERSION},
};
use samod::{AutomergeUrl, DocumentId};

use crate::{
    Error, Result,
    auth::{self, ADMIN_TOKEN_PREFIX, KIOSK_TOKEN_PREFIX},
    clock::now_ms,
    db::{Hall, Kiosk},
    repos::HallDoc,
    server::ServerCore,
};

/// Admin roles (the console issue refines what each may do).
pub const ROLES: [&str; 3] = ["central", "hall_staff", "viewer"];

fn check_name(field: &str, name: &str, max: usize) -> Result<()> {
    let n = name.chars().count();
    if name.trim().is_empty() || n > max || name.chars().any(char::is_control) {
        return Err(Error::BadRequest(format!(
            "{field} must be 1 to {max} printable characters"
        )));
    }
    Ok(())
}

/// The `automerge:` URL of a document id.
pub fn doc_url(id: &str) -> Result<String> {
    let doc = DocumentId::from_str(id)
        .map_err(|e| Error::BadRequest(format!("document id {id}: {e}")))?;
    Ok(AutomergeUrl::from(&doc).to_string())
}

fn add_standard_services(doc: &mut automerge::Automerge) -> linli_core::Result<()> {
    for (id, service) in standard_services() {
        calendar::put_service(doc, id, &service)?;
    }
    Ok(())
}

/// The server_meta key set once every hall has a list of walk-in services.
const SERVICES_ADDED: &str = "walk_in_services_added";

/// Give the standard walk-in services to every hall whose calendar
/// predates them (it has no services map; a hall that removed all of its
/// services keeps none). Runs once per database, at start.
pub async fn ensure_services(core: &ServerCore) -> Result<()> {
    if core.tables.meta(SERVICES_ADDED).await?.is_some() {
        return Ok(());
    }
    for hall in core.tables.halls().await? {
        let handle = hall_doc(core, &hall.id, &hall.calendar_doc).await?;
        let added = handle
            .with_document_async(|d| {
                if calendar::has_services(d)? {
                    return Ok(false);
                }
                add_standard_services(d).map(|()| true)
            })
            .await??;
        handle.confirmed().await?;
        if added {
            tracing::info!(hall = %hall.id, "standard walk-in services added");
        }
    }
    core.tables.set_meta(SERVICES_ADDED, "1").await
}

/// Add (id `None`, placed last) or change a walk-in service in a hall's
/// calendar; returns its id.
pub async fn put_service(
    core: &ServerCore,
    hall_id: &str,
    id: Option<String>,
    mut service: WalkInService,
) -> Result<String> {
    service.validate()?;
    let handle = calendar_of(core, hall_id).await?;
    let key = id.unwrap_or_else(|| RecordId::new().to_string());
    let id = key.clone();
    handle
        .with_document_async(move |d| {
            let all = calendar::services(d)?;
            match all.iter().find(|(i, _)| *i == key) {
                Some((_, old)) => service.position = old.position,
                None => {
                    service.position = all.iter().map(|(_, s)| s.position + 1).max().unwrap_or(0)
                }
            }
            calendar::put_service(d, &key, &service)
        })
        .await??;
    handle.confirmed().await?;
    Ok(id)
}

/// Every walk-in service of a hall's calendar (retired ones too), in the
/// kiosk's order.
pub async fn services(core: &ServerCore, hall_id: &str) -> Result<Vec<(String, WalkInService)>> {
    let handle = calendar_of(core, hall_id).await?;
    Ok(handle
        .with_document_async(|d| calendar::services(d))
        .await??)
}

/// Add a hall with an empty calendar (but for the standard walk-in
/// services) and directory.
pub async fn add_hall(core: &ServerCore, id: &str, name: &str, tz: &str) -> Result<Hall> {
    let id = HallId::new(id)?;
    check_name("hall name", name, 40)?;
    chrono_tz::Tz::from_str(tz)
        .map_err(|_| Error::BadRequest(format!("unknown time zone {tz:?} (e.g. Asia/Shanghai)")))?;
    if core.tables.hall(&id.to_string()).await?.is_some() {
        return Err(Error::Conflict(format!("hall {id}")));
    }
    let cal = core
        .repos
        .create(id.as_str(), calendar::new_calendar(id.as_str(), name, tz)?)
        .await?;
    let dir = core
        .repos
        .create(id.as_str(), directory::new_directory(id.as_str())?)
        .await?;
    cal.with_document_async(add_standard_services).await??;
    cal.confirmed().await?;
    let hall = Hall {
        id: id.to_string(),
        name: name.to_string(),
        tz: tz.to_string(),
        calendar_doc: cal.document_id().to_string(),
        directory_doc: dir.document_id().to_string(),
    };
    core.tables.insert_hall(&hall, now_ms()).await?;
    tracing::info!(hall = %hall.id, "hall added");
    Ok(hall)
}

/// Provision a kiosk; returns it and its token (shown once, stored hashed).
pub async fn add_kiosk(core: &ServerCore, hall_id: &str, name: &str) -> Result<(Kiosk, String)> {
    check_name("kiosk name", name, 40)?;
    if core.tables.hall(hall_id).await?.is_none() {
        return Err(Error::NotFound(format!("hall {hall_id}")));
    }
    let token = auth::new_token(KIOSK_TOKEN_PREFIX);
    let hash = auth::hash_token(&token);
    let kiosk = core
        .tables
        .insert_kiosk(hall_id, name, &hash, now_ms())
        .await?;
    tracing::info!(kiosk = %kiosk.id, hall = %kiosk.hall_id, "kiosk provisioned");
    Ok((kiosk, token))
}

/// Revoke a kiosk and close its live connections. False if already revoked.
/// The rights it held to volunteers' points and items' stock return to
/// the hall (`points::write_off_kiosk`); should that fail, the kiosk is
/// revoked all the same and its rights stay set aside (never spent
/// twice, only unused).
pub async fn revoke_kiosk(core: &ServerCore, id: &str) -> Result<bool> {
    let changed = core.tables.revoke_kiosk(id, now_ms()).await?;
    let closed = core.registry.kill_kiosk(id);
    tracing::info!(kiosk = id, closed, "kiosk revoked");
    if changed
        && let Some(kiosk) = core.tables.kiosk(id).await?
        && let Err(e) = crate::points::write_off_kiosk(core, &kiosk.hall_id, id).await
    {
        tracing::warn!(kiosk = id, error = %e, "a revoked kiosk's points could not be written off: they stay set aside");
    }
    Ok(changed)
}

/// The kiosk behind a token, if live (not revoked).
pub async fn authenticate_kiosk(core: &ServerCore, token: &str) -> Result<Kiosk> {
    let hash = auth::hash_token(token);
    let kiosk = core.tables.kiosk_by_token_hash(&hash).await?;
    match kiosk {
        Some(k) if k.revoked_ms.is_none() => Ok(k),
        _ => Err(Error::Unauthorized),
    }
}

/// Add an admin.
pub async fn add_admin(core: &ServerCore, user: &str, role: &str) -> Result<()> {
    check_name("user name", user, 40)?;
    if !ROLES.contains(&role) {
        return Err(Error::BadRequest(format!(
            "role must be one of {}",
            ROLES.join(", ")
        )));
    }
    core.tables.insert_admin(user, role, now_ms()).await
}

/// Issue an API token for an admin.
pub async fn admin_token(core: &ServerCore, user: &str) -> Result<String> {
    let token = auth::new_token(ADMIN_TOKEN_PREFIX);
    core.tables
        .insert_admin_token(user, &auth::hash_token(&token), now_ms())
        .await?;
    Ok(token)
}

/// The configuration a kiosk fetches at pairing.
pub async fn kiosk_config(core: &ServerCore, kiosk: &Kiosk) -> Result<KioskConfig> {
    let hall = core
        .tables
        .hall(&kiosk.hall_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("hall {}", kiosk.hall_id)))?;
    Ok(KioskConfig {
        protocol: PROTOCOL_VERSION,
        kiosk_id: kiosk.id.clone(),
        kiosk_name: kiosk.name.clone(),
        hall_id: hall.id.clone(),
        hall_name: hall.name.clone(),
        tz: hall.tz.clone(),
        calendar_url: doc_url(&hall.calendar_doc)?,
        directory_url: doc_url(&hall.directory_doc)?,
        identity: Some(core.residents.identity().clone()),
        server_peer_id: core.peer_id.to_string(),
    })
}

/// A hall, or `NotFound` naming it.
pub async fn require_hall(core: &ServerCore, hall_id: &str) -> Result<Hall> {
    core.tables
        .hall(hall_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("hall {hall_id}")))
}

/// A kiosk, or `NotFound` naming it.
pub async fn require_kiosk(core: &ServerCore, id: &str) -> Result<Kiosk> {
    core.tables
        .kiosk(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("kiosk {id}")))
}

/// A document of `hall_id`, in the hall's repo.
/// A hall's calendar document.
async fn calendar_of(core: &ServerCore, hall_id: &str) -> Result<HallDoc> {
    let hall = require_hall(core, hall_id).await?;
    hall_doc(core, hall_id, &hall.calendar_doc).await
}

async fn hall_doc(core: &ServerCore, hall_id: &str, doc_id: &str) -> Result<HallDoc> {
    let id = DocumentId::from_str(doc_id)
        .map_err(|e| Error::BadRequest(format!("document id {doc_id}: {e}")))?;
    core.repos
        .find_in(hall_id, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("document {doc_id}")))
}

/// Add or replace an activity in a hall's calendar; returns its id.
pub async fn put_activity(
    core: &ServerCore,
    hall_id: &str,
    id: Option<String>,
    activity: Activity,
) -> Result<String> {
    activity.validate()?;
    let handle = calendar_of(core, hall_id).await?;
    let id = id.unwrap_or_else(|| RecordId::new().to_string());
    let key = id.clone();
    handle
        .with_document_async(move |d| calendar::put_activity(d, &key, &activity))
        .await??;
    handle.confirmed().await?;
    Ok(id)
}

/// The activities of a hall's calendar.
pub async fn activities(core: &ServerCore, hall_id: &str) -> Result<Vec<(String, Activity)>> {
    let handle = calendar_of(core, hall_id).await?;
    Ok(handle
        .with_document_async(|d| calendar::activities(d))
        .await??)
}

/// Set a request's status and the reply residents see. Written into the
/// kiosk's request book, so it syncs back to the kiosk.
pub async fn reply_request(
    core: &ServerCore,
    hall_id: &str,
    record_id: &str,
    reply: RequestReply,
) -> Result<()> {
    reply.validate()?;
    let doc_id = core.projection.request_doc(hall_id, record_id).await?;
    let doc_id =
        doc_id.ok_or_else(|| Error::NotFound(format!("request {record_id} in hall {hall_id}")))?;
    let handle = hall_doc(core, hall_id, &doc_id).await?;
    // The server's own record first: the projection takes the status from
    // it, and knows by it that the answer in the book is the server's.
    core.projection.record_answer(record_id, &reply).await?;
    let (key, hall) = (record_id.to_string(), hall_id.to_string());
    handle
        .with_document_async(move |d| {
            linli_core::docs::expect_header(d, DocKind::RequestBook, &hall, None)?;
            requests::set_reply(d, &key, &reply)
        })
        .await??;
    handle.confirmed().await?;
    core.mark_dirty(handle.document_id().clone());
    Ok(())
}
