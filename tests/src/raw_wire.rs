//! automerge-repo wire messages written byte by byte, for tests that
//! must send what a well-behaved client never would: a sync message before
//! the join, another peer's id, crafted Automerge payloads.

use samod::DocumentId;

fn cbor_head(out: &mut Vec<u8>, major: u8, len: usize) {
    let m = major << 5;
    match len {
        0..24 => out.push(m | len as u8),
        24..256 => out.extend([m | 24, len as u8]),
        256..65536 => {
            out.push(m | 25);
            out.extend((len as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((len as u32).to_be_bytes());
        }
    }
}

fn cbor_text(out: &mut Vec<u8>, s: &str) {
    cbor_head(out, 3, s.len());
    out.extend(s.as_bytes());
}

/// An automerge-repo `join` naming `peer`.
pub fn join(peer: &str) -> Vec<u8> {
    let mut m = Vec::new();
    cbor_head(&mut m, 5, 3);
    cbor_text(&mut m, "type");
    cbor_text(&mut m, "join");
    cbor_text(&mut m, "senderId");
    cbor_text(&mut m, peer);
    cbor_text(&mut m, "supportedProtocolVersions");
    cbor_head(&mut m, 4, 1);
    cbor_text(&mut m, "1");
    m
}

/// An automerge-repo `sync` message about `doc`.
pub fn sync(doc: &DocumentId, from: &str, to: &str, data: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    cbor_head(&mut m, 5, 5);
    cbor_text(&mut m, "type");
    cbor_text(&mut m, "sync");
    cbor_text(&mut m, "documentId");
    cbor_text(&mut m, &doc.to_string());
    cbor_text(&mut m, "senderId");
    cbor_text(&mut m, from);
    cbor_text(&mut m, "targetId");
    cbor_text(&mut m, to);
    cbor_text(&mut m, "data");
    cbor_head(&mut m, 2, data.len());
    m.extend(data);
    m
}
