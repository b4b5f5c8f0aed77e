//! Connections to SQLite, PostgreSQL and MySQL/MariaDB: the only place with database IO.
//! One owned connection per run, with transactions driven by SQL, so that the executor (and
//! later a transform's sandbox) can hold it across steps and own its lifetime.

pub mod bound;
pub(crate) mod decode;
pub mod introspect;
pub mod lock;
pub(crate) mod sqlite_hold;
pub mod sqlite_live;
pub(crate) mod sqlite_worker;
mod transaction;
pub mod url;
pub mod value;

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, Connection as _};

use crate::dialect_kind::Dialect;
pub use url::DatabaseUrl;
pub use value::{Rows, Value};

/// A connection to one of the supported databases.
enum Connection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
    MySql(MySqlConnection),
    /// SQLite with its handle held for runner's own statements (see [`Db::with_sqlite`]);
    /// [`Db::free`] gives it back to sqlx.
    SqliteHeld(Box<sqlite_hold::SqliteHold>),
    /// Lent to a transform's sandbox for the length of its run (see [`Db::lend`]).
    Lent,
    /// Closed because a statement would not stop (see [`Db::abandon`]).
    Abandoned,
}

/// What runner knows about the server it talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub dialect: Dialect,
    /// The server's own version string.
    pub version: String,
    /// True for MariaDB (served by the MySQL dialect).
    pub mariadb: bool,
}

/// How to open a connection.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Create the SQLite file if it does not exist (commands that write).
    pub create_sqlite_file: bool,
    /// How long to wait for a lock another connection holds.
    pub lock_timeout: Duration,
    /// How long a statement waits for a table lock before it fails (PostgreSQL
    /// `lock_timeout`, MySQL `lock_wait_timeout` and `innodb_lock_wait_timeout`), so that DDL
    /// queued behind a long query does not block every query queued behind it; `None` keeps
    /// the server's setting.
    pub ddl_lock_timeout: Option<Duration>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            create_sqlite_file: true,
            lock_timeout: Duration::from_secs(60),
            ddl_lock_timeout: None,
        }
    }
}

/// A database problem.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("the SQLite file {0} does not exist")]
    NoSuchFile(String),
    #[error("{}", sql_message(.source))]
    Sql {
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot read column '{column}' of type {ty}: {reason}")]
    Decode {
        column: String,
        ty: String,
        reason: String,
    },
    #[error(
        "another runner is migrating {url}: gave up waiting after {waited:?} (see --lock-timeout)"
    )]
    LockTimeout { url: String, waited: Duration },
    #[error("cannot use the lock file {path}: {source}")]
    LockFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the connection is lent to a transform")]
    Lent,
    /// The outcome of work queued behind a transform was not what it was queued as (a bug
    /// of runner's).
    #[error("runner lost track of the work queued behind the transform")]
    Uncollected,
    #[error(
        "the connection was closed because a statement on it would not stop; its transaction is rolled back by the server"
    )]
    Abandoned,
    /// The database itself refused a transform's statement (SQLite's authorizer).
    #[error("{0}")]
    Denied(String),
    #[error("the database did not return the id of the new {table} row")]
    NoInsertId { table: &'static str },
    #[error("this needs a {expected} connection, and this one is {actual}")]
    WrongDialect { expected: Dialect, actual: Dialect },
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A held transaction (see [`Db::hold_transaction`]) was asked to end some other way.
    #[error("{0} inside a held transaction: only the end of the dry run ends it")]
    HeldTransaction(&'static str),
    #[error(
        "the connection was lost, and with it the dry run's transaction: the server rolled it back, and nothing was changed"
    )]
    HeldTransactionLost,
}

impl DbError {
    /// The database's error code (SQLSTATE on PostgreSQL, the error number on MySQL).
    pub fn code(&self) -> Option<String> {
        match self {
            Self::Sql {
                source: sqlx::Error::Database(db),
            } => db.code().map(|c| c.into_owned()),
            _ => None,
        }
    }

    /// MySQL's error number (its SQLSTATE is `HY000` for most errors, so the number is what
    /// tells them apart).
    pub fn mysql_number(&self) -> Option<u16> {
        match self {
            Self::Sql {
                source: sqlx::Error::Database(db),
            } => db
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .map(sqlx::mysql::MySqlDatabaseError::number),
            _ => None,
        }
    }

    /// True if the statement gave up waiting for a lock another session holds (or was chosen
    /// as a deadlock's victim): nothing of it happened, and trying again may work.
    pub fn is_lock_wait(&self) -> bool {
        // MySQL ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK.
        if let Some(number) = self.mysql_number() {
            return matches!(number, 1205 | 1213);
        }
        // PostgreSQL lock_not_available, deadlock_detected.
        matches!(self.code().as_deref(), Some("55P03" | "40P01"))
    }

    /// True if the connection is gone (the server restarted, the session was killed from
    /// another one, the network dropped): its open transaction is rolled back by the server,
    /// and a statement sent just before may or may not have committed.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            Self::Abandoned => true,
            Self::Sql { source } => match source {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                // PostgreSQL admin_shutdown, crash_shutdown, cannot_connect_now; MySQL
                // ER_CONNECTION_KILLED, ER_SERVER_SHUTDOWN, CR_SERVER_GONE_ERROR, CR_SERVER_LOST.
                sqlx::Error::Database(db) => {
                    matches!(db.code().as_deref(), Some("57P01" | "57P02" | "57P03"))
                        || self
                            .mysql_number()
                            .is_some_and(|n| matches!(n, 1927 | 1053 | 2006 | 2013))
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// The database's own message, without sqlx's prefix.
fn sql_message(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (code {code})", db.message()),
            None => db.message().to_string(),
        },
        other => other.to_string(),
    }
}

impl From<sqlx::Error> for DbError {
    fn from(source: sqlx::Error) -> Self {
        Self::Sql { source }
    }
}

/// A connection with what is known about its server.
pub struct Db {
    conn: Connection,
    pub info: ServerInfo,
    pub url: DatabaseUrl,
    /// How it was opened, to open it again (see [`Db::reconnect`]).
    options: ConnectOptions,
    /// The SQLite migration lock's file while this connection holds it (see [`lock`]).
    run_lock: Option<std::fs::File>,
    /// Inside a transaction that only [`Db::end_held_transaction`] ends (a dry run on
    /// PostgreSQL): how many savepoints [`Db::begin`] has opened in it.
    held: Option<u32>,
}

impl Db {
    /// Opens a connection.
    pub async fn connect(url: &DatabaseUrl, options: &ConnectOptions) -> Result<Db, DbError> {
        let connect_error = |source| DbError::Connect {
            url: url.to_string(),
            source,
        };
        let conn = match url.dialect() {
            Dialect::Sqlite => {
                if let Some(path) = url.sqlite_path()
                    && !options.create_sqlite_file
                    && !path.exists()
                {
                    return Err(DbError::NoSuchFile(path.display().to_string()));
                }
                let opts = SqliteConnectOptions::from_str(url.secret())
                    .map_err(connect_error)?
                    .create_if_missing(options.create_sqlite_file)
                    .foreign_keys(true)
                    .busy_timeout(options.lock_timeout);
                Connection::Sqlite(
                    SqliteConnection::connect_with(&opts)
                        .await
                        .map_err(connect_error)?,
                )
            }
            Dialect::Postgres => {
                let opts = PgConnectOptions::from_str(url.secret())
                    .map_err(connect_error)?
                    .application_name("runner");
                Connection::Postgres(
                    PgConnection::connect_with(&opts)
                        .await
                        .map_err(connect_error)?,
                )
            }
            Dialect::Mysql => {
                let opts = MySqlConnectOptions::from_str(url.secret()).map_err(connect_error)?;
                Connection::MySql(
                    MySqlConnection::connect_with(&opts)
                        .await
                        .map_err(connect_error)?,
                )
            }
        };
        let mut db = Db {
            conn,
            options: options.clone(),
            run_lock: None,
            held: None,
            info: ServerInfo {
                dialect: url.dialect(),
                version: String::new(),
                mariadb: false,
            },
            url: url.clone(),
        };
        let version_sql = match url.dialect() {
            Dialect::Sqlite => "SELECT sqlite_version()",
            Dialect::Postgres => "SHOW server_version",
            Dialect::Mysql => "SELECT VERSION()",
        };
        let rows = db.query(version_sql, &[]).await?;
        db.info.version = rows.scalar().and_then(Value::to_text).unwrap_or_default();
        db.info.mariadb = db.info.version.contains("MariaDB");
        if db.dialect() == Dialect::Mysql {
            db.use_backslash_escapes().await?;
        }
        if let Some(wait) = options.ddl_lock_timeout {
            db.set_lock_wait(wait).await?;
        }
        Ok(db)
    }

    /// Makes every later statement on this session wait at most `wait` for a lock.
    async fn set_lock_wait(&mut self, wait: Duration) -> Result<(), DbError> {
        match self.dialect() {
            Dialect::Sqlite => {}
            Dialect::Postgres => {
                let ms = wait.as_millis().max(1);
                self.execute_simple(&format!("SET lock_timeout = '{ms}ms'"))
                    .await?;
            }
            Dialect::Mysql => {
                // Whole seconds only; 1 is the least either variable takes.
                let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
                self.execute_simple(&format!(
                    "SET SESSION lock_wait_timeout = {seconds}, innodb_lock_wait_timeout = {seconds}"
                ))
                .await?;
            }
        }
        Ok(())
    }

    /// Takes `NO_BACKSLASH_ESCAPES` out of this MySQL session's `sql_mode`, whatever the
    /// server's global mode says, so that the string literals runner writes (defaults, enum
    /// values, seeded rows) mean on every server what the MySQL dialect renders them to mean.
    pub async fn use_backslash_escapes(&mut self) -> Result<(), DbError> {
        self.execute_simple(
            "SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), \
             ',NO_BACKSLASH_ESCAPES,', ','))",
        )
        .await?;
        Ok(())
    }

    /// How this connection was opened: a connection to a copy of its database opens so too.
    pub fn options(&self) -> ConnectOptions {
        self.options.clone()
    }

    /// The dialect of this connection.
    pub fn dialect(&self) -> Dialect {
        self.info.dialect
    }

    /// Runs SQL text (one or more statements, no parameters) through the simple protocol, as
    /// DDL and `sql` steps need. On PostgreSQL and MySQL the connection's cached statements are
    /// dropped afterwards: the script may have changed the tables under them, and PostgreSQL
    /// refuses to run a cached plan whose result type changed ("cached plan must not change
    /// result type"). SQLite re-prepares a statement whose schema changed by itself.
    pub async fn execute_script(&mut self, sql: &str) -> Result<u64, DbError> {
        let query = sqlx::raw_sql(AssertSqlSafe(sql.to_string()));
        let affected = match self.free().await? {
            Connection::Sqlite(c) => query.execute(&mut *c).await?.rows_affected(),
            Connection::Postgres(c) => {
                let affected = query.execute(&mut *c).await?.rows_affected();
                c.clear_cached_statements().await?;
                affected
            }
            Connection::MySql(c) => {
                let affected = query.execute(&mut *c).await?.rows_affected();
                c.clear_cached_statements().await?;
                affected
            }
            Connection::Lent | Connection::SqliteHeld(_) => return Err(DbError::Lent),
            Connection::Abandoned => return Err(DbError::Abandoned),
        };
        Ok(affected)
    }

    /// Runs SQL text through the simple protocol without touching the statement cache: for
    /// statements that cannot change the schema (a transform's checked DML, transaction
    /// control, pragmas).
    pub async fn execute_simple(&mut self, sql: &str) -> Result<u64, DbError> {
        let query = sqlx::raw_sql(AssertSqlSafe(sql.to_string()));
        Ok(match self.free().await? {
            Connection::Sqlite(c) => query.execute(c).await?.rows_affected(),
            Connection::Postgres(c) => query.execute(c).await?.rows_affected(),
            Connection::MySql(c) => query.execute(c).await?.rows_affected(),
            Connection::Lent | Connection::SqliteHeld(_) => return Err(DbError::Lent),
            Connection::Abandoned => return Err(DbError::Abandoned),
        })
    }

    /// Reads at most `limit` rows of a query without parameters; `None` if there were more. A
    /// result without rows still names its columns (at the cost of a round trip to ask the
    /// server for them): see [`Db::query_rows_limited`] for a caller that does not need them.
    pub async fn query_limited(
        &mut self,
        sql: &str,
        limit: usize,
    ) -> Result<Option<Rows>, DbError> {
        let Some(mut rows) = self.query_rows_limited(sql, limit).await? else {
            return Ok(None);
        };
        if rows.columns.is_empty() {
            rows.columns = self.describe_columns(sql).await?;
        }
        Ok(Some(rows))
    }

    /// [`Db::query_limited`] without the column names of a result that has no rows (they are
    /// empty then): for pages of a cursor, whose columns are known already.
    pub async fn query_rows_limited(
        &mut self,
        sql: &str,
        limit: usize,
    ) -> Result<Option<Rows>, DbError> {
        use futures_util::TryStreamExt;
        let query = sqlx::raw_sql(AssertSqlSafe(sql.to_string()));
        macro_rules! take {
            ($c:expr, $decode:path) => {{
                let mut stream = query.fetch($c);
                let mut rows = Vec::new();
                while let Some(row) = stream.try_next().await? {
                    if rows.len() == limit {
                        return Ok(None);
                    }
                    rows.push(row);
                }
                drop(stream);
                $decode(&rows)?
            }};
        }
        let rows = match self.free().await? {
            Connection::Sqlite(c) => take!(c, decode::sqlite_rows),
            Connection::Postgres(c) => take!(c, decode::postgres_rows),
            Connection::MySql(c) => take!(c, decode::mysql_rows),
            Connection::Lent | Connection::SqliteHeld(_) => return Err(DbError::Lent),
            Connection::Abandoned => return Err(DbError::Abandoned),
        };
        Ok(Some(rows))
    }

    /// The column names a query would return (for results without rows).
    pub async fn describe_columns(&mut self, sql: &str) -> Result<Vec<String>, DbError> {
        use sqlx::{Column as _, Executor as _, SqlSafeStr as _, Statement as _};
        let sql = AssertSqlSafe(sql.to_string()).into_sql_str();
        macro_rules! names {
            ($c:expr) => {
                $c.prepare(sql)
                    .await?
                    .columns()
                    .iter()
                    .map(|c| c.name().to_string())
                    .collect()
            };
        }
        Ok(match self.free().await? {
            Connection::Sqlite(c) => names!(c),
            Connection::Postgres(c) => names!(c),
            Connection::MySql(c) => names!(c),
            Connection::Lent | Connection::SqliteHeld(_) => return Err(DbError::Lent),
            Connection::Abandoned => return Err(DbError::Abandoned),
        })
    }

    /// The connection, ready for sqlx: a held SQLite handle is released first.
    async fn free(&mut self) -> Result<&mut Connection, DbError> {
        if let Connection::SqliteHeld(hold) = &mut self.conn {
            match hold.release().await {
                Ok(c) => self.conn = Connection::Sqlite(c),
                Err(error) => {
                    self.conn = Connection::Abandoned;
                    return Err(error);
                }
            }
        }
        Ok(&mut self.conn)
    }

    /// Takes the connection out, to lend it to a transform's sandbox; this `Db` refuses work
    /// until [`Db::give_back`].
    pub fn lend(&mut self) -> Db {
        Db {
            conn: std::mem::replace(&mut self.conn, Connection::Lent),
            info: self.info.clone(),
            url: self.url.clone(),
            options: self.options.clone(),
            run_lock: None,
            held: self.held,
        }
    }

    /// Closes a connection whose statement would not stop (a server busy in a function that
    /// does not look at its kill flag keeps the connection for as long as it runs): its
    /// transaction is lost, and every later use fails at once instead of waiting for it.
    pub fn abandon(&mut self) {
        self.conn = Connection::Abandoned;
    }

    /// True once [`Db::abandon`] closed the connection.
    pub fn is_abandoned(&self) -> bool {
        matches!(self.conn, Connection::Abandoned)
    }

    /// Opens the connection again after [`Db::abandon`], outside any transaction (to record
    /// what happened). Locks the old session held are not held by the new one.
    pub async fn reconnect(&mut self) -> Result<(), DbError> {
        if self.held.is_some() {
            // The held transaction ended with the old session; a new one would commit what it
            // is asked to record.
            return Err(DbError::HeldTransactionLost);
        }
        let fresh = Db::connect(&self.url, &self.options).await?;
        self.conn = fresh.conn;
        Ok(())
    }

    /// Waits until the connection answers, at most `wait`: false if it did not (a statement
    /// still running on it).
    pub async fn answers_within(&mut self, wait: Duration) -> bool {
        use sqlx::Connection as _;
        let pinged = async {
            match self.free().await {
                Ok(Connection::Sqlite(c)) => c.ping().await,
                Ok(Connection::Postgres(c)) => c.ping().await,
                Ok(Connection::MySql(c)) => c.ping().await,
                _ => Err(sqlx::Error::PoolClosed),
            }
        };
        matches!(tokio::time::timeout(wait, pinged).await, Ok(Ok(())))
    }

    /// Takes back a connection lent with [`Db::lend`].
    pub fn give_back(&mut self, lent: Db) {
        self.conn = lent.conn;
    }

    /// Runs one statement with bound parameters; returns the rows it changed.
    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let sql = AssertSqlSafe(sql.to_string());
        let affected = match self.free().await? {
            Connection::Sqlite(c) => decode::bind_sqlite(sqlx::query(sql), params)
                .execute(c)
                .await?
                .rows_affected(),
            Connection::Postgres(c) => decode::bind_postgres(sqlx::query(sql), params)
                .execute(c)
                .await?
                .rows_affected(),
            Connection::MySql(c) => decode::bind_mysql(sqlx::query(sql), params)
                .execute(c)
                .await?
                .rows_affected(),
            Connection::Lent | Connection::SqliteHeld(_) => return Err(DbError::Lent),
            Connection::Abandoned => return Err(DbError::Abandoned),
        };
        Ok(affected)
    }

    /// Runs one INSERT with bound parameters; returns the id the database generated for the
    /// row where the driver reports it without another round trip: MySQL's `LAST_INSERT_ID()`
    /// and SQLite's last rowid. PostgreSQL reports none (`None`): use `RETURNING` there.
    pub async fn insert(&mut self, sql: &str, params: &[Value]) -> Result<Option<i64>, DbError> {
        let sql = AssertSqlSafe(sql.to_string());
        let id = match self.free().await? {
            Connection::Sqlite(c) => Some(
                decode::bind_sqlite(sqlx::query(sql), params)
                    .execute(c)
                    .await?
                    .last_insert_rowid(),
            ),
            Connection::Postgres(c) => {
                decode::bind_postgres(sqlx::query(sql), params)
                    .execute(c)
                    .await?;
                None
            }
            Connection::MySql(c) => {
                let id = decode::bind_mysql(sqlx::query(sql), params)
                    .execute(c)
                    .await?
                    .last_insert_id();
                // 0: the statement generated no id.
                i64::try_from(id).ok().filter(|id| *id != 0)
            }
            Connection::Lent | Connection::SqliteHeld(_) => return Err(DbError::Lent),
            Connection::Abandoned => return Err(DbError::Abandoned),
        };
        Ok(id)
    }

    /// Runs one query and reads every row. A query without parameters goes through the simple
    /// protocol, so nothing is cached for tables that a migration (or another runner) changes.
    pub async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        if params.is_empty() {
            let query = sqlx::raw_sql(AssertSqlSafe(sql.to_string()));
            return match self.free().await? {
                Connection::Sqlite(c) => decode::sqlite_rows(&query.fetch_all(c).await?),
                Connection::Postgres(c) => decode::postgres_rows(&query.fetch_all(c).await?),
                Connection::MySql(c) => decode::mysql_rows(&query.fetch_all(c).await?),
                Connection::Lent | Connection::SqliteHeld(_) => Err(DbError::Lent),
                Connection::Abandoned => Err(DbError::Abandoned),
            };
        }
        let sql = AssertSqlSafe(sql.to_string());
        match self.free().await? {
            Connection::Sqlite(c) => {
                let rows = decode::bind_sqlite(sqlx::query(sql), params)
                    .fetch_all(c)
                    .await?;
                decode::sqlite_rows(&rows)
            }
            Connection::Postgres(c) => {
                let rows = decode::bind_postgres(sqlx::query(sql), params)
                    .fetch_all(c)
                    .await?;
                decode::postgres_rows(&rows)
            }
            Connection::MySql(c) => {
                let rows = decode::bind_mysql(sqlx::query(sql), params)
                    .fetch_all(c)
                    .await?;
                decode::mysql_rows(&rows)
            }
            Connection::Lent | Connection::SqliteHeld(_) => Err(DbError::Lent),
            Connection::Abandoned => Err(DbError::Abandoned),
        }
    }

    /// True if the table `name` exists (in the current schema, on PostgreSQL).
    pub async fn table_exists(&mut self, name: &str) -> Result<bool, DbError> {
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
            }
            Dialect::Postgres => {
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
            }
            Dialect::Mysql => {
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
            }
        };
        let rows = self.query(sql, &[Value::Text(name.into())]).await?;
        Ok(rows.scalar().and_then(Value::as_i64) == Some(1))
    }

    /// The placeholder for the `n`th (1-based) parameter in this dialect.
    pub fn param(&self, n: usize) -> String {
        self.dialect().param(n)
    }

    /// Closes the connection politely (a dropped one is closed too, less politely).
    pub async fn close(mut self) -> Result<(), DbError> {
        self.free().await?;
        match self.conn {
            Connection::Sqlite(c) => c.close().await?,
            Connection::Postgres(c) => c.close().await?,
            Connection::MySql(c) => c.close().await?,
            Connection::Lent | Connection::SqliteHeld(_) | Connection::Abandoned => {}
        }
        Ok(())
    }
}
