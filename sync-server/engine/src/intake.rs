//! What of a kiosk's sync message the server refuses before samod sees it.
//!
//! automerge 0.12 (and hexane, its column coder) can be made to panic, or
//! to allocate gigabytes, by a few hundred crafted bytes; the fuzz targets
//! found such inputs (`fuzz/regressions/sync_message`). With samod's async
//! runner every document runs in one task, so one such message would stop
//! sync for the whole server. The connection therefore screens each
//! message's Automerge sync payload, and closes the connection when the
//! screen fails:
//! - a Bloom filter that counts entries but has no bits makes automerge
//!   divide by zero; one that asks for billions of probes allocates four
//!   bytes for each. Real peers write 7 probes and bits for every entry.
//! - bundle chunks are where the crafted columns hide. automerge's sync
//!   never sends one (it sends change chunks, or a whole saved document), so
//!   a message carrying one is refused outright.
//! - a whole saved document is not screened here: the patched samod-core
//!   (`patches/samod-core/PATCHED.md`, 3) catches a panic of the load that
//!   keeps it, or trial-loads it into a scratch document first when the
//!   document it arrives for already has content, and closes the
//!   connection. One load of a reconnecting kiosk's ledger, not two.

use automerge::sync::Message;

/// The chunk types of the Automerge storage format.
#[cfg(test)]
const DOCUMENT_CHUNK: u8 = 0;
const BUNDLE_CHUNK: u8 = 3;
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// How an incoming sync payload fares before samod.
#[derive(Debug, PartialEq, Eq)]
pub enum Screen {
    /// Hand it to samod.
    Pass,
    /// Close the connection with this reason.
    Refuse(String),
}

/// Screen the Automerge sync message in a repo message's `data` field.
/// Anything that does not decode passes: samod refuses it itself.
pub fn screen(frame: &[u8]) -> Screen {
    let Some(payload) = crate::wire::field_bytes(frame, "data") else {
        return Screen::Pass;
    };
    let Ok(message) = Message::decode(payload) else {
        return Screen::Pass;
    };
    screen_message(&message)
}

/// [`screen`] for a decoded sync message.
pub fn screen_message(message: &Message) -> Screen {
    if let Some(reason) = bloom_refusal(message) {
        return Screen::Refuse(reason);
    }
    for chunk in message.changes.iter() {
        if chunk_types(chunk).0.contains(&BUNDLE_CHUNK) {
            return Screen::Refuse("a bundle chunk in a sync message".into());
        }
    }
    Screen::Pass
}

/// The types of the chunks concatenated in `bytes`, as far as they parse,
/// and whether all of `bytes` parsed as chunks.
fn chunk_types(mut bytes: &[u8]) -> (Vec<u8>, bool) {
    let mut types = Vec::new();
    // magic (4), checksum (4), type (1), length (uleb128), then the body.
    while bytes.len() >= 9 && bytes[..4] == CHUNK_MAGIC {
        types.push(bytes[8]);
        let mut rest = &bytes[9..];
        let Some(len) = leb128_u64(&mut rest).and_then(|n| usize::try_from(n).ok()) else {
            break;
        };
        match rest.get(len..) {
            Some(next) => bytes = next,
            None => break,
        }
    }
    (types, bytes.is_empty())
}

/// True when the sync message carries Automerge change chunks only (a
/// change, a compressed change), every byte of them parsed: what the
/// patched samod-core receives into a document with content without a
/// trial load first (`patches/samod-core/PATCHED.md`, 3). The fuzz
/// harness uses it to do as samod does.
pub fn change_chunks_only(message: &Message) -> bool {
    message.changes.iter().all(|chunk| {
        let (types, complete) = chunk_types(chunk);
        complete && types.iter().all(|t| matches!(t, 1 | 2))
    })
}

/// Why a `have` of the message must not reach automerge, if one must not.
fn bloom_refusal(message: &Message) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{sync::SyncDoc as _, transaction::Transactable as _};

    fn frame(message: &Message) -> Vec<u8> {
        let mut frame = Vec::new();
        let mut e = minicbor::Encoder::new(&mut frame);
        e.map(2).expect("cbor");
        e.str("type").expect("cbor").str("sync").expect("cbor");
        e.str("data")
            .expect("cbor")
            .bytes(&message.clone().encode())
            .expect("cbor");
        frame
    }

    /// Sync `from` into an empty peer; the messages `from` sent.
    fn messages_from(from: &mut automerge::AutoCommit) -> Vec<Message> {
        let mut to = automerge::AutoCommit::new();
        let (mut a, mut b) = (automerge::sync::State::new(), automerge::sync::State::new());
        let mut sent = Vec::new();
        for _ in 0..10 {
            if let Some(m) = from.sync().generate_sync_message(&mut a) {
                sent.push(m.clone());
                to.sync().receive_sync_message(&mut b, m).expect("receive");
            }
            if let Some(m) = to.sync().generate_sync_message(&mut b) {
                from.sync()
                    .receive_sync_message(&mut a, m)
                    .expect("receive");
            }
        }
        assert_eq!(to.get_heads(), from.get_heads(), "the peers converged");
        sent
    }

    #[test]
    fn what_real_peers_send_passes() {
        let mut doc = automerge::AutoCommit::new();
        for i in 0..20 {
            doc.put(automerge::ROOT, format!("k{i}"), i).expect("put");
            doc.commit();
        }
        let sent = messages_from(&mut doc);
        assert!(
            sent.iter().any(|m| !m.changes.is_empty()),
            "changes were sent"
        );
        for m in &sent {
            assert_eq!(screen(&frame(m)), Screen::Pass);
        }
    }

    #[test]
    fn a_whole_document_passes_to_samod_and_a_bundle_is_refused() {
        let mut doc = automerge::AutoCommit::new();
        doc.put(automerge::ROOT, "k", 1).expect("put");
        doc.commit();
        let saved = doc.save();
        assert_eq!(saved[8], DOCUMENT_CHUNK);
        let mut message = doc
            .sync()
            .generate_sync_message(&mut automerge::sync::State::new())
            .expect("a first message");
        message.changes = automerge::sync::ChunkList::from(vec![saved.clone()]);
        assert_eq!(screen(&frame(&message)), Screen::Pass);

        let mut bundle = saved;
        bundle[8] = BUNDLE_CHUNK;
        message.changes = automerge::sync::ChunkList::from(vec![bundle]);
        assert!(matches!(screen(&frame(&message)), Screen::Refuse(_)));
    }

    #[test]
    fn bloom_filters_automerge_cannot_answer_are_refused() {
        use automerge::sync::{BloomFilter, Have};
        let mut doc = automerge::AutoCommit::new();
        let good = doc
            .sync()
            .generate_sync_message(&mut automerge::sync::State::new())
            .expect("a first message");
        assert_eq!(screen_message(&good), Screen::Pass);
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
            assert!(matches!(screen(&frame(&bad)), Screen::Refuse(_)), "{why}");
        }
    }
}
