//! The certificate a kiosk pinned when it paired with a link naming the
//! server's CA by fingerprint, kept as PEM in its data directory so every
//! later start trusts it and nothing else, with no `--ca` file to carry
//! around. Written atomically (a new file renamed into place), so a power
//! cut leaves the old pin or the new one, never half of one.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use crate::{Error, Result, tls::Trust};

/// The pinned certificate's file inside a kiosk's data directory.
pub const PINNED_CA_FILE: &str = "pinned-ca.pem";

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// The trust of the certificate pinned in `data_dir`, if one was.
pub(super) fn load(data_dir: &Path) -> Result<Option<Trust>> {
    let path = data_dir.join(PINNED_CA_FILE);
    match std::fs::read(&path) {
        Ok(pem) => Trust::pinned_ca(&pem).map(Some).map_err(|e| {
            Error::invalid(
                "pinned certificate",
                format!(
                    "{}: {e}; pair the kiosk again with the console's link",
                    path.display()
                ),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(format!("reading {}", path.display()))(e)),
    }
}

/// A pin written beside its place, not yet in it; dropped uncommitted,
/// it is removed.
pub(super) struct Staged {
    new: PathBuf,
    dir: PathBuf,
    committed: bool,
}

/// Write `pem` beside [`PINNED_CA_FILE`] in `data_dir`, on disk.
pub(super) fn stage(data_dir: &Path, pem: &str) -> Result<Staged> {
    let new = data_dir.join(format!("{PINNED_CA_FILE}.new"));
    let mut file = std::fs::File::create(&new).map_err(io(format!("writing {}", new.display())))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io(format!("writing {}", new.display())))?;
    Ok(Staged {
        new,
        dir: data_dir.to_path_buf(),
        committed: false,
    })
}

impl Staged {
    /// Put the pin in its place (and the rename on disk).
    pub(super) fn commit(mut self) -> Result<()> {
        let path = self.dir.join(PINNED_CA_FILE);
        std::fs::rename(&self.new, &path).map_err(io(format!(
            "putting the pinned certificate in {}",
            path.display()
        )))?;
        self.committed = true;
        #[cfg(unix)]
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(format!("syncing {}", self.dir.display())))?;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.new);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_pin_is_in_place_only_once_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(load(dir.path()).expect("no pin").is_none());
        let der: Vec<u8> = (0..100u8).collect();
        let pem = crate::tls::certificate_pem(&der);
        // Dropped before commit: nothing is left.
        drop(stage(dir.path(), &pem).expect("staged"));
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
        stage(dir.path(), &pem)
            .expect("staged")
            .commit()
            .expect("committed");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(PINNED_CA_FILE)).expect("pin"),
            pem
        );
        // Bytes that are no certificate: a clear error naming the file.
        std::fs::write(dir.path().join(PINNED_CA_FILE), "garbage").expect("write");
        let e = load(dir.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains(PINNED_CA_FILE), "{e}");
    }
}
