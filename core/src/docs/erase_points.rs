//! Rebuilding the 爱心超市's documents without an erased volunteer
//! (issues 12 and 16): the hall's grants document and the kiosk stores'
//! spends documents name a volunteer's points as the account
//! `points:<pseudonym>`, in grants, write-offs, spends, loans, handbacks,
//! asks and the boards, and Automerge keeps every change forever, so, as
//! ledgers are ([`super::erase`]), each is rebuilt from its current state
//! and the old one retired and deleted wherever it is stored.
//!
//! Their account becomes [`erased_account`], the one account of every
//! erased volunteer, in every record at once: a grant and the spends
//! against it move together, so each store's rights stay what they were
//! (`available = granted + received − given − spent`, summed over the
//! same records under one name), nothing is spent twice, and no one can
//! spend what is left of it (no number leads to it). What they redeemed
//! stays counted, no longer theirs. Their balance, share and asks leave
//! the grants document's boards: they have no points any more.

use std::collections::{BTreeMap, BTreeSet};

use automerge::Automerge;

use super::{
    DocKind,
    erase::Rebuilt,
    header,
    points::{self, Part, points_account},
    record_keys,
};
use crate::{Error, Result, model::ResidentRef};

/// The one account every erased volunteer's points are under.
pub fn erased_account() -> String {
    points_account(ResidentRef::ERASED)
}

/// Whether `doc`, a grants or spends document, names `pseudonym`'s points
/// anywhere in its current state (a document that does not is left as
/// it is).
pub fn names_volunteer(doc: &Automerge, pseudonym: &str) -> Result<bool> {
    let account = points_account(pseudonym);
    let is = |p: &Part| p.account == account;
    Ok(match header(doc)?.kind {
        DocKind::Grants => {
            points::grants(doc)?.iter().any(|(_, g)| is(&g.part))
                || points::retirements(doc)?
                    .iter()
                    .any(|(_, r)| r.spent.iter().any(is))
                || points::balances(doc)?.contains_key(&account)
                || points::shares(doc)?.each.contains_key(&account)
                || points::store_shares(doc)?
                    .values()
                    .any(|m| m.contains_key(&account))
        }
        DocKind::Spends => {
            let mut found = false;
            for id in record_keys(doc, points::SPENDS)? {
                if let Ok(Some(s)) = points::spend(doc, &id) {
                    found |= s.parts.iter().any(is) || s.owed.as_ref().is_some_and(is);
                }
            }
            for id in record_keys(doc, points::HANDBACKS)? {
                if let Ok(Some(h)) = points::handback(doc, &id) {
                    found |= is(&h.part);
                }
            }
            found
                || points::wants(doc)?
                    .iter()
                    .any(|(_, w)| w.account == account)
        }
        other => {
            return Err(Error::invalid(
                "erasure",
                format!("a {} document holds no points", other.name()),
            ));
        }
    })
}

/// `part` under [`erased_account`] if it is `account`'s: whether it was.
fn rename(part: &mut Part, account: &str) -> bool {
    if part.account == account {
        part.account = erased_account();
        true
    } else {
        false
    }
}

/// The hall's grants document `old` rebuilt without `pseudonym`'s points,
/// and how many records named them. The server alone writes it, so every
/// record fits (one that does not is an error: nothing is rebuilt).
pub fn grants_without_volunteer(old: &Automerge, pseudonym: &str) -> Result<(Automerge, usize)> {
    let h = header(old)?;
    if h.kind != DocKind::Grants {
        return Err(Error::invalid("erasure", "not a grants document"));
    }
    let account = points_account(pseudonym);
    let mut doc = points::new_grants(&h.hall_id)?;
    let mut named = 0;
    for (id, mut g) in points::grants(old)? {
        named += usize::from(rename(&mut g.part, &account));
        points::put_grant(&mut doc, &id, &g)?;
    }
    for (spender, mut r) in points::retirements(old)? {
        for p in &mut r.spent {
            named += usize::from(rename(p, &account));
        }
        points::put_retirement(&mut doc, &spender, &r)?;
    }
    let mut balances = points::balances(old)?;
    named += usize::from(balances.remove(&account).is_some());
    let mut shares = points::shares(old)?;
    named += usize::from(shares.each.remove(&account).is_some());
    for m in shares.by_store.values_mut() {
        named += usize::from(m.remove(&account).is_some());
    }
    shares.by_store.retain(|_, m| !m.is_empty());
    points::publish(
        &mut doc,
        &points::catalogue(old)?,
        &balances,
        &shares,
        &points::rules(old)?,
    )?;
    Ok((doc, named))
}

/// A store's spends document `old` rebuilt without `pseudonym`'s points:
/// every record kept under its id (the kiosk's journal finds them), theirs
/// under [`erased_account`]. A record that does not fit is left out, as
/// in a ledger: it was quarantined when it arrived and never counted.
pub fn spends_without_volunteer(old: &Automerge, pseudonym: &str) -> Result<Rebuilt> {
    let h = header(old)?;
    let spender = points::spender_of(old)?;
    let Some(kiosk_id) = h.kiosk_id.clone() else {
        return Err(Error::invalid(
            "erasure",
            "a spends document names no kiosk",
        ));
    };
    let account = points_account(pseudonym);
    let mut doc = points::new_spends(&h.hall_id, &kiosk_id, &spender)?;
    let (mut erased, mut kept, mut dropped) = (0, 0, 0);
    let mut count = |named: bool| {
        if named {
            erased += 1;
        } else {
            kept += 1;
        }
    };
    for id in record_keys(old, points::SPENDS)? {
        match points::spend(old, &id) {
            Ok(Some(mut s)) if s.validate().is_ok() => {
                let mut named = false;
                for p in &mut s.parts {
                    named |= rename(p, &account);
                }
                if let Some(o) = &mut s.owed {
                    named |= rename(o, &account);
                }
                points::put_spend(&mut doc, &id, &s)?;
                count(named);
            }
            _ => dropped += 1,
        }
    }
    for id in record_keys(old, points::HANDBACKS)? {
        match points::handback(old, &id) {
            Ok(Some(mut hb)) if hb.part.validate().is_ok() => {
                let named = rename(&mut hb.part, &account);
                points::put_handback(&mut doc, &id, &hb)?;
                count(named);
            }
            _ => dropped += 1,
        }
    }
    let wants: BTreeMap<String, points::Want> = points::wants(old)
        .map(|w| w.into_iter().collect())
        .unwrap_or_default();
    for (id, mut w) in wants {
        let named = w.account == account;
        if named {
            w.account = erased_account();
        }
        points::put_want(&mut doc, &id, &w)?;
        count(named);
    }
    if let Some(c) = points::closure(old)? {
        points::close(&mut doc, &c)?;
    }
    Ok(Rebuilt {
        doc,
        kind: DocKind::Spends,
        kiosk_id,
        period: spender,
        erased,
        kept,
        dropped,
    })
}

/// Every points account the hall's grants document knows: granted to a
/// store, written off with one, or counted as a balance. An erased
/// volunteer's is in none of them once the grants are rebuilt.
pub fn known_accounts(grants: &Automerge) -> Result<BTreeSet<String>> {
    let mut out: BTreeSet<String> = points::grants(grants)?
        .into_iter()
        .map(|(_, g)| g.part.account)
        .collect();
    for (_, r) in points::retirements(grants)? {
        out.extend(r.spent.into_iter().map(|p| p.account));
    }
    out.extend(points::balances(grants)?.into_keys());
    Ok(out)
}

/// A record of map `map` of a spends document (as the kiosk's journal
/// keeps it) with every points account that `known` lacks renamed to
/// [`erased_account`], and whether any was. For what a kiosk recorded
/// while the server rebuilt its store's spends without an erased
/// volunteer (it was offline): a store can only have spent an account the
/// grants knew, so one they no longer know was erased, and goes where the
/// rest of it went.
pub fn forget_unknown(
    map: &str,
    payload: serde_json::Value,
    known: &BTreeSet<String>,
) -> Result<(serde_json::Value, bool)> {
    fn rename_unknown(account: &mut String, known: &BTreeSet<String>) -> bool {
        let unknown = account.starts_with("points:")
            && *account != erased_account()
            && !known.contains(account.as_str());
        if unknown {
            *account = erased_account();
        }
        unknown
    }
    fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(
        payload: serde_json::Value,
        edit: impl FnOnce(&mut T) -> bool,
    ) -> Result<(serde_json::Value, bool)> {
        let mut record: T = serde_json::from_value(payload)
            .map_err(|e| Error::invalid("journal payload", e.to_string()))?;
        let renamed = edit(&mut record);
        let value = serde_json::to_value(&record)
            .map_err(|e| Error::invalid("journal payload", e.to_string()))?;
        Ok((value, renamed))
    }
    match map {
        points::SPENDS => typed(payload, |s: &mut points::Spend| {
            let mut renamed = false;
            for p in &mut s.parts {
                renamed |= rename_unknown(&mut p.account, known);
            }
            if let Some(o) = &mut s.owed {
                renamed |= rename_unknown(&mut o.account, known);
            }
            renamed
        }),
        points::HANDBACKS => typed(payload, |h: &mut points::Handback| {
            rename_unknown(&mut h.part.account, known)
        }),
        points::WANTS => typed(payload, |w: &mut points::Want| {
            rename_unknown(&mut w.account, known)
        }),
        _ => Ok((payload, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        docs::{
            erase::tests::history_text,
            points::{Grant, Handback, Offer, Spend, Want},
        },
        escrow::Escrow,
        points_rules::PointsRules,
    };

    fn part(account: &str, amount: u64) -> Part {
        Part {
            account: account.into(),
            amount,
        }
    }

    #[test]
    fn an_erased_volunteers_points_move_to_no_ones_and_every_store_keeps_its_rights() {
        let (gone, kept) = ("a".repeat(64), "b".repeat(64));
        let (theirs, others) = (points_account(&gone), points_account(&kept));
        let mut grants = points::new_grants("h1").expect("grants");
        let mut spends = points::new_spends("h1", "k1", "k1.s").expect("spends");
        let other_store = points::new_spends("h1", "k2", "k2.s").expect("spends");
        for (id, account, amount) in [("g1", &theirs, 10), ("g2", &others, 6), ("g3", &theirs, 4)] {
            let g = Grant {
                spender: "k1.s".into(),
                part: part(account, amount),
                at_ms: 0,
            };
            points::put_grant(&mut grants, id, &g).expect("grant");
        }
        let spend = |account: &str, points_: u64, owed: Option<Part>| Spend {
            parts: vec![part(account, points_), part("stock:rice", 1)],
            purpose: "rice".into(),
            at_ms: 0,
            owed,
        };
        points::put_spend(
            &mut spends,
            "s1",
            &spend(&theirs, 4, Some(part(&theirs, 2))),
        )
        .expect("spend");
        points::put_spend(&mut spends, "s2", &spend(&others, 4, None)).expect("spend");
        let back = Handback {
            part: part(&theirs, 3),
            at_ms: 0,
        };
        points::put_handback(&mut spends, "h1", &back).expect("handback");
        let ask = Want {
            account: theirs.clone(),
            amount: 9,
            at_ms: 0,
        };
        points::put_want(&mut spends, "w1", &ask).expect("want");
        let mut shares = points::Shares::default();
        shares.each.insert(theirs.clone(), 7);
        shares.each.insert(others.clone(), 3);
        shares
            .by_store
            .insert("k1.s".into(), [(theirs.clone(), 9)].into());
        let balance = points::Balance {
            earned: 14,
            spent: vec![],
        };
        points::publish(
            &mut grants,
            &[("rice".to_string(), Offer { points: 4 })].into(),
            &[(theirs.clone(), balance.clone()), (others.clone(), balance)].into(),
            &shares,
            &PointsRules::default(),
        )
        .expect("publish");
        let before = Escrow::read(&grants, &[&spends, &other_store]).expect("escrow");
        assert!(names_volunteer(&grants, &gone).expect("grants"));
        assert!(names_volunteer(&spends, &gone).expect("spends"));
        assert!(!names_volunteer(&other_store, &gone).expect("spends"));

        let (new_grants, named) = grants_without_volunteer(&grants, &gone).expect("grants");
        assert_eq!(named, 5, "two grants, a balance, a share, a store's share");
        let r = spends_without_volunteer(&spends, &gone).expect("spends");
        assert_eq!((r.erased, r.kept, r.dropped), (3, 1, 0));
        assert_eq!((r.kiosk_id.as_str(), r.period.as_str()), ("k1", "k1.s"));
        for doc in [&new_grants, &r.doc] {
            assert!(!history_text(doc).contains(&gone), "no trace in history");
            assert!(!names_volunteer(doc, &gone).expect("read"));
        }
        assert!(history_text(&r.doc).contains(&kept), "the others stay");

        let after = Escrow::read(&new_grants, &[&r.doc, &other_store]).expect("escrow");
        let erased = erased_account();
        for account in [&others, &"stock:rice".to_string()] {
            assert_eq!(
                after.available("k1.s", account),
                before.available("k1.s", account)
            );
            assert_eq!(after.spent(account), before.spent(account));
        }
        assert_eq!(
            after.available("k1.s", &erased),
            before.available("k1.s", &theirs),
            "what the store held of them it holds of no one's"
        );
        assert_eq!(after.spent(&erased), 4);
        assert_eq!(after.committed(&theirs), 0);
        assert_eq!(points::balance(&new_grants, &theirs).expect("read"), None);
        assert!(
            points::balance(&new_grants, &others)
                .expect("read")
                .is_some()
        );
        let s = points::shares(&new_grants).expect("shares");
        assert_eq!(
            (s.of("k1.s", &theirs), s.of("k1.s", &others)),
            (None, Some(3))
        );
        assert_eq!(points::catalogue(&new_grants).expect("read").len(), 1);
        // A volunteer named nowhere: nothing to rename.
        let (_, none) = grants_without_volunteer(&new_grants, &gone).expect("again");
        assert_eq!(none, 0);
    }

    #[test]
    fn a_spend_recorded_offline_for_an_account_the_grants_no_longer_know_is_no_ones() {
        let mut grants = points::new_grants("h1").expect("grants");
        let g = Grant {
            spender: "k1.s".into(),
            part: part("points:known", 5),
            at_ms: 0,
        };
        points::put_grant(&mut grants, "g1", &g).expect("grant");
        let known = known_accounts(&grants).expect("known");
        let spend = |account: &str| {
            serde_json::to_value(Spend {
                parts: vec![part(account, 4), part("stock:rice", 1)],
                purpose: "rice".into(),
                at_ms: 0,
                owed: Some(part(account, 1)),
            })
            .expect("json")
        };
        let (v, renamed) =
            forget_unknown(points::SPENDS, spend("points:gone"), &known).expect("spend");
        assert!(renamed);
        let s: Spend = serde_json::from_value(v).expect("spend");
        assert_eq!(s.parts[0].account, erased_account());
        assert_eq!(s.owed.map(|o| o.account), Some(erased_account()));
        assert_eq!(
            s.parts[1].account, "stock:rice",
            "stock is no one's to erase"
        );
        let (_, renamed) =
            forget_unknown(points::SPENDS, spend("points:known"), &known).expect("spend");
        assert!(!renamed);
        let ask = serde_json::to_value(Want {
            account: "points:gone".into(),
            amount: 0,
            at_ms: 0,
        })
        .expect("json");
        assert!(forget_unknown(points::WANTS, ask, &known).expect("want").1);
        assert!(forget_unknown(points::SPENDS, serde_json::json!({"parts": 3}), &known).is_err());
    }

    #[test]
    fn only_points_documents_are_rebuilt_here() {
        let ledger = crate::docs::ledger::new_ledger("h1", "k1", "2026-12-07").expect("ledger");
        assert!(names_volunteer(&ledger, "a").is_err());
        assert!(grants_without_volunteer(&ledger, "a").is_err());
        assert!(spends_without_volunteer(&ledger, "a").is_err());
    }
}
