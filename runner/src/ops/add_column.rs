//! `add_column`: a new column, with the key, unique constraint or foreign key it declares.

use serde::{Deserialize, Serialize};

use super::spec::{ColumnSpec, add_foreign_key, add_unique};
use super::{
    DropColumn, DropConstraint, DropForeignKey, Irreversible, Operation, RenderCx, Reversal, Step,
};
use crate::dialect::{Action, RenderError};
use crate::model::{ColumnDefault, PrimaryKey, Schema, SchemaError, pk_name};

/// Adds a column to a table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AddColumn {
    pub table: String,
    pub column: ColumnSpec,
}

impl Operation for AddColumn {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        let mut table = schema.table(&self.table)?.clone();
        if table.has_column(&self.column.name) {
            return Err(SchemaError::ColumnExists {
                table: self.table.clone(),
                column: self.column.name.clone(),
            });
        }
        if let Some(name) = self.column.ty.enum_name() {
            schema.enum_type(name)?;
        }
        let column = self.column.to_column()?;
        schema.check_default(&self.table, &column)?;
        if column.autoincrement && !self.column.primary_key {
            return Err(SchemaError::Invalid(format!(
                "column '{}' autoincrements, so it must be the primary key",
                column.name
            )));
        }
        table.columns.push(column);
        if self.column.primary_key {
            if let Some(pk) = &table.primary_key {
                return Err(SchemaError::Invalid(format!(
                    "table '{}' already has a primary key ('{}')",
                    self.table, pk.name
                )));
            }
            let name = pk_name(&self.table);
            schema.ensure_name_free(&name)?;
            table.primary_key = Some(PrimaryKey {
                name,
                columns: vec![self.column.name.clone()],
            });
        }
        let (unique, fk) = self.column.inline_constraints(&self.table);
        if let Some(unique) = unique {
            add_unique(schema, &mut table, unique)?;
        }
        if let Some(fk) = fk {
            add_foreign_key(schema, &mut table, fk)?;
        }
        schema.tables.insert(self.table.clone(), table);
        Ok(())
    }

    fn reverse(&self, _before: &Schema) -> Result<Reversal, Irreversible> {
        let (unique, fk) = self.column.inline_constraints(&self.table);
        let mut steps = Vec::new();
        if let Some(fk) = fk {
            steps.push(Step::DropForeignKey(DropForeignKey {
                table: self.table.clone(),
                name: fk.name,
            }));
        }
        if let Some(unique) = unique {
            steps.push(Step::DropConstraint(DropConstraint {
                table: self.table.clone(),
                name: unique.name,
            }));
        }
        steps.push(Step::DropColumn(DropColumn {
            table: self.table.clone(),
            column: self.column.name.clone(),
        }));
        Ok(Reversal::steps(steps))
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        let table = cx.after.table(&self.table)?;
        let column = table.column(&self.column.name)?;
        // The column is new, so every key and constraint naming it comes with it.
        let on_column = |columns: &[String]| columns.contains(&column.name);
        let pk = table
            .primary_key
            .as_ref()
            .filter(|pk| on_column(&pk.columns));
        let uniques: Vec<_> = table
            .uniques
            .iter()
            .filter(|u| on_column(&u.columns))
            .collect();
        let fks: Vec<_> = table
            .foreign_keys
            .iter()
            .filter(|fk| on_column(&fk.columns))
            .collect();
        if !cx.dialect.caps().add_column_constraints {
            let in_place = pk.is_none()
                && uniques.is_empty()
                && fks.is_empty()
                && !matches!(column.default, Some(ColumnDefault::Sql(_)))
                && (column.nullable || column.default.is_some());
            if !in_place {
                return Ok(vec![cx.rebuild(&self.table)?]);
            }
        }
        let mut parts = vec![format!(
            "ADD COLUMN {}",
            cx.dialect.column_definition(column, cx.after)?
        )];
        if let Some(pk) = pk {
            parts.push(format!("ADD {}", cx.dialect.primary_key_clause(pk)));
        }
        for unique in uniques {
            parts.push(format!("ADD {}", cx.dialect.unique_clause(unique)));
        }
        for fk in fks {
            parts.push(format!("ADD {}", cx.dialect.foreign_key_clause(fk)));
        }
        // One statement: MySQL wants an AUTO_INCREMENT column to be a key in the same ALTER.
        Ok(vec![Action::Sql(format!(
            "ALTER TABLE {} {}",
            cx.q(&self.table),
            parts.join(", ")
        ))])
    }

    fn describe(&self) -> String {
        format!("add_column {}.{}", self.table, self.column.name)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{apply_error, assert_round_trip, crm, golden, step};

    #[test]
    fn adds_a_plain_column_in_place_everywhere() {
        let before = crm();
        let add = step(
            "add_column: {table: contacts, column: {name: first_name, type: string(100), nullable: false, default: ''}}",
        );
        expect![[r#"
            -- sqlite
            ALTER TABLE "contacts" ADD COLUMN "first_name" VARCHAR(100) NOT NULL DEFAULT '';
            -- postgres
            ALTER TABLE "contacts" ADD COLUMN "first_name" varchar(100) NOT NULL DEFAULT '';
            -- mysql
            ALTER TABLE `contacts` ADD COLUMN `first_name` VARCHAR(100) NOT NULL DEFAULT '';
        "#]]
        .assert_eq(&golden(&before, &add));
        assert_round_trip(&before, &add);
    }

    #[test]
    fn adds_a_referencing_unique_column_by_rebuilding_on_sqlite() {
        let before = crm();
        let add = step(
            "add_column: {table: contacts, column: {name: manager_id, type: integer, unique: true, references: contacts.id, on_delete: set_null}}",
        );
        expect![[r#"
            -- sqlite
            -- rebuild of "contacts" (views and triggers are dropped and recreated around it)
            CREATE TABLE "_runner_new_contacts" (
                "id" INTEGER PRIMARY KEY AUTOINCREMENT,
                "full_name" VARCHAR(255) NOT NULL,
                "email" VARCHAR(255),
                "company_id" INTEGER,
                "score" INTEGER NOT NULL DEFAULT 0,
                "manager_id" INTEGER,
                CONSTRAINT "uq_contacts_manager_id" UNIQUE ("manager_id"),
                CONSTRAINT "fk_contacts_company_id_companies" FOREIGN KEY ("company_id") REFERENCES "companies" ("id") ON DELETE CASCADE,
                CONSTRAINT "fk_contacts_manager_id_contacts" FOREIGN KEY ("manager_id") REFERENCES "contacts" ("id") ON DELETE SET NULL,
                CONSTRAINT "ck_contacts_score" CHECK (score >= 0)
            );
            INSERT INTO "_runner_new_contacts" ("id", "full_name", "email", "company_id", "score") SELECT "id", "full_name", "email", "company_id", "score" FROM "contacts";
            DROP TABLE "contacts";
            ALTER TABLE "_runner_new_contacts" RENAME TO "contacts";
            CREATE INDEX "ix_contacts_email" ON "contacts" ("email");
            -- postgres
            ALTER TABLE "contacts" ADD COLUMN "manager_id" integer, ADD CONSTRAINT "uq_contacts_manager_id" UNIQUE ("manager_id"), ADD CONSTRAINT "fk_contacts_manager_id_contacts" FOREIGN KEY ("manager_id") REFERENCES "contacts" ("id") ON DELETE SET NULL;
            -- mysql
            ALTER TABLE `contacts` ADD COLUMN `manager_id` INT, ADD CONSTRAINT `uq_contacts_manager_id` UNIQUE (`manager_id`), ADD CONSTRAINT `fk_contacts_manager_id_contacts` FOREIGN KEY (`manager_id`) REFERENCES `contacts` (`id`) ON DELETE SET NULL;
        "#]]
        .assert_eq(&golden(&before, &add));
        assert_round_trip(&before, &add);
    }

    #[test]
    fn adds_an_autoincrement_key_in_one_statement() {
        let before = super::super::testing::schema(
            "- create_table: {table: tags, columns: [{name: label, type: string(50)}]}",
        );
        let add = step(
            "add_column: {table: tags, column: {name: id, type: bigint, primary_key: true, autoincrement: true}}",
        );
        expect![[r#"
            -- sqlite
            -- rebuild of "tags" (views and triggers are dropped and recreated around it)
            CREATE TABLE "_runner_new_tags" (
                "label" VARCHAR(50),
                "id" INTEGER PRIMARY KEY AUTOINCREMENT
            );
            INSERT INTO "_runner_new_tags" ("label") SELECT "label" FROM "tags";
            DROP TABLE "tags";
            ALTER TABLE "_runner_new_tags" RENAME TO "tags";
            -- postgres
            ALTER TABLE "tags" ADD COLUMN "id" bigint GENERATED BY DEFAULT AS IDENTITY, ADD CONSTRAINT "pk_tags" PRIMARY KEY ("id");
            -- mysql
            ALTER TABLE `tags` ADD COLUMN `id` BIGINT NOT NULL AUTO_INCREMENT, ADD CONSTRAINT `pk_tags` PRIMARY KEY (`id`);
        "#]]
        .assert_eq(&golden(&before, &add));
        assert_round_trip(&before, &add);
    }

    #[test]
    fn refuses_duplicates_second_keys_and_unknown_tables() {
        let before = crm();
        for (yaml, expected) in [
            (
                "add_column: {table: contacts, column: {name: email, type: text}}",
                "table 'contacts' already has a column 'email'",
            ),
            (
                "add_column: {table: nope, column: {name: a, type: text}}",
                "no table 'nope'",
            ),
            (
                "add_column: {table: contacts, column: {name: k, type: integer, primary_key: true}}",
                "already has a primary key ('pk_contacts')",
            ),
            (
                "add_column: {table: contacts, column: {name: k, type: integer, autoincrement: true}}",
                "must be the primary key",
            ),
            (
                "add_column: {table: contacts, column: {name: k, type: integer, on_delete: cascade}}",
                "without `references`",
            ),
        ] {
            let err = apply_error(&before, &step(yaml));
            assert!(err.contains(expected), "{yaml}\n  gave: {err}");
        }
    }

    #[test]
    fn refuses_literal_defaults_that_do_not_fit_the_type() {
        let before = crm();
        for (column, expected) in [
            (
                "{name: k, type: integer, default: abc}",
                "column 'contacts.k' cannot default to \"abc\": integer takes a whole number, \
                 written without quotes",
            ),
            (
                "{name: k, type: enum(deal_state), default: closed}",
                "column 'contacts.k' cannot default to \"closed\": it is not a value of enum \
                 'deal_state' (open, won, lost)",
            ),
            (
                "{name: k, type: smallint, default: 40000}",
                "column 'contacts.k' cannot default to 40000: smallint holds -32768 to 32767",
            ),
            (
                "{name: k, type: string(3), default: abcd}",
                "column 'contacts.k' cannot default to \"abcd\": string(3) holds at most 3 \
                 characters",
            ),
            (
                "{name: k, type: boolean, default: 1}",
                "column 'contacts.k' cannot default to 1: boolean takes true or false",
            ),
            (
                "{name: k, type: \"decimal(4,2)\", default: 123.5}",
                "column 'contacts.k' cannot default to 123.5: decimal(4,2) holds at most 2 \
                 digit(s) before the decimal point",
            ),
            (
                "{name: k, type: date, default: \"2020-13-01\"}",
                "column 'contacts.k' cannot default to \"2020-13-01\": date takes text in the \
                 form YYYY-MM-DD (`default_sql` takes expressions such as CURRENT_TIMESTAMP)",
            ),
            (
                "{name: k, type: timestamp, default: now}",
                "column 'contacts.k' cannot default to \"now\": timestamp takes text in the \
                 form YYYY-MM-DD HH:MM:SS (`default_sql` takes expressions such as \
                 CURRENT_TIMESTAMP)",
            ),
            (
                "{name: k, type: uuid, default: abc}",
                "column 'contacts.k' cannot default to \"abc\": uuid takes text in the form \
                 xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx in hexadecimal (`default_sql` takes \
                 expressions such as CURRENT_TIMESTAMP)",
            ),
            (
                "{name: k, type: json, default: \"{\"}",
                "column 'contacts.k' cannot default to \"{\": json takes text in the form JSON \
                 text (`default_sql` takes expressions such as CURRENT_TIMESTAMP)",
            ),
        ] {
            let yaml = format!("add_column: {{table: contacts, column: {column}}}");
            assert_eq!(apply_error(&before, &step(&yaml)), expected, "{yaml}");
        }
        // Expressions are the database's to read.
        let mut after = before.clone();
        step("add_column: {table: contacts, column: {name: k, type: integer, default_sql: \"abc + 1\"}}")
            .operation()
            .apply(&mut after)
            .unwrap();
        // Values that fit are taken.
        for column in [
            "{name: k, type: enum(deal_state), default: won}",
            "{name: k, type: smallint, default: -32768}",
            "{name: k, type: double, default: 2}",
            "{name: k, type: \"decimal(4,2)\", default: 12.345}",
            "{name: k, type: timestamptz, default: \"2020-01-02T03:04:05Z\"}",
            "{name: k, type: time, default: \"12:30:00.5\"}",
            "{name: k, type: uuid, default: 0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}",
        ] {
            let mut after = before.clone();
            step(&format!(
                "add_column: {{table: contacts, column: {column}}}"
            ))
            .operation()
            .apply(&mut after)
            .unwrap_or_else(|e| panic!("{column}: {e}"));
        }
    }
}
