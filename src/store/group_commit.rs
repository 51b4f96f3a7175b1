//! Group commit: concurrent writes queue up while the previous transaction is being made
//! durable, then go to the database together in one transaction with one fsync. Durability
//! then costs one disk flush per batch instead of one per request.

use super::{StoreError, Write, WriteOutcome};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Writes a batch in one transaction. On any error the whole batch is rolled back.
pub trait BatchWriter: Send + 'static {
    /// How long to wait for more writes before the next batch, if at all: a writer that
    /// shares a lock with other processes gathers while they hold it.
    fn gather_window(&self) -> Option<Duration> {
        None
    }

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
        if let Some(window) = writer.gather_window() {
            gather(&mut rx, &mut pending, max_batch, window).await;
        }
        // A caller that stopped waiting (its request timed out and was answered 503) has been
        // told nothing was stored: writing it now would store what was refused.
        pending.retain(|(_, reply)| !reply.is_closed());
        if pending.is_empty() {
            continue;
        }
        let (writes, replies): (Vec<Write>, Vec<_>) = pending.drain(..).unzip();
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.writes.fetch_add(writes.len() as u64, Ordering::Relaxed);
        match writer.write_batch(&writes).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) if e.is_unreachable() => {
                // The database is gone, not one write bad: every write of the batch fails now
                // instead of each waiting for its own attempt against the same closed door.
                stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                let reason = match e {
                    StoreError::Unreachable(reason) => reason,
                    other => other.to_string(),
                };
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Unreachable(reason.clone())));
                }
            }
            Err(_) if writes.len() > 1 => {
                // One bad write must not fail its neighbours: retry each on its own.
                stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                for (write, reply) in writes.into_iter().zip(replies) {
                    if reply.is_closed() {
                        continue;
                    }
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

/// Adds what arrives within `window` to the batch, up to `max_batch`.
async fn gather(rx: &mut mpsc::Receiver<Pending>, pending: &mut Vec<Pending>, max_batch: usize, window: Duration) {
    let deadline = tokio::time::Instant::now() + window;
    while pending.len() < max_batch {
        match tokio::time::timeout_at(deadline, rx.recv_many(pending, max_batch - pending.len())).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records the batches it is given and fails each with what the test says.
    struct Recording {
        batches: Arc<Mutex<Vec<usize>>>,
        fail: fn() -> Option<StoreError>,
        gate: Option<oneshot::Receiver<()>>,
        window: Option<Duration>,
    }

    impl BatchWriter for Recording {
        fn gather_window(&self) -> Option<Duration> {
            self.window
        }

        async fn write_batch(&mut self, batch: &[Write]) -> Result<Vec<WriteOutcome>, StoreError> {
            if let Some(gate) = self.gate.take() {
                let _ = gate.await;
            }
            self.batches.lock().unwrap().push(batch.len());
            match (self.fail)() {
                Some(e) => Err(e),
                None => Ok(batch.iter().map(|_| WriteOutcome::KeyReused).collect()),
            }
        }
    }

    fn writer(fail: fn() -> Option<StoreError>) -> (Recording, Arc<Mutex<Vec<usize>>>, oneshot::Sender<()>) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let (open, gate) = oneshot::channel();
        let recording = Recording {
            batches: batches.clone(),
            fail,
            gate: Some(gate),
            window: None,
        };
        (recording, batches, open)
    }

    #[tokio::test]
    async fn a_write_whose_caller_stopped_waiting_is_not_written() {
        let (recording, batches, open) = writer(|| None);
        let commit = GroupCommit::start(recording, 8);
        // The first write holds the writer at its gate while the second queues behind it.
        let first = tokio::spawn({
            let commit = commit.clone();
            async move { commit.commit(Write::default()).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(20), commit.commit(Write::default())).await;
        assert!(gave_up.is_err(), "the second caller timed out");
        open.send(()).unwrap();
        first.await.unwrap().unwrap();
        commit.commit(Write::default()).await.unwrap();
        assert_eq!(
            *batches.lock().unwrap(),
            [1, 1],
            "the abandoned write was never written"
        );
    }

    #[tokio::test]
    async fn an_unreachable_database_fails_the_whole_batch_at_once() {
        let (recording, batches, open) = writer(|| Some(StoreError::Unreachable("connection refused".into())));
        let commit = GroupCommit::start(recording, 8);
        let held = tokio::spawn({
            let commit = commit.clone();
            async move { commit.commit(Write::default()).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let queued: Vec<_> = (0..3)
            .map(|_| {
                let commit = commit.clone();
                tokio::spawn(async move { commit.commit(Write::default()).await })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        open.send(()).unwrap();
        assert!(held.await.unwrap().unwrap_err().is_unreachable());
        for write in queued {
            let e = write.await.unwrap().unwrap_err();
            assert_eq!(e.to_string(), "the database cannot be reached: connection refused");
        }
        assert_eq!(*batches.lock().unwrap(), [1, 3], "no write was retried on its own");
    }

    #[tokio::test]
    async fn a_writer_with_a_gather_window_batches_what_arrives_within_it() {
        let (mut recording, batches, open) = writer(|| None);
        recording.window = Some(Duration::from_millis(300));
        open.send(()).unwrap();
        let commit = GroupCommit::start(recording, 8);
        let writes: Vec<_> = (0..3)
            .map(|i| {
                let commit = commit.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(40 * i)).await;
                    commit.commit(Write::default()).await
                })
            })
            .collect();
        for write in writes {
            write.await.unwrap().unwrap();
        }
        assert_eq!(
            *batches.lock().unwrap(),
            [3],
            "writes 40 and 80 ms later joined the first"
        );
    }
}
