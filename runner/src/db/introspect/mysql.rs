//! MySQL 8 and MariaDB 10.11: `information_schema` of the current database. The two servers
//! differ in how they show defaults (MariaDB quotes string literals and says `NULL` for no
//! default; MySQL shows literals bare and marks expressions `DEFAULT_GENERATED`), in JSON
//! (MariaDB's is LONGTEXT with a `json_valid` CHECK) and in where check constraints are listed.
//! See <https://mariadb.com/kb/en/information-schema-columns-table/> and
//! <https://dev.mysql.com/doc/refman/8.0/en/information-schema-columns-table.html>.

use std::collections::HashSet;

use indexmap::IndexMap;

use super::{
    IntrospectError, Row, is_not_app_table, number_literal, parse_default, quoted_list,
    read_foreign_keys, read_quoted, rows, split_type, typed_literal,
};
use crate::db::Db;
use crate::model::compare::{INDEX_PREFIXES, canonical_sql_default, inline_enum_name};
use crate::model::{
    Check, Column, ColumnDefault, ColumnType, EnumType, Index, Literal, PrimaryKey, Schema, Table,
    Unique,
};

const TABLES: &str = "SELECT TABLE_NAME AS name FROM information_schema.TABLES \
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME";

const COLUMNS: &str = "SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name, \
    COLUMN_TYPE AS column_type, IS_NULLABLE AS is_nullable, COLUMN_DEFAULT AS column_default, \
    EXTRA AS extra FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
    ORDER BY TABLE_NAME, ORDINAL_POSITION";

const INDEXES: &str = "SELECT TABLE_NAME AS table_name, INDEX_NAME AS index_name, \
    NON_UNIQUE AS non_unique, COLUMN_NAME AS column_name FROM information_schema.STATISTICS \
    WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX";

const UNIQUE_CONSTRAINTS: &str = "SELECT TABLE_NAME AS table_name, CONSTRAINT_NAME AS name \
    FROM information_schema.TABLE_CONSTRAINTS \
    WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_TYPE = 'UNIQUE'";

const FOREIGN_KEYS: &str = "SELECT k.TABLE_NAME AS table_name, k.CONSTRAINT_NAME AS name, \
    k.COLUMN_NAME AS column_name, k.REFERENCED_TABLE_NAME AS ref_table, \
    k.REFERENCED_COLUMN_NAME AS ref_column, r.UPDATE_RULE AS on_update, \
    r.DELETE_RULE AS on_delete \
    FROM information_schema.KEY_COLUMN_USAGE k \
    JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
      ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
     AND r.TABLE_NAME = k.TABLE_NAME \
    WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL \
    ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION";

/// MariaDB names check constraints per table and lists the table in CHECK_CONSTRAINTS.
const MARIADB_CHECKS: &str = "SELECT TABLE_NAME AS table_name, CONSTRAINT_NAME AS name, \
    CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS \
    WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY TABLE_NAME, CONSTRAINT_NAME";

/// MySQL names check constraints per schema; the table is in TABLE_CONSTRAINTS.
const MYSQL_CHECKS: &str = "SELECT tc.TABLE_NAME AS table_name, cc.CONSTRAINT_NAME AS name, \
    cc.CHECK_CLAUSE AS clause FROM information_schema.TABLE_CONSTRAINTS tc \
    JOIN information_schema.CHECK_CONSTRAINTS cc \
      ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
    WHERE tc.TABLE_SCHEMA = DATABASE() AND tc.CONSTRAINT_TYPE = 'CHECK' \
    ORDER BY tc.TABLE_NAME, cc.CONSTRAINT_NAME";

pub(super) async fn introspect(db: &mut Db) -> Result<Schema, IntrospectError> {
    let mariadb = db.info.mariadb;
    let mut schema = Schema::default();
    for row in rows(&db.query(TABLES, &[]).await?) {
        let name = row.text("name")?;
        if !is_not_app_table(&name) {
            schema.tables.insert(name.clone(), Table::new(name));
        }
    }
    for row in rows(&db.query(COLUMNS, &[]).await?) {
        if let Some(table) = schema.tables.get_mut(&row.text("table_name")?) {
            let (column, values) = read_column(&row, &table.name, mariadb)?;
            if let Some(values) = values {
                let name = inline_enum_name(&table.name, &column.name);
                schema.enums.insert(name.clone(), EnumType { name, values });
            }
            table.columns.push(column);
        }
    }
    read_foreign_keys(db, FOREIGN_KEYS, schema.tables.map_mut()).await?;
    read_checks(db, schema.tables.map_mut(), mariadb).await?;
    read_indexes(db, schema.tables.map_mut()).await?;
    Ok(schema)
}

/// The portable type of a `COLUMN_TYPE`; enums come back as their values.
fn column_type(shown: &str) -> Option<Result<ColumnType, Vec<String>>> {
    let lower = shown.trim().to_ascii_lowercase();
    if let Some(list) = lower
        .strip_prefix("enum(")
        .and_then(|l| l.strip_suffix(')'))
    {
        // The values keep their case: cut them from the original text.
        let start = shown.len() - shown.trim_start().len() + "enum(".len();
        let list = shown.get(start..start + list.len())?;
        return quoted_list(list, true).map(Err);
    }
    let unsigned = lower.contains(" unsigned");
    let base = lower.replace(" unsigned", "").replace(" zerofill", "");
    let (name, args, rest) = split_type(&base)?;
    if !rest.is_empty() {
        return None;
    }
    Some(Ok(match (name.as_str(), args.as_slice()) {
        ("tinyint", [1]) | ("bool" | "boolean", _) | ("bit", [1]) => ColumnType::Boolean,
        ("tinyint", _) => ColumnType::SmallInt,
        ("smallint", _) if unsigned => ColumnType::Integer,
        ("smallint" | "year", _) => ColumnType::SmallInt,
        ("mediumint", _) => ColumnType::Integer,
        ("int" | "integer", _) if unsigned => ColumnType::BigInt,
        ("int" | "integer", _) => ColumnType::Integer,
        ("bigint", _) => ColumnType::BigInt,
        ("float", _) => ColumnType::Real,
        ("double" | "double precision" | "real", _) => ColumnType::Double,
        ("decimal" | "numeric", [precision, scale]) => ColumnType::Decimal {
            precision: *precision,
            scale: *scale,
        },
        ("decimal" | "numeric", [precision]) => ColumnType::Decimal {
            precision: *precision,
            scale: 0,
        },
        // runner stores UUIDs as CHAR(36).
        ("char", [36]) => ColumnType::Uuid,
        ("varchar" | "char", [length]) => ColumnType::String {
            length: Some(*length),
        },
        ("tinytext" | "text" | "mediumtext" | "longtext", _) => ColumnType::Text,
        ("tinyblob" | "blob" | "mediumblob" | "longblob" | "binary" | "varbinary", _) => {
            ColumnType::Binary
        }
        ("date", []) => ColumnType::Date,
        ("time", _) => ColumnType::Time,
        ("datetime" | "timestamp", _) => ColumnType::Timestamp,
        ("json", []) => ColumnType::Json,
        // MariaDB 10.7+ has a native UUID type.
        ("uuid", []) => ColumnType::Uuid,
        _ => return None,
    }))
}

fn read_column(
    row: &Row<'_>,
    table: &str,
    mariadb: bool,
) -> Result<(Column, Option<Vec<String>>), IntrospectError> {
    let name = row.text("column_name")?;
    let shown = row.text("column_type")?;
    let extra = row
        .opt_text("extra")?
        .unwrap_or_default()
        .to_ascii_lowercase();
    if extra.contains("generated") && !extra.contains("default_generated") {
        return Err(IntrospectError::not_understood(
            table,
            format!("column '{name}' is generated, which runner cannot model"),
        ));
    }
    let (ty, values) = match column_type(&shown) {
        Some(Ok(ty)) => (ty, None),
        Some(Err(values)) => (
            ColumnType::Enum(inline_enum_name(table, &name)),
            Some(values),
        ),
        None => return Err(IntrospectError::unknown_type(table, &name, &shown)),
    };
    let shown_default = row.opt_text("column_default")?;
    let default = match shown_default {
        None => None,
        Some(text) if mariadb => parse_default(&text, &ty, true),
        Some(text) => mysql_default(&text, &ty, extra.contains("default_generated")),
    };
    let column = Column {
        nullable: row.text("is_nullable")?.eq_ignore_ascii_case("YES"),
        autoincrement: extra.contains("auto_increment"),
        name,
        ty,
        default,
    };
    Ok((column, values))
}

/// A MySQL 8 default: literals are shown bare, expressions (flagged `DEFAULT_GENERATED`) as
/// SQL, where a string literal written as an expression (`('x')`, needed on TEXT columns)
/// shows as `_utf8mb4\'x\'`.
fn mysql_default(text: &str, ty: &ColumnType, expression: bool) -> Option<ColumnDefault> {
    if expression {
        let unescaped = text.trim().replace("\\'", "'");
        let literal = unescaped
            .strip_prefix('_')
            .and_then(|s| s.find('\'').map(|i| &s[i..]))
            .unwrap_or(&unescaped);
        if let Some((value, "")) = read_quoted(literal, true) {
            return Some(ColumnDefault::Literal(Literal::String(value)));
        }
        return Some(ColumnDefault::Sql(canonical_sql_default(text)));
    }
    let numeric = ty.is_integer()
        || matches!(
            ty,
            ColumnType::Boolean
                | ColumnType::Real
                | ColumnType::Double
                | ColumnType::Decimal { .. }
        );
    let canonical = canonical_sql_default(text);
    let temporal = matches!(
        ty,
        ColumnType::Timestamp | ColumnType::TimestampTz | ColumnType::Time | ColumnType::Date
    );
    if temporal
        && ["CURRENT_TIMESTAMP", "CURRENT_TIME", "CURRENT_DATE"].contains(&canonical.as_str())
    {
        return Some(ColumnDefault::Sql(canonical));
    }
    match number_literal(text.trim()).filter(|_| numeric) {
        Some(literal) => Some(ColumnDefault::Literal(typed_literal(literal, ty))),
        None => Some(ColumnDefault::Literal(Literal::String(text.to_string()))),
    }
}

/// True if `clause` is MariaDB's `json_valid(`col`)` for `column`.
fn is_json_check(clause: &str, column: &str) -> bool {
    let compact: String = clause
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '`' && *c != '(' && *c != ')')
        .collect();
    compact.eq_ignore_ascii_case(&format!("json_valid{column}"))
}

async fn read_checks(
    db: &mut Db,
    tables: &mut IndexMap<String, Table>,
    mariadb: bool,
) -> Result<(), IntrospectError> {
    let sql = if mariadb {
        MARIADB_CHECKS
    } else {
        MYSQL_CHECKS
    };
    for row in rows(&db.query(sql, &[]).await?) {
        let Some(table) = tables.get_mut(&row.text("table_name")?) else {
            continue;
        };
        let (name, clause) = (row.text("name")?, row.text("clause")?);
        // MariaDB's JSON is LONGTEXT with this CHECK: report the column as json instead.
        let json = table
            .columns
            .iter_mut()
            .find(|c| c.ty == ColumnType::Text && is_json_check(&clause, &c.name));
        match json {
            Some(column) => column.ty = ColumnType::Json,
            None => table.checks.push(Check {
                name,
                expr: clause.trim().to_string(),
            }),
        }
    }
    Ok(())
}

/// Reads indexes. MySQL keeps no difference between a unique constraint and a unique index,
/// so this rule decides: a unique index whose name starts with runner's index prefixes
/// (`ix_`, `uqix_`, see `IndexSpec::to_model`), or that TABLE_CONSTRAINTS does not list as
/// UNIQUE, is an `Index { unique: true }`; any other is a `Unique`. MySQL also creates an
/// index for each foreign key that has none to use, named after the constraint: an index
/// named exactly like a foreign key of its table, on the same columns, is taken to be that
/// implicit index and not reported.
async fn read_indexes(
    db: &mut Db,
    tables: &mut IndexMap<String, Table>,
) -> Result<(), IntrospectError> {
    let mut constraints = HashSet::new();
    for row in rows(&db.query(UNIQUE_CONSTRAINTS, &[]).await?) {
        constraints.insert((row.text("table_name")?, row.text("name")?));
    }
    let mut found: IndexMap<(String, String), Index> = IndexMap::new();
    for row in rows(&db.query(INDEXES, &[]).await?) {
        let (table, name) = (row.text("table_name")?, row.text("index_name")?);
        let Some(column) = row.opt_text("column_name")? else {
            return Err(IntrospectError::not_understood(
                &table,
                format!("index '{name}' is on an expression, which runner cannot model"),
            ));
        };
        let unique = row.int("non_unique")? == 0;
        found
            .entry((table, name.clone()))
            .or_insert_with(|| Index {
                name,
                columns: Vec::new(),
                unique,
                where_clause: None,
            })
            .columns
            .push(column);
    }
    for ((table_name, name), index) in found {
        let Some(table) = tables.get_mut(&table_name) else {
            continue;
        };
        if name == "PRIMARY" {
            table.primary_key = Some(PrimaryKey {
                name,
                columns: index.columns,
            });
            continue;
        }
        let implicit = table
            .foreign_keys
            .iter()
            .any(|fk| fk.name == name && fk.columns == index.columns);
        if implicit {
            continue;
        }
        let is_index = INDEX_PREFIXES.iter().any(|p| name.starts_with(p))
            || !constraints.contains(&(table_name, name.clone()));
        if index.unique && !is_index {
            table.uniques.push(Unique {
                name,
                columns: index.columns,
            });
        } else {
            table.indexes.push(index);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_map_back_to_portable_types() {
        let ty = |t| column_type(t).and_then(Result::ok);
        assert_eq!(ty("tinyint(1)"), Some(ColumnType::Boolean));
        assert_eq!(ty("tinyint(4)"), Some(ColumnType::SmallInt));
        assert_eq!(ty("int(11)"), Some(ColumnType::Integer));
        assert_eq!(ty("int(10) unsigned"), Some(ColumnType::BigInt));
        assert_eq!(ty("char(36)"), Some(ColumnType::Uuid));
        assert_eq!(ty("char(3)"), Some(ColumnType::String { length: Some(3) }));
        assert_eq!(ty("datetime(6)"), Some(ColumnType::Timestamp));
        assert_eq!(ty("time(6)"), Some(ColumnType::Time));
        assert_eq!(ty("longblob"), Some(ColumnType::Binary));
        assert_eq!(ty("mediumtext"), Some(ColumnType::Text));
        assert_eq!(ty("geometry"), None);
        assert_eq!(
            column_type("enum('Open','it''s')").and_then(Result::err),
            Some(vec!["Open".to_string(), "it's".to_string()])
        );
    }

    #[test]
    fn mysql_8_defaults_are_bare_literals_or_generated_expressions() {
        let text = ColumnType::Text;
        let lit = |l| Some(ColumnDefault::Literal(l));
        assert_eq!(
            mysql_default("it's", &ColumnType::String { length: Some(5) }, false),
            lit(Literal::String("it's".into()))
        );
        assert_eq!(
            mysql_default(
                "0.00",
                &ColumnType::Decimal {
                    precision: 5,
                    scale: 2
                },
                false
            ),
            lit(Literal::Float(0.0))
        );
        assert_eq!(
            mysql_default("1", &ColumnType::Boolean, false),
            lit(Literal::Bool(true))
        );
        assert_eq!(
            mysql_default(r"_utf8mb4\'it\'\'s\'", &text, true),
            lit(Literal::String("it's".into()))
        );
        assert_eq!(
            mysql_default("CURRENT_TIMESTAMP(6)", &ColumnType::Timestamp, true),
            Some(ColumnDefault::Sql("CURRENT_TIMESTAMP".into()))
        );
        assert!(is_json_check("json_valid(`doc`)", "doc"));
        assert!(!is_json_check("json_valid(`doc`) and 1", "doc"));
    }
}
