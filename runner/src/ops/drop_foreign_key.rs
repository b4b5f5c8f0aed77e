//! `drop_foreign_key`: removes a foreign key by name.

use serde::{Deserialize, Serialize};

use super::{DropConstraint, Irreversible, Operation, RenderCx, Reversal};
use crate::dialect::{Action, RenderError};
use crate::model::{ConstraintKind, Schema, SchemaError};

/// Drops a foreign key: `drop_constraint` for a name that must be a foreign key's.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DropForeignKey {
    pub table: String,
    pub name: String,
}

impl DropForeignKey {
    /// The `drop_constraint` this step is, once `name` is known to be a foreign key of `table`
    /// in `schema`.
    fn constraint(&self, schema: &Schema) -> Result<DropConstraint, SchemaError> {
        if schema.table(&self.table)?.constraint_kind(&self.name)
            != Some(ConstraintKind::ForeignKey)
        {
            return Err(SchemaError::ConstraintNotFound {
                table: self.table.clone(),
                name: self.name.clone(),
            });
        }
        Ok(DropConstraint {
            table: self.table.clone(),
            name: self.name.clone(),
        })
    }
}

impl Operation for DropForeignKey {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        self.constraint(schema)?.apply(schema)
    }

    fn reverse(&self, before: &Schema) -> Result<Reversal, Irreversible> {
        self.constraint(before)
            .map_err(|e| Irreversible(e.to_string()))?
            .reverse(before)
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        self.constraint(cx.before)?.render(cx)
    }

    fn describe(&self) -> String {
        format!("drop_foreign_key {} on {}", self.name, self.table)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{apply_error, assert_round_trip, crm, golden, step};

    #[test]
    fn drops_by_name() {
        let before = crm();
        let drop = step("drop_foreign_key: {table: deals, name: fk_deals_contact_id_contacts}");
        expect![[r#"
            -- sqlite
            -- rebuild of "deals" (views and triggers are dropped and recreated around it)
            CREATE TABLE "_runner_new_deals" (
                "id" INTEGER PRIMARY KEY AUTOINCREMENT,
                "contact_id" INTEGER NOT NULL,
                "state" TEXT NOT NULL DEFAULT 'open' CHECK ("state" IN ('open', 'won', 'lost')),
                "amount" DOUBLE
            );
            INSERT INTO "_runner_new_deals" ("id", "contact_id", "state", "amount") SELECT "id", "contact_id", "state", "amount" FROM "deals";
            DROP TABLE "deals";
            ALTER TABLE "_runner_new_deals" RENAME TO "deals";
            -- postgres
            ALTER TABLE "deals" DROP CONSTRAINT "fk_deals_contact_id_contacts";
            -- mysql
            SET @runner_sql = (SELECT IF(COUNT(*) > 0, 'ALTER TABLE `deals` DROP FOREIGN KEY `fk_deals_contact_id_contacts`, DROP INDEX `fk_deals_contact_id_contacts`', 'ALTER TABLE `deals` DROP FOREIGN KEY `fk_deals_contact_id_contacts`') FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = 'deals' AND index_name = 'fk_deals_contact_id_contacts');
            PREPARE runner_stmt FROM @runner_sql;
            EXECUTE runner_stmt;
            DEALLOCATE PREPARE runner_stmt;
        "#]]
        .assert_eq(&golden(&before, &drop));
        assert_round_trip(&before, &drop);
        assert_eq!(
            apply_error(
                &before,
                &step("drop_foreign_key: {table: deals, name: ck_contacts_score}")
            ),
            "table 'deals' has no constraint 'ck_contacts_score'"
        );
    }
}
