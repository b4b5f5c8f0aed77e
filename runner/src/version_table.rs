//! The tables runner owns. `runner_version` keeps one row per applied head, as Alembic's
//! `alembic_version` does; `runner_history` keeps one row per applied, reverted, failed, stamped
//! or repaired revision, with its checksum, timing and how far it got, as sqlx's
//! `_sqlx_migrations` does.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::db::{Db, DbError, Value};
use crate::dialect::Dialect;

/// The version table.
pub const VERSION_TABLE: &str = "runner_version";
/// The history table.
pub const HISTORY_TABLE: &str = "runner_history";
/// Runner's own tables, which no revision or transform may touch.
pub const RESERVED_TABLES: [&str; 2] = [VERSION_TABLE, HISTORY_TABLE];
/// The prefix of the tables runner creates for a moment (`_runner_new_x` during a SQLite
/// rebuild, a transform's cursor tables).
pub const TEMPORARY_PREFIX: &str = "_runner_";

/// True for runner's own tables and the ones it creates for a moment.
pub fn is_runner_table(name: &str) -> bool {
    RESERVED_TABLES.contains(&name) || name.starts_with(TEMPORARY_PREFIX)
}

/// What happened to a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Upgraded.
    Applied,
    /// Downgraded.
    Reverted,
    /// Failed (and rolled back where the database allows).
    Failed,
    /// Failed part way through a step whose statements commit as they run (MySQL DDL, a
    /// `CONCURRENTLY` index): the steps before it are in, that one may be partly in.
    Incomplete,
    /// Started step by step (MySQL, `transactional: false`) and not finished (yet): if no
    /// runner holds the lock, the process died; the step after `steps_applied` may be in.
    Running,
    /// Recorded by `stamp` without running anything.
    Stamped,
    /// Checksum re-recorded by `repair`.
    Repaired,
}

impl Status {
    /// What a revision that finished in `direction` is.
    pub fn done(direction: Direction) -> Self {
        match direction {
            Direction::Up => Self::Applied,
            Direction::Down => Self::Reverted,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Reverted => "reverted",
            Self::Failed => "failed",
            Self::Incomplete => "incomplete",
            Self::Running => "running",
            Self::Stamped => "stamped",
            Self::Repaired => "repaired",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "applied" => Self::Applied,
            "reverted" => Self::Reverted,
            "failed" => Self::Failed,
            "incomplete" => Self::Incomplete,
            "running" => Self::Running,
            "stamped" => Self::Stamped,
            "repaired" => Self::Repaired,
            _ => return None,
        })
    }
}

/// Which way a revision ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    /// The word stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// One `runner_history` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub id: i64,
    pub revision: String,
    /// `up`, `down`, `stamp` or `repair`.
    pub direction: String,
    pub status: Status,
    pub checksum: Option<String>,
    pub started_at: String,
    pub duration_ms: i64,
    pub steps_applied: i64,
    pub steps_total: i64,
    pub error: Option<String>,
    pub runner_version: String,
}

/// A history row about to be written.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub revision: &'a str,
    pub direction: &'a str,
    pub status: Status,
    pub checksum: Option<&'a str>,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub steps_applied: usize,
    pub steps_total: usize,
    pub error: Option<&'a str>,
}

impl<'a> NewEntry<'a> {
    /// A row about `revision` with nothing done yet: no checksum, no time spent, no steps, no
    /// error. Set what differs with struct update syntax.
    pub fn new(
        revision: &'a str,
        direction: &'a str,
        status: Status,
        started_at: DateTime<Utc>,
    ) -> Self {
        Self {
            revision,
            direction,
            status,
            checksum: None,
            started_at,
            duration_ms: 0,
            steps_applied: 0,
            steps_total: 0,
            error: None,
        }
    }
}

/// The statements creating both tables: one template, the types that differ per dialect.
fn ddl(dialect: Dialect) -> [String; 2] {
    // (generated id, timestamp, long text, integer, table options)
    let (id, timestamp, long_text, int, options) = match dialect {
        Dialect::Sqlite => (
            "INTEGER PRIMARY KEY AUTOINCREMENT",
            "VARCHAR(40)",
            "TEXT",
            "INTEGER",
            "",
        ),
        Dialect::Postgres => (
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            "TIMESTAMPTZ",
            "TEXT",
            "INTEGER",
            "",
        ),
        Dialect::Mysql => (
            "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
            "DATETIME(6)",
            "LONGTEXT",
            "INT",
            " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        ),
    };
    [
        format!(
            "CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (revision VARCHAR(64) NOT NULL PRIMARY KEY){options}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (
                id {id},
                revision VARCHAR(64) NOT NULL,
                direction VARCHAR(8) NOT NULL,
                status VARCHAR(16) NOT NULL,
                checksum VARCHAR(64),
                started_at {timestamp} NOT NULL,
                duration_ms BIGINT NOT NULL,
                steps_applied {int} NOT NULL,
                steps_total {int} NOT NULL,
                error {long_text},
                runner_version VARCHAR(32) NOT NULL
            ){options}"
        ),
    ]
}

/// Creates both tables if they are missing. Call it holding the migration lock (or, on
/// SQLite, inside a write transaction): concurrent `CREATE TABLE IF NOT EXISTS` can race.
pub async fn ensure(db: &mut Db) -> Result<(), DbError> {
    for statement in ddl(db.dialect()) {
        db.execute_script(&statement).await?;
    }
    Ok(())
}

/// True if `runner_version` exists.
pub async fn exists(db: &mut Db) -> Result<bool, DbError> {
    db.table_exists(VERSION_TABLE).await
}

/// The revisions in `runner_version` (none if the table does not exist yet).
pub async fn heads(db: &mut Db) -> Result<Vec<String>, DbError> {
    if !exists(db).await? {
        return Ok(Vec::new());
    }
    read_heads(db).await
}

/// The revisions in `runner_version`, which must exist.
pub async fn read_heads(db: &mut Db) -> Result<Vec<String>, DbError> {
    let rows = db
        .query(
            &format!("SELECT revision FROM {VERSION_TABLE} ORDER BY revision"),
            &[],
        )
        .await?;
    Ok(rows.texts("revision").into_iter().flatten().collect())
}

/// Replaces the rows `old` by the rows `new`, touching only what differs.
pub async fn set_heads(db: &mut Db, old: &[String], new: &[String]) -> Result<(), DbError> {
    let p = db.param(1);
    for gone in old.iter().filter(|h| !new.contains(h)) {
        db.execute(
            &format!("DELETE FROM {VERSION_TABLE} WHERE revision = {p}"),
            &[Value::Text(gone.clone())],
        )
        .await?;
    }
    for added in new.iter().filter(|h| !old.contains(h)) {
        db.execute(
            &format!("INSERT INTO {VERSION_TABLE} (revision) VALUES ({p})"),
            &[Value::Text(added.clone())],
        )
        .await?;
    }
    Ok(())
}

/// A timestamp as stored in `started_at`.
pub fn timestamp(at: DateTime<Utc>) -> Value {
    Value::Timestamp(utc_text(at))
}

/// The one way `started_at` is shown: RFC 3339 in UTC, to the microsecond.
fn utc_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `started_at` as read back, in the form [`utc_text`] gives on every database: SQLite keeps the
/// text runner wrote, PostgreSQL a `timestamptz`, MySQL a `DATETIME` holding UTC.
fn started_text(value: &Value) -> String {
    let Some(text) = value.to_text() else {
        return String::new();
    };
    if let Ok(zoned) = DateTime::parse_from_rfc3339(&text) {
        return utc_text(zoned.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(&text, format) {
            return utc_text(naive.and_utc());
        }
    }
    text
}

/// Writes a history row and returns its id.
pub async fn insert(db: &mut Db, entry: &NewEntry<'_>) -> Result<i64, DbError> {
    let params: Vec<String> = (1..=10).map(|n| db.param(n)).collect();
    let insert = format!(
        "INSERT INTO {HISTORY_TABLE} (revision, direction, status, checksum, started_at, duration_ms, \
         steps_applied, steps_total, error, runner_version) VALUES ({})",
        params.join(", ")
    );
    let values = [
        Value::Text(entry.revision.into()),
        Value::Text(entry.direction.into()),
        Value::Text(entry.status.as_str().into()),
        entry
            .checksum
            .map_or(Value::Null, |c| Value::Text(c.into())),
        timestamp(entry.started_at),
        Value::Integer(entry.duration_ms),
        Value::Integer(entry.steps_applied as i64),
        Value::Integer(entry.steps_total as i64),
        entry.error.map_or(Value::Null, |e| Value::Text(e.into())),
        Value::Text(env!("CARGO_PKG_VERSION").into()),
    ];
    let id = match db.dialect() {
        Dialect::Mysql => db.insert(&insert, &values).await?,
        Dialect::Sqlite | Dialect::Postgres => db
            .query(&format!("{insert} RETURNING id"), &values)
            .await?
            .scalar()
            .and_then(Value::as_i64),
    };
    // Without it, the updates that follow the revision would change no row, silently.
    id.ok_or(DbError::NoInsertId {
        table: HISTORY_TABLE,
    })
}

/// Updates a history row as a revision progresses or ends.
pub async fn update(
    db: &mut Db,
    id: i64,
    status: Status,
    steps_applied: usize,
    duration_ms: i64,
    error: Option<&str>,
) -> Result<(), DbError> {
    let p: Vec<String> = (1..=5).map(|n| db.param(n)).collect();
    db.execute(
        &format!(
            "UPDATE {HISTORY_TABLE} SET status = {}, steps_applied = {}, duration_ms = {}, error = {} WHERE id = {}",
            p[0], p[1], p[2], p[3], p[4]
        ),
        &[
            Value::Text(status.as_str().into()),
            Value::Integer(steps_applied as i64),
            Value::Integer(duration_ms),
            error.map_or(Value::Null, |e| Value::Text(e.into())),
            Value::Integer(id),
        ],
    )
    .await?;
    Ok(())
}

/// Records that a step-by-step run stopped: its status, time and error, leaving
/// `steps_applied` as each step's own update left it (a step whose commit was lost with the
/// connection may be in or not; the row says what the database has).
pub async fn mark_stopped(
    db: &mut Db,
    id: i64,
    status: Status,
    duration_ms: i64,
    error: &str,
) -> Result<(), DbError> {
    let p: Vec<String> = (1..=4).map(|n| db.param(n)).collect();
    db.execute(
        &format!(
            "UPDATE {HISTORY_TABLE} SET status = {}, duration_ms = {}, error = {} WHERE id = {}",
            p[0], p[1], p[2], p[3]
        ),
        &[
            Value::Text(status.as_str().into()),
            Value::Integer(duration_ms),
            Value::Text(error.into()),
            Value::Integer(id),
        ],
    )
    .await?;
    Ok(())
}

/// History rows, newest first (all of them when `limit` is `None`).
pub async fn history(db: &mut Db, limit: Option<usize>) -> Result<Vec<HistoryEntry>, DbError> {
    if !exists(db).await? {
        return Ok(Vec::new());
    }
    let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
    let rows = db
        .query(
            &format!(
                "SELECT id, revision, direction, status, checksum, started_at, duration_ms, \
                 steps_applied, steps_total, error, runner_version FROM {HISTORY_TABLE} ORDER BY id DESC{limit}"
            ),
            &[],
        )
        .await?;
    Ok(rows
        .rows
        .iter()
        .map(|row| HistoryEntry {
            id: row[0].as_i64().unwrap_or_default(),
            revision: row[1].to_text().unwrap_or_default(),
            direction: row[2].to_text().unwrap_or_default(),
            status: row[3]
                .as_str()
                .and_then(Status::parse)
                .unwrap_or(Status::Failed),
            checksum: row[4].to_text(),
            started_at: started_text(&row[5]),
            duration_ms: row[6].as_i64().unwrap_or_default(),
            steps_applied: row[7].as_i64().unwrap_or_default(),
            steps_total: row[8].as_i64().unwrap_or_default(),
            error: row[9].to_text(),
            runner_version: row[10].to_text().unwrap_or_default(),
        })
        .collect())
}

/// The checksum each revision was last applied, stamped or repaired with, from the history
/// (newest first, as [`history`] returns it).
pub fn recorded_checksums(history: &[HistoryEntry]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for entry in history {
        let records = matches!(
            entry.status,
            Status::Applied | Status::Stamped | Status::Repaired
        );
        if records
            && !out.contains_key(&entry.revision)
            && let Some(checksum) = &entry.checksum
        {
            out.insert(entry.revision.clone(), checksum.clone());
        }
    }
    out
}

/// The newest row of each revision whose latest event left it half done: a step-by-step run
/// (MySQL, `transactional: false`) that died ([`Status::Running`]), failed inside a step that
/// commits as it runs ([`Status::Incomplete`]), or failed after some of its steps had
/// committed. From the history, newest first.
pub fn half_done(history: &[HistoryEntry]) -> Vec<&HistoryEntry> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for entry in history {
        if !seen.insert(entry.revision.as_str()) {
            continue;
        }
        let unfinished = matches!(entry.status, Status::Running | Status::Incomplete)
            || (entry.status == Status::Failed && entry.steps_applied > 0);
        if unfinished {
            out.push(entry);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_at_reads_back_the_same_on_every_database() {
        let written = "2026-11-24T12:00:00.123456Z";
        // SQLite: the text written; PostgreSQL: a timestamptz; MySQL: a naive DATETIME in UTC.
        for read in [
            Value::Text(written.into()),
            Value::Timestamp("2026-11-24T12:00:00.123456Z".into()),
            Value::Timestamp("2026-11-24T14:00:00.123456+02:00".into()),
            Value::Timestamp("2026-11-24T12:00:00.123456".into()),
        ] {
            assert_eq!(started_text(&read), written, "{read:?}");
        }
        assert_eq!(
            started_text(&Value::Timestamp("2026-11-24T12:00:00Z".into())),
            "2026-11-24T12:00:00.000000Z"
        );
    }

    #[test]
    fn the_tables_are_one_template() {
        for dialect in Dialect::ALL {
            let [version, history] = ddl(dialect);
            assert!(version.contains("runner_version (revision VARCHAR(64) NOT NULL PRIMARY KEY)"));
            assert!(history.contains("CREATE TABLE IF NOT EXISTS runner_history ("));
        }
        let [_, history] = ddl(Dialect::Postgres);
        assert!(
            history.contains("started_at TIMESTAMPTZ NOT NULL"),
            "{history}"
        );
        let [version, history] = ddl(Dialect::Mysql);
        assert!(
            version.ends_with(") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"),
            "{version}"
        );
        assert!(history.contains("error LONGTEXT,"), "{history}");
    }
}
