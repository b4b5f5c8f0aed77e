//! MySQL 8 and MariaDB 10.11: DDL commits implicitly, enums live in each column, columns are
//! changed by restating them whole (`MODIFY COLUMN`).

use super::{Action, ColumnChange, EnumChange, EnumEdit, Quoting, RenderError, SqlDialect};
use crate::dialect_kind::Dialect;
use crate::model::{Column, ColumnDefault, ColumnType, ConstraintKind, Schema, temp_name};

/// The MySQL/MariaDB renderer.
pub struct MySql;

impl MySql {
    fn modify(&self, table: &str, column: &Column, schema: &Schema) -> Result<Action, RenderError> {
        Ok(Action::Sql(format!(
            "ALTER TABLE {} MODIFY COLUMN {}",
            self.quote(table),
            self.column_definition(column, schema)?
        )))
    }

    fn enum_list(&self, values: &[String]) -> String {
        values
            .iter()
            .map(|v| self.string_literal(v))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// MySQL has no `USING`: the new value is computed into a staging column that then replaces
    /// the old one. Columns with indexes or constraints would lose them, so those are refused.
    ///
    /// Each statement commits as it runs, so they are ordered to leave no boundary where the
    /// data lives only in the staging column: the staging column is filled while the original
    /// is still there, then one `ALTER TABLE` (atomic in InnoDB) drops the original and renames
    /// the staging column in its place. A run that dies in between leaves the original column
    /// untouched beside a `_runner_new_*` column, which a resumed run drops and fills again.
    fn alter_with_using(
        &self,
        change: &ColumnChange<'_>,
        using: &str,
    ) -> Result<Vec<Action>, RenderError> {
        let old_table = change.before.table(&change.table.name)?;
        let users = old_table.column_users(&change.old.name);
        if !users.is_empty() {
            return Err(RenderError::unsupported(
                format!(
                    "alter_column with `using` on '{}.{}', which is used by {}",
                    change.table.name,
                    change.old.name,
                    users
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Dialect::Mysql,
                "drop those first and add them back after, or use a transform",
            ));
        }
        let table = self.quote(&change.table.name);
        let col = self.quote(&change.old.name);
        let mut staging = change.new.clone();
        staging.name = temp_name("new", &change.old.name);
        let temp = self.quote(&staging.name);
        staging.nullable = true;
        staging.default = None;
        Ok(vec![
            Action::Sql(format!(
                "ALTER TABLE {table} ADD COLUMN {} AFTER {col}",
                self.column_definition(&staging, change.after)?
            )),
            Action::Sql(format!("UPDATE {table} SET {temp} = ({using})")),
            Action::Sql(format!(
                "ALTER TABLE {table} DROP COLUMN {col}, CHANGE COLUMN {temp} {}",
                self.column_definition(change.new, change.after)?
            )),
        ])
    }
}

impl MySql {
    /// Drops a foreign key and the index MySQL made for it, if it made one: InnoDB creates an
    /// index named after the constraint when no index fits, and leaves it behind on `DROP
    /// FOREIGN KEY`. Both go in one `ALTER TABLE`, so that no run stops between them; MySQL has
    /// no `DROP INDEX IF EXISTS`, hence the statement chosen from the catalog and prepared.
    fn drop_foreign_key(&self, table: &str, name: &str) -> String {
        let drop_key = format!(
            "ALTER TABLE {} DROP FOREIGN KEY {}",
            self.quote(table),
            self.quote(name)
        );
        let drop_both = format!("{drop_key}, DROP INDEX {}", self.quote(name));
        format!(
            "SET @runner_sql = (SELECT IF(COUNT(*) > 0, {both}, {key}) FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = {table_s} AND index_name = {name_s});\n\
             PREPARE runner_stmt FROM @runner_sql;\n\
             EXECUTE runner_stmt;\n\
             DEALLOCATE PREPARE runner_stmt",
            both = self.string_literal(&drop_both),
            key = self.string_literal(&drop_key),
            table_s = self.string_literal(table),
            name_s = self.string_literal(name),
        )
    }
}

impl SqlDialect for MySql {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn quote(&self, ident: &str) -> String {
        format!("`{}`", ident.replace('`', "``"))
    }

    fn string_literal(&self, text: &str) -> String {
        // Runner's connections take NO_BACKSLASH_ESCAPES out of their session's sql_mode
        // (`Db::connect`), so backslash is an escape on every server.
        super::string_literal(
            Dialect::Mysql,
            text,
            Quoting {
                mysql_backslash_escapes: true,
            },
        )
    }

    fn column_type(&self, ty: &ColumnType, schema: &Schema) -> Result<String, RenderError> {
        Ok(match ty {
            ColumnType::Integer => "INT".into(),
            ColumnType::BigInt => "BIGINT".into(),
            ColumnType::SmallInt => "SMALLINT".into(),
            ColumnType::Boolean => "TINYINT(1)".into(),
            ColumnType::Real => "FLOAT".into(),
            ColumnType::Double => "DOUBLE".into(),
            ColumnType::Decimal { precision, scale } => format!("DECIMAL({precision},{scale})"),
            ColumnType::String {
                length: Some(length),
            } => format!("VARCHAR({length})"),
            ColumnType::String { length: None } => {
                return Err(RenderError::unsupported(
                    "`string` without a length",
                    Dialect::Mysql,
                    "give it one, as in string(255), or use `text`",
                ));
            }
            ColumnType::Text => "LONGTEXT".into(),
            ColumnType::Binary => "LONGBLOB".into(),
            ColumnType::Date => "DATE".into(),
            ColumnType::Time => "TIME(6)".into(),
            ColumnType::Timestamp | ColumnType::TimestampTz => "DATETIME(6)".into(),
            ColumnType::Json => "JSON".into(),
            ColumnType::Uuid => "CHAR(36)".into(),
            ColumnType::Enum(name) => {
                format!("ENUM({})", self.enum_list(&schema.enum_type(name)?.values))
            }
        })
    }

    fn default_value(&self, default: &ColumnDefault, ty: &ColumnType) -> String {
        match default {
            // TEXT, BLOB and JSON columns take literal defaults only as expressions.
            ColumnDefault::Literal(literal)
                if matches!(ty, ColumnType::Text | ColumnType::Binary | ColumnType::Json) =>
            {
                format!("({})", self.literal(literal))
            }
            ColumnDefault::Literal(literal) => self.literal(literal),
            ColumnDefault::Sql(sql) => {
                // DATETIME(6) and TIME(6) need the same precision on their default.
                let keyword = sql.trim().to_ascii_uppercase();
                match (keyword.as_str(), ty) {
                    ("CURRENT_TIMESTAMP", ColumnType::Timestamp | ColumnType::TimestampTz) => {
                        "CURRENT_TIMESTAMP(6)".into()
                    }
                    ("CURRENT_TIME", ColumnType::Time) => "CURRENT_TIME(6)".into(),
                    _ => super::sql_default(sql),
                }
            }
        }
    }

    fn autoincrement_column(
        &self,
        column: &Column,
        schema: &Schema,
    ) -> Result<String, RenderError> {
        Ok(format!(
            "{} {} NOT NULL AUTO_INCREMENT",
            self.quote(&column.name),
            self.column_type(&column.ty, schema)?
        ))
    }

    fn table_options(&self) -> &'static str {
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    }

    fn drop_index(&self, table: &str, index: &str, _concurrently: bool) -> String {
        format!("DROP INDEX {} ON {}", self.quote(index), self.quote(table))
    }

    fn drop_constraint(&self, table: &str, name: &str, kind: ConstraintKind) -> String {
        let what = match kind {
            ConstraintKind::ForeignKey => return self.drop_foreign_key(table, name),
            ConstraintKind::PrimaryKey => "PRIMARY KEY".to_string(),
            // A unique constraint is an index in MySQL.
            ConstraintKind::Unique => format!("INDEX {}", self.quote(name)),
            ConstraintKind::Check => format!("CONSTRAINT {}", self.quote(name)),
        };
        format!("ALTER TABLE {} DROP {what}", self.quote(table))
    }

    fn alter_column(&self, change: &ColumnChange<'_>) -> Result<Vec<Action>, RenderError> {
        match change.using {
            Some(using) => self.alter_with_using(change, using),
            None => Ok(vec![self.modify(
                &change.table.name,
                change.new,
                change.after,
            )?]),
        }
    }

    fn alter_enum(&self, change: &EnumChange<'_>) -> Result<Vec<Action>, RenderError> {
        let mut actions = Vec::new();
        let EnumEdit::Rename { from, to } = &change.edit else {
            for (table, column) in change.after.enum_users(change.name) {
                actions.push(self.modify(&table.name, column, change.after)?);
            }
            return Ok(actions);
        };
        // Widen each column to both spellings, move the rows, then narrow it.
        let mut both = change.before.clone();
        if let Some(e) = both.enums.get_mut(change.name) {
            e.values.push((*to).to_string());
        }
        for (table, column) in change.after.enum_users(change.name) {
            actions.push(self.modify(&table.name, column, &both)?);
            actions.push(Action::Sql(format!(
                "UPDATE {} SET {col} = {} WHERE {col} = {}",
                self.quote(&table.name),
                self.string_literal(to),
                self.string_literal(from),
                col = self.quote(&column.name)
            )));
            actions.push(self.modify(&table.name, column, change.after)?);
        }
        Ok(actions)
    }
}
