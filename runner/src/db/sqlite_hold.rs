//! SQLite's handle held across statements, for a transform's run.
//!
//! sqlx runs an SQLite connection on a worker thread of its own. Borrowing the handle for one
//! statement (`lock_handle`, then a ping to wait until the worker holds it again) costs two
//! thread hand-offs, which capped a transform's loop of one-row statements at 8-20k rows/s.
//! A hold borrows the handle once: a task owns the sqlx connection and keeps its handle
//! locked until released, while runner steps its own prepared statements on the handle, at
//! SQLite's own speed, with rusqlite's statement cache. Anything that goes through sqlx
//! releases the hold first (see `Db::free`), so sqlx never waits on a locked handle.
//!
//! A hold can also lend its handle to a thread of its own that runs queued work in order (a
//! transform's batches of writes and next page of reads, run behind it while it computes,
//! see [`SqliteHold::start_behind`] and `sqlite_worker.rs`): rusqlite's connection moves to
//! that thread and comes back when the hold needs it, so the handle is only ever used by
//! whoever owns the connection at the moment.

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::Mutex;

use sqlx::Connection as _;
use sqlx::sqlite::SqliteConnection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::sqlite_worker::{Outcome, Work, Worker};
use super::{Connection, DbError};
use crate::dialect_kind::Dialect;

/// How many prepared statements a hold keeps: a transform runs a handful of statement texts.
const STATEMENT_CACHE: usize = 64;

/// The locked handle, sent from the task that locked it.
struct Raw(NonNull<rusqlite::ffi::sqlite3>);

// SAFETY: a pointer to the connection sqlx opened; it is used by one thread at a time (the
// hold's mutex), only while the task that locked it keeps the lock.
unsafe impl Send for Raw {}

/// The sqlx connection's handle, locked for runner's own use until [`SqliteHold::release`].
pub(super) struct SqliteHold {
    /// rusqlite's view of the handle, once the task locked it. Declared first: it is dropped
    /// (finalizing its cached statements) before `release` lets the task unlock the handle.
    conn: Option<Mutex<rusqlite::Connection>>,
    /// What keeps the authorizer a caller installed on the handle alive (see
    /// [`SqliteHold::run`]); the authorizer is cleared before this is dropped.
    keep: Option<Box<dyn std::any::Any + Send + Sync>>,
    ready: Option<oneshot::Receiver<Result<Raw, sqlx::Error>>>,
    release: Option<oneshot::Sender<()>>,
    task: JoinHandle<SqliteConnection>,
    /// The thread that has rusqlite's connection while work runs behind (`conn` is `None`
    /// meanwhile).
    behind: Option<Worker>,
    /// Outcomes of work behind that something else had to wait for before its caller
    /// collected them, in order: kept for [`SqliteHold::collect_behind`].
    uncollected: VecDeque<Outcome>,
    /// The thread of work behind ended without giving rusqlite's connection back.
    lost: bool,
}

impl SqliteHold {
    /// Starts locking `conn`'s handle; [`SqliteHold::run`] waits until it is.
    pub(super) fn start(mut conn: SqliteConnection) -> Self {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let locked = match conn.lock_handle().await {
                Ok(mut handle) => {
                    let raw = Raw(handle.as_raw_handle());
                    if ready_tx.send(Ok(raw)).is_ok() {
                        // Released, or the hold dropped: either way the handle is free again.
                        let _ = release_rx.await;
                    }
                    true
                }
                Err(error) => {
                    let _ = ready_tx.send(Err(error));
                    false
                }
            };
            if locked {
                // Wait until the worker holds the connection again before anyone asks it for
                // work (sqlx-sqlite 0.9: asking while it wakes up can leave both waiting).
                let _ = conn.ping().await;
            }
            conn
        });
        Self {
            conn: None,
            keep: None,
            ready: Some(ready_rx),
            release: Some(release_tx),
            task,
            behind: None,
            uncollected: VecDeque::new(),
            lost: false,
        }
    }

    /// Runs `work` on the held handle, once it is held. The first call that gives `install`
    /// runs it first: it installs an authorizer on the handle and returns what keeps it
    /// alive, which the hold keeps until the authorizer is cleared, when the hold ends.
    pub(super) async fn run<T>(
        &mut self,
        install: Option<Install<'_>>,
        work: impl FnOnce(&rusqlite::Connection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        // Whatever runs next comes after the work behind, as it would have without it.
        self.stop_behind().await?;
        if let Some(ready) = &mut self.ready {
            let raw = match ready.await {
                Ok(Ok(raw)) => raw,
                Ok(Err(error)) => return Err(error.into()),
                Err(_) => return Err(DbError::Abandoned),
            };
            self.ready = None;
            // SAFETY: the handle is sqlx's open connection, locked by the task until released;
            // rusqlite borrows it without closing it (`from_handle`, not `from_handle_owned`).
            // Both crates link the same libsqlite3-sys.
            let conn = unsafe { rusqlite::Connection::from_handle(raw.0.as_ptr())? };
            conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            self.conn = Some(Mutex::new(conn));
        }
        let Some(conn) = &self.conn else {
            return Err(DbError::Abandoned);
        };
        let conn = conn.lock().map_err(|_| DbError::Abandoned)?;
        if self.keep.is_none()
            && let Some(install) = install
        {
            self.keep = Some(install(&conn)?);
        }
        work(&conn)
    }

    /// Queues `work` on a thread of its own with the handle, after the work queued before
    /// it, once the hold holds it (after a [`SqliteHold::run`]: the authorizer stays
    /// installed on the handle). Outcomes still come back in order: those a `run` kept are
    /// older than any of the new thread's.
    pub(super) async fn start_behind(&mut self, work: Work) -> Result<(), DbError> {
        if self.ready.is_some() {
            return Err(DbError::Lent);
        }
        if self.behind.is_none() {
            let conn = self
                .conn
                .take()
                .ok_or(DbError::Abandoned)?
                .into_inner()
                .map_err(|_| DbError::Abandoned)?;
            self.behind = Some(Worker::start(conn));
        }
        match &mut self.behind {
            Some(worker) => worker.queue(work),
            None => Err(DbError::Abandoned),
        }
    }

    /// True while the connection is on the thread of work behind.
    pub(super) fn is_behind(&self) -> bool {
        self.behind.is_some()
    }

    /// The outcome of the oldest work queued by [`SqliteHold::start_behind`] and not
    /// collected yet, waited for; `None` when there is none.
    pub(super) async fn collect_behind(&mut self) -> Option<Outcome> {
        match self.uncollected.pop_front() {
            Some(outcome) => Some(outcome),
            None => self.behind.as_mut()?.next().await,
        }
    }

    /// Waits for the work behind and takes the connection back, keeping the outcomes not
    /// collected yet.
    async fn stop_behind(&mut self) -> Result<(), DbError> {
        let Some(worker) = self.behind.take() else {
            return Ok(());
        };
        let (outcomes, conn) = worker.stop().await;
        self.uncollected.extend(outcomes);
        match conn {
            Some(conn) => {
                self.conn = Some(Mutex::new(conn));
                Ok(())
            }
            // The thread is gone and rusqlite's view of the handle with it, the authorizer
            // still installed: its state must outlive the handle, which stays locked (see
            // `release`).
            None => {
                self.lost = true;
                Err(DbError::Abandoned)
            }
        }
    }

    /// Clears the authorizer a caller installed (before what keeps it alive goes), so that
    /// sqlx, which gets the handle back, prepares its statements unchecked.
    fn clear_authorizer(&mut self) {
        if let Some(conn) = &self.conn
            && let Ok(conn) = conn.lock()
        {
            clear_authorizer_on(&conn);
        }
        self.keep = None;
    }

    /// Drops runner's statements, unlocks the handle and gives the sqlx connection back. Safe
    /// to call again if a caller stopped waiting: the task is still there to wait for.
    pub(super) async fn release(&mut self) -> Result<SqliteConnection, DbError> {
        // Work behind has the handle: it ends first (outcomes nobody collected go with the
        // hold).
        let _ = self.stop_behind().await;
        if self.lost {
            // Nothing can clear the authorizer: the handle is never unlocked, so sqlx never
            // runs a statement on it, and what the authorizer reads is never freed.
            std::mem::forget(self.keep.take());
            std::mem::forget(self.release.take());
            return Err(DbError::Abandoned);
        }
        self.clear_authorizer();
        // Dropping rusqlite's connection finalizes its cached statements (not the handle).
        self.conn = None;
        self.ready = None;
        self.release.take();
        (&mut self.task).await.map_err(|_| DbError::Abandoned)
    }
}

impl Drop for SqliteHold {
    fn drop(&mut self) {
        // Dropped without `release` (the `Db` went away): the task still gives the handle
        // back to sqlx, which must not meet an authorizer whose state is gone.
        if self.lost {
            std::mem::forget(self.keep.take());
            std::mem::forget(self.release.take());
            return;
        }
        if let Some(worker) = self.behind.take() {
            // Work behind still uses the handle: it is unlocked, and the authorizer's state
            // freed, only once that work has ended. Without a runtime to wait on, neither
            // happens (the handle stays locked: nothing can use it unchecked).
            let keep = self.keep.take();
            let release = self.release.take();
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move {
                        if let (_, Some(conn)) = worker.stop().await {
                            clear_authorizer_on(&conn);
                            drop(conn);
                            drop(keep);
                            drop(release);
                        } else {
                            std::mem::forget(keep);
                            std::mem::forget(release);
                        }
                    });
                }
                Err(_) => {
                    std::mem::forget(keep);
                    std::mem::forget(release);
                }
            }
            return;
        }
        self.clear_authorizer();
    }
}

/// `Db`'s side of the hold: statements on SQLite's own handle, and work queued behind.
impl super::Db {
    /// Runs `work` on the SQLite connection's own handle, through rusqlite, inside whatever
    /// transaction is open: the fast path for a transform's statements. Through sqlx every
    /// statement pays a hop to its worker thread (30-120 us here), which caps a loop of
    /// single-row statements at 8-20k rows/s. The first call holds the handle (see
    /// `sqlite_hold.rs`) and later calls reuse it and rusqlite's statement cache, until
    /// anything goes through sqlx or [`Db::release_sqlite`] is called.
    pub async fn with_sqlite<T>(
        &mut self,
        work: impl FnOnce(&rusqlite::Connection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.with_sqlite_checked(None, work).await
    }

    /// [`Db::with_sqlite`], where the first call of a hold runs `install` before `work`: it
    /// installs an authorizer that stays on the handle for the whole hold (the sandbox's,
    /// see `sandbox/authorizer.rs`); it is cleared when the hold ends.
    pub async fn with_sqlite_checked<T>(
        &mut self,
        install: Option<Install<'_>>,
        work: impl FnOnce(&rusqlite::Connection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        if matches!(self.conn, Connection::Sqlite(_)) {
            let Connection::Sqlite(c) = std::mem::replace(&mut self.conn, Connection::Lent) else {
                unreachable!("matched just above")
            };
            self.conn = Connection::SqliteHeld(Box::new(SqliteHold::start(c)));
        }
        match &mut self.conn {
            Connection::SqliteHeld(hold) => hold.run(install, work).await,
            Connection::Lent => Err(DbError::Lent),
            Connection::Abandoned => Err(DbError::Abandoned),
            Connection::Sqlite(_) | Connection::Postgres(_) | Connection::MySql(_) => {
                Err(DbError::WrongDialect {
                    expected: Dialect::Sqlite,
                    actual: self.info.dialect,
                })
            }
        }
    }

    /// Queues `work` on SQLite's held handle, on a thread of its own, after the work queued
    /// before it, and returns at once (see [`Db::with_sqlite_checked`] for `install`): a
    /// transform's batches of writes and next page of reads run there while it computes.
    /// Every other use of the handle waits for the queue first; [`Db::sqlite_collect`]
    /// returns the outcomes in order.
    pub async fn sqlite_behind(
        &mut self,
        install: Option<Install<'_>>,
        work: super::sqlite_worker::Work,
    ) -> Result<(), DbError> {
        let working = matches!(&self.conn, Connection::SqliteHeld(hold) if hold.is_behind());
        if !working {
            // Held, with the authorizer installed, before the connection moves to the thread.
            self.with_sqlite_checked(install, |_| Ok(())).await?;
        }
        match &mut self.conn {
            Connection::SqliteHeld(hold) => hold.start_behind(work).await,
            _ => Err(DbError::Lent),
        }
    }

    /// Waits for the oldest work [`Db::sqlite_behind`] queued whose outcome was not
    /// collected and returns it: `None` when there is none.
    pub async fn sqlite_collect(&mut self) -> Option<super::sqlite_worker::Outcome> {
        match &mut self.conn {
            Connection::SqliteHeld(hold) => hold.collect_behind().await,
            _ => None,
        }
    }

    /// Gives SQLite's handle back to sqlx if [`Db::with_sqlite`] holds it, dropping the
    /// statements prepared on it: a transform's sandbox calls this when its run ends, so that
    /// no statement prepared under one step's grants outlives the step.
    pub async fn release_sqlite(&mut self) -> Result<(), DbError> {
        self.free().await.map(drop)
    }
}

/// Removes the authorizer from a held handle (open, and locked until the hold releases it).
fn clear_authorizer_on(conn: &rusqlite::Connection) {
    // SAFETY: the handle is open and locked for the hold; clearing takes no pointer.
    unsafe {
        rusqlite::ffi::sqlite3_set_authorizer(conn.handle(), None, std::ptr::null_mut());
    }
}

/// Installs an authorizer on a held handle; returns what keeps it alive.
pub(crate) type Install<'a> = &'a (
        dyn Fn(&rusqlite::Connection) -> Result<Box<dyn std::any::Any + Send + Sync>, DbError>
            + Sync
    );

/// True if a statement whose text starts with `start` is prepared on `conn`: for tests of
/// what stays prepared between calls.
#[cfg(test)]
pub(crate) fn is_prepared(conn: &rusqlite::Connection, start: &str) -> bool {
    let mut statement = std::ptr::null_mut();
    loop {
        // SAFETY: walks the open connection's list of prepared statements, reading each one's
        // text; nothing else uses the connection meanwhile.
        statement = unsafe { rusqlite::ffi::sqlite3_next_stmt(conn.handle(), statement) };
        if statement.is_null() {
            return false;
        }
        // SAFETY: SQLite keeps a prepared statement's text for as long as it lives.
        let text = unsafe { std::ffi::CStr::from_ptr(rusqlite::ffi::sqlite3_sql(statement)) };
        if text.to_bytes().starts_with(start.as_bytes()) {
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_prepared;
    use crate::db::{Db, Value};

    async fn sqlite_db() -> Db {
        let url = "sqlite::memory:".parse().expect("url");
        Db::connect(&url, &Default::default())
            .await
            .expect("connect")
    }

    fn count(conn: &rusqlite::Connection) -> Result<i64, crate::db::DbError> {
        Ok(conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0))?)
    }

    #[tokio::test]
    async fn held_and_sqlx_statements_share_one_transaction() {
        let mut db = sqlite_db().await;
        db.execute_script("CREATE TABLE t (n INTEGER)")
            .await
            .expect("create");
        db.begin().await.expect("begin");
        db.with_sqlite(|c| Ok(c.execute("INSERT INTO t VALUES (1)", [])?))
            .await
            .expect("held insert");
        // Through sqlx: the hold is given back first, and the row is there.
        let rows = db
            .query("SELECT count(*) FROM t", &[])
            .await
            .expect("query");
        assert_eq!(rows.scalar(), Some(&Value::Integer(1)));
        db.execute("INSERT INTO t VALUES (?)", &[Value::Integer(2)])
            .await
            .expect("sqlx insert");
        assert_eq!(db.with_sqlite(count).await.expect("held count"), 2);
        db.rollback().await.expect("rollback");
        assert_eq!(db.with_sqlite(count).await.expect("count"), 0);
    }

    fn insert(n: i64) -> crate::db::sqlite_worker::Work {
        Box::new(move |c: &rusqlite::Connection| {
            let changed = c.execute("INSERT INTO t VALUES (?1)", [n])?;
            let count: i64 = c.query_row("SELECT count(*) FROM t", [], |row| row.get(0))?;
            Ok(Box::new((changed, count)) as Box<dyn std::any::Any + Send + Sync>)
        })
    }

    async fn next(db: &mut Db) -> (usize, i64) {
        let outcome = db.sqlite_collect().await.expect("an outcome").expect("ran");
        *outcome.downcast::<(usize, i64)>().expect("its type")
    }

    #[tokio::test]
    async fn work_behind_runs_in_order_and_everything_else_waits_for_it() {
        let mut db = sqlite_db().await;
        db.execute_script("CREATE TABLE t (n INTEGER UNIQUE)")
            .await
            .expect("create");
        db.begin().await.expect("begin");
        db.with_sqlite(|c| Ok(c.execute("INSERT INTO t VALUES (0)", [])?))
            .await
            .expect("held insert");
        for n in 1..=3 {
            db.sqlite_behind(None, insert(n)).await.expect("queued");
        }
        // Each piece saw the ones before it.
        assert_eq!(next(&mut db).await, (1, 2));
        // A statement on the handle waits for the rest of the queue, whose outcomes are kept.
        assert_eq!(db.with_sqlite(count).await.expect("held count"), 4);
        db.sqlite_behind(None, insert(4))
            .await
            .expect("queued again");
        assert_eq!(next(&mut db).await, (1, 3));
        assert_eq!(next(&mut db).await, (1, 4));
        assert_eq!(next(&mut db).await, (1, 5));
        assert!(
            db.sqlite_collect().await.is_none(),
            "nothing more to collect"
        );
        // An error comes back as the outcome of its own piece.
        db.sqlite_behind(None, insert(1)).await.expect("queued");
        let error = db.sqlite_collect().await.expect("an outcome").unwrap_err();
        assert!(error.to_string().contains("UNIQUE"), "{error}");
        // Queued work ends before sqlx gets the handle back, inside the same transaction.
        db.sqlite_behind(None, insert(9)).await.expect("queued");
        let rows = db
            .query("SELECT count(*) FROM t", &[])
            .await
            .expect("query");
        assert_eq!(rows.scalar(), Some(&Value::Integer(6)));
        db.rollback().await.expect("rollback");
        assert_eq!(db.with_sqlite(count).await.expect("count"), 0);
    }

    #[tokio::test]
    async fn releasing_drops_every_statement_prepared_on_the_handle() {
        let mut db = sqlite_db().await;
        let prepared = |c: &rusqlite::Connection| Ok(is_prepared(c, "SELECT 'runner' AS held"));
        db.with_sqlite(|c| {
            c.prepare_cached("SELECT 'runner' AS held")?
                .query_row([], |_| Ok(()))?;
            Ok(())
        })
        .await
        .expect("cached");
        assert!(
            db.with_sqlite(prepared).await.expect("listed"),
            "kept while held"
        );
        db.release_sqlite().await.expect("release");
        assert!(
            !db.with_sqlite(prepared).await.expect("listed"),
            "a statement outlived the hold"
        );
    }
}
