//! Which servers a kiosk trusts over `https://` / `wss://`.
//!
//! By default the public web's roots (Mozilla's, compiled in: a kiosk has
//! no reliable system store). A street office that runs its own CA pins it
//! instead: then only certificates issued by that CA are accepted, so a
//! certificate from any public CA for a look-alike name is refused. Both
//! the sync WebSocket and the pairing request use the same trust.

use std::sync::Arc;

use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, pem::PemObject},
};

use crate::{Error, Result};

/// The trust anchors for the server's certificate.
#[derive(Clone, Debug)]
pub struct Trust {
    config: Arc<ClientConfig>,
    pinned: bool,
}

impl Default for Trust {
    fn default() -> Self {
        Self::public_roots()
    }
}

fn config_with(roots: RootCertStore) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid("tls", e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl Trust {
    /// The public web's roots.
    pub fn public_roots() -> Self {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = config_with(roots)
            .expect("the ring provider supports its own safe default TLS versions");
        Self {
            config,
            pinned: false,
        }
    }

    /// Only certificates issued by the CA(s) in `pem`.
    pub fn pinned_ca(pem: &[u8]) -> Result<Self> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::invalid("pinned CA", e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| Error::invalid("pinned CA", e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(Error::invalid("pinned CA", "no certificate in the file"));
        }
        Ok(Self {
            config: config_with(roots)?,
            pinned: true,
        })
    }

    /// Whether a CA is pinned.
    pub fn is_pinned(&self) -> bool {
        self.pinned
    }

    /// The rustls client configuration.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }
}
