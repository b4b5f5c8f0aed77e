//! A transform's statements queued behind it on SQLite (see `db/sqlite_worker.rs` and
//! `host/behind.rs`): a writer's batches and started queries, run on the thread that holds
//! the connection under the same authorizer, deadline and length limit as the statements in
//! `sql.rs` that run in line.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{
    MAX_QUERY_ROWS, Page, Session, SqlError, before_deadline, bind, columns_of, explained,
    sqlite_rows, too_large,
};
use crate::db::bound::Bounds;
use crate::db::{Db, DbError, Rows, Value};
use crate::sandbox::authorizer::{self, Checker};
use crate::sandbox::postgres::too_large_value;
use crate::sandbox::statement::Prepared;

/// Queues one checked write on SQLite once per parameter list, on a thread of its own with
/// the connection, under the same authorizer and deadline as [`sqlite`], and returns before
/// it ran: every row's values are checked first. [`collect_behind`] returns the rows it
/// changed (`u64`), or why it failed. Once a batch of the writer failed (`broken`), the
/// batches queued after it change nothing.
pub(in crate::sandbox) async fn execute_behind(
    db: &mut Db,
    session: &Session,
    prepared: &Prepared,
    batch: Vec<Vec<Value>>,
    broken: Arc<AtomicBool>,
) -> Result<(), SqlError> {
    for params in &batch {
        prepared.numbered(params)?;
    }
    let count = prepared.parameters();
    let sql = prepared.sql().to_string();
    behind(db, session, move |conn, checker| {
        // A batch of the same writer failed before this one ran: this one does not run.
        if broken.load(Ordering::Acquire) {
            return Ok(0);
        }
        let run = || -> Result<u64, DbError> {
            let mut statement = authorizer::prepare(conn, &sql, checker)?;
            let mut changed = 0u64;
            for params in &batch {
                bind(&mut statement, &params[..count])?;
                changed += statement.raw_execute()? as u64;
            }
            Ok(changed)
        };
        let result = run().map_err(SqlError::Db);
        if result.is_err() {
            broken.store(true, Ordering::Release);
        }
        result
    })
    .await
}

/// Queues a checked query on SQLite as [`execute_behind`] does a write; [`collect_behind`]
/// returns its rows (`Rows`), read within `bytes` as [`query`] reads them.
pub(in crate::sandbox) async fn query_behind(
    db: &mut Db,
    session: &Session,
    prepared: &Prepared,
    params: &[Value],
    bytes: usize,
) -> Result<(), SqlError> {
    let params: Vec<Value> = prepared.ordered(params)?.into_iter().cloned().collect();
    let sql = prepared.sql().to_string();
    let bounds = Bounds {
        rows: MAX_QUERY_ROWS,
        bytes,
    };
    behind(db, session, move |conn, checker| {
        let read = || -> Result<(Vec<String>, Page), DbError> {
            let mut statement = authorizer::prepare(conn, &sql, checker)?;
            let (columns, kinds) = columns_of(&statement);
            bind(&mut statement, params.iter())?;
            Ok((columns, sqlite_rows(&mut statement, &kinds, bounds, None)?))
        };
        // A value past SQLITE_LIMIT_LENGTH is a limit, as `query` reports it.
        let (columns, page) = read().map_err(too_large_value)?;
        match page {
            Page::Rows(rows) => Ok(Rows { columns, rows }),
            Page::TooManyRows => Err(too_large(true)),
            Page::TooManyBytes => Err(too_large(false)),
        }
    })
    .await
}

/// Queues `work` on the connection's thread (see `db/sqlite_worker.rs`), with the session's
/// authorizer on the handle and its deadline and length limit around the work.
async fn behind<T: Send + Sync + 'static>(
    db: &mut Db,
    session: &Session,
    work: impl FnOnce(&rusqlite::Connection, &Checker) -> Result<T, SqlError> + Send + 'static,
) -> Result<(), SqlError> {
    let (deadline, value_bytes) = (session.deadline, session.value_bytes);
    let checker = session.checker.clone();
    let install = |conn: &rusqlite::Connection| session.checker.install(conn);
    let work = move |conn: &rusqlite::Connection| {
        let result: Result<T, SqlError> =
            match before_deadline(conn, deadline, value_bytes, |conn| Ok(work(conn, &checker))) {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(SqlError::Db(error))) | Err(error) => {
                    Err(SqlError::Db(explained(&checker, error)))
                }
                Ok(Err(other)) => Err(other),
            };
        Ok(Box::new(result) as Box<dyn std::any::Any + Send + Sync>)
    };
    db.sqlite_behind(Some(&install), Box::new(work))
        .await
        .map_err(|error| SqlError::Db(explained(&session.checker, error)))
}

/// Waits for the oldest work queued by [`execute_behind`] or [`query_behind`] and not
/// collected yet: `T` is what it returns (`u64` or `Rows`). `None` when there is none.
pub(in crate::sandbox) async fn collect_behind<T: 'static>(
    db: &mut Db,
    session: &Session,
) -> Option<Result<T, SqlError>> {
    let outcome = db.sqlite_collect().await?;
    Some(match outcome {
        Ok(boxed) => match boxed.downcast::<Result<T, SqlError>>() {
            Ok(result) => *result,
            // Collected as another type than it was queued as: a bug of runner's.
            Err(_) => Err(SqlError::Db(DbError::Uncollected)),
        },
        Err(error) => Err(SqlError::Db(explained(&session.checker, error))),
    })
}
