//! The statement shapes whose `execute-many` batch can run as one statement with the same
//! effect as running the statement once per parameter list: a one-row `INSERT ... VALUES`
//! (rows repeated), and an `UPDATE` or `DELETE` of the rows whose key equals a parameter
//! (joined with the batch, or `IN` the batch's keys). PostgreSQL and MySQL then pay one round
//! trip per batch instead of one per row. The parts are rendered from the checked tree; the
//! statement made of them is checked again by the guard before it is sent (`sandbox/batch.rs`).
//!
//! Only shapes whose rows cannot see each other qualify: no subqueries, no `RETURNING`, no
//! `ON CONFLICT`, an `UPDATE` that does not assign its key. What depends on the data (distinct
//! integer keys, no triggers) is decided when the batch runs.

use sqlparser::ast::{
    AssignmentTarget, BinaryOperator, Expr, FromTable, ObjectNamePart, SetExpr, Statement,
    TableFactor, TableObject, Value, visit_expressions,
};
use std::ops::ControlFlow;

/// How a batch of a statement can run as one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchShape {
    /// `INSERT INTO t (a, b) VALUES ($1, $2)`: `head` is all before the row, `row` the row.
    Insert {
        table: String,
        head: String,
        row: String,
    },
    /// `UPDATE t SET a = $1 WHERE k = $2`.
    Update {
        table: String,
        /// The table as the statement names it: `t`, `public.t`.
        target: String,
        /// Each assigned column and its value: `(a, $1)`, `(b, lower($3))`.
        assignments: Vec<(String, String)>,
        /// The key's side of the condition, as written: `k`, `t.k`.
        key: String,
        /// The 1-based parameter the key is compared with.
        key_parameter: usize,
    },
    /// `DELETE FROM t WHERE k = $1`: `head` is `DELETE FROM t WHERE k IN `.
    Delete {
        table: String,
        head: String,
        /// The key's side of the condition, as written: `k`, `t.k`.
        key: String,
        key_parameter: usize,
    },
}

impl BatchShape {
    /// The table the statement writes.
    pub fn table(&self) -> &str {
        match self {
            BatchShape::Insert { table, .. }
            | BatchShape::Update { table, .. }
            | BatchShape::Delete { table, .. } => table,
        }
    }
}

/// True if the expression holds a subquery (which could read rows that earlier runs of the
/// statement changed).
fn has_subquery(expr: &Expr) -> bool {
    visit_expressions(expr, |e| match e {
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// The placeholder's number: `$n`, `?n`, or MySQL's `$n` word.
fn parameter_number(expr: &Expr) -> Option<usize> {
    let text = match expr {
        Expr::Value(value) => match &value.value {
            Value::Placeholder(text) => text.as_str(),
            _ => return None,
        },
        Expr::Identifier(ident) if ident.quote_style.is_none() => ident.value.as_str(),
        _ => return None,
    };
    text.strip_prefix(['$', '?'])?.parse().ok()
}

/// The column a key condition compares: `k` or `t.k`, as a plain name.
fn key_column(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(ident) if !ident.value.starts_with('$') => Some(ident.value.clone()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()),
        _ => None,
    }
}

/// `k = $n` (either way round): the key's text, its column and the parameter's number.
fn key_condition(selection: &Option<Expr>) -> Option<(String, String, usize)> {
    let Some(Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    }) = selection
    else {
        return None;
    };
    let (key, parameter) = match (key_column(left), parameter_number(right)) {
        (Some(_), Some(n)) => (left, n),
        _ => match (key_column(right), parameter_number(left)) {
            (Some(_), Some(n)) => (right, n),
            _ => return None,
        },
    };
    Some((key.to_string(), key_column(key)?, parameter))
}

/// The batch shape of a checked statement (its placeholders already in their final form),
/// with `table` the one table it writes.
pub fn shape(statement: &Statement, table: &str) -> Option<BatchShape> {
    match statement {
        Statement::Insert(insert) => {
            let TableObject::TableName(name) = &insert.table else {
                return None;
            };
            let source = insert.source.as_deref()?;
            let plain = source.with.is_none()
                && source.order_by.is_none()
                && source.limit_clause.is_none()
                && source.fetch.is_none()
                && insert.on.is_none()
                && insert.returning.is_none()
                && insert.or.is_none()
                && !insert.replace_into
                && insert.assignments.is_empty()
                && insert.insert_alias.is_none()
                && insert.table_alias.is_none();
            let SetExpr::Values(values) = source.body.as_ref() else {
                return None;
            };
            let [row] = values.rows.as_slice() else {
                return None;
            };
            if !plain || values.explicit_row || row.iter().any(has_subquery) {
                return None;
            }
            let columns = if insert.columns.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = insert.columns.iter().map(ToString::to_string).collect();
                format!(" ({})", names.join(", "))
            };
            let ignore = if insert.ignore { "IGNORE " } else { "" };
            let cells: Vec<String> = row.iter().map(ToString::to_string).collect();
            Some(BatchShape::Insert {
                table: table.to_string(),
                head: format!("INSERT {ignore}INTO {name}{columns} VALUES "),
                row: format!("({})", cells.join(", ")),
            })
        }
        Statement::Update(update) => {
            let TableFactor::Table {
                name,
                alias: None,
                args: None,
                ..
            } = &update.table.relation
            else {
                return None;
            };
            let plain = update.table.joins.is_empty()
                && update.from.is_none()
                && update.returning.is_none()
                && update.or.is_none()
                && update.order_by.is_empty()
                && update.limit.is_none()
                && update.optimizer_hints.is_empty();
            if !plain {
                return None;
            }
            let (key, column, key_parameter) = key_condition(&update.selection)?;
            let mut assignments = Vec::new();
            for assignment in &update.assignments {
                let AssignmentTarget::ColumnName(target) = &assignment.target else {
                    return None;
                };
                let assigned = match target.0.last() {
                    Some(ObjectNamePart::Identifier(ident)) => ident.value.clone(),
                    _ => return None,
                };
                if assigned.eq_ignore_ascii_case(&column) || has_subquery(&assignment.value) {
                    return None;
                }
                assignments.push((target.to_string(), assignment.value.to_string()));
            }
            Some(BatchShape::Update {
                table: table.to_string(),
                target: name.to_string(),
                assignments,
                key,
                key_parameter,
            })
        }
        Statement::Delete(delete) => {
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
            let [only] = from.as_slice() else {
                return None;
            };
            let TableFactor::Table {
                name,
                alias: None,
                args: None,
                ..
            } = &only.relation
            else {
                return None;
            };
            let plain = only.joins.is_empty()
                && delete.tables.is_empty()
                && delete.using.is_none()
                && delete.returning.is_none()
                && delete.order_by.is_empty()
                && delete.limit.is_none()
                && delete.optimizer_hints.is_empty();
            if !plain {
                return None;
            }
            let (key, _, key_parameter) = key_condition(&delete.selection)?;
            Some(BatchShape::Delete {
                table: table.to_string(),
                head: format!("DELETE FROM {name} WHERE {key} IN "),
                key,
                key_parameter,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Grants, check};
    use super::*;
    use crate::dialect_kind::Dialect;

    fn shape_of(sql: &str, dialect: Dialect) -> Option<BatchShape> {
        check(sql, dialect, &Grants::new(&["u".into()], &["t".into()]))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .batch
    }

    #[test]
    fn the_shapes_that_batch_into_one_statement() {
        assert_eq!(
            shape_of(
                "INSERT INTO t (a, b) VALUES ($1, lower($2))",
                Dialect::Postgres
            ),
            Some(BatchShape::Insert {
                table: "t".into(),
                head: "INSERT INTO t (a, b) VALUES ".into(),
                row: "($1, lower($2))".into(),
            })
        );
        assert_eq!(
            shape_of(
                "UPDATE t SET a = $1 * 2, b = b || $3 WHERE id = $2",
                Dialect::Sqlite
            ),
            Some(BatchShape::Update {
                table: "t".into(),
                target: "t".into(),
                assignments: vec![
                    ("a".into(), "?1 * 2".into()),
                    ("b".into(), "b || ?3".into())
                ],
                key: "id".into(),
                key_parameter: 2,
            })
        );
        assert_eq!(
            shape_of("DELETE FROM t WHERE ? = t.id", Dialect::Mysql),
            Some(BatchShape::Delete {
                table: "t".into(),
                head: "DELETE FROM t WHERE t.id IN ".into(),
                key: "t.id".into(),
                key_parameter: 1,
            })
        );
        for (sql, dialect) in [
            ("INSERT INTO t (a) VALUES ($1), ($2)", Dialect::Postgres),
            (
                "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING",
                Dialect::Postgres,
            ),
            (
                "INSERT INTO t (a) VALUES ((SELECT max(a) FROM u))",
                Dialect::Postgres,
            ),
            ("INSERT INTO t (a) SELECT a FROM u", Dialect::Postgres),
            ("UPDATE t SET id = $1 WHERE id = $2", Dialect::Postgres),
            (
                "UPDATE t SET a = (SELECT max(a) FROM t) WHERE id = $1",
                Dialect::Postgres,
            ),
            (
                "UPDATE t SET a = 1 WHERE id = $1 AND b = 2",
                Dialect::Postgres,
            ),
            ("UPDATE t SET a = 1 WHERE id > $1", Dialect::Postgres),
            (
                "UPDATE t SET a = 1 WHERE id = $1 RETURNING a",
                Dialect::Postgres,
            ),
            ("DELETE FROM t WHERE id = $1 LIMIT 1", Dialect::Mysql),
            ("SELECT a FROM t WHERE id = $1", Dialect::Postgres),
        ] {
            assert_eq!(shape_of(sql, dialect), None, "{sql}");
        }
    }
}
