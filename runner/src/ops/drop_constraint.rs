//! `drop_constraint`: removes a unique, check or foreign key constraint by name.

use serde::{Deserialize, Serialize};

use super::{
    AddCheck, AddForeignKey, AddUnique, Irreversible, Operation, RenderCx, Reversal, Step,
};
use crate::dialect::{Action, RenderError};
use crate::model::{ConstraintKind, Schema, SchemaError};

/// Drops a named constraint.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DropConstraint {
    pub table: String,
    pub name: String,
}

impl DropConstraint {
    fn kind(&self, schema: &Schema) -> Result<ConstraintKind, SchemaError> {
        schema
            .table(&self.table)?
            .constraint_kind(&self.name)
            .ok_or_else(|| SchemaError::ConstraintNotFound {
                table: self.table.clone(),
                name: self.name.clone(),
            })
    }
}

impl Operation for DropConstraint {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        let kind = self.kind(schema)?;
        let table = schema.table_mut(&self.table)?;
        match kind {
            ConstraintKind::PrimaryKey => {
                return Err(SchemaError::Invalid(format!(
                    "'{}' is the primary key of '{}'; runner does not drop primary keys",
                    self.name, self.table
                )));
            }
            ConstraintKind::ForeignKey => table.foreign_keys.retain(|c| c.name != self.name),
            ConstraintKind::Unique => table.uniques.retain(|c| c.name != self.name),
            ConstraintKind::Check => table.checks.retain(|c| c.name != self.name),
        }
        // A unique constraint may be what a foreign key points at.
        schema.ensure_fk_targets(&self.table, &self.name)
    }

    fn reverse(&self, before: &Schema) -> Result<Reversal, Irreversible> {
        let irreversible = |e: SchemaError| Irreversible(e.to_string());
        let kind = self.kind(before).map_err(irreversible)?;
        let table = before.table(&self.table).map_err(irreversible)?;
        let named = |name: &String| *name == self.name;
        let step = match kind {
            ConstraintKind::Unique => table.uniques.iter().find(|u| named(&u.name)).map(|u| {
                Step::AddUnique(AddUnique {
                    table: self.table.clone(),
                    name: Some(u.name.clone()),
                    columns: u.columns.clone(),
                })
            }),
            ConstraintKind::Check => table.checks.iter().find(|c| named(&c.name)).map(|c| {
                Step::AddCheck(AddCheck {
                    table: self.table.clone(),
                    name: c.name.clone(),
                    expr: c.expr.clone(),
                })
            }),
            ConstraintKind::ForeignKey => table
                .foreign_keys
                .iter()
                .find(|fk| named(&fk.name))
                .map(|fk| Step::AddForeignKey(AddForeignKey::from_model(&self.table, fk))),
            ConstraintKind::PrimaryKey => None,
        };
        step.map(|step| Reversal::steps(vec![step])).ok_or_else(|| {
            Irreversible(format!(
                "'{}' is the primary key of '{}'; runner does not drop primary keys",
                self.name, self.table
            ))
        })
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        let kind = self.kind(cx.before)?;
        if cx.dialect.caps().alter_constraints {
            Ok(vec![Action::Sql(cx.dialect.drop_constraint(
                &self.table,
                &self.name,
                kind,
            ))])
        } else {
            Ok(vec![cx.rebuild(&self.table)?])
        }
    }

    fn describe(&self) -> String {
        format!("drop_constraint {} on {}", self.name, self.table)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{apply_error, assert_round_trip, crm, golden, schema, step};

    #[test]
    fn drops_checks_uniques_and_foreign_keys_each_in_its_own_syntax() {
        let before = crm();
        let check = step("drop_constraint: {table: contacts, name: ck_contacts_score}");
        let sql = golden(&before, &check);
        expect![[r#"
            ALTER TABLE "contacts" DROP CONSTRAINT "ck_contacts_score";
            -- mysql
            ALTER TABLE `contacts` DROP CONSTRAINT `ck_contacts_score`;
        "#]]
        .assert_eq(&sql[sql.find("ALTER TABLE \"contacts\" DROP").unwrap()..]);
        assert!(sql.contains("-- rebuild of \"contacts\""), "{sql}");
        assert_round_trip(&before, &check);

        let unique = step("drop_constraint: {table: companies, name: uq_companies_name}");
        assert!(
            golden(&before, &unique)
                .contains("ALTER TABLE `companies` DROP INDEX `uq_companies_name`;")
        );
        assert_round_trip(&before, &unique);

        let fk = step("drop_constraint: {table: deals, name: fk_deals_contact_id_contacts}");
        assert!(
            golden(&before, &fk)
                .contains("'ALTER TABLE `deals` DROP FOREIGN KEY `fk_deals_contact_id_contacts`'")
        );
        assert_round_trip(&before, &fk);
    }

    #[test]
    fn refuses_primary_keys_and_unknown_names() {
        let before = crm();
        assert!(
            apply_error(
                &before,
                &step("drop_constraint: {table: contacts, name: pk_contacts}")
            )
            .contains("does not drop primary keys")
        );
        assert_eq!(
            apply_error(
                &before,
                &step("drop_constraint: {table: contacts, name: nope}")
            ),
            "table 'contacts' has no constraint 'nope'"
        );
    }

    #[test]
    fn refuses_a_unique_constraint_a_foreign_key_points_at_even_its_own_tables() {
        let before = schema(
            r#"
- create_table:
    table: staff
    columns:
      - {name: code, type: string(10), nullable: false, unique: true}
      - {name: boss_code, type: string(10), references: staff.code}
- create_table:
    table: badges
    columns:
      - {name: staff_code, type: string(10), references: staff.code}
"#,
        );
        let drop = step("drop_constraint: {table: staff, name: uq_staff_code}");
        assert_eq!(
            apply_error(&before, &drop),
            "foreign key 'fk_staff_boss_code_staff' on 'staff' needs 'uq_staff_code'; drop that first"
        );
        let without_self = super::super::testing::applied(
            &before,
            "- drop_foreign_key: {table: staff, name: fk_staff_boss_code_staff}",
        );
        assert_eq!(
            apply_error(&without_self, &drop),
            "foreign key 'fk_badges_staff_code_staff' on 'badges' needs 'uq_staff_code'; drop that first"
        );
    }
}
