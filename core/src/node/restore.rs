//! Restoring a kiosk's store from a copy (`linli-kiosk restore`).
//!
//! Why a command and not a file copy: a copy taken earlier may hold
//! rights to volunteers' points and items that the kiosk spent after the
//! copy was taken, and the copy cannot know. A kiosk whose copied files
//! were put back by hand finds out only when the server's copy of its
//! spends brings records its journal never wrote
//! (`market::carry_on_if_restored`); offline, it could meanwhile spend
//! those rights again. Restored with this command, the store is marked
//! so, and the kiosk closes its old points store at its next start,
//! before anything else and with no network, and carries on as a new one
//! that the server grants afresh once it has the old one's last state
//! (DESIGN.md decision 12). Check-ins, requests and shifts in the copy are
//! kept as they are: they sync as usual, each once.
//!
//! Nothing already stored is lost: the data directory in use is moved
//! aside, whole, never deleted.

use std::path::{Path, PathBuf};

use super::{STORE_FILE, journal::Journal};
use crate::{Error, Result, sqlite::DbOptions};

/// Kiosk setting: when the store was restored by the command, until the
/// kiosk has closed its old points store (empty once done).
pub(super) const META_RESTORED: &str = "points.restored_at";

/// What a restore did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// Files copied from the copy.
    pub files: usize,
    /// Where the data directory that was in use went, if there was one.
    pub moved_aside: Option<PathBuf>,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// Whether `dir` holds a paired kiosk's store (read only: the copy is
/// not changed).
fn is_paired_store(dir: &Path) -> Result<bool> {
    let path = dir.join(STORE_FILE);
    if !path.is_file() {
        return Ok(false);
    }
    let c = rusqlite::Connection::open_with_flags(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Error::store("opening the copy", e))?;
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM kiosk_meta WHERE key = 'config')",
        [],
        |r| r.get(0),
    )
    .map_err(|e| Error::store("reading the copy's pairing", e))
}

/// Put the kiosk store copied in `copy` in place as the store of
/// `data_dir` (the kiosk must not be running), marked restored at
/// `now_ms`: the data directory in use, if any, is moved aside to
/// `<data_dir>.before-restore-<now_ms>`; every file of the copy is copied.
/// A copy that is no paired kiosk's store is refused, changing nothing.
pub fn restore_store(copy: &Path, data_dir: &Path, now_ms: i64) -> Result<Restored> {
    if !copy.is_dir() {
        return Err(Error::invalid(
            "restore",
            format!("{} is not a directory", copy.display()),
        ));
    }
    if !is_paired_store(copy)? {
        return Err(Error::invalid(
            "restore",
            format!(
                "{} holds no paired kiosk's store ({STORE_FILE} with its pairing)",
                copy.display()
            ),
        ));
    }
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same(copy, data_dir) {
        return Err(Error::invalid(
            "restore",
            "the copy is the data directory itself",
        ));
    }
    let in_use = data_dir.is_dir()
        && std::fs::read_dir(data_dir)
            .map_err(io(format!("reading {}", data_dir.display())))?
            .next()
            .is_some();
    let moved_aside = if in_use {
        let mut aside = data_dir.as_os_str().to_owned();
        aside.push(format!(".before-restore-{now_ms}"));
        let aside = PathBuf::from(aside);
        std::fs::rename(data_dir, &aside).map_err(io(format!(
            "moving {} aside to {}",
            data_dir.display(),
            aside.display()
        )))?;
        Some(aside)
    } else {
        None
    };
    std::fs::create_dir_all(data_dir).map_err(io(format!("creating {}", data_dir.display())))?;
    let mut files = 0;
    for entry in std::fs::read_dir(copy).map_err(io(format!("reading {}", copy.display())))? {
        let from = entry
            .map_err(io(format!("reading {}", copy.display())))?
            .path();
        if let Some(name) = from.file_name().filter(|_| from.is_file()) {
            std::fs::copy(&from, data_dir.join(name))
                .map_err(io(format!("copying {}", from.display())))?;
            files += 1;
        }
    }
    let journal = Journal::open(&data_dir.join(STORE_FILE), DbOptions::default())?;
    journal.set_meta(&[(META_RESTORED, &now_ms.to_string())])?;
    Ok(Restored { files, moved_aside })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_a_paired_store_is_refused_and_nothing_moves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("kiosk");
        std::fs::create_dir_all(&data).expect("data dir");
        std::fs::write(data.join("keep.txt"), b"in use").expect("a file");
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).expect("empty dir");
        for bad in [dir.path().join("missing"), empty.clone()] {
            let e = restore_store(&bad, &data, 1).expect_err("refused");
            assert!(e.to_string().contains("restore"), "{e}");
        }
        // An unpaired journal is no kiosk's store either.
        let unpaired = dir.path().join("unpaired");
        std::fs::create_dir_all(&unpaired).expect("dir");
        Journal::open(&unpaired.join(STORE_FILE), DbOptions::default()).expect("journal");
        assert!(restore_store(&unpaired, &data, 1).is_err());
        assert!(data.join("keep.txt").exists(), "nothing moved");
    }

    #[test]
    fn a_paired_copy_replaces_the_store_and_the_old_one_is_moved_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let copy = dir.path().join("copy");
        std::fs::create_dir_all(&copy).expect("dir");
        Journal::open(&copy.join(STORE_FILE), DbOptions::default())
            .and_then(|j| j.set_meta(&[("config", "{}")]))
            .expect("a paired journal");
        let data = dir.path().join("kiosk");
        std::fs::create_dir_all(&data).expect("data dir");
        std::fs::write(data.join("keep.txt"), b"in use").expect("a file");
        let r = restore_store(&copy, &data, 42).expect("restored");
        let aside = r.moved_aside.expect("moved aside");
        assert!(aside.ends_with("kiosk.before-restore-42"));
        assert!(aside.join("keep.txt").exists(), "nothing lost");
        assert!(r.files >= 1);
        let j = Journal::open(&data.join(STORE_FILE), DbOptions::default()).expect("journal");
        assert_eq!(j.meta(META_RESTORED).expect("meta").as_deref(), Some("42"));
        assert!(restore_store(&data, &data, 43).is_err(), "not onto itself");
    }
}
