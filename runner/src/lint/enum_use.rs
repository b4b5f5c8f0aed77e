//! A PostgreSQL enum value added and then used in the same transaction. `ALTER TYPE ... ADD
//! VALUE` may run in a transaction, but the new value cannot be used until it commits
//! (SQLSTATE 55P04, "unsafe use of new value"), so a revision that adds `signed` and then moves
//! rows to it passes on SQLite and MySQL and fails on PostgreSQL, in production. Found here
//! before anything runs.

use crate::dialect_kind::Dialect;
use crate::model::{ColumnType, Schema};
use crate::ops::Step;
use crate::ops::spec::ColumnSpec;
use crate::revision::SourceLoc;

/// A value an earlier step of the revision added.
pub struct Added {
    pub enum_name: String,
    pub value: String,
    pub at: SourceLoc,
}

/// The value added earlier that `step` uses, and how, if it uses one. `schema` is the schema
/// just before the step (to know which tables hold the enum, for transforms).
pub fn used_by<'a>(
    step: &Step,
    added: &'a [Added],
    schema: &Schema,
) -> Option<(&'a Added, String)> {
    added
        .iter()
        .find_map(|added| uses(step, added, schema).map(|how| (added, how)))
}

fn uses(step: &Step, added: &Added, schema: &Schema) -> Option<String> {
    let quoted = format!("'{}'", added.value.replace('\'', "''"));
    let in_sql = |sql: &str| sql.contains(&quoted);
    let column_default = |column: &ColumnSpec| {
        (column.ty.enum_name() == Some(added.enum_name.as_str())
            && column
                .default
                .as_ref()
                .is_some_and(|d| d.to_string() == added.value))
            || column.default_sql.as_deref().is_some_and(in_sql)
    };
    match step {
        Step::Sql(op) => op
            .up
            .for_dialect(Dialect::Postgres)
            .is_some_and(in_sql)
            .then(|| format!("its SQL writes {quoted}")),
        Step::AddColumn(op) => column_default(&op.column)
            .then(|| format!("column '{}' defaults to it", op.column.name)),
        Step::CreateTable(op) => {
            if let Some(column) = op.columns.iter().find(|c| column_default(c)) {
                return Some(format!("column '{}' defaults to it", column.name));
            }
            op.checks
                .iter()
                .any(|c| in_sql(&c.expr))
                .then(|| "a check names it".to_string())
        }
        Step::AlterColumn(op) => {
            let default = match &op.default {
                Some(Some(literal)) => literal.to_string() == added.value,
                _ => false,
            };
            let sql = op.using.as_deref().is_some_and(in_sql)
                || matches!(&op.default_sql, Some(Some(sql)) if in_sql(sql));
            (default || sql).then(|| format!("'{}' is set to use it", op.column))
        }
        Step::AddCheck(op) => in_sql(&op.expr).then(|| format!("check '{}' names it", op.name)),
        Step::CreateIndex(op) => op
            .where_clause
            .as_deref()
            .is_some_and(in_sql)
            .then(|| "the index's `where` names it".to_string()),
        Step::Transform(op) => {
            let table = op.writes.iter().find(|table| {
                schema.tables.get(*table).is_some_and(|t| {
                    t.columns
                        .iter()
                        .any(|c| matches!(&c.ty, ColumnType::Enum(e) if *e == added.enum_name))
                })
            })?;
            Some(format!(
                "transform {} writes '{table}', whose enum column may be set to it",
                op.module
            ))
        }
        _ => None,
    }
}
