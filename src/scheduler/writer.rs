//! Group commit of poll results, kept through database outages.
//!
//! Poll tasks hand their [`JourneyUpdate`] to one writer task and wait for its verdict. The writer
//! takes whatever has queued up meanwhile and commits it in a single transaction, so under load
//! many polls share one commit, while a lone poll is written at once.
//!
//! A result already learned is never dropped because a write failed. When the database cannot be
//! written at all (a full disk, a held lock, a lost connection: [`WriteFault::is_outage`]), the
//! writer keeps the batch and commits it again, on a fresh connection, after a short backoff,
//! until it goes through; meanwhile the scheduler claims nothing (see [`RecordWriter::holds_results`]).
//! Memory stays bounded: a poll holds its concurrency slot until its result is queued, and the
//! queue is bounded. Each update is still guarded by its lease owner and poll count, so a result
//! kept past its lease is written if the journey is still this daemon's claim, and discarded if
//! another replica claimed it since. Only a database that refuses one update on its own (a
//! constraint, a value it cannot store) splits a batch, and only such an update can come back
//! [`Verdict::Refused`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::wakeup::Wakeup;
use crate::journey::JourneyUpdate;
use crate::storage::{Store, StoreError};
use crate::telemetry::metrics;

/// Most updates committed in one transaction.
const MAX_BATCH: usize = 256;
/// Times an update the database refuses on its own is tried before it is given up: a refusal
/// can be transient (a deadlock victim).
const REFUSALS_BEFORE_GIVING_UP: u32 = 3;
/// Backoff between commits of a kept batch: from the first value, doubling, up to the last.
const FIRST_RETRY: Duration = Duration::from_millis(50);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// What became of a submitted update.
#[derive(Debug, Clone)]
pub enum Verdict {
    Written,
    /// The row was no longer this daemon's to write: another replica claimed it since.
    NotOurs,
    /// The database refused this update on its own, again and again.
    Refused(Arc<StoreError>),
    /// Shutdown came while the database could not be written.
    Abandoned,
}

/// How long to wait before committing a kept batch again, after `failures` failed commits.
pub fn retry_delay(failures: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(LAST_RETRY)
}

struct Request {
    update: JourneyUpdate,
    reply: oneshot::Sender<Verdict>,
}

/// Handle to the writer task. The task ends once every handle is dropped and the queue is empty,
/// or, if the database cannot be written, once it is told to stop.
#[derive(Clone)]
pub struct RecordWriter {
    queue: mpsc::Sender<Request>,
    holding: Arc<AtomicBool>,
}

/// The writer task; resolves to how many results it had to abandon.
pub type WriterTask = JoinHandle<usize>;

impl RecordWriter {
    /// Starts the writer. Cancelling `stop` tells it to give up on results the database cannot
    /// take instead of waiting for it.
    pub fn spawn(
        store: Arc<dyn Store>,
        owner: String,
        wakeup: Arc<Wakeup>,
        stop: CancellationToken,
    ) -> (Self, WriterTask) {
        let (queue, requests) = mpsc::channel(MAX_BATCH * 4);
        let holding = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            store,
            owner,
            wakeup,
            stop,
            holding: holding.clone(),
        };
        let task = tokio::spawn(writer.run(requests));
        (Self { queue, holding }, task)
    }

    /// Queues `update` for the next commit (waiting while the queue is full); the returned
    /// future resolves once the writer is done with it.
    pub async fn submit(&self, update: JourneyUpdate) -> impl Future<Output = Verdict> + use<> {
        let (reply, verdict) = oneshot::channel();
        self.queue
            .send(Request { update, reply })
            .await
            .expect("the writer outlives its handles");
        async { verdict.await.unwrap_or(Verdict::Abandoned) }
    }

    /// Whether the writer keeps results the database could not take yet. Claiming more work
    /// meanwhile could hand out a journey whose result is kept (its lease may have run out).
    pub fn holds_results(&self) -> bool {
        self.holding.load(Ordering::SeqCst)
    }
}

struct Writer {
    store: Arc<dyn Store>,
    owner: String,
    wakeup: Arc<Wakeup>,
    stop: CancellationToken,
    holding: Arc<AtomicBool>,
}

/// The updates of a batch not settled yet, with whom to tell, how often each was refused, and
/// whether an earlier commit of it may have gone through unseen (its connection broke).
#[derive(Default)]
struct Pending {
    updates: Vec<JourneyUpdate>,
    replies: Vec<oneshot::Sender<Verdict>>,
    refusals: Vec<u32>,
    maybe_written: Vec<bool>,
}

impl Pending {
    fn len(&self) -> usize {
        self.updates.len()
    }

    fn is_empty(&self) -> bool {
        self.updates.is_empty()
    }

    fn push(&mut self, request: Request) {
        self.updates.push(request.update);
        self.replies.push(request.reply);
        self.refusals.push(0);
        self.maybe_written.push(false);
    }

    fn settle(&mut self, index: usize, verdict: Verdict) {
        self.updates.swap_remove(index);
        self.refusals.swap_remove(index);
        self.maybe_written.swap_remove(index);
        // A poll task that gave up waiting is no reason to stop writing.
        let _ = self.replies.swap_remove(index).send(verdict);
    }
}

/// How a commit attempt ended.
enum Attempt {
    /// Everything was settled, or progress was made; go on.
    Progress,
    /// The database cannot be written: keep what is left and try again later.
    Outage,
}

impl Writer {
    async fn run(self, mut requests: mpsc::Receiver<Request>) -> usize {
        let mut received = Vec::with_capacity(MAX_BATCH);
        let mut abandoned = 0;
        while requests.recv_many(&mut received, MAX_BATCH).await > 0 {
            let mut pending = Pending::default();
            for request in received.drain(..) {
                pending.push(request);
            }
            abandoned += self.write_kept(&mut pending, &requests).await;
        }
        metrics::set_results_unwritten(0);
        if abandoned > 0 {
            tracing::error!(
                abandoned,
                "shutting down with poll results the database could not take; their journeys \
                 are polled again"
            );
        }
        abandoned
    }

    /// Writes `pending` whatever it takes, unless told to stop; returns how many were abandoned.
    async fn write_kept(&self, pending: &mut Pending, queued: &mpsc::Receiver<Request>) -> usize {
        let mut failures = 0;
        let mut one_by_one = false;
        while !pending.is_empty() {
            let attempt = if one_by_one {
                self.commit_one_by_one(pending).await
            } else {
                self.commit_together(pending, &mut one_by_one).await
            };
            match attempt {
                Attempt::Progress => failures = 0,
                Attempt::Outage => {
                    failures += 1;
                    pending.maybe_written.fill(true);
                    self.holding.store(true, Ordering::SeqCst);
                    metrics::set_results_unwritten(pending.len() + queued.len());
                    if self.stop.is_cancelled() {
                        break;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(retry_delay(failures)) => {}
                        () = self.stop.cancelled() => {}
                    }
                }
            }
        }
        let abandoned = pending.len();
        while !pending.is_empty() {
            pending.settle(0, Verdict::Abandoned);
        }
        if self.holding.swap(false, Ordering::SeqCst) {
            metrics::set_results_unwritten(queued.len());
            // Work that fell due meanwhile waits for the scheduler to claim it.
            self.wakeup.resume();
        }
        abandoned
    }

    /// One transaction for the whole batch; a refusal switches to one update at a time.
    async fn commit_together(&self, pending: &mut Pending, one_by_one: &mut bool) -> Attempt {
        match self.store.record(&self.owner, &pending.updates).await {
            Ok(applied) => {
                self.announce_due(&pending.updates);
                let mut attempt = Attempt::Progress;
                // From the end: settling swaps the last update into the settled one's place.
                for (index, applied) in applied.into_iter().enumerate().rev() {
                    match self.verdict(pending, index, applied).await {
                        Some(verdict) => pending.settle(index, verdict),
                        None => attempt = Attempt::Outage,
                    }
                }
                attempt
            }
            Err(err) if is_outage(&err) => Attempt::Outage,
            Err(err) if pending.len() == 1 => {
                refused(pending, 0, err);
                Attempt::Progress
            }
            Err(_) => {
                *one_by_one = true;
                Attempt::Progress
            }
        }
    }

    /// Each update in a transaction of its own, so one the database refuses costs no more than
    /// itself.
    async fn commit_one_by_one(&self, pending: &mut Pending) -> Attempt {
        let mut index = 0;
        while index < pending.len() {
            let update = std::slice::from_ref(&pending.updates[index]);
            match self.store.record(&self.owner, update).await {
                Ok(applied) => {
                    self.announce_due(update);
                    match self.verdict(pending, index, applied[0]).await {
                        Some(verdict) => pending.settle(index, verdict),
                        None => return Attempt::Outage,
                    }
                }
                Err(err) if is_outage(&err) => return Attempt::Outage,
                Err(err) => {
                    if !refused(pending, index, err) {
                        index += 1;
                    }
                }
            }
        }
        Attempt::Progress
    }

    /// The verdict on `pending`'s update at `index`, which the database just `applied` or not;
    /// `None` while it cannot be told. Not applied means the row moved on: another replica
    /// claimed it, or, after a broken connection, the commit that seemed to fail went through.
    async fn verdict(&self, pending: &Pending, index: usize, applied: bool) -> Option<Verdict> {
        if applied {
            return Some(Verdict::Written);
        }
        if !pending.maybe_written[index] {
            return Some(Verdict::NotOurs);
        }
        let update = std::slice::from_ref(&pending.updates[index]);
        match self.store.recorded(update).await {
            Ok(recorded) if recorded[0] => Some(Verdict::Written),
            Ok(_) => Some(Verdict::NotOurs),
            // The database went away again: ask once it is back.
            Err(_) => None,
        }
    }

    /// Wakes the scheduler if a written journey falls due before its planned wake-up.
    fn announce_due(&self, updates: &[JourneyUpdate]) {
        if let Some(soonest) = updates.iter().filter_map(|u| u.next_poll_at).min() {
            self.wakeup.due_at(soonest);
        }
    }
}

fn is_outage(err: &StoreError) -> bool {
    err.write_fault().is_none_or(|fault| fault.is_outage())
}

/// Counts a refusal of `pending`'s update at `index`; settles it as refused once it has been
/// refused too often. Returns whether it was settled.
fn refused(pending: &mut Pending, index: usize, err: StoreError) -> bool {
    pending.refusals[index] += 1;
    if pending.refusals[index] < REFUSALS_BEFORE_GIVING_UP {
        return false;
    }
    pending.settle(index, Verdict::Refused(Arc::new(err)));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_batches_are_retried_ever_less_often_up_to_a_cap() {
        let delays: Vec<u64> = (1..=9)
            .map(|failures| retry_delay(failures).as_millis() as u64)
            .collect();
        assert_eq!(delays, [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(retry_delay(u32::MAX), LAST_RETRY);
    }
}
