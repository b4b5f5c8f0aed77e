//! Portable column types: the vocabulary revision files use (`string(255)`, `decimal(10,2)`,
//! `enum(deal_type)`), parsed once and rendered per dialect elsewhere.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A column type that every supported database can store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnType {
    Integer,
    BigInt,
    SmallInt,
    Boolean,
    Real,
    Double,
    Decimal {
        precision: u32,
        scale: u32,
    },
    /// `string(n)`, or `string` with no length (SQLAlchemy's `String()`, PostgreSQL's
    /// `varchar`), which SQLite and PostgreSQL store and MySQL refuses.
    String {
        length: Option<u32>,
    },
    Text,
    Binary,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Json,
    Uuid,
    Enum(String),
}

/// Why a type name could not be parsed; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TypeParseError(String);

/// The type names accepted, for error messages.
pub const TYPE_NAMES: &str = "integer, bigint, smallint, boolean, real, double, decimal(p,s), \
     string(n), string, text, binary, date, time, timestamp, timestamptz, json, uuid, enum(NAME)";

/// Largest precision MySQL accepts for DECIMAL; the portable limit.
pub const MAX_DECIMAL_PRECISION: u32 = 65;
/// Largest scale MySQL accepts for DECIMAL; the portable limit.
pub const MAX_DECIMAL_SCALE: u32 = 30;

impl ColumnType {
    /// True for the integer family (the types `autoincrement` may be used on).
    pub fn is_integer(&self) -> bool {
        matches!(self, Self::Integer | Self::BigInt | Self::SmallInt)
    }

    /// The enum this column uses, if it is an enum column.
    pub fn enum_name(&self) -> Option<&str> {
        match self {
            Self::Enum(name) => Some(name),
            _ => None,
        }
    }
}

impl FromStr for ColumnType {
    type Err = TypeParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let text = input.trim();
        let (name, args) = match text.find('(') {
            Some(open) => {
                let Some(inner) = text[open + 1..].strip_suffix(')') else {
                    return Err(TypeParseError(format!(
                        "column type '{input}' is missing its ')'; inside {{...}} a comma ends \
                         the value, so quote it: \"{input},...)\""
                    )));
                };
                let args: Vec<&str> = inner.split(',').map(str::trim).collect();
                (text[..open].trim(), Some(args))
            }
            None => (text, None),
        };
        let lower = name.to_ascii_lowercase();
        let no_args = |ty: ColumnType| match &args {
            None => Ok(ty),
            Some(_) => Err(TypeParseError(format!("type '{lower}' takes no arguments"))),
        };
        match lower.as_str() {
            "integer" | "int" => no_args(Self::Integer),
            "bigint" => no_args(Self::BigInt),
            "smallint" => no_args(Self::SmallInt),
            "boolean" | "bool" => no_args(Self::Boolean),
            "real" | "float" => no_args(Self::Real),
            "double" => no_args(Self::Double),
            "text" => no_args(Self::Text),
            "binary" | "blob" => no_args(Self::Binary),
            "date" => no_args(Self::Date),
            "time" => no_args(Self::Time),
            "timestamp" | "datetime" => no_args(Self::Timestamp),
            "timestamptz" => no_args(Self::TimestampTz),
            "json" => no_args(Self::Json),
            "uuid" => no_args(Self::Uuid),
            "string" | "varchar" => match args.as_deref() {
                Some([n]) => {
                    let length = parse_number(n, "string length")?;
                    if length == 0 || length > 65_535 {
                        return Err(TypeParseError(format!(
                            "string length must be between 1 and 65535, got {length}"
                        )));
                    }
                    Ok(Self::String {
                        length: Some(length),
                    })
                }
                None => Ok(Self::String { length: None }),
                Some(_) => Err(TypeParseError(
                    "type 'string' takes one length, as in string(255)".into(),
                )),
            },
            "decimal" | "numeric" => {
                let (precision, scale) = match args.as_deref() {
                    Some([p]) => (parse_number(p, "decimal precision")?, 0),
                    Some([p, s]) => (
                        parse_number(p, "decimal precision")?,
                        parse_number(s, "decimal scale")?,
                    ),
                    _ => {
                        return Err(TypeParseError(
                            "type 'decimal' needs a precision and scale, as in decimal(10,2)"
                                .into(),
                        ));
                    }
                };
                if precision == 0 || precision > MAX_DECIMAL_PRECISION {
                    return Err(TypeParseError(format!(
                        "decimal precision must be between 1 and {MAX_DECIMAL_PRECISION}, got {precision}"
                    )));
                }
                if scale > precision || scale > MAX_DECIMAL_SCALE {
                    return Err(TypeParseError(format!(
                        "decimal scale must be at most the precision and at most {MAX_DECIMAL_SCALE}, got {scale}"
                    )));
                }
                Ok(Self::Decimal { precision, scale })
            }
            "enum" => match args.as_deref() {
                Some([n]) if !n.is_empty() => Ok(Self::Enum((*n).to_string())),
                _ => Err(TypeParseError(
                    "type 'enum' needs the enum's name, as in enum(deal_type)".into(),
                )),
            },
            _ => Err(TypeParseError(format!(
                "unknown column type '{input}', expected one of {TYPE_NAMES}"
            ))),
        }
    }
}

fn parse_number(text: &str, what: &str) -> Result<u32, TypeParseError> {
    text.parse()
        .map_err(|_| TypeParseError(format!("{what} must be a whole number, got '{text}'")))
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Integer => f.write_str("integer"),
            Self::BigInt => f.write_str("bigint"),
            Self::SmallInt => f.write_str("smallint"),
            Self::Boolean => f.write_str("boolean"),
            Self::Real => f.write_str("real"),
            Self::Double => f.write_str("double"),
            Self::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            Self::String {
                length: Some(length),
            } => write!(f, "string({length})"),
            Self::String { length: None } => f.write_str("string"),
            Self::Text => f.write_str("text"),
            Self::Binary => f.write_str("binary"),
            Self::Date => f.write_str("date"),
            Self::Time => f.write_str("time"),
            Self::Timestamp => f.write_str("timestamp"),
            Self::TimestampTz => f.write_str("timestamptz"),
            Self::Json => f.write_str("json"),
            Self::Uuid => f.write_str("uuid"),
            Self::Enum(name) => write!(f, "enum({name})"),
        }
    }
}

impl Serialize for ColumnType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ColumnType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/operations.md lists the other spellings as "`a` is `b`": each must read as said.
    #[test]
    fn the_spellings_the_docs_list_read_as_the_docs_say() {
        let docs = include_str!("../../../docs/operations.md");
        let paragraph = docs
            .split("\n\n")
            .find(|p| p.starts_with("Other spellings"))
            .expect("the paragraph of other spellings");
        let paragraph = paragraph.replace('\n', " ");
        let mut pairs = 0;
        let sides: Vec<&str> = paragraph.split("` is `").collect();
        for pair in sides.windows(2) {
            let (Some(alias), Some(canonical)) =
                (pair[0].rsplit('`').next(), pair[1].split('`').next())
            else {
                continue;
            };
            let read = |spelling: &str| -> ColumnType {
                spelling
                    .replace("(p,s)", "(10,2)")
                    .replace("(n)", "(20)")
                    .parse()
                    .unwrap_or_else(|e| panic!("{spelling}: {e}"))
            };
            assert_eq!(read(alias), read(canonical), "`{alias}` is `{canonical}`");
            pairs += 1;
        }
        assert_eq!(pairs, 7, "{paragraph}");
        assert_eq!(
            "NUMERIC(12)".parse::<ColumnType>().unwrap(),
            ColumnType::Decimal {
                precision: 12,
                scale: 0
            }
        );
    }

    #[test]
    fn parses_every_portable_type_and_prints_it_back() {
        for name in [
            "integer",
            "bigint",
            "smallint",
            "boolean",
            "real",
            "double",
            "decimal(10,2)",
            "string(255)",
            "string",
            "text",
            "binary",
            "date",
            "time",
            "timestamp",
            "timestamptz",
            "json",
            "uuid",
            "enum(deal_type)",
        ] {
            let ty: ColumnType = name.parse().unwrap();
            assert_eq!(ty.to_string(), name);
        }
        assert_eq!(
            "decimal( 30 , 4 )".parse::<ColumnType>().unwrap(),
            ColumnType::Decimal {
                precision: 30,
                scale: 4
            }
        );
        assert_eq!(
            "DECIMAL(5)".parse::<ColumnType>().unwrap(),
            ColumnType::Decimal {
                precision: 5,
                scale: 0
            }
        );
    }

    #[test]
    fn rejects_unknown_and_malformed_types_with_what_was_expected() {
        let err = "strin(5)".parse::<ColumnType>().unwrap_err().to_string();
        assert!(err.contains("unknown column type 'strin(5)'"), "{err}");
        assert!(err.contains("string(n)"), "{err}");
        let err = "string(1,2)".parse::<ColumnType>().unwrap_err().to_string();
        assert!(err.contains("takes one length"), "{err}");
        assert_eq!(
            "varchar".parse::<ColumnType>(),
            Ok(ColumnType::String { length: None })
        );
        let err = "decimal(3,5)"
            .parse::<ColumnType>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("scale"), "{err}");
        let err = "integer(4)".parse::<ColumnType>().unwrap_err().to_string();
        assert!(err.contains("takes no arguments"), "{err}");
        let err = "string(x)".parse::<ColumnType>().unwrap_err().to_string();
        assert!(err.contains("whole number"), "{err}");
    }
}
