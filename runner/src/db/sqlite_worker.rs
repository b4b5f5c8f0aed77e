//! A thread that owns rusqlite's view of a held SQLite handle for a while and runs the work
//! queued on it in order, so that a transform's batches of writes and its next page of reads
//! run on a second core while the transform computes. The connection moves to the thread
//! when the first work is queued and comes back when the hold stops it: the handle is only
//! ever used by whoever owns the connection at the moment.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use tokio::task::JoinHandle;

use super::DbError;

/// What a piece of work returns; the caller that queued it knows its type.
pub(crate) type Outcome = Result<Box<dyn Any + Send + Sync>, DbError>;
/// Work on the handle that runs on the worker's thread.
pub(crate) type Work = Box<dyn FnOnce(&rusqlite::Connection) -> Outcome + Send>;

/// The thread, the queue of work it runs and the outcomes it sends back, in order.
pub(super) struct Worker {
    jobs: mpsc::Sender<Work>,
    outcomes: tokio::sync::mpsc::UnboundedReceiver<Outcome>,
    thread: JoinHandle<rusqlite::Connection>,
    /// Work queued whose outcome was not received yet.
    queued: usize,
}

impl Worker {
    /// Moves `conn` to a thread of its own (tokio's blocking pool), which waits for work.
    pub(super) fn start(conn: rusqlite::Connection) -> Self {
        let (jobs, queue) = mpsc::channel::<Work>();
        let (sender, outcomes) = tokio::sync::mpsc::unbounded_channel();
        let thread = tokio::task::spawn_blocking(move || {
            while let Ok(work) = queue.recv() {
                // A panic in the work must not take the connection with it.
                let outcome = catch_unwind(AssertUnwindSafe(|| work(&conn)))
                    .unwrap_or(Err(DbError::Abandoned));
                if sender.send(outcome).is_err() {
                    break;
                }
            }
            conn
        });
        Worker {
            jobs,
            outcomes,
            thread,
            queued: 0,
        }
    }

    /// Queues `work` after the work queued before it.
    pub(super) fn queue(&mut self, work: Work) -> Result<(), DbError> {
        self.jobs.send(work).map_err(|_| DbError::Abandoned)?;
        self.queued += 1;
        Ok(())
    }

    /// The outcome of the oldest work whose outcome was not received yet, waited for; `None`
    /// when there is none.
    pub(super) async fn next(&mut self) -> Option<Outcome> {
        if self.queued == 0 {
            return None;
        }
        self.queued -= 1;
        Some(
            self.outcomes
                .recv()
                .await
                .unwrap_or(Err(DbError::Abandoned)),
        )
    }

    /// Waits for all the work queued and takes the connection back: the outcomes not
    /// received yet, in order, and the connection (`None` if the thread ended without it).
    pub(super) async fn stop(mut self) -> (Vec<Outcome>, Option<rusqlite::Connection>) {
        let mut outcomes = Vec::new();
        while let Some(outcome) = self.next().await {
            outcomes.push(outcome);
        }
        let Worker { jobs, thread, .. } = self;
        drop(jobs);
        (outcomes, thread.await.ok())
    }
}
