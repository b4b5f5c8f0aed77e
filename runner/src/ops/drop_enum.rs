//! `drop_enum`: removes an enum no column uses any more.

use serde::{Deserialize, Serialize};

use super::{CreateEnum, Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, RenderError};
use crate::model::{Schema, SchemaError};

/// Drops an enum type.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DropEnum {
    pub name: String,
}

impl Operation for DropEnum {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        schema.enum_type(&self.name)?;
        if let Some((table, column)) = schema.enum_users(&self.name).next() {
            return Err(SchemaError::EnumInUse {
                name: self.name.clone(),
                table: table.name.clone(),
                column: column.name.clone(),
            });
        }
        schema.enums.shift_remove(&self.name);
        Ok(())
    }

    fn reverse(&self, before: &Schema) -> Result<Reversal, Irreversible> {
        let enum_type = before
            .enum_type(&self.name)
            .map_err(|e| Irreversible(e.to_string()))?;
        Ok(Reversal::steps(vec![Step::CreateEnum(CreateEnum {
            name: enum_type.name.clone(),
            values: enum_type.values.clone(),
        })]))
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        Ok(cx
            .dialect
            .drop_enum(&self.name)
            .into_iter()
            .map(Action::Sql)
            .collect())
    }

    fn describe(&self) -> String {
        format!("drop_enum {}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{apply_error, assert_round_trip, golden, schema, step};

    #[test]
    fn drops_an_unused_enum_and_refuses_one_in_use() {
        let before = schema("- create_enum: {name: mood, values: [ok, sad]}");
        let drop = step("drop_enum: {name: mood}");
        expect![[r#"
            -- sqlite
            -- postgres
            DROP TYPE "mood";
            -- mysql
        "#]]
        .assert_eq(&golden(&before, &drop));
        assert_round_trip(&before, &drop);
        let used = schema(
            "- create_enum: {name: mood, values: [ok]}\n- create_table: {table: t, columns: [{name: m, type: enum(mood)}]}",
        );
        assert_eq!(
            apply_error(&used, &drop),
            "enum 'mood' is still used by column 't.m'"
        );
    }
}
