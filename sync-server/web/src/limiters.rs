//! What the web side counts per client, each in bounded memory: distinct
//! wrong tokens per address ([`TokenLimiter`], its numbers in
//! `linli_sync_engine::limits`), failed console sign-ins per user name
//! ([`LoginLimiter`]), and resident page submissions per hall and per
//! address ([`WebLimiter`]). They know nothing of requests: handlers pass
//! them the address and the moment.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::Mutex,
};

use linli_sync_engine::limits::{MAX_TOKEN_FAILURES, TOKEN_FAILURE_WINDOW_MS};

/// Addresses [`TokenLimiter`] remembers at most (older ones are forgotten first).
pub const MAX_TRACKED_ADDRESSES: usize = 10_000;

/// Counts distinct wrong tokens per client address.
#[derive(Debug, Default)]
pub struct TokenLimiter {
    failures: Mutex<HashMap<IpAddr, (HashSet<u64>, i64)>>,
}

fn token_key(token: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    token.hash(&mut h);
    h.finish()
}

impl TokenLimiter {
    /// Whether `addr` has used up its failures for now.
    pub fn blocked(&self, addr: Option<IpAddr>, now: i64) -> bool {
        let Some(ip) = addr else { return false };
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&ip).is_some_and(|(tokens, since)| {
            tokens.len() >= MAX_TOKEN_FAILURES && now - since < TOKEN_FAILURE_WINDOW_MS
        })
    }

    /// Count a failed check of `token` by `addr`.
    pub fn fail(&self, addr: Option<IpAddr>, token: &str, now: i64) {
        let Some(ip) = addr else { return };
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED_ADDRESSES {
            map.retain(|_, (_, since)| now - *since < TOKEN_FAILURE_WINDOW_MS);
            if map.len() >= MAX_TRACKED_ADDRESSES {
                map.clear();
            }
        }
        let e = map.entry(ip).or_insert_with(|| (HashSet::new(), now));
        if now - e.1 >= TOKEN_FAILURE_WINDOW_MS {
            *e = (HashSet::new(), now);
        }
        if e.0.len() < MAX_TOKEN_FAILURES {
            e.0.insert(token_key(token));
        }
    }
}

/// Failed sign-ins allowed per user name per window.
pub const MAX_FAILURES: u32 = 5;
/// The window, ms.
pub const FAILURE_WINDOW_MS: i64 = 5 * 60 * 1000;

/// User names [`LoginLimiter`] remembers at most.
pub const MAX_TRACKED_NAMES: usize = 10_000;

/// Failed sign-ins per user name, in bounded memory.
///
/// Names are kept as keyed 64-bit hashes (a name may be any string a
/// stranger types; its length costs nothing here, and no name is held).
/// Entries whose window has passed are dropped: every window, and whenever
/// the map is full. It never holds more than [`MAX_TRACKED_NAMES`]: when a
/// new name finds it full, it first drops what has expired, then every
/// name that is not blocked (their partial counts start again; refilling
/// the map to wipe them takes 10,000 failed sign-ins, an argon2
/// verification each). Blocked names are never dropped before their
/// window ends. Should the map still be full — 10,000 names blocked at
/// once — a new name is not counted until room frees up; the known ones
/// stay blocked.
#[derive(Default)]
pub struct LoginLimiter {
    keys: std::hash::RandomState,
    failures: Mutex<Failures>,
}

#[derive(Default)]
struct Failures {
    /// Name hash → (failures, when the window began, ms).
    by_name: HashMap<u64, (u32, i64)>,
    /// When expired entries were last dropped, ms.
    swept_ms: i64,
}

impl LoginLimiter {
    fn key(&self, user: &str) -> u64 {
        std::hash::BuildHasher::hash_one(&self.keys, user)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Failures> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Milliseconds until `user` may try again, if blocked now.
    pub fn blocked(&self, user: &str, now: i64) -> Option<i64> {
        let key = self.key(user);
        self.lock()
            .by_name
            .get(&key)
            .filter(|(n, since)| *n >= MAX_FAILURES && now - since < FAILURE_WINDOW_MS)
            .map(|(_, since)| FAILURE_WINDOW_MS - (now - since))
    }

    /// Count a failure.
    pub fn fail(&self, user: &str, now: i64) {
        let key = self.key(user);
        let mut f = self.lock();
        let live = |since: i64| now - since < FAILURE_WINDOW_MS;
        if now - f.swept_ms >= FAILURE_WINDOW_MS {
            f.by_name.retain(|_, (_, since)| live(*since));
            f.swept_ms = now;
        }
        if !f.by_name.contains_key(&key) && f.by_name.len() >= MAX_TRACKED_NAMES {
            f.by_name
                .retain(|_, (n, since)| live(*since) && *n >= MAX_FAILURES);
            if f.by_name.len() >= MAX_TRACKED_NAMES {
                return;
            }
        }
        let e = f.by_name.entry(key).or_insert((0, now));
        if !live(e.1) {
            *e = (0, now);
        }
        e.0 += 1;
    }

    /// Forget failures after a success.
    pub fn succeed(&self, user: &str) {
        let key = self.key(user);
        self.lock().by_name.remove(&key);
    }

    /// How many user names are remembered now.
    pub fn tracked(&self) -> usize {
        self.lock().by_name.len()
    }
}

/// Submissions a hall's web page accepts per window.
pub const MAX_PER_WINDOW: u32 = 30;
/// The window, ms.
pub const WINDOW_MS: i64 = 10 * 60 * 1000;
/// Submissions one client address may make per [`ADDRESS_WINDOW_MS`].
pub const MAX_PER_ADDRESS: u32 = 10;
/// The window of [`MAX_PER_ADDRESS`], ms (an hour).
pub const ADDRESS_WINDOW_MS: i64 = 60 * 60 * 1000;
/// Client addresses remembered at most. When full, expired ones are
/// dropped; if none has expired, a new address is not counted (the
/// per-hall limit still holds it).
pub const MAX_ADDRESSES: usize = 10_000;

/// Submissions per client address and per hall in their current windows.
#[derive(Default)]
pub struct WebLimiter(Mutex<Windows>);

#[derive(Default)]
struct Windows {
    /// Hall → (submissions, when the window began).
    halls: HashMap<String, (u32, i64)>,
    /// Client address → (submissions, when the window began).
    addresses: HashMap<IpAddr, (u32, i64)>,
}

/// Why a submission was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// This address has used its hour; ms until it may again.
    Address(i64),
    /// The hall has had its ten minutes' worth.
    Hall,
}

impl WebLimiter {
    /// Count a submission to `hall` from `addr`, unless either is over
    /// its limit (then nothing is counted).
    pub(crate) fn allow(&self, hall: &str, addr: Option<IpAddr>, now: i64) -> Result<(), Refusal> {
        let mut w = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let live = |since: i64| now - since < ADDRESS_WINDOW_MS;
        if let Some((n, since)) = addr.and_then(|ip| w.addresses.get(&ip))
            && live(*since)
            && *n >= MAX_PER_ADDRESS
        {
            return Err(Refusal::Address(ADDRESS_WINDOW_MS - (now - since)));
        }
        let h = w.halls.entry(hall.to_string()).or_insert((0, now));
        if now - h.1 >= WINDOW_MS {
            *h = (0, now);
        }
        if h.0 >= MAX_PER_WINDOW {
            return Err(Refusal::Hall);
        }
        h.0 += 1;
        let Some(ip) = addr else { return Ok(()) };
        if !w.addresses.contains_key(&ip) && w.addresses.len() >= MAX_ADDRESSES {
            w.addresses.retain(|_, (_, since)| live(*since));
            if w.addresses.len() >= MAX_ADDRESSES {
                return Ok(());
            }
        }
        let a = w.addresses.entry(ip).or_insert((0, now));
        if !live(a.1) {
            *a = (0, now);
        }
        a.0 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_failures_and_freed_after_the_window() {
        let l = TokenLimiter::default();
        let a = Some("127.0.0.1".parse().expect("ip"));
        let b = Some("127.0.0.2".parse().expect("ip"));
        // One wrong token retried for ever is not guessing.
        for _ in 0..100 {
            l.fail(a, "la_revoked", 0);
        }
        assert!(!l.blocked(a, 0));
        // It is one of the distinct wrong tokens, though.
        for i in 1..MAX_TOKEN_FAILURES {
            assert!(!l.blocked(a, 0));
            l.fail(a, &format!("la_guess_{i}"), 0);
        }
        assert!(l.blocked(a, 1));
        assert!(!l.blocked(b, 1), "another address is not affected");
        assert!(!l.blocked(a, TOKEN_FAILURE_WINDOW_MS + 1));
        // Without an address (in-process callers) nothing is counted.
        l.fail(None, "x", 0);
        assert!(!l.blocked(None, 0));
    }

    #[test]
    fn five_failures_block_for_five_minutes() {
        let l = LoginLimiter::default();
        for _ in 0..4 {
            l.fail("wang", 0);
        }
        assert_eq!(l.blocked("wang", 0), None);
        l.fail("wang", 0);
        assert!(l.blocked("wang", 1000).is_some());
        assert_eq!(l.blocked("li", 1000), None);
        assert_eq!(l.blocked("wang", FAILURE_WINDOW_MS), None);
    }

    #[test]
    fn failures_are_forgotten_once_their_window_has_passed() {
        let l = LoginLimiter::default();
        for i in 0..1000 {
            l.fail(&format!("guess-{i}"), 0);
        }
        assert_eq!(l.tracked(), 1000);
        l.fail("wang", FAILURE_WINDOW_MS);
        assert_eq!(l.tracked(), 1, "only the fresh failure is left");
    }

    #[test]
    fn many_distinct_names_never_grow_the_map_nor_free_a_blocked_name() {
        let l = LoginLimiter::default();
        for _ in 0..MAX_FAILURES {
            l.fail("wang", 0);
        }
        l.fail("li", 0);
        for i in 0..3 * MAX_TRACKED_NAMES {
            l.fail(&format!("{i}-{}", "x".repeat(i % 100)), 1);
            assert!(l.tracked() <= MAX_TRACKED_NAMES);
        }
        assert!(l.blocked("wang", 2).is_some(), "still blocked");
        // A name that is not blocked may have been dropped to make room:
        // it is counted from zero again, and blocked after five more.
        for _ in 0..MAX_FAILURES {
            l.fail("li", 2);
        }
        assert!(l.blocked("li", 3).is_some());
    }

    #[test]
    fn a_map_full_of_blocked_names_refuses_new_ones_and_keeps_blocking() {
        let l = LoginLimiter::default();
        for i in 0..MAX_TRACKED_NAMES {
            for _ in 0..MAX_FAILURES {
                l.fail(&format!("guess-{i}"), 0);
            }
        }
        assert_eq!(l.tracked(), MAX_TRACKED_NAMES);
        for _ in 0..MAX_FAILURES {
            l.fail("newcomer", 1);
        }
        assert_eq!(l.tracked(), MAX_TRACKED_NAMES, "no growth");
        assert_eq!(l.blocked("newcomer", 1), None, "not counted");
        assert!(l.blocked("guess-0", 1).is_some() && l.blocked("guess-9999", 1).is_some());
        // Once the window has passed there is room again.
        l.fail("newcomer", FAILURE_WINDOW_MS);
        assert_eq!(l.tracked(), 1);
    }

    fn ip(i: u32) -> Option<IpAddr> {
        Some(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i)))
    }

    #[test]
    fn an_address_gets_its_hour_and_a_hall_its_ten_minutes() {
        let l = WebLimiter::default();
        for _ in 0..MAX_PER_ADDRESS {
            assert_eq!(l.allow("xianfeng", ip(1), 0), Ok(()));
        }
        assert_eq!(
            l.allow("xianfeng", ip(1), 60_000),
            Err(Refusal::Address(ADDRESS_WINDOW_MS - 60_000))
        );
        assert!(l.allow("zhongfu", ip(1), 0).is_err(), "any hall");
        assert_eq!(l.allow("xianfeng", ip(2), 0), Ok(()), "another address");
        assert_eq!(l.allow("xianfeng", ip(1), ADDRESS_WINDOW_MS), Ok(()));
        // The hall's own limit, whatever the addresses.
        let l = WebLimiter::default();
        for i in 0..MAX_PER_WINDOW {
            assert_eq!(l.allow("xianfeng", ip(i), 0), Ok(()));
        }
        assert_eq!(l.allow("xianfeng", ip(999), 0), Err(Refusal::Hall));
        assert_eq!(l.allow("xianfeng", None, 0), Err(Refusal::Hall));
        assert_eq!(l.allow("zhongfu", ip(999), 0), Ok(()));
        assert_eq!(l.allow("xianfeng", ip(999), WINDOW_MS), Ok(()));
    }

    #[test]
    fn remembered_addresses_stay_bounded() {
        let l = WebLimiter::default();
        let n = u32::try_from(2 * MAX_ADDRESSES).expect("small");
        for i in 0..n {
            // A hall each, so the halls' limit stays out of the way.
            assert_eq!(l.allow(&format!("h{i}"), ip(i), 0), Ok(()));
        }
        let w = l.0.lock().expect("lock");
        assert_eq!(w.addresses.len(), MAX_ADDRESSES);
        drop(w);
        // Once their hour has passed, old addresses make room.
        assert_eq!(l.allow("h0", ip(n), ADDRESS_WINDOW_MS), Ok(()));
        assert_eq!(l.0.lock().expect("lock").addresses.len(), 1);
    }
}
