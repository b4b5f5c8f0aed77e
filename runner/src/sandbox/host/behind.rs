//! Work behind the transform: batches of a writer and queries started with `start-query`.
//! On SQLite they are queued on a thread that has the connection (`db/sqlite_worker.rs`)
//! while the guest goes on, so a backfill's write of one page and read of the next run on
//! one core while the guest computes on the other; on PostgreSQL and MySQL they run when
//! they are called (a batch joined into few statements, as `execute-many`'s are).
//!
//! The order of statements on the connection is always the order of the calls: at most
//! [`QUEUE_DEPTH`] pieces of work wait behind the guest, and every other call on the
//! database waits for all of them first ([`HostState::settle_behind`]), so the transform
//! reads its own writes. A batch's error is kept with its writer and returned by the
//! writer's next `write` or its `finish`; the batches queued after it do not run. One the
//! guest never received (it dropped the writer, or ended without finishing it) fails the
//! step: a write that failed is never lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::component::Resource;

use super::{HostState, Stats, bounded_text};
use crate::db::bound::value_bytes;
use crate::db::{Rows, Value};
use crate::dialect_kind::Dialect;
use crate::sandbox::bindings::runner::transform::db as wit_db;
use crate::sandbox::sql::{self, Session, SqlError};
use crate::sandbox::statement::Prepared;

/// How many writers a transform may hold open at once.
pub const MAX_WRITERS: usize = 64;
/// How many started queries a transform may hold at once.
const MAX_PENDING: usize = 16;
/// How many pieces of work may wait behind the guest: the one running and the next.
const QUEUE_DEPTH: usize = 2;

/// A writer the guest holds: a key into the host's open writers.
pub struct GuestWriter {
    id: u64,
}

/// A started query the guest holds: a key into the host's pending rows.
pub struct GuestPending {
    id: u64,
}

/// What the host keeps of an open writer.
pub(super) struct OpenWriter {
    sql: String,
    /// Rows its batches changed so far.
    changed: u64,
    /// How many batches it was handed.
    batches: u64,
    /// The error of a batch that failed, not yet returned to the guest.
    failed: Option<wit_db::DbError>,
    /// A batch failed: the batches queued after it do not run, and no more are taken.
    broken: Arc<AtomicBool>,
}

/// The rows of a started query.
pub(super) enum PendingRows {
    Running,
    Ready(Result<Rows, wit_db::DbError>),
    Taken,
}

/// Work queued behind the guest, with what it was checked as.
pub(super) struct Queued {
    session: Session,
    prepared: Arc<Prepared>,
    work: Work,
}

enum Work {
    Batch { writer: u64, number: u64 },
    Query { pending: u64 },
}

fn message(error: &wit_db::DbError) -> &str {
    match error {
        wit_db::DbError::Sql(m) | wit_db::DbError::Denied(m) | wit_db::DbError::Limit(m) => m,
    }
}

/// `error`, saying which batch of the writer it is.
fn of_batch(error: wit_db::DbError, batch: u64) -> wit_db::DbError {
    let text = |m: String| format!("batch {batch} of the writer failed: {m}");
    match error {
        wit_db::DbError::Sql(m) => wit_db::DbError::Sql(text(m)),
        wit_db::DbError::Denied(m) => wit_db::DbError::Denied(text(m)),
        wit_db::DbError::Limit(m) => wit_db::DbError::Limit(text(m)),
    }
}

fn not_open(what: &str) -> wit_db::DbError {
    wit_db::DbError::Denied(format!("this {what} is not open"))
}

fn rows_bytes(rows: &Rows) -> usize {
    rows.rows.iter().flatten().map(value_bytes).sum()
}

impl HostState {
    /// Waits for all the work queued behind the transform and files how each went. Every
    /// call on the database that does not queue work runs this first. Work still running
    /// past the deadline traps, as any statement does.
    pub(super) async fn settle_behind(&mut self) -> wasmtime::Result<()> {
        self.settle_to(0).await
    }

    /// Waits for the oldest work until at most `depth` pieces are queued.
    async fn settle_to(&mut self, depth: usize) -> wasmtime::Result<()> {
        while self.running.len() > depth {
            self.settle_oldest().await?;
        }
        Ok(())
    }

    async fn settle_oldest(&mut self) -> wasmtime::Result<()> {
        let Some(queued) = self.running.pop_front() else {
            return Ok(());
        };
        let backstop = self.backstop();
        let Some(db) = self.db.as_mut() else {
            return Ok(());
        };
        let session = &queued.session;
        match queued.work {
            Work::Batch { writer, number } => {
                let outcome = tokio::time::timeout(backstop, async {
                    sql::collect_behind::<u64>(db, session)
                        .await
                        .unwrap_or(Ok(0))
                })
                .await;
                let result = self.finish(session, queued.prepared.sql(), outcome).await?;
                self.file_batch(writer, number, &queued.prepared, result);
            }
            Work::Query { pending } => {
                let outcome = tokio::time::timeout(backstop, async {
                    sql::collect_behind::<Rows>(db, session)
                        .await
                        .unwrap_or(Err(SqlError::Db(crate::db::DbError::Uncollected)))
                })
                .await;
                let result = self.finish(session, queued.prepared.sql(), outcome).await?;
                if let Ok(rows) = &result {
                    Stats::add(
                        &mut self.stats.rows_read,
                        &queued.prepared.allowed.tables,
                        rows.rows.len() as u64,
                    );
                }
                self.file_rows(pending, result);
            }
        }
        Ok(())
    }

    fn file_batch(
        &mut self,
        writer: u64,
        number: u64,
        prepared: &Prepared,
        result: Result<u64, wit_db::DbError>,
    ) {
        match result {
            Ok(changed) => {
                Stats::add(
                    &mut self.stats.rows_written,
                    &prepared.allowed.writes,
                    changed,
                );
                if let Some(open) = self.writers.get_mut(&writer) {
                    open.changed += changed;
                }
            }
            Err(error) => {
                let error = of_batch(error, number);
                match self.writers.get_mut(&writer) {
                    Some(open) => {
                        open.broken.store(true, Ordering::Release);
                        // The first error is the cause; the batches after it did not run.
                        open.failed.get_or_insert(error);
                    }
                    None => self.unreported(&error),
                }
            }
        }
    }

    fn file_rows(&mut self, pending: u64, result: Result<Rows, wit_db::DbError>) {
        // Rows of a query the guest dropped are not kept.
        if let Some(slot) = self.pending.get_mut(&pending) {
            if let Ok(rows) = &result {
                self.pending_bytes += rows_bytes(rows);
            }
            *slot = PendingRows::Ready(result);
        }
    }

    /// Keeps the first batch error the guest never received: it fails the step.
    fn unreported(&mut self, error: &wit_db::DbError) {
        if self.unreported.is_none() {
            self.unreported = Some(bounded_text(message(error), 2000));
        }
    }

    /// The end of the run: waits for the work queued and returns the batch error the guest
    /// never received, if any.
    pub(super) async fn end_behind(&mut self) -> Result<(), String> {
        if let Err(trap) = self.settle_behind().await {
            return Err(format!("{trap:#}"));
        }
        let failed: Vec<wit_db::DbError> = self
            .writers
            .drain()
            .filter_map(|(_, open)| open.failed)
            .collect();
        for error in &failed {
            self.unreported(error);
        }
        self.pending.clear();
        self.pending_bytes = 0;
        match self.unreported.take() {
            Some(error) => Err(format!(
                "a batch it wrote failed, and it never saw the error (call `finish` on a writer \
                 before it ends): {error}"
            )),
            None => Ok(()),
        }
    }

    /// `open-writer`: checks the statement once; it must write.
    pub(super) async fn open_writer(
        &mut self,
        sql: String,
    ) -> wasmtime::Result<Result<Resource<GuestWriter>, wit_db::DbError>> {
        self.settle_behind().await?;
        if self.writers.len() >= MAX_WRITERS {
            let reason = format!(
                "a transform may hold at most {MAX_WRITERS} writers open at once: finish the ones it is done with"
            );
            self.violate(reason.clone());
            return Ok(Err(wit_db::DbError::Limit(reason)));
        }
        let prepared = match self.begin_statement(&sql).await {
            Ok((_, prepared)) => prepared,
            Err(error) => return Ok(Err(error)),
        };
        if prepared.allowed.writes.is_empty() {
            return Ok(Err(wit_db::DbError::Sql(format!(
                "a writer takes an INSERT, UPDATE or DELETE; `{}` writes nothing",
                super::statement_text(&sql)
            ))));
        }
        self.next_writer += 1;
        let id = self.next_writer;
        self.writers.insert(
            id,
            OpenWriter {
                sql,
                changed: 0,
                batches: 0,
                failed: None,
                broken: Arc::new(AtomicBool::new(false)),
            },
        );
        Ok(Ok(self.table.push(GuestWriter { id })?))
    }

    /// `start-query`: on SQLite, a query that only reads is queued behind; anything else runs
    /// now, as `query` runs it.
    pub(super) async fn start_query(
        &mut self,
        sql: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<Resource<GuestPending>, wit_db::DbError>> {
        // Every started query the guest still holds counts, its rows taken or not: the host
        // keeps an entry for each until the guest drops it.
        if self.pending.len() >= MAX_PENDING {
            let reason = format!(
                "a transform may hold at most {MAX_PENDING} started queries at once, whose rows it has not taken or which it has not dropped"
            );
            self.violate(reason.clone());
            return Ok(Err(wit_db::DbError::Limit(reason)));
        }
        self.next_pending += 1;
        let id = self.next_pending;
        let queued = if self.dialect == Dialect::Sqlite {
            self.settle_to(QUEUE_DEPTH - 1).await?;
            self.query_behind(id, &sql, &params).await?
        } else {
            Ok(false)
        };
        match queued {
            Ok(true) => {
                self.pending.insert(id, PendingRows::Running);
            }
            Ok(false) => {
                let rows = self.run_query(sql, params).await?;
                if let Ok(rows) = &rows {
                    self.pending_bytes += rows_bytes(rows);
                }
                self.pending.insert(id, PendingRows::Ready(rows));
            }
            Err(error) => return Ok(Err(error)),
        }
        Ok(Ok(self.table.push(GuestPending { id })?))
    }

    /// Queues a query on SQLite; `false` when it must run now instead (it writes).
    async fn query_behind(
        &mut self,
        pending: u64,
        sql: &str,
        params: &[Value],
    ) -> wasmtime::Result<Result<bool, wit_db::DbError>> {
        let (session, prepared) = match self.begin_statement(sql).await {
            Ok(taken) => taken,
            Err(error) => return Ok(Err(error)),
        };
        if !prepared.allowed.writes.is_empty() {
            return Ok(Ok(false));
        }
        let backstop = self.backstop();
        // What is queued may run while the guest grows: each piece holds at most its share.
        let bytes = session.value_bytes / QUEUE_DEPTH;
        let Some(db) = self.db.as_mut() else {
            return Ok(Err(not_open("database")));
        };
        let started = tokio::time::timeout(
            backstop,
            sql::query_behind(db, &session, &prepared, params, bytes),
        )
        .await;
        let queued = Queued {
            session,
            prepared,
            work: Work::Query { pending },
        };
        Ok(self.queued(sql, queued, started).await?.map(|()| true))
    }

    /// Keeps `queued` in the queue if the connection's thread took it; else the guest's error
    /// (or a trap, out of time) for why it could not start.
    async fn queued(
        &mut self,
        sql: &str,
        queued: Queued,
        started: Result<Result<(), SqlError>, tokio::time::error::Elapsed>,
    ) -> wasmtime::Result<Result<(), wit_db::DbError>> {
        if let Ok(Ok(())) = started {
            self.running.push_back(queued);
            return Ok(Ok(()));
        }
        self.finish(&queued.session, sql, started).await
    }

    /// Queues a batch of a writer on SQLite; returns the error that kept it from starting.
    async fn batch_behind(
        &mut self,
        writer: u64,
        number: u64,
        sql: &str,
        broken: Arc<AtomicBool>,
        batch: Vec<Vec<Value>>,
    ) -> wasmtime::Result<Result<(), wit_db::DbError>> {
        let (session, prepared) = match self.begin_settled(sql, &batch).await? {
            Ok(taken) => taken,
            Err(error) => return Ok(Err(error)),
        };
        let backstop = self.backstop();
        let Some(db) = self.db.as_mut() else {
            return Ok(Err(not_open("database")));
        };
        let started = tokio::time::timeout(
            backstop,
            sql::execute_behind(db, &session, &prepared, batch, broken),
        )
        .await;
        let queued = Queued {
            session,
            prepared,
            work: Work::Batch { writer, number },
        };
        self.queued(sql, queued, started).await
    }
}

impl wit_db::HostWriter for HostState {
    async fn write(
        &mut self,
        writer: Resource<GuestWriter>,
        batch: Vec<Vec<wit_db::Value>>,
    ) -> wasmtime::Result<Result<(), wit_db::DbError>> {
        let id = self.table.get(&writer)?.id;
        let depth = if self.dialect == Dialect::Sqlite {
            QUEUE_DEPTH - 1
        } else {
            0
        };
        self.settle_to(depth).await?;
        let Some(open) = self.writers.get_mut(&id) else {
            return Ok(Err(not_open("writer")));
        };
        if open.broken.load(Ordering::Acquire) && open.failed.is_none() {
            // A batch failed on the connection's thread and is not filed yet: file it, so
            // that the error returned is the cause.
            self.settle_behind().await?;
        }
        let Some(open) = self.writers.get_mut(&id) else {
            return Ok(Err(not_open("writer")));
        };
        if let Some(error) = open.failed.take() {
            return Ok(Err(error));
        }
        if open.broken.load(Ordering::Acquire) {
            return Ok(Err(wit_db::DbError::Sql(
                "an earlier batch of this writer failed: it writes nothing more".into(),
            )));
        }
        open.batches += 1;
        let (sql, number, broken) = (open.sql.clone(), open.batches, open.broken.clone());
        let batch: Vec<Vec<Value>> = batch
            .into_iter()
            .map(|row| row.into_iter().map(super::wit::to_value).collect())
            .collect();
        // A queued batch is host memory the guest's cap does not count: one larger than
        // what a query could hold now waits for the work before it, as `execute-many` would.
        if batch.iter().flatten().map(value_bytes).sum::<usize>() > self.result_budget() {
            self.settle_behind().await?;
        }
        let result = if self.dialect == Dialect::Sqlite {
            self.batch_behind(id, number, &sql, broken.clone(), batch)
                .await?
        } else {
            // PostgreSQL and MySQL: the batch runs now, joined into few statements.
            self.execute_batch(sql, batch).await?.map(|changed| {
                if let Some(open) = self.writers.get_mut(&id) {
                    open.changed += changed;
                }
            })
        };
        if result.is_err() {
            broken.store(true, Ordering::Release);
        }
        Ok(result.map_err(|error| of_batch(error, number)))
    }

    async fn finish(
        &mut self,
        writer: Resource<GuestWriter>,
    ) -> wasmtime::Result<Result<u64, wit_db::DbError>> {
        let id = self.table.get(&writer)?.id;
        self.settle_behind().await?;
        let Some(open) = self.writers.get_mut(&id) else {
            return Ok(Err(not_open("writer")));
        };
        if let Some(error) = open.failed.take() {
            return Ok(Err(error));
        }
        Ok(Ok(open.changed))
    }

    async fn drop(&mut self, writer: Resource<GuestWriter>) -> wasmtime::Result<()> {
        let id = self.table.delete(writer)?.id;
        self.settle_behind().await?;
        if let Some(open) = self.writers.remove(&id)
            && let Some(error) = open.failed
        {
            self.unreported(&error);
        }
        Ok(())
    }
}

impl wit_db::HostPendingRows for HostState {
    async fn rows(
        &mut self,
        pending: Resource<GuestPending>,
    ) -> wasmtime::Result<Result<wit_db::Rows, wit_db::DbError>> {
        let id = self.table.get(&pending)?.id;
        while matches!(self.pending.get(&id), Some(PendingRows::Running))
            && !self.running.is_empty()
        {
            self.settle_oldest().await?;
        }
        let Some(slot) = self.pending.get_mut(&id) else {
            return Ok(Err(not_open("query")));
        };
        match std::mem::replace(slot, PendingRows::Taken) {
            PendingRows::Ready(result) => Ok(result.map(|rows| {
                self.pending_bytes = self.pending_bytes.saturating_sub(rows_bytes(&rows));
                super::wit::rows_of(rows)
            })),
            PendingRows::Taken => Ok(Err(wit_db::DbError::Sql(
                "the rows of this query were taken already".into(),
            ))),
            PendingRows::Running => Ok(Err(wit_db::DbError::Sql(
                "the query was lost before it ran".into(),
            ))),
        }
    }

    async fn drop(&mut self, pending: Resource<GuestPending>) -> wasmtime::Result<()> {
        let id = self.table.delete(pending)?.id;
        if let Some(PendingRows::Ready(Ok(rows))) = self.pending.remove(&id) {
            self.pending_bytes = self.pending_bytes.saturating_sub(rows_bytes(&rows));
        }
        Ok(())
    }
}
