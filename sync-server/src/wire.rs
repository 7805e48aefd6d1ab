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

/// Why the Automerge sync message in a message's `data` must not reach
/// samod, if it must not: automerge 0.12 panics answering a `have` whose
/// Bloom filter counts entries but holds no bits (a division by zero), and
/// allocates four bytes per probe a filter asks for. Real peers write
/// 7 probes and at least a byte of bits per entry.
pub fn sync_data_refusal(data: &[u8]) -> Option<String> {
    let message = automerge::sync::Message::decode(field_bytes(data, "data")?).ok()?;
    sync_message_refusal(&message)
}

/// [`sync_data_refusal`] for a decoded Automerge sync message.
pub fn sync_message_refusal(message: &automerge::sync::Message) -> Option<String> {
    message.have.iter().find_map(|have| {
        let bytes = have.bloom.to_bytes();
        let mut rest = bytes.as_slice();
        let entries = leb128_u64(&mut rest)?;
        let _bits_per_entry = leb128_u64(&mut rest)?;
        let probes = leb128_u64(&mut rest)?;
        if entries > 0 && rest.is_empty() {
            Some("a Bloom filter with entries but no bits".to_string())
        } else if probes > MAX_BLOOM_PROBES {
            Some(format!("a Bloom filter with {probes} probes"))
        } else {
            None
        }
    })
}

/// Most probes a Bloom filter of a sync message may ask for.
const MAX_BLOOM_PROBES: u64 = 64;

fn leb128_u64(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = input.split_first()?;
        *input = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
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
    fn bloom_filters_automerge_cannot_answer_are_refused() {
        use automerge::sync::{BloomFilter, Have, SyncDoc};
        let mut doc = automerge::AutoCommit::new();
        let mut state = automerge::sync::State::new();
        let good = doc
            .sync()
            .generate_sync_message(&mut state)
            .expect("a first message");
        assert_eq!(sync_message_refusal(&good), None);
        for (bloom, why) in [
            (&[1u8, 0, 7][..], "one entry, 0 bits per entry"),
            (
                &[1u8, 8, 0xff, 0xff, 0xff, 0xff, 0x0f, 0][..],
                "u32::MAX probes",
            ),
        ] {
            let mut bad = good.clone();
            bad.have.push(Have {
                last_sync: Vec::new(),
                bloom: BloomFilter::try_from(bloom).expect("a filter"),
            });
            assert!(sync_message_refusal(&bad).is_some(), "{why}");
            // And in a whole message as it arrives.
            let mut frame = Vec::new();
            let mut e = minicbor::Encoder::new(&mut frame);
            e.map(2).expect("cbor");
            e.str("type").expect("cbor").str("sync").expect("cbor");
            e.str("data")
                .expect("cbor")
                .bytes(&bad.encode())
                .expect("cbor");
            assert!(sync_data_refusal(&frame).is_some(), "{why}");
        }
    }
}
