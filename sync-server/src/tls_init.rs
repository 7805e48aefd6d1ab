//! `linli-server tls init`: a street office's own certificate authority
//! and a server certificate it issued, for an office with no public name
//! or certificate (the usual case: a server on the office LAN). The CA
//! stays with the office; kiosks pin it (`linli-kiosk --ca office-ca.pem`),
//! so they trust this server's certificate and no other, whatever a
//! public CA would sign. Keys are made by rcgen (ring), never by hand.

use std::{io::Write as _, path::Path};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use sha2::Digest as _;

use linli_sync_engine::{Error, Result};

/// The files `tls init` writes, in the directory given.
pub const CA_CERT: &str = "office-ca.pem";
/// The CA's private key: keep it offline after issuing.
pub const CA_KEY: &str = "office-ca.key";
/// The server's certificate chain (its own, then the CA's).
pub const SERVER_CERT: &str = "server.crt";
/// The server's private key.
pub const SERVER_KEY: &str = "server.key";

/// What `tls init` made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    /// The CA certificate's SHA-256 fingerprint, `AB:CD:…`, to check the
    /// file a kiosk was given is the office's.
    pub ca_fingerprint: String,
}

fn rc(e: rcgen::Error) -> Error {
    Error::BadRequest(format!("making the certificates: {e}"))
}

/// Write a file that must not exist yet; `secret` ones readable by their
/// owner alone.
fn write_new(path: &Path, text: &str, secret: bool) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let io = |source| Error::Io {
        context: format!("writing {}", path.display()),
        source,
    };
    let mut f = options.open(path).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Make an office CA (10 years) and a certificate it issues for `names`
/// (host names or IP addresses; 2 years) in `out`. Refuses, changing
/// nothing, when `names` is empty or any of the files exists already
/// (keys are never overwritten).
pub fn init(out: &Path, names: &[String], office: &str) -> Result<Made> {
    if names.is_empty() {
        return Err(Error::BadRequest(
            "name the server as kiosks reach it: --name HOST (a host name or an IP address; repeat for more)"
                .into(),
        ));
    }
    for file in [CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY] {
        if out.join(file).exists() {
            return Err(Error::Conflict(format!(
                "{} exists already: nothing was changed (move it away to make new ones)",
                out.join(file).display()
            )));
        }
    }
    std::fs::create_dir_all(out).map_err(|source| Error::Io {
        context: format!("creating {}", out.display()),
        source,
    })?;
    let now = time_now();
    let ca_key = KeyPair::generate().map_err(rc)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
    ca.distinguished_name
        .push(DnType::CommonName, format!("{office} Linli CA"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now;
    ca.not_after = now + time::Duration::days(3650);
    let ca_cert = ca.self_signed(&ca_key).map_err(rc)?;
    let ca_fingerprint = sha2::Sha256::digest(ca_cert.der())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().map_err(rc)?;
    let mut leaf = CertificateParams::new(names.to_vec()).map_err(rc)?;
    leaf.distinguished_name
        .push(DnType::CommonName, names[0].clone());
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = now;
    leaf.not_after = now + time::Duration::days(730);
    let cert = leaf.signed_by(&key, &issuer).map_err(rc)?;
    write_new(&out.join(CA_KEY), &issuer.key().serialize_pem(), true)?;
    write_new(&out.join(SERVER_KEY), &key.serialize_pem(), true)?;
    write_new(&out.join(CA_CERT), &ca_cert.pem(), false)?;
    write_new(
        &out.join(SERVER_CERT),
        &format!("{}{}", cert.pem(), ca_cert.pem()),
        false,
    )?;
    Ok(Made { ca_fingerprint })
}

/// Now, as rcgen's validity fields take it.
fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
