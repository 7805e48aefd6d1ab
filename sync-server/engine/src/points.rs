//! The server's side of redeeming points at the hall's 爱心超市 (issue 16;
//! the documents and the arithmetic are `linli_core::docs::points` and
//! `linli_core::escrow`).
//!
//! Each hall has one grants document, which the server alone writes: made
//! on first need, recorded as the hall's document of kind
//! [`GRANTS_KIND`] (so the share policy gives it to the hall's kiosks
//! read-only, as the calendar) and listed in the hall's directory under
//! [`GRANTS_ENTRY`], where kiosks find it. Kiosk stores' spends documents
//! are kiosk documents like ledgers: claimed by the kiosk that delivers
//! them, written by no one else, listed in the directory under their kind.
//! [`escrow_of`] reads a hall's rights from the server's copies, and
//! [`grant`] writes a grant only within what they allow.

use std::str::FromStr;

use linli_core::{
    docs::{
        DocKind, directory, erase_points,
        points::{self, Grant},
    },
    escrow::{self, Escrow, Shortfall},
    points_rules::PointsRules,
};
use samod::{AutomergeUrl, DocumentId};

use crate::{Error, Result, clock::now_ms, credit, replace, server::ServerCore};

pub use crate::db::GRANTS_KIND;
pub use linli_core::docs::points::GRANTS_ENTRY;

/// One grants document made at a time (per process; across instances
/// the hall's lease orders writes and the first recorded one is used).
static MAKING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn doc_id(id: &str) -> Result<DocumentId> {
    DocumentId::from_str(id).map_err(|e| Error::BadRequest(format!("document id {id}: {e}")))
}

/// The hall's directory, in its repo.
async fn directory_of(core: &ServerCore, hall_id: &str) -> Result<crate::repos::HallDoc> {
    let hall = core
        .tables
        .hall(hall_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("hall {hall_id}")))?;
    core.repos
        .find_in(hall_id, doc_id(&hall.directory_doc)?)
        .await?
        .ok_or_else(|| Error::NotFound(format!("the directory of hall {hall_id}")))
}

/// The hall's grants document, made (and listed) if it has none yet.
pub async fn grants_doc(core: &ServerCore, hall_id: &str) -> Result<DocumentId> {
    if let Some(id) = core.tables.hall_doc(hall_id, GRANTS_KIND).await? {
        return doc_id(&id);
    }
    let _one_at_a_time = MAKING.lock().await;
    if let Some(id) = core.tables.hall_doc(hall_id, GRANTS_KIND).await? {
        return doc_id(&id);
    }
    // The hall's directory first: a hall that does not exist gets nothing.
    let dir = directory_of(core, hall_id).await?;
    let made = core
        .repos
        .create_claimed(hall_id, &points::new_grants(hall_id)?, |id| async move {
            core.tables
                .insert_hall_doc(&id.to_string(), hall_id, GRANTS_KIND, now_ms())
                .await
        })
        .await?;
    made.confirmed().await?;
    let id = made.document_id().clone();
    let url = AutomergeUrl::from(&id).to_string();
    dir.with_document_async(move |d| directory::register(d, GRANTS_ENTRY, &url))
        .await??;
    dir.confirmed().await?;
    tracing::info!(hall = %hall_id, "the hall's grants document was made");
    // The first recorded one wins should another instance have made one
    // at the same moment.
    match core.tables.hall_doc(hall_id, GRANTS_KIND).await? {
        Some(first) => doc_id(&first),
        None => Ok(id),
    }
}

/// The hall's grants document, in its repo (made if it has none yet).
async fn grants_of(core: &ServerCore, hall_id: &str) -> Result<crate::repos::HallDoc> {
    core.repos
        .find_in(hall_id, grants_doc(core, hall_id).await?)
        .await?
        .ok_or_else(|| Error::NotFound(format!("the grants of hall {hall_id}")))
}

/// The hall's spends documents the server may count: those its directory
/// lists under a kiosk that has delivered them (claimed as that kiosk's).
/// An entry whose document has not reached the server yet is passed over:
/// asking a kiosk for a document before it is claimed would have the
/// repo refuse it from that kiosk for the rest of the connection (samod
/// keeps a share decision per connection), and it counts for nothing
/// until then (its store spent only what it was granted). An entry that
/// names another kiosk's store is passed over too (a store's id starts
/// with its kiosk's id and a dot), so a store's rights go only to the
/// kiosk that holds its document.
async fn hall_spends(core: &ServerCore, hall_id: &str) -> Result<Vec<(String, DocumentId)>> {
    let dir = directory_of(core, hall_id).await?;
    let entries = dir.with_document(|d| directory::entries(d))?;
    let mut out = Vec::new();
    for (key, url) in entries {
        let Some((DocKind::Spends, kiosk, spender)) = directory::parse_entry_key(&key) else {
            continue;
        };
        let Ok(url) = AutomergeUrl::from_str(&url) else {
            continue;
        };
        let id = url.document_id().clone();
        let its_own = spender
            .strip_prefix(kiosk)
            .is_some_and(|rest| rest.starts_with('.'));
        match core.tables.doc_owner(&id.to_string()).await? {
            Some(o)
                if its_own
                    && !o.retired
                    && o.hall_id == hall_id
                    && o.owner_kiosk.as_deref() == Some(kiosk) =>
            {
                out.push((spender.to_string(), id));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The hall's rights as the server's copies show them: its grants
/// document and the spends documents of [`hall_spends`].
pub async fn escrow_of(core: &ServerCore, hall_id: &str) -> Result<Escrow> {
    let grants_id = grants_doc(core, hall_id).await?;
    let mut spends = Vec::new();
    for (spender, id) in hall_spends(core, hall_id).await? {
        let Some(doc) = core.repos.find_in(hall_id, id.clone()).await? else {
            continue;
        };
        let doc = doc.with_document(|d| d.fork());
        // A document that says it is another store's is not counted as
        // either's.
        if points::spender_of(&doc).ok().as_deref() == Some(spender.as_str()) {
            spends.push(doc);
        } else {
            tracing::warn!(hall = %hall_id, doc = %id, "a spends document names another store: not counted");
        }
    }
    let grants = core
        .repos
        .find_in(hall_id, grants_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("the grants of hall {hall_id}")))?;
    let spends: Vec<&automerge::Automerge> = spends.iter().collect();
    Ok(grants.with_document(|g| Escrow::read(g, &spends))?)
}

/// Grant `g` in hall `hall_id`, if it fits beside what is committed of an
/// account whose total is `total`: `Ok(Err(shortfall))` changes nothing.
/// Returns once the hall's holder has the grant.
pub async fn grant(
    core: &ServerCore,
    hall_id: &str,
    g: Grant,
    total: u64,
) -> Result<std::result::Result<(), Shortfall>> {
    // Read and written under one lock: two grants never both fit in one
    // remainder.
    let _one_at_a_time = GRANTING.lock().await;
    let view = escrow_of(core, hall_id).await?;
    let grants = grants_of(core, hall_id).await?;
    let id = linli_core::ids::RecordId::new().to_string();
    let done = grants
        .with_document_async(move |d| escrow::grant(d, &view, &id, &g, total))
        .await??;
    if done.is_ok() {
        grants.confirmed().await?;
    }
    Ok(done)
}

/// One grant decided at a time (per process; across instances the hall's
/// holder is the one writer of its grants document).
static GRANTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a top-up granted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopUp {
    /// Grants written.
    pub grants: usize,
    /// Points granted, in all.
    pub points: u64,
    /// Items granted, in all.
    pub items: u64,
}

/// Bring every spender of the hall up to its share of each volunteer's
/// points and each item's stock, within what is left of each; publish
/// the shares, which a spender holding more hands back to
/// (`linli_core::node` does when connected), and the catalogue and
/// balances kiosks show.
///
/// The rule: an account's balance (its total less what was spent) is
/// shared evenly among the hall's spenders (rounded up, so a lone point
/// goes somewhere), a volunteer's share capped at what the hall's rules
/// let a kiosk hold (`PointsRule::offline_share`); a spender holding less
/// than its share is granted the difference, as far as the server may
/// still grant. Totals are the points volunteers earned in this hall
/// ([`crate::credit`]) and the catalogue's stock. A hall with no stock is
/// left alone.
pub async fn top_up(core: &ServerCore, hall_id: &str) -> Result<TopUp> {
    // A hall with nothing in stock has nothing to redeem: no shares to
    // keep, and no reading of its volunteers' shifts.
    let rules = credit::rules_of(core, hall_id).await?;
    let stock = core.tables.catalogue_stock(hall_id).await?;
    if stock.iter().all(|(_, n)| *n <= 0) {
        // Its kiosks still count points by its rules, once any are set.
        if !rules.versions().is_empty() {
            let grants = grants_of(core, hall_id).await?;
            if grants
                .with_document_async(move |d| points::publish_rules(d, &rules))
                .await??
            {
                grants.confirmed().await?;
            }
        }
        return Ok(TopUp::default());
    }
    let mut totals: std::collections::BTreeMap<String, (u64, bool)> = Default::default();
    for (span, earned) in credit::credited_shifts(core, hall_id).await? {
        // An erased volunteer's shifts still count as service, but their
        // points belong to no one any more: nothing to grant or show.
        if span.pseudonym == linli_core::model::ResidentRef::ERASED {
            continue;
        }
        if span.signed_out_ms.is_some() {
            totals
                .entry(format!("points:{}", span.pseudonym))
                .or_insert((0, true))
                .0 += earned;
        }
    }
    for (item, stock) in stock {
        totals.insert(
            format!("stock:{item}"),
            (u64::try_from(stock).unwrap_or(0), false),
        );
    }
    // One read of the hall's rights; each grant made here is added to it
    // (and `grant` checks each against a fresh read all the same). Shares
    // are among the stores still spending: a written-off one holds none,
    // and a store that closed itself is written off first.
    let mut view = escrow_of(core, hall_id).await?;
    if view
        .spenders()
        .iter()
        .any(|s| view.is_closed(s) && !view.is_retired(s))
    {
        write_off_closed(core, hall_id).await?;
        view = escrow_of(core, hall_id).await?;
    }
    let spenders: Vec<String> = spenders_of(core, hall_id)
        .await?
        .into_iter()
        .filter(|s| !view.is_retired(s))
        .collect();
    // Each store's share of each account, published beside the grants, so
    // a store holding more than its share (it came first and was granted
    // everything, or another kiosk asked) hands the rest back.
    let shares = share_out(&totals, &view, &spenders, rules.current().offline_share);
    publish(core, hall_id, &totals, &view, &shares, &rules).await?;
    let mut done = TopUp::default();
    if spenders.is_empty() {
        return Ok(done);
    }
    let mut added: std::collections::BTreeMap<(String, String), u64> = Default::default();
    let mut committed_more: std::collections::BTreeMap<String, u64> = Default::default();
    for (account, (total, is_points)) in totals {
        for spender in &spenders {
            let share = shares.of(spender, &account).unwrap_or(0);
            let key = (spender.clone(), account.clone());
            let held = view.available(spender, &account) + added.get(&key).copied().unwrap_or(0);
            let left = view
                .grantable(&account, total)
                .saturating_sub(committed_more.get(&account).copied().unwrap_or(0));
            let want = share.saturating_sub(held).min(left);
            if want == 0 {
                continue;
            }
            let g = Grant {
                spender: spender.clone(),
                part: points::Part {
                    account: account.clone(),
                    amount: want,
                },
                at_ms: now_ms(),
            };
            if grant(core, hall_id, g, total).await?.is_ok() {
                *added.entry(key).or_default() += want;
                *committed_more.entry(account.clone()).or_default() += want;
                done.grants += 1;
                if is_points {
                    done.points += want;
                } else {
                    done.items += want;
                }
            }
        }
    }
    if done.grants > 0 {
        tracing::info!(hall = %hall_id, grants = done.grants, points = done.points, items = done.items, "kiosks' shares of points and stock topped up");
    }
    Ok(done)
}

/// Each store's share of each account of `totals` (see [`top_up`]): the
/// balance shared evenly among `spenders`, rounded up, a volunteer's
/// capped at `most_per_kiosk`. A store whose ask stands
/// (`points::Want`: a volunteer at that kiosk redeeming more than it
/// holds) is given what it asked, within the balance and above the cap
/// (the volunteer is there, online); the others share what is left.
fn share_out(
    totals: &std::collections::BTreeMap<String, (u64, bool)>,
    view: &Escrow,
    spenders: &[String],
    most_per_kiosk: u64,
) -> points::Shares {
    let mut shares = points::Shares::default();
    for (account, (total, is_points)) in totals {
        let mut left = total.saturating_sub(view.consumed(account));
        let mut others = 0_u64;
        for spender in spenders {
            match view.wanted(spender, account) {
                Some(asked) => {
                    let given = asked.min(left);
                    left -= given;
                    shares
                        .by_store
                        .entry(spender.clone())
                        .or_default()
                        .insert(account.clone(), given);
                }
                None => others += 1,
            }
        }
        let each = if others == 0 {
            0
        } else {
            left.div_ceil(others)
        };
        let each = if *is_points {
            each.min(most_per_kiosk)
        } else {
            each
        };
        if !spenders.is_empty() {
            shares.each.insert(account.clone(), each);
        }
    }
    shares
}

/// Write the hall's catalogue and its volunteers' balances into its
/// grants document, where kiosks read what to offer and what a volunteer
/// has (written only when they changed). `totals` are [`top_up`]'s.
async fn publish(
    core: &ServerCore,
    hall_id: &str,
    totals: &std::collections::BTreeMap<String, (u64, bool)>,
    view: &Escrow,
    shares: &points::Shares,
    rules: &PointsRules,
) -> Result<()> {
    let catalogue = core
        .tables
        .points_catalogue(hall_id)
        .await?
        .into_iter()
        .map(|(item, points)| {
            let points = u64::try_from(points).unwrap_or(0);
            (item, points::Offer { points })
        })
        .collect();
    let spenders = view.spenders();
    let balances = totals
        .iter()
        .filter(|(_, (_, is_points))| *is_points)
        .map(|(account, (earned, _))| {
            let spent = spenders
                .iter()
                .map(|s| points::SpentBy {
                    spender: s.clone(),
                    // Lent beyond rights is gone from the balance too.
                    amount: view.spent_by(s, account) + view.owed_by(s, account),
                })
                .filter(|s| s.amount > 0)
                .collect();
            let earned = *earned;
            (account.clone(), points::Balance { earned, spent })
        })
        .collect();
    let grants = grants_of(core, hall_id).await?;
    let (shares, rules) = (shares.clone(), rules.clone());
    let changed = grants
        .with_document_async(move |d| points::publish(d, &catalogue, &balances, &shares, &rules))
        .await??;
    if changed {
        grants.confirmed().await?;
    }
    Ok(())
}

/// The spenders of a hall: the stores of [`hall_spends`].
async fn spenders_of(core: &ServerCore, hall_id: &str) -> Result<Vec<String>> {
    Ok(hall_spends(core, hall_id)
        .await?
        .into_iter()
        .map(|(spender, _)| spender)
        .collect())
}

/// Write off the stores of a revoked kiosk of hall `hall_id`: what each
/// had spent, as the server has it, stays spent; the rest of its rights
/// returns to the pool for the hall's other kiosks. A revoked kiosk never
/// syncs again, so what the server has is its last state. Returns how
/// many stores were written off.
pub async fn write_off_kiosk(core: &ServerCore, hall_id: &str, kiosk_id: &str) -> Result<usize> {
    let prefix = format!("{kiosk_id}.");
    let n = write_off(core, hall_id, |view, s| {
        s.starts_with(&prefix) && !view.is_retired(s)
    })
    .await?;
    if n > 0 {
        tracing::info!(hall = %hall_id, kiosk = %kiosk_id, stores = n, "a revoked kiosk's points written off");
    }
    Ok(n)
}

/// Write off the stores of hall `hall_id` that closed themselves (a kiosk
/// whose store was restored from an older copy closes it and carries on
/// as a new one, `linli_core::node`): the closure is the store's last
/// change, so with it the server has all the store ever wrote. What it
/// spent stays spent, even beyond its rights (a restored copy may have
/// spent again what its original had: counted, so later grants leave it
/// out); the rest returns to the pool. Returns how many were written off.
pub async fn write_off_closed(core: &ServerCore, hall_id: &str) -> Result<usize> {
    let n = write_off(core, hall_id, |view, s| {
        view.is_closed(s) && !view.is_retired(s)
    })
    .await?;
    if n > 0 {
        tracing::warn!(hall = %hall_id, stores = n, "kiosk stores restored from older copies written off");
    }
    Ok(n)
}

/// Write off the spenders of hall `hall_id` that `which` picks, as the
/// server's copies show them; how many.
async fn write_off(
    core: &ServerCore,
    hall_id: &str,
    which: impl Fn(&Escrow, &str) -> bool,
) -> Result<usize> {
    if core.tables.hall_doc(hall_id, GRANTS_KIND).await?.is_none() {
        return Ok(0);
    }
    let _one_at_a_time = GRANTING.lock().await;
    let view = escrow_of(core, hall_id).await?;
    let stores: Vec<String> = view
        .spenders()
        .into_iter()
        .filter(|s| which(&view, s))
        .collect();
    if stores.is_empty() {
        return Ok(0);
    }
    let grants = grants_of(core, hall_id).await?;
    let n = stores.len();
    grants
        .with_document_async(move |d| -> linli_core::Result<()> {
            for store in &stores {
                escrow::retire(d, &view, store, now_ms())?;
            }
            Ok(())
        })
        .await??;
    grants.confirmed().await?;
    Ok(n)
}

/// Rebuild hall `hall_id`'s grants document and its stores' spends
/// documents without the points of the volunteer `pseudonym` names (an
/// erasure, [`crate::erasure`]; `linli_core::docs::erase_points` says
/// how): the old ones are retired and deleted, the hall's kiosks read the
/// new grants and carry on in their new spends documents at their next
/// sync. Grants first, and no grant or write-off meanwhile (each reads
/// both), so the two never disagree on what a store holds for long, and
/// when they do, only by holding less. Returns the records that named
/// them and the documents rebuilt.
pub async fn erase_volunteer(
    core: &std::sync::Arc<ServerCore>,
    hall_id: &str,
    pseudonym: &str,
) -> Result<(usize, usize)> {
    let Some(grants_id) = core.tables.hall_doc(hall_id, GRANTS_KIND).await? else {
        return Ok((0, 0));
    };
    let _one_at_a_time = GRANTING.lock().await;
    let (mut records, mut documents) = (0, 0);
    let old = grants_of(core, hall_id).await?.with_document(|d| d.fork());
    let p = pseudonym.to_string();
    let rebuilt = tokio::task::spawn_blocking(move || -> linli_core::Result<_> {
        if !erase_points::names_volunteer(&old, &p)? {
            return Ok(None);
        }
        erase_points::grants_without_volunteer(&old, &p).map(Some)
    })
    .await
    .map_err(|e| Error::BadRequest(format!("rebuild worker: {e}")))??;
    if let Some((doc, named)) = rebuilt {
        replace_grants(core, hall_id, &grants_id, &doc).await?;
        records += named;
        documents += 1;
    }
    let mut olds = Vec::new();
    for (_, id) in hall_spends(core, hall_id).await? {
        let Some(doc) = core.repos.find_in(hall_id, id.clone()).await? else {
            continue;
        };
        if doc.with_document(|d| erase_points::names_volunteer(d, pseudonym))? {
            olds.push(id.to_string());
        }
    }
    if !olds.is_empty() {
        let p = pseudonym.to_string();
        records += replace::replace_documents(core, hall_id, &olds, move |old| {
            erase_points::spends_without_volunteer(old, &p).map(|r| {
                let n = r.erased;
                (r, n)
            })
        })
        .await?;
        documents += olds.len();
    }
    if documents > 0 {
        tracing::info!(hall = %hall_id, documents, "the hall's points documents rebuilt without an erased volunteer");
    }
    Ok((records, documents))
}

/// Make `doc` hall `hall_id`'s grants document in place of `old_id`:
/// recorded as the hall's before the old one is retired (so [`grants_doc`]
/// never finds none and makes an empty one), listed in the directory in
/// its place, the old one deleted.
async fn replace_grants(
    core: &ServerCore,
    hall_id: &str,
    old_id: &str,
    doc: &automerge::Automerge,
) -> Result<()> {
    let made = core
        .repos
        .create_claimed(hall_id, doc, |id| async move {
            core.tables
                .insert_hall_doc(&id.to_string(), hall_id, GRANTS_KIND, now_ms())
                .await
        })
        .await?;
    made.confirmed().await?;
    let new_id = made.document_id().clone();
    drop(made);
    // With the hall's repo stopped, nothing holds the old one in memory;
    // once retired, no repo loads, stores or shares it again.
    let retiring = [old_id.to_string()];
    core.repos
        .with_hall_stopped(hall_id, || {
            core.tables.retire_documents(&retiring, now_ms())
        })
        .await?;
    let dir = directory_of(core, hall_id).await?;
    let (old, url) = (old_id.to_string(), AutomergeUrl::from(&new_id).to_string());
    dir.with_document_async(move |d| directory::retire(d, GRANTS_ENTRY, &old, &url))
        .await??;
    dir.confirmed().await?;
    core.storage.delete_document(old_id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escrow_with_ask(ask: Option<(u64, i64)>) -> Escrow {
        let grants = points::new_grants("xianfeng").expect("grants");
        let mut a = points::new_spends("xianfeng", "k1", "k1.a").expect("spends");
        let b = points::new_spends("xianfeng", "k2", "k2.b").expect("spends");
        if let Some((amount, at_ms)) = ask {
            let want = points::Want {
                account: "points:p".into(),
                amount,
                at_ms,
            };
            points::put_want(&mut a, "w1", &want).expect("want");
        }
        Escrow::read(&grants, &[&a, &b]).expect("escrow")
    }

    #[test]
    fn a_store_that_asks_is_given_what_it_asked_and_the_others_share_the_rest() {
        let totals: std::collections::BTreeMap<String, (u64, bool)> = [
            ("points:p".to_string(), (300, true)),
            ("stock:rice".to_string(), (3, false)),
        ]
        .into();
        let spenders = ["k1.a".to_string(), "k2.b".to_string()];
        // No ask: halved, a volunteer's capped at 200 a kiosk.
        let even = share_out(&totals, &escrow_with_ask(None), &spenders, 200);
        assert_eq!(even.of("k1.a", "points:p"), Some(150));
        assert_eq!(even.of("k2.b", "stock:rice"), Some(2));
        let capped = share_out(&totals, &escrow_with_ask(None), &spenders, 100);
        assert_eq!(capped.of("k1.a", "points:p"), Some(100));
        // k1.a asks for 250 (more than the cap: the volunteer is there).
        let asked = share_out(
            &totals,
            &escrow_with_ask(Some((250, 1_000))),
            &spenders,
            200,
        );
        assert_eq!(asked.of("k1.a", "points:p"), Some(250));
        assert_eq!(asked.of("k2.b", "points:p"), Some(50));
        assert_eq!(
            asked.of("k1.a", "stock:rice"),
            Some(2),
            "stock not asked for"
        );
        // An ask beyond the balance gets the balance; a withdrawn one
        // nothing.
        let greedy = share_out(
            &totals,
            &escrow_with_ask(Some((900, 1_000))),
            &spenders,
            200,
        );
        assert_eq!(
            (greedy.of("k1.a", "points:p"), greedy.of("k2.b", "points:p")),
            (Some(300), Some(0))
        );
        let withdrawn = share_out(&totals, &escrow_with_ask(Some((0, 1_000))), &spenders, 200);
        assert_eq!(withdrawn.of("k1.a", "points:p"), Some(150));
    }
}
