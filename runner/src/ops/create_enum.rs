//! `create_enum`: a named list of values. PostgreSQL gets a type; elsewhere the values live in
//! each column that uses the enum (MySQL `ENUM(...)`, SQLite a CHECK).

use serde::{Deserialize, Serialize};

use super::{DropEnum, Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, RenderError};
use crate::model::{EnumType, Schema, SchemaError, validate_identifier};

/// Creates an enum type.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEnum {
    pub name: String,
    pub values: Vec<String>,
}

/// Checks an enum value: not empty, no control characters.
pub(super) fn validate_value(name: &str, value: &str) -> Result<(), SchemaError> {
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(SchemaError::Invalid(format!(
            "enum '{name}' has an empty value or one with control characters"
        )));
    }
    Ok(())
}

impl Operation for CreateEnum {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        validate_identifier(&self.name)?;
        if schema.enums.contains_key(&self.name) {
            return Err(SchemaError::EnumExists {
                name: self.name.clone(),
            });
        }
        schema.ensure_table_name_free(&self.name)?;
        if self.values.is_empty() {
            return Err(SchemaError::Invalid(format!(
                "enum '{}' needs at least one value",
                self.name
            )));
        }
        for (i, value) in self.values.iter().enumerate() {
            validate_value(&self.name, value)?;
            if self.values[..i].contains(value) {
                return Err(SchemaError::EnumValueExists {
                    name: self.name.clone(),
                    value: value.clone(),
                });
            }
        }
        schema.enums.insert(
            self.name.clone(),
            EnumType {
                name: self.name.clone(),
                values: self.values.clone(),
            },
        );
        Ok(())
    }

    fn reverse(&self, _before: &Schema) -> Result<Reversal, Irreversible> {
        Ok(Reversal::steps(vec![Step::DropEnum(DropEnum {
            name: self.name.clone(),
        })]))
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        let enum_type = cx.after.enum_type(&self.name)?;
        Ok(cx
            .dialect
            .create_enum(enum_type)
            .into_iter()
            .map(Action::Sql)
            .collect())
    }

    fn describe(&self) -> String {
        format!("create_enum {}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{apply_error, assert_round_trip, crm, golden, step};

    #[test]
    fn creates_a_type_only_on_postgres() {
        let before = crm();
        let create = step("create_enum: {name: deal_type, values: [new_business, \"renewal's\"]}");
        expect![[r#"
            -- sqlite
            -- postgres
            CREATE TYPE "deal_type" AS ENUM ('new_business', 'renewal''s');
            -- mysql
        "#]]
        .assert_eq(&golden(&before, &create));
        assert_round_trip(&before, &create);
        for (yaml, expected) in [
            (
                "create_enum: {name: deal_state, values: [a]}",
                "enum 'deal_state' already exists",
            ),
            (
                "create_enum: {name: e, values: []}",
                "needs at least one value",
            ),
            (
                "create_enum: {name: e, values: [a, a]}",
                "enum 'e' already has the value 'a'",
            ),
            (
                "create_enum: {name: deals, values: [a]}",
                "already used by a table",
            ),
        ] {
            let err = apply_error(&before, &step(yaml));
            assert!(err.contains(expected), "{yaml}\n  gave: {err}");
        }
    }
}
