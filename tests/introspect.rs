//! Introspection reads back what runner created, on every backend: a rich schema built through
//! the operations compares equal (after `comparable`) with the schema read from the database,
//! and tables written by hand with other tools' types map to the closest portable types.

use runner::db::Db;
use runner::db::introspect::{IntrospectError, introspect};
use runner::dialect::{Action, renderer};
use runner::dialect_kind::Dialect;
use runner::model::compare::comparable;
use runner::model::{ColumnDefault, ColumnType, FkAction, Literal, Schema};
use runner::ops::{RenderCx, Step};
use runner_integration_tests::TestDb;

/// Every portable type, enums, defaults of each kind, both autoincrement widths, composite
/// keys, named and derived uniques, foreign keys with actions, checks and indexes; with steps
/// after the tables are created so that SQLite rebuilds are read back too.
const RICH: &str = r#"
- create_enum: {name: deal_state, values: [open, won, "it's lost"]}
- create_enum: {name: spare_kind, values: [x, y]}
- create_table:
    table: companies
    columns:
      - {name: id, type: integer, primary_key: true, autoincrement: true}
      - {name: name, type: string(200), nullable: false, unique: true}
      - {name: created_at, type: timestamptz, nullable: false, default_sql: CURRENT_TIMESTAMP}
- create_table:
    table: every_type
    columns:
      - {name: id, type: bigint, primary_key: true, autoincrement: true}
      - {name: i, type: integer, nullable: false, default: 42}
      - {name: big, type: bigint, default: -9000000000}
      - {name: small, type: smallint, default: -3}
      - {name: flag, type: boolean, nullable: false, default: true}
      - {name: off, type: boolean, default: false}
      - {name: r, type: real, default: 1.5}
      - {name: d, type: double, default: 0}
      - {name: amount, type: "decimal(12,2)", default: 0}
      - {name: price, type: "decimal(30,4)", default: 1.25}
      - {name: title, type: string(100), nullable: false, default: "it's"}
      - {name: body, type: text}
      - {name: data, type: binary}
      - {name: day, type: date, default: "2020-01-01"}
      - {name: at, type: time, default_sql: CURRENT_TIME}
      - {name: ts, type: timestamp, default_sql: CURRENT_TIMESTAMP}
      - {name: tstz, type: timestamptz}
      - {name: doc, type: json, default: "{}"}
      - {name: uid, type: uuid}
      - {name: state, type: enum(deal_state), nullable: false, default: open}
      - {name: company_id, type: integer, references: companies.id, on_delete: set_null}
    checks:
      - {name: ck_every_type_i, expr: "i >= 0 AND small < 100"}
      - {name: ck_every_type_title, expr: "title <> ''"}
    indexes:
      - {columns: [title]}
      - {columns: [day, at], unique: true}
- create_table:
    table: memberships
    columns:
      - {name: company_id, type: integer, references: companies.id, on_delete: cascade}
      - {name: member_no, type: smallint}
      - {name: role, type: string(20), default: member}
    primary_key: {name: pk_memberships_custom, columns: [company_id, member_no]}
- create_table:
    table: grants
    columns:
      - {name: id, type: integer, primary_key: true, autoincrement: true}
      - {name: company_id, type: integer, nullable: false}
      - {name: member_no, type: smallint, nullable: false}
      - {name: level, type: enum(deal_state)}
      - {name: code, type: string(10)}
      - {name: scope, type: string(10)}
    foreign_keys:
      - {columns: [company_id, member_no], references: {table: memberships, columns: [company_id, member_no]}, on_delete: restrict, on_update: cascade}
    unique:
      - [code, scope]
      - {name: grants_scope_key, columns: [scope, company_id]}
- add_column: {table: companies, column: {name: rating, type: smallint, nullable: false, default: 0}}
- add_check: {table: companies, name: ck_companies_rating, expr: "rating >= 0 AND rating <= 5"}
- add_unique: {table: grants, columns: [id, code]}
- add_foreign_key: {table: grants, name: fk_grants_level_owner, columns: [company_id], references: {table: companies, columns: [id]}, on_update: no_action}
- create_index: {table: grants, name: grants_by_scope, columns: [scope, code]}
"#;

/// Only where the database can hold it: MySQL has no partial indexes.
const PARTIAL_INDEX: &str = r#"
- create_index: {table: every_type, name: ix_every_type_recent, columns: [ts], where: "big IS NOT NULL AND i > 3"}
"#;

/// Applies `yaml`'s steps to `schema` and runs their SQL on `db`.
async fn apply(db: &mut Db, schema: &mut Schema, yaml: &str) {
    let steps: Vec<Step> = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}"));
    for step in steps {
        let op = step.operation();
        let before = schema.clone();
        op.apply(schema)
            .unwrap_or_else(|e| panic!("{}: {e}", op.describe()));
        let cx = RenderCx {
            dialect: renderer(db.dialect()),
            before: &before,
            after: schema,
            used_in_transaction: false,
        };
        let actions = op
            .render(&cx)
            .unwrap_or_else(|e| panic!("{}: {e}", op.describe()));
        for action in actions {
            // A SQLite rebuild runs as its script; these tables hold no views or triggers.
            let sql = match &action {
                Action::Sql(sql) => sql.clone(),
                Action::Rebuild(_) => action.script(),
                Action::Transform(t) => panic!("no transform in this schema: {}", t.module),
                // The tables are empty: no row can be in the way.
                Action::Guard(_) => continue,
            };
            db.execute_script(&sql)
                .await
                .unwrap_or_else(|e| panic!("{} on {}: {e}\n{sql}", op.describe(), db.dialect()));
        }
    }
}

/// Fails with both schemas printed when they differ.
fn assert_same(dialect: Dialect, live: &Schema, model: &Schema) {
    let (live, model) = (comparable(live, dialect), comparable(model, dialect));
    if live != model {
        for (name, table) in &model.tables {
            if live.tables.get(name) != Some(table) {
                eprintln!(
                    "table {name} differs on {dialect}\nmodel: {table:#?}\nlive: {:#?}",
                    live.tables.get(name)
                );
            }
        }
        panic!(
            "introspected schema differs from the model on {dialect}\n\
             --- model ---\n{model:#?}\n--- introspected ---\n{live:#?}"
        );
    }
}

#[tokio::test]
async fn reads_back_what_the_operations_created() {
    for test_db in TestDb::all().await {
        let mut db = test_db.connect().await;
        let mut model = Schema::default();
        apply(&mut db, &mut model, RICH).await;
        if db.dialect().caps().partial_indexes {
            apply(&mut db, &mut model, PARTIAL_INDEX).await;
        }
        // runner's own table is never reported.
        db.execute_script("CREATE TABLE runner_version (revision varchar(64) primary key)")
            .await
            .expect("version table");
        let live = introspect(&mut db)
            .await
            .unwrap_or_else(|e| panic!("introspect {}: {e}", db.dialect()));
        assert!(!live.tables.contains_key("runner_version"));
        assert_same(db.dialect(), &live, &model);
        // And the comparison does see a difference.
        let mut changed = model.clone();
        if let Some(role) = changed
            .tables
            .get_mut("memberships")
            .and_then(|t| t.columns.get_mut(2))
        {
            role.default = Some(ColumnDefault::Literal(Literal::String("owner".into())));
        }
        assert_ne!(
            comparable(&live, db.dialect()),
            comparable(&changed, db.dialect()),
            "{}",
            db.dialect()
        );
    }
}

/// Tables as other tools write them, per database.
fn hand_written(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "CREATE TABLE legacy (
                id INTEGER PRIMARY KEY,
                name varchar,
                qty INT NOT NULL DEFAULT 0,
                price NUMERIC(10,2),
                flag BOOL DEFAULT TRUE,
                at DATETIME DEFAULT CURRENT_TIMESTAMP,
                code CHAR(3) UNIQUE,
                note CLOB,
                parent_id INTEGER REFERENCES legacy(id) ON DELETE CASCADE,
                CHECK (qty >= 0)
            );
            CREATE INDEX legacy_name ON legacy (name);"
        }
        Dialect::Postgres => {
            "CREATE TABLE legacy (
                id serial PRIMARY KEY,
                name varchar,
                qty int4 NOT NULL DEFAULT 0,
                price numeric(10,2),
                flag bool DEFAULT true,
                at timestamp(3) DEFAULT now(),
                code char(3) UNIQUE,
                note text,
                parent_id int REFERENCES legacy(id) ON DELETE CASCADE,
                CHECK (qty >= 0)
            );
            CREATE INDEX legacy_name ON legacy (name);"
        }
        Dialect::Mysql => {
            "CREATE TABLE legacy (
                id int(11) NOT NULL AUTO_INCREMENT PRIMARY KEY,
                name varchar(50),
                qty int(11) NOT NULL DEFAULT 0,
                price decimal(10,2),
                flag tinyint(1) DEFAULT 1,
                at datetime DEFAULT CURRENT_TIMESTAMP,
                code char(3) UNIQUE,
                note mediumtext,
                tiny tinyint(4),
                ratio float,
                total double,
                parent_id int(11),
                CONSTRAINT legacy_parent FOREIGN KEY (parent_id) REFERENCES legacy(id) ON DELETE CASCADE,
                CONSTRAINT legacy_qty_check CHECK (qty >= 0)
            );
            CREATE INDEX legacy_name ON legacy (name);"
        }
    }
}

#[tokio::test]
async fn maps_tables_other_tools_wrote_to_the_closest_portable_types() {
    for test_db in TestDb::all().await {
        let mut db = test_db.connect().await;
        let dialect = db.dialect();
        db.execute_script(hand_written(dialect))
            .await
            .expect("hand-written table");
        let live = introspect(&mut db)
            .await
            .unwrap_or_else(|e| panic!("introspect {dialect}: {e}"));
        let table = &live.tables["legacy"];
        let column = |name: &str| {
            table
                .column(name)
                .unwrap_or_else(|e| panic!("{dialect}: {e}"))
        };
        let ty = |name: &str| column(name).ty.clone();

        let id = column("id");
        assert_eq!(id.ty, ColumnType::Integer, "{dialect}");
        assert!(!id.nullable, "{dialect}");
        // SQLite's INTEGER PRIMARY KEY numbers rows but without AUTOINCREMENT may reuse ids.
        assert_eq!(id.autoincrement, dialect != Dialect::Sqlite, "{dialect}");
        assert_eq!(id.default, None, "{dialect}");
        assert_eq!(
            table.primary_key.as_ref().map(|pk| pk.columns.clone()),
            Some(vec!["id".to_string()])
        );

        let name_type = match dialect {
            Dialect::Mysql => ColumnType::String { length: Some(50) },
            // `varchar` without a length, as SQLAlchemy's `String()` writes it.
            _ => ColumnType::String { length: None },
        };
        assert_eq!(ty("name"), name_type, "{dialect}");
        let qty = column("qty");
        assert_eq!(
            (qty.ty.clone(), qty.nullable),
            (ColumnType::Integer, false),
            "{dialect}"
        );
        assert_eq!(
            qty.default,
            Some(ColumnDefault::Literal(Literal::Int(0))),
            "{dialect}"
        );
        assert_eq!(
            ty("price"),
            ColumnType::Decimal {
                precision: 10,
                scale: 2
            },
            "{dialect}"
        );
        let flag = column("flag");
        assert_eq!(flag.ty, ColumnType::Boolean, "{dialect}");
        assert_eq!(
            flag.default,
            Some(ColumnDefault::Literal(Literal::Bool(true))),
            "{dialect}"
        );
        let at = column("at");
        assert_eq!(at.ty, ColumnType::Timestamp, "{dialect}");
        assert_eq!(
            at.default,
            Some(ColumnDefault::Sql("CURRENT_TIMESTAMP".into())),
            "{dialect}"
        );
        assert_eq!(
            ty("code"),
            ColumnType::String { length: Some(3) },
            "{dialect}"
        );
        assert_eq!(ty("note"), ColumnType::Text, "{dialect}");
        if dialect == Dialect::Mysql {
            assert_eq!(ty("tiny"), ColumnType::SmallInt);
            assert_eq!(ty("ratio"), ColumnType::Real);
            assert_eq!(ty("total"), ColumnType::Double);
        }

        assert_eq!(table.uniques.len(), 1, "{dialect}: {:?}", table.uniques);
        assert_eq!(table.uniques[0].columns, ["code"], "{dialect}");
        assert_eq!(table.foreign_keys.len(), 1, "{dialect}");
        let fk = &table.foreign_keys[0];
        assert_eq!(
            (fk.columns.as_slice(), fk.ref_table.as_str()),
            (&["parent_id".to_string()][..], "legacy")
        );
        assert_eq!(fk.ref_columns, ["id"], "{dialect}");
        assert_eq!(fk.on_delete, Some(FkAction::Cascade), "{dialect}");
        assert_eq!(table.checks.len(), 1, "{dialect}: {:?}", table.checks);
        assert_eq!(
            runner::model::compare::normalize_expr(&table.checks[0].expr, dialect),
            "qty >= 0",
            "{dialect}"
        );
        let indexes: Vec<_> = table
            .indexes
            .iter()
            .map(|i| (i.name.as_str(), i.columns.clone(), i.unique))
            .collect();
        assert_eq!(
            indexes,
            [("legacy_name", vec!["name".to_string()], false)],
            "{dialect}"
        );
    }
}

#[tokio::test]
async fn a_type_without_portable_equivalent_is_an_error_naming_it() {
    for test_db in TestDb::all().await {
        let mut db = test_db.connect().await;
        let dialect = db.dialect();
        let (sql, ty) = match dialect {
            Dialect::Sqlite => ("CREATE TABLE odd (id INTEGER, spot GEOMETRY)", "GEOMETRY"),
            Dialect::Postgres => ("CREATE TABLE odd (id integer, spot point)", "point"),
            Dialect::Mysql => (
                "CREATE TABLE odd (id int, spot set('a','b'))",
                "set('a','b')",
            ),
        };
        db.execute_script(sql).await.expect("odd table");
        match introspect(&mut db).await {
            Err(IntrospectError::UnknownType {
                table,
                column,
                ty: shown,
            }) => {
                assert_eq!(
                    (table.as_str(), column.as_str(), shown.as_str()),
                    ("odd", "spot", ty),
                    "{dialect}"
                );
            }
            other => panic!("{dialect}: expected an unknown type error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_string_without_length_round_trips_where_the_database_has_one_and_mysql_names_the_column()
{
    let project = runner_integration_tests::Project::new();
    project.write(
        "f00000000001_notes.yaml",
        "revision: f00000000001\nparents: []\nmessage: notes\nupgrade:\n  - create_table:\n      table: notes\n      columns:\n        - {name: id, type: integer, primary_key: true}\n        - {name: body, type: string, default: hello}\ndowngrade: auto\n",
    );
    for test_db in TestDb::all().await {
        let mut db = test_db.connect().await;
        let out = project
            .runner(Some(&test_db.url_arg()))
            .arg("upgrade")
            .output()
            .expect("runner");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if test_db.dialect == Dialect::Mysql {
            assert_eq!(out.status.code(), Some(2), "{stderr}");
            assert!(
                stderr.contains("f00000000001_notes.yaml:5:5")
                    && stderr.contains("column 'body': `string` without a length is not supported on mysql; give it one, as in string(255), or use `text`"),
                "{stderr}"
            );
            assert!(!db.table_exists("notes").await.expect("catalog"));
            continue;
        }
        assert_eq!(out.status.code(), Some(0), "{}: {stderr}", test_db.dialect);
        let live = introspect(&mut db).await.expect("introspect");
        assert_eq!(
            live.tables["notes"].column("body").expect("body").ty,
            ColumnType::String { length: None },
            "{}",
            test_db.dialect
        );
        // A drift check compares the model with the database: nothing differs.
        project
            .runner(Some(&test_db.url_arg()))
            .arg("diff")
            .assert()
            .success();
    }
}
