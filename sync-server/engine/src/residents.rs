//! The server's side of residents' identity (see `linli_core::resident`):
//! the deployment's pseudonym salt and sealing key pair, and opening the
//! contacts kiosks sealed to it.
//!
//! The secret key lives in its own file, [`KEY_FILE`] in the data
//! directory (mode 0600), never in the database: a copied database or a
//! backup holds pseudonyms and sealed boxes and nothing that opens them.
//! The database keeps the public key, so a server started without its key
//! file (or with another deployment's) refuses to start instead of sealing
//! new contacts to a key that cannot open the old ones.
//!
//! Staff see a masked number (138****5678) made from the opened contact,
//! and the whole number only through [`ServerResidents::reveal`], which the
//! console audits. Opening costs an X25519 exchange, so what a pseudonym
//! opens to is kept in memory (bounded) for pages and exports.

use std::{
    collections::HashMap,
    io::Write as _,
    path::{Path, PathBuf},
    sync::Mutex,
};

use linli_core::{
    model::ResidentRef,
    phone::PhoneNumber,
    resident::{Contact, IdentityConfig, OpeningKey, Pseudonymizer, SALT_BYTES},
};
use rand::RngCore;

use crate::{Error, Result, tables::ServerTables};

/// The secret key's file in the data directory.
pub const KEY_FILE: &str = "residents.key";
const META_SALT: &str = "pseudonym_salt";
const META_SEAL_KEY: &str = "seal_public_key";
/// Residents whose opened masked number and name stay in memory.
const CACHED: usize = 100_000;

/// A resident as staff see them: masked number and short name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shown {
    /// `138****5678`, or `None` when the contact could not be opened.
    pub masked: Option<String>,
    /// The short name, if given.
    pub name: Option<String>,
}

/// The deployment's identity keys, held by the server.
pub struct ServerResidents {
    identity: IdentityConfig,
    opening: OpeningKey,
    pseudonymizer: Pseudonymizer,
    shown: Mutex<HashMap<String, Shown>>,
}

impl std::fmt::Debug for ServerResidents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerResidents").finish_non_exhaustive()
    }
}

fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE)
}

fn read_key(path: &Path) -> Result<OpeningKey> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        context: format!("reading the residents' key {}", path.display()),
        source,
    })?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            Error::Config(format!(
                "the residents' key {} is damaged (it must hold 64 hex digits)",
                path.display()
            ))
        })?;
    Ok(OpeningKey::from_bytes(bytes))
}

fn write_new_key(path: &Path, key: &OpeningKey) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let io = |source| Error::Io {
        context: format!("writing the residents' key {}", path.display()),
        source,
    };
    let mut f = options.open(path).map_err(io)?;
    f.write_all(hex::encode(key.to_bytes()).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io)
}

impl ServerResidents {
    /// Load the keys of the server in `data_dir` (making them on its first
    /// start), checked against what its database says.
    pub async fn open(data_dir: &Path, tables: &dyn ServerTables) -> Result<Self> {
        let path = key_path(data_dir);
        let known_public = tables.meta(META_SEAL_KEY).await?;
        let opening = match (path.exists(), &known_public) {
            (true, _) => read_key(&path)?,
            (false, Some(_)) => {
                return Err(Error::Config(format!(
                    "the residents' key {} is missing, but this database holds contacts sealed to it: \
                     put the key file back from where it is kept (it is not in database backups); \
                     without it no sealed callback number can be opened again",
                    path.display()
                )));
            }
            (false, None) => {
                let k = OpeningKey::generate();
                write_new_key(&path, &k)?;
                k
            }
        };
        let public = opening.sealing_key().to_hex();
        match known_public {
            Some(p) if p != public => {
                return Err(Error::Config(format!(
                    "the residents' key {} belongs to another server: put this server's own key file back",
                    path.display()
                )));
            }
            Some(_) => {}
            None => {
                // Several instances starting on one new database: the
                // first key stored stands, and any other is told so below.
                let stored = tables.meta_or_insert(META_SEAL_KEY, &public).await?;
                if stored != public {
                    return Err(Error::Config(format!(
                        "the residents' key {} is not the one this database was started with: \
                         give every instance the first instance's key file",
                        path.display()
                    )));
                }
            }
        }
        let salt = {
            let mut salt = [0u8; SALT_BYTES];
            rand::rng().fill_bytes(&mut salt);
            hex::encode(salt)
        };
        let salt = tables.meta_or_insert(META_SALT, &salt).await?;
        let pseudonymizer = Pseudonymizer::from_hex(&salt)
            .map_err(|e| Error::Config(format!("the stored pseudonym salt: {e}")))?;
        Ok(Self {
            identity: IdentityConfig {
                salt,
                seal_key: public,
            },
            opening,
            pseudonymizer,
            shown: Mutex::new(HashMap::new()),
        })
    }

    /// What kiosks receive at pairing.
    pub fn identity(&self) -> &IdentityConfig {
        &self.identity
    }

    /// A resident's pseudonym, as kiosks compute it (slow on purpose: call
    /// it on a blocking thread).
    pub fn pseudonym(&self, phone: &PhoneNumber) -> Result<String> {
        self.pseudonymizer
            .identify(phone)
            .map(|k| k.pseudonym().to_string())
            .map_err(Error::from)
    }

    /// What a record keeps of a resident with this number and name, as a
    /// kiosk would write it: pseudonym, sealed contact, name box (one slow
    /// evaluation; call it on a blocking thread).
    pub fn reference(&self, phone: &PhoneNumber, name: Option<&str>) -> Result<ResidentRef> {
        Ok(self.pseudonymizer.identify(phone)?.reference(
            &self.opening.sealing_key(),
            phone,
            name,
        )?)
    }

    /// Seal a contact to this server (the mobile page, which has the
    /// number the resident typed).
    pub fn seal(&self, contact: &Contact) -> Result<String> {
        self.opening
            .sealing_key()
            .seal(contact)
            .map_err(Error::from)
    }

    /// Masked number and name of the resident `pseudonym`, from their
    /// sealed contact `sealed` (opened once, then kept in memory).
    pub fn shown(&self, pseudonym: Option<&str>, sealed: Option<&str>) -> Shown {
        let (Some(p), Some(s)) = (pseudonym, sealed) else {
            return Shown::default();
        };
        if let Some(hit) = self.lock().get(p) {
            return hit.clone();
        }
        let shown = match self.opening.open(s) {
            Ok(c) => Shown {
                masked: c.masked(),
                name: c.name,
            },
            Err(_) => Shown::default(),
        };
        let mut cache = self.lock();
        if cache.len() >= CACHED {
            cache.clear();
        }
        cache.insert(p.to_string(), shown.clone());
        shown
    }

    /// A sealed contact, opened (erasure scrubs its number and name from
    /// the person's free text). Never logged.
    pub fn open_contact(&self, sealed: &str) -> Result<Contact> {
        self.opening.open(sealed).map_err(Error::from)
    }

    /// The whole number of a sealed contact, for a consented callback. The
    /// caller audits it.
    pub fn reveal(&self, sealed: &str) -> Result<String> {
        let c = self.opening.open(sealed)?;
        PhoneNumber::parse(&c.phone)
            .map(|p| p.expose_digits().to_string())
            .map_err(Error::from)
    }

    /// The tag the erasure watch keeps of a pseudonym (see
    /// `erasure_watch::ERASURE_WATCH_DAYS`): keyed by the residents' key, so a
    /// copied database or backup cannot test a guessed number against it.
    pub fn watch_tag(&self, pseudonym: &str) -> String {
        self.opening.tag(pseudonym)
    }

    /// Drop what is cached of a resident (they were erased).
    pub fn forget(&self, pseudonym: &str) {
        self.lock().remove(pseudonym);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Shown>> {
        self.shown.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use linli_core::sqlite::DbOptions;

    use super::*;
    use crate::db::Db;

    fn db(dir: &Path) -> Db {
        Db::open(&dir.join("server.sqlite3"), DbOptions::default(), &[]).expect("db")
    }

    #[tokio::test]
    async fn the_key_stays_out_of_the_database_and_a_missing_key_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = db(dir.path());
        let first = ServerResidents::open(dir.path(), &d)
            .await
            .expect("first start");
        let again = ServerResidents::open(dir.path(), &d)
            .await
            .expect("second start");
        assert_eq!(first.identity(), again.identity());
        let secret = std::fs::read_to_string(dir.path().join(KEY_FILE)).expect("key file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "only the server's user reads the key");
        }
        drop(d);
        let bytes = std::fs::read(dir.path().join("server.sqlite3")).expect("db bytes");
        let hay = String::from_utf8_lossy(&bytes);
        assert!(
            !hay.contains(secret.trim()),
            "the secret key is in the database"
        );

        let contact = Contact {
            phone: "13812345678".into(),
            name: Some("王叔".into()),
        };
        let sealed = first.seal(&contact).expect("seal");
        let shown = again.shown(Some("p"), Some(&sealed));
        assert_eq!(shown.masked.as_deref(), Some("138****5678"));
        assert_eq!(shown.name.as_deref(), Some("王叔"));
        assert_eq!(again.reveal(&sealed).expect("reveal"), "13812345678");

        std::fs::remove_file(dir.path().join(KEY_FILE)).expect("remove");
        let err = ServerResidents::open(dir.path(), &db(dir.path()))
            .await
            .expect_err("no key");
        assert!(err.to_string().contains("missing"), "{err}");
        std::fs::write(dir.path().join(KEY_FILE), hex::encode([9u8; 32])).expect("other key");
        let err = ServerResidents::open(dir.path(), &db(dir.path()))
            .await
            .expect_err("wrong key");
        assert!(err.to_string().contains("another server"), "{err}");
        std::fs::write(dir.path().join(KEY_FILE), "garbage").expect("damaged");
        let err = ServerResidents::open(dir.path(), &db(dir.path()))
            .await
            .expect_err("damaged");
        assert!(err.to_string().contains("damaged"), "{err}");
    }
}
