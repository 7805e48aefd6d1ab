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

/// Keys of recent residents by the cache slot of their number, with the
/// time they were made.
type KeyCache = HashMap<[u8; 32], (ResidentKeys, i64)>;

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
        let slot: [u8; 32] = Sha256::new()
            .chain_update(self.cache_key)
            .chain_update(phone.expose_digits().as_bytes())
            .finalize()
            .into();
        {
            let mut cache = self.cache.lock().map_err(|_| Error::Stopped)?;
            cache.retain(|_, (_, at)| now_ms.saturating_sub(*at) < CACHE_MS && *at <= now_ms);
            if let Some((keys, _)) = cache.get(&slot) {
                return Ok(keys.clone());
            }
        }
        let keys = self.pseudonymizer.identify(phone)?;
        let mut cache = self.cache.lock().map_err(|_| Error::Stopped)?;
        if cache.len() >= CACHED_RESIDENTS
            && let Some(oldest) = cache.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| *k)
        {
            cache.remove(&oldest);
        }
        cache.insert(slot, (keys.clone(), now_ms));
        Ok(keys)
    }

    /// What a record keeps of a resident who typed `phone` and gave `name`.
    pub fn reference(
        &self,
        phone: &PhoneNumber,
        name: Option<&str>,
        now_ms: i64,
    ) -> Result<ResidentRef> {
        if let Some(n) = name {
            check_short_name(n)?;
        }
        self.keys(phone, now_ms)?
            .reference(&self.sealing, phone, name)
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
}
