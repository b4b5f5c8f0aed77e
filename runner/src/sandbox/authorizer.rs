//! SQLite's own confirmation of what a transform's statement touches: while a statement is
//! prepared, SQLite calls an authorizer once per table read or written and per function called
//! (<https://sqlite.org/c3ref/set_authorizer.html>), including those of the triggers the
//! statement fires. The guard has already checked the statement; this is the database's
//! parser answering the same question, so a gap in the guard's reading is refused here too.
//! It also names the tables a trigger writes, which a step must declare.

use std::ffi::{CStr, c_char, c_int, c_void};

use rusqlite::ffi;

use super::guard::Grants;
use crate::db::DbError;
use crate::dialect_kind::Dialect;

/// What the authorizer is checking against, and what it refused.
struct Context<'a> {
    grants: &'a Grants,
    /// The first write refused: the most useful reason (a cascade is read before it is
    /// written, and the step must declare it in `writes`).
    denied_write: Option<String>,
    denied: Option<String>,
}

impl Context<'_> {
    fn deny(&mut self, reason: String) -> c_int {
        if self.denied.is_none() {
            self.denied = Some(reason);
        }
        ffi::SQLITE_DENY
    }

    fn deny_write(&mut self, reason: String) -> c_int {
        if self.denied_write.is_none() {
            self.denied_write = Some(reason);
        }
        ffi::SQLITE_DENY
    }

    /// The reason the statement is refused, if it is.
    fn refusal(self) -> Option<String> {
        self.denied_write.or(self.denied)
    }

    fn decide(
        &mut self,
        action: c_int,
        first: Option<&str>,
        second: Option<&str>,
        database: Option<&str>,
        trigger: Option<&str>,
    ) -> c_int {
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
                if self.denied.is_none() {
                    self.denied = Some(through(&format!(
                        "SQLite reports that the statement reads table '{table}', which is not declared in this step's `reads` or `writes`"
                    )));
                }
                ffi::SQLITE_IGNORE
            }
            ffi::SQLITE_INSERT | ffi::SQLITE_UPDATE | ffi::SQLITE_DELETE => {
                if self.grants.writable(&table) {
                    ffi::SQLITE_OK
                } else {
                    self.deny_write(through(&format!(
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
                    self.deny(through(&format!(
                        "the function {name} is not allowed in a transform"
                    )))
                }
            }
            other => self.deny(through(&format!(
                "SQLite reports an action that transforms may not take (authorizer code {other})"
            ))),
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
    context: *mut c_void,
    action: c_int,
    first: *const c_char,
    second: *const c_char,
    database: *const c_char,
    trigger: *const c_char,
) -> c_int {
    // SAFETY: the argument is the `Context` registered by `prepare`, alive while it runs.
    let context = unsafe { &mut *context.cast::<Context<'_>>() };
    context.decide(
        action,
        text(first),
        text(second),
        text(database),
        text(trigger),
    )
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

/// Prepares a transform's statement with the authorizer checking it against `grants`, or
/// takes it from the connection's statement cache, where only statements the authorizer
/// allowed are kept. The cache lives as long as the sandbox's hold on the handle (one step,
/// one set of grants; see `Db::release_sqlite`), and the schema does not change under a cached
/// statement: a transform cannot run DDL, and runner empties the cache after its own (a
/// cursor's temporary table), so SQLite never re-prepares one without the authorizer.
pub fn prepare<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    grants: &Grants,
) -> Result<Authorized<'c>, DbError> {
    let mut context = Context {
        grants,
        denied_write: None,
        denied: None,
    };
    /// Removes the authorizer however the preparation ends.
    struct Installed(*mut ffi::sqlite3);
    impl Drop for Installed {
        fn drop(&mut self) {
            // SAFETY: the handle is the open connection the authorizer was installed on.
            unsafe { ffi::sqlite3_set_authorizer(self.0, None, std::ptr::null_mut()) };
        }
    }
    // SAFETY: `conn` is an open connection; the callback's argument is `context`, which
    // outlives the `Installed` guard that removes the callback.
    let installed = unsafe {
        let handle = conn.handle();
        ffi::sqlite3_set_authorizer(
            handle,
            Some(authorize),
            std::ptr::from_mut(&mut context).cast(),
        );
        Installed(handle)
    };
    let prepared = if sql.len() <= CACHED_SQL_BYTES {
        conn.prepare_cached(sql).map(Authorized::Cached)
    } else {
        conn.prepare(sql).map(Authorized::Once)
    };
    drop(installed);
    match (prepared, context.refusal()) {
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

    fn reason(result: Result<Authorized<'_>, DbError>) -> String {
        match result {
            Ok(_) => panic!("the statement was allowed"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn sqlite_confirms_the_tables_and_functions_a_statement_touches() {
        let conn = connection();
        let grants = Grants::new(&["audit".into()], &["deals".into()]);
        assert!(prepare(&conn, "SELECT d.id, lower(title) FROM deals d", &grants).is_ok());
        let err = reason(prepare(&conn, "SELECT * FROM secret", &grants));
        assert!(err.contains("reads table 'secret'"), "{err}");
        let err = reason(prepare(&conn, "DELETE FROM audit", &grants));
        assert!(err.contains("writes table 'audit'"), "{err}");
        let err = reason(prepare(&conn, "SELECT random()", &grants));
        assert!(err.contains("function random is not allowed"), "{err}");
        let err = reason(prepare(&conn, "PRAGMA foreign_keys = OFF", &grants));
        assert!(err.contains("authorizer code"), "{err}");
        // The authorizer is gone once the statement is prepared.
        conn.execute_batch("SELECT * FROM secret").unwrap();
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
        let grants = Grants::new(&[], &["parent".into()]);
        let err = reason(prepare(&conn, "DELETE FROM parent WHERE id = 1", &grants));
        assert!(err.contains("writes table 'child'"), "{err}");
        let grants = Grants::new(&[], &["parent".into(), "child".into()]);
        assert!(prepare(&conn, "DELETE FROM parent WHERE id = 1", &grants).is_ok());
        // A CTE's name is no table of the database.
        let grants = Grants::new(&[], &[]);
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
        let grants = Grants::new(&[], &["deals".into()]);
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
        let grants = Grants::new(&[], &["deals".into()]);
        let err = reason(prepare(&conn, "UPDATE deals SET title = 'x'", &grants));
        assert!(
            err.contains("writes table 'audit'") && err.contains("deals_audit"),
            "{err}"
        );
        let grants = Grants::new(&[], &["deals".into(), "audit".into()]);
        assert!(prepare(&conn, "UPDATE deals SET title = 'x'", &grants).is_ok());
    }
}
