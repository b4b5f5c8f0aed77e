//! `rename_table`: renames a table; foreign keys pointing at it follow. Constraint and index
//! names are kept as they are, as every database does.

use serde::{Deserialize, Serialize};

use super::{Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, RenderError};
use crate::model::{Schema, SchemaError, validate_identifier};

/// Renames a table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RenameTable {
    pub table: String,
    pub to: String,
}

impl Operation for RenameTable {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        schema.table(&self.table)?;
        validate_identifier(&self.to)?;
        if schema.tables.contains_key(&self.to) {
            return Err(SchemaError::TableExists {
                table: self.to.clone(),
            });
        }
        schema.ensure_table_name_free(&self.to)?;
        let Some((index, _, mut table)) = schema.tables.shift_remove_full(&self.table) else {
            return Err(schema.no_table(&self.table));
        };
        table.name = self.to.clone();
        schema.tables.shift_insert(index, self.to.clone(), table);
        // Foreign keys pointing at the table follow it, its own self-references included.
        for other in schema.tables.values_mut() {
            for fk in &mut other.foreign_keys {
                if fk.ref_table == self.table {
                    fk.ref_table = self.to.clone();
                }
            }
        }
        Ok(())
    }

    fn reverse(&self, _before: &Schema) -> Result<Reversal, Irreversible> {
        Ok(Reversal::steps(vec![Step::RenameTable(RenameTable {
            table: self.to.clone(),
            to: self.table.clone(),
        })]))
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        Ok(vec![Action::Sql(format!(
            "ALTER TABLE {} RENAME TO {}",
            cx.q(&self.table),
            cx.q(&self.to)
        ))])
    }

    fn describe(&self) -> String {
        format!("rename_table {} -> {}", self.table, self.to)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{apply_error, assert_round_trip, crm, golden, step};

    #[test]
    fn renames_and_moves_incoming_foreign_keys() {
        let before = crm();
        let rename = step("rename_table: {table: contacts, to: people}");
        expect![[r#"
            -- sqlite
            ALTER TABLE "contacts" RENAME TO "people";
            -- postgres
            ALTER TABLE "contacts" RENAME TO "people";
            -- mysql
            ALTER TABLE `contacts` RENAME TO `people`;
        "#]]
        .assert_eq(&golden(&before, &rename));
        let mut after = before.clone();
        rename.operation().apply(&mut after).unwrap();
        assert_eq!(
            after.tables.get_index_of("people"),
            before.tables.get_index_of("contacts")
        );
        assert_eq!(
            after.table("deals").unwrap().foreign_keys[0].ref_table,
            "people"
        );
        assert_round_trip(&before, &rename);
    }

    #[test]
    fn refuses_taken_names() {
        assert_eq!(
            apply_error(&crm(), &step("rename_table: {table: contacts, to: deals}")),
            "table 'deals' already exists"
        );
        assert_eq!(
            apply_error(
                &crm(),
                &step("rename_table: {table: contacts, to: ix_contacts_email}")
            ),
            "the name 'ix_contacts_email' is already used by an index on 'contacts'"
        );
        // PostgreSQL gives every table a type of its name, which an enum would clash with.
        assert_eq!(
            apply_error(
                &crm(),
                &step("rename_table: {table: contacts, to: deal_state}")
            ),
            "the name 'deal_state' is already used by an enum"
        );
    }

    #[test]
    fn self_references_follow_the_table() {
        let before = super::super::testing::crm_with_managers();
        let rename = step("rename_table: {table: contacts, to: people}");
        let mut after = before.clone();
        rename.operation().apply(&mut after).unwrap();
        let people = after.table("people").unwrap();
        assert!(
            people
                .foreign_keys
                .iter()
                .any(|fk| fk.columns == ["manager_id"] && fk.ref_table == "people"),
            "{people:#?}"
        );
        assert_round_trip(&before, &rename);
    }
}
