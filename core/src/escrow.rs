//! Points and stock that are never spent twice, offline, at several kiosks
//! (issue 16; DESIGN.md decision 12): a bounded counter kept as escrow.
//!
//! An *account* is a volunteer's points (`points:<pseudonym>`) or an item's
//! stock (`stock:<item id>`); its *total* is what the server knows of it
//! (points earned, items stocked), which only grows. A *spender* is one
//! kiosk store. The server grants each spender rights to part of an
//! account; a spender spends only rights it holds and may hand them back.
//! The records live in two kinds of document ([`crate::docs::points`]),
//! every record with one writer, written once:
//!
//! ```text
//! granted(S, A)   server's grants to spender S on account A
//! used(S, A)      S's spends + S's handbacks on A          (S writes)
//! available(S, A) = granted(S, A) − used(S, A)              (0 once S is written off)
//! committed(A)    = Σ_{S active} granted(S, A) − handed back(S, A)
//!                 + Σ_{S written off} spent when written off(S, A)
//!                 + Σ_S owed(S, A)     (lent beyond rights, 赊兑: the hall's
//!                                       rules allow it or it is never written)
//! ```
//!
//! Why nothing is overspent, whatever order the copies merge in:
//! - A spender checks `available` on its own copy before it writes. Its own
//!   spends and handbacks are complete there (it is their only writer),
//!   and the grants it sees are some of the grants there will ever be
//!   (grants only grow), so `used(S, A) ≤ granted(S, A)` holds in every
//!   later merge.
//! - The server grants only while `committed(A) + grant ≤ total(A)`. The
//!   handbacks it has not seen yet only make `committed` look larger, so
//!   its check is on the safe side; written-off rights are its own records.
//! - So `Σ_S spent(S, A) ≤ committed(A) ≤ total(A)`: a balance never goes
//!   below zero, at any copy, at any time.
//!
//! A spender is written off only once the server has its last state: its
//! kiosk revoked, or its store closed (`points::Closure`, the last
//! change its one writer makes; a kiosk whose store was restored from an
//! older copy closes it and carries on as a new store). What it had spent then is
//! recorded and stays spent, the rest returns to the pool, and it may
//! spend nothing more. Never an Automerge `Counter`
//! written by several replicas: concurrent decrements would merge into a
//! negative balance.

use std::collections::BTreeMap;

use automerge::Automerge;

use crate::{
    Result,
    docs::points::{self, Grant, Handback, Part, Retirement, Spend},
};

/// Where rights stand, as one copy of the documents shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Escrow {
    /// (spender, account) → granted.
    granted: BTreeMap<(String, String), u64>,
    /// (spender, account) → spent.
    spent: BTreeMap<(String, String), u64>,
    /// (spender, account) → handed back.
    handed_back: BTreeMap<(String, String), u64>,
    /// Spender → (account → spent when written off).
    retired: BTreeMap<String, BTreeMap<String, u64>>,
    /// Spenders that closed their own store (`points::Closure`).
    closed: std::collections::BTreeSet<String>,
    /// (spender, account) → lent beyond its rights (`Spend::owed`).
    owed: BTreeMap<(String, String), u64>,
    /// (spender, account) → its latest ask: (when, how much).
    wants: BTreeMap<(String, String), (i64, u64)>,
}

/// Not enough rights for a part of a spend or grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortfall {
    /// The account short.
    pub account: String,
    /// What was asked.
    pub wanted: u64,
    /// What there is.
    pub available: u64,
}

impl Escrow {
    /// Read a hall's grants document and the spends documents of its
    /// spenders (a spender's records counted from every document that
    /// names it, which can only make it spend less).
    pub fn read(grants: &Automerge, spends: &[&Automerge]) -> Result<Self> {
        let mut e = Escrow::default();
        for (_, g) in points::grants(grants)? {
            *e.granted.entry((g.spender, g.part.account)).or_default() += g.part.amount;
        }
        for (spender, r) in points::retirements(grants)? {
            let spent = e.retired.entry(spender).or_default();
            for p in r.spent {
                *spent.entry(p.account).or_default() += p.amount;
            }
        }
        for doc in spends {
            let spender = points::spender_of(doc)?;
            if points::closure(doc)?.is_some() {
                e.closed.insert(spender.clone());
            }
            for (_, s) in points::spends(doc)? {
                for p in s.parts {
                    *e.spent.entry((spender.clone(), p.account)).or_default() += p.amount;
                }
                if let Some(p) = s.owed {
                    *e.owed.entry((spender.clone(), p.account)).or_default() += p.amount;
                }
            }
            // The latest ask of each account (by the kiosk's clock, then
            // by id, which follows it).
            let mut asks = points::wants(doc)?;
            asks.sort_by(|(a, x), (b, y)| (x.at_ms, a).cmp(&(y.at_ms, b)));
            for (_, w) in asks {
                e.wants
                    .insert((spender.clone(), w.account), (w.at_ms, w.amount));
            }
            for (_, h) in points::handbacks(doc)? {
                *e.handed_back
                    .entry((spender.clone(), h.part.account))
                    .or_default() += h.part.amount;
            }
        }
        Ok(e)
    }

    fn get(map: &BTreeMap<(String, String), u64>, spender: &str, account: &str) -> u64 {
        map.get(&(spender.to_string(), account.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Whether `spender` has been written off.
    pub fn is_retired(&self, spender: &str) -> bool {
        self.retired.contains_key(spender)
    }

    /// What `spender` asked to hold of `account`, if its latest ask
    /// stands (not withdrawn; a written-off or closed store asks nothing).
    pub fn wanted(&self, spender: &str, account: &str) -> Option<u64> {
        if self.is_retired(spender) || self.is_closed(spender) {
            return None;
        }
        self.wants
            .get(&(spender.to_string(), account.to_string()))
            .filter(|(_, amount)| *amount > 0)
            .map(|(_, amount)| *amount)
    }

    /// The accounts whose ask by `spender` stands.
    pub fn asked_by(&self, spender: &str) -> Vec<String> {
        self.wants
            .iter()
            .filter(|((s, _), (_, amount))| s == spender && *amount > 0)
            .map(|((_, a), _)| a.clone())
            .collect()
    }

    /// Whether `spender` closed its store: it spends nothing more, and
    /// the server writes it off.
    pub fn is_closed(&self, spender: &str) -> bool {
        self.closed.contains(spender)
    }

    /// Granted to `spender` on `account`.
    pub fn granted(&self, spender: &str, account: &str) -> u64 {
        Self::get(&self.granted, spender, account)
    }

    /// Spent and handed back by `spender` on `account`.
    pub fn used(&self, spender: &str, account: &str) -> u64 {
        Self::get(&self.spent, spender, account) + Self::get(&self.handed_back, spender, account)
    }

    /// What `spender` may still spend of `account` (nothing once written
    /// off). Never below zero: a copy that has a spender's spends but not
    /// yet the grants they were made from shows 0, not a debt.
    pub fn available(&self, spender: &str, account: &str) -> u64 {
        if self.is_retired(spender) || self.is_closed(spender) {
            return 0;
        }
        self.granted(spender, account)
            .saturating_sub(self.used(spender, account))
    }

    /// Spent of `account` by `spender` (as its spends documents read here
    /// say).
    pub fn spent_by(&self, spender: &str, account: &str) -> u64 {
        Self::get(&self.spent, spender, account)
    }

    /// Spent of `account`, by every spender.
    pub fn spent(&self, account: &str) -> u64 {
        self.spent
            .iter()
            .filter(|((_, a), _)| a == account)
            .map(|(_, n)| n)
            .sum()
    }

    /// Lent of `account` by `spender` beyond its rights (`Spend::owed`).
    pub fn owed_by(&self, spender: &str, account: &str) -> u64 {
        Self::get(&self.owed, spender, account)
    }

    /// Lent of `account` beyond rights, by every spender.
    pub fn owed(&self, account: &str) -> u64 {
        self.owed
            .iter()
            .filter(|((_, a), _)| a == account)
            .map(|(_, n)| n)
            .sum()
    }

    /// Gone from `account`: spent from rights, and lent beyond them.
    pub fn consumed(&self, account: &str) -> u64 {
        self.spent(account) + self.owed(account)
    }

    /// Rights on `account` the server has given out and not had back:
    /// what a grant must fit beside. A written-off spender counts for what
    /// it had spent then, whatever of its records arrives afterwards.
    pub fn committed(&self, account: &str) -> u64 {
        let active: u64 = self
            .granted
            .iter()
            .filter(|((s, a), _)| a == account && !self.is_retired(s))
            .map(|((s, a), n)| n.saturating_sub(Self::get(&self.handed_back, s, a)))
            .sum();
        let written_off: u64 = self
            .retired
            .values()
            .filter_map(|spent| spent.get(account))
            .sum();
        // What kiosks lent beyond their rights is the volunteer's too:
        // the server grants it to no one.
        active + written_off + self.owed(account)
    }

    /// What the server may still grant of an account whose total is
    /// `total`.
    pub fn grantable(&self, account: &str, total: u64) -> u64 {
        total.saturating_sub(self.committed(account))
    }

    /// Every spender with rights granted, or that spent or lent, by id.
    pub fn spenders(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .granted
            .keys()
            .chain(self.spent.keys())
            .chain(self.owed.keys())
            .map(|(s, _)| s.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Every account with rights granted to `spender`.
    pub fn accounts_of(&self, spender: &str) -> Vec<String> {
        self.granted
            .keys()
            .filter(|(s, _)| s == spender)
            .map(|(_, a)| a.clone())
            .collect()
    }
}

/// The first part `spender` does not hold enough of, if any.
fn shortfall<'a>(
    escrow: &Escrow,
    spender: &str,
    parts: impl IntoIterator<Item = &'a Part>,
) -> Option<Shortfall> {
    parts.into_iter().find_map(|p| {
        let available = escrow.available(spender, &p.account);
        (p.amount > available).then(|| Shortfall {
            account: p.account.clone(),
            wanted: p.amount,
            available,
        })
    })
}

/// Spend `spend` as its spender (the spends document's own), if the
/// rights it holds in `escrow` (read from this same copy) cover every part:
/// `Ok(Err(shortfall))` changes nothing.
pub fn spend(
    spends_doc: &mut Automerge,
    escrow: &Escrow,
    id: &str,
    spend: &Spend,
) -> Result<std::result::Result<(), Shortfall>> {
    spend.validate()?;
    let spender = points::spender_of(spends_doc)?;
    if let Some(short) = shortfall(escrow, &spender, &spend.parts) {
        return Ok(Err(short));
    }
    points::put_spend(spends_doc, id, spend)?;
    Ok(Ok(()))
}

/// Hand back rights the spender holds (at most what it holds).
pub fn hand_back(
    spends_doc: &mut Automerge,
    escrow: &Escrow,
    id: &str,
    back: &Handback,
) -> Result<std::result::Result<(), Shortfall>> {
    let spender = points::spender_of(spends_doc)?;
    if let Some(short) = shortfall(escrow, &spender, [&back.part]) {
        return Ok(Err(short));
    }
    points::put_handback(spends_doc, id, back)?;
    Ok(Ok(()))
}

/// Grant rights as the server, if they fit within `total` beside what is
/// already committed (in `escrow`, read from the server's copy).
pub fn grant(
    grants_doc: &mut Automerge,
    escrow: &Escrow,
    id: &str,
    g: &Grant,
    total: u64,
) -> Result<std::result::Result<(), Shortfall>> {
    let available = escrow.grantable(&g.part.account, total);
    if escrow.is_retired(&g.spender) || g.part.amount > available {
        return Ok(Err(Shortfall {
            account: g.part.account.clone(),
            wanted: g.part.amount,
            available: if escrow.is_retired(&g.spender) {
                0
            } else {
                available
            },
        }));
    }
    points::put_grant(grants_doc, id, g)?;
    Ok(Ok(()))
}

/// Write `spender` off as the server, once its last state is in `escrow`:
/// what it had spent stays spent, the rest returns to the pool. Returns
/// what was recorded as spent.
pub fn retire(
    grants_doc: &mut Automerge,
    escrow: &Escrow,
    spender: &str,
    at_ms: i64,
) -> Result<Vec<Part>> {
    let spent: Vec<Part> = escrow
        .accounts_of(spender)
        .into_iter()
        .map(|account| Part {
            amount: Escrow::get(&escrow.spent, spender, &account),
            account,
        })
        .filter(|p| p.amount > 0)
        .collect();
    points::put_retirement(
        grants_doc,
        spender,
        &Retirement {
            spent: spent.clone(),
            at_ms,
        },
    )?;
    Ok(spent)
}
