//! `add_foreign_key`: a (possibly composite) foreign key between existing columns.

use serde::{Deserialize, Serialize};

use super::spec::{ForeignKeySpec, RefTarget, add_foreign_key};
use super::{DropForeignKey, Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, RenderError};
use crate::model::{FkAction, ForeignKey, Schema, SchemaError};

/// Adds a foreign key.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AddForeignKey {
    pub table: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub references: RefTarget,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_delete: Option<FkAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_update: Option<FkAction>,
}

impl AddForeignKey {
    /// The foreign key as written in `create_table`, which converts to and from the model.
    fn spec(&self) -> ForeignKeySpec {
        ForeignKeySpec {
            name: self.name.clone(),
            columns: self.columns.clone(),
            references: self.references.clone(),
            on_delete: self.on_delete,
            on_update: self.on_update,
        }
    }

    /// The model foreign key this step adds.
    pub fn model(&self) -> ForeignKey {
        self.spec().to_model(&self.table)
    }

    /// The step that recreates a model foreign key of `table`.
    pub fn from_model(table: &str, fk: &ForeignKey) -> Self {
        let ForeignKeySpec {
            name,
            columns,
            references,
            on_delete,
            on_update,
        } = ForeignKeySpec::from_model(fk);
        Self {
            table: table.into(),
            name,
            columns,
            references,
            on_delete,
            on_update,
        }
    }
}

impl Operation for AddForeignKey {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        let mut table = schema.table(&self.table)?.clone();
        add_foreign_key(schema, &mut table, self.model())?;
        schema.tables.insert(self.table.clone(), table);
        Ok(())
    }

    fn reverse(&self, _before: &Schema) -> Result<Reversal, Irreversible> {
        Ok(Reversal::steps(vec![Step::DropForeignKey(
            DropForeignKey {
                table: self.table.clone(),
                name: self.model().name,
            },
        )]))
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        let clause = format!("ADD {}", cx.dialect.foreign_key_clause(&self.model()));
        cx.alter_constraint(&self.table, clause)
    }

    fn describe(&self) -> String {
        format!("add_foreign_key {} on {}", self.model().name, self.table)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{apply_error, assert_round_trip, golden, schema, step};

    #[test]
    fn adds_composite_foreign_keys() {
        let before = schema(
            r#"
- create_table: {table: a, columns: [{name: x, type: integer}, {name: y, type: string(10)}], primary_key: [x, y]}
- create_table: {table: b, columns: [{name: id, type: integer, primary_key: true}, {name: ax, type: integer}, {name: ay, type: string(10)}]}
"#,
        );
        let add = step(
            "add_foreign_key: {table: b, columns: [ax, ay], references: {table: a, columns: [x, y]}, on_delete: restrict, on_update: cascade}",
        );
        expect![[r#"
            -- sqlite
            -- rebuild of "b" (views and triggers are dropped and recreated around it)
            CREATE TABLE "_runner_new_b" (
                "id" INTEGER NOT NULL,
                "ax" INTEGER,
                "ay" VARCHAR(10),
                CONSTRAINT "pk_b" PRIMARY KEY ("id"),
                CONSTRAINT "fk_b_ax_ay_a" FOREIGN KEY ("ax", "ay") REFERENCES "a" ("x", "y") ON DELETE RESTRICT ON UPDATE CASCADE
            );
            INSERT INTO "_runner_new_b" ("id", "ax", "ay") SELECT "id", "ax", "ay" FROM "b";
            DROP TABLE "b";
            ALTER TABLE "_runner_new_b" RENAME TO "b";
            -- postgres
            ALTER TABLE "b" ADD CONSTRAINT "fk_b_ax_ay_a" FOREIGN KEY ("ax", "ay") REFERENCES "a" ("x", "y") ON DELETE RESTRICT ON UPDATE CASCADE;
            -- mysql
            ALTER TABLE `b` ADD CONSTRAINT `fk_b_ax_ay_a` FOREIGN KEY (`ax`, `ay`) REFERENCES `a` (`x`, `y`) ON DELETE RESTRICT ON UPDATE CASCADE;
        "#]]
        .assert_eq(&golden(&before, &add));
        assert_round_trip(&before, &add);
        assert_eq!(
            apply_error(
                &before,
                &step(
                    "add_foreign_key: {table: b, columns: [ax], references: {table: a, columns: [x]}}"
                )
            ),
            "foreign key 'fk_b_ax_a' references (x) on 'a', which is neither its primary key nor unique"
        );
    }

    #[test]
    fn refuses_integers_of_different_widths() {
        let before = schema(
            r#"
- create_table: {table: a, columns: [{name: id, type: bigint, primary_key: true}]}
- create_table: {table: b, columns: [{name: a_id, type: integer}]}
"#,
        );
        assert_eq!(
            apply_error(
                &before,
                &step(
                    "add_foreign_key: {table: b, columns: [a_id], references: {table: a, columns: [id]}}"
                )
            ),
            "foreign key 'fk_b_a_id_a': column 'b.a_id' is integer but 'a.id' is bigint; both \
             sides of a foreign key need the same type (MySQL and MariaDB refuse even integers \
             of different widths)"
        );
    }
}
