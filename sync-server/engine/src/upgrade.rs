//! `linli-server upgrade-residents`: converting a database written before
//! residents were pseudonyms (issue 12) in place.
//!
//! Before, a resident was an HMAC of their number under a key every kiosk
//! and the server held, beside the masked number and the name in the
//! clear: with the key, 10,000 guesses give the number back. The same
//! weakness converts them: for each resident the number is recovered from
//! the masked digits and the old key, and they become a pseudonym, a
//! contact sealed to the server and a name box, as a kiosk of this version
//! writes them. Every document that holds the old form is replaced by a
//! converted one ([`crate::replace`]: old documents retired and deleted,
//! the hall's kiosks told), the old key is deleted, and the projection is
//! rebuilt from the documents. Nothing of the old form is left; answers
//! to requests are kept. A resident whose number cannot be recovered
//! (a damaged record) becomes an erased one: the record still counts.
//!
//! Kiosks convert their own stores against the converted server when they
//! next start (`linli_core::node::upgrade`), adopting the replaced
//! documents the way they adopt any rebuilt one.

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    sync::{Arc, Mutex},
};

use crate::{Error, Result, db::DB_FILE, projection, replace, server::ServerCore};
use linli_core::{
    docs::upgrade::{self, OldResident},
    model::ResidentRef,
    sqlite::{DbOptions, Durability},
};

/// What an upgrade did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Upgraded {
    /// Distinct residents converted.
    pub residents: usize,
    /// Of them, residents whose number could not be recovered (erased).
    pub unrecoverable: usize,
    /// Records that named them.
    pub records: usize,
    /// Documents replaced.
    pub documents: usize,
}

/// The old key and whether the projection still has the old columns.
fn read_old_state(path: &Path) -> Result<(Option<Vec<u8>>, bool)> {
    let c = linli_core::sqlite::open(path, DbOptions::default())?;
    let key: Option<String> = c
        .query_row(
            "SELECT value FROM server_meta WHERE key = 'phone_key'",
            [],
            |r| r.get(0),
        )
        .ok();
    let projection: i64 = c
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM linli_migrations WHERE component = 'projection'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0);
    let key = key
        .map(|k| {
            hex::decode(k.trim())
                .map_err(|_| Error::Config("the old phone key in the database is damaged".into()))
        })
        .transpose()?;
    Ok((key, projection > 0 && projection < 4))
}

/// Clear the old projection's personal columns (the rows are rebuilt from
/// the documents at the end; request answers are carried by migration v5),
/// so that the database opens with this build.
fn clear_old_projection(path: &Path) -> Result<()> {
    let mut c = linli_core::sqlite::open(path, DbOptions::default())?;
    let tx = c
        .transaction()
        .map_err(|e| Error::db("clearing the old projection", e))?;
    tx.execute_batch(
        "UPDATE checkins SET phone_masked = NULL, name = NULL;
         UPDATE requests SET phone_masked = NULL, name = NULL;
         DELETE FROM shift_events;",
    )
    .map_err(|e| Error::db("clearing the old projection", e))?;
    tx.commit()
        .map_err(|e| Error::db("clearing the old projection", e))
}

/// Convert the database in `data_dir` (the server stopped: the caller holds
/// its lock). `progress(done, total)` follows the documents.
pub async fn upgrade_residents(
    data_dir: &Path,
    mut progress: impl FnMut(usize, usize),
) -> Result<Upgraded> {
    let path = data_dir.join(DB_FILE);
    if !path.exists() {
        return Err(Error::NotFound(format!(
            "no database in {}",
            data_dir.display()
        )));
    }
    let p = path.clone();
    let (key, old_projection) = tokio::task::spawn_blocking(move || read_old_state(&p))
        .await
        .map_err(|e| Error::BadRequest(format!("upgrade worker: {e}")))??;
    if old_projection {
        let p = path.clone();
        tokio::task::spawn_blocking(move || clear_old_projection(&p))
            .await
            .map_err(|e| Error::BadRequest(format!("upgrade worker: {e}")))??;
    }
    let (core, _) = ServerCore::open(data_dir, Durability::Full, false).await?;
    let r = convert(&core, key, &mut progress).await;
    core.stop().await;
    r
}

async fn convert(
    core: &Arc<ServerCore>,
    key: Option<Vec<u8>>,
    progress: &mut impl FnMut(usize, usize),
) -> Result<Upgraded> {
    let mut out = Upgraded::default();
    // Which documents hold the old form, by hall.
    let docs = core.tables.kiosk_documents().await?;
    let mut by_hall: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, d) in docs.iter().enumerate() {
        let old = match core.storage.load_document(d).await {
            Ok(Some(doc)) => tokio::task::spawn_blocking(move || -> Result<bool> {
                Ok(!upgrade::old_residents(&doc)?.is_empty())
            })
            .await
            .map_err(|e| Error::BadRequest(format!("upgrade worker: {e}")))?,
            Ok(None) => Ok(false),
            Err(e) => Err(e),
        };
        if old.unwrap_or(false)
            && let Some(owner) = core.tables.doc_owner(d).await?
        {
            by_hall.entry(owner.hall_id).or_default().push(d.clone());
        }
        progress(i + 1, docs.len() * 2);
    }
    if !by_hall.is_empty() && key.is_none() {
        return Err(Error::Config(
            "documents hold residents of the old form but the old phone key is not in the \
             database, so their numbers cannot be recovered; nothing was converted"
                .into(),
        ));
    }
    let key = Arc::new(key.unwrap_or_default());
    // One conversion per resident, shared by every document naming them.
    let converted: Arc<Mutex<HashMap<OldResident, ResidentRef>>> = Arc::default();
    let unrecoverable = Arc::new(Mutex::new(0usize));
    let total = by_hall.values().map(Vec::len).sum::<usize>();
    let mut done = 0;
    for (hall, olds) in &by_hall {
        let (core2, key, converted, unrecoverable) = (
            core.clone(),
            key.clone(),
            converted.clone(),
            unrecoverable.clone(),
        );
        out.records += replace::replace_documents(core, hall, olds, move |doc| {
            let rebuilt = upgrade::from_v1(doc, |old| {
                if let Some(r) = converted.lock().ok().and_then(|c| c.get(old).cloned()) {
                    return Ok(r);
                }
                let r = match upgrade::recover_number(&key, old) {
                    Some(phone) => core2
                        .residents
                        .reference(&phone, old.name.as_deref())
                        .map_err(|e| linli_core::Error::invalid("resident", e.to_string()))?,
                    None => {
                        if let Ok(mut n) = unrecoverable.lock() {
                            *n += 1;
                        }
                        ResidentRef::erased()
                    }
                };
                if let Ok(mut c) = converted.lock() {
                    c.insert(old.clone(), r.clone());
                }
                Ok(r)
            })?;
            let n = rebuilt.erased;
            Ok((rebuilt, n))
        })
        .await?;
        out.documents += olds.len();
        done += olds.len();
        progress(
            docs.len() + done * docs.len() / total.max(1),
            docs.len() * 2,
        );
    }
    out.residents = converted.lock().map(|c| c.len()).unwrap_or(0);
    out.unrecoverable = unrecoverable.lock().map(|n| *n).unwrap_or(0);
    // The old key goes (migration v5 deleted it; a database it missed, too).
    core.sqlite("converting residents of the old form")?
        .run(|c| {
            c.execute("DELETE FROM server_meta WHERE key = 'phone_key'", [])
                .map_err(|e| Error::db("deleting the old phone key", e))?;
            linli_core::sqlite::checkpoint(c).map_err(Error::from)
        })
        .await?;
    projection::rebuild(core, |_, _| {}).await?;
    core.storage.scrub().await?;
    progress(docs.len() * 2, docs.len() * 2);
    Ok(out)
}
