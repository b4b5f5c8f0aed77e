//! Binding [`Value`]s as parameters and reading rows back as [`Value`]s, per driver. Values
//! travel in their canonical text where Rust has no lossless native form (decimals keep every
//! digit, timestamps keep their offset).

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use sqlx::mysql::{MySql, MySqlArguments, MySqlRow};
use sqlx::postgres::{PgArguments, PgRow, Postgres};
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteRow};
use sqlx::types::{BigDecimal, Uuid};
use sqlx::{Column, Row, TypeInfo, ValueRef};

use super::{DbError, Rows, Value};

type SqliteQuery<'a> = Query<'a, Sqlite, SqliteArguments>;
type PgQuery<'a> = Query<'a, Postgres, PgArguments>;
type MySqlQuery<'a> = Query<'a, MySql, MySqlArguments>;

/// Canonical text of a date-time without offset.
pub fn naive_datetime_text(value: &NaiveDateTime) -> String {
    value.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
}

/// Canonical text of a time of day.
pub fn time_text(value: &NaiveTime) -> String {
    value.format("%H:%M:%S%.f").to_string()
}

fn utc_text(value: &DateTime<Utc>) -> String {
    value.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A timestamp's text as either a zoned or a naive date-time.
enum ParsedTimestamp {
    Zoned(DateTime<FixedOffset>),
    Naive(NaiveDateTime),
}

fn parse_timestamp(text: &str) -> Option<ParsedTimestamp> {
    if let Ok(zoned) = DateTime::parse_from_rfc3339(text) {
        return Some(ParsedTimestamp::Zoned(zoned));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(ParsedTimestamp::Naive(naive));
        }
    }
    None
}

/// Binds parameters for SQLite, where every non-native type is stored as text.
pub fn bind_sqlite<'a>(mut query: SqliteQuery<'a>, params: &[Value]) -> SqliteQuery<'a> {
    for param in params {
        query = match param {
            Value::Null => query.bind(None::<String>),
            Value::Boolean(b) => query.bind(*b),
            Value::Integer(i) => query.bind(*i),
            Value::Real(x) => query.bind(*x),
            Value::Blob(bytes) => query.bind(bytes.clone()),
            Value::Text(s)
            | Value::Decimal(s)
            | Value::Date(s)
            | Value::Time(s)
            | Value::Timestamp(s)
            | Value::Json(s)
            | Value::Uuid(s) => query.bind(s.clone()),
        };
    }
    query
}

/// Binds parameters for PostgreSQL with their native types, so no cast is needed in SQL.
pub fn bind_postgres<'a>(query: PgQuery<'a>, params: &[Value]) -> PgQuery<'a> {
    let mut query = query;
    for param in params {
        query = match param {
            Value::Null => query.bind(None::<String>),
            Value::Boolean(b) => query.bind(*b),
            Value::Integer(i) => query.bind(*i),
            Value::Real(x) => query.bind(*x),
            Value::Text(s) => query.bind(s.clone()),
            Value::Blob(bytes) => query.bind(bytes.clone()),
            Value::Decimal(s) => match BigDecimal::from_str(s) {
                Ok(d) => query.bind(d),
                Err(_) => query.bind(s.clone()),
            },
            Value::Date(s) => match NaiveDate::from_str(s) {
                Ok(d) => query.bind(d),
                Err(_) => query.bind(s.clone()),
            },
            Value::Time(s) => match NaiveTime::from_str(s) {
                Ok(t) => query.bind(t),
                Err(_) => query.bind(s.clone()),
            },
            Value::Timestamp(s) => match parse_timestamp(s) {
                Some(ParsedTimestamp::Zoned(t)) => query.bind(t),
                Some(ParsedTimestamp::Naive(t)) => query.bind(t),
                None => query.bind(s.clone()),
            },
            Value::Json(s) => match serde_json::from_str::<serde_json::Value>(s) {
                Ok(json) => query.bind(json),
                Err(_) => query.bind(s.clone()),
            },
            Value::Uuid(s) => match Uuid::from_str(s) {
                Ok(u) => query.bind(u),
                Err(_) => query.bind(s.clone()),
            },
        };
    }
    query
}

/// Binds parameters for MySQL/MariaDB; zoned timestamps are stored in UTC (DATETIME has no
/// offset, and runner's sessions run in UTC).
pub fn bind_mysql<'a, 'v>(
    query: MySqlQuery<'a>,
    params: impl IntoIterator<Item = &'v Value>,
) -> MySqlQuery<'a> {
    let mut query = query;
    for param in params {
        query = match param {
            Value::Null => query.bind(None::<String>),
            Value::Boolean(b) => query.bind(*b),
            Value::Integer(i) => query.bind(*i),
            Value::Real(x) => query.bind(*x),
            Value::Blob(bytes) => query.bind(bytes.clone()),
            Value::Decimal(s) => match BigDecimal::from_str(s) {
                Ok(d) => query.bind(d),
                Err(_) => query.bind(s.clone()),
            },
            Value::Timestamp(s) => match parse_timestamp(s) {
                Some(ParsedTimestamp::Zoned(t)) => query.bind(t.with_timezone(&Utc).naive_utc()),
                Some(ParsedTimestamp::Naive(t)) => query.bind(t),
                None => query.bind(s.clone()),
            },
            Value::Text(s) | Value::Date(s) | Value::Time(s) | Value::Json(s) | Value::Uuid(s) => {
                query.bind(s.clone())
            }
        };
    }
    query
}

fn decode_error(row_column: &str, ty: &str, error: sqlx::Error) -> DbError {
    DbError::Decode {
        column: row_column.into(),
        ty: ty.into(),
        reason: error.to_string(),
    }
}

fn columns<R: Row>(rows: &[R]) -> Vec<String> {
    rows.first()
        .map(|row| row.columns().iter().map(|c| c.name().to_string()).collect())
        .unwrap_or_default()
}

/// Reads rows, giving each non-NULL value with its type name to `decode`.
fn read_rows<R: Row>(
    rows: &[R],
    decode: impl Fn(&R, usize, &str) -> Result<Value, sqlx::Error>,
) -> Result<Rows, DbError>
where
    usize: sqlx::ColumnIndex<R>,
{
    let mut out = Rows {
        columns: columns(rows),
        rows: Vec::with_capacity(rows.len()),
    };
    for row in rows {
        let mut values = Vec::with_capacity(row.len());
        for i in 0..row.len() {
            let name = row.column(i).name();
            let raw = row.try_get_raw(i).map_err(|e| decode_error(name, "?", e))?;
            if raw.is_null() {
                values.push(Value::Null);
                continue;
            }
            let info = raw.type_info();
            let ty = info.name();
            values.push(decode(row, i, ty).map_err(|e| decode_error(name, ty, e))?);
        }
        out.rows.push(values);
    }
    Ok(out)
}

/// Reads SQLite rows by each value's storage class.
pub fn sqlite_rows(rows: &[SqliteRow]) -> Result<Rows, DbError> {
    read_rows(rows, |row, i, ty| {
        Ok(match ty {
            "INTEGER" => Value::Integer(row.try_get(i)?),
            "REAL" => Value::Real(row.try_get(i)?),
            "BLOB" => Value::Blob(row.try_get(i)?),
            _ => Value::Text(row.try_get(i)?),
        })
    })
}

/// Reads PostgreSQL rows by column type; enums and other text-encoded types read as text.
pub fn postgres_rows(rows: &[PgRow]) -> Result<Rows, DbError> {
    read_rows(rows, |row, i, ty| {
        Ok(match ty {
            "BOOL" => Value::Boolean(row.try_get(i)?),
            "INT2" => Value::Integer(row.try_get::<i16, _>(i)?.into()),
            "INT4" => Value::Integer(row.try_get::<i32, _>(i)?.into()),
            "INT8" => Value::Integer(row.try_get(i)?),
            "OID" => Value::Integer(row.try_get::<sqlx::postgres::types::Oid, _>(i)?.0.into()),
            "FLOAT4" => {
                // Through text, so that 0.1f32 reads back as 0.1 and not 0.10000000149.
                let x: f32 = row.try_get(i)?;
                Value::Real(x.to_string().parse().unwrap_or(f64::from(x)))
            }
            "FLOAT8" => Value::Real(row.try_get(i)?),
            "NUMERIC" => Value::Decimal(row.try_get::<BigDecimal, _>(i)?.to_plain_string()),
            "BYTEA" => Value::Blob(row.try_get(i)?),
            "DATE" => Value::Date(row.try_get::<NaiveDate, _>(i)?.to_string()),
            "TIME" => Value::Time(time_text(&row.try_get(i)?)),
            "TIMESTAMP" => Value::Timestamp(naive_datetime_text(&row.try_get(i)?)),
            "TIMESTAMPTZ" => Value::Timestamp(utc_text(&row.try_get(i)?)),
            "JSON" | "JSONB" => Value::Json(row.try_get::<serde_json::Value, _>(i)?.to_string()),
            "UUID" => Value::Uuid(row.try_get::<Uuid, _>(i)?.to_string()),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" | "UNKNOWN" => {
                Value::Text(row.try_get(i)?)
            }
            // Enums travel as their label in either format; other types only as text (the
            // simple protocol's results): in binary they would read as garbage.
            _ if row.try_get_raw(i)?.format() == sqlx::postgres::PgValueFormat::Text
                || matches!(
                    row.column(i).type_info().kind(),
                    sqlx::postgres::PgTypeKind::Enum(_)
                ) =>
            {
                Value::Text(row.try_get_unchecked(i)?)
            }
            other => {
                return Err(sqlx::Error::Decode(
                    format!(
                        "runner reads {other} values only as text: cast it in the query (x::text)"
                    )
                    .into(),
                ));
            }
        })
    })
}

/// Reads MySQL/MariaDB rows by column type.
pub fn mysql_rows(rows: &[MySqlRow]) -> Result<Rows, DbError> {
    read_rows(rows, |row, i, ty| {
        Ok(match ty {
            "BOOLEAN" => Value::Boolean(row.try_get(i)?),
            "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => {
                Value::Integer(row.try_get(i)?)
            }
            "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
            | "BIGINT UNSIGNED" | "BIT" => {
                let n: u64 = row.try_get(i)?;
                i64::try_from(n).map_or_else(|_| Value::Decimal(n.to_string()), Value::Integer)
            }
            "FLOAT" => {
                let x: f32 = row.try_get(i)?;
                Value::Real(x.to_string().parse().unwrap_or(f64::from(x)))
            }
            "DOUBLE" => Value::Real(row.try_get(i)?),
            "DECIMAL" => Value::Decimal(row.try_get::<BigDecimal, _>(i)?.to_plain_string()),
            "DATE" => Value::Date(row.try_get::<NaiveDate, _>(i)?.to_string()),
            "TIME" => Value::Time(time_text(&row.try_get(i)?)),
            "DATETIME" | "TIMESTAMP" => Value::Timestamp(naive_datetime_text(&row.try_get(i)?)),
            "JSON" => Value::Json(row.try_get::<serde_json::Value, _>(i)?.to_string()),
            "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
                Value::Blob(row.try_get(i)?)
            }
            _ => Value::Text(row.try_get(i)?),
        })
    })
}
