//! `add_check`: a named check constraint; the expression is SQL every target database reads.

use serde::{Deserialize, Serialize};

use super::spec::{CheckSpec, add_check};
use super::{DropConstraint, Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, RenderError};
use crate::model::{Schema, SchemaError};

/// Adds a check constraint.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AddCheck {
    pub table: String,
    pub name: String,
    pub expr: String,
}

impl Operation for AddCheck {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        let mut table = schema.table(&self.table)?.clone();
        let check = CheckSpec {
            name: self.name.clone(),
            expr: self.expr.clone(),
        };
        add_check(schema, &mut table, check.to_model())?;
        schema.tables.insert(self.table.clone(), table);
        Ok(())
    }

    fn reverse(&self, _before: &Schema) -> Result<Reversal, Irreversible> {
        Ok(Reversal::steps(vec![Step::DropConstraint(
            DropConstraint {
                table: self.table.clone(),
                name: self.name.clone(),
            },
        )]))
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        let check = CheckSpec {
            name: self.name.clone(),
            expr: self.expr.clone(),
        };
        let clause = format!("ADD {}", cx.dialect.check_clause(&check.to_model()));
        cx.alter_constraint(&self.table, clause)
    }

    fn describe(&self) -> String {
        format!("add_check {} on {}", self.name, self.table)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{apply_error, assert_round_trip, crm, golden, step};

    #[test]
    fn adds_a_check() {
        let before = crm();
        let add = step("add_check: {table: deals, name: ck_deals_amount, expr: \"amount > 0\"}");
        let sql = golden(&before, &add);
        expect![[r#"
            ALTER TABLE "deals" ADD CONSTRAINT "ck_deals_amount" CHECK (amount > 0);
            -- mysql
            ALTER TABLE `deals` ADD CONSTRAINT `ck_deals_amount` CHECK (amount > 0);
        "#]]
        .assert_eq(&sql[sql.find("ALTER TABLE \"deals\"").unwrap()..]);
        assert!(
            sql.contains("CONSTRAINT \"ck_deals_amount\" CHECK (amount > 0)\n);"),
            "{sql}"
        );
        assert_round_trip(&before, &add);
        assert_eq!(
            apply_error(
                &before,
                &step("add_check: {table: deals, name: ck_contacts_score, expr: \"1 = 1\"}")
            ),
            "the name 'ck_contacts_score' is already used by a check constraint on 'contacts'"
        );
    }
}
