//! A PostgreSQL enum value added and then used in the same transaction. `ALTER TYPE ... ADD
//! VALUE` may run in a transaction, but the new value cannot be used until it commits
//! (SQLSTATE 55P04, "unsafe use of new value"), so a revision that adds `signed` and then moves
//! rows to it would pass on SQLite and MySQL and fail on PostgreSQL, in production. Found
//! before anything runs: the plan then adds such a value by swapping the type, and lint says
//! that this rewrites the tables using it.

use crate::dialect_kind::Dialect;
use crate::model::{ColumnType, Schema};
use crate::ops::Step;
use crate::ops::spec::ColumnSpec;

/// An `alter_enum add` of a revision whose value a later step of the same revision uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedThenUsed {
    /// The index of the `alter_enum` step.
    pub add_step: usize,
    /// The index of the first step that uses the value.
    pub use_step: usize,
    pub enum_name: String,
    pub value: String,
    /// How that step uses it, for messages.
    pub how: String,
}

/// Every value `steps` add and use later, `schema` being the schema they start from (to know
/// which tables hold the enum, for transforms). Stops at a step that does not apply: planning
/// reports that.
pub fn adds_used_later<'a>(
    steps: impl IntoIterator<Item = &'a Step>,
    schema: &Schema,
) -> Vec<AddedThenUsed> {
    let mut schema = schema.clone();
    let mut added: Vec<Added> = Vec::new();
    let mut found = Vec::new();
    for (index, step) in steps.into_iter().enumerate() {
        for value in &added {
            if found
                .iter()
                .any(|f: &AddedThenUsed| f.add_step == value.step)
            {
                continue;
            }
            if let Some(how) = uses(step, value, &schema) {
                found.push(AddedThenUsed {
                    add_step: value.step,
                    use_step: index,
                    enum_name: value.enum_name.clone(),
                    value: value.value.clone(),
                    how,
                });
            }
        }
        if let Step::AlterEnum(op) = step
            && let Some(value) = &op.add
        {
            added.push(Added {
                enum_name: op.name.clone(),
                value: value.clone(),
                step: index,
            });
        }
        if step.operation().apply(&mut schema).is_err() {
            break;
        }
    }
    found
}

/// A value an earlier step added.
struct Added {
    enum_name: String,
    value: String,
    step: usize,
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
