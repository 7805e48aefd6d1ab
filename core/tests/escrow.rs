//! The escrow behind redemption (`linli_core::escrow`) under random merge
//! orders: a server and several kiosk stores, each with its own copies of
//! a hall's grants document and of every spends document, do random
//! single-writer operations — the server earns, restocks, grants and
//! writes kiosks off; kiosks redeem and hand rights back, each checking
//! only its own copy — while random pairs of copies merge. After every
//! step, at every copy: no account is spent beyond its total, and no
//! kiosk has spent or handed back more than the grants it sees. At the end
//! every copy agrees.

use std::collections::BTreeMap;

use automerge::Automerge;
use linli_core::{
    docs::points::{self, Grant, Handback, Part, Spend},
    escrow::{self, Escrow},
};
use rand::{Rng, SeedableRng, rngs::StdRng};

const HALL: &str = "xianfeng";
const ACCOUNTS: [&str; 4] = ["points:v1", "points:v2", "stock:rice", "stock:soap"];

/// One replica: its copy of the grants document and of each spender's
/// spends document (by spender).
#[derive(Clone)]
struct Copy {
    grants: Automerge,
    spends: BTreeMap<String, Automerge>,
}

impl Copy {
    fn escrow(&self) -> Escrow {
        let spends: Vec<&Automerge> = self.spends.values().collect();
        Escrow::read(&self.grants, &spends).expect("the copy reads")
    }

    /// Take in everything `other` has.
    fn merge_from(&mut self, other: &mut Copy) {
        self.grants.merge(&mut other.grants).expect("merge grants");
        for (spender, theirs) in &mut other.spends {
            match self.spends.get_mut(spender) {
                Some(ours) => {
                    ours.merge(theirs).expect("merge spends");
                }
                None => {
                    self.spends.insert(spender.clone(), theirs.fork());
                }
            }
        }
    }
}

/// Two copies take in each other's documents.
fn sync(copies: &mut [Copy], a: usize, b: usize) {
    if a == b {
        return;
    }
    let mut other = copies[b].clone();
    copies[a].merge_from(&mut other);
    let mut first = copies[a].clone();
    copies[b].merge_from(&mut first);
}

/// The spender of copy `i` (copy 0 is the server's).
fn spender(i: usize) -> String {
    format!("kiosk-{i}/store-1")
}

struct World {
    copies: Vec<Copy>,
    /// The server's totals (points earned, items stocked): only grow.
    totals: BTreeMap<String, u64>,
    /// Kiosks still spending (a written-off one never acts again).
    active: Vec<bool>,
    next_id: u64,
    /// Redemptions accepted.
    redeemed: u64,
    /// Spends refused for want of rights.
    refused: u64,
    /// Every accepted spend, per account, counted as it was written: the
    /// truth no copy may be ahead of.
    spent: BTreeMap<String, u64>,
}

impl World {
    fn new(kiosks: usize) -> Self {
        let grants = points::new_grants(HALL).expect("grants");
        let mut spends = BTreeMap::new();
        for i in 1..=kiosks {
            let doc = points::new_spends(HALL, &format!("kiosk-{i}"), &spender(i)).expect("spends");
            spends.insert(spender(i), doc);
        }
        // Every copy starts from the same documents (as the directory
        // shares them), so their histories have one root.
        let base = Copy { grants, spends };
        let copies = (0..=kiosks)
            .map(|_| Copy {
                grants: base.grants.fork(),
                spends: base
                    .spends
                    .iter()
                    .map(|(s, d)| (s.clone(), d.fork()))
                    .collect(),
            })
            .collect();
        World {
            copies,
            totals: ACCOUNTS.iter().map(|a| (a.to_string(), 0)).collect(),
            active: vec![true; kiosks + 1],
            next_id: 0,
            redeemed: 0,
            refused: 0,
            spent: BTreeMap::new(),
        }
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("r{:06}", self.next_id)
    }

    /// One random operation; the copies it changed.
    fn step(&mut self, rng: &mut StdRng) -> Vec<usize> {
        let kiosks = self.copies.len() - 1;
        let account = ACCOUNTS[rng.random_range(0..ACCOUNTS.len())].to_string();
        match rng.random_range(0..100) {
            // The server: points earned, or items stocked.
            0..=14 => {
                *self.totals.get_mut(&account).expect("an account") += rng.random_range(1..40);
                vec![0]
            }
            // The server grants a kiosk a share of what it may.
            15..=39 => {
                let k = rng.random_range(1..=kiosks);
                let view = self.copies[0].escrow();
                let total = self.totals[&account];
                let wanted = rng.random_range(1..30);
                let amount = wanted.min(view.grantable(&account, total));
                if amount == 0 || view.is_retired(&spender(k)) {
                    return vec![];
                }
                let id = self.id();
                let g = Grant {
                    spender: spender(k),
                    part: Part { account, amount },
                    at_ms: 0,
                };
                let done = escrow::grant(&mut self.copies[0].grants, &view, &id, &g, total)
                    .expect("grant");
                assert!(done.is_ok(), "a grant within the grantable is taken");
                vec![0]
            }
            // A kiosk redeems: a volunteer's points and an item's stock.
            40..=69 => {
                let k = rng.random_range(1..=kiosks);
                if !self.active[k] {
                    return vec![];
                }
                // What the kiosk shows it can afford, mostly (a volunteer
                // also asks for what it cannot).
                let view = self.copies[k].escrow();
                let pick = |options: [&'static str; 2], rng: &mut StdRng| {
                    let held: Vec<&str> = options
                        .into_iter()
                        .filter(|a| view.available(&spender(k), a) > 0)
                        .collect();
                    if !held.is_empty() && rng.random_bool(0.8) {
                        held[rng.random_range(0..held.len())]
                    } else {
                        options[rng.random_range(0..2)]
                    }
                };
                let volunteer = pick(["points:v1", "points:v2"], rng);
                let item = pick(["stock:rice", "stock:soap"], rng);
                let s = Spend {
                    parts: vec![
                        Part {
                            account: volunteer.into(),
                            amount: rng.random_range(1..8),
                        },
                        Part {
                            account: item.into(),
                            amount: 1,
                        },
                    ],
                    purpose: item.into(),
                    at_ms: 0,
                    owed: None,
                };
                let id = self.id();
                let copy = &mut self.copies[k];
                let doc = copy.spends.get_mut(&spender(k)).expect("its own");
                match escrow::spend(doc, &view, &id, &s).expect("spend") {
                    Ok(()) => {
                        self.redeemed += 1;
                        for p in &s.parts {
                            *self.spent.entry(p.account.clone()).or_default() += p.amount;
                        }
                    }
                    Err(short) => {
                        assert!(short.wanted > short.available);
                        self.refused += 1;
                    }
                }
                vec![k]
            }
            // A kiosk hands back some of what it holds.
            70..=74 => {
                let k = rng.random_range(1..=kiosks);
                if !self.active[k] {
                    return vec![];
                }
                let id = self.id();
                let copy = &mut self.copies[k];
                let view = copy.escrow();
                let held = view.available(&spender(k), &account);
                if held == 0 {
                    return vec![];
                }
                let back = Handback {
                    part: Part {
                        account,
                        amount: rng.random_range(1..=held),
                    },
                    at_ms: 0,
                };
                let doc = copy.spends.get_mut(&spender(k)).expect("its own");
                let done = escrow::hand_back(doc, &view, &id, &back).expect("hand back");
                assert!(done.is_ok(), "what is held can be handed back");
                vec![k]
            }
            // A kiosk is revoked: the server takes its last state, then
            // writes it off; it never acts again.
            75..=76 => {
                let k = rng.random_range(1..=kiosks);
                if !self.active[k] || self.active.iter().filter(|a| **a).count() <= 2 {
                    return vec![];
                }
                sync(&mut self.copies, 0, k);
                self.active[k] = false;
                let view = self.copies[0].escrow();
                escrow::retire(&mut self.copies[0].grants, &view, &spender(k), 0).expect("retire");
                vec![0, k]
            }
            // Two copies meet: mostly a kiosk and the server (kiosks are
            // online most of the day), sometimes two kiosks' copies (as
            // they would through a restored server or a relay).
            _ => {
                let a = if rng.random_bool(0.7) {
                    0
                } else {
                    rng.random_range(0..=kiosks)
                };
                let b = rng.random_range(0..=kiosks);
                sync(&mut self.copies, a, b);
                vec![a, b]
            }
        }
    }

    /// Every copy's documents merged: the truth once everyone has met.
    fn union(&self) -> Copy {
        let mut all = self.copies[0].clone();
        for c in &self.copies[1..] {
            all.merge_from(&mut c.clone());
        }
        all
    }

    /// The invariants, at the copies in `copies` (those a step changed;
    /// the others are as they were checked before).
    fn check(&self, when: &str, copies: &[usize]) {
        let views: Vec<(usize, Escrow)> = copies
            .iter()
            .map(|&i| (i, self.copies[i].escrow()))
            .collect();
        for account in ACCOUNTS {
            let total = self.totals[account];
            let spent = self.spent.get(account).copied().unwrap_or(0);
            assert!(spent <= total, "{when}: {account} spent {spent} of {total}");
            for (i, view) in &views {
                let i = *i;
                assert!(
                    view.spent(account) <= spent,
                    "{when}: copy {i} sees more spent than was"
                );
                assert!(
                    view.committed(account) <= total || i != 0,
                    "{when}: the server committed {} of {account}'s {total}",
                    view.committed(account)
                );
                if i > 0 && self.active[i] {
                    let s = spender(i);
                    assert!(
                        view.used(&s, account) <= view.granted(&s, account),
                        "{when}: kiosk {i} used {} of {account} with {} granted",
                        view.used(&s, account),
                        view.granted(&s, account)
                    );
                }
            }
        }
    }

    /// Once everyone has met: every copy the same, and the documents'
    /// sums what was written.
    fn check_settled(&self, when: &str) {
        let truth = self.union().escrow();
        for (i, c) in self.copies.iter().enumerate() {
            assert_eq!(c.escrow(), truth, "{when}: copy {i} differs");
        }
        for account in ACCOUNTS {
            let spent = self.spent.get(account).copied().unwrap_or(0);
            assert_eq!(truth.spent(account), spent, "{when}: {account}");
            assert!(truth.committed(account) <= self.totals[account], "{when}");
        }
    }
}

#[test]
fn no_merge_order_overspends_points_or_stock() {
    let (mut redeemed, mut refused) = (0, 0);
    for seed in 0..64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut world = World::new(rng.random_range(2..=4));
        for step in 0..250 {
            let changed = world.step(&mut rng);
            world.check(&format!("seed {seed}, step {step}"), &changed);
        }
        // Everyone meets: every copy ends the same, nothing overspent.
        for i in 1..world.copies.len() {
            sync(&mut world.copies, 0, i);
        }
        for i in 1..world.copies.len() {
            sync(&mut world.copies, 0, i);
        }
        let all: Vec<usize> = (0..world.copies.len()).collect();
        world.check(&format!("seed {seed}, settled"), &all);
        world.check_settled(&format!("seed {seed}"));
        redeemed += world.redeemed;
        refused += world.refused;
    }
    println!("{redeemed} redemptions taken, {refused} refused, overspent 0");
    assert!(redeemed > 800 && refused > 800, "both cases were exercised");
}

/// The case: two kiosks of a hall offline, one volunteer redeems
/// at both until each refuses; back online, the balance is never below
/// zero and each redemption counts once.
#[test]
fn a_volunteer_redeeming_at_two_offline_kiosks_is_refused_before_zero() {
    let mut w = World::new(2);
    w.totals.insert("points:v1".into(), 100);
    w.totals.insert("stock:rice".into(), 10);
    // The server grants each kiosk half of the volunteer's points and of
    // the rice, and both kiosks take their grants before going offline.
    for k in 1..=2 {
        for (account, amount) in [("points:v1", 50), ("stock:rice", 5)] {
            let view = w.copies[0].escrow();
            let total = w.totals[account];
            let g = Grant {
                spender: spender(k),
                part: Part {
                    account: account.into(),
                    amount,
                },
                at_ms: 0,
            };
            let id = w.id();
            escrow::grant(&mut w.copies[0].grants, &view, &id, &g, total)
                .expect("grant")
                .expect("fits");
        }
        sync(&mut w.copies, 0, k);
    }
    // A third grant would exceed the total: refused.
    let view = w.copies[0].escrow();
    let g = Grant {
        spender: spender(1),
        part: Part {
            account: "points:v1".into(),
            amount: 1,
        },
        at_ms: 0,
    };
    let short = escrow::grant(&mut w.copies[0].grants, &view, "extra", &g, 100)
        .expect("grant")
        .expect_err("nothing left to grant");
    assert_eq!((short.wanted, short.available), (1, 0));

    // Offline: 30 points of rice at a time, at both kiosks, until refused.
    let redeem = |w: &mut World, k: usize| {
        let id = w.id();
        let copy = &mut w.copies[k];
        let view = copy.escrow();
        let s = Spend {
            parts: vec![
                Part {
                    account: "points:v1".into(),
                    amount: 30,
                },
                Part {
                    account: "stock:rice".into(),
                    amount: 1,
                },
            ],
            purpose: "rice".into(),
            at_ms: 0,
            owed: None,
        };
        let doc = copy.spends.get_mut(&spender(k)).expect("its own");
        escrow::spend(doc, &view, &id, &s).expect("spend")
    };
    assert!(redeem(&mut w, 1).is_ok());
    let short = redeem(&mut w, 1).expect_err("50 granted, 30 spent");
    assert_eq!((short.account.as_str(), short.available), ("points:v1", 20));
    assert!(redeem(&mut w, 2).is_ok());
    assert!(redeem(&mut w, 2).is_err());
    // Back online, in either order: 60 spent of 100, 2 of 10 rice.
    sync(&mut w.copies, 2, 0);
    sync(&mut w.copies, 1, 0);
    sync(&mut w.copies, 2, 0);
    let e = w.copies[0].escrow();
    assert_eq!(e.spent("points:v1"), 60);
    assert_eq!(e.spent("stock:rice"), 2);
    assert_eq!(e.available(&spender(1), "points:v1"), 20);
    assert_eq!(e.committed("points:v1"), 100);

    // Kiosk 1 hands its 20 back: the server may grant them to kiosk 2.
    let id = w.id();
    let copy = &mut w.copies[1];
    let view = copy.escrow();
    let doc = copy.spends.get_mut(&spender(1)).expect("its own");
    escrow::hand_back(
        doc,
        &view,
        &id,
        &Handback {
            part: Part {
                account: "points:v1".into(),
                amount: 20,
            },
            at_ms: 0,
        },
    )
    .expect("hand back")
    .expect("held");
    sync(&mut w.copies, 1, 0);
    assert_eq!(w.copies[0].escrow().grantable("points:v1", 100), 20);

    // Kiosk 2 is revoked: written off with the 30 it spent; its 20 unspent
    // return to the pool, and it can spend nothing more.
    sync(&mut w.copies, 0, 2);
    let view = w.copies[0].escrow();
    let spent = escrow::retire(&mut w.copies[0].grants, &view, &spender(2), 0).expect("retire");
    assert!(spent.contains(&Part {
        account: "points:v1".into(),
        amount: 30
    }));
    let e = w.copies[0].escrow();
    assert_eq!(
        e.grantable("points:v1", 100),
        40,
        "20 handed back, 20 written off"
    );
    assert_eq!(e.available(&spender(2), "points:v1"), 0);
    sync(&mut w.copies, 0, 2);
    assert!(
        redeem(&mut w, 2).is_err(),
        "a written-off store spends nothing"
    );
}

#[test]
fn absurd_or_malformed_records_are_refused() {
    let mut spends = points::new_spends(HALL, "kiosk-1", "s").expect("spends");
    let part = |account: &str, amount| Part {
        account: account.into(),
        amount,
    };
    for bad in [
        Spend {
            parts: vec![],
            purpose: "x".into(),
            at_ms: 0,
            owed: None,
        },
        Spend {
            parts: vec![part("points:v1", 0)],
            purpose: "x".into(),
            at_ms: 0,
            owed: None,
        },
        Spend {
            parts: vec![part("points:v1", points::MAX_AMOUNT + 1)],
            purpose: "x".into(),
            at_ms: 0,
            owed: None,
        },
        Spend {
            parts: vec![part("points:v1", 1), part("points:v1", 1)],
            purpose: "x".into(),
            at_ms: 0,
            owed: None,
        },
        Spend {
            parts: vec![part(&"x".repeat(points::MAX_ACCOUNT_LEN + 1), 1)],
            purpose: "x".into(),
            at_ms: 0,
            owed: None,
        },
    ] {
        assert!(
            points::put_spend(&mut spends, "a", &bad).is_err(),
            "{bad:?}"
        );
    }
    assert!(points::spends(&spends).expect("read").is_empty());
    // A grant is written to a grants document only, and once.
    let mut grants = points::new_grants(HALL).expect("grants");
    let g = Grant {
        spender: "s".into(),
        part: part("points:v1", 5),
        at_ms: 0,
    };
    assert!(points::put_grant(&mut spends, "g", &g).is_err());
    points::put_grant(&mut grants, "g", &g).expect("grant");
    assert!(points::put_grant(&mut grants, "g", &g).is_err(), "once");
    // A document that is neither reads as an error, not as no rights.
    let foreign = Automerge::new();
    assert!(Escrow::read(&foreign, &[]).is_err());
    assert!(Escrow::read(&grants, &[&foreign]).is_err());
}
