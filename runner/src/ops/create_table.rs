//! `create_table`: a table with its columns, keys, constraints and indexes.

use serde::{Deserialize, Serialize};

use super::spec::{
    CheckSpec, ColumnSpec, ForeignKeySpec, IndexSpec, NamedColumns, add_check, add_foreign_key,
    add_index, add_unique, check_columns,
};
use super::{Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, RenderError};
use crate::dialect_kind::Dialect;
use crate::model::{PrimaryKey, Schema, SchemaError, Table, Unique, pk_name, unique_name};

/// Creates a table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTable {
    pub table: String,
    pub columns: Vec<ColumnSpec>,
    /// A composite primary key; a single-column key can be set on the column instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<NamedColumns>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique: Vec<NamedColumns>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<ForeignKeySpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<IndexSpec>,
}

impl CreateTable {
    /// The model table this step describes, checked against `schema` (for enums and
    /// referenced tables).
    pub fn build(&self, schema: &Schema) -> Result<Table, SchemaError> {
        crate::model::validate_identifier(&self.table)?;
        if self.columns.is_empty() {
            return Err(SchemaError::Invalid(format!(
                "table '{}' needs at least one column",
                self.table
            )));
        }
        let mut table = Table::new(&self.table);
        for spec in &self.columns {
            if table.has_column(&spec.name) {
                return Err(SchemaError::ColumnExists {
                    table: self.table.clone(),
                    column: spec.name.clone(),
                });
            }
            if let Some(name) = spec.ty.enum_name() {
                schema.enum_type(name)?;
            }
            let column = spec.to_column()?;
            schema.check_default(&self.table, &column)?;
            table.columns.push(column);
        }

        let key_columns: Vec<String> = self
            .columns
            .iter()
            .filter(|c| c.primary_key)
            .map(|c| c.name.clone())
            .collect();
        table.primary_key = match (&self.primary_key, key_columns.is_empty()) {
            (Some(_), false) => {
                return Err(SchemaError::Invalid(format!(
                    "table '{}' sets `primary_key` on columns and on the table; keep one",
                    self.table
                )));
            }
            (Some(key), true) => {
                check_columns(&table, &key.columns, "the primary key")?;
                for column in &key.columns {
                    table.column_mut(column)?.nullable = false;
                }
                Some(PrimaryKey {
                    name: key.name.clone().unwrap_or_else(|| pk_name(&self.table)),
                    columns: key.columns.clone(),
                })
            }
            (None, false) => Some(PrimaryKey {
                name: pk_name(&self.table),
                columns: key_columns,
            }),
            (None, true) => None,
        };
        if let Some(pk) = &table.primary_key {
            schema.ensure_name_free(&pk.name)?;
        }
        if let Some(auto) = table.columns.iter().find(|c| c.autoincrement) {
            let sole_key = table
                .primary_key
                .as_ref()
                .is_some_and(|pk| pk.columns == [auto.name.clone()]);
            if !sole_key {
                return Err(SchemaError::Invalid(format!(
                    "column '{}' autoincrements, so it must be the whole primary key of '{}'",
                    auto.name, self.table
                )));
            }
        }

        for spec in &self.columns {
            let (unique, fk) = spec.inline_constraints(&self.table);
            if let Some(unique) = unique {
                add_unique(schema, &mut table, unique)?;
            }
            if let Some(fk) = fk {
                add_foreign_key(schema, &mut table, fk)?;
            }
        }
        for unique in &self.unique {
            let name = unique
                .name
                .clone()
                .unwrap_or_else(|| unique_name(&self.table, &unique.columns));
            add_unique(
                schema,
                &mut table,
                Unique {
                    name,
                    columns: unique.columns.clone(),
                },
            )?;
        }
        for fk in &self.foreign_keys {
            add_foreign_key(schema, &mut table, fk.to_model(&self.table))?;
        }
        for check in &self.checks {
            add_check(schema, &mut table, check.to_model())?;
        }
        for index in &self.indexes {
            add_index(schema, &mut table, index.to_model(&self.table))?;
        }
        Ok(table)
    }

    /// The step that recreates a model table exactly, names included.
    pub fn from_model(table: &Table) -> Self {
        let pk = table.primary_key.as_ref();
        // A one-column key under the default name is written on its column, as users do.
        let inline_key = pk
            .filter(|pk| pk.columns.len() == 1 && pk.name == pk_name(&table.name))
            .map(|pk| pk.columns[0].as_str());
        Self {
            table: table.name.clone(),
            columns: table
                .columns
                .iter()
                .map(|c| ColumnSpec::from_column(c, inline_key == Some(c.name.as_str())))
                .collect(),
            primary_key: pk.filter(|_| inline_key.is_none()).map(|pk| NamedColumns {
                name: (pk.name != pk_name(&table.name)).then(|| pk.name.clone()),
                columns: pk.columns.clone(),
            }),
            unique: table
                .uniques
                .iter()
                .map(|u| NamedColumns {
                    name: Some(u.name.clone()),
                    columns: u.columns.clone(),
                })
                .collect(),
            foreign_keys: table
                .foreign_keys
                .iter()
                .map(ForeignKeySpec::from_model)
                .collect(),
            checks: table
                .checks
                .iter()
                .map(|c| CheckSpec {
                    name: c.name.clone(),
                    expr: c.expr.clone(),
                })
                .collect(),
            indexes: table.indexes.iter().map(IndexSpec::from_model).collect(),
        }
    }
}

impl Operation for CreateTable {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        if schema.tables.contains_key(&self.table) {
            return Err(SchemaError::TableExists {
                table: self.table.clone(),
            });
        }
        schema.ensure_table_name_free(&self.table)?;
        let table = self.build(schema)?;
        schema.tables.insert(self.table.clone(), table);
        Ok(())
    }

    fn reverse(&self, _before: &Schema) -> Result<Reversal, Irreversible> {
        Ok(Reversal::steps(vec![Step::DropTable(super::DropTable {
            table: self.table.clone(),
        })]))
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        let table = cx.after.table(&self.table)?;
        let create = cx
            .dialect
            .create_table_named(table, &table.name, cx.after)?;
        if cx.dialect.dialect() == Dialect::Mysql {
            // One statement, so that a run that dies half way leaves no table without its
            // indexes (MySQL commits each DDL statement, and takes index definitions inline).
            return Ok(vec![Action::Sql(mysql_inline_indexes(create, table, cx)?)]);
        }
        let mut actions = vec![Action::Sql(create)];
        for index in &table.indexes {
            actions.push(Action::Sql(cx.dialect.create_index(
                &table.name,
                index,
                false,
            )?));
        }
        Ok(actions)
    }

    fn describe(&self) -> String {
        format!("create_table {}", self.table)
    }
}

/// MySQL's `CREATE TABLE` with the table's indexes declared inside it.
fn mysql_inline_indexes(
    create: String,
    table: &Table,
    cx: &RenderCx<'_>,
) -> Result<String, RenderError> {
    if table.indexes.is_empty() {
        return Ok(create);
    }
    let mut definitions = Vec::new();
    for index in &table.indexes {
        if index.where_clause.is_some() {
            // Refused the same way as a separate CREATE INDEX would be.
            cx.dialect.create_index(&table.name, index, false)?;
        }
        definitions.push(format!(
            "{}INDEX {} ({})",
            if index.unique { "UNIQUE " } else { "" },
            cx.dialect.quote(&index.name),
            cx.dialect.column_list(&index.columns)
        ));
    }
    let Some(end) = create.rfind("\n)") else {
        return Err(RenderError::unsupported(
            format!(
                "table '{}' (its CREATE TABLE has no closing parenthesis)",
                table.name
            ),
            Dialect::Mysql,
            "report this as a bug",
        ));
    };
    Ok(format!(
        "{},\n    {}{}",
        &create[..end],
        definitions.join(",\n    "),
        &create[end..]
    ))
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{apply_error, assert_round_trip, crm, golden, schema, step};
    use crate::model::Schema;

    #[test]
    fn renders_columns_keys_constraints_and_indexes_per_dialect() {
        let before = schema(
            "- create_enum: {name: deal_state, values: [open, won]}\n- create_table: {table: companies, columns: [{name: id, type: integer, primary_key: true}]}",
        );
        let create = step(
            r#"create_table:
    table: deals
    columns:
      - {name: id, type: bigint, primary_key: true, autoincrement: true}
      - {name: company_id, type: integer, nullable: false, references: companies.id, on_delete: cascade}
      - {name: title, type: string(200), nullable: false, default: "it's new"}
      - {name: state, type: enum(deal_state), nullable: false, default: open}
      - {name: amount, type: "decimal(12,2)"}
      - {name: active, type: boolean, default: true}
      - {name: created_at, type: timestamptz, nullable: false, default_sql: CURRENT_TIMESTAMP}
      - {name: notes, type: text, default: ""}
      - {name: code, type: uuid, unique: true}
    checks:
      - {name: ck_deals_amount, expr: "amount >= 0"}
    indexes:
      - {columns: [company_id, state]}
      - {name: ix_deals_open, columns: [title], where: "state = 'open'"}"#,
        );
        expect![[r#"
            -- sqlite
            CREATE TABLE "deals" (
                "id" INTEGER PRIMARY KEY AUTOINCREMENT,
                "company_id" INTEGER NOT NULL,
                "title" VARCHAR(200) NOT NULL DEFAULT 'it''s new',
                "state" TEXT NOT NULL DEFAULT 'open' CHECK ("state" IN ('open', 'won')),
                "amount" DECIMAL_TEXT(12,2),
                "active" BOOLEAN DEFAULT 1,
                "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
                "notes" TEXT DEFAULT '',
                "code" UUID_TEXT,
                CONSTRAINT "uq_deals_code" UNIQUE ("code"),
                CONSTRAINT "fk_deals_company_id_companies" FOREIGN KEY ("company_id") REFERENCES "companies" ("id") ON DELETE CASCADE,
                CONSTRAINT "ck_deals_amount" CHECK (amount >= 0)
            );
            CREATE INDEX "ix_deals_company_id_state" ON "deals" ("company_id", "state");
            CREATE INDEX "ix_deals_open" ON "deals" ("title") WHERE state = 'open';
            -- postgres
            CREATE TABLE "deals" (
                "id" bigint GENERATED BY DEFAULT AS IDENTITY,
                "company_id" integer NOT NULL,
                "title" varchar(200) NOT NULL DEFAULT 'it''s new',
                "state" "deal_state" NOT NULL DEFAULT 'open',
                "amount" numeric(12,2),
                "active" boolean DEFAULT TRUE,
                "created_at" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
                "notes" text DEFAULT '',
                "code" uuid,
                CONSTRAINT "pk_deals" PRIMARY KEY ("id"),
                CONSTRAINT "uq_deals_code" UNIQUE ("code"),
                CONSTRAINT "fk_deals_company_id_companies" FOREIGN KEY ("company_id") REFERENCES "companies" ("id") ON DELETE CASCADE,
                CONSTRAINT "ck_deals_amount" CHECK (amount >= 0)
            );
            CREATE INDEX "ix_deals_company_id_state" ON "deals" ("company_id", "state");
            CREATE INDEX "ix_deals_open" ON "deals" ("title") WHERE state = 'open';
            -- mysql
            error: partial index 'ix_deals_open' is not supported on mysql; drop the `where` for this database or use a `sql` step
        "#]]
        .assert_eq(&golden(&before, &create));
    }

    #[test]
    fn renders_composite_keys_and_mysql_table_options() {
        let before = crm();
        let create = step(
            r#"create_table:
    table: contact_tags
    columns:
      - {name: contact_id, type: integer, references: contacts.id, on_delete: cascade}
      - {name: tag, type: string(50)}
      - {name: meta, type: json, default: "{}"}
    primary_key: [contact_id, tag]"#,
        );
        expect![[r#"
            -- sqlite
            CREATE TABLE "contact_tags" (
                "contact_id" INTEGER NOT NULL,
                "tag" VARCHAR(50) NOT NULL,
                "meta" JSON_TEXT DEFAULT '{}',
                CONSTRAINT "pk_contact_tags" PRIMARY KEY ("contact_id", "tag"),
                CONSTRAINT "fk_contact_tags_contact_id_contacts" FOREIGN KEY ("contact_id") REFERENCES "contacts" ("id") ON DELETE CASCADE
            );
            -- postgres
            CREATE TABLE "contact_tags" (
                "contact_id" integer NOT NULL,
                "tag" varchar(50) NOT NULL,
                "meta" jsonb DEFAULT '{}',
                CONSTRAINT "pk_contact_tags" PRIMARY KEY ("contact_id", "tag"),
                CONSTRAINT "fk_contact_tags_contact_id_contacts" FOREIGN KEY ("contact_id") REFERENCES "contacts" ("id") ON DELETE CASCADE
            );
            -- mysql
            CREATE TABLE `contact_tags` (
                `contact_id` INT NOT NULL,
                `tag` VARCHAR(50) NOT NULL,
                `meta` JSON DEFAULT ('{}'),
                CONSTRAINT `pk_contact_tags` PRIMARY KEY (`contact_id`, `tag`),
                CONSTRAINT `fk_contact_tags_contact_id_contacts` FOREIGN KEY (`contact_id`) REFERENCES `contacts` (`id`) ON DELETE CASCADE
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
        "#]]
        .assert_eq(&golden(&before, &create));
        assert_round_trip(&before, &create);
    }

    #[test]
    fn mysql_declares_the_indexes_inside_its_one_create_table() {
        let before = crm();
        let create = step(
            r#"create_table:
    table: notes
    columns:
      - {name: id, type: integer, primary_key: true}
      - {name: contact_id, type: integer}
      - {name: slug, type: string(40)}
    indexes:
      - {columns: [contact_id]}
      - {columns: [slug], unique: true}"#,
        );
        let sql = golden(&before, &create);
        expect![[r#"
            CREATE TABLE `notes` (
                `id` INT NOT NULL,
                `contact_id` INT,
                `slug` VARCHAR(40),
                CONSTRAINT `pk_notes` PRIMARY KEY (`id`),
                INDEX `ix_notes_contact_id` (`contact_id`),
                UNIQUE INDEX `uqix_notes_slug` (`slug`)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
        "#]]
        .assert_eq(&sql[sql.find("-- mysql\n").unwrap() + 9..]);
        assert_round_trip(&before, &create);
    }

    #[test]
    fn rejects_what_no_database_would_take() {
        let before = crm();
        let cases = [
            (
                "create_table: {table: contacts, columns: [{name: id, type: integer}]}",
                "table 'contacts' already exists",
            ),
            (
                "create_table: {table: t, columns: []}",
                "needs at least one column",
            ),
            (
                "create_table: {table: t, columns: [{name: a, type: integer}, {name: a, type: text}]}",
                "already has a column 'a'",
            ),
            (
                "create_table: {table: t, columns: [{name: a, type: enum(nope)}]}",
                "no enum 'nope'",
            ),
            (
                "create_table: {table: t, columns: [{name: a, type: integer, references: nope.id}]}",
                "no table 'nope'",
            ),
            (
                "create_table: {table: t, columns: [{name: a, type: integer, references: contacts.email}]}",
                "is string(255)",
            ),
            (
                "create_table: {table: t, columns: [{name: a, type: string(255), references: contacts.email}]}",
                "neither its primary key nor unique",
            ),
            (
                "create_table: {table: t, columns: [{name: a, type: text, autoincrement: true, primary_key: true}]}",
                "cannot autoincrement",
            ),
            (
                "create_table: {table: t, columns: [{name: a, type: integer, autoincrement: true}]}",
                "must be the whole primary key",
            ),
            (
                "create_table: {table: t, columns: [{name: a, type: integer}], indexes: [{name: ix_contacts_email, columns: [a]}]}",
                "already used by an index on 'contacts'",
            ),
            (
                "create_table: {table: t, columns: [{name: a, type: integer}], primary_key: [b]}",
                "table 't' has no column 'b'",
            ),
            (
                "create_table: {table: runner_version, columns: [{name: a, type: integer}]}",
                "reserved",
            ),
            (
                "create_table: {table: deal_state, columns: [{name: a, type: integer}]}",
                "the name 'deal_state' is already used by an enum",
            ),
            (
                "create_table: {table: t, columns: [{name: a, type: bigint, references: contacts.id}]}",
                "column 't.a' is bigint but 'contacts.id' is integer",
            ),
            (
                "create_table: {table: t, columns: [{name: a, type: enum(deal_state), default: closed}]}",
                "column 't.a' cannot default to \"closed\": it is not a value of enum 'deal_state'",
            ),
        ];
        for (yaml, expected) in cases {
            let err = apply_error(&before, &step(yaml));
            assert!(
                err.contains(expected),
                "{yaml}\n  gave: {err}\n  expected: {expected}"
            );
        }
    }

    #[test]
    fn reverse_of_a_rich_table_recreates_it_exactly() {
        let before = crm();
        let drop = step("drop_table: {table: deals}");
        assert_round_trip(&before, &drop);
        let composite = schema(
            "- create_table: {table: t, columns: [{name: a, type: integer}, {name: b, type: integer}], primary_key: {name: t_key, columns: [a, b]}}",
        );
        assert_round_trip(&composite, &step("drop_table: {table: t}"));
        let named = schema(
            "- create_table: {table: t, columns: [{name: a, type: integer, autoincrement: true}], primary_key: {name: t_key, columns: [a]}}",
        );
        assert_round_trip(&named, &step("drop_table: {table: t}"));
        assert_eq!(Schema::default().tables.len(), 0);
    }
}
