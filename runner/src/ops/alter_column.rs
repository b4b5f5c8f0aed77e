//! `alter_column`: changes a column's type (optionally computing the new value with `using`),
//! nullability or default. In place where the database can; SQLite rebuilds the table.

use serde::{Deserialize, Deserializer, Serialize};

use super::{Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, ColumnChange, RenderError};
use crate::model::{ColumnDefault, ColumnType, Literal, Schema, SchemaError};

/// Changes a column. A key left out is left as it is; `default: null` removes the default.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlterColumn {
    pub table: String,
    pub column: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<ColumnType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nullable: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub default: Option<Option<Literal>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_sql: Option<Option<String>>,
    /// SQL computing the new value from the row, for type changes no cast does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub using: Option<String>,
}

/// Tells a key given as `null` (`Some(None)`) from a key left out (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl AlterColumn {
    /// A change of nullability only.
    pub fn nullable(table: &str, column: &str, nullable: bool) -> Self {
        Self {
            table: table.into(),
            column: column.into(),
            ty: None,
            nullable: Some(nullable),
            default: None,
            default_sql: None,
            using: None,
        }
    }
}

impl Operation for AlterColumn {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        let table = schema.table(&self.table)?;
        let mut column = table.column(&self.column)?.clone();
        if self.using.is_some() && self.ty.is_none() {
            return Err(SchemaError::Invalid(
                "`using` computes a new type's values and needs `type`".into(),
            ));
        }
        if self.ty.is_none()
            && self.nullable.is_none()
            && self.default.is_none()
            && self.default_sql.is_none()
        {
            return Err(SchemaError::Invalid(format!(
                "alter_column of '{}.{}' changes nothing; give type, nullable, default or default_sql",
                self.table, self.column
            )));
        }
        if matches!(
            (&self.default, &self.default_sql),
            (Some(Some(_)), Some(Some(_)))
        ) {
            return Err(SchemaError::Invalid(
                "alter_column has both `default` and `default_sql`; keep one".into(),
            ));
        }
        if let Some(ty) = &self.ty {
            if let Some(name) = ty.enum_name() {
                schema.enum_type(name)?;
            }
            if column.autoincrement && !ty.is_integer() {
                return Err(SchemaError::Invalid(format!(
                    "column '{}.{}' autoincrements and must stay an integer",
                    self.table, self.column
                )));
            }
            column.ty = ty.clone();
        }
        if let Some(nullable) = self.nullable {
            let in_key = table
                .primary_key
                .as_ref()
                .is_some_and(|pk| pk.columns.contains(&self.column));
            if nullable && in_key {
                return Err(SchemaError::Invalid(format!(
                    "column '{}.{}' is in the primary key and cannot be nullable",
                    self.table, self.column
                )));
            }
            column.nullable = nullable;
        }
        match (&self.default, &self.default_sql) {
            (Some(Some(literal)), _) => {
                column.default = Some(ColumnDefault::Literal(literal.clone()))
            }
            (_, Some(Some(sql))) => column.default = Some(ColumnDefault::Sql(sql.clone())),
            (Some(None), _) | (_, Some(None)) => column.default = None,
            (None, None) => {}
        }
        if column.autoincrement && column.default.is_some() {
            return Err(SchemaError::Invalid(format!(
                "column '{}.{}' autoincrements and cannot have a default",
                self.table, self.column
            )));
        }
        // A default left in place must fit a new type too.
        schema.check_default(&self.table, &column)?;
        *schema.table_mut(&self.table)?.column_mut(&self.column)? = column;

        // Foreign keys on either side of the column (self-references included) must still
        // match its type.
        let table = schema.table(&self.table)?;
        for fk in table
            .foreign_keys
            .iter()
            .filter(|fk| fk.columns.contains(&self.column))
        {
            schema.validate_reference(table, fk)?;
        }
        for (by, fk) in schema.references_to(&self.table) {
            if fk.ref_columns.contains(&self.column) {
                schema.validate_reference(by, fk)?;
            }
        }
        Ok(())
    }

    fn reverse(&self, before: &Schema) -> Result<Reversal, Irreversible> {
        if self.using.is_some() {
            return Err(Irreversible(
                "alter_column with `using` has no automatic reverse; write the revision's `downgrade` steps".into(),
            ));
        }
        let old = before
            .table(&self.table)
            .and_then(|t| t.column(&self.column))
            .map_err(|e| Irreversible(e.to_string()))?;
        let touches_default = self.default.is_some() || self.default_sql.is_some();
        let (default, default_sql) = match (&old.default, touches_default) {
            (_, false) => (None, None),
            (Some(ColumnDefault::Literal(l)), true) => (Some(Some(l.clone())), None),
            (Some(ColumnDefault::Sql(s)), true) => (None, Some(Some(s.clone()))),
            (None, true) => (Some(None), None),
        };
        Ok(Reversal::steps(vec![Step::AlterColumn(AlterColumn {
            table: self.table.clone(),
            column: self.column.clone(),
            ty: self.ty.as_ref().map(|_| old.ty.clone()),
            nullable: self.nullable.map(|_| old.nullable),
            default,
            default_sql,
            using: None,
        })]))
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        let table = cx.after.table(&self.table)?;
        cx.dialect.alter_column(&ColumnChange {
            before: cx.before,
            after: cx.after,
            table,
            old: cx.before.table(&self.table)?.column(&self.column)?,
            new: table.column(&self.column)?,
            using: self.using.as_deref(),
        })
    }

    fn describe(&self) -> String {
        format!("alter_column {}.{}", self.table, self.column)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{
        applied, apply_error, assert_round_trip, crm, golden, schema, step,
    };
    use crate::model::temp_name;

    #[test]
    fn changes_type_nullability_and_default() {
        let before = crm();
        let alter = step(
            "alter_column: {table: contacts, column: score, type: bigint, nullable: true, default: 10}",
        );
        expect![[r#"
            -- sqlite
            -- rebuild of "contacts" (views and triggers are dropped and recreated around it)
            CREATE TABLE "_runner_new_contacts" (
                "id" INTEGER PRIMARY KEY AUTOINCREMENT,
                "full_name" VARCHAR(255) NOT NULL,
                "email" VARCHAR(255),
                "company_id" INTEGER,
                "score" BIGINT DEFAULT 10,
                CONSTRAINT "fk_contacts_company_id_companies" FOREIGN KEY ("company_id") REFERENCES "companies" ("id") ON DELETE CASCADE,
                CONSTRAINT "ck_contacts_score" CHECK (score >= 0)
            );
            INSERT INTO "_runner_new_contacts" ("id", "full_name", "email", "company_id", "score") SELECT "id", "full_name", "email", "company_id", "score" FROM "contacts";
            DROP TABLE "contacts";
            ALTER TABLE "_runner_new_contacts" RENAME TO "contacts";
            CREATE INDEX "ix_contacts_email" ON "contacts" ("email");
            -- postgres
            ALTER TABLE "contacts" ALTER COLUMN "score" DROP DEFAULT;
            ALTER TABLE "contacts" ALTER COLUMN "score" TYPE bigint;
            ALTER TABLE "contacts" ALTER COLUMN "score" SET DEFAULT 10;
            ALTER TABLE "contacts" ALTER COLUMN "score" DROP NOT NULL;
            -- mysql
            ALTER TABLE `contacts` MODIFY COLUMN `score` BIGINT DEFAULT 10;
        "#]]
        .assert_eq(&golden(&before, &alter));
        assert_round_trip(&before, &alter);
    }

    #[test]
    fn computes_new_values_with_using() {
        let before = crm();
        let alter = step(
            "alter_column: {table: deals, column: amount, type: bigint, using: \"CAST(amount * 100 AS BIGINT)\"}",
        );
        expect![[r#"
            -- sqlite
            -- rebuild of "deals" (views and triggers are dropped and recreated around it)
            CREATE TABLE "_runner_new_deals" (
                "id" INTEGER PRIMARY KEY AUTOINCREMENT,
                "contact_id" INTEGER NOT NULL,
                "state" TEXT NOT NULL DEFAULT 'open' CHECK ("state" IN ('open', 'won', 'lost')),
                "amount" BIGINT,
                CONSTRAINT "fk_deals_contact_id_contacts" FOREIGN KEY ("contact_id") REFERENCES "contacts" ("id")
            );
            INSERT INTO "_runner_new_deals" ("id", "contact_id", "state", "amount") SELECT "id", "contact_id", "state", (CAST(amount * 100 AS BIGINT)) FROM "deals";
            DROP TABLE "deals";
            ALTER TABLE "_runner_new_deals" RENAME TO "deals";
            -- postgres
            ALTER TABLE "deals" ALTER COLUMN "amount" TYPE bigint USING (CAST(amount * 100 AS BIGINT));
            -- mysql
            ALTER TABLE `deals` ADD COLUMN `_runner_new_amount` BIGINT AFTER `amount`;
            UPDATE `deals` SET `_runner_new_amount` = (CAST(amount * 100 AS BIGINT));
            ALTER TABLE `deals` DROP COLUMN `amount`, CHANGE COLUMN `_runner_new_amount` `amount` BIGINT;
        "#]]
        .assert_eq(&golden(&before, &alter));
        let err = alter.operation().reverse(&before).unwrap_err().to_string();
        assert!(err.contains("no automatic reverse"), "{err}");
    }

    #[test]
    fn casts_through_text_for_enums_on_postgres_only_when_needed() {
        let before = crm();
        let alter = step("alter_column: {table: deals, column: state, type: string(20)}");
        let sql = golden(&before, &alter);
        assert!(
            sql.contains("TYPE varchar(20) USING CAST(CAST(\"state\" AS text) AS varchar(20))"),
            "{sql}"
        );
        let widen = step("alter_column: {table: contacts, column: full_name, type: text}");
        let sql = golden(&before, &widen);
        assert!(
            sql.contains("ALTER COLUMN \"full_name\" TYPE text;"),
            "{sql}"
        );
        assert_round_trip(&before, &alter);
    }

    #[test]
    fn removes_a_default_with_null() {
        let before = crm();
        let alter = step("alter_column: {table: contacts, column: score, default: null}");
        let sql = golden(&before, &alter);
        assert!(
            sql.contains("ALTER TABLE \"contacts\" ALTER COLUMN \"score\" DROP DEFAULT;"),
            "{sql}"
        );
        assert!(sql.contains("MODIFY COLUMN `score` INT NOT NULL;"), "{sql}");
        assert_round_trip(&before, &alter);
    }

    #[test]
    fn refuses_impossible_changes() {
        let before = crm();
        for (yaml, expected) in [
            (
                "alter_column: {table: contacts, column: score}",
                "changes nothing",
            ),
            (
                "alter_column: {table: contacts, column: id, nullable: true}",
                "in the primary key",
            ),
            (
                "alter_column: {table: contacts, column: id, type: text}",
                "must stay an integer",
            ),
            (
                "alter_column: {table: contacts, column: score, using: score}",
                "needs `type`",
            ),
            (
                "alter_column: {table: deals, column: contact_id, type: text}",
                "is text but 'contacts.id' is integer",
            ),
            (
                "alter_column: {table: deals, column: contact_id, type: bigint}",
                "column 'deals.contact_id' is bigint but 'contacts.id' is integer; both sides \
                 of a foreign key need the same type",
            ),
            (
                "alter_column: {table: deals, column: state, default: closed}",
                "column 'deals.state' cannot default to \"closed\": it is not a value of enum \
                 'deal_state' (open, won, lost)",
            ),
            (
                "alter_column: {table: contacts, column: score, type: string(10)}",
                "column 'contacts.score' cannot default to 0: string(10) takes text; put the \
                 value in quotes",
            ),
        ] {
            let err = apply_error(&before, &step(yaml));
            assert!(err.contains(expected), "{yaml}\n  gave: {err}");
        }
    }

    #[test]
    fn refuses_retyping_a_key_its_own_tables_foreign_key_points_at() {
        let before = schema(
            "- create_table: {table: staff, columns: [{name: id, type: integer, primary_key: true}, {name: boss_id, type: integer, references: staff.id}]}",
        );
        assert_eq!(
            apply_error(
                &before,
                &step("alter_column: {table: staff, column: id, type: bigint}")
            ),
            "foreign key 'fk_staff_boss_id_staff': column 'staff.boss_id' is integer but \
             'staff.id' is bigint; both sides of a foreign key need the same type (MySQL and \
             MariaDB refuse even integers of different widths)"
        );
    }

    #[test]
    fn the_mysql_staging_column_of_a_long_column_fits_in_64_bytes() {
        let long = "amount_in_the_smallest_unit_of_the_currency_that_the_deal_uses";
        let before = applied(
            &crm(),
            &format!("- add_column: {{table: deals, column: {{name: {long}, type: smallint}}}}"),
        );
        let alter = step(&format!(
            "alter_column: {{table: deals, column: {long}, type: integer, using: \"{long} * 2\"}}"
        ));
        let temp = temp_name("new", long);
        assert!(temp.len() <= 63, "{temp}");
        let sql = golden(&before, &alter);
        expect![[r#"
            ALTER TABLE `deals` ADD COLUMN `_runner_new_amount_in_the_smallest_unit_of_the_currenc_53d17bdb` INT AFTER `amount_in_the_smallest_unit_of_the_currency_that_the_deal_uses`;
            UPDATE `deals` SET `_runner_new_amount_in_the_smallest_unit_of_the_currenc_53d17bdb` = (amount_in_the_smallest_unit_of_the_currency_that_the_deal_uses * 2);
            ALTER TABLE `deals` DROP COLUMN `amount_in_the_smallest_unit_of_the_currency_that_the_deal_uses`, CHANGE COLUMN `_runner_new_amount_in_the_smallest_unit_of_the_currenc_53d17bdb` `amount_in_the_smallest_unit_of_the_currency_that_the_deal_uses` INT;
        "#]]
        .assert_eq(&sql[sql.find("ALTER TABLE `deals`").unwrap()..]);
    }
}
