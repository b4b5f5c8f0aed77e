//! Which column type changes keep every value (widening), and which make PostgreSQL rewrite
//! the table.

use crate::model::{ColumnType, Schema};

/// True if every value of `from` fits `to` unchanged, so the change cannot fail on existing
/// rows or lose data. `schema` knows the enums' values.
pub fn widens(from: &ColumnType, to: &ColumnType, schema: &Schema) -> bool {
    use ColumnType::*;
    if from == to {
        return true;
    }
    match (from, to) {
        (SmallInt, Integer | BigInt) | (Integer, BigInt) => true,
        (SmallInt | Integer, Double) | (SmallInt, Real) | (Real, Double) => true,
        (SmallInt | Integer | BigInt, Decimal { precision, scale }) => {
            precision.saturating_sub(*scale) >= integer_digits(from)
        }
        (String { length: a }, String { length: b }) => b >= a,
        (
            Decimal {
                precision: p,
                scale: s,
            },
            Decimal {
                precision: p2,
                scale: s2,
            },
        ) => s2 >= s && p2.saturating_sub(*s2) >= p.saturating_sub(*s),
        // One more character for the sign.
        (_, String { length: None }) => !matches!(from, Binary | Json),
        (
            SmallInt | Integer | BigInt,
            String {
                length: Some(length),
            },
        ) => *length > integer_digits(from),
        (
            Enum(name),
            String {
                length: Some(length),
            },
        ) => schema.enums.get(name).is_some_and(|e| {
            e.values
                .iter()
                .all(|v| v.chars().count() <= *length as usize)
        }),
        (Date, Timestamp | TimestampTz) | (Timestamp, TimestampTz) => true,
        (Binary, Text) | (Json, Text) => false,
        (_, Text) => true,
        _ => false,
    }
}

/// Decimal digits of the largest value of an integer type.
fn integer_digits(ty: &ColumnType) -> u32 {
    match ty {
        ColumnType::SmallInt => 5,
        ColumnType::Integer => 10,
        _ => 19,
    }
}

/// True if PostgreSQL rewrites the whole table (under an ACCESS EXCLUSIVE lock) to change a
/// column from `from` to `to`. The changes it makes in place: a longer `varchar`, `varchar` to
/// `text`, and a `numeric` with more precision and the same scale.
pub fn postgres_rewrites(from: &ColumnType, to: &ColumnType) -> bool {
    use ColumnType::*;
    match (from, to) {
        (a, b) if a == b => false,
        (String { length: a }, String { length: b }) => b < a,
        (String { .. }, Text) => false,
        (
            Decimal {
                precision: p,
                scale: s,
            },
            Decimal {
                precision: p2,
                scale: s2,
            },
        ) => !(s == s2 && p2 >= p),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(name: &str) -> ColumnType {
        name.parse().expect("a type")
    }

    #[test]
    fn widening_keeps_every_value() {
        let schema = Schema::default();
        for (from, to) in [
            ("smallint", "bigint"),
            ("string(255)", "string(320)"),
            ("string(10)", "text"),
            ("integer", "decimal(12,2)"),
            ("decimal(10,2)", "decimal(12,3)"),
            ("date", "timestamptz"),
            ("integer", "string(11)"),
        ] {
            assert!(widens(&ty(from), &ty(to), &schema), "{from} -> {to}");
        }
        for (from, to) in [
            ("bigint", "integer"),
            ("string(320)", "string(255)"),
            ("text", "string(255)"),
            ("decimal(12,2)", "decimal(12,3)"),
            ("double", "real"),
            ("integer", "string(10)"),
            ("timestamptz", "date"),
            ("binary", "text"),
        ] {
            assert!(!widens(&ty(from), &ty(to), &schema), "{from} -> {to}");
        }
    }

    #[test]
    fn postgres_changes_varchar_length_and_numeric_precision_in_place() {
        assert!(!postgres_rewrites(&ty("string(255)"), &ty("string(320)")));
        assert!(!postgres_rewrites(&ty("string(255)"), &ty("text")));
        assert!(!postgres_rewrites(
            &ty("decimal(10,2)"),
            &ty("decimal(12,2)")
        ));
        assert!(postgres_rewrites(&ty("integer"), &ty("bigint")));
        assert!(postgres_rewrites(&ty("text"), &ty("string(255)")));
        assert!(postgres_rewrites(
            &ty("decimal(10,2)"),
            &ty("decimal(12,3)")
        ));
    }
}
