//! `drop_column`: removes a column. Refused while an index, constraint or foreign key uses it,
//! so that nothing disappears silently with it (a one-column primary key goes with its column).

use serde::{Deserialize, Serialize};

use super::spec::ColumnSpec;
use super::{AddColumn, AlterColumn, Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, RenderError};
use crate::model::{ColumnUser, ConstraintKind, Schema, SchemaError, pk_name};

/// Drops a column.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DropColumn {
    pub table: String,
    pub column: String,
}

impl DropColumn {
    fn is_sole_key(schema: &Schema, table: &str, column: &str) -> bool {
        schema
            .table(table)
            .ok()
            .and_then(|t| t.primary_key.as_ref())
            .is_some_and(|pk| pk.columns == [column.to_string()])
    }
}

impl Operation for DropColumn {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        let table = schema.table(&self.table)?;
        table.column(&self.column)?;
        if table.columns.len() == 1 {
            return Err(SchemaError::Invalid(format!(
                "column '{}' is the last of table '{}'; drop the table instead",
                self.column, self.table
            )));
        }
        let sole_key = Self::is_sole_key(schema, &self.table, &self.column);
        let is_key = |user: &ColumnUser| {
            matches!(
                user,
                ColumnUser::Constraint {
                    kind: ConstraintKind::PrimaryKey,
                    ..
                }
            )
        };
        let mut users: Vec<String> = table
            .column_users(&self.column)
            .iter()
            .filter(|user| !(sole_key && is_key(user)))
            .map(ToString::to_string)
            .collect();
        // Foreign keys pointing at the column, the table's own included (those the table's
        // own list already named, as users of the column, are not named twice).
        users.extend(
            schema
                .references_to(&self.table)
                .filter(|(by, fk)| {
                    fk.ref_columns.contains(&self.column)
                        && !(by.name == self.table && fk.columns.contains(&self.column))
                })
                .map(|(by, fk)| format!("foreign key '{}' on '{}'", fk.name, by.name)),
        );
        if !users.is_empty() {
            return Err(SchemaError::ColumnInUse {
                table: self.table.clone(),
                column: self.column.clone(),
                by: users.join(", "),
            });
        }
        let table = schema.table_mut(&self.table)?;
        table.columns.retain(|c| c.name != self.column);
        if sole_key {
            table.primary_key = None;
        }
        schema.ensure_fk_targets(&self.table, &self.column)
    }

    fn reverse(&self, before: &Schema) -> Result<Reversal, Irreversible> {
        let table = before
            .table(&self.table)
            .map_err(|e| Irreversible(e.to_string()))?;
        let column = table
            .column(&self.column)
            .map_err(|e| Irreversible(e.to_string()))?;
        let sole_key = Self::is_sole_key(before, &self.table, &self.column);
        // `add_column` names the key it declares `pk_<table>`; another name would be lost.
        if let Some(pk) = table.primary_key.as_ref().filter(|_| sole_key)
            && pk.name != pk_name(&self.table)
        {
            return Err(Irreversible(format!(
                "drop_column of '{}.{}' also drops the primary key '{}', which add_column cannot \
                 bring back under that name; write the revision's `downgrade` steps",
                self.table, self.column, pk.name
            )));
        }
        let mut spec = ColumnSpec::from_column(column, sole_key);
        let mut finally = Vec::new();
        // A NOT NULL column without a default cannot come back into a table with rows: it
        // returns nullable, transforms refill it, and it becomes NOT NULL at the very end.
        if !column.nullable && column.default.is_none() && !sole_key {
            spec.nullable = None;
            finally.push(Step::AlterColumn(AlterColumn::nullable(
                &self.table,
                &self.column,
                false,
            )));
        }
        Ok(Reversal {
            steps: vec![Step::AddColumn(AddColumn {
                table: self.table.clone(),
                column: spec,
            })],
            finally,
        })
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        if cx.dialect.caps().drop_column {
            return Ok(vec![Action::Sql(format!(
                "ALTER TABLE {} DROP COLUMN {}",
                cx.q(&self.table),
                cx.q(&self.column)
            ))]);
        }
        Ok(vec![cx.rebuild(&self.table)?])
    }

    fn describe(&self) -> String {
        format!("drop_column {}.{}", self.table, self.column)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{
        apply_error, assert_round_trip, crm, crm_with_managers, golden, schema, step,
    };
    use super::*;

    #[test]
    fn drops_in_place_or_by_rebuild_and_keeps_the_other_rows() {
        let before = crm();
        let drop = step("drop_column: {table: deals, column: amount}");
        expect![[r#"
            -- sqlite
            -- rebuild of "deals" (views and triggers are dropped and recreated around it)
            CREATE TABLE "_runner_new_deals" (
                "id" INTEGER PRIMARY KEY AUTOINCREMENT,
                "contact_id" INTEGER NOT NULL,
                "state" TEXT NOT NULL DEFAULT 'open' CHECK ("state" IN ('open', 'won', 'lost')),
                CONSTRAINT "fk_deals_contact_id_contacts" FOREIGN KEY ("contact_id") REFERENCES "contacts" ("id")
            );
            INSERT INTO "_runner_new_deals" ("id", "contact_id", "state") SELECT "id", "contact_id", "state" FROM "deals";
            DROP TABLE "deals";
            ALTER TABLE "_runner_new_deals" RENAME TO "deals";
            -- postgres
            ALTER TABLE "deals" DROP COLUMN "amount";
            -- mysql
            ALTER TABLE `deals` DROP COLUMN `amount`;
        "#]]
        .assert_eq(&golden(&before, &drop));
        assert_round_trip(&before, &drop);
    }

    #[test]
    fn a_not_null_column_comes_back_nullable_then_not_null_at_the_end() {
        let before = crm();
        let drop = step("drop_column: {table: contacts, column: full_name}");
        let reversal = drop.operation().reverse(&before).unwrap();
        let Step::AddColumn(add) = &reversal.steps[0] else {
            panic!("expected add_column, got {:?}", reversal.steps);
        };
        assert_eq!(add.column.nullable, None);
        assert_eq!(
            reversal.finally,
            vec![Step::AlterColumn(AlterColumn::nullable(
                "contacts",
                "full_name",
                false
            ))]
        );
        assert_round_trip(&before, &drop);
    }

    #[test]
    fn refuses_columns_in_use() {
        let before = crm();
        for (yaml, expected) in [
            (
                "drop_column: {table: contacts, column: email}",
                "column 'contacts.email' is used by index 'ix_contacts_email'; drop or change that first",
            ),
            (
                "drop_column: {table: contacts, column: score}",
                "used by check constraint 'ck_contacts_score'",
            ),
            (
                "drop_column: {table: contacts, column: id}",
                "used by foreign key 'fk_deals_contact_id_contacts' on 'deals'",
            ),
            (
                "drop_column: {table: contacts, column: nope}",
                "table 'contacts' has no column 'nope'",
            ),
        ] {
            let err = apply_error(&before, &step(yaml));
            assert!(err.contains(expected), "{yaml}\n  gave: {err}");
        }
    }

    #[test]
    fn refuses_a_key_column_the_tables_own_foreign_key_points_at() {
        let before = crm_with_managers();
        assert_eq!(
            apply_error(&before, &step("drop_column: {table: contacts, column: id}")),
            "column 'contacts.id' is used by foreign key 'fk_contacts_manager_id_contacts' on \
             'contacts', foreign key 'fk_deals_contact_id_contacts' on 'deals'; drop or change \
             that first"
        );
        let alone = schema(
            "- create_table: {table: staff, columns: [{name: id, type: integer, primary_key: true}, {name: boss_id, type: integer, references: staff.id}]}",
        );
        assert_eq!(
            apply_error(&alone, &step("drop_column: {table: staff, column: id}")),
            "column 'staff.id' is used by foreign key 'fk_staff_boss_id_staff' on 'staff'; drop \
             or change that first"
        );
        // The referencing column is used by its foreign key like any other column.
        assert_eq!(
            apply_error(
                &alone,
                &step("drop_column: {table: staff, column: boss_id}")
            ),
            "column 'staff.boss_id' is used by foreign key 'fk_staff_boss_id_staff'; drop or \
             change that first"
        );
    }

    #[test]
    fn auto_downgrade_refuses_to_rename_a_custom_primary_key() {
        let before = schema(
            "- create_table: {table: t, columns: [{name: a, type: integer}, {name: b, type: text}], primary_key: {name: t_key, columns: [a]}}",
        );
        let drop = step("drop_column: {table: t, column: a}");
        let mut after = before.clone();
        drop.operation().apply(&mut after).unwrap();
        assert_eq!(after.table("t").unwrap().primary_key, None);
        let err = drop.operation().reverse(&before).unwrap_err().to_string();
        assert_eq!(
            err,
            "drop_column of 't.a' also drops the primary key 't_key', which add_column cannot \
             bring back under that name; write the revision's `downgrade` steps"
        );
        // Under the default name it comes back as it was.
        let default_name = schema(
            "- create_table: {table: t, columns: [{name: a, type: integer, primary_key: true}, {name: b, type: text}]}",
        );
        assert_round_trip(&default_name, &drop);
    }
}
