//! Group commit of poll results.
//!
//! Poll tasks hand their [`JourneyUpdate`] to one writer task and wait for its verdict. The writer
//! takes whatever has queued up meanwhile and commits it in a single transaction, so under load
//! many polls share one commit, while a lone poll is written at once.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::wakeup::Wakeup;
use crate::journey::JourneyUpdate;
use crate::storage::{Store, StoreError};

/// Most updates committed in one transaction.
const MAX_BATCH: usize = 256;

type Verdict = Result<bool, Arc<StoreError>>;

struct Request {
    update: JourneyUpdate,
    reply: oneshot::Sender<Verdict>,
}

/// Handle to the writer task. The task ends once every handle is dropped and the queue is empty.
#[derive(Clone)]
pub struct RecordWriter {
    queue: mpsc::Sender<Request>,
}

impl RecordWriter {
    pub fn spawn(
        store: Arc<dyn Store>,
        owner: String,
        wakeup: Arc<Wakeup>,
    ) -> (Self, JoinHandle<()>) {
        let (queue, requests) = mpsc::channel(MAX_BATCH * 4);
        let task = tokio::spawn(write_batches(store, owner, wakeup, requests));
        (Self { queue }, task)
    }

    /// Queues `update` for the next commit (waiting while the queue is full); the returned
    /// future resolves once it is written: `Ok(false)` when the row was no longer ours to write.
    pub async fn submit(&self, update: JourneyUpdate) -> impl Future<Output = Verdict> + use<> {
        let (reply, verdict) = oneshot::channel();
        self.queue
            .send(Request { update, reply })
            .await
            .expect("the writer outlives its handles");
        async { verdict.await.expect("the writer answers every request") }
    }
}

async fn write_batches(
    store: Arc<dyn Store>,
    owner: String,
    wakeup: Arc<Wakeup>,
    mut requests: mpsc::Receiver<Request>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while requests.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (updates, replies): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|r| (r.update, r.reply)).unzip();
        let verdicts = commit(store.as_ref(), &owner, &updates).await;
        if let Some(soonest) = updates.iter().filter_map(|u| u.next_poll_at).min() {
            wakeup.due_at(soonest);
        }
        for (reply, verdict) in replies.into_iter().zip(verdicts) {
            // A poll task that gave up waiting is no reason to stop writing.
            let _ = reply.send(verdict);
        }
    }
}

/// Commits `updates` in one transaction; if the database refuses that, each in a transaction of
/// its own, so a transient refusal (a deadlock victim, say) is retried at once and one update the
/// database refuses costs no more than itself. An unreachable database fails the whole batch at
/// once: retrying update by update would only wait for it again and again.
async fn commit(store: &dyn Store, owner: &str, updates: &[JourneyUpdate]) -> Vec<Verdict> {
    match store.record(owner, updates).await {
        Ok(applied) => applied.into_iter().map(Ok).collect(),
        Err(err) if updates.len() > 1 && err.is_refusal() => {
            let mut verdicts = Vec::with_capacity(updates.len());
            for update in updates {
                verdicts.push(
                    store
                        .record(owner, std::slice::from_ref(update))
                        .await
                        .map(|applied| applied[0])
                        .map_err(Arc::new),
                );
            }
            verdicts
        }
        Err(err) => {
            let err = Arc::new(err);
            updates.iter().map(|_| Err(err.clone())).collect()
        }
    }
}
