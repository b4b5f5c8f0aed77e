//! Running a transform's checked statements on the revision's connection, always as one
//! prepared statement with bound values. SQLite goes through rusqlite on sqlx's own handle
//! (prepared once, stepped per row: no hop to sqlx's worker thread per row), with SQLite's
//! authorizer confirming what each statement touches; PostgreSQL through the extended protocol,
//! MySQL through `COM_STMT_PREPARE`. Cursors live in `cursor.rs`. No statement outlives the
//! transform's deadline: SQLite interrupts itself, the servers are given a statement time limit.

mod behind;

pub(in crate::sandbox) use behind::{collect_behind, execute_behind, query_behind};

use std::ffi::{c_int, c_void};
use std::time::{Duration, Instant};

use rusqlite::ToSql;
use rusqlite::ffi;
use rusqlite::types::{ToSqlOutput, ValueRef};

use std::sync::Arc;

use super::authorizer::{self, Checker};
use super::guard::Grants;
use super::implied::Implied;
use super::postgres::{confirm_plan, postgres_form, postgres_params, too_large_value};
use super::statement::{Prepared, StatementError};
use crate::db::bound::{Bounded, Bounds, Params, value_bytes};
use crate::db::{Db, DbError, Rows, Value};
use crate::dialect::{Quoting, push_string_literal};
use crate::dialect_kind::Dialect;

/// The most rows one `query` returns; larger results need a cursor.
pub const MAX_QUERY_ROWS: usize = 100_000;
/// The most rows one cursor batch returns.
pub const MAX_BATCH_ROWS: u32 = 10_000;
/// How many SQLite virtual machine instructions run between two looks at the clock.
const SQLITE_CLOCK_EVERY: c_int = 1000;

/// Why a statement did not run: refused before the database, a limit, or the database's error.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<StatementError> for SqlError {
    fn from(error: StatementError) -> Self {
        match error {
            StatementError::Denied(denied) => SqlError::Denied(denied.0),
            StatementError::Invalid(message) => SqlError::Invalid(message),
        }
    }
}

/// What a transform's session needs to know about its connection.
#[derive(Debug, Clone)]
pub struct Session {
    pub dialect: Dialect,
    /// When the transform's time is up; no statement runs past it.
    pub deadline: Instant,
    /// MariaDB limits a statement's time otherwise than MySQL does.
    mariadb: bool,
    /// The largest string or blob SQLite may make for the transform; the most bytes of
    /// results one call may hold.
    pub value_bytes: usize,
    /// The server's id for this connection, to cancel a statement from another one.
    server_id: Option<u64>,
    /// SQLite's authorizer for the step's grants, installed on the handle for as long as the
    /// step holds it.
    pub(super) checker: Arc<Checker>,
}

/// Prepares the connection for a transform's statements and learns what to cancel them by. Returns the
/// session and, on PostgreSQL and MySQL, the statement that restores the server's statement
/// time limit (see [`limit_statements`]) when the transform is done.
pub async fn open_session(
    db: &mut Db,
    deadline: Instant,
    grants: &Grants,
) -> Result<(Session, Option<String>), DbError> {
    let mut session = Session {
        dialect: db.dialect(),
        deadline,
        mariadb: db.info.mariadb,
        value_bytes: 64 << 20,
        server_id: None,
        checker: Checker::new(grants.clone()),
    };
    let restore = match session.dialect {
        Dialect::Postgres => {
            // Only the quote is special in a literal with this on (the default since 9.1).
            db.execute_simple("SET standard_conforming_strings = on")
                .await?;
            let rows = db
                .query("SELECT current_setting('statement_timeout')", &[])
                .await?;
            let setting = rows.scalar().and_then(Value::to_text).unwrap_or_default();
            let mut old = String::new();
            push_string_literal(&mut old, Dialect::Postgres, &setting, Quoting::default());
            session.server_id = db
                .query("SELECT pg_backend_pid()", &[])
                .await?
                .scalar()
                .and_then(Value::as_i64)
                .and_then(|id| u64::try_from(id).ok());
            Some(format!("SET statement_timeout = {old}"))
        }
        Dialect::Mysql => {
            let variable = if session.mariadb {
                "max_statement_time"
            } else {
                "max_execution_time"
            };
            let rows = db
                .query(&format!("SELECT @@SESSION.{variable}"), &[])
                .await?;
            let row = rows.rows.first();
            let text = |i: usize| row.and_then(|r| r.get(i)).and_then(Value::to_text);
            // A number, written back as the server gave it (seconds on MariaDB, ms on MySQL).
            let old = text(0)
                .filter(|old| {
                    !old.is_empty() && old.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                })
                .unwrap_or_else(|| "0".into());
            session.server_id = db
                .query("SELECT CONNECTION_ID()", &[])
                .await?
                .scalar()
                .and_then(Value::as_i64)
                .and_then(|id| u64::try_from(id).ok());
            Some(format!("SET SESSION {variable} = {old}"))
        }
        Dialect::Sqlite => None,
    };
    Ok((session, restore))
}

/// Tells the server to stop any statement of this session that runs longer than `limit`: the
/// transform's remaining time. Called again as the deadline comes nearer, since the limit
/// counts from each statement's start. PostgreSQL's `statement_timeout` applies to every
/// statement; MariaDB's `max_statement_time` too
/// (<https://mariadb.com/kb/en/server-system-variables/#max_statement_time>); MySQL's
/// `max_execution_time` only to SELECT
/// (<https://dev.mysql.com/doc/refman/8.0/en/server-system-variables.html#sysvar_max_execution_time>).
pub async fn limit_statements(
    db: &mut Db,
    session: &Session,
    limit: Duration,
) -> Result<(), DbError> {
    // Rounded up, so that the server stops a statement at the deadline, not before it; never
    // 0, which means no limit at all.
    let micros = limit.as_micros().max(1000);
    let millis = micros.div_ceil(1000);
    let sql = match session.dialect {
        Dialect::Sqlite => return Ok(()),
        Dialect::Postgres => format!("SET statement_timeout = {millis}"),
        Dialect::Mysql if session.mariadb => format!(
            "SET SESSION max_statement_time = {}.{:06}",
            micros / 1_000_000,
            micros % 1_000_000
        ),
        Dialect::Mysql => format!("SET SESSION max_execution_time = {millis}"),
    };
    db.execute_simple(&sql).await.map(drop)
}

/// Stops the statement the session's connection is running, from a connection of its own
/// (PostgreSQL's `pg_cancel_backend`, MySQL's `KILL QUERY`): for a statement still running
/// past the deadline, which the server's own limit did not stop. Best effort, bounded in time.
pub async fn cancel(db: &Db, session: &Session) {
    let Some(id) = session.server_id else {
        return;
    };
    let sql = match session.dialect {
        Dialect::Sqlite => return,
        Dialect::Postgres => format!("SELECT pg_cancel_backend({id})"),
        Dialect::Mysql => format!("KILL QUERY {id}"),
    };
    let options = crate::db::ConnectOptions {
        create_sqlite_file: false,
        lock_timeout: Duration::from_millis(400),
        ddl_lock_timeout: None,
    };
    let url = db.url.clone();
    let cancelled = tokio::time::timeout(Duration::from_millis(400), async move {
        let mut other = Db::connect(&url, &options).await?;
        other.execute_simple(&sql).await?;
        other.close().await
    })
    .await;
    if let Ok(Err(error)) = cancelled {
        tracing::debug!("could not cancel the transform's statement: {error}");
    }
}

/// Runs `work` on the SQLite connection, with the session's authorizer installed on it,
/// interrupted once the session's deadline passes.
pub(super) async fn sqlite<T>(
    db: &mut Db,
    session: &Session,
    work: impl FnOnce(&rusqlite::Connection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let (deadline, value_bytes) = (session.deadline, session.value_bytes);
    let install = |conn: &rusqlite::Connection| session.checker.install(conn);
    db.with_sqlite_checked(Some(&install), |conn| {
        before_deadline(conn, deadline, value_bytes, work)
    })
    .await
    .map_err(|error| explained(&session.checker, error))
}

/// An SQLite error, with the authorizer's reason when it refused the statement.
fn explained(checker: &Checker, error: DbError) -> DbError {
    match error {
        DbError::Denied(_) => error,
        other => checker.explain(other),
    }
}

/// A statement runs on this thread, where no timer can stop it: SQLite itself looks at the
/// clock every few instructions, through a progress handler installed for the length of
/// `work` (rusqlite installs one only on connections it owns, hence the C API). For the same
/// length no string or blob may grow past `value_bytes` (`SQLITE_LIMIT_LENGTH`): a value
/// SQLite makes lives in the host's memory, which the step's memory cap covers.
fn before_deadline<T>(
    conn: &rusqlite::Connection,
    deadline: Instant,
    value_bytes: usize,
    work: impl FnOnce(&rusqlite::Connection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    unsafe extern "C" fn past_deadline(deadline: *mut c_void) -> c_int {
        // SAFETY: the argument is the `Instant` registered below, which outlives the handler.
        let deadline = unsafe { *deadline.cast::<Instant>() };
        c_int::from(Instant::now() >= deadline)
    }
    /// Removes the handler and puts the length limit back however `work` ends.
    struct Installed(*mut ffi::sqlite3, c_int);
    impl Drop for Installed {
        fn drop(&mut self) {
            // SAFETY: the handle is the open connection the handler was installed on.
            unsafe {
                ffi::sqlite3_progress_handler(self.0, 0, None, std::ptr::null_mut());
                ffi::sqlite3_limit(self.0, ffi::SQLITE_LIMIT_LENGTH, self.1);
            }
        }
    }
    let length = c_int::try_from(value_bytes).unwrap_or(c_int::MAX).max(1);
    // SAFETY: `conn` borrows sqlx's open connection for this call; the handler's argument is
    // `deadline`, a parameter, dropped only after the local `_installed` removed the handler.
    let _installed = unsafe {
        let handle = conn.handle();
        ffi::sqlite3_progress_handler(
            handle,
            SQLITE_CLOCK_EVERY,
            Some(past_deadline),
            std::ptr::from_ref(&deadline).cast_mut().cast(),
        );
        let old = ffi::sqlite3_limit(handle, ffi::SQLITE_LIMIT_LENGTH, length);
        Installed(handle, old)
    };
    work(conn)
}

/// A parameter bound as it is, without a copy.
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
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

/// How to read a SQLite column back, from its declared type: runner declares decimals, JSON
/// and UUIDs with text affinity (`DECIMAL_TEXT`, `JSON_TEXT`, `UUID_TEXT`), booleans as
/// BOOLEAN, and so on (see `dialect/sqlite.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ColumnKind {
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
                Self::Decimal => Value::Decimal(crate::model::literal::float_text(x)),
                _ => Value::Real(x),
            },
            ValueRef::Text(bytes) => {
                // Valid UTF-8 (nearly always) is copied as it is; the lossy path is slower.
                let text = match std::str::from_utf8(bytes) {
                    Ok(text) => text.to_owned(),
                    Err(_) => String::from_utf8_lossy(bytes).into_owned(),
                };
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

/// Binds a statement's parameters, in order.
pub(super) fn bind<'v>(
    statement: &mut rusqlite::Statement<'_>,
    params: impl IntoIterator<Item = &'v Value>,
) -> Result<(), DbError> {
    for (index, param) in params.into_iter().enumerate() {
        statement.raw_bind_parameter(index + 1, Param(param))?;
    }
    Ok(())
}

/// A page of rows read within its bounds, or which bound it passed.
pub(super) enum Page {
    Rows(Vec<Vec<Value>>),
    TooManyRows,
    TooManyBytes,
}

/// Steps a bound SQLite statement, reading at most `bounds` of rows and bytes.
/// With `key`, column 0 is a cursor's row number: not returned, the last one read kept there.
pub(super) fn sqlite_rows(
    statement: &mut rusqlite::Statement<'_>,
    kinds: &[ColumnKind],
    bounds: Bounds,
    mut key: Option<&mut i64>,
) -> Result<Page, DbError> {
    let first = usize::from(key.is_some());
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    let mut bytes = 0usize;
    while let Some(row) = rows.next()? {
        if out.len() == bounds.rows {
            return Ok(Page::TooManyRows);
        }
        if let Some(key) = key.as_deref_mut() {
            *key = row.get(0)?;
        }
        let mut values = Vec::with_capacity(kinds.len());
        for (i, kind) in kinds.iter().enumerate() {
            let value = kind.read(row.get_ref(first + i)?);
            bytes += value_bytes(&value);
            values.push(value);
        }
        if bytes > bounds.bytes {
            return Ok(Page::TooManyBytes);
        }
        out.push(values);
    }
    Ok(Page::Rows(out))
}

/// A statement's column names, and how to read each.
pub(super) fn columns_of(statement: &rusqlite::Statement<'_>) -> (Vec<String>, Vec<ColumnKind>) {
    let columns = statement.columns();
    (
        columns.iter().map(|c| c.name().to_string()).collect(),
        columns
            .iter()
            .map(|c| ColumnKind::of(c.decl_type()))
            .collect(),
    )
}

fn too_large(rows: bool) -> SqlError {
    if rows {
        SqlError::Limit(format!(
            "the query returns more than {MAX_QUERY_ROWS} rows; read it with a cursor"
        ))
    } else {
        SqlError::Limit(
            "the query's result is larger than the memory the step has left; read it with a cursor in smaller batches".into(),
        )
    }
}

/// Runs a query and reads all its rows, holding at most `bytes` of them.
pub async fn query(
    db: &mut Db,
    session: &Session,
    prepared: &Prepared,
    params: &[Value],
    grants: &Grants,
    bytes: usize,
) -> Result<Rows, SqlError> {
    let bounds = Bounds {
        rows: MAX_QUERY_ROWS,
        bytes,
    };
    let bounded = match session.dialect {
        Dialect::Sqlite => {
            let params = prepared.ordered(params)?;
            sqlite(db, session, |conn| {
                let mut statement = authorizer::prepare(conn, prepared.sql(), &session.checker)?;
                let (columns, kinds) = columns_of(&statement);
                // A value past SQLITE_LIMIT_LENGTH is refused as SQLite makes it.
                bind(&mut statement, params.iter().copied())?;
                Ok(match sqlite_rows(&mut statement, &kinds, bounds, None)? {
                    Page::Rows(rows) => Bounded::Rows(Rows { columns, rows }),
                    Page::TooManyRows => Bounded::TooManyRows,
                    Page::TooManyBytes => Bounded::TooManyBytes,
                })
            })
            .await
            .map_err(too_large_value)?
        }
        Dialect::Postgres => {
            let form = postgres_form(db, prepared).await?;
            let mut params = postgres_params(prepared, params)?;
            confirm_plan(db, prepared, form, &params, grants).await?;
            let sql = match &form.rows_sql {
                Some(bounded) => {
                    params.resize(prepared.parameters(), None);
                    params.push(Some(bytes.to_string()));
                    bounded
                }
                None => &form.sql,
            };
            let mut bounded = db
                .query_bound(sql, Params::PostgresText(&params), bounds)
                .await
                .map_err(too_large_value)?;
            if let Bounded::Rows(rows) = &mut bounded
                && rows.columns.is_empty()
            {
                rows.columns = form.columns.clone();
            }
            bounded
        }
        Dialect::Mysql => {
            let params = prepared.ordered(params)?;
            let mut bounded = db
                .query_bound(prepared.sql(), Params::Mysql(&params), bounds)
                .await?;
            if let Bounded::Rows(rows) = &mut bounded
                && rows.columns.is_empty()
            {
                rows.columns = db.describe_columns(prepared.sql()).await?;
            }
            bounded
        }
    };
    match bounded {
        Bounded::Rows(rows) => Ok(rows),
        Bounded::TooManyRows => Err(too_large(true)),
        Bounded::TooManyBytes => Err(too_large(false)),
    }
}

/// Runs one statement once per parameter list: on SQLite a prepared statement stepped per
/// row on the connection's own handle; on PostgreSQL and MySQL as few statements joining the
/// batch's rows where the statement's shape allows it (`batch.rs`), else one prepared
/// statement executed per row with its values bound.
pub async fn execute_many(
    db: &mut Db,
    session: &Session,
    prepared: &Prepared,
    batch: &[Vec<Value>],
    grants: &Grants,
    implied: &mut Implied,
) -> Result<u64, SqlError> {
    if let Some(changed) = super::batch::execute(db, prepared, batch, grants, implied).await? {
        return Ok(changed);
    }
    let mut changed = 0u64;
    match session.dialect {
        Dialect::Sqlite => {
            let batch: Vec<&[Value]> = batch
                .iter()
                .map(|params| prepared.numbered(params))
                .collect::<Result<_, _>>()?;
            changed = sqlite(db, session, |conn| {
                let mut statement = authorizer::prepare(conn, prepared.sql(), &session.checker)?;
                let mut changed = 0u64;
                for params in batch {
                    bind(&mut statement, params)?;
                    changed += statement.raw_execute()? as u64;
                }
                Ok(changed)
            })
            .await?;
        }
        Dialect::Postgres => {
            let form = postgres_form(db, prepared).await?;
            for params in batch {
                let params = postgres_params(prepared, params)?;
                confirm_plan(db, prepared, form, &params, grants).await?;
                changed += db
                    .execute_bound(&form.sql, Params::PostgresText(&params))
                    .await?;
            }
        }
        Dialect::Mysql => {
            for params in batch {
                let params = prepared.ordered(params)?;
                changed += db
                    .execute_bound(prepared.sql(), Params::Mysql(&params))
                    .await?;
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::cursor::tests::read_all;
    use crate::sandbox::guard::Grants;
    use crate::sandbox::statement;

    async fn sqlite_db() -> Db {
        let url = "sqlite::memory:".parse().unwrap();
        Db::connect(&url, &Default::default()).await.unwrap()
    }

    fn grants() -> Grants {
        Grants::new(&[], &["t".into()])
    }

    fn prepared(sql: &str) -> Prepared {
        statement::prepare(sql, Dialect::Sqlite, &grants()).unwrap()
    }

    const BYTES: usize = 1 << 30;

    #[tokio::test]
    async fn a_sqlite_statement_stops_at_the_deadline() {
        let mut db = sqlite_db().await;
        db.execute_script("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                       SELECT count(*) FROM c";
        let started = Instant::now();
        let (session, restore) =
            open_session(&mut db, started + Duration::from_millis(300), &grants())
                .await
                .unwrap();
        assert_eq!(restore, None);
        let err = query(&mut db, &session, &prepared(endless), &[], &grants(), BYTES)
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(err.to_string().contains("interrupted"), "{err}");
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3),
            "stopped after {elapsed:?}"
        );
        // The handler is gone with the call: the connection runs long statements again.
        let rows = db
            .query(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) \
                 SELECT count(*) FROM c",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(rows.scalar(), Some(&Value::Integer(200_000)));
    }

    #[tokio::test]
    async fn sqlite_values_read_back_as_their_declared_types() {
        let mut db = sqlite_db().await;
        db.execute_script(
            "CREATE TABLE t (b BOOLEAN, d DECIMAL_TEXT(10,2), j JSON_TEXT, u UUID_TEXT, \
             day DATE, at TIME, ts TIMESTAMP, plain TEXT, raw BLOB)",
        )
        .await
        .unwrap();
        let far = Instant::now() + Duration::from_secs(60);
        let (session, _) = open_session(&mut db, far, &grants()).await.unwrap();
        let insert = statement::prepare(
            "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            Dialect::Sqlite,
            &Grants::new(&[], &["t".into()]),
        )
        .unwrap();
        let row = vec![
            Value::Boolean(true),
            Value::Decimal("12.50".into()),
            Value::Json("{\"a\": 1}".into()),
            Value::Uuid("123e4567-e89b-12d3-a456-426614174000".into()),
            Value::Date("2026-01-02".into()),
            Value::Time("10:11:12".into()),
            Value::Timestamp("2026-01-02T10:11:12Z".into()),
            Value::Text("it's".into()),
            Value::Blob(vec![0, 1, 255]),
        ];
        let changed = execute_many(
            &mut db,
            &session,
            &insert,
            &[row.clone(), row.clone()],
            &grants(),
            &mut Default::default(),
        )
        .await
        .unwrap();
        assert_eq!(changed, 2);
        let rows = query(
            &mut db,
            &session,
            &prepared("SELECT * FROM t"),
            &[],
            &grants(),
            BYTES,
        )
        .await
        .unwrap();
        assert_eq!(rows.rows, [row.clone(), row.clone()]);
        assert_eq!(
            read_all(&mut db, &session, "SELECT * FROM t").await,
            [row.clone(), row]
        );
        let err = execute_many(
            &mut db,
            &session,
            &insert,
            &[vec![Value::Null]],
            &grants(),
            &mut Default::default(),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("uses 9 parameter(s) but 1 were given"),
            "{err}"
        );
    }
}
