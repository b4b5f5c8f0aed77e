//! The `db` and `log` imports a transform calls, as the WIT declares them: values converted at
//! the boundary, every statement through [`HostState`]'s guard and limits, cursors as
//! resources in the store's table.

use wasmtime::component::Resource;
use wasmtime_wasi::{WasiCtxView, WasiView};

use super::{
    GuestCursor, HostState, LogLevel, MAX_CURSORS, MAX_LOG_BYTES, MAX_MESSAGE_CHARS, PANIC_PREFIX,
    Stats, bounded_text,
};
use crate::db::{Rows, Value};
use crate::dialect_kind::Dialect;
use crate::sandbox::bindings::runner::transform::{db as wit_db, log as wit_log};
use crate::sandbox::cursor;
use crate::sandbox::sql;

pub(super) fn to_value(value: wit_db::Value) -> Value {
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
        Ok(self.run_query(sql, params).await?.map(rows_of))
    }

    async fn start_query(
        &mut self,
        sql: String,
        params: Vec<wit_db::Value>,
    ) -> wasmtime::Result<Result<Resource<super::GuestPending>, wit_db::DbError>> {
        let params: Vec<Value> = params.into_iter().map(to_value).collect();
        HostState::start_query(self, sql, params).await
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
        self.settle_behind().await?;
        let params: Vec<Value> = params.into_iter().map(to_value).collect();
        if self.cursors.len() >= MAX_CURSORS {
            let reason = format!(
                "a transform may hold at most {MAX_CURSORS} cursors open at once: drop the ones it is done with"
            );
            self.violate(reason.clone());
            return Ok(Err(wit_db::DbError::Limit(reason)));
        }
        let (session, prepared) = match self
            .begin_settled(&sql, std::slice::from_ref(&params))
            .await?
        {
            Ok(taken) => taken,
            Err(error) => return Ok(Err(error)),
        };
        self.next_cursor += 1;
        let id = self.next_cursor;
        let backstop = self.backstop();
        let Some(db) = self.db.as_mut() else {
            return Ok(Err(no_database()));
        };
        let outcome = tokio::time::timeout(
            backstop,
            cursor::open_cursor(db, &session, &prepared, &params, id, &self.grants),
        )
        .await;
        match self.finish(&session, &sql, outcome).await? {
            Ok(cursor) => {
                self.cursors.insert(id, (cursor, prepared));
                Ok(Ok(self.table.push(GuestCursor { id })?))
            }
            Err(error) => Ok(Err(error)),
        }
    }

    async fn open_writer(
        &mut self,
        sql: String,
    ) -> wasmtime::Result<Result<Resource<super::GuestWriter>, wit_db::DbError>> {
        HostState::open_writer(self, sql).await
    }
}

fn no_database() -> wit_db::DbError {
    wit_db::DbError::Denied("no database is open here".into())
}

/// Rows as the guest receives them.
pub(super) fn rows_of(rows: Rows) -> wit_db::Rows {
    wit_db::Rows {
        columns: rows.columns,
        rows: rows_out(rows.rows),
    }
}

impl HostState {
    /// Runs a checked query now, after the work queued behind the transform.
    pub(super) async fn run_query(
        &mut self,
        sql: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<Rows, wit_db::DbError>> {
        self.settle_behind().await?;
        let (session, prepared) = match self
            .begin_settled(&sql, std::slice::from_ref(&params))
            .await?
        {
            Ok(taken) => taken,
            Err(error) => return Ok(Err(error)),
        };
        let backstop = self.backstop();
        let Some(db) = self.db.as_mut() else {
            return Ok(Err(no_database()));
        };
        let outcome = tokio::time::timeout(
            backstop,
            sql::query(
                db,
                &session,
                &prepared,
                &params,
                &self.grants,
                session.value_bytes,
            ),
        )
        .await;
        let result = self.finish(&session, &sql, outcome).await?;
        Ok(result.inspect(|rows| {
            Stats::add(
                &mut self.stats.rows_read,
                &prepared.allowed.tables,
                rows.rows.len() as u64,
            );
        }))
    }

    /// Runs one checked statement once per parameter list, after the work queued behind.
    pub(super) async fn execute_batch(
        &mut self,
        sql: String,
        batch: Vec<Vec<Value>>,
    ) -> wasmtime::Result<Result<u64, wit_db::DbError>> {
        self.settle_behind().await?;
        let (session, prepared) = match self.begin_settled(&sql, &batch).await? {
            Ok(taken) => taken,
            Err(error) => return Ok(Err(error)),
        };
        let backstop = self.backstop();
        let Some(db) = self.db.as_mut() else {
            return Ok(Err(no_database()));
        };
        let outcome = tokio::time::timeout(
            backstop,
            sql::execute_many(
                db,
                &session,
                &prepared,
                &batch,
                &self.grants,
                &mut self.implied,
            ),
        )
        .await;
        let result = self.finish(&session, &sql, outcome).await?;
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
        self.settle_behind().await?;
        if let Err(error) = self.refuse_after_violation() {
            return Ok(Err(error));
        }
        let Some((mut open, prepared)) = self.cursors.remove(&id) else {
            return Ok(Ok(Vec::new()));
        };
        let session = match self.session().await {
            Ok(session) => session,
            Err(error) => {
                self.cursors.insert(id, (open, prepared));
                return Ok(Err(error));
            }
        };
        let backstop = self.backstop();
        let Some(db) = self.db.as_mut() else {
            return Ok(Err(no_database()));
        };
        let outcome = tokio::time::timeout(
            backstop,
            cursor::fetch(db, &session, &mut open, max, session.value_bytes),
        )
        .await;
        let result = self.finish(&session, "FETCH (cursor)", outcome).await;
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
        self.settle_behind().await?;
        if let (Some((open, _)), Some(db), Some(session)) = (
            self.cursors.remove(&id),
            self.db.as_mut(),
            self.session.clone(),
        ) {
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
        // Keep what a hostile transform can make the host hold or print bounded, and free of
        // anything a terminal would obey.
        if self.logged_bytes >= MAX_LOG_BYTES {
            return Ok(());
        }
        let mut message = bounded_text(&message, MAX_MESSAGE_CHARS);
        self.logged_bytes += message.len();
        if self.logged_bytes >= MAX_LOG_BYTES {
            message = format!(
                "the transform logged more than {} KiB: its further messages are dropped",
                MAX_LOG_BYTES >> 10
            );
        }
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
