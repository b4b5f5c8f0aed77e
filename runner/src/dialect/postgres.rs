//! PostgreSQL (14+): transactional DDL, named enum types, identity columns, partial and
//! concurrent indexes.

use super::{Action, ColumnChange, EnumChange, EnumEdit, RenderError, SqlDialect};
use crate::dialect_kind::Dialect;
use crate::model::{Column, ColumnDefault, ColumnType, EnumType, Schema, temp_name};

/// The PostgreSQL renderer.
pub struct Postgres;

impl Postgres {
    fn alter(&self, table: &str, action: String) -> Action {
        Action::Sql(format!("ALTER TABLE {} {action}", self.quote(table)))
    }

    /// The `USING` expression PostgreSQL needs where no assignment cast exists (text to
    /// integer, anything to or from an enum). Within the string family and the numeric family
    /// none is given, so that narrowing fails on a value that does not fit instead of cutting it.
    fn default_using(
        &self,
        column: &str,
        old: &ColumnType,
        new: &ColumnType,
        ty: &str,
    ) -> Option<String> {
        let family = |t: &ColumnType| match t {
            ColumnType::String { .. } | ColumnType::Text => Some(0),
            ColumnType::Integer
            | ColumnType::BigInt
            | ColumnType::SmallInt
            | ColumnType::Real
            | ColumnType::Double
            | ColumnType::Decimal { .. } => Some(1),
            ColumnType::Timestamp | ColumnType::TimestampTz => Some(2),
            _ => None,
        };
        if old == new || (family(old).is_some() && family(old) == family(new)) {
            return None;
        }
        let col = self.quote(column);
        Some(if old.enum_name().is_some() || new.enum_name().is_some() {
            format!("CAST(CAST({col} AS text) AS {ty})")
        } else {
            format!("CAST({col} AS {ty})")
        })
    }

    /// Moves every column using enum `name` to the type `target`, keeping defaults (an old
    /// default does not cast to the new type: it is dropped first and set again after).
    /// An enum changed by building the new type beside the old one and moving every column to
    /// it through text, all inside the transaction: for what `ALTER TYPE` cannot do (remove or
    /// reorder values) or cannot do usably in a transaction (add a value used before commit).
    fn swap_enum(&self, change: &EnumChange<'_>) -> Result<Vec<Action>, RenderError> {
        let name = self.quote(change.name);
        let enum_type = change.after.enum_type(change.name)?;
        let old_name = temp_name("old", change.name);
        let mut actions = vec![Action::Sql(format!(
            "ALTER TYPE {name} RENAME TO {}",
            self.quote(&old_name)
        ))];
        actions.extend(self.create_enum(enum_type).into_iter().map(Action::Sql));
        actions.extend(self.retype_enum_columns(change.after, change.name, &name));
        actions.push(Action::Sql(format!("DROP TYPE {}", self.quote(&old_name))));
        Ok(actions)
    }

    fn retype_enum_columns(&self, schema: &Schema, name: &str, target: &str) -> Vec<Action> {
        let mut actions = Vec::new();
        for (table, column) in schema.enum_users(name) {
            let col = self.quote(&column.name);
            if column.default.is_some() {
                actions.push(self.alter(&table.name, set_default(self, &col, None, &column.ty)));
            }
            actions.push(self.alter(
                &table.name,
                format!(
                    "ALTER COLUMN {col} TYPE {target} USING CAST(CAST({col} AS text) AS {target})"
                ),
            ));
            if column.default.is_some() {
                actions.push(self.alter(
                    &table.name,
                    set_default(self, &col, column.default.as_ref(), &column.ty),
                ));
            }
        }
        actions
    }
}

impl SqlDialect for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn bool_literal(&self, value: bool) -> &'static str {
        if value { "TRUE" } else { "FALSE" }
    }

    fn column_type(&self, ty: &ColumnType, schema: &Schema) -> Result<String, RenderError> {
        Ok(match ty {
            ColumnType::Integer => "integer".into(),
            ColumnType::BigInt => "bigint".into(),
            ColumnType::SmallInt => "smallint".into(),
            ColumnType::Boolean => "boolean".into(),
            ColumnType::Real => "real".into(),
            ColumnType::Double => "double precision".into(),
            ColumnType::Decimal { precision, scale } => format!("numeric({precision},{scale})"),
            ColumnType::String {
                length: Some(length),
            } => format!("varchar({length})"),
            ColumnType::String { length: None } => "varchar".into(),
            ColumnType::Text => "text".into(),
            ColumnType::Binary => "bytea".into(),
            ColumnType::Date => "date".into(),
            ColumnType::Time => "time".into(),
            ColumnType::Timestamp => "timestamp".into(),
            ColumnType::TimestampTz => "timestamptz".into(),
            ColumnType::Json => "jsonb".into(),
            ColumnType::Uuid => "uuid".into(),
            ColumnType::Enum(name) => {
                schema.enum_type(name)?;
                self.quote(name)
            }
        })
    }

    fn autoincrement_column(
        &self,
        column: &Column,
        schema: &Schema,
    ) -> Result<String, RenderError> {
        Ok(format!(
            "{} {} GENERATED BY DEFAULT AS IDENTITY",
            self.quote(&column.name),
            self.column_type(&column.ty, schema)?
        ))
    }

    fn drop_index(&self, _table: &str, index: &str, concurrently: bool) -> String {
        format!(
            "DROP INDEX {}{}",
            if concurrently { "CONCURRENTLY " } else { "" },
            self.quote(index)
        )
    }

    fn alter_column(&self, change: &ColumnChange<'_>) -> Result<Vec<Action>, RenderError> {
        let (table, old, new) = (&change.table.name, change.old, change.new);
        let col = self.quote(&new.name);
        let mut actions = Vec::new();
        let retype = old.ty != new.ty || change.using.is_some();
        if retype {
            // An old default may not cast to the new type: drop it first, set the new one after.
            if old.default.is_some() {
                actions.push(self.alter(table, set_default(self, &col, None, &old.ty)));
            }
            let ty = self.column_type(&new.ty, change.after)?;
            let using = change
                .using
                .map(|u| format!("({u})"))
                .or_else(|| self.default_using(&new.name, &old.ty, &new.ty, &ty));
            let mut sql = format!("ALTER COLUMN {col} TYPE {ty}");
            if let Some(using) = using {
                sql.push_str(" USING ");
                sql.push_str(&using);
            }
            actions.push(self.alter(table, sql));
        }
        let default_changed = old.default != new.default;
        if (retype && new.default.is_some()) || (!retype && default_changed) {
            actions.push(self.alter(
                table,
                set_default(self, &col, new.default.as_ref(), &new.ty),
            ));
        }
        if old.nullable != new.nullable {
            let verb = if new.nullable { "DROP" } else { "SET" };
            actions.push(self.alter(table, format!("ALTER COLUMN {col} {verb} NOT NULL")));
        }
        Ok(actions)
    }

    fn create_enum(&self, enum_type: &EnumType) -> Vec<String> {
        let values = enum_type
            .values
            .iter()
            .map(|v| self.string_literal(v))
            .collect::<Vec<_>>()
            .join(", ");
        vec![format!(
            "CREATE TYPE {} AS ENUM ({values})",
            self.quote(&enum_type.name)
        )]
    }

    fn drop_enum(&self, name: &str) -> Vec<String> {
        vec![format!("DROP TYPE {}", self.quote(name))]
    }

    fn alter_enum(&self, change: &EnumChange<'_>) -> Result<Vec<Action>, RenderError> {
        let name = self.quote(change.name);
        Ok(match &change.edit {
            EnumEdit::Add { .. } if change.used_in_transaction => self.swap_enum(change)?,
            EnumEdit::Add {
                value,
                before,
                after,
            } => {
                // Inside a transaction the new value cannot be used until the revision commits
                // (https://www.postgresql.org/docs/current/sql-altertype.html#id-1.9.3.42.7).
                let mut sql = format!("ALTER TYPE {name} ADD VALUE {}", self.string_literal(value));
                if let Some(before) = before {
                    sql.push_str(&format!(" BEFORE {}", self.string_literal(before)));
                } else if let Some(after) = after {
                    sql.push_str(&format!(" AFTER {}", self.string_literal(after)));
                }
                vec![Action::Sql(sql)]
            }
            EnumEdit::Rename { from, to } => vec![Action::Sql(format!(
                "ALTER TYPE {name} RENAME VALUE {} TO {}",
                self.string_literal(from),
                self.string_literal(to)
            ))],
            // PostgreSQL can neither drop an enum value nor reorder them.
            EnumEdit::Remove { .. } | EnumEdit::Reorder => self.swap_enum(change)?,
        })
    }
}

/// `ALTER COLUMN c SET DEFAULT x` or `DROP DEFAULT`.
pub(super) fn set_default(
    dialect: &dyn SqlDialect,
    quoted_column: &str,
    default: Option<&ColumnDefault>,
    ty: &ColumnType,
) -> String {
    match default {
        Some(default) => format!(
            "ALTER COLUMN {quoted_column} SET DEFAULT {}",
            dialect.default_value(default, ty)
        ),
        None => format!("ALTER COLUMN {quoted_column} DROP DEFAULT"),
    }
}
