//! How the kiosk turns a number typed on the keypad into what documents
//! keep of a resident ([`ResidentRef`]): the slow pseudonym, the contact
//! sealed to the server and the name box (see [`crate::resident`]).
//!
//! One visit asks for the same resident several times (the name screen,
//! the check-in, "my requests"), and each pseudonym costs tens of
//! milliseconds on purpose, so the last few residents' keys are kept in
//! memory for a few minutes. The cache is keyed by a hash of the number
//! under a random key made at start and never written anywhere, holds
//! nothing on disk, and is dropped with the process.
//!
//! Sealing the contact to the server costs two X25519 operations, about a
//! tenth of a millisecond, and a tap should pay only for its commit. So
//! once the kiosk knows what the record will say (the name screen is left,
//! or the number gave a name before) it seals the reference ahead
//! ([`Residents::prepare`]); the tap takes it, once, if the name is still
//! the same, and seals anew otherwise.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{
    Error, Result,
    model::{ResidentRef, check_short_name},
    phone::PhoneNumber,
    resident::{IdentityConfig, Pseudonymizer, ResidentKeys, SealingKey},
};

/// Residents whose keys stay in memory.
const CACHED_RESIDENTS: usize = 32;
/// How long a resident's keys stay in memory, ms.
const CACHE_MS: i64 = 5 * 60 * 1000;

/// A recent resident's keys, and a reference sealed ahead for a record.
struct Cached {
    keys: ResidentKeys,
    /// When the keys were made, ms.
    at: i64,
    /// A reference sealed ahead, with the name it was sealed for.
    ready: Option<(Option<String>, ResidentRef)>,
}

impl Cached {
    /// Still to be used at `now_ms`: made less than [`CACHE_MS`] ago, and
    /// not in the future of a clock that was set back.
    fn fresh(&self, now_ms: i64) -> bool {
        now_ms.saturating_sub(self.at) < CACHE_MS && self.at <= now_ms
    }
}

/// Recent residents by the cache slot of their number.
type KeyCache = HashMap<[u8; 32], Cached>;

/// The kiosk's view of residents' identity.
#[derive(Clone)]
pub struct Residents {
    pseudonymizer: Pseudonymizer,
    sealing: SealingKey,
    cache_key: [u8; 32],
    cache: Arc<Mutex<KeyCache>>,
}

impl Residents {
    /// From the identity settings received at pairing.
    pub fn new(identity: &IdentityConfig) -> Result<Self> {
        let mut cache_key = [0u8; 32];
        rand::rng().fill_bytes(&mut cache_key);
        Ok(Self {
            pseudonymizer: Pseudonymizer::from_hex(&identity.salt)?,
            sealing: SealingKey::from_hex(&identity.seal_key)?,
            cache_key,
            cache: Arc::default(),
        })
    }

    /// The resident's keys (slow the first time: call it off the UI and
    /// async threads).
    pub fn keys(&self, phone: &PhoneNumber, now_ms: i64) -> Result<ResidentKeys> {
        let slot = self.slot(phone);
        {
            let mut cache = self.cache.lock().map_err(|_| Error::Stopped)?;
            cache.retain(|_, c| c.fresh(now_ms));
            if let Some(c) = cache.get(&slot) {
                return Ok(c.keys.clone());
            }
        }
        let keys = self.pseudonymizer.identify(phone)?;
        let mut cache = self.cache.lock().map_err(|_| Error::Stopped)?;
        if cache.len() >= CACHED_RESIDENTS
            && let Some(oldest) = cache.iter().min_by_key(|(_, c)| c.at).map(|(k, _)| *k)
        {
            cache.remove(&oldest);
        }
        cache.insert(
            slot,
            Cached {
                keys: keys.clone(),
                at: now_ms,
                ready: None,
            },
        );
        Ok(keys)
    }

    /// What a record keeps of a resident who typed `phone` and gave `name`:
    /// the reference sealed ahead for this name if there is one (each is
    /// used once), else one sealed now.
    pub fn reference(
        &self,
        phone: &PhoneNumber,
        name: Option<&str>,
        now_ms: i64,
    ) -> Result<ResidentRef> {
        if let Some(n) = name {
            check_short_name(n)?;
        }
        match self.take_ready(phone, name, now_ms) {
            Some(r) => Ok(r),
            None => self
                .keys(phone, now_ms)?
                .reference(&self.sealing, phone, name),
        }
    }

    /// The reference sealed ahead for this resident and `name`, if there
    /// is one (taken: each is used once). Quick: no pseudonym, no sealing.
    pub fn take_ready(
        &self,
        phone: &PhoneNumber,
        name: Option<&str>,
        now_ms: i64,
    ) -> Option<ResidentRef> {
        let slot = self.slot(phone);
        let mut cache = self.cache.lock().ok()?;
        let c = cache.get_mut(&slot).filter(|c| c.fresh(now_ms))?;
        match c.ready.take() {
            Some((for_name, r)) if for_name.as_deref() == name => Some(r),
            other => {
                c.ready = other;
                None
            }
        }
    }

    /// Seal ahead the reference a coming record of this resident will keep
    /// if they give `name` (see the module docs).
    pub fn prepare(&self, phone: &PhoneNumber, name: Option<&str>, now_ms: i64) -> Result<()> {
        if let Some(n) = name {
            check_short_name(n)?;
        }
        let sealed = self
            .keys(phone, now_ms)?
            .reference(&self.sealing, phone, name)?;
        let mut cache = self.cache.lock().map_err(|_| Error::Stopped)?;
        if let Some(c) = cache.get_mut(&self.slot(phone)) {
            c.ready = Some((name.map(str::to_string), sealed));
        }
        Ok(())
    }

    /// Where a number's keys are kept in the cache.
    fn slot(&self, phone: &PhoneNumber) -> [u8; 32] {
        Sha256::new()
            .chain_update(self.cache_key)
            .chain_update(phone.expose_digits().as_bytes())
            .finalize()
            .into()
    }

    /// Forget every cached key (the kiosk went idle).
    pub fn forget(&self) {
        if let Ok(mut c) = self.cache.lock() {
            c.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resident::{OpeningKey, SALT_BYTES};

    #[test]
    fn a_reference_holds_no_digit_or_name_and_the_server_opens_it() {
        let server = OpeningKey::generate();
        let r = Residents::new(&IdentityConfig {
            salt: hex::encode([3; SALT_BYTES]),
            seal_key: server.sealing_key().to_hex(),
        })
        .expect("identity");
        let phone = PhoneNumber::parse("13812345678").expect("phone");
        let a = r.reference(&phone, Some("李阿姨"), 0).expect("ref");
        let b = r.reference(&phone, None, 1).expect("ref");
        assert_eq!(a.pseudonym, b.pseudonym, "recognised again");
        let json = serde_json::to_string(&a).expect("json");
        for leak in ["1381234", "5678", "李阿姨", "****"] {
            assert!(!json.contains(leak), "{leak} in {json}");
        }
        let opened = server.open(&a.sealed).expect("open");
        assert_eq!(opened.phone, "13812345678");
        assert_eq!(opened.name.as_deref(), Some("李阿姨"));
        let keys = r.keys(&phone, 2).expect("keys");
        assert_eq!(
            keys.unlock_name(a.name_box.as_deref().expect("box"))
                .as_deref(),
            Some("李阿姨")
        );
        assert!(
            r.reference(&phone, Some("一个太长太长太长的名字"), 3)
                .is_err()
        );
    }

    #[test]
    fn a_reference_sealed_ahead_is_used_once_and_only_for_its_name() {
        let server = OpeningKey::generate();
        let r = Residents::new(&IdentityConfig {
            salt: hex::encode([4; SALT_BYTES]),
            seal_key: server.sealing_key().to_hex(),
        })
        .expect("identity");
        let phone = PhoneNumber::parse("13812345678").expect("phone");
        r.prepare(&phone, Some("王阿姨"), 0).expect("prepare");
        let ahead = r
            .cache
            .lock()
            .expect("cache")
            .values()
            .next()
            .and_then(|c| c.ready.as_ref().map(|(_, s)| s.sealed.clone()));
        // Another name: sealed now, and the one made ahead stays.
        let other = r.reference(&phone, None, 1).expect("ref");
        assert_ne!(Some(&other.sealed), ahead.as_ref());
        assert_eq!(server.open(&other.sealed).expect("open").name, None);
        // The name it was made for: that one, once.
        let first = r.reference(&phone, Some("王阿姨"), 2).expect("ref");
        assert_eq!(Some(&first.sealed), ahead.as_ref());
        let opened = server.open(&first.sealed).expect("open");
        assert_eq!(
            (opened.phone.as_str(), opened.name.as_deref()),
            ("13812345678", Some("王阿姨"))
        );
        let second = r.reference(&phone, Some("王阿姨"), 3).expect("ref");
        assert_ne!(
            second.sealed, first.sealed,
            "a reference sealed ahead is not used twice"
        );
        // Forgotten with the keys at the idle reset.
        r.prepare(&phone, None, 4).expect("prepare");
        r.forget();
        assert!(r.cache.lock().expect("cache").is_empty());
        assert!(
            r.prepare(&phone, Some("一个太长太长太长的名字"), 5)
                .is_err()
        );
    }
}
