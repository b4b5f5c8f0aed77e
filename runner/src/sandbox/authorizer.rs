//! SQLite's own confirmation of what a transform's statement touches: while a statement is
//! prepared, SQLite calls an authorizer once per table read or written and per function called
//! (<https://sqlite.org/c3ref/set_authorizer.html>), including those of the triggers the
//! statement fires. The guard has already checked the statement; this is the database's
//! parser answering the same question, so a gap in the guard's reading is refused here too.
//! It also names the tables a trigger writes, which a step must declare.

use std::any::Any;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::ffi;

use super::guard::Grants;
use crate::db::DbError;
use crate::dialect_kind::Dialect;

/// What the authorizer refused while a statement was prepared.
#[derive(Debug, Default)]
struct Refusal {
    /// The first write refused: the most useful reason (a cascade is read before it is
    /// written, and the step must declare it in `writes`).
    write: Option<String>,
    other: Option<String>,
}

impl Refusal {
    fn deny(&mut self, reason: String) -> c_int {
        if self.other.is_none() {
            self.other = Some(reason);
        }
        ffi::SQLITE_DENY
    }

    fn deny_write(&mut self, reason: String) -> c_int {
        if self.write.is_none() {
            self.write = Some(reason);
        }
        ffi::SQLITE_DENY
    }

    /// The reason the statement is refused, if it is, leaving none behind.
    fn take(&mut self) -> Option<String> {
        let other = self.other.take();
        self.write.take().or(other)
    }
}

/// The authorizer of one transform step's hold on an SQLite handle. It is installed once, when
/// the step first holds the handle, and stays installed until the hold ends, so that every
/// statement SQLite prepares meanwhile is checked, including one SQLite prepares again on its
/// own (after a schema change, say). Installing an authorizer expires every prepared statement
/// (<https://sqlite.org/c3ref/set_authorizer.html>), so installing it per statement would make
/// SQLite compile every statement again on every call.
#[derive(Debug)]
pub struct Checker {
    grants: Grants,
    /// While runner runs statements of its own (a cursor's temporary table): allow them.
    trusted: AtomicBool,
    refusal: Mutex<Refusal>,
}

impl Checker {
    /// A checker for a step's grants.
    pub fn new(grants: Grants) -> Arc<Checker> {
        Arc::new(Checker {
            grants,
            trusted: AtomicBool::new(false),
            refusal: Mutex::new(Refusal::default()),
        })
    }

    /// Installs the checker as `conn`'s authorizer; what is returned keeps it alive and must
    /// outlive the installation (the hold keeps it, and clears the authorizer before
    /// dropping it: see `SqliteHold`).
    pub fn install(
        self: &Arc<Checker>,
        conn: &rusqlite::Connection,
    ) -> Result<Box<dyn Any + Send + Sync>, DbError> {
        let keep = Arc::clone(self);
        // SAFETY: `conn` is an open connection; the callback's argument points into `keep`,
        // which the caller keeps alive until the authorizer is cleared from the handle.
        unsafe {
            ffi::sqlite3_set_authorizer(
                conn.handle(),
                Some(authorize),
                Arc::as_ptr(&keep).cast_mut().cast(),
            );
        }
        Ok(Box::new(keep))
    }

    /// Runs runner's own statements (not a transform's): the authorizer allows whatever
    /// they touch, while `work` runs.
    pub fn trusted<T>(&self, work: impl FnOnce() -> T) -> T {
        struct Reset<'a>(&'a AtomicBool);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::SeqCst);
            }
        }
        self.trusted.store(true, Ordering::SeqCst);
        let _reset = Reset(&self.trusted);
        work()
    }

    fn decide(
        &self,
        action: c_int,
        first: Option<&str>,
        second: Option<&str>,
        database: Option<&str>,
        trigger: Option<&str>,
    ) -> c_int {
        if self.trusted.load(Ordering::SeqCst) {
            return ffi::SQLITE_OK;
        }
        let Ok(mut refusal) = self.refusal.lock() else {
            return ffi::SQLITE_DENY;
        };
        let table = first.map(str::to_ascii_lowercase).unwrap_or_default();
        let through = |what: &str| match trigger {
            Some(trigger) => format!("{what} (through the trigger or view {trigger})"),
            None => what.to_string(),
        };
        match action {
            ffi::SQLITE_SELECT | ffi::SQLITE_RECURSIVE => ffi::SQLITE_OK,
            ffi::SQLITE_READ => {
                // A CTE (no schema) and table functions are not tables of the database.
                if database.is_none()
                    || self.grants.readable(&table)
                    || Grants::function_allowed(Dialect::Sqlite, &table)
                {
                    return ffi::SQLITE_OK;
                }
                // Refused, but go on: a write reported next (a foreign key's cascade reads the
                // table it then changes) gives the better reason. The statement never runs.
                if refusal.other.is_none() {
                    refusal.other = Some(through(&format!(
                        "SQLite reports that the statement reads table '{table}', which is not declared in this step's `reads` or `writes`"
                    )));
                }
                ffi::SQLITE_IGNORE
            }
            ffi::SQLITE_INSERT | ffi::SQLITE_UPDATE | ffi::SQLITE_DELETE => {
                if self.grants.writable(&table) {
                    ffi::SQLITE_OK
                } else {
                    refusal.deny_write(through(&format!(
                        "SQLite reports that the statement writes table '{table}' (directly, through a trigger or a foreign key's cascade): declare it in this step's `writes`"
                    )))
                }
            }
            ffi::SQLITE_FUNCTION => {
                let name = second.map(str::to_ascii_lowercase).unwrap_or_default();
                if Grants::function_allowed(Dialect::Sqlite, &name) || name == "->" || name == "->>"
                {
                    ffi::SQLITE_OK
                } else {
                    refusal.deny(through(&format!(
                        "the function {name} is not allowed in a transform"
                    )))
                }
            }
            other => refusal.deny(through(&format!(
                "SQLite reports an action that transforms may not take (authorizer code {other})"
            ))),
        }
    }

    /// What the authorizer refused since the last look, if anything.
    fn take_refusal(&self) -> Option<String> {
        self.refusal
            .lock()
            .ok()
            .and_then(|mut refusal| refusal.take())
    }

    /// A step's error, or the authorizer's reason for it: a statement SQLite prepared again
    /// while it ran (after a schema change) and the authorizer then refused fails with
    /// SQLite's bare "not authorized".
    pub fn explain(&self, error: DbError) -> DbError {
        match self.take_refusal() {
            Some(reason) => DbError::Denied(reason),
            None => error,
        }
    }
}

fn text<'a>(pointer: *const c_char) -> Option<&'a str> {
    if pointer.is_null() {
        return None;
    }
    // SAFETY: SQLite passes NUL-terminated UTF-8 strings that live for the callback's length.
    unsafe { CStr::from_ptr(pointer) }.to_str().ok()
}

unsafe extern "C" fn authorize(
    checker: *mut c_void,
    action: c_int,
    first: *const c_char,
    second: *const c_char,
    database: *const c_char,
    trigger: *const c_char,
) -> c_int {
    // SAFETY: the argument is the `Checker` registered by `Checker::install`, kept alive for
    // as long as it is installed.
    let checker = unsafe { &*checker.cast::<Checker>() };
    checker.decide(
        action,
        text(first),
        text(second),
        text(database),
        text(trigger),
    )
}

/// Clears whatever authorizer is installed on `conn` (the hold does it with the same call).
#[cfg(test)]
fn clear(conn: &rusqlite::Connection) {
    // SAFETY: `conn` is an open connection; clearing takes no pointer.
    unsafe {
        ffi::sqlite3_set_authorizer(conn.handle(), None, std::ptr::null_mut());
    }
}

/// The longest statement text kept prepared between calls: a prepared statement lives in the
/// host's memory, outside the step's memory cap, so the cache (64 statements) holds at most
/// a few MiB however large the statements a transform sends (up to the guard's 256 KiB).
const CACHED_SQL_BYTES: usize = 16 << 10;

/// A statement the authorizer allowed: kept in the connection's cache for the next call, or
/// (a long one) finalized when dropped.
pub enum Authorized<'c> {
    Cached(rusqlite::CachedStatement<'c>),
    Once(rusqlite::Statement<'c>),
}

impl<'c> std::ops::Deref for Authorized<'c> {
    type Target = rusqlite::Statement<'c>;
    fn deref(&self) -> &Self::Target {
        match self {
            Self::Cached(statement) => statement,
            Self::Once(statement) => statement,
        }
    }
}

impl std::ops::DerefMut for Authorized<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Self::Cached(statement) => statement,
            Self::Once(statement) => statement,
        }
    }
}

/// Prepares a transform's statement on a connection where `checker` is installed (the
/// authorizer checks it against the step's grants), or takes it from the connection's
/// statement cache, where only statements the authorizer allowed are kept. The cache lives as
/// long as the sandbox's hold on the handle (one step, one set of grants; see
/// `Db::release_sqlite`), and a statement SQLite prepares again meets the authorizer too.
pub fn prepare<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    checker: &Checker,
) -> Result<Authorized<'c>, DbError> {
    checker.take_refusal();
    let prepared = if sql.len() <= CACHED_SQL_BYTES {
        conn.prepare_cached(sql).map(Authorized::Cached)
    } else {
        conn.prepare(sql).map(Authorized::Once)
    };
    match (prepared, checker.take_refusal()) {
        (Ok(Authorized::Cached(statement)), Some(denied)) => {
            statement.discard();
            Err(DbError::Denied(denied))
        }
        (_, Some(denied)) => Err(DbError::Denied(denied)),
        (Ok(statement), None) => Ok(statement),
        (Err(error), None) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::sqlite_hold::is_prepared;

    fn connection() -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE deals (id INTEGER PRIMARY KEY, title TEXT);
             CREATE TABLE audit (id INTEGER PRIMARY KEY, note TEXT);
             CREATE TABLE secret (s TEXT);
             CREATE TRIGGER deals_audit AFTER UPDATE ON deals
               BEGIN INSERT INTO audit (note) VALUES (new.title); END;",
        )
        .unwrap();
        conn
    }

    /// `conn` with a checker for `grants` installed; keep the second value alive.
    fn checked(
        conn: &rusqlite::Connection,
        grants: Grants,
    ) -> (Arc<Checker>, Box<dyn Any + Send + Sync>) {
        let checker = Checker::new(grants);
        let keep = checker.install(conn).unwrap();
        (checker, keep)
    }

    fn reason(result: Result<Authorized<'_>, DbError>) -> String {
        match result {
            Ok(_) => panic!("the statement was allowed"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn sqlite_confirms_the_tables_and_functions_a_statement_touches() {
        let conn = connection();
        let (grants, _keep) = checked(&conn, Grants::new(&["audit".into()], &["deals".into()]));
        assert!(prepare(&conn, "SELECT d.id, lower(title) FROM deals d", &grants).is_ok());
        let err = reason(prepare(&conn, "SELECT * FROM secret", &grants));
        assert!(err.contains("reads table 'secret'"), "{err}");
        let err = reason(prepare(&conn, "DELETE FROM audit", &grants));
        assert!(err.contains("writes table 'audit'"), "{err}");
        let err = reason(prepare(&conn, "SELECT random()", &grants));
        assert!(err.contains("function random is not allowed"), "{err}");
        let err = reason(prepare(&conn, "PRAGMA foreign_keys = OFF", &grants));
        assert!(err.contains("authorizer code"), "{err}");
        // It stays installed: whatever prepares a statement meets it, until it is cleared.
        let err = conn.execute_batch("DELETE FROM audit").unwrap_err();
        assert!(err.to_string().contains("not authorized"), "{err}");
        let explained = grants.explain(DbError::Denied("bare".into())).to_string();
        assert!(explained.contains("writes table 'audit'"), "{explained}");
        // Runner's own statements are let through.
        grants
            .trusted(|| conn.execute_batch("DELETE FROM audit"))
            .unwrap();
        clear(&conn);
        conn.execute_batch("DELETE FROM secret").unwrap();
    }

    #[test]
    fn a_table_a_foreign_key_cascades_into_must_be_declared() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY,
                                 parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE);
             PRAGMA foreign_keys = ON;",
        )
        .unwrap();
        let (grants, keep) = checked(&conn, Grants::new(&[], &["parent".into()]));
        let err = reason(prepare(&conn, "DELETE FROM parent WHERE id = 1", &grants));
        assert!(err.contains("writes table 'child'"), "{err}");
        clear(&conn);
        drop(keep);
        let (grants, keep) = checked(&conn, Grants::new(&[], &["parent".into(), "child".into()]));
        assert!(prepare(&conn, "DELETE FROM parent WHERE id = 1", &grants).is_ok());
        clear(&conn);
        drop(keep);
        // A CTE's name is no table of the database.
        let (grants, _keep) = checked(&conn, Grants::new(&[], &[]));
        assert!(
            prepare(
                &conn,
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3) SELECT x FROM c",
                &grants
            )
            .is_ok()
        );
    }

    #[test]
    fn only_short_allowed_statements_stay_prepared() {
        let conn = connection();
        let (grants, _keep) = checked(&conn, Grants::new(&[], &["deals".into()]));
        drop(prepare(&conn, "SELECT id FROM deals", &grants).expect("allowed"));
        assert!(
            is_prepared(&conn, "SELECT id FROM deals"),
            "a short statement is cached"
        );
        // A refused statement is not kept, so the next call meets the authorizer again.
        let err = reason(prepare(&conn, "SELECT s FROM secret", &grants));
        assert!(err.contains("reads table 'secret'"), "{err}");
        assert!(!is_prepared(&conn, "SELECT s FROM secret"));
        let err = reason(prepare(&conn, "SELECT s FROM secret", &grants));
        assert!(err.contains("reads table 'secret'"), "{err}");
        // A long one is finalized once used: host memory does not grow with what a transform
        // sends.
        let long = format!(
            "SELECT title FROM deals WHERE id IN ({})",
            "1, ".repeat(8000) + "1"
        );
        assert!(long.len() > CACHED_SQL_BYTES);
        drop(prepare(&conn, &long, &grants).expect("allowed"));
        assert!(!is_prepared(&conn, "SELECT title FROM deals WHERE id IN"));
    }

    #[test]
    fn a_table_a_trigger_writes_must_be_declared() {
        let conn = connection();
        let (grants, keep) = checked(&conn, Grants::new(&[], &["deals".into()]));
        let err = reason(prepare(&conn, "UPDATE deals SET title = 'x'", &grants));
        assert!(
            err.contains("writes table 'audit'") && err.contains("deals_audit"),
            "{err}"
        );
        clear(&conn);
        drop(keep);
        let (grants, _keep) = checked(&conn, Grants::new(&[], &["deals".into(), "audit".into()]));
        assert!(prepare(&conn, "UPDATE deals SET title = 'x'", &grants).is_ok());
    }

    #[test]
    fn a_cached_statement_stays_compiled_between_calls() {
        let conn = connection();
        let (grants, _keep) = checked(&conn, Grants::new(&[], &["deals".into()]));
        // SQLite counts how often it compiled a statement again (SQLITE_STMTSTATUS_REPREPARE):
        // taking it from the cache must not make it expire, as installing an authorizer per
        // call did.
        for _ in 0..3 {
            let mut statement = prepare(&conn, "SELECT count(*) FROM deals", &grants).unwrap();
            statement.query_row([], |_| Ok(())).unwrap();
            let again = statement.get_status(rusqlite::StatementStatus::RePrepare);
            assert_eq!(again, 0, "the statement was compiled again");
        }
    }
}
