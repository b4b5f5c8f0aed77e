//! PostgreSQL: the system catalogs of the current schema (`pg_class`, `pg_attribute`,
//! `pg_constraint`, `pg_index`, `pg_enum`). Catalog types (`name`, `"char"`) are cast to text
//! so that they decode as text. See <https://www.postgresql.org/docs/current/catalogs.html>.

use indexmap::IndexMap;

use super::{
    IntrospectError, Row, is_not_app_table, parse_default, read_foreign_keys, rows, split_type,
    strip_outer_parens,
};
use crate::db::Db;
use crate::model::{Check, Column, ColumnType, EnumType, Index, PrimaryKey, Schema, Table, Unique};

const TABLES: &str = "SELECT c.relname::text AS name FROM pg_class c \
    JOIN pg_namespace n ON n.oid = c.relnamespace \
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
    ORDER BY c.relname";

const COLUMNS: &str = "SELECT c.relname::text AS table_name, a.attname::text AS column_name, \
    format_type(a.atttypid, a.atttypmod) AS data_type, t.typtype::text AS typtype, \
    t.typname::text AS typname, a.attnotnull AS not_null, a.attidentity::text AS identity, \
    a.attgenerated::text AS generated, pg_get_expr(d.adbin, d.adrelid) AS default_expr \
    FROM pg_attribute a \
    JOIN pg_class c ON c.oid = a.attrelid \
    JOIN pg_namespace n ON n.oid = c.relnamespace \
    JOIN pg_type t ON t.oid = a.atttypid \
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
      AND a.attnum > 0 AND NOT a.attisdropped \
    ORDER BY c.relname, a.attnum";

/// Primary keys and unique constraints, one row per column in key order.
const KEYS: &str = "SELECT c.relname::text AS table_name, con.conname::text AS name, \
    con.contype::text AS kind, a.attname::text AS column_name \
    FROM pg_constraint con \
    JOIN pg_class c ON c.oid = con.conrelid \
    JOIN pg_namespace n ON n.oid = c.relnamespace \
    CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) \
    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
    WHERE n.nspname = current_schema() AND con.contype IN ('p', 'u') \
    ORDER BY c.relname, con.conname, k.ord";

const FOREIGN_KEYS: &str = "SELECT c.relname::text AS table_name, con.conname::text AS name, \
    a.attname::text AS column_name, rc.relname::text AS ref_table, \
    ra.attname::text AS ref_column, con.confdeltype::text AS on_delete, \
    con.confupdtype::text AS on_update \
    FROM pg_constraint con \
    JOIN pg_class c ON c.oid = con.conrelid \
    JOIN pg_namespace n ON n.oid = c.relnamespace \
    JOIN pg_class rc ON rc.oid = con.confrelid \
    CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refnum, ord) \
    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
    JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.refnum \
    WHERE n.nspname = current_schema() AND con.contype = 'f' \
    ORDER BY c.relname, con.conname, k.ord";

const CHECKS: &str = "SELECT c.relname::text AS table_name, con.conname::text AS name, \
    pg_get_constraintdef(con.oid) AS definition \
    FROM pg_constraint con \
    JOIN pg_class c ON c.oid = con.conrelid \
    JOIN pg_namespace n ON n.oid = c.relnamespace \
    WHERE n.nspname = current_schema() AND con.contype = 'c' \
    ORDER BY c.relname, con.conname";

/// Indexes that back no constraint (those are read as the constraint), one row per key column;
/// an expression column has a NULL name.
const INDEXES: &str = "SELECT c.relname::text AS table_name, ic.relname::text AS index_name, \
    i.indisunique AS is_unique, pg_get_expr(i.indpred, i.indrelid) AS predicate, \
    a.attname::text AS column_name \
    FROM pg_index i \
    JOIN pg_class c ON c.oid = i.indrelid \
    JOIN pg_class ic ON ic.oid = i.indexrelid \
    JOIN pg_namespace n ON n.oid = c.relnamespace \
    CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
    LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND k.ord <= i.indnkeyatts \
      AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid \
                      AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')) \
    ORDER BY c.relname, ic.relname, k.ord";

const ENUMS: &str = "SELECT t.typname::text AS name, e.enumlabel::text AS value \
    FROM pg_type t \
    JOIN pg_enum e ON e.enumtypid = t.oid \
    JOIN pg_namespace n ON n.oid = t.typnamespace \
    WHERE n.nspname = current_schema() \
    ORDER BY t.typname, e.enumsortorder";

pub(super) async fn introspect(db: &mut Db) -> Result<Schema, IntrospectError> {
    let mut schema = Schema::default();
    for row in rows(&db.query(ENUMS, &[]).await?) {
        let name = row.text("name")?;
        if name.starts_with("_runner_") {
            continue;
        }
        schema
            .enums
            .entry(name.clone())
            .or_insert_with(|| EnumType {
                name,
                values: Vec::new(),
            })
            .values
            .push(row.text("value")?);
    }
    for row in rows(&db.query(TABLES, &[]).await?) {
        let name = row.text("name")?;
        if !is_not_app_table(&name) {
            schema.tables.insert(name.clone(), Table::new(name));
        }
    }
    let tables = schema.tables.map_mut();
    for row in rows(&db.query(COLUMNS, &[]).await?) {
        if let Some(table) = tables.get_mut(&row.text("table_name")?) {
            let column = read_column(&row, &table.name)?;
            table.columns.push(column);
        }
    }
    for row in rows(&db.query(KEYS, &[]).await?) {
        let Some(table) = tables.get_mut(&row.text("table_name")?) else {
            continue;
        };
        let (name, column) = (row.text("name")?, row.text("column_name")?);
        if row.text("kind")? == "p" {
            table
                .primary_key
                .get_or_insert_with(|| PrimaryKey {
                    name,
                    columns: Vec::new(),
                })
                .columns
                .push(column);
        } else {
            match table.uniques.last_mut() {
                Some(unique) if unique.name == name => unique.columns.push(column),
                _ => table.uniques.push(Unique {
                    name,
                    columns: vec![column],
                }),
            }
        }
    }
    read_foreign_keys(db, FOREIGN_KEYS, tables).await?;
    for row in rows(&db.query(CHECKS, &[]).await?) {
        if let Some(table) = tables.get_mut(&row.text("table_name")?) {
            table.checks.push(Check {
                name: row.text("name")?,
                expr: check_expr(&row.text("definition")?),
            });
        }
    }
    read_indexes(db, tables).await?;
    Ok(schema)
}

/// The expression of `CHECK (expr) [NOT VALID]` as `pg_get_constraintdef` prints it.
fn check_expr(definition: &str) -> String {
    let body = definition.trim();
    let body = body.strip_prefix("CHECK").unwrap_or(body);
    let body = body
        .trim()
        .trim_end_matches(" NOT VALID")
        .trim_end_matches(" NO INHERIT");
    strip_outer_parens(body).to_string()
}

/// The portable type of a column as `format_type` names it (with `pg_type` for enums).
fn column_type(row: &Row<'_>, table: &str, column: &str) -> Result<ColumnType, IntrospectError> {
    let shown = row.text("data_type")?;
    if row.text("typtype")? == "e" {
        return Ok(ColumnType::Enum(row.text("typname")?));
    }
    let unknown = || IntrospectError::unknown_type(table, column, &shown);
    let (name, args, rest) = split_type(&shown).ok_or_else(unknown)?;
    // `timestamp(3) with time zone` puts its precision in the middle.
    let name = if rest.is_empty() {
        name
    } else {
        format!("{name} {rest}")
    };
    Ok(match (name.as_str(), args.as_slice()) {
        ("integer" | "int" | "int4", []) => ColumnType::Integer,
        ("bigint" | "int8", []) => ColumnType::BigInt,
        ("smallint" | "int2", []) => ColumnType::SmallInt,
        ("boolean" | "bool", []) => ColumnType::Boolean,
        ("real" | "float4", []) => ColumnType::Real,
        ("double precision" | "float8", []) => ColumnType::Double,
        ("numeric" | "decimal", [precision, scale]) => ColumnType::Decimal {
            precision: *precision,
            scale: *scale,
        },
        ("numeric" | "decimal", [precision]) => ColumnType::Decimal {
            precision: *precision,
            scale: 0,
        },
        ("character varying" | "character" | "varchar" | "bpchar", [length]) => {
            ColumnType::String {
                length: Some(*length),
            }
        }
        ("character varying" | "varchar", []) => ColumnType::String { length: None },
        ("text" | "citext", []) => ColumnType::Text,
        ("bytea", []) => ColumnType::Binary,
        ("date", []) => ColumnType::Date,
        ("time without time zone" | "time with time zone" | "time", _) => ColumnType::Time,
        ("timestamp without time zone" | "timestamp", _) => ColumnType::Timestamp,
        ("timestamp with time zone" | "timestamptz", _) => ColumnType::TimestampTz,
        ("json" | "jsonb", []) => ColumnType::Json,
        ("uuid", []) => ColumnType::Uuid,
        _ => return Err(unknown()),
    })
}

fn read_column(row: &Row<'_>, table: &str) -> Result<Column, IntrospectError> {
    let name = row.text("column_name")?;
    if !row.text("generated")?.is_empty() {
        return Err(IntrospectError::not_understood(
            table,
            format!("column '{name}' is generated, which runner cannot model"),
        ));
    }
    let ty = column_type(row, table, &name)?;
    let default_expr = row.opt_text("default_expr")?;
    // Identity columns (what runner creates) and serial columns (a sequence default) both
    // number rows by themselves.
    let serial = default_expr
        .as_deref()
        .is_some_and(|d| d.trim_start().starts_with("nextval("));
    let autoincrement = !row.text("identity")?.is_empty() || serial;
    let default = default_expr
        .filter(|_| !serial)
        .and_then(|text| parse_default(&text, &ty, false));
    Ok(Column {
        nullable: !row.flag("not_null")?,
        name,
        ty,
        default,
        autoincrement,
    })
}

async fn read_indexes(
    db: &mut Db,
    tables: &mut IndexMap<String, Table>,
) -> Result<(), IntrospectError> {
    for row in rows(&db.query(INDEXES, &[]).await?) {
        let Some(table) = tables.get_mut(&row.text("table_name")?) else {
            continue;
        };
        let name = row.text("index_name")?;
        let Some(column) = row.opt_text("column_name")? else {
            return Err(IntrospectError::not_understood(
                &table.name,
                format!("index '{name}' is on an expression, which runner cannot model"),
            ));
        };
        match table.indexes.last_mut() {
            Some(index) if index.name == name => index.columns.push(column),
            _ => table.indexes.push(Index {
                name,
                columns: vec![column],
                unique: row.flag("is_unique")?,
                where_clause: row
                    .opt_text("predicate")?
                    .map(|p| strip_outer_parens(&p).to_string()),
            }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_definitions_lose_their_keyword_and_outer_parentheses() {
        assert_eq!(check_expr("CHECK ((score >= 0))"), "score >= 0");
        assert_eq!(
            check_expr("CHECK (((a > 0) AND (b > 0))) NOT VALID"),
            "(a > 0) AND (b > 0)"
        );
    }
}
