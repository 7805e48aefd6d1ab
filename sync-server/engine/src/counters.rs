//! What the server has done since it started, counted as it goes, for
//! `/metrics` (the web side turns these into Prometheus metrics; the
//! engine only counts, so it depends on no metrics library). Each figure
//! is an atomic: counting never waits on a lock.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// The server's running counts (see the module docs).
#[derive(Debug, Default)]
pub struct Counters {
    /// Document changes that reached the projector (one per document per
    /// change notice; a burst of a document's changes may count once).
    document_changes: AtomicU64,
    /// Records written into the projection.
    records_projected: AtomicU64,
    /// Records quarantined (did not fit their schema, or forged).
    records_quarantined: AtomicU64,
    /// Documents waiting for the projector after its last batch.
    projection_pending: AtomicI64,
    /// How long the projector's last batch took from its first change's
    /// arrival to being written, in ms.
    last_batch_ms: AtomicU64,
}

/// A reading of [`Counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counted {
    /// See [`Counters`].
    pub document_changes: u64,
    /// See [`Counters`].
    pub records_projected: u64,
    /// See [`Counters`].
    pub records_quarantined: u64,
    /// See [`Counters`].
    pub projection_pending: u64,
    /// See [`Counters`].
    pub last_batch_ms: u64,
}

impl Counters {
    /// A batch of the projector: `changes` notices taken, `records` and
    /// `quarantined` written, `pending` left queued, `took_ms` since its
    /// first change arrived.
    pub fn projected(
        &self,
        changes: usize,
        records: usize,
        quarantined: usize,
        pending: usize,
        took_ms: u64,
    ) {
        let n = |x: usize| u64::try_from(x).unwrap_or(u64::MAX);
        self.document_changes.fetch_add(n(changes), Relaxed);
        self.records_projected.fetch_add(n(records), Relaxed);
        self.records_quarantined.fetch_add(n(quarantined), Relaxed);
        self.projection_pending
            .store(i64::try_from(pending).unwrap_or(i64::MAX), Relaxed);
        self.last_batch_ms.store(took_ms, Relaxed);
    }

    /// The counts now.
    pub fn read(&self) -> Counted {
        Counted {
            document_changes: self.document_changes.load(Relaxed),
            records_projected: self.records_projected.load(Relaxed),
            records_quarantined: self.records_quarantined.load(Relaxed),
            projection_pending: u64::try_from(self.projection_pending.load(Relaxed)).unwrap_or(0),
            last_batch_ms: self.last_batch_ms.load(Relaxed),
        }
    }
}
