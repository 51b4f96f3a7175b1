//! Group commit: concurrent writes queue up while the previous transaction is being made
//! durable, then go to the database together in one transaction with one fsync. Durability
//! then costs one disk flush per batch instead of one per request.

use super::{StoreError, Write, WriteOutcome};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Writes a batch in one transaction. On any error the whole batch is rolled back.
pub trait BatchWriter: Send + 'static {
    fn write_batch(&mut self, batch: &[Write]) -> impl Future<Output = Result<Vec<WriteOutcome>, StoreError>> + Send;
}

type Pending = (Write, oneshot::Sender<Result<WriteOutcome, StoreError>>);

#[derive(Debug, Default)]
pub struct Stats {
    pub batches: AtomicU64,
    pub writes: AtomicU64,
    pub failed_batches: AtomicU64,
}

#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Pending>,
    stats: Arc<Stats>,
}

impl GroupCommit {
    /// Starts the writer task. `max_batch` bounds one transaction; the queue holds as many
    /// again so that a burst waits here instead of in the database's lock.
    pub fn start(writer: impl BatchWriter, max_batch: usize) -> Self {
        let (queue, rx) = mpsc::channel(max_batch * 4);
        let stats = Arc::new(Stats::default());
        tokio::spawn(run(writer, rx, max_batch, stats.clone()));
        Self { queue, stats }
    }

    pub async fn commit(&self, write: Write) -> Result<WriteOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.queue.send((write, tx)).await.map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// False once the writer task has stopped: every write would fail.
    pub fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

async fn run(mut writer: impl BatchWriter, mut rx: mpsc::Receiver<Pending>, max_batch: usize, stats: Arc<Stats>) {
    let mut pending: Vec<Pending> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut pending, max_batch).await > 0 {
        let (writes, replies): (Vec<Write>, Vec<_>) = pending.drain(..).unzip();
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.writes.fetch_add(writes.len() as u64, Ordering::Relaxed);
        match writer.write_batch(&writes).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(_) if writes.len() > 1 => {
                // One bad write must not fail its neighbours: retry each on its own.
                stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                for (write, reply) in writes.into_iter().zip(replies) {
                    let outcome = writer
                        .write_batch(std::slice::from_ref(&write))
                        .await
                        .map(|mut o| o.remove(0));
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}
