//! The two documents behind redeeming volunteer points at the hall's
//! 爱心超市 (DESIGN.md decision 12; the arithmetic is [`crate::escrow`]).
//!
//! - The **grants** document of a hall, written by the server alone: each
//!   grant gives one *spender* (a kiosk's store) the right to spend an
//!   amount of one *account* (a volunteer's points, or an item's stock);
//!   a spender the server has written off (its kiosk revoked or replaced)
//!   is listed once with what it had spent by then.
//! - A **spends** document per spender, written by that spender alone: what
//!   it spent (a redemption debits several accounts in one record) and the
//!   rights it handed back unused.
//!
//! Every record is written once, under a new id, and never changed: every
//! field has one writer and the sums only grow, so whichever order copies
//! merge in, a spender never finds it has spent more than it was granted.

use std::collections::BTreeMap;

use automerge::{Automerge, ROOT, ReadDoc, transaction::Transactable};
use autosurgeon::{Hydrate, Reconcile};

use super::{
    has_record, map_obj, put_record, read_record, read_str, read_u64, record_keys, schema_err,
};
use crate::{
    Error, Result,
    points_rules::{PointsRule, PointsRules},
};

/// `schema` of a hall's grants document.
pub const GRANTS_SCHEMA: &str = "linli.grants";
/// `schema` of a spender's spends document.
pub const SPENDS_SCHEMA: &str = "linli.spends";
/// The version of both shapes this build writes and reads.
pub const POINTS_VERSION: u64 = 1;

/// Grants, by id (grants document).
pub const GRANTS: &str = "grants";
/// Written-off spenders, by spender id (grants document).
pub const RETIRED: &str = "retired";
/// Spends, by id (spends document).
pub const SPENDS: &str = "spends";
/// Rights handed back, by id (spends document).
pub const HANDBACKS: &str = "handbacks";
/// What a store asked to hold, by id (spends document; made on first
/// use, so older documents lack it).
pub const WANTS: &str = "wants";
/// What the server would have particular stores hold, by spender, then
/// by account (grants document): a store that asked for more than its
/// share (`Want`) gets it here while the others' shares shrink.
pub const STORE_SHARES: &str = "store_shares";
/// The store's closing record, if closed (spends document, a field of
/// the root rather than a record map: a store is closed once).
pub const CLOSED: &str = "closed";
/// The hall's 爱心超市 items and their points, by item (grants document):
/// what a kiosk offers.
pub const CATALOGUE: &str = "catalogue";
/// Volunteers' points as the server last counted them, by account
/// (grants document): what a kiosk shows as a balance.
pub const BALANCES: &str = "balances";
/// What the server would have each spender hold of each account, by
/// account (grants document): a spender holding more hands the rest back.
pub const SHARES: &str = "shares";

/// The hall's points rules, every version, by start (grants document):
/// how a kiosk counts points the server has not counted yet.
pub const RULES: &str = "rules";

/// The grants document's entry in the hall's directory, where kiosks find
/// it.
pub const GRANTS_ENTRY: &str = "grants";

/// The most of one account a single record may move: far above any
/// hall's points or stock, so a larger figure is a forged or broken record.
pub const MAX_AMOUNT: u64 = 1_000_000;
/// The longest account name (`points:` and a pseudonym, `stock:` and an
/// item id).
pub const MAX_ACCOUNT_LEN: usize = 128;

/// The account of a volunteer's points, by pseudonym.
pub fn points_account(pseudonym: &str) -> String {
    format!("points:{pseudonym}")
}

/// An amount of one account.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, serde::Serialize, serde::Deserialize)]
pub struct Part {
    /// The account: `points:<pseudonym>` or `stock:<item id>`.
    pub account: String,
    /// How much (at least 1).
    pub amount: u64,
}

impl Part {
    /// A well-formed part: a named account and an amount in range.
    pub fn validate(&self) -> Result<()> {
        if self.account.is_empty() || self.account.len() > MAX_ACCOUNT_LEN {
            return Err(Error::invalid(
                "account",
                format!("{} characters", self.account.len()),
            ));
        }
        if self.amount == 0 || self.amount > MAX_AMOUNT {
            return Err(Error::invalid(
                "amount",
                format!("{} (1 to {MAX_AMOUNT})", self.amount),
            ));
        }
        Ok(())
    }
}

/// The server's grant of rights to one spender.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Grant {
    /// The spender the rights are for.
    pub spender: String,
    /// What it may spend.
    pub part: Part,
    /// When the server granted it (ms).
    pub at_ms: i64,
}

/// A spender the server wrote off, and what it had spent by then: that
/// stays spent, and the rest of its rights return to the server's pool.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Retirement {
    /// What it had spent, per account, when written off.
    pub spent: Vec<Part>,
    /// When (ms).
    pub at_ms: i64,
}

/// What a spender spent in one go (a redemption debits the volunteer's
/// points and the item's stock together).
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, serde::Serialize, serde::Deserialize)]
pub struct Spend {
    /// Each account debited (one part per account).
    pub parts: Vec<Part>,
    /// What it was for (the catalogue item's id).
    pub purpose: String,
    /// When (ms, the kiosk's clock).
    pub at_ms: i64,
    /// Points the store lent the volunteer beyond its rights (赊兑: it
    /// held too few of their points, offline, and staff confirmed, within
    /// the hall's `PointsRule::iou_cap`): owed from their balance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(hydrate = "crate::docs::values::opt")]
    pub owed: Option<Part>,
}

impl Spend {
    /// Well-formed: at least one part, each valid, no account twice.
    pub fn validate(&self) -> Result<()> {
        if self.parts.is_empty() {
            return Err(Error::invalid("spend", "debits nothing"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.parts {
            p.validate()?;
            if !seen.insert(p.account.as_str()) {
                return Err(Error::invalid("spend", "an account debited twice"));
            }
        }
        if let Some(owed) = &self.owed {
            owed.validate()?;
            if !owed.account.starts_with("points:") {
                return Err(Error::invalid("spend", "only points are lent"));
            }
        }
        Ok(())
    }
}

/// A store's ask to hold `part.amount` of an account in all, so a
/// volunteer can redeem here what the hall's other kiosks hold part of
/// (the server moves it: their shares shrink, they hand back, it
/// grants). The store's latest ask of an account stands until it
/// withdraws it with an amount of 0: once the redemption is done, or at
/// its next start should it have lost power while asking. (Not by a
/// time: kiosk clocks in a hall with no network drift.)
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, serde::Serialize, serde::Deserialize)]
pub struct Want {
    /// The account, and what the store wants to hold of it (0: no more).
    pub account: String,
    /// How much in all.
    pub amount: u64,
    /// When (ms, the kiosk's clock).
    pub at_ms: i64,
}

impl Want {
    /// A named account and an amount in range.
    pub fn validate(&self) -> Result<()> {
        Part {
            account: self.account.clone(),
            amount: self.amount.max(1),
        }
        .validate()
    }
}

/// A store's last record: it spends nothing more, and the server, once
/// it has this (and so, Automerge delivering changes in order, all the
/// store wrote before), writes the store off. Written when the kiosk
/// found its store was restored from an older copy: the copy may have
/// spent again rights its original had spent, so it carries on as a new
/// store (the successor) that the server grants afresh.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, serde::Serialize, serde::Deserialize)]
pub struct Closure {
    /// The store that carries on.
    pub successor: String,
    /// Why, as a code: `restored`.
    pub reason: String,
    /// When (ms, the kiosk's clock).
    pub at_ms: i64,
}

/// Rights a spender handed back unused.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, serde::Serialize, serde::Deserialize)]
pub struct Handback {
    /// What it gives back.
    pub part: Part,
    /// When (ms).
    pub at_ms: i64,
}

/// An item of the hall's 爱心超市 as kiosks offer it. (Its stock is not
/// here: a kiosk hands over only the stock it was granted.)
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Offer {
    /// Points it costs.
    pub points: u64,
}

/// What one store had spent of an account, as the server counted it.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct SpentBy {
    /// The spender.
    pub spender: String,
    /// How much.
    pub amount: u64,
}

/// A volunteer's points as the server last counted them. A kiosk shows
/// `earned − what other stores spent − what it spent itself`, its own
/// spends read from its own copy, so a redemption shows at once.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Balance {
    /// Points earned in the hall, in all.
    pub earned: u64,
    /// What each store had spent of them, by spender id.
    pub spent: Vec<SpentBy>,
}

impl Balance {
    /// What is left, counting `spender`'s own spends as `own` instead of
    /// the server's figure for it.
    pub fn left_for(&self, spender: &str, own: u64) -> u64 {
        let others: u64 = self
            .spent
            .iter()
            .filter(|s| s.spender != spender)
            .map(|s| s.amount)
            .sum();
        self.earned.saturating_sub(others).saturating_sub(own)
    }
}

/// A new grants document for `hall_id` (one change).
pub fn new_grants(hall_id: &str) -> Result<Automerge> {
    new_points_doc(
        GRANTS_SCHEMA,
        hall_id,
        &[],
        &[GRANTS, RETIRED, CATALOGUE, BALANCES, SHARES, STORE_SHARES],
    )
}

/// A new spends document of `spender`, a store of kiosk `kiosk_id` in
/// `hall_id` (one change).
pub fn new_spends(hall_id: &str, kiosk_id: &str, spender: &str) -> Result<Automerge> {
    new_points_doc(
        SPENDS_SCHEMA,
        hall_id,
        &[("kiosk_id", kiosk_id), ("spender", spender)],
        &[SPENDS, HANDBACKS, WANTS],
    )
}

fn new_points_doc(
    schema: &str,
    hall_id: &str,
    fields: &[(&str, &str)],
    maps: &[&str],
) -> Result<Automerge> {
    let mut doc = Automerge::new();
    doc.transact::<_, _, automerge::AutomergeError>(|tx| {
        tx.put(ROOT, "schema", schema)?;
        tx.put(ROOT, "version", POINTS_VERSION)?;
        tx.put(ROOT, "hall_id", hall_id)?;
        for (k, v) in fields {
            tx.put(ROOT, *k, *v)?;
        }
        for m in maps {
            tx.put_object(ROOT, *m, automerge::ObjType::Map)?;
        }
        Ok(())
    })
    .map_err(|f| f.error)?;
    Ok(doc)
}

/// Check that `doc` is of `schema` and of a version this build reads.
fn expect_schema(doc: &Automerge, schema: &str) -> Result<()> {
    let found = read_str(doc, &ROOT, "schema")?;
    if found.as_deref() != Some(schema) {
        return Err(schema_err(
            schema,
            format!("the document is {found:?}, not {schema}"),
        ));
    }
    match read_u64(doc, &ROOT, "version")? {
        Some(v) if v <= POINTS_VERSION => Ok(()),
        v => Err(schema_err(
            schema,
            format!("version {v:?}: update the kiosk"),
        )),
    }
}

/// The spender whose spends document `doc` is.
pub fn spender_of(doc: &Automerge) -> Result<String> {
    expect_schema(doc, SPENDS_SCHEMA)?;
    read_str(doc, &ROOT, "spender")?.ok_or_else(|| schema_err(SPENDS_SCHEMA, "no spender"))
}

/// Record grant `id` (one change). The server alone writes this.
pub fn put_grant(doc: &mut Automerge, id: &str, g: &Grant) -> Result<()> {
    expect_schema(doc, GRANTS_SCHEMA)?;
    g.part.validate()?;
    if has_record(doc, GRANTS, id)? {
        return Err(Error::invalid("grant", format!("{id} is already granted")));
    }
    put_record(doc, GRANTS, id, g)
}

/// Write `spender` off (one change); a spender is written off once.
pub fn put_retirement(doc: &mut Automerge, spender: &str, r: &Retirement) -> Result<()> {
    expect_schema(doc, GRANTS_SCHEMA)?;
    for p in &r.spent {
        p.validate()?;
    }
    if has_record(doc, RETIRED, spender)? {
        return Err(Error::invalid(
            "retirement",
            format!("{spender} is already written off"),
        ));
    }
    put_record(doc, RETIRED, spender, r)
}

/// Record spend `id` (one change). Its spender alone writes this.
pub fn put_spend(doc: &mut Automerge, id: &str, s: &Spend) -> Result<()> {
    expect_schema(doc, SPENDS_SCHEMA)?;
    s.validate()?;
    if has_record(doc, SPENDS, id)? {
        return Err(Error::invalid("spend", format!("{id} is already spent")));
    }
    put_record(doc, SPENDS, id, s)
}

/// Record handback `id` (one change). Its spender alone writes this.
pub fn put_handback(doc: &mut Automerge, id: &str, h: &Handback) -> Result<()> {
    expect_schema(doc, SPENDS_SCHEMA)?;
    h.part.validate()?;
    if has_record(doc, HANDBACKS, id)? {
        return Err(Error::invalid(
            "handback",
            format!("{id} is already handed back"),
        ));
    }
    put_record(doc, HANDBACKS, id, h)
}

/// Record ask `id` (one change; the map made on first use). Its spender
/// alone writes this.
pub fn put_want(doc: &mut Automerge, id: &str, w: &Want) -> Result<()> {
    expect_schema(doc, SPENDS_SCHEMA)?;
    w.validate()?;
    if doc.get(ROOT, WANTS)?.is_none() {
        let mut tx = doc.transaction();
        tx.put_object(ROOT, WANTS, automerge::ObjType::Map)?;
        tx.commit();
    }
    if has_record(doc, WANTS, id)? {
        return Err(Error::invalid("want", format!("{id} is already asked")));
    }
    put_record(doc, WANTS, id, w)
}

/// One ask; `Ok(None)` when absent.
pub fn want(doc: &Automerge, id: &str) -> Result<Option<Want>> {
    if doc.get(ROOT, WANTS)?.is_none() {
        return Ok(None);
    }
    read_record(doc, WANTS, id)
}

/// Every ask of the store, by id (none in an older document).
pub fn wants(doc: &Automerge) -> Result<Vec<(String, Want)>> {
    expect_schema(doc, SPENDS_SCHEMA)?;
    if doc.get(ROOT, WANTS)?.is_none() {
        return Ok(Vec::new());
    }
    let all: Vec<(String, Want)> = all(doc, WANTS)?;
    for (_, w) in &all {
        w.validate()?;
    }
    Ok(all)
}

/// What particular stores should hold, as the grants document says:
/// spender → account → share.
pub fn store_shares(doc: &Automerge) -> Result<BTreeMap<String, BTreeMap<String, u64>>> {
    expect_schema(doc, GRANTS_SCHEMA)?;
    read_board(doc, STORE_SHARES)
}

/// Close the store whose spends document `doc` is (one change). Its
/// spender alone writes this, once; the same closure again changes
/// nothing (a journal replaying it).
pub fn close(doc: &mut Automerge, c: &Closure) -> Result<()> {
    expect_schema(doc, SPENDS_SCHEMA)?;
    if c.successor.is_empty() || c.successor.len() > MAX_ACCOUNT_LEN {
        return Err(Error::invalid("closure", "a successor must be named"));
    }
    match closure(doc)? {
        Some(found) if &found == c => return Ok(()),
        Some(_) => return Err(Error::invalid("closure", "the store is already closed")),
        None => {}
    }
    let mut tx = doc.transaction();
    if let Err(e) = autosurgeon::reconcile_prop(&mut tx, ROOT, CLOSED, c) {
        tx.rollback();
        return Err(e.into());
    }
    tx.commit();
    Ok(())
}

/// The store's closure, if it is closed.
pub fn closure(doc: &Automerge) -> Result<Option<Closure>> {
    expect_schema(doc, SPENDS_SCHEMA)?;
    if doc.get(ROOT, CLOSED)?.is_none() {
        return Ok(None);
    }
    let c: Closure = autosurgeon::hydrate_prop(doc, ROOT, CLOSED)
        .map_err(|e| schema_err(CLOSED, e.to_string()))?;
    if c.successor.is_empty() || c.successor.len() > MAX_ACCOUNT_LEN {
        return Err(schema_err(CLOSED, "a closure names no successor"));
    }
    Ok(Some(c))
}

/// Every record of map `map`, in id order; the first that does not fit
/// is an error (sums over money-like records must not skip one).
fn all<T: Hydrate>(doc: &Automerge, map: &str) -> Result<Vec<(String, T)>> {
    let mut out = Vec::new();
    for id in record_keys(doc, map)? {
        if let Some(r) = read_record::<T>(doc, map, &id)? {
            out.push((id, r));
        }
    }
    Ok(out)
}

/// One spend; `Ok(None)` when absent, `Err` when it does not fit.
pub fn spend(doc: &Automerge, id: &str) -> Result<Option<Spend>> {
    read_record(doc, SPENDS, id)
}

/// One handback.
pub fn handback(doc: &Automerge, id: &str) -> Result<Option<Handback>> {
    read_record(doc, HANDBACKS, id)
}

/// Every grant, by id.
pub fn grants(doc: &Automerge) -> Result<Vec<(String, Grant)>> {
    expect_schema(doc, GRANTS_SCHEMA)?;
    all(doc, GRANTS)
}

/// Every written-off spender.
pub fn retirements(doc: &Automerge) -> Result<Vec<(String, Retirement)>> {
    expect_schema(doc, GRANTS_SCHEMA)?;
    all(doc, RETIRED)
}

/// Every spend, by id.
pub fn spends(doc: &Automerge) -> Result<Vec<(String, Spend)>> {
    expect_schema(doc, SPENDS_SCHEMA)?;
    all(doc, SPENDS)
}

/// Every handback, by id.
pub fn handbacks(doc: &Automerge) -> Result<Vec<(String, Handback)>> {
    expect_schema(doc, SPENDS_SCHEMA)?;
    all(doc, HANDBACKS)
}

/// Make the grants document's catalogue and balances what the server
/// counts now, in one change; returns false (and writes nothing) when
/// they already are. Items and accounts not given are removed. The server
/// alone writes this.
pub fn publish(
    doc: &mut Automerge,
    catalogue: &BTreeMap<String, Offer>,
    balances: &BTreeMap<String, Balance>,
    shares: &Shares,
    rules: &PointsRules,
) -> Result<bool> {
    expect_schema(doc, GRANTS_SCHEMA)?;
    let catalogue_now: BTreeMap<String, Offer> = read_board(doc, CATALOGUE)?;
    let balances_now: BTreeMap<String, Balance> = read_board(doc, BALANCES)?;
    let shares_now: BTreeMap<String, u64> = read_board(doc, SHARES)?;
    let by_store_now: BTreeMap<String, BTreeMap<String, u64>> = read_board(doc, STORE_SHARES)?;
    let rules_now: BTreeMap<String, PointsRule> = read_board(doc, RULES)?;
    let rules = rules_board(rules);
    if &catalogue_now == catalogue
        && &balances_now == balances
        && shares_now == shares.each
        && by_store_now == shares.by_store
        && rules_now == rules
    {
        return Ok(false);
    }
    let mut tx = doc.transaction();
    let written = write_board(&mut tx, CATALOGUE, &catalogue_now, catalogue)
        .and_then(|()| write_board(&mut tx, BALANCES, &balances_now, balances))
        .and_then(|()| write_board(&mut tx, SHARES, &shares_now, &shares.each))
        .and_then(|()| write_board(&mut tx, STORE_SHARES, &by_store_now, &shares.by_store))
        .and_then(|()| write_board(&mut tx, RULES, &rules_now, &rules));
    if let Err(e) = written {
        tx.rollback();
        return Err(e);
    }
    tx.commit();
    Ok(true)
}

/// A board map of the grants document (empty when an older document has
/// none yet).
fn read_board<T: Hydrate>(doc: &Automerge, map: &str) -> Result<BTreeMap<String, T>> {
    if doc.get(ROOT, map)?.is_none() {
        return Ok(BTreeMap::new());
    }
    Ok(all(doc, map)?.into_iter().collect())
}

/// Write what differs between `now` and `wanted` into board map `map`.
fn write_board<T: Reconcile + PartialEq>(
    tx: &mut automerge::transaction::Transaction<'_>,
    map: &str,
    now: &BTreeMap<String, T>,
    wanted: &BTreeMap<String, T>,
) -> Result<()> {
    let obj = match tx.get(ROOT, map)? {
        Some((automerge::Value::Object(automerge::ObjType::Map), id)) => id,
        Some(_) => return Err(schema_err(map, "is not a map")),
        None => tx.put_object(ROOT, map, automerge::ObjType::Map)?,
    };
    for key in now.keys().filter(|k| !wanted.contains_key(*k)) {
        tx.delete(&obj, key.as_str())?;
    }
    for (key, value) in wanted {
        if now.get(key) != Some(value) {
            autosurgeon::reconcile_prop(tx, &obj, key.as_str(), value)?;
        }
    }
    Ok(())
}

/// The hall's 爱心超市 items as the grants document lists them, by item.
pub fn catalogue(doc: &Automerge) -> Result<BTreeMap<String, Offer>> {
    expect_schema(doc, GRANTS_SCHEMA)?;
    read_board(doc, CATALOGUE)
}

/// What the server would have each store hold of each account: `each`
/// for any store, and `by_store` where one asked for more (spender →
/// account → share).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shares {
    /// The share of any store, by account.
    pub each: BTreeMap<String, u64>,
    /// A particular store's, by spender, then account.
    pub by_store: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Shares {
    /// What `spender` should hold of `account`, if the server said.
    pub fn of(&self, spender: &str, account: &str) -> Option<u64> {
        self.by_store
            .get(spender)
            .and_then(|m| m.get(account))
            .or_else(|| self.each.get(account))
            .copied()
    }
}

/// Write the hall's points rules into its grants document, alone (a
/// hall with nothing in stock has no balances to publish, but its kiosks
/// count points all the same); only when they changed.
pub fn publish_rules(doc: &mut Automerge, rules: &PointsRules) -> Result<bool> {
    expect_schema(doc, GRANTS_SCHEMA)?;
    let now: BTreeMap<String, PointsRule> = read_board(doc, RULES)?;
    let wanted = rules_board(rules);
    if now == wanted {
        return Ok(false);
    }
    let mut tx = doc.transaction();
    if let Err(e) = write_board(&mut tx, RULES, &now, &wanted) {
        tx.rollback();
        return Err(e);
    }
    tx.commit();
    Ok(true)
}

/// The rules as the board holds them.
fn rules_board(rules: &PointsRules) -> BTreeMap<String, PointsRule> {
    rules
        .versions()
        .iter()
        .map(|r| (rule_key(r.from_ms), r.clone()))
        .collect()
}

/// A rule's key on the board: its start, zero-padded so keys sort as
/// the rules do.
fn rule_key(from_ms: i64) -> String {
    format!("{from_ms:015}")
}

/// The hall's points rules as the grants document has them (the default
/// until the server published any). A version that does not read is
/// refused, not skipped: points counted under a wrong rule would be
/// shown as a volunteer's.
pub fn rules(doc: &Automerge) -> Result<PointsRules> {
    expect_schema(doc, GRANTS_SCHEMA)?;
    let versions: BTreeMap<String, PointsRule> = read_board(doc, RULES)?;
    for rule in versions.values() {
        rule.validate()?;
    }
    Ok(PointsRules::new(versions.into_values()))
}

/// What the server would have each spender hold, by account, and
/// particular stores (those that asked for more).
pub fn shares(doc: &Automerge) -> Result<Shares> {
    expect_schema(doc, GRANTS_SCHEMA)?;
    Ok(Shares {
        each: read_board(doc, SHARES)?,
        by_store: read_board(doc, STORE_SHARES)?,
    })
}

/// A volunteer's points as the server last counted them, if it has.
pub fn balance(doc: &Automerge, account: &str) -> Result<Option<Balance>> {
    expect_schema(doc, GRANTS_SCHEMA)?;
    if doc.get(ROOT, BALANCES)?.is_none() {
        return Ok(None);
    }
    read_record(doc, BALANCES, account)
}

/// Every volunteer's points as the server last counted them, by account.
pub fn balances(doc: &Automerge) -> Result<BTreeMap<String, Balance>> {
    expect_schema(doc, GRANTS_SCHEMA)?;
    read_board(doc, BALANCES)
}

/// The number of grants (for tests and the console).
pub fn grant_count(doc: &Automerge) -> Result<usize> {
    let obj = map_obj(doc, GRANTS)?;
    Ok(doc.length(&obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::{DocKind, header};

    #[test]
    fn both_documents_say_what_they_are() {
        let g = header(&new_grants("xianfeng").expect("grants")).expect("header");
        assert_eq!((g.kind, g.hall_id.as_str()), (DocKind::Grants, "xianfeng"));
        let spends = new_spends("xianfeng", "xianfeng-k1", "store-1").expect("spends");
        let s = header(&spends).expect("header");
        assert_eq!(
            (s.kind, s.kiosk_id.as_deref()),
            (DocKind::Spends, Some("xianfeng-k1"))
        );
        assert_eq!(spender_of(&spends).expect("spender"), "store-1");
        assert_eq!(DocKind::from_name("spends"), Some(DocKind::Spends));
        // Each is refused where the other is expected.
        assert!(spender_of(&new_grants("xianfeng").expect("grants")).is_err());
        assert!(grants(&spends).is_err());
    }

    #[test]
    fn the_catalogue_and_balances_are_written_only_when_they_change() {
        let mut doc = new_grants("xianfeng").expect("grants");
        let catalogue: BTreeMap<String, Offer> = [
            ("大米 5kg".to_string(), Offer { points: 50 }),
            ("理发券".to_string(), Offer { points: 20 }),
        ]
        .into();
        let balance = Balance {
            earned: 80,
            spent: vec![SpentBy {
                spender: "k1.a".into(),
                amount: 30,
            }],
        };
        let balances: BTreeMap<String, Balance> =
            [("points:p1".to_string(), balance.clone())].into();
        let none = PointsRules::default();
        assert!(
            publish(&mut doc, &catalogue, &balances, &Shares::default(), &none).expect("publish")
        );
        let heads = doc.get_heads();
        assert!(
            !publish(&mut doc, &catalogue, &balances, &Shares::default(), &none).expect("again")
        );
        assert_eq!(
            doc.get_heads(),
            heads,
            "nothing written when nothing changed"
        );
        assert_eq!(super::catalogue(&doc).expect("read"), catalogue);
        assert_eq!(
            super::balance(&doc, "points:p1").expect("read"),
            Some(balance.clone())
        );
        // What another store spent counts; a store's own spends it reads
        // from its own copy instead.
        assert_eq!(balance.left_for("k2.b", 0), 50);
        assert_eq!(balance.left_for("k1.a", 35), 45);
        // An item taken off the catalogue is gone from the document.
        let fewer: BTreeMap<String, Offer> = [("理发券".to_string(), Offer { points: 25 })].into();
        assert!(publish(&mut doc, &fewer, &balances, &Shares::default(), &none).expect("publish"));
        assert_eq!(super::catalogue(&doc).expect("read"), fewer);
        assert_eq!(super::balance(&doc, "points:nobody").expect("read"), None);
    }

    #[test]
    fn an_older_grants_document_gains_its_catalogue_on_first_publish() {
        let mut doc = new_points_doc(GRANTS_SCHEMA, "xianfeng", &[], &[GRANTS, RETIRED])
            .expect("an older shape");
        assert!(super::catalogue(&doc).expect("read").is_empty());
        let catalogue: BTreeMap<String, Offer> =
            [("毛巾".to_string(), Offer { points: 10 })].into();
        let none = PointsRules::default();
        assert!(
            publish(
                &mut doc,
                &catalogue,
                &BTreeMap::new(),
                &Shares::default(),
                &none
            )
            .expect("publish")
        );
        assert_eq!(super::catalogue(&doc).expect("read"), catalogue);
    }

    #[test]
    fn the_rules_reach_kiosks_and_a_broken_one_is_refused() {
        let mut doc = new_grants("xianfeng").expect("grants");
        assert_eq!(rules(&doc).expect("read"), PointsRules::default());
        let set = PointsRules::new([
            PointsRule {
                from_ms: 1_000,
                per_hour: 4,
                ..PointsRule::default()
            },
            PointsRule {
                from_ms: 99_000,
                monthly_cap: 30,
                offline_share: 50,
                ..PointsRule::default()
            },
        ]);
        let empty = Shares::default();
        let no_balances: BTreeMap<String, Balance> = BTreeMap::new();
        let no_offers: BTreeMap<String, Offer> = BTreeMap::new();
        assert!(publish(&mut doc, &no_offers, &no_balances, &empty, &set).expect("publish"));
        assert!(!publish(&mut doc, &no_offers, &no_balances, &empty, &set).expect("again"));
        assert_eq!(rules(&doc).expect("read"), set);
        assert_eq!(rules(&doc).expect("read").at(5_000).per_hour, 4);
        assert!(!publish_rules(&mut doc, &set).expect("the same"));
        let more = PointsRules::new(set.versions().iter().cloned().chain([PointsRule {
            from_ms: 200_000,
            ..PointsRule::default()
        }]));
        assert!(publish_rules(&mut doc, &more).expect("one more"));
        assert_eq!(rules(&doc).expect("read"), more);
        // A version with an absurd figure (a forged or broken document) is
        // refused rather than counted.
        let mut tx = doc.transaction();
        let (_, board) = tx.get(ROOT, RULES).expect("get").expect("board");
        let (_, rule) = tx
            .get(&board, rule_key(1_000).as_str())
            .expect("get")
            .expect("rule");
        tx.put(&rule, "per_hour", 0_u64).expect("put");
        tx.commit();
        assert!(rules(&doc).is_err());
    }

    #[test]
    fn a_store_closes_once_and_spends_nothing_after() {
        let mut grants = new_grants("xianfeng").expect("grants");
        put_grant(
            &mut grants,
            "g1",
            &Grant {
                spender: "k1.a".into(),
                part: Part {
                    account: "points:p".into(),
                    amount: 10,
                },
                at_ms: 1,
            },
        )
        .expect("grant");
        let mut spends = new_spends("xianfeng", "k1", "k1.a").expect("spends");
        assert_eq!(closure(&spends).expect("read"), None);
        let read = |s: &Automerge| crate::escrow::Escrow::read(&grants, &[s]).expect("escrow");
        assert_eq!(read(&spends).available("k1.a", "points:p"), 10);
        let c = Closure {
            successor: "k1.b".into(),
            reason: "restored".into(),
            at_ms: 2,
        };
        close(&mut spends, &c).expect("close");
        close(&mut spends, &c).expect("the same closure again changes nothing");
        let other = Closure {
            successor: "k1.c".into(),
            ..c.clone()
        };
        assert!(close(&mut spends, &other).is_err(), "closed once");
        assert!(
            close(
                &mut new_spends("xianfeng", "k1", "k1.x").expect("spends"),
                &Closure {
                    successor: String::new(),
                    ..c.clone()
                }
            )
            .is_err(),
            "a successor must be named"
        );
        assert_eq!(closure(&spends).expect("read"), Some(c));
        let view = read(&spends);
        assert!(view.is_closed("k1.a"));
        assert_eq!(
            view.available("k1.a", "points:p"),
            0,
            "nothing more to spend"
        );
    }

    #[test]
    fn what_a_store_lends_is_owed_from_the_balance_and_granted_to_no_one() {
        let mut grants = new_grants("xianfeng").expect("grants");
        put_grant(
            &mut grants,
            "g1",
            &Grant {
                spender: "k1.a".into(),
                part: Part {
                    account: "points:p".into(),
                    amount: 8,
                },
                at_ms: 1,
            },
        )
        .expect("grant");
        let mut spends = new_spends("xianfeng", "k1", "k1.a").expect("spends");
        let lent = Spend {
            parts: vec![
                Part {
                    account: "points:p".into(),
                    amount: 8,
                },
                Part {
                    account: "stock:rice".into(),
                    amount: 1,
                },
            ],
            purpose: "rice".into(),
            at_ms: 2,
            owed: Some(Part {
                account: "points:p".into(),
                amount: 2,
            }),
        };
        put_spend(&mut spends, "s1", &lent).expect("spend");
        assert_eq!(spend(&spends, "s1").expect("read"), Some(lent.clone()));
        let view = crate::escrow::Escrow::read(&grants, &[&spends]).expect("escrow");
        assert_eq!(view.spent("points:p"), 8, "from rights");
        assert_eq!(view.owed_by("k1.a", "points:p"), 2);
        assert_eq!(view.consumed("points:p"), 10);
        // 10 earned: 8 granted and 2 lent leave nothing to grant.
        assert_eq!(view.committed("points:p"), 10);
        assert_eq!(view.grantable("points:p", 10), 0);
        // Only points are lent, and only well-formed amounts.
        let mut stock_lent = lent.clone();
        stock_lent.owed = Some(Part {
            account: "stock:rice".into(),
            amount: 1,
        });
        assert!(stock_lent.validate().is_err());
        let mut nothing = lent;
        nothing.owed = Some(Part {
            account: "points:p".into(),
            amount: 0,
        });
        assert!(nothing.validate().is_err());
    }

    #[test]
    fn a_spend_written_before_lending_existed_reads_as_lending_nothing() {
        let mut spends = new_spends("xianfeng", "k1", "k1.a").expect("spends");
        let mut tx = spends.transaction();
        let (_, map) = tx.get(ROOT, SPENDS).expect("get").expect("spends map");
        let rec = tx
            .put_object(&map, "old", automerge::ObjType::Map)
            .expect("record");
        let parts = tx
            .put_object(&rec, "parts", automerge::ObjType::List)
            .expect("parts");
        let part = tx
            .insert_object(&parts, 0, automerge::ObjType::Map)
            .expect("part");
        tx.put(&part, "account", "stock:rice").expect("account");
        tx.put(&part, "amount", 1_u64).expect("amount");
        tx.put(&rec, "purpose", "rice").expect("purpose");
        tx.put(&rec, "at_ms", 5_i64).expect("at");
        tx.commit();
        let read = spend(&spends, "old").expect("read").expect("there");
        assert_eq!(read.owed, None);
        assert_eq!(read.parts.len(), 1);
    }
}
