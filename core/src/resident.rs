//! Residents' identity (DESIGN.md decision 7): a kiosk must recognise a
//! returning resident with no network, yet nothing on its disk — and
//! nothing in a server database or backup without the server's secret key
//! — may give back a phone number or a name.
//!
//! # What is stored
//! - **Pseudonym**: argon2id of the 11 digits with a deployment-wide salt
//!   ([`Pseudonymizer`]). The same number gives the same pseudonym on every
//!   kiosk of the deployment, so "already checked in", "my requests" and a
//!   volunteer's hours work offline. One argon2id evaluation is also what it
//!   costs to test one guess.
//! - **Name box**: the short name (李阿姨), encrypted (XChaCha20-Poly1305)
//!   under a key derived from the same argon2id output, so a kiosk can greet
//!   a resident who has just typed their number, and a stolen disk has to
//!   pay the same argon2id per guess to read it.
//! - **Sealed contact**: the number and name sealed (libsodium sealed box:
//!   X25519 + XSalsa20-Poly1305, the `crypto_box` crate) to the server's
//!   public key. Only the server, holding the secret key in a file outside
//!   its database, opens it: to show staff a masked number, or the whole
//!   number on purpose for a consented callback (audited).
//!
//! No digit of the number is stored in the clear anywhere: the masked form a
//! kiosk shows comes from what the resident just typed, and the console's
//! from the sealed contact the server opens.
//!
//! # Cost model
//! Someone holding everything a kiosk stores (documents, journal, pairing
//! configuration with the salt) can only test guesses, each costing one
//! argon2id evaluation ([`ARGON2_MEMORY_KIB`] KiB, [`ARGON2_PASSES`]
//! passes, one lane). The stored data leaves every mainland mobile number
//! open: `1`, then 3–9, then nine digits, [`CANDIDATE_NUMBERS`] in all, so
//! finding one resident takes on average half of them:
//! `CANDIDATE_NUMBERS / 2 × t(argon2id)`. The test
//! `recovering_one_number_costs_over_a_cpu_year` times the function on the
//! machine it runs on and checks this is more than one CPU-year. An attacker
//! who knows which number blocks (号段) a city was given narrows the
//! candidates by about a hundred times; see the closing note of issue 12.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use autosurgeon::{Hydrate, Reconcile};
use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, AeadCore, OsRng},
};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{Error, Result, phone::PhoneNumber};

/// Memory of one pseudonym evaluation, KiB (32 MiB).
pub const ARGON2_MEMORY_KIB: u32 = 32 * 1024;
/// Passes over that memory.
pub const ARGON2_PASSES: u32 = 3;
/// Mainland mobile numbers that stored data leaves open: `1[3-9]` and nine
/// more digits.
pub const CANDIDATE_NUMBERS: u64 = 7 * 1_000_000_000;
/// Length of the deployment's pseudonym salt, bytes.
pub const SALT_BYTES: usize = 16;
/// Longest sealed contact accepted in a document, characters of base64
/// (a number and an eight-character name seal to about 140).
pub const MAX_SEALED_CHARS: usize = 400;
/// Longest name box accepted in a document, characters of base64.
pub const MAX_NAME_BOX_CHARS: usize = 200;

/// The deployment's identity settings a kiosk receives at pairing: the
/// pseudonym salt and the server's sealing public key. Neither is secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityConfig {
    /// Hex of the [`SALT_BYTES`]-byte pseudonym salt.
    pub salt: String,
    /// Hex of the server's X25519 public key (32 bytes).
    pub seal_key: String,
}

/// Computes pseudonyms: slow on purpose (see the module's cost model).
#[derive(Clone)]
pub struct Pseudonymizer {
    salt: Vec<u8>,
    argon2: Argon2<'static>,
}

impl Pseudonymizer {
    /// A pseudonymizer for the deployment salt `salt`.
    pub fn new(salt: &[u8]) -> Result<Self> {
        if salt.len() != SALT_BYTES {
            return Err(Error::invalid(
                "pseudonym salt",
                format!("must be {SALT_BYTES} bytes"),
            ));
        }
        let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, Some(32))
            .map_err(|e| Error::invalid("pseudonym parameters", e.to_string()))?;
        Ok(Self {
            salt: salt.to_vec(),
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        })
    }

    /// A pseudonymizer from the hex salt of an [`IdentityConfig`].
    pub fn from_hex(salt: &str) -> Result<Self> {
        let bytes =
            hex::decode(salt).map_err(|e| Error::invalid("pseudonym salt", e.to_string()))?;
        Self::new(&bytes)
    }

    /// Derive a resident's keys from their number. Takes tens of
    /// milliseconds and 32 MiB: call it off any UI or async thread.
    pub fn identify(&self, phone: &PhoneNumber) -> Result<ResidentKeys> {
        let mut out = [0u8; 32];
        self.argon2
            .hash_password_into(phone.expose_digits().as_bytes(), &self.salt, &mut out)
            .map_err(|e| Error::invalid("pseudonym", e.to_string()))?;
        let hk = Hkdf::<Sha256>::new(None, &out);
        let mut pseudonym = [0u8; 32];
        let mut name_key = [0u8; 32];
        hk.expand(b"linli pseudonym v2", &mut pseudonym)
            .and_then(|()| hk.expand(b"linli name key v2", &mut name_key))
            .map_err(|e| Error::invalid("pseudonym", e.to_string()))?;
        Ok(ResidentKeys {
            pseudonym: hex::encode(pseudonym),
            name_key,
        })
    }
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pseudonymizer(..)")
    }
}

/// What a resident's number derives: their pseudonym and the key of their
/// name box. Held only while the resident is at the kiosk.
#[derive(Clone)]
pub struct ResidentKeys {
    pseudonym: String,
    name_key: [u8; 32],
}

impl ResidentKeys {
    /// What a record keeps of the resident these keys belong to, who typed
    /// `phone` and gave `name`: the pseudonym, the number and name sealed
    /// to the server (`sealing`), the name boxed under these keys.
    pub fn reference(
        &self,
        sealing: &SealingKey,
        phone: &PhoneNumber,
        name: Option<&str>,
    ) -> Result<ResidentRef> {
        let sealed = sealing.seal(&Contact {
            phone: phone.expose_digits().to_string(),
            name: name.map(str::to_string),
        })?;
        Ok(ResidentRef {
            pseudonym: self.pseudonym.clone(),
            sealed,
            name_box: name.map(|n| self.lock_name(n)).transpose()?,
        })
    }

    /// The pseudonym documents and tables carry (64 hex digits).
    pub fn pseudonym(&self) -> &str {
        &self.pseudonym
    }

    /// Encrypt a short name so only someone who knows the number reads it.
    pub fn lock_name(&self, name: &str) -> Result<String> {
        let cipher = XChaCha20Poly1305::new(&self.name_key.into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = cipher
            .encrypt(&nonce, name.as_bytes())
            .map_err(|_| Error::invalid("name", "could not be encrypted"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(B64.encode(out))
    }

    /// Read a name box written for this resident; `None` if it is not one
    /// (another resident's, or damaged).
    pub fn unlock_name(&self, boxed: &str) -> Option<String> {
        let bytes = B64.decode(boxed).ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, ct) = bytes.split_at(24);
        let cipher = XChaCha20Poly1305::new(&self.name_key.into());
        let plain = cipher.decrypt(XNonce::from_slice(nonce), ct).ok()?;
        String::from_utf8(plain).ok()
    }
}

impl fmt::Debug for ResidentKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResidentKeys(..)")
    }
}

/// What a sealed contact holds: what staff may need to call a resident
/// back. `Debug` is masked.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The 11 digits.
    pub phone: String,
    /// The short name, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Contact {
    /// The masked number (`138****5678`), or `None` if the digits are not a
    /// valid number (a forged contact).
    pub fn masked(&self) -> Option<String> {
        PhoneNumber::parse(&self.phone).ok().map(|p| p.masked())
    }
}

impl fmt::Debug for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contact")
            .field(
                "phone",
                &self.masked().unwrap_or_else(|| "<invalid>".into()),
            )
            .field("name", &self.name.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// The server's public key: kiosks seal contacts to it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealingKey(crypto_box::PublicKey);

impl SealingKey {
    /// From the hex of an [`IdentityConfig`].
    pub fn from_hex(s: &str) -> Result<Self> {
        let bytes: [u8; 32] = hex::decode(s)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::invalid("sealing key", "must be 32 bytes of hex"))?;
        Ok(Self(crypto_box::PublicKey::from(bytes)))
    }

    /// The hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// Seal a contact so only the server can open it (base64).
    pub fn seal(&self, contact: &Contact) -> Result<String> {
        let plain =
            serde_json::to_vec(contact).map_err(|e| Error::invalid("contact", e.to_string()))?;
        self.0
            .seal(&mut OsRng, &plain)
            .map(|b| B64.encode(b))
            .map_err(|_| Error::invalid("contact", "could not be sealed"))
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealingKey({})", self.to_hex())
    }
}

/// The server's secret key: opens sealed contacts. Lives only in the
/// server's key file, never in a database, a backup or a log.
#[derive(Clone)]
pub struct OpeningKey(crypto_box::SecretKey);

impl OpeningKey {
    /// A new random key.
    pub fn generate() -> Self {
        Self(crypto_box::SecretKey::generate(&mut OsRng))
    }

    /// From its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(crypto_box::SecretKey::from(bytes))
    }

    /// Its 32 bytes (for the key file only).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public half kiosks seal to.
    pub fn sealing_key(&self) -> SealingKey {
        SealingKey(self.0.public_key())
    }

    /// A tag of a pseudonym that only this key computes (HKDF-SHA256 keyed
    /// by it): how the server remembers an erased resident for a while
    /// without a backup (which never holds this key) being able to tell
    /// whether a guessed number was erased.
    pub fn tag(&self, pseudonym: &str) -> String {
        let hk = Hkdf::<Sha256>::new(Some(b"linli erasure watch v1"), &self.0.to_bytes());
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit of 8160: never fails.
        let _ = hk.expand(pseudonym.as_bytes(), &mut out);
        hex::encode(out)
    }

    /// Open a sealed contact; an error if it was not sealed to this key or
    /// does not hold a contact.
    pub fn open(&self, sealed: &str) -> Result<Contact> {
        let bytes = B64
            .decode(sealed)
            .map_err(|_| Error::invalid("sealed contact", "is not base64"))?;
        let plain = self
            .0
            .unseal(&bytes)
            .map_err(|_| Error::invalid("sealed contact", "was not sealed to this server"))?;
        serde_json::from_slice(&plain)
            .map_err(|_| Error::invalid("sealed contact", "does not hold a contact"))
    }
}

impl fmt::Debug for OpeningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpeningKey(..)")
    }
}

/// True when `s` is base64 of at most `max` characters: the shape checks
/// of sealed contacts and name boxes in documents.
pub fn is_base64_within(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && B64.decode(s).is_ok()
}

/// A resident as documents know them (see this module): a slow
/// pseudonym to recognise them by, their number and name sealed to the
/// server, and their name boxed under a key only their number derives.
/// Never a digit of the number, never a name in the clear.
#[derive(Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct ResidentRef {
    /// argon2id pseudonym of the number (64 hex digits).
    #[autosurgeon(hydrate = "crate::docs::values::string")]
    pub pseudonym: String,
    /// Number and name sealed to the server's public key (base64).
    #[autosurgeon(hydrate = "crate::docs::values::string")]
    pub sealed: String,
    /// The short name, boxed under the resident's own key (base64), so a
    /// kiosk greets them by name once they type their number.
    #[autosurgeon(hydrate = "crate::docs::values::opt_string")]
    pub name_box: Option<String>,
}

impl std::fmt::Debug for ResidentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Even the pseudonym stays out of logs: it links a person's records.
        f.debug_struct("ResidentRef")
            .field("name", &self.name_box.as_ref().map(|_| "<boxed>"))
            .finish_non_exhaustive()
    }
}

impl ResidentRef {
    /// The pseudonym that stands where an erased resident was. It is not
    /// 64 hex digits, so no number ever derives it: erased records match
    /// nobody, link to nobody, and still count as a named visit.
    pub const ERASED: &'static str = "erased";

    /// What a record of a resident who asked to be erased carries instead
    /// of them (see `docs::erase`): no pseudonym, no sealed contact, no name.
    pub fn erased() -> Self {
        Self {
            pseudonym: Self::ERASED.to_string(),
            sealed: String::new(),
            name_box: None,
        }
    }

    /// True for [`ResidentRef::erased`].
    pub fn is_erased(&self) -> bool {
        self.pseudonym == Self::ERASED
    }

    /// Check every field.
    pub fn validate(&self) -> Result<()> {
        if self.is_erased() {
            if self.sealed.is_empty() && self.name_box.is_none() {
                return Ok(());
            }
            return Err(Error::invalid(
                "resident",
                "an erased resident carries no sealed contact and no name",
            ));
        }
        if self.pseudonym.len() != 64 || !self.pseudonym.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid(
                "resident",
                "pseudonym must be 64 hex digits",
            ));
        }
        if !is_base64_within(&self.sealed, MAX_SEALED_CHARS) {
            return Err(Error::invalid(
                "resident",
                format!("sealed contact must be base64 of at most {MAX_SEALED_CHARS} characters"),
            ));
        }
        if let Some(b) = &self.name_box
            && !is_base64_within(b, MAX_NAME_BOX_CHARS)
        {
            return Err(Error::invalid(
                "resident",
                format!("name box must be base64 of at most {MAX_NAME_BOX_CHARS} characters"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn phone(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s).expect("valid")
    }

    #[test]
    fn the_same_number_gives_the_same_pseudonym_and_another_number_another() {
        let p = Pseudonymizer::new(&[7; SALT_BYTES]).expect("salt");
        let a = p.identify(&phone("13812345678")).expect("a");
        let b = p.identify(&phone("13812345678")).expect("b");
        let c = p.identify(&phone("13812345679")).expect("c");
        assert_eq!(a.pseudonym(), b.pseudonym());
        assert_ne!(a.pseudonym(), c.pseudonym());
        assert_eq!(a.pseudonym().len(), 64);
        assert!(!a.pseudonym().contains("5678"));
        // Another deployment's salt gives other pseudonyms.
        let other = Pseudonymizer::new(&[8; SALT_BYTES]).expect("salt");
        assert_ne!(
            other
                .identify(&phone("13812345678"))
                .expect("o")
                .pseudonym(),
            a.pseudonym()
        );
        assert!(Pseudonymizer::new(&[1; 4]).is_err());
    }

    #[test]
    fn a_name_box_opens_only_with_that_residents_number() {
        let p = Pseudonymizer::new(&[7; SALT_BYTES]).expect("salt");
        let li = p.identify(&phone("13812345678")).expect("li");
        let wang = p.identify(&phone("13900001111")).expect("wang");
        let boxed = li.lock_name("李阿姨").expect("lock");
        assert!(!boxed.contains("李"));
        assert_eq!(li.unlock_name(&boxed).as_deref(), Some("李阿姨"));
        assert_eq!(wang.unlock_name(&boxed), None);
        assert_eq!(li.unlock_name("not base64!"), None);
        // Two boxes of one name differ (random nonce): equal names do not
        // link records.
        assert_ne!(li.lock_name("李阿姨").expect("again"), boxed);
    }

    #[test]
    fn only_the_servers_key_opens_a_sealed_contact() {
        let server = OpeningKey::generate();
        let other = OpeningKey::generate();
        let contact = Contact {
            phone: "13812345678".into(),
            name: Some("李阿姨".into()),
        };
        let sealed = server.sealing_key().seal(&contact).expect("seal");
        assert!(
            is_base64_within(&sealed, MAX_SEALED_CHARS),
            "{}",
            sealed.len()
        );
        assert_eq!(server.open(&sealed).expect("open"), contact);
        assert!(other.open(&sealed).is_err());
        assert!(server.open("AAAA").is_err());
        assert_eq!(
            OpeningKey::from_bytes(server.to_bytes()).sealing_key(),
            server.sealing_key()
        );
        let round = SealingKey::from_hex(&server.sealing_key().to_hex()).expect("hex");
        assert_eq!(round, server.sealing_key());
        let debug = format!("{contact:?}");
        assert!(
            !debug.contains("13812345678") && !debug.contains("李"),
            "{debug}"
        );
        assert!(debug.contains("138****5678"));
    }

    /// The cost model of the module docs, measured here: testing every
    /// candidate number against one pseudonym, half of them on average,
    /// takes more than a CPU-year.
    #[test]
    fn recovering_one_number_costs_over_a_cpu_year() {
        let p = Pseudonymizer::new(&[7; SALT_BYTES]).expect("salt");
        let n = phone("13812345678");
        p.identify(&n).expect("warm up");
        let runs = 3;
        let started = Instant::now();
        for _ in 0..runs {
            p.identify(&n).expect("pseudonym");
        }
        let per_guess = started.elapsed().as_secs_f64() / f64::from(runs);
        let expected_seconds = per_guess * (CANDIDATE_NUMBERS as f64) / 2.0;
        let cpu_years = expected_seconds / (365.25 * 24.0 * 3600.0);
        println!(
            "one pseudonym: {:.1} ms; expected search for one number: {cpu_years:.1} CPU-years",
            per_guess * 1000.0
        );
        assert!(
            cpu_years >= 1.0,
            "one guess costs {per_guess} s: {cpu_years} CPU-years per resident"
        );
    }
}
