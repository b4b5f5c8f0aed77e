//! `drop_table`: removes a table; `downgrade: auto` recreates it with its definition (its rows
//! come back only if a transform restores them).

use serde::{Deserialize, Serialize};

use super::{CreateTable, Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, RenderError};
use crate::model::{Schema, SchemaError};

/// Drops a table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DropTable {
    pub table: String,
}

impl Operation for DropTable {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        schema.table(&self.table)?;
        // The table's own self-references go with it.
        if let Some((by, fk)) = schema
            .references_to(&self.table)
            .find(|(by, _)| by.name != self.table)
        {
            return Err(SchemaError::TableReferenced {
                table: self.table.clone(),
                by_table: by.name.clone(),
                constraint: fk.name.clone(),
            });
        }
        schema.tables.shift_remove(&self.table);
        Ok(())
    }

    fn reverse(&self, before: &Schema) -> Result<Reversal, Irreversible> {
        let table = before
            .table(&self.table)
            .map_err(|e| Irreversible(e.to_string()))?;
        Ok(Reversal::steps(vec![Step::CreateTable(
            CreateTable::from_model(table),
        )]))
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        Ok(vec![Action::Sql(format!(
            "DROP TABLE {}",
            cx.q(&self.table)
        ))])
    }

    fn describe(&self) -> String {
        format!("drop_table {}", self.table)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{apply_error, assert_round_trip, crm, golden, step};

    #[test]
    fn renders_per_dialect_and_reverses_to_the_full_definition() {
        let before = crm();
        let drop = step("drop_table: {table: deals}");
        expect![[r#"
            -- sqlite
            DROP TABLE "deals";
            -- postgres
            DROP TABLE "deals";
            -- mysql
            DROP TABLE `deals`;
        "#]]
        .assert_eq(&golden(&before, &drop));
        assert_round_trip(&before, &drop);
    }

    #[test]
    fn refuses_a_table_other_tables_reference() {
        let err = apply_error(&crm(), &step("drop_table: {table: contacts}"));
        assert_eq!(
            err,
            "table 'contacts' is referenced by foreign key 'fk_deals_contact_id_contacts' on 'deals'; drop that first"
        );
        let err = apply_error(&crm(), &step("drop_table: {table: nope}"));
        assert_eq!(err, "no table 'nope'");
    }
}
