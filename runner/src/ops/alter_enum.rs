//! `alter_enum`: adds, renames or removes one value of an enum, or puts its values in a new
//! order. Column defaults follow a renamed value; removing a value a default uses is refused,
//! and removing one that rows still hold fails before anything changes, saying where they are.

use serde::{Deserialize, Serialize};

use super::create_enum::validate_value;
use super::{Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, EnumChange, EnumEdit, RenderError, RowGuard};
use crate::model::{ColumnDefault, Literal, Schema, SchemaError};

/// Changes an enum's values: exactly one of `add`, `rename`, `remove` or `reorder`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlterEnum {
    pub name: String,
    /// A value to add, at the end unless `before` or `after` places it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rename: Option<RenameValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove: Option<String>,
    /// Every value of the enum, in the order it is to have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder: Option<Vec<String>>,
}

/// `{from, to}` of a renamed value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RenameValue {
    pub from: String,
    pub to: String,
}

impl AlterEnum {
    fn edit(&self) -> Result<EnumEdit<'_>, SchemaError> {
        let placed = self.before.is_some() || self.after.is_some();
        match (&self.add, &self.rename, &self.remove) {
            _ if self.reorder.is_some() => {
                if placed || self.add.is_some() || self.rename.is_some() || self.remove.is_some() {
                    return Err(SchemaError::Invalid(format!(
                        "alter_enum of '{}' takes `reorder` alone; put other changes in steps of their own",
                        self.name
                    )));
                }
                Ok(EnumEdit::Reorder)
            }
            (Some(value), None, None) => {
                if self.before.is_some() && self.after.is_some() {
                    return Err(SchemaError::Invalid(
                        "alter_enum takes `before` or `after`, not both".into(),
                    ));
                }
                Ok(EnumEdit::Add {
                    value,
                    before: self.before.as_deref(),
                    after: self.after.as_deref(),
                })
            }
            (None, Some(rename), None) if !placed => Ok(EnumEdit::Rename {
                from: &rename.from,
                to: &rename.to,
            }),
            (None, None, Some(value)) if !placed => Ok(EnumEdit::Remove { value }),
            _ => Err(SchemaError::Invalid(format!(
                "alter_enum of '{}' needs exactly one of `add` (with optional `before`/`after`), `rename`, `remove` or `reorder`",
                self.name
            ))),
        }
    }

    /// A change of enum `name` that changes nothing yet: set one of its fields.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.into(),
            add: None,
            before: None,
            after: None,
            rename: None,
            remove: None,
            reorder: None,
        }
    }

    /// Counts, before a value is removed, the rows that still hold it.
    fn guards(&self, cx: &RenderCx<'_>, value: &str) -> Vec<Action> {
        cx.before
            .enum_users(&self.name)
            .map(|(table, column)| {
                let literal = cx.dialect.string_literal(value);
                Action::Guard(RowGuard {
                    count_sql: format!(
                        "SELECT COUNT(*) FROM {} WHERE {} = {literal}",
                        cx.q(&table.name),
                        cx.q(&column.name)
                    ),
                    refusing: format!("remove {literal} from enum '{}'", self.name),
                    place: format!("{}.{}", table.name, column.name),
                    hint: format!(
                        "move them to another value first (an UPDATE in a `sql` step or a transform before this step), \
                         or rename the value instead: `alter_enum: {{name: {}, rename: {{from: {value}, to: NEW}}}}`",
                        self.name
                    ),
                })
            })
            .collect()
    }
}

fn position(values: &[String], name: &str, value: &str) -> Result<usize, SchemaError> {
    values
        .iter()
        .position(|v| v == value)
        .ok_or_else(|| SchemaError::EnumValueNotFound {
            name: name.into(),
            value: value.into(),
        })
}

impl Operation for AlterEnum {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        let edit = self.edit()?;
        let mut values = schema.enum_type(&self.name)?.values.clone();
        let exists = |values: &[String], value: &str| {
            if values.iter().any(|v| v == value) {
                Err(SchemaError::EnumValueExists {
                    name: self.name.clone(),
                    value: value.into(),
                })
            } else {
                Ok(())
            }
        };
        match edit {
            EnumEdit::Add {
                value,
                before,
                after,
            } => {
                validate_value(&self.name, value)?;
                exists(&values, value)?;
                let at = match (before, after) {
                    (Some(before), _) => position(&values, &self.name, before)?,
                    (_, Some(after)) => position(&values, &self.name, after)? + 1,
                    (None, None) => values.len(),
                };
                values.insert(at, value.to_string());
            }
            EnumEdit::Rename { from, to } => {
                validate_value(&self.name, to)?;
                exists(&values, to)?;
                let at = position(&values, &self.name, from)?;
                values[at] = to.to_string();
                for table in schema.tables.values_mut() {
                    for column in &mut table.columns {
                        let uses = column.ty.enum_name() == Some(self.name.as_str());
                        let old = Some(ColumnDefault::Literal(Literal::String(from.into())));
                        if uses && column.default == old {
                            column.default =
                                Some(ColumnDefault::Literal(Literal::String(to.into())));
                        }
                    }
                }
            }
            EnumEdit::Reorder => {
                let order = self.reorder.as_deref().unwrap_or_default();
                let mut wanted = order.to_vec();
                let mut have = values.clone();
                wanted.sort();
                have.sort();
                if wanted != have {
                    return Err(SchemaError::Invalid(format!(
                        "`reorder` of enum '{}' must list each of its values once: [{}]",
                        self.name,
                        values.join(", ")
                    )));
                }
                values = order.to_vec();
            }
            EnumEdit::Remove { value } => {
                let at = position(&values, &self.name, value)?;
                if values.len() == 1 {
                    return Err(SchemaError::Invalid(format!(
                        "'{value}' is the last value of enum '{}'; drop the enum instead",
                        self.name
                    )));
                }
                let default = Some(ColumnDefault::Literal(Literal::String(value.into())));
                if let Some((table, column)) = schema
                    .enum_users(&self.name)
                    .find(|(_, c)| c.default == default)
                {
                    return Err(SchemaError::Invalid(format!(
                        "column '{}.{}' defaults to '{value}'; change its default first",
                        table.name, column.name
                    )));
                }
                values.remove(at);
            }
        }
        if let Some(enum_type) = schema.enums.get_mut(&self.name) {
            enum_type.values = values;
        }
        Ok(())
    }

    fn reverse(&self, before: &Schema) -> Result<Reversal, Irreversible> {
        let edit = self.edit().map_err(|e| Irreversible(e.to_string()))?;
        let mut undo = Self::named(&self.name);
        match edit {
            EnumEdit::Add { value, .. } => undo.remove = Some(value.into()),
            EnumEdit::Rename { from, to } => {
                undo.rename = Some(RenameValue {
                    from: to.into(),
                    to: from.into(),
                });
            }
            EnumEdit::Remove { value } => {
                let values = &before
                    .enum_type(&self.name)
                    .map_err(|e| Irreversible(e.to_string()))?
                    .values;
                let at = values
                    .iter()
                    .position(|v| v == value)
                    .unwrap_or(values.len());
                undo.add = Some(value.into());
                undo.before = values.get(at + 1).cloned();
            }
            EnumEdit::Reorder => {
                let values = before
                    .enum_type(&self.name)
                    .map_err(|e| Irreversible(e.to_string()))?;
                undo.reorder = Some(values.values.clone());
            }
        }
        Ok(Reversal::steps(vec![Step::AlterEnum(undo)]))
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        let edit = self.edit()?;
        let mut actions = match edit {
            EnumEdit::Remove { value } => self.guards(cx, value),
            _ => Vec::new(),
        };
        actions.extend(cx.dialect.alter_enum(&EnumChange {
            before: cx.before,
            after: cx.after,
            name: &self.name,
            edit,
            used_in_transaction: cx.used_in_transaction,
        })?);
        Ok(actions)
    }

    fn describe(&self) -> String {
        format!("alter_enum {}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::RenderCx;
    use super::super::testing::{apply_error, assert_round_trip, crm, golden, step};
    use crate::dialect::{Action, renderer};
    use crate::dialect_kind::Dialect;

    #[test]
    fn adds_a_value_in_place() {
        let before = crm();
        let add = step("alter_enum: {name: deal_state, add: stalled, after: open}");
        expect![[r#"
            -- sqlite
            -- rebuild of "deals" (views and triggers are dropped and recreated around it)
            CREATE TABLE "_runner_new_deals" (
                "id" INTEGER PRIMARY KEY AUTOINCREMENT,
                "contact_id" INTEGER NOT NULL,
                "state" TEXT NOT NULL DEFAULT 'open' CHECK ("state" IN ('open', 'stalled', 'won', 'lost')),
                "amount" DOUBLE,
                CONSTRAINT "fk_deals_contact_id_contacts" FOREIGN KEY ("contact_id") REFERENCES "contacts" ("id")
            );
            INSERT INTO "_runner_new_deals" ("id", "contact_id", "state", "amount") SELECT "id", "contact_id", "state", "amount" FROM "deals";
            DROP TABLE "deals";
            ALTER TABLE "_runner_new_deals" RENAME TO "deals";
            -- postgres
            ALTER TYPE "deal_state" ADD VALUE 'stalled' AFTER 'open';
            -- mysql
            ALTER TABLE `deals` MODIFY COLUMN `state` ENUM('open', 'stalled', 'won', 'lost') NOT NULL DEFAULT 'open';
        "#]]
        .assert_eq(&golden(&before, &add));
        assert_round_trip(&before, &add);
    }

    #[test]
    fn renames_a_value_and_the_rows_and_defaults_using_it() {
        let before = crm();
        let rename = step("alter_enum: {name: deal_state, rename: {from: open, to: active}}");
        expect![[r#"
            -- sqlite
            -- rebuild of "deals" (views and triggers are dropped and recreated around it)
            CREATE TABLE "_runner_new_deals" (
                "id" INTEGER PRIMARY KEY AUTOINCREMENT,
                "contact_id" INTEGER NOT NULL,
                "state" TEXT NOT NULL DEFAULT 'active' CHECK ("state" IN ('active', 'won', 'lost')),
                "amount" DOUBLE,
                CONSTRAINT "fk_deals_contact_id_contacts" FOREIGN KEY ("contact_id") REFERENCES "contacts" ("id")
            );
            INSERT INTO "_runner_new_deals" ("id", "contact_id", "state", "amount") SELECT "id", "contact_id", (CASE "state" WHEN 'open' THEN 'active' ELSE "state" END), "amount" FROM "deals";
            DROP TABLE "deals";
            ALTER TABLE "_runner_new_deals" RENAME TO "deals";
            -- postgres
            ALTER TYPE "deal_state" RENAME VALUE 'open' TO 'active';
            -- mysql
            ALTER TABLE `deals` MODIFY COLUMN `state` ENUM('open', 'won', 'lost', 'active') NOT NULL DEFAULT 'active';
            UPDATE `deals` SET `state` = 'active' WHERE `state` = 'open';
            ALTER TABLE `deals` MODIFY COLUMN `state` ENUM('active', 'won', 'lost') NOT NULL DEFAULT 'active';
        "#]]
        .assert_eq(&golden(&before, &rename));
        assert_round_trip(&before, &rename);
    }

    #[test]
    fn removes_a_value_after_counting_the_rows_holding_it_swapping_the_type_on_postgres() {
        let before = crm();
        let remove = step("alter_enum: {name: deal_state, remove: lost}");
        let sql = golden(&before, &remove);
        expect![[r#"
            -- postgres
            -- runner first checks that this counts no rows (deals.state):
            -- SELECT COUNT(*) FROM "deals" WHERE "state" = 'lost';
            ALTER TYPE "deal_state" RENAME TO "_runner_old_deal_state";
            CREATE TYPE "deal_state" AS ENUM ('open', 'won');
            ALTER TABLE "deals" ALTER COLUMN "state" DROP DEFAULT;
            ALTER TABLE "deals" ALTER COLUMN "state" TYPE "deal_state" USING CAST(CAST("state" AS text) AS "deal_state");
            ALTER TABLE "deals" ALTER COLUMN "state" SET DEFAULT 'open';
            DROP TYPE "_runner_old_deal_state";
            -- mysql
            -- runner first checks that this counts no rows (deals.state):
            -- SELECT COUNT(*) FROM `deals` WHERE `state` = 'lost';
            ALTER TABLE `deals` MODIFY COLUMN `state` ENUM('open', 'won') NOT NULL DEFAULT 'open';
        "#]]
        .assert_eq(&sql[sql.find("-- postgres").unwrap()..]);
        assert_round_trip(&before, &remove);
    }

    #[test]
    fn reorders_values_by_swapping_the_type_on_postgres_and_restating_the_column_on_mysql() {
        let before = crm();
        let reorder = step("alter_enum: {name: deal_state, reorder: [won, lost, open]}");
        let sql = golden(&before, &reorder);
        expect![[r#"
            -- postgres
            ALTER TYPE "deal_state" RENAME TO "_runner_old_deal_state";
            CREATE TYPE "deal_state" AS ENUM ('won', 'lost', 'open');
            ALTER TABLE "deals" ALTER COLUMN "state" DROP DEFAULT;
            ALTER TABLE "deals" ALTER COLUMN "state" TYPE "deal_state" USING CAST(CAST("state" AS text) AS "deal_state");
            ALTER TABLE "deals" ALTER COLUMN "state" SET DEFAULT 'open';
            DROP TYPE "_runner_old_deal_state";
            -- mysql
            ALTER TABLE `deals` MODIFY COLUMN `state` ENUM('won', 'lost', 'open') NOT NULL DEFAULT 'open';
        "#]]
        .assert_eq(&sql[sql.find("-- postgres").unwrap()..]);
        assert_round_trip(&before, &reorder);
        let err = apply_error(
            &before,
            &step("alter_enum: {name: deal_state, reorder: [won, open]}"),
        );
        assert!(
            err.contains("must list each of its values once: [open, won, lost]"),
            "{err}"
        );
    }

    #[test]
    fn a_value_used_later_in_the_transaction_is_added_by_swapping_the_type_on_postgres() {
        let before = crm();
        let add = step("alter_enum: {name: deal_state, add: signed, after: open}");
        let mut after = before.clone();
        add.operation().apply(&mut after).unwrap();
        let cx = RenderCx {
            dialect: renderer(Dialect::Postgres),
            before: &before,
            after: &after,
            used_in_transaction: true,
        };
        let sql: Vec<String> = add
            .operation()
            .render(&cx)
            .unwrap()
            .iter()
            .map(Action::script)
            .collect();
        expect![[r#"
            ALTER TYPE "deal_state" RENAME TO "_runner_old_deal_state";
            CREATE TYPE "deal_state" AS ENUM ('open', 'signed', 'won', 'lost');
            ALTER TABLE "deals" ALTER COLUMN "state" DROP DEFAULT;
            ALTER TABLE "deals" ALTER COLUMN "state" TYPE "deal_state" USING CAST(CAST("state" AS text) AS "deal_state");
            ALTER TABLE "deals" ALTER COLUMN "state" SET DEFAULT 'open';
            DROP TYPE "_runner_old_deal_state";"#]]
        .assert_eq(&sql.join("\n"));
    }

    #[test]
    fn refuses_ambiguous_or_impossible_edits() {
        let before = crm();
        for (yaml, expected) in [
            ("alter_enum: {name: deal_state}", "needs exactly one of"),
            (
                "alter_enum: {name: deal_state, add: x, remove: open}",
                "needs exactly one of",
            ),
            (
                "alter_enum: {name: deal_state, add: won}",
                "already has the value 'won'",
            ),
            (
                "alter_enum: {name: deal_state, add: x, before: nope}",
                "has no value 'nope'",
            ),
            (
                "alter_enum: {name: deal_state, remove: open}",
                "defaults to 'open'",
            ),
            ("alter_enum: {name: nope, add: x}", "no enum 'nope'"),
        ] {
            let err = apply_error(&before, &step(yaml));
            assert!(err.contains(expected), "{yaml}\n  gave: {err}");
        }
    }

    #[test]
    fn the_postgres_old_type_of_a_long_enum_keeps_a_63_byte_name() {
        let long = "states_a_deal_can_be_in_while_the_sales_team_is_working_on_it";
        let before = super::super::testing::schema(&format!(
            "- create_enum: {{name: {long}, values: [open, lost]}}\n- create_table: {{table: t, columns: [{{name: s, type: enum({long})}}]}}"
        ));
        let remove = step(&format!("alter_enum: {{name: {long}, remove: lost}}"));
        let sql = golden(&before, &remove);
        expect![[r#"
            ALTER TYPE "states_a_deal_can_be_in_while_the_sales_team_is_working_on_it" RENAME TO "_runner_old_states_a_deal_can_be_in_while_the_sales_te_8eb547aa";
        "#]]
        .assert_eq(&sql[sql.find("ALTER TYPE").unwrap()..sql.find("CREATE TYPE").unwrap()]);
        assert_round_trip(&before, &remove);
    }
}
