//! The rules that look at one step on its own: destructive, data-dependent and PostgreSQL
//! locking findings. Each knows the schema just before the step and which tables the revision
//! itself created (a table created in the same revision holds no rows yet, so nothing on it
//! can fail on data or lock anyone out).

use std::collections::HashSet;

use super::codes::Code;
use super::types::{postgres_rewrites, widens};
use crate::model::Schema;
use crate::ops::Step;

/// What a rule sees of one step.
pub struct StepCx<'a> {
    pub step: &'a Step,
    /// The schema just before the step.
    pub before: &'a Schema,
    /// Tables created by earlier steps of the same revision.
    pub fresh: &'a HashSet<String>,
    /// Columns (table, column) earlier steps of the revision added without a default and
    /// nothing has filled since: NULL in every row, so no uniqueness rule can fail on them.
    pub all_null: &'a HashSet<(String, String)>,
    /// Whether PostgreSQL's locking rules apply (the project runs on PostgreSQL).
    pub postgres: bool,
}

impl StepCx<'_> {
    /// True if `table` existed before this revision (and may hold rows).
    fn existing(&self, table: &str) -> bool {
        self.before.tables.contains_key(table) && !self.fresh.contains(table)
    }

    /// True if rows may break a uniqueness rule on `columns` of `table`: not when one of them
    /// is NULL in every row (NULLs are distinct on every database).
    fn may_hold_duplicates(&self, table: &str, columns: &[String]) -> bool {
        self.existing(table)
            && !columns
                .iter()
                .any(|c| self.all_null.contains(&(table.to_string(), c.clone())))
    }
}

/// The findings of one step, each a code and the sentence that says why.
pub fn check(cx: &StepCx<'_>) -> Vec<(Code, String)> {
    let mut found = Vec::new();
    let mut add = |code: Code, message: String| found.push((code, message));
    match cx.step {
        Step::DropTable(op) if cx.existing(&op.table) => add(
            Code::DropTable,
            format!("drops table '{}' and every row in it", op.table),
        ),
        Step::DropColumn(op) if cx.existing(&op.table) => add(
            Code::DropColumn,
            format!(
                "drops column '{}.{}' and its values in every row",
                op.table, op.column
            ),
        ),
        Step::AlterEnum(op) => {
            if op.reorder.is_some() && cx.postgres {
                let users: Vec<String> = cx
                    .before
                    .enum_users(&op.name)
                    .map(|(t, c)| format!("{}.{}", t.name, c.name))
                    .collect();
                if !users.is_empty() {
                    add(
                        Code::PgEnumRewrite,
                        format!(
                            "PostgreSQL cannot reorder enum values: runner swaps in a new type, which rewrites {} under an ACCESS EXCLUSIVE lock",
                            users.join(", ")
                        ),
                    );
                }
            }
            if let Some(value) = &op.remove {
                let users: Vec<String> = cx
                    .before
                    .enum_users(&op.name)
                    .map(|(t, c)| format!("{}.{}", t.name, c.name))
                    .collect();
                add(
                    Code::DropEnumValue,
                    format!(
                        "removes value '{value}' from enum '{}'; if rows still hold it ({}), the step fails before changing anything",
                        op.name,
                        if users.is_empty() {
                            "no column uses the enum".to_string()
                        } else {
                            users.join(", ")
                        }
                    ),
                );
                if cx.postgres && !users.is_empty() {
                    add(
                        Code::PgEnumRewrite,
                        format!(
                            "PostgreSQL cannot drop an enum value: runner swaps in a new type, which rewrites {} under an ACCESS EXCLUSIVE lock",
                            users.join(", ")
                        ),
                    );
                }
            }
        }
        Step::AddUnique(op) if cx.may_hold_duplicates(&op.table, &op.columns) => add(
            Code::AddUnique,
            format!(
                "adds a unique constraint on {}({}), which fails if existing rows hold duplicates",
                op.table,
                op.columns.join(", ")
            ),
        ),
        Step::CreateIndex(op) if cx.existing(&op.table) => {
            if op.unique && cx.may_hold_duplicates(&op.table, &op.columns) {
                add(
                    Code::AddUnique,
                    format!(
                        "adds a unique index on {}({}), which fails if existing rows hold duplicates",
                        op.table,
                        op.columns.join(", ")
                    ),
                );
            }
            if cx.postgres && !op.concurrently {
                add(
                    Code::PgIndexNotConcurrent,
                    format!(
                        "builds an index on '{}' without `concurrently: true`, blocking writes to the table while it builds (the revision then needs `transactional: false`)",
                        op.table
                    ),
                );
            }
        }
        Step::AddColumn(op) if cx.existing(&op.table) => {
            let column = &op.column;
            let not_null = column.nullable == Some(false) || column.primary_key;
            let has_default =
                column.default.is_some() || column.default_sql.is_some() || column.autoincrement;
            if not_null && !has_default {
                add(
                    Code::NotNullWithoutDefault,
                    format!(
                        "adds NOT NULL column '{}.{}' without a default, which fails if the table has rows; give it a default, or add it nullable, backfill it, then set `nullable: false`",
                        op.table, column.name
                    ),
                );
            }
            if column.unique && (column.default.is_some() || column.default_sql.is_some()) {
                add(
                    Code::AddUnique,
                    format!(
                        "adds unique column '{}.{}' with a default, which fails once the table has two rows",
                        op.table, column.name
                    ),
                );
            }
        }
        Step::AlterColumn(op) if cx.existing(&op.table) => {
            let Ok(table) = cx.before.table(&op.table) else {
                return found;
            };
            let Some(column) = table.columns.iter().find(|c| c.name == op.column) else {
                return found;
            };
            if op.nullable == Some(false) && column.nullable {
                add(
                    Code::NotNullWithoutDefault,
                    format!(
                        "makes '{}.{}' NOT NULL, which fails if any row holds NULL; backfill it first (a transform or `sql` step before this one)",
                        op.table, op.column
                    ),
                );
            }
            if let Some(to) = &op.ty {
                if !widens(&column.ty, to, cx.before) {
                    add(
                        Code::TypeNarrowing,
                        format!(
                            "changes '{}.{}' from {} to {}, which can fail on existing values or change them",
                            op.table, op.column, column.ty, to
                        ),
                    );
                }
                if cx.postgres && (postgres_rewrites(&column.ty, to) || op.using.is_some()) {
                    add(
                        Code::PgTypeRewrite,
                        format!(
                            "PostgreSQL rewrites '{}' to change '{}' from {} to {}, holding an ACCESS EXCLUSIVE lock for the whole rewrite",
                            op.table, op.column, column.ty, to
                        ),
                    );
                }
            }
        }
        Step::AddForeignKey(op) if cx.postgres && cx.existing(&op.table) => add(
            Code::PgConstraintNotValid,
            format!(
                "adds foreign key on {}({}) validated at once, which scans the table while writes to it and to '{}' wait; on a large table add it `NOT VALID` in a `sql` step and `VALIDATE CONSTRAINT` in a later revision",
                op.table,
                op.columns.join(", "),
                op.references.table
            ),
        ),
        Step::AddCheck(op) if cx.postgres && cx.existing(&op.table) => add(
            Code::PgConstraintNotValid,
            format!(
                "adds check '{}' validated at once, which scans '{}' under an ACCESS EXCLUSIVE lock; on a large table add it `NOT VALID` in a `sql` step and `VALIDATE CONSTRAINT` in a later revision",
                op.name, op.table
            ),
        ),
        _ => {}
    }
    found
}
