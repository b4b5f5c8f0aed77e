//! SQLite's handle held across statements, for a transform's run.
//!
//! sqlx runs an SQLite connection on a worker thread of its own. Borrowing the handle for one
//! statement (`lock_handle`, then a ping to wait until the worker holds it again) costs two
//! thread hand-offs, which capped a transform's loop of one-row statements at 8-20k rows/s.
//! A hold borrows the handle once: a task owns the sqlx connection and keeps its handle
//! locked until released, while runner steps its own prepared statements on the handle, at
//! SQLite's own speed, with rusqlite's statement cache. Anything that goes through sqlx
//! releases the hold first (see `Db::free`), so sqlx never waits on a locked handle.

use std::ptr::NonNull;
use std::sync::Mutex;

use sqlx::Connection as _;
use sqlx::sqlite::SqliteConnection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::DbError;

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

    /// Clears the authorizer a caller installed (before what keeps it alive goes), so that
    /// sqlx, which gets the handle back, prepares its statements unchecked.
    fn clear_authorizer(&mut self) {
        if let Some(conn) = &self.conn
            && let Ok(conn) = conn.lock()
        {
            // SAFETY: the handle is open and locked for this hold; clearing takes no pointer.
            unsafe {
                rusqlite::ffi::sqlite3_set_authorizer(conn.handle(), None, std::ptr::null_mut());
            }
        }
        self.keep = None;
    }

    /// Drops runner's statements, unlocks the handle and gives the sqlx connection back. Safe
    /// to call again if a caller stopped waiting: the task is still there to wait for.
    pub(super) async fn release(&mut self) -> Result<SqliteConnection, DbError> {
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
        self.clear_authorizer();
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
