//! `create_index`: a plain, unique or partial index; `concurrently` builds it on PostgreSQL
//! without blocking writes (the revision must then be `transactional: false`).

use serde::{Deserialize, Serialize};

use super::spec::{IndexSpec, add_index};
use super::{DropIndex, Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, RenderError};
use crate::model::{Schema, SchemaError};

/// Creates an index.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateIndex {
    pub table: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub columns: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique: bool,
    #[serde(rename = "where", default, skip_serializing_if = "Option::is_none")]
    pub where_clause: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub concurrently: bool,
}

impl CreateIndex {
    fn spec(&self) -> IndexSpec {
        IndexSpec {
            name: self.name.clone(),
            columns: self.columns.clone(),
            unique: self.unique,
            where_clause: self.where_clause.clone(),
        }
    }

    /// The index name, given or derived.
    pub fn index_name(&self) -> String {
        self.spec().to_model(&self.table).name
    }
}

impl Operation for CreateIndex {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        let mut table = schema.table(&self.table)?.clone();
        add_index(schema, &mut table, self.spec().to_model(&self.table))?;
        schema.tables.insert(self.table.clone(), table);
        Ok(())
    }

    fn reverse(&self, _before: &Schema) -> Result<Reversal, Irreversible> {
        Ok(Reversal::steps(vec![Step::DropIndex(DropIndex {
            name: self.index_name(),
            table: Some(self.table.clone()),
            concurrently: self.concurrently,
        })]))
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        let name = self.index_name();
        let (_, index) = cx
            .after
            .find_index(&name)
            .ok_or(SchemaError::IndexNotFound { index: name })?;
        Ok(vec![Action::Sql(cx.dialect.create_index(
            &self.table,
            index,
            self.concurrently,
        )?)])
    }

    fn describe(&self) -> String {
        format!("create_index {} on {}", self.index_name(), self.table)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{apply_error, assert_round_trip, crm, golden, step};

    #[test]
    fn creates_unique_partial_and_concurrent_indexes() {
        let before = crm();
        let unique =
            step("create_index: {table: contacts, columns: [company_id, full_name], unique: true}");
        expect![[r#"
            -- sqlite
            CREATE UNIQUE INDEX "uqix_contacts_company_id_full_name" ON "contacts" ("company_id", "full_name");
            -- postgres
            CREATE UNIQUE INDEX "uqix_contacts_company_id_full_name" ON "contacts" ("company_id", "full_name");
            -- mysql
            CREATE UNIQUE INDEX `uqix_contacts_company_id_full_name` ON `contacts` (`company_id`, `full_name`);
        "#]]
        .assert_eq(&golden(&before, &unique));
        assert_round_trip(&before, &unique);

        let partial = step(
            "create_index: {table: deals, name: ix_open_deals, columns: [contact_id], where: \"state = 'open'\", concurrently: true}",
        );
        expect![[r#"
            -- sqlite
            CREATE INDEX "ix_open_deals" ON "deals" ("contact_id") WHERE state = 'open';
            -- postgres
            CREATE INDEX CONCURRENTLY "ix_open_deals" ON "deals" ("contact_id") WHERE state = 'open';
            -- mysql
            error: partial index 'ix_open_deals' is not supported on mysql; drop the `where` for this database or use a `sql` step
        "#]]
        .assert_eq(&golden(&before, &partial));
        assert_round_trip(&before, &partial);
    }

    #[test]
    fn refuses_unknown_columns_and_taken_names() {
        let before = crm();
        assert_eq!(
            apply_error(
                &before,
                &step("create_index: {table: contacts, columns: [nope]}")
            ),
            "table 'contacts' has no column 'nope'"
        );
        assert_eq!(
            apply_error(
                &before,
                &step("create_index: {table: contacts, columns: [email]}")
            ),
            "the name 'ix_contacts_email' is already used by an index on 'contacts'"
        );
        assert_eq!(
            apply_error(
                &before,
                &step("create_index: {table: contacts, columns: []}")
            ),
            "index 'ix_contacts' needs at least one column"
        );
    }
}
