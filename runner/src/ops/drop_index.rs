//! `drop_index`: removes an index by name (the table is found from the model when left out).

use serde::{Deserialize, Serialize};

use super::{CreateIndex, Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, RenderError};
use crate::model::{Schema, SchemaError};

/// Drops an index.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DropIndex {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub concurrently: bool,
}

impl DropIndex {
    /// The table holding the index in `schema`.
    fn table_in(&self, schema: &Schema) -> Result<String, SchemaError> {
        let (table, _) =
            schema
                .find_index(&self.name)
                .ok_or_else(|| SchemaError::IndexNotFound {
                    index: self.name.clone(),
                })?;
        if let Some(expected) = &self.table
            && *expected != table.name
        {
            return Err(SchemaError::Invalid(format!(
                "index '{}' is on table '{}', not '{expected}'",
                self.name, table.name
            )));
        }
        Ok(table.name.clone())
    }
}

impl Operation for DropIndex {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        let table = self.table_in(schema)?;
        schema
            .table_mut(&table)?
            .indexes
            .retain(|index| index.name != self.name);
        // A unique index may be what a foreign key points at.
        schema.ensure_fk_targets(&table, &self.name)
    }

    fn reverse(&self, before: &Schema) -> Result<Reversal, Irreversible> {
        let (table, index) = before
            .find_index(&self.name)
            .ok_or_else(|| Irreversible(format!("no index '{}'", self.name)))?;
        Ok(Reversal::steps(vec![Step::CreateIndex(CreateIndex {
            table: table.name.clone(),
            name: Some(index.name.clone()),
            columns: index.columns.clone(),
            unique: index.unique,
            where_clause: index.where_clause.clone(),
            concurrently: self.concurrently,
        })]))
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        let table = self.table_in(cx.before)?;
        Ok(vec![Action::Sql(cx.dialect.drop_index(
            &table,
            &self.name,
            self.concurrently,
        ))])
    }

    fn describe(&self) -> String {
        format!("drop_index {}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{applied, apply_error, assert_round_trip, crm, golden, step};

    #[test]
    fn drops_by_name_and_reverses_to_the_same_index() {
        let before = crm();
        let drop = step("drop_index: {name: ix_contacts_email}");
        expect![[r#"
            -- sqlite
            DROP INDEX "ix_contacts_email";
            -- postgres
            DROP INDEX "ix_contacts_email";
            -- mysql
            DROP INDEX `ix_contacts_email` ON `contacts`;
        "#]]
        .assert_eq(&golden(&before, &drop));
        assert_round_trip(&before, &drop);
    }

    #[test]
    fn refuses_unknown_indexes_and_wrong_tables() {
        let before = crm();
        assert_eq!(
            apply_error(&before, &step("drop_index: {name: nope}")),
            "no index 'nope'"
        );
        assert_eq!(
            apply_error(
                &before,
                &step("drop_index: {name: ix_contacts_email, table: deals}")
            ),
            "index 'ix_contacts_email' is on table 'contacts', not 'deals'"
        );
    }

    #[test]
    fn refuses_a_unique_index_a_foreign_key_points_at() {
        // PostgreSQL and MySQL refuse to drop the index a foreign key uses.
        let before = applied(
            &crm(),
            r#"
- create_index: {table: contacts, columns: [email], name: uqix_contacts_email, unique: true}
- create_table:
    table: mailings
    columns:
      - {name: email, type: string(255), references: contacts.email}
"#,
        );
        assert_eq!(
            apply_error(&before, &step("drop_index: {name: uqix_contacts_email}")),
            "foreign key 'fk_mailings_email_contacts' on 'mailings' needs 'uqix_contacts_email'; drop that first"
        );
        // A plain index no foreign key needs goes.
        assert_round_trip(&before, &step("drop_index: {name: ix_contacts_email}"));
    }
}
