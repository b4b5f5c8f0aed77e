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
    rows.first().map(column_names).unwrap_or_default()
}

/// A row's column names.
pub fn column_names<R: Row>(row: &R) -> Vec<String> {
    row.columns().iter().map(|c| c.name().to_string()).collect()
}

/// How a column's values are read: decided once per result, from the column's type (and, on
/// PostgreSQL, the format it travels in), then applied to every row without asking again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    I16,
    I32,
    I64,
    U64,
    Oid,
    F32,
    F64,
    Numeric,
    Bytes,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Json,
    Uuid,
    Text,
    /// A PostgreSQL type runner has no portable form for, in binary: refused with the reason.
    Unsupported,
}

/// Reads rows of one result with each column's [`Kind`] decided from the first row.
pub struct RowReader<R: Row> {
    kinds: Vec<(Kind, String)>,
    decode: fn(&R, usize, Kind) -> Result<Value, sqlx::Error>,
}

impl<R: Row> RowReader<R>
where
    usize: sqlx::ColumnIndex<R>,
{
    /// The reader for the result `row` belongs to.
    fn new(
        row: &R,
        kind: impl Fn(&R, usize, &str) -> Kind,
        decode: fn(&R, usize, Kind) -> Result<Value, sqlx::Error>,
    ) -> Self {
        let kinds = (0..row.len())
            .map(|i| {
                let ty = row.column(i).type_info().name().to_string();
                (kind(row, i, &ty), ty)
            })
            .collect();
        RowReader { kinds, decode }
    }

    /// One row's values.
    pub fn read(&self, row: &R) -> Result<Vec<Value>, DbError> {
        let mut values = Vec::with_capacity(self.kinds.len());
        for (i, (kind, ty)) in self.kinds.iter().enumerate() {
            let named = |e| decode_error(row.column(i).name(), ty, e);
            let raw = row.try_get_raw(i).map_err(named)?;
            if raw.is_null() {
                values.push(Value::Null);
                continue;
            }
            values.push((self.decode)(row, i, *kind).map_err(named)?);
        }
        Ok(values)
    }
}

fn read_all<R: Row>(rows: &[R], reader: impl Fn(&R) -> RowReader<R>) -> Result<Rows, DbError>
where
    usize: sqlx::ColumnIndex<R>,
{
    let Some(first) = rows.first() else {
        return Ok(Rows::default());
    };
    let reader = reader(first);
    Ok(Rows {
        columns: columns(rows),
        rows: rows
            .iter()
            .map(|row| reader.read(row))
            .collect::<Result<_, _>>()?,
    })
}

/// Reads SQLite rows by each value's storage class (SQLite types values, not columns).
pub fn sqlite_rows(rows: &[SqliteRow]) -> Result<Rows, DbError> {
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
            let value = match ty {
                "INTEGER" => row.try_get(i).map(Value::Integer),
                "REAL" => row.try_get(i).map(Value::Real),
                "BLOB" => row.try_get(i).map(Value::Blob),
                _ => row.try_get(i).map(Value::Text),
            };
            values.push(value.map_err(|e| decode_error(name, ty, e))?);
        }
        out.rows.push(values);
    }
    Ok(out)
}

/// The reader of a PostgreSQL result: enums and other text-encoded types read as text.
pub fn postgres_reader(row: &PgRow) -> RowReader<PgRow> {
    RowReader::new(
        row,
        |row, i, ty| match ty {
            "BOOL" => Kind::Bool,
            "INT2" => Kind::I16,
            "INT4" => Kind::I32,
            "INT8" => Kind::I64,
            "OID" => Kind::Oid,
            "FLOAT4" => Kind::F32,
            "FLOAT8" => Kind::F64,
            "NUMERIC" => Kind::Numeric,
            "BYTEA" => Kind::Bytes,
            "DATE" => Kind::Date,
            "TIME" => Kind::Time,
            "TIMESTAMP" => Kind::Timestamp,
            "TIMESTAMPTZ" => Kind::TimestampTz,
            "JSON" | "JSONB" => Kind::Json,
            "UUID" => Kind::Uuid,
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" | "UNKNOWN" => Kind::Text,
            // Enums travel as their label in either format; other types only as text (the
            // simple protocol's results): in binary they would read as garbage.
            _ if row
                .try_get_raw(i)
                .is_ok_and(|raw| raw.format() == sqlx::postgres::PgValueFormat::Text)
                || matches!(
                    row.column(i).type_info().kind(),
                    sqlx::postgres::PgTypeKind::Enum(_)
                ) =>
            {
                Kind::Text
            }
            _ => Kind::Unsupported,
        },
        |row, i, kind| {
            fn pg<'r, T: sqlx::Decode<'r, Postgres>>(
                raw: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<T, sqlx::error::BoxDynError> {
                T::decode(raw)
            }
            let raw = row.try_get_raw(i)?;
            let decoded = (move || -> Result<Value, sqlx::error::BoxDynError> {
                Ok(match kind {
                    Kind::Bool => Value::Boolean(pg::<bool>(raw)?),
                    Kind::I16 => Value::Integer(pg::<i16>(raw)?.into()),
                    Kind::I32 => Value::Integer(pg::<i32>(raw)?.into()),
                    Kind::I64 | Kind::U64 => Value::Integer(pg::<i64>(raw)?),
                    Kind::Oid => Value::Integer(pg::<sqlx::postgres::types::Oid>(raw)?.0.into()),
                    Kind::F32 => {
                        // Through text, so that 0.1f32 reads back as 0.1 and not 0.10000000149.
                        let x = pg::<f32>(raw)?;
                        Value::Real(x.to_string().parse().unwrap_or(f64::from(x)))
                    }
                    Kind::F64 => Value::Real(pg::<f64>(raw)?),
                    Kind::Numeric => Value::Decimal(pg::<BigDecimal>(raw)?.to_plain_string()),
                    Kind::Bytes => Value::Blob(pg::<Vec<u8>>(raw)?),
                    Kind::Date => Value::Date(pg::<NaiveDate>(raw)?.to_string()),
                    Kind::Time => Value::Time(time_text(&pg::<NaiveTime>(raw)?)),
                    Kind::Timestamp => {
                        Value::Timestamp(naive_datetime_text(&pg::<NaiveDateTime>(raw)?))
                    }
                    Kind::TimestampTz => Value::Timestamp(utc_text(&pg::<DateTime<Utc>>(raw)?)),
                    Kind::Json => Value::Json(pg::<serde_json::Value>(raw)?.to_string()),
                    Kind::Uuid => Value::Uuid(pg::<Uuid>(raw)?.to_string()),
                    Kind::Text => Value::Text(pg::<String>(raw)?),
                    Kind::Unsupported => {
                        return Err(format!(
                            "runner reads {} values only as text: cast it in the query (x::text)",
                            raw.type_info().name()
                        )
                        .into());
                    }
                })
            })();
            decoded.map_err(sqlx::Error::Decode)
        },
    )
}

/// Reads PostgreSQL rows by column type.
pub fn postgres_rows(rows: &[PgRow]) -> Result<Rows, DbError> {
    read_all(rows, postgres_reader)
}

/// The reader of a MySQL/MariaDB result.
pub fn mysql_reader(row: &MySqlRow) -> RowReader<MySqlRow> {
    RowReader::new(
        row,
        |_, _, ty| match ty {
            "BOOLEAN" => Kind::Bool,
            "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => Kind::I64,
            "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
            | "BIGINT UNSIGNED" | "BIT" => Kind::U64,
            "FLOAT" => Kind::F32,
            "DOUBLE" => Kind::F64,
            "DECIMAL" => Kind::Numeric,
            "DATE" => Kind::Date,
            "TIME" => Kind::Time,
            "DATETIME" | "TIMESTAMP" => Kind::Timestamp,
            "JSON" => Kind::Json,
            "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => Kind::Bytes,
            _ => Kind::Text,
        },
        |row, i, kind| {
            // MySQL's decoders convert between integer widths as the column needs: `try_get`.
            Ok(match kind {
                Kind::Bool => Value::Boolean(row.try_get(i)?),
                Kind::I64 => Value::Integer(row.try_get(i)?),
                Kind::U64 => {
                    let n: u64 = row.try_get(i)?;
                    i64::try_from(n).map_or_else(|_| Value::Decimal(n.to_string()), Value::Integer)
                }
                Kind::F32 => {
                    let x: f32 = row.try_get(i)?;
                    Value::Real(x.to_string().parse().unwrap_or(f64::from(x)))
                }
                Kind::F64 => Value::Real(row.try_get(i)?),
                Kind::Numeric => Value::Decimal(row.try_get::<BigDecimal, _>(i)?.to_plain_string()),
                Kind::Date => Value::Date(row.try_get::<NaiveDate, _>(i)?.to_string()),
                Kind::Time => Value::Time(time_text(&row.try_get(i)?)),
                Kind::Timestamp => Value::Timestamp(naive_datetime_text(&row.try_get(i)?)),
                Kind::Json => Value::Json(row.try_get::<serde_json::Value, _>(i)?.to_string()),
                Kind::Bytes => Value::Blob(row.try_get(i)?),
                _ => Value::Text(
                    <String as sqlx::Decode<MySql>>::decode(row.try_get_raw(i)?)
                        .map_err(sqlx::Error::Decode)?,
                ),
            })
        },
    )
}

/// Reads MySQL/MariaDB rows by column type.
pub fn mysql_rows(rows: &[MySqlRow]) -> Result<Rows, DbError> {
    read_all(rows, mysql_reader)
}
