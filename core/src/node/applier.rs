//! Writes journalled records into their documents, in the order they were
//! recorded, off the tap's path.
//!
//! Why: a record is committed once its journal row is (DESIGN.md
//! decision 5); the screen can say so then. Writing it into its Automerge
//! document is what makes it syncable, and it costs more than the commit:
//! samod saves the whole document every tenth change or so (compressed),
//! and that grew with the day's ledger until it was most of a tap's time.
//! So [`crate::node::KioskNode`] commits, hands the record here and
//! returns; this task writes records into documents once a run of them has
//! ended (see [`gather`]: a tap at a hall's pace waits 20 ms, a reader
//! waits for nothing), several in one visit to a document, each still its
//! own change (DESIGN.md decision 1). Written after the run, the document
//! work (Automerge, samod's saves, the documents file) no longer competes
//! with the next tap's commit for the CPU and the disk.
//!
//! Nothing is lost if a write fails or the kiosk stops first: the record
//! stays unsynced in the journal and is written again at the next start.
//! Reads that look into documents first wait with [`Applier::settled`],
//! so a kiosk always sees what it recorded.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use automerge::Automerge;
use samod::DocHandle;
use tokio::{
    sync::{Notify, mpsc, watch},
    task::JoinHandle,
};

use crate::{
    Error, Result,
    docs::{ledger, points, requests},
    model::{CheckIn, Rating, Request, ResidentRef, ShiftEvent},
};
use serde::Serialize;

/// How long the applier waits for a next record before writing what it
/// has: longer than the gap between taps of a burst (a bench's loop, a
/// queue of residents at one kiosk), far shorter than a person notices.
const QUIET: Duration = Duration::from_millis(20);
/// The longest a record waits in the applier while records keep coming.
const LONGEST_WAIT: Duration = Duration::from_millis(500);
/// The most records written in one turn.
const BATCH: usize = 4096;

/// A committed record to write into its document.
pub(super) struct Pending {
    /// Its document.
    pub handle: DocHandle,
    /// The record map in the document.
    pub map: String,
    /// The record id.
    pub key: String,
    /// The record, as JSON.
    pub payload: serde_json::Value,
}

enum Job {
    Write(Pending),
    /// A reserved place that will not be used (the commit failed).
    Skip,
}

/// The queue of records to write and how far it has got.
pub(super) struct Applier {
    tx: mpsc::UnboundedSender<Job>,
    reserved: AtomicU64,
    applied: watch::Receiver<u64>,
    /// Told when a reader waits, so queued records go in now.
    hurry: Arc<Notify>,
}

/// A place in the queue, taken before the record's journal commit: so
/// whoever sees the journal row and then waits for [`Applier::settled`]
/// also waits for the record to be in its document. Dropped unused, it
/// lets the queue move on.
pub(super) struct Ticket {
    tx: Option<mpsc::UnboundedSender<Job>>,
}

impl Ticket {
    /// Queue the committed record in the place taken.
    pub fn submit(mut self, p: Pending) -> Result<()> {
        match self.tx.take() {
            Some(tx) => tx.send(Job::Write(p)).map_err(|_| Error::Stopped),
            None => Err(Error::Stopped),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Job::Skip);
        }
    }
}

impl Applier {
    /// Start the task; `written` is notified after each batch.
    pub fn start(written: Arc<Notify>) -> (Applier, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (applied_tx, applied) = watch::channel(0u64);
        let hurry = Arc::new(Notify::new());
        let task = tokio::spawn(run(rx, applied_tx, written, hurry.clone()));
        (
            Applier {
                tx,
                reserved: AtomicU64::new(0),
                applied,
                hurry,
            },
            task,
        )
    }

    /// Take a place for a record about to be committed. The caller
    /// queues or drops tickets in the order it took them (the node records
    /// one at a time), so the count of places taken is a position in the
    /// queue.
    pub fn reserve(&self) -> Ticket {
        self.reserved.fetch_add(1, Ordering::SeqCst);
        Ticket {
            tx: Some(self.tx.clone()),
        }
    }

    /// Resolves once every record whose place was taken before the call
    /// is in its document (or has failed to go in, and waits in the
    /// journal).
    pub async fn settled(&self) {
        let target = self.reserved.load(Ordering::SeqCst);
        let mut applied = self.applied.clone();
        if *applied.borrow() < target {
            self.hurry.notify_one();
        }
        let _ = applied.wait_for(|n| *n >= target).await;
    }
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<Job>,
    applied: watch::Sender<u64>,
    written: Arc<Notify>,
    hurry: Arc<Notify>,
) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        gather(&mut rx, &mut batch, &hurry).await;
        let n = batch.len() as u64;
        // Consecutive records of one document go in one visit.
        let mut rest = std::mem::take(&mut batch)
            .into_iter()
            .filter_map(|job| match job {
                Job::Write(p) => Some(p),
                Job::Skip => None,
            })
            .peekable();
        while let Some(first) = rest.next() {
            let handle = first.handle.clone();
            let mut group = vec![first];
            while let Some(next) = rest.next_if(|p| p.handle.document_id() == handle.document_id())
            {
                group.push(next);
            }
            let records: Vec<(String, String, serde_json::Value)> = group
                .into_iter()
                .map(|p| (p.map, p.key, p.payload))
                .collect();
            let outcome = handle
                .with_document_async(move |d| {
                    records
                        .into_iter()
                        .map(|(map, key, payload)| {
                            write_record(d, &map, &key, payload).map_err(|e| (key, e))
                        })
                        .filter_map(std::result::Result::err)
                        .collect::<Vec<_>>()
                })
                .await;
            match outcome {
                Ok(failures) => {
                    for (key, e) in failures {
                        tracing::error!(record = %key, error = %e, "record kept in the journal but not yet in its document");
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "records kept in the journal but not yet in their document");
                }
            }
        }
        applied.send_modify(|a| *a += n);
        written.notify_one();
    }
}

/// Keep taking records while they keep coming, so a run of taps is
/// written into its document after the run, not between its taps: until
/// none has come for [`QUIET`], [`LONGEST_WAIT`] has passed since the
/// first, a reader asks to see them ([`Applier::settled`]) or the batch
/// is full. One record at a time (a hall's pace) waits only [`QUIET`].
async fn gather(rx: &mut mpsc::UnboundedReceiver<Job>, batch: &mut Vec<Job>, hurry: &Notify) {
    let longest = tokio::time::sleep(LONGEST_WAIT);
    tokio::pin!(longest);
    while batch.len() < BATCH {
        tokio::select! {
            biased;
            () = hurry.notified() => return,
            () = &mut longest => return,
            () = tokio::time::sleep(QUIET) => return,
            n = rx.recv_many(batch, BATCH - batch.len()) => if n == 0 { return },
        }
    }
}

/// Write a journalled record (its JSON payload) into `doc` as its own
/// change, unless it is there already.
pub(super) fn write_record(
    doc: &mut Automerge,
    map: &str,
    key: &str,
    payload: serde_json::Value,
) -> Result<()> {
    if ledger::contains(doc, map, key).unwrap_or(false) {
        return Ok(());
    }
    match map {
        ledger::CHECKINS => ledger::add_checkin(doc, key, &from_json::<CheckIn>(payload)?),
        ledger::RATINGS => ledger::add_rating(doc, key, &from_json::<Rating>(payload)?),
        ledger::SHIFTS => ledger::add_shift_event(doc, key, &from_json::<ShiftEvent>(payload)?),
        requests::REQUESTS => requests::add_request(doc, key, &from_json::<Request>(payload)?),
        points::SPENDS => points::put_spend(doc, key, &from_json::<points::Spend>(payload)?),
        points::HANDBACKS => {
            points::put_handback(doc, key, &from_json::<points::Handback>(payload)?)
        }
        points::CLOSED => points::close(doc, &from_json::<points::Closure>(payload)?),
        points::WANTS => points::put_want(doc, key, &from_json::<points::Want>(payload)?),
        other => Err(Error::invalid(
            "journal entry",
            format!("unknown record map {other:?}"),
        )),
    }
}

/// A record as `doc` holds it, as the journal keeps it: its JSON payload
/// and the pseudonym it is found by (`None` when anonymous or erased).
/// `Ok(None)` when the document lacks it.
pub(super) fn read_record(
    doc: &Automerge,
    map: &str,
    key: &str,
) -> Result<Option<(String, Option<String>)>> {
    fn found<T: Serialize>(
        v: Option<T>,
        who: impl FnOnce(&T) -> Option<&ResidentRef>,
    ) -> Result<Option<(String, Option<String>)>> {
        let Some(v) = v else { return Ok(None) };
        let pseudonym = who(&v)
            .filter(|r| !r.is_erased())
            .map(|r| r.pseudonym.clone());
        let json =
            serde_json::to_string(&v).map_err(|e| Error::invalid("record", e.to_string()))?;
        Ok(Some((json, pseudonym)))
    }
    match map {
        ledger::CHECKINS => found(ledger::checkin(doc, key)?, |c| c.resident.as_ref()),
        ledger::RATINGS => found(ledger::rating(doc, key)?, |_| None),
        ledger::SHIFTS => found(ledger::shift_event(doc, key)?, |s| Some(&s.volunteer)),
        requests::REQUESTS => found(requests::request(doc, key)?, |r| r.resident.as_ref()),
        // A spend is found by its volunteer (the pseudonym of its points
        // account; none once the server rebuilt it without them).
        points::SPENDS => {
            let spend = points::spend(doc, key)?;
            let volunteer = spend.as_ref().and_then(|s| {
                s.parts
                    .iter()
                    .find_map(|p| p.account.strip_prefix("points:"))
                    .filter(|p| *p != ResidentRef::ERASED)
                    .map(str::to_string)
            });
            found(spend, |_| None).map(|f| f.map(|(json, _)| (json, volunteer)))
        }
        points::HANDBACKS => found(points::handback(doc, key)?, |_| None),
        // A store closes once: the closure is its one record of the kind.
        points::CLOSED => found(points::closure(doc)?, |_| None),
        points::WANTS => found(points::want(doc, key)?, |_| None),
        other => Err(Error::invalid(
            "journal entry",
            format!("unknown record map {other:?}"),
        )),
    }
}

fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::invalid("journal payload", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// Records `n` places let go (the batch only counts them here).
    fn send(tx: &mpsc::UnboundedSender<Job>, n: usize) {
        for _ in 0..n {
            tx.send(Job::Skip).expect("send");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_record_waits_only_the_quiet_time() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let hurry = Notify::new();
        let mut batch = Vec::new();
        send(&tx, 1);
        rx.recv_many(&mut batch, BATCH).await;
        let start = Instant::now();
        gather(&mut rx, &mut batch, &hurry).await;
        assert_eq!(batch.len(), 1);
        assert_eq!(start.elapsed(), QUIET);
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_of_taps_is_written_after_the_run_and_never_later_than_the_longest_wait() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let hurry = Arc::new(Notify::new());
        // A tap every 5 ms for 200 ms, then none.
        let taps = tokio::spawn({
            let tx = tx.clone();
            async move {
                for _ in 0..40 {
                    send(&tx, 1);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        let mut batch = Vec::new();
        rx.recv_many(&mut batch, BATCH).await;
        let start = Instant::now();
        gather(&mut rx, &mut batch, &hurry).await;
        assert_eq!(batch.len(), 40, "the whole run in one batch");
        assert!(start.elapsed() >= Duration::from_millis(195) + QUIET);
        taps.await.expect("taps");

        // Taps that never pause are written every LONGEST_WAIT.
        let endless = tokio::spawn(async move {
            loop {
                send(&tx, 1);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        batch.clear();
        rx.recv_many(&mut batch, BATCH).await;
        let start = Instant::now();
        gather(&mut rx, &mut batch, &hurry).await;
        assert_eq!(start.elapsed(), LONGEST_WAIT);
        assert!(batch.len() >= 100, "{} records", batch.len());
        endless.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_waiting_has_the_queue_written_at_once() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let hurry = Notify::new();
        let mut batch = Vec::new();
        send(&tx, 3);
        rx.recv_many(&mut batch, BATCH).await;
        // Asked before the applier looked (a permit kept) or while it waits.
        hurry.notify_one();
        let start = Instant::now();
        gather(&mut rx, &mut batch, &hurry).await;
        assert_eq!((batch.len(), start.elapsed()), (3, Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_is_written_without_waiting() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let hurry = Notify::new();
        let mut batch = Vec::new();
        send(&tx, BATCH + 10);
        rx.recv_many(&mut batch, 1).await;
        let start = Instant::now();
        gather(&mut rx, &mut batch, &hurry).await;
        assert_eq!((batch.len(), start.elapsed()), (BATCH, Duration::ZERO));
    }
}
