//! `rename_column`: renames a column; keys, constraints, indexes, check expressions and foreign
//! keys pointing at it follow.

use serde::{Deserialize, Serialize};

use super::{Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, RenderError};
use crate::model::{ConstraintKind, Schema, SchemaError, expr, validate_identifier};

/// Renames a column.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RenameColumn {
    pub table: String,
    pub column: String,
    pub to: String,
}

fn rename_in(columns: &mut [String], from: &str, to: &str) {
    for column in columns.iter_mut().filter(|c| *c == from) {
        *column = to.to_string();
    }
}

impl Operation for RenameColumn {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        let table = schema.table(&self.table)?;
        table.column(&self.column)?;
        validate_identifier(&self.to)?;
        if table.has_column(&self.to) {
            return Err(SchemaError::ColumnExists {
                table: self.table.clone(),
                column: self.to.clone(),
            });
        }
        let (from, to) = (self.column.as_str(), self.to.as_str());
        let table = schema.table_mut(&self.table)?;
        table.column_mut(from)?.name = to.to_string();
        if let Some(pk) = &mut table.primary_key {
            rename_in(&mut pk.columns, from, to);
        }
        for fk in &mut table.foreign_keys {
            rename_in(&mut fk.columns, from, to);
        }
        for unique in &mut table.uniques {
            rename_in(&mut unique.columns, from, to);
        }
        for index in &mut table.indexes {
            rename_in(&mut index.columns, from, to);
            if let Some(predicate) = &mut index.where_clause {
                *predicate = expr::rename_column(predicate, from, to);
            }
        }
        for check in &mut table.checks {
            check.expr = expr::rename_column(&check.expr, from, to);
        }
        for other in schema.tables.values_mut() {
            for fk in other
                .foreign_keys
                .iter_mut()
                .filter(|fk| fk.ref_table == self.table)
            {
                rename_in(&mut fk.ref_columns, from, to);
            }
        }
        Ok(())
    }

    fn reverse(&self, _before: &Schema) -> Result<Reversal, Irreversible> {
        Ok(Reversal::steps(vec![Step::RenameColumn(RenameColumn {
            table: self.table.clone(),
            column: self.to.clone(),
            to: self.column.clone(),
        })]))
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        let rename = Action::Sql(format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {}",
            cx.q(&self.table),
            cx.q(&self.column),
            cx.q(&self.to)
        ));
        if cx.dialect.caps().rename_column_rewrites_checks {
            return Ok(vec![rename]);
        }
        // MySQL refuses to rename a column a check constraint uses: drop, rename, add back.
        let old = cx.before.table(&self.table)?;
        let new = cx.after.table(&self.table)?;
        let affected: Vec<&str> = old
            .checks
            .iter()
            .filter(|c| expr::mentions_column(&c.expr, &self.column))
            .map(|c| c.name.as_str())
            .collect();
        let mut actions: Vec<Action> = affected
            .iter()
            .map(|name| {
                Action::Sql(
                    cx.dialect
                        .drop_constraint(&self.table, name, ConstraintKind::Check),
                )
            })
            .collect();
        actions.push(rename);
        for check in new
            .checks
            .iter()
            .filter(|c| affected.contains(&c.name.as_str()))
        {
            actions.push(Action::Sql(format!(
                "ALTER TABLE {} ADD {}",
                cx.q(&self.table),
                cx.dialect.check_clause(check)
            )));
        }
        Ok(actions)
    }

    fn describe(&self) -> String {
        format!(
            "rename_column {}.{} -> {}",
            self.table, self.column, self.to
        )
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{apply_error, assert_round_trip, crm, golden, step};

    #[test]
    fn renames_and_rewrites_checks_where_the_database_does_not() {
        let before = crm();
        let rename = step("rename_column: {table: contacts, column: score, to: rating}");
        expect![[r#"
            -- sqlite
            ALTER TABLE "contacts" RENAME COLUMN "score" TO "rating";
            -- postgres
            ALTER TABLE "contacts" RENAME COLUMN "score" TO "rating";
            -- mysql
            ALTER TABLE `contacts` DROP CONSTRAINT `ck_contacts_score`;
            ALTER TABLE `contacts` RENAME COLUMN `score` TO `rating`;
            ALTER TABLE `contacts` ADD CONSTRAINT `ck_contacts_score` CHECK (rating >= 0);
        "#]]
        .assert_eq(&golden(&before, &rename));
        assert_round_trip(&before, &rename);
    }

    #[test]
    fn follows_keys_indexes_and_incoming_foreign_keys() {
        let before = crm();
        let mut after = before.clone();
        step("rename_column: {table: contacts, column: id, to: contact_id}")
            .operation()
            .apply(&mut after)
            .unwrap();
        let contacts = after.table("contacts").unwrap();
        assert_eq!(
            contacts.primary_key.as_ref().unwrap().columns,
            ["contact_id"]
        );
        assert_eq!(
            after.table("deals").unwrap().foreign_keys[0].ref_columns,
            ["contact_id"]
        );
        let mut after = before.clone();
        step("rename_column: {table: contacts, column: email, to: mail}")
            .operation()
            .apply(&mut after)
            .unwrap();
        assert_eq!(
            after.table("contacts").unwrap().indexes[0].columns,
            ["mail"]
        );
    }

    #[test]
    fn refuses_a_taken_name() {
        assert_eq!(
            apply_error(
                &crm(),
                &step("rename_column: {table: contacts, column: email, to: score}")
            ),
            "table 'contacts' already has a column 'score'"
        );
    }
}
