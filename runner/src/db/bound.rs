//! Statements run as one prepared statement with their values bound: a transform's checked
//! statements (see `sandbox/`), sent through PostgreSQL's extended protocol and MySQL's
//! `COM_STMT_PREPARE`, neither of which takes more than one statement, and read back with
//! bounds on rows and bytes, so that what a statement returns cannot outgrow what the host
//! may hold for it.

use futures_util::TryStreamExt;
use sqlx::postgres::PgTypeInfo;
use sqlx::{AssertSqlSafe, Column as _, Executor as _, SqlSafeStr as _, Statement as _};

use super::{Connection, Db, DbError, Rows, Value, decode};
use crate::dialect_kind::Dialect;

/// The values of one run of a statement, as each protocol takes them.
#[derive(Debug, Clone, Copy)]
pub enum Params<'a> {
    /// MySQL: in the order of the statement's `?`.
    Mysql(&'a [&'a Value]),
    /// PostgreSQL: every value as the text its type's input function reads (`None` is NULL),
    /// numbered `$1, $2, ...`.
    PostgresText(&'a [Option<String>]),
}

/// How much of a result the caller may hold.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub rows: usize,
    pub bytes: usize,
}

/// A result read within its bounds, or which bound it passed.
#[derive(Debug)]
pub enum Bounded {
    Rows(Rows),
    TooManyRows,
    TooManyBytes,
}

/// What PostgreSQL infers for a statement: its parameters' types (as `format_type` writes
/// them, ready to cast to) and its result's column names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub parameter_types: Vec<String>,
    pub columns: Vec<String>,
}

/// About how many bytes the host holds for a value.
pub fn value_bytes(value: &Value) -> usize {
    const FIXED: usize = std::mem::size_of::<Value>();
    FIXED
        + match value {
            Value::Blob(bytes) => bytes.len(),
            Value::Text(text)
            | Value::Decimal(text)
            | Value::Date(text)
            | Value::Time(text)
            | Value::Timestamp(text)
            | Value::Json(text)
            | Value::Uuid(text) => text.len(),
            Value::Null | Value::Boolean(_) | Value::Integer(_) | Value::Real(_) => 0,
        }
}

impl Db {
    /// Asks PostgreSQL what types it infers for a statement's parameters, and what columns
    /// the statement returns, without running it. `text` lists the parameters to take as text
    /// whatever the server would infer (those the statement does not use, which PostgreSQL
    /// cannot type); a parameter whose type the server cannot infer (`SELECT $1 IS NULL`) is
    /// taken as text too. The question is asked inside a savepoint, so that a statement the
    /// server refuses leaves the transaction as it was.
    pub async fn postgres_describe(
        &mut self,
        sql: &str,
        parameters: usize,
        text: &[usize],
    ) -> Result<Described, DbError> {
        const UNSPECIFIED: PgTypeInfo = PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0));
        let mut types = vec![UNSPECIFIED; parameters];
        for n in text {
            if let Some(slot) = types.get_mut(n - 1) {
                *slot = PgTypeInfo::with_name("text");
            }
        }
        let described = loop {
            self.execute_simple("SAVEPOINT _runner_describe").await?;
            let Connection::Postgres(c) = &mut self.conn else {
                return Err(self.not_postgres());
            };
            let attempt = c
                .prepare_with(AssertSqlSafe(sql.to_string()).into_sql_str(), &types)
                .await;
            match attempt {
                Ok(statement) => {
                    self.execute_simple("RELEASE SAVEPOINT _runner_describe")
                        .await?;
                    break statement;
                }
                Err(error) => {
                    self.execute_simple("ROLLBACK TO SAVEPOINT _runner_describe")
                        .await?;
                    // "could not determine data type of parameter $n": take it as text.
                    let untyped = match &error {
                        sqlx::Error::Database(db) if db.code().as_deref() == Some("42P18") => db
                            .message()
                            .rsplit('$')
                            .next()
                            .and_then(|n| n.trim().parse::<usize>().ok())
                            .filter(|n| (1..=parameters).contains(n)),
                        _ => None,
                    };
                    match untyped {
                        Some(n) if types[n - 1].oid() != Some(sqlx::postgres::types::Oid(25)) => {
                            types[n - 1] = PgTypeInfo::with_name("text");
                        }
                        _ => return Err(error.into()),
                    }
                }
            }
        };
        let Connection::Postgres(c) = &mut self.conn else {
            return Err(self.not_postgres());
        };
        let columns = described
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let oids: Vec<i64> = match described.parameters() {
            Some(sqlx::Either::Left(types)) => types
                .iter()
                .map(|t| t.oid().map_or(25, |oid| i64::from(oid.0)))
                .collect(),
            _ => Vec::new(),
        };
        let parameter_types = if oids.is_empty() {
            Vec::new()
        } else {
            let names: Vec<(String,)> = sqlx::query_as(
                "SELECT format_type(o::oid, NULL) FROM unnest($1::int8[]) WITH ORDINALITY AS u(o, i) ORDER BY i",
            )
            .bind(&oids)
            .fetch_all(&mut *c)
            .await?;
            names.into_iter().map(|(name,)| name).collect()
        };
        Ok(Described {
            parameter_types,
            columns,
        })
    }

    fn not_postgres(&self) -> DbError {
        DbError::WrongDialect {
            expected: Dialect::Postgres,
            actual: self.info.dialect,
        }
    }

    /// Runs one prepared statement with bound values; returns the rows it changed.
    pub async fn execute_bound(&mut self, sql: &str, params: Params<'_>) -> Result<u64, DbError> {
        let keep = kept_prepared(sql);
        let sql = AssertSqlSafe(sql.to_string());
        Ok(match (self.free().await?, params) {
            (Connection::Postgres(c), Params::PostgresText(values)) => {
                let mut query = sqlx::query(sql).persistent(keep);
                for value in values {
                    query = query.bind(value.as_deref());
                }
                query.execute(c).await?.rows_affected()
            }
            (Connection::MySql(c), Params::Mysql(values)) => {
                decode::bind_mysql(sqlx::query(sql).persistent(keep), values.iter().copied())
                    .execute(c)
                    .await?
                    .rows_affected()
            }
            (Connection::Lent | Connection::SqliteHeld(_), _) => return Err(DbError::Lent),
            (Connection::Abandoned, _) => return Err(DbError::Abandoned),
            _ => return Err(self.wrong_params()),
        })
    }

    fn wrong_params(&self) -> DbError {
        DbError::WrongDialect {
            expected: match self.info.dialect {
                Dialect::Postgres => Dialect::Mysql,
                _ => Dialect::Postgres,
            },
            actual: self.info.dialect,
        }
    }

    /// Runs one prepared query with bound values and reads its rows within `bounds`. The
    /// columns of a result without rows are named by `columns` (known from describing it).
    pub async fn query_bound(
        &mut self,
        sql: &str,
        params: Params<'_>,
        bounds: Bounds,
    ) -> Result<Bounded, DbError> {
        let keep = kept_prepared(sql);
        let sql = AssertSqlSafe(sql.to_string());
        // Past a bound, the rest of the result is read and dropped rather than left unread:
        // MySQL's server would otherwise stay blocked sending it, and the connection with it.
        // The columns' kinds are read off the first row, once (`decode::RowReader`).
        macro_rules! read {
            ($stream:expr, $reader:path) => {{
                let mut stream = $stream;
                let mut rows = Rows::default();
                let mut reader = None;
                let mut bytes = 0usize;
                let mut over = None;
                while let Some(row) = stream.try_next().await? {
                    if over.is_some() {
                        continue;
                    }
                    if rows.rows.len() == bounds.rows {
                        over = Some(Bounded::TooManyRows);
                        rows = Rows::default();
                        continue;
                    }
                    let reader = reader.get_or_insert_with(|| {
                        rows.columns = decode::column_names(&row);
                        $reader(&row)
                    });
                    let values = reader.read(&row)?;
                    bytes += values.iter().map(value_bytes).sum::<usize>();
                    rows.rows.push(values);
                    if bytes > bounds.bytes {
                        over = Some(Bounded::TooManyBytes);
                        rows = Rows::default();
                    }
                }
                over.unwrap_or(Bounded::Rows(rows))
            }};
        }
        Ok(match (self.free().await?, params) {
            (Connection::Postgres(c), Params::PostgresText(values)) => {
                let mut query = sqlx::query(sql).persistent(keep);
                for value in values {
                    query = query.bind(value.as_deref());
                }
                read!(query.fetch(c), decode::postgres_reader)
            }
            (Connection::MySql(c), Params::Mysql(values)) => {
                let query =
                    decode::bind_mysql(sqlx::query(sql).persistent(keep), values.iter().copied());
                read!(query.fetch(c), decode::mysql_reader)
            }
            (Connection::Lent | Connection::SqliteHeld(_), _) => return Err(DbError::Lent),
            (Connection::Abandoned, _) => return Err(DbError::Abandoned),
            _ => return Err(self.wrong_params()),
        })
    }
}

/// The longest statement a server connection keeps prepared for reuse. The driver keeps up
/// to 100 statements by their text; a transform's are reused by text (and runner's batched
/// forms stay well under this), while longer ones would only hold memory.
const KEPT_SQL_BYTES: usize = 64 << 10;

fn kept_prepared(sql: &str) -> bool {
    sql.len() <= KEPT_SQL_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_counted_with_their_contents() {
        let fixed = std::mem::size_of::<Value>();
        assert_eq!(value_bytes(&Value::Null), fixed);
        assert_eq!(value_bytes(&Value::Text("abc".into())), fixed + 3);
        assert_eq!(value_bytes(&Value::Blob(vec![0; 10])), fixed + 10);
    }
}
