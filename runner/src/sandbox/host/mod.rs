//! The host side of the WIT: the state a transform's store holds (the lent connection, the
//! grants, the limits, an empty WASI context) and how it runs a statement; `wit.rs` holds the
//! `db` and `log` imports themselves. Every statement goes through the guard; a refused
//! statement or a reached limit is remembered and fails the step even if the transform
//! carries on.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::WasiCtx;

use super::bindings::runner::transform::db as wit_db;
use super::cursor;
use super::guard::Grants;
pub use super::limits::Limits;
use super::sql::{self, Session, SqlError};
use super::statement::{self, Prepared};
pub use super::text::{bounded_text, humanize, statement_text};
use crate::db::Db;
use crate::dialect_kind::Dialect;

mod behind;
mod wit;

pub use behind::{GuestPending, GuestWriter, MAX_WRITERS};

/// The most host memory a run's cache of checked statements may take, in bytes (a quarter of
/// the step's memory at most).
const PREPARED_CACHE_BYTES: usize = 16 << 20;
/// The longest message of a transform the host keeps or prints, in characters.
pub(super) const MAX_MESSAGE_CHARS: usize = 4096;
/// How much a transform may log in all, in bytes; past it, one line says that the rest was
/// dropped.
const MAX_LOG_BYTES: usize = 256 << 10;
/// How long a cancelled statement may take to end before its connection is given up.
pub(super) const CANCEL_WAIT: Duration = Duration::from_millis(400);
/// How many cursors a transform may hold open at once.
pub const MAX_CURSORS: usize = 64;
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

/// A cursor the guest holds: a key into the host's open cursors.
pub struct GuestCursor {
    id: u64,
}

/// PostgreSQL's SQLSTATE for a statement in a transaction an earlier error aborted.
const IN_FAILED_TRANSACTION: &str = "25P02";

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
    /// About how many bytes `prepared` holds.
    prepared_bytes: usize,
    /// The writes that cascades and triggers imply, as read from the catalog.
    implied: super::implied::Implied,
    /// How many bytes of messages the transform has logged.
    logged_bytes: usize,
    table: ResourceTable,
    wasi: WasiCtx,
    pub(super) limits: Limits,
    deadline: Instant,
    timeout: Duration,
    listener: Option<Arc<dyn TransformListener>>,
    next_cursor: u64,
    /// Open cursors by id, with the statement each reads.
    cursors: HashMap<u64, (cursor::Cursor, Arc<Prepared>)>,
    next_writer: u64,
    /// Open writers by id.
    writers: HashMap<u64, behind::OpenWriter>,
    /// The work queued behind the transform, oldest first (see `behind.rs`).
    running: VecDeque<behind::Queued>,
    next_pending: u64,
    /// The rows of queries started with `start-query`, by id.
    pending: HashMap<u64, behind::PendingRows>,
    /// About how many bytes the rows in `pending` hold.
    pending_bytes: usize,
    /// The first error of a batch written behind that the guest never received.
    unreported: Option<String>,
    /// The first statement PostgreSQL failed, and why: after it, every statement fails with
    /// "current transaction is aborted" (25P02), which says nothing of the cause.
    first_failure: Option<String>,
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
            prepared_bytes: 0,
            implied: Default::default(),
            logged_bytes: 0,
            table: ResourceTable::new(),
            wasi: super::wasi::empty_context(),
            limits: Limits::new(config.memory_bytes),
            deadline: Instant::now() + config.timeout,
            timeout: config.timeout,
            listener: config.listener,
            next_cursor: 0,
            cursors: HashMap::new(),
            next_writer: 0,
            writers: HashMap::new(),
            running: VecDeque::new(),
            next_pending: 0,
            pending: HashMap::new(),
            pending_bytes: 0,
            unreported: None,
            first_failure: None,
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
        (self.timeout / 50).clamp(Duration::from_millis(100), Duration::from_millis(250))
    }

    /// How long a call may wait for the database: the deadline, plus the server's slack and
    /// a moment for its answer. SQLite and the servers stop a statement at the deadline
    /// themselves; past this the statement is cancelled from another connection (MySQL's
    /// limit covers only SELECT, and no server limit covers a lock wait on MySQL).
    fn backstop(&self) -> Duration {
        self.remaining() + Duration::from_millis(200)
    }

    /// How many bytes of results the host may hold for one call: half of what the step's
    /// memory cap leaves once the guest's memories and the statement cache are counted (the
    /// other half is for the guest, which receives the rows into its own memory).
    fn result_budget(&self) -> usize {
        self.limits
            .cap
            .saturating_sub(self.limits.used)
            .saturating_sub(self.prepared_bytes)
            .saturating_sub(self.pending_bytes)
            / 2
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
        let bytes = sql.len() + prepared.held_bytes();
        let bound = PREPARED_CACHE_BYTES.min(self.limits.cap / 4);
        if self.prepared_bytes + bytes > bound {
            self.prepared.clear();
            self.prepared_bytes = 0;
        }
        if bytes <= bound {
            self.prepared_bytes += bytes;
            self.prepared.insert(sql.to_string(), prepared.clone());
        }
        Ok(prepared)
    }

    /// Once one statement was refused, the sandbox stays shut for the rest of the run.
    fn refuse_after_violation(&self) -> Result<(), wit_db::DbError> {
        match &self.violation {
            Some(violation) => Err(wit_db::DbError::Denied(format!(
                "an earlier statement was refused ({}); nothing more runs",
                bounded_text(violation, 200)
            ))),
            None => Ok(()),
        }
    }

    /// Opens the session on first use and keeps the server's statement time limit within the
    /// deadline; returns the session for one call. A missing connection or a failed setup is
    /// the guest's error.
    async fn session(&mut self) -> Result<Session, wit_db::DbError> {
        let slack = self.server_slack();
        let remaining = self.remaining();
        let deadline = self.deadline;
        let Some(db) = self.db.as_mut() else {
            return Err(wit_db::DbError::Denied("no database is open here".into()));
        };
        let prepared = async {
            let session = match &self.session {
                Some(session) => session.clone(),
                None => {
                    let (session, restore) = sql::open_session(db, deadline, &self.grants).await?;
                    self.session = Some(session.clone());
                    self.restore_limit = restore;
                    session
                }
            };
            if session.dialect != Dialect::Sqlite
                && self.limited_at.is_none_or(|at| at.elapsed() >= slack)
            {
                sql::limit_statements(db, &session, remaining).await?;
                self.limited_at = Some(Instant::now());
            }
            Ok::<_, crate::db::DbError>(session)
        }
        .await;
        match prepared {
            Ok(mut session) => {
                // A server's driver reads each row whole into a buffer of its own before the
                // values are decoded: counted as a second copy.
                session.value_bytes = match session.dialect {
                    Dialect::Sqlite => self.result_budget(),
                    Dialect::Postgres | Dialect::Mysql => self.result_budget() / 2,
                };
                Ok(session)
            }
            Err(error) => Err(wit_db::DbError::Sql(bounded_text(&error.to_string(), 2000))),
        }
    }

    /// Checks `sql` with the guard, then readies the session to run it.
    async fn begin_statement(
        &mut self,
        sql: &str,
    ) -> Result<(Session, Arc<Prepared>), wit_db::DbError> {
        self.refuse_after_violation()?;
        let prepared = match self.prepare(sql) {
            Ok(prepared) => prepared,
            Err(error) => return Err(self.guest_error(sql, error)),
        };
        let session = self.session().await?;
        if !prepared.allowed.writes.is_empty()
            && prepared.implied_checked.get().is_none()
            && let Some(db) = self.db.as_mut()
        {
            match self
                .implied
                .check(db, &prepared.allowed, &self.grants)
                .await
            {
                Ok(Ok(())) => {
                    let _ = prepared.implied_checked.set(());
                }
                Ok(Err(reason)) => {
                    return Err(self.guest_error(sql, SqlError::Denied(reason)));
                }
                Err(error) => {
                    return Err(wit_db::DbError::Sql(bounded_text(&error.to_string(), 2000)));
                }
            }
        }
        Ok((session, prepared))
    }

    /// [`HostState::begin_statement`], then [`HostState::settle_cursors`] for the values the
    /// statement runs with: how every call that runs a statement on the connection starts.
    async fn begin_settled(
        &mut self,
        sql: &str,
        batch: &[Vec<crate::db::Value>],
    ) -> wasmtime::Result<Result<(Session, Arc<Prepared>), wit_db::DbError>> {
        let (session, prepared) = match self.begin_statement(sql).await {
            Ok(taken) => taken,
            Err(error) => return Ok(Err(error)),
        };
        Ok(self
            .settle_cursors(&session, &prepared, batch)
            .await?
            .map(|()| (session, prepared)))
    }

    /// Before a statement that writes: copies aside what open cursors have not read yet where
    /// the statement could change it (see `cursor::settle`).
    async fn settle_cursors(
        &mut self,
        session: &Session,
        prepared: &Prepared,
        batch: &[Vec<crate::db::Value>],
    ) -> wasmtime::Result<Result<(), wit_db::DbError>> {
        if prepared.allowed.writes.is_empty() || self.cursors.is_empty() {
            return Ok(Ok(()));
        }
        let backstop = self.backstop();
        let Some(db) = self.db.as_mut() else {
            return Ok(Err(wit_db::DbError::Denied(
                "no database is open here".into(),
            )));
        };
        let cursors = self
            .cursors
            .values_mut()
            .map(|(cursor, original)| (cursor, &**original));
        let settled = tokio::time::timeout(
            backstop,
            cursor::settle(db, session, cursors, prepared, batch, &self.grants),
        )
        .await;
        match settled {
            Ok(result) => Ok(result.map_err(|error| self.guest_error(prepared.sql(), error))),
            // Out of time: cancelled and failed as any statement past the deadline.
            Err(elapsed) => self.finish(session, prepared.sql(), Err(elapsed)).await,
        }
    }

    /// Turns a call's outcome into the guest's result; a call that ran out of time traps,
    /// after the statement still running (if any) is cancelled from another connection.
    async fn finish<T>(
        &mut self,
        session: &Session,
        sql: &str,
        outcome: Result<Result<T, SqlError>, tokio::time::error::Elapsed>,
    ) -> wasmtime::Result<Result<T, wit_db::DbError>> {
        self.stats.statements += 1;
        crate::crash::point(crate::crash::points::TRANSFORM_STATEMENT);
        let result = match outcome {
            // Stopped at the deadline (SQLite interrupted itself, the server's limit struck),
            // or failed past it: out of time either way.
            Ok(Err(SqlError::Db(_))) if Instant::now() >= self.deadline => None,
            Ok(result) => Some(result),
            Err(_) => {
                if let Some(db) = self.db.as_mut() {
                    sql::cancel(db, session).await;
                    // A server busy in a function that ignores the cancel keeps the connection
                    // until it is done: give it up rather than wait.
                    if !db.answers_within(CANCEL_WAIT).await {
                        db.abandon();
                    }
                }
                None
            }
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
            SqlError::Denied(reason) | SqlError::Db(crate::db::DbError::Denied(reason)) => {
                self.violate(format!("refused `{}`: {reason}", statement_text(sql)));
                wit_db::DbError::Denied(reason)
            }
            SqlError::Limit(reason) => {
                self.violate(reason.clone());
                wit_db::DbError::Limit(reason)
            }
            SqlError::Invalid(reason) => wit_db::DbError::Sql(reason),
            SqlError::Db(error) => wit_db::DbError::Sql(self.with_first_failure(sql, &error)),
        }
    }

    /// A database error's text; on PostgreSQL, "current transaction is aborted" also names
    /// the statement that failed first and why, the cause the guest needs to see.
    fn with_first_failure(&mut self, sql: &str, error: &crate::db::DbError) -> String {
        let text = bounded_text(&error.to_string(), 2000);
        if self.dialect != Dialect::Postgres {
            return text;
        }
        if error.code().as_deref() == Some(IN_FAILED_TRANSACTION) {
            if let Some(first) = &self.first_failure {
                return format!(
                    "{text}: PostgreSQL runs nothing more in a transaction once a statement in it failed, and the first to fail was {first}"
                );
            }
        } else if self.first_failure.is_none() {
            self.first_failure = Some(format!("`{}`: {text}", statement_text(sql)));
        }
        text
    }

    /// Waits for the work queued behind the transform, closes the cursors the guest left
    /// open and puts the server's statement time limit back, before the connection goes back
    /// to the revision (whose later steps must not inherit the limit). Fails if the limit
    /// could not be put back, or a batch failed without the guest seeing its error.
    pub async fn end_session(&mut self) -> Result<(), String> {
        // The work queued behind ends first; a batch whose error the guest never saw fails
        // the step.
        let written = self.end_behind().await;
        let (Some(db), Some(session)) = (self.db.as_mut(), self.session.clone()) else {
            return written;
        };
        for (_, (cursor, _)) in self.cursors.drain() {
            let _ = cursor::close(db, &session, cursor).await;
        }
        let restored =
            match self.restore_limit.take() {
                Some(restore) => db.execute_simple(&restore).await.map(drop).map_err(|e| {
                    format!("could not put the server's statement time limit back: {e}")
                }),
                None => Ok(()),
            };
        written.and(restored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::bindings::runner::transform::log::{self as wit_log, Host as _};

    #[tokio::test]
    async fn a_long_or_hostile_message_is_kept_short_and_harmless() {
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
        assert!(panic.starts_with("éé"), "{panic}");
        let more = 10 * MAX_MESSAGE_CHARS + PANIC_PREFIX.len() - MAX_MESSAGE_CHARS;
        assert!(
            panic.ends_with(&format!("... ({more} more characters)")),
            "{panic}"
        );
        assert!(panic.chars().count() < MAX_MESSAGE_CHARS + 40);
        state
            .log(
                wit_log::Level::Error,
                "\x1b[2J\x1b[31mFAKE\r\0 \u{202e}txt.exe".into(),
            )
            .await
            .unwrap();
        assert_eq!(
            state.last_error_log.as_deref(),
            Some("\\u{1b}[2J\\u{1b}[31mFAKE\\u{d}\\u{0} \\u{202e}txt.exe")
        );
        // Past the volume bound, messages are dropped with one line that says so.
        for _ in 0..(MAX_LOG_BYTES / MAX_MESSAGE_CHARS + 10) {
            state
                .log(wit_log::Level::Error, "x".repeat(MAX_MESSAGE_CHARS))
                .await
                .unwrap();
        }
        let last = state.last_error_log.clone().unwrap_or_default();
        assert!(last.contains("further messages are dropped"), "{last}");
        assert!(state.logged_bytes <= MAX_LOG_BYTES + 2 * MAX_MESSAGE_CHARS);
    }

    #[test]
    fn the_guest_sdk_marks_panics_as_the_host_reads_them() {
        let log = include_str!("../../../../guest-sdk/src/log.rs");
        let declared = format!("const PANIC_PREFIX: &str = {PANIC_PREFIX:?};");
        assert!(
            log.contains(&declared),
            "guest-sdk/src/log.rs must declare {declared}"
        );
    }
}
