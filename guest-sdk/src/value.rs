//! [`Value`], the SQL value crossing the sandbox, with conversions from and to Rust types.

use crate::bindings::runner::transform::db;

/// One SQL value. Decimals, dates, times, timestamps, JSON and UUIDs travel as their text,
/// so nothing is rounded on the way: `Value::Decimal("12.50".into())`.
pub type Value = db::Value;

impl Value {
    /// True for SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The name of the variant, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Boolean(_) => "boolean",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
            Value::Decimal(_) => "decimal",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::Timestamp(_) => "timestamp",
            Value::Json(_) => "json",
            Value::Uuid(_) => "uuid",
        }
    }

    /// The text of a value carried as text (text, decimal, date, time, timestamp, JSON, UUID).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s)
            | Value::Decimal(s)
            | Value::Date(s)
            | Value::Time(s)
            | Value::Timestamp(s)
            | Value::Json(s)
            | Value::Uuid(s) => Some(s),
            _ => None,
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(value: $t) -> Self {
                Value::Integer(i64::from(value))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Boolean(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Value::Real(value)
    }
}

impl From<f32> for Value {
    fn from(value: f32) -> Self {
        // Through text, so 0.1f32 becomes 0.1 and not 0.10000000149.
        Value::Real(value.to_string().parse().unwrap_or(f64::from(value)))
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(value.to_string())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Text(value)
    }
}

impl From<&String> for Value {
    fn from(value: &String) -> Self {
        Value::Text(value.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(value: Vec<u8>) -> Self {
        Value::Blob(value)
    }
}

impl From<&[u8]> for Value {
    fn from(value: &[u8]) -> Self {
        Value::Blob(value.to_vec())
    }
}

impl From<&Value> for Value {
    fn from(value: &Value) -> Self {
        value.clone()
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

/// A Rust type a [`Value`] can be read as. The error says what was found instead.
pub trait FromValue: Sized {
    /// Reads the value, or says why it cannot.
    fn from_value(value: &Value) -> std::result::Result<Self, String>;
}

fn mismatch(expected: &str, value: &Value) -> String {
    format!("expected {expected}, found {}", value.kind())
}

impl FromValue for Value {
    fn from_value(value: &Value) -> std::result::Result<Self, String> {
        Ok(value.clone())
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Integer(i) => Ok(*i),
            Value::Boolean(b) => Ok(i64::from(*b)),
            Value::Decimal(s) | Value::Text(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("expected an integer, found '{s}'")),
            other => Err(mismatch("an integer", other)),
        }
    }
}

macro_rules! from_narrow_int {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: &Value) -> std::result::Result<Self, String> {
                let wide = i64::from_value(value)?;
                <$t>::try_from(wide).map_err(|_| format!("{wide} does not fit in {}", stringify!($t)))
            }
        }
    )*};
}
from_narrow_int!(i32, i16, u32, u64, usize);

impl FromValue for f64 {
    fn from_value(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Real(x) => Ok(*x),
            Value::Integer(i) => Ok(*i as f64),
            Value::Decimal(s) | Value::Text(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("expected a number, found '{s}'")),
            other => Err(mismatch("a number", other)),
        }
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Boolean(b) => Ok(*b),
            // SQLite and MySQL store booleans as 0/1.
            Value::Integer(0) => Ok(false),
            Value::Integer(1) => Ok(true),
            other => Err(mismatch("a boolean", other)),
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Integer(i) => Ok(i.to_string()),
            other => other
                .as_text()
                .map(str::to_string)
                .ok_or_else(|| mismatch("text", other)),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Blob(bytes) => Ok(bytes.clone()),
            Value::Text(s) => Ok(s.as_bytes().to_vec()),
            other => Err(mismatch("a blob", other)),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}
