//! A peek into incoming automerge-repo messages, enough to learn which
//! document a `sync` message is about before samod processes it. This is
//! how "a document first delivered by a kiosk belongs to that kiosk's
//! hall" is decided by who actually delivered it — samod's share policy
//! is asked about every connected peer, so it cannot tell the deliverer.
//! Anything that does not decode is passed on untouched: samod rejects it.

use std::str::FromStr;

use samod::DocumentId;

/// The type and document of a message, if it names one.
pub fn peek(data: &[u8]) -> Option<(String, DocumentId)> {
    let mut d = minicbor::Decoder::new(data);
    let len = d.map().ok()??;
    let mut kind = None;
    let mut doc = None;
    for _ in 0..len {
        let key = d.str().ok()?;
        match key {
            "type" => kind = Some(d.str().ok()?.to_string()),
            "documentId" => {
                doc = if d.probe().str().is_ok() {
                    DocumentId::from_str(d.str().ok()?).ok()
                } else {
                    DocumentId::try_from(d.bytes().ok()?.to_vec()).ok()
                };
            }
            _ => d.skip().ok()?,
        }
    }
    Some((kind?, doc?))
}

/// The byte-string field `name` of a message, if it has one.
pub fn field_bytes<'a>(data: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let mut d = minicbor::Decoder::new(data);
    let len = d.map().ok()??;
    for _ in 0..len {
        if d.str().ok()? == name {
            return d.bytes().ok();
        }
        d.skip().ok()?;
    }
    None
}

/// The peer id a `join` message claims, if it is one.
pub fn peek_join(data: &[u8]) -> Option<String> {
    let mut d = minicbor::Decoder::new(data);
    let len = d.map().ok()??;
    let (mut join, mut sender) = (false, None);
    for _ in 0..len {
        match d.str().ok()? {
            "type" => join = d.str().ok()? == "join",
            "senderId" => sender = Some(d.str().ok()?.to_string()),
            _ => d.skip().ok()?,
        }
    }
    sender.filter(|_| join)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_type_and_document_and_ignores_garbage() {
        let doc = DocumentId::new(&mut rand::rng());
        let mut buf = Vec::new();
        let mut e = minicbor::Encoder::new(&mut buf);
        e.map(4).expect("cbor");
        e.str("type").expect("cbor").str("sync").expect("cbor");
        e.str("senderId")
            .expect("cbor")
            .str("kiosk-a")
            .expect("cbor");
        e.str("data")
            .expect("cbor")
            .bytes(&[1, 2, 3])
            .expect("cbor");
        e.str("documentId")
            .expect("cbor")
            .str(&doc.to_string())
            .expect("cbor");
        assert_eq!(peek(&buf), Some(("sync".to_string(), doc)));
        assert_eq!(peek(&[0xff, 0x00]), None);
        assert_eq!(peek(b""), None);
    }

    #[test]
    fn reads_the_peer_id_of_a_join_only() {
        let join = |kind: &str| {
            let mut buf = Vec::new();
            let mut e = minicbor::Encoder::new(&mut buf);
            e.map(2).expect("cbor");
            e.str("type").expect("cbor").str(kind).expect("cbor");
            e.str("senderId")
                .expect("cbor")
                .str("kiosk-a")
                .expect("cbor");
            buf
        };
        assert_eq!(peek_join(&join("join")), Some("kiosk-a".to_string()));
        assert_eq!(peek_join(&join("sync")), None);
        assert_eq!(
            peek_join(&[0xbf, 0xff]),
            None,
            "indefinite maps are not read"
        );
        assert_eq!(peek_join(b""), None);
    }
}
