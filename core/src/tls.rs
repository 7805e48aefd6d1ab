//! Which servers a kiosk trusts over `https://` / `wss://`.
//!
//! By default the public web's roots (Mozilla's, compiled in: a kiosk has
//! no reliable system store). A street office that runs its own CA pins it
//! instead: then only certificates issued by that CA are accepted, so a
//! certificate from any public CA for a look-alike name is refused. Both
//! the sync WebSocket and the pairing request use the same trust.
//!
//! A kiosk can also learn its CA from the console's pairing link, which
//! names it by [`Fingerprint`]: [`FingerprintPin`] is the trust of that one
//! pairing request. It finds, in the chain the server presents, the
//! certificate with that fingerprint and then verifies the chain the usual
//! way (webpki) with that certificate as the only root, so the request
//! carrying the token goes only to a server the link vouches for. The
//! certificate found is what the kiosk pins from then on.

use std::sync::{Arc, Mutex};

use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
};
use sha2::Digest as _;

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

/// A certificate's SHA-256 fingerprint (of its DER bytes), as the
/// console's pairing link carries it and `linli-server tls init` prints it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a certificate in DER.
    pub fn of(der: &[u8]) -> Self {
        Self(sha2::Sha256::digest(der).into())
    }

    /// Read a fingerprint as people and links write it: 64 hex digits,
    /// upper or lower case, with or without `:` between the bytes, with
    /// or without a leading `sha256:`.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let hex_part = match text.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("sha256:") => &text[7..],
            _ => text,
        };
        let digits: String = hex_part.chars().filter(|c| *c != ':').collect();
        let bad = |why: String| {
            Error::invalid(
                "certificate fingerprint",
                format!("{why}: a SHA-256 fingerprint is sha256: and 64 hex digits"),
            )
        };
        let bytes =
            hex::decode(&digits).map_err(|e| bad(format!("{text:?} is not hexadecimal ({e})")))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| bad(format!("{text:?} has {} hex digits", b.len() * 2)))?;
        Ok(Self(bytes))
    }

    /// As the pairing link writes it: `sha256:` and lower-case hex.
    pub fn to_link_form(&self) -> String {
        format!("sha256:{}", hex::encode(self.0))
    }

    /// As people compare it (and `tls init` prints it): `AB:CD:…`.
    pub fn to_colon_hex(&self) -> String {
        self.0
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_link_form())
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({})", self.to_link_form())
    }
}

/// A certificate in DER as PEM text (what [`Trust::pinned_ca`] reads).
pub fn certificate_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// What the one handshake of a [`FingerprintPin`] found.
#[derive(Clone, Debug, Default)]
enum PinOutcome {
    /// No handshake got as far as the certificates.
    #[default]
    NotSeen,
    /// The server presented certificates, none with the fingerprint.
    NoMatch,
    /// This certificate has the fingerprint and verifies the chain.
    Found(CertificateDer<'static>),
}

/// Checks the chain a server presents against a fingerprint, then verifies
/// it (webpki) with the matching certificate as the only root.
#[derive(Debug)]
struct FingerprintVerifier {
    fingerprint: Fingerprint,
    provider: Arc<CryptoProvider>,
    outcome: Mutex<PinOutcome>,
}

impl FingerprintVerifier {
    fn record(&self, outcome: PinOutcome) {
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = outcome;
    }
}

impl ServerCertVerifier for FingerprintVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let presented = std::iter::once(end_entity).chain(intermediates);
        let Some(anchor) = presented
            .into_iter()
            .find(|c| Fingerprint::of(c.as_ref()) == self.fingerprint)
        else {
            self.record(PinOutcome::NoMatch);
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ));
        };
        let mut roots = RootCertStore::empty();
        roots
            .add(anchor.clone().into_owned())
            .map_err(|e| rustls::Error::General(format!("the pinned certificate: {e}")))?;
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(format!("the pinned certificate: {e}")))?;
        let verified = webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        self.record(PinOutcome::Found(anchor.clone().into_owned()));
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The trust of the one pairing request made with a link that names the
/// CA by fingerprint; afterwards, the certificate it found.
#[derive(Debug)]
pub struct FingerprintPin {
    verifier: Arc<FingerprintVerifier>,
    trust: Trust,
}

impl FingerprintPin {
    /// Trust, for one pairing request, only a chain that holds a
    /// certificate with `fingerprint` and verifies up to it.
    pub fn new(fingerprint: Fingerprint) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(FingerprintVerifier {
            fingerprint,
            provider: provider.clone(),
            outcome: Mutex::default(),
        });
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::invalid("tls", e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        Ok(Self {
            verifier,
            trust: Trust {
                config: Arc::new(config),
                pinned: true,
            },
        })
    }

    /// The trust to make the pairing request with.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// The certificate with the fingerprint, as PEM, once a handshake has
    /// found it and verified the server's chain up to it.
    pub fn found_pem(&self) -> Option<String> {
        match &*self
            .verifier
            .outcome
            .lock()
            .unwrap_or_else(|p| p.into_inner())
        {
            PinOutcome::Found(der) => Some(certificate_pem(der.as_ref())),
            _ => None,
        }
    }

    /// True when the server presented certificates and none had the
    /// fingerprint (a wrong server, or someone in between).
    pub fn saw_no_match(&self) -> bool {
        matches!(
            *self
                .verifier
                .outcome
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
            PinOutcome::NoMatch
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_read_as_people_and_links_write_them() {
        let fp = Fingerprint::of(b"some certificate");
        let hex_lower = fp.to_link_form();
        assert!(hex_lower.starts_with("sha256:"));
        // The link's form, the colon form `tls init` prints, upper case,
        // bare hex: all the same fingerprint.
        for text in [
            hex_lower.clone(),
            fp.to_colon_hex(),
            fp.to_colon_hex().to_lowercase(),
            hex_lower.trim_start_matches("sha256:").to_uppercase(),
            format!("SHA256:{}", fp.to_colon_hex()),
        ] {
            assert_eq!(Fingerprint::parse(&text).expect(&text), fp, "{text}");
        }
        // Too short, or not hex: refused with why.
        let short = Fingerprint::parse("sha256:abcd").expect_err("too short");
        assert!(short.to_string().contains("4 hex digits"), "{short}");
        let garbled =
            Fingerprint::parse(&format!("sha256:{}", "zz".repeat(32))).expect_err("not hex");
        assert!(garbled.to_string().contains("not hexadecimal"), "{garbled}");
    }

    #[test]
    fn a_certificate_comes_back_from_its_pem() {
        let der: Vec<u8> = (0..200u8).collect();
        let pem = certificate_pem(&der);
        let back: Vec<CertificateDer<'_>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<std::result::Result<_, _>>()
            .expect("pem");
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].as_ref(), der.as_slice());
    }
}
