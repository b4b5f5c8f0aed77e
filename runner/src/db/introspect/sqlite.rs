//! SQLite: names of constraints, CHECKs, AUTOINCREMENT and the enum CHECKs runner writes on
//! enum columns exist only in the `CREATE TABLE` text kept in `sqlite_master`, so that text is
//! parsed; the pragmas give the rest (column types as declared, defaults, key order, foreign
//! keys and indexes). See <https://www.sqlite.org/pragma.html#pragma_table_xinfo>.

use std::collections::HashMap;

use sqlparser::ast::{
    ColumnOption, CreateTable, Expr, IndexColumn, ObjectName, Statement, TableConstraint, Value,
};
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use super::{IntrospectError, Row, fk_action, is_not_app_table, parse_default, rows, split_type};
use crate::db::{Db, Value as DbValue};
use crate::model::compare::inline_enum_name;
use crate::model::{
    Check, Column, ColumnType, EnumType, ForeignKey, Index, PrimaryKey, Schema, Table, Unique,
    derived_name, fk_name, pk_name, unique_name,
};

pub(super) async fn introspect(db: &mut Db) -> Result<Schema, IntrospectError> {
    // rowid order is creation order (a rebuilt table counts as created at its rebuild).
    let tables = db
        .query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY rowid",
            &[],
        )
        .await?;
    let mut schema = Schema::default();
    for row in rows(&tables) {
        let name = row.text("name")?;
        if is_not_app_table(&name) || name.starts_with("sqlite_") {
            continue;
        }
        let sql = row.text("sql")?;
        let table = read_table(db, &name, &sql, &mut schema).await?;
        schema.tables.insert(name, table);
    }
    Ok(schema)
}

/// A foreign key as written in `CREATE TABLE`, to find its name.
struct WrittenFk {
    name: Option<String>,
    columns: Vec<String>,
    ref_table: String,
}

/// What only the `CREATE TABLE` text knows.
#[derive(Default)]
struct Written {
    pk_name: Option<String>,
    autoincrement: Vec<String>,
    uniques: Vec<Unique>,
    fks: Vec<WrittenFk>,
    checks: Vec<Check>,
    /// Enum columns (TEXT with `CHECK (col IN ('a', ...))`) and their values.
    enums: HashMap<String, Vec<String>>,
}

fn parse_create(table: &str, sql: &str) -> Result<CreateTable, IntrospectError> {
    let statements = Parser::parse_sql(&SQLiteDialect {}, sql).map_err(|e| {
        IntrospectError::not_understood(table, format!("cannot parse its CREATE TABLE: {e}"))
    })?;
    match statements.into_iter().next() {
        Some(Statement::CreateTable(create)) => Ok(create),
        _ => Err(IntrospectError::not_understood(
            table,
            "sqlite_master does not hold a CREATE TABLE for it",
        )),
    }
}

fn ident_columns(table: &str, columns: &[IndexColumn]) -> Result<Vec<String>, IntrospectError> {
    columns
        .iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(ident) => Ok(ident.value.clone()),
            other => Err(IntrospectError::not_understood(
                table,
                format!("a key or constraint is on the expression '{other}'"),
            )),
        })
        .collect()
}

fn object_name(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map(|ident| ident.value.clone())
        .unwrap_or_else(|| name.to_string())
}

/// The values of runner's enum CHECK, `"col" IN ('a', 'b')`, if `expr` is one on `column`.
fn enum_values(expr: &Expr, column: &str) -> Option<Vec<String>> {
    let Expr::InList {
        expr,
        list,
        negated: false,
    } = expr
    else {
        return None;
    };
    if !matches!(&**expr, Expr::Identifier(ident) if ident.value == column) {
        return None;
    }
    list.iter()
        .map(|item| match item {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn read_written(table: &str, create: &CreateTable) -> Result<Written, IntrospectError> {
    let mut written = Written::default();
    for column in &create.columns {
        let name = column.name.value.clone();
        let is_text = column.data_type.to_string().eq_ignore_ascii_case("TEXT");
        for option in &column.options {
            let constraint = option.name.as_ref().map(|n| n.value.clone());
            match &option.option {
                ColumnOption::PrimaryKey(_) => written.pk_name = constraint,
                ColumnOption::DialectSpecific(tokens) => {
                    let auto = tokens.iter().any(|t| {
                        matches!(t, Token::Word(w) if w.value.eq_ignore_ascii_case("AUTOINCREMENT"))
                    });
                    if auto {
                        written.autoincrement.push(name.clone());
                    }
                }
                ColumnOption::Unique(_) => written.uniques.push(Unique {
                    name: constraint
                        .unwrap_or_else(|| unique_name(table, std::slice::from_ref(&name))),
                    columns: vec![name.clone()],
                }),
                ColumnOption::ForeignKey(fk) => written.fks.push(WrittenFk {
                    name: constraint,
                    columns: vec![name.clone()],
                    ref_table: object_name(&fk.foreign_table),
                }),
                ColumnOption::Check(check) => match enum_values(&check.expr, &name) {
                    Some(values) if is_text && constraint.is_none() => {
                        written.enums.insert(name.clone(), values);
                    }
                    _ => written.checks.push(Check {
                        name: constraint.unwrap_or_else(|| {
                            derived_name("ck", table, std::slice::from_ref(&name))
                        }),
                        expr: check.expr.to_string(),
                    }),
                },
                _ => {}
            }
        }
    }
    for (i, constraint) in create.constraints.iter().enumerate() {
        match constraint {
            TableConstraint::PrimaryKey(pk) => {
                written.pk_name = pk.name.as_ref().map(|n| n.value.clone());
            }
            TableConstraint::Unique(unique) => {
                let columns = ident_columns(table, &unique.columns)?;
                written.uniques.push(Unique {
                    name: unique
                        .name
                        .as_ref()
                        .map(|n| n.value.clone())
                        .unwrap_or_else(|| unique_name(table, &columns)),
                    columns,
                });
            }
            TableConstraint::ForeignKey(fk) => written.fks.push(WrittenFk {
                name: fk.name.as_ref().map(|n| n.value.clone()),
                columns: fk.columns.iter().map(|c| c.value.clone()).collect(),
                ref_table: object_name(&fk.foreign_table),
            }),
            TableConstraint::Check(check) => written.checks.push(Check {
                name: check
                    .name
                    .as_ref()
                    .map(|n| n.value.clone())
                    .unwrap_or_else(|| derived_name("ck", table, &[(i + 1).to_string()])),
                expr: check.expr.to_string(),
            }),
            other => {
                return Err(IntrospectError::not_understood(
                    table,
                    format!("unexpected table constraint '{other}'"),
                ));
            }
        }
    }
    Ok(written)
}

/// The portable type of a declared SQLite type: the inverse of the dialect's `column_type`,
/// plus the usual spellings of other tools.
fn column_type(declared: &str) -> Option<ColumnType> {
    let (name, args, rest) = split_type(declared)?;
    if !rest.is_empty() {
        return None;
    }
    Some(match (name.as_str(), args.as_slice()) {
        ("integer" | "int" | "mediumint" | "int4", []) => ColumnType::Integer,
        ("bigint" | "int8" | "unsigned big int", []) => ColumnType::BigInt,
        ("smallint" | "tinyint" | "int2", []) => ColumnType::SmallInt,
        ("boolean" | "bool", []) => ColumnType::Boolean,
        ("real" | "float4", []) => ColumnType::Real,
        ("double" | "double precision" | "float" | "float8", []) => ColumnType::Double,
        ("decimal_text" | "decimal" | "numeric", [precision]) => ColumnType::Decimal {
            precision: *precision,
            scale: 0,
        },
        ("decimal_text" | "decimal" | "numeric", [precision, scale]) => ColumnType::Decimal {
            precision: *precision,
            scale: *scale,
        },
        (
            "varchar" | "character varying" | "nvarchar" | "varying character" | "char"
            | "character" | "nchar" | "native character",
            [length],
        ) => ColumnType::String {
            length: Some(*length),
        },
        ("varchar" | "character varying" | "nvarchar", []) => ColumnType::String { length: None },
        ("text" | "clob", []) => ColumnType::Text,
        ("blob" | "bytea" | "binary" | "varbinary", _) => ColumnType::Binary,
        ("date", []) => ColumnType::Date,
        ("time", []) => ColumnType::Time,
        ("timestamp" | "datetime", []) => ColumnType::Timestamp,
        ("timestamptz", []) => ColumnType::TimestampTz,
        ("json_text" | "json" | "jsonb", []) => ColumnType::Json,
        ("uuid_text" | "uuid", []) => ColumnType::Uuid,
        _ => return None,
    })
}

async fn read_table(
    db: &mut Db,
    name: &str,
    sql: &str,
    schema: &mut Schema,
) -> Result<Table, IntrospectError> {
    let written = read_written(name, &parse_create(name, sql)?)?;
    let param = [DbValue::Text(name.to_string())];
    let info = db
        .query(
            "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid",
            &param,
        )
        .await?;
    let mut table = Table::new(name);
    let mut key: Vec<(i64, String)> = Vec::new();
    let key_len = rows(&info)
        .filter(|r| r.int("pk").is_ok_and(|pk| pk > 0))
        .count();
    for row in rows(&info) {
        table
            .columns
            .push(read_column(&row, name, key_len, &written, schema)?);
        let pk = row.int("pk")?;
        if pk > 0 {
            key.push((pk, row.text("name")?));
        }
    }
    key.sort();
    if !key.is_empty() {
        table.primary_key = Some(PrimaryKey {
            name: written.pk_name.clone().unwrap_or_else(|| pk_name(name)),
            columns: key.into_iter().map(|(_, c)| c).collect(),
        });
    }
    table.uniques = written.uniques;
    table.checks = written.checks;
    table.foreign_keys = read_foreign_keys(db, name, &written.fks).await?;
    table.indexes = read_indexes(db, name).await?;
    Ok(table)
}

fn read_column(
    row: &Row<'_>,
    table: &str,
    key_len: usize,
    written: &Written,
    schema: &mut Schema,
) -> Result<Column, IntrospectError> {
    let name = row.text("name")?;
    if row.int("hidden")? != 0 {
        return Err(IntrospectError::not_understood(
            table,
            format!("column '{name}' is generated or hidden, which runner cannot model"),
        ));
    }
    let declared = row.opt_text("type")?.unwrap_or_default();
    let ty = match written.enums.get(&name) {
        Some(values) => {
            let enum_name = inline_enum_name(table, &name);
            schema.enums.insert(
                enum_name.clone(),
                EnumType {
                    name: enum_name.clone(),
                    values: values.clone(),
                },
            );
            ColumnType::Enum(enum_name)
        }
        None => column_type(&declared)
            .ok_or_else(|| IntrospectError::unknown_type(table, &name, &declared))?,
    };
    // An INTEGER PRIMARY KEY is the rowid, which is never NULL though the pragma says nullable.
    let rowid = key_len == 1 && row.int("pk")? == 1 && declared.eq_ignore_ascii_case("INTEGER");
    let default = row
        .opt_text("dflt_value")?
        .and_then(|text| parse_default(&text, &ty, false));
    Ok(Column {
        autoincrement: written.autoincrement.contains(&name),
        nullable: row.int("notnull")? == 0 && !rowid,
        default,
        ty,
        name,
    })
}

async fn read_foreign_keys(
    db: &mut Db,
    table: &str,
    written: &[WrittenFk],
) -> Result<Vec<ForeignKey>, IntrospectError> {
    let param = [DbValue::Text(table.to_string())];
    let list = db
        .query(
            "SELECT id, \"table\" AS ref_table, \"from\" AS from_column, \"to\" AS to_column, \
             on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq",
            &param,
        )
        .await?;
    let mut grouped: Vec<(i64, ForeignKey, Vec<Option<String>>)> = Vec::new();
    for row in rows(&list) {
        let id = row.int("id")?;
        if grouped.last().is_none_or(|(last, _, _)| *last != id) {
            grouped.push((
                id,
                ForeignKey {
                    name: String::new(),
                    columns: Vec::new(),
                    ref_table: row.text("ref_table")?,
                    ref_columns: Vec::new(),
                    on_delete: fk_action(&row.text("on_delete")?),
                    on_update: fk_action(&row.text("on_update")?),
                },
                Vec::new(),
            ));
        }
        if let Some((_, fk, to)) = grouped.last_mut() {
            fk.columns.push(row.text("from_column")?);
            to.push(row.opt_text("to_column")?);
        }
    }
    let mut out = Vec::new();
    for (_, mut fk, to) in grouped {
        fk.ref_columns = match to.into_iter().collect::<Option<Vec<_>>>() {
            Some(columns) => columns,
            // `REFERENCES parent` without columns means the parent's primary key.
            None => primary_key_columns(db, &fk.ref_table).await?,
        };
        fk.name = written
            .iter()
            .find(|w| w.columns == fk.columns && w.ref_table.eq_ignore_ascii_case(&fk.ref_table))
            .and_then(|w| w.name.clone())
            .unwrap_or_else(|| fk_name(table, &fk.columns, &fk.ref_table));
        out.push(fk);
    }
    Ok(out)
}

async fn primary_key_columns(db: &mut Db, table: &str) -> Result<Vec<String>, IntrospectError> {
    let info = db
        .query(
            "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk",
            &[DbValue::Text(table.to_string())],
        )
        .await?;
    rows(&info).map(|row| row.text("name")).collect()
}

async fn read_indexes(db: &mut Db, table: &str) -> Result<Vec<Index>, IntrospectError> {
    let list = db
        .query(
            "SELECT l.name, l.\"unique\" AS is_unique, l.partial, m.sql FROM pragma_index_list(?) l \
             LEFT JOIN sqlite_master m ON m.type = 'index' AND m.name = l.name \
             WHERE l.origin = 'c' ORDER BY l.name",
            &[DbValue::Text(table.to_string())],
        )
        .await?;
    let mut indexes = Vec::new();
    for row in rows(&list) {
        let name = row.text("name")?;
        let info = db
            .query(
                "SELECT cid, name FROM pragma_index_info(?) ORDER BY seqno",
                &[DbValue::Text(name.clone())],
            )
            .await?;
        let mut columns = Vec::new();
        for column in rows(&info) {
            match column.opt_text("name")? {
                Some(c) if column.int("cid")? >= 0 => columns.push(c),
                _ => {
                    return Err(IntrospectError::not_understood(
                        table,
                        format!("index '{name}' is on an expression, which runner cannot model"),
                    ));
                }
            }
        }
        let where_clause = if row.flag("partial")? {
            Some(index_predicate(table, &name, &row.text("sql")?)?)
        } else {
            None
        };
        indexes.push(Index {
            unique: row.flag("is_unique")?,
            name,
            columns,
            where_clause,
        });
    }
    Ok(indexes)
}

/// The `WHERE` of a partial index, from its `CREATE INDEX` text.
fn index_predicate(table: &str, index: &str, sql: &str) -> Result<String, IntrospectError> {
    let statements = Parser::parse_sql(&SQLiteDialect {}, sql).ok();
    match statements.as_deref() {
        Some([Statement::CreateIndex(create)]) => create
            .predicate
            .as_ref()
            .map(ToString::to_string)
            .ok_or_else(|| {
                IntrospectError::not_understood(
                    table,
                    format!("partial index '{index}' has no WHERE"),
                )
            }),
        _ => Err(IntrospectError::not_understood(
            table,
            format!("cannot parse the CREATE INDEX of '{index}'"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_map_back_to_portable_types() {
        let ty = |t| column_type(t);
        assert_eq!(
            ty("DECIMAL_TEXT(12,2)"),
            Some(ColumnType::Decimal {
                precision: 12,
                scale: 2
            })
        );
        assert_eq!(
            ty("VARCHAR(200)"),
            Some(ColumnType::String { length: Some(200) })
        );
        assert_eq!(ty("varchar"), Some(ColumnType::String { length: None }));
        assert_eq!(ty("JSON_TEXT"), Some(ColumnType::Json));
        assert_eq!(ty("UUID_TEXT"), Some(ColumnType::Uuid));
        assert_eq!(ty("TIMESTAMPTZ"), Some(ColumnType::TimestampTz));
        assert_eq!(ty("INT"), Some(ColumnType::Integer));
        assert_eq!(ty("GEOMETRY"), None);
        assert_eq!(ty(""), None);
    }

    #[test]
    fn create_table_text_gives_names_checks_autoincrement_and_enums() {
        let sql = r#"CREATE TABLE "t" (
            "id" INTEGER PRIMARY KEY AUTOINCREMENT,
            "state" TEXT NOT NULL DEFAULT 'open' CHECK ("state" IN ('open', 'it''s')),
            "code" TEXT CONSTRAINT "uq_code" UNIQUE,
            "n" INTEGER CHECK (n > 0),
            "p" INTEGER REFERENCES "parent" ("id"),
            CONSTRAINT "ck_t_limit" CHECK (n < 10),
            CONSTRAINT "fk_t_p" FOREIGN KEY ("p") REFERENCES "parent" ("id")
        )"#;
        let written = read_written("t", &parse_create("t", sql).unwrap()).unwrap();
        assert_eq!(written.autoincrement, ["id"]);
        assert_eq!(written.enums["state"], ["open", "it's"]);
        assert_eq!(written.uniques[0].name, "uq_code");
        let checks: Vec<_> = written
            .checks
            .iter()
            .map(|c| (c.name.as_str(), c.expr.as_str()))
            .collect();
        assert_eq!(checks, [("ck_t_n", "n > 0"), ("ck_t_limit", "n < 10")]);
        assert_eq!(written.fks.len(), 2);
        assert_eq!(written.fks[1].name.as_deref(), Some("fk_t_p"));
    }
}
