//! Group commit: many callers' writes to one SQLite connection share a
//! transaction, and so one fsync.
//!
//! A caller queues its write and waits. One writer at a time, on a
//! blocking thread, takes every write queued so far and commits them
//! together; each caller's future resolves with its own result once that
//! commit is done. Under load — many kiosks' changes, or a thousand new
//! day ledgers claimed in the same second — the writes that queue while a
//! commit is on disk share the next one; a lone write commits at once, so
//! nothing waits for a timer. What "commit" means (one transaction, and
//! what to do when it fails) is the caller's: the document store and the
//! server's document claims each bring their own.

use std::{
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;

/// Writes waiting for the next commit, and whether a writer is at work.
struct Queue<Op, Out> {
    pending: Vec<(Op, oneshot::Sender<Out>)>,
    writing: bool,
}

/// A queue of writes of type `Op`, each answered with an `Out`. Cheap to
/// clone; clones share the queue.
pub struct GroupCommit<Op, Out> {
    queue: Arc<Mutex<Queue<Op, Out>>>,
}

impl<Op, Out> Clone for GroupCommit<Op, Out> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<Op, Out> Default for GroupCommit<Op, Out> {
    fn default() -> Self {
        Self {
            queue: Arc::new(Mutex::new(Queue {
                pending: Vec::new(),
                writing: false,
            })),
        }
    }
}

impl<Op: Send + 'static, Out: Send + 'static> GroupCommit<Op, Out> {
    /// A queue with no writes waiting.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue `op` for the next commit and wait for its result; `None` when
    /// the commit of its batch panicked, in which case the caller may try
    /// again. `commit` takes every op queued so far, in
    /// order, and returns one result for each, in the same order; it runs
    /// on a blocking thread, once per batch, for as long as writes keep
    /// arriving. The writer keeps the `commit` of the caller that started
    /// it, so every caller of one queue must pass the same commit.
    pub async fn submit<F>(&self, op: Op, commit: F) -> Option<Out>
    where
        F: Fn(Vec<Op>) -> Vec<Out> + Send + 'static,
    {
        let (done, answer) = oneshot::channel();
        let start = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.pending.push((op, done));
            !std::mem::replace(&mut q.writing, true)
        };
        if start {
            let queue = self.queue.clone();
            drop(tokio::task::spawn_blocking(move || {
                write_queued(&queue, commit)
            }));
        }
        answer.await.ok()
    }
}

/// The writer: commit what is queued, batch after batch, until the queue
/// is empty. A commit that panics fails its own batch only (its callers
/// get `None`); the writer goes on with what queued meanwhile. Catching
/// it here, rather than resetting the queue as the thread unwinds, means
/// no write can slip in between a caller's `None` and that reset and be
/// left with no writer.
fn write_queued<Op, Out>(queue: &Mutex<Queue<Op, Out>>, commit: impl Fn(Vec<Op>) -> Vec<Out>) {
    loop {
        let batch = {
            let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
            if q.pending.is_empty() {
                q.writing = false;
                return;
            }
            std::mem::take(&mut q.pending)
        };
        let (ops, answers): (Vec<Op>, Vec<_>) = batch.into_iter().unzip();
        let Ok(results) = std::panic::catch_unwind(AssertUnwindSafe(|| commit(ops))) else {
            continue;
        };
        // A result missing (a commit that returned too few) leaves its
        // caller with `None`, as a commit that panicked does.
        for (answer, result) in answers.into_iter().zip(results) {
            let _ = answer.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_that_queue_while_one_commits_share_the_next_commit() {
        let queue = GroupCommit::<u32, u32>::new();
        let commits = Arc::new(AtomicUsize::new(0));
        let commit = {
            let commits = commits.clone();
            move |ops: Vec<u32>| {
                commits.fetch_add(1, Ordering::SeqCst);
                // As slow as an fsync, so that others queue meanwhile.
                std::thread::sleep(std::time::Duration::from_millis(20));
                ops.into_iter().map(|n| n * 10).collect()
            }
        };
        let answers = futures::future::join_all((0..200).map(|n| {
            let (queue, commit) = (queue.clone(), commit.clone());
            async move { queue.submit(n, commit).await }
        }))
        .await;
        // Every caller gets its own answer, not a neighbour's.
        for (n, a) in answers.into_iter().enumerate() {
            assert_eq!(a, Some(n as u32 * 10));
        }
        let commits = commits.load(Ordering::SeqCst);
        assert!(
            commits <= 10,
            "200 writes queued at once took {commits} commits"
        );
        // A lone write afterwards commits at once, on its own.
        assert_eq!(queue.submit(7, commit).await, Some(70));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_that_panics_answers_none_and_the_next_write_is_committed() {
        let queue = GroupCommit::<u32, u32>::new();
        // Odd numbers make the commit panic; it is one commit for all.
        let commit = |ops: Vec<u32>| -> Vec<u32> {
            assert!(ops.iter().all(|n| n % 2 == 0), "a commit that panics");
            ops
        };
        for _ in 0..50 {
            assert_eq!(queue.submit(1, commit).await, None);
            // Submitted the moment the failure is answered: it must still
            // find a writer.
            assert_eq!(queue.submit(2, commit).await, Some(2));
        }
    }
}
