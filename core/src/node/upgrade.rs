//! Converting a kiosk store of Linli 0.1 in place (issue 12, the upgrade).
//!
//! Such a store keeps residents as an HMAC of their number under a key
//! every kiosk held (it is in the store's pairing configuration), beside
//! the masked number and the name in the clear. Once its server has been
//! converted (`linli-server upgrade-residents`), the kiosk converts itself
//! the first time this build opens it with the server reachable:
//!
//! 1. [`convert_store`], before the node opens: the new pairing
//!    configuration (with the deployment's identity keys) comes from the
//!    server; every journal record of the old form gets the resident's
//!    pseudonym, sealed contact and name box, the number recovered as the
//!    server recovers it (`docs::upgrade::recover_number`). The old key is
//!    gone with the old configuration.
//! 2. At the next sync, documents the server replaced are adopted like any
//!    rebuilt document (`node::adopt_rebuilt_docs`), which deletes the old
//!    ones; [`finish`] then makes again, from the converted journal, every
//!    document of the old form the server never had, and deletes those.
//!
//! Without the server (or with a server not yet converted) the store is
//! refused with what to do; nothing in it is changed.

use std::{collections::HashMap, sync::Arc};

use super::{
    Shared, blocking,
    journal::{Entry, Journal},
    residents::Residents,
};
use crate::{
    Error, Result,
    docs::{
        self, directory,
        upgrade::{self, OldResident},
    },
    model::ResidentRef,
    protocol::{self, KioskConfig},
};

/// Meta key set while a converted store still has documents of the old form.
pub(super) const META_PENDING: &str = "upgrade.old_documents";

fn refused(why: impl std::fmt::Display) -> Error {
    Error::invalid(
        "kiosk store",
        format!(
            "it was written by Linli 0.1 and holds residents in the old reversible form; it is \
             converted in place when this kiosk starts with its server reachable and that server \
             converted (linli-server upgrade-residents). Nothing was changed: {why}"
        ),
    )
}

/// Convert the old-form store behind `journal` (see the module docs);
/// returns the new configuration, already stored.
pub(super) async fn convert_store(
    journal: &Journal,
    old_config_json: &str,
    server: &url::Url,
    token: &str,
    trust: &crate::tls::Trust,
    config_key: &str,
    now_ms: i64,
) -> Result<KioskConfig> {
    let old: serde_json::Value = serde_json::from_str(old_config_json)
        .map_err(|e| Error::invalid("stored kiosk configuration", e.to_string()))?;
    let key = old
        .get("phone_key")
        .and_then(serde_json::Value::as_str)
        .and_then(|k| hex::decode(k).ok())
        .ok_or_else(|| refused("its configuration has no phone key"))?;
    let config = protocol::fetch_kiosk_config(server, token, trust)
        .await
        .map_err(|e| refused(format!("the server could not be asked ({e})")))?;
    let Some(identity) = &config.identity else {
        return Err(refused("the server has not been converted yet"));
    };
    if Some(config.kiosk_id.as_str()) != old.get("kiosk_id").and_then(serde_json::Value::as_str) {
        return Err(refused("the server knows this token as another kiosk"));
    }
    let residents = Residents::new(identity)?;
    let json =
        serde_json::to_string(&config).map_err(|e| Error::invalid("config", e.to_string()))?;
    let j = journal.clone();
    let config_key = config_key.to_string();
    blocking(move || {
        let mut converted: HashMap<OldResident, ResidentRef> = HashMap::new();
        let mut rewrites = Vec::new();
        for e in j.old_form_entries()? {
            rewrites.push(convert_entry(&e, &key, &residents, &mut converted, now_ms)?);
        }
        tracing::info!(
            records = rewrites.len(),
            residents = converted.len(),
            "kiosk store of the old form converted"
        );
        j.convert_old_form(&rewrites, &config_key, &json, META_PENDING)
    })
    .await?;
    Ok(config)
}

/// One journal record in the new form: (record id, payload, pseudonym).
fn convert_entry(
    e: &Entry,
    key: &[u8],
    residents: &Residents,
    converted: &mut HashMap<OldResident, ResidentRef>,
    now_ms: i64,
) -> Result<(String, String, Option<String>)> {
    let mut payload: serde_json::Value = serde_json::from_str(&e.payload)
        .map_err(|err| Error::invalid("journal payload", err.to_string()))?;
    let mut pseudonym = None;
    for field in ["resident", "volunteer"] {
        let Some(slot) = payload.get_mut(field) else {
            continue;
        };
        let Ok(old) = serde_json::from_value::<OldResident>(slot.clone()) else {
            continue;
        };
        let new = match converted.get(&old) {
            Some(r) => r.clone(),
            None => {
                let r = match upgrade::recover_number(key, &old) {
                    Some(phone) => residents.reference(&phone, old.name.as_deref(), now_ms)?,
                    None => ResidentRef::erased(),
                };
                converted.insert(old, r.clone());
                r
            }
        };
        if !new.is_erased() {
            pseudonym = Some(new.pseudonym.clone());
        }
        *slot = serde_json::to_value(&new)
            .map_err(|err| Error::invalid("resident", err.to_string()))?;
    }
    let payload = serde_json::to_string(&payload)
        .map_err(|err| Error::invalid("journal payload", err.to_string()))?;
    Ok((e.record_id.clone(), payload, pseudonym))
}

/// After a sync round of a converted store: make again, from the journal,
/// every own document still of the old form that the server does not hold
/// (none of its records was ever confirmed), and delete the old ones.
/// Documents the server holds are left to adoption. Clears the mark once
/// none of the old form is left.
pub(super) async fn finish(shared: &Arc<Shared>) -> Result<()> {
    use std::sync::atomic::Ordering;
    if !shared.converting.load(Ordering::Relaxed) {
        return Ok(());
    }
    let directory = shared.directory.lock().map_err(|_| Error::Stopped)?.clone();
    let Some(directory) = directory else {
        return Ok(());
    };
    let retired: std::collections::HashSet<String> = directory
        .with_document_async(|d| directory::retired(d))
        .await??
        .into_iter()
        .map(|(old, _)| old)
        .collect();
    let j = shared.journal.clone();
    let rows = blocking(move || j.docs()).await?;
    let mut left = 0;
    for row in rows {
        if retired.contains(&row.doc_id) {
            left += 1; // adoption deletes it
            continue;
        }
        let storage = shared.storage.clone();
        let id = row.doc_id.clone();
        let old_form = blocking(move || {
            Ok(match storage.load_document(&id)? {
                Some(d) => !upgrade::old_residents(&d)?.is_empty() || docs::header(&d)?.version < 2,
                None => false,
            })
        })
        .await?;
        if !old_form {
            continue;
        }
        let (j, p) = (shared.journal.clone(), row.period.clone());
        if blocking(move || j.any_synced(row.kind, &p)).await? {
            left += 1; // the server has it: wait for its replacement
            continue;
        }
        // Never reached the server: make it again from the journal.
        let _one_at_a_time = shared.recording.lock().await;
        shared.applier.settled().await;
        let (j, p) = (shared.journal.clone(), row.period.clone());
        blocking(move || j.forget_doc(row.kind, &p)).await?;
        shared
            .docs
            .lock()
            .await
            .remove(&(row.kind, row.period.clone()));
        let storage = shared.storage.clone();
        let id = row.doc_id.clone();
        blocking(move || {
            storage.delete_document(&id)?;
            storage.checkpoint()
        })
        .await?;
        tracing::info!(kind = row.kind.name(), period = %row.period, "a document of the old form is made again from the journal");
        drop(_one_at_a_time);
        super::rewrite_from_journal(shared, row.kind, &row.period).await?;
    }
    if left == 0 {
        let j = shared.journal.clone();
        blocking(move || j.delete_meta(META_PENDING)).await?;
        shared.converting.store(false, Ordering::Relaxed);
        tracing::info!("kiosk store conversion finished: no document of the old form is left");
    }
    Ok(())
}
