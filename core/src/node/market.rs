//! Redeeming volunteer points at the hall's 爱心超市 on this kiosk (issue
//! 16; DESIGN.md decision 12): what this kiosk's store may spend is what
//! the server granted it, read from the hall's grants document, less what
//! it spent, read from its own spends document; a redemption is checked
//! against those two copies alone, so it works offline and never spends
//! what another kiosk may spend. The grants document also carries the
//! catalogue the kiosk offers and each volunteer's points as the server
//! last counted them.

use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::Ordering},
};

use super::{KioskNode, META_SPENDER, Shared, blocking, doc_for, record_locked};
use crate::{
    Error, Result,
    docs::{
        DocKind,
        points::{self, Balance, Offer, points_account},
    },
    escrow::Escrow,
    ids::RecordId,
    node::journal::Entry,
    phone::PhoneNumber,
    points_rules::PointsRules,
};

/// What redeeming at this kiosk came to (`KioskNode::redeem`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redemption {
    /// Redeemed: the record, and the reference the receipt shows.
    Redeemed {
        /// The spend's record id.
        id: String,
        /// Short reference on the receipt.
        reference: String,
        /// Of the points, what this kiosk lent (赊兑; 0 but through
        /// [`KioskNode::redeem_on_credit`]).
        owed: u64,
    },
    /// Refused: this kiosk holds too little of the volunteer's points or
    /// of the item's stock. What it holds of each, so the kiosk can say
    /// "此终端离线可兑换 N 分".
    Refused {
        /// The volunteer's points this kiosk may still redeem.
        points_here: u64,
        /// Of the item, what this kiosk may still hand over.
        stock_here: u64,
    },
    /// The hall's catalogue, as this kiosk has it, does not offer the
    /// item (or offers it at another price than the one agreed).
    NotOffered,
}

/// The account of an item's stock.
fn stock_account(item: &str) -> String {
    format!("stock:{item}")
}

/// What this kiosk offers a volunteer (the volunteer screen's
/// 爱心超市 part).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shop {
    /// The volunteer's points in the hall: as the server last counted
    /// them, less what this kiosk spent since. `None` until the server
    /// has counted any.
    pub balance: Option<u64>,
    /// Of them, what this kiosk may redeem now.
    pub points_here: u64,
    /// What this kiosk may still lend them beyond that, offline, on
    /// staff's confirmation (0 unless the hall's rules allow lending).
    pub lend_here: u64,
    /// The hall's items, cheapest first.
    pub items: Vec<ShopItem>,
}

/// One item on offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShopItem {
    /// The item (its name in the catalogue).
    pub item: String,
    /// Points it costs.
    pub points: u64,
    /// How many this kiosk may hand over now.
    pub stock_here: u64,
}

/// What this kiosk's copies say, read at once.
struct Here {
    rights: Escrow,
    catalogue: BTreeMap<String, Offer>,
    balance: Option<Balance>,
    /// What the server would have each store hold of each account.
    shares: points::Shares,
}

/// The rights this kiosk holds as its copies show them (all records
/// applied first): the hall's grants and this store's spends; with the
/// catalogue and the shares, and `account`'s balance if asked.
async fn here(shared: &Arc<Shared>, spender: &str, account: Option<&str>) -> Result<Here> {
    shared.applier.settled().await;
    let grants = shared.grants.lock().map_err(|_| Error::Stopped)?.clone();
    let Some(grants) = grants else {
        // No grants seen yet: nothing to spend, nothing offered.
        return Ok(Here {
            rights: Escrow::default(),
            catalogue: BTreeMap::new(),
            balance: None,
            shares: points::Shares::default(),
        });
    };
    let spends = doc_for(shared, DocKind::Spends, spender).await?;
    let spends = spends.with_document(|d| d.fork());
    grants.with_document(|g| {
        Ok(Here {
            rights: Escrow::read(g, &[&spends])?,
            catalogue: points::catalogue(g)?,
            balance: match account {
                Some(a) => points::balance(g, a)?,
                None => None,
            },
            shares: points::shares(g)?,
        })
    })
}

/// The hall's points rules as this kiosk's copy of the grants document
/// has them (the default until the server published any).
pub(super) fn rules_here(shared: &Arc<Shared>) -> Result<PointsRules> {
    let grants = shared.grants.lock().map_err(|_| Error::Stopped)?.clone();
    match grants {
        Some(g) => g.with_document(|d| points::rules(d)),
        None => Ok(PointsRules::default()),
    }
}

/// Hand back what this store holds above the share the server last
/// published of each account, so the hall's other kiosks can be granted
/// it: a kiosk that came first and was granted everything gives the
/// later ones their part. Only once the grants document changed since
/// the last look (a store's own spending never puts it above a share).
/// Each handback is journalled like a redemption, under the recording
/// lock. Returns how many were written.
pub(super) async fn hand_back_excess(shared: &Arc<Shared>) -> Result<usize> {
    let grants = shared.grants.lock().map_err(|_| Error::Stopped)?.clone();
    let Some(grants) = grants else { return Ok(0) };
    let heads = grants.with_document(|d| d.get_heads());
    if *shared.grants_seen.lock().map_err(|_| Error::Stopped)? == heads {
        return Ok(0);
    }
    let spender = spender_of(shared).await?;
    let _one_at_a_time = shared.recording.lock().await;
    let here = here(shared, &spender, None).await?;
    let mut written = 0;
    for account in here.rights.accounts_of(&spender) {
        let Some(share) = here.shares.of(&spender, &account) else {
            continue;
        };
        let excess = here
            .rights
            .available(&spender, &account)
            .saturating_sub(share);
        if excess == 0 {
            continue;
        }
        let handback = points::Handback {
            part: points::Part {
                account: account.clone(),
                amount: excess,
            },
            at_ms: (shared.clock)(),
        };
        handback.part.validate()?;
        record_spends(
            shared,
            &spender,
            points::HANDBACKS,
            &handback,
            None,
            handback.at_ms,
        )
        .await?;
        written += 1;
    }
    if written > 0 {
        tracing::info!(
            handbacks = written,
            "handed back what this kiosk held above its shares"
        );
    }
    *shared.grants_seen.lock().map_err(|_| Error::Stopped)? = heads;
    Ok(written)
}

impl KioskNode {
    /// This kiosk store's spender id for redemption: made on first need
    /// and kept in the journal (a store restored from a copy is written
    /// off by the server and paired anew).
    pub async fn spender(&self) -> Result<String> {
        spender_of(&self.shared).await
    }

    async fn here(&self, spender: &str, account: Option<&str>) -> Result<Here> {
        here(&self.shared, spender, account).await
    }

    /// What this kiosk offers the volunteer with number `phone`: their
    /// balance, what of it this kiosk may redeem, and the hall's items
    /// with what this kiosk holds of each.
    pub async fn shop(&self, phone: &PhoneNumber) -> Result<Shop> {
        let account = points_account(&self.pseudonym(phone).await?);
        let spender = self.spender().await?;
        let here = self.here(&spender, Some(&account)).await?;
        let mut items: Vec<ShopItem> = here
            .catalogue
            .into_iter()
            .map(|(item, offer)| ShopItem {
                stock_here: here.rights.available(&spender, &stock_account(&item)),
                item,
                points: offer.points,
            })
            .collect();
        items.sort_by(|a, b| a.points.cmp(&b.points).then_with(|| a.item.cmp(&b.item)));
        let own =
            here.rights.spent_by(&spender, &account) + here.rights.owed_by(&spender, &account);
        let iou_cap = rules_here(&self.shared)?.current().iou_cap;
        Ok(Shop {
            balance: here.balance.map(|b| b.left_for(&spender, own)),
            points_here: here.rights.available(&spender, &account),
            lend_here: iou_cap.saturating_sub(here.rights.owed_by(&spender, &account)),
            items,
        })
    }

    /// The hall's points rules as this kiosk has them (the default until
    /// the server published any): how it counts a volunteer's points
    /// before the server has.
    pub async fn points_rules(&self) -> Result<PointsRules> {
        self.shared.applier.settled().await;
        rules_here(&self.shared)
    }

    /// A volunteer's points this kiosk may redeem now (what the server
    /// granted it, less what it spent).
    pub async fn points_here(&self, phone: &PhoneNumber) -> Result<u64> {
        let account = points_account(&self.pseudonym(phone).await?);
        let spender = self.spender().await?;
        Ok(self
            .here(&spender, None)
            .await?
            .rights
            .available(&spender, &account))
    }

    /// Of catalogue item `item`, how many this kiosk may hand over now.
    pub async fn stock_here(&self, item: &str) -> Result<u64> {
        let spender = self.spender().await?;
        Ok(self
            .here(&spender, None)
            .await?
            .rights
            .available(&spender, &stock_account(item)))
    }

    /// Redeem one of catalogue item `item` for the `points` the
    /// volunteer agreed to, if the hall's catalogue offers it at that
    /// price and this kiosk holds both the points and the item: checked
    /// against this kiosk's own rights (DESIGN.md decision 12), so it
    /// works offline and never spends what another kiosk may spend. On the
    /// journal before it returns, like any record.
    pub async fn redeem(&self, phone: &PhoneNumber, item: &str, points: u64) -> Result<Redemption> {
        self.redeem_as(phone, item, points, false).await
    }

    /// Redeem as [`KioskNode::redeem`] does, but should this kiosk hold
    /// too few of the volunteer's points, lend them the rest (赊兑): only
    /// when the hall's rules allow it (`PointsRule::iou_cap`, per
    /// volunteer and kiosk, counting what this kiosk lent them before),
    /// only if their balance as the server last counted it covers the
    /// item, and only with the item itself in hand. Staff confirm it at
    /// the kiosk; the console flags it. What is lent is owed from the
    /// volunteer's balance: the server grants it to no one.
    pub async fn redeem_on_credit(
        &self,
        phone: &PhoneNumber,
        item: &str,
        points: u64,
    ) -> Result<Redemption> {
        self.redeem_as(phone, item, points, true).await
    }

    async fn redeem_as(
        &self,
        phone: &PhoneNumber,
        item: &str,
        points: u64,
        may_lend: bool,
    ) -> Result<Redemption> {
        let pseudonym = self.pseudonym(phone).await?;
        let spender = self.spender().await?;
        let account = points_account(&pseudonym);
        let at_ms = self.now_ms();
        // Checked and written under the recording lock, after every
        // earlier record is in its document: two taps never both fit in
        // one remainder.
        let _one_at_a_time = self.shared.recording.lock().await;
        let here = self.here(&spender, Some(&account)).await?;
        if here.catalogue.get(item).map(|o| o.points) != Some(points) {
            return Ok(Redemption::NotOffered);
        }
        let rights = &here.rights;
        let points_here = rights.available(&spender, &account);
        let stock_here = rights.available(&spender, &stock_account(item));
        let lend = if points <= points_here || stock_here == 0 || !may_lend {
            0
        } else {
            let rule = rules_here(&self.shared)?.current();
            let room = rule
                .iou_cap
                .saturating_sub(rights.owed_by(&spender, &account));
            let own = rights.spent_by(&spender, &account) + rights.owed_by(&spender, &account);
            let balance = here
                .balance
                .as_ref()
                .map_or(0, |b| b.left_for(&spender, own));
            let need = points - points_here;
            if need <= room && points <= balance {
                need
            } else {
                0
            }
        };
        if (points > points_here + lend) || stock_here == 0 {
            return Ok(Redemption::Refused {
                points_here,
                stock_here,
            });
        }
        let covered = points - lend;
        let mut parts = Vec::new();
        if covered > 0 {
            parts.push(points::Part {
                account: account.clone(),
                amount: covered,
            });
        }
        parts.push(points::Part {
            account: stock_account(item),
            amount: 1,
        });
        let spend = points::Spend {
            parts,
            purpose: item.to_string(),
            at_ms,
            owed: (lend > 0).then(|| points::Part {
                account: account.clone(),
                amount: lend,
            }),
        };
        spend.validate()?;
        let id = record_spends(
            &self.shared,
            &spender,
            points::SPENDS,
            &spend,
            Some(pseudonym),
            spend.at_ms,
        )
        .await?;
        if lend > 0 {
            tracing::info!(points = lend, "points lent on staff's confirmation");
        }
        Ok(Redemption::Redeemed {
            id: id.to_string(),
            reference: id.short_reference(),
            owed: lend,
        })
    }

    /// Redeem as [`KioskNode::redeem`] does; but when this kiosk holds too
    /// little of the volunteer's points or of the item while the hall
    /// holds enough (the server's count of their balance covers it) and
    /// the kiosk is online, ask the server to move what is missing here
    /// (a [`points::Want`]: the hall's other kiosks' shares shrink, they
    /// hand back, the server grants) and wait up to `patience` for it,
    /// then try again. The ask is withdrawn afterwards, whatever came of
    /// it. Offline it answers at once, as `redeem`.
    pub async fn redeem_or_ask(
        &self,
        phone: &PhoneNumber,
        item: &str,
        points: u64,
        patience: std::time::Duration,
    ) -> Result<Redemption> {
        let first = self.redeem(phone, item, points).await?;
        let Redemption::Refused {
            points_here,
            stock_here,
        } = first
        else {
            return Ok(first);
        };
        if !self.status().borrow().online || self.shop(phone).await?.balance.unwrap_or(0) < points {
            return Ok(first);
        }
        let pseudonym = self.pseudonym(phone).await?;
        let mut asks = Vec::new();
        if points_here < points {
            asks.push((points_account(&pseudonym), points));
        }
        if stock_here == 0 {
            asks.push((stock_account(item), 1));
        }
        self.shared.asking.fetch_add(1, Ordering::AcqRel);
        let asked = self
            .ask_and_redeem(phone, item, points, &asks, patience)
            .await;
        self.shared.asking.fetch_sub(1, Ordering::AcqRel);
        // Withdrawn whatever came of it.
        let withdrawn: Vec<(String, u64)> = asks.into_iter().map(|(a, _)| (a, 0)).collect();
        self.want(&withdrawn).await?;
        asked
    }

    /// [`KioskNode::redeem_or_ask`]'s ask, wait and second try.
    async fn ask_and_redeem(
        &self,
        phone: &PhoneNumber,
        item: &str,
        points: u64,
        asks: &[(String, u64)],
        patience: std::time::Duration,
    ) -> Result<Redemption> {
        self.want(asks).await?;
        let spender = self.spender().await?;
        let deadline = tokio::time::Instant::now() + patience;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            let rights = self.here(&spender, None).await?.rights;
            if asks
                .iter()
                .all(|(account, amount)| rights.available(&spender, account) >= *amount)
            {
                break;
            }
        }
        self.redeem(phone, item, points).await
    }

    /// Journal and write this store's asks: to hold `amount` of each
    /// account in all (0 withdraws an ask).
    async fn want(&self, asks: &[(String, u64)]) -> Result<()> {
        want(&self.shared, asks).await
    }

    /// The samod document id of this store's spends document, if made.
    pub async fn spends_id(&self) -> Result<Option<String>> {
        let spender = self.spender().await?;
        let j = self.shared.journal.clone();
        Ok(blocking(move || j.doc(DocKind::Spends, &spender))
            .await?
            .map(|r| r.doc_id))
    }
}

/// Journal and write this store's asks (`points::Want`): to hold
/// `amount` of each account in all (0 withdraws an ask).
async fn want(shared: &Arc<Shared>, asks: &[(String, u64)]) -> Result<()> {
    let spender = spender_of(shared).await?;
    let _one_at_a_time = shared.recording.lock().await;
    for (account, amount) in asks {
        let want = points::Want {
            account: account.clone(),
            amount: *amount,
            at_ms: (shared.clock)(),
        };
        want.validate()?;
        record_spends(shared, &spender, points::WANTS, &want, None, want.at_ms).await?;
    }
    Ok(())
}

/// Journal `record` in map `map` of this store's spends document, then
/// write it there (`record_locked`: the caller holds the recording lock);
/// `phone_hash` is the volunteer it is found by, if any. Returns its id.
async fn record_spends<T: serde::Serialize>(
    shared: &Arc<Shared>,
    spender: &str,
    map: &str,
    record: &T,
    phone_hash: Option<String>,
    at_ms: i64,
) -> Result<RecordId> {
    let value =
        serde_json::to_value(record).map_err(|e| Error::invalid("record", e.to_string()))?;
    let id = RecordId::new();
    let entry = Entry {
        record_id: id.to_string(),
        doc_kind: DocKind::Spends,
        period: spender.to_string(),
        map: map.to_string(),
        payload: value.to_string(),
        activity_id: None,
        phone_hash,
        created_ms: at_ms,
    };
    record_locked(
        shared,
        DocKind::Spends,
        spender,
        entry,
        map,
        id,
        value,
        false,
    )
    .await?;
    Ok(id)
}

/// Withdraw the asks of this store that still stand while no redemption
/// is asking (left by a run that lost power mid-redemption): a standing
/// ask would keep the hall's points at this kiosk. Returns how many, or
/// `None` until the hall's grants document is here to read them with.
pub(super) async fn withdraw_standing_asks(shared: &Arc<Shared>) -> Result<Option<usize>> {
    if shared.asking.load(Ordering::Acquire) > 0
        || shared.grants.lock().map_err(|_| Error::Stopped)?.is_none()
    {
        return Ok(None);
    }
    let spender = spender_of(shared).await?;
    let standing = here(shared, &spender, None)
        .await?
        .rights
        .asked_by(&spender);
    if standing.is_empty() {
        return Ok(Some(0));
    }
    let n = standing.len();
    let withdrawn: Vec<(String, u64)> = standing.into_iter().map(|a| (a, 0)).collect();
    want(shared, &withdrawn).await?;
    tracing::info!(asks = n, "asks left standing by an earlier run withdrawn");
    Ok(Some(n))
}

/// This store's spender id, made on first need: the kiosk's id, a dot and
/// a new random id (the server grants a store's rights only to the kiosk
/// its id names). A store paired anew (another kiosk id) is a new
/// spender: the old one's rights were its old kiosk's, which the server
/// writes off when that kiosk is revoked.
pub(super) async fn spender_of(shared: &Arc<Shared>) -> Result<String> {
    let j = shared.journal.clone();
    let kiosk = shared.config.kiosk_id.clone();
    blocking(move || {
        if let Some(s) = j.meta(META_SPENDER)?
            && s.strip_prefix(kiosk.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
        {
            return Ok(s);
        }
        let s = format!("{kiosk}.{}", RecordId::new());
        j.set_meta(&[(META_SPENDER, &s)])?;
        Ok(s)
    })
    .await
}

/// Close store `spender`, restored from a copy, in favour of a new store
/// of this kiosk, unless it is `closed` already; the store that carries
/// on. The caller holds the recording lock.
async fn close_store(
    shared: &Arc<Shared>,
    spender: &str,
    closed: Option<points::Closure>,
) -> Result<String> {
    if let Some(c) = closed {
        return Ok(c.successor);
    }
    let successor = format!("{}.{}", shared.config.kiosk_id, RecordId::new());
    let closure = points::Closure {
        successor: successor.clone(),
        reason: "restored".into(),
        at_ms: (shared.clock)(),
    };
    record_spends(
        shared,
        spender,
        points::CLOSED,
        &closure,
        None,
        closure.at_ms,
    )
    .await?;
    Ok(successor)
}

/// If the operator restored this kiosk's store from a copy with
/// `linli-kiosk restore` (`node::restore`), close its points store now,
/// at start and with no network needed, before any redemption: the copy
/// may hold rights its original spent after the copy was taken. A new
/// store carries on, granted afresh once the server has the old one's
/// closure. Returns whether it closed one.
pub(super) async fn close_if_restored(shared: &Arc<Shared>) -> Result<bool> {
    let j = shared.journal.clone();
    let (marked, spender) = blocking(move || {
        Ok((
            j.meta(super::restore::META_RESTORED)?,
            j.meta(META_SPENDER)?,
        ))
    })
    .await?;
    if marked.as_deref().unwrap_or("").is_empty() {
        return Ok(false);
    }
    let kiosk = shared.config.kiosk_id.as_str();
    let Some(spender) = spender.filter(|s| {
        s.strip_prefix(kiosk)
            .is_some_and(|rest| rest.starts_with('.'))
    }) else {
        // It never redeemed (or was paired anew since): nothing to close.
        let j = shared.journal.clone();
        blocking(move || j.set_meta(&[(super::restore::META_RESTORED, "")])).await?;
        return Ok(false);
    };
    let _one_at_a_time = shared.recording.lock().await;
    shared.applier.settled().await;
    let handle = doc_for(shared, DocKind::Spends, &spender).await?;
    let closed = handle.with_document(|d| points::closure(d))?;
    // Closed already if power went before the new store was taken up.
    let successor = close_store(shared, &spender, closed).await?;
    // One transaction: the new store, and the mark done.
    let j = shared.journal.clone();
    blocking(move || {
        j.set_meta(&[
            (META_SPENDER, &successor),
            (super::restore::META_RESTORED, ""),
        ])
    })
    .await?;
    tracing::warn!(
        "this kiosk's store was restored from a copy: its points store is closed and a new one carries on"
    );
    Ok(true)
}

/// If this store's spends document holds records its journal never
/// wrote, the store was restored from an older copy (its spends
/// document has one writer, and every record is journalled before it is
/// written): the copy may already have spent again what its original
/// spent after the copy was taken. It must spend no more as that store:
/// it closes it (the server, once it has the closure, has all the store
/// ever wrote and writes it off, what it spent counted) and carries on as
/// a new store, granted afresh. Returns whether it did.
pub(super) async fn carry_on_if_restored(shared: &Arc<Shared>) -> Result<bool> {
    let spender = spender_of(shared).await?;
    let handle = doc_for(shared, DocKind::Spends, &spender).await?;
    let heads = handle.with_document(|d| d.get_heads());
    if *shared.spends_seen.lock().map_err(|_| Error::Stopped)? == heads {
        return Ok(false);
    }
    let _one_at_a_time = shared.recording.lock().await;
    shared.applier.settled().await;
    let j = shared.journal.clone();
    let period = spender.clone();
    let known: std::collections::HashSet<String> =
        blocking(move || j.of_document(DocKind::Spends, &period))
            .await?
            .into_iter()
            .map(|e| e.record_id)
            .collect();
    let (heads, never_written, closed) = handle.with_document(|d| -> Result<_> {
        let ids: Vec<String> = points::spends(d)?
            .into_iter()
            .map(|(id, _)| id)
            .chain(points::handbacks(d)?.into_iter().map(|(id, _)| id))
            .collect();
        let never_written = ids.iter().filter(|id| !known.contains(*id)).count();
        Ok((d.get_heads(), never_written, points::closure(d)?))
    })?;
    let successor = match closed {
        // Closed already (a crash came before the new store was taken up).
        Some(c) => c.successor,
        None if never_written == 0 => {
            *shared.spends_seen.lock().map_err(|_| Error::Stopped)? = heads;
            return Ok(false);
        }
        None => {
            let successor = close_store(shared, &spender, None).await?;
            tracing::warn!(
                records = never_written,
                "this kiosk's store was restored from an older copy: its points store is closed and a new one carries on"
            );
            successor
        }
    };
    let j = shared.journal.clone();
    blocking(move || j.set_meta(&[(META_SPENDER, &successor)])).await?;
    shared
        .spends_seen
        .lock()
        .map_err(|_| Error::Stopped)?
        .clear();
    Ok(true)
}
