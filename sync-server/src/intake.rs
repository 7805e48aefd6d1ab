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
//! - a whole saved document is loaded once into an empty scratch document
//!   first, with panics caught: what panics there is refused. That is the
//!   same decoding samod's load runs, and it only costs anything for the
//!   rare message that carries a whole document.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::sync::Message;

/// The chunk types of the Automerge storage format.
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
    /// It carries a whole document: [`trial_load`] it first (CPU work, off
    /// the async threads).
    TrialLoad,
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
    let mut whole_document = false;
    for chunk in message.changes.iter() {
        for kind in chunk_types(chunk) {
            match kind {
                BUNDLE_CHUNK => {
                    return Screen::Refuse("a bundle chunk in a sync message".into());
                }
                DOCUMENT_CHUNK => whole_document = true,
                _ => {}
            }
        }
    }
    if whole_document {
        Screen::TrialLoad
    } else {
        Screen::Pass
    }
}

/// Load the chunks of a sync message's `data` into an empty document, as
/// samod would for a document it first hears of; `Err` when that panics.
/// A load that merely fails passes: samod answers that with an error.
pub fn trial_load(frame: &[u8]) -> Result<(), String> {
    match crate::wire::field_bytes(frame, "data").and_then(|p| Message::decode(p).ok()) {
        Some(message) => trial_load_message(&message),
        None => Ok(()),
    }
}

/// [`trial_load`] for a decoded sync message.
pub fn trial_load_message(message: &Message) -> Result<(), String> {
    let joined: Vec<u8> = message.changes.iter().flatten().copied().collect();
    let loaded = catch_unwind(AssertUnwindSafe(|| {
        let options = automerge::LoadOptions::new()
            .on_partial_load(automerge::OnPartialLoad::Ignore)
            .verification_mode(automerge::VerificationMode::Check);
        drop(automerge::Automerge::load_with_options(&joined, options));
    }));
    loaded.map_err(|_| "a document automerge cannot decode".to_string())
}

/// The types of the chunks concatenated in `bytes`, as far as they parse.
fn chunk_types(mut bytes: &[u8]) -> Vec<u8> {
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
    types
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
            let screened = screen(&frame(m));
            assert!(
                matches!(screened, Screen::Pass | Screen::TrialLoad),
                "{screened:?}"
            );
            assert_eq!(trial_load(&frame(m)), Ok(()));
        }
    }

    #[test]
    fn a_whole_document_is_loaded_first_and_a_bundle_refused() {
        let mut doc = automerge::AutoCommit::new();
        doc.put(automerge::ROOT, "k", 1).expect("put");
        doc.commit();
        let saved = doc.save();
        let mut message = doc
            .sync()
            .generate_sync_message(&mut automerge::sync::State::new())
            .expect("a first message");
        message.changes = automerge::sync::ChunkList::from(vec![saved.clone()]);
        assert_eq!(screen(&frame(&message)), Screen::TrialLoad);
        assert_eq!(trial_load(&frame(&message)), Ok(()));

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
