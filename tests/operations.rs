//! Every schema operation applied to each real database, one revision at a time, and read back
//! from the live catalog: after each upgrade and after each downgrade, the introspected schema
//! must equal the schema model runner replayed.

use runner::db::introspect::introspect;
use runner::dialect_kind::Dialect;
use runner::exec::{Migrator, RunOptions, Silent};
use runner::model::compare::comparable;
use runner::revision::target::Target;
use runner_integration_tests::{Project, TestDb, count};

/// (id, steps) of each revision, in order; each revision's parent is the one before.
fn revisions(dialect: Dialect) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("a01000000000", r#"
  - create_enum: {name: mood, values: [happy, sad]}
  - create_table:
      table: people
      columns:
        - {name: id, type: bigint, primary_key: true, autoincrement: true}
        - {name: name, type: string(100), nullable: false, default: "it's anon"}
        - {name: mood, type: enum(mood), nullable: false, default: happy}
        - {name: score, type: integer, nullable: false, default: 0}
        - {name: balance, type: "decimal(12,2)", default: 1.5}
        - {name: born, type: date}
        - {name: wakes, type: time}
        - {name: seen, type: timestamp}
        - {name: seen_tz, type: timestamptz, nullable: false, default_sql: CURRENT_TIMESTAMP}
        - {name: bio, type: text}
        - {name: photo, type: binary}
        - {name: prefs, type: json}
        - {name: token, type: uuid, unique: true}
        - {name: active, type: boolean, nullable: false, default: true}
        - {name: ratio, type: real}
        - {name: weight, type: double}
        - {name: rank, type: smallint}
      checks:
        - {name: ck_people_score, expr: "score >= 0"}
      indexes:
        - {columns: [name, mood]}
"#.to_string()),
        ("a02000000000", r#"
  - create_table:
      table: pets
      columns:
        - {name: id, type: integer, primary_key: true, autoincrement: true}
        - {name: owner_id, type: bigint, nullable: false, references: people.id, on_delete: cascade}
        - {name: name, type: string(50), nullable: false}
  - sql:
      up: "INSERT INTO people (name, score) VALUES ('Ada', 3), ('Alan', 5)"
      down: "DELETE FROM people"
  - sql:
      up: "INSERT INTO pets (owner_id, name) VALUES (1, 'Rex'), (2, 'Tom')"
      down: "DELETE FROM pets"
"#.to_string()),
        ("a03000000000", r#"
  - add_column: {table: people, column: {name: nickname, type: string(30)}}
  - add_column: {table: pets, column: {name: tag, type: string(10), unique: true}}
  - add_column: {table: pets, column: {name: legs, type: smallint, nullable: false, default: 4}}
"#.to_string()),
        ("a04000000000", r#"
  - rename_column: {table: people, column: nickname, to: alias}
  - rename_column: {table: people, column: score, to: points}
  - rename_table: {table: pets, to: animals}
"#.to_string()),
        ("a05000000000", r#"
  - alter_column: {table: people, column: points, type: bigint, default: 5}
  - alter_column: {table: people, column: name, nullable: true, default: null}
  - alter_column: {table: people, column: alias, type: string(60)}
  - alter_column: {table: animals, column: legs, type: integer, using: "legs * 2"}
downgrade:
  - alter_column: {table: animals, column: legs, type: smallint, using: "legs / 2"}
  - alter_column: {table: people, column: alias, type: string(30)}
  - alter_column: {table: people, column: name, nullable: false, default: "it's anon"}
  - alter_column: {table: people, column: points, type: integer, default: 0}
"#.to_string()),
        ("a06000000000", r#"
  - create_index: {table: people, columns: [points]}
  - create_index: {table: animals, name: uq_animals_name_owner, columns: [name, owner_id], unique: true}
  - drop_index: {name: ix_people_name_mood}
"#.to_string()),
        ("a07000000000", r#"
  - create_table:
      table: owners
      columns:
        - {name: code, type: string(8), nullable: false}
        - {name: region, type: string(8), nullable: false}
      primary_key: [code, region]
  - add_column: {table: animals, column: {name: owner_code, type: string(8)}}
  - add_column: {table: animals, column: {name: owner_region, type: string(8)}}
  - add_foreign_key: {table: animals, name: fk_animals_owner, columns: [owner_code, owner_region], references: {table: owners, columns: [code, region]}, on_delete: set_null, on_update: cascade}
  - add_unique: {table: people, columns: [alias]}
  - add_check: {table: animals, name: ck_animals_legs, expr: "legs >= 0"}
"#.to_string()),
        ("a08000000000", r#"
  - drop_constraint: {table: people, name: uq_people_alias}
  - drop_constraint: {table: people, name: ck_people_score}
  - drop_foreign_key: {table: animals, name: fk_animals_owner}
"#.to_string()),
        ("a09000000000", r#"
  - alter_enum: {name: mood, add: calm, after: happy}
  - alter_enum: {name: mood, add: angry}
  - alter_enum: {name: mood, rename: {from: sad, to: gloomy}}
"#.to_string()),
        ("a10000000000", r#"
  - alter_enum: {name: mood, remove: angry}
  - create_enum: {name: size, values: [small, large]}
  - add_column: {table: animals, column: {name: size, type: enum(size)}}
"#.to_string()),
        ("a11000000000", r#"
  - drop_column: {table: animals, column: size}
  - drop_enum: {name: size}
  - drop_column: {table: people, column: alias}
  - drop_table: {table: owners}
  - sql:
      up: {sqlite: "CREATE VIEW adults AS SELECT id, name FROM people", postgres: "CREATE VIEW adults AS SELECT id, name FROM people", mysql: "CREATE VIEW adults AS SELECT id, name FROM people"}
      down: "DROP VIEW adults"
  - add_column: {table: people, column: {name: height, type: integer, nullable: false, default: 170}}
"#.to_string()),
    ];
    if dialect != Dialect::Mysql {
        out.push((
            "a12000000000",
            r#"
  - create_index: {table: people, name: ix_people_active, columns: [points], where: "points > 0"}
"#
            .to_string(),
        ));
    }
    // A column name near the 63-byte limit: MySQL's staging column for `using` must still fit
    // in 64 bytes.
    out.push((
        "a13000000000",
        format!(
            r#"
  - add_column: {{table: people, column: {{name: {LONG}, type: smallint, nullable: false, default: 3}}}}
  - alter_column: {{table: people, column: {LONG}, type: integer, using: "{LONG} * 2"}}
downgrade:
  - drop_column: {{table: people, column: {LONG}}}
"#
        ),
    ));
    out
}

/// A column name of 62 bytes.
const LONG: &str = "amount_in_the_smallest_unit_of_the_currency_that_the_deal_uses";

#[tokio::test]
async fn every_operation_applies_and_reverts_on_every_database() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let project = Project::new();
        let steps = revisions(dialect);
        let mut parent: Option<&str> = None;
        for (id, body) in &steps {
            let parents = parent
                .map(|p| format!("[{p}]"))
                .unwrap_or_else(|| "[]".into());
            project.write(
                &format!("{id}_step.yaml"),
                &format!("revision: {id}\nparents: {parents}\nupgrade:{body}"),
            );
            parent = Some(id);
        }
        let repo = project.repository();
        let mut db = test_db.connect().await;
        let check = |db_schema: runner::model::Schema, at: &[String], what: &str| {
            let applied = repo.graph.ancestors(at).expect("known");
            let expected = comparable(&repo.schema_of(&applied).expect("replay"), dialect);
            assert_eq!(
                format!("{:#?}", comparable(&db_schema, dialect)),
                format!("{expected:#?}"),
                "{dialect}: live schema differs from the model {what}"
            );
        };
        for (id, _) in &steps {
            Migrator::new(&repo, &mut db, RunOptions::default(), &mut Silent)
                .upgrade(&Target::Revision(id.to_string()))
                .await
                .unwrap_or_else(|e| panic!("{dialect}: upgrade to {id}: {e}"));
            let live = introspect(&mut db).await.expect("introspect");
            check(live, &[id.to_string()], &format!("after upgrading to {id}"));
        }
        // The rows written by a02 lived through every rebuild and rename.
        assert_eq!(
            count(&mut db, "SELECT count(*) FROM animals").await,
            2,
            "{dialect}"
        );
        assert_eq!(
            count(&mut db, "SELECT sum(points) FROM people").await,
            8,
            "{dialect}"
        );
        assert_eq!(
            count(&mut db, "SELECT sum(legs) FROM animals").await,
            16,
            "{dialect}: using doubled legs"
        );
        assert_eq!(
            count(&mut db, &format!("SELECT sum({LONG}) FROM people")).await,
            12,
            "{dialect}: using doubled the long column"
        );
        for (index, (id, _)) in steps.iter().enumerate().rev() {
            Migrator::new(&repo, &mut db, RunOptions::default(), &mut Silent)
                .downgrade(&Target::Relative {
                    from: None,
                    steps: -1,
                })
                .await
                .unwrap_or_else(|e| panic!("{dialect}: downgrade of {id}: {e}"));
            let at: Vec<String> = index
                .checked_sub(1)
                .map(|i| steps[i].0.to_string())
                .into_iter()
                .collect();
            let live = introspect(&mut db).await.expect("introspect");
            if at.is_empty() {
                assert!(
                    live.tables.is_empty(),
                    "{dialect}: tables left at base: {live:#?}"
                );
            } else {
                check(live, &at, &format!("after downgrading {id}"));
            }
        }
    }
}

/// SQLite drops a table's triggers with it and checks every view when a table is renamed, so a
/// rebuild drops the views and triggers around it and writes them back from `sqlite_master`.
/// Both must still work afterwards, on the way up and on the way down.
#[tokio::test]
async fn a_sqlite_rebuild_keeps_the_triggers_and_views_of_the_table() {
    let test_db = TestDb::new(Dialect::Sqlite)
        .await
        .expect("SQLite is embedded");
    let project = Project::new();
    project.write(
        "aaaa00000001_audited.yaml",
        "revision: aaaa00000001
parents: []
message: audited accounts
upgrade:
  - create_table:
      table: accounts
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: name, type: string(50), nullable: false}
  - create_table:
      table: audit
      columns:
        - {name: id, type: integer, primary_key: true, autoincrement: true}
        - {name: what, type: text, nullable: false}
  - sql:
      up: \"CREATE TRIGGER accounts_added AFTER INSERT ON accounts BEGIN INSERT INTO audit (what) VALUES ('added ' || NEW.name); END\"
      down: \"DROP TRIGGER accounts_added\"
  - sql:
      up: \"CREATE VIEW account_names AS SELECT id, name FROM accounts\"
      down: \"DROP VIEW account_names\"
  - sql:
      up: \"INSERT INTO accounts (id, name) VALUES (1, 'acme')\"
      down: \"DELETE FROM accounts\"
",
    );
    project.write(
        "bbbb00000002_nullable.yaml",
        "revision: bbbb00000002
parents: [aaaa00000001]
message: names may be missing and longer
upgrade:
  - alter_column: {table: accounts, column: name, type: string(200), nullable: true}
",
    );
    let url = test_db.url_arg();
    project.runner(Some(&url)).arg("upgrade").assert().success();
    let mut db = test_db.connect().await;
    let trigger =
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'accounts_added'";
    assert_eq!(
        count(&mut db, trigger).await,
        1,
        "the rebuild lost the trigger"
    );
    db.execute_script("INSERT INTO accounts (id, name) VALUES (2, 'globex')")
        .await
        .expect("insert after the rebuild");
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM audit WHERE what = 'added globex'"
        )
        .await,
        1,
        "the trigger no longer fires after the rebuild"
    );
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM account_names").await,
        2,
        "the view no longer reads the rebuilt table"
    );
    // The rebuild that reverts the change keeps them too.
    project
        .runner(Some(&url))
        .args(["downgrade", "aaaa00000001"])
        .assert()
        .success();
    assert_eq!(
        count(&mut db, trigger).await,
        1,
        "the downgrade lost the trigger"
    );
    db.execute_script("INSERT INTO accounts (id, name) VALUES (3, 'initech')")
        .await
        .expect("insert after the downgrade");
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM audit").await,
        3,
        "the trigger no longer fires after the downgrade"
    );
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM account_names").await,
        3
    );
}
