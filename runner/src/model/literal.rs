//! Literal values written in revision files (column defaults), kept as the YAML scalar the user
//! wrote so that each dialect can render its own literal syntax.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ColumnType;

/// A YAML scalar used as a value: a string, a number or a boolean. `null` is modelled as the
/// absence of a literal by the fields that take one.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
}

impl Literal {
    /// Checks that this literal is a value of `ty` that every database reads the same way,
    /// so that a default the database would refuse (or read differently) fails before any SQL
    /// is sent. `enum_values` are the values of `ty` when it is an enum. The error says what
    /// `ty` takes.
    pub fn fits(&self, ty: &ColumnType, enum_values: Option<&[String]>) -> Result<(), String> {
        if let Self::String(text) = self
            && text.contains('\0')
        {
            return Err("PostgreSQL text cannot hold a NUL character".into());
        }
        let text = match self {
            Self::String(text) => Some(text.as_str()),
            _ => None,
        };
        match ty {
            ColumnType::Integer | ColumnType::BigInt | ColumnType::SmallInt => {
                let Self::Int(value) = self else {
                    return Err(format!("{ty} takes a whole number, written without quotes"));
                };
                let (min, max) = match ty {
                    ColumnType::SmallInt => (i16::MIN.into(), i16::MAX.into()),
                    ColumnType::Integer => (i32::MIN.into(), i32::MAX.into()),
                    _ => (i64::MIN, i64::MAX),
                };
                if !(min..=max).contains(value) {
                    return Err(format!("{ty} holds {min} to {max}"));
                }
                Ok(())
            }
            ColumnType::Boolean => match self {
                Self::Bool(_) => Ok(()),
                _ => Err("boolean takes true or false".into()),
            },
            ColumnType::Real | ColumnType::Double => match self {
                Self::Int(_) | Self::Float(_) => Ok(()),
                _ => Err(format!("{ty} takes a number, written without quotes")),
            },
            ColumnType::Decimal { precision, scale } => {
                let whole = match self {
                    Self::Int(i) => i.unsigned_abs().to_string(),
                    Self::Float(x) => format!("{:.0}", x.abs().trunc()),
                    _ => return Err(format!("{ty} takes a number, written without quotes")),
                };
                let digits = whole.trim_start_matches('0').len();
                let room = precision - scale;
                if digits > room as usize {
                    return Err(format!(
                        "{ty} holds at most {room} digit(s) before the decimal point"
                    ));
                }
                Ok(())
            }
            ColumnType::String { length } => match (text, length) {
                (Some(text), Some(length)) if text.chars().count() > *length as usize => {
                    Err(format!("{ty} holds at most {length} characters"))
                }
                (Some(_), _) => Ok(()),
                (None, _) => Err(format!("{ty} takes text; put the value in quotes")),
            },
            ColumnType::Text | ColumnType::Binary => match text {
                Some(_) => Ok(()),
                None => Err(format!("{ty} takes text; put the value in quotes")),
            },
            ColumnType::Date => fits_format(text, ty, "YYYY-MM-DD", |t| {
                chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok()
            }),
            ColumnType::Time => fits_format(text, ty, "HH:MM:SS", |t| {
                chrono::NaiveTime::parse_from_str(t, "%H:%M:%S%.f").is_ok()
            }),
            ColumnType::Timestamp => fits_format(text, ty, "YYYY-MM-DD HH:MM:SS", is_timestamp),
            ColumnType::TimestampTz => fits_format(text, ty, "YYYY-MM-DD HH:MM:SS", |t| {
                is_timestamp(t) || chrono::DateTime::parse_from_rfc3339(t).is_ok()
            }),
            ColumnType::Json => fits_format(text, ty, "JSON text", |t| {
                serde_json::from_str::<serde_json::Value>(t).is_ok()
            }),
            ColumnType::Uuid => fits_format(
                text,
                ty,
                "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx in hexadecimal",
                is_uuid,
            ),
            ColumnType::Enum(name) => {
                let values = enum_values.unwrap_or_default();
                match text {
                    Some(text) if values.iter().any(|v| v == text) => Ok(()),
                    _ => Err(format!(
                        "it is not a value of enum '{name}' ({})",
                        values.join(", ")
                    )),
                }
            }
        }
    }
}

/// Text in one format, for the types whose literals are strings the database parses.
fn fits_format(
    text: Option<&str>,
    ty: &ColumnType,
    format: &str,
    parses: impl Fn(&str) -> bool,
) -> Result<(), String> {
    match text {
        Some(text) if parses(text) => Ok(()),
        _ => Err(format!(
            "{ty} takes text in the form {format} (`default_sql` takes expressions such as \
             CURRENT_TIMESTAMP)"
        )),
    }
}

fn is_timestamp(text: &str) -> bool {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .any(|format| chrono::NaiveDateTime::parse_from_str(text, format).is_ok())
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{}", float_text(*x)),
            Self::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// A float as SQL and YAML both read it back: always with a decimal point or exponent.
pub fn float_text(x: f64) -> String {
    let text = format!("{x}");
    if text.contains(['.', 'e', 'E']) || !x.is_finite() {
        text
    } else {
        format!("{text}.0")
    }
}

impl Serialize for Literal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Bool(b) => serializer.serialize_bool(*b),
            Self::Int(i) => serializer.serialize_i64(*i),
            Self::Float(x) => serializer.serialize_f64(*x),
            Self::String(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for Literal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LiteralVisitor)
    }
}

/// Reads a scalar as a [`Literal`]. A YAML `null` never reaches it: fields of type
/// `Option<Literal>` take `null` as `None` through serde's `Option`.
struct LiteralVisitor;

const EXPECTED: &str = "a string, number, boolean or null";

impl<'de> Visitor<'de> for LiteralVisitor {
    type Value = Literal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Literal, E> {
        Ok(Literal::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Literal, E> {
        Ok(Literal::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Literal, E> {
        i64::try_from(v)
            .map(Literal::Int)
            .map_err(|_| E::custom(format!("integer {v} does not fit in 64 bits")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Literal, E> {
        if v.is_finite() {
            Ok(Literal::Float(v))
        } else {
            Err(E::custom("a default must be a finite number"))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Literal, E> {
        Ok(Literal::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Literal, E> {
        Ok(Literal::String(v))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _seq: A) -> Result<Literal, A::Error> {
        Err(de::Error::custom(format!(
            "expected {EXPECTED}, found a list"
        )))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _map: A) -> Result<Literal, A::Error> {
        Err(de::Error::custom(format!(
            "expected {EXPECTED}, found a mapping"
        )))
    }
}
