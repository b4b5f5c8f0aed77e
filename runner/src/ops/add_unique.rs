//! `add_unique`: a unique constraint over one or more columns.

use serde::{Deserialize, Serialize};

use super::spec::add_unique;
use super::{DropConstraint, Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, RenderError};
use crate::model::{Schema, SchemaError, Unique, unique_name};

/// Adds a unique constraint.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AddUnique {
    pub table: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub columns: Vec<String>,
}

impl AddUnique {
    fn model(&self) -> Unique {
        Unique {
            name: self
                .name
                .clone()
                .unwrap_or_else(|| unique_name(&self.table, &self.columns)),
            columns: self.columns.clone(),
        }
    }
}

impl Operation for AddUnique {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        let mut table = schema.table(&self.table)?.clone();
        add_unique(schema, &mut table, self.model())?;
        schema.tables.insert(self.table.clone(), table);
        Ok(())
    }

    fn reverse(&self, _before: &Schema) -> Result<Reversal, Irreversible> {
        Ok(Reversal::steps(vec![Step::DropConstraint(
            DropConstraint {
                table: self.table.clone(),
                name: self.model().name,
            },
        )]))
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        let clause = format!("ADD {}", cx.dialect.unique_clause(&self.model()));
        cx.alter_constraint(&self.table, clause)
    }

    fn describe(&self) -> String {
        format!("add_unique {} on {}", self.model().name, self.table)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{apply_error, assert_round_trip, crm, golden, step};

    #[test]
    fn adds_a_named_unique_constraint() {
        let before = crm();
        let add = step("add_unique: {table: contacts, columns: [email]}");
        let sql = golden(&before, &add);
        expect![[r#"
            ALTER TABLE "contacts" ADD CONSTRAINT "uq_contacts_email" UNIQUE ("email");
            -- mysql
            ALTER TABLE `contacts` ADD CONSTRAINT `uq_contacts_email` UNIQUE (`email`);
        "#]]
        .assert_eq(&sql[sql.find("ALTER TABLE \"contacts\"").unwrap()..]);
        assert!(
            sql.contains("CONSTRAINT \"uq_contacts_email\" UNIQUE (\"email\"),\n"),
            "{sql}"
        );
        assert_round_trip(&before, &add);
        assert_eq!(
            apply_error(
                &before,
                &step("add_unique: {table: contacts, columns: [email, email]}")
            ),
            "unique constraint 'uq_contacts_email_email' lists column 'email' twice"
        );
    }
}
