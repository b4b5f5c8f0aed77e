//! Values read from and bound to any of the three databases, mirroring the WIT `value`
//! variant, so that the same rows flow between the host, transforms and fixtures.

use serde::{Deserialize, Serialize};

/// One SQL value. Types without a lossless native Rust form (decimals, dates, times,
/// timestamps, JSON, UUIDs) travel as their canonical text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Value {
    Null,
    Boolean(bool),
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Decimal(String),
    Date(String),
    Time(String),
    Timestamp(String),
    Json(String),
    Uuid(String),
}

impl Value {
    /// The text of a text-like value (text, and the types carried as text).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Text(s)
            | Self::Decimal(s)
            | Self::Date(s)
            | Self::Time(s)
            | Self::Timestamp(s)
            | Self::Json(s)
            | Self::Uuid(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, reading booleans as 0/1 (MySQL and SQLite have no boolean type).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Integer(i) => Some(*i),
            Self::Boolean(b) => Some(i64::from(*b)),
            Self::Decimal(s) | Self::Text(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// The value as a boolean, reading 0/1 integers as MySQL and SQLite store them.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Boolean(b) => Some(*b),
            Self::Integer(i) => Some(*i != 0),
            Self::Text(s) => match s.as_str() {
                "YES" | "yes" | "true" | "t" | "1" => Some(true),
                "NO" | "no" | "false" | "f" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// The value as text for listings and dumps.
    pub fn to_text(&self) -> Option<String> {
        match self {
            Self::Null => None,
            Self::Boolean(b) => Some(b.to_string()),
            Self::Integer(i) => Some(i.to_string()),
            Self::Real(x) => Some(crate::model::literal::float_text(*x)),
            Self::Blob(bytes) => Some(hex::encode(bytes)),
            other => other.as_str().map(str::to_string),
        }
    }
}

/// Rows returned by a query, with their column names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    /// The position of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
    }

    /// The first value of the first row: the answer of a query that returns one value.
    pub fn scalar(&self) -> Option<&Value> {
        self.rows.first().and_then(|row| row.first())
    }

    /// Each row's value of column `name` as text (NULL as `None`).
    pub fn texts(&self, name: &str) -> Vec<Option<String>> {
        match self.column(name) {
            Some(i) => self.rows.iter().map(|row| row[i].to_text()).collect(),
            None => vec![None; self.rows.len()],
        }
    }
}
