//! The pairing link the console shows (as text and as a QR code) when an
//! admin provisions a kiosk:
//! `https://HOST/#linli-pair?token=TOKEN&ca=sha256:HEX`.
//!
//! One string carries everything a kiosk needs to pair — the server, its
//! token and, over https, the fingerprint of the certificate to pin — so
//! staff scan or type it once instead of copying three values (and a CA
//! file) by hand. The kiosk accepts it wherever it takes a server address;
//! a plain server address is still a valid "link" with no token. The
//! pairing part sits in the URL's fragment, which a browser never sends to
//! the server, so the token stays out of server and proxy logs should
//! someone open the link in a browser.

use url::Url;

use crate::{Error, Result, tls::Fingerprint};

/// What starts the fragment of a pairing link.
pub const FRAGMENT_PREFIX: &str = "linli-pair?";

/// A server address, with the token and the CA's fingerprint when the text
/// was a whole pairing link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairingLink {
    /// The server (the link without its fragment).
    pub server: Url,
    /// The pairing token, if the link carried one.
    pub token: Option<String>,
    /// The fingerprint of the certificate to pin, if the link carried one
    /// (https only).
    pub ca: Option<Fingerprint>,
}

impl PairingLink {
    /// The link as the console writes it.
    pub fn format(server: &Url, token: &str, ca: Option<&Fingerprint>) -> String {
        let mut server = server.clone();
        server.set_fragment(None);
        let mut fragment = format!(
            "{FRAGMENT_PREFIX}token={}",
            url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
        );
        if let Some(ca) = ca {
            fragment.push_str("&ca=");
            fragment.push_str(&ca.to_link_form());
        }
        format!("{server}#{fragment}")
    }

    /// Read a server address or a whole pairing link. Parameters of the
    /// link other than `token` and `ca` are ignored (a later console may
    /// add some); a fragment that is no pairing link is dropped.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let mut server = match Url::parse(text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
            Ok(_) | Err(_) => {
                return Err(Error::invalid(
                    "server address",
                    format!(
                        "{text:?} is no http:// or https:// address with a host \
                         (e.g. https://192.168.1.10:7878 or the console's pairing link)"
                    ),
                ));
            }
        };
        let fragment = server.fragment().map(str::to_owned);
        server.set_fragment(None);
        let Some(query) = fragment
            .as_deref()
            .and_then(|f| f.strip_prefix(FRAGMENT_PREFIX))
        else {
            return Ok(Self {
                server,
                token: None,
                ca: None,
            });
        };
        let (mut token, mut ca) = (None, None);
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "token" => token = Some(value.trim().to_string()),
                "ca" => ca = Some(value.into_owned()),
                _ => {}
            }
        }
        let token = match token {
            Some(t) if !t.is_empty() => t,
            _ => {
                return Err(Error::invalid(
                    "pairing link",
                    "it has no token (token=…): copy the whole link from the console",
                ));
            }
        };
        let ca = match ca {
            None => None,
            Some(text) => {
                let fingerprint = Fingerprint::parse(&text).map_err(|e| {
                    Error::invalid(
                        "pairing link",
                        format!("its ca= is not the CA's fingerprint ({e})"),
                    )
                })?;
                if server.scheme() != "https" {
                    return Err(Error::invalid(
                        "pairing link",
                        "it names a CA fingerprint for an http:// server; a certificate is \
                         pinned only over https://",
                    ));
                }
                Some(fingerprint)
            }
        };
        Ok(Self {
            server,
            token: Some(token),
            ca,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint() -> Fingerprint {
        Fingerprint::of(b"the office CA")
    }

    #[test]
    fn an_http_link_gives_the_server_and_the_token() {
        let link = PairingLink::parse("http://192.168.1.10:7878/#linli-pair?token=lk_abc")
            .expect("a link");
        assert_eq!(link.server.as_str(), "http://192.168.1.10:7878/");
        assert_eq!(link.token.as_deref(), Some("lk_abc"));
        assert_eq!(link.ca, None);
    }

    #[test]
    fn an_https_link_gives_the_fingerprint_too_and_reads_back_as_written() {
        let server: Url = "https://linli.office:7878/".parse().expect("url");
        let text = PairingLink::format(&server, "lk_abc", Some(&fingerprint()));
        assert!(text.starts_with("https://linli.office:7878/#linli-pair?token=lk_abc&ca=sha256:"));
        let link = PairingLink::parse(&text).expect("a link");
        assert_eq!(link.server, server);
        assert_eq!(link.token.as_deref(), Some("lk_abc"));
        assert_eq!(link.ca, Some(fingerprint()));
    }

    #[test]
    fn the_fingerprint_may_have_colons_and_upper_case() {
        let text = format!(
            "https://10.0.0.5/#linli-pair?token=t1&ca=SHA256:{}",
            fingerprint().to_colon_hex()
        );
        let link = PairingLink::parse(&text).expect("a link");
        assert_eq!(link.ca, Some(fingerprint()));
    }

    #[test]
    fn a_link_without_a_fingerprint_pairs_with_the_usual_trust() {
        // No ca=: the kiosk trusts what it would for a plain address (the
        // public roots, or --ca).
        let link =
            PairingLink::parse("https://linli.example.org/#linli-pair?token=t1").expect("a link");
        assert_eq!(link.ca, None);
        assert_eq!(link.token.as_deref(), Some("t1"));
    }

    #[test]
    fn a_garbled_fingerprint_or_a_missing_token_is_refused_with_why() {
        let garbled = PairingLink::parse("https://h/#linli-pair?token=t1&ca=sha256:12ab")
            .expect_err("too short");
        assert!(garbled.to_string().contains("ca= is not"), "{garbled}");
        assert!(garbled.to_string().contains("64 hex digits"), "{garbled}");
        let empty = PairingLink::parse("https://h/#linli-pair?token=t1&ca=").expect_err("empty");
        assert!(empty.to_string().contains("ca= is not"), "{empty}");
        let no_token = PairingLink::parse("https://h/#linli-pair?ca=x").expect_err("no token");
        assert!(no_token.to_string().contains("no token"), "{no_token}");
        // A fingerprint is meaningless over plain http: refused, not ignored.
        let http = PairingLink::parse(&format!(
            "http://h/#linli-pair?token=t1&ca={}",
            fingerprint()
        ))
        .expect_err("http with ca");
        assert!(http.to_string().contains("only over https"), "{http}");
    }

    #[test]
    fn extra_parameters_are_ignored() {
        let link = PairingLink::parse(&format!(
            "https://h:7878/#linli-pair?v=2&token=t1&hall=xianfeng&ca={}",
            fingerprint()
        ))
        .expect("a link");
        assert_eq!(link.token.as_deref(), Some("t1"));
        assert_eq!(link.ca, Some(fingerprint()));
    }

    #[test]
    fn a_plain_server_address_still_works() {
        let link = PairingLink::parse("  http://192.168.1.10:7878 ").expect("an address");
        assert_eq!(link.server.as_str(), "http://192.168.1.10:7878/");
        assert_eq!((link.token, link.ca), (None, None));
        // Not an address at all: refused with an example.
        for bad in ["", "192.168.1.10:7878", "ftp://h/", "http://"] {
            let e = PairingLink::parse(bad).expect_err(bad);
            assert!(e.to_string().contains("e.g. https://"), "{bad}: {e}");
        }
    }
}
