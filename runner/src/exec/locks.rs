//! Table locks: a step that gave up waiting for one (the session's `lock_timeout` /
//! `lock_wait_timeout`, see `ConnectOptions::ddl_lock_timeout`) is tried again a few times with
//! a growing pause, and the message that ends it names the sessions holding the table.

use std::time::Duration;

use super::{ActionError, Migrator};
use crate::db::{Db, Value};
use crate::dialect_kind::Dialect;
use crate::plan::PlannedStep;

/// The pause before the first retry; it doubles each time.
const FIRST_PAUSE: Duration = Duration::from_millis(500);

impl Migrator<'_> {
    /// After `step` failed with `error` on its `attempt`-th try (1-based): true, after a pause
    /// and a notice, if it gave up waiting for a lock and may be tried again.
    pub(super) async fn retry_after_lock_wait(
        &mut self,
        step: &PlannedStep,
        error: &ActionError,
        attempt: u32,
    ) -> bool {
        if !matches!(error, ActionError::Db(e) if e.is_lock_wait())
            || attempt > self.options.lock_retries
        {
            return false;
        }
        let pause = FIRST_PAUSE * 2u32.saturating_pow(attempt - 1);
        let holders = blockers(self.db, step.step.table()).await;
        self.progress.notice(&format!(
            "step {} ({}) gave up waiting for a lock{}; trying again in {pause:?} ({attempt} of {})",
            step.number,
            step.describe,
            holders.map(|h| format!(" ({h})")).unwrap_or_default(),
            self.options.lock_retries
        ));
        tokio::time::sleep(pause).await;
        true
    }

    /// `error` with the sessions that hold the step's table, if it is a lock wait that will
    /// not be tried again.
    pub(super) async fn explain_lock_wait(
        &mut self,
        step: &PlannedStep,
        error: ActionError,
    ) -> ActionError {
        if !matches!(&error, ActionError::Db(e) if e.is_lock_wait()) {
            return error;
        }
        let holders = blockers(self.db, step.step.table())
            .await
            .unwrap_or_else(|| "runner could not tell which session holds it".into());
        ActionError::Message(format!(
            "{error}: gave up waiting for a lock after {} tries; {holders}. Run it again once that session is done, or end it",
            self.options.lock_retries + 1
        ))
    }
}

/// The other sessions that hold a lock on `table` (PostgreSQL), or that have a transaction
/// open (MariaDB, whose metadata locks are not in its catalog without a plugin; MySQL's
/// `performance_schema.metadata_locks` is read where it has rows), in words; `None` if the
/// catalog does not say.
async fn blockers(db: &mut Db, table: Option<&str>) -> Option<String> {
    let table = table?;
    let (sql, params) = match db.dialect() {
        Dialect::Sqlite => return None,
        Dialect::Postgres => (
            "SELECT DISTINCT a.pid::bigint AS pid, coalesce(a.state, '') AS state, \
             coalesce(left(a.query, 120), '') AS query \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             JOIN pg_class c ON c.oid = l.relation \
             WHERE l.granted AND l.locktype = 'relation' AND c.relname = $1 \
             AND c.relnamespace = current_schema()::regnamespace AND l.pid <> pg_backend_pid() \
             ORDER BY 1",
            vec![Value::Text(table.into())],
        ),
        Dialect::Mysql => {
            let exact = db
                .query(
                    "SELECT DISTINCT t.PROCESSLIST_ID AS pid, coalesce(t.PROCESSLIST_STATE, '') AS state, \
                     coalesce(left(t.PROCESSLIST_INFO, 120), '') AS query \
                     FROM performance_schema.metadata_locks m JOIN performance_schema.threads t \
                     ON t.THREAD_ID = m.OWNER_THREAD_ID WHERE m.OBJECT_SCHEMA = DATABASE() \
                     AND m.OBJECT_NAME = ? AND m.LOCK_STATUS = 'GRANTED' \
                     AND t.PROCESSLIST_ID <> CONNECTION_ID() ORDER BY 1",
                    &[Value::Text(table.into())],
                )
                .await;
            if let Ok(rows) = exact
                && !rows.rows.is_empty()
            {
                return Some(describe(table, "holds a lock on", &rows.rows));
            }
            let open = db
                .query(
                    "SELECT t.trx_mysql_thread_id AS pid, concat('in a transaction since ', t.trx_started) AS state, \
                     coalesce(left(p.INFO, 120), '') AS query \
                     FROM information_schema.INNODB_TRX t \
                     LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
                     WHERE t.trx_mysql_thread_id <> CONNECTION_ID() ORDER BY 1",
                    &[],
                )
                .await
                .ok()?;
            if open.rows.is_empty() {
                return None;
            }
            return Some(describe(table, "may hold a lock on", &open.rows));
        }
    };
    let rows = db.query(sql, &params).await.ok()?;
    if rows.rows.is_empty() {
        return None;
    }
    Some(describe(table, "holds a lock on", &rows.rows))
}

/// "session 4711 (idle in transaction: SELECT ...) holds a lock on table `deals`".
fn describe(table: &str, verb: &str, rows: &[Vec<Value>]) -> String {
    let sessions: Vec<String> = rows
        .iter()
        .take(5)
        .map(|row| {
            let pid = row.first().and_then(Value::to_text).unwrap_or_default();
            let state = row.get(1).and_then(Value::to_text).unwrap_or_default();
            let query = row.get(2).and_then(Value::to_text).unwrap_or_default();
            let query = crate::sandbox::text::statement_text(&query);
            match (state.is_empty(), query.is_empty()) {
                (true, true) => format!("session {pid}"),
                (false, true) => format!("session {pid} ({state})"),
                (true, false) => format!("session {pid} (last statement: {query})"),
                (false, false) => format!("session {pid} ({state}; last statement: {query})"),
            }
        })
        .collect();
    let verb = if sessions.len() == 1 {
        verb.to_string()
    } else {
        verb.replacen("holds", "hold", 1)
    };
    format!("{} {verb} table `{table}`", sessions.join(", "))
}
