//! Reads the live schema of a database back into the in-memory model: the inverse of the
//! dialect renderers, so that `diff`, `check` and autogenerate can compare a database with the
//! schema runner expects (see `model::compare::comparable`). Only catalog queries through
//! [`Db::query`]; one file per database.

mod mysql;
mod postgres;
mod sqlite;

use indexmap::IndexMap;

use crate::db::{Db, DbError, Rows, Value};
use crate::dialect_kind::Dialect;
use crate::model::compare::canonical_sql_default;
use crate::model::{ColumnDefault, ColumnType, FkAction, ForeignKey, Literal, Schema, Table};
/// True for tables that are not the app's: runner's own, and other migration tools' version
/// tables ([`crate::vocab::OTHER_TOOLS_TABLES`]).
pub(crate) fn is_not_app_table(name: &str) -> bool {
    crate::vocab::is_runner_table(name)
        || crate::vocab::OTHER_TOOLS_TABLES.contains(&name.to_ascii_lowercase().as_str())
}

/// Why a live schema could not be read into the model.
#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    /// A catalog query failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A column's type has no portable equivalent, so the model cannot hold it.
    #[error("column '{table}.{column}' has type '{ty}', which has no portable runner type")]
    UnknownType {
        table: String,
        column: String,
        ty: String,
    },
    /// Something the model cannot express (an expression index, a generated column) or
    /// SQL that could not be read.
    #[error("cannot read table '{table}': {reason}")]
    NotUnderstood { table: String, reason: String },
    /// The catalog answered in a shape these queries do not expect.
    #[error("unexpected answer from the database catalog: {0}")]
    Catalog(String),
}

impl IntrospectError {
    fn not_understood(table: &str, reason: impl Into<String>) -> Self {
        Self::NotUnderstood {
            table: table.into(),
            reason: reason.into(),
        }
    }

    fn unknown_type(table: &str, column: &str, ty: &str) -> Self {
        Self::UnknownType {
            table: table.into(),
            column: column.into(),
            ty: ty.into(),
        }
    }
}

/// The schema of the database `db` is connected to: every user table (not runner's own, nor
/// the database's), with columns in their order, keys, constraints, indexes and enums.
pub async fn introspect(db: &mut Db) -> Result<Schema, IntrospectError> {
    match db.dialect() {
        Dialect::Sqlite => sqlite::introspect(db).await,
        Dialect::Postgres => postgres::introspect(db).await,
        Dialect::Mysql => mysql::introspect(db).await,
    }
}

/// One row of a catalog query, read by column name.
struct Row<'a> {
    rows: &'a Rows,
    values: &'a [Value],
}

fn rows(rows: &Rows) -> impl Iterator<Item = Row<'_>> {
    rows.rows.iter().map(move |values| Row { rows, values })
}

impl Row<'_> {
    fn get(&self, name: &str) -> Result<&Value, IntrospectError> {
        self.rows
            .column(name)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| IntrospectError::Catalog(format!("no column '{name}' in the answer")))
    }

    /// Text, or `None` for NULL. Some MySQL catalog columns arrive as binary strings.
    fn opt_text(&self, name: &str) -> Result<Option<String>, IntrospectError> {
        Ok(match self.get(name)? {
            Value::Null => None,
            Value::Blob(bytes) => {
                Some(String::from_utf8(bytes.clone()).map_err(|_| {
                    IntrospectError::Catalog(format!("column '{name}' is not UTF-8"))
                })?)
            }
            other => other.to_text(),
        })
    }

    fn text(&self, name: &str) -> Result<String, IntrospectError> {
        self.opt_text(name)?
            .ok_or_else(|| IntrospectError::Catalog(format!("column '{name}' is NULL")))
    }

    fn int(&self, name: &str) -> Result<i64, IntrospectError> {
        let value = self.get(name)?;
        value
            .as_i64()
            .or_else(|| value.to_text().and_then(|t| t.parse().ok()))
            .ok_or_else(|| IntrospectError::Catalog(format!("column '{name}' is not a number")))
    }

    fn flag(&self, name: &str) -> Result<bool, IntrospectError> {
        self.get(name)?
            .as_bool()
            .ok_or_else(|| IntrospectError::Catalog(format!("column '{name}' is not a boolean")))
    }
}

/// A foreign key action as the catalogs spell it, in words or as PostgreSQL's one-letter
/// `pg_constraint` codes; the default (`NO ACTION`, PostgreSQL's `a`) is `None`, so that it
/// compares equal to a model that gave no action.
fn fk_action(text: &str) -> Option<FkAction> {
    match text.trim().to_ascii_uppercase().as_str() {
        "CASCADE" | "C" => Some(FkAction::Cascade),
        "RESTRICT" | "R" => Some(FkAction::Restrict),
        "SET NULL" | "N" => Some(FkAction::SetNull),
        "SET DEFAULT" | "D" => Some(FkAction::SetDefault),
        _ => None,
    }
}

/// Reads foreign keys from a catalog query that returns one row per column, in order, with
/// `table_name`, `name`, `column_name`, `ref_table`, `ref_column`, `on_delete`, `on_update`.
async fn read_foreign_keys(
    db: &mut Db,
    sql: &str,
    tables: &mut IndexMap<String, Table>,
) -> Result<(), IntrospectError> {
    for row in rows(&db.query(sql, &[]).await?) {
        let Some(table) = tables.get_mut(&row.text("table_name")?) else {
            continue;
        };
        let name = row.text("name")?;
        let (column, ref_column) = (row.text("column_name")?, row.text("ref_column")?);
        match table.foreign_keys.last_mut() {
            Some(fk) if fk.name == name => {
                fk.columns.push(column);
                fk.ref_columns.push(ref_column);
            }
            _ => table.foreign_keys.push(ForeignKey {
                name,
                columns: vec![column],
                ref_table: row.text("ref_table")?,
                ref_columns: vec![ref_column],
                on_delete: fk_action(&row.text("on_delete")?),
                on_update: fk_action(&row.text("on_update")?),
            }),
        }
    }
    Ok(())
}

/// A declared type split into its lowercased name, its numeric arguments and what follows them:
/// `numeric(12, 2)` is `("numeric", [12, 2], "")`, `timestamp(3) with time zone` is
/// `("timestamp", [3], "with time zone")`. `None` if the arguments are not numbers.
fn split_type(declared: &str) -> Option<(String, Vec<u32>, String)> {
    let text = declared.trim().to_ascii_lowercase();
    let Some(open) = text.find('(') else {
        return Some((text, Vec::new(), String::new()));
    };
    let close = open + text[open..].find(')')?;
    let args = text[open + 1..close]
        .split(',')
        .map(|a| a.trim().parse().ok())
        .collect::<Option<Vec<u32>>>()?;
    Some((
        text[..open].trim().to_string(),
        args,
        text[close + 1..].trim().to_string(),
    ))
}

/// Reads a single-quoted SQL string at the start of `text` (`''` is a quote; with
/// `backslash`, MySQL's backslash escapes too). Returns the value and the text after it.
fn read_quoted(text: &str, backslash: bool) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('\'')?.char_indices().peekable();
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' if chars.peek().map(|(_, c)| *c) == Some('\'') => {
                chars.next();
                value.push('\'');
            }
            '\'' => return Some((value, &text[i + 2..])),
            '\\' if backslash => match chars.next()?.1 {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                '0' => value.push('\0'),
                'Z' => value.push('\x1a'),
                'b' => value.push('\x08'),
                // MySQL keeps the backslash of `\%` and `\_` (they are LIKE escapes).
                c @ ('%' | '_') => {
                    value.push('\\');
                    value.push(c);
                }
                c => value.push(c),
            },
            c => value.push(c),
        }
    }
    None
}

/// The values of a quoted, comma-separated list (`'a','it''s'`), as MySQL shows enum values.
fn quoted_list(text: &str, backslash: bool) -> Option<Vec<String>> {
    let mut values = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (value, after) = read_quoted(rest, backslash)?;
        values.push(value);
        rest = after.trim_start();
        rest = match rest.strip_prefix(',') {
            Some(after_comma) => after_comma.trim_start(),
            None if rest.is_empty() => rest,
            None => return None,
        };
    }
    Some(values)
}

/// `text` without parentheses that enclose all of it: `((a > 0))` is `a > 0`, while
/// `(a) + (b)` is left alone. Quotes are respected.
fn strip_outer_parens(text: &str) -> &str {
    let mut text = text.trim();
    while text.starts_with('(') && closing_paren(text) == Some(text.len() - 1) {
        text = text[1..text.len() - 1].trim();
    }
    text
}

/// The byte index of the parenthesis closing the one `text` starts with.
fn closing_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// A numeric literal: an integer if it is one, else a finite float.
fn number_literal(text: &str) -> Option<Literal> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Literal::Int(i));
    }
    let numeric = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
    let x: f64 = text.parse().ok().filter(|_| numeric)?;
    x.is_finite().then_some(Literal::Float(x))
}

/// A literal as the column's type reads it: `0`/`1` on a boolean column are booleans.
fn typed_literal(literal: Literal, ty: &ColumnType) -> Literal {
    match (literal, ty) {
        (Literal::Int(i @ (0 | 1)), ColumnType::Boolean) => Literal::Bool(i == 1),
        (literal, _) => literal,
    }
}

/// A string that a cast says has the column's type (PostgreSQL's `'-3'::integer`) read as
/// that type's literal.
fn cast_literal(value: String, ty: &ColumnType) -> Literal {
    let parsed = match ty {
        ty if ty.is_integer() => value.parse().ok().map(Literal::Int),
        ColumnType::Real | ColumnType::Double | ColumnType::Decimal { .. } => {
            number_literal(&value)
        }
        ColumnType::Boolean => match value.to_ascii_lowercase().as_str() {
            "t" | "true" | "1" | "y" | "yes" | "on" => Some(Literal::Bool(true)),
            "f" | "false" | "0" | "n" | "no" | "off" => Some(Literal::Bool(false)),
            _ => None,
        },
        _ => None,
    };
    parsed.unwrap_or(Literal::String(value))
}

/// True if `rest` is only PostgreSQL casts: `::text`, `::character varying[]`, `::"Kind"`.
fn only_casts(rest: &str) -> bool {
    rest.starts_with("::")
        && rest.chars().all(|c| {
            c.is_alphanumeric()
                || c.is_whitespace()
                || matches!(c, '_' | ':' | '"' | '.' | '[' | ']' | '(' | ')' | ',')
        })
}

/// A default as the catalogs show it (the SQL text of the expression) read back into the
/// model: `NULL` is no default, quoted strings and numbers are literals (PostgreSQL's casts
/// dropped), `true`/`false` and `0`/`1` on boolean columns are booleans, anything else is a SQL
/// expression (the `CURRENT_TIMESTAMP` family spelled as that keyword).
fn parse_default(text: &str, ty: &ColumnType, backslash: bool) -> Option<ColumnDefault> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    if lower == "null" || lower.starts_with("null::") {
        return None;
    }
    if let Some((value, rest)) = read_quoted(text, backslash) {
        let rest = rest.trim();
        if rest.is_empty() {
            return Some(ColumnDefault::Literal(Literal::String(value)));
        }
        if only_casts(rest) {
            return Some(ColumnDefault::Literal(cast_literal(value, ty)));
        }
    }
    let inner = strip_outer_parens(text);
    if let Some(literal) = number_literal(inner) {
        return Some(ColumnDefault::Literal(typed_literal(literal, ty)));
    }
    match inner.to_ascii_lowercase().as_str() {
        "true" => return Some(ColumnDefault::Literal(Literal::Bool(true))),
        "false" => return Some(ColumnDefault::Literal(Literal::Bool(false))),
        _ => {}
    }
    Some(ColumnDefault::Sql(canonical_sql_default(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(literal: Literal) -> Option<ColumnDefault> {
        Some(ColumnDefault::Literal(literal))
    }

    #[test]
    fn defaults_read_back_as_literals_or_sql() {
        let text = ColumnType::String { length: Some(10) };
        let int = ColumnType::SmallInt;
        let boolean = ColumnType::Boolean;
        assert_eq!(
            parse_default("'it''s'", &text, false),
            lit(Literal::String("it's".into()))
        );
        assert_eq!(
            parse_default("'it''s'::character varying", &text, false),
            lit(Literal::String("it's".into()))
        );
        assert_eq!(
            parse_default("'open'::\"Deal State\"", &text, false),
            lit(Literal::String("open".into()))
        );
        assert_eq!(
            parse_default(r"'back\\slash'", &text, true),
            lit(Literal::String(r"back\slash".into()))
        );
        assert_eq!(
            parse_default("'-3'::integer", &int, false),
            lit(Literal::Int(-3))
        );
        assert_eq!(parse_default("(-3)", &int, false), lit(Literal::Int(-3)));
        assert_eq!(
            parse_default("1.50", &ColumnType::Double, false),
            lit(Literal::Float(1.5))
        );
        assert_eq!(
            parse_default("1", &boolean, false),
            lit(Literal::Bool(true))
        );
        assert_eq!(
            parse_default("false", &boolean, false),
            lit(Literal::Bool(false))
        );
        assert_eq!(parse_default("NULL", &text, false), None);
        assert_eq!(parse_default("NULL::character varying", &text, false), None);
        assert_eq!(
            parse_default("current_timestamp(6)", &ColumnType::Timestamp, false),
            Some(ColumnDefault::Sql("CURRENT_TIMESTAMP".into()))
        );
        assert_eq!(
            parse_default("'a'::text || 'b'::text", &ColumnType::Text, false),
            Some(ColumnDefault::Sql("'a'::text || 'b'::text".into()))
        );
        assert_eq!(
            parse_default("(1 + 2)", &int, false),
            Some(ColumnDefault::Sql("(1 + 2)".into()))
        );
    }

    #[test]
    fn types_lists_and_parentheses_are_taken_apart() {
        assert_eq!(
            split_type("timestamp(3) with time zone"),
            Some(("timestamp".into(), vec![3], "with time zone".into()))
        );
        assert_eq!(
            split_type("DECIMAL_TEXT(12, 2)"),
            Some(("decimal_text".into(), vec![12, 2], String::new()))
        );
        assert_eq!(split_type("enum('a')"), None);
        assert_eq!(
            quoted_list("'open','it''s lost', 'x'", false),
            Some(vec!["open".into(), "it's lost".into(), "x".into()])
        );
        assert_eq!(quoted_list("'a' 'b'", false), None);
        assert_eq!(strip_outer_parens("((a > 0))"), "a > 0");
        assert_eq!(strip_outer_parens("(a) + (b)"), "(a) + (b)");
        assert_eq!(strip_outer_parens("(a = ')')"), "a = ')'");
    }

    #[test]
    fn foreign_key_actions_read_in_words_and_in_postgresql_codes() {
        for (words, code, action) in [
            ("CASCADE", "c", Some(FkAction::Cascade)),
            ("RESTRICT", "r", Some(FkAction::Restrict)),
            ("SET NULL", "n", Some(FkAction::SetNull)),
            ("SET DEFAULT", "d", Some(FkAction::SetDefault)),
            ("NO ACTION", "a", None),
        ] {
            assert_eq!(fk_action(words), action, "{words}");
            assert_eq!(fk_action(code), action, "{code}");
        }
    }
}
