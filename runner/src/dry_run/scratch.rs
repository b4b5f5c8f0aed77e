//! Where a dry run runs, so that nothing of it reaches the database it previews:
//!
//! * SQLite: a copy of the file (`VACUUM INTO`, a consistent snapshot) in a temporary folder,
//!   removed at the end. The database itself is only read.
//! * PostgreSQL, where DDL is transactional: the database itself, inside one transaction that
//!   is rolled back at the end ([`Db::hold_transaction`]; each revision's own transaction is a
//!   savepoint in it), with the migration lock held throughout. Sequences are the one thing a
//!   rollback does not undo: runner puts `runner_history`'s back, and reports any other that
//!   moved.
//! * MySQL/MariaDB, where DDL commits as it runs: a scratch database on the same server,
//!   `runner_dry_<random>`, holding a copy of every table (rows included, read in one
//!   consistent snapshot), view and trigger, dropped at the end.
//!
//! A dry run killed at any point leaves the database as it was, so the next `upgrade` sees
//! what it would have seen without it: on SQLite only the copy in the temporary folder is
//! left; on PostgreSQL the server rolls the transaction back and ends the advisory lock with
//! the session (killed between the rollback and the `setval`, `runner_history`'s ids skip a
//! few numbers, which nothing relies on); on MySQL the scratch database is left, and the next
//! dry run names it in its notes.

use std::collections::BTreeMap;

use rand::RngExt as _;

use crate::db::{ConnectOptions, Db, DbError, Value, lock};
use crate::dialect_kind::Dialect;
use crate::version_table::HISTORY_TABLE;

/// How the dry run kept its changes away from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// It ran on a copy of the SQLite file.
    Copy,
    /// It ran in one transaction that was rolled back.
    RolledBack,
    /// It ran on a scratch database, a copy of this one, since dropped.
    ScratchDatabase,
}

/// Why the dry run could not set up (or clear away) its scratch copy.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("cannot make a scratch copy of the SQLite database: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "a dry run on MySQL copies the database into a scratch database `{name}` on the same server, and it could not be made: {source}; grant this user CREATE and DROP on `runner\\_dry\\_%`.*"
    )]
    CreateDatabase {
        name: String,
        #[source]
        source: DbError,
    },
    #[error("{0}")]
    Url(#[from] crate::db::url::UrlError),
    #[error("the MySQL URL names no database to copy")]
    NoDatabase,
    #[error("cannot copy {what} into the scratch database: {source}")]
    Copy {
        what: String,
        #[source]
        source: DbError,
    },
}

/// The scratch copy a dry run works on, until [`Scratch::finish`].
pub enum Scratch {
    Copy {
        db: Db,
        _dir: tempfile::TempDir,
    },
    RolledBack {
        /// `runner_history`'s id sequence before the run: its name, `last_value` and
        /// `is_called`.
        history_sequence: Option<(String, i64, bool)>,
        sequences: BTreeMap<String, Option<i64>>,
    },
    ScratchDatabase {
        db: Db,
        name: String,
    },
}

/// What setting up the scratch copy found worth saying.
pub type Notes = Vec<String>;

impl Scratch {
    /// Makes the scratch copy of the database `live` is connected to; `live` exists (for SQLite,
    /// see [`Scratch::empty_sqlite`]).
    pub async fn open(live: &mut Db, notes: &mut Notes) -> Result<Scratch, ScratchError> {
        match live.dialect() {
            Dialect::Sqlite => copy_sqlite(live).await,
            Dialect::Postgres => hold(live).await,
            Dialect::Mysql => copy_mysql(live, notes).await,
        }
    }

    /// An empty SQLite database in a temporary folder: the dry run of a database file that
    /// does not exist yet.
    pub async fn empty_sqlite(options: &ConnectOptions) -> Result<Scratch, ScratchError> {
        let dir = tempfile::tempdir()?;
        let db = connect_file(&dir.path().join("dry-run.sqlite"), options).await?;
        Ok(Scratch::Copy { db, _dir: dir })
    }

    /// How this scratch copy keeps the database apart.
    pub fn isolation(&self) -> Isolation {
        match self {
            Self::Copy { .. } => Isolation::Copy,
            Self::RolledBack { .. } => Isolation::RolledBack,
            Self::ScratchDatabase { .. } => Isolation::ScratchDatabase,
        }
    }

    /// The connection the dry run migrates: the copy's, or `live` inside its transaction.
    pub fn db<'a>(&'a mut self, live: Option<&'a mut Db>) -> Option<&'a mut Db> {
        match self {
            Self::Copy { db, .. } | Self::ScratchDatabase { db, .. } => Some(db),
            Self::RolledBack { .. } => live,
        }
    }

    /// Throws the copy away (rolls the transaction back), whatever the dry run did; notes
    /// what a rollback could not undo.
    pub async fn finish(
        self,
        live: Option<&mut Db>,
        notes: &mut Notes,
    ) -> Result<(), ScratchError> {
        match self {
            Self::Copy { db, _dir } => {
                db.close().await.ok();
                drop(_dir);
                Ok(())
            }
            Self::RolledBack {
                history_sequence,
                sequences,
            } => {
                let Some(live) = live else {
                    return Ok(());
                };
                let rolled_back = live.end_held_transaction().await;
                let restored = match (&rolled_back, history_sequence) {
                    (Ok(()), Some((name, last, called))) => live
                        .query(
                            "SELECT setval($1::regclass, $2, $3)",
                            &[
                                Value::Text(name),
                                Value::Integer(last),
                                Value::Boolean(called),
                            ],
                        )
                        .await
                        .map(drop),
                    _ => Ok(()),
                };
                if rolled_back.is_ok() {
                    let now = pg_sequences(live).await.unwrap_or_default();
                    for (name, before) in &sequences {
                        let after = now.get(name).copied().flatten();
                        if after != *before {
                            notes.push(format!(
                                "sequence {name} moved from {} to {} (a rollback does not undo a sequence; other sessions may have used it meanwhile)",
                                shown(*before),
                                shown(after)
                            ));
                        }
                    }
                }
                let released = lock::release(live).await;
                rolled_back?;
                restored?;
                released?;
                Ok(())
            }
            Self::ScratchDatabase { db, name } => {
                db.close().await.ok();
                let Some(live) = live else {
                    return Ok(());
                };
                live.execute_simple(&format!("DROP DATABASE IF EXISTS `{name}`"))
                    .await?;
                Ok(())
            }
        }
    }
}

fn shown(value: Option<i64>) -> String {
    value.map_or("unused".into(), |v| v.to_string())
}

async fn connect_file(
    path: &std::path::Path,
    options: &ConnectOptions,
) -> Result<Db, ScratchError> {
    let url = format!("sqlite://{}", path.display()).parse()?;
    Ok(Db::connect(
        &url,
        &ConnectOptions {
            create_sqlite_file: true,
            ..options.clone()
        },
    )
    .await?)
}

async fn copy_sqlite(live: &mut Db) -> Result<Scratch, ScratchError> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("dry-run.sqlite");
    let target = path.display().to_string();
    live.execute("VACUUM INTO ?", &[Value::Text(target)])
        .await?;
    let db = connect_file(&path, &live.options()).await?;
    Ok(Scratch::Copy { db, _dir: dir })
}

/// PostgreSQL: the migration lock, the sequences as they are, and the held transaction.
async fn hold(live: &mut Db) -> Result<Scratch, ScratchError> {
    lock::acquire(live, live.options().lock_timeout).await?;
    let opened = async {
        let history_sequence = history_sequence(live).await?;
        let sequences = pg_sequences(live).await?;
        live.hold_transaction().await?;
        Ok::<_, DbError>(Scratch::RolledBack {
            history_sequence,
            sequences,
        })
    }
    .await;
    if opened.is_err()
        && let Err(e) = lock::release(live).await
    {
        tracing::warn!("could not release the migration lock: {e}");
    }
    Ok(opened?)
}

/// `runner_history`'s id sequence and where it stands (its `last_value`, and whether it was
/// ever used), if the table exists.
async fn history_sequence(live: &mut Db) -> Result<Option<(String, i64, bool)>, DbError> {
    let rows = live
        .query(
            "SELECT pg_get_serial_sequence($1, 'id')",
            &[Value::Text(HISTORY_TABLE.into())],
        )
        .await;
    // No such table yet: the rollback takes it away whole.
    let Some(name) = rows.ok().and_then(|r| r.scalar().and_then(Value::to_text)) else {
        return Ok(None);
    };
    let rows = live
        .query(
            "SELECT last_value FROM pg_sequences \
             WHERE format('%I.%I', schemaname, sequencename)::regclass = $1::regclass",
            &[Value::Text(name.clone())],
        )
        .await?;
    Ok(Some(match rows.scalar().and_then(Value::as_i64) {
        Some(last) => (name, last, true),
        None => (name, 1, false),
    }))
}

/// Every sequence the session can see, with its last value (`None`: never used).
async fn pg_sequences(live: &mut Db) -> Result<BTreeMap<String, Option<i64>>, DbError> {
    let rows = live
        .query(
            "SELECT format('%I.%I', schemaname, sequencename) AS name, last_value FROM pg_sequences ORDER BY 1",
            &[],
        )
        .await?;
    Ok(rows
        .rows
        .iter()
        .filter_map(|row| {
            let name = row.first().and_then(Value::to_text)?;
            Some((name, row.get(1).and_then(Value::as_i64)))
        })
        .collect())
}

/// A name no other dry run takes: `runner_dry_` and 12 hex digits.
fn scratch_name() -> String {
    let mut rng = rand::rng();
    let n: u64 = rng.random();
    format!("runner_dry_{:012x}", n & 0xffff_ffff_ffff)
}

/// MySQL: the scratch database, a copy of every table, view and trigger of the live one. The
/// migration lock is held while copying, so that no runner changes the database meanwhile.
async fn copy_mysql(live: &mut Db, notes: &mut Notes) -> Result<Scratch, ScratchError> {
    let source = live.url.database_name().ok_or(ScratchError::NoDatabase)?;
    let leftovers = live
        .query(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'runner\\_dry\\_%'",
            &[],
        )
        .await?;
    for name in leftovers
        .rows
        .iter()
        .filter_map(|r| r.first().and_then(Value::to_text))
    {
        notes.push(format!(
            "scratch database `{name}` is on the server: left by a dry run that did not finish (or one running now); drop it with DROP DATABASE `{name}` once no dry run runs"
        ));
    }
    let name = scratch_name();
    lock::acquire(live, live.options().lock_timeout).await?;
    let copied = copy_into(live, &source, &name, notes).await;
    let released = lock::release(live).await;
    let db = match copied {
        Ok(db) => db,
        Err(error) => {
            if let Err(e) = live
                .execute_simple(&format!("DROP DATABASE IF EXISTS `{name}`"))
                .await
            {
                tracing::warn!("could not drop the scratch database {name}: {e}");
            }
            return Err(error);
        }
    };
    released?;
    Ok(Scratch::ScratchDatabase { db, name })
}

async fn copy_into(
    live: &mut Db,
    source: &str,
    name: &str,
    notes: &mut Notes,
) -> Result<Db, ScratchError> {
    let charset = live
        .query(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            &[Value::Text(source.into())],
        )
        .await?;
    let text = |i: usize| {
        charset
            .rows
            .first()
            .and_then(|r| r.get(i))
            .and_then(Value::to_text)
            .filter(|t| t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    };
    let mut create = format!("CREATE DATABASE `{name}`");
    if let (Some(charset), Some(collation)) = (text(0), text(1)) {
        create.push_str(&format!(" CHARACTER SET {charset} COLLATE {collation}"));
    }
    live.execute_simple(&create)
        .await
        .map_err(|source| ScratchError::CreateDatabase {
            name: name.into(),
            source,
        })?;
    let url = live.url.with_database(Some(name))?;
    let mut db = Db::connect(&url, &live.options()).await?;
    let result = copy_objects(&mut db, source, name, notes).await;
    if let Err(e) = db.execute_simple("SET FOREIGN_KEY_CHECKS = 1").await {
        tracing::warn!("could not turn foreign key checks back on: {e}");
    }
    result?;
    Ok(db)
}

/// A MySQL identifier, quoted as the dialect renders it.
fn quote(name: &str) -> String {
    crate::dialect::renderer(Dialect::Mysql).quote(name)
}

/// The `SHOW CREATE TABLE` (or `VIEW`) text of `object` in `schema` (both quoted).
async fn show_create(
    db: &mut Db,
    kind: &str,
    schema: &str,
    object: &str,
) -> Result<String, DbError> {
    let shown = db
        .query(&format!("SHOW CREATE {kind} {schema}.{object}"), &[])
        .await?;
    Ok(shown
        .rows
        .first()
        .and_then(|r| r.get(1))
        .and_then(Value::to_text)
        .unwrap_or_default())
}

/// Qualified names of the source in a view's or trigger's text, pointed at the copy.
fn requalified(text: &str, source: &str, name: &str) -> String {
    text.replace(&format!("`{source}`."), &format!("`{name}`."))
}

async fn copy_objects(
    db: &mut Db,
    source: &str,
    name: &str,
    notes: &mut Notes,
) -> Result<(), ScratchError> {
    let copy_error = |what: String| move |source| ScratchError::Copy { what, source };
    let quoted_source = quote(source);
    db.execute_simple("SET FOREIGN_KEY_CHECKS = 0").await?;
    db.execute_simple(
        "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')",
    )
    .await?;
    let objects = db
        .query(
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
            &[Value::Text(source.into())],
        )
        .await?;
    let mut tables = Vec::new();
    let mut views = Vec::new();
    for row in &objects.rows {
        let (Some(table), Some(kind)) = (
            row.first().and_then(Value::to_text),
            row.get(1).and_then(Value::to_text),
        ) else {
            continue;
        };
        if kind == "VIEW" {
            views.push(table);
        } else {
            tables.push(table);
        }
    }
    for table in &tables {
        let quoted = quote(table);
        let ddl = show_create(db, "TABLE", &quoted_source, &quoted)
            .await
            .map_err(copy_error(format!("table {table}")))?;
        db.execute_script(&requalified(&ddl, source, name))
            .await
            .map_err(copy_error(format!("table {table}")))?;
    }
    // The rows of every table as of one moment.
    db.execute_simple("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await?;
    db.execute_simple("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await?;
    for table in &tables {
        let columns = db
            .query(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
                 AND COALESCE(GENERATION_EXPRESSION, '') = '' ORDER BY ORDINAL_POSITION",
                &[Value::Text(source.into()), Value::Text(table.clone())],
            )
            .await?;
        let list = columns
            .rows
            .iter()
            .filter_map(|r| r.first().and_then(Value::to_text))
            .map(|c| quote(&c))
            .collect::<Vec<_>>()
            .join(", ");
        let quoted = quote(table);
        db.execute_simple(&format!(
            "INSERT INTO {quoted} ({list}) SELECT {list} FROM {quoted_source}.{quoted}"
        ))
        .await
        .map_err(copy_error(format!("the rows of {table}")))?;
    }
    db.commit().await?;
    copy_views(db, source, name, &quoted_source, views).await?;
    copy_triggers(db, source, name).await?;
    let routines = db
        .query(
            "SELECT (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?) + \
             (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?)",
            &[Value::Text(source.into()), Value::Text(source.into())],
        )
        .await?;
    if let Some(n) = routines.scalar().and_then(Value::as_i64).filter(|n| *n > 0) {
        notes.push(format!(
            "{n} stored routine(s) or event(s) of `{source}` are not copied into the scratch database"
        ));
    }
    Ok(())
}

/// Views, in an order that works: one that uses another waits for it.
async fn copy_views(
    db: &mut Db,
    source: &str,
    name: &str,
    quoted_source: &str,
    mut views: Vec<String>,
) -> Result<(), ScratchError> {
    while !views.is_empty() {
        let tried = views.len();
        let mut failed = Vec::new();
        let mut last_error = None;
        for view in std::mem::take(&mut views) {
            let quoted = quote(&view);
            let ddl = show_create(db, "VIEW", quoted_source, &quoted).await?;
            // The view as this user defines it (another DEFINER needs SUPER).
            let ddl = match (ddl.find(" DEFINER="), ddl.find(" SQL SECURITY")) {
                (Some(start), Some(end)) if start < end => {
                    format!("{}{}", &ddl[..start], &ddl[end..])
                }
                _ => ddl,
            };
            if let Err(e) = db.execute_script(&requalified(&ddl, source, name)).await {
                last_error = Some((view.clone(), e));
                failed.push(view);
            }
        }
        if let Some((view, source)) = last_error
            && failed.len() == tried
        {
            // None of them could be made: not a matter of order.
            return Err(ScratchError::Copy {
                what: format!("view {view}"),
                source,
            });
        }
        views = failed;
    }
    Ok(())
}

async fn copy_triggers(db: &mut Db, source: &str, name: &str) -> Result<(), ScratchError> {
    let triggers = db
        .query(
            "SELECT TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_STATEMENT \
             FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER",
            &[Value::Text(source.into())],
        )
        .await?;
    for row in &triggers.rows {
        let text = |i: usize| row.get(i).and_then(Value::to_text).unwrap_or_default();
        let trigger = text(0);
        let (timing, event) = (text(1), text(2));
        if !matches!(timing.as_str(), "BEFORE" | "AFTER")
            || !matches!(event.as_str(), "INSERT" | "UPDATE" | "DELETE")
        {
            return Err(ScratchError::Copy {
                what: format!("trigger {trigger}"),
                source: DbError::Denied(format!("unexpected timing or event: {timing} {event}")),
            });
        }
        let sql = format!(
            "CREATE TRIGGER {} {} {} ON {} FOR EACH ROW {}",
            quote(&trigger),
            timing,
            event,
            quote(&text(3)),
            requalified(&text(4), source, name)
        );
        db.execute_script(&sql)
            .await
            .map_err(|source| ScratchError::Copy {
                what: format!("trigger {trigger}"),
                source,
            })?;
    }
    Ok(())
}
