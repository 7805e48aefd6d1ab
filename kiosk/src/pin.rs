//! The staff PIN: stored salted and hashed in the kiosk's settings, never
//! in clear; five wrong tries lock staff mode for five minutes.

use sha2::{Digest, Sha256};

/// Wrong tries before a lock.
pub const MAX_TRIES: u32 = 5;
/// How long a lock lasts, ms.
pub const LOCK_MS: i64 = 5 * 60 * 1000;

/// A PIN must be 4 to 8 digits.
pub fn valid(pin: &str) -> bool {
    (4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

/// The stored form: `salt$sha256(salt:pin)`.
pub fn hash(pin: &str) -> String {
    let salt: [u8; 16] = rand::random();
    let salt = hex::encode(salt);
    format!("{salt}${}", digest(&salt, pin))
}

fn digest(salt: &str, pin: &str) -> String {
    hex::encode(Sha256::digest(format!("{salt}:{pin}").as_bytes()))
}

/// True when `pin` matches the stored form.
pub fn verify(stored: &str, pin: &str) -> bool {
    stored
        .split_once('$')
        .is_some_and(|(salt, h)| digest(salt, pin) == h)
}

/// Wrong tries and lock state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Guard {
    wrong: u32,
    locked_until: Option<i64>,
}

impl Guard {
    /// Milliseconds left in a lock at `now`, if locked.
    pub fn locked(&self, now: i64) -> Option<i64> {
        self.locked_until.filter(|t| *t > now).map(|t| t - now)
    }

    /// Record a try; returns whether it was right. Locked: always false.
    pub fn attempt(&mut self, stored: &str, pin: &str, now: i64) -> bool {
        if self.locked(now).is_some() {
            return false;
        }
        if verify(stored, pin) {
            self.wrong = 0;
            self.locked_until = None;
            return true;
        }
        self.wrong += 1;
        if self.wrong >= MAX_TRIES {
            self.wrong = 0;
            self.locked_until = Some(now + LOCK_MS);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_salted_and_verified() {
        let a = hash("2468");
        let b = hash("2468");
        assert_ne!(a, b, "salted");
        assert!(!a.contains("2468"));
        assert!(verify(&a, "2468") && verify(&b, "2468"));
        assert!(!verify(&a, "1357"));
        assert!(!verify("garbage", "2468"));
        assert!(valid("2468") && !valid("12") && !valid("12ab"));
    }

    #[test]
    fn five_wrong_tries_lock_for_five_minutes() {
        let stored = hash("2468");
        let mut g = Guard::default();
        for _ in 0..4 {
            assert!(!g.attempt(&stored, "0000", 0));
        }
        assert_eq!(g.locked(0), None);
        assert!(!g.attempt(&stored, "0000", 0));
        assert_eq!(g.locked(1_000), Some(LOCK_MS - 1_000));
        assert!(
            !g.attempt(&stored, "2468", 1_000),
            "locked even with the right PIN"
        );
        assert!(g.attempt(&stored, "2468", LOCK_MS + 1));
    }
}
