//! The imports of `wit/transform.wit`, served natively by an in-memory SQLite database for
//! [`crate::testing`]. With the `testing` feature on a native target, `crate::host` is this
//! module instead of the WIT bindings: same functions, same types, so a transform's unit test
//! runs the SDK's own `Db`, cursor, writer, backfill and logging code.
//!
//! It does what runner's SQLite host does where a test can tell (runner/src/sandbox/sql.rs):
//! `$n` placeholders bound by number, values stored and read back by the column's declared
//! type, cursors that do not see writes made after they opened, batches that fail whole, and
//! the same row limits. It is not the sandbox: it refuses statements other than SELECT, INSERT,
//! UPDATE, DELETE and WITH, but does not check tables against a step's `reads` and `writes`.

use std::cell::RefCell;
use std::rc::Rc;

use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::bindings::runner::transform::db::{DbError, Rows, Value};

/// The most rows one `query` returns (runner's `MAX_QUERY_ROWS`).
const MAX_QUERY_ROWS: usize = 100_000;
/// The most rows one cursor batch returns (runner's `MAX_BATCH_ROWS`).
const MAX_BATCH_ROWS: u32 = 10_000;

/// A test database, and what the transform reported while it ran on it.
pub(crate) struct Session {
    pub(crate) conn: rusqlite::Connection,
    pub(crate) logs: RefCell<Vec<String>>,
    pub(crate) progress: RefCell<Vec<(u64, Option<u64>)>>,
}

thread_local! {
    /// The session the SDK's calls on this thread go to (tests run on threads of their own).
    static CURRENT: RefCell<Option<Rc<Session>>> = const { RefCell::new(None) };
}

impl Session {
    /// A session on a new, empty in-memory database, with foreign keys enforced as on
    /// runner's connections.
    pub(crate) fn open() -> rusqlite::Result<Rc<Session>> {
        let conn = rusqlite::Connection::open_in_memory()?;
        conn.execute_batch("PRAGMA foreign_keys = ON")?;
        Ok(Rc::new(Session {
            conn,
            logs: RefCell::default(),
            progress: RefCell::default(),
        }))
    }

    /// Sends the SDK's calls on this thread to this session until the guard is dropped.
    pub(crate) fn enter(self: &Rc<Self>) -> Entered {
        let previous = CURRENT.with(|current| current.replace(Some(self.clone())));
        Entered { previous }
    }
}

/// Puts back the session that was current before [`Session::enter`].
pub(crate) struct Entered {
    previous: Option<Rc<Session>>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| current.replace(previous));
    }
}

fn current() -> Option<Rc<Session>> {
    CURRENT.with(|current| current.borrow().clone())
}

/// The current session's connection; a `Db` exists only while `TestDb` runs a function.
fn with_conn<T>(work: impl FnOnce(&rusqlite::Connection) -> T) -> T {
    let session = current().expect(
        "runner_guest_sdk: no test database on this thread: run the transform with TestDb::up or TestDb::down",
    );
    work(&session.conn)
}

fn sql_error(error: rusqlite::Error) -> DbError {
    DbError::Sql(error.to_string())
}

/// Refuses what runner's guard refuses whatever the tables: a statement of another kind.
fn check_kind(sql: &str) -> Result<(), DbError> {
    const ALLOWED: [&str; 7] = [
        "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES", "REPLACE",
    ];
    let keyword = first_keyword(sql);
    if ALLOWED.iter().any(|k| k.eq_ignore_ascii_case(keyword)) {
        return Ok(());
    }
    Err(DbError::Denied(format!(
        "only SELECT, INSERT, UPDATE, DELETE and WITH may run in a transform, not {}",
        keyword.to_ascii_uppercase()
    )))
}

/// The first word of `sql`, after white space and comments.
fn first_keyword(sql: &str) -> &str {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, next)| next);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, next)| next);
        } else {
            break;
        }
    }
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Prepares one statement, as runner's host does: several statements are refused.
pub(crate) fn prepare<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
) -> Result<rusqlite::Statement<'c>, DbError> {
    conn.prepare(sql).map_err(sql_error)
}

/// A parameter bound as runner binds it on SQLite: booleans as 0 and 1, the values carried as
/// text (decimal, date, time, timestamp, JSON, UUID) as text.
struct Param<'a>(&'a Value);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Boolean(b) => ValueRef::Integer(i64::from(*b)),
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(x) => ValueRef::Real(*x),
            Value::Blob(bytes) => ValueRef::Blob(bytes),
            Value::Text(text)
            | Value::Decimal(text)
            | Value::Date(text)
            | Value::Time(text)
            | Value::Timestamp(text)
            | Value::Json(text)
            | Value::Uuid(text) => ValueRef::Text(text.as_bytes()),
        }))
    }
}

/// The number a placeholder takes its value by: `$n` and `?n` their own, a bare `?` the next.
fn placeholder_number(statement: &rusqlite::Statement<'_>, index: usize) -> Result<usize, DbError> {
    let Some(name) = statement.parameter_name(index) else {
        return Ok(index);
    };
    name.strip_prefix(['$', '?'])
        .and_then(|digits| digits.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            DbError::Sql(format!(
                "the placeholder {name} is not numbered: use $1, $2, ..."
            ))
        })
}

/// Binds `params` by placeholder number: `$2` takes `params[1]` wherever it stands.
pub(crate) fn bind(
    statement: &mut rusqlite::Statement<'_>,
    params: &[Value],
) -> Result<(), DbError> {
    let numbers = (1..=statement.parameter_count())
        .map(|index| placeholder_number(statement, index))
        .collect::<Result<Vec<_>, _>>()?;
    let needed = numbers.iter().copied().max().unwrap_or(0);
    if params.len() < needed {
        return Err(DbError::Sql(format!(
            "the statement uses {needed} parameter(s) but {} were given",
            params.len()
        )));
    }
    for (index, number) in numbers.into_iter().enumerate() {
        statement
            .raw_bind_parameter(index + 1, Param(&params[number - 1]))
            .map_err(sql_error)?;
    }
    Ok(())
}

/// How a column is read back, from its declared type, as runner's SQLite host reads it: the
/// types runner declares (`DECIMAL_TEXT`, `JSON_TEXT`, `UUID_TEXT`, `BOOLEAN`, `DATE`, `TIME`,
/// `TIMESTAMP...`) give their own variants; anything else gives what SQLite stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnKind {
    Plain,
    Boolean,
    Decimal,
    Json,
    Uuid,
    Date,
    Time,
    Timestamp,
}

impl ColumnKind {
    fn of(declared: Option<&str>) -> Self {
        let declared = declared.unwrap_or_default().to_ascii_uppercase();
        match declared.as_str() {
            d if d.starts_with("DECIMAL_TEXT") => Self::Decimal,
            "JSON_TEXT" => Self::Json,
            "UUID_TEXT" => Self::Uuid,
            "DATE" => Self::Date,
            "TIME" => Self::Time,
            "BOOLEAN" => Self::Boolean,
            d if d.starts_with("TIMESTAMP") || d == "DATETIME" => Self::Timestamp,
            _ => Self::Plain,
        }
    }

    fn read(self, value: ValueRef<'_>) -> Value {
        match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => match self {
                Self::Boolean => Value::Boolean(i != 0),
                Self::Decimal => Value::Decimal(i.to_string()),
                _ => Value::Integer(i),
            },
            ValueRef::Real(x) => match self {
                Self::Decimal => Value::Decimal(float_text(x)),
                _ => Value::Real(x),
            },
            ValueRef::Text(bytes) => {
                let text = String::from_utf8_lossy(bytes).into_owned();
                match self {
                    Self::Decimal => Value::Decimal(text),
                    Self::Json => Value::Json(text),
                    Self::Uuid => Value::Uuid(text),
                    Self::Date => Value::Date(text),
                    Self::Time => Value::Time(text),
                    Self::Timestamp => Value::Timestamp(text),
                    Self::Plain | Self::Boolean => Value::Text(text),
                }
            }
            ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec()),
        }
    }
}

/// A float as runner writes it in a decimal's text: always with a point or an exponent.
fn float_text(x: f64) -> String {
    let text = format!("{x}");
    if text.contains(['.', 'e', 'E']) || !x.is_finite() {
        text
    } else {
        format!("{text}.0")
    }
}

/// Runs a query and reads all its rows (at most `max_rows`, else a limit error).
pub(crate) fn read(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Value],
    max_rows: usize,
) -> Result<Rows, DbError> {
    let mut statement = prepare(conn, sql)?;
    bind(&mut statement, params)?;
    let columns: Vec<String> = statement
        .column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let kinds: Vec<ColumnKind> = statement
        .columns()
        .iter()
        .map(|c| ColumnKind::of(c.decl_type()))
        .collect();
    let mut rows = Vec::new();
    let mut stepped = statement.raw_query();
    while let Some(row) = stepped.next().map_err(sql_error)? {
        if rows.len() == max_rows {
            return Err(DbError::Limit(format!(
                "the query returns more than {max_rows} rows; read it with a cursor"
            )));
        }
        let mut values = Vec::with_capacity(kinds.len());
        for (i, kind) in kinds.iter().enumerate() {
            values.push(kind.read(row.get_ref(i).map_err(sql_error)?));
        }
        rows.push(values);
    }
    Ok(Rows { columns, rows })
}

/// Runs a statement once per parameter list; returns the rows changed. The batch fails whole:
/// after an error, none of its rows is changed.
pub(crate) fn write<'v>(
    conn: &rusqlite::Connection,
    sql: &str,
    batch: impl IntoIterator<Item = &'v [Value]>,
) -> Result<u64, DbError> {
    let mut statement = prepare(conn, sql)?;
    conn.execute_batch("SAVEPOINT runner_batch")
        .map_err(sql_error)?;
    let changed = run_each(&mut statement, batch);
    let end = match changed {
        Ok(_) => "RELEASE runner_batch",
        Err(_) => "ROLLBACK TO runner_batch; RELEASE runner_batch",
    };
    conn.execute_batch(end).map_err(sql_error)?;
    changed
}

fn run_each<'v>(
    statement: &mut rusqlite::Statement<'_>,
    batch: impl IntoIterator<Item = &'v [Value]>,
) -> Result<u64, DbError> {
    let mut changed = 0u64;
    for params in batch {
        bind(statement, params)?;
        changed += statement.raw_execute().map_err(sql_error)? as u64;
    }
    Ok(changed)
}

/// The `db` interface.
pub(crate) mod db {
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;

    pub use crate::bindings::runner::transform::db::{DbError, Dialect, Rows, Value};

    use super::{MAX_BATCH_ROWS, MAX_QUERY_ROWS, check_kind, prepare, read, with_conn, write};

    /// Always SQLite: the test database is one.
    pub fn current_dialect() -> Dialect {
        Dialect::Sqlite
    }

    pub fn query(sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        check_kind(sql)?;
        with_conn(|conn| read(conn, sql, params, MAX_QUERY_ROWS))
    }

    pub fn execute(sql: &str, params: &[Value]) -> Result<u64, DbError> {
        check_kind(sql)?;
        with_conn(|conn| write(conn, sql, [params]))
    }

    pub fn execute_many(sql: &str, batch: &[Vec<Value>]) -> Result<u64, DbError> {
        check_kind(sql)?;
        with_conn(|conn| write(conn, sql, batch.iter().map(Vec::as_slice)))
    }

    /// The rows of a query, read when it opened: writes made after do not change them, as
    /// runner copies aside what an open cursor has yet to read before a write could change it.
    pub struct Cursor {
        columns: Vec<String>,
        rows: RefCell<VecDeque<Vec<Value>>>,
    }

    impl Cursor {
        pub fn next(&self, max: u32) -> Result<Vec<Vec<Value>>, DbError> {
            let max = max.clamp(1, MAX_BATCH_ROWS) as usize;
            let mut rows = self.rows.borrow_mut();
            let take = max.min(rows.len());
            Ok(rows.drain(..take).collect())
        }

        pub fn columns(&self) -> Vec<String> {
            self.columns.clone()
        }
    }

    pub fn open_cursor(sql: &str, params: &[Value]) -> Result<Cursor, DbError> {
        check_kind(sql)?;
        let rows = with_conn(|conn| read(conn, sql, params, usize::MAX))?;
        Ok(Cursor {
            columns: rows.columns,
            rows: RefCell::new(rows.rows.into()),
        })
    }

    /// Writes each batch when it is handed over: the test sees at once what runner's writer
    /// makes sure of before any other call, that every batch before it ran.
    pub struct Writer {
        sql: String,
        changed: Cell<u64>,
        failed: RefCell<Option<DbError>>,
    }

    impl Writer {
        pub fn write(&self, batch: &[Vec<Value>]) -> Result<(), DbError> {
            if let Some(error) = self.failed.borrow().clone() {
                return Err(error);
            }
            match with_conn(|conn| write(conn, &self.sql, batch.iter().map(Vec::as_slice))) {
                Ok(changed) => {
                    self.changed.set(self.changed.get() + changed);
                    Ok(())
                }
                Err(error) => {
                    self.failed.replace(Some(error.clone()));
                    Err(error)
                }
            }
        }

        pub fn finish(&self) -> Result<u64, DbError> {
            match self.failed.borrow().clone() {
                Some(error) => Err(error),
                None => Ok(self.changed.get()),
            }
        }
    }

    /// Checks the statement once, as runner does when the writer opens.
    pub fn open_writer(sql: &str) -> Result<Writer, DbError> {
        check_kind(sql)?;
        with_conn(|conn| prepare(conn, sql).map(drop))?;
        Ok(Writer {
            sql: sql.to_string(),
            changed: Cell::new(0),
            failed: RefCell::new(None),
        })
    }

    /// A query that ran when it was started: its rows, or why it failed.
    pub struct PendingRows {
        rows: RefCell<Option<Result<Rows, DbError>>>,
    }

    impl PendingRows {
        pub fn rows(&self) -> Result<Rows, DbError> {
            self.rows
                .borrow_mut()
                .take()
                .unwrap_or_else(|| Err(DbError::Sql("the rows were taken already".into())))
        }
    }

    pub fn start_query(sql: &str, params: &[Value]) -> Result<PendingRows, DbError> {
        check_kind(sql)?;
        let rows = with_conn(|conn| read(conn, sql, params, MAX_QUERY_ROWS));
        Ok(PendingRows {
            rows: RefCell::new(Some(rows)),
        })
    }
}

/// The `log` interface: messages and progress are recorded for the test to read.
pub(crate) mod log {
    pub use crate::bindings::runner::transform::log::Level;

    use super::current;

    /// `level: message`, as [`crate::testing::TestDb::logs`] shows it.
    fn line(level: Level, message: &str) -> String {
        let level = match level {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        format!("{level}: {message}")
    }

    /// Recorded by the running test database; outside one (a helper that logs, tested on its
    /// own), printed to stderr, which the test harness shows for a failing test.
    pub fn log(level: Level, message: &str) {
        let line = line(level, message);
        match current() {
            Some(session) => session.logs.borrow_mut().push(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn progress(done: u64, total: Option<u64>) {
        if let Some(session) = current() {
            session.progress.borrow_mut().push((done, total));
        }
    }
}
