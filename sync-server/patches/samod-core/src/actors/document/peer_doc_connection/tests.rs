use super::*;
use crate::{DocumentId, actors::document::phase::request::Request};

fn document() -> Automerge {
    let mut doc = Automerge::new();
    doc.empty_commit(Default::default());
    doc
}

fn connection() -> PeerDocConnection {
    PeerDocConnection::new("remote".into(), ConnectionId::new())
}

#[test]
fn ordinary_generation_returns_one_message_then_an_empty_batch() {
    let mut conn = connection();
    conn.set_share_config(ShareConfig::read_write());
    let doc = document();
    let now = UnixTimestamp::now();
    let messages = conn.generate_sync_messages(now, &doc);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].0.heads, doc.get_heads());
    let state = conn.pop().unwrap();
    assert_eq!(state.last_sent, Some(now));
    assert_eq!(state.last_sent_heads, Some(doc.get_heads()));
    assert!(conn.generate_sync_messages(now, &doc).is_empty());
    assert!(conn.pop().is_none());
}

#[test]
fn fallback_reset_batch_converges_with_an_empty_legacy_peer() {
    let now = UnixTimestamp::now();
    let mut doc = document();
    let mut remote = Automerge::new();
    let mut remote_state = sync::State::new();
    let mut conn = connection();
    conn.set_share_config(ShareConfig::read_only());
    let mut hello = remote.generate_sync_message(&mut remote_state).unwrap();
    hello.flags = None;
    conn.receive_sync_message(now, &mut doc, hello).unwrap();
    conn.set_share_config(ShareConfig::read_write());

    let messages = conn.generate_sync_messages(now, &doc);
    assert_eq!(messages.len(), 2);
    assert!(messages[0].0.heads.is_empty());
    assert_eq!(messages[1].0.heads, doc.get_heads());
    assert_eq!(conn.state().last_sent_heads, Some(doc.get_heads()));
    let mut messages = messages.into_iter();
    remote
        .receive_sync_message(&mut remote_state, messages.next().unwrap().0)
        .unwrap();
    assert!(remote.generate_sync_message(&mut remote_state).is_none());
    assert_ne!(doc.get_heads(), remote.get_heads());
    remote
        .receive_sync_message(&mut remote_state, messages.next().unwrap().0)
        .unwrap();

    for _ in 0..20 {
        let reply = remote.generate_sync_message(&mut remote_state);
        let replied = reply.is_some();
        if let Some(mut reply) = reply {
            reply.flags = None;
            conn.receive_sync_message(now, &mut doc, reply).unwrap();
        }
        let messages = conn.generate_sync_messages(now, &doc);
        if !replied && messages.is_empty() {
            assert_eq!(doc.get_heads(), remote.get_heads());
            return;
        }
        for (message, _) in messages {
            remote
                .receive_sync_message(&mut remote_state, message)
                .unwrap();
        }
    }
    panic!("sync did not become quiescent");
}

#[test]
fn advertised_reset_support_needs_only_one_message() {
    let mut conn = connection();
    conn.set_share_config(ShareConfig::read_only());
    let mut doc = document();
    let now = UnixTimestamp::now();
    let hello = Automerge::new()
        .generate_sync_message(&mut sync::State::new())
        .unwrap();
    conn.receive_sync_message(now, &mut doc, hello).unwrap();
    conn.set_share_config(ShareConfig::read_write());

    let messages = conn.generate_sync_messages(now, &doc);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].0.heads, doc.get_heads());
    assert!(
        messages[0]
            .0
            .flags
            .unwrap()
            .contains(sync::MessageFlags::SYNC_RESET)
    );
    assert!(conn.generate_sync_messages(now, &doc).is_empty());
}

#[test]
fn empty_document_needs_no_follow_up_after_a_fallback_reset() {
    let mut conn = connection();
    conn.set_share_config(ShareConfig::read_only());
    let mut doc = Automerge::new();
    let now = UnixTimestamp::now();
    let mut hello = Automerge::new()
        .generate_sync_message(&mut sync::State::new())
        .unwrap();
    hello.flags = None;
    conn.receive_sync_message(now, &mut doc, hello).unwrap();
    conn.set_share_config(ShareConfig::read_write());

    let messages = conn.generate_sync_messages(now, &doc);
    assert_eq!(messages.len(), 1);
    assert!(messages[0].0.heads.is_empty());
    assert!(conn.generate_sync_messages(now, &doc).is_empty());
}

#[test]
fn only_the_first_message_of_a_request_batch_initiates_a_request() {
    let mut conn = connection();
    conn.set_share_config(ShareConfig::read_only());
    let mut doc = document();
    let now = UnixTimestamp::now();
    let mut hello = Automerge::new()
        .generate_sync_message(&mut sync::State::new())
        .unwrap();
    hello.flags = None;
    conn.receive_sync_message(now, &mut doc, hello).unwrap();
    conn.set_share_config(ShareConfig::read_write());
    let mut request = Request::new(DocumentId::new(&mut rand::rng()), std::iter::once(&conn));

    let messages = request.generate_messages(now, &doc, &mut conn);
    assert_eq!(messages.len(), 2);
    let SyncMessage::Request { data } = &messages[0].0 else {
        panic!("first message must initiate the request");
    };
    assert!(sync::Message::decode(data).unwrap().heads.is_empty());
    let SyncMessage::Sync { data } = &messages[1].0 else {
        panic!("subsequent messages must continue sync");
    };
    assert_eq!(sync::Message::decode(data).unwrap().heads, doc.get_heads());
}

/// Linli patch: `nothing_to_send` never holds back a message automerge
/// would send, and it does skip the in-flight whole-document case.
#[test]
fn nothing_to_send_only_when_automerge_would_send_nothing() {
    use automerge::transaction::Transactable as _;
    let mut a = Automerge::new();
    for i in 0..200 {
        let mut tx = a.transaction();
        tx.put(automerge::ROOT, format!("k{i}"), i as i64).unwrap();
        tx.commit();
    }
    let mut b = Automerge::new();
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    let mut skipped_in_flight_doc = false;
    for round in 0..30 {
        if round == 10 {
            let mut tx = b.transaction();
            tx.put(automerge::ROOT, "late", 1_i64).unwrap();
            tx.commit();
        }
        for (doc, state) in [(&a, &mut sa), (&b, &mut sb)] {
            let heads = doc.get_heads();
            let skip = nothing_to_send(doc, &heads, state);
            let mut probe = state.clone();
            let would = doc.generate_sync_message(&mut probe);
            if skip {
                assert!(would.is_none(), "round {round}: a message was held back");
                if state.their_heads == Some(vec![]) {
                    skipped_in_flight_doc = true;
                }
            }
        }
        // One message each way, then each side is asked again while its
        // own message is still in flight.
        let to_b = a.generate_sync_message(&mut sa);
        let to_a = b.generate_sync_message(&mut sb);
        for (doc, state) in [(&a, &sa), (&b, &sb)] {
            let heads = doc.get_heads();
            if nothing_to_send(doc, &heads, state) {
                let mut probe = state.clone();
                assert!(doc.generate_sync_message(&mut probe).is_none());
                if state.their_heads == Some(vec![]) {
                    skipped_in_flight_doc = true;
                }
            }
        }
        if let Some(m) = to_b {
            b.receive_sync_message(&mut sb, m).unwrap();
        }
        if let Some(m) = to_a {
            a.receive_sync_message(&mut sa, m).unwrap();
        }
    }
    assert_eq!(a.get_heads(), b.get_heads(), "the peers converged");
    assert!(skipped_in_flight_doc, "the whole-document case was skipped");
}

/// Linli patch (PATCHED.md, 3): a sync message carrying a crafted
/// document that automerge 0.12 panics on when it loads it (the `data` of
/// Linli's `fuzz/regressions/sync_message/
/// automerge-crafted-column-value-unpack-unwrap-panics`), in hex.
const PANICKING_MESSAGE: &[&str] = &[
    "430178d6bcc5e9fa0565d506a1024885a6a12b199006fe6168ea5636699337b717fb00010008040a075d6064",
    "5f92019604856f4a833da4b2cf038b040110265bb0d0ccacdd376595a12b198c06fe6168ea5636699337b717",
    "fb0701020302230523024004430456020a010402101db4012102230000000000726571756573746873687365",
    "6e6465724964716b696f736b2d7869616e00000000000000000000000000000000c200000000000000000000",
    "0000000000024a430178d6bcc5e9fa0565d506a1024885a6a12b198c06fe6168ea5636699303030303030303",
    "030303030303030303030303030303030303030303030303030303030303030303fe4d810701020302320323",
    "024003430256021f0a01040204153b21022306340142045609573e800102020002017e040102007e00017f00",
    "020700047f0000047f047b04646f63730768616c6c5f696406736368656d610776657273696f6e1d6c656467",
    "65722f7869616e66656e672d6b312f323032362d31312d323305007b047f7e0103057f0004017b008601f601",
    "13e6047869616e66656e676c696e6c692e6469726563746f7279016175746f6d657267030303030303138b04",
    "01100000656e3b237249646e6c01191919191919ffffffffffffffffffffffffffffffffffffffffff726571",
    "7565737473ffffffffffff191919191919191919191919191919191919191919191919191919191919191919",
    "191919191919191919191919191919191919191919191911191919191919191919191919191919000000002e",
    "0000000000000000000000000000",
];

fn panicking_message() -> sync::Message {
    let hex: String = PANICKING_MESSAGE.concat();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    sync::Message::decode(&bytes).unwrap()
}

#[test]
fn a_message_automerge_panics_on_is_refused_and_the_document_kept() {
    use automerge::{ReadDoc as _, transaction::Transactable as _};
    let now = UnixTimestamp::now();
    // Unguarded, automerge panics on it (what the patch is for).
    let unguarded = std::panic::catch_unwind(|| {
        Automerge::new().receive_sync_message(&mut sync::State::new(), panicking_message())
    });
    assert!(unguarded.is_err(), "automerge no longer panics on the crafted chunks");

    // Into an empty document: refused, the document still empty.
    let mut conn = connection();
    conn.set_share_config(ShareConfig::read_write());
    let mut empty = Automerge::new();
    assert!(conn.receive_sync_message(now, &mut empty, panicking_message()).is_err());
    assert_eq!(conn.refused, Some(UNDECODABLE));
    assert!(empty.is_empty());

    // Into a document with content: refused by the trial load, unchanged.
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "kept", 1).unwrap();
    tx.commit();
    let heads = doc.get_heads();
    let mut conn = connection();
    conn.set_share_config(ShareConfig::read_write());
    assert!(conn.receive_sync_message(now, &mut doc, panicking_message()).is_err());
    assert_eq!(conn.refused, Some(UNDECODABLE));
    assert_eq!(doc.get_heads(), heads);
    assert!(doc.get(automerge::ROOT, "kept").unwrap().is_some());

    // An honest peer's changes and whole document still go through, into
    // an empty document and into one with content.
    let mut remote = Automerge::new();
    let mut tx = remote.transaction();
    tx.put(automerge::ROOT, "remote", 2).unwrap();
    tx.commit();
    for target in [Automerge::new(), doc.clone()] {
        let mut target = target;
        let mut conn = connection();
        conn.set_share_config(ShareConfig::read_write());
        let mut remote_state = sync::State::new();
        for _ in 0..10 {
            let mut moved = false;
            if let Some(m) = remote.generate_sync_message(&mut remote_state) {
                conn.receive_sync_message(now, &mut target, m).unwrap();
                moved = true;
            }
            for (m, _) in conn.generate_sync_messages(now, &target) {
                remote.receive_sync_message(&mut remote_state, m).unwrap();
                moved = true;
            }
            if !moved {
                break;
            }
        }
        assert_eq!(conn.refused, None);
        assert!(target.get(automerge::ROOT, "remote").unwrap().is_some());
    }
    let whole = sync::Message {
        changes: sync::ChunkList::from(vec![remote.save()]),
        ..Automerge::new().generate_sync_message(&mut sync::State::new()).unwrap()
    };
    assert!(!whole.changes.iter().all(change_chunks_only));
    let mut conn = connection();
    conn.set_share_config(ShareConfig::read_write());
    let mut with_content = doc.clone();
    conn.receive_sync_message(now, &mut with_content, whole).unwrap();
    assert_eq!(conn.refused, None);
    assert!(with_content.get(automerge::ROOT, "remote").unwrap().is_some());
    assert!(with_content.get(automerge::ROOT, "kept").unwrap().is_some());
}
