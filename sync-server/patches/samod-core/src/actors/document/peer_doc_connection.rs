#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use automerge::{
    Automerge, AutomergeError,
    sync::{self, SyncDoc},
};

use crate::actors::messages::SyncMessage;
use crate::{ConnectionId, PeerId, ShareConfig, UnixTimestamp, network::PeerDocState};

/// Linli patch: true when automerge 0.12's `generate_sync_message` would
/// return `None` because a message is still in flight and our heads have
/// not moved since we sent it. automerge builds the whole message first —
/// a Bloom filter of what we have and, for a peer that has nothing, a
/// compressed `save()` of the whole document — and only then finds it has
/// nothing to send and drops it. samod asks on every event of the
/// document, so a kiosk reconnecting with a day's ledger saved and
/// compressed it again and again while its first message was on the way
/// (half the CPU of a 10,000-record reconnect). The checks are the ones
/// automerge makes, in its order: the reset it sends when the peer's
/// last sync names changes we lack, then `heads_unchanged &&
/// have_responded && in_flight`.
pub(crate) fn nothing_to_send(
    doc: &Automerge,
    heads: &[automerge::ChangeHash],
    state: &sync::State,
) -> bool {
    use automerge::ReadDoc as _;
    if !(state.in_flight && state.have_responded && state.last_sent_heads == heads) {
        return false;
    }
    match state.their_have.as_ref().and_then(|h| h.first()) {
        // automerge would answer with a reset unless we have every one.
        Some(first) => doc.get_missing_deps(&first.last_sync).is_empty(),
        None => true,
    }
}

/// Linli patch: why a connection's last sync message was refused, as the
/// connection is closed with it.
pub(crate) const UNDECODABLE: &str = "a document automerge cannot decode";

/// Linli patch: true when `bytes` are Automerge change chunks only
/// (storage format: magic, checksum, type, uleb128 length, body; types 1
/// and 2 are a change and a compressed change), false for anything else
/// (a whole document, a bundle, what does not parse).
fn change_chunks_only(mut bytes: &[u8]) -> bool {
    const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    while !bytes.is_empty() {
        if bytes.len() < 9 || bytes[..4] != CHUNK_MAGIC || !matches!(bytes[8], 1 | 2) {
            return false;
        }
        let mut rest = &bytes[9..];
        let mut len = 0u64;
        let mut shift = 0;
        loop {
            let Some((&b, tail)) = rest.split_first() else {
                return false;
            };
            rest = tail;
            len |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift >= 64 {
                return false;
            }
        }
        match usize::try_from(len).ok().and_then(|len| rest.get(len..)) {
            Some(next) => bytes = next,
            None => return false,
        }
    }
    true
}

/// Linli patch: receive `msg` into `doc` so that a message automerge
/// panics on (the fuzzer found crafted columns that do) leaves `doc` as it
/// was, and is answered `Err(())` instead of stopping every document of
/// the repo, which share one task.
///
/// - Into an empty document, automerge loads the message's chunks into a
///   new document and puts it in place only once the load succeeded, so a
///   panic is caught around the receive itself: the load that checks the
///   message is the load that keeps it, once, not a trial load first and
///   samod's after it (that was a fifth of a 10,000-record reconnect).
/// - Into a document with content, automerge applies change by change, and
///   a panic midway could leave it half-changed: a message carrying
///   anything but change chunks (a whole document) is first loaded into a
///   scratch document, with the panic caught there, as Linli's screen did
///   before this patch for every whole document. Change chunks (a
///   connected kiosk's records) are not: their decoding holds none of the
///   crafted columns the fuzzer found.
pub(crate) fn receive_guarded(
    doc: &mut Automerge,
    state: &mut sync::State,
    msg: sync::Message,
) -> Result<Result<(), AutomergeError>, ()> {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    if doc.is_empty() {
        return catch_unwind(AssertUnwindSafe(|| doc.receive_sync_message(state, msg)))
            .map_err(|_| ());
    }
    if !msg.changes.iter().all(|chunk| change_chunks_only(chunk)) {
        let joined: Vec<u8> = msg.changes.iter().flatten().copied().collect();
        let options = automerge::LoadOptions::new()
            .on_partial_load(automerge::OnPartialLoad::Ignore)
            .verification_mode(automerge::VerificationMode::Check);
        catch_unwind(AssertUnwindSafe(|| {
            drop(Automerge::load_with_options(&joined, options));
        }))
        .map_err(|_| ())?;
    }
    Ok(doc.receive_sync_message(state, msg))
}

#[derive(Debug)]
pub(crate) struct PeerDocConnection {
    /// Linli patch: set when a sync message was refused ([`UNDECODABLE`]);
    /// the document actor then closes the connection.
    pub(super) refused: Option<&'static str>,
    pub(super) connection_id: ConnectionId,
    pub(super) peer_id: PeerId,
    pub(super) sync_state: sync::State,
    // Remember inbound requests or sync attempts, even while denied/paused,
    // so that granting access can answer them without proactive announcement.
    pub(super) has_requested: bool,
    // Whether this state has changed since the last pop
    dirty: bool,
    state: PeerDocState,
    pub(super) share_policy: SharePolicyState,
    last_share_config: Option<ShareConfig>,
    // Preserve message ordering while the asynchronous policy lookup is pending.
    pub(super) pending_sync_messages: Vec<(SyncMessage, UnixTimestamp)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SharePolicyState {
    Unknown,
    Loading,
    Ready(ShareConfig),
}

impl PeerDocConnection {
    pub(super) fn new(peer_id: PeerId, connection_id: ConnectionId) -> Self {
        Self {
            refused: None,
            connection_id,
            peer_id,
            sync_state: sync::State::new_read_only(),
            has_requested: false,
            state: PeerDocState::empty(),
            dirty: false,
            share_policy: SharePolicyState::Unknown,
            last_share_config: None,
            pending_sync_messages: Vec::new(),
        }
    }

    pub(super) fn reset_sync_state(&mut self) {
        self.sync_state = if self.can_write() {
            sync::State::new()
        } else {
            sync::State::new_read_only()
        };
    }

    pub(super) fn prepare_request(&mut self) {
        // Initial requests already have a fresh state. Automerge has no explicit
        // API to restart synchronization, so for retries we force a read-only to
        // read-write transition. This resets local bookkeeping and tells the
        // remote to resend changes; replacing the state alone would not do that.
        if self.state.last_sent.is_some() || self.state.last_received.is_some() {
            self.sync_state.set_read_only(true);
            self.sync_state.set_read_only(false);
            self.state.shared_heads = Some(self.sync_state.shared_heads.clone());
            self.state.their_heads = self.sync_state.their_heads.clone();
            self.state.peer_read_only = self.sync_state.is_peer_read_only();
            self.dirty = true;
        }
    }

    pub(super) fn mark_requested(&mut self) {
        if !self.has_requested {
            self.has_requested = true;
            self.dirty = true; // Mark as dirty since the request status changed
        }
    }

    pub(super) fn receive_sync_message(
        &mut self,
        now: UnixTimestamp,
        doc: &mut Automerge,
        msg: sync::Message,
    ) -> Result<Duration, AutomergeError> {
        let start = Instant::now();
        // Linli patch: see `receive_guarded`.
        match receive_guarded(doc, &mut self.sync_state, msg) {
            Ok(received) => received?,
            Err(()) => {
                self.refused = Some(UNDECODABLE);
                return Err(AutomergeError::Fail);
            }
        }
        let duration = start.elapsed();
        self.dirty = true;
        self.state.last_received = Some(now);
        self.state.last_acked_heads = self.sync_state.their_heads.clone();
        self.state.shared_heads = Some(self.sync_state.shared_heads.clone());
        self.state.their_heads = self.sync_state.their_heads.clone();
        self.state.peer_read_only = self.sync_state.is_peer_read_only();
        Ok(duration)
    }

    /// Generate messages in wire order, with timing for each message.
    pub(super) fn generate_sync_messages(
        &mut self,
        now: UnixTimestamp,
        doc: &Automerge,
    ) -> Vec<(sync::Message, Duration)> {
        let heads = doc.get_heads();
        let mut messages = Vec::new();
        // Linli patch: see `nothing_to_send`.
        if nothing_to_send(doc, &heads, &self.sync_state) {
            return messages;
        }
        loop {
            let start = Instant::now();
            let Some(msg) = doc.generate_sync_message(&mut self.sync_state) else {
                break;
            };
            let duration = start.elapsed();
            let follow_up = msg.heads != heads;
            if follow_up {
                // Automerge 0.12's fallback reset advertises empty heads but
                // records the real heads as sent. An empty peer may not reply.
                // Correct the bookkeeping to what we actually advertised, then
                // immediately generate the real-heads follow-up in this batch.
                self.sync_state.last_sent_heads.clone_from(&msg.heads);
            }
            self.state.last_sent = Some(now);
            self.state.last_sent_heads = Some(msg.heads.clone());
            self.state.shared_heads = Some(self.sync_state.shared_heads.clone());
            self.dirty = true;
            messages.push((msg, duration));
            if !follow_up {
                break;
            }
        }
        messages
    }

    pub(super) fn their_heads(&self) -> Option<Vec<automerge::ChangeHash>> {
        self.sync_state.their_heads.clone()
    }

    pub(super) fn pop(&mut self) -> Option<PeerDocState> {
        if self.dirty {
            self.dirty = false;
            Some(self.state.clone())
        } else {
            None
        }
    }

    pub(super) fn state(&self) -> &PeerDocState {
        &self.state
    }

    /// Bound buffering while an application-provided policy future is pending.
    /// Permit one oversized message so a legitimate full-document sync is not
    /// limited by this queue's byte budget; transports should bound frame size.
    pub(super) fn buffer_sync_message(
        &mut self,
        msg: SyncMessage,
        received_at: UnixTimestamp,
    ) -> bool {
        const MAX_MESSAGES: usize = 64;
        const MAX_BYTES: usize = 16 * 1024 * 1024;
        let message_bytes = |msg: &SyncMessage| match msg {
            SyncMessage::Sync { data } | SyncMessage::Request { data } => data.len(),
            SyncMessage::DocUnavailable => 0,
        };
        let queued_bytes = self
            .pending_sync_messages
            .iter()
            .fold(0usize, |bytes, (msg, _)| {
                bytes.saturating_add(message_bytes(msg))
            });
        if self.pending_sync_messages.len() >= MAX_MESSAGES
            || (!self.pending_sync_messages.is_empty()
                && queued_bytes.saturating_add(message_bytes(&msg)) > MAX_BYTES)
        {
            return false;
        }
        self.pending_sync_messages.push((msg, received_at));
        true
    }

    pub(super) fn share_config(&self) -> Option<ShareConfig> {
        match self.share_policy {
            SharePolicyState::Ready(config) => Some(config),
            _ => None,
        }
    }

    pub(super) fn can_read(&self) -> bool {
        self.share_config().is_some_and(|config| config.can_read())
    }

    pub(super) fn can_write(&self) -> bool {
        self.share_config().is_some_and(|config| config.can_write())
    }

    pub(super) fn can_send(&self) -> bool {
        self.can_read()
            && (self.has_requested
                || self.sync_state.their_heads.is_some()
                || self.share_config().is_some_and(|config| config.announce))
    }

    pub(super) fn set_share_config(&mut self, config: ShareConfig) -> Option<ShareConfig> {
        let previous = self.last_share_config.replace(config);
        self.share_policy = SharePolicyState::Ready(config);
        if self.state.last_sent.is_none() && self.state.last_received.is_none() {
            // Initialize sessions which have not exchanged any sync messages yet.
            self.reset_sync_state();
        } else {
            if previous.is_some_and(|old| !old.can_read()) && config.can_read() {
                // Denial may have dropped messages; restart the exchange on re-grant.
                self.sync_state.set_read_only(false);
            }
            self.sync_state.set_read_only(!config.can_write());
            self.state.shared_heads = Some(self.sync_state.shared_heads.clone());
            self.state.their_heads = self.sync_state.their_heads.clone();
            self.state.peer_read_only = self.sync_state.is_peer_read_only();
        }
        self.state.share_config = Some(config);
        self.dirty = true;
        previous
    }
}
