//! One runner at a time per database: a session-level PostgreSQL advisory lock or MySQL
//! `GET_LOCK`, both released by the server when the connection ends, and for a SQLite file an
//! exclusive `flock` on `<file>-runner.lock`, released by the kernel when the process ends: a
//! crashed runner never leaves a stale lock behind. SQLite's own write lock (`BEGIN
//! IMMEDIATE`, taken per revision) would not do alone: a `transactional: false` revision
//! commits step by step, and another runner could slip in between two steps. An in-memory
//! SQLite database has one connection and needs no lock.

use std::time::{Duration, Instant};

use super::{Db, DbError, Value};
use crate::dialect_kind::Dialect;

/// The advisory lock key: "runner" in ASCII. Advisory locks are per database on PostgreSQL.
const PG_LOCK_KEY: i64 = 0x0000_7275_6e6e_6572;

/// How often a waiting runner asks again.
const POLL: Duration = Duration::from_millis(100);

/// The `GET_LOCK` name: per database, since MySQL's named locks are per server.
fn mysql_lock_name(db: &Db) -> String {
    let name = format!("runner:{}", db.url.database_name().unwrap_or_default());
    name.chars().take(64).collect()
}

/// The lock file of a SQLite database file (none for an in-memory database).
fn sqlite_lock_path(db: &Db) -> Option<std::path::PathBuf> {
    let path = db.url.sqlite_path()?;
    let mut name = path.file_name()?.to_os_string();
    name.push("-runner.lock");
    Some(path.with_file_name(name))
}

/// Takes the migration lock, waiting up to `timeout` for another runner to finish.
pub async fn acquire(db: &mut Db, timeout: Duration) -> Result<(), DbError> {
    let started = Instant::now();
    match db.dialect() {
        Dialect::Sqlite => {
            // Held already (taken again after a reconnect): a second `flock` on another
            // descriptor of the same file would wait for this very process.
            let Some(path) = sqlite_lock_path(db).filter(|_| db.run_lock.is_none()) else {
                return Ok(());
            };
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|source| DbError::LockFile {
                    path: path.display().to_string(),
                    source,
                })?;
            loop {
                match file.try_lock() {
                    Ok(()) => {
                        db.run_lock = Some(file);
                        return Ok(());
                    }
                    Err(std::fs::TryLockError::WouldBlock) => {}
                    Err(std::fs::TryLockError::Error(source)) => {
                        return Err(DbError::LockFile {
                            path: path.display().to_string(),
                            source,
                        });
                    }
                }
                if started.elapsed() >= timeout {
                    return Err(DbError::LockTimeout {
                        url: db.url.to_string(),
                        waited: timeout,
                    });
                }
                tokio::time::sleep(POLL).await;
            }
        }
        Dialect::Postgres => loop {
            let rows = db
                .query(
                    "SELECT pg_try_advisory_lock($1)",
                    &[Value::Integer(PG_LOCK_KEY)],
                )
                .await?;
            let locked = rows.scalar().and_then(Value::as_bool);
            if locked == Some(true) {
                return Ok(());
            }
            if started.elapsed() >= timeout {
                return Err(DbError::LockTimeout {
                    url: db.url.to_string(),
                    waited: timeout,
                });
            }
            tokio::time::sleep(POLL).await;
        },
        Dialect::Mysql => {
            let name = mysql_lock_name(db);
            let seconds = timeout.as_secs_f64();
            let rows = db
                .query(
                    "SELECT GET_LOCK(?, ?)",
                    &[Value::Text(name), Value::Real(seconds)],
                )
                .await?;
            match rows.scalar().and_then(Value::as_i64) {
                Some(1) => Ok(()),
                _ => Err(DbError::LockTimeout {
                    url: db.url.to_string(),
                    waited: timeout,
                }),
            }
        }
    }
}

/// Releases the migration lock (closing the connection releases it too).
pub async fn release(db: &mut Db) -> Result<(), DbError> {
    match db.dialect() {
        Dialect::Sqlite => {
            // Closing the file releases the lock.
            db.run_lock = None;
        }
        Dialect::Postgres => {
            db.query(
                "SELECT pg_advisory_unlock($1)",
                &[Value::Integer(PG_LOCK_KEY)],
            )
            .await?;
        }
        Dialect::Mysql => {
            let name = mysql_lock_name(db);
            db.query("SELECT RELEASE_LOCK(?)", &[Value::Text(name)])
                .await?;
        }
    }
    Ok(())
}
