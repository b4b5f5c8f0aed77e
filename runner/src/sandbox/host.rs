//! The host side of the WIT: the state a transform's store holds (the lent connection, the
//! grants, the limits, an empty WASI context) and the `db` and `log` imports. Every statement
//! goes through the guard; a refused statement or a reached limit is remembered and fails the
//! step even if the transform carries on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::runner::transform::{db as wit_db, log as wit_log};
use super::cursor;
use super::guard::Grants;
use super::sql::{self, Session, SqlError};
use super::statement::{self, Prepared};
use crate::db::{Db, Value};
use crate::dialect::Dialect;

/// How many distinct statements a run keeps checked and ready.
const PREPARED_CACHE: usize = 1024;
/// The longest message of a transform the host keeps or prints, in characters.
const MAX_MESSAGE_CHARS: usize = 4096;
/// How the guest SDK marks the message of a panic (`PANIC_PREFIX` in guest-sdk/src/log.rs:
/// the two must stay equal; a test below checks it).
pub(super) const PANIC_PREFIX: &str = "panic: ";

/// Where a transform's messages and progress go.
pub trait TransformListener: Send + Sync {
    /// A message from the transform.
    fn log(&self, level: LogLevel, message: &str);
    /// How far the transform got.
    fn progress(&self, done: u64, total: Option<u64>);
}

/// How important a transform's message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// What a transform did to each table, for reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Rows returned by the queries and cursors that read each table (a join's rows count
    /// for each of its tables).
    pub rows_read: BTreeMap<String, u64>,
    /// Rows changed by the statements that write each table.
    pub rows_written: BTreeMap<String, u64>,
    pub statements: u64,
}

impl Stats {
    pub(super) fn add(counts: &mut BTreeMap<String, u64>, tables: &[String], rows: u64) {
        for table in tables {
            match counts.get_mut(table) {
                Some(count) => *count += rows,
                None => {
                    counts.insert(table.clone(), rows);
                }
            }
        }
    }
}

/// The store's limits. The memory cap holds for all of a component's memories together (a
/// component may have several), counted as they grow, and for its tables, which live in host
/// memory too.
pub struct Limits {
    cap: usize,
    used: usize,
    /// Set when a growth past the cap was refused: the run failed for want of memory.
    pub refused: bool,
}

impl Limits {
    fn new(cap_bytes: u64) -> Self {
        Self {
            cap: usize::try_from(cap_bytes).unwrap_or(usize::MAX),
            used: 0,
            refused: false,
        }
    }

    fn grow(&mut self, bytes: usize) -> wasmtime::Result<bool> {
        match self.used.checked_add(bytes) {
            Some(total) if total <= self.cap => {
                self.used = total;
                Ok(true)
            }
            // A trap, not a failed `memory.grow`: the guest cannot carry on without it.
            _ => {
                self.refused = true;
                Err(wasmtime::Error::msg(format!(
                    "the memory limit of {} bytes is reached",
                    self.cap
                )))
            }
        }
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|maximum| desired > maximum) {
            return Ok(false);
        }
        self.grow(desired.saturating_sub(current))
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        Err(error.context("the memory could not grow"))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|maximum| desired > maximum) {
            return Ok(false);
        }
        let elements = desired.saturating_sub(current);
        self.grow(elements.saturating_mul(std::mem::size_of::<usize>()))
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        Err(error.context("a table could not grow"))
    }

    fn instances(&self) -> usize {
        8
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        4
    }
}

/// A cursor the guest holds: a key into the host's open cursors.
pub struct GuestCursor {
    id: u64,
}

/// What a transform's store holds.
pub struct HostState {
    /// The revision's connection, lent for the run; `None` where only `info` is called.
    pub db: Option<Db>,
    session: Option<Session>,
    /// Puts the server's statement time limit back as it was, once the transform is done.
    restore_limit: Option<String>,
    /// When the server's statement time limit was last set to the remaining time.
    limited_at: Option<Instant>,
    /// The module's name, for messages logged without a listener.
    module: String,
    dialect: Dialect,
    grants: Grants,
    prepared: HashMap<String, Arc<Prepared>>,
    table: ResourceTable,
    wasi: WasiCtx,
    pub(super) limits: Limits,
    deadline: Instant,
    timeout: Duration,
    listener: Option<Arc<dyn TransformListener>>,
    next_cursor: u64,
    /// Open cursors by id, with the statement each reads.
    cursors: HashMap<u64, (cursor::Cursor, Arc<Prepared>)>,
    /// The first refused statement or reached limit: it fails the step.
    pub violation: Option<String>,
    /// The message of a panic, forwarded by the guest SDK's panic hook.
    pub panic: Option<String>,
    /// The last error the guest logged, for traps without a panic message.
    pub last_error_log: Option<String>,
    pub stats: Stats,
}

/// What a store is set up with.
pub struct HostConfig {
    pub db: Option<Db>,
    pub module: String,
    pub dialect: Dialect,
    pub grants: Grants,
    pub memory_bytes: u64,
    pub timeout: Duration,
    pub listener: Option<Arc<dyn TransformListener>>,
}

impl HostState {
    /// A state that lets the transform reach nothing but its grants.
    pub fn new(config: HostConfig) -> Self {
        Self {
            db: config.db,
            session: None,
            restore_limit: None,
            limited_at: None,
            module: config.module,
            dialect: config.dialect,
            grants: config.grants,
            prepared: HashMap::new(),
            table: ResourceTable::new(),
            wasi: super::wasi::empty_context(),
            limits: Limits::new(config.memory_bytes),
            deadline: Instant::now() + config.timeout,
            timeout: config.timeout,
            listener: config.listener,
            next_cursor: 0,
            cursors: HashMap::new(),
            violation: None,
            panic: None,
            last_error_log: None,
            stats: Stats::default(),
        }
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// How late past the deadline the server may stop a statement: its limit counts from
    /// each statement's start, so it is set again once this much time has passed.
    fn server_slack(&self) -> Duration {
        (self.timeout / 50).max(Duration::from_millis(100))
    }

    /// How long a call may wait for the database: the deadline, plus the server's slack and a
    /// second for its answer. SQLite and the servers stop a statement at the deadline
    /// themselves; this only catches a server that does not (MySQL's limit is for SELECT).
    fn backstop(&self) -> Duration {
        self.remaining() + self.server_slack() + Duration::from_secs(1)
    }

    /// Remembers the first violation; the step fails with it.
    fn violate(&mut self, message: String) {
        if self.violation.is_none() {
            self.violation = Some(message);
        }
    }

    fn prepare(&mut self, sql: &str) -> Result<Arc<Prepared>, SqlError> {
        if let Some(prepared) = self.prepared.get(sql) {
            return Ok(prepared.clone());
        }
        let prepared = Arc::new(statement::prepare(sql, self.dialect, &self.grants)?);
        if self.prepared.len() >= PREPARED_CACHE {
            self.prepared.clear();
        }
        self.prepared.insert(sql.to_string(), prepared.clone());
        Ok(prepared)
    }

    /// Once one statement was refused, the sandbox stays shut for the rest of the run.
    fn refuse_after_violation(&self) -> Result<(), wit_db::DbError> {
        match &self.violation {
            Some(violation) => Err(wit_db::DbError::Denied(format!(
                "an earlier statement was refused ({violation}); nothing more runs"
            ))),
            None => Ok(()),
        }
    }

    /// Takes the connection for one call, opening the session on first use and keeping the
    /// server's statement time limit within the deadline. A missing connection or a failed
    /// setup is the guest's error.
    async fn take_connection(&mut self) -> Result<(Db, Session), wit_db::DbError> {
        let Some(mut db) = self.db.take() else {
            return Err(wit_db::DbError::Denied("no database is open here".into()));
        };
        let prepared = async {
            let session = match self.session {
                Some(session) => session,
                None => {
                    let (session, restore) = sql::open_session(&mut db, self.deadline).await?;
                    self.session = Some(session);
                    self.restore_limit = restore;
                    session
                }
            };
            if session.dialect != Dialect::Sqlite
                && self
                    .limited_at
                    .is_none_or(|at| at.elapsed() >= self.server_slack())
            {
                sql::limit_statements(&mut db, &session, self.remaining()).await?;
                self.limited_at = Some(Instant::now());
            }
            Ok::<_, crate::db::DbError>(session)
        }
        .await;
        match prepared {
            Ok(session) => Ok((db, session)),
            Err(error) => {
                self.db = Some(db);
                Err(wit_db::DbError::Sql(error.to_string()))
            }
        }
    }

    /// Checks `sql` with the guard, then takes the connection to run it.
    async fn begin_statement(
        &mut self,
        sql: &str,
    ) -> Result<(Db, Session, Arc<Prepared>), wit_db::DbError> {
        self.refuse_after_violation()?;
        let prepared = match self.prepare(sql) {
            Ok(prepared) => prepared,
            Err(error) => return Err(self.guest_error(sql, error)),
        };
        let (db, session) = self.take_connection().await?;
        Ok((db, session, prepared))
    }

    /// Gives the connection back after a call and turns its outcome into the guest's result;
    /// a call that ran out of time traps.
    fn finish<T>(
        &mut self,
        db: Db,
        sql: &str,
        outcome: Result<Result<T, SqlError>, tokio::time::error::Elapsed>,
    ) -> wasmtime::Result<Result<T, wit_db::DbError>> {
        self.db = Some(db);
        self.stats.statements += 1;
        let result = match outcome {
            // Stopped at the deadline (SQLite interrupted itself, the server's limit struck),
            // or failed past it: out of time either way.
            Ok(Err(SqlError::Db(_))) if Instant::now() >= self.deadline => None,
            Ok(result) => Some(result),
            Err(_) => None,
        };
        let Some(result) = result else {
            let message = format!(
                "it ran out of time running `{}`: the limit is {}",
                statement_text(sql),
                humanize(self.timeout)
            );
            self.violate(message.clone());
            return Err(wasmtime::Error::msg(message));
        };
        Ok(result.map_err(|error| self.guest_error(sql, error)))
    }

    fn guest_error(&mut self, sql: &str, error: SqlError) -> wit_db::DbError {
        match error {
            SqlError::Denied(reason) => {
                self.violate(format!("refused `{}`: {reason}", statement_text(sql)));
                wit_db::DbError::Denied(reason)
            }
            SqlError::Limit(reason) => {
                self.violate(reason.clone());
                wit_db::DbError::Limit(reason)
            }
            SqlError::Invalid(reason) => wit_db::DbError::Sql(reason),
            SqlError::Db(error) => wit_db::DbError::Sql(error.to_string()),
        }
    }

    /// Closes the cursors the guest left open and puts the server's statement time limit
    /// back, before the connection goes back to the revision (whose later steps must not
    /// inherit the limit). Fails only if the limit could not be put back.
    pub async fn end_session(&mut self) -> Result<(), String> {
        let (Some(db), Some(session)) = (self.db.as_mut(), self.session) else {
            return Ok(());
        };
        for (_, (cursor, _)) in self.cursors.drain() {
            let _ = cursor::close(db, &session, cursor).await;
        }
        match self.restore_limit.take() {
            Some(restore) => {
                db.execute_simple(&restore).await.map(drop).map_err(|e| {
                    format!("could not put the server's statement time limit back: {e}")
                })
            }
            None => Ok(()),
        }
    }
}

/// A statement on one line, shortened, for messages.
fn statement_text(sql: &str) -> String {
    let statement: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    statement.chars().take(200).collect()
}

/// `5m`, `90s`, `250ms`.
pub fn humanize(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms.is_multiple_of(60_000) && ms >= 60_000 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn to_value(value: wit_db::Value) -> Value {
    match value {
        wit_db::Value::Null => Value::Null,
        wit_db::Value::Boolean(b) => Value::Boolean(b),
        wit_db::Value::Integer(i) => Value::Integer(i),
        wit_db::Value::Real(x) => Value::Real(x),
        wit_db::Value::Text(s) => Value::Text(s),
        wit_db::Value::Blob(b) => Value::Blob(b),
        wit_db::Value::Decimal(s) => Value::Decimal(s),
        wit_db::Value::Date(s) => Value::Date(s),
        wit_db::Value::Time(s) => Value::Time(s),
        wit_db::Value::Timestamp(s) => Value::Timestamp(s),
        wit_db::Value::Json(s) => Value::Json(s),
        wit_db::Value::Uuid(s) => Value::Uuid(s),
    }
}

fn from_value(value: Value) -> wit_db::Value {
    match value {
        Value::Null => wit_db::Value::Null,
        Value::Boolean(b) => wit_db::Value::Boolean(b),
        Value::Integer(i) => wit_db::Value::Integer(i),
        Value::Real(x) => wit_db::Value::Real(x),
        Value::Text(s) => wit_db::Value::Text(s),
        Value::Blob(b) => wit_db::Value::Blob(b),
        Value::Decimal(s) => wit_db::Value::Decimal(s),
        Value::Date(s) => wit_db::Value::Date(s),
        Value::Time(s) => wit_db::Value::Time(s),
        Value::Timestamp(s) => wit_db::Value::Timestamp(s),
        Value::Json(s) => wit_db::Value::Json(s),
        Value::Uuid(s) => wit_db::Value::Uuid(s),
    }
}

fn rows_out(rows: Vec<Vec<Value>>) -> Vec<Vec<wit_db::Value>> {
    rows.into_iter()
        .map(|row| row.into_iter().map(from_value).collect())
        .collect()
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wit_db::Host for HostState {
    async fn current_dialect(&mut self) -> wasmtime::Result<wit_db::Dialect> {
        Ok(match self.dialect {
            Dialect::Sqlite => wit_db::Dialect::Sqlite,
            Dialect::Postgres => wit_db::Dialect::Postgres,
            Dialect::Mysql => wit_db::Dialect::Mysql,
        })
    }

    async fn query(
        &mut self,
        sql: String,
        params: Vec<wit_db::Value>,
    ) -> wasmtime::Result<Result<wit_db::Rows, wit_db::DbError>> {
        let params: Vec<Value> = params.into_iter().map(to_value).collect();
        let (mut db, session, prepared) = match self.begin_statement(&sql).await {
            Ok(taken) => taken,
            Err(error) => return Ok(Err(error)),
        };
        let outcome = tokio::time::timeout(
            self.backstop(),
            sql::query(&mut db, &session, &prepared, &params),
        )
        .await;
        let result = self.finish(db, &sql, outcome)?;
        Ok(result.map(|rows| {
            Stats::add(
                &mut self.stats.rows_read,
                &prepared.allowed.tables,
                rows.rows.len() as u64,
            );
            wit_db::Rows {
                columns: rows.columns,
                rows: rows_out(rows.rows),
            }
        }))
    }

    async fn execute(
        &mut self,
        sql: String,
        params: Vec<wit_db::Value>,
    ) -> wasmtime::Result<Result<u64, wit_db::DbError>> {
        let params: Vec<Value> = params.into_iter().map(to_value).collect();
        self.execute_batch(sql, vec![params]).await
    }

    async fn execute_many(
        &mut self,
        sql: String,
        batch: Vec<Vec<wit_db::Value>>,
    ) -> wasmtime::Result<Result<u64, wit_db::DbError>> {
        let batch: Vec<Vec<Value>> = batch
            .into_iter()
            .map(|row| row.into_iter().map(to_value).collect())
            .collect();
        self.execute_batch(sql, batch).await
    }

    async fn open_cursor(
        &mut self,
        sql: String,
        params: Vec<wit_db::Value>,
    ) -> wasmtime::Result<Result<Resource<GuestCursor>, wit_db::DbError>> {
        let params: Vec<Value> = params.into_iter().map(to_value).collect();
        let (mut db, session, prepared) = match self.begin_statement(&sql).await {
            Ok(taken) => taken,
            Err(error) => return Ok(Err(error)),
        };
        self.next_cursor += 1;
        let id = self.next_cursor;
        let outcome = tokio::time::timeout(
            self.backstop(),
            cursor::open_cursor(&mut db, &session, &prepared, &params, id),
        )
        .await;
        match self.finish(db, &sql, outcome)? {
            Ok(cursor) => {
                self.cursors.insert(id, (cursor, prepared));
                Ok(Ok(self.table.push(GuestCursor { id })?))
            }
            Err(error) => Ok(Err(error)),
        }
    }
}

impl HostState {
    async fn execute_batch(
        &mut self,
        sql: String,
        batch: Vec<Vec<Value>>,
    ) -> wasmtime::Result<Result<u64, wit_db::DbError>> {
        let (mut db, session, prepared) = match self.begin_statement(&sql).await {
            Ok(taken) => taken,
            Err(error) => return Ok(Err(error)),
        };
        let outcome = tokio::time::timeout(
            self.backstop(),
            sql::execute_many(&mut db, &session, &prepared, &batch),
        )
        .await;
        let result = self.finish(db, &sql, outcome)?;
        Ok(result.inspect(|changed| {
            Stats::add(
                &mut self.stats.rows_written,
                &prepared.allowed.writes,
                *changed,
            );
        }))
    }
}

impl wit_db::HostCursor for HostState {
    async fn next(
        &mut self,
        cursor: Resource<GuestCursor>,
        max: u32,
    ) -> wasmtime::Result<Result<Vec<Vec<wit_db::Value>>, wit_db::DbError>> {
        let id = self.table.get(&cursor)?.id;
        if let Err(error) = self.refuse_after_violation() {
            return Ok(Err(error));
        }
        let Some((mut open, prepared)) = self.cursors.remove(&id) else {
            return Ok(Ok(Vec::new()));
        };
        let (mut db, session) = match self.take_connection().await {
            Ok(taken) => taken,
            Err(error) => {
                self.cursors.insert(id, (open, prepared));
                return Ok(Err(error));
            }
        };
        let outcome = tokio::time::timeout(
            self.backstop(),
            cursor::fetch(&mut db, &session, &mut open, max),
        )
        .await;
        let result = self.finish(db, "FETCH (cursor)", outcome);
        if let Ok(Ok(rows)) = &result {
            Stats::add(
                &mut self.stats.rows_read,
                &prepared.allowed.tables,
                rows.len() as u64,
            );
        }
        self.cursors.insert(id, (open, prepared));
        Ok(result?.map(rows_out))
    }

    async fn columns(&mut self, cursor: Resource<GuestCursor>) -> wasmtime::Result<Vec<String>> {
        let id = self.table.get(&cursor)?.id;
        Ok(self
            .cursors
            .get(&id)
            .map(|(c, _)| c.columns.clone())
            .unwrap_or_default())
    }

    async fn drop(&mut self, cursor: Resource<GuestCursor>) -> wasmtime::Result<()> {
        let id = self.table.delete(cursor)?.id;
        if let (Some((open, _)), Some(db), Some(session)) =
            (self.cursors.remove(&id), self.db.as_mut(), self.session)
        {
            let _ = cursor::close(db, &session, open).await;
        }
        Ok(())
    }
}

impl wit_log::Host for HostState {
    async fn log(&mut self, level: wit_log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            wit_log::Level::Debug => LogLevel::Debug,
            wit_log::Level::Info => LogLevel::Info,
            wit_log::Level::Warn => LogLevel::Warn,
            wit_log::Level::Error => LogLevel::Error,
        };
        // Keep what a hostile transform can make the host hold or print bounded.
        let message: String = match message.char_indices().nth(MAX_MESSAGE_CHARS) {
            Some((end, _)) => message[..end].to_string(),
            None => message,
        };
        match &self.listener {
            Some(listener) => listener.log(level, &message),
            None => tracing::debug!(target: "runner::transform", "{}: {message}", self.module),
        }
        if level == LogLevel::Error {
            if let Some(panic) = message.strip_prefix(PANIC_PREFIX) {
                self.panic = Some(panic.to_string());
            }
            self.last_error_log = Some(message);
        }
        Ok(())
    }

    async fn progress(&mut self, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        if let Some(listener) = &self.listener {
            listener.progress(done, total);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit_log::Host as _;

    #[test]
    fn the_memory_cap_holds_for_all_memories_together() {
        const MIB: usize = 1 << 20;
        let mut limits = Limits::new(64 << 20);
        // A component's two memories, created and grown: together they may not pass the cap.
        assert!(limits.memory_growing(0, 16 * MIB, None).unwrap());
        assert!(limits.memory_growing(0, 16 * MIB, None).unwrap());
        assert!(limits.memory_growing(16 * MIB, 40 * MIB, None).unwrap());
        assert!(!limits.refused);
        let err = limits.memory_growing(16 * MIB, 40 * MIB, None).unwrap_err();
        assert!(err.to_string().contains("memory limit"), "{err}");
        assert!(limits.refused);
        // Growth past a memory's own maximum fails as wasm says, without blaming the cap.
        let mut limits = Limits::new(64 << 20);
        assert!(!limits.memory_growing(0, 2 * MIB, Some(MIB)).unwrap());
        assert!(!limits.refused);
        // Tables live in host memory too.
        assert!(limits.table_growing(0, 1000, None).unwrap());
        assert!(limits.table_growing(1000, usize::MAX / 2, None).is_err());
        assert!(limits.refused);
    }

    #[tokio::test]
    async fn a_long_panic_message_is_kept_shortened() {
        let mut state = HostState::new(HostConfig {
            db: None,
            module: "test".into(),
            dialect: Dialect::Sqlite,
            grants: Grants::default(),
            memory_bytes: 1 << 20,
            timeout: Duration::from_secs(1),
            listener: None,
        });
        let long = format!("{PANIC_PREFIX}{}", "é".repeat(10 * MAX_MESSAGE_CHARS));
        state.log(wit_log::Level::Error, long).await.unwrap();
        let panic = state.panic.as_deref().unwrap_or_default();
        assert_eq!(
            panic.chars().count(),
            MAX_MESSAGE_CHARS - PANIC_PREFIX.len()
        );
        assert!(panic.chars().all(|c| c == 'é'));
        let logged = state.last_error_log.as_deref().unwrap_or_default();
        assert_eq!(logged.chars().count(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn the_guest_sdk_marks_panics_as_the_host_reads_them() {
        let (_, log) = crate::transforms::sdk::FILES
            .iter()
            .find(|(name, _)| *name == "src/log.rs")
            .expect("the SDK has src/log.rs");
        let declared = format!("const PANIC_PREFIX: &str = {PANIC_PREFIX:?};");
        assert!(
            log.contains(&declared),
            "guest-sdk/src/log.rs must declare {declared}"
        );
    }
}
