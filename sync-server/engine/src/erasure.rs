//! Erasing one resident on request (PIPL's right to deletion; issue 12).
//!
//! How, and why this way: Automerge history cannot be rewritten, so every
//! kiosk document that holds the resident is rebuilt from its current
//! state with their records carrying [`ResidentRef::erased`]
//! (`linli_core::docs::erase`), the old document is retired (the server
//! never loads, stores or shares it again) and deleted from the server's
//! store, and the hall directory names the replacement so that the hall's
//! kiosks delete their copies and carry on in the new one at their next
//! sync. Crypto-shredding alone would not do: the pseudonym that links a
//! person's records is computed from the number on every kiosk (that is
//! how kiosks recognise residents offline), so no deletable key could
//! unlink records that carry it; only rebuilt documents do.
//!
//! What stays: every record, so person-time counts, ratings, hours and
//! resolution rates do not move. Distinct-resident counts stay too: the
//! days the person visited each hall are kept under the erasure's random
//! id (`erased_visits`), pointing at no record. What goes: their
//! pseudonym, sealed contact and name box from every document, projection
//! row and cache on the server, and (after their next sync) from the
//! hall's kiosks; the callback consent of their requests; their number and
//! names wherever they wrote them into a request's text (the phone page
//! takes free text); their points from the hall's 爱心超市 documents
//! (the grants and every store's spends, rebuilt the same way with their
//! account renamed to no one's, `linli_core::docs::erase_points`: what
//! they redeemed stays counted). SQLite's
//! `secure_delete` and a WAL checkpoint leave no copy in free pages, so a
//! backup taken afterwards holds nothing of them either.
//!
//! Records of the person that a kiosk had not delivered when the erasure
//! ran (it was offline) arrive later with their pseudonym: for
//! [`erasure_watch::ERASURE_WATCH_DAYS`] the projector spots them and they are erased the
//! same way as they arrive.

use linli_core::{docs::erase, phone::PhoneNumber};

use crate::{
    Error, Result, clock::now_ms, erasure_watch, projection_tables::FinishedErasure, replace,
    server::ServerCore,
};

/// What an erasure did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Erasure {
    /// Its id in the `erasures` table (random).
    pub id: String,
    /// Records that named the resident.
    pub records: usize,
    /// Documents rebuilt.
    pub documents: usize,
    /// Halls whose kiosks delete their copies at their next sync.
    pub halls: Vec<String>,
}

/// What is stored of a resident: records per table, before erasing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// Named check-ins.
    pub checkins: i64,
    /// Volunteer sign-ins and sign-outs.
    pub shifts: i64,
    /// Requests that gave the number.
    pub requests: i64,
}

impl Found {
    /// Every record found.
    pub fn total(&self) -> i64 {
        self.checkins + self.shifts + self.requests
    }
}

/// The pseudonym of a number (slow on purpose: off the async workers).
async fn pseudonym_of(core: &std::sync::Arc<ServerCore>, phone: &PhoneNumber) -> Result<String> {
    let (core, phone) = (core.clone(), phone.clone());
    tokio::task::spawn_blocking(move || core.residents.pseudonym(&phone))
        .await
        .map_err(|e| Error::BadRequest(format!("pseudonym worker: {e}")))?
}

/// How many records the server holds of the resident with this number.
pub async fn find(core: &std::sync::Arc<ServerCore>, phone: &PhoneNumber) -> Result<Found> {
    let p = pseudonym_of(core, phone).await?;
    let r = core.projection.resident_records(&p).await?;
    Ok(Found {
        checkins: r.checkins,
        shifts: r.shifts,
        requests: r.requests,
    })
}

/// One erasure at a time: two of the same person (one from the console,
/// one for late records) must not rebuild the same documents at once.
static ERASING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Erase the resident with this number, for admin `by`. `Ok(None)` when
/// the server holds no record of them: then nothing is changed.
pub async fn erase_resident(
    core: &std::sync::Arc<ServerCore>,
    phone: &PhoneNumber,
    by: &str,
) -> Result<Option<Erasure>> {
    let pseudonym = pseudonym_of(core, phone).await?;
    erase_pseudonym(core, &pseudonym, by).await
}

/// Erase records of an erased resident that arrived after their erasure
/// (the projector found them; see [`erasure_watch`]).
pub async fn erase_late(
    core: std::sync::Arc<ServerCore>,
    pseudonym: String,
) -> Result<Option<Erasure>> {
    erase_pseudonym(&core, &pseudonym, "erasure-watch").await
}

async fn erase_pseudonym(
    core: &std::sync::Arc<ServerCore>,
    pseudonym: &str,
    by: &str,
) -> Result<Option<Erasure>> {
    let _one_at_a_time = ERASING.lock().await;
    let pseudonym = pseudonym.to_string();
    // (hall, document) of every record that names them.
    let docs = core.projection.resident_documents(&pseudonym).await?;
    if docs.is_empty() {
        return Ok(None);
    }
    let tag = core.residents.watch_tag(&pseudonym);
    let earlier = core.projection.watched(&tag).await?;
    let id = earlier
        .clone()
        .unwrap_or_else(|| linli_core::ids::RecordId::new().to_string());
    let mut out = Erasure {
        id: id.clone(),
        records: 0,
        documents: 0,
        halls: Vec::new(),
    };
    // Distinct-resident counts: the days they came, under this erasure.
    core.projection.keep_erased_visits(&pseudonym, &id).await?;
    // Their number and names, from their sealed contacts: scrubbed from
    // the free text of their requests.
    let sealed = core.projection.resident_contacts(&pseudonym).await?;
    let mut scrub: Vec<String> = Vec::new();
    for s in &sealed {
        if let Ok(c) = core.residents.open_contact(s) {
            scrub.push(c.phone);
            scrub.extend(c.name);
        }
    }
    scrub.sort();
    scrub.dedup();
    let mut halls: Vec<String> = docs.iter().map(|(h, _)| h.clone()).collect();
    halls.dedup();
    for hall in &halls {
        let olds: Vec<String> = docs
            .iter()
            .filter(|(h, _)| h == hall)
            .map(|(_, d)| d.clone())
            .collect();
        let (p, scrub) = (pseudonym.clone(), scrub.clone());
        out.records += replace::replace_documents(core, hall, &olds, move |old| {
            erase::without_resident(old, &p, &scrub).map(|r| {
                let erased = r.erased;
                (r, erased)
            })
        })
        .await?;
        out.documents += olds.len();
        // Their points: the hall's grants and its stores' spends.
        let (records, documents) = crate::points::erase_volunteer(core, hall, &pseudonym).await?;
        out.records += records;
        out.documents += documents;
    }
    out.halls = halls;
    // Nothing of them is left to count them by.
    let at_ms = now_ms();
    core.projection
        .finish_erasure(&FinishedErasure {
            pseudonym: pseudonym.clone(),
            tag,
            erasure_id: id.clone(),
            by: by.to_string(),
            records: i64::try_from(out.records).unwrap_or(i64::MAX),
            documents: i64::try_from(out.documents).unwrap_or(i64::MAX),
            at_ms,
            watch_until_ms: at_ms + erasure_watch::ERASURE_WATCH_DAYS * 86_400_000,
        })
        .await?;
    core.residents.forget(&pseudonym);
    core.storage.scrub().await?;
    let after = format!("{} records in {} documents", out.records, out.documents);
    let action = if earlier.is_some() {
        "erase_resident_again"
    } else {
        "erase_resident"
    };
    core.tables
        .audit(by, action, &id, None, Some(&after), now_ms())
        .await?;
    tracing::info!(erasure = %id, records = out.records, documents = out.documents, "a resident was erased");
    Ok(Some(out))
}
