//! HTTPS and WSS: `serve --tls-cert F --tls-key F` with rustls (ring
//! provider, TLS 1.2 and 1.3). The certificate and key are read and checked
//! before the server listens, so a wrong file is a clear start-up error, not
//! a failed handshake later. [`crate::listen`] serves the connections.
//! [`pairing_ca`] names the certificate kiosks pin: the console's pairing
//! link carries its fingerprint.

use std::{path::PathBuf, sync::Arc, time::Duration};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

use linli_core::tls::Fingerprint;
use linli_sync_engine::{Error, Result};

/// Longest a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate chain and private key files (PEM).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

fn bad(path: &std::path::Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::BadRequest(format!("TLS {what} {}: {e}", path.display()))
}

/// The certificate chain in `files.cert`, leaf first; never empty.
fn read_chain(files: &TlsFiles) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad(&files.cert, "certificate", e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(&files.cert, "certificate", e))?;
    if certs.is_empty() {
        return Err(bad(
            &files.cert,
            "certificate",
            "no certificate in the file",
        ));
    }
    Ok(certs)
}

/// The fingerprint of the certificate kiosks pin: the last of the chain
/// served (the office CA when the file holds the chain, as `linli-server
/// tls init` writes it; the server's own certificate when it is alone).
pub fn pairing_ca(files: &TlsFiles) -> Result<Fingerprint> {
    let chain = read_chain(files)?;
    let last = chain
        .last()
        .expect("read_chain returns at least one certificate");
    Ok(Fingerprint::of(last.as_ref()))
}

/// Read and check the files; the rustls configuration to serve with.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>> {
    let certs = read_chain(files)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad(&files.key, "key", e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::BadRequest(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            bad(
                &files.key,
                "key does not fit the certificate or is unusable",
                e,
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
